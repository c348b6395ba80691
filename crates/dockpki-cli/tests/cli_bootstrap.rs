//! `dockpki bootstrap`: creates (or reuses) the CA, installs the daemon and client layouts,
//! prints the configuration to apply, and produces certificates openssl and `dockpki verify`
//! accept, for every key type.

mod common;

use std::path::Path;

use common::{assert_openssl_accepts, json, mode, names, openssl_verify, read, s, stdout, Env};

#[test]
fn bootstrap_creates_the_ca_and_installs_both_layouts() {
    let env = Env::new();
    let d = env.path("daemon");
    let c = env.path("client");
    env.bootstrap(&d, &c, &[]);
    assert_eq!(names(&d), ["ca.pem", "server-cert.pem", "server-key.pem"]);
    assert_eq!(names(&c), ["ca.pem", "cert.pem", "key.pem"]);
    assert_eq!(
        names(&env.state()),
        ["ca-key.pem", "ca.pem", "inventory.json", "lock"]
    );
    let ca = read(&env.state().join("ca.pem"));
    assert_eq!(read(&d.join("ca.pem")), ca);
    assert_eq!(read(&c.join("ca.pem")), ca);
    for key in [
        d.join("server-key.pem"),
        c.join("key.pem"),
        env.state().join("ca-key.pem"),
    ] {
        assert_eq!(mode(&key), 0o400, "{}", key.display());
    }
    for cert in [
        d.join("ca.pem"),
        d.join("server-cert.pem"),
        c.join("ca.pem"),
        c.join("cert.pem"),
    ] {
        assert_eq!(mode(&cert), 0o444, "{}", cert.display());
    }
    assert_eq!(mode(&env.state()), 0o700);
}

#[test]
fn bootstrap_prints_daemon_json_keys_and_client_exports() {
    let env = Env::new();
    let d = env.path("daemon");
    let c = env.path("client");
    let text = stdout(&env.bootstrap(&d, &c, &[]));
    for needle in [
        "\"tlsverify\": true".to_string(),
        format!("\"tlscacert\": \"{}\"", s(&d.join("ca.pem"))),
        format!("\"tlscert\": \"{}\"", s(&d.join("server-cert.pem"))),
        format!("\"tlskey\": \"{}\"", s(&d.join("server-key.pem"))),
        "\"tcp://0.0.0.0:2376\"".to_string(),
        "export DOCKER_HOST=tcp://localhost:2376\n".to_string(),
        "export DOCKER_TLS_VERIFY=1\n".to_string(),
        format!("export DOCKER_CERT_PATH={}\n", s(&c)),
    ] {
        assert!(text.contains(&needle), "missing {needle:?} in:\n{text}");
    }
    assert!(text.contains("created"), "{text}");
}

/// Runs the printed `export` lines in sh and returns what the variables hold.
fn eval_exports(text: &str) -> String {
    let exports: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("export "))
        .collect();
    assert_eq!(exports.len(), 3, "{text}");
    let script = format!(
        "{}\nprintf '%s\\n' \"$DOCKER_HOST\" \"$DOCKER_TLS_VERIFY\" \"$DOCKER_CERT_PATH\"",
        exports.join("\n")
    );
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn bootstrap_export_lines_are_valid_shell_for_awkward_paths_ipv6_and_ports() {
    let env = Env::new();
    let d = env.path("daemon dir");
    let c = env.path("client's dir");
    let out = env.ok(&[
        "bootstrap",
        "--san",
        "::1",
        "--port",
        "12376",
        "--daemon-dir",
        s(&d),
        "--client-dir",
        s(&c),
    ]);
    let vars = eval_exports(&stdout(&out));
    assert_eq!(vars, format!("tcp://[::1]:12376\n1\n{}\n", s(&c)));
    assert!(stdout(&out).contains("tcp://0.0.0.0:12376"));
}

#[test]
fn bootstrap_docker_host_prefers_a_dns_name_over_an_ip() {
    let env = Env::new();
    let out = env.ok(&[
        "bootstrap",
        "--san",
        "192.0.2.10",
        "--san",
        "docker.example.com",
        "--daemon-dir",
        s(&env.path("d")),
        "--client-dir",
        s(&env.path("c")),
    ]);
    assert!(eval_exports(&stdout(&out)).starts_with("tcp://docker.example.com:2376\n"));
}

#[test]
fn bootstrap_json_has_daemon_json_and_client_env() {
    let env = Env::new();
    let d = env.path("daemon");
    let c = env.path("client");
    let doc = json(&env.bootstrap(&d, &c, &["--json"]));
    let dj = &doc["daemon_json"];
    assert_eq!(dj["tlsverify"], true);
    assert_eq!(dj["tlscacert"], s(&d.join("ca.pem")));
    assert_eq!(dj["tlscert"], s(&d.join("server-cert.pem")));
    assert_eq!(dj["tlskey"], s(&d.join("server-key.pem")));
    let hosts: Vec<&str> = dj["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert!(hosts.contains(&"tcp://0.0.0.0:2376"), "{hosts:?}");

    // client_env: the variables by name, as `env --json` gives them under `set`.
    let get = |k: &str| doc["client_env"][k].as_str();
    assert_eq!(get("DOCKER_HOST"), Some("tcp://localhost:2376"));
    assert_eq!(get("DOCKER_TLS_VERIFY"), Some("1"));
    assert_eq!(get("DOCKER_CERT_PATH"), Some(s(&c)));

    assert_eq!(doc["ca_created"], true);
    assert_eq!(doc["daemon"]["dir"], s(&d));
    assert_eq!(doc["client"]["dir"], s(&c));
    assert_eq!(doc["state"], s(&env.state()));
}

#[test]
fn bootstrap_certificates_pass_openssl_verify_for_their_purpose_only() {
    let env = Env::new();
    let d = env.path("daemon");
    let c = env.path("client");
    env.bootstrap(&d, &c, &[]);
    assert_openssl_accepts(&d.join("ca.pem"), &d.join("server-cert.pem"), "sslserver");
    assert_openssl_accepts(&c.join("ca.pem"), &c.join("cert.pem"), "sslclient");
    assert!(
        !openssl_verify(&c.join("ca.pem"), &d.join("server-cert.pem"), "sslclient")
            .status
            .success()
    );
    assert!(
        !openssl_verify(&d.join("ca.pem"), &c.join("cert.pem"), "sslserver")
            .status
            .success()
    );
    // openssl agrees on the hostname and IP.
    for (flag, value) in [
        ("-verify_hostname", "localhost"),
        ("-verify_ip", "127.0.0.1"),
    ] {
        let out = std::process::Command::new("openssl")
            .args([
                "verify",
                "-CAfile",
                s(&d.join("ca.pem")),
                flag,
                value,
                s(&d.join("server-cert.pem")),
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{flag} {value}: {out:?}");
    }
}

#[test]
fn second_bootstrap_without_force_fails_on_the_existing_server_cert() {
    let env = Env::new();
    let d = env.path("daemon");
    let c = env.path("client");
    env.bootstrap(&d, &c, &[]);
    env.assert_refused(
        &[
            "bootstrap",
            "--san",
            "localhost",
            "--daemon-dir",
            s(&d),
            "--client-dir",
            s(&c),
        ],
        "server-cert.pem already exists; pass --force",
    );
}

#[test]
fn bootstrap_with_fresh_state_refuses_to_replace_existing_layout_files() {
    let env = Env::new();
    let d = env.path("daemon");
    let c = env.path("client");
    env.bootstrap(&d, &c, &[]);
    // A new state, same layouts: still no silent replacement, and no new state left behind.
    let other = env.path("other-state");
    let mut cmd = env.bare();
    cmd.arg("--state").arg(&other).args([
        "bootstrap",
        "--san",
        "localhost",
        "--daemon-dir",
        s(&d),
        "--client-dir",
        s(&c),
    ]);
    env.assert_refused_cmd(cmd, "--force");
    assert!(!other.exists());
}

#[test]
fn second_bootstrap_with_force_reuses_the_ca_and_keeps_backups() {
    let env = Env::new();
    let d = env.path("daemon");
    let c = env.path("client");
    env.bootstrap(&d, &c, &[]);
    let ca = read(&d.join("ca.pem"));
    let state_ca = read(&env.state().join("ca.pem"));
    let state_key = read(&env.state().join("ca-key.pem"));
    let server = read(&d.join("server-cert.pem"));
    let client_key = read(&c.join("key.pem"));

    let doc = json(&env.bootstrap(&d, &c, &["--force", "--json"]));
    assert_eq!(doc["ca_created"], false);
    assert_eq!(read(&d.join("ca.pem")), ca, "daemon ca.pem is the same CA");
    assert_eq!(read(&c.join("ca.pem")), ca, "client ca.pem is the same CA");
    assert_eq!(read(&env.state().join("ca.pem")), state_ca);
    assert_eq!(read(&env.state().join("ca-key.pem")), state_key);
    assert_ne!(read(&d.join("server-cert.pem")), server);
    // Backups of what was replaced, none of the unchanged ca.pem.
    let bak = |dir: &Path, base: &str| -> Vec<Vec<u8>> {
        names(dir)
            .into_iter()
            .filter(|n| common::is_timestamped_backup(n, base))
            .map(|n| read(&dir.join(n)))
            .collect()
    };
    assert_eq!(bak(&d, "server-cert.pem"), vec![server]);
    assert_eq!(bak(&c, "key.pem"), vec![client_key]);
    assert_eq!(bak(&d, "server-key.pem").len(), 1);
    assert!(common::names_with_prefix(&d, "ca.pem.bak").is_empty());
    // The result still verifies.
    common::assert_success(&env.run(&["verify", "--daemon-dir", s(&d), "--client-dir", s(&c)]));
}

#[test]
fn bootstrap_reuses_a_ca_made_by_ca_init() {
    let env = Env::new();
    env.ca_init(&["--name", "Preexisting"]);
    let ca = read(&env.state().join("ca.pem"));
    let d = env.path("d");
    let text = stdout(&env.bootstrap(&d, &env.path("c"), &[]));
    assert!(text.contains("reused"), "{text}");
    assert_eq!(read(&d.join("ca.pem")), ca);
}

#[test]
fn bootstrap_without_client_dir_installs_into_home_docker() {
    let env = Env::new();
    let d = env.path("daemon");
    let out = env.ok(&["bootstrap", "--san", "localhost", "--daemon-dir", s(&d)]);
    let docker = env.home().join(".docker");
    assert_eq!(names(&docker), ["ca.pem", "cert.pem", "key.pem"]);
    assert!(stdout(&out).contains(&format!("export DOCKER_CERT_PATH={}\n", s(&docker))));
}

#[test]
fn bootstrap_client_name_defaults_to_the_user_and_client_overrides_it() {
    let env = Env::new();
    let c = env.path("c1");
    env.bootstrap(&env.path("d1"), &c, &[]);
    assert_eq!(
        env.inspect_cert(&c.join("cert.pem"))["common_name"],
        common::USER
    );
    let c2 = env.path("c2");
    env.bootstrap(&env.path("d2"), &c2, &["--client", "alice"]);
    assert_eq!(
        env.inspect_cert(&c2.join("cert.pem"))["common_name"],
        "alice"
    );
}

#[test]
fn bootstrap_validity_options_apply_to_each_leaf() {
    let env = Env::new();
    let d = env.path("d");
    let c = env.path("c");
    env.bootstrap(
        &d,
        &c,
        &["--server-validity", "30d", "--client-validity", "12h"],
    );
    let span = |p: &Path| {
        let v = env.inspect_cert(p);
        common::time_of(&v["not_after"]) - common::time_of(&v["not_before"])
    };
    let skew = time::Duration::minutes(5);
    assert_eq!(
        span(&d.join("server-cert.pem")),
        time::Duration::days(30) + skew
    );
    assert_eq!(span(&c.join("cert.pem")), time::Duration::hours(12) + skew);
}

/// Bootstraps with `--key-type`, then checks every key and certificate has that type and that
/// openssl and `dockpki verify` accept the result.
fn bootstrap_with_key_type(key_type: &str) {
    let env = Env::new();
    let d = env.path("daemon");
    let c = env.path("client");
    env.bootstrap(&d, &c, &["--key-type", key_type]);
    // (`public_key` and the text output spell the type as --key-type does; the JSON
    // `key_type` field does not for RSA, see cli_inspect.rs.)
    for cert in [
        env.state().join("ca.pem"),
        d.join("server-cert.pem"),
        c.join("cert.pem"),
    ] {
        assert_eq!(
            env.inspect_cert(&cert)["public_key"],
            key_type,
            "{}",
            cert.display()
        );
    }
    for key in [
        env.state().join("ca-key.pem"),
        d.join("server-key.pem"),
        c.join("key.pem"),
    ] {
        let text = stdout(&env.ok(&["inspect", s(&key)]));
        assert!(
            text.contains(&format!("private key, {key_type}\n")),
            "{text}"
        );
    }
    assert_openssl_accepts(&d.join("ca.pem"), &d.join("server-cert.pem"), "sslserver");
    assert_openssl_accepts(&c.join("ca.pem"), &c.join("cert.pem"), "sslclient");
    let out = env.run(&[
        "verify",
        "--daemon-dir",
        s(&d),
        "--client-dir",
        s(&c),
        "--host",
        "localhost",
    ]);
    common::assert_success(&out);
    // Leaves issued later by this CA get the default type unless asked.
    let extra = env.path("extra");
    env.issue_client("extra", &extra, &[]);
    assert_eq!(
        env.inspect_cert(&extra.join("cert.pem"))["key_type"],
        "ecdsa-p256"
    );
    assert_openssl_accepts(&extra.join("ca.pem"), &extra.join("cert.pem"), "sslclient");
}

#[test]
fn bootstrap_works_with_key_type_ecdsa_p256() {
    bootstrap_with_key_type("ecdsa-p256");
}

#[test]
fn bootstrap_works_with_key_type_ecdsa_p384() {
    bootstrap_with_key_type("ecdsa-p384");
}

#[test]
fn bootstrap_works_with_key_type_ed25519() {
    bootstrap_with_key_type("ed25519");
}

#[test]
fn bootstrap_works_with_key_type_rsa_2048() {
    bootstrap_with_key_type("rsa-2048");
}

#[test]
fn bootstrap_works_with_key_type_rsa_3072() {
    bootstrap_with_key_type("rsa-3072");
}

#[test]
fn bootstrap_works_with_key_type_rsa_4096() {
    bootstrap_with_key_type("rsa-4096");
}

/// A rootless daemon runs as an ordinary user and reads that user's files: root (sudo or not)
/// would make root's files in root's home, so `--rootless` is refused before anything is made.
#[test]
fn bootstrap_rootless_as_root_is_refused_and_writes_nothing() {
    if !common::require_root("to be refused as root") {
        return;
    }
    let env = Env::new();
    let home = env.path("root-home");
    std::fs::create_dir(&home).unwrap();
    for sudo in [false, true] {
        let mut cmd = env.cmd();
        cmd.env("HOME", &home)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_DATA_HOME")
            .args(["bootstrap", "--rootless", "--san", "localhost"]);
        if sudo {
            cmd.env("SUDO_USER", "alice").env("SUDO_UID", "12345");
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            err.contains("bootstrap --rootless") && err.contains("without sudo"),
            "{err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(names(&home).is_empty(), "written: {:?}", names(&home));
        assert!(!env.state().exists());
    }
}
