//! CA bundles: the `ca.pem` that tells dockerd and the docker CLI which CAs to trust.

use rustls_pki_types::CertificateDer;

use crate::error::{Error, Result};
use crate::inspect;
use crate::verify::VerifyError;

/// The PEM bundle (a `ca.pem`) of the CA certificates `cas`: each certificate once, compared by
/// its DER (so the same CA read from two files, or in two PEM spellings, is not repeated), in
/// the order it first appears. dockerd, the docker CLI and rustls accept a bundle of several
/// CAs, which is how a CA is rotated without downtime: old and new are both trusted while the
/// certificates are replaced.
///
/// ```
/// use dockpki::{trust_bundle_pem, certs_from_pem, CaOptions, CertificateAuthority, OffsetDateTime};
/// let now = OffsetDateTime::now_utc();
/// let old = CertificateAuthority::create(&CaOptions::new(now)?, now)?;
/// let new = CertificateAuthority::create(&CaOptions::new(now)?, now)?;
/// let bundle = trust_bundle_pem([old.cert_der(), new.cert_der(), old.cert_der()])?;
/// assert_eq!(
///     certs_from_pem(bundle.as_bytes())?,
///     [old.cert_der().clone(), new.cert_der().clone()]
/// );
/// # Ok::<(), dockpki::Error>(())
/// ```
///
/// # Errors
///
/// - [`Error::Verify`] with [`VerifyError::EmptyBundle`] when `cas` is empty: a bundle that
///   trusts nothing refuses every peer.
/// - [`Error::Pem`] when one of them is not an X.509 certificate.
/// - [`Error::NotACa`] when one of them is not a CA certificate: every certificate in `ca.pem`
///   becomes a trust anchor, and a leaf there is a mistake (usually `cert.pem` given for
///   `ca.pem`).
pub fn trust_bundle_pem<'a, 'c: 'a>(
    cas: impl IntoIterator<Item = &'a CertificateDer<'c>>,
) -> Result<String> {
    let mut bundle: Vec<&CertificateDer<'c>> = Vec::new();
    for der in cas {
        let info = inspect::inspect(der)?;
        if !info.is_ca {
            return Err(Error::NotACa {
                subject: info.subject,
            });
        }
        if !bundle.iter().any(|seen| seen.as_ref() == der.as_ref()) {
            bundle.push(der);
        }
    }
    if bundle.is_empty() {
        return Err(Error::Verify(VerifyError::EmptyBundle));
    }
    Ok(bundle.into_iter().map(inspect::cert_to_pem).collect())
}
