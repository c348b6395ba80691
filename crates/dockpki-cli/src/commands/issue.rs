//! `dockpki issue server` and `dockpki issue client`.

use dockpki::{ClientRequest, IssuedCert, PrivateKey, SanList, ServerRequest};
use dockpki_provision::store::Create;
use serde_json::json;

use super::{now, parse, parse_all, Context};
use crate::cli::{IssueClientArgs, IssueServerArgs, LeafArgs};
use crate::error::{CliResult, EXIT_OK};
use crate::output::{print_json, say};
use crate::paths::absolute;
use dockpki_provision::fs::write::WritePlan;
use dockpki_provision::layout::Layout;
use dockpki_provision::store::inventory::Record;

/// Issues the daemon's certificate into `--out`.
pub fn server(ctx: &Context, args: &IssueServerArgs) -> CliResult<i32> {
    let request = ServerRequest {
        sans: SanList::new(parse_all(&super::sans::expand_auto(&args.sans)?)?)?,
        common_name: args.name.as_deref().map(parse).transpose()?,
        lifetime: parse(&args.validity)?,
    };
    let layout = Layout::daemon(absolute(&args.leaf.out)?);
    issue(ctx, &args.leaf, layout, |ca, key, now| {
        ca.issue_server(&request, key, now)
    })
}

/// Issues a client certificate into `--out`.
pub fn client(ctx: &Context, args: &IssueClientArgs) -> CliResult<i32> {
    let request = ClientRequest {
        common_name: parse(&args.name)?,
        lifetime: parse(&args.validity)?,
    };
    let layout = Layout::client(absolute(&args.leaf.out)?);
    issue(ctx, &args.leaf, layout, |ca, key, now| {
        ca.issue_client(&request, key, now)
    })
}

fn issue(
    ctx: &Context,
    leaf: &LeafArgs,
    layout: Layout,
    sign: impl FnOnce(
        &dockpki::CertificateAuthority,
        PrivateKey,
        time::OffsetDateTime,
    ) -> dockpki::Result<IssuedCert>,
) -> CliResult<i32> {
    let key_type = parse(&leaf.key_type)?;
    let state = ctx.open_state(Create::No)?;
    let ca = state.load_ca()?;
    let mut inventory = state.load_inventory()?;
    let issued = sign(&ca, PrivateKey::generate(key_type)?, now())?;

    let owner = ctx.user.clone().owner_for(&layout.dir);
    let mut plan = WritePlan::new(super::existing(leaf.force));
    layout.plan(&mut plan, &state.trust_bundle_pem(&ca)?, &issued, owner);
    inventory.add(Record::new(
        &issued.info,
        issued.usage,
        &ca.info().sha256_fingerprint,
        vec![layout.dir.clone()],
    ));
    state.plan_inventory(&mut plan, &inventory)?;
    let written = state.commit(plan)?;

    if ctx.out.json {
        print_json(&json!({
            "layout": { "kind": layout.label(), "dir": layout.dir },
            "certificate": issued.info,
            "written": written,
        }));
    } else if ctx.out.verbose {
        say(format_args!(
            "issued {} certificate {:?} (serial {}, valid until {}) into {}",
            issued.usage,
            issued.info.subject,
            issued.info.serial,
            dockpki::format_time(issued.info.not_after),
            layout.describe()
        ));
    }
    Ok(EXIT_OK)
}
