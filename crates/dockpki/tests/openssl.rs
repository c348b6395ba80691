//! Cross-checks with the real `openssl` binary: purposes, host names and IP addresses, validity
//! times, what `openssl x509 -text` shows, fingerprints and serials, and that each key file
//! belongs to its certificate. (Every key type passing `openssl verify` is in key_types.rs.)

mod common;

use std::path::Path;

use common::{client_req, now, openssl, openssl_ok, server_req};
use dockpki::{CertificateAuthority, IssuedCert, KeyType, PrivateKey};
use tempfile::TempDir;
use time::Duration;

struct Files {
    dir: TempDir,
    ca: CertificateAuthority,
    server: IssuedCert,
    client: IssuedCert,
}

impl Files {
    fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A CA, a server certificate for docker.example.com, localhost, 192.0.2.10 and 2001:db8::10,
/// and a client certificate, written as ca.pem, server.pem, server-key.pem, client.pem and
/// client-key.pem the way dockerd and the docker CLI expect them.
fn write_chain(server_key: PrivateKey) -> Files {
    let now = now();
    let ca = common::ca_at(now);
    let server = ca
        .issue_server(
            &server_req(
                &[
                    "docker.example.com",
                    "localhost",
                    "192.0.2.10",
                    "2001:db8::10",
                ],
                "90d",
            ),
            server_key,
            now,
        )
        .unwrap();
    let client = ca
        .issue_client(&client_req("alice", "30d"), common::p256(), now)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("ca.pem"), ca.cert_pem()).unwrap();
    std::fs::write(d.join("server.pem"), &server.cert_pem).unwrap();
    std::fs::write(d.join("server-key.pem"), server.key_pem().as_bytes()).unwrap();
    std::fs::write(d.join("client.pem"), &client.cert_pem).unwrap();
    std::fs::write(d.join("client-key.pem"), client.key_pem().as_bytes()).unwrap();
    Files {
        dir,
        ca,
        server,
        client,
    }
}

fn verify_args<'a>(purpose: &'a str, file: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "verify",
        "-x509_strict",
        "-CAfile",
        "ca.pem",
        "-purpose",
        purpose,
    ];
    args.extend_from_slice(extra);
    args.push(file);
    args
}

fn verify_fails(dir: &Path, args: &[&str], expected_reason: &str) {
    let out = openssl(dir, args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "openssl {} succeeded: {text}",
        args.join(" ")
    );
    assert!(
        text.contains(expected_reason),
        "openssl {}: {text}",
        args.join(" ")
    );
}

#[test]
fn openssl_accepts_server_cert_for_sslserver_and_client_cert_for_sslclient() {
    let f = write_chain(common::p256());
    let out = openssl_ok(f.path(), &verify_args("sslserver", "server.pem", &[]));
    assert_eq!(out.trim(), "server.pem: OK");
    let out = openssl_ok(f.path(), &verify_args("sslclient", "client.pem", &[]));
    assert_eq!(out.trim(), "client.pem: OK");
}

#[test]
fn openssl_refuses_server_cert_for_sslclient_and_client_cert_for_sslserver() {
    let f = write_chain(common::p256());
    verify_fails(
        f.path(),
        &verify_args("sslclient", "server.pem", &[]),
        "unsuitable certificate purpose",
    );
    verify_fails(
        f.path(),
        &verify_args("sslserver", "client.pem", &[]),
        "unsuitable certificate purpose",
    );
}

#[test]
fn openssl_refuses_leaf_of_another_ca() {
    let f = write_chain(common::p256());
    std::fs::write(f.path().join("other-ca.pem"), common::ca().cert_pem()).unwrap();
    verify_fails(
        f.path(),
        &[
            "verify",
            "-CAfile",
            "other-ca.pem",
            "-purpose",
            "sslserver",
            "server.pem",
        ],
        "unable to get local issuer certificate",
    );
}

#[test]
fn openssl_checks_host_names_and_ip_addresses_against_the_sans() {
    let f = write_chain(common::p256());
    for host in ["docker.example.com", "localhost"] {
        openssl_ok(
            f.path(),
            &verify_args("sslserver", "server.pem", &["-verify_hostname", host]),
        );
    }
    for ip in ["192.0.2.10", "2001:db8::10"] {
        openssl_ok(
            f.path(),
            &verify_args("sslserver", "server.pem", &["-verify_ip", ip]),
        );
    }
    verify_fails(
        f.path(),
        &verify_args(
            "sslserver",
            "server.pem",
            &["-verify_hostname", "other.example.com"],
        ),
        "hostname mismatch",
    );
    verify_fails(
        f.path(),
        &verify_args("sslserver", "server.pem", &["-verify_ip", "192.0.2.11"]),
        "IP address mismatch",
    );
}

#[test]
fn openssl_wildcard_matching_agrees_with_ours() {
    let now = now();
    let ca = common::ca_at(now);
    let server = ca
        .issue_server(&server_req(&["*.example.com"], "90d"), common::p256(), now)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("ca.pem"), ca.cert_pem()).unwrap();
    std::fs::write(d.join("server.pem"), &server.cert_pem).unwrap();
    let bundle = [ca.cert_der().clone()];
    for (host, covered) in [
        ("a.example.com", true),
        ("example.com", false),
        ("a.b.example.com", false),
    ] {
        let out = openssl(
            d,
            &verify_args("sslserver", "server.pem", &["-verify_hostname", host]),
        );
        assert_eq!(out.status.success(), covered, "openssl on {host}");
        let ours = dockpki::verify_leaf(
            &server.cert,
            &bundle,
            dockpki::Usage::Server,
            Some(&common::san(host)),
            now,
        );
        assert_eq!(ours.is_ok(), covered, "dockpki on {host}: {ours:?}");
    }
}

#[test]
fn openssl_agrees_on_the_validity_window() {
    let f = write_chain(common::p256());
    let info = &f.client.info;
    let at = |t: time::OffsetDateTime| t.unix_timestamp().to_string();
    // openssl treats the notAfter second itself as expired (RFC 5280, Go and webpki do not), so
    // the last second both agree on is one before it.
    for ok in [info.not_before, info.not_after - Duration::seconds(1)] {
        let t = at(ok);
        openssl_ok(
            f.path(),
            &verify_args("sslclient", "client.pem", &["-attime", &t]),
        );
    }
    let late = at(info.not_after + Duration::seconds(1));
    verify_fails(
        f.path(),
        &verify_args("sslclient", "client.pem", &["-attime", &late]),
        "certificate has expired",
    );
    let early = at(info.not_before - Duration::seconds(1));
    verify_fails(
        f.path(),
        &verify_args("sslclient", "client.pem", &["-attime", &early]),
        "not yet valid",
    );
}

#[test]
fn openssl_text_shows_sans_usages_and_constraints() {
    let f = write_chain(PrivateKey::generate(KeyType::Rsa2048).unwrap());
    let server = openssl_ok(f.path(), &["x509", "-noout", "-text", "-in", "server.pem"]);
    for expected in [
        "DNS:docker.example.com, DNS:localhost, IP Address:192.0.2.10, IP Address:2001:DB8:0:0:0:0:0:10",
        "TLS Web Server Authentication",
        "Digital Signature, Key Encipherment",
        "CA:FALSE",
        "Public-Key: (2048 bit)",
        "Subject: CN = docker.example.com",
    ] {
        assert!(server.contains(expected), "missing {expected:?} in:\n{server}");
    }
    assert!(
        !server.contains("TLS Web Client Authentication"),
        "{server}"
    );

    let client = openssl_ok(f.path(), &["x509", "-noout", "-text", "-in", "client.pem"]);
    for expected in [
        "TLS Web Client Authentication",
        "Subject: CN = alice",
        "CA:FALSE",
    ] {
        assert!(
            client.contains(expected),
            "missing {expected:?} in:\n{client}"
        );
    }
    assert!(!client.contains("Subject Alternative Name"), "{client}");
    assert!(!client.contains("Key Encipherment"), "{client}");

    let ca = openssl_ok(f.path(), &["x509", "-noout", "-text", "-in", "ca.pem"]);
    for expected in [
        "CA:TRUE, pathlen:0",
        "Certificate Sign, CRL Sign",
        "O = dockpki",
        "Subject Key Identifier",
    ] {
        assert!(ca.contains(expected), "missing {expected:?} in:\n{ca}");
    }
    let sans = openssl_ok(
        f.path(),
        &[
            "x509",
            "-noout",
            "-ext",
            "subjectAltName",
            "-in",
            "server.pem",
        ],
    );
    assert!(sans.contains("DNS:docker.example.com"), "{sans}");
}

#[test]
fn openssl_computes_the_same_fingerprints_serials_and_key_ids() {
    let f = write_chain(common::p256());
    for (file, info) in [
        ("ca.pem", f.ca.info()),
        ("server.pem", &f.server.info),
        ("client.pem", &f.client.info),
    ] {
        let fp = openssl_ok(
            f.path(),
            &["x509", "-noout", "-fingerprint", "-sha256", "-in", file],
        );
        let openssl_fp = fp.trim().rsplit('=').next().unwrap();
        assert_eq!(openssl_fp, info.sha256_fingerprint, "{file}");
        assert!(info.fingerprint().matches(openssl_fp), "{file}");
        let serial = openssl_ok(f.path(), &["x509", "-noout", "-serial", "-in", file]);
        assert_eq!(
            serial.trim().strip_prefix("serial=").unwrap(),
            info.serial.to_uppercase(),
            "{file}"
        );
    }
    let aki = openssl_ok(
        f.path(),
        &[
            "x509",
            "-noout",
            "-ext",
            "authorityKeyIdentifier",
            "-in",
            "server.pem",
        ],
    );
    let ski = openssl_ok(
        f.path(),
        &[
            "x509",
            "-noout",
            "-ext",
            "subjectKeyIdentifier",
            "-in",
            "ca.pem",
        ],
    );
    let hex = |s: &str| {
        s.lines()
            .nth(1)
            .unwrap()
            .trim()
            .trim_start_matches("keyid:")
            .replace(':', "")
            .to_lowercase()
    };
    assert_eq!(hex(&aki), hex(&ski));
    assert_eq!(Some(hex(&ski)), f.ca.info().subject_key_id);
}

#[test]
fn openssl_reads_each_key_file_as_the_key_of_its_certificate() {
    let f = write_chain(PrivateKey::generate(KeyType::Ed25519).unwrap());
    for (cert, key) in [
        ("server.pem", "server-key.pem"),
        ("client.pem", "client-key.pem"),
    ] {
        let from_cert = openssl_ok(f.path(), &["x509", "-noout", "-pubkey", "-in", cert]);
        let from_key = openssl_ok(f.path(), &["pkey", "-pubout", "-in", key]);
        assert_eq!(from_cert, from_key, "{key} does not belong to {cert}");
    }
    let wrong = openssl_ok(f.path(), &["pkey", "-pubout", "-in", "client-key.pem"]);
    let server_pub = openssl_ok(
        f.path(),
        &["x509", "-noout", "-pubkey", "-in", "server.pem"],
    );
    assert_ne!(wrong, server_pub);
}
