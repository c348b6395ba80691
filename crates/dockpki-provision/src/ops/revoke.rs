//! Revoking certificates: marking their records revoked in the inventory, so that a CRL
//! ([`crate::ops::crl()`]) lists them and renewal never renews them.
//!
//! dockerd and the docker CLI check neither CRLs nor OCSP, so this alone does not stop a
//! leaked key: rotating the CA does.

use std::fmt;
use std::path::Path;

use dockpki::{OffsetDateTime, RevocationReason, Usage};
use serde::Serialize;

use crate::error::{Advice, Error, Result};
use crate::fs::{Existing, WritePlan};
use crate::store::inventory::{Inventory, Record, Status};
use crate::store::State;

/// Which certificates to revoke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// The one certificate with this serial, or a prefix of it that only one unrevoked
    /// certificate's serial starts with (hex; case, colons and `0x` ignored).
    Serial(String),
    /// Every certificate with this common name.
    Name(String),
}

impl Selector {
    fn matches(&self, r: &Record) -> bool {
        match self {
            Selector::Serial(serial) => r.serial_matches(serial),
            Selector::Name(name) => r.common_name.as_deref() == Some(name.as_str()),
        }
    }
}

impl fmt::Display for Selector {
    /// `the serial "…"` or `the common name "…"`, for messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Serial(serial) => write!(f, "the serial {serial:?}"),
            Selector::Name(name) => write!(f, "the common name {name:?}"),
        }
    }
}

/// The records a [`Selector`] picks, as [`select`] decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// These records (indices into [`Inventory::certificates`], oldest first) are to be
    /// revoked.
    Unrevoked(Vec<usize>),
    /// Every record selected is revoked already: nothing to change.
    AlreadyRevoked,
}

/// Picks the records `selector` names in `inventory` (whose file is `inventory_path`, named in
/// messages). A serial must name one certificate: its whole serial, else a prefix of only one
/// unrevoked certificate's serial (see [`Inventory::select_serial`]); a common name names
/// every certificate that has it.
///
/// # Errors
/// When nothing matches ([`Advice::ListCertificates`], the inventory file as
/// [`Error::subject`]), a whole serial is recorded more than once (the inventory is damaged),
/// or a prefix matches several unrevoked certificates.
pub fn select(
    inventory: &Inventory,
    inventory_path: &Path,
    selector: &Selector,
) -> Result<Selection> {
    let (all, exact): (Vec<usize>, bool) = match selector {
        Selector::Serial(serial) => {
            let found = inventory.select_serial(serial, |_| true);
            (found.indices, found.exact)
        }
        Selector::Name(_) => (
            (0..inventory.certificates.len())
                .filter(|&i| selector.matches(&inventory.certificates[i]))
                .collect(),
            false,
        ),
    };
    if all.is_empty() {
        return Err(Error::advised_about(
            format!("no certificate in the inventory has {selector}"),
            Advice::ListCertificates,
            inventory_path.display().to_string(),
        ));
    }
    let todo: Vec<usize> = all
        .iter()
        .copied()
        .filter(|&i| inventory.certificates[i].status != Status::Revoked)
        .collect();
    if let Selector::Serial(_) = selector {
        if exact && all.len() > 1 {
            return Err(Error::new(format!(
                "{selector} is recorded {} times in {}, which is damaged (dockpki records each certificate once); restore the previous version from {}.bak, or remove the extra record by hand",
                all.len(),
                inventory_path.display(),
                inventory_path.display()
            )));
        }
        if todo.len() > 1 {
            return Err(Error::new(format!(
                "{selector} matches {} certificates; give more digits",
                todo.len()
            )));
        }
    }
    Ok(if todo.is_empty() {
        Selection::AlreadyRevoked
    } else {
        Selection::Unrevoked(todo)
    })
}

/// A request to revoke certificates.
#[derive(Clone, Debug)]
pub struct RevokeRequest {
    /// Which.
    pub selector: Selector,
    /// Why, if a reason is given (it is listed in the CRL).
    pub reason: Option<RevocationReason>,
}

/// One certificate [`revoke`] revoked.
#[derive(Clone, Debug, Serialize)]
pub struct RevokedCertificate {
    /// Server or client.
    pub kind: Usage,
    /// Its subject common name.
    pub common_name: Option<String>,
    /// Its serial, lower-case hex.
    pub serial: String,
    /// The end of its validity: until then dockerd still accepts it.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// The reason recorded.
    pub reason: Option<RevocationReason>,
}

/// What [`revoke`] did.
#[derive(Clone, Debug)]
pub enum Revocation {
    /// These certificates are now recorded as revoked.
    Revoked(Vec<RevokedCertificate>),
    /// Every certificate selected was revoked already; nothing changed.
    AlreadyRevoked,
}

impl Revocation {
    /// The certificates revoked now (none when they were revoked already).
    pub fn certificates(&self) -> &[RevokedCertificate] {
        match self {
            Revocation::Revoked(c) => c,
            Revocation::AlreadyRevoked => &[],
        }
    }
}

/// Marks the certificates `request.selector` names ([`select`]) revoked at `now` with the
/// reason given, in one journaled update of the inventory.
///
/// # Errors
/// As [`select`]; when the inventory cannot be read or written.
pub fn revoke(state: &State, request: &RevokeRequest, now: OffsetDateTime) -> Result<Revocation> {
    let mut inventory = state.load_inventory()?;
    let todo = match select(&inventory, &state.inventory_path(), &request.selector)? {
        Selection::AlreadyRevoked => return Ok(Revocation::AlreadyRevoked),
        Selection::Unrevoked(todo) => todo,
    };
    let revoked = todo
        .iter()
        .map(|&i| {
            let r = &inventory.certificates[i];
            RevokedCertificate {
                kind: r.kind,
                common_name: r.common_name.clone(),
                serial: r.serial.clone(),
                not_after: r.not_after,
                reason: request.reason,
            }
        })
        .collect();
    for &i in &todo {
        inventory.revoke(i, now, request.reason);
    }
    let mut plan = WritePlan::new(Existing::Refuse);
    state.plan_inventory(&mut plan, &inventory)?;
    state.commit(state.feed_contexts(plan)?)?;
    Ok(Revocation::Revoked(revoked))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ops::{issue, IssueRequest, LeafRequest};
    use crate::store::{Create, Settings};
    use dockpki::{ClientRequest, KeyType};

    fn record(serial: &str, name: &str, status: Status) -> Record {
        Record::for_test(serial, name, status)
    }

    fn inventory(records: Vec<Record>) -> Inventory {
        Inventory {
            certificates: records,
            ..Inventory::default()
        }
    }

    fn serial(s: &str) -> Selector {
        Selector::Serial(s.into())
    }

    #[test]
    fn a_serial_selects_one_unrevoked_record_by_prefix_or_whole_serial() {
        let inv = inventory(vec![
            record("abcd", "a", Status::Active),
            record("abcd01", "b", Status::Revoked),
            record("ef01", "c", Status::Superseded),
        ]);
        let path = Path::new("/s/inventory.json");
        // "ab" begins two serials, but one of them is revoked already.
        assert_eq!(
            select(&inv, path, &serial("ab")).unwrap(),
            Selection::Unrevoked(vec![0])
        );
        assert_eq!(
            select(&inv, path, &serial("EF:01")).unwrap(),
            Selection::Unrevoked(vec![2])
        );
        assert_eq!(
            select(&inv, path, &serial("abcd01")).unwrap(),
            Selection::AlreadyRevoked
        );
        let e = select(&inv, path, &serial("99")).unwrap_err();
        assert_eq!(e.advice(), Some(Advice::ListCertificates));
        assert_eq!(e.subject(), Some("/s/inventory.json"));
        assert_eq!(
            e.message(),
            "no certificate in the inventory has the serial \"99\""
        );
    }

    #[test]
    fn an_ambiguous_prefix_and_a_repeated_serial_are_refused() {
        let path = Path::new("/s/inventory.json");
        let inv = inventory(vec![
            record("abcd", "a", Status::Active),
            record("abef", "b", Status::Active),
        ]);
        let e = select(&inv, path, &serial("ab")).unwrap_err();
        assert!(
            e.message()
                .ends_with("matches 2 certificates; give more digits"),
            "{e}"
        );
        let inv = inventory(vec![
            record("abcd", "a", Status::Active),
            record("ABCD", "b", Status::Revoked),
        ]);
        let e = select(&inv, path, &serial("abcd")).unwrap_err();
        assert!(
            e.message()
                .contains("is recorded 2 times in /s/inventory.json"),
            "{e}"
        );
    }

    #[test]
    fn a_common_name_selects_every_unrevoked_record_with_it() {
        let path = Path::new("/s/inventory.json");
        let inv = inventory(vec![
            record("01", "alice", Status::Superseded),
            record("02", "bob", Status::Active),
            record("03", "alice", Status::Active),
            record("04", "alice", Status::Revoked),
        ]);
        let alice = Selector::Name("alice".into());
        assert_eq!(
            select(&inv, path, &alice).unwrap(),
            Selection::Unrevoked(vec![0, 2])
        );
        assert_eq!(alice.to_string(), "the common name \"alice\"");
    }

    /// A state with a CA and `n` client certificates issued into `c0`, `c1`, ...
    pub(crate) fn state_with_clients(root: &Path, n: usize) -> State {
        let state =
            State::open(root.join("state"), Create::IfMissing, Settings::default()).unwrap();
        let now = OffsetDateTime::now_utc();
        let ca = dockpki::CertificateAuthority::create(&dockpki::CaOptions::new(now).unwrap(), now)
            .unwrap();
        let mut plan = WritePlan::new(Existing::Refuse);
        state
            .plan_ca(&mut plan, &ca, crate::store::KeyProtection::Plain)
            .unwrap();
        state.commit(state.feed_contexts(plan).unwrap()).unwrap();
        for i in 0..n {
            issue(
                &state,
                &IssueRequest {
                    leaf: LeafRequest::Client(ClientRequest {
                        common_name: format!("client{i}").parse().unwrap(),
                        lifetime: "90d".parse().unwrap(),
                    }),
                    key_type: KeyType::EcdsaP256,
                    dir: root.join(format!("c{i}")),
                    existing: Existing::Refuse,
                },
                now,
            )
            .unwrap();
        }
        state
    }

    #[test]
    fn revoke_marks_the_record_with_time_and_reason_once() {
        let root = tempfile::tempdir().unwrap();
        let state = state_with_clients(root.path(), 2);
        let target = state.load_inventory().unwrap().certificates[1].clone();
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let request = RevokeRequest {
            selector: serial(&target.serial[..12]),
            reason: Some(RevocationReason::KeyCompromise),
        };
        let done = revoke(&state, &request, now).unwrap();
        let revoked = done.certificates();
        assert_eq!(revoked.len(), 1);
        assert_eq!(revoked[0].serial, target.serial);
        assert_eq!(revoked[0].common_name.as_deref(), Some("client1"));
        let inventory = state.load_inventory().unwrap();
        let r = &inventory.certificates[1];
        assert_eq!(r.status, Status::Revoked);
        assert_eq!(r.revoked_at, Some(now));
        assert_eq!(r.revocation_reason, Some(RevocationReason::KeyCompromise));
        assert_eq!(inventory.certificates[0].status, Status::Active);
        // Again: nothing changes, not even the time.
        let later = now + time::Duration::hours(1);
        assert!(matches!(
            revoke(&state, &request, later).unwrap(),
            Revocation::AlreadyRevoked
        ));
        assert_eq!(
            state.load_inventory().unwrap().certificates[1].revoked_at,
            Some(now)
        );
    }
}
