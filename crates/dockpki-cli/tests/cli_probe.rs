//! `dockpki probe` against endpoints that are not a TLS daemon: each failure is diagnosed in one
//! line with exit 1 (the TLS and daemon cases run against a real dockerd in
//! `tests/e2e_dockerd.rs`).

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;

use common::{assert_error_line, json, Env};

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
    let line = assert_error_line(&out, "plain HTTP");
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
        &[&format!("tcp://127.0.0.1:{port}"), "--timeout", "300ms"],
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
        (vec!["127.0.0.1:2376"], "tcp://HOST:PORT"),
        (vec!["tcp://127.0.0.1"], "has no port"),
        (
            vec!["tcp://127.0.0.1:2376", "--timeout", "soon"],
            "not a duration",
        ),
        (
            vec!["tcp://127.0.0.1:2376", "--timeout", "0s"],
            "not a duration",
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
