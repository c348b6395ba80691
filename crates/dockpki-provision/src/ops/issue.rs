//! Issuing one certificate from the state's CA into one layout.

use dockpki::{CertInfo, ClientRequest, KeyType, OffsetDateTime, ServerRequest, Usage};

use crate::docker::context::ContextFed;
use crate::error::Result;
use crate::fs::{Existing, WritePlan, Written};
use crate::layout::Layout;
use crate::store::inventory::Record;
use crate::store::State;

/// What to sign: a server (daemon) or a client certificate.
#[derive(Clone, Debug)]
pub enum LeafRequest {
    /// A daemon's certificate (serverAuth), installed as a daemon layout.
    Server(ServerRequest),
    /// A client certificate (clientAuth), installed as a client layout.
    Client(ClientRequest),
}

impl LeafRequest {
    /// The kind of certificate this asks for.
    pub fn usage(&self) -> Usage {
        match self {
            LeafRequest::Server(_) => Usage::Server,
            LeafRequest::Client(_) => Usage::Client,
        }
    }
}

/// A request to issue one certificate into a layout directory.
#[derive(Clone, Debug)]
pub struct IssueRequest {
    /// What to sign.
    pub leaf: LeafRequest,
    /// The type of the new key.
    pub key_type: KeyType,
    /// The directory to install into; its kind follows from [`LeafRequest::usage`].
    pub dir: std::path::PathBuf,
    /// Whether existing files there may be replaced (kept as timestamped backups).
    pub existing: Existing,
}

/// What [`issue`] did.
#[derive(Debug)]
pub struct Issued {
    /// The layout the certificate was installed in.
    pub layout: Layout,
    /// What the new certificate says (its key stays in the layout only).
    pub certificate: CertInfo,
    /// The files written, with their backups.
    pub written: Vec<Written>,
    /// The docker contexts dockpki made that copy the layout, whose copies were rewritten with
    /// it.
    pub contexts_fed: Vec<ContextFed>,
}

impl Issued {
    /// Whether a daemon must be restarted to serve the new certificate: dockerd reads its
    /// certificates once, at start.
    pub fn needs_daemon_restart(&self) -> bool {
        self.layout.usage == Usage::Server
    }
}

/// Issues a certificate from the state's signing CA (the new CA during a rotation) with a fresh
/// key, installs it with the trust bundle in `request.dir` (owned as the state's
/// [`OwnerPolicy`](crate::fs::OwnerPolicy) says), and records it in the inventory, in one
/// journaled update.
///
/// # Errors
/// When the CA cannot be loaded (missing, or encrypted without a passphrase), the request is
/// refused by the CA (name constraints, a lifetime beyond the CA's), or the files cannot be
/// written (an existing file without [`Existing::ReplaceKeepingBackup`], an untrusted
/// directory), or the directory holds only the other kind of layout
/// ([`Layout::refuse_other_kind`], whatever `existing` allows); nothing is written then.
///
/// # Examples
/// ```
/// use dockpki::{ClientRequest, KeyType, OffsetDateTime};
/// use dockpki_provision::fs::Existing;
/// use dockpki_provision::ops::{issue, IssueRequest, LeafRequest};
/// use dockpki_provision::store::{Create, Settings, State};
/// # let root = tempfile::tempdir()?;
/// let state = State::open(root.path().join("state"), Create::IfMissing, Settings::default())?;
/// # let now = OffsetDateTime::now_utc();
/// # let ca = dockpki::CertificateAuthority::create(&dockpki::CaOptions::new(now)?, now)?;
/// # let mut plan = dockpki_provision::fs::WritePlan::new(Existing::Refuse);
/// # state.plan_ca(&mut plan, &ca, dockpki_provision::store::KeyProtection::Plain)?;
/// # state.commit(state.feed_contexts(plan)?)?;
/// let issued = issue(
///     &state,
///     &IssueRequest {
///         leaf: LeafRequest::Client(ClientRequest {
///             common_name: "alice".parse()?,
///             lifetime: "90d".parse()?,
///         }),
///         key_type: KeyType::EcdsaP256,
///         dir: root.path().join("alice/.docker"),
///         existing: Existing::Refuse,
///     },
///     OffsetDateTime::now_utc(),
/// )?;
/// assert!(root.path().join("alice/.docker/key.pem").exists());
/// assert!(!issued.needs_daemon_restart());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn issue(state: &State, request: &IssueRequest, now: OffsetDateTime) -> Result<Issued> {
    let layout = Layout::for_usage(request.leaf.usage(), request.dir.clone());
    // Before anything else, whatever `existing` allows: consent to replace files is not
    // consent to put a server key into a client's directory (or the reverse).
    layout.refuse_other_kind()?;
    let ca = state.load_ca()?;
    let key = crate::report::generate_key(state.settings().report.as_ref(), request.key_type)?;
    let issued = match &request.leaf {
        LeafRequest::Server(r) => ca.issue_server(r, key, now)?,
        LeafRequest::Client(r) => ca.issue_client(r, key, now)?,
    };
    let owner = state.settings().owners.owner_for(&layout.dir);
    let mut plan = WritePlan::new(request.existing);
    layout.plan(&mut plan, &state.trust_bundle_pem(&ca)?, &issued, owner);
    // Recorded without reading the whole inventory: issuing into a state of thousands of
    // certificates costs what issuing into an empty one does (docs/performance.md).
    state.plan_added_record(
        &mut plan,
        Record::new(
            &issued.info,
            issued.usage,
            &ca.info().sha256_fingerprint,
            vec![layout.dir.clone()],
        ),
    )?;
    // Last: the contexts copy the layout as planned.
    let plan = state.feed_contexts(plan)?;
    let contexts_fed = plan.contexts().to_vec();
    let written = state.commit(plan)?;
    Ok(Issued {
        layout,
        certificate: issued.info.clone(),
        written,
        contexts_fed,
    })
}
