//! `dockpki ca init`.

use dockpki::{CaOptions, CertificateAuthority, NameConstraints};
use serde_json::json;

use super::{now, parse, parse_all, Context};
use crate::cli::CaInitArgs;
use crate::error::{CliError, CliResult, EXIT_OK};
use crate::fsio::WritePlan;
use crate::output::print_json;
use crate::state::State;

/// Creates the CA.
pub fn init(ctx: &Context, args: &CaInitArgs) -> CliResult<i32> {
    let now = now();
    let options = CaOptions {
        common_name: match &args.name {
            Some(n) => parse(n)?,
            None => CaOptions::unique_name(now)?,
        },
        key_type: parse(&args.key_type)?,
        lifetime: parse(&args.validity)?,
        path_len: args.path_len,
        name_constraints: NameConstraints {
            permitted_dns: parse_all(&args.permit_dns)?,
            permitted_ips: parse_all(&args.permit_ip)?,
        },
    };
    let state = State::open_write(ctx.state_dir()?, true)?;
    if state.rotating() {
        // Replacing ca.pem now would strand the rotation's new CA and every leaf it issued.
        return Err(CliError::new(format!(
            "a CA rotation is in progress in {}; finish it with `dockpki ca rotate reissue` and `dockpki ca rotate finish` (see `dockpki ca rotate status`)",
            state.dir().display()
        )));
    }
    if state.has_ca() && !args.force {
        let existing = state
            .load_ca()
            .map(|ca| format!(" ({:?})", ca.info().subject))
            .unwrap_or_default();
        return Err(CliError::new(format!(
            "a CA already exists in {}{existing}; pass --force to replace it (the old files are kept as backups, and certificates it issued stop being trusted wherever the new ca.pem is installed)",
            state.dir().display()
        )));
    }
    let ca = CertificateAuthority::create(&options, now)?;
    let mut plan = WritePlan::new(args.force);
    state.plan_ca(&mut plan, &ca);
    let written = state.commit(plan)?;
    if ctx.out.json {
        print_json(&json!({ "state": state.dir(), "ca": ca.info(), "written": written }));
    } else if ctx.out.verbose {
        println!(
            "created CA {:?} ({}, valid until {}) in {}",
            ca.info().subject,
            options.key_type,
            dockpki::format_time(ca.info().not_after),
            state.dir().display()
        );
    }
    Ok(EXIT_OK)
}
