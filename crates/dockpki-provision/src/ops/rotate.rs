//! Replacing the CA without downtime, in phases (docs/rotation.md).
//!
//! dockerd and the docker CLI accept a `ca.pem` holding several CAs, and each side picks the
//! certificate to present by the issuer names the other side trusts. So the CA can be replaced
//! while everything keeps working: [`begin`] makes the new CA and installs old+new bundles in
//! every layout the inventory records, [`reissue`] replaces every certificate from the old CA
//! with one from the new CA, [`finish`] installs new-only bundles and retires the old CA. Each
//! phase is one journaled plan, so a crash leaves either the previous phase or, once
//! [`State::open`] has completed the journal, the next one.
//!
//! The only record of a rotation in progress is the new CA waiting in `ca-next*.pem`; which
//! phase it is in follows from the inventory (are there active certificates from the old CA?).

use std::path::PathBuf;

use dockpki::{CaOptions, CertInfo, CertificateAuthority, KeyType, Lifetime, Usage};
use serde::Serialize;
use time::OffsetDateTime;

use crate::error::{Advice, Error, Result};
use crate::fs::{Existing, OwnerPolicy, WritePlan, Written};
use crate::layout::Layout;
use crate::store::inventory::{Inventory, Record, Status as RecordStatus};
use crate::store::reissue::{reissue as reissue_record, KeyPolicy};
use crate::store::State;

/// Where a rotation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// No rotation in progress.
    None,
    /// A new CA exists and is trusted everywhere; certificates from the old CA remain.
    Begun,
    /// Every active certificate comes from the new CA: ready to finish.
    Reissued,
}

impl Phase {
    /// The phase that moves a rotation in this phase on.
    pub fn next(self) -> Next {
        match self {
            Phase::None => Next::Begin,
            Phase::Begun => Next::Reissue,
            Phase::Reissued => Next::Finish,
        }
    }
}

/// What comes after a phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Begin a rotation ([`begin`]).
    Begin,
    /// Once the daemons listed are restarted and the new `ca.pem` is copied to clients the
    /// inventory does not know (copied directories, docker contexts), re-issue ([`reissue`]).
    Reissue,
    /// Once the daemons listed are restarted and re-issued client directories handed to their
    /// users, finish ([`finish`]).
    Finish,
    /// Nothing of the rotation: restart the daemons listed; clients still holding certificates
    /// from the old CA are refused from now on.
    Done,
}

/// A request to begin a rotation.
#[derive(Clone, Debug)]
pub struct BeginRequest {
    /// The new CA's key type; `None`: the old CA's (the default type when it has none dockpki
    /// knows).
    pub key_type: Option<KeyType>,
    /// How long the new CA is valid.
    pub lifetime: Lifetime,
}

/// What one phase did.
#[derive(Debug)]
pub struct Outcome {
    /// The phase reached: [`Phase::Begun`] after [`begin`], [`Phase::Reissued`] after
    /// [`reissue`], [`Phase::None`] after [`finish`].
    pub phase: Phase,
    /// The CA being replaced (after [`finish`]: the one archived).
    pub old_ca: CertInfo,
    /// The CA replacing it (after [`finish`]: the state's CA).
    pub new_ca: CertInfo,
    /// The layouts this phase wrote into: every recorded layout whose directory exists
    /// ([`begin`], [`finish`]: their `ca.pem`), or every layout of a re-issued certificate
    /// ([`reissue`]).
    pub updated: Vec<Layout>,
    /// Recorded layout directories that are gone (handed over or deleted), which could not be
    /// updated: their holders need the new `ca.pem`.
    pub missing: Vec<PathBuf>,
    /// The inventory records of the certificates [`reissue`] issued from the new CA; empty for
    /// the other phases.
    pub reissued: Vec<Record>,
    /// Where [`finish`] archived the old CA (certificate and key); `None` for the other phases.
    pub archive: Option<PathBuf>,
    /// What comes next.
    pub next: Next,
    /// The files written, with their backups.
    pub written: Vec<Written>,
}

impl Outcome {
    /// The daemon directories among [`Outcome::updated`], once each: dockerd reads its
    /// certificates only at start (SIGHUP does not reload TLS), so each needs a restart to see
    /// what was installed.
    pub fn restart_daemons(&self) -> Vec<PathBuf> {
        dirs_of(self.updated.iter().filter(|l| l.usage == Usage::Server))
    }

    /// The directories of [`Outcome::updated`], once each.
    pub fn updated_dirs(&self) -> Vec<PathBuf> {
        dirs_of(self.updated.iter())
    }
}

/// Where a rotation stands, from the certificates only (no CA key is loaded).
#[derive(Debug)]
pub struct RotationStatus {
    /// The phase.
    pub phase: Phase,
    /// The state's CA (`ca.pem`): the old one during a rotation.
    pub current_ca: CertInfo,
    /// The new CA of a rotation in progress (`ca-next.pem`).
    pub next_ca: Option<CertInfo>,
    /// The active certificates still from the old CA, which [`reissue`] replaces.
    pub left: Vec<Record>,
}

impl RotationStatus {
    /// The phase that moves the rotation on ([`Next::Begin`] when none is in progress).
    pub fn next(&self) -> Next {
        self.phase.next()
    }
}

/// Begins a rotation: creates the new CA (a name of its own, the old CA's path length and name
/// constraints, its key protected like the old one's), stores it as `ca-next*.pem`, and makes
/// every recorded layout trust the old and the new CA, in one journaled update. Certificates
/// issued from now on come from the new CA ([`State::load_ca`]).
///
/// # Errors
/// When a rotation is already in progress ([`Advice::ContinueRotationWithReissue`] or
/// [`Advice::ContinueRotationWithFinish`]), the old CA cannot be loaded, or the update cannot be
/// written; nothing is written then.
///
/// # Examples
/// ```
/// use dockpki::OffsetDateTime;
/// use dockpki_provision::ops::rotate::{self, BeginRequest, Next, Phase};
/// use dockpki_provision::store::{Create, Settings, State};
/// # let root = tempfile::tempdir()?;
/// let state = State::open(root.path().join("state"), Create::IfMissing, Settings::default())?;
/// let now = OffsetDateTime::now_utc();
/// # let ca = dockpki::CertificateAuthority::create(&dockpki::CaOptions::new(now)?, now)?;
/// # let mut plan = dockpki_provision::fs::WritePlan::new(dockpki_provision::fs::Existing::Refuse);
/// # state.plan_ca(&mut plan, &ca, dockpki_provision::store::KeyProtection::Plain)?;
/// # state.commit(plan)?;
/// let begun = rotate::begin(&state, &BeginRequest { key_type: None, lifetime: "10y".parse()? }, now)?;
/// assert_eq!((begun.phase, begun.next), (Phase::Begun, Next::Reissue));
/// let reissued = rotate::reissue(&state, now)?;
/// assert_eq!(reissued.next, Next::Finish);
/// let finished = rotate::finish(&state)?;
/// assert_eq!(finished.phase, Phase::None);
/// assert_eq!(state.cert_info(&state.ca_cert_path())?.sha256_fingerprint, begun.new_ca.sha256_fingerprint);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn begin(state: &State, request: &BeginRequest, now: OffsetDateTime) -> Result<Outcome> {
    if state.rotating() {
        let advice = match phase(state, &state.load_inventory()?)? {
            Phase::Reissued => Advice::ContinueRotationWithFinish,
            // None cannot be: rotating() is what makes a phase other than None.
            Phase::Begun | Phase::None => Advice::ContinueRotationWithReissue,
        };
        return Err(Error::advised(
            format!(
                "a CA rotation is already in progress (new CA in {})",
                state.ca_next_cert_path().display()
            ),
            advice,
        ));
    }
    let old = state.load_current_ca()?;
    let inventory = state.load_inventory()?;
    let new = CertificateAuthority::create(&successor_options(&old, request, now)?, now)?;
    let bundle = dockpki::trust_bundle_pem([old.cert_der(), new.cert_der()])?;

    let mut plan = WritePlan::new(Existing::ReplaceKeepingBackup);
    state.plan_next_ca(&mut plan, &new)?;
    let (present, missing) = existing_layouts(&inventory);
    plan_bundles(&mut plan, &present, &bundle, &state.settings().owners);
    let written = state.commit(plan)?;
    Ok(Outcome {
        phase: Phase::Begun,
        old_ca: old.info().clone(),
        new_ca: new.info().clone(),
        updated: present,
        missing,
        reissued: Vec::new(),
        archive: None,
        next: Next::Reissue,
        written,
    })
}

/// The options of the CA that succeeds `old`.
fn successor_options(
    old: &CertificateAuthority,
    request: &BeginRequest,
    now: OffsetDateTime,
) -> Result<CaOptions> {
    let mut options = CaOptions {
        common_name: CaOptions::unique_name(now)?,
        key_type: request.key_type.or(old.info().key_type).unwrap_or_default(),
        lifetime: request.lifetime,
        // The new CA may sign exactly what the old one could, so no certificate changes meaning.
        path_len: old
            .info()
            .path_len
            .and_then(|n| u8::try_from(n).ok())
            .unwrap_or(0),
        name_constraints: old.name_constraints().clone(),
    };
    // Clients pick the certificate to present by issuer name: two CAs with one name would make
    // them offer the wrong one while both are trusted.
    while old.info().common_name.as_deref() == Some(options.common_name.as_str()) {
        options.common_name = CaOptions::unique_name(now)?;
    }
    Ok(options)
}

/// Re-issues every active certificate from the old CA from the new one, with a fresh key, into
/// every layout it is installed in, in one journaled update (none when nothing is left, so a
/// second run writes nothing).
///
/// # Errors
/// When no rotation is in progress ([`Advice::BeginRotation`]), the new CA cannot be loaded, a
/// certificate cannot be re-issued, or the update cannot be written; nothing is written then.
pub fn reissue(state: &State, now: OffsetDateTime) -> Result<Outcome> {
    require_rotation(state, "reissue")?;
    let new = state.load_next_ca()?;
    let bundle = state.trust_bundle_pem(&new)?;
    // Its certificate only (the bundle above has just read it): its key is not needed.
    let old = state.cert_info(&state.ca_cert_path())?;
    let mut inventory = state.load_inventory()?;
    let todo: Vec<Record> = from_old_ca(&inventory, new.info()).cloned().collect();
    let mut written = Vec::new();
    let mut reissued = Vec::new();
    if !todo.is_empty() {
        let mut plan = WritePlan::new(Existing::ReplaceKeepingBackup);
        for record in &todo {
            let issued = reissue_record(
                &new,
                &bundle,
                record,
                KeyPolicy::Fresh,
                &state.settings().owners,
                now,
                &mut plan,
                &mut inventory,
            )?;
            reissued.push(Record::new(
                &issued.info,
                record.kind,
                &new.info().sha256_fingerprint,
                record.installed.clone(),
            ));
        }
        state.plan_inventory(&mut plan, &inventory)?;
        written = state.commit(plan)?;
    }
    let updated: Vec<Layout> = todo
        .iter()
        .flat_map(|r| {
            r.installed
                .iter()
                .map(|d| Layout::for_usage(r.kind, d.clone()))
        })
        .collect();
    Ok(Outcome {
        phase: Phase::Reissued,
        old_ca: old,
        new_ca: new.info().clone(),
        updated,
        missing: Vec::new(),
        reissued,
        archive: None,
        next: Next::Finish,
        written,
    })
}

/// Finishes a rotation: makes every recorded layout trust only the new CA, archives the old CA
/// (certificate and key) in the state's `archive/`, and makes the new CA the state's CA, in one
/// journaled update. The old key is kept (0400 in a 0700 directory) so that what it issued can
/// be inspected and the rotation undone by hand.
///
/// # Errors
/// When no rotation is in progress ([`Advice::BeginRotation`]), an active certificate still
/// comes from the old CA and would stop working ([`Advice::ReissueFirst`]), a CA cannot be
/// loaded, or the update cannot be written; nothing is written then.
pub fn finish(state: &State) -> Result<Outcome> {
    require_rotation(state, "finish")?;
    let old = state.load_current_ca()?;
    let new = state.load_next_ca()?;
    let inventory = state.load_inventory()?;
    let left: Vec<&Record> = from_old_ca(&inventory, new.info()).collect();
    if !left.is_empty() {
        let names: Vec<String> = left.iter().map(|r| describe(r)).collect();
        return Err(Error::advised(
            format!(
                "{} certificate(s) still come from the old CA and would stop working: {}",
                left.len(),
                names.join(", ")
            ),
            Advice::ReissueFirst,
        ));
    }
    let mut plan = WritePlan::new(Existing::ReplaceKeepingBackup);
    let (present, missing) = existing_layouts(&inventory);
    plan_bundles(
        &mut plan,
        &present,
        new.cert_pem(),
        &state.settings().owners,
    );
    let tag = fingerprint_tag(&old);
    let archive = state.archive_dir();
    plan.cert(archive.join(format!("ca-{tag}.pem")), old.cert_pem(), None);
    plan.key(
        archive.join(format!("ca-{tag}-key.pem")),
        old.key_pem(),
        None,
    );
    plan.rename(state.ca_next_cert_path(), state.ca_cert_path());
    plan.rename(state.ca_next_key_path(), state.ca_key_path());
    let written = state.commit(plan)?;
    Ok(Outcome {
        phase: Phase::None,
        old_ca: old.info().clone(),
        new_ca: new.info().clone(),
        updated: present,
        missing,
        reissued: Vec::new(),
        archive: Some(archive),
        next: Next::Done,
        written,
    })
}

/// Where a rotation stands. Reads certificates only: asking must not need an encrypted key.
///
/// # Errors
/// When a CA certificate or the inventory cannot be read.
pub fn status(state: &State) -> Result<RotationStatus> {
    let current_ca = state.cert_info(&state.ca_cert_path())?;
    let inventory = state.load_inventory()?;
    let phase = phase(state, &inventory)?;
    let next_ca = if state.rotating() {
        Some(state.cert_info(&state.ca_next_cert_path())?)
    } else {
        None
    };
    let left = match &next_ca {
        Some(n) => from_old_ca(&inventory, n).cloned().collect(),
        None => Vec::new(),
    };
    Ok(RotationStatus {
        phase,
        current_ca,
        next_ca,
        left,
    })
}

/// Refuses a phase (`what`) that needs a rotation in progress.
fn require_rotation(state: &State, what: &str) -> Result<()> {
    if state.rotating() {
        return Ok(());
    }
    Err(Error::advised(
        format!(
            "no CA rotation in progress in {}, nothing to {what}",
            state.dir().display()
        ),
        Advice::BeginRotation,
    ))
}

fn phase(state: &State, inventory: &Inventory) -> Result<Phase> {
    if !state.rotating() {
        return Ok(Phase::None);
    }
    let new = state.cert_info(&state.ca_next_cert_path())?;
    Ok(if from_old_ca(inventory, &new).next().is_some() {
        Phase::Begun
    } else {
        Phase::Reissued
    })
}

/// Active certificates not issued by `new`: those that stop working when only `new` is trusted.
fn from_old_ca<'a>(
    inventory: &'a Inventory,
    new: &'a CertInfo,
) -> impl Iterator<Item = &'a Record> {
    inventory.certificates.iter().filter(move |r| {
        r.status == RecordStatus::Active && !new.fingerprint().matches(&r.ca_sha256)
    })
}

/// Every layout dockpki installed an active certificate into, split into those whose directory
/// still exists and those that are gone (handed over or deleted: they cannot be updated here,
/// and recreating a directory with only a `ca.pem` in it would help nobody).
fn existing_layouts(inventory: &Inventory) -> (Vec<Layout>, Vec<PathBuf>) {
    let mut present: Vec<Layout> = Vec::new();
    let mut missing: Vec<PathBuf> = Vec::new();
    for r in inventory
        .certificates
        .iter()
        .filter(|r| r.status == RecordStatus::Active)
    {
        for dir in &r.installed {
            if present.iter().any(|l| &l.dir == dir && l.usage == r.kind) || missing.contains(dir) {
                continue;
            }
            if dir.is_dir() {
                present.push(Layout::for_usage(r.kind, dir.clone()));
            } else {
                missing.push(dir.clone());
            }
        }
    }
    (present, missing)
}

/// Adds `bundle` as `ca.pem` to every layout directory (once per directory).
fn plan_bundles(plan: &mut WritePlan, layouts: &[Layout], bundle: &str, owners: &OwnerPolicy) {
    for dir in dirs_of(layouts.iter()) {
        plan.cert(dir.join("ca.pem"), bundle, owners.owner_for(&dir));
    }
}

/// The directories of `layouts`, once each, in order.
fn dirs_of<'a>(layouts: impl Iterator<Item = &'a Layout>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for l in layouts {
        if !dirs.contains(&l.dir) {
            dirs.push(l.dir.clone());
        }
    }
    dirs
}

/// `server "localhost" (serial ab12) in /etc/docker/pki`: a record for a one-line message.
pub fn describe(r: &Record) -> String {
    let dirs: Vec<String> = r
        .installed
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    format!(
        "{} {:?} (serial {}) in {}",
        r.kind,
        r.common_name.as_deref().unwrap_or(""),
        r.serial,
        dirs.join(" and ")
    )
}

/// The first 16 hex digits of the CA's SHA-256 fingerprint, lower case: unique enough to name
/// archived CAs apart.
fn fingerprint_tag(ca: &CertificateAuthority) -> String {
    ca.info()
        .sha256_fingerprint
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(16)
        .collect::<String>()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::test_fixtures::{certs, chains_to, Fixture};

    fn begin_request() -> BeginRequest {
        BeginRequest {
            key_type: None,
            lifetime: "3650d".parse().unwrap(),
        }
    }

    /// The first certificate in the PEM file at `path`.
    fn der(path: &std::path::Path) -> dockpki::CertificateDer<'static> {
        certs(path).remove(0)
    }

    #[test]
    fn begin_writes_the_new_ca_aside_and_makes_every_layout_trust_old_and_new() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        let old = der(&f.state.ca_cert_path());
        let leaves_before: Vec<_> = f.layouts().iter().map(|l| certs(&l.cert_path())).collect();

        let begun = begin(&f.state, &begin_request(), now).unwrap();
        assert_eq!((begun.phase, begun.next), (Phase::Begun, Next::Reissue));
        let new = der(&f.state.ca_next_cert_path());
        assert_eq!(
            dockpki::inspect(&new).unwrap().sha256_fingerprint,
            begun.new_ca.sha256_fingerprint
        );
        assert_ne!(
            begun.new_ca.subject, begun.old_ca.subject,
            "issuer names differ"
        );
        assert!(f.state.ca_next_key_path().exists());
        assert_eq!(
            der(&f.state.ca_cert_path()),
            old,
            "the old CA still signs nothing new"
        );
        for (layout, before) in f.layouts().iter().zip(leaves_before) {
            assert_eq!(certs(&layout.ca_path()), [old.clone(), new.clone()]);
            assert_eq!(certs(&layout.cert_path()), before, "leaves are untouched");
            assert!(chains_to(layout, &certs(&layout.ca_path()), now));
        }
        assert_eq!(
            begun.updated_dirs(),
            [f.daemon.clone(), f.alice.clone(), f.bob.clone()]
        );
        assert_eq!(begun.restart_daemons(), std::slice::from_ref(&f.daemon));
        assert!(begun.missing.is_empty() && begun.reissued.is_empty());
        assert_eq!(status(&f.state).unwrap().phase, Phase::Begun);
    }

    #[test]
    fn a_second_begin_is_refused_naming_the_phase_to_continue_with() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        begin(&f.state, &begin_request(), now).unwrap();
        let next = std::fs::read(f.state.ca_next_cert_path()).unwrap();
        let e = begin(&f.state, &begin_request(), now).unwrap_err();
        assert_eq!(e.advice(), Some(Advice::ContinueRotationWithReissue));
        assert!(
            e.message()
                .starts_with("a CA rotation is already in progress"),
            "{e}"
        );
        reissue(&f.state, now).unwrap();
        let e = begin(&f.state, &begin_request(), now).unwrap_err();
        assert_eq!(e.advice(), Some(Advice::ContinueRotationWithFinish));
        assert_eq!(
            std::fs::read(f.state.ca_next_cert_path()).unwrap(),
            next,
            "kept"
        );
    }

    #[test]
    fn reissue_moves_every_leaf_to_the_new_ca_and_a_second_run_writes_nothing() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        let old = der(&f.state.ca_cert_path());
        begin(&f.state, &begin_request(), now).unwrap();
        let new = der(&f.state.ca_next_cert_path());

        let reissued = reissue(&f.state, now).unwrap();
        assert_eq!(
            (reissued.phase, reissued.next),
            (Phase::Reissued, Next::Finish)
        );
        assert_eq!(reissued.reissued.len(), 3);
        assert_eq!(reissued.restart_daemons(), std::slice::from_ref(&f.daemon));
        for layout in f.layouts() {
            assert!(
                chains_to(&layout, std::slice::from_ref(&new), now),
                "{}",
                layout.dir.display()
            );
            assert!(
                !chains_to(&layout, std::slice::from_ref(&old), now),
                "{}",
                layout.dir.display()
            );
        }
        let inventory = f.state.load_inventory().unwrap();
        let active: Vec<_> = inventory
            .certificates
            .iter()
            .filter(|r| r.status == RecordStatus::Active)
            .collect();
        assert_eq!(active.len(), 3);
        assert!(active
            .iter()
            .all(|r| r.ca_sha256 == reissued.new_ca.sha256_fingerprint));
        let st = status(&f.state).unwrap();
        assert_eq!((st.phase, st.left.len()), (Phase::Reissued, 0));

        let again = reissue(&f.state, now).unwrap();
        assert!(again.written.is_empty() && again.reissued.is_empty());
    }

    #[test]
    fn finish_before_reissue_is_refused_and_writes_nothing() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        begin(&f.state, &begin_request(), now).unwrap();
        let ca = std::fs::read(f.state.ca_cert_path()).unwrap();
        let e = finish(&f.state).unwrap_err();
        assert_eq!(e.advice(), Some(Advice::ReissueFirst));
        assert!(
            e.message().starts_with(
                "3 certificate(s) still come from the old CA and would stop working: "
            ),
            "{e}"
        );
        assert!(e.message().contains(&f.bob.display().to_string()), "{e}");
        assert!(f.state.ca_next_cert_path().exists());
        assert_eq!(std::fs::read(f.state.ca_cert_path()).unwrap(), ca);
        assert!(!f.state.archive_dir().exists());
        assert_eq!(status(&f.state).unwrap().phase, Phase::Begun);
    }

    #[test]
    fn finish_leaves_every_recorded_layout_trusting_only_the_new_ca() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        let old_key = std::fs::read(f.state.ca_key_path()).unwrap();
        begin(&f.state, &begin_request(), now).unwrap();
        let new = der(&f.state.ca_next_cert_path());
        reissue(&f.state, now).unwrap();

        let finished = finish(&f.state).unwrap();
        assert_eq!((finished.phase, finished.next), (Phase::None, Next::Done));
        assert_eq!(finished.restart_daemons(), std::slice::from_ref(&f.daemon));
        assert_eq!(der(&f.state.ca_cert_path()), new);
        assert!(!f.state.rotating());
        for layout in f.layouts() {
            assert_eq!(
                certs(&layout.ca_path()),
                std::slice::from_ref(&new),
                "{}",
                layout.dir.display()
            );
            assert!(chains_to(&layout, &certs(&layout.ca_path()), now));
        }
        // The old CA is archived, key and all.
        let archive = finished.archive.unwrap();
        let archived: Vec<_> = std::fs::read_dir(&archive)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(archived.len(), 2, "{archived:?}");
        let key = archived.iter().find(|n| n.ends_with("-key.pem")).unwrap();
        assert_eq!(std::fs::read(archive.join(key)).unwrap(), old_key);
        let st = status(&f.state).unwrap();
        assert_eq!(
            (st.phase, st.next(), st.next_ca.is_none()),
            (Phase::None, Next::Begin, true)
        );
    }

    #[test]
    fn reissue_and_finish_without_a_rotation_are_refused() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        for e in [
            reissue(&f.state, now).unwrap_err(),
            finish(&f.state).unwrap_err(),
        ] {
            assert_eq!(e.advice(), Some(Advice::BeginRotation));
            assert!(
                e.message().starts_with("no CA rotation in progress in "),
                "{e}"
            );
        }
        assert!(!f.state.rotating());
    }

    #[test]
    fn a_layout_directory_that_is_gone_is_reported_missing_not_recreated() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        std::fs::remove_dir_all(&f.bob).unwrap();
        let begun = begin(&f.state, &begin_request(), now).unwrap();
        assert_eq!(begun.missing, std::slice::from_ref(&f.bob));
        assert_eq!(begun.updated_dirs(), [f.daemon.clone(), f.alice.clone()]);
        assert!(!f.bob.exists());
    }

    #[test]
    fn status_tells_the_phase_and_what_is_left_from_the_certificates_only() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        let st = status(&f.state).unwrap();
        assert_eq!(
            (st.phase, st.next(), st.left.len()),
            (Phase::None, Next::Begin, 0)
        );
        begin(&f.state, &begin_request(), now).unwrap();
        // No key is needed to tell where the rotation stands.
        std::fs::remove_file(f.state.ca_next_key_path()).unwrap();
        let st = status(&f.state).unwrap();
        assert_eq!(
            (st.phase, st.next(), st.left.len()),
            (Phase::Begun, Next::Reissue, 3)
        );
        assert!(st.next_ca.is_some());
        assert_eq!(
            describe(&st.left[2]),
            format!(
                "client \"bob\" (serial {}) in {}",
                st.left[2].serial,
                f.bob.display()
            )
        );
    }

    /// The environment variables that make [`each_phase_aborted_before_any_rename_is_completed_by_the_next_open`]
    /// the child that runs one phase and is aborted.
    #[cfg(feature = "fault-injection")]
    const CHILD_STATE: &str = "DOCKPKI_OPS_TEST_CRASH_STATE";
    #[cfg(feature = "fault-injection")]
    const CHILD_PHASE: &str = "DOCKPKI_OPS_TEST_CRASH_PHASE";

    #[cfg(feature = "fault-injection")]
    fn run_phase(state: &State, phase: &str, now: OffsetDateTime) {
        match phase {
            "begin" => drop(begin(state, &begin_request(), now).unwrap()),
            "reissue" => drop(reissue(state, now).unwrap()),
            "finish" => drop(finish(state).unwrap()),
            other => panic!("no phase {other}"),
        }
    }

    /// Each rotation phase, run in a child process (this test binary, filtered to this test)
    /// that aborts just before its N-th rename, for every N: the next [`State::open`] completes
    /// the journal, and every layout then holds a certificate and key that belong together and
    /// chain to its own `ca.pem`, in the phase the interrupted one reaches.
    #[cfg(feature = "fault-injection")]
    #[test]
    fn each_phase_aborted_before_any_rename_is_completed_by_the_next_open() {
        use std::os::unix::process::ExitStatusExt;
        use std::sync::{Arc, Mutex};

        use crate::report::Notice;
        use crate::store::{Create, Settings};

        let now = OffsetDateTime::now_utc();
        if let (Some(dir), Some(phase)) = (
            std::env::var_os(CHILD_STATE),
            std::env::var(CHILD_PHASE).ok(),
        ) {
            let state = State::open(dir.into(), Create::No, Settings::default()).unwrap();
            run_phase(&state, &phase, now);
            return;
        }
        let name = concat!(
            module_path!(),
            "::each_phase_aborted_before_any_rename_is_completed_by_the_next_open"
        );
        let name = name.split_once("::").unwrap().1;
        for (i, (phase, reached)) in [
            ("begin", Phase::Begun),
            ("reissue", Phase::Reissued),
            ("finish", Phase::None),
        ]
        .into_iter()
        .enumerate()
        {
            let mut n = 0;
            loop {
                let f = Fixture::new(now);
                for earlier in ["begin", "reissue"].iter().take(i) {
                    run_phase(&f.state, earlier, now);
                }
                let (state_dir, layouts, _root) =
                    (f.state.dir().to_path_buf(), f.layouts(), f._root);
                // The child must get the lock.
                drop(f.state);
                let out = std::process::Command::new(std::env::current_exe().unwrap())
                    .args([name, "--exact", "--test-threads=1"])
                    .env(CHILD_STATE, &state_dir)
                    .env(CHILD_PHASE, phase)
                    .env("DOCKPKI_TEST_ABORT_AFTER_MOVES", n.to_string())
                    .output()
                    .unwrap();
                if out.status.success() {
                    // N is past the last rename: the phase ran to its end.
                    assert!(n >= 3, "{phase} must move several files, moved {n}");
                    break;
                }
                let what = format!("{phase} aborted before rename {n}");
                assert_eq!(out.status.signal(), Some(6), "{what}: {out:?}");
                assert!(state_dir.join("journal.json").exists(), "{what}");

                let notices = Arc::new(Mutex::new(Vec::new()));
                let seen = Arc::clone(&notices);
                let settings = Settings {
                    report: Arc::new(move |n: &Notice| seen.lock().unwrap().push(n.clone())),
                    ..Settings::default()
                };
                let state = State::open(state_dir.clone(), Create::No, settings).unwrap();
                assert!(
                    notices
                        .lock()
                        .unwrap()
                        .iter()
                        .any(|n| matches!(n, Notice::Recovered { .. })),
                    "{what}: {notices:?}"
                );
                assert!(!state_dir.join("journal.json").exists(), "{what}");
                assert_eq!(
                    status(&state).unwrap().phase,
                    reached,
                    "{what}: completed, not lost"
                );
                for layout in &layouts {
                    let cert = der(&layout.cert_path());
                    let key =
                        dockpki::PrivateKey::from_pem(&std::fs::read(layout.key_path()).unwrap())
                            .unwrap();
                    assert!(
                        dockpki::key_matches_cert(&key, &cert),
                        "{what}: {}",
                        layout.dir.display()
                    );
                    assert!(
                        chains_to(layout, &certs(&layout.ca_path()), now),
                        "{what}: {}",
                        layout.dir.display()
                    );
                }
                n += 1;
                assert!(n < 100, "{phase} never completed");
            }
        }
    }
}
