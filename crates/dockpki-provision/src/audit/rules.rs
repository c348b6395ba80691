//! Every rule of the audit: its stable id, title, CIS Docker Benchmark number and why it
//! matters. The ids are a contract (scripts filter on them, docs/audit.md lists them): a rule
//! may be added, never renumbered or renamed.
//!
//! The checks themselves live in [`super::checks`], one module per group; [`run_all`] runs
//! them in the order of [`RULES`].

use super::checks;
use super::config::EffectiveConfig;
use super::host::Host;
use super::{AuditRequest, DaemonInfo, Outcome};

/// A rule of the audit.
#[derive(Debug, PartialEq, Eq)]
pub struct Rule {
    /// Stable id (`listen.tcp-without-tls`).
    pub id: &'static str,
    /// One line: what the rule asks for.
    pub title: &'static str,
    /// The CIS Docker Benchmark item (docker-bench-security's numbering), if one matches.
    pub cis: Option<&'static str>,
    /// Why it matters, in a sentence or two (for docs and `--json`).
    pub rationale: &'static str,
}

macro_rules! rules {
    ($( $name:ident = $id:literal, $cis:expr, $title:literal, $why:literal; )*) => {
        $(
            #[doc = concat!("`", $id, "`: ", $title)]
            pub static $name: Rule = Rule { id: $id, title: $title, cis: $cis, rationale: $why };
        )*
        /// Every rule, in the order the audit runs and reports them.
        pub static RULES: &[&Rule] = &[$(&$name),*];
    };
}

rules! {
    // The daemon's listeners: the hardening guide's first table.
    TCP_WITHOUT_TLS = "listen.tcp-without-tls", Some("2.7"),
        "dockerd does not listen on TCP without TLS",
        "Anyone who reaches a plain TCP listener controls the daemon, and so is root on the host.";
    TLS_WITHOUT_VERIFY = "listen.tls-without-verify", Some("2.7"),
        "dockerd listening on TCP verifies its clients (tlsverify)",
        "With tls but not tlsverify, the connection is encrypted but any client is accepted: \
         anyone who reaches the port is root on the host.";
    PLAIN_PORT = "listen.port-2375", None,
        "dockerd does not listen on port 2375",
        "2375 is the port of the unauthenticated API: scanners hunt it, and clients given \
         tcp://host:2375 skip TLS.";
    ALL_INTERFACES = "listen.all-interfaces", None,
        "dockerd's TCP listener is bound to the addresses clients use, not to every interface",
        "0.0.0.0 and :: expose the API on every network the host joins, including ones added \
         later; mutual TLS still guards it.";
    CONFIG_CONFLICT = "config.flag-and-file", None,
        "no option is set both on dockerd's command line and in daemon.json",
        "dockerd refuses to start when an option is given both ways: the next restart leaves \
         the host without a daemon.";
    CONFIG_INVALID = "config.daemon-json-invalid", None,
        "daemon.json is a readable JSON object",
        "dockerd refuses to start with a daemon.json it cannot parse.";
    CONFIG_UNEXPANDED = "config.unexpanded-variables", None,
        "dockerd's command line holds no variables the audit cannot see",
        "Options in $DOCKER_OPTS (an EnvironmentFile) are set at start and not audited.";
    // The TLS files dockerd is configured with (what `dockpki verify` checks of a layout).
    TLS_FILES = "tls.files", Some("2.7"),
        "the TLS files exist, chain to the CA and match their key",
        "dockerd refuses to start with TLS files that are missing or do not match, and clients \
         refuse a certificate that does not chain to their CA.";
    TLS_EXPIRY = "tls.expiry", None,
        "the server certificate and the CA are neither expired nor due for renewal",
        "An expired certificate is refused by every client: the daemon is unreachable.";
    TLS_SANS = "tls.san-coverage", None,
        "the server certificate names every host name and address of the host",
        "A client connecting by a name or address the certificate lacks refuses the daemon.";
    // The unix socket and who may use it.
    SOCKET_OWNER = "socket.owner", Some("3.15"),
        "the Docker socket is owned by root:docker",
        "Whoever owns the socket, or is in its group, controls the daemon.";
    SOCKET_MODE = "socket.mode", Some("3.16"),
        "the Docker socket's permissions are 660 or stricter",
        "A socket others may write to gives every local user root.";
    DOCKER_GROUP = "socket.docker-group", None,
        "few people, and no service accounts, are in the docker group",
        "Every member of the docker group is root-equivalent; a service account there gives \
         root to whatever compromises that service.";
    // How the daemon runs.
    ROOT_DAEMON = "daemon.root", Some("2.1"),
        "the daemon runs rootless, if possible",
        "A rootless daemon and its containers cannot do more than the user running it.";
    USERNS_REMAP = "daemon.userns-remap", Some("2.9"),
        "user namespace remapping is enabled",
        "Without it, root in a container is root on the host once it escapes.";
    ICC = "daemon.icc", Some("2.2"),
        "traffic between containers on the default bridge is restricted (icc false)",
        "Containers on the default bridge can otherwise reach each other's every port.";
    NO_NEW_PRIVILEGES = "daemon.no-new-privileges", Some("2.14"),
        "containers are restricted from acquiring new privileges",
        "Without no-new-privileges, setuid binaries in a container can raise its privileges.";
    LIVE_RESTORE = "daemon.live-restore", Some("2.15"),
        "live restore is enabled",
        "Containers keep running while the daemon restarts (for a certificate rotation, say).";
    LOG_ROTATION = "daemon.log-rotation", None,
        "container logs are rotated (max-size, or the local driver)",
        "json-file logs without max-size grow until the disk is full.";
    // Files of the daemon's configuration (CIS section 3).
    DOCKER_SERVICE_OWNER = "files.docker-service-owner", Some("3.1"),
        "the docker.service file is owned by root:root",
        "Whoever can change the unit chooses how dockerd runs, as root.";
    DOCKER_SERVICE_MODE = "files.docker-service-mode", Some("3.2"),
        "the docker.service file's permissions are 644 or stricter",
        "A unit others may write to lets them choose how dockerd runs, as root.";
    DOCKER_SOCKET_UNIT_OWNER = "files.docker-socket-unit-owner", Some("3.3"),
        "the docker.socket file is owned by root:root",
        "Whoever can change the socket unit chooses who may reach the daemon.";
    DOCKER_SOCKET_UNIT_MODE = "files.docker-socket-unit-mode", Some("3.4"),
        "the docker.socket file's permissions are 644 or stricter",
        "A socket unit others may write to lets them choose who may reach the daemon.";
    ETC_DOCKER_OWNER = "files.etc-docker-owner", Some("3.5"),
        "/etc/docker is owned by root:root",
        "/etc/docker holds daemon.json and often the TLS keys.";
    ETC_DOCKER_MODE = "files.etc-docker-mode", Some("3.6"),
        "/etc/docker's permissions are 755 or stricter",
        "Others able to write there can replace daemon.json or the TLS files.";
    TLS_CA_OWNER = "files.tls-ca-owner", Some("3.9"),
        "the TLS CA certificate is owned by root:root",
        "Whoever can replace the CA certificate chooses which clients the daemon trusts.";
    TLS_CA_MODE = "files.tls-ca-mode", Some("3.10"),
        "the TLS CA certificate's permissions are 444 or stricter",
        "Others able to write it choose which clients the daemon trusts.";
    TLS_CERT_OWNER = "files.tls-cert-owner", Some("3.11"),
        "the server certificate is owned by root:root",
        "Whoever can replace the server certificate can make the daemon fail to start.";
    TLS_CERT_MODE = "files.tls-cert-mode", Some("3.12"),
        "the server certificate's permissions are 444 or stricter",
        "Others able to write it can make the daemon fail to start.";
    TLS_KEY_OWNER = "files.tls-key-owner", Some("3.13"),
        "the server key is owned by root:root",
        "Whoever owns the server key can impersonate the daemon to its clients.";
    TLS_KEY_MODE = "files.tls-key-mode", Some("3.14"),
        "the server key's permissions are 400",
        "A server key others can read lets them impersonate the daemon to its clients.";
    DAEMON_JSON_OWNER = "files.daemon-json-owner", Some("3.17"),
        "daemon.json is owned by root:root",
        "Whoever can change daemon.json chooses how dockerd runs, as root.";
    DAEMON_JSON_MODE = "files.daemon-json-mode", Some("3.18"),
        "daemon.json's permissions are 644 or stricter",
        "Others able to write daemon.json choose how dockerd runs, as root.";
    DEFAULT_DOCKER_OWNER = "files.etc-default-docker-owner", Some("3.19"),
        "/etc/default/docker is owned by root:root",
        "It sets dockerd's options on hosts that read it.";
    DEFAULT_DOCKER_MODE = "files.etc-default-docker-mode", Some("3.20"),
        "/etc/default/docker's permissions are 644 or stricter",
        "Others able to write it set dockerd's options.";
    // What a running daemon says of its containers.
    SOCKET_MOUNTED = "containers.docker-socket-mounted", None,
        "no container has the Docker socket (or its directory) mounted",
        "A container holding the socket controls the daemon: it is root on the host.";
    PRIVILEGED = "containers.privileged", None,
        "containers are not privileged",
        "A privileged container has every capability and device of the host.";
}

/// The rule with `id`.
pub fn by_id(id: &str) -> Option<&'static Rule> {
    RULES.iter().copied().find(|r| r.id == id)
}

/// What every check is given.
pub struct Context<'a> {
    /// The host.
    pub host: &'a dyn Host,
    /// The daemon's effective configuration.
    pub config: &'a EffectiveConfig,
    /// The request (time, daemon access, limits).
    pub request: &'a AuditRequest,
    /// What the daemon said of itself, when it was asked and answered.
    pub daemon_info: Option<&'a DaemonInfo>,
}

/// Runs every check and returns the outcomes in the order of [`RULES`].
pub fn run_all(
    host: &dyn Host,
    config: &EffectiveConfig,
    request: &AuditRequest,
    daemon_info: Option<&DaemonInfo>,
) -> Vec<Outcome> {
    let cx = Context {
        host,
        config,
        request,
        daemon_info,
    };
    let mut outcomes = Vec::new();
    outcomes.extend(checks::listen::run(&cx));
    outcomes.extend(checks::tls::run(&cx));
    outcomes.extend(checks::socket::run(&cx));
    outcomes.extend(checks::daemon::run(&cx));
    outcomes.extend(checks::files::run(&cx));
    outcomes.extend(checks::containers::run(&cx));
    let position = |id: &str| RULES.iter().position(|r| r.id == id).unwrap_or(usize::MAX);
    // Stable: a rule's several outcomes (one per file, per container) keep their order.
    outcomes.sort_by_key(|o| position(o.id()));
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_unique_and_dotted_kebab_case() {
        let mut seen = std::collections::BTreeSet::new();
        for rule in RULES {
            assert!(seen.insert(rule.id), "{} twice", rule.id);
            let (group, name) = rule.id.split_once('.').expect("group.name");
            for part in [group, name] {
                assert!(
                    !part.is_empty()
                        && part
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                    "{}",
                    rule.id
                );
            }
        }
    }
}
