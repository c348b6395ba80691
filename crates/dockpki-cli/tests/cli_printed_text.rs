//! Printed text under hostile input: a certificate, an inventory or a file name can hold any
//! character, and dockpki prints them to people and to logs. For each hostile string below,
//! put into certificates (made with rcgen: dockpki itself refuses to issue them), into the
//! inventory and into file names, every command that shows it must
//!
//! - print no raw control or bidirectional-formatting character, on stdout or stderr;
//! - print no line that starts with what the string tried to put on a line of its own;
//! - show the string escaped (as `output::escape` or Rust's `{:?}` writes it), not drop it;
//! - keep it exact in `--json`, where serde's escaping is enough.
#![forbid(unsafe_code)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{json, s, Env};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use serde_json::Value;

/// One hostile string and what it tries to do to whoever reads the output.
struct Variant {
    name: &'static str,
    payload: &'static str,
}

const VARIANTS: &[Variant] = &[
    Variant {
        name: "a newline and a forged error line",
        payload: "evil\nerror: forged by the certificate",
    },
    Variant {
        name: "a newline and a forged verify ok line",
        payload: "evil\nok    daemon  /etc/docker/pki/ca.pem: forged",
    },
    Variant {
        name: "clear screen and cursor home",
        payload: "evil\x1b[2J\x1b[Hall clean",
    },
    Variant {
        name: "a window title (OSC 0)",
        payload: "evil\x1b]0;pwned\x07",
    },
    Variant {
        name: "a carriage return over the line",
        payload: "evil\rok: overwritten",
    },
    Variant {
        name: "a right-to-left override",
        payload: "evil\u{202e}gpj.exe",
    },
    Variant {
        name: "an 8-bit CSI (C1 control)",
        payload: "evil\u{9b}2J",
    },
];

/// Whether `c` must never reach the terminal raw: what `output::escape` rewrites.
fn unprintable(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `s` as `output::escape` shows it.
fn escaped(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if unprintable(c) && (c as u32) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if unprintable(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// `s` as Rust's `{:?}` shows it, without the quotes (messages that quote a name use that).
fn debug_escaped(s: &str) -> String {
    let d = format!("{s:?}");
    d[1..d.len() - 1].to_string()
}

/// What the payload tries to put at the start of a line of its own: each part after a newline
/// or carriage return.
fn forged_starts(payload: &str) -> Vec<&str> {
    payload
        .split(['\n', '\r'])
        .skip(1)
        .filter(|p| !p.is_empty())
        .collect()
}

/// Asserts the first two properties of the module doc for both streams of `out`.
fn assert_safe(out: &Output, v: &Variant, what: &str) {
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let text = String::from_utf8(bytes.clone())
            .unwrap_or_else(|e| panic!("{what} ({}): {stream} is not UTF-8: {e}", v.name));
        for line in text.split('\n') {
            if let Some(c) = line.chars().find(|&c| unprintable(c)) {
                panic!(
                    "{what} ({}): raw U+{:04X} on {stream} in line {line:?}",
                    v.name, c as u32
                );
            }
            for forged in forged_starts(v.payload) {
                assert!(
                    !line.starts_with(forged),
                    "{what} ({}): {stream} has a line the certificate forged: {line:?}",
                    v.name
                );
            }
        }
    }
}

/// Asserts that the payload is shown, escaped, on stdout or stderr.
fn assert_shown(out: &Output, v: &Variant, what: &str) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&escaped(v.payload)) || text.contains(&debug_escaped(v.payload)),
        "{what} ({}): the value is not shown escaped:\n{text}",
        v.name
    );
}

/// The only escape sequences dockpki prints itself: the colours of `--color always`.
const OWN_COLOURS: [&str; 4] = ["\x1b[32m", "\x1b[33m", "\x1b[31m", "\x1b[0m"];

/// `out` with dockpki's own colour codes taken out of stdout, asserting that there were some:
/// whatever escape is left came from the certificate, and [`assert_safe`] finds it.
fn without_own_colours(mut out: Output, what: &str) -> Output {
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(text.contains("\x1b[0m"), "{what}: not coloured:\n{text}");
    let mut plain = text;
    for code in OWN_COLOURS {
        plain = plain.replace(code, "");
    }
    out.stdout = plain.into_bytes();
    out
}

/// `payload` as part of a file name: everything but `/`.
fn in_name(payload: &str) -> String {
    payload.replace('/', "_")
}

/// An rcgen key and certificate, as PEM.
struct Made {
    params: CertificateParams,
    key: KeyPair,
    cert_pem: String,
}

/// Validity around now: rcgen's default (1975..4096) would make every check about dates odd.
fn validity(params: &mut CertificateParams) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(300);
}

/// A self-signed CA whose common name is `cn`.
fn ca(cn: &str) -> Made {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut params);
    let cert_pem = params.self_signed(&key).expect("self-sign").pem();
    Made {
        params,
        key,
        cert_pem,
    }
}

/// A server certificate from `ca` named `cn`, for `localhost` and, when it is ASCII (DNS names
/// are IA5String), for `cn` as a DNS name too.
fn server(ca: &Made, cn: &str) -> Made {
    let key = KeyPair::generate().expect("leaf key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("leaf params");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.subject_alt_names = vec![SanType::DnsName("localhost".try_into().unwrap())];
    if cn.is_ascii() {
        params
            .subject_alt_names
            .push(SanType::DnsName(cn.try_into().expect("IA5")));
    }
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    validity(&mut params);
    let issuer = Issuer::from_params(&ca.params, &ca.key);
    let cert_pem = params.signed_by(&key, &issuer).expect("sign").pem();
    Made {
        params,
        key,
        cert_pem,
    }
}

/// Writes a daemon layout: `ca.pem` holding `ca_pem`, the server certificate and its key.
fn daemon_layout(dir: &Path, ca_pem: &str, leaf: &Made) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("ca.pem"), ca_pem).unwrap();
    fs::write(dir.join("server-cert.pem"), &leaf.cert_pem).unwrap();
    fs::write(dir.join("server-key.pem"), leaf.key.serialize_pem()).unwrap();
    common::chmod(&dir.join("ca.pem"), 0o444);
    common::chmod(&dir.join("server-cert.pem"), 0o444);
    common::chmod(&dir.join("server-key.pem"), 0o400);
}

#[test]
fn inspect_shows_every_hostile_certificate_field_escaped_and_json_keeps_it_exact() {
    for v in VARIANTS {
        let env = Env::new();
        let ca = ca(v.payload);
        let leaf = server(&ca, v.payload);
        // The file name carries the payload too, as a name from `inspect *.pem` may.
        let file = env.root().join(format!("leaf {}.pem", in_name(v.payload)));
        fs::write(&file, &leaf.cert_pem).unwrap();
        let ca_file = env.path("ca.pem");
        fs::write(&ca_file, &ca.cert_pem).unwrap();

        let out = env.ok(&["inspect", s(&ca_file), s(&file)]);
        assert_safe(&out, v, "inspect");
        assert_shown(&out, v, "inspect");

        let doc = json(&env.ok(&["--json", "inspect", s(&ca_file), s(&file)]));
        let ca_info = &doc["files"][0]["certificates"][0];
        let leaf_info = &doc["files"][1]["certificates"][0];
        assert_eq!(ca_info["common_name"], v.payload, "{}", v.name);
        assert_eq!(leaf_info["common_name"], v.payload, "{}", v.name);
        assert_eq!(doc["files"][1]["path"], s(&file), "{}", v.name);
        if v.payload.is_ascii() {
            assert!(
                leaf_info["dns_names"]
                    .as_array()
                    .unwrap()
                    .contains(&Value::from(v.payload)),
                "{}: {leaf_info}",
                v.name
            );
        }
    }
}

/// The FAIL findings of `verify --json`, as (path, message).
fn json_failures(out: &Output) -> Vec<(String, String)> {
    json(out)["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["level"] == "fail")
        .map(|f| {
            (
                f["path"].as_str().unwrap_or_default().to_string(),
                f["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Asserts exit 4 (broken now) and, on stderr, exactly one `error:` line, the summary (the
/// findings are on stdout).
fn assert_one_error_summary(out: &Output, what: &str) {
    assert_eq!(out.status.code(), Some(4), "{what}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines.len() == 1 && lines[0].starts_with("error: verify found "),
        "{what}: stderr is not one summary error line:\n{stderr}"
    );
}

/// `verify` of layouts alone, without a state (these layouts come from a hand-made CA, which
/// a state's CA would rightly refuse).
fn verify_alone(env: &Env, args: &[&str]) -> Output {
    env.bare().args(args).output().expect("run dockpki")
}

#[test]
fn verify_cannot_be_made_to_print_a_forged_line_by_a_certificate() {
    for v in VARIANTS {
        let env = Env::new();
        let ca = ca(v.payload);
        let leaf = server(&ca, v.payload);
        // A sound layout from a hostile CA: the SAN check names the certificate's SANs.
        let daemon = env.root().join(format!("daemon {}", in_name(v.payload)));
        daemon_layout(&daemon, &ca.cert_pem, &leaf);
        // A layout whose ca.pem holds the leaf: the finding names its subject.
        let not_a_ca = env.path("not-a-ca");
        daemon_layout(&not_a_ca, &leaf.cert_pem, &leaf);

        let out = verify_alone(
            &env,
            &[
                "verify",
                "--daemon-dir",
                s(&daemon),
                "--host",
                "localhost",
                "--host",
                "nope.example.com",
            ],
        );
        assert_safe(&out, v, "verify --host");
        // The directory name is in every line, and with an ASCII payload the SANs are too.
        assert_shown(&out, v, "verify --host");
        assert_one_error_summary(&out, v.name);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.lines()
                .any(|l| l.starts_with("FAIL") && l.contains("do not cover nope.example.com")),
            "{}: {text}",
            v.name
        );
        assert!(text.contains("SANs cover localhost"), "{}: {text}", v.name);

        // Coloured, the same: the colours are added after the text is escaped.
        let out = verify_alone(
            &env,
            &[
                "--color",
                "always",
                "verify",
                "--daemon-dir",
                s(&daemon),
                "--host",
                "nope.example.com",
            ],
        );
        let out = without_own_colours(out, "verify --color always");
        assert_safe(&out, v, "verify --color always");
        assert_shown(&out, v, "verify --color always");

        let out = verify_alone(&env, &["verify", "--daemon-dir", s(&not_a_ca)]);
        assert_safe(&out, v, "verify of a ca.pem holding a leaf");
        assert_shown(&out, v, "verify of a ca.pem holding a leaf");
        assert_one_error_summary(&out, v.name);

        let out = verify_alone(
            &env,
            &[
                "--json",
                "verify",
                "--daemon-dir",
                s(&daemon),
                "--host",
                "nope.example.com",
            ],
        );
        assert_one_error_summary(&out, v.name);
        let failures = json_failures(&out);
        assert!(
            failures
                .iter()
                .all(|(path, _)| path.contains(&in_name(v.payload))),
            "{}: JSON paths changed: {failures:?}",
            v.name
        );
        if v.payload.is_ascii() {
            assert!(
                failures.iter().any(|(_, m)| m.contains(v.payload)),
                "{}: the exact SAN is not in the JSON: {failures:?}",
                v.name
            );
        }
    }
}

/// The inventory of `env`, edited by `f`, written back with its mode.
fn edit_inventory(env: &Env, f: impl FnOnce(&mut Value)) {
    let path = env.state().join("inventory.json");
    let mut inv = common::inventory(env);
    f(&mut inv);
    common::overwrite(
        &path,
        serde_json::to_string_pretty(&inv).unwrap().as_bytes(),
    );
}

#[test]
fn status_rotate_status_and_revoke_show_hostile_names_and_paths_escaped() {
    for v in VARIANTS {
        let env = Env::new();
        env.bootstrap(&env.path("d"), &env.path("c"), &[]);
        // The inventory and the state's ca.pem are files: someone who can write them, or a
        // damaged disk, decides what status prints.
        let gone: PathBuf = env.root().join(format!("gone {}", in_name(v.payload)));
        let mut serial = String::new();
        edit_inventory(&env, |inv| {
            for r in inv["certificates"].as_array_mut().unwrap() {
                if r["kind"] == "client" {
                    r["common_name"] = Value::from(v.payload);
                    r["installed"] = Value::from(vec![s(&gone)]);
                    serial = r["serial"].as_str().unwrap().to_string();
                }
            }
        });
        common::overwrite(
            &env.state().join("ca.pem"),
            ca(v.payload).cert_pem.as_bytes(),
        );

        // The client's layout is "gone": exit 4, a table on stdout and advice on stderr.
        let out = env.run(&["status"]);
        assert_eq!(out.status.code(), Some(4), "{}", v.name);
        assert_safe(&out, v, "status");
        assert_shown(&out, v, "status");
        let out = without_own_colours(env.run(&["--color", "always", "status"]), "status");
        assert_safe(&out, v, "status --color always");
        assert_shown(&out, v, "status --color always");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.lines().all(|l| l.starts_with("dockpki: ")),
            "{}: a stderr line is not a note:\n{stderr}",
            v.name
        );

        let doc = json(&env.run(&["--json", "status"]));
        let client = doc["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == "client")
            .expect("the client row");
        assert_eq!(client["common_name"], v.payload, "{}", v.name);
        assert_eq!(client["installed"][0]["dir"], s(&gone), "{}", v.name);
        assert_eq!(doc["cas"][0]["common_name"], v.payload, "{}", v.name);

        let out = env.ok(&["ca", "rotate", "status"]);
        assert_safe(&out, v, "ca rotate status");
        assert_shown(&out, v, "ca rotate status");

        let out = env.ok(&["-v", "revoke", "--serial", &serial]);
        assert_safe(&out, v, "revoke -v");
        assert_shown(&out, v, "revoke -v");
    }
}
