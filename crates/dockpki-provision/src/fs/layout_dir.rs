//! A layout directory in a place another user controls, opened once and then used only through
//! that handle.
//!
//! Root reading (to copy, to rewrite) or removing files by path in a user's directory
//! (`~/.docker`) can be steered: the user swaps the directory, or one above it, for a symlink
//! to a root-only place between the check and the act. A [`LayoutDir`] is opened with
//! `O_DIRECTORY | O_NOFOLLOW`, checked through the opened handle (owner, mode) and against the
//! write path's trust rule ([`check_directory_trust`]) for the very inode opened; every file is
//! then reached relative to the handle, never following a link.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode, SFlag};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::fs::reader::{self, Limit};
use crate::fs::write::check_directory_trust;

/// An opened, trusted layout directory (see the module documentation).
#[derive(Debug)]
pub struct LayoutDir {
    handle: OwnedFd,
    path: PathBuf,
    /// The directory's owner, as the opened handle says.
    owner: u32,
    /// The directory's group, as the opened handle says.
    group: u32,
}

/// Whether `st` is of the file type `kind`.
fn is_kind(st: &FileStat, kind: SFlag) -> bool {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == kind
}

impl LayoutDir {
    /// Opens `dir` without following a link at its end, and checks it: owned by `owner` (the
    /// user the layout belongs to; `None` or the running user: root or the running user), not
    /// writable by group or others, and every directory and link above it trusted as for a write
    /// ([`check_directory_trust`]) — checked for the same inode that was opened, so that a swap
    /// of any directory on the path between the open and the checks is noticed. `None` when
    /// `dir` does not exist.
    ///
    /// # Errors
    /// When `dir` is a symlink or not a directory, is owned by someone else, is writable by group
    /// or others, a directory above it is not trusted, or it changed while being checked.
    pub fn open(dir: &Path, owner: Option<u32>) -> Result<Option<LayoutDir>> {
        let handle = match nix::fcntl::open(
            dir,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(nix::errno::Errno::ENOENT) => return Ok(None),
            Err(nix::errno::Errno::ELOOP | nix::errno::Errno::ENOTDIR) => {
                return Err(Error::new(format!(
                    "refusing to use {} because it is a symlink or not a directory (dockpki made a directory there); replace it with the real directory",
                    dir.display()
                )))
            }
            Err(e) => return Err(Error::io("open", dir, &std::io::Error::from(e))),
        };
        let st = fstat(&handle).map_err(|e| Error::io("read", dir, &std::io::Error::from(e)))?;
        let me = nix::unistd::geteuid().as_raw();
        let allowed = match owner.filter(|&o| o != me) {
            Some(o) => st.st_uid == o,
            None => st.st_uid == me || st.st_uid == 0,
        };
        if !allowed {
            return Err(Error::new(format!(
                "refusing to use {} because it is owned by uid {}, not by the layout's owner; chown it back or remove the entry's files by hand",
                dir.display(),
                st.st_uid
            )));
        }
        let mode = st.st_mode & 0o7777;
        if mode & 0o022 != 0 {
            return Err(Error::new(format!(
                "refusing to use {} because it is writable by group or others (mode {mode:04o}); run `chmod go-w {}`",
                dir.display(),
                crate::text::shell_quote(&dir.display().to_string())
            )));
        }
        check_directory_trust(&dir.join("x"), Some(st.st_uid))?;
        let now = std::fs::symlink_metadata(dir).map_err(|e| Error::io("read", dir, &e))?;
        if now.dev() != st.st_dev || now.ino() != st.st_ino {
            return Err(Error::new(format!(
                "{} changed while it was being checked; run the command again",
                dir.display()
            )));
        }
        Ok(Some(LayoutDir {
            handle,
            path: dir.to_path_buf(),
            owner: st.st_uid,
            group: st.st_gid,
        }))
    }

    /// The directory's path, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory's owner.
    pub fn owner(&self) -> u32 {
        self.owner
    }

    /// The directory's group.
    pub fn group(&self) -> u32 {
        self.group
    }

    /// Reads the regular file `name` of the directory, at most `limit` bytes, never following a
    /// link and never opening anything but a regular file. `None` when there is no `name`.
    ///
    /// # Errors
    /// When `name` is a symlink or not a regular file, is larger than `limit`, or cannot be read.
    pub fn read(&self, name: &str, limit: Limit) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let path = self.path.join(name);
        // A handle that opens nothing first (O_PATH), as the reader does: opening a device can
        // itself act.
        let handle = match nix::fcntl::openat(
            &self.handle,
            name,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(nix::errno::Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(Error::io("read", &path, &std::io::Error::from(e))),
        };
        let st = fstat(&handle).map_err(|e| Error::io("read", &path, &std::io::Error::from(e)))?;
        if is_kind(&st, SFlag::S_IFLNK) {
            return Err(Error::new(format!(
                "refusing to read {} because it is a symlink (dockpki never makes one there, so it was planted); replace the link with the file itself",
                path.display()
            )));
        }
        if !is_kind(&st, SFlag::S_IFREG) {
            return Err(Error::new(format!(
                "refusing to read {} because it is not a regular file; put the file itself there",
                path.display()
            )));
        }
        let file: File = OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC)
            .open(format!("/proc/self/fd/{}", handle.as_raw_fd()))
            .map_err(|e| Error::io("read", &path, &e))?;
        let opened = file.metadata().map_err(|e| Error::io("read", &path, &e))?;
        if opened.dev() != st.st_dev || opened.ino() != st.st_ino || !opened.is_file() {
            return Err(Error::new(format!(
                "{} changed while it was being read; run the command again",
                path.display()
            )));
        }
        reader::read_opened(file, &path, limit).map(Some)
    }

    /// Removes the file `name` of the directory if it is a regular file owned by the directory's
    /// owner, root or the running user; returns its path when removed, `None` when there was no
    /// such file.
    ///
    /// # Errors
    /// When `name` is something else (a link, a directory, a file of another user's), which is
    /// left in place, or cannot be removed.
    pub fn remove(&self, name: &str) -> Result<Option<PathBuf>> {
        let path = self.path.join(name);
        let st = match fstatat(&self.handle, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(nix::errno::Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(Error::io("read", &path, &std::io::Error::from(e))),
        };
        let me = nix::unistd::geteuid().as_raw();
        if !is_kind(&st, SFlag::S_IFREG) || ![self.owner, me, 0].contains(&st.st_uid) {
            return Err(Error::new(format!(
                "refusing to remove {} because it is not a regular file of the layout's owner (dockpki wrote one there); remove it by hand",
                path.display()
            )));
        }
        match nix::unistd::unlinkat(&self.handle, name, nix::unistd::UnlinkatFlags::NoRemoveDir) {
            Ok(()) => Ok(Some(path)),
            Err(nix::errno::Errno::ENOENT) => Ok(None),
            Err(e) => Err(Error::io("remove", &path, &std::io::Error::from(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layout_dir_that_is_a_symlink_is_refused_and_its_target_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        std::fs::create_dir(&victim).unwrap();
        std::fs::write(victim.join("key.pem"), b"secret").unwrap();
        let link = tmp.path().join("layout");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let err = LayoutDir::open(&link, None).unwrap_err().to_string();
        assert!(err.contains("symlink"), "{err}");
        assert!(victim.join("key.pem").exists());
    }

    #[test]
    fn files_are_read_and_removed_only_as_regular_files_never_through_links() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("layout");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("cert.pem"), b"cert").unwrap();
        std::fs::write(tmp.path().join("secret"), b"secret").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("secret"), dir.join("key.pem")).unwrap();
        let opened = LayoutDir::open(&dir, None).unwrap().unwrap();
        assert_eq!(
            opened
                .read("cert.pem", Limit::Pem)
                .unwrap()
                .unwrap()
                .as_slice(),
            b"cert"
        );
        assert!(opened.read("key.pem", Limit::Pem).is_err());
        assert!(opened.read("ca.pem", Limit::Pem).unwrap().is_none());
        assert!(opened.remove("key.pem").is_err());
        assert!(tmp.path().join("secret").exists());
        assert_eq!(
            opened.remove("cert.pem").unwrap(),
            Some(dir.join("cert.pem"))
        );
        assert!(!dir.join("cert.pem").exists());
        assert_eq!(opened.remove("cert.pem").unwrap(), None);
    }

    #[test]
    fn a_group_writable_layout_dir_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("layout");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o770)).unwrap();
        let err = LayoutDir::open(&dir, None).unwrap_err().to_string();
        assert!(err.contains("writable by group"), "{err}");
    }

    #[test]
    fn a_missing_layout_dir_is_none() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(LayoutDir::open(&tmp.path().join("nope"), None)
            .unwrap()
            .is_none());
    }
}
