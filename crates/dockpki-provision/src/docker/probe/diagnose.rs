//! What went wrong when a probe failed, as a typed [`Diagnosis`] whose one-line
//! [`fmt::Display`] says what to do.

use crate::health::Health;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls::{AlertDescription, CertificateError};

use super::http::{quote, BadAnswer, PING, VERSION};
use crate::docker::endpoint::TcpEndpoint;

/// Why a probe failed. [`fmt::Display`] gives one line with the fix; a caller with its own
/// commands may word [`Diagnosis::UnknownCa`], [`Diagnosis::NameNotCovered`],
/// [`Diagnosis::Expired`] and [`Diagnosis::ClientCertRefused`] in its terms (which certificate
/// to issue or renew, and how). Everything quoted from the daemon or its certificate is
/// included as sent: escape the text before showing it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Diagnosis {
    /// Name resolution did not finish within the deadline.
    ResolveTimedOut {
        /// The name.
        host: String,
        /// The probe's timeout.
        timeout: Duration,
    },
    /// Name resolution failed.
    ResolveFailed {
        /// The name.
        host: String,
        /// The resolver's error.
        error: io::Error,
    },
    /// The name resolves to no address.
    NoAddress {
        /// The name.
        host: String,
    },
    /// Nothing listens on the port.
    ConnectionRefused {
        /// The address tried last.
        address: SocketAddr,
        /// The daemon address probed.
        endpoint: TcpEndpoint,
    },
    /// No answer to the connection attempt within the deadline (a firewall dropping packets).
    ConnectTimedOut {
        /// The address tried last.
        address: SocketAddr,
        /// The daemon address probed.
        endpoint: TcpEndpoint,
        /// The probe's timeout.
        timeout: Duration,
    },
    /// The connection failed otherwise.
    ConnectFailed {
        /// The address tried last.
        address: SocketAddr,
        /// The error.
        error: io::Error,
    },
    /// The listener answered the TLS handshake with plain HTTP: it does not speak TLS.
    PlainHttp {
        /// The address connected to.
        address: SocketAddr,
        /// The first line it sent (as sent).
        status_line: String,
    },
    /// The daemon's certificate is not from a CA in the client's `ca.pem`.
    UnknownCa {
        /// What the presented certificate says, when it could be read.
        served: Option<Box<dockpki::CertInfo>>,
        /// The client's `ca.pem`.
        ca_file: PathBuf,
    },
    /// The daemon's certificate does not cover the dialled name or address.
    NameNotCovered {
        /// The name or address dialled.
        host: String,
        /// What the presented certificate says, when it could be read.
        served: Option<Box<dockpki::CertInfo>>,
    },
    /// The daemon's certificate has expired.
    Expired {
        /// What the presented certificate says, when it could be read.
        served: Option<Box<dockpki::CertInfo>>,
    },
    /// The daemon refused the client certificate with a TLS alert.
    ClientCertRefused {
        /// The alert.
        alert: AlertDescription,
        /// The client's `cert.pem`.
        cert_file: PathBuf,
    },
    /// TLS failed otherwise.
    TlsFailed {
        /// The address connected to.
        address: SocketAddr,
        /// The daemon address probed.
        endpoint: TcpEndpoint,
        /// rustls' error.
        error: rustls::Error,
    },
    /// The listener accepted the connection but sent nothing within the deadline.
    NoTlsAnswer {
        /// The address connected to.
        address: SocketAddr,
        /// The daemon address probed.
        endpoint: TcpEndpoint,
        /// The probe's timeout.
        timeout: Duration,
    },
    /// The TLS handshake began but did not finish within the deadline.
    HandshakeTimedOut {
        /// The address connected to.
        address: SocketAddr,
        /// The daemon address probed.
        endpoint: TcpEndpoint,
        /// The probe's timeout.
        timeout: Duration,
    },
    /// The handshake finished but nothing of the answer to `GET /_ping` came within the
    /// deadline.
    NoAnswerToPing {
        /// The address connected to.
        address: SocketAddr,
        /// The probe's timeout.
        timeout: Duration,
    },
    /// An answer began but did not finish within the deadline.
    AnswerTimedOut {
        /// The address connected to.
        address: SocketAddr,
        /// The request's path.
        path: &'static str,
        /// The probe's timeout.
        timeout: Duration,
    },
    /// The connection was closed right after the handshake: how a daemon refuses a client
    /// certificate under TLS 1.3 without saying why.
    ClosedAfterHandshake {
        /// The address connected to.
        address: SocketAddr,
        /// The client's `cert.pem`.
        cert_file: PathBuf,
    },
    /// The connection was closed during the handshake.
    ClosedDuringHandshake {
        /// The address connected to.
        address: SocketAddr,
        /// The daemon address probed.
        endpoint: TcpEndpoint,
    },
    /// The connection was closed in the middle of an answer.
    ClosedDuringAnswer {
        /// The address connected to.
        address: SocketAddr,
        /// The request's path.
        path: &'static str,
        /// The daemon address probed.
        endpoint: TcpEndpoint,
    },
    /// Another I/O failure on the connection.
    ConnectionFailed {
        /// The address connected to.
        address: SocketAddr,
        /// The error.
        error: io::Error,
    },
    /// An answer the probe does not accept (too large, not HTTP/1.x, not 200).
    BadAnswer {
        /// The request's path.
        path: &'static str,
        /// The address connected to.
        address: SocketAddr,
        /// The daemon address probed.
        endpoint: TcpEndpoint,
        /// What is wrong with it.
        problem: BadAnswer,
    },
    /// `GET /_ping` answered something else than `OK`: not a Docker daemon (another service,
    /// or a proxy's error page with status 200).
    NotOk {
        /// The address connected to.
        address: SocketAddr,
        /// The daemon address probed.
        endpoint: TcpEndpoint,
        /// The answer, as sent.
        answer: Vec<u8>,
    },
    /// `GET /version` did not answer JSON.
    NotJson {
        /// The address connected to.
        address: SocketAddr,
        /// The parser's error.
        error: serde_json::Error,
    },
    /// The daemon completed the handshake without a certificate.
    NoCertificate,
}

impl Diagnosis {
    /// [`Health::Broken`] when the daemon answered and what it answered is wrong (its
    /// certificate, its CA, its refusal of the client, plain HTTP on the TLS port, a failed
    /// ping); `None` when the daemon could not be checked (no name, no connection, no answer in
    /// time, a connection cut), which says nothing about its certificates.
    pub fn health(&self) -> Option<Health> {
        match self {
            Diagnosis::PlainHttp { .. }
            | Diagnosis::UnknownCa { .. }
            | Diagnosis::NameNotCovered { .. }
            | Diagnosis::Expired { .. }
            | Diagnosis::ClientCertRefused { .. }
            | Diagnosis::TlsFailed { .. }
            | Diagnosis::ClosedAfterHandshake { .. }
            | Diagnosis::BadAnswer { .. }
            | Diagnosis::NotOk { .. }
            | Diagnosis::NotJson { .. }
            | Diagnosis::NoCertificate => Some(Health::Broken),
            Diagnosis::ResolveTimedOut { .. }
            | Diagnosis::ResolveFailed { .. }
            | Diagnosis::NoAddress { .. }
            | Diagnosis::ConnectionRefused { .. }
            | Diagnosis::ConnectTimedOut { .. }
            | Diagnosis::ConnectFailed { .. }
            | Diagnosis::NoTlsAnswer { .. }
            | Diagnosis::HandshakeTimedOut { .. }
            | Diagnosis::NoAnswerToPing { .. }
            | Diagnosis::AnswerTimedOut { .. }
            | Diagnosis::ClosedDuringHandshake { .. }
            | Diagnosis::ClosedDuringAnswer { .. }
            | Diagnosis::ConnectionFailed { .. } => None,
        }
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diagnosis::ResolveTimedOut { host, timeout } => write!(
                f,
                "timeout: cannot resolve {host} within {timeout:?}; check the name and the DNS server (or use the IP address)"
            ),
            Diagnosis::ResolveFailed { host, error } => write!(
                f,
                "cannot resolve {host}: {error}; check the name (or use the IP address)"
            ),
            Diagnosis::NoAddress { host } => {
                write!(f, "{host} resolves to no address; check the name")
            }
            Diagnosis::ConnectionRefused { address, endpoint } => write!(
                f,
                "connection refused by {address}: nothing listens on port {}; start dockerd with -H {endpoint} (\"hosts\" in daemon.json) or check the port",
                endpoint.port
            ),
            Diagnosis::ConnectTimedOut {
                address,
                endpoint,
                timeout,
            } => write!(
                f,
                "timeout: no answer from {address} within {timeout:?}; check the address and that no firewall drops port {}",
                endpoint.port
            ),
            Diagnosis::ConnectFailed { address, error } => write!(
                f,
                "cannot connect to {address}: {error}; check the address and the network"
            ),
            Diagnosis::PlainHttp {
                address,
                status_line,
            } => write!(
                f,
                "{address} answered the TLS handshake with plain HTTP ({status_line:?}): this listener does not speak TLS; start dockerd with --tlsverify --tlscacert/--tlscert/--tlskey (\"tls*\" keys in daemon.json) on this port"
            ),
            Diagnosis::UnknownCa { served, ca_file } => write!(
                f,
                "unknown CA: the daemon's certificate{} is not signed by a CA in {}; put the daemon's CA in that ca.pem, or give the daemon a certificate from this CA and restart it",
                served_by(served.as_deref()),
                ca_file.display()
            ),
            Diagnosis::NameNotCovered { host, served } => write!(
                f,
                "the daemon's certificate does not cover {host:?}: its SANs are [{}]; re-issue it with every name and address clients dial and restart dockerd",
                served_sans(served.as_deref())
            ),
            Diagnosis::Expired { served } => write!(
                f,
                "the daemon's certificate has expired{}; renew it and restart dockerd",
                served_expiry(served.as_deref())
            ),
            Diagnosis::ClientCertRefused { alert, cert_file } => write!(
                f,
                "the daemon refused the client certificate {} (TLS alert {alert:?}): it is not signed by a CA the daemon trusts, or has expired; issue one from the daemon's CA or add its CA to the daemon's ca.pem and restart dockerd",
                cert_file.display()
            ),
            Diagnosis::TlsFailed {
                address,
                endpoint,
                error,
            } => write!(
                f,
                "TLS with {address} failed: {error}; check that {endpoint} is dockerd's TLS port"
            ),
            Diagnosis::NoTlsAnswer {
                address,
                endpoint,
                timeout,
            } => write!(
                f,
                "timeout: {address} accepted the connection but sent no TLS answer within {timeout:?}; check that {endpoint} is dockerd's TLS port and that dockerd is not hung"
            ),
            Diagnosis::HandshakeTimedOut {
                address,
                endpoint,
                timeout,
            } => write!(
                f,
                "timeout: {address} did not finish the TLS handshake within {timeout:?} (the deadline for the whole probe); check that {endpoint} is dockerd's TLS port and that dockerd is not hung"
            ),
            Diagnosis::NoAnswerToPing { address, timeout } => write!(
                f,
                "timeout: {address} completed the TLS handshake but did not answer GET {PING} within {timeout:?} (the deadline for the whole probe); check that dockerd is not hung"
            ),
            Diagnosis::AnswerTimedOut {
                address,
                path,
                timeout,
            } => write!(
                f,
                "timeout: {address} did not finish answering GET {path} within {timeout:?} (the deadline for the whole probe); check that dockerd is not hung and that nothing slow sits between (a proxy)"
            ),
            Diagnosis::ClosedAfterHandshake { address, cert_file } => write!(
                f,
                "{address} closed the connection right after the TLS handshake, which is how a daemon refuses a client certificate ({}) without saying why; check that it comes from a CA in the daemon's ca.pem",
                cert_file.display()
            ),
            Diagnosis::ClosedDuringHandshake { address, endpoint } => write!(
                f,
                "{address} closed the connection during the TLS handshake: it is not a TLS listener, or refused this client; check that {endpoint} is dockerd's TLS port"
            ),
            Diagnosis::ClosedDuringAnswer {
                address,
                path,
                endpoint,
            } => write!(
                f,
                "{address} closed the connection before it finished answering GET {path}; check that {endpoint} is dockerd's TLS port and that dockerd is not restarting"
            ),
            Diagnosis::ConnectionFailed { address, error } => {
                write!(f, "talking to {address} failed: {error}")
            }
            Diagnosis::BadAnswer {
                path,
                address,
                endpoint,
                problem,
            } => write!(
                f,
                "GET {path} on {address}: {problem}; check that {endpoint} is dockerd's TLS port, not another service"
            ),
            Diagnosis::NotOk {
                address,
                endpoint,
                answer,
            } => write!(
                f,
                "GET {PING} on {address} answered {} instead of OK: this is not a Docker daemon; check that {endpoint} is dockerd's TLS port",
                quote(answer)
            ),
            Diagnosis::NotJson { address, error } => write!(
                f,
                "GET {VERSION} on {address} did not return JSON ({error}); is this a Docker daemon?"
            ),
            Diagnosis::NoCertificate => f.write_str("the daemon presented no certificate"),
        }
    }
}

/// ` (SUBJECT, issued by ISSUER)` of the served certificate, or nothing.
pub fn served_by(served: Option<&dockpki::CertInfo>) -> String {
    served
        .map(|i| format!(" ({}, issued by {})", i.subject, i.issuer))
        .unwrap_or_default()
}

/// The served certificate's SANs, comma-separated, or nothing.
pub fn served_sans(served: Option<&dockpki::CertInfo>) -> String {
    served
        .map(|i| i.san_strings().join(", "))
        .unwrap_or_default()
}

/// ` (NOT_AFTER)` of the served certificate, or nothing.
pub fn served_expiry(served: Option<&dockpki::CertInfo>) -> String {
    served
        .map(|i| format!(" ({})", dockpki::format_time(i.not_after)))
        .unwrap_or_default()
}

/// When a failure happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// During the TLS handshake.
    Handshake,
    /// On the first read after it, before any of the answer to `/_ping` arrived (where TLS 1.3
    /// reports a refused client certificate).
    FirstRead,
    /// While waiting for, or reading, the answer to `GET path` (after `/_ping` began to arrive).
    Answer(&'static str),
}

/// What a diagnosis needs to know about the connection.
pub(crate) struct Scene<'a> {
    pub(crate) endpoint: &'a TcpEndpoint,
    pub(crate) address: SocketAddr,
    pub(crate) timeout: Duration,
    pub(crate) client_dir: &'a Path,
}

/// Turns an I/O or TLS failure in `phase` into a diagnosis. `head` is what the peer sent first;
/// `served` reads the certificate the daemon presented, if it did.
pub(crate) fn diagnose(
    e: io::Error,
    head: &[u8],
    phase: Phase,
    scene: &Scene<'_>,
    served: impl Fn() -> Option<dockpki::CertInfo>,
) -> Diagnosis {
    let Scene {
        endpoint,
        address,
        timeout,
        client_dir,
    } = *scene;
    if phase == Phase::Handshake && head.starts_with(b"HTTP/") {
        let line = String::from_utf8_lossy(head);
        return Diagnosis::PlainHttp {
            address,
            status_line: line.lines().next().unwrap_or_default().to_string(),
        };
    }
    let served = || served().map(Box::new);
    let cert_file = client_dir.join("cert.pem");
    if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return match tls {
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                Diagnosis::UnknownCa {
                    served: served(),
                    ca_file: client_dir.join("ca.pem"),
                }
            }
            rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            ) => Diagnosis::NameNotCovered {
                host: endpoint.host.clone(),
                served: served(),
            },
            rustls::Error::InvalidCertificate(
                CertificateError::Expired | CertificateError::ExpiredContext { .. },
            ) => Diagnosis::Expired { served: served() },
            rustls::Error::AlertReceived(
                alert @ (AlertDescription::BadCertificate
                | AlertDescription::CertificateRequired
                | AlertDescription::UnknownCA
                | AlertDescription::CertificateUnknown
                | AlertDescription::UnsupportedCertificate
                | AlertDescription::CertificateExpired
                | AlertDescription::CertificateRevoked
                | AlertDescription::AccessDenied),
            ) => Diagnosis::ClientCertRefused {
                alert: *alert,
                cert_file,
            },
            other => Diagnosis::TlsFailed {
                address,
                endpoint: endpoint.clone(),
                error: other.clone(),
            },
        };
    }
    use io::ErrorKind::{BrokenPipe, ConnectionReset, TimedOut, UnexpectedEof, WouldBlock};
    let endpoint = endpoint.clone();
    match (e.kind(), phase) {
        (TimedOut | WouldBlock, Phase::Handshake) if head.is_empty() => Diagnosis::NoTlsAnswer {
            address,
            endpoint,
            timeout,
        },
        (TimedOut | WouldBlock, Phase::Handshake) => Diagnosis::HandshakeTimedOut {
            address,
            endpoint,
            timeout,
        },
        (TimedOut | WouldBlock, Phase::FirstRead) => Diagnosis::NoAnswerToPing { address, timeout },
        (TimedOut | WouldBlock, Phase::Answer(path)) => Diagnosis::AnswerTimedOut {
            address,
            path,
            timeout,
        },
        (UnexpectedEof | ConnectionReset | BrokenPipe, Phase::FirstRead) => {
            Diagnosis::ClosedAfterHandshake { address, cert_file }
        }
        (UnexpectedEof | ConnectionReset | BrokenPipe, Phase::Handshake) => {
            Diagnosis::ClosedDuringHandshake { address, endpoint }
        }
        (UnexpectedEof | ConnectionReset | BrokenPipe, Phase::Answer(path)) => {
            Diagnosis::ClosedDuringAnswer {
                address,
                path,
                endpoint,
            }
        }
        _ => Diagnosis::ConnectionFailed { address, error: e },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scene_parts() -> (TcpEndpoint, PathBuf) {
        (
            "tcp://docker.example.com:2376".parse().unwrap(),
            PathBuf::from("/home/a/.docker"),
        )
    }

    fn run(e: io::Error, head: &[u8], phase: Phase) -> Diagnosis {
        let (endpoint, dir) = scene_parts();
        let scene = Scene {
            endpoint: &endpoint,
            address: "192.0.2.1:2376".parse().unwrap(),
            timeout: Duration::from_secs(5),
            client_dir: &dir,
        };
        diagnose(e, head, phase, &scene, || None)
    }

    fn tls(e: rustls::Error) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }

    #[test]
    fn a_plain_http_answer_to_the_handshake_is_named_with_its_first_line() {
        let d = run(
            tls(rustls::Error::InvalidMessage(
                rustls::InvalidMessage::InvalidContentType,
            )),
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain",
            Phase::Handshake,
        );
        assert!(
            matches!(&d, Diagnosis::PlainHttp { status_line, .. } if status_line == "HTTP/1.1 400 Bad Request"),
            "{d:?}"
        );
    }

    #[test]
    fn certificate_errors_and_alerts_become_their_diagnoses_in_any_phase() {
        for phase in [Phase::Handshake, Phase::FirstRead, Phase::Answer(PING)] {
            let d = run(
                tls(rustls::Error::InvalidCertificate(
                    CertificateError::UnknownIssuer,
                )),
                b"",
                phase,
            );
            assert!(
                matches!(&d, Diagnosis::UnknownCa { ca_file, served: None } if ca_file == Path::new("/home/a/.docker/ca.pem")),
                "{d:?}"
            );
        }
        let d = run(
            tls(rustls::Error::AlertReceived(
                AlertDescription::CertificateRequired,
            )),
            b"",
            Phase::FirstRead,
        );
        assert!(
            matches!(
                &d,
                Diagnosis::ClientCertRefused {
                    alert: AlertDescription::CertificateRequired,
                    ..
                }
            ),
            "{d:?}"
        );
        let d = run(
            tls(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName,
            )),
            b"",
            Phase::Handshake,
        );
        assert_eq!(
            d.to_string(),
            "the daemon's certificate does not cover \"docker.example.com\": its SANs are []; re-issue it with every name and address clients dial and restart dockerd"
        );
    }

    #[test]
    fn timeouts_and_closed_connections_are_told_apart_by_phase() {
        let timed_out = || io::Error::from(io::ErrorKind::TimedOut);
        let closed = || io::Error::from(io::ErrorKind::UnexpectedEof);
        assert!(matches!(
            run(timed_out(), b"", Phase::Handshake),
            Diagnosis::NoTlsAnswer { .. }
        ));
        assert!(matches!(
            run(timed_out(), b"\x16\x03", Phase::Handshake),
            Diagnosis::HandshakeTimedOut { .. }
        ));
        assert!(matches!(
            run(timed_out(), b"", Phase::FirstRead),
            Diagnosis::NoAnswerToPing { .. }
        ));
        assert!(matches!(
            run(timed_out(), b"", Phase::Answer(VERSION)),
            Diagnosis::AnswerTimedOut { path: VERSION, .. }
        ));
        assert!(matches!(
            run(closed(), b"", Phase::FirstRead),
            Diagnosis::ClosedAfterHandshake { .. }
        ));
        assert!(matches!(
            run(closed(), b"", Phase::Handshake),
            Diagnosis::ClosedDuringHandshake { .. }
        ));
        assert!(matches!(
            run(closed(), b"", Phase::Answer(PING)),
            Diagnosis::ClosedDuringAnswer { path: PING, .. }
        ));
        assert!(matches!(
            run(
                io::Error::from(io::ErrorKind::PermissionDenied),
                b"",
                Phase::Handshake
            ),
            Diagnosis::ConnectionFailed { .. }
        ));
    }

    #[test]
    fn every_diagnosis_is_one_line_and_timeouts_start_with_timeout() {
        let d = run(
            io::Error::from(io::ErrorKind::TimedOut),
            b"",
            Phase::Answer(VERSION),
        );
        let text = d.to_string();
        assert!(
            text.starts_with(
                "timeout: 192.0.2.1:2376 did not finish answering GET /version within 5s"
            ),
            "{text}"
        );
        let (endpoint, _) = scene_parts();
        let not_ok = Diagnosis::NotOk {
            address: "192.0.2.1:2376".parse().unwrap(),
            endpoint,
            answer: b"<html>\n<h1>502</h1>".to_vec(),
        };
        let text = not_ok.to_string();
        assert!(!text.contains('\n'), "{text}");
        assert!(
            text.starts_with(
                "GET /_ping on 192.0.2.1:2376 answered \"<html>\\n<h1>502</h1>\" instead of OK"
            ),
            "{text}"
        );
    }
}
