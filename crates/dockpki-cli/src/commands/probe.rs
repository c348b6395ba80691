//! `dockpki probe --host tcp://HOST:PORT`: what a daemon really serves, seen through the client layout
//! exactly as `docker --tlsverify` would use it, with a precise diagnosis when it fails
//! ([`dockpki_provision::docker::probe`] does the probing; this prints it).

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{parse_duration, parse_host, Context, DurationKind};
use crate::cli::ProbeArgs;
use crate::error::{exit_code, CliError, CliResult, EXIT_FAILURE};
use crate::invocation::Invocation;
use crate::output::{escape, print_document, shell_quote, Untrusted};
use crate::paths::absolute;
use dockpki_provision::docker::endpoint::TcpEndpoint;
use dockpki_provision::docker::probe::diagnose::{served_by, served_expiry, served_sans};
use dockpki_provision::docker::probe::report::join;
use dockpki_provision::docker::probe::{
    self, Deadline, Diagnosis, Installed, ProbeError, ProbeReport, ProbeRequest,
};

/// The probe's document: the report with `installed` (a word for a list of layouts in every
/// other document) named `matches_installed`.
fn probe_json(report: &ProbeReport) -> Value {
    let mut doc = serde_json::to_value(report).unwrap_or_default();
    if let Some(map) = doc.as_object_mut() {
        if let Some(installed) = map.shift_remove("installed") {
            map.insert("matches_installed".into(), installed);
        }
    }
    doc
}

/// `dockpki probe`.
pub fn run(ctx: &Context, args: &ProbeArgs) -> CliResult<i32> {
    // `probe ADDRESS` is the older form of `probe --host ADDRESS`; clap requires one of them.
    let endpoint: TcpEndpoint = parse_host(
        "--host",
        args.host
            .as_deref()
            .or(args.address.as_deref())
            .unwrap_or_default(),
    )?;
    let timeout = parse_timeout(&args.timeout)?;
    let deadline = Deadline::after(Instant::now(), timeout);
    let client_dir = match &args.client_dir {
        Some(dir) => absolute(dir)?,
        None => ctx.user.clone().docker_dir()?,
    };
    let report = probe::probe(&ProbeRequest {
        endpoint,
        deadline,
        client_owner: ctx.user.owners.owner_for(&client_dir),
        client_dir,
        state_dir: ctx.state_dir().ok(),
    })
    .map_err(|e| match e {
        ProbeError::Setup(e) => {
            crate::error::with_layout_flags(crate::error::LayoutFlags::ClientDir)(e)
        }
        // A daemon that answered wrongly is broken now (exit 4); one that could not be reached
        // could not be checked (exit 1).
        ProbeError::Diagnosis(d) => {
            let code = d.health().map_or(EXIT_FAILURE, exit_code);
            CliError::new(diagnosis_text(&ctx.invocation, &d)).with_exit_code(code)
        }
    })?;
    if ctx.out.json {
        print_document("probe", probe_json(&report));
    } else {
        print!("{}", report_text(&report));
    }
    if let Some(p) = &report.problem {
        // The inventory's paths are read from a file: one line whatever they hold.
        eprintln!("error: {}", escape(&p.to_string()));
    }
    Ok(exit_code(report.health()))
}

/// The diagnosis in one line, naming dockpki's own commands where the fix is a certificate to
/// issue or renew. (main prints it escaped: it quotes the daemon and its certificate.)
fn diagnosis_text(inv: &Invocation, d: &Diagnosis) -> String {
    match d {
        Diagnosis::UnknownCa { served, ca_file } => format!(
            "unknown CA: the daemon's certificate{} is not signed by a CA in {}; put the daemon's CA in that ca.pem, or give the daemon a certificate from this CA ({}) and restart it",
            served_by(served.as_deref()),
            ca_file.display(),
            inv.command("issue server")
        ),
        Diagnosis::NameNotCovered { host, served } => format!(
            "the daemon's certificate does not cover {host:?}: its SANs are [{}]; re-issue it with every name and address clients dial ({} ... --force) and restart dockerd",
            served_sans(served.as_deref()),
            inv.command(&format!("issue server --san {}", shell_quote(host))),
        ),
        Diagnosis::Expired { served } => format!(
            "the daemon's certificate has expired{}; renew it ({}) and restart dockerd",
            served_expiry(served.as_deref()),
            inv.command("renew")
        ),
        Diagnosis::ClientCertRefused { alert, cert_file } => format!(
            "the daemon refused the client certificate {} (TLS alert {alert:?}): it is not signed by a CA the daemon trusts, or has expired; issue one from the daemon's CA ({}) or add its CA to the daemon's ca.pem and restart dockerd",
            cert_file.display(),
            inv.command("issue client")
        ),
        other => other.to_string(),
    }
}

/// The text report. Everything the daemon sent (certificate fields, `/_ping`, `/version`) and
/// every path read from the inventory goes through [`escape`]: a newline in a version string or
/// a certificate subject must not print a line that looks like `ping: OK` or `error: ...`, and
/// an escape sequence must not drive the terminal.
fn report_text(r: &ProbeReport) -> String {
    let s = |k: &str| Untrusted(r.server.get(k).and_then(Value::as_str).unwrap_or("?"));
    let installed = match r.installed {
        Installed::Yes => format!("yes, in {}", Untrusted(&join(&r.daemon_dirs))),
        Installed::Drift => format!(
            "NO: a newer certificate is installed in {}",
            Untrusted(&join(&r.daemon_dirs))
        ),
        Installed::Unknown => "unknown (not a certificate of this state's inventory)".to_string(),
    };
    [
        format!("daemon:      {} ({})", Untrusted(&r.host), r.address),
        format!(
            "tls:         {}, {}",
            Untrusted(&r.tls_version),
            Untrusted(&r.cipher_suite)
        ),
        format!(
            "certificate: {}, issued by {}",
            Untrusted(&r.certificate.subject),
            Untrusted(&r.certificate.issuer)
        ),
        format!("sans:        {}", Untrusted(&r.certificate.sans.join(", "))),
        format!(
            "expires:     {}",
            dockpki::format_time(r.certificate.not_after)
        ),
        format!("sha256:      {}", Untrusted(&r.certificate.sha256)),
        format!("installed:   {installed}"),
        format!("ping:        {}", Untrusted(&r.ping)),
        format!(
            "server:      Docker Engine {} (API {}, {}/{})",
            s("Version"),
            s("ApiVersion"),
            s("Os"),
            s("Arch")
        ),
    ]
    .iter()
    .map(|line| format!("{line}\n"))
    .collect()
}

/// What `--timeout` accepts of the one duration grammar: seconds up (`5s`, `2m`), not zero, at
/// most a day ([`probe::connect::MAX_TIMEOUT`]).
const TIMEOUT_RULE: dockpki::duration::Rule = dockpki::duration::Rule {
    smallest: dockpki::duration::Unit::Seconds,
    zero: dockpki::duration::Zero::Refused,
    longest: Some((time::Duration::seconds(24 * 60 * 60), "1d")),
};

/// `--timeout` in the one duration grammar: `5s`, `2m`; at most a day.
fn parse_timeout(s: &str) -> CliResult<Duration> {
    let d = parse_duration("--timeout", s, DurationKind::Wait(TIMEOUT_RULE))?;
    Ok(Duration::from_secs(d.unsigned_abs().as_secs()).min(probe::connect::MAX_TIMEOUT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dockpki_provision::docker::probe::Served;
    use std::path::PathBuf;

    #[test]
    fn timeouts_take_the_duration_grammar_from_seconds_to_a_day_but_not_zero_or_bare_numbers() {
        assert_eq!(parse_timeout("5s").ok(), Some(Duration::from_secs(5)));
        assert_eq!(parse_timeout("2m").ok(), Some(Duration::from_secs(120)));
        assert_eq!(parse_timeout("1h").ok(), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_timeout("1440m").ok(),
            Some(Duration::from_secs(86400))
        );
        assert_eq!(parse_timeout("1d").ok(), Some(Duration::from_secs(86400)));
        for bad in [
            "",
            "0s",
            "s",
            "7",
            "250ms",
            "five",
            "-1s",
            "1441m",
            "2d",
            "99999999999999999m",
        ] {
            let e = parse_timeout(bad).expect_err(bad).to_string();
            assert!(
                e.starts_with(&format!("invalid timeout {bad:?} for --timeout: ")),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn certificate_diagnoses_name_the_dockpki_command_that_fixes_them() {
        let inv = Invocation::default();
        let text = diagnosis_text(
            &inv,
            &Diagnosis::NameNotCovered {
                host: "h.example".into(),
                served: None,
            },
        );
        assert_eq!(
            text,
            "the daemon's certificate does not cover \"h.example\": its SANs are []; re-issue it with every name and address clients dial (dockpki issue server --san h.example ... --force) and restart dockerd"
        );
        let text = diagnosis_text(&inv, &Diagnosis::Expired { served: None });
        assert!(text.contains("(dockpki renew)"), "{text}");
        let text = diagnosis_text(&inv, &Diagnosis::NoCertificate);
        assert_eq!(text, "the daemon presented no certificate");
    }

    #[test]
    fn report_text_escapes_everything_from_the_daemon_and_the_certificate() {
        let forged = "x\nerror: forged\r\x1b[2J\u{202e}";
        let report = ProbeReport {
            host: "tcp://127.0.0.1:2376".into(),
            address: "127.0.0.1:2376".parse().expect("address"),
            tls_version: "TLS 1.3".into(),
            cipher_suite: "TLS13_AES_128_GCM_SHA256".into(),
            certificate: Served {
                subject: format!("CN={forged}"),
                issuer: format!("O={forged}"),
                sans: vec![forged.into(), "127.0.0.1".into()],
                serial: "01".into(),
                not_after: time::OffsetDateTime::UNIX_EPOCH,
                sha256: "AA:BB".into(),
            },
            installed: Installed::Yes,
            daemon_dirs: vec![PathBuf::from(format!("/etc/{forged}"))],
            ping: forged.into(),
            server: serde_json::json!({
                "Version": forged, "ApiVersion": forged, "Os": forged, "Arch": forged,
            }),
            problem: None,
        };
        let text = report_text(&report);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 9, "{text}");
        assert!(!text.contains(['\x1b', '\r', '\u{202e}']), "{text:?}");
        assert!(lines.iter().all(|l| !l.starts_with("error:")), "{text}");
        assert_eq!(lines.iter().filter(|l| l.starts_with("ping:")).count(), 1);
        assert_eq!(
            text.matches(r"x\nerror: forged\r\x1b[2J\u{202e}").count(),
            9,
            "{text}"
        );
    }
}
