//! `dockpki ca rotate`: replacing the CA without downtime, in phases (docs/rotation.md); the
//! engine is [`ops::rotate`](dockpki_provision::ops::rotate), this prints what each phase did
//! and what comes next.

use dockpki::KeyType;
use dockpki_provision::ops::rotate::{self, BeginRequest, Next, Outcome, Phase};
use dockpki_provision::store::Create;
use serde_json::json;

use super::{now, parse, parse_validity, Context};
use crate::cli::RotateBeginArgs;
use crate::error::{CliResult, EXIT_OK};
use crate::invocation::Invocation;
use crate::output::{print_document, say};

/// The command line (with the global options in force) that moves a rotation in `phase` on.
fn next_command(inv: &Invocation, phase: Phase) -> String {
    inv.command(match phase {
        Phase::None => "ca rotate begin",
        Phase::Begun => "ca rotate reissue",
        Phase::Reissued => "ca rotate finish",
    })
}

/// What the operator does after a phase, with the command line to run next. The daemons to
/// restart are named only when the phase listed some: a phase that changed no daemon layout
/// asks for no restart.
fn next_step(inv: &Invocation, next: Next, restarts: bool) -> String {
    let restart = if restarts {
        "restart the daemons listed, "
    } else {
        ""
    };
    match next {
        Next::Begin => format!("run `{}`", next_command(inv, Phase::None)),
        Next::Reissue => format!(
            "{restart}copy the new ca.pem to clients dockpki does not know (copied directories, docker contexts), then run `{}`",
            next_command(inv, Phase::Begun)
        ),
        Next::Finish => format!(
            "{restart}hand re-issued client directories to their users, then run `{}`",
            next_command(inv, Phase::Reissued)
        ),
        Next::Done if restarts => "restart the daemons listed; clients still holding certificates from the old CA are refused from now on".to_string(),
        Next::Done => "clients still holding certificates from the old CA are refused from now on".to_string(),
        Next::Aborted => format!(
            "{restart}issue again the certificates listed as not re-issued, and give the re-issued client directories and the old-only ca.pem to clients dockpki does not know; `{}` starts a new rotation",
            next_command(inv, Phase::None)
        ),
    }
}

/// The one command line of the step after a phase, when the step is one command (`--json`'s
/// `next.command`).
fn next_step_command(inv: &Invocation, next: Next) -> Option<String> {
    match next {
        Next::Begin => Some(next_command(inv, Phase::None)),
        Next::Reissue => Some(next_command(inv, Phase::Begun)),
        Next::Finish => Some(next_command(inv, Phase::Reissued)),
        // Nothing to run (done), or several things by hand before any command (aborted).
        Next::Done | Next::Aborted => None,
    }
}

/// `dockpki ca rotate begin`.
pub fn begin(ctx: &Context, args: &RotateBeginArgs) -> CliResult<i32> {
    let now = now();
    let key_type: Option<KeyType> = args.key_type.as_deref().map(parse).transpose()?;
    let request = BeginRequest {
        key_type,
        lifetime: parse_validity("--validity", &args.validity)?,
    };
    let state = ctx.open_state(Create::No)?;
    let outcome = rotate::begin(&state, &request, now)?;
    let summary = format!(
        "began the CA rotation: new CA {:?} (sha256 {}, valid until {}); {} layout(s) now trust the old and the new CA",
        outcome.new_ca.subject,
        outcome.new_ca.sha256_fingerprint,
        dockpki::format_time(outcome.new_ca.not_after),
        outcome.updated_dirs().len()
    );
    let extra = json!({ "ca": outcome.old_ca, "next_ca": outcome.new_ca });
    report(ctx, "begin", &outcome, &summary, extra)
}

/// `dockpki ca rotate reissue`.
pub fn reissue(ctx: &Context) -> CliResult<i32> {
    let now = now();
    let state = ctx.open_state(Create::No)?;
    let outcome = rotate::reissue(&state, now)?;
    let summary = format!(
        "re-issued {} certificate(s) from the new CA {:?}",
        outcome.reissued.len(),
        outcome.new_ca.subject
    );
    let extra = json!({
        "ca": outcome.old_ca,
        "next_ca": outcome.new_ca,
        "reissued": outcome.reissued.len(),
    });
    report(ctx, "reissue", &outcome, &summary, extra)
}

/// `dockpki ca rotate finish`.
pub fn finish(ctx: &Context) -> CliResult<i32> {
    let state = ctx.open_state(Create::No)?;
    let outcome = rotate::finish(&state)?;
    let summary = format!(
        "finished the CA rotation: {:?} is the CA now; the old CA {:?} is archived in {}",
        outcome.new_ca.subject,
        outcome.old_ca.subject,
        outcome
            .archive
            .clone()
            .unwrap_or_else(|| state.archive_dir())
            .display()
    );
    let extra = json!({ "ca": outcome.new_ca, "previous_ca": outcome.old_ca });
    report(ctx, "finish", &outcome, &summary, extra)
}

/// `dockpki ca rotate abort`.
pub fn abort(ctx: &Context) -> CliResult<i32> {
    let now = now();
    let state = ctx.open_state(Create::No)?;
    let outcome = rotate::abort(&state, now)?;
    let archived = outcome
        .archived
        .first()
        .cloned()
        .unwrap_or_else(|| state.archive_dir());
    let summary = format!(
        "aborted the CA rotation: {} layout(s) trust only {:?} again, {} certificate(s) re-issued from it; the new CA {:?} is archived as {}",
        outcome.updated_dirs().len(),
        outcome.old_ca.subject,
        outcome.reissued.len(),
        outcome.new_ca.subject,
        archived.display()
    );
    let extra = json!({
        "ca": outcome.old_ca,
        "previous_ca": outcome.new_ca,
        "archived_files": outcome.archived,
        "reissued": outcome.reissued.len(),
        "not_reissued": outcome.not_reissued.iter().map(|n| json!({
            "certificate": crate::json::record(&n.record),
            "reason": n.reason,
        })).collect::<Vec<_>>(),
        "skipped_layouts": outcome.skipped.iter().map(|(dir, reason)| json!({
            "dir": dir,
            "reason": reason,
        })).collect::<Vec<_>>(),
    });
    report(ctx, "abort", &outcome, &summary, extra)
}

/// `dockpki ca rotate status`.
pub fn status(ctx: &Context) -> CliResult<i32> {
    let now = now();
    // Opening for writing completes an interrupted update first, so the answer is about the
    // files as they will be, not a half-moved journal.
    let state = ctx.open_state(Create::No)?;
    let st = rotate::status(&state)?;
    if ctx.out.json {
        let text = match st.phase {
            Phase::None => "no CA rotation is in progress; begin one to replace the CA",
            Phase::Begun => "re-issue the certificates still from the old CA",
            Phase::Reissued => "finish the rotation: the new CA becomes the CA",
        };
        let command = next_command(&ctx.invocation, st.phase);
        print_document(
            "ca-rotate-status",
            json!({
                "phase": st.phase,
                "ca": st.current_ca,
                "next_ca": st.next_ca,
                "left": st.left.iter().map(crate::json::record).collect::<Vec<_>>(),
                "next": crate::json::next(text, Some(&command)),
            }),
        );
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
    match st.phase {
        Phase::None => println!("phase:      none (no CA rotation in progress)"),
        Phase::Begun => println!(
            "phase:      begun (old and new CA trusted; {} certificate(s) still from the old CA)",
            st.left.len()
        ),
        Phase::Reissued => {
            println!("phase:      reissued (every active certificate comes from the new CA)")
        }
    }
    show(
        if st.next_ca.is_some() {
            "old CA:"
        } else {
            "current CA:"
        },
        &st.current_ca,
    );
    if let Some(n) = &st.next_ca {
        show("new CA:", n);
    }
    for r in &st.left {
        say(format_args!("left:       {}", rotate::describe(r)));
    }
    say(format_args!(
        "next:       {}",
        next_command(&ctx.invocation, st.phase)
    ));
    Ok(EXIT_OK)
}

/// Prints a phase's result: one line saying what it did, then the restarts and the next step
/// (without them the phase is not done: a daemon keeps the old files until restarted). What
/// was left out (not re-issued, not updated) is printed even with `-q`.
fn report(
    ctx: &Context,
    command: &str,
    outcome: &Outcome,
    summary: &str,
    extra: serde_json::Value,
) -> CliResult<i32> {
    let restart = outcome.restart_daemons();
    let next = next_step(&ctx.invocation, outcome.next, !restart.is_empty());
    if ctx.out.json {
        let command_line = next_step_command(&ctx.invocation, outcome.next);
        let deliver: Vec<_> = outcome
            .deliver
            .iter()
            .map(|d| json!({ "host": d.host, "dir": d.out }))
            .collect();
        let mut doc = json!({
            "deliver": deliver,
            "restart": crate::json::restart(&restart, &ctx.user),
            "missing_layouts": outcome.missing,
            "next": crate::json::next(&next, command_line.as_deref()),
            "written": outcome.written,
            "contexts_fed": outcome.contexts_fed,
        });
        if let (Some(doc), serde_json::Value::Object(extra)) = (doc.as_object_mut(), extra) {
            doc.extend(extra);
        }
        print_document(&format!("ca-rotate-{command}"), doc);
        return Ok(EXIT_OK);
    }
    // The summary names CA subjects; the directories come from the inventory.
    // What the phase did, then (with -v) the files it wrote.
    ctx.out.done(summary);
    super::list_written(ctx, &outcome.written);
    super::list_contexts_fed(ctx, &outcome.contexts_fed);
    // Escaped by say: names and paths come from the inventory, reasons quote both.
    for n in &outcome.not_reissued {
        say(format_args!(
            "not re-issued: {}: {}; issue it again",
            rotate::describe(&n.record),
            n.reason
        ));
    }
    for (dir, reason) in &outcome.skipped {
        say(format_args!(
            "not updated (cannot be written): {}: {reason}",
            dir.display()
        ));
    }
    for dir in &outcome.missing {
        say(format_args!(
            "not updated (directory gone): {}; give its holder the new ca.pem",
            dir.display()
        ));
    }
    // Remote hosts hold their own keys: the fleet delivers what this phase wrote for them.
    for d in &outcome.deliver {
        ctx.out.done(format_args!(
            "deliver {} to host {:?} and run `{}` there",
            d.out.display(),
            d.host,
            ctx.invocation.command("install --from DIR --dir LAYOUT")
        ));
    }
    for dir in &restart {
        ctx.out.done(crate::paths::restart_hint(dir, &ctx.user));
    }
    ctx.out.done(format_args!("next: {next}"));
    Ok(EXIT_OK)
}
