//! Every CA and active certificate of a state, when it expires, and whether the files installed
//! for it are still the ones dockpki wrote, in the spirit of `kubeadm certs check-expiration`:
//! a read-only report, for monitoring.

use crate::health::Health;
use std::path::PathBuf;

use dockpki::{CertificateDer, Usage};
use serde::Serialize;
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::store::expiry::{
    days_left, installed_states, is_due, is_expired, FileState, RenewalWindow,
};
use crate::store::inventory::{Record, Status};
use crate::store::state::read;
use crate::store::State;

/// The verdict on one CA or certificate as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Valid beyond the window, and installed as written.
    Ok,
    /// Valid, but expires within the window.
    Due,
    /// Expired.
    Expired,
    /// An installed certificate file is missing.
    Missing,
    /// An installed certificate file holds another certificate.
    Replaced,
    /// The state's CA did not issue it, or a layout's `ca.pem` does not hold the state's CA:
    /// the CA in the state directory was replaced, or the layout was.
    #[serde(rename = "ca-mismatch")]
    CaMismatch,
}

impl Verdict {
    /// What the verdict means for monitoring: due is a change pending, everything but ok and
    /// due is broken now.
    pub fn health(self) -> Health {
        match self {
            Verdict::Ok => Health::Good,
            Verdict::Due => Health::ChangesPending,
            Verdict::Expired | Verdict::Missing | Verdict::Replaced | Verdict::CaMismatch => {
                Health::Broken
            }
        }
    }

    /// `ok`, `due`, `expired`, `missing`, `replaced`, `ca-mismatch`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Due => "due",
            Verdict::Expired => "expired",
            Verdict::Missing => "missing",
            Verdict::Replaced => "replaced",
            Verdict::CaMismatch => "ca-mismatch",
        }
    }

    fn of_dates(
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
        now: OffsetDateTime,
        window: RenewalWindow,
    ) -> Self {
        if is_expired(not_after, now) {
            Verdict::Expired
        } else if is_due(not_before, not_after, now, window) {
            Verdict::Due
        } else {
            Verdict::Ok
        }
    }
}

/// One CA certificate of the state: every certificate of `ca.pem` and, during a rotation, of
/// `ca-next.pem`.
#[derive(Clone, Debug, Serialize)]
pub struct CaStatus {
    /// The subject distinguished name.
    pub subject: String,
    /// The subject common name.
    pub common_name: Option<String>,
    /// The serial, lower-case hex.
    pub serial: String,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Whole days left ([`days_left`]).
    pub days_left: i64,
    /// Ok, due or expired.
    pub state: Verdict,
    /// The file it is in.
    pub path: PathBuf,
    /// SHA-256 fingerprint, as `openssl` prints it; `sha256` in JSON, the one name a fingerprint
    /// has in every document.
    #[serde(rename = "sha256")]
    pub sha256_fingerprint: String,
}

/// One layout an active certificate is installed in.
#[derive(Clone, Debug, Serialize)]
pub struct InstalledStatus {
    /// The layout directory.
    pub dir: PathBuf,
    /// What it holds compared with the record.
    pub state: FileState,
}

/// One active certificate of the inventory.
#[derive(Clone, Debug, Serialize)]
pub struct CertStatus {
    /// Server or client.
    pub kind: Usage,
    /// The common name, as recorded.
    pub common_name: Option<String>,
    /// The serial, lower-case hex.
    pub serial: String,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Whole days left ([`days_left`]).
    pub days_left: i64,
    /// The worst of its files' states, else its dates'.
    pub state: Verdict,
    /// SHA-256 fingerprint of the CA that issued it, as recorded.
    pub ca_sha256: String,
    /// Whether that is one of the state's CAs (`ca.pem`, and `ca-next.pem` during a rotation).
    pub issued_by_state_ca: bool,
    /// Every layout it is installed in (none for a certificate signed for a remote host).
    pub installed: Vec<InstalledStatus>,
    /// The host holding its key, for a certificate signed from a request (`dockpki sign`);
    /// its files are on that host, so only its dates are judged here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_host: Option<String>,
}

/// A serial the inventory records more than once: the file was damaged or edited by hand, and
/// a serial cannot tell the records apart.
#[derive(Clone, Debug, Serialize)]
pub struct DuplicateSerial {
    /// The serial, normalized (lower-case hex, no colons).
    pub serial: String,
    /// How many records have it.
    pub records: usize,
}

/// What [`status`] found.
#[derive(Clone, Debug)]
pub struct StatusReport {
    /// The window within which an expiry counts as due.
    pub window: RenewalWindow,
    /// The state's CAs, the signing one of `ca.pem` first.
    pub cas: Vec<CaStatus>,
    /// Every active certificate, in inventory order.
    pub certificates: Vec<CertStatus>,
    /// Serials recorded more than once.
    pub duplicate_serials: Vec<DuplicateSerial>,
}

impl StatusReport {
    /// Whether nothing needs attention: every CA and certificate [`Verdict::Ok`] and no serial
    /// recorded twice.
    pub fn ok(&self) -> bool {
        self.health() == Health::Good
    }

    /// The worst of every CA's and certificate's [`Verdict::health`]; a serial recorded twice
    /// is [`Health::Broken`] (the inventory cannot tell the two apart).
    pub fn health(&self) -> Health {
        let damaged = if self.duplicate_serials.is_empty() {
            Health::Good
        } else {
            Health::Broken
        };
        Health::worst(
            self.cas
                .iter()
                .map(|c| c.state.health())
                .chain(self.certificates.iter().map(|c| c.state.health()))
                .chain([damaged]),
        )
    }
}

/// Judges every CA of the state and every active certificate of its inventory at `now`: due
/// when expiring `within`, and each installed layout compared with the record (missing,
/// replaced, or its `ca.pem` not holding the state's CA). Writes nothing.
///
/// # Errors
/// When a CA certificate file or the inventory cannot be read or parsed.
///
/// # Examples
/// ```
/// use dockpki::OffsetDateTime;
/// use dockpki_provision::ops::{status, Verdict};
/// use dockpki_provision::store::{Create, Settings, State};
/// use dockpki_provision::store::expiry::RenewalWindow;
/// # let root = tempfile::tempdir()?;
/// let state = State::open(root.path().join("state"), Create::IfMissing, Settings::default())?;
/// let now = OffsetDateTime::now_utc();
/// # let ca = dockpki::CertificateAuthority::create(&dockpki::CaOptions::new(now)?, now)?;
/// # let mut plan = dockpki_provision::fs::WritePlan::new(dockpki_provision::fs::Existing::Refuse);
/// # state.plan_ca(&mut plan, &ca, dockpki_provision::store::KeyProtection::Plain)?;
/// # state.commit(state.feed_contexts(plan)?)?;
/// let report = status(&state, RenewalWindow::Relative, now)?;
/// assert_eq!(report.cas[0].state, Verdict::Ok);
/// assert!(report.ok() && report.certificates.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn status(state: &State, window: RenewalWindow, now: OffsetDateTime) -> Result<StatusReport> {
    // During a CA rotation the new CA waits in its own file; both are in service.
    let mut ca_paths = vec![state.ca_cert_path()];
    if state.rotating() {
        ca_paths.push(state.ca_next_cert_path());
    }
    let mut cas = Vec::new();
    // Every CA's fingerprint, once, for the issuer check of each record below.
    let mut ca_fingerprints = Vec::new();
    // The CA every layout's ca.pem must hold: the first certificate of ca.pem, which signs (or,
    // during a rotation, signed) what is installed.
    let mut current_ca: Option<CertificateDer<'static>> = None;
    for ca_path in ca_paths {
        for der in dockpki::certs_from_pem(&read(&ca_path)?)
            .map_err(|e| Error::from(e).context(ca_path.display()))?
        {
            let info = dockpki::inspect(&der)?;
            if current_ca.is_none() {
                current_ca = Some(der.clone());
            }
            ca_fingerprints.push(info.fingerprint());
            cas.push(CaStatus {
                state: Verdict::of_dates(info.not_before, info.not_after, now, window),
                days_left: days_left(info.not_after, now),
                subject: info.subject,
                common_name: info.common_name,
                serial: info.serial,
                not_after: info.not_after,
                path: ca_path.clone(),
                sha256_fingerprint: info.sha256_fingerprint,
            });
        }
    }
    // certs_from_pem never returns an empty list.
    let current_ca = current_ca.ok_or_else(|| {
        Error::new(format!(
            "{} holds no certificate",
            state.ca_cert_path().display()
        ))
    })?;
    let inventory = state.load_inventory()?;
    let duplicate_serials = inventory
        .duplicate_serials()
        .into_iter()
        .map(|(serial, records)| DuplicateSerial { serial, records })
        .collect();
    let active: Vec<&Record> = inventory
        .certificates
        .iter()
        .filter(|r| r.status == Status::Active)
        .collect();
    let states = installed_states(&active, now, &current_ca);
    let certificates = active
        .iter()
        .zip(states)
        .map(|(r, states)| {
            let installed: Vec<InstalledStatus> = r
                .installed
                .iter()
                .zip(states)
                .map(|(dir, state)| InstalledStatus {
                    dir: dir.clone(),
                    state,
                })
                .collect();
            let has = |s: FileState| installed.iter().any(|i| i.state == s);
            let issued_by_state_ca = ca_fingerprints.iter().any(|fp| fp.matches(&r.ca_sha256));
            let state = if has(FileState::Missing) {
                Verdict::Missing
            } else if has(FileState::Replaced) {
                Verdict::Replaced
            } else if !issued_by_state_ca || has(FileState::CaMismatch) {
                Verdict::CaMismatch
            } else {
                Verdict::of_dates(r.not_before, r.not_after, now, window)
            };
            CertStatus {
                kind: r.kind,
                common_name: r.common_name.clone(),
                serial: r.serial.clone(),
                not_after: r.not_after,
                days_left: days_left(r.not_after, now),
                state,
                ca_sha256: r.ca_sha256.clone(),
                issued_by_state_ca,
                installed,
                remote_host: r.remote_host().map(str::to_string),
            }
        })
        .collect();
    Ok(StatusReport {
        window,
        cas,
        certificates,
        duplicate_serials,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{Existing, WritePlan};
    use crate::ops::rotate;
    use crate::ops::test_fixtures::Fixture;
    use time::Duration;

    fn verdicts(report: &StatusReport) -> Vec<Verdict> {
        report.certificates.iter().map(|c| c.state).collect()
    }

    #[test]
    fn a_fresh_state_is_ok_with_every_ca_and_active_certificate_listed() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        let report = status(&f.state, RenewalWindow::Relative, now).unwrap();
        assert!(report.ok());
        assert_eq!(report.cas.len(), 1);
        assert_eq!(report.cas[0].path, f.state.ca_cert_path());
        assert!((3649..=3650).contains(&report.cas[0].days_left));
        assert_eq!(verdicts(&report), [Verdict::Ok; 3]);
        let alice = &report.certificates[1];
        assert_eq!(alice.common_name.as_deref(), Some("alice"));
        assert!((89..=90).contains(&alice.days_left));
        assert!(alice.issued_by_state_ca);
        assert_eq!(alice.installed[0].dir, f.alice);
        assert_eq!(alice.installed[0].state, FileState::Ok);
    }

    #[test]
    fn expiring_within_the_window_is_due_and_after_it_expired() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        let within = |days| RenewalWindow::Within(Duration::days(days));
        // Freshly issued, nothing is due, however wide the window.
        let report = status(&f.state, within(100), now).unwrap();
        assert_eq!(verdicts(&report), [Verdict::Ok, Verdict::Ok, Verdict::Ok]);
        // A third of the way through its 90 days, alice's is due within 100 days.
        let report = status(&f.state, within(100), now + Duration::days(31)).unwrap();
        assert_eq!(verdicts(&report), [Verdict::Ok, Verdict::Due, Verdict::Ok]);
        assert!(!report.ok());
        // By default it is due with 30 days left, not 31.
        let report = status(&f.state, RenewalWindow::Relative, now + Duration::days(59)).unwrap();
        assert_eq!(report.certificates[1].state, Verdict::Ok);
        let report = status(&f.state, RenewalWindow::Relative, now + Duration::days(61)).unwrap();
        assert_eq!(report.certificates[1].state, Verdict::Due);
        let report = status(&f.state, within(0), now + Duration::days(91)).unwrap();
        assert_eq!(
            verdicts(&report),
            [Verdict::Ok, Verdict::Expired, Verdict::Ok]
        );
        assert_eq!(
            report.certificates[1].installed[0].state,
            FileState::Expired
        );
        // The CA too.
        let report = status(&f.state, within(30), now + Duration::days(3630)).unwrap();
        assert_eq!(report.cas[0].state, Verdict::Due);
    }

    #[test]
    fn changed_files_are_missing_replaced_or_a_ca_mismatch() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        let [daemon, alice, bob] = f.layouts();
        std::fs::remove_file(bob.cert_path()).unwrap();
        std::fs::copy(alice.cert_path(), daemon.cert_path()).unwrap();
        let other =
            dockpki::CertificateAuthority::create(&dockpki::CaOptions::new(now).unwrap(), now)
                .unwrap();
        std::fs::write(alice.ca_path(), other.cert_pem()).unwrap();
        let report = status(&f.state, RenewalWindow::Relative, now).unwrap();
        assert_eq!(
            verdicts(&report),
            [Verdict::Replaced, Verdict::CaMismatch, Verdict::Missing]
        );
        assert!(
            report.certificates[1].issued_by_state_ca,
            "the layout changed, not the issuer"
        );
        assert_eq!(
            report.certificates[1].installed[0].state,
            FileState::CaMismatch
        );
        assert!(!report.ok());
    }

    #[test]
    fn during_a_rotation_both_cas_are_listed_and_both_issue_for_the_state() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        let request = rotate::BeginRequest {
            key_type: None,
            lifetime: "3650d".parse().unwrap(),
        };
        rotate::begin(&f.state, &request, now).unwrap();
        rotate::reissue(&f.state, now).unwrap();
        let report = status(&f.state, RenewalWindow::Relative, now).unwrap();
        let paths: Vec<_> = report.cas.iter().map(|c| c.path.clone()).collect();
        assert_eq!(paths, [f.state.ca_cert_path(), f.state.ca_next_cert_path()]);
        assert!(report.certificates.iter().all(|c| c.issued_by_state_ca));
        assert!(report.ok(), "{report:?}");
    }

    #[test]
    fn a_serial_recorded_twice_is_reported_and_not_ok() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        let mut inventory = f.state.load_inventory().unwrap();
        let mut copy = inventory.certificates[2].clone();
        copy.status = Status::Superseded;
        copy.serial = copy.serial.to_ascii_uppercase();
        inventory.certificates.push(copy);
        let mut plan = WritePlan::new(Existing::ReplaceKeepingBackup);
        f.state.plan_inventory(&mut plan, &inventory).unwrap();
        f.state
            .commit(f.state.feed_contexts(plan).unwrap())
            .unwrap();
        let report = status(&f.state, RenewalWindow::Relative, now).unwrap();
        assert_eq!(report.duplicate_serials.len(), 1);
        assert_eq!(report.duplicate_serials[0].records, 2);
        assert_eq!(
            report.duplicate_serials[0].serial,
            inventory.certificates[2].serial.to_ascii_lowercase()
        );
        assert_eq!(verdicts(&report), [Verdict::Ok; 3]);
        assert!(!report.ok());
    }
}
