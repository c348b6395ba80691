//! rustls configurations for both ends of the daemon connection, built on one explicitly chosen
//! crypto provider (aws-lc-rs) so that no process-wide default is ever consulted.
//!
//! The configurations are rustls' own types; `dockpki::rustls` re-exports the rustls this crate
//! was built with, so that an embedder names the same version.
//!
//! ```
//! use dockpki::tls::{self, ClientAuth};
//! use dockpki::{CaOptions, CertificateAuthority, ClientRequest, KeyType, OffsetDateTime,
//!               PrivateKey, SanList, ServerRequest};
//! let now = OffsetDateTime::now_utc();
//! let ca = CertificateAuthority::create(&CaOptions::new(now)?, now)?;
//! let server = ca.issue_server(
//!     &ServerRequest { sans: SanList::parse(["localhost"])?, common_name: None,
//!                      lifetime: "90d".parse()? },
//!     PrivateKey::generate(KeyType::EcdsaP256)?, now)?;
//! let client = ca.issue_client(
//!     &ClientRequest { common_name: "alice".parse()?, lifetime: "90d".parse()? },
//!     PrivateKey::generate(KeyType::EcdsaP256)?, now)?;
//! let roots = [ca.cert_der().clone()];
//! let server_config: dockpki::rustls::ServerConfig = tls::server_config(&roots, &server)?;
//! let client_config = tls::client_config(&roots, ClientAuth::Cert(&client))?;
//! # Ok::<(), dockpki::Error>(())
//! ```

use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::CertificateDer;

use crate::error::{Error, Result};
use crate::issue::IssuedCert;
use crate::key::PrivateKey;
use crate::verify::{Usage, VerifyError};

/// The aws-lc-rs provider dockpki uses for everything.
pub fn provider() -> &'static Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

fn roots(ca_bundle: &[CertificateDer<'static>]) -> Result<Arc<RootCertStore>> {
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(ca_bundle.iter().cloned());
    if added == 0 {
        return Err(Error::Verify(VerifyError::EmptyBundle));
    }
    Ok(Arc::new(store))
}

/// Refuses to present `issued` for `usage` when it was issued for the other end: the peer would
/// refuse it anyway, later and with a vaguer message.
fn check_usage(issued: &IssuedCert, usage: Usage) -> Result<()> {
    if issued.usage == usage {
        Ok(())
    } else {
        Err(Error::Verify(VerifyError::WrongUsage { usage }))
    }
}

/// What a client presents to the server.
#[derive(Clone, Copy, Debug)]
pub enum ClientAuth<'a> {
    /// No certificate: the client authenticates the server only. For servers that do not ask
    /// for a client certificate, such as dockerd with `--tls` but without `--tlsverify`;
    /// dockerd with `--tlsverify`, and [`server_config`], refuse such a client.
    None,
    /// A client certificate dockpki issued, and its key.
    Cert(&'a IssuedCert),
    /// A certificate chain (leaf first) and the leaf's key from elsewhere, e.g. a client
    /// layout's `cert.pem` and `key.pem`. Neither is checked here beyond what rustls checks
    /// (that the key is the leaf's); the server judges the chain.
    Chain {
        /// The certificates to present, leaf first.
        chain: &'a [CertificateDer<'static>],
        /// The leaf's private key.
        key: &'a PrivateKey,
    },
}

/// A server configuration like dockerd's `--tlsverify`: presents `server` and requires every
/// client to present a certificate for clientAuth issued by a CA in `ca_bundle`, checked by
/// webpki (chain, validity, extended key usage). A client without a certificate fails the
/// handshake. TLS 1.2 and 1.3.
///
/// # Errors
///
/// - [`Error::Verify`] with [`VerifyError::EmptyBundle`] when `ca_bundle` holds no usable CA
///   certificate, or with [`VerifyError::WrongUsage`] when `server` is a client certificate.
/// - [`Error::Tls`] when rustls refuses the certificate or key (e.g. a key that is not the
///   certificate's).
pub fn server_config(
    ca_bundle: &[CertificateDer<'static>],
    server: &IssuedCert,
) -> Result<ServerConfig> {
    check_usage(server, Usage::Server)?;
    let verifier =
        WebPkiClientVerifier::builder_with_provider(roots(ca_bundle)?, provider().clone())
            .build()
            .map_err(|e| Error::Tls(rustls::Error::General(e.to_string())))?;
    Ok(ServerConfig::builder_with_provider(provider().clone())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![server.cert.clone()], server.key.to_der())?)
}

/// A client configuration like the docker CLI's `--tlsverify`: trusts only `ca_bundle` (no
/// system roots) to authenticate the server, and presents what `auth` says. TLS 1.2 and 1.3.
///
/// # Errors
///
/// - [`Error::Verify`] with [`VerifyError::EmptyBundle`] when `ca_bundle` holds no usable CA
///   certificate, or with [`VerifyError::WrongUsage`] when [`ClientAuth::Cert`] holds a server
///   certificate.
/// - [`Error::Tls`] when rustls refuses the certificate or key (e.g. a key that is not the
///   certificate's).
pub fn client_config(
    ca_bundle: &[CertificateDer<'static>],
    auth: ClientAuth<'_>,
) -> Result<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider().clone())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca_bundle)?);
    Ok(match auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Cert(issued) => {
            check_usage(issued, Usage::Client)?;
            builder.with_client_auth_cert(vec![issued.cert.clone()], issued.key.to_der())?
        }
        ClientAuth::Chain { chain, key } => {
            builder.with_client_auth_cert(chain.to_vec(), key.to_der())?
        }
    })
}
