//! `dockpki ca rotate`: replacing the CA without downtime, in phases (docs/rotation.md).
//!
//! dockerd and the docker CLI accept a `ca.pem` holding several CAs, and each side picks the
//! certificate to present by the issuer names the other side trusts. So the CA can be replaced
//! while everything keeps working: `begin` makes the new CA and installs old+new bundles in every
//! layout dockpki knows, `reissue` replaces every certificate from the old CA with one from the
//! new CA, `finish` installs new-only bundles and retires the old CA. Each phase is one journaled
//! plan, so a crash leaves either the previous phase or, after recovery, the next one.
//!
//! The only record of a rotation in progress is the new CA waiting in `ca-next*.pem`; which
//! phase it is in follows from the inventory (are there active certificates from the old CA?).

use dockpki_provision::fs::Existing;
use dockpki_provision::fs::OwnerPolicy;
use dockpki_provision::store::Create;
use std::path::PathBuf;

use dockpki::{CaOptions, CertificateAuthority, KeyType, Usage};
use serde::Serialize;
use serde_json::json;

use super::{now, parse, Context};
use crate::cli::RotateBeginArgs;
use crate::error::{CliError, CliResult, EXIT_OK};
use crate::output::{print_json, say};
use dockpki_provision::fs::write::{WritePlan, Written};
use dockpki_provision::layout::{restart_hint, Layout};
use dockpki_provision::store::inventory::{Inventory, Record, Status};
use dockpki_provision::store::reissue::{reissue as reissue_record, KeyPolicy};
use dockpki_provision::store::state::State;

/// Where a rotation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Phase {
    /// No rotation in progress.
    None,
    /// A new CA exists and is trusted everywhere; certificates from the old CA remain.
    Begun,
    /// Every active certificate comes from the new CA: ready to finish.
    Reissued,
}

impl Phase {
    fn next_command(self) -> &'static str {
        match self {
            Phase::None => "dockpki ca rotate begin",
            Phase::Begun => "dockpki ca rotate reissue",
            Phase::Reissued => "dockpki ca rotate finish",
        }
    }
}

/// `dockpki ca rotate begin`.
pub fn begin(ctx: &Context, args: &RotateBeginArgs) -> CliResult<i32> {
    let now = now();
    let key_type: Option<KeyType> = args.key_type.as_deref().map(parse).transpose()?;
    let lifetime = parse(&args.validity)?;
    let state = ctx.open_state(Create::No)?;
    if state.rotating() {
        return Err(CliError::new(format!(
            "a CA rotation is already in progress (new CA in {}); continue it with `{}` (see `dockpki ca rotate status`)",
            state.ca_next_cert_path().display(),
            phase(&state, &state.load_inventory()?)?.next_command()
        )));
    }
    let old = state.load_current_ca()?;
    let inventory = state.load_inventory()?;
    let mut options = CaOptions {
        common_name: CaOptions::unique_name(now)?,
        key_type: key_type.or(old.info().key_type).unwrap_or_default(),
        lifetime,
        // The new CA may sign exactly what the old one could, so no certificate changes meaning.
        path_len: old
            .info()
            .path_len
            .and_then(|n| u8::try_from(n).ok())
            .unwrap_or(0),
        name_constraints: old.name_constraints().clone(),
    };
    // Clients pick the certificate to present by issuer name: two CAs with one name would make
    // them offer the wrong one while both are trusted.
    while old.info().common_name.as_deref() == Some(options.common_name.as_str()) {
        options.common_name = CaOptions::unique_name(now)?;
    }
    let new = CertificateAuthority::create(&options, now)?;
    let bundle = dockpki::trust_bundle_pem([old.cert_der(), new.cert_der()])?;

    let mut plan = WritePlan::new(Existing::ReplaceKeepingBackup);
    state.plan_next_ca(&mut plan, &new)?;
    let (present, missing) = existing_layouts(&inventory);
    plan_bundles(&mut plan, &present, &bundle, &ctx.user.owners);
    let written = state.commit(plan)?;

    let restart = daemon_dirs(&present);
    report(
        ctx,
        "begin",
        &Outcome {
            summary: format!(
                "began the CA rotation: new CA {:?} (sha256 {}, valid until {}); {} layout(s) now trust the old and the new CA",
                new.info().subject,
                new.info().sha256_fingerprint,
                dockpki::format_time(new.info().not_after),
                dirs_of(&present).len()
            ),
            restart,
            missing,
            next: format!(
                "restart the daemons listed, copy the new ca.pem to clients dockpki does not know (copied directories, docker contexts), then run `{}`",
                Phase::Begun.next_command()
            ),
            written,
        },
        json!({ "new_ca": new.info(), "old_ca": old.info() }),
    )
}

/// `dockpki ca rotate reissue`.
pub fn reissue(ctx: &Context) -> CliResult<i32> {
    let now = now();
    let state = open_rotating(ctx, "reissue")?;
    let new = state.load_next_ca()?;
    let bundle = state.trust_bundle_pem(&new)?;
    let mut inventory = state.load_inventory()?;
    let todo: Vec<Record> = from_old_ca(&inventory, new.info()).cloned().collect();
    let mut written = Vec::new();
    if !todo.is_empty() {
        let user = ctx.user.clone();
        let mut plan = WritePlan::new(Existing::ReplaceKeepingBackup);
        for record in &todo {
            reissue_record(
                &new,
                &bundle,
                record,
                KeyPolicy::Fresh,
                &user.owners,
                now,
                &mut plan,
                &mut inventory,
            )?;
        }
        state.plan_inventory(&mut plan, &inventory)?;
        written = state.commit(plan)?;
    }
    let reissued: Vec<Layout> = todo
        .iter()
        .flat_map(|r| {
            r.installed
                .iter()
                .map(|d| Layout::for_usage(r.kind, d.clone()))
        })
        .collect();
    report(
        ctx,
        "reissue",
        &Outcome {
            summary: format!(
                "re-issued {} certificate(s) from the new CA {:?}",
                todo.len(),
                new.info().subject
            ),
            restart: daemon_dirs(&reissued),
            missing: Vec::new(),
            next: format!(
                "restart the daemons listed, hand re-issued client directories to their users, then run `{}`",
                Phase::Reissued.next_command()
            ),
            written,
        },
        json!({ "reissued": todo.len(), "new_ca": new.info() }),
    )
}

/// `dockpki ca rotate finish`.
pub fn finish(ctx: &Context) -> CliResult<i32> {
    let state = open_rotating(ctx, "finish")?;
    let old = state.load_current_ca()?;
    let new = state.load_next_ca()?;
    let inventory = state.load_inventory()?;
    let left: Vec<&Record> = from_old_ca(&inventory, new.info()).collect();
    if !left.is_empty() {
        let names: Vec<String> = left.iter().map(|r| describe(r)).collect();
        return Err(CliError::new(format!(
            "{} certificate(s) still come from the old CA and would stop working: {}; run `dockpki ca rotate reissue` first",
            left.len(),
            names.join(", ")
        )));
    }
    let mut plan = WritePlan::new(Existing::ReplaceKeepingBackup);
    let (present, missing) = existing_layouts(&inventory);
    plan_bundles(&mut plan, &present, new.cert_pem(), &ctx.user.owners);
    // The old CA is kept (its key can still sign for anything that trusts it, hence 0400 in a
    // 0700 directory), so that leaves it issued can be inspected and the rotation undone by hand.
    let tag = fingerprint_tag(&old);
    let archive = state.archive_dir();
    plan.cert(archive.join(format!("ca-{tag}.pem")), old.cert_pem(), None);
    plan.key(
        archive.join(format!("ca-{tag}-key.pem")),
        old.key_pem(),
        None,
    );
    plan.rename(state.ca_next_cert_path(), state.ca_cert_path());
    plan.rename(state.ca_next_key_path(), state.ca_key_path());
    let written = state.commit(plan)?;

    report(
        ctx,
        "finish",
        &Outcome {
            summary: format!(
                "finished the CA rotation: {:?} is the CA now; the old CA {:?} is archived in {}",
                new.info().subject,
                old.info().subject,
                archive.display()
            ),
            restart: daemon_dirs(&present),
            missing,
            next: "restart the daemons listed; clients still holding certificates from the old CA are refused from now on".to_string(),
            written,
        },
        json!({ "ca": new.info(), "archived_ca": old.info() }),
    )
}

/// `dockpki ca rotate status`.
pub fn status(ctx: &Context) -> CliResult<i32> {
    let now = now();
    // Opening for writing completes an interrupted update first, so the answer is about the
    // files as they will be, not a half-moved journal.
    let state = ctx.open_state(Create::No)?;
    // Certificates only: reporting where a rotation stands must not need an encrypted key.
    let current = state.cert_info(&state.ca_cert_path())?;
    let inventory = state.load_inventory()?;
    let phase = phase(&state, &inventory)?;
    let next = if state.rotating() {
        Some(state.cert_info(&state.ca_next_cert_path())?)
    } else {
        None
    };
    let left: Vec<&Record> = match &next {
        Some(n) => from_old_ca(&inventory, n).collect(),
        None => Vec::new(),
    };
    if ctx.out.json {
        print_json(&json!({
            "phase": phase,
            "current_ca": ca_summary(&current),
            "next_ca": next.as_ref().map(ca_summary),
            "left": left.iter().map(|r| json!({
                "kind": r.kind,
                "common_name": r.common_name,
                "serial": r.serial,
                "installed": r.installed,
            })).collect::<Vec<_>>(),
            "next_command": phase.next_command(),
        }));
        return Ok(EXIT_OK);
    }
    // Subjects come from the CA certificates and names and paths from the inventory: every line
    // that shows one is escaped.
    let show = |label: &str, info: &dockpki::CertInfo| {
        say(format_args!(
            "{label:<11} {:?}, sha256 {}, expires {} ({} days)",
            info.subject,
            info.sha256_fingerprint,
            dockpki::format_time(info.not_after),
            info.days_left(now)
        ));
    };
    match phase {
        Phase::None => println!("phase:      none (no CA rotation in progress)"),
        Phase::Begun => println!(
            "phase:      begun (old and new CA trusted; {} certificate(s) still from the old CA)",
            left.len()
        ),
        Phase::Reissued => {
            println!("phase:      reissued (every active certificate comes from the new CA)")
        }
    }
    show(
        if next.is_some() {
            "old CA:"
        } else {
            "current CA:"
        },
        &current,
    );
    if let Some(n) = &next {
        show("new CA:", n);
    }
    for r in &left {
        say(format_args!("left:       {}", describe(r)));
    }
    println!("next:       {}", phase.next_command());
    Ok(EXIT_OK)
}

/// Opens the state for a phase that needs a rotation in progress.
fn open_rotating(ctx: &Context, command: &str) -> CliResult<State> {
    let state = ctx.open_state(Create::No)?;
    if !state.rotating() {
        return Err(CliError::new(format!(
            "no CA rotation in progress in {}, nothing to {command}; start one with `dockpki ca rotate begin`",
            state.dir().display()
        )));
    }
    Ok(state)
}

fn phase(state: &State, inventory: &Inventory) -> CliResult<Phase> {
    if !state.rotating() {
        return Ok(Phase::None);
    }
    let new = state.cert_info(&state.ca_next_cert_path())?;
    Ok(if from_old_ca(inventory, &new).next().is_some() {
        Phase::Begun
    } else {
        Phase::Reissued
    })
}

/// Active certificates not issued by `new`: those that stop working when only `new` is trusted.
fn from_old_ca<'a>(
    inventory: &'a Inventory,
    new: &'a dockpki::CertInfo,
) -> impl Iterator<Item = &'a Record> {
    inventory
        .certificates
        .iter()
        .filter(move |r| r.status == Status::Active && !new.fingerprint().matches(&r.ca_sha256))
}

/// Every layout dockpki installed an active certificate into, split into those whose directory
/// still exists and those that are gone (handed over or deleted: they cannot be updated here,
/// and recreating a directory with only a `ca.pem` in it would help nobody).
fn existing_layouts(inventory: &Inventory) -> (Vec<Layout>, Vec<PathBuf>) {
    let mut present: Vec<Layout> = Vec::new();
    let mut missing: Vec<PathBuf> = Vec::new();
    for r in inventory
        .certificates
        .iter()
        .filter(|r| r.status == Status::Active)
    {
        for dir in &r.installed {
            if present.iter().any(|l| &l.dir == dir && l.usage == r.kind) || missing.contains(dir) {
                continue;
            }
            if dir.is_dir() {
                present.push(Layout::for_usage(r.kind, dir.clone()));
            } else {
                missing.push(dir.clone());
            }
        }
    }
    (present, missing)
}

/// Adds `bundle` as `ca.pem` to every layout directory (once per directory).
fn plan_bundles(plan: &mut WritePlan, layouts: &[Layout], bundle: &str, owners: &OwnerPolicy) {
    for dir in dirs_of(layouts) {
        plan.cert(dir.join("ca.pem"), bundle, owners.owner_for(&dir));
    }
}

fn dirs_of(layouts: &[Layout]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for l in layouts {
        if !dirs.contains(&l.dir) {
            dirs.push(l.dir.clone());
        }
    }
    dirs
}

/// The daemon layouts among `layouts`: dockerd reads its certificates only at start (SIGHUP
/// does not reload TLS), so each needs a restart to see what was installed.
fn daemon_dirs(layouts: &[Layout]) -> Vec<PathBuf> {
    let daemons: Vec<Layout> = layouts
        .iter()
        .filter(|l| l.usage == Usage::Server)
        .cloned()
        .collect();
    dirs_of(&daemons)
}

/// `server "localhost" (serial ab12) in /etc/docker/pki`.
fn describe(r: &Record) -> String {
    let dirs: Vec<String> = r
        .installed
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    format!(
        "{} {:?} (serial {}) in {}",
        r.kind,
        r.common_name.as_deref().unwrap_or(""),
        r.serial,
        dirs.join(" and ")
    )
}

/// The first 16 hex digits of the CA's SHA-256 fingerprint, lower case: unique enough to name
/// archived CAs apart.
fn fingerprint_tag(ca: &CertificateAuthority) -> String {
    ca.info()
        .sha256_fingerprint
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(16)
        .collect::<String>()
        .to_ascii_lowercase()
}

fn ca_summary(info: &dockpki::CertInfo) -> serde_json::Value {
    json!({
        "subject": info.subject,
        "sha256": info.sha256_fingerprint,
        "not_after": dockpki::format_time(info.not_after),
    })
}

/// What a phase did, for the report.
struct Outcome {
    summary: String,
    restart: Vec<PathBuf>,
    missing: Vec<PathBuf>,
    next: String,
    written: Vec<Written>,
}

/// Prints a phase's result. The restarts and the next step are printed even without `-v`:
/// without them the phase is not done (a daemon keeps the old files until restarted).
fn report(
    ctx: &Context,
    command: &str,
    outcome: &Outcome,
    extra: serde_json::Value,
) -> CliResult<i32> {
    if ctx.out.json {
        let mut doc = json!({
            "command": command,
            "restart_daemons": outcome.restart,
            "missing_layouts": outcome.missing,
            "next": outcome.next,
            "written": outcome.written,
        });
        if let (Some(doc), serde_json::Value::Object(extra)) = (doc.as_object_mut(), extra) {
            doc.extend(extra);
        }
        print_json(&doc);
        return Ok(EXIT_OK);
    }
    // The summary names CA subjects; the directories come from the inventory.
    if ctx.out.verbose {
        say(&outcome.summary);
        for w in outcome.written.iter().filter(|w| w.changed) {
            say(format_args!("wrote {}", w.path.display()));
        }
    }
    for dir in &outcome.missing {
        say(format_args!(
            "not updated (directory gone): {}; give its holder the new ca.pem",
            dir.display()
        ));
    }
    for dir in &outcome.restart {
        say(restart_hint(dir));
    }
    say(format_args!("next: {}", outcome.next));
    Ok(EXIT_OK)
}
