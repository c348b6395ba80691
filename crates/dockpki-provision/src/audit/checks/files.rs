//! Owners and modes of the daemon's configuration files (CIS section 3): the systemd units,
//! `/etc/docker`, the TLS files dockerd is configured with, daemon.json and
//! `/etc/default/docker`. Every rule goes through [`file_rules`], so a file is judged by the
//! same bits everywhere: bits beyond the benchmark's mode that let others write (or, for the
//! key, read) are high or critical; other extra bits are low.

use std::path::{Path, PathBuf};

use super::{file_rules, Expect, GroupSpec, Guard};
use crate::audit::host::FileKind;
use crate::audit::rules::{self, Context, Rule};
use crate::audit::Outcome;
use crate::docker::systemd;

/// The unit file `unit` as systemd would load it: the first of the unit directories holding
/// it (`/etc/systemd/system`, `/run/systemd/system`, `/lib/…`, `/usr/lib/…`).
fn unit_file(cx: &Context<'_>, unit: &str) -> Option<PathBuf> {
    systemd::UNIT_DIRS
        .iter()
        .map(|d| Path::new(d).join(unit))
        .find(|p| cx.host.stat(p).ok().flatten().is_some())
}

/// Root's configuration file: root:root, at most `max_mode`.
fn root_file(kind: FileKind, max_mode: u32, guard: Guard) -> Expect<'static> {
    Expect {
        kind,
        uid: 0,
        group: Some(GroupSpec::Name("root")),
        max_mode,
        guard,
    }
}

/// The owner a file of the daemon's own configuration should have: root:root, or a rootless
/// daemon's user (any group).
fn daemon_file(cx: &Context<'_>, max_mode: u32, guard: Guard) -> Expect<'static> {
    if cx.config.rootless && cx.config.daemon_uid() != 0 {
        Expect {
            kind: FileKind::Regular,
            uid: cx.config.daemon_uid(),
            group: None,
            max_mode,
            guard,
        }
    } else {
        root_file(FileKind::Regular, max_mode, guard)
    }
}

/// Both rules for a file that may not be there: not applicable, saying `missing`, when it is
/// not configured.
fn configured(
    cx: &Context<'_>,
    path: Option<PathBuf>,
    rules: (&'static Rule, &'static Rule),
    expect: Expect<'_>,
    missing: &str,
) -> Vec<Outcome> {
    match path {
        Some(path) => file_rules(cx.host, &path, rules.0, rules.1, expect),
        None => vec![
            Outcome::not_applicable(rules.0, missing),
            Outcome::not_applicable(rules.1, missing),
        ],
    }
}

/// Runs the rules of this group.
pub fn run(cx: &Context<'_>) -> Vec<Outcome> {
    let mut out = Vec::new();
    let config_file = root_file(FileKind::Regular, 0o644, Guard::Config);
    out.extend(configured(
        cx,
        unit_file(cx, systemd::DOCKER_UNIT),
        (&rules::DOCKER_SERVICE_OWNER, &rules::DOCKER_SERVICE_MODE),
        config_file,
        "docker.service is not installed",
    ));
    out.extend(configured(
        cx,
        unit_file(cx, "docker.socket"),
        (
            &rules::DOCKER_SOCKET_UNIT_OWNER,
            &rules::DOCKER_SOCKET_UNIT_MODE,
        ),
        config_file,
        "docker.socket is not installed",
    ));
    out.extend(file_rules(
        cx.host,
        Path::new("/etc/docker"),
        &rules::ETC_DOCKER_OWNER,
        &rules::ETC_DOCKER_MODE,
        root_file(FileKind::Directory, 0o755, Guard::Config),
    ));
    let tls_enabled =
        cx.config.bool("tlsverify") == Some(true) || cx.config.bool("tls") == Some(true);
    let tls_path = |flag: &str| {
        cx.config
            .string(flag)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let not_set = |what: &str| {
        if tls_enabled {
            format!("no {what} is named in dockerd's configuration")
        } else {
            "TLS is not configured".to_string()
        }
    };
    out.extend(configured(
        cx,
        tls_path("tlscacert"),
        (&rules::TLS_CA_OWNER, &rules::TLS_CA_MODE),
        daemon_file(cx, 0o444, Guard::Config),
        &not_set("TLS CA certificate (tlscacert)"),
    ));
    out.extend(configured(
        cx,
        tls_path("tlscert"),
        (&rules::TLS_CERT_OWNER, &rules::TLS_CERT_MODE),
        daemon_file(cx, 0o444, Guard::Config),
        &not_set("server certificate (tlscert)"),
    ));
    out.extend(configured(
        cx,
        tls_path("tlskey"),
        (&rules::TLS_KEY_OWNER, &rules::TLS_KEY_MODE),
        daemon_file(cx, 0o400, Guard::Secret),
        &not_set("server key (tlskey)"),
    ));
    out.extend(configured(
        cx,
        cx.config.file.as_ref().map(|f| f.path.clone()),
        (&rules::DAEMON_JSON_OWNER, &rules::DAEMON_JSON_MODE),
        daemon_file(cx, 0o644, Guard::Config),
        "there is no daemon.json",
    ));
    out.extend(file_rules(
        cx.host,
        Path::new("/etc/default/docker"),
        &rules::DEFAULT_DOCKER_OWNER,
        &rules::DEFAULT_DOCKER_MODE,
        config_file,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{passed, severity, Tree, OTHER};
    use super::*;
    use crate::audit::Severity;
    use crate::test_support::root_or_skip;

    const PKI: &str = super::super::fixture::PKI;

    const ALL: [&Rule; 16] = [
        &rules::DOCKER_SERVICE_OWNER,
        &rules::DOCKER_SERVICE_MODE,
        &rules::DOCKER_SOCKET_UNIT_OWNER,
        &rules::DOCKER_SOCKET_UNIT_MODE,
        &rules::ETC_DOCKER_OWNER,
        &rules::ETC_DOCKER_MODE,
        &rules::TLS_CA_OWNER,
        &rules::TLS_CA_MODE,
        &rules::TLS_CERT_OWNER,
        &rules::TLS_CERT_MODE,
        &rules::TLS_KEY_OWNER,
        &rules::TLS_KEY_MODE,
        &rules::DAEMON_JSON_OWNER,
        &rules::DAEMON_JSON_MODE,
        &rules::DEFAULT_DOCKER_OWNER,
        &rules::DEFAULT_DOCKER_MODE,
    ];

    #[test]
    fn a_tree_with_the_benchmarks_owners_and_modes_passes_every_file_rule() {
        if !root_or_skip() {
            return;
        }
        let out = Tree::provisioned().run(run);
        for rule in ALL {
            assert!(passed(&out, rule.id), "{}: {out:#?}", rule.id);
        }
    }

    #[test]
    fn a_server_key_others_can_read_is_critical_and_one_root_may_write_is_low() {
        if !root_or_skip() {
            return;
        }
        let tree = Tree::provisioned();
        let key = format!("{PKI}/server-key.pem");
        tree.own(&key, 0, 0, 0o644);
        assert_eq!(
            severity(&tree.run(run), rules::TLS_KEY_MODE.id),
            Some(Severity::Critical)
        );
        tree.own(&key, 0, 0, 0o600);
        assert_eq!(
            severity(&tree.run(run), rules::TLS_KEY_MODE.id),
            Some(Severity::Low)
        );
        tree.own(&key, OTHER, 0, 0o400);
        assert_eq!(
            severity(&tree.run(run), rules::TLS_KEY_OWNER.id),
            Some(Severity::High)
        );
    }

    #[test]
    fn files_others_may_write_are_high_and_a_wrong_group_alone_is_low() {
        if !root_or_skip() {
            return;
        }
        let tree = Tree::provisioned();
        tree.own("/etc/docker/daemon.json", 0, 0, 0o666);
        tree.own("/lib/systemd/system/docker.service", 0, 0, 0o664);
        tree.own("/etc/docker", 0, 0, 0o777);
        tree.own(&format!("{PKI}/ca.pem"), 0, 0, 0o644);
        tree.own("/etc/default/docker", 0, OTHER, 0o644);
        let out = tree.run(run);
        assert_eq!(
            severity(&out, rules::DAEMON_JSON_MODE.id),
            Some(Severity::High)
        );
        assert_eq!(
            severity(&out, rules::DOCKER_SERVICE_MODE.id),
            Some(Severity::High)
        );
        assert_eq!(
            severity(&out, rules::ETC_DOCKER_MODE.id),
            Some(Severity::High)
        );
        // 0644 on a certificate: looser than the benchmark's 444, but nobody else may write it.
        assert_eq!(severity(&out, rules::TLS_CA_MODE.id), Some(Severity::Low));
        assert_eq!(
            severity(&out, rules::DEFAULT_DOCKER_OWNER.id),
            Some(Severity::Low)
        );
        assert!(passed(&out, rules::DEFAULT_DOCKER_MODE.id));
    }

    #[test]
    fn a_tree_gets_its_fixes_in_words_by_numeric_id_never_as_a_command_that_follows_links() {
        if !root_or_skip() {
            return;
        }
        let tree = Tree::provisioned();
        // A tree's daemon.json linked to /etc/shadow: `chown`/`chmod` of the shown path, run on
        // this machine, would change this machine's /etc/shadow.
        tree.file("/etc/shadow", "", 0, OTHER, 0o666);
        let json = tree.path("/etc/docker/daemon.json");
        let text = std::fs::read_to_string(&json).unwrap();
        std::fs::remove_file(&json).unwrap();
        tree.file("/etc/docker/real.json", &text, OTHER, 0, 0o644);
        std::os::unix::fs::symlink("/etc/docker/real.json", &json).unwrap();
        tree.own("/etc/docker/pki/ca.pem", 0, 0, 0o666);
        let out = tree.run(run);
        let shown = json.display().to_string();
        let owner = out
            .iter()
            .find_map(|o| o.finding().filter(|f| f.id == rules::DAEMON_JSON_OWNER.id))
            .expect("a finding");
        assert!(owner.evidence.contains(&shown), "{}", owner.evidence);
        let mode = out
            .iter()
            .find_map(|o| o.finding().filter(|f| f.id == rules::TLS_CA_MODE.id))
            .expect("a finding");
        for finding in [owner, mode] {
            let crate::audit::Fix::Manual { text } = &finding.fix else {
                panic!("a command for a tree: {:?}", finding.fix);
            };
            assert!(text.starts_with("inside the tree"), "{text}");
        }
        let crate::audit::Fix::Manual { text } = &owner.fix else {
            unreachable!()
        };
        assert!(text.contains("(0:0)"), "numeric ids: {text}");
    }

    #[test]
    fn on_the_machine_itself_a_command_is_given_only_for_root_files_reached_through_roots_own_steps(
    ) {
        if !root_or_skip() {
            return;
        }
        let tree = Tree::provisioned();
        tree.own("/etc/docker/daemon.json", OTHER, 0, 0o644);
        let fix = |out: &[Outcome], id: &str| {
            out.iter()
                .find_map(|o| o.finding().filter(|f| f.id == id))
                .map(|f| f.fix.clone())
                .expect("a finding")
        };
        let shown = tree.path("/etc/docker/daemon.json").display().to_string();
        assert_eq!(
            fix(&tree.run_as_live(run), rules::DAEMON_JSON_OWNER.id),
            crate::audit::Fix::command(["chown", "root:root", shown.as_str()])
        );
        // The TLS files in a directory another user owns: they could swap the file for a link
        // to /etc/shadow between the audit and the paste.
        tree.own(PKI, OTHER, 0, 0o755);
        tree.own(&format!("{PKI}/server-key.pem"), 0, 0, 0o640);
        let crate::audit::Fix::Manual { text } =
            fix(&tree.run_as_live(run), rules::TLS_KEY_MODE.id)
        else {
            panic!("a command through a directory of another user");
        };
        assert!(text.contains("is a directory of uid 4242"), "{text}");
        // The file itself a link (even root's): changed by hand only.
        tree.own(PKI, 0, 0, 0o755);
        let key = tree.path(&format!("{PKI}/server-key.pem"));
        std::fs::rename(&key, tree.path(&format!("{PKI}/real-key.pem"))).unwrap();
        std::os::unix::fs::symlink("real-key.pem", &key).unwrap();
        let crate::audit::Fix::Manual { text } =
            fix(&tree.run_as_live(run), rules::TLS_KEY_MODE.id)
        else {
            panic!("a command on a link");
        };
        assert!(text.contains("is a link"), "{text}");
    }

    #[test]
    fn without_tls_or_files_the_rules_are_not_applicable() {
        let tree = tempfile::tempdir().unwrap();
        let host = crate::audit::TreeHost::tree(tree.path()).unwrap();
        let out = super::super::fixture::run_at(&host, time::OffsetDateTime::now_utc(), run);
        for rule in ALL {
            let o = super::super::fixture::outcome(&out, rule.id);
            assert!(matches!(o, Outcome::NotApplicable { .. }), "{o:?}");
        }
    }

    #[test]
    fn a_directory_where_the_key_should_be_is_refused_as_the_wrong_kind() {
        if !root_or_skip() {
            return;
        }
        let tree = Tree::provisioned();
        let key = tree.path(&format!("{PKI}/server-key.pem"));
        std::fs::remove_file(&key).unwrap();
        std::fs::create_dir(&key).unwrap();
        let out = tree.run(run);
        assert_eq!(
            severity(&out, rules::TLS_KEY_OWNER.id),
            Some(Severity::High)
        );
        assert!(matches!(
            super::super::fixture::outcome(&out, rules::TLS_KEY_MODE.id),
            Outcome::NotApplicable { .. }
        ));
    }
}
