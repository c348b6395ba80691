//! `--help` as operators see it: the same text on every terminal, narrow, wide or none (an
//! example is never wrapped), and docs/cli.md is exactly that text for every command, so the
//! reference can never drift from the binary.
//!
//! After changing any help text, regenerate docs/cli.md with
//! `DOCKPKI_UPDATE_CLI_DOC=1 cargo test -p dockpki-cli --test cli_help` (a switch of this test,
//! not of the binary) and review the diff.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use common::{assert_success, bin, every_command, prerequisite, stdout, Env};

/// The line of docs/cli.md after which everything is generated; above it is written by hand.
const GENERATED: &str = "<!-- Generated from the binary's --help by crates/dockpki-cli/tests/cli_help.rs: edit the help in crates/dockpki-cli/src/cli.rs, then run DOCKPKI_UPDATE_CLI_DOC=1 cargo test -p dockpki-cli --test cli_help -->\n";

fn docs_cli_md() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/cli.md")
}

/// `dockpki WORDS --help`, with nothing in the environment that shows in help (the global
/// options' environment variables) or could change its width.
fn help(env: &Env, words: &[String], columns: Option<&str>) -> String {
    let mut cmd = env.bare();
    cmd.env_remove("DOCKPKI_PASSPHRASE_FILE")
        .env_remove("COLUMNS");
    if let Some(c) = columns {
        cmd.env("COLUMNS", c);
    }
    let out = cmd.args(words).arg("--help").output().unwrap();
    assert_success(&out);
    assert!(out.stderr.is_empty(), "{words:?}: {out:?}");
    stdout(&out)
}

fn title(words: &[String]) -> String {
    std::iter::once("dockpki")
        .chain(words.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The generated part of docs/cli.md: a contents line, then each command's help in a block.
fn generated(env: &Env) -> String {
    let commands = every_command(env);
    let mut out = String::from("\n");
    for words in &commands {
        let t = title(words);
        let anchor = t.replace(' ', "-");
        out.push_str(&format!("- [`{t}`](#{anchor})\n"));
    }
    for words in &commands {
        out.push_str(&format!(
            "\n## {}\n\n```text\n{}```\n",
            title(words),
            help(env, words, None)
        ));
    }
    out
}

#[test]
fn docs_cli_md_is_the_help_of_every_command() {
    let env = Env::new();
    let path = docs_cli_md();
    let current = fs::read_to_string(&path).unwrap_or_default();
    let head = current
        .split_once(GENERATED)
        .map(|(head, _)| head.to_string());
    if std::env::var_os("DOCKPKI_UPDATE_CLI_DOC").is_some() {
        let head = head.unwrap_or_else(|| "# Command-line reference\n\n".to_string());
        fs::write(&path, format!("{head}{GENERATED}{}", generated(&env))).unwrap();
        return;
    }
    let head = head.unwrap_or_else(|| {
        panic!(
            "{} lacks the line {GENERATED:?}; regenerate it with DOCKPKI_UPDATE_CLI_DOC=1",
            path.display()
        )
    });
    let want = format!("{head}{GENERATED}{}", generated(&env));
    if current != want {
        let (n, (have, should)) = current
            .lines()
            .chain(std::iter::repeat("<end of file>"))
            .zip(want.lines().chain(std::iter::repeat("<end of file>")))
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .unwrap_or((0, ("", "")));
        panic!(
            "docs/cli.md is not the binary's help; regenerate it with `DOCKPKI_UPDATE_CLI_DOC=1 cargo test -p dockpki-cli --test cli_help` and review the diff.\nfirst difference, line {}:\n  docs/cli.md: {have:?}\n  the binary:  {should:?}",
            n + 1
        );
    }
}

#[test]
fn docs_cli_md_lists_the_nested_commands() {
    let text = fs::read_to_string(docs_cli_md()).unwrap();
    for heading in [
        "## dockpki ca rotate begin\n",
        "## dockpki ca rotate finish\n",
        "## dockpki context update\n",
        "## dockpki completions\n",
        "## dockpki man\n",
    ] {
        assert!(text.contains(heading), "{heading}");
    }
}

#[test]
fn help_is_the_same_text_on_a_narrow_and_a_wide_terminal() {
    let env = Env::new();
    for words in every_command(&env) {
        let plain = help(&env, &words, None);
        assert_eq!(help(&env, &words, Some("40")), plain, "{words:?}");
        assert_eq!(help(&env, &words, Some("400")), plain, "{words:?}");
    }
}

/// `text` without ANSI SGR sequences (clap styles help on a terminal).
fn without_styles(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else if c != '\r' {
            out.push(c);
        }
    }
    out
}

#[test]
fn on_a_40_column_terminal_no_example_is_wrapped() {
    if !prerequisite(
        Command::new("script").arg("--version").output().is_ok(),
        "script (bsdutils; .ci/run installs it)",
    ) {
        return;
    }
    let env = Env::new();
    for words in every_command(&env) {
        let line = format!(
            "stty cols 40 rows 20; exec \"$DOCKPKI\" {} --help",
            words.join(" ")
        );
        let out = Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .env("DOCKPKI", bin())
            .env_remove("DOCKPKI_PASSPHRASE_FILE")
            .env_remove("DOCKPKI_STATE")
            .env_remove("COLUMNS")
            .output()
            .unwrap();
        assert_success(&out);
        assert_eq!(
            without_styles(&stdout(&out)),
            help(&env, &words, None),
            "{words:?} on a terminal"
        );
    }
}
