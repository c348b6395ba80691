//! `dockpki issue server|client`: the files each writes, what goes into the certificates, and
//! the rules for replacing existing files (only with --force, keeping backups; never through a
//! symlink).

mod common;

use std::fs;
use std::os::unix::fs::symlink;

use common::{assert_openssl_accepts, json, mode, names, openssl_verify, read, s, snapshot, Env};

fn env_with_ca() -> Env {
    let env = Env::new();
    env.ca_init(&[]);
    env
}

#[test]
fn issue_server_writes_exactly_the_daemon_layout() {
    let env = env_with_ca();
    let out = env.path("daemon");
    env.issue_server(&["docker.example.com", "192.0.2.10"], &out, &[]);
    assert_eq!(names(&out), ["ca.pem", "server-cert.pem", "server-key.pem"]);
    assert_eq!(read(&out.join("ca.pem")), read(&env.state().join("ca.pem")));
    assert_eq!(mode(&out.join("ca.pem")), 0o444);
    assert_eq!(mode(&out.join("server-cert.pem")), 0o444);
    assert_eq!(mode(&out.join("server-key.pem")), 0o400);
    assert_openssl_accepts(
        &out.join("ca.pem"),
        &out.join("server-cert.pem"),
        "sslserver",
    );

    let cert = env.inspect_cert(&out.join("server-cert.pem"));
    assert_eq!(cert["dns_names"], serde_json::json!(["docker.example.com"]));
    assert_eq!(cert["ip_addresses"], serde_json::json!(["192.0.2.10"]));
    assert_eq!(
        cert["extended_key_usages"],
        serde_json::json!(["serverAuth"])
    );
    assert_eq!(cert["is_ca"], false);
}

#[test]
fn issue_server_common_name_defaults_to_first_dns_san_and_name_overrides_it() {
    let env = env_with_ca();
    let a = env.path("a");
    env.issue_server(&["10.0.0.1", "docker.example.com"], &a, &[]);
    assert_eq!(
        env.inspect_cert(&a.join("server-cert.pem"))["common_name"],
        "docker.example.com"
    );
    let b = env.path("b");
    env.issue_server(&["docker.example.com"], &b, &["--name", "my daemon"]);
    assert_eq!(
        env.inspect_cert(&b.join("server-cert.pem"))["common_name"],
        "my daemon"
    );
}

#[test]
fn issue_server_accepts_bracketed_ipv6_and_normalises_dns_case() {
    let env = env_with_ca();
    let out = env.path("daemon");
    env.issue_server(&["[2001:db8::1]", "Docker.Example.COM."], &out, &[]);
    let cert = env.inspect_cert(&out.join("server-cert.pem"));
    assert_eq!(cert["ip_addresses"], serde_json::json!(["2001:db8::1"]));
    assert_eq!(cert["dns_names"], serde_json::json!(["docker.example.com"]));
}

#[test]
fn issue_client_writes_exactly_the_docker_cli_layout_with_client_auth_only() {
    let env = env_with_ca();
    let out = env.path("alice");
    env.issue_client("alice", &out, &[]);
    assert_eq!(names(&out), ["ca.pem", "cert.pem", "key.pem"]);
    assert_eq!(read(&out.join("ca.pem")), read(&env.state().join("ca.pem")));
    assert_eq!(mode(&out.join("cert.pem")), 0o444);
    assert_eq!(mode(&out.join("key.pem")), 0o400);
    let cert = env.inspect_cert(&out.join("cert.pem"));
    assert_eq!(cert["common_name"], "alice");
    assert_eq!(
        cert["extended_key_usages"],
        serde_json::json!(["clientAuth"])
    );
    assert_eq!(cert["dns_names"], serde_json::json!([]));
    assert_openssl_accepts(&out.join("ca.pem"), &out.join("cert.pem"), "sslclient");
    // clientAuth only: openssl must not accept it as a server certificate.
    assert!(
        !openssl_verify(&out.join("ca.pem"), &out.join("cert.pem"), "sslserver")
            .status
            .success()
    );
}

#[test]
fn validity_sets_not_after_relative_to_a_backdated_not_before() {
    let env = env_with_ca();
    let out = env.path("ci");
    env.issue_client("ci", &out, &["--validity", "7d"]);
    let cert = env.inspect_cert(&out.join("cert.pem"));
    let span = common::time_of(&cert["not_after"]) - common::time_of(&cert["not_before"]);
    // 7 days plus the 5 minutes notBefore is backdated for clock skew.
    assert_eq!(span, time::Duration::days(7) + time::Duration::minutes(5));

    let d = env.path("d");
    env.issue_server(&["localhost"], &d, &["--validity", "36h"]);
    let cert = env.inspect_cert(&d.join("server-cert.pem"));
    let span = common::time_of(&cert["not_after"]) - common::time_of(&cert["not_before"]);
    assert_eq!(span, time::Duration::hours(36) + time::Duration::minutes(5));
}

#[test]
fn default_validities_are_one_year_for_servers_and_90_days_for_clients() {
    let env = env_with_ca();
    let d = env.path("d");
    let c = env.path("c");
    env.issue_server(&["localhost"], &d, &[]);
    env.issue_client("a", &c, &[]);
    let span =
        |v: serde_json::Value| common::time_of(&v["not_after"]) - common::time_of(&v["not_before"]);
    let skew = time::Duration::minutes(5);
    assert_eq!(
        span(env.inspect_cert(&d.join("server-cert.pem"))),
        time::Duration::days(365) + skew
    );
    assert_eq!(
        span(env.inspect_cert(&c.join("cert.pem"))),
        time::Duration::days(90) + skew
    );
}

#[test]
fn issue_creates_missing_nested_output_directories_private() {
    let env = env_with_ca();
    let out = env.path("a/b/c");
    env.issue_client("alice", &out, &[]);
    for dir in [env.path("a"), env.path("a/b"), out.clone()] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    assert!(out.join("key.pem").is_file());
}

#[test]
fn relative_out_is_resolved_against_the_working_directory() {
    let env = env_with_ca();
    // The sandbox root is the working directory of every command.
    env.ok(&["issue", "client", "--name", "rel", "--out", "relative/dir"]);
    assert!(env.path("relative/dir/cert.pem").is_file());
}

#[test]
fn second_issue_without_force_fails_and_leaves_files_byte_identical() {
    let env = env_with_ca();
    let out = env.path("alice");
    env.issue_client("alice", &out, &[]);
    let line = env.assert_refused(
        &["issue", "client", "--name", "alice", "--out", s(&out)],
        "--force",
    );
    assert!(line.contains("already exists"), "{line}");

    let d = env.path("daemon");
    env.issue_server(&["localhost"], &d, &[]);
    env.assert_refused(
        &["issue", "server", "--san", "localhost", "--out", s(&d)],
        "server-cert.pem already exists; pass --force",
    );
}

#[test]
fn issue_with_force_replaces_and_keeps_timestamped_backups_with_previous_mode() {
    let env = env_with_ca();
    let out = env.path("alice");
    env.issue_client("alice", &out, &[]);
    let old_key = read(&out.join("key.pem"));
    let old_cert = read(&out.join("cert.pem"));
    let old_ca = read(&out.join("ca.pem"));

    env.issue_client("alice", &out, &["--force"]);
    assert_ne!(read(&out.join("key.pem")), old_key, "key was not replaced");
    assert_ne!(
        read(&out.join("cert.pem")),
        old_cert,
        "cert was not replaced"
    );
    assert_eq!(mode(&out.join("key.pem")), 0o400);
    assert_eq!(mode(&out.join("cert.pem")), 0o444);

    for (base, old, old_mode) in [("key.pem", &old_key, 0o400), ("cert.pem", &old_cert, 0o444)] {
        let backups: Vec<String> = names(&out)
            .into_iter()
            .filter(|n| common::is_timestamped_backup(n, base))
            .collect();
        assert_eq!(
            backups.len(),
            1,
            "one backup of {base} in {:?}",
            names(&out)
        );
        let b = out.join(&backups[0]);
        assert_eq!(&read(&b), old, "{} holds the previous {base}", b.display());
        assert_eq!(
            mode(&b),
            old_mode,
            "{} keeps the previous mode",
            b.display()
        );
    }
    // ca.pem did not change, so it was neither rewritten nor backed up.
    assert_eq!(read(&out.join("ca.pem")), old_ca);
    assert!(common::names_with_prefix(&out, "ca.pem.bak").is_empty());
    // And nothing else: no staging leftovers.
    assert_eq!(names(&out).len(), 5, "{:?}", names(&out));
}

#[test]
fn repeated_forced_issues_never_overwrite_a_backup() {
    let env = env_with_ca();
    let out = env.path("alice");
    env.issue_client("alice", &out, &[]);
    let mut keys = vec![read(&out.join("key.pem"))];
    for _ in 0..3 {
        env.issue_client("alice", &out, &["--force"]);
        keys.push(read(&out.join("key.pem")));
    }
    let backups: Vec<Vec<u8>> = names(&out)
        .into_iter()
        .filter(|n| common::is_timestamped_backup(n, "key.pem"))
        .map(|n| read(&out.join(n)))
        .collect();
    assert_eq!(backups.len(), 3);
    for old in &keys[..3] {
        assert!(backups.contains(old), "a previous key was lost");
    }
}

#[test]
fn refuses_to_write_a_key_through_a_symlink_even_with_force() {
    let env = env_with_ca();
    let out = env.path("alice");
    fs::create_dir(&out).unwrap();
    let target = env.path("elsewhere.pem");
    fs::write(&target, "precious\n").unwrap();
    symlink(&target, out.join("key.pem")).unwrap();
    for extra in [&[][..], &["--force"][..]] {
        let mut args = vec!["issue", "client", "--name", "alice", "--out", s(&out)];
        args.extend_from_slice(extra);
        env.assert_refused(&args, "symlink");
    }
    assert_eq!(read(&target), b"precious\n");
    assert!(fs::symlink_metadata(out.join("key.pem"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn refuses_a_dangling_symlink_at_the_key_path() {
    let env = env_with_ca();
    let out = env.path("daemon");
    fs::create_dir(&out).unwrap();
    let target = env.path("would-be-created.pem");
    symlink(&target, out.join("server-key.pem")).unwrap();
    env.assert_refused(
        &["issue", "server", "--san", "localhost", "--out", s(&out)],
        "symlink",
    );
    assert!(!target.exists());
}

#[test]
fn issue_json_reports_layout_certificate_and_written_files() {
    let env = env_with_ca();
    let out = env.path("alice");
    let o = env.ok(&[
        "--json",
        "issue",
        "client",
        "--name",
        "alice",
        "--out",
        s(&out),
    ]);
    let doc = json(&o);
    assert_eq!(doc["layout"]["kind"], "client");
    assert_eq!(doc["layout"]["dir"], s(&out));
    assert_eq!(doc["certificate"]["common_name"], "alice");
    let written: Vec<&str> = doc["written"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["path"].as_str().unwrap())
        .collect();
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        assert!(written.contains(&s(&out.join(f))), "{written:?}");
    }
}

#[test]
fn issue_says_what_it_did_in_one_line_lists_files_with_verbose_and_nothing_with_quiet() {
    let env = env_with_ca();
    let a = env.issue_client("a", &env.path("a"), &[]);
    let line = common::stdout(&a);
    assert!(a.stderr.is_empty(), "{a:?}");
    assert!(
        line.starts_with("issued client certificate \"a\" (serial ")
            && line.contains(", expires ")
            && line.ends_with(&format!(") into {}\n", env.path("a").display()))
            && line.lines().count() == 1,
        "{line}"
    );
    let b = env.issue_client("b", &env.path("b"), &["--verbose"]);
    let text = common::stdout(&b);
    assert!(
        text.starts_with("issued client certificate \"b\"")
            && text.contains(&format!("wrote {}", env.path("b/key.pem").display())),
        "{text}"
    );
    let q = env.issue_client("q", &env.path("q"), &["-q"]);
    assert!(q.stdout.is_empty() && q.stderr.is_empty(), "{q:?}");
    assert!(env.path("q/key.pem").exists());
}

#[test]
fn a_failed_issue_leaves_an_existing_layout_and_inventory_unchanged() {
    // The failure (cert.pem exists) is only found after the key was generated and signed.
    let env = env_with_ca();
    let out = env.path("alice");
    env.issue_client("alice", &out, &[]);
    fs::remove_file(out.join("key.pem")).unwrap();
    let before = snapshot(env.root());
    let o = env.run(&["issue", "client", "--name", "alice", "--out", s(&out)]);
    common::assert_error_line(&o, "cert.pem already exists");
    common::assert_unchanged(&before, &snapshot(env.root()), "failed issue");
}

/// 4000 SANs make a certificate larger than webpki (and so rustls, and dockpki's check of what
/// it issues) can parse; the refusal says so in words, with the size and the fix.
#[test]
fn a_server_certificate_over_64_kib_is_refused_with_its_size_and_the_fix() {
    let env = env_with_ca();
    let mut args: Vec<String> = vec!["issue".into(), "server".into()];
    for i in 0..4000 {
        args.push(format!("--san=host{i}.example.com"));
    }
    args.extend(["--out".into(), s(&env.path("daemon")).to_string()]);
    let line = env.assert_refused(&args, "certificate could not be parsed: it is ");
    assert!(
        line.contains("64 KiB") && line.contains("fewer SANs") && !line.contains("TrailingData"),
        "{line}"
    );
}

/// The same limit met by `verify`, in a certificate made elsewhere (openssl has none).
#[test]
fn verify_reports_an_oversized_certificate_made_elsewhere_in_words() {
    let env = env_with_ca();
    let daemon = env.path("daemon");
    fs::create_dir(&daemon).unwrap();
    let sans: Vec<String> = (0..4000)
        .map(|i| format!("DNS:host{i}.example.com"))
        .collect();
    let ext = env.path("ext.cnf");
    fs::write(
        &ext,
        format!(
            "subjectAltName={}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
            sans.join(",")
        ),
    )
    .unwrap();
    let csr = env.path("big.csr");
    let key = daemon.join("server-key.pem");
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("run openssl");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        s(&key),
        "-subj",
        "/CN=big",
        "-out",
        s(&csr),
    ]);
    let ca = env.state().join("ca.pem");
    openssl(&[
        "x509",
        "-req",
        "-in",
        s(&csr),
        "-CA",
        s(&ca),
        "-CAkey",
        s(&env.state().join("ca-key.pem")),
        "-set_serial",
        "1",
        "-days",
        "10",
        "-extfile",
        s(&ext),
        "-out",
        s(&daemon.join("server-cert.pem")),
    ]);
    fs::copy(&ca, daemon.join("ca.pem")).unwrap();
    common::chmod(&key, 0o400);
    let out = env.run(&["verify", "--daemon-dir", s(&daemon)]);
    assert_eq!(out.status.code(), Some(4));
    let text = common::stdout(&out);
    assert!(
        text.lines().any(|l| l.starts_with("FAIL")
            && l.contains("server-cert.pem")
            && l.contains("certificate could not be parsed: it is ")
            && l.contains("64 KiB")),
        "{text}"
    );
    assert!(!text.contains("TrailingData"), "{text}");
}

/// Docker's "Protect the Docker daemon socket" guide keeps all five files in one directory;
/// both programs find their own names there, so a directory already holding both kinds is
/// not a mix dockpki refuses, and renewing either certificate into it works.
#[test]
fn a_directory_already_holding_both_layouts_takes_either_kind() {
    let env = env_with_ca();
    let dir = env.path("together");
    env.issue_server(&["localhost"], &dir, &[]);
    // A client certificate is refused there while only the daemon's files are present ...
    let out = env.run(&[
        "issue",
        "client",
        "--name",
        "a",
        "--out",
        s(&dir),
        "--force",
    ]);
    common::assert_error_line(&out, "holds a daemon layout");
    // ... but once both are there (as the guide makes it), either kind may be issued again.
    fs::write(dir.join("cert.pem"), "placeholder").unwrap();
    env.issue_client("a", &dir, &["--force"]);
    env.issue_server(&["localhost"], &dir, &["--force"]);
    let mut got = names(&dir);
    got.retain(|n| !n.contains(".bak"));
    for name in [
        "ca.pem",
        "cert.pem",
        "key.pem",
        "server-cert.pem",
        "server-key.pem",
    ] {
        assert!(got.iter().any(|n| n == name), "{name} missing from {got:?}");
    }
}
