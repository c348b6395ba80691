//! The few reads of the Docker Engine API the audit needs: what the daemon says of itself
//! (`GET /info`: whether it is rootless, whether user namespaces are on), the running
//! containers and how each was created (its mounts, whether it is privileged), over the
//! daemon's unix socket or over TCP with mutual TLS and a client layout.
//!
//! The daemon is not trusted to be well-behaved, exactly as in the probe: every request goes
//! through the probe's bounded HTTP client ([`super::probe::http::get`]), each answer is
//! size-capped ([`INFO_LIMIT`], [`LIST_LIMIT`], [`INSPECT_LIMIT`]) and one [`Deadline`] bounds everything from
//! the connection to the last byte. What the daemon says (container names, paths) is outside
//! text: callers escape it before printing it.

use std::io::{BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};
use serde_json::Value;

use super::endpoint::TcpEndpoint;
use super::probe::connect::{self, Deadline, Wire};
use super::probe::http::{self, BadAnswer, Connection, HttpError};
use crate::error::{Error, Result};
use crate::fs::reader::Links;
use crate::layout::Layout;

/// The most the answer of `GET /containers/json` may hold: a few KiB per running container,
/// so thousands of containers fit.
pub const LIST_LIMIT: usize = 16 * 1024 * 1024;
/// The most the answer of `GET /containers/{id}/json` may hold (a container with a large
/// environment or many labels is still far below it).
pub const INSPECT_LIMIT: usize = 4 * 1024 * 1024;

/// The most the answer of `GET /info` may hold (a few KiB on any daemon; plugins, labels and
/// warnings lists are still far below it).
pub const INFO_LIMIT: usize = 4 * 1024 * 1024;

/// What the daemon says of itself (`GET /info`), as far as the audit uses it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Info {
    /// The names of its `SecurityOptions`: `apparmor`, `seccomp`, `selinux`, `userns` (user
    /// namespaces remapped), `rootless`, `cgroupns`.
    pub security_options: Vec<String>,
    /// `DockerRootDir`: with userns-remap, the remapped root (`/var/lib/docker/UID.GID`).
    pub root_dir: Option<String>,
}

impl Info {
    /// The fields of an answer to `GET /info`. A security option is `name=NAME` followed by
    /// `,KEY=VALUE` pairs (API 1.26 and later), or the bare name (older daemons).
    pub fn from_json(answer: &Value) -> Info {
        let security_options = answer
            .get("SecurityOptions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter_map(|option| {
                if !option.contains('=') {
                    return Some(option.to_string());
                }
                option
                    .split(',')
                    .find_map(|pair| pair.strip_prefix("name="))
                    .map(str::to_string)
            })
            .collect();
        Info {
            security_options,
            root_dir: answer
                .get("DockerRootDir")
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    }

    /// Whether the daemon lists the security option `name`.
    pub fn has(&self, name: &str) -> bool {
        self.security_options.iter().any(|o| o == name)
    }

    /// Whether the daemon says it is rootless (security option `rootless`).
    pub fn rootless(&self) -> bool {
        self.has("rootless")
    }

    /// Whether the daemon says it remaps containers' users into a user namespace (security
    /// option `userns`, which dockerd lists once `userns-remap` is applied).
    pub fn userns(&self) -> bool {
        self.has("userns")
    }
}

/// What the daemon at `target` says of itself: `GET /info` on one connection, within
/// `deadline`, at most [`INFO_LIMIT`] bytes.
///
/// # Errors
/// When the daemon cannot be reached or answers wrongly (see [`Client::get_json`]), or not
/// with an object.
pub fn info(target: &Target, deadline: Deadline) -> Result<Info> {
    let mut client = Client::connect(target, deadline)?;
    let answer = client.get_json("/info", INFO_LIMIT)?;
    if !answer.is_object() {
        return Err(Error::new(format!(
            "the daemon at {target} answered GET /info with something other than an object"
        )));
    }
    Ok(Info::from_json(&answer))
}

/// Where the daemon is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Its unix socket, by path on this machine.
    Socket(PathBuf),
    /// TCP with mutual TLS, with the client layout in `client_dir` (`ca.pem`, `cert.pem`,
    /// `key.pem`).
    Tcp {
        /// The daemon's address.
        endpoint: TcpEndpoint,
        /// The client layout.
        client_dir: PathBuf,
    },
}

impl std::fmt::Display for Target {
    /// `unix:///PATH` or `tcp://HOST:PORT`, as `-H` takes them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Socket(path) => write!(f, "unix://{}", path.display()),
            Target::Tcp { endpoint, .. } => endpoint.fmt(f),
        }
    }
}

/// A running container, as the daemon describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// Its full id (hexadecimal).
    pub id: String,
    /// Its name, without the leading `/`.
    pub name: String,
    /// Whether it runs with `--privileged`.
    pub privileged: bool,
    /// What is mounted into it from the host: bind mounts, volumes, `HostConfig.Binds`.
    pub mounts: Vec<Mount>,
}

/// A mount of a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The path on the host (a volume's directory for a volume).
    pub source: String,
    /// Where the container sees it.
    pub destination: String,
}

/// Either stream, for the one HTTP client.
trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// A connection to the daemon, over which requests are sent one after the other.
pub struct Client {
    reader: BufReader<Box<dyn Stream>>,
    /// The `Host:` header: the daemon's name for TCP, `docker` for a socket (as the docker CLI
    /// sends for one).
    host: String,
    /// The daemon, for messages.
    shown: String,
}

impl Client {
    /// Connects to `target` (for TCP: the TLS handshake with the client layout, which is read
    /// as the running user, links followed as the docker CLI follows them), within `deadline`.
    ///
    /// # Errors
    /// When the daemon cannot be reached, or the client layout cannot be read or used.
    pub fn connect(target: &Target, deadline: Deadline) -> Result<Client> {
        let shown = target.to_string();
        match target {
            Target::Socket(path) => {
                let sock = UnixStream::connect(path).map_err(|e| {
                    Error::new(format!("cannot connect to {}: {e}", unix_name(path)))
                })?;
                Ok(Client {
                    reader: BufReader::new(Box::new(Wire::new(sock, deadline))),
                    host: "docker".to_string(),
                    shown,
                })
            }
            Target::Tcp {
                endpoint,
                client_dir,
            } => {
                let files = Layout::client(client_dir.clone()).read(Links::Follow, None)?;
                let config = dockpki::tls::client_config(
                    &files.bundle,
                    dockpki::tls::ClientAuth::Chain {
                        chain: &files.chain,
                        key: &files.key,
                    },
                )
                .map_err(|e| {
                    Error::from(e).context(format!("the client layout {}", client_dir.display()))
                })?;
                drop(files);
                let server_name = ServerName::try_from(endpoint.host.clone()).map_err(|_| {
                    Error::new(format!(
                        "{:?} is neither a DNS name nor an IP address; give tcp://HOST:PORT",
                        endpoint.host
                    ))
                })?;
                let (sock, _) = connect::connect(endpoint, deadline).map_err(Error::from)?;
                let conn = ClientConnection::new(Arc::new(config), server_name)
                    .map_err(|e| Error::new(format!("cannot start TLS: {e}")))?;
                let mut tls = StreamOwned::new(conn, Wire::new(sock, deadline));
                while tls.conn.is_handshaking() {
                    tls.conn.complete_io(&mut tls.sock).map_err(|e| {
                        Error::new(format!("the TLS handshake with {shown} failed: {e}"))
                    })?;
                }
                Ok(Client {
                    reader: BufReader::new(Box::new(tls)),
                    host: endpoint.host.clone(),
                    shown,
                })
            }
        }
    }

    /// `GET path` on the open connection: its JSON body of at most `limit` bytes.
    ///
    /// # Errors
    /// When the daemon does not answer within the deadline, answers other than 200, beyond
    /// `limit`, or not with JSON.
    pub fn get_json(&mut self, path: &str, limit: usize) -> Result<Value> {
        self.get_json_if_found(path, limit)?.ok_or_else(|| {
            Error::new(format!(
                "the daemon at {} answered GET {path} with 404 Not Found",
                self.shown
            ))
        })
    }

    /// [`Client::get_json`], with `None` for a 404 answer (a container removed meanwhile).
    fn get_json_if_found(&mut self, path: &str, limit: usize) -> Result<Option<Value>> {
        let body = match http::get(
            &mut self.reader,
            &self.host,
            path,
            limit,
            Connection::KeepAlive,
        ) {
            Ok(body) => body,
            Err(HttpError::Bad(BadAnswer::Status { status_line, .. }))
                if status_line.split_whitespace().nth(1) == Some("404") =>
            {
                return Ok(None)
            }
            Err(HttpError::NoAnswer(e) | HttpError::Cut(e)) => {
                return Err(Error::new(format!(
                    "the daemon at {} did not answer GET {path}: {e}",
                    self.shown
                )))
            }
            Err(HttpError::Bad(bad)) => {
                return Err(Error::new(format!(
                    "the daemon at {} answered GET {path} wrongly: {bad}",
                    self.shown
                )))
            }
        };
        serde_json::from_slice(&body).map(Some).map_err(|e| {
            Error::new(format!(
                "the daemon at {} answered GET {path} with something that is not JSON: {e}",
                self.shown
            ))
        })
    }
}

/// `unix:///PATH`, for messages.
fn unix_name(path: &Path) -> String {
    format!("unix://{}", path.display())
}

/// Whether `id` can be put in a request path as it is: container ids are hexadecimal, and
/// anything else (a space, a CR LF) would change the request.
fn is_container_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The running containers of the daemon at `target`, each inspected: one connection, `GET
/// /containers/json`, then `GET /containers/{id}/json` for each, all within `deadline`. A
/// container that is gone between the two requests is left out.
///
/// # Errors
/// When the daemon cannot be reached or answers wrongly (see [`Client::get_json`]), or lists
/// a container id that is not hexadecimal.
pub fn running_containers(target: &Target, deadline: Deadline) -> Result<Vec<Container>> {
    let mut client = Client::connect(target, deadline)?;
    let list = client.get_json("/containers/json", LIST_LIMIT)?;
    let Value::Array(items) = list else {
        return Err(Error::new(format!(
            "the daemon at {target} answered GET /containers/json with something other than a list"
        )));
    };
    let mut out = Vec::new();
    for item in &items {
        let id = item.get("Id").and_then(Value::as_str).unwrap_or_default();
        if !is_container_id(id) {
            return Err(Error::new(format!(
                "the daemon at {target} lists a container whose id {} is not hexadecimal",
                http::quote(id.as_bytes())
            )));
        }
        // None: removed since it was listed, nothing left to judge.
        let path = format!("/containers/{id}/json");
        if let Some(inspected) = client.get_json_if_found(&path, INSPECT_LIMIT)? {
            out.push(container(id, &inspected));
        }
    }
    Ok(out)
}

/// A container from its inspection (`GET /containers/{id}/json`).
pub fn container(id: &str, inspected: &Value) -> Container {
    let name = inspected
        .get("Name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let host_config = inspected.get("HostConfig");
    let privileged = host_config
        .and_then(|h| h.get("Privileged"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut mounts: Vec<Mount> = Vec::new();
    let mut add = |source: &str, destination: &str| {
        let m = Mount {
            source: source.to_string(),
            destination: destination.to_string(),
        };
        if !source.is_empty() && !mounts.contains(&m) {
            mounts.push(m);
        }
    };
    for m in inspected
        .get("Mounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let field = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or_default();
        add(field("Source"), field("Destination"));
    }
    // `-v SRC:DST[:OPTS]`: Docker splits at ':' on Linux, so SRC holds none.
    for bind in host_config
        .and_then(|h| h.get("Binds"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let mut parts = bind.splitn(3, ':');
        let source = parts.next().unwrap_or_default();
        let destination = parts.next().unwrap_or_default();
        add(source, destination);
    }
    Container {
        id: id.to_string(),
        name: name.strip_prefix('/').unwrap_or(name).to_string(),
        privileged,
        mounts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::time::{Duration, Instant};

    #[test]
    fn a_container_id_is_hex_and_nothing_else() {
        assert!(is_container_id("1379558187bf0180f8805976aff559b1"));
        for bad in ["", "abc/../x", "ab cd", "ab\r\nHost: x", "zz"] {
            assert!(!is_container_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn mounts_come_from_mounts_and_binds_once_each() {
        let inspected = serde_json::json!({
            "Name": "/web",
            "HostConfig": {"Privileged": true, "Binds": ["/run:/host-run:ro", "/srv:/srv"]},
            "Mounts": [
                {"Type": "bind", "Source": "/run", "Destination": "/host-run"},
                {"Type": "volume", "Source": "/var/lib/docker/volumes/v/_data", "Destination": "/v"}
            ]
        });
        let c = container("ab12", &inspected);
        assert_eq!(c.name, "web");
        assert!(c.privileged);
        let sources: Vec<&str> = c.mounts.iter().map(|m| m.source.as_str()).collect();
        assert_eq!(sources, ["/run", "/var/lib/docker/volumes/v/_data", "/srv"]);
    }

    /// A daemon that lists containers but never answers the inspection: the whole read ends at
    /// the deadline, whatever the daemon does.
    #[test]
    fn a_daemon_that_stops_answering_is_cut_off_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf);
            let body = r#"[{"Id":"ab12"}]"#;
            let _ = write!(
                sock,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            // Reads the inspection request and says nothing more until the client gives up.
            let _ = sock.read(&mut buf);
            let _ = sock.read(&mut buf);
        });
        let start = Instant::now();
        let deadline = Deadline::after(start, Duration::from_millis(300));
        let e = running_containers(&Target::Socket(path), deadline).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(3), "{e}");
        assert!(
            e.message()
                .contains("did not answer GET /containers/ab12/json"),
            "{e}"
        );
        server.join().unwrap();
    }

    #[test]
    fn an_answer_beyond_the_limit_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf);
            let _ = write!(
                sock,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                LIST_LIMIT + 1
            );
        });
        let deadline = Deadline::after(Instant::now(), Duration::from_secs(5));
        let e = running_containers(&Target::Socket(path), deadline).unwrap_err();
        assert!(e.message().contains("larger than 16 MiB"), "{e}");
        server.join().unwrap();
    }

    #[test]
    fn security_options_are_read_by_name_in_both_forms() {
        let answer = serde_json::json!({
            "SecurityOptions": [
                "name=apparmor",
                "name=seccomp,profile=default",
                "name=userns",
                "profile=x,name=rootless",
                "selinux",
                7
            ],
            "DockerRootDir": "/var/lib/docker/165536.165536"
        });
        let info = Info::from_json(&answer);
        assert_eq!(
            info.security_options,
            ["apparmor", "seccomp", "userns", "rootless", "selinux"]
        );
        assert!(info.userns() && info.rootless() && !info.has("cgroupns"));
        assert_eq!(
            info.root_dir.as_deref(),
            Some("/var/lib/docker/165536.165536")
        );
        // Nothing listed: neither.
        let none = Info::from_json(&serde_json::json!({"SecurityOptions": null}));
        assert!(!none.userns() && !none.rootless());
    }

    /// A daemon on a unix socket answering one request with `answer` (status line, headers
    /// and body as given).
    fn serve_once(path: &Path, answer: String) -> std::thread::JoinHandle<String> {
        let listener = UnixListener::bind(path).unwrap();
        std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let n = sock.read(&mut buf).unwrap_or(0);
            let _ = sock.write_all(answer.as_bytes());
            String::from_utf8_lossy(&buf[..n]).into_owned()
        })
    }

    #[test]
    fn info_asks_get_info_and_reads_the_security_options() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.sock");
        let body = r#"{"SecurityOptions":["name=seccomp,profile=default","name=userns"]}"#;
        let server = serve_once(
            &path,
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        );
        let deadline = Deadline::after(Instant::now(), Duration::from_secs(5));
        let info = info(&Target::Socket(path), deadline).unwrap();
        assert!(info.userns() && !info.rootless(), "{info:?}");
        assert!(server.join().unwrap().starts_with("GET /info HTTP/1.1\r\n"));
    }

    #[test]
    fn an_info_answer_beyond_its_limit_or_not_an_object_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.sock");
        let server = serve_once(
            &path,
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                INFO_LIMIT + 1
            ),
        );
        let deadline = Deadline::after(Instant::now(), Duration::from_secs(5));
        let e = info(&Target::Socket(path), deadline).unwrap_err();
        assert!(e.message().contains("larger than 4 MiB"), "{e}");
        server.join().unwrap();
        let path = dir.path().join("list.sock");
        let server = serve_once(
            &path,
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]".to_string(),
        );
        let deadline = Deadline::after(Instant::now(), Duration::from_secs(5));
        let e = info(&Target::Socket(path), deadline).unwrap_err();
        assert!(e.message().contains("other than an object"), "{e}");
        server.join().unwrap();
    }

    #[test]
    fn a_missing_socket_is_named_in_the_error() {
        let deadline = Deadline::after(Instant::now(), Duration::from_secs(1));
        let e = running_containers(
            &Target::Socket(PathBuf::from("/nonexistent/docker.sock")),
            deadline,
        )
        .unwrap_err();
        assert!(
            e.message()
                .starts_with("cannot connect to unix:///nonexistent/docker.sock"),
            "{e}"
        );
    }
}
