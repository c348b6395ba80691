//! The format's tests: the example files parse into what they say, inheritance picks the
//! nearest value, and each malformed file is refused with its one-line `FILE:LINE:COL` error.

use std::path::{Path, PathBuf};

use dockpki::{KeyType, Lifetime};
use time::Duration;

use super::*;

/// Users known to the tests: `ci` (1001) and `deploy` (1002), whatever the host has.
fn users(name: &str) -> Result<Option<Owner>> {
    Ok(match name {
        "ci" => Some(Owner {
            uid: 1001,
            gid: 1001,
        }),
        "deploy" => Some(Owner {
            uid: 1002,
            gid: 1002,
        }),
        _ => None,
    })
}

fn parse_str(text: &str) -> Result<Desired> {
    parse(Path::new("dockpki.toml"), text, &users)
}

/// The error `text` is refused with.
fn refused(text: &str) -> String {
    match parse_str(text) {
        Ok(d) => panic!("accepted: {d:?}"),
        Err(e) => {
            let message = e.to_string();
            assert!(!message.contains('\n'), "not one line: {message}");
            message
        }
    }
}

fn days(n: u32) -> Lifetime {
    Lifetime::days(n).unwrap()
}

const MINIMAL: &str = "[ca]\n";

/// The issue's example, as written there.
const ISSUE_EXAMPLE: &str = r#"
[ca]
name = "acme docker CA"
key_type = "ecdsa-p256"
validity = "10y"
permit_dns = ["docker.acme.internal"]

[defaults]
server_validity = "1y"
client_validity = "90d"
renew_before = "30d"        # or a fraction of the lifetime — the same rule `renew` uses

[[server]]
name = "build-1"
sans = ["build-1.docker.acme.internal", "10.0.0.5"]
install = "/etc/docker/pki"

[[client]]
name = "ci"
install = "/home/ci/.docker"
owner = "ci"
validity = "30d"
context = { name = "build-1", host = "tcp://build-1.docker.acme.internal:2376" }
"#;

#[test]
fn the_issues_example_parses_into_what_it_says() {
    let d = parse_str(ISSUE_EXAMPLE).unwrap();
    assert_eq!(d.ca.name.as_ref().unwrap().as_str(), "acme docker CA");
    assert_eq!(d.ca.key_type, KeyType::EcdsaP256);
    assert_eq!(d.ca.validity, days(3650));
    assert_eq!(d.ca.name_constraints.permitted_dns.len(), 1);
    assert_eq!(d.removed, Removed::Revoke);
    let [s] = d.servers.as_slice() else { panic!() };
    assert_eq!(s.name.as_str(), "build-1");
    assert_eq!(s.sans.to_string(), "build-1.docker.acme.internal, 10.0.0.5",);
    assert_eq!(s.install, PathBuf::from("/etc/docker/pki"));
    assert_eq!(s.validity, days(365));
    assert_eq!(s.renew_before, RenewalWindow::Within(Duration::days(30)));
    assert_eq!(s.daemon_config, None);
    let [c] = d.clients.as_slice() else { panic!() };
    assert_eq!(c.validity, days(30));
    assert_eq!(
        c.owner,
        Some(ClientOwner {
            user: "ci".into(),
            owner: Owner {
                uid: 1001,
                gid: 1001
            }
        })
    );
    let ctx = c.context.as_ref().unwrap();
    assert_eq!(ctx.name, "build-1");
    assert_eq!(
        ctx.host.to_string(),
        "tcp://build-1.docker.acme.internal:2376"
    );
}

#[test]
fn the_example_file_in_examples_parses_with_every_field() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/dockpki.toml");
    let d = load(&path, &users).unwrap();
    assert_eq!(d.ca.name_constraints.permitted_ips.len(), 1);
    assert_eq!(d.removed, Removed::Revoke);
    let [b1, b2] = d.servers.as_slice() else {
        panic!()
    };
    let dc = b1.daemon_config.as_ref().unwrap();
    assert_eq!(dc.file, PathBuf::from("/etc/docker/daemon.json"));
    assert_eq!(dc.hardening, Hardening::On);
    assert_eq!(
        dc.listen,
        ["unix:///var/run/docker.sock", "tcp://10.0.0.5:2376"]
            .map(|a| Listen::parse(a).unwrap())
            .to_vec()
    );
    assert_eq!(b2.profile.as_deref(), Some("rsa"));
    assert_eq!(b2.key_type, KeyType::Rsa3072);
    assert_eq!(b2.validity, days(180));
    let [ci, bot] = d.clients.as_slice() else {
        panic!()
    };
    assert_eq!(ci.owner.as_ref().unwrap().owner.uid, 1001);
    assert_eq!(
        bot.key_type,
        KeyType::Ed25519,
        "the entry's own key type wins"
    );
    assert_eq!(bot.validity, days(7), "the profile's validity");
    assert_eq!(
        bot.renew_before,
        RenewalWindow::Relative,
        "the profile's window"
    );
    assert_eq!(bot.owner, None);
    assert_eq!(bot.context, None);
}

#[test]
fn a_minimal_file_takes_the_commands_defaults() {
    let d = parse_str(MINIMAL).unwrap();
    assert_eq!(d.ca.name, None);
    assert_eq!(d.ca.key_type, KeyType::EcdsaP256);
    assert_eq!(d.ca.validity, days(3650));
    assert!(d.ca.name_constraints.is_empty());
    assert!(d.servers.is_empty() && d.clients.is_empty());
    let d = parse_str(
        "[ca]\n[[server]]\nname = \"s\"\nsans = [\"s.example\"]\ninstall = \"/s\"\n\
         daemon_config = { file = \"/etc/docker/daemon.json\" }\n\
         [[client]]\nname = \"c\"\ninstall = \"/c\"\n",
    )
    .unwrap();
    let (s, c) = (&d.servers[0], &d.clients[0]);
    assert_eq!((s.key_type, s.validity), (KeyType::EcdsaP256, days(365)));
    assert_eq!((c.key_type, c.validity), (KeyType::EcdsaP256, days(90)));
    assert_eq!(s.renew_before, RenewalWindow::Relative);
    assert_eq!(c.renew_before, RenewalWindow::Relative);
    assert_eq!(s.daemon_config.as_ref().unwrap().hardening, Hardening::Off);
    // Left out, listen is what `dockpki daemon-config` listens on by default.
    assert_eq!(
        s.daemon_config.as_ref().unwrap().listen,
        DaemonConfigSpec::default_listen()
    );
    assert_eq!(DaemonConfigSpec::default_listen().len(), 2);
}

#[test]
fn an_entry_inherits_from_its_profile_then_the_defaults_nearest_first() {
    let d = parse_str(
        r#"
[ca]
[defaults]
key_type = "ecdsa-p384"
server_validity = "200d"
client_validity = "20d"
renew_before = "10d"
[profiles.p]
validity = "50d"
[profiles.q]
key_type = "rsa-2048"
renew_before = "0d"
[[server]]
name = "plain"
sans = ["plain.example"]
install = "/srv/plain"
[[server]]
name = "profiled"
sans = ["profiled.example"]
install = "/srv/profiled"
profile = "p"
[[server]]
name = "own"
sans = ["own.example"]
install = "/srv/own"
profile = "p"
validity = "60d"
renew_before = "relative"
[[client]]
name = "plain"
install = "/home/plain"
[[client]]
name = "q"
install = "/home/q"
profile = "q"
"#,
    )
    .unwrap();
    let s: Vec<_> = d
        .servers
        .iter()
        .map(|s| (s.key_type, s.validity, s.renew_before))
        .collect();
    let ten = RenewalWindow::Within(Duration::days(10));
    assert_eq!(
        s,
        [
            (KeyType::EcdsaP384, days(200), ten),
            (KeyType::EcdsaP384, days(50), ten),
            (KeyType::EcdsaP384, days(60), RenewalWindow::Relative),
        ]
    );
    let c: Vec<_> = d
        .clients
        .iter()
        .map(|c| (c.key_type, c.validity, c.renew_before))
        .collect();
    assert_eq!(
        c,
        [
            (KeyType::EcdsaP384, days(20), ten),
            (
                KeyType::Rsa2048,
                days(20),
                RenewalWindow::Within(Duration::ZERO)
            ),
        ]
    );
}

#[test]
fn the_removed_policy_is_read_and_repeated_sans_are_dropped() {
    let d = parse_str("[ca]\n[policy]\nremoved = \"revoke-and-remove\"\n").unwrap();
    assert_eq!(d.removed, Removed::RevokeAndRemove);
    let d = parse_str(
        "[ca]\n[[server]]\nname = \"s\"\nsans = [\"a.example\", \"a.example\"]\ninstall = \"/etc/docker/pki/\"\n",
    )
    .unwrap();
    assert_eq!(d.servers[0].sans.as_slice().len(), 1);
    assert_eq!(d.servers[0].install, PathBuf::from("/etc/docker/pki"));
}

#[test]
fn the_system_resolver_finds_root_and_not_a_made_up_user() {
    assert_eq!(system_user("root").unwrap(), Some(Owner { uid: 0, gid: 0 }));
    assert_eq!(system_user("dockpki-no-such-user-x9").unwrap(), None);
}

#[test]
fn a_file_that_is_not_utf8_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dockpki.toml");
    std::fs::write(&path, b"[ca]\nname = \"\xff\"\n").unwrap();
    let e = load(&path, &NoUsers).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}: not UTF-8 text (byte 13); save the file as UTF-8",
            path.display()
        )
    );
}

const SERVER: &str = "[[server]]\nname = \"s\"\nsans = [\"s.example\"]\ninstall = \"/srv/s\"\n";

/// Malformed files, each with the exact error it must get.
fn malformed() -> Vec<(String, &'static str)> {
    let with_server = |extra: &str| format!("[ca]\n{SERVER}{extra}");
    vec![
        ("[ca\n".into(), "dockpki.toml:1:4: unclosed table, expected `]` (docs/config.md describes every table and key)"),
        ("[ca]\nnmae = \"x\"\n".into(), "dockpki.toml:2:1: unknown field `nmae`, expected one of `name`, `key_type`, `validity`, `permit_dns`, `permit_ip` (docs/config.md describes every table and key)"),
        ("[defaults]\nserver_validity = \"1y\"\n".into(), "dockpki.toml:1:1: missing field `ca` (docs/config.md describes every table and key)"),
        ("[ca]\nvalidity = 10\n".into(), "dockpki.toml:2:12: invalid type: integer `10`, expected a string (docs/config.md describes every table and key)"),
        ("[ca]\nkey_type = \"dsa\"\n".into(), "dockpki.toml:2:12: [ca] key_type: unknown key type \"dsa\": use one of ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096"),
        ("[ca]\nvalidity = \"3mo\"\n".into(), "dockpki.toml:2:12: [ca] validity: invalid validity \"3mo\": there is no month unit (m is minutes; a month is about 30d); use a positive number with a unit h, d, w or y, e.g. 90d or 1y"),
        ("[ca]\npermit_dns = [\"-bad-.example\"]\n".into(), "dockpki.toml:2:15: [ca] permit_dns: invalid name constraint \"-bad-.example\": label \"-bad-\" starts or ends with '-'; give a DNS domain such as docker.example.com"),
        ("[ca]\n[defaults]\nclient_validity = \"90\"\n".into(), "dockpki.toml:3:19: [defaults] client_validity: invalid validity \"90\": a bare number has no unit; use a positive number with a unit h, d, w or y, e.g. 90d or 1y"),
        ("[ca]\n[defaults]\nrenew_before = \"soon\"\n".into(), "dockpki.toml:3:16: [defaults] renew_before \"soon\": missing number; give \"relative\" (30d or a third of the lifetime, whichever is less) or a duration such as 30d"),
        ("[ca]\n[policy]\nremoved = \"delete\"\n".into(), "dockpki.toml:3:11: [policy] removed \"delete\" is not a policy; use \"revoke\" (files left in place) or \"revoke-and-remove\""),
        ("[ca]\n[[server]]\nname = \"s\"\ninstall = \"/srv/s\"\n".into(), "dockpki.toml:2:1: missing field `sans` (docs/config.md describes every table and key)"),
        ("[ca]\n[[server]]\nname = \"\"\nsans = [\"s.example\"]\ninstall = \"/srv/s\"\n".into(), "dockpki.toml:3:8: [[server]] name: invalid common name \"\": it is empty; give a name such as the user or machine the certificate is for"),
        ("[ca]\n[[server]]\nname = \"s\"\nsans = []\ninstall = \"/srv/s\"\n".into(), "dockpki.toml:4:8: [[server]] \"s\" sans is empty; give every DNS name and IP address clients dial, e.g. sans = [\"docker.example.com\", \"192.0.2.10\"]"),
        ("[ca]\n[[server]]\nname = \"s\"\nsans = [\"s.example\", \"not a name\"]\ninstall = \"/srv/s\"\n".into(), "dockpki.toml:4:22: [[server]] \"s\" sans: invalid SAN \"not a name\": character ' ' is not allowed in DNS names (letters, digits and '-' only); give a DNS name (e.g. docker.example.com), an IPv4 or an IPv6 address"),
        ("[ca]\npermit_dns = [\"docker.acme.internal\"]\n[[server]]\nname = \"s\"\nsans = [\"s.example\"]\ninstall = \"/srv/s\"\n".into(), "dockpki.toml:5:9: [[server]] \"s\" sans: s.example is outside the names [ca] permits (permit_dns, permit_ip), so no client would accept it; remove it or widen the CA's constraints"),
        ("[ca]\n[[server]]\nname = \"s\"\nsans = [\"s.example\"]\ninstall = \"pki\"\n".into(), "dockpki.toml:5:11: [[server]] \"s\" install: the path pki is not absolute; give it from / (dockpki records paths, which must name the same place for every later run)"),
        ("[ca]\n[[server]]\nname = \"s\"\nsans = [\"s.example\"]\ninstall = \"/srv/../etc\"\n".into(), "dockpki.toml:5:11: [[server]] \"s\" install: the path /srv/../etc contains '..'; give it without (e.g. the directory it leads to)"),
        (with_server(SERVER), "dockpki.toml:7:8: the [[server]] name \"s\" is given twice; each must be unique, so rename or remove one"),
        (with_server("[[client]]\nname = \"c\"\ninstall = \"/srv/s/\"\n"), "dockpki.toml:8:11: the install directory \"/srv/s\" is given twice; each must be unique, so rename or remove one"),
        (with_server("profile = \"fast\"\n"), "dockpki.toml:6:11: [[server]] \"s\" refers to the profile \"fast\", which is not defined; the file defines none; add a [profiles.NAME] table"),
        ("[ca]\n[profiles.fast]\nvalidity = \"1d\"\n[[client]]\nname = \"c\"\ninstall = \"/c\"\nprofile = \"slow\"\n".into(), "dockpki.toml:7:11: [[client]] \"c\" refers to the profile \"slow\", which is not defined; define it as [profiles.slow] or use one of: fast"),
        ("[ca]\n[profiles.fast]\nvalidty = \"1d\"\n".into(), "dockpki.toml:3:1: unknown field `validty`, expected one of `key_type`, `validity`, `renew_before` (docs/config.md describes every table and key)"),
        (with_server("daemon_config = { file = \"daemon.json\" }\n"), "dockpki.toml:6:26: [[server]] \"s\" daemon_config file: the path daemon.json is not absolute; give it from / (dockpki records paths, which must name the same place for every later run)"),
        (with_server("daemon_config = { file = \"/etc/docker/daemon.json\", harden = \"yes\" }\n"), "dockpki.toml:6:62: invalid type: string \"yes\", expected a boolean (docs/config.md describes every table and key)"),
        (with_server("daemon_config = { file = \"/etc/docker/daemon.json\", listen = [] }\n"), "dockpki.toml:6:62: [[server]] \"s\" daemon_config listen is empty; list the addresses dockerd listens on, e.g. [\"unix:///var/run/docker.sock\", \"tcp://0.0.0.0:2376\"], or leave the key out for those two"),
        (with_server("daemon_config = { file = \"/etc/docker/daemon.json\", listen = [\"tcp://0.0.0.0:2375\"] }\n"), "dockpki.toml:6:63: [[server]] \"s\" daemon_config listen: refusing listen address \"tcp://0.0.0.0:2375\": port 2375 is Docker's plain-TCP port, and plain TCP makes anyone who connects root on this host; use 2376 (TLS)"),
        (with_server("daemon_config = { file = \"/etc/docker/daemon.json\", listen = [\"tcp://127.0.0.1:2376\", \"tcp://127.0.0.1:2376\"] }\n"), "dockpki.toml:6:87: [[server]] \"s\" daemon_config listen: \"tcp://127.0.0.1:2376\" is listed twice; list each address once"),
        ("[ca]\n[[client]]\nname = \"c\"\ninstall = \"/c\"\nowner = \"nobody-here\"\n".into(), "dockpki.toml:5:9: [[client]] \"c\" owner: there is no user \"nobody-here\" on this host; create the user or name an existing one"),
        ("[ca]\n[[client]]\nname = \"c\"\ninstall = \"/c\"\ncontext = { name = \"default\", host = \"tcp://h:2376\" }\n".into(), "dockpki.toml:5:20: [[client]] \"c\" context name: \"default\" is reserved by docker for the context made from DOCKER_HOST; choose another name"),
        ("[ca]\n[[client]]\nname = \"c\"\ninstall = \"/c\"\ncontext = { name = \"ctx\", host = \"unix:///var/run/docker.sock\" }\n".into(), "dockpki.toml:5:34: [[client]] \"c\" context host: the daemon address \"unix:///var/run/docker.sock\" uses unix://, but dockpki's certificates protect a daemon over TCP; give tcp://HOST:PORT, e.g. tcp://docker.example.com:2376 (IPv6: tcp://[2001:db8::1]:2376)"),
        ("[ca]\n[[client]]\nname = \"c\"\ninstall = \"/c\"\ncontext = { name = \"ctx\", host = \"h\", port = 1 }\n".into(), "dockpki.toml:5:39: unknown field `port`, expected `name` or `host` (docs/config.md describes every table and key)"),
        ("[ca]\n[[client]]\nname = \"c\"\ninstall = \"/c\"\ncontext = { name = \"ctx\", host = \"h\" }\n[[client]]\nname = \"d\"\ninstall = \"/d\"\ncontext = { name = \"ctx\", host = \"h\" }\n".into(), "dockpki.toml:9:20: the context name \"ctx\" is given twice; each must be unique, so rename or remove one"),
        ("[ca]\nvalidity = \"1y\"\n[[client]]\nname = \"c\"\ninstall = \"/c\"\nvalidity = \"2y\"\n".into(), "dockpki.toml:6:12: [[client]] \"c\" validity 2y is longer than the CA's 1y, which a certificate cannot outlive; shorten it or lengthen [ca] validity"),
        ("[ca]\n[[client]]\nname = \"c\"\ninstall = \"/c\"\n[[client]]\nname = \"c\"\ninstall = \"/d\"\n".into(), "dockpki.toml:6:8: the [[client]] name \"c\" is given twice; each must be unique, so rename or remove one"),
        ("[ca]\n[[sever]]\nname = \"s\"\n".into(), "dockpki.toml:2:3: unknown field `sever`, expected one of `ca`, `defaults`, `profiles`, `policy`, `server`, `client` (docs/config.md describes every table and key)"),
    ]
}

#[test]
fn each_malformed_file_is_refused_with_its_exact_line_column_and_fix() {
    let cases = malformed();
    assert!(cases.len() >= 15);
    let mut wrong = Vec::new();
    for (text, error) in &cases {
        let got = refused(text);
        if got != *error {
            wrong.push(format!("{text:?}\n  expected {error}\n  got      {got}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A private directory (mode 0700) holding a valid `dockpki.toml`, and the file's path.
fn private_config() -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let path = dir.path().join("dockpki.toml");
    std::fs::write(&path, "[ca]\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    (dir, path)
}

/// `load`'s error for `path`, checked to be one line naming `path`, and the file unchanged.
fn untrusted(path: &Path) -> String {
    let before = std::fs::symlink_metadata(path).unwrap();
    let e = load(path, &NoUsers).unwrap_err().to_string();
    assert!(!e.contains('\n'), "{e}");
    assert!(e.contains(&path.display().to_string()), "{e}");
    let after = std::fs::symlink_metadata(path).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        (before.mode(), before.uid(), before.mtime()),
        (after.mode(), after.uid(), after.mtime())
    );
    e
}

#[test]
fn a_private_config_of_the_running_user_is_read() {
    let (_dir, path) = private_config();
    load(&path, &NoUsers).unwrap();
}

#[test]
fn a_config_owned_by_another_user_is_refused_naming_its_owner_and_chown() {
    if !crate::test_support::root_or_skip() {
        return;
    }
    let (_dir, path) = private_config();
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    let e = untrusted(&path);
    assert!(
        e.contains("owned by uid 65534, not by root or you") && e.contains("chown"),
        "{e}"
    );
}

#[test]
fn a_group_writable_config_is_refused_naming_chmod() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, path) = private_config();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o664)).unwrap();
    let e = untrusted(&path);
    assert!(
        e.contains("writable by group or others (mode 0664)") && e.contains("chmod go-w"),
        "{e}"
    );
}

#[test]
fn a_config_in_a_world_writable_directory_is_refused_even_sticky() {
    use std::os::unix::fs::PermissionsExt;
    for mode in [0o777, 0o1777] {
        let (dir, path) = private_config();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        let e = untrusted(&path);
        assert!(
            e.contains(&format!(
                "its directory {} is writable by group or others (mode {mode:04o})",
                dir.path().display()
            )) && e.contains("move the file"),
            "{e}"
        );
    }
}

#[test]
fn a_symlinked_config_is_refused_naming_the_real_path() {
    let (dir, path) = private_config();
    let link = dir.path().join("link.toml");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let e = untrusted(&link);
    assert!(
        e.contains("it is a symlink; give the real path with -c")
            && e.contains(&path.display().to_string()),
        "{e}"
    );
}
