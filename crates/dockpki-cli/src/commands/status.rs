//! `dockpki status`: every CA and active certificate, when it expires, and whether the files
//! installed for it are still the ones dockpki wrote, in the spirit of
//! `kubeadm certs check-expiration`. Exits 1 when anything needs attention, for monitoring.

use dockpki_provision::store::Create;
use std::path::PathBuf;

use serde::Serialize;
use time::OffsetDateTime;

use super::{now, parse_window, Context};
use crate::cli::StatusArgs;
use crate::error::{CliResult, EXIT_FAILURE, EXIT_OK};
use crate::output::{escape, note, print_json};
use dockpki_provision::store::expiry::{days_left, installed_state, is_due, is_expired, FileState};
use dockpki_provision::store::inventory::Status;
use dockpki_provision::store::state::read;

/// The verdict on one certificate as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Verdict {
    Ok,
    /// Valid, but expires within `--within`.
    Due,
    Expired,
    /// An installed file is missing.
    Missing,
    /// An installed file holds another certificate.
    Replaced,
    /// The state's CA did not issue it, or a layout's `ca.pem` does not hold the state's CA:
    /// the CA in the state directory was replaced, or the layout was.
    #[serde(rename = "ca-mismatch")]
    CaMismatch,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Due => "due",
            Verdict::Expired => "expired",
            Verdict::Missing => "missing",
            Verdict::Replaced => "replaced",
            Verdict::CaMismatch => "ca-mismatch",
        }
    }

    fn of_dates(not_after: OffsetDateTime, now: OffsetDateTime, within: time::Duration) -> Self {
        if is_expired(not_after, now) {
            Verdict::Expired
        } else if is_due(not_after, now, within) {
            Verdict::Due
        } else {
            Verdict::Ok
        }
    }
}

#[derive(Debug, Serialize)]
struct CaRow {
    subject: String,
    common_name: Option<String>,
    serial: String,
    #[serde(with = "time::serde::rfc3339")]
    not_after: OffsetDateTime,
    days_left: i64,
    state: Verdict,
    path: PathBuf,
    sha256_fingerprint: String,
}

#[derive(Debug, Serialize)]
struct Installed {
    dir: PathBuf,
    state: FileState,
}

#[derive(Debug, Serialize)]
struct CertRow {
    kind: dockpki::Usage,
    common_name: Option<String>,
    serial: String,
    #[serde(with = "time::serde::rfc3339")]
    not_after: OffsetDateTime,
    days_left: i64,
    state: Verdict,
    /// SHA-256 fingerprint of the CA that issued it, as recorded.
    ca_sha256: String,
    /// Whether that is one of the state's CAs (`ca.pem`, and `ca-next.pem` during a rotation).
    issued_by_state_ca: bool,
    installed: Vec<Installed>,
}

/// A serial the inventory records more than once.
#[derive(Debug, Serialize)]
struct Duplicate {
    serial: String,
    records: usize,
}

/// Prints the table (or JSON); exit 1 when something is expired, due or drifted.
pub fn run(ctx: &Context, args: &StatusArgs) -> CliResult<i32> {
    let within = parse_window("--within", &args.within)?;
    let now = now();
    // Opening for write completes an interrupted update first, so the report is about the files
    // as they will stay, not a half-moved state.
    let state = ctx.open_state(Create::No)?;
    // During a CA rotation the new CA waits in its own file; both are in service.
    let mut ca_paths = vec![state.ca_cert_path()];
    if state.rotating() {
        ca_paths.push(state.ca_next_cert_path());
    }
    let mut cas = Vec::new();
    // The CA every layout's ca.pem must hold: the first certificate of ca.pem, which signs (or,
    // during a rotation, signed) what is installed.
    let mut current_ca = None;
    for ca_path in ca_paths {
        for der in dockpki::certs_from_pem(&read(&ca_path)?)
            .map_err(|e| crate::error::CliError::from(e).context(ca_path.display()))?
        {
            let info = dockpki::inspect(&der)?;
            if current_ca.is_none() {
                current_ca = Some(der.clone());
            }
            cas.push(CaRow {
                state: Verdict::of_dates(info.not_after, now, within),
                days_left: days_left(info.not_after, now),
                subject: info.subject,
                common_name: info.common_name,
                serial: info.serial,
                not_after: info.not_after,
                path: ca_path.clone(),
                sha256_fingerprint: info.sha256_fingerprint,
            });
        }
    }
    // certs_from_pem never returns an empty list.
    let current_ca = current_ca.ok_or_else(|| {
        crate::error::CliError::new(format!(
            "{} holds no certificate",
            state.ca_cert_path().display()
        ))
    })?;
    let inventory = state.load_inventory()?;
    let duplicates: Vec<Duplicate> = inventory
        .duplicate_serials()
        .into_iter()
        .map(|(serial, records)| Duplicate { serial, records })
        .collect();
    let certs: Vec<CertRow> = inventory
        .certificates
        .iter()
        .filter(|r| r.status == Status::Active)
        .map(|r| {
            let installed: Vec<Installed> = r
                .installed
                .iter()
                .map(|dir| Installed {
                    dir: dir.clone(),
                    state: installed_state(r, dir, now, &current_ca),
                })
                .collect();
            let has = |s: FileState| installed.iter().any(|i| i.state == s);
            let issued_by_state_ca = cas.iter().any(|c| {
                c.sha256_fingerprint
                    .parse()
                    .is_ok_and(|fp: dockpki::Fingerprint| fp.matches(&r.ca_sha256))
            });
            let state = if has(FileState::Missing) {
                Verdict::Missing
            } else if has(FileState::Replaced) {
                Verdict::Replaced
            } else if !issued_by_state_ca || has(FileState::CaMismatch) {
                Verdict::CaMismatch
            } else {
                Verdict::of_dates(r.not_after, now, within)
            };
            CertRow {
                kind: r.kind,
                common_name: r.common_name.clone(),
                serial: r.serial.clone(),
                not_after: r.not_after,
                days_left: days_left(r.not_after, now),
                state,
                ca_sha256: r.ca_sha256.clone(),
                issued_by_state_ca,
                installed,
            }
        })
        .collect();
    let ok = cas.iter().all(|c| c.state == Verdict::Ok)
        && certs.iter().all(|c| c.state == Verdict::Ok)
        && duplicates.is_empty();

    if ctx.out.json {
        print_json(&serde_json::json!({
            "ok": ok,
            "within_days": within.whole_days(),
            "cas": cas,
            "certificates": certs,
            "duplicate_serials": duplicates,
        }));
    } else {
        print_table(&cas, &certs);
        print_advice(&cas, &certs, &args.within);
        for d in &duplicates {
            let path = state.inventory_path();
            note(format_args!(
                "the inventory {} is damaged: serial {} is recorded {} times (dockpki records each certificate once, and --serial cannot tell them apart); restore the previous version from {}.bak, or remove the extra record by hand",
                path.display(),
                d.serial,
                d.records,
                path.display()
            ));
        }
    }
    Ok(if ok { EXIT_OK } else { EXIT_FAILURE })
}

/// Serials are 32 hex digits; the first 8 identify a certificate in practice and are accepted
/// by `renew --serial` and `revoke --serial` as a prefix.
fn short(serial: &str) -> &str {
    serial.get(..8).unwrap_or(serial)
}

fn print_table(cas: &[CaRow], certs: &[CertRow]) {
    let mut rows = vec![[
        "CERTIFICATE",
        "NAME",
        "SERIAL",
        "EXPIRES",
        "DAYS LEFT",
        "STATE",
        "INSTALLED",
    ]
    .map(String::from)];
    for c in cas {
        rows.push([
            "ca".to_string(),
            c.common_name.clone().unwrap_or_else(|| c.subject.clone()),
            short(&c.serial).to_string(),
            dockpki::format_time(c.not_after),
            c.days_left.to_string(),
            c.state.as_str().to_string(),
            c.path.display().to_string(),
        ]);
    }
    for c in certs {
        let installed = c
            .installed
            .iter()
            .map(|i| match i.state {
                FileState::Ok => i.dir.display().to_string(),
                s => format!("{} ({})", i.dir.display(), s.as_str()),
            })
            .collect::<Vec<_>>()
            .join(", ");
        rows.push([
            c.kind.to_string(),
            c.common_name.clone().unwrap_or_else(|| "-".to_string()),
            short(&c.serial).to_string(),
            dockpki::format_time(c.not_after),
            c.days_left.to_string(),
            c.state.as_str().to_string(),
            installed,
        ]);
    }
    // Names come from certificates and paths from the inventory: each cell is escaped before
    // the columns are measured, so the table keeps its shape and no cell can start a line.
    let rows: Vec<[String; 7]> = rows
        .into_iter()
        .map(|r| r.map(|cell| escape(&cell).into_owned()))
        .collect();
    let widths: Vec<usize> = (0..7)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

/// One line on stderr per thing to do, so that a cron mail or a journal says what fixes it.
fn print_advice(cas: &[CaRow], certs: &[CertRow], within: &str) {
    for c in cas.iter().filter(|c| c.state != Verdict::Ok) {
        note(format_args!(
            "the CA {:?} {}; rotate it: dockpki ca rotate begin, reissue, finish",
            c.subject,
            if c.state == Verdict::Expired {
                "has expired"
            } else {
                "expires soon"
            }
        ));
    }
    for c in certs {
        let name = c.common_name.as_deref().unwrap_or("-");
        let serial = short(&c.serial);
        match c.state {
            Verdict::Ok => {}
            Verdict::Due | Verdict::Expired => note(format_args!(
                "{} certificate {name:?} ({serial}) {}; renew it: dockpki renew --within {within}",
                c.kind,
                if c.state == Verdict::Expired {
                    "has expired".to_string()
                } else {
                    format!("expires in {} day(s)", c.days_left)
                }
            )),
            Verdict::Missing | Verdict::Replaced => note(format_args!(
                "the installed {} certificate {name:?} ({serial}) is {}; reinstall a new one with: dockpki renew --serial {serial} (a replaced file is kept as a backup)",
                c.kind,
                c.state.as_str()
            )),
            Verdict::CaMismatch if !c.issued_by_state_ca => note(format_args!(
                "{} certificate {name:?} ({serial}) was issued by the CA with SHA-256 {}, not by the state's CA {:?} ({}, SHA-256 {}); if that ca.pem was replaced by mistake, put back the CA that issued it; if the new CA is meant, reissue from it: dockpki renew --serial {serial}",
                c.kind,
                c.ca_sha256,
                cas[0].subject,
                cas[0].path.display(),
                cas[0].sha256_fingerprint
            )),
            Verdict::CaMismatch => note(format_args!(
                "the ca.pem installed with {} certificate {name:?} ({serial}) in {} does not hold the state's CA {:?} ({}), so it refuses the peers dockpki issues; reinstall it with: dockpki renew --serial {serial}",
                c.kind,
                c.installed
                    .iter()
                    .filter(|i| i.state == FileState::CaMismatch)
                    .map(|i| i.dir.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                cas[0].subject,
                cas[0].path.display()
            )),
        }
    }
}
