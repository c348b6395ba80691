//! Certificate revocation lists signed by the CA.
//!
//! Neither dockerd nor the docker CLI reads CRLs (they have no CRL or OCSP support at all), so a
//! CRL only helps other relying parties (a TLS proxy in front of the daemon, `openssl verify
//! -crl_check`, audits). It is still the standard record of what was revoked.

use std::fmt;
use std::str::FromStr;

use rcgen::{
    CertificateRevocationListParams, Issuer, KeyIdMethod, RevokedCertParams, SerialNumber,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ca::CertificateAuthority;
use crate::error::{crypto, crypto_failure, Error, Result};

/// Why a certificate was revoked: the RFC 5280 CRLReason codes that apply to a full CRL
/// (`removeFromCRL` only exists for delta CRLs, which dockpki does not make).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RevocationReason {
    /// No reason given (code 0).
    Unspecified,
    /// The certificate's private key was, or may have been, compromised (1).
    KeyCompromise,
    /// The CA's key was compromised (2).
    CaCompromise,
    /// The subject's name or affiliation changed (3).
    AffiliationChanged,
    /// The certificate was replaced by a newer one (4).
    Superseded,
    /// The certificate is no longer needed (5).
    CessationOfOperation,
    /// The certificate is temporarily on hold (6).
    CertificateHold,
    /// The privilege the certificate granted was withdrawn (9).
    PrivilegeWithdrawn,
    /// An attribute authority was compromised (10).
    AaCompromise,
}

impl RevocationReason {
    /// Every reason, in RFC 5280 code order.
    pub const ALL: [RevocationReason; 9] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::CaCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::CertificateHold,
        RevocationReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise,
    ];

    /// The RFC 5280 name, e.g. `keyCompromise`.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "keyCompromise",
            RevocationReason::CaCompromise => "cACompromise",
            RevocationReason::AffiliationChanged => "affiliationChanged",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessationOfOperation",
            RevocationReason::CertificateHold => "certificateHold",
            RevocationReason::PrivilegeWithdrawn => "privilegeWithdrawn",
            RevocationReason::AaCompromise => "aACompromise",
        }
    }

    fn to_rcgen(self) -> rcgen::RevocationReason {
        use rcgen::RevocationReason as R;
        match self {
            RevocationReason::Unspecified => R::Unspecified,
            RevocationReason::KeyCompromise => R::KeyCompromise,
            RevocationReason::CaCompromise => R::CaCompromise,
            RevocationReason::AffiliationChanged => R::AffiliationChanged,
            RevocationReason::Superseded => R::Superseded,
            RevocationReason::CessationOfOperation => R::CessationOfOperation,
            RevocationReason::CertificateHold => R::CertificateHold,
            RevocationReason::PrivilegeWithdrawn => R::PrivilegeWithdrawn,
            RevocationReason::AaCompromise => R::AaCompromise,
        }
    }
}

impl FromStr for RevocationReason {
    type Err = Error;

    /// Parses the RFC 5280 name, ignoring case (`keyCompromise`, `keycompromise`).
    fn from_str(s: &str) -> Result<Self> {
        RevocationReason::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| Error::UnknownRevocationReason {
                input: s.to_string(),
            })
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedCert {
    /// The certificate's serial number in hex, as [`crate::CertInfo::serial`] shows it
    /// (colons and case are ignored).
    pub serial: String,
    /// When it was revoked.
    pub revoked_at: OffsetDateTime,
    /// Why, if known.
    pub reason: Option<RevocationReason>,
}

impl CertificateAuthority {
    /// A CRL signed by this CA listing `revoked`, valid from `this_update` until `next_update`,
    /// in PEM. The CRL number is `this_update` in Unix seconds, so CRLs made later by the same
    /// CA carry larger numbers, as RFC 5280 requires, without keeping a counter.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidSerial`] when a serial number is not hexadecimal.
    /// - [`Error::Crypto`] when `next_update` is not after `this_update`, or the backend fails
    ///   to sign.
    pub fn crl(
        &self,
        revoked: &[RevokedCert],
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<String> {
        if next_update <= this_update {
            return Err(crypto_failure(
                "a CRL's next update must come after its this update",
            ));
        }
        let revoked_certs = revoked
            .iter()
            .map(|r| {
                Ok(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&serial_bytes(&r.serial)?),
                    revocation_time: r.revoked_at,
                    reason_code: r.reason.map(RevocationReason::to_rcgen),
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let number = u64::try_from(this_update.unix_timestamp()).unwrap_or(0);
        let params = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let issuer =
            Issuer::from_ca_cert_der(self.cert_der(), self.key().rcgen()).map_err(crypto)?;
        params
            .signed_by(&issuer)
            .and_then(|crl| crl.pem())
            .map_err(crypto)
    }
}

impl CertificateAuthority {
    /// Whether `pem` holds exactly one CRL (an `X509 CRL` PEM block) issued under this CA's
    /// name: one an earlier [`CertificateAuthority::crl`] wrote, which a new CRL may replace
    /// without asking. Anything else (another CA's CRL, a certificate, any other file) is not.
    pub fn issued_crl(&self, pem: &[u8]) -> bool {
        use x509_parser::prelude::{FromDer, X509Certificate};
        use x509_parser::revocation_list::CertificateRevocationList;
        let Ok(blocks) = ::pem::parse_many(pem) else {
            return false;
        };
        let [block] = blocks.as_slice() else {
            return false;
        };
        if block.tag() != "X509 CRL" {
            return false;
        }
        let Ok((rest, crl)) = CertificateRevocationList::from_der(block.contents()) else {
            return false;
        };
        let Ok((_, ca)) = X509Certificate::from_der(self.cert_der()) else {
            return false;
        };
        rest.is_empty() && crl.tbs_cert_list.issuer.as_raw() == ca.subject().as_raw()
    }
}

/// Decodes a hex serial such as `4f:1a...` or `4F1A...` into its DER INTEGER content bytes.
pub(crate) fn serial_bytes(serial: &str) -> Result<Vec<u8>> {
    let bad = || Error::InvalidSerial {
        input: serial.to_string(),
    };
    let digits: Vec<u8> = serial
        .trim()
        .bytes()
        .filter(|&b| b != b':')
        .map(|b| (b as char).to_digit(16).map(|d| d as u8))
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    if digits.is_empty() || !digits.len().is_multiple_of(2) || digits.len() > 40 {
        return Err(bad());
    }
    Ok(digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_parse_by_their_rfc_5280_names_in_any_case() {
        for r in RevocationReason::ALL {
            assert_eq!(r.as_str().parse::<RevocationReason>().unwrap(), r);
            assert_eq!(
                r.as_str()
                    .to_uppercase()
                    .parse::<RevocationReason>()
                    .unwrap(),
                r
            );
        }
        let e = "stolen"
            .parse::<RevocationReason>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("keyCompromise") && e.contains("stolen"), "{e}");
    }

    #[test]
    fn only_a_crl_of_this_ca_counts_as_issued_by_it() {
        let now = OffsetDateTime::now_utc();
        let ca =
            || CertificateAuthority::create(&crate::CaOptions::new(now).unwrap(), now).unwrap();
        let (mine, other) = (ca(), ca());
        let crl = mine.crl(&[], now, now + time::Duration::days(1)).unwrap();
        assert!(mine.issued_crl(crl.as_bytes()));
        assert!(!other.issued_crl(crl.as_bytes()));
        assert!(!mine.issued_crl(mine.cert_pem().as_bytes()));
        assert!(!mine.issued_crl(format!("{crl}{crl}").as_bytes()));
        assert!(!mine.issued_crl(b"not pem at all"));
        assert!(!mine.issued_crl(b""));
    }

    #[test]
    fn serials_decode_with_or_without_colons_and_refuse_non_hex() {
        assert_eq!(serial_bytes("4f:1A").unwrap(), vec![0x4f, 0x1a]);
        assert_eq!(serial_bytes("4F1a").unwrap(), vec![0x4f, 0x1a]);
        for bad in ["", "abc", "zz", "4f-1a", &"00".repeat(21)] {
            assert!(serial_bytes(bad).is_err(), "{bad:?} accepted");
        }
    }
}
