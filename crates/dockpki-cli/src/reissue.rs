//! Re-issuing a recorded certificate (same kind, names and lifetime) into every layout it was
//! installed in: the shared step of `renew` and `ca rotate reissue`.

use dockpki::{
    CertificateAuthority, ClientRequest, IssuedCert, Lifetime, PrivateKey, SanList, ServerRequest,
    Usage,
};
use time::OffsetDateTime;

use crate::error::{CliError, CliResult};
use crate::fsio::WritePlan;
use crate::inventory::{Inventory, Record};
use crate::layout::Layout;
use crate::paths::ClientUser;
use crate::reader::{self, Limit, Links};

/// Where the new certificate's key comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyPolicy {
    /// A freshly generated key of the recorded type (the default: a renewal also rotates keys).
    Fresh,
    /// The key installed with the old certificate, read from its first layout.
    Reuse,
}

/// Issues the successor of `record` from `ca`, adds its files to `plan` for every layout the old
/// one was installed in (with `bundle_pem` as `ca.pem`), and records it in `inventory`, which
/// marks `record` superseded.
#[allow(clippy::too_many_arguments)]
pub fn reissue(
    ca: &CertificateAuthority,
    bundle_pem: &str,
    record: &Record,
    key_policy: KeyPolicy,
    user: &ClientUser,
    now: OffsetDateTime,
    plan: &mut WritePlan,
    inventory: &mut Inventory,
) -> CliResult<IssuedCert> {
    let what = format!(
        "re-issuing {} certificate {:?} (serial {})",
        record.kind,
        record.common_name.as_deref().unwrap_or(""),
        record.serial
    );
    let layouts: Vec<Layout> = record
        .installed
        .iter()
        .map(|dir| Layout::for_usage(record.kind, dir.clone()))
        .collect();
    let first = layouts.first().ok_or_else(|| {
        CliError::new(format!(
            "{what}: the inventory records no layout it was installed in"
        ))
    })?;
    let key = match key_policy {
        KeyPolicy::Fresh => PrivateKey::generate(record.key_type.unwrap_or_default())?,
        KeyPolicy::Reuse => {
            let pem = reader::read(&first.key_path(), Links::Follow, Limit::Pem)?;
            PrivateKey::from_pem(&pem)
                .map_err(|e| CliError::from(e).context(first.key_path().display()))?
        }
    };
    let lifetime = Lifetime::of_validity(record.not_before, record.not_after).ok_or_else(|| {
        CliError::new(format!(
            "{what}: its recorded validity is not a usable lifetime"
        ))
    })?;
    let common_name = record
        .common_name
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e: dockpki::Error| CliError::from(e).context(&what))?;
    let issued = match record.kind {
        Usage::Server => ca.issue_server(
            &ServerRequest {
                sans: SanList::parse(&record.sans).map_err(|e| CliError::from(e).context(&what))?,
                common_name,
                lifetime,
            },
            key,
            now,
        ),
        Usage::Client => ca.issue_client(
            &ClientRequest {
                common_name: common_name.ok_or_else(|| {
                    CliError::new(format!("{what}: the record has no common name"))
                })?,
                lifetime,
            },
            key,
            now,
        ),
    }
    .map_err(|e| CliError::from(e).context(&what))?;
    for layout in &layouts {
        layout.plan(plan, bundle_pem, &issued, user.owner_for(&layout.dir));
    }
    inventory.add(Record::new(
        &issued.info,
        record.kind,
        &ca.info().sha256_fingerprint,
        record.installed.clone(),
    ));
    Ok(issued)
}
