//! What the engine tells its caller while it works, without printing: notices go to a
//! [`Report`] the caller passes in (the CLI prints them on stderr, escaped; an embedder may log
//! them or collect them).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Something worth telling the operator that is not a failure.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// Another process holds the state's lock; the engine waits for it (once per wait).
    WaitingForLock {
        /// The state directory.
        dir: PathBuf,
        /// Its lock file.
        lock: PathBuf,
        /// How long it waits at most (`None`: for ever).
        timeout: Option<Duration>,
    },
    /// An update interrupted by a crash was completed from its journal.
    Recovered {
        /// The journal.
        journal: PathBuf,
        /// How many files it moved into place.
        moved: usize,
    },
    /// A file of another user's layout was not written because that user broke their layout
    /// (the rest of the update went on); the text says which file and why.
    SkippedUserFile(String),
    /// A CA key readable by group or others was used because the caller allowed it
    /// ([`crate::store::KeyPerms::WarnOnly`]).
    LooseCaKey {
        /// The key file.
        path: PathBuf,
        /// Its mode.
        mode: u32,
    },
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::WaitingForLock { dir, lock, timeout } => {
                let limit = match timeout {
                    Some(t) => format!("up to {}s", t.as_secs()),
                    None => "with no time limit".into(),
                };
                write!(
                    f,
                    "waiting {limit} for another dockpki process working on {} (lock {})",
                    dir.display(),
                    lock.display()
                )
            }
            Notice::Recovered { journal, moved } => write!(
                f,
                "completed an interrupted update ({moved} file(s) moved into place) recorded in {}",
                journal.display()
            ),
            Notice::SkippedUserFile(line) => f.write_str(line),
            Notice::LooseCaKey { path, mode } => write!(
                f,
                "warning: the CA key {} is accessible by group or others (mode {mode:04o}); run `chmod 400 {}`",
                path.display(),
                crate::text::shell_quote(&path.display().to_string())
            ),
        }
    }
}

/// Where notices go.
pub trait Report: Send + Sync {
    /// Takes one notice.
    fn notice(&self, notice: &Notice);
}

/// A [`Report`] that drops every notice.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Report for Silent {
    fn notice(&self, _: &Notice) {}
}

impl<F: Fn(&Notice) + Send + Sync> Report for F {
    fn notice(&self, notice: &Notice) {
        self(notice)
    }
}
