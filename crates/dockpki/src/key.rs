//! Key types and private keys.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
use rcgen::{PublicKeyData, RsaKeySize, SignatureAlgorithm};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{crypto, crypto_failure, Error, Result};

/// PBKDF2-HMAC-SHA256 iterations for encrypted keys: OWASP's 2023 recommendation. Paid once by
/// every encryption ([`PrivateKey::to_encrypted_pem`]) and every decryption
/// ([`PrivateKey::from_encrypted_pem`], [`crate::CertificateAuthority::load_encrypted`]).
///
/// # Cost, and the build setting it depends on
///
/// The key derivation runs in the RustCrypto `pbkdf2`, `hmac` and `sha2` crates (AWS-LC does
/// everything else), so its speed is the optimisation level those crates are compiled at.
/// Measured with a small timing program on a 2-core x86-64 machine (rustc 1.95), per
/// encryption or decryption:
///
/// | build | time |
/// |---|---|
/// | release | about 0.07 s (65–90 ms) |
/// | debug, with the workspace's `[profile.dev.package.*]` overrides | about 0.08 s |
/// | debug, without them (a plain `cargo build` of a program using dockpki) | about 6 s |
///
/// Cargo applies only the profiles of the workspace being built, so dockpki's overrides do not
/// reach a program that depends on it: a debug build of an embedder pays about 6 s per
/// encrypted-key operation until it copies them into its own root `Cargo.toml` (`opt-level = 3`
/// for `sha2`, `pbkdf2`, `hmac`, `digest`, `block-buffer`, `generic-array`, `crypto-common`,
/// `pkcs5`, `aes`, `cbc` and `cipher`), or optimises every dependency with
/// `[profile.dev.package."*"] opt-level = 3`. `docs/security.md` has the details.
pub const PBKDF2_ITERATIONS: u32 = 600_000;

/// The most PBKDF2 iterations an encrypted key may ask for: about 17 times
/// [`PBKDF2_ITERATIONS`], so about 1.2 s to decrypt when optimised (and some 100 s in an
/// unoptimised debug build; see [`PBKDF2_ITERATIONS`]). More is refused, since the count comes
/// from the file and a damaged or planted one could otherwise stall the program.
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

const ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";

/// The key algorithms dockpki generates, each one that Go's TLS stack (dockerd and the docker CLI)
/// and rustls accept on both sides of the connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyType {
    /// ECDSA on NIST P-256 with SHA-256: fast, small and universally supported.
    #[default]
    EcdsaP256,
    /// ECDSA on NIST P-384 with SHA-384.
    EcdsaP384,
    /// Ed25519.
    Ed25519,
    /// RSA with a 2048-bit modulus, PKCS#1 v1.5 SHA-256 signatures.
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    /// RSA with a 3072-bit modulus, PKCS#1 v1.5 SHA-256 signatures.
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    /// RSA with a 4096-bit modulus, PKCS#1 v1.5 SHA-256 signatures.
    #[serde(rename = "rsa-4096")]
    Rsa4096,
}

impl KeyType {
    /// Every key type, in the order they are documented.
    pub const ALL: [KeyType; 6] = [
        KeyType::EcdsaP256,
        KeyType::EcdsaP384,
        KeyType::Ed25519,
        KeyType::Rsa2048,
        KeyType::Rsa3072,
        KeyType::Rsa4096,
    ];

    /// The name used on the command line and in JSON, e.g. `ecdsa-p256`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
            KeyType::Ed25519 => "ed25519",
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa3072 => "rsa-3072",
            KeyType::Rsa4096 => "rsa-4096",
        }
    }

    /// Whether this is an RSA key type; RSA server keys also need keyUsage keyEncipherment.
    pub fn is_rsa(self) -> bool {
        matches!(self, KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096)
    }

    /// Whether generating a key of this type is slow (tens to hundreds of milliseconds), so that
    /// callers generating several should do it in parallel.
    pub fn is_slow_to_generate(self) -> bool {
        self.is_rsa()
    }

    fn signature_algorithm(self) -> &'static SignatureAlgorithm {
        match self {
            KeyType::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyType::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyType::Ed25519 => &rcgen::PKCS_ED25519,
            KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => &rcgen::PKCS_RSA_SHA256,
        }
    }

    fn rsa_from_bits(bits: usize) -> Result<KeyType> {
        match bits {
            2048 => Ok(KeyType::Rsa2048),
            3072 => Ok(KeyType::Rsa3072),
            4096 => Ok(KeyType::Rsa4096),
            other => Err(Error::UnsupportedKey {
                reason: format!("RSA key of {other} bits"),
            }),
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let wanted = s.trim().to_ascii_lowercase();
        KeyType::ALL
            .into_iter()
            .find(|k| k.as_str() == wanted)
            .ok_or_else(|| Error::UnknownKeyType {
                input: s.to_string(),
            })
    }
}

/// A private key with its public half.
///
/// The PKCS#8 encoding is zeroized when the value is dropped, and the backend (AWS-LC) cleanses
/// its own copies when it frees them. `Debug` shows the key type only.
pub struct PrivateKey {
    pair: rcgen::KeyPair,
    key_type: KeyType,
}

impl PrivateKey {
    /// Generates a fresh key from the operating system's CSPRNG.
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] when the backend cannot generate the key.
    pub fn generate(key_type: KeyType) -> Result<Self> {
        let alg = key_type.signature_algorithm();
        let pair = match key_type {
            KeyType::Rsa2048 => rcgen::KeyPair::generate_rsa_for(alg, RsaKeySize::_2048),
            KeyType::Rsa3072 => rcgen::KeyPair::generate_rsa_for(alg, RsaKeySize::_3072),
            KeyType::Rsa4096 => rcgen::KeyPair::generate_rsa_for(alg, RsaKeySize::_4096),
            KeyType::Ed25519 => {
                // rcgen writes Ed25519 keys as PKCS#8 v2 (with the public key), which OpenSSL 3.0
                // cannot read; v1 is what `openssl genpkey` writes and what every reader accepts.
                let doc = Ed25519KeyPair::generate_pkcs8v1(&aws_lc_rs::rand::SystemRandom::new())
                    .map_err(crypto)?;
                rcgen::KeyPair::try_from(doc.as_ref())
            }
            KeyType::EcdsaP256 | KeyType::EcdsaP384 => rcgen::KeyPair::generate_for(alg),
        }
        .map_err(crypto)?;
        Ok(PrivateKey { pair, key_type })
    }

    /// Generates several keys, in parallel when they are slow to make (RSA), so that a bootstrap
    /// waits for the slowest key rather than for the sum of them.
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] when any key cannot be generated.
    pub fn generate_many(key_types: &[KeyType]) -> Result<Vec<Self>> {
        if key_types.iter().filter(|k| k.is_slow_to_generate()).count() < 2 {
            return key_types.iter().map(|k| PrivateKey::generate(*k)).collect();
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = key_types
                .iter()
                .map(|k| scope.spawn(move || PrivateKey::generate(*k)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(crypto_failure("key generation thread panicked")))
                })
                .collect()
        })
    }

    /// Parses an unencrypted private key in PEM: PKCS#8 (`PRIVATE KEY`), PKCS#1
    /// (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`), the three forms dockerd and the docker CLI
    /// read. Encrypted keys are refused with [`Error::EncryptedKey`].
    ///
    /// # Errors
    ///
    /// - [`Error::EncryptedKey`] for an encrypted key (see [`PrivateKey::from_encrypted_pem`]).
    /// - [`Error::Pem`] when there is no private key block, or it is damaged.
    /// - [`Error::UnsupportedKey`] for a key dockpki does not use (an EC key on another curve,
    ///   RSA under 2048 or over 8192 bits, DSA, ...).
    pub fn from_pem(pem: &[u8]) -> Result<Self> {
        if Self::is_encrypted_pem(pem) {
            return Err(Error::EncryptedKey);
        }
        let der = PrivateKeyDer::from_pem_slice(pem).map_err(|e| Error::Pem {
            expected: "private key",
            reason: describe_pem_error(pem, &e),
        })?;
        Self::from_der(&der)
    }

    /// Parses a PKCS#8 `ENCRYPTED PRIVATE KEY` (PBES2, as written by [`PrivateKey::to_encrypted_pem`]
    /// or `openssl pkcs8 -topk8 -v2 aes-256-cbc`) with `passphrase`. A wrong passphrase is
    /// [`Error::WrongPassphrase`]; the decrypted DER lives only in zeroizing buffers.
    ///
    /// Costs one PBKDF2 derivation of the iterations the file names: about 0.07 s optimised
    /// for dockpki's own 600 000, about 6 s in a debug build without the profile overrides
    /// described at [`PBKDF2_ITERATIONS`].
    ///
    /// # Errors
    ///
    /// - [`Error::WrongPassphrase`] when the passphrase does not decrypt it (or the ciphertext is
    ///   damaged: PBES2 cannot tell the two apart).
    /// - [`Error::Pem`] when the input is not a PEM `ENCRYPTED PRIVATE KEY` or is damaged.
    /// - [`Error::UnsupportedKey`] for a scheme other than PBES2 with PBKDF2, more than
    ///   [`MAX_PBKDF2_ITERATIONS`], or a key type dockpki does not use.
    pub fn from_encrypted_pem(pem: &[u8], passphrase: &[u8]) -> Result<Self> {
        use pkcs8::der::Decode;
        let damaged = |reason: &str| Error::Pem {
            expected: "encrypted private key",
            reason: reason.into(),
        };
        let text = std::str::from_utf8(pem).map_err(|_| damaged("the file is not text"))?;
        let (label, doc) = pkcs8::SecretDocument::from_pem(text.trim())
            .map_err(|_| damaged("the PEM block is damaged or truncated"))?;
        if label != ENCRYPTED_LABEL {
            return Err(damaged(&format!("found a {label} block instead")));
        }
        let info = pkcs8::EncryptedPrivateKeyInfo::from_der(doc.as_bytes()).map_err(|_| {
            damaged(
                "the key block is damaged, or encrypted with a scheme other than PBES2 \
                 (re-encrypt it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`)",
            )
        })?;
        check_kdf(&info.encryption_algorithm)?;
        // PBES2 with CBC padding cannot tell a wrong passphrase from a damaged ciphertext; the
        // passphrase is by far the likelier cause, and both are refused before anything is
        // signed or written.
        let plain = info
            .decrypt(passphrase)
            .map_err(|_| Error::WrongPassphrase)?;
        let der = PrivatePkcs8KeyDer::from(plain.as_bytes());
        Self::from_der(&PrivateKeyDer::Pkcs8(der)).map_err(|_| Error::WrongPassphrase)
    }

    /// Encrypts the key under `passphrase` as PKCS#8 `ENCRYPTED PRIVATE KEY`: PBES2 with
    /// PBKDF2-HMAC-SHA256 ([`PBKDF2_ITERATIONS`] iterations, 16-byte random salt) and
    /// AES-256-CBC, which `openssl pkey -passin` reads. Leaf keys must stay unencrypted: dockerd
    /// and the docker CLI cannot read encrypted keys.
    ///
    /// Costs one PBKDF2 derivation: about 0.07 s optimised, about 6 s in a debug build without
    /// the profile overrides described at [`PBKDF2_ITERATIONS`].
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] when the random salt cannot be drawn or the backend fails to encrypt.
    pub fn to_encrypted_pem(&self, passphrase: &[u8]) -> Result<Zeroizing<String>> {
        use pkcs8::der::Decode;
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        aws_lc_rs::rand::fill(&mut salt).map_err(crypto)?;
        aws_lc_rs::rand::fill(&mut iv).map_err(crypto)?;
        let params =
            pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(PBKDF2_ITERATIONS, &salt, &iv)
                // pkcs5's error implements std::error::Error only with its `std` feature, which
                // pkcs8 does not turn on; its message is all there is to keep.
                .map_err(|e| crypto_failure(&e.to_string()))?;
        let der = Zeroizing::new(self.pair.serialize_der());
        let info = pkcs8::PrivateKeyInfo::from_der(&der).map_err(crypto)?;
        let doc = info
            .encrypt_with_params(params, passphrase)
            .map_err(crypto)?;
        doc.to_pem(ENCRYPTED_LABEL, pkcs8::LineEnding::LF)
            .map_err(crypto)
    }

    /// The key as a PKCS#8 `EncryptedPrivateKeyInfo` (DER) under `params` and `passphrase`: a
    /// PKCS#12 bundle's shrouded key bag.
    pub(crate) fn encrypted_pkcs8_der(
        &self,
        params: pkcs8::pkcs5::pbes2::Parameters<'_>,
        passphrase: &[u8],
    ) -> Result<pkcs8::SecretDocument> {
        use pkcs8::der::Decode;
        let der = Zeroizing::new(self.pair.serialize_der());
        pkcs8::PrivateKeyInfo::from_der(&der)
            .map_err(crypto)?
            .encrypt_with_params(params, passphrase)
            .map_err(crypto)
    }

    /// Whether `pem` holds an encrypted private key (PKCS#8 or legacy OpenSSL encryption).
    pub fn is_encrypted_pem(pem: &[u8]) -> bool {
        contains(pem, b"ENCRYPTED PRIVATE KEY") || contains(pem, b"Proc-Type: 4,ENCRYPTED")
    }

    /// Parses an unencrypted private key in DER (PKCS#8, PKCS#1 or SEC1).
    ///
    /// # Errors
    ///
    /// [`Error::Pem`] when the DER is damaged, [`Error::UnsupportedKey`] for a key dockpki does
    /// not use.
    pub fn from_der(der: &PrivateKeyDer<'_>) -> Result<Self> {
        let unusable = |what: &str| Error::Pem {
            expected: "private key",
            reason: format!("{what} could not be decoded"),
        };
        // A body that lost lines still decodes as base64 but its DER is cut short; report a
        // damaged file rather than an unsupported algorithm.
        let parsed = x509_parser::der_parser::parse_ber(der.secret_der());
        if !matches!(parsed, Ok((rest, _)) if rest.is_empty()) {
            return Err(Error::Pem {
                expected: "private key",
                reason: "the key block is damaged or truncated (lines missing?)".into(),
            });
        }
        // Normalise to PKCS#8 so that the key is written back in one form whatever it was read in.
        let pkcs8: Zeroizing<Vec<u8>> = match der {
            PrivateKeyDer::Pkcs8(p) => Zeroizing::new(p.secret_pkcs8_der().to_vec()),
            PrivateKeyDer::Pkcs1(p) => {
                let rsa = RsaKeyPair::from_der(p.secret_pkcs1_der()).map_err(|e| {
                    rsa_size_refused(&e).unwrap_or_else(|| unusable("RSA PRIVATE KEY"))
                })?;
                let doc = rsa.as_der().map_err(crypto)?;
                Zeroizing::new(doc.as_ref().to_vec())
            }
            PrivateKeyDer::Sec1(p) => {
                let sec1 = p.secret_sec1_der();
                let pair = [
                    &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                    &aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                ]
                .into_iter()
                .find_map(|alg| EcdsaKeyPair::from_private_key_der(alg, sec1).ok())
                .ok_or_else(|| Error::UnsupportedKey {
                    reason: "EC key on a curve other than P-256 or P-384".into(),
                })?;
                let doc = pair.to_pkcs8v1().map_err(crypto)?;
                Zeroizing::new(doc.as_ref().to_vec())
            }
            _ => return Err(unusable("key")),
        };
        let pkcs8_der = PrivatePkcs8KeyDer::from(pkcs8.as_slice());
        let pair = rcgen::KeyPair::try_from(&pkcs8_der).map_err(|_| {
            let rsa_refusal = RsaKeyPair::from_pkcs8(&pkcs8).err();
            rsa_refusal
                .as_ref()
                .and_then(rsa_size_refused)
                .unwrap_or_else(|| Error::UnsupportedKey {
                    reason: "not an ECDSA P-256/P-384, Ed25519 or RSA key".into(),
                })
        })?;
        let key_type = key_type_of(&pair, &pkcs8)?;
        Ok(PrivateKey { pair, key_type })
    }

    /// The key's algorithm.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), in a buffer that is zeroized on drop.
    pub fn to_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(self.pair.serialize_pem())
    }

    /// PKCS#8 DER for handing to rustls.
    pub fn to_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.pair.serialize_der()))
    }

    /// The DER SubjectPublicKeyInfo of the public half.
    pub fn public_key_spki(&self) -> Vec<u8> {
        self.pair.subject_public_key_info()
    }

    /// The raw public key: an uncompressed EC point, 32 Ed25519 bytes, or the RSAPublicKey DER,
    /// i.e. the contents of the certificate's subjectPublicKey bit string.
    pub(crate) fn public_key_raw(&self) -> &[u8] {
        self.pair.public_key_raw()
    }

    pub(crate) fn rcgen(&self) -> &rcgen::KeyPair {
        &self.pair
    }

    /// A second value holding the same key, for a certificate that reuses it. Not `Clone`, so
    /// that every copy of a key in memory is one the crate chose to make; the PKCS#8 passes
    /// through a zeroizing buffer only.
    pub(crate) fn duplicate(&self) -> Result<PrivateKey> {
        let der = Zeroizing::new(self.pair.serialize_der());
        let pair = rcgen::KeyPair::try_from(der.as_slice()).map_err(crypto)?;
        Ok(PrivateKey {
            pair,
            key_type: self.key_type,
        })
    }
}

impl Drop for PrivateKey {
    fn drop(&mut self) {
        self.pair.zeroize();
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("key_type", &self.key_type)
            .finish_non_exhaustive()
    }
}

/// Refuses key-derivation parameters that would make decryption hang: the iteration count is
/// part of the file, and a damaged or planted file could ask for four billion iterations (which
/// would also stall any fuzzer). Only PBKDF2 is read: it is what
/// `openssl pkcs8 -topk8 -v2 aes-256-cbc` and dockpki write.
fn check_kdf(scheme: &pkcs8::pkcs5::EncryptionScheme<'_>) -> Result<()> {
    use pkcs8::pkcs5::{pbes2::Kdf, EncryptionScheme};
    let unsupported = |reason: String| Err(Error::UnsupportedKey { reason });
    match scheme {
        EncryptionScheme::Pbes2(params) => match &params.kdf {
            Kdf::Pbkdf2(p) if p.iteration_count <= MAX_PBKDF2_ITERATIONS => Ok(()),
            Kdf::Pbkdf2(p) => unsupported(format!(
                "a key encrypted with {} PBKDF2 iterations (more than the {MAX_PBKDF2_ITERATIONS} dockpki accepts)",
                p.iteration_count
            )),
            _ => unsupported(
                "a key encrypted with scrypt (re-encrypt it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`)"
                    .into(),
            ),
        },
        _ => unsupported(
            "a key encrypted with legacy PBES1 (re-encrypt it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`)"
                .into(),
        ),
    }
}

/// The backend refuses RSA keys below 2048 or above 8192 bits; say that instead of calling the
/// key undecodable or not RSA.
fn rsa_size_refused(e: &aws_lc_rs::error::KeyRejected) -> Option<Error> {
    let reason = match e.description_() {
        "TooSmall" => "RSA key smaller than 2048 bits",
        "TooLarge" => "RSA key larger than 8192 bits",
        _ => return None,
    };
    Some(Error::UnsupportedKey {
        reason: reason.into(),
    })
}

fn key_type_of(pair: &rcgen::KeyPair, pkcs8: &[u8]) -> Result<KeyType> {
    let alg = pair.algorithm();
    if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
        Ok(KeyType::EcdsaP256)
    } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
        Ok(KeyType::EcdsaP384)
    } else if alg == &rcgen::PKCS_ED25519 {
        Ok(KeyType::Ed25519)
    } else if alg == &rcgen::PKCS_RSA_SHA256 {
        let rsa = RsaKeyPair::from_pkcs8(pkcs8).map_err(crypto)?;
        KeyType::rsa_from_bits(rsa.public_modulus_len() * 8)
    } else {
        Err(Error::UnsupportedKey {
            reason: "a key of an algorithm dockpki does not use".into(),
        })
    }
}

/// Turns a PEM parse failure into a sentence, naming what the input held instead where possible.
pub(crate) fn describe_pem_error(pem: &[u8], e: &rustls_pki_types::pem::Error) -> String {
    use rustls_pki_types::pem::Error as E;
    match e {
        E::NoItemsFound => match first_pem_label(pem) {
            Some(label) => format!("found a {label} block instead"),
            None if pem.is_empty() => "the input is empty".into(),
            None => "no PEM block found (is it DER, or truncated?)".into(),
        },
        E::MissingSectionEnd { .. } => "a PEM block is not terminated (truncated file?)".into(),
        E::IllegalSectionStart { .. } => "a PEM block header is malformed".into(),
        E::Base64Decode(_) => "a PEM block is not valid base64".into(),
        other => format!("{other}"),
    }
}

fn first_pem_label(pem: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(pem).ok()?;
    let start = text.find("-----BEGIN ")? + "-----BEGIN ".len();
    let end = text[start..].find("-----")?;
    Some(text[start..start + end].to_string())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::KeyType;

    #[test]
    fn json_names_of_key_types_are_the_command_line_names() {
        for kt in KeyType::ALL {
            let json = serde_json::to_string(&kt).unwrap();
            assert_eq!(json, format!("\"{}\"", kt.as_str()));
            assert_eq!(serde_json::from_str::<KeyType>(&json).unwrap(), kt);
            assert_eq!(kt.as_str().parse::<KeyType>().unwrap(), kt);
        }
    }
}
