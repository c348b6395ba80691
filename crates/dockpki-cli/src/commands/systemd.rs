//! `dockpki systemd-dropin`, and reading how systemd starts dockerd.
//!
//! Distribution units start `dockerd -H fd://`; dockerd refuses to start when `hosts` is set
//! both on its command line and in daemon.json. The fix is a drop-in that resets `ExecStart=`
//! and starts the same command without any `-H`, so that the listen addresses come from
//! daemon.json alone.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::Context;
use crate::cli::SystemdDropinArgs;
use crate::error::{CliError, CliResult, EXIT_OK};
use crate::output::{print_json, say};
use crate::paths::absolute;
use dockpki_provision::fs::reader::{self, Limit, Links};
use dockpki_provision::fs::write::{Previous, WritePlan};

/// Where systemd looks for system units, highest precedence first.
const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
];

/// Overrides [`UNIT_DIRS`] (colon-separated, highest precedence first), so that tests and
/// unusual layouts can point at other unit directories.
const UNIT_PATH_ENV: &str = "DOCKPKI_SYSTEMD_UNIT_PATH";

/// The command used when no unit is installed: docker-ce's, minus `-H fd://`.
pub const DEFAULT_EXEC_START: &str =
    "/usr/bin/dockerd --containerd=/run/containerd/containerd.sock";

/// The drop-in's file name; also excluded when reading the current command, so that a second
/// run rewrites from the distribution's command rather than from its own output.
const DROPIN_NAME: &str = "dockpki.conf";

/// The unit directories in precedence order.
fn unit_dirs() -> Vec<PathBuf> {
    match std::env::var_os(UNIT_PATH_ENV).filter(|v| !v.is_empty()) {
        Some(v) => std::env::split_paths(&v).collect(),
        None => UNIT_DIRS.iter().map(PathBuf::from).collect(),
    }
}

/// How systemd would start `unit`: the effective `ExecStart=` command line after the unit file
/// and its drop-ins (except `skip`), and the files it came from. `None` when the unit is not
/// installed.
pub struct ExecStart {
    /// The command line, as written (variables such as `$DOCKER_OPTS` unexpanded).
    pub command: Option<String>,
    /// The unit file and the drop-ins that were read, in order.
    pub sources: Vec<PathBuf>,
}

/// Reads the effective `ExecStart=` of `unit` from the installed files.
pub fn installed_exec_start(unit: &str, skip: Option<&Path>) -> Option<ExecStart> {
    let dirs = unit_dirs();
    let unit_file = dirs.iter().map(|d| d.join(unit)).find(|p| p.is_file())?;
    // Drop-ins apply in file-name order across all directories; a name in a directory of higher
    // precedence hides the same name in lower ones.
    let mut dropins: std::collections::BTreeMap<String, PathBuf> = Default::default();
    for dir in dirs.iter().rev() {
        let Ok(entries) = fs::read_dir(dir.join(format!("{unit}.d"))) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".conf") {
                dropins.insert(name, e.path());
            }
        }
    }
    let mut command = None;
    let mut sources = Vec::new();
    for path in std::iter::once(unit_file).chain(dropins.into_values()) {
        if skip.is_some_and(|s| s == path.as_path()) {
            continue;
        }
        let Ok(bytes) = reader::read(&path, Links::Follow, Limit::Config) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        if let Some(set) = exec_start_of(&text) {
            command = set;
        }
        sources.push(path);
    }
    Some(ExecStart { command, sources })
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

/// Whether a dockerd command line sets listen addresses (`-H`/`--host` in any spelling).
pub fn passes_host(command: &str) -> bool {
    words(command)
        .iter()
        .any(|w| is_host_flag(&w.value).is_some())
}

/// For a word that is a host option: whether its value is the next word.
fn is_host_flag(word: &str) -> Option<bool> {
    match word {
        "-H" | "--host" => Some(true),
        w if w.starts_with("--host=") => Some(false),
        // `-Hfd://` and `-H=fd://`: Go's flag parser accepts both.
        w if w.starts_with("-H") => Some(false),
        _ => None,
    }
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
            Some(takes_next) => skip_next = takes_next,
            // Written back as it was: its quoting means the same to systemd again.
            None => kept.push(w.raw),
        }
    }
    kept.join(" ")
}

/// The drop-in's text.
/// The first words of every drop-in dockpki writes: how it recognises its own.
const DROPIN_HEADER: &str = "# Written by `dockpki systemd-dropin`";

fn dropin_text(command: &str, source: &str) -> String {
    format!(
        "{DROPIN_HEADER} from {}.\n\
         # dockerd takes its listen addresses (\"hosts\") from daemon.json and refuses to start\n\
         # when -H is also on its command line, so ExecStart is reset and set again without -H.\n\
         [Service]\nExecStart=\nExecStart={command}\n",
        // A path is one comment line, whatever bytes its name holds.
        crate::output::escape(source)
    )
}

/// Writes the drop-in.
pub fn run(ctx: &Context, args: &SystemdDropinArgs) -> CliResult<i32> {
    let unit = args.unit.trim();
    if unit.is_empty() || unit.contains('/') || !unit.contains('.') {
        return Err(CliError::new(format!(
            "{:?} is not a unit name; give one like docker.service",
            args.unit
        )));
    }
    let out = absolute(&match &args.out {
        Some(p) => p.clone(),
        None => PathBuf::from("/etc/systemd/system")
            .join(format!("{unit}.d"))
            .join(DROPIN_NAME),
    })?;
    super::daemon_config::refuse_symlink(&out)?;
    let installed = installed_exec_start(unit, Some(&out));
    let (base, source) = match &installed {
        Some(ExecStart {
            command: Some(cmd),
            sources,
        }) => (
            cmd.clone(),
            sources
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Some(ExecStart { command: None, .. }) | None => (
            DEFAULT_EXEC_START.to_string(),
            format!("the default command ({unit} has no ExecStart here)"),
        ),
    };
    let command = without_hosts(&base);
    if command.is_empty() {
        return Err(CliError::new(format!(
            "the ExecStart of {unit} ({base:?}) holds nothing but -H options; fix the unit or pass --unit"
        )));
    }
    // A drop-in dockpki wrote starts with its header; any other file there is someone's.
    let previous = match reader::read_optional(&out, Links::Refuse, Limit::Config) {
        Ok(Some(old)) if !old.starts_with(DROPIN_HEADER.as_bytes()) => Previous::Unknown,
        Ok(_) => Previous::Dockpki,
        // Not a regular file: the write plan refuses it with the reason.
        Err(_) => Previous::Unknown,
    };
    let mut plan = WritePlan::new(super::existing(args.force));
    plan.generated_config(
        out.clone(),
        dropin_text(&command, &source).into_bytes(),
        previous,
    );
    let journal = dockpki_provision::fs::journal::recover_next_to(&out, ctx.report())?;
    let written = plan.commit(&journal, ctx.report())?;
    let service = unit.strip_suffix(".service").unwrap_or(unit);
    let next = format!("systemctl daemon-reload && systemctl restart {service}");
    if ctx.out.json {
        print_json(&json!({
            "out": out,
            "exec_start": command,
            "from": installed.map(|i| i.sources).unwrap_or_default(),
            "next": next,
            "written": written,
        }));
    } else {
        // The command comes from the installed unit, a file.
        if ctx.out.verbose {
            say(format_args!(
                "wrote {} (ExecStart={command})",
                out.display()
            ));
        }
        say(&next);
    }
    Ok(EXIT_OK)
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

    /// The unit Debian's docker.io installs on this machine, when present.
    #[test]
    fn debians_installed_unit_is_rewritten() {
        let Ok(text) = fs::read_to_string("/lib/systemd/system/docker.service") else {
            eprintln!("no /lib/systemd/system/docker.service here; nothing to check");
            return;
        };
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
