//! Exclusive `flock` locks: the state directory's lock file, and a layout directory's lock file
//! for the updates no state's lock covers (`request` and `install` on a daemon's or client's
//! host).
//!
//! The kernel drops a flock when its holder exits, so a lock is never stale: waiting past the
//! timeout means another dockpki is still running.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Advice, Error, Result};
use crate::report::{Notice, Report};

/// The lock file [`lock_dir`] keeps in a layout directory: empty, mode 0600, owned by whoever
/// runs dockpki there (root for a daemon's layout), made by the first run in the layout that
/// changes it, and removed again by a run that made it and changed nothing.
pub const LOCK_FILE: &str = ".dockpki-lock";

/// An exclusive lock on a layout directory, held until dropped (see [`lock_dir`]).
///
/// A lock file this lock made is removed when it is dropped, unless [`DirLock::keep`] said the
/// update was written: a refused run leaves nothing in the directory.
#[derive(Debug)]
pub struct DirLock {
    file: File,
    path: std::path::PathBuf,
    made: bool,
    keep: bool,
}

impl DirLock {
    /// Releases the lock, keeping its lock file: the update was written, and the lock file is
    /// the layout's from now on.
    pub fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        if !self.made || self.keep {
            return;
        }
        // Removed while still held, and only if the path still names this very file: whoever
        // waits on it then finds it gone once it gets it, and starts again (see lock_dir).
        if is_at(&self.file, &self.path) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Whether `file` (open) is the file at `path`.
fn is_at(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Takes the exclusive lock of the layout directory `dir`, through its lock file [`LOCK_FILE`]
/// (made on first use), waiting up to `timeout` (`None`: for ever) for another process holding
/// it, with one [`Notice::WaitingForLock`] when it has to wait. `Ok(None)` when `dir` does not
/// exist (yet): there is nothing to lock, and whoever creates it first wins its own refusal
/// checks.
///
/// Two dockpki processes updating one layout (a fleet tool's `install` and an operator's, two
/// `request`s) each judge what is there and then write: without the lock, one could judge the
/// files the other is about to replace, or remove the other's journal.
///
/// A file, not the directory itself: anyone who may read a directory may `flock` it, so a
/// user could hold root's `install` off a layout others may list (a hand-made 0755
/// `/etc/docker/pki`); the lock file is made 0600 and used only when it is a regular file of
/// the running user's, with one link, that no one else may open. Opened for writing too, since
/// an exclusive lock over NFS needs that. It is made only where the running user may write
/// (the directory trusted as for any write: [`crate::fs::write::check_directory_trust`]).
///
/// # Errors
/// When `dir` is not a directory or not one the running user may write in (see above), the
/// lock file is not one dockpki would have made (a link, a FIFO, another user's, others may
/// open it, a hard link), cannot be made or opened, or the wait timed out.
pub fn lock_dir(
    dir: &Path,
    timeout: Option<Duration>,
    report: &dyn Report,
) -> Result<Option<DirLock>> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(Error::new(format!(
                "{} is not a directory; name the layout directory",
                dir.display()
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open the directory to lock", dir, &e)),
    }
    let path = dir.join(LOCK_FILE);
    // Only where the running user may write at all: never made through a link someone else
    // could repoint, nor in a directory someone else owns or may write (the writes that follow
    // would be refused there anyway, and nothing must be left behind by the refusal).
    crate::fs::write::check_directory_trust(&path, None)?;
    let mut wait = Wait::new(timeout);
    loop {
        // Gone between finding it and opening it: its maker let it go; start again.
        let Some((file, made)) = open_lock_file(&path)? else {
            continue;
        };
        wait.for_lock(&file, dir, &path, report)?;
        // The file locked must still be the one at the path: a refused run removes the lock
        // file it made (holding it), and whoever waited on it holds a lock of nothing then.
        if is_at(&file, &path) {
            return Ok(Some(DirLock {
                file,
                path,
                made,
                keep: false,
            }));
        }
    }
}

/// The lock file at `path`, made (0600, never through a link) or opened after checking it is
/// one dockpki made: judged through a handle that opens nothing (`O_PATH`), then opened for
/// real through that handle, so that no device is ever opened and the file judged is the one
/// locked. `Ok(None)` when a lock file found is gone by the time it is opened (removed by the run that
/// made it): the caller starts again.
fn open_lock_file(path: &Path) -> Result<Option<(File, bool)>> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let made = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
        .open(path);
    match made {
        Ok(file) => return Ok(Some((file, true))),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io("make the lock file", path, &e)),
    }
    let handle = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_PATH | nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
        .open(path)
    {
        Ok(handle) => handle,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open the lock file", path, &e)),
    };
    let meta = handle
        .metadata()
        .map_err(|e| Error::io("open the lock file", path, &e))?;
    if meta.nlink() == 0 {
        return Ok(None);
    }
    let me = nix::unistd::geteuid().as_raw();
    let problem = if !meta.file_type().is_file() {
        Some("it is not a regular file".to_string())
    } else if meta.uid() != me {
        Some(format!("it belongs to uid {}", meta.uid()))
    } else if meta.mode() & 0o077 != 0 {
        Some(format!(
            "others may open it (mode {:o})",
            meta.mode() & 0o7777
        ))
    } else if meta.nlink() != 1 {
        Some(format!("it has {} links", meta.nlink()))
    } else {
        None
    };
    if let Some(problem) = problem {
        return Err(Error::new(format!(
            "refusing to lock with {}: {problem}, and dockpki makes it an empty 0600 file of the user running it; remove it and run again",
            path.display()
        )));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC)
        .open(format!("/proc/self/fd/{}", handle.as_raw_fd()))
        .map_err(|e| Error::io("open the lock file", path, &e))?;
    let opened = file
        .metadata()
        .map_err(|e| Error::io("open the lock file", path, &e))?;
    if opened.dev() != meta.dev() || opened.ino() != meta.ino() {
        return Err(Error::new(format!(
            "{} changed while it was being opened; run the command again",
            path.display()
        )));
    }
    Ok(Some((file, false)))
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
    Wait::new(timeout).for_lock(lock, dir, lock_path, report)
}

/// One wait for a lock, however many files it takes (see [`lock_dir`]): one deadline, and the
/// wait said once.
struct Wait {
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    announced: bool,
}

impl Wait {
    fn new(timeout: Option<Duration>) -> Wait {
        Wait {
            timeout,
            // A timeout too large for the clock means no deadline, not an overflow panic.
            deadline: timeout.and_then(|t| Instant::now().checked_add(t)),
            announced: false,
        }
    }

    fn for_lock(
        &mut self,
        lock: &File,
        dir: &Path,
        lock_path: &Path,
        report: &dyn Report,
    ) -> Result<()> {
        let timeout = self.timeout;
        loop {
            match lock.try_lock() {
                Ok(()) => return Ok(()),
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(Error::io("lock", lock_path, &e))
                }
            }
            if !self.announced {
                report.notice(&Notice::WaitingForLock {
                    dir: dir.to_path_buf(),
                    lock: lock_path.to_path_buf(),
                    timeout,
                });
                self.announced = true;
            }
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::advised(
                format!(
                    "gave up after {}s waiting for another dockpki process working on {} (it holds {}); let it finish",
                    timeout.unwrap_or_default().as_secs(),
                    dir.display(),
                    lock_path.display()
                ),
                Advice::LockTimeout,
            ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Silent;
    use std::os::unix::fs::PermissionsExt;

    /// A second holder waits for the first, says so once, gives up after its timeout with one
    /// line naming the directory and its lock file, and gets the lock once the first lets go.
    #[test]
    fn a_locked_directory_makes_the_next_locker_wait_and_is_free_once_dropped() {
        let root = tempfile::tempdir().unwrap();
        let first = lock_dir(root.path(), None, &Silent).unwrap().unwrap();
        let lock = root.path().join(LOCK_FILE);
        // Made for the run, 0600, empty.
        let meta = std::fs::symlink_metadata(&lock).unwrap();
        assert!(meta.is_file() && meta.len() == 0);
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let started = Instant::now();
        let notices = std::sync::Mutex::new(Vec::new());
        let collect = |n: &Notice| notices.lock().unwrap().push(n.to_string());
        let e = lock_dir(root.path(), Some(Duration::from_millis(200)), &collect).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(200));
        let (dir, lock) = (root.path().display(), lock.display());
        assert_eq!(
            *notices.lock().unwrap(),
            [format!(
                "waiting up to 0s for another dockpki process working on {dir} (lock {lock})"
            )]
        );
        assert_eq!(
            e.to_string(),
            format!("gave up after 0s waiting for another dockpki process working on {dir} (it holds {lock}); let it finish")
        );
        assert_eq!(e.advice(), Some(Advice::LockTimeout));
        // The first made the lock file: let go without keep, it takes it away; kept, it stays.
        drop(first);
        assert!(!root.path().join(LOCK_FILE).exists());
        let again = lock_dir(root.path(), Some(Duration::ZERO), &Silent)
            .unwrap()
            .unwrap();
        again.keep();
        assert!(root.path().join(LOCK_FILE).is_file());
        // One it did not make is never taken away.
        drop(lock_dir(root.path(), None, &Silent).unwrap());
        assert!(root.path().join(LOCK_FILE).is_file());
    }

    /// Anyone who may read a directory may flock it: that holds no one off, since the lock is
    /// the lock file's, which no one else may open.
    #[test]
    fn a_flock_of_the_directory_itself_holds_no_one_off() {
        let root = tempfile::tempdir().unwrap();
        let dir = File::open(root.path()).unwrap();
        dir.lock().unwrap();
        assert!(lock_dir(root.path(), Some(Duration::ZERO), &Silent)
            .unwrap()
            .is_some());
    }

    #[test]
    fn a_missing_directory_has_nothing_to_lock_and_a_file_or_fifo_is_refused_without_blocking() {
        let root = tempfile::tempdir().unwrap();
        assert!(lock_dir(&root.path().join("none"), None, &Silent)
            .unwrap()
            .is_none());
        let file = root.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let fifo = root.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        for path in [&file, &fifo] {
            let e = lock_dir(path, None, &Silent).unwrap_err();
            assert!(e.to_string().contains("is not a directory"), "{e}");
        }
        // A path that cannot be looked up is an error, not a directory to make later.
        let looped = root.path().join("loop");
        std::os::unix::fs::symlink(&looped, &looped).unwrap();
        assert!(lock_dir(&looped, None, &Silent).is_err());
    }

    /// Threads racing to make and take one directory's lock never hold it at the same time:
    /// each that made the lock file removes it when it lets go (never kept), while others wait
    /// on that very file and must start again on a new one.
    #[test]
    fn racing_lockers_of_a_fresh_directory_never_hold_the_lock_together() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let root = tempfile::tempdir().unwrap();
        let inside = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..25 {
                        let held = lock_dir(root.path(), None, &Silent).unwrap().unwrap();
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(2));
                        inside.fetch_sub(1, Ordering::SeqCst);
                        drop(held);
                    }
                });
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), 1);
    }

    /// As root: the lock file is never made where the running user may not write, so a refused
    /// run leaves nothing there: through a link another user owns (to a root-only directory),
    /// or in a directory another user owns.
    #[test]
    fn no_lock_file_is_made_through_another_users_link_or_in_their_directory() {
        if !crate::test_support::root_or_skip() {
            return;
        }
        let root = tempfile::tempdir().unwrap();
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let private = root.path().join("private");
        std::fs::create_dir(&private).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        let theirs = root.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        let link = theirs.join("layout");
        std::os::unix::fs::symlink(&private, &link).unwrap();
        std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        for dir in [&link, &theirs] {
            let e = lock_dir(dir, Some(Duration::ZERO), &Silent).unwrap_err();
            assert!(e.to_string().contains("65534"), "{e}");
        }
        assert_eq!(std::fs::read_dir(&private).unwrap().count(), 0);
        assert!(!theirs.join(LOCK_FILE).exists());
    }

    /// A lock file dockpki would not have made is refused in one line saying to remove it, and
    /// never opened for real: a link (to a file of root's), a FIFO, one others may open, a
    /// hard link, and (as root) another user's.
    #[test]
    fn a_lock_file_dockpki_did_not_make_is_refused_without_opening_it() {
        let root = tempfile::tempdir().unwrap();
        // Root's own 0600 file: a link to it is refused for being a link, nothing else.
        let target = root.path().join("target");
        std::fs::write(&target, b"root's").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        type Make<'a> = Box<dyn Fn(&Path) + 'a>;
        let cases: Vec<(&str, Make)> = vec![
            (
                "a link",
                Box::new(|l: &Path| std::os::unix::fs::symlink(&target, l).unwrap()),
            ),
            (
                "a FIFO",
                Box::new(|l: &Path| {
                    nix::unistd::mkfifo(l, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap()
                }),
            ),
            (
                "open to others",
                Box::new(|l: &Path| {
                    std::fs::write(l, b"").unwrap();
                    std::fs::set_permissions(l, std::fs::Permissions::from_mode(0o644)).unwrap();
                }),
            ),
            (
                "a hard link",
                Box::new(|l: &Path| std::fs::hard_link(&target, l).unwrap()),
            ),
        ];
        for (what, make) in cases {
            let dir = tempfile::tempdir_in(root.path()).unwrap();
            make(&dir.path().join(LOCK_FILE));
            let e = lock_dir(dir.path(), Some(Duration::ZERO), &Silent).unwrap_err();
            assert!(
                e.to_string().contains("refusing to lock with")
                    && e.to_string().contains("remove it and run again"),
                "{what}: {e}"
            );
        }
        assert_eq!(std::fs::read(&target).unwrap(), b"root's");
        if crate::test_support::root_or_skip() {
            let dir = tempfile::tempdir_in(root.path()).unwrap();
            let lock = dir.path().join(LOCK_FILE);
            std::fs::write(&lock, b"").unwrap();
            std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o600)).unwrap();
            std::os::unix::fs::chown(&lock, Some(65534), Some(65534)).unwrap();
            let e = lock_dir(dir.path(), Some(Duration::ZERO), &Silent).unwrap_err();
            assert!(e.to_string().contains("it belongs to uid 65534"), "{e}");
        }
    }
}
