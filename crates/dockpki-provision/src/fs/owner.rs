//! Who owns the files dockpki writes for a user, and acting as that user while writing them.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A user and group to own written files, when running through sudo for another user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// While alive, this thread does its file-system work as another user: its fsuid (and, when
/// known, fsgid) are that user's, so the kernel itself judges every path as it would for that
/// user. Root writes the files of a user's layout this way (under sudo, or a cron renewal of a
/// layout made under sudo): whatever symlink or directory the user swaps into their own tree
/// between dockpki's checks and its writes, root can then only reach what that user could, and
/// what it creates is theirs from the start (no chown by path, which would follow a swapped-in
/// link). fsuid is per thread on Linux, and every file operation of an update runs on the
/// thread that made this guard.
///
/// The supplementary groups, though, are the whole process's (glibc applies setgroups to every
/// thread), so only one thread at a time acts as a user: a second guard waits for the first to
/// be dropped. Otherwise an embedder running two operations in parallel would have each thread
/// act with the other's groups (or root's, once the other guard restored them), and the last
/// guard to go would leave the process with a user's group for good. A guard must not nest
/// inside another on the same thread (it would wait for itself), and it is dropped on the
/// thread that made it (it is not `Send`):
///
/// ```compile_fail
/// fn on_another_thread<T: Send + 'static>(_: T) {}
/// on_another_thread(dockpki_provision::fs::ActingAs::user(None, None)?);
/// # Ok::<(), dockpki_provision::Error>(())
/// ```
pub struct ActingAs {
    previous: Option<Previously>,
}

/// What [`ActingAs`] restores.
struct Previously {
    fsuid: u32,
    fsgid: u32,
    groups: Vec<nix::unistd::Gid>,
    // Dropped after the identity is restored (fields drop after `Drop::drop`): the next thread
    // starts from root's groups, never from this guard's.
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

/// Held while a thread acts as a user: the credentials it changes are the process's. A process
/// has one set of credentials, so one lock for them is not configuration, it is the resource.
static ACTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl ActingAs {
    /// Acts as `uid` (with `gid`, else that user's primary group) if that is not the running
    /// user; otherwise does nothing. The supplementary groups become that one group too: root's
    /// (group 0 under sudo and cron) would otherwise still open whatever group 0 may.
    ///
    /// # Errors
    /// When the kernel did not switch (not root, or no CAP_SETUID/CAP_SETGID).
    pub fn user(uid: Option<u32>, gid: Option<u32>) -> Result<ActingAs> {
        use nix::unistd::{getgroups, setfsgid, setfsuid, setgroups, Gid, Uid, User};
        let me = nix::unistd::geteuid().as_raw();
        let Some(uid) = uid.filter(|&u| u != me) else {
            return Ok(ActingAs { previous: None });
        };
        let cannot = |why: String| {
            Error::new(format!(
                "cannot act as uid {uid} to work on that user's files ({why}; is dockpki running as root?)"
            ))
        };
        let gid = match gid {
            Some(g) => g,
            None => User::from_uid(Uid::from_raw(uid))
                .ok()
                .flatten()
                .map_or(uid, |u| u.gid.as_raw()),
        };
        // A guard that panicked while held left the identity restored by its drop all the same.
        let one_at_a_time = ACTING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let groups = getgroups().map_err(|e| cannot(e.to_string()))?;
        // Supplementary groups are per process through glibc: the lock above keeps every other
        // thread from acting meanwhile, and the guard restores them.
        setgroups(&[Gid::from_raw(gid)]).map_err(|e| cannot(e.to_string()))?;
        let fsgid = setfsgid(Gid::from_raw(gid)).as_raw();
        let fsuid = setfsuid(Uid::from_raw(uid)).as_raw();
        let guard = ActingAs {
            previous: Some(Previously {
                fsuid,
                fsgid,
                groups,
                _one_at_a_time: one_at_a_time,
            }),
        };
        // setfsuid reports the previous value, never failure: ask again to see what holds.
        if setfsuid(Uid::from_raw(uid)).as_raw() != uid
            || setfsgid(Gid::from_raw(gid)).as_raw() != gid
        {
            return Err(cannot("the kernel kept the identity".into()));
        }
        Ok(guard)
    }
}

impl ActingAs {
    /// Whether this guard switched to another user.
    pub fn is_acting(&self) -> bool {
        self.previous.is_some()
    }
}

impl Drop for ActingAs {
    fn drop(&mut self) {
        if let Some(p) = self.previous.take() {
            nix::unistd::setfsuid(nix::unistd::Uid::from_raw(p.fsuid));
            nix::unistd::setfsgid(nix::unistd::Gid::from_raw(p.fsgid));
            // Cannot fail for root (CAP_SETGID is not a file-system capability, so it survived
            // the fsuid switch); the process is root's again either way.
            let _ = nix::unistd::setgroups(&p.groups);
        }
    }
}

/// Who owns the files written into a directory: the caller decides (the CLI from sudo's
/// environment), the engine applies the rule wherever it writes or reads a user's layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnerPolicy {
    /// Files belong to the running user: nothing is handed over.
    RunningUser,
    /// Running as root for an invoking user (sudo): files in `home` are handed to `owner`;
    /// directories elsewhere are not that user's, and root writes nothing there for them.
    InvokingUser {
        /// The invoking user.
        owner: Owner,
        /// Their home directory.
        home: PathBuf,
    },
    /// Running as root on nobody's behalf (a cron job): an existing directory in a user's home
    /// belongs to that user, so a layout made under sudo and renewed by root stays theirs
    /// instead of being refused as another user's directory.
    HomeOwner,
}

impl OwnerPolicy {
    /// The owner for files written to (or read from) `dir`, or `None` for the running user.
    pub fn owner_for(&self, dir: &Path) -> Option<Owner> {
        match self {
            OwnerPolicy::InvokingUser { owner, home } if dir.starts_with(home) => Some(*owner),
            OwnerPolicy::InvokingUser { .. } | OwnerPolicy::RunningUser => None,
            OwnerPolicy::HomeOwner => owner_in_home(dir),
        }
    }
}

/// The user who owns the existing directory `dir`, when `dir` lies in that user's home.
fn owner_in_home(dir: &Path) -> Option<Owner> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(dir).ok()?;
    if !m.is_dir() || m.uid() == 0 {
        return None;
    }
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(m.uid())).ok()??;
    (user.dir != Path::new("/") && dir.starts_with(&user.dir)).then_some(Owner {
        uid: m.uid(),
        gid: user.gid.as_raw(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::unistd::{getgroups, setgroups};
    use std::sync::mpsc;
    use std::time::Duration;

    /// Root on nobody's behalf (a cron renewal) treats a directory as a user's only when it is
    /// a real directory that user owns, in that user's home: not a symlink they own (judged
    /// where it points, by whoever runs), not root's directory in their home, not their
    /// directory elsewhere. Uses the throwaway account `dockpki-ci` (created by `.ci/run`).
    #[test]
    fn home_owner_hands_over_only_a_users_own_directory_in_their_home() {
        use std::os::unix::fs::{chown, symlink};
        if !crate::test_support::root_or_skip() {
            return;
        }
        let user = nix::unistd::User::from_name("dockpki-ci").ok().flatten();
        if !crate::test_support::present_or_skip(user.is_some(), "the dockpki-ci account") {
            return;
        }
        let user = user.unwrap();
        let owner = Owner {
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        };
        std::fs::create_dir_all(&user.dir).unwrap();
        let in_home = tempfile::tempdir_in(&user.dir).unwrap();
        let theirs = in_home.path().join("layout");
        let roots = in_home.path().join("roots");
        let link = in_home.path().join("link");
        std::fs::create_dir(&theirs).unwrap();
        std::fs::create_dir(&roots).unwrap();
        chown(&theirs, Some(owner.uid), Some(owner.gid)).unwrap();
        symlink(&theirs, &link).unwrap();
        std::os::unix::fs::lchown(&link, Some(owner.uid), Some(owner.gid)).unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let outside = elsewhere.path().join("layout");
        std::fs::create_dir(&outside).unwrap();
        chown(&outside, Some(owner.uid), Some(owner.gid)).unwrap();

        let policy = OwnerPolicy::HomeOwner;
        assert_eq!(policy.owner_for(&theirs), Some(owner));
        assert_eq!(
            policy.owner_for(&roots),
            None,
            "root's directory in their home"
        );
        assert_eq!(policy.owner_for(&link), None, "their symlink in their home");
        assert_eq!(
            policy.owner_for(&outside),
            None,
            "their directory outside their home"
        );
        assert_eq!(policy.owner_for(&in_home.path().join("missing")), None);
        // The other policies never look at the directory.
        assert_eq!(OwnerPolicy::RunningUser.owner_for(&theirs), None);
        let invoking = OwnerPolicy::InvokingUser {
            owner,
            home: user.dir.clone(),
        };
        assert_eq!(invoking.owner_for(&roots), Some(owner));
        assert_eq!(invoking.owner_for(&outside), None);
    }

    /// Supplementary groups belong to the whole process (glibc's setgroups applies to every
    /// thread), so two threads acting as two users at once (an embedder running operations on
    /// two states in parallel) would each see the other's groups while acting, and the last
    /// guard to drop would "restore" the groups the first one had set: the process would keep a
    /// user's group for good. Acting as a user is one thread at a time.
    #[test]
    fn acting_as_users_in_two_threads_at_once_leaves_the_process_groups_as_they_were() {
        if !crate::test_support::root_or_skip() {
            return;
        }
        // Other tests act as users in parallel: look at the process's groups while none does.
        let groups = || {
            let _none_acting = ACTING
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            getgroups().unwrap()
        };
        let before = groups();
        let (to_second, second_hears) = mpsc::channel();
        let (to_first, first_hears) = mpsc::channel();
        let first = std::thread::spawn(move || {
            let guard = ActingAs::user(Some(65534), Some(65534)).unwrap();
            to_second.send("first acts").unwrap();
            // Give the second thread time to act too (it must wait for this guard instead).
            let _ = first_hears.recv_timeout(Duration::from_millis(300));
            drop(guard);
            to_second.send("first is done").unwrap();
        });
        assert_eq!(second_hears.recv().unwrap(), "first acts");
        let second = std::thread::spawn(move || {
            let guard = ActingAs::user(Some(65533), Some(65533)).unwrap();
            let _ = to_first.send("second acts");
            assert_eq!(second_hears.recv().unwrap(), "first is done");
            // Still acting as 65533: the process holds that one group and no other.
            let during = getgroups().unwrap();
            drop(guard);
            during
        });
        first.join().unwrap();
        let during = second.join().unwrap();
        let after = groups();
        // Put the test process back whatever happened, for the other tests.
        setgroups(&before).unwrap();
        assert_eq!(during, vec![nix::unistd::Gid::from_raw(65533)]);
        assert_eq!(after, before, "the process kept another user's groups");
    }
}
