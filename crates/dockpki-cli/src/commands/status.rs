//! `dockpki status`: every CA and active certificate, when it expires, and whether the files
//! installed for it are still the ones dockpki wrote, in the spirit of
//! `kubeadm certs check-expiration`. Exits 1 when anything needs attention, for monitoring.

use std::path::PathBuf;

use serde::Serialize;
use time::OffsetDateTime;

use super::{now, parse, Context};
use crate::cli::StatusArgs;
use crate::error::{CliResult, EXIT_FAILURE, EXIT_OK};
use crate::expiry::{days_left, installed_state, is_due, is_expired, FileState};
use crate::inventory::Status;
use crate::output::{escape, note, print_json};
use crate::state::{read, State};

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
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Due => "due",
            Verdict::Expired => "expired",
            Verdict::Missing => "missing",
            Verdict::Replaced => "replaced",
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
    installed: Vec<Installed>,
}

/// Prints the table (or JSON); exit 1 when something is expired, due or drifted.
pub fn run(ctx: &Context, args: &StatusArgs) -> CliResult<i32> {
    let within = parse::<dockpki::Lifetime>(&args.within)?.duration();
    let now = now();
    // Opening for write completes an interrupted update first, so the report is about the files
    // as they will stay, not a half-moved state.
    let state = State::open_write(ctx.state_dir()?, false)?;
    // During a CA rotation the new CA waits in its own file; both are in service.
    let mut ca_paths = vec![state.ca_cert_path()];
    if state.rotating() {
        ca_paths.push(state.ca_next_cert_path());
    }
    let mut cas = Vec::new();
    for ca_path in ca_paths {
        for der in dockpki::certs_from_pem(&read(&ca_path)?)
            .map_err(|e| crate::error::CliError::from(e).context(ca_path.display()))?
        {
            let info = dockpki::inspect(&der)?;
            cas.push(CaRow {
                state: Verdict::of_dates(info.not_after, now, within),
                days_left: days_left(info.not_after, now),
                subject: info.subject,
                common_name: info.common_name,
                serial: info.serial,
                not_after: info.not_after,
                path: ca_path.clone(),
            });
        }
    }
    let inventory = state.load_inventory()?;
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
                    state: installed_state(r, dir, now),
                })
                .collect();
            let drift = installed
                .iter()
                .map(|i| i.state)
                .find(|s| matches!(s, FileState::Missing | FileState::Replaced));
            let state = match drift {
                Some(FileState::Missing) => Verdict::Missing,
                Some(_) => Verdict::Replaced,
                None => Verdict::of_dates(r.not_after, now, within),
            };
            CertRow {
                kind: r.kind,
                common_name: r.common_name.clone(),
                serial: r.serial.clone(),
                not_after: r.not_after,
                days_left: days_left(r.not_after, now),
                state,
                installed,
            }
        })
        .collect();
    let ok =
        cas.iter().all(|c| c.state == Verdict::Ok) && certs.iter().all(|c| c.state == Verdict::Ok);

    if ctx.out.json {
        print_json(&serde_json::json!({
            "ok": ok,
            "within_days": within.whole_days(),
            "cas": cas,
            "certificates": certs,
        }));
    } else {
        print_table(&cas, &certs);
        print_advice(&cas, &certs, &args.within);
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
        }
    }
}
