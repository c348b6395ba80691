//! The probe's HTTP/1.1 client: one `GET` at a time over a stream the caller opened, with every
//! part of the answer size-capped. See docs/probe.md ("Why no HTTP client crate") for why it is
//! this small reader and not a general client.
//!
//! The daemon is not trusted to be well-behaved: the status line and headers together may hold
//! at most [`HEADERS_LIMIT`] bytes, the body the caller's limit. A declared length or chunk
//! beyond the limit is refused before any of it is read; a body that ends at close is read up
//! to one byte past it. Time is the stream's business (see [`super::connect::Wire`]).

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};

/// The daemon's liveness endpoint; dockerd answers `OK`.
pub const PING: &str = "/_ping";
/// The daemon's version endpoint; dockerd answers under 1 KiB of JSON.
pub const VERSION: &str = "/version";
/// The most the status line and headers of one answer may hold together (dockerd's are a few
/// hundred bytes).
pub const HEADERS_LIMIT: usize = 64 * 1024;
/// The most the body of `/_ping` may hold.
pub const PING_LIMIT: usize = 1024;
/// The most the body of `/version` may hold.
pub const VERSION_LIMIT: usize = 1024 * 1024;

/// Whether the connection stays open after the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    /// Another request follows on it.
    KeepAlive,
    /// The last request: the server may end the body by closing.
    Close,
}

/// How the body of a response ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// After `Content-Length` bytes.
    Length(u64),
    /// After the last chunk (`Transfer-Encoding: chunked`).
    Chunked,
    /// When the server closes the connection.
    Close,
}

/// An answer the probe does not accept; [`fmt::Display`] says why in one line, quoting (and
/// escaping) at most 100 characters of what the peer sent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BadAnswer {
    /// The status line is not `VERSION STATUS ...`.
    NotHttp(String),
    /// The status line is not HTTP/1.x.
    NotHttp1(String),
    /// The status line and headers exceed [`HEADERS_LIMIT`].
    HeadersTooLarge,
    /// The connection ended inside the headers.
    EndedInHeaders,
    /// A `Content-Length` that is not a number.
    InvalidContentLength(String),
    /// The body exceeds the caller's limit, as declared or as sent.
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
        /// How the body was framed (a declared length is named).
        framing: Framing,
    },
    /// A chunk-size line that is not a hexadecimal number within `u64`.
    BadChunkSize(String),
    /// Chunk-size lines and trailers exceed [`HEADERS_LIMIT`].
    ChunkHeadersTooLarge,
    /// A chunk's data is not followed by CRLF.
    ChunkWithoutCrlf,
    /// A status other than 200, with the body that came with it.
    Status {
        /// The status line.
        status_line: String,
        /// The body.
        body: Vec<u8>,
    },
}

impl fmt::Display for BadAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadAnswer::NotHttp(line) => {
                write!(f, "the answer is not HTTP: {}", quote(line.as_bytes()))
            }
            BadAnswer::NotHttp1(line) => {
                write!(f, "the answer is not HTTP/1.x: {}", quote(line.as_bytes()))
            }
            BadAnswer::HeadersTooLarge => write!(
                f,
                "the daemon's response headers are larger than {}",
                size(HEADERS_LIMIT as u64)
            ),
            BadAnswer::EndedInHeaders => f.write_str("the response ended inside its headers"),
            BadAnswer::InvalidContentLength(v) => write!(
                f,
                "the answer has an invalid Content-Length {}",
                quote(v.as_bytes())
            ),
            BadAnswer::TooLarge { limit, framing } => {
                write!(
                    f,
                    "the daemon's answer is larger than {}",
                    size(*limit as u64)
                )?;
                match framing {
                    Framing::Length(n) => write!(f, " (Content-Length: {n})"),
                    Framing::Chunked => f.write_str(" (in chunks)"),
                    Framing::Close => Ok(()),
                }
            }
            BadAnswer::BadChunkSize(digits) => {
                write!(f, "bad chunk size {}", quote(digits.as_bytes()))
            }
            BadAnswer::ChunkHeadersTooLarge => write!(
                f,
                "the daemon's chunk headers are larger than {}",
                size(HEADERS_LIMIT as u64)
            ),
            BadAnswer::ChunkWithoutCrlf => f.write_str("a chunk does not end with CRLF"),
            BadAnswer::Status { status_line, body } => write!(
                f,
                "the daemon answered {}: {}",
                quote(status_line.as_bytes()),
                quote(body.trim_ascii())
            ),
        }
    }
}

/// A failed exchange: the connection, or what came back.
#[derive(Debug)]
pub enum HttpError {
    /// The connection failed or timed out before any of the answer arrived: where TLS 1.3
    /// reports a refused client certificate.
    NoAnswer(io::Error),
    /// The connection failed or timed out in the middle of the answer.
    Cut(io::Error),
    /// The answer is not acceptable.
    Bad(BadAnswer),
}

impl From<BadAnswer> for HttpError {
    fn from(b: BadAnswer) -> Self {
        HttpError::Bad(b)
    }
}

/// `n` bytes for messages: `64 KiB`, `1 MiB`, or bytes.
pub fn size(n: u64) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

/// Up to 100 characters of what the peer sent, quoted (control characters escaped), for
/// messages.
pub fn quote(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut short: String = text.chars().take(100).collect();
    if short.len() < text.len() {
        short.push_str("...");
    }
    format!("{short:?}")
}

/// One line of at most `budget` bytes (which it uses up), with its end of line; `None` at the
/// end of the stream.
fn read_line<R: BufRead>(
    reader: &mut R,
    budget: &mut usize,
    too_long: BadAnswer,
) -> Result<Option<Vec<u8>>, HttpError> {
    let mut line = Vec::new();
    let read = reader
        .by_ref()
        .take(*budget as u64)
        .read_until(b'\n', &mut line)
        .map_err(HttpError::Cut)?;
    *budget -= read;
    if line.ends_with(b"\n") {
        Ok(Some(line))
    } else if *budget == 0 {
        Err(too_long.into())
    } else if line.is_empty() {
        Ok(None)
    } else {
        Err(HttpError::Cut(io::ErrorKind::UnexpectedEof.into()))
    }
}

/// Sends `GET path` for `host` and reads the answer: the body of a 200 response
/// (Content-Length, chunked, or until close) of at most `limit` bytes.
///
/// # Errors
/// [`HttpError::NoAnswer`] when the connection fails before any of the answer arrived,
/// [`HttpError::Cut`] when it fails in the middle, [`HttpError::Bad`] for an answer beyond the
/// limits, not HTTP/1.x, or with another status than 200.
pub fn get<S: Read + Write>(
    reader: &mut BufReader<S>,
    host: &str,
    path: &str,
    limit: usize,
    connection: Connection,
) -> Result<Vec<u8>, HttpError> {
    let connection = match connection {
        Connection::KeepAlive => "keep-alive",
        Connection::Close => "close",
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: dockpki-probe\r\nConnection: {connection}\r\n\r\n"
    );
    let stream = reader.get_mut();
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(HttpError::NoAnswer)?;
    // Waiting for the first byte is "no answer yet": that is where a refused client certificate
    // shows, so it is told apart from a connection lost in the middle of an answer.
    reader.fill_buf().map_err(HttpError::NoAnswer)?;
    let mut budget = HEADERS_LIMIT;
    let Some(status_line) = read_line(reader, &mut budget, BadAnswer::HeadersTooLarge)? else {
        return Err(HttpError::NoAnswer(io::ErrorKind::UnexpectedEof.into()));
    };
    let status_line = String::from_utf8_lossy(&status_line).trim_end().to_string();
    let mut words = status_line.split_whitespace();
    let (Some(http), Some(status)) = (words.next(), words.next()) else {
        return Err(BadAnswer::NotHttp(status_line).into());
    };
    if !http.starts_with("HTTP/1.") {
        return Err(BadAnswer::NotHttp1(status_line).into());
    }
    let ok = status == "200";
    let mut framing = Framing::Close;
    loop {
        let Some(line) = read_line(reader, &mut budget, BadAnswer::HeadersTooLarge)? else {
            return Err(BadAnswer::EndedInHeaders.into());
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
        } else if name.eq_ignore_ascii_case("content-length") && framing != Framing::Chunked {
            let n = value
                .parse()
                .map_err(|_| BadAnswer::InvalidContentLength(value.to_string()))?;
            framing = Framing::Length(n);
        }
    }
    let body = read_body(reader, framing, limit)?;
    if !ok {
        return Err(BadAnswer::Status { status_line, body }.into());
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
    let too_large = |framing| HttpError::Bad(BadAnswer::TooLarge { limit, framing });
    let eof = || HttpError::Cut(io::ErrorKind::UnexpectedEof.into());
    let mut body = Vec::new();
    match framing {
        Framing::Length(n) => {
            if n > limit as u64 {
                return Err(too_large(framing));
            }
            reader
                .by_ref()
                .take(n)
                .read_to_end(&mut body)
                .map_err(HttpError::Cut)?;
            if (body.len() as u64) < n {
                return Err(eof());
            }
        }
        Framing::Close => {
            reader
                .by_ref()
                .take(limit as u64 + 1)
                .read_to_end(&mut body)
                .map_err(HttpError::Cut)?;
            if body.len() > limit {
                return Err(too_large(framing));
            }
        }
        Framing::Chunked => loop {
            // Chunk-size lines and trailers share one budget: they are a few bytes each.
            let mut budget = HEADERS_LIMIT;
            let line =
                read_line(reader, &mut budget, BadAnswer::ChunkHeadersTooLarge)?.ok_or_else(eof)?;
            let line = String::from_utf8_lossy(&line);
            let digits = line.trim().split(';').next().unwrap_or_default().trim();
            let n = u64::from_str_radix(digits, 16)
                .map_err(|_| BadAnswer::BadChunkSize(digits.to_string()))?;
            if n == 0 {
                // Trailers, up to the blank line.
                loop {
                    match read_line(reader, &mut budget, BadAnswer::ChunkHeadersTooLarge)? {
                        Some(l) if l.trim_ascii().is_empty() => break,
                        Some(_) => continue,
                        None => return Err(eof()),
                    }
                }
                break;
            }
            if n > (limit - body.len()) as u64 {
                return Err(too_large(framing));
            }
            let before = body.len();
            reader
                .by_ref()
                .take(n)
                .read_to_end(&mut body)
                .map_err(HttpError::Cut)?;
            if (body.len() - before) as u64 != n {
                return Err(eof());
            }
            let mut crlf = [0; 2];
            reader.read_exact(&mut crlf).map_err(HttpError::Cut)?;
            if &crlf != b"\r\n" {
                return Err(BadAnswer::ChunkWithoutCrlf.into());
            }
        },
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::probe::connect::{Deadline, Wire};
    use std::net::{TcpListener, TcpStream};
    use std::time::{Duration, Instant};

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

    fn bad(r: Result<Vec<u8>, HttpError>) -> String {
        match r {
            Err(HttpError::Bad(b)) => b.to_string(),
            other => panic!("expected a refused answer, got {other:?}"),
        }
    }

    const KEEP: Connection = Connection::KeepAlive;

    #[test]
    fn get_reads_content_length_chunked_and_close_delimited_bodies() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK\
HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n3;ext=1\r\n\":1\r\n1\r\n}\r\n0\r\nX-Trailer: t\r\n\r\n\
HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope\
HTTP/1.0 200 OK\r\n\r\nuntil close";
        let mut r = canned(wire);
        assert_eq!(
            get(&mut r, "h", PING, PING_LIMIT, KEEP).ok(),
            Some(b"OK".to_vec())
        );
        assert_eq!(
            get(&mut r, "h", VERSION, VERSION_LIMIT, KEEP).ok(),
            Some(b"{\"a\":1}".to_vec())
        );
        assert!(bad(get(&mut r, "h", "/x", 100, KEEP)).contains("404"));
        assert_eq!(
            get(&mut r, "h", VERSION, VERSION_LIMIT, Connection::Close).ok(),
            Some(b"until close".to_vec())
        );
        let sent = String::from_utf8(r.get_ref().1.clone()).expect("utf-8");
        assert!(
            sent.starts_with("GET /_ping HTTP/1.1\r\nHost: h\r\n"),
            "{sent}"
        );
        assert!(sent.ends_with("Connection: close\r\n\r\n"), "{sent}");
    }

    #[test]
    fn get_refuses_a_declared_length_or_chunk_beyond_the_limit_before_reading_it() {
        // No body follows the headers: reading it would end in an I/O error, not the refusal.
        let m = bad(get(
            &mut canned(b"HTTP/1.1 200 OK\r\nContent-Length: 2000000000\r\n\r\n"),
            "h",
            PING,
            PING_LIMIT,
            KEEP,
        ));
        assert_eq!(
            m,
            "the daemon's answer is larger than 1 KiB (Content-Length: 2000000000)"
        );
        let m = bad(get(
            &mut canned(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7fffffff\r\n"),
            "h",
            VERSION,
            VERSION_LIMIT,
            KEEP,
        ));
        assert_eq!(m, "the daemon's answer is larger than 1 MiB (in chunks)");
        // Chunks that are each small but add up beyond the limit.
        let mut wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..3 {
            wire.extend_from_slice(b"200\r\n");
            wire.extend_from_slice(&[b'x'; 0x200]);
            wire.extend_from_slice(b"\r\n");
        }
        let m = bad(get(&mut canned(&wire), "h", PING, PING_LIMIT, KEEP));
        assert_eq!(m, "the daemon's answer is larger than 1 KiB (in chunks)");
        let m = bad(get(
            &mut canned(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n",
            ),
            "h",
            VERSION,
            VERSION_LIMIT,
            KEEP,
        ));
        assert!(m.starts_with("bad chunk size"), "{m}");
    }

    #[test]
    fn get_reads_a_close_delimited_body_up_to_exactly_the_limit() {
        let answer = |n: usize| {
            let mut wire = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
            wire.resize(wire.len() + n, b'x');
            wire
        };
        let body = get(
            &mut canned(&answer(PING_LIMIT)),
            "h",
            PING,
            PING_LIMIT,
            Connection::Close,
        );
        assert_eq!(body.ok().map(|b| b.len()), Some(PING_LIMIT));
        let m = bad(get(
            &mut canned(&answer(PING_LIMIT + 1)),
            "h",
            PING,
            PING_LIMIT,
            Connection::Close,
        ));
        assert_eq!(m, "the daemon's answer is larger than 1 KiB");
    }

    #[test]
    fn get_caps_the_headers_whether_many_lines_or_one_endless_line() {
        let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
        while many.len() <= HEADERS_LIMIT {
            many.extend_from_slice(b"X-Flood: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let mut endless = b"HTTP/1.1 200 OK\r\nX-Long: ".to_vec();
        endless.resize(HEADERS_LIMIT * 2, b'a');
        let mut no_status_end = Vec::new();
        no_status_end.resize(HEADERS_LIMIT * 2, b'H');
        for wire in [many, endless, no_status_end] {
            let m = bad(get(&mut canned(&wire), "h", PING, PING_LIMIT, KEEP));
            assert_eq!(m, "the daemon's response headers are larger than 64 KiB");
        }
    }

    #[test]
    fn get_tells_no_answer_from_an_answer_cut_short() {
        let kind = |wire: &[u8]| match get(&mut canned(wire), "h", PING, PING_LIMIT, KEEP) {
            Err(HttpError::NoAnswer(_)) => "none",
            Err(HttpError::Cut(_)) => "cut",
            other => panic!("expected an I/O error, got {other:?}"),
        };
        assert_eq!(kind(b""), "none");
        assert_eq!(
            kind(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nO"),
            "cut"
        );
        assert_eq!(kind(b"HTTP/1.1 200"), "cut");
    }

    #[test]
    fn other_answers_are_refused_quoting_at_most_100_escaped_characters() {
        let m = bad(get(
            &mut canned(b"SSH-2.0-OpenSSH\r\n"),
            "h",
            PING,
            PING_LIMIT,
            KEEP,
        ));
        assert_eq!(m, "the answer is not HTTP: \"SSH-2.0-OpenSSH\"");
        let m = bad(get(
            &mut canned(b"HTTP/2 200\r\n\r\n"),
            "h",
            PING,
            PING_LIMIT,
            KEEP,
        ));
        assert_eq!(m, "the answer is not HTTP/1.x: \"HTTP/2 200\"");
        let mut wire = b"HTTP/1.1 500 Oops\r\nContent-Length: 300\r\n\r\n\x1b[2J".to_vec();
        wire.resize(wire.len() + 296, b'y');
        let m = bad(get(&mut canned(&wire), "h", PING, PING_LIMIT, KEEP));
        assert!(
            m.starts_with("the daemon answered \"HTTP/1.1 500 Oops\": \"\\u{1b}[2Jyyy"),
            "{m}"
        );
        assert!(m.ends_with("yyy...\"") && !m.contains('\x1b'), "{m}");
        let m = bad(get(
            &mut canned(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
            "h",
            PING,
            PING_LIMIT,
            KEEP,
        ));
        assert_eq!(m, "the answer has an invalid Content-Length \"-1\"");
    }

    /// A loopback server that accepts one connection, reads the request head, and runs `serve`.
    fn loopback(
        serve: impl FnOnce(TcpStream) + Send + 'static,
    ) -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let thread = std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && sock.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            serve(sock);
        });
        (addr, thread)
    }

    /// `get` over a real loopback connection bounded by a deadline of `timeout`.
    fn get_over_loopback(
        serve: impl FnOnce(TcpStream) + Send + 'static,
        limit: usize,
        timeout: Duration,
    ) -> (Result<Vec<u8>, HttpError>, Duration) {
        let (addr, server) = loopback(serve);
        let start = Instant::now();
        let deadline = Deadline::after(start, timeout);
        let mut reader = BufReader::new(Wire::new(TcpStream::connect(addr).unwrap(), deadline));
        let r = get(&mut reader, "127.0.0.1", VERSION, limit, KEEP);
        let took = start.elapsed();
        drop(reader);
        server.join().unwrap();
        (r, took)
    }

    /// Sends `bytes` in pieces of `piece` until the peer is gone or 10 s have passed.
    fn flood(mut sock: TcpStream, head: &[u8], piece: &[u8], pause: Duration) {
        let start = Instant::now();
        if sock.write_all(head).is_err() {
            return;
        }
        while start.elapsed() < Duration::from_secs(10) && sock.write_all(piece).is_ok() {
            std::thread::sleep(pause);
        }
    }

    #[test]
    fn over_loopback_endless_headers_stop_at_64_kib() {
        let (r, _) = get_over_loopback(
            |sock| flood(sock, b"HTTP/1.1 200 OK\r\n", &[b'a'; 4096], Duration::ZERO),
            PING_LIMIT,
            Duration::from_secs(10),
        );
        assert_eq!(
            bad(r),
            "the daemon's response headers are larger than 64 KiB"
        );
    }

    #[test]
    fn over_loopback_an_endless_chunked_body_stops_at_the_limit() {
        let (r, _) = get_over_loopback(
            |sock| {
                let mut chunk = b"1000\r\n".to_vec();
                chunk.extend_from_slice(&[b'x'; 0x1000]);
                chunk.extend_from_slice(b"\r\n");
                flood(
                    sock,
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                    &chunk,
                    Duration::ZERO,
                )
            },
            VERSION_LIMIT,
            Duration::from_secs(10),
        );
        assert_eq!(
            bad(r),
            "the daemon's answer is larger than 1 MiB (in chunks)"
        );
    }

    #[test]
    fn over_loopback_a_close_delimited_flood_stops_one_byte_past_the_limit() {
        let (r, _) = get_over_loopback(
            |sock| {
                flood(
                    sock,
                    b"HTTP/1.1 200 OK\r\n\r\n",
                    &[b'x'; 4096],
                    Duration::ZERO,
                )
            },
            VERSION_LIMIT,
            Duration::from_secs(10),
        );
        assert_eq!(bad(r), "the daemon's answer is larger than 1 MiB");
    }

    /// Slowloris: headers one byte every 20 ms never trip a per-read timeout, but the whole
    /// exchange ends at the deadline, as an answer cut short.
    #[test]
    fn over_loopback_a_trickled_answer_ends_at_the_deadline() {
        let (r, took) = get_over_loopback(
            |sock| {
                flood(
                    sock,
                    b"HTTP/1.1 200 OK\r\n",
                    b"X",
                    Duration::from_millis(20),
                )
            },
            PING_LIMIT,
            Duration::from_millis(500),
        );
        match r {
            Err(HttpError::Cut(e)) => assert!(
                matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ),
                "{e}"
            ),
            other => panic!("expected a timed-out read, got {other:?}"),
        }
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_secs(3),
            "{took:?}"
        );
    }

    /// A server that accepts and then says nothing: no answer, at the deadline.
    #[test]
    fn over_loopback_silence_is_no_answer_at_the_deadline() {
        let (r, took) = get_over_loopback(
            |sock| {
                let mut sink = [0u8; 16];
                let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = (&sock).read(&mut sink);
            },
            PING_LIMIT,
            Duration::from_millis(300),
        );
        assert!(matches!(r, Err(HttpError::NoAnswer(_))), "{r:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }
}
