//! Computing the plan: reads only.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use dockpki::{CertificateDer, KeyType, Lifetime, OffsetDateTime, Usage};

use super::declared::{self, Entry};
use super::{
    Action, ActionKind, CaDifference, ContextDrift, FileProblem, Note, Plan, Reason, SpecChange,
    Target, TargetKind,
};
use crate::config::{ClientSpec, ContextSpec, DaemonConfigSpec, Desired, ServerSpec};
use crate::docker::context as dc;
use crate::docker::daemon_json::{self, Daemon, Request};
use crate::error::{Error, Result};
use crate::fs::reader::{self, Limit, Links};
use crate::fs::write::{CERT_MODE, KEY_MODE};
use crate::fs::{Owner, OwnerPolicy};
use crate::layout::Layout;
use crate::store::expiry::{is_due, RenewalWindow};
use crate::store::inventory::{ContextRecord, Inventory, Record, Status};
use crate::store::State;

/// One declared leaf, server or client, as the plan needs it.
pub(crate) struct Leaf<'a> {
    pub usage: Usage,
    pub name: String,
    pub common_name: dockpki::CommonName,
    pub install: PathBuf,
    pub sans: Option<&'a dockpki::SanList>,
    pub key_type: KeyType,
    pub validity: Lifetime,
    pub renew_before: RenewalWindow,
    /// Who the files belong to (`None`: the running user).
    pub owner: Option<Owner>,
    pub context: Option<&'a ContextSpec>,
    pub daemon_config: Option<&'a DaemonConfigSpec>,
}

impl Leaf<'_> {
    pub fn target(&self) -> Target {
        Target {
            kind: TargetKind::of(self.usage),
            name: self.name.clone(),
            install: self.install.clone(),
        }
    }

    pub fn entry(&self) -> Entry {
        Entry {
            kind: TargetKind::of(self.usage),
            common_name: self.name.clone(),
            install: self.install.clone(),
        }
    }

    pub fn layout(&self) -> Layout {
        Layout::for_usage(self.usage, self.install.clone())
    }
}

/// Every declared leaf, servers first, in the file's order.
pub(crate) fn leaves<'a>(state: &State, desired: &'a Desired) -> Vec<Leaf<'a>> {
    leaves_with(&state.settings().owners, desired)
}

/// [`leaves`], the owners of users' files decided by `owners`.
fn leaves_with<'a>(owners: &OwnerPolicy, desired: &'a Desired) -> Vec<Leaf<'a>> {
    let server = |s: &'a ServerSpec| Leaf {
        usage: Usage::Server,
        name: s.name.to_string(),
        common_name: s.name.clone(),
        install: s.install.clone(),
        sans: Some(&s.sans),
        key_type: s.key_type,
        validity: s.validity,
        renew_before: s.renew_before,
        owner: None,
        context: None,
        daemon_config: s.daemon_config.as_ref(),
    };
    let client = |c: &'a ClientSpec| Leaf {
        usage: Usage::Client,
        name: c.name.to_string(),
        common_name: c.name.clone(),
        install: c.install.clone(),
        sans: None,
        key_type: c.key_type,
        validity: c.validity,
        renew_before: c.renew_before,
        owner: c
            .owner
            .as_ref()
            .map(|o| o.owner)
            .or_else(|| owners.owner_for(&c.install)),
        context: c.context.as_ref(),
        daemon_config: None,
    };
    desired
        .servers
        .iter()
        .map(server)
        .chain(desired.clients.iter().map(client))
        .collect()
}

/// The active records of `entry`: its kind and common name, installed in its directory.
pub(crate) fn active_records<'i>(inventory: &'i Inventory, entry: &Entry) -> Vec<&'i Record> {
    inventory
        .certificates
        .iter()
        .filter(|r| {
            r.status == Status::Active
                && TargetKind::of(r.kind) == entry.kind
                && r.common_name.as_deref() == Some(entry.common_name.as_str())
                && r.installed.contains(&entry.install)
        })
        .collect()
}

/// What the plan knows of the CA that signs.
struct Signing {
    not_after: OffsetDateTime,
    /// Every CA certificate a layout's `ca.pem` must hold.
    bundle: Vec<CertificateDer<'static>>,
}

/// What a plan is computed against: an open state, or one not created yet.
enum Base<'a> {
    Open(&'a State),
    New {
        dir: &'a Path,
        owners: &'a OwnerPolicy,
    },
}

pub(crate) fn plan(state: &State, desired: &Desired, now: OffsetDateTime) -> Result<Plan> {
    plan_from(Base::Open(state), desired, now)
}

pub(crate) fn plan_new(
    dir: &Path,
    owners: &OwnerPolicy,
    desired: &Desired,
    now: OffsetDateTime,
) -> Result<Plan> {
    plan_from(Base::New { dir, owners }, desired, now)
}

fn plan_from(base: Base<'_>, desired: &Desired, now: OffsetDateTime) -> Result<Plan> {
    let mut actions = Vec::new();
    let mut notes = Vec::new();
    let (leaves, with_ca, dir) = match &base {
        Base::Open(state) => (
            leaves(state, desired),
            Some(*state).filter(|s| s.has_ca()),
            state.dir(),
        ),
        Base::New { dir, owners } => (leaves_with(owners, desired), None, *dir),
    };
    let has_ca = with_ca.is_some();
    let signing = if let Some(state) = with_ca {
        let rotating = state.rotating();
        if rotating {
            notes.push(Note::RotationInProgress);
        }
        let cert_path = if rotating {
            state.ca_next_cert_path()
        } else {
            state.ca_cert_path()
        };
        let info = state.cert_info(&cert_path)?;
        let (rotation, other): (Vec<_>, Vec<_>) = ca_differences(desired, &info)
            .into_iter()
            .partition(|d| matches!(d, CaDifference::KeyType { .. }));
        if !rotation.is_empty() {
            notes.push(Note::CaNeedsRotation {
                differences: rotation,
            });
        }
        if !other.is_empty() {
            notes.push(Note::CaDiffers { differences: other });
        }
        let mut bundle = ca_certs(&state.ca_cert_path())?;
        if rotating {
            bundle.extend(ca_certs(&state.ca_next_cert_path())?);
        }
        Signing {
            not_after: info.not_after,
            bundle,
        }
    } else {
        actions.push(Action {
            kind: ActionKind::CreateCa,
            target: Target {
                kind: TargetKind::Ca,
                name: desired
                    .ca
                    .name
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                install: dir.to_path_buf(),
            },
            reason: Reason::NoCa,
        });
        Signing {
            not_after: now + desired.ca.validity.duration(),
            bundle: Vec::new(),
        }
    };
    let (inventory, managed) = match &base {
        Base::Open(state) => (state.load_inventory()?, declared::read(state)?),
        Base::New { .. } => (Inventory::default(), BTreeSet::new()),
    };

    for leaf in &leaves {
        let target = leaf.target();
        let entry = leaf.entry();
        let outlives = |notes: &mut Vec<Note>| {
            let (_, not_after) = leaf.validity.window(now);
            let not_after = not_after.replace_nanosecond(0).unwrap_or(not_after);
            if not_after > signing.not_after {
                notes.push(Note::LeafOutlivesCa {
                    target: target.clone(),
                    validity: leaf.validity,
                    ca_not_after: signing.not_after,
                });
                true
            } else {
                false
            }
        };
        let record = if has_ca {
            active_records(&inventory, &entry).last().copied()
        } else {
            None
        };
        let mut signs = false;
        match record {
            None => {
                if !outlives(&mut notes) {
                    let files = foreign_files(&inventory, leaf);
                    actions.push(Action {
                        kind: ActionKind::Issue,
                        target: target.clone(),
                        reason: if files.is_empty() {
                            Reason::NotIssued
                        } else {
                            Reason::ForeignFiles { files }
                        },
                    });
                    signs = true;
                }
            }
            Some(record) => {
                let layout = leaf.layout();
                let changes = spec_changes(record, leaf);
                let leaf_action = if !changes.is_empty() {
                    Some((
                        ActionKind::Reissue,
                        Reason::Changed {
                            serial: record.serial.clone(),
                            changes,
                        },
                    ))
                } else if is_due(record.not_before, record.not_after, now, leaf.renew_before) {
                    Some((
                        ActionKind::Renew,
                        Reason::Due {
                            serial: record.serial.clone(),
                            not_after: record.not_after,
                        },
                    ))
                } else {
                    file_problem(&layout, record).map(|problem| {
                        (
                            ActionKind::Repair,
                            Reason::Files {
                                serial: record.serial.clone(),
                                problem,
                            },
                        )
                    })
                };
                if let Some((kind, reason)) = leaf_action {
                    if !outlives(&mut notes) {
                        actions.push(Action {
                            kind,
                            target: target.clone(),
                            reason,
                        });
                        signs = true;
                    }
                }
                if !signs {
                    if !managed.contains(&entry) {
                        actions.push(Action {
                            kind: ActionKind::Adopt,
                            target: target.clone(),
                            reason: Reason::Adoptable {
                                serial: record.serial.clone(),
                            },
                        });
                    }
                    let rewrites_bundle = !holds_all(&layout.ca_path(), &signing.bundle);
                    if rewrites_bundle {
                        actions.push(Action {
                            kind: ActionKind::RewriteBundle,
                            target: target.clone(),
                            reason: Reason::BundleStale {
                                path: layout.ca_path(),
                            },
                        });
                    }
                    for reason in metadata_problems(&layout, leaf.owner) {
                        let path = match &reason {
                            Reason::WrongMode { path, .. } | Reason::WrongOwner { path, .. } => {
                                path
                            }
                            _ => continue,
                        };
                        // A rewritten bundle gets its mode and owner with it.
                        if rewrites_bundle && *path == layout.ca_path() {
                            continue;
                        }
                        actions.push(Action {
                            kind: ActionKind::FixFile,
                            target: target.clone(),
                            reason,
                        });
                    }
                }
            }
        }
        if let Some(context) = leaf.context {
            // Whether the leaf exists after apply: a context of a leaf that cannot be issued
            // waits for it.
            if signs || record.is_some() {
                // The update feeds the context's copies of whatever layout file it rewrites.
                let rewrites = signs
                    || actions
                        .iter()
                        .any(|a| a.kind == ActionKind::RewriteBundle && a.target == target);
                if let Some(reason) = context_drift(&inventory, leaf, context, rewrites) {
                    let kind = match reason {
                        Reason::ContextMissing { .. } => ActionKind::CreateContext,
                        _ => ActionKind::UpdateContext,
                    };
                    actions.push(Action {
                        kind,
                        target: target.clone(),
                        reason,
                    });
                }
            }
        }
        if let Some(config) = leaf.daemon_config {
            let merged = merge_daemon_config(leaf, config)?;
            if merged.old_text.as_deref() != Some(merged.new_text.as_str()) {
                actions.push(Action {
                    kind: ActionKind::MergeDaemonConfig,
                    target: target.clone(),
                    reason: Reason::DaemonConfig {
                        file: config.file.clone(),
                        keys: merged.keys,
                        dropped_sockets: merged.dropped_sockets,
                    },
                });
            }
        }
    }

    // Leaves apply made that the file no longer declares.
    let declared: BTreeSet<Entry> = leaves.iter().map(Leaf::entry).collect();
    let remove_files = desired.removed == crate::config::Removed::RevokeAndRemove;
    for entry in managed.difference(&declared) {
        let serials = active_records(&inventory, entry)
            .iter()
            .map(|r| r.serial.clone())
            .collect();
        actions.push(Action {
            kind: ActionKind::Revoke,
            target: Target {
                kind: entry.kind,
                name: entry.common_name.clone(),
                install: entry.install.clone(),
            },
            reason: Reason::NoLongerDeclared {
                serials,
                remove_files,
            },
        });
        if remove_files && entry.kind == TargetKind::Server {
            notes.push(Note::RemovedServerFiles {
                target: actions[actions.len() - 1].target.clone(),
            });
        }
    }
    // Stable: within a kind, the file's order.
    actions.sort_by_key(|a| a.kind);
    Ok(Plan { actions, notes })
}

/// The names of the layout files already in `leaf`'s install directory when no certificate the
/// inventory records (active or not) was ever installed there: files dockpki did not write,
/// which an issue would replace.
fn foreign_files(inventory: &Inventory, leaf: &Leaf<'_>) -> Vec<String> {
    if inventory
        .certificates
        .iter()
        .any(|r| r.installed.contains(&leaf.install))
    {
        return Vec::new();
    }
    let layout = leaf.layout();
    [layout.cert_path(), layout.key_path(), layout.ca_path()]
        .iter()
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect()
}

/// The ways the CA `info` (the signing CA) differs from the file's `[ca]` that need a new CA.
fn ca_differences(desired: &Desired, info: &dockpki::CertInfo) -> Vec<CaDifference> {
    let mut out = Vec::new();
    if info.key_type != Some(desired.ca.key_type) {
        out.push(CaDifference::KeyType {
            state: info.key_type,
            config: desired.ca.key_type,
        });
    }
    if let Some(name) = &desired.ca.name {
        if info.common_name.as_deref() != Some(name.as_str()) {
            out.push(CaDifference::Name {
                state: info.common_name.clone(),
                config: name.to_string(),
            });
        }
    }
    if info.name_constraints.clone().unwrap_or_default() != desired.ca.name_constraints {
        out.push(CaDifference::NameConstraints);
    }
    out
}

/// Every certificate in the CA file at `path`.
fn ca_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let bytes = reader::read(path, Links::Refuse, Limit::Pem)?;
    dockpki::certs_from_pem(&bytes).map_err(|e| Error::from(e).context(path.display()))
}

/// How the record differs from the entry.
fn spec_changes(record: &Record, leaf: &Leaf<'_>) -> Vec<SpecChange> {
    let mut changes = Vec::new();
    if let Some(sans) = leaf.sans {
        let declared: Vec<String> = sans.as_slice().iter().map(ToString::to_string).collect();
        let as_set = |v: &[String]| v.iter().cloned().collect::<BTreeSet<String>>();
        if as_set(&declared) != as_set(&record.sans) {
            changes.push(SpecChange::Sans {
                recorded: record.sans.clone(),
                declared,
            });
        }
    }
    if record.key_type != Some(leaf.key_type) {
        changes.push(SpecChange::KeyType {
            recorded: record.key_type,
            declared: leaf.key_type,
        });
    }
    let recorded = Lifetime::of_validity(record.not_before, record.not_after);
    if recorded != Some(leaf.validity) {
        changes.push(SpecChange::Validity {
            recorded,
            declared: leaf.validity,
        });
    }
    changes
}

/// What is wrong with the layout's certificate or key, compared with `record`.
fn file_problem(layout: &Layout, record: &Record) -> Option<FileProblem> {
    let cert = match reader::read_optional(&layout.cert_path(), Links::Refuse, Limit::Pem) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Some(FileProblem::CertMissing),
        Err(_) => return Some(FileProblem::CertReplaced),
    };
    let Some(leaf) = dockpki::certs_from_pem(&cert)
        .ok()
        .and_then(|c| c.into_iter().next())
    else {
        return Some(FileProblem::CertReplaced);
    };
    if !dockpki::Fingerprint::of(&leaf).matches(&record.sha256) {
        return Some(FileProblem::CertReplaced);
    }
    let key = match reader::read_optional(&layout.key_path(), Links::Refuse, Limit::Pem) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Some(FileProblem::KeyMissing),
        Err(_) => return Some(FileProblem::KeyMismatch),
    };
    match dockpki::PrivateKey::from_pem(&key) {
        Ok(key) if dockpki::key_matches_cert(&key, &leaf) => None,
        _ => Some(FileProblem::KeyMismatch),
    }
}

/// Whether the bundle at `path` holds every certificate of `bundle`.
fn holds_all(path: &Path, bundle: &[CertificateDer<'static>]) -> bool {
    let Ok(Some(bytes)) = reader::read_optional(path, Links::Refuse, Limit::Pem) else {
        return false;
    };
    let Ok(certs) = dockpki::certs_from_pem(&bytes) else {
        return false;
    };
    bundle
        .iter()
        .all(|want| certs.iter().any(|c| c.as_ref() == want.as_ref()))
}

/// The layout's files whose mode or owner is not what dockpki writes (links and missing files
/// are left to the other checks).
fn metadata_problems(layout: &Layout, owner: Option<Owner>) -> Vec<Reason> {
    let want_uid = owner.map_or_else(|| nix::unistd::geteuid().as_raw(), |o| o.uid);
    let mut out = Vec::new();
    for (path, want) in [
        (layout.ca_path(), CERT_MODE),
        (layout.cert_path(), CERT_MODE),
        (layout.key_path(), KEY_MODE),
    ] {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let mode = meta.mode() & 0o7777;
        if mode != want {
            out.push(Reason::WrongMode {
                path: path.clone(),
                mode,
                want,
            });
        } else if meta.uid() != want_uid {
            out.push(Reason::WrongOwner {
                path,
                uid: meta.uid(),
                want: want_uid,
            });
        }
    }
    out
}

/// The record dockpki keeps for a declared context.
pub(crate) fn context_record(leaf: &Leaf<'_>, context: &ContextSpec) -> ContextRecord {
    ContextRecord {
        name: context.name.clone(),
        docker_config: leaf.install.clone(),
        client_dir: leaf.install.clone(),
        host: context.host.to_string(),
        description: None,
    }
}

/// How the declared context differs from what apply makes; `None` when it does not.
/// `rewrites`: the same plan rewrites the client layout (a new certificate, a new bundle),
/// whose update feeds the context's copies anyway.
fn context_drift(
    inventory: &Inventory,
    leaf: &Leaf<'_>,
    context: &ContextSpec,
    rewrites: bool,
) -> Option<Reason> {
    let want = context_record(leaf, context);
    let name = context.name.clone();
    let recorded = inventory
        .contexts
        .iter()
        .find(|c| c.name == want.name && c.docker_config == want.docker_config);
    let Some(recorded) = recorded.filter(|_| dc::is_present(&want.docker_config, &want.name))
    else {
        return Some(Reason::ContextMissing { context: name });
    };
    if recorded.host != want.host || recorded.client_dir != want.client_dir {
        return Some(Reason::ContextDiffers {
            context: name,
            drift: ContextDrift::Host {
                recorded: recorded.host.clone(),
                declared: want.host,
            },
        });
    }
    let meta = dc::meta_dir(&want.docker_config, &want.name).join("meta.json");
    let meta_same = reader::read_optional(&meta, Links::Refuse, Limit::Config)
        .ok()
        .flatten()
        .is_some_and(|b| b.as_slice() == dc::meta_json(&want).as_slice());
    if !meta_same {
        return Some(Reason::ContextDiffers {
            context: name,
            drift: ContextDrift::Meta,
        });
    }
    if !rewrites {
        let tls = dc::tls_dir(&want.docker_config, &want.name);
        let copies_same = dc::TLS_FILES.iter().all(|file| {
            let read = |p: &Path| {
                reader::read_optional(p, Links::Refuse, Limit::Pem)
                    .ok()
                    .flatten()
            };
            match (read(&leaf.install.join(file)), read(&tls.join(file))) {
                (Some(a), Some(b)) => a.as_slice() == b.as_slice(),
                _ => false,
            }
        });
        if !copies_same {
            return Some(Reason::ContextDiffers {
                context: name,
                drift: ContextDrift::Copies,
            });
        }
    }
    None
}

/// A server's `daemon.json` merged, read-only.
pub(crate) struct MergedConfig {
    pub old_text: Option<String>,
    pub new_text: String,
    /// The keys added or replaced.
    pub keys: Vec<String>,
    /// The `unix://` addresses the merged `hosts` leaves out.
    pub dropped_sockets: Vec<String>,
}

/// The merge request for a declared server: the system daemon, listening on what its
/// `daemon_config.listen` says (by default its socket and [`daemon_json::DEFAULT_LISTEN`], what
/// `dockpki daemon-config` does).
pub(crate) fn daemon_request(leaf: &Leaf<'_>, config: &DaemonConfigSpec) -> Result<Request> {
    Ok(Request {
        file: config.file.clone(),
        tls: leaf.layout(),
        hosts: config.listen.clone(),
        hardening: config.hardening,
        daemon: Daemon::System,
        command_line: None,
    })
}

/// Reads the server's `daemon.json` (bounded, no link) and merges its settings into it.
pub(crate) fn merge_daemon_config(
    leaf: &Leaf<'_>,
    config: &DaemonConfigSpec,
) -> Result<MergedConfig> {
    crate::fs::write::check_path(&config.file)?;
    crate::fs::write::check_path(&leaf.install)?;
    let request = daemon_request(leaf, config)?;
    let old_text = reader::read_optional(&config.file, Links::Refuse, Limit::Config)?
        .map(|bytes| {
            String::from_utf8(bytes.to_vec()).map_err(|_| {
                Error::new(format!(
                    "{} is not UTF-8 text, so it is not JSON dockerd could read; fix or move it",
                    config.file.display()
                ))
            })
        })
        .transpose()?;
    let merge = daemon_json::merge(&request, old_text.as_deref())?;
    let keys = merge
        .changes
        .iter()
        .filter(|c| {
            matches!(
                c.action,
                daemon_json::Action::Added | daemon_json::Action::Replaced
            )
        })
        .map(|c| c.key.clone())
        .collect();
    let dropped_sockets = merge
        .conflicts
        .iter()
        .filter_map(|c| match c {
            daemon_json::Conflict::DroppedSocket(socket) => Some(socket.clone()),
            daemon_json::Conflict::CommandLine { .. } => None,
        })
        .collect();
    Ok(MergedConfig {
        old_text,
        new_text: merge.new_text,
        keys,
        dropped_sockets,
    })
}
