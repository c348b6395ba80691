//! `dockpki export pkcs12`: a client certificate, its key and the CA certificates as one
//! PKCS#12 file.

use dockpki_provision::ops::{self, Pkcs12Request};
use dockpki_provision::store::Create;
use serde_json::json;

use super::Context;
use crate::cli::ExportPkcs12Args;
use crate::error::{CliResult, EXIT_OK};
use crate::output::print_document;
use crate::paths::absolute;
use crate::secrets::{CliPassphrases, Secret};

/// Writes the PKCS#12 file (see [`dockpki_provision::ops::export_pkcs12`]).
pub fn pkcs12(ctx: &Context, args: &ExportPkcs12Args) -> CliResult<i32> {
    let request = Pkcs12Request {
        common_name: args.name.clone(),
        out: absolute(&args.out)?,
        existing: super::existing(args.force),
    };
    let state = ctx.open_state(Create::No)?;
    let passphrase = CliPassphrases::of(Secret::Export, args.export_passphrase_file.clone());
    let exported = ops::export_pkcs12(&state, &request, &passphrase)?;
    if ctx.out.json {
        print_document(
            "export-pkcs12",
            json!({
                "out": request.out,
                "client_dir": exported.client_dir,
                "serial": exported.serial,
                "certificates": exported.certificates,
                "written": exported.written,
            }),
        );
    } else {
        ctx.out.done(format_args!(
            "wrote {}: the client certificate {:?} (serial {}) from {}, its key and {} CA certificate(s), encrypted with AES-256-CBC (PBKDF2-HMAC-SHA256)",
            request.out.display(),
            args.name,
            exported.serial,
            exported.client_dir.display(),
            exported.certificates - 1
        ));
    }
    Ok(EXIT_OK)
}
