//! `dockpki verify`: an offline check of installed layouts.

use std::path::PathBuf;

use dockpki::SubjectAltName;
use dockpki_provision::layout::check::{check_layouts, CheckOptions, Finding, Fix, Level, StateCa};
use dockpki_provision::layout::Layout;
use dockpki_provision::store::Create;
use serde::Serialize;

use super::{now, parse, parse_all, parse_host, parse_window, Context};
use crate::cli::VerifyArgs;
use crate::error::{exit_code, CliError, CliResult};
use crate::invocation::Invocation;
use crate::output::{escape, print_document, Tone};
use crate::paths::{absolute, DEFAULT_DAEMON_DIR};

/// A finding as printed: the engine's, with its [`Fix`] said as this tool's commands.
#[derive(Debug, Serialize)]
struct Printed {
    level: Level,
    layout: &'static str,
    path: PathBuf,
    message: String,
}

impl Printed {
    fn from(inv: &Invocation, f: Finding) -> Printed {
        let fix = match f.fix {
            Some(Fix::ReinstallFromState) => format!(
                "; reinstall it with `{}` (`{}` names S), or pass the --state that provisioned this layout",
                inv.command("renew --serial S"),
                inv.command("status")
            ),
            Some(Fix::ReissueFromState) => format!(
                "; replace it with `{}` (`{}` names S), or pass the --state that issued it",
                inv.command("renew --serial S"),
                inv.command("status")
            ),
            _ => String::new(),
        };
        Printed {
            level: f.level,
            layout: f.layout,
            path: f.path,
            message: format!("{}{fix}", f.message),
        }
    }
}

/// The state's CA when it holds one. A state named with `--state` (or `DOCKPKI_STATE`) must
/// hold a CA; the default one is used only if it does.
fn state_ca(ctx: &Context) -> CliResult<Option<StateCa>> {
    let Ok(dir) = ctx.state_dir() else {
        return Ok(None);
    };
    match StateCa::read(&dir)? {
        None if ctx.state_named() => Err(CliError::new(format!(
            "no CA in {} to check the layouts against; pass the --state that provisioned them, or leave --state out to check the layouts alone",
            dir.display()
        ))),
        found => Ok(found),
    }
}

/// Checks the layouts and prints one line per finding; exit 1 if any check failed.
pub fn run(ctx: &Context, args: &VerifyArgs) -> CliResult<i32> {
    // One meaning per word: --check-name is a name or IP, --host a daemon address (as in env,
    // context and probe) whose host part is what clients check the certificate against.
    let mut hosts: Vec<SubjectAltName> = parse_all(&args.check_name).map_err(|e| {
        e.context("--check-name")
            .text("; a daemon address (tcp://HOST:PORT) goes in --host")
    })?;
    for host in &args.host {
        // `verify --host NAME` once meant a bare name (still accepted: a bare HOST is an
        // address with the default port); what no address can be is pointed at --check-name.
        let endpoint = parse_host("--host", host).map_err(|e| {
            e.text("; to check a name or an IP address alone, give it to --check-name")
        })?;
        let name: SubjectAltName =
            parse(&endpoint.host).map_err(|e| e.context(format!("--host {host:?}")))?;
        if !hosts.contains(&name) {
            hosts.push(name);
        }
    }
    let warn_within = parse_window("--within", &args.within)?;
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
    // A directory given to the other flag is named as such, not checked as a layout that
    // misses every file.
    for layout in &layouts {
        layout.refuse_other_kind()?;
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

    let state_ca = state_ca(ctx)?;
    let findings = check_layouts(
        &layouts,
        &CheckOptions {
            hosts: &hosts,
            now,
            warn_within,
            state_ca: state_ca.as_ref(),
            owners: &ctx.user.owners,
        },
    );
    let failures = findings.failures();
    let health = findings.health();
    let findings: Vec<Printed> = findings
        .findings
        .into_iter()
        .map(|f| Printed::from(&ctx.invocation, f))
        .collect();

    if ctx.out.json {
        print_document(
            "verify",
            serde_json::json!({ "ok": failures == 0, "findings": findings }),
        );
    } else {
        for f in &findings {
            let (tag, tone) = match f.level {
                Level::Ok => ("ok", Tone::Good),
                Level::Warn => ("warn", Tone::Attention),
                Level::Fail => ("FAIL", Tone::Bad),
            };
            // Messages quote certificate subjects and SANs, and paths may be anything: escaped,
            // so that a certificate cannot add an `ok` line of its own. The tag alone is
            // coloured, after the rest is escaped.
            println!(
                "{}{}  {}",
                ctx.out.paint(tone, tag),
                " ".repeat(4 - tag.len()),
                escape(&format!(
                    "{:<6}  {}: {}",
                    f.layout,
                    f.path.display(),
                    f.message
                ))
            );
        }
    }
    if failures == 0 {
        return Ok(exit_code(health));
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
    Ok(exit_code(health))
}
