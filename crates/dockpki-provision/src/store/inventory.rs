//! The record of every certificate dockpki issued and where it was installed.

use std::path::{Path, PathBuf};

use dockpki::{CertInfo, KeyType, RevocationReason, Usage};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, Result};

/// The format version of an inventory file that holds the whole inventory: nothing follows it.
/// dockpki writes it while the inventory is small (below [`DELTA_FROM_BYTES`]).
pub const FORMAT_VERSION: u32 = 1;

/// The format version of an inventory file that certificates issued since it was written may
/// follow, in the delta file next to it (`inventory.delta.json`, see [`Delta`]). The records are
/// written the same way; the file also carries a random `id` that the delta names, so that a
/// delta is only ever applied to the file it extends. A dockpki that reads only version 1
/// refuses it, instead of missing what the delta records.
pub const FORMAT_VERSION_WITH_DELTA: u32 = 2;

/// From this size on, the inventory file is written as [`FORMAT_VERSION_WITH_DELTA`], and a
/// certificate issued into it is recorded by rewriting the small delta file instead of the
/// whole inventory (128 KiB: about 200 certificates).
pub const DELTA_FROM_BYTES: usize = 128 << 10;

/// The most a delta file grows to: the certificate that would take it past this is recorded
/// by writing the whole inventory again, with an empty delta (64 KiB: about 100 certificates).
/// So issuing costs rewriting at most this much, and every hundredth issue or so costs one
/// rewrite of the whole inventory.
pub const DELTA_LIMIT_BYTES: usize = 64 << 10;

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
    /// For a certificate signed from a request (`dockpki sign`) whose key stays on another host:
    /// which host, the request (to sign it again on renewal) and where the certificate was
    /// delivered. Such a record has no [`Record::installed`] layout: dockpki never sees its
    /// key. Absent for certificates dockpki installed itself, and in inventories written before
    /// requests existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteInfo>,
}

/// Where a certificate signed from a request went (see [`Record::remote`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteInfo {
    /// The host that holds the key: the label given to `dockpki sign --host`, else the
    /// request's common name.
    pub host: String,
    /// The certificate signing request in PEM: public data only, kept so that the same key can
    /// be certified again.
    pub csr_pem: String,
    /// The directory the certificate and CA bundle were written to, for the fleet to deliver.
    pub out: PathBuf,
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
            remote: None,
        }
    }
}

/// Where a certificate is in use: one of a record's layouts, or the remote host it was signed
/// for. A newer certificate of the same kind in the same place supersedes the older one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Place {
    Layout(PathBuf),
    Remote(String),
}

impl Record {
    fn places(&self) -> Vec<Place> {
        self.installed
            .iter()
            .cloned()
            .map(Place::Layout)
            .chain(self.remote.iter().map(|r| Place::Remote(r.host.clone())))
            .collect()
    }

    /// The host holding the key of a certificate signed from a request (see [`RemoteInfo`]).
    pub fn remote_host(&self) -> Option<&str> {
        self.remote.as_ref().map(|r| r.host.as_str())
    }

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

/// What an inventory file holds: the inventory, and for [`FORMAT_VERSION_WITH_DELTA`] the id a
/// delta must name to apply to it.
#[derive(Deserialize)]
struct InventoryFile {
    version: u32,
    #[serde(default)]
    id: Option<String>,
    certificates: Vec<Record>,
    #[serde(default)]
    contexts: Vec<ContextRecord>,
}

/// The first line of an inventory file dockpki wrote: everything but the certificates, which
/// follow one per line. Read alone, it gives the contexts and the delta's id without parsing
/// thousands of records.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Header {
    pub(crate) version: u32,
    #[serde(default)]
    pub(crate) id: Option<String>,
    // Required: a first line without them is not a header dockpki wrote, and the contexts may
    // be further down the file.
    pub(crate) contexts: Vec<ContextRecord>,
    certificates: Vec<serde::de::IgnoredAny>,
}

impl Header {
    /// The header in `line`, the first line of an inventory file (with or without its newline),
    /// if it is one dockpki wrote: `{"version":…,"contexts":[…],"certificates":[`. `None` for
    /// anything else (a file written by an older dockpki, or edited by hand), which the caller
    /// then reads whole.
    pub(crate) fn parse(line: &[u8]) -> Option<Header> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        if !line.ends_with(b"\"certificates\":[") {
            return None;
        }
        let mut closed = line.to_vec();
        closed.extend_from_slice(b"]}");
        let header: Header = serde_json::from_slice(&closed).ok()?;
        let known = header.version == FORMAT_VERSION
            || (header.version == FORMAT_VERSION_WITH_DELTA && header.id.is_some());
        (known && header.certificates.is_empty()).then_some(header)
    }
}

/// The certificates issued since an inventory file of version [`FORMAT_VERSION_WITH_DELTA`] was
/// written, kept in `inventory.delta.json` next to it. Reading the inventory adds them, in order,
/// as [`Inventory::add`] does (which marks the records they replace superseded); a delta that
/// names another file's id is left out (it belongs to a file that was restored from a backup
/// since, or replaced).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Delta {
    /// Format version, [`FORMAT_VERSION_WITH_DELTA`].
    pub version: u32,
    /// The id of the inventory file it extends.
    pub snapshot: String,
    /// The certificates issued since, oldest first.
    pub certificates: Vec<Record>,
}

impl Delta {
    /// An empty delta for the inventory file with id `snapshot`.
    pub fn empty(snapshot: &str) -> Delta {
        Delta {
            version: FORMAT_VERSION_WITH_DELTA,
            snapshot: snapshot.to_string(),
            certificates: Vec::new(),
        }
    }

    /// Parses a delta file. A damaged delta is an error, like a damaged inventory.
    ///
    /// # Errors
    /// One line naming the file and its backup when it is not a delta of this version.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Delta> {
        let delta: Delta = serde_json::from_slice(bytes).map_err(|e| damaged(path, &e))?;
        if delta.version != FORMAT_VERSION_WITH_DELTA {
            return Err(Error::new(format!(
                "the inventory delta {} has format version {}, this dockpki reads version {FORMAT_VERSION_WITH_DELTA}; use a matching dockpki",
                path.display(),
                delta.version
            )));
        }
        Ok(delta)
    }

    /// The file: a header line, then one certificate per line.
    ///
    /// # Errors
    /// As [`Inventory::to_bytes`].
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        out.extend_from_slice(format!("{{\"version\":{},\"snapshot\":", self.version).as_bytes());
        serde_json::to_writer(&mut out, &self.snapshot).map_err(unwritable)?;
        out.extend_from_slice(b",\"certificates\":[");
        records_lines(&mut out, &self.certificates)?;
        out.extend_from_slice(b"]}\n");
        Ok(out)
    }
}

/// Writes `records` one per line (after the opening bracket's line), ending with a newline.
fn records_lines(out: &mut Vec<u8>, records: &[Record]) -> Result<()> {
    for (i, record) in records.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"\n" } else { b",\n" });
        serde_json::to_writer(&mut *out, record).map_err(unwritable)?;
    }
    out.push(b'\n');
    Ok(())
}

fn unwritable(e: serde_json::Error) -> Error {
    Error::new(format!(
        "cannot record the inventory ({e}); every path dockpki records must be UTF-8"
    ))
}

fn damaged(path: &Path, e: &dyn std::fmt::Display) -> Error {
    Error::new(format!(
        "the inventory {} is damaged ({e}); restore the previous version from {}.bak, or move it aside to start a new one",
        path.display(),
        path.display()
    ))
}

impl Inventory {
    /// Parses the inventory file (either version; for [`FORMAT_VERSION_WITH_DELTA`] without
    /// its delta, which [`crate::store::State::load_inventory`] adds). A damaged file is an
    /// error, never silently replaced: it is the only record of where certificates went.
    ///
    /// # Errors
    /// One line naming the file and its backup when it is damaged or of an unknown version.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Inventory> {
        Ok(Inventory::parse_with_id(path, bytes)?.0)
    }

    /// [`Inventory::parse`], also returning the file's id (version 2 only).
    pub(crate) fn parse_with_id(path: &Path, bytes: &[u8]) -> Result<(Inventory, Option<String>)> {
        let file: InventoryFile = serde_json::from_slice(bytes).map_err(|e| damaged(path, &e))?;
        match (file.version, &file.id) {
            (FORMAT_VERSION, _) | (FORMAT_VERSION_WITH_DELTA, Some(_)) => {}
            (FORMAT_VERSION_WITH_DELTA, None) => {
                return Err(damaged(path, &"version 2 without an id"));
            }
            (v, _) => {
                return Err(Error::new(format!(
                    "the inventory {} has format version {v}, this dockpki reads versions {FORMAT_VERSION} and {FORMAT_VERSION_WITH_DELTA}; use a matching dockpki",
                    path.display(),
                )))
            }
        }
        // Only version 2 may have a delta: an id in a version 1 file (edited by hand) is not one.
        let id = file
            .id
            .filter(|_| file.version == FORMAT_VERSION_WITH_DELTA);
        Ok((
            Inventory {
                version: file.version,
                certificates: file.certificates,
                contexts: file.contexts,
            },
            id,
        ))
    }

    /// Adds the certificates of `delta` in order, as they were issued.
    pub fn apply(&mut self, delta: Delta) {
        self.add_all(delta.certificates);
    }

    /// Adds new active records in order, exactly as [`Inventory::add`] one after the other
    /// would, in time that grows with the number of records rather than with its square: a
    /// renewal of thousands of certificates must not compare each with every other.
    pub fn add_all(&mut self, records: impl IntoIterator<Item = Record>) {
        use std::collections::HashMap;
        // Every active record, by kind and place (layout directory or remote host).
        let mut active: HashMap<(Usage, Place), Vec<usize>> = HashMap::new();
        for (i, r) in self.certificates.iter().enumerate() {
            if r.status == Status::Active {
                for place in r.places() {
                    active.entry((r.kind, place)).or_default().push(i);
                }
            }
        }
        for record in records {
            for place in record.places() {
                // A record listed under several directories may already be superseded
                // through another one: only active records change.
                for i in active.remove(&(record.kind, place)).unwrap_or_default() {
                    if self.certificates[i].status == Status::Active {
                        self.certificates[i].status = Status::Superseded;
                    }
                }
            }
            let i = self.certificates.len();
            for place in record.places() {
                active.entry((record.kind, place)).or_default().push(i);
            }
            self.certificates.push(record);
        }
    }

    /// Adds a new active record, marking older active records of the same kind installed in
    /// the same layout (or signed for the same remote host) as superseded.
    pub fn add(&mut self, record: Record) {
        let places = record.places();
        for old in &mut self.certificates {
            if old.status == Status::Active
                && old.kind == record.kind
                && old.places().iter().any(|p| places.contains(p))
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

    /// The file of version [`FORMAT_VERSION`]: JSON, with a first line holding everything but
    /// the certificates (see [`Inventory::to_bytes_with_id`]), then one certificate per line.
    ///
    /// # Errors
    /// When a value cannot be written as JSON (a path that is not UTF-8); refused before
    /// anything is staged, instead of writing an empty inventory that reads as damaged.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.to_bytes_with_id(None)
    }

    /// The file: version [`FORMAT_VERSION_WITH_DELTA`] with `id` when given, else version
    /// [`FORMAT_VERSION`]. The first line is `{"version":…,"id":…,"contexts":[…],
    /// "certificates":[` (one line whatever the contexts, so that it can be read alone), each
    /// certificate follows on a line of its own, and the file ends with `]}`: one JSON document
    /// that `jq` reads, and that `grep` and `diff` show a certificate at a time.
    ///
    /// # Errors
    /// As [`Inventory::to_bytes`].
    pub fn to_bytes_with_id(&self, id: Option<&str>) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(256 + self.certificates.len() * 640);
        match id {
            Some(id) => {
                out.extend_from_slice(
                    format!("{{\"version\":{FORMAT_VERSION_WITH_DELTA},\"id\":").as_bytes(),
                );
                serde_json::to_writer(&mut out, id).map_err(unwritable)?;
            }
            None => out.extend_from_slice(format!("{{\"version\":{FORMAT_VERSION}").as_bytes()),
        }
        out.extend_from_slice(b",\"contexts\":");
        serde_json::to_writer(&mut out, &self.contexts).map_err(unwritable)?;
        out.extend_from_slice(b",\"certificates\":[");
        records_lines(&mut out, &self.certificates)?;
        out.extend_from_slice(b"]}\n");
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
            remote: None,
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

    fn context(name: &str) -> ContextRecord {
        ContextRecord {
            name: name.into(),
            docker_config: "/root/.docker".into(),
            client_dir: "/root/.docker".into(),
            host: "tcp://example.com:2376".into(),
            description: Some("a line\nbreak".into()),
        }
    }

    #[test]
    fn the_first_line_of_a_written_inventory_holds_everything_but_the_certificates() {
        let mut inv = inventory(&[("aa", Status::Active), ("bb", Status::Superseded)]);
        inv.contexts = vec![context("a"), context("b")];
        for id in [None, Some("ab01")] {
            let bytes = inv.to_bytes_with_id(id).unwrap();
            let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
            // Header, one line per certificate, the closing line, and the final newline.
            assert_eq!(lines.len(), 5, "{}", String::from_utf8_lossy(&bytes));
            let header = Header::parse(lines[0]).expect("a header");
            assert_eq!(header.contexts, inv.contexts);
            assert_eq!(header.id.as_deref(), id);
            assert_eq!(
                header.version,
                if id.is_some() {
                    FORMAT_VERSION_WITH_DELTA
                } else {
                    FORMAT_VERSION
                }
            );
            let (read, read_id) = Inventory::parse_with_id(Path::new("i"), &bytes).unwrap();
            assert_eq!(read_id.as_deref(), id);
            assert_eq!(read.contexts, inv.contexts);
            let serials: Vec<&str> = read
                .certificates
                .iter()
                .map(|r| r.serial.as_str())
                .collect();
            assert_eq!(serials, ["aa", "bb"]);
            assert_eq!(read.certificates[1].status, Status::Superseded);
        }
        // No certificates: still one document.
        let empty = Inventory::default().to_bytes().unwrap();
        assert!(Inventory::parse(Path::new("i"), &empty)
            .unwrap()
            .certificates
            .is_empty());
        assert!(Header::parse(&empty[..empty.iter().position(|&b| b == b'\n').unwrap()]).is_some());
    }

    #[test]
    fn a_first_line_dockpki_did_not_write_as_a_header_is_not_taken_for_one() {
        for line in [
            &b"{"[..],
            br#"{"version":1,"certificates":["#,
            br#"{"version":2,"contexts":[],"certificates":["#,
            br#"{"version":3,"id":"a","contexts":[],"certificates":["#,
            br#"{"version":1,"contexts":[],"other":1,"certificates":["#,
            br#"{"version":1,"contexts":[],"certificates":[{"serial":"a"}"#,
            br#"{"version":1,"contexts":[],"certificates":[]}"#,
        ] {
            assert!(
                Header::parse(line).is_none(),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn the_version_decides_whether_an_id_is_needed_and_others_are_refused() {
        let e = Inventory::parse(
            Path::new("inventory.json"),
            br#"{"version":2,"certificates":[]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("damaged"), "{e}");
        let e = Inventory::parse(
            Path::new("inventory.json"),
            br#"{"version":3,"certificates":[]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("reads versions 1 and 2"), "{e}");
        let (_, id) = Inventory::parse_with_id(
            Path::new("i"),
            br#"{"version":1,"id":"a","certificates":[]}"#,
        )
        .unwrap();
        assert_eq!(id, None, "a version 1 file has no delta");
        let e = Delta::parse(
            Path::new("d"),
            br#"{"version":1,"snapshot":"a","certificates":[]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("format version 1"), "{e}");
    }

    #[test]
    fn a_delta_reads_back_as_written_and_applies_like_adding() {
        let delta = Delta {
            version: FORMAT_VERSION_WITH_DELTA,
            snapshot: "ab".into(),
            certificates: vec![record("cc", Status::Active)],
        };
        let read = Delta::parse(Path::new("d"), &delta.to_bytes().unwrap()).unwrap();
        assert_eq!(read.snapshot, "ab");
        let mut inv = inventory(&[("aa", Status::Active)]);
        inv.apply(read);
        // Same kind, same (empty) layout list: nothing shared, so nothing superseded.
        assert_eq!(inv.certificates.len(), 2);
        let mut shared = inventory(&[("aa", Status::Active)]);
        shared.certificates[0].installed = vec!["/l".into()];
        let mut again = record("cc", Status::Active);
        again.installed = vec!["/l".into()];
        shared.apply(Delta {
            certificates: vec![again],
            ..delta
        });
        assert_eq!(shared.certificates[0].status, Status::Superseded);
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

/// [`Inventory::add_all`] must be [`Inventory::add`] one after the other, whatever the layouts
/// shared, the kinds and the statuses already there.
#[cfg(test)]
mod add_all {
    use super::*;
    use proptest::prelude::*;

    fn record(kind: bool, dirs: &[u8], status: u8) -> Record {
        let t = OffsetDateTime::UNIX_EPOCH;
        Record {
            serial: String::new(),
            kind: if kind { Usage::Server } else { Usage::Client },
            common_name: None,
            sans: Vec::new(),
            not_before: t,
            not_after: t,
            sha256: String::new(),
            key_type: None,
            ca_sha256: String::new(),
            installed: dirs
                .iter()
                .map(|d| PathBuf::from(format!("/l{d}")))
                .collect(),
            status: match status {
                0 => Status::Active,
                1 => Status::Superseded,
                _ => Status::Revoked,
            },
            revoked_at: None,
            revocation_reason: None,
            remote: None,
        }
    }

    fn records() -> impl Strategy<Value = Vec<(bool, Vec<u8>, u8)>> {
        prop::collection::vec(
            (any::<bool>(), prop::collection::vec(0u8..4, 0..3), 0u8..3),
            0..12,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn adding_all_at_once_is_adding_one_by_one(existing in records(), new in records()) {
            let build = |v: &[(bool, Vec<u8>, u8)], fresh: bool| -> Vec<Record> {
                v.iter().map(|(k, d, s)| record(*k, d, if fresh { 0 } else { *s })).collect()
            };
            let base = Inventory { certificates: build(&existing, false), ..Inventory::default() };
            let mut one_by_one = base.clone();
            for r in build(&new, true) {
                one_by_one.add(r);
            }
            let mut at_once = base;
            at_once.add_all(build(&new, true));
            let statuses = |inv: &Inventory| inv.certificates.iter().map(|r| r.status).collect::<Vec<_>>();
            prop_assert_eq!(statuses(&at_once), statuses(&one_by_one));
        }
    }
}

/// Fuzz-style tests of the inventory parser, the one parser of outside input that lives in the
/// CLI (the cargo-fuzz targets in `fuzz/` link the library only). Any bytes, and any mutation of
/// a real inventory, must give an inventory or the one-line "damaged" error, never a panic.
#[cfg(test)]
mod fuzz {
    use super::{Delta, Header, Inventory};
    use proptest::prelude::*;
    use std::path::Path;

    // Written by `dockpki issue client`, compacted.
    const REAL: &str = r#"{"version":1,"certificates":[{"serial":"57dabbb47a44d89bde72ee2dbbeed4d0","kind":"client","common_name":"a","sans":[],"not_before":"2026-11-29T02:19:09Z","not_after":"2027-02-27T02:24:09Z","sha256":"D5:72:6F:AD:5A:14:CF:72:49:B6:A3:67:68:F1:6D:61:60:32:1A:49:FA:83:CA:BD:94:10:7E:40:77:F6:DC:82","key_type":"ecdsa-p256","ca_sha256":"13:F8:AD:C8:46:03:87:BF:5E:E4:CB:81:05:20:A7:07:A0:26:26:BC:2E:DA:B3:15:E8:96:FB:ED:F2:69:F4:64","installed":["/tmp/encdemo/c"],"status":"active"}]}"#;

    /// Every reader of inventory bytes: the whole file, its first line alone, and a delta.
    fn check(bytes: &[u8]) {
        if let Err(e) = Inventory::parse(Path::new("inventory.json"), bytes) {
            let message = e.to_string();
            assert!(!message.contains('\n'), "{message}");
            assert!(message.contains("inventory.json"), "{message}");
        }
        let _ = Header::parse(bytes);
        if let Err(e) = Delta::parse(Path::new("inventory.delta.json"), bytes) {
            let message = e.to_string();
            assert!(!message.contains('\n'), "{message}");
            assert!(message.contains("inventory.delta.json"), "{message}");
        }
    }

    /// [`REAL`] as this dockpki writes it, large: with an id, and as a delta of that id.
    fn written() -> [Vec<u8>; 2] {
        let inv = Inventory::parse(Path::new("i"), REAL.as_bytes()).unwrap();
        let delta = Delta {
            certificates: inv.certificates.clone(),
            ..Delta::empty("0123")
        };
        [
            inv.to_bytes_with_id(Some("0123")).unwrap(),
            delta.to_bytes().unwrap(),
        ]
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
            mutate(REAL.as_bytes().to_vec(), cuts);
        }

        #[test]
        fn mutated_written_files_and_deltas_parse_or_give_the_damaged_error(
            which in 0usize..2,
            cuts in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
        ) {
            let [file, delta] = written();
            mutate(if which == 0 { file } else { delta }, cuts);
        }
    }

    /// Applies `cuts` (overwrite, remove or insert a byte) to `v`, then [`check`]s it.
    fn mutate(mut v: Vec<u8>, cuts: Vec<(prop::sample::Index, u8, u8)>) {
        for (at, byte, op) in cuts {
            let i = at.index(v.len());
            match op {
                0 => v[i] = byte,
                1 => {
                    v.remove(i);
                }
                _ => v.insert(i, byte),
            }
        }
        check(&v);
    }
}
