//! Re-issuing and loading issued material: `CertificateAuthority::reissue` with each
//! `KeyPolicy`, `LeafRequest::renewing`, signing a key the caller keeps, and
//! `IssuedCert::from_pem`.

mod common;

use common::{client_req, now, server_req, x509};
use dockpki::{
    key_matches_cert, verify_leaf, CertificateAuthority, ClientRequest, Error, IssuedCert,
    KeyPolicy, KeyType, LeafRequest, Lifetime, NameConstraints, SanList, ServerRequest, Usage,
    VerifyError,
};
use time::Duration;

/// The SubjectPublicKeyInfo DER as the certificate carries it, read with x509-parser.
fn cert_spki(der: &[u8]) -> Vec<u8> {
    x509(der).public_key().raw.to_vec()
}

fn server(ca: &CertificateAuthority) -> IssuedCert {
    ca.issue_server(
        &ServerRequest {
            sans: SanList::parse(["docker.example.com", "192.0.2.10", "::1"]).unwrap(),
            common_name: Some("daemon one".parse().unwrap()),
            lifetime: "30d".parse().unwrap(),
        },
        common::p256(),
        now(),
    )
    .unwrap()
}

#[test]
fn reissue_with_reuse_keeps_the_subject_public_key_and_with_new_changes_it() {
    let ca = common::ca();
    let old = server(&ca);
    let lifetime: Lifetime = "90d".parse().unwrap();

    let reused = ca.reissue(&old, KeyPolicy::Reuse, lifetime, now()).unwrap();
    assert_eq!(cert_spki(&reused.cert), cert_spki(&old.cert));
    assert_eq!(reused.key.public_key_spki(), old.key.public_key_spki());
    assert!(key_matches_cert(&reused.key, &reused.cert));
    // The same key, held twice: the old certificate keeps working with its own copy.
    assert_eq!(*reused.key_pem(), *old.key_pem());
    assert!(key_matches_cert(&old.key, &old.cert));

    let fresh = ca
        .reissue(&old, KeyPolicy::New(KeyType::EcdsaP384), lifetime, now())
        .unwrap();
    assert_ne!(cert_spki(&fresh.cert), cert_spki(&old.cert));
    assert_eq!(fresh.key.key_type(), KeyType::EcdsaP384);
    assert_eq!(fresh.info.key_type, Some(KeyType::EcdsaP384));
    assert!(key_matches_cert(&fresh.key, &fresh.cert));
}

#[test]
fn reissue_keeps_kind_names_and_common_name_with_a_new_serial_and_the_lifetime_asked_for() {
    let ca = common::ca();
    let old = server(&ca);
    let later = now() + Duration::days(20);
    let new = ca
        .reissue(&old, KeyPolicy::Reuse, "90d".parse().unwrap(), later)
        .unwrap();
    assert_eq!(new.usage, Usage::Server);
    assert_eq!(new.info.common_name.as_deref(), Some("daemon one"));
    assert_eq!(new.info.dns_names, old.info.dns_names);
    assert_eq!(new.info.ip_addresses, old.info.ip_addresses);
    assert_eq!(new.info.extended_key_usages, old.info.extended_key_usages);
    assert_ne!(new.info.serial, old.info.serial);
    assert_eq!(new.info.not_after, later + Duration::days(90));
    for host in ["docker.example.com", "192.0.2.10", "::1"] {
        verify_leaf(
            &new.cert,
            &[ca.cert_der().clone()],
            Usage::Server,
            Some(&host.parse().unwrap()),
            later,
        )
        .unwrap();
    }

    let client = ca
        .issue_client(&client_req("alice", "30d"), common::p256(), now())
        .unwrap();
    let renewed = ca
        .reissue(
            &client,
            KeyPolicy::New(KeyType::Ed25519),
            "7d".parse().unwrap(),
            now(),
        )
        .unwrap();
    assert_eq!(renewed.usage, Usage::Client);
    assert_eq!(renewed.info.common_name.as_deref(), Some("alice"));
    assert_eq!(renewed.info.subject, client.info.subject);
}

#[test]
fn reissue_from_the_next_ca_makes_a_certificate_only_the_next_ca_verifies() {
    // The re-issue step of a CA rotation.
    let (old_ca, new_ca) = (common::ca(), common::ca());
    let old = server(&old_ca);
    let moved = new_ca
        .reissue(&old, KeyPolicy::Reuse, "30d".parse().unwrap(), now())
        .unwrap();
    verify_leaf(
        &moved.cert,
        &[new_ca.cert_der().clone()],
        Usage::Server,
        None,
        now(),
    )
    .unwrap();
    let err = verify_leaf(
        &moved.cert,
        &[old_ca.cert_der().clone()],
        Usage::Server,
        None,
        now(),
    )
    .unwrap_err();
    assert!(matches!(err, VerifyError::UnknownIssuer { .. }), "{err:?}");
}

#[test]
fn reissue_refuses_names_outside_the_signing_cas_constraints() {
    let old = server(&common::ca());
    let constrained = common::constrained_ca(
        NameConstraints {
            permitted_dns: vec!["example.org".parse().unwrap()],
            permitted_ips: vec![],
        },
        now(),
    );
    let err = constrained
        .reissue(&old, KeyPolicy::Reuse, "30d".parse().unwrap(), now())
        .unwrap_err();
    assert!(
        matches!(&err, Error::NameConstraintViolation { san } if san == "docker.example.com"),
        "{err:?}"
    );
}

#[test]
fn renewing_request_repeats_the_kind_names_and_lifetime_of_the_certificate() {
    let ca = common::ca();
    let old = server(&ca);
    let LeafRequest::Server(req) = LeafRequest::renewing(&old.info).unwrap() else {
        panic!("a server certificate renews as a server request");
    };
    assert_eq!(req.lifetime, "30d".parse().unwrap());
    assert_eq!(req.common_name, Some("daemon one".parse().unwrap()));
    assert_eq!(req.sans.to_string(), "docker.example.com, 192.0.2.10, ::1");

    let client = ca
        .issue_client(&client_req("bob", "36h"), common::p256(), now())
        .unwrap();
    let again = LeafRequest::renewing(&client.info).unwrap();
    assert_eq!(again.usage(), Usage::Client);
    assert_eq!(again.lifetime(), "36h".parse().unwrap());
    assert_eq!(
        again.with_lifetime("2d".parse().unwrap()).lifetime(),
        "2d".parse().unwrap()
    );
}

#[test]
fn renewing_refuses_a_ca_and_a_certificate_of_both_purposes() {
    let ca = common::ca();
    let err = LeafRequest::renewing(ca.info()).unwrap_err();
    assert!(matches!(err, Error::UnusableLeaf { .. }), "{err:?}");
    assert!(err.to_string().contains("CA certificate"), "{err}");

    let both = foreign_leaf(&[
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ]);
    let info = dockpki::inspect(&both.cert).unwrap();
    let err = LeafRequest::renewing(&info).unwrap_err();
    assert!(
        err.to_string().contains("both serverAuth and clientAuth"),
        "{err}"
    );

    let neither = foreign_leaf(&[]);
    let info = dockpki::inspect(&neither.cert).unwrap();
    let err = LeafRequest::renewing(&info).unwrap_err();
    assert!(err.to_string().contains("neither"), "{err}");
}

/// A self-signed leaf made with rcgen directly, with purposes dockpki never combines.
struct Foreign {
    cert: dockpki::CertificateDer<'static>,
    key_pem: String,
}

fn foreign_leaf(ekus: &[rcgen::ExtendedKeyUsagePurpose]) -> Foreign {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["x.example.com".to_string()]).unwrap();
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.extended_key_usages = ekus.to_vec();
    let cert = params.self_signed(&key).unwrap();
    Foreign {
        cert: cert.der().clone(),
        key_pem: key.serialize_pem(),
    }
}

#[test]
fn signing_borrows_the_key_and_with_key_pairs_only_the_certified_key() {
    let ca = common::ca();
    let key = common::p256();
    let signed = ca
        .sign(
            &ClientRequest {
                common_name: "carol".parse().unwrap(),
                lifetime: "1d".parse().unwrap(),
            }
            .into(),
            &key,
            now(),
        )
        .unwrap();
    // The key is still the caller's, and the certificate certifies it.
    assert!(key_matches_cert(&key, &signed.cert));
    assert_eq!(signed.usage, Usage::Client);
    let err = signed.clone().with_key(common::p256()).unwrap_err();
    assert!(matches!(err, Error::KeyMismatch { .. }), "{err:?}");
    let issued = signed.with_key(key).unwrap();
    assert_eq!(issued.info.common_name.as_deref(), Some("carol"));
}

#[test]
fn from_pem_loads_what_issue_wrote_and_refuses_a_key_that_is_not_the_certificates() {
    let ca = common::ca();
    let issued = ca
        .issue_server(
            &server_req(&["docker.example.com"], "90d"),
            common::p256(),
            now(),
        )
        .unwrap();
    let loaded =
        IssuedCert::from_pem(issued.cert_pem.as_bytes(), issued.key_pem().as_bytes()).unwrap();
    assert_eq!(loaded.cert, issued.cert);
    assert_eq!(loaded.cert_pem, issued.cert_pem);
    assert_eq!(loaded.usage, Usage::Server);
    assert_eq!(loaded.info.fingerprint(), issued.info.fingerprint());
    assert_eq!(*loaded.key_pem(), *issued.key_pem());

    let other = common::p256();
    let err =
        IssuedCert::from_pem(issued.cert_pem.as_bytes(), other.to_pem().as_bytes()).unwrap_err();
    assert!(matches!(err, Error::KeyMismatch { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("does not belong to the server certificate"),
        "{err}"
    );
}

#[test]
fn from_pem_takes_the_first_certificate_of_a_chain_in_any_line_ending() {
    let ca = common::ca();
    let issued = ca
        .issue_client(&client_req("alice", "90d"), common::p256(), now())
        .unwrap();
    let chain = format!("{}{}", issued.cert_pem, ca.cert_pem()).replace('\n', "\r\n");
    let loaded = IssuedCert::from_pem(chain.as_bytes(), issued.key_pem().as_bytes()).unwrap();
    assert_eq!(loaded.cert, issued.cert);
    assert_eq!(loaded.cert_pem, issued.cert_pem);
    assert_eq!(loaded.usage, Usage::Client);
}

#[test]
fn from_pem_refuses_a_ca_an_undecided_purpose_an_encrypted_key_and_junk() {
    let ca = common::ca();
    let err = IssuedCert::from_pem(ca.cert_pem().as_bytes(), ca.key_pem().as_bytes()).unwrap_err();
    assert!(matches!(err, Error::UnusableLeaf { .. }), "{err:?}");

    let both = foreign_leaf(&[
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ]);
    let err = IssuedCert::from_pem(
        dockpki::cert_to_pem(&both.cert).as_bytes(),
        both.key_pem.as_bytes(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::UnusableLeaf { .. }), "{err:?}");

    let issued = ca
        .issue_client(&client_req("alice", "90d"), common::p256(), now())
        .unwrap();
    let encrypted = issued.key.to_encrypted_pem(b"secret").unwrap();
    let err = IssuedCert::from_pem(issued.cert_pem.as_bytes(), encrypted.as_bytes()).unwrap_err();
    assert!(matches!(err, Error::EncryptedKey), "{err:?}");

    let err =
        IssuedCert::from_pem(issued.key_pem().as_bytes(), issued.key_pem().as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Pem {
                expected: "certificate",
                ..
            }
        ),
        "{err:?}"
    );
}
