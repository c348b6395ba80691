//! `dockpki.toml`: the whole PKI described in one file (the CA, the daemons and their SANs, the
//! clients and their docker contexts, lifetimes and install paths), for a plan that shows the
//! drift from it and an apply that converges to it.
//!
//! This module reads and checks the file and nothing else: [`parse`] (or [`load`]) returns the
//! [`Desired`] PKI, with every value already in dockpki's own types, every profile reference
//! resolved, every name and install directory unique and every client's owner looked up, so
//! that nothing is touched before the whole file is known to be good. Each error is one line,
//! `FILE:LINE:COL: problem; fix`. docs/config.md describes the format field by field.
//!
//! ```
//! use dockpki_provision::config::{self, NoUsers};
//! let desired = config::parse(
//!     std::path::Path::new("dockpki.toml"),
//!     r#"
//!         [ca]
//!         name = "acme docker CA"
//!
//!         [[server]]
//!         name = "build-1"
//!         sans = ["build-1.docker.acme.internal", "10.0.0.5"]
//!         install = "/etc/docker/pki"
//!     "#,
//!     &NoUsers,
//! )?;
//! assert_eq!(desired.servers[0].validity.to_string(), "1y"); // `dockpki issue server`'s default
//! # Ok::<(), dockpki_provision::Error>(())
//! ```

mod file;
mod validate;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use dockpki::{CommonName, KeyType, Lifetime, NameConstraints, SanList};

use crate::docker::daemon_json::{Hardening, Listen};
use crate::docker::TcpEndpoint;
use crate::error::Result;
use crate::fs::reader::{self, Limit, Links};
use crate::fs::Owner;
use crate::store::expiry::RenewalWindow;

/// The PKI a configuration file describes, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    /// The CA (`[ca]`).
    pub ca: CaSpec,
    /// What becomes of a leaf no longer declared (`[policy] removed`).
    pub removed: Removed,
    /// The daemons (`[[server]]`), in the file's order.
    pub servers: Vec<ServerSpec>,
    /// The clients (`[[client]]`), in the file's order.
    pub clients: Vec<ClientSpec>,
}

/// The CA a file asks for (`[ca]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaSpec {
    /// Its subject common name; `None`: a unique name is chosen when the CA is made, and any
    /// existing CA's name is accepted.
    pub name: Option<CommonName>,
    /// The CA key's algorithm (default `ecdsa-p256`).
    pub key_type: KeyType,
    /// How long the CA is valid (default `10y`); no leaf may be declared longer.
    pub validity: Lifetime,
    /// Which names its leaves may carry (`permit_dns`, `permit_ip`); every server's SANs are
    /// checked against them.
    pub name_constraints: NameConstraints,
}

/// What happens to a certificate dockpki issued for an entry the file no longer declares.
///
/// Revoking is always done: a leaf nobody declares must stop being trusted. Whether its files
/// go too is a choice, and the default keeps them, because deleting is the one step that cannot
/// be undone: a daemon still running with that certificate would fail at its next restart, and
/// an entry removed by a bad merge would cost its files; revoked files left in place harm
/// nothing and can be deleted by hand once checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Removed {
    /// `"revoke"` (the default): the certificate is revoked, its files are left in place.
    #[default]
    Revoke,
    /// `"revoke-and-remove"`: the certificate is revoked and the files dockpki installed for it
    /// are removed.
    RevokeAndRemove,
}

/// One daemon's certificate (`[[server]]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSpec {
    /// The certificate's common name, unique among the servers.
    pub name: CommonName,
    /// Every DNS name and IP address clients dial, in the file's order, repeats dropped.
    pub sans: SanList,
    /// The directory its daemon layout (`ca.pem`, `server-cert.pem`, `server-key.pem`) is
    /// installed in: absolute, unique among all entries.
    pub install: PathBuf,
    /// Its key's algorithm: the entry's, else its profile's, else `[defaults]`', else
    /// `ecdsa-p256`.
    pub key_type: KeyType,
    /// Its validity: the entry's, else its profile's, else `[defaults] server_validity`, else
    /// one year.
    pub validity: Lifetime,
    /// When it counts as due for renewal: the entry's, else its profile's, else `[defaults]`',
    /// else [`RenewalWindow::Relative`].
    pub renew_before: RenewalWindow,
    /// The profile it names, if any (its values are already applied above).
    pub profile: Option<String>,
    /// The `daemon.json` to merge the TLS settings into, if any.
    pub daemon_config: Option<DaemonConfigSpec>,
}

/// A server's `daemon_config`: dockerd's configuration file to merge its TLS settings into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonConfigSpec {
    /// The file (absolute), e.g. `/etc/docker/daemon.json`; unique among the servers.
    pub file: PathBuf,
    /// Whether the hardening settings are merged too (`harden`, default false).
    pub hardening: Hardening,
    /// What dockerd listens on (`listen`): its `hosts` become exactly this list, in order.
    /// Default: [`DaemonConfigSpec::default_listen`].
    pub listen: Vec<Listen>,
}

impl DaemonConfigSpec {
    /// What `listen` means when left out, as for `dockpki daemon-config`: the system socket
    /// ([`daemon_json::SYSTEM_SOCKET`](crate::docker::daemon_json::SYSTEM_SOCKET)) and TLS on
    /// every address ([`daemon_json::DEFAULT_LISTEN`](crate::docker::daemon_json::DEFAULT_LISTEN)).
    pub fn default_listen() -> Vec<Listen> {
        [
            crate::docker::daemon_json::SYSTEM_SOCKET,
            crate::docker::daemon_json::DEFAULT_LISTEN,
        ]
        .into_iter()
        .filter_map(|a| Listen::parse(a).ok())
        .collect()
    }
}

/// One client's certificate (`[[client]]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSpec {
    /// The certificate's common name, unique among the clients.
    pub name: CommonName,
    /// The directory its client layout (`ca.pem`, `cert.pem`, `key.pem`) is installed in:
    /// absolute, unique among all entries.
    pub install: PathBuf,
    /// The user who owns the files, when not the one running dockpki.
    pub owner: Option<ClientOwner>,
    /// Its key's algorithm, inherited as [`ServerSpec::key_type`] is.
    pub key_type: KeyType,
    /// Its validity: the entry's, else its profile's, else `[defaults] client_validity`, else
    /// 90 days.
    pub validity: Lifetime,
    /// When it counts as due for renewal, inherited as [`ServerSpec::renew_before`] is.
    pub renew_before: RenewalWindow,
    /// The profile it names, if any (its values are already applied above).
    pub profile: Option<String>,
    /// The docker context made from its layout, if any.
    pub context: Option<ContextSpec>,
}

/// The user a client's files belong to: the name in the file and what it resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientOwner {
    /// The user name as written.
    pub user: String,
    /// Its uid and primary gid, from the caller's [`ResolveUser`].
    pub owner: Owner,
}

/// A client's docker context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextSpec {
    /// The context's name, valid for docker and unique among the clients.
    pub name: String,
    /// The daemon it connects to.
    pub host: TcpEndpoint,
}

/// Looks up the user a client's `owner` names. The caller decides how (the host's user
/// database through [`system_user`], a fixed table in tests); the library reads no user
/// database of its own accord.
pub trait ResolveUser {
    /// The user's uid and primary gid; `Ok(None)` when there is no such user.
    ///
    /// # Errors
    /// When the lookup itself fails (the user database cannot be read).
    fn resolve_user(&self, name: &str) -> Result<Option<Owner>>;
}

impl<F: Fn(&str) -> Result<Option<Owner>>> ResolveUser for F {
    fn resolve_user(&self, name: &str) -> Result<Option<Owner>> {
        self(name)
    }
}

/// A [`ResolveUser`] that knows no user: every `owner` is refused. For callers whose files
/// declare no owners (and doctests).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoUsers;

impl ResolveUser for NoUsers {
    fn resolve_user(&self, _name: &str) -> Result<Option<Owner>> {
        Ok(None)
    }
}

/// Looks a user up in the host's user database (NSS: `/etc/passwd`, LDAP, ...): the resolver a
/// command-line caller passes to [`parse`] or [`load`].
///
/// # Errors
/// When the user database cannot be read.
pub fn system_user(name: &str) -> Result<Option<Owner>> {
    nix::unistd::User::from_name(name)
        .map(|user| {
            user.map(|u| Owner {
                uid: u.uid.as_raw(),
                gid: u.gid.as_raw(),
            })
        })
        .map_err(|e| crate::Error::new(format!("the user database could not be read: {e}")))
}

/// Parses and checks a configuration's text. `name` is how messages call the file (its path).
///
/// # Errors
/// One line, `NAME:LINE:COL: problem; fix`, for the first thing wrong: TOML syntax, an unknown
/// or missing key, a value of the wrong type, a value dockpki refuses (a key type, a validity,
/// a SAN, a path, a context name or address, a user), a name or install directory given
/// twice, a profile not defined, a SAN outside the CA's constraints, a leaf outliving the CA.
pub fn parse(name: &Path, text: &str, users: &dyn ResolveUser) -> Result<Desired> {
    let src = validate::Source { name, text };
    let raw: file::File = toml::from_str(text).map_err(|e| {
        let message = format!(
            "{} (docs/config.md describes every table and key)",
            validate::one_line(e.message())
        );
        src.error(e.span().unwrap_or(0..0), message)
    })?;
    validate::desired(&src, raw, users)
}

/// Reads a configuration file and [`parse`]s it, after checking that nobody but root and the
/// running user could have written it, as OpenSSH's StrictModes does: the file declares who
/// gets a CA-signed client certificate, which is root on every daemon, so a file another user
/// could write or plant (`./dockpki.toml` in `/tmp` or in someone else's checkout) is never
/// applied. The rule:
///
/// - the file must be a regular file, not a symlink (the real path is given instead), owned by
///   root or the running user and not writable by group or others;
/// - its directory must be owned by root or the running user and not writable by group or
///   others, even with the sticky bit (in `/tmp` anyone can create `dockpki.toml` first);
/// - every directory above, up to `/`, must be owned by root or the running user and not
///   writable by group or others unless sticky (`/tmp`: nobody can rename another's entry);
/// - a symlinked directory on the way must be owned by root or the running user.
///
/// It is then read through [`reader`] (a regular file of at most 1 MiB, a link refused).
///
/// # Errors
/// When the file or a directory on its path breaks the rule above (the error names the file,
/// what is wrong and the `chown`/`chmod` or move that fixes it), when it cannot be read or is
/// not UTF-8, or as [`parse`].
pub fn load(path: &Path, users: &dyn ResolveUser) -> Result<Desired> {
    check_trusted(path)?;
    let bytes = reader::read(path, Links::Refuse, Limit::Config)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        crate::Error::new(format!(
            "{}: not UTF-8 text (byte {}); save the file as UTF-8",
            path.display(),
            e.valid_up_to()
        ))
    })?;
    parse(path, text, users)
}

/// [`load`]'s ownership rule, checked on `path` and every directory above it.
fn check_trusted(path: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let me = nix::unistd::geteuid().as_raw();
    let trusted = |uid: u32| uid == 0 || uid == me;
    let path = std::path::absolute(path).map_err(|e| crate::Error::io("resolve", path, &e))?;
    let quoted = |p: &Path| crate::text::shell_quote(&p.display().to_string());
    let refuse = |problem: String, fix: String| {
        crate::Error::new(format!(
            "refusing to read the configuration {}: {problem}, so someone else could have written it (it decides who gets a certificate); {fix}",
            path.display()
        ))
    };
    let m = std::fs::symlink_metadata(&path).map_err(|e| crate::Error::io("read", &path, &e))?;
    if m.file_type().is_symlink() {
        return Err(crate::Error::new(format!(
            "refusing to read the configuration {}: it is a symlink; give the real path with -c {}",
            path.display(),
            std::fs::canonicalize(&path).map_or_else(|_| "FILE".to_string(), |real| quoted(&real))
        )));
    }
    if !m.is_file() {
        return Err(crate::Error::new(format!(
            "{} is not a regular file; give the configuration file's path with -c FILE",
            path.display()
        )));
    }
    if !trusted(m.uid()) {
        return Err(refuse(
            format!("it is owned by uid {}, not by root or you", m.uid()),
            format!(
                "check it, then `chown {me} {}`, or copy it to a file of yours",
                quoted(&path)
            ),
        ));
    }
    if m.mode() & 0o022 != 0 {
        return Err(refuse(
            format!(
                "it is writable by group or others (mode {:04o})",
                m.mode() & 0o7777
            ),
            format!("check it, then `chmod go-w {}`", quoted(&path)),
        ));
    }
    let dir = path.parent().unwrap_or(Path::new("/"));
    // A symlink on the path as given: its owner could repoint it.
    for prefix in dir.ancestors() {
        let m =
            std::fs::symlink_metadata(prefix).map_err(|e| crate::Error::io("read", prefix, &e))?;
        if m.file_type().is_symlink() && !trusted(m.uid()) {
            return Err(refuse(
                format!(
                    "{} is a symlink owned by uid {}, who could point it anywhere",
                    prefix.display(),
                    m.uid()
                ),
                "give the real path with -c FILE".to_string(),
            ));
        }
    }
    let real = std::fs::canonicalize(dir).map_err(|e| crate::Error::io("resolve", dir, &e))?;
    for d in real.ancestors() {
        let m = std::fs::metadata(d).map_err(|e| crate::Error::io("read", d, &e))?;
        if !trusted(m.uid()) {
            return Err(refuse(
                format!(
                    "its directory {} is owned by uid {}, not by root or you",
                    d.display(),
                    m.uid()
                ),
                "move the file to a directory of yours and name it with -c FILE".to_string(),
            ));
        }
        // The file's own directory may not be sticky either: anyone could create the file
        // there first (and a file of theirs could be mistaken for one's own). Above it, a
        // sticky directory (`/tmp`) is safe: nobody can rename the entries it holds of others.
        let sticky = m.mode() & 0o1000 != 0;
        if m.mode() & 0o022 != 0 && (d == real || !sticky) {
            return Err(refuse(
                format!(
                    "its directory {} is writable by group or others (mode {:04o})",
                    d.display(),
                    m.mode() & 0o7777
                ),
                format!(
                    "move the file to a directory of yours and name it with -c FILE, or `chmod go-w {}`",
                    quoted(d)
                ),
            ));
        }
    }
    Ok(())
}
