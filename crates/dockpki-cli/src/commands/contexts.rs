//! `dockpki context create`, `update`, `ls` and `rm`: docker contexts whose TLS files
//! dockpki owns, so that renewal and CA rotation reach them (docs/contexts.md).

use dockpki_provision::store::Create;

use serde_json::json;

use super::{parse_host, Context};
use crate::cli::{ContextCreateArgs, ContextRmArgs, ContextUpdateArgs};
use crate::error::{CliResult, EXIT_OK};
use crate::output::{note, print_document, say, shell_quote};
use crate::paths::absolute;
use dockpki_provision::docker::context as dc;
use dockpki_provision::docker::endpoint::TcpEndpoint;
use dockpki_provision::ops::context::{
    self, ContextCreateRequest, ContextRemoveRequest, ContextUpdateRequest, ContextWritten, Files,
    MadeBy, Presence, Tracking,
};

/// `dockpki context create NAME --host tcp://HOST:PORT`.
pub fn create(ctx: &Context, args: &ContextCreateArgs) -> CliResult<i32> {
    dc::validate_name(&args.name)?;
    let host: TcpEndpoint = parse_host("--host", &args.host)?;
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
    let host: Option<TcpEndpoint> = args
        .host
        .as_deref()
        .map(|h| parse_host("--host", h))
        .transpose()?;
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
        let command = if verb == "created" {
            "context-create"
        } else {
            "context-update"
        };
        print_document(
            command,
            json!({
                "context": record,
                "meta_dir": done.meta_dir,
                "tls_dir": done.tls_dir,
                "tracked": done.tracking == Tracking::Tracked,
                "written": done.written,
            }),
        );
    } else {
        // On update the record (host, directories) comes from the inventory.
        ctx.out.done(format_args!(
            "{verb} docker context {:?} for {} from {} in {}; use it with `docker --context {} version`",
            record.name,
            record.host,
            record.client_dir.display(),
            record.docker_config.display(),
            record.name
        ));
        super::list_written(ctx, &done.written);
    }
}

/// `dockpki context ls`: the contexts dockpki made and how each stands.
pub fn list(ctx: &Context) -> CliResult<i32> {
    let state = ctx.open_state(Create::No)?;
    let contexts = context::list(&state, None)?;
    if ctx.out.json {
        print_document("context-ls", json!({ "contexts": contexts }));
        return Ok(EXIT_OK);
    }
    if contexts.is_empty() {
        say(format_args!(
            "dockpki made no docker contexts (`{}` makes one)",
            ctx.invocation
                .command("context create NAME --host tcp://HOST:PORT")
        ));
        return Ok(EXIT_OK);
    }
    // Names, hosts and paths come from the inventory: `say` escapes them.
    for c in &contexts {
        let state = match (&c.presence, &c.files) {
            (Presence::Removed, _) => "removed (by docker context rm; not recreated)".to_string(),
            (Presence::Present, Some(Files::Match) | None) => "present, files match".to_string(),
            (Presence::Present, Some(Files::Differ(files))) => format!(
                "present, files differ: {} (`{}` copies them again)",
                files.join(", "),
                ctx.invocation
                    .command(&format!("context update {}", shell_quote(&c.record.name)))
            ),
        };
        say(format_args!(
            "{}  {}  {}  from {} in {}",
            c.record.name,
            c.record.host,
            state,
            c.record.client_dir.display(),
            c.record.docker_config.display()
        ));
    }
    Ok(EXIT_OK)
}

/// `dockpki context rm NAME [--force]`.
pub fn remove(ctx: &Context, args: &ContextRmArgs) -> CliResult<i32> {
    dc::validate_name(&args.name)?;
    let request = ContextRemoveRequest {
        name: args.name.clone(),
        docker_config: ctx.user.docker_config_dir()?,
        existing: super::existing(args.force),
    };
    let state = ctx.open_state(Create::No)?;
    let done = context::remove(&state, &request)?;
    if ctx.out.json {
        print_document(
            "context-rm",
            json!({
                "context": { "name": done.name, "docker_config": done.docker_config },
                "made_by": done.made_by,
                "removed": done.removed,
                "written": done.written,
            }),
        );
    } else {
        let what = if done.removed.is_empty() {
            "forgot the docker context"
        } else {
            "removed the docker context"
        };
        let whose = match done.made_by {
            MadeBy::Dockpki => "",
            MadeBy::Other => " (not made by dockpki)",
        };
        ctx.out.done(format_args!(
            "{what} {:?}{whose} from {}",
            done.name,
            done.docker_config.display()
        ));
    }
    Ok(EXIT_OK)
}
