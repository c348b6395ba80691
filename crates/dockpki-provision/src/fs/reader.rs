//! The one way dockpki reads a file it did not just write.
//!
//! dockpki runs as root and reads files other users own: a client layout under sudo, a
//! `daemon.json` someone else manages, a state directory, a unit file. Any of them may be a FIFO
//! (a plain read blocks forever), a device (`/dev/zero` never ends), a symlink to one of those,
//! or simply huge. [`read`] refuses all of that before reading a byte:
//!
//! - it opens with `O_NONBLOCK`, so opening a FIFO does not wait for a writer, and with
//!   `O_NOFOLLOW` where the path must not be a link ([`Links::Refuse`]);
//! - it checks the *opened* file with `fstat` (so the file checked is the file read): only a
//!   regular file is read;
//! - it reads at most [`Limit`] bytes and refuses a file that is larger, naming the limit.
//!
//! Everything read comes back in a [`Zeroizing`] buffer, since some of it is key material.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Whether the path itself may be a symlink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Links {
    /// The path must not be a symlink (dockpki's own state files, files it may replace): a link
    /// there was planted, not made by dockpki.
    Refuse,
    /// A symlink is followed (files the user named, layout files users link by hand, systemd
    /// units); whatever it points at must still be a regular file within the limit.
    Follow,
}

/// How many bytes a kind of file may have. Each is far above what a real file of that kind
/// holds, and far below what would hurt: the point is that `/dev/zero` or a runaway file cannot
/// make a root process read gigabytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// PEM files: certificates, bundles, keys, CRLs (1 MiB; a certificate is ~1 KiB).
    Pem,
    /// Configuration and small JSON files: daemon.json, systemd units, docker's meta.json,
    /// a journal, the inventory's delta (1 MiB).
    Config,
    /// The inventory, which grows with every certificate issued (64 MiB: ~1 KiB a record).
    Inventory,
    /// A passphrase file (64 KiB).
    Passphrase,
}

impl Limit {
    /// The limit in bytes.
    pub fn bytes(self) -> u64 {
        match self {
            Limit::Pem | Limit::Config => 1 << 20,
            Limit::Inventory => 64 << 20,
            Limit::Passphrase => 64 << 10,
        }
    }

    fn describe(self) -> String {
        let b = self.bytes();
        if b >= 1 << 20 {
            format!("{} MiB", b >> 20)
        } else {
            format!("{} KiB", b >> 10)
        }
    }
}

/// Why a file was not read, before any I/O error.
#[derive(Debug)]
pub enum ReadError {
    /// The file does not exist.
    NotFound(io::Error),
    /// Anything else, already worded for the operator.
    Refused(Error),
}

/// Reads the whole file at `path`, which must be a regular file of at most `limit` bytes.
///
/// # Errors
/// One line naming the file and the fix when it is missing, unreadable, a symlink (with
/// [`Links::Refuse`]), not a regular file, or larger than the limit.
pub fn read(path: &Path, links: Links, limit: Limit) -> Result<Zeroizing<Vec<u8>>> {
    read_inner(path, links, limit).map_err(|e| e.into_error("read", path))
}

impl ReadError {
    /// One error for every case, a missing file worded as `cannot ACTION PATH: …`, for a
    /// caller to whom a missing file is as wrong as any other.
    pub fn into_error(self, action: &str, path: &Path) -> Error {
        match self {
            ReadError::NotFound(e) => Error::io(action, path, &e),
            ReadError::Refused(e) => e,
        }
    }
}

/// Like [`read`], but a missing file is `Ok(None)`.
///
/// # Errors
/// As [`read`], except for a missing file.
pub fn read_optional(
    path: &Path,
    links: Links,
    limit: Limit,
) -> Result<Option<Zeroizing<Vec<u8>>>> {
    match read_inner(path, links, limit) {
        Ok(b) => Ok(Some(b)),
        Err(ReadError::NotFound(_)) => Ok(None),
        Err(ReadError::Refused(e)) => Err(e),
    }
}

/// Opens `path` for reading the way [`read`] does and returns the checked file, for callers that
/// also need its metadata (owner, mode). The file is a regular file no larger than `limit`.
///
/// # Errors
/// As [`read_optional`].
pub fn open(path: &Path, links: Links, limit: Limit) -> std::result::Result<File, ReadError> {
    open_sized(path, links, limit).map(|(file, _)| file)
}

/// [`open`], also returning the size `fstat` gave for the opened file.
fn open_sized(
    path: &Path,
    links: Links,
    limit: Limit,
) -> std::result::Result<(File, u64), ReadError> {
    use std::os::unix::fs::MetadataExt;
    // First a handle that opens nothing (O_PATH): opening a device can itself act (a tape
    // rewinds, a watchdog arms, a pty is allocated), so only a regular file is opened for real.
    let mut flags = nix::libc::O_PATH | nix::libc::O_CLOEXEC;
    if links == Links::Refuse {
        flags |= nix::libc::O_NOFOLLOW;
    }
    let handle = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                ReadError::NotFound(e)
            } else {
                ReadError::Refused(Error::io("read", path, &e))
            }
        })?;
    let meta = handle
        .metadata()
        .map_err(|e| ReadError::Refused(Error::io("read", path, &e)))?;
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Err(ReadError::Refused(Error::new(format!(
            "refusing to read {} because it is a symlink (dockpki never makes one there, so it was planted); replace the link with the file itself",
            path.display()
        ))));
    }
    if !kind.is_file() {
        return Err(ReadError::Refused(Error::new(format!(
            "refusing to read {} because it is {}, not a regular file; put the file itself there",
            path.display(),
            kind_of(&meta)
        ))));
    }
    if meta.len() > limit.bytes() {
        return Err(ReadError::Refused(too_large(path, limit)));
    }
    // Now the regular file itself, through the handle (not the path, which may have been
    // swapped since), checked to be the very inode that was judged.
    use std::os::fd::AsRawFd;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC)
        .open(format!("/proc/self/fd/{}", handle.as_raw_fd()))
        .map_err(|e| ReadError::Refused(Error::io("read", path, &e)))?;
    let opened = file
        .metadata()
        .map_err(|e| ReadError::Refused(Error::io("read", path, &e)))?;
    if opened.dev() != meta.dev() || opened.ino() != meta.ino() || !opened.is_file() {
        return Err(ReadError::Refused(Error::new(format!(
            "{} changed while it was being read; run the command again",
            path.display()
        ))));
    }
    Ok((file, opened.len()))
}

/// Reads an opened file (from [`open`]) to its end, refusing it past `limit`: a file can grow
/// between `fstat` and the read.
///
/// # Errors
/// An I/O error, or the file being larger than the limit.
pub fn read_opened(file: File, path: &Path, limit: Limit) -> Result<Zeroizing<Vec<u8>>> {
    let size = file.metadata().map_or(0, |m| m.len());
    read_opened_sized(file, size, path, limit)
}

/// [`read_opened`] of a file `fstat` said holds `size` bytes.
fn read_opened_sized(
    file: File,
    size: u64,
    path: &Path,
    limit: Limit,
) -> Result<Zeroizing<Vec<u8>>> {
    // Room for the whole file as fstat saw it (and the byte that shows it grew), so that it is
    // read in one call, not in the doubling steps a reader of unknown length takes: status
    // reads thousands of small files.
    let expected = usize::try_from(size.min(limit.bytes()) + 1).unwrap_or_default();
    let mut bytes = Zeroizing::new(vec![0; expected]);
    let mut file = file.take(limit.bytes() + 1);
    let first = read_retrying(&mut file, &mut bytes).map_err(|e| Error::io("read", path, &e))?;
    bytes.truncate(first);
    // A regular file's read returns less than was asked only at its end: one that returned
    // exactly the size fstat gave (asked for one byte more) has been read whole, without the
    // second call that would return nothing (status reads thousands of files). Anything else
    // (a file that grew or shrank meanwhile) is read on to its end as usual.
    if first as u64 != size {
        file.read_to_end(&mut bytes)
            .map_err(|e| Error::io("read", path, &e))?;
    }
    if bytes.len() as u64 > limit.bytes() {
        return Err(too_large(path, limit));
    }
    Ok(bytes)
}

/// One `read`, repeated only when a signal interrupted it before any byte arrived.
fn read_retrying(file: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match file.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Reads a stream that is not a file of the file system (standard input, a pipe the caller
/// was given) to its end, with the same cap as a file of its kind: what arrives may be
/// endless (`dockpki inspect - < /dev/zero`), so at most `limit` bytes are kept and a longer
/// stream is refused once one byte more has arrived. `name` says what it is in messages
/// (`standard input`).
///
/// # Errors
/// An I/O error, or the stream being longer than the limit.
pub fn read_stream(stream: impl Read, name: &Path, limit: Limit) -> Result<Zeroizing<Vec<u8>>> {
    let mut bytes = Zeroizing::new(Vec::new());
    stream
        .take(limit.bytes() + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("read", name, &e))?;
    if bytes.len() as u64 > limit.bytes() {
        return Err(too_large(name, limit));
    }
    Ok(bytes)
}

fn read_inner(
    path: &Path,
    links: Links,
    limit: Limit,
) -> std::result::Result<Zeroizing<Vec<u8>>, ReadError> {
    let (file, size) = open_sized(path, links, limit)?;
    read_opened_sized(file, size, path, limit).map_err(ReadError::Refused)
}

/// "a FIFO", "a character device", … for messages about something that is not a regular file.
pub(crate) fn kind_of(m: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symlink"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a regular file"
    }
}

fn too_large(path: &Path, limit: Limit) -> Error {
    Error::new(format!(
        "refusing to read {} because it is larger than {} (the most a file of its kind can need); check that it is the right file",
        path.display(),
        limit.describe()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn a_regular_file_within_the_limit_is_read_whole() {
        let d = dir();
        let p = d.path().join("f");
        std::fs::write(&p, b"hello").unwrap();
        assert_eq!(&**read(&p, Links::Refuse, Limit::Pem).unwrap(), b"hello");
    }

    #[test]
    fn a_file_of_exactly_the_limit_is_read_and_one_byte_more_is_refused() {
        let d = dir();
        let p = d.path().join("f");
        std::fs::write(&p, vec![b'x'; Limit::Passphrase.bytes() as usize]).unwrap();
        let whole = read(&p, Links::Refuse, Limit::Passphrase).unwrap();
        assert_eq!(whole.len() as u64, Limit::Passphrase.bytes(), "read short");
        std::fs::write(&p, vec![b'x'; Limit::Passphrase.bytes() as usize + 1]).unwrap();
        let e = read(&p, Links::Refuse, Limit::Passphrase).unwrap_err();
        assert!(e.to_string().contains("larger than 64 KiB"), "{e}");
    }

    #[test]
    fn a_file_that_grew_past_the_limit_after_it_was_judged_is_refused_not_truncated() {
        let d = dir();
        let p = d.path().join("f");
        std::fs::write(&p, vec![b'x'; Limit::Passphrase.bytes() as usize + 1]).unwrap();
        // As if fstat had seen it small: read_opened alone must still refuse it.
        let e = read_opened(File::open(&p).unwrap(), &p, Limit::Passphrase).unwrap_err();
        assert!(e.to_string().contains("larger than 64 KiB"), "{e}");
    }

    #[test]
    fn devices_fifos_and_directories_are_refused_without_blocking() {
        let d = dir();
        let fifo = d.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let zero_link = d.path().join("zero");
        symlink("/dev/zero", &zero_link).unwrap();
        for (p, what) in [
            (fifo.as_path(), "a FIFO"),
            (Path::new("/dev/zero"), "a character device"),
            (zero_link.as_path(), "a character device"),
            (d.path(), "a directory"),
        ] {
            let e = read(p, Links::Follow, Limit::Pem).unwrap_err().to_string();
            assert!(e.contains(what) && e.contains("not a regular file"), "{e}");
        }
    }

    #[test]
    fn a_symlink_is_refused_where_links_are_not_expected_and_followed_where_they_are() {
        let d = dir();
        let real = d.path().join("real");
        std::fs::write(&real, b"x").unwrap();
        let link = d.path().join("link");
        symlink(&real, &link).unwrap();
        let e = read(&link, Links::Refuse, Limit::Pem)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a symlink"), "{e}");
        assert_eq!(&**read(&link, Links::Follow, Limit::Pem).unwrap(), b"x");
    }

    #[test]
    fn a_missing_file_is_none_for_optional_reads_and_an_error_otherwise() {
        let d = dir();
        let p = d.path().join("missing");
        assert!(read_optional(&p, Links::Refuse, Limit::Pem)
            .unwrap()
            .is_none());
        assert!(read(&p, Links::Refuse, Limit::Pem)
            .unwrap_err()
            .to_string()
            .contains("check that the path exists"));
    }
}
