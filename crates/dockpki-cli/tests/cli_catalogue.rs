//! The bad-input catalogue: one table of refusals, each run through the real binary in a fresh
//! sandbox, each asserting exit code 1, exactly one `error:` line containing the expected
//! phrase, nothing on stdout, and not a single change to any file or directory of the sandbox
//! (state, layouts, HOME) — `common::Env::assert_refused`.
//!
//! More specific refusals (each command's own, CA rotation phases, locks, hostile file systems,
//! encrypted keys) live in the other `cli_*.rs` files; this table is the broad sweep over
//! every kind of bad input an operator or a damaged disk can produce.

mod common;

use std::fs;
use std::path::Path;

use common::{overwrite, read, s, Env};

/// What a case starts from.
#[derive(Clone, Copy, Debug)]
enum Setup {
    /// An empty sandbox: no state directory.
    Nothing,
    /// A CA in the state directory.
    Ca,
    /// A CA and a client certificate issued into `root/alice`.
    CaAndClient,
    /// A CA, a client layout in `root/alice` and a daemon layout in `root/daemon`.
    CaClientAndDaemon,
}

struct Case {
    /// What is wrong, for the failure message.
    name: &'static str,
    setup: Setup,
    /// Damage done after the setup, before the command.
    damage: fn(&Env),
    /// The command line; `{root}` is replaced by the sandbox root.
    args: &'static [&'static str],
    /// A phrase the error line must contain; `{root}` is replaced by the sandbox root.
    phrase: &'static str,
}

fn none(_: &Env) {}

/// `root/units` with a `docker.service` and an `other.service` that sets no command.
fn units_dir(env: &Env) {
    let units = env.path("units");
    fs::create_dir_all(&units).unwrap();
    fs::write(
        units.join("docker.service"),
        "[Service]\nExecStart=/usr/sbin/dockerd -H fd://\n",
    )
    .unwrap();
    fs::write(units.join("other.service"), "[Service]\nType=oneshot\n").unwrap();
}

fn ca_key(env: &Env) -> std::path::PathBuf {
    env.state().join("ca-key.pem")
}

fn ca_cert(env: &Env) -> std::path::PathBuf {
    env.state().join("ca.pem")
}

fn truncate_half(path: &Path) {
    let bytes = read(path);
    overwrite(path, &bytes[..bytes.len() / 2]);
}

/// Keeps the header and footer but drops base64 lines from the middle.
fn drop_middle_lines(path: &Path) {
    let text = String::from_utf8(read(path)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let kept = [&lines[..2], &lines[lines.len() - 2..]].concat().join("\n") + "\n";
    overwrite(path, kept.as_bytes());
}

fn garbage() -> Vec<u8> {
    // DER-looking junk: a SEQUENCE header followed by bytes that are not a key or certificate.
    let mut v = vec![0x30, 0x82, 0x01, 0x00];
    v.extend((0..256u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    v
}

const ALICE: &[&str] = &[
    "issue",
    "client",
    "--name",
    "alice",
    "--out",
    "{root}/alice",
];

/// `issue server --san SAN --out {root}/daemon`.
macro_rules! san_case {
    ($name:literal, $san:literal, $phrase:literal) => {
        Case {
            name: $name,
            setup: Setup::Ca,
            damage: none,
            args: &[
                "issue",
                "server",
                concat!("--san=", $san),
                "--out",
                "{root}/daemon",
            ],
            phrase: $phrase,
        }
    };
}

/// `issue client --validity V`.
macro_rules! validity_case {
    ($v:literal, $phrase:literal) => {
        Case {
            name: concat!("validity ", $v),
            setup: Setup::Ca,
            damage: none,
            args: &[
                "issue",
                "client",
                "--name",
                "a",
                "--validity",
                $v,
                "--out",
                "{root}/a",
            ],
            phrase: $phrase,
        }
    };
}

fn catalogue() -> Vec<Case> {
    vec![
        // --- SANs ---
        san_case!("empty label", "a..b.com", "empty label"),
        san_case!("empty SAN", "", "empty name"),
        san_case!("leading dot", ".example.com", "empty label"),
        san_case!(
            "label over 63 characters",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
            "longer than 63"
        ),
        san_case!(
            "name over 253 characters",
            "abcdefghi.abcdefghi.abcdefghi.abcdefghi.abcdefghi.abcdefghi.abcdefghi.abcdefghi.abcdefghi.abcdefghi.abcdefghi.abcdefghi.abcdefghi.abcdefghi.abcdefghi.abcdefghi.abcdefghi.abcdefghi.abcdefghi.abcdefghi.abcdefghi.abcdefghi.abcdefghi.abcdefghi.abcdefghi.abcdefghi.com",
            "more than the 253"
        ),
        san_case!("two wildcards", "*.*.x.com", "wildcard may only be the whole leftmost label"),
        san_case!("partial wildcard", "a*.x.com", "wildcard may only be the whole leftmost label"),
        san_case!("wildcard over a TLD", "*.com", "at least two labels"),
        san_case!("underscore", "bad_name.example.com", "'_' is not allowed"),
        san_case!("space", "exa mple.com", "' ' is not allowed"),
        san_case!("leading hyphen", "-a.example.com", "starts or ends with '-'"),
        san_case!("trailing hyphen", "a-.example.com", "starts or ends with '-'"),
        san_case!("five numeric labels", "1.2.3.4.5", "all-numeric top-level label"),
        san_case!("IPv6 zone id", "fe80::1%eth0", "zone"),
        san_case!("IPv4 with a port", "192.0.2.1:2376", "invalid SAN \"192.0.2.1:2376\": a SAN is a name or an address without a port"),
        san_case!(
            "name with a port",
            "host:2376",
            "a SAN is a name or an address without a port; drop ':2376'"
        ),
        san_case!("bracketed IPv6 with a port", "[2001:db8::1]:2376", "drop ':2376'"),
        san_case!(
            "URL instead of a name",
            "tcp://docker.example.com:2376",
            "not a URL; give just the host: docker.example.com"
        ),
        san_case!("unspecified IPv4", "0.0.0.0", "listen-on-everything"),
        san_case!("limited broadcast", "255.255.255.255", "broadcast address"),
        san_case!("IPv4 multicast", "224.0.0.251", "multicast address"),
        san_case!("IPv6 multicast", "ff02::1", "multicast address"),
        san_case!("IPv4-mapped multicast", "::ffff:239.1.1.1", "multicast address"),
        Case {
            name: "no SAN for a server certificate",
            setup: Setup::Ca,
            damage: none,
            args: &["issue", "server", "--out", "{root}/daemon"],
            phrase: "at least one SAN",
        },
        Case {
            name: "bootstrap on port 0",
            setup: Setup::Nothing,
            damage: none,
            args: &[
                "bootstrap", "--san", "localhost", "--port", "0",
                "--daemon-dir", "{root}/d", "--client-dir", "{root}/c",
            ],
            phrase: "--port 0 is no port",
        },
        Case {
            name: "bootstrap on a port beyond 65535 (a bad value, exit 1, not a usage error)",
            setup: Setup::Nothing,
            damage: none,
            args: &[
                "bootstrap", "--san", "localhost", "--port", "99999",
                "--daemon-dir", "{root}/d", "--client-dir", "{root}/c",
            ],
            phrase: "invalid --port \"99999\"",
        },
        Case {
            name: "a CA path length that is not a number (a bad value, exit 1, not a usage error)",
            setup: Setup::Nothing,
            damage: none,
            args: &["ca", "init", "--path-len", "many"],
            phrase: "invalid --path-len \"many\"",
        },
        Case {
            name: "bootstrap on Docker's plaintext port",
            setup: Setup::Nothing,
            damage: none,
            args: &[
                "bootstrap", "--san", "localhost", "--port", "2375",
                "--daemon-dir", "{root}/d", "--client-dir", "{root}/c",
            ],
            phrase: "TLS belongs on 2376",
        },
        Case {
            name: "bootstrap into a client directory with a newline in its name",
            setup: Setup::Nothing,
            damage: none,
            args: &[
                "bootstrap", "--san", "localhost",
                "--daemon-dir", "{root}/d", "--client-dir", "{root}/c\nexport DOCKER_HOST=evil",
            ],
            phrase: "the client directory",
        },
        Case {
            name: "no SAN for bootstrap",
            setup: Setup::Nothing,
            damage: none,
            args: &["bootstrap", "--daemon-dir", "{root}/d", "--client-dir", "{root}/c"],
            phrase: "at least one SAN",
        },
        // --- names, validities, key types ---
        Case {
            name: "common name over 64 characters",
            setup: Setup::Ca,
            damage: none,
            args: &[
                "issue", "client", "--name",
                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                "--out", "{root}/a",
            ],
            phrase: "longer than the 64 characters",
        },
        Case {
            name: "right-to-left override in a client common name",
            setup: Setup::Ca,
            damage: none,
            args: &["issue", "client", "--name", "alice\u{202e}fdp.exe", "--out", "{root}/a"],
            phrase: "U+202E",
        },
        Case {
            name: "escape sequence in a server common name",
            setup: Setup::Ca,
            damage: none,
            args: &[
                "issue", "server", "--san", "localhost", "--name", "a\x1b]0;pwned\x07",
                "--out", "{root}/d",
            ],
            phrase: "U+001B",
        },
        Case {
            name: "zero-width space in a CA name",
            setup: Setup::Nothing,
            damage: none,
            args: &["ca", "init", "--name", "ACME\u{200b} CA"],
            phrase: "U+200B",
        },
        Case {
            name: "empty common name",
            setup: Setup::Ca,
            damage: none,
            args: &["issue", "client", "--name", "", "--out", "{root}/a"],
            phrase: "it is empty",
        },
        validity_case!("0d", "invalid validity \"0d\""),
        validity_case!("-1d", "cannot be negative"),
        validity_case!("1000000y", "invalid validity \"1000000y\""),
        validity_case!("abc", "missing number"),
        validity_case!("90", "invalid validity \"90\" for --validity: a bare number has no unit; give a positive number and a unit h, d, w or y, e.g. 90d"),
        // --- the one duration grammar: each flag's own refusals, naming the flag ---
        validity_case!("1m", "invalid validity \"1m\" for --validity: m is too small a unit here; the smallest is h"),
        validity_case!("3600s", "for --validity: s is too small a unit here; the smallest is h"),
        validity_case!("1mo", "for --validity: there is no month unit (m is minutes; a month is about 30d)"),
        validity_case!("1.5d", "for --validity: unknown unit \".5d\""),
        Case {
            name: "ca init --validity as a bare number",
            setup: Setup::Nothing,
            damage: none,
            args: &["ca", "init", "--validity", "3650"],
            phrase: "invalid validity \"3650\" for --validity: a bare number has no unit",
        },
        Case {
            name: "bootstrap --client-validity in minutes",
            setup: Setup::Nothing,
            damage: none,
            args: &["bootstrap", "--san", "localhost", "--daemon-dir", "{root}/d", "--client-dir", "{root}/c", "--client-validity", "90m"],
            phrase: "invalid validity \"90m\" for --client-validity: m is too small a unit here; the smallest is h",
        },
        Case {
            name: "bootstrap --server-validity as a bare number",
            setup: Setup::Nothing,
            damage: none,
            args: &["bootstrap", "--san", "localhost", "--daemon-dir", "{root}/d", "--client-dir", "{root}/c", "--server-validity", "365"],
            phrase: "invalid validity \"365\" for --server-validity: a bare number has no unit",
        },
        Case {
            name: "ca rotate begin --validity in minutes",
            setup: Setup::CaAndClient,
            damage: none,
            args: &["ca", "rotate", "begin", "--validity", "1m"],
            phrase: "invalid validity \"1m\" for --validity: m is too small a unit here",
        },
        Case {
            name: "status --within as a bare number",
            setup: Setup::CaAndClient,
            damage: none,
            args: &["status", "--within", "30"],
            phrase: "invalid window \"30\" for --within: a bare number has no unit; give a number and a unit h, d, w or y, e.g. 30d",
        },
        Case {
            name: "renew --within in minutes",
            setup: Setup::CaAndClient,
            damage: none,
            args: &["renew", "--within", "5m"],
            phrase: "invalid window \"5m\" for --within: m is too small a unit here; the smallest is h",
        },
        Case {
            name: "verify --within in months",
            setup: Setup::CaAndClient,
            damage: none,
            args: &["verify", "--client-dir", "{root}/alice", "--within", "1mo"],
            phrase: "invalid window \"1mo\" for --within: there is no month unit",
        },
        Case {
            name: "verify --warn-within (the older name) as a bare number",
            setup: Setup::CaAndClient,
            damage: none,
            args: &["verify", "--client-dir", "{root}/alice", "--warn-within", "30"],
            phrase: "invalid window \"30\" for --within: a bare number has no unit",
        },
        Case {
            name: "probe --timeout as a bare number",
            setup: Setup::CaAndClient,
            damage: none,
            args: &["probe", "--host", "tcp://127.0.0.1:9", "--client-dir", "{root}/alice", "--timeout", "5"],
            phrase: "invalid timeout \"5\" for --timeout: a bare number has no unit; give a number and a unit s, m, h, d, w or y, e.g. 5s or 1m",
        },
        Case {
            name: "probe --timeout in milliseconds",
            setup: Setup::CaAndClient,
            damage: none,
            args: &["probe", "--host", "tcp://127.0.0.1:9", "--client-dir", "{root}/alice", "--timeout", "500ms"],
            phrase: "invalid timeout \"500ms\" for --timeout: unknown unit \"ms\"",
        },
        Case {
            name: "probe --timeout longer than a day",
            setup: Setup::CaAndClient,
            damage: none,
            args: &["probe", "--host", "tcp://127.0.0.1:9", "--client-dir", "{root}/alice", "--timeout", "2d"],
            phrase: "invalid timeout \"2d\" for --timeout: longer than the maximum of 1d",
        },
        // --- --host: a daemon address in Docker's -H syntax everywhere ---
        Case {
            name: "env --host with the unix socket",
            setup: Setup::CaAndClient,
            damage: none,
            args: &["env", "--host", "unix:///var/run/docker.sock", "--client-dir", "{root}/alice"],
            phrase: "--host: the daemon address \"unix:///var/run/docker.sock\" uses unix://, but dockpki's certificates protect a daemon over TCP; give tcp://HOST:PORT",
        },
        Case {
            name: "env --host with an IPv6 address without brackets",
            setup: Setup::CaAndClient,
            damage: none,
            args: &["env", "--host", "2001:db8::1:2376", "--client-dir", "{root}/alice"],
            phrase: "--host: the daemon address \"2001:db8::1:2376\" has more than one ':' (an IPv6 address goes in brackets",
        },
        Case {
            name: "context create --host over https",
            setup: Setup::CaAndClient,
            damage: none,
            args: &["context", "create", "remote", "--host", "https://docker.example.com:2376", "--client-dir", "{root}/alice"],
            phrase: "--host: the daemon address \"https://docker.example.com:2376\" uses https://",
        },
        Case {
            name: "context create --host with port 0",
            setup: Setup::CaAndClient,
            damage: none,
            args: &["context", "create", "remote", "--host", "docker.example.com:0", "--client-dir", "{root}/alice"],
            phrase: "has no valid port (1-65535)",
        },
        Case {
            name: "probe --host over ssh",
            setup: Setup::CaAndClient,
            damage: none,
            args: &["probe", "--host", "ssh://me@docker.example.com", "--client-dir", "{root}/alice"],
            phrase: "--host: the daemon address \"ssh://me@docker.example.com\" uses ssh://",
        },
        Case {
            name: "probe with an address holding a path",
            setup: Setup::CaAndClient,
            damage: none,
            args: &["probe", "tcp://docker.example.com:2376/v1.45", "--client-dir", "{root}/alice"],
            phrase: "has no valid port",
        },
        Case {
            name: "verify --host with an unclosed bracket",
            setup: Setup::CaClientAndDaemon,
            damage: none,
            args: &["verify", "--daemon-dir", "{root}/daemon", "--host", "tcp://[::1:2376"],
            phrase: "--host: the daemon address \"tcp://[::1:2376\" has an unclosed '['",
        },
        Case {
            name: "verify --host with a bare IPv6 address",
            setup: Setup::CaClientAndDaemon,
            damage: none,
            args: &["verify", "--daemon-dir", "{root}/daemon", "--host", "::1"],
            phrase: "--host: the daemon address \"::1\" has more than one ':' (an IPv6 address goes in brackets, or its last part would be taken for a port); give tcp://HOST:PORT, e.g. tcp://docker.example.com:2376 (IPv6: tcp://[2001:db8::1]:2376); to check a name or an IP address alone, give it to --check-name",
        },
        Case {
            name: "verify --check-name with a port",
            setup: Setup::CaClientAndDaemon,
            damage: none,
            args: &["verify", "--daemon-dir", "{root}/daemon", "--check-name", "docker.example.com:2376"],
            phrase: "--check-name: invalid SAN \"docker.example.com:2376\": a SAN is a name or an address without a port; drop ':2376'; give a DNS name (e.g. docker.example.com), an IPv4 or an IPv6 address; a daemon address (tcp://HOST:PORT) goes in --host",
        },
        validity_case!("", "invalid validity \"\""),
        Case {
            name: "unknown key type for a leaf",
            setup: Setup::Ca,
            damage: none,
            args: &["issue", "client", "--name", "a", "--key-type", "dsa", "--out", "{root}/a"],
            phrase: "unknown key type \"dsa\"",
        },
        Case {
            name: "unknown key type for a CA",
            setup: Setup::Nothing,
            damage: none,
            args: &["ca", "init", "--key-type", "rsa-1024"],
            phrase: "unknown key type \"rsa-1024\"",
        },
        Case {
            name: "leaf outliving a CA that expires in an hour",
            setup: Setup::Nothing,
            damage: |env| {
                env.ca_init(&["--validity", "1h"]);
            },
            args: ALICE,
            phrase: "but its CA expires",
        },
        Case {
            name: "expired CA",
            setup: Setup::Ca,
            damage: |env| {
                // A CA made 30 days ago with a 1-day lifetime, in place of the real one.
                let then = dockpki::OffsetDateTime::now_utc() - time::Duration::days(30);
                let mut options = dockpki::CaOptions::new(then).unwrap();
                options.lifetime = dockpki::Lifetime::days(1).unwrap();
                let ca = dockpki::CertificateAuthority::create(&options, then).unwrap();
                overwrite(&ca_cert(env), ca.cert_pem().as_bytes());
                overwrite(&ca_key(env), ca.key_pem().as_bytes());
            },
            args: ALICE,
            phrase: "so it cannot sign now",
        },
        Case {
            name: "bad permitted IP range",
            setup: Setup::Nothing,
            damage: none,
            args: &["ca", "init", "--permit-ip", "10.0.0.0/33"],
            phrase: "invalid name constraint",
        },
        // --- damaged CA files ---
        Case {
            name: "CA key truncated in the middle",
            setup: Setup::Ca,
            damage: |env| truncate_half(&ca_key(env)),
            args: ALICE,
            phrase: "expected a PEM private key",
        },
        Case {
            name: "CA key with lines missing",
            setup: Setup::Ca,
            damage: |env| drop_middle_lines(&ca_key(env)),
            args: ALICE,
            phrase: "private key",
        },
        Case {
            // The error must send the operator to the key file, not to ca.pem.
            name: "CA key empty",
            setup: Setup::Ca,
            damage: |env| overwrite(&ca_key(env), b""),
            args: ALICE,
            phrase: "loading the CA key {root}/state/ca-key.pem: expected a PEM private key: the input is empty",
        },
        Case {
            name: "CA key that is DER garbage",
            setup: Setup::Ca,
            damage: |env| overwrite(&ca_key(env), &garbage()),
            args: ALICE,
            phrase: "no PEM block found",
        },
        Case {
            name: "CA key file holding a certificate",
            setup: Setup::Ca,
            damage: |env| overwrite(&ca_key(env), &read(&ca_cert(env))),
            args: ALICE,
            phrase: "found a CERTIFICATE block instead",
        },
        Case {
            name: "CA certificate file holding a key",
            setup: Setup::Ca,
            damage: |env| overwrite(&ca_cert(env), &read(&ca_key(env))),
            args: ALICE,
            phrase: "expected a PEM certificate",
        },
        Case {
            name: "CA certificate truncated",
            setup: Setup::Ca,
            damage: |env| truncate_half(&ca_cert(env)),
            args: ALICE,
            phrase: "certificate",
        },
        Case {
            name: "CA certificate empty",
            setup: Setup::Ca,
            damage: |env| overwrite(&ca_cert(env), b""),
            args: ALICE,
            phrase: "the input is empty",
        },
        Case {
            name: "CA certificate that is not a CA",
            setup: Setup::CaAndClient,
            damage: |env| {
                overwrite(&ca_cert(env), &read(&env.path("alice/cert.pem")));
                overwrite(&ca_key(env), &read(&env.path("alice/key.pem")));
            },
            args: &["issue", "client", "--name", "bob", "--out", "{root}/bob"],
            phrase: "is not a CA",
        },
        Case {
            name: "CA key of another CA",
            setup: Setup::CaAndClient,
            damage: |env| overwrite(&ca_key(env), &read(&env.path("alice/key.pem"))),
            args: &["issue", "client", "--name", "bob", "--out", "{root}/bob"],
            phrase: "does not belong to the CA certificate",
        },
        Case {
            name: "encrypted CA key with a wrong passphrase",
            setup: Setup::Nothing,
            damage: |env| {
                common::write_secret(&env.path("pass"), "right\n");
                common::write_secret(&env.path("wrong"), "wrong\n");
                let pass = env.path("pass");
                env.ok(&["--passphrase-file", s(&pass), "ca", "init", "--encrypt"]);
            },
            args: &[
                "--passphrase-file", "{root}/wrong", "issue", "client", "--name", "a", "--out",
                "{root}/a",
            ],
            phrase: "wrong passphrase",
        },
        Case {
            name: "ca passphrase of an unencrypted CA key",
            setup: Setup::Ca,
            damage: |env| common::write_secret(&env.path("new"), "new\n"),
            args: &["ca", "passphrase", "--new-passphrase-file", "{root}/new"],
            phrase: "is not encrypted, so it has no passphrase to change; encrypt it with",
        },
        Case {
            name: "ca passphrase with the passphrase the key already has",
            setup: Setup::Nothing,
            damage: |env| {
                common::write_secret(&env.path("pass"), "right\n");
                let pass = env.path("pass");
                env.ok(&["--passphrase-file", s(&pass), "ca", "init", "--encrypt"]);
            },
            args: &[
                "--passphrase-file", "{root}/pass", "ca", "passphrase", "--new-passphrase-file",
                "{root}/pass",
            ],
            phrase: "the new passphrase is the one the CA key already has",
        },
        Case {
            name: "ca passphrase with a new passphrase file missing",
            setup: Setup::Nothing,
            damage: |env| {
                common::write_secret(&env.path("pass"), "right\n");
                let pass = env.path("pass");
                env.ok(&["--passphrase-file", s(&pass), "ca", "init", "--encrypt"]);
            },
            args: &[
                "--passphrase-file", "{root}/pass", "ca", "passphrase", "--new-passphrase-file",
                "{root}/nope",
            ],
            phrase: "cannot read the passphrase file",
        },
        Case {
            name: "export pkcs12 of a name without an active client certificate",
            setup: Setup::CaAndClient,
            damage: |env| common::write_secret(&env.path("pass"), "p12\n"),
            args: &[
                "export", "pkcs12", "--name", "bob", "--out", "{root}/bob.p12",
                "--export-passphrase-file", "{root}/pass",
            ],
            phrase: "no active client certificate has the common name \"bob\"",
        },
        Case {
            name: "export pkcs12 over an existing file without --force",
            setup: Setup::CaAndClient,
            damage: |env| {
                common::write_secret(&env.path("pass"), "p12\n");
                fs::write(env.path("alice.p12"), "mine\n").unwrap();
            },
            args: &[
                "export", "pkcs12", "--name", "alice", "--out", "{root}/alice.p12",
                "--export-passphrase-file", "{root}/pass",
            ],
            phrase: "already exists",
        },
        Case {
            name: "export pkcs12 without a passphrase off a terminal",
            setup: Setup::CaAndClient,
            damage: none,
            args: &["export", "pkcs12", "--name", "alice", "--out", "{root}/alice.p12"],
            phrase: "no export passphrase was given; pass --export-passphrase-file FILE",
        },
        Case {
            name: "passphrase file missing",
            setup: Setup::Ca,
            damage: none,
            args: &["--passphrase-file", "{root}/nope", "ca", "encrypt"],
            phrase: "cannot read the passphrase file",
        },
        // --- output locations and the state directory ---
        Case {
            name: "output directory is a file",
            setup: Setup::Ca,
            damage: |env| fs::write(env.path("alice"), "a file\n").unwrap(),
            args: ALICE,
            phrase: "is a file, not a directory",
        },
        Case {
            name: "output directory below a file",
            setup: Setup::Ca,
            damage: |env| fs::write(env.path("f"), "a file\n").unwrap(),
            args: &["issue", "client", "--name", "a", "--out", "{root}/f/alice"],
            phrase: "is a file, not a directory",
        },
        Case {
            name: "output directory writable by everyone",
            setup: Setup::Ca,
            damage: |env| {
                fs::create_dir(env.path("alice")).unwrap();
                common::chmod(&env.path("alice"), 0o777);
            },
            args: ALICE,
            phrase: "writable by group or others",
        },
        Case {
            name: "key file already there",
            setup: Setup::CaAndClient,
            damage: none,
            args: ALICE,
            phrase: "already exists; pass --force",
        },
        Case {
            name: "state directory missing",
            setup: Setup::Nothing,
            damage: none,
            args: ALICE,
            phrase: "no CA in",
        },
        Case {
            name: "state path is a file",
            setup: Setup::Nothing,
            damage: |env| fs::write(env.state(), "not a directory\n").unwrap(),
            args: ALICE,
            phrase: "is not a directory",
        },
        Case {
            name: "inventory is not JSON",
            setup: Setup::CaAndClient,
            damage: |env| overwrite(&env.state().join("inventory.json"), b"{"),
            args: &["issue", "client", "--name", "bob", "--out", "{root}/bob"],
            phrase: "inventory.json.bak",
        },
        Case {
            name: "inventory is empty",
            setup: Setup::CaAndClient,
            damage: |env| overwrite(&env.state().join("inventory.json"), b""),
            args: &["renew", "--all"],
            phrase: "is damaged",
        },
        // --- other commands' inputs ---
        Case {
            name: "inspect of DER garbage",
            setup: Setup::Nothing,
            damage: |env| fs::write(env.path("g.der"), garbage()).unwrap(),
            args: &["inspect", "{root}/g.der"],
            phrase: "neither PEM (no -----BEGIN line) nor a DER certificate or private key",
        },
        Case {
            name: "inspect of a missing file",
            setup: Setup::Nothing,
            damage: none,
            args: &["inspect", "{root}/missing.pem"],
            phrase: "missing.pem",
        },
        Case {
            name: "revoke with a serial that is not hex",
            setup: Setup::CaAndClient,
            damage: none,
            args: &["revoke", "--serial", "zz"],
            phrase: "\"zz\"",
        },
        Case {
            name: "revoke with an unknown reason",
            setup: Setup::CaAndClient,
            damage: none,
            args: &["revoke", "--name", "alice", "--reason", "bogus"],
            phrase: "unknown revocation reason",
        },
        Case {
            name: "renew --within garbage",
            setup: Setup::CaAndClient,
            damage: none,
            args: &["renew", "--within", "soon"],
            phrase: "invalid window \"soon\" for --within: missing number",
        },
        Case {
            name: "status --within negative",
            setup: Setup::CaAndClient,
            damage: none,
            args: &["status", "--within", "-1d"],
            phrase: "invalid window \"-1d\" for --within: it cannot be negative",
        },
        Case {
            name: "verify --within without a unit",
            setup: Setup::CaAndClient,
            damage: none,
            args: &["verify", "--client-dir", "{root}/alice", "--within", "0"],
            phrase: "invalid window \"0\" for --within: a bare number has no unit",
        },
        // --- inspect: standard input ---
        Case {
            name: "inspect naming standard input twice",
            setup: Setup::Nothing,
            damage: none,
            args: &["inspect", "-", "-"],
            phrase: "standard input (-) can be given only once",
        },
        Case {
            name: "inspect of an empty standard input",
            setup: Setup::Nothing,
            damage: none,
            args: &["inspect", "-"],
            phrase: "standard input: expected a PEM certificate or private key: the input is empty",
        },
        // --- env ---
        Case {
            name: "env --unset for a shell dockpki does not know",
            setup: Setup::Nothing,
            damage: none,
            args: &["env", "--unset", "--shell", "tcsh"],
            phrase: "unknown shell \"tcsh\"; give sh (for bash, zsh, dash, ksh too), fish or powershell",
        },
        // --- a layout of one kind where the other is expected ---
        Case {
            name: "issue server into a client layout, even with --force",
            setup: Setup::CaClientAndDaemon,
            damage: none,
            args: &["issue", "server", "--san", "localhost", "--out", "{root}/alice", "--force"],
            phrase: "{root}/alice holds a client layout (cert.pem, key.pem), not a daemon layout (server-cert.pem, server-key.pem); dockpki does not mix the two in one directory; issue the server certificate into the daemon's directory with --out DIR",
        },
        Case {
            name: "issue client into the daemon layout, even with --force",
            setup: Setup::CaClientAndDaemon,
            damage: none,
            args: &["issue", "client", "--name", "bob", "--out", "{root}/daemon", "--force"],
            phrase: "{root}/daemon holds a daemon layout (server-cert.pem, server-key.pem), not a client layout (cert.pem, key.pem); dockpki does not mix the two in one directory; issue the client certificate into a directory of its own with --out DIR",
        },
        Case {
            name: "bootstrap --client-dir naming the daemon layout",
            setup: Setup::CaClientAndDaemon,
            damage: none,
            args: &["bootstrap", "--san", "localhost", "--daemon-dir", "{root}/d2", "--client-dir", "{root}/daemon", "--force"],
            phrase: "holds a daemon layout (server-cert.pem, server-key.pem), not a client layout (cert.pem, key.pem); dockpki does not mix the two in one directory; it is the daemon's: pass it as --daemon-dir {root}/daemon, and give --client-dir a client layout",
        },
        Case {
            name: "bootstrap --daemon-dir naming a client layout",
            setup: Setup::CaClientAndDaemon,
            damage: none,
            args: &["bootstrap", "--san", "localhost", "--daemon-dir", "{root}/alice", "--client-dir", "{root}/c2"],
            phrase: "{root}/alice holds a client layout (cert.pem, key.pem), not a daemon layout (server-cert.pem, server-key.pem); dockpki does not mix the two in one directory; it is a client's: pass it as --client-dir {root}/alice, and give --daemon-dir the daemon's directory",
        },
        Case {
            name: "env --client-dir naming the daemon layout",
            setup: Setup::CaClientAndDaemon,
            damage: none,
            args: &["env", "--host", "tcp://localhost:2376", "--client-dir", "{root}/daemon"],
            phrase: "{root}/daemon holds a daemon layout (server-cert.pem, server-key.pem), not a client layout (cert.pem, key.pem); dockpki does not mix the two in one directory; give --client-dir a client layout (ca.pem, cert.pem, key.pem), e.g. ~/.docker",
        },
        Case {
            name: "probe --client-dir naming the daemon layout",
            setup: Setup::CaClientAndDaemon,
            damage: none,
            args: &["probe", "tcp://127.0.0.1:9", "--client-dir", "{root}/daemon", "--timeout", "1s"],
            phrase: "{root}/daemon holds a daemon layout (server-cert.pem, server-key.pem), not a client layout (cert.pem, key.pem); dockpki does not mix the two in one directory; give --client-dir a client layout",
        },
        Case {
            name: "context create --client-dir naming the daemon layout",
            setup: Setup::CaClientAndDaemon,
            damage: none,
            args: &["context", "create", "remote", "--host", "tcp://localhost:2376", "--client-dir", "{root}/daemon"],
            phrase: "{root}/daemon holds a daemon layout (server-cert.pem, server-key.pem), not a client layout (cert.pem, key.pem); dockpki does not mix the two in one directory; give --client-dir a client layout",
        },
        Case {
            name: "verify --client-dir naming the daemon layout",
            setup: Setup::CaClientAndDaemon,
            damage: none,
            args: &["verify", "--client-dir", "{root}/daemon"],
            phrase: "it is the daemon's: pass it as --daemon-dir {root}/daemon",
        },
        Case {
            name: "verify --daemon-dir naming a client layout",
            setup: Setup::CaClientAndDaemon,
            damage: none,
            args: &["verify", "--daemon-dir", "{root}/alice"],
            phrase: "it is a client's: pass it as --client-dir {root}/alice",
        },
        Case {
            name: "ca rotate begin with a CA shorter than the certificate it must re-issue",
            setup: Setup::CaAndClient,
            damage: none,
            // alice's client certificate is valid 90 days.
            args: &["ca", "rotate", "begin", "--validity", "30d"],
            phrase: "the new CA needs a validity of at least 91d (that plus a day for the restarts in between); pass --validity 91d or longer",
        },
        Case {
            name: "ca rotate begin with a CA valid an hour",
            setup: Setup::CaAndClient,
            damage: none,
            args: &["ca", "rotate", "begin", "--validity", "1h"],
            phrase: "a new CA valid 1h could not re-issue the certificates it replaces: client \"alice\"",
        },
        Case {
            name: "ca rotate abort with no rotation in progress",
            setup: Setup::CaAndClient,
            damage: none,
            args: &["ca", "rotate", "abort"],
            phrase: "no CA rotation in progress in {root}/state, nothing to abort; start one with `dockpki --state {root}/state ca rotate begin`",
        },
        // --- docker contexts ---
        Case {
            name: "context rm of a context that does not exist",
            setup: Setup::Ca,
            damage: none,
            args: &["context", "rm", "nope"],
            phrase: "there is no docker context \"nope\"",
        },
        Case {
            name: "context rm of a name docker would refuse",
            setup: Setup::Ca,
            damage: none,
            args: &["context", "rm", "../x"],
            phrase: "is not a valid docker context name",
        },
        // --- systemd-dropin ---
        Case {
            name: "systemd-dropin for a misspelt unit",
            setup: Setup::Nothing,
            damage: units_dir,
            args: &["systemd-dropin", "--unit", "dokcer.service", "--out", "{root}/dropin.conf"],
            phrase: "no unit \"dokcer.service\" in ",
        },
        Case {
            name: "systemd-dropin for a unit file that does not exist",
            setup: Setup::Nothing,
            damage: none,
            args: &["systemd-dropin", "--unit", "{root}/nowhere/docker.service", "--out", "{root}/dropin.conf"],
            phrase: "{root}/nowhere/docker.service",
        },
        Case {
            name: "systemd-dropin for a unit file without ExecStart",
            setup: Setup::Nothing,
            damage: units_dir,
            args: &["systemd-dropin", "--unit", "{root}/units/other.service", "--out", "{root}/dropin.conf"],
            phrase: "other.service sets no ExecStart",
        },
        Case {
            name: "systemd-dropin for a path whose file name is no unit",
            setup: Setup::Nothing,
            damage: none,
            args: &["systemd-dropin", "--unit", "{root}/units/docker", "--out", "{root}/dropin.conf"],
            phrase: "is not a unit file's path",
        },
        Case {
            name: "--color with a value other than auto, always or never",
            setup: Setup::CaAndClient,
            damage: none,
            args: &["--color", "yes", "status"],
            phrase: "invalid --color \"yes\": give auto, always or never",
        },
        // --- audit ---
        Case {
            name: "audit of a tree that does not exist",
            setup: Setup::Nothing,
            damage: none,
            args: &["audit", "--root", "{root}/nowhere"],
            phrase: "cannot open {root}/nowhere",
        },
        Case {
            name: "audit of a tree named through ..",
            setup: Setup::Nothing,
            damage: none,
            args: &["audit", "--root", "{root}/home/../nowhere"],
            phrase: "contains '..'",
        },
        Case {
            name: "audit --socket without unix://",
            setup: Setup::Nothing,
            damage: none,
            args: &["audit", "--socket", "/var/run/docker.sock"],
            phrase: "is not a unix socket address with an absolute path; give unix:///PATH",
        },
        Case {
            name: "audit --host without --client-dir",
            setup: Setup::Nothing,
            damage: none,
            args: &["audit", "--host", "tcp://127.0.0.1:2376"],
            phrase: "--host needs --client-dir DIR",
        },
        Case {
            name: "audit --host that is not a TCP address",
            setup: Setup::Nothing,
            damage: none,
            args: &["audit", "--host", "unix:///var/run/docker.sock", "--client-dir", "{root}/alice"],
            phrase: "uses unix://",
        },
        Case {
            name: "audit --min-severity that is no severity",
            setup: Setup::Nothing,
            damage: none,
            args: &["audit", "--root", "{root}", "--min-severity", "severe"],
            phrase: "invalid --min-severity \"severe\": give info, low, medium, high or critical",
        },
        Case {
            name: "audit --daemon-config relative with --root",
            setup: Setup::Nothing,
            damage: none,
            args: &["audit", "--root", "{root}", "--daemon-config", "etc/docker/daemon.json"],
            phrase: "is relative; with --root give its path inside the tree",
        },
        // --- request / sign / install ---
        Case {
            name: "sign a certificate instead of a request",
            setup: Setup::CaAndClient,
            damage: none,
            args: &["sign", "{root}/alice/cert.pem", "--out", "{root}/out"],
            phrase: "holds no `-----BEGIN CERTIFICATE REQUEST-----` block",
        },
        Case {
            name: "sign a missing request",
            setup: Setup::Ca,
            damage: none,
            args: &["sign", "{root}/nope.csr", "--out", "{root}/out"],
            phrase: "cannot read {root}/nope.csr",
        },
        Case {
            name: "sign a request made of garbage",
            setup: Setup::Ca,
            damage: |env| fs::write(env.path("junk.csr"), garbage()).unwrap(),
            args: &["sign", "{root}/junk.csr", "--out", "{root}/out"],
            phrase: "certificate signing request refused",
        },
        Case {
            name: "install from a directory without a signed certificate",
            setup: Setup::CaAndClient,
            damage: none,
            args: &["install", "--from", "{root}/home", "--dir", "{root}/alice"],
            phrase: "holds neither server-cert.pem nor cert.pem",
        },
        Case {
            name: "request for a damaged key",
            setup: Setup::CaAndClient,
            damage: |env| overwrite(&env.path("alice/key.pem"), &garbage()),
            args: &["request", "client", "--name", "alice", "--dir", "{root}/alice"],
            phrase: "pass --new-key",
        },
        Case {
            name: "request with an invalid SAN",
            setup: Setup::Nothing,
            damage: none,
            args: &["request", "server", "--san", "a..b.com", "--dir", "{root}/daemon"],
            phrase: "empty label",
        },
        Case {
            name: "audit --daemon-config missing from the tree",
            setup: Setup::Nothing,
            damage: none,
            args: &["audit", "--root", "{root}", "--daemon-config", "/etc/docker/daemon.json"],
            phrase: "{root}/etc/docker/daemon.json does not exist",
        },
        // --- plan and apply (dockpki.toml) ---
        Case {
            name: "plan without -c and without a configuration file",
            setup: Setup::Ca,
            damage: none,
            args: &["plan"],
            phrase: "no configuration file: neither {root}/dockpki.toml nor {root}/home/.config/dockpki/config.toml exists; write one (docs/config.md, examples/dockpki.toml) or name it with -c FILE",
        },
        Case {
            name: "apply -c naming a file that does not exist",
            setup: Setup::Ca,
            damage: none,
            args: &["apply", "-c", "{root}/missing.toml", "--yes"],
            phrase: "{root}/missing.toml",
        },
        Case {
            name: "plan of a malformed configuration (an unknown key)",
            setup: Setup::CaAndClient,
            damage: config_unknown_key,
            args: &["plan", "-c", "{root}/dockpki.toml"],
            phrase: "{root}/dockpki.toml:2:1: ",
        },
        Case {
            name: "apply --yes of a configuration with a relative install path",
            setup: Setup::Nothing,
            damage: config_relative_install,
            args: &["apply", "--yes"],
            phrase: "{root}/dockpki.toml:4:11: ",
        },
        Case {
            name: "apply without a terminal and without --yes",
            setup: Setup::Ca,
            damage: config_one_client,
            args: &["apply", "-c", "{root}/dockpki.toml"],
            phrase: "standard input or standard error is not a terminal; review the plan with `dockpki --state {root}/state plan -c {root}/dockpki.toml`, then pass --yes: `dockpki --state {root}/state apply -c {root}/dockpki.toml --yes`",
        },
    ]
}

/// `root/dockpki.toml` with a misspelt key in `[ca]`.
fn config_unknown_key(env: &Env) {
    fs::write(env.path("dockpki.toml"), "[ca]\nvalidty = \"10y\"\n").unwrap();
}

/// `root/dockpki.toml` whose client installs into a relative directory.
fn config_relative_install(env: &Env) {
    fs::write(
        env.path("dockpki.toml"),
        "[ca]\n[[client]]\nname = \"a\"\ninstall = \"relative/dir\"\n",
    )
    .unwrap();
}

/// `root/dockpki.toml` declaring one client in `root/bob`.
fn config_one_client(env: &Env) {
    fs::write(
        env.path("dockpki.toml"),
        format!(
            "[ca]\n[[client]]\nname = \"bob\"\ninstall = \"{}\"\n",
            s(&env.path("bob"))
        ),
    )
    .unwrap();
}

#[test]
fn every_bad_input_in_the_catalogue_is_refused_with_one_line_and_nothing_written() {
    let cases = catalogue();
    assert!(cases.len() >= 40, "the catalogue shrank to {}", cases.len());
    for case in &cases {
        let env = Env::new();
        match case.setup {
            Setup::Nothing => {}
            Setup::Ca => {
                env.ca_init(&[]);
            }
            Setup::CaAndClient => {
                env.ca_init(&[]);
                env.issue_client("alice", &env.path("alice"), &[]);
            }
            Setup::CaClientAndDaemon => {
                env.ca_init(&[]);
                env.issue_client("alice", &env.path("alice"), &[]);
                env.issue_server(&["localhost"], &env.path("daemon"), &[]);
            }
        }
        (case.damage)(&env);
        let root = s(env.root()).to_string();
        let args: Vec<String> = case
            .args
            .iter()
            .map(|a| a.replace("{root}", &root))
            .collect();
        let phrase = case.phrase.replace("{root}", &root);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            env.assert_refused(&args, &phrase)
        }));
        if let Err(e) = result {
            panic!(
                "case {:?} ({:?}) failed: {:?}",
                case.name,
                case.args,
                e.downcast_ref::<String>()
            );
        }
    }
}

#[test]
fn trailing_dots_are_accepted_and_normalised_and_duplicate_sans_collapse() {
    let env = Env::new();
    env.ca_init(&[]);
    let out = env.path("daemon");
    env.issue_server(
        &[
            "docker.example.com.",
            "DOCKER.example.com",
            "docker.example.com",
            "192.0.2.10",
            "192.0.2.10",
        ],
        &out,
        &[],
    );
    let cert = env.inspect_cert(&out.join("server-cert.pem"));
    assert_eq!(
        cert["dns_names"],
        serde_json::json!(["docker.example.com"]),
        "trailing dot and case normalised, duplicates dropped: {cert}"
    );
    assert_eq!(
        cert["ip_addresses"],
        serde_json::json!(["192.0.2.10"]),
        "{cert}"
    );
    common::assert_openssl_accepts(
        &out.join("ca.pem"),
        &out.join("server-cert.pem"),
        "sslserver",
    );
}

/// A full disk (a 16 KiB tmpfs, as root) is a one-line error naming the disk, and leaves
/// neither a half-written key nor the directories created for it. Without root (mount
/// impossible) it skips loudly.
#[test]
fn a_full_disk_is_a_clear_error_leaving_nothing_half_written() {
    let env = Env::new();
    env.ca_init(&[]);
    let disk = env.path("small");
    fs::create_dir(&disk).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16k,mode=0755", "tmpfs", s(&disk)])
        .status()
        .map(|st| st.success())
        .unwrap_or(false);
    if !common::prerequisite(mounted, "root to mount a tmpfs (full-disk test)") {
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(&disk);
    // Fill all but one page: the first file fits, the next ones do not.
    let filler = disk.join("filler");
    let _ = fs::write(&filler, vec![0u8; 12 * 1024]);
    let out = disk.join("alice");
    env.assert_refused(
        &["issue", "client", "--name", "alice", "--out", s(&out)],
        "No space left on device",
    );
    assert!(
        !out.exists(),
        "a directory created for the failed write was left behind"
    );
    let line = env.assert_refused(
        &["issue", "client", "--name", "alice", "--out", s(&out)],
        "free some disk space",
    );
    assert!(line.contains(s(&out)), "{line}");
}
