//! The fuzz harnesses: one function per parser that reads outside input. Each must return
//! normally for every input (an `Err` is fine, a panic, hang or abort is a bug) and checks a
//! round-trip property where the input is accepted.
//!
//! Shared by the cargo-fuzz targets in `fuzz_targets/` (libFuzzer, nightly) and by the stable
//! regression runner `crates/dockpki/tests/fuzz_corpus.rs`, which replays `corpus/` and
//! `regressions/` and runs proptest-generated mutations on every `cargo test`.

use dockpki::{certs_from_pem, CertificateAuthority, Lifetime, PrivateKey, SanList, VerifiedCsr};

/// The passphrase the encrypted-key harness tries; corpus files are encrypted under it.
pub const PASSPHRASE: &[u8] = b"fuzz";

/// `PrivateKey::from_pem`: an accepted key re-encodes to a key with the same public half.
pub fn pem_private_key(data: &[u8]) {
    if let Ok(key) = PrivateKey::from_pem(data) {
        let again = PrivateKey::from_pem(key.to_pem().as_bytes()).expect("own PEM re-parses");
        assert_eq!(again.public_key_spki(), key.public_key_spki());
    }
}

/// `PrivateKey::from_encrypted_pem` under [`PASSPHRASE`].
pub fn encrypted_private_key(data: &[u8]) {
    if let Ok(key) = PrivateKey::from_encrypted_pem(data, PASSPHRASE) {
        assert!(PrivateKey::from_pem(key.to_pem().as_bytes()).is_ok());
    }
}

/// `certs_from_pem` and `inspect` (what `dockpki inspect` and every loader run): every
/// accepted certificate is described, and re-encodes to the same DER.
pub fn certificates(data: &[u8]) {
    if let Ok(certs) = certs_from_pem(data) {
        for cert in &certs {
            let _ = dockpki::inspect(cert);
            let pem = dockpki::cert_to_pem(cert);
            let back = certs_from_pem(pem.as_bytes()).expect("own PEM re-parses");
            assert_eq!(back[0].as_ref(), cert.as_ref());
        }
    }
}

/// `CertificateAuthority::load`: the input is split at its first NUL byte into the certificate
/// and the key (no NUL: the same bytes for both, as a file holding both would be).
pub fn ca_load(data: &[u8]) {
    let (cert, key) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    if let Ok(ca) = CertificateAuthority::load(cert, key) {
        assert!(ca.info().is_ca);
    }
}

/// `Lifetime` (every `--validity`, `--within`): an accepted lifetime prints as text that parses
/// back to itself.
pub fn lifetime(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(l) = text.parse::<Lifetime>() {
            assert_eq!(l.to_string().parse::<Lifetime>().ok(), Some(l));
        }
    }
}

/// `SanList::parse` over the input's lines (every `--san`): an accepted list prints as SANs
/// that parse back to the same list; a refused one names the offending input.
pub fn sans(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let inputs: Vec<&str> = text.split('\n').collect();
    match SanList::parse(&inputs) {
        Ok(list) => {
            let shown: Vec<String> = list.as_slice().iter().map(|s| s.to_string()).collect();
            let again = SanList::parse(&shown).expect("printed SANs re-parse");
            assert_eq!(again.as_slice(), list.as_slice());
        }
        Err(dockpki::Error::InvalidSan { input, .. }) => {
            assert!(
                inputs
                    .iter()
                    .any(|i| i.contains(input.trim()) || i.trim() == input.trim()),
                "error names {input:?}, not one of the inputs"
            );
        }
        Err(_) => {}
    }
}

/// `VerifiedCsr::from_pem` (what `dockpki sign` reads from another host), then
/// `CertificateAuthority::sign_csr` of what it accepts: an accepted request re-parses from its
/// own PEM to the same DER, and whatever is signed from it is a leaf of exactly one purpose
/// (never a CA), whatever the request asked for.
pub fn csr(data: &[u8]) {
    use std::sync::OnceLock;
    static CA: OnceLock<CertificateAuthority> = OnceLock::new();
    let Ok(csr) = VerifiedCsr::from_pem(data) else {
        return;
    };
    let again = VerifiedCsr::from_pem(csr.pem().as_bytes()).expect("own PEM re-parses");
    assert_eq!(again.der(), csr.der());
    let now = dockpki::OffsetDateTime::now_utc();
    let ca = CA.get_or_init(|| {
        CertificateAuthority::create(&dockpki::CaOptions::new(now).expect("options"), now)
            .expect("a CA")
    });
    for usage in [dockpki::Usage::Server, dockpki::Usage::Client] {
        if let Ok(signed) = ca.sign_csr(&csr, usage, "30d".parse().expect("lifetime"), now) {
            assert!(!signed.info.is_ca);
            assert_eq!(signed.info.extended_key_usages.len(), 1);
            assert_eq!(signed.usage, usage);
        }
    }
}
