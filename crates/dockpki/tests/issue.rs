//! What issued certificates contain, read back with x509-parser directly rather than through
//! `dockpki::inspect`: extended and plain key usages, basic constraints, key identifiers,
//! serial numbers, validity windows, subjects and SANs, for leaves and for the CA.

mod common;

use std::collections::HashSet;
use std::net::IpAddr;

use common::{authority_key_id, client_req, now, server_req, subject_key_id, x509};
use dockpki::{
    certs_from_pem, inspect, key_matches_cert, CaOptions, CertificateAuthority, KeyType,
    PrivateKey, Usage, CA_ORGANIZATION, CLOCK_SKEW_ALLOWANCE,
};
use time::Duration;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, KeyUsage};

fn eku_flags(cert: &X509Certificate<'_>) -> (bool, bool, bool, usize) {
    let eku = cert
        .extended_key_usage()
        .unwrap()
        .expect("leaf has no extended key usage extension")
        .value;
    let others = [
        eku.code_signing,
        eku.email_protection,
        eku.time_stamping,
        eku.ocsp_signing,
    ]
    .iter()
    .filter(|b| **b)
    .count()
        + eku.other.len();
    (eku.server_auth, eku.client_auth, eku.any, others)
}

fn key_usage<'a>(cert: &'a X509Certificate<'_>) -> (&'a KeyUsage, bool) {
    let ku = cert.key_usage().unwrap().expect("no keyUsage extension");
    (ku.value, ku.critical)
}

/// The keyUsage bits that are set, by name.
fn key_usage_names(ku: &KeyUsage) -> Vec<&'static str> {
    [
        (ku.digital_signature(), "digitalSignature"),
        (ku.non_repudiation(), "nonRepudiation"),
        (ku.key_encipherment(), "keyEncipherment"),
        (ku.data_encipherment(), "dataEncipherment"),
        (ku.key_agreement(), "keyAgreement"),
        (ku.key_cert_sign(), "keyCertSign"),
        (ku.crl_sign(), "cRLSign"),
        (ku.encipher_only(), "encipherOnly"),
        (ku.decipher_only(), "decipherOnly"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect()
}

#[test]
fn server_cert_carries_only_server_auth_eku() {
    let ca = common::ca();
    let server = ca
        .issue_server(
            &server_req(&["docker.example.com"], "90d"),
            common::p256(),
            now(),
        )
        .unwrap();
    assert_eq!(eku_flags(&x509(&server.cert)), (true, false, false, 0));
    assert_eq!(server.usage, Usage::Server);
}

#[test]
fn client_cert_carries_only_client_auth_eku() {
    let ca = common::ca();
    let client = ca
        .issue_client(&client_req("alice", "90d"), common::p256(), now())
        .unwrap();
    assert_eq!(eku_flags(&x509(&client.cert)), (false, true, false, 0));
    assert_eq!(client.usage, Usage::Client);
}

#[test]
fn leaf_key_usage_is_digital_signature_plus_key_encipherment_for_rsa_servers_only() {
    let now = now();
    let ca = common::ca_at(now);
    let rsa_pem = PrivateKey::generate(KeyType::Rsa2048).unwrap().to_pem();
    let rsa = || PrivateKey::from_pem(rsa_pem.as_bytes()).unwrap();
    let req = server_req(&["docker.example.com"], "90d");
    let cases = [
        (
            "ecdsa server",
            ca.issue_server(&req, common::p256(), now).unwrap(),
            vec!["digitalSignature"],
        ),
        (
            "ed25519 server",
            ca.issue_server(&req, PrivateKey::generate(KeyType::Ed25519).unwrap(), now)
                .unwrap(),
            vec!["digitalSignature"],
        ),
        (
            "rsa server",
            ca.issue_server(&req, rsa(), now).unwrap(),
            vec!["digitalSignature", "keyEncipherment"],
        ),
        (
            "ecdsa client",
            ca.issue_client(&client_req("alice", "90d"), common::p256(), now)
                .unwrap(),
            vec!["digitalSignature"],
        ),
        (
            "rsa client",
            ca.issue_client(&client_req("alice", "90d"), rsa(), now)
                .unwrap(),
            vec!["digitalSignature"],
        ),
    ];
    for (what, issued, expected) in cases {
        let cert = x509(&issued.cert);
        let (ku, critical) = key_usage(&cert);
        assert_eq!(key_usage_names(ku), expected, "{what}");
        assert!(critical, "{what}: keyUsage should be critical");
    }
}

#[test]
fn leaves_carry_basic_constraints_saying_they_are_not_cas() {
    let now = now();
    let ca = common::ca_at(now);
    let server = ca
        .issue_server(
            &server_req(&["docker.example.com"], "90d"),
            common::p256(),
            now,
        )
        .unwrap();
    let client = ca
        .issue_client(&client_req("alice", "90d"), common::p256(), now)
        .unwrap();
    for (what, issued) in [("server", &server), ("client", &client)] {
        let cert = x509(&issued.cert);
        let bc = cert
            .basic_constraints()
            .unwrap()
            .unwrap_or_else(|| panic!("{what}: basicConstraints missing"));
        assert!(!bc.value.ca, "{what} is marked as a CA");
        assert_eq!(bc.value.path_len_constraint, None, "{what}");
        assert!(!issued.info.is_ca, "{what}");
    }
}

#[test]
fn leaf_authority_key_id_equals_ca_subject_key_id() {
    let now = now();
    let ca = common::ca_at(now);
    let ca_ski = subject_key_id(&x509(ca.cert_der())).expect("CA has no subjectKeyIdentifier");
    let server = ca
        .issue_server(
            &server_req(&["docker.example.com"], "90d"),
            common::p256(),
            now,
        )
        .unwrap();
    let client = ca
        .issue_client(&client_req("alice", "90d"), common::p256(), now)
        .unwrap();
    for (what, issued) in [("server", &server), ("client", &client)] {
        let aki = authority_key_id(&x509(&issued.cert));
        assert_eq!(aki.as_ref(), Some(&ca_ski), "{what}");
        assert_eq!(
            issued.info.authority_key_id,
            ca.info().subject_key_id,
            "{what}"
        );
    }
}

#[test]
fn leaf_issuer_is_byte_identical_to_ca_subject() {
    // Go and webpki build chains by comparing these names as raw bytes.
    let now = now();
    let ca = common::ca_at(now);
    let ca_cert = x509(ca.cert_der());
    let client = ca
        .issue_client(&client_req("alice", "90d"), common::p256(), now)
        .unwrap();
    assert_eq!(
        x509(&client.cert).issuer().as_raw(),
        ca_cert.subject().as_raw()
    );
}

#[test]
fn serials_are_16_byte_positive_and_unique_across_200_issues_with_one_key() {
    let now = now();
    let ca = common::ca_at(now);
    let key_pem = common::p256().to_pem();
    let mut seen = HashSet::new();
    for i in 0..200 {
        let key = PrivateKey::from_pem(key_pem.as_bytes()).unwrap();
        let issued = if i % 2 == 0 {
            ca.issue_client(&client_req("alice", "1d"), key, now)
                .unwrap()
        } else {
            ca.issue_server(&server_req(&["docker.example.com"], "1d"), key, now)
                .unwrap()
        };
        let cert = x509(&issued.cert);
        let serial = cert.raw_serial().to_vec();
        assert_eq!(serial.len(), 16, "serial {serial:02x?}");
        assert_eq!(serial[0] & 0x80, 0, "negative serial {serial:02x?}");
        assert_eq!(issued.info.serial.len(), 32);
        assert!(seen.insert(serial), "serial repeated after {i} issues");
    }
    let ca_serial = x509(ca.cert_der()).raw_serial().to_vec();
    assert_eq!(ca_serial.len(), 16);
    assert_eq!(ca_serial[0] & 0x80, 0);
    assert!(!seen.contains(&ca_serial));
}

#[test]
fn leaf_validity_is_backdated_by_clock_skew_and_ends_after_lifetime() {
    let now = now();
    let ca = common::ca_at(now);
    let server = ca
        .issue_server(
            &server_req(&["docker.example.com"], "90d"),
            common::p256(),
            now,
        )
        .unwrap();
    let client = ca
        .issue_client(&client_req("alice", "36h"), common::p256(), now)
        .unwrap();
    for (what, issued, lifetime) in [
        ("server", &server, Duration::days(90)),
        ("client", &client, Duration::hours(36)),
    ] {
        let cert = x509(&issued.cert);
        let validity = cert.validity();
        assert_eq!(
            validity.not_before.timestamp(),
            (now - CLOCK_SKEW_ALLOWANCE).unix_timestamp(),
            "{what} notBefore"
        );
        assert_eq!(
            validity.not_after.timestamp(),
            (now + lifetime).unix_timestamp(),
            "{what} notAfter"
        );
        assert_eq!(issued.info.not_before, now - CLOCK_SKEW_ALLOWANCE, "{what}");
        assert_eq!(issued.info.not_after, now + lifetime, "{what}");
    }
    assert_eq!(CLOCK_SKEW_ALLOWANCE, Duration::minutes(5));
}

#[test]
fn ca_is_a_path_len_zero_ca_with_cert_and_crl_signing_usage_and_a_key_id() {
    let now = now();
    let ca = common::ca_at(now);
    let cert = x509(ca.cert_der());
    let bc = cert
        .basic_constraints()
        .unwrap()
        .expect("CA without basicConstraints");
    assert!(bc.value.ca);
    assert!(bc.critical, "basicConstraints of a CA must be critical");
    assert_eq!(bc.value.path_len_constraint, Some(0));
    let (ku, critical) = key_usage(&cert);
    assert_eq!(key_usage_names(ku), ["keyCertSign", "cRLSign"]);
    assert!(critical);
    assert!(
        subject_key_id(&cert).is_some_and(|k| !k.is_empty()),
        "CA has no SKI"
    );
    // An EKU on the CA would restrict its leaves under Go's nested EKU rule.
    assert!(
        cert.extended_key_usage().unwrap().is_none(),
        "CA carries an EKU extension"
    );
    assert!(ca.info().is_ca);
    assert_eq!(ca.info().path_len, Some(0));
    assert_eq!(ca.info().not_before, now - CLOCK_SKEW_ALLOWANCE);
    assert_eq!(ca.info().not_after, now + Duration::days(3650));
    assert_eq!(
        cert.subject().as_raw(),
        cert.issuer().as_raw(),
        "CA is not self-issued"
    );
}

#[test]
fn ca_path_len_option_is_written_to_basic_constraints() {
    let now = now();
    let mut options = CaOptions::new(now).unwrap();
    options.path_len = 2;
    let ca = CertificateAuthority::create(&options, now).unwrap();
    let bc = x509(ca.cert_der())
        .basic_constraints()
        .unwrap()
        .unwrap()
        .value
        .clone();
    assert_eq!(bc.path_len_constraint, Some(2));
    assert_eq!(ca.info().path_len, Some(2));
}

#[test]
fn ca_subject_names_dockpki_organization_and_default_names_are_unique() {
    let now = now();
    let a = common::ca_at(now);
    let b = common::ca_at(now);
    let mut names = HashSet::new();
    for ca in [&a, &b] {
        let cert = x509(ca.cert_der());
        let orgs: Vec<&str> = cert
            .subject()
            .iter_organization()
            .map(|o| o.as_str().unwrap())
            .collect();
        assert_eq!(orgs, [CA_ORGANIZATION]);
        assert_eq!(CA_ORGANIZATION, "dockpki");
        let cn = cert
            .subject()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap()
            .to_string();
        let date = format!(
            "{:04}-{:02}-{:02}",
            now.year(),
            u8::from(now.month()),
            now.day()
        );
        let prefix = format!("dockpki CA {date} ");
        assert!(cn.starts_with(&prefix), "{cn}");
        let tag = &cn[prefix.len()..];
        assert_eq!(tag.len(), 8, "{cn}");
        assert!(tag.chars().all(|c| c.is_ascii_hexdigit()), "{cn}");
        assert!(
            ca.info().subject.contains("O=dockpki"),
            "{}",
            ca.info().subject
        );
        names.insert(cn);
    }
    assert_eq!(names.len(), 2, "two default CAs got the same name");
    let more: HashSet<String> = (0..50)
        .map(|_| CaOptions::unique_name(now).unwrap().to_string())
        .collect();
    assert_eq!(more.len(), 50);
}

#[test]
fn server_cert_sans_are_the_requested_names_in_order_without_repeats() {
    let ca = common::ca();
    let req = server_req(
        &[
            "Docker.Example.com",
            "192.0.2.10",
            "docker.example.com.",
            "2001:db8::1",
            "*.nodes.example.com",
            "192.0.2.10",
        ],
        "90d",
    );
    let server = ca.issue_server(&req, common::p256(), now()).unwrap();
    let cert = x509(&server.cert);
    let san = cert
        .subject_alternative_name()
        .unwrap()
        .expect("no SAN extension");
    let names: Vec<String> = san
        .value
        .general_names
        .iter()
        .map(|n| match n {
            GeneralName::DNSName(d) => format!("DNS:{d}"),
            GeneralName::IPAddress(b) if b.len() == 4 => {
                format!("IP:{}", IpAddr::from(<[u8; 4]>::try_from(*b).unwrap()))
            }
            GeneralName::IPAddress(b) => {
                format!("IP:{}", IpAddr::from(<[u8; 16]>::try_from(*b).unwrap()))
            }
            other => panic!("unexpected SAN {other:?}"),
        })
        .collect();
    assert_eq!(
        names,
        [
            "DNS:docker.example.com",
            "IP:192.0.2.10",
            "IP:2001:db8::1",
            "DNS:*.nodes.example.com"
        ]
    );
}

#[test]
fn server_common_name_defaults_to_primary_san_and_can_be_overridden() {
    let now = now();
    let ca = common::ca_at(now);
    let mut req = server_req(
        &["192.0.2.10", "*.example.com", "docker.example.com"],
        "90d",
    );
    let default_cn = ca.issue_server(&req, common::p256(), now).unwrap();
    assert_eq!(
        default_cn.info.common_name.as_deref(),
        Some("docker.example.com")
    );
    let ip_only = ca
        .issue_server(&server_req(&["192.0.2.10"], "90d"), common::p256(), now)
        .unwrap();
    assert_eq!(ip_only.info.common_name.as_deref(), Some("192.0.2.10"));
    req.common_name = Some("my daemon".parse().unwrap());
    let named = ca.issue_server(&req, common::p256(), now).unwrap();
    let cert = x509(&named.cert);
    let cns: Vec<&str> = cert
        .subject()
        .iter_common_name()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(cns, ["my daemon"]);
}

#[test]
fn client_cert_names_the_client_in_its_cn_and_has_no_sans() {
    let ca = common::ca();
    let client = ca
        .issue_client(&client_req("Jürgen's laptop", "90d"), common::p256(), now())
        .unwrap();
    let cert = x509(&client.cert);
    let cns: Vec<&str> = cert
        .subject()
        .iter_common_name()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(cns, ["Jürgen's laptop"]);
    assert!(cert.subject_alternative_name().unwrap().is_none());
    assert!(client.info.dns_names.is_empty() && client.info.ip_addresses.is_empty());
}

#[test]
fn issued_cert_comes_with_its_own_key_in_pem_and_der_that_agree() {
    let now = now();
    let ca = common::ca_at(now);
    let other = common::p256();
    let server = ca
        .issue_server(
            &server_req(&["docker.example.com"], "90d"),
            common::p256(),
            now,
        )
        .unwrap();
    assert!(key_matches_cert(&server.key, &server.cert));
    assert!(!key_matches_cert(&other, &server.cert));
    assert!(!key_matches_cert(&server.key, ca.cert_der()));
    let reread = PrivateKey::from_pem(server.key_pem().as_bytes()).unwrap();
    assert!(key_matches_cert(&reread, &server.cert));
    assert_eq!(
        certs_from_pem(server.cert_pem.as_bytes()).unwrap(),
        vec![server.cert.clone()]
    );
    assert_eq!(
        certs_from_pem(ca.cert_pem().as_bytes()).unwrap(),
        vec![ca.cert_der().clone()]
    );
    let info = inspect(&server.cert).unwrap();
    assert_eq!(info.serial, server.info.serial);
    assert_eq!(info.sha256_fingerprint, server.info.sha256_fingerprint);
    assert_eq!(info.issuer, ca.info().subject);
}

#[test]
fn cert_info_json_keeps_its_keys_and_the_fingerprint_text_while_the_typed_fingerprint_matches_it() {
    let now = now();
    let ca = common::ca_at(now);
    let server = ca
        .issue_server(
            &server_req(&["docker.example.com"], "90d"),
            common::p256(),
            now,
        )
        .unwrap();
    let json = serde_json::to_value(&server.info).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    // The `--json` outputs and the inventory are made of these; the typed fingerprint adds none.
    assert_eq!(
        keys,
        [
            "subject",
            "common_name",
            "issuer",
            "serial",
            "not_before",
            "not_after",
            "dns_names",
            "ip_addresses",
            "has_extended_key_usage",
            "extended_key_usages",
            "key_usages",
            "is_ca",
            "path_len",
            "name_constraints",
            "key_type",
            "public_key",
            "signature_algorithm",
            "sha256",
            "subject_key_id",
            "authority_key_id",
        ]
    );
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, server.cert.as_ref());
    let openssl_style = digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    assert_eq!(json["sha256"], openssl_style.as_str());
    assert_eq!(server.info.sha256_fingerprint, openssl_style);
    assert_eq!(server.info.fingerprint().to_string(), openssl_style);
    assert_eq!(
        server.info.fingerprint().as_bytes().as_slice(),
        digest.as_ref()
    );
    assert_ne!(server.info.fingerprint(), ca.info().fingerprint());
}
