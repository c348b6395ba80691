//! Issuing server and client certificates from a CA.

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyUsagePurpose, SerialNumber,
};
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::ca::CertificateAuthority;
use crate::common_name::CommonName;
use crate::error::{crypto, Error, Result};
use crate::inspect::{self, CertInfo};
use crate::key::PrivateKey;
use crate::lifetime::Lifetime;
use crate::san::SanList;
use crate::verify::{self, Usage};

/// What to put in a daemon's certificate.
#[derive(Clone, Debug)]
pub struct ServerRequest {
    /// Every DNS name and IP address clients dial.
    pub sans: SanList,
    /// The common name; defaults to [`SanList::primary`].
    pub common_name: Option<CommonName>,
    /// How long the certificate is valid.
    pub lifetime: Lifetime,
}

/// What to put in a client's certificate.
#[derive(Clone, Debug)]
pub struct ClientRequest {
    /// Who the client is.
    pub common_name: CommonName,
    /// How long the certificate is valid.
    pub lifetime: Lifetime,
}

/// A freshly issued certificate and its key.
#[derive(Debug)]
pub struct IssuedCert {
    /// The certificate.
    pub cert: CertificateDer<'static>,
    /// The certificate in PEM.
    pub cert_pem: String,
    /// Its private key.
    pub key: PrivateKey,
    /// What the certificate says.
    pub info: CertInfo,
    /// What it is for.
    pub usage: Usage,
}

impl IssuedCert {
    /// The private key in PKCS#8 PEM, zeroized on drop.
    pub fn key_pem(&self) -> Zeroizing<String> {
        self.key.to_pem()
    }
}

/// A random positive 128-bit serial number. rcgen's default is derived from the key and subject,
/// so re-issuing with the same key would repeat a serial, which RFC 5280 forbids.
pub(crate) fn random_serial() -> Result<SerialNumber> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(crypto)?;
    // Top bit clear keeps the DER INTEGER positive; the next bit set keeps it 16 bytes long.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

impl CertificateAuthority {
    /// Issues a server certificate (EKU serverAuth only) for `key`.
    pub fn issue_server(
        &self,
        req: &ServerRequest,
        key: PrivateKey,
        now: OffsetDateTime,
    ) -> Result<IssuedCert> {
        for san in req.sans.as_slice() {
            if !self.name_constraints().permits(san) {
                return Err(Error::NameConstraintViolation {
                    san: san.to_string(),
                });
            }
        }
        let mut params = self.leaf_params(req.lifetime, now)?;
        let cn = req
            .common_name
            .clone()
            .map(|c| c.to_string())
            .unwrap_or_else(|| req.sans.primary().to_string());
        params.distinguished_name.push(DnType::CommonName, cn);
        params.subject_alt_names = req
            .sans
            .as_slice()
            .iter()
            .map(|s| s.to_rcgen())
            .collect::<Result<_>>()?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        if key.key_type().is_rsa() {
            // TLS 1.2 RSA key exchange encrypts to the server key.
            params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
        }
        self.sign(params, key, Usage::Server, now)
    }

    /// Issues a client certificate (EKU clientAuth only) for `key`.
    pub fn issue_client(
        &self,
        req: &ClientRequest,
        key: PrivateKey,
        now: OffsetDateTime,
    ) -> Result<IssuedCert> {
        let mut params = self.leaf_params(req.lifetime, now)?;
        params
            .distinguished_name
            .push(DnType::CommonName, req.common_name.as_str());
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, key, Usage::Client, now)
    }

    fn leaf_params(&self, lifetime: Lifetime, now: OffsetDateTime) -> Result<CertificateParams> {
        let ca = self.info();
        if !ca.is_valid_at(now) {
            return Err(Error::CaNotValidNow {
                not_before: ca.not_before,
                not_after: ca.not_after,
            });
        }
        let (not_before, not_after) = lifetime.window(now);
        // Certificates hold whole seconds, so compare at that precision: a leaf ending in the same
        // second as its CA does not outlive it.
        let not_after = not_after.replace_nanosecond(0).unwrap_or(not_after);
        if not_after > ca.not_after {
            return Err(Error::LeafOutlivesCa {
                leaf_not_after: not_after,
                ca_not_after: ca.not_after,
            });
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.not_before = not_before.max(ca.not_before);
        params.not_after = not_after;
        params.serial_number = Some(random_serial()?);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        Ok(params)
    }

    fn sign(
        &self,
        params: CertificateParams,
        key: PrivateKey,
        usage: Usage,
        now: OffsetDateTime,
    ) -> Result<IssuedCert> {
        let issuer =
            Issuer::from_ca_cert_der(self.cert_der(), self.key().rcgen()).map_err(crypto)?;
        let cert = params.signed_by(key.rcgen(), &issuer).map_err(crypto)?;
        let der = cert.der().clone();
        // Cheap insurance: never hand out a certificate our own verifier would refuse.
        verify::verify_leaf(
            &der,
            std::slice::from_ref(self.cert_der()),
            usage,
            None,
            now,
        )?;
        Ok(IssuedCert {
            info: inspect::inspect(&der)?,
            cert_pem: cert.pem(),
            cert: der,
            key,
            usage,
        })
    }
}
