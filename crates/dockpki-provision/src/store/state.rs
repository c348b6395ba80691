//! The state directory: the CA, the inventory, and the lock that serializes dockpki processes.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dockpki::{CertificateAuthority, CertificateDer};

use crate::docker::context::ContextFed;
use crate::error::{Advice, Error, Result};
use crate::fs::journal;
use crate::fs::owner::OwnerPolicy;
use crate::fs::reader::{self, Limit, Links};
use crate::fs::write::{Skipped, WritePlan, Written, DIR_MODE, PRIVATE_MODE};
use crate::report::{Notice, Report, Silent};
use crate::store::ca_key::{self, KeyPerms, NoPassphrase, Passphrases, Purpose};
use crate::store::inventory::{
    ContextRecord, Delta, Header, Inventory, Record, DELTA_FROM_BYTES, DELTA_LIMIT_BYTES,
    FORMAT_VERSION_WITH_DELTA,
};

/// What only the caller knows, given to [`State::open`]: how passphrases are had, how loose CA
/// key files are treated, who owns the files of users' layouts, how long to wait for the lock,
/// and where notices go.
#[derive(Clone)]
pub struct Settings {
    /// Where passphrases for encrypted CA keys come from.
    pub passphrases: Arc<dyn Passphrases>,
    /// How a CA key file readable by group or others is treated.
    pub key_perms: KeyPerms,
    /// Who owns the files written into users' layouts and docker contexts.
    pub owners: OwnerPolicy,
    /// How long to wait for another process's lock (`None`: for ever).
    pub lock_timeout: Option<Duration>,
    /// Where notices go.
    pub report: Arc<dyn Report>,
}

impl Default for Settings {
    /// No passphrase, strict key modes, files owned by the running user, a 300 s lock timeout,
    /// notices dropped.
    fn default() -> Settings {
        Settings {
            passphrases: Arc::new(NoPassphrase),
            key_perms: KeyPerms::Strict,
            owners: OwnerPolicy::RunningUser,
            lock_timeout: Some(Duration::from_secs(DEFAULT_LOCK_TIMEOUT_SECS)),
            report: Arc::new(Silent),
        }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("key_perms", &self.key_perms)
            .field("owners", &self.owners)
            .field("lock_timeout", &self.lock_timeout)
            .finish_non_exhaustive()
    }
}

/// Whether [`State::open`] may create the state directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Create {
    /// A missing directory is made (mode 0700), with its missing parents.
    IfMissing,
    /// The directory must exist and hold a CA.
    No,
}

/// The CA's certificate in a state directory ([`State::ca_cert_path`]): the names are the
/// state's layout, which readers without a [`State`] (a layout check) use too.
pub const CA_CERT: &str = "ca.pem";
/// The CA's key in a state directory ([`State::ca_key_path`]).
pub const CA_KEY: &str = "ca-key.pem";
/// A rotation's new CA in a state directory ([`State::ca_next_cert_path`]).
pub const CA_NEXT_CERT: &str = "ca-next.pem";
/// The key of a rotation's new CA ([`State::ca_next_key_path`]).
pub const CA_NEXT_KEY: &str = "ca-next-key.pem";

/// A plan that went through [`State::feed_contexts`]: it holds the copies its docker contexts
/// need, and it cannot change any more. The only plan [`State::commit`] writes, so that feeding
/// the contexts is a step every update takes in sight of its caller, and one no caller can
/// forget: a type, rather than a check at commit time, because the check would have to redo the
/// step to know what it should have added.
#[must_use = "a plan is written only by State::commit"]
pub struct FedPlan {
    plan: WritePlan,
    contexts: Vec<ContextFed>,
}

impl FedPlan {
    /// The contexts whose copies the plan rewrites, for the operation's outcome.
    pub fn contexts(&self) -> &[ContextFed] {
        &self.contexts
    }
}

/// An opened state directory.
pub struct State {
    dir: PathBuf,
    // Held for the life of the value: the kernel releases the lock when the process exits.
    _lock: File,
    // The directories this process created to open the state (the state directory first, then
    // its missing parents), removed again on drop if the command left nothing in them.
    created: Vec<PathBuf>,
    settings: Settings,
}

impl State {
    /// Opens `dir` for changes and takes the exclusive lock, waiting, with a message, while
    /// another dockpki holds it. With `create`, a missing directory is made (mode 0700); without,
    /// it means there is no CA yet.
    ///
    /// The directory must be trusted before anything in it is: owned by the running user or
    /// root, writable by no one else, below directories that pass the write checks. A directory
    /// that fails is refused, never `chmod`ed: only one dockpki creates gets its mode set.
    ///
    /// # Errors
    /// When `dir` is not a plain absolute path
    /// ([`check_path`](crate::fs::write::check_path)), the directory is missing (and not to be
    /// created), holds no CA (and not to be
    /// created), is not trusted, cannot be locked in time, or its journal cannot be replayed.
    pub fn open(dir: PathBuf, create: Create, settings: Settings) -> Result<State> {
        let create = create == Create::IfMissing;
        crate::fs::write::check_path(&dir)?;
        let mut created = Vec::new();
        match fs::symlink_metadata(&dir) {
            Err(e) if !create => return Err(no_state_dir(&dir, &e)),
            Ok(m) if !m.is_dir() => {
                return Err(Error::advised(
                    format!(
                        "the state path {} is not a directory; remove or rename it",
                        dir.display()
                    ),
                    Advice::StateDir,
                ))
            }
            Ok(_) if !create && !has_ca(&dir) => {
                // Nothing to do here: leave a directory that holds no CA exactly as it is
                // (no lock file, no chmod), it may not be a state directory at all.
                return Err(no_ca(&dir));
            }
            Ok(m) => {
                check_state_dir(&dir, &m)?;
            }
            Err(_) => {
                crate::fs::write::check_directory_trust(&dir.join("lock"), None)?;
                let mut missing = Some(dir.as_path());
                while let Some(d) = missing.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
                    created.push(d.to_path_buf());
                    missing = d.parent();
                }
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(DIR_MODE)
                    .create(&dir)
                    .and_then(|()| fs::set_permissions(&dir, fs::Permissions::from_mode(DIR_MODE)))
                    .map_err(|e| Error::io("create state directory", &dir, &e))?
            }
        }
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(PRIVATE_MODE)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&lock_path)
            .map_err(|e| Error::io("open lock file", &lock_path, &e))?;
        crate::fs::lock::wait_for_lock(
            &lock,
            &dir,
            &lock_path,
            settings.lock_timeout,
            settings.report.as_ref(),
        )?;
        let state = State {
            dir,
            _lock: lock,
            created,
            settings,
        };
        let report = state.settings.report.as_ref();
        let moved = journal::recover(&state.journal_path(), |j| state.replay_scope(j), report)?;
        if moved > 0 {
            report.notice(&Notice::Recovered {
                journal: state.journal_path(),
                moved,
            });
        }
        state.remove_stale_temps();
        Ok(state)
    }

    /// Under the lock, with no update pending, any staged file left in a directory this state
    /// writes is from a killed run (SIGKILL runs no cleanup): removes them. Where to look is in
    /// the staging note such a run leaves ([`WritePlan::commit_noting_staging`]), so that a
    /// state with thousands of layouts is not searched on every command.
    ///
    /// Without a note, nothing was being staged, provided every run on this state wrote notes:
    /// that holds for an inventory of version [`FORMAT_VERSION_WITH_DELTA`], which no dockpki
    /// older than the notes reads (short of a power cut during staging on a file system that
    /// does not keep the unsynced note, see [`WritePlan::commit_noting_staging`]), so then only
    /// the state directory is looked at. Any other inventory is small (or from an older dockpki, and
    /// rewritten as version 2 at its next change once large), and every directory it records is
    /// searched, as is done when the note cannot be read or trusted (emptied by a power cut, or
    /// not the running user's or root's).
    ///
    /// A note only says where to look: of the directories it lists, only those this state
    /// writes anyway ([`State::written_dirs`] of the inventory) are searched, so a note that
    /// names any other directory makes nothing go there. (A layout made by the killed run
    /// itself, `issue --out NEW`, is not recorded yet and keeps its leftovers, as before the
    /// note existed.) Each directory is then searched with the care of
    /// [`remove_stale_temps`](crate::fs::write::remove_stale_temps).
    fn remove_stale_temps(&self) {
        let note = self.staging_note_path();
        let only_noted = || {
            matches!(
                self.read_header(),
                Ok(HeaderRead::Canonical(Header {
                    version: FORMAT_VERSION_WITH_DELTA,
                    ..
                }))
            )
        };
        let dirs: BTreeSet<PathBuf> = match crate::fs::write::read_staging_note(&note) {
            Ok(Some(noted)) => {
                // Read whole only here, after a killed run: no note is the common case.
                let known = self.written_dirs(&self.load_inventory().unwrap_or_default());
                noted
                    .into_iter()
                    .filter(|d| known.contains(d))
                    .chain([self.dir.clone()])
                    .collect()
            }
            Ok(None) if only_noted() => BTreeSet::from([self.dir.clone()]),
            Ok(None) | Err(_) => self.written_dirs(&self.load_inventory().unwrap_or_default()),
        };
        for dir in dirs {
            crate::fs::write::remove_stale_temps(&dir);
        }
        // Best effort: a note that stays only makes the next command look again.
        let _ = crate::fs::write::remove_staging_note(&note);
    }

    /// Every directory an update of this state may write into: the state directory, its
    /// archive, and the layouts and docker-context directories `inventory` records.
    fn written_dirs(&self, inventory: &Inventory) -> BTreeSet<PathBuf> {
        let mut dirs = BTreeSet::from([self.dir.clone(), self.archive_dir()]);
        for r in &inventory.certificates {
            dirs.extend(r.installed.iter().cloned());
            // Where `dockpki sign` delivered a certificate: written by the same journaled update
            // that recorded it.
            dirs.extend(r.remote.iter().map(|remote| remote.out.clone()));
        }
        for c in &inventory.contexts {
            dirs.insert(crate::docker::context::meta_dir(&c.docker_config, &c.name));
            dirs.insert(crate::docker::context::tls_dir(&c.docker_config, &c.name));
        }
        dirs
    }

    /// Where the state's journal may act when it is replayed: [`State::written_dirs`] of the
    /// inventory on disk and of the inventory the journal installs (an interrupted `issue
    /// --out NEW` records NEW only in the new one). A damaged inventory on disk adds nothing.
    fn replay_scope(&self, journal: &journal::Journal) -> Result<journal::Scope> {
        let (path, delta_path) = (self.inventory_path(), self.inventory_delta_path());
        let mut dirs = self.written_dirs(&self.load_inventory().unwrap_or_default());
        for m in journal.moves.iter() {
            if m.target != path && m.target != delta_path {
                continue;
            }
            if m.target == path {
                if let Some(bytes) =
                    reader::read_optional(&m.temp, Links::Refuse, Limit::Inventory)?
                {
                    dirs.extend(self.written_dirs(&Inventory::parse(&m.temp, &bytes)?));
                }
            } else if let Some(delta) = read_delta(&m.temp)? {
                let added = Inventory {
                    certificates: delta.certificates,
                    ..Inventory::default()
                };
                dirs.extend(self.written_dirs(&added));
            }
        }
        Ok(journal::Scope::State {
            state: self.dir.clone(),
            archive: self.archive_dir(),
            dirs,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `ca.pem`.
    pub fn ca_cert_path(&self) -> PathBuf {
        self.dir.join(CA_CERT)
    }

    /// `ca-key.pem`.
    pub fn ca_key_path(&self) -> PathBuf {
        self.dir.join(CA_KEY)
    }

    /// `journal.json`: present only while an update is being moved into place.
    pub fn journal_path(&self) -> PathBuf {
        self.dir.join("journal.json")
    }

    /// Writes `plan` crash-safely through this state's journal, with the copies its docker
    /// contexts need in the same journaled update. A plan is written only once it went through
    /// [`State::feed_contexts`] (that is what [`FedPlan`] proves), so no update rewrites a client
    /// layout and leaves the contexts copying it behind.
    ///
    /// # Errors
    /// As [`WritePlan::commit`].
    pub fn commit(&self, plan: FedPlan) -> Result<Vec<Written>> {
        plan.plan.commit_noting_staging(
            &self.journal_path(),
            Some(&self.staging_note_path()),
            self.settings.report.as_ref(),
        )
    }

    /// `staging.json`: present only while an update stages files, listing where (see
    /// [`WritePlan::commit_noting_staging`]).
    pub fn staging_note_path(&self) -> PathBuf {
        self.dir.join("staging.json")
    }

    /// The settings this state was opened with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The step of every update that feeds the docker contexts dockpki made: adds to `plan`
    /// the copies of whatever client files it rewrites for each context that copies them (see
    /// [`crate::docker::context::mirror_client_files`]), and returns the plan, now one
    /// [`State::commit`] writes, with the contexts fed. The contexts are those of the inventory
    /// the plan writes, else of the one on disk. Run it last: the plan cannot change after.
    ///
    /// # Errors
    /// When the inventory cannot be read (or the one planned cannot be parsed).
    pub fn feed_contexts(&self, plan: WritePlan) -> Result<FedPlan> {
        let path = self.inventory_path();
        // The delta records certificates only: the contexts are the inventory file's, read from
        // its first line when dockpki wrote it.
        let contexts = match plan.planned(&path) {
            Some((bytes, _)) => match Header::parse(first_line(bytes)) {
                Some(header) => header.contexts,
                None => Inventory::parse(&path, bytes)?.contexts,
            },
            None => match self.read_header()? {
                HeaderRead::Missing => Vec::new(),
                HeaderRead::Canonical(header) => header.contexts,
                HeaderRead::Other => self.load_inventory()?.contexts,
            },
        };
        Ok(self.feed_contexts_of(plan, &contexts))
    }

    /// [`State::feed_contexts`] of the contexts given, for a caller that plans the inventory
    /// recording them only later (see [`State::commit_skipping_unwritable`]).
    pub fn feed_contexts_of(&self, mut plan: WritePlan, contexts: &[ContextRecord]) -> FedPlan {
        let contexts =
            crate::docker::context::mirror_client_files(&mut plan, contexts, &self.settings.owners);
        FedPlan { plan, contexts }
    }

    /// Like [`State::commit`], for a batch renewal: a layout directory that cannot be written
    /// (see [`WritePlan::drop_unwritable_layouts`]) is left out instead of stopping the whole
    /// update, and returned with the reason. `replan` runs once the layouts are judged, before
    /// the rest is checked (see [`WritePlan::commit_dropping_unwritable`]): given the plan and
    /// the directories left out, it plans the state's files that depend on them (the inventory:
    /// [`State::plan_inventory`]) and returns more directories to leave out, with the reason.
    /// It runs after [`State::feed_contexts`], so it must plan no client file a context copies;
    /// the state's own files are none.
    ///
    /// # Errors
    /// As [`State::commit`], and `replan`'s error; nothing is written then.
    pub fn commit_skipping_unwritable(
        &self,
        plan: FedPlan,
        replan: impl FnOnce(&mut WritePlan, &[Skipped]) -> Result<Vec<Skipped>>,
    ) -> Result<(Vec<Written>, Vec<Skipped>)> {
        plan.plan.commit_dropping_unwritable(
            &self.dir,
            &self.journal_path(),
            Some(&self.staging_note_path()),
            self.settings.report.as_ref(),
            replan,
        )
    }

    /// `inventory.json`.
    pub fn inventory_path(&self) -> PathBuf {
        self.dir.join("inventory.json")
    }

    /// `inventory.delta.json`: the certificates issued since `inventory.json` was last written
    /// whole, once it is large (see [`Delta`]).
    pub fn inventory_delta_path(&self) -> PathBuf {
        self.dir.join("inventory.delta.json")
    }

    /// The first line of `inventory.json`, read alone.
    fn read_header(&self) -> Result<HeaderRead> {
        use std::io::{BufRead, Read};
        let path = self.inventory_path();
        let file = match reader::open(&path, Links::Refuse, Limit::Inventory) {
            Ok(file) => file,
            Err(reader::ReadError::NotFound(_)) => return Ok(HeaderRead::Missing),
            Err(reader::ReadError::Refused(e)) => return Err(e),
        };
        let mut line = Vec::new();
        std::io::BufReader::new(file.take(HEADER_LIMIT))
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io("read", &path, &e))?;
        Ok(match Header::parse(&line) {
            Some(header) => HeaderRead::Canonical(header),
            None => HeaderRead::Other,
        })
    }

    /// Whether a CA (certificate or key) is present.
    pub fn has_ca(&self) -> bool {
        has_ca(&self.dir)
    }

    /// `ca-next.pem`: the new CA while a rotation is in progress (`dockpki ca rotate begin`
    /// until `finish`). Its presence is the whole record of the rotation: it appears and
    /// becomes `ca.pem` in journaled updates, so a crash never leaves a half-begun rotation.
    pub fn ca_next_cert_path(&self) -> PathBuf {
        self.dir.join(CA_NEXT_CERT)
    }

    /// `ca-next-key.pem`: the key of [`State::ca_next_cert_path`].
    pub fn ca_next_key_path(&self) -> PathBuf {
        self.dir.join(CA_NEXT_KEY)
    }

    /// `archive/`: CAs retired by `dockpki ca rotate finish` or abandoned by `dockpki ca rotate
    /// abort`.
    pub fn archive_dir(&self) -> PathBuf {
        self.dir.join("archive")
    }

    /// Whether a CA rotation is in progress (a new CA waits in `ca-next*.pem`).
    pub fn rotating(&self) -> bool {
        self.ca_next_cert_path().exists() || self.ca_next_key_path().exists()
    }

    /// Loads the CA that signs new certificates, explaining what to do when it is missing or
    /// broken: during a rotation the new CA, so that every certificate issued from `begin` on
    /// already survives `finish`.
    ///
    /// # Errors
    /// As [`State::load_current_ca`] or [`State::load_next_ca`].
    pub fn load_ca(&self) -> Result<CertificateAuthority> {
        if self.rotating() {
            self.load_next_ca()
        } else {
            self.load_current_ca()
        }
    }

    /// Loads the current CA (`ca.pem`), the old one during a rotation.
    ///
    /// # Errors
    /// When there is no CA, the key file is refused, or the key is encrypted and no
    /// passphrase (or a wrong one) was given.
    pub fn load_current_ca(&self) -> Result<CertificateAuthority> {
        if !self.has_ca() {
            return Err(no_ca(&self.dir));
        }
        self.load_pair(&self.ca_cert_path(), &self.ca_key_path())
    }

    /// Loads the new CA of a rotation in progress (`ca-next.pem`).
    ///
    /// # Errors
    /// As [`State::load_current_ca`], for `ca-next*.pem`.
    pub fn load_next_ca(&self) -> Result<CertificateAuthority> {
        self.load_pair(&self.ca_next_cert_path(), &self.ca_next_key_path())
            .map_err(|e| e.context("the CA rotation in progress"))
    }

    /// The one place a CA key is read: the file must pass [`ca_key::read_ca_key`]'s ownership
    /// and mode checks, and an encrypted key is decrypted with the passphrase from the
    /// settings' [`Passphrases`].
    fn load_pair(&self, cert_path: &Path, key_path: &Path) -> Result<CertificateAuthority> {
        // Name the file the error is about: an empty or damaged key must not send the operator
        // to the certificate.
        let context = |e: dockpki::Error| {
            let what = match &e {
                dockpki::Error::Pem { expected, .. } if *expected == "certificate" => {
                    format!("loading the CA certificate {}", cert_path.display())
                }
                dockpki::Error::NotACa { .. } => {
                    format!("loading the CA certificate {}", cert_path.display())
                }
                dockpki::Error::Pem { .. }
                | dockpki::Error::EncryptedKey
                | dockpki::Error::WrongPassphrase
                | dockpki::Error::UnsupportedKey { .. } => {
                    format!("loading the CA key {}", key_path.display())
                }
                _ => format!(
                    "loading the CA from {} and {}",
                    cert_path.display(),
                    key_path.display()
                ),
            };
            Error::from(e).context(what)
        };
        let cert = read(cert_path)?;
        let key = ca_key::read_ca_key(
            key_path,
            self.settings.key_perms,
            self.settings.report.as_ref(),
        )?;
        if dockpki::PrivateKey::is_encrypted_pem(&key) {
            let pass = self.settings.passphrases.passphrase(Purpose::Unlock)?;
            CertificateAuthority::load_encrypted(&cert, &key, &pass).map_err(context)
        } else {
            CertificateAuthority::load(&cert, &key).map_err(context)
        }
    }

    /// What the CA certificate at `path` says, without its key (which may be encrypted).
    ///
    /// # Errors
    /// When the file is refused by the reader or is not a certificate.
    pub fn cert_info(&self, path: &Path) -> Result<dockpki::CertInfo> {
        dockpki::inspect(&ca_cert(path)?).map_err(|e| ca_cert_context(path, e))
    }

    /// The current CA's certificate (`ca.pem`, the old CA during a rotation) as PEM, read
    /// without its key (which may be encrypted): the bundle that trusts it alone.
    ///
    /// # Errors
    /// When the file is refused by the reader or holds no certificate.
    pub fn current_ca_pem(&self) -> Result<String> {
        Ok(dockpki::trust_bundle_pem(&[ca_cert(
            &self.ca_cert_path(),
        )?])?)
    }

    /// Whether the current CA's key (`ca-key.pem`) is stored encrypted.
    ///
    /// # Errors
    /// When the key file cannot be read.
    pub fn key_protection(&self) -> Result<KeyProtection> {
        let path = self.ca_key_path();
        let key = read(&path)?;
        Ok(if dockpki::PrivateKey::is_encrypted_pem(&key) {
            KeyProtection::Encrypted
        } else {
            KeyProtection::Plain
        })
    }

    /// The CA bundle to install as `ca.pem` in every layout: the PEM of every CA whose
    /// certificates must be trusted now, `signing` among them. During a rotation that is the
    /// old CA followed by the new one (order does not matter to Go or openssl; old first keeps
    /// the bundle growing at its end), so old and new leaves are accepted everywhere.
    ///
    /// # Errors
    /// When a CA certificate of the state cannot be read.
    pub fn trust_bundle_pem(&self, signing: &CertificateAuthority) -> Result<String> {
        self.bundle_for(signing.cert_der())
    }

    /// The certificate of the CA that signs new certificates ([`State::load_ca`]'s: the new CA
    /// during a rotation), read without its key (which may be encrypted).
    ///
    /// # Errors
    /// When there is no CA, or the file is refused by the reader or holds no certificate.
    pub fn signing_ca_cert(&self) -> Result<CertificateDer<'static>> {
        if self.rotating() {
            ca_cert(&self.ca_next_cert_path())
        } else if self.has_ca() {
            ca_cert(&self.ca_cert_path())
        } else {
            Err(no_ca(&self.dir))
        }
    }

    /// [`State::trust_bundle_pem`] of the signing CA, the same bytes, read from the CA
    /// certificates alone: no CA key is loaded (no passphrase asked for).
    ///
    /// # Errors
    /// As [`State::signing_ca_cert`], for every CA certificate of the state.
    pub fn signing_trust_bundle_pem(&self) -> Result<String> {
        self.bundle_for(&self.signing_ca_cert()?)
    }

    /// The trust bundle to install next to a certificate `signing` signs: that CA alone, or
    /// during a rotation the old and the new CA (certificates only: loading both CAs again
    /// would re-check their keys, and decrypt an encrypted CA key a second and a third time).
    fn bundle_for(&self, signing: &CertificateDer<'static>) -> Result<String> {
        if !self.rotating() {
            return Ok(dockpki::cert_to_pem(signing));
        }
        Ok(dockpki::trust_bundle_pem(&[
            ca_cert(&self.ca_cert_path())?,
            ca_cert(&self.ca_next_cert_path())?,
            signing.clone(),
        ])?)
    }

    /// Adds a rotation's new CA to `plan` as `ca-next*.pem`, its key protected like the current
    /// CA's (an encrypted CA is succeeded by one encrypted under the same passphrase).
    ///
    /// # Errors
    /// When the current key's protection cannot be read, or encrypting the new key fails.
    pub fn plan_next_ca(&self, plan: &mut WritePlan, ca: &CertificateAuthority) -> Result<()> {
        plan.cert(self.ca_next_cert_path(), ca.cert_pem(), None);
        plan.key(
            self.ca_next_key_path(),
            self.ca_key_pem(ca, self.key_protection()?)?,
            None,
        );
        Ok(())
    }

    /// Loads the inventory: `inventory.json` and, once it is large, the certificates issued
    /// since it was written ([`Delta`]); a missing file is an empty inventory.
    ///
    /// # Errors
    /// When either file is damaged, of an unknown version, or cannot be read.
    pub fn load_inventory(&self) -> Result<Inventory> {
        inventory_in(&self.dir)
    }

    /// Adds the CA's files to `plan`.
    ///
    /// # Errors
    /// When the key cannot be encrypted (no passphrase).
    pub fn plan_ca(
        &self,
        plan: &mut WritePlan,
        ca: &CertificateAuthority,
        protection: KeyProtection,
    ) -> Result<()> {
        plan.cert(self.ca_cert_path(), ca.cert_pem(), None);
        plan.key(self.ca_key_path(), self.ca_key_pem(ca, protection)?, None);
        Ok(())
    }

    /// The CA key's PEM in the requested form; encrypting asks the settings' [`Passphrases`]
    /// for a new passphrase (a source hands out the one it already gave, if any).
    ///
    /// # Errors
    /// When no passphrase can be had, or encryption fails.
    pub fn ca_key_pem(
        &self,
        ca: &CertificateAuthority,
        protection: KeyProtection,
    ) -> Result<zeroize::Zeroizing<String>> {
        match protection {
            KeyProtection::Plain => Ok(ca.key_pem()),
            KeyProtection::Encrypted => {
                let pass = self
                    .settings
                    .passphrases
                    .passphrase(Purpose::NewPassphrase)?;
                Ok(ca.encrypted_key_pem(&pass)?)
            }
        }
    }

    /// Adds the whole inventory to `plan`: version [`FORMAT_VERSION`](crate::store::inventory::FORMAT_VERSION) while it is small, else
    /// version [`FORMAT_VERSION_WITH_DELTA`] with a new id, and then a delta left by earlier
    /// updates is emptied in the same update (its certificates are in `inventory`).
    ///
    /// # Errors
    /// When the inventory cannot be written as JSON, or no random id can be drawn.
    pub fn plan_inventory(&self, plan: &mut WritePlan, inventory: &Inventory) -> Result<()> {
        let whole = inventory.to_bytes()?;
        let delta_path = self.inventory_delta_path();
        let has_delta = fs::symlink_metadata(&delta_path).is_ok();
        if whole.len() < DELTA_FROM_BYTES && !has_delta {
            plan.state(self.inventory_path(), whole);
            return Ok(());
        }
        let id = new_id()?;
        plan.state(
            self.inventory_path(),
            inventory.to_bytes_with_id(Some(&id))?,
        );
        if has_delta {
            plan.state(delta_path, Delta::empty(&id).to_bytes()?);
        }
        Ok(())
    }

    /// Adds to `plan` the recording of a newly issued certificate, as loading the inventory,
    /// [`Inventory::add`] and [`State::plan_inventory`] would, but without reading or writing
    /// the whole inventory once it is large: the record goes into the delta file, until that
    /// reaches [`DELTA_LIMIT_BYTES`] and the whole inventory is written again.
    ///
    /// # Errors
    /// When the inventory (or its delta) is damaged or cannot be read, or cannot be written.
    pub fn plan_added_record(&self, plan: &mut WritePlan, record: Record) -> Result<()> {
        if let HeaderRead::Canonical(Header {
            version: FORMAT_VERSION_WITH_DELTA,
            id: Some(id),
            ..
        }) = self.read_header()?
        {
            let path = self.inventory_delta_path();
            let mut delta = read_delta(&path)?.unwrap_or_else(|| Delta::empty(&id));
            if delta.snapshot != id {
                // A delta of another inventory file (restored from a backup since): not ours.
                delta = Delta::empty(&id);
            }
            delta.certificates.push(record.clone());
            let bytes = delta.to_bytes()?;
            if bytes.len() <= DELTA_LIMIT_BYTES {
                plan.state(path, bytes);
                return Ok(());
            }
        }
        let mut inventory = self.load_inventory()?;
        inventory.add(record);
        self.plan_inventory(plan, &inventory)
    }
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Drop for State {
    /// A failed command must leave nothing behind: a state directory this process created and
    /// that holds nothing but the lock file is removed again, with the parents created for it.
    fn drop(&mut self) {
        if self.created.is_empty() {
            return;
        }
        let only_lock = fs::read_dir(&self.dir)
            .map(|entries| entries.flatten().all(|e| e.file_name() == "lock"))
            .unwrap_or(false);
        if only_lock {
            let _ = fs::remove_file(self.dir.join("lock"));
            for dir in &self.created {
                let _ = fs::remove_dir(dir);
            }
        }
    }
}

/// How a CA key is stored in the state directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyProtection {
    /// PKCS#8 `PRIVATE KEY`, protected by its mode (0400) only.
    Plain,
    /// PKCS#8 `ENCRYPTED PRIVATE KEY` under a passphrase (`ca init --encrypt`, `ca encrypt`).
    Encrypted,
}

/// Refuses an existing state directory anyone but the running user or root could change: its
/// owner and whoever may write to it could plant a journal, an inventory or a CA that a root
/// dockpki would act on.
fn check_state_dir(dir: &Path, m: &fs::Metadata) -> Result<()> {
    let me = nix::unistd::geteuid().as_raw();
    if m.uid() != me && m.uid() != 0 {
        return Err(Error::advised(
            format!(
                "refusing to use the state directory {} because it is owned by uid {}, not by you (uid {me}) or root, who could plant files dockpki would act on; chown it to yourself",
                dir.display(),
                m.uid()
            ),
            Advice::StateDir,
        ));
    }
    let mode = m.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(Error::new(format!(
            "refusing to use the state directory {} because it is writable by group or others (mode {mode:04o}), who could plant files dockpki would act on; run `chmod 700 {}`",
            dir.display(),
            crate::text::shell_quote(&dir.display().to_string())
        )));
    }
    crate::fs::write::check_directory_trust(&dir.join("lock"), None)
}

fn has_ca(dir: &Path) -> bool {
    dir.join(CA_CERT).exists() || dir.join(CA_KEY).exists()
}

/// Why `dir` holds no CA as far as [`has_ca`] can tell. `exists()` is false for a file that
/// cannot be looked at too, so a state directory this user may not search (another user's, say
/// root's under `sudo`) is reported as such, not as an empty one.
fn no_ca(dir: &Path) -> Error {
    for name in [CA_CERT, CA_KEY] {
        if let Err(e) = fs::symlink_metadata(dir.join(name)) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return unreadable_state(dir, &e);
            }
        }
    }
    Error::advised(format!("no CA in {}", dir.display()), Advice::CreateCa)
}

/// The state directory `dir` could not be looked at (`e`): missing means no CA yet; anything
/// else (a parent this user may not search) is said as it is.
fn no_state_dir(dir: &Path, e: &std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        return Error::advised(
            format!("no CA in {} (the directory does not exist)", dir.display()),
            Advice::CreateCa,
        );
    }
    unreadable_state(dir, e)
}

/// The state directory exists (or may) but this user cannot look into it.
fn unreadable_state(dir: &Path, e: &std::io::Error) -> Error {
    let owner = fs::metadata(dir)
        .map(|m| format!("it belongs to uid {}, ", m.uid()))
        .unwrap_or_default();
    Error::advised(
        format!(
            "cannot read the state directory {}: {e}; {owner}run dockpki as the user who owns it (e.g. with sudo)",
            dir.display()
        ),
        Advice::StateDir,
    )
}

/// How long [`Settings::default`] waits for another process on the same state: long enough
/// for any RSA-4096 renewal run, short enough that a cron job stuck behind a hung one fails
/// visibly instead of piling up.
pub const DEFAULT_LOCK_TIMEOUT_SECS: u64 = 300;

/// The CA certificate in the file at `path` (its first certificate), without its key.
fn ca_cert(path: &Path) -> Result<CertificateDer<'static>> {
    let mut certs = dockpki::certs_from_pem(&read(path)?).map_err(|e| ca_cert_context(path, e))?;
    Ok(certs.swap_remove(0))
}

fn ca_cert_context(path: &Path, e: dockpki::Error) -> Error {
    Error::from(e).context(format!("reading the CA certificate {}", path.display()))
}

/// Reads a PEM file of the state directory (never through a symlink: dockpki makes none there).
///
/// # Errors
/// When the file is missing, a symlink, not a regular file, or too large.
pub fn read(path: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    reader::read(path, Links::Refuse, Limit::Pem)
}

/// The inventory of the state directory `dir`, read without taking its lock: for read-only
/// callers that must not wait for a running update (`State::load_inventory` is the same read
/// under the lock). A missing inventory is an empty one.
///
/// # Errors
/// As [`State::load_inventory`].
pub fn inventory_in(dir: &Path) -> Result<Inventory> {
    // The delta before the inventory: a fold renames the inventory first and the emptied delta
    // second, so a delta read first never belongs to a newer inventory than the one read after
    // it. Read the other way round, a reader without the lock could pair the old inventory with
    // the new empty delta and lose what the old delta held (review finding).
    let delta = read_delta(&dir.join("inventory.delta.json"));
    let path = dir.join("inventory.json");
    let Some(bytes) = reader::read_optional(&path, Links::Refuse, Limit::Inventory)? else {
        return Ok(Inventory::default());
    };
    let (mut inventory, id) = Inventory::parse_with_id(&path, &bytes)?;
    if let Some(id) = id {
        if let Some(delta) = delta? {
            if delta.snapshot == id {
                inventory.apply(delta);
            }
        }
    }
    Ok(inventory)
}

/// How much of a delta file is read: dockpki never writes one past [`DELTA_LIMIT_BYTES`]
/// (64 KiB), so a larger one is not its own, and is refused before it is read whole.
const DELTA_READ_LIMIT: Limit = Limit::Config;

/// The delta file at `path` (or a staged one), if there is one.
fn read_delta(path: &Path) -> Result<Option<Delta>> {
    reader::read_optional(path, Links::Refuse, DELTA_READ_LIMIT)?
        .map(|bytes| Delta::parse(path, &bytes))
        .transpose()
}

/// How much of `inventory.json` is read for its first line ([`Header`]): far more than any
/// number of docker contexts takes; a longer line is read with the whole file instead.
const HEADER_LIMIT: u64 = 1 << 20;

/// What the first line of `inventory.json` is.
enum HeaderRead {
    /// There is no inventory yet.
    Missing,
    /// The header dockpki writes.
    Canonical(Header),
    /// Anything else (an inventory written by an older dockpki, or edited by hand): read whole.
    Other,
}

/// `bytes` up to and including the first newline.
fn first_line(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|&b| b == b'\n') {
        Some(end) => &bytes[..=end],
        None => bytes,
    }
}

/// A new random id for an inventory file of version [`FORMAT_VERSION_WITH_DELTA`] (128 bits,
/// hex): a delta names it, and a file restored from a backup has another one.
fn new_id() -> Result<String> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| Error::new("cannot draw a random id for the inventory; retry"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::journal::{Journal, Move, JOURNAL_VERSION};
    use crate::fs::write::{temp_path, write_new, Existing};
    use crate::store::inventory::{Status, FORMAT_VERSION};
    use dockpki::{KeyType, OffsetDateTime, Usage};

    struct Scene {
        root: tempfile::TempDir,
        state: State,
    }

    impl Scene {
        fn new() -> Scene {
            let root = tempfile::tempdir().unwrap();
            let state = State::open(
                root.path().join("state"),
                Create::IfMissing,
                Settings::default(),
            )
            .unwrap();
            Scene { root, state }
        }
        fn layout(&self, i: usize) -> PathBuf {
            self.root.path().join(format!("l{i}"))
        }
        /// A record of a client certificate installed in layout `dir` (not a real certificate:
        /// the inventory only stores what it is told).
        fn record(&self, i: usize, dir: usize) -> Record {
            let t = OffsetDateTime::UNIX_EPOCH;
            Record {
                serial: format!("{i:032x}"),
                kind: Usage::Client,
                common_name: Some(format!("client-{i}")),
                sans: Vec::new(),
                not_before: t,
                not_after: t,
                sha256: "AB:".repeat(31) + "AB",
                key_type: Some(KeyType::EcdsaP256),
                ca_sha256: "CD:".repeat(31) + "CD",
                installed: vec![self.layout(dir)],
                status: Status::Active,
                revoked_at: None,
                revocation_reason: None,
                remote: None,
            }
        }
        /// An inventory of `n` certificates in layouts 0..n.
        fn inventory(&self, n: usize) -> Inventory {
            Inventory {
                certificates: (0..n).map(|i| self.record(i, i)).collect(),
                ..Inventory::default()
            }
        }
        fn write(&self, inventory: &Inventory) {
            let mut plan = WritePlan::new(Existing::Refuse);
            self.state.plan_inventory(&mut plan, inventory).unwrap();
            self.state
                .commit(self.state.feed_contexts(plan).unwrap())
                .unwrap();
        }
        fn add(&self, record: Record) {
            let mut plan = WritePlan::new(Existing::Refuse);
            self.state.plan_added_record(&mut plan, record).unwrap();
            self.state
                .commit(self.state.feed_contexts(plan).unwrap())
                .unwrap();
        }
        fn file(&self, name: &str) -> Vec<u8> {
            fs::read(self.state.dir().join(name)).unwrap()
        }
        fn header(&self) -> Header {
            Header::parse(first_line(&self.file("inventory.json"))).expect("a header")
        }
        fn reopen(self) -> Scene {
            let Scene { root, state } = self;
            let dir = state.dir().to_path_buf();
            drop(state);
            let state = State::open(dir, Create::IfMissing, Settings::default()).unwrap();
            Scene { root, state }
        }
    }

    /// Enough certificates for the inventory file to pass [`DELTA_FROM_BYTES`].
    const LARGE: usize = 400;

    #[test]
    fn a_small_inventory_is_written_whole_as_version_1_every_time() {
        let s = Scene::new();
        s.write(&s.inventory(3));
        s.add(s.record(3, 0));
        let header = s.header();
        assert_eq!((header.version, header.id), (FORMAT_VERSION, None));
        assert!(!s.state.inventory_delta_path().exists());
        let inv = s.state.load_inventory().unwrap();
        assert_eq!(inv.certificates.len(), 4);
        assert_eq!(inv.certificates[0].status, Status::Superseded);
        // The file alone says so, for tools that read it.
        let on_disk = Inventory::parse(&s.state.inventory_path(), &s.file("inventory.json"));
        assert_eq!(on_disk.unwrap().certificates[0].status, Status::Superseded);
    }

    #[test]
    fn a_large_inventory_records_new_certificates_in_its_delta_only() {
        let s = Scene::new();
        s.write(&s.inventory(LARGE));
        let header = s.header();
        assert_eq!(header.version, FORMAT_VERSION_WITH_DELTA);
        let before = s.file("inventory.json");
        // Re-issued into layout 0 (superseding certificate 0), then a new layout.
        s.add(s.record(LARGE, 0));
        s.add(s.record(LARGE + 1, LARGE + 1));
        assert_eq!(
            s.file("inventory.json"),
            before,
            "the large file is not rewritten"
        );
        let delta = Delta::parse(Path::new("d"), &s.file("inventory.delta.json")).unwrap();
        assert_eq!(delta.snapshot, header.id.unwrap());
        assert_eq!(delta.certificates.len(), 2);
        let inv = s.state.load_inventory().unwrap();
        assert_eq!(inv.certificates.len(), LARGE + 2);
        assert_eq!(inv.certificates[0].status, Status::Superseded);
        assert_eq!(inv.certificates[LARGE].status, Status::Active);
        assert_eq!(inv.certificates[LARGE + 1].installed, [s.layout(LARGE + 1)]);
        // Read without the lock, the same.
        let unlocked = inventory_in(s.state.dir()).unwrap();
        assert_eq!(unlocked.certificates.len(), LARGE + 2);
    }

    #[test]
    fn a_delta_about_to_pass_its_limit_is_folded_into_a_new_inventory_file() {
        let s = Scene::new();
        s.write(&s.inventory(LARGE));
        let first_id = s.header().id.unwrap();
        let mut added = 0;
        while s.header().id.as_deref() == Some(first_id.as_str()) {
            s.add(s.record(LARGE + added, LARGE + added));
            added += 1;
            assert!(added < 1000, "the delta never folded");
            let delta_len = s.file("inventory.delta.json").len();
            assert!(delta_len <= DELTA_LIMIT_BYTES, "{delta_len}");
        }
        let delta = Delta::parse(Path::new("d"), &s.file("inventory.delta.json")).unwrap();
        assert!(delta.certificates.is_empty(), "emptied with the fold");
        assert_eq!(Some(delta.snapshot), s.header().id);
        let whole = Inventory::parse(&s.state.inventory_path(), &s.file("inventory.json"));
        assert_eq!(whole.unwrap().certificates.len(), LARGE + added);
        assert_eq!(
            s.state.load_inventory().unwrap().certificates.len(),
            LARGE + added
        );
    }

    #[test]
    fn a_delta_of_another_inventory_file_is_left_out() {
        let s = Scene::new();
        s.write(&s.inventory(LARGE));
        let old_file = s.file("inventory.json");
        s.add(s.record(LARGE, LARGE));
        // The operator puts back the file from before the delta existed, written with another
        // id (as a backup from before the last fold would be).
        let mut restored = s.inventory(LARGE);
        restored.certificates.pop();
        s.write(&restored);
        fs::write(s.state.dir().join("inventory.json"), &old_file).unwrap();
        let stale = Delta {
            version: FORMAT_VERSION_WITH_DELTA,
            snapshot: "another".into(),
            certificates: vec![s.record(LARGE, LARGE)],
        };
        fs::write(s.state.inventory_delta_path(), stale.to_bytes().unwrap()).unwrap();
        assert_eq!(s.state.load_inventory().unwrap().certificates.len(), LARGE);
        // The next certificate starts a delta of the file that is there; the one it replaces
        // is kept, as every replaced state file is.
        s.add(s.record(LARGE + 1, LARGE + 1));
        assert_eq!(
            s.file("inventory.delta.json.bak"),
            stale.to_bytes().unwrap()
        );
        let inv = s.state.load_inventory().unwrap();
        assert_eq!(inv.certificates.len(), LARGE + 1);
        assert_eq!(
            inv.certificates[LARGE].serial,
            format!("{:032x}", LARGE + 1)
        );
    }

    #[test]
    fn an_inventory_written_by_an_older_dockpki_is_read_and_rewritten_on_its_first_change() {
        for (n, version) in [(3, FORMAT_VERSION), (LARGE, FORMAT_VERSION_WITH_DELTA)] {
            let s = Scene::new();
            // Pretty JSON, `contexts` last and left out when empty: what dockpki wrote before.
            let mut old = s.inventory(n);
            old.contexts.push(ContextRecord {
                name: "remote".into(),
                docker_config: s.root.path().join("docker"),
                client_dir: s.layout(0),
                host: "tcp://example.com:2376".into(),
                description: None,
            });
            let mut bytes = serde_json::to_vec_pretty(&old).unwrap();
            bytes.push(b'\n');
            fs::write(s.state.inventory_path(), &bytes).unwrap();
            assert_eq!(s.state.load_inventory().unwrap().certificates.len(), n);
            s.add(s.record(n, n));
            let header = s.header();
            assert_eq!(header.version, version, "{n} certificates");
            assert_eq!(header.contexts, old.contexts, "{n} certificates");
            let inv = s.state.load_inventory().unwrap();
            assert_eq!(inv.certificates.len(), n + 1);
            assert!(!s.state.inventory_delta_path().exists(), "written whole");
        }
    }

    #[test]
    fn a_large_state_looks_for_staged_leftovers_where_its_note_says_and_a_small_one_everywhere() {
        for (n, searched_without_note) in [(3, true), (LARGE, false)] {
            let s = Scene::new();
            s.write(&s.inventory(n));
            let dir = s.layout(1);
            fs::create_dir(&dir).unwrap();
            let dead = crate::test_support::dead_pid();
            let leftover = dir.join(format!(".key.pem.dockpki-{dead}-1.tmp"));
            fs::write(&leftover, "k").unwrap();
            let s = s.reopen();
            assert_eq!(
                !leftover.exists(),
                searched_without_note,
                "{n} certificates"
            );
            fs::write(&leftover, "k").unwrap();
            fs::write(
                s.state.staging_note_path(),
                serde_json::to_vec(&[&dir]).unwrap(),
            )
            .unwrap();
            let s = s.reopen();
            assert!(!leftover.exists(), "{n} certificates, noted");
            assert!(!s.state.staging_note_path().exists());
        }
    }

    /// A note says where to look, never what may go: a directory it names that the state does
    /// not write keeps its files, and a note someone else could have written is not followed
    /// at all (every directory the state writes is searched instead).
    #[test]
    fn a_staging_note_only_ever_narrows_the_search_to_directories_the_state_writes() {
        use std::os::unix::fs::PermissionsExt;
        let s = Scene::new();
        s.write(&s.inventory(LARGE));
        let dead = crate::test_support::dead_pid();
        let leftover_in = |dir: &Path| {
            fs::create_dir_all(dir).unwrap();
            let path = dir.join(format!(".key.pem.dockpki-{dead}-1.tmp"));
            fs::write(&path, "k").unwrap();
            path
        };
        let recorded = leftover_in(&s.layout(1));
        let elsewhere = leftover_in(&s.root.path().join("elsewhere"));
        let note = |s: &Scene, dirs: &[&Path]| {
            fs::write(
                s.state.staging_note_path(),
                serde_json::to_vec(dirs).unwrap(),
            )
            .unwrap();
        };
        note(&s, &[&s.layout(1), &s.root.path().join("elsewhere")]);
        let s = s.reopen();
        assert!(!recorded.exists(), "a recorded layout the note names");
        assert!(elsewhere.exists(), "a directory the state does not write");
        assert!(!s.state.staging_note_path().exists());

        // A note others may write, or one that is a link, is not trusted: every directory the
        // state writes is searched, and still nothing elsewhere.
        let recorded = leftover_in(&s.layout(2));
        note(&s, &[&s.root.path().join("elsewhere")]);
        fs::set_permissions(
            s.state.staging_note_path(),
            fs::Permissions::from_mode(0o666),
        )
        .unwrap();
        assert!(crate::fs::write::read_staging_note(&s.state.staging_note_path()).is_err());
        let s = s.reopen();
        assert!(!recorded.exists() && elsewhere.exists());
        let recorded = leftover_in(&s.layout(3));
        let real_note = s.root.path().join("note.json");
        fs::write(
            &real_note,
            serde_json::to_vec(&[s.root.path().join("elsewhere")]).unwrap(),
        )
        .unwrap();
        std::os::unix::fs::symlink(&real_note, s.state.staging_note_path()).unwrap();
        assert!(crate::fs::write::read_staging_note(&s.state.staging_note_path()).is_err());
        let s = s.reopen();
        assert!(!recorded.exists() && elsewhere.exists());
        if crate::test_support::root_or_skip() {
            let recorded = leftover_in(&s.layout(4));
            note(&s, &[&s.root.path().join("elsewhere")]);
            std::os::unix::fs::chown(s.state.staging_note_path(), Some(65534), Some(65534))
                .unwrap();
            let e = crate::fs::write::read_staging_note(&s.state.staging_note_path())
                .unwrap_err()
                .to_string();
            assert!(e.contains("owned by uid 65534"), "{e}");
            let _s = s.reopen();
            assert!(!recorded.exists() && elsewhere.exists());
        }
    }

    #[test]
    fn a_large_inventorys_contexts_get_copies_of_a_certificate_recorded_in_the_delta() {
        let s = Scene::new();
        let mut inv = s.inventory(LARGE);
        let config = s.root.path().join("docker");
        inv.contexts.push(ContextRecord {
            name: "remote".into(),
            docker_config: config.clone(),
            client_dir: s.layout(0),
            host: "tcp://example.com:2376".into(),
            description: None,
        });
        s.write(&inv);
        // A context docker still has (`docker context rm` removes meta.json).
        let meta = crate::docker::context::meta_dir(&config, "remote");
        fs::create_dir_all(&meta).unwrap();
        fs::write(meta.join("meta.json"), "{}").unwrap();
        let mut plan = WritePlan::new(Existing::Refuse);
        plan.cert(s.layout(0).join("cert.pem"), "new cert", None);
        s.state
            .plan_added_record(&mut plan, s.record(LARGE, 0))
            .unwrap();
        assert!(plan.planned(&s.state.inventory_path()).is_none());
        s.state
            .commit(s.state.feed_contexts(plan).unwrap())
            .unwrap();
        let copy = crate::docker::context::tls_dir(&config, "remote").join("cert.pem");
        assert_eq!(fs::read(copy).unwrap(), b"new cert");
    }

    /// A delta of the inventory file on disk as full as it gets (one more record of layout
    /// `from + n` takes it past its limit), holding records of layouts `from..from + n`,
    /// written as dockpki writes it.
    fn full_delta(s: &Scene, from: usize) -> Delta {
        let mut delta = Delta::empty(&s.header().id.unwrap());
        loop {
            let i = from + delta.certificates.len();
            delta.certificates.push(s.record(i, i));
            if delta.to_bytes().unwrap().len() > DELTA_LIMIT_BYTES {
                delta.certificates.pop();
                break;
            }
        }
        let mut plan = WritePlan::new(Existing::Refuse);
        plan.state(s.state.inventory_delta_path(), delta.to_bytes().unwrap());
        s.state
            .commit(s.state.feed_contexts(plan).unwrap())
            .unwrap();
        delta
    }

    /// The certificate that takes the delta past its limit rewrites the inventory file (with a
    /// new id) and empties the delta, in one update whose journal moves the file first. Killed
    /// after any number of its renames, the next command completes it; and a reader without
    /// the lock (probe) sees, at every point, either the inventory before or the one after,
    /// never one that lost the delta's certificates.
    #[test]
    fn a_fold_of_the_delta_killed_after_any_of_its_renames_loses_nothing() {
        for done in 0..=2 {
            let s = Scene::new();
            s.write(&s.inventory(LARGE));
            let delta = full_delta(&s, LARGE);
            let before = s.state.load_inventory().unwrap();
            assert_eq!(before.certificates.len(), LARGE + delta.certificates.len());
            let n = before.certificates.len();
            let new = s.record(n, n);
            let mut after = before.clone();
            after.add(new.clone());
            let mut plan = WritePlan::new(Existing::Refuse);
            s.state.plan_added_record(&mut plan, new).unwrap();
            let targets = [s.state.inventory_path(), s.state.inventory_delta_path()];
            let moves: Vec<Move> = targets
                .iter()
                .map(|target| {
                    let (bytes, _) = plan.planned(target).expect("the fold writes both files");
                    let temp = temp_path(target).unwrap();
                    write_new(&temp, bytes, 0o600, None).unwrap();
                    Move {
                        temp,
                        target: target.clone(),
                        backup: Some(crate::fs::journal::Backup::Previous(
                            target.with_extension("json.bak"),
                        )),
                        owner: None,
                    }
                })
                .collect();
            // Killed after `done` renames: those are made, the journal lists them all.
            Journal {
                version: JOURNAL_VERSION,
                moves: moves[..done].to_vec(),
            }
            .apply(None)
            .unwrap();
            let journal = Journal {
                version: JOURNAL_VERSION,
                moves,
            };
            write_new(
                &s.state.journal_path(),
                &journal.to_bytes().unwrap(),
                0o600,
                None,
            )
            .unwrap();
            let serials = |inv: &Inventory| -> Vec<(String, Status)> {
                inv.certificates
                    .iter()
                    .map(|r| (r.serial.clone(), r.status))
                    .collect()
            };
            let unlocked = serials(&inventory_in(s.state.dir()).unwrap());
            assert!(
                unlocked == serials(&before) || unlocked == serials(&after),
                "{done} renames made: a reader without the lock lost certificates"
            );
            let s = s.reopen();
            assert!(!s.state.journal_path().exists());
            assert_eq!(
                serials(&s.state.load_inventory().unwrap()),
                serials(&after),
                "{done} renames made"
            );
            let delta = Delta::parse(Path::new("d"), &s.file("inventory.delta.json")).unwrap();
            assert!(delta.certificates.is_empty());
            assert_eq!(Some(delta.snapshot), s.header().id, "{done} renames made");
        }
    }

    /// A delta that is not one dockpki wrote whole (cut short, a FIFO, larger than any it
    /// writes) is refused with one line naming it, by every reader, and never replaced by the
    /// next issue: it may be the only record of what was issued since the inventory file.
    #[test]
    fn a_torn_or_outsized_delta_is_refused_and_left_alone() {
        let s = Scene::new();
        s.write(&s.inventory(LARGE));
        let delta = full_delta(&s, LARGE);
        let path = s.state.inventory_delta_path();
        let bytes = delta.to_bytes().unwrap();
        let fifo = |p: &Path| {
            nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        };
        for (what, damage, why) in [
            (
                "cut short",
                &(|p: &Path| fs::write(p, &bytes[..bytes.len() / 2]).unwrap()) as &dyn Fn(&Path),
                "is damaged",
            ),
            (
                "larger than 1 MiB",
                &|p: &Path| fs::write(p, vec![b' '; (1 << 20) + 1]).unwrap(),
                "1 MiB",
            ),
            ("a FIFO", &fifo, "FIFO"),
        ] {
            damage(&path);
            let started = std::time::Instant::now();
            for e in [
                s.state.load_inventory().unwrap_err(),
                inventory_in(s.state.dir()).unwrap_err(),
                s.state
                    .plan_added_record(&mut WritePlan::new(Existing::Refuse), s.record(0, 0))
                    .unwrap_err(),
            ] {
                let e = e.to_string();
                assert!(
                    e.contains("inventory.delta.json") && e.contains(why),
                    "{what}: {e}"
                );
                assert!(!e.contains('\n'), "{what}: {e}");
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "{what}"
            );
            let _ = fs::remove_file(&path);
        }
    }

    /// An `issue --out NEW` into a large state killed after its journal was written: NEW is
    /// recorded only in the staged delta, and the replay must still allow it.
    #[test]
    fn an_interrupted_update_of_the_delta_is_replayed_into_the_layout_it_records() {
        let s = Scene::new();
        s.write(&s.inventory(LARGE));
        let new = s.layout(LARGE);
        fs::create_dir(&new).unwrap();
        let mut plan = WritePlan::new(Existing::Refuse);
        s.state
            .plan_added_record(&mut plan, s.record(LARGE, LARGE))
            .unwrap();
        let (delta, _) = plan.planned(&s.state.inventory_delta_path()).unwrap();
        let staged_delta = temp_path(&s.state.inventory_delta_path()).unwrap();
        write_new(&staged_delta, delta, 0o600, None).unwrap();
        let cert = new.join("cert.pem");
        let staged_cert = temp_path(&cert).unwrap();
        write_new(&staged_cert, b"cert", 0o444, None).unwrap();
        let journal = Journal {
            version: JOURNAL_VERSION,
            moves: [
                (staged_cert, cert.clone()),
                (staged_delta, s.state.inventory_delta_path()),
            ]
            .into_iter()
            .map(|(temp, target)| Move {
                temp,
                target,
                backup: None,
                owner: None,
            })
            .collect(),
        };
        fs::write(s.state.journal_path(), journal.to_bytes().unwrap()).unwrap();
        fs::set_permissions(s.state.journal_path(), fs::Permissions::from_mode(0o600)).unwrap();
        let s = s.reopen();
        assert_eq!(fs::read(&cert).unwrap(), b"cert");
        let inv = s.state.load_inventory().unwrap();
        assert_eq!(inv.certificates.len(), LARGE + 1);
        assert!(!s.state.journal_path().exists());
    }
}
