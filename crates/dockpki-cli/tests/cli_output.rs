//! What dockpki prints on success (issue 10, item 10): one line saying what a state-changing
//! command did, the files with `-v`, nothing with `-q` but warnings; colours in the `status` and
//! `verify` tables only when asked for or on a terminal without `NO_COLOR`; a spinner on stderr
//! for slow work only on a terminal.

mod common;

use std::fs;
use std::process::{Command, Output};

use common::{assert_success, chmod, s, stdout, Env};

/// The passphrase file of `ca encrypt`.
fn passphrase(env: &Env) -> std::path::PathBuf {
    let pass = env.path("pass");
    common::write_secret(&pass, "correct horse battery staple\n");
    pass
}

/// Runs `args` in `env` with `extra` global options first (e.g. `-q`), asserting success.
fn ok(env: &Env, extra: &[&str], args: &[&str]) -> Output {
    let out = env
        .cmd()
        .args(extra)
        .args(args)
        .env("DOCKER_CONFIG", env.path("docker-config"))
        .env("DOCKPKI_SYSTEMD_UNIT_PATH", env.path("units"))
        .output()
        .expect("run dockpki");
    assert_success(&out);
    out
}

/// Every state-changing command, in an order that works in one sandbox, with the start of the
/// line it prints (`None`: prints several lines, the first starting so).
fn commands(env: &Env) -> Vec<(Vec<String>, &'static str)> {
    let p = |rel: &str| s(&env.path(rel)).to_string();
    fs::create_dir_all(env.path("units")).unwrap();
    fs::write(
        env.path("units/docker.service"),
        "[Service]\nExecStart=/usr/bin/dockerd -H fd:// -H tcp://0.0.0.0:2375\n",
    )
    .unwrap();
    let pass = passphrase(env);
    let words = |line: &str| line.split(' ').map(String::from).collect::<Vec<_>>();
    vec![
        (words("ca init"), "created CA \""),
        (
            words(&format!(
                "bootstrap --san localhost --daemon-dir {} --client-dir {}",
                p("bootstrap-daemon"),
                p("bootstrap-client")
            )),
            "reused CA \"",
        ),
        (
            words(&format!("issue client --name alice --out {}", p("alice"))),
            "issued client certificate \"alice\" (serial ",
        ),
        (
            words(&format!(
                "issue server --san localhost --out {}",
                p("daemon")
            )),
            "issued server certificate \"localhost\" (serial ",
        ),
        (
            words(&format!(
                "context create remote-a --host tcp://localhost:2376 --client-dir {}",
                p("alice")
            )),
            "created docker context \"remote-a\" for tcp://localhost:2376",
        ),
        (
            words("context update remote-a"),
            "updated docker context \"remote-a\"",
        ),
        (
            words("context rm remote-a"),
            "removed the docker context \"remote-a\"",
        ),
        (
            words("revoke --name alice"),
            "revoked client certificate \"alice\" (serial ",
        ),
        (
            words(&format!("crl --out {}", p("crl.pem"))),
            "wrote a CRL of 1 revoked certificate(s)",
        ),
        (
            words(&format!(
                "daemon-config --file {} --daemon-dir {}",
                p("daemon.json"),
                p("daemon")
            )),
            "wrote ",
        ),
        (
            words(&format!("systemd-dropin --out {}", p("dropin.conf"))),
            "wrote ",
        ),
        (words(&format!("man --dir {}", p("man"))), "man pages in "),
        (
            words(&format!("--passphrase-file {} ca encrypt", s(&pass))),
            "encrypted the CA key(s) in ",
        ),
        (
            words(&format!("--passphrase-file {} ca decrypt", s(&pass))),
            "decrypted the CA key(s) in ",
        ),
        (words("ca rotate begin"), "began the CA rotation: new CA "),
        (
            words("ca rotate reissue"),
            "re-issued 3 certificate(s) from the new CA ",
        ),
        (words("ca rotate finish"), "finished the CA rotation: "),
    ]
}

#[test]
fn every_state_changing_command_says_first_in_one_line_what_it_did() {
    let env = Env::new();
    for (args, start) in commands(&env) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ok(&env, &[], &args);
        let text = stdout(&out);
        let first = text.lines().next().unwrap_or_default();
        assert!(first.starts_with(start), "{args:?}: {text}");
        // daemon-config, systemd-dropin and the rotation phases add what to do next.
        let next_steps = ["bootstrap", "daemon-config", "systemd-dropin", "ca"].contains(&args[0])
            && !args.contains(&"encrypt")
            && !args.contains(&"decrypt")
            && args[1] != "init";
        if !next_steps {
            assert_eq!(text.lines().count(), 1, "{args:?}: {text}");
        }
    }
}

#[test]
fn quiet_prints_nothing_on_success_for_every_state_changing_command() {
    let env = Env::new();
    for (args, _) in commands(&env) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ok(&env, &["-q"], &args);
        assert!(out.stdout.is_empty(), "{args:?}: {}", stdout(&out));
        // revoke's note that dockerd ignores CRLs is a note, not a warning; daemon-config's
        // warning that the unit passes -H stays.
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.lines().all(|l| l.starts_with("dockpki: warning: ")),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn verbose_adds_the_files_written_after_the_line() {
    let env = Env::new();
    env.ca_init(&[]);
    let alice = env.path("alice");
    let out = env.ok(&[
        "-v",
        "issue",
        "client",
        "--name",
        "alice",
        "--out",
        s(&alice),
    ]);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("issued client certificate"), "{text}");
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        assert!(
            lines.contains(&format!("wrote {}", alice.join(f).display()).as_str()),
            "{f}: {text}"
        );
    }
}

#[test]
fn quiet_still_prints_warnings() {
    let env = Env::new();
    env.ca_init(&[]);
    chmod(&env.state().join("ca-key.pem"), 0o640);
    let alice = env.path("alice");
    let out = env.ok(&[
        "-q",
        "--insecure-perms",
        "issue",
        "client",
        "--name",
        "alice",
        "--out",
        s(&alice),
    ]);
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("dockpki: warning: the CA key ") && stderr.lines().count() == 1,
        "{stderr}"
    );
}

#[test]
fn revoke_by_name_lists_every_serial_it_revoked() {
    let env = Env::new();
    env.ca_init(&[]);
    let mut serials = Vec::new();
    for dir in ["bob1", "bob2", "bob3"] {
        env.issue_client("bob", &env.path(dir), &[]);
        let cert = env.inspect_cert(&env.path(dir).join("cert.pem"));
        serials.push(cert["serial"].as_str().unwrap()[..8].to_string());
    }
    let text = stdout(&env.ok(&["revoke", "--name", "bob"]));
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with("revoked 3 certificates named \"bob\": serials "),
        "{text}"
    );
    for serial in &serials {
        assert!(text.contains(serial.as_str()), "{serial}: {text}");
    }
}

/// A sandbox with a CA and a client layout in `root/alice`.
fn with_client() -> Env {
    let env = Env::new();
    env.ca_init(&[]);
    env.issue_client("alice", &env.path("alice"), &[]);
    env
}

const GREEN_OK: &str = "\x1b[32mok\x1b[0m";

#[test]
fn color_always_colours_the_status_and_verify_verdicts_and_never_json() {
    let env = with_client();
    let status = stdout(&env.ok(&["--color", "always", "status"]));
    assert!(status.contains(GREEN_OK), "{status:?}");
    // Only the verdicts: the header and the other cells are as without colours.
    let plain = stdout(&env.ok(&["--color", "never", "status"]));
    assert_eq!(status.replace("\x1b[32m", "").replace("\x1b[0m", ""), plain);

    let alice = env.path("alice");
    let verify = stdout(&env.ok(&["--color", "always", "verify", "--client-dir", s(&alice)]));
    assert!(
        verify.lines().all(|l| l.starts_with(GREEN_OK)),
        "{verify:?}"
    );
    for args in [&["status"][..], &["verify", "--client-dir", s(&alice)][..]] {
        let out = env
            .cmd()
            .args(["--json", "--color", "always"])
            .args(args)
            .output()
            .unwrap();
        assert!(!out.stdout.contains(&0x1b), "{args:?}: {}", stdout(&out));
        common::json(&out);
    }
}

#[test]
fn an_expired_certificate_is_red_and_a_due_one_yellow() {
    let env = Env::new();
    env.ca_init(&[]);
    env.issue_client("soon", &env.path("soon"), &["--validity", "10d"]);
    // Past the first third of its 10 days (never due before that).
    common::age_certificates(&env, "client", 4);
    let out = env.run(&["--color", "always", "status", "--within", "30d"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stdout(&out).contains("\x1b[33mdue\x1b[0m"),
        "{}",
        stdout(&out)
    );
    fs::remove_file(env.path("soon/cert.pem")).unwrap();
    let out = env.run(&["--color", "always", "status"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stdout(&out).contains("\x1b[31mmissing\x1b[0m"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn no_colours_in_a_pipe_by_default() {
    let env = with_client();
    for args in [
        &["status"][..],
        &["verify", "--client-dir", s(&env.path("alice"))][..],
    ] {
        let out = env.ok(args);
        assert!(!out.stdout.contains(&0x1b), "{args:?}: {}", stdout(&out));
    }
}

/// `script` (util-linux), which runs a command on a pseudo-terminal.
fn script_available() -> bool {
    Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `dockpki --state STATE args` on a pseudo-terminal (stdin, stdout and stderr), with
/// `vars` set; returns what the terminal showed.
fn on_a_terminal(env: &Env, vars: &[(&str, &str)], args: &[&str]) -> String {
    let mut line = format!("{} --state {}", s(&common::bin()), s(&env.state()));
    for a in args {
        line.push_str(&format!(" '{a}'"));
    }
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-e", "-c", &line, "/dev/null"])
        .env_remove("NO_COLOR")
        .env("HOME", env.home())
        .env("TERM", "xterm")
        .current_dir(env.root());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run script");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn on_a_terminal_colours_are_on_unless_no_color_is_set() {
    if !common::prerequisite(
        script_available(),
        "script from util-linux (a pseudo-terminal)",
    ) {
        return;
    }
    let env = with_client();
    let shown = on_a_terminal(&env, &[], &["status"]);
    assert!(shown.contains(GREEN_OK), "{shown:?}");
    for (var, value) in [("NO_COLOR", "1"), ("TERM", "dumb")] {
        let shown = on_a_terminal(&env, &[(var, value)], &["status"]);
        assert!(shown.contains("ok"), "{var}: {shown:?}");
        assert!(!shown.contains('\x1b'), "{var}={value}: {shown:?}");
    }
    // An empty NO_COLOR is unset, as no-color.org defines it.
    let shown = on_a_terminal(&env, &[("NO_COLOR", "")], &["status"]);
    assert!(shown.contains(GREEN_OK), "{shown:?}");
    // An explicit --color never outranks the terminal, --color always outranks NO_COLOR.
    let shown = on_a_terminal(&env, &[], &["--color", "never", "status"]);
    assert!(!shown.contains('\x1b'), "{shown:?}");
    let shown = on_a_terminal(&env, &[("NO_COLOR", "1")], &["--color", "always", "status"]);
    assert!(shown.contains(GREEN_OK), "{shown:?}");
}

#[test]
fn slow_key_generation_draws_no_spinner_when_stderr_is_not_a_terminal() {
    let env = Env::new();
    env.ca_init(&["--key-type", "rsa-3072"]);
    let out = env.ok(&[
        "issue",
        "client",
        "--name",
        "alice",
        "--key-type",
        "rsa-3072",
        "--out",
        s(&env.path("alice")),
    ]);
    assert!(
        out.stderr.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stdout.contains(&b'\r') && !out.stdout.contains(&0x1b));
    let out = env.ok(&["renew", "--all"]);
    assert!(
        out.stderr.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn on_a_terminal_slow_key_generation_shows_a_spinner_that_it_wipes_and_quiet_shows_none() {
    if !common::prerequisite(
        script_available(),
        "script from util-linux (a pseudo-terminal)",
    ) {
        return;
    }
    let env = Env::new();
    env.ca_init(&[]);
    let alice = env.path("alice");
    let issue = [
        "issue",
        "client",
        "--name",
        "alice",
        "--key-type",
        "rsa-4096",
        "--force",
        "--out",
        s(&alice),
    ];
    let shown = on_a_terminal(&env, &[], &issue);
    assert!(shown.contains("generating RSA keys..."), "{shown:?}");
    // The spinner's line is wiped before the line saying what was done.
    let wiped = shown.rfind("\r\x1b[K").expect("the spinner's line wiped");
    let done = shown.find("issued client certificate").expect("the line");
    assert!(wiped < done, "{shown:?}");
    let shown = on_a_terminal(&env, &[], &[&["-q"][..], &issue].concat());
    assert!(shown.is_empty(), "{shown:?}");
    let shown = on_a_terminal(&env, &[], &[&["--json"][..], &issue].concat());
    assert!(
        !shown.contains("generating") && !shown.contains("\x1b[K"),
        "{shown:?}"
    );
}
