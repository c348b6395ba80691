//! An update interrupted at any rename is completed by the next dockpki command, so a layout is
//! never left with a certificate and a key that do not belong together.
//!
//! `DOCKPKI_TEST_ABORT_AFTER_MOVES=N` makes the committing process abort (no destructors, like a
//! SIGKILL) just before its N-th rename.

mod common;

use std::fs;
use std::os::unix::process::ExitStatusExt;

use common::{s, Env};

#[test]
fn reissue_aborted_before_any_rename_is_completed_by_the_next_command() {
    interrupted_reissue_is_completed(0);
}

#[test]
fn reissue_aborted_between_certificate_and_key_is_completed_by_the_next_command() {
    interrupted_reissue_is_completed(1);
}

#[test]
fn reissue_aborted_before_the_inventory_rename_is_completed_by_the_next_command() {
    interrupted_reissue_is_completed(2);
}

fn interrupted_reissue_is_completed(abort_before_move: usize) {
    if !common::fault_injection() {
        return;
    }
    let env = Env::new();
    let (daemon, client) = (env.path("daemon"), env.path("client"));
    env.bootstrap(&daemon, &client, &[]);
    let old_cert = fs::read(client.join("cert.pem")).unwrap();

    let out = env
        .cmd()
        .args([
            "issue",
            "client",
            "--name",
            "bob",
            "--force",
            "--out",
            s(&client),
        ])
        .env(
            "DOCKPKI_TEST_ABORT_AFTER_MOVES",
            abort_before_move.to_string(),
        )
        .output()
        .unwrap();
    assert_eq!(
        out.status.signal(),
        Some(6),
        "the process must have aborted: {out:?}"
    );
    let journal = env.state().join("journal.json");
    assert!(journal.exists(), "the journal must outlive the crash");

    let verify = env
        .cmd()
        .args([
            "verify",
            "--daemon-dir",
            s(&daemon),
            "--client-dir",
            s(&client),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success(),
        "layout inconsistent after recovery: {}{stderr}",
        String::from_utf8_lossy(&verify.stdout)
    );
    assert!(
        stderr.contains("completed an interrupted update"),
        "{stderr}"
    );
    assert!(
        !journal.exists(),
        "the journal is removed once the update is complete"
    );

    let new_cert = fs::read(client.join("cert.pem")).unwrap();
    assert_ne!(
        new_cert, old_cert,
        "the update is completed, not rolled back"
    );
    assert_eq!(
        env.inspect_cert(&client.join("cert.pem"))["common_name"],
        "bob"
    );
    let inventory: serde_json::Value =
        serde_json::from_slice(&fs::read(env.state().join("inventory.json")).unwrap()).unwrap();
    let active_clients: Vec<_> = inventory["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "client" && c["status"] == "active")
        .collect();
    assert_eq!(active_clients.len(), 1);
    assert_eq!(active_clients[0]["common_name"], "bob");
    let backups = fs::read_dir(&client)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("cert.pem.bak-"))
        .count();
    assert_eq!(backups, 1, "exactly one backup of the replaced certificate");
}

#[test]
fn a_refused_update_writes_no_journal_and_keeps_the_old_files() {
    // Refusals happen before the journal exists, and before it nothing is renamed.
    let env = Env::new();
    let (daemon, client) = (env.path("daemon"), env.path("client"));
    env.bootstrap(&daemon, &client, &[]);
    let before: Vec<_> = ["ca.pem", "cert.pem", "key.pem"]
        .iter()
        .map(|n| fs::read(client.join(n)).unwrap())
        .collect();
    let blocker = client.join("key.pem");
    // A directory where the key should go: the update is refused.
    fs::remove_file(&blocker).unwrap();
    fs::create_dir(&blocker).unwrap();
    env.assert_refused(
        &[
            "issue",
            "client",
            "--name",
            "bob",
            "--force",
            "--out",
            s(&client),
        ],
        "is a directory",
    );
    assert!(!env.state().join("journal.json").exists());
    assert_eq!(fs::read(client.join("cert.pem")).unwrap(), before[1]);
    assert_eq!(fs::read(client.join("ca.pem")).unwrap(), before[0]);
}
