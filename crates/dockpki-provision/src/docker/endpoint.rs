//! Daemon addresses as the docker CLI takes them: `tcp://HOST:PORT`.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// A TCP daemon address: a DNS name or an IP address, and a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpEndpoint {
    /// The name or address as given, IPv6 without brackets.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl TcpEndpoint {
    /// Whether the host is an IPv6 address (written in brackets in URLs).
    fn is_ipv6(&self) -> bool {
        self.host.contains(':')
    }
}

impl fmt::Display for TcpEndpoint {
    /// `tcp://HOST:PORT`, the form `DOCKER_HOST` and contexts use.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ipv6() {
            write!(f, "tcp://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "tcp://{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for TcpEndpoint {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |why: &str| {
            Error::new(format!(
                "the daemon address {s:?} {why}; give tcp://HOST:PORT, e.g. tcp://docker.example.com:2376"
            ))
        };
        // A daemon address never holds one; it would be written into the context's meta.json
        // and printed, where it could start a forged line or drive the terminal.
        crate::text::refuse_unprintable("the daemon address", s)?;
        let rest = s
            .strip_prefix("tcp://")
            .ok_or_else(|| bad("does not start with tcp://"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("has an unclosed '['"))?;
            let port = after.strip_prefix(':').ok_or_else(|| bad("has no port"))?;
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad("has no valid IPv6 address in brackets"));
            }
            (host, port)
        } else {
            rest.rsplit_once(':').ok_or_else(|| bad("has no port"))?
        };
        if host.is_empty()
            || host.contains(['/', '@', '?', '#', ' ', '[', ']'])
            || (host.contains(':') && !s.contains('['))
        {
            return Err(bad("has no valid host name"));
        }
        let port: u16 = port
            .parse()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| bad("has no valid port (1-65535)"))?;
        Ok(TcpEndpoint {
            host: host.to_string(),
            port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::TcpEndpoint;

    #[test]
    fn parses_names_ipv4_and_bracketed_ipv6_and_prints_them_back() {
        for s in [
            "tcp://docker.example.com:2376",
            "tcp://127.0.0.1:2376",
            "tcp://[::1]:2376",
        ] {
            let e: TcpEndpoint = s.parse().expect(s);
            assert_eq!(e.to_string(), s);
        }
        let e: TcpEndpoint = "tcp://[::1]:1".parse().expect("v6");
        assert_eq!((e.host.as_str(), e.port), ("::1", 1));
    }

    #[test]
    fn refuses_other_schemes_missing_ports_and_bad_hosts() {
        for s in [
            "docker.example.com:2376",
            "https://h:2376",
            "tcp://h",
            "tcp://h:0",
            "tcp://h:99999",
            "tcp://:2376",
            "tcp://::1:2376",
            "tcp://[zz]:2376",
            "tcp://h/x:2376",
            "tcp://h\n:2376",
            "tcp://h:2376\n",
            "tcp://h\x1b[2J:2376",
            "tcp://h\u{202e}:2376",
            "tcp://[::1\r]:2376",
        ] {
            assert!(s.parse::<TcpEndpoint>().is_err(), "{s} was accepted");
        }
    }
}
