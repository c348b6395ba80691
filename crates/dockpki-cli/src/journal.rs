//! The write-ahead journal that makes a multi-file update crash-safe.
//!
//! An update (a renewal rewrites `ca.pem`, the certificate and the key of several layouts, plus
//! the inventory) is staged as fully written, fsynced temporary files first. Only then is the
//! journal written (atomically) listing every rename still to do; then the renames happen; then
//! the journal is deleted. A crash before the journal exists leaves every file old (the staged
//! temporaries are inert); a crash after it is completed by [`recover`], which every command that
//! opens the state runs first, before it reads anything. Every step of [`Journal::apply`] can be
//! repeated, so a crash during recovery is recovered the same way.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{CliError, CliResult};
use crate::fsio::{parent, sync_dir, temp_path, write_new, PRIVATE_MODE};

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
    /// Writes the journal atomically and durably: once this returns, the update will complete.
    pub fn write(&self, path: &Path) -> CliResult<()> {
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| CliError::new(format!("cannot encode the journal: {e}")))?;
        let tmp = temp_path(path)?;
        write_new(&tmp, &bytes, PRIVATE_MODE, None).map_err(|e| CliError::io("write", path, &e))?;
        fs::rename(&tmp, path).map_err(|e| CliError::io("move into place", path, &e))?;
        sync_dir(parent(path))
    }

    /// Performs the renames. Idempotent: a move whose staged file is gone was already done.
    /// `abort_after` is the test hook of [`fault_injection`].
    pub fn apply(&self, abort_after: Option<usize>) -> CliResult<()> {
        let mut dirs = BTreeSet::new();
        for (done, m) in self.moves.iter().enumerate() {
            if abort_after == Some(done) {
                std::process::abort();
            }
            if fs::symlink_metadata(&m.temp).is_err() {
                continue;
            }
            if fs::symlink_metadata(&m.target).is_ok() {
                match &m.backup {
                    Some(Backup::Timestamped(b)) => link_once(&m.target, b)?,
                    Some(Backup::Previous(b)) => {
                        remove_if_present(b)?;
                        link_once(&m.target, b)?;
                    }
                    None => {}
                }
            }
            fs::rename(&m.temp, &m.target)
                .map_err(|e| CliError::io("move into place", &m.target, &e))?;
            dirs.insert(parent(&m.target).to_path_buf());
        }
        for dir in dirs {
            sync_dir(&dir)?;
        }
        Ok(())
    }
}

/// Completes an update that was interrupted after its journal was written. Returns how many
/// files it had to move into place (0 when there was nothing to do).
pub fn recover(path: &Path) -> CliResult<usize> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(CliError::io("read", path, &e)),
    };
    let journal: Journal = serde_json::from_slice(&bytes).map_err(|e| {
        CliError::new(format!(
            "the journal {} of an interrupted update is damaged ({e}); check the layouts with `dockpki verify`, then delete it",
            path.display()
        ))
    })?;
    if journal.version != JOURNAL_VERSION {
        return Err(CliError::new(format!(
            "the journal {} has format version {}, this dockpki reads version {JOURNAL_VERSION}; finish the update with a matching dockpki",
            path.display(),
            journal.version
        )));
    }
    let pending = journal
        .moves
        .iter()
        .filter(|m| fs::symlink_metadata(&m.temp).is_ok())
        .count();
    journal.apply(None)?;
    remove_journal(path)?;
    Ok(pending)
}

/// Deletes the journal durably: the update is complete.
pub fn remove_journal(path: &Path) -> CliResult<()> {
    remove_if_present(path)?;
    sync_dir(parent(path))
}

/// Test hook: with `DOCKPKI_TEST_ABORT_AFTER_MOVES=N`, a committing process aborts (like a
/// SIGKILL: no destructors, no cleanup) after N renames, so the crash tests can stop an update
/// at every step deterministically instead of hoping a random signal lands in a microsecond
/// window.
pub fn fault_injection() -> Option<usize> {
    std::env::var("DOCKPKI_TEST_ABORT_AFTER_MOVES")
        .ok()
        .and_then(|v| v.parse().ok())
}

fn link_once(from: &Path, to: &Path) -> CliResult<()> {
    match fs::hard_link(from, to) {
        Ok(()) => Ok(()),
        // Made before the interruption: it already holds the old file.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(CliError::io("keep a backup of", from, &e)),
    }
}

fn remove_if_present(path: &Path) -> CliResult<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(CliError::io("remove", path, &e)),
    }
}
