//! The record of every certificate dockpki issued and where it was installed.

use std::path::{Path, PathBuf};

use dockpki::{CertInfo, KeyType, RevocationReason, Usage};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, Result};

/// The inventory format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// Whether a recorded certificate is still the one in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Installed and current.
    Active,
    /// Replaced by a newer certificate in the same layout.
    Superseded,
    /// Revoked with `dockpki revoke`: listed in the CRL, never renewed.
    Revoked,
}

/// One issued certificate.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    /// Serial number, lower-case hex.
    pub serial: String,
    /// Server or client.
    pub kind: Usage,
    /// Subject common name.
    pub common_name: Option<String>,
    /// SANs (server certificates).
    pub sans: Vec<String>,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// SHA-256 fingerprint of the certificate.
    pub sha256: String,
    /// Key algorithm.
    pub key_type: Option<KeyType>,
    /// SHA-256 fingerprint of the issuing CA certificate.
    pub ca_sha256: String,
    /// Layout directories the certificate was installed into.
    pub installed: Vec<PathBuf>,
    /// Active, superseded or revoked.
    pub status: Status,
    /// When it was revoked (revoked records only; absent in inventories written before
    /// revocation existed).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub revoked_at: Option<OffsetDateTime>,
    /// Why it was revoked, when a reason was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_reason: Option<RevocationReason>,
}

impl Record {
    /// A record for a certificate just issued by the CA with fingerprint `ca_sha256` and
    /// installed in the layouts `installed`.
    pub fn new(info: &CertInfo, kind: Usage, ca_sha256: &str, installed: Vec<PathBuf>) -> Record {
        Record {
            serial: info.serial.clone(),
            kind,
            common_name: info.common_name.clone(),
            sans: info.san_strings(),
            not_before: info.not_before,
            not_after: info.not_after,
            sha256: info.sha256_fingerprint.clone(),
            key_type: info.key_type,
            ca_sha256: ca_sha256.to_string(),
            installed,
            status: Status::Active,
            revoked_at: None,
            revocation_reason: None,
        }
    }
}

impl Record {
    /// Whether `query` names this record's serial: the whole serial or a prefix of it, in hex,
    /// ignoring case, colons and a leading `0x`, so that the short serial `dockpki status`
    /// prints and the colon form of `openssl x509 -serial` both work.
    pub fn serial_matches(&self, query: &str) -> bool {
        let q = normalize_serial(query);
        !q.is_empty() && normalize_serial(&self.serial).starts_with(&q)
    }

    /// Whether `query` is this record's whole serial (written as [`Record::serial_matches`]
    /// accepts it).
    pub fn serial_is(&self, query: &str) -> bool {
        let q = normalize_serial(query);
        !q.is_empty() && normalize_serial(&self.serial) == q
    }
}

/// The records a `--serial` query selects, as indices into [`Inventory::certificates`].
#[derive(Debug, PartialEq, Eq)]
pub struct SerialSelection {
    /// The selected records, oldest first.
    pub indices: Vec<usize>,
    /// Whether they match the whole serial (else only a prefix of it).
    pub exact: bool,
}

fn normalize_serial(s: &str) -> String {
    let s = s.trim();
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    s.chars()
        .filter(|&c| c != ':')
        .collect::<String>()
        .to_ascii_lowercase()
}

/// All records.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Inventory {
    /// Format version, [`FORMAT_VERSION`].
    pub version: u32,
    /// Every certificate issued, oldest first.
    pub certificates: Vec<Record>,
    /// Docker contexts made by `dockpki context create`, whose TLS files copy a client layout
    /// and are rewritten with it (absent in inventories written before contexts existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contexts: Vec<ContextRecord>,
}

/// A docker context dockpki owns: `DOCKER_CONFIG/contexts/{meta,tls}/<sha256 of name>/`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextRecord {
    /// The context name (`docker --context NAME`).
    pub name: String,
    /// The docker CLI configuration directory holding it.
    pub docker_config: PathBuf,
    /// The client layout whose `ca.pem`, `cert.pem` and `key.pem` it copies.
    pub client_dir: PathBuf,
    /// The daemon address, `tcp://HOST:PORT`.
    pub host: String,
    /// The description `docker context ls` shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Default for Inventory {
    fn default() -> Self {
        Inventory {
            version: FORMAT_VERSION,
            certificates: Vec::new(),
            contexts: Vec::new(),
        }
    }
}

impl Inventory {
    /// Parses the inventory file. A damaged file is an error, never silently replaced: it is the
    /// only record of where certificates went.
    ///
    /// # Errors
    /// When the file is not an inventory or has another format version.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Inventory> {
        let inv: Inventory = serde_json::from_slice(bytes).map_err(|e| {
            Error::new(format!(
                "the inventory {} is damaged ({e}); restore the previous version from {}.bak, or move it aside to start a new one",
                path.display(),
                path.display()
            ))
        })?;
        if inv.version != FORMAT_VERSION {
            return Err(Error::new(format!(
                "the inventory {} has format version {}, this dockpki reads version {FORMAT_VERSION}; use a matching dockpki",
                path.display(),
                inv.version
            )));
        }
        Ok(inv)
    }

    /// Adds a new active record, marking older active records of the same kind installed in
    /// the same layout as superseded.
    pub fn add(&mut self, record: Record) {
        for old in &mut self.certificates {
            if old.status == Status::Active
                && old.kind == record.kind
                && old.installed.iter().any(|d| record.installed.contains(d))
            {
                old.status = Status::Superseded;
            }
        }
        self.certificates.push(record);
    }

    /// The records among those `include` accepts that `query` names by serial: every one whose
    /// whole serial it is, else every one whose serial starts with it. A whole serial wins over
    /// prefixes because serials differ in length (DER drops leading zero bytes, and adds one
    /// before a high bit), so one certificate's full serial can begin another's: without this,
    /// typing the full serial would be "ambiguous".
    pub fn select_serial(&self, query: &str, include: impl Fn(&Record) -> bool) -> SerialSelection {
        let among = || {
            self.certificates
                .iter()
                .enumerate()
                .filter(|(_, r)| include(r))
        };
        let exact: Vec<usize> = among()
            .filter(|(_, r)| r.serial_is(query))
            .map(|(i, _)| i)
            .collect();
        if !exact.is_empty() {
            return SerialSelection {
                indices: exact,
                exact: true,
            };
        }
        SerialSelection {
            indices: among()
                .filter(|(_, r)| r.serial_matches(query))
                .map(|(i, _)| i)
                .collect(),
            exact: false,
        }
    }

    /// Serials recorded more than once, with how often, in order of first appearance. dockpki
    /// draws 128-bit random serials and records each certificate once, so a repeat means the
    /// file was damaged or edited by hand, and `--serial` could not tell the records apart.
    pub fn duplicate_serials(&self) -> Vec<(String, usize)> {
        let mut counts: Vec<(String, usize)> = Vec::new();
        let mut position: std::collections::HashMap<String, usize> = Default::default();
        for r in &self.certificates {
            let key = normalize_serial(&r.serial);
            match position.get(&key) {
                Some(&i) => counts[i].1 += 1,
                None => {
                    position.insert(key.clone(), counts.len());
                    counts.push((key, 1));
                }
            }
        }
        counts.retain(|(_, n)| *n > 1);
        counts
    }

    /// Marks `self.certificates[index]` revoked at `at`.
    pub fn revoke(&mut self, index: usize, at: OffsetDateTime, reason: Option<RevocationReason>) {
        if let Some(record) = self.certificates.get_mut(index) {
            record.status = Status::Revoked;
            record.revoked_at = Some(at);
            record.revocation_reason = reason;
        }
    }

    /// Pretty JSON with a trailing newline.
    ///
    /// # Errors
    /// When a value cannot be written as JSON (a path that is not UTF-8); refused before
    /// anything is staged, instead of writing an empty inventory that reads as damaged.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = serde_json::to_vec_pretty(self).map_err(|e| {
            Error::new(format!(
                "cannot record the inventory ({e}); every path dockpki records must be UTF-8"
            ))
        })?;
        out.push(b'\n');
        Ok(out)
    }
}

#[cfg(test)]
impl Record {
    /// A client record with `serial`, `name` and `status` and nothing else, for unit tests.
    pub(crate) fn for_test(serial: &str, name: &str, status: Status) -> Record {
        let t = OffsetDateTime::UNIX_EPOCH;
        Record {
            serial: serial.into(),
            kind: Usage::Client,
            common_name: Some(name.into()),
            sans: Vec::new(),
            not_before: t,
            not_after: t,
            sha256: String::new(),
            key_type: None,
            ca_sha256: String::new(),
            installed: Vec::new(),
            status,
            revoked_at: None,
            revocation_reason: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(serial: &str, status: Status) -> Record {
        Record::for_test(serial, "a", status)
    }

    fn inventory(serials: &[(&str, Status)]) -> Inventory {
        Inventory {
            certificates: serials.iter().map(|(s, st)| record(s, *st)).collect(),
            ..Inventory::default()
        }
    }

    #[test]
    fn a_whole_serial_wins_over_a_longer_serial_it_begins() {
        let inv = inventory(&[("abcd", Status::Active), ("abcd01", Status::Active)]);
        let all = |_: &Record| true;
        assert_eq!(
            inv.select_serial("abcd", all),
            SerialSelection {
                indices: vec![0],
                exact: true
            }
        );
        assert_eq!(
            inv.select_serial("AB:CD:01", all),
            SerialSelection {
                indices: vec![1],
                exact: true
            }
        );
        assert_eq!(
            inv.select_serial("ab", all),
            SerialSelection {
                indices: vec![0, 1],
                exact: false
            }
        );
        assert!(inv.select_serial("ff", all).indices.is_empty());
        assert!(inv.select_serial("", all).indices.is_empty());
    }

    #[test]
    fn serial_selection_only_looks_at_the_records_included() {
        let inv = inventory(&[("abcd", Status::Superseded), ("abcd01", Status::Active)]);
        let active = |r: &Record| r.status == Status::Active;
        assert_eq!(
            inv.select_serial("abcd", active),
            SerialSelection {
                indices: vec![1],
                exact: false
            }
        );
    }

    #[test]
    fn repeated_serials_are_found_whatever_their_spelling() {
        let inv = inventory(&[
            ("aa", Status::Active),
            ("bb", Status::Active),
            ("AA", Status::Superseded),
            ("aa", Status::Revoked),
        ]);
        assert_eq!(inv.duplicate_serials(), vec![("aa".to_string(), 3)]);
        assert!(inventory(&[("aa", Status::Active)])
            .duplicate_serials()
            .is_empty());
    }
}

/// Fuzz-style tests of the inventory parser, the one parser of outside input that lives in the
/// CLI (the cargo-fuzz targets in `fuzz/` link the library only). Any bytes, and any mutation of
/// a real inventory, must give an inventory or the one-line "damaged" error, never a panic.
#[cfg(test)]
mod fuzz {
    use super::Inventory;
    use proptest::prelude::*;
    use std::path::Path;

    // Written by `dockpki issue client`, compacted.
    const REAL: &str = r#"{"version":1,"certificates":[{"serial":"57dabbb47a44d89bde72ee2dbbeed4d0","kind":"client","common_name":"a","sans":[],"not_before":"2026-11-29T02:19:09Z","not_after":"2027-02-27T02:24:09Z","sha256":"D5:72:6F:AD:5A:14:CF:72:49:B6:A3:67:68:F1:6D:61:60:32:1A:49:FA:83:CA:BD:94:10:7E:40:77:F6:DC:82","key_type":"ecdsa-p256","ca_sha256":"13:F8:AD:C8:46:03:87:BF:5E:E4:CB:81:05:20:A7:07:A0:26:26:BC:2E:DA:B3:15:E8:96:FB:ED:F2:69:F4:64","installed":["/tmp/encdemo/c"],"status":"active"}]}"#;

    fn check(bytes: &[u8]) {
        if let Err(e) = Inventory::parse(Path::new("inventory.json"), bytes) {
            let message = e.to_string();
            assert!(!message.contains('\n'), "{message}");
            assert!(message.contains("inventory.json"), "{message}");
        }
    }

    #[test]
    fn the_seed_is_a_valid_inventory() {
        let inv = Inventory::parse(Path::new("inventory.json"), REAL.as_bytes()).unwrap();
        assert_eq!(inv.certificates.len(), 1);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn any_bytes_parse_or_give_the_damaged_error(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            check(&bytes);
        }

        #[test]
        fn mutated_real_inventories_parse_or_give_the_damaged_error(
            cuts in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
        ) {
            let mut v = REAL.as_bytes().to_vec();
            for (at, byte, op) in cuts {
                let i = at.index(v.len());
                match op {
                    0 => v[i] = byte,
                    1 => { v.remove(i); }
                    _ => v.insert(i, byte),
                }
            }
            check(&v);
        }
    }
}
