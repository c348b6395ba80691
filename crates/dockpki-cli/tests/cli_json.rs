//! Every command's `--json` document checked against its schema in docs/json.md: the test reads
//! the tables of that file, so the documentation cannot drift from the output. Every command
//! found by walking the binary's `--help` must be run here (a new command without a schema
//! fails), and every document must be an object whose `schema` names the command, with exactly
//! the documented fields of the documented types, no bare arrays, and no fingerprint under any
//! name but `sha256`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use common::{assert_success, every_command, json, s, Env};
use rustls::{ServerConnection, StreamOwned};
use serde_json::Value;

/// One row of a table in docs/json.md: a field, its type, and whether it may be absent or null
/// (a type ending in `?`).
#[derive(Debug, Clone)]
struct Field {
    name: String,
    ty: String,
}

/// docs/json.md as tables: each schema (`dockpki/status/v1`) and each shared object
/// (`object:certificate`) with its fields.
fn spec() -> BTreeMap<String, Vec<Field>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/json.md");
    let text = std::fs::read_to_string(&path).expect("docs/json.md");
    let mut tables: BTreeMap<String, Vec<Field>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Schema: `") {
            let name = rest.split('`').next().unwrap().to_string();
            assert!(
                tables.insert(name.clone(), Vec::new()).is_none(),
                "{name} twice"
            );
            current = Some(name);
        } else if let Some(rest) = line.strip_prefix("### Object `") {
            let name = format!("object:{}", rest.split('`').next().unwrap());
            assert!(
                tables.insert(name.clone(), Vec::new()).is_none(),
                "{name} twice"
            );
            current = Some(name);
        } else if line.starts_with('#') {
            current = None;
        } else if let (Some(table), Some(row)) = (&current, line.strip_prefix("| `")) {
            let cells: Vec<&str> = row.split(" | ").collect();
            let name = cells[0].trim_end_matches('`').to_string();
            let ty = cells
                .get(1)
                .unwrap_or_else(|| panic!("{line}"))
                .trim()
                .to_string();
            tables.get_mut(table).unwrap().push(Field { name, ty });
        }
    }
    tables
}

/// Checks `value` against the type `ty` of docs/json.md's grammar: `string`, `integer`,
/// `boolean`, `any`, `null`, `[T]` (array of T), `{T}` (object of any keys with values of T),
/// `T?` (null allowed, and absent allowed for a field), or the name of an object table.
fn check(spec: &BTreeMap<String, Vec<Field>>, at: &str, ty: &str, value: &Value) {
    if let Some(inner) = ty.strip_suffix('?') {
        if !value.is_null() {
            check(spec, at, inner, value);
        }
        return;
    }
    if let Some(inner) = ty.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        let items = value
            .as_array()
            .unwrap_or_else(|| panic!("{at}: expected {ty}, found {value}"));
        for (i, item) in items.iter().enumerate() {
            check(spec, &format!("{at}[{i}]"), inner, item);
        }
        return;
    }
    if let Some(inner) = ty.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        let map = value
            .as_object()
            .unwrap_or_else(|| panic!("{at}: expected {ty}, found {value}"));
        for (k, v) in map {
            check(spec, &format!("{at}.{k}"), inner, v);
        }
        return;
    }
    let ok = match ty {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "any" => true,
        object => {
            let fields = spec
                .get(&format!("object:{object}"))
                .unwrap_or_else(|| panic!("{at}: type {object} has no table in docs/json.md"));
            check_object(spec, at, fields, value);
            true
        }
    };
    assert!(ok, "{at}: expected {ty}, found {value}");
}

/// `value` is an object with every field of `fields` (those typed `T?` may be absent) and no
/// other.
fn check_object(spec: &BTreeMap<String, Vec<Field>>, at: &str, fields: &[Field], value: &Value) {
    let map = value
        .as_object()
        .unwrap_or_else(|| panic!("{at}: not an object: {value}"));
    let documented: BTreeSet<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    for key in map.keys() {
        assert!(
            documented.contains(key.as_str()),
            "{at}: field {key:?} is not in docs/json.md ({documented:?})"
        );
    }
    for f in fields {
        match map.get(&f.name) {
            Some(v) => check(spec, &format!("{at}.{}", f.name), &f.ty, v),
            None => assert!(
                f.ty.ends_with('?'),
                "{at}: documented field {:?} missing from {value}",
                f.name
            ),
        }
    }
}

/// No field anywhere names a fingerprint but `sha256`.
fn one_name_for_a_fingerprint(at: &str, value: &Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                assert!(
                    !k.contains("fingerprint") && (k == "sha256" || !k.contains("sha256")),
                    "{at}: field {k:?} names a fingerprint; call it sha256"
                );
                one_name_for_a_fingerprint(&format!("{at}.{k}"), v);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| one_name_for_a_fingerprint(at, v)),
        _ => {}
    }
}

/// The document of one run that exited with `code` (0 unless the command prints its document
/// with another, as plan does with 3), checked against the schema of `command`.
fn check_document(spec: &BTreeMap<String, Vec<Field>>, command: &str, out: &Output, code: i32) {
    if code == 0 {
        assert_success(out);
    } else {
        assert_eq!(out.status.code(), Some(code), "{command}: {out:?}");
    }
    let doc = json(out);
    let schema = format!("dockpki/{}/v1", command.replace(' ', "-"));
    let obj = doc
        .as_object()
        .unwrap_or_else(|| panic!("{command}: not an object: {doc}"));
    assert_eq!(
        obj.keys().next().map(String::as_str),
        Some("schema"),
        "{command}: {doc}"
    );
    assert_eq!(doc["schema"], schema.as_str(), "{command}");
    let fields = spec
        .get(&schema)
        .unwrap_or_else(|| panic!("{schema} has no section in docs/json.md"));
    assert_eq!(
        fields.first().map(|f| (f.name.as_str(), f.ty.as_str())),
        Some(("schema", "string")),
        "{schema}: the table starts with schema"
    );
    check_object(spec, command, fields, &doc);
    one_name_for_a_fingerprint(command, &doc);
}

/// A daemon-like TLS listener on 127.0.0.1 with the daemon layout `dir` that answers `/_ping`
/// and `/version` once, as dockerd does.
fn daemon(dir: &Path) -> (String, std::thread::JoinHandle<()>) {
    let pem = |name: &str| common::read(&dir.join(name));
    let ca = dockpki::certs_from_pem(&pem("ca.pem")).expect("ca.pem");
    let server = dockpki::IssuedCert::from_pem(&pem("server-cert.pem"), &pem("server-key.pem"))
        .expect("server layout");
    let config = Arc::new(dockpki::tls::server_config(&ca, &server).expect("config"));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let host = format!("tcp://{}", listener.local_addr().unwrap());
    let thread = std::thread::spawn(move || {
        let (sock, _) = listener.accept().expect("accept");
        sock.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut tls = StreamOwned::new(ServerConnection::new(config).unwrap(), sock);
        let answers = [
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nOK"
                .to_string(),
            {
                let body =
                    r#"{"Version":"26.1.0","ApiVersion":"1.45","Os":"linux","Arch":"amd64"}"#;
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
            },
        ];
        for answer in answers {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match tls.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => return,
                }
            }
            if tls.write_all(answer.as_bytes()).is_err() || tls.flush().is_err() {
                return;
            }
        }
    });
    (host, thread)
}

/// A command (its words), the arguments after them, extra environment, and the exit code it
/// prints its document with.
struct Run {
    command: &'static str,
    args: Vec<String>,
    env: Vec<(&'static str, PathBuf)>,
    code: i32,
}

/// An argument replaced, when its command runs, by the state's CA fingerprint.
const CA_SHA256: &str = "{ca_sha256}";

fn run(command: &'static str, args: &[&str]) -> Run {
    Run {
        command,
        args: args.iter().map(|a| a.to_string()).collect(),
        env: Vec::new(),
        code: 0,
    }
}

#[test]
fn every_commands_json_document_matches_its_schema_in_docs_json_md() {
    let spec = spec();
    let env = Env::new();
    let root = env.root().to_path_buf();
    let p = |rel: &str| s(&root.join(rel)).to_string();
    let pass = root.join("pass");
    common::write_secret(&pass, "correct horse battery staple\n");
    let pass2 = root.join("pass2");
    common::write_secret(&pass2, "another passphrase for the CA\n");
    let (etc, lib) = (root.join("etc"), root.join("lib"));
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(
        lib.join("docker.service"),
        "[Service]\nExecStart=/usr/bin/dockerd -H fd:// -H tcp://0.0.0.0:2375\n",
    )
    .unwrap();
    let units = std::env::join_paths([&etc, &lib]).unwrap();
    std::fs::create_dir_all(root.join("tree/etc/docker")).unwrap();
    std::fs::write(
        root.join("tree/etc/docker/daemon.json"),
        r#"{"hosts": ["tcp://0.0.0.0:2376"], "tlsverify": true}"#,
    )
    .unwrap();
    let docker_config = root.join("docker-config");
    let (daemon_dir, client_dir) = (p("daemon"), p("client"));
    let host = "tcp://127.0.0.1:2376";

    // A configuration for plan and apply, in step with the CA `ca init` makes; and one whose
    // [ca] asks for another key type, whose plan holds a note naming `ca rotate begin`.
    let config = root.join("dockpki.toml");
    let declared = format!(
        "[[server]]\nname = \"cfg-server\"\nsans = [\"localhost\", \"127.0.0.1\"]\ninstall = \"{}\"\ndaemon_config = {{ file = \"{}\" }}\n\n[[client]]\nname = \"cfg-client\"\ninstall = \"{}\"\ncontext = {{ name = \"cfg\", host = \"tcp://127.0.0.1:2376\" }}\n",
        p("cfg-daemon"),
        p("cfg-daemon.json"),
        p("cfg-client")
    );
    std::fs::write(&config, format!("[ca]\n\n{declared}")).unwrap();
    let rotate = root.join("rotate.toml");
    std::fs::write(
        &rotate,
        format!("[ca]\nkey_type = \"ecdsa-p384\"\n\n{declared}"),
    )
    .unwrap();
    let pending = |r: Run| Run { code: 3, ..r };

    let with_config = |mut r: Run| {
        r.env.push(("DOCKER_CONFIG", docker_config.clone()));
        r
    };
    let mut runs = vec![
        run("ca init", &[]),
        run("ca encrypt", &["--passphrase-file", s(&pass)]),
        run(
            "ca passphrase",
            &[
                "--passphrase-file",
                s(&pass),
                "--new-passphrase-file",
                s(&pass2),
            ],
        ),
        run("ca decrypt", &["--passphrase-file", s(&pass2)]),
        run(
            "bootstrap",
            &[
                "--san",
                "localhost",
                "--san",
                "127.0.0.1",
                "--daemon-dir",
                &daemon_dir,
                "--client-dir",
                &client_dir,
            ],
        ),
        pending(run("plan", &["-c", s(&config)])),
        run("apply", &["-c", s(&config), "--yes"]),
        run("plan", &["-c", s(&config)]),
        // Nothing to do: no consent needed, nothing written.
        run("apply", &["-c", s(&config)]),
        pending(run("plan", &["-c", s(&rotate)])),
        run(
            "issue server",
            &["--san", "docker.example.com", "--out", &p("server2")],
        ),
        run("issue client", &["--name", "bob", "--out", &p("bob")]),
        run(
            "request server",
            &["--san", "web1.example.com", "--dir", &p("web1")],
        ),
        run("request client", &["--name", "carol", "--dir", &p("carol")]),
        run(
            "sign",
            &[
                &p("web1/server.csr"),
                "--kind",
                "server",
                "--out",
                &p("web1-signed"),
            ],
        ),
        run(
            "install",
            &[
                "--from",
                &p("web1-signed"),
                "--dir",
                &p("web1"),
                "--ca-fingerprint",
                CA_SHA256,
            ],
        ),
        run(
            "export pkcs12",
            &[
                "--name",
                "bob",
                "--out",
                &p("bob.p12"),
                "--export-passphrase-file",
                s(&pass),
            ],
        ),
        run(
            "inspect",
            &[
                &format!("{client_dir}/cert.pem"),
                &format!("{client_dir}/ca.pem"),
                &format!("{client_dir}/key.pem"),
            ],
        ),
        run(
            "verify",
            &["--daemon-dir", &daemon_dir, "--client-dir", &client_dir],
        ),
        run("status", &[]),
        run("renew", &[]),
        run("renew", &["--all"]),
        run("revoke", &["--name", "bob"]),
        run("crl", &[]),
        run("crl", &["--out", &p("crl.pem")]),
        run(
            "daemon-config",
            &[
                "--file",
                &p("daemon.json"),
                "--daemon-dir",
                &daemon_dir,
                "--dry-run",
            ],
        ),
        run(
            "daemon-config",
            &["--file", &p("daemon.json"), "--daemon-dir", &daemon_dir],
        ),
        // userns-remap added: the object saying what this machine holds for it.
        run(
            "daemon-config",
            &[
                "--file",
                &p("daemon-harden.json"),
                "--daemon-dir",
                &daemon_dir,
                "--harden",
            ],
        ),
        Run {
            env: vec![("DOCKPKI_SYSTEMD_UNIT_PATH", PathBuf::from(&units))],
            ..run(
                "systemd-dropin",
                &["--out", &p("etc/docker.service.d/dockpki.conf")],
            )
        },
        run(
            "env",
            &["--host", host, "--client-dir", &client_dir, "--shell", "sh"],
        ),
        run("env", &["--unset", "--shell", "sh"]),
        run("sans", &[]),
        // A tree whose daemon.json listens on every interface: one info finding, below the
        // threshold (critical, so that files owned by a non-root runner do not fail the run).
        run(
            "audit",
            &["--root", &p("tree"), "--min-severity", "critical"],
        ),
        with_config(run(
            "context create",
            &[
                "remote",
                "--host",
                host,
                "--client-dir",
                &client_dir,
                "--description",
                "test",
            ],
        )),
        with_config(run("context update", &["remote"])),
        with_config(run("context ls", &[])),
        with_config(run("context rm", &["remote"])),
        run("completions", &["bash"]),
        run("man", &[]),
        run("man", &["issue", "client"]),
        run("man", &["--dir", &p("man")]),
        run("ca rotate status", &[]),
        run("ca rotate begin", &[]),
        run("ca rotate status", &[]),
        run("ca rotate reissue", &[]),
        run("ca rotate finish", &[]),
        run("ca rotate begin", &[]),
        run("ca rotate abort", &[]),
    ];
    // probe last: it needs the daemon layout as it stands, served by a listener.
    runs.push(run("probe", &[]));

    let mut ran = BTreeSet::new();
    for r in runs {
        let mut cmd = env.cmd();
        cmd.arg("--json").args(r.command.split(' '));
        let listener = if r.command == "probe" {
            let (host, thread) = daemon(&root.join("daemon"));
            cmd.args([host.as_str(), "--client-dir", &client_dir]);
            Some(thread)
        } else {
            None
        };
        // The CA's fingerprint as it is when the command runs.
        cmd.args(r.args.iter().map(|a| {
            if a == CA_SHA256 {
                common::ca_sha256(&env)
            } else {
                a.clone()
            }
        }));
        for (k, v) in &r.env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run dockpki");
        if let Some(thread) = listener {
            thread.join().expect("listener");
        }
        check_document(&spec, r.command, &out, r.code);
        ran.insert(r.command.to_string());
    }

    // Every command of the binary (the leaves of its command tree) was run above.
    let all = every_command(&env);
    let leaves: BTreeSet<String> = all
        .iter()
        .filter(|words| {
            !words.is_empty()
                && !all
                    .iter()
                    .any(|other| other.len() > words.len() && other.starts_with(words))
        })
        .map(|words| words.join(" "))
        .collect();
    let missing: Vec<_> = leaves.difference(&ran).collect();
    assert!(
        missing.is_empty(),
        "commands without a --json schema check here: {missing:?}"
    );
    // And docs/json.md documents no command the binary lacks.
    let documented: BTreeSet<String> = spec
        .keys()
        .filter_map(|k| k.strip_prefix("dockpki/")?.strip_suffix("/v1"))
        .filter(|k| *k != "error")
        .map(str::to_string)
        .collect();
    let named: BTreeSet<String> = leaves.iter().map(|l| l.replace(' ', "-")).collect();
    assert_eq!(documented, named, "docs/json.md sections vs the commands");
}

#[test]
fn error_documents_match_the_error_schema_for_bad_values_and_usage_errors() {
    let spec = spec();
    let env = Env::new();
    for (args, code) in [
        (&["--json", "status"][..], 1),
        (&["--json", "ca", "init", "--path-len", "x"][..], 1),
        (&["--json", "statuss"][..], 2),
        (&["--json", "issue", "client"][..], 2),
    ] {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        let doc = json(&out);
        assert_eq!(doc["schema"], "dockpki/error/v1", "{args:?}");
        check_object(&spec, "error", &spec["dockpki/error/v1"], &doc);
        assert_eq!(doc["exit_code"], code, "{args:?}");
    }
}
