//! `CertificateAuthority::crl`: a CRL naming the CA as issuer and listing exactly the given
//! serials with their revocation times and reasons. (openssl's reading and enforcement of it is
//! tested through the CLI in crates/dockpki-cli/tests/cli_revoke.rs.)

mod common;

use common::{ca_at, client_req, now, p256};
use dockpki::{RevocationReason, RevokedCert};
use time::Duration;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

#[test]
fn crl_lists_given_serials_with_reason_and_time_under_the_ca_name() {
    let now = now();
    let ca = ca_at(now);
    let client = ca
        .issue_client(&client_req("alice", "90d"), p256(), now)
        .unwrap();
    let other = ca
        .issue_client(&client_req("bob", "90d"), p256(), now)
        .unwrap();
    let revoked_at = now - Duration::hours(1);
    let pem = ca
        .crl(
            &[RevokedCert {
                serial: client.info.serial.clone(),
                revoked_at,
                reason: Some(RevocationReason::KeyCompromise),
            }],
            now,
            now + Duration::days(7),
        )
        .unwrap();
    let der = pem::parse(&pem).unwrap();
    assert_eq!(der.tag(), "X509 CRL");
    let (rest, crl) = CertificateRevocationList::from_der(der.contents()).unwrap();
    assert!(rest.is_empty());
    let ca_name = ca.info().common_name.clone().unwrap();
    assert!(
        crl.issuer().to_string().contains(&ca_name),
        "{}",
        crl.issuer()
    );
    let entries: Vec<_> = crl.iter_revoked_certificates().collect();
    assert_eq!(entries.len(), 1);
    let hex: String = entries[0]
        .raw_serial()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, client.info.serial);
    assert_ne!(hex, other.info.serial);
    assert_eq!(
        entries[0].revocation_date.timestamp(),
        revoked_at.unix_timestamp()
    );
    let reason = entries[0].reason_code().map(|(_, r)| r.0);
    assert_eq!(reason, Some(1), "keyCompromise is code 1");
    assert_eq!(
        crl.next_update().map(|t| t.timestamp()),
        Some((now + Duration::days(7)).unix_timestamp())
    );
}

#[test]
fn later_crls_carry_larger_crl_numbers() {
    let now = now();
    let ca = ca_at(now);
    let number = |t| {
        let pem = ca.crl(&[], t, t + Duration::days(1)).unwrap();
        let der = pem::parse(&pem).unwrap();
        let (_, crl) = CertificateRevocationList::from_der(der.contents()).unwrap();
        crl.crl_number().cloned().unwrap()
    };
    assert!(number(now + Duration::seconds(1)) > number(now));
}

#[test]
fn a_non_hex_serial_or_an_inverted_validity_is_refused() {
    let now = now();
    let ca = ca_at(now);
    let bad = RevokedCert {
        serial: "not-hex".into(),
        revoked_at: now,
        reason: None,
    };
    let e = ca.crl(&[bad], now, now + Duration::days(1)).unwrap_err();
    assert!(e.to_string().contains("invalid serial number"), "{e}");
    assert!(ca.crl(&[], now, now).is_err());
}
