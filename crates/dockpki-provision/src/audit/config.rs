//! The configuration dockerd really runs with: its command line (from a running dockerd's
//! `/proc/PID/cmdline`, else the systemd unit with its drop-ins), merged with daemon.json (the
//! `--config-file` the command line names, else the default for a root or rootless daemon).
//!
//! dockerd refuses to start when an option is given both as a flag and in daemon.json ("the
//! following directives are specified both as a flag and in the configuration file"): such
//! options are kept in [`EffectiveConfig::conflicts`] for a rule to report, and the flag's
//! value is the one [`EffectiveConfig`] answers with.
//!
//! A running dockerd is known by the program it runs (`/proc/PID/exe`: root's `dockerd`),
//! never by the name it gives itself: anyone can start a process whose `argv[0]` is `dockerd`.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use super::checks::listen::tcp_listeners;
use super::host::{FileKind, Host, Process};
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
    /// Why dockerd cannot use it, in one line (dockerd refuses to start then): it could not
    /// be read, is not a JSON object, or holds a value of the wrong type (a boolean option
    /// written as a string), in which case [`ConfigFile::object`] is still there.
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
    /// The other root dockerd running beside the one audited (a second daemon for tests, a
    /// leftover after a restart), each with its own configuration: any of them may listen
    /// where it should not, so the listen rules judge them too. Empty when one runs.
    pub others: Vec<EffectiveConfig>,
    /// The system unit `docker.service` when it is masked (linked to `/dev/null`, or empty):
    /// systemd does not start it, so its command line is no daemon's and is not read.
    pub masked_unit: Option<PathBuf>,
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

/// A boolean as Go's `strconv.ParseBool` reads it, which is how dockerd's flags take
/// `--tlsverify=VALUE`: `1 t T TRUE true True` and `0 f F FALSE false False`; `None` for
/// anything else (dockerd refuses to start with it).
pub fn go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The long name of the one-letter option `letter` (the letter itself when dockerd has none).
fn short_name(letter: char) -> String {
    SHORT_FLAGS
        .iter()
        .find(|(c, _)| *c == letter)
        .map_or_else(|| letter.to_string(), |(_, n)| (*n).to_string())
}

/// Parses dockerd's arguments (after the program name) the way its flag parser (pflag) does:
/// `--name`, `--name=value`, `--name value` (not for boolean options), `-H value`, `-Hvalue`,
/// `-H=value`, and boolean letters grouped behind one dash (`-DH tcp://…`, `-DHtcp://…`):
/// the first letter that takes a value takes the rest of the word, or the next word. dockerd
/// takes no positional arguments, so a word after a non-boolean option is its value.
pub fn parse_flags(args: &[String]) -> Vec<Flag> {
    let mut flags = Vec::new();
    let mut words = args.iter().peekable();
    while let Some(word) = words.next() {
        if let Some(long) = word.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (long.to_string(), None),
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
        } else if let Some(mut rest) = word.strip_prefix('-') {
            while let Some(letter) = rest.chars().next() {
                rest = &rest[letter.len_utf8()..];
                let name = short_name(letter);
                if let Some(v) = rest.strip_prefix('=') {
                    // `-D=false`, `-H=unix:///x`: the value of this letter, whatever it is.
                    flags.push(Flag {
                        name,
                        value: Some(v.to_string()),
                    });
                    break;
                }
                if BOOL_FLAGS.contains(&name.as_str()) {
                    flags.push(Flag { name, value: None });
                    continue;
                }
                let value = if rest.is_empty() {
                    words.next_if(|w| !w.starts_with('-')).cloned()
                } else {
                    Some(rest.to_string())
                };
                flags.push(Flag { name, value });
                break;
            }
        }
        // Any other word is a stray one dockerd would not accept; passed over.
    }
    flags
}

/// Whether the program `argv0` is named dockerd.
fn named_dockerd(argv0: &str) -> bool {
    Path::new(argv0).file_name().and_then(|n| n.to_str()) == Some("dockerd")
}

/// Whether process `p` of `host` is a dockerd. The program it runs (`/proc/PID/exe`, which
/// the process cannot choose) must be named `dockerd` and be root's file that only root may
/// change: anyone may start a program of theirs under the name dockerd, but not plant one
/// owned by root. When the program cannot be seen (the audit runs as a user and the process
/// is another's; a host that shows none), only a process of root named dockerd counts: no
/// user can start a process as root.
fn is_dockerd(host: &dyn Host, p: &Process) -> bool {
    match host.process_exe(p.pid) {
        Some(exe) => {
            exe.name() == Some("dockerd")
                && exe.stat.kind == FileKind::Regular
                && exe.stat.uid == 0
                && exe.stat.mode & 0o022 == 0
        }
        None => p.uid == 0 && p.argv.first().is_some_and(|a| named_dockerd(a)),
    }
}

/// The running dockerd processes of `host`, known by the program they run (`/proc/PID/exe`:
/// root's `dockerd`, which only root may change; see the module documentation): root's
/// first, then by pid.
///
/// # Errors
/// When the processes cannot be listed.
pub fn dockerd_processes(host: &dyn Host) -> Result<Vec<Process>> {
    let mut found: Vec<Process> = host
        .processes()?
        .into_iter()
        .filter(|p| !p.argv.is_empty() && is_dockerd(host, p))
        .collect();
    found.sort_by_key(|p| (p.uid != 0, p.pid));
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

/// What the system's `docker.service` says about dockerd's command line.
enum SystemUnit {
    /// Not installed, or it sets no `ExecStart=`.
    None,
    /// Masked at this path: systemd does not start it.
    Masked(PathBuf),
    /// The effective command line and the files it came from.
    Command(String, Vec<PathBuf>),
}

/// Whether the unit file at `path` masks its unit, as systemd decides it: a link to
/// `/dev/null` (even in a tree whose `/dev` is empty), anything that turns out to be a
/// device, or an empty file.
fn is_masked(host: &dyn Host, path: &Path) -> Result<bool> {
    if host.read_link(path)?.as_deref() == Some(Path::new("/dev/null")) {
        return Ok(true);
    }
    Ok(host
        .stat(path)?
        .is_some_and(|s| s.kind == FileKind::Device || s.kind == FileKind::Regular && s.size == 0))
}

/// The effective `ExecStart=` of `docker.service` on `host`, read through the host. The
/// first directory that holds the unit decides: a unit masked in `/etc/systemd/system` is
/// masked, whatever `/lib/systemd/system` holds.
fn unit_command(host: &dyn Host) -> Result<SystemUnit> {
    let dirs = systemd::default_unit_dirs();
    let mut unit_file = None;
    for dir in &dirs {
        let path = dir.join(systemd::DOCKER_UNIT);
        if host.lstat(&path)?.is_none() {
            continue;
        }
        if is_masked(host, &path)? {
            return Ok(SystemUnit::Masked(path));
        }
        if host
            .stat(&path)?
            .is_some_and(|s| s.kind == FileKind::Regular)
        {
            unit_file = Some(path);
            break;
        }
    }
    let Some(unit_file) = unit_file else {
        return Ok(SystemUnit::None);
    };
    let exec = systemd::exec_start_with_dropins(
        &HostUnitFiles(host),
        unit_file,
        systemd::DOCKER_UNIT,
        &dirs,
        None,
    );
    Ok(match exec.command {
        Some(c) => SystemUnit::Command(c, exec.sources),
        None => SystemUnit::None,
    })
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
            .is_some_and(|s| s.kind == FileKind::Regular)
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
        Ok(Value::Object(map)) => {
            let problem = wrong_boolean(&map);
            (Some(map), problem)
        }
        Ok(_) => (None, Some("it is not a JSON object".to_string())),
        Err(e) => (None, Some(format!("it is not valid JSON: {e}"))),
    };
    Some(ConfigFile {
        path: path.to_path_buf(),
        object,
        problem,
    })
}

/// A boolean option of daemon.json written as something else (`"tlsverify": "true"`):
/// dockerd decodes daemon.json into typed fields and refuses to start when a boolean's value
/// is not a JSON `true` or `false`, so the audit does not read `"false"` as either.
fn wrong_boolean(object: &Map<String, Value>) -> Option<String> {
    BOOL_FLAGS.iter().find_map(|flag| {
        let key = file_key(flag);
        match object.get(key) {
            Some(v) if !v.is_boolean() => Some(format!(
                "{key:?} is {}, not a JSON boolean (true or false), and dockerd refuses to start with it",
                crate::text::escape(&v.to_string())
            )),
            _ => None,
        }
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
/// the system one, and tests run their own. Root's daemons come first: among the running
/// dockerd, the first root one (lowest pid) whose listen addresses include `daemon` is chosen
/// ([`EffectiveConfig::serves`]), else the first other one that does; when none does (or
/// `daemon` is `None`), root's with the lowest pid. A user's dockerd is audited only when it
/// serves `daemon` or no root one runs (a rootless host). The other root daemons are kept in
/// [`EffectiveConfig::others`], each with its own daemon.json.
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
        let of = |p: &Process, daemon_config: Option<&Path>| {
            let source = Source::Process {
                pid: p.pid,
                uid: p.uid,
            };
            from_command(
                host,
                daemon_config,
                source,
                p.argv[1..].to_vec(),
                Vec::new(),
            )
        };
        let mut configs = Vec::new();
        for p in &processes {
            configs.push(of(p, daemon_config)?);
        }
        // Root's come first (dockerd_processes): the first index is root's lowest pid when
        // root runs one, else a rootless daemon's.
        let chosen = daemon
            .and_then(|d| configs.iter().position(|c| c.serves(d)))
            .unwrap_or(0);
        let mut others = Vec::new();
        for (i, p) in processes.iter().enumerate() {
            if i != chosen && p.uid == 0 {
                // Their own daemon.json: the one the operator named is the audited daemon's.
                others.push(of(p, None)?);
            }
        }
        let mut config = configs.swap_remove(chosen);
        config.others = others;
        return Ok(config);
    }
    let masked_unit = match unit_command(host)? {
        SystemUnit::Command(command, files) => {
            let (args, unexpanded) = unit_args(&command);
            return from_command(
                host,
                daemon_config,
                Source::Unit { files },
                args,
                unexpanded,
            );
        }
        SystemUnit::Masked(path) => Some(path),
        SystemUnit::None => None,
    };
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
    let mut config = from_command(host, daemon_config, Source::None, Vec::new(), Vec::new())?;
    config.masked_unit = masked_unit;
    Ok(config)
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
    // The last --rootless wins, as for any flag; a bare one means true.
    let rootless = uid != 0
        || flags
            .iter()
            .rev()
            .find(|f| f.name == "rootless")
            .is_some_and(|f| f.value.as_deref().and_then(go_bool) != Some(false));
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
        others: Vec::new(),
        masked_unit: None,
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
    /// command-line value wins over daemon.json. A flag's value is read as Go's
    /// `strconv.ParseBool` reads it ([`go_bool`]: `--tlsverify=1`, `=T`, `=False`); in
    /// daemon.json only a JSON boolean counts (dockerd refuses a string there; see
    /// [`ConfigFile::problem`]). `None` when set nowhere (dockerd's default applies) or not a
    /// boolean.
    pub fn bool(&self, flag: &str) -> Option<bool> {
        if let Some(last) = self.flag_values(flag).last() {
            return match last {
                None => Some(true),
                Some(v) => go_bool(v),
            };
        }
        self.file_value(file_key(flag)).and_then(Value::as_bool)
    }

    /// Whether dockerd serves TLS on TCP: `tls`, or `tlsverify` set at all. dockerd turns TLS
    /// on whenever tlsverify is set, even to false ("regardless of whether the user sets it to
    /// true or false, if they specify TLSVerify at all then we need to turn on TLS", moby's
    /// `loadDaemonCliConfig`): `tlsverify: false` is TLS without client verification, not
    /// plain TCP.
    pub fn tls(&self) -> bool {
        self.bool("tlsverify").is_some() || self.bool("tls") == Some(true)
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
    /// (dockerd refuses both; see [`EffectiveConfig::conflicts`]), with surrounding spaces
    /// removed as dockerd removes them. Empty means dockerd's default, its unix socket; so
    /// does an empty address without TLS (with TLS it is `tcp://localhost:2376`; see
    /// [`tcp_listeners`]).
    pub fn hosts(&self) -> Vec<String> {
        let from_flags: Vec<String> = self
            .flag_values("host")
            .into_iter()
            .map(|v| v.unwrap_or_default().trim().to_string())
            .collect();
        if !from_flags.is_empty() {
            return from_flags;
        }
        match self.file_value("hosts") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(|s| s.trim().to_string())
                .collect(),
            Some(Value::String(s)) => vec![s.trim().to_string()],
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
                let tls = self.tls();
                hosts.is_empty() && wanted == default
                    || hosts.iter().any(|h| {
                        if h.is_empty() && !tls {
                            // dockerd's default address without TLS: the default socket.
                            return wanted == default;
                        }
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
                tcp_listeners(&hosts, self.tls()).iter().any(|l| {
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
            Source::None => match &self.masked_unit {
                Some(unit) => format!(
                    "no dockerd command line (none running; {} is masked, so systemd does not start it)",
                    unit.display()
                ),
                None => "no dockerd command line (none running, no unit)".into(),
            },
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
    fn grouped_short_flags_are_split_as_pflag_splits_them() {
        let got = |line: &str| -> Vec<(String, Option<String>)> {
            parse_flags(&words(line))
                .into_iter()
                .map(|f| (f.name, f.value))
                .collect()
        };
        let flag = |n: &str, v: Option<&str>| (n.to_string(), v.map(str::to_string));
        assert_eq!(
            got("-DH tcp://0.0.0.0:2375"),
            [
                flag("debug", None),
                flag("host", Some("tcp://0.0.0.0:2375"))
            ]
        );
        assert_eq!(
            got("-DHtcp://0.0.0.0:2375 -G docker"),
            [
                flag("debug", None),
                flag("host", Some("tcp://0.0.0.0:2375")),
                flag("group", Some("docker"))
            ]
        );
        assert_eq!(
            got("-D=false -DH=unix:///x"),
            [
                flag("debug", Some("false")),
                flag("debug", None),
                flag("host", Some("unix:///x"))
            ]
        );
    }

    #[test]
    fn booleans_are_read_as_go_reads_them_on_the_command_line_and_only_as_json_in_the_file() {
        for (word, value) in [
            ("1", Some(true)),
            ("t", Some(true)),
            ("T", Some(true)),
            ("TRUE", Some(true)),
            ("True", Some(true)),
            ("true", Some(true)),
            ("0", Some(false)),
            ("f", Some(false)),
            ("F", Some(false)),
            ("FALSE", Some(false)),
            ("False", Some(false)),
            ("false", Some(false)),
            ("yes", None),
            ("tRUE", None),
        ] {
            assert_eq!(go_bool(word), value, "{word}");
        }
        let tree = tempfile::tempdir().unwrap();
        let put = |path: &str, text: &str| {
            let p = tree.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        put(
            "lib/systemd/system/docker.service",
            "[Service]\nExecStart=/usr/bin/dockerd -H tcp://0.0.0.0:2376 --tlsverify=1 --rootless=0\n",
        );
        put(
            "etc/docker/daemon.json",
            r#"{"tls": "true", "live-restore": true}"#,
        );
        let host = super::super::TreeHost::tree(tree.path()).unwrap();
        let config = effective_config(&host, None).unwrap();
        assert_eq!(config.bool("tlsverify"), Some(true));
        assert!(!config.rootless);
        // A JSON string is not a boolean to dockerd: it refuses to start, and the audit says so.
        assert_eq!(config.bool("tls"), None);
        assert_eq!(config.bool("live-restore"), Some(true));
        let problem = config.file.as_ref().unwrap().problem.clone().unwrap();
        assert!(
            problem.contains("\"tls\" is \"true\", not a JSON boolean"),
            "{problem}"
        );
    }

    #[test]
    fn a_masked_system_unit_is_no_command_line_even_when_lib_has_one() {
        let tree = tempfile::tempdir().unwrap();
        let put = |path: &str, text: &str| {
            let p = tree.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        put(
            "lib/systemd/system/docker.service",
            "[Service]\nExecStart=/usr/bin/dockerd -H tcp://0.0.0.0:2375\n",
        );
        std::fs::create_dir_all(tree.path().join("etc/systemd/system")).unwrap();
        // The tree's /dev is empty: the link alone says masked.
        std::os::unix::fs::symlink(
            "/dev/null",
            tree.path().join("etc/systemd/system/docker.service"),
        )
        .unwrap();
        let host = super::super::TreeHost::tree(tree.path()).unwrap();
        let config = effective_config(&host, None).unwrap();
        assert_eq!(config.source, Source::None);
        assert!(config.hosts().is_empty(), "{:?}", config.hosts());
        assert_eq!(
            config.masked_unit,
            Some(PathBuf::from("/etc/systemd/system/docker.service"))
        );
        assert!(
            config.describe_source().contains("is masked"),
            "{}",
            config.describe_source()
        );
        // An empty unit file masks too.
        std::fs::remove_file(tree.path().join("etc/systemd/system/docker.service")).unwrap();
        put("etc/systemd/system/docker.service", "");
        let config = effective_config(&host, None).unwrap();
        assert_eq!(config.source, Source::None);
    }

    #[test]
    fn hosts_are_trimmed_and_an_empty_one_is_the_default_socket_without_tls() {
        let tree = tempfile::tempdir().unwrap();
        let host = super::super::TreeHost::tree(tree.path()).unwrap();
        let mut config = effective_config(&host, None).unwrap();
        config.flags = parse_flags(&[
            "-H".to_string(),
            " unix:///run/docker.sock ".to_string(),
            "--host=".to_string(),
        ]);
        assert_eq!(config.hosts(), ["unix:///run/docker.sock", ""]);
        assert!(config.serves(&DaemonAccess::Socket(PathBuf::from("/var/run/docker.sock"))));
        config.flags = parse_flags(&["--host=".to_string()]);
        assert!(config.serves(&DaemonAccess::Socket(PathBuf::from("/run/docker.sock"))));
        config.flags.push(Flag {
            name: "tlsverify".into(),
            value: None,
        });
        assert!(!config.serves(&DaemonAccess::Socket(PathBuf::from("/run/docker.sock"))));
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

    /// The tree's files, with `processes` running, the programs of `exes` behind them.
    struct WithProcesses {
        tree: super::super::TreeHost,
        processes: Vec<Process>,
        exes: Vec<(u32, super::super::host::Executable)>,
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
        fn process_exe(&self, pid: u32) -> Option<super::super::host::Executable> {
            self.exes
                .iter()
                .find(|(p, _)| *p == pid)
                .map(|(_, e)| e.clone())
        }
    }

    /// A program at `path` owned by `uid` with `mode`.
    fn exe(path: &str, uid: u32, mode: u32) -> super::super::host::Executable {
        super::super::host::Executable {
            path: PathBuf::from(path),
            stat: super::super::host::Stat {
                kind: FileKind::Regular,
                uid,
                gid: uid,
                mode,
                size: 1,
                dev: 1,
                ino: u64::from(uid) + u64::from(mode),
            },
        }
    }

    fn pid_of(config: &EffectiveConfig) -> u32 {
        match config.source {
            Source::Process { pid, .. } => pid,
            ref other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_users_process_named_dockerd_is_no_daemon_and_never_wins_over_roots() {
        let dir = tempfile::tempdir().unwrap();
        let process = |pid, uid, line: &str| Process {
            pid,
            uid,
            argv: words(line),
        };
        let host = WithProcesses {
            tree: super::super::TreeHost::tree(dir.path()).unwrap(),
            processes: vec![
                // A user's own program calling itself dockerd, lowest pid: no -H, so it would
                // "serve" the default socket and pass.
                process(5, 1000, "dockerd"),
                // Root running a program named dockerd that is not root's file.
                process(6, 0, "/usr/bin/dockerd"),
                // Root running a dockerd others may rewrite.
                process(7, 0, "dockerd"),
                // The real daemon, after a restart.
                process(900, 0, "/usr/bin/dockerd -H tcp://0.0.0.0:2375"),
                // No program known (an auditor without the right to see it): root's counts.
                process(901, 0, "/usr/bin/dockerd -H unix:///tmp/a.sock"),
                process(902, 1000, "/usr/bin/dockerd -H unix:///tmp/b.sock"),
            ],
            exes: vec![
                (5, exe("/home/alice/bin/dockerd", 1000, 0o755)),
                (6, exe("/tmp/dockerd (deleted)", 1000, 0o755)),
                (7, exe("/opt/dockerd", 0, 0o777)),
                (900, exe("/usr/bin/dockerd (deleted)", 0, 0o755)),
            ],
        };
        let pids: Vec<u32> = dockerd_processes(&host)
            .unwrap()
            .iter()
            .map(|p| p.pid)
            .collect();
        assert_eq!(pids, [900, 901]);
        let config = effective_config(&host, None).unwrap();
        assert_eq!(pid_of(&config), 900);
        assert_eq!(config.hosts(), ["tcp://0.0.0.0:2375"]);
    }

    #[test]
    fn a_users_dockerd_is_audited_only_when_no_root_one_runs_or_it_serves_the_request() {
        let dir = tempfile::tempdir().unwrap();
        let process = |pid, uid, line: &str| Process {
            pid,
            uid,
            argv: words(line),
        };
        let real = exe("/usr/bin/dockerd", 0, 0o755);
        let rootless = process(
            5,
            1000,
            "/usr/bin/dockerd -H unix:///run/user/1000/docker.sock",
        );
        let mut host = WithProcesses {
            tree: super::super::TreeHost::tree(dir.path()).unwrap(),
            processes: vec![
                rootless.clone(),
                process(100, 0, "/usr/bin/dockerd -H fd://"),
                process(200, 0, "/usr/bin/dockerd -H tcp://0.0.0.0:2375"),
            ],
            exes: vec![(5, real.clone()), (100, real.clone()), (200, real.clone())],
        };
        let serving = |host: &WithProcesses, socket: Option<&str>| {
            let daemon = socket.map(|s| DaemonAccess::Socket(PathBuf::from(s)));
            effective_config_serving(host, None, daemon.as_ref()).unwrap()
        };
        let config = serving(&host, None);
        assert_eq!(pid_of(&config), 100);
        // The other root daemon is kept for the listen rules; the user's is not root's.
        let others: Vec<u32> = config.others.iter().map(pid_of).collect();
        assert_eq!(others, [200]);
        assert_eq!(pid_of(&serving(&host, Some("/run/docker.sock"))), 100);
        let asked = serving(&host, Some("/run/user/1000/docker.sock"));
        assert_eq!(pid_of(&asked), 5);
        assert!(asked.rootless);
        let others: Vec<u32> = asked.others.iter().map(pid_of).collect();
        assert_eq!(others, [100, 200]);
        // A rootless host: the user's daemon is the one.
        host.processes = vec![rootless];
        let alone = serving(&host, None);
        assert_eq!(pid_of(&alone), 5);
        assert!(alone.others.is_empty());
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
            exes: Vec::new(),
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
