//! Files of the Docker host that belong to its administrator: `daemon.json` and the systemd
//! drop-in. dockpki rewrites them in place, and refuses, as typed values the caller words in its
//! own terms, what would make the result wrong: a symlink in place of the file (replacing it
//! would detach the link from wherever the real file is kept), a `tcp://` listen address
//! without TLS files, a unit whose command line is nothing but `-H` options.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::fs::write::parent;

/// Why a file of the Docker host was not written. The engine refuses these before writing
/// anything; the caller says how to fix them with its own options (a CLI names its flags).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The file is a symlink: replacing it with a file would silently detach it from wherever
    /// the administrator keeps the real one.
    Symlink {
        /// The link.
        file: PathBuf,
        /// What the link says, as written.
        target: PathBuf,
        /// The target as a path from the link's directory: the file to name instead.
        resolved: PathBuf,
    },
    /// A `tcp://` listen address while a TLS file of the daemon layout is missing: dockerd
    /// would not start, and a TCP socket without TLS would make anyone who connects root.
    MissingTlsFile {
        /// The first missing file.
        path: PathBuf,
        /// The daemon layout it belongs to.
        daemon_dir: PathBuf,
    },
    /// The unit's `ExecStart=` holds nothing but `-H` options, so that without them nothing
    /// would be started.
    OnlyHostOptions {
        /// The unit, e.g. `docker.service`.
        unit: String,
        /// Its command line as written.
        command: String,
    },
    /// No unit of that name is installed in the unit directories: a drop-in for it would
    /// start a guessed command (another distribution's dockerd path) or nothing at all.
    UnknownUnit {
        /// The name asked for.
        unit: String,
        /// The directories looked in, highest precedence first.
        searched: Vec<PathBuf>,
        /// The installed `.service` units whose names mention docker.
        found: Vec<String>,
    },
    /// The unit and its drop-ins set no `ExecStart=`: there is no command to start without
    /// `-H`.
    NoExecStart {
        /// The unit, e.g. `docker.service`.
        unit: String,
        /// The files read.
        sources: Vec<PathBuf>,
    },
}

impl Refusal {
    /// For [`Refusal::UnknownUnit`]: what was searched and found, as one clause
    /// ("no docker.service in /etc/systemd/system, /lib/systemd/system; installed: a.service"),
    /// for a caller that words the fix in its own terms.
    pub fn unknown_unit(unit: &str, searched: &[PathBuf], found: &[String]) -> String {
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
        // The name is what the user typed: quoted with escapes.
        format!("no unit {unit:?} in {dirs} ({found})")
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Symlink {
                file,
                target,
                resolved,
            } => write!(
                f,
                "{} is a symlink to {}; dockpki does not replace links: name its target {} instead",
                file.display(),
                target.display(),
                resolved.display()
            ),
            Refusal::MissingTlsFile { path, daemon_dir } => write!(
                f,
                "{} does not exist, and a tcp:// listen address without TLS files would be plain TCP, which makes anyone who connects root on this host; install the daemon layout in {} first",
                path.display(),
                daemon_dir.display()
            ),
            Refusal::OnlyHostOptions { unit, command } => write!(
                f,
                "the ExecStart of {unit} ({command:?}) holds nothing but -H options; fix the unit or name another one"
            ),
            Refusal::UnknownUnit {
                unit,
                searched,
                found,
            } => write!(
                f,
                "{}; name an installed unit, or its unit file by path",
                Refusal::unknown_unit(unit, searched, found)
            ),
            Refusal::NoExecStart { unit, sources } => write!(
                f,
                "{unit} sets no ExecStart in {}; name the unit that starts dockerd",
                sources
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// A failed update of a Docker host file: refused before anything was written, or failed
/// (an unreadable or invalid file, a write that did not happen).
#[derive(Debug)]
pub enum Failure {
    /// Refused; the caller words the fix.
    Refused(Refusal),
    /// Any other failure, with its one-line message.
    Failed(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Failed(e)
    }
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        Failure::Refused(r)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Refused(r) => r.fmt(f),
            Failure::Failed(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Failure {}

impl From<Failure> for Error {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Refused(r) => Error::new(r.to_string()),
            Failure::Failed(e) => e,
        }
    }
}

/// Refuses `file` when it is a symlink ([`Refusal::Symlink`]); anything else, a missing file
/// included, passes.
///
/// # Errors
/// [`Refusal::Symlink`] with the link's target.
pub fn refuse_symlink(file: &Path) -> Result<(), Refusal> {
    match std::fs::read_link(file) {
        Ok(target) => Err(Refusal::Symlink {
            file: file.to_path_buf(),
            resolved: parent(file).join(&target),
            target,
        }),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlink_is_refused_with_its_target_from_the_links_directory() {
        let d = tempfile::tempdir().unwrap();
        let link = d.path().join("daemon.json");
        std::os::unix::fs::symlink("real/daemon.json", &link).unwrap();
        assert_eq!(
            refuse_symlink(&link),
            Err(Refusal::Symlink {
                file: link.clone(),
                target: "real/daemon.json".into(),
                resolved: d.path().join("real/daemon.json"),
            })
        );
        let plain = d.path().join("plain.json");
        std::fs::write(&plain, "{}").unwrap();
        assert_eq!(refuse_symlink(&plain), Ok(()));
        assert_eq!(refuse_symlink(&d.path().join("missing")), Ok(()));
    }

    #[test]
    fn refusals_are_one_line_that_names_no_command_line_flag() {
        for r in [
            Refusal::Symlink {
                file: "/a".into(),
                target: "b".into(),
                resolved: "/b".into(),
            },
            Refusal::MissingTlsFile {
                path: "/p/ca.pem".into(),
                daemon_dir: "/p".into(),
            },
            Refusal::OnlyHostOptions {
                unit: "docker.service".into(),
                command: "dockerd -H fd://".into(),
            },
            Refusal::UnknownUnit {
                unit: "dokcer.service".into(),
                searched: vec!["/etc/systemd/system".into()],
                found: vec!["docker.service".into()],
            },
            Refusal::NoExecStart {
                unit: "x.service".into(),
                sources: vec!["/lib/systemd/system/x.service".into()],
            },
        ] {
            let text = r.to_string();
            assert!(!text.contains('\n') && !text.contains("--"), "{text}");
            assert_eq!(Error::from(Failure::from(r)).message(), text);
        }
    }
}
