//! `dockpki renew`: re-issue the active certificates that are due (or the selected ones) into
//! every layout they are installed in, as one crash-safe update ([`ops::renew`]).
//!
//! Built for a daily timer: nothing due means nothing written, nothing printed, exit 0.

use std::path::PathBuf;

use dockpki_provision::ops::{self, renew::KeyPolicy, RenewRequest, Selection};
use dockpki_provision::store::expiry::FileState;
use dockpki_provision::store::Create;
use serde::Serialize;

use super::{now, renewal_window, Context};
use crate::cli::RenewArgs;
use crate::error::{CliResult, EXIT_FAILURE, EXIT_OK};
use crate::output::{note, print_document};

#[derive(Debug, Serialize)]
struct Renewed {
    kind: dockpki::Usage,
    common_name: Option<String>,
    old_serial: String,
    serial: String,
    #[serde(with = "time::serde::rfc3339")]
    not_after: time::OffsetDateTime,
    key: &'static str,
    /// `{dir, state}` objects (docs/json.md), `ok`: each layout was just written.
    installed: Vec<serde_json::Value>,
    /// For a remote host's certificate: `{host, dir}`, where the new certificate waits for
    /// delivery (docs/json.md, object `deliver`).
    deliver: Option<serde_json::Value>,
    #[serde(skip)]
    dirs: Vec<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Restart {
    dir: PathBuf,
    message: String,
    /// Whether it is the user's own rootless daemon (docs/json.md, object `restart`).
    rootless: bool,
}

/// Renews what is due or selected; prints only when something was renewed.
pub fn run(ctx: &Context, args: &RenewArgs) -> CliResult<i32> {
    let window = renewal_window(args.within.as_deref())?;
    let selection = if let Some(name) = &args.name {
        Selection::CommonName(name.clone())
    } else if let Some(serial) = &args.serial {
        Selection::Serial(serial.clone())
    } else if args.all {
        Selection::All
    } else {
        Selection::Due(window)
    };
    let lifetime = args
        .validity
        .as_deref()
        .map(|v| super::parse_validity("--validity", v))
        .transpose()?;
    let request = RenewRequest {
        selection,
        lifetime,
        key_policy: if args.reuse_key {
            KeyPolicy::Reuse
        } else {
            KeyPolicy::Fresh
        },
    };
    let state = ctx.open_state(Create::No)?;
    let renewal = ops::renew(&state, &request, now())?;
    // Nothing renewed and nothing left out: nothing to say. A renewal whose every selected
    // certificate was left out (a remote host's delivery directory that cannot be written)
    // still says so, and fails.
    if renewal.renewed.is_empty() && renewal.skipped.is_empty() {
        if ctx.out.json {
            print_document(
                "renew",
                serde_json::json!({ "renewed": [], "restart": [], "skipped": [], "contexts_fed": [] }),
            );
        }
        return Ok(EXIT_OK);
    }
    for (dir, why) in &renewal.skipped {
        note(format_args!(
            "warning: left {} as it was: {why}",
            dir.display()
        ));
    }

    let renewed: Vec<Renewed> = renewal
        .renewed
        .iter()
        .map(|r| Renewed {
            kind: r.kind,
            common_name: r.common_name.clone(),
            old_serial: r.old_serial.clone(),
            serial: r.certificate.serial.clone(),
            not_after: r.certificate.not_after,
            key: match r.key_policy {
                KeyPolicy::Fresh => "new",
                KeyPolicy::Reuse => "reused",
            },
            installed: crate::json::installed_all(&r.installed, FileState::Ok.as_str()),
            deliver: r
                .remote
                .as_ref()
                .map(|d| serde_json::json!({ "host": d.host, "dir": d.out })),
            dirs: r.installed.clone(),
        })
        .collect();
    let restart: Vec<Restart> = renewal
        .restart_daemons()
        .into_iter()
        .map(|dir| {
            let daemon = crate::paths::daemon_of_layout(&dir, &ctx.user);
            Restart {
                message: dockpki_provision::layout::restart_hint(&dir, daemon),
                rootless: daemon == dockpki_provision::docker::daemon_json::Daemon::Rootless,
                dir,
            }
        })
        .collect();
    if ctx.out.json {
        let skipped: Vec<_> = renewal
            .skipped
            .iter()
            .map(|(dir, why)| serde_json::json!({ "dir": dir, "reason": why }))
            .collect();
        print_document(
            "renew",
            serde_json::json!({
                "renewed": renewed,
                "restart": restart,
                "skipped": skipped,
                "contexts_fed": renewal.contexts_fed,
            }),
        );
    } else {
        // Names and serials come from the inventory and the certificates, directories from
        // the inventory: every line is escaped.
        for r in &renewed {
            if let Some(d) = &r.deliver {
                ctx.out.done(format_args!(
                    "renewed {} certificate {:?} of host {}: serial {} replaces {}, valid until {}, same key (the host holds it), written to {}: deliver it and run `{}` there",
                    r.kind,
                    r.common_name.as_deref().unwrap_or("-"),
                    d["host"],
                    r.serial,
                    r.old_serial,
                    dockpki::format_time(r.not_after),
                    d["dir"].as_str().unwrap_or_default(),
                    ctx.invocation.command("install --from DIR --dir LAYOUT")
                ));
                continue;
            }
            ctx.out.done(format_args!(
                "renewed {} certificate {:?}: serial {} replaces {}, valid until {}, {} key, in {}",
                r.kind,
                r.common_name.as_deref().unwrap_or("-"),
                r.serial,
                r.old_serial,
                dockpki::format_time(r.not_after),
                r.key,
                r.dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        super::list_written(ctx, &renewal.written);
        super::list_contexts_fed(ctx, &renewal.contexts_fed);
        for r in &restart {
            ctx.out.done(&r.message);
        }
    }
    // Whatever could be renewed was; a layout left as it was still needs the operator.
    Ok(if renewal.is_complete() {
        EXIT_OK
    } else {
        EXIT_FAILURE
    })
}
