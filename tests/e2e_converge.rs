//! End-to-end: `dockpki apply` of a `dockpki.toml` declaring a daemon (with its daemon.json
//! merge) and a client with a docker context provisions a real dockerd that the real docker CLI
//! reaches through that context; a SAN added to the server is planned as exactly one re-issue,
//! and after apply and a restart of dockerd the new address is served.
//!
//! Needs root, `dockerd`, `docker` and `openssl` (see tests/support); without them the test
//! prints `SKIPPED: ...` and passes, except under `CI=true`, where it fails.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::{prerequisites, Dockerd, Run};

/// Runs the binary under test with `args`, whatever the outcome.
fn dockpki(args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dockpki"));
    cmd.env_remove("DOCKPKI_STATE")
        .env_remove("XDG_CONFIG_HOME")
        .args(args);
    support::run(cmd, b"")
}

/// The text of the configuration: one server `web` with `sans`, installed in `work/web`, its
/// daemon.json `work/daemon.json` listening on `work/docker.sock` and on `port` of 127.0.0.1
/// and 127.0.0.2 (a test dockerd must not take /var/run/docker.sock or listen beyond
/// loopback); one client `ci` installed in `work/ci` (the docker CLI's
/// configuration directory, `DOCKER_CONFIG`) with the context `web` for
/// `tcp://127.0.0.1:PORT`.
fn config(work: &Path, port: u16, sans: &[&str]) -> String {
    let sans: Vec<String> = sans.iter().map(|s| format!("{s:?}")).collect();
    format!(
        "[ca]\nname = \"e2e converge CA\"\n\n\
         [[server]]\nname = \"web\"\nsans = [{}]\ninstall = {:?}\n\
         daemon_config = {{ file = {:?}, listen = [{:?}, \"tcp://127.0.0.1:{port}\", \"tcp://127.0.0.2:{port}\"] }}\n\n\
         [[client]]\nname = \"ci\"\ninstall = {:?}\n\
         context = {{ name = \"web\", host = \"tcp://127.0.0.1:{port}\" }}\n",
        sans.join(", "),
        work.join("web").display().to_string(),
        work.join("daemon.json").display().to_string(),
        format!("unix://{}", work.join("docker.sock").display()),
        work.join("ci").display().to_string(),
    )
}

/// The file dockerd is started with: the daemon.json `apply` merged, checked key by key (the
/// TLS files, the listen addresses the configuration declared, and the key the test put there
/// before), with only the daemon's private settings of `dir` (data root, exec root, pidfile,
/// ...) laid over it. The harness asks the daemon on `dir/docker.sock`: a link to the socket
/// the configuration declared.
fn dockerd_config(merged: &Path, dir: &Path, port: u16, work: &Path) -> PathBuf {
    let daemon_dir = work.join("web");
    let text = fs::read(merged).expect("read the merged daemon.json");
    let mut config: serde_json::Value = serde_json::from_slice(&text).expect("daemon.json is JSON");
    for (key, value) in [
        ("tlsverify", serde_json::json!(true)),
        (
            "tlscacert",
            serde_json::json!(daemon_dir.join("ca.pem").display().to_string()),
        ),
        (
            "tlscert",
            serde_json::json!(daemon_dir.join("server-cert.pem").display().to_string()),
        ),
        (
            "tlskey",
            serde_json::json!(daemon_dir.join("server-key.pem").display().to_string()),
        ),
        (
            "hosts",
            serde_json::json!([
                format!("unix://{}", work.join("docker.sock").display()),
                format!("tcp://127.0.0.1:{port}"),
                format!("tcp://127.0.0.2:{port}"),
            ]),
        ),
        ("log-level", serde_json::json!("warn")),
    ] {
        assert_eq!(
            config[key], value,
            "the merged daemon.json's {key}: {config}"
        );
    }
    let object = config.as_object_mut().expect("an object");
    for (k, v) in support::private_settings(dir).as_object().expect("object") {
        object.insert(k.clone(), v.clone());
    }
    std::os::unix::fs::symlink(work.join("docker.sock"), dir.join("docker.sock"))
        .expect("link the harness's socket path to the declared one");
    let file = dir.join("dockerd.json");
    fs::write(&file, serde_json::to_vec_pretty(&config).unwrap()).expect("write dockerd.json");
    file
}

/// Whether `run` reached the daemon: exit 0 and the daemon's version in a Server section.
fn reached(run: &Run, version: &str) -> bool {
    run.success && run.stdout.contains("Server:") && run.stdout.contains(version)
}

/// `docker --context web version` with `DOCKER_CONFIG=docker_config`.
fn docker_context(dockerd: &Dockerd, docker_config: &Path) -> Run {
    let mut cmd = dockerd.docker_command(None, &["--context", "web", "version"]);
    cmd.env("DOCKER_CONFIG", docker_config);
    support::run(cmd, b"")
}

/// `docker --tlsverify -H HOST version` with the client layout as `DOCKER_CERT_PATH`.
fn docker_tls(dockerd: &Dockerd, client: &Path, host: &str) -> Run {
    dockerd.docker(Some(client), &["--tlsverify", "-H", host, "version"])
}

#[test]
fn apply_provisions_dockerd_and_a_context_and_an_added_san_is_one_reissue_served_after_restart() {
    let name =
        "apply_provisions_dockerd_and_a_context_and_an_added_san_is_one_reissue_served_after_restart";
    let Some(tools) = prerequisites(name) else {
        return;
    };
    let work = tempfile::Builder::new()
        .prefix("dpk-conv-")
        .tempdir_in("/tmp")
        .expect("tempdir under /tmp");
    let w = work.path();
    let state = w.join("state");
    let (daemon_dir, client_dir) = (w.join("web"), w.join("ci"));
    let file = w.join("dockpki.toml");
    let merged = w.join("daemon.json");
    // A daemon.json of the operator's, whose key the merge must keep.
    fs::write(&merged, "{\n  \"log-level\": \"warn\"\n}\n").unwrap();
    let port = support::free_port(false);
    let (st, cf) = (state.to_str().unwrap(), file.to_str().unwrap());

    fs::write(&file, config(w, port, &["localhost", "127.0.0.1"])).unwrap();
    let run = dockpki(&["--state", st, "plan", "-c", cf]);
    assert_eq!(run.code, Some(3), "plan before the first apply\n{run}");
    let run = dockpki(&["--state", st, "apply", "-c", cf, "--yes"]);
    assert!(run.success, "apply\n{run}");
    assert!(
        run.stdout
            .contains(&format!("restart dockerd using {}", daemon_dir.display())),
        "apply names the daemon to restart\n{run}"
    );
    let run = dockpki(&["--state", st, "plan", "-c", cf]);
    assert_eq!(run.code, Some(0), "plan right after apply is clean\n{run}");

    let start = || {
        Dockerd::start_from_config_on(&tools, Some(port), |dir, port| {
            dockerd_config(&merged, dir, port, w)
        })
        .unwrap_or_else(|log| panic!("dockerd refused the daemon.json apply merged:\n{log}"))
    };
    let dockerd = start();
    let version = dockerd.server_version();
    let run = docker_context(&dockerd, &client_dir);
    assert!(
        reached(&run, &version),
        "docker --context web version reaches dockerd with the context apply made\n{run}"
    );
    let second = format!("tcp://127.0.0.2:{port}");
    let run = docker_tls(&dockerd, &client_dir, &second);
    assert!(
        !run.success && run.all_output().contains("127.0.0.2"),
        "control: 127.0.0.2 is not among the served certificate's SANs yet\n{run}"
    );

    // One SAN more: exactly one re-issue, nothing else (the context and daemon.json stand).
    fs::write(
        &file,
        config(w, port, &["localhost", "127.0.0.1", "127.0.0.2"]),
    )
    .unwrap();
    let run = dockpki(&["--state", st, "plan", "-c", cf]);
    assert_eq!(run.code, Some(3), "plan after the SAN change\n{run}");
    let actions: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| !l.starts_with("note: ") && !l.contains("pending; run `"))
        .collect();
    assert!(
        actions.len() == 1
            && actions[0].starts_with("re-issue server \"web\"")
            && actions[0].contains("127.0.0.2"),
        "the plan is one re-issue\n{run}"
    );
    let run = dockpki(&["--state", st, "--json", "plan", "-c", cf]);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("plan --json");
    assert_eq!(doc["actions"].as_array().map(Vec::len), Some(1), "{doc}");
    assert_eq!(doc["actions"][0]["kind"], "re-issue", "{doc}");
    let run = dockpki(&["--state", st, "apply", "-c", cf, "--yes"]);
    assert!(
        run.success && run.stdout.contains("re-issue 1"),
        "apply of the re-issue\n{run}"
    );

    // dockerd reads its certificate only at start.
    drop(dockerd);
    let dockerd = start();
    let run = docker_tls(&dockerd, &client_dir, &second);
    assert!(
        reached(&run, &version),
        "after apply and a restart the new SAN 127.0.0.2 is served\n{run}"
    );
    let run = docker_context(&dockerd, &client_dir);
    assert!(
        reached(&run, &version),
        "docker --context web version still reaches dockerd\n{run}"
    );
    let run = dockpki(&["--state", st, "plan", "-c", cf]);
    assert_eq!(run.code, Some(0), "plan is clean at the end\n{run}");
}
