//! `dockpki renew`: what is due gets new certificates (and keys) in every layout, as one update;
//! nothing due means nothing happens.

mod common;

use std::path::{Path, PathBuf};

use common::{
    assert_unchanged, inventory, is_timestamped_backup, json, names, read, s, snapshot, stdout, Env,
};
use serde_json::Value;

fn bootstrapped() -> (Env, PathBuf, PathBuf) {
    let env = Env::new();
    let (daemon, client) = (env.path("daemon"), env.path("client"));
    env.bootstrap(&daemon, &client, &[]);
    (env, daemon, client)
}

fn verify_ok(env: &Env, daemon: &Path, client: &Path) {
    env.ok(&[
        "verify",
        "--daemon-dir",
        s(daemon),
        "--client-dir",
        s(client),
    ]);
}

fn records(env: &Env, kind: &str) -> Vec<Value> {
    inventory(env)["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == kind)
        .cloned()
        .collect()
}

#[test]
fn nothing_due_prints_nothing_changes_nothing_and_exits_0() {
    let (env, _, _) = bootstrapped();
    let before = snapshot(env.root());
    let out = env.ok(&["renew"]);
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    let out = env.ok(&["renew", "--within", "30d"]);
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    assert_unchanged(&before, &snapshot(env.root()), "renew with nothing due");
    let doc = json(&env.ok(&["--json", "renew"]));
    assert_eq!(
        doc,
        serde_json::json!({ "schema": "dockpki/renew/v1", "renewed": [], "restart": [], "skipped": [], "contexts_fed": [] })
    );
}

#[test]
fn within_100d_renews_the_90_day_client_only() {
    let (env, daemon, client) = bootstrapped();
    let server_before = read(&daemon.join("server-cert.pem"));
    let client_before = read(&client.join("cert.pem"));
    // Freshly issued, nothing is due even within 100 days (it would be re-keyed on every run).
    let before = snapshot(env.root());
    let out = env.ok(&["renew", "--within", "100d"]);
    assert!(out.stdout.is_empty(), "{out:?}");
    assert_unchanged(&before, &snapshot(env.root()), "renew right after issue");
    // A month on, the 90-day client is past the first third of its life and due within 100 days.
    common::age_certificates(&env, "any", 31);
    let out = env.ok(&["renew", "--within", "100d"]);
    let text = stdout(&out);
    assert!(text.contains("renewed client certificate"), "{text}");
    assert!(!text.contains("server"), "{text}");
    assert!(
        !text.contains("restart dockerd"),
        "no daemon certificate changed: {text}"
    );
    assert_eq!(read(&daemon.join("server-cert.pem")), server_before);
    assert_ne!(read(&client.join("cert.pem")), client_before);
    verify_ok(&env, &daemon, &client);
    // Renewed: no longer due, so a second run does nothing.
    let before = snapshot(env.root());
    let again = env.ok(&["renew", "--within", "30d"]);
    assert!(again.stdout.is_empty());
    assert_unchanged(&before, &snapshot(env.root()), "second renew");
}

#[test]
fn all_renews_both_with_new_serials_and_new_keys_and_supersedes_the_old_records() {
    let (env, daemon, client) = bootstrapped();
    let old: Vec<(PathBuf, Vec<u8>, Vec<u8>)> = [
        (&daemon, "server-cert.pem", "server-key.pem"),
        (&client, "cert.pem", "key.pem"),
    ]
    .iter()
    .map(|(d, c, k)| (d.to_path_buf(), read(&d.join(c)), read(&d.join(k))))
    .collect();
    let old_serials: Vec<String> = ["server", "client"]
        .iter()
        .map(|k| records(&env, k)[0]["serial"].as_str().unwrap().to_string())
        .collect();

    let doc = json(&env.ok(&["--json", "renew", "--all"]));
    let renewed = doc["renewed"].as_array().unwrap();
    assert_eq!(renewed.len(), 2);

    for ((dir, old_cert, old_key), (cert, key)) in old.iter().zip([
        ("server-cert.pem", "server-key.pem"),
        ("cert.pem", "key.pem"),
    ]) {
        assert_ne!(&read(&dir.join(cert)), old_cert, "{cert} is new");
        assert_ne!(&read(&dir.join(key)), old_key, "{key} is new");
        // The replaced files are kept, like --force does.
        for (name, contents) in [(cert, old_cert), (key, old_key)] {
            let backups: Vec<String> = names(dir)
                .into_iter()
                .filter(|n| is_timestamped_backup(n, name))
                .collect();
            assert_eq!(backups.len(), 1, "{name}: {backups:?}");
            assert_eq!(&read(&dir.join(&backups[0])), contents);
        }
    }
    for (kind, old_serial) in ["server", "client"].iter().zip(&old_serials) {
        let recs = records(&env, kind);
        assert_eq!(recs.len(), 2, "{kind}: old and new records");
        assert_eq!(recs[0]["serial"], old_serial.as_str());
        assert_eq!(recs[0]["status"], "superseded");
        assert_eq!(recs[1]["status"], "active");
        assert_ne!(recs[1]["serial"], old_serial.as_str());
        // Same names and lifetime as before.
        assert_eq!(recs[1]["common_name"], recs[0]["common_name"]);
        assert_eq!(recs[1]["sans"], recs[0]["sans"]);
        let r = renewed.iter().find(|r| r["kind"] == *kind).unwrap();
        assert_eq!(r["old_serial"], old_serial.as_str());
        assert_eq!(r["serial"], recs[1]["serial"]);
        assert_eq!(r["key"], "new");
    }
    assert_eq!(doc["restart"][0]["dir"], daemon.to_str().unwrap(), "{doc}");
    verify_ok(&env, &daemon, &client);
    env.ok(&["status"]);
}

#[test]
fn reuse_key_keeps_key_bytes_and_replaces_the_certificate() {
    let (env, daemon, client) = bootstrapped();
    let keys = [
        read(&daemon.join("server-key.pem")),
        read(&client.join("key.pem")),
    ];
    let certs = [
        read(&daemon.join("server-cert.pem")),
        read(&client.join("cert.pem")),
    ];
    let doc = json(&env.ok(&["--json", "renew", "--all", "--reuse-key"]));
    assert_eq!(doc["renewed"][0]["key"], "reused");
    assert_eq!(read(&daemon.join("server-key.pem")), keys[0]);
    assert_eq!(read(&client.join("key.pem")), keys[1]);
    assert_ne!(read(&daemon.join("server-cert.pem")), certs[0]);
    assert_ne!(read(&client.join("cert.pem")), certs[1]);
    // The key did not change, so there is nothing to back up.
    assert!(names(&client).iter().all(|n| !n.starts_with("key.pem.bak")));
    verify_ok(&env, &daemon, &client);
}

#[test]
fn renewing_the_server_prints_the_restart_hint_for_its_daemon_dir() {
    let (env, daemon, client) = bootstrapped();
    let out = env.ok(&["renew", "--name", "localhost"]);
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "restart dockerd using {} (it does not reload certificates on SIGHUP)",
            daemon.display()
        )),
        "{text}"
    );
    assert!(!text.contains("client certificate"), "{text}");
    verify_ok(&env, &daemon, &client);
}

#[test]
fn serial_selects_one_certificate_by_its_short_prefix() {
    let (env, daemon, client) = bootstrapped();
    let serial = records(&env, "client")[0]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    let server_before = read(&daemon.join("server-cert.pem"));
    let doc = json(&env.ok(&["--json", "renew", "--serial", &serial[..8].to_uppercase()]));
    assert_eq!(doc["renewed"].as_array().unwrap().len(), 1);
    assert_eq!(doc["renewed"][0]["old_serial"], serial.as_str());
    assert_eq!(read(&daemon.join("server-cert.pem")), server_before);
    verify_ok(&env, &daemon, &client);
}

#[test]
fn unknown_name_or_serial_is_a_one_line_error_that_writes_nothing() {
    let (env, _, _) = bootstrapped();
    env.assert_refused(
        &["renew", "--name", "nobody"],
        "no active certificate has the common name",
    );
    env.assert_refused(
        &["renew", "--serial", "ffffffff"],
        "no active certificate has the serial",
    );
    // A superseded certificate is not renewed either.
    let old = records(&env, "client")[0]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    env.ok(&["renew", "--all"]);
    env.assert_refused(&["renew", "--serial", &old], "no active certificate");
}

#[test]
fn a_successor_that_would_outlive_the_ca_fails_and_writes_nothing() {
    let (env, _, _) = bootstrapped();
    // A certificate issued with a lifetime longer than what is left of the CA (as happens when
    // the CA nears its end): its successor, with the same lifetime from now, would outlive the
    // CA. The inventory's validity is what renew re-issues with, so backdate it there.
    let path = env.state().join("inventory.json");
    let mut inv = inventory(&env);
    for c in inv["certificates"].as_array_mut().unwrap() {
        if c["kind"] == "client" {
            c["not_before"] = "2000-01-01T00:00:00Z".into();
        }
    }
    common::overwrite(&path, serde_json::to_vec_pretty(&inv).unwrap().as_slice());
    let line = env.assert_refused(&["renew", "--all"], "rotate the CA first");
    assert!(line.contains("cannot renew client certificate"), "{line}");
    assert!(line.contains(&env.hint("ca rotate begin")), "{line}");
    assert!(!env.state().join("journal.json").exists());
}

#[test]
fn renew_selection_flags_conflict() {
    let (env, _, _) = bootstrapped();
    for args in [
        vec!["renew", "--all", "--name", "x"],
        vec!["renew", "--within", "10d", "--all"],
        vec!["renew", "--serial", "ab", "--name", "x"],
    ] {
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    }
}

#[test]
fn help_of_status_renew_revoke_and_crl_shows_examples() {
    let env = Env::new();
    for sub in ["status", "renew", "revoke", "crl"] {
        let out = env.bare().args([sub, "--help"]).output().unwrap();
        common::assert_success(&out);
        let text = stdout(&out);
        assert!(
            text.contains("Examples") && text.contains("Usage: dockpki"),
            "{sub}: {text}"
        );
    }
}

#[test]
fn renew_by_serial_reinstalls_a_deleted_certificate_as_status_advises() {
    let (env, daemon, client) = bootstrapped();
    std::fs::remove_file(daemon.join("server-cert.pem")).unwrap();
    let status = env.run(&["status"]);
    assert_eq!(status.status.code(), Some(4), "missing is broken now");
    let advice = String::from_utf8_lossy(&status.stderr).into_owned();
    let command = advice
        .split("reinstall a new one with: ")
        .nth(1)
        .and_then(|rest| rest.split(" (").next())
        .unwrap_or_else(|| panic!("no advice in {advice}"));
    assert!(
        command.starts_with(&env.hint("renew --serial ")),
        "{command}"
    );
    // The advice names --state itself: run as printed.
    common::assert_success(
        &env.bare()
            .args(command.split(' ').skip(1))
            .output()
            .unwrap(),
    );
    env.ok(&["status"]);
    verify_ok(&env, &daemon, &client);
}

/// A layout `renew` cannot write (bob made his group-writable) is left as it was, and the
/// inventory keeps its certificate as the active one: `status` shows it as it is, due as
/// before (not `replaced` by a successor that was never installed), and once bob puts his
/// directory right the next renewal renews it.
#[test]
fn a_layout_renew_left_out_stays_active_and_due_in_status_and_is_renewed_once_fixed() {
    let (env, daemon, client) = bootstrapped();
    let bob = env.path("bob");
    env.issue_client("bob", &bob, &[]);
    // 70 days on, both 90-day clients are due.
    common::age_certificates(&env, "client", 70);
    let serial_of = |dir: &Path| {
        let doc = json(&env.run(&["--json", "status"]));
        doc["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| {
                c["installed"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|i| i["dir"] == s(dir))
            })
            .cloned()
            .collect::<Vec<Value>>()
    };
    let bobs_before = serial_of(&bob);
    assert_eq!(bobs_before.len(), 1, "{bobs_before:?}");
    assert_eq!(bobs_before[0]["state"], "due");
    let bobs_files = [read(&bob.join("cert.pem")), read(&bob.join("key.pem"))];
    let client_before = read(&client.join("cert.pem"));
    common::chmod(&bob, 0o770);

    let out = env.run(&["--json", "renew"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let doc = json(&out);
    assert_eq!(doc["skipped"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(doc["skipped"][0]["dir"], s(&bob), "{doc}");
    let renewed = doc["renewed"].as_array().unwrap();
    assert_eq!(renewed.len(), 1, "only alice's client: {doc}");
    assert_eq!(renewed[0]["installed"][0]["dir"], s(&client), "{doc}");
    assert_ne!(read(&client.join("cert.pem")), client_before);
    assert_eq!(
        [read(&bob.join("cert.pem")), read(&bob.join("key.pem"))],
        bobs_files,
        "bob's layout is left as it was"
    );
    // status: bob's old certificate is still the active one, as due as before; the inventory
    // records no certificate for bob's directory that is not in it.
    let bobs = serial_of(&bob);
    assert_eq!(bobs.len(), 1, "{bobs:?}");
    assert_eq!(bobs[0]["serial"], bobs_before[0]["serial"]);
    assert_eq!(bobs[0]["state"], "due", "{bobs:?}");
    assert_eq!(bobs[0]["installed"][0]["state"], "ok", "{bobs:?}");
    let renewed_client = serial_of(&client);
    assert_eq!(renewed_client[0]["state"], "ok", "{renewed_client:?}");
    assert_eq!(
        env.run(&["status"]).status.code(),
        Some(3),
        "bob is still due"
    );

    // bob puts his directory right: the next renewal renews it, and nothing is due after.
    common::chmod(&bob, 0o700);
    let doc = json(&env.ok(&["--json", "renew", "--all"]));
    assert_eq!(doc["skipped"], serde_json::json!([]), "{doc}");
    assert!(
        doc["renewed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["old_serial"] == bobs_before[0]["serial"]),
        "{doc}"
    );
    assert_ne!(read(&bob.join("cert.pem")), bobs_files[0]);
    let bobs = serial_of(&bob);
    assert_eq!(bobs.len(), 1, "{bobs:?}");
    assert_eq!(bobs[0]["state"], "ok", "{bobs:?}");
    env.ok(&["status"]);
    verify_ok(&env, &daemon, &client);
    env.ok(&[
        "verify",
        "--daemon-dir",
        s(&daemon),
        "--client-dir",
        s(&bob),
    ]);
}

/// `--within 0d` is a window of nothing ahead: it renews only what has already expired.
#[test]
fn within_0d_renews_only_expired_certificates() {
    let (env, daemon, client) = bootstrapped();
    let before = common::snapshot(env.root());
    let out = env.ok(&["renew", "--within", "0d"]);
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    common::assert_unchanged(&before, &common::snapshot(env.root()), "renew --within 0d");
    env.ok(&["status", "--within", "0d"]);

    // Move the client's recorded validity into the past (same 91-day span).
    let path = env.state().join("inventory.json");
    let mut inv = common::inventory(&env);
    for c in inv["certificates"].as_array_mut().unwrap() {
        if c["kind"] == "client" {
            c["not_before"] = "2000-01-01T00:00:00Z".into();
            c["not_after"] = "2000-04-01T00:05:00Z".into();
        }
    }
    common::overwrite(&path, &serde_json::to_vec_pretty(&inv).unwrap());
    let doc = json(&env.ok(&["--json", "renew", "--within", "0d"]));
    let renewed = doc["renewed"].as_array().unwrap();
    assert_eq!(renewed.len(), 1, "{doc}");
    assert_eq!(renewed[0]["kind"], "client");
    verify_ok(&env, &daemon, &client);
}

/// A key group or others could read may have been copied: `--reuse-key` refuses it (naming the
/// file and both ways out) and writes nothing; a plain renewal replaces it with a new 0400 key.
#[test]
fn reuse_key_refuses_a_key_others_can_read_and_a_fresh_renewal_leaves_0400() {
    let (env, _, client) = bootstrapped();
    let key = client.join("key.pem");
    common::chmod(&key, 0o644);
    let line = env.assert_refused(
        &["renew", "--name", common::USER, "--reuse-key"],
        "refusing to reuse the key",
    );
    assert!(
        line.contains(s(&key))
            && line.contains("mode 0644")
            && line.contains("renew without --reuse-key")
            && line.contains("chmod 400"),
        "{line}"
    );
    let old = read(&key);
    env.ok(&["renew", "--name", common::USER]);
    assert_ne!(read(&key), old, "a new key");
    assert_eq!(common::mode(&key), 0o400);
}

/// An owner-only key that is not 0400 is reused, and ends up 0400 like every key dockpki
/// writes, although its contents did not change.
#[test]
fn reuse_key_leaves_the_reused_key_0400() {
    let (env, _, client) = bootstrapped();
    let key = client.join("key.pem");
    common::chmod(&key, 0o600);
    let old = read(&key);
    env.ok(&["renew", "--name", common::USER, "--reuse-key"]);
    assert_eq!(read(&key), old, "the same key");
    assert_eq!(common::mode(&key), 0o400);
}

/// Issue 10, item 1: a certificate whose lifetime is no longer than the renewal window is not
/// renewed again on every run. Issued for 7 days, `renew` twice renews nothing and `status` is
/// good; issuing it says when it becomes due and that the timer must run more often.
#[test]
fn a_short_lived_certificate_settles_a_second_renew_finds_nothing_due() {
    let env = Env::new();
    env.ca_init(&[]);
    let client = env.path("client");
    let out = env.issue_client("bob", &client, &["--validity", "7d"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("due for renewal 2d 8h before it expires")
            && stderr.contains(&env.hint("renew")),
        "{stderr}"
    );
    let before = snapshot(env.root());
    for _ in 0..2 {
        let out = env.ok(&["renew"]);
        assert!(out.stdout.is_empty(), "{out:?}");
    }
    assert_unchanged(
        &before,
        &snapshot(env.root()),
        "renew of a fresh 7-day certificate",
    );
    assert_eq!(env.run(&["status"]).status.code(), Some(0));
    // Five days on, 2 days are left: due by the default rule (a third of 7 days), renewed once,
    // and the renewed one settles again.
    common::age_certificates(&env, "client", 5);
    assert_eq!(env.run(&["status"]).status.code(), Some(3));
    let out = env.ok(&["renew"]);
    assert!(
        stdout(&out).contains("renewed client certificate"),
        "{out:?}"
    );
    let before = snapshot(env.root());
    env.ok(&["renew"]);
    assert_unchanged(
        &before,
        &snapshot(env.root()),
        "renew right after a renewal",
    );
    assert_eq!(env.run(&["status"]).status.code(), Some(0));
    // A 90-day certificate issues without the note.
    let out = env.issue_client("carol", &env.path("carol"), &[]);
    assert!(out.stderr.is_empty(), "{out:?}");
}

/// Whether openssl is here: the checks of the new dates use it.
fn openssl() -> bool {
    common::prerequisite(
        std::process::Command::new("openssl")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "openssl",
    )
}

/// Whether `cert` is still valid `days` days from now, as `openssl x509 -checkend` judges.
fn valid_in_days(cert: &Path, days: i64) -> bool {
    std::process::Command::new("openssl")
        .args(["x509", "-noout", "-checkend"])
        .arg((days * 86_400).to_string())
        .arg("-in")
        .arg(cert)
        .output()
        .expect("run openssl")
        .status
        .success()
}

#[test]
fn validity_gives_every_renewed_certificate_that_lifetime_local_and_remote() {
    if !openssl() {
        return;
    }
    let (env, daemon, _) = bootstrapped();
    let host = env.path("host");
    env.ok(&["request", "client", "--name", "ci", "--dir", s(&host)]);
    let signed = env.path("signed");
    env.ok(&["sign", s(&host.join("client.csr")), "--out", s(&signed)]);
    let doc = json(&env.ok(&["--json", "renew", "--all", "--validity", "10d"]));
    assert_eq!(doc["renewed"].as_array().unwrap().len(), 3, "{doc}");
    for cert in [daemon.join("server-cert.pem"), signed.join("cert.pem")] {
        assert!(valid_in_days(&cert, 9), "{}", cert.display());
        assert!(!valid_in_days(&cert, 11), "{}", cert.display());
    }
}

#[test]
fn validity_beyond_the_ca_is_refused_in_one_line_and_nothing_is_written() {
    let (env, _, _) = bootstrapped();
    let line = env.assert_refused(
        &["renew", "--all", "--validity", "20y"],
        "with a validity of",
    );
    assert!(line.contains("after its CA"), "{line}");
    assert!(line.contains("shorter --validity"), "{line}");
}
