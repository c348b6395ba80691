//! `dockpki probe tcp://HOST:PORT`: what a daemon really serves, seen through the client layout
//! exactly as `docker --tlsverify` would use it, with a precise diagnosis when it fails.
//!
//! Blocking std I/O and rustls only: one connection, two HTTP/1.1 requests, no runtime.
//!
//! The daemon is not trusted to be well-behaved: `--timeout` is one deadline for everything from
//! name resolution to the last byte of `/version`, and every part of an answer is size-capped, so
//! neither a slow nor a large answer can keep the probe running or fill memory.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

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
use crate::error::{CliError, CliResult, EXIT_FAILURE, EXIT_OK};
use crate::output::{escape, print_json, Untrusted};
use crate::paths::absolute;
use dockpki_provision::docker::endpoint::TcpEndpoint;
use dockpki_provision::fs::reader::{self, Limit, Links};
use dockpki_provision::store::inventory::{Inventory, Status};

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
    let deadline = Deadline::after(timeout);
    let client_dir = match &args.client_dir {
        Some(dir) => absolute(dir)?,
        None => ctx.user.clone().docker_dir()?,
    };
    let recorder = Arc::new(RecordingVerifier::new(&client_dir)?);
    let config = client_config(&client_dir, recorder.clone())?;
    let (sock, address) = connect(&endpoint, deadline)?;
    let server_name = ServerName::try_from(endpoint.host.clone()).map_err(|_| {
        CliError::new(format!(
            "{:?} is neither a DNS name nor an IP address; give tcp://HOST:PORT",
            endpoint.host
        ))
    })?;
    let conn = ClientConnection::new(Arc::new(config), server_name)
        .map_err(|e| CliError::new(format!("cannot start TLS: {e}")))?;
    let mut tls = StreamOwned::new(conn, Wire::new(sock, deadline));
    let diagnose = |e: io::Error, wire: &Wire, during: Phase| {
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
    let mut get = |path: &'static str, limit: usize, close: bool| {
        http_get(&mut reader, &host_header, path, limit, close).map_err(|e| match e {
            // Nothing of the answer arrived yet: the first read is where TLS 1.3 reports a
            // refused client certificate.
            HttpError::Io {
                error,
                answered: false,
            } if path == PING => diagnose(error, &reader.get_ref().sock, Phase::FirstRead),
            HttpError::Io { error, .. } => {
                diagnose(error, &reader.get_ref().sock, Phase::Answer(path))
            }
            HttpError::Protocol(m) => CliError::new(format!(
                "GET {path} on {address}: {m}; check that {endpoint} is dockerd's TLS port, not another service"
            )),
        })
    };
    let ping = get(PING, PING_LIMIT, false)?;
    // dockerd answers exactly `OK`; anything else is another service (or a proxy's error page
    // with status 200), which must not pass for a working daemon.
    if ping != b"OK" {
        return Err(CliError::new(format!(
            "GET {PING} on {address} answered {} instead of OK: this is not a Docker daemon; check that {endpoint} is dockerd's TLS port",
            quote(&ping)
        )));
    }
    let version = get(VERSION, VERSION_LIMIT, true)?;
    let server: Value = serde_json::from_slice(&version).map_err(|e| {
        CliError::new(format!(
            "GET {VERSION} on {address} did not return JSON ({e}); is this a Docker daemon?"
        ))
    })?;

    let info = dockpki::inspect(&served_der)?;
    let (installed, daemon_dirs) = installed(ctx, info.fingerprint());
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
        ping: String::from_utf8_lossy(&ping).into_owned(),
        server,
        problem,
    };
    if ctx.out.json {
        print_json(&report);
    } else {
        print!("{}", report_text(&report));
    }
    match &report.problem {
        Some(p) => {
            // The inventory's paths are read from a file: one line whatever they hold.
            eprintln!("error: {}", escape(p));
            Ok(EXIT_FAILURE)
        }
        None => Ok(EXIT_OK),
    }
}

/// The text report. Everything the daemon sent (certificate fields, `/_ping`, `/version`) and
/// every path read from the inventory goes through [`escape`]: a newline in a version string or
/// a certificate subject must not print a line that looks like `ping: OK` or `error: ...`, and
/// an escape sequence must not drive the terminal.
fn report_text(r: &Report) -> String {
    let s = |k: &str| Untrusted(r.server.get(k).and_then(Value::as_str).unwrap_or("?"));
    let installed = match r.installed {
        Installed::Yes => format!("yes, in {}", Untrusted(&join(&r.daemon_dirs))),
        Installed::Drift => format!(
            "NO: a newer certificate is installed in {}",
            Untrusted(&join(&r.daemon_dirs))
        ),
        Installed::Unknown => "unknown (not a certificate of this state's inventory)".to_string(),
    };
    [
        format!("daemon:      {} ({})", Untrusted(&r.host), r.address),
        format!(
            "tls:         {}, {}",
            Untrusted(&r.tls_version),
            Untrusted(&r.cipher_suite)
        ),
        format!(
            "certificate: {}, issued by {}",
            Untrusted(&r.certificate.subject),
            Untrusted(&r.certificate.issuer)
        ),
        format!("sans:        {}", Untrusted(&r.certificate.sans.join(", "))),
        format!(
            "expires:     {}",
            dockpki::format_time(r.certificate.not_after)
        ),
        format!("sha256:      {}", Untrusted(&r.certificate.sha256)),
        format!("installed:   {installed}"),
        format!("ping:        {}", Untrusted(&r.ping)),
        format!(
            "server:      Docker Engine {} (API {}, {}/{})",
            s("Version"),
            s("ApiVersion"),
            s("Os"),
            s("Arch")
        ),
    ]
    .iter()
    .map(|line| format!("{line}\n"))
    .collect()
}

fn join(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Compares the served certificate with the daemon layouts of the inventory. Without a state
/// (a client-only machine) there is nothing to compare with, which is not an error.
fn installed(ctx: &Context, served: dockpki::Fingerprint) -> (Installed, Vec<PathBuf>) {
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
        .filter(|dir| installed_fingerprint(dir) == Some(served))
        .cloned()
        .collect();
    if !holding.is_empty() {
        return (Installed::Yes, holding);
    }
    match servers().find(|r| served.matches(&r.sha256)) {
        Some(r) => (Installed::Drift, r.installed.clone()),
        None => (Installed::Unknown, Vec::new()),
    }
}

fn installed_fingerprint(dir: &Path) -> Option<dockpki::Fingerprint> {
    let pem = reader::read(&dir.join("server-cert.pem"), Links::Follow, Limit::Pem).ok()?;
    let der = dockpki::certs_from_pem(&pem).ok()?.into_iter().next()?;
    Some(dockpki::inspect(&der).ok()?.fingerprint())
}

/// `5s`, `500ms`, `2m`, or plain seconds; at most a day.
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
    // Keeps `now + timeout` far from overflowing; no probe needs to wait a day.
    if d > Duration::from_secs(24 * 60 * 60) {
        return Err(CliError::new(format!(
            "the timeout {s:?} is longer than a day; give e.g. 5s, 500ms or 1m"
        )));
    }
    Ok(d)
}

/// The end of the whole probe. Every blocking step (name resolution, connect, each socket read
/// and write) may only wait for the time left, so a peer that trickles one byte at a time
/// cannot stretch the probe beyond `--timeout`, as a timeout per read would let it.
#[derive(Clone, Copy, Debug)]
struct Deadline {
    end: Instant,
    /// `--timeout`, for messages.
    timeout: Duration,
}

impl Deadline {
    /// `timeout` from now (at most a day, see [`parse_timeout`]).
    fn after(timeout: Duration) -> Deadline {
        Deadline {
            end: Instant::now() + timeout,
            timeout,
        }
    }

    /// The time left, or a `TimedOut` error once there is none (a zero socket timeout would mean
    /// "wait forever").
    fn remaining(&self) -> io::Result<Duration> {
        let left = self.end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the probe's deadline has passed",
            ));
        }
        Ok(left)
    }
}

/// The addresses of `endpoint`, within the deadline. getaddrinfo has no timeout of its own, so it
/// runs in a thread that is abandoned when the deadline passes (the process ends right after).
fn resolve(endpoint: &TcpEndpoint, deadline: Deadline) -> CliResult<Vec<SocketAddr>> {
    let (host, port) = (endpoint.host.clone(), endpoint.port);
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("resolve".into())
        .spawn(move || {
            let addrs = (host.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect::<Vec<_>>);
            let _ = tx.send(addrs);
        })
        .map_err(|e| CliError::new(format!("cannot start name resolution: {e}")))?;
    let timed_out = || {
        CliError::new(format!(
            "timeout: cannot resolve {} within {:?}; check the name and the DNS server (or use the IP address)",
            endpoint.host, deadline.timeout
        ))
    };
    let left = deadline.remaining().map_err(|_| timed_out())?;
    match rx.recv_timeout(left) {
        Ok(Ok(addrs)) => Ok(addrs),
        Ok(Err(e)) => Err(CliError::new(format!(
            "cannot resolve {}: {e}; check the name (or use the IP address)",
            endpoint.host
        ))),
        Err(_) => Err(timed_out()),
    }
}

fn connect(endpoint: &TcpEndpoint, deadline: Deadline) -> CliResult<(TcpStream, SocketAddr)> {
    let addrs = resolve(endpoint, deadline)?;
    let mut last = None;
    for addr in &addrs {
        match deadline
            .remaining()
            .and_then(|left| TcpStream::connect_timeout(addr, left))
        {
            Ok(sock) => return Ok((sock, *addr)),
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
        io::ErrorKind::ConnectionRefused => format!(
            "connection refused by {addr}: nothing listens on port {}; start dockerd with -H {endpoint} (\"hosts\" in daemon.json) or check the port",
            endpoint.port
        ),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => format!(
            "timeout: no answer from {addr} within {:?}; check the address and that no firewall drops port {}",
            deadline.timeout, endpoint.port
        ),
        _ => format!("cannot connect to {addr}: {e}; check the address and the network"),
    }))
}

/// The client configuration of `dockpki::tls::client_config` (the client layout's CA bundle,
/// certificate and key), with the server check wrapped so that the certificate the daemon
/// presented is known even when it is refused.
fn client_config(dir: &Path, verifier: Arc<RecordingVerifier>) -> CliResult<rustls::ClientConfig> {
    let (ca, chain, key) = load_layout(dir)?;
    let mut config = dockpki::tls::client_config(
        &ca,
        dockpki::tls::ClientAuth::Chain {
            chain: &chain,
            key: &key,
        },
    )
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

/// The TCP stream, remembering the first bytes the peer sent (a plain-HTTP listener answers a
/// ClientHello with `HTTP/1.x 400`, which TLS can only call a corrupt record), and waiting in
/// each read and write only for the time left before the deadline.
struct Wire {
    sock: TcpStream,
    head: Vec<u8>,
    deadline: Deadline,
}

impl Wire {
    const KEEP: usize = 64;

    fn new(sock: TcpStream, deadline: Deadline) -> Wire {
        Wire {
            sock,
            head: Vec::new(),
            deadline,
        }
    }
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock
            .set_read_timeout(Some(self.deadline.remaining()?))?;
        let n = self.sock.read(buf)?;
        let room = Self::KEEP.saturating_sub(self.head.len()).min(n);
        self.head.extend_from_slice(&buf[..room]);
        Ok(n)
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock
            .set_write_timeout(Some(self.deadline.remaining()?))?;
        self.sock.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

/// When a failure happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// During the TLS handshake.
    Handshake,
    /// On the first read after it, before any of the answer to `/_ping` arrived (where TLS 1.3
    /// reports a refused client certificate).
    FirstRead,
    /// While waiting for, or reading, the answer to `GET path` (after `/_ping` began to arrive).
    Answer(&'static str),
}

/// Turns an I/O or TLS failure into a one-line diagnosis with the fix.
#[allow(clippy::too_many_arguments)]
fn diagnose(
    e: io::Error,
    wire: &Wire,
    phase: Phase,
    endpoint: &TcpEndpoint,
    address: SocketAddr,
    timeout: Duration,
    client_dir: &Path,
    recorder: &RecordingVerifier,
) -> CliError {
    if phase == Phase::Handshake && wire.head.starts_with(b"HTTP/") {
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
    use io::ErrorKind::{BrokenPipe, ConnectionReset, TimedOut, UnexpectedEof, WouldBlock};
    CliError::new(match (e.kind(), phase) {
        (TimedOut | WouldBlock, Phase::Handshake) if wire.head.is_empty() => format!(
            "timeout: {address} accepted the connection but sent no TLS answer within {timeout:?}; check that {endpoint} is dockerd's TLS port and that dockerd is not hung"
        ),
        (TimedOut | WouldBlock, Phase::Handshake) => format!(
            "timeout: {address} did not finish the TLS handshake within {timeout:?} (the deadline for the whole probe); check that {endpoint} is dockerd's TLS port and that dockerd is not hung"
        ),
        (TimedOut | WouldBlock, Phase::FirstRead) => format!(
            "timeout: {address} completed the TLS handshake but did not answer GET {PING} within {timeout:?} (the deadline for the whole probe); check that dockerd is not hung"
        ),
        (TimedOut | WouldBlock, Phase::Answer(path)) => format!(
            "timeout: {address} did not finish answering GET {path} within {timeout:?} (the deadline for the whole probe); check that dockerd is not hung and that nothing slow sits between (a proxy)"
        ),
        (UnexpectedEof | ConnectionReset | BrokenPipe, Phase::FirstRead) => format!(
            "{address} closed the connection right after the TLS handshake, which is how a daemon refuses a client certificate ({}) without saying why; check that it comes from a CA in the daemon's ca.pem",
            cert_file.display()
        ),
        (UnexpectedEof | ConnectionReset | BrokenPipe, Phase::Handshake) => format!(
            "{address} closed the connection during the TLS handshake: it is not a TLS listener, or refused this client; check that {endpoint} is dockerd's TLS port"
        ),
        (UnexpectedEof | ConnectionReset | BrokenPipe, Phase::Answer(path)) => format!(
            "{address} closed the connection before it finished answering GET {path}; check that {endpoint} is dockerd's TLS port and that dockerd is not restarting"
        ),
        _ => format!("talking to {address} failed: {e}"),
    })
}

/// The two requests, and how much of their answers a probe reads. dockerd's response headers
/// are a few hundred bytes, `/_ping` answers `OK` and `/version` under 1 KiB of JSON: anything far
/// larger is not a Docker daemon, and is refused rather than read into memory.
const PING: &str = "/_ping";
const VERSION: &str = "/version";
const HEADERS_LIMIT: usize = 64 * 1024;
const PING_LIMIT: usize = 1024;
const VERSION_LIMIT: usize = 1024 * 1024;

/// `n` bytes for messages: `64 KiB`, `1 MiB`, or bytes.
fn size(n: u64) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

/// Up to 100 characters of what the peer sent, quoted (control characters escaped), for
/// messages.
fn quote(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut short: String = text.chars().take(100).collect();
    if short.len() < text.len() {
        short.push_str("...");
    }
    format!("{short:?}")
}

/// An HTTP exchange failure: the connection, or what came back.
#[derive(Debug)]
enum HttpError {
    /// The connection failed or timed out; `answered` once part of the answer had arrived.
    Io { error: io::Error, answered: bool },
    /// The answer is not acceptable; the message says why.
    Protocol(String),
}

/// How the body of a response ends.
enum Framing {
    Length(u64),
    Chunked,
    Close,
}

/// One line of at most `budget` bytes (which it uses up), with its end of line; `None` at the
/// end of the stream.
fn read_line<R: BufRead>(
    reader: &mut R,
    budget: &mut usize,
    too_long: impl FnOnce() -> String,
) -> Result<Option<Vec<u8>>, HttpError> {
    let mut line = Vec::new();
    let read = reader
        .by_ref()
        .take(*budget as u64)
        .read_until(b'\n', &mut line)
        .map_err(|error| HttpError::Io {
            error,
            answered: true,
        })?;
    *budget -= read;
    if line.ends_with(b"\n") {
        Ok(Some(line))
    } else if *budget == 0 {
        Err(HttpError::Protocol(too_long()))
    } else if line.is_empty() {
        Ok(None)
    } else {
        Err(HttpError::Io {
            error: io::ErrorKind::UnexpectedEof.into(),
            answered: true,
        })
    }
}

/// One `GET path` over an HTTP/1.1 connection; the body of a 200 response (Content-Length,
/// chunked, or until close) of at most `limit` bytes. The status line and headers together may
/// hold at most [`HEADERS_LIMIT`] bytes.
fn http_get<S: Read + Write>(
    reader: &mut BufReader<S>,
    host: &str,
    path: &str,
    limit: usize,
    close: bool,
) -> Result<Vec<u8>, HttpError> {
    let connection = if close { "close" } else { "keep-alive" };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: dockpki-probe\r\nConnection: {connection}\r\n\r\n"
    );
    let stream = reader.get_mut();
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(|error| HttpError::Io {
            error,
            answered: false,
        })?;
    // Waiting for the first byte is "no answer yet": that is where a refused client certificate
    // shows, so it is told apart from a connection lost in the middle of an answer.
    reader.fill_buf().map_err(|error| HttpError::Io {
        error,
        answered: false,
    })?;
    let mut budget = HEADERS_LIMIT;
    let too_long = || {
        format!(
            "the daemon's response headers are larger than {}",
            size(HEADERS_LIMIT as u64)
        )
    };
    let Some(status_line) = read_line(reader, &mut budget, too_long)? else {
        return Err(HttpError::Io {
            error: io::ErrorKind::UnexpectedEof.into(),
            answered: false,
        });
    };
    let status_line = String::from_utf8_lossy(&status_line).trim_end().to_string();
    let mut words = status_line.split_whitespace();
    let (Some(http), Some(status)) = (words.next(), words.next()) else {
        return Err(HttpError::Protocol(format!(
            "the answer is not HTTP: {}",
            quote(status_line.as_bytes())
        )));
    };
    if !http.starts_with("HTTP/1.") {
        return Err(HttpError::Protocol(format!(
            "the answer is not HTTP/1.x: {}",
            quote(status_line.as_bytes())
        )));
    }
    let status = status.to_string();
    let mut framing = Framing::Close;
    loop {
        let Some(line) = read_line(reader, &mut budget, too_long)? else {
            return Err(HttpError::Protocol(
                "the response ended inside its headers".into(),
            ));
        };
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            // The last coding decides (RFC 9112 6.3); chunked wins over any Content-Length.
            let last = value.rsplit(',').next().unwrap_or_default().trim();
            framing = if last.eq_ignore_ascii_case("chunked") {
                Framing::Chunked
            } else {
                Framing::Close
            };
        } else if name.eq_ignore_ascii_case("content-length")
            && !matches!(framing, Framing::Chunked)
        {
            let n = value.parse().map_err(|_| {
                HttpError::Protocol(format!(
                    "the answer has an invalid Content-Length {}",
                    quote(value.as_bytes())
                ))
            })?;
            framing = Framing::Length(n);
        }
    }
    let body = read_body(reader, framing, limit)?;
    if status != "200" {
        return Err(HttpError::Protocol(format!(
            "the daemon answered {}: {}",
            quote(status_line.as_bytes()),
            quote(body.trim_ascii())
        )));
    }
    Ok(body)
}

/// A body of at most `limit` bytes. A declared length or chunk beyond it is refused before
/// anything of it is read; a body that ends at close is read up to one byte beyond the limit.
fn read_body<R: BufRead>(
    reader: &mut R,
    framing: Framing,
    limit: usize,
) -> Result<Vec<u8>, HttpError> {
    let too_large = |detail: String| {
        HttpError::Protocol(format!(
            "the daemon's answer is larger than {}{detail}",
            size(limit as u64)
        ))
    };
    let lost = |error| HttpError::Io {
        error,
        answered: true,
    };
    let mut body = Vec::new();
    match framing {
        Framing::Length(n) => {
            if n > limit as u64 {
                return Err(too_large(format!(" (Content-Length: {n})")));
            }
            reader
                .by_ref()
                .take(n)
                .read_to_end(&mut body)
                .map_err(lost)?;
            if (body.len() as u64) < n {
                return Err(lost(io::ErrorKind::UnexpectedEof.into()));
            }
        }
        Framing::Close => {
            reader
                .by_ref()
                .take(limit as u64 + 1)
                .read_to_end(&mut body)
                .map_err(lost)?;
            if body.len() > limit {
                return Err(too_large(String::new()));
            }
        }
        Framing::Chunked => loop {
            // Chunk-size lines and trailers share one budget: they are a few bytes each.
            let mut budget = HEADERS_LIMIT;
            let too_long = || {
                format!(
                    "the daemon's chunk headers are larger than {}",
                    size(HEADERS_LIMIT as u64)
                )
            };
            let line = read_line(reader, &mut budget, too_long)?
                .ok_or_else(|| lost(io::ErrorKind::UnexpectedEof.into()))?;
            let line = String::from_utf8_lossy(&line);
            let digits = line.trim().split(';').next().unwrap_or_default().trim();
            let n = u64::from_str_radix(digits, 16).map_err(|_| {
                HttpError::Protocol(format!("bad chunk size {}", quote(digits.as_bytes())))
            })?;
            if n == 0 {
                // Trailers, up to the blank line.
                loop {
                    match read_line(reader, &mut budget, too_long)? {
                        Some(l) if l.trim_ascii().is_empty() => break,
                        Some(_) => continue,
                        None => return Err(lost(io::ErrorKind::UnexpectedEof.into())),
                    }
                }
                break;
            }
            if n > (limit - body.len()) as u64 {
                return Err(too_large(String::from(" (in chunks)")));
            }
            let before = body.len();
            reader
                .by_ref()
                .take(n)
                .read_to_end(&mut body)
                .map_err(lost)?;
            if (body.len() - before) as u64 != n {
                return Err(lost(io::ErrorKind::UnexpectedEof.into()));
            }
            let mut crlf = [0; 2];
            reader.read_exact(&mut crlf).map_err(lost)?;
            if &crlf != b"\r\n" {
                return Err(HttpError::Protocol("a chunk does not end with CRLF".into()));
            }
        },
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
        assert_eq!(
            parse_timeout("1440m").ok(),
            Some(Duration::from_secs(86400))
        );
        for bad in [
            "",
            "0s",
            "s",
            "5h",
            "five",
            "-1s",
            "1441m",
            "99999999999999999m",
        ] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }

    /// A canned server answer; what the client sends is kept.
    struct Canned(io::Cursor<Vec<u8>>, Vec<u8>);

    impl Read for Canned {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            self.0.read(b)
        }
    }

    impl Write for Canned {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.1.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn canned(wire: &[u8]) -> BufReader<Canned> {
        BufReader::new(Canned(io::Cursor::new(wire.to_vec()), Vec::new()))
    }

    fn protocol_error(r: Result<Vec<u8>, HttpError>) -> String {
        match r {
            Err(HttpError::Protocol(m)) => m,
            other => panic!("expected a protocol error, got {other:?}"),
        }
    }

    #[test]
    fn http_get_reads_content_length_chunked_and_close_delimited_bodies() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK\
HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n3;ext=1\r\n\":1\r\n1\r\n}\r\n0\r\nX-Trailer: t\r\n\r\n\
HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope\
HTTP/1.0 200 OK\r\n\r\nuntil close";
        let mut r = canned(wire);
        assert_eq!(
            http_get(&mut r, "h", PING, PING_LIMIT, false).ok(),
            Some(b"OK".to_vec())
        );
        assert_eq!(
            http_get(&mut r, "h", VERSION, VERSION_LIMIT, false).ok(),
            Some(b"{\"a\":1}".to_vec())
        );
        assert!(protocol_error(http_get(&mut r, "h", "/x", 100, false)).contains("404"));
        assert_eq!(
            http_get(&mut r, "h", VERSION, VERSION_LIMIT, true).ok(),
            Some(b"until close".to_vec())
        );
        let sent = String::from_utf8(r.get_ref().1.clone()).expect("utf-8");
        assert!(
            sent.starts_with("GET /_ping HTTP/1.1\r\nHost: h\r\n"),
            "{sent}"
        );
    }

    #[test]
    fn http_get_refuses_a_declared_length_or_chunk_beyond_the_limit_before_reading_it() {
        // No body follows the headers: reading it would end in an I/O error, not the refusal.
        let m = protocol_error(http_get(
            &mut canned(b"HTTP/1.1 200 OK\r\nContent-Length: 2000000000\r\n\r\n"),
            "h",
            PING,
            PING_LIMIT,
            false,
        ));
        assert_eq!(
            m,
            "the daemon's answer is larger than 1 KiB (Content-Length: 2000000000)"
        );
        let m = protocol_error(http_get(
            &mut canned(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7fffffff\r\n"),
            "h",
            VERSION,
            VERSION_LIMIT,
            false,
        ));
        assert!(
            m.starts_with("the daemon's answer is larger than 1 MiB"),
            "{m}"
        );
        // Chunks that are each small but add up beyond the limit.
        let mut wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..3 {
            wire.extend_from_slice(b"200\r\n");
            wire.extend_from_slice(&[b'x'; 0x200]);
            wire.extend_from_slice(b"\r\n");
        }
        let m = protocol_error(http_get(&mut canned(&wire), "h", PING, PING_LIMIT, false));
        assert!(
            m.starts_with("the daemon's answer is larger than 1 KiB"),
            "{m}"
        );
        let m = protocol_error(http_get(
            &mut canned(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n",
            ),
            "h",
            VERSION,
            VERSION_LIMIT,
            false,
        ));
        assert!(m.starts_with("bad chunk size"), "{m}");
    }

    #[test]
    fn http_get_reads_a_close_delimited_body_up_to_exactly_the_limit() {
        let answer = |n: usize| {
            let mut wire = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
            wire.resize(wire.len() + n, b'x');
            wire
        };
        let body = http_get(
            &mut canned(&answer(PING_LIMIT)),
            "h",
            PING,
            PING_LIMIT,
            true,
        );
        assert_eq!(body.ok().map(|b| b.len()), Some(PING_LIMIT));
        let m = protocol_error(http_get(
            &mut canned(&answer(PING_LIMIT + 1)),
            "h",
            PING,
            PING_LIMIT,
            true,
        ));
        assert_eq!(m, "the daemon's answer is larger than 1 KiB");
    }

    #[test]
    fn http_get_caps_the_headers_whether_many_lines_or_one_endless_line() {
        let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
        while many.len() <= HEADERS_LIMIT {
            many.extend_from_slice(b"X-Flood: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let mut endless = b"HTTP/1.1 200 OK\r\nX-Long: ".to_vec();
        endless.resize(HEADERS_LIMIT * 2, b'a');
        let mut no_status_end = Vec::new();
        no_status_end.resize(HEADERS_LIMIT * 2, b'H');
        for wire in [many, endless, no_status_end] {
            let m = protocol_error(http_get(&mut canned(&wire), "h", PING, PING_LIMIT, false));
            assert_eq!(m, "the daemon's response headers are larger than 64 KiB");
        }
    }

    #[test]
    fn http_get_tells_no_answer_from_an_answer_cut_short() {
        let answered = |wire: &[u8]| match http_get(&mut canned(wire), "h", PING, PING_LIMIT, false)
        {
            Err(HttpError::Io { answered, .. }) => answered,
            other => panic!("expected an I/O error, got {other:?}"),
        };
        assert!(!answered(b""));
        assert!(answered(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nO"));
        assert!(answered(b"HTTP/1.1 200"));
    }

    #[test]
    fn deadline_reports_timed_out_once_it_has_passed() {
        let deadline = Deadline::after(Duration::from_millis(30));
        assert!(deadline
            .remaining()
            .is_ok_and(|d| d <= Duration::from_millis(30)));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(
            deadline.remaining().map_err(|e| e.kind()),
            Err(io::ErrorKind::TimedOut)
        );
    }

    #[test]
    fn report_text_escapes_everything_from_the_daemon_and_the_certificate() {
        let forged = "x\nerror: forged\r\x1b[2J\u{202e}";
        let report = Report {
            ok: true,
            host: "tcp://127.0.0.1:2376".into(),
            address: "127.0.0.1:2376".parse().expect("address"),
            tls_version: "TLS 1.3".into(),
            cipher_suite: "TLS13_AES_128_GCM_SHA256".into(),
            certificate: Served {
                subject: format!("CN={forged}"),
                issuer: format!("O={forged}"),
                sans: vec![forged.into(), "127.0.0.1".into()],
                serial: "01".into(),
                not_after: time::OffsetDateTime::UNIX_EPOCH,
                sha256: "AA:BB".into(),
            },
            installed: Installed::Yes,
            daemon_dirs: vec![PathBuf::from(format!("/etc/{forged}"))],
            ping: forged.into(),
            server: serde_json::json!({
                "Version": forged, "ApiVersion": forged, "Os": forged, "Arch": forged,
            }),
            problem: None,
        };
        let text = report_text(&report);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 9, "{text}");
        assert!(!text.contains(['\x1b', '\r', '\u{202e}']), "{text:?}");
        assert!(lines.iter().all(|l| !l.starts_with("error:")), "{text}");
        assert_eq!(lines.iter().filter(|l| l.starts_with("ping:")).count(), 1);
        assert_eq!(
            text.matches(r"x\nerror: forged\r\x1b[2J\u{202e}").count(),
            9,
            "{text}"
        );
    }
}
