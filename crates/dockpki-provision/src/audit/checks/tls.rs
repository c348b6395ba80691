//! The TLS files dockerd is configured with: whether they exist, chain to the CA and match
//! their key (`tls.files`), whether the server certificate and the CA are expired or due
//! (`tls.expiry`), and whether the server certificate names the host (`tls.san-coverage`).
//!
//! The judgements are `dockpki verify`'s ([`crate::layout::check`]), made on files read
//! through the [`Host`] rather than from this machine's own paths, and split into the three
//! rules so that an expired certificate is not reported as a broken one.

use std::path::{Path, PathBuf};

use dockpki::{CertInfo, CertificateDer, SubjectAltName, Usage, VerifyError};
use zeroize::Zeroizing;

use super::listen::tcp_listeners;
use crate::audit::host::Host;
use crate::audit::rules::{self, Context};
use crate::audit::{Fix, Outcome, Severity};
use crate::fs::reader::Limit;
use crate::layout::check::{key_verdict, not_a_ca, within_validity};
use crate::layout::Layout;
use crate::store::expiry::{is_due, is_expired, RenewalWindow};

/// The option naming each TLS file, its daemon.json key, and the name dockerd gives the file
/// in its default directory when the option is unset.
const FILES: [(&str, &str); 3] = [
    ("tlscacert", "ca.pem"),
    ("tlscert", "cert.pem"),
    ("tlskey", "key.pem"),
];

/// One TLS file as dockerd is configured to read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFile {
    /// Its path on the host.
    pub path: PathBuf,
    /// Where the path came from, for evidence (`"tlscert" in /etc/docker/daemon.json`).
    pub origin: String,
}

/// The CA, certificate and key files dockerd reads when TLS is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// `tlscacert`.
    pub ca: TlsFile,
    /// `tlscert`.
    pub cert: TlsFile,
    /// `tlskey`.
    pub key: TlsFile,
}

/// The TLS files of the daemon `cx` describes.
///
/// An option that is set nowhere takes dockerd's default: moby's `cmd/dockerd/options.go`
/// sets `tlscacert`, `tlscert` and `tlskey` to `ca.pem`, `cert.pem` and `key.pem` in
/// `$DOCKER_CERT_PATH`, else `cliconfig.Dir()`, which is `$DOCKER_CONFIG` or `~/.docker` of the
/// user running dockerd: `/root/.docker` for the system daemon. dockerd's environment is not
/// seen by the audit, so the two variables are taken as unset. (dockerd blanks a default
/// `cert.pem` or `key.pem` that does not exist, and then refuses to start for want of a key
/// pair: a missing default file is as fatal as a missing configured one.)
pub fn tls_files(cx: &Context<'_>) -> TlsFiles {
    let config = cx.config;
    let default_dir = daemon_home(cx).join(".docker");
    let source = config.describe_source();
    let file_name = config
        .file
        .as_ref()
        .map(|f| cx.host.shown(&f.path).display().to_string());
    let one = |(option, default_name): (&str, &str)| {
        let on_command_line = matches!(config.flag_values(option).last(), Some(Some(_)));
        match config.string(option) {
            Some(path) if on_command_line => TlsFile {
                path: PathBuf::from(path),
                origin: format!("--{option} on the command line of {source}"),
            },
            Some(path) => TlsFile {
                path: PathBuf::from(path),
                origin: format!("{option:?} in {}", file_name.clone().unwrap_or_default()),
            },
            None => TlsFile {
                path: default_dir.join(default_name),
                origin: format!("dockerd's default, as {option} is not set"),
            },
        }
    };
    TlsFiles {
        ca: one(FILES[0]),
        cert: one(FILES[1]),
        key: one(FILES[2]),
    }
}

/// The home directory of the user running dockerd: root's for the system daemon, the user's
/// (from `/etc/passwd` on the host) for a rootless one.
fn daemon_home(cx: &Context<'_>) -> PathBuf {
    let uid = cx.config.daemon_uid();
    let listed = cx
        .host
        .accounts()
        .ok()
        .and_then(|all| all.into_iter().find(|a| a.uid == uid))
        .map(|a| a.home)
        .filter(|h| h.is_absolute());
    listed.unwrap_or_else(|| PathBuf::from("/root"))
}

/// What reading one file gave.
enum Got {
    /// It does not exist.
    Missing,
    /// The audit itself may not read it (it does not run as root on the live host): nothing
    /// is known about dockerd's view of it.
    Denied(String),
    /// It cannot be read by anyone (not a regular file, too large, a loop of links).
    Failed(String),
    /// Its contents.
    Bytes(Zeroizing<Vec<u8>>),
}

fn fetch(host: &dyn Host, path: &Path) -> Got {
    match host.read(path, Limit::Pem) {
        Ok(None) => Got::Missing,
        Ok(Some(bytes)) => Got::Bytes(bytes),
        // On the live host, a file root may read but the auditing user may not is no finding:
        // dockerd runs as root.
        Err(e) if host.is_live() && !nix::unistd::geteuid().is_root() => {
            Got::Denied(e.message().to_string())
        }
        Err(e) => Got::Failed(e.message().to_string()),
    }
}

/// A certificate file read and parsed.
enum Certs {
    /// Nothing usable; the outcome of `tls.files` says why.
    None,
    /// The certificates, each with what it says.
    Some(Vec<(CertificateDer<'static>, CertInfo)>),
}

fn parse(bytes: &[u8]) -> std::result::Result<Vec<(CertificateDer<'static>, CertInfo)>, String> {
    let ders = dockpki::certs_from_pem(bytes).map_err(|e| e.to_string())?;
    ders.into_iter()
        .map(|der| {
            let info = dockpki::inspect(&der).map_err(|e| e.to_string())?;
            Ok((der, info))
        })
        .collect()
}

/// Runs the rules of this group.
pub fn run(cx: &Context<'_>) -> Vec<Outcome> {
    let config = cx.config;
    let verify = config.bool("tlsverify") == Some(true);
    // tlsverify implies tls for dockerd.
    if !verify && config.bool("tls") != Some(true) {
        let why = format!(
            "TLS is not enabled (neither tls nor tlsverify is set, per {})",
            config.describe_source()
        );
        return [&rules::TLS_FILES, &rules::TLS_EXPIRY, &rules::TLS_SANS]
            .into_iter()
            .map(|rule| Outcome::not_applicable(rule, why.clone()))
            .collect();
    }
    let files = tls_files(cx);
    let host = cx.host;
    let name = |f: &TlsFile| format!("{} ({})", host.shown(&f.path).display(), f.origin);
    let mut out = Vec::new();
    let names = host_names(cx);

    // The CA bundle: with tlsverify dockerd reads it to verify clients; with tls alone it
    // reads no CA, and a missing one is nothing to report.
    let ca_name = name(&files.ca);
    let bundle = match fetch(host, &files.ca.path) {
        Got::Missing if !verify => {
            out.push(Outcome::not_applicable(
                &rules::TLS_FILES,
                format!("{ca_name} does not exist, and without tlsverify dockerd reads no CA"),
            ));
            Certs::None
        }
        got => {
            let (outcome, certs) = judge_ca(cx, &files, &names, &ca_name, got);
            out.push(outcome);
            certs
        }
    };
    let anchors: Vec<CertificateDer<'static>> = match &bundle {
        Certs::Some(certs) if certs.iter().all(|(_, i)| i.is_ca) => {
            certs.iter().map(|(d, _)| d.clone()).collect()
        }
        _ => Vec::new(),
    };

    // The server certificate.
    let cert_name = name(&files.cert);
    let leaf: Option<(CertificateDer<'static>, CertInfo)> = match fetch(host, &files.cert.path) {
        Got::Missing => {
            out.push(broken(
                cx,
                &files,
                &names,
                format!("{cert_name} does not exist: dockerd does not start"),
            ));
            None
        }
        Got::Denied(why) => {
            out.push(denied(&cert_name, &why));
            None
        }
        Got::Failed(why) => {
            out.push(broken(cx, &files, &names, format!("{cert_name}: {why}")));
            None
        }
        Got::Bytes(bytes) => match parse(&bytes) {
            Err(why) => {
                out.push(broken(cx, &files, &names, format!("{cert_name}: {why}")));
                None
            }
            Ok(mut certs) => {
                let (der, info) = certs.swap_remove(0);
                out.push(judge_leaf(
                    cx, &files, &names, &cert_name, &der, &info, &anchors, &bundle,
                ));
                Some((der, info))
            }
        },
    };

    // The key.
    let key_name = name(&files.key);
    match fetch(host, &files.key.path) {
        Got::Missing => out.push(broken(
            cx,
            &files,
            &names,
            format!("{key_name} does not exist: dockerd does not start"),
        )),
        Got::Denied(why) => out.push(denied(&key_name, &why)),
        Got::Failed(why) => out.push(broken(cx, &files, &names, format!("{key_name}: {why}"))),
        Got::Bytes(bytes) => match &leaf {
            Some((der, _)) => match key_verdict(&bytes, der) {
                Ok(what) => out.push(Outcome::pass(
                    &rules::TLS_FILES,
                    format!("{key_name}: {what}"),
                )),
                Err(why) => out.push(broken(cx, &files, &names, format!("{key_name}: {why}"))),
            },
            None => match dockpki::PrivateKey::from_pem(&bytes) {
                Err(e) => out.push(broken(cx, &files, &names, format!("{key_name}: {e}"))),
                Ok(_) => out.push(Outcome::not_applicable(
                    &rules::TLS_FILES,
                    format!(
                        "{key_name} holds a key, but no certificate could be read to match it with"
                    ),
                )),
            },
        },
    }

    out.extend(expiry(cx, &ca_name, &bundle, &cert_name, leaf.as_ref()));
    out.push(san_coverage(
        cx,
        &files,
        &names,
        &cert_name,
        leaf.as_ref(),
        &anchors,
    ));
    out
}

/// `tls.files` for the CA bundle, and the certificates it holds.
fn judge_ca(
    cx: &Context<'_>,
    files: &TlsFiles,
    names: &[SubjectAltName],
    ca_name: &str,
    got: Got,
) -> (Outcome, Certs) {
    let bytes = match got {
        Got::Missing => {
            return (
                broken(
                    cx,
                    files,
                    names,
                    format!("{ca_name} does not exist: dockerd with tlsverify does not start"),
                ),
                Certs::None,
            )
        }
        Got::Denied(why) => return (denied(ca_name, &why), Certs::None),
        Got::Failed(why) => {
            return (
                broken(cx, files, names, format!("{ca_name}: {why}")),
                Certs::None,
            )
        }
        Got::Bytes(bytes) => bytes,
    };
    match parse(&bytes) {
        Err(why) => (
            broken(cx, files, names, format!("{ca_name}: {why}")),
            Certs::None,
        ),
        Ok(certs) => {
            let not_ca = certs
                .iter()
                .enumerate()
                .find_map(|(i, (_, info))| not_a_ca(i + 1, info));
            let outcome = match not_ca {
                Some(why) => broken(cx, files, names, format!("{ca_name}: {why}")),
                None => Outcome::pass(
                    &rules::TLS_FILES,
                    format!("{ca_name} holds {} CA certificate(s)", certs.len()),
                ),
            };
            (outcome, Certs::Some(certs))
        }
    }
}

/// `tls.files` for the server certificate: it chains to the CA as a server certificate. Its
/// expiry is `tls.expiry`'s and its names `tls.san-coverage`'s, so the chain is judged at a
/// moment inside its validity.
#[allow(clippy::too_many_arguments)]
fn judge_leaf(
    cx: &Context<'_>,
    files: &TlsFiles,
    names: &[SubjectAltName],
    cert_name: &str,
    der: &CertificateDer<'static>,
    info: &CertInfo,
    anchors: &[CertificateDer<'static>],
    bundle: &Certs,
) -> Outcome {
    let ca_name = cx.host.shown(&files.ca.path).display().to_string();
    if !anchors.is_empty() {
        let at = within_validity(info, cx.request.now);
        return match dockpki::verify_leaf(der, anchors, Usage::Server, None, at) {
            Ok(()) => Outcome::pass(
                &rules::TLS_FILES,
                format!("{cert_name} chains to {ca_name} as a server certificate"),
            ),
            Err(e) => broken(cx, files, names, format!("{cert_name}: {e}")),
        };
    }
    if let Certs::Some(_) = bundle {
        // A bundle that is not only CAs is already a finding; chaining to it says nothing.
        return Outcome::not_applicable(
            &rules::TLS_FILES,
            format!("{cert_name} is not chained: {ca_name} is not a CA bundle"),
        );
    }
    // No CA to chain it to (tls without tlsverify, or a CA that cannot be read): the usage is
    // all that can be judged, as Go judges it (no EKU extension allows every use).
    let server = !info.has_extended_key_usage
        || info.extended_key_usages.iter().any(|u| {
            matches!(
                u,
                dockpki::ExtendedKeyUsage::ServerAuth | dockpki::ExtendedKeyUsage::Any
            )
        });
    if server {
        Outcome::pass(
            &rules::TLS_FILES,
            format!("{cert_name} is a server certificate (no readable CA to chain it to)"),
        )
    } else {
        broken(
            cx,
            files,
            names,
            format!(
                "{cert_name}: {}",
                VerifyError::WrongUsage {
                    usage: Usage::Server
                }
            ),
        )
    }
}

/// A high `tls.files` finding: dockerd does not start, or clients refuse it.
fn broken(
    cx: &Context<'_>,
    files: &TlsFiles,
    names: &[SubjectAltName],
    evidence: String,
) -> Outcome {
    Outcome::fail(
        &rules::TLS_FILES,
        Severity::High,
        evidence,
        reissue_fix(cx, files, names),
    )
}

/// A file the audit may not read: the rule cannot judge it.
fn denied(name: &str, why: &str) -> Outcome {
    Outcome::not_applicable(
        &rules::TLS_FILES,
        format!("{name} cannot be read by this audit (run it as root): {why}"),
    )
}

/// The directory of a daemon layout when the three files are exactly one (`ca.pem`,
/// `server-cert.pem`, `server-key.pem` in one directory), which `dockpki issue server --out`
/// writes.
fn layout_dir(files: &TlsFiles) -> Option<PathBuf> {
    let dir = files.cert.path.parent()?;
    let layout = Layout::daemon(dir.to_path_buf());
    (layout.ca_path() == files.ca.path
        && layout.cert_path() == files.cert.path
        && layout.key_path() == files.key.path)
        .then(|| dir.to_path_buf())
}

/// The fix for broken TLS files: a new server certificate, its key and the CA, issued
/// together into the daemon layout with `sans`; in words when the files are not a layout
/// dockpki writes.
fn issue_fix(cx: &Context<'_>, files: &TlsFiles, sans: &[String]) -> Fix {
    match layout_dir(files) {
        Some(dir) => {
            let mut args: Vec<String> = vec!["issue".into(), "server".into()];
            if sans.is_empty() {
                args.extend(["--san".into(), "NAME".into()]);
            }
            for san in sans {
                args.extend(["--san".into(), san.clone()]);
            }
            args.extend([
                "--out".into(),
                cx.host.shown(&dir).display().to_string(),
                "--force".into(),
            ]);
            Fix::Dockpki { args }
        }
        None => Fix::manual(format!(
            "install a CA certificate, a server certificate and its key issued together as {}, {} and {} (dockpki issue server --out DIR writes DIR/ca.pem, server-cert.pem and server-key.pem: name those in daemon.json with dockpki daemon-config --daemon-dir DIR)",
            cx.host.shown(&files.ca.path).display(),
            cx.host.shown(&files.cert.path).display(),
            cx.host.shown(&files.key.path).display()
        )),
    }
}

/// [`issue_fix`] with the host's names.
fn reissue_fix(cx: &Context<'_>, files: &TlsFiles, names: &[SubjectAltName]) -> Fix {
    let sans: Vec<String> = names.iter().map(ToString::to_string).collect();
    issue_fix(cx, files, &sans)
}

/// `tls.expiry`: one outcome for the server certificate and one for each CA of the bundle.
fn expiry(
    cx: &Context<'_>,
    ca_name: &str,
    bundle: &Certs,
    cert_name: &str,
    leaf: Option<&(CertificateDer<'static>, CertInfo)>,
) -> Vec<Outcome> {
    let now = cx.request.now;
    let mut out = Vec::new();
    let mut judge = |what: String, info: &CertInfo, renew: Fix| {
        let until = dockpki::format_time(info.not_after);
        out.push(if now < info.not_before {
            Outcome::fail(
                &rules::TLS_EXPIRY,
                Severity::High,
                format!(
                    "{what} is not valid before {}",
                    dockpki::format_time(info.not_before)
                ),
                Fix::manual("check the host's clock; clients refuse a certificate not yet valid"),
            )
        } else if is_expired(info.not_after, now) {
            Outcome::fail(
                &rules::TLS_EXPIRY,
                Severity::High,
                format!("{what} expired at {until}"),
                renew,
            )
        } else if is_due(
            info.not_before,
            info.not_after,
            now,
            RenewalWindow::Relative,
        ) {
            Outcome::fail(
                &rules::TLS_EXPIRY,
                Severity::Low,
                format!(
                    "{what} expires at {until}, in {} days: it is due for renewal",
                    info.days_left(now)
                ),
                renew,
            )
        } else {
            Outcome::pass(
                &rules::TLS_EXPIRY,
                format!(
                    "{what} is valid until {until} ({} days)",
                    info.days_left(now)
                ),
            )
        });
    };
    if let Some((_, info)) = leaf {
        judge(
            format!("the server certificate {cert_name}"),
            info,
            Fix::dockpki(["renew"]),
        );
    }
    if let Certs::Some(certs) = bundle {
        for (_, info) in certs.iter().filter(|(_, i)| i.is_ca) {
            judge(
                format!("the CA {:?} in {ca_name}", info.subject),
                info,
                Fix::dockpki(["ca", "rotate", "begin"]),
            );
        }
    }
    if out.is_empty() {
        out.push(Outcome::not_applicable(
            &rules::TLS_EXPIRY,
            "no certificate could be read (see tls.files)",
        ));
    }
    out
}

/// The names and addresses the server certificate must cover: the host name in
/// `/etc/hostname`, and the specific addresses (not `0.0.0.0` or `::`) dockerd's TCP
/// listeners are bound to, which clients dial. Both are read from the host, a tree as well as
/// the live machine: a tree's daemon.json binds the addresses of the machine it configures.
pub fn host_names(cx: &Context<'_>) -> Vec<SubjectAltName> {
    let mut names: Vec<SubjectAltName> = Vec::new();
    if let Ok(Some(bytes)) = cx.host.read(Path::new("/etc/hostname"), Limit::Config) {
        let text = String::from_utf8_lossy(&bytes);
        // hostname(5): one line, the name; comments are allowed on some systems.
        let first = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'));
        if let Some(san) = first.and_then(|n| n.parse::<SubjectAltName>().ok()) {
            names.push(san);
        }
    }
    for listener in tcp_listeners(&cx.config.hosts(), true) {
        if listener.all_interfaces() {
            continue;
        }
        if let Ok(san) = listener.host.parse::<SubjectAltName>() {
            if !names.contains(&san) {
                names.push(san);
            }
        }
    }
    names
}

/// `tls.san-coverage`: the server certificate names every name of [`host_names`].
fn san_coverage(
    cx: &Context<'_>,
    files: &TlsFiles,
    names: &[SubjectAltName],
    cert_name: &str,
    leaf: Option<&(CertificateDer<'static>, CertInfo)>,
    anchors: &[CertificateDer<'static>],
) -> Outcome {
    let rule = &rules::TLS_SANS;
    let Some((der, info)) = leaf else {
        return Outcome::not_applicable(
            rule,
            "no server certificate could be read (see tls.files)",
        );
    };
    if names.is_empty() {
        return Outcome::not_applicable(
            rule,
            "the host has no name in /etc/hostname and dockerd listens on no specific address",
        );
    }
    if anchors.is_empty() {
        return Outcome::not_applicable(
            rule,
            format!("{cert_name} cannot be verified without its CA (see tls.files)"),
        );
    }
    // Go's (webpki's) own matching, wildcards included, through verify_leaf.
    let at = within_validity(info, cx.request.now);
    let mut missing: Vec<String> = Vec::new();
    for name in names {
        match dockpki::verify_leaf(der, anchors, Usage::Server, Some(name), at) {
            Ok(()) => {}
            Err(VerifyError::NameMismatch { .. } | VerifyError::NoSans) => {
                missing.push(name.to_string());
            }
            Err(e) => {
                return Outcome::not_applicable(
                    rule,
                    format!("{cert_name} does not verify, so its names are not judged: {e}"),
                )
            }
        }
    }
    let has = info.san_strings();
    if missing.is_empty() {
        return Outcome::pass(
            rule,
            format!(
                "{cert_name} names {}",
                names
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    let mut sans = has.clone();
    sans.extend(missing.iter().cloned());
    Outcome::fail(
        rule,
        Severity::Medium,
        format!(
            "{cert_name} does not name {} (it names {})",
            missing.join(", "),
            if has.is_empty() {
                "nothing".to_string()
            } else {
                has.join(", ")
            }
        ),
        issue_fix(cx, files, &sans),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::audit::TreeHost;
    use dockpki::{
        CaOptions, CertificateAuthority, ClientRequest, IssuedCert, KeyType, OffsetDateTime,
        PrivateKey, SanList, ServerRequest,
    };
    use std::os::unix::fs::PermissionsExt;

    /// Writes `contents` at `path` inside `tree` (a path on the host), directories created.
    pub(crate) fn put(tree: &Path, path: &str, contents: &str, mode: u32) {
        let full = tree.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, contents).unwrap();
        std::fs::set_permissions(&full, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Runs `check` over the tree at `tree` as of `now`.
    pub(crate) fn outcomes(
        tree: &Path,
        now: OffsetDateTime,
        check: fn(&Context<'_>) -> Vec<Outcome>,
    ) -> Vec<Outcome> {
        super::super::fixture::run_at(&TreeHost::tree(tree).unwrap(), now, check)
    }

    /// The outcomes of rule `id`.
    pub(crate) fn of<'a>(all: &'a [Outcome], id: &str) -> Vec<&'a Outcome> {
        all.iter().filter(|o| o.id() == id).collect()
    }

    /// The findings of rule `id`.
    pub(crate) fn findings<'a>(all: &'a [Outcome], id: &str) -> Vec<&'a crate::audit::Finding> {
        all.iter()
            .filter(|o| o.id() == id)
            .filter_map(Outcome::finding)
            .collect()
    }

    const PKI: &str = "/etc/docker/pki";
    const DAEMON_JSON: &str = r#"{
  "tlsverify": true,
  "tlscacert": "/etc/docker/pki/ca.pem",
  "tlscert": "/etc/docker/pki/server-cert.pem",
  "tlskey": "/etc/docker/pki/server-key.pem",
  "hosts": ["unix:///var/run/docker.sock", "tcp://192.0.2.10:2376"]
}"#;

    struct Fixture {
        tree: tempfile::TempDir,
        ca: CertificateAuthority,
        now: OffsetDateTime,
    }

    impl Fixture {
        /// A tree whose daemon.json names a daemon layout in /etc/docker/pki with a 90-day
        /// server certificate for `docker1` and 192.0.2.10, the host's name and listen address.
        fn new() -> Fixture {
            let now = OffsetDateTime::now_utc();
            let ca = CertificateAuthority::create(&CaOptions::new(now).unwrap(), now).unwrap();
            let f = Fixture {
                tree: tempfile::tempdir().unwrap(),
                ca,
                now,
            };
            put(f.dir(), "/etc/hostname", "docker1\n", 0o644);
            put(f.dir(), "/etc/docker/daemon.json", DAEMON_JSON, 0o644);
            put(f.dir(), "/etc/docker/pki/ca.pem", f.ca.cert_pem(), 0o444);
            let server = f.server(&["docker1", "192.0.2.10"], "90d");
            f.install(&server);
            f
        }

        fn dir(&self) -> &Path {
            self.tree.path()
        }

        fn server(&self, sans: &[&str], lifetime: &str) -> IssuedCert {
            self.ca
                .issue_server(
                    &ServerRequest {
                        sans: SanList::parse(sans).unwrap(),
                        common_name: None,
                        lifetime: lifetime.parse().unwrap(),
                    },
                    PrivateKey::generate(KeyType::EcdsaP256).unwrap(),
                    self.now,
                )
                .unwrap()
        }

        fn install(&self, issued: &IssuedCert) {
            put(
                self.dir(),
                &format!("{PKI}/server-cert.pem"),
                &issued.cert_pem,
                0o444,
            );
            put(
                self.dir(),
                &format!("{PKI}/server-key.pem"),
                &issued.key_pem(),
                0o400,
            );
        }

        fn run(&self, now: OffsetDateTime) -> Vec<Outcome> {
            outcomes(self.dir(), now, run)
        }
    }

    fn ids_failing(all: &[Outcome]) -> Vec<String> {
        all.iter()
            .filter_map(Outcome::finding)
            .map(|f| format!("{} {}: {}", f.id, f.severity, f.evidence))
            .collect()
    }

    #[test]
    fn a_daemon_layout_issued_for_the_hosts_names_passes_every_tls_rule() {
        let f = Fixture::new();
        let all = f.run(f.now);
        assert!(ids_failing(&all).is_empty(), "{:?}", ids_failing(&all));
        // One outcome per file, per certificate, and one for the names.
        assert_eq!(of(&all, "tls.files").len(), 3, "{all:?}");
        assert_eq!(of(&all, "tls.expiry").len(), 2, "{all:?}");
        let sans = of(&all, "tls.san-coverage");
        assert!(
            matches!(sans[..], [Outcome::Pass { ref evidence, .. }] if evidence.contains("docker1, 192.0.2.10")),
            "{sans:?}"
        );
        assert!(all
            .iter()
            .all(|o| !matches!(o, Outcome::NotApplicable { .. })));
    }

    #[test]
    fn without_tls_the_tls_rules_do_not_apply() {
        let f = Fixture::new();
        put(
            f.dir(),
            "/etc/docker/daemon.json",
            r#"{"tls": false}"#,
            0o644,
        );
        let all = f.run(f.now);
        assert_eq!(all.len(), 3);
        assert!(all
            .iter()
            .all(|o| matches!(o, Outcome::NotApplicable { reason, .. } if reason.contains("TLS is not enabled"))));
    }

    #[test]
    fn a_missing_key_is_high_with_a_reissue_into_the_layout() {
        let f = Fixture::new();
        std::fs::remove_file(f.dir().join("etc/docker/pki/server-key.pem")).unwrap();
        let all = f.run(f.now);
        let found = findings(&all, "tls.files");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].severity, Severity::High);
        assert!(found[0].evidence.contains("server-key.pem"), "{found:?}");
        assert!(found[0].evidence.contains("\"tlskey\" in"), "{found:?}");
        let out = f.dir().join("etc/docker/pki").display().to_string();
        assert_eq!(
            found[0].fix,
            Fix::dockpki([
                "issue",
                "server",
                "--san",
                "docker1",
                "--san",
                "192.0.2.10",
                "--out",
                &out,
                "--force"
            ])
        );
    }

    #[test]
    fn a_key_of_another_pair_is_high() {
        let f = Fixture::new();
        let other = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        put(
            f.dir(),
            "/etc/docker/pki/server-key.pem",
            &other.to_pem(),
            0o400,
        );
        let found = findings(&f.run(f.now), "tls.files")
            .into_iter()
            .cloned()
            .collect::<Vec<_>>();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].severity, Severity::High);
        assert!(found[0].evidence.contains("does not belong"), "{found:?}");
    }

    #[test]
    fn an_unparsable_certificate_is_high() {
        let f = Fixture::new();
        put(
            f.dir(),
            "/etc/docker/pki/server-cert.pem",
            "not a certificate\n",
            0o444,
        );
        let all = f.run(f.now);
        let found = findings(&all, "tls.files");
        assert!(
            found
                .iter()
                .any(|x| x.severity == Severity::High && x.evidence.contains("server-cert.pem")),
            "{found:?}"
        );
        // Nothing to judge the expiry or names of, said so rather than failed.
        assert!(matches!(
            of(&all, "tls.san-coverage")[..],
            [Outcome::NotApplicable { .. }]
        ));
    }

    #[test]
    fn a_certificate_of_another_ca_is_high() {
        let f = Fixture::new();
        let other = CertificateAuthority::create(&CaOptions::new(f.now).unwrap(), f.now).unwrap();
        put(f.dir(), "/etc/docker/pki/ca.pem", other.cert_pem(), 0o444);
        let found = findings(&f.run(f.now), "tls.files")
            .into_iter()
            .cloned()
            .collect::<Vec<_>>();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].evidence.contains("not in the CA bundle"),
            "{found:?}"
        );
        assert_eq!(found[0].severity, Severity::High);
    }

    #[test]
    fn a_client_certificate_served_as_the_servers_is_high() {
        let f = Fixture::new();
        let client =
            f.ca.issue_client(
                &ClientRequest {
                    common_name: "alice".parse().unwrap(),
                    lifetime: "30d".parse().unwrap(),
                },
                PrivateKey::generate(KeyType::EcdsaP256).unwrap(),
                f.now,
            )
            .unwrap();
        f.install(&client);
        let found = findings(&f.run(f.now), "tls.files")
            .into_iter()
            .cloned()
            .collect::<Vec<_>>();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].evidence.contains("serverAuth"), "{found:?}");
    }

    #[test]
    fn a_certificate_in_its_renewal_window_is_low_and_an_expired_one_high() {
        let f = Fixture::new();
        let due = f.run(f.now + time::Duration::days(80));
        let found = findings(&due, "tls.expiry");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].severity, Severity::Low);
        assert_eq!(found[0].fix, Fix::dockpki(["renew"]));
        assert!(found[0].evidence.contains("server-cert.pem"), "{found:?}");

        let expired = f.run(f.now + time::Duration::days(91));
        let found = findings(&expired, "tls.expiry");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].severity, Severity::High);
        assert!(found[0].evidence.contains("expired"), "{found:?}");
        // Expiry is its own rule: the files still chain and match.
        assert!(findings(&expired, "tls.files").is_empty());
        assert!(findings(&expired, "tls.san-coverage").is_empty());
    }

    #[test]
    fn an_expired_ca_is_high_with_a_ca_rotation() {
        let f = Fixture::new();
        let all = f.run(f.now + time::Duration::days(365 * 11));
        let found = findings(&all, "tls.expiry");
        let ca = found
            .iter()
            .find(|x| x.evidence.contains("the CA"))
            .expect("the CA's expiry");
        assert_eq!(ca.severity, Severity::High);
        assert_eq!(ca.fix, Fix::dockpki(["ca", "rotate", "begin"]));
    }

    #[test]
    fn a_host_name_the_certificate_lacks_is_medium_with_every_name_in_the_fix() {
        let f = Fixture::new();
        put(f.dir(), "/etc/hostname", "docker2\n", 0o644);
        let all = f.run(f.now);
        let found = findings(&all, "tls.san-coverage");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].severity, Severity::Medium);
        assert!(
            found[0].evidence.contains("does not name docker2"),
            "{found:?}"
        );
        let Fix::Dockpki { args } = &found[0].fix else {
            panic!("{:?}", found[0].fix)
        };
        let sans: Vec<&str> = args
            .windows(2)
            .filter(|w| w[0] == "--san")
            .map(|w| w[1].as_str())
            .collect();
        assert_eq!(sans, ["docker1", "192.0.2.10", "docker2"]);
        assert_eq!(&args[..2], ["issue", "server"]);
    }

    #[test]
    fn a_specific_listen_address_the_certificate_lacks_is_medium() {
        let f = Fixture::new();
        let text = DAEMON_JSON.replace("192.0.2.10", "192.0.2.99");
        put(f.dir(), "/etc/docker/daemon.json", &text, 0o644);
        let found = findings(&f.run(f.now), "tls.san-coverage")
            .into_iter()
            .cloned()
            .collect::<Vec<_>>();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].evidence.contains("does not name 192.0.2.99"),
            "{found:?}"
        );
        // 0.0.0.0 is every address, which no certificate names: not asked for.
        let text = DAEMON_JSON.replace("192.0.2.10", "0.0.0.0");
        put(f.dir(), "/etc/docker/daemon.json", &text, 0o644);
        assert!(findings(&f.run(f.now), "tls.san-coverage").is_empty());
    }

    #[test]
    fn unset_tls_paths_are_dockerds_defaults_in_roots_docker_directory() {
        let f = Fixture::new();
        put(
            f.dir(),
            "/etc/docker/daemon.json",
            r#"{"tlsverify": true}"#,
            0o644,
        );
        let all = f.run(f.now);
        let found = findings(&all, "tls.files");
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found[0]
                .evidence
                .contains("root/.docker/ca.pem (dockerd's default"),
            "{found:?}"
        );
        // Not a layout dockpki writes: the fix says what to install where.
        assert!(matches!(found[0].fix, Fix::Manual { .. }), "{found:?}");
        for (from, to) in [
            ("ca.pem", "ca.pem"),
            ("server-cert.pem", "cert.pem"),
            ("server-key.pem", "key.pem"),
        ] {
            let text = std::fs::read_to_string(f.dir().join("etc/docker/pki").join(from)).unwrap();
            put(f.dir(), &format!("/root/.docker/{to}"), &text, 0o400);
        }
        let all = f.run(f.now);
        assert!(ids_failing(&all).is_empty(), "{:?}", ids_failing(&all));
    }

    #[test]
    fn with_tls_but_no_tlsverify_a_missing_ca_is_not_judged() {
        let f = Fixture::new();
        let text = DAEMON_JSON
            .replace("\"tlsverify\": true", "\"tls\": true")
            .replace("/etc/docker/pki/ca.pem", "/nowhere/ca.pem");
        put(f.dir(), "/etc/docker/daemon.json", &text, 0o644);
        let all = f.run(f.now);
        let files = of(&all, "tls.files");
        assert!(
            matches!(files[0], Outcome::NotApplicable { .. }),
            "{files:?}"
        );
        assert!(findings(&all, "tls.files").is_empty(), "{all:?}");
        // Without the CA, the names cannot be verified.
        assert!(matches!(
            of(&all, "tls.san-coverage")[..],
            [Outcome::NotApplicable { .. }]
        ));
    }

    #[test]
    fn a_tree_made_by_bootstrap_and_daemon_config_harden_has_no_high_tls_or_daemon_finding() {
        use crate::docker::daemon_json::{merge, Daemon, Hardening, Listen, Request};
        use crate::fs::Existing;
        use crate::ops::{bootstrap, BootstrapRequest};
        use crate::store::{Create, Settings, State};

        let now = OffsetDateTime::now_utc();
        let work = tempfile::tempdir().unwrap();
        let tree = work.path().join("tree");
        std::fs::create_dir(&tree).unwrap();
        let state = State::open(
            work.path().join("state"),
            Create::IfMissing,
            Settings::default(),
        )
        .unwrap();
        bootstrap(
            &state,
            &BootstrapRequest {
                server: ServerRequest {
                    sans: SanList::parse(["docker1", "192.0.2.10"]).unwrap(),
                    common_name: None,
                    lifetime: "1y".parse().unwrap(),
                },
                client: ClientRequest {
                    common_name: "alice".parse().unwrap(),
                    lifetime: "90d".parse().unwrap(),
                },
                key_type: KeyType::EcdsaP256,
                daemon_dir: tree.join("etc/docker/pki"),
                client_dir: tree.join("root/.docker"),
                port: 2376,
                existing: Existing::Refuse,
            },
            now,
        )
        .unwrap();
        // daemon.json names the layout by its path on the host, as daemon-config there would.
        let merged = merge(
            &Request {
                file: crate::docker::daemon_json::SYSTEM_FILE.into(),
                tls: Layout::daemon(PKI.into()),
                hosts: ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"]
                    .iter()
                    .map(|h| Listen::parse(h).unwrap())
                    .collect(),
                hardening: Hardening::On,
                daemon: Daemon::System,
                command_line: None,
            },
            None,
        )
        .unwrap();
        put(&tree, "/etc/docker/daemon.json", &merged.new_text, 0o644);
        put(&tree, "/etc/hostname", "docker1\n", 0o644);
        let mut all = outcomes(&tree, now, run);
        all.extend(outcomes(&tree, now, super::super::daemon::run));
        let bad: Vec<String> = all
            .iter()
            .filter_map(Outcome::finding)
            .filter(|f| f.severity >= Severity::High)
            .map(|f| format!("{} {}: {}", f.id, f.severity, f.evidence))
            .collect();
        assert!(bad.is_empty(), "{bad:?}");
        // The TLS rules really looked at the files.
        assert_eq!(of(&all, "tls.files").len(), 3);
        assert!(of(&all, "tls.files")
            .iter()
            .all(|o| matches!(o, Outcome::Pass { .. })));
        assert!(matches!(
            of(&all, "tls.san-coverage")[..],
            [Outcome::Pass { .. }]
        ));
    }
}
