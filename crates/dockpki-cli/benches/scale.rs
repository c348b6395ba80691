//! Wall-clock benchmark of the commands whose cost grows with the inventory: `issue client` into
//! an inventory of N certificates, `status` of N certificates and `renew --all` of N client
//! certificates, run as the real release binary on a temporary state (docs/performance.md has
//! the targets and the results).
//!
//! Building a big state through the binary would take one journaled, fsynced command per
//! certificate, so the fixture is made in-process instead: the CA comes from a real `dockpki
//! bootstrap`, each client certificate is issued by that CA through the library and its layout
//! written as `dockpki issue` writes it (same names, modes and CA bundle), and the inventory
//! recording them all is written once through the library's own store. Only the commands timed
//! run the binary.
//!
//! Run with `just bench` (or `cargo bench -p dockpki-cli --bench scale`). `DOCKPKI_BENCH_SIZES`
//! (comma-separated, default `10,1000,10000`) chooses the inventory sizes. To profile one
//! command by hand, `DOCKPKI_BENCH_FIXTURE=DIR` makes the fixture of the first size in `DIR`
//! (which must not exist) and stops; `DIR/state` is its state directory. `DOCKPKI_BENCH_BIN`
//! times another `dockpki` binary on the same fixtures; for a build older than the version-2
//! inventory (which reads version 1 only), add `DOCKPKI_BENCH_INVENTORY_V1=1` to write each
//! fixture's inventory as one version-1 file. `DOCKPKI_BENCH_DIR=DIR` makes the fixtures in
//! `DIR` instead of the temporary directory: a freshly made file system, say, since ext4
//! creates files far slower right after many were deleted (docs/performance.md).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dockpki::{ClientRequest, KeyType, PrivateKey, Usage};
use dockpki_provision::fs::{Existing, WritePlan};
use dockpki_provision::store::{Create, Record, Settings, State};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median, min and p90 of `samples`, printed as one line and returned for the summary.
fn stats(name: &str, mut samples: Vec<Duration>) -> (String, f64) {
    samples.sort();
    let n = samples.len();
    let median = ms(samples[n / 2]);
    println!(
        "{name:<52} n={n:<3} median {median:>9.2} ms   min {:>9.2} ms   p90 {:>9.2} ms",
        ms(samples[0]),
        ms(samples[(n * 9 / 10).min(n - 1)])
    );
    (name.to_string(), median)
}

/// The binary timed: this build's, or `DOCKPKI_BENCH_BIN` (to time another build, say the one
/// before a change, on fixtures made the same way).
fn dockpki(state: &Path) -> Command {
    let bin = std::env::var_os("DOCKPKI_BENCH_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_dockpki")),
        PathBuf::from,
    );
    let mut cmd = Command::new(bin);
    cmd.arg("--state").arg(state);
    cmd
}

fn run(cmd: &mut Command) -> Duration {
    let start = Instant::now();
    let status = cmd.stdout(Stdio::null()).status().expect("run dockpki");
    let took = start.elapsed();
    assert!(status.success(), "{cmd:?} failed: {status}");
    took
}

fn write_file(path: &Path, contents: &[u8], mode: u32) {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .and_then(|mut f| f.write_all(contents))
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// A state under `root` holding `n` active certificates: the daemon's and a client's from a
/// real bootstrap, and `n - 2` client certificates in `root/clients/cNNNNN`.
fn populate(root: &Path, n: usize) -> PathBuf {
    let state_dir = root.join("state");
    run(dockpki(&state_dir)
        .args(["bootstrap", "--san", "localhost", "--daemon-dir"])
        .arg(root.join("daemon"))
        .arg("--client-dir")
        .arg(root.join("client")));
    let state = State::open(state_dir.clone(), Create::No, Settings::default()).expect("state");
    let ca = state.load_ca().expect("CA");
    let bundle = state.trust_bundle_pem(&ca).expect("bundle");
    let mut inventory = state.load_inventory().expect("inventory");
    let now = time::OffsetDateTime::now_utc();
    let clients = root.join("clients");
    fs::DirBuilder::new().mode(0o700).create(&clients).unwrap();
    for i in 0..n.saturating_sub(2) {
        let dir = clients.join(format!("c{i:05}"));
        fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        let request = ClientRequest {
            common_name: format!("client-{i}").parse().unwrap(),
            lifetime: "90d".parse().unwrap(),
        };
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let issued = ca.issue_client(&request, key, now).unwrap();
        write_file(&dir.join("ca.pem"), bundle.as_bytes(), 0o444);
        write_file(&dir.join("cert.pem"), issued.cert_pem.as_bytes(), 0o444);
        write_file(&dir.join("key.pem"), issued.key_pem().as_bytes(), 0o400);
        // Each layout is new, so nothing is superseded: pushing is what `add` would do.
        inventory.certificates.push(Record::new(
            &issued.info,
            Usage::Client,
            &ca.info().sha256_fingerprint,
            vec![dir],
        ));
    }
    let mut plan = WritePlan::new(Existing::Refuse);
    state.plan_inventory(&mut plan, &inventory).unwrap();
    state.commit(state.feed_contexts(plan).unwrap()).unwrap();
    if std::env::var_os("DOCKPKI_BENCH_INVENTORY_V1").is_some() {
        // The same records as one version-1 file, which a build from before version 2 reads.
        fs::write(state.inventory_path(), inventory.to_bytes().unwrap()).unwrap();
    }
    state_dir
}

/// `cp -a`, keeping modes and the absolute paths the inventory records valid when copied back.
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

fn sizes() -> Vec<usize> {
    std::env::var("DOCKPKI_BENCH_SIZES")
        .unwrap_or_else(|_| "10,1000,10000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("DOCKPKI_BENCH_SIZES: numbers"))
        .collect()
}

fn machine() -> String {
    let sh = |c: &str| {
        Command::new("sh")
            .args(["-c", c])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    format!(
        "{} CPUs (nproc), {}, load average {}, file system of the fixtures: {}",
        sh("nproc"),
        sh("uname -sr"),
        sh("cut -d' ' -f1-3 /proc/loadavg"),
        sh("stat -f -c %T \"${DOCKPKI_BENCH_DIR:-${TMPDIR:-/tmp}}\"")
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    if let Some(dir) = std::env::var_os("DOCKPKI_BENCH_FIXTURE") {
        let root = PathBuf::from(dir);
        fs::create_dir(&root).expect("DOCKPKI_BENCH_FIXTURE: a new directory");
        let state = populate(&root, sizes()[0]);
        println!("{}", state.display());
        return;
    }
    println!("machine: {}", machine());
    let mut summary = Vec::new();
    for n in sizes() {
        let work = match std::env::var_os("DOCKPKI_BENCH_DIR") {
            Some(dir) => tempfile::tempdir_in(dir).expect("DOCKPKI_BENCH_DIR: a directory"),
            None => tempfile::tempdir().expect("temp dir"),
        };
        let root = work.path().join("root");
        fs::create_dir(&root).unwrap();
        let start = Instant::now();
        let state = populate(&root, n);
        let inventory_bytes: u64 = fs::read_dir(&state)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("inventory"))
            .filter(|e| !e.file_name().to_string_lossy().ends_with(".bak"))
            .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
            .sum();
        println!(
            "\n{n} certificates: fixture made in {:.1?}, inventory {:.1} KiB",
            start.elapsed(),
            inventory_bytes as f64 / 1024.0
        );
        let snapshot = work.path().join("snapshot");
        copy_tree(&root, &snapshot);

        summary.push(stats(
            &format!("status, {n} certificates"),
            (0..if n > 1000 { 5 } else { 10 })
                .map(|_| run(dockpki(&state).arg("status")))
                .collect(),
        ));
        summary.push(stats(
            &format!("status --json, {n} certificates"),
            (0..if n > 1000 { 5 } else { 10 })
                .map(|_| run(dockpki(&state).args(["--json", "status"])))
                .collect(),
        ));
        // Each run adds one certificate in a new layout; 20 more barely change the size.
        let out = work.path().join("issued");
        fs::create_dir(&out).unwrap();
        summary.push(stats(
            &format!("issue client, into {n} certificates"),
            (0..20)
                .map(|i| {
                    run(dockpki(&state)
                        .args(["issue", "client", "--name", "bench", "--out"])
                        .arg(out.join(i.to_string())))
                })
                .collect(),
        ));
        // A renewal replaces every layout: each run starts from a copy of the fixture. The used
        // trees are set aside rather than deleted: ext4 skips inodes freed in the last few
        // seconds when it allocates, so creating thousands of files right after deleting
        // thousands is far slower than it is on a machine that renews once a day.
        let trash = work.path().join("trash");
        fs::create_dir(&trash).unwrap();
        summary.push(stats(
            &format!("renew --all, {n} certificates"),
            (0..if n > 1000 { 3 } else { 5 })
                .map(|i| {
                    fs::rename(&root, trash.join(i.to_string())).unwrap();
                    copy_tree(&snapshot, &root);
                    // The copy's dirty pages are written out before, not during, the run.
                    assert!(Command::new("sync").status().is_ok_and(|s| s.success()));
                    run(dockpki(&state).args(["renew", "--all"]))
                })
                .collect(),
        ));
    }
    println!("\n| command | median |\n|---|---:|");
    for (name, median) in summary {
        println!("| {name} | {median:.1} ms |");
    }
}
