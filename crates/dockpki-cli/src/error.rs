//! The CLI's error: one line for the operator, and the exit code it maps to.

use std::fmt;
use std::path::Path;

use dockpki_provision::Advice;

/// Exit code for success.
pub const EXIT_OK: i32 = 0;
/// Exit code for bad input, failed verification or I/O errors.
pub const EXIT_FAILURE: i32 = 1;

/// A failure reported as `error: <message>` and exit code 1.
#[derive(Debug)]
pub struct CliError {
    message: String,
}

impl CliError {
    /// An error with a complete, actionable message.
    pub fn new(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
        }
    }

    /// An I/O error on `path`, with advice for the common causes.
    pub fn io(action: &str, path: &Path, e: &std::io::Error) -> CliError {
        use std::io::ErrorKind as K;
        let hint = match e.kind() {
            K::PermissionDenied => {
                "; check the permissions, or run as a user who may write there (e.g. with sudo)"
            }
            K::NotFound => "; check that the path exists",
            K::ReadOnlyFilesystem => "; the file system is read-only",
            K::StorageFull => "; free some disk space",
            K::NotADirectory => "; a part of the path is a file, not a directory",
            _ => "",
        };
        CliError::new(format!("cannot {action} {}: {e}{hint}", path.display()))
    }

    /// The same error with `context: ` in front.
    pub fn context(self, context: impl fmt::Display) -> CliError {
        CliError::new(format!("{context}: {}", self.message))
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<dockpki_provision::Error> for CliError {
    /// The engine's message with its [`Advice`] said in the command line's terms.
    fn from(e: dockpki_provision::Error) -> Self {
        match e.advice() {
            Some(advice) => match advice_about(advice, e.subject()) {
                Some(text) => CliError::new(format!("{}; {text}", e.message())),
                None => CliError::new(format!("{}; {}", e.message(), advice_text(advice))),
            },
            None => CliError::new(e.message()),
        }
    }
}

/// What the command line offers for each [`Advice`]: its flags and commands.
fn advice_text(advice: Advice) -> &'static str {
    match advice {
        Advice::Force => {
            "pass --force to replace it (the old file is kept as a timestamped backup)"
        }
        Advice::StateDir => "or pass --state DIR",
        Advice::PassphraseFile => {
            "pass --passphrase-file FILE (or set DOCKPKI_PASSPHRASE_FILE), or run on a terminal to be asked"
        }
        Advice::InsecurePerms => "or pass --insecure-perms to use it anyway",
        Advice::NewKey => {
            "renew without --reuse-key for a new key (a loose key file is replaced by a 0400 one, the old one kept as a backup)"
        }
        Advice::LockTimeout => "or raise DOCKPKI_LOCK_TIMEOUT",
        Advice::CreateCa => {
            "create one with `dockpki ca init` (or `dockpki bootstrap`), or pass --state DIR"
        }
        Advice::VerifyLayouts => "check the layouts with `dockpki verify`, then delete it",
        Advice::ReplaceCa => {
            "pass --force to replace it (the old files are kept as backups, and certificates it issued stop being trusted wherever the new ca.pem is installed)"
        }
        Advice::FinishRotation => {
            "finish it with `dockpki ca rotate reissue` and `dockpki ca rotate finish` (see `dockpki ca rotate status`)"
        }
        Advice::ChangePassphrase => {
            "to change the passphrase run `dockpki ca decrypt` then `dockpki ca encrypt`"
        }
        Advice::ReplaceContext => {
            "pass --force to replace it (its files are overwritten), or choose another name"
        }
        Advice::ClientDirOfOwner => "give a --client-dir of that user's own",
        Advice::ListNames => "see `dockpki status` for the names",
        Advice::ListSerials => "see `dockpki status` for the serials",
        Advice::MoreSerialDigits => "give more digits (see `dockpki --json status`)",
        Advice::RotateCaFirst => {
            "rotate the CA first (dockpki ca rotate begin, reissue, finish); nothing was written"
        }
        Advice::ContinueRotationWithReissue => {
            "continue it with `dockpki ca rotate reissue` (see `dockpki ca rotate status`)"
        }
        Advice::ContinueRotationWithFinish => {
            "continue it with `dockpki ca rotate finish` (see `dockpki ca rotate status`)"
        }
        Advice::BeginRotation => "start one with `dockpki ca rotate begin`",
        Advice::ReissueFirst => "run `dockpki ca rotate reissue` first",
        Advice::RemoveContext => "or pass --force to remove it anyway",
        _ => "",
    }
}

/// The advice that names what it is about ([`dockpki_provision::Error::subject`]): a context
/// to update or create, a directory to issue a client into, the inventory to look at; `None`
/// for the advice [`advice_text`] says alone.
fn advice_about(advice: Advice, subject: Option<&str>) -> Option<String> {
    let or = |placeholder: &'static str| subject.unwrap_or(placeholder);
    Some(match advice {
        // The engine names only contexts whose names it accepted (docker's characters, which
        // need no quoting); quoted all the same, since the line is a command to paste.
        Advice::UpdateContext => format!(
            "run `dockpki context update {}` to copy the files again, or pass --force to create it anew",
            subject.map_or_else(|| "NAME".to_string(), crate::output::shell_quote)
        ),
        Advice::CreateContext => format!(
            "create it with `dockpki context create {} --host tcp://HOST:PORT` (add --force to take over one made by docker)",
            subject.map_or_else(|| "NAME".to_string(), crate::output::shell_quote)
        ),
        Advice::IssueClient => format!(
            "issue a client: dockpki issue client --out {} --force",
            crate::output::shell_quote(or("DIR"))
        ),
        Advice::IssueClientAgain => format!(
            "issue the client again (dockpki issue client --out {} --force)",
            crate::output::shell_quote(or("DIR"))
        ),
        Advice::ListCertificates => format!(
            "see `dockpki --json status` or {}",
            or("the inventory")
        ),
        _ => return None,
    })
}

impl From<dockpki::Error> for CliError {
    fn from(e: dockpki::Error) -> Self {
        CliError::new(e.to_string())
    }
}

/// Shorthand for CLI results.
pub type CliResult<T> = Result<T, CliError>;

impl From<dockpki_provision::docker::host_file::Failure> for CliError {
    /// A refusal about a file of the Docker host, with the fix in the command line's terms.
    fn from(f: dockpki_provision::docker::host_file::Failure) -> Self {
        use dockpki_provision::docker::host_file::{Failure, Refusal};
        match f {
            Failure::Failed(e) => e.into(),
            Failure::Refused(Refusal::Symlink {
                file,
                target,
                resolved,
            }) => CliError::new(format!(
                "{} is a symlink to {}; dockpki does not replace links: pass --file {} (its target) instead",
                file.display(),
                target.display(),
                crate::output::shell_quote(&resolved.display().to_string())
            )),
            Failure::Refused(Refusal::MissingTlsFile { path, daemon_dir }) => CliError::new(format!(
                "{} does not exist, and a tcp:// listen address without TLS files would be plain TCP, which makes anyone who connects root on this host; install the daemon layout first (`dockpki bootstrap --daemon-dir {}`) or pass --daemon-dir",
                path.display(),
                crate::output::shell_quote(&daemon_dir.display().to_string())
            )),
            Failure::Refused(Refusal::OnlyHostOptions { unit, command }) => CliError::new(format!(
                "the ExecStart of {unit} ({command:?}) holds nothing but -H options; fix the unit or pass --unit"
            )),
            Failure::Refused(Refusal::UnknownUnit {
                unit,
                searched,
                found,
            }) => {
                let dirs = searched
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                let found = if found.is_empty() {
                    "no unit whose name mentions docker is installed there".to_string()
                } else {
                    format!("installed: {}", found.join(", "))
                };
                // The unit name is what the user typed: quoted with escapes.
                CliError::new(format!(
                    "no unit {unit:?} in {dirs} ({found}); pass --unit with an installed unit's name, or --unit /path/to/UNIT.service for a unit file elsewhere (DOCKPKI_SYSTEMD_UNIT_PATH=DIR:DIR changes the directories searched)"
                ))
            }
            Failure::Refused(Refusal::NoExecStart { unit, .. }) => CliError::new(format!(
                "{unit} sets no ExecStart, so there is no dockerd command to rewrite; pass --unit with the unit that starts dockerd"
            )),
            Failure::Refused(other) => CliError::new(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dockpki_provision::Error;

    #[test]
    fn advice_about_a_subject_names_it_shell_quoted_where_it_is_a_path() {
        let cases = [
            (
                Error::advised_about("m", Advice::UpdateContext, "remote-a"),
                "m; run `dockpki context update remote-a` to copy the files again, or pass --force to create it anew",
            ),
            (
                Error::advised_about("m", Advice::CreateContext, "remote-a"),
                "m; create it with `dockpki context create remote-a --host tcp://HOST:PORT` (add --force to take over one made by docker)",
            ),
            (
                Error::advised_about("m", Advice::IssueClient, "/tmp/a b"),
                "m; issue a client: dockpki issue client --out '/tmp/a b' --force",
            ),
            (
                Error::advised_about("m", Advice::IssueClientAgain, "/tmp/ab"),
                "m; issue the client again (dockpki issue client --out /tmp/ab --force)",
            ),
            (
                Error::advised_about("m", Advice::ListCertificates, "/s/inventory.json"),
                "m; see `dockpki --json status` or /s/inventory.json",
            ),
            (
                Error::advised("m", Advice::ReplaceCa),
                "m; pass --force to replace it (the old files are kept as backups, and certificates it issued stop being trusted wherever the new ca.pem is installed)",
            ),
        ];
        for (e, text) in cases {
            assert_eq!(CliError::from(e).to_string(), text);
        }
    }

    #[test]
    fn a_context_name_in_advice_is_a_shell_word_whatever_it_holds() {
        let e = Error::advised_about("m", Advice::UpdateContext, "a; rm -rf ~");
        assert_eq!(
            CliError::from(e).to_string(),
            "m; run `dockpki context update 'a; rm -rf ~'` to copy the files again, or pass --force to create it anew"
        );
        let e = Error::advised_about("m", Advice::CreateContext, "$(id)");
        assert!(CliError::from(e)
            .to_string()
            .contains("`dockpki context create '$(id)' --host"),);
        let e = Error::advised("m", Advice::CreateContext);
        assert!(CliError::from(e)
            .to_string()
            .contains("`dockpki context create NAME --host"));
    }

    /// The paths a refusal of a Docker host file hands back as flags to pass are shell words,
    /// like every other path in a command the CLI suggests.
    #[test]
    fn paths_in_suggested_flags_of_host_file_refusals_are_shell_quoted() {
        use dockpki_provision::docker::host_file::{Failure, Refusal};
        let e = CliError::from(Failure::Refused(Refusal::Symlink {
            file: "/etc/docker/daemon.json".into(),
            target: "../srv/my conf.json".into(),
            resolved: "/etc/docker/../srv/my conf.json".into(),
        }));
        assert!(
            e.to_string()
                .ends_with("pass --file '/etc/docker/../srv/my conf.json' (its target) instead"),
            "{e}"
        );
        let e = CliError::from(Failure::Refused(Refusal::MissingTlsFile {
            path: "/srv/pki $x/ca.pem".into(),
            daemon_dir: "/srv/pki $x".into(),
        }));
        assert!(
            e.to_string()
                .contains("(`dockpki bootstrap --daemon-dir '/srv/pki $x'`)"),
            "{e}"
        );
    }

    #[test]
    fn advice_about_a_subject_that_was_not_given_says_what_to_fill_in() {
        let e = Error::advised("m", Advice::IssueClient);
        assert_eq!(
            CliError::from(e).to_string(),
            "m; issue a client: dockpki issue client --out DIR --force"
        );
    }
}
