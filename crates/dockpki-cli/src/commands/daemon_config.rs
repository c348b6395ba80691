//! `dockpki daemon-config`: merges the TLS settings into dockerd's daemon.json.
//!
//! The file belongs to the administrator: every key dockpki does not own is kept, in its order
//! (serde_json is built with `preserve_order`), hardening values already set are kept, and the
//! previous file is kept as `NAME.bak-<timestamp>`. It is written through a [`WritePlan`] whose
//! journal lies next to the file (`.NAME.dockpki-journal`) rather than in the state directory:
//! the command needs no CA, the host that runs dockerd may hold no state at all (the CA can live
//! elsewhere), and the next `daemon-config` on the same file is exactly the command that
//! must complete an interrupted update before reading it.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::Context;
use crate::cli::DaemonConfigArgs;
use crate::error::{CliError, CliResult, EXIT_OK};
use crate::output::{note, print_json, say};
use crate::paths::{absolute, DEFAULT_DAEMON_DIR};
use dockpki_provision::fs::reader::{self, Limit, Links};
use dockpki_provision::fs::write::{parent, WritePlan};
use dockpki_provision::layout::Layout;

/// dockerd's configuration file.
const DEFAULT_FILE: &str = "/etc/docker/daemon.json";
/// Where dockerd listens unless told otherwise: every interface, Docker's TLS port.
const DEFAULT_LISTEN: &str = "tcp://0.0.0.0:2376";
/// The socket the distribution's dockerd serves locally.
const SYSTEM_SOCKET: &str = "unix:///var/run/docker.sock";
/// The unencrypted Docker port: whoever reaches it is root on the host.
const PLAIN_PORT: u16 = 2375;

/// A listen address dockerd accepts, as far as dockpki allows it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Listen {
    /// `tcp://HOST:PORT`: only with TLS.
    Tcp(String),
    /// `unix://PATH`.
    Unix(String),
    /// `fd://` (systemd socket activation).
    Fd(String),
}

impl Listen {
    fn parse(s: &str) -> CliResult<Listen> {
        let Some((scheme, rest)) = s.split_once("://") else {
            return Err(CliError::new(format!(
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
                        CliError::new(format!(
                            "listen address {s:?} needs a host and a port, e.g. tcp://0.0.0.0:2376 (IPv6: tcp://[::]:2376)"
                        ))
                    })?;
                if port == PLAIN_PORT {
                    return Err(CliError::new(format!(
                        "refusing listen address {s:?}: port 2375 is Docker's plain-TCP port, and plain TCP makes anyone who connects root on this host; use 2376 (TLS)"
                    )));
                }
                Ok(Listen::Tcp(s.to_string()))
            }
            "unix" if !rest.is_empty() => Ok(Listen::Unix(s.to_string())),
            "fd" => Ok(Listen::Fd(s.to_string())),
            _ => Err(CliError::new(format!(
                "listen address {s:?} has an unsupported scheme; give tcp://HOST:PORT (with TLS), unix://PATH or fd://"
            ))),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Listen::Tcp(s) | Listen::Unix(s) | Listen::Fd(s) => s,
        }
    }
}

/// What happened to one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
enum Action {
    /// The key was missing and was added.
    Added,
    /// The key held another value, replaced (TLS settings dockpki owns).
    Replaced,
    /// The key held another value, kept (hardening defaults never override the user).
    Kept,
    /// Not set because another setting of the file makes dockerd refuse it.
    Skipped,
}

/// One change (or kept value) of the merge.
#[derive(Debug, Clone, serde::Serialize)]
struct Change {
    key: String,
    action: Action,
    old: Option<Value>,
    new: Value,
}

/// The hardened settings and why each is there (see docs/daemon.md).
fn harden_settings(rootless: bool) -> Vec<(&'static str, Value)> {
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
    if rootless {
        // A rootless daemon already runs in a user namespace; it refuses userns-remap.
        v.retain(|(k, _)| *k != "userns-remap");
    }
    v
}

/// The rotation options for the `local` log driver.
fn log_opts() -> Vec<(&'static str, Value)> {
    vec![("max-size", json!("10m")), ("max-file", json!("3"))]
}

/// Everything the merge needs besides the old document.
struct Wanted {
    tls: Layout,
    hosts: Vec<Listen>,
    harden: bool,
    rootless: bool,
}

/// Merges `wanted` into `doc` in place, returning what changed.
fn merge(doc: &mut Map<String, Value>, wanted: &Wanted) -> Vec<Change> {
    let mut changes = Vec::new();
    let p = |path: PathBuf| Value::String(path.display().to_string());
    let mut owned: Vec<(&str, Value)> = Vec::new();
    // `tls: false` next to `tlsverify: true` is contradictory; dockpki owns it only when present.
    if doc.contains_key("tls") {
        owned.push(("tls", json!(true)));
    }
    owned.extend([
        ("tlsverify", json!(true)),
        ("tlscacert", p(wanted.tls.ca_path())),
        ("tlscert", p(wanted.tls.cert_path())),
        ("tlskey", p(wanted.tls.key_path())),
        (
            "hosts",
            Value::Array(
                wanted
                    .hosts
                    .iter()
                    .map(|h| Value::String(h.as_str().to_string()))
                    .collect(),
            ),
        ),
    ]);
    for (key, value) in owned {
        set(doc, key, value, true, &mut changes);
    }
    if wanted.harden {
        for (key, value) in harden_settings(wanted.rootless) {
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
            set(doc, key, value, false, &mut changes);
        }
        // Rotation options belong to the local driver (json-file takes the same ones); for any
        // other driver the user chose they could stop dockerd from starting.
        let driver = doc.get("log-driver").and_then(Value::as_str);
        if matches!(driver, Some("local") | Some("json-file")) {
            match doc.get_mut("log-opts") {
                Some(Value::Object(opts)) => {
                    let mut sub = Vec::new();
                    for (key, value) in log_opts() {
                        set(opts, key, value, false, &mut sub);
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
                    false,
                    &mut changes,
                ),
            }
        }
    }
    changes
}

/// Sets `key` to `value`; an existing different value is replaced when `own`, else kept.
fn set(
    doc: &mut Map<String, Value>,
    key: &str,
    value: Value,
    own: bool,
    changes: &mut Vec<Change>,
) {
    match doc.get(key) {
        Some(old) if *old == value => {}
        Some(old) => {
            let old = old.clone();
            if own {
                doc.insert(key.to_string(), value.clone());
            }
            changes.push(Change {
                key: key.to_string(),
                action: if own { Action::Replaced } else { Action::Kept },
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

/// The existing file: its document, and the text of each of its numbers.
struct Existing {
    doc: Map<String, Value>,
    /// Every number of the file as written, by its JSON pointer.
    numbers: HashMap<String, String>,
}

/// Parses the existing file; `None` text (no file) is an empty object. A key given twice in one
/// object is refused: serde_json (like dockerd's Go decoder) would silently keep the last one,
/// and the merged file would drop the other without a word.
fn parse_existing(path: &Path, text: Option<&str>) -> CliResult<Existing> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(Existing {
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
        return Err(CliError::new(format!(
            "{} has the key {} twice, on lines {} and {}; dockerd would silently use only the last one: remove one of them, then rerun",
            path.display(),
            d.key,
            d.first_line,
            d.line
        )));
    }
    let numbers = scanned.map(|s| s.numbers).unwrap_or_default();
    match parsed {
        Ok(Value::Object(doc)) => Ok(Existing { doc, numbers }),
        Ok(_) => Err(CliError::new(format!(
            "{} is valid JSON but not an object ({{...}}), which dockerd requires; fix it or move it aside, then rerun",
            path.display()
        ))),
        Err(e) => Err(CliError::new(format!(
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
fn to_pretty(doc: &Value, numbers: &HashMap<String, String>) -> String {
    fn write(
        out: &mut String,
        v: &Value,
        path: &mut Vec<Step>,
        depth: usize,
        numbers: &HashMap<String, String>,
    ) {
        let indent = |out: &mut String, depth: usize| out.push_str(&"  ".repeat(depth));
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
    let mut out = String::new();
    write(&mut out, doc, &mut Vec::new(), 0, numbers);
    out.push('\n');
    out
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
/// the whole file with `-`, `+` and ` ` prefixes. daemon.json files are small.
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

/// `$XDG_CONFIG_HOME`, else `~/.config`.
fn config_home() -> CliResult<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(x));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".config"))
        .ok_or_else(|| {
            CliError::new("cannot find the configuration directory (HOME and XDG_CONFIG_HOME are unset); pass --file and --daemon-dir")
        })
}

/// The socket of a rootless daemon: `$XDG_RUNTIME_DIR/docker.sock`.
fn rootless_socket() -> CliResult<String> {
    std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|v| !v.is_empty())
        .map(|d| format!("unix://{}", PathBuf::from(d).join("docker.sock").display()))
        .ok_or_else(|| {
            CliError::new("XDG_RUNTIME_DIR is unset, so the rootless socket is unknown; log in with a systemd user session, or pass --listen unix://PATH instead of --keep-unix")
        })
}

/// Merges and writes daemon.json.
pub fn run(ctx: &Context, args: &DaemonConfigArgs) -> CliResult<i32> {
    let file = absolute(&match (&args.file, args.rootless) {
        (Some(f), _) => f.clone(),
        (None, true) => config_home()?.join("docker/daemon.json"),
        (None, false) => PathBuf::from(DEFAULT_FILE),
    })?;
    let daemon_dir = absolute(&match (&args.daemon_dir, args.rootless) {
        (Some(d), _) => d.clone(),
        (None, true) => config_home()?.join("docker/pki"),
        (None, false) => PathBuf::from(DEFAULT_DAEMON_DIR),
    })?;
    let mut hosts = Vec::new();
    if args.keep_unix {
        let socket = if args.rootless {
            rootless_socket()?
        } else {
            SYSTEM_SOCKET.to_string()
        };
        hosts.push(Listen::Unix(socket));
    }
    let listen: Vec<String> = if args.listen.is_empty() {
        vec![DEFAULT_LISTEN.to_string()]
    } else {
        args.listen.clone()
    };
    for l in &listen {
        let l = Listen::parse(l)?;
        if !hosts.contains(&l) {
            hosts.push(l);
        }
    }
    let tls = Layout::daemon(daemon_dir);
    if hosts.iter().any(|h| matches!(h, Listen::Tcp(_))) {
        // tlscacert/tlscert/tlskey naming missing files would leave dockerd unable to start,
        // and a TCP socket without them would be plain TCP: root for anyone who connects.
        for path in [tls.ca_path(), tls.cert_path(), tls.key_path()] {
            if !path.is_file() {
                return Err(CliError::new(format!(
                    "{} does not exist, and a tcp:// listen address without TLS files would be plain TCP, which makes anyone who connects root on this host; install the daemon layout first (`dockpki bootstrap --daemon-dir {}`) or pass --daemon-dir",
                    path.display(),
                    tls.dir.display()
                )));
            }
        }
    }

    refuse_symlink(&file)?;
    let journal = dockpki_provision::fs::journal::next_to(&file)?;
    if !args.dry_run {
        // An update interrupted after its journal was written is finished before reading.
        dockpki_provision::fs::journal::recover_next_to(&file, ctx.report())?;
    }
    let old_text = reader::read_optional(&file, Links::Refuse, Limit::Config)?
        .map(|bytes| {
            String::from_utf8(bytes.to_vec()).map_err(|_| {
                CliError::new(format!(
                    "{} is not UTF-8 text, so it is not JSON dockerd could read; fix or move it",
                    file.display()
                ))
            })
        })
        .transpose()?;
    let Existing { mut doc, numbers } = parse_existing(&file, old_text.as_deref())?;
    let wanted = Wanted {
        tls,
        hosts,
        harden: args.harden,
        rootless: args.rootless,
    };
    let dropped_sockets = dropped_unix_sockets(&doc, &wanted.hosts);
    let changes = merge(&mut doc, &wanted);
    let new_text = to_pretty(&Value::Object(doc), &numbers);

    // The old values and sockets come from the existing daemon.json: notes escape them.
    for c in changes.iter().filter(|c| c.action == Action::Kept) {
        note(format_args!(
            "kept {} = {} in {} (--harden would set {}; remove it and rerun to take the hardened value)",
            c.key,
            c.old.as_ref().map(Value::to_string).unwrap_or_default(),
            file.display(),
            c.new
        ));
    }
    for c in changes.iter().filter(|c| c.action == Action::Skipped) {
        note(format_args!(
            "did not set {} = {} in {}: \"iptables\" is false there, and dockerd refuses to start with icc=false without iptables",
            c.key,
            c.new,
            file.display()
        ));
    }
    for socket in &dropped_sockets {
        // Local tools (and docker without DOCKER_HOST) use it: losing it is rarely intended.
        note(format_args!(
            "note: {socket} was in \"hosts\" and is no longer; pass --keep-unix or --listen {socket} to keep serving it"
        ));
    }
    if !args.rootless && !wanted.hosts.is_empty() {
        warn_if_unit_passes_hosts();
    }

    let unchanged = old_text.as_deref() == Some(new_text.as_str());
    let diff = line_diff(
        &file.display().to_string(),
        &format!("{} (new)", file.display()),
        old_text.as_deref().unwrap_or(""),
        &new_text,
    );
    let written = if args.dry_run || unchanged {
        Vec::new()
    } else {
        let mut plan = WritePlan::new(dockpki_provision::fs::Existing::Refuse);
        plan.config(file.clone(), new_text.clone().into_bytes());
        plan.commit(&journal, ctx.report())?
    };
    let backup = written.iter().find_map(|w| w.backup.clone());

    if ctx.out.json {
        print_json(&json!({
            "file": file,
            "dry_run": args.dry_run,
            "changed": !unchanged,
            "changes": changes,
            "backup": backup,
            "diff": if args.dry_run { Some(&diff) } else { None },
            "config": serde_json::from_str::<Value>(&new_text).unwrap_or(Value::Null),
        }));
    } else if args.dry_run {
        // The diff shows lines of the existing file, which may hold anything JSON strings can
        // (bidirectional-formatting characters) and stray carriage returns: escaped line by line.
        // (split on '\n' only, so that a carriage return is shown, not taken for a line end)
        for line in diff.strip_suffix('\n').unwrap_or(&diff).split('\n') {
            say(line);
        }
    } else if ctx.out.verbose {
        if unchanged {
            say(format_args!(
                "{} already holds these settings",
                file.display()
            ));
        }
        for c in &changes {
            let verb = match c.action {
                Action::Added => "added",
                Action::Replaced => "replaced",
                // Already reported on stderr.
                Action::Kept | Action::Skipped => continue,
            };
            say(format_args!("{verb} {} = {}", c.key, c.new));
        }
        if let Some(b) = &backup {
            say(format_args!(
                "wrote {} (previous file kept as {})",
                file.display(),
                b.display()
            ));
        } else if !unchanged {
            say(format_args!("wrote {}", file.display()));
        }
        println!(
            "restart dockerd to apply (it reads daemon.json and its certificates only at start)"
        );
    }
    Ok(EXIT_OK)
}

/// Refuses a symlinked file with the target to pass instead: replacing the link with a file
/// would silently detach it from wherever the administrator keeps the real one.
pub fn refuse_symlink(file: &Path) -> CliResult<()> {
    match fs::read_link(file) {
        Ok(target) => Err(CliError::new(format!(
            "{} is a symlink to {}; dockpki does not replace links: pass --file {} (its target) instead",
            file.display(),
            target.display(),
            parent(file).join(&target).display()
        ))),
        Err(_) => Ok(()),
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

/// dockerd refuses to start when `hosts` is in daemon.json and `-H` on its command line: say so
/// when the installed unit passes one.
fn warn_if_unit_passes_hosts() {
    if let Some(exec) = super::systemd::installed_exec_start("docker.service", None) {
        if let Some(cmd) = exec.command.filter(|c| super::systemd::passes_host(c)) {
            // `cmd` is the unit's ExecStart, text from a file.
            note(format_args!(
                "warning: docker.service starts `{cmd}`; dockerd refuses to start with -H on its command line and \"hosts\" in daemon.json: run `dockpki systemd-dropin` first"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let out = to_pretty(&doc, &scan(text).numbers);
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
            to_pretty(&plain, &HashMap::new()),
            serde_json::to_string_pretty(&plain).unwrap() + "\n"
        );
    }

    #[test]
    fn an_old_number_text_is_used_only_where_it_still_denotes_the_value() {
        let numbers = scan(r#"{"a": 1e2}"#).numbers;
        let doc: Value = serde_json::from_str(r#"{"a": 7}"#).unwrap();
        assert_eq!(to_pretty(&doc, &numbers), "{\n  \"a\": 7\n}\n");
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
}
