//! What a daemon really serves, seen through a client layout exactly as `docker --tlsverify`
//! would use it, with a precise [`Diagnosis`] when it fails.
//!
//! Blocking std I/O and rustls only: one connection, two HTTP/1.1 requests (`GET /_ping`, then
//! `GET /version`), no runtime. The daemon is not trusted to be well-behaved: one [`Deadline`]
//! bounds everything from name resolution to the last byte of `/version`, and every part of an
//! answer is size-capped ([`http`]), so neither a slow nor a large answer can keep the probe
//! running or fill memory.
//!
//! The jobs, one module each: [`connect`] (TCP within the deadline), `tls` (the layout's
//! certificates, the recording verifier), [`http`] (the bounded client), [`diagnose`] (the
//! typed failure) and [`report`] (the outcome).

pub mod connect;
pub mod diagnose;
pub mod http;
pub mod report;
mod tls;

use std::fmt;
use std::io::BufReader;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};
use serde_json::Value;

pub use connect::Deadline;
pub use diagnose::Diagnosis;
pub use report::{Installed, ProbeReport, Problem, Served};

use crate::docker::endpoint::TcpEndpoint;
use crate::error::Error;
use crate::fs::owner::Owner;
use connect::Wire;
use diagnose::{Phase, Scene};
use http::{Connection, HttpError, PING, PING_LIMIT, VERSION, VERSION_LIMIT};

/// A probe of one daemon.
#[derive(Clone, Debug)]
pub struct ProbeRequest {
    /// The daemon.
    pub endpoint: TcpEndpoint,
    /// When the whole probe must be over.
    pub deadline: Deadline,
    /// The client layout (`ca.pem`, `cert.pem`, `key.pem`), absolute.
    pub client_dir: PathBuf,
    /// Who the layout is read as: its owner when root probes with a user's layout (see
    /// [`crate::fs::OwnerPolicy::owner_for`]), `None` for the running user.
    pub client_owner: Option<Owner>,
    /// The state directory whose inventory says which certificate the daemon should serve;
    /// `None` (or no inventory there): [`Installed::Unknown`].
    pub state_dir: Option<PathBuf>,
}

/// Why a probe produced no report.
#[derive(Debug)]
pub enum ProbeError {
    /// The probe could not start: an unreadable or unusable client layout, a name that is
    /// neither a DNS name nor an IP address.
    Setup(Error),
    /// The daemon (or whatever answered) failed the probe.
    Diagnosis(Box<Diagnosis>),
}

impl From<Error> for ProbeError {
    fn from(e: Error) -> Self {
        ProbeError::Setup(e)
    }
}

impl From<Diagnosis> for ProbeError {
    fn from(d: Diagnosis) -> Self {
        ProbeError::Diagnosis(Box::new(d))
    }
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Setup(e) => e.fmt(f),
            ProbeError::Diagnosis(d) => d.fmt(f),
        }
    }
}

impl std::error::Error for ProbeError {}

impl From<ProbeError> for Error {
    fn from(e: ProbeError) -> Self {
        match e {
            ProbeError::Setup(e) => e,
            ProbeError::Diagnosis(d) => Error::new(d.to_string()),
        }
    }
}

/// Connects to `request.endpoint` with the client layout, completes the TLS handshake, asks
/// `GET /_ping` (which must answer `OK`) and `GET /version` (JSON) on the same connection, and
/// compares the served certificate with the inventory's daemon layouts. A daemon serving a
/// certificate its layouts no longer hold is a report with a [`Problem`], not an error.
///
/// # Errors
/// [`ProbeError::Setup`] when the layout cannot be read or used; [`ProbeError::Diagnosis`]
/// for every failure of the daemon or the network, within the deadline.
///
/// # Examples
/// ```no_run
/// use std::time::{Duration, Instant};
/// use dockpki_provision::docker::probe::{probe, Deadline, ProbeRequest};
/// let report = probe(&ProbeRequest {
///     endpoint: "tcp://docker.example.com:2376".parse()?,
///     deadline: Deadline::after(Instant::now(), Duration::from_secs(5)),
///     client_dir: "/home/alice/.docker".into(),
///     client_owner: None,
///     state_dir: None,
/// })?;
/// println!("{} serves {}", report.host, report.certificate.subject);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn probe(request: &ProbeRequest) -> Result<ProbeReport, ProbeError> {
    let endpoint = &request.endpoint;
    let client_dir = &request.client_dir;
    // Read once: the verifier and the client configuration use the same files.
    let files = tls::load_layout(client_dir, request.client_owner)?;
    let recorder = Arc::new(tls::RecordingVerifier::new(client_dir, &files)?);
    let config = tls::client_config(client_dir, &files, recorder.clone())?;
    drop(files);
    let (sock, address) = connect::connect(endpoint, request.deadline)?;
    let server_name = ServerName::try_from(endpoint.host.clone()).map_err(|_| {
        Error::new(format!(
            "{:?} is neither a DNS name nor an IP address; give tcp://HOST:PORT",
            endpoint.host
        ))
    })?;
    let conn = ClientConnection::new(Arc::new(config), server_name)
        .map_err(|e| Error::new(format!("cannot start TLS: {e}")))?;
    let mut tls = StreamOwned::new(conn, Wire::new(sock, request.deadline));
    let scene = Scene {
        endpoint,
        address,
        timeout: request.deadline.timeout(),
        client_dir,
    };
    let diagnose = |e, wire: &Wire, phase| {
        diagnose::diagnose(e, wire.head(), phase, &scene, || recorder.seen())
    };
    while tls.conn.is_handshaking() {
        if let Err(e) = tls.conn.complete_io(&mut tls.sock) {
            return Err(diagnose(e, &tls.sock, Phase::Handshake).into());
        }
    }
    let tls_version = tls::version_name(&tls.conn);
    let cipher_suite = tls::cipher_suite_name(&tls.conn);
    let served_der = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .cloned()
        .ok_or(Diagnosis::NoCertificate)?;

    // With TLS 1.3 the daemon checks the client certificate after the client's last handshake
    // message, so a refusal arrives as an alert on the first read: the requests are part of
    // the diagnosis, not an afterthought.
    let mut reader = BufReader::new(tls);
    let mut get = |path: &'static str, limit: usize, connection: Connection| {
        http::get(&mut reader, &endpoint.host, path, limit, connection).map_err(|e| {
            let wire = &reader.get_ref().sock;
            ProbeError::from(match e {
                // Nothing of the answer arrived yet: the first read is where TLS 1.3 reports a
                // refused client certificate.
                HttpError::NoAnswer(error) if path == PING => {
                    diagnose(error, wire, Phase::FirstRead)
                }
                HttpError::NoAnswer(error) | HttpError::Cut(error) => {
                    diagnose(error, wire, Phase::Answer(path))
                }
                HttpError::Bad(problem) => Diagnosis::BadAnswer {
                    path,
                    address,
                    endpoint: endpoint.clone(),
                    problem,
                },
            })
        })
    };
    let ping = get(PING, PING_LIMIT, Connection::KeepAlive)?;
    // dockerd answers exactly `OK`; anything else is another service (or a proxy's error page
    // with status 200), which must not pass for a working daemon.
    if ping != b"OK" {
        return Err(Diagnosis::NotOk {
            address,
            endpoint: endpoint.clone(),
            answer: ping,
        }
        .into());
    }
    let version = get(VERSION, VERSION_LIMIT, Connection::Close)?;
    let server: Value =
        serde_json::from_slice(&version).map_err(|error| Diagnosis::NotJson { address, error })?;

    let info = dockpki::inspect(&served_der).map_err(Error::from)?;
    let (installed, daemon_dirs) =
        report::installed(request.state_dir.as_deref(), info.fingerprint());
    let problem = (installed == Installed::Drift).then(|| Problem::NotRestarted {
        daemon_dirs: daemon_dirs.clone(),
    });
    Ok(ProbeReport {
        host: endpoint.to_string(),
        address,
        tls_version,
        cipher_suite,
        certificate: Served::from(&info),
        installed,
        daemon_dirs,
        ping: String::from_utf8_lossy(&ping).into_owned(),
        server,
        problem,
    })
}

#[cfg(test)]
mod tests;
