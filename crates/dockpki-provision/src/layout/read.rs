//! Reading an installed layout back: the one reader of a layout's three files, used wherever a
//! layout's contents are needed (a docker context copies them, the probe presents them).

use zeroize::Zeroizing;

use dockpki::{CertificateDer, PrivateKey};

use crate::error::{Error, Result};
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
    /// Run it as the layout's owner ([`ActingAs`](crate::fs::ActingAs)) when the layout is
    /// another user's.
    ///
    /// # Errors
    /// One line naming the file: missing, refused by the reader, not PEM, a CA certificate,
    /// or a key of another certificate.
    pub fn read(&self, links: Links) -> Result<LayoutFiles> {
        let paths = [self.ca_path(), self.cert_path(), self.key_path()];
        let [ca, cert, key] = paths
            .clone()
            .map(|path| reader::read(&path, links, Limit::Pem));
        let (ca, cert, key) = (ca?, cert?, key?);
        let bad =
            |path: &std::path::Path, e: dockpki::Error| Error::from(e).context(path.display());
        let bundle = dockpki::certs_from_pem(&ca).map_err(|e| bad(&paths[0], e))?;
        let chain = dockpki::certs_from_pem(&cert).map_err(|e| bad(&paths[1], e))?;
        let private = PrivateKey::from_pem(&key).map_err(|e| bad(&paths[2], e))?;
        let leaf = &chain[0];
        if dockpki::inspect(leaf).map_err(|e| bad(&paths[1], e))?.is_ca {
            return Err(Error::new(format!(
                "{} holds a CA certificate, not a {} certificate; install the {} certificate that was issued for this layout",
                paths[1].display(),
                self.usage,
                self.usage
            )));
        }
        if !dockpki::key_matches_cert(&private, leaf) {
            return Err(Error::new(format!(
                "{} does not belong to the certificate in {}; install the pair that was issued together",
                paths[2].display(),
                paths[1].display()
            )));
        }
        Ok(LayoutFiles {
            bundle,
            chain,
            key: private,
            pem: [ca, cert, key],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dockpki::{CaOptions, CertificateAuthority, ClientRequest, KeyType, OffsetDateTime};

    fn client_layout() -> (tempfile::TempDir, Layout, CertificateAuthority) {
        let root = tempfile::tempdir().unwrap();
        let now = OffsetDateTime::now_utc();
        let ca = CertificateAuthority::create(&CaOptions::new(now).unwrap(), now).unwrap();
        let issued = ca
            .issue_client(
                &ClientRequest {
                    common_name: "alice".parse().unwrap(),
                    lifetime: "30d".parse().unwrap(),
                },
                PrivateKey::generate(KeyType::EcdsaP256).unwrap(),
                now,
            )
            .unwrap();
        let layout = Layout::client(root.path().to_path_buf());
        std::fs::write(layout.ca_path(), ca.cert_pem()).unwrap();
        std::fs::write(layout.cert_path(), &issued.cert_pem).unwrap();
        std::fs::write(layout.key_path(), issued.key_pem()).unwrap();
        (root, layout, ca)
    }

    #[test]
    fn a_layout_as_issued_reads_back_whole() {
        let (_root, layout, ca) = client_layout();
        let files = layout.read(Links::Refuse).unwrap();
        assert_eq!(files.bundle, vec![ca.cert_der().clone()]);
        assert_eq!(files.chain.len(), 1);
        assert!(dockpki::key_matches_cert(&files.key, &files.chain[0]));
    }

    #[test]
    fn the_ca_certificate_with_the_ca_key_linked_in_is_refused() {
        let (root, layout, ca) = client_layout();
        std::fs::write(layout.cert_path(), ca.cert_pem()).unwrap();
        let ca_key = root.path().join("ca-key.pem");
        std::fs::write(&ca_key, ca.key_pem()).unwrap();
        std::fs::remove_file(layout.key_path()).unwrap();
        std::os::unix::fs::symlink(&ca_key, layout.key_path()).unwrap();
        let e = layout.read(Links::Refuse).unwrap_err().to_string();
        assert!(e.contains("symlink"), "{e}");
        let e = layout.read(Links::Follow).unwrap_err().to_string();
        assert!(e.contains("holds a CA certificate"), "{e}");
    }

    /// What was read is logged by embedders (`{:?}` of an outcome): it says what is there, and
    /// never the key's PEM, which `pem` holds for the copy.
    #[test]
    fn debug_output_names_what_was_read_and_never_the_key() {
        let (_root, layout, _ca) = client_layout();
        let files = layout.read(Links::Refuse).unwrap();
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

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let (_root, layout, _ca) = client_layout();
        let other = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        std::fs::write(layout.key_path(), other.to_pem()).unwrap();
        let e = layout.read(Links::Refuse).unwrap_err().to_string();
        assert!(e.contains("does not belong"), "{e}");
    }
}
