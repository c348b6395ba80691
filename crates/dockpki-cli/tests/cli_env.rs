//! `dockpki env`: shell commands for the docker CLI.

mod common;

use std::fs;
use std::path::Path;

use common::{json, s, stdout, Env};

/// A client layout in `root/client` (only existence is checked).
fn client(env: &Env) -> std::path::PathBuf {
    let dir = env.path("client dir");
    fs::create_dir_all(&dir).unwrap();
    for n in ["ca.pem", "cert.pem", "key.pem"] {
        fs::write(dir.join(n), "x").unwrap();
    }
    dir
}

fn env_out(env: &Env, dir: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "env",
        "--host",
        "tcp://docker.example.com:2376",
        "--client-dir",
        s(dir),
    ];
    args.extend_from_slice(extra);
    stdout(&env.ok(&args))
}

#[test]
fn sh_output_exports_the_three_variables_and_evaluates_in_sh() {
    let env = Env::new();
    let dir = client(&env);
    let text = env_out(&env, &dir, &[]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "export DOCKER_HOST=tcp://docker.example.com:2376");
    assert_eq!(lines[1], "export DOCKER_TLS_VERIFY=1");
    assert_eq!(
        lines[2],
        format!("export DOCKER_CERT_PATH='{}'", dir.display())
    );
    assert_eq!(lines[3], "# Run this command to configure your shell:");
    assert!(
        lines[4].starts_with("# eval \"$(dockpki env --host "),
        "{text}"
    );
    // The quoting survives a real shell: the directory name has a space.
    let out = std::process::Command::new("sh")
        .args(["-c", &format!("{text}\nprintf '%s|%s|%s' \"$DOCKER_HOST\" \"$DOCKER_TLS_VERIFY\" \"$DOCKER_CERT_PATH\"")])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("tcp://docker.example.com:2376|1|{}", dir.display())
    );
}

#[test]
fn fish_and_powershell_get_their_own_syntax() {
    let env = Env::new();
    let dir = client(&env);
    let fish = env_out(&env, &dir, &["--shell", "fish"]);
    assert!(fish.contains("set -gx DOCKER_TLS_VERIFY '1';"), "{fish}");
    assert!(fish.contains("| source"), "{fish}");
    let ps = env_out(&env, &dir, &["--shell", "powershell"]);
    assert!(
        ps.contains("$Env:DOCKER_HOST = 'tcp://docker.example.com:2376'"),
        "{ps}"
    );
    assert!(ps.contains("Invoke-Expression"), "{ps}");
}

#[test]
fn json_gives_the_variables_as_an_object() {
    let env = Env::new();
    let dir = client(&env);
    let v = json(&env.ok(&[
        "--json",
        "env",
        "--host",
        "tcp://[::1]:2376",
        "--client-dir",
        s(&dir),
    ]));
    assert_eq!(
        v,
        serde_json::json!({
            "schema": "dockpki/env/v1",
            "set": {
                "DOCKER_HOST": "tcp://[::1]:2376",
                "DOCKER_TLS_VERIFY": "1",
                "DOCKER_CERT_PATH": dir.display().to_string(),
            },
            "unset": [],
        })
    );
}

#[test]
fn bad_hosts_shells_and_incomplete_client_dirs_are_refused() {
    let env = Env::new();
    let dir = client(&env);
    for (host, phrase) in [
        ("tcp://docker.example.com:0", "no valid port"),
        ("unix:///var/run/docker.sock", "uses unix://"),
        ("2001:db8::1:2376", "an IPv6 address goes in brackets"),
    ] {
        env.assert_refused(&["env", "--host", host, "--client-dir", s(&dir)], phrase);
    }
    env.assert_refused(
        &[
            "env",
            "--host",
            "tcp://h:2376",
            "--client-dir",
            s(&dir),
            "--shell",
            "csh",
        ],
        "unknown shell",
    );
    fs::remove_file(dir.join("key.pem")).unwrap();
    let line = env.assert_refused(
        &["env", "--host", "tcp://h:2376", "--client-dir", s(&dir)],
        "has no key.pem",
    );
    assert!(line.contains(&env.hint("issue client")), "{line}");
}

#[test]
fn the_default_client_dir_is_home_docker() {
    let env = Env::new();
    let docker = env.home().join(".docker");
    fs::create_dir_all(&docker).unwrap();
    for n in ["ca.pem", "cert.pem", "key.pem"] {
        fs::write(docker.join(n), "x").unwrap();
    }
    let v = json(&env.ok(&["--json", "env", "--host", "tcp://h:2376"]));
    assert_eq!(v["set"]["DOCKER_CERT_PATH"], docker.display().to_string());
}

// --- Shell output under hostile values ------------------------------------------------------
//
// `dockpki env` prints code that users `eval`. These tests feed it values that are legal but
// full of shell syntax and check, through the real shells, that each variable gets exactly the
// value given and nothing else runs; and that values which cannot be quoted on one line are
// refused before anything is printed.

/// Directory names that are legal but full of syntax of some shell: quotes of every kind
/// (PowerShell also ends a single-quoted string at U+2018..U+201B), command substitutions that
/// would create `x`, separators, backslashes, globs and variables.
const HOSTILE_DIRS: &[&str] = &[
    "sp ace",
    "it's",
    "dq\"uote",
    "$(touch x)",
    "`touch x`",
    ";touch x;",
    "back\\slash",
    "\\'; touch x; echo \\",
    "$HOME ${x} * ? [a]",
    "\u{2019}; New-Item x; \u{2018}",
    "''; New-Item x; ''",
    "#hash",
    "-dash",
    "é ü",
];

/// Hosts that `--host` accepts (tcp://, a name, a port) with the same kind of syntax in them;
/// `${IFS}` instead of a space, which no daemon address holds (refused).
const HOSTILE_HOSTS: &[&str] = &[
    "tcp://$(touch${IFS}x):2376",
    "tcp://`touch${IFS}x`';\"h:2376",
    "tcp://h\\';touch${IFS}x;echo${IFS}\\:2376",
    "tcp://h\u{2019};New-Item${IFS}x:2376",
];

/// A client layout in `root/NAME` (only existence is checked).
fn client_named(env: &Env, name: &str) -> std::path::PathBuf {
    let dir = env.root().join(name);
    fs::create_dir_all(&dir).unwrap();
    for n in ["ca.pem", "cert.pem", "key.pem"] {
        fs::write(dir.join(n), "x").unwrap();
    }
    dir
}

/// Runs `program args` in the sandbox root with `stdin`, the directory of the binary under test
/// first on PATH (so that the printed hint can run `dockpki`), and the variables under test
/// removed from its environment.
fn shell(env: &Env, program: &str, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let bin_dir = common::bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // fish creates its configuration and history under XDG_CONFIG_HOME and XDG_DATA_HOME: kept
    // outside the sandbox, whose every change the tests look for.
    let shell_home = tempfile::tempdir().unwrap();
    let mut child = Command::new(program)
        .args(args)
        .current_dir(env.root())
        .env("HOME", env.home())
        .env("XDG_CONFIG_HOME", shell_home.path())
        .env("XDG_DATA_HOME", shell_home.path())
        .env("XDG_CACHE_HOME", shell_home.path())
        .env("PATH", path)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env_remove("DOCKPKI_STATE")
        .env_remove("SUDO_UID")
        .env_remove("SUDO_USER")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// `env --host HOST --client-dir DIR --shell SHELL`, which must succeed.
fn env_text(env: &Env, host: &str, dir: &Path, shell_name: &str) -> String {
    stdout(&env.ok(&[
        "env",
        "--host",
        host,
        "--client-dir",
        s(dir),
        "--shell",
        shell_name,
    ]))
}

/// The hint line of an `env` output, without its `# `.
fn hint(text: &str) -> &str {
    let last = text.lines().last().expect("a hint line");
    last.strip_prefix("# ")
        .unwrap_or_else(|| panic!("the last line is not a comment: {last:?}"))
}

/// Asserts that `out` (a shell that printed the three variables, one per line) succeeded with
/// exactly `host`, `1` and `dir`, and that nothing was created in the sandbox.
fn assert_variables(
    out: &std::process::Output,
    host: &str,
    dir: &Path,
    before: &std::collections::BTreeMap<std::path::PathBuf, common::Entry>,
    env: &Env,
    what: &str,
) {
    assert!(
        out.status.success(),
        "{what}: the shell failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{host}\n1\n{}", dir.display()),
        "{what}: the variables differ from the values given"
    );
    common::assert_unchanged(before, &common::snapshot(env.root()), what);
}

#[test]
fn hostile_but_legal_values_reach_sh_exactly_and_run_nothing() {
    let env = Env::new();
    let print =
        "printf '%s\\n%s\\n%s' \"$DOCKER_HOST\" \"$DOCKER_TLS_VERIFY\" \"$DOCKER_CERT_PATH\"";
    let mut cases: Vec<(&str, &str)> = HOSTILE_DIRS
        .iter()
        .map(|d| ("tcp://docker.example.com:2376", *d))
        .collect();
    cases.extend(HOSTILE_HOSTS.iter().map(|h| (*h, "plain")));
    for (host, name) in cases {
        let dir = client_named(&env, name);
        let text = env_text(&env, host, &dir, "sh");
        let before = common::snapshot(env.root());
        // The whole output, as `eval "$(dockpki env ...)"` runs it.
        let out = shell(
            &env,
            "sh",
            &["-c", &format!("eval \"$(cat)\"\n{print}")],
            &text,
        );
        assert_variables(
            &out,
            host,
            &dir,
            &before,
            &env,
            &format!("sh eval of {name:?}/{host:?}"),
        );
        // The printed hint, pasted as it is, gives the same.
        let out = shell(
            &env,
            "sh",
            &["-c", &format!("{}\n{print}", hint(&text))],
            "",
        );
        assert_variables(
            &out,
            host,
            &dir,
            &before,
            &env,
            &format!("sh hint of {name:?}/{host:?}"),
        );
    }
}

#[test]
fn hostile_but_legal_values_reach_fish_exactly_and_run_nothing() {
    let has_fish = std::process::Command::new("fish")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !common::prerequisite(has_fish, "fish (apt-get install fish)") {
        return;
    }
    let env = Env::new();
    let print =
        "printf '%s\\n%s\\n%s' \"$DOCKER_HOST\" \"$DOCKER_TLS_VERIFY\" \"$DOCKER_CERT_PATH\"";
    let mut cases: Vec<(&str, &str)> = HOSTILE_DIRS
        .iter()
        .map(|d| ("tcp://docker.example.com:2376", *d))
        .collect();
    cases.extend(HOSTILE_HOSTS.iter().map(|h| (*h, "plain")));
    for (host, name) in cases {
        let dir = client_named(&env, name);
        let text = env_text(&env, host, &dir, "fish");
        let before = common::snapshot(env.root());
        let out = shell(
            &env,
            "fish",
            &["--no-config", "-c", &format!("source -\n{print}")],
            &text,
        );
        assert_variables(
            &out,
            host,
            &dir,
            &before,
            &env,
            &format!("fish source of {name:?}/{host:?}"),
        );
        let out = shell(
            &env,
            "fish",
            &["--no-config", "-c", &format!("{}\n{print}", hint(&text))],
            "",
        );
        assert_variables(
            &out,
            host,
            &dir,
            &before,
            &env,
            &format!("fish hint of {name:?}/{host:?}"),
        );
    }
}

/// How PowerShell reads a single-quoted string (about_Quoting_Rules): it ends at the first
/// quote character (`'` or one of U+2018..U+201B) that is not doubled; a doubled one stands for
/// itself. Returns the value and the text after the closing quote.
fn pwsh_unquote(text: &str) -> (String, String) {
    const QUOTES: [char; 5] = ['\'', '\u{2018}', '\u{2019}', '\u{201a}', '\u{201b}'];
    let mut chars = text.chars().peekable();
    assert!(
        chars.next().is_some_and(|c| QUOTES.contains(&c)),
        "not a single-quoted PowerShell string: {text}"
    );
    let mut value = String::new();
    while let Some(c) = chars.next() {
        if !QUOTES.contains(&c) {
            value.push(c);
        } else if chars.peek().is_some_and(|n| QUOTES.contains(n)) {
            value.push(c);
            chars.next();
        } else {
            return (value, chars.collect());
        }
    }
    panic!("unterminated PowerShell string: {text}");
}

#[test]
fn hostile_but_legal_values_are_single_literals_in_powershell_output() {
    // pwsh is not in Debian; its quoting is checked against a model of its rules instead (and by
    // the real pwsh below when one happens to be installed).
    let env = Env::new();
    let has_pwsh = std::process::Command::new("pwsh")
        .arg("-Version")
        .output()
        .is_ok_and(|o| o.status.success());
    let mut cases: Vec<(&str, &str)> = HOSTILE_DIRS
        .iter()
        .map(|d| ("tcp://docker.example.com:2376", *d))
        .collect();
    cases.extend(HOSTILE_HOSTS.iter().map(|h| (*h, "plain")));
    for (host, name) in cases {
        let dir = client_named(&env, name);
        let text = env_text(&env, host, &dir, "powershell");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        for (line, (var, want)) in lines.iter().zip([
            ("DOCKER_HOST", host.to_string()),
            ("DOCKER_TLS_VERIFY", "1".to_string()),
            ("DOCKER_CERT_PATH", dir.display().to_string()),
        ]) {
            let literal = line
                .strip_prefix(&format!("$Env:{var} = "))
                .unwrap_or_else(|| panic!("unexpected line {line:?}"));
            let (value, rest) = pwsh_unquote(literal);
            assert_eq!(value, want, "{line}");
            assert_eq!(rest, "", "{line}: text after the string would run");
        }
        assert!(lines[3].starts_with("# ") && lines[4].starts_with("# & dockpki env --host "));
        if has_pwsh {
            let before = common::snapshot(env.root());
            let out = shell(
                &env,
                "pwsh",
                &[
                    "-NoProfile",
                    "-NonInteractive",
                    "-Command",
                    "$input | Out-String | Invoke-Expression; Write-Host -NoNewline \"$Env:DOCKER_HOST`n$Env:DOCKER_TLS_VERIFY`n$Env:DOCKER_CERT_PATH\"",
                ],
                &text,
            );
            assert_variables(
                &out,
                host,
                &dir,
                &before,
                &env,
                &format!("pwsh of {name:?}/{host:?}"),
            );
        }
    }
}

#[test]
fn values_with_control_or_bidi_characters_are_refused_in_every_shell() {
    let env = Env::new();
    let good = client(&env);
    let hosts = [
        "tcp://a\ntouch x\n:2376",
        "tcp://a:2376\n# forged",
        "tcp://a\r:2376",
        "tcp://a\x1b]0;pwned\x07:2376",
        "tcp://a\u{202e}:2376",
    ];
    for shell_name in ["sh", "fish", "powershell"] {
        for host in hosts {
            let line = env.assert_refused(
                &[
                    "env",
                    "--host",
                    host,
                    "--client-dir",
                    s(&good),
                    "--shell",
                    shell_name,
                ],
                "control or bidirectional-formatting character",
            );
            assert!(line.contains("--host"), "{line}");
        }
    }
    // A client directory named with a newline: legal on Linux, impossible to put on one line.
    for name in ["new\nline", "esc\x1b[2J", "rlo\u{202e}"] {
        let dir = client_named(&env, name);
        for shell_name in ["sh", "fish", "powershell"] {
            let line = env.assert_refused(
                &[
                    "env",
                    "--host",
                    "tcp://h:2376",
                    "--client-dir",
                    s(&dir),
                    "--shell",
                    shell_name,
                ],
                "the client directory",
            );
            assert!(
                line.contains("\\n") || line.contains("\\x1b") || line.contains("\\u{202e}"),
                "the refusal does not show the character escaped: {line}"
            );
        }
    }
}

/// `dockpki ARGS` with `SHELL` set to `login` (unset for `None`); must succeed.
fn with_login_shell(env: &Env, login: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut cmd = env.cmd();
    if let Some(login) = login {
        cmd.env("SHELL", login);
    }
    let out = cmd.args(args).output().unwrap();
    common::assert_success(&out);
    out
}

#[test]
fn without_shell_the_syntax_follows_the_basename_of_the_login_shell() {
    let env = Env::new();
    let dir = client(&env);
    let args = [
        "env",
        "--host",
        "tcp://docker.example.com:2376",
        "--client-dir",
        s(&dir),
    ];
    for (login, first, hint_end) in [
        (Some("/bin/bash"), "export DOCKER_HOST=", "--shell sh)\""),
        (Some("/usr/bin/zsh"), "export DOCKER_HOST=", "--shell sh)\""),
        (Some("/bin/sh"), "export DOCKER_HOST=", "--shell sh)\""),
        (Some("/bin/dash"), "export DOCKER_HOST=", "--shell sh)\""),
        (Some("/bin/ksh"), "export DOCKER_HOST=", "--shell sh)\""),
        (
            Some("/usr/bin/fish"),
            "set -gx DOCKER_HOST ",
            "--shell fish | source",
        ),
        (
            Some("/opt/microsoft/powershell/7/pwsh"),
            "$Env:DOCKER_HOST = ",
            "--shell powershell | Invoke-Expression",
        ),
        (
            Some("powershell"),
            "$Env:DOCKER_HOST = ",
            "--shell powershell | Invoke-Expression",
        ),
        (None, "export DOCKER_HOST=", "--shell sh)\""),
        (Some(""), "export DOCKER_HOST=", "--shell sh)\""),
    ] {
        let out = with_login_shell(&env, login, &args);
        let text = stdout(&out);
        assert!(text.starts_with(first), "SHELL={login:?}: {text}");
        assert!(
            text.trim_end().ends_with(hint_end),
            "SHELL={login:?}: {text}"
        );
        assert!(
            out.stderr.is_empty(),
            "SHELL={login:?}: {:?}",
            String::from_utf8_lossy(&out.stderr)
        );
        // --unset follows it the same way.
        let unset = stdout(&with_login_shell(&env, login, &["env", "--unset"]));
        let expected_first = match first {
            "export DOCKER_HOST=" => "unset DOCKER_HOST",
            "set -gx DOCKER_HOST " => "set -e DOCKER_HOST;",
            _ => "Remove-Item Env:DOCKER_HOST -ErrorAction SilentlyContinue",
        };
        assert_eq!(
            unset.lines().next(),
            Some(expected_first),
            "SHELL={login:?}: {unset}"
        );
    }
    // --shell wins over SHELL.
    let mut explicit = args.to_vec();
    explicit.extend_from_slice(&["--shell", "sh"]);
    let text = stdout(&with_login_shell(&env, Some("/usr/bin/fish"), &explicit));
    assert!(text.starts_with("export DOCKER_HOST="), "{text}");
}

#[test]
fn an_unknown_login_shell_gets_posix_syntax_and_a_note_naming_it() {
    let env = Env::new();
    let dir = client(&env);
    let out = with_login_shell(
        &env,
        Some("/bin/tcsh"),
        &[
            "env",
            "--host",
            "tcp://docker.example.com:2376",
            "--client-dir",
            s(&dir),
        ],
    );
    assert!(
        stdout(&out).starts_with("export DOCKER_HOST="),
        "{}",
        stdout(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("dockpki: SHELL is \"/bin/tcsh\", whose syntax dockpki does not print; printing POSIX sh commands (pass --shell"),
        "{stderr}"
    );
    // JSON does not depend on the shell: no note.
    let out = with_login_shell(
        &env,
        Some("/bin/tcsh"),
        &[
            "--json",
            "env",
            "--host",
            "tcp://docker.example.com:2376",
            "--client-dir",
            s(&dir),
        ],
    );
    assert!(out.stderr.is_empty());
}

/// The variables after `script`, as `HOST|VERIFY|PATH` with `-` for an unset one, in `sh`-like
/// `program`.
fn posix_variables_after(env: &Env, program: &str, script: &str) -> String {
    let print = "printf '%s|%s|%s' \"${DOCKER_HOST--}\" \"${DOCKER_TLS_VERIFY--}\" \"${DOCKER_CERT_PATH--}\"";
    let out = shell(env, program, &["-c", &format!("{script}\n{print}")], "");
    assert!(
        out.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn unset_output_removes_what_env_set_in_sh_bash_and_dash() {
    let env = Env::new();
    let dir = client(&env);
    let set = env_text(&env, "tcp://docker.example.com:2376", &dir, "sh");
    let unset = stdout(&env.ok(&["env", "--unset", "--shell", "sh"]));
    assert_eq!(
        unset,
        "unset DOCKER_HOST\nunset DOCKER_TLS_VERIFY\nunset DOCKER_CERT_PATH\n# Run this command to configure your shell:\n# eval \"$(dockpki env --unset --shell sh)\"\n"
    );
    for program in ["sh", "bash", "dash"] {
        let has = std::process::Command::new(program)
            .args(["-c", "true"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !common::prerequisite(has, program) {
            continue;
        }
        assert_eq!(
            posix_variables_after(&env, program, &set),
            format!("tcp://docker.example.com:2376|1|{}", dir.display()),
            "{program}"
        );
        assert_eq!(
            posix_variables_after(&env, program, &format!("{set}\n{unset}")),
            "-|-|-",
            "{program}"
        );
        // The printed hint, run as it is, does the same (and unsetting twice is no error).
        assert_eq!(
            posix_variables_after(
                &env,
                program,
                &format!("{set}\n{}\n{}", hint(&unset), hint(&unset))
            ),
            "-|-|-",
            "{program} hint"
        );
    }
}

#[test]
fn fish_detected_from_shell_sets_and_unsets_in_real_fish() {
    let has_fish = std::process::Command::new("fish")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !common::prerequisite(has_fish, "fish (apt-get install fish)") {
        return;
    }
    let env = Env::new();
    let dir = client(&env);
    let set = stdout(&with_login_shell(
        &env,
        Some("/usr/bin/fish"),
        &[
            "env",
            "--host",
            "tcp://docker.example.com:2376",
            "--client-dir",
            s(&dir),
        ],
    ));
    let unset = stdout(&with_login_shell(
        &env,
        Some("/usr/bin/fish"),
        &["env", "--unset"],
    ));
    assert!(unset.starts_with("set -e DOCKER_HOST;"), "{unset}");
    let print = "for v in DOCKER_HOST DOCKER_TLS_VERIFY DOCKER_CERT_PATH; if set -q $v; printf '%s|' $$v; else; printf '-|'; end; end";
    let run = |script: &str| {
        let out = shell(
            &env,
            "fish",
            &["--no-config", "-c", &format!("{script}\n{print}")],
            "",
        );
        assert!(
            out.status.success(),
            "fish: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(
        run(&set),
        format!("tcp://docker.example.com:2376|1|{}|", dir.display())
    );
    assert_eq!(run(&format!("{set}\n{unset}")), "-|-|-|");
    // The hint, piped to source as printed; unsetting twice is no error either.
    assert_eq!(
        run(&format!("{set}\n{}\n{}", hint(&unset), hint(&unset))),
        "-|-|-|"
    );
    // And the variables are gone from what fish exports to the programs it starts.
    let exported = run(&format!("{set}\n{unset}\nenv | grep '^DOCKER_' ; true"));
    assert_eq!(exported, "-|-|-|");
}

#[test]
fn unset_takes_no_host_or_client_dir_and_powershell_removes_each_variable() {
    let env = Env::new();
    let ps = stdout(&env.ok(&["env", "--unset", "--shell", "powershell"]));
    assert_eq!(
        ps,
        "Remove-Item Env:DOCKER_HOST -ErrorAction SilentlyContinue\nRemove-Item Env:DOCKER_TLS_VERIFY -ErrorAction SilentlyContinue\nRemove-Item Env:DOCKER_CERT_PATH -ErrorAction SilentlyContinue\n# Run this command to configure your shell:\n# & dockpki env --unset --shell powershell | Invoke-Expression\n"
    );
    assert_eq!(
        json(&env.ok(&["--json", "env", "--unset"])),
        serde_json::json!({
            "schema": "dockpki/env/v1",
            "set": {},
            "unset": ["DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"],
        })
    );
    for args in [
        &["env", "--unset", "--host", "tcp://h:2376"][..],
        &["env", "--unset", "--client-dir", "/tmp"][..],
        &["env"][..],
    ] {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    }
}
