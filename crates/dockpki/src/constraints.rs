//! Name constraints a CA can carry: which DNS names and IP ranges its leaves may name.
//!
//! Constraining the CA means a stolen CA key still cannot mint a certificate for, say, a bank's
//! domain that some other program trusting this CA would accept.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::san::{validate_dns_name, SubjectAltName};

/// A permitted DNS subtree: the name itself and every name below it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DnsSuffix(String);

impl DnsSuffix {
    /// Whether `name` (possibly a wildcard) lies in this subtree.
    pub fn permits(&self, name: &str) -> bool {
        let name = name.strip_prefix("*.").unwrap_or(name);
        name == self.0
            || name
                .strip_suffix(self.0.as_str())
                .is_some_and(|head| head.ends_with('.'))
    }
}

impl FromStr for DnsSuffix {
    type Err = Error;

    /// Accepts `example.com` or `.example.com`; both mean example.com and its subdomains.
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim();
        let t = t.strip_prefix('.').unwrap_or(t);
        validate_dns_name(t, false)
            .map(DnsSuffix)
            .map_err(|reason| Error::InvalidNameConstraint {
                input: s.to_string(),
                reason,
            })
    }
}

impl fmt::Display for DnsSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for DnsSuffix {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<DnsSuffix> for String {
    fn from(d: DnsSuffix) -> String {
        d.0
    }
}

/// A permitted IP range in CIDR notation, e.g. `10.0.0.0/8` or `2001:db8::/32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IpRange {
    addr: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// The range's network address and prefix length.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidNameConstraint`] when the prefix is longer than the address, or the
    /// address has bits set past the prefix.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<IpRange> {
        let s = format!("{addr}/{prefix}");
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(Error::InvalidNameConstraint {
                input: s,
                reason: format!("prefix longer than {max} bits"),
            });
        }
        if mask(addr, prefix) != addr {
            return Err(Error::InvalidNameConstraint {
                reason: format!(
                    "host bits are set; did you mean {}/{prefix}?",
                    mask(addr, prefix)
                ),
                input: s,
            });
        }
        Ok(IpRange { addr, prefix })
    }

    /// Whether `ip` lies inside the range (an IPv4 range never contains an IPv6 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }

    pub(crate) fn to_rcgen(self) -> rcgen::CidrSubnet {
        rcgen::CidrSubnet::from_addr_prefix(self.addr, self.prefix)
    }

    fn from_addr_and_mask(bytes: &[u8]) -> Option<IpRange> {
        let (addr, prefix): (IpAddr, &[u8]) = match bytes.len() {
            8 => (<[u8; 4]>::try_from(&bytes[..4]).ok()?.into(), &bytes[4..]),
            32 => (
                <[u8; 16]>::try_from(&bytes[..16]).ok()?.into(),
                &bytes[16..],
            ),
            _ => return None,
        };
        let ones = prefix.iter().map(|b| b.count_ones()).sum::<u32>();
        IpRange::new(addr, u8::try_from(ones).ok()?).ok()
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & m).into())
        }
    }
}

impl FromStr for IpRange {
    type Err = Error;

    /// Accepts `ADDR/PREFIX`, or a bare address meaning that one address.
    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidNameConstraint {
            input: s.to_string(),
            reason: reason.to_string(),
        };
        let t = s.trim();
        let (addr, prefix) = match t.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (t, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| bad("not an IP range; write it as 10.0.0.0/8 or 2001:db8::/32"))?;
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .map_err(|_| bad("the prefix length is not a number"))?,
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        IpRange::new(addr, prefix)
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl TryFrom<String> for IpRange {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<IpRange> for String {
    fn from(r: IpRange) -> String {
        r.to_string()
    }
}

/// The permitted subtrees of a CA. An empty list of one kind leaves that kind unconstrained, as
/// RFC 5280, Go and webpki all read it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameConstraints {
    /// DNS subtrees leaves may name.
    pub permitted_dns: Vec<DnsSuffix>,
    /// IP ranges leaves may name.
    pub permitted_ips: Vec<IpRange>,
}

impl NameConstraints {
    /// True when nothing is constrained.
    pub fn is_empty(&self) -> bool {
        self.permitted_dns.is_empty() && self.permitted_ips.is_empty()
    }

    /// Whether a leaf may carry `san`.
    pub fn permits(&self, san: &SubjectAltName) -> bool {
        match san {
            SubjectAltName::Dns(d) => {
                self.permitted_dns.is_empty()
                    || self.permitted_dns.iter().any(|p| p.permits(d.as_str()))
            }
            SubjectAltName::Ip(ip) => {
                self.permitted_ips.is_empty() || self.permitted_ips.iter().any(|r| r.contains(*ip))
            }
        }
    }

    pub(crate) fn to_rcgen(&self) -> Option<rcgen::NameConstraints> {
        if self.is_empty() {
            return None;
        }
        let permitted_subtrees = self
            .permitted_dns
            .iter()
            .map(|d| rcgen::GeneralSubtree::DnsName(d.0.clone()))
            .chain(
                self.permitted_ips
                    .iter()
                    .map(|r| rcgen::GeneralSubtree::IpAddress(r.to_rcgen())),
            )
            .collect();
        Some(rcgen::NameConstraints {
            permitted_subtrees,
            excluded_subtrees: Vec::new(),
        })
    }

    /// Reads the permitted subtrees out of a parsed certificate. Subtrees of kinds dockpki does
    /// not issue (e-mail, URI, directory names) are ignored since they cannot affect our leaves.
    pub(crate) fn from_x509(
        cert: &x509_parser::certificate::X509Certificate<'_>,
    ) -> NameConstraints {
        use x509_parser::extensions::GeneralName;
        let mut out = NameConstraints::default();
        let Ok(Some(ext)) = cert.name_constraints() else {
            return out;
        };
        for subtree in ext.value.permitted_subtrees.iter().flatten() {
            match &subtree.base {
                GeneralName::DNSName(d) => {
                    if let Ok(s) = d.parse() {
                        out.permitted_dns.push(s);
                    }
                }
                GeneralName::IPAddress(bytes) => {
                    if let Some(r) = IpRange::from_addr_and_mask(bytes) {
                        out.permitted_ips.push(r);
                    }
                }
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_suffix_permits_itself_and_subdomains_only() {
        let s: DnsSuffix = ".Example.com".parse().unwrap();
        assert!(s.permits("example.com"));
        assert!(s.permits("docker.example.com"));
        assert!(s.permits("*.example.com"));
        assert!(!s.permits("badexample.com"));
        assert!(!s.permits("example.com.evil"));
    }

    #[test]
    fn ip_ranges_need_clear_host_bits() {
        let r: IpRange = "10.0.0.0/8".parse().unwrap();
        assert!(r.contains("10.1.2.3".parse().unwrap()));
        assert!(!r.contains("11.0.0.1".parse().unwrap()));
        assert!(!r.contains("::ffff:10.0.0.1".parse().unwrap()));
        let err = "10.0.0.1/8".parse::<IpRange>().unwrap_err().to_string();
        assert!(err.contains("10.0.0.0/8"), "{err}");
        assert!("10.0.0.0/33".parse::<IpRange>().is_err());
        assert!("2001:db8::/32"
            .parse::<IpRange>()
            .unwrap()
            .contains("2001:db8::7".parse().unwrap()));
        assert_eq!(
            "192.0.2.7".parse::<IpRange>().unwrap().to_string(),
            "192.0.2.7/32"
        );
        assert!("0.0.0.0/0"
            .parse::<IpRange>()
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn constraints_apply_per_name_kind() {
        let nc = NameConstraints {
            permitted_dns: vec!["example.com".parse().unwrap()],
            permitted_ips: vec![],
        };
        assert!(nc.permits(&"a.example.com".parse().unwrap()));
        assert!(!nc.permits(&"a.example.org".parse().unwrap()));
        assert!(nc.permits(&"192.0.2.1".parse().unwrap()));
    }
}
