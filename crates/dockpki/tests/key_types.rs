//! Every key type, end to end: key generation and PEM round trip, a CA of that type issuing a
//! server and a client certificate that dockpki's verifier, the `openssl` binary and a rustls
//! handshake all accept.
//!
//! Keys are generated once per test binary, in one `generate_many` call: one for the CA and one
//! shared by that type's server and client certificates. RSA-3072 and RSA-4096 keys take seconds
//! to generate in debug builds, so for those two types the CA key doubles as the leaf key (one
//! key each); every other type gets two distinct keys.

mod common;

use std::sync::OnceLock;

use common::{client_req, now, openssl_ok, san, server_req};
use dockpki::{
    tls, verify_leaf, CaOptions, CertificateAuthority, IssuedCert, KeyType, PrivateKey, Usage,
};
use zeroize::Zeroizing;

const SERVER_SANS: [&str; 4] = [
    "docker.example.com",
    "localhost",
    "192.0.2.10",
    "2001:db8::10",
];

/// How many keys to generate for a type: see the module comment.
fn key_count(kt: KeyType) -> usize {
    if matches!(kt, KeyType::Rsa3072 | KeyType::Rsa4096) {
        1
    } else {
        2
    }
}

/// One generated key, kept as PEM so that each use gets its own `PrivateKey`.
struct GeneratedKey {
    /// What `generate_many` reported.
    reported_type: KeyType,
    pem: Zeroizing<String>,
    spki: Vec<u8>,
}

/// The keys of one type: the first is the CA's, the last the leaves'.
struct GeneratedKeys(Vec<GeneratedKey>);

impl GeneratedKeys {
    fn ca(&self) -> &GeneratedKey {
        &self.0[0]
    }

    fn leaf(&self) -> &GeneratedKey {
        self.0.last().unwrap()
    }
}

fn generated() -> &'static [(KeyType, GeneratedKeys)] {
    static KEYS: OnceLock<Vec<(KeyType, GeneratedKeys)>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let wanted: Vec<KeyType> = KeyType::ALL
            .iter()
            .flat_map(|k| std::iter::repeat_n(*k, key_count(*k)))
            .collect();
        let mut keys = PrivateKey::generate_many(&wanted).unwrap().into_iter();
        KeyType::ALL
            .iter()
            .map(|kt| {
                let made = (0..key_count(*kt))
                    .map(|_| {
                        let key = keys.next().unwrap();
                        GeneratedKey {
                            reported_type: key.key_type(),
                            pem: key.to_pem(),
                            spki: key.public_key_spki(),
                        }
                    })
                    .collect();
                (*kt, GeneratedKeys(made))
            })
            .collect()
    })
}

/// A CA of one key type with a server and a client certificate whose keys are of that type.
struct Chain {
    ca: CertificateAuthority,
    server: IssuedCert,
    client: IssuedCert,
}

fn chains() -> &'static [(KeyType, Chain)] {
    static CHAINS: OnceLock<Vec<(KeyType, Chain)>> = OnceLock::new();
    CHAINS.get_or_init(|| {
        let now = now();
        generated()
            .iter()
            .map(|(kt, keys)| {
                let mut options = CaOptions::new(now).unwrap();
                options.key_type = *kt;
                let ca_key = PrivateKey::from_pem(keys.ca().pem.as_bytes()).unwrap();
                let ca = CertificateAuthority::create_with_key(&options, ca_key, now).unwrap();
                let leaf_key = || PrivateKey::from_pem(keys.leaf().pem.as_bytes()).unwrap();
                let server = ca
                    .issue_server(&server_req(&SERVER_SANS, "90d"), leaf_key(), now)
                    .unwrap_or_else(|e| panic!("{kt}: issue_server: {e}"));
                let client = ca
                    .issue_client(&client_req("alice", "90d"), leaf_key(), now)
                    .unwrap_or_else(|e| panic!("{kt}: issue_client: {e}"));
                (*kt, Chain { ca, server, client })
            })
            .collect()
    })
}

#[test]
fn generate_many_returns_keys_of_the_requested_types_in_order() {
    for (kt, keys) in generated() {
        assert_eq!(keys.0.len(), key_count(*kt));
        for key in &keys.0 {
            assert_eq!(key.reported_type, *kt);
            assert_eq!(
                PrivateKey::from_pem(key.pem.as_bytes()).unwrap().key_type(),
                *kt
            );
        }
        if keys.0.len() == 2 {
            assert_ne!(
                keys.ca().spki,
                keys.leaf().spki,
                "{kt}: two generated keys are identical"
            );
        }
    }
}

#[test]
fn every_key_type_round_trips_through_pkcs8_pem() {
    for (kt, keys) in generated() {
        assert!(
            keys.ca().pem.starts_with("-----BEGIN PRIVATE KEY-----"),
            "{kt}: to_pem is not PKCS#8"
        );
        let back = PrivateKey::from_pem(keys.ca().pem.as_bytes()).unwrap();
        assert_eq!(back.key_type(), *kt);
        assert_eq!(
            back.public_key_spki(),
            keys.ca().spki,
            "{kt}: public key changed"
        );
        assert_eq!(
            *back.to_pem(),
            *keys.ca().pem,
            "{kt}: PEM changed on re-encoding"
        );

        let from_der = PrivateKey::from_der(&back.to_der()).unwrap();
        assert_eq!(from_der.key_type(), *kt);
        assert_eq!(
            from_der.public_key_spki(),
            keys.ca().spki,
            "{kt}: DER round trip"
        );
    }
}

#[test]
fn every_key_type_name_parses_back_to_itself() {
    for kt in KeyType::ALL {
        assert_eq!(kt.as_str().parse::<KeyType>().unwrap(), kt);
        assert_eq!(
            kt.to_string().to_uppercase().parse::<KeyType>().unwrap(),
            kt
        );
        assert_eq!(kt.is_rsa(), kt.as_str().starts_with("rsa-"));
    }
    let err = "rsa-1024".parse::<KeyType>().unwrap_err();
    assert!(
        matches!(err, dockpki::Error::UnknownKeyType { .. }),
        "{err}"
    );
    for kt in KeyType::ALL {
        assert!(err.to_string().contains(kt.as_str()), "{err}");
    }
}

#[test]
fn every_key_type_ca_issues_server_and_client_certs_that_verify() {
    let now = now();
    for (kt, chain) in chains() {
        let bundle = [chain.ca.cert_der().clone()];
        assert_eq!(chain.ca.info().key_type, Some(*kt));
        assert_eq!(chain.ca.info().public_key, kt.as_str());
        assert_eq!(chain.server.info.key_type, Some(*kt));
        assert_eq!(chain.client.info.key_type, Some(*kt));
        assert_eq!(chain.server.key.key_type(), *kt);
        for host in SERVER_SANS {
            verify_leaf(
                &chain.server.cert,
                &bundle,
                Usage::Server,
                Some(&san(host)),
                now,
            )
            .unwrap_or_else(|e| panic!("{kt}: server for {host}: {e}"));
        }
        verify_leaf(&chain.server.cert, &bundle, Usage::Server, None, now)
            .unwrap_or_else(|e| panic!("{kt}: server without host: {e}"));
        verify_leaf(&chain.client.cert, &bundle, Usage::Client, None, now)
            .unwrap_or_else(|e| panic!("{kt}: client: {e}"));
    }
}

#[test]
fn every_key_type_chain_passes_openssl_verify() {
    for (kt, chain) in chains() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("ca.pem"), chain.ca.cert_pem()).unwrap();
        std::fs::write(d.join("server.pem"), &chain.server.cert_pem).unwrap();
        std::fs::write(d.join("client.pem"), &chain.client.cert_pem).unwrap();
        let server = openssl_ok(
            d,
            &[
                "verify",
                "-x509_strict",
                "-CAfile",
                "ca.pem",
                "-purpose",
                "sslserver",
                "server.pem",
            ],
        );
        assert!(server.contains("server.pem: OK"), "{kt}: {server}");
        let client = openssl_ok(
            d,
            &[
                "verify",
                "-x509_strict",
                "-CAfile",
                "ca.pem",
                "-purpose",
                "sslclient",
                "client.pem",
            ],
        );
        assert!(client.contains("client.pem: OK"), "{kt}: {client}");
    }
}

#[test]
fn every_key_type_completes_a_mutual_tls_handshake() {
    for (kt, chain) in chains() {
        let bundle = vec![chain.ca.cert_der().clone()];
        let server_cfg = tls::server_config(&bundle, &chain.server).unwrap();
        let client_cfg = tls::client_config(&bundle, tls::ClientAuth::Cert(&chain.client)).unwrap();
        let (mut client, mut server) =
            common::handshake(client_cfg, server_cfg, "docker.example.com")
                .unwrap_or_else(|e| panic!("{kt}: handshake failed: {e:?}"));
        let seen = server
            .peer_certificates()
            .expect("server saw no client certificate");
        assert_eq!(seen, std::slice::from_ref(&chain.client.cert), "{kt}");
        let got = common::send_app_data(&mut *client, &mut *server, b"GET /_ping");
        assert_eq!(got, b"GET /_ping", "{kt}");
    }
}

#[test]
fn every_key_type_key_file_is_read_by_openssl_as_the_key_of_its_certificate() {
    for (kt, chain) in chains() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for (name, issued) in [("server", &chain.server), ("client", &chain.client)] {
            std::fs::write(d.join(format!("{name}.pem")), &issued.cert_pem).unwrap();
            std::fs::write(
                d.join(format!("{name}-key.pem")),
                issued.key_pem().as_bytes(),
            )
            .unwrap();
            let from_cert = openssl_ok(
                d,
                &["x509", "-noout", "-pubkey", "-in", &format!("{name}.pem")],
            );
            let from_key = openssl_ok(d, &["pkey", "-pubout", "-in", &format!("{name}-key.pem")]);
            assert_eq!(
                from_cert, from_key,
                "{kt}: {name} key does not belong to its certificate"
            );
        }
        std::fs::write(d.join("ca-key.pem"), chain.ca.key_pem().as_bytes()).unwrap();
        std::fs::write(d.join("ca.pem"), chain.ca.cert_pem()).unwrap();
        let from_cert = openssl_ok(d, &["x509", "-noout", "-pubkey", "-in", "ca.pem"]);
        let from_key = openssl_ok(d, &["pkey", "-pubout", "-in", "ca-key.pem"]);
        assert_eq!(from_cert, from_key, "{kt}: CA key");
    }
}
