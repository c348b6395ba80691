//! Certificate fingerprints: the SHA-256 of the DER, with one rule for reading and comparing them.

use std::fmt;
use std::str::FromStr;

use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The SHA-256 fingerprint of a certificate: the digest of its DER encoding, as
/// `openssl x509 -fingerprint -sha256` computes it.
///
/// It displays (and serialises) as upper-case hex pairs joined by colons, the form `dockpki`
/// has always printed and recorded. It parses from upper- or lower-case hex, with or without
/// the colons; two fingerprints are equal when their 32 bytes are, however they were written.
/// That is the one comparison rule: compare `Fingerprint`s (or use [`Fingerprint::matches`]),
/// never their text.
///
/// ```
/// use dockpki::Fingerprint;
/// let upper: Fingerprint =
///     "D5:72:6F:AD:5A:14:CF:72:49:B6:A3:67:68:F1:6D:61:60:32:1A:49:FA:83:CA:BD:94:10:7E:40:77:F6:DC:82"
///         .parse()?;
/// let bare: Fingerprint = "d5726fad5a14cf7249b6a36768f16d6160321a49fa83cabd94107e4077f6dc82".parse()?;
/// assert_eq!(upper, bare);
/// assert_eq!(bare.to_string(), upper.to_string());
/// assert!(upper.matches("d5:72:6f:ad:5a:14:cf:72:49:b6:a3:67:68:f1:6d:61:60:32:1a:49:fa:83:ca:bd:94:10:7e:40:77:f6:dc:82"));
/// # Ok::<(), dockpki::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Fingerprint([u8; Fingerprint::LEN]);

impl Fingerprint {
    /// The length of a SHA-256 digest in bytes.
    pub const LEN: usize = 32;

    /// The fingerprint of a DER certificate.
    pub fn of(cert: &CertificateDer<'_>) -> Fingerprint {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert.as_ref());
        let mut bytes = [0u8; Fingerprint::LEN];
        bytes.copy_from_slice(digest.as_ref());
        Fingerprint(bytes)
    }

    /// The fingerprint made of these digest bytes.
    pub fn from_bytes(bytes: [u8; Fingerprint::LEN]) -> Fingerprint {
        Fingerprint(bytes)
    }

    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8; Fingerprint::LEN] {
        &self.0
    }

    /// Whether `text` is this fingerprint in any spelling [`Fingerprint::from_str`] accepts;
    /// text that is not a fingerprint at all matches nothing.
    pub fn matches(&self, text: &str) -> bool {
        text.parse::<Fingerprint>()
            .is_ok_and(|other| other == *self)
    }
}

impl FromStr for Fingerprint {
    type Err = Error;

    /// Reads 32 bytes written as hex, upper or lower case, either as 64 digits in a row or as
    /// 32 pairs separated by single colons. Surrounding blanks are ignored.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidFingerprint`] for anything else: another length (a SHA-1 fingerprint has
    /// 20 bytes), a character that is not a hex digit, or colons in other places.
    fn from_str(input: &str) -> Result<Self> {
        let bad = |reason: String| Error::InvalidFingerprint {
            input: input.to_string(),
            reason,
        };
        let text = input.trim();
        if let Some(c) = text.chars().find(|c| !(c.is_ascii_hexdigit() || *c == ':')) {
            return Err(bad(format!("{c:?} is neither a hex digit nor a colon")));
        }
        // Only ASCII from here on, so byte offsets are character offsets.
        let pairs: Vec<&str> = if text.contains(':') {
            let pairs: Vec<&str> = text.split(':').collect();
            if let Some(p) = pairs.iter().find(|p| p.len() != 2) {
                return Err(bad(format!(
                    "{p:?} between colons is not a pair of hex digits"
                )));
            }
            pairs
        } else {
            if !text.len().is_multiple_of(2) {
                return Err(bad(format!(
                    "{} hex digits do not make whole bytes",
                    text.len()
                )));
            }
            (0..text.len())
                .step_by(2)
                .map(|i| &text[i..i + 2])
                .collect()
        };
        if pairs.len() != Fingerprint::LEN {
            return Err(bad(format!(
                "it holds {} bytes, a SHA-256 fingerprint holds {}",
                pairs.len(),
                Fingerprint::LEN
            )));
        }
        let mut bytes = [0u8; Fingerprint::LEN];
        for (byte, pair) in bytes.iter_mut().zip(&pairs) {
            *byte = u8::from_str_radix(pair, 16)
                .map_err(|_| bad(format!("{pair:?} is not a pair of hex digits")))?;
        }
        Ok(Fingerprint(bytes))
    }
}

impl fmt::Display for Fingerprint {
    /// Upper-case hex pairs joined by colons, as `openssl x509 -fingerprint` prints them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl TryFrom<String> for Fingerprint {
    type Error = Error;

    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Fingerprint> for String {
    fn from(f: Fingerprint) -> String {
        f.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPPER: &str =
        "D5:72:6F:AD:5A:14:CF:72:49:B6:A3:67:68:F1:6D:61:60:32:1A:49:FA:83:CA:BD:94:10:7E:40:77:F6:DC:82";

    #[test]
    fn every_accepted_spelling_parses_to_the_same_fingerprint() {
        let reference: Fingerprint = UPPER.parse().unwrap();
        let bare_upper = UPPER.replace(':', "");
        let mixed: String = UPPER
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_lowercase()
                } else {
                    c
                }
            })
            .collect();
        for spelling in [
            UPPER.to_string(),
            UPPER.to_ascii_lowercase(),
            bare_upper.clone(),
            bare_upper.to_ascii_lowercase(),
            mixed,
            format!("  {UPPER}\n"),
        ] {
            let parsed: Fingerprint = spelling.parse().expect(&spelling);
            assert_eq!(parsed, reference, "{spelling}");
            assert!(reference.matches(&spelling), "{spelling}");
        }
    }

    #[test]
    fn display_and_serde_are_upper_case_hex_with_colons() {
        let fp: Fingerprint = UPPER.to_ascii_lowercase().replace(':', "").parse().unwrap();
        assert_eq!(fp.to_string(), UPPER);
        assert_eq!(serde_json::to_string(&fp).unwrap(), format!("\"{UPPER}\""));
        assert_eq!(
            serde_json::from_str::<Fingerprint>(&format!("\"{}\"", UPPER.to_lowercase())).unwrap(),
            fp
        );
    }

    #[test]
    fn wrong_lengths_and_non_hex_are_refused() {
        let sha1 = "A9:99:3E:36:47:06:81:6A:BA:3E:25:71:78:50:C2:6C:9C:D0:D8:9D";
        let bare = UPPER.replace(':', "");
        for bad in [
            String::new(),
            sha1.to_string(),
            sha1.replace(':', ""),
            format!("{UPPER}:00"),
            bare[..62].to_string(),
            format!("{bare}0"),
            format!("{bare}00"),
            UPPER.replacen("D5", "G5", 1),
            bare.replacen("D5", "D-", 1),
            bare.replacen("D5", "+5", 1),
            UPPER.replacen("D5:", "D5::", 1),
            UPPER.replacen(":72", ":7:2", 1),
            UPPER.replacen("D5:72", "D572", 1),
            bare.replacen("D5", "é", 1),
            format!("sha256:{bare}"),
        ] {
            let err = bad.parse::<Fingerprint>().expect_err(&bad);
            assert!(
                matches!(err, Error::InvalidFingerprint { .. }),
                "{bad}: {err}"
            );
            assert!(
                !UPPER.parse::<Fingerprint>().unwrap().matches(&bad),
                "{bad}"
            );
        }
        let err = sha1.parse::<Fingerprint>().unwrap_err().to_string();
        assert!(err.contains("20 bytes"), "{err}");
    }

    #[test]
    fn fingerprint_of_a_certificate_is_the_sha256_of_its_der() {
        let der = CertificateDer::from(b"not really a certificate".to_vec());
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der.as_ref());
        assert_eq!(Fingerprint::of(&der).as_bytes().as_slice(), digest.as_ref());
        assert_ne!(
            Fingerprint::of(&der),
            Fingerprint::of(&CertificateDer::from(b"another".to_vec()))
        );
    }
}
