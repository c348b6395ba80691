//! The command-line contract: help with examples for every subcommand, exit code 2 for
//! malformed usage (clap), exit code 1 for bad values.

mod common;

use common::Env;
use predicates::prelude::*;

const SUBCOMMANDS: &[&[&str]] = &[
    &[],
    &["ca"],
    &["ca", "init"],
    &["issue"],
    &["issue", "server"],
    &["issue", "client"],
    &["bootstrap"],
    &["inspect"],
    &["verify"],
    &["context"],
    &["context", "create"],
    &["context", "update"],
    &["probe"],
];

#[test]
fn help_of_every_subcommand_exits_0_and_shows_examples() {
    let env = Env::new();
    for sub in SUBCOMMANDS {
        env.bare()
            .args(*sub)
            .arg("--help")
            .assert()
            .code(0)
            .stdout(predicate::str::contains("Examples"))
            .stdout(predicate::str::contains("Usage: dockpki"));
    }
}

#[test]
fn help_writes_nothing() {
    let env = Env::new();
    let before = common::snapshot(env.root());
    for sub in SUBCOMMANDS {
        env.cmd().args(*sub).arg("--help").assert().code(0);
    }
    common::assert_unchanged(&before, &common::snapshot(env.root()), "--help");
    assert!(!env.state().exists());
}

#[test]
fn help_lists_the_exit_codes_and_key_types() {
    let env = Env::new();
    env.bare().arg("--help").assert().stdout(
        predicate::str::contains("Exit codes")
            .and(predicate::str::contains("3  changes pending"))
            .and(predicate::str::contains("4  broken now")),
    );
    env.bare()
        .args(["issue", "client", "--help"])
        .assert()
        .stdout(predicate::str::contains("rsa-4096").and(predicate::str::contains("ed25519")));
}

#[test]
fn version_exits_0() {
    Env::new()
        .bare()
        .arg("--version")
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("dockpki "));
}

#[test]
fn usage_errors_exit_2_and_write_nothing() {
    let env = Env::new();
    let out = env.path("out");
    let out = common::s(&out);
    let cases: &[&[&str]] = &[
        &["issue", "client", "--name", "a", "--out", out, "--bogus"],
        &["issue", "client", "--name", "a"],
        &["issue", "client", "--out", out],
        &["issue", "server", "--san", "localhost"],
        &["issue"],
        &["ca"],
        &["frobnicate"],
        &[],
        &["verify", "--unknown"],
        // -q and -v contradict each other.
        &["-q", "-v", "issue", "client", "--name", "a", "--out", out],
    ];
    let before = common::snapshot(env.root());
    for args in cases {
        let o = env.cmd().args(*args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {o:?}");
        assert!(o.stdout.is_empty(), "{args:?}");
        assert!(!o.stderr.is_empty(), "{args:?}");
    }
    common::assert_unchanged(&before, &common::snapshot(env.root()), "usage errors");
}

#[test]
fn missing_out_is_a_usage_error_naming_the_flag() {
    Env::new()
        .cmd()
        .args(["issue", "client", "--name", "a"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--out"));
}

#[test]
fn unknown_flag_is_a_usage_error_naming_the_flag() {
    Env::new()
        .cmd()
        .args(["ca", "init", "--bogus"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--bogus"));
}

/// With `--json`, a usage error is a JSON document on stdout too (schema, message, exit code 2),
/// so that a script parsing stdout learns what was wrong; clap's own text stays on stderr.
#[test]
fn a_usage_error_with_json_is_an_error_document_on_stdout_and_exit_2() {
    let env = Env::new();
    for args in [
        &["--json", "issue", "client", "--bogus"][..],
        &["issue", "--json", "client", "--name", "a"][..],
        &["--json", "frobnicate"][..],
    ] {
        let o = env.cmd().args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {o:?}");
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: stdout is not JSON ({e}): {o:?}"));
        assert_eq!(doc["schema"], "dockpki/error/v1", "{doc}");
        assert_eq!(doc["exit_code"], 2, "{doc}");
        let message = doc["error"].as_str().unwrap();
        assert!(
            !message.is_empty() && !message.contains('\n') && !message.starts_with("error:"),
            "{message:?}"
        );
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("error:"),
            "{o:?}"
        );
    }
    // A `--json` after `--` is a value, not the option: no JSON then.
    let o = env
        .cmd()
        .args(["inspect", "--bogus", "--", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty(), "{o:?}");
}
