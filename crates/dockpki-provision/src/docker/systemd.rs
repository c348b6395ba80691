//! How systemd starts dockerd, and the drop-in that lets daemon.json's `hosts` apply.
//!
//! Distribution units start `dockerd -H fd://`; dockerd refuses to start when `hosts` is set
//! both on its command line and in daemon.json. The fix is a drop-in that resets `ExecStart=`
//! and starts the same command without any `-H`, so that the listen addresses come from
//! daemon.json alone.
//!
//! Which directories hold units is the caller's to say ([`default_unit_dirs`] unless told
//! otherwise): the engine reads no environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::docker::host_file::{refuse_symlink, Failure, Refusal};
use crate::error::{Error, Result};
use crate::fs::reader::{self, Limit, Links};
use crate::fs::write::{Existing, Previous, WritePlan, Written};
use crate::report::Report;

/// Where systemd looks for system units, highest precedence first.
pub const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
];

/// The unit of the system's dockerd.
pub const DOCKER_UNIT: &str = "docker.service";

/// The drop-in's file name; also excluded when reading the current command, so that a second
/// run rewrites from the distribution's command rather than from its own output.
pub const DROPIN_NAME: &str = "dockpki.conf";

/// The first words of every drop-in dockpki writes: how it recognises its own.
pub const DROPIN_HEADER: &str = "# Written by `dockpki systemd-dropin`";

/// [`UNIT_DIRS`] as paths, highest precedence first.
pub fn default_unit_dirs() -> Vec<PathBuf> {
    UNIT_DIRS.iter().map(PathBuf::from).collect()
}

/// How systemd would start a unit: the effective `ExecStart=` command line after the unit file
/// and its drop-ins, and the files it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecStart {
    /// The command line, as written (variables such as `$DOCKER_OPTS` unexpanded); `None` when
    /// the files only reset it, or never set it.
    pub command: Option<String>,
    /// The unit file and the drop-ins that were read, in order.
    pub sources: Vec<PathBuf>,
}

/// Reads the effective `ExecStart=` of `unit` from the unit directories `dirs` (highest
/// precedence first), leaving out the drop-in `skip`. `None` when the unit is not installed.
/// Unreadable files are passed over: this reads what systemd would, for advice, and never
/// fails.
pub fn installed_exec_start(
    unit: &str,
    dirs: &[PathBuf],
    skip: Option<&Path>,
) -> Option<ExecStart> {
    let unit_file = find_unit(unit, dirs)?;
    Some(exec_start_with_dropins(
        &LocalUnitFiles,
        unit_file,
        unit,
        dirs,
        skip,
    ))
}

/// The unit file named `unit` in the directories `dirs` (highest precedence first), if any.
pub fn find_unit(unit: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(unit)).find(|p| p.is_file())
}

/// The `.service` units in `dirs` whose names mention docker, sorted, each once: the ones an
/// unknown unit name was probably meant to be.
pub fn docker_units(dirs: &[PathBuf]) -> Vec<String> {
    let mut found: Vec<String> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|entries| entries.flatten())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.ends_with(".service") && n.to_ascii_lowercase().contains("docker"))
        .collect();
    found.sort();
    found.dedup();
    found
}

/// Where unit files are read from: the machine's own file system ([`LocalUnitFiles`]), or
/// the host an audit looks at.
pub trait UnitFiles {
    /// The names in the directory `dir`; empty when it cannot be listed.
    fn list(&self, dir: &Path) -> Vec<String>;
    /// The text of the unit file at `path`; `None` when it cannot be read. Only a regular file
    /// within [`Limit::Config`] is read; a link is followed (units are often links).
    fn read(&self, path: &Path) -> Option<String>;
}

/// Unit files on this machine's own file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalUnitFiles;

impl UnitFiles for LocalUnitFiles {
    fn list(&self, dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn read(&self, path: &Path) -> Option<String> {
        // Units are often links (systemctl enable, distribution packaging): followed, but still
        // only a regular file within the limit is read.
        let bytes = reader::read(path, Links::Follow, Limit::Config).ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// The effective `ExecStart=` of the unit file `unit_file` (named `unit`) after the drop-ins
/// systemd would apply from `dirs`, leaving out the drop-in `skip`, reading through `files`.
pub fn exec_start_with_dropins(
    files: &dyn UnitFiles,
    unit_file: PathBuf,
    unit: &str,
    dirs: &[PathBuf],
    skip: Option<&Path>,
) -> ExecStart {
    // Drop-ins apply in file-name order across all directories; a name in a directory of higher
    // precedence hides the same name in lower ones.
    let mut dropins: BTreeMap<String, PathBuf> = BTreeMap::new();
    for dir in dirs.iter().rev() {
        let dropin_dir = dir.join(format!("{unit}.d"));
        for name in files.list(&dropin_dir) {
            if name.ends_with(".conf") {
                dropins.insert(name.clone(), dropin_dir.join(name));
            }
        }
    }
    let mut command = None;
    let mut sources = Vec::new();
    for path in std::iter::once(unit_file).chain(dropins.into_values()) {
        if skip.is_some_and(|s| s == path.as_path()) {
            continue;
        }
        let Some(text) = files.read(&path) else {
            continue;
        };
        if let Some(set) = exec_start_of(&text) {
            command = set;
        }
        sources.push(path);
    }
    ExecStart { command, sources }
}

/// What one unit file does to `ExecStart` in its `[Service]` section: `None` when it does not
/// mention it, `Some(None)` when it only resets it (`ExecStart=`), `Some(Some(cmd))` when its
/// last assignment sets a command.
pub fn exec_start_of(unit_text: &str) -> Option<Option<String>> {
    let mut in_service = false;
    let mut result = None;
    // systemd joins lines ending in a backslash before parsing.
    let joined = unit_text.replace("\\\n", " ");
    for line in joined.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_service = line == "[Service]";
            continue;
        }
        if !in_service || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim() == "ExecStart" {
            let value = value.trim();
            result = Some((!value.is_empty()).then(|| value.to_string()));
        }
    }
    result
}

/// One word of a command line: as written (quotes and escapes kept, for writing it back) and
/// as systemd passes it to the program.
#[derive(Debug, PartialEq, Eq)]
struct Word {
    raw: String,
    value: String,
}

/// Splits an `ExecStart=` command line into words the way systemd does (`extract_first_word`
/// with unquoting and C escapes): words are separated by unquoted whitespace; double and single
/// quotes, anywhere in a word, quote until the matching one and are removed; a backslash starts
/// a C escape (`\n`, `\s`, `\x2d`, `\055`, `\u2d`, ...) inside quotes and out. So
/// `"-H" "fd://"`, `'-H'` and `\x2dH` all reach dockerd as `-H`.
fn words(command: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut chars: Chars<'_> = command.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut value = String::new();
        let mut quote: Option<char> = None;
        let mut end = command.len();
        while let Some(&(i, c)) = chars.peek() {
            if quote.is_none() && c.is_whitespace() {
                end = i;
                break;
            }
            chars.next();
            match (quote, c) {
                (_, '\\') => value.push_str(&unescape(&mut chars)),
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (_, c) => value.push(c),
            }
        }
        out.push(Word {
            raw: command[start..end].to_string(),
            value,
        });
    }
    out
}

type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;

/// The character a C escape stands for, the backslash already read. An unknown escape stands
/// for its character, a backslash at the end for itself, and a malformed number for nothing.
fn unescape(chars: &mut Chars<'_>) -> String {
    let Some((_, c)) = chars.next() else {
        return "\\".into();
    };
    let unescaped = match c {
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        's' => Some(' '),
        't' => Some('\t'),
        'v' => Some('\u{b}'),
        'x' => digits(chars, 2, 16, 0),
        'u' => digits(chars, 4, 16, 0),
        'U' => digits(chars, 8, 16, 0),
        '0'..='7' => digits(chars, 2, 8, c.to_digit(8).unwrap_or(0)),
        other => Some(other),
    };
    unescaped.map(String::from).unwrap_or_default()
}

/// The character whose code is `n` more digits in `radix`, after the value `code` so far.
fn digits(chars: &mut Chars<'_>, n: usize, radix: u32, mut code: u32) -> Option<char> {
    for _ in 0..n {
        let (_, c) = chars.next_if(|(_, c)| c.is_digit(radix))?;
        code = code * radix + c.to_digit(radix)?;
    }
    char::from_u32(code)
}

/// The words of an `ExecStart=` command line as systemd passes them to the program (quotes
/// removed, C escapes decoded); the first is the program, with systemd's prefixes (`-`, `@`,
/// `+`, `!`, `:`) if any.
pub fn command_words(command: &str) -> Vec<String> {
    words(command).into_iter().map(|w| w.value).collect()
}

/// Whether a dockerd command line sets listen addresses (`-H`/`--host` in any spelling).
pub fn passes_host(command: &str) -> bool {
    words(command)
        .iter()
        .any(|w| is_host_flag(&w.value).is_some())
}

/// The long names of the options a dockerd command line sets, as systemd passes its words
/// (`-H` in any spelling is `host`; `--tlsverify=false` is `tlsverify`), in order, each once.
/// dockerd refuses to start when an option it is given here is also a key of daemon.json
/// ("the following directives are specified both as a flag and in the configuration file").
pub fn option_names(command: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for w in words(command) {
        let name = if is_host_flag(&w.value).is_some() {
            "host".to_string()
        } else if let Some(long) = w.value.strip_prefix("--").filter(|l| !l.is_empty()) {
            long.split('=').next().unwrap_or(long).to_string()
        } else {
            continue;
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// For a word that is a host option: whether its value is the next word.
fn is_host_flag(word: &str) -> Option<HostValue> {
    match word {
        "-H" | "--host" => Some(HostValue::NextWord),
        w if w.starts_with("--host=") => Some(HostValue::SameWord),
        // `-Hfd://` and `-H=fd://`: Go's flag parser accepts both.
        w if w.starts_with("-H") => Some(HostValue::SameWord),
        _ => None,
    }
}

/// Where a host option's value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HostValue {
    /// In the next word (`-H fd://`).
    NextWord,
    /// In the option's own word (`--host=fd://`, `-Hfd://`).
    SameWord,
}

/// The values of the `-H`/`--host` options of a command line, as dockerd receives them
/// (`fd://`, `tcp://0.0.0.0:2375`), in order: what [`without_hosts`] removes. A trailing `-H`
/// without a value gives an empty one.
pub fn host_values(command: &str) -> Vec<String> {
    let mut values = Vec::new();
    let mut words = words(command).into_iter();
    while let Some(w) = words.next() {
        match is_host_flag(&w.value) {
            Some(HostValue::NextWord) => {
                values.push(words.next().map(|n| n.value).unwrap_or_default())
            }
            Some(HostValue::SameWord) => {
                let v = w.value.strip_prefix("--host=").unwrap_or_else(|| {
                    let rest = &w.value[2..];
                    rest.strip_prefix('=').unwrap_or(rest)
                });
                values.push(v.to_string());
            }
            None => {}
        }
    }
    values
}

/// The command without any `-H`/`--host` option, the rest (binary path, systemd's
/// prefixes such as `-`, variables such as `$DOCKER_OPTS`) unchanged.
pub fn without_hosts(command: &str) -> String {
    let mut kept = Vec::new();
    let mut skip_next = false;
    for w in words(command) {
        if skip_next {
            skip_next = false;
            continue;
        }
        match is_host_flag(&w.value) {
            Some(value) => skip_next = value == HostValue::NextWord,
            // Written back as it was: its quoting means the same to systemd again.
            None => kept.push(w.raw),
        }
    }
    kept.join(" ")
}

/// The drop-in's text: `ExecStart=` reset, then set to `command`; `source` (where the command
/// came from) is named in a comment.
pub fn dropin_text(command: &str, source: &str) -> String {
    format!(
        "{DROPIN_HEADER} from {}.\n\
         # dockerd takes its listen addresses (\"hosts\") from daemon.json and refuses to start\n\
         # when -H is also on its command line, so ExecStart is reset and set again without -H.\n\
         [Service]\nExecStart=\nExecStart={command}\n",
        // A path is one comment line, whatever bytes its name holds.
        crate::text::escape(source)
    )
}

/// The unit whose drop-in is written: a unit name looked up in the unit directories, or a unit
/// file named by its path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A name such as `docker.service`, looked up in the unit directories.
    Name(String),
    /// A unit file (absolute), read as it is; its file name is the unit's name.
    File(PathBuf),
}

impl Unit {
    /// A unit from what a user typed: a path when it holds a `/`, else a name checked with
    /// [`unit_name`].
    ///
    /// # Errors
    /// When it is neither a unit name nor a path to a unit file's name.
    pub fn parse(text: &str) -> Result<Unit> {
        if text.contains('/') {
            let path = PathBuf::from(text);
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            unit_name(name).map_err(|_| {
                Error::new(format!(
                    "{text:?} is not a unit file's path; give one whose file name is the unit's, like /lib/systemd/system/docker.service"
                ))
            })?;
            return Ok(Unit::File(path));
        }
        Ok(Unit::Name(unit_name(text)?.to_string()))
    }

    /// The unit's name, e.g. `docker.service` (a file's name for [`Unit::File`]).
    pub fn name(&self) -> &str {
        match self {
            Unit::Name(n) => n,
            Unit::File(p) => p.file_name().and_then(|n| n.to_str()).unwrap_or(""),
        }
    }
}

/// Checks a unit name: not empty, no `/`, with a type suffix (`docker.service`); returns it
/// without surrounding whitespace.
///
/// # Errors
/// When it is not a unit name.
pub fn unit_name(unit: &str) -> Result<&str> {
    let trimmed = unit.trim();
    if trimmed.is_empty() || trimmed.contains('/') || !trimmed.contains('.') {
        return Err(Error::new(format!(
            "{unit:?} is not a unit name; give one like docker.service"
        )));
    }
    Ok(trimmed)
}

/// Where the drop-in for `unit` goes by default: `/etc/systemd/system/UNIT.d/dockpki.conf`.
pub fn default_dropin_path(unit: &str) -> PathBuf {
    PathBuf::from(UNIT_DIRS[0])
        .join(format!("{unit}.d"))
        .join(DROPIN_NAME)
}

/// A drop-in to write.
#[derive(Clone, Debug)]
pub struct DropinRequest {
    /// The unit whose `ExecStart` is rewritten: its name (checked with [`unit_name`]) or its
    /// file.
    pub unit: Unit,
    /// Where the drop-in goes, absolute ([`default_dropin_path`] unless told otherwise).
    pub out: PathBuf,
    /// Whether a file there that dockpki did not write may be replaced (kept as a backup).
    pub existing: Existing,
    /// The unit directories, highest precedence first ([`default_unit_dirs`]).
    pub unit_dirs: Vec<PathBuf>,
}

/// What [`write_dropin`] wrote.
#[derive(Debug)]
pub struct Dropin {
    /// The drop-in.
    pub out: PathBuf,
    /// The unit's name, e.g. `docker.service`.
    pub unit: String,
    /// The command it starts: the unit's, without `-H` options.
    pub exec_start: String,
    /// The values of the `-H` options removed from the unit's command (`fd://`,
    /// `tcp://0.0.0.0:2375`), in order.
    pub removed_hosts: Vec<String>,
    /// The unit files the command was read from: the unit file, then its drop-ins.
    pub from: Vec<PathBuf>,
    /// The file written, with its backup.
    pub written: Vec<Written>,
}

/// Writes the drop-in that starts `request.unit`'s command without `-H`: the command is read
/// from the unit file (looked up in the unit directories for a name) and its other drop-ins,
/// and written through a journal next to the drop-in, completing an interrupted earlier write
/// first. A drop-in dockpki wrote is replaced; another file only with
/// [`Existing::ReplaceKeepingBackup`].
///
/// A unit that is not installed is refused rather than guessed: a drop-in starting another
/// distribution's dockerd path (docker-ce's `/usr/bin/dockerd` on Debian, whose is
/// `/usr/sbin/dockerd`) would leave dockerd unable to start.
///
/// # Errors
/// [`Refusal::Symlink`] when the drop-in is a symlink, [`Refusal::UnknownUnit`] when no unit
/// of that name is installed, [`Refusal::NoExecStart`] when the unit sets no command,
/// [`Refusal::OnlyHostOptions`] when the unit's command is nothing but `-H` options; a failure
/// when a unit file given by path cannot be read or the drop-in cannot be written (another file
/// there without consent, an untrusted directory).
///
/// # Examples
/// ```
/// use dockpki_provision::docker::systemd::{write_dropin, DropinRequest, Unit};
/// use dockpki_provision::fs::Existing;
/// # let root = tempfile::tempdir()?;
/// let units = root.path().join("units");
/// std::fs::create_dir(&units)?;
/// std::fs::write(
///     units.join("docker.service"),
///     "[Service]\nExecStart=/usr/bin/dockerd -H fd:// --debug\n",
/// )?;
/// let dropin = write_dropin(
///     &DropinRequest {
///         unit: Unit::Name("docker.service".into()),
///         out: root.path().join("docker.service.d/dockpki.conf"),
///         existing: Existing::Refuse,
///         unit_dirs: vec![units],
///     },
///     &dockpki_provision::report::Silent,
/// )?;
/// assert_eq!(dropin.exec_start, "/usr/bin/dockerd --debug");
/// assert_eq!(dropin.removed_hosts, ["fd://"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_dropin(
    request: &DropinRequest,
    report: &dyn Report,
) -> std::result::Result<Dropin, Failure> {
    let out = &request.out;
    refuse_symlink(out)?;
    let unit = request.unit.name().to_string();
    let unit_file = match &request.unit {
        Unit::Name(name) => {
            unit_name(name)?;
            find_unit(name, &request.unit_dirs).ok_or_else(|| Refusal::UnknownUnit {
                unit: name.clone(),
                searched: request.unit_dirs.clone(),
                found: docker_units(&request.unit_dirs),
            })?
        }
        Unit::File(path) => {
            // Read once here so that a missing or unreadable file fails with its reason,
            // rather than being passed over as unreadable drop-ins are.
            reader::read(path, Links::Follow, Limit::Config)?;
            path.clone()
        }
    };
    let installed = exec_start_with_dropins(
        &LocalUnitFiles,
        unit_file,
        &unit,
        &request.unit_dirs,
        Some(out),
    );
    let Some(base) = installed.command.clone() else {
        return Err(Refusal::NoExecStart {
            unit,
            sources: installed.sources,
        }
        .into());
    };
    let source = installed
        .sources
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let command = without_hosts(&base);
    if command.is_empty() {
        return Err(Refusal::OnlyHostOptions {
            unit,
            command: base,
        }
        .into());
    }
    // A drop-in dockpki wrote starts with its header; any other file there is someone's.
    let previous = match reader::read_optional(out, Links::Refuse, Limit::Config) {
        Ok(Some(old)) if !old.starts_with(DROPIN_HEADER.as_bytes()) => Previous::Unknown,
        Ok(_) => Previous::Dockpki,
        // Not a regular file: the write plan refuses it with the reason.
        Err(_) => Previous::Unknown,
    };
    let mut plan = WritePlan::new(request.existing);
    plan.generated_config(
        out.clone(),
        dropin_text(&command, &source).into_bytes(),
        previous,
    );
    let journal = crate::fs::journal::recover_next_to(out, report)?;
    let written = plan.commit(&journal, report)?;
    Ok(Dropin {
        out: out.clone(),
        unit,
        removed_hosts: host_values(&base),
        exec_start: command,
        from: installed.sources,
        written,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Table: unit text → the command the drop-in starts.
    #[test]
    fn exec_start_is_rewritten_without_any_host_option() {
        let cases = [
            (
                "Debian docker.io",
                "[Service]\nType=notify\nExecStart=/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS\n",
                "/usr/sbin/dockerd --containerd=/run/containerd/containerd.sock $DOCKER_OPTS",
            ),
            (
                "docker-ce",
                "[Unit]\nDescription=Docker\n[Service]\nExecStart=/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock\nExecReload=/bin/kill -s HUP $MAINPID\n",
                "/usr/bin/dockerd --containerd=/run/containerd/containerd.sock",
            ),
            (
                "several spellings",
                "[Service]\nExecStart=/usr/bin/dockerd --host=fd:// -Hunix:///x.sock -H=tcp://0.0.0.0:2375 --host tcp://1.2.3.4:2376 --debug\n",
                "/usr/bin/dockerd --debug",
            ),
            (
                "continuation lines and a quoted argument",
                "[Service]\nExecStart=/usr/bin/dockerd \\\n  -H fd:// \\\n  --label \"a b\"\n",
                "/usr/bin/dockerd --label \"a b\"",
            ),
            (
                "reset then set: the last one counts",
                "[Service]\nExecStart=/bin/false -H x\nExecStart=\nExecStart=-/usr/sbin/dockerd -H fd://\n",
                "-/usr/sbin/dockerd",
            ),
            (
                "ExecStart outside [Service] is ignored",
                "[Unit]\nExecStart=/nope -H x\n[Service]\nExecStart=/usr/bin/dockerd\n",
                "/usr/bin/dockerd",
            ),
        ];
        for (what, unit, expected) in cases {
            let cmd = exec_start_of(unit)
                .flatten()
                .unwrap_or_else(|| panic!("{what}: no ExecStart"));
            assert_eq!(without_hosts(&cmd), expected, "{what}");
            assert!(!passes_host(&without_hosts(&cmd)), "{what}");
        }
    }

    /// systemd unquotes and unescapes ExecStart words before dockerd sees them, so every
    /// quoted or escaped spelling of -H is a host option too.
    #[test]
    fn quoted_and_escaped_host_options_are_removed_as_systemd_reads_them() {
        for (cmd, expected) in [
            (
                r#"/usr/bin/dockerd "-H" "fd://" --debug"#,
                "/usr/bin/dockerd --debug",
            ),
            (
                r#"/usr/bin/dockerd '-H' 'fd://' --debug"#,
                "/usr/bin/dockerd --debug",
            ),
            (
                r#"/usr/bin/dockerd "--host=fd://" --debug"#,
                "/usr/bin/dockerd --debug",
            ),
            (
                r#"/usr/bin/dockerd --host="fd://" --debug"#,
                "/usr/bin/dockerd --debug",
            ),
            (r#"/usr/bin/dockerd "--host" 'fd://'"#, "/usr/bin/dockerd"),
            (r#"/usr/bin/dockerd "-Hfd://""#, "/usr/bin/dockerd"),
            (r#"/usr/bin/dockerd \x2dH fd://"#, "/usr/bin/dockerd"),
            (r#"/usr/bin/dockerd -\110 fd://"#, "/usr/bin/dockerd"),
            (r#"/usr/bin/dockerd "-"H fd://"#, "/usr/bin/dockerd"),
            // Kept words are written back exactly as they were.
            (
                r#"/usr/bin/dockerd -H fd:// --label "a b" --label='c "d"' \s"#,
                r#"/usr/bin/dockerd --label "a b" --label='c "d"' \s"#,
            ),
            // One word "-H fd://": dockerd's flag parser (pflag) reads -H with the value
            // " fd://", so it is a host option too.
            (r#"/usr/bin/dockerd "-H fd://""#, "/usr/bin/dockerd"),
        ] {
            assert_eq!(without_hosts(cmd), expected, "{cmd}");
            assert!(!passes_host(&without_hosts(cmd)), "{cmd}");
            assert!(passes_host(cmd), "{cmd}");
        }
    }

    #[test]
    fn words_are_split_unquoted_and_unescaped_like_systemd() {
        let values = |cmd: &str| words(cmd).into_iter().map(|w| w.value).collect::<Vec<_>>();
        assert_eq!(
            values(r#"a "b c" 'd e'f g\sh"#),
            ["a", "b c", "d ef", "g h"]
        );
        assert_eq!(
            values(r#""x\"y" 'it\'s' \t\x41\101\u0042"#),
            ["x\"y", "it's", "\tAAB"]
        );
        assert_eq!(values("  spaced\tout  "), ["spaced", "out"]);
        assert_eq!(values(r#"trailing\"#), ["trailing\\"]);
        let raw = |cmd: &str| words(cmd).into_iter().map(|w| w.raw).collect::<Vec<_>>();
        assert_eq!(raw(r#"a  "b c"  d"#), ["a", r#""b c""#, "d"]);
    }

    #[test]
    fn host_values_are_the_addresses_without_hosts_removes() {
        assert_eq!(
            host_values(
                r#"/usr/bin/dockerd -H fd:// --host=tcp://0.0.0.0:2375 -Hunix:///a.sock -H=unix:///b.sock "--host" 'tcp://[::1]:2376' --debug"#
            ),
            [
                "fd://",
                "tcp://0.0.0.0:2375",
                "unix:///a.sock",
                "unix:///b.sock",
                "tcp://[::1]:2376"
            ]
        );
        assert!(host_values("/usr/bin/dockerd --debug").is_empty());
        assert_eq!(host_values("/usr/bin/dockerd -H"), [""]);
    }

    #[test]
    fn a_reset_only_dropin_and_an_unrelated_one_are_told_apart() {
        assert_eq!(exec_start_of("[Service]\nExecStart=\n"), Some(None));
        assert_eq!(exec_start_of("[Service]\nEnvironment=A=1\n"), None);
    }

    #[test]
    fn host_options_are_detected_in_every_spelling_and_only_those() {
        for cmd in [
            "/usr/sbin/dockerd -H fd://",
            "dockerd --host=unix:///x",
            "dockerd -Hfd://",
        ] {
            assert!(passes_host(cmd), "{cmd}");
        }
        for cmd in ["/usr/sbin/dockerd --containerd=/x", "dockerd --hostname-x"] {
            // `--hostname-x` is not a dockerd option, but it is not -H either.
            assert!(!passes_host(cmd), "{cmd}");
        }
    }

    #[test]
    fn option_names_are_the_long_names_as_dockerd_reads_them_each_once() {
        assert_eq!(
            option_names(
                r#"/usr/bin/dockerd -H fd:// "--tlsverify" --tlscert=/c.pem --host=x \x2d-tlskey /k --label a=--b -H y"#
            ),
            ["host", "tlsverify", "tlscert", "tlskey", "label"]
        );
        assert!(option_names("/usr/bin/dockerd").is_empty());
        // A lone `--` ends nothing for dockerd and names no option.
        assert!(option_names("dockerd --").is_empty());
    }

    #[test]
    fn the_dropin_resets_exec_start_and_keeps_its_source_on_one_comment_line() {
        let text = dropin_text(
            "/usr/bin/dockerd --debug",
            "/etc/x\n[Service]\nExecStart=/evil",
        );
        assert!(text.starts_with(DROPIN_HEADER), "{text}");
        assert!(
            text.ends_with("[Service]\nExecStart=\nExecStart=/usr/bin/dockerd --debug\n"),
            "{text}"
        );
        assert_eq!(text.matches("\nExecStart=").count(), 2, "{text}");
        assert_eq!(
            text.lines().next().map(|l| l.contains("\\n[Service]")),
            Some(true)
        );
    }

    #[test]
    fn unit_names_need_a_type_and_no_slash() {
        assert_eq!(unit_name(" docker.service ").ok(), Some("docker.service"));
        for bad in ["", "  ", "docker", "../docker.service", "a/b.service"] {
            let e = unit_name(bad).unwrap_err().to_string();
            assert!(e.contains("is not a unit name"), "{bad}: {e}");
        }
        assert_eq!(
            default_dropin_path("docker.service"),
            Path::new("/etc/systemd/system/docker.service.d/dockpki.conf")
        );
    }

    #[test]
    fn the_installed_command_follows_precedence_and_dropin_order_skipping_our_own() {
        let root = tempfile::tempdir().unwrap();
        let (high, low) = (root.path().join("etc"), root.path().join("lib"));
        for d in [&high, &low] {
            std::fs::create_dir_all(d.join("docker.service.d")).unwrap();
        }
        std::fs::write(
            low.join("docker.service"),
            "[Service]\nExecStart=/lib/dockerd -H fd://\n",
        )
        .unwrap();
        std::fs::write(
            low.join("docker.service.d/10-a.conf"),
            "[Service]\nExecStart=\nExecStart=/low/a\n",
        )
        .unwrap();
        // Same name in the directory of higher precedence: hides the lower one.
        std::fs::write(
            high.join("docker.service.d/10-a.conf"),
            "[Service]\nExecStart=\nExecStart=/high/a\n",
        )
        .unwrap();
        let ours = high.join("docker.service.d").join(DROPIN_NAME);
        std::fs::write(&ours, "[Service]\nExecStart=\nExecStart=/ours\n").unwrap();
        let dirs = [high.clone(), low.clone()];
        let exec = installed_exec_start("docker.service", &dirs, Some(&ours)).unwrap();
        assert_eq!(exec.command.as_deref(), Some("/high/a"));
        assert_eq!(
            exec.sources,
            [
                low.join("docker.service"),
                high.join("docker.service.d/10-a.conf")
            ]
        );
        assert_eq!(installed_exec_start("other.service", &dirs, None), None);
    }

    #[test]
    fn a_unit_of_nothing_but_host_options_is_refused_before_anything_is_written() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(
            root.path().join("x.service"),
            "[Service]\nExecStart=-H fd://\n",
        )
        .unwrap();
        let out = root.path().join("x.service.d/dockpki.conf");
        let r = write_dropin(
            &DropinRequest {
                unit: Unit::Name("x.service".into()),
                out: out.clone(),
                existing: Existing::Refuse,
                unit_dirs: vec![root.path().to_path_buf()],
            },
            &crate::report::Silent,
        );
        assert!(
            matches!(
                r,
                Err(Failure::Refused(Refusal::OnlyHostOptions { ref unit, ref command }))
                    if unit == "x.service" && command == "-H fd://"
            ),
            "{r:?}"
        );
        assert!(!out.exists());
    }

    /// The unit Debian's docker.io installs on this machine (.ci/run installs it).
    #[test]
    fn debians_installed_unit_is_rewritten() {
        let text = std::fs::read_to_string("/lib/systemd/system/docker.service");
        if !crate::test_support::present_or_skip(
            text.is_ok(),
            "/lib/systemd/system/docker.service (Debian's docker.io)",
        ) {
            return;
        }
        let text = text.unwrap();
        let cmd = exec_start_of(&text)
            .flatten()
            .expect("ExecStart in the unit");
        assert!(passes_host(&cmd), "{cmd}");
        let new = without_hosts(&cmd);
        assert!(!passes_host(&new), "{new}");
        assert!(new.starts_with("/usr/sbin/dockerd "), "{new}");
        assert!(new.contains("--containerd="), "{new}");
    }
}
