//! Which kind of layout a directory holds, judged by its file names alone, so that a daemon
//! layout given where a client layout is expected (or the reverse) is refused instead of mixed:
//! a server key written next to a client's `cert.pem`, or the docker CLI pointed at a
//! directory it reads nothing from.

use std::fmt;
use std::path::Path;

use dockpki::Usage;

use crate::error::{Advice, Error, Result};
use crate::layout::Layout;

/// The two layouts Docker reads: the daemon's (`server-cert.pem`, `server-key.pem`) and a
/// client's (`cert.pem`, `key.pem`); both hold `ca.pem`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutKind {
    /// `ca.pem`, `server-cert.pem`, `server-key.pem` (dockerd's `--tlscacert`, `--tlscert`,
    /// `--tlskey`).
    Daemon,
    /// `ca.pem`, `cert.pem`, `key.pem` (the names the docker CLI reads from `DOCKER_CERT_PATH`).
    Client,
}

impl LayoutKind {
    /// The kind of layout that holds certificates of `usage`.
    pub fn of(usage: Usage) -> LayoutKind {
        match usage {
            Usage::Server => LayoutKind::Daemon,
            Usage::Client => LayoutKind::Client,
        }
    }

    /// The other kind.
    pub fn other(self) -> LayoutKind {
        match self {
            LayoutKind::Daemon => LayoutKind::Client,
            LayoutKind::Client => LayoutKind::Daemon,
        }
    }

    /// The names that only this kind of layout has (`ca.pem` is in both).
    pub fn own_names(self) -> [&'static str; 2] {
        match self {
            LayoutKind::Daemon => ["server-cert.pem", "server-key.pem"],
            LayoutKind::Client => ["cert.pem", "key.pem"],
        }
    }

    /// `daemon` or `client`, as [`Layout::label`] says it.
    pub fn label(self) -> &'static str {
        match self {
            LayoutKind::Daemon => "daemon",
            LayoutKind::Client => "client",
        }
    }

    /// The advice for a directory of this kind given where the other kind is expected.
    fn advice(self) -> Advice {
        match self {
            LayoutKind::Daemon => Advice::DaemonLayoutGiven,
            LayoutKind::Client => Advice::ClientLayoutGiven,
        }
    }
}

impl fmt::Display for LayoutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// What a directory's file names say it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detected {
    /// Neither kind's own files (an empty or new directory, or only `ca.pem`).
    Neither,
    /// The own files of one kind only.
    Only(LayoutKind),
    /// The own files of both kinds: the directory Docker's "Protect the Docker daemon socket"
    /// guide makes holds all five files, and both programs find their names in it.
    Both,
}

/// Looks at the names in `dir` (no file is opened or read: an entry of the name, even a
/// link or something that is not a file, counts, since a write there would meet it too). A
/// directory that does not exist holds [`Detected::Neither`].
pub fn detect(dir: &Path) -> Detected {
    let has = |kind: LayoutKind| {
        kind.own_names()
            .iter()
            .any(|name| dir.join(name).symlink_metadata().is_ok())
    };
    match (has(LayoutKind::Daemon), has(LayoutKind::Client)) {
        (false, false) => Detected::Neither,
        (true, false) => Detected::Only(LayoutKind::Daemon),
        (false, true) => Detected::Only(LayoutKind::Client),
        (true, true) => Detected::Both,
    }
}

impl Layout {
    /// The kind of this layout.
    pub fn kind(&self) -> LayoutKind {
        LayoutKind::of(self.usage)
    }

    /// Refuses a directory that holds only the other kind of layout: writing this kind there
    /// would mix a daemon's and a client's files (a server key in a client's directory), and
    /// reading this kind there finds nothing. A directory holding both kinds already (as
    /// Docker's own guide makes it) is accepted: its files are kept apart by their names.
    ///
    /// # Errors
    /// With [`Advice::DaemonLayoutGiven`] or [`Advice::ClientLayoutGiven`] (the found kind),
    /// whose [`Error::subject`] is the directory.
    pub fn refuse_other_kind(&self) -> Result<()> {
        let expected = self.kind();
        match detect(&self.dir) {
            Detected::Only(found) if found != expected => Err(other_kind_error(self, found)),
            Detected::Neither | Detected::Only(_) | Detected::Both => Ok(()),
        }
    }
}

fn other_kind_error(layout: &Layout, found: LayoutKind) -> Error {
    let [found_cert, found_key] = found.own_names();
    let [cert, key] = layout.kind().own_names();
    Error::advised_about(
        format!(
            "{} holds a {found} layout ({found_cert}, {found_key}), not a {} layout ({cert}, {key}); dockpki does not mix the two in one directory",
            layout.dir.display(),
            layout.kind(),
        ),
        found.advice(),
        layout.dir.display().to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(names: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for name in names {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        dir
    }

    #[test]
    fn each_kind_is_recognised_by_its_own_file_names() {
        let cases: [(&[&str], Detected); 7] = [
            (&[], Detected::Neither),
            (&["ca.pem"], Detected::Neither),
            (
                &["ca.pem", "server-cert.pem", "server-key.pem"],
                Detected::Only(LayoutKind::Daemon),
            ),
            (&["server-key.pem"], Detected::Only(LayoutKind::Daemon)),
            (
                &["ca.pem", "cert.pem", "key.pem"],
                Detected::Only(LayoutKind::Client),
            ),
            (&["key.pem"], Detected::Only(LayoutKind::Client)),
            (
                &[
                    "ca.pem",
                    "cert.pem",
                    "key.pem",
                    "server-cert.pem",
                    "server-key.pem",
                ],
                Detected::Both,
            ),
        ];
        for (names, expected) in cases {
            let dir = dir_with(names);
            assert_eq!(detect(dir.path()), expected, "{names:?}");
        }
        assert_eq!(detect(Path::new("/nonexistent/dockpki")), Detected::Neither);
    }

    #[test]
    fn a_link_of_the_name_counts_though_it_dangles() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/nonexistent", dir.path().join("server-key.pem")).unwrap();
        assert_eq!(detect(dir.path()), Detected::Only(LayoutKind::Daemon));
    }

    #[test]
    fn a_layout_of_the_other_kind_is_refused_with_advice_naming_what_was_found() {
        let daemon = dir_with(&["ca.pem", "server-cert.pem", "server-key.pem"]);
        let e = Layout::client(daemon.path().to_path_buf())
            .refuse_other_kind()
            .unwrap_err();
        assert_eq!(e.advice(), Some(Advice::DaemonLayoutGiven));
        assert_eq!(
            e.subject(),
            Some(daemon.path().display().to_string().as_str())
        );
        assert!(
            e.message().contains(
                "holds a daemon layout (server-cert.pem, server-key.pem), not a client layout"
            ),
            "{e}"
        );
        assert!(Layout::daemon(daemon.path().to_path_buf())
            .refuse_other_kind()
            .is_ok());

        let client = dir_with(&["ca.pem", "cert.pem", "key.pem"]);
        let e = Layout::daemon(client.path().to_path_buf())
            .refuse_other_kind()
            .unwrap_err();
        assert_eq!(e.advice(), Some(Advice::ClientLayoutGiven));
        assert!(Layout::client(client.path().to_path_buf())
            .refuse_other_kind()
            .is_ok());
    }

    #[test]
    fn new_directories_and_docker_guide_directories_of_both_kinds_are_accepted() {
        let both = dir_with(&[
            "ca.pem",
            "cert.pem",
            "key.pem",
            "server-cert.pem",
            "server-key.pem",
        ]);
        let empty = dir_with(&[]);
        for dir in [both.path(), empty.path(), Path::new("/nonexistent/dockpki")] {
            assert!(Layout::client(dir.to_path_buf())
                .refuse_other_kind()
                .is_ok());
            assert!(Layout::daemon(dir.to_path_buf())
                .refuse_other_kind()
                .is_ok());
        }
    }
}
