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
    /// How long to wait for another process updating the same layout (`install`, `request`:
    /// see [`crate::fs::lock_dir`]) before giving up; `None` waits for ever.
    pub lock_timeout: Option<std::time::Duration>,
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
/// the old CA alone, with the old CA's certificate re-signed now when the new CA had signed one),
/// and an earlier phase's delivery replayed after a later one is refused, but for the two cases
/// below.
///
/// An interrupted update of the layout (its journal) is completed before these checks read the
/// layout, so they judge the files it was putting in place.
///
/// What a layout cannot tell apart (its files say nothing of the rotations it saw): after
/// `abort` right after `begin` (which re-signs nothing, so the host keeps its certificate and
/// gets the old CA alone back), `begin`'s delivery replayed puts the aborted CA back; and the
/// delivery from before a rotation, replayed after `begin`'s, drops the new CA (it is what
/// `abort` delivers). Both install without consent.
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
/// installed for the key, or the delivered bundle adds a CA older than those the layout
/// trusts ([`Advice::OlderDelivery`] for both); with or without it, when the delivered bundle
/// holds a certificate that is not a CA (CA:TRUE with keyCertSign) or a CA not valid yet. Nothing
/// is written then (an interrupted update of the layout is still completed first: that update's
/// files, not this one's).
pub fn install(
    request: &InstallRequest,
    now: OffsetDateTime,
    report: &dyn Report,
) -> Result<Installed> {
    let usage = kind_of(&request.from)?;
    let from = Layout::for_usage(usage, request.from.clone());
    let layout = Layout::for_usage(usage, request.dir.clone());
    // What needs nothing of the layout is judged first, so that a refused delivery (or a
    // directory named by mistake, holding no key) does not even make the layout's lock file.
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
    refuse_non_ca_entries(&bundle, &from, now)?;
    layout.refuse_other_kind()?;
    let key_path = layout.key_path();
    if std::fs::symlink_metadata(&key_path).is_err() {
        return Err(no_key(&layout));
    }
    // The layout's lock, held until the update is done: another install (a fleet tool's and
    // an operator's) or request must not change the files between the checks and the writes.
    // Judged again under it: the looks above were only to leave nothing behind a refusal.
    let lock = crate::fs::lock_dir(&layout.dir, request.lock_timeout, report)?;
    layout.refuse_other_kind()?;
    // An interrupted update of the layout is completed first: the files judged below are then
    // the ones this install replaces (judged before, a replayed delivery could pass against the
    // files the interrupted update was about to replace).
    let journal = crate::fs::journal::recover_in_dir(&layout.dir, report)?;
    let current_bundle = refuse_untrusted_bundle(request, &from, &layout, &bundle)?;
    let key_file = match reader::open(&key_path, Links::Follow, Limit::Pem) {
        Ok(file) => file,
        Err(reader::ReadError::NotFound(_)) => return Err(no_key(&layout)),
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
    // The lock file it made stays only with a layout this run changed.
    if let Some(lock) = lock.filter(|_| written.iter().any(|w| w.changed)) {
        lock.keep();
    }
    Ok(Installed {
        layout,
        certificate,
        written,
    })
}

/// The refusal of an install into `layout` when it holds no key: the request is made there.
fn no_key(layout: &Layout) -> Error {
    Error::advised_about(
        format!(
            "{} holds no key {} for this certificate",
            layout.dir.display(),
            layout.key_path().display()
        ),
        Advice::RequestFirst,
        layout.dir.display().to_string(),
    )
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
                    "{} adds the CA {:?} (SHA-256 {fingerprint}, valid from {}), which {} does not hold and which was made before the newest CA it trusts, {:?} (valid from {}): a CA a rotation retired, from an earlier delivery (or the CA host's clock was behind when it was made)",
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

/// Refuses a delivered bundle holding anything but CA certificates valid now (within the
/// clock-skew allowance): what `ca.pem` holds is what the daemon (or client) trusts as a root,
/// and Go's verifier trusts any certificate found there, so a leaf there (the layout's own, say)
/// would be trusted by itself; a CA not valid yet verifies nothing, and would count as the newest
/// CA and block the next rotation's delivery ([`refuse_retired_ca`]). With or without consent:
/// no delivery dockpki makes holds either.
fn refuse_non_ca_entries(
    bundle: &[CertificateDer<'static>],
    from: &Layout,
    now: OffsetDateTime,
) -> Result<()> {
    for cert in bundle {
        let info =
            dockpki::inspect(cert).map_err(|e| Error::from(e).context(from.ca_path().display()))?;
        let signs_certificates = info.key_usages.iter().any(|u| u == "keyCertSign");
        if !info.is_ca || !signs_certificates {
            return Err(Error::new(format!(
                "{} holds {:?} (SHA-256 {}), which is not a CA certificate (CA:TRUE with keyCertSign); a ca.pem holds only the CA certificates to trust: deliver the ca.pem `dockpki sign` wrote",
                from.ca_path().display(),
                info.subject,
                info.fingerprint()
            )));
        }
        if info.not_before > now + dockpki::CLOCK_SKEW_ALLOWANCE {
            return Err(Error::new(format!(
                "{} holds the CA {:?} (SHA-256 {}), valid only from {}, later than this host's clock allows ({}): check the clocks of this host and the CA's host, then deliver again",
                from.ca_path().display(),
                info.subject,
                info.fingerprint(),
                dockpki::format_time(info.not_before),
                dockpki::format_time(now)
            )));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::test_fixtures::{certs, Fixture};
    use crate::report::Silent;
    use dockpki::{CaOptions, CertificateAuthority, LeafRequest, SanList, ServerRequest};
    use std::path::Path;
    use time::Duration;

    /// The daemon's key signed by `ca` at `at`, valid for `lifetime`.
    fn signed(
        f: &Fixture,
        ca: &CertificateAuthority,
        at: OffsetDateTime,
        lifetime: &str,
    ) -> String {
        let key = PrivateKey::from_pem(
            &std::fs::read(Layout::daemon(f.daemon.clone()).key_path()).unwrap(),
        )
        .unwrap();
        let req = LeafRequest::Server(ServerRequest {
            sans: SanList::parse(["localhost"]).unwrap(),
            common_name: None,
            lifetime: lifetime.parse().unwrap(),
        });
        ca.sign(&req, &key, at).unwrap().cert_pem
    }

    /// A delivery directory (0700, in the fixture's root) holding `cert` and the bundle of
    /// `cas`.
    fn delivery(f: &Fixture, name: &str, cert: &str, cas: &[&CertificateAuthority]) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let dir = f._root.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(dir.join("server-cert.pem"), cert).unwrap();
        let bundle: String = cas.iter().map(|ca| ca.cert_pem().to_string()).collect();
        std::fs::write(dir.join("ca.pem"), bundle).unwrap();
        dir
    }

    fn install_from(
        f: &Fixture,
        from: &Path,
        existing: Existing,
        now: OffsetDateTime,
    ) -> Result<Installed> {
        let request = InstallRequest {
            from: from.to_path_buf(),
            dir: f.daemon.clone(),
            existing,
            ca_fingerprint: None,
            lock_timeout: None,
        };
        install(&request, now, &Silent)
    }

    /// The daemon layout's certificate and bundle, as bytes.
    fn files(f: &Fixture) -> (Vec<u8>, Vec<u8>) {
        let layout = Layout::daemon(f.daemon.clone());
        (
            std::fs::read(layout.cert_path()).unwrap(),
            std::fs::read(layout.ca_path()).unwrap(),
        )
    }

    /// A fixture made a day ago (at `t0`), its CA, and a delivery of the daemon's key signed
    /// an hour after `t0`: (fixture, CA, t0, delivery directory).
    fn fixture_and_newer_delivery() -> (Fixture, CertificateAuthority, OffsetDateTime, PathBuf) {
        let t0 = OffsetDateTime::now_utc() - Duration::days(1);
        let f = Fixture::new(t0);
        let ca = f.state.load_ca().unwrap();
        let newer = delivery(
            &f,
            "newer",
            &signed(&f, &ca, t0 + Duration::hours(1), "365d"),
            &[&ca],
        );
        (f, ca, t0, newer)
    }

    fn refused_as_older(result: Result<Installed>, phrase: &str) {
        let e = result.expect_err("an older delivery must be refused");
        assert_eq!(e.advice(), Some(Advice::OlderDelivery), "{e}");
        assert!(e.message().contains(phrase), "{e}");
    }

    #[test]
    fn a_certificate_older_than_the_installed_one_is_refused_without_consent_and_installed_with_it()
    {
        let (f, ca, t0, newer) = fixture_and_newer_delivery();
        let installed =
            std::fs::read_to_string(Layout::daemon(f.daemon.clone()).cert_path()).unwrap();
        let now = t0 + Duration::hours(2);
        let done = install_from(&f, &newer, Existing::Refuse, now).unwrap();
        assert!(done.written.iter().any(|w| w.changed));

        let older = delivery(&f, "older", &installed, &[&ca]);
        let before = files(&f);
        let e = install_from(&f, &older, Existing::Refuse, now);
        refused_as_older(
            e,
            "is older than the certificate for the same key installed in",
        );
        assert_eq!(files(&f), before, "nothing written on refusal");

        let forced = install_from(&f, &older, Existing::ReplaceKeepingBackup, now).unwrap();
        let cert = forced
            .written
            .iter()
            .find(|w| w.path.ends_with("server-cert.pem"))
            .unwrap();
        assert!(cert.changed && cert.backup.as_ref().is_some_and(|b| b.is_file()));
        assert_eq!(files(&f).0, installed.as_bytes());
    }

    /// While another process holds the layout's lock, install waits, gives up after its
    /// timeout with nothing written, and installs once the lock is let go.
    #[test]
    fn an_install_waits_for_the_layouts_lock_and_writes_nothing_when_it_gives_up() {
        let (f, _, t0, newer) = fixture_and_newer_delivery();
        let now = t0 + Duration::hours(2);
        let request = InstallRequest {
            from: newer,
            dir: f.daemon.clone(),
            existing: Existing::Refuse,
            ca_fingerprint: None,
            lock_timeout: Some(std::time::Duration::from_millis(150)),
        };
        let held = crate::fs::lock_dir(&f.daemon, None, &Silent).unwrap();
        let before = files(&f);
        let e = install(&request, now, &Silent).unwrap_err();
        assert_eq!(e.advice(), Some(Advice::LockTimeout), "{e}");
        assert_eq!(files(&f), before, "nothing written while the lock was held");
        drop(held);
        let done = install(&request, now, &Silent).unwrap();
        assert!(done.written.iter().any(|w| w.changed));
        assert_ne!(files(&f), before);
    }

    #[test]
    fn the_same_certificate_again_changes_nothing() {
        let t0 = OffsetDateTime::now_utc() - Duration::days(1);
        let f = Fixture::new(t0);
        let ca = f.state.load_ca().unwrap();
        let installed =
            std::fs::read_to_string(Layout::daemon(f.daemon.clone()).cert_path()).unwrap();
        let same = delivery(&f, "same", &installed, &[&ca]);
        let done = install_from(&f, &same, Existing::Refuse, t0 + Duration::hours(1)).unwrap();
        assert!(
            done.written.iter().all(|w| !w.changed),
            "{:?}",
            done.written
        );
    }

    #[test]
    fn age_orders_by_not_before_then_by_expiry_and_a_tie_is_not_older() {
        let t0 = OffsetDateTime::now_utc() - Duration::days(1);
        let f = Fixture::new(t0);
        let ca = f.state.load_ca().unwrap();
        let at = t0 + Duration::hours(1);
        let der = |pem: String| dockpki::certs_from_pem(pem.as_bytes()).unwrap().remove(0);
        let (short, long) = (
            der(signed(&f, &ca, at, "30d")),
            der(signed(&f, &ca, at, "365d")),
        );
        let (long_again, later) = (
            der(signed(&f, &ca, at, "365d")),
            der(signed(&f, &ca, at + Duration::seconds(1), "30d")),
        );
        let info = |c: &CertificateDer<'_>| dockpki::inspect(c).unwrap();
        let cmp = |a: &CertificateDer<'_>, b: &CertificateDer<'_>| age(a, &info(a), b, &info(b));
        assert_eq!(cmp(&short, &short), Age::Same);
        assert_eq!(
            cmp(&short, &long),
            Age::Older,
            "same notBefore, earlier expiry"
        );
        assert_eq!(cmp(&long, &short), Age::Newer);
        assert_ne!(long.as_ref(), long_again.as_ref());
        assert_eq!(cmp(&long_again, &long), Age::Newer, "same dates: not older");
        assert_eq!(
            cmp(&long, &later),
            Age::Older,
            "earlier notBefore, later expiry"
        );
        assert_eq!(cmp(&later, &long), Age::Newer);
    }

    #[test]
    fn a_rotations_phases_install_in_order_and_an_earlier_bundle_putting_back_the_old_ca_is_refused(
    ) {
        let t0 = OffsetDateTime::now_utc() - Duration::days(1);
        let f = Fixture::new(t0);
        let old = f.state.load_ca().unwrap();
        let t1 = t0 + Duration::hours(1);
        let new = CertificateAuthority::create(&CaOptions::new(t1).unwrap(), t1).unwrap();
        let now = t0 + Duration::hours(3);
        let old_cert =
            std::fs::read_to_string(Layout::daemon(f.daemon.clone()).cert_path()).unwrap();
        let new_cert = signed(&f, &new, t0 + Duration::hours(2), "365d");

        let begun = delivery(&f, "begun", &old_cert, &[&old, &new]);
        let reissued = delivery(&f, "reissued", &new_cert, &[&old, &new]);
        let finished = delivery(&f, "finished", &new_cert, &[&new]);
        // The old certificate with the new CA alone: it does not chain there.
        let broken = delivery(&f, "broken", &old_cert, &[&new]);
        let in_order = |phase: &Path| {
            let done = install_from(&f, phase, Existing::Refuse, now).unwrap();
            assert!(
                done.written.iter().any(|w| w.changed),
                "{}",
                phase.display()
            );
            let layout = Layout::daemon(f.daemon.clone());
            let leaf = certs(&layout.cert_path()).remove(0);
            dockpki::verify_leaf(&leaf, &certs(&layout.ca_path()), Usage::Server, None, now)
                .unwrap();
        };
        in_order(&begun);
        in_order(&reissued);
        refused_as_older(
            install_from(&f, &begun, Existing::Refuse, now),
            "is older than",
        );
        // With old and new trusted, a CA older than the newest (the new one), though newer than
        // the old one, is refused.
        let t_mid = t0 + Duration::minutes(30);
        let mid = CertificateAuthority::create(&CaOptions::new(t_mid).unwrap(), t_mid).unwrap();
        let with_mid = delivery(&f, "with-mid", &new_cert, &[&old, &new, &mid]);
        refused_as_older(
            install_from(&f, &with_mid, Existing::Refuse, now),
            "which was made before the newest CA it trusts",
        );
        in_order(&finished);
        // As old as the newest CA trusted: not older.
        let twin = CertificateAuthority::create(&CaOptions::new(t1).unwrap(), t1).unwrap();
        assert_eq!(twin.info().not_before, new.info().not_before);
        let with_twin = delivery(&f, "with-twin", &new_cert, &[&new, &twin]);
        install_from(&f, &with_twin, Existing::Refuse, now).unwrap();
        in_order(&finished);
        let before = files(&f);
        refused_as_older(
            install_from(&f, &reissued, Existing::Refuse, now),
            "which was made before the newest CA it trusts",
        );
        assert!(install_from(&f, &broken, Existing::Refuse, now).is_err());
        assert_eq!(files(&f), before, "nothing written on refusal");

        // A newer CA added (the next rotation's begin) installs.
        let t4 = t0 + Duration::hours(4);
        let next = CertificateAuthority::create(&CaOptions::new(t4).unwrap(), t4).unwrap();
        let next_begun = delivery(&f, "next-begun", &new_cert, &[&new, &next]);
        install_from(&f, &next_begun, Existing::Refuse, t0 + Duration::hours(5)).unwrap();

        // With consent, the old CA is put back (a backup of the bundle kept).
        let forced = install_from(&f, &reissued, Existing::ReplaceKeepingBackup, now).unwrap();
        let ca = forced
            .written
            .iter()
            .find(|w| w.path.ends_with("ca.pem"))
            .unwrap();
        assert!(ca.changed && ca.backup.as_ref().is_some_and(|b| b.is_file()));
    }

    #[test]
    fn a_bundle_holding_a_leaf_or_a_ca_not_valid_yet_is_refused_even_with_consent() {
        let t0 = OffsetDateTime::now_utc() - Duration::days(1);
        let f = Fixture::new(t0);
        let ca = f.state.load_ca().unwrap();
        let now = t0 + Duration::hours(3);
        let cert = signed(&f, &ca, t0 + Duration::hours(2), "365d");
        // The layout's own certificate in ca.pem, next to the CA: Go would trust it as a root.
        let with_leaf = delivery(&f, "with-leaf", &cert, &[&ca]);
        let mut bundle = std::fs::read_to_string(with_leaf.join("ca.pem")).unwrap();
        bundle.push_str(&cert);
        std::fs::write(with_leaf.join("ca.pem"), bundle).unwrap();
        // A CA valid only from next year: it verifies nothing, and would block the next rotation.
        let later = now + Duration::days(365);
        let future = CertificateAuthority::create(&CaOptions::new(later).unwrap(), later).unwrap();
        let with_future = delivery(&f, "with-future", &cert, &[&ca, &future]);
        // Within the clock-skew allowance it is taken (another host's clock a little ahead).
        let soon = now + Duration::minutes(4);
        let skewed = CertificateAuthority::create(&CaOptions::new(soon).unwrap(), soon).unwrap();
        let with_skewed = delivery(&f, "with-skewed", &cert, &[&ca, &skewed]);
        let before = files(&f);
        for existing in [Existing::Refuse, Existing::ReplaceKeepingBackup] {
            let e = install_from(&f, &with_leaf, existing, now).unwrap_err();
            assert!(e.message().contains("which is not a CA certificate"), "{e}");
            let e = install_from(&f, &with_future, existing, now).unwrap_err();
            assert!(e.message().contains("valid only from"), "{e}");
            assert_eq!(files(&f), before, "nothing written on refusal");
        }
        install_from(&f, &with_skewed, Existing::Refuse, now).unwrap();
        assert_eq!(certs(&Layout::daemon(f.daemon.clone()).ca_path()).len(), 2);
    }
}
