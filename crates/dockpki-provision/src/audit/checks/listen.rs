//! The daemon's listeners and the consistency of its configuration: TCP without TLS, TLS
//! without client verification, the plain port, all interfaces; options given twice, a
//! daemon.json dockerd cannot read, variables the audit cannot see.

use crate::audit::rules::{self, Context};
use crate::audit::{Fix, Outcome, Severity};
use crate::docker::daemon_json::PLAIN_PORT;
use crate::docker::endpoint::DEFAULT_TLS_PORT;

/// A TCP listen address of dockerd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpListen {
    /// As configured (`tcp://0.0.0.0:2376`).
    pub address: String,
    /// The host part, brackets removed; empty when none was given.
    pub host: String,
    /// The port, dockerd's default filled in.
    pub port: u16,
}

impl TcpListen {
    /// Whether it is bound to every interface (`0.0.0.0`, `::`, or no host at all).
    pub fn all_interfaces(&self) -> bool {
        matches!(self.host.as_str(), "" | "0.0.0.0" | "::" | "[::]")
    }
}

/// The TCP listeners among dockerd's `hosts`; `tls` says which default port dockerd fills in
/// (2376 with TLS, 2375 without).
pub fn tcp_listeners(hosts: &[String], tls: bool) -> Vec<TcpListen> {
    hosts
        .iter()
        .filter_map(|h| {
            let rest = h.strip_prefix("tcp://")?;
            let rest = rest.split('/').next().unwrap_or("");
            let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
                let (inside, after) = v6.split_once(']').unwrap_or((v6, ""));
                (inside.to_string(), after.strip_prefix(':').unwrap_or(""))
            } else {
                match rest.rsplit_once(':') {
                    Some((h, p)) => (h.to_string(), p),
                    None => (rest.to_string(), ""),
                }
            };
            let default = if tls { DEFAULT_TLS_PORT } else { PLAIN_PORT };
            Some(TcpListen {
                address: h.clone(),
                host,
                port: port.parse().unwrap_or(default),
            })
        })
        .collect()
}

/// Runs the rules of this group.
pub fn run(cx: &Context<'_>) -> Vec<Outcome> {
    let mut out = config_rules(cx);
    let config = cx.config;
    let verify = config.bool("tlsverify") == Some(true);
    // dockerd turns TLS on whenever tlsverify is set at all, even to false ("regardless of
    // whether the user sets it to true or false, if they specify TLSVerify at all then we need
    // to turn on TLS", moby's loadDaemonCliConfig): `tlsverify: false` is TLS without client
    // verification, not plain TCP.
    let tls = config.bool("tlsverify").is_some() || config.bool("tls") == Some(true);
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
    let harden = Fix::dockpki(["daemon-config"]);
    if !tls {
        out.push(Outcome::fail(
            &rules::TCP_WITHOUT_TLS,
            Severity::Critical,
            format!("dockerd listens on {addresses} without TLS"),
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
                format!("dockerd listens on {addresses} with tls but without tlsverify"),
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
            format!("dockerd listens on {}", plain.join(", ")),
            Fix::dockpki(["daemon-config", "--listen", "tcp://HOST:2376"]),
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
            Fix::dockpki(["daemon-config", "--listen", "tcp://ADDRESS:2376"]),
        ));
    }
    out
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
    fn dockerd_fills_in_2376_with_tls_and_2375_without() {
        let got = tcp_listeners(
            &hosts(&["tcp://0.0.0.0", "unix:///x", "tcp://[::1]:9"]),
            true,
        );
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].host.as_str(), got[0].port), ("0.0.0.0", 2376));
        assert_eq!((got[1].host.as_str(), got[1].port), ("::1", 9));
        assert_eq!(tcp_listeners(&hosts(&["tcp://h"]), false)[0].port, 2375);
        assert!(tcp_listeners(&hosts(&["tcp://:2376"]), true)[0].all_interfaces());
        assert!(!tcp_listeners(&hosts(&["tcp://127.0.0.1:2376"]), true)[0].all_interfaces());
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
