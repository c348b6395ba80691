//! `dockpki crl`: a CRL signed by the CA, listing the certificates it issued that were revoked.

use dockpki_provision::store::Create;
use std::io::Write;

use dockpki::RevokedCert;

use super::{now, Context};
use crate::cli::CrlArgs;
use crate::error::{CliError, CliResult, EXIT_OK};
use std::path::Path;

use crate::output::print_json;
use crate::paths::absolute;
use dockpki_provision::fs::reader::{self, Limit, Links};
use dockpki_provision::fs::write::{Previous, WritePlan};
use dockpki_provision::store::inventory::Status;

/// How long a CRL is valid (its nextUpdate): relying parties that check CRLs refuse an outdated
/// one, so it must be regenerated within this period, e.g. by the same daily job as `renew`.
const CRL_VALIDITY: time::Duration = time::Duration::days(30);

/// Who wrote the file at `path`: a CRL this CA issued is dockpki's own, replaced on every run;
/// anything else is someone's data, replaced only with `--force`. A path that is not a regular
/// file is left to the write plan, which refuses it with the reason.
fn previous(path: &Path, ca: &dockpki::CertificateAuthority) -> CliResult<Previous> {
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
        Err(e) => Err(CliError::io("read", path, &e)),
    }
}

/// Writes the CRL to `--out` or stdout.
pub fn run(ctx: &Context, args: &CrlArgs) -> CliResult<i32> {
    let out = args.out.as_deref().map(absolute).transpose()?;
    let now = now();
    let state = ctx.open_state(Create::No)?;
    let ca = state.load_ca()?;
    let inventory = state.load_inventory()?;
    let ca_fp = ca.info().fingerprint();
    // Only this CA's certificates: a CRL can only speak for the certificates its signer issued.
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
    let pem = ca.crl(&revoked, now, now + CRL_VALIDITY)?;

    match &out {
        Some(path) => {
            // Like daemon.json, the CRL may live anywhere (a web root), so its update keeps its
            // journal next to it rather than in the state, whose journal only writes layouts.
            let journal = dockpki_provision::fs::journal::recover_next_to(path, ctx.report())?;
            let mut plan = WritePlan::new(super::existing(args.force));
            plan.regenerated(path.clone(), pem.clone().into_bytes(), previous(path, &ca)?);
            plan.commit(&journal, ctx.report())?;
        }
        // With --json the document carries the PEM; stdout holds exactly one thing.
        None if !ctx.out.json => std::io::stdout()
            .lock()
            .write_all(pem.as_bytes())
            .map_err(|e| CliError::new(format!("cannot write the CRL to stdout: {e}")))?,
        None => {}
    }
    if ctx.out.json {
        print_json(&serde_json::json!({
            "issuer": ca.info().subject,
            "this_update": dockpki::format_time(now),
            "next_update": dockpki::format_time(now + CRL_VALIDITY),
            "revoked_serials": revoked.iter().map(|r| &r.serial).collect::<Vec<_>>(),
            "out": out,
            "pem": if out.is_none() { Some(&pem) } else { None },
        }));
    } else if ctx.out.verbose {
        if let Some(path) = &out {
            crate::output::say(format_args!(
                "wrote a CRL of {} revoked certificate(s), valid until {}, to {}",
                revoked.len(),
                dockpki::format_time(now + CRL_VALIDITY),
                path.display()
            ));
        }
    }
    Ok(EXIT_OK)
}
