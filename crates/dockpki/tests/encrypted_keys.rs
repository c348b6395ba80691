//! Encrypted private keys: every key type round-trips through PKCS#8 PBES2 with the right
//! passphrase, a wrong one is `WrongPassphrase`, and an encrypted key is never accepted where an
//! unencrypted one is expected (dockerd cannot read it).

use dockpki::{CaOptions, CertificateAuthority, Error, KeyType, PrivateKey};

#[test]
fn every_key_type_round_trips_through_encryption_with_its_passphrase() {
    for kt in KeyType::ALL {
        let key = PrivateKey::generate(kt).unwrap();
        let pem = key.to_encrypted_pem(b"s3cret").unwrap();
        assert!(
            pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"),
            "{kt}"
        );
        assert!(PrivateKey::is_encrypted_pem(pem.as_bytes()));
        let back = PrivateKey::from_encrypted_pem(pem.as_bytes(), b"s3cret").unwrap();
        assert_eq!(back.key_type(), kt);
        assert_eq!(back.public_key_spki(), key.public_key_spki(), "{kt}");
    }
}

#[test]
fn a_wrong_passphrase_is_reported_as_such_and_reveals_nothing() {
    let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let pem = key.to_encrypted_pem(b"right").unwrap();
    for wrong in [&b"wrong"[..], b"", b"right ", b"Right"] {
        let err = PrivateKey::from_encrypted_pem(pem.as_bytes(), wrong).unwrap_err();
        assert!(matches!(err, Error::WrongPassphrase), "{wrong:?}: {err}");
        assert!(err.to_string().contains("wrong passphrase"));
    }
}

#[test]
fn two_encryptions_of_one_key_differ_because_salt_and_iv_are_random() {
    let key = PrivateKey::generate(KeyType::Ed25519).unwrap();
    let a = key.to_encrypted_pem(b"p").unwrap();
    let b = key.to_encrypted_pem(b"p").unwrap();
    assert_ne!(a, b);
}

#[test]
fn an_encrypted_key_is_refused_where_a_plain_one_is_expected_and_vice_versa() {
    let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let enc = key.to_encrypted_pem(b"p").unwrap();
    assert!(matches!(
        PrivateKey::from_pem(enc.as_bytes()),
        Err(Error::EncryptedKey)
    ));
    let err = PrivateKey::from_encrypted_pem(key.to_pem().as_bytes(), b"p").unwrap_err();
    assert!(
        err.to_string().contains("found a PRIVATE KEY block"),
        "{err}"
    );
}

#[test]
fn damaged_encrypted_keys_are_errors_not_panics() {
    let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let enc = key.to_encrypted_pem(b"p").unwrap();
    let lines: Vec<&str> = enc.lines().collect();
    let truncated = [&lines[..2], &lines[lines.len() - 1..]].concat().join("\n");
    for bad in [
        &b""[..],
        b"\xff\xfe",
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n",
        truncated.as_bytes(),
    ] {
        assert!(PrivateKey::from_encrypted_pem(bad, b"p").is_err());
    }
}

#[test]
fn a_ca_loads_from_its_encrypted_key_only_with_its_passphrase() {
    let now = dockpki::OffsetDateTime::now_utc();
    let ca = CertificateAuthority::create(&CaOptions::new(now).unwrap(), now).unwrap();
    let enc = ca.encrypted_key_pem(b"pw").unwrap();
    let loaded =
        CertificateAuthority::load_encrypted(ca.cert_pem().as_bytes(), enc.as_bytes(), b"pw")
            .unwrap();
    assert_eq!(
        loaded.info().sha256_fingerprint,
        ca.info().sha256_fingerprint
    );
    assert!(matches!(
        CertificateAuthority::load_encrypted(ca.cert_pem().as_bytes(), enc.as_bytes(), b"no"),
        Err(Error::WrongPassphrase)
    ));
}
