//! dockerd's `daemon.json`: dockpki's TLS settings (and, when asked, hardening) merged into the
//! administrator's file.
//!
//! The file belongs to the administrator: it is edited key by key rather than rewritten, so
//! every key dockpki does not own is kept byte for byte, in its order, with the file's own
//! indentation used for the keys added, and a file already holding the values is left alone;
//! every number is written back exactly as it was
//! written (`1e2` stays `1e2`, a 23-digit integer keeps its digits), hardening values already
//! set are kept, and a key given twice is refused rather than silently reduced to one. What
//! would stop dockerd from starting is reported as a typed [`Conflict`], or refused before
//! anything is written ([`Refusal`]).
//!
//! The file is written through a [`WritePlan`] whose journal lies next to it
//! (`.NAME.dockpki-journal`) rather than in a state directory: merging needs no CA, the host
//! that runs dockerd may hold no state at all (the CA can live elsewhere), and the next merge
//! into the same file is exactly the update that must complete an interrupted one before it
//! reads the file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::docker::host_file::{refuse_symlink, Failure, Refusal};
use crate::error::{Error, Result};
use crate::fs::reader::{self, Limit, Links};
use crate::fs::write::{Existing, WritePlan, Written};
use crate::layout::Layout;
use crate::report::Report;

/// dockerd's configuration file on a system (not rootless) host.
pub const SYSTEM_FILE: &str = "/etc/docker/daemon.json";
/// Where dockerd listens unless told otherwise: every interface, Docker's TLS port.
pub const DEFAULT_LISTEN: &str = "tcp://0.0.0.0:2376";
/// The socket the distribution's dockerd serves locally.
pub const SYSTEM_SOCKET: &str = "unix:///var/run/docker.sock";
/// The unencrypted Docker port: whoever reaches it is root on the host.
pub const PLAIN_PORT: u16 = 2375;

/// A listen address dockerd accepts, as far as dockpki allows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// `tcp://HOST:PORT`: only with TLS.
    Tcp(String),
    /// `unix://PATH`.
    Unix(String),
    /// `fd://` (systemd socket activation).
    Fd(String),
}

impl Listen {
    /// Parses a listen address: `tcp://HOST:PORT` (never port 2375), `unix://PATH` or `fd://`.
    ///
    /// # Errors
    /// A missing or unsupported scheme, a TCP address without host or port, or port 2375.
    pub fn parse(s: &str) -> Result<Listen> {
        let Some((scheme, rest)) = s.split_once("://") else {
            return Err(Error::new(format!(
                "listen address {s:?} has no scheme; give tcp://HOST:PORT, unix://PATH or fd://"
            )));
        };
        match scheme {
            "tcp" => {
                let port = rest
                    .rsplit_once(':')
                    .filter(|(host, _)| !host.is_empty() && !host.ends_with(':'))
                    .and_then(|(_, p)| p.parse::<u16>().ok())
                    .filter(|p| *p != 0)
                    .ok_or_else(|| {
                        Error::new(format!(
                            "listen address {s:?} needs a host and a port, e.g. tcp://0.0.0.0:2376 (IPv6: tcp://[::]:2376)"
                        ))
                    })?;
                if port == PLAIN_PORT {
                    return Err(Error::new(format!(
                        "refusing listen address {s:?}: port 2375 is Docker's plain-TCP port, and plain TCP makes anyone who connects root on this host; use 2376 (TLS)"
                    )));
                }
                Ok(Listen::Tcp(s.to_string()))
            }
            "unix" if !rest.is_empty() => Ok(Listen::Unix(s.to_string())),
            "fd" => Ok(Listen::Fd(s.to_string())),
            _ => Err(Error::new(format!(
                "listen address {s:?} has an unsupported scheme; give tcp://HOST:PORT (with TLS), unix://PATH or fd://"
            ))),
        }
    }

    /// The address as given.
    pub fn as_str(&self) -> &str {
        match self {
            Listen::Tcp(s) | Listen::Unix(s) | Listen::Fd(s) => s,
        }
    }
}

/// Whether the hardening settings are merged too (see [`Request::hardening`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hardening {
    /// Only the TLS settings and the listen addresses.
    Off,
    /// Also `icc`, `userns-remap`, `no-new-privileges`, `live-restore`, `log-driver` and
    /// `log-opts`, each only where the file does not set it already.
    On,
}

/// Which dockerd the file configures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Daemon {
    /// The system's dockerd, run by root.
    System,
    /// A rootless dockerd, which already runs in a user namespace (and refuses `userns-remap`).
    Rootless,
}

/// Whether a merge writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Computes the merge and writes nothing (not even the completion of an interrupted
    /// update).
    DryRun,
    /// Writes the merged file, unless it would not change.
    Write,
}

/// A merge into one daemon.json.
#[derive(Clone, Debug)]
pub struct Request {
    /// The file, absolute ([`SYSTEM_FILE`], or the rootless daemon's).
    pub file: PathBuf,
    /// The daemon layout whose files `tlscacert`, `tlscert` and `tlskey` name.
    pub tls: Layout,
    /// The listen addresses, in order: `hosts` becomes exactly this list.
    pub hosts: Vec<Listen>,
    /// Whether the hardening settings are merged too.
    pub hardening: Hardening,
    /// Which dockerd the file configures.
    pub daemon: Daemon,
    /// dockerd's command line as its service manager starts it, when known (see
    /// [`super::systemd::installed_exec_start`]): options there that daemon.json now also sets
    /// are reported as [`Conflict::CommandLine`].
    pub command_line: Option<String>,
}

impl Request {
    /// What the merge refuses before reading anything: a `tcp://` listen address while a TLS
    /// file of the daemon layout is missing (tlscacert/tlscert/tlskey naming missing files
    /// leave dockerd unable to start, and a TCP socket without them would be plain TCP: root
    /// for anyone who connects), then a symlinked file.
    ///
    /// # Errors
    /// [`Refusal::MissingTlsFile`] or [`Refusal::Symlink`].
    pub fn check(&self) -> std::result::Result<(), Refusal> {
        if self.hosts.iter().any(|h| matches!(h, Listen::Tcp(_))) {
            for path in [
                self.tls.ca_path(),
                self.tls.cert_path(),
                self.tls.key_path(),
            ] {
                if !path.is_file() {
                    return Err(Refusal::MissingTlsFile {
                        path,
                        daemon_dir: self.tls.dir.clone(),
                    });
                }
            }
        }
        refuse_symlink(&self.file)
    }
}

/// What happened to one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The key was missing and was added.
    Added,
    /// The key held another value, replaced (TLS settings dockpki owns).
    Replaced,
    /// The key held another value, kept (hardening defaults never override the administrator).
    Kept,
    /// Not set because another setting of the file makes dockerd refuse it (`icc: false`
    /// where `iptables` is false).
    Skipped,
}

/// One change (or kept value) of the merge.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Change {
    /// The key; a key inside `log-opts` as `log-opts.KEY`.
    pub key: String,
    /// What happened to it.
    pub action: Action,
    /// The value the file held, if any.
    pub old: Option<Value>,
    /// The value dockpki wants there (the one now in the file unless kept or skipped).
    pub new: Value,
}

/// What the merged file leaves that the administrator should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// A `unix://` address of the old `hosts` that the new list leaves out: local tools (and
    /// docker without `DOCKER_HOST`) use it, and losing it is rarely intended.
    DroppedSocket(String),
    /// dockerd's command line sets an option that daemon.json now sets too: dockerd refuses to
    /// start ("the following directives are specified both as a flag and in the
    /// configuration file").
    CommandLine {
        /// The command line (from a unit file).
        command: String,
        /// The option's long name, e.g. `host` (for `-H`) or `tlsverify`.
        option: &'static str,
        /// The key of daemon.json, e.g. `hosts`.
        key: &'static str,
    },
}

/// The keys dockpki may set, with the dockerd option that sets the same thing, `hosts` first.
const KEY_OPTIONS: &[(&str, &str)] = &[
    ("hosts", "host"),
    ("tls", "tls"),
    ("tlsverify", "tlsverify"),
    ("tlscacert", "tlscacert"),
    ("tlscert", "tlscert"),
    ("tlskey", "tlskey"),
    ("icc", "icc"),
    ("userns-remap", "userns-remap"),
    ("no-new-privileges", "no-new-privileges"),
    ("live-restore", "live-restore"),
    ("log-driver", "log-driver"),
    ("log-opts", "log-opt"),
];

/// The merge of one text, before anything is written.
#[derive(Debug, Clone)]
pub struct Merge {
    /// The new file's text: the old file with only the keys dockpki sets changed or added
    /// (everything else byte for byte, new keys in the file's own indentation), or, for a new
    /// file, two spaces per level.
    pub new_text: String,
    /// What happened to each key dockpki set, kept or skipped, in the order of the settings.
    pub changes: Vec<Change>,
    /// Sockets dropped from `hosts`, then options of the command line that daemon.json now
    /// also sets.
    pub conflicts: Vec<Conflict>,
}

impl Merge {
    /// The new file as a JSON value.
    pub fn config(&self) -> Value {
        serde_json::from_str(&self.new_text).unwrap_or(Value::Null)
    }
}

/// Merges `request` into `old_text`, the current contents of `request.file` (`None` or blank:
/// no file, an empty object). Reads and writes nothing.
///
/// # Errors
/// When the old text is not valid JSON, not an object, or gives a key twice in one object
/// (dockerd, like serde_json, would silently use only the last one, and the merged file would
/// drop the other without a word).
///
/// # Examples
/// ```
/// use dockpki_provision::docker::daemon_json::{merge, Action, Daemon, Hardening, Listen, Request};
/// use dockpki_provision::layout::Layout;
/// let request = Request {
///     file: "/etc/docker/daemon.json".into(),
///     tls: Layout::daemon("/etc/docker/pki".into()),
///     hosts: vec![Listen::parse("tcp://0.0.0.0:2376")?],
///     hardening: Hardening::Off,
///     daemon: Daemon::System,
///     command_line: None,
/// };
/// let merged = merge(&request, Some("{\n    \"debug\": true,\n    \"max-concurrent-uploads\": 1e1\n}\n"))?;
/// // The file's own keys as they were, dockpki's appended in its indentation.
/// assert!(merged.new_text.starts_with("{\n    \"debug\": true,\n    \"max-concurrent-uploads\": 1e1,\n    \"tlsverify\": true,\n"));
/// assert_eq!(merged.changes[0].key, "tlsverify");
/// assert_eq!(merged.changes[0].action, Action::Added);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn merge(request: &Request, old_text: Option<&str>) -> Result<Merge> {
    let OldFile { mut doc, numbers } = parse_existing(&request.file, old_text)?;
    let old_doc = doc.clone();
    let mut conflicts: Vec<Conflict> = dropped_unix_sockets(&doc, &request.hosts)
        .into_iter()
        .map(Conflict::DroppedSocket)
        .collect();
    let changes = merge_document(&mut doc, request);
    if let Some(command) = &request.command_line {
        let options = super::systemd::option_names(command);
        for &(key, option) in KEY_OPTIONS {
            if doc.contains_key(key) && options.iter().any(|o| o == option) {
                conflicts.push(Conflict::CommandLine {
                    command: command.clone(),
                    option,
                    key,
                });
            }
        }
    }
    // The administrator's file is edited key by key, so that its layout stays theirs; a file
    // that is new (or blank) is laid out two spaces per level.
    let new_text = old_text
        .filter(|t| !t.trim().is_empty())
        .and_then(|t| edit_in_place(t, &old_doc, &doc, &numbers))
        .unwrap_or_else(|| to_pretty(&Value::Object(doc), &numbers, "  "));
    Ok(Merge {
        new_text,
        changes,
        conflicts,
    })
}

/// A merge read from the file and ready to write ([`prepare`]).
#[derive(Debug)]
pub struct Prepared {
    /// The file.
    pub file: PathBuf,
    /// Whether [`Prepared::write`] writes.
    pub mode: Mode,
    /// The file's text before the merge (`None`: no file).
    pub old_text: Option<String>,
    /// The merge.
    pub merge: Merge,
    journal: PathBuf,
}

impl Prepared {
    /// Whether the merged text differs from the file's.
    pub fn changed(&self) -> bool {
        self.old_text.as_deref() != Some(self.merge.new_text.as_str())
    }

    /// A line diff of the file and the merged text ([`line_diff`]), the new side named
    /// `FILE (new)`.
    pub fn diff(&self) -> String {
        line_diff(
            &self.file.display().to_string(),
            &format!("{} (new)", self.file.display()),
            self.old_text.as_deref().unwrap_or(""),
            &self.merge.new_text,
        )
    }

    /// Writes the merged file through a journal next to it, with mode 0644, keeping the
    /// previous file as `NAME.bak-<timestamp>`; writes nothing in [`Mode::DryRun`] or when
    /// nothing changed. Returns what was written.
    ///
    /// # Errors
    /// When the file cannot be written (an untrusted directory, a full disk); the old file is
    /// then unchanged.
    pub fn write(&self, report: &dyn Report) -> Result<Vec<Written>> {
        if self.mode == Mode::DryRun || !self.changed() {
            return Ok(Vec::new());
        }
        let mut plan = WritePlan::new(Existing::Refuse);
        plan.config(self.file.clone(), self.merge.new_text.clone().into_bytes());
        plan.commit(&self.journal, report)
    }
}

/// Reads `request.file` and merges `request` into it, without writing: checks
/// [`Request::check`], completes an interrupted earlier update of the file from its journal
/// (in [`Mode::Write`] only), reads the file (bounded, refusing a symlink or anything but a
/// regular file) and merges ([`merge`]). [`Prepared::write`] then writes it; in between the
/// caller can show what will change.
///
/// # Errors
/// [`Refusal`]s of [`Request::check`]; a daemon directory or file that is not a plain absolute
/// path ([`check_path`](crate::fs::write::check_path)); a file that cannot be read, is not
/// UTF-8, or that [`merge`] refuses; an interrupted update that cannot be completed.
///
/// # Examples
/// ```
/// use dockpki_provision::docker::daemon_json::{prepare, Daemon, Hardening, Listen, Mode, Request};
/// use dockpki_provision::layout::Layout;
/// # let root = tempfile::tempdir()?;
/// let file = root.path().join("daemon.json");
/// std::fs::write(&file, "{\"debug\": true}\n")?;
/// let request = Request {
///     file: file.clone(),
///     tls: Layout::daemon(root.path().join("pki")),
///     hosts: vec![Listen::parse("unix:///run/docker.sock")?],
///     hardening: Hardening::Off,
///     daemon: Daemon::System,
///     command_line: None,
/// };
/// let prepared = prepare(&request, Mode::Write, &dockpki_provision::report::Silent)?;
/// assert!(prepared.changed());
/// let written = prepared.write(&dockpki_provision::report::Silent)?;
/// assert!(written[0].backup.is_some());
/// assert!(std::fs::read_to_string(&file)?.contains("\"tlsverify\": true"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn prepare(
    request: &Request,
    mode: Mode,
    report: &dyn Report,
) -> std::result::Result<Prepared, Failure> {
    request.check()?;
    // dockerd reads the TLS paths it is given relative to its own working directory, and the
    // file's journal records its path: plain absolute paths only, whoever the caller is.
    crate::fs::write::check_path(&request.tls.dir)?;
    crate::fs::write::check_path(&request.file)?;
    let file = &request.file;
    let journal = crate::fs::journal::next_to(file)?;
    if mode == Mode::Write {
        // An update interrupted after its journal was written is finished before reading.
        crate::fs::journal::recover_next_to(file, report)?;
    }
    let old_text = reader::read_optional(file, Links::Refuse, Limit::Config)?
        .map(|bytes| {
            String::from_utf8(bytes.to_vec()).map_err(|_| {
                Error::new(format!(
                    "{} is not UTF-8 text, so it is not JSON dockerd could read; fix or move it",
                    file.display()
                ))
            })
        })
        .transpose()?;
    let merge = merge(request, old_text.as_deref())?;
    Ok(Prepared {
        file: file.clone(),
        mode,
        old_text,
        merge,
        journal,
    })
}

/// The hardened settings and why each is there (see docs/daemon.md).
fn harden_settings(daemon: Daemon) -> Vec<(&'static str, Value)> {
    let mut v = vec![
        // Containers on the default bridge cannot talk to each other unless linked.
        ("icc", json!(false)),
        // Root in a container is an unprivileged user on the host.
        ("userns-remap", json!("default")),
        // setuid binaries in containers cannot gain privileges.
        ("no-new-privileges", json!(true)),
        // Containers keep running while dockerd restarts (certificates need a restart).
        ("live-restore", json!(true)),
        // Logs rotate instead of filling the disk.
        ("log-driver", json!("local")),
    ];
    if daemon == Daemon::Rootless {
        // A rootless daemon already runs in a user namespace; it refuses userns-remap.
        v.retain(|(k, _)| *k != "userns-remap");
    }
    v
}

/// The rotation options for the `local` log driver.
fn log_opts() -> Vec<(&'static str, Value)> {
    vec![("max-size", json!("10m")), ("max-file", json!("3"))]
}

/// Whether [`set`] replaces a different value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ownership {
    /// dockpki's key (TLS, hosts): a different value is replaced.
    Owned,
    /// A default (hardening): a value the administrator set is kept.
    Default,
}

/// Merges `request` into `doc` in place, returning what changed.
fn merge_document(doc: &mut Map<String, Value>, request: &Request) -> Vec<Change> {
    let mut changes = Vec::new();
    let p = |path: PathBuf| Value::String(path.display().to_string());
    let mut owned: Vec<(&str, Value)> = Vec::new();
    // `tls: false` next to `tlsverify: true` is contradictory; dockpki owns it only when present.
    if doc.contains_key("tls") {
        owned.push(("tls", json!(true)));
    }
    owned.extend([
        ("tlsverify", json!(true)),
        ("tlscacert", p(request.tls.ca_path())),
        ("tlscert", p(request.tls.cert_path())),
        ("tlskey", p(request.tls.key_path())),
        (
            "hosts",
            Value::Array(
                request
                    .hosts
                    .iter()
                    .map(|h| Value::String(h.as_str().to_string()))
                    .collect(),
            ),
        ),
    ]);
    for (key, value) in owned {
        set(doc, key, value, Ownership::Owned, &mut changes);
    }
    if request.hardening == Hardening::On {
        for (key, value) in harden_settings(request.daemon) {
            // dockerd implements icc=false with iptables and refuses to start with both off
            // ("ICC=false uses iptables to function").
            if key == "icc" && doc.get("iptables") == Some(&json!(false)) && doc.get(key).is_none()
            {
                changes.push(Change {
                    key: key.to_string(),
                    action: Action::Skipped,
                    old: None,
                    new: value,
                });
                continue;
            }
            set(doc, key, value, Ownership::Default, &mut changes);
        }
        // Rotation options belong to the local driver (json-file takes the same ones); for any
        // other driver the administrator chose they could stop dockerd from starting.
        let driver = doc.get("log-driver").and_then(Value::as_str);
        if matches!(driver, Some("local") | Some("json-file")) {
            match doc.get_mut("log-opts") {
                Some(Value::Object(opts)) => {
                    let mut sub = Vec::new();
                    for (key, value) in log_opts() {
                        set(opts, key, value, Ownership::Default, &mut sub);
                    }
                    changes.extend(sub.into_iter().map(|c| Change {
                        key: format!("log-opts.{}", c.key),
                        ..c
                    }));
                }
                Some(other) => changes.push(Change {
                    key: "log-opts".into(),
                    action: Action::Kept,
                    old: Some(other.clone()),
                    new: Value::Object(
                        log_opts().into_iter().map(|(k, v)| (k.into(), v)).collect(),
                    ),
                }),
                None => set(
                    doc,
                    "log-opts",
                    Value::Object(log_opts().into_iter().map(|(k, v)| (k.into(), v)).collect()),
                    Ownership::Default,
                    &mut changes,
                ),
            }
        }
    }
    changes
}

/// Sets `key` to `value`; an existing different value is replaced when [`Ownership::Owned`],
/// else kept.
fn set(
    doc: &mut Map<String, Value>,
    key: &str,
    value: Value,
    ownership: Ownership,
    changes: &mut Vec<Change>,
) {
    match doc.get(key) {
        Some(old) if *old == value => {}
        Some(old) => {
            let old = old.clone();
            let action = match ownership {
                Ownership::Owned => {
                    doc.insert(key.to_string(), value.clone());
                    Action::Replaced
                }
                Ownership::Default => Action::Kept,
            };
            changes.push(Change {
                key: key.to_string(),
                action,
                old: Some(old),
                new: value,
            });
        }
        None => {
            doc.insert(key.to_string(), value.clone());
            changes.push(Change {
                key: key.to_string(),
                action: Action::Added,
                old: None,
                new: value,
            });
        }
    }
}

/// The `unix://` addresses of the existing `hosts` that the new list leaves out.
fn dropped_unix_sockets(doc: &Map<String, Value>, hosts: &[Listen]) -> Vec<String> {
    let Some(Value::Array(old)) = doc.get("hosts") else {
        return Vec::new();
    };
    old.iter()
        .filter_map(Value::as_str)
        .filter(|h| h.starts_with("unix://") && !hosts.iter().any(|n| n.as_str() == *h))
        .map(str::to_string)
        .collect()
}

/// The existing file: its document, and the text of each of its numbers.
struct OldFile {
    doc: Map<String, Value>,
    /// Every number of the file as written, by its JSON pointer.
    numbers: HashMap<String, String>,
}

/// Parses the existing file; `None` text (no file) is an empty object. A key given twice in one
/// object is refused: serde_json (like dockerd's Go decoder) would silently keep the last one,
/// and the merged file would drop the other without a word.
fn parse_existing(path: &Path, text: Option<&str>) -> Result<OldFile> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(OldFile {
            doc: Map::new(),
            numbers: HashMap::new(),
        });
    };
    let parsed = serde_json::from_str::<Value>(text);
    // Scanned only once the text is known to be valid JSON, which the scanner relies on.
    let scanned = parsed.as_ref().ok().map(|_| scan(text));
    if let Some(Scan {
        duplicate: Some(d), ..
    }) = &scanned
    {
        return Err(Error::new(format!(
            "{} has the key {} twice, on lines {} and {}; dockerd would silently use only the last one: remove one of them, then rerun",
            path.display(),
            d.key,
            d.first_line,
            d.line
        )));
    }
    let numbers = scanned.map(|s| s.numbers).unwrap_or_default();
    match parsed {
        Ok(Value::Object(doc)) => Ok(OldFile { doc, numbers }),
        Ok(_) => Err(Error::new(format!(
            "{} is valid JSON but not an object ({{...}}), which dockerd requires; fix it or move it aside, then rerun",
            path.display()
        ))),
        Err(e) => Err(Error::new(format!(
            "{} is not valid JSON at line {}, column {} ({}); dockerd rejects it too (no comments allowed): fix it or move it aside, then rerun",
            path.display(),
            e.line(),
            e.column(),
            error_reason(&e)
        ))),
    }
}

/// What [`scan`] found in a JSON text.
#[derive(Debug, Default, PartialEq, Eq)]
struct Scan {
    /// The first key that appears twice in one object.
    duplicate: Option<DuplicateKey>,
    /// Every number as written, by JSON pointer (`/log-opts/max-file`, `/a/0`).
    numbers: HashMap<String, String>,
}

/// A key given twice in one object.
#[derive(Debug, PartialEq, Eq)]
struct DuplicateKey {
    /// The key with the keys and indices leading to it, e.g. `"log-opts"."max-size"`.
    key: String,
    /// The line of its first appearance.
    first_line: usize,
    /// The line of the repeat.
    line: usize,
}

/// One step of a path into a JSON document.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

/// A pointer (RFC 6901) from the steps to a value.
fn pointer(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|s| match s {
            Step::Key(k) => format!("/{}", k.replace('~', "~0").replace('/', "~1")),
            Step::Index(i) => format!("/{i}"),
        })
        .collect()
}

/// The steps to a key, for a message: `"log-opts"."max-size"`, `"a"[0]."b"`.
fn describe_key(steps: &[Step]) -> String {
    let mut out = String::new();
    for s in steps {
        match s {
            Step::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&format!("{k:?}"));
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Walks a text that serde_json has accepted as JSON, finding repeated keys and the text of
/// every number, which a parsed `Value` no longer has (it keeps `1e2` as `100.0`).
fn scan(text: &str) -> Scan {
    struct Frame {
        /// The path to this object or array.
        path: Vec<Step>,
        /// For an object: its keys with their lines, and whether a key comes next.
        keys: Option<(HashMap<String, usize>, bool)>,
        /// For an object the last key read, for an array the index of the current element.
        current: Step,
    }
    let mut result = Scan::default();
    let mut stack: Vec<Frame> = Vec::new();
    let bytes = text.as_bytes();
    let mut line = 1;
    let mut i = 0;
    // The path of a value starting here: its parent's path and its key or index.
    let value_path = |stack: &[Frame]| -> Vec<Step> {
        stack
            .last()
            .map(|f| {
                let mut p = f.path.clone();
                p.push(f.current.clone());
                p
            })
            .unwrap_or_default()
    };
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => line += 1,
            b'{' | b'[' => {
                let path = value_path(&stack);
                let object = bytes[i] == b'{';
                stack.push(Frame {
                    path,
                    keys: object.then(|| (HashMap::new(), true)),
                    current: if object {
                        Step::Key(String::new())
                    } else {
                        Step::Index(0)
                    },
                });
            }
            b'}' | b']' => {
                stack.pop();
            }
            b',' => {
                if let Some(f) = stack.last_mut() {
                    match (&mut f.keys, &mut f.current) {
                        (Some((_, expect_key)), _) => *expect_key = true,
                        (None, Step::Index(n)) => *n += 1,
                        _ => {}
                    }
                }
            }
            b'"' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if let Some(f) = stack.last_mut() {
                    if let Some((keys, expect_key @ true)) = &mut f.keys {
                        *expect_key = false;
                        let raw = &text[start..=i.min(text.len() - 1)];
                        let key: String =
                            serde_json::from_str(raw).unwrap_or_else(|_| raw.to_string());
                        if let Some(&first_line) = keys.get(&key) {
                            if result.duplicate.is_none() {
                                let mut steps = f.path.clone();
                                steps.push(Step::Key(key.clone()));
                                result.duplicate = Some(DuplicateKey {
                                    key: describe_key(&steps),
                                    first_line,
                                    line,
                                });
                            }
                        } else {
                            keys.insert(key.clone(), line);
                        }
                        f.current = Step::Key(key);
                    }
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i + 1 < bytes.len()
                    && matches!(bytes[i + 1], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    i += 1;
                }
                result
                    .numbers
                    .insert(pointer(&value_path(&stack)), text[start..=i].to_string());
            }
            _ => {}
        }
        i += 1;
    }
    result
}

/// `doc` as serde_json's pretty printer writes it (two-space indent), except that a number the
/// old file had at the same place is written as it was there: `1e2` stays `1e2`, and a 23-digit
/// integer keeps its digits. The administrator's values are kept, and so is how they are written.
fn to_pretty(doc: &Value, numbers: &HashMap<String, String>, unit: &str) -> String {
    let mut out = String::new();
    write_pretty(&mut out, doc, &mut Vec::new(), 0, numbers, unit);
    out.push('\n');
    out
}

/// Writes `v` (found at `path` of the document) at nesting `depth`, `unit` per level; see
/// [`to_pretty`].
fn write_pretty(
    out: &mut String,
    v: &Value,
    path: &mut Vec<Step>,
    depth: usize,
    numbers: &HashMap<String, String>,
    unit: &str,
) {
    {
        let write = |out: &mut String,
                     v: &Value,
                     path: &mut Vec<Step>,
                     depth: usize,
                     numbers: &HashMap<String, String>| {
            write_pretty(out, v, path, depth, numbers, unit)
        };
        let indent = |out: &mut String, depth: usize| out.push_str(&unit.repeat(depth));
        match v {
            Value::Object(map) if !map.is_empty() => {
                out.push_str("{\n");
                for (n, (k, v)) in map.iter().enumerate() {
                    indent(out, depth + 1);
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push_str(": ");
                    path.push(Step::Key(k.clone()));
                    write(out, v, path, depth + 1, numbers);
                    path.pop();
                    out.push_str(if n + 1 < map.len() { ",\n" } else { "\n" });
                }
                indent(out, depth);
                out.push('}');
            }
            Value::Array(items) if !items.is_empty() => {
                out.push_str("[\n");
                for (n, v) in items.iter().enumerate() {
                    indent(out, depth + 1);
                    path.push(Step::Index(n));
                    write(out, v, path, depth + 1, numbers);
                    path.pop();
                    out.push_str(if n + 1 < items.len() { ",\n" } else { "\n" });
                }
                indent(out, depth);
                out.push(']');
            }
            Value::Number(n) => {
                // The old text only if it still denotes this number (a replaced value may
                // have moved to the same place).
                let old = numbers
                    .get(&pointer(path))
                    .filter(|t| serde_json::from_str::<Value>(t).ok().as_ref() == Some(v));
                match old {
                    Some(text) => out.push_str(text),
                    None => out.push_str(&n.to_string()),
                }
            }
            other => out.push_str(&other.to_string()),
        }
    }
}

/// The old text with the top-level keys whose values differ between `old` and `new` edited in
/// place: a changed value's text replaced, a new key appended after the last one, in the
/// file's own style (its indentation unit on a multi-line file, `, "key": value` on a one-line
/// one). Every other byte (spacing, key order, how arrays are broken, the final newline) is the
/// administrator's and stays. `None` when the text's shape is not understood (an empty object,
/// keys removed), or the edit would not parse back to `new`: the caller then lays out the
/// whole file.
fn edit_in_place(
    text: &str,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    numbers: &HashMap<String, String>,
) -> Option<String> {
    if old.keys().any(|k| !new.contains_key(k)) {
        return None;
    }
    let top = top_level(text)?;
    let last_end = top.members.last()?.1.end;
    let multiline = text[top.open + 1..top.members.first()?.1.start].contains('\n');
    // The indentation of the first key: what precedes it on its line.
    let first_key = text[..top.members.first()?.1.start]
        .rfind('"')
        .unwrap_or(top.open);
    let key_start = text[..first_key].rfind('"').unwrap_or(first_key);
    let line_start = text[..key_start].rfind('\n').map_or(0, |i| i + 1);
    let unit = &text[line_start..key_start];
    if multiline && (unit.is_empty() || !unit.chars().all(|c| c == ' ' || c == '\t')) {
        return None;
    }
    let render = |key: &str, value: &Value| -> String {
        let mut path = vec![Step::Key(key.to_string())];
        if multiline {
            let mut out = String::new();
            write_pretty(&mut out, value, &mut path, 1, numbers, unit);
            out
        } else {
            inline(value)
        }
    };
    // Edits as (range, replacement), applied from the end so that earlier ranges stay valid.
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    for (key, range) in &top.members {
        let (Some(a), Some(b)) = (old.get(key), new.get(key)) else {
            return None;
        };
        if a != b {
            edits.push((range.clone(), render(key, b)));
        }
    }
    let mut appended = String::new();
    for (key, value) in new.iter().filter(|(k, _)| !old.contains_key(*k)) {
        let name = Value::String(key.clone()).to_string();
        if multiline {
            appended.push_str(&format!(",\n{unit}{name}: {}", render(key, value)));
        } else {
            appended.push_str(&format!(", {name}: {}", render(key, value)));
        }
    }
    if !appended.is_empty() {
        edits.push((last_end..last_end, appended));
    }
    edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut out = text.to_string();
    for (range, replacement) in edits {
        out.replace_range(range, &replacement);
    }
    // A check of this function, not of the file: the edit must mean exactly the merge.
    let reparsed: Value = serde_json::from_str(&out).ok()?;
    let same_order = reparsed
        .as_object()
        .is_some_and(|m| m.keys().eq(new.keys()) && m.iter().all(|(k, v)| new.get(k) == Some(v)));
    same_order.then_some(out)
}

/// `value` on one line the way people write JSON by hand (and serde_json does not): `", "`
/// between items and `": "` after keys.
fn inline(value: &Value) -> String {
    match value {
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(inline).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// The top-level object of a JSON text: where its `{` is, and each member's key with the byte
/// range of its value's text.
struct TopLevel {
    open: usize,
    members: Vec<(String, std::ops::Range<usize>)>,
}

/// Finds the members of the top-level object of `text`, which serde_json has accepted as JSON
/// (so strings are closed and brackets balanced).
fn top_level(text: &str) -> Option<TopLevel> {
    let bytes = text.as_bytes();
    let skip_ws = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    // The index just past the string starting at `i` (its opening quote).
    let skip_string = |mut i: usize| {
        i += 1;
        while i < bytes.len() && bytes[i] != b'"' {
            if bytes[i] == b'\\' {
                i += 1;
            }
            i += 1;
        }
        i + 1
    };
    let open = skip_ws(0);
    if bytes.get(open) != Some(&b'{') {
        return None;
    }
    let mut members = Vec::new();
    let mut i = skip_ws(open + 1);
    while bytes.get(i) == Some(&b'"') {
        let key_end = skip_string(i);
        let key: String = serde_json::from_str(text.get(i..key_end)?).ok()?;
        i = skip_ws(key_end);
        if bytes.get(i) != Some(&b':') {
            return None;
        }
        let start = skip_ws(i + 1);
        let mut end = start;
        let mut depth = 0usize;
        while end < bytes.len() {
            match bytes[end] {
                b'"' => {
                    end = skip_string(end);
                    if depth == 0 {
                        break;
                    }
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' if depth == 0 => break,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        end += 1;
                        break;
                    }
                }
                b',' if depth == 0 => break,
                c if depth == 0 && c.is_ascii_whitespace() => break,
                _ => {}
            }
            end += 1;
        }
        members.push((key, start..end));
        i = skip_ws(end);
        match bytes.get(i) {
            Some(b',') => i = skip_ws(i + 1),
            Some(b'}') => break,
            _ => return None,
        }
    }
    Some(TopLevel { open, members })
}

/// serde_json's message without its own " at line L column C" suffix (given separately).
fn error_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// A line diff of `old` and `new` (longest common subsequence), unified-style without hunks:
/// `--- OLD_NAME`, `+++ NEW_NAME`, then the whole file with `-`, `+` and ` ` prefixes.
/// daemon.json files are small.
pub fn line_diff(old_name: &str, new_name: &str, old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = format!("--- {old_name}\n+++ {new_name}\n");
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!(" {}\n", a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            // Removals before additions, as diff(1) prints a changed line.
            out.push_str(&format!("-{}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!("+{}\n", b[j]));
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(hosts: &[&str]) -> Request {
        Request {
            file: "/etc/docker/daemon.json".into(),
            tls: Layout::daemon("/etc/docker/pki".into()),
            hosts: hosts.iter().map(|h| Listen::parse(h).unwrap()).collect(),
            hardening: Hardening::Off,
            daemon: Daemon::System,
            command_line: None,
        }
    }

    fn keys(text: &str) -> Vec<String> {
        let v: Value = serde_json::from_str(text).unwrap();
        v.as_object().unwrap().keys().cloned().collect()
    }

    #[test]
    fn listen_addresses_are_checked() {
        for ok in [
            "tcp://0.0.0.0:2376",
            "tcp://[::]:2376",
            "unix:///x.sock",
            "fd://",
            "fd://3",
        ] {
            assert!(Listen::parse(ok).is_ok(), "{ok}");
        }
        for (bad, phrase) in [
            ("tcp://0.0.0.0:2375", "root"),
            ("tcp://0.0.0.0", "port"),
            ("tcp://:2376", "port"),
            ("tcp://[::]", "port"),
            ("http://0.0.0.0:2376", "scheme"),
            ("ssh://h", "scheme"),
            ("0.0.0.0:2376", "no scheme"),
            ("unix://", "scheme"),
        ] {
            let e = Listen::parse(bad).expect_err(bad).to_string();
            assert!(e.contains(phrase), "{bad}: {e}");
        }
    }

    #[test]
    fn the_administrators_keys_keep_their_order_and_dockpkis_follow() {
        let old = r#"{"zeta": 1, "debug": true, "tlscert": "/old.pem", "alpha": {"b": 1, "a": 2}}"#;
        let m = merge(&request(&["tcp://0.0.0.0:2376"]), Some(old)).unwrap();
        assert_eq!(
            keys(&m.new_text),
            [
                "zeta",
                "debug",
                "tlscert",
                "alpha",
                "tlsverify",
                "tlscacert",
                "tlskey",
                "hosts"
            ]
        );
        // Nested objects keep their order too, and a one-line file stays one line.
        assert!(
            m.new_text.starts_with(
                r#"{"zeta": 1, "debug": true, "tlscert": "/etc/docker/pki/server-cert.pem", "alpha": {"b": 1, "a": 2}, "tlsverify": true,"#
            ),
            "{}",
            m.new_text
        );
        assert_eq!(m.new_text.lines().count(), 1, "{}", m.new_text);
        let actions: Vec<(&str, Action)> = m
            .changes
            .iter()
            .map(|c| (c.key.as_str(), c.action))
            .collect();
        assert_eq!(
            actions,
            [
                ("tlsverify", Action::Added),
                ("tlscacert", Action::Added),
                ("tlscert", Action::Replaced),
                ("tlskey", Action::Added),
                ("hosts", Action::Added)
            ]
        );
        assert_eq!(m.changes[2].old, Some(json!("/old.pem")));
    }

    #[test]
    fn a_merge_of_its_own_output_changes_nothing() {
        let r = request(&["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"]);
        let first = merge(&r, Some(r#"{"debug": 1e2}"#)).unwrap();
        let second = merge(&r, Some(&first.new_text)).unwrap();
        assert_eq!(second.new_text, first.new_text);
        assert!(second.changes.is_empty(), "{:?}", second.changes);
        assert!(second.conflicts.is_empty(), "{:?}", second.conflicts);
    }

    #[test]
    fn numbers_survive_a_merge_exactly_as_written() {
        let old = r#"{"big": 12345678901234567890123, "exp": 1e2, "neg": -0.0, "frac": 1.50, "log-opts": {"max-buffer-size": 4E6}}"#;
        let m = merge(&request(&["fd://"]), Some(old)).unwrap();
        for kept in [
            "\"big\": 12345678901234567890123,",
            "\"exp\": 1e2,",
            "\"neg\": -0.0,",
            "\"frac\": 1.50,",
            "\"max-buffer-size\": 4E6",
        ] {
            assert!(m.new_text.contains(kept), "{kept}: {}", m.new_text);
        }
    }

    #[test]
    fn a_duplicate_key_at_any_depth_is_refused_naming_both_lines() {
        for (text, key, lines) in [
            (
                "{\n\"debug\": true,\n\"debug\": false\n}",
                "\"debug\"",
                "lines 2 and 3",
            ),
            (
                "{\"log-opts\": {\n\"max-size\": \"1m\",\n\"max-size\": \"2m\"}}",
                "\"log-opts\".\"max-size\"",
                "lines 2 and 3",
            ),
        ] {
            let e = merge(&request(&["fd://"]), Some(text))
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!(
                    "/etc/docker/daemon.json has the key {key} twice, on {lines}"
                )),
                "{e}"
            );
        }
    }

    #[test]
    fn invalid_json_and_non_objects_are_refused_with_where_and_why() {
        let e = merge(&request(&["fd://"]), Some("{\n  // comment\n}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not valid JSON at line 2, column"), "{e}");
        let e = merge(&request(&["fd://"]), Some("[1]"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("valid JSON but not an object"), "{e}");
        // No file, or a blank one: an empty object.
        for empty in [None, Some(""), Some(" \n")] {
            assert!(merge(&request(&["fd://"]), empty).is_ok());
        }
    }

    #[test]
    fn hardening_keeps_the_administrators_values_as_kept_changes() {
        let mut r = request(&["fd://"]);
        r.hardening = Hardening::On;
        let m = merge(
            &r,
            Some(r#"{"icc": true, "log-driver": "json-file", "log-opts": {"max-size": "1g"}}"#),
        )
        .unwrap();
        let config = m.config();
        assert_eq!(config["icc"], json!(true));
        assert_eq!(
            config["log-opts"],
            json!({"max-size": "1g", "max-file": "3"})
        );
        let kept: Vec<&str> = m
            .changes
            .iter()
            .filter(|c| c.action == Action::Kept)
            .map(|c| c.key.as_str())
            .collect();
        assert_eq!(kept, ["icc", "log-driver", "log-opts.max-size"]);
    }

    #[test]
    fn icc_is_skipped_where_iptables_is_off_and_userns_remap_for_a_rootless_daemon() {
        let mut r = request(&["fd://"]);
        r.hardening = Hardening::On;
        r.daemon = Daemon::Rootless;
        let m = merge(&r, Some(r#"{"iptables": false}"#)).unwrap();
        let config = m.config();
        assert!(config.get("icc").is_none() && config.get("userns-remap").is_none());
        assert!(m
            .changes
            .iter()
            .any(|c| c.key == "icc" && c.action == Action::Skipped && c.old.is_none()));
        assert_eq!(
            config["log-opts"],
            json!({"max-size": "10m", "max-file": "3"})
        );
    }

    #[test]
    fn dropped_sockets_and_options_on_the_command_line_are_typed_conflicts() {
        let mut r = request(&["tcp://0.0.0.0:2376"]);
        r.command_line =
            Some("/usr/sbin/dockerd -H fd:// --tlsverify --containerd=/x $DOCKER_OPTS".into());
        let m = merge(
            &r,
            Some(
                r#"{"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376", "unix:///b"]}"#,
            ),
        )
        .unwrap();
        let command = r.command_line.clone().unwrap();
        assert_eq!(
            m.conflicts,
            [
                Conflict::DroppedSocket("unix:///var/run/docker.sock".into()),
                Conflict::DroppedSocket("unix:///b".into()),
                Conflict::CommandLine {
                    command: command.clone(),
                    option: "host",
                    key: "hosts"
                },
                Conflict::CommandLine {
                    command,
                    option: "tlsverify",
                    key: "tlsverify"
                },
            ]
        );
        // `tls` is only dockpki's when the file has it: `--tls` alone is no conflict then.
        r.command_line = Some("dockerd --tls".into());
        assert!(merge(&r, None).unwrap().conflicts.is_empty());
        assert_eq!(
            merge(&r, Some(r#"{"tls": false}"#))
                .unwrap()
                .conflicts
                .len(),
            1
        );
    }

    #[test]
    fn the_scan_finds_a_repeated_key_at_any_depth_with_both_lines() {
        let dup = |text: &str| scan(text).duplicate;
        assert_eq!(
            dup(r#"{"a": 1, "b": {"a": 2}, "c": [{"a": 1}, {"a": 2}]}"#),
            None
        );
        assert_eq!(
            dup("{\n\"a\": 1,\n\"a\": 2}"),
            Some(DuplicateKey {
                key: "\"a\"".into(),
                first_line: 2,
                line: 3
            })
        );
        assert_eq!(
            dup("{\"x\": [0, {\"k\": 1,\n \"k\": 2}]}").map(|d| (d.key, d.line)),
            Some(("\"x\"[1].\"k\"".into(), 2))
        );
        // The same key spelled with an escape is the same key.
        assert!(dup(r#"{"ab": 1, "a\u0062": 2}"#).is_some());
        // Keys that look like structure inside strings do not confuse it.
        assert_eq!(dup(r#"{"a,\"b": "{\"a\": 1}", "b": "}"}"#), None);
    }

    #[test]
    fn numbers_are_written_back_as_they_were_and_the_rest_as_serde_json_pretty() {
        let text = r#"{"big": 12345678901234567890123, "exp": 1e2, "neg": -0.0, "list": [1.50, 2E-3, {"x": 10}], "s": "1e2", "t": true, "n": null, "e": {}, "a": []}"#;
        let doc: Value = serde_json::from_str(text).unwrap();
        let out = to_pretty(&doc, &scan(text).numbers, "  ");
        for kept in [
            "12345678901234567890123",
            ": 1e2,",
            "-0.0",
            "1.50",
            "2E-3",
            "\"1e2\"",
        ] {
            assert!(out.contains(kept), "{kept}: {out}");
        }
        // Without old numbers, exactly what serde_json's pretty printer writes.
        let plain: Value =
            serde_json::from_str(r#"{"a": [1, {"b": "x\"y\n"}], "c": {}, "d": [], "e": 2.5}"#)
                .unwrap();
        assert_eq!(
            to_pretty(&plain, &HashMap::new(), "  "),
            serde_json::to_string_pretty(&plain).unwrap() + "\n"
        );
    }

    #[test]
    fn an_old_number_text_is_used_only_where_it_still_denotes_the_value() {
        let numbers = scan(r#"{"a": 1e2}"#).numbers;
        let doc: Value = serde_json::from_str(r#"{"a": 7}"#).unwrap();
        assert_eq!(to_pretty(&doc, &numbers, "  "), "{\n  \"a\": 7\n}\n");
    }

    #[test]
    fn line_diff_marks_only_changed_lines() {
        let d = line_diff(
            "a",
            "b",
            "{\n  \"x\": 1\n}\n",
            "{\n  \"x\": 1,\n  \"y\": 2\n}\n",
        );
        assert_eq!(
            d,
            "--- a\n+++ b\n {\n-  \"x\": 1\n+  \"x\": 1,\n+  \"y\": 2\n }\n"
        );
        assert_eq!(line_diff("a", "b", "", "{}\n"), "--- a\n+++ b\n+{}\n");
    }

    #[test]
    fn tcp_without_the_tls_files_is_refused_before_the_file_is_read() {
        let root = tempfile::tempdir().unwrap();
        let mut r = request(&["tcp://0.0.0.0:2376"]);
        r.file = root.path().join("daemon.json");
        r.tls = Layout::daemon(root.path().join("pki"));
        let e = prepare(&r, Mode::Write, &crate::report::Silent).unwrap_err();
        assert!(
            matches!(
                &e,
                Failure::Refused(Refusal::MissingTlsFile { path, .. }) if *path == root.path().join("pki/ca.pem")
            ),
            "{e:?}"
        );
        // A unix socket alone needs no TLS files.
        r.hosts = vec![Listen::parse("unix:///x.sock").unwrap()];
        assert!(prepare(&r, Mode::DryRun, &crate::report::Silent).is_ok());
    }

    /// dockerd reads the TLS paths of daemon.json relative to its own working directory: a
    /// relative daemon directory (or one with `..`) would name other files there than the ones
    /// installed, so it is refused before anything is read, even in a dry run.
    #[test]
    fn a_relative_or_dotdot_daemon_directory_is_refused_before_the_file_is_read() {
        let root = tempfile::tempdir().unwrap();
        let mut r = request(&["unix:///x.sock"]);
        r.file = root.path().join("daemon.json");
        for (dir, why) in [
            (PathBuf::from("pki"), "is not absolute"),
            (root.path().join("x/../pki"), "contains '..'"),
        ] {
            r.tls = Layout::daemon(dir.clone());
            let e = prepare(&r, Mode::DryRun, &crate::report::Silent).unwrap_err();
            assert!(e.to_string().contains(why), "{}: {e}", dir.display());
        }
    }

    #[test]
    fn a_dry_run_and_an_unchanged_file_write_nothing() {
        let root = tempfile::tempdir().unwrap();
        let mut r = request(&["fd://"]);
        r.file = root.path().join("daemon.json");
        let dry = prepare(&r, Mode::DryRun, &crate::report::Silent).unwrap();
        assert!(dry.changed() && dry.old_text.is_none());
        assert!(dry.write(&crate::report::Silent).unwrap().is_empty());
        assert!(!r.file.exists());
        assert!(dry
            .diff()
            .starts_with(&format!("--- {0}\n+++ {0} (new)\n+{{\n", r.file.display())));
        let written = prepare(&r, Mode::Write, &crate::report::Silent)
            .unwrap()
            .write(&crate::report::Silent)
            .unwrap();
        assert_eq!(written.len(), 1);
        let again = prepare(&r, Mode::Write, &crate::report::Silent).unwrap();
        assert!(!again.changed());
        assert!(again.write(&crate::report::Silent).unwrap().is_empty());
    }

    /// The administrator's layout is kept: only the keys dockpki sets are edited, in the file's
    /// own indentation; everything else is byte for byte what it was.
    #[test]
    fn the_files_own_indentation_and_layout_are_kept_around_the_edited_keys() {
        let old = "{\n    \"debug\": true,\n    \"labels\": [\"a=b\", \"c=d\"],\n    \"tlscert\": \"/old.pem\",\n    \"n\": 1e2\n}\n";
        let m = merge(&request(&["tcp://0.0.0.0:2376"]), Some(old)).unwrap();
        assert_eq!(
            m.new_text,
            "{\n    \"debug\": true,\n    \"labels\": [\"a=b\", \"c=d\"],\n    \"tlscert\": \"/etc/docker/pki/server-cert.pem\",\n    \"n\": 1e2,\n    \"tlsverify\": true,\n    \"tlscacert\": \"/etc/docker/pki/ca.pem\",\n    \"tlskey\": \"/etc/docker/pki/server-key.pem\",\n    \"hosts\": [\n        \"tcp://0.0.0.0:2376\"\n    ]\n}\n"
        );
        // Tabs too.
        let tabs = "{\n\t\"debug\": true\n}\n";
        let m = merge(&request(&["tcp://0.0.0.0:2376"]), Some(tabs)).unwrap();
        assert!(
            m.new_text
                .starts_with("{\n\t\"debug\": true,\n\t\"tlsverify\": true,\n"),
            "{}",
            m.new_text
        );
        assert!(
            m.new_text
                .ends_with("\t\"hosts\": [\n\t\t\"tcp://0.0.0.0:2376\"\n\t]\n}\n"),
            "{}",
            m.new_text
        );
    }

    /// A file that already holds every value is left exactly as it is, however it is laid out,
    /// so nothing is written and no backup is kept.
    #[test]
    fn a_file_already_holding_the_values_is_not_rewritten() {
        let first = merge(
            &request(&["tcp://0.0.0.0:2376"]),
            Some("{\n   \"debug\" :  true\n}"),
        )
        .unwrap();
        let again = merge(&request(&["tcp://0.0.0.0:2376"]), Some(&first.new_text)).unwrap();
        assert_eq!(again.new_text, first.new_text);
        assert!(again.changes.is_empty(), "{:?}", again.changes);
        // A compact file with every value set: byte for byte.
        let compact = r#"{"tlsverify":true,"tlscacert":"/etc/docker/pki/ca.pem","tlscert":"/etc/docker/pki/server-cert.pem","tlskey":"/etc/docker/pki/server-key.pem","hosts":["tcp://0.0.0.0:2376"]}"#;
        let m = merge(&request(&["tcp://0.0.0.0:2376"]), Some(compact)).unwrap();
        assert_eq!(m.new_text, compact);
    }

    #[test]
    fn top_level_members_are_found_with_their_value_ranges() {
        let text = r#" { "a" : [1, {"x": "]"}] , "b":"s\"}", "c": 1e2, "d": {}, "e": null }"#;
        let top = top_level(text).unwrap();
        let values: Vec<(&str, &str)> = top
            .members
            .iter()
            .map(|(k, r)| (k.as_str(), &text[r.clone()]))
            .collect();
        assert_eq!(
            values,
            [
                ("a", r#"[1, {"x": "]"}]"#),
                ("b", r#""s\"}""#),
                ("c", "1e2"),
                ("d", "{}"),
                ("e", "null")
            ]
        );
    }
}
