//! `dockpki audit`: this host, or a filesystem tree, checked against the hardening guide and
//! the CIS Docker Benchmark ([`dockpki_provision::audit`] judges; this parses the command line
//! and prints the report).

use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;

use dockpki_provision::audit::{
    self, config::DEFAULT_SOCKET, AuditReport, AuditRequest, DaemonAccess, Finding, Fix, Outcome,
    Severity, TreeHost,
};
use serde_json::{json, Value};

use super::{now, parse_host, Context};
use crate::cli::AuditArgs;
use crate::error::{exit_code, CliError, CliResult, EXIT_USAGE};
use crate::invocation::Invocation;
use crate::output::{escape, note, print_document, refuse_unprintable, shell_quote, Tone};
use crate::paths::absolute;
use dockpki_provision::health::Health;

/// What the command line asks for, checked.
struct Parsed {
    /// The tree to audit; `None`: this machine.
    root: Option<PathBuf>,
    request: AuditRequest,
    min_severity: Severity,
}

/// `--socket unix:///PATH`: the absolute path of the socket.
fn parse_socket(value: &str) -> CliResult<PathBuf> {
    refuse_unprintable("--socket", value)?;
    match value.strip_prefix("unix://") {
        Some(path) if path.starts_with('/') => Ok(PathBuf::from(path)),
        _ => Err(CliError::new(format!(
            "--socket {value:?} is not a unix socket address with an absolute path; give unix:///PATH, e.g. unix:///var/run/docker.sock"
        ))),
    }
}

/// `--min-severity`: one of the five severities.
fn parse_severity(value: &str) -> CliResult<Severity> {
    value.parse().map_err(|_| {
        CliError::new(format!(
            "invalid --min-severity {:?}: give info, low, medium, high or critical",
            escape(value)
        ))
    })
}

/// Checks the combinations clap cannot say in one line, then every value.
fn parse(args: &AuditArgs) -> CliResult<Parsed> {
    if args.root.is_some() && (args.socket.is_some() || args.host.is_some()) {
        // A usage error like clap's, but in one line: the two ask for different hosts.
        return Err(CliError::new(
            "--root audits a filesystem tree, which has no running daemon to ask: leave out --socket and --host, or audit this machine without --root",
        )
        .with_exit_code(EXIT_USAGE));
    }
    let min_severity = parse_severity(&args.min_severity)?;
    let root = args.root.as_deref().map(absolute).transpose()?;
    let daemon_config = match (&args.daemon_config, &root) {
        (None, _) => None,
        (Some(file), None) => Some(absolute(file)?),
        (Some(file), Some(_)) if file.is_absolute() => Some(file.clone()),
        (Some(file), Some(_)) => {
            return Err(CliError::new(format!(
                "--daemon-config {} is relative; with --root give its path inside the tree, e.g. /etc/docker/daemon.json",
                escape(&file.display().to_string())
            )))
        }
    };
    let daemon = match (&args.socket, &args.host, &args.client_dir) {
        (Some(socket), _, None) => Some(DaemonAccess::Socket(parse_socket(socket)?)),
        (None, Some(host), Some(dir)) => Some(DaemonAccess::Tcp {
            endpoint: parse_host("--host", host)?,
            client_dir: absolute(dir)?,
        }),
        (None, Some(_), None) => {
            return Err(CliError::new(
                "--host needs --client-dir DIR: the client layout (ca.pem, cert.pem, key.pem) to connect to the daemon with",
            ))
        }
        (_, None, Some(_)) => {
            return Err(CliError::new(
                "--client-dir is the client layout for --host; give --host tcp://HOST:PORT too",
            ))
        }
        (None, None, None) => None,
        // clap refuses --socket with --host.
        (Some(_), Some(_), _) => None,
    };
    let mut request = AuditRequest::new(now());
    request.daemon_config = daemon_config;
    request.daemon = daemon;
    Ok(Parsed {
        root,
        request,
        min_severity,
    })
}

/// `dockpki audit`.
pub fn run(ctx: &Context, args: &AuditArgs) -> CliResult<i32> {
    let mut parsed = parse(args)?;
    if parsed.root.is_none() && parsed.request.daemon.is_none() {
        // On the machine itself the daemon is asked by default, through the system socket
        // when there is one: `sudo dockpki audit` covers the containers too.
        let default = PathBuf::from(DEFAULT_SOCKET);
        if std::fs::symlink_metadata(&default).is_ok_and(|m| m.file_type().is_socket()) {
            parsed.request.daemon = Some(DaemonAccess::Socket(default));
        }
    }
    let host = match &parsed.root {
        Some(dir) => TreeHost::tree(dir)?,
        None => TreeHost::live()?,
    };
    let report = audit::audit(&host, &parsed.request)?;
    let threshold = parsed.min_severity;
    let health = report.health(threshold);
    if ctx.out.json {
        print_document("audit", document(&ctx.invocation, &report, threshold));
    } else {
        print!("{}", text(ctx, &report));
    }
    if parsed.request.daemon.is_some() {
        // The container rules were asked for: a daemon that could not be asked is worth a
        // warning, not a silent "not applicable".
        if let Some(Outcome::NotApplicable { reason, .. }) = report
            .outcomes
            .iter()
            .find(|o| o.id() == audit::rules::SOCKET_MOUNTED.id)
        {
            note(format_args!(
                "warning: the container rules did not run: {reason}"
            ));
        }
    }
    if health == Health::Broken {
        let count = report
            .findings()
            .iter()
            .filter(|f| f.severity >= threshold)
            .count();
        eprintln!(
            "error: the audit found {count} finding(s) at or above {threshold}; {}",
            if ctx.out.json {
                "see \"findings\""
            } else {
                "see the findings above"
            }
        );
    }
    Ok(exit_code(health))
}

/// The fix as the operator runs or reads it: a dockpki command with the global options in
/// force, a shell command quoted word by word, or the advice.
pub fn fix_text(inv: &Invocation, fix: &Fix) -> String {
    let words = |w: &[String]| {
        w.iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match fix {
        Fix::Dockpki { args } => inv.command(&words(args)),
        Fix::Command { argv } => words(argv),
        Fix::Manual { text } => text.clone(),
    }
}

/// The findings, most severe first, grouped under a heading per severity; then, with `-v`,
/// the rules kept and those not applicable; then (not with `-q`) the summary line. Everything
/// the host holds (paths, values, container names) is escaped: a file name cannot forge a
/// finding's line.
fn text(ctx: &Context, report: &AuditReport) -> String {
    let mut out = String::new();
    let findings = report.findings();
    for severity in Severity::ALL.iter().rev() {
        let group: Vec<&&Finding> = findings
            .iter()
            .filter(|f| f.severity == *severity)
            .collect();
        if group.is_empty() {
            continue;
        }
        // Info is worth knowing, neither good nor bad: not coloured.
        let heading = match severity {
            Severity::Critical | Severity::High => ctx.out.paint(Tone::Bad, severity.as_str()),
            Severity::Medium | Severity::Low => ctx.out.paint(Tone::Attention, severity.as_str()),
            Severity::Info => severity.as_str().to_string(),
        };
        out.push_str(&format!("{heading} ({}):\n", group.len()));
        for f in group {
            out.push_str(&format!("  {}  {}\n", f.id, escape(&f.evidence)));
            out.push_str(&format!(
                "    fix: {}\n",
                escape(&fix_text(&ctx.invocation, &f.fix))
            ));
        }
    }
    if ctx.out.verbose {
        let mut passed = String::new();
        let mut not_applicable = String::new();
        for o in &report.outcomes {
            match o {
                Outcome::Pass { id, evidence } => {
                    passed.push_str(&format!("  {id}  {}\n", escape(evidence)));
                }
                Outcome::NotApplicable { id, reason } => {
                    not_applicable.push_str(&format!("  {id}  {}\n", escape(reason)));
                }
                Outcome::Fail(_) => {}
            }
        }
        for (heading, lines) in [("passed", passed), ("not applicable", not_applicable)] {
            if !lines.is_empty() {
                out.push_str(&format!("{heading}:\n{lines}"));
            }
        }
    }
    if !ctx.out.quiet {
        let s = report.summary();
        out.push_str(&format!(
            "audit of {}: {} critical, {} high, {} medium, {} low, {} info; {} passed, {} not applicable\n",
            escape(&report.host),
            s.critical,
            s.high,
            s.medium,
            s.low,
            s.info,
            s.passed,
            s.not_applicable
        ));
    }
    out
}

/// A finding of the document: the library's, with its fix rendered as the text output says it.
fn finding_json(inv: &Invocation, f: &Finding) -> Value {
    let args = match &f.fix {
        Fix::Dockpki { args } => Some(args.clone()),
        Fix::Command { argv } => Some(argv.clone()),
        Fix::Manual { .. } => None,
    };
    let kind = match &f.fix {
        Fix::Dockpki { .. } => "dockpki",
        Fix::Command { .. } => "command",
        Fix::Manual { .. } => "manual",
    };
    json!({
        "id": f.id,
        "severity": f.severity,
        "title": f.title,
        "cis": f.cis,
        "evidence": f.evidence,
        "fix": { "kind": kind, "text": fix_text(inv, &f.fix), "args": args },
    })
}

/// An outcome of the document: its rule, its result, and what was seen or why it did not apply.
fn outcome_json(o: &Outcome) -> Value {
    match o {
        Outcome::Pass { id, evidence } => {
            json!({ "id": id, "result": "pass", "evidence": evidence })
        }
        Outcome::Fail(f) => json!({
            "id": f.id, "result": "fail", "severity": f.severity, "evidence": f.evidence,
        }),
        Outcome::NotApplicable { id, reason } => {
            json!({ "id": id, "result": "not-applicable", "reason": reason })
        }
    }
}

/// The `--json` document (docs/json.md, `dockpki/audit/v1`).
fn document(inv: &Invocation, report: &AuditReport, threshold: Severity) -> Value {
    json!({
        "ok": report.health(threshold) == Health::Good,
        "host": report.host,
        "min_severity": threshold,
        "config_source": report.config_source,
        "summary": report.summary(),
        "findings": report.findings().iter().map(|f| finding_json(inv, f)).collect::<Vec<_>>(),
        "outcomes": report.outcomes.iter().map(outcome_json).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_socket_is_unix_with_an_absolute_path() {
        assert_eq!(
            parse_socket("unix:///run/docker.sock").unwrap(),
            Path::new("/run/docker.sock")
        );
        for bad in [
            "/run/docker.sock",
            "unix://run/docker.sock",
            "tcp://h:2376",
            "unix://",
        ] {
            assert!(parse_socket(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fixes_are_rendered_with_the_invocation_and_quoted_for_a_shell() {
        let inv = Invocation::default();
        assert_eq!(
            fix_text(&inv, &Fix::dockpki(["daemon-config", "--harden"])),
            "dockpki daemon-config --harden"
        );
        assert_eq!(
            fix_text(
                &inv,
                &Fix::command(["chmod", "0400", "/etc/my docker/key.pem"])
            ),
            "chmod 0400 '/etc/my docker/key.pem'"
        );
        assert_eq!(fix_text(&inv, &Fix::manual("do it")), "do it");
    }
}
