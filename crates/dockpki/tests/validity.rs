//! Validity rules: a CA signs only while it is valid and never a leaf that would outlive it, and
//! the verifier honours notBefore/notAfter to the second.

mod common;

use common::{client_req, now, san, server_req};
use dockpki::{
    verify_leaf, CaOptions, CertificateAuthority, Error, Usage, VerifyError, CLOCK_SKEW_ALLOWANCE,
};
use time::{Duration, OffsetDateTime};

fn ca_with_lifetime(validity: &str, created: OffsetDateTime) -> CertificateAuthority {
    let mut options = CaOptions::new(created).unwrap();
    options.lifetime = common::lifetime(validity);
    CertificateAuthority::create(&options, created).unwrap()
}

#[test]
fn leaf_that_would_outlive_its_ca_is_refused() {
    let now = now();
    let ca = ca_with_lifetime("30d", now);
    let err = ca
        .issue_server(
            &server_req(&["docker.example.com"], "31d"),
            common::p256(),
            now,
        )
        .unwrap_err();
    match err {
        Error::LeafOutlivesCa {
            leaf_not_after,
            ca_not_after,
            requested_at,
        } => {
            assert_eq!(leaf_not_after, now + Duration::days(31));
            assert_eq!(ca_not_after, now + Duration::days(30));
            assert_eq!(requested_at, now);
        }
        other => panic!("expected LeafOutlivesCa, got {other:?}"),
    }
    let err = ca
        .issue_client(&client_req("alice", "1y"), common::p256(), now)
        .unwrap_err();
    assert!(matches!(err, Error::LeafOutlivesCa { .. }), "{err:?}");
    assert!(err.to_string().contains("rotate the CA"), "{err}");
}

#[test]
fn outliving_message_counts_the_days_left_from_the_requests_now_not_the_clock() {
    let created = now();
    let ca = ca_with_lifetime("30d", created);
    // Asked for ten days into the CA's life, whatever the clock says now.
    let err = ca
        .issue_client(
            &client_req("alice", "30d"),
            common::p256(),
            created + Duration::days(10),
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("ask for a validity of at most 20d"),
        "{err}"
    );
}

#[test]
fn leaf_issued_later_with_the_ca_lifetime_outlives_it_and_is_refused() {
    let created = now();
    let ca = ca_with_lifetime("30d", created);
    let later = created + Duration::days(1);
    let err = ca
        .issue_client(&client_req("alice", "30d"), common::p256(), later)
        .unwrap_err();
    assert!(matches!(err, Error::LeafOutlivesCa { .. }), "{err:?}");
    ca.issue_client(&client_req("alice", "29d"), common::p256(), later)
        .expect("a leaf ending before the CA must be issued");
}

#[test]
fn leaf_ending_in_the_same_second_as_its_ca_is_issued() {
    // Certificates keep whole seconds; a leaf made at the same instant as its CA with the same
    // lifetime ends in the very second the CA does and so does not outlive it, whatever the
    // sub-second part of the clock was.
    for nanos in [0, 1, 500_000_000, 999_999_999] {
        let t = now().replace_nanosecond(nanos).unwrap();
        let ca = ca_with_lifetime("30d", t);
        let server = ca
            .issue_server(
                &server_req(&["docker.example.com"], "30d"),
                common::p256(),
                t,
            )
            .unwrap_or_else(|e| panic!("nanos {nanos}: {e}"));
        assert_eq!(server.info.not_after, ca.info().not_after, "nanos {nanos}");
    }
}

#[test]
fn expired_ca_cannot_sign() {
    let created = now() - Duration::days(2);
    let ca = ca_with_lifetime("1d", created);
    let now = now();
    let err = ca
        .issue_server(
            &server_req(&["docker.example.com"], "1h"),
            common::p256(),
            now,
        )
        .unwrap_err();
    match &err {
        Error::CaNotValidNow {
            not_before,
            not_after,
        } => {
            assert_eq!(*not_before, created - CLOCK_SKEW_ALLOWANCE);
            assert_eq!(*not_after, created + Duration::days(1));
        }
        other => panic!("expected CaNotValidNow, got {other:?}"),
    }
    assert!(err.to_string().contains("rotate"), "{err}");
    let err = ca
        .issue_client(&client_req("alice", "1h"), common::p256(), now)
        .unwrap_err();
    assert!(matches!(err, Error::CaNotValidNow { .. }), "{err:?}");
}

#[test]
fn ca_that_is_not_valid_yet_cannot_sign() {
    let now = now();
    let ca = ca_with_lifetime("1y", now + Duration::days(1));
    let err = ca
        .issue_client(&client_req("alice", "1h"), common::p256(), now)
        .unwrap_err();
    assert!(matches!(err, Error::CaNotValidNow { .. }), "{err:?}");
}

#[test]
fn verify_after_not_after_reports_expired() {
    let now = now();
    let ca = common::ca_at(now);
    let server = ca
        .issue_server(
            &server_req(&["docker.example.com"], "1d"),
            common::p256(),
            now,
        )
        .unwrap();
    let client = ca
        .issue_client(&client_req("alice", "1d"), common::p256(), now)
        .unwrap();
    let bundle = [ca.cert_der().clone()];
    let not_after = now + Duration::days(1);
    let host = san("docker.example.com");
    for (what, cert, usage) in [
        ("server", &server.cert, Usage::Server),
        ("client", &client.cert, Usage::Client),
    ] {
        verify_leaf(cert, &bundle, usage, Some(&host), not_after)
            .unwrap_or_else(|e| panic!("{what} at notAfter: {e}"));
        for at in [not_after + Duration::seconds(1), now + Duration::days(400)] {
            let err = verify_leaf(cert, &bundle, usage, Some(&host), at).unwrap_err();
            assert_eq!(err, VerifyError::Expired { not_after }, "{what} at {at}");
        }
    }
}

#[test]
fn verify_before_not_before_reports_not_yet_valid() {
    let now = now();
    let ca = common::ca_at(now - Duration::days(1));
    let server = ca
        .issue_server(
            &server_req(&["docker.example.com"], "1d"),
            common::p256(),
            now,
        )
        .unwrap();
    let bundle = [ca.cert_der().clone()];
    let not_before = now - CLOCK_SKEW_ALLOWANCE;
    verify_leaf(&server.cert, &bundle, Usage::Server, None, not_before).unwrap();
    for at in [not_before - Duration::seconds(1), now - Duration::hours(1)] {
        let err = verify_leaf(&server.cert, &bundle, Usage::Server, None, at).unwrap_err();
        assert_eq!(err, VerifyError::NotYetValid { not_before }, "at {at}");
        assert!(err.to_string().contains("clock"), "{err}");
    }
}

#[test]
fn fresh_leaf_verifies_on_a_machine_whose_clock_is_a_few_minutes_behind() {
    let now = now();
    let ca = common::ca_at(now);
    let client = ca
        .issue_client(&client_req("alice", "90d"), common::p256(), now)
        .unwrap();
    let bundle = [ca.cert_der().clone()];
    verify_leaf(
        &client.cert,
        &bundle,
        Usage::Client,
        None,
        now - Duration::minutes(4),
    )
    .unwrap();
    let err = verify_leaf(
        &client.cert,
        &bundle,
        Usage::Client,
        None,
        now - Duration::minutes(6),
    )
    .unwrap_err();
    assert!(matches!(err, VerifyError::NotYetValid { .. }), "{err:?}");
}
