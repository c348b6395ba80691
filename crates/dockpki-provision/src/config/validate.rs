//! From the file as written ([`super::file`]) to the [`Desired`] PKI: every value parsed into
//! dockpki's own types, every reference resolved and every clash found, each error naming the
//! file, line and column of the value at fault.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use dockpki::{
    CommonName, DnsSuffix, IpRange, KeyType, Lifetime, NameConstraints, SanList, SubjectAltName,
};
use toml::Spanned;

use super::file;
use super::{
    CaSpec, ClientOwner, ClientSpec, ContextSpec, DaemonConfigSpec, Desired, Removed, ResolveUser,
    ServerSpec,
};
use crate::docker::daemon_json::{Hardening, Listen};
use crate::docker::TcpEndpoint;
use crate::error::{Error, Result};
use crate::store::expiry::RenewalWindow;

/// The CA's validity when `[ca]` gives none: `dockpki ca init`'s default.
const CA_VALIDITY_DAYS: u32 = 3650;
/// A server's validity when nothing gives one: `dockpki issue server`'s default.
const SERVER_VALIDITY_DAYS: u32 = 365;
/// A client's validity when nothing gives one: `dockpki issue client`'s default.
const CLIENT_VALIDITY_DAYS: u32 = 90;

/// Where values are: the file's name, as shown in messages, and its text, to turn byte offsets
/// into lines and columns.
pub(super) struct Source<'a> {
    pub name: &'a Path,
    pub text: &'a str,
}

impl Source<'_> {
    /// `FILE:LINE:COL` of a byte offset, both counted from 1, the column in characters.
    pub(super) fn position(&self, offset: usize) -> String {
        let offset = offset.min(self.text.len());
        // A span never splits a character, but a clamped offset could: step back to one.
        let offset = (0..=offset)
            .rev()
            .find(|&o| self.text.is_char_boundary(o))
            .unwrap_or(0);
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        format!("{}:{line}:{col}", self.name.display())
    }

    /// An error at `span`, in one line.
    pub(super) fn error(&self, span: Range<usize>, message: impl std::fmt::Display) -> Error {
        Error::new(format!(
            "{}: {}",
            self.position(span.start),
            one_line(&message.to_string())
        ))
    }

    /// An error about a spanned value.
    fn at<T>(&self, value: &Spanned<T>, message: impl std::fmt::Display) -> Error {
        self.error(value.span(), message)
    }
}

/// `text` on one line: a message is one line even when what it quotes (or toml's own wording)
/// is not.
pub(super) fn one_line(text: &str) -> String {
    text.trim()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Checks the whole file and returns what it describes.
pub(super) fn desired(src: &Source<'_>, f: file::File, users: &dyn ResolveUser) -> Result<Desired> {
    let ca = ca(src, f.ca.get_ref())?;
    let defaults = Inherited::defaults(src, &f.defaults)?;
    let profiles = profiles(src, &f.profiles)?;
    let removed = match &f.policy.removed {
        None => Removed::default(),
        Some(r) => match r.get_ref().as_str() {
            "revoke" => Removed::Revoke,
            "revoke-and-remove" => Removed::RevokeAndRemove,
            other => {
                return Err(src.at(
                    r,
                    format!(
                        "[policy] removed {other:?} is not a policy; use \"revoke\" (files left in place) or \"revoke-and-remove\""
                    ),
                ))
            }
        },
    };

    let mut installs = Unique::new("install directory");
    let mut servers = Vec::with_capacity(f.server.len());
    let mut server_names = Unique::new("[[server]] name");
    let mut daemon_files = Unique::new("daemon_config file");
    for entry in &f.server {
        let s = entry.get_ref();
        let name = common_name(src, &s.name, "[[server]]")?;
        server_names.insert(src, &s.name, name.as_str())?;
        let what = format!("[[server]] {:?}", name.as_str());
        let sans = sans(src, &s.sans, &what, &ca.name_constraints)?;
        let install = absolute_path(src, &s.install, &what, "install")?;
        installs.insert(src, &s.install, &install.display().to_string())?;
        let profile = profile_ref(src, &profiles, s.profile.as_ref(), &what)?;
        let own = Inherited::entry(src, &s.key_type, &s.validity, &s.renew_before, &what)?;
        let resolved = own
            .over(profile)
            .over(&defaults.with_validity(defaults.server_validity));
        let validity = resolved
            .validity
            .unwrap_or(Lifetime::days(SERVER_VALIDITY_DAYS).unwrap_or(dockpki::MAX_LIFETIME));
        check_within_ca(src, entry, s.validity.as_ref(), &what, validity, &ca)?;
        let daemon_config = match &s.daemon_config {
            None => None,
            Some(d) => {
                let file = absolute_path(src, &d.file, &what, "daemon_config file")?;
                daemon_files.insert(src, &d.file, &file.display().to_string())?;
                let listen = match &d.listen {
                    None => DaemonConfigSpec::default_listen(),
                    Some(list) => listen_addresses(src, list, &what)?,
                };
                Some(DaemonConfigSpec {
                    file,
                    listen,
                    hardening: if d.harden {
                        Hardening::On
                    } else {
                        Hardening::Off
                    },
                })
            }
        };
        servers.push(ServerSpec {
            name,
            sans,
            install,
            key_type: resolved.key_type.unwrap_or_default(),
            validity,
            renew_before: resolved.renew_before.unwrap_or(RenewalWindow::Relative),
            profile: s.profile.as_ref().map(|p| p.get_ref().clone()),
            daemon_config,
        });
    }

    let mut clients = Vec::with_capacity(f.client.len());
    let mut client_names = Unique::new("[[client]] name");
    let mut contexts = Unique::new("context name");
    for entry in &f.client {
        let c = entry.get_ref();
        let name = common_name(src, &c.name, "[[client]]")?;
        client_names.insert(src, &c.name, name.as_str())?;
        let what = format!("[[client]] {:?}", name.as_str());
        let install = absolute_path(src, &c.install, &what, "install")?;
        installs.insert(src, &c.install, &install.display().to_string())?;
        let owner = match &c.owner {
            None => None,
            Some(user) => Some(owner(src, user, &what, users)?),
        };
        let profile = profile_ref(src, &profiles, c.profile.as_ref(), &what)?;
        let own = Inherited::entry(src, &c.key_type, &c.validity, &c.renew_before, &what)?;
        let resolved = own
            .over(profile)
            .over(&defaults.with_validity(defaults.client_validity));
        let validity = resolved
            .validity
            .unwrap_or(Lifetime::days(CLIENT_VALIDITY_DAYS).unwrap_or(dockpki::MAX_LIFETIME));
        check_within_ca(src, entry, c.validity.as_ref(), &what, validity, &ca)?;
        let context = match &c.context {
            None => None,
            Some(ctx) => {
                let name = ctx.name.get_ref();
                crate::docker::context::validate_name(name)
                    .map_err(|e| src.at(&ctx.name, format!("{what} context name: {e}")))?;
                contexts.insert(src, &ctx.name, name)?;
                let host = TcpEndpoint::from_str(ctx.host.get_ref())
                    .map_err(|e| src.at(&ctx.host, format!("{what} context host: {e}")))?;
                Some(ContextSpec {
                    name: name.clone(),
                    host,
                })
            }
        };
        clients.push(ClientSpec {
            name,
            install,
            owner,
            key_type: resolved.key_type.unwrap_or_default(),
            validity,
            renew_before: resolved.renew_before.unwrap_or(RenewalWindow::Relative),
            profile: c.profile.as_ref().map(|p| p.get_ref().clone()),
            context,
        });
    }

    Ok(Desired {
        ca,
        removed,
        servers,
        clients,
    })
}

/// `[ca]`.
fn ca(src: &Source<'_>, c: &file::Ca) -> Result<CaSpec> {
    let name = c
        .name
        .as_ref()
        .map(|n| common_name(src, n, "[ca]"))
        .transpose()?;
    let key_type = c
        .key_type
        .as_ref()
        .map(|k| key_type(src, k, "[ca]"))
        .transpose()?
        .unwrap_or_default();
    let validity = match &c.validity {
        Some(v) => lifetime(src, v, "[ca] validity")?,
        None => Lifetime::days(CA_VALIDITY_DAYS).unwrap_or(dockpki::MAX_LIFETIME),
    };
    let mut name_constraints = NameConstraints::default();
    for d in &c.permit_dns {
        let suffix = DnsSuffix::from_str(d.get_ref()).map_err(|e| {
            src.at(
                d,
                format!("[ca] permit_dns: {e}; give a DNS domain such as docker.example.com"),
            )
        })?;
        name_constraints.permitted_dns.push(suffix);
    }
    for r in &c.permit_ip {
        let range = IpRange::from_str(r.get_ref())
            .map_err(|e| src.at(r, format!("[ca] permit_ip: {e}")))?;
        name_constraints.permitted_ips.push(range);
    }
    Ok(CaSpec {
        name,
        key_type,
        validity,
        name_constraints,
    })
}

/// What a leaf inherits: from its own fields, its profile, `[defaults]`, in that order.
#[derive(Clone, Copy, Debug, Default)]
struct Inherited {
    key_type: Option<KeyType>,
    validity: Option<Lifetime>,
    renew_before: Option<RenewalWindow>,
}

/// `[defaults]`, parsed.
struct Defaults {
    common: Inherited,
    server_validity: Option<Lifetime>,
    client_validity: Option<Lifetime>,
}

impl Inherited {
    fn entry(
        src: &Source<'_>,
        key: &Option<Spanned<String>>,
        validity: &Option<Spanned<String>>,
        renew_before: &Option<Spanned<String>>,
        what: &str,
    ) -> Result<Inherited> {
        Ok(Inherited {
            key_type: key.as_ref().map(|k| key_type(src, k, what)).transpose()?,
            validity: validity
                .as_ref()
                .map(|v| lifetime(src, v, &format!("{what} validity")))
                .transpose()?,
            renew_before: renew_before
                .as_ref()
                .map(|r| window(src, r, what))
                .transpose()?,
        })
    }

    fn defaults(src: &Source<'_>, d: &file::Defaults) -> Result<Defaults> {
        let validity = |v: &Option<Spanned<String>>, field: &str| {
            v.as_ref()
                .map(|v| lifetime(src, v, &format!("[defaults] {field}")))
                .transpose()
        };
        Ok(Defaults {
            common: Inherited::entry(src, &d.key_type, &None, &d.renew_before, "[defaults]")?,
            server_validity: validity(&d.server_validity, "server_validity")?,
            client_validity: validity(&d.client_validity, "client_validity")?,
        })
    }

    /// `self`, with what it leaves unset taken from `under`.
    fn over(self, under: &Inherited) -> Inherited {
        Inherited {
            key_type: self.key_type.or(under.key_type),
            validity: self.validity.or(under.validity),
            renew_before: self.renew_before.or(under.renew_before),
        }
    }
}

impl Defaults {
    /// The defaults for one kind of leaf: the common ones and that kind's validity.
    fn with_validity(&self, validity: Option<Lifetime>) -> Inherited {
        Inherited {
            validity,
            ..self.common
        }
    }
}

/// `[profiles.NAME]`, parsed.
fn profiles(
    src: &Source<'_>,
    raw: &BTreeMap<Spanned<String>, file::Profile>,
) -> Result<BTreeMap<String, Inherited>> {
    let mut out = BTreeMap::new();
    for (name, p) in raw {
        let what = format!("[profiles.{}]", name.get_ref());
        if name.get_ref().trim().is_empty() {
            return Err(src.at(
                name,
                "a profile has an empty name; give it a name such as \"short-lived\"",
            ));
        }
        out.insert(
            name.get_ref().clone(),
            Inherited::entry(src, &p.key_type, &p.validity, &p.renew_before, &what)?,
        );
    }
    Ok(out)
}

/// The profile an entry names; none when it names none.
fn profile_ref<'p>(
    src: &Source<'_>,
    profiles: &'p BTreeMap<String, Inherited>,
    name: Option<&Spanned<String>>,
    what: &str,
) -> Result<&'p Inherited> {
    static NONE: Inherited = Inherited {
        key_type: None,
        validity: None,
        renew_before: None,
    };
    let Some(name) = name else { return Ok(&NONE) };
    profiles.get(name.get_ref()).ok_or_else(|| {
        let known = if profiles.is_empty() {
            "the file defines none; add a [profiles.NAME] table".to_string()
        } else {
            format!(
                "define it as [profiles.{}] or use one of: {}",
                name.get_ref(),
                profiles.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        };
        src.at(
            name,
            format!(
                "{what} refers to the profile {:?}, which is not defined; {known}",
                name.get_ref()
            ),
        )
    })
}

fn common_name(src: &Source<'_>, v: &Spanned<String>, what: &str) -> Result<CommonName> {
    CommonName::from_str(v.get_ref()).map_err(|e| src.at(v, format!("{what} name: {e}")))
}

fn key_type(src: &Source<'_>, v: &Spanned<String>, what: &str) -> Result<KeyType> {
    KeyType::from_str(v.get_ref()).map_err(|e| src.at(v, format!("{what} key_type: {e}")))
}

fn lifetime(src: &Source<'_>, v: &Spanned<String>, what: &str) -> Result<Lifetime> {
    Lifetime::from_str(v.get_ref()).map_err(|e| src.at(v, format!("{what}: {e}")))
}

/// `renew_before`: `"relative"` ([`RenewalWindow::Relative`], what `renew` does when given no
/// window), or a duration from zero to 100y ([`RenewalWindow::Within`], `renew --within`).
fn window(src: &Source<'_>, v: &Spanned<String>, what: &str) -> Result<RenewalWindow> {
    let text = v.get_ref();
    if text.trim() == "relative" {
        return Ok(RenewalWindow::Relative);
    }
    let rule = dockpki::duration::Rule {
        zero: dockpki::duration::Zero::Allowed,
        ..dockpki::VALIDITY_RULE
    };
    dockpki::duration::parse(text, rule)
        .map(RenewalWindow::Within)
        .map_err(|e| {
            src.at(
                v,
                format!(
                    "{what} renew_before {text:?}: {e}; give \"relative\" (30d or a third of the lifetime, whichever is less) or a duration such as 30d"
                ),
            )
        })
}

/// A server's SANs: each a DNS name or an IP address the CA's name constraints permit, at least
/// one.
fn sans(
    src: &Source<'_>,
    list: &Spanned<Vec<Spanned<String>>>,
    what: &str,
    constraints: &NameConstraints,
) -> Result<SanList> {
    let mut parsed = Vec::with_capacity(list.get_ref().len());
    for v in list.get_ref() {
        let san = SubjectAltName::from_str(v.get_ref())
            .map_err(|e| src.at(v, format!("{what} sans: {e}")))?;
        if !constraints.permits(&san) {
            return Err(src.at(
                v,
                format!(
                    "{what} sans: {san} is outside the names [ca] permits (permit_dns, permit_ip), so no client would accept it; remove it or widen the CA's constraints"
                ),
            ));
        }
        parsed.push(san);
    }
    SanList::new(parsed).map_err(|_| {
        src.at(
            list,
            format!("{what} sans is empty; give every DNS name and IP address clients dial, e.g. sans = [\"docker.example.com\", \"192.0.2.10\"]"),
        )
    })
}

fn absolute_path(
    src: &Source<'_>,
    v: &Spanned<String>,
    what: &str,
    field: &str,
) -> Result<PathBuf> {
    let path = PathBuf::from(v.get_ref());
    crate::text::refuse_unprintable(&format!("{what} {field}"), v.get_ref())
        .and_then(|()| crate::fs::write::check_path(&path))
        .map_err(|e| src.at(v, format!("{what} {field}: {e}")))?;
    // `/etc/docker/pki/` and `/etc/docker//pki` are `/etc/docker/pki`: one directory, compared
    // as one when looking for two entries installing into it.
    Ok(path.components().collect())
}

/// A server's `daemon_config.listen`: dockerd's `hosts`, in order, each an address
/// `dockpki daemon-config --listen` accepts (never plain TCP on 2375), none twice.
fn listen_addresses(
    src: &Source<'_>,
    list: &Spanned<Vec<Spanned<String>>>,
    what: &str,
) -> Result<Vec<Listen>> {
    if list.get_ref().is_empty() {
        return Err(src.at(
            list,
            format!("{what} daemon_config listen is empty; list the addresses dockerd listens on, e.g. [\"unix:///var/run/docker.sock\", \"tcp://0.0.0.0:2376\"], or leave the key out for those two"),
        ));
    }
    let mut seen = Vec::new();
    for address in list.get_ref() {
        let listen = crate::text::refuse_unprintable(
            &format!("{what} daemon_config listen"),
            address.get_ref(),
        )
        .and_then(|()| Listen::parse(address.get_ref()))
        .map_err(|e| src.at(address, format!("{what} daemon_config listen: {e}")))?;
        if seen.contains(&listen) {
            return Err(src.at(
                address,
                format!(
                    "{what} daemon_config listen: {:?} is listed twice; list each address once",
                    address.get_ref()
                ),
            ));
        }
        seen.push(listen);
    }
    Ok(seen)
}

fn owner(
    src: &Source<'_>,
    user: &Spanned<String>,
    what: &str,
    users: &dyn ResolveUser,
) -> Result<ClientOwner> {
    let name = user.get_ref();
    match users.resolve_user(name) {
        Ok(Some(owner)) => Ok(ClientOwner {
            user: name.clone(),
            owner,
        }),
        Ok(None) => Err(src.at(
            user,
            format!("{what} owner: there is no user {name:?} on this host; create the user or name an existing one"),
        )),
        Err(e) => Err(src.at(
            user,
            format!("{what} owner: the user {name:?} could not be looked up: {e}"),
        )),
    }
}

/// A leaf cannot outlive its CA: issuing it would fail, so the file is refused now. The error
/// points at the entry's own validity, or at the entry when it inherits one.
fn check_within_ca<T>(
    src: &Source<'_>,
    entry: &Spanned<T>,
    own: Option<&Spanned<String>>,
    what: &str,
    validity: Lifetime,
    ca: &CaSpec,
) -> Result<()> {
    if validity > ca.validity {
        return Err(src.error(
            own.map_or(entry.span(), Spanned::span),
            format!(
                "{what} validity {validity} is longer than the CA's {}, which a certificate cannot outlive; shorten it or lengthen [ca] validity",
                ca.validity
            ),
        ));
    }
    Ok(())
}

/// Values that must not repeat (names, install directories), each with where it first was.
struct Unique {
    what: &'static str,
    seen: BTreeSet<String>,
}

impl Unique {
    fn new(what: &'static str) -> Unique {
        Unique {
            what,
            seen: BTreeSet::new(),
        }
    }

    fn insert(&mut self, src: &Source<'_>, at: &Spanned<String>, value: &str) -> Result<()> {
        if !self.seen.insert(value.to_string()) {
            return Err(src.at(
                at,
                format!(
                    "the {} {value:?} is given twice; each must be unique, so rename or remove one",
                    self.what
                ),
            ));
        }
        Ok(())
    }
}
