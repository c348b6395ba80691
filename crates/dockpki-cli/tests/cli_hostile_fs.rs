//! A hostile file system: dockpki refuses to write through symlinks or into directories that
//! someone other than root, the running user or the user the files are for could tamper with,
//! refuses to replace files owned by someone else, and refuses to load a CA key that group or
//! others could read (unless `--insecure-perms`). Every refusal is one line, exit 1, nothing
//! written.
//!
//! The tests run as root, where permissions never fail with EACCES; they use ownership and mode
//! checks dockpki itself performs, with uid 65534 (nobody) as "another user". Without root
//! (chown impossible) the ownership tests skip loudly.

mod common;

use std::fs;
use std::os::unix::fs::{lchown, symlink, MetadataExt};
use std::path::Path;

use common::{assert_success, chmod, mode, read, require_root, s, Env};

const NOBODY: u32 = 65534;

/// Changes the owner of `path` (not following a symlink) to nobody; false when not root.
fn give_to_nobody(path: &Path) -> bool {
    if !require_root(&format!("to chown {}", path.display())) {
        return false;
    }
    lchown(path, Some(NOBODY), Some(NOBODY)).expect("lchown");
    true
}

fn env_with_ca() -> Env {
    let env = Env::new();
    env.ca_init(&[]);
    env
}

fn issue_client_args(out: &Path) -> Vec<String> {
    ["issue", "client", "--name", "alice", "--out", s(out)]
        .map(String::from)
        .to_vec()
}

#[test]
fn no_key_is_written_into_a_directory_owned_by_another_user() {
    let env = env_with_ca();
    let out = env.path("alice");
    fs::create_dir(&out).unwrap();
    chmod(&out, 0o755);
    if !give_to_nobody(&out) {
        return;
    }
    let line = env.assert_refused(&issue_client_args(&out), "is owned by uid 65534");
    assert!(line.contains(s(&out)) && line.contains("chown"), "{line}");
}

#[test]
fn no_key_is_written_below_a_parent_directory_owned_by_another_user() {
    let env = env_with_ca();
    let parent = env.path("shared");
    fs::create_dir(&parent).unwrap();
    chmod(&parent, 0o755);
    if !give_to_nobody(&parent) {
        return;
    }
    // The layout directory does not exist yet: its nearest existing ancestor is what is judged.
    env.assert_refused(
        &issue_client_args(&parent.join("alice")),
        "is owned by uid 65534",
    );
    assert!(!parent.join("alice").exists());
}

#[test]
fn no_key_is_written_through_a_layout_directory_symlink_owned_by_another_user() {
    let env = env_with_ca();
    let real = env.path("real");
    fs::create_dir(&real).unwrap();
    let link = env.path("alice");
    symlink(&real, &link).unwrap();
    if !give_to_nobody(&link) {
        return;
    }
    let line = env.assert_refused(&issue_client_args(&link), "symlink owned by uid 65534");
    assert!(line.contains("replace the link"), "{line}");
    assert!(fs::read_dir(&real).unwrap().next().is_none());
}

#[test]
fn no_key_is_written_through_a_parent_symlink_owned_by_another_user() {
    let env = env_with_ca();
    let real = env.path("real");
    fs::create_dir(&real).unwrap();
    let link = env.path("via");
    symlink(&real, &link).unwrap();
    if !give_to_nobody(&link) {
        return;
    }
    env.assert_refused(
        &issue_client_args(&link.join("alice")),
        "symlink owned by uid 65534",
    );
    assert!(!real.join("alice").exists());
}

#[test]
fn a_layout_directory_symlink_owned_by_the_user_is_followed() {
    let env = env_with_ca();
    let real = env.path("real");
    fs::create_dir(&real).unwrap();
    let link = env.path("alice");
    symlink(&real, &link).unwrap();
    env.ok(&issue_client_args(&link));
    assert_eq!(mode(&real.join("key.pem")), 0o400);
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn no_key_is_written_into_a_group_or_world_writable_directory() {
    let env = env_with_ca();
    let out = env.path("alice");
    fs::create_dir(&out).unwrap();
    for m in [0o775, 0o757, 0o777] {
        chmod(&out, m);
        let line = env.assert_refused(&issue_client_args(&out), "writable by group or others");
        assert!(line.contains(&format!("chmod go-w {}", s(&out))), "{line}");
    }
}

#[test]
fn a_sticky_world_writable_directory_owned_by_root_or_the_user_is_accepted_like_tmp() {
    let env = env_with_ca();
    let out = env.path("alice");
    fs::create_dir(&out).unwrap();
    chmod(&out, 0o1777);
    env.ok(&issue_client_args(&out));
    assert_eq!(mode(&out.join("key.pem")), 0o400);
}

#[test]
fn a_key_file_owned_by_another_user_is_not_replaced_even_with_force() {
    let env = env_with_ca();
    let out = env.path("alice");
    env.ok(&issue_client_args(&out));
    let key = out.join("key.pem");
    let before = read(&key);
    if !give_to_nobody(&key) {
        return;
    }
    let mut args = issue_client_args(&out);
    args.push("--force".into());
    env.assert_refused(&args, &format!("refusing to replace {}", s(&key)));
    assert_eq!(read(&key), before);
    assert_eq!(fs::metadata(&key).unwrap().uid(), NOBODY);
}

#[test]
fn a_ca_key_readable_by_group_or_others_is_refused_naming_chmod_400() {
    let env = env_with_ca();
    let key = env.state().join("ca-key.pem");
    let out = env.path("alice");
    for m in [0o440, 0o404, 0o600 | 0o044, 0o640] {
        chmod(&key, m);
        let line = env.assert_refused(&issue_client_args(&out), "accessible by group or others");
        assert!(
            line.contains(&format!("chmod 400 {}", s(&key))) && line.contains("--insecure-perms"),
            "{line}"
        );
    }
    chmod(&key, 0o400);
    env.ok(&issue_client_args(&out));
}

#[test]
fn insecure_perms_downgrades_a_readable_ca_key_to_a_warning() {
    let env = env_with_ca();
    let key = env.state().join("ca-key.pem");
    chmod(&key, 0o444);
    let out = env.path("alice");
    let mut args = vec!["--insecure-perms".to_string()];
    args.extend(issue_client_args(&out));
    let result = env.run(&args);
    assert_success(&result);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("warning") && stderr.contains("chmod 400"),
        "{stderr}"
    );
    assert!(out.join("cert.pem").exists());
    // The flag does not change the key's mode behind the operator's back.
    assert_eq!(mode(&key), 0o444);
}

#[test]
fn a_ca_key_that_is_a_symlink_is_refused() {
    let env = env_with_ca();
    let key = env.state().join("ca-key.pem");
    let moved = env.path("real-ca-key.pem");
    fs::rename(&key, &moved).unwrap();
    symlink(&moved, &key).unwrap();
    env.assert_refused(
        &issue_client_args(&env.path("alice")),
        "because it is a symlink",
    );
}

#[test]
fn a_ca_key_owned_by_another_user_is_refused() {
    let env = env_with_ca();
    let key = env.state().join("ca-key.pem");
    if !give_to_nobody(&key) {
        return;
    }
    env.assert_refused(&issue_client_args(&env.path("alice")), "owned by uid 65534");
}
