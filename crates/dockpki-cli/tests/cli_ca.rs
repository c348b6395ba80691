//! `dockpki ca init`: the CA files and their modes, the options written into the CA
//! certificate, name constraints enforced on issue, and replacement only with --force.

mod common;

use common::{json, mode, names, read, s, Env};

#[test]
fn ca_init_creates_private_state_with_ca_cert_and_key() {
    let env = Env::new();
    let out = env.ca_init(&[]);
    let line = common::stdout(&out);
    assert!(
        line.starts_with("created CA \"") && line.lines().count() == 1,
        "one line saying what was done: {line}"
    );
    let st = env.state();
    assert_eq!(mode(&st), 0o700);
    assert_eq!(mode(&st.join("ca.pem")), 0o444);
    assert_eq!(mode(&st.join("ca-key.pem")), 0o400);
    for n in names(&st) {
        assert!(
            ["ca.pem", "ca-key.pem", "lock"].contains(&n.as_str()),
            "unexpected {n} in the state"
        );
    }
    let ca = env.inspect_cert(&st.join("ca.pem"));
    assert_eq!(ca["is_ca"], true);
    assert_eq!(ca["path_len"], 0);
    assert_eq!(ca["key_type"], "ecdsa-p256");
    assert!(
        ca["subject"].as_str().unwrap().contains("O=dockpki"),
        "{ca}"
    );
    let span = common::time_of(&ca["not_after"]) - common::time_of(&ca["not_before"]);
    assert_eq!(
        span,
        time::Duration::days(3650) + time::Duration::minutes(5)
    );
    // The CA is self-signed and openssl agrees it can sign.
    let o = common::openssl_verify(&st.join("ca.pem"), &st.join("ca.pem"), "any");
    assert!(o.status.success(), "{o:?}");
}

#[test]
fn ca_init_writes_its_options_into_the_certificate() {
    let env = Env::new();
    env.ca_init(&[
        "--name",
        "ACME docker CA",
        "--key-type",
        "ecdsa-p384",
        "--validity",
        "2y",
        "--path-len",
        "1",
        "--permit-dns",
        "example.com",
        "--permit-ip",
        "10.0.0.0/8",
    ]);
    let ca = env.inspect_cert(&env.state().join("ca.pem"));
    assert_eq!(ca["common_name"], "ACME docker CA");
    assert_eq!(ca["key_type"], "ecdsa-p384");
    assert_eq!(ca["path_len"], 1);
    let span = common::time_of(&ca["not_after"]) - common::time_of(&ca["not_before"]);
    assert_eq!(span, time::Duration::days(730) + time::Duration::minutes(5));
    let nc = ca["name_constraints"].to_string();
    assert!(
        nc.contains("example.com") && nc.contains("10.0.0.0/8"),
        "{nc}"
    );
    // And openssl reads the same.
    let text = common::openssl_x509(&env.state().join("ca.pem"), &["-text"]);
    assert!(text.contains("DNS:example.com"), "{text}");
}

#[test]
fn name_constraints_of_the_ca_are_enforced_when_issuing() {
    let env = Env::new();
    env.ca_init(&["--permit-dns", "example.com", "--permit-ip", "10.0.0.0/8"]);
    let ok = env.path("ok");
    env.issue_server(&["docker.example.com", "10.1.2.3"], &ok, &[]);
    common::assert_openssl_accepts(&ok.join("ca.pem"), &ok.join("server-cert.pem"), "sslserver");
    for san in ["docker.example.org", "192.168.1.1"] {
        env.assert_refused(
            &[
                "issue",
                "server",
                "--san",
                san,
                "--out",
                s(&env.path("bad")),
            ],
            "outside the CA's name constraints",
        );
    }
}

#[test]
fn default_ca_names_are_unique_per_ca() {
    let a = Env::new();
    let b = Env::new();
    a.ca_init(&[]);
    b.ca_init(&[]);
    let name = |e: &Env| e.inspect_cert(&e.state().join("ca.pem"))["common_name"].clone();
    let (na, nb) = (name(&a), name(&b));
    assert!(na.as_str().unwrap().starts_with("dockpki CA "), "{na}");
    assert_ne!(na, nb);
}

#[test]
fn ca_init_twice_without_force_fails_and_keeps_the_ca() {
    let env = Env::new();
    env.ca_init(&[]);
    let line = env.assert_refused(&["ca", "init"], "a CA already exists");
    assert!(line.contains("--force"), "{line}");
    // Other options do not change that.
    env.assert_refused(&["ca", "init", "--key-type", "ed25519"], "--force");
}

#[test]
fn ca_init_with_force_makes_a_new_ca_and_keeps_backups() {
    let env = Env::new();
    env.ca_init(&[]);
    let st = env.state();
    let old_cert = read(&st.join("ca.pem"));
    let old_key = read(&st.join("ca-key.pem"));
    let old_fp = env.inspect_cert(&st.join("ca.pem"))["sha256"].clone();

    env.ca_init(&["--force", "--key-type", "ed25519"]);
    let new = env.inspect_cert(&st.join("ca.pem"));
    assert_ne!(new["sha256"], old_fp);
    assert_eq!(new["key_type"], "ed25519");
    assert_ne!(read(&st.join("ca-key.pem")), old_key);

    for (base, old, old_mode) in [
        ("ca.pem", &old_cert, 0o444),
        ("ca-key.pem", &old_key, 0o400),
    ] {
        let backups: Vec<String> = names(&st)
            .into_iter()
            .filter(|n| common::is_timestamped_backup(n, base))
            .collect();
        assert_eq!(backups.len(), 1, "{base}: {:?}", names(&st));
        assert_eq!(&read(&st.join(&backups[0])), old);
        assert_eq!(mode(&st.join(&backups[0])), old_mode);
    }
    // The new CA signs.
    env.issue_client("after", &env.path("after"), &[]);
}

#[test]
fn ca_init_json_describes_the_ca_and_the_written_files() {
    let env = Env::new();
    let doc = json(&env.ok(&["--json", "ca", "init", "--name", "J"]));
    assert_eq!(doc["state"], s(&env.state()));
    assert_eq!(doc["ca"]["common_name"], "J");
    assert_eq!(doc["ca"]["is_ca"], true);
    assert_eq!(doc["written"].as_array().unwrap().len(), 2);
}

#[test]
fn ca_init_verbose_reports_what_was_created() {
    let env = Env::new();
    let text = common::stdout(&env.ca_init(&["--verbose", "--name", "V"]));
    assert!(
        text.contains("created CA \"V\"")
            && text.contains(&format!(
                "wrote {}",
                env.state().join("ca-key.pem").display()
            )),
        "{text}"
    );
    assert!(text.contains(s(&env.state())), "{text}");
}
