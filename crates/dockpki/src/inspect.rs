//! Reading certificates: what is in them, in a form for humans and for `--json`.

pub use crate::time_format::format_time;
use std::net::IpAddr;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry as oids;
use x509_parser::prelude::FromDer;

use crate::constraints::NameConstraints;
use crate::error::{Error, Result};
use crate::fingerprint::Fingerprint;
use crate::key::{describe_pem_error, KeyType};

/// An extended key usage purpose found in a certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ExtendedKeyUsage {
    /// TLS server authentication (1.3.6.1.5.5.7.3.1).
    ServerAuth,
    /// TLS client authentication (1.3.6.1.5.5.7.3.2).
    ClientAuth,
    /// anyExtendedKeyUsage (2.5.29.37.0).
    Any,
    /// Any other purpose, by dotted OID.
    Other(String),
}

/// What a certificate says, as shown by `dockpki inspect`.
#[derive(Clone, Debug, Serialize)]
pub struct CertInfo {
    /// The subject distinguished name, e.g. `CN=docker.example.com`.
    pub subject: String,
    /// The subject's common name, if any.
    pub common_name: Option<String>,
    /// The issuer distinguished name.
    pub issuer: String,
    /// The serial number in lower-case hex.
    pub serial: String,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// DNS names among the SANs.
    pub dns_names: Vec<String>,
    /// IP addresses among the SANs.
    pub ip_addresses: Vec<IpAddr>,
    /// Whether the certificate has an extended key usage extension at all; Go and webpki treat
    /// a certificate without one as good for every purpose.
    pub has_extended_key_usage: bool,
    /// The extended key usage purposes.
    pub extended_key_usages: Vec<ExtendedKeyUsage>,
    /// The keyUsage bits by their RFC 5280 names.
    pub key_usages: Vec<String>,
    /// basicConstraints CA flag.
    pub is_ca: bool,
    /// basicConstraints path length limit.
    pub path_len: Option<u32>,
    /// Name constraints, when the certificate carries any.
    pub name_constraints: Option<NameConstraints>,
    /// The key type, when it is one dockpki knows.
    pub key_type: Option<KeyType>,
    /// A description of the public key, e.g. `ecdsa-p256` or `rsa-1024`.
    pub public_key: String,
    /// The signature algorithm's name, e.g. `ecdsa-with-SHA256`.
    pub signature_algorithm: String,
    /// SHA-256 over the DER certificate, upper-case hex with colons as openssl prints it: the
    /// text of [`CertInfo::fingerprint`], kept for display and JSON. Compare fingerprints
    /// through [`CertInfo::fingerprint`] (a [`Fingerprint`]), not as text. Serialised as
    /// `sha256`, the name every fingerprint has in dockpki's JSON.
    #[serde(rename = "sha256")]
    pub sha256_fingerprint: String,
    /// Subject key identifier, hex.
    pub subject_key_id: Option<String>,
    /// Authority key identifier, hex.
    pub authority_key_id: Option<String>,
    /// The typed fingerprint; not serialised, since `sha256_fingerprint` already is (as `sha256`).
    #[serde(skip)]
    fingerprint: Fingerprint,
}

impl CertInfo {
    /// The SHA-256 fingerprint of the certificate, computed from its DER.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// Whether the certificate is valid at `t`.
    pub fn is_valid_at(&self, t: OffsetDateTime) -> bool {
        self.not_before <= t && t <= self.not_after
    }

    /// Every SAN as text, DNS names first, then IP addresses.
    pub fn san_strings(&self) -> Vec<String> {
        self.dns_names
            .iter()
            .cloned()
            .chain(self.ip_addresses.iter().map(|i| i.to_string()))
            .collect()
    }

    /// Whole days from `t` until expiry; negative once expired.
    pub fn days_left(&self, t: OffsetDateTime) -> i64 {
        (self.not_after - t).whole_days()
    }
}

/// Parses every certificate in a PEM input. Fails when there is none, naming what was found
/// instead (a private key, say), or when one is not valid X.509.
///
/// # Errors
///
/// [`Error::Pem`], saying which of the two it was.
pub fn certs_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let mut certs = Vec::new();
    for item in CertificateDer::pem_slice_iter(pem) {
        let der = item.map_err(|e| Error::Pem {
            expected: "certificate",
            reason: describe_pem_error(pem, &e),
        })?;
        parse(&der).map_err(|_| Error::Pem {
            expected: "certificate",
            reason: format!("certificate #{} is not valid X.509", certs.len() + 1),
        })?;
        certs.push(der);
    }
    if certs.is_empty() {
        return Err(Error::Pem {
            expected: "certificate",
            reason: describe_pem_error(pem, &rustls_pki_types::pem::Error::NoItemsFound),
        });
    }
    Ok(certs)
}

/// How a file of certificates or keys is encoded, judged by its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Text with `-----BEGIN ...-----` blocks.
    Pem,
    /// One binary DER structure (`openssl x509 -outform DER`, a `.crt`/`.cer` from Windows).
    Der,
}

/// What a file holds: certificates (a bundle's every one) or one private key.
#[derive(Debug)]
pub enum Decoded {
    /// Every certificate, in order.
    Certificates(Vec<CertificateDer<'static>>),
    /// A private key.
    PrivateKey(crate::key::PrivateKey),
}

/// Reads certificates or a private key in PEM or DER, telling the two apart by content: PEM
/// when the input holds a `-----BEGIN ` line, DER otherwise (a DER certificate or key starts
/// with a SEQUENCE tag and holds no such text). PEM holding a private key and no certificate is
/// a key; any other PEM must hold certificates. DER is tried as one certificate, then as one
/// unencrypted private key (PKCS#8, PKCS#1 or SEC1).
///
/// # Errors
/// As [`certs_from_pem`] and [`PrivateKey::from_pem`](crate::PrivateKey::from_pem) for PEM;
/// [`Error::Pem`] for DER that is neither a certificate nor a key, or for a DER key dockpki
/// does not use ([`Error::UnsupportedKey`]).
pub fn decode_pem_or_der(bytes: &[u8]) -> Result<(Encoding, Decoded)> {
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    if has(b"-----BEGIN ") {
        let decoded = if has(b"PRIVATE KEY-----") && !has(b"BEGIN CERTIFICATE") {
            Decoded::PrivateKey(crate::key::PrivateKey::from_pem(bytes)?)
        } else {
            Decoded::Certificates(certs_from_pem(bytes)?)
        };
        return Ok((Encoding::Pem, decoded));
    }
    let cert = CertificateDer::from(bytes.to_vec());
    if parse(&cert).is_ok() {
        return Ok((Encoding::Der, Decoded::Certificates(vec![cert])));
    }
    if let Ok(key) = rustls_pki_types::PrivateKeyDer::try_from(bytes) {
        return Ok((
            Encoding::Der,
            Decoded::PrivateKey(crate::key::PrivateKey::from_der(&key)?),
        ));
    }
    if bytes.is_empty() {
        return Err(Error::Pem {
            expected: "certificate or private key",
            reason: "the input is empty".into(),
        });
    }
    Err(Error::Pem {
        expected: "certificate or private key",
        reason:
            "the input is neither PEM (no -----BEGIN line) nor a DER certificate or private key"
                .into(),
    })
}

/// Encodes a DER certificate as PEM.
pub fn cert_to_pem(der: &CertificateDer<'_>) -> String {
    let block = pem::Pem::new("CERTIFICATE", der.as_ref().to_vec());
    pem::encode_config(
        &block,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

pub(crate) fn parse<'a>(der: &'a CertificateDer<'_>) -> Result<X509Certificate<'a>> {
    match X509Certificate::from_der(der.as_ref()) {
        Ok(([], cert)) => Ok(cert),
        _ => Err(Error::Pem {
            expected: "certificate",
            reason: "not valid X.509".into(),
        }),
    }
}

/// Describes a DER certificate.
///
/// ```
/// use dockpki::{inspect, CaOptions, CertificateAuthority, OffsetDateTime};
/// let now = OffsetDateTime::now_utc();
/// let ca = CertificateAuthority::create(&CaOptions::new(now)?, now)?;
/// let info = inspect(ca.cert_der())?;
/// assert!(info.is_ca);
/// assert_eq!(info.fingerprint(), dockpki::Fingerprint::of(ca.cert_der()));
/// # Ok::<(), dockpki::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::Pem`] when `der` is not an X.509 certificate or its dates are out of range.
pub fn inspect(der: &CertificateDer<'_>) -> Result<CertInfo> {
    let cert = parse(der)?;
    let mut dns_names = Vec::new();
    let mut ip_addresses = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => dns_names.push(d.to_string()),
                GeneralName::IPAddress(b) => {
                    if let Some(ip) = ip_from_bytes(b) {
                        ip_addresses.push(ip);
                    }
                }
                _ => {}
            }
        }
    }
    let (has_extended_key_usage, extended_key_usages) = match cert.extended_key_usage() {
        Ok(Some(eku)) => {
            let e = eku.value;
            let mut v = Vec::new();
            if e.server_auth {
                v.push(ExtendedKeyUsage::ServerAuth);
            }
            if e.client_auth {
                v.push(ExtendedKeyUsage::ClientAuth);
            }
            if e.any {
                v.push(ExtendedKeyUsage::Any);
            }
            let named = [
                (e.code_signing, "1.3.6.1.5.5.7.3.3"),
                (e.email_protection, "1.3.6.1.5.5.7.3.4"),
                (e.time_stamping, "1.3.6.1.5.5.7.3.8"),
                (e.ocsp_signing, "1.3.6.1.5.5.7.3.9"),
            ];
            v.extend(
                named
                    .iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, oid)| ExtendedKeyUsage::Other((*oid).into())),
            );
            v.extend(
                e.other
                    .iter()
                    .map(|o| ExtendedKeyUsage::Other(o.to_id_string())),
            );
            (true, v)
        }
        _ => (false, Vec::new()),
    };
    let key_usages = match cert.key_usage() {
        Ok(Some(ku)) => {
            let k = ku.value;
            [
                (k.digital_signature(), "digitalSignature"),
                (k.non_repudiation(), "nonRepudiation"),
                (k.key_encipherment(), "keyEncipherment"),
                (k.data_encipherment(), "dataEncipherment"),
                (k.key_agreement(), "keyAgreement"),
                (k.key_cert_sign(), "keyCertSign"),
                (k.crl_sign(), "cRLSign"),
                (k.encipher_only(), "encipherOnly"),
                (k.decipher_only(), "decipherOnly"),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| (*name).to_string())
            .collect()
        }
        _ => Vec::new(),
    };
    let (is_ca, path_len) = match cert.basic_constraints() {
        Ok(Some(bc)) => (bc.value.ca, bc.value.path_len_constraint),
        _ => (false, None),
    };
    let nc = NameConstraints::from_x509(&cert);
    let (key_type, public_key) = describe_public_key(&cert);
    let registry = x509_parser::objects::oid_registry();
    let sig_oid = &cert.signature_algorithm.algorithm;
    let signature_algorithm = x509_parser::objects::oid2sn(sig_oid, registry)
        .map(str::to_string)
        .unwrap_or_else(|_| sig_oid.to_id_string());
    let ski = cert
        .iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => Some(hex(k.0, "")),
            _ => None,
        });
    let aki = cert
        .iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| hex(k.0, ""))
            }
            _ => None,
        });
    let fingerprint = Fingerprint::of(der);
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string);
    Ok(CertInfo {
        subject: cert.subject().to_string(),
        common_name,
        issuer: cert.issuer().to_string(),
        serial: hex(cert.raw_serial(), ""),
        not_before: to_time(cert.validity().not_before.timestamp())?,
        not_after: to_time(cert.validity().not_after.timestamp())?,
        dns_names,
        ip_addresses,
        has_extended_key_usage,
        extended_key_usages,
        key_usages,
        is_ca,
        path_len,
        name_constraints: (!nc.is_empty()).then_some(nc),
        key_type,
        public_key,
        signature_algorithm,
        sha256_fingerprint: fingerprint.to_string(),
        subject_key_id: ski,
        authority_key_id: aki,
        fingerprint,
    })
}

fn describe_public_key(cert: &X509Certificate<'_>) -> (Option<KeyType>, String) {
    describe_spki(cert.public_key())
}

/// The key type dockpki calls a SubjectPublicKeyInfo, if it is one dockpki issues, and a name
/// for it either way.
pub(crate) fn describe_spki(
    spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>,
) -> (Option<KeyType>, String) {
    let alg = &spki.algorithm.algorithm;
    if *alg == oids::OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        return match curve {
            Some(c) if c == oids::OID_EC_P256 => (Some(KeyType::EcdsaP256), "ecdsa-p256".into()),
            Some(c) if c == oids::OID_NIST_EC_P384 => {
                (Some(KeyType::EcdsaP384), "ecdsa-p384".into())
            }
            Some(c) => (None, format!("ecdsa ({})", c.to_id_string())),
            None => (None, "ecdsa (unknown curve)".into()),
        };
    }
    if *alg == oids::OID_SIG_ED25519 {
        return (Some(KeyType::Ed25519), "ed25519".into());
    }
    if *alg == oids::OID_PKCS1_RSAENCRYPTION {
        return match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => {
                let bits = rsa.key_size();
                let kt = match bits {
                    2048 => Some(KeyType::Rsa2048),
                    3072 => Some(KeyType::Rsa3072),
                    4096 => Some(KeyType::Rsa4096),
                    _ => None,
                };
                (kt, format!("rsa-{bits}"))
            }
            _ => (None, "rsa (unparsable)".into()),
        };
    }
    (None, alg.to_id_string())
}

pub(crate) fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(b).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(b).ok()?)),
        _ => None,
    }
}

fn to_time(unix: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(unix).map_err(|_| Error::Pem {
        expected: "certificate",
        reason: "validity date out of range".into(),
    })
}

pub(crate) fn hex(bytes: &[u8], sep: &str) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(sep)
}

#[cfg(test)]
mod decode_tests {
    use super::*;
    use crate::{CaOptions, CertificateAuthority, KeyType, PrivateKey};

    #[test]
    fn pem_and_der_certificates_and_keys_are_told_apart_by_content() {
        let now = OffsetDateTime::now_utc();
        let ca = CertificateAuthority::create(&CaOptions::new(now).unwrap(), now).unwrap();
        let der = ca.cert_der().as_ref().to_vec();
        match decode_pem_or_der(&der).unwrap() {
            (Encoding::Der, Decoded::Certificates(c)) => assert_eq!(c, vec![ca.cert_der().clone()]),
            other => panic!("{other:?}"),
        }
        match decode_pem_or_der(ca.cert_pem().as_bytes()).unwrap() {
            (Encoding::Pem, Decoded::Certificates(c)) => assert_eq!(c.len(), 1),
            other => panic!("{other:?}"),
        }
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        match decode_pem_or_der(key.to_der().secret_der()).unwrap() {
            (Encoding::Der, Decoded::PrivateKey(k)) => assert_eq!(k.key_type(), KeyType::EcdsaP256),
            other => panic!("{other:?}"),
        }
        match decode_pem_or_der(key.to_pem().as_bytes()).unwrap() {
            (Encoding::Pem, Decoded::PrivateKey(_)) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn input_that_is_neither_is_one_error_saying_so() {
        assert!(decode_pem_or_der(b"")
            .unwrap_err()
            .to_string()
            .contains("the input is empty"));
        for junk in [&b"hello world\n"[..], &[0x30, 0x82, 0x01, 0x00, 1, 2, 3]] {
            let e = decode_pem_or_der(junk).unwrap_err().to_string();
            assert!(e.contains("neither PEM"), "{junk:?}: {e}");
        }
    }
}
