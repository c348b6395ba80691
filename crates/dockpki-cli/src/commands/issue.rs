//! `dockpki issue server` and `dockpki issue client`.

use dockpki::{ClientRequest, SanList, ServerRequest};
use dockpki_provision::ops::{self, IssueRequest, LeafRequest};
use dockpki_provision::store::expiry::{RenewalWindow, DEFAULT_WINDOW};
use dockpki_provision::store::Create;
use serde_json::json;

use super::{now, parse, parse_all, parse_validity, Context};
use crate::cli::{IssueClientArgs, IssueServerArgs, LeafArgs};
use crate::error::{with_layout_flags, CliResult, LayoutFlags, EXIT_OK};
use crate::output::{note, print_document};
use crate::paths::absolute;

/// Issues the daemon's certificate into `--out`.
pub fn server(ctx: &Context, args: &IssueServerArgs) -> CliResult<i32> {
    let leaf = LeafRequest::Server(ServerRequest {
        sans: SanList::new(parse_all(&crate::host_names::expand_auto(&args.sans)?)?)?,
        common_name: args.name.as_deref().map(parse).transpose()?,
        lifetime: parse_validity("--validity", &args.validity)?,
    });
    issue(ctx, &args.leaf, leaf)
}

/// Issues a client certificate into `--out`.
pub fn client(ctx: &Context, args: &IssueClientArgs) -> CliResult<i32> {
    let leaf = LeafRequest::Client(ClientRequest {
        common_name: parse(&args.name)?,
        lifetime: parse_validity("--validity", &args.validity)?,
    });
    issue(ctx, &args.leaf, leaf)
}

fn issue(ctx: &Context, args: &LeafArgs, leaf: LeafRequest) -> CliResult<i32> {
    let request = IssueRequest {
        leaf,
        key_type: parse(&args.key_type)?,
        dir: absolute(&args.out)?,
        existing: super::existing(args.force),
    };
    let state = ctx.open_state(Create::No)?;
    let issued =
        ops::issue(&state, &request, now()).map_err(with_layout_flags(LayoutFlags::IssueOut))?;
    // A lifetime shorter than the default window is due a third of its lifetime before its end:
    // the renewal timer must run more often than that, or the certificate lapses.
    let lifetime = issued.certificate.not_after - issued.certificate.not_before;
    let due_before = RenewalWindow::Relative.before_expiry(lifetime);
    if due_before < DEFAULT_WINDOW {
        note(format_args!(
            "note: this certificate is due for renewal {} before it expires (a third of its lifetime); run `{}` more often than that, e.g. from the daily timer in docs/renewal.md",
            dockpki_provision::text::describe_duration(due_before),
            ctx.invocation.command("renew")
        ));
    }
    if ctx.out.json {
        let command = match issued.layout.usage {
            dockpki::Usage::Server => "issue-server",
            dockpki::Usage::Client => "issue-client",
        };
        print_document(
            command,
            json!({
                "layout": { "kind": issued.layout.label(), "dir": issued.layout.dir },
                "certificate": issued.certificate,
                "written": issued.written,
                "contexts_fed": issued.contexts_fed,
            }),
        );
    } else {
        // The name comes from the request, the directory from the command line: escaped.
        ctx.out.done(format_args!(
            "issued {} certificate {} (serial {}, expires {}) into {}",
            issued.layout.usage,
            super::quoted_name(&issued.certificate),
            super::short_serial(&issued.certificate.serial),
            issued.certificate.not_after.date(),
            issued.layout.dir.display()
        ));
        super::list_written(ctx, &issued.written);
        super::list_contexts_fed(ctx, &issued.contexts_fed);
    }
    Ok(EXIT_OK)
}
