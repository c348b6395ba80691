//! Common names for certificate subjects.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A subject common name: 1 to 64 characters (the X.520 upper bound), no control, invisible or
/// direction-changing characters (see [`CommonName::from_str`]). Go ignores it for server
/// authentication; for clients it is the identity dockerd logs and authorization plugins see.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CommonName(String);

impl CommonName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CommonName {
    type Err = Error;

    /// Trims blanks and refuses an empty name, one longer than 64 characters, and one holding a
    /// character that changes how a line looks rather than what it says: control characters
    /// (C0, DEL, C1), bidirectional formatting (U+202E and kin, which reorder what a log or a
    /// terminal shows), zero-width characters (which make a second name look like the first)
    /// and line or paragraph separators. The name ends up in dockerd's logs, in authorization
    /// plugins and in every listing dockpki prints, where such characters could disguise it.
    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason: String| Error::InvalidCommonName {
            input: s.to_string(),
            reason,
        };
        let t = s.trim();
        if t.is_empty() {
            return Err(bad(
                "it is empty; give a name such as the user or machine the certificate is for"
                    .into(),
            ));
        }
        if t.chars().count() > 64 {
            return Err(bad("longer than the 64 characters X.509 allows".into()));
        }
        if let Some(c) = t.chars().find(|&c| disguising(c)) {
            return Err(bad(format!(
                "it contains the character U+{:04X}, a control, invisible or direction-changing character; use visible characters only",
                c as u32
            )));
        }
        Ok(CommonName(t.to_string()))
    }
}

/// Whether `c` changes how a name is shown rather than what it says: control characters,
/// bidirectional formatting, zero-width characters, line and paragraph separators.
fn disguising(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
        )
}

impl fmt::Display for CommonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for CommonName {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<CommonName> for String {
    fn from(c: CommonName) -> String {
        c.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_long_and_control_names_are_refused() {
        assert!("".parse::<CommonName>().is_err());
        assert!("   ".parse::<CommonName>().is_err());
        assert!("a".repeat(65).parse::<CommonName>().is_err());
        assert!("a\nb".parse::<CommonName>().is_err());
        assert_eq!(
            "a".repeat(64).parse::<CommonName>().unwrap().as_str().len(),
            64
        );
        assert_eq!(" alice ".parse::<CommonName>().unwrap().as_str(), "alice");
        assert!("Jürgen's laptop".parse::<CommonName>().is_ok());
    }

    #[test]
    fn invisible_and_direction_changing_characters_are_refused_and_named() {
        for (name, code) in [
            ("alice\u{202e}gpj.exe", "U+202E"),
            ("\u{2066}alice", "U+2066"),
            ("ali\u{200b}ce", "U+200B"),
            ("alice\u{2028}bob", "U+2028"),
            ("a\x1b[2Jb", "U+001B"),
            ("a\rb", "U+000D"),
            ("a\u{85}b", "U+0085"),
            ("\u{feff}alice", "U+FEFF"),
        ] {
            let err = name.parse::<CommonName>().expect_err(name).to_string();
            assert!(err.contains(code), "{name:?}: {err}");
            // The message shows the name escaped, never the raw character.
            assert!(!err.chars().any(disguising), "{err:?}");
        }
        // Right-to-left scripts themselves are fine; only the formatting controls are not.
        assert!("שלום".parse::<CommonName>().is_ok());
        assert!("مرحبا".parse::<CommonName>().is_ok());
    }
}
