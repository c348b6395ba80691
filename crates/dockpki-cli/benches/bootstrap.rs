//! Wall-clock benchmark of what operators wait for: a whole `dockpki bootstrap` process (start-up,
//! crypto initialisation, key generation, signing, atomic writes with fsync), per key type; the
//! equivalent openssl command recipe for comparison; and the library operations in-process.
//!
//! Run with `just bench` (or `cargo bench -p dockpki-cli --bench bootstrap`). The targets, and
//! the results, are in docs/performance.md.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dockpki::{CaOptions, CertificateAuthority, KeyType, PrivateKey, SanList, ServerRequest};

fn stats(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let n = samples.len();
    println!(
        "{name:<44} n={n:<3} median {:>8.2} ms   min {:>8.2} ms   p90 {:>8.2} ms",
        ms(samples[n / 2]),
        ms(samples[0]),
        ms(samples[(n * 9 / 10).min(n - 1)])
    );
}

fn time_runs(n: usize, mut setup: impl FnMut(&Path), mut run: impl FnMut(&Path)) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let dir = tempfile::tempdir().expect("temp dir");
            setup(dir.path());
            let start = Instant::now();
            run(dir.path());
            start.elapsed()
        })
        .collect()
}

fn bootstrap(dir: &Path, key_type: &str) {
    let status = Command::new(env!("CARGO_BIN_EXE_dockpki"))
        .arg("--state")
        .arg(dir.join("state"))
        .args([
            "bootstrap",
            "--san",
            "localhost",
            "--san",
            "127.0.0.1",
            "--key-type",
            key_type,
        ])
        .arg("--daemon-dir")
        .arg(dir.join("daemon"))
        .arg("--client-dir")
        .arg(dir.join("client"))
        .stdout(Stdio::null())
        .status()
        .expect("run dockpki");
    assert!(status.success(), "dockpki bootstrap failed");
}

/// The hand-typed recipe from Docker's "Protect the Docker daemon socket" guide, with P-256 keys:
/// what dockpki replaces.
const OPENSSL_RECIPE: &str = r#"
set -e
cd "$1"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca-key.pem 2>/dev/null
openssl req -new -x509 -days 3650 -key ca-key.pem -sha256 -subj "/CN=docker CA" -out ca.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server-key.pem 2>/dev/null
openssl req -subj "/CN=localhost" -sha256 -new -key server-key.pem -out server.csr
printf 'subjectAltName = DNS:localhost,IP:127.0.0.1\nextendedKeyUsage = serverAuth\n' > extfile.cnf
openssl x509 -req -days 365 -sha256 -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out server-cert.pem -extfile extfile.cnf 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem 2>/dev/null
openssl req -subj "/CN=client" -new -key key.pem -out client.csr
printf 'extendedKeyUsage = clientAuth\n' > extfile-client.cnf
openssl x509 -req -days 90 -sha256 -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out cert.pem -extfile extfile-client.cnf 2>/dev/null
chmod 0400 ca-key.pem key.pem server-key.pem
chmod 0444 ca.pem server-cert.pem cert.pem
"#;

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would too, without wanting a run.
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    println!("whole process (includes start-up, crypto init, fsync):");
    for (key_type, n) in [
        ("ecdsa-p256", 50),
        ("ecdsa-p384", 30),
        ("ed25519", 30),
        ("rsa-2048", 10),
        ("rsa-4096", 3),
    ] {
        stats(
            &format!("dockpki bootstrap --key-type {key_type}"),
            time_runs(n, |_| {}, |d| bootstrap(d, key_type)),
        );
    }
    stats(
        "dockpki issue client (existing CA)",
        time_runs(
            30,
            |d| bootstrap(d, "ecdsa-p256"),
            |d| {
                let ok = Command::new(env!("CARGO_BIN_EXE_dockpki"))
                    .arg("--state")
                    .arg(d.join("state"))
                    .args(["issue", "client", "--name", "bench"])
                    .arg("--out")
                    .arg(d.join("c2"))
                    .stdout(Stdio::null())
                    .status()
                    .expect("run dockpki")
                    .success();
                assert!(ok);
            },
        ),
    );
    if Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        stats(
            "openssl recipe (P-256, same files)",
            time_runs(
                10,
                |_| {},
                |d| {
                    let ok = Command::new("sh")
                        .args(["-c", OPENSSL_RECIPE, "sh"])
                        .arg(d)
                        .status()
                        .expect("run sh")
                        .success();
                    assert!(ok, "openssl recipe failed");
                },
            ),
        );
    }

    println!("\nlibrary, in-process:");
    for (kt, n) in [
        (KeyType::EcdsaP256, 200),
        (KeyType::EcdsaP384, 100),
        (KeyType::Ed25519, 200),
        (KeyType::Rsa2048, 10),
        (KeyType::Rsa3072, 5),
        (KeyType::Rsa4096, 3),
    ] {
        stats(
            &format!("PrivateKey::generate({kt})"),
            time_runs(
                n,
                |_| {},
                |_| drop(PrivateKey::generate(kt).expect("keygen")),
            ),
        );
    }
    stats(
        "generate_many([rsa-4096; 3]) (parallel)",
        time_runs(
            3,
            |_| {},
            |_| drop(PrivateKey::generate_many(&[KeyType::Rsa4096; 3]).expect("keygen")),
        ),
    );
    let now = time::OffsetDateTime::now_utc();
    let ca = CertificateAuthority::create(&CaOptions::new(now).expect("options"), now).expect("ca");
    let request = ServerRequest {
        sans: SanList::parse(["localhost", "127.0.0.1"]).expect("sans"),
        common_name: None,
        lifetime: "1y".parse().expect("lifetime"),
    };
    stats(
        "issue_server, P-256 CA and key (incl. verify)",
        time_runs(
            200,
            |_| {},
            |_| {
                let key = PrivateKey::generate(KeyType::EcdsaP256).expect("keygen");
                drop(ca.issue_server(&request, key, now).expect("issue"));
            },
        ),
    );
}
