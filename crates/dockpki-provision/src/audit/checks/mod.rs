//! The checks, one module per group of rules; each has `run(&Context) -> Vec<Outcome>`.
//! [`file_rules`] is the one judge of a file's owner and mode, shared by every rule about a
//! file, so that "group-writable" or "a key others can read" means the same everywhere.

#[cfg(test)]
mod bench;
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

/// What a file guards, which decides how bad access beyond the expected mode is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guard {
    /// Configuration or a certificate: whoever may change it decides what root runs or trusts,
    /// so write access for group or others is high; any other extra bit is low.
    Config,
    /// A private key: read access for group or others gives it away (critical).
    Secret,
    /// The daemon's socket: connecting needs write access, so write access for others makes
    /// every local user root (critical); the group's is expected.
    Socket,
}

/// A group as dockerd's configuration names it: by name, or by number (`--group 999` is
/// accepted by dockerd as well).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupSpec<'a> {
    /// A group name (`docker`, `root`).
    Name(&'a str),
    /// A gid.
    Gid(u32),
}

impl<'a> GroupSpec<'a> {
    /// `spec` as dockerd reads its `group` option: all digits is a gid, anything else a name.
    pub fn parse(spec: &'a str) -> GroupSpec<'a> {
        match spec.parse::<u32>() {
            Ok(gid) if spec.bytes().all(|b| b.is_ascii_digit()) => GroupSpec::Gid(gid),
            _ => GroupSpec::Name(spec),
        }
    }

    /// The gid on `host`: a name looked up in its `/etc/group` (`None` when it has no such
    /// group), a number as it is.
    pub fn gid(self, host: &dyn Host) -> Option<u32> {
        match self {
            GroupSpec::Gid(gid) => Some(gid),
            GroupSpec::Name(name) => host
                .groups()
                .ok()?
                .into_iter()
                .find(|g| g.name == name)
                .map(|g| g.gid),
        }
    }

    /// The group's name where the host has one, else its number.
    pub fn label(self, host: &dyn Host) -> String {
        match self {
            GroupSpec::Name(name) => name.to_string(),
            GroupSpec::Gid(gid) => host
                .group_name(gid)
                .ok()
                .flatten()
                .unwrap_or_else(|| gid.to_string()),
        }
    }
}

/// What a file's owner and mode should be.
#[derive(Clone, Copy, Debug)]
pub struct Expect<'a> {
    /// The kind of file expected there; another kind is a finding of the owner rule.
    pub kind: FileKind,
    /// The owner's uid (0: root; a rootless daemon's user for its files).
    pub uid: u32,
    /// The group, its gid looked up on the host; `None` when any group will do (a rootless
    /// daemon's files).
    pub group: Option<GroupSpec<'a>>,
    /// The loosest mode allowed (`0o644`): any bit beyond it is a finding.
    pub max_mode: u32,
    /// What the file guards.
    pub guard: Guard,
}

/// How bad the bits of `mode` beyond `max_mode` are for a file guarding `guard`: `None` when
/// there are none.
pub fn mode_severity(mode: u32, max_mode: u32, guard: Guard) -> Option<Severity> {
    let extra = mode & !max_mode & 0o7777;
    if extra == 0 {
        return None;
    }
    Some(match guard {
        Guard::Secret if mode & 0o044 != 0 => Severity::Critical,
        Guard::Socket if mode & 0o002 != 0 => Severity::Critical,
        // Others may change it (or it runs as its owner): they choose what root reads or runs.
        _ if extra & 0o022 != 0 || extra & 0o6000 != 0 => Severity::High,
        // Looser than the benchmark asks, without giving anyone a way in.
        _ => Severity::Low,
    })
}

/// The owner rule and the mode rule of the file at `path` on the host. A file that does not
/// exist makes both not applicable (the benchmark's "file not found").
pub fn file_rules(
    host: &dyn Host,
    path: &Path,
    owner_rule: &'static Rule,
    mode_rule: &'static Rule,
    expect: Expect<'_>,
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
    let gid = expect.group.map(|g| g.gid(host));
    let owner_text = describe_owner(host, &stat);
    let want_owner = match expect.group {
        Some(group) => format!("{}:{}", user_label(host, expect.uid), group.label(host)),
        None => user_label(host, expect.uid),
    };
    // The same owner in numbers, for a fix inside a tree (whose names are its own).
    let want_ids = match gid.flatten() {
        Some(gid) => format!("{}:{gid}", expect.uid),
        None => expect.uid.to_string(),
    };
    let kind = |k: FileKind| format!("{k:?}").to_lowercase();
    if stat.kind != expect.kind {
        out.push(Outcome::fail(
            owner_rule,
            Severity::High,
            format!(
                "{name} is a {}, not a {}",
                kind(stat.kind),
                kind(expect.kind)
            ),
            Fix::manual(format!(
                "replace {name} with the {} dockerd expects",
                kind(expect.kind)
            )),
        ));
        // Its mode means nothing for the wrong kind of file.
        out.push(Outcome::not_applicable(
            mode_rule,
            format!("{name} is not a {}", kind(expect.kind)),
        ));
        return out;
    }
    let chown = || {
        safe_fix(
            host,
            path,
            expect,
            &format!("set its owner to {want_owner} ({want_ids})"),
            vec!["chown".into(), want_owner.clone(), name.clone()],
        )
    };
    if stat.uid != expect.uid {
        out.push(Outcome::fail(
            owner_rule,
            Severity::High,
            format!("{name} is owned by {owner_text}, not {want_owner}"),
            chown(),
        ));
    } else if gid.is_some_and(|g| g != Some(stat.gid)) {
        // The group missing from /etc/group is as wrong as another group. Which group it is
        // matters for a socket its group may write to: every member of that group is root.
        let socket_for_others = expect.guard == Guard::Socket && stat.mode & 0o020 != 0;
        let (severity, evidence) = if socket_for_others {
            (
                Severity::High,
                format!(
                    "{name} is owned by {owner_text}, not {want_owner}: every member of group {} may use the daemon",
                    host.group_name(stat.gid).ok().flatten().unwrap_or_else(|| stat.gid.to_string())
                ),
            )
        } else {
            (
                Severity::Low,
                format!("{name} is owned by {owner_text}, not {want_owner}"),
            )
        };
        out.push(Outcome::fail(owner_rule, severity, evidence, chown()));
    } else {
        out.push(Outcome::pass(
            owner_rule,
            format!("{name} is owned by {owner_text}"),
        ));
    }
    match mode_severity(stat.mode, expect.max_mode, expect.guard) {
        None => out.push(Outcome::pass(
            mode_rule,
            format!("{name} has mode {:04o}", stat.mode),
        )),
        Some(severity) => {
            let mode = format!("{:04o}", stat.mode & expect.max_mode);
            out.push(Outcome::fail(
                mode_rule,
                severity,
                format!(
                    "{name} has mode {:04o}, looser than {:04o}",
                    stat.mode, expect.max_mode
                ),
                safe_fix(
                    host,
                    path,
                    expect,
                    &format!("set its mode to {mode}"),
                    vec!["chmod".into(), mode.clone(), name.clone()],
                ),
            ))
        }
    }
    out
}

/// Why a `chown` or `chmod` of `path` run as root could land on another file than the one
/// judged, if it could: a link on the way that is not root's own, a directory on the way that
/// someone else may change, or a link as the file itself. `None` when every step is root's.
pub fn path_risk(host: &dyn Host, path: &Path) -> Option<String> {
    let mut prefix = std::path::PathBuf::from("/");
    let components: Vec<_> = path.components().skip(1).collect();
    for (i, part) in components.iter().enumerate() {
        prefix.push(part);
        let last = i + 1 == components.len();
        let shown = host.shown(&prefix).display().to_string();
        let Ok(Some(stat)) = host.lstat(&prefix) else {
            return None;
        };
        match stat.kind {
            FileKind::Symlink if last => return Some(format!("{shown} is a link")),
            FileKind::Symlink if stat.uid != 0 => {
                return Some(format!("{shown} is a link of uid {}", stat.uid))
            }
            FileKind::Directory if !last && stat.uid != 0 => {
                return Some(format!("{shown} is a directory of uid {}", stat.uid))
            }
            // Writable by others without the sticky bit: anyone may swap what is in it.
            FileKind::Directory if !last && stat.mode & 0o022 != 0 && stat.mode & 0o1000 == 0 => {
                return Some(format!("{shown} is writable by others"))
            }
            _ => {}
        }
    }
    None
}

/// The fix `argv` (a `chown` or `chmod` of `path`) when root can run it safely: on the machine
/// itself, for a file of root's reached only through root's links and directories. Otherwise
/// the same change in words (`what`): inside a tree a command run from this machine would
/// follow the tree's links into this machine's files; through a link or a directory someone
/// else controls it could be steered to any file; and a rootless daemon's files are their
/// user's to change.
fn safe_fix(
    host: &dyn Host,
    path: &Path,
    expect: Expect<'_>,
    what: &str,
    argv: Vec<String>,
) -> Fix {
    let name = host.shown(path).display().to_string();
    if !host.is_live() {
        return Fix::manual(format!(
            "inside the tree, {what} on {name}, by numeric id and without following links: the tree's links lead a chown or chmod run on this machine to this machine's own files"
        ));
    }
    if expect.uid != 0 {
        let user = user_label(host, expect.uid);
        return Fix::manual(format!(
            "as {user} (it is their file, in a directory they control), {what} on {name}"
        ));
    }
    if let Some(risk) = path_risk(host, path) {
        return Fix::manual(format!(
            "{what} on {name} by hand, after checking where it leads: {risk}, so a command run as root could change another file"
        ));
    }
    Fix::Command { argv }
}

/// The name of the account `uid`, else the number.
fn user_label(host: &dyn Host, uid: u32) -> String {
    host.user_name(uid)
        .ok()
        .flatten()
        .unwrap_or_else(|| uid.to_string())
}

/// `uid:gid` of `stat` with names where the host has them (`root:docker`, `1000:docker`).
pub fn describe_owner(host: &dyn Host, stat: &Stat) -> String {
    let user = user_label(host, stat.uid);
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
    fn a_path_is_risky_through_a_link_or_directory_another_user_controls_or_as_a_link_itself() {
        if !crate::test_support::root_or_skip() {
            return;
        }
        use std::os::unix::fs::{chown, symlink, PermissionsExt};
        let tree = tempfile::tempdir().unwrap();
        let d = tree.path();
        let host = crate::audit::TreeHost::tree(d).unwrap();
        let mode = |p: &str, m: u32| {
            std::fs::set_permissions(d.join(p), std::fs::Permissions::from_mode(m)).unwrap()
        };
        std::fs::create_dir_all(d.join("root/sub")).unwrap();
        std::fs::write(d.join("root/sub/f"), "").unwrap();
        mode("root", 0o755);
        mode("root/sub", 0o755);
        let risk = |p: &str| path_risk(&host, Path::new(p));
        assert_eq!(risk("/root/sub/f"), None, "root's all the way");
        // A link of root's on the way is root's own choice; the file itself a link is not.
        symlink("/root", d.join("rootlink")).unwrap();
        assert_eq!(risk("/rootlink/sub/f"), None);
        symlink("f", d.join("root/sub/l")).unwrap();
        assert!(risk("/root/sub/l")
            .unwrap()
            .ends_with("/root/sub/l is a link"));
        // Someone else's link on the way.
        symlink("/root", d.join("theirs")).unwrap();
        std::os::unix::fs::lchown(d.join("theirs"), Some(4242), None).unwrap();
        assert!(risk("/theirs/sub/f")
            .unwrap()
            .ends_with("/theirs is a link of uid 4242"));
        // Someone else's directory on the way (the file itself being theirs is the owner rule's).
        chown(d.join("root/sub"), Some(4242), None).unwrap();
        assert!(risk("/root/sub/f")
            .unwrap()
            .ends_with("/root/sub is a directory of uid 4242"));
        chown(d.join("root/sub"), Some(0), None).unwrap();
        // A directory others may write to, unless sticky.
        mode("root/sub", 0o777);
        assert!(risk("/root/sub/f")
            .unwrap()
            .ends_with("/root/sub is writable by others"));
        mode("root/sub", 0o1777);
        assert_eq!(
            risk("/root/sub/f"),
            None,
            "sticky: others cannot swap root's file"
        );
        mode("root/sub", 0o775);
        assert!(risk("/root/sub/f").is_some(), "group-writable");
        mode("root/sub", 0o755);
        // A missing step: nothing to steer (the rule says the file does not exist).
        assert_eq!(risk("/root/missing/f"), None);
    }

    #[test]
    fn a_group_option_of_digits_is_a_gid_and_anything_else_a_name() {
        assert_eq!(GroupSpec::parse("999"), GroupSpec::Gid(999));
        assert_eq!(GroupSpec::parse("docker"), GroupSpec::Name("docker"));
        assert_eq!(GroupSpec::parse("+999"), GroupSpec::Name("+999"));
        assert_eq!(GroupSpec::parse("99a"), GroupSpec::Name("99a"));
    }

    #[test]
    fn a_key_others_can_read_is_critical_and_write_bits_are_high() {
        use Guard::*;
        assert_eq!(mode_severity(0o400, 0o400, Secret), None);
        assert_eq!(mode_severity(0o600, 0o400, Secret), Some(Severity::Low));
        assert_eq!(
            mode_severity(0o640, 0o400, Secret),
            Some(Severity::Critical)
        );
        assert_eq!(
            mode_severity(0o404, 0o400, Secret),
            Some(Severity::Critical)
        );
        assert_eq!(mode_severity(0o644, 0o444, Config), Some(Severity::Low));
        assert_eq!(mode_severity(0o664, 0o644, Config), Some(Severity::High));
        assert_eq!(mode_severity(0o646, 0o644, Config), Some(Severity::High));
        // docker-bench compares modes as numbers: 607 <= 644 passes there, not here.
        assert_eq!(mode_severity(0o607, 0o644, Config), Some(Severity::High));
        assert_eq!(mode_severity(0o4644, 0o644, Config), Some(Severity::High));
        assert_eq!(mode_severity(0o600, 0o644, Config), None);
        assert_eq!(mode_severity(0o660, 0o660, Socket), None);
        assert_eq!(
            mode_severity(0o666, 0o660, Socket),
            Some(Severity::Critical)
        );
        assert_eq!(mode_severity(0o664, 0o660, Socket), Some(Severity::Low));
    }
}

/// Fixture trees for the checks' tests: a directory standing for `/`, with passwd and group
/// files, and files given owners and modes (owners need root: tests call
/// [`crate::test_support::root_or_skip`] first).
#[cfg(test)]
pub(crate) mod fixture {
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    use crate::audit::config::effective_config;
    use crate::audit::host::TreeHost;
    use crate::audit::rules::Context;
    use crate::audit::{AuditRequest, Outcome};

    /// The throwaway uid and gid fixtures give to files that are not root's.
    pub const OTHER: u32 = 4242;
    /// Where fixtures keep the daemon layout.
    pub const PKI: &str = "/etc/docker/pki";
    /// The gid of the fixture's `docker` group.
    pub const DOCKER_GID: u32 = 4243;

    /// A tree with `/etc/passwd` (root, alice 1000, bob 1001, jenkins 998 with nologin) and
    /// `/etc/group` (root, docker 4243 with `docker_members`, other 4242).
    pub struct Tree {
        pub dir: tempfile::TempDir,
    }

    impl Tree {
        pub fn new(docker_members: &[&str]) -> Tree {
            let tree = Tree {
                dir: tempfile::tempdir().expect("tempdir"),
            };
            tree.file(
                "/etc/passwd",
                "root:x:0:0:root:/root:/bin/bash\n\
                 alice:x:1000:1000::/home/alice:/bin/bash\n\
                 bob:x:1001:1001::/home/bob:/bin/bash\n\
                 carol:x:1002:1002::/home/carol:/bin/bash\n\
                 dave:x:1003:1003::/home/dave:/bin/bash\n\
                 jenkins:x:998:998::/var/lib/jenkins:/usr/sbin/nologin\n",
                0,
                0,
                0o644,
            );
            tree.file(
                "/etc/group",
                &format!(
                    "root:x:0:\nother:x:{OTHER}:\ndocker:x:{DOCKER_GID}:{}\n",
                    docker_members.join(",")
                ),
                0,
                0,
                0o644,
            );
            tree.dir("/etc/docker", 0, 0, 0o755);
            tree
        }

        /// A tree laid out as `bootstrap` and `daemon-config` leave it, with the benchmark's modes.
        pub fn provisioned() -> Tree {
            let tree = Tree::new(&[]);
            tree.dir(PKI, 0, 0, 0o755);
            tree.file(&format!("{PKI}/ca.pem"), "ca", 0, 0, 0o444);
            tree.file(&format!("{PKI}/server-cert.pem"), "cert", 0, 0, 0o444);
            tree.file(&format!("{PKI}/server-key.pem"), "key", 0, 0, 0o400);
            tree.file(
                "/etc/docker/daemon.json",
                &format!(
                    r#"{{"tlsverify": true, "tlscacert": "{PKI}/ca.pem", "tlscert": "{PKI}/server-cert.pem", "tlskey": "{PKI}/server-key.pem"}}"#
                ),
                0,
                0,
                0o644,
            );
            tree.file(
                "/lib/systemd/system/docker.service",
                "[Service]\nExecStart=/usr/bin/dockerd -H fd://\n",
                0,
                0,
                0o644,
            );
            tree.file(
                "/lib/systemd/system/docker.socket",
                "[Socket]\n",
                0,
                0,
                0o644,
            );
            tree.file("/etc/default/docker", "", 0, 0, 0o644);
            tree
        }

        /// The tree's path for the host path `path`.
        pub fn path(&self, path: &str) -> PathBuf {
            self.dir.path().join(path.trim_start_matches('/'))
        }

        /// Writes `contents` at the host path `path`, with owner and mode.
        pub fn file(&self, path: &str, contents: &str, uid: u32, gid: u32, mode: u32) {
            let p = self.path(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, contents).expect("write");
            self.own(path, uid, gid, mode);
        }

        /// Makes the directory at `path`, with owner and mode.
        pub fn dir(&self, path: &str, uid: u32, gid: u32, mode: u32) {
            std::fs::create_dir_all(self.path(path)).expect("mkdir");
            self.own(path, uid, gid, mode);
        }

        /// Sets the owner and mode of `path`.
        pub fn own(&self, path: &str, uid: u32, gid: u32, mode: u32) {
            let p = self.path(path);
            std::os::unix::fs::chown(&p, Some(uid), Some(gid)).expect("chown (needs root)");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        }

        /// Binds a unix socket at `path`; the listener must be kept for the socket to stay.
        pub fn socket(&self, path: &str) -> std::os::unix::net::UnixListener {
            let p = self.path(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::os::unix::net::UnixListener::bind(&p).expect("bind")
        }

        /// The host of this tree.
        pub fn host(&self) -> TreeHost {
            TreeHost::tree(self.dir.path()).expect("tree")
        }

        /// Runs `check` over this tree, with its effective configuration.
        pub fn run(&self, check: fn(&Context<'_>) -> Vec<Outcome>) -> Vec<Outcome> {
            self.run_on(&self.host(), check)
        }

        /// Runs `check` over this tree as if it were the machine itself (its fixes are the ones
        /// a live host gets; it still has no processes).
        pub fn run_as_live(&self, check: fn(&Context<'_>) -> Vec<Outcome>) -> Vec<Outcome> {
            self.run_on(&AsLive(self.host()), check)
        }

        fn run_on(
            &self,
            host: &dyn crate::audit::Host,
            check: fn(&Context<'_>) -> Vec<Outcome>,
        ) -> Vec<Outcome> {
            run_at(host, time::OffsetDateTime::now_utc(), check)
        }
    }

    /// Runs `check` over `host` as of `now`, with the host's effective configuration and no
    /// daemon to ask: what every check's tests run.
    pub fn run_at(
        host: &dyn crate::audit::Host,
        now: time::OffsetDateTime,
        check: fn(&Context<'_>) -> Vec<Outcome>,
    ) -> Vec<Outcome> {
        let config = effective_config(host, None).expect("config");
        let request = AuditRequest::new(now);
        check(&Context {
            host,
            config: &config,
            request: &request,
            daemon_info: None,
        })
    }

    /// A tree that stands for the live machine: paths are still shown under the tree, but
    /// fixes are judged as on a live host.
    pub struct AsLive(pub TreeHost);

    impl crate::audit::Host for AsLive {
        fn name(&self) -> String {
            self.0.name()
        }
        fn is_live(&self) -> bool {
            true
        }
        fn shown(&self, path: &std::path::Path) -> PathBuf {
            self.0.shown(path)
        }
        fn stat(&self, path: &std::path::Path) -> crate::Result<Option<crate::audit::host::Stat>> {
            self.0.stat(path)
        }
        fn lstat(&self, path: &std::path::Path) -> crate::Result<Option<crate::audit::host::Stat>> {
            self.0.lstat(path)
        }
        fn read(
            &self,
            path: &std::path::Path,
            limit: crate::fs::reader::Limit,
        ) -> crate::Result<Option<zeroize::Zeroizing<Vec<u8>>>> {
            self.0.read(path, limit)
        }
        fn list_dir(&self, path: &std::path::Path) -> crate::Result<Option<Vec<String>>> {
            self.0.list_dir(path)
        }
        fn processes(&self) -> crate::Result<Vec<crate::audit::host::Process>> {
            Ok(Vec::new())
        }
    }

    /// The outcome of the rule `id` (the only one, or the first).
    pub fn outcome<'a>(outcomes: &'a [Outcome], id: &str) -> &'a Outcome {
        outcomes
            .iter()
            .find(|o| o.id() == id)
            .unwrap_or_else(|| panic!("no outcome for {id} in {outcomes:#?}"))
    }

    /// The severity of the finding of rule `id`, `None` for a pass or not applicable.
    pub fn severity(outcomes: &[Outcome], id: &str) -> Option<crate::audit::Severity> {
        outcome(outcomes, id).finding().map(|f| f.severity)
    }

    /// Whether the rule `id` passed.
    pub fn passed(outcomes: &[Outcome], id: &str) -> bool {
        matches!(outcome(outcomes, id), Outcome::Pass { .. })
    }
}
