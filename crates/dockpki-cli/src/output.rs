//! Printing: JSON for machines, text for people.

use std::io::Write;

use serde::Serialize;

/// How the user wants results.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    /// One JSON document on stdout.
    pub json: bool,
    /// Report successful writes in text mode.
    pub verbose: bool,
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
/// name paths and values read from files, which must not be able to forge a line.
pub fn note(message: impl std::fmt::Display) {
    eprintln!("dockpki: {}", escape(&message.to_string()));
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
