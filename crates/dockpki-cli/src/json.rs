//! The shapes that `--json` documents share, so that one concept has one field name in every
//! command (docs/json.md): a fingerprint is `sha256`, an installed layout `{dir, state}`, a
//! daemon to restart `{dir, message}`, the step after a command `{text, command}`, an inventory
//! record the same object wherever it appears.

use std::path::{Path, PathBuf};

use crate::paths::{daemon_of_layout, ClientUser};
use dockpki_provision::docker::daemon_json::Daemon;
use dockpki_provision::layout::restart_hint;
use dockpki_provision::store::inventory::Record;
use serde_json::{json, Value};

/// The `state` of an installed layout a command did not look at: it reports the inventory's
/// record of where the certificate went, not the files.
pub const RECORDED: &str = "recorded";

/// One layout a certificate is installed in: `{"dir", "state"}`.
pub fn installed(dir: &Path, state: &str) -> Value {
    json!({ "dir": dir, "state": state })
}

/// Every layout of `dirs` as [`installed`] objects in `state`.
pub fn installed_all(dirs: &[PathBuf], state: &str) -> Vec<Value> {
    dirs.iter().map(|d| installed(d, state)).collect()
}

/// The daemons to restart: `[{"dir", "message", "rootless"}]`, the message saying why and how,
/// `rootless` whether it is the user's own rootless daemon ([`crate::paths::daemon_of_layout`]).
pub fn restart(dirs: &[PathBuf], user: &ClientUser) -> Vec<Value> {
    dirs.iter()
        .map(|d| {
            let daemon = daemon_of_layout(d, user);
            json!({
                "dir": d,
                "message": restart_hint(d, daemon),
                "rootless": daemon == Daemon::Rootless,
            })
        })
        .collect()
}

/// What to do next: `{"text", "command"}`, the command line (with the global options in force)
/// when the step is one command, else null.
pub fn next(text: &str, command: Option<&str>) -> Value {
    json!({ "text": text, "command": command })
}

/// An inventory record as every command shows one: the record's fields, the issuing CA as
/// `issued_by: {"sha256"}` and each layout as an [`installed`] object in the state
/// [`RECORDED`] (the command did not read the files).
pub fn record(r: &Record) -> Value {
    json!({
        "kind": r.kind,
        "common_name": r.common_name,
        "serial": r.serial,
        "sans": r.sans,
        "not_before": dockpki::format_time(r.not_before),
        "not_after": dockpki::format_time(r.not_after),
        "sha256": r.sha256,
        "key_type": r.key_type,
        "issued_by": { "sha256": r.ca_sha256 },
        "installed": installed_all(&r.installed, RECORDED),
        "status": r.status,
        "revoked_at": r.revoked_at.map(dockpki::format_time),
        "revocation_reason": r.revocation_reason,
    })
}
