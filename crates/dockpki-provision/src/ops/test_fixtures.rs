//! A state with a CA, one daemon layout and two client layouts, for the operations' tests.

use std::path::{Path, PathBuf};

use dockpki::{
    CaOptions, CertificateAuthority, CertificateDer, ClientRequest, KeyType, OffsetDateTime,
    SanList, ServerRequest,
};

use crate::fs::{Existing, WritePlan};
use crate::layout::Layout;
use crate::ops::{issue, IssueRequest, LeafRequest};
use crate::store::{Create, KeyProtection, Settings, State};

/// A bootstrapped state in a temporary directory.
pub struct Fixture {
    /// Holds everything; removed on drop.
    pub _root: tempfile::TempDir,
    /// The state, opened (and locked).
    pub state: State,
    /// A daemon layout with a one-year server certificate for `localhost`.
    pub daemon: PathBuf,
    /// A client layout with alice's 90-day certificate.
    pub alice: PathBuf,
    /// A client layout with bob's 400-day certificate.
    pub bob: PathBuf,
}

impl Fixture {
    /// Everything issued at `now` from a new 10-year CA.
    pub fn new(now: OffsetDateTime) -> Fixture {
        let root = tempfile::tempdir().unwrap();
        let state = open(root.path());
        let ca = CertificateAuthority::create(&CaOptions::new(now).unwrap(), now).unwrap();
        let mut plan = WritePlan::new(Existing::Refuse);
        state.plan_ca(&mut plan, &ca, KeyProtection::Plain).unwrap();
        state.commit(state.feed_contexts(plan).unwrap()).unwrap();
        let (daemon, alice, bob) = (
            root.path().join("daemon"),
            root.path().join("alice"),
            root.path().join("bob"),
        );
        let server = LeafRequest::Server(ServerRequest {
            sans: SanList::parse(["localhost"]).unwrap(),
            common_name: None,
            lifetime: "365d".parse().unwrap(),
        });
        issue_into(&state, server, &daemon, now);
        for (name, dir, lifetime) in [("alice", &alice, "90d"), ("bob", &bob, "400d")] {
            let client = LeafRequest::Client(ClientRequest {
                common_name: name.parse().unwrap(),
                lifetime: lifetime.parse().unwrap(),
            });
            issue_into(&state, client, dir, now);
        }
        Fixture {
            _root: root,
            state,
            daemon,
            alice,
            bob,
        }
    }

    /// The three layouts.
    pub fn layouts(&self) -> [Layout; 3] {
        [
            Layout::daemon(self.daemon.clone()),
            Layout::client(self.alice.clone()),
            Layout::client(self.bob.clone()),
        ]
    }
}

/// Opens (creating) the state directory in `root`, with the default settings.
pub fn open(root: &Path) -> State {
    State::open(root.join("state"), Create::IfMissing, Settings::default()).unwrap()
}

fn issue_into(state: &State, leaf: LeafRequest, dir: &Path, now: OffsetDateTime) {
    let request = IssueRequest {
        leaf,
        key_type: KeyType::EcdsaP256,
        dir: dir.to_path_buf(),
        existing: Existing::Refuse,
    };
    issue(state, &request, now).unwrap();
}

/// Every certificate in the PEM file at `path`, as DER.
pub fn certs(path: &Path) -> Vec<CertificateDer<'static>> {
    dockpki::certs_from_pem(&std::fs::read(path).unwrap()).unwrap()
}

/// Whether the certificate installed in `layout` chains to one of `bundle` for its usage at
/// `at`.
pub fn chains_to(layout: &Layout, bundle: &[CertificateDer<'_>], at: OffsetDateTime) -> bool {
    let leaf = certs(&layout.cert_path()).remove(0);
    dockpki::verify_leaf(&leaf, bundle, layout.usage, None, at).is_ok()
}

/// The DER public key of the key installed in `layout`.
pub fn installed_spki(layout: &Layout) -> Vec<u8> {
    let pem = std::fs::read(layout.key_path()).unwrap();
    dockpki::PrivateKey::from_pem(&pem)
        .unwrap()
        .public_key_spki()
}
