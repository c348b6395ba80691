//! `dockpki crl`: a CRL signed by the CA, listing the certificates it issued that were revoked.

use dockpki_provision::ops::{self, CrlRequest};
use dockpki_provision::store::Create;
use std::io::Write;

use super::{now, Context};
use crate::cli::CrlArgs;
use crate::error::{CliError, CliResult, EXIT_OK};
use crate::output::print_document;
use crate::paths::absolute;

/// Writes the CRL to `--out` or stdout.
pub fn run(ctx: &Context, args: &CrlArgs) -> CliResult<i32> {
    let request = CrlRequest {
        out: args.out.as_deref().map(absolute).transpose()?,
        existing: super::existing(args.force),
    };
    let state = ctx.open_state(Create::No)?;
    let made = ops::crl(&state, &request, now())?;
    let out = &request.out;
    // With --json the document carries the PEM; stdout holds exactly one thing.
    if out.is_none() && !ctx.out.json {
        std::io::stdout()
            .lock()
            .write_all(made.pem.as_bytes())
            .map_err(|e| CliError::new(format!("cannot write the CRL to stdout: {e}")))?;
    }
    if ctx.out.json {
        print_document(
            "crl",
            serde_json::json!({
                "issuer": made.issuer,
                "this_update": dockpki::format_time(made.this_update),
                "next_update": dockpki::format_time(made.next_update),
                "revoked_serials": made.revoked_serials,
                "out": out,
                "pem": if out.is_none() { Some(&made.pem) } else { None },
            }),
        );
    } else if let Some(path) = out {
        // On stdout the CRL itself is the output: nothing else may be printed there.
        ctx.out.done(format_args!(
            "wrote a CRL of {} revoked certificate(s), valid until {}, to {}",
            made.revoked_serials.len(),
            dockpki::format_time(made.next_update),
            path.display()
        ));
    }
    Ok(EXIT_OK)
}
