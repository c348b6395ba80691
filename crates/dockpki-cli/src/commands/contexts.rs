//! `dockpki context create` and `dockpki context update`: docker contexts whose TLS files
//! dockpki owns, so that renewal and CA rotation reach them (docs/contexts.md).

use dockpki_provision::store::Create;

use serde_json::json;

use super::Context;
use crate::cli::{ContextCreateArgs, ContextUpdateArgs};
use crate::error::{CliResult, EXIT_OK};
use crate::output::{note, print_json, say};
use crate::paths::absolute;
use dockpki_provision::docker::context as dc;
use dockpki_provision::docker::endpoint::TcpEndpoint;
use dockpki_provision::ops::context::{
    self, ContextCreateRequest, ContextUpdateRequest, ContextWritten, Tracking,
};

/// `dockpki context create NAME --host tcp://HOST:PORT`.
pub fn create(ctx: &Context, args: &ContextCreateArgs) -> CliResult<i32> {
    dc::validate_name(&args.name)?;
    let host: TcpEndpoint = args.host.parse()?;
    let user = ctx.user.clone();
    let docker_config = user.docker_config_dir()?;
    let client_dir = match &args.client_dir {
        Some(dir) => absolute(dir)?,
        None => user.docker_dir()?,
    };
    let request = ContextCreateRequest {
        name: args.name.clone(),
        host,
        docker_config,
        client_dir,
        description: args.description.clone(),
        existing: super::existing(args.force),
    };
    let state = ctx.open_state(Create::No)?;
    let created = context::create(&state, &request).map_err(crate::error::with_layout_flags(
        crate::error::LayoutFlags::ClientDir,
    ))?;
    report(ctx, &created, "created");
    Ok(EXIT_OK)
}

/// `dockpki context update NAME [--host tcp://HOST:PORT] [--description TEXT]`.
pub fn update(ctx: &Context, args: &ContextUpdateArgs) -> CliResult<i32> {
    dc::validate_name(&args.name)?;
    let host: Option<TcpEndpoint> = args.host.as_deref().map(str::parse).transpose()?;
    let request = ContextUpdateRequest {
        name: args.name.clone(),
        docker_config: ctx.user.docker_config_dir()?,
        host,
        description: args.description.clone(),
    };
    let state = ctx.open_state(Create::No)?;
    // The recorded client directory now holding the daemon's files is fixed by creating the
    // context again from a client layout (`create --client-dir`).
    let updated = context::update(&state, &request).map_err(crate::error::with_layout_flags(
        crate::error::LayoutFlags::ClientDir,
    ))?;
    report(ctx, &updated, "updated");
    Ok(EXIT_OK)
}

/// Prints what was written; `verb` says whether the context was created or updated.
fn report(ctx: &Context, done: &ContextWritten, verb: &str) {
    let record = &done.record;
    // A directory outside the inventory is copied once and never again: say so even when quiet,
    // it is the very pitfall contexts made by dockpki exist to avoid.
    if done.tracking == Tracking::Untracked {
        note(format_args!(
            "warning: {} is not a client layout dockpki installed; renew and CA rotation will not update it, run `{}` after replacing its files",
            record.client_dir.display(),
            ctx.invocation.command(&format!("context update {}", crate::output::shell_quote(&record.name)))
        ));
    }
    if ctx.out.json {
        print_json(&json!({
            "context": record,
            "meta_dir": done.meta_dir,
            "tls_dir": done.tls_dir,
            "tracked": done.tracking == Tracking::Tracked,
            "written": done.written,
        }));
    } else if ctx.out.verbose {
        // On update the record (host, directories) comes from the inventory.
        say(format_args!(
            "{verb} docker context {:?} for {} from {} in {}; use it with `docker --context {} version`",
            record.name,
            record.host,
            record.client_dir.display(),
            record.docker_config.display(),
            record.name
        ));
    }
}
