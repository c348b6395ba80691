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
    // The signer chooses the kind, never the request: a server certificate is asked for.
    let usage = match args.kind.as_deref() {
        Some("server") => Usage::Server,
        // clap accepts only "server" and "client".
        _ => Usage::Client,
    };
    let validity = args.validity.clone().unwrap_or_else(|| {
        match usage {
            Usage::Server => "1y",
            Usage::Client => "90d",
        }
        .to_string()
    });
    let request = SignRequest {
        csr: absolute(&args.csr)?,
        usage,
        lifetime: parse_validity("--validity", &validity)?,
        host: args.host.clone(),
        out: absolute(&args.out)?,
        existing: super::existing(args.force),
        replace: args.replace,
        resign: args.resign,
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
                "signing_ca": signed.signing_ca,
                "sans": signed.certificate.san_strings(),
                "ignored": signed.ignored,
                "signed": signed.newly_signed,
                "changed": signed.changed(),
                "written": signed.written,
            }),
        );
    } else {
        // One line either way: a new certificate went into --out, or the one already signed
        // is there (its files rewritten only where they differed).
        let (done, out) = if signed.newly_signed {
            ("signed", format!(" into {}", request.out.display()))
        } else if signed.changed() {
            (
                "already signed:",
                format!(", {} brought up to date", request.out.display()),
            )
        } else {
            (
                "already signed:",
                format!(", {} up to date", request.out.display()),
            )
        };
        ctx.out.done(format_args!(
            "{done} {} certificate {} for host {:?}{} (serial {}, expires {}){out}; deliver it and run `{}` there",
            signed.usage,
            super::quoted_name(&signed.certificate),
            signed.host,
            sans_phrase(&signed.certificate.san_strings()),
            super::short_serial(&signed.certificate.serial),
            signed.certificate.not_after.date(),
            ctx.invocation.command(&format!(
                "install --from DIR --dir LAYOUT --ca-fingerprint {}",
                signed.signing_ca.sha256_fingerprint
            ))
        ));
        super::list_written(ctx, &signed.written);
    }
    Ok(EXIT_OK)
}

/// `, SANs "a", "b"` (each escaped) for the summary line; empty without SANs.
fn sans_phrase(sans: &[String]) -> String {
    if sans.is_empty() {
        return String::new();
    }
    let quoted: Vec<String> = sans.iter().map(|s| format!("{s:?}")).collect();
    format!(", SANs {}", quoted.join(", "))
}
