//! `CertificateAuthority::load`: a CA is loaded back from its own PEM files and keeps signing
//! leaves that verify under the original certificate; leaves, foreign keys and swapped files are
//! refused; a CA made by the real `openssl` binary loads and signs too.

mod common;

use common::{client_req, now, openssl_ok, san, server_req};
use dockpki::{verify_leaf, CertificateAuthority, Error, KeyType, PrivateKey, Usage};

#[test]
fn ca_loads_from_its_own_cert_pem_and_key_pem() {
    let now = now();
    let ca = common::ca_at(now);
    let loaded =
        CertificateAuthority::load(ca.cert_pem().as_bytes(), ca.key_pem().as_bytes()).unwrap();
    assert_eq!(loaded.cert_der(), ca.cert_der());
    assert_eq!(loaded.cert_pem(), ca.cert_pem());
    assert_eq!(*loaded.key_pem(), *ca.key_pem());
    assert_eq!(loaded.info().subject, ca.info().subject);
    assert_eq!(
        loaded.info().sha256_fingerprint,
        ca.info().sha256_fingerprint
    );
    assert!(loaded.name_constraints().is_empty());

    // Leaves signed by the loaded CA verify under the original CA certificate.
    let bundle = [ca.cert_der().clone()];
    let server = loaded
        .issue_server(
            &server_req(&["docker.example.com"], "90d"),
            common::p256(),
            now,
        )
        .unwrap();
    verify_leaf(
        &server.cert,
        &bundle,
        Usage::Server,
        Some(&san("docker.example.com")),
        now,
    )
    .unwrap();
    let client = loaded
        .issue_client(&client_req("alice", "90d"), common::p256(), now)
        .unwrap();
    verify_leaf(&client.cert, &bundle, Usage::Client, None, now).unwrap();
}

#[test]
fn ca_loads_from_pem_with_crlf_line_endings_and_surrounding_text() {
    let ca = common::ca();
    let cert = format!(
        "CA for the build host\r\n{}",
        ca.cert_pem().replace('\n', "\r\n")
    );
    let key = ca.key_pem().replace('\n', "\r\n");
    let loaded = CertificateAuthority::load(cert.as_bytes(), key.as_bytes()).unwrap();
    assert_eq!(loaded.cert_der(), ca.cert_der());
}

#[test]
fn ca_load_takes_the_first_certificate_of_a_bundle() {
    let first = common::ca();
    let second = common::ca();
    let bundle = format!("{}{}", first.cert_pem(), second.cert_pem());
    let loaded = CertificateAuthority::load(bundle.as_bytes(), first.key_pem().as_bytes()).unwrap();
    assert_eq!(loaded.cert_der(), first.cert_der());
    let err =
        CertificateAuthority::load(bundle.as_bytes(), second.key_pem().as_bytes()).unwrap_err();
    assert!(matches!(err, Error::KeyMismatch { .. }), "{err:?}");
}

#[test]
fn ca_load_refuses_a_leaf_certificate_as_ca() {
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
    for leaf in [&server, &client] {
        let err = CertificateAuthority::load(leaf.cert_pem.as_bytes(), leaf.key_pem().as_bytes())
            .unwrap_err();
        match &err {
            Error::NotACa { subject } => assert_eq!(*subject, leaf.info.subject),
            other => panic!("expected NotACa, got {other:?}"),
        }
        assert!(err.to_string().contains("not a CA"), "{err}");
    }
}

#[test]
fn ca_load_refuses_a_key_that_does_not_belong_to_the_ca() {
    let ca = common::ca();
    let other_ca = common::ca();
    let keys = [
        ("another CA's key", other_ca.key_pem()),
        ("a fresh P-256 key", common::p256().to_pem()),
        (
            "an Ed25519 key",
            PrivateKey::generate(KeyType::Ed25519).unwrap().to_pem(),
        ),
    ];
    for (what, key) in keys {
        let err = CertificateAuthority::load(ca.cert_pem().as_bytes(), key.as_bytes()).unwrap_err();
        match &err {
            Error::KeyMismatch { certificate } => {
                assert!(
                    certificate.contains("CA certificate"),
                    "{what}: {certificate}"
                )
            }
            other => panic!("{what}: expected KeyMismatch, got {other:?}"),
        }
    }
}

#[test]
fn ca_load_with_swapped_files_names_what_it_found() {
    let ca = common::ca();
    let err =
        CertificateAuthority::load(ca.key_pem().as_bytes(), ca.cert_pem().as_bytes()).unwrap_err();
    match &err {
        Error::Pem { expected, reason } => {
            assert_eq!(*expected, "certificate");
            assert!(reason.contains("PRIVATE KEY"), "{reason}");
        }
        other => panic!("expected Error::Pem, got {other:?}"),
    }
    let err = CertificateAuthority::load(b"", ca.key_pem().as_bytes()).unwrap_err();
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

#[test]
fn ca_made_by_openssl_loads_and_issues_leaves_that_verify_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl_ok(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
            "-days",
            "30",
            "-subj",
            "/C=DE/O=Ops Team/CN=Ops CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    let ca = CertificateAuthority::load(
        &std::fs::read(d.join("ca.pem")).unwrap(),
        &std::fs::read(d.join("ca-key.pem")).unwrap(),
    )
    .unwrap();
    assert_eq!(ca.info().key_type, Some(KeyType::EcdsaP256));
    let now = now();
    let server = ca
        .issue_server(
            &server_req(&["docker.example.com", "192.0.2.10"], "10d"),
            common::p256(),
            now,
        )
        .unwrap();
    let client = ca
        .issue_client(&client_req("alice", "10d"), common::p256(), now)
        .unwrap();
    let bundle = [ca.cert_der().clone()];
    verify_leaf(
        &server.cert,
        &bundle,
        Usage::Server,
        Some(&san("192.0.2.10")),
        now,
    )
    .unwrap();
    verify_leaf(&client.cert, &bundle, Usage::Client, None, now).unwrap();
    assert_eq!(server.info.issuer, ca.info().subject);
    assert_eq!(server.info.authority_key_id, ca.info().subject_key_id);

    std::fs::write(d.join("server.pem"), &server.cert_pem).unwrap();
    std::fs::write(d.join("client.pem"), &client.cert_pem).unwrap();
    openssl_ok(
        d,
        &[
            "verify",
            "-CAfile",
            "ca.pem",
            "-purpose",
            "sslserver",
            "server.pem",
        ],
    );
    openssl_ok(
        d,
        &[
            "verify",
            "-CAfile",
            "ca.pem",
            "-purpose",
            "sslclient",
            "client.pem",
        ],
    );
}
