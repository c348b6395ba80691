//! Declarative provisioning: [`plan`] compares the PKI a `dockpki.toml` describes
//! ([`Desired`]) with the state and the files on disk and lists what [`apply`] would do, in
//! order; [`apply`] does it as one journaled update.
//!
//! What a plan can hold, in this order ([`ActionKind`]): create the CA; issue a declared leaf
//! that has no active certificate; adopt a certificate issued by hand that already satisfies a
//! declared entry; renew one that is due (by the entry's `renew_before`, the rule `renew` and
//! `status` use); re-issue one whose SANs, key type or validity differ from the entry; repair a
//! layout whose certificate or key is missing or not the recorded one (a re-issue with a fresh
//! key); rewrite a `ca.pem` that does not hold the trust bundle; rewrite a file whose mode or
//! owner is wrong; create or update a declared docker context; merge a `daemon.json`; revoke a
//! leaf apply made that the file no longer declares.
//!
//! Which leaves apply manages is kept in `declared.json` in the state directory: the (kind,
//! common name, install directory) of every entry apply issued or adopted. Only those are ever
//! revoked for being no longer declared; a certificate issued by hand (`dockpki issue`) that no
//! entry names is left alone. `dockpki renew` keeps the common name and the install directory,
//! so a renewed certificate is still the entry's, and the next plan is clean.
//!
//! Some differences are not actions but [`Note`]s: a `[ca]` that needs a new CA (never rotated
//! implicitly: the note names `ca rotate begin`), a rotation in progress, a leaf that cannot be
//! issued because it would outlive the CA.

mod apply;
mod declared;
mod plan;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;

use dockpki::{KeyType, Lifetime, OffsetDateTime, Usage};
use serde::Serialize;

use crate::config::Desired;
use crate::docker::context::ContextFed;
use crate::error::Result;
use crate::fs::Written;
use crate::health::Health;
use crate::store::State;
use crate::text::escape;

pub use declared::DECLARED_FILE;

/// What [`apply`] would do, and what it cannot do but the operator should know.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The actions, in the order they are listed in [`ActionKind`], then in the file's order.
    pub actions: Vec<Action>,
    /// What needs the operator (a CA rotation) or is worth knowing, in no particular weight.
    pub notes: Vec<Note>,
}

impl Plan {
    /// The issue actions that would replace files dockpki did not write
    /// ([`Reason::ForeignFiles`]), which [`apply`] refuses with [`Foreign::Refuse`].
    pub fn foreign(&self) -> impl Iterator<Item = &Action> {
        self.actions
            .iter()
            .filter(|a| matches!(a.reason, Reason::ForeignFiles { .. }))
    }

    /// Whether there is nothing for [`apply`] to do (notes may remain).
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// [`Health::ChangesPending`] when there is anything to do, or a note saying the state
    /// differs from the file in a way only the operator can resolve ([`Note::is_drift`]);
    /// [`Health::Good`] otherwise.
    pub fn health(&self) -> Health {
        if !self.actions.is_empty() || self.notes.iter().any(Note::is_drift) {
            Health::ChangesPending
        } else {
            Health::Good
        }
    }
}

/// Whether [`apply`] may replace files dockpki did not write: layout files already in an
/// install directory where no certificate it recorded was installed ([`Reason::ForeignFiles`]).
/// Files dockpki wrote itself (a renewal, a re-issue, a repair) are always replaced, their
/// previous contents kept as `.bak` backups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Foreign {
    /// Refuse the whole apply, writing nothing (the default): they may be another tool's, or a
    /// daemon's own certificate, and the operator should look first.
    #[default]
    Refuse,
    /// Replace them, keeping each as a `.bak` backup next to it (`apply --force`).
    ReplaceKeepingBackup,
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Action {
    /// What is done.
    pub kind: ActionKind,
    /// To what.
    pub target: Target,
    /// Why.
    pub reason: Reason,
}

impl fmt::Display for Action {
    /// One line, e.g. `re-issue server build-1 (/etc/docker/pki): SANs differ (...)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.kind, self.target, self.reason)
    }
}

/// What an action does. The order of the variants is the order of a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    /// Make the CA (the state has none).
    CreateCa,
    /// Issue a declared leaf that has no active certificate.
    Issue,
    /// Take over a certificate issued by hand that already satisfies the entry (recorded in
    /// `declared.json`, nothing else written).
    Adopt,
    /// Renew a certificate that is due: a fresh key, the entry's names and validity.
    Renew,
    /// Re-issue a certificate whose SANs, key type or validity differ from the entry.
    #[serde(rename = "re-issue")]
    Reissue,
    /// Re-issue with a fresh key a certificate whose installed certificate or key is missing or
    /// not the recorded one.
    Repair,
    /// Rewrite a layout's `ca.pem` with the trust bundle, nothing else.
    RewriteBundle,
    /// Rewrite one file with its own contents, to put its mode or owner right.
    FixFile,
    /// Create a declared docker context.
    CreateContext,
    /// Update a declared docker context (address, `meta.json` or copies).
    UpdateContext,
    /// Merge the TLS settings into a server's `daemon.json`.
    MergeDaemonConfig,
    /// Revoke the certificate of a leaf apply made that the file no longer declares (and, with
    /// `removed = "revoke-and-remove"`, remove its files).
    Revoke,
}

impl ActionKind {
    /// The kind's name, as in JSON: `create-ca`, `issue`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::CreateCa => "create-ca",
            ActionKind::Issue => "issue",
            ActionKind::Adopt => "adopt",
            ActionKind::Renew => "renew",
            ActionKind::Reissue => "re-issue",
            ActionKind::Repair => "repair",
            ActionKind::RewriteBundle => "rewrite-bundle",
            ActionKind::FixFile => "fix-file",
            ActionKind::CreateContext => "create-context",
            ActionKind::UpdateContext => "update-context",
            ActionKind::MergeDaemonConfig => "merge-daemon-config",
            ActionKind::Revoke => "revoke",
        }
    }

    /// Whether the action signs a new leaf certificate (with a fresh key) for its target.
    pub fn signs_leaf(self) -> bool {
        matches!(
            self,
            ActionKind::Issue | ActionKind::Renew | ActionKind::Reissue | ActionKind::Repair
        )
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an action is about.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// The CA of the state.
    Ca,
    /// A `[[server]]` entry.
    Server,
    /// A `[[client]]` entry.
    Client,
}

impl TargetKind {
    /// The target kind of a leaf of `usage`.
    pub fn of(usage: Usage) -> TargetKind {
        match usage {
            Usage::Server => TargetKind::Server,
            Usage::Client => TargetKind::Client,
        }
    }

    /// The leaf usage, `None` for the CA.
    pub fn usage(self) -> Option<Usage> {
        match self {
            TargetKind::Ca => None,
            TargetKind::Server => Some(Usage::Server),
            TargetKind::Client => Some(Usage::Client),
        }
    }

    /// `ca`, `server` or `client`.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Ca => "ca",
            TargetKind::Server => "server",
            TargetKind::Client => "client",
        }
    }
}

/// The entry (or the CA) an action is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Target {
    /// CA, server or client.
    pub kind: TargetKind,
    /// The common name; for the CA the name the file asks for, empty when a unique name is
    /// chosen at creation.
    pub name: String,
    /// The install directory; for the CA the state directory.
    pub install: PathBuf,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, self.name.is_empty()) {
            (TargetKind::Ca, true) => {
                write!(f, "ca in {}", escape(&self.install.to_string_lossy()))
            }
            _ => write!(
                f,
                "{} \"{}\" in {}",
                self.kind.as_str(),
                escape(&self.name),
                escape(&self.install.to_string_lossy())
            ),
        }
    }
}

/// Why an action is planned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Reason {
    /// The state has no CA.
    NoCa,
    /// No active certificate of this kind and common name is installed in the directory.
    NotIssued,
    /// An active certificate issued by hand satisfies the entry.
    Adoptable {
        /// Its serial.
        serial: String,
    },
    /// No certificate is installed there, but the directory holds layout files dockpki did not
    /// write (no certificate it recorded was installed there): issuing replaces them, which
    /// [`apply`] does only with [`Foreign::ReplaceKeepingBackup`].
    ForeignFiles {
        /// Their names in the install directory, e.g. `server-cert.pem`.
        files: Vec<String>,
    },
    /// The certificate is due by the entry's `renew_before`.
    Due {
        /// Its serial.
        serial: String,
        /// When it expires.
        #[serde(with = "time::serde::rfc3339")]
        not_after: OffsetDateTime,
    },
    /// The certificate differs from the entry.
    Changed {
        /// Its serial.
        serial: String,
        /// What differs, in the order SANs, key type, validity.
        changes: Vec<SpecChange>,
    },
    /// The installed certificate or key is not the recorded one.
    Files {
        /// Its serial.
        serial: String,
        /// What is wrong.
        problem: FileProblem,
    },
    /// The layout's `ca.pem` is missing or does not hold every CA of the trust bundle.
    BundleStale {
        /// The file.
        path: PathBuf,
    },
    /// A file's mode is not the one dockpki writes it with.
    WrongMode {
        /// The file.
        path: PathBuf,
        /// Its mode.
        mode: u32,
        /// The mode it should have.
        want: u32,
    },
    /// A file belongs to another user than the one it is written for.
    WrongOwner {
        /// The file.
        path: PathBuf,
        /// Its owner.
        uid: u32,
        /// The owner it should have.
        want: u32,
    },
    /// The declared context does not exist (or dockpki did not make it).
    ContextMissing {
        /// The context's name.
        context: String,
    },
    /// The declared context exists but differs.
    ContextDiffers {
        /// The context's name.
        context: String,
        /// What differs.
        drift: ContextDrift,
    },
    /// Merging the server's settings would change the file.
    DaemonConfig {
        /// The `daemon.json`.
        file: PathBuf,
        /// The keys added or replaced, in the order of the settings.
        keys: Vec<String>,
        /// `unix://` addresses of the file's `hosts` that the merged list leaves out (local
        /// tools may use them).
        dropped_sockets: Vec<String>,
    },
    /// The entry is no longer declared.
    NoLongerDeclared {
        /// The serials of its active certificates (empty: none is active any more, the entry
        /// is only forgotten).
        serials: Vec<String>,
        /// Whether its files are removed too (`removed = "revoke-and-remove"`).
        remove_files: bool,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = |p: &PathBuf| escape(&p.to_string_lossy()).into_owned();
        match self {
            Reason::NoCa => f.write_str("the state has no CA"),
            Reason::NotIssued => f.write_str("declared, no active certificate installed there"),
            Reason::ForeignFiles { files } => write!(
                f,
                "declared, no active certificate installed there; replaces {}, which dockpki did not write",
                files
                    .iter()
                    .map(|n| escape(n).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Reason::Adoptable { serial } => write!(
                f,
                "certificate {serial} (issued by hand) satisfies the entry; recorded as managed"
            ),
            Reason::Due { serial, not_after } => write!(
                f,
                "certificate {serial} is due for renewal (expires {})",
                dockpki::format_time(*not_after)
            ),
            Reason::Changed { serial, changes } => {
                let parts: Vec<String> = changes.iter().map(ToString::to_string).collect();
                write!(f, "certificate {serial} differs: {}", parts.join("; "))
            }
            Reason::Files { serial, problem } => {
                write!(
                    f,
                    "certificate {serial}: {problem}; re-issued with a fresh key"
                )
            }
            Reason::BundleStale { path: p } => {
                write!(f, "{} does not hold the trust bundle; rewritten", path(p))
            }
            Reason::WrongMode {
                path: p,
                mode,
                want,
            } => {
                write!(f, "{} has mode {mode:04o}, not {want:04o}", path(p))
            }
            Reason::WrongOwner { path: p, uid, want } => {
                write!(f, "{} is owned by uid {uid}, not {want}", path(p))
            }
            Reason::ContextMissing { context } => {
                write!(f, "docker context \"{}\" does not exist", escape(context))
            }
            Reason::ContextDiffers { context, drift } => {
                write!(f, "docker context \"{}\": {drift}", escape(context))
            }
            Reason::DaemonConfig {
                file,
                keys,
                dropped_sockets,
            } => {
                let list = |v: &[String]| {
                    v.iter()
                        .map(|k| escape(k).into_owned())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                write!(f, "{} would change ({})", path(file), list(keys))?;
                if !dropped_sockets.is_empty() {
                    write!(f, "; it no longer listens on {}", list(dropped_sockets))?;
                }
                Ok(())
            }
            Reason::NoLongerDeclared {
                serials,
                remove_files,
            } => {
                match serials.len() {
                    0 => f.write_str("no longer declared, no active certificate left")?,
                    _ => write!(f, "no longer declared: certificate {}", serials.join(", "))?,
                }
                if *remove_files {
                    f.write_str(
                        "; its files are removed, with any docker context dockpki made from them",
                    )
                } else {
                    f.write_str("; its files are left in place")
                }
            }
        }
    }
}

/// One way a certificate differs from its entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "field", rename_all = "kebab-case")]
pub enum SpecChange {
    /// The SANs (compared as sets).
    Sans {
        /// The certificate's, as recorded.
        recorded: Vec<String>,
        /// The entry's.
        declared: Vec<String>,
    },
    /// The key's algorithm.
    KeyType {
        /// The certificate's (`None`: a key dockpki does not know).
        recorded: Option<KeyType>,
        /// The entry's.
        declared: KeyType,
    },
    /// The validity (lifetime).
    Validity {
        /// The certificate's (`None`: not a whole number of hours).
        recorded: Option<Lifetime>,
        /// The entry's.
        declared: Lifetime,
    },
}

impl fmt::Display for SpecChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let escaped = |v: &[String]| {
            v.iter()
                .map(|s| escape(s).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            SpecChange::Sans { recorded, declared } => {
                write!(f, "SANs {} -> {}", escaped(recorded), escaped(declared))
            }
            SpecChange::KeyType { recorded, declared } => write!(
                f,
                "key type {} -> {declared}",
                recorded.map_or("unknown".to_string(), |k| k.to_string())
            ),
            SpecChange::Validity { recorded, declared } => write!(
                f,
                "validity {} -> {declared}",
                recorded.map_or("unknown".to_string(), |l| l.to_string())
            ),
        }
    }
}

/// What is wrong with a layout's certificate or key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileProblem {
    /// The certificate file is missing.
    CertMissing,
    /// The certificate file holds another certificate (or is unreadable).
    CertReplaced,
    /// The key file is missing.
    KeyMissing,
    /// The key file is not the certificate's key (or not a key).
    KeyMismatch,
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileProblem::CertMissing => "the certificate file is missing",
            FileProblem::CertReplaced => "the certificate file holds another certificate",
            FileProblem::KeyMissing => "the key file is missing",
            FileProblem::KeyMismatch => "the key file does not hold the certificate's key",
        })
    }
}

/// How a declared docker context differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "what", rename_all = "kebab-case")]
pub enum ContextDrift {
    /// The address differs from the one recorded.
    Host {
        /// The recorded address.
        recorded: String,
        /// The declared one.
        declared: String,
    },
    /// Its `meta.json` is not what dockpki writes for it.
    Meta,
    /// Its TLS copies differ from the client layout.
    Copies,
}

impl fmt::Display for ContextDrift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContextDrift::Host { recorded, declared } => {
                write!(f, "address {} -> {}", escape(recorded), escape(declared))
            }
            ContextDrift::Meta => f.write_str("its meta.json differs"),
            ContextDrift::Copies => f.write_str("its TLS copies differ from the client layout"),
        }
    }
}

/// What a plan cannot do, or the operator should know.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "note", rename_all = "kebab-case")]
pub enum Note {
    /// The file's `[ca]` asks for another key type than the signing CA's: only a rotation
    /// makes a CA with another key ([`Note::command`]: `ca rotate begin --key-type T`), never
    /// apply. Its differences are [`CaDifference::KeyType`].
    CaNeedsRotation {
        /// What differs.
        differences: Vec<CaDifference>,
    },
    /// The file's `[ca]` gives another name or other name constraints than the signing CA
    /// has. Neither can change for an existing CA, and a rotation does not change them either
    /// (the new CA keeps the constraints and gets a fresh unique name), so apply goes on with
    /// the state's CA; the note only says so. Its differences are [`CaDifference::Name`] and
    /// [`CaDifference::NameConstraints`].
    CaDiffers {
        /// What differs.
        differences: Vec<CaDifference>,
    },
    /// A CA rotation is in progress: leaves are signed by the new CA, and the file's `[ca]` is
    /// compared with it.
    RotationInProgress,
    /// A declared leaf cannot be issued: it would outlive the CA.
    LeafOutlivesCa {
        /// The entry.
        target: Target,
        /// Its validity (a plan computed a moment later says the same, so that apply can
        /// compare it with the plan shown).
        validity: Lifetime,
        /// When the CA expires.
        #[serde(with = "time::serde::rfc3339")]
        ca_not_after: OffsetDateTime,
    },
    /// A server no longer declared has its files removed (`removed = "revoke-and-remove"`): a
    /// dockerd whose `daemon.json` still names them will not start until that file is changed,
    /// which apply never does for a server it no longer knows.
    RemovedServerFiles {
        /// The server's entry.
        target: Target,
    },
}

impl Note {
    /// The dockpki command that resolves the note, as arguments after the program and its
    /// global options (the caller prefixes its own invocation), e.g. `["ca", "rotate",
    /// "begin", "--key-type", "rsa-3072"]`.
    pub fn command(&self) -> Option<Vec<String>> {
        let mut command: Vec<String> = ["ca", "rotate", "begin"].map(String::from).to_vec();
        match self {
            Note::CaNeedsRotation { differences } => {
                for d in differences {
                    if let CaDifference::KeyType { config, .. } = d {
                        command.extend(["--key-type".to_string(), config.to_string()]);
                    }
                }
                Some(command)
            }
            Note::LeafOutlivesCa { .. } => Some(command),
            Note::CaDiffers { .. } | Note::RotationInProgress | Note::RemovedServerFiles { .. } => {
                None
            }
        }
    }

    /// Whether the note is a difference between the file and the state that apply does not
    /// resolve but the operator can ([`Note::command`]), so the plan is not clean.
    pub fn is_drift(&self) -> bool {
        self.command().is_some()
    }
}

impl fmt::Display for Note {
    /// One line; a note with a [`Note::command`] ends with `run ca rotate begin ...` (the
    /// caller may print the whole command, with its invocation, instead).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let differences = |d: &[CaDifference]| {
            d.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        };
        match self {
            Note::CaNeedsRotation { differences: d } => write!(
                f,
                "the config's [ca] needs a new CA ({}); apply never rotates: run {}",
                differences(d),
                self.command().unwrap_or_default().join(" ")
            ),
            Note::CaDiffers { differences: d } => write!(
                f,
                "the config's [ca] differs from the state's CA ({}); a CA's name and name constraints never change, not even by a rotation, so the state's CA is kept",
                differences(d)
            ),
            Note::RotationInProgress => f.write_str(
                "a CA rotation is in progress: leaves are signed by the new CA",
            ),
            Note::LeafOutlivesCa {
                target,
                validity,
                ca_not_after,
            } => write!(
                f,
                "{target} cannot be issued: valid {validity} from now, it would expire after its CA ({}); run ca rotate begin",
                dockpki::format_time(*ca_not_after)
            ),
            Note::RemovedServerFiles { target } => write!(
                f,
                "{target} has its files removed: a dockerd whose daemon.json names them (tlscacert, tlscert, tlskey) will not start until that daemon.json no longer does; apply does not edit it, change it by hand"
            ),
        }
    }
}

/// One way the state's CA differs from the file's `[ca]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "field", rename_all = "kebab-case")]
pub enum CaDifference {
    /// The key's algorithm.
    KeyType {
        /// The state's CA's (`None`: one dockpki does not know).
        state: Option<KeyType>,
        /// The file's.
        config: KeyType,
    },
    /// The subject common name (only when the file gives one).
    Name {
        /// The state's CA's.
        state: Option<String>,
        /// The file's.
        config: String,
    },
    /// The name constraints (`permit_dns`, `permit_ip`).
    NameConstraints,
}

impl fmt::Display for CaDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaDifference::KeyType { state, config } => write!(
                f,
                "key type {} in the state, {config} in the config",
                state.map_or("unknown".to_string(), |k| k.to_string())
            ),
            CaDifference::Name { state, config } => write!(
                f,
                "name \"{}\" in the state, \"{}\" in the config",
                escape(state.as_deref().unwrap_or("")),
                escape(config)
            ),
            CaDifference::NameConstraints => {
                f.write_str("the name constraints differ from the config's permit_dns/permit_ip")
            }
        }
    }
}

/// What [`apply`] did.
#[derive(Debug, Default, Serialize)]
pub struct Applied {
    /// The actions done (the plan's, in its order); empty when there was nothing to do.
    pub actions: Vec<Action>,
    /// Notes of the plan, as [`Plan::notes`].
    pub notes: Vec<Note>,
    /// The files written, with their backups.
    pub written: Vec<Written>,
    /// The files removed for leaves no longer declared (`revoke-and-remove`).
    pub removed: Vec<PathBuf>,
    /// The daemon layout directories whose files or `daemon.json` changed: dockerd reads its
    /// certificates and configuration only at start, so each needs a restart.
    pub restart_daemons: Vec<PathBuf>,
    /// The docker contexts written: those declared and created or updated, and those fed with
    /// a rewritten client layout.
    pub contexts_fed: Vec<ContextFed>,
    /// The layout directories left out, with why: one that cannot be written or read safely
    /// (swapped for a link, made group-writable, a file replaced since the plan) is skipped
    /// and the rest applied, as a renewal does; the next plan lists its actions again.
    pub skipped: Vec<crate::fs::Skipped>,
}

/// What [`apply`] would do to make the state and the files match `desired`, at `now`. Reads
/// only: the state, the inventory, `declared.json`, the layouts, the contexts and the
/// `daemon.json` files; no CA key is loaded (no passphrase asked for).
///
/// # Errors
/// When the CA certificate, the inventory or `declared.json` cannot be read or is damaged, or
/// a `daemon.json` cannot be read or merged (not JSON).
///
/// # Examples
/// ```
/// use dockpki::OffsetDateTime;
/// use dockpki_provision::config::{self, NoUsers};
/// use dockpki_provision::ops::converge::{self, ActionKind};
/// use dockpki_provision::store::{Create, Settings, State};
/// # let root = tempfile::tempdir()?;
/// let state = State::open(root.path().join("state"), Create::IfMissing, Settings::default())?;
/// let text = format!(
///     "[ca]\n[[client]]\nname = \"ci\"\ninstall = \"{}\"\n",
///     root.path().join("ci").display()
/// );
/// let desired = config::parse("dockpki.toml".as_ref(), &text, &NoUsers)?;
/// let now = OffsetDateTime::now_utc();
/// let plan = converge::plan(&state, &desired, now)?;
/// let kinds: Vec<ActionKind> = plan.actions.iter().map(|a| a.kind).collect();
/// assert_eq!(kinds, [ActionKind::CreateCa, ActionKind::Issue]);
/// converge::apply(&state, &desired, Some(&plan), now, converge::Foreign::Refuse)?;
/// assert!(converge::plan(&state, &desired, now)?.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn plan(state: &State, desired: &Desired, now: OffsetDateTime) -> Result<Plan> {
    plan::plan(state, desired, now)
}

/// Makes the state and the files match `desired` at `now`: computes the plan again (under the
/// state's lock, which `state` holds) and, when `shown` is given, refuses if it differs from the
/// plan the operator saw; then signs every certificate, and writes every file, the inventory and
/// `declared.json` in one journaled update ([`State::commit`]); then each `daemon.json` to
/// merge, through its own journal next to it (the state's journal is replayed only into the
/// state and the directories its inventory records; a crash in between leaves the merge, which
/// the next plan lists again). A plan with nothing to do writes nothing. With `removed = "revoke-and-remove"`, the files of a revoked leaf are
/// removed after the update (see docs/config.md: a crash in between leaves the files of a
/// certificate that is already revoked, which harm nothing).
///
/// Layout files dockpki did not write are replaced only with [`Foreign::ReplaceKeepingBackup`];
/// with [`Foreign::Refuse`] a plan that would replace any ([`Plan::foreign`]) is refused whole.
///
/// # Errors
/// As [`plan`]; when the state changed since `shown` was computed; when the plan replaces
/// files dockpki did not write and `foreign` is [`Foreign::Refuse`]; when the CA cannot be
/// loaded (an encrypted key without its passphrase), a certificate cannot be signed, a layout
/// directory holds the other kind of layout, or the update cannot be written (nothing is
/// written then).
pub fn apply(
    state: &State,
    desired: &Desired,
    shown: Option<&Plan>,
    now: OffsetDateTime,
    foreign: Foreign,
) -> Result<Applied> {
    apply::apply(state, desired, shown, now, foreign)
}

/// [`plan`] for a state directory `state_dir` that does not exist yet (or holds no CA): the plan
/// against an empty state, computed in memory (create the CA, issue every leaf, its contexts,
/// the `daemon.json` merges), with nothing created anywhere. `owners` decides who owns users'
/// files, as [`Settings::owners`](crate::store::Settings::owners) of the state apply will open.
///
/// # Errors
/// When a layout or a `daemon.json` cannot be read, or a `daemon.json` cannot be merged (not
/// JSON).
///
/// # Examples
/// ```
/// use dockpki::OffsetDateTime;
/// use dockpki_provision::config::{self, NoUsers};
/// use dockpki_provision::fs::OwnerPolicy;
/// use dockpki_provision::ops::converge::{self, ActionKind};
/// # let root = tempfile::tempdir()?;
/// let text = format!("[ca]\n[[client]]\nname = \"ci\"\ninstall = \"{}\"\n", root.path().join("ci").display());
/// let desired = config::parse("dockpki.toml".as_ref(), &text, &NoUsers)?;
/// let state_dir = root.path().join("state");
/// let plan = converge::plan_new(&state_dir, &OwnerPolicy::RunningUser, &desired, OffsetDateTime::now_utc())?;
/// let kinds: Vec<ActionKind> = plan.actions.iter().map(|a| a.kind).collect();
/// assert_eq!(kinds, [ActionKind::CreateCa, ActionKind::Issue]);
/// assert!(!state_dir.exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn plan_new(
    state_dir: &std::path::Path,
    owners: &crate::fs::OwnerPolicy,
    desired: &Desired,
    now: OffsetDateTime,
) -> Result<Plan> {
    plan::plan_new(state_dir, owners, desired, now)
}
