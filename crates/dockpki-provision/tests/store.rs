//! The state directory through the library's own API: what a caller passes in (passphrases, key
//! modes, the lock timeout, where notices go) is what the engine uses, and nothing is printed.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dockpki::{CaOptions, CertificateAuthority, OffsetDateTime};
use dockpki_provision::fs::{Existing, WritePlan};
use dockpki_provision::report::Notice;
use dockpki_provision::store::{Create, KeyPerms, KeyProtection, Passphrase, Settings, State};
use dockpki_provision::Advice;

/// A state with a CA in `dir`, its key protected as `protection` (encrypted under "secret").
fn state_with_ca(dir: &Path, protection: KeyProtection) {
    let settings = Settings {
        passphrases: Arc::new(Passphrase::new("secret").unwrap()),
        ..Settings::default()
    };
    let state = State::open(dir.to_path_buf(), Create::IfMissing, settings).unwrap();
    let now = OffsetDateTime::now_utc();
    let ca = CertificateAuthority::create(&CaOptions::new(now).unwrap(), now).unwrap();
    let mut plan = WritePlan::new(Existing::Refuse);
    state.plan_ca(&mut plan, &ca, protection).unwrap();
    state.commit(state.feed_contexts(plan).unwrap()).unwrap();
}

/// Collects notices instead of printing them.
fn collector() -> (
    Arc<Mutex<Vec<Notice>>>,
    Arc<dyn dockpki_provision::report::Report>,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let report = Arc::new(move |n: &Notice| sink.lock().unwrap().push(n.clone()));
    (seen, report)
}

#[test]
fn an_encrypted_ca_opens_only_with_the_callers_passphrase() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("state");
    state_with_ca(&dir, KeyProtection::Encrypted);
    let key = std::fs::read_to_string(dir.join("ca-key.pem")).unwrap();
    assert!(key.contains("ENCRYPTED PRIVATE KEY"));

    let none = State::open(dir.clone(), Create::No, Settings::default()).unwrap();
    let e = none.load_ca().unwrap_err();
    assert_eq!(e.advice(), Some(Advice::PassphraseFile), "{e}");
    drop(none);

    let wrong = Settings {
        passphrases: Arc::new(Passphrase::new("not it").unwrap()),
        ..Settings::default()
    };
    let state = State::open(dir.clone(), Create::No, wrong).unwrap();
    assert!(state.load_ca().is_err());
    drop(state);

    let right = Settings {
        passphrases: Arc::new(Passphrase::new("secret").unwrap()),
        ..Settings::default()
    };
    let state = State::open(dir, Create::No, right).unwrap();
    state.load_ca().unwrap();
}

#[test]
fn a_loose_ca_key_is_refused_unless_the_caller_allows_it_and_then_reported() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("state");
    state_with_ca(&dir, KeyProtection::Plain);
    std::fs::set_permissions(
        dir.join("ca-key.pem"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();

    let state = State::open(dir.clone(), Create::No, Settings::default()).unwrap();
    let e = state.load_ca().unwrap_err();
    assert_eq!(e.advice(), Some(Advice::InsecurePerms), "{e}");
    assert!(e.to_string().contains("chmod 400"), "{e}");
    drop(state);

    let (seen, report) = collector();
    let settings = Settings {
        key_perms: KeyPerms::WarnOnly,
        report,
        ..Settings::default()
    };
    let state = State::open(dir.clone(), Create::No, settings).unwrap();
    state.load_ca().unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![Notice::LooseCaKey {
            path: dir.join("ca-key.pem"),
            mode: 0o644
        }]
    );
}

#[test]
fn a_held_lock_is_reported_once_and_gives_up_after_the_callers_timeout() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("state");
    state_with_ca(&dir, KeyProtection::Plain);
    let holder = State::open(dir.clone(), Create::No, Settings::default()).unwrap();

    let (seen, report) = collector();
    let settings = Settings {
        lock_timeout: Some(Duration::from_millis(200)),
        report,
        ..Settings::default()
    };
    let e = State::open(dir.clone(), Create::No, settings).unwrap_err();
    assert_eq!(e.advice(), Some(Advice::LockTimeout), "{e}");
    let notices = seen.lock().unwrap().clone();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        matches!(&notices[0], Notice::WaitingForLock { dir: d, .. } if d == &dir),
        "{notices:?}"
    );
    drop(holder);
    // Released with the value: the next open takes it at once, and says nothing.
    let (seen, report) = collector();
    let settings = Settings {
        lock_timeout: Some(Duration::ZERO),
        report,
        ..Settings::default()
    };
    State::open(dir, Create::No, settings).unwrap();
    assert!(seen.lock().unwrap().is_empty());
}

#[test]
fn a_state_directory_others_may_write_is_refused_and_left_as_it_is() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("state");
    state_with_ca(&dir, KeyProtection::Plain);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = State::open(dir.clone(), Create::No, Settings::default()).unwrap_err();
    assert!(e.to_string().contains("writable by group or others"), "{e}");
    assert_eq!(
        e.advice(),
        None,
        "the fix is chmod, said in the message: {e}"
    );
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o7777;
    assert_eq!(
        mode, 0o777,
        "the engine never chmods a directory it did not create"
    );
}

#[test]
fn opening_without_a_ca_says_to_create_one_and_creates_nothing() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("state");
    let e = State::open(dir.clone(), Create::No, Settings::default()).unwrap_err();
    assert_eq!(e.advice(), Some(Advice::CreateCa), "{e}");
    assert!(!dir.exists());
    std::fs::create_dir(&dir).unwrap();
    let e = State::open(dir.clone(), Create::No, Settings::default()).unwrap_err();
    assert_eq!(e.advice(), Some(Advice::CreateCa), "{e}");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "no lock file left"
    );
}
