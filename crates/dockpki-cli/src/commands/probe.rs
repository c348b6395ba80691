//! `dockpki probe tcp://HOST:PORT`: what a daemon really serves, seen through the client layout
//! exactly as `docker --tlsverify` would use it, with a precise diagnosis when it fails.
//!
//! Blocking std I/O and rustls only: one connection, two HTTP/1.1 requests, no runtime.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    AlertDescription, CertificateError, ClientConnection, DigitallySignedStruct, StreamOwned,
};
use serde::Serialize;
use serde_json::Value;

use super::Context;
use crate::cli::ProbeArgs;
use crate::endpoint::TcpEndpoint;
use crate::error::{CliError, CliResult, EXIT_FAILURE, EXIT_OK};
use crate::inventory::{Inventory, Status};
use crate::output::print_json;
use crate::paths::{absolute, ClientUser};
use crate::reader::{self, Limit, Links};

/// The served certificate, as far as a probe reports it.
#[derive(Debug, Serialize)]
struct Served {
    subject: String,
    issuer: String,
    sans: Vec<String>,
    serial: String,
    #[serde(with = "time::serde::rfc3339")]
    not_after: time::OffsetDateTime,
    sha256: String,
}

/// Whether the served certificate is the one installed for the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Installed {
    /// It is the certificate file of a daemon layout in the inventory.
    Yes,
    /// The inventory knows it, but a daemon layout now holds another one: dockerd was not
    /// restarted after a renewal or rotation (it reads certificates only at start).
    Drift,
    /// Not a certificate of this state's inventory (no state, or another CA's daemon).
    Unknown,
}

#[derive(Debug, Serialize)]
struct Report {
    ok: bool,
    host: String,
    address: SocketAddr,
    tls_version: String,
    cipher_suite: String,
    certificate: Served,
    installed: Installed,
    /// Daemon layouts holding (or, on drift, meant to hold) the served certificate.
    daemon_dirs: Vec<PathBuf>,
    ping: String,
    server: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

/// `dockpki probe`.
pub fn run(ctx: &Context, args: &ProbeArgs) -> CliResult<i32> {
    let endpoint: TcpEndpoint = args.host.parse()?;
    let timeout = parse_timeout(&args.timeout)?;
    let client_dir = match &args.client_dir {
        Some(dir) => absolute(dir)?,
        None => ClientUser::detect().docker_dir()?,
    };
    let recorder = Arc::new(RecordingVerifier::new(&client_dir)?);
    let config = client_config(&client_dir, recorder.clone())?;
    let (sock, address) = connect(&endpoint, timeout)?;
    let server_name = ServerName::try_from(endpoint.host.clone()).map_err(|_| {
        CliError::new(format!(
            "{:?} is neither a DNS name nor an IP address; give tcp://HOST:PORT",
            endpoint.host
        ))
    })?;
    let conn = ClientConnection::new(Arc::new(config), server_name)
        .map_err(|e| CliError::new(format!("cannot start TLS: {e}")))?;
    let mut tls = StreamOwned::new(conn, Wire::new(sock));
    let diagnose = |e: std::io::Error, wire: &Wire, during: Phase| {
        diagnose(
            e,
            wire,
            during,
            &endpoint,
            address,
            timeout,
            &client_dir,
            &recorder,
        )
    };
    while tls.conn.is_handshaking() {
        if let Err(e) = tls.conn.complete_io(&mut tls.sock) {
            return Err(diagnose(e, &tls.sock, Phase::Handshake));
        }
    }
    let tls_version = tls
        .conn
        .protocol_version()
        .map(|v| match v {
            rustls::ProtocolVersion::TLSv1_3 => "TLS 1.3".to_string(),
            rustls::ProtocolVersion::TLSv1_2 => "TLS 1.2".to_string(),
            other => format!("{other:?}"),
        })
        .unwrap_or_default();
    let cipher_suite = tls
        .conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_default();
    let served_der = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .cloned()
        .ok_or_else(|| CliError::new("the daemon presented no certificate"))?;

    // With TLS 1.3 the daemon checks the client certificate after the client's last handshake
    // message, so a refusal arrives as an alert on the first read: the requests are part of
    // the diagnosis, not an afterthought.
    let mut reader = BufReader::new(tls);
    let host_header = endpoint.host.clone();
    let ping = http_get(&mut reader, &host_header, "/_ping", false).map_err(|e| match e {
        HttpError::Io(e) => {
            let phase = Phase::FirstRead;
            diagnose(e, &reader.get_ref().sock, phase)
        }
        HttpError::Protocol(m) => CliError::new(format!("GET /_ping on {address}: {m}")),
    })?;
    let version = http_get(&mut reader, &host_header, "/version", true).map_err(|e| match e {
        HttpError::Io(e) => CliError::new(format!("GET /version on {address} failed: {e}")),
        HttpError::Protocol(m) => CliError::new(format!("GET /version on {address}: {m}")),
    })?;
    let server: Value = serde_json::from_slice(&version).map_err(|e| {
        CliError::new(format!(
            "GET /version on {address} did not return JSON ({e}); is this a Docker daemon?"
        ))
    })?;

    let info = dockpki::inspect(&served_der)?;
    let (installed, daemon_dirs) = installed(ctx, &info.sha256_fingerprint);
    let problem = (installed == Installed::Drift).then(|| {
        format!(
            "served certificate is not the installed one: restart dockerd using {} (it reads certificates only at start)",
            join(&daemon_dirs)
        )
    });
    let report = Report {
        ok: problem.is_none(),
        host: endpoint.to_string(),
        address,
        tls_version,
        cipher_suite,
        certificate: Served {
            subject: info.subject.clone(),
            issuer: info.issuer.clone(),
            sans: info.san_strings(),
            serial: info.serial.clone(),
            not_after: info.not_after,
            sha256: info.sha256_fingerprint.clone(),
        },
        installed,
        daemon_dirs,
        ping: String::from_utf8_lossy(&ping).trim().to_string(),
        server,
        problem,
    };
    if ctx.out.json {
        print_json(&report);
    } else {
        print_report(&report);
    }
    match &report.problem {
        Some(p) => {
            eprintln!("error: {p}");
            Ok(EXIT_FAILURE)
        }
        None => Ok(EXIT_OK),
    }
}

fn print_report(r: &Report) {
    let s = |k: &str| r.server.get(k).and_then(Value::as_str).unwrap_or("?");
    println!("daemon:      {} ({})", r.host, r.address);
    println!("tls:         {}, {}", r.tls_version, r.cipher_suite);
    println!(
        "certificate: {}, issued by {}",
        r.certificate.subject, r.certificate.issuer
    );
    println!("sans:        {}", r.certificate.sans.join(", "));
    println!(
        "expires:     {}",
        dockpki::format_time(r.certificate.not_after)
    );
    println!("sha256:      {}", r.certificate.sha256);
    println!(
        "installed:   {}",
        match r.installed {
            Installed::Yes => format!("yes, in {}", join(&r.daemon_dirs)),
            Installed::Drift => format!(
                "NO: a newer certificate is installed in {}",
                join(&r.daemon_dirs)
            ),
            Installed::Unknown =>
                "unknown (not a certificate of this state's inventory)".to_string(),
        }
    );
    println!("ping:        {}", r.ping);
    println!(
        "server:      Docker Engine {} (API {}, {}/{})",
        s("Version"),
        s("ApiVersion"),
        s("Os"),
        s("Arch")
    );
}

fn join(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Compares the served certificate with the daemon layouts of the inventory. Without a state
/// (a client-only machine) there is nothing to compare with, which is not an error.
fn installed(ctx: &Context, served_sha256: &str) -> (Installed, Vec<PathBuf>) {
    let Some(inventory) = ctx
        .state_dir()
        .ok()
        .map(|d| d.join("inventory.json"))
        .and_then(|p| {
            reader::read(&p, Links::Refuse, Limit::Inventory)
                .ok()
                .map(|b| (p, b))
        })
        .and_then(|(p, b)| Inventory::parse(&p, &b).ok())
    else {
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
        .filter(|dir| installed_fingerprint(dir).as_deref() == Some(served_sha256))
        .cloned()
        .collect();
    if !holding.is_empty() {
        return (Installed::Yes, holding);
    }
    match servers().find(|r| r.sha256 == served_sha256) {
        Some(r) => (Installed::Drift, r.installed.clone()),
        None => (Installed::Unknown, Vec::new()),
    }
}

fn installed_fingerprint(dir: &Path) -> Option<String> {
    let pem = reader::read(&dir.join("server-cert.pem"), Links::Follow, Limit::Pem).ok()?;
    let der = dockpki::certs_from_pem(&pem).ok()?.into_iter().next()?;
    Some(dockpki::inspect(&der).ok()?.sha256_fingerprint)
}

/// `5s`, `500ms`, `2m`, or plain seconds.
fn parse_timeout(s: &str) -> CliResult<Duration> {
    let bad = || {
        CliError::new(format!(
            "the timeout {s:?} is not a duration; give e.g. 5s, 500ms or 1m"
        ))
    };
    let (digits, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, ""), |i| s.split_at(i));
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let d = match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        _ => return Err(bad()),
    };
    if d.is_zero() {
        return Err(bad());
    }
    Ok(d)
}

fn connect(endpoint: &TcpEndpoint, timeout: Duration) -> CliResult<(TcpStream, SocketAddr)> {
    let addrs: Vec<SocketAddr> = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .map_err(|e| {
            CliError::new(format!(
                "cannot resolve {}: {e}; check the name (or use the IP address)",
                endpoint.host
            ))
        })?
        .collect();
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(sock) => {
                let io = |e| CliError::new(format!("cannot set timeouts on {addr}: {e}"));
                sock.set_read_timeout(Some(timeout)).map_err(io)?;
                sock.set_write_timeout(Some(timeout)).map_err(io)?;
                return Ok((sock, *addr));
            }
            Err(e) => last = Some((*addr, e)),
        }
    }
    let Some((addr, e)) = last else {
        return Err(CliError::new(format!(
            "{} resolves to no address; check the name",
            endpoint.host
        )));
    };
    Err(CliError::new(match e.kind() {
        std::io::ErrorKind::ConnectionRefused => format!(
            "connection refused by {addr}: nothing listens on port {}; start dockerd with -H {endpoint} (\"hosts\" in daemon.json) or check the port",
            endpoint.port
        ),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => format!(
            "timeout: no answer from {addr} within {timeout:?}; check the address and that no firewall drops port {}",
            endpoint.port
        ),
        _ => format!("cannot connect to {addr}: {e}; check the address and the network"),
    }))
}

/// The client configuration of `dockpki::tls::client_config` (the client layout's CA bundle,
/// certificate and key), with the server check wrapped so that the certificate the daemon
/// presented is known even when it is refused.
fn client_config(dir: &Path, verifier: Arc<RecordingVerifier>) -> CliResult<rustls::ClientConfig> {
    let (ca, chain, key) = load_layout(dir)?;
    let mut config = dockpki::tls::client_config(&ca, chain, &key)
        .map_err(|e| CliError::from(e).context(format!("the client layout {}", dir.display())))?;
    config.dangerous().set_certificate_verifier(verifier);
    Ok(config)
}

/// A client layout's CA bundle, certificate chain and key.
type ClientFiles = (
    Vec<CertificateDer<'static>>,
    Vec<CertificateDer<'static>>,
    dockpki::PrivateKey,
);

fn load_layout(dir: &Path) -> CliResult<ClientFiles> {
    let certs = |name: &str| -> CliResult<Vec<CertificateDer<'static>>> {
        let path = dir.join(name);
        dockpki::certs_from_pem(&reader::read(&path, Links::Follow, Limit::Pem)?)
            .map_err(|e| CliError::from(e).context(path.display()))
    };
    let (ca, chain) = (certs("ca.pem")?, certs("cert.pem")?);
    let key_path = dir.join("key.pem");
    let key = dockpki::PrivateKey::from_pem(&reader::read(&key_path, Links::Follow, Limit::Pem)?)
        .map_err(|e| CliError::from(e).context(key_path.display()))?;
    Ok((ca, chain, key))
}

/// rustls' WebPKI server verifier (the same checks as the docker CLI's Go verifier: chain to
/// `ca.pem`, serverAuth, SAN for the dialled name or address, validity), remembering the
/// certificate it was shown.
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Option<CertificateDer<'static>>>,
}

impl RecordingVerifier {
    fn new(dir: &Path) -> CliResult<RecordingVerifier> {
        let (ca, _, _) = load_layout(dir)?;
        let mut roots = rustls::RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(ca);
        if added == 0 {
            return Err(CliError::new(format!(
                "{} holds no usable CA certificate; copy the daemon's ca.pem there",
                dir.join("ca.pem").display()
            )));
        }
        let inner = WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            dockpki::tls::provider().clone(),
        )
        .build()
        .map_err(|e| CliError::new(format!("cannot build the server verifier: {e}")))?;
        Ok(RecordingVerifier {
            inner,
            seen: Mutex::new(None),
        })
    }

    fn seen(&self) -> Option<CertificateDer<'static>> {
        self.seen.lock().ok().and_then(|s| s.clone())
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(end_entity.clone().into_owned());
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The TCP stream, remembering the first bytes the peer sent: a plain-HTTP listener answers a
/// ClientHello with `HTTP/1.x 400`, which TLS can only call a corrupt record.
struct Wire {
    sock: TcpStream,
    head: Vec<u8>,
}

impl Wire {
    const KEEP: usize = 64;

    fn new(sock: TcpStream) -> Wire {
        Wire {
            sock,
            head: Vec::new(),
        }
    }
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.sock.read(buf)?;
        let room = Self::KEEP.saturating_sub(self.head.len()).min(n);
        self.head.extend_from_slice(&buf[..room]);
        Ok(n)
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.sock.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.sock.flush()
    }
}

/// When a failure happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// During the TLS handshake.
    Handshake,
    /// On the first read after it (where TLS 1.3 reports a refused client certificate).
    FirstRead,
}

/// Turns an I/O or TLS failure into a one-line diagnosis with the fix.
#[allow(clippy::too_many_arguments)]
fn diagnose(
    e: std::io::Error,
    wire: &Wire,
    phase: Phase,
    endpoint: &TcpEndpoint,
    address: SocketAddr,
    timeout: Duration,
    client_dir: &Path,
    recorder: &RecordingVerifier,
) -> CliError {
    if wire.head.starts_with(b"HTTP/") {
        let line = String::from_utf8_lossy(&wire.head);
        let line = line.lines().next().unwrap_or_default();
        return CliError::new(format!(
            "{address} answered the TLS handshake with plain HTTP ({line:?}): this listener does not speak TLS; start dockerd with --tlsverify --tlscacert/--tlscert/--tlskey (\"tls*\" keys in daemon.json) on this port"
        ));
    }
    let served = || recorder.seen().and_then(|der| dockpki::inspect(&der).ok());
    let ca_file = client_dir.join("ca.pem");
    let cert_file = client_dir.join("cert.pem");
    if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return CliError::new(match tls {
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
                "unknown CA: the daemon's certificate{} is not signed by a CA in {}; put the daemon's CA in that ca.pem, or give the daemon a certificate from this CA (dockpki issue server) and restart it",
                served().map(|i| format!(" ({}, issued by {})", i.subject, i.issuer)).unwrap_or_default(),
                ca_file.display()
            ),
            rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            ) => format!(
                "the daemon's certificate does not cover {:?}: its SANs are [{}]; re-issue it with every name and address clients dial (dockpki issue server --san {} ... --force) and restart dockerd",
                endpoint.host,
                served().map(|i| i.san_strings().join(", ")).unwrap_or_default(),
                endpoint.host
            ),
            rustls::Error::InvalidCertificate(
                CertificateError::Expired | CertificateError::ExpiredContext { .. },
            ) => format!(
                "the daemon's certificate has expired{}; renew it (dockpki renew) and restart dockerd",
                served().map(|i| format!(" ({})", dockpki::format_time(i.not_after))).unwrap_or_default()
            ),
            rustls::Error::AlertReceived(
                alert @ (AlertDescription::BadCertificate
                | AlertDescription::CertificateRequired
                | AlertDescription::UnknownCA
                | AlertDescription::CertificateUnknown
                | AlertDescription::UnsupportedCertificate
                | AlertDescription::CertificateExpired
                | AlertDescription::CertificateRevoked
                | AlertDescription::AccessDenied),
            ) => format!(
                "the daemon refused the client certificate {} (TLS alert {alert:?}): it is not signed by a CA the daemon trusts, or has expired; issue one from the daemon's CA (dockpki issue client) or add its CA to the daemon's ca.pem and restart dockerd",
                cert_file.display()
            ),
            other => format!("TLS with {address} failed: {other}; check that {endpoint} is dockerd's TLS port"),
        });
    }
    CliError::new(match (e.kind(), phase) {
        (std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock, Phase::Handshake) => format!(
            "timeout: {address} accepted the connection but sent no TLS answer within {timeout:?}; check that {endpoint} is dockerd's TLS port and that dockerd is not hung"
        ),
        (std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock, Phase::FirstRead) => format!(
            "timeout: {address} completed the TLS handshake but did not answer GET /_ping within {timeout:?}"
        ),
        (
            std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::BrokenPipe,
            Phase::FirstRead,
        ) => format!(
            "{address} closed the connection right after the TLS handshake, which is how a daemon refuses a client certificate ({}) without saying why; check that it comes from a CA in the daemon's ca.pem",
            cert_file.display()
        ),
        (
            std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::BrokenPipe,
            Phase::Handshake,
        ) => format!(
            "{address} closed the connection during the TLS handshake: it is not a TLS listener, or refused this client; check that {endpoint} is dockerd's TLS port"
        ),
        _ => format!("talking to {address} failed: {e}"),
    })
}

/// An HTTP exchange failure: the connection, or what came back.
enum HttpError {
    Io(std::io::Error),
    Protocol(String),
}

impl From<std::io::Error> for HttpError {
    fn from(e: std::io::Error) -> Self {
        HttpError::Io(e)
    }
}

/// One `GET path` over an HTTP/1.1 connection; the body of a 200 response (Content-Length,
/// chunked, or until close).
fn http_get<S: Read + Write>(
    reader: &mut BufReader<S>,
    host: &str,
    path: &str,
    close: bool,
) -> Result<Vec<u8>, HttpError> {
    let connection = if close { "close" } else { "keep-alive" };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: dockpki-probe\r\nConnection: {connection}\r\n\r\n"
    );
    let stream = reader.get_mut();
    stream.write_all(request.as_bytes())?;
    stream.flush()?;
    let mut status_line = String::new();
    if reader.read_line(&mut status_line)? == 0 {
        return Err(HttpError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    let status = status_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let mut length: Option<usize> = None;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(HttpError::Protocol(
                "the response ended inside its headers".into(),
            ));
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| HttpError::Protocol("bad chunk size".into()))?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        reader.read_exact(&mut body)?;
    } else {
        reader.read_to_end(&mut body)?;
    }
    if status != "200" {
        return Err(HttpError::Protocol(format!(
            "the daemon answered {:?}: {}",
            status_line.trim(),
            String::from_utf8_lossy(&body).trim()
        )));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_take_seconds_milliseconds_and_minutes_but_not_zero_or_words() {
        assert_eq!(parse_timeout("5s").ok(), Some(Duration::from_secs(5)));
        assert_eq!(parse_timeout("7").ok(), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_timeout("250ms").ok(),
            Some(Duration::from_millis(250))
        );
        assert_eq!(parse_timeout("2m").ok(), Some(Duration::from_secs(120)));
        for bad in ["", "0s", "s", "5h", "five", "-1s"] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn http_get_reads_content_length_and_chunked_bodies() {
        struct Canned(std::io::Cursor<Vec<u8>>, Vec<u8>);
        impl Read for Canned {
            fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
                self.0.read(b)
            }
        }
        impl Write for Canned {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.1.extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK\
HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n3\r\n\":1\r\n1\r\n}\r\n0\r\n\r\n\
HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope";
        let mut r = BufReader::new(Canned(std::io::Cursor::new(wire.to_vec()), Vec::new()));
        assert_eq!(
            http_get(&mut r, "h", "/_ping", false).ok(),
            Some(b"OK".to_vec())
        );
        assert_eq!(
            http_get(&mut r, "h", "/version", false).ok(),
            Some(b"{\"a\":1}".to_vec())
        );
        assert!(matches!(
            http_get(&mut r, "h", "/x", true),
            Err(HttpError::Protocol(m)) if m.contains("404")
        ));
        let sent = String::from_utf8(r.get_ref().1.clone()).expect("utf-8");
        assert!(
            sent.starts_with("GET /_ping HTTP/1.1\r\nHost: h\r\n"),
            "{sent}"
        );
    }
}
