//! How fast the CA signs hosts' requests, for the fleet arithmetic in docs/fleet.md: the library
//! (`VerifiedCsr::from_pem` + `CertificateAuthority::sign_csr`, one thread, no file system) and
//! the CLI as the Ansible collection runs it (`dockpki sign` of one request into its own
//! delivery directory: a whole process, the state's lock, journal and fsync, the inventory
//! rewritten), each on P-256 requests made beforehand.
//!
//! Run with `cargo bench -p dockpki-cli --bench sign` (part of `just bench`).
//! `DOCKPKI_BENCH_SIGN_N` (default 1000) requests for the library, a tenth of them (at least 20)
//! for the CLI.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dockpki::{
    create_server_csr, CaOptions, CertificateAuthority, CommonName, KeyType, Lifetime, PrivateKey,
    SanList, Usage, VerifiedCsr,
};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One line: median, p90 and throughput of `samples` taken one after another in `total`.
fn report(name: &str, mut samples: Vec<Duration>, total: Duration) {
    samples.sort();
    let n = samples.len();
    println!(
        "{name:<58} n={n:<5} median {:>8.3} ms   p90 {:>8.3} ms   {:>8.0} per second",
        ms(samples[n / 2]),
        ms(samples[(n * 9 / 10).min(n - 1)]),
        n as f64 / total.as_secs_f64()
    );
}

/// `n` server requests of hosts `host-0` ... with a DNS and an IP SAN, each for its own key.
fn requests(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let key = PrivateKey::generate(KeyType::EcdsaP256).expect("keygen");
            let sans = SanList::parse([
                format!("host-{i}.fleet.example.com"),
                format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255),
            ])
            .expect("sans");
            let cn: CommonName = format!("host-{i}").parse().expect("cn");
            create_server_csr(&key, &sans, Some(&cn)).expect("csr")
        })
        .collect()
}

fn library(csrs: &[String]) {
    let now = time::OffsetDateTime::now_utc();
    let ca = CertificateAuthority::create(&CaOptions::new(now).expect("options"), now).expect("ca");
    let lifetime = Lifetime::days(365).expect("lifetime");
    let mut samples = Vec::with_capacity(csrs.len());
    let start = Instant::now();
    for pem in csrs {
        let t = Instant::now();
        let csr = VerifiedCsr::from_pem(pem.as_bytes()).expect("verify request");
        drop(
            ca.sign_csr(&csr, Usage::Server, lifetime, now)
                .expect("sign"),
        );
        samples.push(t.elapsed());
    }
    report(
        "library: VerifiedCsr::from_pem + sign_csr (P-256 CA)",
        samples,
        start.elapsed(),
    );
}

fn dockpki(state: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dockpki"));
    cmd.arg("--state").arg(state).stdout(Stdio::null());
    cmd
}

fn cli(csrs: &[String]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state");
    assert!(dockpki(&state)
        .args(["ca", "init"])
        .status()
        .expect("run dockpki")
        .success());
    let requests = dir.path().join("requests");
    std::fs::create_dir(&requests).expect("requests dir");
    for (i, pem) in csrs.iter().enumerate() {
        std::fs::write(requests.join(format!("host-{i}.csr")), pem).expect("write request");
    }
    let mut samples = Vec::with_capacity(csrs.len());
    let start = Instant::now();
    for i in 0..csrs.len() {
        let t = Instant::now();
        let ok = dockpki(&state)
            .arg("sign")
            .arg(requests.join(format!("host-{i}.csr")))
            .args(["--kind", "server", "--host", &format!("host-{i}")])
            .arg("--out")
            .arg(dir.path().join("signed").join(format!("host-{i}")))
            .status()
            .expect("run dockpki")
            .success();
        assert!(ok, "dockpki sign failed");
        samples.push(t.elapsed());
    }
    report(
        &format!(
            "dockpki sign (whole process; inventory of 1..{} hosts)",
            csrs.len()
        ),
        samples,
        start.elapsed(),
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would too, without wanting a run.
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let n: usize = std::env::var("DOCKPKI_BENCH_SIGN_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
        .max(1);
    let csrs = requests(n);
    library(&csrs);
    cli(&csrs[..(n / 10).max(20).min(n)]);
}
