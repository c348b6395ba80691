//! Common names for certificate subjects.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A subject common name: 1 to 64 characters (the X.520 upper bound), no control characters.
/// Go ignores it for server authentication; for clients it is the identity dockerd logs and
/// authorization plugins see.
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

    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason| Error::InvalidCommonName {
            input: s.to_string(),
            reason,
        };
        let t = s.trim();
        if t.is_empty() {
            return Err(bad(
                "it is empty; give a name such as the user or machine the certificate is for",
            ));
        }
        if t.chars().count() > 64 {
            return Err(bad("longer than the 64 characters X.509 allows"));
        }
        if t.chars().any(char::is_control) {
            return Err(bad("it contains control characters"));
        }
        Ok(CommonName(t.to_string()))
    }
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
}
