//! `dockpki export pkcs12`: a client certificate, its key and the CA certificates as one
//! PKCS#12 file, encrypted as OpenSSL 3 does by default (PBES2: PBKDF2-HMAC-SHA256 and
//! AES-256-CBC; an HMAC-SHA256 MAC), never in a legacy scheme. `openssl pkcs12` (without
//! `-legacy`) and Java's `keytool` are the outside judges.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{mode, names_with_prefix, read, s, Env};

const PASSPHRASE: &str = "export passphrase";

/// An environment with a CA, alice's client layout in `root/alice`, and the export passphrase
/// in `root/pass` (with a trailing newline, as `echo` writes it).
fn with_alice() -> (Env, PathBuf) {
    let env = Env::new();
    env.ca_init(&[]);
    env.issue_client("alice", &env.path("alice"), &[]);
    let pass = env.path("pass");
    common::write_secret(&pass, format!("{PASSPHRASE}\n"));
    (env, pass)
}

fn export<'a>(name: &'a str, out: &'a Path, pass: &'a Path) -> Vec<&'a str> {
    vec![
        "export",
        "pkcs12",
        "--name",
        name,
        "--out",
        s(out),
        "--export-passphrase-file",
        s(pass),
    ]
}

fn openssl(args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl")
}

fn passin(pass: &Path) -> String {
    format!("file:{}", s(pass))
}

/// The SHA-256 of a public key in PEM, as `openssl pkey -pubout` writes it.
fn public_key_of(pem_in: &[u8], is_cert: bool) -> Vec<u8> {
    use std::io::Write;
    use std::process::Stdio;
    let args: &[&str] = if is_cert {
        &["x509", "-pubkey", "-noout"]
    } else {
        &["pkey", "-pubout"]
    };
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(pem_in).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
    out.stdout
}

#[test]
fn export_pkcs12_is_aes_256_with_pbkdf2_and_a_sha256_mac_that_openssl_reads_without_legacy() {
    let (env, pass) = with_alice();
    let out = env.path("alice.p12");
    env.ok(&export("alice", &out, &pass));
    assert_eq!(mode(&out), 0o600);
    let info = openssl(&[
        "pkcs12",
        "-in",
        s(&out),
        "-info",
        "-noout",
        "-passin",
        &passin(&pass),
    ]);
    assert!(info.status.success(), "{info:?}");
    let shown = String::from_utf8_lossy(&[info.stdout, info.stderr].concat()).into_owned();
    assert!(shown.contains("MAC: sha256"), "{shown}");
    assert!(
        shown.contains("Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC")
            && shown.contains("PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC"),
        "{shown}"
    );
    assert!(shown.contains("PRF hmacWithSHA256"), "{shown}");
    for legacy in ["RC2", "3DES", "DES-EDE", "pbeWithSHA1", "sha1"] {
        assert!(!shown.contains(legacy), "{legacy} in: {shown}");
    }
}

#[test]
fn the_exported_key_is_the_certificates_and_the_ca_certificate_comes_with_it() {
    let (env, pass) = with_alice();
    let out = env.path("alice.p12");
    env.ok(&export("alice", &out, &pass));
    let key = openssl(&[
        "pkcs12",
        "-in",
        s(&out),
        "-nocerts",
        "-nodes",
        "-passin",
        &passin(&pass),
    ]);
    assert!(key.status.success(), "{key:?}");
    assert_eq!(
        public_key_of(&key.stdout, false),
        public_key_of(&read(&env.path("alice/cert.pem")), true),
        "the key in the bundle is not the certificate's"
    );
    let certs = openssl(&[
        "pkcs12",
        "-in",
        s(&out),
        "-nokeys",
        "-passin",
        &passin(&pass),
    ]);
    let pem = String::from_utf8_lossy(&certs.stdout).into_owned();
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 2, "{pem}");
    assert!(pem.contains("friendlyName: alice"), "{pem}");
    // The CA certificate is the layout's ca.pem.
    let ca = String::from_utf8(read(&env.path("alice/ca.pem"))).unwrap();
    let body = |p: &str| -> String { p.lines().filter(|l| !l.starts_with("-----")).collect() };
    assert!(
        body(&pem).contains(&body(&ca)),
        "the CA certificate is missing"
    );
}

#[test]
fn a_wrong_passphrase_does_not_open_the_export() {
    let (env, pass) = with_alice();
    let out = env.path("alice.p12");
    env.ok(&export("alice", &out, &pass));
    let wrong = openssl(&["pkcs12", "-in", s(&out), "-noout", "-passin", "pass:wrong"]);
    assert!(!wrong.status.success(), "{wrong:?}");
    let none = openssl(&["pkcs12", "-in", s(&out), "-noout", "-passin", "pass:"]);
    assert!(
        !none.status.success(),
        "opens with an empty password: {none:?}"
    );
}

/// Java's own PKCS#12 implementation, independent of OpenSSL: one key entry named after the
/// client, with its chain of two certificates.
#[test]
fn java_keytool_reads_the_export_as_a_key_entry_with_its_chain() {
    let (env, pass) = with_alice();
    let out = env.path("alice.p12");
    env.ok(&export("alice", &out, &pass));
    let listed = Command::new("keytool")
        .args(["-list", "-v", "-storetype", "PKCS12", "-keystore", s(&out)])
        .args(["-storepass", PASSPHRASE])
        .output();
    let Ok(listed) = listed else {
        common::prerequisite(false, "Java's keytool");
        return;
    };
    let shown = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.status.success(), "{listed:?}");
    assert!(
        shown.contains("Alias name: alice")
            && shown.contains("Entry type: PrivateKeyEntry")
            && shown.contains("Certificate chain length: 2"),
        "{shown}"
    );
}

#[test]
fn an_existing_file_is_replaced_only_with_force_keeping_a_backup() {
    let (env, pass) = with_alice();
    let out = env.path("alice.p12");
    env.ok(&export("alice", &out, &pass));
    let first = read(&out);
    let line = env.assert_refused(&export("alice", &out, &pass), "already exists");
    assert!(line.contains("--force"), "{line}");
    let mut again = export("alice", &out, &pass);
    again.push("--force");
    env.ok(&again);
    assert_ne!(read(&out), first, "salts and IVs are random each time");
    let backups = names_with_prefix(env.root(), "alice.p12.bak-");
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(read(&env.path(&backups[0])), first);
    assert_eq!(mode(&out), 0o600);
}

#[test]
fn a_name_without_an_active_client_certificate_is_refused_naming_status() {
    let (env, pass) = with_alice();
    let out = env.path("x.p12");
    let line = env.assert_refused(
        &export("bob", &out, &pass),
        "no active client certificate has the common name \"bob\"",
    );
    assert!(line.contains(&env.hint("status")), "{line}");
    // A server certificate is not a client bundle.
    env.ok(&[
        "issue",
        "server",
        "--san",
        "localhost",
        "--out",
        s(&env.path("daemon")),
    ]);
    env.assert_refused(
        &export("localhost", &out, &pass),
        "no active client certificate has the common name",
    );
    env.ok(&["revoke", "--name", "alice"]);
    env.assert_refused(
        &export("alice", &out, &pass),
        "no active client certificate has the common name",
    );
}

#[test]
fn without_a_passphrase_file_off_a_terminal_it_says_how_to_give_one() {
    let (env, _) = with_alice();
    env.assert_refused(
        &[
            "export",
            "pkcs12",
            "--name",
            "alice",
            "--out",
            s(&env.path("a.p12")),
        ],
        "no export passphrase was given; pass --export-passphrase-file FILE",
    );
    let empty = env.path("empty");
    common::write_secret(&empty, "\n");
    env.assert_refused(&export("alice", &env.path("a.p12"), &empty), "is empty");
}

/// A layout whose files were replaced by hand since dockpki issued them is not exported as if
/// it held the recorded certificate.
#[test]
fn a_layout_whose_certificate_was_replaced_is_refused() {
    let (env, pass) = with_alice();
    env.issue_client("mallory", &env.path("mallory"), &[]);
    for f in ["cert.pem", "key.pem"] {
        common::overwrite(
            &env.path("alice").join(f),
            &read(&env.path("mallory").join(f)),
        );
    }
    env.assert_refused(
        &export("alice", &env.path("a.p12"), &pass),
        "is not the one dockpki issued as \"alice\"",
    );
}

/// Exporting reads no CA key, so an encrypted CA needs no passphrase for it.
#[test]
fn exporting_needs_no_ca_passphrase() {
    let env = Env::new();
    let ca_pass = env.path("ca-pass");
    common::write_secret(&ca_pass, "ca secret\n");
    env.ok(&["--passphrase-file", s(&ca_pass), "ca", "init", "--encrypt"]);
    env.ok(&[
        "--passphrase-file",
        s(&ca_pass),
        "issue",
        "client",
        "--name",
        "alice",
        "--out",
        s(&env.path("alice")),
    ]);
    let pass = env.path("pass");
    common::write_secret(&pass, PASSPHRASE);
    env.ok(&export("alice", &env.path("a.p12"), &pass));
}

#[test]
fn on_a_terminal_the_export_passphrase_is_asked_twice_and_must_match() {
    let (env, _) = with_alice();
    let out = env.path("a.p12");
    let args = format!("export pkcs12 --name alice --out {}", s(&out));
    let Some((ok, shown)) = common::on_terminal(&env, &args, &["hunter22", "hunter23"]) else {
        common::prerequisite(false, "util-linux `script` for a pseudo-terminal");
        return;
    };
    assert!(
        !ok && shown.contains("the two passphrases differ"),
        "{shown}"
    );
    assert!(!out.exists());
    let (ok, shown) = common::on_terminal(&env, &args, &["hunter22", "hunter22"]).unwrap();
    assert!(ok, "{shown}");
    assert!(
        shown.contains("export passphrase:") && !shown.contains("hunter22"),
        "{shown}"
    );
    let opened = openssl(&[
        "pkcs12",
        "-in",
        s(&out),
        "-noout",
        "-passin",
        "pass:hunter22",
    ]);
    assert!(opened.status.success(), "{opened:?}");
}
