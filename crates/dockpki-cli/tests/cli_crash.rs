//! `dockpki renew` interrupted at any instant leaves layouts that work: after the next command
//! (which completes an interrupted update), every certificate pairs with its key, chains to
//! `ca.pem`, and is the one the inventory records.
//!
//! (a) deterministic: `DOCKPKI_TEST_ABORT_AFTER_MOVES=N` aborts before the N-th rename, for
//!     every N; (b) random: SIGKILL after a random delay, at least 100 times.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{read, s, Env};

fn bootstrapped() -> (Env, PathBuf, PathBuf) {
    let env = Env::new();
    let (daemon, client) = (env.path("daemon"), env.path("client"));
    env.bootstrap(&daemon, &client, &[]);
    (env, daemon, client)
}

/// `status` (which completes a pending journal) must report every file ok, and `verify` must
/// accept both layouts: key pairs with certificate, chain to ca.pem.
fn assert_consistent(env: &Env, daemon: &Path, client: &Path, what: &str) {
    let status = env.run(&["status"]);
    assert_eq!(
        status.status.code(),
        Some(0),
        "{what}: status after the interruption:\n{}{}",
        String::from_utf8_lossy(&status.stdout),
        String::from_utf8_lossy(&status.stderr)
    );
    let verify = env.run(&[
        "verify",
        "--daemon-dir",
        s(daemon),
        "--client-dir",
        s(client),
    ]);
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{what}: verify after the interruption:\n{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(!env.state().join("journal.json").exists(), "{what}");
    // A SIGKILL runs no cleanup; the next command holding the lock removes what it staged.
    for dir in [env.state(), daemon.to_path_buf(), client.to_path_buf()] {
        let staged = common::names_with_prefix(&dir, ".");
        assert!(
            staged.iter().all(|n| !n.ends_with(".tmp")),
            "{what}: staged files left in {}: {staged:?}",
            dir.display()
        );
    }
}

#[test]
fn renew_aborted_before_every_rename_is_completed_by_the_next_command() {
    if !common::fault_injection() {
        return;
    }
    let mut aborted = 0;
    for n in 0.. {
        let (env, daemon, client) = bootstrapped();
        let old = read(&client.join("cert.pem"));
        let out = env
            .cmd()
            .args(["renew", "--all"])
            .env("DOCKPKI_TEST_ABORT_AFTER_MOVES", n.to_string())
            .output()
            .unwrap();
        if out.status.success() {
            // n is past the last rename: the update ran to the end.
            break;
        }
        assert_eq!(out.status.signal(), Some(6), "n={n}: {out:?}");
        assert!(env.state().join("journal.json").exists(), "n={n}");
        aborted += 1;
        assert_consistent(&env, &daemon, &client, &format!("abort before move {n}"));
        assert_ne!(
            read(&client.join("cert.pem")),
            old,
            "n={n}: the update is completed, not rolled back"
        );
        assert!(n < 50, "renew never finished");
    }
    // server cert and key, client cert and key, the inventory (ca.pem files are unchanged).
    assert_eq!(aborted, 5, "every rename was interrupted once");
}

#[test]
fn renew_killed_at_random_instants_always_leaves_working_layouts() {
    const MIN_ITERATIONS: usize = 100;
    const MAX_ITERATIONS: usize = 500;
    const BUDGET: Duration = Duration::from_secs(60);
    let (env, daemon, client) = bootstrapped();
    let spawn = || env.spawn_quiet(&["renew", "--all"]);
    // The typical runtime bounds the random delay, so kills land all over the command.
    let mut runs: Vec<Duration> = (0..5)
        .map(|_| {
            let started = Instant::now();
            let status = spawn().wait().unwrap();
            assert!(status.success());
            started.elapsed()
        })
        .collect();
    runs.sort();
    let typical = runs[runs.len() / 2];
    let max_delay_us = typical.as_micros() as u64;

    let mut rng = common::Rng::seeded();
    let (mut before_journal, mut recovered, mut completed) = (0, 0, 0);
    let started = Instant::now();
    let mut iterations = 0;
    while iterations < MAX_ITERATIONS && started.elapsed() < BUDGET {
        let old = read(&client.join("cert.pem"));
        let mut child = spawn();
        std::thread::sleep(Duration::from_micros(rng.below(max_delay_us + 1)));
        // SIGKILL to exactly this child (a no-op error if it already exited).
        let _ = child.kill();
        let status = child.wait().unwrap();
        let journal = env.state().join("journal.json").exists();
        if status.success() {
            completed += 1;
        } else if journal {
            recovered += 1;
        } else if read(&client.join("cert.pem")) != old {
            // Killed after the journal was removed: the update had finished.
            completed += 1;
        } else {
            before_journal += 1;
        }
        assert_consistent(&env, &daemon, &client, &format!("iteration {iterations}"));
        iterations += 1;
    }
    eprintln!(
        "random SIGKILL of `renew --all` (delay 0..={max_delay_us}µs, typical run {typical:?}): \
         {iterations} iterations in {:.1?}: {before_journal} before journal, \
         {recovered} recovered a journal, {completed} completed before kill",
        started.elapsed()
    );
    assert!(
        iterations >= MIN_ITERATIONS,
        "only {iterations} iterations fit in {BUDGET:?}"
    );
}
