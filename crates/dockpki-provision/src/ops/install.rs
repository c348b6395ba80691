//! `dockpki install`: putting a certificate signed elsewhere (`dockpki sign`) into the layout
//! that holds its key (`dockpki request`), after checking that it is the right one.

use std::path::PathBuf;

use dockpki::{certs_from_pem, key_matches_cert, verify_leaf, CertInfo, PrivateKey, Usage};
use time::OffsetDateTime;

use crate::error::{Advice, Error, Result};
use crate::fs::reader::{self, Limit, Links};
use crate::fs::{Existing, WritePlan, Written};
use crate::layout::Layout;
use crate::report::Report;

/// A request to install a signed certificate.
#[derive(Clone, Debug)]
pub struct InstallRequest {
    /// The directory `dockpki sign` wrote: `ca.pem` and `server-cert.pem` or `cert.pem`.
    pub from: PathBuf,
    /// The layout holding the key (where `dockpki request` ran).
    pub dir: PathBuf,
    /// Whether existing files of the layout may be replaced (kept as timestamped backups).
    pub existing: Existing,
}

/// What [`install`] did.
#[derive(Debug)]
pub struct Installed {
    /// The layout installed into.
    pub layout: Layout,
    /// What the installed certificate says.
    pub certificate: CertInfo,
    /// The files written, with their backups (unchanged files are listed with `changed: false`).
    pub written: Vec<Written>,
}

impl Installed {
    /// Whether a daemon must be restarted to serve the certificate: dockerd reads its
    /// certificates once, at start. `false` when nothing changed.
    pub fn needs_daemon_restart(&self) -> bool {
        self.layout.usage == Usage::Server && self.written.iter().any(|w| w.changed)
    }
}

/// The kind of the certificate in `from`: `server-cert.pem` for a daemon, `cert.pem` for a
/// client.
fn kind_of(from: &std::path::Path) -> Result<Usage> {
    let has = |name: &str| from.join(name).is_file();
    match (has("server-cert.pem"), has("cert.pem")) {
        (true, false) => Ok(Usage::Server),
        (false, true) => Ok(Usage::Client),
        (true, true) => Err(Error::new(format!(
            "{} holds both server-cert.pem and cert.pem; give --from the directory `dockpki sign` wrote for this one certificate",
            from.display()
        ))),
        (false, false) => Err(Error::new(format!(
            "{} holds neither server-cert.pem nor cert.pem; give --from the directory `dockpki sign --out` wrote",
            from.display()
        ))),
    }
}

/// Checks the certificate in `request.from` against the layout in `request.dir`, then installs
/// it with the CA bundle (`ca.pem`) there, modes 0444, in one journaled update whose journal is
/// kept in the layout (`DIR/.dockpki-journal`). The checks, all before anything is written:
/// the certificate is for the layout's own key (public key equality), it chains to the
/// `ca.pem` given with it and is valid at `now`, and its extended key usage is the layout's
/// (serverAuth for a daemon layout, clientAuth for a client's). The key is not touched.
///
/// # Errors
/// When a file cannot be read, the layout holds no key (make the request there first), any
/// check fails, the directory holds the other kind of layout, or the files cannot be written
/// (an existing different file without [`Existing::ReplaceKeepingBackup`]); nothing is written
/// then.
pub fn install(
    request: &InstallRequest,
    now: OffsetDateTime,
    report: &dyn Report,
) -> Result<Installed> {
    let usage = kind_of(&request.from)?;
    let from = Layout::for_usage(usage, request.from.clone());
    let layout = Layout::for_usage(usage, request.dir.clone());
    layout.refuse_other_kind()?;
    let cert_pem = reader::read(&from.cert_path(), Links::Follow, Limit::Pem)?;
    let bundle_pem = reader::read(&from.ca_path(), Links::Follow, Limit::Pem)?;
    let in_file = |path: PathBuf| move |e: dockpki::Error| Error::from(e).context(path.display());
    let cert = certs_from_pem(&cert_pem).map_err(in_file(from.cert_path()))?;
    let leaf = &cert[0];
    let bundle = certs_from_pem(&bundle_pem).map_err(in_file(from.ca_path()))?;
    let key_path = layout.key_path();
    let Some(key_pem) = reader::read_optional(&key_path, Links::Follow, Limit::Pem)? else {
        return Err(Error::advised_about(
            format!(
                "{} holds no key {} for this certificate",
                layout.dir.display(),
                key_path.display()
            ),
            Advice::RequestFirst,
            layout.dir.display().to_string(),
        ));
    };
    let key = PrivateKey::from_pem(&key_pem).map_err(in_file(key_path.clone()))?;
    if !key_matches_cert(&key, leaf) {
        return Err(Error::new(format!(
            "{} is not for the key {}: it was signed from another request; sign this host's own request ({}) and install that",
            from.cert_path().display(),
            key_path.display(),
            crate::ops::request::csr_path(usage, &layout.dir).display()
        )));
    }
    verify_leaf(leaf, &bundle, usage, None, now).map_err(|e| {
        Error::new(format!(
            "{} does not verify against {} as a {usage} certificate: {e}",
            from.cert_path().display(),
            from.ca_path().display()
        ))
    })?;
    let certificate = dockpki::inspect(leaf).map_err(in_file(from.cert_path()))?;
    let journal = crate::fs::journal::recover_in_dir(&layout.dir, report)?;
    let mut plan = WritePlan::new(request.existing);
    // Written as read (a bundle may hold several CAs during a rotation), normalised to PEM.
    let bundle_out: String = bundle.iter().map(dockpki::cert_to_pem).collect();
    plan.cert(layout.ca_path(), &bundle_out, None);
    plan.cert(layout.cert_path(), &dockpki::cert_to_pem(leaf), None);
    let written = plan.commit(&journal, report)?;
    Ok(Installed {
        layout,
        certificate,
        written,
    })
}
