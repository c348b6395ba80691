//! `dockpki completions SHELL`: each script is produced, and loads and completes in the real
//! shell where CI has it (bash always; fish, which .ci/run installs); zsh's and PowerShell's
//! are checked by their shape.

mod common;

use std::process::Command;

use common::{assert_error_line, assert_success, bin, json, prerequisite, stdout, Env};

/// Every command and subcommand name a script must offer.
const NAMES: &[&str] = &[
    "ca",
    "init",
    "encrypt",
    "decrypt",
    "rotate",
    "begin",
    "reissue",
    "finish",
    "status",
    "issue",
    "server",
    "client",
    "bootstrap",
    "inspect",
    "verify",
    "renew",
    "revoke",
    "crl",
    "daemon-config",
    "systemd-dropin",
    "env",
    "sans",
    "context",
    "create",
    "update",
    "probe",
    "completions",
    "man",
];

fn script(env: &Env, shell: &str) -> String {
    let out = env.bare().args(["completions", shell]).output().unwrap();
    assert_success(&out);
    assert!(out.stderr.is_empty(), "{shell}: {out:?}");
    let text = stdout(&out);
    for name in NAMES {
        assert!(text.contains(name), "{shell} script lacks {name}");
    }
    text
}

/// Runs `script` in bash, which has the completion script loaded (`source <(dockpki completions
/// bash)`, as README.md says), and returns its stdout.
fn bash(script: &str) -> String {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source <(\"$DOCKPKI\" completions bash) || exit 9\n{script}"
        ))
        .env("DOCKPKI", bin())
        .output()
        .unwrap();
    assert_success(&out);
    stdout(&out)
}

/// What the bash completion offers after `words` (the last one being completed).
fn bash_offers(words: &[&str]) -> Vec<String> {
    let cword = words.len() - 1;
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let offered = bash(&format!(
        "COMP_WORDS=({}); COMP_CWORD={cword}; _dockpki dockpki '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        quoted.join(" "),
        words[cword],
        words[cword - 1],
    ));
    offered.lines().map(str::to_string).collect()
}

#[test]
fn bash_loads_the_script_and_registers_dockpki() {
    let env = Env::new();
    script(&env, "bash");
    assert_eq!(
        bash("complete -p dockpki"),
        "complete -o bashdefault -o default -o nosort -F _dockpki dockpki\n"
    );
}

#[test]
fn bash_completes_nested_commands_and_their_options() {
    let rotate = bash_offers(&["dockpki", "ca", "rotate", ""]);
    for phase in ["begin", "reissue", "finish", "status"] {
        assert!(rotate.iter().any(|w| w == phase), "{rotate:?}");
    }
    assert!(!rotate.iter().any(|w| w == "init"), "{rotate:?}");
    let client = bash_offers(&["dockpki", "issue", "client", "--"]);
    for flag in ["--name", "--validity", "--out", "--force", "--state"] {
        assert!(client.iter().any(|w| w == flag), "{client:?}");
    }
    assert!(!client.iter().any(|w| w == "--san"), "{client:?}");
}

#[test]
fn fish_loads_the_script_and_completes_nested_commands() {
    let env = Env::new();
    script(&env, "fish");
    if !prerequisite(
        Command::new("fish").arg("--version").output().is_ok(),
        "fish (apt-get install fish; .ci/run installs it)",
    ) {
        return;
    }
    let out = Command::new("fish")
        .arg("-c")
        .arg("$DOCKPKI completions fish | source; or exit 9; complete -C 'dockpki ca rotate '; complete -C 'dockpki issue client --'")
        .env("DOCKPKI", bin())
        .output()
        .unwrap();
    assert_success(&out);
    let offered: Vec<String> = stdout(&out)
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .collect();
    for word in [
        "begin",
        "reissue",
        "finish",
        "status",
        "--name",
        "--validity",
        "--out",
    ] {
        assert!(offered.iter().any(|w| w == word), "{word}: {offered:?}");
    }
    assert!(!offered.iter().any(|w| w == "init"), "{offered:?}");
}

#[test]
fn zsh_script_is_a_compdef_function_for_dockpki() {
    let text = script(&Env::new(), "zsh");
    assert!(text.starts_with("#compdef dockpki\n"), "{}", &text[..80]);
    assert!(text.contains("\n_dockpki() {\n"));
    assert!(text.contains("compdef _dockpki dockpki"));
    // One function per nested command, so `dockpki ca rotate <TAB>` lists the phases.
    assert!(text.contains("_dockpki__subcmd__ca__subcmd__rotate_commands()"));
    assert!(text.contains("'--passphrase-file=[Read the CA key"));
}

#[test]
fn powershell_script_registers_a_native_completer_for_dockpki() {
    let text = script(&Env::new(), "powershell");
    assert!(
        text.contains("Register-ArgumentCompleter -Native -CommandName 'dockpki' -ScriptBlock {")
    );
    assert!(text.contains("'dockpki;ca;rotate' {"));
    assert!(text.contains("[CompletionResult]::new('reissue', 'reissue'"));
    assert_eq!(text.matches('{').count(), text.matches('}').count());
}

#[test]
fn an_unknown_shell_is_a_one_line_error_naming_the_shells() {
    let env = Env::new();
    for bad in ["sh", "elvish", "BASH"] {
        let out = env.bare().args(["completions", bad]).output().unwrap();
        assert!(out.stdout.is_empty());
        assert_error_line(&out, "unknown shell");
        assert_error_line(&out, "give one of bash, zsh, fish, powershell");
    }
    let out = env.bare().arg("completions").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn with_json_the_script_is_one_document() {
    let env = Env::new();
    let out = env
        .bare()
        .args(["--json", "completions", "fish"])
        .output()
        .unwrap();
    assert_success(&out);
    let doc = json(&out);
    assert_eq!(doc["shell"], "fish");
    assert_eq!(doc["script"].as_str().unwrap(), script(&env, "fish"));
}

#[test]
fn completions_write_nothing_and_need_no_state() {
    let env = Env::new();
    let before = common::snapshot(env.root());
    for shell in ["bash", "zsh", "fish", "powershell"] {
        script(&env, shell);
        env.cmd().args(["completions", shell]).assert().success();
    }
    common::assert_unchanged(&before, &common::snapshot(env.root()), "completions");
}
