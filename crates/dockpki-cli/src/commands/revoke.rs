//! `dockpki revoke`: mark certificates revoked in the inventory, so that `dockpki crl` lists them
//! and `dockpki renew` never renews them.
//!
//! dockerd and the docker CLI check neither CRLs nor OCSP, so this alone does not stop a leaked
//! key: every run says so and names what does.

use dockpki_provision::ops::{self, Revocation, RevokeRequest, Selector};
use dockpki_provision::store::Create;

use super::{now, parse, Context};
use crate::cli::RevokeArgs;
use crate::error::{CliResult, EXIT_OK};
use crate::invocation::Invocation;
use crate::output::{note, print_document, say};

/// Printed on stderr by every `revoke` (one note per line), because revoking gives a false sense
/// of safety otherwise.
fn dockerd_ignores_crls(inv: &Invocation) -> [String; 2] {
    [
        "note: dockerd and the docker CLI check neither CRLs nor OCSP, so a revoked certificate is still accepted until it expires.".to_string(),
        format!(
            "keep client certificates short-lived (`{}`), and to cut off a leaked key rotate the CA: `{}`, then reissue, then finish.",
            inv.command("issue client --validity 7d"),
            inv.command("ca rotate begin")
        ),
    ]
}

/// Revokes the selected certificates.
pub fn run(ctx: &Context, args: &RevokeArgs) -> CliResult<i32> {
    let reason: Option<dockpki::RevocationReason> =
        args.reason.as_deref().map(parse).transpose()?;
    let now = now();
    let state = ctx.open_state(Create::No)?;
    // clap requires exactly one of --serial and --name.
    let selector = match (&args.serial, &args.name) {
        (Some(serial), _) => Selector::Serial(serial.clone()),
        (None, name) => Selector::Name(name.clone().unwrap_or_default()),
    };
    let done = ops::revoke(
        &state,
        &RevokeRequest {
            selector: selector.clone(),
            reason,
        },
        now,
    )?;

    if ctx.out.json {
        print_document(
            "revoke",
            serde_json::json!({
                "revoked": done.certificates(),
                "dockerd_checks_revocation": false,
            }),
        );
    } else if let [one] = done.certificates() {
        // Names come from the inventory: escaped.
        ctx.out.done(format_args!(
            "revoked {} certificate {:?} (serial {}, expires {})",
            one.kind,
            one.common_name.as_deref().unwrap_or("-"),
            super::short_serial(&one.serial),
            one.not_after.date()
        ));
    } else if !done.certificates().is_empty() {
        // `--name` may select several: every serial is named, so that none is revoked unseen.
        let all = done.certificates();
        ctx.out.done(format_args!(
            "revoked {} certificates named {:?}: serials {}",
            all.len(),
            all[0].common_name.as_deref().unwrap_or("-"),
            all.iter()
                .map(|r| format!(
                    "{} ({}, expires {})",
                    super::short_serial(&r.serial),
                    r.kind,
                    r.not_after.date()
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if ctx.out.verbose && ctx.out.reports() {
        for r in done.certificates() {
            say(format_args!(
                "revoked {} certificate {:?} (serial {}, valid until {})",
                r.kind,
                r.common_name.as_deref().unwrap_or("-"),
                r.serial,
                dockpki::format_time(r.not_after)
            ));
        }
    }
    if let Revocation::AlreadyRevoked = done {
        note(format_args!(
            "{selector} was already revoked; nothing changed"
        ));
    }
    for line in dockerd_ignores_crls(&ctx.invocation) {
        note(line);
    }
    Ok(EXIT_OK)
}
