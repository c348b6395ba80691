//! Printing: JSON for machines, text for people.

use std::io::Write;

use serde::Serialize;

/// How the user wants results.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    /// One JSON document on stdout.
    pub json: bool,
    /// Also list the files written (`-v`).
    pub verbose: bool,
    /// No line saying what was done, no next steps, no notes (`-q`; never with `-v`).
    pub quiet: bool,
    /// Whether tables are coloured (decided once from `--color`, the terminal and `NO_COLOR`).
    pub colour: Colour,
}

impl Output {
    /// Whether a text report of what was done (the one success line, next steps) is printed:
    /// not with `--json`, whose document says it, nor with `-q`.
    pub fn reports(&self) -> bool {
        !self.json && !self.quiet
    }

    /// Prints the one line saying what a state-changing command did, escaped, unless
    /// [`Output::reports`] says not to.
    pub fn done(&self, line: impl std::fmt::Display) {
        if self.reports() {
            say(line);
        }
    }

    /// `text` escaped with [`escape`], then coloured for `tone` when colours are on. Escaping
    /// comes first, so that nothing in `text` (a certificate's subject) can add or end an SGR
    /// sequence of its own: the only escape codes printed are the ones added here.
    pub fn paint(&self, tone: Tone, text: &str) -> String {
        let text = escape(text);
        match self.colour {
            Colour::Plain => text.into_owned(),
            Colour::Ansi => format!("\x1b[{}m{text}\x1b[0m", tone.sgr()),
        }
    }
}

/// `--color`: when tables are coloured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorChoice {
    /// Only on a terminal, and not when `NO_COLOR` is set to anything but the empty string.
    Auto,
    /// Always (but never in JSON): an explicit request outranks `NO_COLOR`, as no-color.org
    /// asks.
    Always,
    /// Never.
    Never,
}

impl std::str::FromStr for ColorChoice {
    type Err = crate::error::CliError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(ColorChoice::Auto),
            "always" => Ok(ColorChoice::Always),
            "never" => Ok(ColorChoice::Never),
            _ => Err(crate::error::CliError::new(format!(
                "invalid --color {:?}: give auto, always or never",
                escape(s)
            ))),
        }
    }
}

/// Whether text output is coloured: the decision [`ColorChoice`] leaves to the environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    /// No escape codes at all.
    Plain,
    /// ANSI SGR codes around the cells that say how something stands.
    Ansi,
}

/// What the environment says about colours, read by `commands::run` (the only place that
/// reads it).
#[derive(Clone, Copy, Debug)]
pub struct Terminal {
    /// Whether stdout is a terminal.
    pub stdout_is_terminal: bool,
    /// Whether `NO_COLOR` is set to a non-empty value.
    pub no_color: bool,
    /// Whether `TERM` is `dumb` (a terminal that shows escape codes as text).
    pub dumb: bool,
}

/// Decides whether to colour: never for JSON; `always` and `never` as said; `auto` only on a
/// terminal that is not dumb, with no `NO_COLOR`.
pub fn colour(choice: ColorChoice, json: bool, terminal: Terminal) -> Colour {
    let on = !json
        && match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                terminal.stdout_is_terminal && !terminal.no_color && !terminal.dumb
            }
        };
    if on {
        Colour::Ansi
    } else {
        Colour::Plain
    }
}

/// How a cell's verdict reads, for its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// All good: green.
    Good,
    /// Needs attention soon (due, a warning): yellow.
    Attention,
    /// Broken now (expired, missing, replaced, a failed check): red.
    Bad,
}

impl Tone {
    /// The SGR parameter of the tone's colour.
    fn sgr(self) -> &'static str {
        match self {
            Tone::Good => "32",
            Tone::Attention => "33",
            Tone::Bad => "31",
        }
    }
}

/// Set once by `commands::run` from `-q`: notes that are not warnings are not printed.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes [`note`] drop notes that are not warnings (`-q`).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

/// Whether `-q` is in force.
pub fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

/// Prints `value` as pretty JSON on stdout.
fn print_json(value: &impl Serialize) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut out, value);
    let _ = writeln!(out);
}

/// The name and version of `command`'s `--json` document: `dockpki/<command>/v1`, the words of
/// the command joined by `-` (`ca-rotate-begin`). docs/json.md documents each; a field added
/// keeps the version, a field renamed, removed or changed in meaning makes it `v2`.
pub fn schema(command: &str) -> String {
    format!("dockpki/{command}/v1")
}

/// Prints the `--json` document of `command` (see [`schema`]): `fields`, an object, after its
/// `"schema"`, so that every document is an object that says what it is, never a bare array.
pub fn print_document(command: &str, fields: serde_json::Value) {
    let mut doc = serde_json::Map::new();
    doc.insert("schema".into(), schema(command).into());
    match fields {
        serde_json::Value::Object(fields) => doc.extend(fields),
        // Every caller passes `json!({...})`; anything else is a bug, kept visible rather than
        // dropped.
        other => {
            doc.insert("value".into(), other);
        }
    }
    print_json(&serde_json::Value::Object(doc));
}

/// The name and version of the error document, `{"schema", "error", "exit_code"}`.
pub const ERROR_SCHEMA: &str = "dockpki/error/v1";

/// Prints the error document for `--json`: one object on stdout, whatever command failed, so
/// that a script reading stdout gets JSON either way.
pub fn print_error_json(message: &str, exit_code: i32) {
    print_json(&serde_json::json!({
        "schema": ERROR_SCHEMA,
        "error": message,
        "exit_code": exit_code,
    }));
}

/// A string from outside, escaped with [`escape`] when displayed: `format!("{}", Untrusted(s))`.
#[derive(Clone, Copy, Debug)]
pub struct Untrusted<'a>(pub &'a str);

impl std::fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&escape(self.0))
    }
}

/// Prints a note or warning on stderr as `dockpki: MESSAGE`, escaped with [`escape`]: messages
/// name paths and values read from files, which must not be able to forge a line. With `-q`
/// only warnings (`warning: ...`) are printed.
pub fn note(message: impl std::fmt::Display) {
    let message = message.to_string();
    if quiet() && !message.starts_with("warning:") {
        return;
    }
    print_note(&message);
}

/// Prints `message` on stderr as [`note`] does, whatever `-q` says: for the engine's warnings.
pub fn print_note(message: &str) {
    // A spinner on the same terminal is wiped first, so that the note starts its own line.
    crate::progress::interrupt(|| eprintln!("dockpki: {}", escape(message)));
}

/// Prints one line of text output on stdout, escaped with [`escape`]: for lines that hold
/// certificate fields, paths from the inventory or anything else from outside, so that none of
/// it can start a second line, drive the terminal or reorder what is shown.
pub fn say(line: impl std::fmt::Display) {
    println!("{}", escape(&line.to_string()));
}

/// `path` as text for shell code, refused (as `what`) when it is not UTF-8 (it would print with
/// U+FFFD in place of its bytes, naming another path) or holds a character [`escape`] rewrites.
pub fn printable_path<'a>(
    what: &str,
    path: &'a std::path::Path,
) -> crate::error::CliResult<&'a str> {
    let text = path.to_str().ok_or_else(|| {
        crate::error::CliError::new(format!(
            "{what} {} is not valid UTF-8, so it cannot be printed for a shell; rename it",
            escape(&path.display().to_string())
        ))
    })?;
    refuse_unprintable(what, text)?;
    Ok(text)
}

pub use dockpki_provision::text::{escape, shell_quote};

/// Refuses `value`, given as `what` (e.g. `--host`), when it holds a character [`escape`] would
/// rewrite (see [`dockpki_provision::text::refuse_unprintable`]).
pub fn refuse_unprintable(what: &str, value: &str) -> crate::error::CliResult<()> {
    Ok(dockpki_provision::text::refuse_unprintable(what, value)?)
}

/// Writes `bytes` (a generated script or page, `what`) to stdout as they are. A reader that has
/// gone (`dockpki completions bash | head`) asked for no more: that is not an error, as for
/// every other output (see `main`).
pub fn print_raw(what: &str, bytes: &[u8]) -> crate::error::CliResult<()> {
    match std::io::stdout().lock().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(crate::error::CliError::new(
            format!("cannot write {what} to stdout: {e}"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terminal(stdout_is_terminal: bool, no_color: bool, dumb: bool) -> Terminal {
        Terminal {
            stdout_is_terminal,
            no_color,
            dumb,
        }
    }

    #[test]
    fn auto_colours_only_a_terminal_without_no_color_and_json_never() {
        let tty = terminal(true, false, false);
        assert_eq!(colour(ColorChoice::Auto, false, tty), Colour::Ansi);
        for t in [
            terminal(false, false, false),
            terminal(true, true, false),
            terminal(true, false, true),
        ] {
            assert_eq!(colour(ColorChoice::Auto, false, t), Colour::Plain, "{t:?}");
        }
        let pipe_no_color = terminal(false, true, true);
        assert_eq!(
            colour(ColorChoice::Always, false, pipe_no_color),
            Colour::Ansi
        );
        assert_eq!(colour(ColorChoice::Never, false, tty), Colour::Plain);
        for choice in [ColorChoice::Auto, ColorChoice::Always, ColorChoice::Never] {
            assert_eq!(colour(choice, true, tty), Colour::Plain, "{choice:?}");
        }
    }

    #[test]
    fn painting_escapes_the_text_first_so_only_its_own_codes_are_raw() {
        let out = Output {
            json: false,
            verbose: false,
            quiet: false,
            colour: Colour::Ansi,
        };
        let painted = out.paint(Tone::Bad, "x\x1b[32mok\x1b[0m\n");
        assert_eq!(painted, "\x1b[31mx\\x1b[32mok\\x1b[0m\\n\x1b[0m");
        let plain = Output {
            colour: Colour::Plain,
            ..out
        };
        assert_eq!(plain.paint(Tone::Good, "ok"), "ok");
    }

    #[test]
    fn color_takes_auto_always_or_never_and_nothing_else() {
        assert_eq!("auto".parse::<ColorChoice>().unwrap(), ColorChoice::Auto);
        assert_eq!(
            "always".parse::<ColorChoice>().unwrap(),
            ColorChoice::Always
        );
        assert_eq!("never".parse::<ColorChoice>().unwrap(), ColorChoice::Never);
        for bad in ["yes", "Always", "", "1"] {
            let e = bad.parse::<ColorChoice>().unwrap_err().to_string();
            assert!(e.starts_with("invalid --color"), "{bad}: {e}");
        }
    }
}
