//! Docker contexts whose TLS files dockpki keeps in step with a client layout: made or updated
//! here, recorded in the inventory, and rewritten by every later update of that layout (see
//! [`crate::docker::context::mirror_client_files`]).

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::docker::context as dc;
use crate::docker::TcpEndpoint;
use crate::error::{Advice, Error, Result};
use crate::fs::owner::ActingAs;
use crate::fs::reader::Links;
use crate::fs::write::{check_directory_trust, check_path};
use crate::fs::{Existing, OwnerPolicy, WritePlan, Written};
use crate::layout::read::Unusable;
use crate::layout::Layout;
use crate::store::inventory::{ContextRecord, Inventory, Status};
use crate::store::State;

/// A request to make a docker context from a client layout.
#[derive(Clone, Debug)]
pub struct ContextCreateRequest {
    /// The context name (checked with [`dc::validate_name`]).
    pub name: String,
    /// The daemon's address.
    pub host: TcpEndpoint,
    /// The docker CLI configuration directory to make it in (`DOCKER_CONFIG`).
    pub docker_config: PathBuf,
    /// The client layout whose `ca.pem`, `cert.pem` and `key.pem` it copies; it must belong to
    /// the same owner as `docker_config` under the state's [`OwnerPolicy`].
    pub client_dir: PathBuf,
    /// The description `docker context ls` shows.
    pub description: Option<String>,
    /// Whether a context of this name already in `docker_config` may be replaced (its files
    /// are overwritten, without backups: they are copies).
    pub existing: Existing,
}

/// A request to copy a context's client layout again, optionally with a new address or
/// description.
#[derive(Clone, Debug)]
pub struct ContextUpdateRequest {
    /// The name of a context dockpki made.
    pub name: String,
    /// The docker CLI configuration directory holding it.
    pub docker_config: PathBuf,
    /// A new daemon address, if any.
    pub host: Option<TcpEndpoint>,
    /// A new description, if any.
    pub description: Option<String>,
}

/// Whether later updates of a context's client layout reach the context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tracking {
    /// The client layout holds an active certificate dockpki installed: renewals and CA
    /// rotations rewrite the context's copies with it.
    Tracked,
    /// dockpki did not install the layout: its files were copied once, and a replacement made
    /// elsewhere reaches the context only through another update.
    Untracked,
}

/// What [`create`] or [`update`] wrote.
#[derive(Debug)]
pub struct ContextWritten {
    /// The context as recorded in the inventory.
    pub record: ContextRecord,
    /// `DOCKER_CONFIG/contexts/meta/<id>`.
    pub meta_dir: PathBuf,
    /// `DOCKER_CONFIG/contexts/tls/<id>/docker`.
    pub tls_dir: PathBuf,
    /// Whether later updates of the client layout reach the context.
    pub tracking: Tracking,
    /// The files written: `meta.json`, the three copies and the inventory.
    pub written: Vec<Written>,
}

/// Makes the docker context `request.name` in `request.docker_config` from the client layout
/// `request.client_dir`, exactly as `docker context create` would, and records it in the
/// inventory, in one journaled update.
///
/// The client layout is read as its owner ([`read_client_layout`]).
///
/// # Errors
/// When the name is not one docker accepts, the client layout is not usable (see
/// [`read_client_layout`]), a context of that name exists and `request.existing` is
/// [`Existing::Refuse`] ([`Advice::UpdateContext`] with the name as [`Error::subject`] when
/// dockpki made it, [`Advice::ReplaceContext`] when docker did), or the files cannot be
/// written.
pub fn create(state: &State, request: &ContextCreateRequest) -> Result<ContextWritten> {
    dc::validate_name(&request.name)?;
    let owners = &state.settings().owners;
    let files = read_client_layout(&request.client_dir, &request.docker_config, owners)?;
    let mut inventory = state.load_inventory()?;
    if request.existing == Existing::Refuse && dc::exists(&request.docker_config, &request.name) {
        return Err(
            match find(&inventory, &request.name, &request.docker_config) {
                Some(_) => Error::advised_about(
                    format!(
                        "dockpki already made the docker context {:?} in {}",
                        request.name,
                        request.docker_config.display()
                    ),
                    Advice::UpdateContext,
                    request.name.clone(),
                ),
                None => Error::advised(
                    format!(
                        "a docker context {:?} already exists in {} and was not made by dockpki",
                        request.name,
                        request.docker_config.display()
                    ),
                    Advice::ReplaceContext,
                ),
            },
        );
    }
    let record = ContextRecord {
        name: request.name.clone(),
        docker_config: request.docker_config.clone(),
        client_dir: request.client_dir.clone(),
        host: request.host.to_string(),
        description: request.description.clone(),
    };
    write(state, &mut inventory, record, &files)
}

/// Copies the client layout of the context `request.name` that dockpki made in
/// `request.docker_config` into it again, with the new address or description if given, and
/// updates its record, in one journaled update.
///
/// # Errors
/// When dockpki made no such context, or docker no longer has it (removed with `docker context
/// rm`, which an update does not undo) ([`Advice::CreateContext`], the name as
/// [`Error::subject`]), its client layout is not usable (see [`read_client_layout`]), or the
/// files cannot be written.
pub fn update(state: &State, request: &ContextUpdateRequest) -> Result<ContextWritten> {
    dc::validate_name(&request.name)?;
    let mut inventory = state.load_inventory()?;
    let mut record = find(&inventory, &request.name, &request.docker_config)
        .map(|i| inventory.contexts[i].clone())
        .ok_or_else(|| {
            Error::advised_about(
                format!(
                    "dockpki made no docker context {:?} in {}",
                    request.name,
                    request.docker_config.display()
                ),
                Advice::CreateContext,
                request.name.clone(),
            )
        })?;
    // Removed with `docker context rm`: the user's decision, which an update does not undo
    // (renewals do not recreate it either, see `mirror_client_files`).
    if !dc::is_present(&record.docker_config, &record.name) {
        return Err(Error::advised_about(
            format!(
                "the docker context {:?} dockpki made in {} was removed (its meta.json is gone, as after `docker context rm`); dockpki does not recreate it",
                record.name,
                record.docker_config.display()
            ),
            Advice::CreateContext,
            record.name.clone(),
        ));
    }
    if let Some(h) = &request.host {
        record.host = h.to_string();
    }
    if let Some(d) = &request.description {
        record.description = Some(d.clone());
    }
    let files = read_client_layout(
        &record.client_dir,
        &record.docker_config,
        &state.settings().owners,
    )?;
    write(state, &mut inventory, record, &files)
}

/// Writes the context and its inventory record as one journaled update.
fn write(
    state: &State,
    inventory: &mut Inventory,
    record: ContextRecord,
    files: &[Zeroizing<Vec<u8>>; 3],
) -> Result<ContextWritten> {
    // Contexts are dockpki's own copies from here on: rewritten without consent or backups.
    let mut plan = WritePlan::new(Existing::ReplaceKeepingBackup);
    dc::plan_context(
        &mut plan,
        &record,
        files,
        state.settings().owners.owner_for(&record.docker_config),
    );
    inventory
        .contexts
        .retain(|c| !(c.name == record.name && c.docker_config == record.docker_config));
    inventory.contexts.push(record.clone());
    state.plan_inventory(&mut plan, inventory)?;
    let written = state.commit(state.feed_contexts(plan)?)?;
    let tracked = inventory
        .certificates
        .iter()
        .any(|r| r.status == Status::Active && r.installed.iter().any(|d| d == &record.client_dir));
    Ok(ContextWritten {
        meta_dir: dc::meta_dir(&record.docker_config, &record.name),
        tls_dir: dc::tls_dir(&record.docker_config, &record.name),
        tracking: if tracked {
            Tracking::Tracked
        } else {
            Tracking::Untracked
        },
        record,
        written,
    })
}

/// Whether docker still has a context dockpki made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Its `meta.json` is there: docker lists it.
    Present,
    /// Its `meta.json` is gone (`docker context rm`): docker does not list it, and dockpki
    /// does not recreate it.
    Removed,
}

/// Whether a present context's files are what dockpki would write now.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "files")]
pub enum Files {
    /// `meta.json` and the three copies match the record and the client layout.
    Match,
    /// These files differ from what dockpki would write (or cannot be read): `meta.json`
    /// (changed with `docker context update`), or copies of a client layout replaced
    /// outside dockpki.
    Differ(Vec<String>),
}

/// One context dockpki made, and how it stands.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ContextStatus {
    /// The record in the inventory.
    pub record: ContextRecord,
    /// Whether docker still has it.
    pub presence: Presence,
    /// For a present context, whether its files match; `None` for a removed one.
    pub files: Option<Files>,
}

/// The contexts dockpki made (recorded in the inventory), each with whether docker still has it
/// and whether its files match the record and the client layout. Contexts in every docker
/// configuration directory are listed; `docker_config` keeps only those of one.
///
/// # Errors
/// When the inventory cannot be read.
pub fn list(state: &State, docker_config: Option<&Path>) -> Result<Vec<ContextStatus>> {
    let inventory = state.load_inventory()?;
    Ok(inventory
        .contexts
        .into_iter()
        .filter(|r| docker_config.is_none_or(|d| d == r.docker_config))
        .map(|record| {
            // Read as the owner of the docker config: root listing a user's contexts must not
            // follow that user's links to root's files (and tell them whether they match).
            let owner = state.settings().owners.owner_for(&record.docker_config);
            let _as = match ActingAs::user(owner.map(|o| o.uid), owner.map(|o| o.gid)) {
                Ok(acting) => acting,
                // Nothing can be judged without reading as the owner: every file differs.
                Err(e) => {
                    return ContextStatus {
                        record,
                        presence: Presence::Present,
                        files: Some(Files::Differ(vec![format!("unreadable ({e})")])),
                    }
                }
            };
            let presence = if dc::is_present(&record.docker_config, &record.name) {
                Presence::Present
            } else {
                Presence::Removed
            };
            let files = (presence == Presence::Present).then(|| compare(&record));
            ContextStatus {
                record,
                presence,
                files,
            }
        })
        .collect())
}

/// Compares a present context's files with what dockpki would write: `meta.json` with the
/// record, each copy with its client layout's file. Read bounded and never through a link; a
/// file that cannot be read differs.
fn compare(record: &ContextRecord) -> Files {
    use crate::fs::reader::{read, Limit};
    let meta = dc::meta_dir(&record.docker_config, &record.name).join("meta.json");
    let mut differ = Vec::new();
    let same = |a: &Path, b: Option<&[u8]>, limit: Limit| match (read(a, Links::Refuse, limit), b) {
        (Ok(x), Some(y)) => x.as_slice() == y,
        _ => false,
    };
    if !same(&meta, Some(&dc::meta_json(record)), Limit::Config) {
        differ.push("meta.json".to_string());
    }
    let tls = dc::tls_dir(&record.docker_config, &record.name);
    for name in dc::TLS_FILES {
        let original = read(&record.client_dir.join(name), Links::Refuse, Limit::Pem).ok();
        if !same(
            &tls.join(name),
            original.as_deref().map(Vec::as_slice),
            Limit::Pem,
        ) {
            differ.push(name.to_string());
        }
    }
    if differ.is_empty() {
        Files::Match
    } else {
        Files::Differ(differ)
    }
}

/// A request to remove a docker context.
#[derive(Clone, Debug)]
pub struct ContextRemoveRequest {
    /// The context name.
    pub name: String,
    /// The docker CLI configuration directory holding it.
    pub docker_config: PathBuf,
    /// Whether a context dockpki did not make may be removed too.
    pub existing: Existing,
}

/// Who made a removed context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MadeBy {
    /// dockpki (it was recorded in the inventory; the record is gone too).
    Dockpki,
    /// docker or another tool (removed with consent).
    Other,
}

/// What [`remove`] did.
#[derive(Debug, serde::Serialize)]
pub struct ContextRemoved {
    /// The context name.
    pub name: String,
    /// The docker CLI configuration directory that held it.
    pub docker_config: PathBuf,
    /// Who made it.
    pub made_by: MadeBy,
    /// The files and directories removed (none when docker had removed it already and only
    /// the record was left).
    pub removed: Vec<PathBuf>,
    /// The inventory written without the record, when there was one.
    pub written: Vec<Written>,
}

/// Removes the docker context `request.name` from `request.docker_config` (`meta.json`, the
/// TLS copies and their directories, as `docker context rm` does) and its record from the
/// inventory. A context dockpki did not make is removed only with
/// [`Existing::ReplaceKeepingBackup`]; docker's current context never.
///
/// The docker files go first, `meta.json` before the rest ([`dc::remove_files`]), then the
/// inventory is written through a journaled plan: a crash in between leaves a record of a
/// removed context, which `list` shows as removed and a second `remove` forgets, never a
/// context docker lists that dockpki has forgotten.
///
/// # Errors
/// When no context of that name exists or is recorded, it was not made by dockpki and
/// `request.existing` is [`Existing::Refuse`] ([`Advice::RemoveContext`]), it is docker's current
/// context, its directories hold something a context made from a client layout does not, or a
/// file cannot be removed or written.
pub fn remove(state: &State, request: &ContextRemoveRequest) -> Result<ContextRemoved> {
    dc::validate_name(&request.name)?;
    check_path(&request.docker_config)?;
    let mut inventory = state.load_inventory()?;
    let found = find(&inventory, &request.name, &request.docker_config);
    // Docker's files are the owner's: root removes them as that user, and only through links
    // root, the running user or that user own, into a directory that user owns — never through a
    // `~/.docker` a user pointed at root's (or someone else's) contexts.
    let owner = state.settings().owners.owner_for(&request.docker_config);
    check_directory_trust(
        &request.docker_config.join("contexts").join("meta"),
        owner.map(|o| o.uid),
    )?;
    let acting = ActingAs::user(owner.map(|o| o.uid), owner.map(|o| o.gid))?;
    let on_disk = dc::exists(&request.docker_config, &request.name);
    if found.is_none() {
        if !on_disk {
            return Err(Error::new(format!(
                "there is no docker context {:?} in {} (`docker context ls` lists them)",
                request.name,
                request.docker_config.display()
            )));
        }
        if request.existing == Existing::Refuse {
            return Err(Error::advised(
                format!(
                    "the docker context {:?} in {} was not made by dockpki; remove it with `docker context rm {}`",
                    request.name,
                    request.docker_config.display(),
                    request.name
                ),
                Advice::RemoveContext,
            ));
        }
    }
    if on_disk && current_context(&request.docker_config).as_deref() == Some(&request.name) {
        return Err(Error::new(format!(
            "the docker context {:?} is docker's current context in {}; switch to another first (`docker context use default`)",
            request.name,
            request.docker_config.display()
        )));
    }
    let removed = dc::remove_files(&request.docker_config, &request.name)?;
    // The inventory is the state's, written as the running user.
    drop(acting);
    let written = match found {
        Some(i) => {
            inventory.contexts.remove(i);
            let mut plan = WritePlan::new(Existing::Refuse);
            state.plan_inventory(&mut plan, &inventory)?;
            state.commit(state.feed_contexts(plan)?)?
        }
        None => Vec::new(),
    };
    Ok(ContextRemoved {
        name: request.name.clone(),
        docker_config: request.docker_config.clone(),
        made_by: if found.is_some() {
            MadeBy::Dockpki
        } else {
            MadeBy::Other
        },
        removed,
        written,
    })
}

/// The `currentContext` of `DOCKER_CONFIG/config.json`, if any can be read.
pub(crate) fn current_context(docker_config: &Path) -> Option<String> {
    use crate::fs::reader::{read_optional, Limit};
    let bytes = read_optional(
        &docker_config.join("config.json"),
        Links::Follow,
        Limit::Config,
    )
    .ok()??;
    let doc: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    doc.get("currentContext")?.as_str().map(str::to_string)
}

fn find(inventory: &Inventory, name: &str, docker_config: &Path) -> Option<usize> {
    inventory
        .contexts
        .iter()
        .position(|c| c.name == name && c.docker_config == docker_config)
}

/// Reads `ca.pem`, `cert.pem` and `key.pem` of the client layout `dir` (in
/// [`TLS_FILES`](crate::docker::context::TLS_FILES) order) with the one layout reader, and checks that they are what the docker CLI needs (certificates, a key matching the
/// certificate), so that a context is never made from a directory docker would refuse.
///
/// The files are copied, as root under sudo, into a directory the invoking user owns, so none
/// may be a symlink: a link named `key.pem` pointing at the CA key (with the CA certificate as
/// `cert.pem`, which it matches) would otherwise hand the CA key to that user. For the same
/// reason `cert.pem` must be a leaf, not a CA certificate.
///
/// The copies go to the user who owns `docker_config` under `owners` (the invoking user under
/// sudo), so the layout is read as that user ([`ActingAs`]): a `dir`
/// naming root's (or anyone else's) layout finds only what that user could read anyway, and a layout of another owner
/// is refused outright.
///
/// # Errors
/// When either path is not a plain absolute path ([`check_path`]), `dir` is another owner's
/// ([`Advice::ClientDirOfOwner`]), a file is missing, a link,
/// or not PEM of the right kind, `cert.pem` is a CA ([`Advice::IssueClient`]), or the key is
/// not the certificate's ([`Advice::IssueClientAgain`]); both with `dir` as
/// [`Error::subject`].
pub fn read_client_layout(
    dir: &Path,
    docker_config: &Path,
    owners: &OwnerPolicy,
) -> Result<[Zeroizing<Vec<u8>>; 3]> {
    // Both are recorded in the inventory, and the layout is fed into the context by every later
    // update of it: plain absolute paths only, before anything is read.
    check_path(dir)?;
    check_path(docker_config)?;
    let owner = owners.owner_for(docker_config);
    if owner.map(|o| o.uid) != owners.owner_for(dir).map(|o| o.uid) {
        return Err(Error::advised(
            format!(
                "{} is not a client layout of the user the context is for (the owner of {})",
                dir.display(),
                docker_config.display()
            ),
            Advice::ClientDirOfOwner,
        ));
    }
    // The one layout reader, as the context's owner, never through a link: the copies go into
    // that user's tree, and a link named `key.pem` could otherwise point at any key root reads.
    let files = Layout::client(dir.to_path_buf())
        .read_checked(Links::Refuse, owner)
        .map_err(|unusable| match unusable {
            Unusable::Read(e) | Unusable::OtherKind(e) => e,
            Unusable::Invalid { path, error } => Error::from(error).context(format!(
                "{} is not usable for a docker context",
                path.display()
            )),
            Unusable::CaCertificate { cert } => Error::advised_about(
                format!(
                    "{} holds a CA certificate, not a client certificate, so it is not usable for a docker context",
                    cert.display()
                ),
                Advice::IssueClient,
                dir.display().to_string(),
            ),
            Unusable::KeyMismatch { key, cert } => Error::advised_about(
                format!(
                    "{} does not belong to the certificate in {}",
                    key.display(),
                    cert.display()
                ),
                Advice::IssueClientAgain,
                dir.display().to_string(),
            ),
        })?;
    Ok(files.pem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::context::TLS_FILES;
    use crate::ops::{issue, IssueRequest, LeafRequest};
    use crate::store::{Create, Settings};
    use dockpki::{ClientRequest, KeyType, OffsetDateTime};
    use std::os::unix::fs::PermissionsExt;

    struct Setup {
        root: tempfile::TempDir,
        state: State,
    }

    impl Setup {
        /// A state with a CA and a client layout issued into `client/`.
        fn new() -> Setup {
            let root = tempfile::tempdir().unwrap();
            let state = State::open(
                root.path().join("state"),
                Create::IfMissing,
                Settings::default(),
            )
            .unwrap();
            let now = OffsetDateTime::now_utc();
            let ca =
                dockpki::CertificateAuthority::create(&dockpki::CaOptions::new(now).unwrap(), now)
                    .unwrap();
            let mut plan = WritePlan::new(Existing::Refuse);
            state
                .plan_ca(&mut plan, &ca, crate::store::KeyProtection::Plain)
                .unwrap();
            state.commit(state.feed_contexts(plan).unwrap()).unwrap();
            let s = Setup { root, state };
            s.issue_client("client");
            s
        }
        fn p(&self, rel: &str) -> PathBuf {
            self.root.path().join(rel)
        }
        fn issue_client(&self, dir: &str) {
            issue(
                &self.state,
                &IssueRequest {
                    leaf: LeafRequest::Client(ClientRequest {
                        common_name: "alice".parse().unwrap(),
                        lifetime: "90d".parse().unwrap(),
                    }),
                    key_type: KeyType::EcdsaP256,
                    dir: self.p(dir),
                    existing: Existing::ReplaceKeepingBackup,
                },
                OffsetDateTime::now_utc(),
            )
            .unwrap();
        }
        fn create(&self, name: &str, client: &str, existing: Existing) -> Result<ContextWritten> {
            create(
                &self.state,
                &ContextCreateRequest {
                    name: name.into(),
                    host: "tcp://docker.example.com:2376".parse().unwrap(),
                    docker_config: self.p("config"),
                    client_dir: self.p(client),
                    description: None,
                    existing,
                },
            )
        }
    }

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    #[test]
    fn create_writes_docker_meta_json_and_copies_of_the_client_files_and_records_the_context() {
        let s = Setup::new();
        let made = s.create("remote-a", "client", Existing::Refuse).unwrap();
        assert_eq!(made.tracking, Tracking::Tracked);
        assert_eq!(made.meta_dir, dc::meta_dir(&s.p("config"), "remote-a"));
        assert_eq!(
            std::fs::read(made.meta_dir.join("meta.json")).unwrap(),
            dc::meta_json(&made.record)
        );
        assert_eq!(mode(&made.meta_dir), dc::META_DIR_MODE);
        assert_eq!(mode(&made.tls_dir), dc::TLS_DIR_MODE);
        for name in TLS_FILES {
            let copy = made.tls_dir.join(name);
            assert_eq!(
                std::fs::read(&copy).unwrap(),
                std::fs::read(s.p("client").join(name)).unwrap(),
                "{name}"
            );
            assert_eq!(mode(&copy), dc::TLS_FILE_MODE, "{name}");
            assert!(made.written.iter().any(|w| w.path == copy), "{name}");
        }
        let inventory = s.state.load_inventory().unwrap();
        assert_eq!(inventory.contexts, vec![made.record.clone()]);
        assert_eq!(made.record.host, "tcp://docker.example.com:2376");
    }

    #[test]
    fn an_existing_context_is_replaced_only_with_consent_with_advice_by_who_made_it() {
        let s = Setup::new();
        // One docker made: a meta directory dockpki has no record of.
        std::fs::create_dir_all(dc::meta_dir(&s.p("config"), "theirs")).unwrap();
        let e = s.create("theirs", "client", Existing::Refuse).unwrap_err();
        assert_eq!(e.advice(), Some(Advice::ReplaceContext));
        assert!(e.message().ends_with("was not made by dockpki"), "{e}");
        s.create("theirs", "client", Existing::ReplaceKeepingBackup)
            .unwrap();
        // Now dockpki's: the advice is to update it, naming it.
        let e = s.create("theirs", "client", Existing::Refuse).unwrap_err();
        assert_eq!(e.advice(), Some(Advice::UpdateContext));
        assert_eq!(e.subject(), Some("theirs"));
        assert_eq!(s.state.load_inventory().unwrap().contexts.len(), 1);
    }

    #[test]
    fn update_copies_the_layout_again_and_keeps_what_it_is_not_told_to_change() {
        let s = Setup::new();
        let made = s.create("remote-a", "client", Existing::Refuse).unwrap();
        let old_key = std::fs::read(made.tls_dir.join("key.pem")).unwrap();
        // A renewal of the layout reaches the tracked context by itself...
        s.issue_client("client");
        let key = std::fs::read(s.p("client/key.pem")).unwrap();
        assert_ne!(key, old_key);
        assert_eq!(std::fs::read(made.tls_dir.join("key.pem")).unwrap(), key);
        // ...and update takes a new address, keeping the directories.
        let updated = update(
            &s.state,
            &ContextUpdateRequest {
                name: "remote-a".into(),
                docker_config: s.p("config"),
                host: Some("tcp://10.0.0.9:2376".parse().unwrap()),
                description: Some("new".into()),
            },
        )
        .unwrap();
        assert_eq!(updated.record.host, "tcp://10.0.0.9:2376");
        assert_eq!(updated.record.client_dir, s.p("client"));
        assert_eq!(updated.record.description.as_deref(), Some("new"));
        assert_eq!(
            s.state.load_inventory().unwrap().contexts,
            vec![updated.record.clone()]
        );
    }

    #[test]
    fn update_of_a_context_dockpki_never_made_advises_creating_it() {
        let s = Setup::new();
        let e = update(
            &s.state,
            &ContextUpdateRequest {
                name: "nosuch".into(),
                docker_config: s.p("config"),
                host: None,
                description: None,
            },
        )
        .unwrap_err();
        assert_eq!(e.advice(), Some(Advice::CreateContext));
        assert_eq!(e.subject(), Some("nosuch"));
        assert!(!s.p("config").exists());
    }

    #[test]
    fn a_layout_dockpki_did_not_install_is_copied_but_untracked() {
        let s = Setup::new();
        std::fs::create_dir(s.p("copied")).unwrap();
        for name in TLS_FILES {
            std::fs::copy(s.p("client").join(name), s.p("copied").join(name)).unwrap();
        }
        let made = s.create("copied", "copied", Existing::Refuse).unwrap();
        assert_eq!(made.tracking, Tracking::Untracked);
    }

    #[test]
    fn layouts_docker_would_refuse_or_that_could_leak_the_ca_key_are_refused_writing_nothing() {
        let s = Setup::new();
        // The CA certificate as cert.pem, the CA key behind a key.pem link: refused at the link.
        std::fs::create_dir(s.p("linked")).unwrap();
        std::fs::copy(s.p("client/ca.pem"), s.p("linked/ca.pem")).unwrap();
        std::fs::copy(s.state.ca_cert_path(), s.p("linked/cert.pem")).unwrap();
        std::os::unix::fs::symlink(s.state.ca_key_path(), s.p("linked/key.pem")).unwrap();
        assert!(s.create("linked", "linked", Existing::Refuse).is_err());
        // The same with a copy of the CA key: refused because cert.pem is a CA.
        std::fs::remove_file(s.p("linked/key.pem")).unwrap();
        std::fs::copy(s.state.ca_key_path(), s.p("linked/key.pem")).unwrap();
        let e = s.create("linked", "linked", Existing::Refuse).unwrap_err();
        assert_eq!(e.advice(), Some(Advice::IssueClient));
        assert_eq!(e.subject(), Some(s.p("linked").to_str().unwrap()));
        // A key that is not the certificate's.
        std::fs::create_dir(s.p("mixed")).unwrap();
        for name in ["ca.pem", "cert.pem"] {
            std::fs::copy(s.p("client").join(name), s.p("mixed").join(name)).unwrap();
        }
        std::fs::copy(s.state.ca_key_path(), s.p("mixed/key.pem")).unwrap();
        let e = s.create("mixed", "mixed", Existing::Refuse).unwrap_err();
        assert_eq!(e.advice(), Some(Advice::IssueClientAgain));
        assert!(
            e.message().contains("does not belong to the certificate"),
            "{e}"
        );
        assert!(!s.p("config").exists());
        assert!(s.state.load_inventory().unwrap().contexts.is_empty());
    }

    /// Under sudo a context is the invoking user's: a client layout outside their home is not
    /// theirs to copy, whoever may read it.
    #[test]
    fn a_client_layout_of_another_owner_than_the_config_is_refused() {
        let home = Path::new("/home/alice");
        let owners = OwnerPolicy::InvokingUser {
            owner: crate::fs::Owner {
                uid: 65534,
                gid: 65534,
            },
            home: home.to_path_buf(),
        };
        let e = read_client_layout(Path::new("/root/.docker"), &home.join(".docker"), &owners)
            .unwrap_err();
        assert_eq!(e.advice(), Some(Advice::ClientDirOfOwner));
    }

    /// Root reads a user's layout as that user: a file the user may not read is not copied
    /// into their context even though root could read it.
    #[test]
    fn the_client_layout_is_read_as_the_owner_of_the_context() {
        if !crate::test_support::root_or_skip() {
            return;
        }
        let s = Setup::new();
        std::fs::set_permissions(s.root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let home = s.p("home");
        std::fs::create_dir(&home).unwrap();
        std::os::unix::fs::chown(&home, Some(65534), Some(65534)).unwrap();
        // root's files in the user's layout directory, readable by root only.
        let layout = home.join("layout");
        std::fs::create_dir(&layout).unwrap();
        std::os::unix::fs::chown(&layout, Some(65534), Some(65534)).unwrap();
        for name in TLS_FILES {
            std::fs::copy(s.p("client").join(name), layout.join(name)).unwrap();
        }
        std::fs::set_permissions(
            layout.join("key.pem"),
            std::fs::Permissions::from_mode(0o400),
        )
        .unwrap();
        let owners = OwnerPolicy::InvokingUser {
            owner: crate::fs::Owner {
                uid: 65534,
                gid: 65534,
            },
            home: home.clone(),
        };
        let e = read_client_layout(&layout, &home.join(".docker"), &owners).unwrap_err();
        assert!(e.message().contains("key.pem"), "{e}");
        // Readable by the user: copied.
        std::os::unix::fs::chown(layout.join("key.pem"), Some(65534), Some(65534)).unwrap();
        read_client_layout(&layout, &home.join(".docker"), &owners).unwrap();
    }

    /// Feeding the contexts is part of what an operation returns: every update of a client
    /// layout names the contexts whose copies it rewrote, and only those, and a context whose
    /// copies could not be written (a renewal skipped its directory) is not named.
    #[test]
    fn an_operations_outcome_names_the_contexts_it_fed_and_only_those() {
        use crate::docker::context::ContextFed;
        use crate::ops::{renew, rotate, RenewRequest, Selection};
        let s = Setup::new();
        s.create("remote-a", "client", Existing::Refuse).unwrap();
        let fed = vec![ContextFed {
            name: "remote-a".into(),
            docker_config: s.p("config"),
            client_dir: s.p("client"),
        }];
        let now = OffsetDateTime::now_utc();
        let into = |dir: &str| {
            issue(
                &s.state,
                &IssueRequest {
                    leaf: LeafRequest::Client(ClientRequest {
                        common_name: "alice".parse().unwrap(),
                        lifetime: "90d".parse().unwrap(),
                    }),
                    key_type: KeyType::EcdsaP256,
                    dir: s.p(dir),
                    existing: Existing::ReplaceKeepingBackup,
                },
                now,
            )
            .unwrap()
        };
        let copies_match = |when: &str| {
            for name in TLS_FILES {
                assert_eq!(
                    std::fs::read(made_tls_dir(&s).join(name)).unwrap(),
                    std::fs::read(s.p("client").join(name)).unwrap(),
                    "{name} {when}"
                );
            }
        };
        assert_eq!(into("client").contexts_fed, fed, "issue into its layout");
        copies_match("after issue");
        assert!(into("other").contexts_fed.is_empty(), "issue elsewhere");
        let all = RenewRequest {
            selection: Selection::All,
            key_policy: crate::store::reissue::KeyPolicy::Fresh,
            lifetime: None,
        };
        let renewal = renew(&s.state, &all, now).unwrap();
        assert_eq!(renewal.contexts_fed, fed, "renew");
        copies_match("after renew");
        let begun = rotate::begin(
            &s.state,
            &rotate::BeginRequest {
                key_type: None,
                lifetime: "10y".parse().unwrap(),
            },
            now,
        )
        .unwrap();
        assert_eq!(begun.contexts_fed, fed, "rotate begin");
        let reissued = rotate::reissue(&s.state, now).unwrap();
        assert_eq!(reissued.contexts_fed, fed, "rotate reissue");
        let finished = rotate::finish(&s.state).unwrap();
        assert_eq!(finished.contexts_fed, fed, "rotate finish");
        copies_match("after the rotation");

        // A directory where a copy belongs: the renewal skips the context's directory (and
        // still renews the layout), so the context was not fed.
        let key_copy = made_tls_dir(&s).join("key.pem");
        std::fs::remove_file(&key_copy).unwrap();
        std::fs::create_dir(&key_copy).unwrap();
        let renewal = renew(&s.state, &all, now).unwrap();
        assert_eq!(renewal.skipped.len(), 1, "{:?}", renewal.skipped);
        assert_eq!(renewal.skipped[0].0, made_tls_dir(&s));
        assert!(
            renewal.contexts_fed.is_empty(),
            "{:?}",
            renewal.contexts_fed
        );
        std::fs::remove_dir(&key_copy).unwrap();
        std::fs::write(&key_copy, std::fs::read(s.p("client/key.pem")).unwrap()).unwrap();
        std::fs::set_permissions(
            &key_copy,
            std::fs::Permissions::from_mode(dc::TLS_FILE_MODE),
        )
        .unwrap();

        // The layout itself cannot be written: its context's copies are left out with it, so
        // that the context never holds newer files than the layout it copies.
        let before: Vec<Vec<u8>> = TLS_FILES
            .iter()
            .map(|n| std::fs::read(made_tls_dir(&s).join(n)).unwrap())
            .collect();
        let cert = s.p("client/cert.pem");
        std::fs::remove_file(&cert).unwrap();
        std::fs::create_dir(&cert).unwrap();
        let renewal = renew(&s.state, &all, now).unwrap();
        let skipped: Vec<&PathBuf> = renewal.skipped.iter().map(|(d, _)| d).collect();
        assert_eq!(
            skipped,
            [&s.p("client"), &made_tls_dir(&s)],
            "{:?}",
            renewal.skipped
        );
        assert!(
            renewal.skipped[1].1.contains("left out"),
            "{:?}",
            renewal.skipped
        );
        assert!(
            renewal.contexts_fed.is_empty(),
            "{:?}",
            renewal.contexts_fed
        );
        let after: Vec<Vec<u8>> = TLS_FILES
            .iter()
            .map(|n| std::fs::read(made_tls_dir(&s).join(n)).unwrap())
            .collect();
        assert_eq!(before, after, "the context's copies are untouched");
    }

    /// The TLS directory of the context `remote-a` made in `config`.
    fn made_tls_dir(s: &Setup) -> PathBuf {
        dc::tls_dir(&s.p("config"), "remote-a")
    }

    #[test]
    fn list_tells_present_matching_differing_and_removed_contexts_apart() {
        let s = Setup::new();
        let made = s.create("remote-a", "client", Existing::Refuse).unwrap();
        let one = |s: &Setup| list(&s.state, None).unwrap().remove(0);
        let c = one(&s);
        assert_eq!(
            (c.presence, c.files),
            (Presence::Present, Some(Files::Match))
        );
        std::fs::write(made.tls_dir.join("cert.pem"), "other").unwrap();
        assert_eq!(one(&s).files, Some(Files::Differ(vec!["cert.pem".into()])));
        std::fs::remove_file(made.meta_dir.join("meta.json")).unwrap();
        let c = one(&s);
        assert_eq!((c.presence, c.files), (Presence::Removed, None));
        assert!(list(&s.state, Some(&s.p("elsewhere"))).unwrap().is_empty());
    }

    #[test]
    fn update_refuses_to_recreate_a_context_docker_removed() {
        let s = Setup::new();
        let made = s.create("remote-a", "client", Existing::Refuse).unwrap();
        std::fs::remove_dir_all(&made.meta_dir).unwrap();
        std::fs::remove_dir_all(made.tls_dir.parent().unwrap()).unwrap();
        let e = update(
            &s.state,
            &ContextUpdateRequest {
                name: "remote-a".into(),
                docker_config: s.p("config"),
                host: None,
                description: None,
            },
        )
        .unwrap_err();
        assert_eq!(e.advice(), Some(Advice::CreateContext));
        assert!(e.message().contains("does not recreate it"), "{e}");
        assert!(!made.meta_dir.exists());
    }

    #[test]
    fn remove_takes_the_files_and_the_record_and_needs_consent_for_a_foreign_context() {
        let s = Setup::new();
        let made = s.create("remote-a", "client", Existing::Refuse).unwrap();
        let rm = |name: &str, existing| {
            remove(
                &s.state,
                &ContextRemoveRequest {
                    name: name.into(),
                    docker_config: s.p("config"),
                    existing,
                },
            )
        };
        // Something dockpki did not write there: nothing is removed.
        std::fs::write(made.meta_dir.join("extra"), "x").unwrap();
        let e = rm("remote-a", Existing::Refuse).unwrap_err();
        assert!(e.message().contains("extra"), "{e}");
        assert!(made.meta_dir.join("meta.json").is_file());
        std::fs::remove_file(made.meta_dir.join("extra")).unwrap();
        let done = rm("remote-a", Existing::Refuse).unwrap();
        assert_eq!(done.made_by, MadeBy::Dockpki);
        assert_eq!(done.removed.len(), 7, "{:?}", done.removed);
        assert!(!dc::exists(&s.p("config"), "remote-a"));
        assert!(s.state.load_inventory().unwrap().contexts.is_empty());
        // docker's own: consent needed.
        std::fs::create_dir_all(dc::meta_dir(&s.p("config"), "theirs")).unwrap();
        std::fs::write(
            dc::meta_dir(&s.p("config"), "theirs").join("meta.json"),
            "{}",
        )
        .unwrap();
        let e = rm("theirs", Existing::Refuse).unwrap_err();
        assert_eq!(e.advice(), Some(Advice::RemoveContext));
        let done = rm("theirs", Existing::ReplaceKeepingBackup).unwrap();
        assert_eq!(done.made_by, MadeBy::Other);
        assert!(!dc::exists(&s.p("config"), "theirs"));
        assert!(rm("theirs", Existing::ReplaceKeepingBackup).is_err());
    }
}
