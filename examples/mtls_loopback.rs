//! Mutual TLS over loopback with dockpki's certificates and rustls configurations: a CA, a
//! server certificate and a client certificate; a rustls server on 127.0.0.1 (a free port) in a
//! thread, configured like dockerd with `--tlsverify`; a client that presents its certificate
//! and exchanges a few bytes; and a client without a certificate, which the server refuses.
//!
//! `cargo run -p dockpki --example mtls_loopback`
//!
//! Every outcome is checked: the program exits 0 only when the authorised client's bytes come
//! back and the server saw its certificate, and the client without a certificate is refused by
//! the server (for the reason that it had none). Anything else exits non-zero. Only loopback
//! traffic; no file is written.

use std::error::Error;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use dockpki::rustls::pki_types::{CertificateDer, ServerName};
use dockpki::rustls::{self, ClientConfig, ClientConnection, ServerConfig, ServerConnection};
use dockpki::tls::{self, ClientAuth};
use dockpki::{
    CaOptions, CertificateAuthority, ClientRequest, KeyType, OffsetDateTime, PrivateKey, SanList,
    ServerRequest,
};

/// How long any socket operation may take before the example gives up (and fails).
const TIMEOUT: Duration = Duration::from_secs(10);

const REQUEST: &[u8] = b"GET /_ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
const REPLY: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK";

fn main() -> Result<(), Box<dyn Error>> {
    let now = OffsetDateTime::now_utc();
    let ca = CertificateAuthority::create(&CaOptions::new(now)?, now)?;
    let server = ca.issue_server(
        &ServerRequest {
            sans: SanList::parse(["localhost", "127.0.0.1"])?,
            common_name: None,
            lifetime: "1d".parse()?,
        },
        PrivateKey::generate(KeyType::EcdsaP256)?,
        now,
    )?;
    let client = ca.issue_client(
        &ClientRequest {
            common_name: "loopback-client".parse()?,
            lifetime: "1d".parse()?,
        },
        PrivateKey::generate(KeyType::EcdsaP256)?,
        now,
    )?;
    let roots = [ca.cert_der().clone()];

    // The server: like dockerd --tlsverify, a client certificate from this CA is required.
    let server_config = Arc::new(tls::server_config(&roots, &server)?);
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let addr = listener.local_addr()?;
    let (outcomes, served) = mpsc::channel();
    let server_thread = thread::spawn(move || {
        // Exactly the two connections below; each outcome goes back to main to be checked.
        for _ in 0..2 {
            let outcome = listener
                .accept()
                .and_then(|(sock, _)| serve(sock, server_config.clone()));
            if outcomes.send(outcome).is_err() {
                return;
            }
        }
    });

    // 1. A client presenting its certificate: the bytes go through both ways.
    let with_cert = Arc::new(tls::client_config(&roots, ClientAuth::Cert(&client))?);
    let reply = exchange(addr, with_cert, REQUEST)?;
    check(
        reply == REPLY,
        format!(
            "the client got {:?} instead of the server's reply",
            String::from_utf8_lossy(&reply)
        ),
    )?;
    let seen = served.recv_timeout(TIMEOUT)??;
    check(
        seen.as_ref() == Some(&client.cert),
        "the server did not see the client's certificate".into(),
    )?;
    println!("ok: mutual TLS with a client certificate; request and reply exchanged");

    // 2. A client without a certificate: the server refuses the handshake.
    let anonymous = Arc::new(tls::client_config(&roots, ClientAuth::None)?);
    let client_side = exchange(addr, anonymous, REQUEST);
    check(
        client_side.is_err(),
        "a client without a certificate got a reply".into(),
    )?;
    let server_side = served.recv_timeout(TIMEOUT)?;
    let reason = server_side
        .as_ref()
        .err()
        .and_then(|e| e.get_ref())
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    check(
        reason == Some(&rustls::Error::NoCertificatesPresented),
        format!("the server should refuse for want of a certificate, but: {server_side:?}"),
    )?;
    println!(
        "ok: a client without a certificate is refused (server: {}; client: {})",
        rustls::Error::NoCertificatesPresented,
        client_side
            .err()
            .map_or_else(String::new, |e| e.to_string())
    );

    server_thread
        .join()
        .map_err(|_| "the server thread panicked")?;
    Ok(())
}

/// Serves one connection: completes the handshake, reads the request, sends the reply and
/// closes. Returns the certificate the client presented.
fn serve(
    sock: TcpStream,
    config: Arc<ServerConfig>,
) -> io::Result<Option<CertificateDer<'static>>> {
    sock.set_read_timeout(Some(TIMEOUT))?;
    sock.set_write_timeout(Some(TIMEOUT))?;
    let conn = ServerConnection::new(config).map_err(io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    // The handshake first, on its own, so that its refusal is what this returns.
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    let peer = tls
        .conn
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|c| c.clone().into_owned());
    let mut request = vec![0u8; REQUEST.len()];
    tls.read_exact(&mut request)?;
    if request != REQUEST {
        return Err(io::Error::other("unexpected request"));
    }
    tls.write_all(REPLY)?;
    tls.conn.send_close_notify();
    tls.flush()?;
    Ok(peer)
}

/// Connects to `addr` as 127.0.0.1 (a SAN of the server certificate), sends `request` and
/// returns everything the server sends back until it closes.
fn exchange(addr: SocketAddr, config: Arc<ClientConfig>, request: &[u8]) -> io::Result<Vec<u8>> {
    let sock = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    sock.set_read_timeout(Some(TIMEOUT))?;
    sock.set_write_timeout(Some(TIMEOUT))?;
    let name = ServerName::IpAddress(addr.ip().into());
    let conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    tls.write_all(request)?;
    tls.flush()?;
    let mut reply = Vec::new();
    tls.read_to_end(&mut reply)?;
    Ok(reply)
}

/// Turns a failed expectation into the error `main` exits with.
fn check(ok: bool, failure: String) -> Result<(), Box<dyn Error>> {
    if ok {
        Ok(())
    } else {
        Err(failure.into())
    }
}
