//! Text that leaves the engine: strings from outside made safe to show, and values quoted for a
//! shell. The engine prints nothing itself; its messages name paths and values from files and
//! certificates, and callers show them through [`escape`].

use std::borrow::Cow;

/// `s` made safe to print as text: every control character (C0, DEL, C1) and every Unicode
/// bidirectional-formatting character is shown as an escape (`\n`, `\r`, `\t`, `\x1b`,
/// `\u{202e}`), so that text from outside (certificate fields, daemon answers, file contents,
/// paths read from files) can neither start a new line that looks like dockpki's own output,
/// nor move the cursor, clear the screen, set the window title, or reorder what is shown.
/// Everything else, backslashes included, is printed as it is. JSON output never needs this:
/// serde_json escapes control characters itself and the value stays exact.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) && (c as u32) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Whether [`escape`] rewrites `c`.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// Whether `s` prints as itself: [`escape`] would leave it unchanged.
pub fn is_printable(s: &str) -> bool {
    !s.chars().any(needs_escape)
}

/// Refuses `value`, given as `what` (e.g. `--host`), when it holds a character [`escape`] would
/// rewrite. For values printed into shell code or written where no escape can be shown (the
/// address of a daemon, a directory named in an `export` line): such a value cannot be printed
/// faithfully and safely, and no daemon address or sane directory name holds one.
///
/// # Errors
/// When `value` holds a control or bidirectional-formatting character.
pub fn refuse_unprintable(what: &str, value: &str) -> crate::Result<()> {
    if is_printable(value) {
        return Ok(());
    }
    Err(crate::Error::new(format!(
        "{what} \"{}\" contains a control or bidirectional-formatting character (shown escaped); give it without one",
        escape(value)
    )))
}

/// Quotes `s` for a POSIX shell when it needs quoting.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-:+@%=,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A duration for people, in its two largest units: `2d 8h`, `30d`, `5h 30m`, `45s`.
pub fn describe_duration(d: time::Duration) -> String {
    let secs = d.whole_seconds().max(0);
    let (days, hours, minutes, seconds) = (
        secs / 86_400,
        secs % 86_400 / 3_600,
        secs % 3_600 / 60,
        secs % 60,
    );
    let parts: Vec<String> = [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")]
        .iter()
        .skip_while(|(n, _)| *n == 0)
        .take(2)
        .filter(|(n, _)| *n != 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if parts.is_empty() {
        "0s".to_string()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::{describe_duration, escape, is_printable, refuse_unprintable, shell_quote};

    #[test]
    fn escape_shows_every_control_and_bidi_character_and_leaves_the_rest() {
        assert_eq!(escape("plain /path's \\ text é"), "plain /path's \\ text é");
        assert_eq!(escape("a\nerror: forged"), "a\\nerror: forged");
        assert_eq!(
            escape("\x1b[2J\x1b]0;title\x07"),
            "\\x1b[2J\\x1b]0;title\\x07"
        );
        assert_eq!(escape("\r\t\x7f\u{85}"), "\\r\\t\\x7f\\u{85}");
        assert_eq!(escape("evil\u{202e}txt.pem"), "evil\\u{202e}txt.pem");
        assert_eq!(escape("\u{2066}x\u{2069}"), "\\u{2066}x\\u{2069}");
    }

    #[test]
    fn unprintable_values_are_refused_and_shown_escaped() {
        assert!(is_printable("tcp://docker.example.com:2376 'q' $x é"));
        for bad in ["a\nb", "a\x1b[2J", "a\rb", "a\u{202e}b", "a\u{85}"] {
            assert!(!is_printable(bad), "{bad:?}");
            let msg = refuse_unprintable("--host", bad).unwrap_err().to_string();
            assert!(msg.starts_with("--host \""), "{msg}");
            assert!(is_printable(&msg), "{msg:?}");
        }
        assert!(refuse_unprintable("--host", "tcp://h:2376").is_ok());
    }

    #[test]
    fn shell_quote_leaves_plain_paths_and_quotes_the_rest() {
        assert_eq!(shell_quote("/home/a/.docker"), "/home/a/.docker");
        assert_eq!(shell_quote("/tmp/my dir"), "'/tmp/my dir'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn a_duration_is_described_in_its_two_largest_units() {
        use time::Duration;
        assert_eq!(describe_duration(Duration::days(7) / 3), "2d 8h");
        assert_eq!(describe_duration(Duration::days(30)), "30d");
        assert_eq!(describe_duration(Duration::minutes(330)), "5h 30m");
        assert_eq!(describe_duration(Duration::seconds(45)), "45s");
        assert_eq!(describe_duration(Duration::ZERO), "0s");
    }
}
