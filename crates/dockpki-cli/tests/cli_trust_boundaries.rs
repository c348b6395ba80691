//! The trust boundaries of docs/threat-model.md, attacked the way a local user who can write
//! somewhere dockpki reads would: planted journals, hostile files where dockpki reads, targets
//! that are not regular files or not dockpki's, and staged files a killed run left behind.
//!
//! Every refusal is asserted the same way: exit 1, exactly one `error:` line naming the problem,
//! and not a single change to the sandbox nor to the victim directory outside it that the attack
//! aimed at (contents, modes, owners, inodes, device types). Commands that must not hang run
//! under a hard timeout, so a FIFO that blocks or a device that never ends fails the test
//! instead of stalling it.

mod common;

use std::fs;
use std::os::unix::fs::{lchown, symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{assert_error_line, assert_unchanged, require_root, s, snapshot, Env};
use tempfile::TempDir;

/// Longer than any of these commands takes, far shorter than "forever".
const BOUND: Duration = Duration::from_secs(30);
const NOBODY: u32 = 65534;

/// A bootstrapped sandbox and, outside it, a directory holding a file the attacker wants gone
/// or replaced.
struct Scene {
    env: Env,
    daemon: PathBuf,
    client: PathBuf,
    victim_dir: TempDir,
}

impl Scene {
    fn new() -> Scene {
        let env = Env::new();
        let (daemon, client) = (env.path("daemon"), env.path("client"));
        env.bootstrap(&daemon, &client, &[]);
        let victim_dir = tempfile::tempdir().unwrap();
        fs::write(victim_dir.path().join("victim"), "precious\n").unwrap();
        Scene {
            env,
            daemon,
            client,
            victim_dir,
        }
    }

    fn victim(&self) -> PathBuf {
        self.victim_dir.path().join("victim")
    }

    fn journal(&self) -> PathBuf {
        self.env.state().join("journal.json")
    }

    /// Writes `path` (mode 0600) holding the attacker's payload, as dockpki stages files.
    fn payload(&self, path: &Path) {
        fs::write(path, "attacker's payload\n").unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
    }

    /// Writes the state's journal (mode 0600) with one move.
    fn plant(&self, temp: &str, target: &str, backup: serde_json::Value) {
        plant_journal(&self.journal(), temp, target, backup);
    }

    /// Runs `args` under [`BOUND`] and asserts a refusal naming `phrase` that changed nothing,
    /// neither in the sandbox nor in the victim's directory.
    fn assert_refused(&self, args: &[&str], phrase: &str) -> String {
        let (sandbox, victims) = (snapshot(self.env.root()), snapshot(self.victim_dir.path()));
        let mut cmd = self.env.cmd();
        cmd.args(args).timeout(BOUND);
        let out = cmd.output().unwrap();
        let line = assert_error_line(&out, phrase);
        assert!(
            out.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert_unchanged(&sandbox, &snapshot(self.env.root()), "the refused command");
        assert_unchanged(
            &victims,
            &snapshot(self.victim_dir.path()),
            "the refused command (outside the sandbox)",
        );
        line
    }
}

fn plant_journal(path: &Path, temp: &str, target: &str, backup: serde_json::Value) {
    let journal = serde_json::json!({
        "version": 1,
        "moves": [{ "temp": temp, "target": target, "backup": backup }],
    });
    fs::write(path, serde_json::to_vec_pretty(&journal).unwrap()).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

fn staged_name(target: &str) -> String {
    format!(".{target}.dockpki-1-1f.tmp")
}

fn mkfifo(path: &Path) {
    let st = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success());
}

/// One planted journal per row: what it does, how it is built, the phrase of the refusal.
struct Attack {
    name: &'static str,
    plant: fn(&Scene),
    phrase: &'static str,
}

#[test]
fn a_planted_state_journal_is_refused_before_it_moves_anything() {
    let attacks = [
        Attack {
            name: "target outside the state and every recorded layout",
            plant: |sc| {
                let temp = sc.env.state().join(staged_name("victim"));
                sc.payload(&temp);
                sc.plant(s(&temp), s(&sc.victim()), serde_json::Value::Null);
            },
            phrase: "outside the state directory and every layout",
        },
        Attack {
            name: "payload staged next to the victim",
            plant: |sc| {
                let temp = sc.victim_dir.path().join(staged_name("victim"));
                sc.payload(&temp);
                sc.plant(s(&temp), s(&sc.victim()), serde_json::Value::Null);
            },
            phrase: "outside the state directory",
        },
        Attack {
            name: "relative target",
            plant: |sc| {
                let temp = sc.env.state().join(staged_name("victim"));
                sc.payload(&temp);
                sc.plant(s(&temp), "../../victim", serde_json::Value::Null);
            },
            phrase: "is not a plain absolute path",
        },
        Attack {
            name: "dot-dot through a recorded layout",
            plant: |sc| {
                let temp = sc.client.join(staged_name("cert.pem"));
                sc.payload(&temp);
                let target = format!("{}/../../../{}", s(&sc.client), s(&sc.victim()));
                sc.plant(s(&temp), &target, serde_json::Value::Null);
            },
            phrase: "is not a plain absolute path",
        },
        Attack {
            name: "a file from elsewhere moved into a layout",
            plant: |sc| {
                let target = sc.client.join("cert.pem");
                sc.plant(s(&sc.victim()), s(&target), serde_json::Value::Null);
            },
            phrase: "neither a file dockpki staged",
        },
        Attack {
            name: "the CA key renamed into a client layout",
            plant: |sc| {
                let key = sc.env.state().join("ca-key.pem");
                let target = sc.client.join("key.pem");
                sc.plant(s(&key), s(&target), serde_json::Value::Null);
            },
            phrase: "neither a file dockpki staged",
        },
        Attack {
            name: "a backup outside the layout (removed, then linked)",
            plant: |sc| {
                let temp = sc.client.join(staged_name("cert.pem"));
                sc.payload(&temp);
                let target = sc.client.join("cert.pem");
                sc.plant(
                    s(&temp),
                    s(&target),
                    serde_json::json!({ "previous": s(&sc.victim()) }),
                );
            },
            phrase: "is not a backup name next to",
        },
        Attack {
            name: "a backup named like another file of the layout",
            plant: |sc| {
                let temp = sc.client.join(staged_name("cert.pem"));
                sc.payload(&temp);
                let target = sc.client.join("cert.pem");
                let key = sc.client.join("key.pem");
                sc.plant(
                    s(&temp),
                    s(&target),
                    serde_json::json!({ "previous": s(&key) }),
                );
            },
            phrase: "is not a backup name next to",
        },
        Attack {
            name: "a staged file that is a symlink to the victim",
            plant: |sc| {
                let temp = sc.client.join(staged_name("cert.pem"));
                symlink(sc.victim(), &temp).unwrap();
                sc.plant(
                    s(&temp),
                    s(&sc.client.join("cert.pem")),
                    serde_json::Value::Null,
                );
            },
            phrase: "is a symlink with 1 link(s)",
        },
        Attack {
            name: "a staged file hard-linked to the victim",
            plant: |sc| {
                let temp = sc.client.join(staged_name("cert.pem"));
                fs::hard_link(sc.victim(), &temp).unwrap();
                sc.plant(
                    s(&temp),
                    s(&sc.client.join("cert.pem")),
                    serde_json::Value::Null,
                );
            },
            phrase: "with 2 link(s)",
        },
        Attack {
            name: "a target that is a FIFO",
            plant: |sc| {
                let temp = sc.client.join(staged_name("ca.pem"));
                sc.payload(&temp);
                let target = sc.client.join("ca.pem");
                fs::remove_file(&target).unwrap();
                mkfifo(&target);
                sc.plant(s(&temp), s(&target), serde_json::Value::Null);
            },
            phrase: "is a FIFO, not a regular file",
        },
        Attack {
            name: "a journal others may write",
            plant: |sc| {
                let temp = sc.client.join(staged_name("cert.pem"));
                sc.payload(&temp);
                sc.plant(
                    s(&temp),
                    s(&sc.client.join("cert.pem")),
                    serde_json::Value::Null,
                );
                fs::set_permissions(sc.journal(), fs::Permissions::from_mode(0o666)).unwrap();
            },
            phrase: "writable by group or others (mode 0666)",
        },
        Attack {
            name: "a journal that is a symlink",
            plant: |sc| {
                let elsewhere = sc.victim_dir.path().join("journal.json");
                let temp = sc.client.join(staged_name("cert.pem"));
                sc.payload(&temp);
                plant_journal(
                    &elsewhere,
                    s(&temp),
                    s(&sc.client.join("cert.pem")),
                    serde_json::Value::Null,
                );
                symlink(&elsewhere, sc.journal()).unwrap();
            },
            phrase: "is a symlink",
        },
        Attack {
            name: "a journal that is a FIFO (would block forever)",
            plant: |sc| mkfifo(&sc.journal()),
            phrase: "is a FIFO, not a regular file",
        },
        Attack {
            name: "an oversized journal",
            plant: |sc| {
                let f = fs::File::create(sc.journal()).unwrap();
                f.set_len(2 << 20).unwrap();
                fs::set_permissions(sc.journal(), fs::Permissions::from_mode(0o600)).unwrap();
            },
            phrase: "larger than 1 MiB",
        },
    ];
    for attack in attacks {
        let scene = Scene::new();
        (attack.plant)(&scene);
        for args in [&["status"][..], &["renew", "--all"]] {
            let line = scene.assert_refused(args, attack.phrase);
            assert!(
                line.contains(s(&scene.journal())) || !line.contains("replay"),
                "{}: the refusal does not name the journal: {line}",
                attack.name
            );
        }
    }
}

#[test]
fn verify_refuses_a_planted_journal_too() {
    let scene = Scene::new();
    let temp = scene.env.state().join(staged_name("victim"));
    scene.payload(&temp);
    scene.plant(s(&temp), s(&scene.victim()), serde_json::Value::Null);
    let (d, c) = (s(&scene.daemon).to_string(), s(&scene.client).to_string());
    scene.assert_refused(
        &["verify", "--daemon-dir", &d, "--client-dir", &c],
        "refusing to replay the journal",
    );
}

#[test]
fn a_journal_or_staged_file_owned_by_another_user_is_refused() {
    if !require_root("to give files to uid 65534") {
        return;
    }
    // The journal.
    let scene = Scene::new();
    let temp = scene.client.join(staged_name("cert.pem"));
    scene.payload(&temp);
    scene.plant(
        s(&temp),
        s(&scene.client.join("cert.pem")),
        serde_json::Value::Null,
    );
    lchown(scene.journal(), Some(NOBODY), Some(NOBODY)).unwrap();
    scene.assert_refused(&["status"], "owned by uid 65534, not by you");
    // A staged file.
    let scene = Scene::new();
    let temp = scene.client.join(staged_name("cert.pem"));
    scene.payload(&temp);
    lchown(&temp, Some(NOBODY), Some(NOBODY)).unwrap();
    scene.plant(
        s(&temp),
        s(&scene.client.join("cert.pem")),
        serde_json::Value::Null,
    );
    scene.assert_refused(&["status"], "owned by uid 65534, not a file dockpki staged");
    // The whole state directory.
    let scene = Scene::new();
    lchown(scene.env.state(), Some(NOBODY), Some(NOBODY)).unwrap();
    scene.assert_refused(&["status"], "owned by uid 65534");
}

#[test]
fn a_planted_journal_next_to_daemon_json_may_only_install_that_file() {
    for target_is_victim in [true, false] {
        let scene = Scene::new();
        let etc = scene.env.path("etc-docker");
        fs::create_dir(&etc).unwrap();
        let file = etc.join("daemon.json");
        fs::write(&file, "{}\n").unwrap();
        let journal = etc.join(".daemon.json.dockpki-journal");
        if target_is_victim {
            let temp = etc.join(staged_name("daemon.json"));
            scene.payload(&temp);
            plant_journal(
                &journal,
                s(&temp),
                s(&scene.victim()),
                serde_json::Value::Null,
            );
        } else {
            plant_journal(
                &journal,
                s(&scene.victim()),
                s(&file),
                serde_json::Value::Null,
            );
        }
        let (f, d) = (s(&file).to_string(), s(&scene.daemon).to_string());
        scene.assert_refused(
            &["daemon-config", "--file", &f, "--daemon-dir", &d],
            "it may only install",
        );
    }
}

/// Hostile files where dockpki reads: each command ends within the bound and says what is
/// wrong with the file, instead of hanging on a FIFO or reading a device forever.
#[test]
fn hostile_files_where_dockpki_reads_are_refused_within_the_bound() {
    struct Read {
        name: &'static str,
        plant: fn(&Scene) -> Vec<String>,
        phrase: &'static str,
    }
    let cases = [
        Read {
            name: "inventory.json is a FIFO",
            plant: |sc| {
                let p = sc.env.state().join("inventory.json");
                fs::remove_file(&p).unwrap();
                mkfifo(&p);
                vec!["status".into()]
            },
            phrase: "is a FIFO, not a regular file",
        },
        Read {
            name: "inventory.json is larger than any inventory",
            plant: |sc| {
                let p = sc.env.state().join("inventory.json");
                fs::OpenOptions::new()
                    .write(true)
                    .open(&p)
                    .unwrap()
                    .set_len(65 << 20)
                    .unwrap();
                vec!["status".into()]
            },
            phrase: "larger than 64 MiB",
        },
        Read {
            name: "the state's ca.pem is a FIFO",
            plant: |sc| {
                let p = sc.env.state().join("ca.pem");
                fs::remove_file(&p).unwrap();
                mkfifo(&p);
                vec!["status".into()]
            },
            phrase: "is a FIFO",
        },
        Read {
            name: "the state's ca.pem is a symlink to /dev/zero",
            plant: |sc| {
                let p = sc.env.state().join("ca.pem");
                fs::remove_file(&p).unwrap();
                symlink("/dev/zero", &p).unwrap();
                let out = sc.env.path("x");
                vec![
                    "issue".into(),
                    "client".into(),
                    "--name".into(),
                    "x".into(),
                    "--out".into(),
                    s(&out).into(),
                ]
            },
            phrase: "is a symlink",
        },
        Read {
            name: "inspect of a FIFO",
            plant: |sc| {
                let p = sc.env.path("fifo.pem");
                mkfifo(&p);
                vec!["inspect".into(), s(&p).into()]
            },
            phrase: "is a FIFO",
        },
        Read {
            name: "inspect of /dev/zero",
            plant: |_| vec!["inspect".into(), "/dev/zero".into()],
            phrase: "is a character device",
        },
        Read {
            name: "daemon-config of a FIFO",
            plant: |sc| {
                let p = sc.env.path("daemon.json");
                mkfifo(&p);
                vec![
                    "daemon-config".into(),
                    "--file".into(),
                    s(&p).into(),
                    "--daemon-dir".into(),
                    s(&sc.daemon).into(),
                ]
            },
            phrase: "is a FIFO",
        },
        Read {
            name: "daemon-config of /dev/zero",
            plant: |sc| {
                vec![
                    "daemon-config".into(),
                    "--file".into(),
                    "/dev/zero".into(),
                    "--daemon-dir".into(),
                    s(&sc.daemon).into(),
                ]
            },
            phrase: "is a character device",
        },
        Read {
            name: "a passphrase file that is a FIFO",
            plant: |sc| {
                let p = sc.env.path("pass");
                mkfifo(&p);
                vec![
                    "--passphrase-file".into(),
                    s(&p).into(),
                    "ca".into(),
                    "encrypt".into(),
                ]
            },
            phrase: "is a FIFO",
        },
    ];
    for case in cases {
        let scene = Scene::new();
        let args = (case.plant)(&scene);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let line = scene.assert_refused(&args, case.phrase);
        assert!(!line.is_empty(), "{}", case.name);
    }
}

/// `status` and `verify` over a layout whose files were swapped for a FIFO, a link to
/// /dev/zero, or a huge file: they finish, and report the file instead of reading it.
#[test]
fn status_and_verify_report_hostile_layout_files_without_reading_them() {
    type Swap = fn(&Path);
    let swaps: [(&str, Swap, &str); 3] = [
        ("a FIFO", |p| mkfifo(p), "is a FIFO"),
        (
            "a symlink to /dev/zero",
            |p| symlink("/dev/zero", p).unwrap(),
            "is a character device",
        ),
        (
            "a 2 MiB file",
            |p| fs::File::create(p).unwrap().set_len(2 << 20).unwrap(),
            "larger than 1 MiB",
        ),
    ];
    for (what, swap, phrase) in swaps {
        let scene = Scene::new();
        let cert = scene.client.join("cert.pem");
        fs::remove_file(&cert).unwrap();
        swap(&cert);
        let mut status = scene.env.cmd();
        status.arg("status").timeout(BOUND);
        let out = status.output().unwrap();
        assert_eq!(out.status.code(), Some(4), "status with {what}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("replaced"), "status with {what}: {text}");
        let mut verify = scene.env.cmd();
        verify
            .args(["verify", "--client-dir", s(&scene.client)])
            .timeout(BOUND);
        let out = verify.output().unwrap();
        assert_eq!(out.status.code(), Some(4), "verify with {what}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(phrase), "verify with {what}: {text}");
    }
}

/// A target that is not a regular file is never replaced, not even with --force.
#[test]
fn a_target_that_is_not_a_regular_file_is_never_replaced() {
    type Make = fn(&Path) -> Option<std::os::unix::net::UnixListener>;
    let mut kinds: Vec<(&str, Make, &str)> = vec![
        (
            "FIFO",
            |p| {
                mkfifo(p);
                None
            },
            "is a FIFO, not a regular file",
        ),
        (
            "socket",
            |p| Some(std::os::unix::net::UnixListener::bind(p).unwrap()),
            "is a socket, not a regular file",
        ),
    ];
    if common::is_root() {
        kinds.push((
            "character device (a copy of /dev/null)",
            |p| {
                let st = std::process::Command::new("mknod")
                    .args([s(p), "c", "1", "3"])
                    .status()
                    .unwrap();
                assert!(st.success());
                None
            },
            "is a character device, not a regular file",
        ));
    } else {
        require_root("to make a device node");
    }
    for (what, make, phrase) in kinds {
        let scene = Scene::new();
        let node = scene.env.path("node");
        let _listener = make(&node);
        let out = s(&node).to_string();
        let (d, etc) = (s(&scene.daemon).to_string(), scene.env.path("etc"));
        fs::create_dir(&etc).unwrap();
        let unit_path = etc.join("docker.service");
        fs::write(
            &unit_path,
            "[Service]\nExecStart=/usr/sbin/dockerd -H fd:// --containerd=/x\n",
        )
        .unwrap();
        for args in [
            vec!["crl", "--out", &out],
            vec!["crl", "--out", &out, "--force"],
            vec!["systemd-dropin", "--out", &out, "--force"],
        ] {
            let mut cmd = scene.env.cmd();
            cmd.env("DOCKPKI_SYSTEMD_UNIT_PATH", &etc)
                .args(&args)
                .timeout(BOUND);
            let before = snapshot(scene.env.root());
            let o = cmd.output().unwrap();
            assert_error_line(&o, phrase);
            assert_unchanged(&before, &snapshot(scene.env.root()), what);
        }
        let _ = d;
    }
}

#[test]
fn crl_replaces_a_file_it_did_not_write_only_with_force_and_never_loses_its_backup() {
    let scene = Scene::new();
    let out = scene.env.path("published/crl.pem");
    fs::create_dir(out.parent().unwrap()).unwrap();
    fs::write(&out, "someone's notes\n").unwrap();
    let line = scene.assert_refused(&["crl", "--out", s(&out)], "was not written by dockpki");
    assert!(line.contains("--force"), "{line}");
    // A CRL of another CA is not ours either.
    let other = Env::new();
    other.ca_init(&[]);
    let foreign_crl = other.ok(&["crl"]).stdout;
    fs::write(&out, &foreign_crl).unwrap();
    scene.assert_refused(&["crl", "--out", s(&out)], "was not written by dockpki");
    fs::write(&out, "someone's notes\n").unwrap();

    scene.env.ok(&["crl", "--out", s(&out), "--force"]);
    let dir = out.parent().unwrap();
    let kept = common::names_with_prefix(dir, "crl.pem.bak-");
    assert_eq!(kept.len(), 1, "{kept:?}");
    // From now on the file is a CRL of this CA: replaced freely, run after run, and the
    // operator's file stays in its timestamped backup.
    for _ in 0..3 {
        scene.env.ok(&["crl", "--out", s(&out)]);
    }
    assert_eq!(common::names_with_prefix(dir, "crl.pem.bak-"), kept);
    assert_eq!(
        fs::read_to_string(dir.join(&kept[0])).unwrap(),
        "someone's notes\n"
    );
    assert!(dir.join("crl.pem.bak").exists());
}

/// A SIGKILL runs no cleanup: the files a killed run staged (private keys among them) are
/// removed by the next run that holds the lock; a live process's files are left alone.
#[test]
fn staged_files_of_a_killed_run_are_removed_by_the_next_run() {
    let scene = Scene::new();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let live = std::process::id();
    let mut stale = Vec::new();
    let mut kept = Vec::new();
    for dir in [
        scene.env.state(),
        scene.daemon.clone(),
        scene.client.clone(),
    ] {
        let p = dir.join(format!(".key.pem.dockpki-{dead}-3a.tmp"));
        scene.payload(&p);
        stale.push(p);
        let p = dir.join(format!(".key.pem.dockpki-{live}-3a.tmp"));
        scene.payload(&p);
        kept.push(p);
        // Not dockpki's name: not dockpki's to remove.
        let p = dir.join(".key.pem.dockpki-x-3a.tmp");
        scene.payload(&p);
        kept.push(p);
    }
    scene.env.ok(&["status"]);
    for p in &stale {
        assert!(!p.exists(), "{} was left behind", p.display());
    }
    for p in &kept {
        assert!(p.exists(), "{} was removed", p.display());
    }
}

#[test]
fn a_non_utf8_path_is_refused_before_anything_is_staged() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let scene = Scene::new();
    let bad = scene.env.root().join(OsStr::from_bytes(b"caf\xe9"));
    let before = snapshot(scene.env.root());
    for args in [
        vec![
            OsStr::new("issue"),
            OsStr::new("client"),
            OsStr::new("--name"),
            OsStr::new("x"),
            OsStr::new("--out"),
            bad.as_os_str(),
        ],
        vec![OsStr::new("crl"), OsStr::new("--out"), bad.as_os_str()],
    ] {
        let out = scene.env.run(&args);
        assert_error_line(&out, "is not valid UTF-8");
    }
    let mut cmd = scene.env.bare();
    cmd.arg("--state").arg(&bad).args(["ca", "init"]);
    assert_error_line(&cmd.output().unwrap(), "is not valid UTF-8");
    assert_unchanged(&before, &snapshot(scene.env.root()), "non-UTF-8 paths");
}

#[test]
fn a_backup_path_that_is_not_a_file_is_refused_before_anything_is_staged() {
    let scene = Scene::new();
    let out = scene.env.path("www/crl.pem");
    fs::create_dir(out.parent().unwrap()).unwrap();
    scene.env.ok(&["crl", "--out", s(&out)]);
    fs::create_dir(scene.env.path("www/crl.pem.bak")).unwrap();
    scene.assert_refused(
        &["crl", "--out", s(&out)],
        "is a directory, not a regular file",
    );
}

#[test]
fn a_path_with_dot_dot_is_refused_where_it_enters() {
    let scene = Scene::new();
    let out = format!("{}/../escape", s(&scene.client));
    scene.assert_refused(
        &["issue", "client", "--name", "x", "--out", &out],
        "contains '..'",
    );
}
