//! Re-issuing a recorded certificate (same kind, names and lifetime) into every layout it was
//! installed in: the shared step of `renew` and `ca rotate reissue`.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use dockpki::{
    CertificateAuthority, ClientRequest, IssuedCert, Lifetime, PrivateKey, SanList, ServerRequest,
    SignedCert, Usage, VerifiedCsr,
};
use time::OffsetDateTime;

use crate::error::{Advice, Error, Result};
use crate::fs::owner::ActingAs;
use crate::fs::owner::OwnerPolicy;
use crate::fs::reader::{self, Limit, Links};
use crate::fs::write::{WritePlan, KEY_MODE};
use crate::layout::Layout;
use crate::store::inventory::{Inventory, Record};

/// Where the new certificate's key comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyPolicy {
    /// A freshly generated key of the recorded type (the default: a renewal also rotates keys).
    Fresh,
    /// The key installed with the old certificate, read from its first layout.
    Reuse,
}

/// Issues the successor of `record` from `ca`, adds its files to `plan` for every layout the old
/// one was installed in (with `bundle_pem` as `ca.pem`), and records it in `inventory`, which
/// marks `record` superseded.
///
/// # Errors
/// When the record cannot be re-issued (no layout recorded, an unusable validity or name, a key
/// that may not be reused, a refusal of the CA); nothing is planned then.
#[allow(clippy::too_many_arguments)]
pub fn reissue(
    ca: &CertificateAuthority,
    bundle_pem: &str,
    record: &Record,
    key_policy: KeyPolicy,
    owners: &OwnerPolicy,
    now: OffsetDateTime,
    plan: &mut WritePlan,
    inventory: &mut Inventory,
) -> Result<IssuedCert> {
    let key = key_for(record, key_policy, owners)?;
    let issued = successor(ca, record, key, None, now)?;
    plan_successors(
        ca,
        bundle_pem,
        std::slice::from_ref(record),
        std::slice::from_ref(&issued),
        owners,
        plan,
        inventory,
    );
    Ok(issued)
}

/// The successors of many records at once, each as [`reissue`] would issue it, in the order of
/// `records`, without planning or recording anything (see [`plan_successors`]): the keys to
/// reuse are read first, one after the other on this thread (reading acts as each layout's
/// owner, an identity that belongs to one thread), then the keys are generated and the
/// certificates signed on as many threads as the machine runs at once. Renewing thousands of
/// certificates is signing thousands of certificates.
///
/// `lifetime` is each successor's lifetime; `None`: each keeps its record's.
///
/// `signed` is called with how many records are done (signed or refused) each time one is,
/// from the thread that did it: one call at a time, with the counts in increasing order, so a
/// caller can report progress as it goes.
pub fn sign_successors(
    ca: &CertificateAuthority,
    records: &[Record],
    key_policy: KeyPolicy,
    owners: &OwnerPolicy,
    lifetime: Option<Lifetime>,
    now: OffsetDateTime,
    signed: impl Fn(usize) + Sync,
) -> Vec<Result<IssuedCert>> {
    let keys: Vec<Result<Option<PrivateKey>>> = records
        .iter()
        .map(|record| match key_policy {
            KeyPolicy::Fresh => layouts_of(record, &what(record)).map(|_| None),
            KeyPolicy::Reuse => key_for(record, key_policy, owners).map(Some),
        })
        .collect();
    let sign = |(record, key): Signing<'_>| {
        let key = match key? {
            Some(key) => key,
            None => PrivateKey::generate(record.key_type.unwrap_or_default())?,
        };
        successor(ca, record, key, lifetime, now)
    };
    // Counted and reported under one lock: two threads reporting outside it could deliver
    // their counts out of order, and a progress display would step back.
    let done = std::sync::Mutex::new(0);
    let work: Vec<Signing<'_>> = records.iter().zip(keys).collect();
    crate::parallel::map(work, PARALLEL_FROM, |item| {
        let result = sign(item);
        let mut done = done
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *done += 1;
        signed(*done);
        result
    })
}

/// A record to sign the successor of, with the key read for it (`None`: generate one).
type Signing<'a> = (&'a Record, Result<Option<PrivateKey>>);

/// From how many records [`sign_successors`] signs on several threads.
const PARALLEL_FROM: usize = 16;

/// Adds the files of each successor in `issued` (of `records[i]`, from `ca`) to `plan` for every
/// layout its record was installed in, with `bundle_pem` as `ca.pem`, and records them all in
/// `inventory` ([`Inventory::add_all`]), which marks the records they replace superseded: what
/// [`reissue`] does for one, in the same order.
pub fn plan_successors(
    ca: &CertificateAuthority,
    bundle_pem: &str,
    records: &[Record],
    issued: &[IssuedCert],
    owners: &OwnerPolicy,
    plan: &mut WritePlan,
    inventory: &mut Inventory,
) {
    plan_successor_files(bundle_pem, records, issued, owners, plan);
    inventory.add_all(
        records
            .iter()
            .zip(issued)
            .map(|(record, issued)| successor_record(ca, record, issued)),
    );
}

/// The files half of [`plan_successors`]: adds the files of each successor in `issued` (of
/// `records[i]`) to `plan` for every layout its record was installed in, with `bundle_pem` as
/// `ca.pem`, recording nothing. A renewal records the successors once it knows which layouts
/// could be written ([`successor_record`]).
pub fn plan_successor_files(
    bundle_pem: &str,
    records: &[Record],
    issued: &[IssuedCert],
    owners: &OwnerPolicy,
    plan: &mut WritePlan,
) {
    for (record, issued) in records.iter().zip(issued) {
        for dir in &record.installed {
            let layout = Layout::for_usage(record.kind, dir.clone());
            layout.plan(plan, bundle_pem, issued, owners.owner_for(&layout.dir));
        }
    }
}

/// The inventory record of `issued`, the successor of `record` signed by `ca`: the same kind,
/// installed in the same layouts.
pub fn successor_record(ca: &CertificateAuthority, record: &Record, issued: &IssuedCert) -> Record {
    Record::new(
        &issued.info,
        record.kind,
        &ca.info().sha256_fingerprint,
        record.installed.clone(),
    )
}

/// A remote host's certificate signed again ([`resign_remote_record`]), not yet planned or
/// recorded.
#[derive(Debug)]
pub struct Resigned {
    /// The new certificate.
    pub signed: SignedCert,
    /// Its inventory record: the same host, request and delivery directory.
    pub record: Record,
    /// The delivery directory, as a layout of the certificate's kind.
    pub out: Layout,
}

impl Resigned {
    /// Plans the certificate and `bundle_pem` as `ca.pem` into the delivery directory.
    pub fn plan(&self, bundle_pem: &str, plan: &mut WritePlan) {
        plan.cert(self.out.ca_path(), bundle_pem, None);
        plan.cert(self.out.cert_path(), &self.signed.cert_pem, None);
    }
}

/// Signs `record`'s stored request again from `ca` (same key, same names, the same lifetime
/// unless `lifetime` gives another, a new certificate) when it is a certificate signed for a remote host ([`Record::remote`]),
/// without planning or recording anything: the caller decides whether its delivery directory
/// is written (see [`Resigned::plan`]) and then records it. `Ok(None)` for any other record.
///
/// # Errors
/// When the stored request no longer verifies (the inventory was edited), its validity is not
/// a usable lifetime, or the CA refuses it.
pub fn resign_remote_record(
    ca: &CertificateAuthority,
    record: &Record,
    lifetime: Option<Lifetime>,
    now: OffsetDateTime,
) -> Result<Option<Resigned>> {
    let Some(remote) = &record.remote else {
        return Ok(None);
    };
    let what = format!(
        "signing the request of host {:?} again ({} certificate, serial {})",
        remote.host, record.kind, record.serial
    );
    let csr = VerifiedCsr::from_pem(remote.csr_pem.as_bytes())
        .map_err(|e| Error::from(e).context(&what))?;
    let lifetime = recorded_or(lifetime, record, &what)?;
    let signed = ca
        .sign_csr(&csr, record.kind, lifetime, now)
        .map_err(|e| Error::from(e).context(&what))?;
    let out = Layout::for_usage(record.kind, remote.out.clone());
    let mut new = Record::new(
        &signed.info,
        record.kind,
        &ca.info().sha256_fingerprint,
        Vec::new(),
    );
    new.remote = Some(remote.clone());
    Ok(Some(Resigned {
        signed,
        record: new,
        out,
    }))
}

/// [`resign_remote_record`], then plans the certificate and `bundle_pem` as `ca.pem` into the
/// directory it was delivered to before (replacing what is there, with backups as the plan's
/// `Existing` says), and records it in `inventory`, which marks `record` superseded.
/// `Ok(None)` for any other record: nothing is planned then.
///
/// # Errors
/// As [`resign_remote_record`]; nothing is planned then.
pub fn resign_remote(
    ca: &CertificateAuthority,
    bundle_pem: &str,
    record: &Record,
    now: OffsetDateTime,
    plan: &mut WritePlan,
    inventory: &mut Inventory,
) -> Result<Option<SignedCert>> {
    let Some(resigned) = resign_remote_record(ca, record, None, now)? else {
        return Ok(None);
    };
    resigned.plan(bundle_pem, plan);
    inventory.add(resigned.record);
    Ok(Some(resigned.signed))
}

fn what(record: &Record) -> String {
    format!(
        "re-issuing {} certificate {:?} (serial {})",
        record.kind,
        record.common_name.as_deref().unwrap_or(""),
        record.serial
    )
}

/// The layouts `record` was installed in; at least one.
fn layouts_of(record: &Record, what: &str) -> Result<Vec<Layout>> {
    let layouts: Vec<Layout> = record
        .installed
        .iter()
        .map(|dir| Layout::for_usage(record.kind, dir.clone()))
        .collect();
    if layouts.is_empty() {
        return Err(Error::new(format!(
            "{what}: the inventory records no layout it was installed in"
        )));
    }
    Ok(layouts)
}

/// The key of `record`'s successor: a fresh one of the recorded type, or the installed one.
fn key_for(record: &Record, key_policy: KeyPolicy, owners: &OwnerPolicy) -> Result<PrivateKey> {
    let what = what(record);
    let layouts = layouts_of(record, &what)?;
    match key_policy {
        KeyPolicy::Fresh => Ok(PrivateKey::generate(record.key_type.unwrap_or_default())?),
        KeyPolicy::Reuse => reused_key(record, &layouts, owners, &what),
    }
}

/// `lifetime` if given, else the lifetime `record` was issued with.
fn recorded_or(lifetime: Option<Lifetime>, record: &Record, what: &str) -> Result<Lifetime> {
    match lifetime {
        Some(lifetime) => Ok(lifetime),
        None => Lifetime::of_validity(record.not_before, record.not_after).ok_or_else(|| {
            Error::new(format!(
                "{what}: its recorded validity is not a usable lifetime"
            ))
        }),
    }
}

/// Signs the successor of `record` for `key`: same kind and names, and the same lifetime unless
/// `lifetime` gives another.
fn successor(
    ca: &CertificateAuthority,
    record: &Record,
    key: PrivateKey,
    lifetime: Option<Lifetime>,
    now: OffsetDateTime,
) -> Result<IssuedCert> {
    let what = what(record);
    let lifetime = recorded_or(lifetime, record, &what)?;
    let common_name = record
        .common_name
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e: dockpki::Error| Error::from(e).context(&what))?;
    match record.kind {
        Usage::Server => ca.issue_server(
            &ServerRequest {
                sans: SanList::parse(&record.sans).map_err(|e| Error::from(e).context(&what))?,
                common_name,
                lifetime,
            },
            key,
            now,
        ),
        Usage::Client => ca.issue_client(
            &ClientRequest {
                common_name: common_name
                    .ok_or_else(|| Error::new(format!("{what}: the record has no common name")))?,
                lifetime,
            },
            key,
            now,
        ),
    }
    .map_err(|e| Error::from(e).context(&what))
}

/// Refuses to `action` ("reuse", "make a request for", "install a certificate for") the key in
/// `file` (opened from `path`) when group or others may read it, with `advice` for the way
/// forward. Refusing rather than warning: a new certificate for a key that may have been copied
/// extends the copy's life too, and a fresh key costs nothing (docs/renewal.md).
pub(crate) fn refuse_readable_key(
    file: &std::fs::File,
    path: &std::path::Path,
    action: &str,
    advice: Advice,
) -> Result<()> {
    let mode = file
        .metadata()
        .map_err(|e| Error::io("read", path, &e))?
        .mode()
        & 0o7777;
    if mode & 0o077 == 0 {
        return Ok(());
    }
    Err(Error::advised(
        format!(
            "refusing to {action} the key {}: its mode {mode:04o} lets group or others read it, so it may have been copied; if you are sure nobody read it, chmod 400 it and rerun",
            path.display()
        ),
        advice,
    ))
}

/// The key to reuse for `record`: the key of the certificate the inventory records, read from
/// the first layout it was installed in. Runs as root on layouts other users own, so neither
/// file may be a symlink (a link swapped in at the right moment would make root read, and
/// re-certify, any key on the machine, the CA's included), the installed certificate must be
/// the recorded one, and the key must belong to it: whatever else lies there is not reused.
/// Every installed copy of the key must be private: a copy others could read may have been
/// taken, and renewing onto a taken key renews nothing. Each layout is opened as its own owner
/// ([`OwnerPolicy::owner_for`]), never as another layout's: a record installed in two users'
/// layouts must not let one of them make root read through the other's tree.
fn reused_key(
    record: &Record,
    layouts: &[Layout],
    owners: &OwnerPolicy,
    what: &str,
) -> Result<PrivateKey> {
    // Each layout's files are read as that layout's owner (a layout made under sudo): whatever
    // they swap into their own tree, root reads only what they could. One owner at a time:
    // acting as a user is process-wide, so each guard goes before the next is taken.
    let acting_as = |layout: &Layout| {
        let owner = owners.owner_for(&layout.dir);
        ActingAs::user(owner.map(|o| o.uid), owner.map(|o| o.gid))
    };
    for layout in &layouts[1..] {
        let _as = acting_as(layout)?;
        match reader::open(&layout.key_path(), Links::Refuse, Limit::Pem) {
            Ok(file) => refuse_readable_key(&file, &layout.key_path(), "reuse", Advice::NewKey)?,
            Err(reader::ReadError::NotFound(_)) => {}
            Err(reader::ReadError::Refused(e)) => return Err(e),
        }
    }
    let first = &layouts[0];
    let _as = acting_as(first)?;
    let open = |path: &Path| {
        reader::open(path, Links::Refuse, Limit::Pem).map_err(|e| e.into_error("read", path))
    };
    let (cert_path, key_path) = (first.cert_path(), first.key_path());
    let cert = reader::read_opened(open(&cert_path)?, &cert_path, Limit::Pem)?;
    let installed = dockpki::certs_from_pem(&cert)
        .ok()
        .and_then(|c| c.into_iter().next())
        .filter(|der| {
            dockpki::inspect(der)
                .is_ok_and(|i| i.fingerprint().matches(&record.sha256))
        })
        .ok_or_else(|| {
            Error::advised(
                format!(
                    "{what}: {} is not the certificate the inventory records, so the key next to it is not reused",
                    cert_path.display()
                ),
                Advice::NewKey,
            )
        })?;
    let file = open(&key_path)?;
    refuse_readable_key(&file, &key_path, "reuse", Advice::NewKey)?;
    let pem = reader::read_opened(file, &key_path, Limit::Pem)?;
    let key = PrivateKey::from_pem(&pem).map_err(|e| Error::from(e).context(key_path.display()))?;
    if !dockpki::key_matches_cert(&key, &installed) {
        return Err(Error::advised(
            format!(
                "{what}: {} does not belong to the recorded certificate, so it is not reused",
                key_path.display()
            ),
            Advice::NewKey,
        ));
    }
    Ok(key)
}

/// After a renewal that reused `record`'s key, makes every copy it wrote 0400: an unchanged
/// file is left alone by the write (same contents), so an owner-only 0600 copy would keep its
/// mode, where dockpki writes keys 0400. `written` are the layouts the update wrote, with their
/// owners as judged before the update: a layout the update skipped (see
/// [`WritePlan::drop_unwritable_layouts`]) is not in it and is left exactly as it was; and
/// judged again now, a layout swapped for a symlink would have no owner, and root would follow
/// it.
///
/// # Errors
/// When acting as a layout's owner fails, or a key's mode cannot be changed.
pub fn restrict_reused_keys(
    record: &Record,
    written: &std::collections::BTreeMap<std::path::PathBuf, Option<crate::fs::owner::Owner>>,
) -> Result<()> {
    for dir in &record.installed {
        let path = Layout::for_usage(record.kind, dir.clone()).key_path();
        let Some(owner) = written.get(dir).copied() else {
            continue;
        };
        let _as = ActingAs::user(owner.map(|o| o.uid), owner.map(|o| o.gid))?;
        // Through the opened file (O_NOFOLLOW, a regular file checked by fstat): chmod on the
        // path would follow a symlink swapped in since the write, to any file on the machine.
        let Ok(file) = reader::open(&path, Links::Refuse, Limit::Pem) else {
            continue;
        };
        let meta = file.metadata().map_err(|e| Error::io("read", &path, &e))?;
        if meta.mode() & 0o7777 != KEY_MODE {
            file.set_permissions(std::fs::Permissions::from_mode(KEY_MODE))
                .map_err(|e| Error::io("restrict permissions of", &path, &e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::write::Existing;
    use dockpki::{CaOptions, KeyType};

    /// Enough records to be signed on several threads.
    const MANY: usize = PARALLEL_FROM * 2 + 1;

    fn recorded(ca: &CertificateAuthority, now: OffsetDateTime, i: usize) -> Record {
        let issued = ca
            .issue_client(
                &ClientRequest {
                    common_name: format!("c{i}").parse().unwrap(),
                    lifetime: "90d".parse().unwrap(),
                },
                PrivateKey::generate(KeyType::EcdsaP256).unwrap(),
                now,
            )
            .unwrap();
        Record::new(
            &issued.info,
            Usage::Client,
            &ca.info().sha256_fingerprint,
            vec![format!("/layouts/c{i}").into()],
        )
    }

    /// A key to reuse installed in two users' layouts is read in each layout as that layout's
    /// owner, never as the other's: root's layout (outside the home) as root, whichever comes
    /// first, and the user's layout as the user, so a file there the user could not read is
    /// refused rather than read by root.
    #[test]
    fn a_reused_key_is_read_in_each_layout_as_that_layouts_owner() {
        use std::os::unix::fs::chown;
        if !crate::test_support::root_or_skip() {
            return;
        }
        let now = OffsetDateTime::now_utc();
        let ca = CertificateAuthority::create(&CaOptions::new(now).unwrap(), now).unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let nobody = crate::fs::Owner {
            uid: 65534,
            gid: 65534,
        };
        let home = root.path().join("home");
        let owners = OwnerPolicy::InvokingUser {
            owner: nobody,
            home: home.clone(),
        };
        // root's layout: a directory only root may enter.
        let roots = Layout::client(root.path().join("root-layout"));
        // The user's layout, in their home, which only they may enter.
        let users = Layout::client(home.join("layout"));
        for dir in [&home, &users.dir, &roots.dir] {
            std::fs::create_dir(dir).unwrap();
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let issued = ca
            .issue_client(
                &ClientRequest {
                    common_name: "c0".parse().unwrap(),
                    lifetime: "90d".parse().unwrap(),
                },
                PrivateKey::generate(KeyType::EcdsaP256).unwrap(),
                now,
            )
            .unwrap();
        let mut record = Record::new(
            &issued.info,
            Usage::Client,
            &ca.info().sha256_fingerprint,
            Vec::new(),
        );
        for layout in [&roots, &users] {
            std::fs::write(layout.cert_path(), &issued.cert_pem).unwrap();
            std::fs::write(layout.key_path(), issued.key_pem().as_bytes()).unwrap();
            std::fs::set_permissions(layout.key_path(), std::fs::Permissions::from_mode(0o600))
                .unwrap();
        }
        for path in [&home, &users.dir, &users.cert_path(), &users.key_path()] {
            chown(path, Some(nobody.uid), Some(nobody.gid)).unwrap();
        }
        let mut key = |first: &Layout, second: &Layout| {
            record.installed = vec![first.dir.clone(), second.dir.clone()];
            key_for(&record, KeyPolicy::Reuse, &owners)
        };
        // Each layout readable by its own owner only: read whichever comes first.
        key(&users, &roots).unwrap();
        key(&roots, &users).unwrap();
        // A key in the user's layout that only root may read is not read by root for them.
        chown(users.key_path(), Some(0), Some(0)).unwrap();
        for (first, second) in [(&users, &roots), (&roots, &users)] {
            let e = key(first, second).unwrap_err().to_string();
            assert!(e.contains(&users.key_path().display().to_string()), "{e}");
        }
    }

    #[test]
    fn successors_signed_together_come_back_in_order_with_each_refusal_in_its_place() {
        let now = OffsetDateTime::now_utc();
        let ca = CertificateAuthority::create(&CaOptions::new(now).unwrap(), now).unwrap();
        let mut records: Vec<Record> = (0..MANY).map(|i| recorded(&ca, now, i)).collect();
        records[5].installed.clear();
        let progress = std::sync::Mutex::new(Vec::new());
        let signed = sign_successors(
            &ca,
            &records,
            KeyPolicy::Fresh,
            &OwnerPolicy::RunningUser,
            None,
            now,
            |done| progress.lock().unwrap().push(done),
        );
        assert_eq!(signed.len(), MANY);
        // Progress counts every record as it is done, refusals too, never stepping back.
        assert_eq!(
            progress.into_inner().unwrap(),
            (1..=MANY).collect::<Vec<_>>()
        );
        for (i, result) in signed.iter().enumerate() {
            match result {
                Err(e) => {
                    assert_eq!(i, 5);
                    assert!(e.to_string().contains("records no layout"), "{e}");
                }
                Ok(issued) => {
                    assert_eq!(
                        issued.info.common_name.as_deref(),
                        Some(format!("c{i}").as_str())
                    );
                    assert_ne!(issued.info.serial, records[i].serial);
                }
            }
        }
        assert!(signed[5].is_err());
    }

    #[test]
    fn planning_successors_together_is_reissuing_them_one_by_one() {
        let now = OffsetDateTime::now_utc();
        let ca = CertificateAuthority::create(&CaOptions::new(now).unwrap(), now).unwrap();
        let records: Vec<Record> = (0..3).map(|i| recorded(&ca, now, i)).collect();
        let owners = OwnerPolicy::RunningUser;
        let signed: Vec<IssuedCert> =
            sign_successors(&ca, &records, KeyPolicy::Fresh, &owners, None, now, |_| {})
                .into_iter()
                .collect::<Result<_>>()
                .unwrap();
        let mut together = Inventory {
            certificates: records.clone(),
            ..Inventory::default()
        };
        let mut plan = WritePlan::new(Existing::ReplaceKeepingBackup);
        plan_successors(
            &ca,
            ca.cert_pem(),
            &records,
            &signed,
            &owners,
            &mut plan,
            &mut together,
        );
        let mut one_by_one = Inventory {
            certificates: records.clone(),
            ..Inventory::default()
        };
        let mut single = WritePlan::new(Existing::ReplaceKeepingBackup);
        for r in &records {
            reissue(
                &ca,
                ca.cert_pem(),
                r,
                KeyPolicy::Fresh,
                &owners,
                now,
                &mut single,
                &mut one_by_one,
            )
            .unwrap();
        }
        let shape = |inv: &Inventory| {
            inv.certificates
                .iter()
                .map(|r| (r.status, r.common_name.clone(), r.installed.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(shape(&together), shape(&one_by_one));
        for (i, r) in records.iter().enumerate() {
            let layout = Layout::client(r.installed[0].clone());
            let (cert, _) = plan.planned(&layout.cert_path()).expect("planned");
            assert_eq!(cert, signed[i].cert_pem.as_bytes());
            assert!(single.planned(&layout.key_path()).is_some());
        }
    }
}
