//! `dockpki sign`: certifying a request made on another host, on the host that holds the CA.
//! What comes back is a certificate and the CA bundle, never a key: the key stayed where the
//! request was made.

use std::path::{Path, PathBuf};

use dockpki::{CertInfo, Lifetime, Usage, VerifiedCsr};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::fs::reader::{self, Limit, Links};
use crate::fs::{Existing, WritePlan, Written};
use crate::layout::Layout;
use crate::store::inventory::{Record, RemoteInfo};
use crate::store::State;

/// A request to sign a certificate signing request.
#[derive(Clone, Debug)]
pub struct SignRequest {
    /// The request file (PEM), e.g. a host's `server.csr` fetched to the CA's host.
    pub csr: PathBuf,
    /// The kind of certificate; `None`: the kind the request asks for
    /// ([`VerifiedCsr::usage`]).
    pub usage: Option<Usage>,
    /// How long the certificate is valid.
    pub lifetime: Lifetime,
    /// The host label recorded in the inventory; `None`: the request's common name.
    pub host: Option<String>,
    /// The directory the certificate and `ca.pem` are written to, to be delivered to the host.
    pub out: PathBuf,
    /// Whether existing files in `out` may be replaced (kept as timestamped backups).
    pub existing: Existing,
}

/// What [`sign`] did.
#[derive(Debug)]
pub struct Signed {
    /// Server or client.
    pub usage: Usage,
    /// The host label recorded.
    pub host: String,
    /// What the certificate says.
    pub certificate: CertInfo,
    /// The certificate file written (`server-cert.pem` or `cert.pem`).
    pub cert_path: PathBuf,
    /// The CA bundle written (`ca.pem`).
    pub ca_path: PathBuf,
    /// What the request asked for that was not taken (see [`VerifiedCsr::ignored`]).
    pub ignored: Vec<String>,
    /// The files written, with their backups.
    pub written: Vec<Written>,
}

/// Reads a request file (bounded, a regular file) and verifies it.
///
/// # Errors
/// When the file cannot be read, or [`VerifiedCsr::from_pem`] refuses it.
pub fn read_csr(path: &Path) -> Result<VerifiedCsr> {
    let bytes = reader::read(path, Links::Follow, Limit::Pem)?;
    VerifiedCsr::from_pem(&bytes).map_err(|e| Error::from(e).context(path.display()))
}

/// Verifies the request in `request.csr` (a tampered request is refused), signs it from the
/// state's signing CA (the new CA during a rotation) taking only the common name, SANs and
/// public key from it ([`dockpki::CertificateAuthority::sign_csr`]), records the certificate
/// with the request and the host in the inventory ([`RemoteInfo`]), and writes the certificate
/// (`server-cert.pem` or `cert.pem`) and the trust bundle (`ca.pem`) into `request.out`, in one
/// journaled update. No key is written.
///
/// # Errors
/// When the request cannot be read or verified, the CA refuses it (SAN syntax, name
/// constraints, a lifetime beyond the CA's), the CA cannot be loaded, the host label is empty,
/// or the files cannot be written (an existing one without
/// [`Existing::ReplaceKeepingBackup`]); nothing is written then.
pub fn sign(state: &State, request: &SignRequest, now: OffsetDateTime) -> Result<Signed> {
    let csr = read_csr(&request.csr)?;
    let usage = request.usage.unwrap_or_else(|| csr.usage());
    let host = match &request.host {
        Some(h) => h.clone(),
        None => csr.common_name().unwrap_or_default().to_string(),
    };
    if host.trim().is_empty() || host.chars().any(char::is_control) {
        return Err(Error::new(format!(
            "the host label {host:?} is empty or has control characters; pass --host LABEL"
        )));
    }
    let ca = state.load_ca()?;
    let signed = ca
        .sign_csr(&csr, usage, request.lifetime, now)
        .map_err(|e| Error::from(e).context(request.csr.display()))?;
    let layout = Layout::for_usage(usage, request.out.clone());
    let mut plan = WritePlan::new(request.existing);
    let (ca_path, cert_path) = (layout.ca_path(), layout.cert_path());
    plan.cert(ca_path.clone(), &state.trust_bundle_pem(&ca)?, None);
    plan.cert(cert_path.clone(), &signed.cert_pem, None);
    let mut record = Record::new(
        &signed.info,
        usage,
        &ca.info().sha256_fingerprint,
        Vec::new(),
    );
    record.remote = Some(RemoteInfo {
        host: host.clone(),
        csr_pem: csr.pem().to_string(),
        out: layout.dir.clone(),
    });
    state.plan_added_record(&mut plan, record)?;
    let written = state.commit(state.feed_contexts(plan)?)?;
    Ok(Signed {
        usage,
        host,
        certificate: signed.info,
        cert_path,
        ca_path,
        ignored: csr.ignored().to_vec(),
        written,
    })
}
