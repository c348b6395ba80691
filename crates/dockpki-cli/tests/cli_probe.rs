//! `dockpki probe` against endpoints that are not a well-behaved TLS daemon: each failure is
//! diagnosed in one line with exit 1 (the TLS and daemon cases run against a real dockerd in
//! `tests/e2e_dockerd.rs`). Hostile daemons are TLS listeners in this process, with the daemon
//! layout made by `dockpki bootstrap`, that trickle, flood, or forge their answers: `--timeout`
//! must bound the whole probe, answers must be size-capped, and what they say must not forge
//! output lines.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Output;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{assert_error_line, assert_success, json, stdout, Env};
use rustls::{ServerConnection, StreamOwned};

fn probe(env: &Env, args: &[&str]) -> std::process::Output {
    let client = env.path("client");
    let mut cmd = env.cmd();
    cmd.arg("probe").args(args).arg("--client-dir").arg(&client);
    cmd.output().expect("run dockpki")
}

fn bootstrapped() -> Env {
    let env = Env::new();
    env.bootstrap(&env.path("daemon"), &env.path("client"), &[]);
    env
}

#[test]
fn probe_reports_connection_refused() {
    let env = bootstrapped();
    // A port that was free a moment ago and has nothing listening now.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind")
        .port();
    let out = probe(&env, &[&format!("tcp://127.0.0.1:{port}")]);
    let line = assert_error_line(&out, "connection refused by 127.0.0.1");
    assert!(line.contains("-H tcp://127.0.0.1:"), "{line}");
}

#[test]
fn probe_recognizes_a_plain_http_listener() {
    let env = bootstrapped();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        let mut hello = [0u8; 512];
        let _ = conn.read(&mut hello);
        let _ = conn.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n400 Bad Request",
        );
        hello[0]
    });
    let out = probe(&env, &[&format!("tcp://127.0.0.1:{port}")]);
    // The listener answered, wrongly: broken now.
    let line = common::assert_error_line_with_code(&out, "plain HTTP", 4);
    assert!(line.contains("HTTP/1.1 400 Bad Request"), "{line}");
    assert!(line.contains("--tlsverify"), "{line}");
    // 0x16: the probe did send a TLS handshake record.
    assert_eq!(server.join().expect("server thread"), 0x16);
}

#[test]
fn probe_times_out_on_a_listener_that_never_answers() {
    let env = bootstrapped();
    // Accepted by the kernel's backlog, never read: the handshake gets no answer.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let out = probe(
        &env,
        &[&format!("tcp://127.0.0.1:{port}"), "--timeout", "1s"],
    );
    let line = assert_error_line(&out, "timeout:");
    assert!(line.contains("sent no TLS answer"), "{line}");
    drop(listener);
}

#[test]
fn probe_json_failure_is_one_document_with_the_error() {
    let env = bootstrapped();
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind")
        .port();
    let out = probe(&env, &["--json", &format!("tcp://127.0.0.1:{port}")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(json(&out)["error"]
        .as_str()
        .is_some_and(|e| e.contains("connection refused")));
}

#[test]
fn probe_refuses_bad_addresses_timeouts_and_client_dirs() {
    let env = bootstrapped();
    for (args, phrase) in [
        (vec!["https://127.0.0.1:2376"], "uses https://"),
        (
            vec!["--host", "::1:2376"],
            "an IPv6 address goes in brackets",
        ),
        (vec!["tcp://127.0.0.1:0"], "no valid port"),
        (
            vec!["tcp://127.0.0.1:2376", "--timeout", "soon"],
            "invalid timeout \"soon\" for --timeout: missing number",
        ),
        (
            vec!["tcp://127.0.0.1:2376", "--timeout", "0s"],
            "invalid timeout \"0s\" for --timeout: it must be longer than zero",
        ),
        (
            vec!["--host", "tcp://127.0.0.1:2376", "--timeout", "5"],
            "invalid timeout \"5\" for --timeout: a bare number has no unit",
        ),
    ] {
        let client = env.path("client");
        let mut cmd = env.cmd();
        cmd.arg("probe")
            .args(&args)
            .arg("--client-dir")
            .arg(&client);
        env.assert_refused_cmd(cmd, phrase);
    }
    let mut cmd = env.cmd();
    cmd.args(["probe", "tcp://127.0.0.1:2376", "--client-dir"])
        .arg(env.path("nowhere"));
    env.assert_refused_cmd(cmd, "ca.pem");
}

/// `--timeout` of the deadline tests, and what the probe may take on top of it: starting the
/// debug binary, loading the layout, exiting, on a loaded machine. A bound, not a speed check:
/// without a deadline for the whole probe these probes run until the listener gives up.
const TIMEOUT: &str = "2s";
const BOUND: Duration = Duration::from_secs(2 + 3);

/// The longest a hostile listener keeps going. It stops once the probe has closed the
/// connection (its next write or read fails); this only bounds a probe that never comes or
/// never leaves, far beyond [`BOUND`].
const LIFETIME: Duration = Duration::from_secs(40);

/// dockerd's answer to `GET /_ping`.
const PING_OK: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nOK";

/// The server side of one TLS connection.
type Tls = StreamOwned<ServerConnection, TcpStream>;

/// A listener on 127.0.0.1 (ephemeral port) whose thread accepts one connection and hands it
/// to a behaviour; the thread ends when the behaviour does.
struct Listener {
    port: u16,
    thread: JoinHandle<()>,
}

impl Listener {
    /// Plain TCP.
    fn tcp(serve: impl FnOnce(TcpStream) + Send + 'static) -> Listener {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let thread = std::thread::spawn(move || {
            // Polled, so that the thread ends even if the probe never connects.
            let start = Instant::now();
            let sock = loop {
                match listener.accept() {
                    Ok((sock, _)) => break sock,
                    Err(_) if start.elapsed() < LIFETIME => {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(_) => return,
                }
            };
            let io = Duration::from_secs(5);
            let ready = sock.set_nonblocking(false).is_ok()
                && sock.set_read_timeout(Some(io)).is_ok()
                && sock.set_write_timeout(Some(io)).is_ok();
            if ready {
                serve(sock);
            }
        });
        Listener { port, thread }
    }

    /// A daemon-like TLS listener: the daemon layout's certificate and key, and client
    /// certificates required from the layout's CA, as `dockerd --tlsverify`. The behaviour
    /// starts after the handshake.
    fn daemon(env: &Env, serve: impl FnOnce(&mut Tls) + Send + 'static) -> Listener {
        let dir = env.path("daemon");
        let pem = |name: &str| common::read(&dir.join(name));
        let ca = dockpki::certs_from_pem(&pem("ca.pem")).expect("ca.pem");
        let server = dockpki::IssuedCert::from_pem(&pem("server-cert.pem"), &pem("server-key.pem"))
            .expect("server-cert.pem and server-key.pem");
        let config = Arc::new(dockpki::tls::server_config(&ca, &server).expect("config"));
        Listener::tcp(move |sock| {
            let Ok(conn) = ServerConnection::new(config) else {
                return;
            };
            let mut tls = StreamOwned::new(conn, sock);
            while tls.conn.is_handshaking() {
                if tls.conn.complete_io(&mut tls.sock).is_err() {
                    return;
                }
            }
            serve(&mut tls);
        })
    }

    /// A TLS listener that answers `/_ping` and `/version` with these bytes.
    fn answering(env: &Env, ping: Vec<u8>, version: Vec<u8>) -> Listener {
        Listener::daemon(env, move |tls| {
            if request(tls).is_some() && send(tls, &ping) && request(tls).is_some() {
                send(tls, &version);
            }
        })
    }

    fn host(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// Waits for the thread: the probe has exited, so the behaviour must end by itself.
    fn finish(self) {
        self.thread.join().expect("listener thread");
    }
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

/// Writes `bytes` and flushes them; false once the probe has gone.
fn send(tls: &mut Tls, bytes: &[u8]) -> bool {
    tls.write_all(bytes).and_then(|()| tls.flush()).is_ok()
}

/// Sends `chunk` every `pause` until the probe has gone (or [`LIFETIME`]).
fn repeat(tls: &mut Tls, chunk: &[u8], pause: Duration) {
    let start = Instant::now();
    while start.elapsed() < LIFETIME && send(tls, chunk) {
        std::thread::sleep(pause);
    }
}

/// A 200 answer with a JSON body and its Content-Length.
fn json_answer(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// An ordinary `/version` answer.
fn version_ok() -> Vec<u8> {
    json_answer(r#"{"Version":"26.1.0","ApiVersion":"1.45","Os":"linux","Arch":"amd64"}"#)
}

/// `dockpki probe HOST --client-dir client extra...`, and how long it took.
fn timed_probe(env: &Env, host: &str, extra: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let mut args = vec![host];
    args.extend_from_slice(extra);
    let out = probe(env, &args);
    (out, start.elapsed())
}

/// Probes `listener` with `--timeout 2s`, asserts that it failed within [`BOUND`] with exit
/// `code` (1: the daemon could not be checked, 4: it answered wrongly) and one `error:` line
/// containing each of `phrases`, and returns that line.
fn fails_in_time(env: &Env, listener: Listener, code: i32, phrases: &[&str]) -> String {
    let (out, took) = timed_probe(env, &listener.host(), &["--timeout", TIMEOUT]);
    let line = common::assert_error_line_with_code(&out, phrases[0], code);
    for phrase in phrases {
        assert!(line.contains(phrase), "{phrase:?} not in: {line}");
    }
    assert!(
        took < BOUND,
        "probe --timeout {TIMEOUT} took {took:?} (bound {BOUND:?}): {line}"
    );
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    listener.finish();
    line
}

#[test]
fn probe_deadline_bounds_a_tls_handshake_trickled_one_byte_at_a_time() {
    let env = bootstrapped();
    // The start of a 16 KiB handshake record, then one byte of it every 300 ms: every read
    // gets something long before any per-read timeout.
    let listener = Listener::tcp(|mut sock| {
        let mut hello = [0u8; 4096];
        if sock.read(&mut hello).is_err()
            || sock.write_all(&[0x16, 0x03, 0x03, 0x40, 0x00]).is_err()
        {
            return;
        }
        let start = Instant::now();
        while start.elapsed() < LIFETIME && sock.write_all(&[0]).is_ok() {
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    fails_in_time(
        &env,
        listener,
        1,
        &["timeout:", "did not finish the TLS handshake within 2s"],
    );
}

#[test]
fn probe_deadline_bounds_an_answer_trickled_one_byte_at_a_time() {
    let env = bootstrapped();
    let listener = Listener::daemon(&env, |tls| {
        if request(tls).is_some() && send(tls, b"HTTP/1.1 200 OK\r\nX-Slow: ") {
            repeat(tls, b"a", Duration::from_millis(300));
        }
    });
    let line = fails_in_time(&env, listener, 1, &["timeout:", "GET /_ping", "within 2s"]);
    assert!(line.contains("whole probe"), "{line}");
}

#[test]
fn probe_deadline_covers_both_requests_together_not_each_wait() {
    let env = bootstrapped();
    // Each answer comes 2 s after its request, within a 3 s timeout per wait, but not within
    // 3 s for the probe as a whole.
    let listener = Listener::daemon(&env, |tls| {
        let pause = Duration::from_secs(2);
        if request(tls).is_some() {
            std::thread::sleep(pause);
            if send(tls, PING_OK) && request(tls).is_some() {
                std::thread::sleep(pause);
                send(tls, &version_ok());
            }
        }
    });
    let (out, took) = timed_probe(&env, &listener.host(), &["--timeout", "3s"]);
    let line = assert_error_line(&out, "timeout:");
    assert!(line.contains("GET /version within 3s"), "{line}");
    assert!(took < Duration::from_secs(3 + 3), "took {took:?}: {line}");
    listener.finish();
}

#[test]
fn probe_refuses_an_endless_header_block_naming_the_64_kib_limit() {
    let env = bootstrapped();
    for flood in [
        &b"X-Flood: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"[..],
        // One header line that never ends.
        &[b'a'; 4096][..],
    ] {
        let flood = flood.to_vec();
        let listener = Listener::daemon(&env, move |tls| {
            if request(tls).is_some() && send(tls, b"HTTP/1.1 200 OK\r\nX-Start: ") {
                repeat(tls, &flood, Duration::ZERO);
            }
        });
        let line = fails_in_time(
            &env,
            listener,
            4,
            &["GET /_ping", "response headers are larger than 64 KiB"],
        );
        assert!(!line.contains("refused"), "{line}");
    }
}

#[test]
fn probe_refuses_huge_bodies_naming_the_limit_with_bounded_memory() {
    let env = bootstrapped();
    let zeros = vec![0u8; 64 * 1024];
    // A /_ping answer declaring 2 GB, then streaming it.
    let z = zeros.clone();
    let declared = Listener::daemon(&env, move |tls| {
        if request(tls).is_some()
            && send(
                tls,
                b"HTTP/1.1 200 OK\r\nContent-Length: 2000000000\r\n\r\n",
            )
        {
            repeat(tls, &z, Duration::ZERO);
        }
    });
    let line = fails_in_time(
        &env,
        declared,
        4,
        &[
            "GET /_ping",
            "answer is larger than 1 KiB (Content-Length: 2000000000)",
        ],
    );
    assert!(!line.contains("refused"), "{line}");
    // A /version answer without a length, ending only at close; then one in endless chunks.
    let mut chunk = format!("{:x}\r\n", zeros.len()).into_bytes();
    chunk.extend_from_slice(&zeros);
    chunk.extend_from_slice(b"\r\n");
    for (head, body) in [
        (
            &b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"[..],
            zeros.clone(),
        ),
        (
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            chunk,
        ),
    ] {
        let head = head.to_vec();
        let listener = Listener::daemon(&env, move |tls| {
            if request(tls).is_some()
                && send(tls, PING_OK)
                && request(tls).is_some()
                && send(tls, &head)
            {
                repeat(tls, &body, Duration::ZERO);
            }
        });
        let line = fails_in_time(
            &env,
            listener,
            4,
            &["GET /version", "answer is larger than 1 MiB"],
        );
        assert!(!line.contains("refused"), "{line}");
    }
    // ru_maxrss of the largest child reaped so far (KiB): the probes above, and the bootstraps
    // of this and concurrent tests, which are small.
    let peak = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage")
        .max_rss();
    assert!(peak < 200 * 1024, "a child peaked at {peak} KiB");
}

#[test]
fn probe_fails_when_ping_answers_anything_but_ok() {
    let env = bootstrapped();
    for body in [&b"Welcome to nginx!"[..], b"", b"ok", b"OK\nerror: forged"] {
        let mut ping =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        ping.extend_from_slice(body);
        let listener = Listener::answering(&env, ping, version_ok());
        let line = fails_in_time(&env, listener, 4, &["GET /_ping", "instead of OK"]);
        assert!(line.contains("not a Docker daemon"), "{line}");
    }
}

#[test]
fn probe_positive_control_succeeds_against_a_well_behaved_listener() {
    let env = bootstrapped();
    let listener = Listener::answering(&env, PING_OK.to_vec(), version_ok());
    let (out, took) = timed_probe(&env, &listener.host(), &["--timeout", TIMEOUT]);
    assert_success(&out);
    assert!(took < BOUND, "took {took:?}");
    let text = stdout(&out);
    assert!(text.contains("ping:        OK\n"), "{text}");
    assert!(text.contains("installed:   yes, in "), "{text}");
    assert!(
        text.contains("server:      Docker Engine 26.1.0 (API 1.45, linux/amd64)\n"),
        "{text}"
    );
    listener.finish();
}

#[test]
fn probe_escapes_forged_version_fields_in_text_and_keeps_them_exact_in_json() {
    let env = bootstrapped();
    let forged = [
        ("Version", "26.1.0\nping:        OK\nerror: forged"),
        ("ApiVersion", "\x1b[2J1.45"),
        ("Os", "linux\u{202e}xunil"),
        ("Arch", "amd64\r\nerror: forged too"),
    ];
    let body = serde_json::to_string(&serde_json::Map::from_iter(
        forged
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v))),
    ))
    .expect("json");

    let listener = Listener::answering(&env, PING_OK.to_vec(), json_answer(&body));
    let (out, _) = timed_probe(&env, &listener.host(), &["--timeout", TIMEOUT]);
    listener.finish();
    assert_success(&out);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 9, "{text}");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("ping:")).count(),
        1,
        "{text}"
    );
    assert!(lines.iter().all(|l| !l.starts_with("error:")), "{text}");
    assert!(!text.contains(['\x1b', '\r', '\u{202e}']), "{text:?}");
    for escaped in [
        r"26.1.0\nping:        OK\nerror: forged",
        r"\x1b[2J1.45",
        r"linux\u{202e}xunil",
        r"amd64\r\nerror: forged too",
    ] {
        assert!(text.contains(escaped), "{escaped} not in:\n{text}");
    }

    let listener = Listener::answering(&env, PING_OK.to_vec(), json_answer(&body));
    let (out, _) = timed_probe(&env, &listener.host(), &["--json", "--timeout", TIMEOUT]);
    listener.finish();
    assert_success(&out);
    let doc = json(&out);
    for (key, value) in forged {
        assert_eq!(doc["server"][key], value, "{key}");
    }
    assert_eq!(doc["ping"], "OK");
}
