//! Issuing server and client certificates from a CA.

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyUsagePurpose, PublicKeyData, SerialNumber,
};
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::ca::CertificateAuthority;
use crate::common_name::CommonName;
use crate::error::{crypto, Error, Result};
use crate::inspect::{self, CertInfo, ExtendedKeyUsage};
use crate::key::{KeyType, PrivateKey};
use crate::lifetime::Lifetime;
use crate::san::SanList;
use crate::verify::{self, Usage};

/// The common name of a daemon's certificate (and of its request): the one given, else
/// [`SanList::primary`] (the first DNS name that is not a wildcard, else the first SAN). One rule for issuing, signing a request and making one, so that
/// what a request will be certified with can be known before signing it
/// ([`crate::VerifiedCsr::certified_names`]).
pub(crate) fn server_common_name(common_name: Option<&CommonName>, sans: &SanList) -> String {
    common_name.map_or_else(|| sans.primary().to_string(), ToString::to_string)
}

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

/// What to put in a certificate of either kind: the request [`CertificateAuthority::issue`],
/// [`CertificateAuthority::sign`] and a re-issue work from.
#[derive(Clone, Debug)]
pub enum LeafRequest {
    /// A daemon's certificate.
    Server(ServerRequest),
    /// A client's certificate.
    Client(ClientRequest),
}

impl LeafRequest {
    /// The request that issues `old` again: the same kind, common name, SANs (DNS names first,
    /// then addresses, as [`CertInfo::san_strings`] lists them) and lifetime (the length of its
    /// validity, see [`Lifetime::of_validity`]). This is what `dockpki renew` and
    /// `dockpki ca rotate reissue` do with a recorded certificate.
    ///
    /// ```
    /// use dockpki::{CaOptions, CertificateAuthority, ClientRequest, KeyType, LeafRequest,
    ///               OffsetDateTime, PrivateKey};
    /// let now = OffsetDateTime::now_utc();
    /// let ca = CertificateAuthority::create(&CaOptions::new(now)?, now)?;
    /// let old = ca.issue_client(
    ///     &ClientRequest { common_name: "alice".parse()?, lifetime: "30d".parse()? },
    ///     PrivateKey::generate(KeyType::EcdsaP256)?, now)?;
    /// let again = LeafRequest::renewing(&old.info)?;
    /// assert_eq!(again.lifetime(), "30d".parse()?);
    /// let renewed = ca.issue(&again, PrivateKey::generate(KeyType::EcdsaP256)?, now)?;
    /// assert_eq!(renewed.info.common_name.as_deref(), Some("alice"));
    /// # Ok::<(), dockpki::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::UnusableLeaf`] when `old` is a CA, when its extended key usage is not
    ///   exactly one of serverAuth and clientAuth, when a client certificate has no common
    ///   name, or when its validity is not a lifetime dockpki issues (under an hour, over
    ///   [`crate::MAX_LIFETIME`]).
    /// - [`Error::InvalidSan`], [`Error::NoSans`] or [`Error::InvalidCommonName`] when its names
    ///   are not ones dockpki would issue.
    pub fn renewing(old: &CertInfo) -> Result<LeafRequest> {
        let usage = leaf_usage(old)?;
        let lifetime = Lifetime::of_validity(old.not_before, old.not_after).ok_or_else(|| {
            unusable(
                old,
                "its validity period is not a lifetime dockpki issues (from 1h to 100y)",
            )
        })?;
        let common_name: Option<CommonName> =
            old.common_name.as_deref().map(str::parse).transpose()?;
        Ok(match usage {
            Usage::Server => LeafRequest::Server(ServerRequest {
                sans: SanList::parse(old.san_strings())?,
                common_name,
                lifetime,
            }),
            Usage::Client => LeafRequest::Client(ClientRequest {
                common_name: common_name
                    .ok_or_else(|| unusable(old, "a client certificate without a common name"))?,
                lifetime,
            }),
        })
    }

    /// Which kind of certificate this asks for.
    pub fn usage(&self) -> Usage {
        match self {
            LeafRequest::Server(_) => Usage::Server,
            LeafRequest::Client(_) => Usage::Client,
        }
    }

    /// How long the certificate is to be valid.
    pub fn lifetime(&self) -> Lifetime {
        match self {
            LeafRequest::Server(r) => r.lifetime,
            LeafRequest::Client(r) => r.lifetime,
        }
    }

    /// The same request with another lifetime.
    pub fn with_lifetime(mut self, lifetime: Lifetime) -> LeafRequest {
        match &mut self {
            LeafRequest::Server(r) => r.lifetime = lifetime,
            LeafRequest::Client(r) => r.lifetime = lifetime,
        }
        self
    }
}

impl From<ServerRequest> for LeafRequest {
    fn from(r: ServerRequest) -> Self {
        LeafRequest::Server(r)
    }
}

impl From<ClientRequest> for LeafRequest {
    fn from(r: ClientRequest) -> Self {
        LeafRequest::Client(r)
    }
}

/// Where the key of a re-issued certificate comes from (see [`CertificateAuthority::reissue`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyPolicy {
    /// Certify the old certificate's key again: the new certificate has the same
    /// SubjectPublicKeyInfo. For a peer that pins the key; otherwise a renewal should rotate
    /// the key too, since a key that may have leaked stays leaked.
    Reuse,
    /// Generate a fresh key of this type for the new certificate.
    New(KeyType),
}

/// A certificate the CA signed, without a private key: what [`CertificateAuthority::sign`]
/// returns for a key the caller keeps.
#[derive(Clone, Debug)]
pub struct SignedCert {
    /// The certificate.
    pub cert: CertificateDer<'static>,
    /// The certificate in PEM.
    pub cert_pem: String,
    /// What the certificate says.
    pub info: CertInfo,
    /// What it is for.
    pub usage: Usage,
}

impl SignedCert {
    /// Pairs the certificate with its private key.
    ///
    /// # Errors
    ///
    /// [`Error::KeyMismatch`] when `key` is not the key the certificate certifies.
    pub fn with_key(self, key: PrivateKey) -> Result<IssuedCert> {
        if !verify::key_matches_cert(&key, &self.cert) {
            return Err(key_mismatch(self.usage, &self.info));
        }
        Ok(self.with_key_unchecked(key))
    }

    /// Only for a key this crate has just signed for.
    fn with_key_unchecked(self, key: PrivateKey) -> IssuedCert {
        IssuedCert {
            cert: self.cert,
            cert_pem: self.cert_pem,
            key,
            info: self.info,
            usage: self.usage,
        }
    }
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

    /// Loads a server or client certificate and its key, as a layout holds them (`cert.pem` or
    /// `server-cert.pem`, and the unencrypted `key.pem`). The first certificate in `cert_pem`
    /// is the leaf (later ones, a chain, are ignored) and is kept re-encoded as PEM; whether it
    /// is a server or a client certificate comes from its extended key usage.
    ///
    /// The key must belong to the certificate; nothing else is checked here. Use
    /// [`crate::verify_leaf`] for its issuer, validity and names.
    ///
    /// ```
    /// use dockpki::{CaOptions, CertificateAuthority, ClientRequest, Error, IssuedCert, KeyType,
    ///               OffsetDateTime, PrivateKey, Usage};
    /// let now = OffsetDateTime::now_utc();
    /// let ca = CertificateAuthority::create(&CaOptions::new(now)?, now)?;
    /// let req = ClientRequest { common_name: "alice".parse()?, lifetime: "90d".parse()? };
    /// let issued = ca.issue_client(&req, PrivateKey::generate(KeyType::EcdsaP256)?, now)?;
    /// let loaded = IssuedCert::from_pem(issued.cert_pem.as_bytes(), issued.key_pem().as_bytes())?;
    /// assert_eq!(loaded.cert, issued.cert);
    /// assert_eq!(loaded.usage, Usage::Client);
    /// let other = PrivateKey::generate(KeyType::EcdsaP256)?;
    /// let err = IssuedCert::from_pem(issued.cert_pem.as_bytes(), other.to_pem().as_bytes());
    /// assert!(matches!(err, Err(Error::KeyMismatch { .. })));
    /// # Ok::<(), dockpki::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::Pem`] when `cert_pem` holds no certificate or `key_pem` no key.
    /// - [`Error::EncryptedKey`] for an encrypted key, and the other errors of
    ///   [`PrivateKey::from_pem`].
    /// - [`Error::UnusableLeaf`] when the certificate is a CA, or its extended key usage is not
    ///   exactly one of serverAuth and clientAuth.
    /// - [`Error::KeyMismatch`] when the key is not the certificate's.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<IssuedCert> {
        let cert = inspect::certs_from_pem(cert_pem)?.swap_remove(0);
        let info = inspect::inspect(&cert)?;
        let usage = leaf_usage(&info)?;
        let key = PrivateKey::from_pem(key_pem)?;
        SignedCert {
            cert_pem: inspect::cert_to_pem(&cert),
            cert,
            info,
            usage,
        }
        .with_key(key)
    }
}

/// Whether `info` is a server or a client certificate: exactly one of the two purposes, as
/// dockpki issues them.
fn leaf_usage(info: &CertInfo) -> Result<Usage> {
    if info.is_ca {
        return Err(unusable(info, "it is a CA certificate, not a leaf"));
    }
    let has = |eku| info.extended_key_usages.contains(&eku);
    match (
        has(ExtendedKeyUsage::ServerAuth),
        has(ExtendedKeyUsage::ClientAuth),
    ) {
        (true, false) => Ok(Usage::Server),
        (false, true) => Ok(Usage::Client),
        (true, true) => Err(unusable(
            info,
            "its extended key usage allows both serverAuth and clientAuth, where a dockpki certificate has one purpose",
        )),
        (false, false) => Err(unusable(
            info,
            "its extended key usage has neither serverAuth nor clientAuth",
        )),
    }
}

fn unusable(info: &CertInfo, reason: &str) -> Error {
    Error::UnusableLeaf {
        subject: info.subject.clone(),
        reason: reason.to_string(),
    }
}

fn key_mismatch(usage: Usage, info: &CertInfo) -> Error {
    Error::KeyMismatch {
        certificate: format!("{usage} certificate {:?}", info.subject),
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
    ///
    /// # Errors
    ///
    /// As [`CertificateAuthority::sign`].
    pub fn issue_server(
        &self,
        req: &ServerRequest,
        key: PrivateKey,
        now: OffsetDateTime,
    ) -> Result<IssuedCert> {
        Ok(self
            .sign_server(req, key.rcgen(), key.key_type().is_rsa(), now)?
            .with_key_unchecked(key))
    }

    /// Issues a client certificate (EKU clientAuth only) for `key`.
    ///
    /// # Errors
    ///
    /// As [`CertificateAuthority::sign`].
    pub fn issue_client(
        &self,
        req: &ClientRequest,
        key: PrivateKey,
        now: OffsetDateTime,
    ) -> Result<IssuedCert> {
        Ok(self
            .sign_client(req, key.rcgen(), now)?
            .with_key_unchecked(key))
    }

    /// Issues a certificate of either kind for `key`, which the result then holds.
    ///
    /// # Errors
    ///
    /// As [`CertificateAuthority::sign`].
    pub fn issue(
        &self,
        req: &LeafRequest,
        key: PrivateKey,
        now: OffsetDateTime,
    ) -> Result<IssuedCert> {
        Ok(self.sign(req, &key, now)?.with_key_unchecked(key))
    }

    /// Signs a certificate for the public half of `key`, which stays the caller's: signing a
    /// leaf needs only its public key. [`SignedCert::with_key`] pairs the result with the key
    /// when an [`IssuedCert`] is wanted.
    ///
    /// Every certificate is checked with [`crate::verify_leaf`]'s rules against this CA before
    /// it is returned. Its signature is verified too until one has verified for this
    /// `CertificateAuthority` value, which proves that its key and algorithm sign correctly;
    /// after that, the check skips only the signature math (half the cost of signing many
    /// certificates), never a rule.
    ///
    /// # Errors
    ///
    /// - [`Error::CaNotValidNow`] when the CA has expired or is not valid yet at `now`.
    /// - [`Error::LeafOutlivesCa`] when the certificate would expire after the CA.
    /// - [`Error::NameConstraintViolation`] when a SAN is outside the CA's name constraints.
    /// - [`Error::Crypto`] when the backend fails to sign, and [`Error::Verify`] if the result
    ///   does not verify (neither happens with valid input).
    pub fn sign(
        &self,
        req: &LeafRequest,
        key: &PrivateKey,
        now: OffsetDateTime,
    ) -> Result<SignedCert> {
        match req {
            LeafRequest::Server(r) => {
                self.sign_server(r, key.rcgen(), key.key_type().is_rsa(), now)
            }
            LeafRequest::Client(r) => self.sign_client(r, key.rcgen(), now),
        }
    }

    /// Issues `old` again from this CA: the same kind, common name and SANs, valid for
    /// `lifetime` from `now`, with a new serial number, and with the key `key_policy` says.
    /// `old` may come from another CA (the re-issue step of a CA rotation) and is left as it
    /// is. With [`KeyPolicy::Reuse`], the new certificate holds its own copy of the old key
    /// (each copy is zeroized when dropped); no PEM round trip is needed.
    ///
    /// ```
    /// use dockpki::{CaOptions, CertificateAuthority, KeyPolicy, KeyType, OffsetDateTime,
    ///               PrivateKey, SanList, ServerRequest};
    /// let now = OffsetDateTime::now_utc();
    /// let ca = CertificateAuthority::create(&CaOptions::new(now)?, now)?;
    /// let req = ServerRequest { sans: SanList::parse(["docker.example.com"])?,
    ///                           common_name: None, lifetime: "30d".parse()? };
    /// let old = ca.issue_server(&req, PrivateKey::generate(KeyType::EcdsaP256)?, now)?;
    /// let same_key = ca.reissue(&old, KeyPolicy::Reuse, "90d".parse()?, now)?;
    /// assert_eq!(same_key.key.public_key_spki(), old.key.public_key_spki());
    /// let new_key = ca.reissue(&old, KeyPolicy::New(KeyType::Ed25519), "90d".parse()?, now)?;
    /// assert_ne!(new_key.key.public_key_spki(), old.key.public_key_spki());
    /// # Ok::<(), dockpki::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The errors of [`LeafRequest::renewing`] (for `old`), of [`PrivateKey::generate`] (for
    /// [`KeyPolicy::New`]) and of [`CertificateAuthority::sign`].
    pub fn reissue(
        &self,
        old: &IssuedCert,
        key_policy: KeyPolicy,
        lifetime: Lifetime,
        now: OffsetDateTime,
    ) -> Result<IssuedCert> {
        let req = LeafRequest::renewing(&old.info)?.with_lifetime(lifetime);
        match key_policy {
            KeyPolicy::Reuse => {
                let signed = self.sign(&req, &old.key, now)?;
                Ok(signed.with_key_unchecked(old.key.duplicate()?))
            }
            KeyPolicy::New(key_type) => self.issue(&req, PrivateKey::generate(key_type)?, now),
        }
    }

    pub(crate) fn sign_server(
        &self,
        req: &ServerRequest,
        key: &impl PublicKeyData,
        is_rsa: bool,
        now: OffsetDateTime,
    ) -> Result<SignedCert> {
        for san in req.sans.as_slice() {
            if !self.name_constraints().permits(san) {
                return Err(Error::NameConstraintViolation {
                    san: san.to_string(),
                });
            }
        }
        let mut params = self.leaf_params(req.lifetime, now)?;
        let cn = server_common_name(req.common_name.as_ref(), &req.sans);
        params.distinguished_name.push(DnType::CommonName, cn);
        params.subject_alt_names = req
            .sans
            .as_slice()
            .iter()
            .map(|s| s.to_rcgen())
            .collect::<Result<_>>()?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        if is_rsa {
            // TLS 1.2 RSA key exchange encrypts to the server key.
            params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
        }
        self.sign_params(params, key, Usage::Server, now)
    }

    pub(crate) fn sign_client(
        &self,
        req: &ClientRequest,
        key: &impl PublicKeyData,
        now: OffsetDateTime,
    ) -> Result<SignedCert> {
        let mut params = self.leaf_params(req.lifetime, now)?;
        params
            .distinguished_name
            .push(DnType::CommonName, req.common_name.as_str());
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign_params(params, key, Usage::Client, now)
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
                requested_at: now,
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

    fn sign_params(
        &self,
        params: CertificateParams,
        key: &impl PublicKeyData,
        usage: Usage,
        now: OffsetDateTime,
    ) -> Result<SignedCert> {
        let issuer =
            Issuer::from_ca_cert_der(self.cert_der(), self.key().rcgen()).map_err(crypto)?;
        let cert = params.signed_by(key, &issuer).map_err(crypto)?;
        let der = cert.der().clone();
        // Cheap insurance: never hand out a certificate our own verifier would refuse. The
        // signature is verified until one has verified for this CA value (its key and algorithm
        // are then known to sign correctly); after that, everything but the signature math,
        // which was half of a renewal's CPU time and cannot find anything new.
        let signatures = self
            .proven_key()
            .map_or(verify::Signatures::Verify, verify::Signatures::TrustOwn);
        let info = verify::verify_leaf_as(
            &der,
            std::slice::from_ref(self.cert_der()),
            usage,
            None,
            now,
            signatures,
            Some(self.info()),
        )?;
        self.set_signature_proven();
        Ok(SignedCert {
            info,
            cert_pem: cert.pem(),
            cert: der,
            usage,
        })
    }
}
