//! Subject alternative names, typed from the strings operators type.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A DNS name that passed validation: letters, digits and hyphens, labels of 1 to 63
/// characters, at most 253 in all, lower-cased and without a trailing dot; `*` may be the whole
/// leftmost label of a name with at least two more labels (`*.example.com`). These are the rules
/// Go's and webpki's verifiers apply, so a name that is not one would make a certificate that
/// nobody can match.
///
/// The only ways to get one are [`DnsName::from_str`] (also through `str::parse`),
/// `TryFrom<String>` and deserialisation, which all validate: there is no constructor from an
/// unchecked string, so a [`SubjectAltName::Dns`] (and so a [`SanList`]) never holds an
/// unvalidated name.
///
/// ```
/// use dockpki::DnsName;
/// let name: DnsName = "Docker.Example.COM.".parse()?;
/// assert_eq!(name.as_str(), "docker.example.com");
/// assert!("*.example.com".parse::<DnsName>()?.is_wildcard());
/// assert!("under_score.example.com".parse::<DnsName>().is_err());
/// # Ok::<(), dockpki::Error>(())
/// ```
///
/// A SAN cannot be made from an unchecked string:
///
/// ```compile_fail
/// let san = dockpki::SubjectAltName::Dns("under_score.example.com".to_string());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DnsName(String);

impl DnsName {
    /// The name as text: lower case, no trailing dot.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the name starts with the `*.` wildcard label.
    pub fn is_wildcard(&self) -> bool {
        self.0.starts_with("*.")
    }
}

impl FromStr for DnsName {
    type Err = Error;

    /// Validates `input` (surrounding blanks ignored) by the rules in [`DnsName`]'s
    /// description, wildcards included.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSan`], with the rule the name breaks.
    fn from_str(input: &str) -> Result<Self> {
        validate_dns_name(input.trim(), true)
            .map(DnsName)
            .map_err(|reason| Error::InvalidSan {
                input: input.to_string(),
                reason,
            })
    }
}

impl fmt::Display for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for DnsName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DnsName {
    type Error = Error;

    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<DnsName> for String {
    fn from(d: DnsName) -> String {
        d.0
    }
}

/// One subject alternative name: what a client dials must match one of these exactly.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SubjectAltName {
    /// A validated DNS name; `*.` may stand as the leftmost label.
    Dns(DnsName),
    /// An IPv4 or IPv6 address; Go's verifier compares dialled IPs against IP SANs only.
    Ip(IpAddr),
}

impl SubjectAltName {
    /// Whether this is a DNS name starting with the `*.` wildcard label.
    pub fn is_wildcard(&self) -> bool {
        matches!(self, SubjectAltName::Dns(d) if d.is_wildcard())
    }

    pub(crate) fn to_rcgen(&self) -> Result<rcgen::SanType> {
        Ok(match self {
            SubjectAltName::Dns(name) => {
                rcgen::SanType::DnsName(name.as_str().try_into().map_err(|_| {
                    Error::InvalidSan {
                        input: name.to_string(),
                        reason: "not ASCII".into(),
                    }
                })?)
            }
            SubjectAltName::Ip(ip) => rcgen::SanType::IpAddress(*ip),
        })
    }
}

impl FromStr for SubjectAltName {
    type Err = Error;

    /// Types a string as an IP address when it parses as one (also `[::1]`), else as a DNS name.
    fn from_str(input: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidSan {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let s = input.trim();
        if let Some((_, rest)) = s.split_once("://") {
            let host = strip_port(rest.split('/').next().unwrap_or(rest)).0;
            return Err(bad(&format!(
                "a SAN is a name or an address, not a URL; give just the host: {host}"
            )));
        }
        if let (host, Some(port)) = strip_port(s) {
            if !host.is_empty() {
                return Err(bad(&format!(
                    "a SAN is a name or an address without a port; drop ':{port}'"
                )));
            }
        }
        let unbracketed = s
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(s);
        if unbracketed.contains('%') {
            return Err(bad(
                "IPv6 zone ids (the %eth0 part) cannot appear in certificates; drop it",
            ));
        }
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            if let Some(reason) = undialable(ip) {
                return Err(bad(reason));
            }
            return Ok(SubjectAltName::Ip(ip));
        }
        if unbracketed.contains(':') {
            return Err(bad(
                "looks like an IPv6 address but does not parse as one (no port numbers here)",
            ));
        }
        validate_dns_name(s, true)
            .map(|name| SubjectAltName::Dns(DnsName(name)))
            .map_err(|reason| bad(&reason))
    }
}

/// Why no client can dial `ip` over TCP, if it cannot: the unspecified address means "every
/// address" to a listener, broadcast and multicast address groups of hosts, and TCP (hence TLS)
/// connects to one host only. A certificate naming one covers nothing and hides a typo. An
/// IPv4-mapped IPv6 address (`::ffff:224.0.0.1`) is judged as the IPv4 address it carries.
fn undialable(ip: IpAddr) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    if ip.is_unspecified() {
        return Some("this is a listen-on-everything address that no client dials; give the host's real address");
    }
    if ip.is_multicast() {
        return Some("this is a multicast address (224.0.0.0/4, ff00::/8), which TCP cannot connect to; give the host's own address");
    }
    if matches!(ip, IpAddr::V4(v4) if v4.is_broadcast()) {
        return Some("this is the broadcast address, which TCP cannot connect to; give the host's own address");
    }
    None
}

/// Splits `host:port` (also `[v6]:port`) into host and port. A bare IPv6 address has several
/// colons and no brackets, so it is never taken for a host with a port.
fn strip_port(s: &str) -> (&str, Option<&str>) {
    let is_port = |p: &str| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
    if let Some(inner) = s.strip_prefix('[') {
        if let Some((host, port)) = inner.split_once("]:") {
            if is_port(port) {
                return (host, Some(port));
            }
        }
        return (s, None);
    }
    match s.split_once(':') {
        Some((host, port)) if !port.contains(':') && is_port(port) => (host, Some(port)),
        _ => (s, None),
    }
}

impl fmt::Display for SubjectAltName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectAltName::Dns(d) => f.write_str(d.as_str()),
            SubjectAltName::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

impl TryFrom<String> for SubjectAltName {
    type Error = Error;

    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<SubjectAltName> for String {
    fn from(s: SubjectAltName) -> String {
        s.to_string()
    }
}

/// Checks a DNS name by the rules Go's and webpki's verifiers apply (letters, digits and hyphens,
/// labels of 1 to 63 characters, at most 253 in all), and returns it lower-cased without a
/// trailing dot. With `allow_wildcard`, `*` may be the whole leftmost label of a name that has at
/// least two more labels.
pub(crate) fn validate_dns_name(input: &str, allow_wildcard: bool) -> Result<String, String> {
    let name = input
        .strip_suffix('.')
        .unwrap_or(input)
        .to_ascii_lowercase();
    if name.is_empty() {
        return Err("empty name".into());
    }
    if name.len() > 253 {
        return Err(format!(
            "{} characters long, more than the 253 DNS allows",
            name.len()
        ));
    }
    let labels: Vec<&str> = name.split('.').collect();
    for (i, label) in labels.iter().enumerate() {
        if label.is_empty() {
            return Err("empty label (two dots in a row, or a leading dot)".into());
        }
        if *label == "*" {
            if !allow_wildcard {
                return Err("wildcards are not allowed here".into());
            }
            if i != 0 {
                return Err(
                    "a wildcard may only be the whole leftmost label, as in *.example.com".into(),
                );
            }
            if labels.len() < 3 {
                return Err(
                    "a wildcard needs at least two labels after it, as in *.example.com".into(),
                );
            }
            continue;
        }
        if label.contains('*') {
            return Err(
                "a wildcard may only be the whole leftmost label, as in *.example.com".into(),
            );
        }
        if label.len() > 63 {
            return Err(format!("label {label:?} is longer than 63 characters"));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(format!(
                "character {c:?} is not allowed in DNS names (letters, digits and '-' only)"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label {label:?} starts or ends with '-'"));
        }
    }
    if labels
        .last()
        .is_some_and(|l| l.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(
            "all-numeric top-level label: neither a valid IP address nor a DNS name".into(),
        );
    }
    Ok(name)
}

/// A non-empty, duplicate-free list of SANs, in the order given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<SubjectAltName>", into = "Vec<SubjectAltName>")]
pub struct SanList(Vec<SubjectAltName>);

impl SanList {
    /// Builds the list, dropping repeats. Every name in it was validated when it was made (see
    /// [`DnsName`]).
    ///
    /// # Errors
    ///
    /// [`Error::NoSans`] when the list is empty.
    pub fn new(sans: impl IntoIterator<Item = SubjectAltName>) -> Result<SanList> {
        let mut list: Vec<SubjectAltName> = Vec::new();
        for san in sans {
            if !list.contains(&san) {
                list.push(san);
            }
        }
        if list.is_empty() {
            return Err(Error::NoSans);
        }
        Ok(SanList(list))
    }

    /// Parses every string, failing on the first invalid one.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSan`] for the first string that is neither a DNS name nor a dialable IP
    /// address, [`Error::NoSans`] when there is none.
    pub fn parse<S: AsRef<str>>(inputs: impl IntoIterator<Item = S>) -> Result<SanList> {
        SanList::new(
            inputs
                .into_iter()
                .map(|s| s.as_ref().parse())
                .collect::<Result<Vec<_>>>()?,
        )
    }

    /// The names, in order.
    pub fn as_slice(&self) -> &[SubjectAltName] {
        &self.0
    }

    /// The first DNS name that is not a wildcard, or else the first SAN: the conventional common
    /// name.
    pub fn primary(&self) -> &SubjectAltName {
        self.0
            .iter()
            .find(|s| matches!(s, SubjectAltName::Dns(d) if !d.is_wildcard()))
            .unwrap_or(&self.0[0])
    }
}

impl TryFrom<Vec<SubjectAltName>> for SanList {
    type Error = Error;

    fn try_from(v: Vec<SubjectAltName>) -> Result<Self> {
        SanList::new(v)
    }
}

impl From<SanList> for Vec<SubjectAltName> {
    fn from(l: SanList) -> Self {
        l.0
    }
}

impl fmt::Display for SanList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|s| s.to_string()).collect();
        f.write_str(&parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dns(s: &str) -> SubjectAltName {
        SubjectAltName::Dns(s.parse().unwrap())
    }

    #[test]
    fn strings_are_typed_as_ip_or_dns() {
        assert_eq!(
            "127.0.0.1".parse::<SubjectAltName>().unwrap(),
            SubjectAltName::Ip("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            "::1".parse::<SubjectAltName>().unwrap(),
            SubjectAltName::Ip("::1".parse().unwrap())
        );
        assert_eq!(
            "[2001:db8::1]".parse::<SubjectAltName>().unwrap(),
            SubjectAltName::Ip("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            "Docker.Example.COM.".parse::<SubjectAltName>().unwrap(),
            dns("docker.example.com")
        );
        assert_eq!(
            "localhost".parse::<SubjectAltName>().unwrap(),
            dns("localhost")
        );
        assert_eq!(
            "*.example.com".parse::<SubjectAltName>().unwrap(),
            dns("*.example.com")
        );
        assert_eq!(
            "xn--bcher-kva.example".parse::<SubjectAltName>().unwrap(),
            dns("xn--bcher-kva.example")
        );
    }

    #[test]
    fn invalid_names_are_refused_with_a_reason() {
        let long_label = format!("{}.example.com", "a".repeat(64));
        let long_name = format!("{}.com", vec!["a".repeat(60); 5].join("."));
        for bad in [
            "",
            "a..b",
            ".a.b",
            "*.*.x.com",
            "a*.x.com",
            "*.com",
            "x.*.com",
            "under_score.com",
            "fe80::1%eth0",
            "0.0.0.0",
            "::",
            "::ffff:0.0.0.0",
            "255.255.255.255",
            "::ffff:255.255.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "[ff02::1]",
            "ff05::fb",
            "::ffff:224.0.0.251",
            "256.1.1.1",
            "1.2.3",
            "-a.com",
            "a-.com",
            "host:2376",
            "white space.com",
            long_label.as_str(),
            long_name.as_str(),
            "ü.com",
        ] {
            let err = bad.parse::<SubjectAltName>().expect_err(bad);
            assert!(matches!(err, Error::InvalidSan { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn addresses_no_client_can_connect_to_are_refused_with_the_reason() {
        for (bad, phrase) in [
            ("0.0.0.0", "listen-on-everything"),
            ("::", "listen-on-everything"),
            ("255.255.255.255", "broadcast"),
            ("224.0.0.1", "multicast"),
            ("ff02::1", "multicast"),
            ("::ffff:239.1.2.3", "multicast"),
        ] {
            let err = bad.parse::<SubjectAltName>().expect_err(bad).to_string();
            assert!(err.contains(phrase), "{bad}: {err}");
        }
        // The neighbours of the refused ranges stay usable.
        for good in [
            "223.255.255.255",
            "240.0.0.1",
            "255.255.255.254",
            "192.168.1.255",
            "fe80::1",
            "feff::1",
            "::ffff:192.0.2.1",
        ] {
            assert!(good.parse::<SubjectAltName>().is_ok(), "{good}");
        }
    }

    #[test]
    fn a_port_or_a_url_is_named_as_such_with_what_to_give_instead() {
        for (input, reason) in [
            (
                "host:2376",
                "a SAN is a name or an address without a port; drop ':2376'",
            ),
            ("192.0.2.1:2376", "without a port; drop ':2376'"),
            ("[2001:db8::1]:2376", "without a port; drop ':2376'"),
            (
                "tcp://docker.example.com:2376",
                "not a URL; give just the host: docker.example.com",
            ),
            ("https://[::1]:2376/", "not a URL; give just the host: ::1"),
        ] {
            let err = input
                .parse::<SubjectAltName>()
                .expect_err(input)
                .to_string();
            assert!(err.contains(reason), "{input}: {err}");
            assert!(!err.contains("IPv6 address but"), "{input}: {err}");
        }
        // Colons without a port are still an IPv6 question.
        let err = "2001:db8::zz"
            .parse::<SubjectAltName>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("looks like an IPv6 address"), "{err}");
        // A bare IPv6 address ending in digits is an address, not a host and a port.
        assert!("2001:db8::2376".parse::<SubjectAltName>().is_ok());
    }

    #[test]
    fn labels_of_exactly_63_and_names_of_253_are_accepted() {
        let label63 = format!("{}.com", "a".repeat(63));
        assert!(label63.parse::<SubjectAltName>().is_ok());
        let name253 = format!(
            "{}.{}.{}.{}",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61)
        );
        assert_eq!(name253.len(), 253);
        assert!(name253.parse::<SubjectAltName>().is_ok());
    }

    #[test]
    fn duplicates_are_dropped_and_empty_lists_refused() {
        let list = SanList::parse(["a.com", "A.com.", "127.0.0.1", "127.0.0.1"]).unwrap();
        assert_eq!(list.as_slice().len(), 2);
        assert!(matches!(
            SanList::parse(Vec::<String>::new()),
            Err(Error::NoSans)
        ));
    }

    #[test]
    fn dns_name_refuses_what_a_dns_san_refuses_and_accepts_what_it_accepts() {
        let long_label = format!("{}.example.com", "a".repeat(64));
        for bad in [
            "",
            "a..b",
            ".a.b",
            "*.*.x.com",
            "a*.x.com",
            "*.com",
            "x.*.com",
            "under_score.com",
            "-a.com",
            "a-.com",
            "white space.com",
            "host:2376",
            "1.2.3",
            "ü.com",
            long_label.as_str(),
        ] {
            let err = bad.parse::<DnsName>().expect_err(bad);
            assert!(matches!(err, Error::InvalidSan { .. }), "{bad}: {err}");
        }
        for good in [
            "Docker.Example.COM.",
            " localhost ",
            "*.example.com",
            "xn--bcher-kva.example",
        ] {
            let name: DnsName = good.parse().expect(good);
            assert_eq!(
                good.parse::<SubjectAltName>().unwrap(),
                SubjectAltName::Dns(name.clone()),
                "{good}"
            );
            assert_eq!(
                name.as_str(),
                good.trim().trim_end_matches('.').to_lowercase()
            );
        }
    }

    #[test]
    fn a_san_list_cannot_be_deserialised_with_an_unvalidated_name() {
        // Deserialisation is the one way around `parse`; it validates as well.
        for json in [r#"["under_score.example.com"]"#, r#"["a..b"]"#] {
            assert!(serde_json::from_str::<SanList>(json).is_err(), "{json}");
            assert!(serde_json::from_str::<DnsName>(&json[1..json.len() - 1]).is_err());
        }
        let list: SanList = serde_json::from_str(r#"["Docker.Example.com", "10.0.0.1"]"#).unwrap();
        assert_eq!(list.as_slice()[0], dns("docker.example.com"));
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            r#"["docker.example.com","10.0.0.1"]"#
        );
    }

    #[test]
    fn primary_prefers_a_plain_dns_name() {
        let list = SanList::parse(["10.0.0.1", "*.x.example", "docker.example"]).unwrap();
        assert_eq!(list.primary(), &dns("docker.example"));
        let ips = SanList::parse(["10.0.0.1"]).unwrap();
        assert_eq!(ips.primary().to_string(), "10.0.0.1");
    }
}
