//! `dockpki verify`: an offline check of installed layouts.

use dockpki_provision::store::Create;
use std::path::{Path, PathBuf};

use dockpki::{CertificateDer, PrivateKey, SubjectAltName, Usage, VerifyError};
use serde::Serialize;
use time::OffsetDateTime;

use super::{now, parse_all, parse_window, Context};
use crate::cli::VerifyArgs;
use crate::error::{CliError, CliResult, EXIT_FAILURE, EXIT_OK};
use crate::output::{print_json, say};
use crate::paths::{absolute, DEFAULT_DAEMON_DIR};
use dockpki_provision::fs::reader::{self, Limit, Links};
use dockpki_provision::fs::write::mode_of;
use dockpki_provision::layout::Layout;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Level {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Serialize)]
struct Finding {
    level: Level,
    layout: &'static str,
    path: PathBuf,
    message: String,
}

#[derive(Default)]
struct Report {
    findings: Vec<Finding>,
}

impl Report {
    fn push(&mut self, level: Level, layout: &Layout, path: PathBuf, message: impl Into<String>) {
        self.findings.push(Finding {
            level,
            layout: layout.label(),
            path,
            message: message.into(),
        });
    }

    fn failed(&self) -> bool {
        self.findings.iter().any(|f| f.level == Level::Fail)
    }
}

/// The state's CA certificates, which a layout provisioned from that state must trust and its
/// leaf must come from.
struct StateCa {
    /// The state's `ca.pem`.
    path: PathBuf,
    /// Its first certificate: the current CA, which every layout's ca.pem must hold.
    current: CertificateDer<'static>,
    /// The current CA's subject, for messages.
    subject: String,
    /// Every CA the state signs with: `ca.pem`, and `ca-next.pem` during a rotation.
    all: Vec<CertificateDer<'static>>,
}

impl StateCa {
    /// The CA of the state directory, when it holds one. The names are those of
    /// [`State::ca_cert_path`] and [`State::ca_next_cert_path`]; the files are read without
    /// the state's lock, since dockpki replaces them by rename only. A state named with
    /// `--state` (or `DOCKPKI_STATE`) must hold a CA; the default one is used only if it does.
    fn load(ctx: &Context) -> CliResult<Option<StateCa>> {
        let Ok(dir) = ctx.state_dir() else {
            return Ok(None);
        };
        let path = dir.join("ca.pem");
        let Some(bytes) = reader::read_optional(&path, Links::Refuse, Limit::Pem)? else {
            if ctx.state_named() {
                return Err(CliError::new(format!(
                    "no CA in {} to check the layouts against; pass the --state that provisioned them, or leave --state out to check the layouts alone",
                    dir.display()
                )));
            }
            return Ok(None);
        };
        let context = |e: dockpki::Error| {
            CliError::from(e).context(format!("reading the state's CA {}", path.display()))
        };
        let mut all = dockpki::certs_from_pem(&bytes).map_err(context)?;
        let current = all[0].clone();
        let subject = dockpki::inspect(&current).map_err(context)?.subject;
        let next = dir.join("ca-next.pem");
        if let Some(bytes) = reader::read_optional(&next, Links::Refuse, Limit::Pem)? {
            all.extend(dockpki::certs_from_pem(&bytes).map_err(|e| {
                CliError::from(e).context(format!("reading the state's new CA {}", next.display()))
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

/// What was read from one layout, for the cross-checks between layouts.
struct Loaded {
    bundle: Vec<CertificateDer<'static>>,
    leaf: Option<CertificateDer<'static>>,
}

/// Checks the layouts and prints one line per finding; exit 1 if any check failed.
pub fn run(ctx: &Context, args: &VerifyArgs) -> CliResult<i32> {
    let hosts: Vec<SubjectAltName> = parse_all(&args.host)?;
    let warn_within = parse_window("--warn-within", &args.warn_within)?;
    let now = now();
    // An interrupted update is completed before anything is judged, as every command does.
    if let Ok(state_dir) = ctx.state_dir() {
        if state_dir.join("journal.json").exists() {
            ctx.open_state_at(state_dir, Create::No)?;
        }
    }

    let mut layouts = Vec::new();
    let explicit = args.daemon_dir.is_some() || args.client_dir.is_some();
    if let Some(d) = &args.daemon_dir {
        layouts.push(Layout::daemon(absolute(d)?));
    }
    if let Some(c) = &args.client_dir {
        layouts.push(Layout::client(absolute(c)?));
    }
    if !explicit {
        let daemon = Layout::daemon(PathBuf::from(DEFAULT_DAEMON_DIR));
        if daemon.dir.is_dir() {
            layouts.push(daemon);
        }
        if let Ok(dir) = ctx.user.clone().docker_dir() {
            let client = Layout::client(dir);
            if client.cert_path().exists() {
                layouts.push(client);
            }
        }
        if layouts.is_empty() {
            return Err(CliError::new(format!(
                "nothing to verify: neither {DEFAULT_DAEMON_DIR} nor ~/.docker/cert.pem exists; pass --daemon-dir DIR and/or --client-dir DIR"
            )));
        }
    }

    let state_ca = StateCa::load(ctx)?;
    let mut report = Report::default();
    let mut loaded = Vec::new();
    for layout in &layouts {
        let l = check_layout(
            &mut report,
            layout,
            &hosts,
            now,
            warn_within,
            state_ca.as_ref(),
        );
        loaded.push((layout, l));
    }
    cross_check(&mut report, &loaded, &hosts, now);

    if ctx.out.json {
        print_json(&serde_json::json!({ "ok": !report.failed(), "findings": report.findings }));
    } else {
        for f in &report.findings {
            let tag = match f.level {
                Level::Ok => "ok  ",
                Level::Warn => "warn",
                Level::Fail => "FAIL",
            };
            // Messages quote certificate subjects and SANs, and paths may be anything: escaped,
            // so that a certificate cannot add an `ok` line of its own.
            say(format_args!(
                "{tag}  {:<6}  {}: {}",
                f.layout,
                f.path.display(),
                f.message
            ));
        }
    }
    let failures = report
        .findings
        .iter()
        .filter(|f| f.level == Level::Fail)
        .count();
    if failures == 0 {
        return Ok(EXIT_OK);
    }
    // Like every other failure, one `error:` line on stderr, for logs and cron mail that keep
    // stderr only; the findings themselves are on stdout.
    eprintln!(
        "error: verify found {failures} problem(s); {}",
        if ctx.out.json {
            "see the findings with \"level\": \"fail\""
        } else {
            "see the FAIL lines above"
        }
    );
    Ok(EXIT_FAILURE)
}

fn check_layout(
    report: &mut Report,
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
        report.push(
            Level::Fail,
            layout,
            layout.dir.clone(),
            "directory does not exist",
        );
        return loaded;
    }

    let ca_path = layout.ca_path();
    match read_certs(&ca_path) {
        Err(msg) => report.push(Level::Fail, layout, ca_path.clone(), msg),
        Ok(bundle) => {
            let mut good = true;
            for (i, der) in bundle.iter().enumerate() {
                let Ok(info) = dockpki::inspect(der) else {
                    continue;
                };
                if !info.is_ca {
                    good = false;
                    report.push(Level::Fail, layout, ca_path.clone(), format!("certificate #{} ({:?}) is not a CA; ca.pem must hold only CA certificates", i + 1, info.subject));
                } else if !info.is_valid_at(now) {
                    good = false;
                    report.push(
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
                    report.push(
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
                report.push(
                    Level::Ok,
                    layout,
                    ca_path.clone(),
                    format!("{} CA certificate(s), all valid", bundle.len()),
                );
            }
            if let Some(state) = state_ca {
                if bundle.contains(&state.current) {
                    report.push(
                        Level::Ok,
                        layout,
                        ca_path.clone(),
                        format!("holds the state's CA ({})", state.path.display()),
                    );
                } else {
                    report.push(
                        Level::Fail,
                        layout,
                        ca_path.clone(),
                        format!(
                            "does not hold the state's CA {:?} ({}), so it refuses the peers that CA issues; reinstall it with `dockpki renew --serial S` (`dockpki status` names S), or pass the --state that provisioned this layout",
                            state.subject,
                            state.path.display()
                        ),
                    );
                }
            }
            loaded.bundle = bundle;
        }
    }
    check_mode(report, layout, &ca_path, false);

    let cert_path = layout.cert_path();
    match read_certs(&cert_path) {
        Err(msg) => report.push(Level::Fail, layout, cert_path.clone(), msg),
        Ok(mut certs) => {
            let leaf = certs.swap_remove(0);
            if !loaded.bundle.is_empty() {
                match dockpki::verify_leaf(&leaf, &loaded.bundle, layout.usage, None, now) {
                    Ok(()) => report.push(
                        Level::Ok,
                        layout,
                        cert_path.clone(),
                        format!("chains to ca.pem as a {} certificate", layout.usage),
                    ),
                    Err(e) => report.push(Level::Fail, layout, cert_path.clone(), e.to_string()),
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
                            Ok(()) => report.push(
                                Level::Ok,
                                layout,
                                cert_path.clone(),
                                format!("SANs cover {host}"),
                            ),
                            Err(e) => {
                                report.push(Level::Fail, layout, cert_path.clone(), e.to_string())
                            }
                        }
                    }
                }
            }
            if let Some(state) = state_ca {
                check_issued_by_state(report, layout, &cert_path, &leaf, state, now);
            }
            if let Ok(info) = dockpki::inspect(&leaf) {
                if info.is_valid_at(now) && info.not_after - now < warn_within {
                    report.push(
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
    check_mode(report, layout, &cert_path, false);

    let key_path = layout.key_path();
    match reader::read(&key_path, Links::Follow, Limit::Pem) {
        Err(e) => report.push(Level::Fail, layout, key_path.clone(), e.to_string()),
        Ok(bytes) => {
            match PrivateKey::from_pem(&bytes) {
                Err(e) => report.push(Level::Fail, layout, key_path.clone(), e.to_string()),
                Ok(key) => match &loaded.leaf {
                    Some(leaf) if dockpki::key_matches_cert(&key, leaf) => {
                        report.push(Level::Ok, layout, key_path.clone(), format!("{} key matches the certificate", key.key_type()))
                    }
                    Some(_) => report.push(Level::Fail, layout, key_path.clone(), "the key does not belong to the certificate next to it; install the pair that was issued together"),
                    None => {}
                },
            }
        }
    }
    check_mode(report, layout, &key_path, true);
    loaded
}

/// Whether the state's CA issued `leaf`. The check is made at a moment within the leaf's own
/// validity, so that an expired leaf (already a FAIL of its own) is still judged by its issuer;
/// other refusals (usage, names) are the layout's own checks and not repeated here.
fn check_issued_by_state(
    report: &mut Report,
    layout: &Layout,
    cert_path: &Path,
    leaf: &CertificateDer<'static>,
    state: &StateCa,
    now: OffsetDateTime,
) {
    let Ok(info) = dockpki::inspect(leaf) else {
        return;
    };
    // clamp() panics on an inverted range, which a hand-made certificate can have.
    let at = if info.not_before <= info.not_after {
        now.clamp(info.not_before, info.not_after)
    } else {
        now
    };
    match dockpki::verify_leaf(leaf, &state.all, layout.usage, None, at) {
        Ok(()) => report.push(
            Level::Ok,
            layout,
            cert_path.to_path_buf(),
            format!("issued by the state's CA ({})", state.path.display()),
        ),
        Err(VerifyError::UnknownIssuer { .. } | VerifyError::BadSignature) => report.push(
            Level::Fail,
            layout,
            cert_path.to_path_buf(),
            format!(
                "was issued by {:?}, not by the state's CA {:?} ({}); replace it with `dockpki renew --serial S` (`dockpki status` names S), or pass the --state that issued it",
                info.issuer,
                state.subject,
                state.path.display()
            ),
        ),
        Err(_) => {}
    }
}

fn check_mode(report: &mut Report, layout: &Layout, path: &Path, secret: bool) {
    let Ok(mode) = mode_of(path) else { return };
    if secret && mode & 0o077 != 0 {
        report.push(
            Level::Fail,
            layout,
            path.to_path_buf(),
            format!(
                "private key has mode {mode:04o}, readable by group or others; chmod 400 {}",
                crate::output::shell_quote(&path.display().to_string())
            ),
        );
    } else if mode & 0o022 != 0 {
        report.push(
            Level::Fail,
            layout,
            path.to_path_buf(),
            format!(
                "mode {mode:04o} lets group or others replace it; chmod {} {}",
                if secret { "400" } else { "444" },
                crate::output::shell_quote(&path.display().to_string())
            ),
        );
    } else if secret {
        report.push(
            Level::Ok,
            layout,
            path.to_path_buf(),
            format!("mode {mode:04o}"),
        );
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = reader::read(path, Links::Follow, Limit::Pem).map_err(|e| e.to_string())?;
    dockpki::certs_from_pem(&bytes).map_err(|e| e.to_string())
}

/// The daemon must trust the client's issuer and the client the daemon's, or the handshake fails
/// even when each layout is fine on its own.
fn cross_check(
    report: &mut Report,
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
            Ok(()) => report.push(
                Level::Ok,
                client,
                client.cert_path(),
                "accepted by the daemon's ca.pem",
            ),
            Err(e) => report.push(
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
            Ok(()) => report.push(
                Level::Ok,
                daemon,
                daemon.cert_path(),
                "accepted by the client's ca.pem",
            ),
            Err(e) => report.push(
                Level::Fail,
                daemon,
                daemon.cert_path(),
                format!("the client would refuse it: {e}"),
            ),
        }
    }
}
