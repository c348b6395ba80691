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
use crate::fs::{Existing, WritePlan};
use crate::layout::Layout;
use crate::store::inventory::{Record, Status};
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

    let mut inventory = state.load_inventory()?;
    let mut inventory_changed = false;
    let mut records = Vec::new();
    let mut restart: Vec<PathBuf> = Vec::new();
    let mut contexts_fed: Vec<ContextFed> = Vec::new();
    let mut to_remove: Vec<(Layout, Entry)> = Vec::new();
    let mut daemon_configs: Vec<(PathBuf, String)> = Vec::new();
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
                if wp.planned(path).is_some() {
                    continue;
                }
                let contents = reader::read(path, Links::Refuse, Limit::Pem)?;
                let mode = if *path == leaf.layout().key_path() {
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
                let record = context_record(leaf, spec);
                let files = client_files(&wp, &leaf.install)?;
                dc::plan_context(&mut wp, &record, &files, leaf.owner);
                inventory.contexts.retain(|c| {
                    !(c.name == record.name && c.docker_config == record.docker_config)
                });
                inventory.contexts.push(record.clone());
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
                daemon_configs.push((config.file.clone(), merged.new_text));
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
        if !touched || wp.planned(&meta).is_some() || !meta.is_file() {
            continue;
        }
        let files = client_files(&wp, &leaf.install)?;
        dc::plan_context(&mut wp, &record, &files, leaf.owner);
        contexts_fed.push(ContextFed {
            name: record.name,
            docker_config: record.docker_config,
            client_dir: record.client_dir,
        });
    }

    if !records.is_empty() {
        inventory.add_all(records);
        inventory_changed = true;
    }
    if inventory_changed {
        state.plan_inventory(&mut wp, &inventory)?;
    }
    if now_managed != managed {
        wp.state(
            state.dir().join(DECLARED_FILE),
            declared::to_bytes(&now_managed)?,
        );
    }
    let fed = state.feed_contexts(wp)?;
    for c in fed.contexts() {
        if !contexts_fed.contains(c) {
            contexts_fed.push(c.clone());
        }
    }
    let mut written = state.commit(fed)?;
    // Each daemon.json after the layouts it names are in place, through its own journal next
    // to it, as `dockpki daemon-config` writes it: the state's journal is replayed only into
    // the state and the directories its inventory records, which a daemon.json's is not. A
    // crash before this leaves the merge to the next plan, which lists it again.
    for (file, text) in daemon_configs {
        let journal = crate::fs::journal::recover_next_to(&file, report)?;
        let mut config = WritePlan::new(Existing::Refuse);
        config.config(file, text.into_bytes());
        written.extend(config.commit(&journal, report)?);
    }
    let mut removed = Vec::new();
    if !to_remove.is_empty() {
        for (layout, entry) in &to_remove {
            removed.extend(remove_layout(layout, &inventory, entry)?);
            now_managed.remove(entry);
        }
        let mut forget = WritePlan::new(Existing::Refuse);
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
    })
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

/// A client layout's three files as the update leaves them: planned, else as on disk.
fn client_files(wp: &WritePlan, dir: &Path) -> Result<[Zeroizing<Vec<u8>>; 3]> {
    let one = |name: &str| -> Result<Zeroizing<Vec<u8>>> {
        let path = dir.join(name);
        match wp.planned(&path) {
            Some((contents, _)) => Ok(Zeroizing::new(contents.to_vec())),
            None => reader::read(&path, Links::Refuse, Limit::Pem),
        }
    };
    Ok([
        one(dc::TLS_FILES[0])?,
        one(dc::TLS_FILES[1])?,
        one(dc::TLS_FILES[2])?,
    ])
}

/// Removes a revoked leaf's layout files, when its certificate file still holds a revoked
/// certificate of `entry` (anything else there is not dockpki's to remove).
fn remove_layout(
    layout: &Layout,
    inventory: &crate::store::inventory::Inventory,
    entry: &Entry,
) -> Result<Vec<PathBuf>> {
    let ours = match reader::read_optional(&layout.cert_path(), Links::Refuse, Limit::Pem)? {
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
        return Ok(Vec::new());
    }
    let mut removed = Vec::new();
    for path in [layout.key_path(), layout.cert_path(), layout.ca_path()] {
        match std::fs::remove_file(&path) {
            Ok(()) => removed.push(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", &path, &e)),
        }
    }
    Ok(removed)
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
