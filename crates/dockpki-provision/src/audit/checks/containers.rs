//! What a running daemon says of its containers: the Docker socket (or a directory holding it)
//! mounted into one, and privileged containers. Only a live host with a daemon to ask
//! ([`crate::audit::AuditRequest::daemon`]) has containers; everywhere else both rules are not
//! applicable, with the reason.
//!
//! The daemon is asked through [`crate::docker::api`] (bounded answers, one deadline), and what
//! it says (names, mount paths) is quoted in evidence as outside text.

use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use crate::audit::config::{run_dir_path, DEFAULT_SOCKET};
use crate::audit::rules::{self, Context};
use crate::audit::{DaemonAccess, Fix, Outcome, Severity};
use crate::docker::api::{self, Container, Mount, Target};
use crate::docker::probe::Deadline;

/// How long the daemon has to list and describe its containers, all requests together.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The most characters of a container name quoted in evidence.
const NAME_CHARS: usize = 64;

/// Runs the rules of this group.
pub fn run(cx: &Context<'_>) -> Vec<Outcome> {
    let both = |why: String| {
        vec![
            Outcome::not_applicable(&rules::SOCKET_MOUNTED, why.clone()),
            Outcome::not_applicable(&rules::PRIVILEGED, why),
        ]
    };
    if !cx.host.is_live() {
        return both(format!(
            "{} is a tree: there is no running daemon to ask about containers",
            cx.host.name()
        ));
    }
    let Some(daemon) = &cx.request.daemon else {
        return both(
            "no daemon to ask about containers: give its unix socket, or its TCP address and a client layout"
                .to_string(),
        );
    };
    let target = daemon.target();
    let deadline = Deadline::after(Instant::now(), TIMEOUT);
    match api::running_containers(&target, deadline) {
        Ok(containers) => {
            let sockets = socket_paths(cx, daemon);
            let places = SocketPlaces::of(cx.host, &sockets);
            judge(&containers, &sockets, &target, &|source| {
                places.holding(cx.host, source)
            })
        }
        Err(e) => both(format!(
            "the daemon at {target} could not be asked about its containers: {}",
            e.message()
        )),
    }
}

/// The paths of the daemon's unix sockets on the host: the ones it is configured with, the
/// one the audit was told, and the default paths (`/var/run/docker.sock`, `/run/docker.sock`),
/// each with `/var/run` written `/run` ([`run_dir_path`]).
pub fn socket_paths(cx: &Context<'_>, daemon: &DaemonAccess) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = cx
        .config
        .hosts()
        .iter()
        .filter_map(|h| h.strip_prefix("unix://"))
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .collect();
    if let DaemonAccess::Socket(p) = daemon {
        paths.push(p.clone());
    }
    paths.push(PathBuf::from(DEFAULT_SOCKET));
    if cx.config.rootless {
        // dockerd-rootless.sh's socket, in the user's runtime directory.
        paths.push(PathBuf::from(format!(
            "/run/user/{}/docker.sock",
            cx.config.daemon_uid()
        )));
    }
    let mut out: Vec<PathBuf> = Vec::new();
    for p in paths.iter().filter(|p| p.is_absolute()) {
        let p = run_dir_path(&normal(p));
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// `path` without `.` components and trailing slashes (`/run/` is `/run`), as Docker reports
/// sources and users write binds. `..` is kept: Docker refuses it in a bind's source.
fn normal(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| *c != Component::CurDir)
        .collect()
}

/// The socket among `sockets` that `mount` gives the container: its source is the socket
/// itself, or a directory holding it (`/run`, `/var/run`, `/`).
pub fn mounted_socket<'a>(mount: &Mount, sockets: &'a [PathBuf]) -> Option<&'a PathBuf> {
    let source = Path::new(&mount.source);
    if !source.is_absolute() {
        // A named volume's name, not a host path.
        return None;
    }
    let source = run_dir_path(&normal(source));
    sockets.iter().find(|s| s.starts_with(&source))
}

/// The files that give a container the daemon, by identity (device and inode) rather than by
/// name: each socket, and every directory it really lies in. A bind's source that is a link to
/// the socket, a hard link of it, or another path to a directory holding it is found by these
/// where comparing names would miss it.
pub struct SocketPlaces {
    /// (device, inode) of a socket or of a directory it lies in, with that socket.
    ids: Vec<((u64, u64), PathBuf)>,
}

impl SocketPlaces {
    /// The places of `sockets` on `host` (those it can look at).
    pub fn of(host: &dyn crate::audit::Host, sockets: &[PathBuf]) -> SocketPlaces {
        let mut ids = Vec::new();
        for socket in sockets {
            let Ok(Some(stat)) = host.stat(socket) else {
                continue;
            };
            ids.push(((stat.dev, stat.ino), socket.clone()));
            // The directories it really lies in: `DIR/..` is resolved after DIR's links, so
            // `/var/run/..` is `/` when /var/run links to /run.
            let Some(mut dir) = socket.parent().map(Path::to_path_buf) else {
                continue;
            };
            for _ in 0..64 {
                let Ok(Some(stat)) = host.stat(&dir) else {
                    break;
                };
                let id = (stat.dev, stat.ino);
                if ids.iter().any(|(seen, s)| *seen == id && s == socket) {
                    break;
                }
                ids.push((id, socket.clone()));
                dir.push("..");
            }
        }
        SocketPlaces { ids }
    }

    /// The socket that the host path `source` is, or lies in a directory of.
    pub fn holding(&self, host: &dyn crate::audit::Host, source: &str) -> Option<PathBuf> {
        let path = Path::new(source);
        if !path.is_absolute() {
            return None;
        }
        let stat = host.stat(path).ok()??;
        let id = (stat.dev, stat.ino);
        self.ids
            .iter()
            .find(|(seen, _)| *seen == id)
            .map(|(_, socket)| socket.clone())
    }
}

/// `NAME (ID12)`: a container as evidence names it, the name cut to [`NAME_CHARS`].
fn describe(c: &Container) -> String {
    let mut name: String = c.name.chars().take(NAME_CHARS).collect();
    if name.len() < c.name.len() {
        name.push_str("...");
    }
    format!("{name} ({})", c.id.get(..12).unwrap_or(&c.id))
}

/// The outcomes of both rules for `containers` of the daemon at `target`, whose sockets are at
/// `sockets`: one per container and rule, or one pass of each when none runs.
pub fn judge(
    containers: &[Container],
    sockets: &[PathBuf],
    target: &Target,
    holding: &dyn Fn(&str) -> Option<PathBuf>,
) -> Vec<Outcome> {
    if containers.is_empty() {
        let why = format!("no container is running on the daemon at {target}");
        return vec![
            Outcome::pass(&rules::SOCKET_MOUNTED, why.clone()),
            Outcome::pass(&rules::PRIVILEGED, why),
        ];
    }
    let mut out = Vec::new();
    for c in containers {
        let who = describe(c);
        let found: Vec<String> = c
            .mounts
            .iter()
            .filter_map(|m| {
                let socket = match mounted_socket(m, sockets) {
                    Some(socket) => socket.clone(),
                    None => holding(&m.source)?,
                };
                Some(if run_dir_path(Path::new(&m.source)) == socket {
                    format!("{} at {}", m.source, m.destination)
                } else {
                    format!(
                        "{} (holding {}) at {}",
                        m.source,
                        socket.display(),
                        m.destination
                    )
                })
            })
            .collect();
        if found.is_empty() {
            out.push(Outcome::pass(
                &rules::SOCKET_MOUNTED,
                format!("container {who} has no Docker socket mounted"),
            ));
        } else {
            out.push(Outcome::fail(
                &rules::SOCKET_MOUNTED,
                Severity::Critical,
                format!("container {who} mounts {}", found.join(", ")),
                Fix::manual(format!(
                    "recreate container {who} without that mount; a tool that needs the Docker API should reach it through an authorizing proxy or a client certificate, not the socket"
                )),
            ));
        }
    }
    for c in containers {
        let who = describe(c);
        if c.privileged {
            out.push(Outcome::fail(
                &rules::PRIVILEGED,
                Severity::Info,
                format!("container {who} is privileged"),
                Fix::manual(format!(
                    "recreate container {who} without --privileged, adding only the capabilities (--cap-add) and devices (--device) it needs"
                )),
            ));
        } else {
            out.push(Outcome::pass(
                &rules::PRIVILEGED,
                format!("container {who} is not privileged"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`judge`] by names alone.
    fn judge_by_name(
        containers: &[Container],
        sockets: &[PathBuf],
        target: &Target,
    ) -> Vec<Outcome> {
        judge(containers, sockets, target, &|_| None)
    }

    #[test]
    fn a_bind_of_a_link_to_the_socket_or_of_another_path_to_its_directory_is_found_by_identity() {
        let tree = tempfile::tempdir().unwrap();
        let d = tree.path();
        std::fs::create_dir_all(d.join("run")).unwrap();
        let _socket = std::os::unix::net::UnixListener::bind(d.join("run/docker.sock")).unwrap();
        std::os::unix::fs::symlink("/run", d.join("varrun")).unwrap();
        std::os::unix::fs::symlink("/run/docker.sock", d.join("srv-s")).unwrap();
        std::fs::hard_link(d.join("run/docker.sock"), d.join("hard.sock")).unwrap();
        std::fs::create_dir(d.join("elsewhere")).unwrap();
        let host = crate::audit::TreeHost::tree(d).unwrap();
        let sockets = vec![PathBuf::from("/varrun/docker.sock")];
        let places = SocketPlaces::of(&host, &sockets);
        for source in [
            "/srv-s",
            "/hard.sock",
            "/run",
            "/varrun",
            "/",
            "/run/../run",
        ] {
            assert_eq!(
                places.holding(&host, source),
                Some(sockets[0].clone()),
                "{source}"
            );
        }
        for source in ["/elsewhere", "/missing", "relative"] {
            assert_eq!(places.holding(&host, source), None, "{source}");
        }
    }

    fn mount(source: &str) -> Mount {
        Mount {
            source: source.to_string(),
            destination: "/x".to_string(),
        }
    }

    fn sockets() -> Vec<PathBuf> {
        vec![
            PathBuf::from("/tmp/d/docker.sock"),
            PathBuf::from("/run/docker.sock"),
        ]
    }

    #[test]
    fn the_socket_or_any_directory_holding_it_is_a_mounted_socket() {
        let s = sockets();
        for source in [
            "/var/run/docker.sock",
            "/run/docker.sock",
            "/var/run",
            "/run/",
            "/",
            "/tmp/d/docker.sock",
            "/tmp",
            "/tmp/./d",
        ] {
            assert!(mounted_socket(&mount(source), &s).is_some(), "{source}");
        }
        for source in [
            "/run/docker",
            "/run/docker.sock.bak",
            "/tmp/d2",
            "/srv",
            "docker.sock",
            "run",
        ] {
            assert!(mounted_socket(&mount(source), &s).is_none(), "{source}");
        }
    }

    fn container(name: &str, privileged: bool, mounts: &[&str]) -> Container {
        Container {
            id: format!("{:0<64}", name.len()),
            name: name.to_string(),
            privileged,
            mounts: mounts.iter().map(|m| mount(m)).collect(),
        }
    }

    #[test]
    fn each_container_gets_one_outcome_per_rule_and_the_mount_is_critical() {
        let target = Target::Socket(PathBuf::from("/tmp/d/docker.sock"));
        let out = judge_by_name(
            &[
                container("web", false, &["/srv/www"]),
                container("ci", true, &["/var/run"]),
            ],
            &sockets(),
            &target,
        );
        let mounted: Vec<&Outcome> = out
            .iter()
            .filter(|o| o.id() == rules::SOCKET_MOUNTED.id)
            .collect();
        let privileged: Vec<&Outcome> = out
            .iter()
            .filter(|o| o.id() == rules::PRIVILEGED.id)
            .collect();
        assert_eq!((mounted.len(), privileged.len()), (2, 2));
        assert!(matches!(mounted[0], Outcome::Pass { .. }));
        let f = mounted[1].finding().expect("ci mounts /var/run");
        assert_eq!(f.severity, Severity::Critical);
        assert!(
            f.evidence.starts_with(
                "container ci (200000000000) mounts /var/run (holding /run/docker.sock)"
            ),
            "{}",
            f.evidence
        );
        assert_eq!(
            privileged[1].finding().map(|f| f.severity),
            Some(Severity::Info)
        );
        assert!(privileged[0].finding().is_none());
    }

    #[test]
    fn no_running_container_passes_both_rules() {
        let out = judge_by_name(&[], &sockets(), &Target::Socket(PathBuf::from("/s")));
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|o| matches!(o, Outcome::Pass { .. })));
    }

    #[test]
    fn a_long_name_is_cut_in_evidence() {
        let c = container(&"n".repeat(500), false, &[]);
        assert!(describe(&c).len() < 100);
    }

    fn outcomes_for(host: &dyn crate::audit::Host, daemon: Option<DaemonAccess>) -> Vec<Outcome> {
        let empty = tempfile::tempdir().unwrap();
        let tree = crate::audit::TreeHost::tree(empty.path()).unwrap();
        let config = crate::audit::config::effective_config(&tree, None).unwrap();
        let mut request = crate::audit::AuditRequest::new(time::OffsetDateTime::now_utc());
        request.daemon = daemon;
        run(&Context {
            host,
            config: &config,
            request: &request,
            daemon_info: None,
        })
    }

    fn reasons(out: &[Outcome]) -> Vec<String> {
        out.iter()
            .map(|o| match o {
                Outcome::NotApplicable { reason, .. } => reason.clone(),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn without_a_live_host_and_a_reachable_daemon_both_rules_say_why_not() {
        let dir = tempfile::tempdir().unwrap();
        let tree = crate::audit::TreeHost::tree(dir.path()).unwrap();
        let socket = Some(DaemonAccess::Socket(dir.path().join("docker.sock")));
        let got = reasons(&outcomes_for(&tree, socket.clone()));
        assert_eq!(got.len(), 2);
        assert!(got[0].contains("is a tree"), "{got:?}");
        let live = crate::audit::TreeHost::live().unwrap();
        let got = reasons(&outcomes_for(&live, None));
        assert!(got[0].starts_with("no daemon to ask"), "{got:?}");
        let got = reasons(&outcomes_for(&live, socket));
        assert!(
            got[1].contains("could not be asked about its containers: cannot connect to unix://"),
            "{got:?}"
        );
    }
}
