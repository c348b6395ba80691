//! `dockpki revoke` and `dockpki crl`: revoked serials end up in a CRL signed by the CA that
//! openssl reads and enforces, and every revoke says that dockerd ignores CRLs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_unchanged, inventory, json, mode, s, snapshot, stdout, Env};

fn bootstrapped() -> (Env, PathBuf, PathBuf) {
    let env = Env::new();
    let (daemon, client) = (env.path("daemon"), env.path("client"));
    env.bootstrap(&daemon, &client, &[]);
    (env, daemon, client)
}

fn client_serial(env: &Env) -> String {
    inventory(env)["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "client" && c["status"] == "active")
        .unwrap()["serial"]
        .as_str()
        .unwrap()
        .to_string()
}

fn openssl(args: &[&str]) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl")
}

fn crl_text(crl: &Path) -> String {
    let out = openssl(&["crl", "-in", s(crl), "-noout", "-text"]);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn revoke_marks_the_record_revoked_with_time_and_reason_and_warns_every_time() {
    let (env, _, _) = bootstrapped();
    let serial = client_serial(&env);
    let out = env.ok(&["revoke", "--serial", &serial, "--reason", "keyCompromise"]);
    assert_eq!(
        stdout(&out),
        format!(
            "revoked client certificate {:?} (serial {}, expires {})\n",
            inventory(&env)["certificates"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["serial"] == serial.as_str())
                .unwrap()["common_name"]
                .as_str()
                .unwrap(),
            &serial[..8],
            &inventory(&env)["certificates"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["serial"] == serial.as_str())
                .unwrap()["not_after"]
                .as_str()
                .unwrap()[..10]
        ),
        "one line saying what was revoked"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    for phrase in [
        "check neither CRLs nor OCSP".to_string(),
        "short-lived".to_string(),
        env.hint("ca rotate begin"),
    ] {
        assert!(stderr.contains(&phrase), "{phrase:?} missing: {stderr}");
    }
    let rec = inventory(&env)["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["serial"] == serial.as_str())
        .unwrap()
        .clone();
    assert_eq!(rec["status"], "revoked");
    assert_eq!(rec["revocation_reason"], "keyCompromise");
    common::time_of(&rec["revoked_at"]);
    // Again: nothing changes, the warning is still given.
    let before = snapshot(env.root());
    let again = env.ok(&["revoke", "--serial", &serial]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("already revoked") && stderr.contains("CRLs"),
        "{stderr}"
    );
    assert_unchanged(&before, &snapshot(env.root()), "second revoke");
}

#[test]
fn a_revoked_certificate_is_never_renewed() {
    let (env, _, _) = bootstrapped();
    env.ok(&["revoke", "--name", common::USER]);
    let doc = json(&env.ok(&["--json", "renew", "--all"]));
    let kinds: Vec<&str> = doc["renewed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["server"]);
}

#[test]
fn crl_lists_the_revoked_serial_for_openssl_and_openssl_verify_rejects_it() {
    let (env, daemon, client) = bootstrapped();
    let serial = client_serial(&env);
    env.ok(&[
        "revoke",
        "--serial",
        &serial,
        "--reason",
        "cessationOfOperation",
    ]);
    let crl = env.path("crl.pem");
    let out = env.ok(&["crl", "--out", s(&crl)]);
    let line = stdout(&out);
    assert!(
        line.starts_with("wrote a CRL of 1 revoked certificate(s), valid until ")
            && line.ends_with(&format!(" to {}\n", crl.display()))
            && line.lines().count() == 1,
        "{line}"
    );
    assert_eq!(mode(&crl), 0o444);

    let text = crl_text(&crl);
    assert!(
        text.contains(&format!("Serial Number: {}", serial.to_uppercase())),
        "{text}"
    );
    assert!(text.contains("Cessation Of Operation"), "{text}");
    assert!(text.contains("dockpki CA"), "issuer is the CA: {text}");
    let ca = env.state().join("ca.pem");
    let signed = openssl(&["crl", "-in", s(&crl), "-CAfile", s(&ca), "-noout"]);
    assert!(
        String::from_utf8_lossy(&signed.stderr).contains("verify OK"),
        "the CRL is signed by the CA: {signed:?}"
    );

    let check = |cert: &Path| {
        openssl(&[
            "verify",
            "-crl_check",
            "-CAfile",
            s(&ca),
            "-CRLfile",
            s(&crl),
            s(cert),
        ])
    };
    let revoked = check(&client.join("cert.pem"));
    assert!(!revoked.status.success(), "{revoked:?}");
    assert!(
        String::from_utf8_lossy(&revoked.stdout).contains("certificate revoked")
            || String::from_utf8_lossy(&revoked.stderr).contains("certificate revoked"),
        "{revoked:?}"
    );
    let fine = check(&daemon.join("server-cert.pem"));
    assert!(
        fine.status.success(),
        "the unrevoked server passes the same check: {fine:?}"
    );
}

#[test]
fn crl_without_revocations_goes_to_stdout_and_lists_nothing() {
    let (env, _, _) = bootstrapped();
    let out = env.ok(&["crl"]);
    let pem = stdout(&out);
    assert!(pem.starts_with("-----BEGIN X509 CRL-----"), "{pem}");
    let file = env.path("stdout.crl");
    std::fs::write(&file, &pem).unwrap();
    assert!(crl_text(&file).contains("No Revoked Certificates"));
}

#[test]
fn crl_out_replaces_the_previous_crl_keeping_one_backup() {
    let (env, _, _) = bootstrapped();
    let crl = env.path("crl.pem");
    env.ok(&["crl", "--out", s(&crl)]);
    env.ok(&["revoke", "--name", common::USER]);
    env.ok(&["crl", "--out", s(&crl)]);
    assert!(crl_text(&crl).contains("Serial Number"));
    assert!(crl_text(&env.path("crl.pem.bak")).contains("No Revoked Certificates"));
}

#[test]
fn revoke_by_name_revokes_superseded_certificates_too() {
    // A superseded certificate is still valid until it expires: its key is as dangerous.
    let (env, _, _) = bootstrapped();
    env.ok(&["renew", "--all"]);
    let doc = json(&env.ok(&["--json", "revoke", "--name", common::USER]));
    assert_eq!(doc["revoked"].as_array().unwrap().len(), 2, "{doc}");
    assert_eq!(doc["dockerd_checks_revocation"], false);
}

#[test]
fn bad_reason_unknown_serial_and_missing_selector_are_refused() {
    let (env, _, _) = bootstrapped();
    env.assert_refused(
        &["revoke", "--name", common::USER, "--reason", "stolen"],
        "keyCompromise",
    );
    env.assert_refused(
        &["revoke", "--serial", "abcdef"],
        "no certificate in the inventory",
    );
    env.assert_refused(
        &["revoke", "--name", "nobody"],
        "no certificate in the inventory",
    );
    let out = env.run(&["revoke"]);
    assert_eq!(out.status.code(), Some(2), "usage error: {out:?}");
}

/// Adds a copy of the active client record with `serial`, as a hand edit (or a certificate
/// whose serial happens to begin with another's) would.
fn add_client_record_with_serial(env: &Env, serial: &str, status: &str) {
    let path = env.state().join("inventory.json");
    let mut inv = inventory(env);
    let certs = inv["certificates"].as_array_mut().unwrap();
    let mut copy = certs
        .iter()
        .find(|c| c["kind"] == "client" && c["status"] == "active")
        .unwrap()
        .clone();
    copy["serial"] = serial.into();
    copy["status"] = status.into();
    certs.push(copy);
    common::overwrite(&path, &serde_json::to_vec_pretty(&inv).unwrap());
}

#[test]
fn the_full_serial_selects_its_certificate_even_when_it_begins_a_longer_serial() {
    let (env, _, _) = bootstrapped();
    let serial = client_serial(&env);
    let longer = format!("{serial}01");
    add_client_record_with_serial(&env, &longer, "superseded");
    // A prefix of both is ambiguous...
    env.assert_refused(&["revoke", "--serial", &serial[..8]], "give more digits");
    // ...the whole serial is not.
    let doc = json(&env.ok(&["--json", "revoke", "--serial", &serial]));
    assert_eq!(doc["revoked"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(doc["revoked"][0]["serial"], serial.as_str());
    let statuses: Vec<(String, String)> = inventory(&env)["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["serial"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        statuses.contains(&(serial.clone(), "revoked".into())),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&(longer.clone(), "superseded".into())),
        "{statuses:?}"
    );
}

#[test]
fn the_full_serial_renews_its_certificate_even_when_it_begins_a_longer_serial() {
    let (env, _, _) = bootstrapped();
    let serial = client_serial(&env);
    add_client_record_with_serial(&env, &format!("{serial}01"), "active");
    let doc = json(&env.ok(&["--json", "renew", "--serial", &serial]));
    assert_eq!(doc["renewed"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(doc["renewed"][0]["old_serial"], serial.as_str());
}

#[test]
fn a_serial_recorded_twice_is_refused_as_a_damaged_inventory() {
    let (env, _, _) = bootstrapped();
    let serial = client_serial(&env);
    add_client_record_with_serial(&env, &serial, "active");
    let line = env.assert_refused(&["revoke", "--serial", &serial], "is damaged");
    assert!(
        line.contains("recorded 2 times") && line.contains("inventory.json.bak"),
        "{line}"
    );
    env.assert_refused(&["renew", "--serial", &serial], "is damaged");
}
