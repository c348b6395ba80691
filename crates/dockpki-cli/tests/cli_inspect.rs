//! `dockpki inspect`: what it reports about certificates (checked against openssl), that it
//! never prints key material, and that unreadable input is a one-line error.

mod common;

use std::fs;

use common::{assert_error_line, json, s, stdout, Env};

/// A bootstrapped sandbox: (env, daemon dir, client dir).
fn bootstrapped() -> (Env, std::path::PathBuf, std::path::PathBuf) {
    let env = Env::new();
    let d = env.path("daemon");
    let c = env.path("client");
    env.bootstrap(&d, &c, &["--client", "alice"]);
    (env, d, c)
}

/// `notAfter=Nov 29 01:33:34 2027 GMT` → the instant.
fn openssl_time(line: &str) -> time::OffsetDateTime {
    let value = line.trim().split_once('=').expect("key=value").1;
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [mon, day, hms, year, "GMT"] = parts[..] else {
        panic!("unexpected openssl date {value:?}");
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == mon).expect("month") as u8 + 1;
    let hms: Vec<u8> = hms.split(':').map(|n| n.parse().unwrap()).collect();
    let date = time::Date::from_calendar_date(
        year.parse().unwrap(),
        time::Month::try_from(month).unwrap(),
        day.parse().unwrap(),
    )
    .unwrap();
    date.with_hms(hms[0], hms[1], hms[2]).unwrap().assume_utc()
}

#[test]
fn inspect_json_reports_subject_sans_usages_validity_serial_and_fingerprint() {
    let (env, d, _) = bootstrapped();
    let cert_path = d.join("server-cert.pem");
    let out = env.ok(&["--json", "inspect", s(&cert_path)]);
    let doc = json(&out);
    assert_eq!(doc["files"].as_array().unwrap().len(), 1);
    assert_eq!(doc["files"][0]["path"], s(&cert_path));
    assert_eq!(doc["files"][0]["kind"], "certificates");
    assert_eq!(doc["files"][0]["mode"], "0444");
    let c = &doc["files"][0]["certificates"][0];
    assert_eq!(c["subject"], "CN=localhost");
    assert_eq!(c["dns_names"], serde_json::json!(["localhost"]));
    assert_eq!(c["ip_addresses"], serde_json::json!(["127.0.0.1"]));
    assert_eq!(c["extended_key_usages"], serde_json::json!(["serverAuth"]));
    assert_eq!(c["key_type"], "ecdsa-p256");

    // Cross-check against openssl.
    let fp = common::openssl_x509(&cert_path, &["-fingerprint", "-sha256"]);
    let fp = fp.trim().split_once('=').unwrap().1;
    assert_eq!(c["sha256"], fp);
    let serial = common::openssl_x509(&cert_path, &["-serial"]);
    let serial = serial.trim().split_once('=').unwrap().1;
    assert_eq!(
        c["serial"]
            .as_str()
            .unwrap()
            .trim_start_matches('0')
            .to_ascii_uppercase(),
        serial.trim_start_matches('0')
    );
    let end = openssl_time(&common::openssl_x509(&cert_path, &["-enddate"]));
    assert_eq!(common::time_of(&c["not_after"]), end);
    let subject = common::openssl_x509(&cert_path, &["-subject", "-nameopt", "RFC2253"]);
    assert_eq!(subject.trim(), "subject=CN=localhost");
}

#[test]
fn inspect_text_lists_sans_usages_and_fingerprint() {
    let (env, d, c) = bootstrapped();
    let text = stdout(&env.ok(&["inspect", s(&d.join("server-cert.pem"))]));
    assert!(text.contains("DNS:localhost"), "{text}");
    assert!(text.contains("IP:127.0.0.1"), "{text}");
    assert!(text.contains("serverAuth"), "{text}");
    assert!(text.contains("CN=localhost"), "{text}");
    let fp = env.inspect_cert(&d.join("server-cert.pem"))["sha256"].clone();
    assert!(text.contains(fp.as_str().unwrap()), "{text}");

    let text = stdout(&env.ok(&["inspect", s(&c.join("cert.pem"))]));
    assert!(
        text.contains("CN=alice") && text.contains("clientAuth"),
        "{text}"
    );
    assert!(text.contains("SANs        none"), "{text}");
}

#[test]
fn inspect_several_files_reports_each_in_order() {
    let (env, d, c) = bootstrapped();
    let files = [
        d.join("ca.pem"),
        d.join("server-key.pem"),
        c.join("cert.pem"),
    ];
    let args: Vec<&str> = ["--json", "inspect"]
        .into_iter()
        .chain(files.iter().map(|f| s(f)))
        .collect();
    let doc = json(&env.ok(&args));
    let arr = doc["files"].as_array().unwrap();
    assert_eq!(arr.len(), 3);
    assert_eq!(arr[0]["certificates"][0]["is_ca"], true);
    assert_eq!(arr[1]["kind"], "private_key");
    assert_eq!(arr[2]["certificates"][0]["common_name"], "alice");
}

#[test]
fn inspect_a_bundle_shows_every_certificate() {
    let (env, d, _) = bootstrapped();
    let other = Env::new();
    other.ca_init(&[]);
    let bundle = env.path("bundle.pem");
    let mut pem = common::read(&d.join("ca.pem"));
    pem.extend(common::read(&other.state().join("ca.pem")));
    fs::write(&bundle, pem).unwrap();
    let doc = json(&env.ok(&["--json", "inspect", s(&bundle)]));
    assert_eq!(doc["files"][0]["certificates"].as_array().unwrap().len(), 2);
    let text = stdout(&env.ok(&["inspect", s(&bundle)]));
    assert!(text.contains("2 certificate(s)"), "{text}");
}

/// The base64 lines of a PEM file's body.
fn body_lines(pem: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(pem)
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

fn assert_no_key_material(output: &str, key_pem: &[u8]) {
    assert!(!output.contains("PRIVATE KEY-----"), "{output}");
    for line in body_lines(key_pem) {
        // Any 16-character run of the key's base64 would be a leak.
        for chunk in line.as_bytes().chunks(16).filter(|c| c.len() == 16) {
            let chunk = std::str::from_utf8(chunk).unwrap();
            assert!(
                !output.contains(chunk),
                "key material {chunk:?} in:\n{output}"
            );
        }
    }
}

#[test]
fn inspect_key_file_shows_key_type_and_never_key_material() {
    let env = Env::new();
    env.ca_init(&["--key-type", "ed25519"]);
    let out = env.path("c");
    env.issue_client("k", &out, &["--key-type", "ecdsa-p384"]);
    for (key, ty) in [
        (out.join("key.pem"), "ecdsa-p384"),
        (env.state().join("ca-key.pem"), "ed25519"),
    ] {
        let pem = common::read(&key);
        let text_out = env.ok(&["inspect", s(&key)]);
        let text = stdout(&text_out);
        assert!(text.contains(&format!("private key, {ty}")), "{text}");
        assert!(text.contains("mode 0400"), "{text}");
        assert_no_key_material(&text, &pem);
        assert_no_key_material(&String::from_utf8_lossy(&text_out.stderr), &pem);

        let json_out = env.ok(&["--json", "inspect", s(&key)]);
        let doc = json(&json_out);
        assert_eq!(doc["files"][0]["kind"], "private_key");
        assert_eq!(doc["files"][0]["key_type"], ty);
        assert_no_key_material(&stdout(&json_out), &pem);
    }
}

#[test]
fn inspect_damaged_key_is_an_error_without_key_material() {
    let env = Env::new();
    env.ca_init(&[]);
    let pem = common::read(&env.state().join("ca-key.pem"));
    // Drop one body line: still PEM, no longer a key.
    let text = String::from_utf8(pem.clone()).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(2);
    let damaged = env.path("damaged-key.pem");
    fs::write(&damaged, lines.join("\n") + "\n").unwrap();
    let out = env.run(&["inspect", s(&damaged)]);
    let line = assert_error_line(&out, "damaged-key.pem");
    assert!(line.contains("private key"), "{line}");
    assert_no_key_material(&line, &pem);
}

#[test]
fn inspect_non_pem_input_is_a_one_line_error() {
    let env = Env::new();
    let garbage = env.path("garbage.txt");
    fs::write(&garbage, "hello\nworld\n").unwrap();
    let line = env.assert_refused(&["inspect", s(&garbage)], "garbage.txt");
    assert!(
        line.contains("neither PEM (no -----BEGIN line) nor a DER certificate or private key"),
        "{line}"
    );

    let empty = env.path("empty.pem");
    fs::write(&empty, "").unwrap();
    env.assert_refused(&["inspect", s(&empty)], "empty");

    let der = env.path("binary.der");
    fs::write(&der, [0x30u8, 0x82, 0x01, 0x00, 0xff, 0x00, 0x80]).unwrap();
    env.assert_refused(&["inspect", s(&der)], "binary.der");

    env.assert_refused(&["inspect", s(&env.path("missing.pem"))], "missing.pem");
    env.assert_refused(
        &["inspect", s(env.root())],
        "is a directory, not a regular file",
    );
}

#[test]
fn inspect_with_one_bad_file_prints_nothing_about_the_good_ones() {
    let (env, d, _) = bootstrapped();
    let garbage = env.path("garbage.txt");
    fs::write(&garbage, "nope").unwrap();
    let out = env.run(&["inspect", s(&d.join("ca.pem")), s(&garbage)]);
    assert_error_line(&out, "garbage.txt");
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
}

#[test]
fn inspect_requires_a_file_argument() {
    let env = Env::new();
    env.bare().arg("inspect").assert().code(2);
}

#[test]
fn inspect_json_key_type_is_spelled_like_the_key_type_flag() {
    // Scripts feed `key_type` back into `--key-type`; for RSA the spellings differ.
    let env = Env::new();
    env.ca_init(&["--key-type", "rsa-2048"]);
    let ca = env.inspect_cert(&env.state().join("ca.pem"));
    assert_eq!(ca["key_type"], "rsa-2048", "{ca}");
    let key = json(&env.ok(&["--json", "inspect", s(&env.state().join("ca-key.pem"))]));
    assert_eq!(key["files"][0]["key_type"], "rsa-2048", "{key}");
}

/// `openssl OPERATION -in IN -outform DER -out OUT`.
fn openssl_to_der(operation: &str, input: &std::path::Path, out: &std::path::Path) {
    let status = std::process::Command::new("openssl")
        .args([
            operation,
            "-in",
            s(input),
            "-outform",
            "DER",
            "-out",
            s(out),
        ])
        .status()
        .expect("run openssl");
    assert!(status.success(), "openssl {operation} -outform DER failed");
}

#[test]
fn a_der_certificate_made_by_openssl_reads_as_its_pem_does() {
    let (env, d, _) = bootstrapped();
    let pem = d.join("server-cert.pem");
    let der = env.path("server.der");
    openssl_to_der("x509", &pem, &der);
    assert_ne!(fs::read(&der).unwrap(), fs::read(&pem).unwrap());
    let from_der = json(&env.ok(&["--json", "inspect", s(&der)]));
    let from_pem = json(&env.ok(&["--json", "inspect", s(&pem)]));
    assert_eq!(from_der["files"][0]["encoding"], "der");
    assert_eq!(from_pem["files"][0]["encoding"], "pem");
    assert_eq!(
        from_der["files"][0]["certificates"],
        from_pem["files"][0]["certificates"]
    );
    let text = stdout(&env.ok(&["inspect", s(&der)]));
    assert!(text.contains("server.der (mode 0"), "{text}");
    assert!(text.contains(": 1 certificate(s) (DER)"), "{text}");
    assert!(text.contains("CN=localhost"), "{text}");
}

#[test]
fn a_der_private_key_made_by_openssl_shows_its_type_and_no_key_material() {
    let (env, _, c) = bootstrapped();
    let der = env.path("key.der");
    openssl_to_der("pkey", &c.join("key.pem"), &der);
    let doc = json(&env.ok(&["--json", "inspect", s(&der)]));
    assert_eq!(doc["files"][0]["kind"], "private_key");
    assert_eq!(doc["files"][0]["encoding"], "der");
    assert_eq!(doc["files"][0]["key_type"], "ecdsa-p256");
    let text = stdout(&env.ok(&["inspect", s(&der)]));
    assert!(text.contains("private key (DER), "), "{text}");
    assert_no_key_material(&text, &fs::read(c.join("key.pem")).unwrap());
}

#[test]
fn standard_input_is_read_for_a_dash_in_pem_or_der() {
    let (env, d, _) = bootstrapped();
    let pem_path = d.join("server-cert.pem");
    let der_path = env.path("server.der");
    openssl_to_der("x509", &pem_path, &der_path);
    let expected =
        json(&env.ok(&["--json", "inspect", s(&pem_path)]))["files"][0]["certificates"].clone();
    for (input, encoding) in [
        (fs::read(&pem_path).unwrap(), "pem"),
        (fs::read(&der_path).unwrap(), "der"),
    ] {
        let out = env
            .cmd()
            .args(["--json", "inspect", "-"])
            .write_stdin(input)
            .output()
            .unwrap();
        common::assert_success(&out);
        let doc = json(&out);
        assert_eq!(doc["files"][0]["path"], "-");
        assert_eq!(doc["files"][0]["mode"], serde_json::Value::Null);
        assert_eq!(doc["files"][0]["encoding"], encoding);
        assert_eq!(doc["files"][0]["certificates"], expected);
    }
    // Between files, in the order given.
    let out = env
        .cmd()
        .args(["inspect", s(&d.join("ca.pem")), "-"])
        .write_stdin(fs::read(&pem_path).unwrap())
        .output()
        .unwrap();
    common::assert_success(&out);
    let text = stdout(&out);
    let ca_at = text.find("ca.pem (mode").unwrap();
    let stdin_at = text.find("standard input: 1 certificate(s)").unwrap();
    assert!(ca_at < stdin_at, "{text}");
}

#[test]
fn garbage_or_too_much_on_standard_input_is_one_error_line() {
    let env = Env::new();
    let mut cmd = env.cmd();
    cmd.args(["inspect", "-"]).write_stdin("hello\nworld\n");
    env.assert_refused_cmd(
        cmd,
        "standard input: expected a PEM certificate or private key: the input is neither PEM",
    );
    let mut cmd = env.cmd();
    cmd.args(["inspect", "-"])
        .write_stdin(vec![0x30u8; (1 << 20) + 1]);
    env.assert_refused_cmd(
        cmd,
        "refusing to read standard input because it is larger than 1 MiB",
    );
    let mut cmd = env.cmd();
    cmd.args(["inspect", "-"]);
    env.assert_refused_cmd(
        cmd,
        "standard input: expected a PEM certificate or private key",
    );
}

#[test]
fn standard_input_can_be_named_only_once() {
    let env = Env::new();
    let mut cmd = env.cmd();
    cmd.args(["inspect", "-", "-"]).write_stdin("x");
    env.assert_refused_cmd(cmd, "standard input (-) can be given only once");
}
