//! Checking installed layouts offline, the way dockerd and the docker CLI will judge them: the
//! CA bundle, the certificate (chain, usage, SANs for the names clients dial, expiry, issuer),
//! the key (matches, private), the modes, and whether the daemon and the client layouts accept
//! each other. The outcome is a list of [`Finding`]s; nothing is printed.

use crate::health::Health;
use std::path::{Path, PathBuf};

use dockpki::{
    CertInfo, CertificateDer, OffsetDateTime, PrivateKey, SubjectAltName, Usage, VerifyError,
};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::fs::owner::{ActingAs, OwnerPolicy};
use crate::fs::reader::{self, Limit, Links};
use crate::fs::write::mode_of;
use crate::layout::Layout;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// A check passed.
    Ok,
    /// Works now, needs attention soon (an expiry within the warning window).
    Warn,
    /// Docker would refuse it, or it is unsafe.
    Fail,
}

/// A fix that involves the caller's own commands, which the engine does not name: the CLI says
/// it as `dockpki renew --serial S` and `--state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fix {
    /// Reinstall the layout from the state that should have provisioned it (renew the
    /// certificate installed there), or check it against the state that did.
    ReinstallFromState,
    /// Replace the certificate with one the state issues (renew it), or check it against the
    /// state that issued it.
    ReissueFromState,
}

/// One result of a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// How bad it is.
    pub level: Level,
    /// `daemon` or `client` ([`Layout::label`]).
    pub layout: &'static str,
    /// The file or directory it is about.
    pub path: PathBuf,
    /// What was found, and the fix when it needs no command of the caller's.
    pub message: String,
    /// The fix, when it is one of the caller's commands.
    pub fix: Option<Fix>,
}

/// The findings of a check, in order.
#[derive(Debug, Default)]
pub struct Findings {
    /// Every finding.
    pub findings: Vec<Finding>,
}

impl Findings {
    fn push(&mut self, level: Level, layout: &Layout, path: PathBuf, message: impl Into<String>) {
        self.findings.push(Finding {
            level,
            layout: layout.label(),
            path,
            message: message.into(),
            fix: None,
        });
    }

    fn push_fix(
        &mut self,
        level: Level,
        layout: &Layout,
        path: PathBuf,
        message: impl Into<String>,
        fix: Fix,
    ) {
        self.findings.push(Finding {
            level,
            layout: layout.label(),
            path,
            message: message.into(),
            fix: Some(fix),
        });
    }

    /// A failure is [`Health::Broken`], a warning (something expiring within the window) a
    /// [`Health::ChangesPending`].
    pub fn health(&self) -> Health {
        Health::worst(self.findings.iter().map(|f| match f.level {
            Level::Ok => Health::Good,
            Level::Warn => Health::ChangesPending,
            Level::Fail => Health::Broken,
        }))
    }

    /// How many checks failed.
    pub fn failures(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.level == Level::Fail)
            .count()
    }
}

/// The state's CA certificates, which a layout provisioned from that state must trust and its
/// leaf must come from.
#[derive(Clone, Debug)]
pub struct StateCa {
    /// The state's `ca.pem`.
    pub path: PathBuf,
    /// Its first certificate: the current CA, which every layout's ca.pem must hold.
    pub current: CertificateDer<'static>,
    /// The current CA's subject, for messages.
    pub subject: String,
    /// Every CA the state signs with: `ca.pem`, and `ca-next.pem` during a rotation.
    pub all: Vec<CertificateDer<'static>>,
}

impl StateCa {
    /// The CA certificates of the state directory `dir` (`ca.pem`, and `ca-next.pem` during a
    /// rotation), or `None` when it holds none. Read without the state's lock, since dockpki
    /// replaces them by rename only, and never through a symlink.
    ///
    /// # Errors
    /// When a file is refused by the reader or is not a certificate.
    pub fn read(dir: &Path) -> Result<Option<StateCa>> {
        let path = dir.join(crate::store::state::CA_CERT);
        let Some(bytes) = reader::read_optional(&path, Links::Refuse, Limit::Pem)? else {
            return Ok(None);
        };
        let context = |e: dockpki::Error| {
            Error::from(e).context(format!("reading the state's CA {}", path.display()))
        };
        let mut all = dockpki::certs_from_pem(&bytes).map_err(context)?;
        let current = all[0].clone();
        let subject = dockpki::inspect(&current).map_err(context)?.subject;
        let next = dir.join(crate::store::state::CA_NEXT_CERT);
        if let Some(bytes) = reader::read_optional(&next, Links::Refuse, Limit::Pem)? {
            all.extend(dockpki::certs_from_pem(&bytes).map_err(|e| {
                Error::from(e).context(format!("reading the state's new CA {}", next.display()))
            })?);
        }
        Ok(Some(StateCa {
            path,
            current,
            subject,
            all,
        }))
    }
}

/// What a check is asked to judge besides the files.
#[derive(Clone, Copy, Debug)]
pub struct CheckOptions<'a> {
    /// Names and addresses clients dial: the daemon's certificate must cover each.
    pub hosts: &'a [SubjectAltName],
    /// The moment of the check.
    pub now: OffsetDateTime,
    /// Expiring within this is a [`Level::Warn`].
    pub warn_within: time::Duration,
    /// The state the layouts should come from, if any.
    pub state_ca: Option<&'a StateCa>,
    /// Who each layout's files are read as: root checking a user's layout reads it as that
    /// user ([`OwnerPolicy::owner_for`]), so that a link the user planted in their own layout
    /// cannot make root read a file the user could not (`/etc/shadow` as `key.pem`).
    pub owners: &'a OwnerPolicy,
}

/// Checks every layout, then whether the daemon and client layouts accept each other. The
/// layouts' own files may be symlinks (an operator's choice on their own machine); they are
/// read through the bounded reader, as the layout's owner ([`CheckOptions::owners`]).
pub fn check_layouts(layouts: &[Layout], options: &CheckOptions<'_>) -> Findings {
    let mut findings = Findings::default();
    let mut loaded = Vec::new();
    for layout in layouts {
        let owner = options.owners.owner_for(&layout.dir);
        let l = match ActingAs::user(owner.map(|o| o.uid), owner.map(|o| o.gid)) {
            Ok(_as) => check_layout(
                &mut findings,
                layout,
                options.hosts,
                options.now,
                options.warn_within,
                options.state_ca,
            ),
            Err(e) => {
                findings.push(Level::Fail, layout, layout.dir.clone(), e.to_string());
                Loaded {
                    bundle: Vec::new(),
                    leaf: None,
                }
            }
        };
        loaded.push((layout, l));
    }
    cross_check(&mut findings, &loaded, options.hosts, options.now);
    findings
}

/// What was read from one layout, for the cross-checks between layouts.
struct Loaded {
    bundle: Vec<CertificateDer<'static>>,
    leaf: Option<CertificateDer<'static>>,
}

fn check_layout(
    findings: &mut Findings,
    layout: &Layout,
    hosts: &[SubjectAltName],
    now: OffsetDateTime,
    warn_within: time::Duration,
    state_ca: Option<&StateCa>,
) -> Loaded {
    let mut loaded = Loaded {
        bundle: Vec::new(),
        leaf: None,
    };
    if !layout.dir.is_dir() {
        findings.push(
            Level::Fail,
            layout,
            layout.dir.clone(),
            "directory does not exist",
        );
        return loaded;
    }

    let ca_path = layout.ca_path();
    match read_certs(&ca_path) {
        Err(msg) => findings.push(Level::Fail, layout, ca_path.clone(), msg),
        Ok(bundle) => {
            let mut good = true;
            for (i, der) in bundle.iter().enumerate() {
                let Ok(info) = dockpki::inspect(der) else {
                    continue;
                };
                if let Some(why) = not_a_ca(i + 1, &info) {
                    good = false;
                    findings.push(Level::Fail, layout, ca_path.clone(), why);
                } else if !info.is_valid_at(now) {
                    good = false;
                    findings.push(
                        Level::Fail,
                        layout,
                        ca_path.clone(),
                        format!(
                            "CA {:?} is not valid now (valid {} .. {}); rotate to a new CA",
                            info.subject,
                            dockpki::format_time(info.not_before),
                            dockpki::format_time(info.not_after)
                        ),
                    );
                } else if info.not_after - now < warn_within {
                    findings.push(
                        Level::Warn,
                        layout,
                        ca_path.clone(),
                        format!(
                            "CA {:?} expires in {} days ({}); plan a CA rotation",
                            info.subject,
                            info.days_left(now),
                            dockpki::format_time(info.not_after)
                        ),
                    );
                }
            }
            if good {
                findings.push(
                    Level::Ok,
                    layout,
                    ca_path.clone(),
                    format!("{} CA certificate(s), all valid", bundle.len()),
                );
            }
            if let Some(state) = state_ca {
                if bundle.contains(&state.current) {
                    findings.push(
                        Level::Ok,
                        layout,
                        ca_path.clone(),
                        format!("holds the state's CA ({})", state.path.display()),
                    );
                } else {
                    findings.push_fix(
                        Level::Fail,
                        layout,
                        ca_path.clone(),
                        format!(
                            "does not hold the state's CA {:?} ({}), so it refuses the peers that CA issues",
                            state.subject,
                            state.path.display()
                        ),
                        Fix::ReinstallFromState,
                    );
                }
            }
            loaded.bundle = bundle;
        }
    }
    check_mode(findings, layout, &ca_path, false);

    let cert_path = layout.cert_path();
    match read_certs(&cert_path) {
        Err(msg) => findings.push(Level::Fail, layout, cert_path.clone(), msg),
        Ok(mut certs) => {
            let leaf = certs.swap_remove(0);
            if !loaded.bundle.is_empty() {
                match dockpki::verify_leaf(&leaf, &loaded.bundle, layout.usage, None, now) {
                    Ok(()) => findings.push(
                        Level::Ok,
                        layout,
                        cert_path.clone(),
                        format!("chains to ca.pem as a {} certificate", layout.usage),
                    ),
                    Err(e) => findings.push(Level::Fail, layout, cert_path.clone(), e.to_string()),
                }
                if layout.usage == Usage::Server {
                    for host in hosts {
                        match dockpki::verify_leaf(
                            &leaf,
                            &loaded.bundle,
                            Usage::Server,
                            Some(host),
                            now,
                        ) {
                            Ok(()) => findings.push(
                                Level::Ok,
                                layout,
                                cert_path.clone(),
                                format!("SANs cover {host}"),
                            ),
                            Err(e) => {
                                findings.push(Level::Fail, layout, cert_path.clone(), e.to_string())
                            }
                        }
                    }
                }
            }
            if let Some(state) = state_ca {
                check_issued_by_state(findings, layout, &cert_path, &leaf, state, now);
            }
            if let Ok(info) = dockpki::inspect(&leaf) {
                if info.is_valid_at(now) && info.not_after - now < warn_within {
                    findings.push(
                        Level::Warn,
                        layout,
                        cert_path.clone(),
                        format!(
                            "expires in {} days ({}); issue a new one",
                            info.days_left(now),
                            dockpki::format_time(info.not_after)
                        ),
                    );
                }
            }
            loaded.leaf = Some(leaf);
        }
    }
    check_mode(findings, layout, &cert_path, false);

    let key_path = layout.key_path();
    match reader::read(&key_path, Links::Follow, Limit::Pem) {
        Err(e) => findings.push(Level::Fail, layout, key_path.clone(), e.to_string()),
        Ok(bytes) => match &loaded.leaf {
            Some(leaf) => match key_verdict(&bytes, leaf) {
                Ok(message) => findings.push(Level::Ok, layout, key_path.clone(), message),
                Err(message) => findings.push(Level::Fail, layout, key_path.clone(), message),
            },
            None => {
                if let Err(e) = PrivateKey::from_pem(&bytes) {
                    findings.push(Level::Fail, layout, key_path.clone(), e.to_string());
                }
            }
        },
    }
    check_mode(findings, layout, &key_path, true);
    loaded
}

/// Whether the state's CA issued `leaf`. The check is made at a moment within the leaf's own
/// validity, so that an expired leaf (already a FAIL of its own) is still judged by its issuer;
/// other refusals (usage, names) are the layout's own checks and not repeated here.
fn check_issued_by_state(
    findings: &mut Findings,
    layout: &Layout,
    cert_path: &Path,
    leaf: &CertificateDer<'static>,
    state: &StateCa,
    now: OffsetDateTime,
) {
    let Ok(info) = dockpki::inspect(leaf) else {
        return;
    };
    let at = within_validity(&info, now);
    match dockpki::verify_leaf(leaf, &state.all, layout.usage, None, at) {
        Ok(()) => findings.push(
            Level::Ok,
            layout,
            cert_path.to_path_buf(),
            format!("issued by the state's CA ({})", state.path.display()),
        ),
        Err(VerifyError::UnknownIssuer { .. } | VerifyError::BadSignature) => findings.push_fix(
            Level::Fail,
            layout,
            cert_path.to_path_buf(),
            format!(
                "was issued by {:?}, not by the state's CA {:?} ({})",
                info.issuer,
                state.subject,
                state.path.display()
            ),
            Fix::ReissueFromState,
        ),
        Err(_) => {}
    }
}

/// Why certificate #`number` (counted from 1) of a CA bundle cannot be one of its CAs: it is
/// not a CA at all. `None` when it is one. Shared with the audit's `tls.files` rule, so that
/// `verify` and `audit` refuse the same bundles with the same words.
pub fn not_a_ca(number: usize, info: &CertInfo) -> Option<String> {
    (!info.is_ca).then(|| {
        format!(
            "certificate #{number} ({:?}) is not a CA; ca.pem must hold only CA certificates",
            info.subject
        )
    })
}

/// The moment to judge a certificate's chain at apart from its own expiry: `now`, moved into
/// the certificate's validity, so that an expired (or not yet valid) certificate, which is a
/// finding of its own, is still judged by its issuer, usage and names.
pub fn within_validity(info: &CertInfo, now: OffsetDateTime) -> OffsetDateTime {
    // clamp() panics on an inverted range, which a hand-made certificate can have.
    if info.not_before <= info.not_after {
        now.clamp(info.not_before, info.not_after)
    } else {
        now
    }
}

/// Whether the PEM private key `key_pem` belongs to `leaf`: what was found as `Ok` (`ecdsa-p256
/// key matches the certificate`), or why not, with the fix, as `Err`. Shared with the audit's
/// `tls.files` rule.
///
/// # Errors
/// The message when the key does not parse or belongs to another certificate.
pub fn key_verdict(
    key_pem: &[u8],
    leaf: &CertificateDer<'_>,
) -> std::result::Result<String, String> {
    let key = PrivateKey::from_pem(key_pem).map_err(|e| e.to_string())?;
    if dockpki::key_matches_cert(&key, leaf) {
        Ok(format!("{} key matches the certificate", key.key_type()))
    } else {
        Err("the key does not belong to the certificate next to it; install the pair that was issued together".into())
    }
}

fn check_mode(findings: &mut Findings, layout: &Layout, path: &Path, secret: bool) {
    let Ok(mode) = mode_of(path) else { return };
    if secret && mode & 0o077 != 0 {
        findings.push(
            Level::Fail,
            layout,
            path.to_path_buf(),
            format!(
                "private key has mode {mode:04o}, readable by group or others; chmod 400 {}",
                crate::text::shell_quote(&path.display().to_string())
            ),
        );
    } else if mode & 0o022 != 0 {
        findings.push(
            Level::Fail,
            layout,
            path.to_path_buf(),
            format!(
                "mode {mode:04o} lets group or others replace it; chmod {} {}",
                if secret { "400" } else { "444" },
                crate::text::shell_quote(&path.display().to_string())
            ),
        );
    } else if secret {
        findings.push(
            Level::Ok,
            layout,
            path.to_path_buf(),
            format!("mode {mode:04o}"),
        );
    }
}

fn read_certs(path: &Path) -> std::result::Result<Vec<CertificateDer<'static>>, String> {
    let bytes = reader::read(path, Links::Follow, Limit::Pem).map_err(|e| e.to_string())?;
    dockpki::certs_from_pem(&bytes).map_err(|e| e.to_string())
}

/// The daemon must trust the client's issuer and the client the daemon's, or the handshake fails
/// even when each layout is fine on its own.
fn cross_check(
    findings: &mut Findings,
    loaded: &[(&Layout, Loaded)],
    hosts: &[SubjectAltName],
    now: OffsetDateTime,
) {
    let find = |usage: Usage| loaded.iter().find(|(l, _)| l.usage == usage);
    let (Some((daemon, d)), Some((client, c))) = (find(Usage::Server), find(Usage::Client)) else {
        return;
    };
    if let (Some(client_leaf), false) = (&c.leaf, d.bundle.is_empty()) {
        match dockpki::verify_leaf(client_leaf, &d.bundle, Usage::Client, None, now) {
            Ok(()) => findings.push(
                Level::Ok,
                client,
                client.cert_path(),
                "accepted by the daemon's ca.pem",
            ),
            Err(e) => findings.push(
                Level::Fail,
                client,
                client.cert_path(),
                format!("the daemon would refuse it: {e}"),
            ),
        }
    }
    if let (Some(server_leaf), false) = (&d.leaf, c.bundle.is_empty()) {
        let host = hosts.first();
        match dockpki::verify_leaf(server_leaf, &c.bundle, Usage::Server, host, now) {
            Ok(()) => findings.push(
                Level::Ok,
                daemon,
                daemon.cert_path(),
                "accepted by the client's ca.pem",
            ),
            Err(e) => findings.push(
                Level::Fail,
                daemon,
                daemon.cert_path(),
                format!("the client would refuse it: {e}"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support;
    use dockpki::{CaOptions, CertificateAuthority, KeyType, SanList, ServerRequest};
    use std::os::unix::fs::PermissionsExt;

    struct Fixture {
        _root: tempfile::TempDir,
        daemon: Layout,
        client: Layout,
        now: OffsetDateTime,
    }

    /// A daemon layout for `localhost` and a client layout, both from one CA, with dockpki's
    /// modes.
    fn fixture() -> Fixture {
        let root = tempfile::tempdir().unwrap();
        let now = OffsetDateTime::now_utc();
        let ca = CertificateAuthority::create(&CaOptions::new(now).unwrap(), now).unwrap();
        let server = ca
            .issue_server(
                &ServerRequest {
                    sans: SanList::parse(["localhost"]).unwrap(),
                    common_name: None,
                    lifetime: "30d".parse().unwrap(),
                },
                PrivateKey::generate(KeyType::EcdsaP256).unwrap(),
                now,
            )
            .unwrap();
        let client = test_support::alice(&ca, now);
        let daemon = Layout::daemon(root.path().join("daemon"));
        let client_layout = Layout::client(root.path().join("client"));
        for (layout, issued) in [(&daemon, &server), (&client_layout, &client)] {
            std::fs::create_dir(&layout.dir).unwrap();
            test_support::install(layout, &ca, issued);
        }
        Fixture {
            _root: root,
            daemon,
            client: client_layout,
            now,
        }
    }

    fn check(f: &Fixture, hosts: &[SubjectAltName]) -> Findings {
        check_layouts(
            &[f.daemon.clone(), f.client.clone()],
            &CheckOptions {
                hosts,
                now: f.now,
                warn_within: time::Duration::days(7),
                state_ca: None,
                owners: &OwnerPolicy::RunningUser,
            },
        )
    }

    fn fails(findings: &Findings) -> Vec<String> {
        findings
            .findings
            .iter()
            .filter(|f| f.level == Level::Fail)
            .map(|f| format!("{}: {}", f.path.display(), f.message))
            .collect()
    }

    #[test]
    fn layouts_dockpki_would_write_pass_every_check() {
        let f = fixture();
        let findings = check(&f, &["localhost".parse().unwrap()]);
        assert_eq!(findings.failures(), 0, "{:?}", fails(&findings));
        assert!(findings
            .findings
            .iter()
            .any(|x| x.message == "accepted by the daemon's ca.pem"));
    }

    #[test]
    fn a_name_the_server_certificate_does_not_cover_fails() {
        let f = fixture();
        let findings = check(&f, &["docker.example.com".parse().unwrap()]);
        let fails = fails(&findings);
        assert!(
            fails.iter().any(|m| m.contains("server-cert.pem")),
            "{fails:?}"
        );
    }

    #[test]
    fn a_key_others_may_read_fails_naming_chmod() {
        let f = fixture();
        std::fs::set_permissions(f.client.key_path(), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let fails = fails(&check(&f, &[]));
        assert!(
            fails
                .iter()
                .any(|m| m.contains("key.pem") && m.contains("chmod 400")),
            "{fails:?}"
        );
    }

    #[test]
    fn a_key_of_another_pair_fails() {
        let f = fixture();
        let other = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        test_support::write_file(&f.client.key_path(), &other.to_pem(), 0o400);
        let fails = fails(&check(&f, &[]));
        assert!(
            fails.iter().any(|m| m.contains("does not belong")),
            "{fails:?}"
        );
    }

    #[test]
    fn a_layout_not_trusting_the_states_ca_fails_with_a_fix_for_the_caller() {
        let f = fixture();
        let state = tempfile::tempdir().unwrap();
        let now = f.now;
        let other = CertificateAuthority::create(&CaOptions::new(now).unwrap(), now).unwrap();
        std::fs::write(state.path().join("ca.pem"), other.cert_pem()).unwrap();
        let state_ca = StateCa::read(state.path()).unwrap().unwrap();
        let findings = check_layouts(
            std::slice::from_ref(&f.client),
            &CheckOptions {
                hosts: &[],
                now,
                warn_within: time::Duration::days(7),
                state_ca: Some(&state_ca),
                owners: &OwnerPolicy::RunningUser,
            },
        );
        let fixes: Vec<_> = findings
            .findings
            .iter()
            .filter(|x| x.level == Level::Fail)
            .map(|x| x.fix)
            .collect();
        assert!(fixes.contains(&Some(Fix::ReinstallFromState)), "{fixes:?}");
        assert!(fixes.contains(&Some(Fix::ReissueFromState)), "{fixes:?}");
        for x in &findings.findings {
            assert!(
                !x.message.contains("`dockpki") && !x.message.contains("--"),
                "{}",
                x.message
            );
        }
    }

    #[test]
    fn a_missing_layout_directory_is_one_failure() {
        let f = fixture();
        std::fs::remove_dir_all(&f.client.dir).unwrap();
        let findings = check_layouts(
            std::slice::from_ref(&f.client),
            &CheckOptions {
                hosts: &[],
                now: f.now,
                warn_within: time::Duration::days(7),
                state_ca: None,
                owners: &OwnerPolicy::RunningUser,
            },
        );
        assert_eq!(fails(&findings).len(), 1, "{:?}", fails(&findings));
    }
}
