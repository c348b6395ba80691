//! `dockpki renew`: re-issue the active certificates that are due (or the selected ones) into
//! every layout they are installed in, as one crash-safe update.
//!
//! Built for a daily timer: nothing due means nothing written, nothing printed, exit 0. The
//! files a renewal replaces are kept as timestamped backups, as `--force` does elsewhere; they
//! are a few hundred bytes each, and an operator may need the previous key to read old traffic
//! captures or to roll back by hand.

use dockpki_provision::fs::Existing;
use dockpki_provision::store::Create;
use std::path::PathBuf;

use serde::Serialize;

use super::{now, parse_window, Context};
use crate::cli::RenewArgs;
use crate::error::{CliError, CliResult, EXIT_OK};
use crate::output::{print_json, say};
use dockpki_provision::fs::write::WritePlan;
use dockpki_provision::layout::restart_hint;
use dockpki_provision::store::expiry::is_due;
use dockpki_provision::store::inventory::{Record, Status};
use dockpki_provision::store::reissue::{reissue, restrict_reused_keys, KeyPolicy};

/// The default of `--within`.
const DEFAULT_WITHIN: &str = "30d";

#[derive(Debug, Serialize)]
struct Renewed {
    kind: dockpki::Usage,
    common_name: Option<String>,
    old_serial: String,
    serial: String,
    #[serde(with = "time::serde::rfc3339")]
    not_after: time::OffsetDateTime,
    key: &'static str,
    installed: Vec<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Restart {
    daemon_dir: PathBuf,
    message: String,
}

/// Renews what is due or selected; prints only when something was renewed.
pub fn run(ctx: &Context, args: &RenewArgs) -> CliResult<i32> {
    let within = parse_window("--within", args.within.as_deref().unwrap_or(DEFAULT_WITHIN))?;
    let key_policy = if args.reuse_key {
        KeyPolicy::Reuse
    } else {
        KeyPolicy::Fresh
    };
    let now = now();
    let state = ctx.open_state(Create::No)?;
    let mut inventory = state.load_inventory()?;
    let active = || {
        inventory
            .certificates
            .iter()
            .filter(|r| r.status == Status::Active)
    };
    let selected: Vec<Record> = if let Some(name) = &args.name {
        let found: Vec<Record> = active()
            .filter(|r| r.common_name.as_deref() == Some(name.as_str()))
            .cloned()
            .collect();
        if found.is_empty() {
            return Err(CliError::new(format!(
                "no active certificate has the common name {name:?}; see `dockpki status` for the names"
            )));
        }
        found
    } else if let Some(serial) = &args.serial {
        let selection = inventory.select_serial(serial, |r| r.status == Status::Active);
        let found: Vec<Record> = selection
            .indices
            .iter()
            .map(|&i| inventory.certificates[i].clone())
            .collect();
        match found.len() {
            0 => {
                return Err(CliError::new(format!(
                    "no active certificate has the serial {serial:?}; see `dockpki status` for the serials"
                )))
            }
            1 => found,
            n if selection.exact => {
                return Err(CliError::new(format!(
                    "the serial {serial:?} is recorded for {n} active certificates in {}, which is damaged (dockpki records each certificate once); restore the previous version from {}.bak, or remove the extra record by hand",
                    state.inventory_path().display(),
                    state.inventory_path().display()
                )))
            }
            n => {
                return Err(CliError::new(format!(
                    "the serial {serial:?} matches {n} active certificates; give more digits (see `dockpki --json status`)"
                )))
            }
        }
    } else if args.all {
        active().cloned().collect()
    } else {
        active()
            .filter(|r| is_due(r.not_after, now, within))
            .cloned()
            .collect()
    };
    if selected.is_empty() {
        if ctx.out.json {
            print_json(&serde_json::json!({ "renewed": [], "restart": [] }));
        }
        return Ok(EXIT_OK);
    }

    let ca = state.load_ca()?;
    let bundle = state.trust_bundle_pem(&ca)?;
    let user = ctx.user.clone();
    // Renew replaces files it wrote itself: forced, with backups.
    let mut plan = WritePlan::new(Existing::ReplaceKeepingBackup);
    let mut renewed = Vec::new();
    for record in &selected {
        refuse_outliving_ca(record, &ca, now)?;
        // Any refusal here (a successor that would outlive the CA, an unreadable key) returns
        // before the plan is committed: nothing is written for any certificate.
        let issued = reissue(
            &ca,
            &bundle,
            record,
            key_policy,
            &user.owners,
            now,
            &mut plan,
            &mut inventory,
        )?;
        renewed.push(Renewed {
            kind: record.kind,
            common_name: record.common_name.clone(),
            old_serial: record.serial.clone(),
            serial: issued.info.serial.clone(),
            not_after: issued.info.not_after,
            key: match key_policy {
                KeyPolicy::Fresh => "new",
                KeyPolicy::Reuse => "reused",
            },
            installed: record.installed.clone(),
        });
    }
    state.plan_inventory(&mut plan, &inventory)?;
    let owners: std::collections::BTreeMap<_, _> = selected
        .iter()
        .flat_map(|r| r.installed.iter())
        .map(|d| (d.clone(), user.owner_for(d)))
        .collect();
    let (_, skipped) = state.commit_skipping_unwritable(plan)?;
    for (dir, why) in &skipped {
        crate::output::note(format_args!(
            "warning: left {} as it was: {why}",
            dir.display()
        ));
    }
    if key_policy == KeyPolicy::Reuse {
        for record in &selected {
            restrict_reused_keys(record, &owners)?;
        }
    }

    let restart: Vec<Restart> = renewed
        .iter()
        .filter(|r| r.kind == dockpki::Usage::Server)
        .flat_map(|r| r.installed.iter())
        .map(|dir| Restart {
            daemon_dir: dir.clone(),
            message: restart_hint(dir),
        })
        .collect();
    if ctx.out.json {
        let skipped: Vec<_> = skipped
            .iter()
            .map(|(dir, why)| serde_json::json!({ "dir": dir, "reason": why }))
            .collect();
        print_json(
            &serde_json::json!({ "renewed": renewed, "restart": restart, "skipped": skipped }),
        );
    } else {
        // Names and serials come from the inventory and the certificates, directories from
        // the inventory: every line is escaped.
        for r in &renewed {
            say(format_args!(
                "renewed {} certificate {:?}: serial {} replaces {}, valid until {}, {} key, in {}",
                r.kind,
                r.common_name.as_deref().unwrap_or("-"),
                r.serial,
                r.old_serial,
                dockpki::format_time(r.not_after),
                r.key,
                r.installed
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for r in &restart {
            say(&r.message);
        }
    }
    // Whatever could be renewed was; a layout left as it was still needs the operator.
    Ok(if skipped.is_empty() {
        EXIT_OK
    } else {
        crate::error::EXIT_FAILURE
    })
}

/// Renewal keeps a certificate's lifetime, so near the end of the CA a successor would outlive
/// it, which the library refuses (`LeafOutlivesCa`). Say so in renew's terms: the way forward
/// is a new CA, which `renew` cannot make.
fn refuse_outliving_ca(
    record: &Record,
    ca: &dockpki::CertificateAuthority,
    now: time::OffsetDateTime,
) -> CliResult<()> {
    let Some(lifetime) = dockpki::Lifetime::of_validity(record.not_before, record.not_after) else {
        // reissue() reports an unusable recorded validity itself.
        return Ok(());
    };
    let (_, successor_not_after) = lifetime.window(now);
    let ca_not_after = ca.info().not_after;
    if successor_not_after
        .replace_nanosecond(0)
        .unwrap_or(successor_not_after)
        <= ca_not_after
    {
        return Ok(());
    }
    Err(CliError::new(format!(
        "cannot renew {} certificate {:?} (serial {}): its successor (valid {lifetime}) would expire {}, after its CA ({}); rotate the CA first (dockpki ca rotate begin, reissue, finish); nothing was written",
        record.kind,
        record.common_name.as_deref().unwrap_or("-"),
        record.serial,
        dockpki::format_time(successor_not_after),
        dockpki::format_time(ca_not_after),
    )))
}
