//! `verify_leaf`: chain, usage and host checks, and the Go-specific rules (SANs required on
//! server certificates, a CA's own EKU restricting its leaves). Certificates that dockpki itself
//! refuses to issue are made with rcgen directly from the CA's key.

mod common;

use common::{client_req, now, san, server_req};
use dockpki::{
    verify_leaf, CaOptions, CertificateAuthority, CertificateDer, SubjectAltName, Usage,
    VerifyError,
};
use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose};
use time::{Duration, OffsetDateTime};

fn verify(
    leaf: &CertificateDer<'_>,
    bundle: &[CertificateDer<'static>],
    usage: Usage,
    host: Option<&str>,
) -> Result<(), VerifyError> {
    let host: Option<SubjectAltName> = host.map(san);
    verify_leaf(leaf, bundle, usage, host.as_ref(), now())
}

/// Signs `params` for a fresh P-256 key with `ca`'s key, bypassing dockpki's issuing rules.
fn sign_raw(ca: &CertificateAuthority, mut params: CertificateParams) -> CertificateDer<'static> {
    let ca_key = rcgen::KeyPair::from_pem(&ca.key_pem()).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_der(ca.cert_der(), &ca_key).unwrap();
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::minutes(5);
    params.not_after = now + Duration::days(1);
    params.use_authority_key_identifier_extension = true;
    let key = rcgen::KeyPair::generate().unwrap();
    params.signed_by(&key, &issuer).unwrap().der().clone()
}

#[test]
fn leaf_from_another_ca_is_unknown_issuer() {
    let ours = common::ca();
    let theirs = common::ca();
    let leaf = theirs
        .issue_server(
            &server_req(&["docker.example.com"], "90d"),
            common::p256(),
            now(),
        )
        .unwrap();
    let err = verify(&leaf.cert, &[ours.cert_der().clone()], Usage::Server, None).unwrap_err();
    assert_eq!(
        err,
        VerifyError::UnknownIssuer {
            issuer: theirs.info().subject.clone()
        }
    );
    assert!(err.to_string().contains("not in the CA bundle"), "{err}");
}

#[test]
fn leaf_from_an_impostor_ca_with_the_same_name_is_refused() {
    let now = now();
    let options = CaOptions::new(now).unwrap();
    let real = CertificateAuthority::create(&options, now).unwrap();
    let impostor = CertificateAuthority::create(&options, now).unwrap();
    assert_eq!(real.info().subject, impostor.info().subject);
    let leaf = impostor
        .issue_client(&client_req("mallory", "90d"), common::p256(), now)
        .unwrap();
    let err = verify(&leaf.cert, &[real.cert_der().clone()], Usage::Client, None).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::BadSignature | VerifyError::UnknownIssuer { .. }
        ),
        "{err:?}"
    );
}

#[test]
fn client_cert_verified_as_server_is_wrong_usage() {
    let ca = common::ca();
    let client = ca
        .issue_client(&client_req("alice", "90d"), common::p256(), now())
        .unwrap();
    let err = verify(&client.cert, &[ca.cert_der().clone()], Usage::Server, None).unwrap_err();
    assert_eq!(
        err,
        VerifyError::WrongUsage {
            usage: Usage::Server
        }
    );
    assert!(err.to_string().contains("serverAuth"), "{err}");
}

#[test]
fn server_cert_verified_as_client_is_wrong_usage() {
    let ca = common::ca();
    let server = ca
        .issue_server(
            &server_req(&["docker.example.com"], "90d"),
            common::p256(),
            now(),
        )
        .unwrap();
    let err = verify(&server.cert, &[ca.cert_der().clone()], Usage::Client, None).unwrap_err();
    assert_eq!(
        err,
        VerifyError::WrongUsage {
            usage: Usage::Client
        }
    );
    assert!(err.to_string().contains("clientAuth"), "{err}");
}

#[test]
fn host_not_in_sans_is_name_mismatch_listing_the_sans() {
    let ca = common::ca();
    let server = ca
        .issue_server(
            &server_req(&["docker.example.com", "192.0.2.10"], "90d"),
            common::p256(),
            now(),
        )
        .unwrap();
    let bundle = [ca.cert_der().clone()];
    for host in [
        "other.example.com",
        "example.com",
        "192.0.2.11",
        "2001:db8::10",
        "docker.example.org",
    ] {
        let err = verify(&server.cert, &bundle, Usage::Server, Some(host)).unwrap_err();
        assert_eq!(
            err,
            VerifyError::NameMismatch {
                host: host.to_string(),
                sans: vec!["docker.example.com".into(), "192.0.2.10".into()],
            },
            "{host}"
        );
        assert!(err.to_string().contains(&format!("--san {host}")), "{err}");
    }
}

#[test]
fn ipv4_ipv6_and_dns_hosts_in_the_sans_pass() {
    let ca = common::ca();
    let server = ca
        .issue_server(
            &server_req(
                &[
                    "docker.example.com",
                    "localhost",
                    "192.0.2.10",
                    "2001:db8::10",
                    "::1",
                ],
                "90d",
            ),
            common::p256(),
            now(),
        )
        .unwrap();
    let bundle = [ca.cert_der().clone()];
    for host in [
        "docker.example.com",
        "DOCKER.Example.Com.",
        "localhost",
        "192.0.2.10",
        "2001:db8::10",
        "2001:0db8:0000:0000:0000:0000:0000:0010",
        "[2001:db8::10]",
        "::1",
    ] {
        verify(&server.cert, &bundle, Usage::Server, Some(host))
            .unwrap_or_else(|e| panic!("{host}: {e}"));
    }
}

#[test]
fn wildcard_san_covers_exactly_one_label() {
    let ca = common::ca();
    let server = ca
        .issue_server(
            &server_req(&["*.example.com"], "90d"),
            common::p256(),
            now(),
        )
        .unwrap();
    let bundle = [ca.cert_der().clone()];
    for host in ["a.example.com", "docker-1.example.com"] {
        verify(&server.cert, &bundle, Usage::Server, Some(host))
            .unwrap_or_else(|e| panic!("{host}: {e}"));
    }
    for host in [
        "example.com",
        "a.b.example.com",
        "a.example.org",
        "aexample.com",
    ] {
        let err = verify(&server.cert, &bundle, Usage::Server, Some(host)).unwrap_err();
        assert!(
            matches!(err, VerifyError::NameMismatch { .. }),
            "{host}: {err:?}"
        );
    }
}

#[test]
fn bundle_holding_two_cas_verifies_leaves_of_both() {
    let now = now();
    let old = common::ca_at(now);
    let new = common::ca_at(now);
    let old_server = old
        .issue_server(
            &server_req(&["docker.example.com"], "90d"),
            common::p256(),
            now,
        )
        .unwrap();
    let new_client = new
        .issue_client(&client_req("alice", "90d"), common::p256(), now)
        .unwrap();
    for bundle in [
        [old.cert_der().clone(), new.cert_der().clone()],
        [new.cert_der().clone(), old.cert_der().clone()],
    ] {
        verify(
            &old_server.cert,
            &bundle,
            Usage::Server,
            Some("docker.example.com"),
        )
        .unwrap();
        verify(&new_client.cert, &bundle, Usage::Client, None).unwrap();
    }
    // ...and each CA alone only its own.
    let err = verify(
        &new_client.cert,
        &[old.cert_der().clone()],
        Usage::Client,
        None,
    )
    .unwrap_err();
    assert!(matches!(err, VerifyError::UnknownIssuer { .. }), "{err:?}");
}

#[test]
fn empty_or_unparsable_bundle_is_reported_as_empty() {
    let ca = common::ca();
    let client = ca
        .issue_client(&client_req("alice", "90d"), common::p256(), now())
        .unwrap();
    assert_eq!(
        verify(&client.cert, &[], Usage::Client, None),
        Err(VerifyError::EmptyBundle)
    );
    let junk = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
    assert_eq!(
        verify(&client.cert, &[junk], Usage::Client, None),
        Err(VerifyError::EmptyBundle)
    );
}

#[test]
fn unparsable_leaf_is_malformed() {
    let ca = common::ca();
    let bundle = [ca.cert_der().clone()];
    for bytes in [
        vec![],
        vec![0x30, 0x03, 0x02, 0x01, 0x00],
        b"not a certificate".to_vec(),
    ] {
        let err = verify(
            &CertificateDer::from(bytes.clone()),
            &bundle,
            Usage::Client,
            None,
        )
        .unwrap_err();
        assert!(
            matches!(err, VerifyError::Malformed(_)),
            "{bytes:?}: {err:?}"
        );
    }
}

#[test]
fn tampered_signature_is_bad_signature() {
    let ca = common::ca();
    let client = ca
        .issue_client(&client_req("alice", "90d"), common::p256(), now())
        .unwrap();
    let mut bytes = client.cert.to_vec();
    // The last byte belongs to the signature value (the s integer of the ECDSA signature).
    *bytes.last_mut().unwrap() ^= 0x01;
    let err = verify(
        &CertificateDer::from(bytes),
        &[ca.cert_der().clone()],
        Usage::Client,
        None,
    )
    .unwrap_err();
    assert_eq!(err, VerifyError::BadSignature);
}

#[test]
fn tampered_body_is_bad_signature() {
    let ca = common::ca();
    let client = ca
        .issue_client(&client_req("alice", "90d"), common::p256(), now())
        .unwrap();
    let mut bytes = client.cert.to_vec();
    let at = bytes
        .windows(5)
        .position(|w| w == b"alice")
        .expect("CN not found in DER");
    bytes[at] = b'A';
    let err = verify(
        &CertificateDer::from(bytes),
        &[ca.cert_der().clone()],
        Usage::Client,
        None,
    )
    .unwrap_err();
    assert_eq!(err, VerifyError::BadSignature);
}

#[test]
fn ca_certificate_presented_as_leaf_is_refused() {
    let ca = common::ca();
    let bundle = [ca.cert_der().clone()];
    for usage in [Usage::Server, Usage::Client] {
        let err = verify(ca.cert_der(), &bundle, usage, None).unwrap_err();
        assert_eq!(err, VerifyError::CaUsedAsLeaf, "{usage}");
    }
}

#[test]
fn server_cert_without_sans_is_refused_even_without_a_host() {
    let ca = common::ca();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "docker.example.com");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.is_ca = IsCa::ExplicitNoCa;
    let leaf = sign_raw(&ca, params);
    let err = verify(&leaf, &[ca.cert_der().clone()], Usage::Server, None).unwrap_err();
    assert_eq!(err, VerifyError::NoSans);
    assert!(err.to_string().contains("common name"), "{err}");
}

#[test]
fn leaf_without_eku_is_refused_for_both_usages() {
    let ca = common::ca();
    let mut params = CertificateParams::new(vec!["docker.example.com".to_string()]).unwrap();
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let leaf = sign_raw(&ca, params);
    let bundle = [ca.cert_der().clone()];
    // Go and webpki would accept it for anything; dockpki insists on a stated purpose.
    for usage in [Usage::Server, Usage::Client] {
        let err = verify(&leaf, &bundle, usage, None).unwrap_err();
        assert_eq!(err, VerifyError::WrongUsage { usage });
    }
}

/// A CA made with rcgen whose own certificate carries the given EKU purposes.
fn ca_with_eku(ekus: Vec<ExtendedKeyUsagePurpose>) -> CertificateAuthority {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "EKU-restricted CA");
    params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.extended_key_usages = ekus;
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(30);
    let cert = params.self_signed(&key).unwrap();
    CertificateAuthority::load(cert.pem().as_bytes(), key.serialize_pem().as_bytes()).unwrap()
}

#[test]
fn ca_whose_own_eku_lacks_the_leaf_purpose_is_refused_like_go_does() {
    let ca = ca_with_eku(vec![ExtendedKeyUsagePurpose::ClientAuth]);
    let bundle = [ca.cert_der().clone()];
    let mut server_params = CertificateParams::new(vec!["docker.example.com".to_string()]).unwrap();
    server_params.is_ca = IsCa::ExplicitNoCa;
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server = sign_raw(&ca, server_params);
    let err = verify(&server, &bundle, Usage::Server, None).unwrap_err();
    assert_eq!(
        err,
        VerifyError::CaForbidsUsage {
            usage: Usage::Server
        }
    );

    // The same CA may still issue what its EKU allows.
    let client = ca
        .issue_client(&client_req("alice", "1d"), common::p256(), now())
        .unwrap();
    verify(&client.cert, &bundle, Usage::Client, None).unwrap();
    // dockpki's own issuing refuses what it could not verify.
    let err = ca
        .issue_server(
            &server_req(&["docker.example.com"], "1d"),
            common::p256(),
            now(),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            dockpki::Error::Verify(VerifyError::CaForbidsUsage {
                usage: Usage::Server
            })
        ),
        "{err:?}"
    );
}

#[test]
fn ca_with_any_eku_allows_both_purposes() {
    let ca = ca_with_eku(vec![ExtendedKeyUsagePurpose::Any]);
    let bundle = [ca.cert_der().clone()];
    let server = ca
        .issue_server(
            &server_req(&["docker.example.com"], "1d"),
            common::p256(),
            now(),
        )
        .unwrap();
    verify(
        &server.cert,
        &bundle,
        Usage::Server,
        Some("docker.example.com"),
    )
    .unwrap();
    let client = ca
        .issue_client(&client_req("alice", "1d"), common::p256(), now())
        .unwrap();
    verify(&client.cert, &bundle, Usage::Client, None).unwrap();
}

#[test]
fn a_certificate_over_64_kib_is_refused_by_its_size_in_a_sentence() {
    let ca = common::ca();
    let names: Vec<String> = (0..4000).map(|i| format!("host{i}.example.com")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let err = ca
        .issue_server(&server_req(&names, "30d"), common::p256(), now())
        .unwrap_err();
    let bytes = match &err {
        dockpki::Error::Verify(VerifyError::TooLarge { bytes }) => *bytes,
        other => panic!("not TooLarge: {other:?}"),
    };
    assert!(bytes > 0xffff, "{bytes}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "certificate could not be parsed: it is {bytes} bytes"
        )) && text.contains("fewer SANs")
            && !text.contains("TrailingData"),
        "{text}"
    );
}

#[test]
fn a_leaf_webpki_cannot_parse_is_described_in_words_not_debug_names() {
    let ca = common::ca();
    let mut params = CertificateParams::new(vec!["a.example.com".to_string()]).unwrap();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let mut unknown =
        rcgen::CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 99999, 1], vec![0x05, 0x00]);
    unknown.set_criticality(true);
    params.custom_extensions = vec![unknown];
    let leaf = sign_raw(&ca, params);
    let err = verify(&leaf, &[ca.cert_der().clone()], Usage::Server, None).unwrap_err();
    assert!(matches!(err, VerifyError::Malformed(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "certificate could not be parsed: it has a critical extension the verifier does not know, so it must be refused"
    );
}

#[test]
fn garbage_is_described_without_the_parsers_names() {
    let bundle = [common::ca().cert_der().clone()];
    for bytes in [vec![], vec![0x30, 0x03, 0x02, 0x01, 0x00], b"junk".to_vec()] {
        let text = verify(&CertificateDer::from(bytes), &bundle, Usage::Client, None)
            .unwrap_err()
            .to_string();
        assert_eq!(text, "certificate could not be parsed: not valid X.509");
    }
}
