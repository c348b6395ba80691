//! Reading an installed layout back: the one reader of a layout's three files, used wherever a
//! layout's contents are needed (a docker context copies them, the probe presents them).

use std::path::PathBuf;

use zeroize::Zeroizing;

use dockpki::{CertificateDer, PrivateKey};

use crate::error::{Error, Result};
use crate::fs::owner::{ActingAs, Owner};
use crate::fs::reader::{self, Limit, Links};
use crate::layout::Layout;

/// What a layout holds, checked to be usable together.
pub struct LayoutFiles {
    /// `ca.pem`: the CA certificates the peer is checked against.
    pub bundle: Vec<CertificateDer<'static>>,
    /// The certificate file: the leaf first, then any intermediates.
    pub chain: Vec<CertificateDer<'static>>,
    /// The key, which belongs to the leaf.
    pub key: PrivateKey,
    /// The three files as read (`ca.pem`, the certificate, the key), for callers that copy
    /// them; the key's bytes are zeroized on drop.
    pub pem: [Zeroizing<Vec<u8>>; 3],
}

impl std::fmt::Debug for LayoutFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayoutFiles")
            .field("bundle", &self.bundle.len())
            .field("chain", &self.chain.len())
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Layout {
    /// Reads the layout's three files through the bounded reader (`links` says whether they
    /// may be symlinks: an operator's own layout may link its files elsewhere; one that root
    /// reads for another user may not) and checks that they belong together: the bundle and
    /// the certificate parse, the certificate is a leaf and not a CA certificate (a layout
    /// holding the CA certificate and, next to it, a link to the CA key would otherwise hand
    /// the CA key to whoever uses it), and the key belongs to it.
    ///
    /// `owner` is who the files are read as: the layout's owner when root reads another
    /// user's layout (see [`OwnerPolicy::owner_for`](crate::fs::OwnerPolicy::owner_for)),
    /// `None` for a layout of the running user's own. Read as root, a layout directory the
    /// user swapped for a link to root's own client layout would hand over root's key (its
    /// certificate is a leaf and matches it); read as the user ([`ActingAs`]), it finds only
    /// what that user could read anyway.
    ///
    /// # Errors
    /// A directory holding only the other kind of layout, as
    /// [`Layout::refuse_other_kind`] words it; else one line naming the file: missing, refused by the reader (or unreadable for `owner`),
    /// not PEM, a CA certificate, or a key of another certificate; or when root cannot act as
    /// `owner`.
    pub fn read(&self, links: Links, owner: Option<Owner>) -> Result<LayoutFiles> {
        self.read_checked(links, owner)
            .map_err(|unusable| unusable.into_error(self.usage))
    }

    /// [`Layout::read`], saying why the files are unusable as a value, for callers that word
    /// it for their own purpose (a docker context says what to issue instead).
    ///
    /// # Errors
    /// As [`Layout::read`], as an [`Unusable`].
    pub fn read_checked(
        &self,
        links: Links,
        owner: Option<Owner>,
    ) -> std::result::Result<LayoutFiles, Unusable> {
        let read = {
            let _as = ActingAs::user(owner.map(|o| o.uid), owner.map(|o| o.gid))
                .map_err(Unusable::Read)?;
            // Before the reads, as the owner: a layout of the other kind is named as such
            // rather than as a missing file, which would suggest writing this kind next to it.
            self.refuse_other_kind().map_err(Unusable::OtherKind)?;
            [self.ca_path(), self.cert_path(), self.key_path()]
                .map(|path| reader::read(&path, links, Limit::Pem))
        };
        self.check_read(read)
    }

    /// Parses and checks what [`Layout::read_checked`] read.
    fn check_read(
        &self,
        read: [Result<Zeroizing<Vec<u8>>>; 3],
    ) -> std::result::Result<LayoutFiles, Unusable> {
        let [ca, cert, key] = read;
        let (ca, cert, key) = (
            ca.map_err(Unusable::Read)?,
            cert.map_err(Unusable::Read)?,
            key.map_err(Unusable::Read)?,
        );
        let invalid = |path: PathBuf| move |error| Unusable::Invalid { path, error };
        let bundle = dockpki::certs_from_pem(&ca).map_err(invalid(self.ca_path()))?;
        let chain = dockpki::certs_from_pem(&cert).map_err(invalid(self.cert_path()))?;
        let private = PrivateKey::from_pem(&key).map_err(invalid(self.key_path()))?;
        let leaf = &chain[0];
        if dockpki::inspect(leaf)
            .map_err(invalid(self.cert_path()))?
            .is_ca
        {
            return Err(Unusable::CaCertificate {
                cert: self.cert_path(),
            });
        }
        if !dockpki::key_matches_cert(&private, leaf) {
            return Err(Unusable::KeyMismatch {
                key: self.key_path(),
                cert: self.cert_path(),
            });
        }
        Ok(LayoutFiles {
            bundle,
            chain,
            key: private,
            pem: [ca, cert, key],
        })
    }
}

/// Why a layout's files cannot be used together ([`Layout::read_checked`]).
#[derive(Debug)]
pub enum Unusable {
    /// The directory holds only the other kind of layout
    /// ([`Layout::refuse_other_kind`]'s error, with its advice).
    OtherKind(Error),
    /// A file could not be read (missing, refused by the reader, unreadable for the owner), or
    /// acting as the owner failed; the error names the file.
    Read(Error),
    /// A file is not what its name says (not PEM, not a certificate, not a key).
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        error: dockpki::Error,
    },
    /// The certificate file holds a CA certificate, not a leaf: next to a link to the CA key,
    /// the layout would hand the CA key to whoever uses it.
    CaCertificate {
        /// The certificate file.
        cert: PathBuf,
    },
    /// The key does not belong to the certificate.
    KeyMismatch {
        /// The key file.
        key: PathBuf,
        /// The certificate file.
        cert: PathBuf,
    },
}

impl Unusable {
    /// The one-line error of [`Layout::read`] for a layout of `usage`.
    fn into_error(self, usage: dockpki::Usage) -> Error {
        match self {
            Unusable::Read(e) | Unusable::OtherKind(e) => e,
            Unusable::Invalid { path, error } => Error::from(error).context(path.display()),
            Unusable::CaCertificate { cert } => Error::new(format!(
                "{} holds a CA certificate, not a {usage} certificate; install the {usage} certificate that was issued for this layout",
                cert.display()
            )),
            Unusable::KeyMismatch { key, cert } => Error::new(format!(
                "{} does not belong to the certificate in {}; install the pair that was issued together",
                key.display(),
                cert.display()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support;
    use dockpki::{CaOptions, CertificateAuthority, KeyType, OffsetDateTime};

    fn client_layout() -> (tempfile::TempDir, Layout, CertificateAuthority) {
        let root = tempfile::tempdir().unwrap();
        let now = OffsetDateTime::now_utc();
        let ca = CertificateAuthority::create(&CaOptions::new(now).unwrap(), now).unwrap();
        let layout = Layout::client(root.path().to_path_buf());
        test_support::install(&layout, &ca, &test_support::alice(&ca, now));
        (root, layout, ca)
    }

    #[test]
    fn a_layout_as_issued_reads_back_whole() {
        let (_root, layout, ca) = client_layout();
        let files = layout.read(Links::Refuse, None).unwrap();
        assert_eq!(files.bundle, vec![ca.cert_der().clone()]);
        assert_eq!(files.chain.len(), 1);
        assert!(dockpki::key_matches_cert(&files.key, &files.chain[0]));
    }

    #[test]
    fn the_ca_certificate_with_the_ca_key_linked_in_is_refused() {
        let (root, layout, ca) = client_layout();
        test_support::write_file(&layout.cert_path(), ca.cert_pem(), 0o444);
        let ca_key = root.path().join("ca-key.pem");
        std::fs::write(&ca_key, ca.key_pem()).unwrap();
        std::fs::remove_file(layout.key_path()).unwrap();
        std::os::unix::fs::symlink(&ca_key, layout.key_path()).unwrap();
        let e = layout.read(Links::Refuse, None).unwrap_err().to_string();
        assert!(e.contains("symlink"), "{e}");
        let e = layout.read(Links::Follow, None).unwrap_err().to_string();
        assert!(e.contains("holds a CA certificate"), "{e}");
    }

    /// What was read is logged by embedders (`{:?}` of an outcome): it says what is there, and
    /// never the key's PEM, which `pem` holds for the copy.
    #[test]
    fn debug_output_names_what_was_read_and_never_the_key() {
        let (_root, layout, _ca) = client_layout();
        let files = layout.read(Links::Refuse, None).unwrap();
        let shown = format!("{files:?}");
        assert!(
            shown.starts_with("LayoutFiles")
                && shown.contains("bundle: 1")
                && shown.contains("chain: 1"),
            "{shown}"
        );
        let key_pem = String::from_utf8(files.pem[2].to_vec()).unwrap();
        let body = key_pem.lines().nth(1).unwrap();
        assert!(
            !shown.contains(body) && !shown.contains("PRIVATE KEY"),
            "{shown}"
        );
    }

    /// Root reading a user's layout reads it as that user: a layout directory the user
    /// swapped for a link to root's own client layout (a leaf and its key, which belong
    /// together) gives root's key to whoever reads as root, and nothing to the user.
    #[test]
    fn a_users_layout_read_as_that_user_cannot_lead_to_roots_files() {
        use std::os::unix::fs::PermissionsExt;
        if !crate::test_support::root_or_skip() {
            return;
        }
        let (sandbox, roots, _ca) = client_layout();
        let sandbox = sandbox.path();
        std::fs::set_permissions(sandbox, std::fs::Permissions::from_mode(0o755)).unwrap();
        let roots_dir = sandbox.join("roots");
        std::fs::create_dir(&roots_dir).unwrap();
        for path in [roots.ca_path(), roots.cert_path(), roots.key_path()] {
            std::fs::rename(&path, roots_dir.join(path.file_name().unwrap())).unwrap();
        }
        std::fs::set_permissions(&roots_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let home = sandbox.join("home");
        std::fs::create_dir(&home).unwrap();
        std::os::unix::fs::chown(&home, Some(65534), Some(65534)).unwrap();
        let swapped = home.join(".docker");
        std::os::unix::fs::symlink(&roots_dir, &swapped).unwrap();
        std::os::unix::fs::lchown(&swapped, Some(65534), Some(65534)).unwrap();
        let users = Layout::client(swapped);
        // What reading it as root would hand over.
        let as_root = users.read(Links::Refuse, None).unwrap();
        assert!(String::from_utf8_lossy(&as_root.pem[2]).contains("PRIVATE KEY"));
        let nobody = crate::fs::Owner {
            uid: 65534,
            gid: 65534,
        };
        let e = users.read(Links::Refuse, Some(nobody)).unwrap_err();
        assert!(e.to_string().contains("ermission denied"), "{e}");
        let e = users.read(Links::Follow, Some(nobody)).unwrap_err();
        assert!(e.to_string().contains("ermission denied"), "{e}");
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let (_root, layout, _ca) = client_layout();
        let other = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        test_support::write_file(&layout.key_path(), &other.to_pem(), 0o400);
        let e = layout.read(Links::Refuse, None).unwrap_err().to_string();
        assert!(e.contains("does not belong"), "{e}");
    }
}
