//! Where things go by default, and for whom.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{CliError, CliResult};
use dockpki_provision::docker::daemon_json::Daemon;
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

/// `$XDG_CONFIG_HOME`, else `~/.config`: where a rootless dockerd reads `docker/daemon.json`.
pub fn config_home() -> CliResult<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return absolute(&PathBuf::from(x));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| absolute(&PathBuf::from(h).join(".config")))
        .ok_or_else(|| {
            CliError::new("cannot find the configuration directory (HOME and XDG_CONFIG_HOME are unset); pass --file and --daemon-dir")
        })?
}

/// The configuration file `plan` and `apply` read in the working directory when `-c` is not
/// given.
pub const LOCAL_CONFIG: &str = "dockpki.toml";

/// The configuration file of `plan` and `apply`, absolute: `-c FILE` when given; else
/// `./dockpki.toml` when it exists; else `$XDG_CONFIG_HOME/dockpki/config.toml`
/// (`~/.config/dockpki/config.toml`) when it exists. A candidate that exists is taken whatever
/// it is (a directory, a broken link): reading it then says what is wrong, rather than another
/// file being read in its place.
pub fn config_file(given: Option<&Path>) -> CliResult<PathBuf> {
    if let Some(path) = given {
        let path = absolute(path)?;
        crate::output::printable_path("the -c file", &path)?;
        return Ok(path);
    }
    let local = absolute(Path::new(LOCAL_CONFIG))?;
    // Without HOME and XDG_CONFIG_HOME there is no per-user file to look for.
    let user = config_home().ok().map(|c| c.join("dockpki/config.toml"));
    let path = discover_config(local, user, |p| std::fs::symlink_metadata(p).is_ok())?;
    crate::output::printable_path("the configuration file", &path)?;
    Ok(path)
}

/// [`config_file`]'s search without `-c`, with what it reads passed in: the first of `local`
/// and `user` that `exists`, else an error naming both and `-c`.
fn discover_config(
    local: PathBuf,
    user: Option<PathBuf>,
    exists: impl Fn(&Path) -> bool,
) -> CliResult<PathBuf> {
    if exists(&local) {
        return Ok(local);
    }
    match user {
        Some(user) if exists(&user) => Ok(user),
        Some(user) => Err(CliError::new(format!(
            "no configuration file: neither {} nor {} exists; write one (docs/config.md, examples/dockpki.toml) or name it with -c FILE",
            local.display(),
            user.display()
        ))),
        None => Err(CliError::new(format!(
            "no configuration file: {} does not exist (and HOME and XDG_CONFIG_HOME are unset, so there is no ~/.config/dockpki/config.toml); write one (docs/config.md) or name it with -c FILE",
            local.display()
        ))),
    }
}

/// The daemon layout of a rootless dockerd: `$XDG_CONFIG_HOME/docker/pki`, next to its
/// daemon.json (`~/.docker` is the client's).
pub fn rootless_daemon_dir() -> CliResult<PathBuf> {
    Ok(config_home()?.join("docker/pki"))
}

/// The socket of a rootless daemon, `unix://$XDG_RUNTIME_DIR/docker.sock`, when
/// `XDG_RUNTIME_DIR` is set.
pub fn rootless_socket() -> Option<String> {
    std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|v| !v.is_empty())
        .map(|d| format!("unix://{}", PathBuf::from(d).join("docker.sock").display()))
}

/// Refuses `--rootless` when running as root (sudo included): a rootless daemon runs as an
/// ordinary user and reads that user's files, which root would own (and put in root's home).
pub fn refuse_rootless_as_root(command: &str) -> CliResult<()> {
    if nix::unistd::geteuid().is_root() {
        let sudo = std::env::var_os("SUDO_USER").filter(|u| !u.is_empty());
        return Err(CliError::new(format!(
            "{command} --rootless sets up a daemon that runs as an ordinary user, so it runs as that user: run it without sudo{}, as the user whose rootless dockerd it is",
            if sudo.is_some() { "" } else { " and not as root" }
        )));
    }
    Ok(())
}

/// Which dockerd serves the daemon layout in `dir`, for the restart hint: a rootless one
/// (the running user's own) when a non-root user runs dockpki and the layout lies in their home
/// or `$XDG_CONFIG_HOME`, else the system's. Root runs no rootless daemon, and a non-root
/// user's layout outside their home (a scratch directory, a test) is not a daemon location
/// dockpki can tell apart, so it keeps the system wording.
pub fn daemon_of_layout(dir: &Path, user: &ClientUser) -> Daemon {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    judge_daemon(
        dir,
        nix::unistd::geteuid().is_root(),
        user.home.as_deref(),
        config.as_deref(),
    )
}

/// [`daemon_of_layout`] with everything it reads passed in.
fn judge_daemon(dir: &Path, root: bool, home: Option<&Path>, config: Option<&Path>) -> Daemon {
    // `/` as a home (some service accounts) would make every directory the user's.
    let mine = |base: Option<&Path>| {
        base.is_some_and(|b| b.is_absolute() && b != Path::new("/") && dir.starts_with(b))
    };
    if !root && (mine(home) || mine(config)) {
        Daemon::Rootless
    } else {
        Daemon::System
    }
}

/// The line saying a daemon must be restarted to serve what was written into `dir`, naming the
/// user's own daemon where the layout is a rootless one ([`daemon_of_layout`]).
pub fn restart_hint(dir: &Path, user: &ClientUser) -> String {
    dockpki_provision::layout::restart_hint(dir, daemon_of_layout(dir, user))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_c_the_local_file_wins_then_the_users_and_neither_names_both_and_c() {
        let local = PathBuf::from("/work/dockpki.toml");
        let user = PathBuf::from("/home/a/.config/dockpki/config.toml");
        let both = |_: &Path| true;
        assert_eq!(
            discover_config(local.clone(), Some(user.clone()), both).unwrap(),
            local
        );
        let only_user = |p: &Path| p == user.as_path();
        assert_eq!(
            discover_config(local.clone(), Some(user.clone()), only_user).unwrap(),
            user
        );
        let none = |_: &Path| false;
        let e = discover_config(local.clone(), Some(user.clone()), none)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/work/dockpki.toml")
                && e.contains("/home/a/.config/dockpki/config.toml")
                && e.contains("-c FILE"),
            "{e}"
        );
        let e = discover_config(local, None, none).unwrap_err().to_string();
        assert!(
            e.contains("/work/dockpki.toml") && e.contains("-c FILE"),
            "{e}"
        );
    }

    #[test]
    fn a_layout_in_a_non_root_users_home_or_config_dir_is_served_by_their_rootless_daemon() {
        let home = Path::new("/home/alice");
        let config = Path::new("/srv/alice-config");
        let judge =
            |dir: &str, root: bool| judge_daemon(Path::new(dir), root, Some(home), Some(config));
        assert_eq!(
            judge("/home/alice/.config/docker/pki", false),
            Daemon::Rootless
        );
        assert_eq!(
            judge("/srv/alice-config/docker/pki", false),
            Daemon::Rootless
        );
        assert_eq!(judge("/etc/docker/pki", false), Daemon::System);
        assert_eq!(judge("/tmp/scratch/daemon", false), Daemon::System);
        // Component-wise: /home/alicette is not under /home/alice.
        assert_eq!(judge("/home/alicette/pki", false), Daemon::System);
        // Root runs no rootless daemon, whatever its home.
        assert_eq!(
            judge("/home/alice/.config/docker/pki", true),
            Daemon::System
        );
        assert_eq!(
            judge_daemon(
                Path::new("/etc/docker/pki"),
                false,
                Some(Path::new("/")),
                None
            ),
            Daemon::System
        );
    }
}
