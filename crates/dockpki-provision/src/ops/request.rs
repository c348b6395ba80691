//! `dockpki request`: a key and a certificate signing request, made on the host that will use
//! the key, so that the key never travels. No state directory is involved: the host may hold no
//! CA at all. The request goes to the CA's host (`dockpki sign`), the certificate comes back
//! (`dockpki install`).

use std::collections::BTreeSet;
use std::path::PathBuf;

use dockpki::{
    create_client_csr, create_server_csr, CommonName, KeyType, PrivateKey, SanList, Usage,
    VerifiedCsr,
};

use crate::error::{Advice, Error, Result};
use crate::fs::reader::{self, Limit, Links};
use crate::fs::{Existing, WritePlan, Written};
use crate::layout::Layout;
use crate::report::Report;

/// What the certificate is to say.
#[derive(Clone, Debug)]
pub enum CsrSubject {
    /// A daemon's certificate: every name and address clients dial, and an optional common
    /// name (default: the first SAN).
    Server {
        /// The SANs.
        sans: SanList,
        /// The common name.
        common_name: Option<CommonName>,
    },
    /// A client certificate: who the client is.
    Client {
        /// The common name.
        common_name: CommonName,
    },
}

impl CsrSubject {
    /// The kind of certificate asked for.
    pub fn usage(&self) -> Usage {
        match self {
            CsrSubject::Server { .. } => Usage::Server,
            CsrSubject::Client { .. } => Usage::Client,
        }
    }
}

/// Which key the request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyChoice {
    /// The key already in the directory, if there is one (a renewal without re-keying); else a
    /// new key of this type.
    KeepExisting(KeyType),
    /// A new key of this type, replacing one already there (kept as a timestamped backup): after
    /// a suspected compromise, or to change the key type.
    New(KeyType),
}

/// A request to make a key and a certificate signing request in a directory.
#[derive(Clone, Debug)]
pub struct CsrRequest {
    /// What the certificate is to say.
    pub subject: CsrSubject,
    /// Which key.
    pub key: KeyChoice,
    /// The directory: the layout the certificate will be installed in (`dockpki install`), so
    /// that the key is already where it is used.
    pub dir: PathBuf,
    /// How long to wait for another process updating the same layout (`request`, `install`:
    /// see [`crate::fs::lock_dir`]) before giving up; `None` waits for ever.
    pub lock_timeout: Option<std::time::Duration>,
}

/// Where the key of a request came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyOrigin {
    /// Generated now.
    Generated,
    /// The key that was already in the directory.
    Existing,
}

/// What [`request`] did.
#[derive(Debug)]
pub struct Requested {
    /// The layout the key belongs to.
    pub layout: Layout,
    /// The request file: `server.csr` or `client.csr`.
    pub csr_path: PathBuf,
    /// The request in PEM (public data only).
    pub csr_pem: String,
    /// Whether the key is new or was already there.
    pub key: KeyOrigin,
    /// The key's type.
    pub key_type: KeyType,
    /// The files written, with their backups.
    pub written: Vec<Written>,
}

impl Requested {
    /// Whether a file was written: `false` when the directory already held the key and a
    /// request for it with the same names, which was left as it was.
    pub fn changed(&self) -> bool {
        self.written.iter().any(|w| w.changed)
    }
}

/// Whether `pem` is a request (its signature checked) for `key`, of the kind `subject` asks
/// for, with the common name and the set of SANs a request made now would carry (for a
/// server: the common name given, else the first SAN).
fn same_request(pem: &[u8], key: &PrivateKey, subject: &CsrSubject) -> bool {
    let Ok(csr) = VerifiedCsr::from_pem(pem) else {
        return false;
    };
    if csr.public_key_spki() != key.public_key_spki().as_slice()
        || csr.requested_usage() != Some(subject.usage())
    {
        return false;
    }
    let (common_name, sans): (String, BTreeSet<String>) = match subject {
        CsrSubject::Server { sans, common_name } => (
            common_name
                .as_ref()
                .map_or_else(|| sans.primary().to_string(), ToString::to_string),
            sans.as_slice().iter().map(ToString::to_string).collect(),
        ),
        CsrSubject::Client { common_name } => (common_name.to_string(), BTreeSet::new()),
    };
    let Ok(requested) = csr
        .sans()
        .iter()
        .map(|s| s.parse::<dockpki::SubjectAltName>().map(|s| s.to_string()))
        .collect::<std::result::Result<BTreeSet<String>, _>>()
    else {
        return false;
    };
    csr.common_name() == Some(common_name.as_str()) && requested == sans
}

/// The request file of a layout of kind `usage` in `dir`.
pub fn csr_path(usage: Usage, dir: &std::path::Path) -> PathBuf {
    dir.join(match usage {
        Usage::Server => "server.csr",
        Usage::Client => "client.csr",
    })
}

/// Makes (or keeps) the private key of a layout in `request.dir` (`server-key.pem` or
/// `key.pem`, mode 0400) and writes a certificate signing request for it (`server.csr` or
/// `client.csr`, mode 0644), in one journaled update whose journal is kept in the directory
/// (`DIR/.dockpki-journal`; an interrupted earlier update is completed first). The key is never
/// returned, printed or copied anywhere else.
///
/// When an existing key is kept and the directory already holds a request for it (its
/// signature checked) of the same kind, with the common name and the set of SANs a request
/// made now would carry, nothing is written ([`Requested::changed`] is `false`): a fleet tool
/// may run this on every pass. Any other request file there is replaced.
///
/// # Errors
/// When the directory holds the other kind of layout, an existing key to keep may be read by
/// group or others (it may have been copied: make a new one), cannot be read or is not a key
/// dockpki uses (encrypted, another algorithm), a key is to be replaced but cannot be
/// backed up, or the files cannot be written; nothing is written then.
///
/// # Examples
/// ```
/// use dockpki::KeyType;
/// use dockpki_provision::ops::request::{request, CsrRequest, CsrSubject, KeyChoice, KeyOrigin};
/// use dockpki_provision::report::Silent;
/// # let root = tempfile::tempdir()?;
/// let dir = root.path().join("pki");
/// let req = CsrRequest {
///     subject: CsrSubject::Server { sans: dockpki::SanList::parse(["docker.example.com"])?, common_name: None },
///     key: KeyChoice::KeepExisting(KeyType::EcdsaP256),
///     dir: dir.clone(),
///     lock_timeout: None,
/// };
/// let first = request(&req, &Silent)?;
/// assert_eq!(first.key, KeyOrigin::Generated);
/// assert!(dir.join("server-key.pem").exists() && dir.join("server.csr").exists());
/// let again = request(&req, &Silent)?; // the same key and names: nothing written
/// assert_eq!(again.key, KeyOrigin::Existing);
/// assert!(!again.changed());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn request(request: &CsrRequest, report: &dyn Report) -> Result<Requested> {
    let usage = request.subject.usage();
    let layout = Layout::for_usage(usage, request.dir.clone());
    // The layout's lock, held until the update is done (see install), and taken before the
    // layout is judged at all (a server and a client request at once must not both find it
    // free of the other kind). A directory not made yet has none: of two first requests racing
    // to make it, the one that comes second is refused by the write's checks. (Its lock file
    // is never one of the files written: a journal replayed would move it over the lock file
    // a later run holds.)
    let lock = crate::fs::lock_dir(&layout.dir, request.lock_timeout, report)?;
    layout.refuse_other_kind()?;
    let journal = crate::fs::journal::recover_in_dir(&layout.dir, report)?;
    let key_path = layout.key_path();
    let existing = match reader::open(&key_path, Links::Follow, Limit::Pem) {
        Ok(file) => {
            if let KeyChoice::KeepExisting(_) = request.key {
                crate::store::reissue::refuse_readable_key(
                    &file,
                    &key_path,
                    "make a request for",
                    Advice::RequestNewKey,
                )?;
            }
            Some(reader::read_opened(file, &key_path, Limit::Pem)?)
        }
        Err(reader::ReadError::NotFound(_)) => None,
        Err(reader::ReadError::Refused(e)) => return Err(e),
    };
    let (key, origin, replace) = match (request.key, existing) {
        (KeyChoice::KeepExisting(_), Some(pem)) => {
            let key = PrivateKey::from_pem(&pem).map_err(|e| {
                Error::advised(
                    format!(
                        "cannot make a request for the key {}: {e}",
                        key_path.display()
                    ),
                    Advice::RequestNewKey,
                )
            })?;
            (key, KeyOrigin::Existing, false)
        }
        (KeyChoice::KeepExisting(kt), None) => {
            (PrivateKey::generate(kt)?, KeyOrigin::Generated, false)
        }
        (KeyChoice::New(kt), old) => (
            PrivateKey::generate(kt)?,
            KeyOrigin::Generated,
            old.is_some(),
        ),
    };
    let csr_path = csr_path(usage, &layout.dir);
    if origin == KeyOrigin::Existing {
        // The request already there, for this key and these names: nothing to write, so that a
        // fleet tool running this on every pass changes nothing. Anything else there (a
        // request for another key or other names, garbled, not a file we may read) is made
        // again below, as before.
        let existing = reader::read_optional(&csr_path, Links::Refuse, Limit::Pem)
            .ok()
            .flatten();
        if let Some(pem) = existing.filter(|pem| same_request(pem, &key, &request.subject)) {
            return Ok(Requested {
                layout,
                csr_path,
                csr_pem: String::from_utf8_lossy(&pem).into_owned(),
                key: origin,
                key_type: key.key_type(),
                written: Vec::new(),
            });
        }
    }
    let csr_pem = match &request.subject {
        CsrSubject::Server { sans, common_name } => {
            create_server_csr(&key, sans, common_name.as_ref())?
        }
        CsrSubject::Client { common_name } => create_client_csr(&key, common_name)?,
    };
    // Consent to a new key is consent to replace the old one, which is kept as a backup.
    let mut plan = WritePlan::new(if replace {
        Existing::ReplaceKeepingBackup
    } else {
        Existing::Refuse
    });
    if origin == KeyOrigin::Generated {
        plan.key(key_path, key.to_pem(), None);
    }
    plan.csr(csr_path.clone(), &csr_pem);
    let written = plan.commit(&journal, report)?;
    // The lock file it made stays only with a layout this run changed.
    if let Some(lock) = lock.filter(|_| written.iter().any(|w| w.changed)) {
        lock.keep();
    }
    Ok(Requested {
        layout,
        csr_path,
        csr_pem,
        key: origin,
        key_type: key.key_type(),
        written,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;
    use crate::report::Silent;

    fn server(dir: &std::path::Path, sans: &[&str], key: KeyChoice) -> CsrRequest {
        CsrRequest {
            subject: CsrSubject::Server {
                sans: SanList::parse(sans).unwrap(),
                common_name: None,
            },
            key,
            dir: dir.to_path_buf(),
            lock_timeout: None,
        }
    }

    fn stamp(path: &std::path::Path) -> (u64, std::time::SystemTime) {
        let m = std::fs::metadata(path).unwrap();
        (m.ino(), m.modified().unwrap())
    }

    /// The lock file a run makes stays with a layout it wrote and goes with one it did not
    /// change; a first request into a directory not made yet writes none (a replayed journal
    /// must never move one over the lock file a later run holds).
    #[test]
    fn a_request_keeps_the_lock_file_it_made_only_when_it_wrote_a_file() {
        let root = tempfile::tempdir().unwrap();
        let new_dir = root.path().join("new");
        let req = server(
            &new_dir,
            &["a.example"],
            KeyChoice::KeepExisting(KeyType::EcdsaP256),
        );
        let made = request(&req, &Silent).unwrap();
        let lock = new_dir.join(crate::fs::lock::LOCK_FILE);
        assert!(!lock.exists());
        assert!(made.written.iter().all(|w| w.path != lock));

        let dir = root.path().join("existing");
        std::fs::create_dir(&dir).unwrap();
        let req = server(
            &dir,
            &["a.example"],
            KeyChoice::KeepExisting(KeyType::EcdsaP256),
        );
        assert!(request(&req, &Silent).unwrap().changed());
        let lock = dir.join(crate::fs::lock::LOCK_FILE);
        assert!(lock.is_file());
        std::fs::remove_file(&lock).unwrap();
        assert!(!request(&req, &Silent).unwrap().changed());
        assert!(
            !lock.exists(),
            "a run that changed nothing left its lock file"
        );
    }

    /// While another process holds the layout's lock, a request with a new key waits, gives up
    /// after its timeout leaving the key and request as they were, and is made once the lock
    /// is let go.
    #[test]
    fn a_request_waits_for_the_layouts_lock_and_writes_nothing_when_it_gives_up() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("pki");
        let first = request(
            &server(
                &dir,
                &["a.example"],
                KeyChoice::KeepExisting(KeyType::EcdsaP256),
            ),
            &Silent,
        )
        .unwrap();
        let key = dir.join("server-key.pem");
        let before = (stamp(&key), stamp(&first.csr_path));
        let held = crate::fs::lock_dir(&dir, None, &Silent).unwrap();
        let mut again = server(&dir, &["a.example"], KeyChoice::New(KeyType::EcdsaP256));
        again.lock_timeout = Some(std::time::Duration::from_millis(150));
        let e = request(&again, &Silent).unwrap_err();
        assert_eq!(e.advice(), Some(Advice::LockTimeout), "{e}");
        assert_eq!((stamp(&key), stamp(&first.csr_path)), before);
        drop(held);
        let made = request(&again, &Silent).unwrap();
        assert!(made.changed());
        assert_ne!(stamp(&key), before.0);
    }

    #[test]
    fn the_same_request_again_writes_nothing_and_other_names_or_a_new_key_write_a_new_one() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("pki");
        let keep = KeyChoice::KeepExisting(KeyType::EcdsaP256);
        let first = request(&server(&dir, &["a.example", "192.0.2.1"], keep), &Silent).unwrap();
        assert!(first.changed());
        let (csr, key) = (dir.join("server.csr"), dir.join("server-key.pem"));
        let before = (stamp(&csr), stamp(&key));
        // The same SAN set in another order is the same request.
        let again = request(&server(&dir, &["a.example", "192.0.2.1"], keep), &Silent).unwrap();
        assert!(!again.changed() && again.written.is_empty());
        assert_eq!(again.key, KeyOrigin::Existing);
        assert_eq!((stamp(&csr), stamp(&key)), before);
        assert_eq!(again.csr_pem.as_bytes(), std::fs::read(&csr).unwrap());

        let wider = request(
            &server(&dir, &["a.example", "192.0.2.1", "b.example"], keep),
            &Silent,
        )
        .unwrap();
        assert!(wider.changed());
        assert_eq!(stamp(&key), before.1, "the same key");
        assert_ne!(stamp(&csr), before.0);

        // A garbled request is made again.
        std::fs::write(&csr, b"garbage").unwrap();
        let mended = request(
            &server(&dir, &["a.example", "192.0.2.1", "b.example"], keep),
            &Silent,
        )
        .unwrap();
        assert!(mended.changed());
        assert!(VerifiedCsr::from_pem(&std::fs::read(&csr).unwrap()).is_ok());

        let rekeyed = request(
            &server(
                &dir,
                &["a.example", "192.0.2.1", "b.example"],
                KeyChoice::New(KeyType::EcdsaP256),
            ),
            &Silent,
        )
        .unwrap();
        assert!(rekeyed.changed() && rekeyed.key == KeyOrigin::Generated);
        assert_ne!(stamp(&key), before.1);
    }
}
