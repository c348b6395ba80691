//! `dockpki status`: expiry and drift of every active certificate; exit 3 when a renewal is due,
//! 4 when anything is broken now (expired, missing, replaced, another CA).

mod common;

use std::fs;

use common::{json, overwrite, read, stdout, Env};

fn bootstrapped() -> (Env, std::path::PathBuf, std::path::PathBuf) {
    let env = Env::new();
    let (daemon, client) = (env.path("daemon"), env.path("client"));
    env.bootstrap(&daemon, &client, &[]);
    (env, daemon, client)
}

#[test]
fn fresh_bootstrap_lists_ca_and_both_leaves_ok_and_exits_0() {
    let (env, daemon, client) = bootstrapped();
    let out = env.ok(&["status"]);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "header, CA, server, client:\n{text}");
    assert!(lines[0].starts_with("CERTIFICATE") && lines[0].contains("DAYS LEFT"));
    assert!(
        lines[1].starts_with("ca ") && lines[1].contains(" ok "),
        "{text}"
    );
    let server = lines.iter().find(|l| l.starts_with("server")).expect(&text);
    let client_line = lines.iter().find(|l| l.starts_with("client")).expect(&text);
    assert!(server.contains(" ok ") && server.ends_with(&*daemon.to_string_lossy()));
    assert!(client_line.contains(" ok ") && client_line.ends_with(&*client.to_string_lossy()));
    assert!(
        client_line.contains(" 89 "),
        "90-day client has 89 full days: {client_line}"
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn within_100d_reports_the_90_day_client_as_due_and_exits_3() {
    let (env, _, _) = bootstrapped();
    // Fresh certificates are never due; a month on the 90-day client is.
    assert_eq!(
        env.run(&["status", "--within", "100d"]).status.code(),
        Some(0)
    );
    common::age_certificates(&env, "any", 31);
    let out = env.run(&["status", "--within", "100d"]);
    assert_eq!(out.status.code(), Some(3), "due is a change pending");
    let text = stdout(&out);
    let client = text.lines().find(|l| l.starts_with("client")).unwrap();
    let server = text.lines().find(|l| l.starts_with("server")).unwrap();
    assert!(client.contains(" due "), "{client}");
    assert!(
        server.contains(" ok "),
        "the 1-year server is not due: {server}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&env.hint("renew --within 100d")),
        "{stderr}"
    );
}

#[test]
fn a_certificate_replaced_by_hand_is_reported_replaced_and_exits_4() {
    let (env, daemon, client) = bootstrapped();
    // Another valid certificate (the server's) where the client's should be.
    overwrite(
        &client.join("cert.pem"),
        &read(&daemon.join("server-cert.pem")),
    );
    let out = env.run(&["status"]);
    assert_eq!(out.status.code(), Some(4));
    let text = stdout(&out);
    let line = text.lines().find(|l| l.starts_with("client")).unwrap();
    assert!(line.contains(" replaced "), "{line}");
    assert!(line.contains(&format!("{} (replaced)", client.display())));
    let doc = json(&env.run(&["--json", "status"]));
    let c = &doc["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "client")
        .unwrap()
        .clone();
    assert_eq!(c["installed"][0]["state"], "replaced");
}

#[test]
fn a_deleted_certificate_is_reported_missing_and_exits_4() {
    let (env, daemon, _) = bootstrapped();
    fs::remove_file(daemon.join("server-cert.pem")).unwrap();
    let out = env.run(&["status"]);
    assert_eq!(out.status.code(), Some(4));
    let text = stdout(&out);
    let line = text.lines().find(|l| l.starts_with("server")).unwrap();
    assert!(
        line.contains(" missing ") && line.contains("(missing)"),
        "{line}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&env.hint("renew --serial")), "{stderr}");
}

#[test]
fn json_has_ok_cas_and_certificates_with_days_left_and_state_per_layout() {
    let (env, daemon, client) = bootstrapped();
    let doc = json(&env.ok(&["--json", "status"]));
    assert_eq!(doc["ok"], true);
    let cas = doc["cas"].as_array().unwrap();
    assert_eq!(cas.len(), 1);
    assert!(cas[0]["days_left"].as_i64().unwrap() > 3600);
    assert_eq!(cas[0]["state"], "ok");
    let certs = doc["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 2);
    for (kind, dir, days) in [("server", &daemon, 364), ("client", &client, 89)] {
        let c = certs.iter().find(|c| c["kind"] == kind).unwrap();
        assert_eq!(c["days_left"], days, "{c}");
        assert_eq!(c["state"], "ok");
        assert_eq!(c["serial"].as_str().unwrap().len(), 32);
        assert_eq!(c["installed"].as_array().unwrap().len(), 1);
        assert_eq!(c["installed"][0]["dir"], dir.to_str().unwrap());
        assert_eq!(c["installed"][0]["state"], "ok");
    }
    common::age_certificates(&env, "any", 31);
    let due = json(&env.run(&["--json", "status", "--within", "100d"]));
    assert_eq!(due["ok"], false);
    let c = due["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "client")
        .unwrap()
        .clone();
    assert_eq!(c["state"], "due");
}

#[test]
fn superseded_certificates_are_not_listed() {
    let (env, _, client) = bootstrapped();
    env.issue_client("bob", &client, &["--force"]);
    let doc = json(&env.ok(&["--json", "status"]));
    let names: Vec<&str> = doc["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "client")
        .map(|c| c["common_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bob"]);
}

#[test]
fn status_without_a_ca_is_a_one_line_error() {
    let env = Env::new();
    env.assert_refused(&["status"], &env.hint("ca init"));
}

#[test]
fn a_bad_within_is_a_one_line_error() {
    let (env, _, _) = bootstrapped();
    env.assert_refused(
        &["status", "--within", "soon"],
        "invalid window \"soon\" for --within",
    );
}

#[test]
fn an_expired_certificate_is_reported_expired_and_plain_renew_replaces_it() {
    let (env, daemon, client) = bootstrapped();
    // The inventory's dates are what status judges; move the client's validity into the past
    // (same 91-day span, so its successor has a usable lifetime).
    let path = env.state().join("inventory.json");
    let mut inv = common::inventory(&env);
    for c in inv["certificates"].as_array_mut().unwrap() {
        if c["kind"] == "client" {
            c["not_before"] = "2000-01-01T00:00:00Z".into();
            c["not_after"] = "2000-04-01T00:05:00Z".into();
        }
    }
    overwrite(&path, &serde_json::to_vec_pretty(&inv).unwrap());
    let out = env.run(&["status"]);
    assert_eq!(out.status.code(), Some(4));
    let text = stdout(&out);
    let line = text.lines().find(|l| l.starts_with("client")).unwrap();
    assert!(
        line.contains(" expired ") && line.contains("(expired)"),
        "{line}"
    );
    let doc = json(&env.run(&["--json", "status"]));
    let c = doc["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "client")
        .unwrap()
        .clone();
    assert!(c["days_left"].as_i64().unwrap() < 0);
    assert_eq!(c["installed"][0]["state"], "expired");

    let renewed = stdout(&env.ok(&["renew"]));
    assert!(renewed.contains("renewed client certificate"), "{renewed}");
    env.ok(&["status"]);
    env.ok(&[
        "verify",
        "--daemon-dir",
        common::s(&daemon),
        "--client-dir",
        common::s(&client),
    ]);
}

#[test]
fn during_a_ca_rotation_status_lists_the_old_and_the_new_ca() {
    let (env, _, _) = bootstrapped();
    let old_ca = env.inspect_cert(&env.state().join("ca.pem"));
    env.ok(&["ca", "rotate", "begin"]);
    let doc = json(&env.ok(&["--json", "status"]));
    let cas = doc["cas"].as_array().expect("cas");
    assert_eq!(cas.len(), 2, "{doc}");
    assert_eq!(cas[0]["serial"], old_ca["serial"]);
    assert_ne!(cas[1]["serial"], old_ca["serial"]);
    assert!(
        cas[1]["path"].as_str().unwrap().ends_with("ca-next.pem"),
        "{doc}"
    );
}

/// Puts another CA (certificate and key) in place of the state's, as a hand-copied or restored
/// `ca.pem` would.
fn replace_state_ca(env: &Env) {
    let other = Env::new();
    other.ca_init(&[]);
    for name in ["ca.pem", "ca-key.pem"] {
        overwrite(&env.state().join(name), &read(&other.state().join(name)));
    }
}

#[test]
fn a_state_ca_replaced_by_another_ca_is_a_ca_mismatch_with_a_fix_and_exits_4() {
    let (env, _, _) = bootstrapped();
    replace_state_ca(&env);
    let out = env.run(&["status"]);
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    let text = stdout(&out);
    for kind in ["server", "client"] {
        let line = text.lines().find(|l| l.starts_with(kind)).expect(&text);
        assert!(line.contains(" ca-mismatch "), "{line}");
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.lines().count(),
        2,
        "one line per certificate: {stderr}"
    );
    for line in stderr.lines() {
        assert!(
            line.contains("not by the state's CA") && line.contains(&env.hint("renew --serial")),
            "{line}"
        );
    }
    let doc = json(&env.run(&["--json", "status"]));
    assert_eq!(doc["ok"], false, "{doc}");
    for c in doc["certificates"].as_array().unwrap() {
        assert_eq!(c["state"], "ca-mismatch", "{c}");
        assert_eq!(c["issued_by"]["state_ca"], false, "{c}");
        assert_eq!(c["installed"][0]["state"], "ca-mismatch", "{c}");
    }
    // The advised fix, when the new CA is meant: reissue from it.
    env.ok(&["renew", "--all"]);
    env.ok(&["status"]);
}

#[test]
fn a_layout_whose_ca_pem_lacks_the_state_ca_is_a_ca_mismatch_until_renewed() {
    let (env, daemon, client) = bootstrapped();
    let other = Env::new();
    other.ca_init(&[]);
    overwrite(&client.join("ca.pem"), &read(&other.state().join("ca.pem")));
    let out = env.run(&["status"]);
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        stderr.contains("does not hold the state's CA")
            && stderr.contains(&*client.to_string_lossy())
            && !stderr.contains(&*daemon.to_string_lossy()),
        "{stderr}"
    );
    let doc = json(&env.run(&["--json", "status"]));
    let row = |kind: &str| {
        doc["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == kind)
            .unwrap()
            .clone()
    };
    assert_eq!(row("client")["state"], "ca-mismatch");
    assert_eq!(row("client")["issued_by"]["state_ca"], true);
    assert_eq!(row("client")["installed"][0]["state"], "ca-mismatch");
    assert_eq!(row("server")["state"], "ok");
    let serial = row("client")["serial"].as_str().unwrap().to_string();
    env.ok(&["renew", "--serial", &serial]);
    env.ok(&["status"]);
}

#[test]
fn a_serial_recorded_twice_is_reported_as_a_damaged_inventory_and_exits_4() {
    let (env, _, _) = bootstrapped();
    let path = env.state().join("inventory.json");
    let mut inv = common::inventory(&env);
    let certs = inv["certificates"].as_array_mut().unwrap();
    let copy = certs[1].clone();
    let serial = copy["serial"].as_str().unwrap().to_string();
    certs.push(copy);
    overwrite(&path, &serde_json::to_vec_pretty(&inv).unwrap());
    let out = env.run(&["status"]);
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is damaged")
            && stderr.contains(&format!("serial {serial} is recorded 2 times")),
        "{stderr}"
    );
    let doc = json(&env.run(&["--json", "status"]));
    assert_eq!(doc["ok"], false);
    assert_eq!(
        doc["duplicate_serials"],
        serde_json::json!([{ "serial": serial, "records": 2 }])
    );
}

#[test]
fn during_every_phase_of_a_ca_rotation_status_sees_no_ca_mismatch() {
    let (env, _, _) = bootstrapped();
    for phase in [
        &["ca", "rotate", "begin"][..],
        &["ca", "rotate", "reissue"],
        &["ca", "rotate", "finish"],
    ] {
        env.ok(phase);
        let out = env.run(&["status"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "after {phase:?}:\n{}{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
