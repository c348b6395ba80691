//! A CA rotation phase interrupted at any instant leaves every layout with a certificate and key
//! that belong together and chain to its `ca.pem`, once the next dockpki command has completed
//! the journal.
//!
//! Two ways of interrupting: deterministically before every single rename of every phase and of
//! `ca rotate abort` (`DOCKPKI_TEST_ABORT_AFTER_MOVES=N` makes the committing process abort, like
//! a SIGKILL, just before its N-th rename), and by SIGKILL at random instants of real runs.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{bin, json, s, Env};

/// The commands the random-kill test runs: the phases, and abort.
const COMMANDS: [&str; 4] = ["begin", "reissue", "finish", "abort"];

/// The sandbox's dockpki as a plain `std` command (so it can be killed by pid), with a clean
/// environment: only HOME and USER, nothing that could point it elsewhere.
fn dockpki(env: &Env, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.env_clear()
        .env("HOME", env.home())
        .env("USER", common::USER)
        .current_dir(env.root())
        .arg("--state")
        .arg(env.state())
        .args(args)
        .stdin(Stdio::null());
    cmd
}

/// A bootstrapped sandbox with a second client layout; returns its three layout directories.
fn setup() -> (Env, [PathBuf; 3]) {
    let env = Env::new();
    let dirs = [env.path("daemon"), env.path("client"), env.path("bob")];
    env.bootstrap(&dirs[0], &dirs[1], &[]);
    env.issue_client("bob", &dirs[2], &[]);
    (env, dirs)
}

/// Every layout must verify: certificate and key match, each chains to its own `ca.pem`, and
/// the daemon and each client accept each other.
fn assert_layouts_verify(env: &Env, dirs: &[PathBuf; 3], what: &str) {
    for client in &dirs[1..] {
        let out = dockpki(
            env,
            &[
                "verify",
                "--daemon-dir",
                s(&dirs[0]),
                "--client-dir",
                s(client),
            ],
        )
        .output()
        .expect("run verify");
        assert!(
            out.status.success(),
            "{what}: layouts inconsistent:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn phase(env: &Env) -> String {
    let out = dockpki(env, &["--json", "ca", "rotate", "status"])
        .output()
        .expect("run status");
    assert!(out.status.success(), "status failed: {out:?}");
    json(&out)["phase"].as_str().expect("phase").to_string()
}

/// The phase command that moves a rotation in `phase` on.
fn next_command(phase: &str) -> &'static str {
    match phase {
        "none" => "begin",
        "begun" => "reissue",
        "reissued" => "finish",
        other => panic!("unknown phase {other}"),
    }
}

/// The phase reached once `command` completed.
fn phase_after(command: &str) -> &'static str {
    match command {
        "begin" => "begun",
        "reissue" => "reissued",
        _ => "none",
    }
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run dockpki");
    assert!(out.status.success(), "{cmd:?} failed: {out:?}");
    out
}

#[test]
fn every_phase_aborted_before_any_rename_is_completed_and_leaves_verifying_layouts() {
    if !common::fault_injection() {
        return;
    }
    // Each phase after the ones before it, and abort after begin and after reissue.
    let runs: [(&[&str], &str); 5] = [
        (&[], "begin"),
        (&["begin"], "reissue"),
        (&["begin", "reissue"], "finish"),
        (&["begin"], "abort"),
        (&["begin", "reissue"], "abort"),
    ];
    for (earlier, command) in runs {
        let mut n = 0;
        loop {
            let (env, dirs) = setup();
            let old_ca = std::fs::read(env.state().join("ca.pem")).expect("read ca.pem");
            for earlier in earlier {
                run_ok(&mut dockpki(&env, &["ca", "rotate", earlier]));
            }
            let out = dockpki(&env, &["ca", "rotate", command])
                .env("DOCKPKI_TEST_ABORT_AFTER_MOVES", n.to_string())
                .output()
                .expect("run phase");
            if out.status.success() {
                // N is past the last rename: the phase ran to its end.
                eprintln!("ca rotate {command}: {n} renames, each one interrupted once");
                assert!(n >= 3, "{command} must move several files, moved {n}");
                assert_layouts_verify(&env, &dirs, &format!("{command} uninterrupted"));
                break;
            }
            let what = format!("ca rotate {command} after {earlier:?} aborted before rename {n}");
            assert_eq!(out.status.signal(), Some(6), "{what} must abort: {out:?}");
            assert!(env.state().join("journal.json").exists());

            let status = dockpki(&env, &["ca", "rotate", "status"])
                .output()
                .expect("run status");
            assert!(status.status.success(), "status after abort: {status:?}");
            assert!(
                String::from_utf8_lossy(&status.stderr).contains("completed an interrupted update"),
                "{status:?}"
            );
            assert!(!env.state().join("journal.json").exists());
            assert_layouts_verify(&env, &dirs, &what);
            assert_eq!(
                phase(&env),
                phase_after(command),
                "{what}: completed, not lost"
            );
            if command == "abort" {
                for dir in &dirs {
                    assert_eq!(
                        std::fs::read(dir.join("ca.pem")).expect("read ca.pem"),
                        old_ca,
                        "{what}: {} trusts the old CA alone",
                        dir.display()
                    );
                }
            }
            n += 1;
            assert!(n < 200, "ca rotate {command} never completed");
        }
    }
}

/// A small xorshift generator: enough to spread kill instants, seeded from the clock and
/// printed, so a failure can be replayed with `DOCKPKI_CRASH_SEED`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn rotation_phases_killed_at_random_instants_always_leave_verifying_layouts() {
    const MIN_ITERATIONS: usize = 100;
    // Kills that land during the renames (a journal is left behind) per phase: the rare and
    // interesting case, so the loop goes on until each phase has had a few, within the budget.
    const MIN_INTERRUPTED_COMMITS: usize = 3;
    const BUDGET: Duration = Duration::from_secs(60);

    let seed = std::env::var("DOCKPKI_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    eprintln!("DOCKPKI_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let (env, dirs) = setup();

    // How long each phase takes uninterrupted (the slowest of two full rotations) bounds the
    // random kill delay; a quarter more lets some runs complete, so the phases move on.
    // Abort is timed after a reissue, where it has the most to do.
    let mut runtime_us = [0u64; 4];
    for _ in 0..2 {
        for command in ["begin", "reissue", "finish", "begin", "reissue", "abort"] {
            let i = COMMANDS
                .iter()
                .position(|c| *c == command)
                .expect("command");
            let started = Instant::now();
            run_ok(&mut dockpki(&env, &["ca", "rotate", command]));
            runtime_us[i] = runtime_us[i].max(started.elapsed().as_micros() as u64);
        }
    }
    eprintln!(
        "uninterrupted runtimes (µs): begin {}, reissue {}, finish {}, abort {}",
        runtime_us[0], runtime_us[1], runtime_us[2], runtime_us[3]
    );
    let max_delay_us = runtime_us.map(|us| us + us / 4);

    let started = Instant::now();
    let (mut iterations, mut killed, mut completed) = (0, 0, 0);
    let mut per_phase = [0usize; 4];
    let mut interrupted_commits = [0usize; 4];
    let mut current = phase(&env);
    while started.elapsed() < BUDGET
        && (iterations < MIN_ITERATIONS
            || interrupted_commits
                .iter()
                .any(|&n| n < MIN_INTERRUPTED_COMMITS))
    {
        // One rotation in three under way is aborted instead of moved on.
        let command = if current != "none" && rng.next().is_multiple_of(3) {
            "abort"
        } else {
            next_command(&current)
        };
        let i = COMMANDS
            .iter()
            .position(|p| *p == command)
            .expect("command");
        let delay = Duration::from_micros(rng.next() % (max_delay_us[i] + 1));
        let mut child = dockpki(&env, &["ca", "rotate", command])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(delay);
        // SIGKILL to exactly the child spawned above.
        let _ = child.kill();
        let status = child.wait().expect("wait");
        if status.signal() == Some(9) {
            killed += 1;
        } else {
            assert!(
                status.success(),
                "ca rotate {command} failed on its own: {status:?}"
            );
            completed += 1;
        }
        if env.state().join("journal.json").exists() {
            interrupted_commits[i] += 1;
        }
        let what = format!("iteration {iterations}: ca rotate {command} killed after {delay:?}");
        assert_layouts_verify(&env, &dirs, &what);
        assert!(
            !env.state().join("journal.json").exists(),
            "{what}: verify completes the journal"
        );
        let after = phase(&env);
        assert!(
            after == current || after == phase_after(command),
            "{what}: phase went from {current} to {after}"
        );
        current = after;
        per_phase[i] += 1;
        iterations += 1;
    }
    eprintln!(
        "{iterations} iterations in {:.1?} (begin {}, reissue {}, finish {}, abort {}): {killed} killed mid-run, {completed} finished before the kill; killed during the renames and completed by recovery: begin {}, reissue {}, finish {}, abort {}",
        started.elapsed(),
        per_phase[0],
        per_phase[1],
        per_phase[2],
        per_phase[3],
        interrupted_commits[0],
        interrupted_commits[1],
        interrupted_commits[2],
        interrupted_commits[3]
    );
    assert!(
        iterations >= MIN_ITERATIONS,
        "only {iterations} iterations within {BUDGET:?}"
    );
    assert!(killed > 0, "no run was actually interrupted");
}
