//! `dockpki verify`: passes on a fresh bootstrap, and each kind of broken layout produces a
//! FAIL line (and exit code 1) that names the problem.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{chmod, json, s, stdout, Env};

fn bootstrapped() -> (Env, PathBuf, PathBuf) {
    let env = Env::new();
    let d = env.path("daemon");
    let c = env.path("client");
    env.bootstrap(&d, &c, &[]);
    (env, d, c)
}

fn verify(env: &Env, d: &Path, c: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["verify", "--daemon-dir", s(d), "--client-dir", s(c)];
    args.extend_from_slice(extra);
    env.run(&args)
}

fn fail_lines(out: &Output) -> Vec<String> {
    stdout(out)
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .map(str::to_string)
        .collect()
}

/// Asserts exit 4 (broken now), a FAIL line containing every one of `phrases`, and on stderr the one
/// `error:` line every failing command ends with, counting the FAIL lines.
fn assert_fails_with(out: &Output, phrases: &[&str]) {
    assert_eq!(out.status.code(), Some(4), "{}", stdout(out));
    let fails = fail_lines(out);
    assert!(
        fails.iter().any(|l| phrases.iter().all(|p| l.contains(p))),
        "no FAIL line with {phrases:?}:\n{}",
        stdout(out)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "error: verify found {} problem(s); see the FAIL lines above\n",
            fails.len()
        )
    );
}

#[test]
fn verify_passes_on_a_fresh_bootstrap() {
    let (env, d, c) = bootstrapped();
    let out = verify(
        &env,
        &d,
        &c,
        &["--host", "localhost", "--host", "127.0.0.1"],
    );
    common::assert_success(&out);
    let text = stdout(&out);
    assert!(fail_lines(&out).is_empty(), "{text}");
    assert!(out.stderr.is_empty());
    // One line per finding, each tagged.
    for line in text.lines() {
        assert!(
            line.starts_with("ok  ") || line.starts_with("warn"),
            "untagged line {line:?}"
        );
    }
    assert!(
        text.contains("SANs cover localhost") && text.contains("SANs cover 127.0.0.1"),
        "{text}"
    );
    assert!(text.contains("accepted by the daemon's ca.pem"), "{text}");
    assert!(text.contains("accepted by the client's ca.pem"), "{text}");
}

#[test]
fn verify_checks_one_layout_alone() {
    let (env, d, c) = bootstrapped();
    common::assert_success(&env.run(&["verify", "--daemon-dir", s(&d)]));
    let out = env.run(&["verify", "--client-dir", s(&c)]);
    common::assert_success(&out);
    assert!(!stdout(&out).contains("daemon"), "{}", stdout(&out));
}

#[test]
fn verify_fails_for_a_host_not_in_the_sans() {
    let (env, d, c) = bootstrapped();
    let out = verify(&env, &d, &c, &["--host", "docker.example.com"]);
    assert_fails_with(&out, &["server-cert.pem", "docker.example.com"]);
    let out = verify(&env, &d, &c, &["--host", "10.9.9.9"]);
    assert_fails_with(&out, &["10.9.9.9"]);
}

#[test]
fn verify_fails_when_the_client_key_belongs_to_another_certificate() {
    let (env, d, c) = bootstrapped();
    let other = env.path("other");
    env.issue_client("other", &other, &[]);
    common::overwrite(&c.join("key.pem"), &common::read(&other.join("key.pem")));
    let out = verify(&env, &d, &c, &[]);
    assert_fails_with(&out, &["key.pem", "does not belong to the certificate"]);
}

#[test]
fn verify_fails_on_a_readable_private_key_and_says_chmod() {
    let (env, d, c) = bootstrapped();
    chmod(&c.join("key.pem"), 0o644);
    let out = verify(&env, &d, &c, &[]);
    assert_fails_with(&out, &["key.pem", "0644", "chmod 400"]);

    chmod(&c.join("key.pem"), 0o400);
    chmod(&d.join("server-key.pem"), 0o440);
    assert_fails_with(&verify(&env, &d, &c, &[]), &["server-key.pem", "chmod 400"]);
}

#[test]
fn verify_fails_on_a_group_writable_certificate() {
    let (env, d, c) = bootstrapped();
    chmod(&d.join("ca.pem"), 0o664);
    assert_fails_with(&verify(&env, &d, &c, &[]), &["ca.pem", "chmod 444"]);
}

#[test]
fn verify_cross_check_fails_for_a_client_of_another_ca() {
    let (env, d, _) = bootstrapped();
    let other = Env::new();
    let other_d = other.path("daemon");
    let other_c = other.path("client");
    other.bootstrap(&other_d, &other_c, &[]);
    // Each layout on its own is fine (checked against the state that provisioned it)...
    common::assert_success(&other.run(&["verify", "--client-dir", s(&other_c)]));
    // ...but together, neither side accepts the other.
    let out = verify(&env, &d, &other_c, &[]);
    assert_fails_with(&out, &["cert.pem", "the daemon would refuse it"]);
    assert_fails_with(&out, &["server-cert.pem", "the client would refuse it"]);
}

#[test]
fn verify_fails_when_a_layout_is_missing_or_incomplete() {
    let (env, d, c) = bootstrapped();
    let out = verify(&env, &d, &env.path("nowhere"), &[]);
    assert_fails_with(&out, &["nowhere", "does not exist"]);

    fs::remove_file(d.join("server-cert.pem")).unwrap();
    let out = verify(&env, &d, &c, &[]);
    assert_fails_with(&out, &["server-cert.pem", "cannot read"]);
}

#[test]
fn verify_fails_when_ca_pem_holds_a_leaf() {
    let (env, d, c) = bootstrapped();
    let leaf = common::read(&c.join("cert.pem"));
    common::overwrite(&c.join("ca.pem"), &leaf);
    assert_fails_with(&verify(&env, &d, &c, &[]), &["ca.pem", "not a CA"]);
}

#[test]
fn verify_fails_when_certificates_are_in_the_wrong_layout() {
    // A client certificate installed as the daemon's: wrong extended key usage.
    let (env, d, c) = bootstrapped();
    for (from, to) in [
        ("cert.pem", "server-cert.pem"),
        ("key.pem", "server-key.pem"),
    ] {
        common::overwrite(&d.join(to), &common::read(&c.join(from)));
    }
    let out = verify(&env, &d, &c, &[]);
    assert_fails_with(&out, &["server-cert.pem"]);
}

#[test]
fn verify_warns_about_expiry_without_failing_and_exits_3_for_the_change_due() {
    let (env, d, c) = bootstrapped();
    // The client certificate is valid for 90 days.
    let out = verify(&env, &d, &c, &["--warn-within", "100d"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(out.stderr.is_empty(), "a warning is no error: {out:?}");
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.starts_with("warn") && l.contains("cert.pem") && l.contains("expires in")),
        "{text}"
    );
}

#[test]
fn verify_json_reports_ok_and_findings() {
    let (env, d, c) = bootstrapped();
    let good = json(&verify(&env, &d, &c, &["--json"]));
    assert_eq!(good["ok"], true);
    let bad_out = verify(&env, &d, &c, &["--json", "--host", "nope.example.com"]);
    assert_eq!(bad_out.status.code(), Some(4));
    // stdout stays one JSON document; the summary goes to stderr.
    let stderr = String::from_utf8_lossy(&bad_out.stderr);
    assert!(
        stderr.lines().count() == 1 && stderr.starts_with("error: verify found 2 problem(s)"),
        "{stderr}"
    );
    let bad = json(&bad_out);
    assert_eq!(bad["ok"], false);
    let findings = bad["findings"].as_array().expect("findings array");
    assert!(!findings.is_empty());
    for f in findings {
        for key in ["level", "layout", "path", "message"] {
            assert!(f.get(key).is_some(), "finding without {key}: {f}");
        }
    }
    assert!(findings.iter().any(|f| f["level"] == "fail"
        && f["layout"] == "daemon"
        && f["message"].as_str().unwrap().contains("nope.example.com")));
}

#[test]
fn verify_refuses_an_invalid_host_as_bad_input() {
    let (env, d, c) = bootstrapped();
    env.assert_refused(
        &[
            "verify",
            "--daemon-dir",
            s(&d),
            "--client-dir",
            s(&c),
            "--host",
            "bad_name",
        ],
        "invalid SAN",
    );
}

#[test]
fn verify_writes_nothing() {
    let (env, d, c) = bootstrapped();
    chmod(&c.join("key.pem"), 0o644);
    let before = common::snapshot(env.root());
    verify(&env, &d, &c, &["--host", "localhost"]);
    common::assert_unchanged(&before, &common::snapshot(env.root()), "verify");
}

#[test]
fn verify_with_a_state_fails_for_a_layout_of_another_ca_naming_the_state() {
    let (env, _, _) = bootstrapped();
    let other = Env::new();
    let other_c = other.path("client");
    other.bootstrap(&other.path("daemon"), &other_c, &[]);
    let out = env.run(&["verify", "--client-dir", s(&other_c)]);
    assert_fails_with(&out, &["ca.pem", "does not hold the state's CA"]);
    assert_fails_with(&out, &["cert.pem", "not by the state's CA"]);
}

#[test]
fn verify_fails_when_the_state_ca_was_replaced_by_another_ca() {
    let (env, d, c) = bootstrapped();
    let passing = stdout(&verify(&env, &d, &c, &[]));
    assert!(passing.contains("holds the state's CA"), "{passing}");
    assert!(passing.contains("issued by the state's CA"), "{passing}");
    let other = Env::new();
    other.ca_init(&[]);
    common::overwrite(
        &env.state().join("ca.pem"),
        &common::read(&other.state().join("ca.pem")),
    );
    let out = verify(&env, &d, &c, &[]);
    for layout in [&d, &c] {
        assert_fails_with(
            &out,
            &[s(&layout.join("ca.pem")), "does not hold the state's CA"],
        );
    }
    assert_fails_with(&out, &["server-cert.pem", "not by the state's CA"]);
    assert_fails_with(&out, &["/cert.pem", "not by the state's CA"]);
}

/// A client layout in `dir` whose certificate, from a CA of its own, expired 20 days ago.
fn expired_client_of_another_ca(dir: &Path) {
    let then = dockpki::OffsetDateTime::now_utc() - time::Duration::days(30);
    let ca = dockpki::CertificateAuthority::create(&dockpki::CaOptions::new(then).unwrap(), then)
        .unwrap();
    let issued = ca
        .issue_client(
            &dockpki::ClientRequest {
                common_name: "old".parse().unwrap(),
                lifetime: "10d".parse().unwrap(),
            },
            dockpki::PrivateKey::generate(dockpki::KeyType::EcdsaP256).unwrap(),
            then,
        )
        .unwrap();
    fs::create_dir(dir).unwrap();
    fs::write(dir.join("ca.pem"), ca.cert_pem()).unwrap();
    fs::write(dir.join("cert.pem"), &issued.cert_pem).unwrap();
    fs::write(dir.join("key.pem"), issued.key_pem().as_bytes()).unwrap();
    chmod(&dir.join("key.pem"), 0o400);
}

#[test]
fn verify_judges_an_expired_leaf_by_its_issuer_too() {
    let (env, _, _) = bootstrapped();
    let old = env.path("old");
    expired_client_of_another_ca(&old);
    let out = env.run(&["verify", "--client-dir", s(&old)]);
    assert_fails_with(&out, &["cert.pem", "expired"]);
    assert_fails_with(&out, &["cert.pem", "not by the state's CA"]);
}

#[test]
fn verify_with_a_named_state_without_a_ca_is_refused() {
    let (env, _, c) = bootstrapped();
    let empty = env.path("empty-state");
    fs::create_dir(&empty).unwrap();
    let mut cmd = env.bare();
    cmd.args(["--state", s(&empty), "verify", "--client-dir", s(&c)]);
    env.assert_refused_cmd(cmd, "no CA in");
}
