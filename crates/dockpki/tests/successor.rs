//! `CaOptions::successor`: the next CA of a rotation keeps what the current one could sign.

mod common;

use common::{client_req, now, server_req};
use dockpki::{CaOptions, CertificateAuthority, Error, KeyType, NameConstraints};

fn ca_with(key_type: KeyType, path_len: u8, constraints: NameConstraints) -> CertificateAuthority {
    let now = now();
    let mut options = CaOptions::new(now).unwrap();
    options.key_type = key_type;
    options.path_len = path_len;
    options.name_constraints = constraints;
    CertificateAuthority::create(&options, now).unwrap()
}

#[test]
fn successor_keeps_key_type_path_length_and_name_constraints_under_a_new_name() {
    let constraints = NameConstraints {
        permitted_dns: vec!["example.com".parse().unwrap()],
        permitted_ips: vec!["192.0.2.0/24".parse().unwrap()],
    };
    let current = ca_with(KeyType::Ed25519, 2, constraints.clone());
    let next = CaOptions::successor(current.info(), now()).unwrap();
    assert_eq!(next.key_type, KeyType::Ed25519);
    assert_eq!(next.path_len, 2);
    assert_eq!(next.name_constraints, constraints);
    assert_eq!(next.lifetime, "10y".parse().unwrap());
    assert_ne!(
        current.info().common_name.as_deref(),
        Some(next.common_name.as_str())
    );
    assert!(next.common_name.as_str().starts_with("dockpki CA "));

    // The constraints reach the new CA's certificate, not only its options.
    let new = CertificateAuthority::create(&next, now()).unwrap();
    assert_eq!(new.name_constraints(), &constraints);
    assert_eq!(new.info().path_len, Some(2));
    new.issue_server(
        &server_req(&["docker.example.com", "192.0.2.7"], "90d"),
        common::p256(),
        now(),
    )
    .unwrap();
    let err = new
        .issue_server(
            &server_req(&["docker.example.org"], "90d"),
            common::p256(),
            now(),
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::NameConstraintViolation { .. }),
        "{err:?}"
    );
}

#[test]
fn successor_of_an_unconstrained_default_ca_is_an_unconstrained_default_ca() {
    let current = common::ca();
    let next = CaOptions::successor(current.info(), now()).unwrap();
    let defaults = CaOptions::new(now()).unwrap();
    assert_eq!(next.key_type, defaults.key_type);
    assert_eq!(next.path_len, defaults.path_len);
    assert_eq!(next.lifetime, defaults.lifetime);
    assert!(next.name_constraints.is_empty());
}

#[test]
fn successor_of_a_leaf_is_refused() {
    let ca = common::ca();
    let client = ca
        .issue_client(&client_req("alice", "90d"), common::p256(), now())
        .unwrap();
    let err = CaOptions::successor(&client.info, now()).unwrap_err();
    assert!(matches!(err, Error::NotACa { .. }), "{err:?}");
}
