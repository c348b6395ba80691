//! `dockpki inspect`.

use std::path::{Path, PathBuf};

use dockpki::{CertInfo, ExtendedKeyUsage, KeyType, PrivateKey};
use serde::Serialize;

use super::{now, Context};
use crate::error::{CliError, CliResult, EXIT_OK};
use crate::output::{print_json, say, Untrusted};
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
    #[serde(flatten)]
    contents: Contents,
}

/// Describes each file: certificates (all of a bundle) or a private key (its type only).
pub fn run(ctx: &Context, args: &crate::cli::InspectArgs) -> CliResult<i32> {
    let reports = args
        .files
        .iter()
        .map(|p| describe(p))
        .collect::<CliResult<Vec<_>>>()?;
    if ctx.out.json {
        print_json(&reports);
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
        match &r.contents {
            Contents::PrivateKey { key_type } => {
                say(format_args!(
                    "{}{mode}: private key, {key_type}",
                    r.path.display()
                ));
            }
            Contents::Certificates { certificates } => {
                say(format_args!(
                    "{}{mode}: {} certificate(s)",
                    r.path.display(),
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
    let bytes = reader::read(path, Links::Follow, Limit::Pem)?;
    let text = String::from_utf8_lossy(&bytes);
    let contents = if text.contains("PRIVATE KEY-----") && !text.contains("BEGIN CERTIFICATE") {
        let key =
            PrivateKey::from_pem(&bytes).map_err(|e| CliError::from(e).context(path.display()))?;
        Contents::PrivateKey {
            key_type: key.key_type(),
        }
    } else {
        let certs = dockpki::certs_from_pem(&bytes)
            .map_err(|e| CliError::from(e).context(path.display()))?;
        Contents::Certificates {
            certificates: certs
                .iter()
                .map(dockpki::inspect)
                .collect::<dockpki::Result<_>>()
                .map_err(|e| CliError::from(e).context(path.display()))?,
        }
    };
    Ok(FileReport {
        path: path.to_path_buf(),
        mode: mode_of(path).ok().map(|m| format!("{m:04o}")),
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
