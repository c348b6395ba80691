//! `dockpki revoke`: mark certificates revoked in the inventory, so that `dockpki crl` lists them
//! and `dockpki renew` never renews them.
//!
//! dockerd and the docker CLI check neither CRLs nor OCSP, so this alone does not stop a leaked
//! key: every run says so and names what does.

use dockpki_provision::fs::Existing;
use dockpki_provision::store::Create;
use serde::Serialize;

use super::{now, parse, Context};
use crate::cli::RevokeArgs;
use crate::error::{CliError, CliResult, EXIT_OK};
use crate::output::{note, print_json, say};
use dockpki_provision::fs::write::WritePlan;
use dockpki_provision::store::inventory::{Record, Status};

/// Printed on stderr by every `revoke` (one note per line), because revoking gives a false sense
/// of safety otherwise.
const DOCKERD_IGNORES_CRLS: [&str; 2] = [
    "note: dockerd and the docker CLI check neither CRLs nor OCSP, so a revoked certificate is still accepted until it expires.",
    "keep client certificates short-lived (dockpki issue client --validity 7d), and to cut off a leaked key rotate the CA: dockpki ca rotate begin, then reissue, then finish.",
];

#[derive(Debug, Serialize)]
struct Revoked {
    kind: dockpki::Usage,
    common_name: Option<String>,
    serial: String,
    #[serde(with = "time::serde::rfc3339")]
    not_after: time::OffsetDateTime,
    reason: Option<dockpki::RevocationReason>,
}

/// Which certificates to revoke.
enum Selector<'a> {
    /// By serial or a unique prefix of it.
    Serial(&'a str),
    /// Every certificate with this common name.
    Name(&'a str),
}

impl Selector<'_> {
    fn matches(&self, r: &Record) -> bool {
        match self {
            Selector::Serial(serial) => r.serial_matches(serial),
            Selector::Name(name) => r.common_name.as_deref() == Some(*name),
        }
    }
}

impl std::fmt::Display for Selector<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Selector::Serial(serial) => write!(f, "the serial {serial:?}"),
            Selector::Name(name) => write!(f, "the common name {name:?}"),
        }
    }
}

/// Revokes the selected certificates.
pub fn run(ctx: &Context, args: &RevokeArgs) -> CliResult<i32> {
    let reason: Option<dockpki::RevocationReason> =
        args.reason.as_deref().map(parse).transpose()?;
    let now = now();
    let state = ctx.open_state(Create::No)?;
    let mut inventory = state.load_inventory()?;

    // clap requires exactly one of --serial and --name.
    let selector = match (&args.serial, &args.name) {
        (Some(serial), _) => Selector::Serial(serial),
        (None, name) => Selector::Name(name.as_deref().unwrap_or_default()),
    };
    let what = selector.to_string();
    let (all, exact): (Vec<usize>, bool) = match selector {
        Selector::Serial(serial) => {
            let found = inventory.select_serial(serial, |_| true);
            (found.indices, found.exact)
        }
        Selector::Name(_) => (
            (0..inventory.certificates.len())
                .filter(|&i| selector.matches(&inventory.certificates[i]))
                .collect(),
            false,
        ),
    };
    if all.is_empty() {
        return Err(CliError::new(format!(
            "no certificate in the inventory has {what}; see `dockpki --json status` or {}",
            state.inventory_path().display()
        )));
    }
    let todo: Vec<usize> = all
        .iter()
        .copied()
        .filter(|&i| inventory.certificates[i].status != Status::Revoked)
        .collect();
    if args.serial.is_some() && exact && all.len() > 1 {
        return Err(CliError::new(format!(
            "{what} is recorded {} times in {}, which is damaged (dockpki records each certificate once); restore the previous version from {}.bak, or remove the extra record by hand",
            all.len(),
            state.inventory_path().display(),
            state.inventory_path().display()
        )));
    }
    if args.serial.is_some() && todo.len() > 1 {
        return Err(CliError::new(format!(
            "{what} matches {} certificates; give more digits",
            todo.len()
        )));
    }

    let revoked: Vec<Revoked> = todo
        .iter()
        .map(|&i| {
            let r = &inventory.certificates[i];
            Revoked {
                kind: r.kind,
                common_name: r.common_name.clone(),
                serial: r.serial.clone(),
                not_after: r.not_after,
                reason,
            }
        })
        .collect();
    if !todo.is_empty() {
        for &i in &todo {
            inventory.revoke(i, now, reason);
        }
        let mut plan = WritePlan::new(Existing::Refuse);
        state.plan_inventory(&mut plan, &inventory)?;
        state.commit(plan)?;
    }

    if ctx.out.json {
        print_json(&serde_json::json!({
            "revoked": revoked,
            "dockerd_checks_revocation": false,
        }));
    } else if ctx.out.verbose {
        for r in &revoked {
            say(format_args!(
                "revoked {} certificate {:?} (serial {}, valid until {})",
                r.kind,
                r.common_name.as_deref().unwrap_or("-"),
                r.serial,
                dockpki::format_time(r.not_after)
            ));
        }
    }
    if todo.is_empty() {
        note(format_args!("{what} was already revoked; nothing changed"));
    }
    for line in DOCKERD_IGNORES_CRLS {
        note(line);
    }
    Ok(EXIT_OK)
}
