//! The audit's view of a host: files with their owners and modes, accounts and groups, and the
//! processes running. Every check reads the host through [`Host`] alone, so that the same checks
//! run on the machine itself ([`TreeHost::live`]), on an offline tree such as an image or a
//! chroot ([`TreeHost::tree`]), and on fixtures in tests.
//!
//! Paths given to a [`Host`] are absolute paths *on that host* (`/etc/docker/daemon.json`). A
//! tree resolves them with the tree's directory as `/` (`openat2` with `RESOLVE_IN_ROOT`): an
//! absolute symlink inside an image (`var/run -> /run`) stays inside the image, and `..` never
//! climbs out of it. Nothing a tree's owner plants can make the audit read the auditing
//! machine's own files.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::fs::reader::Limit;

/// What kind of file a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    /// A regular file.
    Regular,
    /// A directory.
    Directory,
    /// A unix socket.
    Socket,
    /// A symbolic link (only from [`Host::lstat`]).
    Symlink,
    /// A named pipe.
    Fifo,
    /// A character or block device.
    Device,
}

/// A file's kind, owner, permission bits and identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// What it is.
    pub kind: FileKind,
    /// Owner's uid.
    pub uid: u32,
    /// Group's gid.
    pub gid: u32,
    /// The permission bits, setuid/setgid/sticky included (`mode & 0o7777`).
    pub mode: u32,
    /// Size in bytes.
    pub size: u64,
    /// The device the file is on: with [`Stat::ino`], which file it is, whatever the path
    /// (a container's mount source and the daemon's socket are one file when both match).
    pub dev: u64,
    /// The inode number on [`Stat::dev`].
    pub ino: u64,
}

impl Stat {
    fn of(meta: &std::fs::Metadata) -> Stat {
        let t = meta.file_type();
        let kind = if t.is_symlink() {
            FileKind::Symlink
        } else if t.is_dir() {
            FileKind::Directory
        } else if t.is_socket() {
            FileKind::Socket
        } else if t.is_fifo() {
            FileKind::Fifo
        } else if t.is_char_device() || t.is_block_device() {
            FileKind::Device
        } else {
            FileKind::Regular
        };
        Stat {
            kind,
            uid: meta.uid(),
            gid: meta.gid(),
            mode: meta.mode() & 0o7777,
            size: meta.size(),
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// The program a process runs, as `/proc/PID/exe` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Executable {
    /// Its path on the host when the process started (` (deleted)` appended by the kernel
    /// when the file has since been removed or replaced, as a package upgrade does).
    pub path: PathBuf,
    /// The file the process runs, itself (not whatever the path names now).
    pub stat: Stat,
}

impl Executable {
    /// The file name of the program, without the kernel's ` (deleted)` mark.
    pub fn name(&self) -> Option<&str> {
        let name = self.path.file_name()?.to_str()?;
        Some(name.strip_suffix(" (deleted)").unwrap_or(name))
    }
}

/// A line of `/etc/passwd`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory, as written.
    pub home: PathBuf,
    /// Login shell, as written.
    pub shell: String,
}

/// A line of `/etc/group`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// Group id.
    pub gid: u32,
    /// The members listed on the group's line (users whose primary group it is are not
    /// listed there; [`Host::group_members`] adds them).
    pub members: Vec<String>,
}

/// A running process, as `/proc` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    /// Process id.
    pub pid: u32,
    /// Real user id.
    pub uid: u32,
    /// The command line, one string per argument (lossily decoded).
    pub argv: Vec<String>,
}

/// The files, accounts and processes of the host being audited. Paths are absolute paths on
/// that host. Reading never follows a link out of the host (see the module documentation) and
/// reads at most a [`Limit`] of any file; FIFOs and devices are never opened for reading.
pub trait Host {
    /// How to name the host in a report: `/` for the machine itself, the tree's directory
    /// otherwise.
    fn name(&self) -> String;

    /// Whether this is the machine the audit runs on, whose processes and daemons may be
    /// consulted. A tree is never live.
    fn is_live(&self) -> bool;

    /// `path` (a path on the host) as the operator reaches it: the same path on the machine
    /// itself, under the tree's directory for a tree. Evidence and fixes name this one.
    fn shown(&self, path: &Path) -> PathBuf {
        path.to_path_buf()
    }

    /// `path`'s kind, owner and mode, links followed (inside the host); `None` when it does
    /// not exist.
    ///
    /// # Errors
    /// When it cannot be looked at (permissions, a loop of links).
    fn stat(&self, path: &Path) -> Result<Option<Stat>>;

    /// As [`Host::stat`], but a link at `path` itself is described, not followed.
    ///
    /// # Errors
    /// As [`Host::stat`].
    fn lstat(&self, path: &Path) -> Result<Option<Stat>>;

    /// Where the symlink at `path` points, as written in the link; `None` when `path` is not
    /// a link or does not exist. The default knows of no links.
    ///
    /// # Errors
    /// When it cannot be looked at.
    fn read_link(&self, path: &Path) -> Result<Option<PathBuf>> {
        let _ = path;
        Ok(None)
    }

    /// The contents of the regular file at `path` (links followed inside the host), at most
    /// `limit` bytes; `None` when it does not exist.
    ///
    /// # Errors
    /// When it is not a regular file, is larger than `limit`, or cannot be read.
    fn read(&self, path: &Path, limit: Limit) -> Result<Option<Zeroizing<Vec<u8>>>>;

    /// The names in the directory at `path`, sorted; `None` when it does not exist.
    ///
    /// # Errors
    /// When it is not a directory or cannot be read.
    fn list_dir(&self, path: &Path) -> Result<Option<Vec<String>>>;

    /// The processes running; empty for a host that is not live.
    ///
    /// # Errors
    /// When `/proc` cannot be read on a live host.
    fn processes(&self) -> Result<Vec<Process>>;

    /// The program process `pid` runs (`/proc/PID/exe`), which, unlike its `argv[0]`, the
    /// process cannot choose. `None` when it is not known: a host that is not live (the
    /// default), a process that has ended, or another user's process when the audit does not
    /// run as root (the kernel shows the link only to those who may trace the process).
    fn process_exe(&self, pid: u32) -> Option<Executable> {
        let _ = pid;
        None
    }

    /// The accounts of `/etc/passwd` (only the file: accounts from a directory service are not
    /// seen); empty when it does not exist.
    ///
    /// # Errors
    /// When it exists but cannot be read.
    fn accounts(&self) -> Result<Vec<Account>> {
        let path = Path::new("/etc/passwd");
        Ok(match self.read(path, Limit::Config)? {
            Some(bytes) => parse_passwd(&String::from_utf8_lossy(&bytes)),
            None => Vec::new(),
        })
    }

    /// The groups of `/etc/group` (only the file); empty when it does not exist.
    ///
    /// # Errors
    /// When it exists but cannot be read.
    fn groups(&self) -> Result<Vec<Group>> {
        let path = Path::new("/etc/group");
        Ok(match self.read(path, Limit::Config)? {
            Some(bytes) => parse_group(&String::from_utf8_lossy(&bytes)),
            None => Vec::new(),
        })
    }

    /// Everyone in the group named `name`: its listed members and the accounts whose primary
    /// group it is, sorted, each once. `None` when there is no such group.
    ///
    /// # Errors
    /// As [`Host::accounts`] and [`Host::groups`].
    fn group_members(&self, name: &str) -> Result<Option<(Group, Vec<Account>)>> {
        let Some(group) = self.groups()?.into_iter().find(|g| g.name == name) else {
            return Ok(None);
        };
        let accounts = self.accounts()?;
        let mut members: BTreeMap<String, Account> = BTreeMap::new();
        for account in &accounts {
            if account.gid == group.gid || group.members.contains(&account.name) {
                members.insert(account.name.clone(), account.clone());
            }
        }
        // A listed member without a passwd line is still a member (a directory-service user).
        for name in &group.members {
            members.entry(name.clone()).or_insert_with(|| Account {
                name: name.clone(),
                uid: u32::MAX,
                gid: group.gid,
                home: PathBuf::new(),
                shell: String::new(),
            });
        }
        Ok(Some((group, members.into_values().collect())))
    }

    /// The name of the account with `uid`, if `/etc/passwd` has one.
    ///
    /// # Errors
    /// As [`Host::accounts`].
    fn user_name(&self, uid: u32) -> Result<Option<String>> {
        Ok(self
            .accounts()?
            .into_iter()
            .find(|a| a.uid == uid)
            .map(|a| a.name))
    }

    /// The name of the group with `gid`, if `/etc/group` has one.
    ///
    /// # Errors
    /// As [`Host::groups`].
    fn group_name(&self, gid: u32) -> Result<Option<String>> {
        Ok(self
            .groups()?
            .into_iter()
            .find(|g| g.gid == gid)
            .map(|g| g.name))
    }
}

/// Parses `/etc/passwd`; malformed lines are passed over.
pub fn parse_passwd(text: &str) -> Vec<Account> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(Account {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: PathBuf::from(f[5]),
                shell: f[6].to_string(),
            })
        })
        .collect()
}

/// Parses `/etc/group`; malformed lines are passed over.
pub fn parse_group(text: &str) -> Vec<Group> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(Group {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f[3]
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect()
}

/// A host read from a directory that stands for its `/`: the machine itself (`/`, live) or an
/// offline tree. Paths are resolved inside the directory by the kernel (`RESOLVE_IN_ROOT`).
#[derive(Debug)]
pub struct TreeHost {
    dir: PathBuf,
    root: OwnedFd,
    live: bool,
}

/// The most a `/proc/PID/cmdline` or `status` may hold (Linux caps argv far below this).
const PROC_LIMIT: u64 = 1 << 20;

/// The most names [`Host::list_dir`] returns: far beyond any directory the audit lists
/// (`/proc` of a busy host, unit directories, `/etc/docker`), and a bound on the memory a
/// directory someone filled with names can make the audit spend.
pub const MAX_DIR_ENTRIES: usize = 65536;

/// The most entries of `/proc`: one a process, and Linux never has more than 2^22 pids
/// (`PID_MAX_LIMIT`), plus room for the kernel's own files.
const MAX_PROC_ENTRIES: usize = (1 << 22) + 4096;

impl TreeHost {
    /// The machine the audit runs on: `/`, with its processes.
    ///
    /// # Errors
    /// When `/` cannot be opened.
    pub fn live() -> Result<TreeHost> {
        TreeHost::open(Path::new("/"), true)
    }

    /// The offline tree at `dir` (an image, a chroot, a golden configuration): files only, no
    /// processes and no daemon.
    ///
    /// # Errors
    /// When `dir` is not an absolute path to a directory that can be opened.
    pub fn tree(dir: &Path) -> Result<TreeHost> {
        if !dir.is_absolute() {
            return Err(Error::new(format!(
                "the tree to audit must be an absolute path, not {}",
                dir.display()
            )));
        }
        TreeHost::open(dir, false)
    }

    fn open(dir: &Path, live: bool) -> Result<TreeHost> {
        let root = nix::fcntl::open(
            dir,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io("open", dir, &std::io::Error::from(e)))?;
        Ok(TreeHost {
            dir: dir.to_path_buf(),
            root,
            live,
        })
    }

    /// The directory that stands for `/`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `path` relative to the root, for `openat2`; an error for a relative path.
    fn relative(path: &Path) -> Result<PathBuf> {
        if !path.is_absolute() {
            return Err(Error::new(format!(
                "{} is not an absolute path on the audited host",
                crate::text::escape(&path.display().to_string())
            )));
        }
        let rel: PathBuf = path
            .components()
            .filter(|c| !matches!(c, Component::RootDir))
            .collect();
        Ok(if rel.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            rel
        })
    }

    /// Opens `path` inside the root with `flags` (plus `O_CLOEXEC`); `None` when it does not
    /// exist.
    fn open_in(&self, path: &Path, flags: OFlag) -> Result<Option<OwnedFd>> {
        let rel = TreeHost::relative(path)?;
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        loop {
            match openat2(&self.root, &rel, how) {
                Ok(fd) => return Ok(Some(fd)),
                Err(Errno::ENOENT | Errno::ENOTDIR) => return Ok(None),
                // The kernel asks to retry when a rename raced the resolution.
                Err(Errno::EAGAIN | Errno::EINTR) => continue,
                Err(e) => {
                    return Err(Error::io(
                        "look at",
                        &self.shown_path(path),
                        &std::io::Error::from(e),
                    ))
                }
            }
        }
    }

    /// `path` as the operator sees it: under the tree's directory.
    fn shown_path(&self, path: &Path) -> PathBuf {
        if self.live {
            path.to_path_buf()
        } else {
            self.dir
                .join(TreeHost::relative(path).unwrap_or_else(|_| path.to_path_buf()))
        }
    }

    fn stat_with(&self, path: &Path, follow: bool) -> Result<Option<Stat>> {
        let mut flags = OFlag::O_PATH;
        if !follow {
            flags |= OFlag::O_NOFOLLOW;
        }
        let Some(fd) = self.open_in(path, flags)? else {
            return Ok(None);
        };
        // fstat of an O_PATH descriptor describes what it names, a link itself with O_NOFOLLOW.
        let file = File::from(fd);
        let meta = file
            .metadata()
            .map_err(|e| Error::io("look at", &self.shown_path(path), &e))?;
        Ok(Some(Stat::of(&meta)))
    }

    /// The names in the directory at `path`, at most `cap` of them.
    fn list_dir_capped(&self, path: &Path, cap: usize) -> Result<Option<Vec<String>>> {
        let Some(fd) = self.open_in(path, OFlag::O_RDONLY | OFlag::O_DIRECTORY)? else {
            return Ok(None);
        };
        let shown = self.shown_path(path);
        let dir = nix::dir::Dir::from_fd(fd)
            .map_err(|e| Error::io("list", &shown, &std::io::Error::from(e)))?;
        let mut names: Vec<String> = Vec::new();
        for entry in dir {
            let entry = entry.map_err(|e| Error::io("list", &shown, &std::io::Error::from(e)))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "." || name == ".." {
                continue;
            }
            if names.len() == cap {
                return Err(Error::new(format!(
                    "{} holds more than {cap} entries, more than the audit lists; remove what does not belong there",
                    crate::text::escape(&shown.display().to_string())
                )));
            }
            names.push(name);
        }
        names.sort();
        Ok(Some(names))
    }

    /// Reads `/proc/PID/NAME` of a live host, bounded.
    fn proc_file(&self, pid: u32, name: &str) -> Option<Vec<u8>> {
        let path = PathBuf::from(format!("/proc/{pid}/{name}"));
        let fd = self.open_in(&path, OFlag::O_RDONLY).ok()??;
        let mut bytes = Vec::new();
        File::from(fd)
            .take(PROC_LIMIT)
            .read_to_end(&mut bytes)
            .ok()?;
        Some(bytes)
    }
}

impl Host for TreeHost {
    fn name(&self) -> String {
        self.dir.display().to_string()
    }

    fn is_live(&self) -> bool {
        self.live
    }

    fn shown(&self, path: &Path) -> PathBuf {
        self.shown_path(path)
    }

    fn stat(&self, path: &Path) -> Result<Option<Stat>> {
        self.stat_with(path, true)
    }

    fn lstat(&self, path: &Path) -> Result<Option<Stat>> {
        self.stat_with(path, false)
    }

    fn read_link(&self, path: &Path) -> Result<Option<PathBuf>> {
        let Some(fd) = self.open_in(path, OFlag::O_PATH | OFlag::O_NOFOLLOW)? else {
            return Ok(None);
        };
        // readlinkat with an empty path reads the link the O_PATH handle names; EINVAL when
        // the handle names anything else.
        match nix::fcntl::readlinkat(&fd, "") {
            Ok(target) => Ok(Some(PathBuf::from(target))),
            Err(Errno::EINVAL | Errno::ENOENT) => Ok(None),
            Err(e) => Err(Error::io(
                "look at",
                &self.shown_path(path),
                &std::io::Error::from(e),
            )),
        }
    }

    fn read(&self, path: &Path, limit: Limit) -> Result<Option<Zeroizing<Vec<u8>>>> {
        // First a handle that opens nothing (O_PATH): opening a device can itself act (a
        // watchdog arms, a pty is allocated, a tape rewinds), and anyone may point the audit
        // at one (a process calling itself dockerd with `--config-file=/dev/watchdog`, a
        // daemon.json linked to a device). Only a regular file is then opened for reading.
        let Some(handle) = self.open_in(path, OFlag::O_PATH)? else {
            return Ok(None);
        };
        let shown = self.shown_path(path);
        let handle = File::from(handle);
        let meta = handle
            .metadata()
            .map_err(|e| Error::io("read", &shown, &e))?;
        if !meta.file_type().is_file() {
            return Err(Error::new(format!(
                "{} is {}, not a regular file; the audit reads only regular files there",
                crate::text::escape(&shown.display().to_string()),
                crate::fs::reader::kind_of(&meta)
            )));
        }
        // The same inode, reopened through the handle (not the path, which may have been
        // swapped since) and checked to be the one judged. O_NONBLOCK in case it was swapped
        // for a FIFO all the same: the check below refuses it without waiting for a writer.
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC)
            .open(format!("/proc/self/fd/{}", handle.as_raw_fd()))
            .map_err(|e| Error::io("read", &shown, &e))?;
        let opened = file.metadata().map_err(|e| Error::io("read", &shown, &e))?;
        if opened.dev() != meta.dev() || opened.ino() != meta.ino() || !opened.is_file() {
            return Err(Error::new(format!(
                "{} changed while it was being read; run the audit again",
                crate::text::escape(&shown.display().to_string())
            )));
        }
        crate::fs::reader::read_opened(file, &shown, limit).map(Some)
    }

    fn list_dir(&self, path: &Path) -> Result<Option<Vec<String>>> {
        self.list_dir_capped(path, MAX_DIR_ENTRIES)
    }

    fn processes(&self) -> Result<Vec<Process>> {
        if !self.live {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let names = self.list_dir_capped(Path::new("/proc"), MAX_PROC_ENTRIES)?;
        for name in names.unwrap_or_default() {
            let Ok(pid) = name.parse::<u32>() else {
                continue;
            };
            // A process may end between the listing and the reads: it is then passed over.
            let Some(cmdline) = self.proc_file(pid, "cmdline") else {
                continue;
            };
            let Some(status) = self.proc_file(pid, "status") else {
                continue;
            };
            let Some(uid) = String::from_utf8_lossy(&status)
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            else {
                continue;
            };
            let argv = cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            out.push(Process { pid, uid, argv });
        }
        Ok(out)
    }

    fn process_exe(&self, pid: u32) -> Option<Executable> {
        if !self.live {
            return None;
        }
        // The magic link itself, outside the root handle (which refuses magic links): on the
        // live host the root is `/`. stat() follows it to the file the process runs, even one
        // deleted or replaced since, which is the file whose owner matters.
        let link = PathBuf::from(format!("/proc/{pid}/exe"));
        let path = std::fs::read_link(&link).ok()?;
        let meta = std::fs::metadata(&link).ok()?;
        Some(Executable {
            path,
            stat: Stat::of(&meta),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn an_absolute_link_in_a_tree_resolves_inside_the_tree() {
        let tree = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tree.path().join("run")).unwrap();
        std::fs::write(tree.path().join("run/marker"), "inside").unwrap();
        symlink("/run", tree.path().join("var")).unwrap();
        symlink("/etc/passwd", tree.path().join("escape")).unwrap();
        symlink("../../../../etc/hostname", tree.path().join("climb")).unwrap();
        let host = TreeHost::tree(tree.path()).unwrap();
        let got = host.read(Path::new("/var/marker"), Limit::Config).unwrap();
        assert_eq!(got.as_deref().map(Vec::as_slice), Some(&b"inside"[..]));
        // The machine's own /etc/passwd and /etc/hostname are not reachable from the tree.
        assert!(host
            .read(Path::new("/escape"), Limit::Config)
            .unwrap()
            .is_none());
        assert!(host
            .read(Path::new("/climb"), Limit::Config)
            .unwrap()
            .is_none());
        assert_eq!(
            host.lstat(Path::new("/var")).unwrap().map(|s| s.kind),
            Some(FileKind::Symlink)
        );
        assert_eq!(
            host.stat(Path::new("/var")).unwrap().map(|s| s.kind),
            Some(FileKind::Directory)
        );
    }

    #[test]
    fn a_fifo_is_refused_without_blocking_and_modes_are_reported() {
        let tree = tempfile::tempdir().unwrap();
        nix::unistd::mkfifo(&tree.path().join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        std::fs::write(tree.path().join("f"), "x").unwrap();
        std::fs::set_permissions(
            tree.path().join("f"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        let host = TreeHost::tree(tree.path()).unwrap();
        let err = host.read(Path::new("/fifo"), Limit::Config).unwrap_err();
        assert!(err.message().contains("not a regular file"), "{err}");
        let stat = host.stat(Path::new("/f")).unwrap().unwrap();
        assert_eq!((stat.kind, stat.mode), (FileKind::Regular, 0o640));
        assert_eq!(
            host.stat(Path::new("/fifo")).unwrap().unwrap().kind,
            FileKind::Fifo
        );
        assert!(host.stat(Path::new("/missing/x")).unwrap().is_none());
    }

    #[test]
    fn a_socket_or_device_is_judged_by_its_kind_before_any_open_for_reading() {
        // A unix socket cannot be opened for reading at all (ENXIO, even for root), so the
        // message proves the kind was judged on a handle that opened nothing: the way a
        // device (a watchdog that arms on open) is refused without being opened.
        let tree = tempfile::tempdir().unwrap();
        let _listener = std::os::unix::net::UnixListener::bind(tree.path().join("sock")).unwrap();
        symlink("/sock", tree.path().join("daemon.json")).unwrap();
        let host = TreeHost::tree(tree.path()).unwrap();
        for path in ["/sock", "/daemon.json"] {
            let err = host.read(Path::new(path), Limit::Config).unwrap_err();
            assert!(
                err.message().contains("is a socket, not a regular file"),
                "{err}"
            );
        }
        let live = TreeHost::live().unwrap();
        let err = live
            .read(Path::new("/dev/null"), Limit::Config)
            .unwrap_err();
        assert!(err.message().contains("a character device"), "{err}");
    }

    #[test]
    fn a_directory_with_more_entries_than_the_cap_is_an_error_naming_it() {
        let tree = tempfile::tempdir().unwrap();
        std::fs::create_dir(tree.path().join("d")).unwrap();
        for name in ["a", "b", "c"] {
            std::fs::write(tree.path().join("d").join(name), "").unwrap();
        }
        let host = TreeHost::tree(tree.path()).unwrap();
        let three = host.list_dir_capped(Path::new("/d"), 3).unwrap().unwrap();
        assert_eq!(three, ["a", "b", "c"]);
        let err = host.list_dir_capped(Path::new("/d"), 2).unwrap_err();
        assert!(err.message().contains("more than 2 entries"), "{err}");
        assert!(
            err.message()
                .contains(&tree.path().join("d").display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn read_link_gives_a_links_target_as_written_even_when_it_is_not_in_the_tree() {
        let tree = tempfile::tempdir().unwrap();
        symlink("/dev/null", tree.path().join("masked")).unwrap();
        std::fs::write(tree.path().join("file"), "x").unwrap();
        let host = TreeHost::tree(tree.path()).unwrap();
        assert_eq!(
            host.read_link(Path::new("/masked")).unwrap(),
            Some(PathBuf::from("/dev/null"))
        );
        assert_eq!(host.read_link(Path::new("/file")).unwrap(), None);
        assert_eq!(host.read_link(Path::new("/none")).unwrap(), None);
    }

    #[test]
    fn stat_tells_one_file_by_device_and_inode_whatever_its_name() {
        let tree = tempfile::tempdir().unwrap();
        std::fs::write(tree.path().join("a"), "x").unwrap();
        std::fs::hard_link(tree.path().join("a"), tree.path().join("b")).unwrap();
        std::fs::write(tree.path().join("c"), "x").unwrap();
        let host = TreeHost::tree(tree.path()).unwrap();
        let id = |p: &str| {
            let s = host.stat(Path::new(p)).unwrap().unwrap();
            (s.dev, s.ino)
        };
        assert_eq!(id("/a"), id("/b"));
        assert_ne!(id("/a"), id("/c"));
    }

    #[test]
    fn the_live_host_shows_the_program_a_process_runs_and_a_tree_none() {
        let host = TreeHost::live().unwrap();
        let exe = host
            .process_exe(std::process::id())
            .expect("this process's own executable is visible");
        let mine = std::fs::metadata(std::env::current_exe().unwrap()).unwrap();
        assert_eq!((exe.stat.dev, exe.stat.ino), (mine.dev(), mine.ino()));
        assert_eq!(exe.stat.kind, FileKind::Regular);
        let tree = tempfile::tempdir().unwrap();
        let tree = TreeHost::tree(tree.path()).unwrap();
        assert!(tree.process_exe(std::process::id()).is_none());
        let deleted = Executable {
            path: PathBuf::from("/usr/bin/dockerd (deleted)"),
            stat: exe.stat,
        };
        assert_eq!(deleted.name(), Some("dockerd"));
    }

    #[test]
    fn a_tree_has_no_processes_and_a_relative_path_is_refused() {
        let tree = tempfile::tempdir().unwrap();
        let host = TreeHost::tree(tree.path()).unwrap();
        assert!(host.processes().unwrap().is_empty());
        assert!(!host.is_live());
        assert!(host.stat(Path::new("etc/passwd")).is_err());
        assert!(TreeHost::tree(Path::new("relative")).is_err());
    }

    #[test]
    fn the_live_host_sees_this_process() {
        let host = TreeHost::live().unwrap();
        let me = std::process::id();
        let found = host.processes().unwrap().into_iter().find(|p| p.pid == me);
        let found = found.expect("this test's own process is listed");
        assert_eq!(found.uid, nix::unistd::getuid().as_raw());
        assert!(!found.argv.is_empty());
    }

    #[test]
    fn group_members_include_primary_group_accounts_and_listed_names() {
        struct Files;
        impl Host for Files {
            fn name(&self) -> String {
                "fixture".into()
            }
            fn is_live(&self) -> bool {
                false
            }
            fn stat(&self, _: &Path) -> Result<Option<Stat>> {
                Ok(None)
            }
            fn lstat(&self, _: &Path) -> Result<Option<Stat>> {
                Ok(None)
            }
            fn read(&self, path: &Path, _: Limit) -> Result<Option<Zeroizing<Vec<u8>>>> {
                let text = match path.to_str() {
                    Some("/etc/passwd") => "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\nci:x:998:999::/var/lib/ci:/usr/sbin/nologin\n",
                    Some("/etc/group") => "root:x:0:\ndocker:x:999:alice,ldapuser\nalice:x:1000:\n",
                    _ => return Ok(None),
                };
                Ok(Some(Zeroizing::new(text.as_bytes().to_vec())))
            }
            fn list_dir(&self, _: &Path) -> Result<Option<Vec<String>>> {
                Ok(None)
            }
            fn processes(&self) -> Result<Vec<Process>> {
                Ok(Vec::new())
            }
        }
        let (group, members) = Files.group_members("docker").unwrap().unwrap();
        assert_eq!(group.gid, 999);
        let names: Vec<&str> = members.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["alice", "ci", "ldapuser"]);
        assert!(Files.group_members("wheel").unwrap().is_none());
        assert_eq!(Files.user_name(1000).unwrap().as_deref(), Some("alice"));
        assert_eq!(Files.group_name(999).unwrap().as_deref(), Some("docker"));
    }
}
