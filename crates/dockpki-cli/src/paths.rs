//! Where things go by default, and for whom.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{CliError, CliResult};
use dockpki_provision::fs::{Owner, OwnerPolicy};

/// The daemon layout directory Docker's documentation uses.
pub const DEFAULT_DAEMON_DIR: &str = "/etc/docker/pki";

/// The user a client layout is for: the invoking user when run through sudo (files owned by
/// them, in their home), else the current user.
#[derive(Clone, Debug)]
pub struct ClientUser {
    /// Login name, used as the default client common name.
    pub name: Option<String>,
    /// Home directory.
    pub home: Option<PathBuf>,
    /// Who owns the files written for this user (the engine applies it).
    pub owners: OwnerPolicy,
}

impl ClientUser {
    /// Works out who the client files are for from sudo's environment.
    pub fn detect() -> ClientUser {
        let sudo_uid = std::env::var("SUDO_UID")
            .ok()
            .and_then(|u| u.parse::<u32>().ok());
        if let (Some(uid), true) = (sudo_uid, nix::unistd::geteuid().is_root()) {
            if uid != 0 {
                if let Ok(Some(user)) = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                {
                    return ClientUser {
                        name: Some(user.name),
                        home: Some(user.dir.clone()),
                        owners: OwnerPolicy::InvokingUser {
                            owner: Owner {
                                uid,
                                gid: user.gid.as_raw(),
                            },
                            home: user.dir,
                        },
                    };
                }
            }
        }
        ClientUser {
            name: std::env::var("USER").ok().filter(|u| !u.is_empty()),
            home: std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from),
            owners: if nix::unistd::geteuid().is_root() {
                OwnerPolicy::HomeOwner
            } else {
                OwnerPolicy::RunningUser
            },
        }
    }

    /// `~/.docker` of this user, where the docker CLI looks when DOCKER_CERT_PATH is unset.
    pub fn docker_dir(&self) -> CliResult<PathBuf> {
        self.home
            .as_ref()
            .map(|h| h.join(".docker"))
            .ok_or_else(|| {
                CliError::new(
                    "cannot find the home directory (HOME is unset); pass --client-dir DIR",
                )
            })
    }

    /// The docker CLI's configuration directory: `DOCKER_CONFIG`, else `~/.docker` of this
    /// user (also under sudo, like the client layout).
    pub fn docker_config_dir(&self) -> CliResult<PathBuf> {
        match std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
            Some(dir) => absolute(Path::new(&dir)),
            None => self.docker_dir(),
        }
    }
}

/// The default state directory: `$XDG_DATA_HOME/dockpki`, else `~/.local/share/dockpki`.
pub fn default_state_dir() -> CliResult<PathBuf> {
    let nonempty = |v: Option<OsString>| v.filter(|s| !s.is_empty());
    if let Some(x) = nonempty(std::env::var_os("XDG_DATA_HOME")) {
        return absolute(&PathBuf::from(x).join("dockpki"));
    }
    nonempty(std::env::var_os("HOME"))
        .map(|h| absolute(&PathBuf::from(h).join(".local/share/dockpki")))
        .ok_or_else(|| CliError::new("cannot find a state directory (HOME and XDG_DATA_HOME are unset); pass --state DIR"))?
}

/// Makes a relative path absolute against the working directory, so that printed paths and the
/// inventory stay valid wherever they are read.
///
/// Every path dockpki records (the inventory, journals) is JSON, so a path that is not UTF-8 is
/// refused here, where every path from the command line or the environment passes, before
/// anything is read or staged.
pub fn absolute(path: &Path) -> CliResult<PathBuf> {
    dockpki_provision::fs::write::check_utf8(path)?;
    // `..` is resolved by the kernel through whatever symlinks precede it, so a path holding one
    // does not say where it leads; dockpki records paths and judges them component by component.
    if path
        .components()
        .any(|c| c == std::path::Component::ParentDir)
    {
        return Err(CliError::new(format!(
            "the path {} contains '..'; give it without (e.g. the directory it leads to)",
            path.display()
        )));
    }
    std::path::absolute(path).map_err(|e| CliError::io("resolve", path, &e))
}
