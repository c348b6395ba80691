//! Bad input is refused with exit code 1 and exactly one `error: ` line naming the problem, and
//! nothing is written: every file and directory in the sandbox (state, output directories,
//! HOME) is byte-for-byte, mode-for-mode and mtime-for-mtime what it was, and output
//! directories that did not exist still do not.

mod common;

use std::fs;

use common::{overwrite, s, Env};

/// An environment with a CA (created with `extra` options).
fn with_ca(extra: &[&str]) -> Env {
    let env = Env::new();
    env.ca_init(extra);
    env
}

#[test]
fn unknown_key_type_is_refused_by_every_command_before_the_state_exists() {
    let env = Env::new();
    let d = env.path("daemon");
    let c = env.path("client");
    env.assert_refused(
        &["ca", "init", "--key-type", "rsa-1024"],
        "unknown key type",
    );
    env.assert_refused(
        &[
            "bootstrap",
            "--san",
            "localhost",
            "--key-type",
            "rsa-1024",
            "--daemon-dir",
            s(&d),
            "--client-dir",
            s(&c),
        ],
        "unknown key type \"rsa-1024\"",
    );
    assert!(!env.state().exists());
}

#[test]
fn unknown_key_type_is_refused_by_issue_without_writing() {
    let env = with_ca(&[]);
    let out = env.path("out");
    let line = env.assert_refused(
        &[
            "issue",
            "client",
            "--name",
            "alice",
            "--key-type",
            "rsa-1024",
            "--out",
            s(&out),
        ],
        "unknown key type \"rsa-1024\"",
    );
    // The message lists what is accepted.
    assert!(
        line.contains("ecdsa-p256") && line.contains("ed25519"),
        "{line}"
    );
    env.assert_refused(
        &[
            "issue",
            "server",
            "--san",
            "localhost",
            "--key-type",
            "rsa-1024",
            "--out",
            s(&out),
        ],
        "unknown key type",
    );
}

#[test]
fn invalid_dns_names_are_refused_as_sans() {
    let env = with_ca(&[]);
    let out = env.path("out");
    let d = env.path("daemon");
    let c = env.path("client");
    for (san, reason) in [
        ("bad_name.com", "'_' is not allowed"),
        ("a..b", "empty label"),
        ("*.*.x.com", "wildcard"),
    ] {
        let line = env.assert_refused(
            &["issue", "server", "--san", san, "--out", s(&out)],
            &format!("invalid SAN \"{san}\""),
        );
        assert!(line.contains(reason), "{san}: {line}");
        env.assert_refused(
            &[
                "bootstrap",
                "--san",
                "localhost",
                "--san",
                san,
                "--daemon-dir",
                s(&d),
                "--client-dir",
                s(&c),
            ],
            &format!("invalid SAN \"{san}\""),
        );
    }
}

#[test]
fn ipv6_address_with_zone_id_is_refused_as_san() {
    let env = with_ca(&[]);
    let out = env.path("out");
    env.assert_refused(
        &["issue", "server", "--san", "fe80::1%eth0", "--out", s(&out)],
        "zone",
    );
}

#[test]
fn missing_sans_are_refused_by_bootstrap_and_issue_server() {
    let env = Env::new();
    let d = env.path("daemon");
    let c = env.path("client");
    env.assert_refused(
        &["bootstrap", "--daemon-dir", s(&d), "--client-dir", s(&c)],
        "at least one SAN",
    );
    assert!(!env.state().exists());
    env.ca_init(&[]);
    env.assert_refused(
        &["issue", "server", "--out", s(&env.path("out"))],
        "at least one SAN",
    );
}

#[test]
fn zero_negative_garbage_and_huge_validities_are_refused() {
    let env = with_ca(&[]);
    let out = env.path("out");
    let d = env.path("daemon");
    let c = env.path("client");
    for v in ["0d", "-1d", "abc", "1000000y"] {
        let phrase = format!("invalid validity \"{v}\"");
        // `--flag VALUE` as two words: a leading '-' must not turn it into a usage error.
        env.assert_refused(
            &[
                "issue",
                "client",
                "--name",
                "a",
                "--validity",
                v,
                "--out",
                s(&out),
            ],
            &phrase,
        );
        env.assert_refused(
            &[
                "issue",
                "server",
                "--san",
                "localhost",
                &format!("--validity={v}"),
                "--out",
                s(&out),
            ],
            &phrase,
        );
        for flag in ["--server-validity", "--client-validity"] {
            env.assert_refused(
                &[
                    "bootstrap",
                    "--san",
                    "localhost",
                    flag,
                    v,
                    "--daemon-dir",
                    s(&d),
                    "--client-dir",
                    s(&c),
                ],
                &phrase,
            );
        }
        env.assert_refused(&["ca", "init", "--force", "--validity", v], &phrase);
        // A window is not a validity: zero is a window (nothing ahead), the rest are refused
        // in a window's words.
        if v != "0d" {
            env.assert_refused(
                &["verify", "--client-dir", s(&c), "--within", v],
                &format!("invalid window \"{v}\" for --within"),
            );
        }
    }
}

#[test]
fn ca_init_with_bad_validity_does_not_create_the_state() {
    let env = Env::new();
    env.assert_refused(&["ca", "init", "--validity", "0d"], "invalid validity");
    assert!(!env.state().exists());
}

#[test]
fn leaf_outliving_its_ca_is_refused() {
    let env = with_ca(&["--validity", "1y"]);
    let out = env.path("out");
    let line = env.assert_refused(
        &[
            "issue",
            "server",
            "--san",
            "localhost",
            "--validity",
            "2y",
            "--out",
            s(&out),
        ],
        "its CA expires",
    );
    assert!(line.contains("at most"), "{line}");
    env.assert_refused(
        &[
            "issue",
            "client",
            "--name",
            "a",
            "--validity",
            "2y",
            "--out",
            s(&out),
        ],
        "its CA expires",
    );
}

#[test]
fn issue_without_a_ca_does_not_create_the_state_directory() {
    let env = Env::new();
    let out = env.path("out");
    env.assert_refused(
        &["issue", "client", "--name", "a", "--out", s(&out)],
        "no CA in",
    );
    env.assert_refused(
        &["issue", "server", "--san", "localhost", "--out", s(&out)],
        &env.hint("ca init"),
    );
    assert!(!env.state().exists());
    assert!(!out.exists());
}

#[test]
fn issue_with_an_existing_directory_holding_no_ca_leaves_it_untouched() {
    // E.g. a mistyped --state pointing at some unrelated directory: no lock file, no chmod.
    let env = Env::new();
    fs::create_dir(env.state()).unwrap();
    common::chmod(&env.state(), 0o755);
    fs::write(env.state().join("notes.txt"), "unrelated\n").unwrap();
    env.assert_refused(
        &[
            "issue",
            "client",
            "--name",
            "a",
            "--out",
            s(&env.path("out")),
        ],
        "no CA in",
    );
}

#[test]
fn corrupt_ca_certificate_is_refused() {
    let env = with_ca(&[]);
    overwrite(&env.state().join("ca.pem"), b"this is not a certificate\n");
    let out = env.path("out");
    let line = env.assert_refused(
        &["issue", "client", "--name", "a", "--out", s(&out)],
        "loading the CA",
    );
    assert!(line.contains("certificate"), "{line}");
    env.assert_refused(
        &["issue", "server", "--san", "localhost", "--out", s(&out)],
        "loading the CA",
    );
    env.assert_refused(
        &[
            "bootstrap",
            "--san",
            "localhost",
            "--daemon-dir",
            s(&env.path("daemon")),
            "--client-dir",
            s(&env.path("client")),
        ],
        "loading the CA",
    );
    // Without --force, ca init does not replace even a broken CA.
    env.assert_refused(&["ca", "init"], "--force");
}

#[test]
fn ca_key_of_another_ca_is_refused() {
    let env = with_ca(&[]);
    let other = with_ca(&[]);
    let key = env.state().join("ca-key.pem");
    assert_eq!(common::mode(&key), 0o400);
    overwrite(&key, &common::read(&other.state().join("ca-key.pem")));
    let out = env.path("out");
    env.assert_refused(
        &["issue", "client", "--name", "a", "--out", s(&out)],
        "does not belong to the CA certificate",
    );
    env.assert_refused(
        &[
            "bootstrap",
            "--san",
            "localhost",
            "--daemon-dir",
            s(&env.path("daemon")),
            "--client-dir",
            s(&env.path("client")),
        ],
        "does not belong",
    );
}

#[test]
fn output_directory_that_is_a_file_is_refused() {
    let env = with_ca(&[]);
    let file = env.path("not-a-dir");
    fs::write(&file, "x").unwrap();
    env.assert_refused(
        &["issue", "client", "--name", "a", "--out", s(&file)],
        "is a file, not a directory",
    );
    env.assert_refused(
        &["issue", "server", "--san", "localhost", "--out", s(&file)],
        "is a file, not a directory",
    );
    // A path *below* a file.
    env.assert_refused(
        &[
            "issue",
            "client",
            "--name",
            "a",
            "--out",
            s(&file.join("sub")),
        ],
        "not a directory",
    );
    env.assert_refused(
        &[
            "bootstrap",
            "--san",
            "localhost",
            "--daemon-dir",
            s(&env.path("daemon")),
            "--client-dir",
            s(&file),
        ],
        "is a file, not a directory",
    );
}

#[test]
fn bootstrap_into_a_file_leaves_no_new_state_directory_behind() {
    let env = Env::new();
    let file = env.path("not-a-dir");
    fs::write(&file, "x").unwrap();
    // A nested, non-existent state: none of its levels may remain.
    let state = env.path("deep/er/state");
    let mut cmd = env.bare();
    cmd.arg("--state").arg(&state).args([
        "bootstrap",
        "--san",
        "localhost",
        "--daemon-dir",
        s(&file),
        "--client-dir",
        s(&env.path("client")),
    ]);
    env.assert_refused_cmd(cmd, "is a file, not a directory");
    assert!(!env.path("deep").exists());
}

#[test]
fn unwritable_output_directory_is_refused() {
    // Tests run as root, so permissions do not stop writes; /proc refuses new entries to anyone.
    let env = with_ca(&[]);
    env.assert_refused(
        &[
            "issue",
            "client",
            "--name",
            "a",
            "--out",
            "/proc/dockpki-test",
        ],
        "/proc/dockpki-test",
    );
    env.assert_refused(
        &[
            "issue",
            "server",
            "--san",
            "localhost",
            "--out",
            "/proc/dockpki-test/daemon",
        ],
        "/proc/dockpki-test",
    );
    assert!(!std::path::Path::new("/proc/dockpki-test").exists());
}

#[test]
fn bootstrap_into_an_unwritable_directory_leaves_no_new_state_behind() {
    let env = Env::new();
    env.assert_refused(
        &[
            "bootstrap",
            "--san",
            "localhost",
            "--daemon-dir",
            "/proc/dockpki-test",
            "--client-dir",
            s(&env.path("client")),
        ],
        "/proc/dockpki-test",
    );
    assert!(!env.state().exists());
}

#[test]
fn corrupt_inventory_is_refused_pointing_to_its_backup() {
    let env = with_ca(&[]);
    env.issue_client("alice", &env.path("alice"), &[]);
    let inv = env.state().join("inventory.json");
    fs::write(&inv, "{ garbage").unwrap();
    let line = env.assert_refused(
        &[
            "issue",
            "client",
            "--name",
            "bob",
            "--out",
            s(&env.path("bob")),
        ],
        "inventory.json.bak",
    );
    assert!(line.contains("damaged"), "{line}");
    env.assert_refused(
        &[
            "issue",
            "server",
            "--san",
            "localhost",
            "--out",
            s(&env.path("daemon")),
        ],
        "inventory.json.bak",
    );
    env.assert_refused(
        &[
            "bootstrap",
            "--san",
            "localhost",
            "--daemon-dir",
            s(&env.path("daemon")),
            "--client-dir",
            s(&env.path("client")),
        ],
        "inventory.json.bak",
    );
    // Even with --force the damaged inventory is not replaced.
    env.assert_refused(
        &[
            "issue",
            "client",
            "--name",
            "alice",
            "--out",
            s(&env.path("alice")),
            "--force",
        ],
        "inventory.json.bak",
    );
}

#[test]
fn invalid_common_names_are_refused() {
    let env = with_ca(&[]);
    let out = env.path("out");
    let long = "x".repeat(65);
    for name in ["", long.as_str(), "bad\u{7}name"] {
        env.assert_refused(
            &["issue", "client", "--name", name, "--out", s(&out)],
            "invalid common name",
        );
    }
    env.assert_refused(
        &[
            "issue",
            "server",
            "--san",
            "localhost",
            "--name",
            &long,
            "--out",
            s(&out),
        ],
        "invalid common name",
    );
}

#[test]
fn invalid_name_constraints_are_refused_by_ca_init() {
    let env = Env::new();
    env.assert_refused(
        &["ca", "init", "--permit-dns", "bad_name.com"],
        "invalid name constraint",
    );
    env.assert_refused(
        &["ca", "init", "--permit-ip", "10.0.0.0/99"],
        "invalid name constraint",
    );
    assert!(!env.state().exists());
}

#[test]
fn state_path_that_is_a_file_is_refused() {
    let env = Env::new();
    fs::write(env.state(), "x").unwrap();
    env.assert_refused(&["ca", "init"], "not a directory");
    env.assert_refused(
        &[
            "issue",
            "client",
            "--name",
            "a",
            "--out",
            s(&env.path("out")),
        ],
        "not a directory",
    );
}

#[test]
fn json_mode_failure_prints_an_error_document_and_one_stderr_line() {
    let env = Env::new();
    let before = common::snapshot(env.root());
    let out = env.run(&[
        "--json",
        "issue",
        "client",
        "--name",
        "a",
        "--out",
        s(&env.path("out")),
    ]);
    common::assert_error_line(&out, "no CA in");
    let doc = common::json(&out);
    let msg = doc["error"].as_str().expect("error string");
    assert!(msg.contains("no CA in"), "{doc}");
    common::assert_unchanged(&before, &common::snapshot(env.root()), "--json issue");
}
