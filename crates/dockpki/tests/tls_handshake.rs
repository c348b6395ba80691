//! `tls::server_config` and `tls::client_config` in a real rustls handshake, run in memory: mutual
//! TLS succeeds with certificates of one CA, and each side refuses what dockerd and the docker
//! CLI refuse (foreign CA, names not covered, wrong purpose, no client certificate, expired). A
//! client without a certificate (`ClientAuth::None`) authenticates servers that do not ask for
//! one.

mod common;

use common::{client_req, handshake, now, server_req, Side};
use dockpki::tls::ClientAuth;
use dockpki::{tls, CertificateAuthority, CertificateDer, Error, IssuedCert, Usage, VerifyError};
use rustls::{CertificateError, ProtocolVersion};
use time::Duration;

const SANS: [&str; 3] = ["docker.example.com", "192.0.2.10", "::1"];

struct Pki {
    ca: CertificateAuthority,
    server: IssuedCert,
    client: IssuedCert,
}

fn pki() -> Pki {
    let now = now();
    let ca = common::ca_at(now);
    let server = ca
        .issue_server(&server_req(&SANS, "90d"), common::p256(), now)
        .unwrap();
    let client = ca
        .issue_client(&client_req("alice", "90d"), common::p256(), now)
        .unwrap();
    Pki { ca, server, client }
}

fn bundle(ca: &CertificateAuthority) -> Vec<CertificateDer<'static>> {
    vec![ca.cert_der().clone()]
}

fn server_config(trusted: &CertificateAuthority, cert: &IssuedCert) -> rustls::ServerConfig {
    tls::server_config(&bundle(trusted), cert).unwrap()
}

fn client_config(trusted: &CertificateAuthority, cert: &IssuedCert) -> rustls::ClientConfig {
    tls::client_config(&bundle(trusted), ClientAuth::Cert(cert)).unwrap()
}

/// A client configuration presenting `cert` whatever it is, for the server to judge.
fn presenting(trusted: &CertificateAuthority, cert: &IssuedCert) -> rustls::ClientConfig {
    let chain = [cert.cert.clone()];
    tls::client_config(
        &bundle(trusted),
        ClientAuth::Chain {
            chain: &chain,
            key: &cert.key,
        },
    )
    .unwrap()
}

/// A rustls server presenting `cert` whatever it is, asking no client certificate, for the
/// client to judge.
fn serving_without_client_auth(cert: &IssuedCert) -> rustls::ServerConfig {
    rustls::ServerConfig::builder_with_provider(tls::provider().clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.clone()], cert.key.to_der())
        .unwrap()
}

#[test]
fn mutual_tls_handshake_succeeds_and_carries_data_both_ways() {
    let p = pki();
    let (mut client, mut server) = handshake(
        client_config(&p.ca, &p.client),
        server_config(&p.ca, &p.server),
        "docker.example.com",
    )
    .unwrap();
    assert_eq!(client.protocol_version(), Some(ProtocolVersion::TLSv1_3));
    assert_eq!(
        server.peer_certificates(),
        Some(std::slice::from_ref(&p.client.cert))
    );
    assert_eq!(
        client.peer_certificates(),
        Some(std::slice::from_ref(&p.server.cert))
    );
    let got = common::send_app_data(&mut *client, &mut *server, b"GET /_ping HTTP/1.1\r\n\r\n");
    assert_eq!(got, b"GET /_ping HTTP/1.1\r\n\r\n");
    let got = common::send_app_data(&mut *server, &mut *client, b"HTTP/1.1 200 OK\r\n\r\nOK");
    assert_eq!(got, b"HTTP/1.1 200 OK\r\n\r\nOK");
}

#[test]
fn handshake_succeeds_for_every_san_as_server_name() {
    let p = pki();
    for name in SANS {
        handshake(
            client_config(&p.ca, &p.client),
            server_config(&p.ca, &p.server),
            name,
        )
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
}

#[test]
fn server_refuses_client_cert_from_a_different_ca() {
    let p = pki();
    let other = common::ca();
    let foreign = other
        .issue_client(&client_req("mallory", "90d"), common::p256(), now())
        .unwrap();
    // The client trusts the real CA (so the server is fine) but presents a foreign certificate.
    let err = handshake(
        client_config(&p.ca, &foreign),
        server_config(&p.ca, &p.server),
        "docker.example.com",
    )
    .unwrap_err();
    assert_eq!(
        err,
        (
            Side::Server,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
        )
    );
}

#[test]
fn client_refuses_server_whose_sans_do_not_cover_the_server_name() {
    let p = pki();
    for name in ["other.example.com", "example.com", "192.0.2.11", "::2"] {
        let (side, err) = handshake(
            client_config(&p.ca, &p.client),
            server_config(&p.ca, &p.server),
            name,
        )
        .unwrap_err();
        assert_eq!(side, Side::Client, "{name}");
        assert!(
            matches!(
                err,
                rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. }
                )
            ),
            "{name}: {err:?}"
        );
    }
}

#[test]
fn client_refuses_server_cert_from_a_different_ca() {
    let p = pki();
    let other = common::ca();
    let foreign = other
        .issue_server(
            &server_req(&["docker.example.com"], "90d"),
            common::p256(),
            now(),
        )
        .unwrap();
    let err = handshake(
        client_config(&p.ca, &p.client),
        server_config(&p.ca, &foreign),
        "docker.example.com",
    )
    .unwrap_err();
    assert_eq!(
        err,
        (
            Side::Client,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
        )
    );
}

fn is_wrong_purpose(e: &rustls::Error) -> bool {
    matches!(
        e,
        rustls::Error::InvalidCertificate(
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. }
        )
    )
}

#[test]
fn server_refuses_a_client_presenting_a_server_certificate() {
    let p = pki();
    let client_cfg = presenting(&p.ca, &p.server);
    let (side, err) = handshake(
        client_cfg,
        server_config(&p.ca, &p.server),
        "docker.example.com",
    )
    .unwrap_err();
    assert_eq!(side, Side::Server);
    assert!(is_wrong_purpose(&err), "{err:?}");
}

#[test]
fn client_refuses_a_server_presenting_a_client_certificate() {
    let p = pki();
    let server_cfg = serving_without_client_auth(&p.client);
    let (side, err) = handshake(
        client_config(&p.ca, &p.client),
        server_cfg,
        "docker.example.com",
    )
    .unwrap_err();
    assert_eq!(side, Side::Client);
    assert!(is_wrong_purpose(&err), "{err:?}");
}

#[test]
fn server_config_refuses_a_client_without_a_certificate() {
    let p = pki();
    let anonymous = tls::client_config(&bundle(&p.ca), ClientAuth::None).unwrap();
    let err = handshake(
        anonymous,
        server_config(&p.ca, &p.server),
        "docker.example.com",
    )
    .unwrap_err();
    assert_eq!(err, (Side::Server, rustls::Error::NoCertificatesPresented));
}

#[test]
fn a_client_without_a_certificate_still_authenticates_the_server() {
    let p = pki();
    // A server that asks for no client certificate (dockerd with --tls, not --tlsverify).
    let (mut client, mut server) = handshake(
        tls::client_config(&bundle(&p.ca), ClientAuth::None).unwrap(),
        serving_without_client_auth(&p.server),
        "docker.example.com",
    )
    .unwrap();
    assert_eq!(server.peer_certificates(), None);
    let got = common::send_app_data(&mut *client, &mut *server, b"GET /_ping");
    assert_eq!(got, b"GET /_ping");
    // ... and refuses one its CA bundle does not vouch for.
    let foreign = common::ca()
        .issue_server(
            &server_req(&["docker.example.com"], "90d"),
            common::p256(),
            now(),
        )
        .unwrap();
    let err = handshake(
        tls::client_config(&bundle(&p.ca), ClientAuth::None).unwrap(),
        serving_without_client_auth(&foreign),
        "docker.example.com",
    )
    .unwrap_err();
    assert_eq!(
        err,
        (
            Side::Client,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
        )
    );
}

#[test]
fn configs_refuse_to_present_a_certificate_issued_for_the_other_end() {
    let p = pki();
    let err = tls::server_config(&bundle(&p.ca), &p.client).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Verify(VerifyError::WrongUsage {
                usage: Usage::Server
            })
        ),
        "{err:?}"
    );
    let err = tls::client_config(&bundle(&p.ca), ClientAuth::Cert(&p.server)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Verify(VerifyError::WrongUsage {
                usage: Usage::Client
            })
        ),
        "{err:?}"
    );
}

#[test]
fn server_config_accepts_tls12_clients() {
    let p = pki();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(p.ca.cert_der().clone()).unwrap();
    let tls12 = rustls::ClientConfig::builder_with_provider(tls::provider().clone())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![p.client.cert.clone()], p.client.key.to_der())
        .unwrap();
    let (client, server) = handshake(tls12, server_config(&p.ca, &p.server), "192.0.2.10").unwrap();
    assert_eq!(client.protocol_version(), Some(ProtocolVersion::TLSv1_2));
    assert_eq!(
        server.peer_certificates(),
        Some(std::slice::from_ref(&p.client.cert))
    );
}

#[test]
fn server_refuses_an_expired_client_certificate() {
    let now = now();
    let ca = common::ca_at(now - Duration::days(10));
    let server = ca
        .issue_server(&server_req(&SANS, "90d"), common::p256(), now)
        .unwrap();
    let expired = ca
        .issue_client(
            &client_req("alice", "1d"),
            common::p256(),
            now - Duration::days(10),
        )
        .unwrap();
    let (side, err) = handshake(
        client_config(&ca, &expired),
        server_config(&ca, &server),
        "docker.example.com",
    )
    .unwrap_err();
    assert_eq!(side, Side::Server);
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(
                CertificateError::Expired | CertificateError::ExpiredContext { .. }
            )
        ),
        "{err:?}"
    );
}

#[test]
fn configs_refuse_an_empty_ca_bundle_and_a_key_that_is_not_the_certs() {
    let p = pki();
    let err = tls::server_config(&[], &p.server).unwrap_err();
    assert!(
        matches!(err, Error::Verify(VerifyError::EmptyBundle)),
        "{err:?}"
    );
    let err = tls::client_config(&[], ClientAuth::Cert(&p.client)).unwrap_err();
    assert!(
        matches!(err, Error::Verify(VerifyError::EmptyBundle)),
        "{err:?}"
    );
    let junk = vec![CertificateDer::from(b"junk".to_vec())];
    let err = tls::client_config(&junk, ClientAuth::None).unwrap_err();
    assert!(
        matches!(err, Error::Verify(VerifyError::EmptyBundle)),
        "{err:?}"
    );

    // The fields are public, so a certificate can be paired with a key that is not its own.
    let mismatched = IssuedCert {
        cert: p.server.cert.clone(),
        cert_pem: p.server.cert_pem.clone(),
        key: common::p256(),
        info: p.server.info.clone(),
        usage: Usage::Server,
    };
    let err = tls::server_config(&bundle(&p.ca), &mismatched).unwrap_err();
    assert!(matches!(err, Error::Tls(_)), "{err:?}");
    let chain = [p.client.cert.clone()];
    let err = tls::client_config(
        &bundle(&p.ca),
        ClientAuth::Chain {
            chain: &chain,
            key: &p.server.key,
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::Tls(_)), "{err:?}");
    // The wrapped rustls error is the source, for embedders that print error chains.
    let cause = std::error::Error::source(&err).expect("Error::Tls has a source");
    assert!(cause.downcast_ref::<rustls::Error>().is_some(), "{cause:?}");
}
