//! The CA key encrypted at rest: `ca init --encrypt`, `ca encrypt`, `ca decrypt`, and every
//! command that signs obtaining the passphrase (file, environment, never argv), refusing a
//! wrong or missing one with nothing written. The key file is PKCS#8 PBES2 (PBKDF2-HMAC-SHA256,
//! 600 000 iterations, AES-256-CBC) that `openssl pkey -passin` reads.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_openssl_accepts, json, mode, names_with_prefix, on_terminal, read, s, Env};

const PASSPHRASE: &str = "correct horse battery staple";

/// An environment with an encrypted CA, and the passphrase in `root/pass` (with a trailing
/// newline, as `echo` writes it) and a wrong one in `root/wrong`.
fn encrypted() -> (Env, PathBuf) {
    let env = Env::new();
    let pass = env.path("pass");
    common::write_secret(&pass, format!("{PASSPHRASE}\n"));
    common::write_secret(&env.path("wrong"), "tr0ub4dor&3\n");
    env.ok(&["--passphrase-file", s(&pass), "ca", "init", "--encrypt"]);
    (env, pass)
}

fn with_pass<'a>(pass: &'a Path, args: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--passphrase-file", s(pass)];
    v.extend_from_slice(args);
    v
}

fn openssl(args: &[&str]) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl")
}

fn public_key(env: &Env, key: &Path, pass: Option<&Path>) -> Vec<u8> {
    let passin = pass.map(|p| format!("file:{}", s(p)));
    let mut args = vec!["pkey", "-in", s(key), "-pubout"];
    if let Some(p) = &passin {
        args.extend(["-passin", p]);
    }
    let out = openssl(&args);
    assert!(
        out.status.success(),
        "{env:?} openssl pkey: {out:?}",
        env = env.root()
    );
    out.stdout
}

#[test]
fn ca_init_encrypt_writes_a_pbes2_key_openssl_reads_only_with_the_passphrase() {
    let (env, pass) = encrypted();
    let key = env.state().join("ca-key.pem");
    let pem = String::from_utf8(read(&key)).unwrap();
    assert!(
        pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"),
        "{pem}"
    );
    assert_eq!(mode(&key), 0o400);
    let parsed = openssl(&["asn1parse", "-in", s(&key)]);
    let text = String::from_utf8_lossy(&parsed.stdout);
    for part in [
        "PBES2",
        "PBKDF2",
        "hmacWithSHA256",
        "aes-256-cbc",
        ":0927C0",
    ] {
        // 0x0927C0 = 600 000 iterations.
        assert!(text.contains(part), "missing {part} in\n{text}");
    }
    assert!(!public_key(&env, &key, Some(&pass)).is_empty());
    let wrong = openssl(&[
        "pkey",
        "-in",
        s(&key),
        "-passin",
        &format!("file:{}", s(&env.path("wrong"))),
    ]);
    assert!(
        !wrong.status.success(),
        "openssl accepted a wrong passphrase"
    );
    // The public key matches the CA certificate.
    let cert_pub = openssl(&[
        "x509",
        "-in",
        s(&env.state().join("ca.pem")),
        "-pubkey",
        "-noout",
    ]);
    assert_eq!(cert_pub.stdout, public_key(&env, &key, Some(&pass)));
}

#[test]
fn signing_without_a_passphrase_is_refused_when_stdin_is_not_a_terminal() {
    let (env, _) = encrypted();
    env.assert_refused(
        &[
            "issue",
            "client",
            "--name",
            "alice",
            "--out",
            s(&env.path("alice")),
        ],
        "no passphrase was given; pass --passphrase-file FILE",
    );
}

#[test]
fn a_wrong_passphrase_is_refused_by_every_signing_command_with_nothing_written() {
    let (env, pass) = encrypted();
    let d = env.path("daemon");
    let c = env.path("client");
    env.ok(&with_pass(
        &pass,
        &[
            "bootstrap",
            "--san",
            "localhost",
            "--daemon-dir",
            s(&d),
            "--client-dir",
            s(&c),
        ],
    ));
    let wrong = env.path("wrong");
    let alice = env.path("alice");
    let crl = env.path("crl.pem");
    let commands: [&[&str]; 7] = [
        &["issue", "client", "--name", "alice", "--out", s(&alice)],
        &["issue", "server", "--san", "localhost", "--out", s(&alice)],
        &[
            "bootstrap",
            "--san",
            "localhost",
            "--daemon-dir",
            s(&d),
            "--client-dir",
            s(&c),
            "--force",
        ],
        &["renew", "--all"],
        &["crl", "--out", s(&crl)],
        &["ca", "rotate", "begin"],
        &["ca", "decrypt"],
    ];
    for args in commands {
        env.assert_refused(&with_pass(&wrong, args), "wrong passphrase");
    }
}

#[test]
fn every_signing_command_works_with_the_passphrase_from_a_file_or_the_environment() {
    let (env, pass) = encrypted();
    let d = env.path("daemon");
    let c = env.path("client");
    env.ok(&with_pass(
        &pass,
        &[
            "bootstrap",
            "--san",
            "localhost",
            "--daemon-dir",
            s(&d),
            "--client-dir",
            s(&c),
        ],
    ));
    assert_openssl_accepts(&d.join("ca.pem"), &d.join("server-cert.pem"), "sslserver");
    assert_openssl_accepts(&c.join("ca.pem"), &c.join("cert.pem"), "sslclient");
    // Leaf keys stay unencrypted: dockerd and the docker CLI cannot read encrypted keys.
    for key in [d.join("server-key.pem"), c.join("key.pem")] {
        assert!(read(&key).starts_with(b"-----BEGIN PRIVATE KEY-----"));
    }
    // The environment variable works like the flag.
    let alice = env.path("alice");
    let out = env
        .cmd()
        .env("DOCKPKI_PASSPHRASE_FILE", &pass)
        .args(["issue", "client", "--name", "alice", "--out", s(&alice)])
        .output()
        .unwrap();
    common::assert_success(&out);
    assert_openssl_accepts(&alice.join("ca.pem"), &alice.join("cert.pem"), "sslclient");
    env.ok(&with_pass(&pass, &["renew", "--all"]));
    env.ok(&with_pass(
        &pass,
        &["crl", "--out", s(&env.path("crl.pem"))],
    ));
    // A rotation of an encrypted CA: the new CA is encrypted under the same passphrase.
    env.ok(&with_pass(&pass, &["ca", "rotate", "begin"]));
    let next_key = env.state().join("ca-next-key.pem");
    assert!(read(&next_key).starts_with(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    assert!(!public_key(&env, &next_key, Some(&pass)).is_empty());
    env.ok(&with_pass(&pass, &["ca", "rotate", "reissue"]));
    env.ok(&with_pass(&pass, &["ca", "rotate", "finish"]));
    assert!(
        read(&env.state().join("ca-key.pem")).starts_with(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    );
    env.ok(&["verify", "--daemon-dir", s(&d), "--client-dir", s(&c)]);
}

#[test]
fn the_passphrase_appears_in_no_output() {
    let (env, pass) = encrypted();
    for extra in [&["-v"][..], &["--json"][..]] {
        let mut args = with_pass(&pass, extra);
        args.extend(["issue", "client", "--name", "alice", "--force", "--out"]);
        let alice = env.path("alice");
        args.push(s(&alice));
        let out = env.ok(&args);
        let all = [out.stdout, out.stderr].concat();
        assert!(!String::from_utf8_lossy(&all).contains("horse"));
    }
}

#[test]
fn ca_encrypt_and_decrypt_convert_the_key_keeping_a_backup_and_the_same_key() {
    let env = Env::new();
    env.ca_init(&[]);
    let pass = env.path("pass");
    common::write_secret(&pass, PASSPHRASE);
    let key = env.state().join("ca-key.pem");
    let plain_public = public_key(&env, &key, None);
    let out = env.ok(&with_pass(&pass, &["ca", "encrypt"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unencrypted key is kept as") && stderr.contains("shred"),
        "{stderr}"
    );
    assert!(read(&key).starts_with(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    assert_eq!(mode(&key), 0o400);
    assert_eq!(public_key(&env, &key, Some(&pass)), plain_public);
    assert_eq!(names_with_prefix(&env.state(), "ca-key.pem.bak-").len(), 1);
    // Now a signing command needs it, and works with it.
    env.assert_refused(
        &["issue", "client", "--name", "a", "--out", s(&env.path("a"))],
        "no passphrase was given",
    );
    env.ok(&with_pass(
        &pass,
        &["issue", "client", "--name", "a", "--out", s(&env.path("a"))],
    ));
    let line = env.assert_refused(&with_pass(&pass, &["ca", "encrypt"]), "already encrypted");
    // The advice is the one-step change, not decrypt-then-encrypt (an unencrypted backup).
    assert!(
        line.contains("to change its passphrase run `dockpki --state")
            && line.contains("ca passphrase`"),
        "{line}"
    );
    env.ok(&with_pass(&pass, &["ca", "decrypt"]));
    assert!(read(&key).starts_with(b"-----BEGIN PRIVATE KEY-----"));
    assert_eq!(mode(&key), 0o400);
    assert_eq!(public_key(&env, &key, None), plain_public);
    env.assert_refused(&["ca", "decrypt"], "is not encrypted");
    env.ok(&["issue", "client", "--name", "b", "--out", s(&env.path("b"))]);
}

#[test]
fn a_key_encrypted_by_openssl_is_accepted() {
    let env = Env::new();
    env.ca_init(&[]);
    let pass = env.path("pass");
    common::write_secret(&pass, PASSPHRASE);
    let key = env.state().join("ca-key.pem");
    let encrypted = env.path("enc.pem");
    let out = openssl(&[
        "pkcs8",
        "-topk8",
        "-v2",
        "aes-256-cbc",
        "-in",
        s(&key),
        "-out",
        s(&encrypted),
        "-passout",
        &format!("file:{}", s(&pass)),
    ]);
    assert!(out.status.success(), "{out:?}");
    fs::remove_file(&key).unwrap();
    fs::copy(&encrypted, &key).unwrap();
    common::chmod(&key, 0o400);
    env.ok(&with_pass(
        &pass,
        &["issue", "client", "--name", "a", "--out", s(&env.path("a"))],
    ));
    assert_openssl_accepts(&env.path("a/ca.pem"), &env.path("a/cert.pem"), "sslclient");
}

#[test]
fn an_empty_passphrase_file_is_refused() {
    let env = Env::new();
    let empty = env.path("empty");
    common::write_secret(&empty, "\n");
    env.assert_refused(
        &["--passphrase-file", s(&empty), "ca", "init", "--encrypt"],
        "is empty",
    );
    assert!(!env.state().exists());
}

#[test]
fn ca_init_json_reports_no_secret_and_status_needs_no_passphrase() {
    let (env, _) = encrypted();
    // Reading the CA certificate (status, rotate status, ca init's refusal) needs no key.
    env.assert_refused(&["ca", "init"], "a CA already exists");
    let doc = json(&env.ok(&["--json", "ca", "rotate", "status"]));
    assert!(!doc.to_string().contains("horse"));
}

#[test]
fn on_a_terminal_the_passphrase_is_asked_twice_without_echo() {
    let env = Env::new();
    let Some((ok, shown)) = on_terminal(&env, "ca init --encrypt", &["hunter22", "hunter22"])
    else {
        common::prerequisite(false, "util-linux `script` for a pseudo-terminal");
        return;
    };
    assert!(ok, "{shown}");
    assert!(
        shown.contains("passphrase:") && shown.contains("repeat the passphrase:"),
        "{shown}"
    );
    assert!(
        !shown.contains("hunter22"),
        "the passphrase was echoed: {shown}"
    );
    let pass = env.path("pass");
    common::write_secret(&pass, "hunter22");
    public_key(&env, &env.state().join("ca-key.pem"), Some(&pass));
}

#[test]
fn on_a_terminal_two_different_passphrases_create_nothing() {
    let env = Env::new();
    let Some((ok, shown)) = on_terminal(&env, "ca init --encrypt", &["hunter22", "hunter23"])
    else {
        common::prerequisite(false, "util-linux `script` for a pseudo-terminal");
        return;
    };
    assert!(
        !ok && shown.contains("the two passphrases differ"),
        "{shown}"
    );
    assert!(!env.state().join("ca-key.pem").exists());
}

/// Aborting right after `begin` re-issues nothing, so it needs no passphrase; after `reissue` it
/// signs with the old CA and does. The abandoned CA's key is archived still encrypted.
#[test]
fn abort_asks_for_the_passphrase_only_when_it_reissues_and_archives_the_key_encrypted() {
    let (env, pass) = encrypted();
    let (d, c) = (env.path("daemon"), env.path("client"));
    env.ok(&with_pass(
        &pass,
        &[
            "bootstrap",
            "--san",
            "localhost",
            "--daemon-dir",
            s(&d),
            "--client-dir",
            s(&c),
        ],
    ));
    env.ok(&with_pass(&pass, &["ca", "rotate", "begin"]));
    // No passphrase source at all, stdin not a terminal: nothing to sign, so it works.
    env.ok(&["ca", "rotate", "abort"]);
    let archived: Vec<PathBuf> = fs::read_dir(env.state().join("archive"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| s(p).ends_with("-aborted-key.pem"))
        .collect();
    assert_eq!(archived.len(), 1, "{archived:?}");
    assert!(read(&archived[0]).starts_with(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    assert_eq!(mode(&archived[0]), 0o400);

    env.ok(&with_pass(&pass, &["ca", "rotate", "begin"]));
    env.ok(&with_pass(&pass, &["ca", "rotate", "reissue"]));
    env.assert_refused(
        &with_pass(&env.path("wrong"), &["ca", "rotate", "abort"]),
        "wrong passphrase",
    );
    env.ok(&with_pass(&pass, &["ca", "rotate", "abort"]));
    assert_openssl_accepts(
        &env.state().join("ca.pem"),
        &c.join("cert.pem"),
        "sslclient",
    );
    env.ok(&["verify", "--daemon-dir", s(&d), "--client-dir", s(&c)]);
}

/// Every file under `dir` (recursively) that holds an unencrypted private key.
fn plaintext_keys(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(plaintext_keys(&path));
        } else if String::from_utf8_lossy(&read(&path)).contains("BEGIN PRIVATE KEY") {
            found.push(path);
        }
    }
    found
}

/// Whether `openssl pkcs8` (the outside judge) decrypts `key` with the passphrase in `pass`.
fn openssl_opens(key: &Path, pass: &Path) -> bool {
    let passin = format!("file:{}", s(pass));
    openssl(&["pkcs8", "-in", s(key), "-passin", &passin])
        .status
        .success()
}

/// An environment with an encrypted CA (`root/pass`) and a new passphrase in `root/new`.
fn encrypted_with_new() -> (Env, PathBuf, PathBuf) {
    let (env, pass) = encrypted();
    let new = env.path("new");
    common::write_secret(&new, "a new passphrase\n");
    (env, pass, new)
}

fn change(pass: &Path, new: &Path) -> Vec<String> {
    [
        "--passphrase-file",
        s(pass),
        "ca",
        "passphrase",
        "--new-passphrase-file",
        s(new),
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn ca_passphrase_leaves_a_key_only_the_new_passphrase_opens_and_no_plaintext_anywhere() {
    let (env, pass, new) = encrypted_with_new();
    let key = env.state().join("ca-key.pem");
    let public = public_key(&env, &key, Some(&pass));
    let before = common::names_with_prefix(&env.state(), "");
    env.ok(&change(&pass, &new));
    assert!(read(&key).starts_with(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    assert_eq!(mode(&key), 0o400);
    assert!(
        !openssl_opens(&key, &pass),
        "the old passphrase still opens it"
    );
    assert!(
        openssl_opens(&key, &new),
        "the new passphrase does not open it"
    );
    assert_eq!(
        public_key(&env, &key, Some(&new)),
        public,
        "not the same key"
    );
    assert_eq!(plaintext_keys(&env.state()), Vec::<PathBuf>::new());
    // No backup: it would still open with the old passphrase.
    assert_eq!(common::names_with_prefix(&env.state(), ""), before);
    // Signing follows the key.
    let a = env.path("a");
    env.assert_refused(
        &with_pass(&pass, &["issue", "client", "--name", "a", "--out", s(&a)]),
        "wrong passphrase",
    );
    env.ok(&with_pass(
        &new,
        &["issue", "client", "--name", "a", "--out", s(&a)],
    ));
}

#[test]
fn ca_passphrase_refuses_a_wrong_old_passphrase_before_asking_for_a_new_one() {
    let (env, _, _) = encrypted_with_new();
    // No --new-passphrase-file and stdin not a terminal: had it asked, that would be the error.
    env.assert_refused(
        &with_pass(&env.path("wrong"), &["ca", "passphrase"]),
        "wrong passphrase",
    );
    env.assert_refused(
        &with_pass(&env.path("pass"), &["ca", "passphrase"]),
        "no new passphrase was given; pass --new-passphrase-file FILE",
    );
}

#[test]
fn ca_passphrase_refuses_the_same_passphrase_and_an_unencrypted_key_naming_ca_encrypt() {
    let (env, pass, _) = encrypted_with_new();
    env.assert_refused(&change(&pass, &pass), "the new passphrase is the one");
    let env = Env::new();
    env.ca_init(&[]);
    let new = env.path("new");
    common::write_secret(&new, "new\n");
    let line = env.assert_refused(
        &["ca", "passphrase", "--new-passphrase-file", s(&new)],
        "is not encrypted, so it has no passphrase to change",
    );
    assert!(line.contains(&env.hint("ca encrypt")), "{line}");
}

/// `ca encrypt` keeps the unencrypted key as a backup; changing the passphrase afterwards does
/// not make that backup safe, so it is named.
#[test]
fn ca_passphrase_names_the_key_backups_that_still_open_without_it() {
    let env = Env::new();
    env.ca_init(&[]);
    let (pass, new) = (env.path("pass"), env.path("new"));
    common::write_secret(&pass, PASSPHRASE);
    common::write_secret(&new, "new\n");
    env.ok(&with_pass(&pass, &["ca", "encrypt"]));
    let backup = common::names_with_prefix(&env.state(), "ca-key.pem.bak-");
    let out = env.ok(&change(&pass, &new));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&backup[0]) && stderr.contains("shred -u"),
        "{stderr}"
    );
}

#[test]
fn ca_passphrase_during_a_rotation_rewraps_both_keys_and_the_rotation_finishes_with_it() {
    let (env, pass, new) = encrypted_with_new();
    let (d, c) = (env.path("daemon"), env.path("client"));
    env.ok(&with_pass(
        &pass,
        &[
            "bootstrap",
            "--san",
            "localhost",
            "--daemon-dir",
            s(&d),
            "--client-dir",
            s(&c),
        ],
    ));
    env.ok(&with_pass(&pass, &["ca", "rotate", "begin"]));
    env.ok(&change(&pass, &new));
    for name in ["ca-key.pem", "ca-next-key.pem"] {
        let key = env.state().join(name);
        assert!(
            openssl_opens(&key, &new) && !openssl_opens(&key, &pass),
            "{name}"
        );
        assert_eq!(mode(&key), 0o400, "{name}");
    }
    assert_eq!(plaintext_keys(&env.state()), Vec::<PathBuf>::new());
    env.ok(&with_pass(&new, &["ca", "rotate", "reissue"]));
    env.ok(&with_pass(&new, &["ca", "rotate", "finish"]));
    env.ok(&["verify", "--daemon-dir", s(&d), "--client-dir", s(&c)]);
}

/// Interrupted before every rename of its journaled update (the current and the next CA's key),
/// the next command completes it: each key opens with the new passphrase only, and no
/// unencrypted key or staged file is left in the state directory at any point.
#[test]
fn ca_passphrase_aborted_before_every_rename_is_completed_by_the_next_command() {
    if !common::fault_injection() {
        return;
    }
    let mut aborted = 0;
    for n in 0.. {
        let (env, pass, new) = encrypted_with_new();
        env.ok(&with_pass(&pass, &["ca", "rotate", "begin"]));
        let out = env
            .cmd()
            .args(change(&pass, &new))
            .env("DOCKPKI_TEST_ABORT_AFTER_MOVES", n.to_string())
            .output()
            .unwrap();
        if out.status.success() {
            break;
        }
        aborted += 1;
        assert!(env.state().join("journal.json").exists(), "n={n}: {out:?}");
        assert_eq!(plaintext_keys(&env.state()), Vec::<PathBuf>::new(), "n={n}");
        // Any command completes the update; `ca rotate status` needs no passphrase.
        env.ok(&["ca", "rotate", "status"]);
        assert!(!env.state().join("journal.json").exists(), "n={n}");
        for name in ["ca-key.pem", "ca-next-key.pem"] {
            let key = env.state().join(name);
            assert!(
                openssl_opens(&key, &new) && !openssl_opens(&key, &pass),
                "n={n}: {name}"
            );
        }
        let left: Vec<String> = common::names_with_prefix(&env.state(), ".")
            .into_iter()
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "n={n}: {left:?}");
        assert_eq!(plaintext_keys(&env.state()), Vec::<PathBuf>::new(), "n={n}");
    }
    assert_eq!(aborted, 2, "one abort before each of the two renames");
}

#[test]
fn on_a_terminal_ca_passphrase_asks_the_old_once_and_the_new_twice() {
    let (env, _, _) = encrypted_with_new();
    let Some((ok, shown)) =
        on_terminal(&env, "ca passphrase", &[PASSPHRASE, "hunter22", "hunter22"])
    else {
        common::prerequisite(false, "util-linux `script` for a pseudo-terminal");
        return;
    };
    assert!(ok, "{shown}");
    assert!(
        shown.contains("CA key passphrase:")
            && shown.contains("new CA key passphrase:")
            && shown.contains("repeat the passphrase:"),
        "{shown}"
    );
    assert!(!shown.contains("hunter22"), "echoed: {shown}");
    let pass = env.path("typed");
    common::write_secret(&pass, "hunter22");
    assert!(openssl_opens(&env.state().join("ca-key.pem"), &pass));
}

#[test]
fn signing_a_request_again_that_its_certificate_still_answers_needs_no_passphrase() {
    let (env, pass) = encrypted();
    let (host, out) = (env.path("host"), env.path("signed"));
    env.ok(&["request", "client", "--name", "ci", "--dir", s(&host)]);
    let csr = host.join("client.csr");
    env.ok(&with_pass(&pass, &["sign", s(&csr), "--out", s(&out)]));
    // Nothing to sign: no CA key is loaded, so no passphrase is asked for.
    let doc = json(&env.ok(&["--json", "sign", s(&csr), "--out", s(&out)]));
    assert_eq!(
        (&doc["signed"], &doc["changed"]),
        (&false.into(), &false.into())
    );
    env.assert_refused(
        &["sign", s(&csr), "--out", s(&out), "--resign"],
        "no passphrase was given; pass --passphrase-file FILE",
    );
}
