//! `dockpki request server` and `dockpki request client`.

use dockpki::SanList;
use dockpki_provision::ops::{self, CsrRequest, CsrSubject, KeyChoice, KeyOrigin};
use serde_json::json;

use super::{parse, parse_all, Context};
use crate::cli::{RequestArgs, RequestClientArgs, RequestServerArgs};
use crate::error::{with_layout_flags, CliResult, LayoutFlags, EXIT_OK};
use crate::output::print_document;
use crate::paths::absolute;

/// A daemon's key and request in `--dir`.
pub fn server(ctx: &Context, args: &RequestServerArgs) -> CliResult<i32> {
    let subject = CsrSubject::Server {
        sans: SanList::new(parse_all(&crate::host_names::expand_auto(&args.sans)?)?)?,
        common_name: args.name.as_deref().map(parse).transpose()?,
    };
    request(ctx, &args.request, subject)
}

/// A client's key and request in `--dir`.
pub fn client(ctx: &Context, args: &RequestClientArgs) -> CliResult<i32> {
    let subject = CsrSubject::Client {
        common_name: parse(&args.name)?,
    };
    request(ctx, &args.request, subject)
}

fn request(ctx: &Context, args: &RequestArgs, subject: CsrSubject) -> CliResult<i32> {
    let key_type = parse(&args.key_type)?;
    let request = CsrRequest {
        subject,
        key: if args.new_key {
            KeyChoice::New(key_type)
        } else {
            KeyChoice::KeepExisting(key_type)
        },
        dir: absolute(&args.dir)?,
        lock_timeout: ctx.settings().lock_timeout,
    };
    let done =
        ops::request(&request, ctx.report()).map_err(with_layout_flags(LayoutFlags::RequestDir))?;
    if ctx.out.json {
        let command = match done.layout.usage {
            dockpki::Usage::Server => "request-server",
            dockpki::Usage::Client => "request-client",
        };
        print_document(
            command,
            json!({
                "layout": { "kind": done.layout.label(), "dir": done.layout.dir },
                "csr": done.csr_path,
                "key": { "path": done.layout.key_path(), "origin": done.key, "type": done.key_type },
                "changed": done.changed(),
                "written": done.written,
            }),
        );
    } else {
        let key = match done.key {
            KeyOrigin::Generated => "a new key",
            KeyOrigin::Existing => "the existing key",
        };
        ctx.out.done(format_args!(
            "{} {} request {} for {key} {}; have it signed on the CA's host with `{}`",
            if done.changed() {
                "wrote"
            } else {
                "already there:"
            },
            done.layout.usage,
            done.csr_path.display(),
            done.layout.key_path().display(),
            ctx.invocation.command(match done.layout.usage {
                dockpki::Usage::Server => "sign CSR --kind server --out DIR",
                dockpki::Usage::Client => "sign CSR --out DIR",
            })
        ));
        super::list_written(ctx, &done.written);
    }
    Ok(EXIT_OK)
}
