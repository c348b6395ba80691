//! How dockpki writes files: exact modes whatever the umask, private directories, other files
//! left alone, and where the state lives by default (all inside the sandbox's HOME).

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use common::{mode, names, s, Env};

fn assert_layout_modes(env: &Env, d: &Path, c: &Path) {
    let st = env.state();
    for (path, want) in [
        (st.clone(), 0o700),
        (st.join("ca-key.pem"), 0o400),
        (st.join("ca.pem"), 0o444),
        (st.join("inventory.json"), 0o600),
        (st.join("lock"), 0o600),
        (d.to_path_buf(), 0o700),
        (d.join("ca.pem"), 0o444),
        (d.join("server-cert.pem"), 0o444),
        (d.join("server-key.pem"), 0o400),
        (c.to_path_buf(), 0o700),
        (c.join("ca.pem"), 0o444),
        (c.join("cert.pem"), 0o444),
        (c.join("key.pem"), 0o400),
    ] {
        assert_eq!(
            mode(&path),
            want,
            "mode of {}: {:o}",
            path.display(),
            mode(&path)
        );
    }
}

#[test]
fn modes_are_exact_under_umask_000() {
    let env = Env::new();
    let d = env.path("daemon");
    let c = env.path("client");
    env.cmd_with_umask("000")
        .args([
            "bootstrap",
            "--san",
            "localhost",
            "--daemon-dir",
            s(&d),
            "--client-dir",
            s(&c),
        ])
        .assert()
        .success();
    assert_layout_modes(&env, &d, &c);

    // Replacing under umask 000: new files exact, backups keep the old (exact) modes.
    env.cmd_with_umask("000")
        .args([
            "issue",
            "client",
            "--name",
            "again",
            "--force",
            "--out",
            s(&c),
        ])
        .assert()
        .success();
    assert_layout_modes(&env, &d, &c);
    assert_eq!(mode(&env.state().join("inventory.json.bak")), 0o600);
    for n in names(&c) {
        if common::is_timestamped_backup(&n, "key.pem") {
            assert_eq!(mode(&c.join(&n)), 0o400, "{n}");
        } else if common::is_timestamped_backup(&n, "cert.pem") {
            assert_eq!(mode(&c.join(&n)), 0o444, "{n}");
        }
    }
    assert_eq!(common::names_with_prefix(&c, "key.pem.bak-").len(), 1);
}

#[test]
fn ca_init_modes_are_exact_under_umask_000() {
    let env = Env::new();
    env.cmd_with_umask("000")
        .args(["ca", "init"])
        .assert()
        .success();
    assert_eq!(mode(&env.state()), 0o700);
    assert_eq!(mode(&env.state().join("ca-key.pem")), 0o400);
    assert_eq!(mode(&env.state().join("ca.pem")), 0o444);
}

#[test]
fn certificates_stay_world_readable_under_umask_077() {
    let env = Env::new();
    let d = env.path("daemon");
    let c = env.path("client");
    env.cmd_with_umask("077")
        .args([
            "bootstrap",
            "--san",
            "localhost",
            "--daemon-dir",
            s(&d),
            "--client-dir",
            s(&c),
        ])
        .assert()
        .success();
    assert_layout_modes(&env, &d, &c);
}

#[test]
fn a_state_directory_dockpki_creates_is_private_and_an_existing_one_keeps_its_mode() {
    let env = Env::new();
    env.ca_init(&[]);
    assert_eq!(mode(&env.state()), 0o700);
    // Only a directory dockpki creates gets its mode set; a readable one is not a risk (the key
    // is 0400, the inventory 0600), so it is used as it is rather than chmod-ed behind the
    // operator's back.
    let env = Env::new();
    fs::create_dir(env.state()).unwrap();
    common::chmod(&env.state(), 0o755);
    env.ca_init(&[]);
    assert_eq!(mode(&env.state()), 0o755);
}

#[test]
fn a_state_directory_others_can_write_to_is_refused_and_left_as_it_is() {
    for dir_mode in [0o775, 0o757, 0o777, 0o1777, 0o770] {
        let env = Env::new();
        env.ca_init(&[]);
        common::chmod(&env.state(), dir_mode);
        let before = common::snapshot(env.root());
        for args in [
            &["status"][..],
            &["issue", "client", "--name", "a", "--out", "x"],
        ] {
            let line = env.assert_refused(args, "writable by group or others");
            assert!(line.contains("chmod 700"), "{line}");
        }
        common::assert_unchanged(&before, &common::snapshot(env.root()), "a refused state");
        assert_eq!(mode(&env.state()), dir_mode);
    }
}

#[test]
fn other_files_in_the_client_dir_are_left_alone() {
    let env = Env::new();
    let docker = env.home().join(".docker");
    fs::create_dir(&docker).unwrap();
    common::chmod(&docker, 0o755);
    let config = docker.join("config.json");
    fs::write(&config, "{\"auths\": {}}\n").unwrap();
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    fs::File::options()
        .write(true)
        .open(&config)
        .unwrap()
        .set_modified(old)
        .unwrap();
    common::chmod(&config, 0o644);

    let d = env.path("daemon");
    env.ok(&["bootstrap", "--san", "localhost", "--daemon-dir", s(&d)]);
    env.issue_client("again", &docker, &["--force"]);

    assert_eq!(common::read(&config), b"{\"auths\": {}}\n");
    assert_eq!(fs::metadata(&config).unwrap().modified().unwrap(), old);
    assert_eq!(mode(&config), 0o644);
    assert_eq!(mode(&docker), 0o755, "an existing directory keeps its mode");
    // Only dockpki's three files (and backups of replaced ones) were added.
    for n in names(&docker) {
        assert!(
            ["config.json", "ca.pem", "cert.pem", "key.pem"].contains(&n.as_str())
                || common::is_timestamped_backup(&n, "cert.pem")
                || common::is_timestamped_backup(&n, "key.pem"),
            "unexpected {n}"
        );
    }
}

#[test]
fn default_state_is_under_home_local_share() {
    let env = Env::new();
    env.bare().args(["ca", "init"]).assert().success();
    let st = env.home().join(".local/share/dockpki");
    assert!(st.join("ca.pem").is_file());
    assert_eq!(mode(&st), 0o700);
    // And issue finds it there.
    env.bare()
        .args(["issue", "client", "--name", "a", "--out", s(&env.path("a"))])
        .assert()
        .success();
}

#[test]
fn xdg_data_home_moves_the_default_state() {
    let env = Env::new();
    let xdg = env.path("xdg");
    env.bare()
        .env("XDG_DATA_HOME", &xdg)
        .args(["ca", "init"])
        .assert()
        .success();
    assert!(xdg.join("dockpki/ca.pem").is_file());
    assert!(!env.home().join(".local").exists());
}

#[test]
fn dockpki_state_env_sets_the_state_and_the_flag_wins() {
    let env = Env::new();
    let from_env = env.path("from-env");
    env.bare()
        .env("DOCKPKI_STATE", &from_env)
        .args(["ca", "init"])
        .assert()
        .success();
    assert!(from_env.join("ca.pem").is_file());

    let from_flag = env.path("from-flag");
    env.bare()
        .env("DOCKPKI_STATE", &from_env)
        .args(["--state", s(&from_flag), "ca", "init"])
        .assert()
        .success();
    assert!(from_flag.join("ca.pem").is_file());
    assert!(!env.home().join(".local").exists());
}

#[test]
fn relative_paths_are_recorded_absolute() {
    let env = Env::new();
    env.bare()
        .args([
            "--state",
            "st",
            "bootstrap",
            "--san",
            "localhost",
            "--daemon-dir",
            "d",
            "--client-dir",
            "c",
        ])
        .assert()
        .success();
    let inv: serde_json::Value =
        serde_json::from_slice(&common::read(&env.path("st/inventory.json"))).unwrap();
    let installed: Vec<&str> = inv["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["installed"][0].as_str().unwrap())
        .collect();
    assert_eq!(installed, [s(&env.path("d")), s(&env.path("c"))]);
}

#[test]
fn global_flags_work_after_the_subcommand() {
    let env = Env::new();
    let st = env.path("late-state");
    let out = env
        .bare()
        .args(["ca", "init", "--state", s(&st), "--json"])
        .output()
        .unwrap();
    common::assert_success(&out);
    assert!(st.join("ca.pem").is_file());
    common::json(&out);
}
