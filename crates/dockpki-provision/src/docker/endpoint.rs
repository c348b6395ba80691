//! Daemon addresses as the docker CLI takes them with `-H`: `tcp://HOST:PORT`, and the forms
//! that mean one address only (`HOST:PORT`, `HOST`, `[IPv6]:PORT`).

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

/// The port a bare `HOST` or `tcp://HOST` means: the docker CLI's default for TLS.
pub const DEFAULT_TLS_PORT: u16 = 2376;

impl FromStr for TcpEndpoint {
    type Err = Error;

    /// Docker's own `-H` syntax, `tcp://HOST:PORT`, and the forms that mean one thing only:
    /// `HOST:PORT`, a bare `HOST` or `tcp://HOST` (port [`DEFAULT_TLS_PORT`]), an IPv6 address
    /// in brackets (`[2001:db8::1]:2376`, `[::1]`). Refused: other schemes (`unix://`,
    /// `ssh://`, `https://`: these certificates protect TCP), an IPv6 address without brackets
    /// (`::1:2376` could be an address or an address and a port), paths, users, port 0.
    fn from_str(s: &str) -> Result<Self, Error> {
        let example = "e.g. tcp://docker.example.com:2376 (IPv6: tcp://[2001:db8::1]:2376)";
        let bad = |why: &str| {
            Error::new(format!(
                "the daemon address {s:?} {why}; give tcp://HOST:PORT, {example}"
            ))
        };
        // A daemon address never holds one; it would be written into the context's meta.json
        // and printed, where it could start a forged line or drive the terminal.
        crate::text::refuse_unprintable("the daemon address", s)?;
        let rest = match s.split_once("://") {
            Some(("tcp", rest)) => rest,
            Some((scheme, _)) => {
                return Err(Error::new(format!(
                    "the daemon address {s:?} uses {scheme}://, but dockpki's certificates protect a daemon over TCP; give tcp://HOST:PORT, {example}"
                )))
            }
            None => s,
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Err(bad("has no host"));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("has an unclosed '['"))?;
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad("has no valid IPv6 address in brackets"));
            }
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| bad("has something other than :PORT after the brackets"))?,
                ),
            };
            (host, port)
        } else if rest.matches(':').count() > 1 {
            // `2001:db8::1:2376` is an address, or an address and a port: never guess.
            return Err(bad(
                "has more than one ':' (an IPv6 address goes in brackets, or its last part would be taken for a port)",
            ));
        } else {
            match rest.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            }
        };
        if host.is_empty() {
            return Err(bad("has no host"));
        }
        if host.contains(['/', '@', '?', '#', ' ', '[', ']']) {
            return Err(bad("has no valid host name (no path, user or query)"));
        }
        let port = match port {
            None => DEFAULT_TLS_PORT,
            Some(p) => p
                .parse()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| bad("has no valid port (1-65535)"))?,
        };
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
    fn accepts_host_port_bare_hosts_and_brackets_with_the_default_port() {
        for (given, meant) in [
            ("docker.example.com:2376", "tcp://docker.example.com:2376"),
            ("docker.example.com", "tcp://docker.example.com:2376"),
            ("tcp://docker.example.com", "tcp://docker.example.com:2376"),
            ("192.0.2.10:12376", "tcp://192.0.2.10:12376"),
            ("192.0.2.10", "tcp://192.0.2.10:2376"),
            ("[::1]:2376", "tcp://[::1]:2376"),
            ("[2001:db8::1]", "tcp://[2001:db8::1]:2376"),
            ("tcp://[::1]", "tcp://[::1]:2376"),
            ("tcp://h:2376/", "tcp://h:2376"),
        ] {
            let e: TcpEndpoint = given.parse().expect(given);
            assert_eq!(e.to_string(), meant, "{given}");
        }
        let e: TcpEndpoint = "[2001:db8::1]:1".parse().expect("v6");
        assert_eq!(e.host, "2001:db8::1");
    }

    #[test]
    fn refuses_other_schemes_unbracketed_ipv6_and_bad_hosts() {
        for (s, why) in [
            ("https://h:2376", "uses https://"),
            ("unix:///var/run/docker.sock", "uses unix://"),
            ("ssh://me@h", "uses ssh://"),
            ("tcp://h:0", "no valid port"),
            ("tcp://h:99999", "no valid port"),
            ("h:", "no valid port"),
            ("tcp://:2376", "has no host"),
            ("tcp://", "has no host"),
            ("", "has no host"),
            ("tcp://::1:2376", "goes in brackets"),
            ("2001:db8::1", "goes in brackets"),
            ("tcp://[zz]:2376", "no valid IPv6 address in brackets"),
            ("[::1]2376", "other than :PORT"),
            ("tcp://h/x:2376", "no valid host name"),
            ("tcp://h:2376/x", "no valid port"),
            ("tcp://me@h:2376", "no valid host name"),
            ("tcp://h\n:2376", "control"),
            ("tcp://h:2376\n", "control"),
            ("tcp://h\x1b[2J:2376", "control"),
            ("tcp://h\u{202e}:2376", ""),
            ("tcp://[::1\r]:2376", "control"),
        ] {
            let e = s.parse::<TcpEndpoint>().expect_err(s).to_string();
            assert!(e.contains(why), "{s:?}: {e}");
        }
    }
}
