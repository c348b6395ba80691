//! `dockpki daemon-config`: merging the TLS settings into daemon.json through the real binary.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::{assert_success, json, mode, names_with_prefix, s, stdout, Env};
use serde_json::Value;

/// A sandbox with a daemon layout in `root/pki` (the command only checks that the files exist)
/// and an empty systemd unit directory, so no installed unit changes the output.
fn setup() -> Env {
    let env = Env::new();
    let pki = env.path("pki");
    fs::create_dir(&pki).unwrap();
    for name in ["ca.pem", "server-cert.pem", "server-key.pem"] {
        fs::write(pki.join(name), "placeholder").unwrap();
    }
    fs::create_dir(env.path("units")).unwrap();
    env
}

/// `dockpki daemon-config --file root/daemon.json --daemon-dir root/pki extra...`.
fn cmd(env: &Env, extra: &[&str]) -> Command {
    let mut c = env.cmd();
    c.env("DOCKPKI_SYSTEMD_UNIT_PATH", env.path("units"));
    c.args([
        "daemon-config",
        "--file",
        s(&file(env)),
        "--daemon-dir",
        s(&env.path("pki")),
    ]);
    c.args(extra);
    c
}

fn file(env: &Env) -> PathBuf {
    env.path("daemon.json")
}

fn run_ok(env: &Env, extra: &[&str]) -> std::process::Output {
    let out = cmd(env, extra).output().unwrap();
    assert_success(&out);
    out
}

fn doc(env: &Env) -> Value {
    serde_json::from_slice(&fs::read(file(env)).unwrap()).expect("daemon.json is valid JSON")
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn backups(env: &Env) -> Vec<String> {
    names_with_prefix(env.root(), "daemon.json.bak-")
}

fn tls_of(env: &Env) -> [String; 3] {
    let p = |n: &str| env.path("pki").join(n).display().to_string();
    [p("ca.pem"), p("server-cert.pem"), p("server-key.pem")]
}

#[test]
fn missing_file_is_created_with_tls_keys_and_default_hosts_mode_0644_saying_restart() {
    let env = setup();
    let out = run_ok(&env, &[]);
    assert!(out.stderr.is_empty(), "{out:?}");
    assert_eq!(
        stdout(&out),
        format!(
            "wrote {}\nrestart dockerd to apply (it reads daemon.json and its certificates only at start)\n",
            file(&env).display()
        )
    );
    let d = doc(&env);
    assert_eq!(
        keys(&d),
        ["tlsverify", "tlscacert", "tlscert", "tlskey", "hosts"]
    );
    let [ca, cert, key] = tls_of(&env);
    assert_eq!(d["tlsverify"], true);
    assert_eq!(d["tlscacert"], ca.as_str());
    assert_eq!(d["tlscert"], cert.as_str());
    assert_eq!(d["tlskey"], key.as_str());
    assert_eq!(
        d["hosts"],
        serde_json::json!(["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"])
    );
    assert_eq!(mode(&file(&env)), 0o644);
    assert!(backups(&env).is_empty());
    assert!(!env.path(".daemon.json.dockpki-journal").exists());
}

#[test]
fn empty_object_gets_the_keys_and_its_previous_version_is_backed_up() {
    let env = setup();
    fs::write(file(&env), "{}\n").unwrap();
    run_ok(&env, &["--listen", "tcp://127.0.0.1:2376", "--keep-unix"]);
    assert_eq!(
        doc(&env)["hosts"],
        serde_json::json!(["unix:///var/run/docker.sock", "tcp://127.0.0.1:2376"])
    );
    let b = backups(&env);
    assert_eq!(b.len(), 1, "{b:?}");
    assert!(common::is_timestamped_backup(&b[0], "daemon.json"), "{b:?}");
    assert_eq!(fs::read_to_string(env.root().join(&b[0])).unwrap(), "{}\n");
}

#[test]
fn unrelated_keys_are_kept_with_their_values_and_order() {
    let env = setup();
    let before = r#"{"debug": true, "storage-driver": "overlay2", "hosts": ["fd://"], "labels": ["a=b"], "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 64000, "Soft": 64000}}}"#;
    fs::write(file(&env), before).unwrap();
    run_ok(&env, &[]);
    let d = doc(&env);
    assert_eq!(
        keys(&d),
        [
            "debug",
            "storage-driver",
            "hosts",
            "labels",
            "default-ulimits",
            "tlsverify",
            "tlscacert",
            "tlscert",
            "tlskey"
        ]
    );
    let old: Value = serde_json::from_str(before).unwrap();
    for k in ["debug", "storage-driver", "labels", "default-ulimits"] {
        assert_eq!(d[k], old[k], "{k}");
    }
    assert_eq!(
        d["hosts"],
        serde_json::json!(["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"])
    );
}

#[test]
fn conflicting_tls_values_are_replaced_and_reported_with_verbose() {
    let env = setup();
    fs::write(
        file(&env),
        r#"{"tls": false, "tlsverify": false, "tlscert": "/old/cert.pem", "tlskey": "/old/key.pem"}"#,
    )
    .unwrap();
    let out = run_ok(&env, &["-v"]);
    let d = doc(&env);
    let [_, cert, key] = tls_of(&env);
    assert_eq!(d["tls"], true);
    assert_eq!(d["tlsverify"], true);
    assert_eq!(d["tlscert"], cert.as_str());
    assert_eq!(d["tlskey"], key.as_str());
    let text = stdout(&out);
    assert!(text.contains("replaced tlsverify = true"), "{text}");
    assert!(text.contains("previous file kept as"), "{text}");
}

#[test]
fn harden_adds_every_setting_to_a_file_without_them() {
    let env = setup();
    run_ok(&env, &["--harden"]);
    let d = doc(&env);
    assert_eq!(d["icc"], false);
    assert_eq!(d["userns-remap"], "default");
    assert_eq!(d["no-new-privileges"], true);
    assert_eq!(d["live-restore"], true);
    assert_eq!(d["log-driver"], "local");
    assert_eq!(
        d["log-opts"],
        serde_json::json!({"max-size": "10m", "max-file": "3"})
    );
}

#[test]
fn harden_keeps_values_the_user_set_and_reports_each_on_stderr() {
    let env = setup();
    fs::write(
        file(&env),
        r#"{"icc": true, "log-driver": "json-file", "log-opts": {"max-size": "50m"}, "live-restore": true}"#,
    )
    .unwrap();
    let out = run_ok(&env, &["--harden"]);
    let d = doc(&env);
    assert_eq!(d["icc"], true);
    assert_eq!(d["log-driver"], "json-file");
    assert_eq!(
        d["log-opts"],
        serde_json::json!({"max-size": "50m", "max-file": "3"})
    );
    assert_eq!(d["userns-remap"], "default");
    let err = String::from_utf8_lossy(&out.stderr);
    for kept in [
        "kept icc = true",
        "kept log-driver = \"json-file\"",
        "kept log-opts.max-size = \"50m\"",
    ] {
        assert!(err.contains(kept), "stderr lacks {kept:?}:\n{err}");
    }
    // Equal values are not "kept" conflicts.
    assert!(!err.contains("live-restore"), "{err}");
    // userns-remap was added: the warning about what dockerd will no longer see.
    assert!(
        err.contains("warning: userns-remap")
            && err.contains("existing images, containers and volumes are invisible"),
        "{err}"
    );
    // And what this machine holds for it (the test below checks that line).
    assert!(err.contains("userns-remap \"default\": "), "{err}");
    assert_eq!(err.lines().count(), 5, "{err}");
}

/// The ranges of `/etc/subuid` or `/etc/subgid` on lines naming `user`, as `START:COUNT`.
fn ranges_of(file: &str, user: &str) -> Vec<String> {
    let prefix = format!("{user}:");
    fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(str::to_string)
        .collect()
}

/// `--harden` for a root daemon says what this machine holds for `userns-remap: "default"`:
/// the `dockremap` user and its ranges as /etc/passwd, /etc/subuid and /etc/subgid have them
/// (read here), and a verdict that follows from them, in `--json` and as one line on stderr (a
/// warning when dockerd would refuse to start). Without userns-remap in the file there is
/// nothing to say. (Each verdict is unit-tested on trees in docker/userns.rs.)
#[test]
fn harden_says_whether_the_remap_user_and_its_ranges_are_in_place() {
    let env = setup();
    let out = run_ok(&env, &["--json", "--harden"]);
    let u = &json(&out)["userns_remap"];
    assert_eq!(
        (&u["value"], &u["user"]),
        (&"default".into(), &"dockremap".into()),
        "{u}"
    );
    let exists = fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("dockremap:"));
    assert_eq!(u["user_exists"], exists, "{u}");
    let listed = |key: &str| -> Vec<String> {
        u[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_string())
            .collect()
    };
    let (subuid, subgid) = (listed("subuid"), listed("subgid"));
    for (file, found) in [("/etc/subuid", &subuid), ("/etc/subgid", &subgid)] {
        for range in ranges_of(file, "dockremap") {
            assert!(found.contains(&range), "{file}: {range} not in {u}");
        }
    }
    let ready = exists && !subuid.is_empty() && !subgid.is_empty();
    let readiness = u["readiness"].as_str().unwrap();
    assert_eq!(readiness == "ready", ready, "{u}");
    assert_eq!(u["commands"].as_array().unwrap().is_empty(), ready, "{u}");
    if !exists {
        assert_ne!(readiness, "ready", "{u}");
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let prefix = if readiness == "missing" {
        "warning"
    } else {
        "note"
    };
    assert!(
        err.contains(&format!(
            "dockpki: {prefix}: {}",
            u["summary"].as_str().unwrap()
        )),
        "{err}"
    );
    // Nothing to say without userns-remap in the file.
    let env = setup();
    let out = run_ok(&env, &["--json"]);
    assert!(json(&out)["userns_remap"].is_null());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("userns-remap"));
}

#[test]
fn harden_adds_no_rotation_options_to_another_log_driver() {
    let env = setup();
    fs::write(file(&env), r#"{"log-driver": "syslog"}"#).unwrap();
    run_ok(&env, &["--harden"]);
    let d = doc(&env);
    assert_eq!(d["log-driver"], "syslog");
    assert!(d.get("log-opts").is_none(), "{d}");
}

#[test]
fn invalid_json_is_refused_naming_line_and_column_and_left_untouched() {
    for (what, text, position) in [
        (
            "a comment",
            "{\n  // TLS\n  \"debug\": true\n}\n",
            "line 2, column 3",
        ),
        (
            "a trailing comma",
            "{\n  \"debug\": true,\n}\n",
            "line 3, column 1",
        ),
    ] {
        let env = setup();
        fs::write(file(&env), text).unwrap();
        let line = env.assert_refused_cmd(cmd(&env, &[]), "is not valid JSON");
        assert!(line.contains(position), "{what}: {line}");
        assert!(line.contains("fix it or move it aside"), "{what}: {line}");
    }
}

#[test]
fn a_json_document_that_is_not_an_object_is_refused() {
    let env = setup();
    fs::write(file(&env), "[1, 2]\n").unwrap();
    env.assert_refused_cmd(cmd(&env, &[]), "not an object");
}

#[test]
fn dry_run_prints_a_diff_and_writes_nothing() {
    let env = setup();
    fs::write(file(&env), "{\n  \"debug\": true\n}\n").unwrap();
    let before = common::snapshot(env.root());
    let out = run_ok(&env, &["--dry-run", "--harden"]);
    common::assert_unchanged(&before, &common::snapshot(env.root()), "--dry-run");
    let diff = stdout(&out);
    let lines: Vec<&str> = diff.lines().collect();
    assert!(
        lines[0].starts_with("--- ") && lines[1].starts_with("+++ "),
        "{diff}"
    );
    assert!(lines.contains(&"-  \"debug\": true"), "{diff}");
    assert!(lines.contains(&"+  \"debug\": true,"), "{diff}");
    assert!(lines.contains(&"+  \"tlsverify\": true,"), "{diff}");
    assert!(lines.contains(&"+  \"icc\": false,"), "{diff}");
    assert!(lines.contains(&" {"), "{diff}");
}

#[test]
fn a_second_run_changes_nothing_and_keeps_no_new_backup() {
    let env = setup();
    fs::write(file(&env), "{}").unwrap();
    run_ok(&env, &["--harden"]);
    let before = common::snapshot(env.root());
    run_ok(&env, &["--harden"]);
    common::assert_unchanged(&before, &common::snapshot(env.root()), "second run");
}

#[test]
fn unsafe_or_unknown_listen_addresses_are_refused_and_nothing_is_written() {
    let cases = [
        ("tcp://0.0.0.0:2375", "plain TCP"),
        ("tcp://127.0.0.1:2375", "root"),
        ("http://0.0.0.0:2376", "unsupported scheme"),
        ("ssh://host", "unsupported scheme"),
        ("tcp://0.0.0.0", "needs a host and a port"),
    ];
    for (listen, phrase) in cases {
        let env = setup();
        fs::write(file(&env), "{\"debug\": true}").unwrap();
        env.assert_refused_cmd(cmd(&env, &["--listen", listen]), phrase);
    }
}

#[test]
fn tcp_without_the_tls_files_is_refused_as_plain_tcp() {
    let env = setup();
    fs::remove_file(env.path("pki/server-key.pem")).unwrap();
    let line = env.assert_refused_cmd(cmd(&env, &[]), "server-key.pem does not exist");
    assert!(line.contains("plain TCP"), "{line}");
    // A unix-only configuration needs no TLS files.
    run_ok(&env, &["--listen", "unix:///run/x.sock"]);
}

#[test]
fn json_output_is_one_document_listing_the_changes() {
    let env = setup();
    fs::write(file(&env), r#"{"icc": true}"#).unwrap();
    let out = run_ok(&env, &["--json", "--harden"]);
    let v = json(&out);
    assert_eq!(v["changed"], true);
    assert_eq!(v["config"]["tlsverify"], true);
    let changes = v["changes"].as_array().unwrap();
    assert!(
        changes
            .iter()
            .any(|c| c["key"] == "icc" && c["action"] == "kept"),
        "{v}"
    );
    assert!(
        changes
            .iter()
            .any(|c| c["key"] == "hosts" && c["action"] == "added"),
        "{v}"
    );
    assert!(
        v["backup"].as_str().unwrap().contains("daemon.json.bak-"),
        "{v}"
    );
}

/// Debian's unit from this machine (or its text) installed in the sandbox's unit directory.
fn install_debian_unit(units: &Path) {
    let text = fs::read_to_string("/lib/systemd/system/docker.service").unwrap_or_else(|_| {
        "[Service]\nExecStart=/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS\n".into()
    });
    fs::write(units.join("docker.service"), text).unwrap();
}

#[test]
fn a_unit_passing_dash_h_is_warned_about_until_the_dropin_is_installed() {
    let env = setup();
    let (etc, lib) = (env.path("units/etc"), env.path("units/lib"));
    fs::create_dir_all(&etc).unwrap();
    fs::create_dir_all(&lib).unwrap();
    install_debian_unit(&lib);
    let unit_path = format!("{}:{}", etc.display(), lib.display());
    let out = cmd(&env, &[])
        .env("DOCKPKI_SYSTEMD_UNIT_PATH", &unit_path)
        .output()
        .unwrap();
    assert_success(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("-H fd://") && err.contains(&env.hint("systemd-dropin")),
        "{err}"
    );

    let dropin = etc.join("docker.service.d/dockpki.conf");
    let out = env
        .cmd()
        .env("DOCKPKI_SYSTEMD_UNIT_PATH", &unit_path)
        .args(["systemd-dropin", "--out", s(&dropin)])
        .output()
        .unwrap();
    assert_success(&out);
    let out = cmd(&env, &[])
        .env("DOCKPKI_SYSTEMD_UNIT_PATH", &unit_path)
        .output()
        .unwrap();
    assert_success(&out);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn rootless_uses_the_users_config_dir_socket_and_no_userns_remap() {
    let env = setup();
    let config = env.path("xdg-config");
    let runtime = env.path("run-user");
    let pki = config.join("docker/pki");
    fs::create_dir_all(&pki).unwrap();
    for name in ["ca.pem", "server-cert.pem", "server-key.pem"] {
        fs::write(pki.join(name), "placeholder").unwrap();
    }
    let out = env
        .cmd()
        .env("DOCKPKI_SYSTEMD_UNIT_PATH", env.path("units"))
        .env("XDG_CONFIG_HOME", &config)
        .env("XDG_RUNTIME_DIR", &runtime)
        .args(["daemon-config", "--rootless", "--keep-unix", "--harden"])
        .output()
        .unwrap();
    assert_success(&out);
    let written = config.join("docker/daemon.json");
    let d: Value = serde_json::from_slice(&fs::read(&written).unwrap()).unwrap();
    assert_eq!(
        d["tlscert"],
        pki.join("server-cert.pem").display().to_string()
    );
    assert_eq!(
        d["hosts"][0],
        format!("unix://{}/docker.sock", runtime.display())
    );
    assert!(d.get("userns-remap").is_none(), "{d}");
    assert_eq!(d["icc"], false);
    // The restart is the user's unit's, and the default listen address is explained per
    // rootlesskit network (docs/daemon.md).
    let text = stdout(&out);
    assert!(
        text.contains("restart your rootless dockerd to apply: systemctl --user restart docker"),
        "{text}"
    );
    assert!(
        text.contains("DOCKERD_ROOTLESS_ROOTLESSKIT_NET=host and DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER=none, dockerd listens on tcp://0.0.0.0:2376 of this host"),
        "{text}"
    );
    assert!(
        text.contains("DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS=\"-p HOST_IP:2376:2376/tcp\""),
        "{text}"
    );
    assert!(!text.contains("restart dockerd to apply"), "{text}");
}

#[test]
fn help_of_each_new_command_shows_examples() {
    let env = Env::new();
    for sub in ["daemon-config", "systemd-dropin", "env", "sans"] {
        let text = stdout(&env.ok(&[sub, "--help"]));
        assert!(text.contains("Examples:"), "{sub}: {text}");
        assert!(text.contains(&format!("dockpki {sub}")), "{sub}: {text}");
    }
}

#[test]
fn a_local_socket_dropped_from_hosts_is_pointed_out() {
    let env = setup();
    fs::write(
        file(&env),
        r#"{"hosts": ["unix:///var/run/docker.sock", "fd://"]}"#,
    )
    .unwrap();
    let out = run_ok(&env, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    // Kept by default: nothing is lost, and nothing is said (fd:// was not a socket file).
    assert!(out.stderr.is_empty(), "{err}");
    assert_eq!(
        doc(&env)["hosts"],
        serde_json::json!(["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"])
    );
    // Dropped only with --no-unix, and then pointed out.
    let out = run_ok(&env, &["--no-unix"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unix:///var/run/docker.sock was in \"hosts\"")
            && err.contains("--listen unix:///var/run/docker.sock"),
        "{err}"
    );
    assert_eq!(
        doc(&env)["hosts"],
        serde_json::json!(["tcp://0.0.0.0:2376"])
    );
    // --keep-unix, the old spelling of the default, is still accepted.
    let out = run_ok(&env, &["--keep-unix"]);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        doc(&env)["hosts"],
        serde_json::json!(["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"])
    );
    // Both at once is a usage error.
    let out = cmd(&env, &["--keep-unix", "--no-unix"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// The write goes through a journal next to the file: a process killed after writing the
/// journal and before renaming leaves the old file, and the next run finishes the update.
#[test]
fn an_interrupted_write_is_completed_by_the_next_run() {
    if !common::fault_injection() {
        return;
    }
    let env = setup();
    fs::write(file(&env), "{}").unwrap();
    let out = cmd(&env, &["--harden"])
        .env("DOCKPKI_TEST_ABORT_AFTER_MOVES", "0")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the fault injection did not abort");
    assert_eq!(fs::read_to_string(file(&env)).unwrap(), "{}");
    let journal = env.path(".daemon.json.dockpki-journal");
    assert!(journal.exists(), "no journal next to the file");
    // A dry run reads and writes nothing of it.
    run_ok(&env, &["--dry-run"]);
    assert!(journal.exists());
    let out = run_ok(&env, &[]);
    assert!(!journal.exists());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("completed an interrupted update"), "{err}");
    // The interrupted --harden update was completed (then merged again without --harden,
    // which keeps its keys).
    assert_eq!(doc(&env)["icc"], false);
    assert_eq!(backups(&env).len(), 1, "{:?}", backups(&env));
}

/// dockerd 20.10 refuses `icc: false` with `iptables: false` ("ICC=false uses iptables to
/// function"), found by the end-to-end test: --harden leaves icc unset there and says why.
#[test]
fn harden_does_not_set_icc_false_when_iptables_is_off() {
    let env = setup();
    fs::write(file(&env), r#"{"iptables": false}"#).unwrap();
    let out = run_ok(&env, &["--harden"]);
    let d = doc(&env);
    assert!(d.get("icc").is_none(), "{d}");
    assert_eq!(d["no-new-privileges"], true);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("did not set icc = false") && err.contains("iptables"),
        "{err}"
    );
}

/// The command bootstrap prints writes exactly the keys bootstrap shows for daemon.json.
#[test]
fn bootstraps_suggested_command_writes_the_daemon_json_bootstrap_prints() {
    let env = Env::new();
    fs::create_dir(env.path("units")).unwrap();
    let (daemon, client) = (env.path("daemon"), env.path("client"));
    let printed = stdout(&env.bootstrap(&daemon, &client, &[]));
    let suggested = env.hint(&format!(
        "daemon-config --daemon-dir {} --listen tcp://0.0.0.0:2376 --keep-unix",
        daemon.display()
    ));
    assert!(printed.contains(&suggested), "{printed}");
    let shown = json(&env.ok(&[
        "--json",
        "bootstrap",
        "--san",
        "localhost",
        "--daemon-dir",
        s(&daemon),
        "--client-dir",
        s(&client),
        "--force",
    ]))["daemon_json"]
        .clone();
    // The suggestion repeats --state itself.
    let mut c = env.bare();
    c.env("DOCKPKI_SYSTEMD_UNIT_PATH", env.path("units"));
    c.args(suggested.split(' ').skip(1))
        .args(["--file", s(&file(&env))]);
    assert_success(&c.output().unwrap());
    assert_eq!(doc(&env), shown);
}

#[test]
fn a_symlinked_daemon_json_is_refused_naming_its_target() {
    let env = setup();
    fs::write(env.path("real.json"), "{}").unwrap();
    std::os::unix::fs::symlink("real.json", file(&env)).unwrap();
    let line = env.assert_refused_cmd(cmd(&env, &[]), "is a symlink");
    assert!(
        line.contains(&format!("--file {}", env.path("real.json").display())),
        "{line}"
    );
}

/// Numbers the administrator wrote stay exactly as written: no rounding through f64, no `1e2`
/// turned into `100.0`.
#[test]
fn numbers_are_kept_exactly_as_written() {
    let env = setup();
    fs::write(
        file(&env),
        r#"{"max-concurrent-downloads": 12345678901234567890123, "shutdown-timeout": 1e2, "x": [-0.0, 1.50, 2E-3]}"#,
    )
    .unwrap();
    run_ok(&env, &[]);
    let text = fs::read_to_string(file(&env)).unwrap();
    for kept in [
        "\"max-concurrent-downloads\": 12345678901234567890123,",
        "\"shutdown-timeout\": 1e2,",
        "[-0.0, 1.50, 2E-3]",
    ] {
        assert!(text.contains(kept), "{kept:?} not in:\n{text}");
    }
    // A second run changes nothing.
    let before = common::snapshot(env.root());
    run_ok(&env, &[]);
    common::assert_unchanged(&before, &common::snapshot(env.root()), "second run");
}

/// A key given twice (dockerd would silently use the last) is refused, naming the key and both
/// lines, at any depth, and the file is left alone.
#[test]
fn a_key_given_twice_is_refused_naming_it_and_its_lines() {
    for (text, key, lines) in [
        (
            "{\n  \"debug\": true,\n  \"debug\": false\n}\n",
            "the key \"debug\" twice",
            "on lines 2 and 3",
        ),
        (
            "{\n  \"log-opts\": {\n    \"max-size\": \"1m\",\n    \"max-size\": \"2m\"\n  }\n}\n",
            "the key \"log-opts\".\"max-size\" twice",
            "on lines 3 and 4",
        ),
    ] {
        let env = setup();
        fs::write(file(&env), text).unwrap();
        let line = env.assert_refused_cmd(cmd(&env, &[]), key);
        assert!(
            line.contains(lines) && line.contains("remove one"),
            "{line}"
        );
    }
}

/// The administrator's layout survives: a four-space file keeps its indentation, its other
/// lines byte for byte, and a second run (the values already there) writes nothing and keeps no
/// backup, while still saying to restart dockerd.
#[test]
fn the_files_layout_is_kept_and_a_file_holding_the_values_is_not_rewritten() {
    let env = setup();
    let before = "{\n    \"debug\": true,\n    \"labels\": [\"a=b\",   \"c=d\"],\n    \"log-level\": \"warn\"\n}\n";
    fs::write(file(&env), before).unwrap();
    run_ok(&env, &[]);
    let text = fs::read_to_string(file(&env)).unwrap();
    let [ca, cert, key] = tls_of(&env);
    assert_eq!(
        text,
        format!(
            "{{\n    \"debug\": true,\n    \"labels\": [\"a=b\",   \"c=d\"],\n    \"log-level\": \"warn\",\n    \"tlsverify\": true,\n    \"tlscacert\": {ca:?},\n    \"tlscert\": {cert:?},\n    \"tlskey\": {key:?},\n    \"hosts\": [\n        \"unix:///var/run/docker.sock\",\n        \"tcp://0.0.0.0:2376\"\n    ]\n}}\n"
        )
    );
    assert_eq!(backups(&env).len(), 1);
    let snap = common::snapshot(env.root());
    let out = run_ok(&env, &[]);
    common::assert_unchanged(&snap, &common::snapshot(env.root()), "second run");
    assert_eq!(
        stdout(&out),
        format!(
            "{} already holds these settings; nothing written\nrestart dockerd to apply (it reads daemon.json and its certificates only at start)\n",
            file(&env).display()
        )
    );
}
