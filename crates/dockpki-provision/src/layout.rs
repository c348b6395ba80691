//! The two file layouts Docker reads.
//!
//! The daemon layout is what Docker's "Protect the Docker daemon socket" guide and most
//! distributions use under `/etc/docker/pki`; the client layout is the exact set of names the
//! docker CLI reads from `DOCKER_CERT_PATH` or `~/.docker` (the `client-cert.pem` names found in
//! many guides are silently ignored by docker).

pub mod check;
pub mod kind;
pub mod read;

pub use kind::{detect, Detected, LayoutKind};

use std::path::{Path, PathBuf};

use dockpki::{IssuedCert, Usage};

use crate::docker::daemon_json::Daemon;
use crate::fs::owner::Owner;
use crate::fs::write::WritePlan;

/// A directory holding `ca.pem` plus one certificate and its key.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The directory.
    pub dir: PathBuf,
    /// Which kind of certificate it holds.
    pub usage: Usage,
}

impl Layout {
    /// The daemon's layout in `dir`.
    pub fn daemon(dir: PathBuf) -> Layout {
        Layout {
            dir,
            usage: Usage::Server,
        }
    }

    /// The layout in `dir` for certificates of `usage`.
    pub fn for_usage(usage: Usage, dir: PathBuf) -> Layout {
        Layout { dir, usage }
    }

    /// A client's layout in `dir`.
    pub fn client(dir: PathBuf) -> Layout {
        Layout {
            dir,
            usage: Usage::Client,
        }
    }

    /// `daemon` or `client`.
    pub fn label(&self) -> &'static str {
        match self.usage {
            Usage::Server => "daemon",
            Usage::Client => "client",
        }
    }

    /// The CA bundle the peer is checked against.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The certificate.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join(match self.usage {
            Usage::Server => "server-cert.pem",
            Usage::Client => "cert.pem",
        })
    }

    /// The private key.
    pub fn key_path(&self) -> PathBuf {
        self.dir.join(match self.usage {
            Usage::Server => "server-key.pem",
            Usage::Client => "key.pem",
        })
    }

    /// Adds the three files to `plan`; `bundle_pem` is the CA bundle the peer is checked against.
    pub fn plan(
        &self,
        plan: &mut WritePlan,
        bundle_pem: &str,
        issued: &IssuedCert,
        owner: Option<Owner>,
    ) {
        plan.cert(self.ca_path(), bundle_pem, owner);
        plan.cert(self.cert_path(), &issued.cert_pem, owner);
        plan.key(self.key_path(), issued.key_pem(), owner);
    }

    /// File names for messages, e.g. `/etc/docker/pki/{ca,server-cert,server-key}.pem`.
    pub fn describe(&self) -> String {
        let stem = |p: PathBuf| {
            p.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        format!(
            "{}/{{{},{},{}}}.pem",
            display(&self.dir),
            stem(self.ca_path()),
            stem(self.cert_path()),
            stem(self.key_path())
        )
    }
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

/// The line that tells the operator a daemon must be restarted to serve what was just installed
/// in `daemon_dir`. One wording for every command, since scripts match it (docs/renewal.md):
/// it always starts `restart dockerd using DIR`. For a rootless daemon it adds how: that daemon
/// is the user's own systemd unit, and restarting the system's `docker.service` (what the
/// operator of a root daemon would do) leaves it serving the old certificate.
pub fn restart_hint(daemon_dir: &Path, daemon: Daemon) -> String {
    match daemon {
        Daemon::System => format!(
            "restart dockerd using {} (it does not reload certificates on SIGHUP)",
            daemon_dir.display()
        ),
        Daemon::Rootless => format!(
            "restart dockerd using {} (it does not reload certificates on SIGHUP): it is a rootless daemon, restart it as its user with `{}`",
            daemon_dir.display(),
            ROOTLESS_RESTART
        ),
    }
}

/// How a user restarts their rootless dockerd: the unit `dockerd-rootless-setuptool.sh install`
/// writes is the user's `docker.service` (`~/.config/systemd/user/docker.service`).
pub const ROOTLESS_RESTART: &str = "systemctl --user restart docker";
