//! `dockpki env`: shell commands for the docker CLI.

mod common;

use std::fs;
use std::path::Path;

use common::{json, s, stdout, Env};

/// A client layout in `root/client` (only existence is checked).
fn client(env: &Env) -> std::path::PathBuf {
    let dir = env.path("client dir");
    fs::create_dir_all(&dir).unwrap();
    for n in ["ca.pem", "cert.pem", "key.pem"] {
        fs::write(dir.join(n), "x").unwrap();
    }
    dir
}

fn env_out(env: &Env, dir: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "env",
        "--host",
        "tcp://docker.example.com:2376",
        "--client-dir",
        s(dir),
    ];
    args.extend_from_slice(extra);
    stdout(&env.ok(&args))
}

#[test]
fn sh_output_exports_the_three_variables_and_evaluates_in_sh() {
    let env = Env::new();
    let dir = client(&env);
    let text = env_out(&env, &dir, &[]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "export DOCKER_HOST=tcp://docker.example.com:2376");
    assert_eq!(lines[1], "export DOCKER_TLS_VERIFY=1");
    assert_eq!(
        lines[2],
        format!("export DOCKER_CERT_PATH='{}'", dir.display())
    );
    assert_eq!(lines[3], "# Run this command to configure your shell:");
    assert!(
        lines[4].starts_with("# eval \"$(dockpki env --host "),
        "{text}"
    );
    // The quoting survives a real shell: the directory name has a space.
    let out = std::process::Command::new("sh")
        .args(["-c", &format!("{text}\nprintf '%s|%s|%s' \"$DOCKER_HOST\" \"$DOCKER_TLS_VERIFY\" \"$DOCKER_CERT_PATH\"")])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("tcp://docker.example.com:2376|1|{}", dir.display())
    );
}

#[test]
fn fish_and_powershell_get_their_own_syntax() {
    let env = Env::new();
    let dir = client(&env);
    let fish = env_out(&env, &dir, &["--shell", "fish"]);
    assert!(fish.contains("set -gx DOCKER_TLS_VERIFY '1';"), "{fish}");
    assert!(fish.contains("| source"), "{fish}");
    let ps = env_out(&env, &dir, &["--shell", "powershell"]);
    assert!(
        ps.contains("$Env:DOCKER_HOST = 'tcp://docker.example.com:2376'"),
        "{ps}"
    );
    assert!(ps.contains("Invoke-Expression"), "{ps}");
}

#[test]
fn json_gives_the_variables_as_an_object() {
    let env = Env::new();
    let dir = client(&env);
    let v = json(&env.ok(&[
        "--json",
        "env",
        "--host",
        "tcp://[::1]:2376",
        "--client-dir",
        s(&dir),
    ]));
    assert_eq!(
        v,
        serde_json::json!({
            "DOCKER_HOST": "tcp://[::1]:2376",
            "DOCKER_TLS_VERIFY": "1",
            "DOCKER_CERT_PATH": dir.display().to_string(),
        })
    );
}

#[test]
fn bad_hosts_shells_and_incomplete_client_dirs_are_refused() {
    let env = Env::new();
    let dir = client(&env);
    for (host, phrase) in [
        ("tcp://docker.example.com", "needs a port"),
        ("unix:///var/run/docker.sock", "must be tcp://"),
        ("docker.example.com:2376", "must be tcp://"),
    ] {
        env.assert_refused(&["env", "--host", host, "--client-dir", s(&dir)], phrase);
    }
    env.assert_refused(
        &[
            "env",
            "--host",
            "tcp://h:2376",
            "--client-dir",
            s(&dir),
            "--shell",
            "csh",
        ],
        "unknown shell",
    );
    fs::remove_file(dir.join("key.pem")).unwrap();
    let line = env.assert_refused(
        &["env", "--host", "tcp://h:2376", "--client-dir", s(&dir)],
        "has no key.pem",
    );
    assert!(line.contains("dockpki issue client"), "{line}");
}

#[test]
fn the_default_client_dir_is_home_docker() {
    let env = Env::new();
    let docker = env.home().join(".docker");
    fs::create_dir_all(&docker).unwrap();
    for n in ["ca.pem", "cert.pem", "key.pem"] {
        fs::write(docker.join(n), "x").unwrap();
    }
    let v = json(&env.ok(&["--json", "env", "--host", "tcp://h:2376"]));
    assert_eq!(v["DOCKER_CERT_PATH"], docker.display().to_string());
}
