//! The names and addresses clients may dial this host by, for the server certificate's SANs
//! (`dockpki sans`, and `--san auto`, which stands for them). Discovery of the machine the CLI
//! runs on (hostname, resolver, interfaces), so it stays in the CLI: an embedder provisioning
//! another machine must not get this one's names.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::process::Command;

use dockpki::SubjectAltName;

use crate::error::{CliError, CliResult};

/// The `--san` value that stands for every suggestion.
pub const AUTO: &str = "auto";

/// The suggestions, deterministic for a given host: the hostname, the FQDN when the system
/// resolver knows one, then the IPv4 and IPv6 addresses (each sorted) of the interfaces, without
/// loopback, link-local and multicast addresses, which no remote client dials.
pub fn suggest() -> CliResult<Vec<SubjectAltName>> {
    let mut out: Vec<SubjectAltName> = Vec::new();
    let mut push = |s: &str| {
        if let Ok(san) = s.parse::<SubjectAltName>() {
            if !out.contains(&san) {
                out.push(san);
            }
        }
    };
    if let Some(host) = hostname() {
        push(&host);
        if let Some(fqdn) = fqdn(&host) {
            push(&fqdn);
        }
    }
    let (v4, v6) = addresses()?;
    for ip in v4.iter().chain(v6.iter()) {
        push(&ip.to_string());
    }
    Ok(out)
}

/// Replaces every `auto` in `sans` by the suggestions, keeping the other values and the order.
pub fn expand_auto(sans: &[String]) -> CliResult<Vec<String>> {
    if !sans.iter().any(|s| s == AUTO) {
        return Ok(sans.to_vec());
    }
    let auto: Vec<String> = suggest()?.iter().map(ToString::to_string).collect();
    let mut out: Vec<String> = Vec::new();
    for s in sans {
        let items = if s == AUTO {
            auto.clone()
        } else {
            vec![s.clone()]
        };
        for item in items {
            if !out.contains(&item) {
                out.push(item);
            }
        }
    }
    Ok(out)
}

/// The kernel's hostname.
fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s != "localhost" && s != "(none)")
}

/// The fully qualified name the system resolver (NSS: /etc/hosts, DNS) gives the hostname, via
/// `getent hosts`, when it has a dot; a name that already has one is its own FQDN.
fn fqdn(host: &str) -> Option<String> {
    if host.contains('.') {
        return None;
    }
    let out = Command::new("getent").args(["hosts", host]).output().ok()?;
    fqdn_in_getent(host, &String::from_utf8_lossy(&out.stdout))
}

/// The first name in `getent hosts` output (`ADDRESS NAME ALIAS...` lines) that extends `host`
/// with a domain: the canonical name or an alias such as `/etc/hosts`' `IP fqdn short`.
fn fqdn_in_getent(host: &str, text: &str) -> Option<String> {
    let prefix = format!("{host}.");
    text.lines()
        .flat_map(|l| l.split_whitespace().skip(1))
        .find(|name| name.starts_with(&prefix) && !name.ends_with('.'))
        .map(str::to_string)
}

/// Whether a remote client could dial `ip`.
fn dialable(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback() || v4.is_link_local() || v4.is_unspecified() || v4.is_multicast())
        }
        IpAddr::V6(v6) => {
            // fe80::/10: link-local, needs a zone, never in a certificate.
            let link_local = (v6.segments()[0] & 0xffc0) == 0xfe80;
            !(v6.is_loopback() || link_local || v6.is_unspecified() || v6.is_multicast())
        }
    }
}

/// The dialable addresses of every interface: IPv4 and IPv6, each sorted.
fn addresses() -> CliResult<(BTreeSet<IpAddr>, BTreeSet<IpAddr>)> {
    let ifaces = nix::ifaddrs::getifaddrs()
        .map_err(|e| CliError::new(format!("cannot list the network interfaces: {e}")))?;
    let (mut v4, mut v6) = (BTreeSet::new(), BTreeSet::new());
    for iface in ifaces {
        let Some(addr) = iface.address else { continue };
        if let Some(a) = addr.as_sockaddr_in() {
            v4.insert(IpAddr::V4(a.ip()));
        } else if let Some(a) = addr.as_sockaddr_in6() {
            v6.insert(IpAddr::V6(a.ip()));
        }
    }
    v4.retain(dialable);
    v6.retain(dialable);
    Ok((v4, v6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_link_local_and_multicast_are_not_dialable() {
        for ip in [
            "127.0.0.1",
            "::1",
            "fe80::1",
            "febf::1",
            "169.254.1.1",
            "0.0.0.0",
            "ff02::1",
            "224.0.0.1",
        ] {
            assert!(!dialable(&ip.parse().unwrap()), "{ip}");
        }
        for ip in ["192.0.2.2", "10.0.0.1", "fd00::2", "2001:db8::1", "fec0::1"] {
            assert!(dialable(&ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn the_fqdn_is_the_name_that_extends_the_hostname() {
        let cases = [
            (
                "127.0.1.1       vm.example.com vm\n",
                Some("vm.example.com"),
            ),
            ("192.0.2.2  vm  vm.lan\n", Some("vm.lan")),
            ("127.0.0.1       vm\n", None),
            ("10.0.0.1  vmx.example.com other.example.com\n", None),
            ("", None),
        ];
        for (text, expected) in cases {
            assert_eq!(fqdn_in_getent("vm", text).as_deref(), expected, "{text:?}");
        }
    }

    #[test]
    fn expand_auto_keeps_other_values_and_drops_duplicates() {
        let plain = vec!["a.example".to_string(), "10.0.0.1".to_string()];
        assert_eq!(expand_auto(&plain).unwrap(), plain);
        let auto = suggest().unwrap();
        let expanded = expand_auto(&["x.example".into(), AUTO.into(), "x.example".into()]).unwrap();
        assert_eq!(expanded[0], "x.example");
        assert_eq!(expanded.len(), 1 + auto.len());
    }
}
