//! `dockpki sign CSR --out DIR`.

use dockpki::Usage;
use dockpki_provision::ops::{self, SignRequest};
use dockpki_provision::store::Create;
use serde_json::json;

use super::{now, parse_validity, Context};
use crate::cli::SignArgs;
use crate::error::{CliResult, EXIT_OK};
use crate::output::{note, print_document};
use crate::paths::absolute;

/// Signs a request from another host into `--out`.
pub fn run(ctx: &Context, args: &SignArgs) -> CliResult<i32> {
    let usage = match args.kind.as_deref() {
        None => None,
        Some("server") => Some(Usage::Server),
        // clap accepts only these two.
        Some(_) => Some(Usage::Client),
    };
    let csr = absolute(&args.csr)?;
    // The default validity follows the kind, which the request may decide: read it first.
    let kind = match usage {
        Some(u) => u,
        None => ops::sign::read_csr(&csr)?.usage(),
    };
    let validity = args.validity.clone().unwrap_or_else(|| {
        match kind {
            Usage::Server => "1y",
            Usage::Client => "90d",
        }
        .to_string()
    });
    let request = SignRequest {
        csr,
        usage: Some(kind),
        lifetime: parse_validity("--validity", &validity)?,
        host: args.host.clone(),
        out: absolute(&args.out)?,
        existing: super::existing(args.force),
    };
    let state = ctx.open_state(Create::No)?;
    let signed = ops::sign(&state, &request, now())?;
    if !signed.ignored.is_empty() {
        note(format_args!(
            "note: the request also asked for {}, which dockpki does not take from a request: the certificate has only dockpki's",
            signed.ignored.join(", ")
        ));
    }
    if ctx.out.json {
        print_document(
            "sign",
            json!({
                "kind": signed.usage,
                "host": signed.host,
                "certificate": signed.certificate,
                "cert": signed.cert_path,
                "ca": signed.ca_path,
                "ignored": signed.ignored,
                "written": signed.written,
            }),
        );
    } else {
        ctx.out.done(format_args!(
            "signed {} certificate {} for host {:?} (serial {}, expires {}) into {}; deliver it and run `{}` there",
            signed.usage,
            super::quoted_name(&signed.certificate),
            signed.host,
            super::short_serial(&signed.certificate.serial),
            signed.certificate.not_after.date(),
            request.out.display(),
            ctx.invocation.command("install --from DIR --dir LAYOUT")
        ));
        super::list_written(ctx, &signed.written);
    }
    Ok(EXIT_OK)
}
