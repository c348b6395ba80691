//! Replacing the CA without downtime, in phases (docs/rotation.md).
//!
//! dockerd and the docker CLI accept a `ca.pem` holding several CAs, and each side picks the
//! certificate to present by the issuer names the other side trusts. So the CA can be replaced
//! while everything keeps working: [`begin`] makes the new CA and installs old+new bundles in
//! every layout the inventory records, [`reissue`] replaces every certificate from the old CA
//! with one from the new CA, [`finish`] installs new-only bundles and retires the old CA. Each
//! phase is one journaled plan, so a crash leaves either the previous phase or, once
//! [`State::open`] has completed the journal, the next one. [`abort`] undoes a rotation at any
//! phase the same way: every layout back to the old CA alone, what the new CA issued re-issued
//! from the old one, the new CA archived.
//!
//! The only record of a rotation in progress is the new CA waiting in `ca-next*.pem`; which
//! phase it is in follows from the inventory (are there active certificates from the old CA?).

use std::path::PathBuf;

use dockpki::{CaOptions, CertInfo, CertificateAuthority, KeyType, Lifetime, Usage};
use serde::Serialize;
use time::Duration;
use time::OffsetDateTime;

use crate::docker::context::ContextFed;
use crate::error::{Advice, Error, Result};
use crate::fs::{Existing, OwnerPolicy, Skipped, WritePlan, Written};
use crate::layout::Layout;
use crate::store::inventory::{Inventory, Record, RemoteInfo, Status as RecordStatus};
use crate::store::reissue::{reissue as reissue_record, resign_remote, KeyPolicy};
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
    /// The rotation is undone ([`abort`]): restart the daemons listed (until then they trust
    /// the abandoned CA too and present what it issued); certificates [`abort`] could not
    /// re-issue, and clients dockpki does not know that got the abandoned CA's certificates,
    /// need new ones. A new rotation may begin.
    Aborted,
}

/// How much longer than the longest certificate it must re-issue a rotation's new CA has to be
/// valid: [`reissue`] gives each successor the lifetime of the certificate it replaces,
/// counted from when it runs, which is after every daemon was restarted. A day leaves room
/// for that; a CA only just longer would refuse a `reissue` run an hour late.
pub const REISSUE_MARGIN: Duration = Duration::days(1);

/// A certificate from the new CA that [`abort`] could not re-issue from the old one. It is left
/// as it was (still recorded as active, from the abandoned CA) and stops working once the daemons
/// trust the old CA alone: issue it again.
#[derive(Clone, Debug)]
pub struct NotReissued {
    /// Its inventory record.
    pub record: Record,
    /// Why: the old CA refused (the certificate would outlive it), or a layout of it cannot be
    /// written.
    pub reason: String,
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
    /// Remote hosts (certificates signed from their requests, `dockpki sign`) whose delivery
    /// directory this phase wrote: the phase's `ca.pem` ([`begin`], [`finish`], [`abort`]) and,
    /// for a request signed again ([`reissue`], [`abort`]), the new certificate. The fleet
    /// delivers each to its host and installs it there (`dockpki install`).
    pub deliver: Vec<RemoteInfo>,
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
    /// Certificates from the new CA that [`abort`] could not re-issue from the old one; empty for
    /// the other phases.
    pub not_reissued: Vec<NotReissued>,
    /// Layout directories [`abort`] could not write, with the reason: they still trust the new
    /// CA and hold what it issued; empty for the other phases.
    pub skipped: Vec<Skipped>,
    /// Where [`finish`] archived the old CA, or [`abort`] the new one (the state's `archive/`);
    /// `None` for the other phases.
    pub archive: Option<PathBuf>,
    /// The archived CA's certificate and key files ([`finish`]: the old CA, [`abort`]: the new
    /// one); empty for the other phases.
    pub archived: Vec<PathBuf>,
    /// What comes next.
    pub next: Next,
    /// The files written, with their backups.
    pub written: Vec<Written>,
    /// The docker contexts dockpki made whose copies of a client layout this phase rewrote
    /// with the layout.
    pub contexts_fed: Vec<ContextFed>,
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
/// [`Advice::ContinueRotationWithFinish`]), the new CA's lifetime is shorter than the longest
/// active certificate's plus [`REISSUE_MARGIN`] so that [`reissue`] could not re-issue it
/// ([`Advice::LongerCaValidity`], the error's subject the shortest validity that works), the old
/// CA cannot be loaded, or the update cannot be written; nothing is written then.
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
/// # state.commit(state.feed_contexts(plan)?)?;
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
    let inventory = state.load_inventory()?;
    // Before the CA key is loaded: a refusal must not cost a passphrase prompt.
    refuse_short_lived_successor(&inventory, request.lifetime)?;
    let old = state.load_current_ca()?;
    let options = successor_options(&old, request, now)?;
    let key = crate::report::generate_key(state.settings().report.as_ref(), options.key_type)?;
    let new = CertificateAuthority::create_with_key(&options, key, now)?;
    let bundle = dockpki::trust_bundle_pem([old.cert_der(), new.cert_der()])?;

    let mut plan = WritePlan::new(Existing::ReplaceKeepingBackup);
    state.plan_next_ca(&mut plan, &new)?;
    let (present, missing) = existing_layouts(&inventory);
    plan_bundles(&mut plan, &present, &bundle, &state.settings().owners);
    let deliver = plan_remote_bundles(&mut plan, &inventory, &bundle);
    let plan = state.feed_contexts(plan)?;
    let contexts_fed = plan.contexts().to_vec();
    let written = state.commit(plan)?;
    Ok(Outcome {
        deliver,
        phase: Phase::Begun,
        old_ca: old.info().clone(),
        new_ca: new.info().clone(),
        updated: present,
        missing,
        reissued: Vec::new(),
        not_reissued: Vec::new(),
        skipped: Vec::new(),
        archive: None,
        archived: Vec::new(),
        next: Next::Reissue,
        written,
        contexts_fed,
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
/// certificate's successor would outlive the new CA ([`Advice::AbortRotation`]), a certificate
/// cannot be re-issued, or the update cannot be written; nothing is written then.
pub fn reissue(state: &State, now: OffsetDateTime) -> Result<Outcome> {
    require_rotation(state, "reissue")?;
    let new = state.load_next_ca()?;
    let bundle = state.trust_bundle_pem(&new)?;
    // Its certificate only (the bundle above has just read it): its key is not needed.
    let old = state.cert_info(&state.ca_cert_path())?;
    let mut inventory = state.load_inventory()?;
    let todo: Vec<Record> = from_old_ca(&inventory, new.info()).cloned().collect();
    let mut written = Vec::new();
    let mut contexts_fed = Vec::new();
    let mut reissued = Vec::new();
    if !todo.is_empty() {
        let mut plan = WritePlan::new(Existing::ReplaceKeepingBackup);
        for record in &todo {
            refuse_outliving(record, &new, now)?;
            // A remote host's certificate: its stored request signed by the new CA, into the
            // directory it was delivered from, for the fleet to deliver again.
            if let Some(signed) =
                resign_remote(&new, &bundle, record, now, &mut plan, &mut inventory)?
            {
                let mut done = Record::new(
                    &signed.info,
                    record.kind,
                    &new.info().sha256_fingerprint,
                    Vec::new(),
                );
                done.remote = record.remote.clone();
                reissued.push(done);
                continue;
            }
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
        let plan = state.feed_contexts(plan)?;
        contexts_fed = plan.contexts().to_vec();
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
    let deliver = reissued.iter().filter_map(|r| r.remote.clone()).collect();
    Ok(Outcome {
        deliver,
        phase: Phase::Reissued,
        old_ca: old,
        new_ca: new.info().clone(),
        updated,
        missing: Vec::new(),
        reissued,
        not_reissued: Vec::new(),
        skipped: Vec::new(),
        archive: None,
        archived: Vec::new(),
        next: Next::Finish,
        written,
        contexts_fed,
    })
}

/// Refuses to re-issue `record` from the rotation's new CA `new` when its successor would
/// outlive it (a CA begun too short-lived, before `begin` refused those): the rotation cannot go
/// on, only be aborted.
fn refuse_outliving(
    record: &Record,
    new: &CertificateAuthority,
    now: OffsetDateTime,
) -> Result<()> {
    let Some(lifetime) = Lifetime::of_validity(record.not_before, record.not_after) else {
        // reissue_record() reports an unusable recorded validity itself.
        return Ok(());
    };
    let (_, not_after) = lifetime.window(now);
    let ca_not_after = new.info().not_after;
    if not_after.replace_nanosecond(0).unwrap_or(not_after) <= ca_not_after {
        return Ok(());
    }
    Err(Error::advised(
        format!(
            "cannot re-issue {}: its successor (valid {lifetime}) would expire {}, after the new CA ({})",
            describe(record),
            dockpki::format_time(not_after),
            dockpki::format_time(ca_not_after)
        ),
        Advice::AbortRotation,
    ))
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
    let deliver = plan_remote_bundles(&mut plan, &inventory, new.cert_pem());
    let tag = fingerprint_tag(old.info());
    let archive = state.archive_dir();
    let archived = vec![
        archive.join(format!("ca-{tag}.pem")),
        archive.join(format!("ca-{tag}-key.pem")),
    ];
    plan.cert(archived[0].clone(), old.cert_pem(), None);
    plan.key(archived[1].clone(), old.key_pem(), None);
    plan.rename(state.ca_next_cert_path(), state.ca_cert_path());
    plan.rename(state.ca_next_key_path(), state.ca_key_path());
    let plan = state.feed_contexts(plan)?;
    let contexts_fed = plan.contexts().to_vec();
    let written = state.commit(plan)?;
    Ok(Outcome {
        deliver,
        phase: Phase::None,
        old_ca: old.info().clone(),
        new_ca: new.info().clone(),
        updated: present,
        missing,
        reissued: Vec::new(),
        not_reissued: Vec::new(),
        skipped: Vec::new(),
        archive: Some(archive),
        archived,
        next: Next::Done,
        written,
        contexts_fed,
    })
}

/// Aborts a rotation in any phase, in one journaled update: every recorded layout trusts the old
/// CA alone again (`ca.pem`), every active certificate the new CA issued (by [`reissue`], or by
/// an issue during the rotation) is re-issued from the old CA with a fresh key, same names and
/// lifetime, into every layout it is installed in, and the new CA (certificate and key, as
/// stored) is moved into the state's `archive/` as `ca-<sha256 prefix>-aborted.pem` and
/// `-aborted-key.pem`, never over an earlier archive. Afterwards no rotation is in progress and a
/// new one may begin.
///
/// A certificate that cannot be re-issued from the old CA (it would outlive it, or one of its
/// layouts cannot be written) does not stop the abort: it is left as it was and listed in
/// [`Outcome::not_reissued`]. A layout that cannot be written is left as it was and listed in
/// [`Outcome::skipped`]. The old CA's key is loaded (and a passphrase asked for) only when there
/// is something to re-issue; the new CA's key is never loaded.
///
/// # Errors
/// When no rotation is in progress ([`Advice::BeginRotation`]), a CA certificate, the old CA
/// or the inventory cannot be read, or the update cannot be written; nothing is written then.
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
/// # state.commit(state.feed_contexts(plan)?)?;
/// let old = state.cert_info(&state.ca_cert_path())?;
/// rotate::begin(&state, &BeginRequest { key_type: None, lifetime: "10y".parse()? }, now)?;
/// let aborted = rotate::abort(&state, now)?;
/// assert_eq!((aborted.phase, aborted.next), (Phase::None, Next::Aborted));
/// assert_eq!(state.cert_info(&state.ca_cert_path())?.sha256_fingerprint, old.sha256_fingerprint);
/// assert!(!state.rotating() && aborted.archived.iter().all(|f| f.exists()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn abort(state: &State, now: OffsetDateTime) -> Result<Outcome> {
    require_rotation(state, "abort")?;
    let new = state.cert_info(&state.ca_next_cert_path())?;
    let old = state.cert_info(&state.ca_cert_path())?;
    let bundle = state.current_ca_pem()?;
    let mut inventory = state.load_inventory()?;
    let owners = &state.settings().owners;
    let from_new: Vec<Record> = inventory
        .certificates
        .iter()
        .filter(|r| r.status == RecordStatus::Active && new.fingerprint().matches(&r.ca_sha256))
        .cloned()
        .collect();
    // Only what must be re-issued needs the old CA's key (and its passphrase).
    let signer = if from_new.is_empty() {
        None
    } else {
        Some(state.load_current_ca()?)
    };
    let (present, gone) = existing_layouts(&inventory);

    let mut plan = WritePlan::new(Existing::ReplaceKeepingBackup);
    let mut skipped: Vec<Skipped> = Vec::new();
    let mut reissued = Vec::new();
    let mut not_reissued = Vec::new();
    for record in &from_new {
        let layouts: Vec<Layout> = record
            .installed
            .iter()
            .map(|d| Layout::for_usage(record.kind, d.clone()))
            .collect();
        if let Some((dir, why)) = layouts
            .iter()
            .find_map(|l| refusal(l, LayoutFiles::All, &bundle, owners).map(|w| (l.dir.clone(), w)))
        {
            not_reissued.push(NotReissued {
                record: record.clone(),
                reason: format!("{} cannot be written: {why}", dir.display()),
            });
            continue;
        }
        let Some(signer) = &signer else { continue };
        if record.remote.is_some() {
            match resign_remote(signer, &bundle, record, now, &mut plan, &mut inventory) {
                Ok(Some(signed)) => {
                    let mut done = Record::new(
                        &signed.info,
                        record.kind,
                        &old.sha256_fingerprint,
                        Vec::new(),
                    );
                    done.remote = record.remote.clone();
                    reissued.push(done);
                }
                Ok(None) => {}
                Err(e) => not_reissued.push(NotReissued {
                    record: record.clone(),
                    reason: e.to_string(),
                }),
            }
            continue;
        }
        match reissue_record(
            signer,
            &bundle,
            record,
            KeyPolicy::Fresh,
            owners,
            now,
            &mut plan,
            &mut inventory,
        ) {
            Ok(issued) => reissued.push(Record::new(
                &issued.info,
                record.kind,
                &old.sha256_fingerprint,
                record.installed.clone(),
            )),
            // reissue_record plans nothing and records nothing when it fails.
            Err(e) => not_reissued.push(NotReissued {
                record: record.clone(),
                reason: e.to_string(),
            }),
        }
    }
    let mut updated: Vec<Layout> = Vec::new();
    for layout in present {
        let ca_path = layout.ca_path();
        if plan.planned(&ca_path).is_some() {
            updated.push(layout);
        } else if let Some(why) = refusal(&layout, LayoutFiles::CaOnly, &bundle, owners) {
            if !skipped.iter().any(|(d, _)| d == &layout.dir) {
                skipped.push((layout.dir.clone(), why));
            }
        } else {
            plan.cert(ca_path, &bundle, owners.owner_for(&layout.dir));
            updated.push(layout);
        }
    }
    // A re-issue recreates a layout directory that was gone, as `reissue` does.
    for r in &reissued {
        for dir in &r.installed {
            if !updated.iter().any(|l| &l.dir == dir && l.usage == r.kind) {
                updated.push(Layout::for_usage(r.kind, dir.clone()));
            }
        }
    }
    let missing: Vec<PathBuf> = gone
        .into_iter()
        .filter(|d| !updated.iter().any(|l| &l.dir == d))
        .collect();
    // Remote hosts: those whose request the old CA signed again got their certificate and
    // bundle above; every other one the old-only bundle.
    let mut deliver: Vec<RemoteInfo> = reissued.iter().filter_map(|r| r.remote.clone()).collect();
    deliver.extend(plan_remote_bundles(&mut plan, &inventory, &bundle));
    state.plan_inventory(&mut plan, &inventory)?;
    let archived = free_archive_names(state, &fingerprint_tag(&new));
    plan.rename(state.ca_next_cert_path(), archived[0].clone());
    plan.rename(state.ca_next_key_path(), archived[1].clone());
    let plan = state.feed_contexts(plan)?;
    let contexts_fed = plan.contexts().to_vec();
    let written = state.commit(plan)?;
    Ok(Outcome {
        deliver,
        phase: Phase::None,
        old_ca: old,
        new_ca: new,
        updated,
        missing,
        reissued,
        not_reissued,
        skipped,
        archive: Some(state.archive_dir()),
        archived: archived.to_vec(),
        next: Next::Aborted,
        written,
        contexts_fed,
    })
}

/// Which files of a layout an update writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LayoutFiles {
    /// `ca.pem` alone (a layout whose certificate stays).
    CaOnly,
    /// `ca.pem`, the certificate and the key (a re-issued certificate).
    All,
}

/// Why the `files` of `layout` cannot be written (the checks of [`WritePlan::check`], contents
/// aside), or `None` when they can.
fn refusal(
    layout: &Layout,
    files: LayoutFiles,
    bundle: &str,
    owners: &OwnerPolicy,
) -> Option<String> {
    let owner = owners.owner_for(&layout.dir);
    let mut probe = WritePlan::new(Existing::ReplaceKeepingBackup);
    probe.cert(layout.ca_path(), bundle, owner);
    if files == LayoutFiles::All {
        probe.cert(layout.cert_path(), bundle, owner);
        probe.key(
            layout.key_path(),
            zeroize::Zeroizing::new(String::new()),
            owner,
        );
    }
    probe.check().err().map(|e| e.to_string())
}

/// The archive's names for an abandoned CA with fingerprint prefix `tag`: certificate and key,
/// `ca-TAG-aborted.pem` or, if either name is taken, the first `ca-TAG-aborted-N.pem` whose pair
/// is free. Nothing archived is ever replaced.
fn free_archive_names(state: &State, tag: &str) -> [PathBuf; 2] {
    let archive = state.archive_dir();
    let taken = |p: &PathBuf| std::fs::symlink_metadata(p).is_ok();
    let mut n = 1u32;
    loop {
        let stem = if n == 1 {
            format!("ca-{tag}-aborted")
        } else {
            format!("ca-{tag}-aborted-{n}")
        };
        let names = [
            archive.join(format!("{stem}.pem")),
            archive.join(format!("{stem}-key.pem")),
        ];
        if !names.iter().any(taken) {
            return names;
        }
        n += 1;
    }
}

/// Refuses a new CA valid `lifetime` that could not re-issue every active certificate of
/// `inventory`: [`reissue`] gives each successor its predecessor's lifetime, and a certificate
/// may not outlive its CA. [`REISSUE_MARGIN`] leaves time for the restarts in between.
fn refuse_short_lived_successor(inventory: &Inventory, lifetime: Lifetime) -> Result<()> {
    let longest = inventory
        .certificates
        .iter()
        .filter(|r| r.status == RecordStatus::Active)
        .filter_map(|r| Lifetime::of_validity(r.not_before, r.not_after).map(|l| (l, r)))
        .max_by_key(|(l, _)| *l);
    let Some((longest, record)) = longest else {
        return Ok(());
    };
    let needed = longest.duration() + REISSUE_MARGIN;
    if lifetime.duration() >= needed {
        return Ok(());
    }
    let days = (needed.whole_hours() + 23) / 24;
    Err(Error::advised_about(
        format!(
            "a new CA valid {lifetime} could not re-issue the certificates it replaces: {} is valid {longest}, and its successor gets as long from when it is re-issued; the new CA needs a validity of at least {days}d (that plus a day for the restarts in between)",
            describe(record)
        ),
        Advice::LongerCaValidity,
        format!("{days}d"),
    ))
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

/// Adds `bundle` as `ca.pem` to the delivery directory of every active certificate of a remote
/// host (once per directory, and not where the plan writes one already: a request signed again
/// brings its own); returns those hosts.
fn plan_remote_bundles(
    plan: &mut WritePlan,
    inventory: &Inventory,
    bundle: &str,
) -> Vec<RemoteInfo> {
    let mut deliver: Vec<RemoteInfo> = Vec::new();
    for remote in inventory
        .certificates
        .iter()
        .filter(|r| r.status == RecordStatus::Active)
        .filter_map(|r| r.remote.as_ref())
    {
        let ca_path = remote.out.join("ca.pem");
        if deliver.iter().any(|d| d.out == remote.out) || plan.planned(&ca_path).is_some() {
            continue;
        }
        plan.cert(ca_path, bundle, None);
        deliver.push(remote.clone());
    }
    deliver
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
fn fingerprint_tag(ca: &CertInfo) -> String {
    ca.sha256_fingerprint
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
    fn reissue_finish_and_abort_without_a_rotation_are_refused() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        for e in [
            reissue(&f.state, now).unwrap_err(),
            finish(&f.state).unwrap_err(),
            abort(&f.state, now).unwrap_err(),
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

    fn request(lifetime: &str) -> BeginRequest {
        BeginRequest {
            key_type: None,
            lifetime: lifetime.parse().unwrap(),
        }
    }

    #[test]
    fn begin_refuses_a_new_ca_that_cannot_outlive_the_longest_certificate_by_a_day() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        // bob's 400-day certificate is the longest.
        for short in ["1h", "30d", "400d"] {
            let e = begin(&f.state, &request(short), now).unwrap_err();
            assert_eq!(e.advice(), Some(Advice::LongerCaValidity), "{short}: {e}");
            assert_eq!(e.subject(), Some("401d"), "{short}: {e}");
            assert!(
                e.message().contains(&format!(
                    "a new CA valid {short} could not re-issue the certificates it replaces: client \"bob\""
                )) && e.message().contains("at least 401d"),
                "{e}"
            );
            assert!(!f.state.rotating(), "{short}: nothing written");
        }
        let begun = begin(&f.state, &request("401d"), now).unwrap();
        // And what begin accepted, reissue can do right away.
        assert_eq!(begun.phase, Phase::Begun);
        assert_eq!(reissue(&f.state, now).unwrap().reissued.len(), 3);
    }

    #[test]
    fn reissue_with_a_new_ca_too_short_for_a_certificate_advises_aborting() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        begin(&f.state, &request("401d"), now).unwrap();
        // Two days later the 400-day successor of bob no longer fits.
        let later = now + Duration::days(2);
        let e = reissue(&f.state, later).unwrap_err();
        assert_eq!(e.advice(), Some(Advice::AbortRotation), "{e}");
        assert!(
            e.message().starts_with("cannot re-issue client \"bob\""),
            "{e}"
        );
        assert_eq!(status(&f.state).unwrap().left.len(), 3, "nothing written");
        abort(&f.state, later).unwrap();
        assert!(!f.state.rotating());
    }

    #[test]
    fn abort_after_begin_puts_every_layout_back_on_the_old_ca_and_archives_the_new_one() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        let old = der(&f.state.ca_cert_path());
        let leaves_before: Vec<_> = f.layouts().iter().map(|l| certs(&l.cert_path())).collect();
        begin(&f.state, &begin_request(), now).unwrap();
        let next_cert = std::fs::read(f.state.ca_next_cert_path()).unwrap();
        let next_key = std::fs::read(f.state.ca_next_key_path()).unwrap();

        let aborted = abort(&f.state, now).unwrap();
        assert_eq!((aborted.phase, aborted.next), (Phase::None, Next::Aborted));
        assert!(aborted.reissued.is_empty() && aborted.not_reissued.is_empty());
        assert!(aborted.skipped.is_empty() && aborted.missing.is_empty());
        assert_eq!(
            aborted.updated_dirs(),
            [f.daemon.clone(), f.alice.clone(), f.bob.clone()]
        );
        assert_eq!(aborted.restart_daemons(), std::slice::from_ref(&f.daemon));
        for (layout, before) in f.layouts().iter().zip(leaves_before) {
            assert_eq!(certs(&layout.ca_path()), std::slice::from_ref(&old));
            assert_eq!(certs(&layout.cert_path()), before, "leaves are untouched");
            assert!(chains_to(layout, std::slice::from_ref(&old), now));
        }
        assert_eq!(der(&f.state.ca_cert_path()), old);
        assert!(!f.state.rotating());
        assert_eq!(status(&f.state).unwrap().phase, Phase::None);
        // The new CA is archived as it was stored, key and all.
        let [cert, key] = [&aborted.archived[0], &aborted.archived[1]];
        assert_eq!(cert.parent(), Some(f.state.archive_dir().as_path()));
        assert!(cert
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("-aborted.pem"));
        assert_eq!(std::fs::read(cert).unwrap(), next_cert);
        assert_eq!(std::fs::read(key).unwrap(), next_key);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(key).unwrap().permissions().mode() & 0o777,
            0o400
        );
        // A new rotation may begin.
        let again = begin(&f.state, &begin_request(), now).unwrap();
        assert_ne!(
            again.new_ca.sha256_fingerprint,
            aborted.new_ca.sha256_fingerprint
        );
    }

    #[test]
    fn abort_after_reissue_reissues_every_leaf_from_the_old_ca() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        let old = der(&f.state.ca_cert_path());
        begin(&f.state, &begin_request(), now).unwrap();
        let new = der(&f.state.ca_next_cert_path());
        reissue(&f.state, now).unwrap();

        let aborted = abort(&f.state, now).unwrap();
        assert_eq!(aborted.reissued.len(), 3);
        assert!(aborted.not_reissued.is_empty() && aborted.skipped.is_empty());
        assert_eq!(aborted.restart_daemons(), std::slice::from_ref(&f.daemon));
        for layout in f.layouts() {
            let what = layout.dir.display().to_string();
            assert_eq!(
                certs(&layout.ca_path()),
                std::slice::from_ref(&old),
                "{what}"
            );
            assert!(
                chains_to(&layout, std::slice::from_ref(&old), now),
                "{what}"
            );
            assert!(
                !chains_to(&layout, std::slice::from_ref(&new), now),
                "{what}"
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
            .all(|r| r.ca_sha256 == aborted.old_ca.sha256_fingerprint));
        // Same names and lifetimes as before the rotation.
        let bob = active
            .iter()
            .find(|r| r.common_name.as_deref() == Some("bob"))
            .unwrap();
        assert_eq!(
            Lifetime::of_validity(bob.not_before, bob.not_after),
            "400d".parse().ok()
        );
        assert!(!f.state.rotating());
    }

    #[test]
    fn abort_lists_what_the_old_ca_cannot_reissue_and_layouts_it_cannot_write() {
        use std::os::unix::fs::PermissionsExt;
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        let old = der(&f.state.ca_cert_path());
        begin(&f.state, &request("30y"), now).unwrap();
        reissue(&f.state, now).unwrap();
        // Issued during the rotation by the new CA, longer than the old (10-year) CA lasts.
        let carol = f._root.path().join("carol");
        crate::ops::issue(
            &f.state,
            &crate::ops::IssueRequest {
                leaf: crate::ops::LeafRequest::Client(dockpki::ClientRequest {
                    common_name: "carol".parse().unwrap(),
                    lifetime: "20y".parse().unwrap(),
                }),
                key_type: KeyType::EcdsaP256,
                dir: carol.clone(),
                existing: Existing::Refuse,
            },
            now,
        )
        .unwrap();
        // bob made his layout writable by anyone: it is not written.
        std::fs::set_permissions(&f.bob, std::fs::Permissions::from_mode(0o777)).unwrap();
        let bob_ca = std::fs::read(Layout::client(f.bob.clone()).ca_path()).unwrap();

        let aborted = abort(&f.state, now).unwrap();
        let listed: Vec<_> = aborted
            .not_reissued
            .iter()
            .map(|n| n.record.common_name.clone().unwrap())
            .collect();
        assert_eq!(listed, ["bob", "carol"], "{:?}", aborted.not_reissued);
        assert!(
            aborted.not_reissued[0].reason.contains("cannot be written"),
            "{:?}",
            aborted.not_reissued[0]
        );
        assert!(
            aborted.not_reissued[1].reason.contains("its CA expires"),
            "{:?}",
            aborted.not_reissued[1]
        );
        assert_eq!(aborted.skipped.len(), 1, "{:?}", aborted.skipped);
        assert_eq!(aborted.skipped[0].0, f.bob);
        assert_eq!(
            std::fs::read(Layout::client(f.bob.clone()).ca_path()).unwrap(),
            bob_ca,
            "bob's layout untouched"
        );
        assert_eq!(aborted.reissued.len(), 2, "daemon and alice");
        for layout in &f.layouts()[..2] {
            assert!(chains_to(layout, std::slice::from_ref(&old), now));
        }
        // carol's layout trusts the old CA alone, like every other: her certificate must be
        // issued again.
        assert_eq!(
            certs(&Layout::client(carol).ca_path()),
            std::slice::from_ref(&old)
        );
        assert!(!f.state.rotating());
    }

    #[test]
    fn abort_never_replaces_an_earlier_archive() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        let begun = begin(&f.state, &begin_request(), now).unwrap();
        let tag = fingerprint_tag(&begun.new_ca);
        let first = f.state.archive_dir().join(format!("ca-{tag}-aborted.pem"));
        std::fs::create_dir_all(f.state.archive_dir()).unwrap();
        std::fs::write(&first, "kept").unwrap();
        let aborted = abort(&f.state, now).unwrap();
        assert_eq!(
            aborted.archived,
            [
                f.state
                    .archive_dir()
                    .join(format!("ca-{tag}-aborted-2.pem")),
                f.state
                    .archive_dir()
                    .join(format!("ca-{tag}-aborted-2-key.pem")),
            ]
        );
        assert_eq!(std::fs::read(&first).unwrap(), b"kept");
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
            "abort" => drop(abort(state, now).unwrap()),
            other => panic!("no phase {other}"),
        }
    }

    /// Each rotation phase (and abort, after begin and after reissue), run in a child process
    /// (this test binary, filtered to this test)
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
        // Each phase after the ones before it; abort after begin and after reissue.
        for (earlier, phase, reached) in [
            (&[][..], "begin", Phase::Begun),
            (&["begin"][..], "reissue", Phase::Reissued),
            (&["begin", "reissue"][..], "finish", Phase::None),
            (&["begin"][..], "abort", Phase::None),
            (&["begin", "reissue"][..], "abort", Phase::None),
        ] {
            let mut n = 0;
            loop {
                let f = Fixture::new(now);
                for earlier in earlier {
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
                    if phase == "abort" {
                        assert_eq!(
                            certs(&layout.ca_path()),
                            [der(&state.ca_cert_path())],
                            "{what}: {} trusts the old CA alone",
                            layout.dir.display()
                        );
                    }
                }
                n += 1;
                assert!(n < 100, "{phase} never completed");
            }
        }
    }
}
