//! The whole probe against TLS listeners on 127.0.0.1 started by the tests, with layouts issued
//! through a real state: a daemon that answers, one that trickles, one that floods, one that
//! says nothing, and one that speaks plain HTTP.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dockpki::{ClientRequest, KeyType, OffsetDateTime, SanList, ServerRequest};
use rustls::{ServerConnection, StreamOwned};

use super::*;
use crate::fs::{Existing, WritePlan};
use crate::ops::{issue, IssueRequest, LeafRequest};
use crate::store::{Create, KeyProtection, Settings, State};

/// A state with a CA, a daemon layout for 127.0.0.1 and a client layout, all issued by it.
struct Fixture {
    root: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let root = tempfile::tempdir().unwrap();
        let now = OffsetDateTime::now_utc();
        let state = State::open(
            root.path().join("state"),
            Create::IfMissing,
            Settings::default(),
        )
        .unwrap();
        let ca = dockpki::CertificateAuthority::create(&dockpki::CaOptions::new(now).unwrap(), now)
            .unwrap();
        let mut plan = WritePlan::new(Existing::Refuse);
        state.plan_ca(&mut plan, &ca, KeyProtection::Plain).unwrap();
        state.commit(state.feed_contexts(plan).unwrap()).unwrap();
        let leaf = |leaf, dir: &str| IssueRequest {
            leaf,
            key_type: KeyType::EcdsaP256,
            dir: root.path().join(dir),
            existing: Existing::Refuse,
        };
        let server = LeafRequest::Server(ServerRequest {
            sans: SanList::new(["127.0.0.1".parse().unwrap()]).unwrap(),
            common_name: None,
            lifetime: "30d".parse().unwrap(),
        });
        let client = LeafRequest::Client(ClientRequest {
            common_name: "alice".parse().unwrap(),
            lifetime: "30d".parse().unwrap(),
        });
        issue(&state, &leaf(server, "daemon"), now).unwrap();
        issue(&state, &leaf(client, "client"), now).unwrap();
        Fixture { root }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    fn request(&self, port: u16, timeout: Duration) -> ProbeRequest {
        ProbeRequest {
            endpoint: format!("tcp://127.0.0.1:{port}").parse().unwrap(),
            deadline: Deadline::after(Instant::now(), timeout),
            client_dir: self.path("client"),
            client_owner: None,
            state_dir: Some(self.path("state")),
        }
    }

    /// The daemon layout as dockerd's `--tlsverify` serves it.
    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let pem = |name: &str| std::fs::read(self.path("daemon").join(name)).unwrap();
        let ca = dockpki::certs_from_pem(&pem("ca.pem")).unwrap();
        let server =
            dockpki::IssuedCert::from_pem(&pem("server-cert.pem"), &pem("server-key.pem")).unwrap();
        Arc::new(dockpki::tls::server_config(&ca, &server).unwrap())
    }
}

/// A listener on 127.0.0.1 whose thread accepts one connection and hands it to `serve`.
fn listen(serve: impl FnOnce(TcpStream) + Send + 'static) -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let thread = std::thread::spawn(move || {
        if let Ok((sock, _)) = listener.accept() {
            let _ = sock.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = sock.set_write_timeout(Some(Duration::from_secs(10)));
            serve(sock);
        }
    });
    (port, thread)
}

type Tls = StreamOwned<ServerConnection, TcpStream>;

/// A TLS listener that runs `serve` after the handshake.
fn daemon(
    fixture: &Fixture,
    serve: impl FnOnce(&mut Tls) + Send + 'static,
) -> (u16, JoinHandle<()>) {
    let config = fixture.server_config();
    listen(move |sock| {
        let mut tls = StreamOwned::new(ServerConnection::new(config).unwrap(), sock);
        while tls.conn.is_handshaking() {
            if tls.conn.complete_io(&mut tls.sock).is_err() {
                return;
            }
        }
        serve(&mut tls);
    })
}

/// Reads one request head; `None` once the probe has gone.
fn request(tls: &mut Tls) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
        match tls.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// Sends `bytes` every `pause` until the probe has gone (or 10 s).
fn repeat(tls: &mut Tls, bytes: &[u8], pause: Duration) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10)
        && tls.write_all(bytes).and_then(|()| tls.flush()).is_ok()
    {
        std::thread::sleep(pause);
    }
}

const PING_OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK";

fn diagnosis(r: Result<ProbeReport, ProbeError>) -> Diagnosis {
    match r {
        Err(ProbeError::Diagnosis(d)) => *d,
        other => panic!("expected a diagnosis, got {other:?}"),
    }
}

#[test]
fn a_daemon_that_answers_is_reported_with_its_installed_certificate() {
    let f = Fixture::new();
    let body = r#"{"Version":"26.1.0","ApiVersion":"1.45","Os":"linux","Arch":"amd64"}"#;
    let version = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (port, server) = daemon(&f, move |tls| {
        let ping = request(tls).unwrap_or_default();
        assert!(
            ping.starts_with("GET /_ping HTTP/1.1\r\nHost: 127.0.0.1\r\n"),
            "{ping}"
        );
        let _ = tls.write_all(PING_OK);
        if request(tls).is_some_and(|r| r.starts_with("GET /version ")) {
            let _ = tls.write_all(version.as_bytes());
        }
    });
    let report = probe(&f.request(port, Duration::from_secs(10))).unwrap();
    server.join().unwrap();
    assert_eq!(report.ping, "OK");
    assert_eq!(report.server["Version"], "26.1.0");
    assert_eq!(report.host, format!("tcp://127.0.0.1:{port}"));
    assert_eq!(report.certificate.sans, ["127.0.0.1"]);
    assert_eq!(report.installed, Installed::Yes);
    assert_eq!(report.daemon_dirs, [f.path("daemon")]);
    assert!(report.is_ok() && report.tls_version.starts_with("TLS 1."));
}

#[test]
fn a_listener_that_never_answers_is_diagnosed_at_the_deadline() {
    let f = Fixture::new();
    // Accepted by the kernel's backlog, never read.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let start = Instant::now();
    let d = diagnosis(probe(&f.request(port, Duration::from_millis(300))));
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(d, Diagnosis::NoTlsAnswer { .. }), "{d:?}");
    assert!(d.to_string().starts_with("timeout: "), "{d}");
    drop(listener);
}

#[test]
fn a_plain_http_listener_is_named_as_such() {
    let f = Fixture::new();
    let (port, server) = listen(|mut sock| {
        let mut hello = [0u8; 512];
        let _ = sock.read(&mut hello);
        let _ =
            sock.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n400 Bad Request");
    });
    let d = diagnosis(probe(&f.request(port, Duration::from_secs(10))));
    server.join().unwrap();
    assert!(
        matches!(&d, Diagnosis::PlainHttp { status_line, .. } if status_line == "HTTP/1.1 400 Bad Request"),
        "{d:?}"
    );
}

/// The answer to `/_ping` begins, then trickles a header byte every 50 ms: each read gets
/// something, and only the deadline for the whole probe ends it.
#[test]
fn an_answer_trickled_over_tls_ends_at_the_deadline_of_the_whole_probe() {
    let f = Fixture::new();
    let (port, server) = daemon(&f, |tls| {
        if request(tls).is_some() && tls.write_all(b"HTTP/1.1 200 OK\r\nX-Slow: ").is_ok() {
            repeat(tls, b"a", Duration::from_millis(50));
        }
    });
    let start = Instant::now();
    let d = diagnosis(probe(&f.request(port, Duration::from_millis(800))));
    let took = start.elapsed();
    server.join().unwrap();
    assert!(took < Duration::from_secs(4), "{took:?}");
    assert!(
        matches!(
            d,
            Diagnosis::AnswerTimedOut {
                path: http::PING,
                ..
            }
        ),
        "{d:?}"
    );
}

#[test]
fn an_oversized_version_answer_is_refused_naming_the_limit() {
    let f = Fixture::new();
    let (port, server) = daemon(&f, |tls| {
        if request(tls).is_some() && tls.write_all(PING_OK).is_ok() && request(tls).is_some() {
            let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1048577\r\n\r\n");
        }
    });
    let d = diagnosis(probe(&f.request(port, Duration::from_secs(10))));
    server.join().unwrap();
    assert_eq!(
        d.to_string().split("; check").next().unwrap_or_default(),
        format!(
            "GET /version on 127.0.0.1:{port}: the daemon's answer is larger than 1 MiB (Content-Length: 1048577)"
        )
    );
}

#[test]
fn a_ping_that_is_not_ok_is_not_a_docker_daemon() {
    let f = Fixture::new();
    let (port, server) = daemon(&f, |tls| {
        if request(tls).is_some() {
            let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello\n");
        }
    });
    let d = diagnosis(probe(&f.request(port, Duration::from_secs(10))));
    server.join().unwrap();
    assert!(
        matches!(&d, Diagnosis::NotOk { answer, .. } if answer == b"hello\n"),
        "{d:?}"
    );
}

#[test]
fn a_missing_client_layout_is_a_setup_error_before_any_connection() {
    let f = Fixture::new();
    let mut r = f.request(1, Duration::from_secs(1));
    r.client_dir = f.path("nowhere");
    match probe(&r) {
        Err(ProbeError::Setup(e)) => {
            assert!(
                e.to_string()
                    .contains(&*f.path("nowhere/ca.pem").to_string_lossy()),
                "{e}"
            )
        }
        other => panic!("{other:?}"),
    }
}

/// A layout file linked to a file its owner cannot read is not read by root on their behalf.
#[test]
fn the_layout_is_read_as_its_owner() {
    if !crate::test_support::root_or_skip() {
        return;
    }
    let f = Fixture::new();
    let user_dir = f.path("user");
    std::fs::create_dir(&user_dir).unwrap();
    for name in ["ca.pem", "cert.pem"] {
        std::fs::copy(f.path("client").join(name), user_dir.join(name)).unwrap();
    }
    // Root's key, mode 0400, in a directory only root may enter.
    let secret_dir = f.path("secret");
    std::fs::create_dir(&secret_dir).unwrap();
    std::fs::copy(f.path("client/key.pem"), secret_dir.join("key.pem")).unwrap();
    set_mode(&secret_dir, 0o700);
    std::os::unix::fs::symlink(secret_dir.join("key.pem"), user_dir.join("key.pem")).unwrap();
    for p in [f.root.path(), user_dir.as_path()] {
        set_mode(p, 0o755);
    }
    std::os::unix::fs::chown(&user_dir, Some(65534), Some(65534)).unwrap();
    let mut r = f.request(1, Duration::from_secs(1));
    r.client_dir = user_dir.clone();
    r.client_owner = Some(crate::fs::Owner {
        uid: 65534,
        gid: 65534,
    });
    match probe(&r) {
        Err(ProbeError::Setup(e)) => assert!(e.to_string().contains("key.pem"), "{e}"),
        other => panic!("root read the key for uid 65534: {other:?}"),
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
