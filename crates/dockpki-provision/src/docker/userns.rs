//! Whether the host can run a root dockerd with `userns-remap`, as daemon.json asks: the
//! remap user (`dockremap` for `"default"`) in `/etc/passwd` and its subordinate id ranges in
//! `/etc/subuid` and `/etc/subgid`, or, where they are missing, whether dockerd creates them
//! itself at its next start or refuses to start.
//!
//! What dockerd (moby's `daemon/daemon_unix.go` and `pkg/idtools`) does at start with
//! `userns-remap`:
//! - `"default"` names the user `dockremap`. When no such user exists, dockerd creates it
//!   (`adduser --system ... dockremap` where `adduser` is on its `PATH`, else
//!   `useradd -r -s /bin/false dockremap`) and then gives it the ranges it lacks, 65536 ids from
//!   the first free id at or above 100000 (`usermod -v START-END dockremap` and
//!   `usermod -w START-END dockremap`). Without those programs it refuses to start ("Error
//!   during \"dockremap\" user creation").
//! - Any other user (`NAME`, `NAME:GROUP`, `UID`, `UID:GID`) must exist: dockerd never creates
//!   it ("Error during uid lookup").
//! - An existing user without a range in either file makes dockerd refuse to start ("no subuid
//!   ranges found for user"): it adds ranges only to the `dockremap` user it has just created.
//!   A range is a line `NAME:START:COUNT` or `UID:START:COUNT`.
//!
//! Only the files are read (through the bounded reader): accounts from a directory service
//! (which dockerd finds with `getent`) are not seen, and are reported as missing.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::error::Result;
use crate::fs::reader::{self, Limit, Links};

/// The user `userns-remap: "default"` names.
pub const DEFAULT_USER: &str = "dockremap";
/// How many ids dockerd gives the user it creates, in each file.
pub const RANGE_LEN: u64 = 65536;
/// The lowest id dockerd gives the user it creates.
pub const FIRST_ID: u64 = 100_000;

/// Where dockerd finds `adduser`, `useradd` and `usermod`: the directories of systemd's
/// default `PATH`, which its unit runs with.
const TOOL_DIRS: &[&str] = &[
    "usr/local/sbin",
    "usr/local/bin",
    "usr/sbin",
    "usr/bin",
    "sbin",
    "bin",
];

/// What the next start of dockerd makes of `userns-remap` on this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    /// The user and both of its ranges are there.
    Ready,
    /// The `dockremap` user is missing, and dockerd creates it and its ranges itself (the
    /// programs it runs for that are there).
    CreatedByDockerd,
    /// dockerd will refuse to start until root runs [`UsernsRemap::commands`].
    Missing,
}

/// What the host holds for `userns-remap`, and what the next dockerd start makes of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UsernsRemap {
    /// The value of `userns-remap` in daemon.json (`default`, `NAME`, `NAME:GROUP`, `UID:GID`).
    pub value: String,
    /// The user whose ranges containers are mapped into (`dockremap` for `default`).
    pub user: String,
    /// Whether `/etc/passwd` has the user.
    pub user_exists: bool,
    /// The user's ranges in `/etc/subuid`, as `START:COUNT`.
    pub subuid: Vec<String>,
    /// The user's ranges in `/etc/subgid`, as `START:COUNT`.
    pub subgid: Vec<String>,
    /// What the next dockerd start makes of it.
    pub readiness: Readiness,
    /// The commands dockerd runs itself ([`Readiness::CreatedByDockerd`]), or the ones root
    /// must run before restarting dockerd ([`Readiness::Missing`]); empty when ready. One
    /// shell command each.
    pub commands: Vec<String>,
    /// One line: what was found and what dockerd will do.
    pub summary: String,
}

/// A range of a subordinate id file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct IdRange {
    start: u64,
    count: u64,
}

/// The lines of `/etc/subuid` or `/etc/subgid`: owner (name or uid) and range. Comments, blank
/// and malformed lines are passed over, as shadow's tools do.
fn parse_ranges(text: &str) -> Vec<(String, IdRange)> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|line| {
            let mut f = line.trim().split(':');
            let owner = f.next()?.to_string();
            let start = f.next()?.parse().ok()?;
            let count = f.next()?.parse().ok()?;
            (f.next().is_none() && !owner.is_empty() && count > 0)
                .then_some((owner, IdRange { start, count }))
        })
        .collect()
}

/// The first id at or above [`FIRST_ID`] from which [`RANGE_LEN`] ids overlap no range of
/// `all`: where dockerd (and the command advised) puts a new user's range.
fn next_free(all: &[(String, IdRange)]) -> u64 {
    let mut ranges: Vec<IdRange> = all.iter().map(|(_, r)| *r).collect();
    ranges.sort();
    let mut start = FIRST_ID;
    for r in ranges {
        let end = r.start.saturating_add(r.count);
        if start < end && r.start < start.saturating_add(RANGE_LEN) {
            start = end;
        }
    }
    start
}

/// `root/etc/NAME` read through the bounded reader, `None` when missing.
fn read_etc(root: &Path, name: &str) -> Result<Option<String>> {
    let path = root.join("etc").join(name);
    Ok(reader::read_optional(&path, Links::Follow, Limit::Config)?
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
}

/// Whether an executable `name` is in one of [`TOOL_DIRS`] under `root`.
fn has_tool(root: &Path, name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    TOOL_DIRS.iter().any(|dir| {
        let path: PathBuf = root.join(dir).join(name);
        std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// What the host under `root` (`/` for this machine, or a tree standing for one) holds for the
/// `userns-remap` of `config` (a merged daemon.json), and what dockerd's next start makes of
/// it; `None` when `config` sets no `userns-remap` (or an empty one, which dockerd ignores).
/// Reads `etc/passwd`, `etc/subuid` and `etc/subgid` under `root` (bounded, regular files
/// only) and looks for `adduser`, `useradd` and `usermod` in the directories of systemd's
/// default `PATH`.
///
/// # Errors
/// When one of the files exists but cannot be read (not a regular file, over 1 MiB,
/// permissions).
///
/// # Examples
/// ```
/// use dockpki_provision::docker::userns::{check, Readiness};
/// # let root = tempfile::tempdir()?;
/// std::fs::create_dir(root.path().join("etc"))?;
/// std::fs::write(root.path().join("etc/passwd"), "dockremap:x:102:106::/nonexistent:/bin/false\n")?;
/// std::fs::write(root.path().join("etc/subuid"), "dockremap:165536:65536\n")?;
/// std::fs::write(root.path().join("etc/subgid"), "dockremap:165536:65536\n")?;
/// let config = serde_json::json!({"userns-remap": "default"});
/// let found = check(&config, root.path())?.expect("userns-remap is set");
/// assert_eq!(found.readiness, Readiness::Ready);
/// assert_eq!(found.subuid, ["165536:65536"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check(config: &Value, root: &Path) -> Result<Option<UsernsRemap>> {
    let Some(value) = config
        .get("userns-remap")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
    else {
        return Ok(None);
    };
    let passwd = read_etc(root, "passwd")?.unwrap_or_default();
    let subuid_all = parse_ranges(&read_etc(root, "subuid")?.unwrap_or_default());
    let subgid_all = parse_ranges(&read_etc(root, "subgid")?.unwrap_or_default());
    let accounts = crate::audit::host::parse_passwd(&passwd);
    let who = value.split(':').next().unwrap_or(value);
    let default = who == "default";
    let wanted = if default { DEFAULT_USER } else { who };
    // A number is a uid (as dockerd reads it); the ranges may name the user or its uid.
    let account = match wanted.parse::<u32>() {
        Ok(uid) => accounts.iter().find(|a| a.uid == uid),
        Err(_) => accounts.iter().find(|a| a.name == wanted),
    };
    let user = account.map_or_else(|| wanted.to_string(), |a| a.name.clone());
    let owners: Vec<String> = match account {
        Some(a) => vec![a.name.clone(), a.uid.to_string()],
        None => vec![wanted.to_string()],
    };
    let mine = |all: &[(String, IdRange)]| -> Vec<String> {
        all.iter()
            .filter(|(owner, _)| owners.contains(owner))
            .map(|(_, r)| format!("{}:{}", r.start, r.count))
            .collect()
    };
    let (subuid, subgid) = (mine(&subuid_all), mine(&subgid_all));
    let usermod = has_tool(root, "usermod");
    // The commands that add each missing range: usermod where dockerd (or root) has it, else
    // the line itself.
    let range_commands = |with_usermod: bool| -> Vec<String> {
        let mut out = Vec::new();
        for (mine, all, flag, file) in [
            (&subuid, &subuid_all, "-v", "/etc/subuid"),
            (&subgid, &subgid_all, "-w", "/etc/subgid"),
        ] {
            if mine.is_empty() {
                let start = next_free(all);
                out.push(if with_usermod {
                    format!("usermod {flag} {start}-{} {user}", start + RANGE_LEN - 1)
                } else {
                    format!("echo {user}:{start}:{RANGE_LEN} >> {file}")
                });
            }
        }
        out
    };
    let shown_ranges = format!(
        "/etc/subuid ({}) and /etc/subgid ({})",
        shown_list(&subuid),
        shown_list(&subgid)
    );
    let (readiness, commands, summary) = if account.is_some()
        && !subuid.is_empty()
        && !subgid.is_empty()
    {
        let summary = format!(
            "userns-remap {value:?}: the user {user} and its ranges in {shown_ranges} are in place; containers' root is uid {} on the host",
            subuid[0].split(':').next().unwrap_or_default()
        );
        (Readiness::Ready, Vec::new(), summary)
    } else if account.is_none() && default {
        // dockerd prefers adduser, as moby's idtools does.
        let adder = if has_tool(root, "adduser") {
            Some(format!("adduser --system --shell /bin/false --no-create-home --disabled-login --disabled-password --group {user}"))
        } else if has_tool(root, "useradd") {
            Some(format!("useradd -r -s /bin/false {user}"))
        } else {
            None
        };
        let ranges_needed = subuid.is_empty() || subgid.is_empty();
        match adder {
            Some(adder) if usermod || !ranges_needed => {
                let mut commands = vec![adder];
                commands.extend(range_commands(true));
                let summary = format!(
                    "userns-remap {value:?}: there is no user {user} in /etc/passwd yet; dockerd creates it and its subordinate id ranges at its next start: {}",
                    commands.join("; ")
                );
                (Readiness::CreatedByDockerd, commands, summary)
            }
            _ => {
                let mut commands = vec![format!("useradd -r -s /bin/false {user}")];
                commands.extend(range_commands(usermod));
                let summary = format!(
                    "userns-remap {value:?}: there is no user {user} in /etc/passwd, and dockerd cannot create it ({} missing in /usr/sbin, /usr/bin, /sbin, /bin): it will refuse to start; run as root first: {}",
                    if usermod { "adduser and useradd" } else { "adduser/useradd or usermod" },
                    commands.join("; ")
                );
                (Readiness::Missing, commands, summary)
            }
        }
    } else if account.is_none() {
        let mut commands = vec![format!("useradd -r -s /bin/false {user}")];
        commands.extend(range_commands(usermod));
        let summary = format!(
            "userns-remap {value:?}: there is no user {user} in /etc/passwd, and dockerd creates only {DEFAULT_USER} (for \"default\"): it will refuse to start; run as root first: {}",
            commands.join("; ")
        );
        (Readiness::Missing, commands, summary)
    } else {
        let commands = range_commands(usermod);
        let summary = format!(
            "userns-remap {value:?}: the user {user} has no range in {}, and dockerd adds ranges only to a user it creates: it will refuse to start; run as root first: {}",
            match (subuid.is_empty(), subgid.is_empty()) {
                (true, true) => "/etc/subuid or /etc/subgid",
                (true, false) => "/etc/subuid",
                _ => "/etc/subgid",
            },
            commands.join("; ")
        );
        (Readiness::Missing, commands, summary)
    };
    Ok(Some(UsernsRemap {
        value: value.to_string(),
        user,
        user_exists: account.is_some(),
        subuid,
        subgid,
        readiness,
        commands,
        summary,
    }))
}

/// `a, b` or `none`.
fn shown_list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    /// A tree standing for `/` with the given `/etc` files and executables in `/usr/sbin`.
    fn tree(files: &[(&str, &str)], tools: &[&str]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::create_dir_all(root.path().join("usr/sbin")).unwrap();
        for (name, text) in files {
            std::fs::write(root.path().join("etc").join(name), text).unwrap();
        }
        for tool in tools {
            let p = root.path().join("usr/sbin").join(tool);
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        root
    }

    const PASSWD: &str =
        "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n";
    const DOCKREMAP: &str = "dockremap:x:102:106::/nonexistent:/bin/false\n";

    fn default_on(root: &Path) -> UsernsRemap {
        check(&json!({"userns-remap": "default"}), root)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn no_userns_remap_or_an_empty_one_is_nothing_to_check() {
        let root = tree(&[], &[]);
        for config in [
            json!({}),
            json!({"userns-remap": ""}),
            json!({"userns-remap": 1}),
        ] {
            assert_eq!(check(&config, root.path()).unwrap(), None, "{config}");
        }
    }

    #[test]
    fn dockremap_with_both_ranges_is_ready() {
        let root = tree(
            &[
                ("passwd", &format!("{PASSWD}{DOCKREMAP}")),
                ("subuid", "alice:100000:65536\ndockremap:165536:65536\n"),
                // By uid: dockerd looks up the uid first, then the name.
                ("subgid", "alice:100000:65536\n102:165536:65536\n"),
            ],
            &[],
        );
        let found = default_on(root.path());
        assert_eq!(found.readiness, Readiness::Ready);
        assert_eq!(found.user, "dockremap");
        assert!(found.user_exists);
        assert_eq!(
            (found.subuid.as_slice(), found.subgid.as_slice()),
            (
                &["165536:65536".to_string()][..],
                &["165536:65536".to_string()][..]
            )
        );
        assert!(found.commands.is_empty());
        assert!(
            found
                .summary
                .contains("containers' root is uid 165536 on the host"),
            "{}",
            found.summary
        );
    }

    #[test]
    fn a_missing_dockremap_is_created_by_dockerd_when_its_programs_are_there() {
        let root = tree(
            &[("passwd", PASSWD), ("subuid", "alice:100000:65536\n")],
            &["useradd", "usermod"],
        );
        let found = default_on(root.path());
        assert_eq!(found.readiness, Readiness::CreatedByDockerd);
        assert!(!found.user_exists);
        // The first free range after alice's; none is taken in the missing /etc/subgid.
        assert_eq!(
            found.commands,
            [
                "useradd -r -s /bin/false dockremap",
                "usermod -v 165536-231071 dockremap",
                "usermod -w 100000-165535 dockremap",
            ]
        );
        assert!(
            found.summary.contains("dockerd creates it"),
            "{}",
            found.summary
        );
        // adduser is preferred where both are there, as dockerd does.
        let root = tree(&[("passwd", PASSWD)], &["adduser", "useradd", "usermod"]);
        assert!(default_on(root.path()).commands[0].starts_with("adduser --system"));
    }

    #[test]
    fn without_useradd_or_usermod_dockerd_cannot_create_dockremap_and_says_what_to_run() {
        for tools in [&[][..], &["useradd"][..]] {
            let root = tree(&[("passwd", PASSWD)], tools);
            let found = default_on(root.path());
            assert_eq!(found.readiness, Readiness::Missing, "{tools:?}");
            assert_eq!(found.commands[0], "useradd -r -s /bin/false dockremap");
            // Without usermod, the lines themselves.
            assert_eq!(
                found.commands[1..],
                [
                    "echo dockremap:100000:65536 >> /etc/subuid",
                    "echo dockremap:100000:65536 >> /etc/subgid"
                ]
            );
            assert!(
                found.summary.contains("refuse to start"),
                "{}",
                found.summary
            );
        }
    }

    #[test]
    fn an_existing_user_without_ranges_makes_dockerd_refuse_to_start() {
        let root = tree(
            &[
                ("passwd", &format!("{PASSWD}{DOCKREMAP}")),
                ("subuid", "dockremap:165536:65536\n"),
            ],
            &["usermod"],
        );
        let found = default_on(root.path());
        assert_eq!(found.readiness, Readiness::Missing);
        assert_eq!(found.commands, ["usermod -w 100000-165535 dockremap"]);
        assert!(
            found.summary.contains("has no range in /etc/subgid"),
            "{}",
            found.summary
        );
    }

    #[test]
    fn another_user_is_never_created_by_dockerd() {
        let root = tree(&[("passwd", PASSWD)], &["useradd", "usermod"]);
        let found = check(&json!({"userns-remap": "builder:builder"}), root.path())
            .unwrap()
            .unwrap();
        assert_eq!(found.readiness, Readiness::Missing);
        assert_eq!(found.user, "builder");
        assert_eq!(found.commands[0], "useradd -r -s /bin/false builder");
        // A uid names the account.
        let root = tree(
            &[
                ("passwd", PASSWD),
                ("subuid", "alice:100000:65536\n"),
                ("subgid", "1000:100000:65536\n"),
            ],
            &[],
        );
        let found = check(&json!({"userns-remap": "1000:1000"}), root.path())
            .unwrap()
            .unwrap();
        assert_eq!(
            (found.user.as_str(), found.readiness),
            ("alice", Readiness::Ready)
        );
    }

    #[test]
    fn the_next_free_range_skips_every_overlapping_line() {
        let all = parse_ranges(
            "# comment\nbad line\na:100000:10\nb:165000:1000\nc:500000:65536\nd:x:1\ne:1:0\n",
        );
        assert_eq!(all.len(), 3);
        // 100000..100010 is taken, then 100010+65536 would reach into b's range.
        assert_eq!(next_free(&all), 166_000);
        assert_eq!(next_free(&[]), FIRST_ID);
        // A range wholly inside the candidate is an overlap too.
        assert_eq!(next_free(&parse_ranges("a:120000:5\n")), 120_005);
    }

    #[test]
    fn a_fifo_in_place_of_etc_subuid_is_refused_not_read() {
        let root = tree(&[("passwd", PASSWD)], &[]);
        nix::unistd::mkfifo(
            &root.path().join("etc/subuid"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        assert!(check(&json!({"userns-remap": "default"}), root.path()).is_err());
    }
}
