//! `dockpki context create` and `dockpki context update`: docker contexts whose TLS files
//! dockpki owns, so that renewal and CA rotation reach them (docs/contexts.md).

use dockpki_provision::fs::Existing;
use dockpki_provision::store::Create;
use std::path::{Path, PathBuf};

use serde_json::json;
use zeroize::Zeroizing;

use super::Context;
use crate::cli::{ContextCreateArgs, ContextUpdateArgs};
use crate::error::{CliError, CliResult, EXIT_OK};
use crate::output::{note, print_json, say};
use crate::paths::{absolute, ClientUser};
use dockpki_provision::docker::context::{self as dc, TLS_FILES};
use dockpki_provision::docker::endpoint::TcpEndpoint;
use dockpki_provision::fs::reader::{self, Limit, Links};
use dockpki_provision::fs::{ActingAs, WritePlan};
use dockpki_provision::store::inventory::{ContextRecord, Inventory, Status};
use dockpki_provision::store::state::State;

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
    let files = read_client_layout(&client_dir, &user, &docker_config)?;
    let state = ctx.open_state(Create::No)?;
    let mut inventory = state.load_inventory()?;
    let ours = find(&inventory, &args.name, &docker_config);
    if !args.force && dc::exists(&docker_config, &args.name) {
        return Err(CliError::new(match ours {
            Some(_) => format!(
                "dockpki already made the docker context {:?} in {}; run `dockpki context update {}` to copy the files again, or pass --force to create it anew",
                args.name,
                docker_config.display(),
                args.name
            ),
            None => format!(
                "a docker context {:?} already exists in {} and was not made by dockpki; pass --force to replace it (its files are overwritten), or choose another name",
                args.name,
                docker_config.display()
            ),
        }));
    }
    let record = ContextRecord {
        name: args.name.clone(),
        docker_config,
        client_dir,
        host: host.to_string(),
        description: args.description.clone(),
    };
    write(
        ctx,
        &state,
        &mut inventory,
        record,
        &files,
        &user,
        "created",
    )
}

/// `dockpki context update NAME [--host tcp://HOST:PORT] [--description TEXT]`.
pub fn update(ctx: &Context, args: &ContextUpdateArgs) -> CliResult<i32> {
    dc::validate_name(&args.name)?;
    let host: Option<TcpEndpoint> = args.host.as_deref().map(str::parse).transpose()?;
    let user = ctx.user.clone();
    let docker_config = user.docker_config_dir()?;
    let state = ctx.open_state(Create::No)?;
    let mut inventory = state.load_inventory()?;
    let mut record = find(&inventory, &args.name, &docker_config)
        .map(|i| inventory.contexts[i].clone())
        .ok_or_else(|| {
            CliError::new(format!(
                "dockpki made no docker context {:?} in {}; create it with `dockpki context create {} --host tcp://HOST:PORT` (add --force to take over one made by docker)",
                args.name,
                docker_config.display(),
                args.name
            ))
        })?;
    if let Some(h) = host {
        record.host = h.to_string();
    }
    if let Some(d) = &args.description {
        record.description = Some(d.clone());
    }
    let files = read_client_layout(&record.client_dir, &user, &docker_config)?;
    write(
        ctx,
        &state,
        &mut inventory,
        record,
        &files,
        &user,
        "updated",
    )
}

/// Writes the context and its inventory record as one journaled update, then reports.
fn write(
    ctx: &Context,
    state: &State,
    inventory: &mut Inventory,
    record: ContextRecord,
    files: &[Zeroizing<Vec<u8>>; 3],
    user: &ClientUser,
    verb: &str,
) -> CliResult<i32> {
    // Contexts are dockpki's own copies from here on: rewritten without --force or backups.
    let mut plan = WritePlan::new(Existing::ReplaceKeepingBackup);
    dc::plan_context(
        &mut plan,
        &record,
        files,
        user.owner_for(&record.docker_config),
    );
    inventory
        .contexts
        .retain(|c| !(c.name == record.name && c.docker_config == record.docker_config));
    inventory.contexts.push(record.clone());
    state.plan_inventory(&mut plan, inventory)?;
    let written = state.commit(plan)?;

    // A directory outside the inventory is copied once and never again: say so even when quiet,
    // it is the very pitfall contexts made by dockpki exist to avoid.
    let tracked = inventory
        .certificates
        .iter()
        .any(|r| r.status == Status::Active && r.installed.iter().any(|d| d == &record.client_dir));
    if !tracked {
        note(format_args!(
            "warning: {} is not a client layout dockpki installed; renew and CA rotation will not update it, run `dockpki context update {}` after replacing its files",
            record.client_dir.display(),
            record.name
        ));
    }
    let meta = dc::meta_dir(&record.docker_config, &record.name);
    let tls = dc::tls_dir(&record.docker_config, &record.name);
    if ctx.out.json {
        print_json(&json!({
            "context": record,
            "meta_dir": meta,
            "tls_dir": tls,
            "tracked": tracked,
            "written": written,
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
    Ok(EXIT_OK)
}

fn find(inventory: &Inventory, name: &str, docker_config: &Path) -> Option<usize> {
    inventory
        .contexts
        .iter()
        .position(|c| c.name == name && c.docker_config == docker_config)
}

/// Reads `ca.pem`, `cert.pem` and `key.pem` of a client layout and checks that they are what
/// the docker CLI needs (certificates, a key matching the certificate), so that a context is
/// never made from a directory docker would refuse.
///
/// The files are copied, as root under sudo, into a directory the invoking user owns, so none
/// may be a symlink: a link named `key.pem` pointing at the CA key (with the CA certificate as
/// `cert.pem`, which it matches) would otherwise hand the CA key to that user. For the same
/// reason `cert.pem` must be a leaf, not a CA certificate.
///
/// The copies go to the user who owns `docker_config` (the invoking user under sudo), so the
/// layout is read as that user ([`ActingAs`]): under sudo, `--client-dir` naming root's (or
/// anyone else's) layout finds only what that user could read anyway, and a layout of another
/// owner is refused outright.
fn read_client_layout(
    dir: &Path,
    user: &ClientUser,
    docker_config: &Path,
) -> CliResult<[Zeroizing<Vec<u8>>; 3]> {
    let owner = user.owner_for(docker_config);
    if owner.map(|o| o.uid) != user.owner_for(dir).map(|o| o.uid) {
        return Err(CliError::new(format!(
            "{} is not a client layout of the user the context is for (the owner of {}); give a --client-dir of that user's own",
            dir.display(),
            docker_config.display()
        )));
    }
    let _as = ActingAs::user(owner.map(|o| o.uid), owner.map(|o| o.gid))?;
    let path = |name: &str| -> PathBuf { dir.join(name) };
    let [ca, cert, key] =
        TLS_FILES.map(|name| reader::read(&path(name), Links::Refuse, Limit::Pem));
    let (ca, cert, key) = (ca?, cert?, key?);
    let bad = |name: &str, e: dockpki::Error| {
        CliError::from(e).context(format!(
            "{} is not usable for a docker context",
            path(name).display()
        ))
    };
    dockpki::certs_from_pem(&ca).map_err(|e| bad("ca.pem", e))?;
    let leaf = dockpki::certs_from_pem(&cert).map_err(|e| bad("cert.pem", e))?;
    let private = dockpki::PrivateKey::from_pem(&key).map_err(|e| bad("key.pem", e))?;
    let is_ca = match leaf.first() {
        Some(der) => dockpki::inspect(der).map_err(|e| bad("cert.pem", e))?.is_ca,
        None => false,
    };
    if is_ca {
        return Err(CliError::new(format!(
            "{} holds a CA certificate, not a client certificate, so it is not usable for a docker context; issue a client: dockpki issue client --out {} --force",
            path("cert.pem").display(),
            crate::output::shell_quote(&dir.display().to_string())
        )));
    }
    if !leaf
        .first()
        .is_some_and(|c| dockpki::key_matches_cert(&private, c))
    {
        return Err(CliError::new(format!(
            "{} does not belong to the certificate in {}; issue the client again (dockpki issue client --out {} --force)",
            path("key.pem").display(),
            path("cert.pem").display(),
            crate::output::shell_quote(&dir.display().to_string())
        )));
    }
    Ok([ca, cert, key])
}
