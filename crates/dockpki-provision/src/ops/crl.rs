//! A CRL signed by the state's CA, listing the certificates it issued that were revoked
//! ([`crate::ops::revoke()`]), optionally written to a file.

use std::path::{Path, PathBuf};

use dockpki::{CertificateAuthority, OffsetDateTime, RevokedCert};

use crate::error::{Error, Result};
use crate::fs::reader::{self, Limit, Links};
use crate::fs::{Existing, Previous, WritePlan, Written};
use crate::store::inventory::Status;
use crate::store::State;

/// How long a CRL is valid (its nextUpdate): relying parties that check CRLs refuse an outdated
/// one, so it must be regenerated within this period, e.g. by the same daily job as renewal.
pub const CRL_VALIDITY: time::Duration = time::Duration::days(30);

/// A request for a CRL.
#[derive(Clone, Debug, Default)]
pub struct CrlRequest {
    /// The file to write it to (mode 0444), if any; else it is only returned.
    pub out: Option<PathBuf>,
    /// Whether a file at `out` that is not a CRL of this CA may be replaced (kept as a
    /// timestamped backup). A CRL this CA issued is always replaced, the previous one kept as
    /// `FILE.bak`.
    pub existing: Existing,
}

/// What [`crl`] made.
#[derive(Clone, Debug)]
pub struct CrlGenerated {
    /// The issuer: the signing CA's subject.
    pub issuer: String,
    /// When the CRL was made (thisUpdate).
    pub this_update: OffsetDateTime,
    /// When it must be replaced (nextUpdate), [`CRL_VALIDITY`] later.
    pub next_update: OffsetDateTime,
    /// The serials it lists.
    pub revoked_serials: Vec<String>,
    /// The CRL, PEM.
    pub pem: String,
    /// The file written, with its backup (empty without [`CrlRequest::out`]).
    pub written: Vec<Written>,
}

/// Makes a CRL signed by the state's signing CA (the new one during a rotation) listing every
/// revoked certificate that CA issued (a CRL speaks only for its signer's certificates), valid
/// for [`CRL_VALIDITY`] from `now`. With `request.out`, writes it there crash-safely.
///
/// The file may live anywhere (a web root), so like `daemon.json` its update keeps its own
/// journal next to it (see [`crate::fs::journal::recover_next_to`]), first completing an
/// update of it a crash interrupted; the state's journal writes layouts only. Notices go to
/// the state's [`Report`](crate::report::Report).
///
/// # Errors
/// When the CA cannot be loaded, the inventory cannot be read, or the file cannot be written
/// (a file there that is not a CRL of this CA without [`Existing::ReplaceKeepingBackup`], not
/// a regular file, an untrusted directory).
pub fn crl(state: &State, request: &CrlRequest, now: OffsetDateTime) -> Result<CrlGenerated> {
    let ca = state.load_ca()?;
    let inventory = state.load_inventory()?;
    let ca_fp = ca.info().fingerprint();
    let revoked: Vec<RevokedCert> = inventory
        .certificates
        .iter()
        .filter(|r| r.status == Status::Revoked && ca_fp.matches(&r.ca_sha256))
        .map(|r| RevokedCert {
            serial: r.serial.clone(),
            revoked_at: r.revoked_at.unwrap_or(now),
            reason: r.revocation_reason,
        })
        .collect();
    let next_update = now + CRL_VALIDITY;
    let pem = ca.crl(&revoked, now, next_update)?;
    let written = match &request.out {
        Some(path) => {
            let report = state.settings().report.as_ref();
            let journal = crate::fs::journal::recover_next_to(path, report)?;
            let mut plan = WritePlan::new(request.existing);
            plan.regenerated(path.clone(), pem.clone().into_bytes(), previous(path, &ca)?);
            plan.commit(&journal, report)?
        }
        None => Vec::new(),
    };
    Ok(CrlGenerated {
        issuer: ca.info().subject.clone(),
        this_update: now,
        next_update,
        revoked_serials: revoked.into_iter().map(|r| r.serial).collect(),
        pem,
        written,
    })
}

/// Who wrote the file at `path`: a CRL this CA issued is dockpki's own, replaced on every run;
/// anything else is someone's data, replaced only with consent. A path that is not a regular
/// file is left to the write plan, which refuses it with the reason.
fn previous(path: &Path, ca: &CertificateAuthority) -> Result<Previous> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => {
            let ours = reader::read(path, Links::Refuse, Limit::Pem)
                .map(|old| ca.issued_crl(&old))
                .unwrap_or(false);
            Ok(if ours {
                Previous::Dockpki
            } else {
                Previous::Unknown
            })
        }
        Ok(_) => Ok(Previous::Unknown),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Previous::Dockpki),
        Err(e) => Err(Error::io("read", path, &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Advice;
    use crate::ops::revoke::tests::state_with_clients;
    use crate::ops::revoke::{revoke, RevokeRequest, Selector};
    use dockpki::RevocationReason;
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    /// `openssl crl -text` of `pem`, checked against the CA certificate `ca`: openssl is the
    /// independent reader of what dockpki writes.
    fn openssl_text(dir: &Path, pem: &str, ca: &Path) -> String {
        let file = dir.join("check.crl");
        std::fs::write(&file, pem).unwrap();
        let out = Command::new("openssl")
            .args(["crl", "-noout", "-text", "-in"])
            .arg(&file)
            .arg("-CAfile")
            .arg(ca)
            .output()
            .expect("run openssl");
        assert!(out.status.success(), "{out:?}");
        // `-CAfile` makes openssl check the signature; it says so on stderr.
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("verify OK"),
            "{out:?}"
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// openssl prints serials as upper-case hex without separators.
    fn openssl_serial(serial: &str) -> String {
        serial.replace(':', "").to_ascii_uppercase()
    }

    #[test]
    fn the_crl_lists_the_revoked_serial_with_its_reason_and_no_other() {
        let root = tempfile::tempdir().unwrap();
        let state = state_with_clients(root.path(), 2);
        let certs = state.load_inventory().unwrap().certificates;
        let now = OffsetDateTime::now_utc();
        revoke(
            &state,
            &RevokeRequest {
                selector: Selector::Serial(certs[0].serial.clone()),
                reason: Some(RevocationReason::KeyCompromise),
            },
            now,
        )
        .unwrap();
        let made = crl(&state, &CrlRequest::default(), now).unwrap();
        assert_eq!(made.revoked_serials, vec![certs[0].serial.clone()]);
        assert!(made.written.is_empty());
        assert_eq!(made.next_update - made.this_update, CRL_VALIDITY);
        let text = openssl_text(root.path(), &made.pem, &state.ca_cert_path());
        assert!(text.contains(&openssl_serial(&certs[0].serial)), "{text}");
        assert!(text.contains("Key Compromise"), "{text}");
        assert!(!text.contains(&openssl_serial(&certs[1].serial)), "{text}");
    }

    #[test]
    fn out_writes_a_0444_file_replacing_its_own_crl_but_not_a_foreign_file_without_consent() {
        let root = tempfile::tempdir().unwrap();
        let state = state_with_clients(root.path(), 1);
        let out = root.path().join("www/crl.pem");
        let request = CrlRequest {
            out: Some(out.clone()),
            existing: Existing::Refuse,
        };
        let first = crl(&state, &request, OffsetDateTime::now_utc()).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), first.pem);
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o444);
        assert_eq!(first.written.len(), 1);
        assert!(first.written[0].backup.is_none());
        // Its own CRL is replaced freely, the previous one kept as crl.pem.bak.
        let later = OffsetDateTime::now_utc() + time::Duration::seconds(5);
        let second = crl(&state, &request, later).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), second.pem);
        assert_eq!(
            second.written[0].backup.as_deref(),
            Some(root.path().join("www/crl.pem.bak").as_path())
        );
        // Someone else's file is not.
        let foreign = root.path().join("www/other.pem");
        std::fs::write(&foreign, "not a CRL\n").unwrap();
        let e = crl(
            &state,
            &CrlRequest {
                out: Some(foreign.clone()),
                existing: Existing::Refuse,
            },
            later,
        )
        .unwrap_err();
        assert_eq!(e.advice(), Some(Advice::Force));
        assert_eq!(std::fs::read_to_string(&foreign).unwrap(), "not a CRL\n");
        let forced = crl(
            &state,
            &CrlRequest {
                out: Some(foreign.clone()),
                existing: Existing::ReplaceKeepingBackup,
            },
            later,
        )
        .unwrap();
        let backup = forced.written[0].backup.as_ref().unwrap();
        assert_eq!(std::fs::read_to_string(backup).unwrap(), "not a CRL\n");
        // Each file's update kept its journal next to it, and removed it when done.
        assert!(std::fs::read_dir(root.path().join("www"))
            .unwrap()
            .flatten()
            .all(|e| !e.file_name().to_string_lossy().contains("journal")));
    }
}
