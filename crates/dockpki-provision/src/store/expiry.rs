//! When a certificate is due, and whether the files installed for it are still the ones dockpki
//! wrote: the judgement shared by `status` (which reports it) and `renew` (which acts on it).

use std::path::Path;

use dockpki::CertificateDer;
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::fs::reader::{self, Limit, Links};
use crate::layout::Layout;
use crate::store::inventory::Record;

/// Whole days from `now` until `not_after`; negative once expired. Truncated like
/// `kubeadm certs check-expiration`, so "89" means at least 89 full days remain.
pub fn days_left(not_after: OffsetDateTime, now: OffsetDateTime) -> i64 {
    (not_after - now).whole_days()
}

/// Whether a certificate ending at `not_after` has expired at `now`.
pub fn is_expired(not_after: OffsetDateTime, now: OffsetDateTime) -> bool {
    not_after <= now
}

/// Whether a certificate ending at `not_after` is due for renewal at `now`: expired, or
/// expiring within `within`.
pub fn is_due(not_after: OffsetDateTime, now: OffsetDateTime, within: Duration) -> bool {
    not_after - now <= within
}

/// What one installed layout holds compared with the inventory's record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileState {
    /// The recorded certificate, still valid.
    Ok,
    /// The certificate file is gone.
    Missing,
    /// The certificate file holds something else (edited or replaced by hand, or unreadable).
    Replaced,
    /// The recorded certificate, but it has expired.
    Expired,
    /// The recorded certificate, but the layout's `ca.pem` does not hold the state's CA, so it
    /// refuses every peer dockpki issues from now on.
    #[serde(rename = "ca-mismatch")]
    CaMismatch,
}

impl FileState {
    /// `ok`, `missing`, `replaced`, `expired`, `ca-mismatch`.
    pub fn as_str(self) -> &'static str {
        match self {
            FileState::Ok => "ok",
            FileState::Missing => "missing",
            FileState::Replaced => "replaced",
            FileState::Expired => "expired",
            FileState::CaMismatch => "ca-mismatch",
        }
    }
}

/// Compares the certificate installed in `dir` for `record` with the record: by the SHA-256
/// fingerprint of the first certificate in the file, so that a re-encoded but identical
/// certificate still counts as the same one. The layout's `ca.pem` must also hold `state_ca`,
/// the state's current CA: a layout that trusts another CA refuses the peers dockpki issues.
pub fn installed_state(
    record: &Record,
    dir: &Path,
    now: OffsetDateTime,
    state_ca: &CertificateDer<'_>,
) -> FileState {
    let layout = Layout::for_usage(record.kind, dir.to_path_buf());
    let path = layout.cert_path();
    let bytes = match reader::read_optional(&path, Links::Follow, Limit::Pem) {
        Ok(Some(b)) => b,
        Ok(None) => return FileState::Missing,
        // Unreadable (or not a regular file, or huge) is not "ours" as far as anyone using the
        // file can tell.
        Err(_) => return FileState::Replaced,
    };
    let fingerprint = dockpki::certs_from_pem(&bytes)
        .ok()
        .and_then(|certs| certs.into_iter().next())
        .and_then(|der| dockpki::inspect(&der).ok())
        .map(|info| info.fingerprint());
    match fingerprint {
        Some(fp) if fp.matches(&record.sha256) => {
            if !bundle_holds(&layout.ca_path(), state_ca) {
                FileState::CaMismatch
            } else if is_expired(record.not_after, now) {
                FileState::Expired
            } else {
                FileState::Ok
            }
        }
        _ => FileState::Replaced,
    }
}

/// Whether the CA bundle at `path` holds `ca` (compared as DER, so re-encoding does not
/// matter). A missing or unreadable bundle holds nothing.
pub fn bundle_holds(path: &Path, ca: &CertificateDer<'_>) -> bool {
    reader::read(path, Links::Follow, Limit::Pem)
        .ok()
        .and_then(|bytes| dockpki::certs_from_pem(&bytes).ok())
        .is_some_and(|certs| certs.iter().any(|c| c.as_ref() == ca.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_means_expired_or_expiring_within_the_period() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(1000);
        let within = Duration::days(30);
        assert!(is_due(now - Duration::days(1), now, within), "expired");
        assert!(is_due(now + Duration::days(30), now, within), "boundary");
        assert!(!is_due(now + Duration::days(31), now, within));
        assert!(is_expired(now, now) && !is_expired(now + Duration::seconds(1), now));
        assert_eq!(days_left(now + Duration::hours(24 * 90 - 1), now), 89);
        assert_eq!(days_left(now - Duration::hours(36), now), -1);
    }
}
