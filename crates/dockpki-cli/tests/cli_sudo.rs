//! Under `sudo`, the client layout belongs to the invoking user: `bootstrap` puts it in their
//! `~/.docker` and hands the files (and directories it creates there) to them, while the daemon
//! files stay root's.
//!
//! The test impersonates sudo the way sudo itself does (root, with SUDO_UID/SUDO_GID/SUDO_USER
//! set) for a throwaway account `dockpki-ci` that `.ci/run` creates under `CI=true`. Without root
//! or that account it skips loudly; under `CI=true` it fails instead.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Command;

use common::{s, Env};

const TEST_USER: &str = "dockpki-ci";

struct Account {
    uid: u32,
    gid: u32,
    home: PathBuf,
}

fn account() -> Option<Account> {
    let out = Command::new("getent")
        .args(["passwd", TEST_USER])
        .output()
        .ok()?;
    let line = String::from_utf8(out.stdout).ok()?;
    let fields: Vec<&str> = line.trim().split(':').collect();
    if fields.len() < 7 {
        return None;
    }
    Some(Account {
        uid: fields[2].parse().ok()?,
        gid: fields[3].parse().ok()?,
        home: PathBuf::from(fields[5]),
    })
}

fn prerequisites() -> Option<Account> {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.trim_ascii() == b"0")
        .unwrap_or(false);
    let found = if is_root { account() } else { None };
    if found.is_none() {
        let why =
            format!("needs root and the account {TEST_USER} (created by .ci/run under CI=true)");
        common::prerequisite(false, &format!("for the sudo ownership test: {why}"));
    }
    found
}

#[test]
fn bootstrap_under_sudo_installs_client_files_in_the_invoking_users_home_owned_by_them() {
    let Some(user) = prerequisites() else { return };
    let docker_dir = user.home.join(".docker");
    assert!(
        !docker_dir.exists(),
        "{} exists; the test needs a fresh account home",
        docker_dir.display()
    );
    let env = Env::new();
    let daemon = env.path("daemon");
    env.bare()
        .arg("--state")
        .arg(env.state())
        .args([
            "bootstrap",
            "--san",
            "localhost",
            "--daemon-dir",
            s(&daemon),
        ])
        .env("SUDO_UID", user.uid.to_string())
        .env("SUDO_GID", user.gid.to_string())
        .env("SUDO_USER", TEST_USER)
        .assert()
        .success();

    let result = std::panic::catch_unwind(|| {
        let dir_meta =
            fs::metadata(&docker_dir).expect("~/.docker of the invoking user was created");
        assert_eq!(
            (dir_meta.uid(), dir_meta.gid()),
            (user.uid, user.gid),
            "~/.docker owner"
        );
        assert_eq!(dir_meta.mode() & 0o7777, 0o700);
        for (name, mode) in [("ca.pem", 0o444), ("cert.pem", 0o444), ("key.pem", 0o400)] {
            let meta = fs::metadata(docker_dir.join(name)).expect(name);
            assert_eq!(
                (meta.uid(), meta.gid()),
                (user.uid, user.gid),
                "{name} owner"
            );
            assert_eq!(meta.mode() & 0o7777, mode, "{name} mode");
        }
        for name in ["ca.pem", "server-cert.pem", "server-key.pem"] {
            assert_eq!(
                fs::metadata(daemon.join(name)).expect(name).uid(),
                0,
                "daemon {name} stays root's"
            );
        }
        let cert = env.inspect_cert(&docker_dir.join("cert.pem"));
        assert_eq!(
            cert["common_name"], TEST_USER,
            "client CN defaults to the invoking user"
        );
    });
    fs::remove_dir_all(&docker_dir).expect("clean up the account's ~/.docker");
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn under_sudo_files_outside_the_invoking_users_home_stay_roots() {
    let Some(user) = prerequisites() else { return };
    let env = Env::new();
    let client = env.path("client");
    env.bare()
        .arg("--state")
        .arg(env.state())
        .args([
            "bootstrap",
            "--san",
            "localhost",
            "--daemon-dir",
            s(&env.path("daemon")),
            "--client-dir",
            s(&client),
        ])
        .env("SUDO_UID", user.uid.to_string())
        .env("SUDO_GID", user.gid.to_string())
        .env("SUDO_USER", TEST_USER)
        .assert()
        .success();
    for name in ["ca.pem", "cert.pem", "key.pem"] {
        assert_eq!(
            fs::metadata(client.join(name)).expect(name).uid(),
            0,
            "{name} owner"
        );
    }
}
