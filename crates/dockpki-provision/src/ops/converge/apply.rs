//! Performing a plan: one journaled update.

use std::path::{Path, PathBuf};

use dockpki::{
    CaOptions, CertificateAuthority, ClientRequest, OffsetDateTime, RevocationReason,
    ServerRequest, Usage,
};
use zeroize::Zeroizing;

use super::declared::{self, Entry, DECLARED_FILE};
use super::plan::{self as planning, context_record, leaves, merge_daemon_config, Leaf};
use super::{ActionKind, Applied, Foreign, Plan, Reason, Target, TargetKind};
use crate::config::Desired;
use crate::docker::context::{self as dc, ContextFed};
use crate::error::{Error, Result};
use crate::fs::reader::{self, Limit, Links};
use crate::fs::write::{CERT_MODE, KEY_MODE};
use crate::fs::{Existing, LayoutDir, Skipped, WritePlan};
use crate::layout::Layout;
use crate::store::inventory::{ContextRecord, Inventory, Record, Status};
use crate::store::{KeyProtection, State};

pub(crate) fn apply(
    state: &State,
    desired: &Desired,
    shown: Option<&Plan>,
    now: OffsetDateTime,
    foreign: Foreign,
) -> Result<Applied> {
    let report = state.settings().report.as_ref();
    // An earlier update of a daemon.json that a crash interrupted is completed before the
    // file is read (as `dockpki daemon-config` does).
    for server in &desired.servers {
        if let Some(config) = &server.daemon_config {
            if crate::fs::write::parent(&config.file).is_dir() {
                crate::fs::journal::recover_next_to(&config.file, report)?;
            }
        }
    }
    let plan = planning::plan(state, desired, now)?;
    if shown.is_some_and(|shown| *shown != plan) {
        return Err(Error::new(
            "the state changed since the plan was shown; run plan again and review it",
        ));
    }
    if foreign == Foreign::Refuse {
        refuse_foreign(&plan)?;
    }
    if plan.is_empty() {
        return Ok(Applied {
            notes: plan.notes,
            ..Applied::default()
        });
    }
    let leaves = leaves(state, desired);
    let find = |target: &Target| -> Result<&Leaf<'_>> {
        leaves
            .iter()
            .find(|l| l.target() == *target)
            .ok_or_else(|| {
                Error::new(format!(
                    "the plan names {target}, which the config does not declare; run plan again"
                ))
            })
    };

    let mut wp = WritePlan::new(Existing::ReplaceKeepingBackup);
    let creates_ca = plan.actions.iter().any(|a| a.kind == ActionKind::CreateCa);
    let signs = plan.actions.iter().any(|a| a.kind.signs_leaf());
    // The CA: made, loaded to sign, or only its certificates for a bundle.
    let (ca, bundle) = if creates_ca {
        let mut options = CaOptions::new(now)?;
        if let Some(name) = &desired.ca.name {
            options.common_name = name.clone();
        }
        options.key_type = desired.ca.key_type;
        options.lifetime = desired.ca.validity;
        options.name_constraints = desired.ca.name_constraints.clone();
        let ca = CertificateAuthority::create(&options, now)?;
        state.plan_ca(&mut wp, &ca, KeyProtection::Plain)?;
        let bundle = ca.cert_pem().to_string();
        (Some(ca), bundle)
    } else if signs {
        let ca = state.load_ca()?;
        let bundle = state.trust_bundle_pem(&ca)?;
        (Some(ca), bundle)
    } else {
        (None, certificates_bundle(state)?)
    };

    let bundle_certs = dockpki::certs_from_pem(bundle.as_bytes())?;
    // Layouts left out, with why: one user's broken layout does not stop the others'.
    let mut skipped: Vec<Skipped> = Vec::new();
    let mut inventory = state.load_inventory()?;
    let mut inventory_changed = false;
    let mut records: Vec<Record> = Vec::new();
    let mut restart: Vec<PathBuf> = Vec::new();
    let mut contexts_fed: Vec<ContextFed> = Vec::new();
    let mut to_remove: Vec<(Layout, Entry)> = Vec::new();
    // Each context record set, with the one it replaced: put back if its files are left out.
    let mut context_changes: Vec<(ContextRecord, Option<ContextRecord>)> = Vec::new();
    let mut daemon_configs: Vec<(PathBuf, PathBuf, String)> = Vec::new();
    let managed = declared::read(state)?;
    let mut now_managed = managed.clone();
    let restart_if_server = |leaf: &Leaf<'_>, restart: &mut Vec<PathBuf>| {
        if leaf.usage == Usage::Server && !restart.contains(&leaf.install) {
            restart.push(leaf.install.clone());
        }
    };

    // Every certificate signed first: a refusal (a layout of the other kind, a request the CA
    // refuses) returns before anything is written.
    for action in plan.actions.iter().filter(|a| a.kind.signs_leaf()) {
        let leaf = find(&action.target)?;
        let layout = leaf.layout();
        layout.refuse_other_kind()?;
        let ca = ca
            .as_ref()
            .ok_or_else(|| Error::new("no CA to sign with"))?;
        let key = crate::report::generate_key(report, leaf.key_type)?;
        let issued = match (leaf.usage, leaf.sans) {
            (Usage::Server, Some(sans)) => ca.issue_server(
                &ServerRequest {
                    sans: sans.clone(),
                    common_name: Some(leaf.common_name.clone()),
                    lifetime: leaf.validity,
                },
                key,
                now,
            )?,
            _ => ca.issue_client(
                &ClientRequest {
                    common_name: leaf.common_name.clone(),
                    lifetime: leaf.validity,
                },
                key,
                now,
            )?,
        };
        layout.plan(&mut wp, &bundle, &issued, leaf.owner);
        records.push(Record::new(
            &issued.info,
            issued.usage,
            &ca.info().sha256_fingerprint,
            vec![leaf.install.clone()],
        ));
        now_managed.insert(leaf.entry());
        restart_if_server(leaf, &mut restart);
    }

    for action in &plan.actions {
        match (&action.kind, &action.reason) {
            (ActionKind::Adopt, _) => {
                now_managed.insert(find(&action.target)?.entry());
            }
            (ActionKind::RewriteBundle, _) => {
                let leaf = find(&action.target)?;
                wp.cert(leaf.layout().ca_path(), &bundle, leaf.owner);
                restart_if_server(leaf, &mut restart);
            }
            (
                ActionKind::FixFile,
                Reason::WrongMode { path, .. } | Reason::WrongOwner { path, .. },
            ) => {
                let leaf = find(&action.target)?;
                if wp.planned(path).is_some() || was_skipped(&skipped, &leaf.install) {
                    continue;
                }
                let record = planning::active_records(&inventory, &leaf.entry())
                    .last()
                    .copied();
                let layout = leaf.layout();
                let checked = open_layout(leaf).and_then(|dir| {
                    let name = file_name(path);
                    let cert = read_verified(
                        &dir,
                        &layout,
                        &file_name(&layout.cert_path()),
                        record,
                        None,
                        &bundle_certs,
                    )?;
                    if name == file_name(&layout.cert_path()) {
                        Ok(cert)
                    } else {
                        read_verified(&dir, &layout, &name, record, Some(&cert), &bundle_certs)
                    }
                });
                let contents = match checked {
                    Ok(contents) => contents,
                    Err(e) => {
                        skipped.push((leaf.install.clone(), e.to_string()));
                        continue;
                    }
                };
                let mode = if *path == layout.key_path() {
                    KEY_MODE
                } else {
                    CERT_MODE
                };
                wp.rewrite_in_place(path.clone(), contents, mode, leaf.owner);
                restart_if_server(leaf, &mut restart);
            }
            (ActionKind::CreateContext | ActionKind::UpdateContext, _) => {
                let leaf = find(&action.target)?;
                let Some(spec) = leaf.context else { continue };
                if was_skipped(&skipped, &leaf.install) {
                    continue;
                }
                let record = context_record(leaf, spec);
                if !plan_context_copy(
                    &mut wp,
                    leaf,
                    &record,
                    &inventory,
                    &bundle_certs,
                    &mut skipped,
                ) {
                    continue;
                }
                let previous = take_context(&mut inventory, &record);
                inventory.contexts.push(record.clone());
                context_changes.push((record.clone(), previous));
                inventory_changed = true;
                contexts_fed.push(ContextFed {
                    name: record.name,
                    docker_config: record.docker_config,
                    client_dir: record.client_dir,
                });
            }
            (ActionKind::MergeDaemonConfig, _) => {
                let leaf = find(&action.target)?;
                let Some(config) = leaf.daemon_config else {
                    continue;
                };
                let merged = merge_daemon_config(leaf, config)?;
                daemon_configs.push((leaf.install.clone(), config.file.clone(), merged.new_text));
                restart_if_server(leaf, &mut restart);
            }
            (
                ActionKind::Revoke,
                Reason::NoLongerDeclared {
                    serials,
                    remove_files,
                },
            ) => {
                for serial in serials {
                    if let Some(i) = inventory
                        .certificates
                        .iter()
                        .position(|r| r.status == Status::Active && r.serial_is(serial))
                    {
                        inventory.revoke(i, now, Some(RevocationReason::CessationOfOperation));
                        inventory_changed = true;
                    }
                }
                let target = &action.target;
                if let Some(usage) = target.kind.usage() {
                    let entry = Entry {
                        kind: target.kind,
                        common_name: target.name.clone(),
                        install: target.install.clone(),
                    };
                    if *remove_files {
                        // Forgotten only once its files are gone (a second update): after a
                        // crash in between, the next plan revokes (nothing) and removes again.
                        to_remove.push((Layout::for_usage(usage, target.install.clone()), entry));
                    } else {
                        now_managed.remove(&entry);
                    }
                }
            }
            _ => {}
        }
    }

    // A declared context copies its client layout with the client's declared owner: fed here
    // rather than by State::feed_contexts, which knows only the state's owner policy.
    for leaf in &leaves {
        let Some(spec) = leaf.context else { continue };
        let record = context_record(leaf, spec);
        let meta = dc::meta_dir(&record.docker_config, &record.name).join("meta.json");
        let touched = dc::TLS_FILES
            .iter()
            .any(|name| wp.planned(&leaf.install.join(name)).is_some());
        if !touched
            || wp.planned(&meta).is_some()
            || !meta.is_file()
            || was_skipped(&skipped, &leaf.install)
        {
            continue;
        }
        if !plan_context_copy(
            &mut wp,
            leaf,
            &record,
            &inventory,
            &bundle_certs,
            &mut skipped,
        ) {
            continue;
        }
        contexts_fed.push(ContextFed {
            name: record.name,
            docker_config: record.docker_config,
            client_dir: record.client_dir,
        });
    }

    inventory_changed |= !records.is_empty();
    let declared_changed = now_managed != managed;
    // The contexts as this update records them; the inventory and declared.json are planned
    // once the update has judged the layouts, without what it left out.
    let fed = state.feed_contexts_of(wp, &inventory.contexts);
    for c in fed.contexts() {
        if !contexts_fed.contains(c) {
            contexts_fed.push(c.clone());
        }
    }
    // A layout the update leaves out (a directory others may write) keeps the certificate it
    // holds recorded as the active one, and its context record and declared entry as they were:
    // the state records only what was written, and the next plan plans the rest again.
    let (mut written, dropped) = state.commit_skipping_unwritable(fed, |wp, dropped| {
        // A context is written whole or not at all: its meta.json and its TLS copies are in
        // two directories, and either may be the one left out.
        let mut more: Vec<Skipped> = Vec::new();
        let contexts = context_changes
            .iter()
            .map(|(r, _)| (&r.docker_config, &r.name))
            .chain(contexts_fed.iter().map(|c| (&c.docker_config, &c.name)));
        for (config, name) in contexts {
            let meta = dc::meta_dir(config, name);
            let tls = dc::tls_dir(config, name);
            for (lost, other) in [(&meta, &tls), (&tls, &meta)] {
                if was_skipped(dropped, lost)
                    && !was_skipped(dropped, other)
                    && !was_skipped(&more, other)
                {
                    more.push((
                        other.clone(),
                        format!(
                            "it is the other half of the docker context {name}, whose {} was left out",
                            lost.display()
                        ),
                    ));
                }
            }
        }
        let gone = |dir: &Path| was_skipped(dropped, dir) || was_skipped(&more, dir);
        records.retain(|r| !r.installed.iter().any(|d| gone(d)));
        inventory.add_all(records);
        for (record, previous) in &context_changes {
            let meta = dc::meta_dir(&record.docker_config, &record.name);
            let tls = dc::tls_dir(&record.docker_config, &record.name);
            if gone(&tls) || gone(&meta) || gone(&record.client_dir) {
                take_context(&mut inventory, record);
                inventory.contexts.extend(previous.clone());
            }
        }
        now_managed.retain(|e| managed.contains(e) || !gone(&e.install));
        if inventory_changed {
            state.plan_inventory(wp, &inventory)?;
        }
        if declared_changed {
            wp.state(
                state.dir().join(DECLARED_FILE),
                declared::to_bytes(&now_managed)?,
            );
        }
        Ok(more)
    })?;
    skipped.extend(dropped);
    contexts_fed.retain(|c| {
        !was_skipped(&skipped, &c.tls_dir())
            && !was_skipped(&skipped, &dc::meta_dir(&c.docker_config, &c.name))
            && !was_skipped(&skipped, &c.client_dir)
    });
    restart.retain(|d| !was_skipped(&skipped, d));
    // Each daemon.json after the layouts it names are in place, through its own journal next
    // to it, as `dockpki daemon-config` writes it: the state's journal is replayed only into
    // the state and the directories its inventory records, which a daemon.json's is not. A
    // crash before this leaves the merge to the next plan, which lists it again.
    for (install, file, text) in daemon_configs {
        // A daemon.json naming files that were not written waits for them.
        if was_skipped(&skipped, &install) {
            continue;
        }
        let journal = crate::fs::journal::recover_next_to(&file, report)?;
        let mut config = WritePlan::new(Existing::Refuse);
        config.config(file, text.into_bytes());
        written.extend(config.commit(&journal, report)?);
    }
    let mut removed = Vec::new();
    if !to_remove.is_empty() {
        let mut contexts_removed = false;
        for (layout, entry) in &to_remove {
            let result = remove_layout(layout, &inventory, entry).and_then(|(files, owner)| {
                removed.extend(files);
                remove_contexts(state, &mut inventory, entry, owner, &mut removed)
            });
            match result {
                Ok(any) => {
                    contexts_removed |= any;
                    now_managed.remove(entry);
                }
                // Still managed: the next apply tries again.
                Err(e) => skipped.push((entry.install.clone(), e.to_string())),
            }
        }
        let mut forget = WritePlan::new(Existing::Refuse);
        if contexts_removed {
            state.plan_inventory(&mut forget, &inventory)?;
        }
        forget.state(
            state.dir().join(DECLARED_FILE),
            declared::to_bytes(&now_managed)?,
        );
        written.extend(state.commit(state.feed_contexts(forget)?)?);
    }
    Ok(Applied {
        actions: plan.actions,
        notes: plan.notes,
        written,
        removed,
        restart_daemons: restart,
        contexts_fed,
        skipped,
    })
}

/// Takes out of `inventory` the record of the context `record` names (by name and docker
/// configuration), returning it.
fn take_context(inventory: &mut Inventory, record: &ContextRecord) -> Option<ContextRecord> {
    let i = inventory
        .contexts
        .iter()
        .position(|c| c.name == record.name && c.docker_config == record.docker_config)?;
    Some(inventory.contexts.remove(i))
}

/// Whether the layout directory `dir` was left out of the update.
fn was_skipped(skipped: &[Skipped], dir: &Path) -> bool {
    skipped.iter().any(|(d, _)| d == dir)
}

/// The file name of a layout file's path.
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A declared leaf's layout directory, opened and checked for its owner (see [`LayoutDir`]).
fn open_layout(leaf: &Leaf<'_>) -> Result<LayoutDir> {
    LayoutDir::open(&leaf.install, leaf.owner.map(|o| o.uid))?.ok_or_else(|| {
        Error::new(format!(
            "{} is gone since the plan was made; run plan again",
            leaf.install.display()
        ))
    })
}

/// The layout file `name`, read through `dir` and checked to be what the plan judged: the
/// certificate the inventory's `record` holds, a key matching `cert` (that certificate's PEM),
/// or a bundle holding every CA certificate of `bundle`. Anything else was swapped in since
/// (or planted through a link) and is not copied anywhere.
pub(super) fn read_verified(
    dir: &LayoutDir,
    layout: &Layout,
    name: &str,
    record: Option<&Record>,
    cert: Option<&[u8]>,
    bundle: &[dockpki::CertificateDer<'static>],
) -> Result<Zeroizing<Vec<u8>>> {
    let path = dir.path().join(name);
    let bytes = dir.read(name, Limit::Pem)?.ok_or_else(|| {
        Error::new(format!(
            "{} is gone since the plan was made; run plan again",
            path.display()
        ))
    })?;
    let first_cert = |pem: &[u8]| {
        dockpki::certs_from_pem(pem)
            .ok()
            .and_then(|c| c.into_iter().next())
    };
    let ok = if path == layout.cert_path() {
        first_cert(&bytes).is_some_and(|der| {
            record.is_some_and(|r| dockpki::Fingerprint::of(&der).matches(&r.sha256))
        })
    } else if path == layout.key_path() {
        let key = dockpki::PrivateKey::from_pem(&bytes).ok();
        match (key, cert.and_then(first_cert)) {
            (Some(key), Some(der)) => dockpki::key_matches_cert(&key, &der),
            _ => false,
        }
    } else {
        dockpki::certs_from_pem(&bytes).is_ok_and(|certs| {
            bundle
                .iter()
                .all(|want| certs.iter().any(|c| c.as_ref() == want.as_ref()))
        })
    };
    if ok {
        Ok(bytes)
    } else {
        Err(Error::new(format!(
            "refusing to copy {} because it is no longer the file the plan judged (replaced since); run plan again",
            path.display()
        )))
    }
}

/// The trust bundle from the CA certificates alone (no key loaded): the current CA, and the
/// new one during a rotation.
fn certificates_bundle(state: &State) -> Result<String> {
    let read = |path: &Path| -> Result<Vec<dockpki::CertificateDer<'static>>> {
        let bytes = reader::read(path, Links::Refuse, Limit::Pem)?;
        dockpki::certs_from_pem(&bytes).map_err(|e| Error::from(e).context(path.display()))
    };
    let mut certs = read(&state.ca_cert_path())?;
    if state.rotating() {
        certs.extend(read(&state.ca_next_cert_path())?);
    }
    Ok(dockpki::trust_bundle_pem(&certs)?)
}

/// A client layout's three files as the update leaves them: planned, else as on disk, read
/// through the checked layout directory and verified against the inventory's `record` and the
/// CA `bundle` (see [`read_verified`]).
/// Plans `record`'s context (its meta.json and its copies of `leaf`'s client files, as the
/// client's owner), the files read and checked by [`client_files`] against the leaf's active
/// record; when they cannot be, the layout goes into `skipped` instead and nothing is planned.
/// Whether it was planned.
fn plan_context_copy(
    wp: &mut WritePlan,
    leaf: &Leaf<'_>,
    record: &ContextRecord,
    inventory: &Inventory,
    bundle: &[dockpki::CertificateDer<'static>],
    skipped: &mut Vec<Skipped>,
) -> bool {
    let leaf_record = planning::active_records(inventory, &leaf.entry())
        .last()
        .map(|r| (*r).clone());
    match client_files(wp, leaf, leaf_record.as_ref(), bundle) {
        Ok(files) => {
            dc::plan_context(wp, record, &files, leaf.owner);
            true
        }
        Err(e) => {
            skipped.push((leaf.install.clone(), e.to_string()));
            false
        }
    }
}

fn client_files(
    wp: &WritePlan,
    leaf: &Leaf<'_>,
    record: Option<&Record>,
    bundle: &[dockpki::CertificateDer<'static>],
) -> Result<[Zeroizing<Vec<u8>>; 3]> {
    let layout = leaf.layout();
    let mut dir: Option<LayoutDir> = None;
    let mut one = |path: PathBuf, cert: Option<&[u8]>| -> Result<Zeroizing<Vec<u8>>> {
        if let Some((contents, _)) = wp.planned(&path) {
            return Ok(Zeroizing::new(contents.to_vec()));
        }
        if dir.is_none() {
            dir = Some(open_layout(leaf)?);
        }
        let dir = dir
            .as_ref()
            .ok_or_else(|| Error::new("no layout directory"))?;
        read_verified(dir, &layout, &file_name(&path), record, cert, bundle)
    };
    let ca = one(layout.ca_path(), None)?;
    let cert = one(layout.cert_path(), None)?;
    let key = one(layout.key_path(), Some(&cert))?;
    // In docker's order (TLS_FILES).
    Ok([ca, cert, key])
}

/// Removes a revoked leaf's layout files, when its certificate file still holds a revoked
/// certificate of `entry` (anything else there is not dockpki's to remove). Returns them, with
/// the owner of the layout directory as judged when it belongs to another user (the entry's
/// owner is no longer declared).
fn remove_layout(
    layout: &Layout,
    inventory: &crate::store::inventory::Inventory,
    entry: &Entry,
) -> Result<(Vec<PathBuf>, Option<crate::fs::Owner>)> {
    // Through a handle of the directory, never its path again: a directory swapped for a link
    // (to a root-only place) between the check and the removal is never entered.
    let Some(dir) = LayoutDir::open(&layout.dir, None).or_else(|_| owned_dir(&layout.dir))? else {
        return Ok((Vec::new(), None));
    };
    let me = nix::unistd::geteuid().as_raw();
    let owner = (dir.owner() != me && dir.owner() != 0).then(|| crate::fs::Owner {
        uid: dir.owner(),
        gid: nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(dir.owner()))
            .ok()
            .flatten()
            .map_or(dir.group(), |u| u.gid.as_raw()),
    });
    let ours = match dir.read(&file_name(&layout.cert_path()), Limit::Pem)? {
        Some(bytes) => dockpki::certs_from_pem(&bytes)
            .ok()
            .and_then(|c| c.into_iter().next())
            .is_some_and(|der| {
                let fp = dockpki::Fingerprint::of(&der);
                inventory.certificates.iter().any(|r| {
                    r.status == Status::Revoked
                        && TargetKind::of(r.kind) == entry.kind
                        && r.common_name.as_deref() == Some(entry.common_name.as_str())
                        && r.installed.contains(&entry.install)
                        && fp.matches(&r.sha256)
                })
            }),
        None => false,
    };
    if !ours {
        return Ok((Vec::new(), owner));
    }
    let mut removed = Vec::new();
    for path in [layout.key_path(), layout.cert_path(), layout.ca_path()] {
        removed.extend(dir.remove(&file_name(&path))?);
    }
    Ok((removed, owner))
}

/// Removes the docker contexts dockpki made from the removed client `entry`'s layout (their
/// `meta.json` and copies, as `dockpki context rm` does: acting as the directory's owner, through
/// directory handles, never through a link) and their records from `inventory`; returns whether
/// any record went. `layout_owner`: the owner of the layout directory as judged by
/// [`remove_layout`].
fn remove_contexts(
    state: &State,
    inventory: &mut crate::store::inventory::Inventory,
    entry: &Entry,
    layout_owner: Option<crate::fs::Owner>,
    removed: &mut Vec<PathBuf>,
) -> Result<bool> {
    if entry.kind != TargetKind::Client {
        return Ok(false);
    }
    let records: Vec<_> = inventory
        .contexts
        .iter()
        .filter(|c| c.client_dir == entry.install)
        .cloned()
        .collect();
    for record in &records {
        // The user the context's files belong to: the owner policy's, else the owner of the
        // client's layout directory as judged (a context apply made lives in that directory).
        let owner = state
            .settings()
            .owners
            .owner_for(&record.docker_config)
            .or(layout_owner.filter(|_| record.docker_config == entry.install));
        crate::fs::write::check_directory_trust(
            &record.docker_config.join("contexts").join("meta"),
            owner.map(|o| o.uid),
        )?;
        if dc::exists(&record.docker_config, &record.name)
            && crate::ops::context::current_context(&record.docker_config).as_deref()
                == Some(record.name.as_str())
        {
            return Err(Error::new(format!(
                "the docker context {:?} is docker's current context in {}; switch to another (`docker context use default`) and apply again",
                record.name,
                record.docker_config.display()
            )));
        }
        let acting = crate::fs::ActingAs::user(owner.map(|o| o.uid), owner.map(|o| o.gid))?;
        removed.extend(dc::remove_files(&record.docker_config, &record.name)?);
        drop(acting);
        inventory
            .contexts
            .retain(|c| !(c.name == record.name && c.docker_config == record.docker_config));
    }
    Ok(!records.is_empty())
}

/// A removed leaf's layout directory owned by a user: its owner is no longer declared, so the
/// directory is taken as that of whoever owns it, under the same trust rule (see
/// [`LayoutDir::open`]).
fn owned_dir(dir: &Path) -> Result<Option<LayoutDir>> {
    use std::os::unix::fs::MetadataExt;
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => LayoutDir::open(dir, Some(m.uid())),
        Ok(_) => LayoutDir::open(dir, None),
        Err(_) => Ok(None),
    }
}

/// The error for a plan that would replace files dockpki did not write, naming the first.
fn refuse_foreign(plan: &Plan) -> Result<()> {
    let Some(action) = plan.foreign().next() else {
        return Ok(());
    };
    let Reason::ForeignFiles { files } = &action.reason else {
        return Ok(());
    };
    Err(Error::new(format!(
        "refusing to {} {}: it would replace {}, which dockpki did not write; move them away, or run apply --force to replace them (each is kept as a .bak backup); nothing was changed",
        action.kind,
        action.target,
        files.join(", ")
    )))
}
