//! Property tests: any valid DNS name or IP address parses as a SAN, a server certificate issued
//! for a random SAN set verifies for each of its SANs, SAN lists keep first occurrences in order,
//! invalid characters are always refused, and a refused SAN is named in the error.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use dockpki::{
    verify_leaf, CertificateAuthority, Error, Lifetime, PrivateKey, SanList, ServerRequest,
    SubjectAltName, Usage,
};
use proptest::prelude::*;
use zeroize::Zeroizing;

/// One CA and one leaf key for the whole binary: each case only issues and verifies.
fn fixture() -> &'static (CertificateAuthority, Zeroizing<String>) {
    static FIXTURE: OnceLock<(CertificateAuthority, Zeroizing<String>)> = OnceLock::new();
    FIXTURE.get_or_init(|| (common::ca(), common::p256().to_pem()))
}

/// An LDH label of 1 to 20 characters that neither starts nor ends with a hyphen.
fn label() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9]([a-zA-Z0-9-]{0,18}[a-zA-Z0-9])?"
}

/// 2 to 4 labels, the last one alphabetic.
fn dns_name() -> impl Strategy<Value = String> {
    (prop::collection::vec(label(), 1..=3), "[a-zA-Z]{1,20}")
        .prop_map(|(labels, tld)| format!("{}.{tld}", labels.join(".")))
}

/// Whether a client can dial `ip`: SAN parsing refuses the unspecified, broadcast and multicast
/// addresses (also IPv4-mapped), so the generators below leave them out.
fn dialable(ip: &IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(*ip, IpAddr::V4),
        v4 => *v4,
    };
    !(ip.is_unspecified() || ip.is_multicast() || matches!(ip, IpAddr::V4(v4) if v4.is_broadcast()))
}

fn ipv4() -> impl Strategy<Value = IpAddr> {
    any::<[u8; 4]>()
        .prop_map(|b| IpAddr::V4(Ipv4Addr::from(b)))
        .prop_filter("undialable", dialable)
}

fn ipv6() -> impl Strategy<Value = IpAddr> {
    any::<[u8; 16]>()
        .prop_map(|b| IpAddr::V6(Ipv6Addr::from(b)))
        .prop_filter("undialable", dialable)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn valid_dns_names_parse_as_lowercased_dns_sans(name in dns_name()) {
        let parsed: SubjectAltName = name.parse().unwrap();
        let lowercased = name.to_ascii_lowercase();
        prop_assert!(
            matches!(&parsed, SubjectAltName::Dns(d) if d.as_str() == lowercased),
            "{:?}", parsed
        );
        prop_assert_eq!(parsed.to_string(), name.to_ascii_lowercase());
        let with_dot: SubjectAltName = format!("{name}.").parse().unwrap();
        prop_assert_eq!(with_dot, parsed);
    }

    #[test]
    fn ip_addresses_parse_as_ip_sans(v4 in ipv4(), v6 in ipv6()) {
        for ip in [v4, v6] {
            let parsed: SubjectAltName = ip.to_string().parse().unwrap();
            prop_assert_eq!(&parsed, &SubjectAltName::Ip(ip));
            prop_assert_eq!(parsed.to_string().parse::<IpAddr>().unwrap(), ip);
        }
        let bracketed: SubjectAltName = format!("[{v6}]").parse().unwrap();
        prop_assert_eq!(bracketed, SubjectAltName::Ip(v6));
    }

    #[test]
    fn server_cert_for_random_sans_verifies_for_each_san(
        names in prop::collection::vec(dns_name(), 1..=3),
        v4s in prop::collection::vec(ipv4(), 0..=2),
        v6s in prop::collection::vec(ipv6(), 0..=2),
    ) {
        let (ca, key_pem) = fixture();
        let inputs: Vec<String> = names
            .iter()
            .cloned()
            .chain(v4s.iter().chain(&v6s).map(|ip| ip.to_string()))
            .collect();
        let sans = SanList::parse(&inputs).unwrap();
        let req = ServerRequest { sans: sans.clone(), common_name: None, lifetime: "1d".parse().unwrap() };
        let now = common::now();
        let key = PrivateKey::from_pem(key_pem.as_bytes()).unwrap();
        let server = ca.issue_server(&req, key, now).unwrap();
        let bundle = [ca.cert_der().clone()];
        for san in sans.as_slice() {
            let verified = verify_leaf(&server.cert, &bundle, Usage::Server, Some(san), now);
            prop_assert!(verified.is_ok(), "{}: {:?}", san, verified);
        }
        // Hosts as typed (mixed case) are the same hosts.
        for input in &inputs {
            let host: SubjectAltName = input.parse().unwrap();
            prop_assert!(verify_leaf(&server.cert, &bundle, Usage::Server, Some(&host), now).is_ok());
        }
        // A name that is not among the SANs does not verify.
        let outsider: SubjectAltName = "not-a-san.invalid".parse().unwrap();
        prop_assert!(verify_leaf(&server.cert, &bundle, Usage::Server, Some(&outsider), now).is_err());
    }

    #[test]
    fn san_list_keeps_first_occurrences_in_order(picks in prop::collection::vec((0usize..6, any::<bool>()), 1..20)) {
        const POOL: [&str; 6] = ["b.example.com", "192.0.2.1", "a.example.com", "2001:db8::1", "localhost", "*.example.org"];
        // Each pick is a pool entry, possibly written in another form of the same name.
        let inputs: Vec<String> = picks
            .iter()
            .map(|(i, variant)| {
                let s = POOL[*i];
                match (*variant, s.parse::<IpAddr>()) {
                    (false, _) => s.to_string(),
                    (true, Ok(IpAddr::V6(_))) => format!("[{s}]"),
                    (true, Ok(IpAddr::V4(_))) => format!(" {s} "),
                    (true, Err(_)) => format!("{}.", s.to_uppercase()),
                }
            })
            .collect();
        let mut expected: Vec<SubjectAltName> = Vec::new();
        for (i, _) in &picks {
            let san: SubjectAltName = POOL[*i].parse().unwrap();
            if !expected.contains(&san) {
                expected.push(san);
            }
        }
        let list = SanList::parse(&inputs).unwrap();
        prop_assert_eq!(list.as_slice(), expected.as_slice());
    }

    #[test]
    fn a_character_outside_letters_digits_and_hyphen_is_refused(
        name in dns_name(),
        bad in prop::sample::select(vec!['_', ' ', '@', '/', '!', 'é', '+', '=', ',']),
        at in any::<prop::sample::Index>(),
    ) {
        let mut chars: Vec<char> = name.chars().collect();
        // Inside the name: leading and trailing blanks are trimmed, not refused.
        chars.insert(1 + at.index(chars.len() - 1), bad);
        let input: String = chars.into_iter().collect();
        let err = input.parse::<SubjectAltName>().unwrap_err();
        prop_assert!(matches!(err, Error::InvalidSan { .. }), "{:?}", err);
    }

    #[test]
    fn a_refused_san_in_a_list_is_named_in_the_error(
        good in prop::collection::vec(dns_name(), 0..4),
        name in dns_name(),
        bad in prop::sample::select(vec!['_', ' ', '@', '/', '!', '+', '=', ',', '%']),
        at in any::<prop::sample::Index>(),
        position in any::<prop::sample::Index>(),
    ) {
        let mut chars: Vec<char> = name.chars().collect();
        chars.insert(1 + at.index(chars.len() - 1), bad);
        let offending: String = chars.into_iter().collect();
        let mut inputs = good.clone();
        inputs.insert(position.index(good.len() + 1), offending.clone());
        let err = SanList::parse(&inputs).unwrap_err();
        let message = err.to_string();
        prop_assert!(
            message.contains(&format!("{offending:?}")),
            "{} does not name {:?}", message, offending
        );
    }

    #[test]
    fn lifetimes_display_and_parse_back_to_the_same_duration(hours in 1u32..=876_000) {
        let lifetime: Lifetime = format!("{hours}h").parse().unwrap();
        prop_assert_eq!(lifetime.duration(), time::Duration::hours(i64::from(hours)));
        let again: Lifetime = lifetime.to_string().parse().unwrap();
        prop_assert_eq!(again, lifetime);
    }
}

#[test]
fn san_list_with_duplicates_keeps_the_order_of_first_occurrences() {
    let list = SanList::parse([
        "c.example.com",
        "192.0.2.1",
        "A.example.com",
        "c.example.com.",
        "[2001:db8::1]",
        "a.example.com",
        "192.0.2.1",
        "2001:DB8:0::1",
    ])
    .unwrap();
    let shown: Vec<String> = list.as_slice().iter().map(|s| s.to_string()).collect();
    assert_eq!(
        shown,
        ["c.example.com", "192.0.2.1", "a.example.com", "2001:db8::1"]
    );
    assert_eq!(
        list.to_string(),
        "c.example.com, 192.0.2.1, a.example.com, 2001:db8::1"
    );
}
