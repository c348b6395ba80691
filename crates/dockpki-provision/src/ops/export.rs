//! Exporting a client certificate, its key and the CA certificates as one PKCS#12 file, for
//! programs that import nothing else (browsers, Windows' certificate store, Java).

use std::path::PathBuf;

use dockpki::{CertificateDer, Usage};

use crate::error::{Advice, Error, Result};
use crate::fs::reader::Links;
use crate::fs::{Existing, WritePlan, Written};
use crate::layout::Layout;
use crate::store::inventory::Status;
use crate::store::{Passphrases, Purpose, State};

/// A request to export a client certificate as PKCS#12.
#[derive(Clone, Debug)]
pub struct Pkcs12Request {
    /// The client certificate's common name, as recorded in the inventory.
    pub common_name: String,
    /// The file to write (mode 0600).
    pub out: PathBuf,
    /// Whether an existing `out` may be replaced (kept as a timestamped backup).
    pub existing: Existing,
}

/// What [`export_pkcs12`] wrote.
#[derive(Debug)]
pub struct Pkcs12Exported {
    /// The client layout the certificate and key were read from.
    pub client_dir: PathBuf,
    /// The certificate's serial, lower-case hex.
    pub serial: String,
    /// How many certificates the bundle holds: the client's, then the CA certificates.
    pub certificates: usize,
    /// The file written, with the backup of a replaced one.
    pub written: Vec<Written>,
}

/// Writes the active client certificate named `request.common_name`, its key and the CA
/// certificates its layout trusts (both CAs during a rotation) to `request.out` as PKCS#12
/// ([`dockpki::pkcs12_bundle`]: PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, an HMAC-SHA256
/// MAC), encrypted under the passphrase `passphrase` gives for [`Purpose::NewPassphrase`].
///
/// The layout is found in the inventory and read as its owner, never through a link, as a
/// docker context reads it; its certificate must still be the one the inventory records. The
/// file is written through one [`WritePlan`] with mode 0600 (it holds a key, however
/// encrypted), for the user whose home it is in under the state's
/// [`OwnerPolicy`](crate::fs::OwnerPolicy), refusing an existing file unless
/// `request.existing` allows it.
///
/// # Errors
/// With [`Advice::ListNames`] when no active client certificate has that name; when several
/// layouts hold different certificates of that name, the layout cannot be read or no longer
/// holds the recorded certificate, no passphrase can be had (or it is empty or not UTF-8), or
/// the file cannot be written. Nothing is written then.
pub fn export_pkcs12(
    state: &State,
    request: &Pkcs12Request,
    passphrase: &dyn Passphrases,
) -> Result<Pkcs12Exported> {
    let inventory = state.load_inventory()?;
    let name = &request.common_name;
    let records: Vec<_> = inventory
        .certificates
        .iter()
        .filter(|r| {
            r.status == Status::Active
                && r.kind == Usage::Client
                && r.common_name.as_deref() == Some(name.as_str())
                && !r.installed.is_empty()
        })
        .collect();
    let record = match records.as_slice() {
        [] => {
            return Err(Error::advised(
                format!("no active client certificate has the common name {name:?}"),
                Advice::ListNames,
            ))
        }
        [one] => *one,
        several => {
            let dirs: Vec<String> = several
                .iter()
                .flat_map(|r| r.installed.iter().map(|d| d.display().to_string()))
                .collect();
            return Err(Error::new(format!(
                "{} active client certificates have the common name {name:?} (in {}); revoke the ones no longer used, then export again",
                several.len(),
                dirs.join(", ")
            )));
        }
    };
    // Every layout a record lists holds the same certificate and key: the first is read.
    let dir = record.installed[0].clone();
    let owner = state.settings().owners.owner_for(&dir);
    let files = Layout::client(dir.clone()).read(Links::Refuse, owner)?;
    let leaf_sha256 = dockpki::inspect(&files.chain[0])?.sha256_fingerprint;
    if leaf_sha256 != record.sha256 {
        return Err(Error::advised(
            format!(
                "the certificate in {} is not the one dockpki issued as {name:?} (serial {}); it was replaced since",
                dir.display(),
                record.serial
            ),
            Advice::VerifyLayouts,
        ));
    }
    let mut chain: Vec<CertificateDer<'static>> = files.chain.clone();
    for ca in &files.bundle {
        if !chain.contains(ca) {
            chain.push(ca.clone());
        }
    }
    let pass = passphrase.passphrase(Purpose::NewPassphrase)?;
    let pass = std::str::from_utf8(&pass).map_err(|_| {
        Error::new(
            "the export passphrase is not UTF-8 text, which PKCS#12 readers need; give one that is",
        )
    })?;
    if pass.is_empty() {
        return Err(Error::new("empty export passphrase; give a non-empty one"));
    }
    let bundle = dockpki::pkcs12_bundle(&files.key, &chain, name, pass)?;
    // Under sudo, a file in the invoking user's home is theirs, like the layouts written there:
    // a root-owned 0600 file would be one they cannot read.
    let out_owner = state.settings().owners.owner_for(&request.out);
    let mut plan = WritePlan::new(request.existing);
    plan.secret(request.out.clone(), bundle, out_owner);
    let written = state.commit(state.feed_contexts(plan)?)?;
    Ok(Pkcs12Exported {
        client_dir: dir,
        serial: record.serial.clone(),
        certificates: chain.len(),
        written,
    })
}
