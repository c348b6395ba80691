//! Exclusive `flock` locks: the state directory's lock file, and a layout directory itself for
//! the updates no state's lock covers (`request` and `install` on a daemon's or client's host).
//!
//! The kernel drops a flock when its holder exits, so a lock is never stale: waiting past the
//! timeout means another dockpki is still running.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Advice, Error, Result};
use crate::report::{Notice, Report};

/// An exclusive lock on a directory, held until dropped (see [`lock_dir`]).
#[derive(Debug)]
pub struct DirLock {
    _dir: File,
}

/// Takes the exclusive lock of the directory `dir` itself (no file is made in it), waiting up to
/// `timeout` (`None`: for ever) for another process holding it, with one
/// [`Notice::WaitingForLock`] when it has to wait. `Ok(None)` when `dir` does not exist (yet):
/// there is nothing to lock, and whoever creates it first wins its own refusal checks.
///
/// Two dockpki processes updating one layout (a fleet tool's `install` and an operator's, two
/// `request`s) each judge what is there and then write: without the lock, one could judge the
/// files the other is about to replace, or remove the other's journal.
///
/// # Errors
/// When `dir` is not a directory, cannot be opened, or the wait timed out.
pub fn lock_dir(
    dir: &Path,
    timeout: Option<Duration>,
    report: &dyn Report,
) -> Result<Option<DirLock>> {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::Mode;
    // O_DIRECTORY: anything else (a FIFO, whose open would block) is refused by the open
    // itself. A link to a directory is followed: its files are judged by the writes as usual.
    let fd = match open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ENOENT) => return Ok(None),
        Err(e) => {
            return Err(Error::io(
                "open the directory to lock",
                dir,
                &std::io::Error::from(e),
            ))
        }
    };
    let file = File::from(fd);
    wait_for_lock(&file, dir, dir, timeout, report)?;
    Ok(Some(DirLock { _dir: file }))
}

/// Takes the exclusive lock of the open `lock` (the file `lock_path`, guarding `dir`), reporting
/// when it has to wait and giving up with an error after `timeout`.
pub(crate) fn wait_for_lock(
    lock: &File,
    dir: &Path,
    lock_path: &Path,
    timeout: Option<Duration>,
    report: &dyn Report,
) -> Result<()> {
    // A timeout too large for the clock means no deadline, not an overflow panic.
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let mut announced = false;
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("lock", lock_path, &e)),
        }
        if !announced {
            report.notice(&Notice::WaitingForLock {
                dir: dir.to_path_buf(),
                lock: lock_path.to_path_buf(),
                timeout,
            });
            announced = true;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            // A layout's lock is the directory itself: named once.
            let holds = if lock_path == dir {
                String::new()
            } else {
                format!(" (it holds {})", lock_path.display())
            };
            return Err(Error::advised(
                format!(
                    "gave up after {}s waiting for another dockpki process working on {}{holds}; let it finish",
                    timeout.unwrap_or_default().as_secs(),
                    dir.display(),
                ),
                Advice::LockTimeout,
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Silent;

    /// The lock is the directory's own: a second holder waits for the first, gives up after
    /// its timeout with one line saying who holds it, and gets it once the first lets go.
    #[test]
    fn a_locked_directory_makes_the_next_locker_wait_and_is_free_once_dropped() {
        let root = tempfile::tempdir().unwrap();
        let first = lock_dir(root.path(), None, &Silent).unwrap().unwrap();
        let started = Instant::now();
        let notices = std::sync::Mutex::new(Vec::new());
        let collect = |n: &Notice| notices.lock().unwrap().push(n.to_string());
        let e = lock_dir(root.path(), Some(Duration::from_millis(200)), &collect).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(200));
        // The wait said once, the directory named once (it is its own lock).
        let dir = root.path().display().to_string();
        assert_eq!(
            *notices.lock().unwrap(),
            [format!(
                "waiting up to 0s for another dockpki process working on {dir}"
            )]
        );
        assert_eq!(
            e.to_string(),
            format!("gave up after 0s waiting for another dockpki process working on {dir}; let it finish")
        );
        assert_eq!(e.advice(), Some(Advice::LockTimeout));
        drop(first);
        assert!(lock_dir(root.path(), Some(Duration::ZERO), &Silent)
            .unwrap()
            .is_some());
        // Nothing was made in it.
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_missing_directory_has_nothing_to_lock_and_a_file_or_fifo_is_refused_without_blocking() {
        let root = tempfile::tempdir().unwrap();
        assert!(lock_dir(&root.path().join("none"), None, &Silent)
            .unwrap()
            .is_none());
        let file = root.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(lock_dir(&file, None, &Silent).is_err());
        let fifo = root.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(lock_dir(&fifo, None, &Silent).is_err());
    }
}
