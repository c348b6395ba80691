//! The write-ahead journal that makes a multi-file update crash-safe.
//!
//! An update (a renewal rewrites `ca.pem`, the certificate and the key of several layouts, plus
//! the inventory) is staged as fully written, fsynced temporary files first. Only then is the
//! journal written (atomically) listing every rename still to do; then the renames happen; then
//! the journal is deleted. A crash before the journal exists leaves every file old (the staged
//! temporaries are inert); a crash after it is completed by [`recover`], which every command that
//! opens the state runs first, before it reads anything. Every step of [`Journal::apply`] can be
//! repeated, so a crash during recovery is recovered the same way. ("fsynced" here also covers
//! a large update's one `syncfs` per file system, which stands for the fsyncs of a round of
//! thousands of files or directories in the same order: see
//! [`crate::fs::WritePlan::commit_noting_staging`].)
//!
//! A journal is also a list of renames that a root process will carry out, so a journal found on
//! disk is trusted no more than anything else read from a file. [`recover`] replays it only when
//! every check below passes, all of them before the first rename; otherwise it refuses with one
//! line naming the journal, and nothing moves:
//!
//! 1. the journal is a regular file (not a link), owned by the running user or root, writable by
//!    no one else, in a directory that passes the same trust checks as every write
//!    ([`crate::fs::write::check_directory_trust`]);
//! 2. every path in it is absolute and plain (no `.` or `..`), and UTF-8;
//! 3. every target lies in a directory its [`Scope`] allows: for the state's journal the state
//!    directory, its archive, and the layouts and docker-context directories that the inventory
//!    (the one on disk or the one the journal is installing) records; for a journal kept next to
//!    a configuration file, that file alone;
//! 4. every staged file is a sibling of its target named like dockpki's temporaries
//!    (`.NAME.dockpki-PID-HEX.tmp`), and every backup a sibling named `NAME.bak` or
//!    `NAME.bak-…`; the only other moves are renames of a file of the state directory to another
//!    file of the state directory or of its archive;
//! 5. every staged file still present is a regular file with one link, owned by the running
//!    user, root, or the user the journal says it was written for; the directory trust checks
//!    pass for its target; and a target that exists is a regular file.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fs::owner::ActingAs;
use crate::fs::reader::{self, kind_of, Limit, Links};
use crate::fs::write::{
    check_directory_trust, movable_file_problem, open_dir, parent, parse_temp_name,
    remove_if_present, sync_dir, sync_in_parallel, temp_path, write_new, FsRound, PRIVATE_MODE,
};
use crate::report::{Notice, Report};

/// Format version of the journal file.
pub const JOURNAL_VERSION: u32 = 1;

/// How the file a move replaces is kept.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backup {
    /// A new `NAME.bak-<timestamp>` hard link (keys and certificates replaced with `--force`).
    Timestamped(PathBuf),
    /// `NAME.bak`, replacing the one before (dockpki's own bookkeeping).
    Previous(PathBuf),
}

impl Backup {
    /// Where the old file is kept.
    pub fn into_path(self) -> PathBuf {
        match self {
            Backup::Timestamped(p) | Backup::Previous(p) => p,
        }
    }
}

/// One rename still to do.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Move {
    /// The staged, complete file.
    pub temp: PathBuf,
    /// Where it goes.
    pub target: PathBuf,
    /// How to keep the file it replaces, if any.
    pub backup: Option<Backup>,
    /// The user the file was written for (a client layout under sudo), whose staged file and
    /// directories are trusted like the running user's when the journal is replayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<u32>,
}

impl Move {
    /// The report of a move into a user's layout that was skipped because of `why`.
    fn skipped(&self, why: &dyn std::fmt::Display) -> String {
        format!(
            "skipped {} of uid {}: {why}; renew it once the layout is fixed",
            self.target.display(),
            self.owner.unwrap_or_default()
        )
    }

    /// Keeps the backup and renames; `false` when the staged file is gone (done before).
    fn apply(&self) -> Result<bool> {
        if fs::symlink_metadata(&self.temp).is_err() {
            return Ok(false);
        }
        if fs::symlink_metadata(&self.target).is_ok() {
            match &self.backup {
                Some(Backup::Timestamped(b)) => link_once(&self.target, b)?,
                Some(Backup::Previous(b)) => {
                    remove_if_present(b)?;
                    link_once(&self.target, b)?;
                }
                None => {}
            }
        }
        fs::rename(&self.temp, &self.target)
            .map_err(|e| Error::io("move into place", &self.target, &e))?;
        #[cfg(test)]
        crate::fs::write::trace::record(crate::fs::write::trace::Step::Moved(self.target.clone()));
        Ok(true)
    }
}

/// Every rename of one update.
#[derive(Debug, Serialize, Deserialize)]
pub struct Journal {
    /// [`JOURNAL_VERSION`].
    pub version: u32,
    /// The renames, in order.
    pub moves: Vec<Move>,
}

impl Journal {
    /// The journal as written to its file (pretty JSON: an operator may have to read it).
    ///
    /// # Errors
    /// When a path cannot be written as JSON (not UTF-8; refused by the plan's checks before).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec_pretty(self)
            .map_err(|e| Error::new(format!("cannot encode the journal: {e}")))
    }

    /// Writes the journal atomically and durably: once this returns, the update will complete.
    /// ([`crate::fs::WritePlan::commit`] stages its journal with its files instead, to sync
    /// them together.)
    ///
    /// # Errors
    /// When the journal cannot be written, synced or moved into place. Nothing is left when it
    /// could not be moved into place; once it was, a failure to sync its directory leaves it
    /// there, for the next recover to complete.
    pub fn write(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes()?;
        let tmp = temp_path(path)?;
        // A temporary that could not be written is gone already (write_new takes back what it
        // made, and never removes a file it did not).
        write_new(&tmp, &bytes, PRIVATE_MODE, None).map_err(|e| Error::io("write", path, &e))?;
        if let Err(e) = fs::rename(&tmp, path) {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io("move into place", path, &e));
        }
        sync_dir(parent(path))
    }

    /// Performs the renames. Idempotent: a move whose staged file is gone was already done.
    /// `abort_after` is the test hook of [`fault_injection`].
    ///
    /// A move into another user's layout (one with an [`Move::owner`]) is done as that user
    /// ([`ActingAs`]), so nothing they swap into their own tree can steer it elsewhere; and when
    /// it fails (they made its target a directory, say) it is skipped and reported instead of
    /// stopping the update: a user must not be able to hold every later command on the state
    /// hostage by breaking their own copy. Returns what was skipped, one line each.
    ///
    /// # Errors
    /// When a move of the running user's (or root's) files fails; a failed move into another
    /// user's layout is skipped and returned instead.
    pub fn apply(&self, abort_after: Option<usize>) -> Result<Vec<String>> {
        Ok(self.apply_moves(abort_after, Run::Replay)?.lines)
    }

    /// [`Journal::apply`], also saying which targets were left out, so that a commit does not
    /// report them as written.
    pub(crate) fn apply_moves(&self, abort_after: Option<usize>, run: Run) -> Result<Applied> {
        let mut dirs = std::collections::BTreeMap::new();
        let mut skipped = Vec::new();
        let mut left_out = BTreeSet::new();
        // Many directories to sync after the renames: each file system is synced whole
        // instead, through a handle opened before the first rename (see FsRound).
        let targets: BTreeSet<&Path> = self.moves.iter().map(|m| parent(&m.target)).collect();
        let round = FsRound::open(targets.len(), targets);
        for (done, m) in self.moves.iter().enumerate() {
            if abort_after == Some(done) {
                std::process::abort();
            }
            let acting = ActingAs::user(m.owner, None)?;
            let foreign = acting.is_acting();
            match m.apply() {
                Ok(true) => {
                    dirs.insert(parent(&m.target).to_path_buf(), m.owner);
                }
                // Gone before a replay: moved by the run the replay completes. Gone right after
                // the commit staged it: removed meanwhile (by the user whose directory holds
                // it), so the target was not written.
                Ok(false) if run == Run::Replay => {}
                Ok(false) => {
                    skipped.push(
                        m.skipped(&"its staged file was removed before it was moved into place"),
                    );
                    left_out.insert(m.target.clone());
                }
                Err(e) if foreign => {
                    let _ = fs::remove_file(&m.temp);
                    skipped.push(m.skipped(&e));
                    left_out.insert(m.target.clone());
                }
                Err(e) => return Err(e),
            }
        }
        sync_dirs(&dirs, &round, &mut skipped)?;
        Ok(Applied {
            lines: skipped,
            left_out,
        })
    }
}

/// How many directories are open at once while they are synced: within the usual limit of 1024
/// open files, whatever the number of layouts an update renews.
const DIR_SYNC_BATCH: usize = 256;

/// fsyncs every directory a move renamed into, so that every rename is durable before the
/// journal is removed: up to [`crate::fs::write::SYNC_WORKERS`] at a time, which a file system
/// commits together; a directory on a file system `round` covers is not fsynced, its file
/// system is synced whole once instead (`syncfs`). A user's directory is opened as that user,
/// and a failure there (they moved it away meanwhile) is theirs to fix: reported in
/// `skipped`, never a reason to keep the journal. A failed syncfs is an error, whoever's
/// directories it covers: it may be a rename of the running user's that did not reach the disk.
fn sync_dirs(
    dirs: &std::collections::BTreeMap<PathBuf, Option<u32>>,
    round: &FsRound,
    skipped: &mut Vec<String>,
) -> Result<()> {
    let dirs: Vec<(&PathBuf, &Option<u32>)> = dirs.iter().collect();
    #[cfg(test)]
    let mut covered: Vec<PathBuf> = Vec::new();
    for chunk in dirs.chunks(DIR_SYNC_BATCH) {
        let mut opened: Vec<(&Path, bool, fs::File)> = Vec::new();
        for (dir, owner) in chunk {
            let acting = ActingAs::user(**owner, None)?;
            let foreign = acting.is_acting();
            if fs::metadata(dir).is_ok_and(|m| round.covers(m.dev())) {
                #[cfg(test)]
                covered.push(dir.to_path_buf());
                continue;
            }
            match open_dir(dir) {
                Ok(file) => opened.push((dir, foreign, file)),
                Err(e) if foreign => skipped.push(e.to_string()),
                Err(e) => return Err(e),
            }
        }
        let files: Vec<&fs::File> = opened.iter().map(|(_, _, f)| f).collect();
        for ((dir, foreign, _), result) in opened.iter().zip(sync_in_parallel(&files)) {
            match result.map_err(|e| Error::io("sync directory", dir, &e)) {
                Ok(()) => {
                    #[cfg(test)]
                    crate::fs::write::trace::record(crate::fs::write::trace::Step::DirSynced(
                        dir.to_path_buf(),
                    ));
                }
                Err(e) if *foreign => skipped.push(e.to_string()),
                Err(e) => return Err(e),
            }
        }
    }
    round.sync()?;
    #[cfg(test)]
    for dir in covered {
        crate::fs::write::trace::record(crate::fs::write::trace::Step::DirSynced(dir));
    }
    Ok(())
}

/// Who runs [`Journal::apply_moves`]: a staged file already gone means the move was done
/// before only when replaying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Run {
    /// The commit that staged every file an instant before.
    Commit,
    /// The replay of a journal a crash left.
    Replay,
}

/// What [`Journal::apply_moves`] left out.
pub(crate) struct Applied {
    /// One line per move or directory sync left out, for the report.
    pub(crate) lines: Vec<String>,
    /// The targets whose moves were left out (they hold what they held before).
    pub(crate) left_out: BTreeSet<PathBuf>,
}

/// Why a file of dockpki's own bookkeeping (a journal, the staging note) that names paths a
/// root process acts on is not trusted (rule 1): owned by someone other than the running user
/// or root, or writable by group or others. `None` when it may be read.
pub(crate) fn not_ours(meta: &fs::Metadata) -> Option<String> {
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Some(format!(
            "it is owned by uid {}, not by you (uid {me}) or root",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Some(format!(
            "it is writable by group or others (mode {:04o})",
            meta.mode() & 0o7777
        ));
    }
    None
}

/// Where the moves of a journal found on disk may act (rule 3 of the module documentation).
#[derive(Debug)]
pub enum Scope {
    /// The state directory's journal: targets in `dirs` (which include the state directory);
    /// renames of existing files only from a file of `state` to another file of `state` or of
    /// `archive`.
    State {
        /// The state directory.
        state: PathBuf,
        /// The state's archive (`STATE/archive`): a CA a rotation retires or abandons is moved
        /// there whole, its key untouched.
        archive: PathBuf,
        /// Every directory a move may write into.
        dirs: BTreeSet<PathBuf>,
    },
    /// A journal kept next to one configuration file: that file is the only target.
    File(PathBuf),
    /// A journal kept in one directory outside any state (the files of `dockpki request` and
    /// `dockpki install` on a host that holds no CA): files staged next to their targets in
    /// that directory are the only targets.
    Dir(PathBuf),
}

impl Scope {
    fn allows(&self, m: &Move) -> std::result::Result<(), String> {
        let dir = parent(&m.target);
        let staged_sibling = parent(&m.temp) == dir
            && file_name(&m.temp)
                .and_then(parse_temp_name)
                .is_some_and(|(target, _)| Some(target) == file_name(&m.target));
        match self {
            Scope::State {
                state,
                archive,
                dirs,
            } => {
                if !dirs.contains(dir) {
                    return Err(format!(
                        "it would write {}, outside the state directory and every layout the inventory records",
                        m.target.display()
                    ));
                }
                let state_rename = parent(&m.temp) == state && (dir == state || dir == archive);
                if !staged_sibling && !state_rename {
                    return Err(format!(
                        "it would move {} to {}, which is neither a file dockpki staged next to its target nor a file of the state directory",
                        m.temp.display(),
                        m.target.display()
                    ));
                }
                // The archive keeps retired and abandoned CAs for good: a move still to be done
                // never replaces one (dockpki picks a free name before journaling the move; a
                // move already done has no source left and is skipped).
                if dir == archive
                    && fs::symlink_metadata(&m.temp).is_ok()
                    && fs::symlink_metadata(&m.target).is_ok()
                {
                    return Err(format!(
                        "it would replace {} in the archive, which is never overwritten",
                        m.target.display()
                    ));
                }
            }
            Scope::Dir(only) => {
                if dir != only || !staged_sibling {
                    return Err(format!(
                        "it would move {} to {}, but it may only install files in {}",
                        m.temp.display(),
                        m.target.display(),
                        only.display()
                    ));
                }
            }
            Scope::File(file) => {
                if &m.target != file || !staged_sibling {
                    return Err(format!(
                        "it would move {} to {}, but it may only install {}",
                        m.temp.display(),
                        m.target.display(),
                        file.display()
                    ));
                }
            }
        }
        if let Some(backup) = &m.backup {
            let (b, target) = (
                backup_path(backup),
                file_name(&m.target).unwrap_or_default(),
            );
            let named = file_name(b).is_some_and(|n| match backup {
                Backup::Previous(_) => n == format!("{target}.bak"),
                Backup::Timestamped(_) => n.starts_with(&format!("{target}.bak-")),
            });
            if parent(b) != dir || !named {
                return Err(format!(
                    "its backup {} is not a backup name next to {}",
                    b.display(),
                    m.target.display()
                ));
            }
            // `NAME.bak` replaces the one before (it is removed first), which only dockpki's
            // own bookkeeping does: never in a layout another user may own.
            if let (Backup::Previous(_), Scope::State { state, .. }) = (backup, self) {
                if dir != state {
                    return Err(format!(
                        "its backup {} would replace an earlier one outside the state directory",
                        b.display()
                    ));
                }
            }
        }
        Ok(())
    }
}

fn backup_path(b: &Backup) -> &Path {
    match b {
        Backup::Timestamped(p) | Backup::Previous(p) => p,
    }
}

fn file_name(p: &Path) -> Option<&str> {
    p.file_name().and_then(|n| n.to_str())
}

/// Rule 2: absolute, without `.` or `..`, UTF-8.
fn plain_path(p: &Path) -> std::result::Result<(), String> {
    use std::path::Component;
    let plain = p.is_absolute()
        && p.to_str().is_some()
        && p.components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if plain {
        Ok(())
    } else {
        Err(format!("{} is not a plain absolute path", p.display()))
    }
}

/// Completes an update that was interrupted after its journal was written, after checking that
/// the journal and everything it names may be trusted (see the module documentation). `scope`
/// says where its moves may act (it may read the staged inventory, a file of the state
/// directory, through the bounded reader). A move into another user's layout whose staged file
/// or target that user broke since is skipped and reported, not a reason to refuse the rest. Returns how many files it moved into place (0 when there was
/// nothing to do).
///
/// # Errors
/// One line naming the journal when it is damaged, of another version, or fails any check;
/// nothing is moved then.
pub fn recover(
    path: &Path,
    scope: impl FnOnce(&Journal) -> Result<Scope>,
    report: &dyn Report,
) -> Result<usize> {
    let refuse = |why: &dyn std::fmt::Display| {
        Error::new(format!(
            "refusing to replay the journal {} of an interrupted update: {why}; dockpki did not write it like this, so check what it names, then delete it",
            path.display()
        ))
    };
    let file = match reader::open(path, Links::Refuse, Limit::Config) {
        Ok(f) => f,
        Err(reader::ReadError::NotFound(_)) => return Ok(0),
        Err(reader::ReadError::Refused(e)) => return Err(e),
    };
    let meta = file.metadata().map_err(|e| Error::io("read", path, &e))?;
    let me = nix::unistd::geteuid().as_raw();
    if let Some(why) = not_ours(&meta) {
        return Err(refuse(&why));
    }
    check_directory_trust(path, None)?;
    let bytes = reader::read_opened(file, path, Limit::Config)?;
    let journal: Journal = serde_json::from_slice(&bytes).map_err(|e| {
        Error::advised(
            format!(
                "the journal {} of an interrupted update is damaged ({e})",
                path.display()
            ),
            crate::Advice::VerifyLayouts,
        )
    })?;
    if journal.version != JOURNAL_VERSION {
        return Err(Error::new(format!(
            "the journal {} has format version {}, this dockpki reads version {JOURNAL_VERSION}; finish the update with a matching dockpki",
            path.display(),
            journal.version
        )));
    }
    for m in &journal.moves {
        let backup = m.backup.as_ref().map(backup_path);
        for p in [Some(m.temp.as_path()), Some(m.target.as_path()), backup]
            .into_iter()
            .flatten()
        {
            plain_path(p).map_err(|why| refuse(&why))?;
        }
    }
    let scope = scope(&journal)?;
    for m in &journal.moves {
        scope.allows(m).map_err(|why| refuse(&why))?;
    }
    let mut pending = 0;
    let mut skipped = Vec::new();
    let mut keep = Vec::new();
    for m in &journal.moves {
        let Ok(staged) = fs::symlink_metadata(&m.temp) else {
            keep.push(m.clone());
            continue;
        };
        pending += 1;
        let problem = if let Some(p) = movable_file_problem(&m.temp, &staged, m.owner) {
            Some(p)
        } else {
            match fs::symlink_metadata(&m.target) {
                Ok(target) if !target.is_file() => Some(format!(
                    "its target {} is {}, not a regular file",
                    m.target.display(),
                    kind_of(&target)
                )),
                _ => check_directory_trust(&m.target, m.owner)
                    .err()
                    .map(|e| e.to_string()),
            }
        };
        match problem {
            None => keep.push(m.clone()),
            // Another user's layout (a sudo client layout) that they broke since: their copy is
            // skipped and reported, never a reason to hold every later command on the state.
            Some(why) if m.owner.is_some_and(|o| o != me) => {
                let _as = ActingAs::user(m.owner, None)?;
                let _ = fs::remove_file(&m.temp);
                skipped.push(m.skipped(&why));
            }
            Some(why) => return Err(refuse(&why)),
        }
    }
    let journal = Journal {
        version: journal.version,
        moves: keep,
    };
    skipped.extend(journal.apply(None)?);
    for line in skipped {
        report.notice(&Notice::SkippedUserFile(line));
    }
    remove_journal(path)?;
    Ok(pending)
}

/// The journal of an update of one file outside the state directory (daemon.json, a systemd
/// drop-in, a CRL): next to the file, hidden, since the host that file is on may have no state
/// directory.
///
/// # Errors
/// When `file` has no UTF-8 file name.
pub fn next_to(file: &Path) -> Result<PathBuf> {
    let name = file_name(file)
        .ok_or_else(|| Error::new(format!("{} has no UTF-8 file name", file.display())))?;
    Ok(parent(file).join(format!(".{name}.dockpki-journal")))
}

/// Completes an interrupted update of `file` from its journal next to it ([`next_to`]), which
/// may only install `file` itself, then removes what a killed update staged next to it. Reports
/// a [`Notice::Recovered`] when it completed something. Returns the journal's path, for the next update.
///
/// # Errors
/// When `file` is not a plain absolute path ([`crate::fs::write::check_path`]); else as
/// [`recover`].
pub fn recover_next_to(file: &Path, report: &dyn Report) -> Result<PathBuf> {
    // The journal records `file`, and its replay accepts plain absolute paths only: refused
    // here, before a journal is looked for or a staged file removed next to it.
    crate::fs::write::check_path(file)?;
    let journal = next_to(file)?;
    let moved = recover(&journal, |_| Ok(Scope::File(file.to_path_buf())), report)?;
    if moved > 0 {
        report.notice(&Notice::Recovered {
            journal: journal.clone(),
            moved,
        });
    }
    crate::fs::write::remove_stale_temps(parent(file));
    Ok(journal)
}

/// The journal of an update of files in one directory outside any state
/// (`DIR/.dockpki-journal`, see [`Scope::Dir`]).
pub fn in_dir(dir: &Path) -> PathBuf {
    dir.join(".dockpki-journal")
}

/// Completes an interrupted update of files in `dir` from its journal ([`in_dir`]), which may
/// only install files in `dir`, then removes what a killed update staged there. Reports a
/// [`Notice::Recovered`] when it completed something. Returns the journal's path, for the next
/// update.
///
/// # Errors
/// When `dir` is not a plain absolute path ([`crate::fs::write::check_path`]); else as
/// [`recover`].
pub fn recover_in_dir(dir: &Path, report: &dyn Report) -> Result<PathBuf> {
    crate::fs::write::check_path(dir)?;
    let journal = in_dir(dir);
    let moved = recover(&journal, |_| Ok(Scope::Dir(dir.to_path_buf())), report)?;
    if moved > 0 {
        report.notice(&Notice::Recovered {
            journal: journal.clone(),
            moved,
        });
    }
    if dir.is_dir() {
        crate::fs::write::remove_stale_temps(dir);
    }
    Ok(journal)
}

/// Deletes the journal: the update is complete. Not synced: the renames it lists were made
/// durable first ([`Journal::apply`]), so if a power cut brings the journal back, its replay
/// finds every staged file gone and moves nothing; and the next update's journal is renamed
/// over it and synced before that update moves anything.
///
/// # Errors
/// When it exists and cannot be removed.
pub fn remove_journal(path: &Path) -> Result<()> {
    remove_if_present(path)?;
    #[cfg(test)]
    crate::fs::write::trace::record(crate::fs::write::trace::Step::JournalRemoved(
        path.to_path_buf(),
    ));
    Ok(())
}

/// Test hook: with `DOCKPKI_TEST_ABORT_AFTER_MOVES=N`, a committing process aborts (like a
/// SIGKILL: no destructors, no cleanup) after N renames, so the crash tests can stop an update
/// at every step deterministically instead of hoping a random signal lands in a microsecond
/// window.
///
/// Only in builds with the `fault-injection` feature: a release binary has no way to be made to
/// abort.
#[cfg(feature = "fault-injection")]
pub fn fault_injection() -> Option<usize> {
    std::env::var("DOCKPKI_TEST_ABORT_AFTER_MOVES")
        .ok()
        .and_then(|v| v.parse().ok())
}

/// Without the `fault-injection` feature there is no hook.
#[cfg(not(feature = "fault-injection"))]
pub fn fault_injection() -> Option<usize> {
    None
}

fn link_once(from: &Path, to: &Path) -> Result<()> {
    match fs::hard_link(from, to) {
        Ok(()) => Ok(()),
        // Made before the interruption: it already holds the old file.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io("keep a backup of", from, &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Silent;
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};

    struct Dir {
        root: tempfile::TempDir,
    }

    impl Dir {
        fn new() -> Dir {
            let root = tempfile::tempdir().unwrap();
            fs::set_permissions(root.path(), fs::Permissions::from_mode(0o700)).unwrap();
            for d in ["state", "layout", "elsewhere"] {
                fs::create_dir(root.path().join(d)).unwrap();
            }
            Dir { root }
        }
        fn p(&self, rel: &str) -> PathBuf {
            self.root.path().join(rel)
        }
        /// Makes `layout/` a user's (uid 65534) layout, which that user can reach (the
        /// sandbox above it searchable, like /home).
        fn give_layout_to_nobody(&self) {
            fs::set_permissions(self.root.path(), fs::Permissions::from_mode(0o755)).unwrap();
            std::os::unix::fs::chown(self.p("layout"), Some(65534), Some(65534)).unwrap();
        }
        fn scope(&self) -> Scope {
            Scope::State {
                state: self.p("state"),
                archive: self.p("state/archive"),
                dirs: [self.p("state"), self.p("state/archive"), self.p("layout")].into(),
            }
        }
        fn journal(&self, moves: Vec<Move>) -> PathBuf {
            let path = self.p("state/journal.json");
            let j = Journal {
                version: JOURNAL_VERSION,
                moves,
            };
            let tmp = self.p("state/j.tmp");
            write_new(&tmp, &serde_json::to_vec(&j).unwrap(), PRIVATE_MODE, None).unwrap();
            fs::rename(tmp, &path).unwrap();
            path
        }
        fn staged(&self, target: &str) -> PathBuf {
            let t = self.p(target);
            let tmp = temp_path(&t).unwrap();
            write_new(&tmp, b"new", 0o600, None).unwrap();
            tmp
        }
    }

    fn mv(temp: PathBuf, target: PathBuf, backup: Option<Backup>) -> Move {
        Move {
            temp,
            target,
            backup,
            owner: None,
        }
    }

    /// A staged file gone when its move comes: moved before, when a replay completes a
    /// crashed run; removed meanwhile, when the commit that staged it runs the moves, so its
    /// target is left out and said to be, not counted as written.
    #[test]
    fn a_staged_file_gone_is_done_before_in_a_replay_and_left_out_in_the_commit() {
        let d = Dir::new();
        fs::write(d.p("layout/cert.pem"), "old").unwrap();
        let moves = vec![mv(
            temp_path(&d.p("layout/cert.pem")).unwrap(),
            d.p("layout/cert.pem"),
            None,
        )];
        let journal = Journal {
            version: JOURNAL_VERSION,
            moves,
        };
        let replayed = journal.apply_moves(None, Run::Replay).unwrap();
        assert!(replayed.left_out.is_empty() && replayed.lines.is_empty());
        let committed = journal.apply_moves(None, Run::Commit).unwrap();
        assert_eq!(
            committed.left_out,
            [d.p("layout/cert.pem")].into_iter().collect()
        );
        assert!(
            matches!(&committed.lines[..], [line] if line.contains("removed before it was moved into place")),
            "{:?}",
            committed.lines
        );
        assert_eq!(fs::read(d.p("layout/cert.pem")).unwrap(), b"old");
    }

    #[test]
    fn an_honest_journal_is_replayed_with_its_backups() {
        let d = Dir::new();
        fs::write(d.p("layout/cert.pem"), "old").unwrap();
        let temp = d.staged("layout/cert.pem");
        let path = d.journal(vec![mv(
            temp.clone(),
            d.p("layout/cert.pem"),
            Some(Backup::Timestamped(
                d.p("layout/cert.pem.bak-20260101T000000Z"),
            )),
        )]);
        assert_eq!(recover(&path, |_| Ok(d.scope()), &Silent).unwrap(), 1);
        assert_eq!(fs::read(d.p("layout/cert.pem")).unwrap(), b"new");
        assert_eq!(
            fs::read(d.p("layout/cert.pem.bak-20260101T000000Z")).unwrap(),
            b"old"
        );
        assert!(!path.exists() && !temp.exists());
    }

    /// The journal is removed without syncing its directory ([`remove_journal`]), so a power
    /// cut can bring back the journal of an update that completed. Its replay must move
    /// nothing, whatever later updates did: each of its staged files was renamed away (durably,
    /// before the journal went), and a rename between state files has no source left.
    #[test]
    fn a_journal_brought_back_after_its_update_completed_replays_nothing() {
        let d = Dir::new();
        fs::write(d.p("layout/cert.pem"), "old").unwrap();
        fs::write(d.p("state/inventory.json"), "inventory 1").unwrap();
        fs::write(d.p("state/ca.pem"), "ca 1").unwrap();
        fs::write(d.p("state/ca-next.pem"), "ca 2").unwrap();
        let moves = vec![
            mv(
                d.staged("layout/cert.pem"),
                d.p("layout/cert.pem"),
                Some(Backup::Timestamped(
                    d.p("layout/cert.pem.bak-20260101T000000Z"),
                )),
            ),
            mv(
                d.staged("state/inventory.json"),
                d.p("state/inventory.json"),
                Some(Backup::Previous(d.p("state/inventory.json.bak"))),
            ),
            mv(d.p("state/ca-next.pem"), d.p("state/ca.pem"), None),
        ];
        let path = d.journal(moves);
        let bytes = fs::read(&path).unwrap();
        assert_eq!(recover(&path, |_| Ok(d.scope()), &Silent).unwrap(), 3);
        // Later updates change what that one wrote (each through a journal of its own).
        fs::write(d.p("layout/cert.pem"), "later").unwrap();
        fs::write(d.p("state/inventory.json"), "inventory 3").unwrap();
        fs::write(d.p("state/inventory.json.bak"), "inventory 2").unwrap();
        let snapshot = || -> Vec<(PathBuf, Vec<u8>)> {
            let mut files = Vec::new();
            for dir in ["state", "layout", "elsewhere"] {
                for e in fs::read_dir(d.p(dir)).unwrap() {
                    let e = e.unwrap().path();
                    files.push((e.clone(), fs::read(&e).unwrap()));
                }
            }
            files.sort();
            files
        };
        let before = snapshot();
        // The power cut brings the first journal back.
        let tmp = d.p("state/j.tmp");
        write_new(&tmp, &bytes, PRIVATE_MODE, None).unwrap();
        fs::rename(&tmp, &path).unwrap();
        let seen = std::sync::Mutex::new(Vec::new());
        let report = |n: &Notice| seen.lock().unwrap().push(n.clone());
        assert_eq!(recover(&path, |_| Ok(d.scope()), &report).unwrap(), 0);
        assert!(!path.exists(), "removed again");
        assert_eq!(snapshot(), before, "nothing moved, backed up or removed");
        assert_eq!(seen.into_inner().unwrap(), Vec::<Notice>::new());
    }

    #[test]
    fn a_rename_between_two_state_files_is_allowed_and_nowhere_else() {
        let d = Dir::new();
        fs::write(d.p("state/ca-next.pem"), "next").unwrap();
        let path = d.journal(vec![mv(
            d.p("state/ca-next.pem"),
            d.p("state/ca.pem"),
            None,
        )]);
        assert_eq!(recover(&path, |_| Ok(d.scope()), &Silent).unwrap(), 1);
        assert_eq!(fs::read(d.p("state/ca.pem")).unwrap(), b"next");
        // The same kind of rename from the state into a layout is refused.
        fs::write(d.p("state/ca-key.pem"), "key").unwrap();
        let path = d.journal(vec![mv(
            d.p("state/ca-key.pem"),
            d.p("layout/key.pem"),
            None,
        )]);
        let e = recover(&path, |_| Ok(d.scope()), &Silent)
            .unwrap_err()
            .to_string();
        assert!(e.contains("neither a file dockpki staged"), "{e}");
        assert!(d.p("state/ca-key.pem").exists() && !d.p("layout/key.pem").exists());
    }

    /// A journal (damaged, or from another build) that would move a file of the state onto a
    /// key already in the archive is refused, and the archived key is left as it was.
    #[test]
    fn a_rename_onto_an_existing_archive_file_is_refused_and_the_archive_kept() {
        let d = Dir::new();
        fs::create_dir(d.p("state/archive")).unwrap();
        fs::write(d.p("state/archive/ca-0123-key.pem"), "retired key").unwrap();
        fs::write(d.p("state/ca-next-key.pem"), "abandoned").unwrap();
        let path = d.journal(vec![mv(
            d.p("state/ca-next-key.pem"),
            d.p("state/archive/ca-0123-key.pem"),
            None,
        )]);
        let e = recover(&path, |_| Ok(d.scope()), &Silent)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("in the archive, which is never overwritten"),
            "{e}"
        );
        assert_eq!(
            fs::read(d.p("state/archive/ca-0123-key.pem")).unwrap(),
            b"retired key"
        );
    }

    /// `dockpki ca rotate abort` moves the abandoned CA into the archive whole; a rename from
    /// the archive back out of it, or from a layout into it, is refused.
    #[test]
    fn a_rename_from_the_state_into_its_archive_is_allowed_and_not_back() {
        let d = Dir::new();
        fs::create_dir(d.p("state/archive")).unwrap();
        fs::write(d.p("state/ca-next-key.pem"), "key").unwrap();
        let path = d.journal(vec![mv(
            d.p("state/ca-next-key.pem"),
            d.p("state/archive/ca-0123-key.pem"),
            None,
        )]);
        assert_eq!(recover(&path, |_| Ok(d.scope()), &Silent).unwrap(), 1);
        assert_eq!(
            fs::read(d.p("state/archive/ca-0123-key.pem")).unwrap(),
            b"key"
        );
        assert!(!d.p("state/ca-next-key.pem").exists());
        for (from, to) in [
            ("state/archive/ca-0123-key.pem", "state/ca-key.pem"),
            ("layout/key.pem", "state/archive/ca-4567-key.pem"),
        ] {
            fs::write(d.p(from), "x").unwrap();
            let path = d.journal(vec![mv(d.p(from), d.p(to), None)]);
            let e = recover(&path, |_| Ok(d.scope()), &Silent)
                .unwrap_err()
                .to_string();
            assert!(e.contains("neither a file dockpki staged"), "{from}: {e}");
            assert!(d.p(from).exists() && !d.p(to).exists(), "{from}");
            fs::remove_file(&path).unwrap();
        }
    }

    /// The journal of a directory outside any state (`dockpki request`, `install`) installs
    /// files staged next to their targets in that directory, and nothing anywhere else.
    #[test]
    fn a_directory_journal_installs_only_into_its_directory() {
        let d = Dir::new();
        let scope = || Scope::Dir(d.p("layout"));
        let path = d.journal(vec![mv(
            d.staged("layout/cert.pem"),
            d.p("layout/cert.pem"),
            None,
        )]);
        assert_eq!(recover(&path, |_| Ok(scope()), &Silent).unwrap(), 1);
        assert!(d.p("layout/cert.pem").exists());
        for m in [
            mv(d.staged("state/ca.pem"), d.p("state/ca.pem"), None),
            mv(d.staged("state/ca.pem"), d.p("layout/ca.pem"), None),
        ] {
            let target = m.target.clone();
            let path = d.journal(vec![m]);
            let e = recover(&path, |_| Ok(scope()), &Silent)
                .unwrap_err()
                .to_string();
            assert!(e.contains("may only install files in"), "{e}");
            assert!(!target.exists(), "{}", target.display());
            fs::remove_file(&path).unwrap();
        }
    }

    /// Each move is refused by exactly the rule it breaks, and nothing moves.
    #[test]
    fn every_rule_refuses_the_move_that_breaks_it() {
        type Build = fn(&Dir) -> Move;
        let cases: [(&str, Build, &str); 9] = [
            (
                "target outside the scope",
                |d| mv(d.staged("elsewhere/x"), d.p("elsewhere/x"), None),
                "outside the state directory",
            ),
            (
                "staged file in another directory than its target",
                |d| mv(d.staged("state/cert.pem"), d.p("layout/cert.pem"), None),
                "neither a file dockpki staged",
            ),
            (
                "staged file named for another target",
                |d| mv(d.staged("layout/key.pem"), d.p("layout/cert.pem"), None),
                "neither a file dockpki staged",
            ),
            (
                "relative path",
                |d| {
                    mv(
                        d.staged("layout/cert.pem"),
                        PathBuf::from("layout/cert.pem"),
                        None,
                    )
                },
                "not a plain absolute path",
            ),
            (
                "dot-dot",
                |d| {
                    mv(
                        d.staged("layout/cert.pem"),
                        d.p("layout/../layout/cert.pem"),
                        None,
                    )
                },
                "not a plain absolute path",
            ),
            (
                "previous backup with another name",
                |d| {
                    mv(
                        d.staged("layout/cert.pem"),
                        d.p("layout/cert.pem"),
                        Some(Backup::Previous(d.p("layout/key.pem"))),
                    )
                },
                "is not a backup name",
            ),
            (
                "timestamped backup elsewhere",
                |d| {
                    mv(
                        d.staged("layout/cert.pem"),
                        d.p("layout/cert.pem"),
                        Some(Backup::Timestamped(d.p("elsewhere/cert.pem.bak-1"))),
                    )
                },
                "is not a backup name",
            ),
            (
                "a backup replacing an earlier one in a layout",
                |d| {
                    mv(
                        d.staged("layout/cert.pem"),
                        d.p("layout/cert.pem"),
                        Some(Backup::Previous(d.p("layout/cert.pem.bak"))),
                    )
                },
                "outside the state directory",
            ),
            (
                "timestamped backup without the stamp separator",
                |d| {
                    mv(
                        d.staged("layout/cert.pem"),
                        d.p("layout/cert.pem"),
                        Some(Backup::Timestamped(d.p("layout/cert.pem.bakery"))),
                    )
                },
                "is not a backup name",
            ),
        ];
        for (name, build, phrase) in cases {
            let d = Dir::new();
            fs::write(d.p("layout/key.pem"), "key").unwrap();
            let m = build(&d);
            let temp = m.temp.clone();
            let path = d.journal(vec![m]);
            let e = recover(&path, |_| Ok(d.scope()), &Silent)
                .unwrap_err()
                .to_string();
            assert!(e.contains(phrase), "{name}: {e}");
            assert!(e.contains("journal.json"), "{name}: {e}");
            assert!(temp.exists() && path.exists(), "{name}: something moved");
            assert_eq!(fs::read(d.p("layout/key.pem")).unwrap(), b"key", "{name}");
        }
    }

    /// A journal of another user is theirs to write, so it is refused (rule 1); a staged file of
    /// another user moves only when the journal says it was written for them (rule 5).
    #[test]
    fn a_journal_or_staged_file_of_another_user_is_refused_unless_the_journal_names_them() {
        use std::os::unix::fs::chown;
        if !crate::test_support::root_or_skip() {
            return;
        }
        let d = Dir::new();
        let temp = d.staged("layout/cert.pem");
        let path = d.journal(vec![mv(temp.clone(), d.p("layout/cert.pem"), None)]);
        chown(&path, Some(65534), Some(65534)).unwrap();
        let e = recover(&path, |_| Ok(d.scope()), &Silent)
            .unwrap_err()
            .to_string();
        assert!(e.contains("it is owned by uid 65534"), "{e}");
        chown(&path, Some(0), Some(0)).unwrap();
        chown(&temp, Some(65534), Some(65534)).unwrap();
        let e = recover(&path, |_| Ok(d.scope()), &Silent)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("owned by uid 65534, not a file dockpki staged"),
            "{e}"
        );
        assert!(temp.exists() && path.exists() && !d.p("layout/cert.pem").exists());
        // Written for that user (their layout): it moves, as them.
        d.give_layout_to_nobody();
        let mut theirs = mv(temp, d.p("layout/cert.pem"), None);
        theirs.owner = Some(65534);
        let path = d.journal(vec![theirs]);
        assert_eq!(recover(&path, |_| Ok(d.scope()), &Silent).unwrap(), 1);
        assert_eq!(fs::read(d.p("layout/cert.pem")).unwrap(), b"new");
    }

    /// For a user who is not root, a journal of root's and their own staged files are trusted.
    /// Run in a child process of this test binary as uid 65534.
    #[test]
    fn for_a_user_a_journal_of_roots_and_their_own_staged_files_replay() {
        const SANDBOX: &str = "DOCKPKI_TEST_JOURNAL_SANDBOX";
        if let Some(sandbox) = std::env::var_os(SANDBOX) {
            let sandbox = PathBuf::from(sandbox);
            let scope = Scope::State {
                state: sandbox.join("state"),
                archive: sandbox.join("state/archive"),
                dirs: [sandbox.join("state"), sandbox.join("layout")].into(),
            };
            let path = sandbox.join("state/journal.json");
            assert_eq!(recover(&path, |_| Ok(scope), &Silent).unwrap(), 1);
            assert_eq!(fs::read(sandbox.join("layout/cert.pem")).unwrap(), b"new");
            return;
        }
        if !crate::test_support::root_or_skip() {
            return;
        }
        let d = Dir::new();
        fs::set_permissions(d.root.path(), fs::Permissions::from_mode(0o755)).unwrap();
        for dir in ["state", "layout"] {
            std::os::unix::fs::chown(d.p(dir), Some(65534), Some(65534)).unwrap();
        }
        let temp = d.staged("layout/cert.pem");
        std::os::unix::fs::chown(&temp, Some(65534), Some(65534)).unwrap();
        let path = d.journal(vec![mv(temp, d.p("layout/cert.pem"), None)]);
        // Root's, readable by that user, writable by no one else.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            crate::test_support::passes_as_nobody(
                "fs::journal::tests::for_a_user_a_journal_of_roots_and_their_own_staged_files_replay",
                SANDBOX,
                d.root.path()
            ),
            "the replay as uid 65534 failed"
        );
    }

    /// A target that is not a regular file (a FIFO, a directory) is never replaced by a replay:
    /// a FIFO would simply be renamed over.
    #[test]
    fn a_target_that_is_not_a_regular_file_stops_the_replay() {
        let d = Dir::new();
        let fifo = d.p("layout/cert.pem");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let temp = d.staged("layout/cert.pem");
        let path = d.journal(vec![mv(temp.clone(), fifo.clone(), None)]);
        let e = recover(&path, |_| Ok(d.scope()), &Silent)
            .unwrap_err()
            .to_string();
        assert!(e.contains("a FIFO, not a regular file"), "{e}");
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        assert!(temp.exists() && path.exists());
    }

    /// Completing an interrupted update of a file next to its journal is reported once, with
    /// how many files moved; nothing to complete reports nothing.
    #[test]
    fn completing_a_file_update_is_reported_and_nothing_to_do_is_not() {
        let d = Dir::new();
        let file = d.p("layout/daemon.json");
        let temp = d.staged("layout/daemon.json");
        let journal = next_to(&file).unwrap();
        let j = Journal {
            version: JOURNAL_VERSION,
            moves: vec![mv(temp, file.clone(), None)],
        };
        j.write(&journal).unwrap();
        let seen = std::sync::Mutex::new(Vec::new());
        let report = |n: &Notice| seen.lock().unwrap().push(n.clone());
        assert_eq!(recover_next_to(&file, &report).unwrap(), journal);
        assert_eq!(fs::read(&file).unwrap(), b"new");
        recover_next_to(&file, &report).unwrap();
        assert_eq!(
            seen.into_inner().unwrap(),
            vec![Notice::Recovered { journal, moved: 1 }]
        );
    }

    #[test]
    fn a_file_journal_installs_its_file_only() {
        let d = Dir::new();
        let file = d.p("layout/daemon.json");
        let ok = d.staged("layout/daemon.json");
        let other = d.staged("layout/other.json");
        let path = d.journal(vec![mv(other, d.p("layout/other.json"), None)]);
        let e = recover(&path, |_| Ok(Scope::File(file.clone())), &Silent)
            .unwrap_err()
            .to_string();
        assert!(e.contains("it may only install"), "{e}");
        let path = d.journal(vec![mv(ok, file.clone(), None)]);
        assert_eq!(
            recover(&path, |_| Ok(Scope::File(file.clone())), &Silent).unwrap(),
            1
        );
        assert_eq!(fs::read(&file).unwrap(), b"new");
    }

    #[test]
    fn a_journal_others_may_write_and_staged_files_that_are_not_plain_are_refused() {
        let d = Dir::new();
        let temp = d.staged("layout/cert.pem");
        let path = d.journal(vec![mv(temp.clone(), d.p("layout/cert.pem"), None)]);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o620)).unwrap();
        let e = recover(&path, |_| Ok(d.scope()), &Silent)
            .unwrap_err()
            .to_string();
        assert!(e.contains("writable by group or others"), "{e}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::hard_link(&temp, d.p("elsewhere/link")).unwrap();
        let e = recover(&path, |_| Ok(d.scope()), &Silent)
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 link(s)"), "{e}");
        fs::remove_file(d.p("elsewhere/link")).unwrap();
        // Now it is honest again, and replays.
        assert_eq!(recover(&path, |_| Ok(d.scope()), &Silent).unwrap(), 1);
    }

    /// A crash between making the backup and the rename: the replay finds the backup made and
    /// completes the rename.
    #[test]
    fn a_backup_made_before_the_interruption_is_kept_and_the_move_completed() {
        let d = Dir::new();
        fs::write(d.p("layout/cert.pem"), "old").unwrap();
        let backup = d.p("layout/cert.pem.bak-20260101T000000Z");
        fs::hard_link(d.p("layout/cert.pem"), &backup).unwrap();
        let temp = d.staged("layout/cert.pem");
        let path = d.journal(vec![mv(
            temp,
            d.p("layout/cert.pem"),
            Some(Backup::Timestamped(backup.clone())),
        )]);
        assert_eq!(recover(&path, |_| Ok(d.scope()), &Silent).unwrap(), 1);
        assert_eq!(fs::read(d.p("layout/cert.pem")).unwrap(), b"new");
        assert_eq!(fs::read(&backup).unwrap(), b"old");
    }

    #[test]
    fn a_backup_that_cannot_be_made_stops_the_replay_before_the_rename() {
        let d = Dir::new();
        fs::write(d.p("state/inventory.json"), "old").unwrap();
        fs::create_dir(d.p("state/inventory.json.bak")).unwrap();
        let temp = d.staged("state/inventory.json");
        let path = d.journal(vec![mv(
            temp.clone(),
            d.p("state/inventory.json"),
            Some(Backup::Previous(d.p("state/inventory.json.bak"))),
        )]);
        let e = recover(&path, |_| Ok(d.scope()), &Silent)
            .unwrap_err()
            .to_string();
        assert!(e.contains("inventory.json.bak"), "{e}");
        assert_eq!(fs::read(d.p("state/inventory.json")).unwrap(), b"old");
        assert!(temp.exists() && path.exists());
    }

    /// A user who breaks their own layout during an update (its target made a directory)
    /// loses that one copy, reported; the state's own moves still land and the journal is done.
    #[test]
    fn a_move_a_user_broke_is_skipped_and_the_rest_replayed() {
        if !crate::test_support::root_or_skip() {
            return;
        }
        let d = Dir::new();
        d.give_layout_to_nobody();
        fs::create_dir(d.p("layout/cert.pem")).unwrap();
        let users = d.staged("layout/cert.pem");
        let ours = d.staged("state/inventory.json");
        let mut broken = mv(users.clone(), d.p("layout/cert.pem"), None);
        broken.owner = Some(65534);
        let path = d.journal(vec![broken, mv(ours, d.p("state/inventory.json"), None)]);
        assert_eq!(recover(&path, |_| Ok(d.scope()), &Silent).unwrap(), 2);
        assert_eq!(fs::read(d.p("state/inventory.json")).unwrap(), b"new");
        assert!(d.p("layout/cert.pem").is_dir() && !users.exists() && !path.exists());
    }

    /// The same at commit time: a user's move that fails in `apply` (its target became a
    /// directory after the checks) is reported and the next move still lands; a failing move
    /// of root's own stops the update.
    #[test]
    fn a_users_move_that_fails_while_applying_is_reported_and_roots_stops() {
        if !crate::test_support::root_or_skip() {
            return;
        }
        let d = Dir::new();
        d.give_layout_to_nobody();
        let users = d.staged("layout/cert.pem");
        std::os::unix::fs::chown(&users, Some(65534), Some(65534)).unwrap();
        fs::create_dir(d.p("layout/cert.pem")).unwrap();
        fs::write(d.p("layout/cert.pem/x"), "keeps the directory non-empty").unwrap();
        let ours = d.staged("state/inventory.json");
        let mut broken = mv(users, d.p("layout/cert.pem"), None);
        broken.owner = Some(65534);
        let journal = Journal {
            version: JOURNAL_VERSION,
            moves: vec![broken.clone(), mv(ours, d.p("state/inventory.json"), None)],
        };
        let skipped = journal.apply(None).unwrap();
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert!(
            skipped[0].contains("layout/cert.pem") && skipped[0].contains("uid 65534"),
            "{skipped:?}"
        );
        assert_eq!(fs::read(d.p("state/inventory.json")).unwrap(), b"new");
        // Root's own move failing the same way is an error.
        let ours = d.staged("state/ca.pem");
        fs::create_dir(d.p("state/ca.pem")).unwrap();
        fs::write(d.p("state/ca.pem/x"), "x").unwrap();
        let journal = Journal {
            version: JOURNAL_VERSION,
            moves: vec![mv(ours, d.p("state/ca.pem"), None)],
        };
        assert!(journal.apply(None).is_err());
    }

    #[test]
    fn done_moves_are_skipped_and_counted_as_nothing_pending() {
        let d = Dir::new();
        fs::write(d.p("layout/cert.pem"), "done").unwrap();
        let gone = temp_path(&d.p("layout/cert.pem")).unwrap();
        let path = d.journal(vec![mv(gone, d.p("layout/cert.pem"), None)]);
        assert_eq!(recover(&path, |_| Ok(d.scope()), &Silent).unwrap(), 0);
        assert!(!path.exists());
        assert_eq!(fs::read(d.p("layout/cert.pem")).unwrap(), b"done");
        assert_eq!(recover(&path, |_| Ok(d.scope()), &Silent).unwrap(), 0);
    }
}
