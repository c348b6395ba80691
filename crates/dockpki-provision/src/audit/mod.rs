//! `audit`: a Docker host checked against the hardening guide dockpki implements and the CIS
//! Docker Benchmark, as structured results with the exact fix.
//!
//! Every check is a function over a [`Host`] (files, owners, modes, accounts, processes) and
//! the [`EffectiveConfig`] the daemon runs with, so that the same checks run on the machine
//! itself, on an offline tree (an image, a chroot, a golden configuration) and on fixtures.
//! A check returns [`Outcome`]s: a pass, a [`Finding`] with its severity, evidence and fix, or
//! "not applicable" with the reason (no TLS configured, no socket in a tree). The rules, with
//! their stable ids, titles and CIS numbers, are listed in [`rules::RULES`] and documented in
//! docs/audit.md.
//!
//! Evidence quotes what the host holds (paths, daemon.json values, account names): the caller
//! escapes it before printing it as text ([`crate::text::escape`]).

pub mod checks;
pub mod config;
pub mod host;
pub mod rules;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::Serialize;
use time::OffsetDateTime;

pub use config::EffectiveConfig;
pub use host::{Host, TreeHost};
pub use rules::Rule;

use crate::error::Result;
use crate::health::Health;

/// How bad a finding is. Ordered from least to most severe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Worth knowing; not a weakness by itself (TCP bound to all interfaces behind mutual TLS,
    /// privileged containers listed).
    Info,
    /// A hardening step not taken, with little exposure on its own.
    Low,
    /// A hardening step not taken that widens what a compromised container or user can do.
    Medium,
    /// A weakness that gives root or the daemon's keys to someone who should not have them.
    High,
    /// The daemon is open now: anyone who reaches it is root on the host.
    Critical,
}

impl Severity {
    /// Every severity, least severe first.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The lowercase name (`high`), as on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Severity, String> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                format!("unknown severity {s:?}: use one of info, low, medium, high, critical")
            })
    }
}

/// How to fix a finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Fix {
    /// A dockpki command: its arguments after `dockpki` and the global options, which the
    /// caller prepends as it was invoked (so that the command acts on the same state).
    Dockpki {
        /// The arguments, one string each.
        args: Vec<String>,
    },
    /// A shell command to run as root, one string per word (`chmod 0400 /etc/docker/…`).
    Command {
        /// The words, one string each; the caller quotes them for a shell.
        argv: Vec<String>,
    },
    /// What to do, in words, where no single command does it.
    Manual {
        /// One sentence.
        text: String,
    },
}

impl Fix {
    /// A shell command from its words.
    pub fn command<I, S>(words: I) -> Fix
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Fix::Command {
            argv: words.into_iter().map(Into::into).collect(),
        }
    }

    /// A dockpki command from its arguments.
    pub fn dockpki<I, S>(args: I) -> Fix
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Fix::Dockpki {
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    /// Advice in words.
    pub fn manual(text: impl Into<String>) -> Fix {
        Fix::Manual { text: text.into() }
    }
}

/// A rule the host breaks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule's stable id (`tls.tcp-without-tls`).
    pub id: &'static str,
    /// How bad it is here (a rule may be more or less severe depending on what was found).
    pub severity: Severity,
    /// The rule's title.
    pub title: &'static str,
    /// The CIS Docker Benchmark item it matches, if any (`2.7`).
    pub cis: Option<&'static str>,
    /// What was seen, in one line (paths, values, names from the host: escape before printing).
    pub evidence: String,
    /// How to fix it.
    pub fix: Fix,
}

/// What one rule concluded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Outcome {
    /// The host keeps the rule.
    Pass {
        /// The rule's id.
        id: &'static str,
        /// What was seen, in one line.
        evidence: String,
    },
    /// The host breaks the rule.
    Fail(Finding),
    /// The rule does not apply here, or could not be checked (no TLS configured, a file that
    /// is not there, no daemon to ask).
    NotApplicable {
        /// The rule's id.
        id: &'static str,
        /// Why, in one line.
        reason: String,
    },
}

impl Outcome {
    /// A pass of `rule`.
    pub fn pass(rule: &'static Rule, evidence: impl Into<String>) -> Outcome {
        Outcome::Pass {
            id: rule.id,
            evidence: evidence.into(),
        }
    }

    /// A finding of `rule` at `severity`.
    pub fn fail(
        rule: &'static Rule,
        severity: Severity,
        evidence: impl Into<String>,
        fix: Fix,
    ) -> Outcome {
        Outcome::Fail(Finding {
            id: rule.id,
            severity,
            title: rule.title,
            cis: rule.cis,
            evidence: evidence.into(),
            fix,
        })
    }

    /// `rule` does not apply, for `reason`.
    pub fn not_applicable(rule: &'static Rule, reason: impl Into<String>) -> Outcome {
        Outcome::NotApplicable {
            id: rule.id,
            reason: reason.into(),
        }
    }

    /// The rule's id.
    pub fn id(&self) -> &'static str {
        match self {
            Outcome::Pass { id, .. } | Outcome::NotApplicable { id, .. } => id,
            Outcome::Fail(f) => f.id,
        }
    }

    /// The finding, when the rule is broken.
    pub fn finding(&self) -> Option<&Finding> {
        match self {
            Outcome::Fail(f) => Some(f),
            _ => None,
        }
    }
}

/// How the audit may reach the daemon itself, for the checks only a running daemon can answer
/// (containers with the socket mounted, privileged containers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DaemonAccess {
    /// Its unix socket (`unix:///var/run/docker.sock`).
    Socket(PathBuf),
    /// Over TCP with mutual TLS, with the client layout in `client_dir` (`ca.pem`, `cert.pem`,
    /// `key.pem`).
    Tcp {
        /// The daemon's address.
        endpoint: crate::docker::endpoint::TcpEndpoint,
        /// The client layout.
        client_dir: PathBuf,
    },
}

impl DaemonAccess {
    /// Where the Engine API reads ([`crate::docker::api`]) reach the daemon.
    pub fn target(&self) -> crate::docker::api::Target {
        use crate::docker::api::Target;
        match self {
            DaemonAccess::Socket(path) => Target::Socket(path.clone()),
            DaemonAccess::Tcp {
                endpoint,
                client_dir,
            } => Target::Tcp {
                endpoint: endpoint.clone(),
                client_dir: client_dir.clone(),
            },
        }
    }
}

/// What the daemon said of itself when the audit asked it (`GET /info`): the rules on how it
/// runs (`daemon.root`, `daemon.userns-remap`) judge by this answer rather than by the
/// configuration, which may not be applied yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonInfo {
    /// The daemon asked, as `-H` names it (`unix:///var/run/docker.sock`), for evidence.
    pub asked: String,
    /// Its answer.
    pub info: crate::docker::api::Info,
}

/// How long the daemon has to answer `GET /info`.
pub const INFO_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Asks the daemon of `request` about itself, on a live host only; `None` when there is no
/// daemon to ask or it cannot be asked (the rules then judge by the configuration alone, and
/// the container rules, which ask it too, say why).
pub fn ask_daemon(host: &dyn Host, request: &AuditRequest) -> Option<DaemonInfo> {
    if !host.is_live() {
        return None;
    }
    let target = request.daemon.as_ref()?.target();
    let deadline = crate::docker::probe::Deadline::after(std::time::Instant::now(), INFO_TIMEOUT);
    let info = crate::docker::api::info(&target, deadline).ok()?;
    Some(DaemonInfo {
        asked: target.to_string(),
        info,
    })
}

/// What to audit, beyond the host itself.
#[derive(Clone, Debug)]
pub struct AuditRequest {
    /// daemon.json to use instead of the one the daemon is configured with.
    pub daemon_config: Option<PathBuf>,
    /// How to ask the daemon about its containers; `None` leaves those checks not applicable.
    pub daemon: Option<DaemonAccess>,
    /// The time certificates are checked at.
    pub now: OffsetDateTime,
    /// More members than this in the `docker` group is a high finding (each is root-equivalent).
    pub docker_group_limit: usize,
}

impl AuditRequest {
    /// The default number of `docker` group members above which the group is a high finding.
    pub const DEFAULT_DOCKER_GROUP_LIMIT: usize = 3;

    /// A request with no daemon access and the defaults, at `now`.
    pub fn new(now: OffsetDateTime) -> AuditRequest {
        AuditRequest {
            daemon_config: None,
            daemon: None,
            now,
            docker_group_limit: AuditRequest::DEFAULT_DOCKER_GROUP_LIMIT,
        }
    }
}

/// Everything an audit concluded: one [`Outcome`] per rule that ran (some rules give one per
/// file or per container), in the order of [`rules::RULES`].
#[derive(Clone, Debug, Serialize)]
pub struct AuditReport {
    /// The host audited, as [`Host::name`] says.
    pub host: String,
    /// Where the daemon's configuration came from.
    pub config_source: config::Source,
    /// The outcomes.
    pub outcomes: Vec<Outcome>,
}

/// How many outcomes of each kind a report holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Rules kept.
    pub passed: usize,
    /// Rules not applicable here.
    pub not_applicable: usize,
    /// Findings at each severity, least severe first.
    pub info: usize,
    /// Low findings.
    pub low: usize,
    /// Medium findings.
    pub medium: usize,
    /// High findings.
    pub high: usize,
    /// Critical findings.
    pub critical: usize,
}

impl AuditReport {
    /// The findings, most severe first (ties in rule order).
    pub fn findings(&self) -> Vec<&Finding> {
        let mut found: Vec<&Finding> = self.outcomes.iter().filter_map(Outcome::finding).collect();
        found.sort_by_key(|f| std::cmp::Reverse(f.severity));
        found
    }

    /// The counts of each kind of outcome.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for o in &self.outcomes {
            match o {
                Outcome::Pass { .. } => s.passed += 1,
                Outcome::NotApplicable { .. } => s.not_applicable += 1,
                Outcome::Fail(f) => match f.severity {
                    Severity::Info => s.info += 1,
                    Severity::Low => s.low += 1,
                    Severity::Medium => s.medium += 1,
                    Severity::High => s.high += 1,
                    Severity::Critical => s.critical += 1,
                },
            }
        }
        s
    }

    /// [`Health::Broken`] when a finding is at or above `threshold`, else [`Health::Good`]:
    /// what decides the exit status.
    pub fn health(&self, threshold: Severity) -> Health {
        if self.findings().iter().any(|f| f.severity >= threshold) {
            Health::Broken
        } else {
            Health::Good
        }
    }
}

/// Audits `host`: reads the daemon's effective configuration, then runs every rule.
///
/// # Errors
/// Only when the audit itself cannot run (the host's root cannot be read, daemon.json named
/// by the request is unreadable). A file a rule cannot read is that rule's finding or "not
/// applicable", never an error of the whole audit.
pub fn audit(host: &dyn Host, request: &AuditRequest) -> Result<AuditReport> {
    let config = config::effective_config_serving(
        host,
        request.daemon_config.as_deref(),
        request.daemon.as_ref(),
    )?;
    let info = ask_daemon(host, request);
    let outcomes = rules::run_all(host, &config, request, info.as_ref());
    Ok(AuditReport {
        host: host.name(),
        config_source: config.source.clone(),
        outcomes,
    })
}
