//! `dockpki install --from DIR --dir LAYOUT`.

use dockpki_provision::docker::daemon_json::Daemon;
use dockpki_provision::layout::restart_hint;
use dockpki_provision::ops::{self, InstallRequest};
use serde_json::json;

use super::{now, Context};
use crate::cli::InstallArgs;
use crate::error::{with_layout_flags, CliResult, LayoutFlags, EXIT_OK};
use crate::output::{note, print_document};
use crate::paths::absolute;

/// Installs a certificate signed elsewhere into the layout holding its key.
pub fn run(ctx: &Context, args: &InstallArgs) -> CliResult<i32> {
    let request = InstallRequest {
        from: absolute(&args.from)?,
        dir: absolute(&args.dir)?,
        existing: super::existing(args.force),
        ca_fingerprint: args.ca_fingerprint,
        lock_timeout: ctx.settings().lock_timeout,
    };
    let installed = ops::install(&request, now(), ctx.report())
        .map_err(with_layout_flags(LayoutFlags::RequestDir))?;
    let changed = installed.written.iter().any(|w| w.changed);
    if ctx.out.json {
        print_document(
            "install",
            json!({
                "layout": { "kind": installed.layout.label(), "dir": installed.layout.dir },
                "certificate": installed.certificate,
                "changed": changed,
                "restart_daemon": installed.needs_daemon_restart(),
                "written": installed.written,
            }),
        );
    } else {
        ctx.out.done(format_args!(
            "{} {} certificate {} (serial {}, expires {}) in {}",
            if changed {
                "installed"
            } else {
                "already installed:"
            },
            installed.layout.usage,
            super::quoted_name(&installed.certificate),
            super::short_serial(&installed.certificate.serial),
            installed.certificate.not_after.date(),
            installed.layout.dir.display()
        ));
        super::list_written(ctx, &installed.written);
        if installed.needs_daemon_restart() {
            note(format_args!(
                "note: {}",
                restart_hint(&installed.layout.dir, Daemon::System)
            ));
        }
    }
    Ok(EXIT_OK)
}
