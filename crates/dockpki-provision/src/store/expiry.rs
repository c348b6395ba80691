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

/// The renewal window when none is given: a certificate is due when this much, or a third of its
/// lifetime if that is less, remains.
pub const DEFAULT_WINDOW: Duration = Duration::days(30);

/// When a certificate counts as due for renewal.
///
/// Both rules never call a certificate due while it is in the first third of its lifetime:
/// without that, a certificate whose lifetime is no longer than the window would be due the
/// moment it is issued, and every `renew` would re-key it again (a 7-day client certificate
/// under a 30-day window). Renewing it anyway is an explicit selection (a name, a serial, all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenewalWindow {
    /// Due when [`DEFAULT_WINDOW`] or a third of the lifetime remains, whichever is less: a
    /// 90-day certificate at 30 days left, a 1-year one too, a 7-day one at 2 days 8 hours
    /// (cert-manager renews at two thirds of the lifetime as well).
    Relative,
    /// Due when it expires within this window (zero: only once expired).
    Within(Duration),
}

impl RenewalWindow {
    /// How long before its end a certificate living `lifetime` becomes due.
    pub fn before_expiry(self, lifetime: Duration) -> Duration {
        match self {
            RenewalWindow::Relative => DEFAULT_WINDOW.min(lifetime / 3),
            RenewalWindow::Within(window) => window,
        }
    }
}

/// Whether a certificate valid from `not_before` to `not_after` is due for renewal at `now`:
/// expired; or out of the first third of its lifetime and expiring within `window`
/// ([`RenewalWindow`] says why the first third is never due).
pub fn is_due(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    now: OffsetDateTime,
    window: RenewalWindow,
) -> bool {
    if is_expired(not_after, now) {
        return true;
    }
    let lifetime = not_after - not_before;
    if now - not_before < lifetime / 3 {
        return false;
    }
    not_after - now <= window.before_expiry(lifetime)
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
    fn a_certificate_in_the_first_third_of_its_life_is_never_due_whatever_the_window() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(1000);
        let wide = RenewalWindow::Within(Duration::days(100));
        // A 90-day certificate issued today: inside a 100-day window, yet not due.
        assert!(!is_due(now, now + Duration::days(90), now, wide));
        // A third of the way through it is.
        let issued = now - Duration::days(30);
        assert!(is_due(issued, issued + Duration::days(90), now, wide));
        let issued = now - Duration::days(29);
        assert!(!is_due(issued, issued + Duration::days(90), now, wide));
        // A 7-day certificate is not due right after issue under the default rule either.
        assert!(!is_due(
            now,
            now + Duration::days(7),
            now,
            RenewalWindow::Relative
        ));
        // Expired is due, however young (a clock set back, a backdated certificate).
        assert!(is_due(
            now - Duration::hours(1),
            now,
            now,
            RenewalWindow::Within(Duration::ZERO)
        ));
    }

    #[test]
    fn the_default_window_is_30_days_or_a_third_of_the_lifetime_whichever_is_less() {
        let r = RenewalWindow::Relative;
        assert_eq!(r.before_expiry(Duration::days(90)), Duration::days(30));
        assert_eq!(r.before_expiry(Duration::days(365)), Duration::days(30));
        assert_eq!(r.before_expiry(Duration::days(7)), Duration::days(7) / 3);
        assert_eq!(
            RenewalWindow::Within(Duration::days(5)).before_expiry(Duration::days(365)),
            Duration::days(5)
        );
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(1000);
        // A 7-day certificate: due with 2 days 8 hours left, not with 2 days 9 hours.
        let ends = now + Duration::days(2) + Duration::hours(8);
        assert!(is_due(ends - Duration::days(7), ends, now, r));
        let ends = now + Duration::days(2) + Duration::hours(9);
        assert!(!is_due(ends - Duration::days(7), ends, now, r));
    }

    #[test]
    fn due_means_expired_or_expiring_within_the_period() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(1000);
        let within = RenewalWindow::Within(Duration::days(30));
        // A 90-day certificate at 60, 59 and 91 days of age.
        let issued = |age: i64| now - Duration::days(age);
        let ends = |age: i64| issued(age) + Duration::days(90);
        assert!(is_due(issued(91), ends(91), now, within), "expired");
        assert!(is_due(issued(60), ends(60), now, within), "boundary");
        assert!(!is_due(issued(59), ends(59), now, within));
        assert!(is_expired(now, now) && !is_expired(now + Duration::seconds(1), now));
        assert_eq!(days_left(now + Duration::hours(24 * 90 - 1), now), 89);
        assert_eq!(days_left(now - Duration::hours(36), now), -1);
    }
}
