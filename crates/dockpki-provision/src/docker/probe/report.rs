//! What a successful probe found: the connection, the served certificate, whether it is the
//! one installed, and what the daemon answered.

use crate::health::Health;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::fs::reader::{self, Limit, Links};
use crate::store::inventory::Status;

/// The served certificate, as far as a probe reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Served {
    /// Its subject.
    pub subject: String,
    /// Its issuer.
    pub issuer: String,
    /// Its DNS names and IP addresses.
    pub sans: Vec<String>,
    /// Its serial number, hex.
    pub serial: String,
    /// The end of its validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: time::OffsetDateTime,
    /// Its SHA-256 fingerprint.
    pub sha256: String,
}

impl From<&dockpki::CertInfo> for Served {
    fn from(info: &dockpki::CertInfo) -> Self {
        Served {
            subject: info.subject.clone(),
            issuer: info.issuer.clone(),
            sans: info.san_strings(),
            serial: info.serial.clone(),
            not_after: info.not_after,
            sha256: info.sha256_fingerprint.clone(),
        }
    }
}

/// Whether the served certificate is the one installed for the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Installed {
    /// It is the certificate file of a daemon layout in the inventory.
    Yes,
    /// The inventory knows it, but a daemon layout now holds another one: dockerd was not
    /// restarted after a renewal or rotation (it reads certificates only at start).
    Drift,
    /// Not a certificate of this state's inventory (no state, or another CA's daemon).
    Unknown,
}

/// Something wrong that the probe found although the daemon answered.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The daemon serves a certificate its layouts no longer hold ([`Installed::Drift`]).
    NotRestarted {
        /// The daemon layouts meant to hold the served certificate.
        daemon_dirs: Vec<PathBuf>,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // A remote host's certificate (`dockpki sign`) has no layout on this machine.
            Problem::NotRestarted { daemon_dirs } if daemon_dirs.is_empty() => write!(
                f,
                "served certificate is not the current one: a newer one was signed for this daemon; deliver it, install it and restart dockerd (it reads certificates only at start)"
            ),
            Problem::NotRestarted { daemon_dirs } => write!(
                f,
                "served certificate is not the installed one: restart dockerd using {} (it reads certificates only at start)",
                join(daemon_dirs)
            ),
        }
    }
}

/// What a probe found. Everything but `address`, `installed` and `daemon_dirs` was sent by the
/// daemon (or is in its certificate): escape it before showing it as text.
#[derive(Clone, Debug)]
pub struct ProbeReport {
    /// The daemon address probed, `tcp://HOST:PORT`.
    pub host: String,
    /// The address connected to.
    pub address: SocketAddr,
    /// The negotiated protocol version, e.g. `TLS 1.3`.
    pub tls_version: String,
    /// The negotiated cipher suite, e.g. `TLS13_AES_128_GCM_SHA256`.
    pub cipher_suite: String,
    /// The served certificate.
    pub certificate: Served,
    /// Whether it is the one installed.
    pub installed: Installed,
    /// Daemon layouts holding (or, on drift, meant to hold) the served certificate.
    pub daemon_dirs: Vec<PathBuf>,
    /// The answer to `GET /_ping` (`OK`).
    pub ping: String,
    /// The answer to `GET /version`.
    pub server: Value,
    /// What is wrong although the daemon answered, if anything.
    pub problem: Option<Problem>,
}

impl ProbeReport {
    /// Whether the daemon answered and nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }

    /// [`Health::Good`], or [`Health::ChangesPending`] for a daemon still serving a certificate
    /// its layout no longer holds: nothing is broken until a restart, which is the change due.
    pub fn health(&self) -> Health {
        match self.problem {
            None => Health::Good,
            Some(Problem::NotRestarted { .. }) => Health::ChangesPending,
        }
    }
}

impl Serialize for ProbeReport {
    /// `{"ok", "host", "address", "tls_version", "cipher_suite", "certificate", "installed",
    /// "daemon_dirs", "ping", "server", "problem"}`, `problem` only when there is one.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Json<'a> {
            ok: bool,
            host: &'a str,
            address: SocketAddr,
            tls_version: &'a str,
            cipher_suite: &'a str,
            certificate: &'a Served,
            installed: Installed,
            daemon_dirs: &'a [PathBuf],
            ping: &'a str,
            server: &'a Value,
            #[serde(skip_serializing_if = "Option::is_none")]
            problem: Option<String>,
        }
        Json {
            ok: self.is_ok(),
            host: &self.host,
            address: self.address,
            tls_version: &self.tls_version,
            cipher_suite: &self.cipher_suite,
            certificate: &self.certificate,
            installed: self.installed,
            daemon_dirs: &self.daemon_dirs,
            ping: &self.ping,
            server: &self.server,
            problem: self.problem.as_ref().map(Problem::to_string),
        }
        .serialize(serializer)
    }
}

/// Directories for one line of text: `A, B`.
pub fn join(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Compares the served certificate with the daemon layouts of the inventory in `state_dir`
/// (read-only, without the lock: a probe changes nothing). Without a state (a client-only
/// machine) or a readable inventory there is nothing to compare with, which is not an error.
pub(crate) fn installed(
    state_dir: Option<&Path>,
    served: dockpki::Fingerprint,
) -> (Installed, Vec<PathBuf>) {
    // The inventory file and, once it is large, its delta (a daemon certificate issued since
    // the file was last written whole is only there).
    let Some(inventory) = state_dir.and_then(|d| crate::store::state::inventory_in(d).ok()) else {
        return (Installed::Unknown, Vec::new());
    };
    let servers = || {
        inventory
            .certificates
            .iter()
            .filter(|r| r.kind == dockpki::Usage::Server)
    };
    let holding: Vec<PathBuf> = servers()
        .filter(|r| r.status == Status::Active)
        .flat_map(|r| r.installed.iter())
        .filter(|dir| installed_fingerprint(dir) == Some(served))
        .cloned()
        .collect();
    if !holding.is_empty() {
        return (Installed::Yes, holding);
    }
    match servers().find(|r| served.matches(&r.sha256)) {
        // The active certificate signed for a remote host (`dockpki sign`): it is installed on
        // that host, which this machine cannot look into, so there is nothing to compare with.
        Some(r) if r.status == Status::Active && r.remote.is_some() => {
            (Installed::Unknown, Vec::new())
        }
        Some(r) => (Installed::Drift, r.installed.clone()),
        None => (Installed::Unknown, Vec::new()),
    }
}

/// The fingerprint of the certificate a daemon layout holds.
fn installed_fingerprint(dir: &Path) -> Option<dockpki::Fingerprint> {
    let pem = reader::read(&dir.join("server-cert.pem"), Links::Follow, Limit::Pem).ok()?;
    let der = dockpki::certs_from_pem(&pem).ok()?.into_iter().next()?;
    Some(dockpki::inspect(&der).ok()?.fingerprint())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(problem: Option<Problem>) -> ProbeReport {
        ProbeReport {
            host: "tcp://127.0.0.1:2376".into(),
            address: "127.0.0.1:2376".parse().unwrap(),
            tls_version: "TLS 1.3".into(),
            cipher_suite: "TLS13_AES_128_GCM_SHA256".into(),
            certificate: Served {
                subject: "CN=localhost".into(),
                issuer: "O=dockpki".into(),
                sans: vec!["127.0.0.1".into()],
                serial: "01".into(),
                not_after: time::OffsetDateTime::UNIX_EPOCH,
                sha256: "AA:BB".into(),
            },
            installed: Installed::Drift,
            daemon_dirs: vec!["/etc/docker/pki".into(), "/srv/pki".into()],
            ping: "OK".into(),
            server: serde_json::json!({"Version": "26.1.0"}),
            problem,
        }
    }

    #[test]
    fn the_json_has_ok_first_and_the_problem_only_when_there_is_one() {
        let fine = serde_json::to_value(report(None)).unwrap();
        let keys: Vec<&String> = fine.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "ok",
                "host",
                "address",
                "tls_version",
                "cipher_suite",
                "certificate",
                "installed",
                "daemon_dirs",
                "ping",
                "server"
            ]
        );
        assert_eq!(fine["ok"], true);
        assert_eq!(fine["certificate"]["not_after"], "1970-01-01T00:00:00Z");
        let drift = report(Some(Problem::NotRestarted {
            daemon_dirs: vec!["/etc/docker/pki".into(), "/srv/pki".into()],
        }));
        assert!(!drift.is_ok());
        let drift = serde_json::to_value(drift).unwrap();
        assert_eq!(drift["ok"], false);
        assert_eq!(drift["installed"], "drift");
        assert_eq!(
            drift["problem"],
            "served certificate is not the installed one: restart dockerd using /etc/docker/pki, /srv/pki (it reads certificates only at start)"
        );
    }

    #[test]
    fn a_remote_hosts_current_certificate_is_unknown_and_its_superseded_one_drift_with_advice() {
        use crate::fs::{Existing, WritePlan};
        use crate::store::inventory::{Inventory, Record, RemoteInfo, FORMAT_VERSION};
        use crate::store::state::{Create, Settings, State};
        use dockpki::{
            CaOptions, CertificateAuthority, KeyType, PrivateKey, SanList, ServerRequest, Usage,
        };

        let d = tempfile::tempdir().unwrap();
        let state = State::open(
            d.path().join("state"),
            Create::IfMissing,
            Settings::default(),
        )
        .unwrap();
        let now = time::OffsetDateTime::now_utc();
        let ca = CertificateAuthority::create(&CaOptions::new(now).unwrap(), now).unwrap();
        let request = ServerRequest {
            sans: SanList::parse(["web1.example.com"]).unwrap(),
            common_name: None,
            lifetime: "30d".parse().unwrap(),
        };
        let issue = || {
            let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
            ca.issue_server(&request, key, now).unwrap().info
        };
        let (old, new) = (issue(), issue());
        // Both signed for host web1 (`dockpki sign`): no layout on this machine.
        let remote = |info: &dockpki::CertInfo| Record {
            remote: Some(RemoteInfo {
                host: "web1".into(),
                csr_pem: String::new(),
                out: d.path().join("signed/web1"),
            }),
            ..Record::new(
                info,
                Usage::Server,
                &ca.info().sha256_fingerprint,
                Vec::new(),
            )
        };
        let superseded = Record {
            status: Status::Superseded,
            ..remote(&old)
        };
        let inventory = Inventory {
            version: FORMAT_VERSION,
            certificates: vec![superseded, remote(&new)],
            contexts: Vec::new(),
        };
        let mut plan = WritePlan::new(Existing::Refuse);
        state.plan_inventory(&mut plan, &inventory).unwrap();
        state.commit(state.feed_contexts(plan).unwrap()).unwrap();

        // The current one is installed on web1, where this machine cannot look: no problem.
        assert_eq!(
            installed(Some(state.dir()), new.fingerprint()),
            (Installed::Unknown, Vec::new())
        );
        // The one it replaced: web1's dockerd was not given (or not restarted with) the new one.
        assert_eq!(
            installed(Some(state.dir()), old.fingerprint()),
            (Installed::Drift, Vec::new())
        );
        assert_eq!(
            Problem::NotRestarted {
                daemon_dirs: Vec::new()
            }
            .to_string(),
            "served certificate is not the current one: a newer one was signed for this daemon; deliver it, install it and restart dockerd (it reads certificates only at start)"
        );
    }

    #[test]
    fn without_a_state_the_certificate_is_unknown() {
        let d = tempfile::tempdir().unwrap();
        let any: dockpki::Fingerprint = "AA".repeat(32).parse().unwrap();
        assert_eq!(installed(None, any), (Installed::Unknown, Vec::new()));
        assert_eq!(
            installed(Some(d.path()), any),
            (Installed::Unknown, Vec::new())
        );
    }
}
