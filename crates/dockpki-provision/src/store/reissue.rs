//! Re-issuing a recorded certificate (same kind, names and lifetime) into every layout it was
//! installed in: the shared step of `renew` and `ca rotate reissue`.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use dockpki::{
    CertificateAuthority, ClientRequest, IssuedCert, Lifetime, PrivateKey, SanList, ServerRequest,
    Usage,
};
use time::OffsetDateTime;

use crate::error::{Advice, Error, Result};
use crate::fs::owner::ActingAs;
use crate::fs::owner::OwnerPolicy;
use crate::fs::reader::{self, Limit, Links};
use crate::fs::write::{WritePlan, KEY_MODE};
use crate::layout::Layout;
use crate::store::inventory::{Inventory, Record};

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
///
/// # Errors
/// When the record has no layout, the key to reuse is refused, or the CA refuses the
/// request (a successor that would outlive it).
#[allow(clippy::too_many_arguments)]
pub fn reissue(
    ca: &CertificateAuthority,
    bundle_pem: &str,
    record: &Record,
    key_policy: KeyPolicy,
    owners: &OwnerPolicy,
    now: OffsetDateTime,
    plan: &mut WritePlan,
    inventory: &mut Inventory,
) -> Result<IssuedCert> {
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
    layouts.first().ok_or_else(|| {
        Error::new(format!(
            "{what}: the inventory records no layout it was installed in"
        ))
    })?;
    let key = match key_policy {
        KeyPolicy::Fresh => PrivateKey::generate(record.key_type.unwrap_or_default())?,
        KeyPolicy::Reuse => reused_key(record, &layouts, owners, &what)?,
    };
    let lifetime = Lifetime::of_validity(record.not_before, record.not_after).ok_or_else(|| {
        Error::new(format!(
            "{what}: its recorded validity is not a usable lifetime"
        ))
    })?;
    let common_name = record
        .common_name
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e: dockpki::Error| Error::from(e).context(&what))?;
    let issued = match record.kind {
        Usage::Server => ca.issue_server(
            &ServerRequest {
                sans: SanList::parse(&record.sans).map_err(|e| Error::from(e).context(&what))?,
                common_name,
                lifetime,
            },
            key,
            now,
        ),
        Usage::Client => ca.issue_client(
            &ClientRequest {
                common_name: common_name
                    .ok_or_else(|| Error::new(format!("{what}: the record has no common name")))?,
                lifetime,
            },
            key,
            now,
        ),
    }
    .map_err(|e| Error::from(e).context(&what))?;
    for layout in &layouts {
        layout.plan(plan, bundle_pem, &issued, owners.owner_for(&layout.dir));
    }
    inventory.add(Record::new(
        &issued.info,
        record.kind,
        &ca.info().sha256_fingerprint,
        record.installed.clone(),
    ));
    Ok(issued)
}

/// Refuses to reuse the key in `file` (opened from `path`) when group or others may read it.
/// Refusing rather than warning: the point of a renewal with `--reuse-key` is a certificate for
/// the same key, and if that key may have been copied the certificate should not be extended;
/// a fresh key costs nothing (docs/renewal.md).
fn refuse_readable_key(file: &std::fs::File, path: &std::path::Path) -> Result<()> {
    let mode = file
        .metadata()
        .map_err(|e| Error::io("read", path, &e))?
        .mode()
        & 0o7777;
    if mode & 0o077 == 0 {
        return Ok(());
    }
    Err(Error::advised(
        format!(
            "refusing to reuse the key {}: its mode {mode:04o} lets group or others read it, so it may have been copied; if you are sure nobody read it, chmod 400 it and rerun",
            path.display()
        ),
        Advice::NewKey,
    ))
}

/// The key to reuse for `record`: the key of the certificate the inventory records, read from
/// the first layout it was installed in. Runs as root on layouts other users own, so neither
/// file may be a symlink (a link swapped in at the right moment would make root read, and
/// re-certify, any key on the machine, the CA's included), the installed certificate must be
/// the recorded one, and the key must belong to it: whatever else lies there is not reused.
/// Every installed copy of the key must be private: a copy others could read may have been
/// taken, and renewing onto a taken key renews nothing.
fn reused_key(
    record: &Record,
    layouts: &[Layout],
    owners: &OwnerPolicy,
    what: &str,
) -> Result<PrivateKey> {
    // Read as the layout's owner (a layout made under sudo): whatever they swap into their own
    // tree, root reads only what they could.
    let owner = owners.owner_for(&layouts[0].dir);
    let _as = ActingAs::user(owner.map(|o| o.uid), owner.map(|o| o.gid))?;
    let open = |path: &Path| {
        reader::open(path, Links::Refuse, Limit::Pem).map_err(|e| e.into_error("read", path))
    };
    for layout in &layouts[1..] {
        match reader::open(&layout.key_path(), Links::Refuse, Limit::Pem) {
            Ok(file) => refuse_readable_key(&file, &layout.key_path())?,
            Err(reader::ReadError::NotFound(_)) => {}
            Err(reader::ReadError::Refused(e)) => return Err(e),
        }
    }
    let first = &layouts[0];
    let (cert_path, key_path) = (first.cert_path(), first.key_path());
    let cert = reader::read_opened(open(&cert_path)?, &cert_path, Limit::Pem)?;
    let installed = dockpki::certs_from_pem(&cert)
        .ok()
        .and_then(|c| c.into_iter().next())
        .filter(|der| {
            dockpki::inspect(der)
                .is_ok_and(|i| i.fingerprint().matches(&record.sha256))
        })
        .ok_or_else(|| {
            Error::advised(
                format!(
                    "{what}: {} is not the certificate the inventory records, so the key next to it is not reused",
                    cert_path.display()
                ),
                Advice::NewKey,
            )
        })?;
    let file = open(&key_path)?;
    refuse_readable_key(&file, &key_path)?;
    let pem = reader::read_opened(file, &key_path, Limit::Pem)?;
    let key = PrivateKey::from_pem(&pem).map_err(|e| Error::from(e).context(key_path.display()))?;
    if !dockpki::key_matches_cert(&key, &installed) {
        return Err(Error::advised(
            format!(
                "{what}: {} does not belong to the recorded certificate, so it is not reused",
                key_path.display()
            ),
            Advice::NewKey,
        ));
    }
    Ok(key)
}

/// After a renewal that reused `record`'s key, makes every installed copy 0400: an unchanged
/// file is left alone by the write (same contents), so an owner-only 0600 copy would keep its
/// mode, where dockpki writes keys 0400. `owners` are the layouts' owners as judged before the
/// update: judged again now, a layout swapped for a symlink would have none, and root would
/// follow it.
///
/// # Errors
/// When acting as a layout's owner fails, or a key's mode cannot be changed.
pub fn restrict_reused_keys(
    record: &Record,
    owners: &std::collections::BTreeMap<std::path::PathBuf, Option<crate::fs::owner::Owner>>,
) -> Result<()> {
    for dir in &record.installed {
        let path = Layout::for_usage(record.kind, dir.clone()).key_path();
        let Some(owner) = owners.get(dir).copied() else {
            continue;
        };
        let _as = ActingAs::user(owner.map(|o| o.uid), owner.map(|o| o.gid))?;
        // Through the opened file (O_NOFOLLOW, a regular file checked by fstat): chmod on the
        // path would follow a symlink swapped in since the write, to any file on the machine.
        let Ok(file) = reader::open(&path, Links::Refuse, Limit::Pem) else {
            continue;
        };
        let meta = file.metadata().map_err(|e| Error::io("read", &path, &e))?;
        if meta.mode() & 0o7777 != KEY_MODE {
            file.set_permissions(std::fs::Permissions::from_mode(KEY_MODE))
                .map_err(|e| Error::io("restrict permissions of", &path, &e))?;
        }
    }
    Ok(())
}
