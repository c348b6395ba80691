//! The round trips of plan and apply: each plan's actions asserted exactly, the state and the
//! files after apply, and that an apply with nothing to do writes nothing at all.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use dockpki::{ClientRequest, KeyType, OffsetDateTime};
use time::Duration;

use super::*;
use crate::config::{self, Desired};
use crate::fs::{Existing, Owner};
use crate::ops::test_fixtures::{certs, chains_to, open};
use crate::ops::{issue, renew, IssueRequest, LeafRequest, RenewRequest, Selection};
use crate::store::inventory::Status;
use crate::store::reissue::KeyPolicy;

/// A state in a temporary directory, and where the config's paths point.
struct World {
    root: tempfile::TempDir,
    state: State,
    now: OffsetDateTime,
}

impl World {
    fn new() -> World {
        let root = tempfile::tempdir().unwrap();
        let state = open(root.path());
        World {
            root,
            state,
            now: OffsetDateTime::now_utc(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    /// `text` with `{root}` standing for the temporary directory, parsed.
    fn desired(&self, text: &str) -> Desired {
        let text = text.replace("{root}", &self.root.path().display().to_string());
        let me = Owner {
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
        };
        let users =
            move |name: &str| -> crate::Result<Option<Owner>> { Ok((name == "me").then_some(me)) };
        config::parse(Path::new("dockpki.toml"), &text, &users).unwrap()
    }

    fn plan(&self, desired: &Desired) -> Plan {
        plan(&self.state, desired, self.now).unwrap()
    }

    fn apply(&self, desired: &Desired) -> Applied {
        let shown = self.plan(desired);
        apply(
            &self.state,
            desired,
            Some(&shown),
            self.now,
            Foreign::Refuse,
        )
        .unwrap()
    }

    /// Every file and directory under the root with its inode, mode and modification time.
    fn snapshot(&self) -> BTreeMap<PathBuf, (u64, u32, i64, i64)> {
        let mut out = BTreeMap::new();
        let mut todo = vec![self.root.path().to_path_buf()];
        while let Some(dir) = todo.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let entry = entry.unwrap();
                let m = entry.metadata().unwrap();
                if m.is_dir() {
                    todo.push(entry.path());
                }
                out.insert(entry.path(), (m.ino(), m.mode(), m.mtime(), m.mtime_nsec()));
            }
        }
        out
    }
}

/// The plan as (kind, target kind, name) triples.
fn shape(plan: &Plan) -> Vec<(ActionKind, TargetKind, String)> {
    plan.actions
        .iter()
        .map(|a| (a.kind, a.target.kind, a.target.name.clone()))
        .collect()
}

fn triple(kind: ActionKind, target: TargetKind, name: &str) -> (ActionKind, TargetKind, String) {
    (kind, target, name.to_string())
}

const BASE: &str = r#"
[ca]
name = "test CA"

[[server]]
name = "build-1"
sans = ["build-1.example", "10.0.0.5"]
install = "{root}/build-1/pki"
daemon_config = { file = "{root}/build-1/daemon.json" }

[[client]]
name = "ci"
install = "{root}/ci/.docker"
owner = "me"
context = { name = "build-1", host = "tcp://build-1.example:2376" }
"#;

/// The first apply into an empty state: the CA, both leaves, the context and daemon.json.
fn applied_base(w: &World) -> Desired {
    let desired = w.desired(BASE);
    w.apply(&desired);
    desired
}

fn active(w: &World) -> Vec<crate::store::inventory::Record> {
    w.state
        .load_inventory()
        .unwrap()
        .certificates
        .into_iter()
        .filter(|r| r.status == Status::Active)
        .collect()
}

fn bundle(w: &World) -> Vec<dockpki::CertificateDer<'static>> {
    certs(&w.state.ca_cert_path())
}

#[test]
fn an_empty_state_is_planned_in_order_applied_whole_and_a_second_apply_writes_nothing() {
    let w = World::new();
    let desired = w.desired(BASE);
    let plan = w.plan(&desired);
    use ActionKind::*;
    use TargetKind::*;
    assert_eq!(
        shape(&plan),
        [
            triple(CreateCa, Ca, "test CA"),
            triple(Issue, Server, "build-1"),
            triple(Issue, Client, "ci"),
            triple(CreateContext, Client, "ci"),
            triple(MergeDaemonConfig, Server, "build-1"),
        ]
    );
    assert_eq!(plan.actions[0].reason, Reason::NoCa);
    assert_eq!(plan.actions[1].reason, Reason::NotIssued);
    assert_eq!(
        plan.actions[3].reason,
        Reason::ContextMissing {
            context: "build-1".into()
        }
    );
    assert!(matches!(
        &plan.actions[4].reason,
        Reason::DaemonConfig { file, keys, dropped_sockets } if *file == w.path("build-1/daemon.json") && keys.contains(&"tlsverify".to_string()) && dropped_sockets.is_empty()
    ));
    assert_eq!(plan.health(), crate::health::Health::ChangesPending);
    for action in &plan.actions {
        let line = action.to_string();
        assert!(!line.contains('\n'), "{line}");
    }

    let applied = w.apply(&desired);
    assert_eq!(applied.actions, plan.actions);
    assert_eq!(applied.restart_daemons, [w.path("build-1/pki")]);
    assert_eq!(applied.contexts_fed.len(), 1);
    let server = Layout::daemon(w.path("build-1/pki"));
    let client = Layout::client(w.path("ci/.docker"));
    assert!(chains_to(&server, &bundle(&w), w.now));
    assert!(chains_to(&client, &bundle(&w), w.now));
    assert!(dc::is_present(&w.path("ci/.docker"), "build-1"));
    let daemon_json = std::fs::read_to_string(w.path("build-1/daemon.json")).unwrap();
    assert!(daemon_json.contains("server-cert.pem"), "{daemon_json}");
    let records = active(&w);
    assert_eq!(records.len(), 2);
    assert_eq!(
        w.state
            .cert_info(&w.state.ca_cert_path())
            .unwrap()
            .common_name
            .as_deref(),
        Some("test CA")
    );
    let declared = std::fs::read_to_string(w.state.dir().join(DECLARED_FILE)).unwrap();
    assert!(
        declared.contains("build-1") && declared.contains("\"ci\""),
        "{declared}"
    );

    let plan = w.plan(&desired);
    assert!(plan.is_empty(), "{plan:?}");
    assert_eq!(plan.health(), crate::health::Health::Good);
    let before = w.snapshot();
    let again = w.apply(&desired);
    assert!(again.actions.is_empty() && again.written.is_empty());
    assert_eq!(w.snapshot(), before, "a second apply wrote something");
}

use crate::docker::context as dc;
use crate::layout::Layout;

#[test]
fn adding_a_server_plans_exactly_one_issue() {
    let w = World::new();
    applied_base(&w);
    let text = format!(
        "{BASE}\n[[server]]\nname = \"build-2\"\nsans = [\"build-2.example\"]\ninstall = \"{{root}}/build-2/pki\"\n"
    );
    let desired = w.desired(&text);
    let plan = w.plan(&desired);
    assert_eq!(
        shape(&plan),
        [triple(ActionKind::Issue, TargetKind::Server, "build-2")]
    );
    let applied = w.apply(&desired);
    assert_eq!(applied.restart_daemons, [w.path("build-2/pki")]);
    assert!(w.plan(&desired).is_empty());
    assert_eq!(active(&w).len(), 3);
}

#[test]
fn changing_a_servers_sans_plans_exactly_one_reissue_naming_the_sans() {
    let w = World::new();
    applied_base(&w);
    let old = active(&w)
        .into_iter()
        .find(|r| r.common_name.as_deref() == Some("build-1"))
        .unwrap();
    let desired = w.desired(&BASE.replace("\"10.0.0.5\"", "\"10.0.0.6\""));
    let plan = w.plan(&desired);
    assert_eq!(
        shape(&plan),
        [triple(ActionKind::Reissue, TargetKind::Server, "build-1")]
    );
    assert_eq!(
        plan.actions[0].reason,
        Reason::Changed {
            serial: old.serial.clone(),
            changes: vec![SpecChange::Sans {
                recorded: vec!["build-1.example".into(), "10.0.0.5".into()],
                declared: vec!["build-1.example".into(), "10.0.0.6".into()],
            }],
        }
    );
    assert!(plan.actions[0].to_string().contains("10.0.0.6"));
    let applied = w.apply(&desired);
    assert_eq!(applied.restart_daemons, [w.path("build-1/pki")]);
    let info = dockpki::inspect(&certs(&w.path("build-1/pki/server-cert.pem"))[0]).unwrap();
    assert_eq!(info.san_strings(), ["build-1.example", "10.0.0.6"]);
    assert!(w.plan(&desired).is_empty());
    // The old certificate is superseded, not revoked.
    let inv = w.state.load_inventory().unwrap();
    let old_now = inv
        .certificates
        .iter()
        .find(|r| r.serial == old.serial)
        .unwrap();
    assert_eq!(old_now.status, Status::Superseded);
}

#[test]
fn changing_a_validity_or_a_key_type_plans_one_reissue_saying_which() {
    let w = World::new();
    applied_base(&w);
    let desired = w.desired(&BASE.replace("owner = \"me\"", "owner = \"me\"\nvalidity = \"30d\""));
    let plan = w.plan(&desired);
    assert_eq!(
        shape(&plan),
        [triple(ActionKind::Reissue, TargetKind::Client, "ci")]
    );
    assert!(matches!(
        &plan.actions[0].reason,
        Reason::Changed { changes, .. } if *changes == [SpecChange::Validity {
            recorded: Some("90d".parse().unwrap()),
            declared: "30d".parse().unwrap(),
        }]
    ));
    w.apply(&desired);
    assert!(w.plan(&desired).is_empty());

    let desired = w.desired(&BASE.replace(
        "owner = \"me\"",
        "owner = \"me\"\nvalidity = \"30d\"\nkey_type = \"ed25519\"",
    ));
    let plan = w.plan(&desired);
    assert_eq!(
        shape(&plan),
        [triple(ActionKind::Reissue, TargetKind::Client, "ci")]
    );
    assert!(matches!(
        &plan.actions[0].reason,
        Reason::Changed { changes, .. } if *changes == [SpecChange::KeyType {
            recorded: Some(KeyType::EcdsaP256),
            declared: KeyType::Ed25519,
        }]
    ));
    let applied = w.apply(&desired);
    // The context copies the new key in the same update.
    assert!(applied.contexts_fed.iter().any(|c| c.name == "build-1"));
    let copy = dc::tls_dir(&w.path("ci/.docker"), "build-1").join("key.pem");
    assert_eq!(
        std::fs::read(copy).unwrap(),
        std::fs::read(w.path("ci/.docker/key.pem")).unwrap()
    );
    assert!(w.plan(&desired).is_empty());
}

/// BASE with the client `ci` left out.
fn without_client(policy: &str) -> String {
    let cut = BASE.find("[[client]]").unwrap();
    format!("{policy}{}", &BASE[..cut])
}

#[test]
fn a_client_no_longer_declared_is_revoked_and_its_files_are_kept_by_default() {
    let w = World::new();
    applied_base(&w);
    let serial = active(&w)
        .into_iter()
        .find(|r| r.common_name.as_deref() == Some("ci"))
        .unwrap()
        .serial;
    let desired = w.desired(&without_client(""));
    let plan = w.plan(&desired);
    assert_eq!(
        shape(&plan),
        [triple(ActionKind::Revoke, TargetKind::Client, "ci")]
    );
    assert_eq!(
        plan.actions[0].reason,
        Reason::NoLongerDeclared {
            serials: vec![serial.clone()],
            remove_files: false
        }
    );
    let applied = w.apply(&desired);
    assert!(applied.removed.is_empty());
    assert!(w.path("ci/.docker/key.pem").exists());
    let inv = w.state.load_inventory().unwrap();
    let record = inv
        .certificates
        .iter()
        .find(|r| r.serial == serial)
        .unwrap();
    assert_eq!(record.status, Status::Revoked);
    assert!(w.plan(&desired).is_empty());
}

#[test]
fn with_revoke_and_remove_a_client_no_longer_declared_loses_its_files_its_context_and_its_record() {
    let w = World::new();
    applied_base(&w);
    let desired = w.desired(&without_client(
        "[policy]\nremoved = \"revoke-and-remove\"\n",
    ));
    let plan = w.plan(&desired);
    assert_eq!(
        shape(&plan),
        [triple(ActionKind::Revoke, TargetKind::Client, "ci")]
    );
    assert!(matches!(
        plan.actions[0].reason,
        Reason::NoLongerDeclared {
            remove_files: true,
            ..
        }
    ));
    let docker_config = w.path("ci/.docker");
    assert!(crate::docker::context::is_present(
        &docker_config,
        "build-1"
    ));
    let applied = w.apply(&desired);
    assert!(applied.skipped.is_empty(), "{:?}", applied.skipped);
    for name in ["ca.pem", "cert.pem", "key.pem"] {
        assert!(!docker_config.join(name).exists(), "{name}");
        assert!(
            applied.removed.contains(&docker_config.join(name)),
            "{name}"
        );
    }
    // The context made from the layout goes with it: its meta.json, its copies, its record.
    assert!(!crate::docker::context::exists(&docker_config, "build-1"));
    assert!(!crate::docker::context::tls_root(&docker_config, "build-1").exists());
    assert!(w.state.load_inventory().unwrap().contexts.is_empty());
    assert!(w.plan(&desired).is_empty());
}

/// The state a crash between apply's two updates of a revoke-and-remove leaves (the
/// certificate revoked, the entry still managed, its files in place), made here by revoking by
/// hand: the next plan revokes nothing and removes the files, and then forgets the entry.
#[test]
fn a_managed_leaf_revoked_but_not_yet_removed_has_its_files_removed_by_the_next_apply() {
    use crate::ops::{revoke, RevokeRequest, Selector};
    let w = World::new();
    applied_base(&w);
    let serial = active(&w)
        .into_iter()
        .find(|r| r.common_name.as_deref() == Some("ci"))
        .unwrap()
        .serial;
    revoke(
        &w.state,
        &RevokeRequest {
            selector: Selector::Serial(serial),
            reason: None,
        },
        w.now,
    )
    .unwrap();
    let desired = w.desired(&without_client(
        "[policy]\nremoved = \"revoke-and-remove\"\n",
    ));
    let plan = w.plan(&desired);
    assert_eq!(
        plan.actions
            .iter()
            .map(|a| (a.kind, a.reason.clone()))
            .collect::<Vec<_>>(),
        [(
            ActionKind::Revoke,
            Reason::NoLongerDeclared {
                serials: vec![],
                remove_files: true
            }
        )]
    );
    let applied = w.apply(&desired);
    for name in ["ca.pem", "cert.pem", "key.pem"] {
        assert!(
            applied.removed.contains(&w.path("ci/.docker").join(name)),
            "{name}"
        );
    }
    assert!(!w.path("ci/.docker/key.pem").exists());
    assert!(!crate::docker::context::exists(
        &w.path("ci/.docker"),
        "build-1"
    ));
    assert!(w.plan(&desired).is_empty());
    let declared = std::fs::read_to_string(w.state.dir().join(DECLARED_FILE)).unwrap();
    assert!(!declared.contains("\"ci\""), "{declared}");
}

#[test]
fn after_a_manual_renew_the_next_plan_is_clean() {
    let w = World::new();
    let desired = applied_base(&w);
    let later = w.now + Duration::days(3);
    let renewal = renew(
        &w.state,
        &RenewRequest {
            selection: Selection::All,
            key_policy: KeyPolicy::Fresh,
            lifetime: None,
        },
        later,
    )
    .unwrap();
    assert_eq!(renewal.renewed.len(), 2);
    let plan = plan(&w.state, &desired, later).unwrap();
    assert!(plan.is_empty(), "{plan:?}");
}

#[test]
fn a_certificate_due_by_the_entrys_window_is_planned_for_renewal() {
    let w = World::new();
    let desired = applied_base(&w);
    // 70 days on, ci's 90-day certificate has 20 days left: due by the relative rule; the
    // server's year is not.
    let later = w.now + Duration::days(70);
    let plan = plan(&w.state, &desired, later).unwrap();
    assert_eq!(
        shape(&plan),
        [triple(ActionKind::Renew, TargetKind::Client, "ci")]
    );
    assert!(matches!(plan.actions[0].reason, Reason::Due { .. }));
    apply(&w.state, &desired, Some(&plan), later, Foreign::Refuse).unwrap();
    assert!(super::plan(&w.state, &desired, later).unwrap().is_empty());
}

#[test]
fn a_certificate_issued_by_hand_is_left_alone_and_one_matching_an_entry_is_adopted() {
    let w = World::new();
    applied_base(&w);
    let hand = |name: &str, dir: &Path| {
        issue(
            &w.state,
            &IssueRequest {
                leaf: LeafRequest::Client(ClientRequest {
                    common_name: name.parse().unwrap(),
                    lifetime: "90d".parse().unwrap(),
                }),
                key_type: KeyType::EcdsaP256,
                dir: dir.to_path_buf(),
                existing: Existing::Refuse,
            },
            w.now,
        )
        .unwrap()
    };
    let bob = hand("bob", &w.path("bob/.docker"));
    let desired = w.desired(BASE);
    assert!(w.plan(&desired).is_empty());
    w.apply(&desired);
    let inv = w.state.load_inventory().unwrap();
    let record = inv
        .certificates
        .iter()
        .find(|r| r.serial == bob.certificate.serial)
        .unwrap();
    assert_eq!(record.status, Status::Active);

    // Declared now, and already satisfying the entry: adopted, not re-issued.
    let text = format!("{BASE}\n[[client]]\nname = \"bob\"\ninstall = \"{{root}}/bob/.docker\"\n");
    let desired = w.desired(&text);
    let plan = w.plan(&desired);
    assert_eq!(
        shape(&plan),
        [triple(ActionKind::Adopt, TargetKind::Client, "bob")]
    );
    w.apply(&desired);
    assert!(w.plan(&desired).is_empty());
    let serial_in_dir = dockpki::inspect(&certs(&w.path("bob/.docker/cert.pem"))[0])
        .unwrap()
        .serial;
    assert_eq!(serial_in_dir, bob.certificate.serial);
    // Adopted, it is managed: removing it from the file revokes it.
    let plan = w.plan(&w.desired(BASE));
    assert_eq!(
        shape(&plan),
        [triple(ActionKind::Revoke, TargetKind::Client, "bob")]
    );
}

#[test]
fn a_deleted_key_is_repaired_with_a_fresh_key() {
    let w = World::new();
    let desired = applied_base(&w);
    std::fs::remove_file(w.path("build-1/pki/server-key.pem")).unwrap();
    let plan = w.plan(&desired);
    assert_eq!(
        shape(&plan),
        [triple(ActionKind::Repair, TargetKind::Server, "build-1")]
    );
    assert!(matches!(
        plan.actions[0].reason,
        Reason::Files {
            problem: FileProblem::KeyMissing,
            ..
        }
    ));
    w.apply(&desired);
    assert!(w.path("build-1/pki/server-key.pem").exists());
    assert!(w.plan(&desired).is_empty());
}

#[test]
fn a_replaced_ca_pem_gets_the_bundle_rewritten_and_nothing_else() {
    let w = World::new();
    let desired = applied_base(&w);
    let cert = w.path("ci/.docker/cert.pem");
    let before = std::fs::read(&cert).unwrap();
    let ca = w.path("ci/.docker/ca.pem");
    std::fs::remove_file(&ca).unwrap();
    std::fs::write(
        &ca,
        b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    std::fs::set_permissions(&ca, std::fs::Permissions::from_mode(0o444)).unwrap();
    let plan = w.plan(&desired);
    assert_eq!(
        shape(&plan),
        [triple(ActionKind::RewriteBundle, TargetKind::Client, "ci")]
    );
    assert_eq!(
        plan.actions[0].reason,
        Reason::BundleStale { path: ca.clone() }
    );
    w.apply(&desired);
    assert_eq!(std::fs::read(&cert).unwrap(), before);
    assert_eq!(certs(&ca), bundle(&w));
    // The context's copy was fed with it.
    let copy = dc::tls_dir(&w.path("ci/.docker"), "build-1").join("ca.pem");
    assert_eq!(std::fs::read(copy).unwrap(), std::fs::read(&ca).unwrap());
    assert!(w.plan(&desired).is_empty());
}

#[test]
fn a_key_with_a_loose_mode_is_rewritten_with_its_own_contents() {
    let w = World::new();
    let desired = applied_base(&w);
    let key = w.path("build-1/pki/server-key.pem");
    let contents = std::fs::read(&key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let plan = w.plan(&desired);
    assert_eq!(
        shape(&plan),
        [triple(ActionKind::FixFile, TargetKind::Server, "build-1")]
    );
    assert_eq!(
        plan.actions[0].reason,
        Reason::WrongMode {
            path: key.clone(),
            mode: 0o644,
            want: 0o400
        }
    );
    w.apply(&desired);
    assert_eq!(std::fs::read(&key).unwrap(), contents);
    assert_eq!(std::fs::metadata(&key).unwrap().mode() & 0o7777, 0o400);
    assert!(w.plan(&desired).is_empty());
}

#[test]
fn a_stale_shown_plan_is_refused_and_nothing_is_written() {
    let w = World::new();
    let desired = applied_base(&w);
    let shown = w.plan(&desired);
    assert!(shown.is_empty());
    // Meanwhile the server's key went.
    std::fs::remove_file(w.path("build-1/pki/server-key.pem")).unwrap();
    let before = w.snapshot();
    let e = apply(&w.state, &desired, Some(&shown), w.now, Foreign::Refuse).unwrap_err();
    assert!(
        e.to_string()
            .contains("the state changed since the plan was shown; run plan again"),
        "{e}"
    );
    assert_eq!(w.snapshot(), before);
}

#[test]
fn a_ca_key_type_changed_in_the_config_is_a_note_naming_ca_rotate_begin_not_an_action() {
    let w = World::new();
    applied_base(&w);
    let desired = w.desired(&BASE.replace(
        "name = \"test CA\"",
        "name = \"test CA\"\nkey_type = \"rsa-3072\"",
    ));
    let plan = w.plan(&desired);
    assert!(plan.actions.is_empty(), "{plan:?}");
    assert_eq!(
        plan.notes,
        [Note::CaNeedsRotation {
            differences: vec![CaDifference::KeyType {
                state: Some(KeyType::EcdsaP256),
                config: KeyType::Rsa3072,
            }]
        }]
    );
    assert_eq!(
        plan.notes[0].command().unwrap(),
        ["ca", "rotate", "begin", "--key-type", "rsa-3072"]
    );
    assert!(plan.notes[0]
        .to_string()
        .ends_with("run ca rotate begin --key-type rsa-3072"));
    assert_eq!(plan.health(), crate::health::Health::ChangesPending);
    let before = w.snapshot();
    let applied = w.apply(&desired);
    assert!(applied.written.is_empty());
    assert_eq!(w.snapshot(), before);
}

#[test]
fn a_leaf_that_would_outlive_the_ca_is_a_note_and_not_issued() {
    let w = World::new();
    let desired = w.desired(
        "[ca]\nvalidity = \"2y\"\n[[client]]\nname = \"ci\"\ninstall = \"{root}/ci\"\nvalidity = \"1y\"\n",
    );
    w.apply(&desired);
    // 18 months on, a year-long client certificate would end after the CA.
    let later = w.now + Duration::days(550);
    let desired = w.desired(
        "[ca]\nvalidity = \"2y\"\n[[client]]\nname = \"ci\"\ninstall = \"{root}/ci\"\nvalidity = \"1y\"\n[[client]]\nname = \"new\"\ninstall = \"{root}/new\"\nvalidity = \"1y\"\n",
    );
    let plan = plan(&w.state, &desired, later).unwrap();
    // ci is due but cannot be renewed; new cannot be issued.
    assert!(plan.actions.is_empty(), "{plan:?}");
    assert_eq!(plan.notes.len(), 2);
    assert!(plan
        .notes
        .iter()
        .all(|n| matches!(n, Note::LeafOutlivesCa { .. })));
}

/// The environment variable that makes [`an_apply_aborted_before_any_rename_is_completed_by_the_next_open`]
/// the child that applies and is aborted: the root of its world.
#[cfg(feature = "fault-injection")]
const CHILD_ROOT: &str = "DOCKPKI_CONVERGE_TEST_CRASH_ROOT";

/// The first apply of [`BASE`] (a new CA, a server with its daemon.json, a client with its
/// context), run in a child process (this test binary, filtered to this test) that aborts just
/// before its N-th rename, for every N: the next [`State::open`] completes the journal, after
/// which the plan is empty and an apply writes nothing.
#[cfg(feature = "fault-injection")]
#[test]
fn an_apply_aborted_before_any_rename_is_completed_by_the_next_open() {
    use std::os::unix::process::ExitStatusExt;

    use crate::store::{Create, Settings};

    if let Some(root) = std::env::var_os(CHILD_ROOT) {
        let root = PathBuf::from(root);
        let state =
            State::open(root.join("state"), Create::IfMissing, Settings::default()).unwrap();
        let text = BASE.replace("{root}", &root.display().to_string());
        let desired = config::parse(
            Path::new("dockpki.toml"),
            &text.replace("owner = \"me\"\n", ""),
            &config::NoUsers,
        )
        .unwrap();
        apply(
            &state,
            &desired,
            None,
            OffsetDateTime::now_utc(),
            Foreign::Refuse,
        )
        .unwrap();
        return;
    }
    let name = concat!(
        module_path!(),
        "::an_apply_aborted_before_any_rename_is_completed_by_the_next_open"
    );
    let name = name.split_once("::").unwrap().1;
    let mut n = 0;
    loop {
        let root = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--test-threads=1"])
            .env(CHILD_ROOT, root.path())
            .env("DOCKPKI_TEST_ABORT_AFTER_MOVES", n.to_string())
            .output()
            .unwrap();
        if out.status.success() {
            // N is past the last rename: the apply ran to its end.
            assert!(n >= 10, "the first apply must move many files, moved {n}");
            break;
        }
        let what = format!("apply aborted before rename {n}");
        assert_eq!(out.status.signal(), Some(6), "{what}: {out:?}");
        let state_dir = root.path().join("state");
        assert!(state_dir.join("journal.json").exists(), "{what}");
        let state = State::open(state_dir.clone(), Create::IfMissing, Settings::default()).unwrap();
        assert!(!state_dir.join("journal.json").exists(), "{what}");
        let w = World {
            root,
            state,
            now: OffsetDateTime::now_utc(),
        };
        let desired = w.desired(&BASE.replace("owner = \"me\"\n", ""));
        // The state's update is complete; daemon.json, written after it through its own
        // journal, is what the next apply still merges.
        let plan = w.plan(&desired);
        assert_eq!(
            shape(&plan),
            [triple(
                ActionKind::MergeDaemonConfig,
                TargetKind::Server,
                "build-1"
            )],
            "{what}"
        );
        w.apply(&desired);
        let plan = w.plan(&desired);
        assert!(plan.is_empty(), "{what}: {plan:?}");
        let before = w.snapshot();
        assert!(w.apply(&desired).written.is_empty(), "{what}");
        assert_eq!(w.snapshot(), before, "{what}");
        n += 1;
    }
}

#[test]
fn each_action_and_note_is_one_line_naming_kind_target_and_reason_and_json_says_the_same() {
    let w = World::new();
    applied_base(&w);
    let root = w.root.path().display().to_string();
    let desired = w.desired(
        &without_client("[policy]\nremoved = \"revoke-and-remove\"\n")
            .replace("\"10.0.0.5\"", "\"10.0.0.6\"")
            .replace(
                "name = \"test CA\"",
                "name = \"test CA\"\nkey_type = \"rsa-3072\"",
            ),
    );
    let plan = w.plan(&desired);
    let serial = |name: &str| {
        active(&w)
            .into_iter()
            .find(|r| r.common_name.as_deref() == Some(name))
            .unwrap()
            .serial
    };
    let lines: Vec<String> = plan
        .actions
        .iter()
        .map(ToString::to_string)
        .chain(plan.notes.iter().map(ToString::to_string))
        .map(|l| l.replace(&root, "ROOT"))
        .collect();
    assert_eq!(
        lines,
        [
            format!(
                "re-issue server \"build-1\" in ROOT/build-1/pki: certificate {} differs: SANs build-1.example, 10.0.0.5 -> build-1.example, 10.0.0.6",
                serial("build-1")
            ),
            format!(
                "revoke client \"ci\" in ROOT/ci/.docker: no longer declared: certificate {}; its files are removed, with any docker context dockpki made from them",
                serial("ci")
            ),
            "the config's [ca] needs a new CA (key type ecdsa-p256 in the state, rsa-3072 in the config); apply never rotates: run ca rotate begin --key-type rsa-3072".to_string(),
        ]
    );
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["actions"][0]["kind"], "re-issue");
    assert_eq!(json["actions"][0]["reason"]["reason"], "changed");
    assert_eq!(json["actions"][0]["reason"]["changes"][0]["field"], "sans");
    assert_eq!(json["actions"][1]["kind"], "revoke");
    assert_eq!(json["actions"][1]["reason"]["remove_files"], true);
    assert_eq!(json["notes"][0]["note"], "ca-needs-rotation");
    assert_eq!(json["notes"][0]["differences"][0]["config"], "rsa-3072");
    // A name with a control character is shown escaped, on one line.
    let action = Action {
        kind: ActionKind::Issue,
        target: Target {
            kind: TargetKind::Client,
            name: "evil\nname".into(),
            install: "/x".into(),
        },
        reason: Reason::NotIssued,
    };
    assert_eq!(
        action.to_string(),
        "issue client \"evil\\nname\" in /x: declared, no active certificate installed there"
    );
}

#[test]
fn during_a_rotation_the_config_is_compared_with_the_new_ca_and_its_new_name_is_only_noted() {
    use crate::ops::rotate::{begin, BeginRequest};
    let w = World::new();
    applied_base(&w);
    let p384 = BASE.replace(
        "name = \"test CA\"",
        "name = \"test CA\"\nkey_type = \"ecdsa-p384\"",
    );
    let desired = w.desired(&p384);
    assert_eq!(
        w.plan(&desired).notes,
        [Note::CaNeedsRotation {
            differences: vec![CaDifference::KeyType {
                state: Some(KeyType::EcdsaP256),
                config: KeyType::EcdsaP384,
            }]
        }]
    );
    begin(
        &w.state,
        &BeginRequest {
            key_type: Some(KeyType::EcdsaP384),
            lifetime: "10y".parse().unwrap(),
        },
        w.now,
    )
    .unwrap();
    let plan = w.plan(&desired);
    // begin put both CAs in every layout's bundle and fed the context: nothing to do.
    assert!(plan.actions.is_empty(), "{plan:?}");
    let next = w.state.cert_info(&w.state.ca_next_cert_path()).unwrap();
    assert_eq!(
        plan.notes,
        [
            Note::RotationInProgress,
            Note::CaDiffers {
                differences: vec![CaDifference::Name {
                    state: next.common_name.clone(),
                    config: "test CA".into(),
                }]
            }
        ]
    );
    assert_eq!(plan.health(), crate::health::Health::Good);
    // A leaf issued now is signed by the new CA and installed with both CAs.
    let text = format!(
        "{p384}\n[[server]]\nname = \"build-2\"\nsans = [\"build-2.example\"]\ninstall = \"{{root}}/build-2/pki\"\n"
    );
    let desired = w.desired(&text);
    w.apply(&desired);
    let layout = Layout::daemon(w.path("build-2/pki"));
    let next_der = certs(&w.state.ca_next_cert_path());
    assert!(chains_to(&layout, &next_der, w.now));
    assert_eq!(certs(&layout.ca_path()).len(), 2);
    assert!(w.plan(&desired).actions.is_empty());
}

#[test]
fn a_changed_context_address_a_removed_context_and_an_edited_daemon_json_are_each_one_action() {
    let w = World::new();
    applied_base(&w);
    let config = w.path("ci/.docker");
    let desired = w.desired(&BASE.replace("build-1.example:2376", "build-1.example:2377"));
    let plan = w.plan(&desired);
    assert_eq!(
        plan.actions
            .iter()
            .map(|a| (a.kind, a.reason.clone()))
            .collect::<Vec<_>>(),
        [(
            ActionKind::UpdateContext,
            Reason::ContextDiffers {
                context: "build-1".into(),
                drift: ContextDrift::Host {
                    recorded: "tcp://build-1.example:2376".into(),
                    declared: "tcp://build-1.example:2377".into(),
                }
            }
        )]
    );
    w.apply(&desired);
    let meta = dc::meta_dir(&config, "build-1").join("meta.json");
    assert!(std::fs::read_to_string(&meta).unwrap().contains(":2377"));
    assert!(w.plan(&desired).is_empty());

    // `docker context rm`: the file still declares it, so apply makes it again.
    std::fs::remove_file(&meta).unwrap();
    let plan = w.plan(&desired);
    assert_eq!(
        shape(&plan),
        [triple(ActionKind::CreateContext, TargetKind::Client, "ci")]
    );
    w.apply(&desired);
    assert!(dc::is_present(&config, "build-1"));
    assert!(w.plan(&desired).is_empty());

    // daemon.json rewritten by hand without the TLS settings: merged again, the
    // administrator's own key kept, the previous file kept as a backup.
    let file = w.path("build-1/daemon.json");
    std::fs::write(
        &file,
        "{\n  \"debug\": true,\n  \"hosts\": [\"unix:///run/other.sock\"]\n}\n",
    )
    .unwrap();
    let plan = w.plan(&desired);
    assert_eq!(
        shape(&plan),
        [triple(
            ActionKind::MergeDaemonConfig,
            TargetKind::Server,
            "build-1"
        )]
    );
    assert!(matches!(
        &plan.actions[0].reason,
        Reason::DaemonConfig { dropped_sockets, .. } if *dropped_sockets == ["unix:///run/other.sock"]
    ));
    assert!(plan.actions[0]
        .to_string()
        .ends_with("; it no longer listens on unix:///run/other.sock"));
    let applied = w.apply(&desired);
    assert_eq!(applied.restart_daemons, [w.path("build-1/pki")]);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("\"debug\": true") && text.contains("\"tlsverify\": true"),
        "{text}"
    );
    assert!(applied
        .written
        .iter()
        .any(|wr| wr.path == file && wr.backup.is_some()));
    assert!(w.plan(&desired).is_empty());
}

/// A client's `owner` owns its layout and its context, keys included; a file handed to
/// someone else afterwards is planned as a fix and given back. Needs root (to write as
/// another user).
#[test]
fn a_clients_files_belong_to_its_declared_owner() {
    if !crate::test_support::root_or_skip() {
        return;
    }
    use std::os::unix::fs::chown;
    let w = World::new();
    std::fs::set_permissions(w.root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = w.path("home/nobody");
    std::fs::create_dir_all(&home).unwrap();
    chown(&home, Some(65534), Some(65534)).unwrap();
    let text = format!(
        "[ca]\n[[client]]\nname = \"nobody\"\ninstall = \"{}/.docker\"\nowner = \"nobody\"\ncontext = {{ name = \"b1\", host = \"tcp://b1.example:2376\" }}\n",
        home.display()
    );
    let users = |name: &str| -> crate::Result<Option<Owner>> {
        Ok((name == "nobody").then_some(Owner {
            uid: 65534,
            gid: 65534,
        }))
    };
    let desired = config::parse(Path::new("dockpki.toml"), &text, &users).unwrap();
    w.apply(&desired);
    let docker = home.join(".docker");
    let tls = dc::tls_dir(&docker, "b1");
    for file in [
        docker.join("ca.pem"),
        docker.join("cert.pem"),
        docker.join("key.pem"),
        tls.join("key.pem"),
        dc::meta_dir(&docker, "b1").join("meta.json"),
    ] {
        let m = std::fs::metadata(&file).unwrap();
        assert_eq!((m.uid(), m.gid()), (65534, 65534), "{}", file.display());
    }
    assert!(w.plan(&desired).is_empty());

    let key = docker.join("key.pem");
    chown(&key, Some(0), Some(0)).unwrap();
    let plan = w.plan(&desired);
    assert_eq!(
        plan.actions
            .iter()
            .map(|a| (a.kind, a.reason.clone()))
            .collect::<Vec<_>>(),
        [(
            ActionKind::FixFile,
            Reason::WrongOwner {
                path: key.clone(),
                uid: 0,
                want: 65534
            }
        )]
    );
    let applied = w.apply(&desired);
    assert_eq!(std::fs::metadata(&key).unwrap().uid(), 65534, "{applied:?}");
    assert!(w.plan(&desired).is_empty());
}

#[test]
fn an_issue_into_a_directory_of_files_dockpki_never_wrote_is_planned_as_replacing_them_and_refused_without_force(
) {
    let w = World::new();
    let dir = w.path("build-1/pki");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("server-cert.pem"), "someone else's\n").unwrap();
    std::fs::write(dir.join("server-key.pem"), "someone else's\n").unwrap();
    let desired = w.desired(BASE);
    let plan = w.plan(&desired);
    let issue = plan
        .actions
        .iter()
        .find(|a| a.kind == ActionKind::Issue && a.target.kind == TargetKind::Server)
        .unwrap();
    assert_eq!(
        issue.reason,
        Reason::ForeignFiles {
            files: vec!["server-cert.pem".into(), "server-key.pem".into()]
        }
    );
    assert!(
        issue
            .to_string()
            .ends_with("replaces server-cert.pem, server-key.pem, which dockpki did not write"),
        "{issue}"
    );
    // The client's directory is empty: a plain issue.
    assert_eq!(plan.foreign().count(), 1);

    let before = w.snapshot();
    let e = apply(&w.state, &desired, Some(&plan), w.now, Foreign::Refuse).unwrap_err();
    let text = e.to_string();
    assert!(!text.contains('\n'), "{text}");
    assert!(
        text.contains("server-cert.pem, server-key.pem, which dockpki did not write")
            && text.contains("--force"),
        "{text}"
    );
    assert_eq!(w.snapshot(), before, "a refused apply writes nothing");
    assert!(!w.state.has_ca());

    apply(
        &w.state,
        &desired,
        Some(&plan),
        w.now,
        Foreign::ReplaceKeepingBackup,
    )
    .unwrap();
    let backups: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("server-cert.pem.bak"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(
        backups,
        ["someone else's\n"],
        "the replaced file is kept as a backup"
    );
    assert!(w.plan(&desired).is_empty());
}

#[test]
fn files_dockpki_recorded_are_replaced_without_force() {
    let w = World::new();
    let desired = applied_base(&w);
    // A deleted key: the repair rewrites the layout dockpki wrote, no force needed.
    std::fs::remove_file(w.path("build-1/pki/server-key.pem")).unwrap();
    let plan = w.plan(&desired);
    assert_eq!(plan.foreign().count(), 0);
    assert!(plan.actions.iter().any(|a| a.kind == ActionKind::Repair));
    w.apply(&desired);
    assert!(w.plan(&desired).is_empty());
}

#[test]
fn a_plan_for_a_state_not_created_yet_is_the_plan_of_an_empty_state_and_creates_nothing() {
    let w = World::new();
    let desired = w.desired(BASE);
    let before = w.snapshot();
    let missing = w.path("no-state-yet");
    let new = plan_new(&missing, &w.state.settings().owners, &desired, w.now).unwrap();
    assert_eq!(w.snapshot(), before, "nothing created");
    assert!(!missing.exists());
    let mut of_empty = w.plan(&desired);
    // The same plan, the CA created in the directory given.
    for a in &mut of_empty.actions {
        if a.target.kind == TargetKind::Ca {
            a.target.install = missing.clone();
        }
    }
    assert_eq!(new, of_empty);
}

/// Copies the client layout's three files into `to` (a look-alike of the layout).
fn copy_client_files(w: &World, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for name in ["ca.pem", "cert.pem", "key.pem"] {
        std::fs::copy(w.path("ci/.docker").join(name), to.join(name)).unwrap();
    }
}

#[test]
fn revoke_and_remove_never_deletes_through_an_install_dir_swapped_for_a_symlink() {
    let w = World::new();
    applied_base(&w);
    // The user swaps their layout for a link to a place of root's holding the same files.
    let victim = w.path("victim");
    copy_client_files(&w, &victim);
    std::fs::rename(w.path("ci/.docker"), w.path("ci/moved")).unwrap();
    std::os::unix::fs::symlink(&victim, w.path("ci/.docker")).unwrap();
    let desired = w.desired(&without_client(
        "[policy]\nremoved = \"revoke-and-remove\"\n",
    ));
    let applied = w.apply(&desired);
    assert!(applied.removed.is_empty(), "{:?}", applied.removed);
    assert_eq!(
        applied
            .skipped
            .iter()
            .map(|(d, _)| d.clone())
            .collect::<Vec<_>>(),
        [w.path("ci/.docker")]
    );
    for name in ["ca.pem", "cert.pem", "key.pem"] {
        assert!(victim.join(name).exists(), "{name}");
        assert!(w.path("ci/moved").join(name).exists(), "{name}");
    }
    // Still managed: the next apply tries the removal again.
    assert!(!w.plan(&desired).is_empty());
}

#[test]
fn a_file_fix_through_a_layout_swapped_for_a_symlink_copies_nothing_and_applies_the_rest() {
    let w = World::new();
    let desired = applied_base(&w);
    let victim = w.path("victim");
    copy_client_files(&w, &victim);
    std::fs::set_permissions(
        victim.join("key.pem"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let server_key = w.path("build-1/pki/server-key.pem");
    std::fs::set_permissions(&server_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::rename(w.path("ci/.docker"), w.path("ci/moved")).unwrap();
    std::os::unix::fs::symlink(&victim, w.path("ci/.docker")).unwrap();
    let before = std::fs::metadata(victim.join("key.pem")).unwrap();
    let plan = w.plan(&desired);
    assert!(plan
        .actions
        .iter()
        .any(|a| a.kind == ActionKind::FixFile && a.target.kind == TargetKind::Client));
    let applied = w.apply(&desired);
    assert!(applied
        .skipped
        .iter()
        .any(|(d, why)| *d == w.path("ci/.docker") && why.contains("symlink")));
    let after = std::fs::metadata(victim.join("key.pem")).unwrap();
    assert_eq!((before.ino(), before.mode()), (after.ino(), after.mode()));
    // The server's fix landed all the same.
    assert_eq!(
        std::fs::metadata(&server_key).unwrap().mode() & 0o7777,
        0o400
    );
}

#[test]
fn a_layout_file_replaced_after_the_plan_is_not_copied() {
    let w = World::new();
    let desired = applied_base(&w);
    let leaves = super::plan::leaves(&w.state, &desired);
    let leaf = leaves.iter().find(|l| l.name == "ci").unwrap();
    let inventory = w.state.load_inventory().unwrap();
    let record = super::plan::active_records(&inventory, &leaf.entry())
        .last()
        .copied()
        .cloned()
        .unwrap();
    let bundle = certs(&w.path("ci/.docker/ca.pem"));
    let dir = crate::fs::LayoutDir::open(&leaf.install, None)
        .unwrap()
        .unwrap();
    let layout = leaf.layout();
    let cert = super::apply::read_verified(&dir, &layout, "cert.pem", Some(&record), None, &bundle)
        .unwrap();
    super::apply::read_verified(
        &dir,
        &layout,
        "key.pem",
        Some(&record),
        Some(&cert),
        &bundle,
    )
    .unwrap();
    // Another certificate (the server's) in place of the client's, and its key: refused.
    for (from, name) in [
        ("server-cert.pem", "cert.pem"),
        ("server-key.pem", "key.pem"),
    ] {
        std::fs::copy(
            w.path("build-1/pki").join(from),
            w.path("ci/.docker").join(name),
        )
        .unwrap();
    }
    let err = super::apply::read_verified(&dir, &layout, "cert.pem", Some(&record), None, &bundle)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no longer the file the plan judged"),
        "{err}"
    );
    assert!(super::apply::read_verified(
        &dir,
        &layout,
        "key.pem",
        Some(&record),
        Some(&cert),
        &bundle
    )
    .is_err());
    std::fs::write(w.path("ci/.docker/ca.pem"), b"").unwrap();
    assert!(
        super::apply::read_verified(&dir, &layout, "ca.pem", Some(&record), None, &bundle).is_err()
    );
}

#[test]
fn a_server_reissue_lands_while_a_broken_client_layout_is_skipped() {
    let w = World::new();
    applied_base(&w);
    // The client's key is a link (to a file of root's), which the plan does not follow.
    let secret = w.path("secret");
    std::fs::write(&secret, b"root only").unwrap();
    std::fs::remove_file(w.path("ci/.docker/key.pem")).unwrap();
    std::os::unix::fs::symlink(&secret, w.path("ci/.docker/key.pem")).unwrap();
    let desired = w.desired(&BASE.replace("\"10.0.0.5\"", "\"10.0.0.6\""));
    let plan = w.plan(&desired);
    assert!(plan
        .actions
        .iter()
        .any(|a| a.kind == ActionKind::Repair && a.target.name == "ci"));
    let old_server = std::fs::read(w.path("build-1/pki/server-cert.pem")).unwrap();
    let applied = w.apply(&desired);
    // The layout, and with it its context (its copies and then its meta.json).
    let ci = w.path("ci/.docker");
    assert_eq!(
        applied
            .skipped
            .iter()
            .map(|(d, _)| d.clone())
            .collect::<Vec<_>>(),
        [
            ci.clone(),
            dc::tls_dir(&ci, "build-1"),
            dc::meta_dir(&ci, "build-1")
        ]
    );
    assert_ne!(
        std::fs::read(w.path("build-1/pki/server-cert.pem")).unwrap(),
        old_server
    );
    assert_eq!(std::fs::read(&secret).unwrap(), b"root only");
    assert!(std::fs::symlink_metadata(w.path("ci/.docker/key.pem"))
        .unwrap()
        .file_type()
        .is_symlink());
}

/// A docker context is written whole or not at all: a new context whose meta directory may
/// not be written (its parent others may write) gets no TLS copies either (the client's key
/// copied with no context to use it), and no record, while its client layout is written and
/// recorded; put right, the next apply makes it.
#[test]
fn a_context_with_one_half_left_out_is_left_out_whole_and_made_once_put_right() {
    let w = World::new();
    applied_base(&w);
    let dave = w.path("dave/.docker");
    let meta_parent = dave.join("contexts/meta");
    std::fs::create_dir_all(&meta_parent).unwrap();
    std::fs::set_permissions(&meta_parent, std::fs::Permissions::from_mode(0o777)).unwrap();
    let text = format!(
        "{BASE}\n[[client]]\nname = \"dave\"\ninstall = \"{{root}}/dave/.docker\"\ncontext = {{ name = \"remote-dave\", host = \"tcp://build-1.example:2376\" }}\n"
    );
    let desired = w.desired(&text);
    let applied = w.apply(&desired);
    let meta = dc::meta_dir(&dave, "remote-dave");
    let tls = dc::tls_dir(&dave, "remote-dave");
    let skipped: Vec<&Path> = applied.skipped.iter().map(|(d, _)| d.as_path()).collect();
    assert!(
        skipped.contains(&meta.as_path()) && skipped.contains(&tls.as_path()),
        "{:?}",
        applied.skipped
    );
    assert!(!skipped.contains(&dave.as_path()), "{skipped:?}");
    assert!(!tls.exists() && !meta.exists());
    assert!(
        applied.contexts_fed.is_empty(),
        "{:?}",
        applied.contexts_fed
    );
    assert!(dave.join("key.pem").is_file());
    assert!(active(&w).iter().any(|r| r.installed == [dave.clone()]));
    let inventory = w.state.load_inventory().unwrap();
    assert!(inventory.contexts.iter().all(|c| c.name != "remote-dave"));
    // The next command finds no journal to refuse, and the plan still makes the context.
    assert!(w
        .plan(&desired)
        .actions
        .iter()
        .any(|a| a.kind == ActionKind::CreateContext && a.target.name == "dave"));
    std::fs::set_permissions(&meta_parent, std::fs::Permissions::from_mode(0o755)).unwrap();
    let applied = w.apply(&desired);
    assert!(applied.skipped.is_empty(), "{:?}", applied.skipped);
    assert!(dc::is_present(&dave, "remote-dave"));
    assert!(w.plan(&desired).is_empty());
}

/// A layout the update itself leaves out (a directory others may write, judged at the commit)
/// is left out whole: no certificate recorded for it, no copy of it in its context, no context
/// record and no declared entry, so the next plan still plans it, and applies it once the
/// directory is put right. The server's re-issue in the same apply lands and is recorded.
#[test]
fn a_layout_left_out_at_the_commit_gets_no_record_no_context_and_stays_planned() {
    let w = World::new();
    applied_base(&w);
    let ci = w.path("ci/.docker");
    let client_before = active(&w)
        .into_iter()
        .find(|r| r.installed == [ci.clone()])
        .unwrap();
    let serials_before_server: Vec<String> = active(&w)
        .into_iter()
        .filter(|r| r.installed == [w.path("build-1/pki")])
        .map(|r| r.serial)
        .collect();
    let context_tls = dc::tls_dir(&ci, "build-1");
    let copy_before = std::fs::read(context_tls.join("cert.pem")).unwrap();
    // A new client with its own context, into a directory others may write.
    let dev = w.path("dev/.docker");
    std::fs::create_dir_all(&dev).unwrap();
    std::fs::set_permissions(&dev, std::fs::Permissions::from_mode(0o777)).unwrap();
    let text = format!(
        "{}\n[[client]]\nname = \"dev\"\ninstall = \"{{root}}/dev/.docker\"\ncontext = {{ name = \"dev\", host = \"tcp://build-1.example:2376\" }}\n",
        BASE.replace("\"10.0.0.5\"", "\"10.0.0.6\"")
    );
    let desired = w.desired(&text);
    // And the existing client's key deleted: repaired with a new certificate, into a layout
    // made group-writable after the plan.
    std::fs::remove_file(ci.join("key.pem")).unwrap();
    let shown = w.plan(&desired);
    assert!(shown
        .actions
        .iter()
        .any(|a| a.kind == ActionKind::Repair && a.target.name == "ci"));
    assert!(shown
        .actions
        .iter()
        .any(|a| a.kind == ActionKind::Issue && a.target.name == "dev"));
    std::fs::set_permissions(&ci, std::fs::Permissions::from_mode(0o775)).unwrap();
    let applied = apply(&w.state, &desired, Some(&shown), w.now, Foreign::Refuse).unwrap();

    let skipped: Vec<&Path> = applied.skipped.iter().map(|(d, _)| d.as_path()).collect();
    assert!(skipped.contains(&ci.as_path()), "{skipped:?}");
    assert!(skipped.contains(&dev.as_path()), "{skipped:?}");
    assert!(skipped.contains(&context_tls.as_path()), "{skipped:?}");
    assert!(
        applied.contexts_fed.is_empty(),
        "{:?}",
        applied.contexts_fed
    );
    // Nothing written into either, nor into the context of the one or for the other.
    assert!(!ci.join("key.pem").exists() && !dev.join("cert.pem").exists());
    assert_eq!(
        std::fs::read(context_tls.join("cert.pem")).unwrap(),
        copy_before
    );
    assert!(!dc::meta_dir(&dev, "dev").exists() && !dc::tls_dir(&dev, "dev").exists());
    // The inventory: the server's new certificate, the client's old one still the active one,
    // nothing for dev, no context record for it, and dev not declared managed.
    let inventory = w.state.load_inventory().unwrap();
    let records = active(&w);
    let serials = |dir: &Path| -> Vec<String> {
        records
            .iter()
            .filter(|r| r.installed.iter().any(|d| d == dir))
            .map(|r| r.serial.clone())
            .collect()
    };
    assert_eq!(serials(&ci), std::slice::from_ref(&client_before.serial));
    assert!(serials(&dev).is_empty());
    let server = serials(&w.path("build-1/pki"));
    assert_eq!(server.len(), 1);
    assert_ne!(server, serials_before_server);
    assert!(inventory.contexts.iter().all(|c| c.name != "dev"));
    assert!(!declared::read(&w.state)
        .unwrap()
        .iter()
        .any(|e| e.install == dev));

    // Put right, the next plan still holds both, and applying it leaves nothing to do.
    std::fs::set_permissions(&ci, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(&dev, std::fs::Permissions::from_mode(0o700)).unwrap();
    let again = w.plan(&desired);
    assert!(again
        .actions
        .iter()
        .any(|a| a.kind == ActionKind::Repair && a.target.name == "ci"));
    assert!(again
        .actions
        .iter()
        .any(|a| a.kind == ActionKind::Issue && a.target.name == "dev"));
    let applied = w.apply(&desired);
    assert!(applied.skipped.is_empty(), "{:?}", applied.skipped);
    assert!(dc::is_present(&dev, "dev"));
    assert!(w.plan(&desired).is_empty());
}

#[test]
fn removing_a_server_with_revoke_and_remove_notes_that_its_daemon_json_must_be_changed_by_hand() {
    let w = World::new();
    applied_base(&w);
    let (start, end) = (
        BASE.find("[[server]]").unwrap(),
        BASE.find("[[client]]").unwrap(),
    );
    let text = format!(
        "[policy]\nremoved = \"revoke-and-remove\"\n{}{}",
        &BASE[..start],
        &BASE[end..]
    );
    let desired = w.desired(&text);
    let plan = w.plan(&desired);
    assert_eq!(
        shape(&plan),
        [triple(ActionKind::Revoke, TargetKind::Server, "build-1")]
    );
    assert!(matches!(
        &plan.notes[..],
        [Note::RemovedServerFiles { target }] if target.name == "build-1"
    ));
    assert!(plan.notes[0].to_string().contains("daemon.json"));
    let daemon_json = std::fs::read(w.path("build-1/daemon.json")).unwrap();
    let applied = w.apply(&desired);
    assert!(!w.path("build-1/pki/server-key.pem").exists());
    // Never edited: the note says so.
    assert_eq!(
        std::fs::read(w.path("build-1/daemon.json")).unwrap(),
        daemon_json
    );
    assert_eq!(applied.notes, plan.notes);
}
