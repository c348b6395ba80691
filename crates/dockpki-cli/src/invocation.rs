//! The command lines dockpki prints for the operator to run next: `dockpki` with the global
//! options in force, so that a pasted hint acts on the same state, with the same passphrase file
//! and key-mode rule, as the command that printed it (issue 10, item 3).

use std::path::Path;

use crate::cli::Cli;
use crate::output::shell_quote;

/// `dockpki` followed by the global options of this command line that change what a later
/// command acts on: `--state` (from the flag or `DOCKPKI_STATE`), `--passphrase-file` (flag or
/// `DOCKPKI_PASSPHRASE_FILE`) and `--insecure-perms`. Output options (`--json`, `-v`, `-q`) are
/// left out: a hint is run by a person, who chooses how to read its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// `dockpki` and the global options, each a shell word.
    prefix: String,
}

impl Default for Invocation {
    /// `dockpki` alone: no global option in force.
    fn default() -> Self {
        Invocation {
            prefix: "dockpki".to_string(),
        }
    }
}

impl Invocation {
    /// The global options of `cli`. Paths are made absolute where they can be, so that a hint
    /// pasted in another directory names the same files; a path that cannot be resolved is
    /// repeated as given (the command it belongs to reports that path's problem itself).
    pub fn of(cli: &Cli) -> Invocation {
        let mut prefix = "dockpki".to_string();
        let mut path_option = |flag: &str, path: &Path| {
            let path = crate::paths::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            prefix.push_str(&format!(" {flag} {}", shell_quote(&path.to_string_lossy())));
        };
        if let Some(state) = &cli.state {
            path_option("--state", state);
        }
        if let Some(file) = &cli.passphrase_file {
            path_option("--passphrase-file", file);
        }
        if cli.insecure_perms {
            prefix.push_str(" --insecure-perms");
        }
        Invocation { prefix }
    }

    /// The command line `dockpki [global options] ARGS`; `args` must already be shell words
    /// (quote what came from outside with [`shell_quote`]).
    pub fn command(&self, args: &str) -> String {
        if args.is_empty() {
            self.prefix.clone()
        } else {
            format!("{} {args}", self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn of(args: &[&str]) -> Invocation {
        Invocation::of(&Cli::try_parse_from(args).unwrap())
    }

    #[test]
    fn hints_repeat_the_state_passphrase_file_and_key_mode_rule_in_force() {
        let inv = of(&[
            "dockpki",
            "--state",
            "/srv/my state",
            "status",
            "--passphrase-file",
            "/run/pass",
            "--insecure-perms",
            "--json",
        ]);
        assert_eq!(
            inv.command("renew --serial ab12"),
            "dockpki --state '/srv/my state' --passphrase-file /run/pass --insecure-perms renew --serial ab12"
        );
    }

    #[test]
    fn without_global_options_a_hint_is_plain_dockpki() {
        assert_eq!(of(&["dockpki", "status"]).command("renew"), "dockpki renew");
        assert_eq!(Invocation::default().command(""), "dockpki");
    }

    #[test]
    fn a_relative_state_is_repeated_as_an_absolute_path() {
        let inv = of(&["dockpki", "--state", "rel/dir", "status"]);
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            inv.command("status"),
            format!(
                "dockpki --state {} status",
                shell_quote(&cwd.join("rel/dir").to_string_lossy())
            )
        );
    }

    #[test]
    fn a_state_path_holding_shell_syntax_is_one_quoted_word() {
        let inv = of(&["dockpki", "--state", "/tmp/$(id); rm -rf ~", "status"]);
        assert_eq!(
            inv.command("status"),
            "dockpki --state '/tmp/$(id); rm -rf ~' status"
        );
    }
}
