//! The CLI's error: one line for the operator, and the exit code it maps to.

use std::fmt;
use std::path::Path;

use dockpki_provision::Advice;

use crate::invocation::Invocation;

// The exit codes, documented once in docs/cli.md ("Exit codes") and the top-level --help.

/// Exit code for success: everything checked is good.
pub const EXIT_OK: i32 = 0;
/// Exit code for an error: bad input, something that could not be done or could not be checked.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code for a usage error: an unknown option or a value clap refuses (clap's own code).
pub const EXIT_USAGE: i32 = 2;
/// Exit code for changes pending: a certificate or CA due for renewal, a daemon to restart,
/// anything `apply` would change (`plan`).
pub const EXIT_PENDING: i32 = 3;
/// Exit code for something broken now: expired, missing, replaced, not issued by the state's
/// CA, refused by the daemon.
pub const EXIT_BROKEN: i32 = 4;

/// The exit code a check ends with for `health`.
pub fn exit_code(health: dockpki_provision::health::Health) -> i32 {
    use dockpki_provision::health::Health;
    match health {
        Health::Good => EXIT_OK,
        Health::ChangesPending => EXIT_PENDING,
        Health::Broken => EXIT_BROKEN,
    }
}

/// A failure reported as `error: <message>` and exit code 1.
#[derive(Debug)]
pub struct CliError {
    /// The message: text, and the command lines it names ([`Part::Command`]).
    message: Vec<Part>,
    /// The engine's advice, said when the error is rendered: the commands it names repeat the
    /// global options in force ([`Invocation`]).
    advice: Option<Advised>,
    /// The exit code: [`EXIT_FAILURE`] unless a check found something broken ([`EXIT_BROKEN`]).
    code: i32,
}

impl CliError {
    /// An error with a complete, actionable message.
    pub fn new(message: impl Into<String>) -> CliError {
        CliError {
            message: vec![Part::Text(message.into())],
            advice: None,
            code: EXIT_FAILURE,
        }
    }

    /// The same error ending the process with `code` instead of [`EXIT_FAILURE`].
    pub fn with_exit_code(mut self, code: i32) -> CliError {
        self.code = code;
        self
    }

    /// The exit code this error ends the process with.
    pub fn exit_code(&self) -> i32 {
        self.code
    }

    /// The message continued by the command line `dockpki [global options] args` (`args` already
    /// shell words), rendered with the options in force.
    pub fn command(mut self, args: impl Into<String>) -> CliError {
        self.message.push(Part::Command(args.into()));
        self
    }

    /// The message continued by `text`.
    pub fn text(mut self, text: impl Into<String>) -> CliError {
        self.message.push(Part::Text(text.into()));
        self
    }

    /// The line printed after `error: `, with the commands its advice names given the global
    /// options of `invocation`.
    pub fn render(&self, invocation: &Invocation) -> String {
        let message: String = self
            .message
            .iter()
            .map(|part| match part {
                Part::Text(text) => text.clone(),
                Part::Command(args) => invocation.command(args),
            })
            .collect();
        match &self.advice {
            None => message,
            Some(a) => format!(
                "{message}; {}",
                advice_about(a.advice, a.subject.as_deref(), a.flags, invocation)
                    .unwrap_or_else(|| advice_text(a.advice, invocation))
            ),
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
        let mut message = vec![Part::Text(format!("{context}: "))];
        message.extend(self.message);
        CliError {
            message,
            advice: self.advice,
            code: self.code,
        }
    }
}

/// A piece of an error's message.
#[derive(Debug)]
enum Part {
    Text(String),
    /// The arguments of a dockpki command line to run, shell words.
    Command(String),
}

impl fmt::Display for CliError {
    /// The line as [`CliError::render`] says it with no global option in force.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&Invocation::default()))
    }
}

impl From<dockpki_provision::Error> for CliError {
    /// The engine's message with its [`Advice`] said in the command line's terms.
    fn from(e: dockpki_provision::Error) -> Self {
        CliError {
            message: vec![Part::Text(e.message().to_string())],
            advice: e.advice().map(|advice| Advised {
                advice,
                subject: e.subject().map(str::to_string),
                flags: LayoutFlags::DaemonAndClientDir,
            }),
            code: EXIT_FAILURE,
        }
    }
}

/// What the command line offers for each [`Advice`]: its flags, and its commands with the global
/// options of `inv`.
fn advice_text(advice: Advice, inv: &Invocation) -> String {
    let run = |args: &str| inv.command(args);
    match advice {
        Advice::Force => {
            "pass --force to replace it (the old file is kept as a timestamped backup)".to_string()
        }
        Advice::StateDir => "or pass --state DIR".to_string(),
        Advice::PassphraseFile => {
            "pass --passphrase-file FILE (or set DOCKPKI_PASSPHRASE_FILE), or run on a terminal to be asked".to_string()
        }
        Advice::InsecurePerms => "or pass --insecure-perms to use it anyway".to_string(),
        Advice::NewKey => {
            "renew without --reuse-key for a new key (a loose key file is replaced by a 0400 one, the old one kept as a backup)".to_string()
        }
        Advice::RequestNewKey => {
            "pass --new-key to make a new key instead (the old one is kept as a timestamped backup)".to_string()
        }
        Advice::RequestFirst => format!(
            "make the key and request there first with `{}`, have it signed, then install",
            run("request server|client --dir DIR")
        ),
        Advice::LockTimeout => "or raise DOCKPKI_LOCK_TIMEOUT (e.g. DOCKPKI_LOCK_TIMEOUT=10m)".to_string(),
        Advice::CreateCa => format!(
            "create one with `{}` (or `{}`), or pass --state DIR",
            run("ca init"),
            run("bootstrap")
        ),
        Advice::VerifyLayouts => format!("check the layouts with `{}`, then delete it", run("verify")),
        Advice::ReplaceCa => {
            "pass --force to replace it (the old files are kept as backups, and certificates it issued stop being trusted wherever the new ca.pem is installed)".to_string()
        }
        Advice::FinishRotation => format!(
            "finish it with `{}` and `{}`, or undo it with `{}` (see `{}`)",
            run("ca rotate reissue"),
            run("ca rotate finish"),
            run("ca rotate abort"),
            run("ca rotate status")
        ),
        Advice::ChangePassphrase => {
            format!("to change its passphrase run `{}`", run("ca passphrase"))
        }
        Advice::EncryptCaKey => format!("encrypt it with `{}`", run("ca encrypt")),
        Advice::ReplaceContext => {
            "pass --force to replace it (its files are overwritten), or choose another name".to_string()
        }
        Advice::ClientDirOfOwner => "give a --client-dir of that user's own".to_string(),
        Advice::ListNames => format!("see `{}` for the names", run("status")),
        Advice::ListSerials => format!("see `{}` for the serials", run("status")),
        Advice::MoreSerialDigits => format!("give more digits (see `{}`)", run("--json status")),
        Advice::RotateCaFirst => format!(
            "rotate the CA first (`{}`, then reissue, then finish); nothing was written",
            run("ca rotate begin")
        ),
        Advice::ContinueRotationWithReissue => format!(
            "continue it with `{}`, or undo it with `{}` (see `{}`)",
            run("ca rotate reissue"),
            run("ca rotate abort"),
            run("ca rotate status")
        ),
        Advice::ContinueRotationWithFinish => format!(
            "continue it with `{}`, or undo it with `{}` (see `{}`)",
            run("ca rotate finish"),
            run("ca rotate abort"),
            run("ca rotate status")
        ),
        Advice::BeginRotation => format!("start one with `{}`", run("ca rotate begin")),
        Advice::ReissueFirst => format!("run `{}` first", run("ca rotate reissue")),
        Advice::AbortRotation => format!(
            "undo the rotation with `{}`, then begin it again with a longer --validity",
            run("ca rotate abort")
        ),
        Advice::LongerCaValidity => "pass a longer --validity".to_string(),
        Advice::RemoveContext => "or pass --force to remove it anyway".to_string(),
        Advice::OlderDelivery => "deliver the newest files from the CA's host (what its last `dockpki sign`, `renew` or `ca rotate` wrote into this host's --out), or pass --force to install these anyway (the files replaced are kept as timestamped backups)".to_string(),
        Advice::ShorterValidity => format!(
            "pass a shorter --validity, or rotate the CA first (`{}`); nothing was written",
            run("ca rotate begin")
        ),
        _ => String::new(),
    }
}

/// The advice that names what it is about ([`dockpki_provision::Error::subject`]): a context
/// to update or create, a directory to issue a client into, the inventory to look at; `None`
/// for the advice [`advice_text`] says alone.
fn advice_about(
    advice: Advice,
    subject: Option<&str>,
    flags: LayoutFlags,
    inv: &Invocation,
) -> Option<String> {
    let or = |placeholder: &'static str| subject.unwrap_or(placeholder);
    // The engine names only contexts whose names it accepted (docker's characters, which need no
    // quoting); quoted all the same, since the line is a command to paste.
    let quoted_or = |placeholder: &'static str| {
        subject.map_or_else(|| placeholder.to_string(), crate::output::shell_quote)
    };
    Some(match advice {
        Advice::UpdateContext => format!(
            "run `{}` to copy the files again, or pass --force to create it anew",
            inv.command(&format!("context update {}", quoted_or("NAME")))
        ),
        Advice::CreateContext => format!(
            "create it with `{}` (add --force to take over one made by docker)",
            inv.command(&format!(
                "context create {} --host tcp://HOST:PORT",
                quoted_or("NAME")
            ))
        ),
        Advice::IssueClient => format!(
            "issue a client: {}",
            inv.command(&format!("issue client --out {} --force", quoted_or("DIR")))
        ),
        Advice::IssueClientAgain => format!(
            "issue the client again ({})",
            inv.command(&format!("issue client --out {} --force", quoted_or("DIR")))
        ),
        Advice::ListCertificates => format!(
            "see `{}` or {}",
            inv.command("--json status"),
            or("the inventory")
        ),
        // The subject is a validity the engine formatted (`826d`): nothing to quote, quoted
        // all the same.
        Advice::LongerCaValidity => format!(
            "pass --validity {} or longer",
            crate::output::shell_quote(subject?)
        ),
        Advice::DaemonLayoutGiven | Advice::ClientLayoutGiven => {
            wrong_layout_advice(advice, subject, flags, inv)?
        }
        _ => return None,
    })
}

/// How a command names its layout directories, for the advice about a directory holding the
/// other kind of layout ([`Advice::DaemonLayoutGiven`], [`Advice::ClientLayoutGiven`]): the
/// fix names the flag that command has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutFlags {
    /// `--daemon-dir` and `--client-dir` (`bootstrap`, `verify`): the directory may just have
    /// been given to the other one.
    DaemonAndClientDir,
    /// Only `--client-dir` (`env`, `probe`, `context create`; and `context update`, whose
    /// recorded directory is fixed by creating the context again with `--client-dir`).
    ClientDir,
    /// `issue server|client --out DIR`.
    IssueOut,
    /// `request server|client --dir DIR` and `install --dir DIR`.
    RequestDir,
}

/// The fix for a directory of the wrong layout kind, in the terms of a command whose layout
/// flags are `flags`; `None` for any other advice.
fn wrong_layout_advice(
    advice: Advice,
    subject: Option<&str>,
    flags: LayoutFlags,
    inv: &Invocation,
) -> Option<String> {
    let dir = crate::output::shell_quote(subject.unwrap_or("DIR"));
    Some(match (advice, flags) {
        (Advice::DaemonLayoutGiven, LayoutFlags::DaemonAndClientDir) => format!(
            "it is the daemon's: pass it as --daemon-dir {dir}, and give --client-dir a client layout (ca.pem, cert.pem, key.pem), e.g. ~/.docker"
        ),
        (Advice::DaemonLayoutGiven, LayoutFlags::ClientDir) => format!(
            "give --client-dir a client layout (ca.pem, cert.pem, key.pem), e.g. ~/.docker; `{}` makes one in a directory of its own",
            inv.command("issue client --name NAME --out DIR")
        ),
        (Advice::DaemonLayoutGiven, LayoutFlags::IssueOut) => "issue the client certificate into a directory of its own with --out DIR, e.g. --out ~/.docker".to_string(),
        (Advice::DaemonLayoutGiven, LayoutFlags::RequestDir) => "give the client a directory of its own with --dir DIR, e.g. --dir ~/.docker".to_string(),
        (Advice::ClientLayoutGiven, LayoutFlags::RequestDir) => "give the daemon's directory with --dir DIR, e.g. --dir /etc/docker/pki".to_string(),
        (Advice::ClientLayoutGiven, LayoutFlags::IssueOut) => "issue the server certificate into the daemon's directory with --out DIR, e.g. --out /etc/docker/pki".to_string(),
        (Advice::ClientLayoutGiven, LayoutFlags::DaemonAndClientDir | LayoutFlags::ClientDir) => format!(
            "it is a client's: pass it as --client-dir {dir}, and give --daemon-dir the daemon's directory (ca.pem, server-cert.pem, server-key.pem), e.g. /etc/docker/pki"
        ),
        _ => return None,
    })
}

/// The engine's error as a [`CliError`], its advice about a layout of the wrong kind said with
/// the layout flags of the command that failed (`flags`); any other advice as
/// [`From<dockpki_provision::Error>`] says it.
pub fn with_layout_flags(flags: LayoutFlags) -> impl Fn(dockpki_provision::Error) -> CliError {
    move |e| {
        let mut cli = CliError::from(e);
        if let Some(advised) = &mut cli.advice {
            advised.flags = flags;
        }
        cli
    }
}

/// The engine's advice kept until the error is rendered.
#[derive(Debug)]
struct Advised {
    advice: Advice,
    /// What the advice is about ([`dockpki_provision::Error::subject`]).
    subject: Option<String>,
    /// The layout flags of the command that failed.
    flags: LayoutFlags,
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
                "{} does not exist, and a tcp:// listen address without TLS files would be plain TCP, which makes anyone who connects root on this host; install the daemon layout first (`",
                path.display(),
            ))
            .command(format!(
                "bootstrap --daemon-dir {}",
                crate::output::shell_quote(&daemon_dir.display().to_string())
            ))
            .text("`) or pass --daemon-dir"),
            Failure::Refused(Refusal::OnlyHostOptions { unit, command }) => CliError::new(format!(
                "the ExecStart of {unit} ({command:?}) holds nothing but -H options; fix the unit or pass --unit"
            )),
            Failure::Refused(Refusal::UnknownUnit {
                unit,
                searched,
                found,
            }) => CliError::new(format!(
                "{}; pass --unit with an installed unit's name, or --unit /path/to/UNIT.service for a unit file elsewhere (DOCKPKI_SYSTEMD_UNIT_PATH=DIR:DIR changes the directories searched)",
                Refusal::unknown_unit(&unit, &searched, &found)
            )),
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
