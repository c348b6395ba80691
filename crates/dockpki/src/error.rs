//! The one error type of the library.
//!
//! Every message names the problem and, where there is one, the fix, because these strings end up
//! verbatim in front of an operator. None of them ever contains key material.

use std::fmt;

use time::OffsetDateTime;

use crate::verify::VerifyError;

/// Everything that can go wrong in `dockpki`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A key type name that is not one of [`crate::KeyType::ALL`].
    UnknownKeyType {
        /// What the caller gave.
        input: String,
    },
    /// A subject alternative name that is neither a valid DNS name nor an IP address.
    InvalidSan {
        /// What the caller gave.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// A server certificate was requested without any subject alternative name.
    NoSans,
    /// A common name that cannot go into a certificate.
    InvalidCommonName {
        /// What the caller gave.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// A validity period that is not a positive duration such as `90d`.
    InvalidLifetime {
        /// What the caller gave.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// A name constraint (permitted DNS suffix or IP range) that cannot be used.
    InvalidNameConstraint {
        /// What the caller gave.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// PEM input that does not hold what was expected.
    Pem {
        /// What was expected, e.g. "certificate" or "private key".
        expected: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// An encrypted private key; neither dockerd nor the docker CLI can use one.
    EncryptedKey,
    /// An encrypted private key could not be decrypted with the passphrase given.
    WrongPassphrase,
    /// A private or public key of a kind dockpki does not issue or sign with.
    UnsupportedKey {
        /// What kind of key it was.
        reason: String,
    },
    /// A certificate that was meant to be a CA is not one.
    NotACa {
        /// Its subject.
        subject: String,
    },
    /// A private key that does not belong to the certificate it was paired with.
    KeyMismatch {
        /// Which certificate, e.g. "CA certificate".
        certificate: String,
    },
    /// A certificate that is not a server or a client certificate as dockpki issues them, where
    /// one is needed (to load it with its key, or to issue it again).
    UnusableLeaf {
        /// Its subject.
        subject: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// The CA has expired or is not valid yet, so it cannot sign.
    CaNotValidNow {
        /// Start of the CA's validity.
        not_before: OffsetDateTime,
        /// End of the CA's validity.
        not_after: OffsetDateTime,
    },
    /// A leaf was requested that would still be valid after its CA expires.
    LeafOutlivesCa {
        /// When the leaf would expire.
        leaf_not_after: OffsetDateTime,
        /// When the CA expires.
        ca_not_after: OffsetDateTime,
        /// The `now` the leaf was requested at, from which the message counts the days left.
        requested_at: OffsetDateTime,
    },
    /// A SAN that the CA's name constraints do not permit.
    NameConstraintViolation {
        /// The refused SAN.
        san: String,
    },
    /// A revocation reason that is not one of [`crate::RevocationReason::ALL`].
    UnknownRevocationReason {
        /// What the caller gave.
        input: String,
    },
    /// A serial number that is not hexadecimal, as `dockpki inspect` shows serials.
    InvalidSerial {
        /// What the caller gave.
        input: String,
    },
    /// Text that is not a SHA-256 fingerprint (see [`crate::Fingerprint`]).
    InvalidFingerprint {
        /// What the caller gave.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// A certificate signing request that cannot be signed: not a PKCS#10 request, a signature
    /// that does not verify (a damaged or tampered request), a key or name dockpki does not
    /// certify.
    Csr {
        /// Why it was refused.
        reason: String,
    },
    /// A certificate failed verification.
    Verify(VerifyError),
    /// The cryptographic backend failed; this is not caused by user input.
    Crypto {
        /// What failed, as a sentence.
        what: String,
        /// The backend's own error, when there is one; also returned by
        /// [`std::error::Error::source`].
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// rustls refused a configuration.
    Tls(rustls::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownKeyType { input } => write!(
                f,
                "unknown key type {input:?}: use one of {}",
                crate::KeyType::ALL
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Error::InvalidSan { input, reason } => write!(
                f,
                "invalid SAN {input:?}: {reason}; give a DNS name (e.g. docker.example.com), an IPv4 or an IPv6 address"
            ),
            Error::NoSans => write!(
                f,
                "a server certificate needs at least one SAN (Go's verifier ignores the common name); \
                 give every DNS name and IP address clients dial, e.g. --san docker.example.com --san 192.0.2.10"
            ),
            Error::InvalidCommonName { input, reason } => {
                write!(f, "invalid common name {input:?}: {reason}")
            }
            Error::InvalidLifetime { input, reason } => write!(
                f,
                "invalid validity {input:?}: {reason}; use a positive number with a unit h, d, w or y, e.g. 90d or 1y"
            ),
            Error::InvalidNameConstraint { input, reason } => {
                write!(f, "invalid name constraint {input:?}: {reason}")
            }
            Error::Pem { expected, reason } => write!(f, "expected a PEM {expected}: {reason}"),
            Error::EncryptedKey => write!(
                f,
                "the private key is encrypted, which dockerd and the docker CLI cannot use; \
                 decrypt it first (openssl pkey -in KEY -out PLAIN)"
            ),
            Error::WrongPassphrase => write!(
                f,
                "cannot decrypt the private key: wrong passphrase (or a damaged key file); \
                 check the passphrase (--passphrase-file FILE or DOCKPKI_PASSPHRASE_FILE)"
            ),
            Error::UnsupportedKey { reason } => write!(
                f,
                "unsupported key: {reason}; dockpki works with ecdsa-p256, ecdsa-p384, ed25519 and rsa-2048/3072/4096"
            ),
            Error::NotACa { subject } => write!(
                f,
                "certificate {subject:?} is not a CA (basicConstraints CA:TRUE missing); point to the CA certificate, not a leaf"
            ),
            Error::KeyMismatch { certificate } => write!(
                f,
                "the private key does not belong to the {certificate}; pair each certificate with the key it was issued for"
            ),
            Error::UnusableLeaf { subject, reason } => write!(
                f,
                "certificate {subject:?} is not a server or client certificate dockpki can use here: {reason}"
            ),
            Error::CaNotValidNow {
                not_before,
                not_after,
            } => write!(
                f,
                "the CA is valid only from {} to {}, so it cannot sign now; rotate to a new CA (dockpki ca init --force)",
                crate::time_format::format_time(*not_before),
                crate::time_format::format_time(*not_after)
            ),
            Error::LeafOutlivesCa {
                leaf_not_after,
                ca_not_after,
                requested_at,
            } => {
                // From the caller's `now`, not the clock: the library never reads the time.
                let days = (*ca_not_after - *requested_at).whole_days().max(0);
                write!(
                    f,
                    "the certificate would expire {} but its CA expires {}; ask for a validity of at most {days}d or rotate the CA",
                    crate::time_format::format_time(*leaf_not_after),
                    crate::time_format::format_time(*ca_not_after)
                )
            }
            Error::NameConstraintViolation { san } => write!(
                f,
                "SAN {san:?} is outside the CA's name constraints; use a name the CA permits or a CA without that constraint"
            ),
            Error::UnknownRevocationReason { input } => write!(
                f,
                "unknown revocation reason {input:?}: use one of {}",
                crate::RevocationReason::ALL
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Error::InvalidSerial { input } => write!(
                f,
                "invalid serial number {input:?}: give it in hex as `dockpki status` or `dockpki inspect` shows it"
            ),
            Error::InvalidFingerprint { input, reason } => write!(
                f,
                "invalid SHA-256 fingerprint {input:?}: {reason}; give 32 bytes in hex, with or without colons, as `dockpki inspect` shows them"
            ),
            Error::Csr { reason } => write!(
                f,
                "certificate signing request refused: {reason}; make a new one on the host with `dockpki request`"
            ),
            Error::Verify(e) => e.fmt(f),
            Error::Crypto { what, .. } => write!(f, "cryptographic operation failed: {what}"),
            Error::Tls(e) => write!(f, "TLS configuration refused: {e}"),
        }
    }
}

/// [`Error::Verify`], [`Error::Tls`] and [`Error::Crypto`] (when the backend gave one) return the
/// error they wrap. Their `Display` already includes its message, so print either the `Display`
/// alone (as the `dockpki` command does) or walk the chain, not both.
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Verify(e) => Some(e),
            Error::Tls(e) => Some(e),
            Error::Crypto {
                source: Some(e), ..
            } => Some(e.as_ref()),
            _ => None,
        }
    }
}

impl From<VerifyError> for Error {
    fn from(e: VerifyError) -> Self {
        Error::Verify(e)
    }
}

impl From<rustls::Error> for Error {
    fn from(e: rustls::Error) -> Self {
        Error::Tls(e)
    }
}

/// Wraps a backend error, keeping it as the source; rcgen's, AWS-LC's and the PKCS#8 crates'
/// errors never carry key bytes.
pub(crate) fn crypto(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Crypto {
        what: e.to_string(),
        source: Some(Box::new(e)),
    }
}

/// A backend failure without an error value to keep (a panicked thread, an impossible constant).
pub(crate) fn crypto_failure(what: &str) -> Error {
    Error::Crypto {
        what: what.to_string(),
        source: None,
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn source_of_a_verify_error_is_the_verify_error() {
        let e = Error::from(VerifyError::EmptyBundle);
        let cause = e.source().expect("Error::Verify has a source");
        assert_eq!(
            cause.downcast_ref::<VerifyError>(),
            Some(&VerifyError::EmptyBundle)
        );
    }

    #[test]
    fn source_of_a_tls_error_is_the_rustls_error() {
        let e = Error::from(rustls::Error::NoCertificatesPresented);
        let cause = e.source().expect("Error::Tls has a source");
        assert_eq!(
            cause.downcast_ref::<rustls::Error>(),
            Some(&rustls::Error::NoCertificatesPresented)
        );
    }

    #[test]
    fn source_of_a_backend_error_is_the_backends_error_and_its_message_is_unchanged() {
        let e = crypto(aws_lc_rs::error::Unspecified);
        assert!(e
            .source()
            .and_then(|c| c.downcast_ref::<aws_lc_rs::error::Unspecified>())
            .is_some());
        assert_eq!(
            e.to_string(),
            format!(
                "cryptographic operation failed: {}",
                aws_lc_rs::error::Unspecified
            )
        );
        assert!(crypto_failure("no value to keep").source().is_none());
    }

    #[test]
    fn errors_about_input_have_no_source() {
        assert!(Error::NoSans.source().is_none());
        assert!(Error::WrongPassphrase.source().is_none());
    }
}
