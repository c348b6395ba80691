//! The whole job for one daemon and one client: the CA if there is none, the daemon's layout,
//! the client's layout, and what to configure next.

use std::path::{Path, PathBuf};

use dockpki::{
    CaOptions, CertInfo, CertificateAuthority, ClientRequest, KeyType, OffsetDateTime,
    ServerRequest, SubjectAltName,
};
use serde_json::{json, Value};

use crate::docker::context::ContextFed;
use crate::error::{Advice, Error, Result};
use crate::fs::{Existing, WritePlan, Written};
use crate::layout::Layout;
use crate::store::inventory::Record;
use crate::store::{KeyProtection, State};

/// A request to set up TLS for one daemon and one client.
#[derive(Clone, Debug)]
pub struct BootstrapRequest {
    /// The daemon's certificate: the names and addresses clients dial (the first DNS name, else
    /// the first address, becomes `DOCKER_HOST`), and its lifetime.
    pub server: ServerRequest,
    /// The client's certificate.
    pub client: ClientRequest,
    /// The key type of both leaves, and of the CA when one is created.
    pub key_type: KeyType,
    /// Where the daemon's layout goes (`ca.pem`, `server-cert.pem`, `server-key.pem`).
    pub daemon_dir: PathBuf,
    /// Where the client's layout goes (`ca.pem`, `cert.pem`, `key.pem`), owned as the state's
    /// [`OwnerPolicy`](crate::fs::OwnerPolicy) says.
    pub client_dir: PathBuf,
    /// The TCP port dockerd listens on, for the configuration suggested next.
    pub port: u16,
    /// Whether existing layout files may be replaced (kept as timestamped backups).
    pub existing: Existing,
}

/// Where the CA that signed both leaves came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaSource {
    /// The state had none: it was created (key stored unencrypted, like `ca init` without
    /// encryption).
    Created,
    /// The state's CA (the new one during a rotation) signed them.
    Reused,
}

/// What to configure once the files are in place.
#[derive(Clone, Debug)]
pub struct NextSteps {
    /// The keys to put in dockerd's `daemon.json`: TLS verification with the daemon layout's
    /// files, and the local socket plus [`NextSteps::listen`] as hosts.
    pub daemon_json: Value,
    /// The TCP address dockerd listens on, `tcp://0.0.0.0:PORT`.
    pub listen: String,
    /// The environment the docker CLI needs (`DOCKER_HOST`, `DOCKER_TLS_VERIFY`,
    /// `DOCKER_CERT_PATH`), in that order.
    pub client_env: Vec<(&'static str, String)>,
}

impl NextSteps {
    fn new(daemon: &Layout, client: &Layout, server: &ServerRequest, port: u16) -> NextSteps {
        let p = |path: &Path| path.display().to_string();
        let listen = format!("tcp://0.0.0.0:{port}");
        let daemon_json = json!({
            "tlsverify": true,
            "tlscacert": p(&daemon.ca_path()),
            "tlscert": p(&daemon.cert_path()),
            "tlskey": p(&daemon.key_path()),
            "hosts": ["unix:///var/run/docker.sock", listen],
        });
        let host = match server.sans.primary() {
            SubjectAltName::Ip(std::net::IpAddr::V6(v6)) => format!("[{v6}]"),
            other => other.to_string(),
        };
        NextSteps {
            daemon_json,
            listen,
            client_env: vec![
                ("DOCKER_HOST", format!("tcp://{host}:{port}")),
                ("DOCKER_TLS_VERIFY", "1".to_string()),
                ("DOCKER_CERT_PATH", p(&client.dir)),
            ],
        }
    }
}

/// What [`bootstrap`] did.
#[derive(Debug)]
pub struct Bootstrapped {
    /// What the CA certificate says.
    pub ca: CertInfo,
    /// Whether the CA was created or reused.
    pub ca_source: CaSource,
    /// The daemon's layout.
    pub daemon: Layout,
    /// What the daemon's certificate says.
    pub server: CertInfo,
    /// The client's layout.
    pub client: Layout,
    /// What the client's certificate says.
    pub client_certificate: CertInfo,
    /// Every file written (the CA's when created, both layouts, the inventory), with backups.
    pub written: Vec<Written>,
    /// The docker contexts dockpki made that copy the client layout, whose copies were
    /// rewritten with it (a bootstrap into a layout a context was made from before).
    pub contexts_fed: Vec<ContextFed>,
    /// What to configure next.
    pub next: NextSteps,
}

impl Bootstrapped {
    /// The daemon layout whose dockerd must be (re)started to serve the new certificate:
    /// dockerd reads its certificates once, at start.
    pub fn daemon_to_restart(&self) -> &Path {
        &self.daemon.dir
    }
}

/// Refuses, unless `request.existing` allows replacing them, when any file of either layout
/// exists. [`bootstrap`] refuses such files as it writes; call this first when the state
/// directory does not exist yet, so that a refusal comes before the directory is created and
/// before any key is generated.
///
/// # Errors
/// With [`Advice::Force`], naming the first existing file; as [`refuse_mixed_layouts`]
/// whatever `request.existing` allows.
pub fn refuse_existing_layout_files(request: &BootstrapRequest) -> Result<()> {
    refuse_mixed_layouts(request)?;
    if request.existing == Existing::ReplaceKeepingBackup {
        return Ok(());
    }
    for layout in [
        Layout::daemon(request.daemon_dir.clone()),
        Layout::client(request.client_dir.clone()),
    ] {
        for path in [layout.cert_path(), layout.key_path(), layout.ca_path()] {
            if path.symlink_metadata().is_ok() {
                return Err(Error::advised(
                    format!("{} already exists", path.display()),
                    Advice::Force,
                ));
            }
        }
    }
    Ok(())
}

/// Refuses a daemon directory that holds only a client layout, or a client directory that
/// holds only a daemon layout (see [`Layout::refuse_other_kind`]): `--force` consents to
/// replacing files, not to putting a server key into a client's directory.
///
/// # Errors
/// With [`Advice::ClientLayoutGiven`] or [`Advice::DaemonLayoutGiven`] about the directory.
pub fn refuse_mixed_layouts(request: &BootstrapRequest) -> Result<()> {
    Layout::daemon(request.daemon_dir.clone()).refuse_other_kind()?;
    Layout::client(request.client_dir.clone()).refuse_other_kind()
}

/// Sets up mutual TLS for one daemon and one client in one journaled update: creates the CA
/// when the state has none, issues the daemon's and the client's certificates with fresh keys,
/// installs both layouts (keys 0400, certificates 0444; the client's owned as the state's
/// [`OwnerPolicy`](crate::fs::OwnerPolicy) says), and records both in the inventory. Returns
/// what was made and the configuration to apply next.
///
/// # Errors
/// When the state's CA cannot be loaded, a certificate is refused by the CA (name constraints,
/// a lifetime beyond the CA's), or the files cannot be written (an existing file without
/// [`Existing::ReplaceKeepingBackup`], an untrusted directory), or a directory holds the
/// other kind of layout ([`refuse_mixed_layouts`]); nothing is written then.
///
/// # Examples
/// ```
/// use dockpki::{ClientRequest, KeyType, OffsetDateTime, SanList, ServerRequest};
/// use dockpki_provision::fs::Existing;
/// use dockpki_provision::ops::{bootstrap, BootstrapRequest, CaSource};
/// use dockpki_provision::store::{Create, Settings, State};
/// # let root = tempfile::tempdir()?;
/// let state = State::open(root.path().join("state"), Create::IfMissing, Settings::default())?;
/// let done = bootstrap(
///     &state,
///     &BootstrapRequest {
///         server: ServerRequest {
///             sans: SanList::new(vec!["docker.example.com".parse()?])?,
///             common_name: None,
///             lifetime: "1y".parse()?,
///         },
///         client: ClientRequest {
///             common_name: "alice".parse()?,
///             lifetime: "90d".parse()?,
///         },
///         key_type: KeyType::EcdsaP256,
///         daemon_dir: root.path().join("pki"),
///         client_dir: root.path().join("alice/.docker"),
///         port: 2376,
///         existing: Existing::Refuse,
///     },
///     OffsetDateTime::now_utc(),
/// )?;
/// assert_eq!(done.ca_source, CaSource::Created);
/// assert!(root.path().join("pki/server-key.pem").exists());
/// assert!(root.path().join("alice/.docker/key.pem").exists());
/// assert_eq!(done.next.client_env[0], ("DOCKER_HOST", "tcp://docker.example.com:2376".into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn bootstrap(
    state: &State,
    request: &BootstrapRequest,
    now: OffsetDateTime,
) -> Result<Bootstrapped> {
    refuse_mixed_layouts(request)?;
    let existing_ca = if state.has_ca() {
        Some(state.load_ca()?)
    } else {
        None
    };
    let mut inventory = state.load_inventory()?;
    // One call for every key: slow key types are generated in parallel.
    let wanted = if existing_ca.is_some() { 2 } else { 3 };
    let mut keys = crate::report::generate_keys(
        state.settings().report.as_ref(),
        &vec![request.key_type; wanted],
    )?;
    let mut next_key = || {
        keys.pop()
            .ok_or_else(|| Error::new("key generation returned too few keys"))
    };
    let (ca, ca_source) = match existing_ca {
        Some(ca) => (ca, CaSource::Reused),
        None => {
            let mut options = CaOptions::new(now)?;
            options.key_type = request.key_type;
            (
                CertificateAuthority::create_with_key(&options, next_key()?, now)?,
                CaSource::Created,
            )
        }
    };
    let client_key = next_key()?;
    let server_key = next_key()?;
    let server = ca.issue_server(&request.server, server_key, now)?;
    let client_cert = ca.issue_client(&request.client, client_key, now)?;

    let daemon = Layout::daemon(request.daemon_dir.clone());
    let client = Layout::client(request.client_dir.clone());
    let mut plan = WritePlan::new(request.existing);
    if ca_source == CaSource::Created {
        state.plan_ca(&mut plan, &ca, KeyProtection::Plain)?;
    }
    let bundle = state.trust_bundle_pem(&ca)?;
    daemon.plan(&mut plan, &bundle, &server, None);
    client.plan(
        &mut plan,
        &bundle,
        &client_cert,
        state.settings().owners.owner_for(&client.dir),
    );
    let ca_fp = &ca.info().sha256_fingerprint;
    inventory.add(Record::new(
        &server.info,
        server.usage,
        ca_fp,
        vec![daemon.dir.clone()],
    ));
    inventory.add(Record::new(
        &client_cert.info,
        client_cert.usage,
        ca_fp,
        vec![client.dir.clone()],
    ));
    state.plan_inventory(&mut plan, &inventory)?;
    let plan = state.feed_contexts(plan)?;
    let contexts_fed = plan.contexts().to_vec();
    let written = state.commit(plan)?;

    let next = NextSteps::new(&daemon, &client, &request.server, request.port);
    Ok(Bootstrapped {
        ca: ca.info().clone(),
        ca_source,
        daemon,
        server: server.info.clone(),
        client,
        client_certificate: client_cert.info.clone(),
        written,
        contexts_fed,
        next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::inventory::Status;
    use crate::store::{Create, Settings};
    use dockpki::{SanList, Usage};
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn request(root: &Path, sans: &[&str], existing: Existing) -> BootstrapRequest {
        BootstrapRequest {
            server: ServerRequest {
                sans: SanList::new(sans.iter().map(|s| s.parse::<SubjectAltName>().unwrap()))
                    .unwrap(),
                common_name: None,
                lifetime: "1y".parse().unwrap(),
            },
            client: ClientRequest {
                common_name: "alice".parse().unwrap(),
                lifetime: "90d".parse().unwrap(),
            },
            key_type: KeyType::EcdsaP256,
            daemon_dir: root.join("pki"),
            client_dir: root.join("client"),
            port: 2376,
            existing,
        }
    }

    fn open(root: &Path, settings: Settings) -> State {
        State::open(root.join("state"), Create::IfMissing, settings).unwrap()
    }

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    #[test]
    fn bootstrap_writes_both_layouts_with_0400_keys_and_0444_certs_and_records_them() {
        let root = tempfile::tempdir().unwrap();
        let state = open(root.path(), Settings::default());
        let r = request(root.path(), &["docker.example.com"], Existing::Refuse);
        let done = bootstrap(&state, &r, OffsetDateTime::now_utc()).unwrap();
        assert_eq!(done.ca_source, CaSource::Created);
        assert!(state.has_ca());
        for layout in [&done.daemon, &done.client] {
            assert_eq!(mode(&layout.key_path()), 0o400, "{}", layout.label());
            assert_eq!(mode(&layout.cert_path()), 0o444, "{}", layout.label());
            assert_eq!(mode(&layout.ca_path()), 0o444, "{}", layout.label());
            assert_eq!(
                std::fs::read_to_string(layout.ca_path()).unwrap(),
                state.load_ca().unwrap().cert_pem()
            );
            for path in [layout.key_path(), layout.cert_path(), layout.ca_path()] {
                assert!(done.written.iter().any(|w| w.path == path), "{path:?}");
            }
        }
        assert_eq!(done.daemon.usage, Usage::Server);
        assert_eq!(done.server.san_strings(), vec!["docker.example.com"]);
        assert_eq!(
            done.client_certificate.common_name.as_deref(),
            Some("alice")
        );
        let inventory = state.load_inventory().unwrap();
        let recorded: Vec<_> = inventory
            .certificates
            .iter()
            .map(|c| (c.serial.clone(), c.kind, c.installed.clone(), c.status))
            .collect();
        assert_eq!(
            recorded,
            vec![
                (
                    done.server.serial.clone(),
                    Usage::Server,
                    vec![r.daemon_dir.clone()],
                    Status::Active
                ),
                (
                    done.client_certificate.serial.clone(),
                    Usage::Client,
                    vec![r.client_dir.clone()],
                    Status::Active
                ),
            ]
        );
        assert!(inventory
            .certificates
            .iter()
            .all(|c| c.ca_sha256 == done.ca.sha256_fingerprint));
        assert_eq!(done.daemon_to_restart(), r.daemon_dir);
    }

    #[test]
    fn the_next_steps_point_dockerd_at_the_daemon_layout_and_the_client_at_the_first_name() {
        let root = tempfile::tempdir().unwrap();
        let state = open(root.path(), Settings::default());
        let mut r = request(
            root.path(),
            &["2001:db8::1", "docker.example.com"],
            Existing::Refuse,
        );
        r.port = 12376;
        let done = bootstrap(&state, &r, OffsetDateTime::now_utc()).unwrap();
        let pki = |name: &str| r.daemon_dir.join(name).display().to_string();
        assert_eq!(
            done.next.daemon_json,
            json!({
                "tlsverify": true,
                "tlscacert": pki("ca.pem"),
                "tlscert": pki("server-cert.pem"),
                "tlskey": pki("server-key.pem"),
                "hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:12376"],
            })
        );
        assert_eq!(done.next.listen, "tcp://0.0.0.0:12376");
        assert_eq!(
            done.next.client_env,
            vec![
                ("DOCKER_HOST", "tcp://docker.example.com:12376".to_string()),
                ("DOCKER_TLS_VERIFY", "1".to_string()),
                ("DOCKER_CERT_PATH", r.client_dir.display().to_string()),
            ]
        );
        // An address alone is dialled in brackets when it is IPv6.
        let other = tempfile::tempdir().unwrap();
        let state = open(other.path(), Settings::default());
        let r = request(other.path(), &["2001:db8::1"], Existing::Refuse);
        let done = bootstrap(&state, &r, OffsetDateTime::now_utc()).unwrap();
        assert_eq!(done.next.client_env[0].1, "tcp://[2001:db8::1]:2376");
    }

    #[test]
    fn a_second_bootstrap_reuses_the_ca_and_replaces_the_layouts_only_with_consent() {
        let root = tempfile::tempdir().unwrap();
        let state = open(root.path(), Settings::default());
        let first = bootstrap(
            &state,
            &request(root.path(), &["h.example"], Existing::Refuse),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        let old_key = std::fs::read(first.daemon.key_path()).unwrap();
        let e = bootstrap(
            &state,
            &request(root.path(), &["h.example"], Existing::Refuse),
            OffsetDateTime::now_utc(),
        )
        .unwrap_err();
        assert_eq!(e.advice(), Some(Advice::Force));
        assert!(
            e.message().ends_with("server-cert.pem already exists"),
            "{e}"
        );
        assert_eq!(std::fs::read(first.daemon.key_path()).unwrap(), old_key);

        let second = bootstrap(
            &state,
            &request(root.path(), &["h.example"], Existing::ReplaceKeepingBackup),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        assert_eq!(second.ca_source, CaSource::Reused);
        assert_eq!(second.ca.sha256_fingerprint, first.ca.sha256_fingerprint);
        let key = second
            .written
            .iter()
            .find(|w| w.path == second.daemon.key_path())
            .unwrap();
        assert_eq!(
            std::fs::read(key.backup.as_ref().unwrap()).unwrap(),
            old_key
        );
        let inventory = state.load_inventory().unwrap();
        let statuses: Vec<Status> = inventory.certificates.iter().map(|c| c.status).collect();
        assert_eq!(
            statuses,
            [
                Status::Superseded,
                Status::Superseded,
                Status::Active,
                Status::Active
            ]
        );
    }

    #[test]
    fn existing_layout_files_are_refused_before_anything_without_consent() {
        let root = tempfile::tempdir().unwrap();
        let r = request(root.path(), &["h.example"], Existing::Refuse);
        refuse_existing_layout_files(&r).unwrap();
        std::fs::create_dir(&r.client_dir).unwrap();
        std::fs::write(r.client_dir.join("ca.pem"), "x").unwrap();
        let e = refuse_existing_layout_files(&r).unwrap_err();
        assert_eq!(e.advice(), Some(Advice::Force));
        assert_eq!(
            e.message(),
            format!("{} already exists", r.client_dir.join("ca.pem").display())
        );
        let forced = BootstrapRequest {
            existing: Existing::ReplaceKeepingBackup,
            ..r
        };
        refuse_existing_layout_files(&forced).unwrap();
    }

    /// Under sudo the client's files are the invoking user's from the start; the daemon's stay
    /// root's.
    #[test]
    fn the_client_layout_goes_to_the_owner_the_policy_names() {
        if !crate::test_support::root_or_skip() {
            return;
        }
        let root = tempfile::tempdir().unwrap();
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let home = root.path().join("home");
        std::fs::create_dir(&home).unwrap();
        std::os::unix::fs::chown(&home, Some(65534), Some(65534)).unwrap();
        let owner = crate::fs::Owner {
            uid: 65534,
            gid: 65534,
        };
        let state = open(
            root.path(),
            Settings {
                owners: crate::fs::OwnerPolicy::InvokingUser {
                    owner,
                    home: home.clone(),
                },
                ..Settings::default()
            },
        );
        let mut r = request(root.path(), &["h.example"], Existing::Refuse);
        r.client_dir = home.join(".docker");
        let done = bootstrap(&state, &r, OffsetDateTime::now_utc()).unwrap();
        for path in [
            done.client.dir.clone(),
            done.client.key_path(),
            done.client.cert_path(),
            done.client.ca_path(),
        ] {
            let m = std::fs::symlink_metadata(&path).unwrap();
            assert_eq!((m.uid(), m.gid()), (65534, 65534), "{path:?}");
        }
        assert_eq!(mode(&done.client.key_path()), 0o400);
        assert_eq!(std::fs::metadata(done.daemon.key_path()).unwrap().uid(), 0);
    }
}
