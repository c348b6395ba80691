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
    installed_state_with(record, dir, now, state_ca, &mut None)
}

/// [`installed_state`], remembering in `holding` the bytes of the last CA bundle found to hold
/// `state_ca`: every layout's `ca.pem` is usually the same file, compared then without decoding.
fn installed_state_with(
    record: &Record,
    dir: &Path,
    now: OffsetDateTime,
    state_ca: &CertificateDer<'_>,
    holding: &mut Option<Vec<u8>>,
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
    // The digest alone, without parsing the certificate: a match with the recorded fingerprint
    // is all that is asked, for thousands of layouts.
    let fingerprint = dockpki::certs_from_pem(&bytes)
        .ok()
        .and_then(|certs| certs.into_iter().next())
        .map(|der| dockpki::Fingerprint::of(&der));
    match fingerprint {
        Some(fp) if fp.matches(&record.sha256) => {
            if !bundle_holds_with(&layout.ca_path(), state_ca, holding) {
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

/// From how many records [`installed_states`] spreads the work over threads: below, starting
/// them costs more than it saves.
const PARALLEL_FROM: usize = 64;

/// [`installed_state`] of every layout of every record (in the order of `records`, then of each
/// record's `installed`), several at a time: each is a few small reads, and a state of thousands
/// of layouts is checked in a fraction of the time one thread takes. Uses as many threads as
/// the machine runs at once; the checks only read, as the running user (no thread acts as
/// another user, see [`crate::fs::ActingAs`]).
pub fn installed_states(
    records: &[&Record],
    now: OffsetDateTime,
    state_ca: &CertificateDer<'_>,
) -> Vec<Vec<FileState>> {
    crate::parallel::map_shares(records.to_vec(), PARALLEL_FROM, |share| {
        let mut holding = None;
        share
            .iter()
            .map(|r| {
                r.installed
                    .iter()
                    .map(|dir| installed_state_with(r, dir, now, state_ca, &mut holding))
                    .collect()
            })
            .collect()
    })
}

/// Whether the CA bundle at `path` holds `ca` (compared as DER, so re-encoding does not
/// matter). A missing or unreadable bundle holds nothing.
pub fn bundle_holds(path: &Path, ca: &CertificateDer<'_>) -> bool {
    bundle_holds_with(path, ca, &mut None)
}

/// [`bundle_holds`], with `holding` the bytes of a bundle already found to hold `ca`.
fn bundle_holds_with(path: &Path, ca: &CertificateDer<'_>, holding: &mut Option<Vec<u8>>) -> bool {
    let Ok(bytes) = reader::read(path, Links::Follow, Limit::Pem) else {
        return false;
    };
    if holding.as_deref() == Some(bytes.as_slice()) {
        return true;
    }
    let holds = dockpki::certs_from_pem(&bytes)
        .is_ok_and(|certs| certs.iter().any(|c| c.as_ref() == ca.as_ref()));
    if holds {
        *holding = Some(bytes.to_vec());
    }
    holds
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spread over threads, every layout's state comes back in the order of the records and of
    /// their layouts, each the one a single thread finds.
    #[test]
    fn states_checked_several_at_a_time_come_back_in_order() {
        use crate::store::inventory::Status;
        let now = OffsetDateTime::now_utc();
        let ca = dockpki::CertificateAuthority::create(&dockpki::CaOptions::new(now).unwrap(), now)
            .unwrap();
        let root = tempfile::tempdir().unwrap();
        let records: Vec<Record> = (0..PARALLEL_FROM * 3 + 1)
            .map(|i| {
                let mut r = Record::for_test(&format!("{i:x}"), "c", Status::Active);
                r.sha256 = ca.info().sha256_fingerprint.clone();
                r.not_after = now + Duration::days(if i % 5 == 0 { -1 } else { 30 });
                r.installed = (0..1 + i % 2)
                    .map(|j| root.path().join(format!("{i}-{j}")))
                    .collect();
                for (j, dir) in r.installed.iter().enumerate() {
                    // Missing, replaced, the recorded certificate, or one without the CA.
                    match (i + j) % 4 {
                        0 => continue,
                        1 => {
                            std::fs::create_dir(dir).unwrap();
                            std::fs::write(dir.join("cert.pem"), "junk").unwrap();
                        }
                        k => {
                            std::fs::create_dir(dir).unwrap();
                            std::fs::write(dir.join("cert.pem"), ca.cert_pem()).unwrap();
                            if k == 2 {
                                std::fs::write(dir.join("ca.pem"), ca.cert_pem()).unwrap();
                            }
                        }
                    }
                }
                r
            })
            .collect();
        let refs: Vec<&Record> = records.iter().collect();
        let one_by_one: Vec<Vec<FileState>> = records
            .iter()
            .map(|r| {
                r.installed
                    .iter()
                    .map(|d| installed_state(r, d, now, ca.cert_der()))
                    .collect()
            })
            .collect();
        assert_eq!(installed_states(&refs, now, ca.cert_der()), one_by_one);
        let mut seen: Vec<FileState> = Vec::new();
        for state in one_by_one.iter().flatten() {
            if !seen.contains(state) {
                seen.push(*state);
            }
        }
        assert_eq!(seen.len(), 5, "every state is among them: {seen:?}");
    }

    #[test]
    fn a_remembered_bundle_stands_only_for_the_same_bytes() {
        let now = OffsetDateTime::now_utc();
        let ca = |_| {
            dockpki::CertificateAuthority::create(&dockpki::CaOptions::new(now).unwrap(), now)
                .unwrap()
        };
        let (ours, other) = (ca(0), ca(1));
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.pem"), dir.path().join("b.pem"));
        std::fs::write(&a, ours.cert_pem()).unwrap();
        std::fs::write(&b, other.cert_pem()).unwrap();
        let mut holding = None;
        assert!(bundle_holds_with(&a, ours.cert_der(), &mut holding));
        assert_eq!(holding.as_deref(), Some(ours.cert_pem().as_bytes()));
        assert!(!bundle_holds_with(&b, ours.cert_der(), &mut holding));
        assert!(bundle_holds_with(&a, ours.cert_der(), &mut holding));
        // The same bytes, but another CA asked about: never answered from memory.
        let mut holding_other = None;
        assert!(!bundle_holds_with(&a, other.cert_der(), &mut holding_other));
        assert!(holding_other.is_none());
    }

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
