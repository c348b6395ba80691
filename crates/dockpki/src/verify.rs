//! Verifying certificates the way the two programs that matter do: Go's `crypto/x509` inside
//! dockerd and the docker CLI, and rustls/webpki.
//!
//! webpki does the chain, signature, validity, EKU and name checks. Go is stricter in two places
//! that webpki leaves alone, and those are checked here too: a server certificate must carry SANs
//! even when no host is named (Go ignores the common name), and an extended key usage on the CA
//! itself must allow the leaf's purpose (Go nests EKUs down the chain).

use std::fmt;
use std::time::Duration;

use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde::Serialize;
use time::OffsetDateTime;

use crate::inspect::{self, format_time, ExtendedKeyUsage};
use crate::key::PrivateKey;
use crate::san::SubjectAltName;

// DER contents of the two EKU OIDs, as webpki's `KeyUsage::required` wants them.
const EKU_SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
const EKU_CLIENT_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];

/// What a leaf certificate is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Usage {
    /// The daemon's certificate: EKU serverAuth, SANs for every address clients dial.
    Server,
    /// A client's certificate: EKU clientAuth.
    Client,
}

impl Usage {
    /// `server` or `client`.
    pub fn as_str(self) -> &'static str {
        match self {
            Usage::Server => "server",
            Usage::Client => "client",
        }
    }

    fn eku_name(self) -> &'static str {
        match self {
            Usage::Server => "serverAuth",
            Usage::Client => "clientAuth",
        }
    }

    fn eku(self) -> ExtendedKeyUsage {
        match self {
            Usage::Server => ExtendedKeyUsage::ServerAuth,
            Usage::Client => ExtendedKeyUsage::ClientAuth,
        }
    }

    fn webpki(self) -> webpki::KeyUsage {
        match self {
            Usage::Server => webpki::KeyUsage::required(EKU_SERVER_AUTH),
            Usage::Client => webpki::KeyUsage::required(EKU_CLIENT_AUTH),
        }
    }
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a certificate did not verify. Each message says what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// The certificate or input could not be parsed; the text says why, as a sentence.
    Malformed(String),
    /// The certificate is larger than webpki (and so rustls and dockpki) can parse: its signed
    /// part must fit in 64 KiB, which thousands of SANs overflow.
    TooLarge {
        /// The size of the DER certificate.
        bytes: usize,
    },
    /// The bundle holds no usable CA certificate.
    EmptyBundle,
    /// Past notAfter.
    Expired {
        /// When it expired.
        not_after: OffsetDateTime,
    },
    /// Before notBefore.
    NotYetValid {
        /// When it becomes valid.
        not_before: OffsetDateTime,
    },
    /// Not signed by any CA in the bundle.
    UnknownIssuer {
        /// The issuer named in the certificate.
        issuer: String,
    },
    /// The EKU extension does not allow this use.
    WrongUsage {
        /// The use that was asked for.
        usage: Usage,
    },
    /// The CA in the chain carries an EKU extension without the leaf's purpose; Go refuses that.
    CaForbidsUsage {
        /// The use that was asked for.
        usage: Usage,
    },
    /// A server certificate without any SAN; Go does not look at the common name.
    NoSans,
    /// The SANs do not cover the host that is dialled.
    NameMismatch {
        /// The host that was checked.
        host: String,
        /// The names the certificate does carry.
        sans: Vec<String>,
    },
    /// A CA certificate was presented as a leaf.
    CaUsedAsLeaf,
    /// The signature does not verify.
    BadSignature,
    /// A signature algorithm or key that is refused (SHA-1, RSA under 2048 bits, ...).
    UnsupportedAlgorithm,
    /// A SAN outside the CA's name constraints.
    NameConstraintViolation,
    /// Any other refusal by the verifier.
    Other(String),
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Malformed(why) => write!(f, "certificate could not be parsed: {why}"),
            VerifyError::TooLarge { bytes } => write!(
                f,
                "certificate could not be parsed: it is {bytes} bytes, and webpki (the verifier of rustls, which dockpki uses) reads at most 64 KiB; issue it with fewer SANs (a wildcard such as *.example.com covers many names)"
            ),
            VerifyError::EmptyBundle => write!(f, "the CA bundle holds no CA certificate; point to the CA's ca.pem"),
            VerifyError::Expired { not_after } => {
                write!(f, "certificate expired at {}; issue a new one", format_time(*not_after))
            }
            VerifyError::NotYetValid { not_before } => write!(
                f,
                "certificate is not valid before {}; check this machine's clock",
                format_time(*not_before)
            ),
            VerifyError::UnknownIssuer { issuer } => write!(
                f,
                "certificate was issued by {issuer:?}, which is not in the CA bundle; install the matching ca.pem or re-issue from this CA"
            ),
            VerifyError::WrongUsage { usage } => write!(
                f,
                "certificate lacks extended key usage {} needed for a {usage} certificate; issue a {usage} certificate",
                usage.eku_name()
            ),
            VerifyError::CaForbidsUsage { usage } => write!(
                f,
                "the CA's own extended key usage does not include {}, so Go refuses its {usage} certificates; use a CA without an EKU extension",
                usage.eku_name()
            ),
            VerifyError::NoSans => write!(
                f,
                "server certificate has no SANs and Go ignores the common name; re-issue it with --san for every name and IP clients dial"
            ),
            VerifyError::NameMismatch { host, sans } => write!(
                f,
                "certificate SANs [{}] do not cover {host}; re-issue the server certificate with --san {host}",
                sans.join(", ")
            ),
            VerifyError::CaUsedAsLeaf => write!(f, "a CA certificate is used as a leaf; install the server or client certificate instead"),
            VerifyError::BadSignature => write!(f, "the certificate's signature does not verify; the file is corrupt or was tampered with"),
            VerifyError::UnsupportedAlgorithm => write!(
                f,
                "the certificate uses a refused algorithm (SHA-1, or RSA below 2048 bits); re-issue it with dockpki"
            ),
            VerifyError::NameConstraintViolation => write!(f, "a SAN lies outside the CA's name constraints; re-issue with permitted names"),
            VerifyError::Other(why) => write!(f, "certificate refused: {why}"),
        }
    }
}

impl std::error::Error for VerifyError {}

/// The signature algorithms rustls accepts with the aws-lc-rs provider: no SHA-1, RSA from 2048
/// bits, ECDSA P-256/P-384, Ed25519.
fn algorithms() -> &'static [&'static dyn rustls_pki_types::SignatureVerificationAlgorithm] {
    crate::tls::provider().signature_verification_algorithms.all
}

/// [`algorithms`], each taking a signature as made by the key it names
/// ([`Signatures::TrustOwn`]): the same algorithm identifiers, so a signature algorithm dockpki
/// refuses is still refused, without the math.
fn own_signature_algorithms(
) -> &'static [&'static dyn rustls_pki_types::SignatureVerificationAlgorithm] {
    type Algorithm = &'static dyn rustls_pki_types::SignatureVerificationAlgorithm;
    static WRAPPED: std::sync::OnceLock<Vec<TakenAsMade>> = std::sync::OnceLock::new();
    static OWN: std::sync::OnceLock<Vec<Algorithm>> = std::sync::OnceLock::new();
    OWN.get_or_init(|| {
        WRAPPED
            .get_or_init(|| algorithms().iter().map(|&real| TakenAsMade(real)).collect())
            .iter()
            .map(|wrapped| wrapped as Algorithm)
            .collect()
    })
}

/// A signature algorithm that accepts every signature of its kind: see
/// [`own_signature_algorithms`].
#[derive(Debug)]
struct TakenAsMade(&'static dyn rustls_pki_types::SignatureVerificationAlgorithm);

impl rustls_pki_types::SignatureVerificationAlgorithm for TakenAsMade {
    fn verify_signature(
        &self,
        _public_key: &[u8],
        _message: &[u8],
        _signature: &[u8],
    ) -> Result<(), rustls_pki_types::InvalidSignature> {
        Ok(())
    }

    fn public_key_alg_id(&self) -> rustls_pki_types::AlgorithmIdentifier {
        self.0.public_key_alg_id()
    }

    fn signature_alg_id(&self) -> rustls_pki_types::AlgorithmIdentifier {
        self.0.signature_alg_id()
    }

    fn fips(&self) -> bool {
        self.0.fips()
    }
}

fn unix_time(t: OffsetDateTime) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(
        u64::try_from(t.unix_timestamp()).unwrap_or(0),
    ))
}

/// Verifies `leaf` against the CAs in `bundle` for `usage` at time `at`; with `host`, also that
/// a server certificate's SANs cover it. The EKU extension is required, not merely allowed to be
/// absent: dockpki only accepts leaves that state their purpose.
///
/// # Errors
///
/// The [`VerifyError`] that says why the certificate is refused: among others
/// [`VerifyError::UnknownIssuer`], [`VerifyError::Expired`], [`VerifyError::WrongUsage`],
/// [`VerifyError::NameMismatch`], and [`VerifyError::EmptyBundle`] when `bundle` holds no usable
/// CA.
pub fn verify_leaf(
    leaf: &CertificateDer<'_>,
    bundle: &[CertificateDer<'_>],
    usage: Usage,
    host: Option<&SubjectAltName>,
    at: OffsetDateTime,
) -> Result<(), VerifyError> {
    verify_leaf_as(leaf, bundle, usage, host, at, Signatures::Verify, None).map(drop)
}

/// Whether [`verify_leaf_as`] checks the signatures it meets, or everything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signatures {
    /// Every signature on the path is verified: what any certificate from outside needs.
    Verify,
    /// Signatures are taken as made by the key they name (their algorithm must still be one
    /// dockpki accepts); every other rule (issuer, validity, key usage, EKU, name constraints,
    /// SANs) is checked. Only for a certificate this process has just signed with a CA key
    /// that has already been seen to make signatures that verify
    /// ([`crate::CertificateAuthority::sign`]): the signature math is most of the cost of the
    /// check, and it cannot tell that signer anything new. It carries the evidence, which only
    /// a CA value whose own signature has verified hands out, so that no other caller in this
    /// crate (which also verifies certificates from outside) can ask for it.
    TrustOwn(crate::ca::ProvenKey),
}

/// [`verify_leaf`], returning what the leaf says, with the choice of [`Signatures`]; `anchor`
/// is what the bundle's CA says when the caller already knows it (else it is read from the
/// bundle).
pub(crate) fn verify_leaf_as(
    leaf: &CertificateDer<'_>,
    bundle: &[CertificateDer<'_>],
    usage: Usage,
    host: Option<&SubjectAltName>,
    at: OffsetDateTime,
    signatures: Signatures,
    anchor: Option<&inspect::CertInfo>,
) -> Result<inspect::CertInfo, VerifyError> {
    let info = inspect::inspect(leaf).map_err(|e| {
        VerifyError::Malformed(match e {
            // "expected a PEM certificate" would be wrong here: this is DER.
            crate::Error::Pem { reason, .. } => reason,
            other => other.to_string(),
        })
    })?;
    let anchors = bundle
        .iter()
        .filter_map(|c| webpki::anchor_from_trusted_cert(c).ok())
        .collect::<Vec<_>>();
    if anchors.is_empty() {
        return Err(VerifyError::EmptyBundle);
    }
    let ee = webpki::EndEntityCert::try_from(leaf).map_err(|e| {
        // webpki reads the signed part of a certificate with a two-byte length at most, and
        // reports a larger one as `TrailingData`; x509-parser (inspect, above) has no such limit.
        if leaf.len() > MAX_DER_SEQUENCE {
            VerifyError::TooLarge { bytes: leaf.len() }
        } else {
            VerifyError::Malformed(describe(&e))
        }
    })?;
    let path = ee
        .verify_for_usage(
            match signatures {
                Signatures::Verify => algorithms(),
                Signatures::TrustOwn(_) => own_signature_algorithms(),
            },
            &anchors,
            &[],
            unix_time(at),
            usage.webpki(),
            None,
            None,
        )
        .map_err(|e| map_error(e, &info, usage))?;

    let anchor_info = match anchor {
        Some(known) => Some(std::borrow::Cow::Borrowed(known)),
        None => {
            // The anchor holds the subject's contents without the outer SEQUENCE header, so
            // match the bundle certificate through webpki's own view of it (subject and key).
            let anchor = path.anchor();
            bundle
                .iter()
                .find(|c| {
                    webpki::anchor_from_trusted_cert(c).is_ok_and(|a| {
                        a.subject.as_ref() == anchor.subject.as_ref()
                            && a.subject_public_key_info.as_ref()
                                == anchor.subject_public_key_info.as_ref()
                    })
                })
                .and_then(|c| inspect::inspect(c).ok())
                .map(std::borrow::Cow::Owned)
        }
    };
    if let Some(ca) = anchor_info {
        if ca.has_extended_key_usage
            && !ca.extended_key_usages.contains(&usage.eku())
            && !ca.extended_key_usages.contains(&ExtendedKeyUsage::Any)
        {
            return Err(VerifyError::CaForbidsUsage { usage });
        }
    }

    if usage == Usage::Server {
        if info.dns_names.is_empty() && info.ip_addresses.is_empty() {
            return Err(VerifyError::NoSans);
        }
        if let Some(host) = host {
            let name = match host {
                SubjectAltName::Ip(ip) => ServerName::IpAddress((*ip).into()),
                SubjectAltName::Dns(d) => ServerName::try_from(d.as_str()).map_err(|_| {
                    VerifyError::Other(format!(
                        "{d} is not a host name a client can dial (a wildcard is not); give the name clients dial"
                    ))
                })?,
            };
            ee.verify_is_valid_for_subject_name(&name)
                .map_err(|_| VerifyError::NameMismatch {
                    host: host.to_string(),
                    sans: info.san_strings(),
                })?;
        }
    }
    Ok(info)
}

fn map_error(e: webpki::Error, info: &inspect::CertInfo, usage: Usage) -> VerifyError {
    use webpki::Error as E;
    match e {
        E::CertExpired { .. } => VerifyError::Expired {
            not_after: info.not_after,
        },
        E::CertNotValidYet { .. } => VerifyError::NotYetValid {
            not_before: info.not_before,
        },
        E::UnknownIssuer => VerifyError::UnknownIssuer {
            issuer: info.issuer.clone(),
        },
        E::RequiredEkuNotFoundContext(_) | E::EmptyEkuExtension => {
            VerifyError::WrongUsage { usage }
        }
        E::CaUsedAsEndEntity => VerifyError::CaUsedAsLeaf,
        E::InvalidSignatureForPublicKey => VerifyError::BadSignature,
        E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            VerifyError::UnsupportedAlgorithm
        }
        E::NameConstraintViolation => VerifyError::NameConstraintViolation,
        other => VerifyError::Other(describe(&other)),
    }
}

/// The largest DER SEQUENCE webpki parses (a two-byte length), and so about the largest
/// certificate.
const MAX_DER_SEQUENCE: usize = 0xffff;

/// A webpki error as a sentence about the certificate. webpki's own `Display` is its `Debug`
/// (`TrailingData(SignedData)`), which tells an operator nothing.
fn describe(e: &webpki::Error) -> String {
    use webpki::Error as E;
    match e {
        E::BadDer | E::TrailingData(_) => {
            "its DER encoding is damaged (cut short, or with bytes past its end)".into()
        }
        E::BadDerTime | E::InvalidCertValidity => "its validity dates are invalid".into(),
        E::UnsupportedCertVersion => "it is not an X.509 version 3 certificate".into(),
        E::UnsupportedCriticalExtension => {
            "it has a critical extension the verifier does not know, so it must be refused".into()
        }
        E::MalformedExtensions | E::ExtensionValueInvalid => {
            "one of its extensions is malformed".into()
        }
        E::MalformedNameConstraint | E::InvalidNetworkMaskConstraint => {
            "its name constraints are malformed".into()
        }
        E::MalformedDnsIdentifier => "a DNS name in it is malformed".into(),
        E::UnsupportedNameType => "it carries a kind of name the verifier does not support".into(),
        E::InvalidSerialNumber => {
            "its serial number is invalid (zero, negative or longer than 20 bytes)".into()
        }
        E::EndEntityUsedAsCa => "a leaf certificate stands where a CA must".into(),
        E::PathLenConstraintViolated => "the chain is longer than a CA's path length allows".into(),
        E::MaximumPathDepthExceeded
        | E::MaximumPathBuildCallsExceeded
        | E::MaximumSignatureChecksExceeded
        | E::MaximumNameConstraintComparisonsExceeded => {
            "the chain is too long or too complex to check".into()
        }
        E::SignatureAlgorithmMismatch => {
            "its signature algorithm differs from the one it declares".into()
        }
        E::CertRevoked => "it is revoked".into(),
        other => format!("the verifier refused it ({other:?})"),
    }
}

/// Whether `key` is the private half of the public key in `cert`.
pub fn key_matches_cert(key: &PrivateKey, cert: &CertificateDer<'_>) -> bool {
    let Ok(parsed) = inspect::parse(cert) else {
        return false;
    };
    let spki = parsed.public_key();
    spki.subject_public_key.data.as_ref() == key.public_key_raw()
}
