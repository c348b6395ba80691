//! dockpki run by a user who may not look into the state directory (root's, made with `sudo`)
//! says so, instead of claiming there is no CA. As root, permissions cannot be tested by
//! permissions alone, so the binary runs as `nobody` through `setpriv`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::{chmod, s, Env};

const NOBODY: &str = "65534";

/// Whether `setpriv` can run a command as `nobody` here (root and util-linux needed).
fn can_run_as_nobody() -> bool {
    common::is_root()
        && std::process::Command::new("setpriv")
            .args([
                "--reuid",
                NOBODY,
                "--regid",
                NOBODY,
                "--clear-groups",
                "true",
            ])
            .status()
            .is_ok_and(|st| st.success())
}

/// A copy of the binary that `nobody` may run wherever the build directory lies: CI clones into
/// directories other users may not search.
fn binary_for_nobody(env: &Env) -> PathBuf {
    let dir = env.path("bin");
    fs::create_dir(&dir).unwrap();
    let bin = dir.join("dockpki");
    fs::copy(common::bin(), &bin).unwrap();
    chmod(&bin, 0o755);
    chmod(&dir, 0o755);
    bin
}

/// `dockpki --state STATE args...` as `nobody`.
fn as_nobody(bin: &Path, state: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid", NOBODY, "--regid", NOBODY, "--clear-groups", "--"])
        .arg(bin)
        .arg("--state")
        .arg(state)
        .args(args)
        .env_remove("DOCKPKI_STATE")
        .env("HOME", "/nonexistent");
    cmd
}

#[test]
fn a_state_directory_this_user_may_not_read_is_not_reported_as_missing_a_ca() {
    if !common::prerequisite(
        can_run_as_nobody(),
        "root and setpriv to run dockpki as nobody",
    ) {
        return;
    }
    let env = Env::new();
    env.ca_init(&[]);
    // The sandbox root is searchable by everyone; the state directory itself stays 0700.
    chmod(env.root(), 0o755);
    let bin = binary_for_nobody(&env);
    for args in [
        &["status"][..],
        &["issue", "client", "--name", "a", "--out", "/nonexistent/a"],
    ] {
        let line = env.assert_refused_cmd(as_nobody(&bin, &env.state(), args), "Permission denied");
        assert!(
            line.contains("cannot read the state directory")
                && line.contains(s(&env.state()))
                && line.contains("belongs to uid 0")
                && !line.contains("no CA"),
            "{args:?}: {line}"
        );
    }
}

#[test]
fn a_state_directory_behind_a_directory_this_user_may_not_search_is_not_reported_missing() {
    if !common::prerequisite(
        can_run_as_nobody(),
        "root and setpriv to run dockpki as nobody",
    ) {
        return;
    }
    let env = Env::new();
    env.ca_init(&[]);
    let bin = binary_for_nobody(&env);
    // As under /root: the parent of the state directory is 0700.
    let parent = env.path("private");
    fs::create_dir(&parent).unwrap();
    chmod(&parent, 0o700);
    let state = parent.join("state");
    fs::rename(env.state(), &state).unwrap();
    chmod(env.root(), 0o755);
    let line = env.assert_refused_cmd(as_nobody(&bin, &state, &["status"]), "Permission denied");
    assert!(
        line.contains("cannot read the state directory") && !line.contains("does not exist"),
        "{line}"
    );
}
