//! TLS as the docker CLI speaks it (`--tlsverify`): the client layout's CA bundle, certificate
//! and key over rustls with dockpki's aws-lc-rs provider, and a server verifier that remembers
//! the certificate it was shown, so that a refusal can name what the daemon presented.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConnection, DigitallySignedStruct};

use crate::error::{Error, Result};
use crate::fs::owner::Owner;
use crate::fs::reader::Links;
use crate::layout::read::LayoutFiles;
use crate::layout::Layout;

/// A client layout's CA bundle, certificate chain and key.
pub(crate) type ClientFiles = LayoutFiles;

/// Reads the client layout `dir` with the one layout reader ([`Layout::read`]), as `owner`
/// (the layout's owner, when root reads a user's layout under sudo): whatever that user links
/// into their own layout, root reads only what they could. Links are followed, as the docker
/// CLI follows them (users link layout files by hand); what they point at must still be a
/// regular file within the PEM limit.
pub(crate) fn load_layout(dir: &Path, owner: Option<Owner>) -> Result<ClientFiles> {
    Layout::client(dir.to_path_buf()).read(Links::Follow, owner)
}

/// The client configuration of `dockpki::tls::client_config` (the layout's CA bundle,
/// certificate and key), with the server check done by `verifier`.
pub(crate) fn client_config(
    dir: &Path,
    files: &ClientFiles,
    verifier: Arc<RecordingVerifier>,
) -> Result<rustls::ClientConfig> {
    let mut config = dockpki::tls::client_config(
        &files.bundle,
        dockpki::tls::ClientAuth::Chain {
            chain: &files.chain,
            key: &files.key,
        },
    )
    .map_err(|e| Error::from(e).context(format!("the client layout {}", dir.display())))?;
    config.dangerous().set_certificate_verifier(verifier);
    Ok(config)
}

/// rustls' WebPKI server verifier (the same checks as the docker CLI's Go verifier: chain to
/// `ca.pem`, serverAuth, SAN for the dialled name or address, validity), remembering the
/// certificate it was shown.
#[derive(Debug)]
pub(crate) struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Option<CertificateDer<'static>>>,
}

impl RecordingVerifier {
    /// A verifier trusting the layout's CA bundle only (no system roots).
    pub(crate) fn new(dir: &Path, files: &ClientFiles) -> Result<RecordingVerifier> {
        let mut roots = rustls::RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(files.bundle.iter().cloned());
        if added == 0 {
            return Err(Error::new(format!(
                "{} holds no usable CA certificate; copy the daemon's ca.pem there",
                dir.join("ca.pem").display()
            )));
        }
        let inner = WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            dockpki::tls::provider().clone(),
        )
        .build()
        .map_err(|e| Error::new(format!("cannot build the server verifier: {e}")))?;
        Ok(RecordingVerifier {
            inner,
            seen: Mutex::new(None),
        })
    }

    /// What the certificate the daemon presented says, once it has presented one.
    pub(crate) fn seen(&self) -> Option<dockpki::CertInfo> {
        let der = self.seen.lock().ok().and_then(|s| s.clone())?;
        dockpki::inspect(&der).ok()
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(end_entity.clone().into_owned());
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The negotiated protocol version, as people write it (`TLS 1.3`).
pub(crate) fn version_name(conn: &ClientConnection) -> String {
    conn.protocol_version()
        .map(|v| match v {
            rustls::ProtocolVersion::TLSv1_3 => "TLS 1.3".to_string(),
            rustls::ProtocolVersion::TLSv1_2 => "TLS 1.2".to_string(),
            other => format!("{other:?}"),
        })
        .unwrap_or_default()
}

/// The negotiated cipher suite, by its IANA-style name (`TLS13_AES_128_GCM_SHA256`).
pub(crate) fn cipher_suite_name(conn: &ClientConnection) -> String {
    conn.negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_default()
}
