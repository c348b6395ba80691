//! `dockpki ca rotate`: the CA is replaced in phases while every layout keeps verifying, through
//! the real binary.

mod common;

use std::fs;
use std::path::Path;

use common::{assert_success, inventory, json, mode, s, snapshot, stdout, Env};
use serde_json::Value;

/// `dockpki verify --daemon-dir D --client-dir C` must pass.
fn assert_verifies(env: &Env, daemon: &Path, client: &Path) {
    let out = env.run(&[
        "verify",
        "--daemon-dir",
        s(daemon),
        "--client-dir",
        s(client),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "verify failed for {} + {}:\n{}{}",
        daemon.display(),
        client.display(),
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The SHA-256 fingerprints of every certificate in a PEM file, in order.
fn fingerprints(env: &Env, file: &Path) -> Vec<String> {
    let doc = json(&env.ok(&["--json", "inspect", s(file)]));
    doc["files"][0]["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .map(|c| c["sha256"].as_str().expect("fp").to_string())
        .collect()
}

fn fingerprint(env: &Env, file: &Path) -> String {
    fingerprints(env, file).remove(0)
}

fn issuer(env: &Env, cert: &Path) -> String {
    env.inspect_cert(cert)["issuer"]
        .as_str()
        .expect("issuer")
        .to_string()
}

fn subject(env: &Env, cert: &Path) -> String {
    env.inspect_cert(cert)["subject"]
        .as_str()
        .expect("subject")
        .to_string()
}

fn status(env: &Env) -> Value {
    json(&env.ok(&["--json", "ca", "rotate", "status"]))
}

/// Active inventory records.
fn active(env: &Env) -> Vec<Value> {
    inventory(env)["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .filter(|c| c["status"] == "active")
        .cloned()
        .collect()
}

/// A directory with `ca.pem` from `ca_from` and the certificate and key from `leaf_from`.
fn mixed_client(dir: &Path, ca_from: &Path, leaf_from: &Path) {
    fs::create_dir_all(dir).unwrap();
    fs::copy(ca_from.join("ca.pem"), dir.join("ca.pem")).unwrap();
    for name in ["cert.pem", "key.pem"] {
        fs::copy(leaf_from.join(name), dir.join(name)).unwrap();
    }
}

#[test]
fn full_rotation_keeps_every_layout_verifying_and_ends_trusting_only_the_new_ca() {
    let env = Env::new();
    let (daemon, client, bob) = (env.path("daemon"), env.path("client"), env.path("bob"));
    env.bootstrap(&daemon, &client, &[]);
    env.issue_client("bob", &bob, &[]);
    let layouts = [&daemon, &client, &bob];
    let old_fp = fingerprint(&env, &env.state().join("ca.pem"));
    let old_subject = subject(&env, &env.state().join("ca.pem"));
    assert_eq!(status(&env)["phase"], "none");
    assert_eq!(status(&env)["next"]["command"], env.hint("ca rotate begin"));

    // begin: a new CA with its own name; every layout trusts old+new; old leaves still verify.
    let old_client_cert = fs::read(client.join("cert.pem")).unwrap();
    let out = env.ok(&["ca", "rotate", "begin"]);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("restart dockerd using {}", daemon.display())),
        "{text}"
    );
    assert!(text.contains(&env.hint("ca rotate reissue")), "{text}");
    assert!(
        !text.contains(&format!("restart dockerd using {}", client.display())),
        "client layouts need no restart: {text}"
    );
    let next = env.state().join("ca-next.pem");
    let new_fp = fingerprint(&env, &next);
    let new_subject = subject(&env, &next);
    assert_ne!(new_fp, old_fp);
    assert_ne!(
        new_subject, old_subject,
        "clients pick certificates by issuer name"
    );
    for dir in layouts {
        assert_eq!(
            fingerprints(&env, &dir.join("ca.pem")),
            vec![old_fp.clone(), new_fp.clone()],
            "{} must trust old and new CA",
            dir.display()
        );
    }
    assert_eq!(fs::read(client.join("cert.pem")).unwrap(), old_client_cert);
    assert_eq!(issuer(&env, &client.join("cert.pem")), old_subject);
    assert_verifies(&env, &daemon, &client);
    assert_verifies(&env, &daemon, &bob);

    // A certificate issued during the rotation comes from the new CA and works with the old
    // server certificate both ways.
    let carol = env.path("carol");
    env.issue_client("carol", &carol, &[]);
    assert_eq!(issuer(&env, &carol.join("cert.pem")), new_subject);
    assert_eq!(
        fingerprints(&env, &carol.join("ca.pem")),
        vec![old_fp.clone(), new_fp.clone()]
    );
    assert_verifies(&env, &daemon, &carol);

    let st = status(&env);
    assert_eq!(st["phase"], "begun");
    assert_eq!(st["ca"]["sha256"], old_fp.as_str());
    assert_eq!(st["next_ca"]["sha256"], new_fp.as_str());
    assert_eq!(st["left"].as_array().unwrap().len(), 3, "{st}");
    assert_eq!(st["next"]["command"], env.hint("ca rotate reissue"));
    let text = stdout(&env.ok(&["ca", "rotate", "status"]));
    assert!(text.contains("phase:      begun"), "{text}");
    assert!(text.contains("left:       server"), "{text}");

    // finish right after begin would strand three certificates: refused, nothing written.
    let line = env.assert_refused(&["ca", "rotate", "finish"], "ca rotate reissue");
    assert!(
        line.contains("3 certificate(s) still come from the old CA"),
        "{line}"
    );
    assert!(line.contains(s(&bob)), "{line}");

    // reissue: every active certificate now chains to the new CA, in place.
    let saved_old_client = env.path("old-client-copy");
    fs::create_dir(&saved_old_client).unwrap();
    for name in ["cert.pem", "key.pem"] {
        fs::copy(client.join(name), saved_old_client.join(name)).unwrap();
    }
    let out = env.ok(&["ca", "rotate", "reissue"]);
    assert!(
        stdout(&out).contains(&format!("restart dockerd using {}", daemon.display())),
        "{}",
        stdout(&out)
    );
    for rec in active(&env) {
        assert_eq!(rec["ca_sha256"], new_fp.as_str(), "{rec}");
    }
    assert_eq!(active(&env).len(), 4);
    for (dir, cert) in [
        (&daemon, "server-cert.pem"),
        (&client, "cert.pem"),
        (&bob, "cert.pem"),
        (&carol, "cert.pem"),
    ] {
        assert_eq!(
            issuer(&env, &dir.join(cert)),
            new_subject,
            "{}",
            dir.display()
        );
    }
    assert_ne!(
        fs::read(client.join("key.pem")).unwrap(),
        fs::read(saved_old_client.join("key.pem")).unwrap(),
        "fresh keys"
    );
    assert_verifies(&env, &daemon, &client);
    assert_verifies(&env, &daemon, &bob);
    assert_eq!(status(&env)["phase"], "reissued");
    assert_eq!(
        status(&env)["next"]["command"],
        env.hint("ca rotate finish")
    );

    // Nothing left to re-issue: a second run writes nothing.
    let before = snapshot(env.root());
    env.ok(&["ca", "rotate", "reissue"]);
    common::assert_unchanged(&before, &snapshot(env.root()), "a second reissue");

    // finish: only the new CA is trusted anywhere, the old one is archived.
    let out = env.ok(&["ca", "rotate", "finish"]);
    assert!(
        stdout(&out).contains(&format!("restart dockerd using {}", daemon.display())),
        "{}",
        stdout(&out)
    );
    for dir in [&daemon, &client, &bob, &carol] {
        assert_eq!(
            fingerprints(&env, &dir.join("ca.pem")),
            vec![new_fp.clone()],
            "{}",
            dir.display()
        );
    }
    assert_eq!(fingerprint(&env, &env.state().join("ca.pem")), new_fp);
    assert!(!env.state().join("ca-next.pem").exists());
    assert!(!env.state().join("ca-next-key.pem").exists());
    let tag: String = old_fp
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(16)
        .collect::<String>()
        .to_ascii_lowercase();
    let archived = env.state().join("archive").join(format!("ca-{tag}.pem"));
    let archived_key = env
        .state()
        .join("archive")
        .join(format!("ca-{tag}-key.pem"));
    assert_eq!(fingerprint(&env, &archived), old_fp);
    assert_eq!(mode(&archived), 0o444);
    assert_eq!(mode(&archived_key), 0o400);
    assert_verifies(&env, &daemon, &client);
    assert_verifies(&env, &daemon, &bob);
    assert_verifies(&env, &daemon, &carol);

    // The old client certificate is refused by the daemon's bundle now.
    let stale = env.path("stale");
    mixed_client(&stale, &daemon, &saved_old_client);
    let out = env.run(&[
        "verify",
        "--daemon-dir",
        s(&daemon),
        "--client-dir",
        s(&stale),
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("the daemon would refuse it"),
        "{}",
        stdout(&out)
    );

    // New certificates come from the new (now current) CA with a new-only bundle.
    let dave = env.path("dave");
    env.issue_client("dave", &dave, &[]);
    assert_eq!(issuer(&env, &dave.join("cert.pem")), new_subject);
    assert_eq!(
        fingerprints(&env, &dave.join("ca.pem")),
        vec![new_fp.clone()]
    );
    let st = status(&env);
    assert_eq!(st["phase"], "none");
    assert_eq!(st["ca"]["sha256"], new_fp.as_str());
    assert!(st["next_ca"].is_null());
}

#[test]
fn a_second_rotation_after_a_finished_one_works_the_same_way() {
    let env = Env::new();
    let (daemon, client) = (env.path("daemon"), env.path("client"));
    env.bootstrap(&daemon, &client, &[]);
    let mut seen = vec![fingerprint(&env, &env.state().join("ca.pem"))];
    for _ in 0..2 {
        for phase in ["begin", "reissue", "finish"] {
            env.ok(&["ca", "rotate", phase]);
            assert_verifies(&env, &daemon, &client);
        }
        let fp = fingerprint(&env, &env.state().join("ca.pem"));
        assert!(!seen.contains(&fp));
        assert_eq!(fingerprints(&env, &client.join("ca.pem")), vec![fp.clone()]);
        seen.push(fp);
    }
    assert_eq!(common::names(&env.state().join("archive")).len(), 4);
}

#[test]
fn begin_twice_is_refused_and_writes_nothing() {
    let env = Env::new();
    env.bootstrap(&env.path("daemon"), &env.path("client"), &[]);
    env.ok(&["ca", "rotate", "begin"]);
    env.assert_refused(
        &["ca", "rotate", "begin"],
        "a CA rotation is already in progress",
    );
    env.ok(&["ca", "rotate", "reissue"]);
    let line = env.assert_refused(&["ca", "rotate", "begin"], &env.hint("ca rotate finish"));
    assert!(line.contains("already in progress"), "{line}");
}

#[test]
fn reissue_and_finish_without_a_rotation_are_refused_and_write_nothing() {
    let env = Env::new();
    env.bootstrap(&env.path("daemon"), &env.path("client"), &[]);
    for phase in ["reissue", "finish"] {
        let line = env.assert_refused(&["ca", "rotate", phase], "no CA rotation in progress");
        assert!(line.contains(&env.hint("ca rotate begin")), "{line}");
    }
}

#[test]
fn rotation_without_a_ca_is_refused_and_writes_nothing() {
    let env = Env::new();
    for phase in ["begin", "reissue", "finish", "status", "abort"] {
        env.assert_refused(&["ca", "rotate", phase], "no CA in");
    }
    assert!(!env.state().exists());
}

#[test]
fn begin_with_bad_options_is_refused_before_anything_is_written() {
    let env = Env::new();
    env.bootstrap(&env.path("daemon"), &env.path("client"), &[]);
    env.assert_refused(&["ca", "rotate", "begin", "--key-type", "dsa"], "dsa");
    env.assert_refused(&["ca", "rotate", "begin", "--validity", "-1d"], "-1d");
}

#[test]
fn begin_keeps_the_old_key_type_unless_told_otherwise() {
    let env = Env::new();
    env.ca_init(&["--key-type", "ecdsa-p384"]);
    env.ok(&["ca", "rotate", "begin", "--validity", "2y"]);
    let next = env.inspect_cert(&env.state().join("ca-next.pem"));
    assert_eq!(next["key_type"], "ecdsa-p384");
    let years =
        (common::time_of(&next["not_after"]) - common::time_of(&next["not_before"])).whole_days();
    assert!((729..=731).contains(&years), "{years} days");

    let other = Env::new();
    other.ca_init(&[]);
    other.ok(&["ca", "rotate", "begin", "--key-type", "ed25519"]);
    let next = other.inspect_cert(&other.state().join("ca-next.pem"));
    assert_eq!(next["key_type"], "ed25519");
}

#[test]
fn ca_init_force_is_refused_during_a_rotation() {
    let env = Env::new();
    env.ca_init(&[]);
    env.ok(&["ca", "rotate", "begin"]);
    env.assert_refused(&["ca", "init", "--force"], "a CA rotation is in progress");
}

#[test]
fn rotation_json_output_is_one_document_naming_restarts_and_next_step() {
    let env = Env::new();
    let (daemon, client) = (env.path("daemon"), env.path("client"));
    env.bootstrap(&daemon, &client, &[]);
    let begin = json(&env.ok(&["--json", "ca", "rotate", "begin"]));
    assert_eq!(begin["schema"], "dockpki/ca-rotate-begin/v1");
    assert_eq!(begin["restart"][0]["dir"], s(&daemon));
    assert_eq!(begin["restart"].as_array().unwrap().len(), 1);
    assert_eq!(begin["next"]["command"], env.hint("ca rotate reissue"));
    assert!(begin["next_ca"]["sha256"].is_string());
    assert_ne!(begin["next_ca"]["sha256"], begin["ca"]["sha256"]);
    let reissue = json(&env.ok(&["--json", "ca", "rotate", "reissue"]));
    assert_eq!(reissue["reissued"], 2);
    let finish = json(&env.ok(&["--json", "ca", "rotate", "finish"]));
    assert_eq!(finish["ca"]["sha256"], begin["next_ca"]["sha256"]);
    assert_eq!(finish["previous_ca"]["sha256"], begin["ca"]["sha256"]);
    assert_eq!(finish["next"]["command"], serde_json::Value::Null);
}

#[test]
fn a_phase_says_what_it_did_then_restarts_and_the_next_step_and_verbose_lists_files() {
    let env = Env::new();
    let (daemon, client) = (env.path("daemon"), env.path("client"));
    env.bootstrap(&daemon, &client, &[]);
    let text = stdout(&env.ok(&["ca", "rotate", "begin"]));
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.starts_with("began the CA rotation: new CA "), "{text}");
    let out = env.ok(&["-v", "ca", "rotate", "reissue"]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.contains("re-issued 2 certificate(s)"), "{text}");
    assert!(
        text.contains(&format!("wrote {}", client.join("key.pem").display())),
        "{text}"
    );
}

#[test]
fn layouts_whose_directory_is_gone_are_reported_not_recreated() {
    let env = Env::new();
    let (daemon, client, bob) = (env.path("daemon"), env.path("client"), env.path("bob"));
    env.bootstrap(&daemon, &client, &[]);
    env.issue_client("bob", &bob, &[]);
    fs::remove_dir_all(&bob).unwrap();
    let text = stdout(&env.ok(&["ca", "rotate", "begin"]));
    assert!(
        text.contains(&format!("not updated (directory gone): {}", bob.display())),
        "{text}"
    );
    assert!(!bob.exists());
    assert_verifies(&env, &daemon, &client);
}

/// The first 16 hex digits of a SHA-256 fingerprint, lower case: how the archive names a CA.
fn tag(fp: &str) -> String {
    fp.chars()
        .filter(char::is_ascii_hexdigit)
        .take(16)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// `dockpki status` exits 0: every recorded certificate present, matching and not due.
fn assert_status_clean(env: &Env) {
    let out = env.run(&["status"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "status not clean:\n{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn abort_after_begin_puts_every_layout_back_on_the_old_ca_and_a_new_begin_works() {
    let env = Env::new();
    let (daemon, client, bob) = (env.path("daemon"), env.path("client"), env.path("bob"));
    env.bootstrap(&daemon, &client, &[]);
    env.issue_client("bob", &bob, &[]);
    let old_fp = fingerprint(&env, &env.state().join("ca.pem"));
    let leaves: Vec<Vec<u8>> = [&client, &bob]
        .iter()
        .map(|d| fs::read(d.join("cert.pem")).unwrap())
        .collect();
    env.ok(&["ca", "rotate", "begin"]);
    let next = env.state().join("ca-next.pem");
    let new_fp = fingerprint(&env, &next);
    let next_key = fs::read(env.state().join("ca-next-key.pem")).unwrap();

    let out = env.ok(&["ca", "rotate", "abort"]);
    let text = stdout(&out);
    assert!(
        text.contains("aborted the CA rotation: 3 layout(s) trust only"),
        "{text}"
    );
    assert!(
        text.contains(&format!("restart dockerd using {}", daemon.display())),
        "{text}"
    );
    assert!(
        !text.contains(&format!("restart dockerd using {}", client.display())),
        "{text}"
    );
    assert!(text.contains(&env.hint("ca rotate begin")), "{text}");
    for dir in [&daemon, &client, &bob] {
        assert_eq!(
            fingerprints(&env, &dir.join("ca.pem")),
            vec![old_fp.clone()],
            "{} must trust the old CA alone",
            dir.display()
        );
    }
    for (dir, before) in [&client, &bob].iter().zip(&leaves) {
        assert_eq!(
            &fs::read(dir.join("cert.pem")).unwrap(),
            before,
            "untouched"
        );
    }
    assert!(!next.exists() && !env.state().join("ca-next-key.pem").exists());
    let archived = env
        .state()
        .join("archive")
        .join(format!("ca-{}-aborted.pem", tag(&new_fp)));
    let archived_key = env
        .state()
        .join("archive")
        .join(format!("ca-{}-aborted-key.pem", tag(&new_fp)));
    assert_eq!(fingerprint(&env, &archived), new_fp);
    assert_eq!(
        fs::read(&archived_key).unwrap(),
        next_key,
        "archived as stored"
    );
    assert_eq!((mode(&archived), mode(&archived_key)), (0o444, 0o400));
    assert_eq!(fingerprint(&env, &env.state().join("ca.pem")), old_fp);
    assert_eq!(status(&env)["phase"], "none");
    assert_verifies(&env, &daemon, &client);
    assert_verifies(&env, &daemon, &bob);
    assert_status_clean(&env);

    // A new rotation may begin, and run to its end.
    for phase in ["begin", "reissue", "finish"] {
        env.ok(&["ca", "rotate", phase]);
        assert_verifies(&env, &daemon, &client);
    }
    let newest = fingerprint(&env, &env.state().join("ca.pem"));
    assert!(newest != old_fp && newest != new_fp);
    assert_eq!(common::names(&env.state().join("archive")).len(), 4);
}

#[test]
fn abort_after_reissue_reissues_every_certificate_from_the_old_ca() {
    let env = Env::new();
    let (daemon, client, bob) = (env.path("daemon"), env.path("client"), env.path("bob"));
    env.bootstrap(&daemon, &client, &[]);
    env.issue_client("bob", &bob, &[]);
    let old_ca = env.path("old-ca.pem");
    fs::copy(env.state().join("ca.pem"), &old_ca).unwrap();
    let old_subject = subject(&env, &old_ca);
    env.ok(&["ca", "rotate", "begin"]);
    // Issued during the rotation: from the new CA.
    let carol = env.path("carol");
    env.issue_client("carol", &carol, &[]);
    env.ok(&["ca", "rotate", "reissue"]);
    let new_key = fs::read(client.join("key.pem")).unwrap();
    let before: Vec<Value> = active(&env);

    let doc = json(&env.ok(&["--json", "ca", "rotate", "abort"]));
    assert_eq!(doc["schema"], "dockpki/ca-rotate-abort/v1");
    assert_eq!(doc["reissued"], 4, "{doc}");
    assert_eq!(doc["not_reissued"], serde_json::json!([]), "{doc}");
    assert_eq!(doc["skipped_layouts"], serde_json::json!([]), "{doc}");
    assert_eq!(doc["restart"][0]["dir"], s(&daemon));
    assert_eq!(doc["restart"].as_array().unwrap().len(), 1);
    assert_eq!(doc["ca"]["subject"], old_subject.as_str());
    assert_eq!(doc["archived_files"].as_array().unwrap().len(), 2, "{doc}");

    for (dir, cert, purpose) in [
        (&daemon, "server-cert.pem", "sslserver"),
        (&client, "cert.pem", "sslclient"),
        (&bob, "cert.pem", "sslclient"),
        (&carol, "cert.pem", "sslclient"),
    ] {
        assert_eq!(
            issuer(&env, &dir.join(cert)),
            old_subject,
            "{}",
            dir.display()
        );
        // Against the old CA alone, as a copy outside dockpki would hold it.
        common::assert_openssl_accepts(&old_ca, &dir.join(cert), purpose);
        assert_eq!(
            fs::read(dir.join("ca.pem")).unwrap(),
            fs::read(&old_ca).unwrap()
        );
    }
    assert_ne!(
        fs::read(client.join("key.pem")).unwrap(),
        new_key,
        "fresh keys"
    );
    // Same names and lifetimes, from the old CA.
    let after = active(&env);
    assert_eq!(after.len(), before.len());
    let old_fp = fingerprint(&env, &old_ca);
    for (a, b) in after.iter().zip(&before) {
        assert_eq!(a["ca_sha256"], old_fp.as_str(), "{a}");
        assert_eq!(a["common_name"], b["common_name"]);
        assert_eq!(a["installed"], b["installed"]);
        let days = |r: &Value| {
            (common::time_of(&r["not_after"]) - common::time_of(&r["not_before"])).whole_days()
        };
        assert_eq!(days(a), days(b), "{a}");
    }
    assert_verifies(&env, &daemon, &client);
    assert_verifies(&env, &daemon, &bob);
    assert_verifies(&env, &daemon, &carol);
    assert_status_clean(&env);
    assert_eq!(status(&env)["phase"], "none");
    env.ok(&["ca", "rotate", "begin"]);
}

#[test]
fn abort_lists_a_layout_it_cannot_write_and_the_certificate_left_in_it() {
    let env = Env::new();
    let (daemon, client, bob) = (env.path("daemon"), env.path("client"), env.path("bob"));
    env.bootstrap(&daemon, &client, &[]);
    env.issue_client("bob", &bob, &[]);
    env.ok(&["ca", "rotate", "begin"]);
    env.ok(&["ca", "rotate", "reissue"]);
    // bob made his directory writable by anyone: dockpki writes no key there.
    common::chmod(&bob, 0o777);
    let bob_files = snapshot(&bob);

    let text = stdout(&env.ok(&["ca", "rotate", "abort"]));
    assert!(
        text.contains("not re-issued: client \"bob\"") && text.contains("issue it again"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "not updated (cannot be written): {}",
            bob.display()
        )),
        "{text}"
    );
    common::assert_unchanged(&bob_files, &snapshot(&bob), "bob's layout");
    assert_verifies(&env, &daemon, &client);
    assert_eq!(status(&env)["phase"], "none");
}

#[test]
fn abort_without_a_rotation_is_refused_with_advice_and_writes_nothing() {
    let env = Env::new();
    env.bootstrap(&env.path("daemon"), &env.path("client"), &[]);
    let line = env.assert_refused(&["ca", "rotate", "abort"], "no CA rotation in progress");
    assert!(line.contains("nothing to abort"), "{line}");
    assert!(line.contains(&env.hint("ca rotate begin")), "{line}");
    // After a finished rotation there is nothing to abort either.
    for phase in ["begin", "reissue", "finish"] {
        env.ok(&["ca", "rotate", phase]);
    }
    env.assert_refused(&["ca", "rotate", "abort"], "nothing to abort");
}

#[test]
fn begin_refuses_a_new_ca_that_cannot_outlive_the_certificates_it_must_reissue() {
    let env = Env::new();
    let (daemon, client) = (env.path("daemon"), env.path("client"));
    // The server certificate (1y) is the longest.
    env.bootstrap(&daemon, &client, &[]);
    // 365d is exactly the server certificate's lifetime (shown as 1y): a day short.
    for (short, shown) in [("30d", "30d"), ("1h", "1h"), ("365d", "1y")] {
        let line = env.assert_refused(&["ca", "rotate", "begin", "--validity", short], "366d");
        assert!(
            line.contains(&format!("a new CA valid {shown} could not re-issue")),
            "{line}"
        );
        assert!(line.contains("server \"localhost\""), "{line}");
        assert!(line.ends_with("pass --validity 366d or longer"), "{line}");
    }
    // The minimum named works, through to the end.
    env.ok(&["ca", "rotate", "begin", "--validity", "366d"]);
    env.ok(&["ca", "rotate", "reissue"]);
    env.ok(&["ca", "rotate", "finish"]);
    assert_verifies(&env, &daemon, &client);
}

#[test]
fn the_advice_of_a_rotation_in_progress_offers_abort() {
    let env = Env::new();
    env.ca_init(&[]);
    env.ok(&["ca", "rotate", "begin"]);
    let line = env.assert_refused(&["ca", "rotate", "begin"], "already in progress");
    let abort = format!("`{}`", env.hint("ca rotate abort"));
    assert!(line.contains(&format!("or undo it with {abort}")), "{line}");
    let line = env.assert_refused(&["ca", "init", "--force"], "a CA rotation is in progress");
    assert!(line.contains(&abort), "{line}");
}
