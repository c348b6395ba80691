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

/// `dockpki --state STATE ...` as `sudo` run by the account would start it.
fn sudo(env: &Env, user: &Account) -> assert_cmd::Command {
    let mut cmd = env.bare();
    cmd.arg("--state")
        .arg(env.state())
        .env("SUDO_UID", user.uid.to_string())
        .env("SUDO_GID", user.gid.to_string())
        .env("SUDO_USER", TEST_USER);
    cmd
}

/// A fresh directory of the account's own in its home (tests run in parallel), removed on drop.
struct UserDir(PathBuf);

impl UserDir {
    fn new(user: &Account, name: &str) -> UserDir {
        let dir = user.home.join(format!("{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).unwrap();
        std::os::unix::fs::chown(&dir, Some(user.uid), Some(user.gid)).unwrap();
        UserDir(dir)
    }
}

impl Drop for UserDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Hands every entry of `dir` to the account, as if it had put them there itself.
fn give(user: &Account, dir: &std::path::Path) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        std::os::unix::fs::lchown(&p, Some(user.uid), Some(user.gid)).unwrap();
    }
}

/// Runs `cmd` and asserts one `error:` line naming `phrase`.
fn refused(mut cmd: assert_cmd::Command, phrase: &str) {
    common::assert_error_line(&cmd.output().unwrap(), phrase);
}

#[test]
fn under_sudo_a_context_is_never_made_from_a_key_linked_to_the_ca_key() {
    let Some(user) = prerequisites() else { return };
    let env = Env::new();
    env.ca_init(&[]);
    let evil = UserDir::new(&user, "evil");
    let ca_pem = env.state().join("ca.pem");
    fs::copy(&ca_pem, evil.0.join("ca.pem")).unwrap();
    // The CA certificate as cert.pem matches the CA key the link points at.
    fs::copy(&ca_pem, evil.0.join("cert.pem")).unwrap();
    std::os::unix::fs::symlink(env.state().join("ca-key.pem"), evil.0.join("key.pem")).unwrap();
    let config = UserDir::new(&user, "docker-config");
    let context = |env: &Env| {
        let mut cmd = sudo(env, &user);
        cmd.env("DOCKER_CONFIG", &config.0).args([
            "context",
            "create",
            "stolen",
            "--host",
            "tcp://127.0.0.1:2376",
            "--client-dir",
            s(&evil.0),
        ]);
        cmd
    };
    refused(context(&env), "is a symlink");
    // A copy instead of a link (as if the user could read the key): still not a client.
    fs::remove_file(evil.0.join("key.pem")).unwrap();
    fs::copy(env.state().join("ca-key.pem"), evil.0.join("key.pem")).unwrap();
    give(&user, &evil.0);
    refused(
        context(&env),
        "holds a CA certificate, not a client certificate",
    );
    assert!(
        fs::read_dir(&config.0).unwrap().next().is_none(),
        "something was written for the refused context"
    );
}

#[test]
fn under_sudo_renew_reuses_only_the_recorded_key_never_a_linked_one() {
    let Some(user) = prerequisites() else { return };
    let env = Env::new();
    env.ca_init(&[]);
    let layout = UserDir::new(&user, "layout");
    let out = layout.0.join("bob");
    let mut issue = sudo(&env, &user);
    issue
        .args(["issue", "client", "--name", "bob", "--out", s(&out)])
        .assert()
        .success();
    let key = out.join("key.pem");
    let original = fs::read(&key).unwrap();
    let renew = |env: &Env| {
        let mut cmd = sudo(env, &user);
        cmd.args(["renew", "--name", "bob", "--reuse-key"]);
        cmd
    };
    // key.pem swapped for a link to the CA key: refused before anything is read through it.
    fs::rename(&key, out.join("real-key.pem")).unwrap();
    std::os::unix::fs::symlink(env.state().join("ca-key.pem"), &key).unwrap();
    let before = common::snapshot(env.root());
    refused(renew(&env), "is a symlink");
    common::assert_unchanged(&before, &common::snapshot(env.root()), "refused reuse");
    // Another key as a regular file (0400 like dockpki's): not the recorded certificate's.
    fs::remove_file(&key).unwrap();
    let other = env.path("other");
    env.issue_client("other", &other, &[]);
    fs::copy(other.join("key.pem"), &key).unwrap();
    give(&user, &out);
    refused(renew(&env), "does not belong to the recorded certificate");
    // The real key back: reused.
    fs::remove_file(&key).unwrap();
    fs::rename(out.join("real-key.pem"), &key).unwrap();
    renew(&env).assert().success();
    assert_eq!(fs::read(&key).unwrap(), original);
}

#[test]
fn under_sudo_a_symlink_of_the_users_cannot_steer_root_into_roots_directories() {
    let Some(user) = prerequisites() else { return };
    let env = Env::new();
    env.ca_init(&[]);
    let roots = env.path("roots");
    fs::create_dir(&roots).unwrap();
    let home = UserDir::new(&user, "steer");
    let link = home.0.join("docker");
    std::os::unix::fs::symlink(&roots, &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(user.uid), Some(user.gid)).unwrap();
    let before = common::snapshot(&roots);
    let mut cmd = sudo(&env, &user);
    cmd.args(["issue", "client", "--name", "bob", "--out", s(&link)]);
    refused(
        cmd,
        "files for a user go only into a directory that user owns",
    );
    common::assert_unchanged(&before, &common::snapshot(&roots), "steered write");
    // `..` out of the home is refused outright.
    let mut cmd = sudo(&env, &user);
    let dotdot = format!("{}/../../{}", s(&home.0), s(&roots));
    cmd.args(["issue", "client", "--name", "bob", "--out", &dotdot]);
    refused(cmd, "contains '..'");
}

/// The cleanup of a killed run's staged files deletes by name in layouts other users own: a
/// layout swapped for a symlink to a root-only directory must not make root delete there.
#[test]
fn stale_staged_files_are_never_removed_through_a_symlinked_layout() {
    let Some(user) = prerequisites() else { return };
    let env = Env::new();
    env.ca_init(&[]);
    let home = UserDir::new(&user, "cleanup");
    let out = home.0.join("bob");
    sudo(&env, &user)
        .args(["issue", "client", "--name", "bob", "--out", s(&out)])
        .assert()
        .success();
    let root_only = env.path("root-only");
    fs::create_dir(&root_only).unwrap();
    common::chmod(&root_only, 0o700);
    let precious = root_only.join(".daemon.json.dockpki-4000000-abc.tmp");
    fs::write(&precious, "precious").unwrap();
    fs::rename(&out, home.0.join("bob.real")).unwrap();
    std::os::unix::fs::symlink(&root_only, &out).unwrap();
    std::os::unix::fs::lchown(&out, Some(user.uid), Some(user.gid)).unwrap();
    env.run(&["status"]);
    assert!(
        precious.exists(),
        "root deleted a file through the user's symlink"
    );
}

/// A layout made under sudo in the user's home is renewed by root itself (a cron job, no
/// sudo): the files stay the user's, and the renewal is not refused as another user's
/// directory.
#[test]
fn root_renews_a_layout_made_under_sudo_and_it_stays_the_users() {
    let Some(user) = prerequisites() else { return };
    let env = Env::new();
    env.ca_init(&[]);
    let home = UserDir::new(&user, "cron");
    let out = home.0.join("bob");
    sudo(&env, &user)
        .args(["issue", "client", "--name", "bob", "--out", s(&out)])
        .assert()
        .success();
    let before = fs::read(out.join("cert.pem")).unwrap();
    env.ok(&["renew", "--all"]);
    assert_ne!(
        fs::read(out.join("cert.pem")).unwrap(),
        before,
        "not renewed"
    );
    for name in ["ca.pem", "cert.pem", "key.pem"] {
        let meta = fs::metadata(out.join(name)).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid()),
            (user.uid, user.gid),
            "{name} owner"
        );
    }
}

/// Under sudo, `--client-dir` naming root's own layout does not copy root's key into the
/// invoking user's context: the layout is read as that user, and must be theirs.
#[test]
fn under_sudo_a_context_is_never_made_from_someone_elses_layout() {
    let Some(user) = prerequisites() else { return };
    let env = Env::new();
    env.ca_init(&[]);
    let roots = env.path("root-client");
    env.issue_client("rootadmin", &roots, &[]);
    let config = UserDir::new(&user, "config-theft");
    let mut cmd = sudo(&env, &user);
    cmd.env("DOCKER_CONFIG", &config.0).args([
        "context",
        "create",
        "stolen",
        "--host",
        "tcp://127.0.0.1:2376",
        "--client-dir",
        s(&roots),
    ]);
    refused(cmd, "is not a client layout of the user the context is for");
    assert!(fs::read_dir(&config.0).unwrap().next().is_none());
}

/// Under sudo, a directory of a third user (not in the invoking user's home) is not the
/// invoking user's to have root write into, whoever owns it.
#[test]
fn under_sudo_another_users_directory_is_refused() {
    let Some(user) = prerequisites() else { return };
    let env = Env::new();
    env.ca_init(&[]);
    let theirs = UserDir::new(&user, "third-party");
    fs::write(theirs.0.join("key.pem"), "their key\n").unwrap();
    give(&user, &theirs.0);
    // The invoking user is nobody; the directory belongs to the test account.
    let mut cmd = env.bare();
    cmd.arg("--state")
        .arg(env.state())
        .env("SUDO_UID", "65534")
        .env("SUDO_GID", "65534")
        .env("SUDO_USER", "nobody")
        .args([
            "issue",
            "client",
            "--name",
            "evil",
            "--force",
            "--out",
            s(&theirs.0),
        ]);
    refused(cmd, "owned by uid");
    assert_eq!(fs::read(theirs.0.join("key.pem")).unwrap(), b"their key\n");
}

/// One user who breaks their own layout (here: makes it writable by everyone) cannot stop a
/// root renewal of everything else: the other layouts, the daemon's included, are renewed,
/// theirs is left as it was and named, and the exit code says something needs the operator.
#[test]
fn a_users_broken_layout_does_not_stop_roots_renewal_of_the_others() {
    let Some(user) = prerequisites() else { return };
    let env = Env::new();
    let (daemon, client) = (env.path("daemon"), env.path("client"));
    env.bootstrap(&daemon, &client, &[]);
    let home = UserDir::new(&user, "broken");
    let out = home.0.join("bob");
    sudo(&env, &user)
        .args(["issue", "client", "--name", "bob", "--out", s(&out)])
        .assert()
        .success();
    common::chmod(&out, 0o777);
    let (server_before, bob_before) = (
        fs::read(daemon.join("server-cert.pem")).unwrap(),
        fs::read(out.join("cert.pem")).unwrap(),
    );
    let o = env.run(&["renew", "--all"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("left")
            && stderr.contains(s(&out))
            && stderr.contains("writable by group or others"),
        "{stderr}"
    );
    assert_ne!(
        fs::read(daemon.join("server-cert.pem")).unwrap(),
        server_before
    );
    assert_eq!(fs::read(out.join("cert.pem")).unwrap(), bob_before);
    env.run(&[
        "verify",
        "--daemon-dir",
        s(&daemon),
        "--client-dir",
        s(&client),
    ]);
}

/// `verify` under sudo reads the invoking user's layout as that user: a `key.pem` the user
/// linked to root's CA key is a file they cannot read, never one root reads for them (and
/// judges, matching the CA certificate they copied as `cert.pem`).
#[test]
fn under_sudo_verify_reads_a_users_layout_as_the_user_never_following_a_link_as_root() {
    let Some(user) = prerequisites() else { return };
    let env = Env::new();
    env.ca_init(&[]);
    let evil = UserDir::new(&user, "evil-verify");
    let ca_pem = env.state().join("ca.pem");
    fs::copy(&ca_pem, evil.0.join("ca.pem")).unwrap();
    fs::copy(&ca_pem, evil.0.join("cert.pem")).unwrap();
    std::os::unix::fs::symlink(env.state().join("ca-key.pem"), evil.0.join("key.pem")).unwrap();
    give(&user, &evil.0);
    let out = sudo(&env, &user)
        .args(["verify", "--client-dir", s(&evil.0)])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{text}");
    let key_lines: Vec<&str> = text.lines().filter(|l| l.contains("key.pem")).collect();
    assert!(
        key_lines.iter().all(|l| l.starts_with("FAIL")) && !key_lines.is_empty(),
        "root judged the CA key through the user's link:\n{text}"
    );
    assert!(!text.contains("key matches"), "{text}");
}

/// `context rm` under sudo removes docker's files as the invoking user, and never through a
/// `DOCKER_CONFIG` the user linked to root's: root's context stays (review finding).
#[test]
fn under_sudo_context_rm_never_follows_a_users_link_into_roots_contexts() {
    let Some(user) = prerequisites() else { return };
    let env = Env::new();
    let (daemon, client) = (env.path("daemon"), env.path("client"));
    env.bootstrap(&daemon, &client, &[]);
    // Root's own docker config with a context dockpki made.
    let victim = env.path("root-docker");
    let out = env
        .cmd()
        .env("DOCKER_CONFIG", &victim)
        .args([
            "context",
            "create",
            "prod",
            "--host",
            "tcp://127.0.0.1:2376",
        ])
        .args(["--client-dir", s(&client)])
        .output()
        .unwrap();
    common::assert_success(&out);
    let meta = victim.join("contexts/meta");
    let before = common::snapshot(&victim);
    assert!(meta.is_dir());
    let attacker = UserDir::new(&user, "attacker-config");
    let link = attacker.0.join(".docker");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    give(&user, &attacker.0);
    let out = sudo(&env, &user)
        .env("DOCKER_CONFIG", &link)
        .args(["context", "rm", "prod", "--force"])
        .output()
        .unwrap();
    common::assert_error_line(&out, "refusing");
    common::assert_unchanged(&before, &common::snapshot(&victim), "root's docker config");
}
