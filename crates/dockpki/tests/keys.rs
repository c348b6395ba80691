//! Reading private keys: the PEM forms that dockerd and the docker CLI accept (made here by the
//! real `openssl` binary) are read, and everything else is refused with an error that says why.

mod common;

use std::path::Path;

use common::{openssl_bytes, openssl_ok};
use dockpki::{Error, KeyType, PrivateKey};

/// The DER SubjectPublicKeyInfo that openssl derives from the key in `file`.
fn openssl_spki(dir: &Path, file: &str) -> Vec<u8> {
    openssl_bytes(dir, &["pkey", "-in", file, "-pubout", "-outform", "DER"])
}

fn read(dir: &Path, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(file)).unwrap()
}

fn first_line(pem: &[u8]) -> String {
    String::from_utf8_lossy(pem)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

#[test]
fn pkcs1_rsa_keys_made_by_openssl_are_read_with_their_size() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (bits, kt) in [("2048", KeyType::Rsa2048), ("3072", KeyType::Rsa3072)] {
        let file = format!("rsa{bits}.pem");
        openssl_ok(d, &["genrsa", "-traditional", "-out", &file, bits]);
        let pem = read(d, &file);
        assert_eq!(first_line(&pem), "-----BEGIN RSA PRIVATE KEY-----");
        let key = PrivateKey::from_pem(&pem).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(key.key_type(), kt);
        assert_eq!(
            key.public_key_spki(),
            openssl_spki(d, &file),
            "{file}: public key differs"
        );
        // Normalised to PKCS#8 on output.
        assert!(key.to_pem().starts_with("-----BEGIN PRIVATE KEY-----"));
    }
}

#[test]
fn sec1_ec_keys_made_by_openssl_are_read_for_both_curves() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (curve, kt) in [
        ("prime256v1", KeyType::EcdsaP256),
        ("secp384r1", KeyType::EcdsaP384),
    ] {
        let file = format!("{curve}.pem");
        openssl_ok(
            d,
            &[
                "ecparam", "-name", curve, "-genkey", "-noout", "-out", &file,
            ],
        );
        let pem = read(d, &file);
        assert_eq!(first_line(&pem), "-----BEGIN EC PRIVATE KEY-----");
        let key = PrivateKey::from_pem(&pem).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(key.key_type(), kt);
        assert_eq!(
            key.public_key_spki(),
            openssl_spki(d, &file),
            "{file}: public key differs"
        );
    }
}

#[test]
fn sec1_key_preceded_by_ec_parameters_block_is_read() {
    // `openssl ecparam -genkey` without -noout writes an EC PARAMETERS block first.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl_ok(
        d,
        &["ecparam", "-name", "prime256v1", "-genkey", "-out", "k.pem"],
    );
    let pem = read(d, "k.pem");
    assert_eq!(first_line(&pem), "-----BEGIN EC PARAMETERS-----");
    let key = PrivateKey::from_pem(&pem).unwrap();
    assert_eq!(key.key_type(), KeyType::EcdsaP256);
    assert_eq!(key.public_key_spki(), openssl_spki(d, "k.pem"));
}

#[test]
fn pkcs8_keys_made_by_openssl_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: [(&[&str], KeyType); 3] = [
        (&["-algorithm", "ed25519"], KeyType::Ed25519),
        (
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
            KeyType::EcdsaP384,
        ),
        (
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            KeyType::Rsa2048,
        ),
    ];
    for (i, (opts, kt)) in cases.iter().enumerate() {
        let file = format!("k{i}.pem");
        let mut args = vec!["genpkey"];
        args.extend_from_slice(opts);
        args.extend_from_slice(&["-out", &file]);
        openssl_ok(d, &args);
        let pem = read(d, &file);
        assert_eq!(first_line(&pem), "-----BEGIN PRIVATE KEY-----");
        let key = PrivateKey::from_pem(&pem).unwrap_or_else(|e| panic!("{kt}: {e}"));
        assert_eq!(key.key_type(), *kt);
        assert_eq!(
            key.public_key_spki(),
            openssl_spki(d, &file),
            "{kt}: public key differs"
        );
    }
}

#[test]
fn our_keys_converted_to_traditional_form_by_openssl_read_back_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (kt, label) in [
        (KeyType::EcdsaP256, "EC PRIVATE KEY"),
        (KeyType::EcdsaP384, "EC PRIVATE KEY"),
        (KeyType::Rsa2048, "RSA PRIVATE KEY"),
    ] {
        let key = PrivateKey::generate(kt).unwrap();
        std::fs::write(d.join("pkcs8.pem"), key.to_pem().as_bytes()).unwrap();
        openssl_ok(
            d,
            &[
                "pkey",
                "-in",
                "pkcs8.pem",
                "-traditional",
                "-out",
                "trad.pem",
            ],
        );
        let pem = read(d, "trad.pem");
        assert_eq!(first_line(&pem), format!("-----BEGIN {label}-----"), "{kt}");
        let back = PrivateKey::from_pem(&pem).unwrap_or_else(|e| panic!("{kt}: {e}"));
        assert_eq!(back.key_type(), kt);
        assert_eq!(
            back.public_key_spki(),
            key.public_key_spki(),
            "{kt}: public key changed"
        );
    }
}

#[test]
fn pkcs8_encrypted_key_is_refused_as_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("k.pem"), common::p256().to_pem().as_bytes()).unwrap();
    openssl_ok(
        d,
        &[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-passout",
            "pass:x",
            "-in",
            "k.pem",
            "-out",
            "enc.pem",
        ],
    );
    let pem = read(d, "enc.pem");
    assert_eq!(first_line(&pem), "-----BEGIN ENCRYPTED PRIVATE KEY-----");
    let err = PrivateKey::from_pem(&pem).unwrap_err();
    assert!(matches!(err, Error::EncryptedKey), "{err:?}");
    assert!(err.to_string().contains("encrypted"), "{err}");
}

#[test]
fn legacy_encrypted_traditional_keys_are_refused_as_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl_ok(d, &["genrsa", "-traditional", "-out", "rsa.pem", "2048"]);
    openssl_ok(
        d,
        &[
            "rsa",
            "-in",
            "rsa.pem",
            "-traditional",
            "-aes256",
            "-passout",
            "pass:x",
            "-out",
            "rsa-enc.pem",
        ],
    );
    openssl_ok(
        d,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ec.pem",
        ],
    );
    openssl_ok(
        d,
        &[
            "ec",
            "-in",
            "ec.pem",
            "-aes256",
            "-passout",
            "pass:x",
            "-out",
            "ec-enc.pem",
        ],
    );
    for file in ["rsa-enc.pem", "ec-enc.pem"] {
        let pem = read(d, file);
        assert!(
            String::from_utf8_lossy(&pem).contains("Proc-Type: 4,ENCRYPTED"),
            "{file}"
        );
        let err = PrivateKey::from_pem(&pem).unwrap_err();
        assert!(matches!(err, Error::EncryptedKey), "{file}: {err:?}");
    }
}

#[test]
fn certificate_pem_given_as_key_is_refused_naming_the_certificate_block() {
    let ca = common::ca();
    let err = PrivateKey::from_pem(ca.cert_pem().as_bytes()).unwrap_err();
    match &err {
        Error::Pem { expected, reason } => {
            assert_eq!(*expected, "private key");
            assert!(reason.contains("CERTIFICATE"), "{reason}");
        }
        other => panic!("expected Error::Pem, got {other:?}"),
    }
    assert!(err.to_string().contains("CERTIFICATE"), "{err}");
}

#[test]
fn garbage_empty_and_truncated_input_is_refused_as_pem_error() {
    let key = common::p256();
    let good = key.to_pem();
    let cut_mid_block = &good.as_bytes()[..good.len() / 2];
    let cut_before_end = good.split("-----END").next().unwrap().as_bytes();
    let der = key.to_der();
    let bad_base64 = b"-----BEGIN PRIVATE KEY-----\n!!!not base64!!!\n-----END PRIVATE KEY-----\n";
    let cases: [(&str, &[u8]); 7] = [
        ("empty", b""),
        ("whitespace", b"  \n\n"),
        ("text", b"hello, I am not a key"),
        ("binary", &[0xff, 0x00, 0x13, 0x37, 0x80, 0x81]),
        ("DER instead of PEM", der.secret_der()),
        ("truncated in the middle", cut_mid_block),
        ("truncated before END", cut_before_end),
    ];
    for (what, input) in cases {
        let err = PrivateKey::from_pem(input).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Pem {
                    expected: "private key",
                    ..
                }
            ),
            "{what}: {err:?}"
        );
        // The error must never echo key material.
        assert!(!err.to_string().contains(&good[40..80]), "{what}: {err}");
    }
    let err = PrivateKey::from_pem(bad_base64).unwrap_err();
    assert!(matches!(err, Error::Pem { .. }), "bad base64: {err:?}");
    let empty = PrivateKey::from_pem(b"").unwrap_err().to_string();
    assert!(empty.contains("empty"), "{empty}");
}

#[test]
fn key_block_with_lines_missing_is_refused_as_pem_error() {
    // A key whose body lost its middle lines but kept both armour lines: valid base64, DER cut
    // short. That is a damaged file, not an unsupported algorithm.
    for kt in [KeyType::EcdsaP256, KeyType::Ed25519, KeyType::Rsa2048] {
        let good = PrivateKey::generate(kt).unwrap().to_pem();
        let lines: Vec<&str> = good.lines().collect();
        let damaged = if lines.len() > 3 {
            // drop a middle line of 64 base64 characters (a whole number of bytes)
            let mut l = lines.clone();
            l.remove(lines.len() / 2);
            l.join("\n")
        } else {
            // a one-line body: keep the first 32 characters (24 bytes)
            format!("{}\n{}\n{}\n", lines[0], &lines[1][..32], lines[2])
        };
        let err = PrivateKey::from_pem(damaged.as_bytes()).unwrap_err();
        assert!(matches!(err, Error::Pem { .. }), "{kt}: {err:?}");
    }
}

#[test]
fn keys_of_unsupported_kinds_are_refused_as_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl_ok(
        d,
        &[
            "ecparam",
            "-name",
            "secp256k1",
            "-genkey",
            "-noout",
            "-out",
            "k1.pem",
        ],
    );
    openssl_ok(d, &["genpkey", "-algorithm", "ed448", "-out", "ed448.pem"]);
    openssl_ok(
        d,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
            "-out",
            "rsa1024.pem",
        ],
    );
    openssl_ok(
        d,
        &[
            "pkey",
            "-in",
            "rsa1024.pem",
            "-traditional",
            "-out",
            "rsa1024-pkcs1.pem",
        ],
    );
    for file in ["k1.pem", "ed448.pem", "rsa1024.pem", "rsa1024-pkcs1.pem"] {
        let err = PrivateKey::from_pem(&read(d, file)).unwrap_err();
        assert!(
            matches!(err, Error::UnsupportedKey { .. }),
            "{file}: {err:?}"
        );
        if file.starts_with("rsa1024") {
            assert!(
                err.to_string().contains("smaller than 2048 bits"),
                "{file}: {err}"
            );
        }
    }
}

#[test]
fn debug_output_shows_the_key_type_but_no_key_material() {
    let key = PrivateKey::generate(KeyType::Ed25519).unwrap();
    let debug = format!("{key:?}");
    assert!(debug.contains("Ed25519"), "{debug}");
    let pem = key.to_pem();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!debug.contains(&body[..16]), "{debug}");
    assert!(debug.len() < 60, "{debug}");
}

#[test]
fn generated_ed25519_keys_are_pkcs8_v1_which_openssl_3_0_reads() {
    // PKCS#8 v2 (RFC 5958, with the public key appended) is unreadable for OpenSSL 3.0.
    let key = PrivateKey::generate(KeyType::Ed25519).unwrap();
    let der = key.to_der();
    let (rest, info) = x509_parser::der_parser::parse_der(der.secret_der()).unwrap();
    assert!(rest.is_empty());
    let fields = info.as_sequence().unwrap();
    assert_eq!(fields[0].as_u32().unwrap(), 0, "not a v1 PrivateKeyInfo");
    assert_eq!(
        fields.len(),
        3,
        "PrivateKeyInfo carries more than version, algorithm and key"
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k.pem"), key.to_pem().as_bytes()).unwrap();
    assert_eq!(openssl_spki(dir.path(), "k.pem"), key.public_key_spki());
}

#[test]
fn pkcs8_v2_ed25519_keys_from_other_tools_are_read() {
    use aws_lc_rs::signature::KeyPair;
    let v2 =
        aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
            .unwrap();
    let der = rustls_pki_types::PrivateKeyDer::Pkcs8(v2.as_ref().to_vec().into());
    let key = PrivateKey::from_der(&der).unwrap();
    assert_eq!(key.key_type(), KeyType::Ed25519);
    let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(v2.as_ref()).unwrap();
    assert!(key.public_key_spki().ends_with(pair.public_key().as_ref()));
}
