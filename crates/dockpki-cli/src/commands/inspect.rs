//! `dockpki inspect`.

use std::path::{Path, PathBuf};

use dockpki::{CertInfo, Decoded, Encoding, ExtendedKeyUsage, KeyType};
use serde::Serialize;

use super::{now, Context};
use crate::error::{CliError, CliResult, EXIT_OK};
use crate::output::{print_document, say, Untrusted};
use dockpki_provision::fs::reader::{self, Limit, Links};
use dockpki_provision::fs::write::mode_of;

#[derive(Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
enum Contents {
    Certificates { certificates: Vec<CertInfo> },
    PrivateKey { key_type: KeyType },
}

#[derive(Serialize)]
struct FileReport {
    path: PathBuf,
    mode: Option<String>,
    encoding: Encoding,
    #[serde(flatten)]
    contents: Contents,
}

/// The argument that names standard input instead of a file.
const STDIN: &str = "-";

/// Describes each file: certificates (all of a bundle) or a private key (its type only), in
/// PEM or DER; `-` is standard input.
pub fn run(ctx: &Context, args: &crate::cli::InspectArgs) -> CliResult<i32> {
    // Standard input can be read only once: a second `-` would find it empty.
    if args.files.iter().filter(|p| p.as_os_str() == STDIN).count() > 1 {
        return Err(CliError::new(
            "standard input (-) can be given only once; save the other input to a file and name it",
        ));
    }
    let reports = args
        .files
        .iter()
        .map(|p| describe(p))
        .collect::<CliResult<Vec<_>>>()?;
    if ctx.out.json {
        print_document("inspect", serde_json::json!({ "files": reports }));
        return Ok(EXIT_OK);
    }
    let now = now();
    for (i, r) in reports.iter().enumerate() {
        if i > 0 {
            println!();
        }
        let mode = r
            .mode
            .as_deref()
            .map(|m| format!(" (mode {m})"))
            .unwrap_or_default();
        let name = if r.path.as_os_str() == STDIN {
            "standard input".to_string()
        } else {
            r.path.display().to_string()
        };
        let der = match r.encoding {
            Encoding::Der => " (DER)",
            Encoding::Pem => "",
        };
        match &r.contents {
            Contents::PrivateKey { key_type } => {
                say(format_args!("{name}{mode}: private key{der}, {key_type}"));
            }
            Contents::Certificates { certificates } => {
                say(format_args!(
                    "{name}{mode}: {} certificate(s){der}",
                    certificates.len()
                ));
                for c in certificates {
                    print_cert(c, now);
                }
            }
        }
    }
    Ok(EXIT_OK)
}

fn describe(path: &Path) -> CliResult<FileReport> {
    let (bytes, name, mode) = if path.as_os_str() == STDIN {
        let name = Path::new("standard input");
        let bytes = reader::read_stream(std::io::stdin().lock(), name, Limit::Pem)?;
        (bytes, name, None)
    } else {
        let bytes = reader::read(path, Links::Follow, Limit::Pem)?;
        (bytes, path, mode_of(path).ok().map(|m| format!("{m:04o}")))
    };
    let context = |e: dockpki::Error| CliError::from(e).context(name.display());
    let (encoding, decoded) = dockpki::decode_pem_or_der(&bytes).map_err(context)?;
    let contents = match decoded {
        Decoded::PrivateKey(key) => Contents::PrivateKey {
            key_type: key.key_type(),
        },
        Decoded::Certificates(certs) => Contents::Certificates {
            certificates: certs
                .iter()
                .map(dockpki::inspect)
                .collect::<dockpki::Result<_>>()
                .map_err(context)?,
        },
    };
    Ok(FileReport {
        path: path.to_path_buf(),
        mode,
        encoding,
        contents,
    })
}

/// Prints what a certificate says. Every field may hold anything its issuer put there (a subject
/// with a newline and `error: ...`, terminal escapes), so every row is escaped.
fn print_cert(c: &CertInfo, now: time::OffsetDateTime) {
    let row = |k: &str, v: String| println!("  {k:<11} {}", Untrusted(&v));
    println!();
    row("subject", c.subject.clone());
    row("issuer", c.issuer.clone());
    row("serial", c.serial.clone());
    let days = c.days_left(now);
    let state = if now > c.not_after {
        "EXPIRED".to_string()
    } else if now < c.not_before {
        "NOT YET VALID".to_string()
    } else {
        format!("{days} days left")
    };
    row(
        "valid",
        format!(
            "{} .. {} ({state})",
            dockpki::format_time(c.not_before),
            dockpki::format_time(c.not_after)
        ),
    );
    let sans: Vec<String> = c
        .dns_names
        .iter()
        .map(|d| format!("DNS:{d}"))
        .chain(c.ip_addresses.iter().map(|i| format!("IP:{i}")))
        .collect();
    row(
        "SANs",
        if sans.is_empty() {
            "none".into()
        } else {
            sans.join(", ")
        },
    );
    let eku = if !c.has_extended_key_usage {
        "none (any purpose)".to_string()
    } else {
        c.extended_key_usages
            .iter()
            .map(|e| match e {
                ExtendedKeyUsage::ServerAuth => "serverAuth".to_string(),
                ExtendedKeyUsage::ClientAuth => "clientAuth".to_string(),
                ExtendedKeyUsage::Any => "any".to_string(),
                ExtendedKeyUsage::Other(oid) => oid.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    row("ext usage", eku);
    row("key usage", c.key_usages.join(", "));
    row(
        "CA",
        if c.is_ca {
            format!(
                "yes, path length {}",
                c.path_len
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "unlimited".into())
            )
        } else {
            "no".into()
        },
    );
    if let Some(nc) = &c.name_constraints {
        let names: Vec<String> = nc
            .permitted_dns
            .iter()
            .map(|d| d.to_string())
            .chain(nc.permitted_ips.iter().map(|r| r.to_string()))
            .collect();
        row("permits", names.join(", "));
    }
    row("key", c.public_key.clone());
    row("signature", c.signature_algorithm.clone());
    row("sha256", c.sha256_fingerprint.clone());
}
