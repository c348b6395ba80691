//! The engine's error: what went wrong, in one line, plus what the caller can do about it.
//!
//! Messages say what the problem is and how to fix it on the host (`chmod 400 …`, "chown it")
//! but never name a command-line flag: the engine does not know how it was called. Where the
//! fix is an option of the caller's (replace anyway, another state directory, a passphrase
//! file), the error carries an [`Advice`] that the caller renders in its own terms.

use std::fmt;
use std::path::Path;

/// A fix the caller offers in its own terms (a CLI flag, an API option).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Advice {
    /// Replacing an existing file needs the caller's explicit consent (`--force`); the old
    /// file is then kept as a timestamped backup.
    Force,
    /// Another state directory should be named (`--state DIR`).
    StateDir,
    /// The CA key is encrypted and no passphrase source was given (`--passphrase-file`).
    PassphraseFile,
    /// A CA key readable by group or others may be used anyway (`--insecure-perms`).
    InsecurePerms,
    /// A key is not reused: renew with a new key instead (renew without `--reuse-key`).
    NewKey,
    /// A key that cannot be used for a request is replaced by a new one (`dockpki request
    /// --new-key`; the old key is kept as a backup).
    RequestNewKey,
    /// The layout directory ([`Error::subject`]) holds no key for the certificate to install:
    /// the request must be made there first (`dockpki request ... --dir DIR`), then signed.
    RequestFirst,
    /// Waiting longer for another process's lock (`DOCKPKI_LOCK_TIMEOUT`).
    LockTimeout,
    /// A CA must be created first (`dockpki ca init` or `dockpki bootstrap`), or another state
    /// directory named.
    CreateCa,
    /// The layouts should be checked (`dockpki verify`) before the named file is deleted.
    VerifyLayouts,
    /// A CA exists; replacing it needs the caller's explicit consent (`--force`), and then the
    /// old CA files are kept as backups while certificates it issued stop being trusted
    /// wherever the new `ca.pem` is installed.
    ReplaceCa,
    /// A CA rotation is in progress and must be finished first (`dockpki ca rotate reissue`,
    /// then `dockpki ca rotate finish`; `dockpki ca rotate status` shows where it stands).
    FinishRotation,
    /// The CA key is already encrypted: its passphrase is changed in one step
    /// (`dockpki ca passphrase`).
    ChangePassphrase,
    /// The CA key is not encrypted, so it has no passphrase to change: encrypt it first
    /// (`dockpki ca encrypt`).
    EncryptCaKey,
    /// Docker already has a context of that name that dockpki did not make: replacing it needs
    /// the caller's consent (`--force`, its files are overwritten), or another name.
    ReplaceContext,
    /// dockpki already made that docker context ([`Error::subject`] is its name): update it
    /// (`dockpki context update NAME`), or create it anew with consent (`--force`).
    UpdateContext,
    /// dockpki made no docker context of that name ([`Error::subject`]): create it first
    /// (`dockpki context create NAME --host tcp://HOST:PORT`, `--force` to take over docker's).
    CreateContext,
    /// A docker context may only copy a client layout of the user the context is for: name a
    /// layout of theirs (`--client-dir`).
    ClientDirOfOwner,
    /// The directory ([`Error::subject`]) holds no client certificate: issue one there
    /// (`dockpki issue client --out DIR --force`).
    IssueClient,
    /// The key in the directory ([`Error::subject`]) is not the certificate's: issue the client
    /// again there (`dockpki issue client --out DIR --force`).
    IssueClientAgain,
    /// No recorded certificate matches: list what is recorded (`dockpki --json status`, or the
    /// inventory file, [`Error::subject`]).
    ListCertificates,
    /// No active certificate has the name given: the recorded names should be looked up
    /// (`dockpki status`).
    ListNames,
    /// No active certificate has the serial given: the recorded serials should be looked up
    /// (`dockpki status`).
    ListSerials,
    /// A serial prefix matches several certificates: more of its digits should be given (the
    /// whole serials are in `dockpki --json status`).
    MoreSerialDigits,
    /// A renewed certificate would outlive its CA: the CA must be rotated first (`dockpki ca
    /// rotate begin`, `reissue`, `finish`); nothing was written.
    RotateCaFirst,
    /// A CA rotation is in progress whose next phase re-issues the certificates (`dockpki ca
    /// rotate reissue`; `dockpki ca rotate status` shows where it stands).
    ContinueRotationWithReissue,
    /// A CA rotation is in progress whose next phase finishes it (`dockpki ca rotate finish`;
    /// `dockpki ca rotate status` shows where it stands).
    ContinueRotationWithFinish,
    /// No CA rotation is in progress: one must be begun first (`dockpki ca rotate begin`).
    BeginRotation,
    /// Certificates from the old CA remain: they must be re-issued first (`dockpki ca rotate
    /// reissue`).
    ReissueFirst,
    /// A directory given for a client layout holds a daemon layout ([`Error::subject`] is the
    /// directory): it is the daemon's (`--daemon-dir`), and a client layout should be named
    /// instead (`--client-dir`, or `dockpki issue client --out DIR` to make one elsewhere).
    DaemonLayoutGiven,
    /// A directory given for a daemon layout holds a client layout ([`Error::subject`] is the
    /// directory): it is a client's (`--client-dir`), and the daemon's directory should be
    /// named instead (`--daemon-dir`, or `dockpki issue server --out DIR`).
    ClientLayoutGiven,
    /// The new CA of a rotation would not outlive the certificates it must re-issue: a longer
    /// validity should be asked for ([`Error::subject`] is the shortest that works, e.g.
    /// `826d`; `dockpki ca rotate begin --validity 826d`).
    LongerCaValidity,
    /// A rotation in progress cannot go on as it is (its new CA cannot sign what it must): it
    /// should be undone (`dockpki ca rotate abort`) and begun again.
    AbortRotation,
    /// A docker context dockpki did not make is removed only with the caller's consent
    /// (`--force`); docker's own command removes it too.
    RemoveContext,
    /// A lifetime the caller asked for would end after the CA that signs: a shorter one should
    /// be asked for (`--validity`), or the CA rotated first; nothing was written.
    ShorterValidity,
    /// A delivery to install is older than what the layout holds (an earlier certificate for
    /// the same key, or a CA bundle putting back a CA a rotation retired): the newest files
    /// should be delivered from the CA's host (`dockpki sign` again), or the older ones put
    /// back with the caller's explicit consent (`--force`; the files replaced are kept as
    /// timestamped backups).
    OlderDelivery,
}

/// An engine failure: a complete one-line message, an optional [`Advice`], and the underlying
/// cause when there is one ([`std::error::Error::source`]).
#[derive(Debug)]
pub struct Error {
    message: String,
    advice: Option<Advice>,
    subject: Option<String>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// An error with a complete, actionable message.
    pub fn new(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            advice: None,
            subject: None,
            source: None,
        }
    }

    /// An error whose fix includes `advice`, which the caller renders after the message.
    pub fn advised(message: impl Into<String>, advice: Advice) -> Error {
        Error {
            advice: Some(advice),
            ..Error::new(message)
        }
    }

    /// An error whose fix includes `advice` about `subject` (a docker context's name, a
    /// directory, a file), which the caller's rendering of the advice names.
    pub fn advised_about(
        message: impl Into<String>,
        advice: Advice,
        subject: impl Into<String>,
    ) -> Error {
        Error {
            subject: Some(subject.into()),
            ..Error::advised(message, advice)
        }
    }

    /// An I/O error on `path`, with advice for the common causes.
    pub fn io(action: &str, path: &Path, e: &std::io::Error) -> Error {
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
        Error {
            source: Some(Box::new(std::io::Error::new(e.kind(), e.to_string()))),
            ..Error::new(format!("cannot {action} {}: {e}{hint}", path.display()))
        }
    }

    /// The same error with `context: ` in front; advice and cause are kept.
    pub fn context(self, context: impl fmt::Display) -> Error {
        Error {
            message: format!("{context}: {}", self.message),
            ..self
        }
    }

    /// The message, without the advice.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// What the caller can offer as the fix, if anything beyond the message.
    pub fn advice(&self) -> Option<Advice> {
        self.advice
    }

    /// What the advice is about, when it names something (see [`Error::advised_about`]).
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<dockpki::Error> for Error {
    fn from(e: dockpki::Error) -> Self {
        Error {
            message: e.to_string(),
            advice: None,
            subject: None,
            source: Some(Box::new(e)),
        }
    }
}

/// Shorthand for engine results.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn context_keeps_the_advice_and_the_cause() {
        let e = Error::io(
            "read",
            Path::new("/x"),
            &std::io::Error::from(std::io::ErrorKind::NotFound),
        )
        .context("loading");
        assert!(e.to_string().starts_with("loading: cannot read /x"), "{e}");
        assert!(e.source().is_some());
        let e = Error::advised("exists", Advice::Force).context("writing");
        assert_eq!(e.advice(), Some(Advice::Force));
        assert_eq!(e.message(), "writing: exists");
    }

    #[test]
    fn context_keeps_what_the_advice_is_about() {
        let e = Error::advised_about("no context", Advice::CreateContext, "remote-a").context("x");
        assert_eq!(e.advice(), Some(Advice::CreateContext));
        assert_eq!(e.subject(), Some("remote-a"));
        assert_eq!(Error::advised("y", Advice::Force).subject(), None);
    }
}
