//! Helpers shared by the integration tests. Each test binary uses a different subset.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use dockpki::{
    CaOptions, CertificateAuthority, ClientRequest, KeyType, Lifetime, NameConstraints, PrivateKey,
    SanList, ServerRequest, SubjectAltName,
};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;

/// The current time at whole-second precision, the precision certificates store, so that
/// validity dates can be compared exactly.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

pub fn lifetime(s: &str) -> Lifetime {
    s.parse().unwrap()
}

pub fn san(s: &str) -> SubjectAltName {
    s.parse().unwrap()
}

pub fn sans(list: &[&str]) -> SanList {
    SanList::parse(list).unwrap()
}

pub fn server_req(list: &[&str], validity: &str) -> ServerRequest {
    ServerRequest {
        sans: sans(list),
        common_name: None,
        lifetime: lifetime(validity),
    }
}

pub fn client_req(cn: &str, validity: &str) -> ClientRequest {
    ClientRequest {
        common_name: cn.parse().unwrap(),
        lifetime: lifetime(validity),
    }
}

pub fn p256() -> PrivateKey {
    PrivateKey::generate(KeyType::EcdsaP256).unwrap()
}

/// A CA with dockpki's defaults (P-256, 10 years) created at `now`.
pub fn ca_at(now: OffsetDateTime) -> CertificateAuthority {
    CertificateAuthority::create(&CaOptions::new(now).unwrap(), now).unwrap()
}

pub fn ca() -> CertificateAuthority {
    ca_at(now())
}

/// A P-256 CA whose leaves may only name what `constraints` permits.
pub fn constrained_ca(constraints: NameConstraints, now: OffsetDateTime) -> CertificateAuthority {
    let mut options = CaOptions::new(now).unwrap();
    options.name_constraints = constraints;
    CertificateAuthority::create(&options, now).unwrap()
}

/// Parses a DER certificate with x509-parser directly, independently of `dockpki::inspect`.
pub fn x509(der: &[u8]) -> X509Certificate<'_> {
    let (rest, cert) = X509Certificate::from_der(der).unwrap();
    assert!(rest.is_empty(), "trailing bytes after the certificate");
    cert
}

pub fn subject_key_id(cert: &X509Certificate<'_>) -> Option<Vec<u8>> {
    cert.iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
}

pub fn authority_key_id(cert: &X509Certificate<'_>) -> Option<Vec<u8>> {
    cert.iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
}

/// Runs the real `openssl` binary in `dir`.
pub fn openssl(dir: &Path, args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl binary must be installed to run these tests")
}

/// Runs `openssl` and fails the test, showing its stderr, unless it succeeds.
pub fn openssl_ok(dir: &Path, args: &[&str]) -> String {
    let out = openssl(dir, args);
    assert!(
        out.status.success(),
        "openssl {} failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `openssl` and returns its raw standard output, failing the test unless it succeeds.
pub fn openssl_bytes(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = openssl(dir, args);
    assert!(
        out.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Which end of a TLS connection refused the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// Moves every pending TLS record from `from` to `to` and lets `to` process them.
fn transfer<A: rustls::SideData, B: rustls::SideData>(
    from: &mut rustls::ConnectionCommon<A>,
    to: &mut rustls::ConnectionCommon<B>,
) -> Result<(), rustls::Error> {
    let mut buf = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut buf).unwrap();
    }
    if buf.is_empty() {
        return Ok(());
    }
    let mut rd = buf.as_slice();
    while !rd.is_empty() {
        to.read_tls(&mut rd).unwrap();
        to.process_new_packets()?;
    }
    Ok(())
}

/// Runs a complete TLS handshake in memory between a client dialling `server_name` and a
/// server, and returns both connections, or the side that refused and why.
pub fn handshake(
    client_config: rustls::ClientConfig,
    server_config: rustls::ServerConfig,
    server_name: &str,
) -> Result<(rustls::ClientConnection, rustls::ServerConnection), (Side, rustls::Error)> {
    use std::sync::Arc;
    let name = rustls_pki_types::ServerName::try_from(server_name.to_string()).unwrap();
    let mut client = rustls::ClientConnection::new(Arc::new(client_config), name).unwrap();
    let mut server = rustls::ServerConnection::new(Arc::new(server_config)).unwrap();
    for _ in 0..20 {
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok((client, server));
        }
        transfer(&mut *client, &mut *server).map_err(|e| (Side::Server, e))?;
        transfer(&mut *server, &mut *client).map_err(|e| (Side::Client, e))?;
    }
    panic!("the handshake did not finish within 20 round trips");
}

/// Sends `msg` from `from` to `to` over an established connection and returns what `to` read.
pub fn send_app_data<A: rustls::SideData, B: rustls::SideData>(
    from: &mut rustls::ConnectionCommon<A>,
    to: &mut rustls::ConnectionCommon<B>,
    msg: &[u8],
) -> Vec<u8> {
    use std::io::{Read, Write};
    from.writer().write_all(msg).unwrap();
    transfer(from, to).unwrap();
    let mut got = vec![0u8; msg.len()];
    to.reader().read_exact(&mut got).unwrap();
    got
}
