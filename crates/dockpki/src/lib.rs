//! # dockpki
//!
//! The certificates that protect a remote Docker daemon with mutual TLS: a private CA, a server
//! certificate whose SANs cover every name and address clients dial, and client certificates
//! signed by the same CA. This crate creates and loads the CA, issues leaves, inspects and
//! verifies certificates the way Go (dockerd, the docker CLI) and rustls do, and builds rustls
//! configurations. The `dockpki` command line tool is a thin layer over it.
//!
//! ```
//! use dockpki::{CaOptions, CertificateAuthority, ClientRequest, PrivateKey, KeyType,
//!               OffsetDateTime, SanList, ServerRequest, Usage, verify_leaf};
//! let now = OffsetDateTime::now_utc();
//! let ca = CertificateAuthority::create(&CaOptions::new(now)?, now)?;
//! let server = ca.issue_server(
//!     &ServerRequest { sans: SanList::parse(["docker.example.com", "192.0.2.10"])?,
//!                      common_name: None, lifetime: "1y".parse()? },
//!     PrivateKey::generate(KeyType::EcdsaP256)?, now)?;
//! let client = ca.issue_client(
//!     &ClientRequest { common_name: "alice".parse()?, lifetime: "90d".parse()? },
//!     PrivateKey::generate(KeyType::EcdsaP256)?, now)?;
//! verify_leaf(&server.cert, &[ca.cert_der().clone()], Usage::Server,
//!             Some(&"192.0.2.10".parse()?), now)?;
//! verify_leaf(&client.cert, &[ca.cert_der().clone()], Usage::Client, None, now)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Beyond issuing: [`CertificateAuthority::reissue`] renews an [`IssuedCert`] with the same key or
//! a new one ([`KeyPolicy`]), [`IssuedCert::from_pem`] loads a certificate with its key,
//! [`CaOptions::successor`] plans the next CA of a rotation, [`trust_bundle_pem`] builds a
//! `ca.pem` of several CAs, and [`tls`] makes the rustls configurations of both ends. Nothing
//! here touches the file system or reads the clock: the time is always the caller's `now`.
//! Writing the files, with their modes and owners, is the provisioning layer's job (see
//! `docs/embedding.md`).
//!
//! Private keys live in [`PrivateKey`], whose encoding is zeroized on drop and which never shows
//! key material in `Debug` or in errors.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Every fallible public function says how it fails (a project rule, kept by clippy).
#![warn(clippy::missing_errors_doc)]

mod bundle;
mod ca;
mod common_name;
mod constraints;
mod crl;
mod csr;
pub mod duration;
mod error;
mod fingerprint;
mod inspect;
mod issue;
mod key;
mod lifetime;
mod pkcs12;
mod san;
mod time_format;
pub mod tls;
mod verify;

pub use bundle::trust_bundle_pem;
pub use ca::{CaOptions, CertificateAuthority, CA_ORGANIZATION};
pub use common_name::CommonName;
pub use constraints::{DnsSuffix, IpRange, NameConstraints};
pub use crl::{RevocationReason, RevokedCert};
pub use csr::{create_client_csr, create_server_csr, CertifiedNames, VerifiedCsr, MAX_CSR_BYTES};
pub use error::{Error, Result};
pub use fingerprint::Fingerprint;
pub use inspect::{
    cert_to_pem, certs_from_pem, decode_pem_or_der, format_time, inspect, CertInfo, Decoded,
    Encoding, ExtendedKeyUsage,
};
pub use issue::{ClientRequest, IssuedCert, KeyPolicy, LeafRequest, ServerRequest, SignedCert};
pub use key::{KeyType, PrivateKey, MAX_PBKDF2_ITERATIONS, PBKDF2_ITERATIONS};
pub use lifetime::{Lifetime, CLOCK_SKEW_ALLOWANCE, MAX_LIFETIME, VALIDITY_RULE};
pub use pkcs12::{pkcs12_bundle, PKCS12_ITERATIONS};
pub use san::{DnsName, SanList, SubjectAltName};
pub use verify::{key_matches_cert, verify_leaf, Usage, VerifyError};

/// The rustls this crate builds its configurations with (see [`tls`]), so that an embedder uses
/// the same version of its types.
pub use rustls;
pub use rustls_pki_types::CertificateDer;
pub use time::OffsetDateTime;
