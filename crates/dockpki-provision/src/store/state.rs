//! The state directory: the CA, the inventory, and the lock that serializes dockpki processes.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dockpki::{CertificateAuthority, CertificateDer};

use crate::error::{Advice, Error, Result};
use crate::fs::journal;
use crate::fs::owner::OwnerPolicy;
use crate::fs::reader::{self, Limit, Links};
use crate::fs::write::{WritePlan, Written, DIR_MODE, PRIVATE_MODE};
use crate::report::{Notice, Report, Silent};
use crate::store::ca_key::{self, KeyPerms, NoPassphrase, Passphrases, Purpose};
use crate::store::inventory::Inventory;

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
        wait_for_lock(&lock, &dir, &lock_path, &settings)?;
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
        // Under the lock, with no update pending, any staged file left in a directory this
        // state writes is from a killed run (SIGKILL runs no cleanup): remove it.
        let inventory = state.load_inventory().unwrap_or_default();
        for dir in state.written_dirs(&inventory) {
            crate::fs::write::remove_stale_temps(&dir);
        }
        Ok(state)
    }

    /// Every directory an update of this state may write into: the state directory, its
    /// archive, and the layouts and docker-context directories `inventory` records.
    fn written_dirs(&self, inventory: &Inventory) -> BTreeSet<PathBuf> {
        let mut dirs = BTreeSet::from([self.dir.clone(), self.archive_dir()]);
        for r in &inventory.certificates {
            dirs.extend(r.installed.iter().cloned());
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
        let path = self.inventory_path();
        let mut dirs = self.written_dirs(&self.load_inventory().unwrap_or_default());
        for m in journal.moves.iter().filter(|m| m.target == path) {
            if let Some(bytes) = reader::read_optional(&m.temp, Links::Refuse, Limit::Inventory)? {
                dirs.extend(self.written_dirs(&Inventory::parse(&m.temp, &bytes)?));
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
        self.dir.join("ca.pem")
    }

    /// `ca-key.pem`.
    pub fn ca_key_path(&self) -> PathBuf {
        self.dir.join("ca-key.pem")
    }

    /// `journal.json`: present only while an update is being moved into place.
    pub fn journal_path(&self) -> PathBuf {
        self.dir.join("journal.json")
    }

    /// Writes `plan` crash-safely through this state's journal. Every command's update passes
    /// here, so this is where the docker contexts dockpki made get their copies of whatever
    /// client files the plan rewrites, in the same journaled update (see
    /// [`crate::docker::context::mirror_client_files`]). The contexts are those of the inventory
    /// the plan writes, else of the one on disk.
    ///
    /// # Errors
    /// As [`WritePlan::commit`].
    pub fn commit(&self, plan: WritePlan) -> Result<Vec<Written>> {
        self.with_context_copies(plan)?
            .commit(&self.journal_path(), self.settings.report.as_ref())
    }

    /// The settings this state was opened with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// `plan` with the copies its docker contexts need.
    fn with_context_copies(&self, mut plan: WritePlan) -> Result<WritePlan> {
        let path = self.inventory_path();
        let contexts = match plan.planned(&path) {
            Some((bytes, _)) => Inventory::parse(&path, bytes)?.contexts,
            None => self.load_inventory()?.contexts,
        };
        crate::docker::context::mirror_client_files(&mut plan, &contexts, &self.settings.owners);
        Ok(plan)
    }

    /// Like [`State::commit`], for a batch renewal: a layout directory that cannot be written
    /// (see [`WritePlan::drop_unwritable_layouts`]) is left out instead of stopping the whole
    /// update, and returned with the reason.
    ///
    /// # Errors
    /// As [`State::commit`].
    pub fn commit_skipping_unwritable(
        &self,
        plan: WritePlan,
    ) -> Result<(Vec<Written>, Vec<crate::fs::write::Skipped>)> {
        let mut plan = self.with_context_copies(plan)?;
        let skipped = plan.drop_unwritable_layouts(&self.dir);
        let written = plan.commit(&self.journal_path(), self.settings.report.as_ref())?;
        Ok((written, skipped))
    }

    /// `inventory.json`.
    pub fn inventory_path(&self) -> PathBuf {
        self.dir.join("inventory.json")
    }

    /// Whether a CA (certificate or key) is present.
    pub fn has_ca(&self) -> bool {
        has_ca(&self.dir)
    }

    /// `ca-next.pem`: the new CA while a rotation is in progress (`dockpki ca rotate begin`
    /// until `finish`). Its presence is the whole record of the rotation: it appears and
    /// becomes `ca.pem` in journaled updates, so a crash never leaves a half-begun rotation.
    pub fn ca_next_cert_path(&self) -> PathBuf {
        self.dir.join("ca-next.pem")
    }

    /// `ca-next-key.pem`: the key of [`State::ca_next_cert_path`].
    pub fn ca_next_key_path(&self) -> PathBuf {
        self.dir.join("ca-next-key.pem")
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
        if !self.rotating() {
            return Ok(signing.cert_pem().to_string());
        }
        // Certificates only: loading both CAs again would re-check their keys, and decrypt an
        // encrypted CA key a second and a third time.
        Ok(dockpki::trust_bundle_pem(&[
            ca_cert(&self.ca_cert_path())?,
            ca_cert(&self.ca_next_cert_path())?,
            signing.cert_der().clone(),
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

    /// Loads the inventory; a missing file is an empty inventory.
    ///
    /// # Errors
    /// When the inventory is refused by the reader or damaged.
    pub fn load_inventory(&self) -> Result<Inventory> {
        let path = self.inventory_path();
        match reader::read_optional(&path, Links::Refuse, Limit::Inventory)? {
            Some(bytes) => Inventory::parse(&path, &bytes),
            None => Ok(Inventory::default()),
        }
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

    /// Adds the inventory to `plan`.
    ///
    /// # Errors
    /// When the inventory cannot be serialized (a path that is not UTF-8).
    pub fn plan_inventory(&self, plan: &mut WritePlan, inventory: &Inventory) -> Result<()> {
        plan.state(self.inventory_path(), inventory.to_bytes()?);
        Ok(())
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
    dir.join("ca.pem").exists() || dir.join("ca-key.pem").exists()
}

/// Why `dir` holds no CA as far as [`has_ca`] can tell. `exists()` is false for a file that
/// cannot be looked at too, so a state directory this user may not search (another user's, say
/// root's under `sudo`) is reported as such, not as an empty one.
fn no_ca(dir: &Path) -> Error {
    for name in ["ca.pem", "ca-key.pem"] {
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

/// Takes the exclusive lock, reporting when it has to wait and giving up with an error after
/// the timeout. The kernel drops a flock when its holder exits, so a lock is never stale: a
/// timeout means another dockpki is still running.
fn wait_for_lock(lock: &File, dir: &Path, lock_path: &Path, settings: &Settings) -> Result<()> {
    // A timeout too large for the clock means no deadline, not an overflow panic.
    let deadline = settings
        .lock_timeout
        .and_then(|t| std::time::Instant::now().checked_add(t));
    let mut announced = false;
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(()),
            Err(fs::TryLockError::WouldBlock) => {}
            Err(fs::TryLockError::Error(e)) => return Err(Error::io("lock", lock_path, &e)),
        }
        if !announced {
            settings.report.notice(&Notice::WaitingForLock {
                dir: dir.to_path_buf(),
                lock: lock_path.to_path_buf(),
                timeout: settings.lock_timeout,
            });
            announced = true;
        }
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return Err(Error::advised(
                format!(
                    "gave up after {}s waiting for another dockpki process working on {} (it holds {}); let it finish",
                    settings.lock_timeout.unwrap_or_default().as_secs(),
                    dir.display(),
                    lock_path.display()
                ),
                Advice::LockTimeout,
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

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
