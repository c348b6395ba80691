//! PKCS#12 (`.p12`/`.pfx`) bundles of a key, its certificate and the CA certificates, for
//! programs that import nothing else (browsers, Windows, Java).
//!
//! Written in the profile OpenSSL 3 writes by default, and only in it: the key in a
//! `pkcs8ShroudedKeyBag` and the certificates in an `encryptedData`, each under PBES2
//! (PBKDF2-HMAC-SHA256, AES-256-CBC), and the whole under an HMAC-SHA256 integrity MAC keyed
//! through the PKCS#12 KDF with SHA-256 (RFC 7292 appendix B). Never the legacy RC2-40 or 3DES
//! schemes (which `openssl pkcs12` reads only with `-legacy`), and never a default password.
//!
//! No crate in dockpki's dependency tree writes PKCS#12 with PBES2, so the few structures
//! are encoded here, in DER, from the pieces RustCrypto's `pkcs8`/`pkcs5` (PBES2) and AWS-LC
//! (SHA-256, HMAC, random numbers) provide; `openssl pkcs12` is the tests' outside judge.

use aws_lc_rs::{digest, hmac};
use pkcs8::der::Encode;
use pkcs8::ObjectIdentifier;
use rustls_pki_types::CertificateDer;
use zeroize::Zeroizing;

use crate::error::{crypto, crypto_failure, Result};
use crate::key::{PrivateKey, PBKDF2_ITERATIONS};

const ID_DATA: &str = "1.2.840.113549.1.7.1";
const ID_ENCRYPTED_DATA: &str = "1.2.840.113549.1.7.6";
const PKCS8_SHROUDED_KEY_BAG: &str = "1.2.840.113549.1.12.10.1.2";
const CERT_BAG: &str = "1.2.840.113549.1.12.10.1.3";
const X509_CERTIFICATE: &str = "1.2.840.113549.1.9.22.1";
const FRIENDLY_NAME: &str = "1.2.840.113549.1.9.20";
const LOCAL_KEY_ID: &str = "1.2.840.113549.1.9.21";
const SHA256: &str = "2.16.840.1.101.3.4.2.1";

/// Iterations of every key derivation in a bundle: the two PBES2 derivations and the MAC's
/// PKCS#12 KDF. The MAC is checked with the same password, so a cheaper MAC would be the
/// attacker's way in; all three cost the same as an encrypted CA key's.
pub const PKCS12_ITERATIONS: u32 = PBKDF2_ITERATIONS;

/// A PKCS#12 bundle of `key`, its certificate `chain[0]` and the other certificates of `chain`
/// (the CA certificates), encrypted under `passphrase` as the module describes. `name` becomes
/// the `friendlyName` of the key and its certificate (what Windows and browsers list), and the
/// certificate's SHA-256 their shared `localKeyId`, which pairs them for every importer.
///
/// The passphrase is used as its UTF-8 bytes for PBES2, as OpenSSL does, and as a BMPString for
/// the MAC, as RFC 7292 says.
///
/// # Errors
/// [`crate::Error::Crypto`] for an empty passphrase, an empty `chain`, or when random numbers
/// or encryption fail.
pub fn pkcs12_bundle(
    key: &PrivateKey,
    chain: &[CertificateDer<'_>],
    name: &str,
    passphrase: &str,
) -> Result<Zeroizing<Vec<u8>>> {
    if passphrase.is_empty() {
        return Err(crypto_failure(
            "a PKCS#12 bundle needs a non-empty passphrase",
        ));
    }
    let Some(leaf) = chain.first() else {
        return Err(crypto_failure(
            "a PKCS#12 bundle needs the key's certificate",
        ));
    };
    let key_id = digest::digest(&digest::SHA256, leaf.as_ref());
    let attributes = set_of(vec![
        seq(&[
            oid(FRIENDLY_NAME)?,
            set_of(vec![tlv(0x1e, &bmp_string(name, false))]),
        ]),
        seq(&[oid(LOCAL_KEY_ID)?, set_of(vec![tlv(0x04, key_id.as_ref())])]),
    ]);

    let cert_bags: Vec<Vec<u8>> = chain
        .iter()
        .enumerate()
        .map(|(i, cert)| {
            let bag = seq(&[oid(X509_CERTIFICATE)?, tlv(0xa0, &tlv(0x04, cert.as_ref()))]);
            let mut parts = vec![oid(CERT_BAG)?, tlv(0xa0, &bag)];
            if i == 0 {
                parts.push(attributes.clone());
            }
            Ok(seq(&parts))
        })
        .collect::<Result<_>>()?;
    let certs_plain = seq(&cert_bags);
    let (scheme, certs_encrypted) = {
        let (salt, iv) = (random::<16>()?, random::<16>()?);
        let params = pbes2_params(&salt, &iv)?;
        let encrypted = params
            .encrypt(passphrase.as_bytes(), &certs_plain)
            .map_err(|e| crypto_failure(&e.to_string()))?;
        let scheme = pkcs8::pkcs5::EncryptionScheme::from(params)
            .to_der()
            .map_err(crypto)?;
        (scheme, encrypted)
    };
    let certs_info = seq(&[
        oid(ID_ENCRYPTED_DATA)?,
        tlv(
            0xa0,
            &seq(&[
                integer(0),
                seq(&[oid(ID_DATA)?, scheme, tlv(0x80, &certs_encrypted)]),
            ]),
        ),
    ]);

    let shrouded = {
        let (salt, iv) = (random::<16>()?, random::<16>()?);
        key.encrypted_pkcs8_der(pbes2_params(&salt, &iv)?, passphrase.as_bytes())?
    };
    let key_bag = seq(&[
        oid(PKCS8_SHROUDED_KEY_BAG)?,
        tlv(0xa0, shrouded.as_bytes()),
        attributes,
    ]);
    let keys_info = seq(&[oid(ID_DATA)?, tlv(0xa0, &tlv(0x04, &seq(&[key_bag])))]);

    let auth_safe = seq(&[certs_info, keys_info]);
    let mac_salt = random::<32>()?;
    let mac_key = pkcs12_kdf(
        &bmp_string(passphrase, true),
        &mac_salt,
        3,
        PKCS12_ITERATIONS,
    );
    let mac = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, mac_key.as_slice()),
        &auth_safe,
    );
    let mac_data = seq(&[
        seq(&[
            seq(&[oid(SHA256)?, tlv(0x05, &[])]),
            tlv(0x04, mac.as_ref()),
        ]),
        tlv(0x04, &mac_salt),
        integer(PKCS12_ITERATIONS),
    ]);
    Ok(Zeroizing::new(seq(&[
        integer(3),
        seq(&[oid(ID_DATA)?, tlv(0xa0, &tlv(0x04, &auth_safe))]),
        mac_data,
    ])))
}

fn pbes2_params<'a>(
    salt: &'a [u8; 16],
    iv: &'a [u8; 16],
) -> Result<pkcs8::pkcs5::pbes2::Parameters<'a>> {
    pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(PKCS12_ITERATIONS, salt, iv)
        // pkcs5's error implements std::error::Error only with its `std` feature.
        .map_err(|e| crypto_failure(&e.to_string()))
}

fn random<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    aws_lc_rs::rand::fill(&mut bytes).map_err(crypto)?;
    Ok(bytes)
}

/// The PKCS#12 key derivation of RFC 7292 appendix B.2 with SHA-256 (u = 32, v = 64 bytes),
/// for `id` 3 (MAC key), giving 32 bytes: all an HMAC-SHA256 key needs.
fn pkcs12_kdf(password: &[u8], salt: &[u8], id: u8, iterations: u32) -> Zeroizing<Vec<u8>> {
    const V: usize = 64;
    let stretch = |s: &[u8]| -> Zeroizing<Vec<u8>> {
        let len = s.len().div_ceil(V) * V;
        Zeroizing::new(s.iter().copied().cycle().take(len).collect())
    };
    let mut input = stretch(salt);
    input.extend_from_slice(&stretch(password));
    let mut first = Zeroizing::new(vec![id; V]);
    first.extend_from_slice(&input);
    let mut a = Zeroizing::new(digest::digest(&digest::SHA256, &first).as_ref().to_vec());
    for _ in 1..iterations {
        *a = digest::digest(&digest::SHA256, &a).as_ref().to_vec();
    }
    // One block of output (32 bytes) is all that is needed, so the I-update step of the
    // algorithm, which only feeds later blocks, never runs.
    a
}

/// `s` as a BMPString's contents (UTF-16BE), with the two zero bytes RFC 7292 appends to a
/// password when `terminated`.
fn bmp_string(s: &str, terminated: bool) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(2 * s.len() + 2));
    for unit in s.encode_utf16() {
        out.extend_from_slice(&unit.to_be_bytes());
    }
    if terminated {
        out.extend_from_slice(&[0, 0]);
    }
    out
}

fn oid(dotted: &str) -> Result<Vec<u8>> {
    ObjectIdentifier::new(dotted)
        .map_err(|e| crypto_failure(&e.to_string()))?
        .to_der()
        .map_err(crypto)
}

/// A DER INTEGER of a non-negative value.
fn integer(value: u32) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(3);
    let mut content = bytes[start..].to_vec();
    if content[0] & 0x80 != 0 {
        content.insert(0, 0);
    }
    tlv(0x02, &content)
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// A DER SET OF: its elements sorted by their encodings.
fn set_of(mut parts: Vec<Vec<u8>>) -> Vec<u8> {
    parts.sort();
    tlv(0x31, &parts.concat())
}

/// A DER tag-length-value with a definite length.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let start = bytes
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(bytes.len() - 1);
        out.push(0x80 | (bytes.len() - start) as u8);
        out.extend_from_slice(&bytes[start..]);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_and_integers_encode_minimally() {
        assert_eq!(tlv(0x04, &[1, 2]), vec![0x04, 2, 1, 2]);
        assert_eq!(&tlv(0x04, &[0; 200])[..3], &[0x04, 0x81, 200]);
        assert_eq!(&tlv(0x04, &[0; 300])[..4], &[0x04, 0x82, 1, 44]);
        assert_eq!(integer(0), vec![0x02, 1, 0]);
        assert_eq!(integer(3), vec![0x02, 1, 3]);
        assert_eq!(integer(128), vec![0x02, 2, 0, 128]);
        assert_eq!(integer(600_000), vec![0x02, 3, 0x09, 0x27, 0xc0]);
    }

    #[test]
    fn a_password_is_utf16_big_endian_with_two_zero_bytes() {
        assert_eq!(&*bmp_string("aé", true), &[0, b'a', 0, 0xe9, 0, 0]);
        assert_eq!(&*bmp_string("a", false), &[0, b'a']);
    }
}
