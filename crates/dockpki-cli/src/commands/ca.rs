//! `dockpki ca init`, `dockpki ca encrypt`, `dockpki ca decrypt`.

use dockpki::{CaOptions, CertificateAuthority, NameConstraints};
use dockpki_provision::fs::Existing;
use dockpki_provision::store::Create;
use serde_json::json;

use super::{now, parse, parse_all, Context};
use crate::cli::CaInitArgs;
use crate::error::{CliError, CliResult, EXIT_OK};
use crate::output::{note, print_json, say};
use dockpki_provision::fs::write::WritePlan;
use dockpki_provision::store::state::KeyProtection;

/// Creates the CA.
pub fn init(ctx: &Context, args: &CaInitArgs) -> CliResult<i32> {
    let now = now();
    let options = CaOptions {
        common_name: match &args.name {
            Some(n) => parse(n)?,
            None => CaOptions::unique_name(now)?,
        },
        key_type: parse(&args.key_type)?,
        lifetime: parse(&args.validity)?,
        path_len: args.path_len,
        name_constraints: NameConstraints {
            permitted_dns: parse_all(&args.permit_dns)?,
            permitted_ips: parse_all(&args.permit_ip)?,
        },
    };
    let state = ctx.open_state(Create::IfMissing)?;
    if state.rotating() {
        // Replacing ca.pem now would strand the rotation's new CA and every leaf it issued.
        return Err(CliError::new(format!(
            "a CA rotation is in progress in {}; finish it with `dockpki ca rotate reissue` and `dockpki ca rotate finish` (see `dockpki ca rotate status`)",
            state.dir().display()
        )));
    }
    if state.has_ca() && !args.force {
        // Only the certificate: naming the CA must not need its (possibly encrypted) key.
        let existing = state
            .cert_info(&state.ca_cert_path())
            .map(|info| format!(" ({:?})", info.subject))
            .unwrap_or_default();
        return Err(CliError::new(format!(
            "a CA already exists in {}{existing}; pass --force to replace it (the old files are kept as backups, and certificates it issued stop being trusted wherever the new ca.pem is installed)",
            state.dir().display()
        )));
    }
    let ca = CertificateAuthority::create(&options, now)?;
    let mut plan = WritePlan::new(super::existing(args.force));
    let protection = if args.encrypt {
        KeyProtection::Encrypted
    } else {
        KeyProtection::Plain
    };
    state.plan_ca(&mut plan, &ca, protection)?;
    let written = state.commit(plan)?;
    if ctx.out.json {
        print_json(&json!({ "state": state.dir(), "ca": ca.info(), "written": written }));
    } else if ctx.out.verbose {
        say(format_args!(
            "created CA {:?} ({}{}, valid until {}) in {}",
            ca.info().subject,
            options.key_type,
            if args.encrypt { ", key encrypted" } else { "" },
            dockpki::format_time(ca.info().not_after),
            state.dir().display()
        ));
    }
    Ok(EXIT_OK)
}

/// Rewrites every CA key in the state (`ca-key.pem`, and `ca-next-key.pem` during a rotation)
/// in the requested form, in one journaled update that keeps the previous files as timestamped
/// backups. Converting to the form a key already has is refused, so that a typo'd command is
/// noticed rather than silently doing nothing.
pub fn convert(ctx: &Context, to: KeyProtection) -> CliResult<i32> {
    let state = ctx.open_state(Create::No)?;
    let current = state.key_protection()?;
    if current == to {
        return Err(CliError::new(match to {
            KeyProtection::Encrypted => format!(
                "the CA key {} is already encrypted; to change the passphrase run `dockpki ca decrypt` then `dockpki ca encrypt`",
                state.ca_key_path().display()
            ),
            KeyProtection::Plain => format!(
                "the CA key {} is not encrypted; nothing to decrypt",
                state.ca_key_path().display()
            ),
        }));
    }
    let mut cas = vec![(state.ca_key_path(), state.load_current_ca()?)];
    if state.rotating() {
        cas.push((state.ca_next_key_path(), state.load_next_ca()?));
    }
    let mut plan = WritePlan::new(Existing::ReplaceKeepingBackup);
    for (path, ca) in &cas {
        plan.key(path.clone(), state.ca_key_pem(ca, to)?, None);
    }
    let written = state.commit(plan)?;
    if to == KeyProtection::Encrypted {
        // The backup is the unencrypted key: the one thing encrypting was meant to remove.
        for backup in written.iter().filter_map(|w| w.backup.as_ref()) {
            note(format_args!(
                "the unencrypted key is kept as {}; delete it (shred -u) once the passphrase works",
                backup.display()
            ));
        }
    }
    if ctx.out.json {
        print_json(&json!({
            "state": state.dir(),
            "encrypted": to == KeyProtection::Encrypted,
            "written": written,
        }));
    } else if ctx.out.verbose {
        for w in &written {
            say(format_args!(
                "{} {}",
                match to {
                    KeyProtection::Encrypted => "encrypted",
                    KeyProtection::Plain => "decrypted",
                },
                w.path.display()
            ));
        }
    }
    Ok(EXIT_OK)
}
