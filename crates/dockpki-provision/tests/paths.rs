//! Paths an embedder passes in. The command line makes every path absolute and refuses `..`
//! before it calls the engine, but the engine records paths (the inventory, its journals) that
//! later processes act on from another working directory, and its journal's replay refuses
//! anything but a plain absolute path. So the engine refuses such paths itself, before
//! anything is made, staged or recorded: a library must not rely on its caller for that.

use std::path::{Path, PathBuf};

use dockpki::{CaOptions, CertificateAuthority, ClientRequest, KeyType, OffsetDateTime};
use dockpki_provision::fs::{Existing, WritePlan};
use dockpki_provision::ops::context::{create, ContextCreateRequest};
use dockpki_provision::ops::{crl, issue, CrlRequest, IssueRequest, LeafRequest};
use dockpki_provision::store::{Create, KeyProtection, Settings, State};

/// A state with a CA in `root/state`.
fn state(root: &Path) -> State {
    let state = State::open(root.join("state"), Create::IfMissing, Settings::default()).unwrap();
    let now = OffsetDateTime::now_utc();
    let ca = CertificateAuthority::create(&CaOptions::new(now).unwrap(), now).unwrap();
    let mut plan = WritePlan::new(Existing::Refuse);
    state.plan_ca(&mut plan, &ca, KeyProtection::Plain).unwrap();
    state.commit(state.feed_contexts(plan).unwrap()).unwrap();
    state
}

fn client_request(dir: PathBuf) -> IssueRequest {
    IssueRequest {
        leaf: LeafRequest::Client(ClientRequest {
            common_name: "alice".parse().unwrap(),
            lifetime: "90d".parse().unwrap(),
        }),
        key_type: KeyType::EcdsaP256,
        dir,
        existing: Existing::Refuse,
    }
}

#[test]
fn a_state_directory_given_relative_or_with_dotdot_is_refused_and_nothing_is_made() {
    let root = tempfile::tempdir().unwrap();
    let e = State::open(
        PathBuf::from("relative/state"),
        Create::No,
        Settings::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("is not absolute"), "{e}");
    let e = State::open(
        root.path().join("a/../state"),
        Create::IfMissing,
        Settings::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("contains '..'"), "{e}");
    assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
}

#[test]
fn issuing_into_a_directory_with_dotdot_is_refused_and_nothing_is_written_or_recorded() {
    let root = tempfile::tempdir().unwrap();
    let state = state(root.path());
    let request = client_request(root.path().join("x/../alice"));
    let e = issue(&state, &request, OffsetDateTime::now_utc()).unwrap_err();
    assert!(e.to_string().contains("contains '..'"), "{e}");
    assert!(!root.path().join("alice").exists());
    assert!(!root.path().join("x").exists());
    assert!(state.load_inventory().unwrap().certificates.is_empty());
}

#[test]
fn a_context_over_a_relative_or_dotdot_client_layout_is_refused_and_not_recorded() {
    let root = tempfile::tempdir().unwrap();
    let state = state(root.path());
    let client = root.path().join("client");
    issue(
        &state,
        &client_request(client.clone()),
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    for (client_dir, why) in [
        (PathBuf::from("client"), "is not absolute"),
        (client.join("../client"), "contains '..'"),
    ] {
        let e = create(
            &state,
            &ContextCreateRequest {
                name: "remote-a".into(),
                host: "tcp://docker.example.com:2376".parse().unwrap(),
                docker_config: root.path().join("config"),
                client_dir: client_dir.clone(),
                description: None,
                existing: Existing::Refuse,
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains(why), "{}: {e}", client_dir.display());
    }
    assert!(state.load_inventory().unwrap().contexts.is_empty());
    assert!(!root.path().join("config").exists());
}

#[test]
fn a_crl_file_given_with_dotdot_is_refused_and_not_written() {
    let root = tempfile::tempdir().unwrap();
    let state = state(root.path());
    let e = crl(
        &state,
        &CrlRequest {
            out: Some(root.path().join("x/../crl.pem")),
            existing: Existing::Refuse,
        },
        OffsetDateTime::now_utc(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("contains '..'"), "{e}");
    assert!(!root.path().join("crl.pem").exists());
}
