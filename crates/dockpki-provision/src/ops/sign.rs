//! `dockpki sign`: certifying a request made on another host, on the host that holds the CA.
//! What comes back is a certificate and the CA bundle, never a key: the key stayed where the
//! request was made.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use dockpki::{CertInfo, Lifetime, SubjectAltName, Usage, VerifiedCsr};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::fs::reader::{self, Limit, Links};
use crate::fs::{Existing, WritePlan, Written};
use crate::layout::Layout;
use crate::store::expiry::{is_due, RenewalWindow};
use crate::store::inventory::{Inventory, Record, RemoteInfo, Status};
use crate::store::State;

/// A request to sign a certificate signing request.
#[derive(Clone, Debug)]
pub struct SignRequest {
    /// The request file (PEM), e.g. a host's `server.csr` fetched to the CA's host.
    pub csr: PathBuf,
    /// The kind of certificate, the signer's choice, never the request's: a request asking for
    /// a server certificate (serverAuth) is refused unless this is [`Usage::Server`]; a client
    /// certificate carries no SANs, so a request's SANs are dropped (and listed in
    /// [`Signed::ignored`]).
    pub usage: Usage,
    /// How long the certificate is valid.
    pub lifetime: Lifetime,
    /// The host label recorded in the inventory; `None`: the request's common name.
    pub host: Option<String>,
    /// The directory the certificate and `ca.pem` are written to, to be delivered to the host.
    pub out: PathBuf,
    /// Whether existing files in `out` may be replaced (kept as timestamped backups). Not
    /// needed in the directory the inventory records as this host's delivery directory for
    /// this kind: dockpki wrote those files (backups are kept all the same).
    pub existing: Existing,
    /// Whether the host label may be given to a new key: without it, a label an active remote
    /// certificate of the same kind holds for another public key is refused (two hosts under one
    /// label would supersede each other's certificates).
    pub replace: bool,
    /// Whether to sign a new certificate although this host already has one that would do
    /// ([`Signed::newly_signed`] says when it has): `--resign`.
    pub resign: bool,
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
    /// The CA that signed it: its SHA-256 fingerprint is what `dockpki install
    /// --ca-fingerprint` takes on the host.
    pub signing_ca: CertInfo,
    /// What the request asked for that was not taken (see [`VerifiedCsr::ignored`]), and, for a
    /// client certificate, each SAN of the request (`SAN "name"`), which a client certificate
    /// does not carry.
    pub ignored: Vec<String>,
    /// The files written, with their backups (unchanged files are listed with `changed:
    /// false`).
    pub written: Vec<Written>,
    /// Whether a certificate was signed now: `false` when the host already had an active one
    /// for this request's key and names from the signing CA (or, during a rotation, the CA it
    /// retires), not due for renewal, which
    /// [`Signed::certificate`] then describes.
    pub newly_signed: bool,
}

impl Signed {
    /// Whether anything changed: a certificate signed, or a file written.
    pub fn changed(&self) -> bool {
        self.newly_signed || self.written.iter().any(|w| w.changed)
    }
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
/// state's signing CA (the new CA during a rotation) as the kind `request.usage` says, taking
/// only the common name, SANs (for a server) and public key from it
/// ([`dockpki::CertificateAuthority::sign_csr`]), records the certificate with the request and
/// the host in the inventory ([`RemoteInfo`]), and writes the certificate (`server-cert.pem` or
/// `cert.pem`) and the trust bundle (`ca.pem`) into `request.out`, in one journaled update. No
/// key is written. The request file is read once.
///
/// Unless [`SignRequest::resign`], nothing is signed when the host label's active certificate
/// of this kind is for the request's key, common name and SANs, from the CA that signs now (or,
/// while a rotation is in progress, from the CA it retires: `ca rotate reissue` re-signs it),
/// not due for renewal by the default rule, and still in `out` (its recorded delivery
/// directory): `out` is brought up to date with it and the current bundle, rewriting only what
/// differs, and [`Signed::newly_signed`] is `false`. The lifetime asked for does not matter
/// then. No CA key is loaded on that path.
///
/// # Errors
/// When the request cannot be read or verified, it asks for a server certificate and
/// `request.usage` is not [`Usage::Server`], the CA refuses it (SAN syntax, name constraints, a
/// lifetime beyond the CA's), the CA cannot be loaded, the host label is empty, the label is an
/// active remote certificate's of the same kind for another key (without
/// [`SignRequest::replace`]), `out` is another remote certificate's delivery directory or lies
/// in the state directory or in a layout the inventory records, or the files cannot be written
/// (an existing one without [`Existing::ReplaceKeepingBackup`]); nothing is written then.
pub fn sign(state: &State, request: &SignRequest, now: OffsetDateTime) -> Result<Signed> {
    let csr = read_csr(&request.csr)?;
    let usage = request.usage;
    if usage == Usage::Client && csr.requested_usage() == Some(Usage::Server) {
        return Err(Error::new(format!(
            "{} asks for a server certificate (serverAuth); if this host is to serve the Docker API, sign it with --kind server, else make a client request there (`dockpki request client`)",
            request.csr.display()
        )));
    }
    let host = match &request.host {
        Some(h) => h.clone(),
        None => csr.common_name().unwrap_or_default().to_string(),
    };
    if host.trim().is_empty() || host.chars().any(char::is_control) {
        return Err(Error::new(format!(
            "the host label {host:?} is empty or has control characters; pass --host LABEL"
        )));
    }
    let layout = Layout::for_usage(usage, request.out.clone());
    let inventory = state.load_inventory()?;
    refuse_conflicts(state, &inventory, request, &csr, usage, &host, &layout.dir)?;
    // The files in the host's own recorded delivery directory are dockpki's: replaced (with
    // backups) without the caller's consent, as `renew` and a rotation replace them.
    let ours = inventory.certificates.iter().any(|r| {
        r.kind == usage
            && r.remote
                .as_ref()
                .is_some_and(|d| d.host == host && d.out == layout.dir)
    });
    let mut ignored = csr.ignored().to_vec();
    if usage == Usage::Client {
        ignored.extend(csr.sans().iter().map(|san| format!("SAN {san:?}")));
    }
    if !request.resign {
        if let Some(done) = already_signed(state, &inventory, &csr, usage, &host, &layout, now)? {
            let mut plan = WritePlan::new(request.existing);
            plan_out(&mut plan, &layout, &done.bundle, &done.cert_pem, ours);
            let written = state.commit(state.feed_contexts(plan)?)?;
            return Ok(Signed {
                usage,
                host,
                certificate: done.certificate,
                cert_path: layout.cert_path(),
                ca_path: layout.ca_path(),
                signing_ca: done.signing_ca,
                ignored,
                written,
                newly_signed: false,
            });
        }
    }
    let ca = state.load_ca()?;
    let signed = ca
        .sign_csr(&csr, usage, request.lifetime, now)
        .map_err(|e| Error::from(e).context(request.csr.display()))?;
    let mut plan = WritePlan::new(request.existing);
    let (ca_path, cert_path) = (layout.ca_path(), layout.cert_path());
    plan_out(
        &mut plan,
        &layout,
        &state.trust_bundle_pem(&ca)?,
        &signed.cert_pem,
        ours,
    );
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
        signing_ca: ca.info().clone(),
        ignored,
        written,
        newly_signed: true,
    })
}

/// Plans the certificate and the bundle into the delivery directory `out`: replacing what is
/// there without consent when `ours` (the host's recorded delivery directory), else as the
/// plan's `Existing` says.
fn plan_out(plan: &mut WritePlan, out: &Layout, bundle: &str, cert_pem: &str, ours: bool) {
    for (path, pem) in [(out.ca_path(), bundle), (out.cert_path(), cert_pem)] {
        if ours {
            plan.cert_replacing(path, pem, None);
        } else {
            plan.cert(path, pem, None);
        }
    }
}

/// A certificate already signed that does for a request (see [`already_signed`]).
struct AlreadySigned {
    certificate: CertInfo,
    cert_pem: String,
    bundle: String,
    signing_ca: CertInfo,
}

/// The host's active certificate of this kind, when it does for `csr` as it is: for the same
/// public key, with the common name and the set of SANs signing `csr` now would give it, from
/// the CA that would sign now or, during a rotation, the CA it retires, not due for renewal by the
/// default rule ([`RenewalWindow::Relative`]), and still in `out`, its recorded delivery
/// directory (a certificate is not kept anywhere else: without it there, a new one is signed).
/// No CA key is loaded.
fn already_signed(
    state: &State,
    inventory: &Inventory,
    csr: &VerifiedCsr,
    usage: Usage,
    host: &str,
    out: &Layout,
    now: OffsetDateTime,
) -> Result<Option<AlreadySigned>> {
    let Some(record) = inventory.certificates.iter().rev().find(|r| {
        r.status == Status::Active
            && r.kind == usage
            && r.remote.as_ref().is_some_and(|d| d.host == host)
    }) else {
        return Ok(None);
    };
    let Some(remote) = &record.remote else {
        return Ok(None);
    };
    let same_key = VerifiedCsr::from_pem(remote.csr_pem.as_bytes())
        .is_ok_and(|old| old.public_key_spki() == csr.public_key_spki());
    let Some((common_name, sans)) = certified_names(csr, usage) else {
        return Ok(None);
    };
    let recorded_sans: Option<BTreeSet<String>> = record
        .sans
        .iter()
        .map(|s| s.parse::<SubjectAltName>().ok().map(|s| s.to_string()))
        .collect();
    if !same_key
        || remote.out != out.dir
        || record.common_name.as_deref() != Some(common_name.as_str())
        || recorded_sans.as_ref() != Some(&sans)
        || is_due(
            record.not_before,
            record.not_after,
            now,
            RenewalWindow::Relative,
        )
    {
        return Ok(None);
    }
    // From the CA that signs now, or, while a rotation is in progress, from the CA it retires:
    // every layout trusts both until the rotation finishes, and `ca rotate reissue` re-signs
    // every host's request then. Signing anew from the new CA before that (a fleet tool
    // re-running its playbook mid-rotation) would hand a daemon a certificate its clients
    // refuse until their own bundle reaches them.
    let signing_ca = dockpki::inspect(&state.signing_ca_cert()?)?;
    let signed_by = if signing_ca.fingerprint().matches(&record.ca_sha256) {
        signing_ca
    } else if state.rotating() {
        let retiring = state.cert_info(&state.ca_cert_path())?;
        if !retiring.fingerprint().matches(&record.ca_sha256) {
            return Ok(None);
        }
        retiring
    } else {
        return Ok(None);
    };
    // The certificate itself is only in the delivery directory: it must still be there.
    let delivered = reader::read_optional(&out.cert_path(), Links::Refuse, Limit::Pem)
        .ok()
        .flatten()
        .and_then(|pem| dockpki::certs_from_pem(&pem).ok())
        .and_then(|mut certs| (!certs.is_empty()).then(|| certs.swap_remove(0)));
    let Some(der) = delivered else {
        return Ok(None);
    };
    let Ok(certificate) = dockpki::inspect(&der) else {
        return Ok(None);
    };
    if !certificate.fingerprint().matches(&record.sha256) {
        return Ok(None);
    }
    Ok(Some(AlreadySigned {
        certificate,
        cert_pem: dockpki::cert_to_pem(&der),
        bundle: state.signing_trust_bundle_pem()?,
        signing_ca: signed_by,
    }))
}

/// The common name and the set of SANs (each as dockpki writes it) a certificate of kind
/// `usage` signed from `csr` carries ([`VerifiedCsr::certified_names`]). `None` when the
/// request's names are not ones dockpki certifies (signing it would be refused).
fn certified_names(csr: &VerifiedCsr, usage: Usage) -> Option<(String, BTreeSet<String>)> {
    let names = csr.certified_names(usage).ok()?;
    Some((
        names.common_name,
        names.sans.iter().map(ToString::to_string).collect(),
    ))
}

/// Refuses a signing that would mix up hosts: `out` delivering another remote certificate
/// (another host, or the other kind), `out` inside the state directory or a recorded layout
/// (where the certificate would be taken for that layout's), or `host` naming an active remote
/// certificate of the same kind for another key without [`SignRequest::replace`].
fn refuse_conflicts(
    state: &State,
    inventory: &Inventory,
    request: &SignRequest,
    csr: &VerifiedCsr,
    usage: Usage,
    host: &str,
    out: &Path,
) -> Result<()> {
    if out.starts_with(state.dir()) {
        return Err(Error::new(format!(
            "--out {} is inside the state directory {}; give a directory of its own for the delivery",
            out.display(),
            state.dir().display()
        )));
    }
    let active = inventory
        .certificates
        .iter()
        .filter(|r| r.status == crate::store::inventory::Status::Active);
    for record in active {
        if let Some(layout) = record.installed.iter().find(|d| out.starts_with(d)) {
            return Err(Error::new(format!(
                "--out {} is inside the layout {}, which holds {} certificate {}; give a directory of its own for the delivery",
                out.display(),
                layout.display(),
                record.kind,
                record.serial
            )));
        }
        let Some(remote) = &record.remote else {
            continue;
        };
        if remote.out == out && (remote.host != host || record.kind != usage) {
            return Err(Error::new(format!(
                "--out {} delivers the {} certificate of host {:?} (serial {}); give each host and kind a directory of its own",
                out.display(),
                record.kind,
                remote.host,
                record.serial
            )));
        }
        if remote.host == host && record.kind == usage && !request.replace {
            let same_key = VerifiedCsr::from_pem(remote.csr_pem.as_bytes())
                .is_ok_and(|old| old.public_key_spki() == csr.public_key_spki());
            if !same_key {
                return Err(Error::new(format!(
                    "host {host:?} already has an active {usage} certificate (serial {}) for another key; pass --host with this host's own label, or --replace if this host took the label over",
                    record.serial
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use dockpki::{KeyType, SanList};

    use super::*;
    use crate::ops::install::{install, InstallRequest};
    use crate::ops::renew::{renew, KeyPolicy, RenewRequest, Renewed, Selection};
    use crate::ops::request::{request, CsrRequest, CsrSubject, KeyChoice};
    use crate::ops::test_fixtures::{installed_spki, Fixture};
    use crate::report::Silent;
    use crate::store::inventory::Status;

    fn server_request(dir: &Path) -> CsrRequest {
        CsrRequest {
            subject: CsrSubject::Server {
                sans: SanList::parse(["web1.example.com"]).unwrap(),
                common_name: None,
            },
            key: KeyChoice::KeepExisting(KeyType::EcdsaP256),
            dir: dir.to_path_buf(),
            lock_timeout: None,
        }
    }

    fn sign_request(csr: PathBuf, out: PathBuf, existing: Existing) -> SignRequest {
        SignRequest {
            csr,
            usage: Usage::Server,
            lifetime: "30d".parse().unwrap(),
            host: Some("web1".into()),
            out,
            existing,
            replace: false,
            resign: false,
        }
    }

    /// Host web1's part of a fleet on the fixture's state: a server request made (key and CSR)
    /// in `root/web1/pki`, to be delivered into `root/signed/web1`.
    /// Signs `csr` into `out` as [`sign_request`] asks (no consent, no `--resign`), at `now`.
    fn sign_again(f: &Fixture, csr: &Path, out: &Path, now: OffsetDateTime) -> Signed {
        let request = sign_request(csr.to_path_buf(), out.to_path_buf(), Existing::Refuse);
        sign(&f.state, &request, now).unwrap()
    }

    struct Web1 {
        f: Fixture,
        host: PathBuf,
        out: PathBuf,
        csr: PathBuf,
    }

    fn web1(now: OffsetDateTime) -> Web1 {
        let f = Fixture::new(now);
        let root = f.state.dir().parent().unwrap().to_path_buf();
        let (host, out) = (root.join("web1/pki"), root.join("signed/web1"));
        let csr = request(&server_request(&host), &Silent).unwrap().csr_path;
        Web1 { f, host, out, csr }
    }

    #[test]
    fn a_signed_request_installs_for_the_hosts_own_key_and_is_recorded_as_remote() {
        let now = OffsetDateTime::now_utc();
        let Web1 { f, host, out, csr } = web1(now);
        let signed = sign_again(&f, &csr, &out, now);
        assert_eq!(signed.usage, Usage::Server);
        assert!(
            !out.join("server-key.pem").exists(),
            "sign never writes a key"
        );
        let installed = install(
            &InstallRequest {
                from: out.clone(),
                dir: host.clone(),
                existing: Existing::Refuse,
                ca_fingerprint: Some(signed.signing_ca.fingerprint()),
                lock_timeout: None,
            },
            now,
            &Silent,
        )
        .unwrap();
        assert!(installed.needs_daemon_restart());
        let layout = Layout::daemon(host.clone());
        assert_eq!(installed_spki(&layout), {
            let pem = std::fs::read(layout.key_path()).unwrap();
            dockpki::PrivateKey::from_pem(&pem)
                .unwrap()
                .public_key_spki()
        });
        let inventory = f.state.load_inventory().unwrap();
        let record = inventory.certificates.last().unwrap();
        assert_eq!(record.remote_host(), Some("web1"));
        assert!(record.installed.is_empty());
        assert_eq!(record.remote.as_ref().unwrap().out, out);

        // A second signing for the same host (asked for: the first would still do) supersedes
        // the first; the old fixture records (other layouts) are untouched.
        let mut resign = sign_request(csr, out, Existing::Refuse);
        resign.resign = true;
        let again = sign(&f.state, &resign, now).unwrap();
        assert!(again.newly_signed);
        let inventory = f.state.load_inventory().unwrap();
        let remote: Vec<_> = inventory
            .certificates
            .iter()
            .filter(|r| r.remote_host() == Some("web1"))
            .collect();
        assert_eq!(remote.len(), 2);
        assert_eq!(remote[0].status, Status::Superseded);
        assert_eq!(remote[1].status, Status::Active);
        assert_eq!(remote[1].serial, again.certificate.serial);
        assert_eq!(
            inventory
                .certificates
                .iter()
                .filter(|r| r.status == Status::Active)
                .count(),
            4
        );
    }

    #[test]
    fn renew_all_re_signs_remote_requests_and_renews_local_layouts_in_one_update() {
        let now = OffsetDateTime::now_utc();
        let Web1 { f, host, out, csr } = web1(now);
        let first = sign(
            &f.state,
            &sign_request(csr, out.clone(), Existing::Refuse),
            now,
        )
        .unwrap();
        let renewal = renew(
            &f.state,
            &RenewRequest {
                selection: Selection::All,
                key_policy: KeyPolicy::Fresh,
                lifetime: None,
            },
            now,
        )
        .unwrap();
        assert_eq!(
            renewal.renewed.len(),
            4,
            "three layouts and one remote host"
        );
        let remote: Vec<_> = renewal
            .renewed
            .iter()
            .filter(|r| r.remote.is_some())
            .collect();
        assert_eq!(remote.len(), 1);
        assert_eq!(remote[0].old_serial, first.certificate.serial);
        assert_eq!(remote[0].key_policy, KeyPolicy::Reuse);
        assert!(!renewal.restart_daemons().contains(&out));
        // The new certificate in the out directory is for the host's key.
        let cert = dockpki::certs_from_pem(&std::fs::read(out.join("server-cert.pem")).unwrap())
            .unwrap()
            .swap_remove(0);
        let key =
            dockpki::PrivateKey::from_pem(&std::fs::read(host.join("server-key.pem")).unwrap())
                .unwrap();
        assert!(dockpki::key_matches_cert(&key, &cert));
        assert_eq!(
            dockpki::inspect(&cert).unwrap().serial,
            remote[0].certificate.serial
        );
    }

    #[test]
    fn a_request_for_a_san_outside_the_name_constraints_writes_nothing() {
        let now = OffsetDateTime::now_utc();
        let root = tempfile::tempdir().unwrap();
        let state = crate::ops::test_fixtures::open(root.path());
        let mut options = dockpki::CaOptions::new(now).unwrap();
        options
            .name_constraints
            .permitted_dns
            .push("example.org".parse().unwrap());
        let ca = dockpki::CertificateAuthority::create(&options, now).unwrap();
        let mut plan = WritePlan::new(Existing::Refuse);
        state
            .plan_ca(&mut plan, &ca, crate::store::KeyProtection::Plain)
            .unwrap();
        state.commit(state.feed_contexts(plan).unwrap()).unwrap();
        let host = root.path().join("host");
        let made = request(&server_request(&host), &Silent).unwrap();
        let inventory_before = std::fs::read(state.inventory_path()).ok();
        let out = root.path().join("out");
        let err = sign(
            &state,
            &sign_request(made.csr_path, out.clone(), Existing::Refuse),
            now,
        )
        .unwrap_err();
        assert!(err.to_string().contains("name constraints"), "{err}");
        assert!(!out.exists());
        assert_eq!(std::fs::read(state.inventory_path()).ok(), inventory_before);
    }

    #[test]
    fn a_server_request_signed_without_kind_server_is_refused_and_writes_nothing() {
        let now = OffsetDateTime::now_utc();
        let Web1 { f, out, csr, .. } = web1(now);
        let before = std::fs::read(f.state.inventory_path()).ok();
        let mut req = sign_request(csr, out.clone(), Existing::Refuse);
        req.usage = Usage::Client;
        let err = sign(&f.state, &req, now).unwrap_err();
        assert!(err.to_string().contains("--kind server"), "{err}");
        assert!(!out.exists());
        assert_eq!(std::fs::read(f.state.inventory_path()).ok(), before);
    }

    #[test]
    fn a_remote_delivery_dir_that_cannot_be_written_keeps_the_old_record_active() {
        use std::os::unix::fs::PermissionsExt;
        let now = OffsetDateTime::now_utc();
        let Web1 { f, out, csr, .. } = web1(now);
        let first = sign(
            &f.state,
            &sign_request(csr, out.clone(), Existing::Refuse),
            now,
        )
        .unwrap();
        let cert_before = std::fs::read(out.join("server-cert.pem")).unwrap();
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();
        let renewal = renew(
            &f.state,
            &RenewRequest {
                selection: Selection::All,
                key_policy: KeyPolicy::Fresh,
                lifetime: None,
            },
            now,
        )
        .unwrap();
        assert!(renewal.renewed.iter().all(|r| r.remote.is_none()));
        assert_eq!(renewal.skipped.len(), 1, "{:?}", renewal.skipped);
        assert_eq!(renewal.skipped[0].0, out);
        assert_eq!(
            std::fs::read(out.join("server-cert.pem")).unwrap(),
            cert_before
        );
        let inventory = f.state.load_inventory().unwrap();
        let remote: Vec<_> = inventory
            .certificates
            .iter()
            .filter(|r| r.remote_host() == Some("web1"))
            .collect();
        assert_eq!(remote.len(), 1, "no new certificate recorded for it");
        assert_eq!(remote[0].status, Status::Active);
        assert_eq!(remote[0].serial, first.certificate.serial);

        // Put right, it is renewed and recorded by the next renewal, even one that leaves a
        // local layout out (bob made his group-writable).
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&f.bob, std::fs::Permissions::from_mode(0o770)).unwrap();
        let renewal = renew(
            &f.state,
            &RenewRequest {
                selection: Selection::All,
                key_policy: KeyPolicy::Fresh,
                lifetime: None,
            },
            now,
        )
        .unwrap();
        let skipped: Vec<&PathBuf> = renewal.skipped.iter().map(|(d, _)| d).collect();
        assert_eq!(skipped, [&f.bob], "{:?}", renewal.skipped);
        let delivered: Vec<&Renewed> = renewal
            .renewed
            .iter()
            .filter(|r| r.remote.is_some())
            .collect();
        assert_eq!(delivered.len(), 1);
        assert_ne!(
            std::fs::read(out.join("server-cert.pem")).unwrap(),
            cert_before
        );
        let inventory = f.state.load_inventory().unwrap();
        let remote: Vec<(&str, Status)> = inventory
            .certificates
            .iter()
            .filter(|r| r.remote_host() == Some("web1"))
            .map(|r| (r.serial.as_str(), r.status))
            .collect();
        assert_eq!(
            remote,
            [
                (first.certificate.serial.as_str(), Status::Superseded),
                (delivered[0].certificate.serial.as_str(), Status::Active)
            ]
        );
    }

    /// Each file's inode and modification time: the same after a run that wrote nothing.
    fn stamps(paths: &[PathBuf]) -> Vec<(u64, std::time::SystemTime)> {
        use std::os::unix::fs::MetadataExt;
        paths
            .iter()
            .map(|p| {
                let m = std::fs::metadata(p).unwrap();
                (m.ino(), m.modified().unwrap())
            })
            .collect()
    }

    #[test]
    fn signing_the_same_request_again_signs_nothing_and_writes_nothing_whatever_the_validity() {
        let now = OffsetDateTime::now_utc();
        let Web1 { f, out, csr, .. } = web1(now);
        let first = sign_again(&f, &csr, &out, now);
        assert!(first.newly_signed && first.changed());
        let files = [
            out.join("server-cert.pem"),
            out.join("ca.pem"),
            f.state.inventory_path(),
        ];
        let before = stamps(&files);
        let inventory = std::fs::read(f.state.inventory_path()).unwrap();
        let mut again = sign_request(csr, out.clone(), Existing::Refuse);
        again.lifetime = "90d".parse().unwrap();
        let second = sign(&f.state, &again, now + time::Duration::days(1)).unwrap();
        assert!(!second.newly_signed && !second.changed(), "{second:?}");
        assert_eq!(second.certificate.serial, first.certificate.serial);
        assert_eq!(stamps(&files), before);
        assert_eq!(std::fs::read(f.state.inventory_path()).unwrap(), inventory);
        // A bundle gone from the delivery directory is written again, the certificate kept,
        // without consent (the directory is the host's recorded one).
        std::fs::remove_file(out.join("ca.pem")).unwrap();
        let third = sign(
            &f.state,
            &sign_request(again.csr.clone(), out.clone(), Existing::Refuse),
            now,
        )
        .unwrap();
        assert!(!third.newly_signed && third.changed());
        assert_eq!(
            std::fs::read(out.join("ca.pem")).unwrap(),
            f.state.signing_trust_bundle_pem().unwrap().into_bytes()
        );
    }

    #[test]
    fn a_due_certificate_new_sans_or_resign_sign_anew_without_consent() {
        let now = OffsetDateTime::now_utc();
        let Web1 { f, host, out, csr } = web1(now);
        let first = sign_again(&f, &csr, &out, now);
        let serials = |signed: &Signed| signed.certificate.serial.clone();
        // 30 days: due with 10 days left.
        let due = sign_again(&f, &csr, &out, now + time::Duration::days(21));
        assert!(due.newly_signed);
        assert_ne!(serials(&due), serials(&first));
        let mut resign = sign_request(csr.clone(), out.clone(), Existing::Refuse);
        resign.resign = true;
        let resigned = sign(&f.state, &resign, now).unwrap();
        assert!(resigned.newly_signed);
        assert_ne!(serials(&resigned), serials(&due));
        // A SAN added on the host: a new request, a new certificate.
        let mut wider = server_request(&host);
        wider.subject = CsrSubject::Server {
            sans: SanList::parse(["web1.example.com", "192.0.2.7"]).unwrap(),
            common_name: None,
        };
        assert!(request(&wider, &Silent).unwrap().changed());
        let widened = sign_again(&f, &csr, &out, now);
        assert!(widened.newly_signed);
        assert_eq!(
            widened.certificate.san_strings(),
            ["web1.example.com", "192.0.2.7"]
        );
    }

    #[test]
    fn mid_rotation_a_certificate_from_the_retiring_ca_stays_and_only_resign_or_reissue_replace_it()
    {
        let now = OffsetDateTime::now_utc();
        let Web1 { f, out, csr, .. } = web1(now);
        let first = sign_again(&f, &csr, &out, now);
        let old_ca = first.signing_ca.sha256_fingerprint.clone();
        crate::ops::rotate::begin(
            &f.state,
            &crate::ops::rotate::BeginRequest {
                key_type: None,
                lifetime: "10y".parse().unwrap(),
            },
            now,
        )
        .unwrap();
        // Signing again mid-rotation (a playbook run again) keeps the old CA's certificate,
        // which every layout still trusts, and delivers the bundle of both CAs with it.
        let kept = sign_again(&f, &csr, &out, now);
        assert!(!kept.newly_signed, "{kept:?}");
        assert_eq!(kept.certificate.serial, first.certificate.serial);
        assert_eq!(kept.signing_ca.sha256_fingerprint, old_ca);
        assert_eq!(
            std::fs::read(out.join("ca.pem")).unwrap(),
            f.state.signing_trust_bundle_pem().unwrap().into_bytes()
        );
        let next = f.state.cert_info(&f.state.ca_next_cert_path()).unwrap();
        // The rotation's reissue re-signs it from the new CA; signing again keeps that one.
        crate::ops::rotate::reissue(&f.state, now).unwrap();
        let reissued = sign_again(&f, &csr, &out, now);
        assert!(!reissued.newly_signed, "{reissued:?}");
        assert_ne!(reissued.certificate.serial, first.certificate.serial);
        assert_eq!(
            reissued.signing_ca.sha256_fingerprint,
            next.sha256_fingerprint
        );
        // --resign: the new CA signs anew, and that certificate then stays.
        let mut resign = sign_request(csr.clone(), out.clone(), Existing::Refuse);
        resign.resign = true;
        let rotated = sign(&f.state, &resign, now).unwrap();
        assert!(rotated.newly_signed);
        assert_eq!(
            rotated.signing_ca.sha256_fingerprint,
            next.sha256_fingerprint
        );
        let again = sign_again(&f, &csr, &out, now);
        assert!(!again.changed(), "{again:?}");
        assert_eq!(again.certificate.serial, rotated.certificate.serial);
    }

    #[test]
    fn install_replaces_a_certificate_for_the_same_key_without_consent_and_keeps_a_backup() {
        let now = OffsetDateTime::now_utc();
        let Web1 { f, host, out, csr } = web1(now);
        let first = sign_again(&f, &csr, &out, now);
        let install_request = InstallRequest {
            from: out.clone(),
            dir: host.clone(),
            existing: Existing::Refuse,
            ca_fingerprint: Some(first.signing_ca.fingerprint()),
            lock_timeout: None,
        };
        install(&install_request, now, &Silent).unwrap();
        let same = install(&install_request, now, &Silent).unwrap();
        assert!(same.written.iter().all(|w| !w.changed));
        let mut resign = sign_request(csr, out.clone(), Existing::Refuse);
        resign.resign = true;
        let renewed = sign(&f.state, &resign, now).unwrap();
        let installed = install(&install_request, now, &Silent).unwrap();
        assert_eq!(installed.certificate.serial, renewed.certificate.serial);
        let cert = installed
            .written
            .iter()
            .find(|w| w.path == host.join("server-cert.pem"))
            .unwrap();
        assert!(cert.changed && cert.backup.as_ref().is_some_and(|b| b.exists()));

        // A certificate there for another key is replaced only with consent.
        let layout = Layout::daemon(host.clone());
        std::fs::remove_file(layout.cert_path()).unwrap();
        std::fs::copy(f.daemon.join("server-cert.pem"), layout.cert_path()).unwrap();
        let foreign = std::fs::read(layout.cert_path()).unwrap();
        let err = install(&install_request, now, &Silent).unwrap_err();
        assert_eq!(err.advice(), Some(crate::error::Advice::Force), "{err}");
        assert_eq!(std::fs::read(layout.cert_path()).unwrap(), foreign);
        let forced = InstallRequest {
            existing: Existing::ReplaceKeepingBackup,
            ..install_request
        };
        install(&forced, now, &Silent).unwrap();
    }
}
