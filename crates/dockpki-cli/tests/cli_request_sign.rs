//! `dockpki request` / `sign` / `install`: keys that never travel. The key is made on the host
//! that uses it, only the request and the certificate move, and openssl judges the result.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{
    assert_openssl_accepts, assert_success, assert_unchanged, json, mode, openssl_x509, s,
    snapshot, Env,
};

/// Whether openssl is here: the tests that make requests with it or judge with it need it.
fn openssl() -> bool {
    common::prerequisite(
        Command::new("openssl")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "openssl",
    )
}

/// Every output of a run, for the "no key in any output" check.
fn all_output(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    snapshot(dir)
        .into_iter()
        .filter(|(p, _)| p.is_file())
        .map(|(p, _)| p)
        .collect()
}

/// Asserts that no file under `dir` holds a private key.
fn assert_no_key_under(dir: &Path) {
    assert_no_key_but(dir, &[]);
}

/// Asserts that no file under `dir` but those in `except` holds a private key.
fn assert_no_key_but(dir: &Path, except: &[PathBuf]) {
    for f in files_under(dir).into_iter().filter(|f| !except.contains(f)) {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        assert!(
            !text.contains("PRIVATE KEY"),
            "{} holds a private key",
            f.display()
        );
    }
}

/// `sign CSR --kind server --out OUT` of the server request in `host`.
fn sign_server(env: &Env, host: &Path, out: &Path) -> Output {
    env.ok(&[
        "sign",
        s(&host.join("server.csr")),
        "--kind",
        "server",
        "--out",
        s(out),
    ])
}

/// `request server --san h.example.com --dir ROOT/host`, then [`sign_server`] into
/// `ROOT/signed`: (host, signed).
fn request_and_sign_server(env: &Env) -> (PathBuf, PathBuf) {
    let host = env.path("host");
    env.ok(&[
        "request",
        "server",
        "--san",
        "h.example.com",
        "--dir",
        s(&host),
    ]);
    let signed = env.path("signed");
    sign_server(env, &host, &signed);
    (host, signed)
}

/// `install --from FROM --dir DIR --ca-fingerprint (the state's CA)`, a first install.
fn first_install(env: &Env, from: &Path, dir: &Path) -> Output {
    let fp = common::ca_sha256(env);
    env.ok(&[
        "install",
        "--from",
        s(from),
        "--dir",
        s(dir),
        "--ca-fingerprint",
        &fp,
    ])
}

/// The fleet flow on one machine: `host` is the daemon's (or client's) side, `ca_side` the CA's.
struct Fleet {
    env: Env,
    outputs: Vec<String>,
}

impl Fleet {
    fn new() -> Fleet {
        let env = Env::new();
        env.ca_init(&[]);
        Fleet {
            env,
            outputs: Vec::new(),
        }
    }

    /// Runs dockpki with `args` (and `--state`), requires success, keeps its output.
    fn ok(&mut self, args: &[&str]) -> Output {
        let out = self.env.run(args);
        assert_success(&out);
        self.outputs.push(all_output(&out));
        out
    }

    /// Runs dockpki without `--state` (a host that holds no CA).
    fn ok_on_host(&mut self, args: &[&str]) -> Output {
        let out = self.env.bare().args(args).output().expect("run dockpki");
        assert_success(&out);
        self.outputs.push(all_output(&out));
        out
    }

    fn assert_no_key_in_outputs(&self) {
        for o in &self.outputs {
            assert!(!o.contains("PRIVATE KEY"), "an output shows a key:\n{o}");
        }
    }
}

#[test]
fn server_request_signed_and_installed_verifies_with_openssl_and_the_key_never_leaves_the_host() {
    if !openssl() {
        return;
    }
    let mut f = Fleet::new();
    let host = f.env.path("host/pki");
    let csr = host.join("server.csr");
    let signed = f.env.path("ca-side/signed/web1");
    f.ok_on_host(&[
        "request",
        "server",
        "--san",
        "docker.example.com",
        "--san",
        "192.0.2.10",
        "--dir",
        s(&host),
    ]);
    assert_eq!(mode(&host.join("server-key.pem")) & 0o777, 0o400);
    assert_eq!(mode(&csr) & 0o777, 0o644);
    // The request travels to the CA's side; the key does not.
    let fetched = f.env.path("ca-side/requests/web1.csr");
    std::fs::create_dir_all(fetched.parent().unwrap()).unwrap();
    std::fs::copy(&csr, &fetched).unwrap();
    let out = f.ok(&[
        "--json",
        "sign",
        s(&fetched),
        "--kind",
        "server",
        "--out",
        s(&signed),
    ]);
    let doc = json(&out);
    assert_eq!(doc["kind"], "server");
    assert_eq!(doc["host"], "docker.example.com");
    assert_eq!(
        doc["sans"],
        serde_json::json!(["docker.example.com", "192.0.2.10"])
    );
    let ca_sha256 = doc["signing_ca"]["sha256"].as_str().unwrap().to_string();
    assert_eq!(ca_sha256, common::ca_sha256(&f.env));
    assert_eq!(
        common::names(&signed),
        ["ca.pem", "server-cert.pem"],
        "sign writes the certificate and the bundle, never a key"
    );
    f.ok_on_host(&[
        "install",
        "--from",
        s(&signed),
        "--dir",
        s(&host),
        "--ca-fingerprint",
        &ca_sha256,
    ]);

    assert_openssl_accepts(
        &host.join("ca.pem"),
        &host.join("server-cert.pem"),
        "sslserver",
    );
    let ext = openssl_x509(
        &host.join("server-cert.pem"),
        &["-ext", "extendedKeyUsage,basicConstraints,subjectAltName"],
    );
    assert!(ext.contains("TLS Web Server Authentication"), "{ext}");
    assert!(!ext.contains("Client Authentication"), "{ext}");
    assert!(ext.contains("CA:FALSE"), "{ext}");
    assert!(
        ext.contains("DNS:docker.example.com") && ext.contains("IP Address:192.0.2.10"),
        "{ext}"
    );
    // The certificate is for the key that stayed on the host.
    let pubkey = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        out.stdout
    };
    assert_eq!(
        pubkey(&[
            "x509",
            "-noout",
            "-pubkey",
            "-in",
            s(&host.join("server-cert.pem"))
        ]),
        pubkey(&["pkey", "-pubout", "-in", s(&host.join("server-key.pem"))]),
    );
    assert_no_key_under(&f.env.path("ca-side"));
    // The CA's side holds one key: the CA's own.
    let ca_key = f.env.state().join("ca-key.pem");
    assert!(ca_key.is_file());
    assert_no_key_but(&f.env.state(), &[ca_key]);
    f.assert_no_key_in_outputs();

    // status lists the certificate with its host, and judges it by its dates only.
    let status = json(&f.ok(&["--json", "status"]));
    let cert = &status["certificates"][0];
    assert_eq!(cert["remote_host"], "docker.example.com");
    assert_eq!(cert["state"], "ok");
    assert_eq!(cert["installed"].as_array().unwrap().len(), 0);
}

#[test]
fn client_request_signed_and_installed_verifies_as_a_client_with_openssl() {
    if !openssl() {
        return;
    }
    let mut f = Fleet::new();
    let laptop = f.env.path("laptop/.docker");
    let signed = f.env.path("ca-side/alice");
    f.ok_on_host(&["request", "client", "--name", "alice", "--dir", s(&laptop)]);
    assert_eq!(common::names(&laptop), ["client.csr", "key.pem"]);
    f.ok(&[
        "sign",
        s(&laptop.join("client.csr")),
        "--host",
        "alice-laptop",
        "--out",
        s(&signed),
    ]);
    assert_eq!(common::names(&signed), ["ca.pem", "cert.pem"]);
    let fp = common::ca_sha256(&f.env);
    f.ok_on_host(&[
        "install",
        "--from",
        s(&signed),
        "--dir",
        s(&laptop),
        "--ca-fingerprint",
        &fp,
    ]);
    assert_openssl_accepts(
        &laptop.join("ca.pem"),
        &laptop.join("cert.pem"),
        "sslclient",
    );
    let ext = openssl_x509(
        &laptop.join("cert.pem"),
        &["-ext", "extendedKeyUsage", "-subject"],
    );
    assert!(ext.contains("TLS Web Client Authentication"), "{ext}");
    assert!(!ext.contains("Server Authentication"), "{ext}");
    assert!(
        ext.contains("CN=alice") || ext.contains("CN = alice"),
        "{ext}"
    );
    let inv = common::inventory(&f.env);
    assert_eq!(inv["certificates"][0]["remote"]["host"], "alice-laptop");
    assert!(inv["certificates"][0]["remote"]["csr_pem"]
        .as_str()
        .unwrap()
        .contains("BEGIN CERTIFICATE REQUEST"));
    assert_no_key_under(&f.env.path("ca-side"));
    f.assert_no_key_in_outputs();
}

#[test]
fn a_second_request_in_the_same_directory_is_for_the_same_key_unless_new_key() {
    let env = Env::new();
    let dir = env.path("pki");
    let request = |extra: &[&str]| {
        let mut args = vec![
            "--json",
            "request",
            "server",
            "--san",
            "h.example.com",
            "--dir",
            s(&dir),
        ];
        args.extend_from_slice(extra);
        json(&env.ok(&args))
    };
    assert_eq!(request(&[])["key"]["origin"], "generated");
    let key = std::fs::read(dir.join("server-key.pem")).unwrap();
    assert_eq!(request(&[])["key"]["origin"], "existing");
    assert_eq!(std::fs::read(dir.join("server-key.pem")).unwrap(), key);
    assert_eq!(request(&["--new-key"])["key"]["origin"], "generated");
    assert_ne!(std::fs::read(dir.join("server-key.pem")).unwrap(), key);
    // The replaced key is kept as a backup, private.
    let backups = common::names_with_prefix(&dir, "server-key.pem.bak-");
    assert_eq!(backups.len(), 1, "{:?}", common::names(&dir));
    assert_eq!(mode(&dir.join(&backups[0])) & 0o777, 0o400);
}

#[test]
fn a_request_for_a_key_others_can_read_is_refused_and_new_key_replaces_it() {
    let env = Env::new();
    let dir = env.path("pki");
    env.ok(&["request", "client", "--name", "ci", "--dir", s(&dir)]);
    common::chmod(&dir.join("key.pem"), 0o644);
    let line = env.assert_refused(
        &["request", "client", "--name", "ci", "--dir", s(&dir)],
        "lets group or others read it",
    );
    assert!(line.contains("--new-key"), "{line}");
    env.ok(&[
        "request",
        "client",
        "--name",
        "ci",
        "--dir",
        s(&dir),
        "--new-key",
    ]);
    assert_eq!(mode(&dir.join("key.pem")) & 0o777, 0o400);
}

#[test]
fn a_tampered_request_is_refused_and_nothing_is_written() {
    let env = Env::new();
    env.ca_init(&[]);
    let host = env.path("host");
    env.ok(&["request", "client", "--name", "mallory", "--dir", s(&host)]);
    // Rewrite the name inside the signed part: the signature no longer matches.
    let pem = std::fs::read_to_string(host.join("client.csr")).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut der = base64_decode(&body);
    let at = der.windows(7).position(|w| w == b"mallory").unwrap();
    der[at] = b'M';
    let tampered = env.path("tampered.csr");
    std::fs::write(&tampered, pem_encode("CERTIFICATE REQUEST", &der)).unwrap();
    env.assert_refused(
        &["sign", s(&tampered), "--out", s(&env.path("out"))],
        "signature does not verify",
    );
    // A flipped byte at the end of the signature, too.
    let mut der = base64_decode(&body);
    let last = der.len() - 2;
    der[last] ^= 0x01;
    std::fs::write(&tampered, pem_encode("CERTIFICATE REQUEST", &der)).unwrap();
    env.assert_refused(
        &["sign", s(&tampered), "--out", s(&env.path("out"))],
        "certificate signing request refused",
    );
}

#[test]
fn a_request_for_ca_true_and_code_signing_gets_only_dockpkis_extensions() {
    if !openssl() {
        return;
    }
    let env = Env::new();
    env.ca_init(&[]);
    let key = env.path("evil.key");
    let csr = env.path("evil.csr");
    let out = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args([
            "-keyout",
            s(&key),
            "-out",
            s(&csr),
            "-subj",
            "/CN=evil.example.com",
        ])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args([
            "-addext",
            "extendedKeyUsage=codeSigning,serverAuth,clientAuth",
        ])
        .args(["-addext", "keyUsage=critical,keyCertSign,digitalSignature"])
        .args(["-addext", "subjectAltName=DNS:evil.example.com"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let signed = env.path("signed");
    let out = env.ok(&[
        "--json",
        "sign",
        s(&csr),
        "--kind",
        "server",
        "--out",
        s(&signed),
    ]);
    let doc = json(&out);
    let ignored = doc["ignored"].to_string();
    assert!(
        ignored.contains("CA:TRUE") && ignored.contains("extended key usage"),
        "{ignored}"
    );
    let cert = signed.join("server-cert.pem");
    let ext = openssl_x509(
        &cert,
        &["-ext", "extendedKeyUsage,basicConstraints,keyUsage"],
    );
    assert!(ext.contains("CA:FALSE"), "{ext}");
    assert!(!ext.contains("CA:TRUE"), "{ext}");
    assert!(!ext.contains("Code Signing"), "{ext}");
    assert!(!ext.contains("Client Authentication"), "{ext}");
    assert!(!ext.contains("Certificate Sign"), "{ext}");
    assert!(ext.contains("TLS Web Server Authentication"), "{ext}");
    assert_openssl_accepts(&signed.join("ca.pem"), &cert, "sslserver");
}

#[test]
fn a_san_outside_the_name_constraints_is_refused_and_nothing_is_written() {
    let env = Env::new();
    env.ca_init(&["--permit-dns", "example.com"]);
    let host = env.path("host");
    env.ok(&[
        "request",
        "server",
        "--san",
        "docker.example.org",
        "--dir",
        s(&host),
    ]);
    env.assert_refused(
        &[
            "sign",
            s(&host.join("server.csr")),
            "--kind",
            "server",
            "--out",
            s(&env.path("out")),
        ],
        "docker.example.org",
    );
}

#[test]
fn installing_a_certificate_for_another_key_is_refused_and_nothing_is_written() {
    let env = Env::new();
    env.ca_init(&[]);
    let (web1, web2) = (env.path("web1"), env.path("web2"));
    for dir in [&web1, &web2] {
        env.ok(&[
            "request",
            "server",
            "--san",
            "h.example.com",
            "--dir",
            s(dir),
        ]);
    }
    let signed2 = env.path("signed2");
    env.ok(&[
        "sign",
        s(&web2.join("server.csr")),
        "--kind",
        "server",
        "--out",
        s(&signed2),
    ]);
    let fp = common::ca_sha256(&env);
    env.assert_refused(
        &[
            "install",
            "--from",
            s(&signed2),
            "--dir",
            s(&web1),
            "--ca-fingerprint",
            &fp,
        ],
        "is not for the key",
    );
    // A client certificate into a daemon's layout: refused too (wrong kind for the layout).
    let laptop = env.path("laptop");
    env.ok(&["request", "client", "--name", "bob", "--dir", s(&laptop)]);
    let signed_bob = env.path("signed-bob");
    env.ok(&[
        "sign",
        s(&laptop.join("client.csr")),
        "--out",
        s(&signed_bob),
    ]);
    env.assert_refused(
        &["install", "--from", s(&signed_bob), "--dir", s(&web1)],
        "holds a daemon layout",
    );
}

#[test]
fn installing_a_certificate_that_does_not_chain_to_the_given_ca_pem_is_refused() {
    let env = Env::new();
    env.ca_init(&[]);
    let (host, signed) = request_and_sign_server(&env);
    // Another CA's bundle next to the certificate.
    let other = Env::new();
    other.ca_init(&[]);
    common::chmod(&signed.join("ca.pem"), 0o644);
    std::fs::copy(other.state().join("ca.pem"), signed.join("ca.pem")).unwrap();
    // Even when the operator names that other CA: the certificate is not its.
    let other_fp = common::ca_sha256(&other);
    env.assert_refused(
        &[
            "install",
            "--from",
            s(&signed),
            "--dir",
            s(&host),
            "--ca-fingerprint",
            &other_fp,
        ],
        "does not verify",
    );
}

#[test]
fn installing_without_a_key_in_the_layout_says_to_make_the_request_there_first() {
    let env = Env::new();
    env.ca_init(&[]);
    let (_, signed) = request_and_sign_server(&env);
    std::fs::create_dir_all(env.path("empty")).unwrap();
    let fp = common::ca_sha256(&env);
    let line = env.assert_refused(
        &[
            "install",
            "--from",
            s(&signed),
            "--dir",
            s(&env.path("empty")),
            "--ca-fingerprint",
            &fp,
        ],
        "holds no key",
    );
    assert!(line.contains("request server|client --dir DIR"), "{line}");
}

/// Runs `run` while another process holds a `flock` of `path` (util-linux `flock` on a shell's
/// descriptor, the shell then a sleep keeping it, stopped by its pid once `run` is done).
fn while_flocked(path: &Path, run: impl FnOnce() -> Output) -> Output {
    use std::io::BufRead;
    let mut holder = Command::new("sh")
        .arg("-c")
        .arg("exec 9<\"$0\" && flock 9 && echo held && exec sleep 60")
        .arg(path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run sh");
    let mut line = String::new();
    std::io::BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let out = run();
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(line, "held\n", "the holder did not take the lock");
    out
}

/// An install into a layout another process is working on (holding its lock file, as
/// util-linux `flock` takes it) waits, and past `DOCKPKI_LOCK_TIMEOUT` gives up in one line
/// writing nothing; once the other lets go, it installs. A lock of the directory itself, which
/// anyone who may list it can take, holds no one off.
#[test]
fn an_install_waits_for_another_process_holding_the_layout_and_gives_up_writing_nothing() {
    if !common::prerequisite(
        Command::new("flock")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "flock (util-linux)",
    ) {
        return;
    }
    let env = Env::new();
    env.ca_init(&[]);
    let (host, signed) = request_and_sign_server(&env);
    // The layout's lock file, as a run that changed the layout keeps it (empty, 0600).
    let lock = host.join(common::LAYOUT_LOCK);
    {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&lock)
            .unwrap();
    }
    let before = snapshot(&host);
    let fp = common::ca_sha256(&env);
    let args = [
        "install",
        "--from",
        s(&signed),
        "--dir",
        s(&host),
        "--ca-fingerprint",
        &fp,
    ];
    let out = while_flocked(&lock, || {
        env.cmd()
            .env("DOCKPKI_LOCK_TIMEOUT", "1s")
            .args(args)
            .output()
            .expect("run dockpki")
    });
    // The wait announced once, then one error line.
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            format!(
                "dockpki: waiting up to 1s for another dockpki process working on {} (lock {})",
                s(&host),
                s(&lock)
            ),
            format!(
                "error: gave up after 1s waiting for another dockpki process working on {} (it holds {}); let it finish; or raise DOCKPKI_LOCK_TIMEOUT (e.g. DOCKPKI_LOCK_TIMEOUT=10m)",
                s(&host),
                s(&lock)
            )
        ],
        "{stderr}"
    );
    assert_unchanged(&before, &snapshot(&host), "install gave up");
    // Now a process holding the directory itself (as anyone who may list it could): the
    // install goes ahead at once.
    let out = while_flocked(&host, || {
        env.cmd()
            .env("DOCKPKI_LOCK_TIMEOUT", "0s")
            .args(args)
            .output()
            .expect("run dockpki")
    });
    assert_success(&out);
}

#[test]
fn renew_re_signs_a_remote_hosts_request_into_its_out_directory_with_the_same_key() {
    let env = Env::new();
    env.ca_init(&[]);
    let host = env.path("host");
    env.ok(&[
        "request",
        "server",
        "--san",
        "h.example.com",
        "--dir",
        s(&host),
    ]);
    let signed = env.path("signed");
    env.ok(&[
        "sign",
        s(&host.join("server.csr")),
        "--kind",
        "server",
        "--validity",
        "30d",
        "--out",
        s(&signed),
    ]);
    first_install(&env, &signed, &host);
    let before = std::fs::read(signed.join("server-cert.pem")).unwrap();
    // Nothing due: renew writes nothing and does not look for the remote host's layout.
    let snap = snapshot(env.root());
    let out = env.ok(&["renew"]);
    assert!(out.stdout.is_empty());
    common::assert_unchanged(&snap, &snapshot(env.root()), "renew with nothing due");
    common::age_certificates(&env, "server", 25);
    let doc = json(&env.ok(&["--json", "renew"]));
    assert_eq!(doc["renewed"][0]["deliver"]["host"], "h.example.com");
    assert_eq!(doc["renewed"][0]["key"], "reused");
    assert_eq!(
        doc["restart"].as_array().unwrap().len(),
        0,
        "no local daemon to restart"
    );
    let after = std::fs::read(signed.join("server-cert.pem")).unwrap();
    assert_ne!(
        before, after,
        "a new certificate waits in the out directory"
    );
    // It is for the host's same key: install replaces the old one without --force.
    env.ok(&["install", "--from", s(&signed), "--dir", s(&host)]);
    assert_eq!(std::fs::read(host.join("server-cert.pem")).unwrap(), after);
    let status = json(&env.ok(&["--json", "status"]));
    assert_eq!(
        status["certificates"].as_array().unwrap().len(),
        1,
        "the old one is superseded"
    );
    assert_no_key_under(&signed);
}

/// How many certificates a PEM file holds.
fn pem_count(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap()
        .matches("-----BEGIN CERTIFICATE-----")
        .count()
}

#[test]
fn a_ca_rotation_delivers_bundles_and_re_signed_requests_to_remote_hosts_at_every_phase() {
    if !openssl() {
        return;
    }
    let env = Env::new();
    env.ca_init(&[]);
    let host = env.path("host");
    env.ok(&["request", "client", "--name", "ci", "--dir", s(&host)]);
    let signed = env.path("signed");
    env.ok(&["sign", s(&host.join("client.csr")), "--out", s(&signed)]);
    first_install(&env, &signed, &host);
    // Every phase's delivery is for the host's same key, with a bundle sharing a CA with the
    // installed one: installed without --force.
    let install = || env.ok(&["install", "--from", s(&signed), "--dir", s(&host)]);

    let doc = json(&env.ok(&["--json", "ca", "rotate", "begin"]));
    assert_eq!(doc["deliver"][0]["host"], "ci");
    assert_eq!(
        pem_count(&signed.join("ca.pem")),
        2,
        "old + new CA to deliver"
    );
    install();
    assert_eq!(pem_count(&host.join("ca.pem")), 2);

    let doc = json(&env.ok(&["--json", "ca", "rotate", "reissue"]));
    assert_eq!(doc["deliver"][0]["host"], "ci");
    assert_eq!(doc["reissued"], 1);
    install();

    let doc = json(&env.ok(&["--json", "ca", "rotate", "finish"]));
    assert_eq!(doc["deliver"][0]["host"], "ci");
    assert_eq!(pem_count(&signed.join("ca.pem")), 1, "the new CA alone");
    install();
    assert_eq!(
        std::fs::read(host.join("ca.pem")).unwrap(),
        std::fs::read(env.state().join("ca.pem")).unwrap()
    );
    // The host's certificate, for its own unchanged key, comes from the new CA.
    assert_openssl_accepts(
        &env.state().join("ca.pem"),
        &host.join("cert.pem"),
        "sslclient",
    );
    assert_no_key_under(&signed);
}

#[test]
fn an_aborted_rotation_gives_remote_hosts_the_old_ca_back() {
    let env = Env::new();
    env.ca_init(&[]);
    let (host, signed) = request_and_sign_server(&env);
    let old_ca = std::fs::read(env.state().join("ca.pem")).unwrap();
    let old_fp = common::ca_sha256(&env);
    env.ok(&["ca", "rotate", "begin"]);
    env.ok(&["ca", "rotate", "reissue"]);
    let doc = json(&env.ok(&["--json", "ca", "rotate", "abort"]));
    assert_eq!(doc["deliver"][0]["host"], "h.example.com");
    assert_eq!(std::fs::read(signed.join("ca.pem")).unwrap(), old_ca);
    // The certificate to deliver is the old CA's again, for the same key.
    env.ok(&[
        "install",
        "--from",
        s(&signed),
        "--dir",
        s(&host),
        "--ca-fingerprint",
        &old_fp,
    ]);
}

fn base64_decode(text: &str) -> Vec<u8> {
    let out = Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(text.as_bytes())?;
            c.wait_with_output()
        })
        .expect("base64 -d");
    assert!(out.status.success());
    out.stdout
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let out = Command::new("base64")
        .arg("-w64")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(der)?;
            c.wait_with_output()
        })
        .expect("base64");
    format!(
        "-----BEGIN {label}-----\n{}-----END {label}-----\n",
        String::from_utf8(out.stdout).unwrap()
    )
}

/// `install` killed before each of its renames (certificate, bundle): the next `install` (or
/// `request`) in the layout completes it from `LAYOUT/.dockpki-journal`, so the layout never
/// keeps a new certificate with an old bundle.
#[test]
fn an_install_killed_before_each_rename_is_completed_by_the_next_command_in_the_layout() {
    use std::os::unix::process::ExitStatusExt;
    if !common::fault_injection() {
        return;
    }
    for abort_before in 0..2 {
        let env = Env::new();
        env.ca_init(&[]);
        let host = env.path("host");
        env.ok(&[
            "request",
            "server",
            "--san",
            "h.example.com",
            "--dir",
            s(&host),
        ]);
        let signed = env.path("signed");
        sign_server(&env, &host, &signed);
        let fp = common::ca_sha256(&env);
        let out = env
            .cmd()
            .args(["install", "--from", s(&signed), "--dir", s(&host)])
            .args(["--ca-fingerprint", &fp])
            .env("DOCKPKI_TEST_ABORT_AFTER_MOVES", abort_before.to_string())
            .output()
            .unwrap();
        assert_eq!(out.status.signal(), Some(6), "aborted: {out:?}");
        assert!(
            host.join(".dockpki-journal").exists(),
            "the journal outlives the crash"
        );
        // The next command in the layout completes the update before its own work.
        env.ok(&[
            "request",
            "server",
            "--san",
            "h.example.com",
            "--dir",
            s(&host),
        ]);
        assert!(!host.join(".dockpki-journal").exists());
        for name in ["server-cert.pem", "ca.pem"] {
            assert_eq!(
                std::fs::read(host.join(name)).unwrap(),
                std::fs::read(signed.join(name)).unwrap(),
                "{name} after recovery (abort before move {abort_before})"
            );
        }
        let leftovers: Vec<String> = common::names(&host)
            .into_iter()
            .filter(|n| n.starts_with('.') && n != common::LAYOUT_LOCK)
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

/// A daemon layout with a server request for `h.example.com`, signed into `signed`.
fn requested_and_signed(env: &Env, host: &Path, signed: &Path) {
    env.ok(&[
        "request",
        "server",
        "--san",
        "h.example.com",
        "--dir",
        s(host),
    ]);
    sign_server(env, host, signed);
}

#[test]
fn install_from_a_directory_others_can_write_is_refused_and_nothing_is_written() {
    let env = Env::new();
    env.ca_init(&[]);
    let (host, signed) = (env.path("host"), env.path("signed"));
    requested_and_signed(&env, &host, &signed);
    common::chmod(&signed, 0o777);
    let fp = common::ca_sha256(&env);
    let line = env.assert_refused(
        &[
            "install",
            "--from",
            s(&signed),
            "--dir",
            s(&host),
            "--ca-fingerprint",
            &fp,
        ],
        "root-owned 0700 directory",
    );
    assert!(line.contains(s(&signed)), "{line}");
    // A symlink in place of the delivered certificate is not followed either.
    common::chmod(&signed, 0o700);
    let real = env.path("elsewhere.pem");
    std::fs::rename(signed.join("server-cert.pem"), &real).unwrap();
    std::os::unix::fs::symlink(&real, signed.join("server-cert.pem")).unwrap();
    env.assert_refused(
        &[
            "install",
            "--from",
            s(&signed),
            "--dir",
            s(&host),
            "--ca-fingerprint",
            &fp,
        ],
        "symlink",
    );
}

#[test]
fn a_first_install_needs_the_cas_fingerprint_and_refuses_a_bundle_without_that_ca() {
    let env = Env::new();
    env.ca_init(&[]);
    let (host, signed) = (env.path("host"), env.path("signed"));
    requested_and_signed(&env, &host, &signed);
    let line = env.assert_refused(
        &["install", "--from", s(&signed), "--dir", s(&host)],
        "--ca-fingerprint",
    );
    assert!(line.contains("dockpki status"), "{line}");
    // Another CA's fingerprint: the delivered files are not from it.
    let other = Env::new();
    other.ca_init(&[]);
    let other_fp = common::ca_sha256(&other);
    env.assert_refused(
        &[
            "install",
            "--from",
            s(&signed),
            "--dir",
            s(&host),
            "--ca-fingerprint",
            &other_fp,
        ],
        "does not hold the CA",
    );
    // The right one, in another spelling (lower case, no colons), installs.
    let fp = common::ca_sha256(&env).replace(':', "").to_lowercase();
    env.ok(&[
        "install",
        "--from",
        s(&signed),
        "--dir",
        s(&host),
        "--ca-fingerprint",
        &fp,
    ]);
}

#[test]
fn install_of_a_bundle_sharing_no_ca_with_the_layouts_ca_pem_is_refused() {
    let env = Env::new();
    env.ca_init(&[]);
    let (host, signed) = (env.path("host"), env.path("signed"));
    requested_and_signed(&env, &host, &signed);
    first_install(&env, &signed, &host);
    // Another CA signs the same host's request: its bundle has nothing the layout trusts.
    let other = Env::new();
    other.ca_init(&[]);
    let signed_other = env.path("signed-other");
    sign_server(&other, &host, &signed_other);
    let line = env.assert_refused(
        &[
            "install",
            "--from",
            s(&signed_other),
            "--dir",
            s(&host),
            "--force",
        ],
        "shares no CA certificate",
    );
    assert!(line.contains(s(&host.join("ca.pem"))), "{line}");
}

#[test]
fn install_refuses_a_key_group_or_others_can_read() {
    let env = Env::new();
    env.ca_init(&[]);
    let (host, signed) = (env.path("host"), env.path("signed"));
    requested_and_signed(&env, &host, &signed);
    common::chmod(&host.join("server-key.pem"), 0o644);
    let fp = common::ca_sha256(&env);
    let line = env.assert_refused(
        &[
            "install",
            "--from",
            s(&signed),
            "--dir",
            s(&host),
            "--ca-fingerprint",
            &fp,
        ],
        "lets group or others read it",
    );
    assert!(line.contains("install a certificate for"), "{line}");
}

#[test]
fn a_server_request_signed_without_kind_server_is_refused_naming_the_flag() {
    let env = Env::new();
    env.ca_init(&[]);
    let host = env.path("host");
    env.ok(&[
        "request",
        "server",
        "--san",
        "h.example.com",
        "--dir",
        s(&host),
    ]);
    let out = env.path("out");
    env.assert_refused(
        &["sign", s(&host.join("server.csr")), "--out", s(&out)],
        "--kind server",
    );
    assert!(!out.exists());
    // The request's own hint says --kind server.
    let said = env.ok(&[
        "request",
        "server",
        "--san",
        "h.example.com",
        "--dir",
        s(&host),
    ]);
    assert!(
        String::from_utf8_lossy(&said.stdout).contains("--kind server"),
        "{said:?}"
    );
}

#[test]
fn a_request_with_sans_but_no_usage_is_signed_as_a_client_without_its_sans() {
    if !openssl() {
        return;
    }
    let env = Env::new();
    env.ca_init(&[]);
    let (key, csr) = (env.path("k.pem"), env.path("alice.csr"));
    let out = Command::new("openssl")
        .args(["req", "-new", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-nodes", "-keyout", s(&key)])
        .args(["-out", s(&csr), "-subj", "/CN=alice"])
        .args(["-addext", "subjectAltName=DNS:evil.example.com"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let signed = env.path("signed");
    let doc = json(&env.ok(&["--json", "sign", s(&csr), "--out", s(&signed)]));
    assert_eq!(doc["kind"], "client");
    assert_eq!(doc["sans"], serde_json::json!([]));
    let ignored = doc["ignored"].to_string();
    assert!(ignored.contains(r#"SAN \"evil.example.com\""#), "{ignored}");
    let text = openssl_x509(&signed.join("cert.pem"), &["-ext", "subjectAltName"]);
    assert!(!text.contains("evil.example.com"), "{text}");
}

#[test]
fn sign_names_every_san_quoted_in_its_summary_line() {
    let env = Env::new();
    env.ca_init(&[]);
    let host = env.path("host");
    env.ok(&[
        "request",
        "server",
        "--san",
        "a.example.com",
        "--san",
        "192.0.2.7",
        "--dir",
        s(&host),
    ]);
    let out = sign_server(&env, &host, &env.path("signed"));
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        line.contains(r#"SANs "a.example.com", "192.0.2.7""#),
        "{line}"
    );
    assert!(line.contains("--ca-fingerprint "), "{line}");
}

#[test]
fn renew_leaves_a_delivery_dir_others_can_write_alone_and_the_old_certificate_stays_active() {
    let env = Env::new();
    env.ca_init(&[]);
    let (host, signed) = (env.path("host"), env.path("signed"));
    env.ok(&[
        "request",
        "server",
        "--san",
        "h.example.com",
        "--dir",
        s(&host),
    ]);
    env.ok(&[
        "sign",
        s(&host.join("server.csr")),
        "--kind",
        "server",
        "--validity",
        "30d",
        "--out",
        s(&signed),
    ]);
    let serial = json(&env.ok(&["--json", "status"]))["certificates"][0]["serial"].clone();
    let before = std::fs::read(signed.join("server-cert.pem")).unwrap();
    common::age_certificates(&env, "server", 25);
    common::chmod(&signed, 0o777);
    let out = env.run(&["renew"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = all_output(&out);
    assert!(!text.contains("written to"), "{text}");
    assert!(!text.contains("renewed"), "{text}");
    assert!(
        text.contains(&format!("left {} as it was", signed.display())),
        "{text}"
    );
    assert_eq!(
        std::fs::read(signed.join("server-cert.pem")).unwrap(),
        before
    );
    // status judges it due (not ok): its exit code says so, its document lists it.
    let status = json(&env.run(&["--json", "status"]));
    let certs = status["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 1, "{certs:?}");
    assert_ne!(certs[0]["state"], "ok", "{certs:?}");
    assert_eq!(
        certs[0]["serial"], serial,
        "the old certificate is still the active one"
    );
    // Once the directory is put right, the next renew delivers.
    common::chmod(&signed, 0o755);
    let doc = json(&env.ok(&["--json", "renew"]));
    assert_eq!(doc["renewed"][0]["deliver"]["host"], "h.example.com");
    assert_ne!(
        std::fs::read(signed.join("server-cert.pem")).unwrap(),
        before
    );
}

#[test]
fn sign_refuses_an_out_of_another_host_or_in_the_state_or_a_recorded_layout() {
    let env = Env::new();
    env.ca_init(&[]);
    let (web1, web2) = (env.path("web1"), env.path("web2"));
    for (dir, name) in [(&web1, "web1.example.com"), (&web2, "web2.example.com")] {
        env.ok(&["request", "server", "--san", name, "--dir", s(dir)]);
    }
    let shared = env.path("signed");
    sign_server(&env, &web1, &shared);
    env.assert_refused(
        &[
            "sign",
            s(&web2.join("server.csr")),
            "--kind",
            "server",
            "--out",
            s(&shared),
            "--force",
        ],
        "delivers the server certificate of host \"web1.example.com\"",
    );
    env.assert_refused(
        &[
            "sign",
            s(&web2.join("server.csr")),
            "--kind",
            "server",
            "--out",
            s(&env.state().join("out")),
        ],
        "inside the state directory",
    );
    let alice = env.path("alice");
    env.ok(&["issue", "client", "--name", "alice", "--out", s(&alice)]);
    env.assert_refused(
        &[
            "sign",
            s(&web2.join("server.csr")),
            "--kind",
            "server",
            "--out",
            s(&alice.join("web2")),
        ],
        "inside the layout",
    );
}

#[test]
fn a_host_label_held_for_another_key_is_refused_unless_replace() {
    let env = Env::new();
    env.ca_init(&[]);
    let (web1, web2) = (env.path("web1"), env.path("web2"));
    for dir in [&web1, &web2] {
        env.ok(&[
            "request",
            "server",
            "--san",
            "h.example.com",
            "--dir",
            s(dir),
        ]);
    }
    sign_server(&env, &web1, &env.path("s1"));
    let csr2 = web2.join("server.csr");
    let sign2 = |out: &str, extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = ["sign", s(&csr2), "--kind", "server", "--out"]
            .iter()
            .map(|a| a.to_string())
            .collect();
        args.push(s(&env.path(out)).to_string());
        args.extend(extra.iter().map(|a| a.to_string()));
        args
    };
    let line = env.assert_refused(&sign2("s2", &[]), "for another key");
    assert!(
        line.contains("--replace") && line.contains("--host"),
        "{line}"
    );
    // Its own label: both hosts keep a certificate.
    env.ok(&sign2("s2", &["--host", "web2"]));
    let status = json(&env.ok(&["--json", "status"]));
    assert_eq!(status["certificates"].as_array().unwrap().len(), 2);
    // The same key signed again under its label needs no --replace.
    sign_server(&env, &web1, &env.path("s1b"));
    // --replace hands the label over: the old certificate is superseded.
    env.ok(&sign2("s3", &["--replace"]));
    let status = json(&env.ok(&["--json", "status"]));
    let hosts: Vec<String> = status["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["remote_host"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(hosts.len(), 2, "{hosts:?}");
    assert!(hosts.contains(&"web2".to_string()), "{hosts:?}");
}

#[test]
fn issue_into_a_layout_with_an_unfinished_install_is_refused() {
    let env = Env::new();
    env.ca_init(&[]);
    let dir = env.path("laptop");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(".dockpki-journal"), "{}").unwrap();
    let line = env.assert_refused(
        &["issue", "client", "--name", "bob", "--out", s(&dir)],
        "unfinished update",
    );
    assert!(line.contains("dockpki install"), "{line}");
}

/// `request server --san h.example.com [--san extra]... --dir HOST` on the host, as `--json`.
fn request_json(env: &Env, host: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["--json", "request", "server", "--san", "h.example.com"];
    for san in extra {
        args.extend(["--san", san]);
    }
    args.extend(["--dir", s(host)]);
    json(&env.ok(&args))
}

/// `--json sign HOST/server.csr --kind server --out OUT` with `more` arguments.
fn sign_json(env: &Env, host: &Path, out: &Path, more: &[&str]) -> serde_json::Value {
    let csr = host.join("server.csr");
    let mut args = vec![
        "--json",
        "sign",
        s(&csr),
        "--kind",
        "server",
        "--out",
        s(out),
    ];
    args.extend(more);
    json(&env.ok(&args))
}

/// `--json install --from FROM --dir DIR` (no --force).
fn install_json(env: &Env, from: &Path, dir: &Path) -> serde_json::Value {
    json(&env.ok(&["--json", "install", "--from", s(from), "--dir", s(dir)]))
}

#[test]
fn a_second_identical_request_sign_and_install_run_writes_nothing_and_reports_changed_false() {
    let env = Env::new();
    env.ca_init(&[]);
    let (host, signed) = (env.path("host"), env.path("signed"));
    let first = request_json(&env, &host, &["192.0.2.10"]);
    assert_eq!(first["changed"], true);
    let first_sign = sign_json(&env, &host, &signed, &["--validity", "30d"]);
    assert_eq!(
        (&first_sign["changed"], &first_sign["signed"]),
        (&true.into(), &true.into())
    );
    first_install(&env, &signed, &host);

    let before = snapshot(env.root());
    // The same SANs in another order; another --validity alone signs nothing new.
    let mut args = vec!["--json", "request", "server", "--san", "192.0.2.10"];
    args.extend(["--san", "h.example.com", "--dir", s(&host)]);
    let again = json(&env.ok(&args));
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(again["key"]["origin"], "existing");
    let sign_again = sign_json(&env, &host, &signed, &["--validity", "60d"]);
    assert_eq!(sign_again["changed"], false, "{sign_again}");
    assert_eq!(sign_again["signed"], false);
    assert_eq!(
        sign_again["certificate"]["serial"],
        first_sign["certificate"]["serial"]
    );
    let install_again = install_json(&env, &signed, &host);
    assert_eq!(install_again["changed"], false, "{install_again}");
    assert_unchanged(&before, &snapshot(env.root()), "a second identical run");

    // The text lines say so.
    let out = env.ok(&[
        "request",
        "server",
        "--san",
        "h.example.com",
        "--san",
        "192.0.2.10",
        "--dir",
        s(&host),
    ]);
    assert!(
        common::stdout(&out).starts_with("already there: server request"),
        "{out:?}"
    );
    let out = env.ok(&[
        "sign",
        s(&host.join("server.csr")),
        "--kind",
        "server",
        "--out",
        s(&signed),
    ]);
    let line = common::stdout(&out);
    assert!(
        line.starts_with("already signed: server certificate"),
        "{line}"
    );
    assert!(
        line.contains(&format!("{} up to date", signed.display())),
        "{line}"
    );
    assert_unchanged(&before, &snapshot(env.root()), "the text runs");
}

#[test]
fn a_new_san_a_due_certificate_resign_and_a_rotation_still_sign_and_install_without_force() {
    if !openssl() {
        return;
    }
    let env = Env::new();
    env.ca_init(&[]);
    let (host, signed) = (env.path("host"), env.path("signed"));
    request_json(&env, &host, &[]);
    let first = sign_json(&env, &host, &signed, &["--validity", "30d"]);
    first_install(&env, &signed, &host);
    let serial =
        |doc: &serde_json::Value| doc["certificate"]["serial"].as_str().unwrap().to_string();

    // A SAN added on the host: a new request, then a new certificate, installed without --force
    // (the old one kept as a backup).
    assert_eq!(request_json(&env, &host, &["192.0.2.20"])["changed"], true);
    let widened = sign_json(&env, &host, &signed, &["--validity", "30d"]);
    assert_eq!(widened["signed"], true);
    assert_ne!(serial(&widened), serial(&first));
    assert!(widened["sans"]
        .as_array()
        .unwrap()
        .contains(&"192.0.2.20".into()));
    let installed = install_json(&env, &signed, &host);
    assert_eq!(installed["changed"], true);
    let cert = installed["written"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["path"] == s(&host.join("server-cert.pem")))
        .unwrap()
        .clone();
    assert!(
        Path::new(cert["backup"].as_str().unwrap()).is_file(),
        "{cert}"
    );
    assert!(
        common::openssl_x509(&host.join("server-cert.pem"), &["-ext", "subjectAltName"])
            .contains("192.0.2.20")
    );

    // Due (25 of 30 days gone): signed anew.
    common::age_certificates(&env, "server", 25);
    let due = sign_json(&env, &host, &signed, &["--validity", "30d"]);
    assert_eq!(due["signed"], true);
    assert_ne!(serial(&due), serial(&widened));
    // --resign: signed anew although nothing asks for it.
    let resigned = sign_json(&env, &host, &signed, &["--resign"]);
    assert_eq!(resigned["signed"], true);
    assert_ne!(serial(&resigned), serial(&due));
    assert_eq!(install_json(&env, &signed, &host)["changed"], true);

    // A rotation begun: signing again keeps the host's certificate from the CA being retired
    // (every layout trusts both CAs until the rotation finishes), and the bundle of both CAs
    // installs without --force.
    env.ok(&["ca", "rotate", "begin"]);
    let kept = sign_json(&env, &host, &signed, &[]);
    assert_eq!(kept["signed"], false, "{kept}");
    assert_eq!(serial(&kept), serial(&resigned));
    assert_eq!(install_json(&env, &signed, &host)["changed"], true);
    common::assert_openssl_accepts(
        &host.join("ca.pem"),
        &host.join("server-cert.pem"),
        "sslserver",
    );
    assert_eq!(
        std::fs::read_to_string(host.join("ca.pem"))
            .unwrap()
            .matches("BEGIN CERTIFICATE")
            .count(),
        2
    );
    // --resign: the new CA signs, and the host installs it without --force.
    let rotated = sign_json(&env, &host, &signed, &["--resign"]);
    assert_eq!(rotated["signed"], true);
    let next = json(&env.ok(&["--json", "inspect", s(&env.state().join("ca-next.pem"))]));
    assert_eq!(
        rotated["signing_ca"]["sha256"],
        next["files"][0]["certificates"][0]["sha256"]
    );
    assert_eq!(install_json(&env, &signed, &host)["changed"], true);
    assert_eq!(sign_json(&env, &host, &signed, &[])["changed"], false);
}

#[test]
fn install_refuses_to_replace_a_certificate_for_another_key_without_force() {
    let env = Env::new();
    env.ca_init(&[]);
    let (host, signed) = (env.path("host"), env.path("signed"));
    requested_and_signed(&env, &host, &signed);
    first_install(&env, &signed, &host);
    // A new key on the host: the installed certificate is for the old one.
    env.ok(&[
        "request",
        "server",
        "--san",
        "h.example.com",
        "--new-key",
        "--dir",
        s(&host),
    ]);
    env.ok(&[
        "sign",
        s(&host.join("server.csr")),
        "--kind",
        "server",
        "--replace",
        "--out",
        s(&signed),
    ]);
    env.assert_refused(
        &["install", "--from", s(&signed), "--dir", s(&host)],
        "already exists",
    );
    let doc = json(&env.ok(&[
        "--json",
        "install",
        "--from",
        s(&signed),
        "--dir",
        s(&host),
        "--force",
    ]));
    assert_eq!(doc["changed"], true);
}

/// A copy of the delivery directory `signed` as it is now, in `to` (0700, regular files): what a
/// fleet tool keeps and might copy to the host again later.
fn keep_delivery(signed: &Path, to: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
    for entry in std::fs::read_dir(signed).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
    to.to_path_buf()
}

/// Every certificate file under `dir` whose name holds `stem` but is not `stem` itself: the
/// timestamped backups install keeps.
fn backups_of(dir: &Path, stem: &str) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with(stem) && name != stem
        })
        .count()
}

#[test]
fn a_rotations_deliveries_install_in_order_and_an_earlier_one_replayed_is_refused_unless_force() {
    if !openssl() {
        return;
    }
    let env = Env::new();
    env.ca_init(&[]);
    let (host, signed) = (env.path("host"), env.path("signed"));
    requested_and_signed(&env, &host, &signed);
    first_install(&env, &signed, &host);
    // Dates have a resolution of one second: the new CA and the re-issued certificate must be
    // later than the old ones, as they are outside a test.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let cert = host.join("server-cert.pem");
    let ca = host.join("ca.pem");
    let install =
        |from: &Path| env.ok(&["--json", "install", "--from", s(from), "--dir", s(&host)]);
    let refused = |from: &Path, phrase: &str| {
        let line = env.assert_refused(&["install", "--from", s(from), "--dir", s(&host)], phrase);
        assert!(
            line.contains("; deliver the newest files from the CA's host (what its last `dockpki sign`, `renew` or `ca rotate` wrote into this host's --out), or pass --force to install these anyway"),
            "{line}"
        );
        // The installed files still verify (openssl judging).
        assert_openssl_accepts(&ca, &cert, "sslserver");
        line
    };

    // begin: the installed certificate with the old+new bundle.
    env.ok(&["ca", "rotate", "begin"]);
    let begun = keep_delivery(&signed, &env.path("begun"));
    assert_eq!(json(&install(&begun))["changed"], true);
    assert_eq!(pem_count(&ca), 2);

    // reissue: the new CA's certificate with the old+new bundle.
    env.ok(&["ca", "rotate", "reissue"]);
    let reissued = keep_delivery(&signed, &env.path("reissued"));
    assert_eq!(json(&install(&reissued))["changed"], true);
    // begin's delivery again: its certificate (the old CA's) is older than the installed one.
    let line = refused(
        &begun,
        "is older than the certificate for the same key installed in",
    );
    let old_serial = openssl_x509(&begun.join("server-cert.pem"), &["-serial"]);
    let new_serial = openssl_x509(&cert, &["-serial"]);
    for serial in [&old_serial, &new_serial] {
        let hex = serial.trim().trim_start_matches("serial=").to_lowercase();
        assert!(line.to_lowercase().contains(&hex), "{line} names {hex}");
    }

    // finish: that certificate with the new CA alone.
    env.ok(&["ca", "rotate", "finish"]);
    let finished = keep_delivery(&signed, &env.path("finished"));
    assert_eq!(json(&install(&finished))["changed"], true);
    assert_eq!(pem_count(&ca), 1);
    assert_eq!(
        std::fs::read(&ca).unwrap(),
        std::fs::read(env.state().join("ca.pem")).unwrap()
    );
    // Each earlier phase's delivery again: begin's has an older certificate; reissue's has the
    // installed certificate but puts back the CA the rotation retired.
    refused(
        &begun,
        "is older than the certificate for the same key installed in",
    );
    refused(&reissued, "which was made before the newest CA it trusts");
    // finish's again: nothing to do.
    let again = json(&install(&finished));
    assert_eq!(again["changed"], false, "{again}");

    // With --force the older delivery is put back, the replaced files kept as backups.
    let (certs_before, cas_before) = (
        backups_of(&host, "server-cert.pem"),
        backups_of(&host, "ca.pem"),
    );
    let forced = |from: &Path| {
        json(&env.ok(&[
            "--json",
            "install",
            "--from",
            s(from),
            "--dir",
            s(&host),
            "--force",
        ]))
    };
    assert_eq!(forced(&reissued)["changed"], true);
    assert_eq!(pem_count(&ca), 2);
    assert_eq!(backups_of(&host, "ca.pem"), cas_before + 1);
    assert_eq!(forced(&begun)["changed"], true);
    assert_eq!(backups_of(&host, "server-cert.pem"), certs_before + 1);
    assert_eq!(
        std::fs::read(&cert).unwrap(),
        std::fs::read(begun.join("server-cert.pem")).unwrap()
    );
}

#[test]
fn an_older_delivery_replayed_over_an_interrupted_install_of_a_newer_one_is_refused() {
    use std::os::unix::process::ExitStatusExt;
    if !common::fault_injection() {
        return;
    }
    let env = Env::new();
    env.ca_init(&[]);
    let (host, signed) = (env.path("host"), env.path("signed"));
    requested_and_signed(&env, &host, &signed);
    first_install(&env, &signed, &host);
    let first = keep_delivery(&signed, &env.path("first"));
    // A later notBefore (dates have a resolution of one second).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.ok(&[
        "sign",
        s(&host.join("server.csr")),
        "--kind",
        "server",
        "--resign",
        "--out",
        s(&signed),
    ]);
    let out = env
        .cmd()
        .args(["install", "--from", s(&signed), "--dir", s(&host)])
        .env("DOCKPKI_TEST_ABORT_AFTER_MOVES", "0")
        .output()
        .unwrap();
    assert_eq!(out.status.signal(), Some(6), "aborted: {out:?}");
    assert_eq!(
        std::fs::read(host.join("server-cert.pem")).unwrap(),
        std::fs::read(first.join("server-cert.pem")).unwrap(),
        "killed before its renames, the layout still holds the first certificate"
    );
    // The replay is judged against what the interrupted install completes, not what it left.
    let out = env
        .cmd()
        .args(["install", "--from", s(&first), "--dir", s(&host)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].contains("completed an interrupted update"),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with("error: ")
            && lines[1].contains("is older than the certificate for the same key"),
        "{stderr}"
    );
    assert!(!host.join(".dockpki-journal").exists());
    assert_eq!(
        std::fs::read(host.join("server-cert.pem")).unwrap(),
        std::fs::read(signed.join("server-cert.pem")).unwrap()
    );
}
