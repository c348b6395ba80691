//! `dockpki systemd-dropin`: the drop-in that lets daemon.json's "hosts" apply.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{assert_success, json, mode, names_with_prefix, s, stdout, Env};

/// Runs `systemd-dropin --out OUT extra...` with the unit search path `dirs`.
fn dropin(env: &Env, dirs: &[&Path], out: &Path, extra: &[&str]) -> std::process::Output {
    let path = std::env::join_paths(dirs).unwrap();
    let o = env
        .cmd()
        .env("DOCKPKI_SYSTEMD_UNIT_PATH", path)
        .args(["systemd-dropin", "--out", s(out)])
        .args(extra)
        .output()
        .unwrap();
    assert_success(&o);
    o
}

/// The `ExecStart=` lines of a drop-in.
fn exec_lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("ExecStart="))
        .map(str::to_string)
        .collect()
}

fn dirs(env: &Env) -> (PathBuf, PathBuf, PathBuf) {
    let (etc, lib) = (env.path("etc"), env.path("lib"));
    fs::create_dir_all(&etc).unwrap();
    fs::create_dir_all(&lib).unwrap();
    // docker-ce's unit; tests that need another write over it.
    fs::write(
        lib.join("docker.service"),
        "[Service]\nExecStart=/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock\n",
    )
    .unwrap();
    let out = etc.join("docker.service.d/dockpki.conf");
    (etc, lib, out)
}

/// Table: installed unit text → the command the drop-in starts.
#[test]
fn installed_units_are_rewritten_without_dash_h() {
    let debian_real = fs::read_to_string("/lib/systemd/system/docker.service").ok();
    let mut cases: Vec<(&str, String, &str)> = vec![
        (
            "Debian docker.io",
            "[Service]\nExecStart=/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS\n".into(),
            "ExecStart=/usr/sbin/dockerd --containerd=/run/containerd/containerd.sock $DOCKER_OPTS",
        ),
        (
            "docker-ce",
            "[Unit]\nDescription=Docker Application Container Engine\n[Service]\nType=notify\nExecStart=/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock\n".into(),
            "ExecStart=/usr/bin/dockerd --containerd=/run/containerd/containerd.sock",
        ),
        (
            "extra hosts and flags",
            "[Service]\nExecStart=/opt/bin/dockerd --host=fd:// -H tcp://0.0.0.0:2375 --host unix:///x.sock --debug\n".into(),
            "ExecStart=/opt/bin/dockerd --debug",
        ),
        // systemd unquotes ExecStart words before dockerd sees them: quoted -H is -H.
        (
            "double-quoted -H and its value",
            "[Service]\nExecStart=/usr/bin/dockerd \"-H\" \"fd://\" --containerd=/run/containerd/containerd.sock\n".into(),
            "ExecStart=/usr/bin/dockerd --containerd=/run/containerd/containerd.sock",
        ),
        (
            "single-quoted -H, quoted --host=, and a quoted argument kept as written",
            "[Service]\nExecStart=/usr/bin/dockerd '-H' 'fd://' \"--host=unix:///x.sock\" --label \"a b\"\n".into(),
            "ExecStart=/usr/bin/dockerd --label \"a b\"",
        ),
    ];
    match &debian_real {
        Some(text) => cases.push((
            "this machine's /lib/systemd/system/docker.service",
            text.clone(),
            "ExecStart=/usr/sbin/dockerd --containerd=/run/containerd/containerd.sock $DOCKER_OPTS",
        )),
        None => eprintln!("NOTE: no /lib/systemd/system/docker.service on this machine"),
    }
    for (what, unit, expected) in cases {
        let env = Env::new();
        let (etc, lib, out) = dirs(&env);
        fs::write(lib.join("docker.service"), unit).unwrap();
        let o = dropin(&env, &[&etc, &lib], &out, &[]);
        assert_eq!(exec_lines(&out), ["ExecStart=", expected], "{what}");
        assert_eq!(mode(&out), 0o644, "{what}");
        let text = stdout(&o);
        assert_eq!(
            text.lines().last(),
            Some("systemctl daemon-reload && systemctl restart docker"),
            "{what}"
        );
        assert_eq!(text.lines().count(), 2, "{what}: {text}");
    }
}

/// The addresses the unit listened on stop being served: the output names each -H removed.
#[test]
fn the_output_names_every_host_option_the_dropin_removes() {
    let env = Env::new();
    let (etc, lib, out) = dirs(&env);
    fs::write(
        lib.join("docker.service"),
        "[Service]\nExecStart=/usr/bin/dockerd -H fd:// --host=tcp://0.0.0.0:2375 --debug\n",
    )
    .unwrap();
    let o = dropin(&env, &[&etc, &lib], &out, &[]);
    let first = stdout(&o).lines().next().unwrap().to_string();
    assert_eq!(
        first,
        format!(
            "wrote {}: docker.service starts `/usr/bin/dockerd --debug` (removed -H fd:// -H tcp://0.0.0.0:2375)",
            out.display()
        )
    );
    let v = json(&dropin(&env, &[&etc, &lib], &out, &["--json"]));
    assert_eq!(
        v["removed_hosts"],
        serde_json::json!(["fd://", "tcp://0.0.0.0:2375"])
    );
}

/// A unit given by its path is read from there, wherever it is, and named by its file name.
#[test]
fn a_unit_file_given_by_path_is_read_and_named_by_its_file_name() {
    let env = Env::new();
    let (etc, lib, _) = dirs(&env);
    let elsewhere = env.path("opt/units/dockerd-tls.service");
    fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
    fs::write(
        &elsewhere,
        "[Service]\nExecStart=/opt/bin/dockerd -H unix:///run/d.sock --debug\n",
    )
    .unwrap();
    let out = env.path("dropin.conf");
    let o = dropin(&env, &[&etc, &lib], &out, &["--unit", s(&elsewhere)]);
    assert_eq!(
        exec_lines(&out),
        ["ExecStart=", "ExecStart=/opt/bin/dockerd --debug"]
    );
    let text = stdout(&o);
    assert!(text.contains("(removed -H unix:///run/d.sock)"), "{text}");
    assert!(
        text.ends_with("systemctl daemon-reload && systemctl restart dockerd-tls\n"),
        "{text}"
    );
    // A relative path is taken from the working directory.
    let o = env
        .cmd()
        .env(
            "DOCKPKI_SYSTEMD_UNIT_PATH",
            std::env::join_paths([&etc, &lib]).unwrap(),
        )
        .args([
            "systemd-dropin",
            "--unit",
            "opt/units/dockerd-tls.service",
            "--out",
            s(&out),
        ])
        .output()
        .unwrap();
    assert_success(&o);
}

/// `dokcer.service` used to get a drop-in starting docker-ce's /usr/bin/dockerd, which is the
/// wrong binary on Debian: dockerd would not start. Now nothing is written, and the error names
/// the docker units that are installed and how to pass a unit file.
#[test]
fn an_unknown_unit_is_refused_naming_the_docker_units_installed() {
    let env = Env::new();
    let (etc, lib, out) = dirs(&env);
    fs::write(
        lib.join("docker.service"),
        "[Service]\nExecStart=/usr/sbin/dockerd -H fd://\n",
    )
    .unwrap();
    fs::write(lib.join("docker.socket"), "[Socket]\n").unwrap();
    fs::write(
        lib.join("ssh.service"),
        "[Service]\nExecStart=/usr/sbin/sshd\n",
    )
    .unwrap();
    let path = std::env::join_paths([&etc, &lib]).unwrap();
    let before = common::snapshot(env.root());
    for unit in ["dokcer.service", "docker-ce.service"] {
        let mut cmd = env.cmd();
        cmd.env("DOCKPKI_SYSTEMD_UNIT_PATH", &path).args([
            "systemd-dropin",
            "--unit",
            unit,
            "--out",
            s(&out),
        ]);
        let line = env.assert_refused_cmd(cmd, &format!("no unit \"{unit}\" in "));
        assert!(line.contains("(installed: docker.service)"), "{line}");
        assert!(line.contains(s(&lib)), "{line}");
        assert!(line.contains("--unit /path/to/UNIT.service"), "{line}");
        assert!(line.contains("DOCKPKI_SYSTEMD_UNIT_PATH"), "{line}");
    }
    common::assert_unchanged(&before, &common::snapshot(env.root()), "unknown unit");
    // Without any unit installed (the old fallback to docker-ce's command): refused too.
    let empty = env.path("empty");
    fs::create_dir_all(&empty).unwrap();
    let mut cmd = env.cmd();
    cmd.env("DOCKPKI_SYSTEMD_UNIT_PATH", &empty)
        .args(["systemd-dropin", "--out", s(&out)]);
    let line = env.assert_refused_cmd(cmd, "no unit \"docker.service\"");
    assert!(
        line.contains("no unit whose name mentions docker is installed there"),
        "{line}"
    );
}

#[test]
fn help_names_the_unit_search_path_variable_and_unit_files() {
    let env = Env::new();
    let o = env.ok(&["systemd-dropin", "--help"]);
    let text = stdout(&o);
    assert!(text.contains("DOCKPKI_SYSTEMD_UNIT_PATH"), "{text}");
    assert!(text.contains("--unit <UNIT|FILE>"), "{text}");
}

#[test]
fn other_dropins_count_and_a_rerun_reads_past_its_own_file() {
    let env = Env::new();
    let (etc, lib, out) = dirs(&env);
    fs::write(
        lib.join("docker.service"),
        "[Service]\nExecStart=/usr/bin/dockerd -H fd://\n",
    )
    .unwrap();
    fs::create_dir_all(etc.join("docker.service.d")).unwrap();
    fs::write(
        etc.join("docker.service.d/10-flags.conf"),
        "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd -H fd:// --debug\n",
    )
    .unwrap();
    dropin(&env, &[&etc, &lib], &out, &[]);
    assert_eq!(exec_lines(&out)[1], "ExecStart=/usr/bin/dockerd --debug");
    let first = fs::read(&out).unwrap();
    // A second run does not take its own drop-in for the distribution's command, and leaves the
    // same file (so no backup either).
    dropin(&env, &[&etc, &lib], &out, &[]);
    assert_eq!(fs::read(&out).unwrap(), first);
    assert!(names_with_prefix(&etc.join("docker.service.d"), "dockpki.conf.bak-").is_empty());
}

#[test]
fn a_changed_dropin_is_replaced_keeping_a_backup() {
    let env = Env::new();
    let (etc, lib, out) = dirs(&env);
    fs::create_dir_all(out.parent().unwrap()).unwrap();
    fs::write(
        &out,
        "# Written by `dockpki systemd-dropin` from /old.\n[Service]\nExecStart=\nExecStart=/old\n",
    )
    .unwrap();
    dropin(&env, &[&etc, &lib], &out, &["-v"]);
    let backups = names_with_prefix(out.parent().unwrap(), "dockpki.conf.bak-");
    assert_eq!(backups.len(), 1, "{backups:?}");
    let kept = fs::read_to_string(out.parent().unwrap().join(&backups[0])).unwrap();
    assert!(kept.contains("/old"), "{kept}");
}

#[test]
fn a_file_dockpki_did_not_write_is_replaced_only_with_force_keeping_every_backup() {
    let env = Env::new();
    let (etc, lib, out) = dirs(&env);
    fs::create_dir_all(out.parent().unwrap()).unwrap();
    fs::write(&out, "[Service]\nExecStart=\nExecStart=/mine\n").unwrap();
    let path = std::env::join_paths([&etc, &lib]).unwrap();
    let mut cmd = env.cmd();
    cmd.env("DOCKPKI_SYSTEMD_UNIT_PATH", &path)
        .args(["systemd-dropin", "--out", s(&out)]);
    let before = common::snapshot(env.root());
    let line = env.assert_refused_cmd(cmd, "was not written by dockpki");
    assert!(line.contains("--force"), "{line}");
    common::assert_unchanged(&before, &common::snapshot(env.root()), "refused drop-in");
    dropin(&env, &[&etc, &lib], &out, &["--force"]);
    let backups = names_with_prefix(out.parent().unwrap(), "dockpki.conf.bak-");
    assert_eq!(backups.len(), 1, "{backups:?}");
    let kept = fs::read_to_string(out.parent().unwrap().join(&backups[0])).unwrap();
    assert!(kept.contains("/mine"), "{kept}");
}

#[test]
fn json_names_the_command_and_the_next_step() {
    let env = Env::new();
    let (etc, lib, out) = dirs(&env);
    fs::write(
        lib.join("docker.service"),
        "[Service]\nExecStart=/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock\n",
    )
    .unwrap();
    let o = dropin(
        &env,
        &[&etc, &lib],
        &out,
        &["--json", "--unit", "docker.service"],
    );
    let v = json(&o);
    assert_eq!(
        v["next"]["command"],
        "systemctl daemon-reload && systemctl restart docker"
    );
    assert_eq!(
        v["exec_start"],
        "/usr/bin/dockerd --containerd=/run/containerd/containerd.sock"
    );
}

#[test]
fn a_bad_unit_name_is_refused() {
    let env = Env::new();
    let out = env.path("x.conf");
    env.assert_refused(
        &["systemd-dropin", "--unit", "docker", "--out", s(&out)],
        "not a unit name",
    );
    // With a slash it is a path, whose file name must still be a unit's.
    env.assert_refused(
        &["systemd-dropin", "--unit", "../docker", "--out", s(&out)],
        "is not a unit file's path",
    );
}

/// A drop-in that is a link is refused (replacing it would detach it), naming the flag of this
/// command (--out) and the link's target.
#[test]
fn a_symlinked_dropin_is_refused_naming_out_and_its_target() {
    let env = Env::new();
    let (etc, lib, out) = dirs(&env);
    fs::create_dir_all(out.parent().unwrap()).unwrap();
    let real = env.path("real.conf");
    fs::write(&real, "[Service]\n").unwrap();
    std::os::unix::fs::symlink(&real, &out).unwrap();
    let mut cmd = env.cmd();
    cmd.env(
        "DOCKPKI_SYSTEMD_UNIT_PATH",
        std::env::join_paths([&etc, &lib]).unwrap(),
    )
    .args(["systemd-dropin", "--out", s(&out)]);
    let line = env.assert_refused_cmd(cmd, "is a symlink to");
    assert!(
        line.contains(&format!("pass --out {}", real.display())),
        "{line}"
    );
}
