//! The checks, one module per group of rules; each has `run(&Context) -> Vec<Outcome>`.
//! [`file_rules`] is the one judge of a file's owner and mode, shared by every rule about a
//! file, so that "group-writable" or "a key others can read" means the same everywhere.

pub mod containers;
pub mod daemon;
pub mod files;
pub mod listen;
pub mod socket;
pub mod tls;

use std::path::Path;

use super::host::{FileKind, Host, Stat};
use super::rules::Rule;
use super::{Fix, Outcome, Severity};

/// What a file's owner and mode should be.
#[derive(Clone, Copy, Debug)]
pub struct Expect {
    /// The kind of file expected there; another kind is a finding of the owner rule.
    pub kind: FileKind,
    /// The owner's uid (0: root).
    pub uid: u32,
    /// The group's name (`root`, `docker`); its gid is looked up on the host.
    pub group: &'static str,
    /// The loosest mode allowed (`0o644`): any bit beyond it is a finding.
    pub max_mode: u32,
    /// A private key: read access for group or others is critical.
    pub secret: bool,
}

/// How bad the bits of `mode` beyond `max_mode` are: `None` when there are none.
pub fn mode_severity(mode: u32, max_mode: u32, secret: bool) -> Option<Severity> {
    let extra = mode & !max_mode & 0o7777;
    if extra == 0 {
        return None;
    }
    Some(if secret && mode & 0o044 != 0 {
        Severity::Critical
    } else if extra & 0o022 != 0 || extra & 0o6000 != 0 {
        // Others may change it (or it runs as its owner): they choose what root reads or runs.
        Severity::High
    } else {
        // Looser than the benchmark asks, without giving anyone a way in.
        Severity::Low
    })
}

/// The owner rule and the mode rule of the file at `path` on the host. A file that does not
/// exist makes both not applicable (the benchmark's "file not found").
pub fn file_rules(
    host: &dyn Host,
    path: &Path,
    owner_rule: &'static Rule,
    mode_rule: &'static Rule,
    expect: Expect,
) -> Vec<Outcome> {
    let shown = host.shown(path);
    let name = shown.display().to_string();
    let stat: Stat = match host.stat(path) {
        Ok(Some(stat)) => stat,
        Ok(None) => {
            let why = format!("{name} does not exist");
            return vec![
                Outcome::not_applicable(owner_rule, why.clone()),
                Outcome::not_applicable(mode_rule, why),
            ];
        }
        Err(e) => {
            let why = format!("{name} cannot be looked at: {}", e.message());
            return vec![
                Outcome::not_applicable(owner_rule, why.clone()),
                Outcome::not_applicable(mode_rule, why),
            ];
        }
    };
    let mut out = Vec::new();
    let gid = host
        .groups()
        .ok()
        .and_then(|groups| groups.into_iter().find(|g| g.name == expect.group))
        .map(|g| g.gid);
    let owner_text = describe_owner(host, &stat);
    let want_owner = format!("root:{}", expect.group);
    if stat.kind != expect.kind {
        out.push(Outcome::fail(
            owner_rule,
            Severity::High,
            format!("{name} is a {:?}, not a {:?}", stat.kind, expect.kind).to_lowercase(),
            Fix::manual(
                format!("replace {name} with the {:?} dockerd expects", expect.kind).to_lowercase(),
            ),
        ));
    } else if stat.uid != expect.uid {
        out.push(Outcome::fail(
            owner_rule,
            Severity::High,
            format!("{name} is owned by {owner_text}"),
            Fix::command(["chown", &want_owner, &name]),
        ));
    } else if gid.is_some_and(|g| g != stat.gid) || gid.is_none() {
        // The right group missing from /etc/group is as wrong as another group.
        out.push(Outcome::fail(
            owner_rule,
            Severity::Low,
            format!("{name} is owned by {owner_text}"),
            Fix::command(["chown", &want_owner, &name]),
        ));
    } else {
        out.push(Outcome::pass(
            owner_rule,
            format!("{name} is owned by {owner_text}"),
        ));
    }
    match mode_severity(stat.mode, expect.max_mode, expect.secret) {
        None => out.push(Outcome::pass(
            mode_rule,
            format!("{name} has mode {:04o}", stat.mode),
        )),
        Some(severity) => out.push(Outcome::fail(
            mode_rule,
            severity,
            format!(
                "{name} has mode {:04o}, looser than {:04o}",
                stat.mode, expect.max_mode
            ),
            Fix::command([
                "chmod".to_string(),
                format!("{:04o}", stat.mode & expect.max_mode),
                name.clone(),
            ]),
        )),
    }
    out
}

/// `uid:gid` of `stat` with names where the host has them (`root:docker`, `1000:docker`).
pub fn describe_owner(host: &dyn Host, stat: &Stat) -> String {
    let user = host
        .user_name(stat.uid)
        .ok()
        .flatten()
        .unwrap_or_else(|| stat.uid.to_string());
    let group = host
        .group_name(stat.gid)
        .ok()
        .flatten()
        .unwrap_or_else(|| stat.gid.to_string());
    format!("{user}:{group}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_others_can_read_is_critical_and_write_bits_are_high() {
        assert_eq!(mode_severity(0o400, 0o400, true), None);
        assert_eq!(mode_severity(0o600, 0o400, true), Some(Severity::Low));
        assert_eq!(mode_severity(0o640, 0o400, true), Some(Severity::Critical));
        assert_eq!(mode_severity(0o404, 0o400, true), Some(Severity::Critical));
        assert_eq!(mode_severity(0o644, 0o444, false), Some(Severity::Low));
        assert_eq!(mode_severity(0o664, 0o644, false), Some(Severity::High));
        assert_eq!(mode_severity(0o646, 0o644, false), Some(Severity::High));
        // docker-bench compares modes as numbers: 607 <= 644 passes there, not here.
        assert_eq!(mode_severity(0o607, 0o644, false), Some(Severity::High));
        assert_eq!(mode_severity(0o4644, 0o644, false), Some(Severity::High));
        assert_eq!(mode_severity(0o600, 0o644, false), None);
    }
}
