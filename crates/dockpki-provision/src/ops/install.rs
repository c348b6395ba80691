//! `dockpki install`: putting a certificate signed elsewhere (`dockpki sign`) into the layout
//! that holds its key (`dockpki request`), after checking that it is the right one.

use std::path::PathBuf;

use dockpki::{
    certs_from_pem, key_matches_cert, verify_leaf, CertInfo, CertificateDer, Fingerprint,
    PrivateKey, Usage,
};
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
    /// Whether existing files of the layout that need consent may be replaced (kept as
    /// timestamped backups): a certificate for another key, a file that is not a certificate,
    /// or an older delivery (a certificate for the layout's key older than the installed one,
    /// or a bundle putting back a CA older than those the layout's `ca.pem` trusts; see
    /// [`install`]). A newer certificate for the layout's own key (a renewal, a rotation's
    /// delivery) and a `ca.pem` sharing a CA with the delivered bundle are replaced without
    /// it, backups kept; a symlink, directory or device is never replaced.
    pub existing: Existing,
    /// The SHA-256 fingerprint of the CA the certificate must come from, as the CA's side
    /// prints it (`dockpki sign`, `dockpki status`, `dockpki inspect ca.pem`). Needed for a
    /// first install, when the layout holds no `ca.pem` yet to judge the delivered one by;
    /// when given, the delivered bundle must hold that CA in any case.
    pub ca_fingerprint: Option<Fingerprint>,
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
///
/// - `from` is a directory only trusted users can change (the rule of
///   [`crate::fs::write::check_directory_trust`]: a world-writable directory such as a bare
///   `/tmp/signed` is refused) and its files are regular files, not symlinks;
/// - the delivered CA bundle is one this layout already trusts: it shares at least one CA
///   certificate with the layout's `ca.pem` (so every phase of a CA rotation installs), or, for
///   a first install (no `ca.pem` yet), it holds the CA of `request.ca_fingerprint`, which is
///   then required;
/// - the certificate is for the layout's own key (public key equality), and that key is not
///   readable by group or others;
/// - it chains to the delivered `ca.pem`, is valid at `now`, and its extended key usage is the
///   layout's (serverAuth for a daemon layout, clientAuth for a client's).
///
/// Without [`Existing::ReplaceKeepingBackup`], two more checks refuse an earlier delivery
/// replayed (a fleet tool copying an old delivery directory again), which would silently put
/// back what a later one replaced:
///
/// - an installed certificate for the layout's key is replaced only by one that is not older:
///   the delivered one is older when its notBefore is earlier, or equal with an earlier
///   notAfter (a total order; two different certificates with the same dates, signed within
///   the same second, are not older than each other). The same certificate (same DER) is no
///   change;
/// - the delivered bundle may add only CAs no older than the newest CA (by notBefore) in the
///   layout's `ca.pem`: a CA older than one the layout trusts is one a rotation retired (a
///   rotation's `begin` adds its new CA, newer than the old; `finish` drops the old one).
///
/// Together with the checks above, the layout's end state verifies: its certificate chains to
/// its new `ca.pem`. A bundle may drop a CA only if the certificate left in place does not
/// need it: a certificate kept (the same one delivered) must chain to the delivered bundle,
/// and one replaced is replaced by a newer one (a rotation's `finish` delivers the new-only
/// bundle after `reissue` delivered the new CA's certificate). So every phase of a CA rotation
/// delivered in order installs (`begin`: the installed certificate with old+new; `reissue`: the
/// new CA's certificate with old+new; `finish`: that certificate with the new CA alone; `abort`:
/// the old CA's certificate, re-signed now, with the old CA alone), and an earlier phase's
/// delivery replayed after a later one is refused.
///
/// The key is not touched. An existing certificate for the layout's key and an existing
/// `ca.pem` (which the checks above require to share a CA with the delivered one) are replaced
/// without [`Existing::ReplaceKeepingBackup`], keeping timestamped backups; identical files are
/// left alone ([`Written::changed`] false).
///
/// # Errors
/// When a file cannot be read, `from` is not trusted, the bundle is not one the layout trusts
/// (or no fingerprint was given for a first install), the layout holds no key (make the request
/// there first) or a loose one, any other check fails, the directory holds the other kind of
/// layout, or the files cannot be written (an existing certificate for another key, or a file
/// that is not a certificate, without [`Existing::ReplaceKeepingBackup`]); without
/// [`Existing::ReplaceKeepingBackup`] also when the delivered certificate is older than the one
/// installed for the key, or the delivered bundle puts back a CA older than those the layout
/// trusts ([`Advice::OlderDelivery`] for both); nothing is written then.
pub fn install(
    request: &InstallRequest,
    now: OffsetDateTime,
    report: &dyn Report,
) -> Result<Installed> {
    let usage = kind_of(&request.from)?;
    let from = Layout::for_usage(usage, request.from.clone());
    let layout = Layout::for_usage(usage, request.dir.clone());
    layout.refuse_other_kind()?;
    // Whoever may change `from` chooses the CA the layout will trust: only trusted users may.
    crate::fs::write::check_directory_trust(&from.cert_path(), None).map_err(|e| {
        Error::new(format!(
            "refusing to install from {}, which users other than root and you may change ({e}); copy the delivered files into a root-owned 0700 directory and pass that as --from",
            from.dir.display()
        ))
    })?;
    let cert_pem = reader::read(&from.cert_path(), Links::Refuse, Limit::Pem)?;
    let bundle_pem = reader::read(&from.ca_path(), Links::Refuse, Limit::Pem)?;
    let in_file = |path: PathBuf| move |e: dockpki::Error| Error::from(e).context(path.display());
    let cert = certs_from_pem(&cert_pem).map_err(in_file(from.cert_path()))?;
    let leaf = &cert[0];
    let bundle = certs_from_pem(&bundle_pem).map_err(in_file(from.ca_path()))?;
    let current_bundle = refuse_untrusted_bundle(request, &from, &layout, &bundle)?;
    let key_path = layout.key_path();
    let key_file = match reader::open(&key_path, Links::Follow, Limit::Pem) {
        Ok(file) => file,
        Err(reader::ReadError::NotFound(_)) => {
            return Err(Error::advised_about(
                format!(
                    "{} holds no key {} for this certificate",
                    layout.dir.display(),
                    key_path.display()
                ),
                Advice::RequestFirst,
                layout.dir.display().to_string(),
            ))
        }
        Err(reader::ReadError::Refused(e)) => return Err(e),
    };
    crate::store::reissue::refuse_readable_key(
        &key_file,
        &key_path,
        "install a certificate for",
        Advice::RequestNewKey,
    )?;
    let key_pem = reader::read_opened(key_file, &key_path, Limit::Pem)?;
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
    let installed = installed_for_key(&layout.cert_path(), &key);
    if request.existing != Existing::ReplaceKeepingBackup {
        if let Some(installed) = &installed {
            refuse_older_certificate(leaf, &certificate, installed, &from, &layout)?;
        }
        if let Some(current) = &current_bundle {
            refuse_retired_ca(&bundle, current, &from, &layout)?;
        }
    }
    let journal = crate::fs::journal::recover_in_dir(&layout.dir, report)?;
    let mut plan = WritePlan::new(request.existing);
    // Written as read (a bundle may hold several CAs during a rotation), normalised to PEM.
    let bundle_out: String = bundle.iter().map(dockpki::cert_to_pem).collect();
    // A bundle sharing a CA with the layout's, and a certificate for the layout's own key, are
    // a renewal's or a rotation's delivery: replaced without consent (backups kept). Anything
    // else already there only with it.
    if current_bundle.is_some() {
        plan.cert_replacing(layout.ca_path(), &bundle_out, None);
    } else {
        plan.cert(layout.ca_path(), &bundle_out, None);
    }
    if installed.is_some() {
        plan.cert_replacing(layout.cert_path(), &dockpki::cert_to_pem(leaf), None);
    } else {
        plan.cert(layout.cert_path(), &dockpki::cert_to_pem(leaf), None);
    }
    let written = plan.commit(&journal, report)?;
    Ok(Installed {
        layout,
        certificate,
        written,
    })
}

/// The certificate for `key` that `path` holds first, when `path` is a regular file (not a
/// symlink) holding one.
fn installed_for_key(path: &std::path::Path, key: &PrivateKey) -> Option<CertificateDer<'static>> {
    reader::read_optional(path, Links::Refuse, Limit::Pem)
        .ok()
        .flatten()
        .and_then(|pem| certs_from_pem(&pem).ok())
        .and_then(|certs| certs.into_iter().next())
        .filter(|cert| key_matches_cert(key, cert))
}

/// How a delivered certificate for the layout's key compares with the one installed for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Age {
    /// The same certificate (the same DER): installing it changes nothing.
    Same,
    /// Not older: a later notBefore, or the same notBefore and an expiry no earlier (a
    /// renewal, a re-sign, a rotation's re-issue). Replaced without consent.
    Newer,
    /// An earlier notBefore, or the same notBefore and an earlier expiry: an earlier delivery
    /// replayed. Replaced only with consent.
    Older,
}

/// The total rule ordering two certificates for the same key: by notBefore, then by notAfter;
/// two different certificates equal in both (signed within the same second) are not older.
fn age(
    delivered: &CertificateDer<'_>,
    delivered_info: &CertInfo,
    installed: &CertificateDer<'_>,
    installed_info: &CertInfo,
) -> Age {
    if delivered.as_ref() == installed.as_ref() {
        return Age::Same;
    }
    let when = |i: &CertInfo| (i.not_before, i.not_after);
    if when(delivered_info) < when(installed_info) {
        Age::Older
    } else {
        Age::Newer
    }
}

/// Refuses a delivered certificate older ([`Age::Older`]) than the one installed for the
/// layout's key: an earlier delivery replayed (last year's certificate, or the old CA's after a
/// rotation re-issued it) would silently put back what a later one replaced.
fn refuse_older_certificate(
    delivered: &CertificateDer<'_>,
    delivered_info: &CertInfo,
    installed: &CertificateDer<'_>,
    from: &Layout,
    layout: &Layout,
) -> Result<()> {
    let installed_info = dockpki::inspect(installed)
        .map_err(|e| Error::from(e).context(layout.cert_path().display()))?;
    if age(delivered, delivered_info, installed, &installed_info) != Age::Older {
        return Ok(());
    }
    let dates = |i: &CertInfo| {
        format!(
            "serial {}, valid {} to {}",
            i.serial,
            dockpki::format_time(i.not_before),
            dockpki::format_time(i.not_after)
        )
    };
    Err(Error::advised(
        format!(
            "{} ({}) is older than the certificate for the same key installed in {} ({}): an earlier delivery",
            from.cert_path().display(),
            dates(delivered_info),
            layout.cert_path().display(),
            dates(&installed_info)
        ),
        Advice::OlderDelivery,
    ))
}

/// Refuses a delivered bundle that adds a CA issued before a CA the layout's `ca.pem` trusts
/// now (an earlier notBefore than the newest of them): a CA rotation's `finish` retired it, and
/// a replayed earlier delivery (the rotation's old+new bundle) would trust it again. A rotation
/// only ever adds a CA newer than those trusted (`begin`'s new CA); one dropped is fine (the
/// delivered certificate is checked to chain to the delivered bundle, and one older than the
/// installed certificate is refused, so a certificate left in place still verifies).
fn refuse_retired_ca(
    bundle: &[CertificateDer<'static>],
    current: &[CertificateDer<'static>],
    from: &Layout,
    layout: &Layout,
) -> Result<()> {
    let current_path = layout.ca_path();
    let mut newest: Option<CertInfo> = None;
    for ca in current {
        let info =
            dockpki::inspect(ca).map_err(|e| Error::from(e).context(current_path.display()))?;
        if newest
            .as_ref()
            .is_none_or(|n| info.not_before > n.not_before)
        {
            newest = Some(info);
        }
    }
    let Some(newest) = newest else {
        return Ok(());
    };
    let trusted: Vec<Fingerprint> = current.iter().map(Fingerprint::of).collect();
    for ca in bundle {
        let fingerprint = Fingerprint::of(ca);
        if trusted.contains(&fingerprint) {
            continue;
        }
        let info =
            dockpki::inspect(ca).map_err(|e| Error::from(e).context(from.ca_path().display()))?;
        if info.not_before < newest.not_before {
            return Err(Error::advised(
                format!(
                    "{} puts back the CA {:?} (SHA-256 {fingerprint}, valid from {}), which {} no longer holds and which is older than the CA {:?} it trusts now (valid from {}): an earlier delivery, from before a CA rotation finished",
                    from.ca_path().display(),
                    info.subject,
                    dockpki::format_time(info.not_before),
                    current_path.display(),
                    newest.subject,
                    dockpki::format_time(newest.not_before)
                ),
                Advice::OlderDelivery,
            ));
        }
    }
    Ok(())
}

/// Refuses a delivered bundle the layout has no reason to trust: with a `ca.pem` in the layout,
/// one sharing no CA certificate with it; without one, one not holding the CA of
/// `request.ca_fingerprint` (required then). A given fingerprint must be in the bundle either
/// way. The layout's `ca.pem` when it is there (and shares a CA with the bundle).
fn refuse_untrusted_bundle(
    request: &InstallRequest,
    from: &Layout,
    layout: &Layout,
    bundle: &[CertificateDer<'static>],
) -> Result<Option<Vec<CertificateDer<'static>>>> {
    let delivered: Vec<Fingerprint> = bundle.iter().map(Fingerprint::of).collect();
    if let Some(want) = request.ca_fingerprint {
        if !delivered.contains(&want) {
            return Err(Error::new(format!(
                "{} does not hold the CA with SHA-256 {want} (--ca-fingerprint); the delivered files are not from that CA: sign the request again on the CA's host and deliver its --out directory",
                from.ca_path().display()
            )));
        }
    }
    let current_path = layout.ca_path();
    match reader::read_optional(&current_path, Links::Refuse, Limit::Pem)? {
        Some(current_pem) => {
            let current = certs_from_pem(&current_pem)
                .map_err(|e| Error::from(e).context(current_path.display()))?;
            if current
                .iter()
                .any(|c| delivered.contains(&Fingerprint::of(c)))
            {
                Ok(Some(current))
            } else {
                Err(Error::new(format!(
                    "{} shares no CA certificate with {}, which this layout trusts now; install only what the CA this layout trusts signed, or remove {} and pass --ca-fingerprint SHA256 (printed by `dockpki sign` and `dockpki status` on the CA's host)",
                    from.ca_path().display(),
                    current_path.display(),
                    current_path.display()
                )))
            }
        }
        None if request.ca_fingerprint.is_some() => Ok(None),
        None => Err(Error::new(format!(
            "{} holds no ca.pem yet, so nothing says which CA to trust: pass --ca-fingerprint SHA256 with the CA's fingerprint as its host prints it (`dockpki sign` and `dockpki status` there)",
            layout.dir.display()
        ))),
    }
}
