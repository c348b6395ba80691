//! `dockpki systemd-dropin`: the drop-in that lets daemon.json's `hosts` apply
//! ([`dockpki_provision::docker::systemd`] reads the unit and writes the drop-in).

use serde_json::json;

use super::Context;
use crate::cli::SystemdDropinArgs;
use crate::error::{CliResult, EXIT_OK};
use crate::output::{print_json, say};
use crate::paths::absolute;
use dockpki_provision::docker::systemd::{self, DropinRequest};

/// Writes the drop-in.
pub fn run(ctx: &Context, args: &SystemdDropinArgs) -> CliResult<i32> {
    let unit = systemd::unit_name(&args.unit)?;
    let out = absolute(&match &args.out {
        Some(p) => p.clone(),
        None => systemd::default_dropin_path(unit),
    })?;
    let dropin = systemd::write_dropin(
        &DropinRequest {
            unit: unit.to_string(),
            out,
            existing: super::existing(args.force),
            unit_dirs: super::unit_dirs(),
        },
        ctx.report(),
    )?;
    let service = unit.strip_suffix(".service").unwrap_or(unit);
    let next = format!("systemctl daemon-reload && systemctl restart {service}");
    if ctx.out.json {
        print_json(&json!({
            "out": dropin.out,
            "exec_start": dropin.exec_start,
            "from": dropin.from,
            "next": next,
            "written": dropin.written,
        }));
    } else {
        // The command comes from the installed unit, a file.
        if ctx.out.verbose {
            say(format_args!(
                "wrote {} (ExecStart={})",
                dropin.out.display(),
                dropin.exec_start
            ));
        }
        say(&next);
    }
    Ok(EXIT_OK)
}
