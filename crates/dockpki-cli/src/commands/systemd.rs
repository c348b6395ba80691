//! `dockpki systemd-dropin`: the drop-in that lets daemon.json's `hosts` apply
//! ([`dockpki_provision::docker::systemd`] reads the unit and writes the drop-in).

use serde_json::json;

use super::Context;
use crate::cli::SystemdDropinArgs;
use crate::error::{CliError, CliResult, EXIT_OK};
use crate::output::{print_document, say, shell_quote};
use crate::paths::absolute;
use dockpki_provision::docker::host_file::{Failure, Refusal};
use dockpki_provision::docker::systemd::{self, DropinRequest, Unit};

/// Writes the drop-in.
pub fn run(ctx: &Context, args: &SystemdDropinArgs) -> CliResult<i32> {
    let unit = match Unit::parse(&args.unit)? {
        Unit::File(path) => Unit::File(absolute(&path)?),
        name => name,
    };
    let out = absolute(&match &args.out {
        Some(p) => p.clone(),
        None => systemd::default_dropin_path(unit.name()),
    })?;
    let dropin = systemd::write_dropin(
        &DropinRequest {
            unit,
            out,
            existing: super::existing(args.force),
            unit_dirs: super::unit_dirs(),
        },
        ctx.report(),
    )
    .map_err(|f| match f {
        // The generic wording names daemon-config's --file; here the drop-in is --out.
        Failure::Refused(Refusal::Symlink {
            file,
            target,
            resolved,
        }) => CliError::new(format!(
            "{} is a symlink to {}; dockpki does not replace links: pass --out {} (its target) instead",
            file.display(),
            target.display(),
            shell_quote(&resolved.display().to_string())
        )),
        other => other.into(),
    })?;
    let service = dropin.unit.strip_suffix(".service").unwrap_or(&dropin.unit);
    let next = format!(
        "systemctl daemon-reload && systemctl restart {}",
        shell_quote(service)
    );
    if ctx.out.json {
        print_document(
            "systemd-dropin",
            json!({
                "out": dropin.out,
                "unit": dropin.unit,
                "exec_start": dropin.exec_start,
                "removed_hosts": dropin.removed_hosts,
                "from": dropin.from,
                "next": crate::json::next(&format!("reload systemd and restart {}", dropin.unit), Some(&next)),
                "written": dropin.written,
            }),
        );
    } else {
        // The command and the addresses come from the installed unit, a file: `say` escapes.
        let removed = if dropin.removed_hosts.is_empty() {
            "no -H to remove".to_string()
        } else {
            let flags = dropin
                .removed_hosts
                .iter()
                .map(|h| format!("-H {h}"))
                .collect::<Vec<_>>()
                .join(" ");
            format!("removed {flags}")
        };
        ctx.out.done(format_args!(
            "wrote {}: {} starts `{}` ({removed})",
            dropin.out.display(),
            dropin.unit,
            dropin.exec_start
        ));
        if ctx.out.verbose && ctx.out.reports() {
            for source in &dropin.from {
                say(format_args!("read {}", source.display()));
            }
        }
        super::list_written(ctx, &dropin.written);
        ctx.out.done(&next);
    }
    Ok(EXIT_OK)
}
