//! `dockpki sans` and `bootstrap --san auto`, checked against `ip -o addr` of this machine.

mod common;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::process::Command;

use common::{json, stdout, Env};

/// Every address `ip -o addr` lists, and the subset a remote client could dial (global or
/// site-local scope: no loopback, no link-local).
fn ip_addr() -> Option<(BTreeSet<IpAddr>, BTreeSet<IpAddr>)> {
    let out = Command::new("ip").args(["-o", "addr"]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (mut all, mut dialable) = (BTreeSet::new(), BTreeSet::new());
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        let Some(i) = w.iter().position(|x| *x == "inet" || *x == "inet6") else {
            continue;
        };
        let ip: IpAddr = w[i + 1].split('/').next()?.parse().ok()?;
        all.insert(ip);
        let scope = w.iter().position(|x| *x == "scope").map(|j| w[j + 1]);
        if scope == Some("global") || scope == Some("site") {
            dialable.insert(ip);
        }
    }
    Some((all, dialable))
}

fn suggested(env: &Env) -> Vec<String> {
    serde_json::from_value(json(&env.ok(&["--json", "sans"]))["sans"].clone()).unwrap()
}

#[test]
fn every_suggested_ip_is_a_dialable_address_of_this_machine_and_none_is_missing() {
    let Some((all, dialable)) = ip_addr() else {
        common::prerequisite(false, "the `ip` command (iproute2)");
        return;
    };
    let env = Env::new();
    let ips: BTreeSet<IpAddr> = suggested(&env)
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    for ip in &ips {
        assert!(
            all.contains(ip),
            "{ip} is not an address of this machine: {all:?}"
        );
        assert!(!ip.is_loopback(), "{ip}");
    }
    assert_eq!(
        ips, dialable,
        "suggestions differ from ip -o addr's global addresses"
    );
}

#[test]
fn the_hostname_comes_first_and_text_output_matches_json() {
    let env = Env::new();
    let list = suggested(&env);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host = host.trim();
    if host != "localhost" {
        assert_eq!(list[0], host.to_lowercase());
    }
    let text = stdout(&env.ok(&["sans"]));
    assert_eq!(text.lines().collect::<Vec<_>>(), list);
    // Deterministic: the same answer twice.
    assert_eq!(suggested(&env), list);
}

#[test]
fn bootstrap_san_auto_issues_a_certificate_with_every_suggestion_and_the_other_sans() {
    let env = Env::new();
    let list = suggested(&env);
    let (daemon, client) = (env.path("daemon"), env.path("client"));
    env.ok(&[
        "bootstrap",
        "--san",
        "auto",
        "--san",
        "docker.example.com",
        "--daemon-dir",
        common::s(&daemon),
        "--client-dir",
        common::s(&client),
    ]);
    let text = common::openssl_x509(&daemon.join("server-cert.pem"), &["-ext", "subjectAltName"]);
    for san in list
        .iter()
        .map(String::as_str)
        .chain(["docker.example.com"])
    {
        let wanted = match san.parse::<IpAddr>() {
            Ok(IpAddr::V4(v4)) => format!("IP Address:{v4}"),
            Ok(IpAddr::V6(v6)) => format!("IP Address:{}", expand_v6(v6)),
            Err(_) => format!("DNS:{san}"),
        };
        assert!(text.contains(&wanted), "{wanted} missing from\n{text}");
    }
}

/// openssl prints IPv6 SANs with every group, without zero compression.
fn expand_v6(ip: std::net::Ipv6Addr) -> String {
    ip.segments()
        .iter()
        .map(|g| format!("{g:X}"))
        .collect::<Vec<_>>()
        .join(":")
}
