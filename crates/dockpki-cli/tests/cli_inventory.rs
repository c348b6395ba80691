//! `state/inventory.json`: every issued certificate is recorded with where it went, and
//! re-issuing into a layout marks the previous certificate superseded.

mod common;

use common::{inventory, read, Env};
use serde_json::Value;

fn records(env: &Env) -> Vec<Value> {
    inventory(env)["certificates"]
        .as_array()
        .expect("certificates")
        .clone()
}

#[test]
fn bootstrap_and_issue_record_active_certificates() {
    let env = Env::new();
    let d = env.path("daemon");
    let c = env.path("client");
    env.bootstrap(&d, &c, &[]);
    let bob = env.path("bob");
    env.issue_client("bob", &bob, &[]);

    let inv = inventory(&env);
    assert_eq!(inv["version"], 1);
    let recs = records(&env);
    assert_eq!(recs.len(), 3, "{inv}");
    let ca_fp = env.inspect_cert(&env.state().join("ca.pem"))["sha256"].clone();
    for (rec, kind, dir, cert) in [
        (&recs[0], "server", &d, d.join("server-cert.pem")),
        (&recs[1], "client", &c, c.join("cert.pem")),
        (&recs[2], "client", &bob, bob.join("cert.pem")),
    ] {
        assert_eq!(rec["status"], "active", "{rec}");
        assert_eq!(rec["kind"], kind);
        assert_eq!(rec["installed"], serde_json::json!([common::s(dir)]));
        assert_eq!(rec["ca_sha256"], ca_fp);
        let info = env.inspect_cert(&cert);
        assert_eq!(rec["serial"], info["serial"]);
        assert_eq!(rec["sha256"], info["sha256"]);
        assert_eq!(rec["not_after"], info["not_after"]);
    }
    assert_eq!(
        recs[0]["sans"],
        serde_json::json!(["localhost", "127.0.0.1"])
    );
    assert_eq!(recs[2]["common_name"], "bob");
}

#[test]
fn reissuing_into_the_same_dir_supersedes_the_previous_certificate() {
    let env = Env::new();
    env.ca_init(&[]);
    let a = env.path("alice");
    let b = env.path("bob");
    env.issue_client("alice", &a, &[]);
    env.issue_client("bob", &b, &[]);
    let before = read(&env.state().join("inventory.json"));
    env.issue_client("alice", &a, &["--force"]);

    let recs = records(&env);
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[0]["status"], "superseded", "old alice");
    assert_eq!(recs[1]["status"], "active", "bob is another layout");
    assert_eq!(recs[2]["status"], "active", "new alice");
    assert_eq!(
        recs[2]["serial"],
        env.inspect_cert(&a.join("cert.pem"))["serial"]
    );
    // The previous inventory is kept next to it.
    assert_eq!(read(&env.state().join("inventory.json.bak")), before);
}

#[test]
fn a_server_certificate_does_not_supersede_a_client_certificate() {
    let env = Env::new();
    env.ca_init(&[]);
    // One directory holding both layouts, as Docker's own guide makes it: dockpki refuses to
    // start such a mix (a server certificate into a client-only directory), so the daemon's
    // name is taken first by a file of the operator's.
    let dir = env.path("mixed");
    env.issue_client("a", &dir, &[]);
    std::fs::write(dir.join("server-cert.pem"), "operator's").unwrap();
    env.issue_server(&["localhost"], &dir, &["--force"]);
    let recs = records(&env);
    assert!(recs.iter().all(|r| r["status"] == "active"), "{recs:?}");
}

#[test]
fn a_forced_bootstrap_supersedes_both_previous_leaves() {
    let env = Env::new();
    let d = env.path("daemon");
    let c = env.path("client");
    env.bootstrap(&d, &c, &[]);
    env.bootstrap(&d, &c, &["--force"]);
    let statuses: Vec<Value> = records(&env).iter().map(|r| r["status"].clone()).collect();
    assert_eq!(statuses, ["superseded", "superseded", "active", "active"]);
}

#[test]
fn failed_commands_do_not_record_anything() {
    let env = Env::new();
    env.ca_init(&[]);
    let a = env.path("alice");
    env.issue_client("alice", &a, &[]);
    let before = read(&env.state().join("inventory.json"));
    // Refused: files exist and no --force.
    env.run(&["issue", "client", "--name", "alice", "--out", common::s(&a)]);
    assert_eq!(read(&env.state().join("inventory.json")), before);
}
