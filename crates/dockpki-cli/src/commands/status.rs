//! `dockpki status`: every CA and active certificate, when it expires, and whether the files
//! installed for it are still the ones dockpki wrote, in the spirit of
//! `kubeadm certs check-expiration`. Exits 1 when anything needs attention, for monitoring. The
//! judgement is [`ops::status`]; this formats it.

use dockpki_provision::ops::{self, CaStatus, CertStatus, Verdict};
use dockpki_provision::store::expiry::FileState;
use dockpki_provision::store::Create;

use super::{now, parse_window, Context};
use crate::cli::StatusArgs;
use crate::error::{CliResult, EXIT_FAILURE, EXIT_OK};
use crate::output::{escape, note, print_json};

/// Prints the table (or JSON); exit 1 when something is expired, due or drifted.
pub fn run(ctx: &Context, args: &StatusArgs) -> CliResult<i32> {
    let within = parse_window("--within", &args.within)?;
    // Opening for write completes an interrupted update first, so the report is about the files
    // as they will stay, not a half-moved state.
    let state = ctx.open_state(Create::No)?;
    let report = ops::status(&state, within, now())?;
    let ok = report.ok();
    if ctx.out.json {
        print_json(&serde_json::json!({
            "ok": ok,
            "within_days": within.whole_days(),
            "cas": report.cas,
            "certificates": report.certificates,
            "duplicate_serials": report.duplicate_serials,
        }));
    } else {
        print_table(&report.cas, &report.certificates);
        print_advice(&report.cas, &report.certificates, &args.within);
        for d in &report.duplicate_serials {
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

fn print_table(cas: &[CaStatus], certs: &[CertStatus]) {
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
    // One write for the whole table: a line at a time is a system call per certificate.
    let mut text = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        text.push_str(line.join("  ").trim_end());
        text.push('\n');
    }
    print!("{text}");
}

/// One line on stderr per thing to do, so that a cron mail or a journal says what fixes it.
fn print_advice(cas: &[CaStatus], certs: &[CertStatus], within: &str) {
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
