//! rustls configurations for both ends of the daemon connection, built on one explicitly chosen
//! crypto provider (aws-lc-rs) so that no process-wide default is ever consulted.

use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::CertificateDer;

use crate::error::{Error, Result};
use crate::key::PrivateKey;

/// The aws-lc-rs provider dockpki uses for everything.
pub fn provider() -> &'static Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

fn roots(ca_bundle: &[CertificateDer<'static>]) -> Result<Arc<RootCertStore>> {
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(ca_bundle.iter().cloned());
    if added == 0 {
        return Err(Error::Verify(crate::verify::VerifyError::EmptyBundle));
    }
    Ok(Arc::new(store))
}

/// A server configuration like dockerd's `--tlsverify`: presents `cert_chain` and requires every
/// client to present a certificate issued by a CA in `ca_bundle`. TLS 1.2 and 1.3.
pub fn server_config(
    ca_bundle: &[CertificateDer<'static>],
    cert_chain: Vec<CertificateDer<'static>>,
    key: &PrivateKey,
) -> Result<ServerConfig> {
    let verifier =
        WebPkiClientVerifier::builder_with_provider(roots(ca_bundle)?, provider().clone())
            .build()
            .map_err(|e| Error::Tls(rustls::Error::General(e.to_string())))?;
    Ok(ServerConfig::builder_with_provider(provider().clone())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(cert_chain, key.to_der())?)
}

/// A client configuration like the docker CLI's `--tlsverify`: trusts only `ca_bundle` (no
/// system roots) and presents `cert_chain`.
pub fn client_config(
    ca_bundle: &[CertificateDer<'static>],
    cert_chain: Vec<CertificateDer<'static>>,
    key: &PrivateKey,
) -> Result<ClientConfig> {
    Ok(ClientConfig::builder_with_provider(provider().clone())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca_bundle)?)
        .with_client_auth_cert(cert_chain, key.to_der())?)
}
