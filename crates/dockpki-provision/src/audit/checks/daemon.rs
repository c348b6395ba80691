//! How the daemon runs: as root or rootless (CIS 2.1), with user namespace remapping (2.9),
//! inter-container traffic restricted (2.2), no-new-privileges (2.14), live restore (2.15),
//! and container logs rotated.
//!
//! Severities, and why:
//! - `daemon.root`: **low** for a root daemon, **info** when `userns-remap` is set (root in a
//!   container is then an unprivileged user on the host, which is most of what rootless
//!   gives); a rootless daemon passes. Many hosts cannot run rootless (overlay networks,
//!   privileged workloads), so it is advice, not a weakness of its own.
//! - `daemon.userns-remap`: **medium** (root in a container is root on the host once it
//!   escapes); not applicable to a rootless daemon, which already runs in a user namespace
//!   and refuses `userns-remap`.
//! - `daemon.icc`: **low**; `daemon.no-new-privileges`: **medium**; `daemon.live-restore`:
//!   **low**; `daemon.log-rotation`: **medium** (a full disk stops the host).
//!
//! `daemon.root` and `daemon.userns-remap` judge by the daemon's own answer when the audit
//! asked a live daemon and it answered (`GET /info`: the security options `rootless` and
//! `userns`), since the configuration may not be applied yet (dockerd reads it only at start);
//! the evidence then says "the daemon at ... reports" and names where the configuration
//! disagrees. A tree, or a daemon not asked or not answering, is judged by the configuration.
//!
//! The fix is `dockpki daemon-config --harden` wherever that sets the value: the option is set
//! neither on dockerd's command line (daemon.json would then repeat it, and dockerd refuses
//! to start) nor in daemon.json (`--harden` keeps an administrator's value). Otherwise it is
//! said in words.

use crate::audit::config::{file_key, Source};
use crate::audit::rules::{self, Context, Rule};
use crate::audit::{DaemonInfo, Fix, Outcome, Severity};
use crate::docker::daemon_json::{Listen, SYSTEM_FILE};

/// Where the value of `flag` came from, for evidence: the command line, daemon.json, or
/// dockerd's default.
fn origin(cx: &Context<'_>, flag: &str) -> String {
    let config = cx.config;
    let key = file_key(flag);
    let file_name = config
        .file
        .as_ref()
        .map(|f| cx.host.shown(&f.path).display().to_string());
    if !config.flag_values(flag).is_empty() {
        format!(
            "--{flag} on the command line of {}",
            config.describe_source()
        )
    } else if config.file_value(key).is_some() {
        format!("{key:?} in {}", file_name.unwrap_or_default())
    } else {
        match file_name {
            Some(name) => {
                format!("dockerd's default: {key} is set neither in {name} nor on the command line")
            }
            None => format!(
                "dockerd's default: there is no daemon.json and {}",
                match config.source {
                    Source::None => "no dockerd command line".to_string(),
                    _ => format!(
                        "no --{flag} on the command line of {}",
                        config.describe_source()
                    ),
                }
            ),
        }
    }
}

/// `dockpki daemon-config --harden` for this daemon: its daemon.json (`--file` unless it is
/// the system default on the live host, `--rootless` for a rootless daemon), and the listen
/// addresses it has now, so that the fix changes nothing but the hardening (and the TLS keys
/// daemon-config owns).
fn harden(cx: &Context<'_>) -> Fix {
    let config = cx.config;
    let mut args: Vec<String> = vec!["daemon-config".into(), "--harden".into()];
    if config.rootless {
        args.push("--rootless".into());
    }
    if let Some(file) = &config.file {
        let shown = cx.host.shown(&file.path);
        if shown != std::path::Path::new(SYSTEM_FILE) {
            args.extend(["--file".into(), shown.display().to_string()]);
        }
    } else if !cx.host.is_live() {
        args.extend([
            "--file".into(),
            cx.host
                .shown(std::path::Path::new(SYSTEM_FILE))
                .display()
                .to_string(),
        ]);
    }
    let hosts = config.hosts();
    // Only addresses daemon-config accepts (not the plain port, which listen.port-2375 reports).
    let kept: Vec<&String> = hosts.iter().filter(|h| Listen::parse(h).is_ok()).collect();
    if !kept.is_empty() {
        for h in &kept {
            args.extend(["--listen".into(), (*h).clone()]);
        }
        // Without a unix socket in the list, daemon-config would add one.
        if !kept.iter().any(|h| h.starts_with("unix://")) {
            args.push("--no-unix".into());
        }
    }
    Fix::Dockpki { args }
}

/// The fix for `flag`: [`harden`] when `--harden` would set it (it is set neither on the
/// command line nor in daemon.json), else `words` (how to set it by hand) with where.
fn fix_for(cx: &Context<'_>, flag: &str, value: &str) -> Fix {
    let config = cx.config;
    let key = file_key(flag);
    if !config.flag_values(flag).is_empty() {
        Fix::manual(format!(
            "set --{flag}={value} on dockerd's command line ({})",
            config.describe_source()
        ))
    } else if config.file_value(key).is_some() {
        let name = config
            .file
            .as_ref()
            .map(|f| cx.host.shown(&f.path).display().to_string())
            .unwrap_or_default();
        Fix::manual(format!(
            "set {key:?} to {value} in {name} (daemon-config --harden keeps a value already there)"
        ))
    } else {
        harden(cx)
    }
}

/// A boolean option that should be `want`.
fn boolean(
    cx: &Context<'_>,
    rule: &'static Rule,
    flag: &str,
    want: bool,
    severity: Severity,
) -> Outcome {
    let from = origin(cx, flag);
    let value = cx.config.bool(flag);
    if value == Some(want) {
        return Outcome::pass(rule, format!("{flag} is {want} ({from})"));
    }
    let shown = match value {
        Some(v) => v.to_string(),
        None if cx.config.file_value(file_key(flag)).is_some()
            || !cx.config.flag_values(flag).is_empty() =>
        {
            "not a boolean".to_string()
        }
        // dockerd's defaults: icc true, no-new-privileges and live-restore false.
        None => (!want).to_string(),
    };
    Outcome::fail(
        rule,
        severity,
        format!("{flag} is {shown} ({from})"),
        fix_for(cx, flag, &want.to_string()),
    )
}

/// Runs the rules of this group.
pub fn run(cx: &Context<'_>) -> Vec<Outcome> {
    let config = cx.config;
    let userns = config.string("userns-remap").filter(|v| !v.is_empty());
    let mut out = Vec::new();

    // 2.1 and 2.9: from the daemon's own answer when it gave one, else from the configuration.
    out.push(match cx.daemon_info {
        Some(asked) => root_from_daemon(cx, asked, userns.as_deref()),
        None => root_from_config(cx, userns.as_deref()),
    });
    out.push(match cx.daemon_info {
        Some(asked) => userns_from_daemon(cx, asked, userns.as_deref()),
        None => userns_from_config(cx, userns.as_deref()),
    });

    // 2.2: icc. dockerd implements icc=false with iptables and refuses it without.
    let icc = boolean(cx, &rules::ICC, "icc", false, Severity::Low);
    out.push(match icc {
        Outcome::Fail(mut f) if config.bool("iptables") == Some(false) => {
            f.fix = Fix::manual(
                "icc=false works through iptables, which is off: enable iptables, then set icc to false",
            );
            Outcome::Fail(f)
        }
        other => other,
    });

    out.push(boolean(
        cx,
        &rules::NO_NEW_PRIVILEGES,
        "no-new-privileges",
        true,
        Severity::Medium,
    ));
    out.push(boolean(
        cx,
        &rules::LIVE_RESTORE,
        "live-restore",
        true,
        Severity::Low,
    ));
    out.push(log_rotation(cx));
    out
}

/// The fix of `daemon.root`: running rootless is a choice of the workloads, said in words.
fn rootless_advice() -> Fix {
    Fix::manual(
        "where the workloads allow it, run dockerd rootless (dockerd-rootless-setuptool.sh install) and configure it with dockpki daemon-config --rootless --harden",
    )
}

/// `daemon.root` (2.1) from the configuration: a tree, or a daemon that was not asked.
fn root_from_config(cx: &Context<'_>, userns: Option<&str>) -> Outcome {
    let config = cx.config;
    if config.rootless {
        return Outcome::pass(
            &rules::ROOT_DAEMON,
            format!("the daemon is rootless ({})", config.describe_source()),
        );
    }
    let who = match &config.source {
        Source::Process { pid, .. } => format!("dockerd (pid {pid}) runs as root"),
        // A user unit whose daemon is not rootless: `--rootless` would be set otherwise.
        Source::Unit { .. } | Source::UserUnit { .. } => {
            format!("{} runs dockerd as root", config.describe_source())
        }
        Source::None => {
            "dockerd's default: the system daemon runs as root (no dockerd running, no unit)"
                .to_string()
        }
    };
    let (severity, who) = match userns {
        Some(_) => (
            Severity::Info,
            format!("{who}, with userns-remap: containers' root is not the host's"),
        ),
        None => (Severity::Low, who),
    };
    Outcome::fail(&rules::ROOT_DAEMON, severity, who, rootless_advice())
}

/// `daemon.root` (2.1) from the daemon's answer, which says what runs now whatever the
/// configuration says: a pass when it lists `rootless`, else a root daemon, only worth knowing
/// (info) when it lists `userns` too.
fn root_from_daemon(cx: &Context<'_>, asked: &DaemonInfo, userns: Option<&str>) -> Outcome {
    let at = &asked.asked;
    let info = &asked.info;
    if info.rootless() {
        return Outcome::pass(
            &rules::ROOT_DAEMON,
            format!("the daemon at {at} reports rootless among its security options"),
        );
    }
    let mut evidence = format!(
        "the daemon at {at} does not report rootless among its security options: it runs as root"
    );
    if cx.config.rootless {
        evidence.push_str(&format!(
            ", although {} looks rootless",
            cx.config.describe_source()
        ));
    }
    let severity = if info.userns() {
        evidence.push_str(", with userns: containers' root is not the host's");
        Severity::Info
    } else {
        if let Some(v) = userns {
            evidence.push_str(&format!(
                ", and without userns although userns-remap is {v:?} (not applied yet)"
            ));
        }
        Severity::Low
    };
    Outcome::fail(&rules::ROOT_DAEMON, severity, evidence, rootless_advice())
}

/// `daemon.userns-remap` (2.9) from the configuration: a tree, or a daemon that was not asked.
fn userns_from_config(cx: &Context<'_>, userns: Option<&str>) -> Outcome {
    if cx.config.rootless {
        return Outcome::not_applicable(
            &rules::USERNS_REMAP,
            "a rootless daemon already runs in a user namespace (and refuses userns-remap)",
        );
    }
    let from = origin(cx, "userns-remap");
    match userns {
        Some(v) => Outcome::pass(
            &rules::USERNS_REMAP,
            format!("userns-remap is {v:?} ({from})"),
        ),
        None => Outcome::fail(
            &rules::USERNS_REMAP,
            Severity::Medium,
            format!("userns-remap is not set ({from})"),
            fix_for(cx, "userns-remap", "\"default\""),
        ),
    }
}

/// `daemon.userns-remap` (2.9) from the daemon's answer: user namespaces are on when it lists
/// `userns`. Where the configuration says otherwise, the evidence says so and the daemon's
/// answer decides: a `userns-remap` that is configured but not reported has not been applied
/// (dockerd was not restarted since), and the daemon runs without it.
fn userns_from_daemon(cx: &Context<'_>, asked: &DaemonInfo, userns: Option<&str>) -> Outcome {
    let at = &asked.asked;
    let info = &asked.info;
    if info.rootless() {
        return Outcome::not_applicable(
            &rules::USERNS_REMAP,
            format!("the daemon at {at} reports rootless: it already runs in a user namespace (and refuses userns-remap)"),
        );
    }
    let from = origin(cx, "userns-remap");
    let root_dir = info
        .root_dir
        .as_deref()
        .map(|d| format!(", its data under {d}"))
        .unwrap_or_default();
    match (info.userns(), userns) {
        (true, Some(v)) => Outcome::pass(
            &rules::USERNS_REMAP,
            format!("the daemon at {at} reports userns{root_dir} (userns-remap is {v:?}, {from})"),
        ),
        (true, None) => Outcome::pass(
            &rules::USERNS_REMAP,
            format!("the daemon at {at} reports userns{root_dir}, although the configuration read does not set userns-remap ({from})"),
        ),
        (false, Some(v)) => Outcome::fail(
            &rules::USERNS_REMAP,
            Severity::Medium,
            format!("userns-remap is {v:?} ({from}), but the daemon at {at} does not report userns: it has not applied it (not restarted since?)"),
            Fix::manual(
                "restart dockerd so that it applies userns-remap (its log says why if it then still does not report userns)",
            ),
        ),
        (false, None) => Outcome::fail(
            &rules::USERNS_REMAP,
            Severity::Medium,
            format!("the daemon at {at} does not report userns, and userns-remap is not set ({from})"),
            fix_for(cx, "userns-remap", "\"default\""),
        ),
    }
}

/// `daemon.log-rotation`: the default driver, json-file, grows its files without end unless
/// `max-size` is set; `local` rotates by default; other drivers keep no growing file of
/// dockerd's (journald, syslog and remote drivers hand the logs on, `none` keeps none).
fn log_rotation(cx: &Context<'_>) -> Outcome {
    let config = cx.config;
    let rule = &rules::LOG_ROTATION;
    let from = origin(cx, "log-driver");
    let driver = config
        .string("log-driver")
        .unwrap_or_else(|| "json-file".to_string());
    match driver.as_str() {
        "json-file" => {}
        "local" => {
            return Outcome::pass(
                rule,
                format!("the log driver is local, which rotates its files by default ({from})"),
            )
        }
        other => {
            return Outcome::pass(
                rule,
                format!("the log driver is {other:?}: dockerd keeps no growing log file ({from})"),
            )
        }
    }
    let opts = config.log_opts();
    let opts_from = origin(cx, "log-opt");
    if let Some((_, size)) = opts.iter().find(|(k, _)| k == "max-size") {
        return Outcome::pass(
            rule,
            format!("json-file logs rotate at max-size {size} ({opts_from})"),
        );
    }
    // --harden sets log-driver (when unset) and max-size in log-opts for json-file or local,
    // unless either is on the command line, where daemon.json may not repeat it.
    let on_command_line =
        !config.flag_values("log-driver").is_empty() || !config.flag_values("log-opt").is_empty();
    let fix = if on_command_line {
        Fix::manual(format!(
            "add --log-opt max-size=10m --log-opt max-file=3 to dockerd's command line ({})",
            config.describe_source()
        ))
    } else if matches!(config.file_value("log-opts"), Some(v) if !v.is_object()) {
        Fix::manual("make \"log-opts\" in daemon.json an object with \"max-size\": \"10m\"")
    } else {
        harden(cx)
    };
    Outcome::fail(
        rule,
        Severity::Medium,
        format!("json-file logs without max-size grow without end (driver: {from}; log-opts: {opts_from})"),
        fix,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::checks::tls::tests::{findings, of, outcomes, put};
    use crate::audit::Finding;
    use crate::docker::daemon_json::{merge, Daemon, Hardening, Request};
    use crate::layout::Layout;
    use dockpki::OffsetDateTime;
    use std::path::Path;

    fn run_on(tree: &Path) -> Vec<Outcome> {
        outcomes(tree, OffsetDateTime::now_utc(), run)
    }

    fn one<'a>(all: &'a [Outcome], id: &str) -> &'a Finding {
        let found = findings(all, id);
        assert_eq!(found.len(), 1, "{id}: {all:?}");
        found[0]
    }

    /// daemon.json as `dockpki daemon-config --harden` writes it for `daemon`.
    fn hardened(daemon: Daemon) -> String {
        let request = Request {
            file: SYSTEM_FILE.into(),
            tls: Layout::daemon("/etc/docker/pki".into()),
            hosts: vec![Listen::parse("unix:///var/run/docker.sock").unwrap()],
            hardening: Hardening::On,
            daemon,
            command_line: None,
        };
        merge(&request, None).unwrap().new_text
    }

    #[test]
    fn daemon_config_harden_passes_every_daemon_rule_but_the_root_advice() {
        let tree = tempfile::tempdir().unwrap();
        put(tree.path(), SYSTEM_FILE, &hardened(Daemon::System), 0o644);
        let all = run_on(tree.path());
        assert_eq!(all.len(), 6, "{all:?}");
        let failing: Vec<&Finding> = all.iter().filter_map(Outcome::finding).collect();
        assert_eq!(failing.len(), 1, "{failing:?}");
        // A root daemon with userns-remap: worth knowing, no more.
        assert_eq!(failing[0].id, "daemon.root");
        assert_eq!(failing[0].severity, Severity::Info);
        let log = of(&all, "daemon.log-rotation");
        assert!(
            matches!(log[..], [Outcome::Pass { ref evidence, .. }] if evidence.contains("local")),
            "{log:?}"
        );
    }

    #[test]
    fn nothing_configured_is_dockerds_defaults_fixed_by_daemon_config_harden() {
        let tree = tempfile::tempdir().unwrap();
        let all = run_on(tree.path());
        let file = tree.path().join("etc/docker/daemon.json");
        let fix = Fix::dockpki([
            "daemon-config",
            "--harden",
            "--file",
            &file.display().to_string(),
        ]);
        for (id, severity) in [
            ("daemon.userns-remap", Severity::Medium),
            ("daemon.icc", Severity::Low),
            ("daemon.no-new-privileges", Severity::Medium),
            ("daemon.live-restore", Severity::Low),
            ("daemon.log-rotation", Severity::Medium),
        ] {
            let f = one(&all, id);
            assert_eq!(f.severity, severity, "{f:?}");
            assert!(f.evidence.contains("dockerd's default"), "{f:?}");
            assert_eq!(f.fix, fix, "{f:?}");
        }
        let root = one(&all, "daemon.root");
        assert_eq!(root.severity, Severity::Low);
        assert!(root.evidence.contains("dockerd's default"), "{root:?}");
        assert!(one(&all, "daemon.icc").evidence.contains("icc is true"));
    }

    #[test]
    fn values_set_wrong_in_daemon_json_are_named_with_a_fix_by_hand() {
        let tree = tempfile::tempdir().unwrap();
        put(
            tree.path(),
            SYSTEM_FILE,
            r#"{"icc": true, "no-new-privileges": false, "live-restore": false, "userns-remap": "",
                "log-driver": "json-file", "log-opts": {"max-file": "3"},
                "hosts": ["unix:///var/run/docker.sock", "tcp://192.0.2.10:2376"]}"#,
            0o644,
        );
        let all = run_on(tree.path());
        let file = tree
            .path()
            .join("etc/docker/daemon.json")
            .display()
            .to_string();
        let icc = one(&all, "daemon.icc");
        assert_eq!(icc.evidence, format!("icc is true (\"icc\" in {file})"));
        assert!(
            matches!(&icc.fix, Fix::Manual { text } if text.contains(&file)),
            "{icc:?}"
        );
        for id in [
            "daemon.userns-remap",
            "daemon.no-new-privileges",
            "daemon.live-restore",
        ] {
            assert!(matches!(one(&all, id).fix, Fix::Manual { .. }), "{id}");
        }
        // json-file without max-size: --harden adds max-size to the log-opts there, keeping
        // the listeners as they are.
        let log = one(&all, "daemon.log-rotation");
        assert_eq!(log.severity, Severity::Medium);
        assert_eq!(
            log.fix,
            Fix::dockpki([
                "daemon-config",
                "--harden",
                "--file",
                &file,
                "--listen",
                "unix:///var/run/docker.sock",
                "--listen",
                "tcp://192.0.2.10:2376",
            ])
        );
    }

    #[test]
    fn log_drivers_that_rotate_or_keep_no_file_pass_naming_the_driver() {
        let tree = tempfile::tempdir().unwrap();
        for (config, pass) in [
            (r#"{"log-driver": "local"}"#, true),
            (r#"{"log-driver": "journald"}"#, true),
            (r#"{"log-driver": "syslog"}"#, true),
            (r#"{"log-driver": "none"}"#, true),
            (r#"{"log-opts": {"max-size": "10m"}}"#, true),
            (
                r#"{"log-driver": "json-file", "log-opts": {"max-size": "50m"}}"#,
                true,
            ),
            (r#"{"log-driver": "json-file"}"#, false),
            (r#"{"log-opts": {"max-file": "5"}}"#, false),
        ] {
            put(tree.path(), SYSTEM_FILE, config, 0o644);
            let all = run_on(tree.path());
            let log = of(&all, "daemon.log-rotation");
            match log[..] {
                [Outcome::Pass { evidence, .. }] => {
                    assert!(pass, "{config}: {evidence}");
                    let driver = serde_json::from_str::<serde_json::Value>(config).unwrap()
                        ["log-driver"]
                        .as_str()
                        .map(str::to_string);
                    if let Some(driver) = driver.filter(|d| d != "json-file") {
                        assert!(evidence.contains(&driver), "{evidence}");
                    }
                }
                [Outcome::Fail(f)] => {
                    assert!(!pass && f.severity == Severity::Medium, "{config}: {f:?}")
                }
                _ => panic!("{config}: {log:?}"),
            }
        }
    }

    #[test]
    fn a_rootless_daemon_passes_the_root_rule_and_needs_no_userns_remap() {
        let tree = tempfile::tempdir().unwrap();
        put(
            tree.path(),
            "/etc/systemd/system/docker.service",
            "[Service]\nExecStart=/usr/bin/dockerd --rootless --icc=true\n",
            0o644,
        );
        put(tree.path(), SYSTEM_FILE, &hardened(Daemon::Rootless), 0o644);
        let all = run_on(tree.path());
        assert!(
            matches!(of(&all, "daemon.root")[..], [Outcome::Pass { .. }]),
            "{all:?}"
        );
        assert!(
            matches!(
                of(&all, "daemon.userns-remap")[..],
                [Outcome::NotApplicable { .. }]
            ),
            "{all:?}"
        );
        // The command line's value wins, and the fix is there, not in daemon.json.
        let icc = one(&all, "daemon.icc");
        assert!(
            icc.evidence.contains("--icc on the command line"),
            "{icc:?}"
        );
        assert!(
            matches!(&icc.fix, Fix::Manual { text } if text.contains("--icc=false")),
            "{icc:?}"
        );
    }

    #[test]
    fn a_root_daemon_without_userns_remap_is_low_and_icc_without_iptables_is_fixed_by_hand() {
        let tree = tempfile::tempdir().unwrap();
        put(
            tree.path(),
            "/lib/systemd/system/docker.service",
            "[Service]\nExecStart=/usr/bin/dockerd -H fd://\n",
            0o644,
        );
        put(tree.path(), SYSTEM_FILE, r#"{"iptables": false}"#, 0o644);
        let all = run_on(tree.path());
        let root = one(&all, "daemon.root");
        assert_eq!(root.severity, Severity::Low);
        assert!(root.evidence.contains("runs dockerd as root"), "{root:?}");
        let icc = one(&all, "daemon.icc");
        assert!(
            matches!(&icc.fix, Fix::Manual { text } if text.contains("iptables")),
            "{icc:?}"
        );
        // fd:// is kept, and no unix socket is added next to it.
        let Fix::Dockpki { args } = &one(&all, "daemon.live-restore").fix else {
            panic!()
        };
        assert!(
            args.ends_with(&["--listen".into(), "fd://".into(), "--no-unix".into()]),
            "{args:?}"
        );
    }

    /// The daemon rules over `tree`, with the daemon's answer to `GET /info` when given.
    fn run_with_answer(tree: &Path, answer: Option<serde_json::Value>) -> Vec<Outcome> {
        let host = crate::audit::TreeHost::tree(tree).unwrap();
        let config = crate::audit::config::effective_config(&host, None).unwrap();
        let request = crate::audit::AuditRequest::new(OffsetDateTime::now_utc());
        let asked = answer.map(|a| DaemonInfo {
            asked: "unix:///run/test.sock".into(),
            info: crate::docker::api::Info::from_json(&a),
        });
        run(&Context {
            host: &host,
            config: &config,
            request: &request,
            daemon_info: asked.as_ref(),
        })
    }

    fn answer(options: &[&str]) -> Option<serde_json::Value> {
        Some(serde_json::json!({
            "SecurityOptions": options,
            "DockerRootDir": "/var/lib/docker/165536.165536"
        }))
    }

    fn evidence(o: &Outcome) -> &str {
        match o {
            Outcome::Pass { evidence, .. } => evidence,
            Outcome::Fail(f) => &f.evidence,
            Outcome::NotApplicable { reason, .. } => reason,
        }
    }

    #[test]
    fn a_daemon_reporting_userns_passes_from_its_own_answer() {
        let tree = tempfile::tempdir().unwrap();
        put(tree.path(), SYSTEM_FILE, &hardened(Daemon::System), 0o644);
        let all = run_with_answer(
            tree.path(),
            answer(&["name=seccomp,profile=default", "name=userns"]),
        );
        let userns = of(&all, "daemon.userns-remap");
        assert!(matches!(userns[..], [Outcome::Pass { .. }]), "{all:?}");
        assert_eq!(
            evidence(userns[0]),
            format!("the daemon at unix:///run/test.sock reports userns, its data under /var/lib/docker/165536.165536 (userns-remap is \"default\", \"userns-remap\" in {})", tree.path().join("etc/docker/daemon.json").display())
        );
        let root = one(&all, "daemon.root");
        assert_eq!(root.severity, Severity::Info);
        assert!(
            root.evidence
                .starts_with("the daemon at unix:///run/test.sock does not report rootless")
                && root
                    .evidence
                    .ends_with("with userns: containers' root is not the host's"),
            "{root:?}"
        );
        // The daemon's answer wins over a configuration that does not say so (an option the
        // audit could not see), and the evidence says they disagree.
        let empty = tempfile::tempdir().unwrap();
        let all = run_with_answer(empty.path(), answer(&["name=userns"]));
        let userns = of(&all, "daemon.userns-remap");
        assert!(matches!(userns[..], [Outcome::Pass { .. }]), "{all:?}");
        assert!(
            evidence(userns[0])
                .contains("although the configuration read does not set userns-remap"),
            "{all:?}"
        );
    }

    #[test]
    fn userns_remap_configured_but_not_reported_is_a_finding_saying_the_daemon_did_not_apply_it() {
        let tree = tempfile::tempdir().unwrap();
        put(tree.path(), SYSTEM_FILE, &hardened(Daemon::System), 0o644);
        // The configuration alone passes ...
        let all = run_with_answer(tree.path(), None);
        assert!(matches!(
            of(&all, "daemon.userns-remap")[..],
            [Outcome::Pass { .. }]
        ));
        // ... but the daemon, not restarted since, runs without user namespaces.
        let all = run_with_answer(tree.path(), answer(&["name=seccomp,profile=default"]));
        let f = one(&all, "daemon.userns-remap");
        assert_eq!(f.severity, Severity::Medium);
        assert!(
            f.evidence.starts_with("userns-remap is \"default\" (")
                && f.evidence.contains("but the daemon at unix:///run/test.sock does not report userns: it has not applied it"),
            "{f:?}"
        );
        assert!(
            matches!(&f.fix, Fix::Manual { text } if text.starts_with("restart dockerd")),
            "{f:?}"
        );
        // The root rule follows the daemon too: a root daemon without userns is low.
        let root = one(&all, "daemon.root");
        assert_eq!(root.severity, Severity::Low);
        assert!(root.evidence.contains("not applied yet"), "{root:?}");
        // Neither configured nor reported: daemon-config --harden sets it.
        let empty = tempfile::tempdir().unwrap();
        let all = run_with_answer(empty.path(), answer(&[]));
        let f = one(&all, "daemon.userns-remap");
        assert!(
            f.evidence.starts_with("the daemon at unix:///run/test.sock does not report userns, and userns-remap is not set"),
            "{f:?}"
        );
        assert!(
            matches!(&f.fix, Fix::Dockpki { args } if args[..2] == ["daemon-config", "--harden"]),
            "{f:?}"
        );
    }

    #[test]
    fn a_daemon_reporting_rootless_passes_the_root_rule_and_needs_no_userns_remap() {
        let tree = tempfile::tempdir().unwrap();
        // A configuration the audit takes for a root daemon: the answer decides.
        put(tree.path(), SYSTEM_FILE, "{}", 0o644);
        let all = run_with_answer(
            tree.path(),
            answer(&["name=seccomp,profile=default", "name=rootless"]),
        );
        let root = of(&all, "daemon.root");
        assert!(
            matches!(root[..], [Outcome::Pass { evidence, .. }] if evidence == "the daemon at unix:///run/test.sock reports rootless among its security options"),
            "{all:?}"
        );
        let userns = of(&all, "daemon.userns-remap");
        assert!(
            matches!(userns[..], [Outcome::NotApplicable { reason, .. }] if reason.contains("reports rootless")),
            "{all:?}"
        );
    }

    /// The audit asks a live host's daemon (over its socket, here a stand-in answering one
    /// `GET /info`), and never a tree's.
    #[test]
    fn the_daemon_is_asked_about_itself_only_on_a_live_host() {
        use std::io::{Read, Write};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf);
            let body = r#"{"SecurityOptions":["name=userns"]}"#;
            let _ = write!(
                sock,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        });
        let mut request = crate::audit::AuditRequest::new(OffsetDateTime::now_utc());
        request.daemon = Some(crate::audit::DaemonAccess::Socket(path.clone()));
        let tree = crate::audit::TreeHost::tree(dir.path()).unwrap();
        assert_eq!(crate::audit::ask_daemon(&tree, &request), None);
        let live = crate::audit::TreeHost::live().unwrap();
        let asked = crate::audit::ask_daemon(&live, &request).expect("answered");
        assert_eq!(asked.asked, format!("unix://{}", path.display()));
        assert!(asked.info.userns());
        server.join().unwrap();
        // Gone: not asked, no error (the rules judge by the configuration).
        assert_eq!(crate::audit::ask_daemon(&live, &request), None);
    }
}
