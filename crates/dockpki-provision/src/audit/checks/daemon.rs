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
//! The fix is `dockpki daemon-config --harden` wherever that sets the value: the option is set
//! neither on dockerd's command line (daemon.json would then repeat it, and dockerd refuses
//! to start) nor in daemon.json (`--harden` keeps an administrator's value). Otherwise it is
//! said in words.

use crate::audit::config::{file_key, Source};
use crate::audit::rules::{self, Context, Rule};
use crate::audit::{Fix, Outcome, Severity};
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
        format!("--{flag} on the command line of {}", config.describe_source())
    } else if config.file_value(key).is_some() {
        format!("{key:?} in {}", file_name.unwrap_or_default())
    } else {
        match file_name {
            Some(name) => format!("dockerd's default: {key} is set neither in {name} nor on the command line"),
            None => format!("dockerd's default: there is no daemon.json and {}", match config.source {
                Source::None => "no dockerd command line".to_string(),
                _ => format!("no --{flag} on the command line of {}", config.describe_source()),
            }),
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

    // 2.1: the daemon's user.
    out.push(if config.rootless {
        Outcome::pass(
            &rules::ROOT_DAEMON,
            format!("the daemon is rootless ({})", config.describe_source()),
        )
    } else {
        let who = match &config.source {
            Source::Process { pid, .. } => format!("dockerd (pid {pid}) runs as root"),
            Source::Unit { .. } => format!("{} runs dockerd as root", config.describe_source()),
            Source::None => {
                "dockerd's default: the system daemon runs as root (no dockerd running, no unit)"
                    .to_string()
            }
        };
        let (severity, who) = match &userns {
            Some(_) => (
                Severity::Info,
                format!("{who}, with userns-remap: containers' root is not the host's"),
            ),
            None => (Severity::Low, who),
        };
        Outcome::fail(
            &rules::ROOT_DAEMON,
            severity,
            who,
            Fix::manual(
                "where the workloads allow it, run dockerd rootless (dockerd-rootless-setuptool.sh install) and configure it with dockpki daemon-config --rootless --harden",
            ),
        )
    });

    // 2.9: user namespaces.
    out.push(if config.rootless {
        Outcome::not_applicable(
            &rules::USERNS_REMAP,
            "a rootless daemon already runs in a user namespace (and refuses userns-remap)",
        )
    } else {
        let from = origin(cx, "userns-remap");
        match &userns {
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
