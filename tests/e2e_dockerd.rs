//! End-to-end: certificates written by the `dockpki` binary protect a real dockerd, judged by the
//! real docker CLI and by `openssl s_client`, on 127.0.0.1 and ::1 only.
//!
//! Needs root, `dockerd`, `docker` and `openssl`. Without them each test prints `SKIPPED: ...` to
//! stderr and passes, except under `CI=true`, where it fails. At most two daemons run at once
//! (`DOCKPKI_E2E_MAX_DAEMONS`). Run with `-- --nocapture` to see every step.

mod support;

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::{prerequisites, DaemonTls, Dockerd, Run, Tools};

/// What the docker CLI prints when dockerd aborts the handshake because no acceptable client
/// certificate arrived: Go 1.19 (dockerd 20.10) sends `bad_certificate`; newer Go servers send
/// TLS 1.3 `certificate_required`.
const CLIENT_CERT_REFUSED: &[&str] = &[
    "remote error: tls: bad certificate",
    "remote error: tls: certificate required",
];

/// A scratch directory for one test's state, daemon and client directories.
fn workdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("dpk-pki-")
        .tempdir_in("/tmp")
        .expect("tempdir under /tmp")
}

/// Runs the `dockpki` binary under test with `args` and requires exit 0.
fn dockpki(args: &[&dyn AsRef<OsStr>]) {
    let args: Vec<&OsStr> = args.iter().map(|a| a.as_ref()).collect();
    let shown: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let started = Instant::now();
    assert_cmd::Command::new(env!("CARGO_BIN_EXE_dockpki"))
        .env_remove("DOCKPKI_STATE")
        .args(&args)
        .timeout(Duration::from_secs(300))
        .assert()
        .success();
    eprintln!(
        "[ok] dockpki {} ({:.1?})",
        shown.join(" "),
        started.elapsed()
    );
}

/// `dockpki --state WORK/STATE bootstrap --san localhost --san 127.0.0.1 --san ::1 --daemon-dir
/// WORK/NAME-daemon --client-dir WORK/NAME-client --key-type KEY_TYPE`; returns the two
/// directories after checking that every promised file is there.
fn bootstrap(work: &Path, state: &str, name: &str, key_type: &str) -> (PathBuf, PathBuf) {
    let daemon = work.join(format!("{name}-daemon"));
    let client = work.join(format!("{name}-client"));
    #[rustfmt::skip]
    dockpki(&[
        &"--state", &work.join(state), &"bootstrap",
        &"--san", &"localhost", &"--san", &"127.0.0.1", &"--san", &"::1",
        &"--daemon-dir", &daemon, &"--client-dir", &client, &"--key-type", &key_type,
    ]);
    assert_files(&daemon, &["ca.pem", "server-cert.pem", "server-key.pem"]);
    assert_files(&client, &["ca.pem", "cert.pem", "key.pem"]);
    (daemon, client)
}

fn assert_files(dir: &Path, names: &[&str]) {
    for name in names {
        let path = dir.join(name);
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            text.contains("-----BEGIN "),
            "{} is not PEM:\n{text}",
            path.display()
        );
    }
}

/// A `DOCKER_CERT_PATH` directory made of `ca.pem` from `ca_from` and, when given, `cert.pem`
/// and `key.pem` from `cert_from`.
fn cert_path(dir: PathBuf, ca_from: &Path, cert_from: Option<&Path>) -> PathBuf {
    fs::create_dir_all(&dir).expect("mkdir");
    fs::copy(ca_from.join("ca.pem"), dir.join("ca.pem")).expect("copy ca.pem");
    if let Some(from) = cert_from {
        for name in ["cert.pem", "key.pem"] {
            fs::copy(from.join(name), dir.join(name)).expect("copy client cert/key");
        }
    }
    dir
}

/// `openssl s_client` options presenting the client certificate in `client`, trusting its
/// `ca.pem`.
fn openssl_client_args(client: &Path) -> Vec<String> {
    let p = |name: &str| client.join(name).display().to_string();
    vec![
        "-CAfile".into(),
        p("ca.pem"),
        "-cert".into(),
        p("cert.pem"),
        "-key".into(),
        p("key.pem"),
    ]
}

/// Collects every failed expectation of a test, so that one run shows all of them, and prints
/// each step as it goes (visible with `--nocapture`).
#[derive(Default)]
struct Checks(Vec<String>);

impl Checks {
    fn check(&mut self, ok: bool, what: &str, run: &Run) {
        eprintln!("[{}] {what}", if ok { "ok" } else { "FAILED" });
        if !ok {
            self.0.push(format!("{what}\n{run}"));
        }
    }

    /// Expects `run` to fail with one of `texts` in its output (and the daemon to be fine, which
    /// each test proves separately with a positive control).
    fn rejected(&mut self, run: &Run, what: &str, texts: &[&str]) {
        let out = run.all_output();
        let ok = !run.success && texts.iter().any(|t| out.contains(t));
        self.check(ok, &format!("{what}: fails with {texts:?}"), run);
        if let Some(line) = out.lines().find(|l| texts.iter().any(|t| l.contains(t))) {
            eprintln!("       observed: {}", line.trim());
        }
    }

    /// Expects the daemon log to show `text` within a few seconds (dockerd logs the handshake
    /// error only after sending the alert the client reports).
    fn logged(&mut self, dockerd: &Dockerd, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut found = dockerd.log().contains(text);
        while !found && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            found = dockerd.log().contains(text);
        }
        eprintln!(
            "[{}] dockerd log shows {text:?}",
            if found { "ok" } else { "FAILED" }
        );
        if !found {
            self.0.push(format!(
                "dockerd log does not show {text:?} (log printed below)"
            ));
        }
    }

    fn finish(self) {
        if !self.0.is_empty() {
            panic!(
                "{} check(s) failed:\n\n{}",
                self.0.len(),
                self.0.join("\n\n")
            );
        }
    }
}

/// The docker CLI with `--tlsverify` against `host`, using `DOCKER_CERT_PATH=cert_path`.
fn docker_tlsverify(dockerd: &Dockerd, cert_path: &Path, host: &str) -> Run {
    dockerd.docker(Some(cert_path), &["--tlsverify", "-H", host, "version"])
}

/// Whether `docker version` reached the daemon: it prints the server's engine version.
fn reached_server(run: &Run, version: &str) -> bool {
    run.success && run.stdout.contains("Server:") && run.stdout.contains(version)
}

/// Whether an `openssl s_client` run verified the daemon and got `/_ping` answered, which with
/// TLS 1.3 is the only proof that the daemon also accepted the client certificate.
fn openssl_pinged(run: &Run) -> bool {
    run.success
        && run.stdout.contains("Verify return code: 0 (ok)")
        && run.stdout.contains(" 200 OK")
}

/// For one key type: `bootstrap` writes daemon and client files with which dockerd serves mutual
/// TLS on 127.0.0.1, ::1 and localhost, the docker CLI (`--tlsverify`) verifies the daemon and is
/// accepted by it, and `openssl s_client` agrees (server chain and IP SAN verified, client
/// certificate accepted).
fn bootstrapped_certs_give_mutual_tls(tools: &Tools, key_type: &str) {
    let work = workdir();
    let (daemon_dir, client_dir) = bootstrap(work.path(), "state", "main", key_type);
    let mut checks = Checks::default();
    // `--key-type` must reach both leaves, or the six variants would all test one key type.
    let markers = key_type_markers(key_type);
    for cert in [
        daemon_dir.join("server-cert.pem"),
        client_dir.join("cert.pem"),
    ] {
        let mut cmd = Command::new(&tools.openssl);
        cmd.args(["x509", "-noout", "-text", "-in"]).arg(&cert);
        let run = support::run(cmd, b"");
        let ok = run.success && markers.iter().all(|m| run.stdout.contains(m));
        let what = format!(
            "[{key_type}] {} has a {key_type} key ({markers:?})",
            cert.display()
        );
        checks.check(ok, &what, &run);
    }

    let dockerd = Dockerd::start(tools, &DaemonTls::from_dir(&daemon_dir));
    let version = dockerd.server_version();

    let mut hosts = vec![dockerd.tcp_v4(), dockerd.tcp_localhost()];
    if dockerd.ipv6() {
        hosts.push(dockerd.tcp_v6());
    } else {
        eprintln!("NOTE: ::1 cannot be bound on this machine; the tcp://[::1] checks are skipped");
    }
    for host in &hosts {
        let run = docker_tlsverify(&dockerd, &client_dir, host);
        let what =
            format!("[{key_type}] docker --tlsverify -H {host} version reaches dockerd {version}");
        checks.check(reached_server(&run, &version), &what, &run);
    }

    let mut targets = vec![("127.0.0.1", "127.0.0.1")];
    if dockerd.ipv6() {
        targets.push(("[::1]", "::1"));
    }
    for (host, ip) in targets {
        let mut args = openssl_client_args(&client_dir);
        args.extend(["-verify_ip".into(), ip.into()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = dockerd.openssl_ping(host, &args);
        let what = format!("[{key_type}] openssl s_client -connect {host} verifies dockerd (IP {ip}) and is accepted");
        checks.check(openssl_pinged(&run), &what, &run);
    }
    checks.finish();
}

/// What `openssl x509 -text` prints for a certificate whose key is of `key_type`.
fn key_type_markers(key_type: &str) -> Vec<String> {
    match key_type {
        "ecdsa-p256" => vec!["id-ecPublicKey".into(), "NIST CURVE: P-256".into()],
        "ecdsa-p384" => vec!["id-ecPublicKey".into(), "NIST CURVE: P-384".into()],
        "ed25519" => vec!["Public Key Algorithm: ED25519".into()],
        rsa => {
            let bits = rsa.strip_prefix("rsa-").expect("known key type");
            vec!["rsaEncryption".into(), format!("Public-Key: ({bits} bit)")]
        }
    }
}

macro_rules! mutual_tls_test {
    ($($name:ident => $key_type:literal),* $(,)?) => {$(
        #[test]
        fn $name() {
            let Some(tools) = prerequisites(stringify!($name)) else { return };
            bootstrapped_certs_give_mutual_tls(&tools, $key_type);
        }
    )*};
}

mutual_tls_test! {
    bootstrap_ecdsa_p256_certs_give_mutual_tls_with_dockerd_docker_cli_and_openssl => "ecdsa-p256",
    bootstrap_ecdsa_p384_certs_give_mutual_tls_with_dockerd_docker_cli_and_openssl => "ecdsa-p384",
    bootstrap_ed25519_certs_give_mutual_tls_with_dockerd_docker_cli_and_openssl => "ed25519",
    bootstrap_rsa_2048_certs_give_mutual_tls_with_dockerd_docker_cli_and_openssl => "rsa-2048",
    bootstrap_rsa_3072_certs_give_mutual_tls_with_dockerd_docker_cli_and_openssl => "rsa-3072",
    bootstrap_rsa_4096_certs_give_mutual_tls_with_dockerd_docker_cli_and_openssl => "rsa-4096",
}

/// Keys that never travel (docs/fleet.md): the daemon's key and request are made in the
/// daemon's directory and the client's in the client's, with no CA there; the CA's state signs
/// both requests (only requests and certificates move); `install` puts each certificate next to
/// its key; dockerd then serves mutual TLS to the docker CLI (`--tlsverify`) with exactly those
/// files, and the CA's side never held either key.
#[test]
fn requested_signed_and_installed_certs_give_mutual_tls_with_dockerd() {
    let Some(tools) =
        prerequisites("requested_signed_and_installed_certs_give_mutual_tls_with_dockerd")
    else {
        return;
    };
    let work = workdir();
    let w = work.path();
    let state = w.join("ca-side/state");
    let (daemon_dir, client_dir) = (w.join("host/pki"), w.join("laptop/.docker"));
    let (signed_daemon, signed_client) = (w.join("ca-side/daemon"), w.join("ca-side/client"));
    #[rustfmt::skip]
    let steps: [&[&dyn AsRef<OsStr>]; 5] = [
        &[&"--state", &state, &"ca", &"init"],
        &[&"request", &"server", &"--san", &"localhost", &"--san", &"127.0.0.1", &"--san", &"::1", &"--dir", &daemon_dir],
        &[&"request", &"client", &"--name", &"operator", &"--dir", &client_dir],
        &[&"--state", &state, &"sign", &daemon_dir.join("server.csr"), &"--kind", &"server", &"--out", &signed_daemon],
        &[&"--state", &state, &"sign", &client_dir.join("client.csr"), &"--out", &signed_client],
    ];
    for step in steps {
        dockpki(step);
    }
    // The CA's fingerprint, as the CA's side prints it: the hosts trust that CA, the first time.
    let (code, doc, stderr) = dockpki_json(&[&"inspect", &state.join("ca.pem")]);
    assert_eq!(code, Some(0), "{stderr}");
    let ca_sha256 = doc["files"][0]["certificates"][0]["sha256"]
        .as_str()
        .expect("the CA's sha256")
        .to_string();
    #[rustfmt::skip]
    let installs: [&[&dyn AsRef<OsStr>]; 2] = [
        &[&"install", &"--from", &signed_daemon, &"--dir", &daemon_dir, &"--ca-fingerprint", &ca_sha256],
        &[&"install", &"--from", &signed_client, &"--dir", &client_dir, &"--ca-fingerprint", &ca_sha256],
    ];
    for step in installs {
        dockpki(step);
    }
    assert_files(
        &daemon_dir,
        &["ca.pem", "server-cert.pem", "server-key.pem"],
    );
    assert_files(&client_dir, &["ca.pem", "cert.pem", "key.pem"]);
    for dir in [&signed_daemon, &signed_client] {
        for entry in fs::read_dir(dir).expect("read the signed directory") {
            let path = entry.expect("entry").path();
            let text = fs::read_to_string(&path).expect("read");
            assert!(
                !text.contains("PRIVATE KEY"),
                "{} holds a key",
                path.display()
            );
        }
    }
    let mut checks = Checks::default();
    let dockerd = Dockerd::start(&tools, &DaemonTls::from_dir(&daemon_dir));
    let version = dockerd.server_version();
    for host in [dockerd.tcp_v4(), dockerd.tcp_localhost()] {
        let run = docker_tlsverify(&dockerd, &client_dir, &host);
        checks.check(
            reached_server(&run, &version),
            &format!("docker --tlsverify -H {host} version with the requested client reaches dockerd {version} serving the requested server certificate"),
            &run,
        );
    }
    checks.finish();
}

/// A client certificate issued by another CA (`ca init` + `issue client` in another state) is
/// refused, while certificates from the daemon's own CA (`issue client` from the same state, and
/// a second `bootstrap` that must reuse the existing CA) are accepted. The Go client does not
/// even send a certificate whose issuer the daemon did not ask for; openssl sends it anyway and
/// dockerd refuses it as signed by an unknown authority.
#[test]
fn dockerd_rejects_client_cert_from_another_ca() {
    let Some(tools) = prerequisites("dockerd_rejects_client_cert_from_another_ca") else {
        return;
    };
    let work = workdir();
    let w = work.path();
    let (daemon_dir, client_dir) = bootstrap(w, "state", "main", "ecdsa-p256");
    let state = w.join("state");
    let other = w.join("other-state");
    let (issued, foreign) = (w.join("issued-client"), w.join("foreign-client"));
    dockpki(&[
        &"--state", &state, &"issue", &"client", &"--name", &"bob", &"--out", &issued,
    ]);
    // A second bootstrap with the same state must reuse the CA rather than make a new one.
    let (_, second_client) = bootstrap(w, "state", "second", "ecdsa-p256");
    dockpki(&[&"--state", &other, &"ca", &"init"]);
    dockpki(&[
        &"--state", &other, &"issue", &"client", &"--name", &"mallory", &"--out", &foreign,
    ]);
    assert_files(&issued, &["ca.pem", "cert.pem", "key.pem"]);
    assert_files(&foreign, &["ca.pem", "cert.pem", "key.pem"]);
    // Trusts the right CA for the server, but holds the foreign client certificate.
    let mixed = cert_path(w.join("mixed"), &client_dir, Some(&foreign));

    let dockerd = Dockerd::start(&tools, &DaemonTls::from_dir(&daemon_dir));
    let version = dockerd.server_version();
    let host = dockerd.tcp_v4();
    let mut checks = Checks::default();
    for (dir, what) in [
        (&client_dir, "bootstrap client"),
        (&issued, "`issue client` from the same state"),
        (&second_client, "second bootstrap with the same state"),
    ] {
        let run = docker_tlsverify(&dockerd, dir, &host);
        checks.check(
            reached_server(&run, &version),
            &format!("control: {what} is accepted"),
            &run,
        );
    }

    let run = docker_tlsverify(&dockerd, &mixed, &host);
    checks.rejected(
        &run,
        "docker --tlsverify with a client cert from another CA",
        CLIENT_CERT_REFUSED,
    );
    checks.logged(&dockerd, "tls: client didn't provide a certificate");

    let mut args = openssl_client_args(&mixed);
    args.extend(["-verify_ip".into(), "127.0.0.1".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = dockerd.openssl_ping("127.0.0.1", &args);
    let refused = !run.success
        && !run.stdout.contains(" 200 OK")
        && run.stderr.contains("alert bad certificate");
    checks.check(
        refused,
        "openssl presenting a client cert from another CA gets alert bad certificate",
        &run,
    );
    checks.logged(&dockerd, "x509: certificate signed by unknown authority");
    checks.finish();
}

/// A client that presents no certificate (a `DOCKER_CERT_PATH` holding only `ca.pem`) is refused,
/// with server verification on (`--tlsverify`) or off (`--tls`): the daemon enforces it.
#[test]
fn dockerd_rejects_client_without_certificate() {
    let Some(tools) = prerequisites("dockerd_rejects_client_without_certificate") else {
        return;
    };
    let work = workdir();
    let (daemon_dir, client_dir) = bootstrap(work.path(), "state", "main", "ecdsa-p256");
    let ca_only = cert_path(work.path().join("ca-only"), &client_dir, None);

    let dockerd = Dockerd::start(&tools, &DaemonTls::from_dir(&daemon_dir));
    let version = dockerd.server_version();
    let host = dockerd.tcp_v4();
    let mut checks = Checks::default();
    let run = docker_tlsverify(&dockerd, &client_dir, &host);
    checks.check(
        reached_server(&run, &version),
        "control: the full client dir is accepted",
        &run,
    );

    let run = docker_tlsverify(&dockerd, &ca_only, &host);
    checks.rejected(
        &run,
        "docker --tlsverify without client cert",
        CLIENT_CERT_REFUSED,
    );
    checks.rejected(
        &run,
        "docker --tlsverify without client cert (CLI hint)",
        &["the server probably has client authentication (--tlsverify) enabled"],
    );
    let run = dockerd.docker(Some(&ca_only), &["--tls", "-H", &host, "version"]);
    checks.rejected(
        &run,
        "docker --tls (no server verification) without client cert",
        CLIENT_CERT_REFUSED,
    );
    checks.logged(&dockerd, "tls: client didn't provide a certificate");

    let ca = client_dir.join("ca.pem").display().to_string();
    let run = dockerd.openssl_ping("127.0.0.1", &["-CAfile", &ca]);
    let refused = !run.success && !run.stdout.contains(" 200 OK") && run.stderr.contains("alert");
    checks.check(
        refused,
        "openssl without client cert gets a TLS alert and no HTTP answer",
        &run,
    );
    checks.finish();
}

/// A daemon certificate whose SANs do not cover the dialled address (`issue server --san
/// example.invalid`, dialled as 127.0.0.1, ::1 and localhost) is refused by the docker CLI,
/// although the same daemon and client certificate work when server verification is off
/// (`--tls`), so that nothing but the SAN check is at stake.
#[test]
fn docker_cli_rejects_server_cert_without_san_for_dialled_address() {
    let Some(tools) =
        prerequisites("docker_cli_rejects_server_cert_without_san_for_dialled_address")
    else {
        return;
    };
    let work = workdir();
    let w = work.path();
    let (_, client_dir) = bootstrap(w, "state", "main", "ecdsa-p256");
    let wrong = w.join("wrong-san-daemon");
    let state = w.join("state");
    dockpki(&[
        &"--state",
        &state,
        &"issue",
        &"server",
        &"--san",
        &"example.invalid",
        &"--out",
        &wrong,
    ]);
    assert_files(&wrong, &["ca.pem", "server-cert.pem", "server-key.pem"]);

    let dockerd = Dockerd::start(&tools, &DaemonTls::from_dir(&wrong));
    let version = dockerd.server_version();
    let mut checks = Checks::default();
    let run = dockerd.docker(
        Some(&client_dir),
        &["--tls", "-H", &dockerd.tcp_v4(), "version"],
    );
    checks.check(
        reached_server(&run, &version),
        "control: docker --tls (no server verification) with the client cert is accepted",
        &run,
    );

    let run = docker_tlsverify(&dockerd, &client_dir, &dockerd.tcp_v4());
    checks.rejected(
        &run,
        "docker --tlsverify -H tcp://127.0.0.1",
        &["x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs"],
    );
    if dockerd.ipv6() {
        let run = docker_tlsverify(&dockerd, &client_dir, &dockerd.tcp_v6());
        checks.rejected(
            &run,
            "docker --tlsverify -H tcp://[::1]",
            &["x509: cannot validate certificate for ::1 because it doesn't contain any IP SANs"],
        );
    }
    let run = docker_tlsverify(&dockerd, &client_dir, &dockerd.tcp_localhost());
    checks.rejected(
        &run,
        "docker --tlsverify -H tcp://localhost",
        &["x509: certificate is valid for example.invalid, not localhost"],
    );

    let mut args = openssl_client_args(&client_dir);
    args.extend(["-verify_ip".into(), "127.0.0.1".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = dockerd.openssl_ping("127.0.0.1", &args);
    checks.rejected(
        &run,
        "openssl s_client -verify_ip 127.0.0.1",
        &["Verify return code: 64 (IP address mismatch)"],
    );
    checks.finish();
}

/// The docker CLI refuses a daemon whose certificate comes from a CA it does not trust: a client
/// directory bootstrapped from another state dials the first state's daemon.
#[test]
fn docker_cli_rejects_daemon_cert_from_another_ca() {
    let Some(tools) = prerequisites("docker_cli_rejects_daemon_cert_from_another_ca") else {
        return;
    };
    let work = workdir();
    let (daemon_dir, client_dir) = bootstrap(work.path(), "state", "main", "ecdsa-p256");
    let (_, other_client) = bootstrap(work.path(), "other-state", "other", "ecdsa-p256");

    let dockerd = Dockerd::start(&tools, &DaemonTls::from_dir(&daemon_dir));
    let version = dockerd.server_version();
    let host = dockerd.tcp_v4();
    let mut checks = Checks::default();
    let run = docker_tlsverify(&dockerd, &client_dir, &host);
    checks.check(
        reached_server(&run, &version),
        "control: the daemon's own client dir is accepted",
        &run,
    );

    let run = docker_tlsverify(&dockerd, &other_client, &host);
    checks.rejected(
        &run,
        "docker --tlsverify trusting only another CA",
        &["x509: certificate signed by unknown authority"],
    );
    let args = openssl_client_args(&other_client);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = dockerd.openssl_ping("127.0.0.1", &args);
    checks.rejected(
        &run,
        "openssl s_client trusting only another CA",
        &[
            "unable to get local issuer certificate",
            "self-signed certificate in certificate chain",
        ],
    );
    checks.finish();
}

/// The TLS port does not serve plain HTTP: the docker CLI without TLS flags, or with only
/// `DOCKER_CERT_PATH` set (which alone does not turn TLS on), gets an error from the daemon.
#[test]
fn dockerd_tls_port_refuses_plain_http() {
    let Some(tools) = prerequisites("dockerd_tls_port_refuses_plain_http") else {
        return;
    };
    let work = workdir();
    let (daemon_dir, client_dir) = bootstrap(work.path(), "state", "main", "ecdsa-p256");

    let dockerd = Dockerd::start(&tools, &DaemonTls::from_dir(&daemon_dir));
    let version = dockerd.server_version();
    let host = dockerd.tcp_v4();
    let mut checks = Checks::default();
    let run = docker_tlsverify(&dockerd, &client_dir, &host);
    checks.check(
        reached_server(&run, &version),
        "control: --tlsverify is accepted",
        &run,
    );

    const PLAIN: &[&str] = &["Client sent an HTTP request to an HTTPS server."];
    let run = dockerd.docker(None, &["-H", &host, "version"]);
    checks.rejected(&run, "docker -H tcp://127.0.0.1 without TLS", PLAIN);
    let run = dockerd.docker(Some(&client_dir), &["-H", &host, "version"]);
    checks.rejected(
        &run,
        "docker with DOCKER_CERT_PATH but no --tlsverify",
        PLAIN,
    );
    checks.finish();
}

/// The first PEM certificate block in `text`, whitespace-trimmed, for comparing what a server
/// presents with a file.
fn first_pem_cert(text: &str) -> Option<String> {
    let start = text.find("-----BEGIN CERTIFICATE-----")?;
    let end_marker = "-----END CERTIFICATE-----";
    let end = start + text[start..].find(end_marker)? + end_marker.len();
    Some(text[start..end].trim().to_string())
}

/// `renew --all` then a dockerd restart: the restarted daemon serves the renewed server
/// certificate (not the old one) and accepts the renewed client certificate; before the restart
/// the running daemon already accepts the renewed client, since both come from the same CA.
#[test]
fn renewed_certificates_work_after_dockerd_restart() {
    let Some(tools) = prerequisites("renewed_certificates_work_after_dockerd_restart") else {
        return;
    };
    let work = workdir();
    let (daemon_dir, client_dir) = bootstrap(work.path(), "state", "renew", "ecdsa-p256");
    let server_cert = daemon_dir.join("server-cert.pem");
    let mut checks = Checks::default();

    let dockerd = Dockerd::start(&tools, &DaemonTls::from_dir(&daemon_dir));
    let version = dockerd.server_version();
    let run = docker_tlsverify(&dockerd, &client_dir, &dockerd.tcp_v4());
    checks.check(
        reached_server(&run, &version),
        "before renewal: docker --tlsverify version reaches dockerd",
        &run,
    );
    let old_server = fs::read_to_string(&server_cert).expect("read server-cert.pem");
    let old_client = fs::read_to_string(client_dir.join("cert.pem")).expect("read cert.pem");

    #[rustfmt::skip]
    dockpki(&[&"--state", &work.path().join("state"), &"renew", &"--all"]);
    let new_server = fs::read_to_string(&server_cert).expect("read server-cert.pem");
    assert_ne!(
        new_server, old_server,
        "renew --all replaced the server certificate"
    );
    assert_ne!(
        fs::read_to_string(client_dir.join("cert.pem")).expect("read cert.pem"),
        old_client,
        "renew --all replaced the client certificate"
    );

    let run = docker_tlsverify(&dockerd, &client_dir, &dockerd.tcp_v4());
    checks.check(
        reached_server(&run, &version),
        "renewed client accepted by the not yet restarted dockerd (same CA)",
        &run,
    );
    let mut args = openssl_client_args(&client_dir);
    args.push("-showcerts".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = dockerd.openssl_ping("127.0.0.1", &args);
    checks.check(
        first_pem_cert(&run.stdout).as_deref() == Some(old_server.trim()),
        "before the restart dockerd still serves the old server certificate (no reload)",
        &run,
    );

    // Restart: stop this instance, start a new one on the same files.
    drop(dockerd);
    let dockerd = Dockerd::start(&tools, &DaemonTls::from_dir(&daemon_dir));
    let version = dockerd.server_version();
    let run = docker_tlsverify(&dockerd, &client_dir, &dockerd.tcp_v4());
    checks.check(
        reached_server(&run, &version),
        "after restart: docker --tlsverify version with the renewed client reaches dockerd",
        &run,
    );
    let run = dockerd.openssl_ping("127.0.0.1", &args);
    let served = first_pem_cert(&run.stdout);
    checks.check(
        openssl_pinged(&run) && served.as_deref() == Some(new_server.trim()),
        "after restart dockerd serves the renewed server certificate",
        &run,
    );
    checks.check(
        served.as_deref() != Some(old_server.trim()),
        "after restart dockerd no longer serves the old server certificate",
        &run,
    );
    checks.finish();
}

/// A CA rotation keeps dockerd reachable at every phase, restarting it after each as the
/// runbook says (docs/rotation.md): after `begin` both the old client and a client issued from
/// the new CA are accepted; after `reissue` the reissued client, the new-CA client and the old
/// client certificate (still trusted by the old+new bundle) all are; after `finish` the new
/// clients are, and a client certificate from the old CA is refused.
#[test]
fn ca_rotation_keeps_dockerd_reachable_and_finally_refuses_old_ca_clients() {
    let Some(tools) =
        prerequisites("ca_rotation_keeps_dockerd_reachable_and_finally_refuses_old_ca_clients")
    else {
        return;
    };
    let work = workdir();
    let w = work.path();
    let (daemon_dir, client_dir) = bootstrap(w, "state", "main", "ecdsa-p256");
    let state = w.join("state");
    let rotate = |phase: &str| dockpki(&[&"--state", &state, &"ca", &"rotate", &phase]);
    // The old client's certificate and key as they were before anything was rotated.
    let old_client = cert_path(w.join("old-client"), &client_dir, Some(&client_dir));
    let mut checks = Checks::default();

    // 1. Bootstrap: the docker CLI works.
    let dockerd = Dockerd::start(&tools, &DaemonTls::from_dir(&daemon_dir));
    let version = dockerd.server_version();
    let run = docker_tlsverify(&dockerd, &client_dir, &dockerd.tcp_v4());
    checks.check(
        reached_server(&run, &version),
        "1. bootstrap client works",
        &run,
    );
    drop(dockerd);

    // 2. begin + restart: old and new-CA clients both work.
    rotate("begin");
    let new_client = w.join("new-client");
    dockpki(&[
        &"--state",
        &state,
        &"issue",
        &"client",
        &"--name",
        &"newbie",
        &"--out",
        &new_client,
    ]);
    let dockerd = Dockerd::start(&tools, &DaemonTls::from_dir(&daemon_dir));
    let host = dockerd.tcp_v4();
    for (dir, what) in [
        (
            &client_dir,
            "2. after begin: the old client (old+new ca.pem) works",
        ),
        (
            &old_client,
            "2. after begin: an untouched old client copy (old-only ca.pem) works",
        ),
        (
            &new_client,
            "2. after begin: a client issued from the new CA works",
        ),
    ] {
        let run = docker_tlsverify(&dockerd, dir, &host);
        checks.check(reached_server(&run, &version), what, &run);
    }
    drop(dockerd);

    // 3. reissue + restart: the daemon serves a new-CA certificate and trusts both CAs.
    rotate("reissue");
    let old_cert_new_bundle = cert_path(
        w.join("old-cert-new-bundle"),
        &client_dir,
        Some(&old_client),
    );
    let dockerd = Dockerd::start(&tools, &DaemonTls::from_dir(&daemon_dir));
    let host = dockerd.tcp_v4();
    for (dir, what) in [
        (&client_dir, "3. after reissue: the reissued client works"),
        (&new_client, "3. after reissue: the new-CA client works"),
        (
            &old_cert_new_bundle,
            "3. after reissue: the old client certificate with the old+new ca.pem still works",
        ),
    ] {
        let run = docker_tlsverify(&dockerd, dir, &host);
        checks.check(reached_server(&run, &version), what, &run);
    }
    let run = docker_tlsverify(&dockerd, &old_client, &host);
    checks.rejected(
        &run,
        "3. after reissue: a client never given the new ca.pem cannot verify the daemon",
        &["x509: certificate signed by unknown authority"],
    );
    drop(dockerd);

    // 4. finish + restart: only the new CA is trusted.
    rotate("finish");
    let old_cert_final_bundle = cert_path(
        w.join("old-cert-final-bundle"),
        &client_dir,
        Some(&old_client),
    );
    let dockerd = Dockerd::start(&tools, &DaemonTls::from_dir(&daemon_dir));
    let host = dockerd.tcp_v4();
    for (dir, what) in [
        (&new_client, "4. after finish: the new-CA client works"),
        (&client_dir, "4. after finish: the reissued client works"),
    ] {
        let run = docker_tlsverify(&dockerd, dir, &host);
        checks.check(reached_server(&run, &version), what, &run);
    }
    let run = docker_tlsverify(&dockerd, &old_cert_final_bundle, &host);
    checks.rejected(
        &run,
        "4. after finish: a client certificate from the old CA",
        CLIENT_CERT_REFUSED,
    );
    checks.logged(&dockerd, "tls: client didn't provide a certificate");
    checks.finish();
}

/// An aborted rotation puts dockerd back on the old CA alone, with the runbook's restarts: after
/// `begin`, `reissue` and `abort` (each followed by a restart) the client layout (re-issued from
/// the old CA), a copy of the client never updated (old certificate, old-only ca.pem) and a
/// client issued during the rotation (re-issued from the old CA too) work, and a copy of that
/// client's new-CA certificate is refused.
#[test]
fn aborted_ca_rotation_puts_dockerd_back_on_the_old_ca_and_refuses_new_ca_clients() {
    let Some(tools) = prerequisites(
        "aborted_ca_rotation_puts_dockerd_back_on_the_old_ca_and_refuses_new_ca_clients",
    ) else {
        return;
    };
    let work = workdir();
    let w = work.path();
    let (daemon_dir, client_dir) = bootstrap(w, "state", "main", "ecdsa-p256");
    let state = w.join("state");
    let rotate = |phase: &str| dockpki(&[&"--state", &state, &"ca", &"rotate", &phase]);
    // A client dockpki does not know: the old certificate and the old-only ca.pem, never updated.
    let old_client = cert_path(w.join("old-client"), &client_dir, Some(&client_dir));
    let mut checks = Checks::default();

    rotate("begin");
    let new_client = w.join("new-client");
    dockpki(&[
        &"--state",
        &state,
        &"issue",
        &"client",
        &"--name",
        &"newbie",
        &"--out",
        &new_client,
    ]);
    drop(Dockerd::start(&tools, &DaemonTls::from_dir(&daemon_dir)));
    rotate("reissue");
    // A copy of the new-CA client taken before the abort (old+new ca.pem, new-CA certificate).
    let new_ca_copy = cert_path(w.join("new-ca-copy"), &new_client, Some(&new_client));
    let dockerd = Dockerd::start(&tools, &DaemonTls::from_dir(&daemon_dir));
    let version = dockerd.server_version();
    let run = docker_tlsverify(&dockerd, &client_dir, &dockerd.tcp_v4());
    checks.check(
        reached_server(&run, &version),
        "after reissue: the reissued client works",
        &run,
    );
    drop(dockerd);

    rotate("abort");
    let dockerd = Dockerd::start(&tools, &DaemonTls::from_dir(&daemon_dir));
    let host = dockerd.tcp_v4();
    for (dir, what) in [
        (
            &client_dir,
            "after abort: the client re-issued from the old CA works",
        ),
        (
            &old_client,
            "after abort: a client copy never updated (old-only ca.pem) works again",
        ),
        (
            &new_client,
            "after abort: the client issued during the rotation, re-issued from the old CA, works",
        ),
    ] {
        let run = docker_tlsverify(&dockerd, dir, &host);
        checks.check(reached_server(&run, &version), what, &run);
    }
    let run = docker_tlsverify(&dockerd, &new_ca_copy, &host);
    checks.rejected(
        &run,
        "after abort: a client certificate from the abandoned CA",
        CLIENT_CERT_REFUSED,
    );
    checks.finish();
}

/// Writes `dir/daemon.json` holding the daemon's private settings (data root, exec root, pidfile,
/// vfs, no iptables, no bridge: keys dockpki must keep), then merges the TLS settings into it
/// with `dockpki daemon-config --listen tcp://127.0.0.1:PORT --listen unix://DIR/docker.sock
/// --no-unix extra...`. The private unix socket stands in for the default local socket
/// (dropped with `--no-unix`), whose /var/run/docker.sock belongs to the host's own dockerd.
fn daemon_config(dir: &Path, port: u16, daemon_dir: &Path, extra: &[&str]) -> PathBuf {
    let file = dir.join("daemon.json");
    let private = support::private_settings(dir);
    fs::write(&file, serde_json::to_string_pretty(&private).expect("JSON")).expect("write");
    let tcp = format!("tcp://127.0.0.1:{port}");
    let unix = format!("unix://{}", dir.join("docker.sock").display());
    let mut args: Vec<&dyn AsRef<OsStr>> = vec![
        &"daemon-config",
        &"--file",
        &file,
        &"--daemon-dir",
        &daemon_dir,
        &"--listen",
        &tcp,
        &"--listen",
        &unix,
        &"--no-unix",
    ];
    args.extend(extra.iter().map(|e| e as &dyn AsRef<OsStr>));
    dockpki(&args);
    let merged: serde_json::Value =
        serde_json::from_slice(&fs::read(&file).expect("read daemon.json")).expect("JSON");
    for (key, value) in private.as_object().expect("object") {
        assert_eq!(&merged[key], value, "daemon-config lost {key}");
    }
    file
}

/// The docker CLI configured only by `eval "$(dockpki env ...)"` in `sh`, running `docker
/// version`; `with_env: false` runs the same without the eval (the negative control).
fn docker_through_env(tools: &Tools, dockerd: &Dockerd, client: &Path, with_env: bool) -> Run {
    let script = if with_env {
        r#"eval "$("$0" env --host "$2" --client-dir "$3")" && "$1" version"#
    } else {
        r#""$1" -H "$2" version"#
    };
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_dockpki"))
        .arg(&tools.docker)
        .arg(dockerd.tcp_v4())
        .arg(client);
    for var in [
        "DOCKER_HOST",
        "DOCKER_CONTEXT",
        "DOCKER_TLS",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("DOCKER_CONFIG", dockerd.dir().join("docker-config"));
    support::run(cmd, b"")
}

/// A dockerd configured by nothing but the daemon.json that `daemon-config` merged (no -H, no
/// TLS flags: they would conflict with the file) serves mutual TLS on 127.0.0.1: the docker CLI
/// with the client layout reaches it, and so does the docker CLI configured only by `eval
/// "$(dockpki env ...)"`, while the same CLI without that eval is refused.
#[test]
fn daemon_config_file_alone_gives_dockerd_tls_and_env_configures_the_docker_cli() {
    let Some(tools) = prerequisites(
        "daemon_config_file_alone_gives_dockerd_tls_and_env_configures_the_docker_cli",
    ) else {
        return;
    };
    let work = workdir();
    let (daemon_dir, client_dir) = bootstrap(work.path(), "state", "cfg", "ecdsa-p256");
    let dockerd = Dockerd::start_from_config(&tools, |dir, port| {
        daemon_config(dir, port, &daemon_dir, &[])
    })
    .unwrap_or_else(|log| panic!("dockerd refused the merged daemon.json:\n{log}"));
    let version = dockerd.server_version();
    let mut checks = Checks::default();
    let run = docker_tlsverify(&dockerd, &client_dir, &dockerd.tcp_v4());
    checks.check(
        reached_server(&run, &version),
        "docker --tlsverify with the client layout reaches dockerd",
        &run,
    );
    let run = docker_through_env(&tools, &dockerd, &client_dir, true);
    checks.check(
        reached_server(&run, &version),
        "eval \"$(dockpki env ...)\"; docker version reaches dockerd",
        &run,
    );
    let run = docker_through_env(&tools, &dockerd, &client_dir, false);
    checks.rejected(
        &run,
        "control: docker without the env",
        &["Client sent an HTTP request to an HTTPS server"],
    );
    checks.finish();
}

/// `dockpki --json ARGS` (the binary under test), its exit code and document.
fn dockpki_json(args: &[&dyn AsRef<OsStr>]) -> (Option<i32>, serde_json::Value, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dockpki"));
    cmd.env_remove("DOCKPKI_STATE").arg("--json").args(args);
    let run = support::run(cmd, b"");
    let doc = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{run}"));
    (run.code, doc, run.stderr)
}

/// Fails under `CI=true`, else prints a loud `SKIPPED` line, when this machine cannot give a
/// root dockerd `userns-remap: "default"`; `true` when it can.
fn userns_prerequisite(test: &str, found: &serde_json::Value) -> bool {
    if found["readiness"] != "missing" {
        return true;
    }
    let why = format!(
        "{test} needs the dockremap user and its /etc/subuid and /etc/subgid ranges, or adduser/useradd and usermod for dockerd to create them: {}",
        found["summary"]
    );
    if support::running_in_ci() {
        panic!("CI=true but {why}");
    }
    eprintln!("\n{0}\nSKIPPED: {why}\n{0}\n", "#".repeat(72));
    false
}

/// `daemon-config --harden` applied for real, `userns-remap: "default"` kept: before the start
/// it says whether the `dockremap` user and its ranges are there or that dockerd creates them;
/// a root dockerd started from nothing but that daemon.json (with the private settings of the
/// other tests: own data root, exec root and socket, `--iptables=false --bridge=none`, which
/// is why `--harden` leaves `icc` out here: dockerd refuses icc=false without iptables) serves
/// mutual TLS to the docker CLI, whose `docker info` lists `userns`, with its data under the
/// remapped root `DATA_ROOT/UID.GID` of dockremap. The TLS layout stays root's `0400` key,
/// which the daemon (still root) reads. Afterwards `daemon-config` finds everything in place,
/// and `dockpki audit --socket` reports `daemon.userns-remap` as a pass from the daemon's own
/// answer. The local log driver and live restore show in `/info` too (no-new-privileges is
/// not reported there; that dockerd accepts it is what is checked for it).
#[test]
fn daemon_config_harden_keeps_userns_remap_and_the_remapped_dockerd_serves_mtls_and_passes_the_audit(
) {
    const TEST: &str =
        "daemon_config_harden_keeps_userns_remap_and_the_remapped_dockerd_serves_mtls_and_passes_the_audit";
    let Some(tools) = prerequisites(TEST) else {
        return;
    };
    let work = workdir();
    let (daemon_dir, client_dir) = bootstrap(work.path(), "state", "hard", "ecdsa-p256");
    // What daemon-config says of this machine before dockerd ever ran with userns-remap.
    let scratch = work.path().join("probe.json");
    #[rustfmt::skip]
    let (code, before, _) = dockpki_json(&[
        &"daemon-config", &"--file", &scratch, &"--daemon-dir", &daemon_dir,
        &"--listen", &"unix:///run/dpk-unused.sock", &"--no-unix", &"--harden", &"--dry-run",
    ]);
    assert_eq!(code, Some(0), "{before}");
    let found = &before["userns_remap"];
    eprintln!("before the start: {found}");
    if !userns_prerequisite(TEST, found) {
        return;
    }
    let dockerd = Dockerd::start_from_config(&tools, |dir, port| {
        let file = daemon_config(dir, port, &daemon_dir, &["--harden"]);
        let merged: serde_json::Value =
            serde_json::from_slice(&fs::read(&file).expect("read")).expect("JSON");
        assert_eq!(merged["userns-remap"], "default", "{merged}");
        assert!(merged.get("icc").is_none(), "icc needs iptables: {merged}");
        file
    })
    .unwrap_or_else(|log| {
        panic!("dockerd refused the --harden daemon.json with userns-remap:\n{log}")
    });
    let version = dockerd.server_version();
    let info: serde_json::Value =
        serde_json::from_str(&dockerd.unix_get("/info").expect("GET /info")).expect("JSON");
    let shown = Run {
        command: "GET /info".into(),
        success: true,
        code: Some(0),
        stdout: info.to_string(),
        stderr: String::new(),
    };
    let mut checks = Checks::default();
    let run = docker_tlsverify(&dockerd, &client_dir, &dockerd.tcp_v4());
    checks.check(
        reached_server(&run, &version),
        "docker --tlsverify reaches the remapped dockerd",
        &run,
    );
    let run = dockerd.docker(
        Some(&client_dir),
        &[
            "--tlsverify",
            "-H",
            &dockerd.tcp_v4(),
            "info",
            "--format",
            "{{json .SecurityOptions}}",
        ],
    );
    checks.check(
        run.success && run.stdout.contains("name=userns"),
        "docker --tlsverify info lists the security option userns",
        &run,
    );
    // dockerd created what was missing: dockremap and its ranges are in the files now, and
    // its data root is the remapped one.
    let passwd = fs::read_to_string("/etc/passwd").expect("/etc/passwd");
    let ids = passwd
        .lines()
        .find_map(|l| l.strip_prefix("dockremap:"))
        .and_then(|rest| {
            let f: Vec<&str> = rest.split(':').collect();
            Some((f.get(1)?.to_string(), f.get(2)?.to_string()))
        });
    let subuid_start = fs::read_to_string("/etc/subuid")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("dockremap:")
                .map(|r| r.split(':').next().unwrap_or("").to_string())
        });
    let subgid_start = fs::read_to_string("/etc/subgid")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("dockremap:")
                .map(|r| r.split(':').next().unwrap_or("").to_string())
        });
    checks.check(
        ids.is_some() && subuid_start.is_some() && subgid_start.is_some(),
        "dockremap is in /etc/passwd, /etc/subuid and /etc/subgid",
        &shown,
    );
    let remapped = match (&subuid_start, &subgid_start) {
        (Some(u), Some(g)) => format!("{}/{u}.{g}", dockerd.dir().join("data").display()),
        _ => String::from("(no ranges)"),
    };
    checks.check(
        info["DockerRootDir"] == remapped.as_str(),
        &format!("/info: DockerRootDir is the remapped root {remapped}"),
        &shown,
    );
    checks.check(
        info["LoggingDriver"] == "local",
        "/info: LoggingDriver local",
        &shown,
    );
    checks.check(
        info["LiveRestoreEnabled"] == true,
        "/info: LiveRestoreEnabled",
        &shown,
    );
    // The layout dockerd reads is still root's, the key 0400: userns-remap changes who
    // containers run as, not who the daemon is.
    {
        use std::os::unix::fs::MetadataExt;
        let key = fs::metadata(daemon_dir.join("server-key.pem")).expect("server key");
        checks.check(
            key.uid() == 0 && key.mode() & 0o777 == 0o400,
            "the server key is still root's, mode 0400",
            &shown,
        );
    }
    // Now in place, whatever it was before.
    let file = dockerd.dir().join("daemon.json");
    let tcp = dockerd.tcp_v4();
    let unix = format!("unix://{}", dockerd.dir().join("docker.sock").display());
    #[rustfmt::skip]
    let (code, after, stderr) = dockpki_json(&[
        &"daemon-config", &"--file", &file, &"--daemon-dir", &daemon_dir,
        &"--listen", &tcp, &"--listen", &unix, &"--no-unix", &"--harden",
    ]);
    let after_run = Run {
        command: "dockpki --json daemon-config --harden (again)".into(),
        success: code == Some(0),
        code,
        stdout: after.to_string(),
        stderr,
    };
    checks.check(
        after_run.success
            && after["changed"] == false
            && after["userns_remap"]["readiness"] == "ready",
        "daemon-config --harden again: nothing to change, userns_remap ready",
        &after_run,
    );
    // The audit asks the daemon itself and passes userns-remap from its answer.
    let (code, audit, stderr) = dockpki_json(&[&"audit", &"--socket", &unix]);
    let audit_run = Run {
        command: format!("dockpki --json audit --socket {unix}"),
        success: matches!(code, Some(0 | 4)),
        code,
        stdout: audit.to_string(),
        stderr,
    };
    let outcome = |id: &str| {
        audit["outcomes"]
            .as_array()
            .and_then(|all| all.iter().find(|o| o["id"] == id))
            .cloned()
            .unwrap_or_default()
    };
    let userns = outcome("daemon.userns-remap");
    checks.check(
        audit_run.success
            && userns["result"] == "pass"
            && userns["evidence"]
                .as_str()
                .is_some_and(|e| e.starts_with(&format!("the daemon at {unix} reports userns"))),
        "audit --socket: daemon.userns-remap passes from the daemon's answer",
        &audit_run,
    );
    let root = outcome("daemon.root");
    checks.check(
        root["severity"] == "info"
            && root["evidence"]
                .as_str()
                .is_some_and(|e| e.contains("with userns: containers' root is not the host's")),
        "audit --socket: daemon.root is info only, from the daemon's answer",
        &audit_run,
    );
    checks.finish();
}

/// Why `daemon-config` warns about units passing `-H` and why `systemd-dropin` exists: dockerd
/// 20.10 refuses to start with `hosts` in the merged daemon.json and `-H` on its command line,
/// naming both. (It exits while validating its configuration, before starting anything.)
#[test]
fn dockerd_refuses_hosts_from_daemon_config_together_with_dash_h() {
    let Some(tools) =
        prerequisites("dockerd_refuses_hosts_from_daemon_config_together_with_dash_h")
    else {
        return;
    };
    let work = workdir();
    let (daemon_dir, _) = bootstrap(work.path(), "state", "conflict", "ecdsa-p256");
    let dir = work.path().join("daemon");
    fs::create_dir(&dir).expect("mkdir");
    let file = daemon_config(&dir, 2376, &daemon_dir, &[]);
    let mut cmd = Command::new(&tools.dockerd);
    cmd.arg("--config-file")
        .arg(&file)
        .arg("-H")
        .arg(format!("unix://{}", dir.join("flag.sock").display()));
    let run = support::run(cmd, b"");
    let mut checks = Checks::default();
    checks.rejected(
        &run,
        "dockerd with hosts in daemon.json and -H",
        &["the following directives are specified both as a flag and in the configuration file: hosts"],
    );
    checks.finish();
}

/// Runs the `dockpki` binary under test with `DOCKER_CONFIG=docker_config`, whatever the
/// outcome.
fn dockpki_with_config(docker_config: &Path, args: &[&dyn AsRef<OsStr>]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dockpki"));
    cmd.env_remove("DOCKPKI_STATE")
        .env("DOCKER_CONFIG", docker_config)
        .args(args.iter().map(|a| a.as_ref()));
    support::run(cmd, b"")
}

/// `docker --context NAME version` with `DOCKER_CONFIG=docker_config`.
fn docker_context_version(dockerd: &Dockerd, docker_config: &Path, name: &str) -> Run {
    let mut cmd = dockerd.docker_command(None, &["--context", name, "version"]);
    cmd.env("DOCKER_CONFIG", docker_config);
    support::run(cmd, b"")
}

/// Whether the context's TLS copies hold exactly the client layout's files.
fn context_copies_equal(docker_config: &Path, name: &str, client: &Path) -> bool {
    let tls = docker_config.join("contexts/tls");
    let Some(dir) = fs::read_dir(&tls)
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| e.path().join("docker"))
    else {
        eprintln!("no context TLS directory for {name} in {}", tls.display());
        return false;
    };
    ["ca.pem", "cert.pem", "key.pem"]
        .iter()
        .all(|f| fs::read(dir.join(f)).ok() == fs::read(client.join(f)).ok())
}

/// `dockpki --json probe` against `host` with the client layout `client`: the exit code and
/// the JSON document (the report, or `{"error": ...}`).
fn probe(state: &Path, host: &str, client: &Path) -> (Run, serde_json::Value) {
    #[rustfmt::skip]
    let run = dockpki_with_config(client, &[
        &"--state", &state, &"--json", &"probe", &host, &"--client-dir", &client,
        &"--timeout", &"10s",
    ]);
    let doc = serde_json::from_str(&run.stdout).unwrap_or(serde_json::Value::Null);
    (run, doc)
}

/// A docker context made by `dockpki context create` keeps working with `docker --context`
/// through `renew --all` and a whole CA rotation, each followed by a dockerd restart on the same
/// address, because every update rewrites the context's copies with the client layout (which a
/// context made by `docker context create` would have missed). `dockpki probe` sees the served
/// certificate as installed, and as drift between a renewal and the restart.
#[test]
fn dockpki_context_survives_renewal_and_ca_rotation_and_probe_sees_restart_drift() {
    let Some(tools) = prerequisites(
        "dockpki_context_survives_renewal_and_ca_rotation_and_probe_sees_restart_drift",
    ) else {
        return;
    };
    let work = workdir();
    let w = work.path();
    let (daemon_dir, client_dir) = bootstrap(w, "state", "ctx", "ecdsa-p256");
    let state = w.join("state");
    let config = w.join("docker-config");
    let tls = DaemonTls::from_dir(&daemon_dir);
    let mut checks = Checks::default();

    let dockerd = Dockerd::start(&tools, &tls);
    let port = dockerd.port();
    let host = dockerd.tcp_v4();
    let version = dockerd.server_version();
    #[rustfmt::skip]
    let run = dockpki_with_config(&config, &[
        &"--state", &state, &"context", &"create", &"remote-a", &"--host", &host,
        &"--client-dir", &client_dir,
    ]);
    assert!(run.success, "context create\n{run}");
    let run = docker_context_version(&dockerd, &config, "remote-a");
    checks.check(
        reached_server(&run, &version),
        "docker --context remote-a version reaches dockerd",
        &run,
    );
    let (run, doc) = probe(&state, &host, &client_dir);
    checks.check(
        run.success
            && doc["ok"] == true
            && doc["matches_installed"] == "yes"
            && doc["ping"] == "OK"
            && doc["server"]["Version"] == version.as_str()
            && doc["certificate"]["sans"]
                .as_array()
                .is_some_and(|s| s.iter().any(|v| v == "127.0.0.1"))
            && doc["tls_version"]
                .as_str()
                .is_some_and(|v| v.starts_with("TLS 1.")),
        "probe: handshake, /_ping, /version, the served certificate is the installed one",
        &run,
    );

    #[rustfmt::skip]
    dockpki(&[&"--state", &state, &"renew", &"--all"]);
    checks.check(
        context_copies_equal(&config, "remote-a", &client_dir),
        "after renew: the context's copies equal the client layout",
        &run,
    );
    let (run, doc) = probe(&state, &host, &client_dir);
    checks.check(
        !run.success
            && run.code == Some(3)
            && doc["matches_installed"] == "drift"
            && run
                .stderr
                .contains("served certificate is not the installed one: restart dockerd"),
        "probe before the restart: served certificate is not the installed one (exit 3, a restart pending)",
        &run,
    );
    drop(dockerd);
    let dockerd = Dockerd::start_on_port(&tools, &tls, port);
    let run = docker_context_version(&dockerd, &config, "remote-a");
    checks.check(
        reached_server(&run, &version),
        "after renew + restart: docker --context remote-a version reaches dockerd",
        &run,
    );
    let (run, doc) = probe(&state, &host, &client_dir);
    checks.check(
        run.success && doc["matches_installed"] == "yes",
        "probe after the restart: the served certificate is the installed one",
        &run,
    );
    drop(dockerd);

    for phase in ["begin", "reissue", "finish"] {
        dockpki(&[&"--state", &state, &"ca", &"rotate", &phase]);
        let dockerd = Dockerd::start_on_port(&tools, &tls, port);
        let run = docker_context_version(&dockerd, &config, "remote-a");
        checks.check(
            reached_server(&run, &version),
            &format!("after rotate {phase} + restart: docker --context remote-a version works"),
            &run,
        );
        checks.check(
            context_copies_equal(&config, "remote-a", &client_dir),
            &format!("after rotate {phase}: the context's copies equal the client layout"),
            &run,
        );
    }
    checks.finish();
}

/// `dockpki probe` names the cause of each failure against real listeners: a daemon whose
/// certificate comes from a CA the client does not trust, a client certificate from another CA
/// (refused by dockerd after a TLS 1.3 handshake, on the first read), a daemon certificate
/// without a SAN for the dialled address, a plain-HTTP listener, and a closed port.
#[test]
fn probe_diagnoses_unknown_ca_refused_client_missing_san_plain_http_and_refusal() {
    let Some(tools) = prerequisites(
        "probe_diagnoses_unknown_ca_refused_client_missing_san_plain_http_and_refusal",
    ) else {
        return;
    };
    let work = workdir();
    let w = work.path();
    let (daemon_dir, client_dir) = bootstrap(w, "state", "main", "ecdsa-p256");
    let (_, other_client) = bootstrap(w, "other-state", "other", "ecdsa-p256");
    let state = w.join("state");
    let mut checks = Checks::default();
    // A daemon that answers wrongly is broken now (exit 4); one that cannot be reached could not
    // be checked (exit 1). Either way the error document says why.
    let failed_with_code = |run: &Run, doc: &serde_json::Value, phrase: &str, code: i32| {
        !run.success
            && run.code == Some(code)
            && doc["exit_code"] == code
            && doc["error"].as_str().is_some_and(|e| e.contains(phrase))
    };
    let failed_with =
        |run: &Run, doc: &serde_json::Value, phrase: &str| failed_with_code(run, doc, phrase, 4);

    let dockerd = Dockerd::start(&tools, &DaemonTls::from_dir(&daemon_dir));
    let host = dockerd.tcp_v4();
    let (run, doc) = probe(&state, &host, &client_dir);
    checks.check(
        run.success,
        "positive control: probe with the right client works",
        &run,
    );

    let (run, doc2) = probe(&state, &host, &other_client);
    checks.check(
        failed_with(&run, &doc2, "unknown CA: the daemon's certificate"),
        "client trusting another CA: unknown CA",
        &run,
    );
    let _ = doc;
    // The right ca.pem, but a certificate and key from the other CA: dockerd refuses it.
    let stranger = cert_path(w.join("stranger"), &client_dir, Some(&other_client));
    let (run, doc) = probe(&state, &host, &stranger);
    checks.check(
        failed_with(&run, &doc, "the daemon refused the client certificate"),
        "client certificate from another CA: refused by the daemon",
        &run,
    );
    let (run, _) = probe(&state, &dockerd.tcp_localhost(), &client_dir);
    checks.check(run.success, "probe by DNS name localhost works", &run);
    if dockerd.ipv6() {
        let (run, doc) = probe(&state, &dockerd.tcp_v6(), &client_dir);
        checks.check(
            run.success
                && doc["address"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("[::1]")),
            "probe of tcp://[::1]:PORT works",
            &run,
        );
    }
    drop(dockerd);

    // A daemon whose certificate names only example.invalid, dialled as 127.0.0.1.
    let sanless = w.join("sanless-daemon");
    #[rustfmt::skip]
    dockpki(&[
        &"--state", &state, &"issue", &"server", &"--san", &"example.invalid",
        &"--out", &sanless,
    ]);
    let dockerd = Dockerd::start(&tools, &DaemonTls::from_dir(&sanless));
    let (run, doc) = probe(&state, &dockerd.tcp_v4(), &client_dir);
    checks.check(
        failed_with(
            &run,
            &doc,
            "does not cover \"127.0.0.1\": its SANs are [example.invalid]",
        ),
        "server certificate without the dialled address: SAN diagnosis",
        &run,
    );
    drop(dockerd);

    // A plain-HTTP listener answering the ClientHello the way an HTTP server does.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut conn, _) = listener.accept().expect("accept");
        let mut buf = [0u8; 512];
        let _ = conn.read(&mut buf);
        let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    });
    let (run, doc) = probe(&state, &format!("tcp://127.0.0.1:{port}"), &client_dir);
    checks.check(
        failed_with(&run, &doc, "plain HTTP"),
        "plain-HTTP listener: recognized",
        &run,
    );
    server.join().expect("plain HTTP listener");

    // Nothing listens any more on the port of the listener just closed.
    let (run, doc) = probe(&state, &format!("tcp://127.0.0.1:{port}"), &client_dir);
    checks.check(
        failed_with_code(&run, &doc, "connection refused", 1),
        "closed port: connection refused",
        &run,
    );
    checks.finish();
}
