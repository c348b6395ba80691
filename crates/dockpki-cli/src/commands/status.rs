//! `dockpki status`: every CA and active certificate, when it expires, and whether the files
//! installed for it are still the ones dockpki wrote, in the spirit of
//! `kubeadm certs check-expiration`. Exits 1 when anything needs attention, for monitoring. The
//! judgement is [`ops::status`]; this formats it.

use dockpki_provision::ops::{self, CaStatus, CertStatus, Verdict};
use dockpki_provision::store::expiry::{FileState, RenewalWindow};
use dockpki_provision::store::Create;

use super::{now, renewal_window, Context};
use crate::cli::StatusArgs;
use crate::error::{exit_code, CliResult};
use crate::output::{escape, note, print_document, shell_quote, Output, Tone};

/// Prints the table (or JSON); exit 1 when something is expired, due or drifted.
pub fn run(ctx: &Context, args: &StatusArgs) -> CliResult<i32> {
    let window = renewal_window(args.within.as_deref())?;
    // Opening for write completes an interrupted update first, so the report is about the files
    // as they will stay, not a half-moved state.
    let state = ctx.open_state(Create::No)?;
    let report = ops::status(&state, window, now())?;
    let ok = report.ok();
    if ctx.out.json {
        print_document(
            "status",
            serde_json::json!({
                "ok": ok,
                // `null`: the default rule (30 days, or a third of a shorter lifetime).
                "within_days": match window {
                    RenewalWindow::Within(w) => Some(w.whole_days()),
                    RenewalWindow::Relative => None,
                },
                "cas": report.cas,
                "certificates": report.certificates.iter().map(certificate_json).collect::<Vec<_>>(),
                "duplicate_serials": report.duplicate_serials,
            }),
        );
    } else {
        print_table(&ctx.out, &report.cas, &report.certificates);
        print_advice(
            ctx,
            &report.cas,
            &report.certificates,
            args.within.as_deref(),
        );
        for d in &report.duplicate_serials {
            let path = state.inventory_path();
            note(format_args!(
                "warning: the inventory {} is damaged: serial {} is recorded {} times (dockpki records each certificate once, and --serial cannot tell them apart); restore the previous version from {}.bak, or remove the extra record by hand",
                path.display(),
                d.serial,
                d.records,
                path.display()
            ));
        }
    }
    Ok(exit_code(report.health()))
}

/// A certificate of `status --json`: the issuing CA as `issued_by: {sha256, state_ca}`, the one
/// name a fingerprint has in every document (docs/json.md).
fn certificate_json(c: &CertStatus) -> serde_json::Value {
    serde_json::json!({
        "kind": c.kind,
        "common_name": c.common_name,
        "serial": c.serial,
        "not_after": dockpki::format_time(c.not_after),
        "days_left": c.days_left,
        "state": c.state,
        "issued_by": { "sha256": c.ca_sha256, "state_ca": c.issued_by_state_ca },
        "installed": c.installed,
        "remote_host": c.remote_host,
    })
}

/// Serials are 32 hex digits; the first 8 identify a certificate in practice and are accepted
/// by `renew --serial` and `revoke --serial` as a prefix.
fn short(serial: &str) -> &str {
    serial.get(..8).unwrap_or(serial)
}

/// How a verdict is coloured on a terminal.
fn tone(v: Verdict) -> Tone {
    match v {
        Verdict::Ok => Tone::Good,
        Verdict::Due => Tone::Attention,
        Verdict::Expired | Verdict::Missing | Verdict::Replaced | Verdict::CaMismatch => Tone::Bad,
    }
}

/// The STATE column, the one coloured.
const STATE_COLUMN: usize = 5;

fn print_table(out: &Output, cas: &[CaStatus], certs: &[CertStatus]) {
    // The header has no verdict; each row after it has one.
    let mut tones = vec![None];
    tones.extend(cas.iter().map(|c| Some(tone(c.state))));
    tones.extend(certs.iter().map(|c| Some(tone(c.state))));
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
            .chain(
                c.remote_host
                    .iter()
                    .map(|h| format!("host {h} (signed from its request)")),
            )
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
    let widths: Vec<usize> = (0..7)
        .map(|i| {
            rows.iter()
                .map(|r| escape(&r[i]).chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    // One write for the whole table: a line at a time is a system call per certificate.
    let mut text = String::new();
    for (row, tone) in rows.iter().zip(tones) {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                // Padded outside the colour, so that the codes do not count as width; painted
                // after escaping (paint escapes first), so that a cell cannot bring its own.
                let pad = " ".repeat(w - escape(cell).chars().count());
                match tone {
                    Some(tone) if i == STATE_COLUMN => format!("{}{pad}", out.paint(tone, cell)),
                    _ => format!("{}{pad}", escape(cell)),
                }
            })
            .collect();
        text.push_str(line.join("  ").trim_end());
        text.push('\n');
    }
    print!("{text}");
}

/// One line on stderr per thing to do, so that a cron mail or a journal says what fixes it.
fn print_advice(ctx: &Context, cas: &[CaStatus], certs: &[CertStatus], within: Option<&str>) {
    let run = |args: &str| ctx.invocation.command(args);
    for c in cas.iter().filter(|c| c.state != Verdict::Ok) {
        note(format_args!(
            "the CA {:?} {}; rotate it: {}, then reissue, then finish",
            c.subject,
            if c.state == Verdict::Expired {
                "has expired"
            } else {
                "expires soon"
            },
            run("ca rotate begin")
        ));
    }
    for c in certs {
        let name = c.common_name.as_deref().unwrap_or("-");
        let serial = short(&c.serial);
        match c.state {
            Verdict::Ok => {}
            Verdict::Due | Verdict::Expired => note(format_args!(
                "{} certificate {name:?} ({serial}) {}; renew it: {}",
                c.kind,
                if c.state == Verdict::Expired {
                    "has expired".to_string()
                } else {
                    format!("expires in {} day(s)", c.days_left)
                },
                // The same window renews what this one found due.
                run(&match within {
                    Some(w) => format!("renew --within {}", shell_quote(w)),
                    None => "renew".to_string(),
                })
            )),
            Verdict::Missing | Verdict::Replaced => note(format_args!(
                "the installed {} certificate {name:?} ({serial}) is {}; reinstall a new one with: {} (a replaced file is kept as a backup)",
                c.kind,
                c.state.as_str(),
                run(&format!("renew --serial {}", shell_quote(serial)))
            )),
            Verdict::CaMismatch if !c.issued_by_state_ca => note(format_args!(
                "{} certificate {name:?} ({serial}) was issued by the CA with SHA-256 {}, not by the state's CA {:?} ({}, SHA-256 {}); if that ca.pem was replaced by mistake, put back the CA that issued it; if the new CA is meant, reissue from it: {}",
                c.kind,
                c.ca_sha256,
                cas[0].subject,
                cas[0].path.display(),
                cas[0].sha256_fingerprint,
                run(&format!("renew --serial {}", shell_quote(serial)))
            )),
            Verdict::CaMismatch => note(format_args!(
                "the ca.pem installed with {} certificate {name:?} ({serial}) in {} does not hold the state's CA {:?} ({}), so it refuses the peers dockpki issues; reinstall it with: {}",
                c.kind,
                c.installed
                    .iter()
                    .filter(|i| i.state == FileState::CaMismatch)
                    .map(|i| i.dir.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                cas[0].subject,
                cas[0].path.display(),
                run(&format!("renew --serial {}", shell_quote(serial)))
            )),
        }
    }
}
