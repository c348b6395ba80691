//! `dockpki plan` and `dockpki apply`: the PKI a `dockpki.toml` describes (docs/config.md),
//! the drift from it, and one crash-safe update that converges to it. The engine decides
//! everything ([`converge::plan`], [`converge::apply`]); this finds the file, asks, and prints.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use dockpki_provision::config::{self, Desired};
use dockpki_provision::ops::converge::{self, Action, ActionKind, Applied, Foreign, Note, Plan};
use dockpki_provision::store::{Create, State};
use dockpki_provision::Advice;
use serde_json::json;

use super::{now, Context};
use crate::cli::{ApplyArgs, ConfigArgs, PlanArgs};
use crate::error::{exit_code, CliError, CliResult, EXIT_FAILURE, EXIT_OK, EXIT_PENDING};
use crate::output::{escape, note, print_document, say};

/// The configuration of `args`, found ([`crate::paths::config_file`]) and checked whole before
/// anything is touched.
fn desired(args: &ConfigArgs) -> CliResult<(PathBuf, Desired)> {
    let path = crate::paths::config_file(args.config.as_deref())?;
    let desired = config::load(&path, &config::system_user)?;
    Ok((path, desired))
}

/// Whether a question can be asked: stdin (the answer) and stderr (the question) are both a
/// terminal, as for a passphrase (crate::secrets).
fn terminal() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks `question` on stderr and reads one line from stdin: whether it was `y` or `yes` (any
/// case, blanks around it ignored). End of input is a no.
fn confirm(question: &str) -> CliResult<bool> {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::new(format!("cannot read the answer: {e}")))?;
    Ok(is_yes(&line))
}

/// `y` or `yes`, in any case, with blanks around it.
fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// `-c FILE` as a shell word for the command lines printed: always the absolute path found, so
/// that a pasted hint reads the same file from any directory.
fn config_words(path: &Path) -> String {
    format!("-c {}", crate::output::shell_quote(&path.to_string_lossy()))
}

/// `dockpki plan`: the actions, the notes and a summary; exit 0 when nothing is to do, 3 when
/// changes are pending.
pub fn plan(ctx: &Context, args: &PlanArgs) -> CliResult<i32> {
    let (path, desired) = desired(&args.config)?;
    let state_dir = ctx.state_dir()?;
    let plan = plan_of(ctx, &state_dir, &desired)?;
    let code = exit_code(plan.health());
    if ctx.out.json {
        print_document(
            "plan",
            json!({
                "config": path,
                "state": state_dir,
                "ok": code == EXIT_OK,
                "actions": plan.actions.iter().map(action_json).collect::<Vec<_>>(),
                "notes": plan.notes.iter().map(|n| note_json(ctx, n)).collect::<Vec<_>>(),
            }),
        );
        return Ok(code);
    }
    // The actions and notes are what plan is run for: printed with -q too.
    for line in plan_lines(ctx, &plan) {
        say(line);
    }
    let apply = ctx
        .invocation
        .command(&format!("apply {}", config_words(&path)));
    if plan.is_empty() {
        say_nothing_to_do(ctx, &path, code);
    } else {
        ctx.out.done(format_args!(
            "{}; run `{apply}` to make {}",
            changes(plan.actions.len(), "pending"),
            if plan.actions.len() == 1 {
                "it"
            } else {
                "them"
            }
        ));
    }
    Ok(code)
}

/// `dockpki apply`: the plan performed as one journaled update, after consent (`--yes`, or
/// `y` on a terminal).
pub fn apply(ctx: &Context, args: &ApplyArgs) -> CliResult<i32> {
    let (path, desired) = desired(&args.config)?;
    let state_dir = ctx.state_dir()?;
    let foreign = if args.force {
        Foreign::ReplaceKeepingBackup
    } else {
        Foreign::Refuse
    };
    let applied = if args.yes {
        let state = ctx.open_state_at(state_dir.clone(), Create::IfMissing)?;
        converge::apply(&state, &desired, None, now(), foreign)?
    } else {
        // The plan is computed, and the state's lock released, before the question: an operator
        // thinking it over must not hold up a renewal timer. apply computes the plan again
        // under the lock and refuses if it is not the one shown. Until the answer, nothing is
        // created, not even the state directory.
        let shown = plan_of(ctx, &state_dir, &desired)?;
        if shown.is_empty() {
            return nothing_to_do(ctx, &path, &state_dir, &shown.notes);
        }
        // Refused before the question, with the command that goes ahead.
        if let Some(action) = shown.foreign().next().filter(|_| !args.force) {
            return Err(CliError::new(format!(
                "refusing to {action}; move them away, or replace them (each kept as a .bak backup) with `{}`; nothing was changed",
                ctx.invocation.command(&format!("apply {} --force", config_words(&path)))
            )));
        }
        if !terminal() {
            return Err(CliError::new(format!(
                "apply asks before changing anything, and standard input or standard error is not a terminal; review the plan with `{}`, then pass --yes: `{}`",
                ctx.invocation.command(&format!("plan {}", config_words(&path))),
                ctx.invocation.command(&format!("apply {} --yes", config_words(&path)))
            )));
        }
        for line in plan_lines(ctx, &shown) {
            crate::progress::interrupt(|| eprintln!("{}", escape(&line)));
        }
        let question = format!(
            "Apply {}?",
            match shown.actions.len() {
                1 => "this change".to_string(),
                n => format!("these {n} changes"),
            }
        );
        if !confirm(&question)? {
            return Err(CliError::new(
                "not applied: the answer was not yes; nothing was changed",
            ));
        }
        let state = ctx.open_state_at(state_dir.clone(), Create::IfMissing)?;
        converge::apply(&state, &desired, Some(&shown), now(), foreign)?
    };
    if applied.actions.is_empty() {
        return nothing_to_do(ctx, &path, &state_dir, &applied.notes);
    }
    report_applied(ctx, &path, &state_dir, &applied);
    // Whatever could be applied was; a layout left as it was still needs the operator.
    Ok(if applied.skipped.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILURE
    })
}

/// What `apply` says when the plan is empty: one line (or the document), the notes on stderr;
/// nothing was written. Exits 3 when a note is a difference only the operator can resolve
/// ([`Note::is_drift`]), as plan does: the PKI is not what the file describes.
fn nothing_to_do(ctx: &Context, path: &Path, state_dir: &Path, notes: &[Note]) -> CliResult<i32> {
    let code = if notes.iter().any(Note::is_drift) {
        EXIT_PENDING
    } else {
        EXIT_OK
    };
    if ctx.out.json {
        print_document(
            "apply",
            json!({
                "config": path,
                "state": state_dir,
                "applied": [],
                "notes": notes.iter().map(|n| note_json(ctx, n)).collect::<Vec<_>>(),
                "written": [],
                "removed": [],
                "restart": [],
                "contexts_fed": [],
                "skipped": [],
            }),
        );
        return Ok(code);
    }
    for n in notes {
        note(format_args!("note: {}", note_text(ctx, n)));
    }
    say_nothing_to_do(ctx, path, code);
    Ok(code)
}

/// The line plan and apply end an empty plan with: converged (`code` 0), or differing only in
/// ways the notes describe and no action can change.
fn say_nothing_to_do(ctx: &Context, path: &Path, code: i32) {
    if code == EXIT_OK {
        ctx.out.done(format_args!(
            "nothing to do: the PKI is what {} describes",
            path.display()
        ));
    } else {
        ctx.out.done(format_args!(
            "nothing apply can do, but the state differs from {}: see the notes",
            path.display()
        ));
    }
}

/// What `apply` says when it changed something: one line, `-v` the files, the contexts fed
/// and the daemons to restart; with `--json` the document.
fn report_applied(ctx: &Context, path: &Path, state_dir: &Path, applied: &Applied) {
    if ctx.out.json {
        print_document(
            "apply",
            json!({
                "config": path,
                "state": state_dir,
                "applied": applied.actions.iter().map(action_json).collect::<Vec<_>>(),
                "notes": applied.notes.iter().map(|n| note_json(ctx, n)).collect::<Vec<_>>(),
                "written": applied.written,
                "removed": applied.removed,
                "restart": crate::json::restart(&applied.restart_daemons, &ctx.user),
                "contexts_fed": applied.contexts_fed,
                "skipped": applied
                    .skipped
                    .iter()
                    .map(|(dir, why)| json!({ "dir": dir, "reason": why }))
                    .collect::<Vec<_>>(),
            }),
        );
        return;
    }
    for (dir, why) in &applied.skipped {
        // print_note escapes it (once).
        note(format_args!(
            "warning: left {} as it was: {why}",
            dir.display()
        ));
    }
    for n in &applied.notes {
        note(format_args!("note: {}", note_text(ctx, n)));
    }
    // How many of each kind, in the plan's order: `issue 2, create-context 1`.
    let mut kinds: Vec<(ActionKind, usize)> = Vec::new();
    for a in &applied.actions {
        match kinds.iter_mut().find(|(k, _)| *k == a.kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((a.kind, 1)),
        }
    }
    ctx.out.done(format_args!(
        "applied {} from {} ({})",
        changes(applied.actions.len(), ""),
        path.display(),
        kinds
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if ctx.out.verbose && ctx.out.reports() {
        for a in &applied.actions {
            say(format_args!("  {a}"));
        }
    }
    super::list_written(ctx, &applied.written);
    if ctx.out.verbose && ctx.out.reports() {
        for p in &applied.removed {
            say(format_args!("removed {}", p.display()));
        }
    }
    super::list_contexts_fed(ctx, &applied.contexts_fed);
    for dir in &applied.restart_daemons {
        ctx.out.done(crate::paths::restart_hint(dir, &ctx.user));
    }
}

/// `N change(s) WORD`: `1 change pending`, `3 changes`.
fn changes(n: usize, word: &str) -> String {
    let noun = if n == 1 { "change" } else { "changes" };
    if word.is_empty() {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun} {word}")
    }
}

/// The plan as text: one line per action (its reason included), then one per note.
fn plan_lines(ctx: &Context, plan: &Plan) -> Vec<String> {
    plan.actions
        .iter()
        .map(ToString::to_string)
        .chain(
            plan.notes
                .iter()
                .map(|n| format!("note: {}", note_text(ctx, n))),
        )
        .collect()
}

/// A note in one line, the command that resolves it (if any) given in full, with the global
/// options in force, in backquotes.
fn note_text(ctx: &Context, n: &Note) -> String {
    let text = n.to_string();
    let Some(words) = n.command() else {
        return text;
    };
    let bare = format!("run {}", words.join(" "));
    let full = format!("run `{}`", note_command(ctx, &words));
    match text.strip_suffix(&bare) {
        Some(head) => format!("{head}{full}"),
        None => format!("{text}; {full}"),
    }
}

/// The command line of a note's `words`, each a shell word, after the global options in force.
fn note_command(ctx: &Context, words: &[String]) -> String {
    let args: Vec<String> = words
        .iter()
        .map(|w| crate::output::shell_quote(w))
        .collect();
    ctx.invocation.command(&args.join(" "))
}

/// A plan action in JSON (docs/json.md, object `plan_action`).
fn action_json(a: &Action) -> serde_json::Value {
    json!({
        "kind": a.kind.as_str(),
        "target": {
            "kind": a.target.kind.as_str(),
            "name": a.target.name,
            "install": a.target.install,
        },
        "reason": a.reason,
        "text": a.to_string(),
    })
}

/// A plan note in JSON (docs/json.md, object `plan_note`).
fn note_json(ctx: &Context, n: &Note) -> serde_json::Value {
    let details = serde_json::to_value(n).unwrap_or(serde_json::Value::Null);
    json!({
        "kind": details.get("note").cloned().unwrap_or(serde_json::Value::Null),
        "text": note_text(ctx, n),
        "command": n.command().map(|w| note_command(ctx, &w)),
        "details": details,
    })
}

/// The plan for `desired` against the state in `state_dir`, which is left as it is: a missing
/// state (or one without a CA) is planned as empty, in memory ([`converge::plan_new`]), and the
/// state's lock is released on return.
fn plan_of(ctx: &Context, state_dir: &Path, desired: &Desired) -> CliResult<Plan> {
    let settings = ctx.settings();
    match State::open(state_dir.to_path_buf(), Create::No, settings) {
        Ok(state) => Ok(converge::plan(&state, desired, now())?),
        Err(e) if e.advice() == Some(Advice::CreateCa) => Ok(converge::plan_new(
            state_dir,
            &ctx.settings().owners,
            desired,
            now(),
        )?),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::is_yes;

    #[test]
    fn only_y_or_yes_is_consent() {
        for yes in ["y", "Y", "yes", "YES", " yes \n", "y\n"] {
            assert!(is_yes(yes), "{yes:?}");
        }
        for no in ["", "\n", "n", "no", "yess", "ye", "sure", "y es", "oui"] {
            assert!(!is_yes(no), "{no:?}");
        }
    }
}
