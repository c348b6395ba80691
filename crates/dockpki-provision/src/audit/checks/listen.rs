//! The daemon's listeners and the consistency of its configuration: TCP without TLS, TLS
//! without client verification, the plain port, all interfaces; options given twice, a
//! daemon.json dockerd cannot read, variables the audit cannot see. Every root dockerd
//! running is judged for TCP without TLS, TLS without verification and the plain port, not
//! only the one audited ([`EffectiveConfig::others`]).

use crate::audit::rules::{self, Context};
use crate::audit::EffectiveConfig;
use crate::audit::{Fix, Outcome, Severity};
use crate::docker::daemon_json::PLAIN_PORT;
use crate::docker::endpoint::DEFAULT_TLS_PORT;

/// A TCP listen address of dockerd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpListen {
    /// As configured, spaces trimmed (`tcp://0.0.0.0:2376`, `:2375`); for an empty address
    /// (dockerd's default with TLS), `tcp://localhost:2376`.
    pub address: String,
    /// The host part, brackets removed; `localhost` when none was given, as dockerd fills
    /// it in (moby's `DefaultHTTPHost`).
    pub host: String,
    /// The port, dockerd's default filled in.
    pub port: u16,
}

impl TcpListen {
    /// Whether it is bound to every interface (`0.0.0.0`, `::`).
    pub fn all_interfaces(&self) -> bool {
        matches!(self.host.as_str(), "0.0.0.0" | "::")
    }
}

/// The TCP listeners among dockerd's `hosts`, each read as dockerd reads it (moby's
/// `ParseHost` and `ParseTCPAddr`): spaces around it are trimmed; an address without a scheme
/// (`0.0.0.0:2375`, `:2375`, `localhost`) is TCP; a missing host is `localhost` and a missing
/// port 2375 (`DefaultTCPHost`), **with TLS on too**. `tls` matters only for an empty
/// address, which is `tcp://localhost:2376` with TLS and the unix socket without. An address
/// dockerd would refuse (a port that is not a number) listens nowhere: dockerd does not start.
pub fn tcp_listeners(hosts: &[String], tls: bool) -> Vec<TcpListen> {
    hosts.iter().filter_map(|h| tcp_listen(h, tls)).collect()
}

/// One address of [`tcp_listeners`]; `None` when it is not TCP.
fn tcp_listen(address: &str, tls: bool) -> Option<TcpListen> {
    let address = address.trim();
    if address.is_empty() {
        return tls.then(|| TcpListen {
            address: format!("tcp://localhost:{DEFAULT_TLS_PORT}"),
            host: "localhost".into(),
            port: DEFAULT_TLS_PORT,
        });
    }
    let rest = match address.split_once("://") {
        Some(("tcp", rest)) => rest,
        Some(_) => return None,
        None => address,
    };
    // The authority of Go's url.Parse: up to the first `/`, after any `user@`.
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (inside, after) = v6.split_once(']').unwrap_or((v6, ""));
        (inside, after.strip_prefix(':').unwrap_or(""))
    } else {
        authority.rsplit_once(':').unwrap_or((authority, ""))
    };
    let port = if port.is_empty() {
        PLAIN_PORT
    } else {
        port.parse().ok()?
    };
    Some(TcpListen {
        address: address.to_string(),
        host: if host.is_empty() { "localhost" } else { host }.to_string(),
        port,
    })
}

/// Runs the rules of this group.
pub fn run(cx: &Context<'_>) -> Vec<Outcome> {
    let mut out = config_rules(cx);
    let config = cx.config;
    out.extend(listen_rules(config, Daemon::Audited));
    for other in &config.others {
        out.extend(other_daemon_findings(other));
    }
    out
}

/// Which daemon the listen rules judge.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Daemon {
    /// The one audited: every rule gives an outcome, and `daemon-config` is its fix.
    Audited,
    /// Another root dockerd running beside it: named in the evidence, fixed by hand
    /// (`daemon-config` writes the system daemon.json, which may not be this daemon's).
    Other,
}

/// The listen rules for `config`: an outcome for each.
fn listen_rules(config: &EffectiveConfig, daemon: Daemon) -> Vec<Outcome> {
    let mut out = Vec::new();
    let (subject, harden, relisten, all_fix) = match daemon {
        Daemon::Audited => (
            "dockerd".to_string(),
            Fix::dockpki(["daemon-config"]),
            Fix::dockpki(["daemon-config", "--listen", "tcp://HOST:2376"]),
            Fix::dockpki(["daemon-config", "--listen", "tcp://ADDRESS:2376"]),
        ),
        Daemon::Other => {
            let who = config.describe_source();
            let by_hand = Fix::manual(format!(
                "stop {who}, or restart it with tlsverify and a server certificate (dockpki issue server)"
            ));
            (
                format!("{who} also"),
                by_hand.clone(),
                by_hand.clone(),
                by_hand,
            )
        }
    };
    let verify = config.bool("tlsverify") == Some(true);
    // tlsverify set at all, even to false, turns TLS on (EffectiveConfig::tls):
    // `tlsverify: false` is TLS without client verification, not plain TCP.
    let tls = config.tls();
    let listeners = tcp_listeners(&config.hosts(), tls);
    if listeners.is_empty() {
        let why = format!(
            "dockerd does not listen on TCP (per {})",
            config.describe_source()
        );
        for rule in [
            &rules::TCP_WITHOUT_TLS,
            &rules::TLS_WITHOUT_VERIFY,
            &rules::PLAIN_PORT,
            &rules::ALL_INTERFACES,
        ] {
            out.push(Outcome::not_applicable(rule, why.clone()));
        }
        return out;
    }
    let addresses = listeners
        .iter()
        .map(|l| l.address.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if !tls {
        out.push(Outcome::fail(
            &rules::TCP_WITHOUT_TLS,
            Severity::Critical,
            format!("{subject} listens on {addresses} without TLS"),
            harden.clone(),
        ));
        out.push(Outcome::not_applicable(
            &rules::TLS_WITHOUT_VERIFY,
            "TLS is not enabled at all",
        ));
    } else {
        out.push(Outcome::pass(
            &rules::TCP_WITHOUT_TLS,
            format!("TLS is enabled on {addresses}"),
        ));
        if verify {
            out.push(Outcome::pass(
                &rules::TLS_WITHOUT_VERIFY,
                "tlsverify is set: clients must present a certificate of the CA",
            ));
        } else {
            out.push(Outcome::fail(
                &rules::TLS_WITHOUT_VERIFY,
                Severity::Critical,
                format!("{subject} listens on {addresses} with tls but without tlsverify"),
                harden.clone(),
            ));
        }
    }
    let plain: Vec<&str> = listeners
        .iter()
        .filter(|l| l.port == PLAIN_PORT)
        .map(|l| l.address.as_str())
        .collect();
    if plain.is_empty() {
        out.push(Outcome::pass(
            &rules::PLAIN_PORT,
            format!("no TCP listener on port {PLAIN_PORT}"),
        ));
    } else {
        out.push(Outcome::fail(
            &rules::PLAIN_PORT,
            Severity::Critical,
            format!("{subject} listens on {}", plain.join(", ")),
            relisten,
        ));
    }
    let all: Vec<&str> = listeners
        .iter()
        .filter(|l| l.all_interfaces())
        .map(|l| l.address.as_str())
        .collect();
    if all.is_empty() {
        out.push(Outcome::pass(
            &rules::ALL_INTERFACES,
            format!("bound to {addresses}"),
        ));
    } else {
        out.push(Outcome::fail(
            &rules::ALL_INTERFACES,
            Severity::Info,
            format!("{} listens on every interface", all.join(", ")),
            all_fix,
        ));
    }
    out
}

/// The findings of the listen rules (all but `listen.all-interfaces`, which is only worth
/// knowing) for `other`, a root dockerd running beside the audited one: nothing when it keeps
/// them, so that its passes do not hide the audited daemon's.
fn other_daemon_findings(other: &EffectiveConfig) -> Vec<Outcome> {
    listen_rules(other, Daemon::Other)
        .into_iter()
        .filter(|o| o.finding().is_some() && o.id() != rules::ALL_INTERFACES.id)
        .collect()
}

/// The configuration's own consistency: flags that daemon.json repeats, a daemon.json dockerd
/// cannot read, variables in the unit's command line.
fn config_rules(cx: &Context<'_>) -> Vec<Outcome> {
    let config = cx.config;
    let mut out = Vec::new();
    let file_name = config
        .file
        .as_ref()
        .map(|f| cx.host.shown(&f.path).display().to_string());
    match (&config.file, &file_name) {
        (Some(file), Some(name)) => match &file.problem {
            Some(problem) => out.push(Outcome::fail(
                &rules::CONFIG_INVALID,
                Severity::High,
                format!("{name}: {problem}"),
                Fix::manual(format!("correct {name}: dockerd does not start with it")),
            )),
            None => out.push(Outcome::pass(
                &rules::CONFIG_INVALID,
                format!("{name} is a JSON object"),
            )),
        },
        _ => out.push(Outcome::not_applicable(
            &rules::CONFIG_INVALID,
            "there is no daemon.json",
        )),
    }
    if config.conflicts.is_empty() {
        out.push(Outcome::pass(
            &rules::CONFIG_CONFLICT,
            "no option is set both ways",
        ));
    } else {
        let name = file_name.unwrap_or_default();
        let hosts_only = config.conflicts.iter().all(|c| c == "hosts");
        out.push(Outcome::fail(
            &rules::CONFIG_CONFLICT,
            Severity::High,
            format!(
                "{} set both on dockerd's command line ({}) and in {name}",
                config.conflicts.join(", "),
                config.describe_source()
            ),
            if hosts_only {
                Fix::dockpki(["systemd-dropin"])
            } else {
                Fix::manual(format!(
                    "remove {} from the command line or from {name}",
                    config.conflicts.join(", ")
                ))
            },
        ));
    }
    if config.unexpanded.is_empty() {
        out.push(Outcome::pass(
            &rules::CONFIG_UNEXPANDED,
            "dockerd's command line holds no variables",
        ));
    } else {
        out.push(Outcome::fail(
            &rules::CONFIG_UNEXPANDED,
            Severity::Info,
            format!(
                "{} on the command line of {}",
                config.unexpanded.join(" "),
                config.describe_source()
            ),
            Fix::manual("move those options into daemon.json, where they are audited"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_missing_port_is_2375_even_with_tls_as_dockerd_fills_it_in() {
        // moby's parseDaemonHost: ParseTCPAddr(addr, DefaultTCPHost = tcp://localhost:2375),
        // whatever TLS says; only an empty address becomes DefaultTLSHost.
        let got = tcp_listeners(
            &hosts(&["tcp://0.0.0.0", "unix:///x", "tcp://[::1]:9", "tcp://[::1]"]),
            true,
        );
        let got: Vec<(&str, u16)> = got.iter().map(|l| (l.host.as_str(), l.port)).collect();
        assert_eq!(got, [("0.0.0.0", 2375), ("::1", 9), ("::1", 2375)]);
        assert_eq!(tcp_listeners(&hosts(&["tcp://h"]), false)[0].port, 2375);
        assert_eq!(tcp_listeners(&hosts(&["tcp://h:"]), true)[0].port, 2375);
        assert!(!tcp_listeners(&hosts(&["tcp://127.0.0.1:2376"]), true)[0].all_interfaces());
    }

    #[test]
    fn addresses_are_read_as_dockerd_reads_them() {
        let one = |h: &str, tls: bool| {
            tcp_listeners(&hosts(&[h]), tls)
                .first()
                .map(|l| (l.host.clone(), l.port))
        };
        let at = |h: &str, p: u16| Some((h.to_string(), p));
        // No scheme: TCP.
        assert_eq!(one("0.0.0.0:2375", false), at("0.0.0.0", 2375));
        assert_eq!(one("[::]:2376", true), at("::", 2376));
        // No host: localhost (DefaultHTTPHost), not every interface.
        assert_eq!(one(":2375", false), at("localhost", 2375));
        assert_eq!(one("tcp://:2376", true), at("localhost", 2376));
        assert!(!tcp_listeners(&hosts(&["tcp://:2376"]), true)[0].all_interfaces());
        // Spaces are trimmed.
        assert_eq!(one(" tcp://0.0.0.0:2375 ", false), at("0.0.0.0", 2375));
        assert_eq!(
            tcp_listeners(&hosts(&[" tcp://0.0.0.0:2375"]), false)[0].address,
            "tcp://0.0.0.0:2375"
        );
        // An empty address is dockerd's default: TCP on localhost:2376 with TLS only.
        assert_eq!(one("", true), at("localhost", 2376));
        assert_eq!(one(" ", false), None);
        // Other schemes are not TCP; a port that is no number is refused by dockerd.
        assert_eq!(one("unix:///run/docker.sock", false), None);
        assert_eq!(one("fd://", false), None);
        assert_eq!(one("tcp://h:port", false), None);
    }

    /// The outcomes of `config` for the listen rules.
    fn judged(config: &EffectiveConfig) -> Vec<Outcome> {
        let mut out = listen_rules(config, Daemon::Audited);
        for other in &config.others {
            out.extend(other_daemon_findings(other));
        }
        out
    }

    fn config(line: &str, pid: u32) -> EffectiveConfig {
        let tree = tempfile::tempdir().unwrap();
        let host = crate::audit::TreeHost::tree(tree.path()).unwrap();
        let mut c = crate::audit::config::effective_config(&host, None).unwrap();
        c.flags = crate::audit::config::parse_flags(
            &line
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>(),
        );
        c.source = crate::audit::config::Source::Process { pid, uid: 0 };
        c
    }

    #[test]
    fn every_root_daemon_is_judged_with_its_pid_in_the_evidence() {
        let mut audited = config("-H fd:// -H tcp://0.0.0.0:2376 --tlsverify", 10);
        audited.others = vec![
            config("-H tcp://0.0.0.0:2375", 20),
            config("-H tcp://127.0.0.1:2376 --tls", 30),
            config("-H unix:///tmp/x.sock", 40),
        ];
        let findings: Vec<(String, String)> = judged(&audited)
            .iter()
            .filter_map(|o| o.finding())
            .map(|f| (f.id.to_string(), f.evidence.clone()))
            .collect();
        let ids: Vec<&str> = findings.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(
            ids,
            [
                rules::ALL_INTERFACES.id,
                rules::TCP_WITHOUT_TLS.id,
                rules::PLAIN_PORT.id,
                rules::TLS_WITHOUT_VERIFY.id,
            ],
            "{findings:?}"
        );
        assert!(findings[1].1.contains("pid 20"), "{findings:?}");
        assert!(findings[2].1.contains("pid 20"), "{findings:?}");
        assert!(findings[3].1.contains("pid 30"), "{findings:?}");
    }

    #[test]
    fn tlsverify_false_is_tls_without_client_verification_not_plain_tcp() {
        let tree = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tree.path().join("etc/docker")).unwrap();
        std::fs::write(
            tree.path().join("etc/docker/daemon.json"),
            r#"{"hosts": ["tcp://127.0.0.1:2376"], "tlsverify": false}"#,
        )
        .unwrap();
        let host = crate::audit::TreeHost::tree(tree.path()).unwrap();
        let report = crate::audit::audit(
            &host,
            &crate::audit::AuditRequest::new(time::OffsetDateTime::now_utc()),
        )
        .unwrap();
        let failing: Vec<&str> = report.findings().iter().map(|f| f.id).collect();
        assert!(
            failing.contains(&rules::TLS_WITHOUT_VERIFY.id),
            "{failing:?}"
        );
        assert!(!failing.contains(&rules::TCP_WITHOUT_TLS.id), "{failing:?}");
    }
}
