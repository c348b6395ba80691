//! The configuration dockerd really runs with: its command line (from a running dockerd's
//! `/proc/PID/cmdline`, else the systemd unit with its drop-ins), merged with daemon.json (the
//! `--config-file` the command line names, else the default for a root or rootless daemon).
//!
//! dockerd refuses to start when an option is given both as a flag and in daemon.json ("the
//! following directives are specified both as a flag and in the configuration file"): such
//! options are kept in [`EffectiveConfig::conflicts`] for a rule to report, and the flag's
//! value is the one [`EffectiveConfig`] answers with.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use super::checks::listen::tcp_listeners;
use super::host::{Host, Process};
use super::DaemonAccess;
use crate::docker::systemd;
use crate::error::{Error, Result};
use crate::fs::reader::Limit;

/// Where the daemon's command line came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Source {
    /// A running dockerd.
    Process {
        /// Its pid.
        pid: u32,
        /// Its real uid (not 0 for a rootless daemon).
        uid: u32,
    },
    /// The `ExecStart=` of the systemd unit, after its drop-ins.
    Unit {
        /// The unit file and drop-ins read, in order.
        files: Vec<PathBuf>,
    },
    /// No running dockerd and no system unit, but a user's unit for a rootless dockerd
    /// (`~/.config/systemd/user/docker.service`, as `dockerd-rootless-setuptool.sh` installs
    /// it).
    UserUnit {
        /// The user's uid.
        uid: u32,
        /// The unit file and drop-ins read, in order.
        files: Vec<PathBuf>,
    },
    /// No running dockerd and no unit: only daemon.json is known.
    None,
}

/// One option of dockerd's command line: its long name (`host`, `tlsverify`) and its value
/// (`None` for a boolean given without one, which means `true`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Flag {
    /// The long name, without dashes; short options are given theirs (`-H` is `host`).
    pub name: String,
    /// The value, when one was given.
    pub value: Option<String>,
}

/// daemon.json as read.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConfigFile {
    /// Where it is on the host.
    pub path: PathBuf,
    /// Its top-level object; `None` when it could not be read or is not a JSON object (see
    /// [`ConfigFile::problem`]).
    #[serde(skip)]
    pub object: Option<Map<String, Value>>,
    /// Why it could not be used, in one line (dockerd refuses to start then).
    pub problem: Option<String>,
}

/// The effective configuration of the host's dockerd.
#[derive(Clone, Debug, Serialize)]
pub struct EffectiveConfig {
    /// Where the command line came from.
    pub source: Source,
    /// The options of the command line, in order.
    pub flags: Vec<Flag>,
    /// Words of a unit's command line that systemd expands at start (`$DOCKER_OPTS`): what
    /// they hold is not known to the audit.
    pub unexpanded: Vec<String>,
    /// daemon.json, when there is one.
    pub file: Option<ConfigFile>,
    /// Options set both on the command line and in daemon.json, by daemon.json key.
    pub conflicts: Vec<String>,
    /// Whether the daemon is rootless: it runs as a user other than root, or with
    /// `--rootless`.
    pub rootless: bool,
}

/// dockerd's boolean options: these never take the next word as their value.
const BOOL_FLAGS: &[&str] = &[
    "debug",
    "experimental",
    "icc",
    "init",
    "ip-forward",
    "ip-masq",
    "ip6tables",
    "iptables",
    "ipv6",
    "live-restore",
    "no-new-privileges",
    "raw-logs",
    "rootless",
    "selinux-enabled",
    "tls",
    "tlsverify",
    "userland-proxy",
    "validate",
    "version",
    "help",
];

/// dockerd's one-letter options, by long name.
const SHORT_FLAGS: &[(char, &str)] = &[
    ('H', "host"),
    ('G', "group"),
    ('D', "debug"),
    ('l', "log-level"),
    ('p', "pidfile"),
    ('b', "bridge"),
    ('s', "storage-driver"),
    ('g', "graph"),
    ('v', "version"),
    ('h', "help"),
];

/// Options whose daemon.json key is not their flag name (plural keys of repeatable flags).
const FILE_KEYS: &[(&str, &str)] = &[
    ("host", "hosts"),
    ("log-opt", "log-opts"),
    ("storage-opt", "storage-opts"),
    ("insecure-registry", "insecure-registries"),
    ("registry-mirror", "registry-mirrors"),
    ("authorization-plugin", "authorization-plugins"),
    ("default-ulimit", "default-ulimits"),
    ("label", "labels"),
    ("exec-opt", "exec-opts"),
    ("add-runtime", "runtimes"),
    ("dns-opt", "dns-opts"),
    ("dns-search", "dns-search"),
    ("node-generic-resource", "node-generic-resources"),
    (
        "allow-nondistributable-artifacts",
        "allow-nondistributable-artifacts",
    ),
];

/// The daemon.json key of the option `flag` (long name).
pub fn file_key(flag: &str) -> &str {
    FILE_KEYS
        .iter()
        .find(|(f, _)| *f == flag)
        .map_or(flag, |(_, k)| k)
}

/// Parses dockerd's arguments (after the program name) the way its flag parser does: `--name`,
/// `--name=value`, `--name value` (not for boolean options), `-H value`, `-Hvalue`, `-H=value`.
/// dockerd takes no positional arguments, so a word after a non-boolean option is its value.
pub fn parse_flags(args: &[String]) -> Vec<Flag> {
    let mut flags = Vec::new();
    let mut words = args.iter().peekable();
    while let Some(word) = words.next() {
        let (name, inline) = if let Some(long) = word.strip_prefix("--") {
            match long.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (long.to_string(), None),
            }
        } else if let Some(short) = word.strip_prefix('-') {
            let mut chars = short.chars();
            let Some(letter) = chars.next() else {
                continue;
            };
            let name = SHORT_FLAGS
                .iter()
                .find(|(c, _)| *c == letter)
                .map_or_else(|| letter.to_string(), |(_, n)| n.to_string());
            let rest = chars.as_str();
            let rest = rest.strip_prefix('=').unwrap_or(rest);
            (name, (!rest.is_empty()).then(|| rest.to_string()))
        } else {
            // A stray word: not an option dockerd would accept; passed over.
            continue;
        };
        if name.is_empty() {
            continue;
        }
        let value = match inline {
            Some(v) => Some(v),
            None if BOOL_FLAGS.contains(&name.as_str()) => None,
            None => words.next_if(|w| !w.starts_with('-')).cloned(),
        };
        flags.push(Flag { name, value });
    }
    flags
}

/// Whether the program `argv0` is dockerd.
fn is_dockerd(argv0: &str) -> bool {
    Path::new(argv0).file_name().and_then(|n| n.to_str()) == Some("dockerd")
}

/// The running dockerd processes of `host`, lowest pid first.
///
/// # Errors
/// When the processes cannot be listed.
pub fn dockerd_processes(host: &dyn Host) -> Result<Vec<Process>> {
    let mut found: Vec<Process> = host
        .processes()?
        .into_iter()
        .filter(|p| p.argv.first().is_some_and(|a| is_dockerd(a)))
        .collect();
    found.sort_by_key(|p| p.pid);
    Ok(found)
}

/// Unit files read through the audited host.
struct HostUnitFiles<'a>(&'a dyn Host);

impl systemd::UnitFiles for HostUnitFiles<'_> {
    fn list(&self, dir: &Path) -> Vec<String> {
        self.0.list_dir(dir).ok().flatten().unwrap_or_default()
    }

    fn read(&self, path: &Path) -> Option<String> {
        let bytes = self.0.read(path, Limit::Config).ok()??;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// The effective `ExecStart=` of `docker.service` on `host`, read through the host.
fn unit_command(host: &dyn Host) -> Result<Option<(String, Vec<PathBuf>)>> {
    let dirs = systemd::default_unit_dirs();
    let mut unit_file = None;
    for dir in &dirs {
        let path = dir.join(systemd::DOCKER_UNIT);
        if host
            .stat(&path)?
            .is_some_and(|s| s.kind == super::host::FileKind::Regular)
        {
            unit_file = Some(path);
            break;
        }
    }
    let Some(unit_file) = unit_file else {
        return Ok(None);
    };
    let exec = systemd::exec_start_with_dropins(
        &HostUnitFiles(host),
        unit_file,
        systemd::DOCKER_UNIT,
        &dirs,
        None,
    );
    Ok(exec.command.map(|c| (c, exec.sources)))
}

/// The first user (by uid) with a rootless dockerd unit, and that unit's effective command.
fn user_unit_command(host: &dyn Host) -> Result<Option<(u32, String, Vec<PathBuf>)>> {
    let mut accounts = host.accounts()?;
    accounts.sort_by_key(|a| a.uid);
    for account in accounts {
        if account.uid == 0 || !account.home.is_absolute() {
            continue;
        }
        let dir = account.home.join(".config/systemd/user");
        let unit_file = dir.join(systemd::DOCKER_UNIT);
        if !host
            .stat(&unit_file)?
            .is_some_and(|s| s.kind == super::host::FileKind::Regular)
        {
            continue;
        }
        let exec = systemd::exec_start_with_dropins(
            &HostUnitFiles(host),
            unit_file,
            systemd::DOCKER_UNIT,
            &[dir],
            None,
        );
        if let Some(command) = exec.command {
            return Ok(Some((account.uid, command, exec.sources)));
        }
    }
    Ok(None)
}

/// The default daemon.json of a daemon run by `uid`: `/etc/docker/daemon.json` for root, the
/// user's `~/.config/docker/daemon.json` for a rootless daemon.
fn default_config_file(host: &dyn Host, uid: u32) -> Result<PathBuf> {
    if uid == 0 {
        return Ok(PathBuf::from(crate::docker::daemon_json::SYSTEM_FILE));
    }
    let home = host
        .accounts()?
        .into_iter()
        .find(|a| a.uid == uid)
        .map(|a| a.home)
        .filter(|h| h.is_absolute());
    Ok(match home {
        Some(home) => home.join(".config/docker/daemon.json"),
        // No passwd line: nothing sensible to read.
        None => PathBuf::from(crate::docker::daemon_json::SYSTEM_FILE),
    })
}

/// Reads daemon.json at `path` on `host`: `None` when it does not exist.
fn read_config_file(host: &dyn Host, path: &Path) -> Option<ConfigFile> {
    let bytes = match host.read(path, Limit::Config) {
        Ok(Some(b)) => b,
        Ok(None) => return None,
        Err(e) => {
            return Some(ConfigFile {
                path: path.to_path_buf(),
                object: None,
                problem: Some(e.message().to_string()),
            })
        }
    };
    let (object, problem) = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => (Some(map), None),
        Ok(_) => (None, Some("it is not a JSON object".to_string())),
        Err(e) => (None, Some(format!("it is not valid JSON: {e}"))),
    };
    Some(ConfigFile {
        path: path.to_path_buf(),
        object,
        problem,
    })
}

/// The arguments of a unit's command line (after the program, which may be dockerd or the
/// rootless launcher that passes them on), and the `$VARIABLES` among them.
fn unit_args(command: &str) -> (Vec<String>, Vec<String>) {
    let words = systemd::command_words(command);
    let unexpanded = words
        .iter()
        .filter(|w| w.starts_with('$'))
        .cloned()
        .collect();
    (words.into_iter().skip(1).collect(), unexpanded)
}

/// Works out the effective configuration of `host`'s dockerd. `daemon_config`, when given,
/// is read as daemon.json instead of the one the command line or the defaults name.
///
/// # Errors
/// When the processes of a live host cannot be listed, or `daemon_config` is given and
/// cannot be read.
pub fn effective_config(host: &dyn Host, daemon_config: Option<&Path>) -> Result<EffectiveConfig> {
    effective_config_serving(host, daemon_config, None)
}

/// [`effective_config`] of the dockerd that serves `daemon` (the socket or TCP address the
/// audit asks about containers), when several run: a host may run a rootless daemon beside
/// the system one, and tests run their own. Among the running dockerd, the first (lowest pid)
/// whose listen addresses include `daemon` is chosen ([`EffectiveConfig::serves`]); when none
/// does (or `daemon` is `None`), the lowest pid, as [`effective_config`] chooses.
///
/// # Errors
/// As [`effective_config`].
pub fn effective_config_serving(
    host: &dyn Host,
    daemon_config: Option<&Path>,
    daemon: Option<&DaemonAccess>,
) -> Result<EffectiveConfig> {
    let processes = dockerd_processes(host)?;
    if !processes.is_empty() {
        let mut configs = Vec::new();
        for p in processes {
            let source = Source::Process {
                pid: p.pid,
                uid: p.uid,
            };
            configs.push(from_command(
                host,
                daemon_config,
                source,
                p.argv[1..].to_vec(),
                Vec::new(),
            )?);
        }
        let chosen = daemon
            .and_then(|d| configs.iter().position(|c| c.serves(d)))
            .unwrap_or(0);
        return Ok(configs.swap_remove(chosen));
    }
    if let Some((command, files)) = unit_command(host)? {
        let (args, unexpanded) = unit_args(&command);
        return from_command(
            host,
            daemon_config,
            Source::Unit { files },
            args,
            unexpanded,
        );
    }
    if let Some((uid, command, files)) = user_unit_command(host)? {
        let (args, unexpanded) = unit_args(&command);
        return from_command(
            host,
            daemon_config,
            Source::UserUnit { uid, files },
            args,
            unexpanded,
        );
    }
    from_command(host, daemon_config, Source::None, Vec::new(), Vec::new())
}

/// The configuration of a dockerd started with `args` (after the program name), merged with
/// its daemon.json (`daemon_config`, else the one `args` or the defaults name).
fn from_command(
    host: &dyn Host,
    daemon_config: Option<&Path>,
    source: Source,
    args: Vec<String>,
    unexpanded: Vec<String>,
) -> Result<EffectiveConfig> {
    let flags = parse_flags(&args);
    let uid = match source {
        Source::Process { uid, .. } | Source::UserUnit { uid, .. } => uid,
        _ => 0,
    };
    let rootless = uid != 0
        || flags
            .iter()
            .any(|f| f.name == "rootless" && f.value.as_deref() != Some("false"));
    let file = match daemon_config {
        Some(path) => match read_config_file(host, path) {
            Some(f) => Some(f),
            None => {
                return Err(Error::new(format!(
                    "{} does not exist; name the daemon.json to audit",
                    crate::text::escape(&host.shown(path).display().to_string())
                )))
            }
        },
        None => {
            let named = flags
                .iter()
                .rev()
                .find(|f| f.name == "config-file")
                .and_then(|f| f.value.clone())
                .map(PathBuf::from)
                .filter(|p| p.is_absolute());
            let path = match named {
                Some(p) => p,
                None => default_config_file(host, uid)?,
            };
            read_config_file(host, &path)
        }
    };
    let mut conflicts: Vec<String> = Vec::new();
    if let Some(object) = file.as_ref().and_then(|f| f.object.as_ref()) {
        for flag in &flags {
            let key = file_key(&flag.name);
            if flag.name != "config-file"
                && object.contains_key(key)
                && !conflicts.iter().any(|c| c == key)
            {
                conflicts.push(key.to_string());
            }
        }
    }
    Ok(EffectiveConfig {
        source,
        flags,
        unexpanded,
        file,
        conflicts,
        rootless,
    })
}

impl EffectiveConfig {
    /// The values of the option with the long name `flag` on the command line, in order.
    pub fn flag_values(&self, flag: &str) -> Vec<Option<&str>> {
        self.flags
            .iter()
            .filter(|f| f.name == flag)
            .map(|f| f.value.as_deref())
            .collect()
    }

    /// daemon.json's value for `key`.
    pub fn file_value(&self, key: &str) -> Option<&Value> {
        self.file.as_ref()?.object.as_ref()?.get(key)
    }

    /// The boolean option `flag` (long name; its daemon.json key from [`file_key`]): the last
    /// command-line value wins over daemon.json. `None` when set nowhere (dockerd's default
    /// applies) or not a boolean.
    pub fn bool(&self, flag: &str) -> Option<bool> {
        if let Some(last) = self.flag_values(flag).last() {
            return match last {
                None => Some(true),
                Some(v) => v.parse().ok(),
            };
        }
        self.file_value(file_key(flag)).and_then(Value::as_bool)
    }

    /// The string option `flag`: the last command-line value, else daemon.json's.
    pub fn string(&self, flag: &str) -> Option<String> {
        if let Some(Some(v)) = self.flag_values(flag).last() {
            return Some((*v).to_string());
        }
        self.file_value(file_key(flag))
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// The listen addresses: every `-H` of the command line, else daemon.json's `hosts`
    /// (dockerd refuses both; see [`EffectiveConfig::conflicts`]). Empty means dockerd's
    /// default, its unix socket.
    pub fn hosts(&self) -> Vec<String> {
        let from_flags: Vec<String> = self
            .flag_values("host")
            .into_iter()
            .map(|v| v.unwrap_or_default().to_string())
            .collect();
        if !from_flags.is_empty() {
            return from_flags;
        }
        match self.file_value("hosts") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    }

    /// The log options (`--log-opt k=v`, else daemon.json's `log-opts`).
    pub fn log_opts(&self) -> Vec<(String, String)> {
        let from_flags: Vec<(String, String)> = self
            .flag_values("log-opt")
            .into_iter()
            .flatten()
            .filter_map(|v| v.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if !from_flags.is_empty() {
            return from_flags;
        }
        match self.file_value("log-opts") {
            Some(Value::Object(map)) => map
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The uid the daemon runs as: its process's, a user unit's user, else root.
    pub fn daemon_uid(&self) -> u32 {
        match self.source {
            Source::Process { uid, .. } | Source::UserUnit { uid, .. } => uid,
            _ => 0,
        }
    }

    /// Whether dockerd, configured so, listens where `daemon` says: the unix socket at its path
    /// (`fd://`, no `hosts` at all or a bare `unix://` mean the default socket,
    /// `/var/run/docker.sock`; `/var/run` and `/run` are one directory), or a TCP listener on
    /// its port bound to its host or to every interface.
    pub fn serves(&self, daemon: &DaemonAccess) -> bool {
        let hosts = self.hosts();
        match daemon {
            DaemonAccess::Socket(path) => {
                let wanted = run_dir_path(path);
                let default = run_dir_path(Path::new(DEFAULT_SOCKET));
                hosts.is_empty() && wanted == default
                    || hosts.iter().any(|h| {
                        if h.starts_with("fd://") {
                            // Socket activation: systemd's docker.socket, the default path.
                            return wanted == default;
                        }
                        match h.strip_prefix("unix://") {
                            Some("") => wanted == default,
                            Some(p) => run_dir_path(Path::new(p)) == wanted,
                            None => false,
                        }
                    })
            }
            DaemonAccess::Tcp { endpoint, .. } => {
                // As dockerd: tlsverify set at all (even false) turns TLS on, which makes 2376
                // the default port.
                let tls = self.bool("tlsverify").is_some() || self.bool("tls") == Some(true);
                tcp_listeners(&hosts, tls).iter().any(|l| {
                    l.port == endpoint.port
                        && (l.all_interfaces() || l.host.eq_ignore_ascii_case(&endpoint.host))
                })
            }
        }
    }

    /// Where the configuration came from, in a few words, for evidence.
    pub fn describe_source(&self) -> String {
        match &self.source {
            Source::Process { pid, .. } => format!("the running dockerd (pid {pid})"),
            Source::Unit { files } => match files.first() {
                Some(f) => format!("the systemd unit {}", f.display()),
                None => "the systemd unit".into(),
            },
            Source::UserUnit { files, .. } => match files.first() {
                Some(f) => format!("the rootless user unit {}", f.display()),
                None => "the rootless user unit".into(),
            },
            Source::None => "no dockerd command line (none running, no unit)".into(),
        }
    }
}

/// dockerd's default unix socket.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// `path` with `/var/run` written `/run`: on every current distribution one is a link to the
/// other, so `unix:///run/docker.sock` and `unix:///var/run/docker.sock` are one socket.
pub fn run_dir_path(path: &Path) -> PathBuf {
    match path.strip_prefix("/var/run") {
        Ok(rest) => Path::new("/run").join(rest),
        Err(_) => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn flags_are_parsed_as_dockerds_flag_parser_reads_them() {
        let flags = parse_flags(&words(
            "-H fd:// --tlsverify --host=tcp://0.0.0.0:2376 -Hunix:///x -G=docker --icc=false \
             --containerd /run/containerd/containerd.sock --log-opt max-size=10m -D",
        ));
        let got: Vec<(&str, Option<&str>)> = flags
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("host", Some("fd://")),
                ("tlsverify", None),
                ("host", Some("tcp://0.0.0.0:2376")),
                ("host", Some("unix:///x")),
                ("group", Some("docker")),
                ("icc", Some("false")),
                ("containerd", Some("/run/containerd/containerd.sock")),
                ("log-opt", Some("max-size=10m")),
                ("debug", None),
            ]
        );
    }

    #[test]
    fn a_boolean_flag_never_takes_the_next_word() {
        let flags = parse_flags(&words("--tlsverify -H tcp://h:2376"));
        assert_eq!(flags[0].value, None);
        assert_eq!(flags[1].value.as_deref(), Some("tcp://h:2376"));
    }

    #[test]
    fn a_rootless_users_unit_is_read_with_their_daemon_json_when_no_system_daemon_exists() {
        let tree = tempfile::tempdir().unwrap();
        let put = |path: &str, text: &str| {
            let p = tree.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        put(
            "etc/passwd",
            "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n",
        );
        put(
            "home/alice/.config/systemd/user/docker.service",
            "[Service]\nExecStart=/usr/bin/dockerd-rootless.sh --tlsverify -H tcp://0.0.0.0:2376\n",
        );
        put(
            "home/alice/.config/docker/daemon.json",
            r#"{"tlsverify": false}"#,
        );
        let host = super::super::TreeHost::tree(tree.path()).unwrap();
        let config = effective_config(&host, None).unwrap();
        assert!(
            matches!(config.source, Source::UserUnit { uid: 1000, .. }),
            "{:?}",
            config.source
        );
        assert!(config.rootless);
        assert_eq!(config.daemon_uid(), 1000);
        assert_eq!(
            config.file.as_ref().map(|f| f.path.clone()),
            Some(PathBuf::from("/home/alice/.config/docker/daemon.json"))
        );
        // The command line's value is the one dockerd uses; the repetition is a conflict.
        assert_eq!(config.bool("tlsverify"), Some(true));
        assert_eq!(config.conflicts, ["tlsverify"]);
        assert_eq!(config.hosts(), ["tcp://0.0.0.0:2376"]);
    }

    #[test]
    fn the_system_unit_with_its_dropins_comes_before_a_users_unit() {
        let tree = tempfile::tempdir().unwrap();
        let put = |path: &str, text: &str| {
            let p = tree.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        put("etc/passwd", "alice:x:1000:1000::/home/alice:/bin/sh\n");
        put(
            "home/alice/.config/systemd/user/docker.service",
            "[Service]\nExecStart=/usr/bin/dockerd-rootless.sh\n",
        );
        put(
            "lib/systemd/system/docker.service",
            "[Service]\nExecStart=/usr/bin/dockerd -H fd:// $DOCKER_OPTS\n",
        );
        put(
            "etc/systemd/system/docker.service.d/dockpki.conf",
            "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd --config-file /etc/other.json\n",
        );
        put("etc/other.json", r#"{"hosts": ["unix:///run/d.sock"]}"#);
        let host = super::super::TreeHost::tree(tree.path()).unwrap();
        let config = effective_config(&host, None).unwrap();
        let Source::Unit { files } = &config.source else {
            panic!("{:?}", config.source);
        };
        assert_eq!(files.len(), 2);
        assert!(!config.rootless);
        assert!(
            config.unexpanded.is_empty(),
            "the drop-in replaced the command"
        );
        assert_eq!(
            config.file.as_ref().unwrap().path,
            PathBuf::from("/etc/other.json")
        );
        assert_eq!(config.hosts(), ["unix:///run/d.sock"]);
    }

    #[test]
    fn plural_daemon_json_keys_are_mapped() {
        assert_eq!(file_key("host"), "hosts");
        assert_eq!(file_key("log-opt"), "log-opts");
        assert_eq!(file_key("tlsverify"), "tlsverify");
    }

    /// The tree's files, with `processes` running.
    struct WithProcesses {
        tree: super::super::TreeHost,
        processes: Vec<Process>,
    }

    impl Host for WithProcesses {
        fn name(&self) -> String {
            self.tree.name()
        }
        fn is_live(&self) -> bool {
            true
        }
        fn stat(&self, path: &Path) -> Result<Option<super::super::host::Stat>> {
            self.tree.stat(path)
        }
        fn lstat(&self, path: &Path) -> Result<Option<super::super::host::Stat>> {
            self.tree.lstat(path)
        }
        fn read(&self, path: &Path, limit: Limit) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>> {
            self.tree.read(path, limit)
        }
        fn list_dir(&self, path: &Path) -> Result<Option<Vec<String>>> {
            self.tree.list_dir(path)
        }
        fn processes(&self) -> Result<Vec<Process>> {
            Ok(self.processes.clone())
        }
    }

    #[test]
    fn the_dockerd_serving_the_requested_socket_or_port_is_the_one_audited() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("b.json"),
            r#"{"hosts": ["unix:///tmp/b/docker.sock", "tcp://0.0.0.0:2376"], "tlsverify": true}"#,
        )
        .unwrap();
        let process = |pid, line: &str| Process {
            pid,
            uid: 0,
            argv: words(line),
        };
        let host = WithProcesses {
            tree: super::super::TreeHost::tree(dir.path()).unwrap(),
            processes: vec![
                process(
                    10,
                    "/usr/bin/dockerd -H fd:// --containerd=/run/containerd.sock",
                ),
                process(
                    20,
                    "dockerd -H unix:///tmp/a/docker.sock -H tcp://127.0.0.1:2375",
                ),
                process(30, "dockerd --config-file /b.json"),
            ],
        };
        let pid_for = |daemon: Option<DaemonAccess>| match effective_config_serving(
            &host,
            None,
            daemon.as_ref(),
        )
        .unwrap()
        .source
        {
            Source::Process { pid, .. } => pid,
            other => panic!("{other:?}"),
        };
        let socket = |p: &str| Some(DaemonAccess::Socket(PathBuf::from(p)));
        let tcp = |a: &str| {
            Some(DaemonAccess::Tcp {
                endpoint: a.parse().unwrap(),
                client_dir: PathBuf::from("/c"),
            })
        };
        assert_eq!(pid_for(None), 10);
        assert_eq!(pid_for(socket("/run/docker.sock")), 10);
        assert_eq!(pid_for(socket("/tmp/a/docker.sock")), 20);
        assert_eq!(pid_for(socket("/tmp/b/docker.sock")), 30);
        assert_eq!(pid_for(tcp("tcp://127.0.0.1:2375")), 20);
        assert_eq!(pid_for(tcp("tcp://docker.example.com:2376")), 30);
        // Served by none: the lowest pid, as without a request.
        assert_eq!(pid_for(socket("/elsewhere.sock")), 10);
    }
}
