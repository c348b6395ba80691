//! Writing files the way keys must be written: created with their final mode (never readable by
//! group or others, not even for an instant), atomically (temporary file in the same directory,
//! fsync, rename, fsync of the directory), never through a symlink, never over an existing file
//! without `--force`, and then only after keeping a timestamped backup.
//!
//! A [`WritePlan`] gathers every file of an operation, checks them all before touching anything,
//! stages them all as temporary files, and only then renames them into place, so that bad input
//! or a full disk leaves every layout as it was. A plan of thousands of files makes them durable
//! with one `syncfs` per file system instead of one `fsync` each (see
//! [`WritePlan::commit_noting_staging`] for the steps, in the same order either way).

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{fchown, DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::{Advice, Error, Result};
use crate::fs::journal::{fault_injection, remove_journal, Backup, Journal, Move, JOURNAL_VERSION};
use crate::fs::owner::{ActingAs, Owner};
use crate::report::{Notice, Report};

/// Mode of private keys (as Docker's documentation and the CIS Docker Benchmark ask).
pub const KEY_MODE: u32 = 0o400;
/// Mode of certificates.
pub const CERT_MODE: u32 = 0o444;
/// Mode of dockpki's own bookkeeping files.
pub const PRIVATE_MODE: u32 = 0o600;
/// Mode of directories dockpki creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of configuration files other programs read (daemon.json, systemd drop-ins): they hold
/// paths, never secrets, and dockerd's own tooling writes them 0644.
pub const CONFIG_MODE: u32 = 0o644;

/// What to do when the target already exists with different contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replace {
    /// Only with `--force`, keeping a backup.
    IfForced,
    /// Always; dockpki's own bookkeeping, rewritten on every change, keeping the previous
    /// version as `NAME.bak`.
    Always,
    /// Always, keeping a timestamped backup: a configuration file the user may also edit by
    /// hand, which dockpki merges into rather than replaces, so every previous version is kept.
    KeepingBackups,
    /// Always, without a backup: copies of files installed elsewhere in the same plan (a docker
    /// context's TLS files), where a backup would only be a stray file in another program's
    /// directory and the original's backup is kept anyway.
    Mirror,
    /// Like [`Replace::IfForced`], for a file dockpki regenerates (a CRL, a systemd drop-in)
    /// when the file in its place was not written by dockpki: someone else's data is replaced
    /// only with `--force`, and then kept as a timestamped backup that is never overwritten.
    Foreign,
    /// Always, without a backup: the same private key under a new passphrase. A backup would
    /// keep the key openable with the old passphrase, which a change of passphrase exists to
    /// revoke; the key itself is unchanged, so nothing but that is lost.
    Rewrapped,
}

/// Who wrote the file a regenerated file replaces, as far as dockpki can tell from its
/// contents (a CRL signed by this CA, a drop-in with dockpki's header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Previous {
    /// Nothing there, or a file dockpki wrote: replaced freely.
    Dockpki,
    /// A file dockpki did not write: replaced only with `--force`.
    Unknown,
}

#[derive(Clone)]
struct PlannedFile {
    path: PathBuf,
    contents: Zeroizing<Vec<u8>>,
    mode: u32,
    owner: Option<Owner>,
    replace: Replace,
    /// The planned file this one copies ([`WritePlan::mirror_of`]): left out with it.
    copy_of: Option<PathBuf>,
    /// Checked already, with its whole directory, by the drop step of
    /// [`WritePlan::commit_dropping_unwritable`]: the commit does not check it again.
    judged: bool,
    /// Written even when the file already holds these contents ([`WritePlan::rewrite_in_place`]).
    rewrite_same: bool,
}

/// What [`WritePlan::commit`] did to one file.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Written {
    /// The file.
    pub path: PathBuf,
    /// Where the previous version was kept, if there was one.
    pub backup: Option<PathBuf>,
    /// False when the file already held exactly these contents and was left alone.
    pub changed: bool,
}

/// A layout directory a plan left out, and why (see [`WritePlan::drop_unwritable_layouts`]).
pub type Skipped = (PathBuf, String);

/// An existing file of dockpki's own state moved to another name as part of a plan.
struct PlannedRename {
    from: PathBuf,
    to: PathBuf,
}

/// Whether a plan may replace existing files that need consent ([`Replace::IfForced`],
/// [`Replace::Foreign`]): the caller's `--force`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Existing {
    /// Such a file with other contents stops the plan ([`crate::Advice::Force`]).
    #[default]
    Refuse,
    /// Such a file is replaced, and kept as a timestamped backup that is never overwritten.
    ReplaceKeepingBackup,
}

/// A set of files to write together.
#[derive(Default)]
pub struct WritePlan {
    files: Vec<PlannedFile>,
    renames: Vec<PlannedRename>,
    /// Modes for directories the plan may have to create, when not [`DIR_MODE`].
    dir_modes: Vec<(PathBuf, u32)>,
    existing: Existing,
}

impl WritePlan {
    /// An empty plan; `existing` says whether files that need consent may be replaced.
    pub fn new(existing: Existing) -> WritePlan {
        WritePlan {
            files: Vec::new(),
            renames: Vec::new(),
            dir_modes: Vec::new(),
            existing,
        }
    }

    /// Adds a copy of a file installed elsewhere (mode `mode`), replaced whenever it differs,
    /// without a backup (see [`Replace::Mirror`]).
    pub fn mirror(&mut self, path: PathBuf, contents: &[u8], mode: u32, owner: Option<Owner>) {
        self.add(
            path,
            Zeroizing::new(contents.to_vec()),
            mode,
            owner,
            Replace::Mirror,
        );
    }

    /// [`WritePlan::mirror`] of the file `source` the plan also writes (a docker context's copy
    /// of its client layout's file): when `source`'s layout is left out of the update
    /// ([`WritePlan::drop_unwritable_layouts`]), so is this copy's directory, so that the copy
    /// never runs ahead of what it copies. Also for a file that must not be written without
    /// another (a context's `meta.json`, without its TLS files): a copy of a copy left out
    /// goes too.
    pub fn mirror_of(
        &mut self,
        path: PathBuf,
        contents: &[u8],
        mode: u32,
        owner: Option<Owner>,
        source: &Path,
    ) {
        self.mirror(path, contents, mode, owner);
        if let Some(last) = self.files.last_mut() {
            last.copy_of = Some(source.to_path_buf());
        }
    }

    /// Creates `dir` with `mode` instead of [`DIR_MODE`] if the plan has to create it: another
    /// program's layout (the docker CLI's `contexts/meta` directories are 0755).
    pub fn dir_mode(&mut self, dir: PathBuf, mode: u32) {
        self.dir_modes.push((dir, mode));
    }

    /// The contents and owner planned for `path`, if the plan writes it.
    pub fn planned(&self, path: &Path) -> Option<(&[u8], Option<Owner>)> {
        self.files
            .iter()
            .rev()
            .find(|f| f.path == path)
            .map(|f| (f.contents.as_slice(), f.owner))
    }

    /// Adds a rename of the existing file `from` (in dockpki's state directory) over `to` (in
    /// the state directory or its archive, which is made if missing), done
    /// after every written file, through the same journal: the rename is the journal's own
    /// operation, so a state file can change its role (a CA in rotation becoming the current
    /// one) in the same atomic update as the files written with it. Whatever `to` held is
    /// replaced without a backup; keep it with a written copy in the same plan if it matters.
    pub fn rename(&mut self, from: PathBuf, to: PathBuf) {
        self.renames.push(PlannedRename { from, to });
    }

    /// Adds a private key (mode 0400).
    pub fn key(&mut self, path: PathBuf, pem: Zeroizing<String>, owner: Option<Owner>) {
        let bytes = Zeroizing::new(pem.as_bytes().to_vec());
        self.add(path, bytes, KEY_MODE, owner, Replace::IfForced);
    }

    /// Adds a private key (mode 0400) that replaces the same key encrypted under another
    /// passphrase, without a backup (see [`Replace::Rewrapped`]).
    pub fn rewrapped_key(&mut self, path: PathBuf, pem: Zeroizing<String>) {
        let bytes = Zeroizing::new(pem.as_bytes().to_vec());
        self.add(path, bytes, KEY_MODE, None, Replace::Rewrapped);
    }

    /// Adds a file holding a secret the operator asked for (a PKCS#12 export, mode 0600),
    /// replaced only with `--force`, keeping a backup.
    pub fn secret(&mut self, path: PathBuf, contents: Zeroizing<Vec<u8>>, owner: Option<Owner>) {
        self.add(path, contents, PRIVATE_MODE, owner, Replace::IfForced);
    }

    /// Adds a certificate signing request (mode 0644), replaced whenever it differs, without a
    /// backup: it holds public data only and is made again from its key at will.
    pub fn csr(&mut self, path: PathBuf, pem: &str) {
        self.add(
            path,
            Zeroizing::new(pem.as_bytes().to_vec()),
            CONFIG_MODE,
            None,
            Replace::Mirror,
        );
    }

    /// Adds a certificate or CA bundle (mode 0444).
    pub fn cert(&mut self, path: PathBuf, pem: &str, owner: Option<Owner>) {
        self.add(
            path,
            Zeroizing::new(pem.as_bytes().to_vec()),
            CERT_MODE,
            owner,
            Replace::IfForced,
        );
    }

    /// Adds a certificate or CA bundle (mode 0444) that replaces a file already there without
    /// the caller's consent, keeping a timestamped backup: the caller judged that file its own
    /// to replace (a certificate for the same key, delivered again on renewal or rotation; a
    /// delivery directory dockpki recorded). Identical contents are left alone.
    pub fn cert_replacing(&mut self, path: PathBuf, pem: &str, owner: Option<Owner>) {
        self.add(
            path,
            Zeroizing::new(pem.as_bytes().to_vec()),
            CERT_MODE,
            owner,
            Replace::KeepingBackups,
        );
    }

    /// Adds a public file dockpki regenerates (a CRL, mode 0444). One dockpki wrote before is
    /// replaced on every run keeping the previous version as `NAME.bak`, so that a daily job does
    /// not pile up backups; any other file only with `--force` ([`Replace::Foreign`]).
    pub fn regenerated(&mut self, path: PathBuf, contents: Vec<u8>, previous: Previous) {
        let replace = match previous {
            Previous::Dockpki => Replace::Always,
            Previous::Unknown => Replace::Foreign,
        };
        self.add(path, Zeroizing::new(contents), CERT_MODE, None, replace);
    }

    /// Adds a configuration file of another program (mode 0644), replaced without `--force`
    /// since its new contents were derived from the old ones, keeping a timestamped backup.
    pub fn config(&mut self, path: PathBuf, contents: Vec<u8>) {
        self.add(
            path,
            Zeroizing::new(contents),
            CONFIG_MODE,
            None,
            Replace::KeepingBackups,
        );
    }

    /// Adds a configuration file dockpki generates whole (a systemd drop-in, mode 0644): one it
    /// wrote before is replaced keeping a timestamped backup; any other file only with `--force`
    /// ([`Replace::Foreign`]).
    pub fn generated_config(&mut self, path: PathBuf, contents: Vec<u8>, previous: Previous) {
        let replace = match previous {
            Previous::Dockpki => Replace::KeepingBackups,
            Previous::Unknown => Replace::Foreign,
        };
        self.add(path, Zeroizing::new(contents), CONFIG_MODE, None, replace);
    }

    /// Adds a file of dockpki's own state (mode 0600), replaced on every change.
    pub fn state(&mut self, path: PathBuf, contents: Vec<u8>) {
        self.add(
            path,
            Zeroizing::new(contents),
            PRIVATE_MODE,
            None,
            Replace::Always,
        );
    }

    fn add(
        &mut self,
        path: PathBuf,
        contents: Zeroizing<Vec<u8>>,
        mode: u32,
        owner: Option<Owner>,
        replace: Replace,
    ) {
        self.files.push(PlannedFile {
            path,
            contents,
            mode,
            owner,
            replace,
            copy_of: None,
            rewrite_same: false,
            judged: false,
        });
    }

    /// Adds a file rewritten with the contents it already holds (mode `mode`), to put its mode
    /// or owner right: written even though its contents are the same, since only a file
    /// staged with the planned mode and owner and moved into place puts them right (a `chmod`
    /// of a key that is group-readable would leave it readable to whoever opened it
    /// meanwhile), and without a backup, which would only be a second copy of the same bytes
    /// (and one the file's new owner could not make of a file another user owns).
    pub fn rewrite_in_place(
        &mut self,
        path: PathBuf,
        contents: Zeroizing<Vec<u8>>,
        mode: u32,
        owner: Option<Owner>,
    ) {
        self.add(path, contents, mode, owner, Replace::Mirror);
        if let Some(last) = self.files.last_mut() {
            last.rewrite_same = true;
        }
    }

    /// Takes out of the plan every layout directory (outside `keep`, the state directory) whose
    /// files fail [`WritePlan::check`], returning each with the reason. A batch renewal uses it
    /// so that one user who broke their own layout (made it group-writable, swapped it for a
    /// link) cannot stop every other certificate, the daemon's included, from being renewed.
    /// A directory goes whole: half a layout (a new certificate without its key) is worse
    /// than the old one.
    pub fn drop_unwritable_layouts(&mut self, keep: &Path) -> Vec<Skipped> {
        self.drop_unwritable_with(keep, &mut TrustCache::default())
            .0
    }

    /// [`WritePlan::drop_unwritable_layouts`], with the directories already judged in `trust`
    /// (and those judged now added to it); also returns the directories the layouts kept need
    /// created, which is all [`WritePlan::check`] would add about their files.
    fn drop_unwritable_with(
        &mut self,
        keep: &Path,
        trust: &mut TrustCache,
    ) -> (Vec<Skipped>, BTreeSet<PathBuf>) {
        // Each directory's files, found once: a renewal plans thousands of layouts.
        let mut by_dir: std::collections::BTreeMap<PathBuf, Vec<usize>> = Default::default();
        for (i, f) in self.files.iter_mut().enumerate() {
            // Judged now, or not at all (a judgement of an earlier call is not kept).
            f.judged = false;
            let dir = parent(&f.path);
            if !dir.starts_with(keep) {
                by_dir.entry(dir.to_path_buf()).or_default().push(i);
            }
        }
        // The directories above the layouts are the same for most of them: judged once.
        let mut dropped = Vec::new();
        let mut to_create = BTreeSet::new();
        let mut kept = Vec::new();
        for (dir, files) in by_dir {
            let planned: Vec<&PlannedFile> = files.iter().map(|&i| &self.files[i]).collect();
            match check_files(&planned, &[], self.existing, trust) {
                Ok(dirs) => {
                    to_create.extend(dirs);
                    kept.extend(files);
                }
                Err(e) => dropped.push((dir, e.to_string())),
            }
        }
        for i in kept {
            self.files[i].judged = true;
        }
        self.leave_out(&mut dropped, &mut to_create);
        (dropped, to_create)
    }

    /// Takes the directories in `dropped` out of the plan, with every directory holding a copy
    /// of a file in one of them ([`WritePlan::mirror_of`], added to `dropped`), and out of
    /// `to_create` every directory at or under one of them.
    fn leave_out(&mut self, dropped: &mut Vec<Skipped>, to_create: &mut BTreeSet<PathBuf>) {
        if dropped.is_empty() {
            return;
        }
        // A copy of a file left out goes too, with its whole directory: a context whose
        // layout was skipped must not hold newer files than the layout. Until nothing more
        // goes: a copy of a copy (a context's meta.json goes with its TLS files) goes too.
        loop {
            let mut copies: Vec<Skipped> = Vec::new();
            for f in &self.files {
                let Some(source) = &f.copy_of else { continue };
                let source_dir = parent(source);
                let dir = parent(&f.path);
                if dropped.iter().any(|(d, _)| d == source_dir)
                    && !dropped.iter().chain(&copies).any(|(d, _)| d == dir)
                {
                    copies.push((
                        dir.to_path_buf(),
                        format!("it goes with {}, which was left out", source_dir.display()),
                    ));
                }
            }
            if copies.is_empty() {
                break;
            }
            dropped.extend(copies);
        }
        let gone: BTreeSet<&Path> = dropped.iter().map(|(d, _)| d.as_path()).collect();
        self.files.retain(|f| !gone.contains(parent(&f.path)));
        // The directories checked for what stays: none of those left out is created, nor a
        // missing directory above one that only it needed (it would be left empty).
        let mut needed: BTreeSet<&Path> = BTreeSet::new();
        for f in &self.files {
            let mut dir = Some(parent(&f.path));
            while let Some(d) = dir {
                if !needed.insert(d) {
                    break;
                }
                dir = d.parent();
            }
        }
        to_create.retain(|d: &PathBuf| {
            needed.contains(d.as_path()) && !gone.iter().any(|g| d.starts_with(g))
        });
    }

    /// Checks every file without writing anything: no symlinks, no directory in the way, and no
    /// existing file with other contents unless forced. Returns the directories that would be
    /// created.
    ///
    /// # Errors
    /// The first target that may not be written, with why (see the module documentation).
    pub fn check(&self) -> Result<Vec<PathBuf>> {
        self.check_with(&mut TrustCache::default())
    }

    /// [`WritePlan::check`], with the directories already judged in `trust`.
    fn check_with(&self, trust: &mut TrustCache) -> Result<Vec<PathBuf>> {
        let files: Vec<&PlannedFile> = self.files.iter().collect();
        let to_create = check_files(&files, &self.renames, self.existing, trust)?;
        Ok(shallowest_first(to_create))
    }
}

/// The checks of [`WritePlan::check`] on `files` and `renames` (of a plan whose caller said
/// `existing`), with the directories already judged in `trust`: the directories that would be
/// created, or the first refusal.
fn check_files(
    files: &[&PlannedFile],
    renames: &[PlannedRename],
    existing: Existing,
    trust: &mut TrustCache,
) -> Result<BTreeSet<PathBuf>> {
    let mut to_create = BTreeSet::new();
    let mut trusted_dirs = BTreeSet::new();
    let mut existing_dirs: BTreeSet<&Path> = BTreeSet::new();
    for path in files
        .iter()
        .map(|f| &f.path)
        .chain(renames.iter().flat_map(|r| [&r.from, &r.to]))
    {
        check_path(path)?;
    }
    for f in files {
        let dir = parent(&f.path);
        if trusted_dirs.insert((dir.to_path_buf(), f.owner.map(|o| o.uid))) {
            check_directory_trust_with(&f.path, f.owner.map(|o| o.uid), trust)?;
        }
        // A directory already seen to exist is not looked at again for its next file.
        if !existing_dirs.contains(dir) {
            match fs::metadata(dir) {
                Ok(m) if m.is_dir() => {
                    // An update `dockpki request` or `install` left unfinished in the directory
                    // would be replayed over these files later (or leave it half done): it is
                    // completed or removed first.
                    let journal = crate::fs::journal::in_dir(dir);
                    if fs::symlink_metadata(&journal).is_ok() {
                        return Err(Error::new(format!(
                            "{} holds an unfinished update of `dockpki request` or `dockpki install` ({}); complete it by running that command there again (`dockpki install --from DIR --dir {}`), or remove the journal if that update is not wanted",
                            dir.display(),
                            journal.display(),
                            dir.display()
                        )));
                    }
                    existing_dirs.insert(dir);
                }
                Ok(_) => {
                    return Err(Error::new(format!(
                        "{} is a file, not a directory; choose another output directory",
                        dir.display()
                    )))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let mut missing = dir;
                    while !missing.exists() {
                        to_create.insert(missing.to_path_buf());
                        match missing.parent() {
                            Some(p) if !p.as_os_str().is_empty() => missing = p,
                            _ => break,
                        }
                    }
                    if missing.exists() && !missing.is_dir() {
                        return Err(Error::new(format!(
                            "{} is a file, not a directory; choose another output directory",
                            missing.display()
                        )));
                    }
                }
                Err(e) => return Err(Error::io("read directory", dir, &e)),
            }
        }
        match fs::symlink_metadata(&f.path) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::new(format!(
                    "refusing to write {} because it is a symlink (writing through it could put a key anywhere); remove the link first",
                    f.path.display()
                )))
            }
            Ok(m) if m.is_dir() => {
                return Err(Error::new(format!(
                    "{} is a directory; remove it or choose another output directory",
                    f.path.display()
                )))
            }
            // A device, FIFO or socket is never swapped for a regular file, not even with
            // --force: `--out /dev/null` must not move the system's /dev/null away.
            Ok(m) if !m.is_file() => {
                return Err(Error::new(format!(
                    "refusing to replace {} because it is {}, not a regular file; choose another path",
                    f.path.display(),
                    crate::fs::reader::kind_of(&m)
                )))
            }
            Ok(m) => {
                let me = nix::unistd::geteuid().as_raw();
                if m.uid() != me && f.owner.is_none_or(|o| o.uid != m.uid()) {
                    return Err(Error::new(format!(
                        "refusing to replace {} because it is owned by uid {}, not by you (uid {me}){}; remove it, or chown it if it is really yours",
                        f.path.display(),
                        m.uid(),
                        f.owner.map(|o| format!(" or uid {} it is written for", o.uid)).unwrap_or_default()
                    )));
                }
                if f.replace == Replace::IfForced && existing == Existing::Refuse && !same_contents(&f.path, &f.contents) {
                    return Err(Error::advised(
                        format!("{} already exists", f.path.display()),
                        Advice::Force,
                    ));
                }
                if f.replace == Replace::Always {
                    // `NAME.bak` is removed and made again: anything but a file there would
                    // stop the update after its journal exists, on every run.
                    let bak = sibling(&f.path, ".bak");
                    if let Ok(b) = fs::symlink_metadata(&bak) {
                        if !b.is_file() {
                            return Err(Error::new(format!(
                                "refusing to update {} because its backup {} is {}, not a regular file; move it aside",
                                f.path.display(),
                                bak.display(),
                                crate::fs::reader::kind_of(&b)
                            )));
                        }
                    }
                }
                if f.replace == Replace::Foreign && existing == Existing::Refuse && !same_contents(&f.path, &f.contents) {
                    return Err(Error::advised(
                        format!(
                            "{} already exists and was not written by dockpki",
                            f.path.display()
                        ),
                        Advice::Force,
                    ));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("read", &f.path, &e)),
        }
    }
    for r in renames {
        // A rename into a directory not made yet (the state's first archive) makes it, like a
        // written file's directory. Its parent is the state directory, which exists.
        let dir = parent(&r.to);
        match fs::symlink_metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(m) => {
                return Err(Error::new(format!(
                    "refusing to move {} into {} because it is {}, not a directory; move it aside and retry",
                    r.from.display(),
                    dir.display(),
                    crate::fs::reader::kind_of(&m)
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                to_create.insert(dir.to_path_buf());
            }
            Err(e) => return Err(Error::io("read directory", dir, &e)),
        }
        // The rule a replay of the journal applies to this move (the same function), checked
        // now: a move the live path accepts but a replay refuses would leave a journal that
        // stops every later command on the state after a crash.
        match fs::symlink_metadata(&r.from) {
            Ok(m) => {
                if let Some(problem) = movable_file_problem(&r.from, &m, None) {
                    return Err(Error::new(format!(
                        "refusing to move {problem}; move it aside and retry"
                    )));
                }
            }
            Err(e) => return Err(Error::io("read", &r.from, &e)),
        }
        check_directory_trust_with(&r.to, None, trust)?;
        if let Ok(m) = fs::symlink_metadata(&r.to) {
            if !m.is_file() {
                return Err(Error::new(format!(
                    "refusing to replace {} because it is {}, not a regular file; move it aside and retry",
                    r.to.display(),
                    crate::fs::reader::kind_of(&m)
                )));
            }
        }
    }
    Ok(to_create)
}

/// `dirs` shallowest first, so that creation goes top-down.
fn shallowest_first(dirs: BTreeSet<PathBuf>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = dirs.into_iter().collect();
    dirs.sort_by_key(|d| d.components().count());
    dirs
}

impl WritePlan {
    /// Writes every file through a journal, so that an interruption at any instant (SIGKILL,
    /// power loss) leaves either the old files or, after [`recover`](crate::fs::journal::recover) on the next run, all the new
    /// ones. On any error before the journal is written nothing is left behind: staged files are
    /// removed, and created directories that are still empty are removed again.
    ///
    /// The order of the steps is what makes it crash-safe, and each `fsync` is there for one of
    /// them (see [`WritePlan::commit_noting_staging`] for the steps).
    ///
    /// # Errors
    /// When a check fails ([`WritePlan::check`]), or a file, directory or the journal cannot be
    /// written; nothing was changed then. When the journal's directory cannot be synced or a move
    /// fails once the journal is in place, the error is returned and the journal left, with
    /// every file it names, for the next [`recover`](crate::fs::journal::recover) to complete.
    pub fn commit(self, journal_path: &Path, report: &dyn Report) -> Result<Vec<Written>> {
        self.commit_noting_staging(journal_path, None, report)
    }

    /// Like [`WritePlan::commit`], and while files are being staged, `staging_note` lists the
    /// directories they are staged in: a process killed then (SIGKILL runs no cleanup) leaves
    /// its staged files behind, and the next one holding the lock reads the note to know where
    /// to look for them ([`read_staging_note`]), instead of searching every directory it knows.
    /// The note is written after the checks pass and removed once the update is complete; it is
    /// kept when the update stops after its journal was written, for the replay to clean up. It
    /// is not fsynced: a power cut during staging, on a file system that does not commit
    /// metadata in order (ext4 without its journal), may lose it and keep staged files, which
    /// then stay behind as inert hidden files.
    ///
    /// The steps, and why each sync is needed:
    /// 1. every file is staged as a temporary next to its target, and the journal listing the
    ///    renames is staged next to its own path; then all of them are fsynced, in parallel
    ///    batches (one `fsync` per file, [`SYNC_WORKERS`] at a time, so that the file system
    ///    can write and commit them together). One batch is synced while the next is staged,
    ///    unless files are staged as other users, which is done with no other thread at work
    ///    (see [`crate::fs::ActingAs`]): then each batch is staged, then synced. The staged
    ///    files must be durable before the
    ///    journal is: a journal that names a staged file lost in a power cut would install half
    ///    an update. (The fsync of a new file also makes its name durable: ext4 syncs the
    ///    directory of a new inode, even without a journal, and XFS and btrfs log the name
    ///    with the inode; dockpki has always relied on this.) From [`SYNCFS_FROM`] files on
    ///    (a renewal of hundreds of layouts), each file system is synced whole instead, once,
    ///    after the last file is staged (`syncfs`, through a directory opened before the first
    ///    one was, so that it reports any writeback error since: Linux 5.8 and later), which
    ///    makes every staged file, its name and the staged journal durable just as their
    ///    fsyncs would; a file on a file system whose syncfs is not trusted (other than
    ///    ext2/3/4, XFS, btrfs, tmpfs) is still fsynced.
    /// 2. the journal is renamed into place and its directory fsynced: from then on the update
    ///    completes, whatever happens.
    /// 3. the renames, then one fsync per directory renamed into (in parallel), so that every
    ///    rename is durable before the journal goes; from [`SYNCFS_FROM`] directories on, one
    ///    syncfs per file system after the last rename instead, through a directory opened
    ///    before the first.
    /// 4. the journal is removed, without a sync: if a power cut brings it back, every file it
    ///    names was already moved (step 3 made that durable), so its replay moves nothing, and
    ///    the next update's journal, fsynced in step 2, replaces it anyway.
    ///
    /// # Errors
    /// As [`WritePlan::commit`].
    pub fn commit_noting_staging(
        self,
        journal_path: &Path,
        staging_note: Option<&Path>,
        report: &dyn Report,
    ) -> Result<Vec<Written>> {
        let new_dirs = self.check()?;
        self.commit_checked(new_dirs, journal_path, staging_note, report)
    }

    /// [`WritePlan::drop_unwritable_layouts`] (outside `keep`), then `replan`, then
    /// [`WritePlan::commit_noting_staging`] of what is left, returning what was written and what
    /// was left out.
    ///
    /// `replan` is given the plan and the directories left out, before anything else is checked:
    /// it plans what depends on them (the inventory, which must not record a certificate that
    /// was not written) and returns more directories to leave out, with the reason (the other
    /// layouts of a certificate one of whose layouts was left out); those go as the first step's
    /// do, with their copies, and are returned with them.
    ///
    /// The layouts kept were checked whole by the first step an instant before, so the commit
    /// checks only the rest (the files in `keep`, those `replan` added, and the renames) instead
    /// of judging a renewal's thousands of files a second time; a file `replan` added that may
    /// not be written stops the commit, wherever it is.
    ///
    /// # Errors
    /// As [`WritePlan::commit`], and `replan`'s error; nothing was changed then.
    pub fn commit_dropping_unwritable(
        mut self,
        keep: &Path,
        journal_path: &Path,
        staging_note: Option<&Path>,
        report: &dyn Report,
        replan: impl FnOnce(&mut WritePlan, &[Skipped]) -> Result<Vec<Skipped>>,
    ) -> Result<(Vec<Written>, Vec<Skipped>)> {
        // One cache for both checks, which run one right after the other: it never outlives
        // this call, so no pass is taken from longer ago than that.
        let mut trust = TrustCache::default();
        let (mut skipped, mut to_create) = self.drop_unwritable_with(keep, &mut trust);
        let mut more = replan(&mut self, &skipped)?;
        more.retain(|(d, _)| !skipped.iter().any(|(s, _)| s == d));
        self.leave_out(&mut more, &mut to_create);
        skipped.extend(more);
        let rest: Vec<&PlannedFile> = self.files.iter().filter(|f| !f.judged).collect();
        to_create.extend(check_files(
            &rest,
            &self.renames,
            self.existing,
            &mut trust,
        )?);
        // What the update means to write outside `keep`: a file the moves left out (a user's
        // directory broken, or their staged file removed, between the checks and the renames)
        // leaves its directory out too, said as the rest are. The state's files are written
        // by then (the caller's record of that file among them): `status` shows the mismatch.
        let outside: Vec<PathBuf> = self
            .files
            .iter()
            .filter(|f| !parent(&f.path).starts_with(keep))
            .map(|f| f.path.clone())
            .collect();
        let written = self.commit_checked(
            shallowest_first(to_create),
            journal_path,
            staging_note,
            report,
        )?;
        let done: BTreeSet<&Path> = written.iter().map(|w| w.path.as_path()).collect();
        let mut late: Vec<Skipped> = Vec::new();
        for path in &outside {
            let dir = parent(path);
            if !done.contains(path.as_path()) && !skipped.iter().chain(&late).any(|(d, _)| d == dir)
            {
                late.push((
                    dir.to_path_buf(),
                    format!(
                        "{} could not be moved into place: the directory changed during the update; put it right and run again (`status` shows what it holds)",
                        path.display()
                    ),
                ));
            }
        }
        skipped.extend(late);
        Ok((written, skipped))
    }

    /// [`WritePlan::commit_noting_staging`] of a plan whose files were all checked just now:
    /// `new_dirs` are the directories the checks said to create, shallowest first.
    fn commit_checked(
        self,
        new_dirs: Vec<PathBuf>,
        journal_path: &Path,
        staging_note: Option<&Path>,
        report: &dyn Report,
    ) -> Result<Vec<Written>> {
        // A journal still in place is an update not yet completed (its directory sync failed,
        // say, and the caller went on): renaming a new journal over it would lose that update,
        // or make a half-done one permanent. It must be replayed first.
        if fs::symlink_metadata(journal_path).is_ok() {
            return Err(Error::new(format!(
                "{} holds an update that is not complete yet; open the state again (every \
                 command completes it first), then retry",
                journal_path.display()
            )));
        }
        let mut created: Vec<PathBuf> = Vec::new();
        let mut staged: Vec<(PathBuf, &PlannedFile)> = Vec::new();
        let mut written_so_far: Vec<PathBuf> = Vec::new();
        let mut written = Vec::new();
        // Until the journal exists, every error must take back what was staged: the staged
        // files (private keys among them), the staged journal, the directories made for them
        // and the note.
        let undo = |written_so_far: &[PathBuf], created: &[PathBuf]| {
            for tmp in written_so_far {
                let _ = fs::remove_file(tmp);
            }
            for dir in created.iter().rev() {
                let _ = fs::remove_dir(dir);
            }
            if let Some(note) = staging_note {
                let _ = fs::remove_file(note);
            }
        };
        if let Some(note) = staging_note {
            if let Err(e) = self.write_staging_note(note) {
                undo(&written_so_far, &created);
                return Err(e);
            }
        }
        let result = self
            .create_dirs(&new_dirs, &mut created)
            .and_then(|()| self.choose_staged(&mut staged, &mut written))
            .and_then(|()| {
                let journal = self.journal_of(&staged)?;
                if journal.moves.is_empty() {
                    // Every file already holds its contents: nothing to make crash-safe.
                    return Ok(None);
                }
                let journal_tmp = temp_path(journal_path)?;
                stage_and_sync(
                    &staged,
                    &journal,
                    journal_path,
                    &journal_tmp,
                    &mut written_so_far,
                )?;
                fs::rename(&journal_tmp, journal_path)
                    .map_err(|e| Error::io("move into place", journal_path, &e))?;
                Ok(Some(journal))
            });
        let journal = match result {
            Ok(Some(journal)) => journal,
            Ok(None) => {
                undo(&[], &[]);
                return Ok(written);
            }
            Err(e) => {
                undo(&written_so_far, &created);
                return Err(e);
            }
        };
        #[cfg(test)]
        trace::record(trace::Step::JournalInPlace(journal_path.to_path_buf()));
        // The journal is in place: the update is completed from here on, now or by the next
        // recover, and nothing is taken back. Removing staged files now would leave a journal
        // whose replay finds them gone (and skips them, as moves done before) but still does its
        // renames of state files: half an update. So an error from here on leaves the journal,
        // every staged file it names, and the staging note for the replay.
        sync_dir(parent(journal_path))?;
        let applied = journal.apply_moves(fault_injection(), crate::fs::journal::Run::Commit)?;
        for line in applied.lines {
            report.notice(&Notice::SkippedUserFile(line));
        }
        remove_journal(journal_path)?;
        if let Some(note) = staging_note {
            // Best effort: a note left behind only makes the next command look in these
            // directories once more.
            let _ = fs::remove_file(note);
        }
        // A move left out (a user broke their layout meanwhile) wrote nothing: the outcome says
        // so itself, whether or not the caller's report shows the notice.
        written.extend(
            journal
                .moves
                .into_iter()
                .filter(|m| !applied.left_out.contains(&m.target))
                .map(|m| Written {
                    path: m.target,
                    backup: m.backup.map(Backup::into_path),
                    changed: true,
                }),
        );
        Ok(written)
    }

    /// The journal of the staged files and the planned renames.
    fn journal_of(&self, staged: &[(PathBuf, &PlannedFile)]) -> Result<Journal> {
        let stamp = backup_stamp();
        let moves = staged
            .iter()
            .map(|(tmp, f)| {
                let backup = match (f.path.exists(), f.replace) {
                    (false, _) => None,
                    (true, Replace::IfForced | Replace::KeepingBackups | Replace::Foreign) => {
                        Some(Backup::Timestamped(free_backup_name(&f.path, &stamp)?))
                    }
                    (true, Replace::Always) => Some(Backup::Previous(sibling(&f.path, ".bak"))),
                    (true, Replace::Mirror | Replace::Rewrapped) => None,
                };
                Ok(Move {
                    temp: tmp.clone(),
                    target: f.path.clone(),
                    backup,
                    owner: f.owner.map(|o| o.uid),
                })
            })
            .chain(self.renames.iter().map(|r| {
                // The source itself is the journal's "staged file": once it is gone, the move
                // was done, which is exactly how recovery skips completed moves.
                Ok(Move {
                    temp: r.from.clone(),
                    target: r.to.clone(),
                    backup: None,
                    owner: None,
                })
            }))
            .collect::<Result<Vec<_>>>()?;
        Ok(Journal {
            version: JOURNAL_VERSION,
            moves,
        })
    }

    /// Writes the staging note: the directories of the plan's files, one JSON array. Not
    /// fsynced, which would cost every update one more round trip to the disk: it matters when
    /// the process is killed, and then the page cache survives. After a power cut during
    /// staging, a file system that commits metadata in order (ext4 or XFS with their journals)
    /// keeps the note whenever it keeps a staged file, created after it; one that does not may
    /// keep inert staged files (hidden, their owner's only, nothing installed) that the next
    /// run does not know to look for. A note of an earlier run is replaced.
    fn write_staging_note(&self, note: &Path) -> Result<()> {
        let dirs: BTreeSet<&Path> = self.files.iter().map(|f| parent(&f.path)).collect();
        let bytes = serde_json::to_vec(&dirs)
            .map_err(|e| Error::new(format!("cannot record the staging directories: {e}")))?;
        remove_if_present(note)?;
        write_staged(note, &bytes, PRIVATE_MODE, None)
            .map(drop)
            .map_err(|e| Error::io("write", note, &e))
    }

    /// Creates the missing directories `new_dirs` (from [`WritePlan::check`]), recording each
    /// in `created` as soon as it exists.
    fn create_dirs(&self, new_dirs: &[PathBuf], created: &mut Vec<PathBuf>) -> Result<()> {
        for dir in new_dirs {
            let mode = self
                .dir_modes
                .iter()
                .find(|(d, _)| d == dir)
                .map_or(DIR_MODE, |(_, m)| *m);
            // A directory made for another user's files (sudo) is made by that user: theirs
            // from the start, and only where they may make one.
            let owner = self
                .files
                .iter()
                .filter(|f| f.path.starts_with(dir))
                .find_map(|f| f.owner);
            let _as = ActingAs::user(owner.map(|o| o.uid), owner.map(|o| o.gid))?;
            fs::DirBuilder::new()
                .mode(mode)
                .create(dir)
                .map_err(|e| Error::io("create directory", dir, &e))?;
            created.push(dir.clone());
            // The umask narrowed the mode: widen it through the directory just made, opened
            // without following a link (a path would follow one swapped in meanwhile).
            OpenOptions::new()
                .read(true)
                .custom_flags(nix::libc::O_DIRECTORY | nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
                .open(dir)
                .and_then(|d| d.set_permissions(fs::Permissions::from_mode(mode)))
                .map_err(|e| Error::io("set permissions of", dir, &e))?;
        }
        Ok(())
    }

    /// Sorts the files into those already holding their contents (`unchanged`, left alone) and
    /// those to stage, each with the name of its temporary (`staged`).
    fn choose_staged<'a>(
        &'a self,
        staged: &mut Vec<(PathBuf, &'a PlannedFile)>,
        unchanged: &mut Vec<Written>,
    ) -> Result<()> {
        // Thousands of files for a renewal: compared on several threads when none is another
        // user's. A user's file is read acting as that user, whose groups are the whole
        // process's while the guard lives: then every file is read on this thread alone (see
        // crate::parallel).
        let same: Vec<bool> = if acts_as_others(self.files.iter()) {
            self.files
                .iter()
                .map(|f| {
                    let _as = ActingAs::user(f.owner.map(|o| o.uid), f.owner.map(|o| o.gid))?;
                    Ok(same_contents(&f.path, &f.contents))
                })
                .collect::<Result<_>>()?
        } else {
            crate::parallel::map(self.files.iter().collect(), COMPARE_IN_PARALLEL_FROM, |f| {
                same_contents(&f.path, &f.contents)
            })
        };
        for (f, same) in self.files.iter().zip(same) {
            if same && !f.rewrite_same {
                unchanged.push(Written {
                    path: f.path.clone(),
                    backup: None,
                    changed: false,
                });
                continue;
            }
            staged.push((temp_path(&f.path)?, f));
        }
        Ok(())
    }
}

/// Why the file at `path` (with `meta`, not followed) may not be moved into place by a journal,
/// or `None` when it may: it must be a regular file with one link (another link would keep a
/// second name for a key, or let its other name's owner change it), owned by the running user,
/// root, or `owner` (the user it is written for). Shared by [`WritePlan::check`] and the replay
/// of a journal ([`crate::fs::journal::recover`]), so that what one accepts the other does too.
pub(crate) fn movable_file_problem(
    path: &Path,
    meta: &fs::Metadata,
    owner: Option<u32>,
) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let me = nix::unistd::geteuid().as_raw();
    let trusted = |uid: u32| uid == me || uid == 0 || owner == Some(uid);
    (!meta.is_file() || meta.nlink() != 1 || !trusted(meta.uid())).then(|| {
        format!(
            "{} is {} with {} link(s) owned by uid {}, not a file dockpki staged",
            path.display(),
            crate::fs::reader::kind_of(meta),
            meta.nlink(),
            meta.uid()
        )
    })
}

/// From how many files [`WritePlan::commit`] compares existing contents on several threads.
const COMPARE_IN_PARALLEL_FROM: usize = 64;

/// How many fsyncs are in flight at once. A file system commits the fsyncs that arrive together
/// in one journal commit and one cache flush, so waiting for them side by side costs little
/// more than one; sixteen is where the gain levels off on the 2-core test machine
/// (docs/performance.md). The threads only wait on the disk.
pub const SYNC_WORKERS: usize = 16;

/// How many staged files are fsynced together: one batch is synced while the next is written,
/// so at most twice this many are open at once, within the usual limit of 1024 open files
/// whatever the number of layouts a renewal writes.
const SYNC_BATCH: usize = 256;

/// Step 1 of [`WritePlan::commit_noting_staging`]: writes every staged file and the journal
/// (to `journal_tmp`), then fsyncs them, [`SYNC_BATCH`] files at a time. Every path written is
/// pushed on `written` once it exists as this call made it (never a name someone else held
/// first), for the caller to take back on error; the journal comes last.
fn stage_and_sync(
    staged: &[(PathBuf, &PlannedFile)],
    journal: &Journal,
    journal_path: &Path,
    journal_tmp: &Path,
    written: &mut Vec<PathBuf>,
) -> Result<()> {
    let journal_bytes = journal.to_bytes()?;
    // Staging a user's file acts as that user, whose supplementary groups become the whole
    // process's (see ActingAs): glibc's setgroups stops every thread to change them, and waits
    // for one that is blocked in an fsync. So a batch is synced while the next one is staged
    // only when no file is staged as someone else; otherwise each batch is staged, and then
    // synced with no thread acting as anyone.
    let overlap = !acts_as_others(staged.iter().map(|(_, f)| *f));
    // A large update asks each file system to commit once (syncfs) instead of one fsync per
    // file: its handle is opened now, before the first write, so that its syncfs reports any
    // writeback error from here on. A file on a file system it does not cover is fsynced.
    let round = FsRound::open(
        staged.len() + 1,
        staged
            .iter()
            .map(|(tmp, _)| parent(tmp))
            .chain([parent(journal_tmp)]),
    );
    // The files the syncfs makes durable, for the test of the order of steps.
    #[cfg(test)]
    let mut covered: Vec<PathBuf> = Vec::new();
    let covers = |file: &File| file.metadata().is_ok_and(|m| round.covers(m.dev()));
    let result = std::thread::scope(|s| {
        let mut syncing: Option<std::thread::ScopedJoinHandle<'_, Result<()>>> = None;
        let finish = |handle: Option<std::thread::ScopedJoinHandle<'_, Result<()>>>| {
            handle.map_or(Ok(()), |h| {
                h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
            })
        };
        let mut batch: Vec<(&Path, File)> = Vec::new();
        for (tmp, f) in staged {
            let file = {
                let _as = ActingAs::user(f.owner.map(|o| o.uid), f.owner.map(|o| o.gid))?;
                write_staged(tmp, &f.contents, f.mode, f.owner)
                    .map_err(|e| Error::io("write", &f.path, &e))?
            };
            written.push(tmp.clone());
            #[cfg(test)]
            trace::record(trace::Step::Staged(f.path.clone()));
            // The guard is gone before a batch is synced: the threads syncing it start with
            // this one's identity, and no other thread acts as a user meanwhile.
            if covers(&file) {
                #[cfg(test)]
                covered.push(f.path.clone());
                continue;
            }
            batch.push((&f.path, file));
            if batch.len() == SYNC_BATCH {
                finish(syncing.take())?;
                let full = std::mem::take(&mut batch);
                if overlap {
                    syncing = Some(s.spawn(move || sync_batch(full)));
                } else {
                    sync_batch(full)?;
                }
            }
        }
        let file = write_staged(journal_tmp, &journal_bytes, PRIVATE_MODE, None)
            .map_err(|e| Error::io("write", journal_path, &e))?;
        written.push(journal_tmp.to_path_buf());
        if covers(&file) {
            #[cfg(test)]
            covered.push(journal_path.to_path_buf());
        } else {
            batch.push((journal_path, file));
        }
        finish(syncing.take())?;
        // The staged journal is synced with the last batch (or by the syncfs of its file
        // system); it counts only once renamed into place, which the caller does after every
        // one of these syncs has returned.
        sync_batch(batch)
    });
    result?;
    round.sync()?;
    #[cfg(test)]
    for path in covered {
        trace::record(trace::Step::Synced(path));
    }
    Ok(())
}

/// From how many files (or directories) one round of syncs asks each file system to commit
/// everything once (`syncfs`) instead of one `fsync` per file. One fsync costs a journal commit
/// and a cache flush; sixteen in flight share them, but a renewal of thousands of layouts still
/// waits for thousands of them (docs/performance.md). A small update (an issue, a bootstrap)
/// keeps its per-file fsyncs: a syncfs also writes whatever else is dirty on the file system.
pub const SYNCFS_FROM: usize = 512;

/// The file systems one round of syncs commits whole, with `syncfs`, each through a directory
/// opened before the round's first write (or rename).
///
/// Linux samples a file system's writeback-error sequence when a file on it is opened, and
/// since 5.8 `syncfs` reports every writeback error on that file system since then (before,
/// it reported none: a page lost to an I/O error went unnoticed). So a handle opened before
/// the round reports the failure of any write of the round, as an fsync of each file would;
/// it may also report an unrelated file's failure on the same file system, which only stops
/// the update as a failed fsync would. Only file systems whose syncfs is known to commit both
/// data and names with error reporting are used (ext2/3/4, XFS, btrfs; tmpfs, which has
/// nothing to commit); elsewhere (NFS, FUSE, overlay, older kernels) every file is fsynced.
pub(crate) struct FsRound {
    /// Device, the directory opened (for messages and tests), and its handle.
    fds: Vec<(u64, PathBuf, File)>,
}

impl FsRound {
    /// A round that covers nothing: every file is fsynced.
    pub(crate) fn none() -> FsRound {
        FsRound { fds: Vec::new() }
    }

    /// For a round of `count` syncs of files in `dirs` (which exist): from [`SYNCFS_FROM`] on,
    /// a handle on one directory of each distinct file system of `dirs` where syncfs may stand
    /// for the fsyncs. A directory that cannot be opened is left to per-file fsyncs: never
    /// an error.
    pub(crate) fn open<'a>(count: usize, dirs: impl IntoIterator<Item = &'a Path>) -> FsRound {
        let mut round = FsRound::none();
        if count < SYNCFS_FROM || !syncfs_reports_errors() {
            return round;
        }
        let dirs: BTreeSet<&Path> = dirs.into_iter().collect();
        let mut seen = BTreeSet::new();
        for dir in dirs {
            let Ok(meta) = fs::metadata(dir) else {
                continue;
            };
            if !seen.insert(meta.dev()) {
                continue;
            }
            let Ok(file) = open_dir(dir) else {
                continue;
            };
            let Ok(meta) = file.metadata() else {
                continue;
            };
            if round.covers(meta.dev()) || !syncfs_commits(&file) {
                continue;
            }
            round.fds.push((meta.dev(), dir.to_path_buf(), file));
        }
        round
    }

    /// Whether the file system of device `dev` is synced whole by [`FsRound::sync`].
    pub(crate) fn covers(&self, dev: u64) -> bool {
        self.fds.iter().any(|(d, _, _)| *d == dev)
    }

    /// `syncfs` of every file system covered, once the round's writes are done.
    ///
    /// # Errors
    /// When one reports an error: a write of the round (or another file's on that file
    /// system) may not have reached the disk.
    pub(crate) fn sync(&self) -> Result<()> {
        for (_, dir, file) in &self.fds {
            #[cfg(test)]
            if trace::sync_fails(dir) {
                return Err(Error::io(
                    "sync the file system of",
                    dir,
                    &io::Error::from_raw_os_error(nix::libc::EIO),
                ));
            }
            nix::unistd::syncfs(file)
                .map_err(|e| Error::io("sync the file system of", dir, &io::Error::from(e)))?;
            // And one fsync of the directory the handle holds: a file system whose syncfs
            // writes its blocks without flushing the disk's write cache (ext2 and ext3 mounted
            // by their own drivers report ext4's magic number) still flushes it on fsync, so
            // the round is on the platter whichever driver wrote it. One per file system.
            file.sync_all()
                .map_err(|e| Error::io("sync the file system of", dir, &e))?;
            #[cfg(test)]
            trace::record(trace::Step::FsSynced(dir.clone()));
        }
        Ok(())
    }
}

/// Whether this kernel's syncfs reports writeback errors: Linux 5.8 and later.
fn syncfs_reports_errors() -> bool {
    static REPORTS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *REPORTS.get_or_init(|| {
        let Ok(uts) = nix::sys::utsname::uname() else {
            return false;
        };
        let release = uts.release().to_string_lossy();
        let mut parts = release
            .split(|c: char| !c.is_ascii_digit())
            .map(|n| n.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        (major, minor) >= (5, 8)
    })
}

/// Whether `syncfs` on the file system of `dir` commits data and names durably, reporting
/// errors: the local file systems of [`FsRound`].
fn syncfs_commits(dir: &File) -> bool {
    use nix::sys::statfs::{
        fstatfs, BTRFS_SUPER_MAGIC, EXT4_SUPER_MAGIC, TMPFS_MAGIC, XFS_SUPER_MAGIC,
    };
    fstatfs(dir).is_ok_and(|s| {
        [
            EXT4_SUPER_MAGIC,
            XFS_SUPER_MAGIC,
            BTRFS_SUPER_MAGIC,
            TMPFS_MAGIC,
        ]
        .contains(&s.filesystem_type())
    })
}

/// Whether writing `files` acts as another user than the running one ([`ActingAs`] switches
/// only then): that work is done on one thread, with no other thread at work meanwhile.
fn acts_as_others<'a>(mut files: impl Iterator<Item = &'a PlannedFile>) -> bool {
    let me = nix::unistd::geteuid().as_raw();
    files.any(|f| f.owner.is_some_and(|o| o.uid != me))
}

/// fsyncs every file of `batch` ([`sync_in_parallel`]) and closes them.
fn sync_batch(batch: Vec<(&Path, File)>) -> Result<()> {
    let files: Vec<&File> = batch.iter().map(|(_, f)| f).collect();
    let results = sync_in_parallel(&files);
    for ((path, _), result) in batch.iter().zip(results) {
        result.map_err(|e| Error::io("write", path, &e))?;
        #[cfg(test)]
        trace::record(trace::Step::Synced(path.to_path_buf()));
    }
    Ok(())
}

/// fsyncs every file (or directory) in `files`, up to [`SYNC_WORKERS`] at a time, and returns
/// each one's result in order. fsync checks no permission, so the handles may have been opened
/// acting as another user ([`ActingAs`], which is per thread) and synced from any thread.
pub(crate) fn sync_in_parallel(files: &[&File]) -> Vec<io::Result<()>> {
    crate::parallel::map_waiting(files, SYNC_WORKERS, |f| f.sync_all())
}

/// Removes `path`; one that is already gone is no error.
///
/// # Errors
/// When it exists and cannot be removed.
pub(crate) fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, &e)),
    }
}

/// The directories a killed update may have left staged files in, from its note (see
/// [`WritePlan::commit_noting_staging`]): `Ok(None)` when there is no note (no update was
/// interrupted while staging), `Err` when the note cannot be trusted or read, for the caller to
/// fall back on every directory it knows. The note says where to look, never what may be
/// removed: the caller keeps only the directories it writes anyway.
///
/// # Errors
/// When the note is not a regular file (a link, a FIFO), is owned by anyone but the running
/// user or root, is writable by group or others, is too large, or is not a list of paths.
pub fn read_staging_note(note: &Path) -> Result<Option<Vec<PathBuf>>> {
    use crate::fs::reader::{self, Limit, Links, ReadError};
    let file = match reader::open(note, Links::Refuse, Limit::Inventory) {
        Ok(file) => file,
        Err(ReadError::NotFound(_)) => return Ok(None),
        Err(ReadError::Refused(e)) => return Err(e),
    };
    // Trusted like the journal next to it: whoever else could write it could send the cleanup
    // into directories of their choosing.
    let meta = file.metadata().map_err(|e| Error::io("read", note, &e))?;
    if let Some(why) = crate::fs::journal::not_ours(&meta) {
        return Err(Error::new(format!(
            "the staging note {} is not followed: {why}",
            note.display()
        )));
    }
    let bytes = reader::read_opened(file, note, Limit::Inventory)?;
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        Error::new(format!(
            "the staging note {} is damaged ({e})",
            note.display()
        ))
    })
}

/// Removes the staging note once what it points at was cleaned up.
///
/// # Errors
/// When it exists and cannot be removed.
pub fn remove_staging_note(note: &Path) -> Result<()> {
    remove_if_present(note)
}

/// Refuses to write `file` unless everyone who could swap it, or the directory it lands in, is
/// trusted, like OpenSSH's StrictModes. Trusted users are root, the running user and the user
/// the file is written for (`owner`, under sudo). The rule, checked on the file's directory (or
/// its nearest existing ancestor when dockpki will create the rest):
///
/// 1. every symlink on the path as given must be owned by a trusted user: whoever owns a link
///    can repoint it, and with it where the key goes (a trusted link is followed);
/// 2. every directory of the resolved path, up to `/`, must be owned by a trusted user and not
///    writable by group or others, unless it has the sticky bit (`/tmp`): in such a directory
///    anyone could rename a key away or slip in their own `ca.pem`.
///
/// The same rule is applied when a journal is replayed ([`crate::fs::journal::recover`]), with the
/// owner recorded in the journal.
///
/// # Errors
/// When a directory on the path is not trusted (owned by someone else, writable by group
/// or others) or a symlink on it is owned by someone who could redirect it.
pub fn check_directory_trust(file: &Path, owner: Option<u32>) -> Result<()> {
    check_directory_trust_with(file, owner, &mut TrustCache::default())
}

/// What [`check_directory_trust`] already found while checking one plan: the layouts of a
/// renewal share every directory above their own, which need to be looked at once, not once per
/// layout. Only passes are kept, for the trusted users they were judged for; a cache lives for
/// the checks of one plan, just before the plan is written.
#[derive(Default)]
pub(crate) struct TrustCache {
    /// Paths as given (rule 1) that passed, and whether each is a symlink.
    given: std::collections::HashMap<(PathBuf, Option<u32>), bool>,
    /// Resolved directories (rule 2) that passed.
    resolved: std::collections::HashSet<(PathBuf, Option<u32>)>,
}

/// [`check_directory_trust`], skipping what `cache` says already passed.
pub(crate) fn check_directory_trust_with(
    file: &Path,
    owner: Option<u32>,
    cache: &mut TrustCache,
) -> Result<()> {
    let me = nix::unistd::geteuid().as_raw();
    let trusted = |uid: u32| uid == 0 || uid == me || owner == Some(uid);
    let dir = std::path::absolute(parent(file)).map_err(|e| Error::io("resolve", file, &e))?;
    let existing = dir
        .ancestors()
        .find(|d| fs::symlink_metadata(d).is_ok())
        .unwrap_or(Path::new("/"));
    let mut given: Vec<&Path> = existing.ancestors().collect();
    given.reverse();
    let mut through_link = false;
    for prefix in given {
        if let Some(&link) = cache.given.get(&(prefix.to_path_buf(), owner)) {
            through_link |= link;
            continue;
        }
        let m = fs::symlink_metadata(prefix).map_err(|e| Error::io("read", prefix, &e))?;
        if m.file_type().is_symlink() && !trusted(m.uid()) {
            return Err(Error::new(format!(
                "refusing to write {} through {}: it is a symlink owned by uid {}, who could point it anywhere; replace the link with the real directory",
                file.display(),
                prefix.display(),
                m.uid()
            )));
        }
        through_link |= m.file_type().is_symlink();
        cache
            .given
            .insert((prefix.to_path_buf(), owner), m.file_type().is_symlink());
    }
    // Without a link or `..` on the way, the path is already the resolved one.
    let plain = !through_link
        && existing.components().all(|c| {
            matches!(
                c,
                std::path::Component::RootDir | std::path::Component::Normal(_)
            )
        });
    let real = if plain {
        existing.to_path_buf()
    } else {
        fs::canonicalize(existing).map_err(|e| Error::io("resolve", existing, &e))?
    };
    // Files written for another user (a client layout under sudo) go only into a directory that
    // user owns: a symlink they own may point anywhere, and root must not be steered into
    // writing, and handing them, files in directories of root's.
    if let Some(o) = owner.filter(|&o| o != me) {
        let m = fs::metadata(&real).map_err(|e| Error::io("read", &real, &e))?;
        if m.is_dir() && m.uid() != o {
            return Err(Error::new(format!(
                "refusing to write {} for uid {o} because {} (where it resolves) is owned by uid {}, not by uid {o}; files for a user go only into a directory that user owns: pass a directory in their home",
                file.display(),
                real.display(),
                m.uid()
            )));
        }
    }
    for d in real.ancestors() {
        if cache.resolved.contains(&(d.to_path_buf(), owner)) {
            continue;
        }
        let m = fs::metadata(d).map_err(|e| Error::io("read", d, &e))?;
        if !m.is_dir() {
            // Reported as "is a file, not a directory" by the caller.
            continue;
        }
        if !trusted(m.uid()) {
            return Err(Error::new(format!(
                "refusing to write {} because {} is owned by uid {}, who could replace what dockpki writes there; use a directory owned by root or you (chown it)",
                file.display(),
                d.display(),
                m.uid()
            )));
        }
        let mode = m.mode();
        if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            return Err(Error::new(format!(
                "refusing to write {} because {} is writable by group or others (mode {:04o}), who could replace what dockpki writes there; run `chmod go-w {}`",
                file.display(),
                d.display(),
                mode & 0o7777,
                crate::text::shell_quote(&d.display().to_string())
            )));
        }
        cache.resolved.insert((d.to_path_buf(), owner));
    }
    Ok(())
}

/// Creates `path` (which must not exist) with exactly `mode`, writes and fsyncs it. The mode is
/// given to open(2) so the file never exists with wider permissions; fchmod then removes any
/// effect of the umask in the other direction (0444 under umask 077). On error nothing it
/// created is left, and nothing it did not create is touched (see [`write_staged`]).
pub(crate) fn write_new(
    path: &Path,
    contents: &[u8],
    mode: u32,
    owner: Option<Owner>,
) -> io::Result<()> {
    let file = write_staged(path, contents, mode, owner)?;
    file.sync_all().inspect_err(|_| {
        let _ = fs::remove_file(path);
    })
}

/// [`write_new`] without the fsync, returning the open file for the caller to sync (with
/// others, [`sync_in_parallel`]) before anything depends on its contents.
///
/// On error, a file this call created is removed again; a file that was at `path` already
/// (`O_EXCL` refused it: someone else's, or another writer's) is left alone. A caller that
/// takes back what it wrote therefore records `path` only once this returned it.
pub(crate) fn write_staged(
    path: &Path,
    contents: &[u8],
    mode: u32,
    owner: Option<Owner>,
) -> io::Result<File> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
        .open(path)?;
    let mut fill = || {
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        // Made by the owner itself when the caller acts as them ([`ActingAs`]): then it is theirs.
        if let Some(o) = owner {
            let m = file.metadata()?;
            if m.uid() != o.uid || m.gid() != o.gid {
                fchown(&file, Some(o.uid), Some(o.gid))?;
            }
        }
        file.write_all(contents)
    };
    match fill() {
        Ok(()) => Ok(file),
        Err(e) => {
            // Half a file (a full disk) of this call's own making: not left behind.
            let _ = fs::remove_file(path);
            Err(e)
        }
    }
}

/// Refuses a path dockpki cannot record and act on again later: one that is not UTF-8 (see
/// [`check_utf8`]), not absolute (the inventory and the journal are read by other processes,
/// in other working directories, and a journal's replay refuses relative paths), or that holds
/// `..` (the kernel resolves it through whatever symlinks precede it, so such a path does not
/// say where it leads, and the trust checks judge paths component by component). The engine
/// applies it wherever a path enters (a state directory, every file a [`WritePlan`] writes, a
/// directory recorded in the inventory), whatever its caller checked before.
///
/// # Errors
/// One line naming the path and what is wrong with it.
pub fn check_path(path: &Path) -> Result<()> {
    check_utf8(path)?;
    if !path.is_absolute() {
        return Err(Error::new(format!(
            "the path {} is not absolute; give it from / (dockpki records paths, which must name the same place for every later run)",
            path.display()
        )));
    }
    if path
        .components()
        .any(|c| c == std::path::Component::ParentDir)
    {
        return Err(Error::new(format!(
            "the path {} contains '..'; give it without (e.g. the directory it leads to)",
            path.display()
        )));
    }
    Ok(())
}

/// Refuses a path that is not UTF-8: paths are recorded in JSON (the journal, the inventory),
/// which cannot hold them, and finding that out after staging would leave files behind.
///
/// # Errors
/// When the path is not valid UTF-8.
pub fn check_utf8(path: &Path) -> Result<()> {
    if path.to_str().is_none() {
        return Err(Error::new(format!(
            "the path {} is not valid UTF-8, which dockpki cannot record; choose a UTF-8 path",
            path.display()
        )));
    }
    Ok(())
}

/// The target file name and the process id in a staged file's name
/// (`.NAME.dockpki-PID-HEX.tmp`, made by [`temp_path`]), or `None` for any other name.
pub(crate) fn parse_temp_name(name: &str) -> Option<(&str, u32)> {
    let rest = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (rest, nanos) = rest.rsplit_once('-')?;
    if nanos.is_empty() || !nanos.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let (target, pid) = rest.rsplit_once(".dockpki-")?;
    if target.is_empty() || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((target, pid.parse().ok()?))
}

/// Removes the staged files a killed dockpki left in `dir` (SIGKILL runs no cleanup): files
/// named like [`temp_path`]'s whose process is gone. Called only while holding the lock of the
/// update that would have written there, after its journal was replayed. Returns how many were
/// removed.
///
/// A root process deleting by name in directories other users may own is careful:
/// - the directory is opened with `O_NOFOLLOW` and every name is removed relative to that open
///   directory (`unlinkat`), so a directory swapped for a symlink (to a root-only place) is
///   never entered, not even halfway through;
/// - the directory must pass the write trust checks ([`check_directory_trust`]) with its own
///   owner trusted (a client layout under sudo), else it is left alone;
/// - a directory holding a journal of a pending update (any `*.dockpki-journal`) is left alone:
///   its staged files are that update's, whoever runs it;
/// - only regular files owned by the running user, root, or the directory's owner go, and only
///   those of a process that no longer exists.
pub(crate) fn remove_stale_temps(dir: &Path) -> usize {
    use nix::fcntl::{AtFlags, OFlag};
    use nix::sys::stat::{fstat, fstatat, Mode, SFlag};
    let Ok(mut handle) = nix::dir::Dir::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) else {
        return 0;
    };
    let Ok(dir_stat) = fstat(&handle) else {
        return 0;
    };
    let dir_owner = dir_stat.st_uid;
    if check_directory_trust(&dir.join("x"), Some(dir_owner)).is_err() {
        return 0;
    }
    let names: Vec<std::ffi::CString> = handle
        .iter()
        .flatten()
        .map(|e| e.file_name().to_owned())
        .collect();
    if names
        .iter()
        .any(|n| n.to_bytes().ends_with(b".dockpki-journal") || n.to_bytes() == b"journal.json")
    {
        return 0;
    }
    let me = nix::unistd::geteuid().as_raw();
    let mut removed = 0;
    for name in names {
        let Some((_, pid)) = name.to_str().ok().and_then(parse_temp_name) else {
            continue;
        };
        let alive = pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists();
        if alive {
            continue;
        }
        let Ok(st) = fstatat(&handle, name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) else {
            continue;
        };
        let regular = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG;
        let owner_ok = st.st_uid == me || st.st_uid == 0 || st.st_uid == dir_owner;
        if regular
            && owner_ok
            && nix::unistd::unlinkat(
                &handle,
                name.as_c_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            )
            .is_ok()
        {
            removed += 1;
        }
    }
    removed
}

pub(crate) fn temp_path(target: &Path) -> Result<PathBuf> {
    let name = target
        .file_name()
        .ok_or_else(|| Error::new(format!("{} has no file name", target.display())))?;
    // Uniqueness only has to hold among concurrent writers; O_EXCL refuses any clash.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    Ok(parent(target).join(format!(
        ".{}.dockpki-{}-{nanos:x}.tmp",
        name.to_string_lossy(),
        std::process::id()
    )))
}

/// The first unused `NAME.bak-YYYYMMDDTHHMMSSZ[-N]` next to `path`.
fn free_backup_name(path: &Path, stamp: &str) -> Result<PathBuf> {
    (0..1000)
        .map(|n| {
            let suffix = if n == 0 {
                String::new()
            } else {
                format!("-{n}")
            };
            sibling(path, &format!(".bak-{stamp}{suffix}"))
        })
        .find(|candidate| fs::symlink_metadata(candidate).is_err())
        .ok_or_else(|| {
            Error::new(format!(
                "too many backups of {} this second",
                path.display()
            ))
        })
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    parent(path).join(format!("{name}{suffix}"))
}

fn backup_stamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// Whether `path` is a regular file holding exactly `contents`. Read through the bounded
/// reader without following a link: the file may have been swapped for a FIFO (which would
/// block while the lock is held) or a link to `/dev/zero` since it was checked.
pub(crate) fn same_contents(path: &Path, contents: &[u8]) -> bool {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_file() && m.len() == contents.len() as u64 => crate::fs::reader::read(
            path,
            crate::fs::reader::Links::Refuse,
            crate::fs::reader::Limit::Inventory,
        )
        .map(|existing| existing.as_slice() == contents)
        .unwrap_or(false),
        _ => false,
    }
}

/// fsyncs a directory, opened with `O_DIRECTORY` so that whatever else is found at that path
/// (a FIFO swapped in) fails at once instead of blocking.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(test)]
    if trace::sync_fails(dir) {
        return Err(Error::io(
            "sync directory",
            dir,
            &io::Error::from_raw_os_error(nix::libc::EIO),
        ));
    }
    open_dir(dir)?
        .sync_all()
        .map_err(|e| Error::io("sync directory", dir, &e))?;
    #[cfg(test)]
    trace::record(trace::Step::DirSynced(dir.to_path_buf()));
    Ok(())
}

/// Opens a directory to fsync it ([`sync_dir`], [`sync_in_parallel`]).
pub(crate) fn open_dir(dir: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_DIRECTORY | nix::libc::O_CLOEXEC)
        .open(dir)
        .map_err(|e| Error::io("sync directory", dir, &e))
}

/// The directory `path` is in (`.` for a bare name).
pub fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The permission bits of a file, without following a symlink.
///
/// # Errors
/// When the file cannot be looked at.
pub fn mode_of(path: &Path) -> io::Result<u32> {
    fs::symlink_metadata(path).map(|m| m.mode() & 0o7777)
}

/// What [`WritePlan::commit`] and the journal did to the disk, in order: the test of the order
/// of syncs and renames that crash safety rests on reads it; and the disk errors a test
/// injects. Test builds only.
#[cfg(test)]
pub(crate) mod trace {
    use std::path::{Path, PathBuf};
    use std::sync::{Mutex, PoisonError};

    /// One step, with the path it acted on.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub(crate) enum Step {
        /// A file was staged (named by its target), not yet synced.
        Staged(PathBuf),
        /// A staged file (named by its target) or the staged journal (named by the journal's
        /// path) was fsynced.
        Synced(PathBuf),
        /// The journal was renamed into place.
        JournalInPlace(PathBuf),
        /// A directory was fsynced (or its file system synced whole, after the renames).
        DirSynced(PathBuf),
        /// The file system of a directory was synced whole (`syncfs`).
        FsSynced(PathBuf),
        /// A staged file was renamed over its target.
        Moved(PathBuf),
        /// The journal was removed.
        JournalRemoved(PathBuf),
    }

    impl Step {
        fn path(&self) -> &Path {
            match self {
                Step::Staged(p)
                | Step::Synced(p)
                | Step::JournalInPlace(p)
                | Step::DirSynced(p)
                | Step::FsSynced(p)
                | Step::Moved(p)
                | Step::JournalRemoved(p) => p,
            }
        }
    }

    static STEPS: Mutex<Vec<Step>> = Mutex::new(Vec::new());

    /// Directories whose fsync a test made fail ([`fail_sync_of`]).
    static FAILING_SYNCS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

    /// Makes every later fsync of the directory `dir` ([`super::sync_dir`]) fail, as a disk
    /// error would: for the tests of what an update does then.
    pub(crate) fn fail_sync_of(dir: &Path) {
        FAILING_SYNCS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(dir.to_path_buf());
    }

    /// Whether a test made the fsync of `dir` fail.
    pub(crate) fn sync_fails(dir: &Path) -> bool {
        FAILING_SYNCS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .any(|d| d == dir)
    }

    pub(crate) fn record(step: Step) {
        STEPS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(step);
    }

    /// The steps on paths under `root`, in order (tests run in parallel, each in its own
    /// directory).
    pub(crate) fn under(root: &Path) -> Vec<Step> {
        STEPS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|s| s.path().starts_with(root))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Silent;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// A rename the replay of its journal would refuse is refused before anything is written:
    /// a source with a second link, an archive directory another user may write into. Accepting
    /// it and crashing would leave a journal that stops every later command on the state.
    #[test]
    fn a_rename_a_journal_replay_would_refuse_is_refused_by_the_check_first() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let state = root.path().join("state");
        fs::create_dir(&state).unwrap();
        fs::write(state.join("ca-next-key.pem"), "k").unwrap();
        let mut plan = WritePlan::new(Existing::Refuse);
        plan.rename(
            state.join("ca-next-key.pem"),
            state.join("archive/ca-1-key.pem"),
        );
        assert!(plan.check().is_ok(), "a plain rename into a new archive");
        fs::hard_link(state.join("ca-next-key.pem"), root.path().join("snapshot")).unwrap();
        let e = plan.check().unwrap_err().to_string();
        assert!(e.contains("2 link(s)"), "{e}");
        fs::remove_file(root.path().join("snapshot")).unwrap();
        fs::create_dir(state.join("archive")).unwrap();
        fs::set_permissions(state.join("archive"), fs::Permissions::from_mode(0o777)).unwrap();
        let e = plan.check().unwrap_err().to_string();
        assert!(e.contains("writable by group or others"), "{e}");
    }

    #[test]
    fn a_journal_that_cannot_be_written_takes_back_every_staged_file_and_new_directory() {
        let root = tempfile::tempdir().unwrap();
        let mut plan = WritePlan::new(Existing::Refuse);
        let layout = root.path().join("new/layout");
        plan.key(layout.join("key.pem"), Zeroizing::new("k".into()), None);
        plan.cert(layout.join("cert.pem"), "c", None);
        // The journal's directory does not exist: writing it fails after staging, as a full
        // disk would.
        let e = plan
            .commit(&root.path().join("missing/journal.json"), &Silent)
            .unwrap_err();
        assert!(e.to_string().contains("journal.json"), "{e}");
        assert_eq!(names(root.path()), Vec::<String>::new());
    }

    #[test]
    fn a_plan_whose_files_already_hold_their_contents_writes_no_journal() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("cert.pem");
        fs::write(&path, "c").unwrap();
        let mut plan = WritePlan::new(Existing::Refuse);
        plan.cert(path.clone(), "c", None);
        // The journal's directory does not exist: writing a journal would fail.
        let written = plan
            .commit(&root.path().join("missing/journal.json"), &Silent)
            .unwrap();
        assert_eq!(written.len(), 1);
        assert!(!written[0].changed);
        assert_eq!(names(root.path()), ["cert.pem"]);
    }

    #[test]
    fn more_files_than_one_sync_batch_are_all_written() {
        let root = tempfile::tempdir().unwrap();
        let mut plan = WritePlan::new(Existing::Refuse);
        let count = SYNC_BATCH * 2 + 3;
        for i in 0..count {
            plan.cert(
                root.path().join(format!("d{}/f{i}", i % 7)),
                &i.to_string(),
                None,
            );
        }
        let written = plan
            .commit(&root.path().join("journal.json"), &Silent)
            .unwrap();
        assert_eq!(written.len(), count);
        for i in 0..count {
            let path = root.path().join(format!("d{}/f{i}", i % 7));
            assert_eq!(fs::read_to_string(&path).unwrap(), i.to_string());
            assert_eq!(mode_of(&path).unwrap(), CERT_MODE);
        }
        assert!(!root.path().join("journal.json").exists());
    }

    /// The cache of a plan's check only skips what passed: a directory that fails is refused
    /// for whatever was judged before it, through a trusted link or not.
    #[test]
    fn a_cached_pass_never_hides_a_directory_that_fails() {
        let root = tempfile::tempdir().unwrap();
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let good = root.path().join("good");
        let open = root.path().join("open");
        for d in [&good, &open] {
            fs::create_dir(d).unwrap();
        }
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
        // Ours, so trusted, and followed.
        std::os::unix::fs::symlink(&open, root.path().join("link")).unwrap();
        let mut cache = TrustCache::default();
        check_directory_trust_with(&good.join("f"), None, &mut cache).unwrap();
        check_directory_trust_with(&good.join("g"), None, &mut cache).unwrap();
        for file in [open.join("f"), root.path().join("link/f")] {
            let cached = check_directory_trust_with(&file, None, &mut cache).unwrap_err();
            let fresh = check_directory_trust(&file, None).unwrap_err();
            assert_eq!(cached.to_string(), fresh.to_string());
            assert!(
                cached.to_string().contains("writable by group or others"),
                "{cached}"
            );
        }
        // Through a link to a good directory, the resolved path is what is judged.
        std::os::unix::fs::symlink(&good, root.path().join("to-good")).unwrap();
        check_directory_trust_with(&root.path().join("to-good/f"), None, &mut cache).unwrap();
        if crate::test_support::root_or_skip() {
            // A link someone else owns is refused even where its target passed before.
            let theirs = root.path().join("theirs");
            std::os::unix::fs::symlink(&good, &theirs).unwrap();
            nix::unistd::fchownat(
                nix::fcntl::AT_FDCWD,
                &theirs,
                Some(nix::unistd::Uid::from_raw(65534)),
                None,
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .unwrap();
            let e = check_directory_trust_with(&theirs.join("f"), None, &mut cache).unwrap_err();
            assert!(e.to_string().contains("symlink owned by uid 65534"), "{e}");
        }
    }

    /// Committing after dropping unwritable layouts checks the layouts once: what is kept is
    /// written (directories it needs made), what was dropped is left alone, and the files of
    /// the kept directory (`keep`), which the first step does not judge, are still checked.
    #[test]
    fn a_commit_dropping_unwritable_layouts_writes_the_rest_and_still_checks_the_state() {
        let root = tempfile::tempdir().unwrap();
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let (state, open) = (root.path().join("state"), root.path().join("open"));
        for d in [&state, &open] {
            fs::create_dir(d).unwrap();
        }
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
        let new = root.path().join("new/layout");
        let plan = || {
            let mut plan = WritePlan::new(Existing::Refuse);
            plan.cert(new.join("cert.pem"), "c", None);
            plan.cert(open.join("cert.pem"), "c", None);
            plan.state(state.join("inventory.json"), b"i".to_vec());
            plan
        };
        let journal = state.join("journal.json");
        let (written, skipped) = plan()
            .commit_dropping_unwritable(&state, &journal, None, &Silent, |_, _| Ok(Vec::new()))
            .unwrap();
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].0, open);
        assert_eq!(written.len(), 2);
        assert_eq!(fs::read(new.join("cert.pem")).unwrap(), b"c");
        assert_eq!(fs::read(state.join("inventory.json")).unwrap(), b"i");
        assert!(!open.join("cert.pem").exists());
        // A state file that may not be written stops the commit, before anything is staged.
        fs::remove_file(state.join("inventory.json")).unwrap();
        fs::create_dir(state.join("inventory.json")).unwrap();
        fs::remove_dir_all(root.path().join("new")).unwrap();
        let e = plan()
            .commit_dropping_unwritable(&state, &journal, None, &Silent, |_, _| Ok(Vec::new()))
            .unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
        assert!(!root.path().join("new").exists());
    }

    /// `replan` sees the directories the drop step left out before anything else is checked:
    /// what it plans is written in the same commit, the directories it names are left out
    /// with their copies (judged writable, they are still not written), and a file it plans
    /// that may not be written stops the commit, even outside the state, which the drop step
    /// never judged.
    #[test]
    fn a_replan_sees_what_was_left_out_and_what_it_plans_or_leaves_out_is_honoured() {
        let root = tempfile::tempdir().unwrap();
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let [state, open, sibling, copy, good] =
            ["state", "open", "sibling", "copy", "good"].map(|d| root.path().join(d));
        for d in [&state, &open, &sibling, &copy, &good] {
            fs::create_dir(d).unwrap();
        }
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
        let plan = || {
            let mut plan = WritePlan::new(Existing::Refuse);
            plan.cert(open.join("cert.pem"), "c", None);
            plan.cert(sibling.join("cert.pem"), "c", None);
            plan.mirror_of(
                copy.join("cert.pem"),
                b"c",
                0o644,
                None,
                &sibling.join("cert.pem"),
            );
            plan.cert(good.join("cert.pem"), "c", None);
            plan
        };
        let journal = state.join("journal.json");
        let mut seen = Vec::new();
        let (written, skipped) = plan()
            .commit_dropping_unwritable(&state, &journal, None, &Silent, |plan, dropped| {
                seen = dropped.iter().map(|(d, _)| d.clone()).collect();
                plan.state(state.join("inventory.json"), b"i".to_vec());
                Ok(vec![
                    (sibling.clone(), "with open".into()),
                    (open.clone(), "named twice".into()),
                ])
            })
            .unwrap();
        assert_eq!(seen, std::slice::from_ref(&open));
        let skipped: Vec<(&Path, &str)> = skipped
            .iter()
            .map(|(d, why)| (d.as_path(), why.as_str()))
            .collect();
        assert_eq!(skipped.len(), 3, "{skipped:?}");
        assert_eq!(skipped[0].0, open);
        assert_eq!(skipped[1], (sibling.as_path(), "with open"));
        assert_eq!(skipped[2].0, copy);
        let paths: Vec<&Path> = written.iter().map(|w| w.path.as_path()).collect();
        assert_eq!(paths, [good.join("cert.pem"), state.join("inventory.json")]);
        for d in [&open, &sibling, &copy] {
            assert!(!d.join("cert.pem").exists(), "{}", d.display());
        }

        // A file replan adds where it may not be written stops the commit: nothing is written.
        fs::remove_file(good.join("cert.pem")).unwrap();
        let e = plan()
            .commit_dropping_unwritable(&state, &journal, None, &Silent, |plan, _| {
                plan.cert(open.join("late.pem"), "l", None);
                Ok(Vec::new())
            })
            .unwrap_err();
        assert!(e.to_string().contains("writable"), "{e}");
        assert!(!good.join("cert.pem").exists() && !open.join("late.pem").exists());
    }

    #[test]
    fn an_unwritable_layout_is_dropped_whole_and_the_others_kept() {
        let root = tempfile::tempdir().unwrap();
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let (good, open) = (root.path().join("good"), root.path().join("open"));
        for d in [&good, &open] {
            fs::create_dir(d).unwrap();
        }
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
        let mut plan = WritePlan::new(Existing::Refuse);
        for d in [&good, &open, &good] {
            plan.cert(d.join(format!("c{}", plan.files.len())), "c", None);
        }
        let dropped = plan.drop_unwritable_layouts(&root.path().join("state"));
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0].0, open);
        let left: Vec<&Path> = plan.files.iter().map(|f| f.path.as_path()).collect();
        assert_eq!(left, [good.join("c0"), good.join("c2")]);
    }

    /// The order crash safety rests on, for a plan large enough to be synced in several
    /// batches: every staged file and the staged journal are durable before the journal is
    /// renamed into place; the journal's directory is synced before the first rename; every
    /// directory renamed into is synced after its last rename and before the journal goes; and
    /// nothing is synced after that.
    #[test]
    fn every_sync_comes_before_what_depends_on_it() {
        use trace::Step;
        let root = tempfile::tempdir().unwrap();
        let state = root.path().join("state");
        fs::create_dir(&state).unwrap();
        let journal = state.join("journal.json");
        let mut plan = WritePlan::new(Existing::ReplaceKeepingBackup);
        let targets: Vec<PathBuf> = (0..SYNC_BATCH * 2 + 3)
            .map(|i| root.path().join(format!("d{}/f{i}", i % 5)))
            .collect();
        // One target already there with other contents: it is backed up, then replaced.
        fs::create_dir(root.path().join("d0")).unwrap();
        fs::write(&targets[0], "old").unwrap();
        for (i, t) in targets.iter().enumerate() {
            plan.cert(t.clone(), &i.to_string(), None);
        }
        plan.commit(&journal, &Silent).unwrap();
        let steps = trace::under(root.path());
        let at = |step: &Step| {
            steps
                .iter()
                .position(|s| s == step)
                .unwrap_or_else(|| panic!("{step:?} never happened: {steps:?}"))
        };
        let in_place = at(&Step::JournalInPlace(journal.clone()));
        for t in targets.iter().chain([&journal]) {
            assert!(at(&Step::Synced(t.clone())) < in_place, "{}", t.display());
        }
        let first_move = steps
            .iter()
            .position(|s| matches!(s, Step::Moved(_)))
            .unwrap();
        let state_synced = at(&Step::DirSynced(state.clone()));
        assert!(in_place < state_synced && state_synced < first_move);
        let removed = at(&Step::JournalRemoved(journal.clone()));
        assert_eq!(removed, steps.len() - 1, "nothing after the removal");
        for dir in (0..5).map(|i| root.path().join(format!("d{i}"))) {
            let last_move = steps
                .iter()
                .rposition(|s| matches!(s, Step::Moved(p) if p.parent() == Some(&dir)))
                .unwrap();
            let synced = steps
                .iter()
                .rposition(|s| *s == Step::DirSynced(dir.clone()))
                .unwrap();
            assert!(last_move < synced && synced < removed, "{}", dir.display());
        }
        let moved = steps.iter().filter(|s| matches!(s, Step::Moved(_))).count();
        assert_eq!(moved, targets.len());
        assert_eq!(fs::read(&targets[1]).unwrap(), b"1");
    }

    /// Files staged as their owner are never staged while a batch is being synced: acting as
    /// a user changes the process's groups, which waits for every thread (one blocked in an
    /// fsync too). Each batch is staged whole, then synced whole.
    #[test]
    fn no_file_is_synced_while_files_are_staged_as_their_owner() {
        use trace::Step;
        if !crate::test_support::root_or_skip() {
            return;
        }
        let root = tempfile::tempdir().unwrap();
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let layout = root.path().join("layout");
        fs::create_dir(&layout).unwrap();
        std::os::unix::fs::chown(&layout, Some(65534), Some(65534)).unwrap();
        let nobody = Owner {
            uid: 65534,
            gid: 65534,
        };
        let mut plan = WritePlan::new(Existing::Refuse);
        // Two batches, the files and the journal fewer than a round synced whole (syncfs).
        let count = SYNCFS_FROM - 2;
        assert!(count > SYNC_BATCH);
        for i in 0..count {
            plan.cert(layout.join(format!("f{i}")), &i.to_string(), Some(nobody));
        }
        plan.commit(&root.path().join("journal.json"), &Silent)
            .unwrap();
        let steps: Vec<Step> = trace::under(&layout)
            .into_iter()
            .filter(|s| matches!(s, Step::Staged(_) | Step::Synced(_)))
            .collect();
        // Batch after batch: SYNC_BATCH staged, then as many synced (the last one shorter).
        let mut rest = &steps[..];
        while !rest.is_empty() {
            let n = rest.len().min(2 * SYNC_BATCH) / 2;
            let (staged, synced) = rest[..2 * n].split_at(n);
            assert!(
                staged.iter().all(|s| matches!(s, Step::Staged(_)))
                    && synced.iter().all(|s| matches!(s, Step::Synced(_))),
                "a sync among the staging of a batch: {:?}",
                &rest[..2 * n]
            );
            rest = &rest[2 * n..];
        }
        for i in 0..count {
            let path = layout.join(format!("f{i}"));
            assert_eq!(fs::read_to_string(&path).unwrap(), i.to_string());
            assert_eq!(fs::metadata(&path).unwrap().uid(), 65534);
        }
    }

    /// Once the journal is in place, a failure (here: the fsync of its directory) takes
    /// nothing back: the journal and every staged file it names stay, and the next recover
    /// completes the whole update. Taking back the staged files would leave a journal whose
    /// replay still did the renames of state files, without the files written with them.
    #[test]
    fn a_failure_once_the_journal_is_in_place_leaves_the_update_for_the_replay_to_complete() {
        use crate::fs::journal::{recover, Scope};
        let root = tempfile::tempdir().unwrap();
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let (state, layout) = (root.path().join("state"), root.path().join("layout"));
        fs::create_dir(&state).unwrap();
        fs::create_dir(&layout).unwrap();
        fs::write(state.join("ca-next.pem"), "next").unwrap();
        let journal = state.join("journal.json");
        let note = state.join("staging.json");
        let mut plan = WritePlan::new(Existing::Refuse);
        plan.cert(layout.join("cert.pem"), "new", None);
        plan.rename(state.join("ca-next.pem"), state.join("ca.pem"));
        trace::fail_sync_of(&state);
        let e = plan
            .commit_noting_staging(&journal, Some(&note), &Silent)
            .unwrap_err();
        assert!(e.to_string().contains("sync directory"), "{e}");
        assert!(journal.exists() && note.exists());
        assert!(!layout.join("cert.pem").exists() && !state.join("ca.pem").exists());
        let staged: Vec<String> = names(&layout);
        assert!(
            matches!(&staged[..], [name] if parse_temp_name(name).is_some()),
            "{staged:?}"
        );
        let scope = Scope::State {
            state: state.clone(),
            archive: state.join("archive"),
            dirs: [state.clone(), layout.clone()].into(),
        };
        assert_eq!(recover(&journal, |_| Ok(scope), &Silent).unwrap(), 2);
        assert_eq!(fs::read(layout.join("cert.pem")).unwrap(), b"new");
        assert_eq!(fs::read(state.join("ca.pem")).unwrap(), b"next");
        assert!(!journal.exists() && !state.join("ca-next.pem").exists());
        assert_eq!(names(&layout), ["cert.pem"]);
    }

    /// An update left for the replay (its journal still in place) is never overwritten by the
    /// next commit through the same journal: that one is refused, staging nothing.
    #[test]
    fn a_commit_never_replaces_a_journal_still_waiting_for_its_replay() {
        let root = tempfile::tempdir().unwrap();
        let journal = root.path().join("journal.json");
        fs::write(&journal, "pending").unwrap();
        let mut plan = WritePlan::new(Existing::Refuse);
        plan.cert(root.path().join("cert.pem"), "new", None);
        let e = plan.commit(&journal, &Silent).unwrap_err();
        assert!(e.to_string().contains("not complete yet"), "{e}");
        assert_eq!(fs::read(&journal).unwrap(), b"pending");
        assert_eq!(names(root.path()), ["journal.json"]);
    }

    /// A staged name that is already taken (by someone else's file: creating it exclusively
    /// fails) is never recorded for the cleanup, so an update that stops there removes only
    /// what it created itself.
    #[test]
    fn a_staged_name_someone_else_holds_is_never_taken_back() {
        let root = tempfile::tempdir().unwrap();
        let theirs = root.path().join(".b.dockpki-1-1.tmp");
        fs::write(&theirs, "theirs").unwrap();
        let e = write_staged(&theirs, b"ours", KEY_MODE, None).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        let file = |name: &str| PlannedFile {
            path: root.path().join(name),
            contents: Zeroizing::new(b"ours".to_vec()),
            mode: KEY_MODE,
            owner: None,
            replace: Replace::IfForced,
            copy_of: None,
            rewrite_same: false,
            judged: false,
        };
        let (a, b) = (file("a"), file("b"));
        let ours = root.path().join(".a.dockpki-1-1.tmp");
        let staged = [(ours.clone(), &a), (theirs.clone(), &b)];
        let journal = Journal {
            version: JOURNAL_VERSION,
            moves: Vec::new(),
        };
        let mut written = Vec::new();
        let e = stage_and_sync(
            &staged,
            &journal,
            &root.path().join("journal.json"),
            &root.path().join(".journal.json.tmp"),
            &mut written,
        )
        .unwrap_err();
        assert!(e.to_string().contains("exists"), "{e}");
        assert_eq!(written, [ours]);
        assert_eq!(fs::read(&theirs).unwrap(), b"theirs");
    }

    /// A temporary directory on a file system [`FsRound`] syncs whole (ext4 on the test
    /// machine), or `None` when it is not (and under `CI=true` that fails the test).
    fn syncfs_dir() -> Option<tempfile::TempDir> {
        let root = tempfile::tempdir().unwrap();
        let ok = syncfs_reports_errors() && syncfs_commits(&open_dir(root.path()).unwrap());
        crate::test_support::present_or_skip(
            ok,
            "a temporary directory on ext4, XFS, btrfs or tmpfs, on Linux 5.8 or later",
        )
        .then_some(root)
    }

    /// A commit of [`SYNCFS_FROM`] files into as many directories syncs the file system once
    /// after staging (before the journal goes in place, and every staged file counts as synced
    /// only then) and once after the renames (before the journal goes); a small one fsyncs
    /// each file and never syncs a whole file system.
    #[test]
    fn a_large_commit_syncs_each_file_system_once_per_round_instead_of_every_file() {
        use trace::Step;
        let Some(root) = syncfs_dir() else { return };
        let state = root.path().join("state");
        fs::create_dir(&state).unwrap();
        let journal = state.join("journal.json");
        let mut plan = WritePlan::new(Existing::Refuse);
        let targets: Vec<PathBuf> = (0..SYNCFS_FROM)
            .map(|i| root.path().join(format!("d{i:04}/cert.pem")))
            .collect();
        for (i, t) in targets.iter().enumerate() {
            plan.cert(t.clone(), &i.to_string(), None);
        }
        plan.commit(&journal, &Silent).unwrap();
        let steps = trace::under(root.path());
        let fs_synced: Vec<usize> = (0..steps.len())
            .filter(|&i| matches!(steps[i], Step::FsSynced(_)))
            .collect();
        let at = |step: &Step| steps.iter().position(|s| s == step).unwrap();
        let in_place = at(&Step::JournalInPlace(journal.clone()));
        let removed = at(&Step::JournalRemoved(journal.clone()));
        let last_staged = steps
            .iter()
            .rposition(|s| matches!(s, Step::Staged(_)))
            .unwrap();
        let last_move = steps
            .iter()
            .rposition(|s| matches!(s, Step::Moved(_)))
            .unwrap();
        assert!(
            matches!(fs_synced[..], [staging, renames]
                if last_staged < staging && staging < in_place
                    && last_move < renames && renames < removed),
            "{fs_synced:?} {last_staged} {in_place} {last_move} {removed}"
        );
        for t in targets.iter().chain([&journal]) {
            let synced = at(&Step::Synced(t.clone()));
            assert!(
                fs_synced[0] < synced && synced < in_place,
                "{}",
                t.display()
            );
        }
        for t in &targets {
            let synced = at(&Step::DirSynced(parent(t).to_path_buf()));
            assert!(fs_synced[1] < synced && synced < removed, "{}", t.display());
        }
        assert_eq!(fs::read(&targets[7]).unwrap(), b"7");

        let small = root.path().join("small");
        let mut plan = WritePlan::new(Existing::Refuse);
        for i in 0..SYNCFS_FROM / 2 {
            plan.cert(small.join(format!("f{i}")), "x", None);
        }
        plan.commit(&small.join("journal.json"), &Silent).unwrap();
        let steps = trace::under(&small);
        assert!(!steps.iter().any(|s| matches!(s, Step::FsSynced(_))));
        assert_eq!(
            steps
                .iter()
                .filter(|s| matches!(s, Step::Synced(_)))
                .count(),
            SYNCFS_FROM / 2 + 1
        );
    }

    /// A syncfs that fails after a large commit's staging (a write lost on the disk) stops the
    /// commit before its journal exists, with one line naming the directory, and takes back
    /// every staged file, the staged journal and the directories made for them.
    #[test]
    fn a_failed_syncfs_stops_a_large_commit_and_leaves_nothing_behind() {
        let Some(root) = syncfs_dir() else { return };
        let layouts = root.path().join("layouts");
        fs::create_dir(&layouts).unwrap();
        // The journal's directory is the round's first, in order: the one whose handle syncs
        // the file system.
        let journal = layouts.join("journal.json");
        let mut plan = WritePlan::new(Existing::Refuse);
        for i in 0..SYNCFS_FROM {
            plan.cert(layouts.join(format!("d{}/f{i}", i % 3)), "x", None);
        }
        trace::fail_sync_of(&layouts);
        let e = plan.commit(&journal, &Silent).unwrap_err();
        assert!(e.to_string().contains("sync the file system of"), "{e}");
        assert_eq!(e.to_string().lines().count(), 1, "{e}");
        assert!(names(&layouts).is_empty(), "{:?}", names(&layouts));
        assert!(!journal.exists());
        assert!(!trace::under(root.path())
            .iter()
            .any(|s| matches!(s, trace::Step::JournalInPlace(_) | trace::Step::FsSynced(_))));
    }

    #[test]
    fn parallel_syncs_report_each_files_own_result_in_order() {
        let root = tempfile::tempdir().unwrap();
        let file = |name: &str| File::create(root.path().join(name)).unwrap();
        // fsync of a pipe fails (EINVAL): the one failure must be reported for that file only.
        let (read_end, _write_end) = nix::unistd::pipe().unwrap();
        let pipe = File::from(read_end);
        let (a, b, c) = (file("a"), file("b"), file("c"));
        let results = sync_in_parallel(&[&a, &pipe, &b, &c]);
        let failed: Vec<bool> = results.iter().map(|r| r.is_err()).collect();
        assert_eq!(failed, [false, true, false, false]);
    }

    #[test]
    fn the_staging_note_lists_every_directory_and_goes_with_the_update() {
        let root = tempfile::tempdir().unwrap();
        let note = root.path().join("staging.json");
        let mut plan = WritePlan::new(Existing::Refuse);
        plan.cert(root.path().join("a/cert.pem"), "c", None);
        plan.key(
            root.path().join("b/key.pem"),
            Zeroizing::new("k".into()),
            None,
        );
        plan.cert(root.path().join("b/ca.pem"), "c", None);
        plan.write_staging_note(&note).unwrap();
        assert_eq!(
            read_staging_note(&note).unwrap(),
            Some(vec![root.path().join("a"), root.path().join("b")])
        );
        fs::remove_file(&note).unwrap();
        plan.commit_noting_staging(&root.path().join("journal.json"), Some(&note), &Silent)
            .unwrap();
        assert!(!note.exists(), "removed once the update is complete");
        // An update that fails before its journal takes its note back with its files.
        let mut plan = WritePlan::new(Existing::Refuse);
        plan.cert(root.path().join("c/cert.pem"), "c", None);
        plan.commit_noting_staging(
            &root.path().join("missing/journal.json"),
            Some(&note),
            &Silent,
        )
        .unwrap_err();
        assert!(!note.exists() && !root.path().join("c").exists());
        // A note that is not a list of directories is an error, for the caller to search
        // everywhere instead.
        fs::write(&note, "[").unwrap();
        assert!(read_staging_note(&note).is_err());
        assert_eq!(read_staging_note(&root.path().join("none")).unwrap(), None);
    }

    #[test]
    fn an_existing_fifo_or_socket_target_is_refused_even_with_force() {
        let root = tempfile::tempdir().unwrap();
        let fifo = root.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let sock = root.path().join("sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        for (path, kind) in [(fifo, "a FIFO"), (sock, "a socket")] {
            let mut plan = WritePlan::new(Existing::ReplaceKeepingBackup);
            plan.cert(path.clone(), "c", None);
            let e = plan.check().unwrap_err().to_string();
            assert!(e.contains(kind) && e.contains("not a regular file"), "{e}");
        }
    }

    #[test]
    fn a_foreign_file_needs_force_and_an_own_regenerated_file_does_not() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("crl.pem");
        fs::write(&path, "someone's\n").unwrap();
        let plan_with = |force, previous| {
            let mut plan = WritePlan::new(force);
            plan.regenerated(path.clone(), b"new".to_vec(), previous);
            plan
        };
        let e = plan_with(Existing::Refuse, Previous::Unknown)
            .check()
            .unwrap_err();
        assert!(e.to_string().contains("was not written by dockpki"), "{e}");
        plan_with(Existing::ReplaceKeepingBackup, Previous::Unknown)
            .check()
            .unwrap();
        plan_with(Existing::Refuse, Previous::Dockpki)
            .check()
            .unwrap();
        // Identical contents are never a conflict.
        let mut same = WritePlan::new(Existing::Refuse);
        same.regenerated(path.clone(), b"someone's\n".to_vec(), Previous::Unknown);
        same.check().unwrap();
    }

    #[test]
    fn a_foreign_file_replaced_with_force_is_kept_in_a_timestamped_backup() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("crl.pem");
        fs::write(&path, "someone's\n").unwrap();
        let mut plan = WritePlan::new(Existing::ReplaceKeepingBackup);
        plan.regenerated(path.clone(), b"new".to_vec(), Previous::Unknown);
        let written = plan
            .commit(&root.path().join("journal.json"), &Silent)
            .unwrap();
        let backup = written[0].backup.clone().unwrap();
        let name = backup.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("crl.pem.bak-"), "{name}");
        assert_eq!(fs::read(&backup).unwrap(), b"someone's\n");
        assert_eq!(fs::read(&path).unwrap(), b"new");
    }

    #[test]
    fn non_utf8_paths_are_refused_before_staging() {
        use std::os::unix::ffi::OsStrExt;
        let root = tempfile::tempdir().unwrap();
        let bad = root.path().join(std::ffi::OsStr::from_bytes(b"caf\xe9"));
        let mut plan = WritePlan::new(Existing::Refuse);
        plan.cert(bad.join("cert.pem"), "c", None);
        let e = plan
            .commit(&root.path().join("journal.json"), &Silent)
            .unwrap_err();
        assert!(e.to_string().contains("not valid UTF-8"), "{e}");
        assert_eq!(names(root.path()), Vec::<String>::new());
    }

    /// Every path a plan writes is recorded in a journal (and often the inventory) that a later
    /// process, with another working directory, acts on; the journal's replay refuses anything
    /// but a plain absolute path. So a plan refuses such paths before anything is staged,
    /// whatever its caller checked: a relative path would mean another place to every later
    /// process, and one with `..` goes wherever the symlinks before it lead.
    #[test]
    fn relative_paths_and_paths_with_dotdot_are_refused_before_anything_is_staged() {
        let root = tempfile::tempdir().unwrap();
        let dotdot = root.path().join("a/../layout/cert.pem");
        for (bad, why) in [
            (PathBuf::from("layout/cert.pem"), "is not absolute"),
            (dotdot.clone(), "contains '..'"),
        ] {
            let mut plan = WritePlan::new(Existing::Refuse);
            plan.cert(bad.clone(), "c", None);
            let e = plan.check().unwrap_err().to_string();
            assert!(e.contains(why), "{}: {e}", bad.display());
        }
        let mut plan = WritePlan::new(Existing::Refuse);
        plan.rename(root.path().join("ca-next.pem"), PathBuf::from("ca.pem"));
        let e = plan.check().unwrap_err().to_string();
        assert!(e.contains("is not absolute"), "{e}");
        let mut plan = WritePlan::new(Existing::Refuse);
        plan.cert(dotdot, "c", None);
        plan.commit(&root.path().join("journal.json"), &Silent)
            .unwrap_err();
        assert_eq!(names(root.path()), Vec::<String>::new());
    }

    /// The rule every write and every journal replay obeys (StrictModes'), through the
    /// library alone: every directory up to `/` owned by root, the running user or the user
    /// the file is for, none writable by group or others unless sticky; every symlink on the
    /// path owned by one of them; and a user's files only where that user owns the directory.
    #[test]
    fn directory_trust_is_the_strict_modes_rule() {
        use std::os::unix::fs::{chown, lchown, symlink};
        if !crate::test_support::root_or_skip() {
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let sandbox = root.path();
        fs::set_permissions(sandbox, fs::Permissions::from_mode(0o755)).unwrap();
        let dir = |name: &str, mode: u32, uid: u32| {
            let d = sandbox.join(name);
            fs::create_dir(&d).unwrap();
            fs::set_permissions(&d, fs::Permissions::from_mode(mode)).unwrap();
            chown(&d, Some(uid), Some(uid)).unwrap();
            d.join("file")
        };
        let roots = dir("roots", 0o700, 0);
        let group_writable = dir("group-writable", 0o770, 0);
        let sticky = dir("sticky", 0o1777, 0);
        let users = dir("users", 0o700, 65534);
        let link = |name: &str, to: &str, uid: u32| {
            let l = sandbox.join(name);
            symlink(sandbox.join(to), &l).unwrap();
            lchown(&l, Some(uid), Some(uid)).unwrap();
            l.join("file")
        };
        let roots_link = link("roots-link", "roots", 0);
        let users_link_to_roots = link("users-link-to-roots", "roots", 65534);
        let users_link_to_theirs = link("users-link-to-theirs", "users", 65534);
        let check = |file: &Path, owner: Option<u32>| {
            check_directory_trust(file, owner).map_err(|e| e.to_string())
        };
        let refused = |file: &Path, owner: Option<u32>, why: &str| {
            let e = check(file, owner).unwrap_err();
            assert!(e.contains(why), "{}: {e}", file.display());
        };

        check(&roots, None).unwrap();
        check(&sticky, None).unwrap();
        check(&roots_link, None).unwrap();
        check(&roots.parent().unwrap().join("new/sub/file"), None).unwrap();
        refused(
            &group_writable,
            None,
            "is writable by group or others (mode 0770)",
        );
        refused(&users, None, "is owned by uid 65534, who could replace");
        refused(
            &users_link_to_roots,
            None,
            "it is a symlink owned by uid 65534",
        );
        // For that user, their directory and their link to it are fine...
        check(&users, Some(65534)).unwrap();
        check(&users_link_to_theirs, Some(65534)).unwrap();
        // ...but files for them go only where they own the directory.
        refused(&users_link_to_roots, Some(65534), "not by uid 65534");
        refused(&roots, Some(65534), "not by uid 65534");
        refused(&group_writable, Some(65534), "not by uid 65534");
    }

    /// For a user who is not root, root's directories and their own are trusted, nobody
    /// else's. Run in a child process of this test binary as uid 65534.
    #[test]
    fn for_a_user_roots_directories_and_their_own_are_trusted_and_no_one_elses() {
        const SANDBOX: &str = "DOCKPKI_TEST_TRUST_SANDBOX";
        if let Some(sandbox) = std::env::var_os(SANDBOX) {
            let sandbox = PathBuf::from(sandbox);
            assert_eq!(nix::unistd::geteuid().as_raw(), 65534);
            check_directory_trust(&sandbox.join("mine/file"), None).unwrap();
            check_directory_trust(&sandbox.join("mine/new/file"), None).unwrap();
            let e = check_directory_trust(&sandbox.join("theirs/file"), None).unwrap_err();
            assert!(e.to_string().contains("owned by uid 65533"), "{e}");
            return;
        }
        if !crate::test_support::root_or_skip() {
            return;
        }
        let root = tempfile::tempdir().unwrap();
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
        for (name, uid) in [("mine", 65534), ("theirs", 65533)] {
            let d = root.path().join(name);
            fs::DirBuilder::new().mode(0o755).create(&d).unwrap();
            std::os::unix::fs::chown(&d, Some(uid), Some(uid)).unwrap();
        }
        assert!(
            crate::test_support::passes_as_nobody(
                "fs::write::tests::for_a_user_roots_directories_and_their_own_are_trusted_and_no_one_elses",
                SANDBOX,
                root.path()
            ),
            "the check as uid 65534 failed"
        );
    }

    /// Root writing a user's files acts as that user: a directory the user may not write
    /// (where a swapped-in link would lead) stays out of reach.
    #[test]
    fn acting_as_a_user_root_cannot_write_where_that_user_cannot() {
        if !crate::test_support::root_or_skip() {
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let roots = root.path().join("root-only");
        fs::DirBuilder::new().mode(0o700).create(&roots).unwrap();
        {
            let _as = ActingAs::user(Some(65534), Some(65534)).unwrap();
            let e = write_new(&roots.join("key.pem"), b"k", KEY_MODE, None).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        }
        // Back to root once the guard is gone.
        write_new(&roots.join("key.pem"), b"k", KEY_MODE, None).unwrap();
        // What the user creates is theirs from the start.
        let open = root.path().join("open");
        fs::DirBuilder::new().mode(0o777).create(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
        {
            let _as = ActingAs::user(Some(65534), Some(65534)).unwrap();
            write_new(&open.join("f"), b"x", CERT_MODE, None).unwrap();
        }
        assert_eq!(fs::metadata(open.join("f")).unwrap().uid(), 65534);
    }

    /// A state, a layout of uid 65534 holding `cert.pem` root left there (0444, so that the
    /// user may not keep its backup), and a plan replacing it for the user and writing the
    /// state's inventory: (root, state, layout, cert, plan). Needs root.
    fn plan_over_roots_file_in_a_users_layout(
    ) -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf, WritePlan) {
        let root = tempfile::tempdir().unwrap();
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let (state, layout) = (root.path().join("state"), root.path().join("layout"));
        fs::DirBuilder::new().mode(0o700).create(&state).unwrap();
        fs::create_dir(&layout).unwrap();
        let cert = layout.join("cert.pem");
        fs::write(&cert, "old").unwrap();
        fs::set_permissions(&cert, fs::Permissions::from_mode(0o444)).unwrap();
        std::os::unix::fs::chown(&layout, Some(65534), Some(65534)).unwrap();
        let nobody = Owner {
            uid: 65534,
            gid: 65534,
        };
        let mut plan = WritePlan::new(Existing::ReplaceKeepingBackup);
        plan.cert(cert.clone(), "new", Some(nobody));
        plan.state(state.join("inventory.json"), b"inventory".to_vec());
        (root, state, layout, cert, plan)
    }

    /// A user's file whose move fails while the plan is applied (here: the user may not keep a
    /// backup of a file root left in their layout) is left out and reported; the outcome must
    /// not list it as written either, since an embedder's [`Report`] may drop notices (the
    /// default settings' does).
    #[test]
    fn a_users_file_left_out_while_moving_into_place_is_not_listed_as_written() {
        if !crate::test_support::root_or_skip() {
            return;
        }
        let (_root, state, _, cert, plan) = plan_over_roots_file_in_a_users_layout();
        let notices = std::sync::Mutex::new(Vec::new());
        let report = |n: &Notice| notices.lock().unwrap().push(n.clone());
        let written = plan.commit(&state.join("journal.json"), &report).unwrap();
        let notices = notices.into_inner().unwrap();
        assert!(
            matches!(&notices[..], [Notice::SkippedUserFile(line)] if line.contains("cert.pem")),
            "{notices:?}"
        );
        assert_eq!(fs::read(&cert).unwrap(), b"old");
        assert!(
            !written.iter().any(|w| w.path == cert),
            "listed as written: {written:?}"
        );
        assert!(written
            .iter()
            .any(|w| w.path == state.join("inventory.json")));
    }

    /// The same move left out in a batch update (`commit_dropping_unwritable`, as renew
    /// commits): its directory is returned as left out, with what happened, so that the caller
    /// says so and exits 1, while the rest of the update is written.
    #[test]
    fn a_users_file_left_out_while_moving_into_place_leaves_its_directory_out_of_a_batch() {
        if !crate::test_support::root_or_skip() {
            return;
        }
        let (_root, state, layout, cert, plan) = plan_over_roots_file_in_a_users_layout();
        let (written, skipped) = plan
            .commit_dropping_unwritable(
                &state,
                &state.join("journal.json"),
                None,
                &Silent,
                |_, _| Ok(Vec::new()),
            )
            .unwrap();
        assert!(
            matches!(&skipped[..], [(dir, why)] if *dir == layout && why.contains("could not be moved into place")),
            "{skipped:?}"
        );
        assert_eq!(fs::read(&cert).unwrap(), b"old");
        assert!(!written.iter().any(|w| w.path == cert), "{written:?}");
        assert!(written
            .iter()
            .any(|w| w.path == state.join("inventory.json")));
    }

    /// A directory left out takes no directory with it that only it needed: a missing parent
    /// of a layout left out is not made, empty, while one a kept file needs is.
    #[test]
    fn a_missing_directory_only_a_left_out_layout_needed_is_not_created() {
        let root = tempfile::tempdir().unwrap();
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let state = root.path().join("state");
        fs::create_dir(&state).unwrap();
        let [lost, kept] = ["x/lost", "y/kept"].map(|d| root.path().join(d));
        let mut plan = WritePlan::new(Existing::Refuse);
        plan.cert(lost.join("cert.pem"), "c", None);
        plan.cert(kept.join("cert.pem"), "c", None);
        let (written, skipped) = plan
            .commit_dropping_unwritable(
                &state,
                &state.join("journal.json"),
                None,
                &Silent,
                |_, _| Ok(vec![(lost.clone(), "named by the caller".into())]),
            )
            .unwrap();
        assert_eq!(skipped, [(lost.clone(), "named by the caller".to_string())]);
        assert_eq!(written.len(), 1);
        assert!(kept.join("cert.pem").is_file());
        assert!(!root.path().join("x").exists(), "an empty parent was made");
    }

    /// A directory with a pending update of its own (a journal next to a file there) keeps
    /// its staged files: they are that update's, whoever will complete it.
    #[test]
    fn staged_files_next_to_a_pending_journal_are_kept() {
        let root = tempfile::tempdir().unwrap();
        let dead = crate::test_support::dead_pid();
        let staged = root
            .path()
            .join(format!(".daemon.json.dockpki-{dead}-1.tmp"));
        fs::write(&staged, "x").unwrap();
        fs::write(root.path().join(".daemon.json.dockpki-journal"), "{}").unwrap();
        assert_eq!(remove_stale_temps(root.path()), 0);
        assert!(staged.exists());
    }

    #[test]
    fn temp_names_are_recognised_exactly() {
        let tmp = temp_path(Path::new("/x/key.pem")).unwrap();
        let name = tmp.file_name().unwrap().to_str().unwrap();
        assert_eq!(parse_temp_name(name), Some(("key.pem", std::process::id())));
        assert_eq!(parse_temp_name(".a.b.dockpki-12-ff.tmp"), Some(("a.b", 12)));
        for other in [
            "key.pem",
            ".key.pem.dockpki-12-ff",
            "key.pem.dockpki-12-ff.tmp",
            ".key.pem.dockpki--ff.tmp",
            ".key.pem.dockpki-12-.tmp",
            ".key.pem.dockpki-1x-ff.tmp",
            ".key.pem.dockpki-12-fg.tmp",
            "..dockpki-12-ff.tmp",
            ".key.pem.other-12-ff.tmp",
        ] {
            assert_eq!(parse_temp_name(other), None, "{other}");
        }
    }

    #[test]
    fn only_staged_files_of_dead_processes_are_removed() {
        let root = tempfile::tempdir().unwrap();
        let dead = crate::test_support::dead_pid();
        let live = std::process::id();
        for name in [
            format!(".key.pem.dockpki-{dead}-1.tmp"),
            format!(".key.pem.dockpki-{live}-1.tmp"),
            "key.pem".to_string(),
        ] {
            fs::write(root.path().join(name), "x").unwrap();
        }
        fs::create_dir(root.path().join(format!(".d.dockpki-{dead}-1.tmp"))).unwrap();
        assert_eq!(remove_stale_temps(root.path()), 1);
        assert_eq!(
            names(root.path()),
            vec![
                format!(".d.dockpki-{dead}-1.tmp"),
                format!(".key.pem.dockpki-{live}-1.tmp"),
                "key.pem".to_string()
            ]
        );
    }
}
