//! The certificate authority: creating one, loading one, and what it is.

use std::sync::atomic::{AtomicBool, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyUsagePurpose,
};
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::common_name::CommonName;
use crate::constraints::NameConstraints;
use crate::error::{crypto, crypto_failure, Error, Result};
use crate::inspect::{self, CertInfo};
use crate::key::{KeyType, PrivateKey};
use crate::lifetime::Lifetime;
use crate::verify;

/// The organisation written into every CA subject, so that `openssl x509 -subject` shows who
/// made it.
pub const CA_ORGANIZATION: &str = "dockpki";

/// How to make a new CA.
#[derive(Clone, Debug)]
pub struct CaOptions {
    /// The subject common name. Every CA should have its own: clients pick which certificate to
    /// present by the issuer name the server asks for, so two CAs with one name confuse rotation.
    pub common_name: CommonName,
    /// The CA key's algorithm.
    pub key_type: KeyType,
    /// How long the CA is valid; leaves cannot outlive it.
    pub lifetime: Lifetime,
    /// basicConstraints pathLenConstraint; 0 means the CA signs leaves only.
    pub path_len: u8,
    /// Which names the CA's leaves may carry.
    pub name_constraints: NameConstraints,
}

impl CaOptions {
    /// Options with dockpki's defaults: P-256, 10 years, path length 0, no name constraints, and
    /// a unique name such as `dockpki CA 2026-11-29 3f9a1c07`.
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] when the random part of the name cannot be drawn.
    pub fn new(now: OffsetDateTime) -> Result<CaOptions> {
        Ok(CaOptions {
            common_name: CaOptions::unique_name(now)?,
            key_type: KeyType::default(),
            lifetime: Lifetime::days(3650).ok_or_else(|| crypto_failure("default CA lifetime"))?,
            path_len: 0,
            name_constraints: NameConstraints::default(),
        })
    }

    /// Options for the CA that replaces `current` in a rotation, as `dockpki ca rotate begin`
    /// makes it: the same key type, path length and name constraints (so the new CA may sign
    /// exactly what the old one could, and no certificate changes meaning), a fresh unique name
    /// that differs from the current CA's (clients choose the certificate to present by issuer
    /// name, so two CAs trusted side by side must not share one), and dockpki's default
    /// lifetime of 10 years. Change the fields for anything else, e.g. a new key type.
    ///
    /// A CA with an unlimited path length (none in its basicConstraints), or one larger than
    /// 255, is succeeded by one with path length 0, as dockpki creates them; a key type dockpki
    /// does not issue becomes the default, P-256.
    ///
    /// `current` is enough as a [`CertInfo`], so options can be made from the CA certificate
    /// alone, without decrypting an encrypted CA key.
    ///
    /// ```
    /// use dockpki::{CaOptions, CertificateAuthority, KeyType, OffsetDateTime};
    /// let now = OffsetDateTime::now_utc();
    /// let mut options = CaOptions::new(now)?;
    /// options.key_type = KeyType::EcdsaP384;
    /// options.name_constraints.permitted_dns.push("example.com".parse()?);
    /// let old = CertificateAuthority::create(&options, now)?;
    /// let next = CaOptions::successor(old.info(), now)?;
    /// assert_eq!(next.key_type, KeyType::EcdsaP384);
    /// assert_eq!(&next.name_constraints, old.name_constraints());
    /// assert_ne!(old.info().common_name.as_deref(), Some(next.common_name.as_str()));
    /// let new = CertificateAuthority::create(&next, now)?;
    /// # Ok::<(), dockpki::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::NotACa`] when `current` is not a CA certificate, and [`Error::Crypto`] when the
    /// random part of the name cannot be drawn.
    pub fn successor(current: &CertInfo, now: OffsetDateTime) -> Result<CaOptions> {
        if !current.is_ca {
            return Err(Error::NotACa {
                subject: current.subject.clone(),
            });
        }
        let mut options = CaOptions::new(now)?;
        options.key_type = current.key_type.unwrap_or_default();
        options.path_len = current
            .path_len
            .and_then(|n| u8::try_from(n).ok())
            .unwrap_or(0);
        options.name_constraints = current.name_constraints.clone().unwrap_or_default();
        while current.common_name.as_deref() == Some(options.common_name.as_str()) {
            options.common_name = CaOptions::unique_name(now)?;
        }
        Ok(options)
    }

    /// A CA name unlikely to be reused: the date plus 32 random bits.
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] when the operating system's CSPRNG fails.
    pub fn unique_name(now: OffsetDateTime) -> Result<CommonName> {
        let mut tag = [0u8; 4];
        aws_lc_rs::rand::fill(&mut tag).map_err(crypto)?;
        let date = now.date();
        format!(
            "dockpki CA {:04}-{:02}-{:02} {}",
            date.year(),
            u8::from(date.month()),
            date.day(),
            inspect::hex(&tag, "")
        )
        .parse()
    }
}

/// Evidence that a CA value's key has made a signature that verified: only
/// [`CertificateAuthority::proven_key`] makes one (its field is private to this module), and
/// [`verify::Signatures::TrustOwn`] requires it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProvenKey {
    _made_here: (),
}

/// A CA certificate with its private key, ready to sign.
#[derive(Debug)]
pub struct CertificateAuthority {
    cert: CertificateDer<'static>,
    cert_pem: String,
    info: CertInfo,
    constraints: NameConstraints,
    key: PrivateKey,
    // Whether a certificate this value signed has verified, signature included: from then on,
    // its self-check (`CertificateAuthority::sign`) skips the signature math. Per value, so a
    // CA loaded again (another key file) proves itself again.
    signature_proven: AtomicBool,
}

impl CertificateAuthority {
    /// Generates a key and a self-signed CA certificate, valid from `now` (less
    /// [`crate::CLOCK_SKEW_ALLOWANCE`]) for `options.lifetime`.
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] when the key cannot be generated or the backend fails to sign.
    pub fn create(options: &CaOptions, now: OffsetDateTime) -> Result<Self> {
        Self::create_with_key(options, PrivateKey::generate(options.key_type)?, now)
    }

    /// Makes a self-signed CA certificate for an existing key (its type, not
    /// `options.key_type`, is the CA's).
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] when the backend fails to sign.
    pub fn create_with_key(
        options: &CaOptions,
        key: PrivateKey,
        now: OffsetDateTime,
    ) -> Result<Self> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, CA_ORGANIZATION);
        dn.push(DnType::CommonName, options.common_name.as_str());
        params.distinguished_name = dn;
        (params.not_before, params.not_after) = options.lifetime.window(now);
        params.serial_number = Some(crate::issue::random_serial()?);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(options.path_len));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.name_constraints = options.name_constraints.to_rcgen();
        let cert = params.self_signed(key.rcgen()).map_err(crypto)?;
        let der = cert.der().clone();
        Ok(CertificateAuthority {
            info: inspect::inspect(&der)?,
            cert_pem: cert.pem(),
            cert: der,
            constraints: options.name_constraints.clone(),
            key,
            signature_proven: AtomicBool::new(false),
        })
    }

    /// Loads a CA from its certificate and key in PEM. The first certificate in `cert_pem` is
    /// the CA; it must be a CA (basicConstraints CA:TRUE) and `key_pem` must be its key, since
    /// signing with a foreign key would produce leaves that verify nowhere.
    ///
    /// ```
    /// use dockpki::{CaOptions, CertificateAuthority, Error, OffsetDateTime};
    /// let now = OffsetDateTime::now_utc();
    /// let ca = CertificateAuthority::create(&CaOptions::new(now)?, now)?;
    /// let loaded = CertificateAuthority::load(ca.cert_pem().as_bytes(), ca.key_pem().as_bytes())?;
    /// assert_eq!(loaded.info().fingerprint(), ca.info().fingerprint());
    /// let other = CertificateAuthority::create(&CaOptions::new(now)?, now)?;
    /// let mixed = CertificateAuthority::load(ca.cert_pem().as_bytes(), other.key_pem().as_bytes());
    /// assert!(matches!(mixed, Err(Error::KeyMismatch { .. })));
    /// # Ok::<(), dockpki::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::Pem`] when `cert_pem` holds no certificate or `key_pem` no key.
    /// - [`Error::NotACa`] when the certificate is not a CA.
    /// - [`Error::EncryptedKey`] for an encrypted key (use
    ///   [`CertificateAuthority::load_encrypted`]), and the other errors of
    ///   [`PrivateKey::from_pem`].
    /// - [`Error::KeyMismatch`] when the key is not the certificate's.
    pub fn load(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self> {
        Self::load_with(cert_pem, || PrivateKey::from_pem(key_pem))
    }

    /// Like [`CertificateAuthority::load`] for a key in PKCS#8 `ENCRYPTED PRIVATE KEY` form
    /// (see [`PrivateKey::from_encrypted_pem`]). The certificate is checked first, so a file
    /// that is not a CA is reported without spending the key derivation, which costs about
    /// 0.07 s optimised and about 6 s in a debug build without the profile overrides described
    /// at [`crate::PBKDF2_ITERATIONS`].
    ///
    /// # Errors
    ///
    /// The errors of [`CertificateAuthority::load`] for the certificate and the pairing, and
    /// those of [`PrivateKey::from_encrypted_pem`] for the key (among them
    /// [`Error::WrongPassphrase`]).
    pub fn load_encrypted(cert_pem: &[u8], key_pem: &[u8], passphrase: &[u8]) -> Result<Self> {
        Self::load_with(cert_pem, || {
            PrivateKey::from_encrypted_pem(key_pem, passphrase)
        })
    }

    fn load_with(cert_pem: &[u8], key: impl FnOnce() -> Result<PrivateKey>) -> Result<Self> {
        let cert = inspect::certs_from_pem(cert_pem)?.swap_remove(0);
        let info = inspect::inspect(&cert)?;
        if !info.is_ca {
            return Err(Error::NotACa {
                subject: info.subject,
            });
        }
        let key = key()?;
        if !verify::key_matches_cert(&key, &cert) {
            return Err(Error::KeyMismatch {
                certificate: format!("CA certificate {:?}", info.subject),
            });
        }
        let constraints = NameConstraints::from_x509(&inspect::parse(&cert)?);
        Ok(CertificateAuthority {
            cert_pem: inspect::cert_to_pem(&cert),
            cert,
            info,
            constraints,
            key,
            signature_proven: AtomicBool::new(false),
        })
    }

    /// Whether a certificate signed by this value has verified, signature included.
    pub(crate) fn signature_proven(&self) -> bool {
        self.signature_proven.load(Ordering::Acquire)
    }

    /// The evidence [`verify::Signatures::TrustOwn`] needs, once a certificate signed by this
    /// value has verified, signature included.
    pub(crate) fn proven_key(&self) -> Option<ProvenKey> {
        self.signature_proven()
            .then_some(ProvenKey { _made_here: () })
    }

    /// Records that a certificate signed by this value verified, signature included.
    pub(crate) fn set_signature_proven(&self) {
        self.signature_proven.store(true, Ordering::Release);
    }

    /// The CA certificate.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The CA certificate in PEM, as written to `ca.pem`.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's private key in PKCS#8 PEM, zeroized on drop.
    pub fn key_pem(&self) -> Zeroizing<String> {
        self.key.to_pem()
    }

    /// What the CA certificate says.
    pub fn info(&self) -> &CertInfo {
        &self.info
    }

    /// The names the CA's leaves may carry.
    pub fn name_constraints(&self) -> &NameConstraints {
        &self.constraints
    }

    /// The CA's private key in PKCS#8 `ENCRYPTED PRIVATE KEY` PEM under `passphrase`; see
    /// [`PrivateKey::to_encrypted_pem`] for the format and its cost.
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] when the backend fails to encrypt.
    pub fn encrypted_key_pem(&self, passphrase: &[u8]) -> Result<Zeroizing<String>> {
        self.key.to_encrypted_pem(passphrase)
    }

    pub(crate) fn key(&self) -> &PrivateKey {
        &self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientRequest, IssuedCert, KeyType, VerifyError};

    fn client(name: &str) -> ClientRequest {
        ClientRequest {
            common_name: name.parse().unwrap(),
            lifetime: "30d".parse().unwrap(),
        }
    }

    /// A CA value whose key is not its certificate's: what the self-check's signature
    /// verification exists to catch ([`CertificateAuthority::load`] refuses such a pair, so it
    /// can only be built here).
    fn mismatched(now: OffsetDateTime) -> CertificateAuthority {
        let real = CertificateAuthority::create(&CaOptions::new(now).unwrap(), now).unwrap();
        let foreign = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        CertificateAuthority {
            cert: real.cert.clone(),
            cert_pem: real.cert_pem.clone(),
            info: real.info.clone(),
            constraints: real.constraints.clone(),
            key: foreign,
            signature_proven: AtomicBool::new(false),
        }
    }

    #[test]
    fn a_ca_whose_key_signs_unverifiable_certificates_issues_none() {
        let now = OffsetDateTime::now_utc();
        let ca = mismatched(now);
        for name in ["first", "second"] {
            let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
            let err = ca.issue_client(&client(name), key, now).unwrap_err();
            assert!(
                matches!(err, Error::Verify(VerifyError::BadSignature)),
                "{name}: {err:?}"
            );
        }
        assert!(!ca.signature_proven(), "a failed check proves nothing");
    }

    #[test]
    fn the_signature_is_proven_by_the_first_certificate_and_every_later_one_still_verifies() {
        let now = OffsetDateTime::now_utc();
        let ca = CertificateAuthority::create(&CaOptions::new(now).unwrap(), now).unwrap();
        assert!(!ca.signature_proven());
        let first = ca
            .issue_client(
                &client("first"),
                PrivateKey::generate(KeyType::EcdsaP256).unwrap(),
                now,
            )
            .unwrap();
        assert!(ca.signature_proven());
        let later = ca
            .issue_client(
                &client("later"),
                PrivateKey::generate(KeyType::Ed25519).unwrap(),
                now,
            )
            .unwrap();
        // The content-only check changes nothing in what is issued: the full verifier accepts
        // both, signatures included.
        for issued in [&first, &later] {
            crate::verify_leaf(
                &issued.cert,
                std::slice::from_ref(ca.cert_der()),
                crate::Usage::Client,
                None,
                now,
            )
            .unwrap();
        }
        // A CA loaded again is a new value: it proves its key again.
        let loaded =
            CertificateAuthority::load(ca.cert_pem().as_bytes(), ca.key_pem().as_bytes()).unwrap();
        assert!(!loaded.signature_proven());
    }

    #[test]
    fn the_content_only_check_still_refuses_what_the_rules_refuse() {
        let now = OffsetDateTime::now_utc();
        let ca = CertificateAuthority::create(&CaOptions::new(now).unwrap(), now).unwrap();
        let other = CertificateAuthority::create(&CaOptions::new(now).unwrap(), now).unwrap();
        let issued = other
            .issue_client(
                &client("elsewhere"),
                PrivateKey::generate(KeyType::EcdsaP256).unwrap(),
                now,
            )
            .unwrap();
        // The content-only self-check of `ca`, as `sign` runs it once the key is proven.
        let check = |leaf: &IssuedCert, usage, at| {
            verify::verify_leaf_as(
                &leaf.cert,
                std::slice::from_ref(ca.cert_der()),
                usage,
                None,
                at,
                verify::Signatures::TrustOwn(ProvenKey { _made_here: () }),
                Some(ca.info()),
            )
        };
        // Another CA's leaf: its issuer name is not this CA's.
        assert!(matches!(
            check(&issued, crate::Usage::Client, now),
            Err(VerifyError::UnknownIssuer { .. })
        ));
        let mine = ca
            .issue_client(
                &client("mine"),
                PrivateKey::generate(KeyType::EcdsaP256).unwrap(),
                now,
            )
            .unwrap();
        assert!(check(&mine, crate::Usage::Client, now).is_ok());
        assert!(matches!(
            check(&mine, crate::Usage::Server, now),
            Err(VerifyError::WrongUsage { .. })
        ));
        assert!(matches!(
            check(&mine, crate::Usage::Client, now + time::Duration::days(31)),
            Err(VerifyError::Expired { .. })
        ));
    }
}
