//! `declared.json`: the leaves apply manages, so that removing an entry from the file revokes
//! what apply made and never what someone issued by hand.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fs::reader::{self, Limit, Links};
use crate::store::State;

/// The file in the state directory listing the leaves apply manages.
pub const DECLARED_FILE: &str = "declared.json";

const VERSION: u32 = 1;

/// One leaf apply issued or adopted.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub kind: super::TargetKind,
    pub common_name: String,
    pub install: PathBuf,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: u32,
    entries: Vec<Entry>,
}

/// The entries of the state's `declared.json`; none when it does not exist.
pub(crate) fn read(state: &State) -> Result<BTreeSet<Entry>> {
    let path = state.dir().join(DECLARED_FILE);
    let Some(bytes) = reader::read_optional(&path, Links::Refuse, Limit::Inventory)? else {
        return Ok(BTreeSet::new());
    };
    let file: File = serde_json::from_slice(&bytes).map_err(|e| {
        Error::new(format!(
            "{} is damaged ({e}); restore it from {}.bak, or remove it (apply then adopts every declared leaf again, and revokes none it no longer finds)",
            path.display(),
            path.display()
        ))
    })?;
    if file.version != VERSION {
        return Err(Error::new(format!(
            "{} has version {}, which this dockpki does not know; use the dockpki that wrote it",
            path.display(),
            file.version
        )));
    }
    Ok(file.entries.into_iter().collect())
}

/// The file's bytes for `entries` (sorted, so that the same set is always the same bytes).
pub(crate) fn to_bytes(entries: &BTreeSet<Entry>) -> Result<Vec<u8>> {
    let file = File {
        version: VERSION,
        entries: entries.iter().cloned().collect(),
    };
    let mut bytes = serde_json::to_vec_pretty(&file)
        .map_err(|e| Error::new(format!("{DECLARED_FILE} could not be written as JSON: {e}")))?;
    bytes.push(b'\n');
    Ok(bytes)
}
