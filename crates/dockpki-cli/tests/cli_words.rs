//! One meaning per word, one duration grammar (issue 10, items 8 and 9), through the binary:
//! `--host` is a daemon address in Docker's `-H` syntax in env, context, probe and verify, with
//! the obvious forms accepted; `--check-name` is a name to check; `--name` is the client CN;
//! `--within` is every expiry window; every duration flag reads the same grammar. The refusals
//! are in the catalogue (cli_catalogue.rs); these are the accepted forms.

mod common;

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use common::{assert_error_line, assert_error_line_with_code, assert_success, s, stdout, Env};

/// A CA, a daemon layout for localhost and 127.0.0.1 in `root/daemon`, a client in
/// `root/client`.
fn bootstrapped() -> (Env, PathBuf, PathBuf) {
    let env = Env::new();
    let (d, c) = (env.path("daemon"), env.path("client"));
    env.bootstrap(&d, &c, &[]);
    (env, d, c)
}

/// Every form of a daemon address the CLI accepts, and the `tcp://HOST:PORT` it means.
const ADDRESSES: &[(&str, &str)] = &[
    (
        "tcp://docker.example.com:2376",
        "tcp://docker.example.com:2376",
    ),
    ("docker.example.com:12376", "tcp://docker.example.com:12376"),
    ("docker.example.com", "tcp://docker.example.com:2376"),
    ("tcp://docker.example.com", "tcp://docker.example.com:2376"),
    ("192.0.2.10", "tcp://192.0.2.10:2376"),
    ("[2001:db8::1]:2376", "tcp://[2001:db8::1]:2376"),
    ("[::1]", "tcp://[::1]:2376"),
    ("tcp://[::1]", "tcp://[::1]:2376"),
];

#[test]
fn env_host_accepts_every_form_of_a_daemon_address_and_prints_dockers_own() {
    let (env, _, c) = bootstrapped();
    for (given, meant) in ADDRESSES {
        let out = env.ok(&[
            "env",
            "--host",
            given,
            "--client-dir",
            s(&c),
            "--shell",
            "sh",
        ]);
        let text = stdout(&out);
        assert!(
            text.lines()
                .any(|l| l.starts_with("export DOCKER_HOST=") && l.contains(meant)),
            "{given}: {text}"
        );
    }
}

/// The `Host` the context's meta.json (the only one under `config`) records.
fn context_host(config: &Path) -> String {
    let meta_dir = config.join("contexts/meta");
    let entries: Vec<_> = fs::read_dir(&meta_dir)
        .expect("contexts/meta")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let doc: serde_json::Value =
        serde_json::from_slice(&fs::read(entries[0].join("meta.json")).expect("meta.json"))
            .expect("json");
    doc["Endpoints"]["docker"]["Host"]
        .as_str()
        .expect("Host")
        .to_string()
}

#[test]
fn context_create_and_update_take_host_port_and_a_bare_host_as_tcp_urls() {
    let (env, _, c) = bootstrapped();
    let config = env.path("docker-config");
    let run = |args: &[&str]| {
        let mut cmd = env.cmd();
        cmd.env("DOCKER_CONFIG", &config).arg("context").args(args);
        assert_success(&cmd.output().expect("run"));
    };
    run(&[
        "create",
        "remote",
        "--host",
        "docker.example.com",
        "--client-dir",
        s(&c),
    ]);
    assert_eq!(context_host(&config), "tcp://docker.example.com:2376");
    run(&["update", "remote", "--host", "[2001:db8::1]:12376"]);
    assert_eq!(context_host(&config), "tcp://[2001:db8::1]:12376");
}

/// A port with nothing listening (free a moment ago).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind")
        .port()
}

#[test]
fn probe_takes_the_address_as_host_in_any_form_or_positionally_as_before() {
    let (env, _, c) = bootstrapped();
    let port = closed_port();
    for args in [
        vec!["--host".to_string(), format!("tcp://127.0.0.1:{port}")],
        vec!["--host".to_string(), format!("127.0.0.1:{port}")],
        vec![format!("tcp://127.0.0.1:{port}")],
        vec![format!("127.0.0.1:{port}")],
    ] {
        let out = env.run(
            &[
                vec![
                    "probe".to_string(),
                    "--client-dir".to_string(),
                    s(&c).to_string(),
                ],
                args.clone(),
                vec!["--timeout".to_string(), "5s".to_string()],
            ]
            .concat(),
        );
        // It got as far as dialling the address it was given: parsed, with the port kept.
        let line = assert_error_line(&out, "connection refused by 127.0.0.1");
        assert!(
            line.contains(&format!("-H tcp://127.0.0.1:{port}")),
            "{args:?}: {line}"
        );
    }
}

#[test]
fn probe_with_host_and_a_positional_address_or_neither_is_a_usage_error() {
    let (env, _, c) = bootstrapped();
    let both = env.run(&[
        "probe",
        "--client-dir",
        s(&c),
        "--host",
        "tcp://127.0.0.1:2376",
        "tcp://127.0.0.1:2376",
    ]);
    assert_eq!(both.status.code(), Some(2), "{both:?}");
    let neither = env.run(&["probe", "--client-dir", s(&c)]);
    assert_eq!(neither.status.code(), Some(2), "{neither:?}");
    assert!(String::from_utf8_lossy(&neither.stderr).contains("--host"));
}

#[test]
fn probe_timeout_takes_seconds_minutes_and_hours_of_the_one_grammar() {
    let (env, _, c) = bootstrapped();
    let port = closed_port();
    for timeout in ["2s", "1m", "1h", "1d"] {
        let out = env.run(&[
            "probe",
            "--host",
            &format!("tcp://127.0.0.1:{port}"),
            "--client-dir",
            s(&c),
            "--timeout",
            timeout,
        ]);
        assert_error_line(&out, "connection refused by 127.0.0.1");
    }
}

fn verify(env: &Env, d: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["verify", "--daemon-dir", s(d)];
    args.extend_from_slice(extra);
    env.run(&args)
}

#[test]
fn verify_checks_check_name_and_the_host_part_of_every_form_of_host() {
    let (env, d, _) = bootstrapped();
    for extra in [
        &["--check-name", "localhost", "--check-name", "127.0.0.1"][..],
        &["--host", "tcp://localhost:2376"],
        &["--host", "localhost:2376"],
        &["--host", "localhost"],
        &["--host", "127.0.0.1:12376"],
        &["--host", "tcp://127.0.0.1", "--check-name", "localhost"],
    ] {
        let out = verify(&env, &d, extra);
        assert_success(&out);
    }
    for (extra, name) in [
        (
            &["--check-name", "docker.example.com"][..],
            "docker.example.com",
        ),
        (
            &["--host", "tcp://docker.example.com:2376"],
            "docker.example.com",
        ),
        (&["--host", "[::1]:2376"], "::1"),
    ] {
        let out = verify(&env, &d, extra);
        assert_eq!(out.status.code(), Some(4), "{extra:?}");
        assert!(
            stdout(&out)
                .lines()
                .any(|l| l.starts_with("FAIL") && l.contains(name)),
            "{extra:?}: {}",
            stdout(&out)
        );
    }
}

#[test]
fn verify_within_and_its_older_name_warn_within_are_one_window() {
    let (env, d, c) = bootstrapped();
    for flag in ["--within", "--warn-within"] {
        // The client certificate (90d) expires within a year: due, exit 3.
        let out = env.run(&["verify", "--client-dir", s(&c), flag, "1y"]);
        assert_eq!(out.status.code(), Some(3), "{flag}: {out:?}");
        let out = verify(&env, &d, &[flag, "12h"]);
        assert_success(&out);
        let out = verify(&env, &d, &[flag, "0d"]);
        assert_success(&out);
    }
}

#[test]
fn status_and_renew_windows_take_hours_days_weeks_and_years() {
    let (env, _, _) = bootstrapped();
    // Past the first third of their lifetimes (never due before that).
    common::age_certificates(&env, "client", 31);
    for within in ["0d", "12h", "2w", "1y"] {
        let out = env.run(&["status", "--within", within]);
        let code = out.status.code();
        // A year ahead the 90d client certificate is due (3); closer, nothing is.
        let want = if within == "1y" { 3 } else { 0 };
        assert_eq!(code, Some(want), "{within}: {out:?}");
    }
    assert_success(&env.run(&["renew", "--within", "1h"]));
}

#[test]
fn validities_take_hours_days_weeks_and_years_and_mean_them() {
    let (env, _, _) = bootstrapped();
    for (validity, hours) in [("36h", 36), ("3d", 72), ("2w", 14 * 24), ("1y", 365 * 24)] {
        let dir = env.path(&format!("c-{validity}"));
        env.issue_client("bob", &dir, &["--validity", validity]);
        let cert = env.inspect_cert(&dir.join("cert.pem"));
        let span = common::time_of(&cert["not_after"]) - common::time_of(&cert["not_before"]);
        // notBefore is backdated five minutes for clock skew.
        assert_eq!(span.whole_minutes(), hours * 60 + 5, "{validity}: {cert}");
    }
}

#[test]
fn bootstrap_names_the_client_with_name_and_still_takes_the_older_client() {
    for flag in ["--name", "--client"] {
        let env = Env::new();
        let c = env.path("client");
        env.bootstrap(&env.path("daemon"), &c, &[flag, "carol"]);
        let cert = env.inspect_cert(&c.join("cert.pem"));
        assert!(cert.to_string().contains("carol"), "{flag}: {cert}");
    }
}

#[test]
fn the_top_level_help_documents_the_duration_grammar_and_daemon_addresses() {
    let env = Env::new();
    let out = env.bare().arg("--help").output().expect("help");
    assert_success(&out);
    let help = stdout(&out);
    assert!(help.contains("Durations (--validity, --within, --timeout, DOCKPKI_LOCK_TIMEOUT)"));
    assert!(help.contains("m minutes (never months)"));
    assert!(help.contains("A bare number is refused"));
    assert!(help.contains("Daemon addresses (--host)"));
}

#[test]
fn a_lock_timeout_in_minutes_is_accepted() {
    let (env, _, _) = bootstrapped();
    let mut cmd = env.cmd();
    cmd.env("DOCKPKI_LOCK_TIMEOUT", "2m").arg("status");
    assert_success(&cmd.output().expect("run"));
    let mut cmd = env.cmd();
    cmd.env("DOCKPKI_LOCK_TIMEOUT", "120").arg("status");
    assert_error_line_with_code(
        &cmd.output().expect("run"),
        "invalid timeout \"120\" for DOCKPKI_LOCK_TIMEOUT: a bare number has no unit",
        1,
    );
}
