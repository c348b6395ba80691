//! Creating the state's CA, converting its key between plain and encrypted storage, and
//! changing the passphrase of an encrypted key.

use std::path::Path;

use dockpki::{CaOptions, CertInfo, CertificateAuthority, KeyType, OffsetDateTime};

use crate::error::{Advice, Error, Result};
use crate::fs::{Existing, WritePlan, Written};
use crate::store::{KeyProtection, Passphrases, Purpose, State};

/// A request to create the state's CA.
#[derive(Clone, Debug)]
pub struct CaInitRequest {
    /// The CA's name, key type, lifetime, path length and name constraints.
    pub options: CaOptions,
    /// How its key is stored; [`KeyProtection::Encrypted`] asks the state's
    /// [`Passphrases`] for a new passphrase.
    pub protection: KeyProtection,
    /// Whether a CA already in the state may be replaced (its files kept as timestamped
    /// backups). Replacing a CA stops every certificate it issued from being trusted wherever
    /// the new `ca.pem` is installed.
    pub existing: Existing,
}

/// What [`init`] made.
#[derive(Debug)]
pub struct CaCreated {
    /// What the new CA certificate says.
    pub certificate: CertInfo,
    /// The type of its key.
    pub key_type: KeyType,
    /// How its key is stored.
    pub protection: KeyProtection,
    /// The files written (`ca.pem`, `ca-key.pem`), with the backups of a replaced CA.
    pub written: Vec<Written>,
}

/// Creates a CA and stores it in the state (`ca.pem`, `ca-key.pem`) in one journaled update.
///
/// Refused while a CA rotation is in progress (replacing `ca.pem` then would strand the
/// rotation's new CA and every certificate it issued), and when the state already holds a CA
/// unless `request.existing` is [`Existing::ReplaceKeepingBackup`].
///
/// # Errors
/// With [`Advice::FinishRotation`] during a rotation, with [`Advice::ReplaceCa`] when a CA
/// exists and may not be replaced; when the options are refused, no passphrase can be had for
/// an encrypted key, or the files cannot be written. Nothing is written then.
pub fn init(state: &State, request: &CaInitRequest, now: OffsetDateTime) -> Result<CaCreated> {
    if state.rotating() {
        return Err(Error::advised(
            format!("a CA rotation is in progress in {}", state.dir().display()),
            Advice::FinishRotation,
        ));
    }
    if state.has_ca() && request.existing == Existing::Refuse {
        // Only the certificate: naming the CA must not need its (possibly encrypted) key.
        let existing = state
            .cert_info(&state.ca_cert_path())
            .map(|info| format!(" ({:?})", info.subject))
            .unwrap_or_default();
        return Err(Error::advised(
            format!("a CA already exists in {}{existing}", state.dir().display()),
            Advice::ReplaceCa,
        ));
    }
    let key =
        crate::report::generate_key(state.settings().report.as_ref(), request.options.key_type)?;
    let ca = CertificateAuthority::create_with_key(&request.options, key, now)?;
    let mut plan = WritePlan::new(request.existing);
    state.plan_ca(&mut plan, &ca, request.protection)?;
    let written = state.commit(state.feed_contexts(plan)?)?;
    Ok(CaCreated {
        certificate: ca.info().clone(),
        key_type: request.options.key_type,
        protection: request.protection,
        written,
    })
}

/// What [`convert`] did.
#[derive(Debug)]
pub struct Converted {
    /// How the keys are stored now.
    pub protection: KeyProtection,
    /// The key files rewritten, each with the backup of its previous form.
    pub written: Vec<Written>,
}

impl Converted {
    /// The backups that hold a key unencrypted after encrypting: the one thing encrypting was
    /// meant to remove, to be deleted once the passphrase is known to work. None after
    /// decrypting.
    pub fn unencrypted_backups(&self) -> impl Iterator<Item = &Path> {
        self.written
            .iter()
            .filter(|_| self.protection == KeyProtection::Encrypted)
            .filter_map(|w| w.backup.as_deref())
    }
}

/// Rewrites every CA key of the state (`ca-key.pem`, and `ca-next-key.pem` during a rotation)
/// stored as `to` says, in one journaled update that keeps the previous files as timestamped
/// backups. Encrypting asks the state's [`Passphrases`] for a new
/// passphrase; decrypting, for the current one.
///
/// Converting to the form the key already has is refused, so that a mistaken request is
/// noticed rather than silently doing nothing.
///
/// # Errors
/// When the key already has that form (with [`Advice::ChangePassphrase`] when it is encrypted
/// already), a CA cannot be loaded, no passphrase can be had, or the files cannot be written.
pub fn convert(state: &State, to: KeyProtection) -> Result<Converted> {
    if state.key_protection()? == to {
        return Err(match to {
            KeyProtection::Encrypted => Error::advised(
                format!(
                    "the CA key {} is already encrypted",
                    state.ca_key_path().display()
                ),
                Advice::ChangePassphrase,
            ),
            KeyProtection::Plain => Error::new(format!(
                "the CA key {} is not encrypted; nothing to decrypt",
                state.ca_key_path().display()
            )),
        });
    }
    let mut cas = vec![(state.ca_key_path(), state.load_current_ca()?)];
    if state.rotating() {
        cas.push((state.ca_next_key_path(), state.load_next_ca()?));
    }
    let mut plan = WritePlan::new(Existing::ReplaceKeepingBackup);
    for (path, ca) in &cas {
        plan.key(path.clone(), state.ca_key_pem(ca, to)?, None);
    }
    Ok(Converted {
        protection: to,
        written: state.commit(state.feed_contexts(plan)?)?,
    })
}

/// What [`change_passphrase`] did.
#[derive(Debug)]
pub struct PassphraseChanged {
    /// The key files rewritten under the new passphrase (`ca-key.pem`, and `ca-next-key.pem`
    /// during a rotation), with no backup: see [`change_passphrase`].
    pub written: Vec<Written>,
    /// Backups of CA keys left in the state directory by earlier commands (`ca-key.pem.bak-*`,
    /// `ca-next-key.pem.bak-*`): each still opens with an old passphrase, or with none, so the
    /// change protects nothing until they are deleted.
    pub old_key_backups: Vec<std::path::PathBuf>,
}

/// Re-encrypts every CA key of the state (`ca-key.pem`, and `ca-next-key.pem` during a
/// rotation, which `ca rotate begin` encrypted under the same passphrase) under the passphrase
/// `new` gives for [`Purpose::NewPassphrase`], in one journaled update.
///
/// The keys are unlocked with the state's own [`Passphrases`] first, so that a wrong old
/// passphrase is refused before a new one is asked for. They are re-encrypted in memory and
/// staged already encrypted with mode 0400: no unencrypted copy of a key touches the disk at
/// any point. The previous files are replaced without a backup: a backup would still open with
/// the old passphrase, which is what changing it is meant to revoke, and it holds the same key
/// as the new file, so keeping it would protect nothing but the old passphrase. A crash leaves
/// the journal, and the next command completes the update.
///
/// # Errors
/// With [`Advice::EncryptCaKey`] when the current key is not encrypted; when a CA cannot be
/// loaded (no passphrase, a wrong one), no new passphrase can be had, the new passphrase is the
/// old one, or the files cannot be written. Nothing is written then.
pub fn change_passphrase(state: &State, new: &dyn Passphrases) -> Result<PassphraseChanged> {
    if state.key_protection()? == KeyProtection::Plain {
        return Err(Error::advised(
            format!(
                "the CA key {} is not encrypted, so it has no passphrase to change",
                state.ca_key_path().display()
            ),
            Advice::EncryptCaKey,
        ));
    }
    let mut cas = vec![(state.ca_key_path(), state.load_current_ca()?)];
    if state.rotating() {
        cas.push((state.ca_next_key_path(), state.load_next_ca()?));
    }
    // The state's source hands out the passphrase it unlocked the keys with.
    let old = state.settings().passphrases.passphrase(Purpose::Unlock)?;
    let new = new.passphrase(Purpose::NewPassphrase)?;
    if new.is_empty() {
        return Err(Error::new("empty new passphrase; give a non-empty one"));
    }
    if *new == *old {
        return Err(Error::new(
            "the new passphrase is the one the CA key already has; give a different one",
        ));
    }
    let mut plan = WritePlan::new(Existing::Refuse);
    for (path, ca) in &cas {
        plan.rewrapped_key(path.clone(), ca.encrypted_key_pem(&new)?);
    }
    let written = state.commit(state.feed_contexts(plan)?)?;
    Ok(PassphraseChanged {
        written,
        old_key_backups: key_backups(state)?,
    })
}

/// The backups of CA keys in the state directory, sorted.
fn key_backups(state: &State) -> Result<Vec<std::path::PathBuf>> {
    let dir = state.dir();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("read", dir, &e))?;
    let mut found: Vec<std::path::PathBuf> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("ca-key.pem.bak") || name.starts_with("ca-next-key.pem.bak")
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Create, Passphrase, Settings};
    use std::path::PathBuf;
    use std::sync::Arc;

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn request(name: &str, existing: Existing) -> CaInitRequest {
        let mut options = CaOptions::new(now()).unwrap();
        options.common_name = name.parse().unwrap();
        CaInitRequest {
            options,
            protection: KeyProtection::Plain,
            existing,
        }
    }

    fn open(dir: &Path, settings: Settings) -> State {
        State::open(dir.join("state"), Create::IfMissing, settings).unwrap()
    }

    #[test]
    fn init_stores_the_ca_with_a_0400_key_that_loads_again() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let state = open(root.path(), Settings::default());
        let created = init(&state, &request("Test CA", Existing::Refuse), now()).unwrap();
        assert_eq!(created.certificate.common_name.as_deref(), Some("Test CA"));
        assert!(created.certificate.is_ca);
        let paths: Vec<_> = created.written.iter().map(|w| w.path.clone()).collect();
        assert!(paths.contains(&state.ca_cert_path()) && paths.contains(&state.ca_key_path()));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state.ca_key_path()), 0o400);
        assert_eq!(mode(&state.ca_cert_path()), 0o444);
        assert_eq!(
            state.load_ca().unwrap().info().sha256_fingerprint,
            created.certificate.sha256_fingerprint
        );
    }

    #[test]
    fn init_refuses_an_existing_ca_without_consent_and_leaves_it_alone() {
        let root = tempfile::tempdir().unwrap();
        let state = open(root.path(), Settings::default());
        init(&state, &request("First CA", Existing::Refuse), now()).unwrap();
        let before = std::fs::read(state.ca_key_path()).unwrap();
        let e = init(&state, &request("Second CA", Existing::Refuse), now()).unwrap_err();
        assert_eq!(e.advice(), Some(Advice::ReplaceCa));
        assert!(e.message().contains("a CA already exists in"), "{e}");
        assert!(e.message().contains("First CA"), "{e}");
        assert_eq!(std::fs::read(state.ca_key_path()).unwrap(), before);
    }

    #[test]
    fn init_with_consent_replaces_the_ca_keeping_the_old_files_as_backups() {
        let root = tempfile::tempdir().unwrap();
        let state = open(root.path(), Settings::default());
        init(&state, &request("First CA", Existing::Refuse), now()).unwrap();
        let old_cert = std::fs::read(state.ca_cert_path()).unwrap();
        let old_key = std::fs::read(state.ca_key_path()).unwrap();
        let created = init(
            &state,
            &request("Second CA", Existing::ReplaceKeepingBackup),
            now(),
        )
        .unwrap();
        assert_eq!(
            created.certificate.common_name.as_deref(),
            Some("Second CA")
        );
        let backup_of = |path: PathBuf| {
            created
                .written
                .iter()
                .find(|w| w.path == path)
                .and_then(|w| w.backup.clone())
                .expect("a backup")
        };
        assert_eq!(
            std::fs::read(backup_of(state.ca_cert_path())).unwrap(),
            old_cert
        );
        assert_eq!(
            std::fs::read(backup_of(state.ca_key_path())).unwrap(),
            old_key
        );
        assert_ne!(std::fs::read(state.ca_cert_path()).unwrap(), old_cert);
    }

    #[test]
    fn init_refuses_while_a_rotation_is_in_progress_even_with_consent() {
        let root = tempfile::tempdir().unwrap();
        let state = open(root.path(), Settings::default());
        init(&state, &request("First CA", Existing::Refuse), now()).unwrap();
        let next =
            CertificateAuthority::create(&request("Next CA", Existing::Refuse).options, now())
                .unwrap();
        let mut plan = WritePlan::new(Existing::Refuse);
        state.plan_next_ca(&mut plan, &next).unwrap();
        state.commit(state.feed_contexts(plan).unwrap()).unwrap();
        let before = std::fs::read(state.ca_cert_path()).unwrap();
        let e = init(
            &state,
            &request("Third CA", Existing::ReplaceKeepingBackup),
            now(),
        )
        .unwrap_err();
        assert_eq!(e.advice(), Some(Advice::FinishRotation));
        assert!(e.message().contains("rotation is in progress"), "{e}");
        assert_eq!(std::fs::read(state.ca_cert_path()).unwrap(), before);
    }

    #[test]
    fn convert_encrypts_and_decrypts_every_ca_key_and_refuses_the_form_it_has() {
        let root = tempfile::tempdir().unwrap();
        let settings = Settings {
            passphrases: Arc::new(Passphrase::new("correct horse").unwrap()),
            ..Settings::default()
        };
        let state = open(root.path(), settings);
        let created = init(&state, &request("Test CA", Existing::Refuse), now()).unwrap();
        let plain = std::fs::read(state.ca_key_path()).unwrap();

        let e = convert(&state, KeyProtection::Plain).unwrap_err();
        assert!(
            e.message()
                .ends_with("is not encrypted; nothing to decrypt"),
            "{e}"
        );

        let encrypted = convert(&state, KeyProtection::Encrypted).unwrap();
        assert_eq!(state.key_protection().unwrap(), KeyProtection::Encrypted);
        let backups: Vec<&Path> = encrypted.unencrypted_backups().collect();
        assert_eq!(backups.len(), 1);
        assert_eq!(std::fs::read(backups[0]).unwrap(), plain);
        // Still the same CA, now read through the passphrase.
        assert_eq!(
            state.load_ca().unwrap().info().sha256_fingerprint,
            created.certificate.sha256_fingerprint
        );

        let e = convert(&state, KeyProtection::Encrypted).unwrap_err();
        assert_eq!(e.advice(), Some(Advice::ChangePassphrase));

        let decrypted = convert(&state, KeyProtection::Plain).unwrap();
        assert_eq!(state.key_protection().unwrap(), KeyProtection::Plain);
        assert_eq!(decrypted.written.len(), 1);
        assert_eq!(decrypted.unencrypted_backups().count(), 0);
    }

    #[test]
    fn change_passphrase_rewraps_every_ca_key_without_a_backup_and_refuses_what_it_cannot_change() {
        let root = tempfile::tempdir().unwrap();
        let old = || Settings {
            passphrases: Arc::new(Passphrase::new("correct horse").unwrap()),
            ..Settings::default()
        };
        let state = open(root.path(), old());
        let created = init(&state, &request("Test CA", Existing::Refuse), now()).unwrap();
        let new = Passphrase::new("battery staple").unwrap();

        let e = change_passphrase(&state, &new).unwrap_err();
        assert_eq!(e.advice(), Some(Advice::EncryptCaKey));
        convert(&state, KeyProtection::Encrypted).unwrap();
        let e = change_passphrase(&state, &Passphrase::new("correct horse").unwrap()).unwrap_err();
        assert!(e.message().contains("already has"), "{e}");

        // A rotation in progress: its new CA's key is encrypted under the same passphrase.
        let next =
            CertificateAuthority::create(&request("Next CA", Existing::Refuse).options, now())
                .unwrap();
        let mut plan = WritePlan::new(Existing::Refuse);
        state.plan_next_ca(&mut plan, &next).unwrap();
        state.commit(state.feed_contexts(plan).unwrap()).unwrap();

        let changed = change_passphrase(&state, &new).unwrap();
        assert_eq!(changed.written.len(), 2);
        assert!(changed.written.iter().all(|w| w.backup.is_none()));
        // The plaintext backup `ca encrypt` left is named, not silently kept.
        assert_eq!(changed.old_key_backups.len(), 1);
        drop(state);

        let state = open(root.path(), old());
        assert!(state.load_current_ca().is_err());
        assert!(state.load_next_ca().is_err());
        drop(state);
        let state = open(
            root.path(),
            Settings {
                passphrases: Arc::new(new),
                ..Settings::default()
            },
        );
        assert_eq!(
            state.load_current_ca().unwrap().info().sha256_fingerprint,
            created.certificate.sha256_fingerprint
        );
        assert_eq!(
            state.load_next_ca().unwrap().info().sha256_fingerprint,
            next.info().sha256_fingerprint
        );
    }
}
