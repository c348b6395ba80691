//! `dockpki issue` into a large state (an inventory past 128 KiB: version 2, whose new
//! certificates go into `inventory.delta.json`, folded back into the inventory file past 64 KiB)
//! interrupted at any instant loses nothing: after the next command, every certificate is
//! recorded and installed as `status` expects, no journal is pending, and no staged file is
//! left in the state directory or a recorded layout.
//!
//! (a) deterministic: `DOCKPKI_TEST_ABORT_AFTER_MOVES=N` before every rename, for an issue that
//!     writes the delta and for one that folds it; (b) random: SIGKILL after a random delay, at
//!     least 100 times.
//!
//! The large state is made in-process (a real `bootstrap`, then client certificates issued by
//! its CA through the library, their layouts written as `issue` writes them), as the scale
//! benchmark makes its fixtures: hundreds of journaled runs of the binary would take minutes.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{s, Env};
use dockpki::{ClientRequest, KeyType, PrivateKey, Usage};
use dockpki_provision::fs::{Existing, WritePlan};
use dockpki_provision::store::inventory::DELTA_LIMIT_BYTES;
use dockpki_provision::store::{Create, Record, Settings, State};

/// Client certificates of the fixture: enough for an inventory file past 128 KiB.
const CLIENTS: usize = 320;

fn write_file(path: &Path, contents: &[u8], mode: u32) {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .and_then(|mut f| f.write_all(contents))
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Issues a client certificate into the new layout `dir` as `dockpki issue` would write it,
/// returning its record (not yet in the inventory).
fn client_layout(state: &State, dir: &Path, name: &str) -> Record {
    let ca = state.load_ca().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let request = ClientRequest {
        common_name: name.parse().unwrap(),
        lifetime: "90d".parse().unwrap(),
    };
    let issued = ca
        .issue_client(
            &request,
            PrivateKey::generate(KeyType::EcdsaP256).unwrap(),
            now,
        )
        .unwrap();
    fs::DirBuilder::new().mode(0o700).create(dir).unwrap();
    write_file(
        &dir.join("ca.pem"),
        state.trust_bundle_pem(&ca).unwrap().as_bytes(),
        0o444,
    );
    write_file(&dir.join("cert.pem"), issued.cert_pem.as_bytes(), 0o444);
    write_file(&dir.join("key.pem"), issued.key_pem().as_bytes(), 0o400);
    Record::new(
        &issued.info,
        Usage::Client,
        &ca.info().sha256_fingerprint,
        vec![dir.to_path_buf()],
    )
}

/// A bootstrapped state with [`CLIENTS`] more client certificates in `root/clients/cN`, its
/// inventory written whole (version 2).
fn large_state(env: &Env) {
    env.bootstrap(&env.path("daemon"), &env.path("client"), &[]);
    let state = State::open(env.state(), Create::No, Settings::default()).unwrap();
    let mut inventory = state.load_inventory().unwrap();
    let clients = env.path("clients");
    fs::DirBuilder::new().mode(0o700).create(&clients).unwrap();
    for i in 0..CLIENTS {
        let dir = clients.join(format!("c{i}"));
        // Each layout is new, so nothing is superseded: pushing is what `add` would do.
        inventory
            .certificates
            .push(client_layout(&state, &dir, &format!("client-{i}")));
    }
    let mut plan = WritePlan::new(Existing::Refuse);
    state.plan_inventory(&mut plan, &inventory).unwrap();
    state.commit(state.feed_contexts(plan).unwrap()).unwrap();
    assert!(
        fs::read_to_string(state.inventory_path())
            .unwrap()
            .starts_with(r#"{"version":2,"#),
        "the fixture's inventory is large"
    );
}

/// Records certificates in `root/clients/dNNN` one at a time through the delta of the state of
/// [`large_state`], as `issue` records them: `delta` of them at most, never one that would fold
/// it, and none once there is room for only `room` more of their size. Returns how many went
/// into the delta.
fn fill_delta(env: &Env, delta: usize, room: usize) -> usize {
    let state = State::open(env.state(), Create::No, Settings::default()).unwrap();
    let delta_len = || {
        fs::metadata(state.inventory_delta_path()).map_or(0, |m| usize::try_from(m.len()).unwrap())
    };
    let mut len = delta_len();
    for i in 0..delta {
        let dir = delta_layout(env, i);
        let record = client_layout(&state, &dir, &delta_name(i));
        let mut plan = WritePlan::new(Existing::Refuse);
        state.plan_added_record(&mut plan, record).unwrap();
        if plan.planned(&state.inventory_path()).is_some() {
            // This one would fold the delta: left for the test to issue.
            fs::remove_dir_all(&dir).unwrap();
            return i;
        }
        state.commit(state.feed_contexts(plan).unwrap()).unwrap();
        let (before, now) = (len, delta_len());
        len = now;
        if i > 0 && now + (now - before) * (room + 1) > DELTA_LIMIT_BYTES {
            return i + 1;
        }
    }
    delta
}

/// The layout of the `i`-th certificate recorded in the fixture's delta.
fn delta_layout(env: &Env, i: usize) -> PathBuf {
    env.path("clients").join(format!("d{i:03}"))
}

/// Its common name: every one the same length, so that each record takes the same room.
fn delta_name(i: usize) -> String {
    format!("delta-{i:03}")
}

/// `cp -a`, keeping modes and the absolute paths the inventory records.
fn copy_tree(from: &Path, to: &Path) {
    let ok = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp")
        .success();
    assert!(ok, "cp -a {} {}", from.display(), to.display());
}

/// The trees an issue changes, kept aside and put back before each run.
struct Snapshot {
    kept: PathBuf,
}

impl Snapshot {
    const TREES: [&'static str; 2] = ["state", "clients"];

    fn take(env: &Env) -> Snapshot {
        let kept = env.path("kept");
        fs::create_dir(&kept).unwrap();
        for tree in Self::TREES {
            copy_tree(&env.path(tree), &kept.join(tree));
        }
        Snapshot { kept }
    }

    fn restore(&self, env: &Env) {
        for tree in Self::TREES {
            fs::remove_dir_all(env.path(tree)).unwrap();
            copy_tree(&self.kept.join(tree), &env.path(tree));
        }
    }
}

/// After the next command: `status` finds every certificate as recorded (exit 0) and `active`
/// of them, no journal is pending, and no staged file is left in the state directory or the
/// layouts `dirs`.
fn assert_consistent(env: &Env, active: usize, dirs: &[PathBuf], what: &str) {
    let out = env.run(&["--json", "status"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: status after the interruption:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report = common::json(&out);
    assert_eq!(
        report["certificates"].as_array().map(Vec::len),
        Some(active),
        "{what}"
    );
    assert!(!env.state().join("journal.json").exists(), "{what}");
    assert!(!env.state().join("staging.json").exists(), "{what}");
    for dir in dirs.iter().chain([&env.state()]) {
        let staged = common::names_with_prefix(dir, ".");
        assert!(
            staged.iter().all(|n| !n.ends_with(".tmp")),
            "{what}: staged files left in {}: {staged:?}",
            dir.display()
        );
    }
}

/// Runs `issue client --name NAME --out NEW` aborted before its `n`-th rename for every `n`,
/// each on the same state; returns how many renames were interrupted.
fn abort_issue_before_every_rename(
    env: &Env,
    name: &str,
    new: &Path,
    active_after: usize,
    what: &str,
) -> usize {
    let snapshot = Snapshot::take(env);
    let mut aborted = 0;
    for n in 0.. {
        snapshot.restore(env);
        let out = env
            .cmd()
            .args(["issue", "client", "--name", name, "--out", s(new)])
            .env("DOCKPKI_TEST_ABORT_AFTER_MOVES", n.to_string())
            .output()
            .unwrap();
        if out.status.success() {
            // n is past the last rename: the update ran to the end.
            break;
        }
        assert_eq!(out.status.signal(), Some(6), "{what}, n={n}: {out:?}");
        assert!(env.state().join("journal.json").exists(), "{what}, n={n}");
        aborted += 1;
        assert_consistent(
            env,
            active_after,
            &[new.to_path_buf()],
            &format!("{what}: abort before move {n}"),
        );
        assert!(n < 20, "{what}: issue never finished");
    }
    aborted
}

#[test]
fn issue_into_a_large_state_aborted_before_every_rename_is_completed_by_the_next_command() {
    if !common::fault_injection() {
        return;
    }
    // Into the delta: ca.pem, cert.pem, key.pem of the new layout, then the delta.
    let env = Env::new();
    large_state(&env);
    assert_eq!(fill_delta(&env, 3, 0), 3);
    let new = env.path("clients/new");
    let active = CLIENTS + 2 + 3 + 1;
    assert_eq!(
        abort_issue_before_every_rename(&env, "interrupted", &new, active, "delta"),
        4
    );

    // The issue that folds the delta (a certificate like those in it, which no longer fits):
    // the layout, then inventory.json and the emptied delta.
    let env = Env::new();
    large_state(&env);
    let full = fill_delta(&env, 1000, 0);
    assert!(full < 1000, "the fixture's delta filled up");
    let active = CLIENTS + 2 + full + 1;
    let (name, new) = (delta_name(full), delta_layout(&env, full));
    assert_eq!(
        abort_issue_before_every_rename(&env, &name, &new, active, "fold"),
        5
    );
    let delta = fs::read_to_string(env.state().join("inventory.delta.json")).unwrap();
    assert!(
        !delta.contains("serial"),
        "the completed fold emptied the delta: {delta}"
    );
}

/// Re-issues into one recorded layout (`--force`, as a re-issue is) again and again, killing
/// each run after a random delay: the delta, nearly full at the start, grows and folds, and
/// whatever the instant, the next command finds one active certificate there, installed as
/// recorded.
#[test]
fn issue_into_a_large_state_killed_at_random_instants_loses_nothing() {
    const MIN_ITERATIONS: usize = 100;
    const MAX_ITERATIONS: usize = 400;
    const BUDGET: Duration = Duration::from_secs(60);
    // However slow the machine, the kills go on until one of the runs folded the delta.
    const FOLD_DEADLINE: Duration = Duration::from_secs(300);
    let env = Env::new();
    large_state(&env);
    let new = env.path("new");
    let mut args: Vec<&str> = "issue client --name again --force --out"
        .split(' ')
        .collect();
    args.push(s(&new));
    let spawn = || env.spawn_quiet(&args);
    // Recorded before the kills start, so that what a killed run stages there is looked for.
    let mut runs: Vec<Duration> = (0..5)
        .map(|_| {
            let started = Instant::now();
            assert!(spawn().wait().unwrap().success());
            started.elapsed()
        })
        .collect();
    runs.sort();
    let typical = runs[runs.len() / 2];
    // Beyond the typical run too: enough runs complete (and fill the delta) on a busy machine.
    let mut max_delay_us = typical.as_micros() as u64 * 3 / 2;
    // Room for two or three more: the first runs to complete fold the delta.
    let filled = fill_delta(&env, 1000, 2);
    let active = CLIENTS + 2 + filled + 1;
    let first_line = || {
        let inventory = fs::read_to_string(env.state().join("inventory.json")).unwrap();
        inventory.lines().next().unwrap().to_string()
    };
    let before_fold = first_line();
    let folded = || first_line() != before_fold;

    let mut rng = common::Rng::seeded();
    let (mut killed, mut completed) = (0, 0);
    // Runs get slower than the typical one measured above when the machine is busier (other
    // test binaries in parallel): while none completes, the delays grow, so that some runs
    // always finish and the delta fills up and folds.
    let mut killed_in_a_row = 0;
    let started = Instant::now();
    let mut iterations = 0;
    // At least MIN_ITERATIONS however slow the machine (each is a run of the binary and a
    // status of hundreds of certificates), and until the delta was folded; more while the
    // budget lasts.
    while iterations < MIN_ITERATIONS
        || (!folded() && started.elapsed() < FOLD_DEADLINE)
        || (iterations < MAX_ITERATIONS && started.elapsed() < BUDGET)
    {
        let mut child = spawn();
        std::thread::sleep(Duration::from_micros(rng.below(max_delay_us + 1)));
        // SIGKILL to exactly this child (a no-op error if it already exited).
        let _ = child.kill();
        if child.wait().unwrap().success() {
            completed += 1;
            killed_in_a_row = 0;
        } else {
            killed += 1;
            killed_in_a_row += 1;
            if killed_in_a_row >= 20 {
                max_delay_us = max_delay_us * 3 / 2;
                killed_in_a_row = 0;
            }
        }
        assert_consistent(
            &env,
            active,
            std::slice::from_ref(&new),
            &format!("iteration {iterations}"),
        );
        iterations += 1;
    }
    eprintln!(
        "random SIGKILL of `issue` into {} certificates (delay 0..={max_delay_us}µs, typical run \
         {typical:?}): {iterations} iterations in {:.1?}: {killed} killed, {completed} completed",
        CLIENTS + 2 + filled,
        started.elapsed()
    );
    assert!(folded(), "the delta was folded meanwhile");
}
