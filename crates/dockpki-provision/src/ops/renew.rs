//! Renewing recorded certificates: re-issuing the active certificates that are due (or the
//! selected ones) into every layout they are installed in, as one crash-safe update.
//!
//! Built for a daily timer: nothing due means nothing loaded, nothing written. The files a
//! renewal replaces are kept as timestamped backups; they are a few hundred bytes each, and an
//! operator may need the previous key to read old traffic captures or to roll back by hand.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use dockpki::{CertInfo, CertificateAuthority, Lifetime, Usage};
use time::OffsetDateTime;

use crate::docker::context::ContextFed;
use crate::error::{Advice, Error, Result};
use crate::fs::{Existing, Skipped, WritePlan, Written};
use crate::report::{Notice, Task};
use crate::store::expiry::{is_due, RenewalWindow};
use crate::store::inventory::{Inventory, Record, RemoteInfo, Status};
use crate::store::reissue::{
    plan_successor_files, resign_remote_record, restrict_reused_keys, sign_successors,
    successor_record,
};
use crate::store::State;

pub use crate::store::reissue::KeyPolicy;

/// Which active certificates to renew.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Those that are due by this window ([`RenewalWindow`]: the default relative rule, or a
    /// window given; never one in the first third of its lifetime).
    Due(RenewalWindow),
    /// Every active certificate.
    All,
    /// Every active certificate with this common name.
    CommonName(String),
    /// The one active certificate with this serial, whole or a prefix that names only it
    /// ([`Record::serial_matches`] says how it may be written).
    Serial(String),
}

/// A request to renew certificates.
#[derive(Clone, Debug)]
pub struct RenewRequest {
    /// What to renew.
    pub selection: Selection,
    /// Whether the successors get new keys or keep the installed ones.
    pub key_policy: KeyPolicy,
    /// The lifetime of every successor, local and remote; `None`: each keeps the lifetime of
    /// the certificate it replaces. It must end within the signing CA's validity.
    pub lifetime: Option<Lifetime>,
}

/// One certificate renewed.
#[derive(Clone, Debug)]
pub struct Renewed {
    /// Server or client.
    pub kind: Usage,
    /// The common name, as recorded.
    pub common_name: Option<String>,
    /// The serial of the certificate it replaces.
    pub old_serial: String,
    /// What the successor says.
    pub certificate: CertInfo,
    /// Whether its key is new or the one installed before.
    pub key_policy: KeyPolicy,
    /// The layout directories it was installed in.
    pub installed: Vec<PathBuf>,
    /// For a certificate signed for a remote host (`dockpki sign`): its host, and the directory
    /// the new certificate was written to for delivery. Its request was signed again, so its
    /// key is the same one ([`KeyPolicy::Reuse`]); the host installs it (`dockpki install`).
    pub remote: Option<RemoteInfo>,
}

/// What [`renew`] did.
#[derive(Debug, Default)]
pub struct Renewal {
    /// The certificates renewed, in inventory order (the local ones, then those of remote
    /// hosts); empty when nothing was selected. A certificate left out (see
    /// [`Renewal::skipped`]) is not among them.
    pub renewed: Vec<Renewed>,
    /// The directories left as they were, with the reason: users' layouts that could not be
    /// written (see [`WritePlan::drop_unwritable_layouts`]), the other layouts of a certificate
    /// installed in one of them (a certificate is renewed in all of its directories or in
    /// none), the docker contexts copying any of those, and remote hosts' delivery directories
    /// that could not be written. Each certificate left out keeps its record active, with no
    /// successor recorded, so the next renewal tries it again; everything else was renewed.
    pub skipped: Vec<Skipped>,
    /// The files written, with their backups.
    pub written: Vec<Written>,
    /// The docker contexts dockpki made whose copies of a renewed client layout were rewritten
    /// with it (not those whose own directory was skipped).
    pub contexts_fed: Vec<ContextFed>,
}

impl Renewal {
    /// The daemon directories that got new certificates, in the order they were renewed: dockerd
    /// reads its certificates only at start (SIGHUP does not reload TLS), so each needs a
    /// restart to serve them.
    pub fn restart_daemons(&self) -> Vec<PathBuf> {
        self.renewed
            .iter()
            .filter(|r| r.kind == Usage::Server)
            .flat_map(|r| r.installed.iter().cloned())
            .collect()
    }

    /// Whether every selected layout was written: `false` when one was skipped and still needs
    /// the operator.
    pub fn is_complete(&self) -> bool {
        self.skipped.is_empty()
    }
}

/// Renews the active certificates `request` selects from the state's signing CA (the new CA
/// during a rotation), keeping each one's kind, names and lifetime (unless
/// [`RenewRequest::lifetime`] gives another), into every layout it is
/// installed in, with the replaced files kept as timestamped backups, in one journaled update
/// that also records the successors in the inventory. Nothing selected means nothing is loaded
/// (no passphrase asked for) and nothing written.
///
/// A user's layout that cannot be written (they broke it) is left as it was and reported in
/// [`Renewal::skipped`] instead of stopping the renewal of everything else; its certificate is
/// left out of every directory it is installed in, and the same update keeps its record active
/// with no successor recorded, so that `status` shows it as it is and the next renewal renews
/// it once the directory is put right. With
/// [`KeyPolicy::Reuse`] every installed copy of a reused key is made 0400 afterwards.
///
/// # Errors
/// When no active certificate matches a [`Selection::CommonName`] or [`Selection::Serial`], a
/// serial prefix matches several, a successor would outlive the CA (rotate the CA first, or ask
/// for a shorter [`RenewRequest::lifetime`]), the CA
/// cannot be loaded, a key to reuse cannot be (it is loose, or not the recorded certificate's),
/// or the update cannot be written; nothing is written then.
///
/// # Examples
/// ```
/// use dockpki::{ClientRequest, KeyType, OffsetDateTime};
/// use dockpki_provision::fs::Existing;
/// use dockpki_provision::ops::{issue, renew, IssueRequest, LeafRequest, RenewRequest, Selection};
/// use dockpki_provision::store::reissue::KeyPolicy;
/// use dockpki_provision::store::{Create, Settings, State};
/// use dockpki_provision::store::expiry::RenewalWindow;
/// # let root = tempfile::tempdir()?;
/// let state = State::open(root.path().join("state"), Create::IfMissing, Settings::default())?;
/// let now = OffsetDateTime::now_utc();
/// # let ca = dockpki::CertificateAuthority::create(&dockpki::CaOptions::new(now)?, now)?;
/// # let mut plan = dockpki_provision::fs::WritePlan::new(Existing::Refuse);
/// # state.plan_ca(&mut plan, &ca, dockpki_provision::store::KeyProtection::Plain)?;
/// # state.commit(state.feed_contexts(plan)?)?;
/// # let leaf = LeafRequest::Client(ClientRequest { common_name: "alice".parse()?, lifetime: "90d".parse()? });
/// # let dir = root.path().join("alice/.docker");
/// # issue(&state, &IssueRequest { leaf, key_type: KeyType::EcdsaP256, dir, existing: Existing::Refuse }, now)?;
/// // 61 days on, alice's 90-day certificate has 29 days left: due by the default rule.
/// let renewal = renew(
///     &state,
///     &RenewRequest {
///         selection: Selection::Due(RenewalWindow::Relative),
///         key_policy: KeyPolicy::Fresh,
///         lifetime: None,
///     },
///     now + time::Duration::days(61),
/// )?;
/// assert_eq!(renewal.renewed.len(), 1);
/// assert!(renewal.is_complete() && renewal.restart_daemons().is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn renew(state: &State, request: &RenewRequest, now: OffsetDateTime) -> Result<Renewal> {
    let mut inventory = state.load_inventory()?;
    let selected = select(state, &inventory, &request.selection, now)?;
    if selected.is_empty() {
        return Ok(Renewal::default());
    }
    // Certificates of remote hosts have no layout here: their stored requests are signed
    // again, into the directories they were delivered from.
    let (remote, selected): (Vec<Record>, Vec<Record>) =
        selected.into_iter().partition(|r| r.remote.is_some());

    let ca = state.load_ca()?;
    let bundle = state.trust_bundle_pem(&ca)?;
    let owners = &state.settings().owners;
    // Renew replaces files it wrote itself: forced, with backups.
    let mut plan = WritePlan::new(Existing::ReplaceKeepingBackup);
    // Each new RSA key takes up to seconds: `renew --all` over many of them reports progress,
    // as each successor is signed (several at a time, counted in order).
    let report = state.settings().report.as_ref();
    let slow = request.key_policy == KeyPolicy::Fresh
        && selected
            .iter()
            .any(|r| r.key_type.unwrap_or_default().is_slow_to_generate());
    let total = selected.len();
    let progress = |done: usize| {
        if slow {
            report.notice(&Notice::Progress {
                task: Task::Renewing,
                done,
                total,
            });
        }
    };
    progress(0);
    // Any refusal (a successor that would outlive the CA, an unreadable key) returns before the
    // plan is committed: nothing is written for any certificate. Refusals are reported for the
    // first certificate in order that has one, as when they were signed one by one; the
    // certificates are signed together (several at a time), but only up to the first that
    // would outlive the CA.
    let outliving = selected
        .iter()
        .position(|r| refuse_outliving_ca(r, &ca, request.lifetime, now).is_err())
        .unwrap_or(selected.len());
    let signed = sign_successors(
        &ca,
        &selected[..outliving],
        request.key_policy,
        owners,
        request.lifetime,
        now,
        progress,
    );
    // The work ended, whether every step succeeded or not: whoever draws the progress stops.
    // Signing everything reported the end already.
    if outliving < total {
        progress(total);
    }
    let mut issued_all = Vec::with_capacity(signed.len());
    let mut renewed = Vec::new();
    for (record, issued) in selected.iter().zip(signed) {
        let issued = issued?;
        renewed.push(Renewed {
            kind: record.kind,
            common_name: record.common_name.clone(),
            old_serial: record.serial.clone(),
            certificate: issued.info.clone(),
            key_policy: request.key_policy,
            installed: record.installed.clone(),
            remote: None,
        });
        issued_all.push(issued);
    }
    if let Some(record) = selected.get(outliving) {
        refuse_outliving_ca(record, &ca, request.lifetime, now)?;
    }
    // The successors are recorded only once the update knows which layouts it writes (below).
    plan_successor_files(&bundle, &selected, &issued_all, owners, &mut plan);
    // A remote host's delivery directory that cannot be written is left out before its new
    // certificate is recorded: the inventory keeps the old one active (renewed again next
    // time), instead of recording a certificate nobody can fetch.
    let mut remote_skipped = Vec::new();
    let mut resigned_all = Vec::new();
    for record in &remote {
        refuse_outliving_ca(record, &ca, request.lifetime, now)?;
        let Some(resigned) = resign_remote_record(&ca, record, request.lifetime, now)? else {
            continue;
        };
        let mut probe = WritePlan::new(Existing::ReplaceKeepingBackup);
        resigned.plan(&bundle, &mut probe);
        if let Err(e) = probe.check() {
            remote_skipped.push((resigned.out.dir.clone(), e.to_string()));
            continue;
        }
        resigned.plan(&bundle, &mut plan);
        resigned_all.push((record, resigned));
    }
    // Judged before the update: judged again after it, a layout swapped for a symlink would
    // have no owner, and root would follow it (see restrict_reused_keys).
    let layout_owners: BTreeMap<_, _> = selected
        .iter()
        .flat_map(|r| r.installed.iter())
        .map(|d| (d.clone(), owners.owner_for(d)))
        .collect();
    let plan = state.feed_contexts(plan)?;
    let mut contexts_fed = plan.contexts().to_vec();
    // Which certificates had a directory left out, found once the layouts are judged: those
    // keep their record active, with no successor recorded, in the same update.
    let mut left_out = vec![false; selected.len()];
    let mut remote_left_out = vec![false; resigned_all.len()];
    let (written, mut skipped) = state.commit_skipping_unwritable(plan, |plan, dropped| {
        let more = leave_out_whole(&selected, dropped, &mut left_out);
        let gone = |dir: &Path| dropped.iter().chain(&more).any(|(d, _)| d.as_path() == dir);
        inventory.add_all(
            selected
                .iter()
                .zip(&issued_all)
                .zip(&left_out)
                .filter(|(_, &out)| !out)
                .map(|((record, issued), _)| successor_record(&ca, record, issued)),
        );
        for ((_, resigned), out) in resigned_all.iter().zip(&mut remote_left_out) {
            // Its probe passed, but the update judged the directory an instant later.
            *out = gone(&resigned.out.dir);
            if !*out {
                inventory.add(resigned.record.clone());
            }
        }
        state.plan_inventory(plan, &inventory)?;
        Ok(more)
    })?;
    let mut kept = left_out.iter().map(|out| !out);
    renewed.retain(|_| kept.next().unwrap_or(false));
    for ((record, resigned), out) in resigned_all.into_iter().zip(remote_left_out) {
        if out {
            continue;
        }
        renewed.push(Renewed {
            kind: record.kind,
            common_name: record.common_name.clone(),
            old_serial: record.serial.clone(),
            certificate: resigned.signed.info,
            key_policy: KeyPolicy::Reuse,
            installed: Vec::new(),
            remote: record.remote.clone(),
        });
    }
    skipped.extend(remote_skipped);
    let was_skipped = |dir: &Path| skipped.iter().any(|(d, _)| d == dir);
    contexts_fed.retain(|c| !was_skipped(&c.tls_dir()));
    if request.key_policy == KeyPolicy::Reuse {
        // Only the layouts the update wrote: a skipped one is left exactly as it was.
        let written_layouts: BTreeMap<_, _> = layout_owners
            .into_iter()
            .filter(|(dir, _)| !was_skipped(dir))
            .collect();
        for (record, _) in selected.iter().zip(&left_out).filter(|(_, &out)| !out) {
            restrict_reused_keys(record, &written_layouts)?;
        }
    }
    Ok(Renewal {
        renewed,
        skipped,
        written,
        contexts_fed,
    })
}

/// Marks in `left_out` each of `records` installed in a directory `dropped` names, or in one
/// left out with another such record, and returns those other directories, with the reason:
/// a certificate is written into every directory it is installed in or into none, so that no
/// directory holds a certificate the inventory does not record.
fn leave_out_whole(records: &[Record], dropped: &[Skipped], left_out: &mut [bool]) -> Vec<Skipped> {
    let mut gone: HashSet<&Path> = dropped.iter().map(|(d, _)| d.as_path()).collect();
    let mut more: Vec<Skipped> = Vec::new();
    // Until nothing changes: a directory left out for one certificate may hold another's.
    let mut changed = true;
    while changed {
        changed = false;
        for (record, out) in records.iter().zip(left_out.iter_mut()) {
            if *out {
                continue;
            }
            let Some(first) = record.installed.iter().find(|d| gone.contains(d.as_path())) else {
                continue;
            };
            *out = true;
            changed = true;
            for dir in &record.installed {
                if gone.contains(dir.as_path()) {
                    continue;
                }
                let why = format!(
                    "its {} certificate (serial {}) is also installed in {}, which was left out, and is renewed in all of its directories or in none",
                    record.kind,
                    record.serial,
                    first.display()
                );
                gone.insert(dir.as_path());
                more.push((dir.clone(), why));
            }
        }
    }
    more
}

/// The active records `selection` names, in inventory order.
fn select(
    state: &State,
    inventory: &Inventory,
    selection: &Selection,
    now: OffsetDateTime,
) -> Result<Vec<Record>> {
    let active = || {
        inventory
            .certificates
            .iter()
            .filter(|r| r.status == Status::Active)
    };
    Ok(match selection {
        Selection::Due(window) => active()
            .filter(|r| is_due(r.not_before, r.not_after, now, *window))
            .cloned()
            .collect(),
        Selection::All => active().cloned().collect(),
        Selection::CommonName(name) => {
            let found: Vec<Record> = active()
                .filter(|r| r.common_name.as_deref() == Some(name.as_str()))
                .cloned()
                .collect();
            if found.is_empty() {
                return Err(Error::advised(
                    format!("no active certificate has the common name {name:?}"),
                    Advice::ListNames,
                ));
            }
            found
        }
        Selection::Serial(serial) => {
            let selection = inventory.select_serial(serial, |r| r.status == Status::Active);
            let found: Vec<Record> = selection
                .indices
                .iter()
                .map(|&i| inventory.certificates[i].clone())
                .collect();
            match found.len() {
                0 => {
                    return Err(Error::advised(
                        format!("no active certificate has the serial {serial:?}"),
                        Advice::ListSerials,
                    ))
                }
                1 => found,
                n if selection.exact => {
                    return Err(Error::new(format!(
                        "the serial {serial:?} is recorded for {n} active certificates in {}, which is damaged (dockpki records each certificate once); restore the previous version from {}.bak, or remove the extra record by hand",
                        state.inventory_path().display(),
                        state.inventory_path().display()
                    )))
                }
                n => {
                    return Err(Error::advised(
                        format!("the serial {serial:?} matches {n} active certificates"),
                        Advice::MoreSerialDigits,
                    ))
                }
            }
        }
    })
}

/// Renewal keeps a certificate's lifetime, so near the end of the CA a successor would outlive
/// it, which the core refuses (`LeafOutlivesCa`). Say so in renewal's terms: the way forward is
/// a new CA, which renewing cannot make; or, for a lifetime the caller asked for (`asked`), a
/// shorter one.
fn refuse_outliving_ca(
    record: &Record,
    ca: &CertificateAuthority,
    asked: Option<Lifetime>,
    now: OffsetDateTime,
) -> Result<()> {
    let Some(lifetime) =
        asked.or_else(|| Lifetime::of_validity(record.not_before, record.not_after))
    else {
        // reissue() reports an unusable recorded validity itself.
        return Ok(());
    };
    let (_, successor_not_after) = lifetime.window(now);
    let ca_not_after = ca.info().not_after;
    if successor_not_after
        .replace_nanosecond(0)
        .unwrap_or(successor_not_after)
        <= ca_not_after
    {
        return Ok(());
    }
    if asked.is_some() {
        return Err(Error::advised(
            format!(
                "cannot renew {} certificate {:?} (serial {}) with a validity of {lifetime}: it would expire {}, after its CA ({})",
                record.kind,
                record.common_name.as_deref().unwrap_or("-"),
                record.serial,
                dockpki::format_time(successor_not_after),
                dockpki::format_time(ca_not_after),
            ),
            Advice::ShorterValidity,
        ));
    }
    Err(Error::advised(
        format!(
            "cannot renew {} certificate {:?} (serial {}): its successor (valid {lifetime}) would expire {}, after its CA ({})",
            record.kind,
            record.common_name.as_deref().unwrap_or("-"),
            record.serial,
            dockpki::format_time(successor_not_after),
            dockpki::format_time(ca_not_after),
        ),
        Advice::RotateCaFirst,
    ))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::layout::Layout;
    use crate::ops::test_fixtures::{certs, chains_to, installed_spki, Fixture};
    use time::Duration;

    fn request(selection: Selection, key_policy: KeyPolicy) -> RenewRequest {
        RenewRequest {
            selection,
            key_policy,
            lifetime: None,
        }
    }

    fn serial_in(layout: &Layout) -> String {
        dockpki::inspect(&certs(&layout.cert_path())[0])
            .unwrap()
            .serial
    }

    #[test]
    fn only_what_expires_within_the_window_is_renewed_and_nothing_due_writes_nothing() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        let [daemon, alice, bob] = f.layouts();
        let before = [&daemon, &alice, &bob].map(serial_in);

        let within = |days| Selection::Due(RenewalWindow::Within(Duration::days(days)));
        let nothing = renew(&f.state, &request(within(30), KeyPolicy::Fresh), now).unwrap();
        assert!(nothing.renewed.is_empty() && nothing.written.is_empty());
        assert_eq!([&daemon, &alice, &bob].map(serial_in), before);
        // Freshly issued, nothing is due even within 100 days: a renewal right after issue
        // would re-key the same certificates on every run.
        let nothing = renew(&f.state, &request(within(100), KeyPolicy::Fresh), now).unwrap();
        assert!(nothing.renewed.is_empty() && nothing.written.is_empty());

        // 31 days on, alice's 90 days end within 100 days; the daemon's 365 and bob's 400 do
        // not.
        let now = now + Duration::days(31);
        let renewal = renew(&f.state, &request(within(100), KeyPolicy::Fresh), now).unwrap();
        assert_eq!(renewal.renewed.len(), 1);
        let renewed = &renewal.renewed[0];
        assert_eq!(renewed.common_name.as_deref(), Some("alice"));
        assert_eq!(renewed.old_serial, before[1]);
        assert_eq!(renewed.certificate.serial, serial_in(&alice));
        assert_ne!(serial_in(&alice), before[1]);
        assert_eq!(
            [serial_in(&daemon), serial_in(&bob)],
            [before[0].clone(), before[2].clone()]
        );
        assert!(renewal.restart_daemons().is_empty(), "no daemon changed");
        assert!(renewal.is_complete());

        // 340 days after the first issue: alice's renewed one has expired (due too), the
        // daemon's expires in 25 days, bob's in 60.
        let later = now - Duration::days(31) + Duration::days(340);
        let renewal = renew(&f.state, &request(within(30), KeyPolicy::Fresh), later).unwrap();
        let renewed: Vec<_> = renewal
            .renewed
            .iter()
            .map(|r| (r.kind, r.installed.clone()))
            .collect();
        assert_eq!(
            renewed,
            [
                (Usage::Server, vec![f.daemon.clone()]),
                (Usage::Client, vec![f.alice.clone()])
            ]
        );
        assert_eq!(renewal.restart_daemons(), std::slice::from_ref(&f.daemon));
        let ca = certs(&f.state.ca_cert_path());
        for layout in [&daemon, &alice] {
            assert!(chains_to(layout, &ca, later), "{}", layout.dir.display());
        }
        assert_eq!(serial_in(&bob), before[2]);
    }

    #[test]
    fn reusing_the_key_keeps_its_public_key_and_a_fresh_key_changes_it() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        let alice = Layout::client(f.alice.clone());
        let spki = installed_spki(&alice);
        let serial = serial_in(&alice);

        let reused = renew(
            &f.state,
            &request(Selection::Serial(serial.clone()), KeyPolicy::Reuse),
            now,
        )
        .unwrap();
        assert_eq!(reused.renewed[0].key_policy, KeyPolicy::Reuse);
        assert_ne!(serial_in(&alice), serial, "a new certificate");
        assert_eq!(installed_spki(&alice), spki, "for the same key");
        let mode = std::fs::metadata(alice.key_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o400);

        let fresh = renew(
            &f.state,
            &request(Selection::CommonName("alice".into()), KeyPolicy::Fresh),
            now,
        )
        .unwrap();
        assert_eq!(fresh.renewed.len(), 1);
        assert_ne!(installed_spki(&alice), spki, "a new key");
        assert!(chains_to(&alice, &certs(&f.state.ca_cert_path()), now));
    }

    #[test]
    fn a_name_or_serial_naming_no_active_certificate_is_refused_with_advice() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        let err =
            |selection| renew(&f.state, &request(selection, KeyPolicy::Fresh), now).unwrap_err();
        let e = err(Selection::CommonName("carol".into()));
        assert_eq!(e.advice(), Some(Advice::ListNames));
        assert!(e.message().contains("\"carol\""), "{e}");
        let e = err(Selection::Serial("0g".into()));
        assert_eq!(e.advice(), Some(Advice::ListSerials));
        // A renewed certificate's old serial is no longer active.
        let old = serial_in(&Layout::client(f.bob.clone()));
        renew(
            &f.state,
            &request(Selection::Serial(old.clone()), KeyPolicy::Fresh),
            now,
        )
        .unwrap();
        assert_eq!(
            err(Selection::Serial(old)).advice(),
            Some(Advice::ListSerials)
        );
    }

    #[test]
    fn a_serial_prefix_of_several_or_a_serial_recorded_twice_is_refused() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        let set_bobs_serial = |serial: String| {
            let mut inventory = f.state.load_inventory().unwrap();
            inventory.certificates[2].serial = serial;
            let mut plan = WritePlan::new(Existing::ReplaceKeepingBackup);
            f.state.plan_inventory(&mut plan, &inventory).unwrap();
            f.state
                .commit(f.state.feed_contexts(plan).unwrap())
                .unwrap();
        };
        let alices = f.state.load_inventory().unwrap().certificates[1]
            .serial
            .clone();
        let renew_serial = |serial: &str| {
            renew(
                &f.state,
                &request(Selection::Serial(serial.into()), KeyPolicy::Fresh),
                now,
            )
        };

        set_bobs_serial(format!("{alices}00"));
        let e = renew_serial(&alices[..6]).unwrap_err();
        assert_eq!(e.advice(), Some(Advice::MoreSerialDigits));
        assert!(e.message().contains("matches 2 active certificates"), "{e}");

        set_bobs_serial(alices.clone());
        let inventory = std::fs::read(f.state.inventory_path()).unwrap();
        let e = renew_serial(&alices).unwrap_err();
        assert_eq!(e.advice(), None);
        assert!(e.message().contains("which is damaged"), "{e}");
        assert_eq!(std::fs::read(f.state.inventory_path()).unwrap(), inventory);
    }

    #[test]
    fn a_layout_that_cannot_be_written_is_left_as_it_was_and_reported_while_the_rest_renews() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        let [daemon, alice, bob] = f.layouts();
        let before = [&daemon, &alice].map(serial_in);
        let bobs_key = std::fs::read(bob.key_path()).unwrap();
        // bob broke his layout: a directory where his certificate belongs.
        std::fs::remove_file(bob.cert_path()).unwrap();
        std::fs::create_dir(bob.cert_path()).unwrap();

        let renewal = renew(&f.state, &request(Selection::All, KeyPolicy::Fresh), now).unwrap();
        assert!(!renewal.is_complete());
        assert_eq!(renewal.skipped.len(), 1, "{:?}", renewal.skipped);
        assert_eq!(renewal.skipped[0].0, f.bob);
        assert!(!renewal.skipped[0].1.is_empty());
        assert_ne!([&daemon, &alice].map(serial_in), before);
        assert_eq!(std::fs::read(bob.key_path()).unwrap(), bobs_key);
        assert!(renewal.written.iter().all(|w| !w.path.starts_with(&f.bob)));
        assert_eq!(renewal.restart_daemons(), std::slice::from_ref(&f.daemon));
    }

    /// Every active record's certificate is the one in each directory it lists, and each
    /// directory of `dirs` is listed by exactly one active record: the inventory records no
    /// certificate that is in no layout, and no layout holds one it does not record.
    fn assert_inventory_matches_layouts(state: &State, dirs: &[&PathBuf]) {
        let inventory = state.load_inventory().unwrap();
        let active: Vec<&Record> = inventory
            .certificates
            .iter()
            .filter(|r| r.status == Status::Active)
            .collect();
        for record in &active {
            for dir in &record.installed {
                let layout = Layout::for_usage(record.kind, dir.clone());
                assert_eq!(serial_in(&layout), record.serial, "{}", dir.display());
            }
        }
        for dir in dirs {
            let listing = active.iter().filter(|r| r.installed.contains(dir)).count();
            assert_eq!(listing, 1, "active records listing {}", dir.display());
        }
    }

    /// The defect this guards against: the inventory recorded the successor of a layout the
    /// update left out, so its old certificate (still installed) was marked superseded and
    /// never renewed again.
    #[test]
    fn a_skipped_layout_keeps_its_record_active_with_no_successor_and_renews_once_fixed() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        let [daemon, alice, bob] = f.layouts();
        let before = [&daemon, &alice, &bob].map(serial_in);
        let bobs_files =
            [bob.cert_path(), bob.key_path(), bob.ca_path()].map(|p| std::fs::read(p).unwrap());
        let records_before = f.state.load_inventory().unwrap().certificates.len();
        // bob made his layout group-writable: it cannot be written.
        std::fs::set_permissions(&f.bob, std::fs::Permissions::from_mode(0o770)).unwrap();

        let renewal = renew(&f.state, &request(Selection::All, KeyPolicy::Fresh), now).unwrap();
        assert_eq!(renewal.skipped.len(), 1, "{:?}", renewal.skipped);
        assert_eq!(renewal.skipped[0].0, f.bob);
        let renewed: Vec<&str> = renewal
            .renewed
            .iter()
            .map(|r| r.old_serial.as_str())
            .collect();
        assert_eq!(renewed, [before[0].as_str(), before[1].as_str()]);
        assert_eq!(
            [bob.cert_path(), bob.key_path(), bob.ca_path()].map(|p| std::fs::read(p).unwrap()),
            bobs_files,
            "bob's files are unchanged"
        );
        assert_ne!(
            [&daemon, &alice].map(serial_in),
            [&before[0], &before[1]].map(|s| s.clone())
        );
        let inventory = f.state.load_inventory().unwrap();
        assert_eq!(
            inventory.certificates.len(),
            records_before + 2,
            "two successors"
        );
        let bobs = inventory
            .certificates
            .iter()
            .find(|r| r.serial == before[2])
            .unwrap();
        assert_eq!(bobs.status, Status::Active, "bob's record stays active");
        assert_inventory_matches_layouts(&f.state, &[&f.daemon, &f.alice, &f.bob]);

        // bob puts his directory right: the next renewal renews his certificate.
        std::fs::set_permissions(&f.bob, std::fs::Permissions::from_mode(0o700)).unwrap();
        let renewal = renew(
            &f.state,
            &request(Selection::CommonName("bob".into()), KeyPolicy::Fresh),
            now,
        )
        .unwrap();
        assert!(renewal.is_complete());
        assert_eq!(renewal.renewed.len(), 1);
        assert_eq!(renewal.renewed[0].old_serial, before[2]);
        assert_ne!(serial_in(&bob), before[2]);
        assert_inventory_matches_layouts(&f.state, &[&f.daemon, &f.alice, &f.bob]);
    }

    /// A certificate installed in several directories is renewed in all of them or in none:
    /// one of them left out keeps the others as they were, each reported with why.
    #[test]
    fn a_certificate_installed_in_several_directories_is_left_out_of_all_when_one_is_skipped() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        let [daemon, alice, bob] = f.layouts();
        // alice's certificate is also installed in a second directory, listed second.
        let second = f.alice.with_file_name("alice2");
        std::fs::create_dir(&second).unwrap();
        std::fs::set_permissions(&second, std::fs::Permissions::from_mode(0o700)).unwrap();
        let alice2 = Layout::client(second.clone());
        for (from, to) in [
            (alice.cert_path(), alice2.cert_path()),
            (alice.key_path(), alice2.key_path()),
            (alice.ca_path(), alice2.ca_path()),
        ] {
            std::fs::copy(from, to).unwrap();
        }
        let mut inventory = f.state.load_inventory().unwrap();
        let alices = inventory.certificates[1].serial.clone();
        assert_eq!(serial_in(&alice), alices);
        inventory.certificates[1].installed.push(second.clone());
        let mut plan = WritePlan::new(Existing::ReplaceKeepingBackup);
        f.state.plan_inventory(&mut plan, &inventory).unwrap();
        f.state
            .commit(f.state.feed_contexts(plan).unwrap())
            .unwrap();
        let alices_files = std::fs::read(alice.cert_path()).unwrap();
        let before = [&daemon, &bob].map(serial_in);
        std::fs::set_permissions(&second, std::fs::Permissions::from_mode(0o770)).unwrap();

        let renewal = renew(&f.state, &request(Selection::All, KeyPolicy::Fresh), now).unwrap();
        let skipped: Vec<&PathBuf> = renewal.skipped.iter().map(|(d, _)| d).collect();
        assert_eq!(skipped, [&second, &f.alice], "{:?}", renewal.skipped);
        let why = &renewal.skipped[1].1;
        assert!(
            why.contains(&alices) && why.contains(&second.display().to_string()),
            "{why}"
        );
        assert_eq!(std::fs::read(alice.cert_path()).unwrap(), alices_files);
        assert_eq!(serial_in(&alice2), alices);
        assert!(renewal
            .written
            .iter()
            .all(|w| !w.path.starts_with(&f.alice)));
        assert_eq!(renewal.renewed.len(), 2);
        assert!(renewal.renewed.iter().all(|r| r.old_serial != alices));
        assert_ne!([&daemon, &bob].map(serial_in), before);
        assert_inventory_matches_layouts(&f.state, &[&f.daemon, &f.alice, &second, &f.bob]);
    }

    /// With `--reuse-key` the keys renewed in place are made 0400, but only in the layouts the
    /// update wrote: a layout it skipped is left exactly as it was, key mode included.
    #[test]
    fn reused_keys_are_restricted_only_in_the_layouts_the_renewal_wrote() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        let [_, alice, bob] = f.layouts();
        let mode =
            |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o7777;
        for layout in [&alice, &bob] {
            std::fs::set_permissions(layout.key_path(), std::fs::Permissions::from_mode(0o600))
                .unwrap();
        }
        // bob made his layout group-writable: it cannot be written, but its key can be read.
        std::fs::set_permissions(&f.bob, std::fs::Permissions::from_mode(0o770)).unwrap();
        let bobs_serial = serial_in(&bob);

        let renewal = renew(&f.state, &request(Selection::All, KeyPolicy::Reuse), now).unwrap();
        assert_eq!(renewal.skipped.len(), 1, "{:?}", renewal.skipped);
        assert_eq!(renewal.skipped[0].0, f.bob);
        assert_eq!(mode(&alice.key_path()), 0o400, "a layout written");
        assert_eq!(mode(&bob.key_path()), 0o600, "the layout skipped");
        assert_eq!(serial_in(&bob), bobs_serial);
    }

    #[test]
    fn a_successor_that_would_outlive_the_ca_is_refused_and_nothing_is_written() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        let inventory = std::fs::read(f.state.inventory_path()).unwrap();
        // The CA lives 10 years; 3600 days on, a 365-day successor would end after it.
        let e = renew(
            &f.state,
            &request(Selection::All, KeyPolicy::Fresh),
            now + Duration::days(3600),
        )
        .unwrap_err();
        assert_eq!(e.advice(), Some(Advice::RotateCaFirst));
        assert!(
            e.message().starts_with("cannot renew server certificate"),
            "{e}"
        );
        assert_eq!(std::fs::read(f.state.inventory_path()).unwrap(), inventory);
    }

    #[test]
    fn a_validity_asked_for_is_every_successors_lifetime_and_one_beyond_the_ca_writes_nothing() {
        let now = OffsetDateTime::now_utc();
        let f = Fixture::new(now);
        let mut asked = request(Selection::CommonName("alice".into()), KeyPolicy::Fresh);
        asked.lifetime = Some("10d".parse().unwrap());
        let renewal = renew(&f.state, &asked, now).unwrap();
        let info = &renewal.renewed[0].certificate;
        assert_eq!(
            (info.not_after - now + Duration::seconds(1)).whole_hours(),
            10 * 24
        );

        let inventory = std::fs::read(f.state.inventory_path()).unwrap();
        let alice = std::fs::read(Layout::client(f.alice.clone()).cert_path()).unwrap();
        let mut beyond = request(Selection::All, KeyPolicy::Fresh);
        beyond.lifetime = Some("11y".parse().unwrap());
        let e = renew(&f.state, &beyond, now).unwrap_err();
        assert_eq!(e.advice(), Some(Advice::ShorterValidity));
        assert!(e.message().contains("after its CA"), "{e}");
        assert_eq!(std::fs::read(f.state.inventory_path()).unwrap(), inventory);
        assert_eq!(
            std::fs::read(Layout::client(f.alice.clone()).cert_path()).unwrap(),
            alice
        );
    }
}
