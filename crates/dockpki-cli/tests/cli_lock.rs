//! Concurrent dockpki processes on one state directory serialize on `STATE/lock`: a second one
//! says that it waits, proceeds once the first is done, and gives up with a clear error when
//! the wait exceeds DOCKPKI_LOCK_TIMEOUT.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{s, Env};

/// Holds the state's lock (like a running dockpki would) for `seconds`, using util-linux flock.
fn hold_lock(env: &Env, seconds: u32) -> Child {
    let lock = env.state().join("lock");
    let child = Command::new("flock")
        .arg(s(&lock))
        .args(["sleep", &seconds.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .expect("flock (util-linux) must be installed");
    // Wait until the lock is really held: flock -n fails while it is.
    let until = Instant::now() + Duration::from_secs(10);
    while Command::new("flock")
        .args(["-n", s(&lock), "true"])
        .status()
        .unwrap()
        .success()
    {
        assert!(Instant::now() < until, "flock never took the lock");
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

#[test]
fn a_second_process_waits_for_the_lock_then_proceeds() {
    let env = Env::new();
    env.bootstrap(&env.path("daemon"), &env.path("client"), &[]);
    let mut holder = hold_lock(&env, 1);
    let out = env
        .cmd()
        .args([
            "issue",
            "client",
            "--name",
            "bob",
            "--out",
            s(&env.path("bob")),
        ])
        .output()
        .unwrap();
    holder.wait().unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("waiting up to 300s for another dockpki"),
        "{stderr}"
    );
    assert!(env.path("bob").join("cert.pem").exists());
}

#[test]
fn a_process_gives_up_after_the_lock_timeout_and_writes_nothing() {
    let env = Env::new();
    env.bootstrap(&env.path("daemon"), &env.path("client"), &[]);
    let mut holder = hold_lock(&env, 5);
    let out = env
        .cmd()
        .env("DOCKPKI_LOCK_TIMEOUT", "1s")
        .args([
            "issue",
            "client",
            "--name",
            "bob",
            "--out",
            s(&env.path("bob")),
        ])
        .output()
        .unwrap();
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: gave up after 1s waiting"),
        "{stderr}"
    );
    assert!(last.contains("DOCKPKI_LOCK_TIMEOUT"), "{stderr}");
    assert!(!env.path("bob").exists());
}

/// A timeout outside the one duration grammar (a bare number included) is refused before
/// waiting, rather than silently becoming the 300 s default.
#[test]
fn a_lock_timeout_outside_the_duration_grammar_is_refused_naming_the_variable() {
    let env = Env::new();
    env.ca_init(&[]);
    for bad in ["abc", "-5s", "1.5s", "60", "500ms"] {
        let mut cmd = env.cmd();
        cmd.env("DOCKPKI_LOCK_TIMEOUT", bad).arg("status");
        let line = env.assert_refused_cmd(
            cmd,
            &format!("invalid timeout {bad:?} for DOCKPKI_LOCK_TIMEOUT: "),
        );
        assert!(line.contains("e.g. DOCKPKI_LOCK_TIMEOUT=60s"), "{line}");
    }
    for good in ["0s", "2m", "1h"] {
        let mut cmd = env.cmd();
        cmd.env("DOCKPKI_LOCK_TIMEOUT", good).arg("status");
        common::assert_success(&cmd.output().unwrap());
    }
}
