//! Certificate signing requests (PKCS#10): made where a key lives, signed where the CA lives, so
//! that a private key never has to travel.
//!
//! [`create_server_csr`] and [`create_client_csr`] make a request for a key the caller keeps;
//! [`VerifiedCsr`] reads one and can only be built by checking its signature (the proof that
//! the requester holds the key), and [`CertificateAuthority::sign_csr`] certifies it. The CA
//! takes only the subject common name, the DNS and IP SANs and the public key from a request:
//! extended key usage, key usage, basic constraints and validity are always dockpki's own, so a
//! request asking for `CA:TRUE` or for `codeSigning` gets a plain leaf all the same.

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, PublicKeyData,
    SignatureAlgorithm,
};
use time::OffsetDateTime;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use crate::ca::CertificateAuthority;
use crate::common_name::CommonName;
use crate::error::{crypto, Error, Result};
use crate::inspect;
use crate::issue::{ClientRequest, ServerRequest, SignedCert};
use crate::key::{KeyType, PrivateKey};
use crate::lifetime::Lifetime;
use crate::san::{SanList, SubjectAltName};
use crate::verify::Usage;

/// The most bytes of a request dockpki reads: a real one is under 2 KiB even with an RSA-4096
/// key and many SANs.
pub const MAX_CSR_BYTES: usize = 64 << 10;

/// Makes a PEM request (`-----BEGIN CERTIFICATE REQUEST-----`) for a daemon's certificate: the
/// common name (default: the first SAN), every SAN, and extended key usage serverAuth, which
/// tells `dockpki sign` which kind of certificate is wanted.
///
/// # Errors
///
/// [`Error::Crypto`] when the backend fails to sign the request.
pub fn create_server_csr(
    key: &PrivateKey,
    sans: &SanList,
    common_name: Option<&CommonName>,
) -> Result<String> {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    let cn = crate::issue::server_common_name(common_name, sans);
    params.distinguished_name.push(DnType::CommonName, cn);
    params.subject_alt_names = sans
        .as_slice()
        .iter()
        .map(|s| s.to_rcgen())
        .collect::<Result<_>>()?;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    serialize(&params, key)
}

/// Makes a PEM request for a client certificate: the common name and extended key usage
/// clientAuth.
///
/// ```
/// use dockpki::{create_client_csr, CaOptions, CertificateAuthority, KeyType, OffsetDateTime,
///               PrivateKey, Usage, VerifiedCsr};
/// let now = OffsetDateTime::now_utc();
/// let key = PrivateKey::generate(KeyType::EcdsaP256)?; // stays on the client
/// let pem = create_client_csr(&key, &"alice".parse()?)?;
/// let ca = CertificateAuthority::create(&CaOptions::new(now)?, now)?;
/// let csr = VerifiedCsr::from_pem(pem.as_bytes())?;
/// assert_eq!(csr.requested_usage(), Some(Usage::Client));
/// let signed = ca.sign_csr(&csr, Usage::Client, "90d".parse()?, now)?;
/// let issued = signed.with_key(key)?; // the certificate is for the key that made the request
/// # Ok::<(), dockpki::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::Crypto`] when the backend fails to sign the request.
pub fn create_client_csr(key: &PrivateKey, common_name: &CommonName) -> Result<String> {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name.as_str());
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    serialize(&params, key)
}

fn serialize(params: &CertificateParams, key: &PrivateKey) -> Result<String> {
    params
        .serialize_request(key.rcgen())
        .map_err(crypto)?
        .pem()
        .map_err(crypto)
}

/// A certificate signing request whose signature was checked against the public key it
/// carries, so whoever made it holds that key. The only way to get one is
/// [`VerifiedCsr::from_pem`] or [`VerifiedCsr::from_der`].
///
/// It keeps what dockpki may take from a request (common name, DNS and IP SANs, the public
/// key) and notes what it will ignore ([`VerifiedCsr::ignored`]).
#[derive(Clone, Debug)]
pub struct VerifiedCsr {
    der: Vec<u8>,
    pem: String,
    common_name: Option<String>,
    sans: Vec<String>,
    requested_usage: Option<Usage>,
    spki: Vec<u8>,
    key_type: KeyType,
    ignored: Vec<String>,
}

/// What a certificate signed from a request carries as names
/// ([`VerifiedCsr::certified_names`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertifiedNames {
    /// The subject's common name.
    pub common_name: String,
    /// The subject alternative names, in the order the certificate lists them (none for a
    /// client certificate). `sign` compares them as a set: a request listing the same names in
    /// another order does not need a new certificate.
    pub sans: Vec<SubjectAltName>,
}

/// A request's names, checked for one kind of certificate.
enum Subject {
    Server {
        sans: SanList,
        common_name: Option<CommonName>,
    },
    Client {
        common_name: CommonName,
    },
}

impl VerifiedCsr {
    /// Reads and verifies a request in PEM (`CERTIFICATE REQUEST`, or the older `NEW
    /// CERTIFICATE REQUEST` label).
    ///
    /// # Errors
    ///
    /// [`Error::Csr`] when the input holds no request, or when [`VerifiedCsr::from_der`] refuses
    /// it.
    pub fn from_pem(pem: &[u8]) -> Result<VerifiedCsr> {
        if pem.len() > MAX_CSR_BYTES {
            return Err(csr_error(format!(
                "it is larger than {} KiB, far more than any request",
                MAX_CSR_BYTES >> 10
            )));
        }
        let blocks =
            ::pem::parse_many(pem).map_err(|e| csr_error(format!("it is not valid PEM ({e})")))?;
        let block = blocks
            .into_iter()
            .find(|b| b.tag() == "CERTIFICATE REQUEST" || b.tag() == "NEW CERTIFICATE REQUEST")
            .ok_or_else(|| {
                csr_error("it holds no `-----BEGIN CERTIFICATE REQUEST-----` block".into())
            })?;
        VerifiedCsr::from_der(block.contents())
    }

    /// Reads and verifies a DER request.
    ///
    /// # Errors
    ///
    /// [`Error::Csr`] when it is not a PKCS#10 request, when its signature does not verify with
    /// its own public key (a damaged or altered request), when its key is not one dockpki
    /// certifies (ECDSA P-256/P-384, Ed25519, RSA 2048/3072/4096), when its subject or SANs
    /// cannot be read, or when it asks for SANs other than DNS names and IP addresses.
    pub fn from_der(der: &[u8]) -> Result<VerifiedCsr> {
        if der.len() > MAX_CSR_BYTES {
            return Err(csr_error("it is larger than any request".into()));
        }
        let (rest, csr) = X509CertificationRequest::from_der(der)
            .map_err(|e| csr_error(format!("it is not a PKCS#10 request ({e})")))?;
        if !rest.is_empty() {
            return Err(csr_error("it has trailing bytes after the request".into()));
        }
        csr.verify_signature().map_err(|_| {
            csr_error(
                "its signature does not verify with the public key it carries (damaged or altered in transit)"
                    .into(),
            )
        })?;
        let info = &csr.certification_request_info;
        let (key_type, key_name) = inspect::describe_spki(&info.subject_pki);
        let key_type = key_type.ok_or_else(|| {
            csr_error(format!(
                "its key is {key_name}, not one dockpki certifies (ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096)"
            ))
        })?;
        let mut cns = info.subject.iter_common_name();
        let common_name = match cns.next() {
            None => None,
            Some(cn) => Some(
                cn.as_str()
                    .map_err(|_| csr_error("its common name is not a string".into()))?
                    .to_string(),
            ),
        };
        if cns.next().is_some() {
            return Err(csr_error(
                "its subject has more than one common name".into(),
            ));
        }
        let mut ignored = Vec::new();
        if info.subject.iter().flat_map(|rdn| rdn.iter()).count()
            > usize::from(common_name.is_some())
        {
            ignored.push(format!(
                "subject attributes other than the common name ({})",
                info.subject
            ));
        }
        let mut sans = Vec::new();
        let mut requested_usage = None;
        for ext in csr.requested_extensions().into_iter().flatten() {
            match ext {
                ParsedExtension::SubjectAlternativeName(san) => {
                    for name in &san.general_names {
                        match name {
                            GeneralName::DNSName(d) => sans.push((*d).to_string()),
                            GeneralName::IPAddress(b) => {
                                let ip = inspect::ip_from_bytes(b).ok_or_else(|| {
                                    csr_error("it has an IP SAN of an invalid length".into())
                                })?;
                                sans.push(ip.to_string());
                            }
                            other => {
                                return Err(csr_error(format!(
                                    "it asks for the SAN {other}, where dockpki certifies DNS names and IP addresses only"
                                )))
                            }
                        }
                    }
                }
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    requested_usage = match (eku.server_auth, eku.client_auth) {
                        (true, false) => Some(Usage::Server),
                        (false, true) => Some(Usage::Client),
                        _ => None,
                    };
                    let extra = eku.any
                        || eku.code_signing
                        || eku.email_protection
                        || eku.time_stamping
                        || eku.ocsp_signing
                        || !eku.other.is_empty()
                        || (eku.server_auth && eku.client_auth);
                    if extra {
                        ignored.push(
                            "extended key usages beyond one of serverAuth and clientAuth".into(),
                        );
                    }
                }
                ParsedExtension::BasicConstraints(bc) => {
                    if bc.ca {
                        ignored.push("basic constraints CA:TRUE".into());
                    }
                }
                ParsedExtension::KeyUsage(_) => ignored.push("key usage".into()),
                _ => ignored.push("other requested extensions".into()),
            }
        }
        ignored.dedup();
        Ok(VerifiedCsr {
            pem: ::pem::encode_config(
                &::pem::Pem::new("CERTIFICATE REQUEST", csr.as_raw().to_vec()),
                ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF),
            ),
            der: csr.as_raw().to_vec(),
            common_name,
            sans,
            requested_usage,
            spki: info.subject_pki.raw.to_vec(),
            key_type,
            ignored,
        })
    }

    /// The request in DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The request in PEM, as stored in the inventory for signing it again later.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The subject common name, if there is one.
    pub fn common_name(&self) -> Option<&str> {
        self.common_name.as_deref()
    }

    /// The requested DNS and IP SANs, as written (not yet checked against dockpki's rules).
    pub fn sans(&self) -> &[String] {
        &self.sans
    }

    /// The names a certificate of kind `usage` signed from this request
    /// ([`CertificateAuthority::sign_csr`]) carries, by the same rules: a server's common name
    /// is the request's, else [`SanList::primary`] of its SANs, and its SANs are the request's,
    /// checked (duplicates removed); a client
    /// certificate carries the request's common name and no SANs. For telling, without the CA's
    /// key, whether a certificate signed earlier still does for this request.
    ///
    /// # Errors
    /// As [`CertificateAuthority::sign_csr`] for the names: [`Error::InvalidSan`] or
    /// [`Error::NoSans`] for a server request's SANs, [`Error::InvalidCommonName`] for its
    /// common name, [`Error::Csr`] for a client request without one.
    pub fn certified_names(&self, usage: Usage) -> Result<CertifiedNames> {
        Ok(match self.subject(usage)? {
            Subject::Server { sans, common_name } => CertifiedNames {
                common_name: crate::issue::server_common_name(common_name.as_ref(), &sans),
                sans: sans.as_slice().to_vec(),
            },
            Subject::Client { common_name } => CertifiedNames {
                common_name: common_name.to_string(),
                sans: Vec::new(),
            },
        })
    }

    /// The request's names checked as a certificate of kind `usage` takes them.
    fn subject(&self, usage: Usage) -> Result<Subject> {
        let common_name: Option<CommonName> =
            self.common_name.as_deref().map(str::parse).transpose()?;
        match usage {
            Usage::Server => Ok(Subject::Server {
                sans: SanList::parse(&self.sans)?,
                common_name,
            }),
            Usage::Client => Ok(Subject::Client {
                common_name: common_name.ok_or_else(|| {
                    csr_error(
                        "a client request needs a common name (who the client is); make it with `dockpki request client --name NAME`"
                            .into(),
                    )
                })?,
            }),
        }
    }

    /// The kind of certificate the request asks for, from its extended key usage: exactly one
    /// of serverAuth and clientAuth. `None` when it asks for neither or both.
    pub fn requested_usage(&self) -> Option<Usage> {
        self.requested_usage
    }

    /// The kind of certificate to sign when the caller does not say: the requested one, else a
    /// server certificate when there are SANs and a client certificate otherwise.
    pub fn usage(&self) -> Usage {
        self.requested_usage.unwrap_or(if self.sans.is_empty() {
            Usage::Client
        } else {
            Usage::Server
        })
    }

    /// The DER SubjectPublicKeyInfo of the key to certify.
    pub fn public_key_spki(&self) -> &[u8] {
        &self.spki
    }

    /// The type of the key to certify.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// What the request asks for that dockpki does not take from a request, e.g. `basic
    /// constraints CA:TRUE`: one phrase each, for telling the operator.
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }
}

fn csr_error(reason: String) -> Error {
    Error::Csr { reason }
}

/// The public key of a request, for rcgen to certify.
struct CsrPublicKey(rcgen::SubjectPublicKeyInfo);

impl PublicKeyData for CsrPublicKey {
    fn der_bytes(&self) -> &[u8] {
        self.0.der_bytes()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.0.algorithm()
    }
}

impl CertificateAuthority {
    /// Signs a certificate of kind `usage` for the key of a verified request, valid for
    /// `lifetime` from `now`. From the request it takes only the public key, the subject
    /// common name and (for a server) the DNS and IP SANs; everything else is what
    /// [`CertificateAuthority::sign`] sets for a certificate of that kind. The same rules apply
    /// as there: SAN syntax, the CA's name constraints, a validity within the CA's.
    ///
    /// A client certificate carries no SANs, so a client request's SANs are not certified.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidSan`] or [`Error::NoSans`] when a server request's SANs are not ones
    ///   dockpki issues; [`Error::InvalidCommonName`] for its common name; [`Error::Csr`] for a
    ///   client request without a common name.
    /// - The errors of [`CertificateAuthority::sign`] ([`Error::NameConstraintViolation`],
    ///   [`Error::LeafOutlivesCa`], [`Error::CaNotValidNow`], ...).
    pub fn sign_csr(
        &self,
        csr: &VerifiedCsr,
        usage: Usage,
        lifetime: Lifetime,
        now: OffsetDateTime,
    ) -> Result<SignedCert> {
        let key = CsrPublicKey(
            rcgen::SubjectPublicKeyInfo::from_der(&csr.spki)
                .map_err(|e| csr_error(format!("its public key cannot be used ({e})")))?,
        );
        match csr.subject(usage)? {
            Subject::Server { sans, common_name } => {
                let req = ServerRequest {
                    sans,
                    common_name,
                    lifetime,
                };
                self.sign_server(&req, &key, csr.key_type.is_rsa(), now)
            }
            Subject::Client { common_name } => {
                let req = ClientRequest {
                    common_name,
                    lifetime,
                };
                self.sign_client(&req, &key, now)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::CaOptions;
    use crate::inspect::ExtendedKeyUsage;

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    #[test]
    fn a_server_request_is_signed_with_its_names_and_key_and_only_server_auth() {
        let ca = CertificateAuthority::create(&CaOptions::new(now()).unwrap(), now()).unwrap();
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let sans = SanList::parse(["docker.example.com", "192.0.2.10"]).unwrap();
        let pem = create_server_csr(&key, &sans, None).unwrap();
        let csr = VerifiedCsr::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(csr.usage(), Usage::Server);
        assert!(csr.ignored().is_empty(), "{:?}", csr.ignored());
        let signed = ca
            .sign_csr(&csr, Usage::Server, "30d".parse().unwrap(), now())
            .unwrap();
        assert_eq!(
            signed.info.san_strings(),
            ["docker.example.com", "192.0.2.10"]
        );
        assert_eq!(
            signed.info.extended_key_usages,
            [ExtendedKeyUsage::ServerAuth]
        );
        assert!(!signed.info.is_ca);
        signed.with_key(key).expect("certifies the requesting key");
    }

    #[test]
    fn certified_names_are_the_names_sign_csr_certifies() {
        let ca = CertificateAuthority::create(&CaOptions::new(now()).unwrap(), now()).unwrap();
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let sans = SanList::parse(["docker.example.com", "192.0.2.10"]).unwrap();
        let named: CommonName = "dockerd-1".parse().unwrap();
        let client_name: CommonName = "alice".parse().unwrap();
        for (pem, usage) in [
            (create_server_csr(&key, &sans, None).unwrap(), Usage::Server),
            (
                create_server_csr(&key, &sans, Some(&named)).unwrap(),
                Usage::Server,
            ),
            (
                create_client_csr(&key, &client_name).unwrap(),
                Usage::Client,
            ),
            // A server request signed as a client: its SANs are not certified.
            (create_server_csr(&key, &sans, None).unwrap(), Usage::Client),
        ] {
            let csr = VerifiedCsr::from_pem(pem.as_bytes()).unwrap();
            let names = csr.certified_names(usage).unwrap();
            let signed = ca
                .sign_csr(&csr, usage, "30d".parse().unwrap(), now())
                .unwrap();
            assert_eq!(
                Some(names.common_name.clone()),
                signed.info.common_name,
                "{usage}"
            );
            let sans: Vec<String> = names.sans.iter().map(ToString::to_string).collect();
            assert_eq!(sans, signed.info.san_strings(), "{usage}");
        }
    }

    #[test]
    fn every_key_type_can_be_requested_and_signed() {
        let ca = CertificateAuthority::create(&CaOptions::new(now()).unwrap(), now()).unwrap();
        for kt in [
            KeyType::EcdsaP256,
            KeyType::EcdsaP384,
            KeyType::Ed25519,
            KeyType::Rsa2048,
        ] {
            let key = PrivateKey::generate(kt).unwrap();
            let pem = create_client_csr(&key, &"ci-runner".parse().unwrap()).unwrap();
            let csr = VerifiedCsr::from_pem(pem.as_bytes()).unwrap();
            assert_eq!(csr.key_type(), kt);
            let signed = ca
                .sign_csr(&csr, csr.usage(), "30d".parse().unwrap(), now())
                .unwrap();
            assert_eq!(signed.usage, Usage::Client);
            signed.with_key(key).unwrap();
        }
    }

    #[test]
    fn a_request_with_a_flipped_signature_byte_is_refused() {
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let pem = create_client_csr(&key, &"alice".parse().unwrap()).unwrap();
        let mut der = VerifiedCsr::from_pem(pem.as_bytes())
            .unwrap()
            .der()
            .to_vec();
        let last = der.len() - 3;
        der[last] ^= 0x01;
        let err = VerifiedCsr::from_der(&der).unwrap_err();
        assert!(matches!(err, Error::Csr { .. }), "{err}");
    }

    #[test]
    fn a_request_with_an_altered_name_is_refused() {
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let pem = create_client_csr(&key, &"alice".parse().unwrap()).unwrap();
        let der = VerifiedCsr::from_pem(pem.as_bytes())
            .unwrap()
            .der()
            .to_vec();
        let at = der.windows(5).position(|w| w == b"alice").unwrap();
        let mut altered = der.clone();
        altered[at] = b'm';
        let err = VerifiedCsr::from_der(&altered).unwrap_err();
        assert!(err.to_string().contains("does not verify"), "{err}");
    }

    #[test]
    fn a_san_outside_the_name_constraints_is_refused() {
        let mut options = CaOptions::new(now()).unwrap();
        options
            .name_constraints
            .permitted_dns
            .push("example.com".parse().unwrap());
        let ca = CertificateAuthority::create(&options, now()).unwrap();
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let sans = SanList::parse(["docker.example.org"]).unwrap();
        let csr = VerifiedCsr::from_pem(create_server_csr(&key, &sans, None).unwrap().as_bytes())
            .unwrap();
        let err = ca
            .sign_csr(&csr, Usage::Server, "30d".parse().unwrap(), now())
            .unwrap_err();
        assert!(
            matches!(err, Error::NameConstraintViolation { .. }),
            "{err}"
        );
    }

    #[test]
    fn a_server_certificate_for_a_request_without_sans_is_refused() {
        let ca = CertificateAuthority::create(&CaOptions::new(now()).unwrap(), now()).unwrap();
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let csr = VerifiedCsr::from_pem(
            create_client_csr(&key, &"alice".parse().unwrap())
                .unwrap()
                .as_bytes(),
        )
        .unwrap();
        let err = ca
            .sign_csr(&csr, Usage::Server, "30d".parse().unwrap(), now())
            .unwrap_err();
        assert!(matches!(err, Error::NoSans), "{err}");
    }

    #[test]
    fn text_that_is_not_a_request_is_refused_naming_what_is_expected() {
        let err = VerifiedCsr::from_pem(b"hello").unwrap_err();
        assert!(err.to_string().contains("CERTIFICATE REQUEST"), "{err}");
    }
}
