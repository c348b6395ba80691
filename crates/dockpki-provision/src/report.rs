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
    /// Another process holds the lock of the state or of a layout; the engine waits for it
    /// (once per wait).
    WaitingForLock {
        /// The state directory, or the layout directory ([`crate::fs::lock_dir`]).
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
    /// Work that can take seconds is under way: `done` of `total` steps are finished. Sent with
    /// `done == 0` when the work starts, as steps finish where the work counts them (`renew`
    /// signing successors; `done` never steps back), and with `done == total` when it ends
    /// (also when it fails part way, so that a caller drawing progress can stop), so that a
    /// caller on a terminal can show that dockpki is busy rather than hung.
    Progress {
        /// What is being done.
        task: Task,
        /// Steps finished.
        done: usize,
        /// Steps in all.
        total: usize,
    },
}

/// Slow work the engine reports [`Notice::Progress`] for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Task {
    /// Generating private keys of a slow type (RSA), which takes up to seconds each.
    GeneratingKeys,
    /// Re-issuing certificates one after the other (`renew`), each perhaps with a new RSA key.
    Renewing,
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Task::GeneratingKeys => "generating RSA keys",
            Task::Renewing => "renewing certificates",
        })
    }
}

impl Notice {
    /// Whether the notice warns of something the operator should act on (a key others can
    /// read, a file left as it was), as opposed to telling what the engine is doing; a caller
    /// asked to be quiet still shows warnings.
    pub fn is_warning(&self) -> bool {
        matches!(self, Notice::SkippedUserFile(_) | Notice::LooseCaKey { .. })
    }
}

/// Reports the progress of `total` steps of `task` around `work`: `done = 0` before, `done =
/// total` after, whether `work` succeeded or not. Nothing is reported when `slow` is false, so
/// quick work shows no progress at all.
pub(crate) fn around<T>(
    report: &dyn Report,
    task: Task,
    total: usize,
    slow: bool,
    work: impl FnOnce() -> T,
) -> T {
    if slow {
        report.notice(&Notice::Progress {
            task,
            done: 0,
            total,
        });
    }
    let result = work();
    if slow {
        report.notice(&Notice::Progress {
            task,
            done: total,
            total,
        });
    }
    result
}

/// Generates one key of `key_type`, reporting progress when it is slow to generate.
///
/// # Errors
///
/// [`dockpki::Error::Crypto`] when the key cannot be generated.
pub(crate) fn generate_key(
    report: &dyn Report,
    key_type: dockpki::KeyType,
) -> dockpki::Result<dockpki::PrivateKey> {
    around(
        report,
        Task::GeneratingKeys,
        1,
        key_type.is_slow_to_generate(),
        || dockpki::PrivateKey::generate(key_type),
    )
}

/// Generates keys of `key_types` (in parallel when several are slow), reporting progress when
/// any of them is slow to generate.
///
/// # Errors
///
/// [`dockpki::Error::Crypto`] when a key cannot be generated.
pub(crate) fn generate_keys(
    report: &dyn Report,
    key_types: &[dockpki::KeyType],
) -> dockpki::Result<Vec<dockpki::PrivateKey>> {
    let slow = key_types.iter().any(|k| k.is_slow_to_generate());
    around(report, Task::GeneratingKeys, key_types.len(), slow, || {
        dockpki::PrivateKey::generate_many(key_types)
    })
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
            Notice::Progress { task, done, total } => write!(f, "{task}: {done} of {total}"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Collect(Mutex<Vec<Notice>>);

    impl Report for Collect {
        fn notice(&self, notice: &Notice) {
            self.0.lock().unwrap().push(notice.clone());
        }
    }

    fn progress(task: Task, done: usize, total: usize) -> Notice {
        Notice::Progress { task, done, total }
    }

    #[test]
    fn slow_work_reports_its_start_and_its_end_even_when_it_fails() {
        let seen = Collect::default();
        let r: Result<(), &str> = around(&seen, Task::Renewing, 3, true, || Err("failed"));
        assert!(r.is_err());
        assert_eq!(
            *seen.0.lock().unwrap(),
            [
                progress(Task::Renewing, 0, 3),
                progress(Task::Renewing, 3, 3)
            ]
        );
    }

    #[test]
    fn only_slow_key_types_report_progress() {
        let seen = Collect::default();
        generate_key(&seen, dockpki::KeyType::EcdsaP256).unwrap();
        generate_keys(&seen, &[dockpki::KeyType::Ed25519; 2]).unwrap();
        assert!(seen.0.lock().unwrap().is_empty());
        generate_key(&seen, dockpki::KeyType::Rsa2048).unwrap();
        assert_eq!(
            *seen.0.lock().unwrap(),
            [
                progress(Task::GeneratingKeys, 0, 1),
                progress(Task::GeneratingKeys, 1, 1)
            ]
        );
    }

    #[test]
    fn warnings_are_told_apart_from_what_the_engine_is_doing() {
        assert!(Notice::LooseCaKey {
            path: PathBuf::from("/s/ca-key.pem"),
            mode: 0o644
        }
        .is_warning());
        assert!(!progress(Task::GeneratingKeys, 0, 1).is_warning());
        assert!(!Notice::Recovered {
            journal: PathBuf::from("/s/journal.json"),
            moved: 1
        }
        .is_warning());
    }
}
