//! Name-constrained CAs: the constraint is written into the CA certificate, dockpki refuses to
//! issue outside it (also after loading the CA back), and both dockpki's verifier and openssl
//! refuse a leaf signed outside it by other means.

mod common;

use common::{client_req, now, openssl, openssl_ok, san, server_req};
use dockpki::{verify_leaf, CertificateAuthority, Error, NameConstraints, Usage, VerifyError};
use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, IsCa};
use time::Duration;
use x509_parser::extensions::GeneralName;

fn dns_only(suffix: &str) -> NameConstraints {
    NameConstraints {
        permitted_dns: vec![suffix.parse().unwrap()],
        permitted_ips: vec![],
    }
}

#[test]
fn ca_with_permitted_dns_suffix_refuses_names_outside_it() {
    let now = now();
    let ca = common::constrained_ca(dns_only("example.com"), now);
    for name in [
        "other.org",
        "badexample.com",
        "example.com.evil.org",
        "*.other.org",
    ] {
        let err = ca
            .issue_server(
                &server_req(&["a.example.com", name], "90d"),
                common::p256(),
                now,
            )
            .unwrap_err();
        match &err {
            Error::NameConstraintViolation { san } => assert_eq!(san, name),
            other => panic!("{name}: expected NameConstraintViolation, got {other:?}"),
        }
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn ca_with_permitted_dns_suffix_issues_names_inside_it_that_verify() {
    let now = now();
    let ca = common::constrained_ca(dns_only(".example.com"), now);
    let bundle = [ca.cert_der().clone()];
    let server = ca
        .issue_server(
            &server_req(
                &[
                    "a.example.com",
                    "example.com",
                    "x.y.example.com",
                    "*.nodes.example.com",
                    "192.0.2.1",
                ],
                "90d",
            ),
            common::p256(),
            now,
        )
        .unwrap();
    for host in [
        "a.example.com",
        "example.com",
        "x.y.example.com",
        "n1.nodes.example.com",
        "192.0.2.1",
    ] {
        verify_leaf(&server.cert, &bundle, Usage::Server, Some(&san(host)), now)
            .unwrap_or_else(|e| panic!("{host}: {e}"));
    }
    // Client certificates carry no SANs and are not affected by DNS constraints.
    let client = ca
        .issue_client(&client_req("alice", "90d"), common::p256(), now)
        .unwrap();
    verify_leaf(&client.cert, &bundle, Usage::Client, None, now).unwrap();
}

#[test]
fn ca_with_permitted_ip_range_refuses_addresses_outside_it() {
    let now = now();
    let nc = NameConstraints {
        permitted_dns: vec![],
        permitted_ips: vec![
            "192.0.2.0/24".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ],
    };
    let ca = common::constrained_ca(nc, now);
    for addr in ["198.51.100.1", "2001:db9::1", "::ffff:192.0.2.1"] {
        let err = ca
            .issue_server(&server_req(&[addr], "90d"), common::p256(), now)
            .unwrap_err();
        assert!(
            matches!(err, Error::NameConstraintViolation { .. }),
            "{addr}: {err:?}"
        );
    }
    let server = ca
        .issue_server(
            &server_req(&["192.0.2.7", "2001:db8::7", "docker.example.com"], "90d"),
            common::p256(),
            now,
        )
        .unwrap();
    let bundle = [ca.cert_der().clone()];
    for host in ["192.0.2.7", "2001:db8::7", "docker.example.com"] {
        verify_leaf(&server.cert, &bundle, Usage::Server, Some(&san(host)), now)
            .unwrap_or_else(|e| panic!("{host}: {e}"));
    }
}

#[test]
fn name_constraints_are_written_into_the_ca_certificate() {
    let nc = NameConstraints {
        permitted_dns: vec!["example.com".parse().unwrap()],
        permitted_ips: vec!["10.0.0.0/8".parse().unwrap()],
    };
    let ca = common::constrained_ca(nc.clone(), now());
    let cert = common::x509(ca.cert_der());
    let ext = cert
        .name_constraints()
        .unwrap()
        .expect("no nameConstraints extension");
    assert!(ext.critical, "nameConstraints should be critical");
    let permitted: Vec<String> = ext
        .value
        .permitted_subtrees
        .iter()
        .flatten()
        .map(|s| match &s.base {
            GeneralName::DNSName(d) => format!("DNS:{d}"),
            GeneralName::IPAddress(b) => format!("IP:{b:?}"),
            other => panic!("unexpected subtree {other:?}"),
        })
        .collect();
    assert_eq!(
        permitted,
        ["DNS:example.com", "IP:[10, 0, 0, 0, 255, 0, 0, 0]"]
    );
    assert!(ext.value.excluded_subtrees.is_none());
    assert_eq!(ca.info().name_constraints.as_ref(), Some(&nc));
}

#[test]
fn loaded_ca_keeps_its_name_constraints() {
    let now = now();
    let nc = NameConstraints {
        permitted_dns: vec!["example.com".parse().unwrap()],
        permitted_ips: vec!["192.0.2.0/24".parse().unwrap()],
    };
    let ca = common::constrained_ca(nc.clone(), now);
    let loaded =
        CertificateAuthority::load(ca.cert_pem().as_bytes(), ca.key_pem().as_bytes()).unwrap();
    assert_eq!(loaded.name_constraints(), &nc);
    let err = loaded
        .issue_server(&server_req(&["other.org"], "90d"), common::p256(), now)
        .unwrap_err();
    assert!(
        matches!(err, Error::NameConstraintViolation { .. }),
        "{err:?}"
    );
    let err = loaded
        .issue_server(&server_req(&["198.51.100.1"], "90d"), common::p256(), now)
        .unwrap_err();
    assert!(
        matches!(err, Error::NameConstraintViolation { .. }),
        "{err:?}"
    );
    loaded
        .issue_server(
            &server_req(&["a.example.com", "192.0.2.9"], "90d"),
            common::p256(),
            now,
        )
        .unwrap();
}

/// A server certificate for `name`, signed with the CA's key by rcgen, ignoring its constraints.
fn rogue_leaf(ca: &CertificateAuthority, name: &str) -> rcgen::Certificate {
    let ca_key = rcgen::KeyPair::from_pem(&ca.key_pem()).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_der(ca.cert_der(), &ca_key).unwrap();
    let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - Duration::minutes(5);
    params.not_after = now + Duration::days(1);
    params.is_ca = IsCa::ExplicitNoCa;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params
        .signed_by(&rcgen::KeyPair::generate().unwrap(), &issuer)
        .unwrap()
}

#[test]
fn leaf_outside_the_constraints_signed_by_other_means_fails_verification() {
    let now = now();
    let ca = common::constrained_ca(dns_only("example.com"), now);
    let rogue = rogue_leaf(&ca, "bank.other.org");
    let err = verify_leaf(
        rogue.der(),
        &[ca.cert_der().clone()],
        Usage::Server,
        None,
        now,
    )
    .unwrap_err();
    assert_eq!(err, VerifyError::NameConstraintViolation);

    // openssl agrees, and accepts a leaf inside the constraints.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("ca.pem"), ca.cert_pem()).unwrap();
    std::fs::write(d.join("rogue.pem"), rogue.pem()).unwrap();
    std::fs::write(
        d.join("fine.pem"),
        rogue_leaf(&ca, "docker.example.com").pem(),
    )
    .unwrap();
    let out = openssl(
        d,
        &[
            "verify",
            "-CAfile",
            "ca.pem",
            "-purpose",
            "sslserver",
            "rogue.pem",
        ],
    );
    assert!(
        !out.status.success(),
        "openssl accepted a leaf outside the CA's name constraints"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("permitted subtree violation"), "{stderr}");
    openssl_ok(
        d,
        &[
            "verify",
            "-CAfile",
            "ca.pem",
            "-purpose",
            "sslserver",
            "fine.pem",
        ],
    );
}
