//! TCP within the probe's deadline: name resolution, connect, and a stream whose every read and
//! write waits only for the time left.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::diagnose::Diagnosis;
use super::ProbeError;
use crate::docker::endpoint::TcpEndpoint;
use crate::error::Error;

/// The longest deadline a probe takes: a day, which keeps `now + timeout` far from overflowing;
/// no probe needs to wait longer.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// The end of the whole probe. Every blocking step (name resolution, connect, each socket read
/// and write) may only wait for the time left, so a peer that trickles one byte at a time
/// cannot stretch the probe beyond its timeout, as a timeout per read would let it.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    end: Instant,
    timeout: Duration,
}

impl Deadline {
    /// `timeout` (at most [`MAX_TIMEOUT`]) from `now`.
    pub fn after(now: Instant, timeout: Duration) -> Deadline {
        let timeout = timeout.min(MAX_TIMEOUT);
        Deadline {
            end: now + timeout,
            timeout,
        }
    }

    /// The timeout the deadline was made from, for messages.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The time left, or a `TimedOut` error once there is none (a zero socket timeout would
    /// mean "wait forever").
    ///
    /// # Errors
    /// `TimedOut` once the deadline has passed.
    pub fn remaining(&self) -> io::Result<Duration> {
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
/// runs in a thread that is abandoned when the deadline passes (it ends when getaddrinfo does).
fn resolve(endpoint: &TcpEndpoint, deadline: Deadline) -> Result<Vec<SocketAddr>, ProbeError> {
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
        .map_err(|e| Error::new(format!("cannot start name resolution: {e}")))?;
    let timed_out = || Diagnosis::ResolveTimedOut {
        host: endpoint.host.clone(),
        timeout: deadline.timeout,
    };
    let left = deadline.remaining().map_err(|_| timed_out())?;
    match rx.recv_timeout(left) {
        Ok(Ok(addrs)) => Ok(addrs),
        Ok(Err(error)) => Err(Diagnosis::ResolveFailed {
            host: endpoint.host.clone(),
            error,
        }
        .into()),
        Err(_) => Err(timed_out().into()),
    }
}

/// Resolves `endpoint` and connects to the first address that answers, within the deadline.
pub(crate) fn connect(
    endpoint: &TcpEndpoint,
    deadline: Deadline,
) -> Result<(TcpStream, SocketAddr), ProbeError> {
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
    let Some((address, error)) = last else {
        return Err(Diagnosis::NoAddress {
            host: endpoint.host.clone(),
        }
        .into());
    };
    Err(match error.kind() {
        io::ErrorKind::ConnectionRefused => Diagnosis::ConnectionRefused {
            address,
            endpoint: endpoint.clone(),
        },
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Diagnosis::ConnectTimedOut {
            address,
            endpoint: endpoint.clone(),
            timeout: deadline.timeout,
        },
        _ => Diagnosis::ConnectFailed { address, error },
    }
    .into())
}

/// A socket whose reads and writes can each be given a timeout: TCP for the probe and the API
/// over TCP, a unix socket for the API over the daemon's socket.
pub trait TimedSocket: Read + Write {
    /// [`TcpStream::set_read_timeout`].
    ///
    /// # Errors
    /// As the socket's own.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// [`TcpStream::set_write_timeout`].
    ///
    /// # Errors
    /// As the socket's own.
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

impl TimedSocket for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }
}

impl TimedSocket for std::os::unix::net::UnixStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_read_timeout(self, timeout)
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_write_timeout(self, timeout)
    }
}

/// A socket (TCP unless said otherwise) that waits in each read and write only for the time left
/// before the deadline, and remembers the first bytes the peer sent (a plain-HTTP listener
/// answers a ClientHello with `HTTP/1.x 400`, which TLS can only call a corrupt record).
pub struct Wire<S: TimedSocket = TcpStream> {
    sock: S,
    head: Vec<u8>,
    deadline: Deadline,
}

impl<S: TimedSocket> Wire<S> {
    /// How many of the first bytes are kept.
    const KEEP: usize = 64;

    /// `sock`, bounded by `deadline`.
    pub fn new(sock: S, deadline: Deadline) -> Wire<S> {
        Wire {
            sock,
            head: Vec::new(),
            deadline,
        }
    }

    /// The first bytes the peer sent (up to 64).
    pub fn head(&self) -> &[u8] {
        &self.head
    }
}

impl<S: TimedSocket> Read for Wire<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock
            .set_read_timeout(Some(self.deadline.remaining()?))?;
        let n = self.sock.read(buf)?;
        let room = Self::KEEP.saturating_sub(self.head.len()).min(n);
        self.head.extend_from_slice(&buf[..room]);
        Ok(n)
    }
}

impl<S: TimedSocket> Write for Wire<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock
            .set_write_timeout(Some(self.deadline.remaining()?))?;
        self.sock.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn deadline_reports_timed_out_once_it_has_passed() {
        let deadline = Deadline::after(Instant::now(), Duration::from_millis(30));
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
    fn a_deadline_is_at_most_a_day() {
        let d = Deadline::after(Instant::now(), Duration::MAX);
        assert_eq!(d.timeout(), MAX_TIMEOUT);
    }

    #[test]
    fn a_refused_connection_is_diagnosed_with_the_address() {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let endpoint: TcpEndpoint = format!("tcp://127.0.0.1:{port}").parse().unwrap();
        let deadline = Deadline::after(Instant::now(), Duration::from_secs(5));
        match connect(&endpoint, deadline) {
            Err(ProbeError::Diagnosis(d)) => match *d {
                Diagnosis::ConnectionRefused { address, .. } => {
                    assert_eq!(address.port(), port);
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    /// A peer that sends one byte every 50 ms never lets a per-read timeout fire; the wire's
    /// reads still end at the deadline.
    #[test]
    fn a_trickling_peer_cannot_stretch_reads_beyond_the_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) && sock.write_all(b"x").is_ok() {
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let deadline = Deadline::after(Instant::now(), Duration::from_millis(400));
        let start = Instant::now();
        let mut wire = Wire::new(TcpStream::connect(addr).unwrap(), deadline);
        let mut sink = Vec::new();
        let e = wire.read_to_end(&mut sink).unwrap_err();
        let took = start.elapsed();
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ),
            "{e}"
        );
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert!(!sink.is_empty() && wire.head().len() <= Wire::<TcpStream>::KEEP);
        drop(wire);
        server.join().unwrap();
    }
}
