//! `dockpki ca init`, `dockpki ca encrypt`, `dockpki ca decrypt`, `dockpki ca passphrase`.

use dockpki::{CaOptions, NameConstraints};
use dockpki_provision::ops::ca::{self, CaInitRequest};
use dockpki_provision::store::Create;
use serde_json::json;

use super::{now, parse, parse_all, parse_validity, Context};
use crate::cli::{CaInitArgs, CaPassphraseArgs};
use crate::error::{CliResult, EXIT_OK};
use crate::output::{note, print_document};
use crate::secrets::{CliPassphrases, Secret};
use dockpki_provision::store::state::KeyProtection;

/// Creates the CA.
pub fn init(ctx: &Context, args: &CaInitArgs) -> CliResult<i32> {
    let now = now();
    let request = CaInitRequest {
        options: CaOptions {
            common_name: match &args.name {
                Some(n) => parse(n)?,
                None => CaOptions::unique_name(now)?,
            },
            key_type: parse(&args.key_type)?,
            lifetime: parse_validity("--validity", &args.validity)?,
            path_len: parse_path_len(&args.path_len)?,
            name_constraints: NameConstraints {
                permitted_dns: parse_all(&args.permit_dns)?,
                permitted_ips: parse_all(&args.permit_ip)?,
            },
        },
        protection: if args.encrypt {
            KeyProtection::Encrypted
        } else {
            KeyProtection::Plain
        },
        existing: super::existing(args.force),
    };
    let state = ctx.open_state(Create::IfMissing)?;
    let created = ca::init(&state, &request, now)?;
    if ctx.out.json {
        print_document(
            "ca-init",
            json!({
                "state": state.dir(),
                "ca": created.certificate,
                "written": created.written,
            }),
        );
    } else {
        ctx.out.done(format_args!(
            "created CA {} ({}{}, expires {}) in {}",
            super::quoted_name(&created.certificate),
            created.key_type,
            match created.protection {
                KeyProtection::Encrypted => ", key encrypted",
                KeyProtection::Plain => "",
            },
            created.certificate.not_after.date(),
            state.dir().display()
        ));
        super::list_written(ctx, &created.written);
    }
    Ok(EXIT_OK)
}

/// Rewrites every CA key in the state in the requested form (see
/// [`dockpki_provision::ops::ca::convert`]).
pub fn convert(ctx: &Context, to: KeyProtection) -> CliResult<i32> {
    let state = ctx.open_state(Create::No)?;
    let converted = ca::convert(&state, to)?;
    for backup in converted.unencrypted_backups() {
        note(format_args!(
            "warning: the unencrypted key is kept as {}; delete it (shred -u) once the passphrase works",
            backup.display()
        ));
    }
    if ctx.out.json {
        let command = match to {
            KeyProtection::Encrypted => "ca-encrypt",
            KeyProtection::Plain => "ca-decrypt",
        };
        print_document(
            command,
            json!({
                "state": state.dir(),
                "encrypted": to == KeyProtection::Encrypted,
                "written": converted.written,
            }),
        );
    } else {
        ctx.out.done(format_args!(
            "{} the CA key(s) in {}",
            match to {
                KeyProtection::Encrypted => "encrypted",
                KeyProtection::Plain => "decrypted",
            },
            state.dir().display()
        ));
        super::list_written(ctx, &converted.written);
    }
    Ok(EXIT_OK)
}

/// Re-encrypts every CA key under a new passphrase (see
/// [`dockpki_provision::ops::ca::change_passphrase`]).
pub fn passphrase(ctx: &Context, args: &CaPassphraseArgs) -> CliResult<i32> {
    let state = ctx.open_state(Create::No)?;
    let new = CliPassphrases::of(Secret::NewCaKey, args.new_passphrase_file.clone());
    let changed = ca::change_passphrase(&state, &new)?;
    for backup in &changed.old_key_backups {
        note(format_args!(
            "warning: the CA key backup {} still opens with an old passphrase (or none); delete it (shred -u)",
            backup.display()
        ));
    }
    if ctx.out.json {
        print_document(
            "ca-passphrase",
            json!({
                "state": state.dir(),
                "written": changed.written,
                "old_key_backups": changed.old_key_backups,
            }),
        );
    } else {
        ctx.out.done(format_args!(
            "changed the passphrase of the CA key{} in {}",
            if changed.written.len() > 1 {
                "s (the current and the next CA's)"
            } else {
                ""
            },
            state.dir().display()
        ));
        super::list_written(ctx, &changed.written);
    }
    Ok(EXIT_OK)
}

/// `--path-len N`: how many intermediate CAs may follow, 0 to 255. Parsed here rather than by
/// clap so that a bad value is a one-line error with exit code 1, like every other bad value.
fn parse_path_len(s: &str) -> CliResult<u8> {
    s.trim().parse().map_err(|_| {
        crate::error::CliError::new(format!(
            "invalid --path-len {s:?}: give a whole number from 0 to 255 (0: the CA signs leaves only)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::parse_path_len;

    #[test]
    fn a_path_length_is_a_whole_number_from_0_to_255_and_nothing_else() {
        assert_eq!(parse_path_len("0").unwrap(), 0);
        assert_eq!(parse_path_len("255").unwrap(), 255);
        for bad in ["x", "-1", "256", "1.5", ""] {
            let e = parse_path_len(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid --path-len"), "{bad}: {e}");
        }
    }
}
