//! `trust_bundle_pem`: each CA once (by DER), in the order given, and only CAs.

mod common;

use common::{client_req, now};
use dockpki::{certs_from_pem, trust_bundle_pem, CertificateAuthority, CertificateDer, Error};

fn ders(bundle: &str) -> Vec<CertificateDer<'static>> {
    certs_from_pem(bundle.as_bytes()).unwrap()
}

#[test]
fn bundle_drops_repeated_cas_and_keeps_the_order_of_first_appearance() {
    let (a, b, c) = (common::ca(), common::ca(), common::ca());
    let bundle = trust_bundle_pem([
        a.cert_der(),
        b.cert_der(),
        a.cert_der(),
        c.cert_der(),
        b.cert_der(),
    ])
    .unwrap();
    assert_eq!(
        ders(&bundle),
        [
            a.cert_der().clone(),
            b.cert_der().clone(),
            c.cert_der().clone()
        ]
    );
    // The order is the caller's, not a sorted one.
    let reversed = trust_bundle_pem([c.cert_der(), b.cert_der(), a.cert_der()]).unwrap();
    assert_eq!(
        ders(&reversed),
        [
            c.cert_der().clone(),
            b.cert_der().clone(),
            a.cert_der().clone()
        ]
    );
}

#[test]
fn the_same_ca_read_from_a_differently_written_pem_file_is_there_once() {
    let a = common::ca();
    let crlf = a.cert_pem().replace('\n', "\r\n");
    let reread = certs_from_pem(crlf.as_bytes()).unwrap().remove(0);
    let bundle = trust_bundle_pem([a.cert_der(), &reread]).unwrap();
    assert_eq!(ders(&bundle), [a.cert_der().clone()]);
}

#[test]
fn a_bundle_of_one_ca_is_that_cas_pem_byte_for_byte() {
    // What `ca.pem` held before bundles were built here: the CA's own PEM, and for a rotation
    // the concatenation of both CAs' PEM.
    let (old, new) = (common::ca(), common::ca());
    assert_eq!(trust_bundle_pem([new.cert_der()]).unwrap(), new.cert_pem());
    let loaded =
        CertificateAuthority::load(old.cert_pem().as_bytes(), old.key_pem().as_bytes()).unwrap();
    assert_eq!(
        trust_bundle_pem([loaded.cert_der(), new.cert_der()]).unwrap(),
        format!("{}{}", loaded.cert_pem(), new.cert_pem())
    );
}

#[test]
fn bundle_refuses_a_leaf_junk_and_nothing() {
    let ca = common::ca();
    let client = ca
        .issue_client(&client_req("alice", "90d"), common::p256(), now())
        .unwrap();
    let err = trust_bundle_pem([ca.cert_der(), &client.cert]).unwrap_err();
    assert!(
        matches!(&err, Error::NotACa { subject } if subject.contains("alice")),
        "{err:?}"
    );
    let junk = CertificateDer::from(b"junk".to_vec());
    let err = trust_bundle_pem([ca.cert_der(), &junk]).unwrap_err();
    assert!(matches!(err, Error::Pem { .. }), "{err:?}");
    let err = trust_bundle_pem(std::iter::empty::<&CertificateDer<'static>>()).unwrap_err();
    assert!(
        matches!(err, Error::Verify(dockpki::VerifyError::EmptyBundle)),
        "{err:?}"
    );
}
