//! Every command line dockpki prints for the operator to run repeats the global options in force
//! (issue 10, item 3): pasted into a shell, from any directory, it acts on the same state as the
//! command that printed it, never on the default `~/.local/share/dockpki`.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{assert_success, s, stdout, Env};

/// The `dockpki …` command line in `text` right after `marker`, or else the first one in
/// backticks after it, up to the closing backtick or the end of the line.
fn hint_after(text: &str, marker: &str) -> String {
    let start = text
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker:?} in:\n{text}"))
        + marker.len();
    let rest = &text[start..];
    let rest = if rest.starts_with("dockpki ") {
        rest
    } else {
        &rest[rest.find("`dockpki ").expect("a dockpki command") + 1..]
    };
    rest.split(['`', '\n']).next().unwrap().to_string()
}

/// Runs `line` through `sh -c` in `cwd` (another directory than the one the hint was printed
/// in), with the test's binary first on PATH and the sandbox's HOME, as a person pasting it.
fn paste(env: &Env, cwd: &Path, line: &str) -> Output {
    let bin_dir = common::bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("sh")
        .arg("-c")
        .arg(line)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", path)
        .env("HOME", env.home())
        .env("USER", "tester")
        .output()
        .expect("run sh")
}

/// `dockpki --state rel/state …` run from the sandbox root: the state given as a relative path.
fn relative(env: &Env, args: &[&str]) -> Output {
    env.bare()
        .args(["--state", "rel state"])
        .args(args)
        .output()
        .expect("run dockpki")
}

#[test]
fn the_renew_hint_of_status_acts_on_the_same_state_when_pasted_elsewhere() {
    let env = Env::new();
    assert_success(&relative(&env, &["ca", "init"]));
    let client = env.path("client");
    assert_success(&relative(
        &env,
        &["issue", "client", "--name", "alice", "--out", s(&client)],
    ));
    // A month on, alice's 90-day certificate is due within 100 days.
    common::age_certificates_in(&env.path("rel state"), "any", 31);
    let out = relative(&env, &["status", "--within", "100d"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let hint = hint_after(&stderr, "renew it: ");
    let state = env.path("rel state");
    assert_eq!(
        hint,
        format!("dockpki --state '{}' renew --within 100d", state.display())
    );
    // Pasted in HOME, where a relative `rel state` would name nothing, it renews alice.
    let before = std::fs::read(client.join("cert.pem")).unwrap();
    assert_success(&paste(&env, &env.home(), &hint));
    assert_ne!(std::fs::read(client.join("cert.pem")).unwrap(), before);
    assert!(
        !env.home().join(".local/share/dockpki").exists(),
        "the pasted hint created the default state"
    );
}

#[test]
fn engine_advice_in_an_error_names_the_state_and_passphrase_file_in_force() {
    let env = Env::new();
    let pass = env.path("pass phrase");
    common::write_secret(&pass, "correct horse\n");
    let out = env
        .cmd()
        .args(["--passphrase-file", s(&pass), "--insecure-perms"])
        .args(["issue", "client", "--name", "a", "--out", s(&env.path("c"))])
        .output()
        .unwrap();
    let line = common::assert_error_line(&out, "create one with");
    let hint = hint_after(&line, "create one with `");
    assert_eq!(
        hint,
        format!(
            "dockpki --state {} --passphrase-file '{}' --insecure-perms ca init",
            env.state().display(),
            pass.display()
        )
    );
    // The advice, pasted, creates the CA where the failed command looked for it.
    assert_success(&paste(&env, &env.home(), &hint));
    assert!(env.state().join("ca.pem").is_file());
}

#[test]
fn rotation_hints_name_the_state_and_a_phase_that_changed_no_daemon_asks_for_no_restart() {
    let env = Env::new();
    env.ca_init(&[]);
    env.issue_client("alice", &env.path("client"), &[]);
    let out = env.ok(&["ca", "rotate", "begin"]);
    let text = stdout(&out);
    let next = hint_after(&text, "next: ");
    assert_eq!(
        next,
        format!(
            "dockpki --state {} ca rotate reissue",
            env.state().display()
        )
    );
    assert!(
        !text.contains("restart the daemons listed"),
        "no daemon layout was changed, yet:\n{text}"
    );
    let out = paste(&env, &env.home(), &next);
    assert_success(&out);
    let text = stdout(&out);
    assert!(!text.contains("restart the daemons listed"), "{text}");
    let finish = hint_after(&text, "next: ");
    assert_success(&paste(&env, &env.home(), &finish));
    let status = stdout(&env.ok(&["ca", "rotate", "status"]));
    assert!(status.contains("phase:      none"), "{status}");
}

#[test]
fn a_state_named_by_dockpki_state_is_repeated_too() {
    let env = Env::new();
    let out = env
        .bare()
        .env("DOCKPKI_STATE", env.state())
        .args(["status"])
        .output()
        .unwrap();
    let line = common::assert_error_line(&out, "create one with");
    assert!(
        line.contains(&format!(
            "`dockpki --state {} ca init`",
            env.state().display()
        )),
        "{line}"
    );
}

/// A `--state` or `--passphrase-file` path that cannot be printed as itself (a newline, an
/// escape sequence, a bidi override) is refused before anything is done: every hint repeats it,
/// and pasted it would name another path (or drive the terminal).
#[test]
fn a_global_path_that_cannot_be_printed_for_a_shell_is_refused_up_front() {
    let env = Env::new();
    for (flag, bad) in [
        ("--state", "s\nx"),
        ("--state", "s\u{1b}]0;T\u{7}"),
        ("--passphrase-file", "p\u{202e}txt"),
    ] {
        let path = env.path(bad);
        let out = env
            .bare()
            .arg(flag)
            .arg(&path)
            .args(["bootstrap", "--san", "localhost"])
            .args([
                "--daemon-dir",
                s(&env.path("d")),
                "--client-dir",
                s(&env.path("c")),
            ])
            .output()
            .unwrap();
        common::assert_error_line(&out, &format!("the {flag}"));
        assert!(out.stdout.is_empty(), "{out:?}");
        assert!(
            !env.path("d").exists() && !env.path(bad).exists(),
            "{flag} {bad:?}"
        );
    }
}
