//! `dockpki plan` and `dockpki apply`: the PKI a `dockpki.toml` describes (docs/config.md),
//! the drift from it, and one crash-safe update that converges to it. The engine decides
//! everything ([`converge::plan`], [`converge::apply`]); this finds the file, asks, and prints.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use dockpki_provision::config::{self, Desired};
use dockpki_provision::store::{Create, State};
use dockpki_provision::Advice;

use super::{now, Context};
use crate::cli::{ApplyArgs, ConfigArgs, PlanArgs};
use crate::error::{CliError, CliResult, EXIT_OK};

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

/// `dockpki plan`.
pub fn plan(ctx: &Context, args: &PlanArgs) -> CliResult<i32> {
    let (_path, _desired) = desired(&args.config)?;
    let _ = (ctx, now(), terminal(), Create::No, Advice::CreateCa);
    Err(CliError::new("plan: not yet"))
}

/// `dockpki apply`.
pub fn apply(ctx: &Context, args: &ApplyArgs) -> CliResult<i32> {
    let (path, _desired) = desired(&args.config)?;
    let _ = (ctx, confirm("x")?, config_words(&path), EXIT_OK);
    let _: Option<State> = None;
    Err(CliError::new("apply: not yet"))
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
