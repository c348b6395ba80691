//! The CA key file: how it is trusted before it is read, and where its passphrase comes from.
//!
//! The engine never asks anyone for a passphrase itself: it calls the caller's [`Passphrases`]
//! (the CLI reads a passphrase file or prompts on the terminal; an embedder may hold the
//! passphrase in memory with [`Passphrase`]).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::{Advice, Error, Result};
use crate::fs::reader::{self, Limit, Links};
use crate::report::{Notice, Report};

/// Why a passphrase is needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// To decrypt an existing key.
    Unlock,
    /// To encrypt a key: an interactive source should ask twice, so that a typo does not lock
    /// the CA away.
    NewPassphrase,
}

/// Where passphrases for encrypted CA keys come from. A source should hand out the same
/// passphrase for every request of one operation (a rotation unlocks two CAs and encrypts a
/// third): asking again is only another chance to get it wrong.
pub trait Passphrases: Send + Sync {
    /// The passphrase for `purpose`.
    ///
    /// # Errors
    /// When none can be had; the message says how to give one.
    fn passphrase(&self, purpose: Purpose) -> Result<Zeroizing<Vec<u8>>>;
}

/// No passphrase: an encrypted CA key cannot be used ([`Advice::PassphraseFile`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPassphrase;

impl Passphrases for NoPassphrase {
    fn passphrase(&self, _: Purpose) -> Result<Zeroizing<Vec<u8>>> {
        Err(Error::advised(
            "the CA key is encrypted and no passphrase was given",
            Advice::PassphraseFile,
        ))
    }
}

/// A passphrase held in memory (zeroized on drop), for every purpose.
pub struct Passphrase(Zeroizing<Vec<u8>>);

impl Passphrase {
    /// Holds `passphrase`.
    ///
    /// # Errors
    /// When it is empty.
    pub fn new(passphrase: impl Into<Vec<u8>>) -> Result<Passphrase> {
        let p = Zeroizing::new(passphrase.into());
        if p.is_empty() {
            return Err(Error::new("empty passphrase; give a non-empty one"));
        }
        Ok(Passphrase(p))
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(..)")
    }
}

impl Passphrases for Passphrase {
    fn passphrase(&self, _: Purpose) -> Result<Zeroizing<Vec<u8>>> {
        Ok(self.0.clone())
    }
}

/// How a CA key file readable by group or others is treated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyPerms {
    /// Refused, with an error naming `chmod 400` (the default, like ssh's).
    #[default]
    Strict,
    /// Used after a [`Notice::LooseCaKey`].
    WarnOnly,
}

/// Reads a CA key file the way ssh reads identity files: not through a symlink, only a regular
/// file, owned by the running user or root, and not readable by group or others unless `perms`
/// says [`KeyPerms::WarnOnly`]. The checks use the opened file, so the file that was checked is
/// the file that is read.
///
/// # Errors
/// When the file is missing, refused by the reader, owned by another user, or loose under
/// [`KeyPerms::Strict`] (with [`Advice::InsecurePerms`]).
pub fn read_ca_key(
    path: &Path,
    perms: KeyPerms,
    report: &dyn Report,
) -> Result<Zeroizing<Vec<u8>>> {
    let file = reader::open(path, Links::Refuse, Limit::Pem).map_err(|e| match e {
        reader::ReadError::NotFound(e) => Error::io("read", path, &e),
        reader::ReadError::Refused(e) => e.context("the CA key"),
    })?;
    let meta = file.metadata().map_err(|e| Error::io("read", path, &e))?;
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(Error::new(format!(
            "refusing to use the CA key {} because it is owned by uid {}, not by you (uid {me}) or root; whoever owns it can replace it: chown it to yourself",
            path.display(),
            meta.uid()
        )));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        match perms {
            KeyPerms::Strict => {
                return Err(Error::advised(
                    format!(
                        "the CA key {} is accessible by group or others (mode {mode:04o}); run `chmod 400 {}`",
                        path.display(),
                        crate::text::shell_quote(&path.display().to_string())
                    ),
                    Advice::InsecurePerms,
                ))
            }
            KeyPerms::WarnOnly => report.notice(&Notice::LooseCaKey {
                path: path.to_path_buf(),
                mode,
            }),
        }
    }
    reader::read_opened(file, path, Limit::Pem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Silent;
    use std::os::unix::fs::{chown, PermissionsExt};

    fn key_file(dir: &Path, mode: u32) -> std::path::PathBuf {
        let path = dir.join("ca-key.pem");
        std::fs::write(&path, "-----BEGIN PRIVATE KEY-----\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    /// Whoever owns the CA key file can replace it with a key of their choosing, which root
    /// would then sign with: a key file of another user is refused, however private its mode.
    #[test]
    fn a_ca_key_owned_by_another_user_is_refused_even_when_private() {
        if !crate::test_support::root_or_skip() {
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let path = key_file(root.path(), 0o400);
        read_ca_key(&path, KeyPerms::Strict, &Silent).unwrap();
        chown(&path, Some(65534), Some(65534)).unwrap();
        for perms in [KeyPerms::Strict, KeyPerms::WarnOnly] {
            let e = read_ca_key(&path, perms, &Silent).unwrap_err().to_string();
            assert!(e.contains("owned by uid 65534"), "{e}");
        }
    }

    /// For a user who is not root, their own key file and root's are trusted. Run in a child
    /// process of this test binary as uid 65534.
    #[test]
    fn for_a_user_their_own_ca_key_and_roots_are_trusted() {
        const SANDBOX: &str = "DOCKPKI_TEST_CA_KEY_SANDBOX";
        if let Some(sandbox) = std::env::var_os(SANDBOX) {
            let sandbox = std::path::PathBuf::from(sandbox);
            read_ca_key(&sandbox.join("mine/ca-key.pem"), KeyPerms::Strict, &Silent).unwrap();
            // Root's is readable to them only when loose: allowed here, to judge its owner.
            read_ca_key(
                &sandbox.join("roots/ca-key.pem"),
                KeyPerms::WarnOnly,
                &Silent,
            )
            .unwrap();
            return;
        }
        if !crate::test_support::root_or_skip() {
            return;
        }
        let root = tempfile::tempdir().unwrap();
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        for (name, uid, mode) in [("mine", 65534, 0o400), ("roots", 0, 0o444)] {
            let dir = root.path().join(name);
            std::fs::create_dir(&dir).unwrap();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
            let key = key_file(&dir, mode);
            chown(&key, Some(uid), Some(uid)).unwrap();
        }
        assert!(
            crate::test_support::passes_as_nobody(
                "store::ca_key::tests::for_a_user_their_own_ca_key_and_roots_are_trusted",
                SANDBOX,
                root.path()
            ),
            "reading the keys as uid 65534 failed"
        );
    }

    /// A passphrase held for an embedder never shows in its logs.
    #[test]
    fn a_passphrase_never_shows_in_debug_output() {
        let shown = format!("{:?}", Passphrase::new("hunter2").unwrap());
        assert_eq!(shown, "Passphrase(..)");
    }
}
