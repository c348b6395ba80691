//! `dockpki context create/update`: the files are exactly those `docker context create` writes
//! (compared with what the real docker CLI writes here), docker lists and uses them, refusals
//! write nothing, and every later update of the client layout (renew, CA rotation) reaches the
//! context's copies.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_success, json, mode, read, s, snapshot, stdout, Entry, Env};

/// The docker CLIs to compare with: 28 (`/usr/local/bin/docker`) and the Debian 20.10 one, or
/// `docker` on PATH. None found: the comparisons are skipped loudly, or fail under `CI=true`.
fn docker_clis(test: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = ["/usr/local/bin/docker", "/usr/bin/docker"]
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .collect();
    if found.is_empty() {
        if let Some(p) = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|d| d.join("docker"))
            .find(|p| p.is_file())
        {
            found.push(p);
        }
    }
    common::prerequisite(!found.is_empty(), &format!("the docker CLI ({test})"));
    found
}

/// The docker CLI with `DOCKER_CONFIG=config` and nothing else of the environment that would
/// redirect it.
fn docker(cli: &Path, config: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(cli);
    for var in [
        "DOCKER_HOST",
        "DOCKER_CONTEXT",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd
        .env("DOCKER_CONFIG", config)
        .args(args)
        .output()
        .expect("run docker");
    assert!(
        out.status.success(),
        "docker {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `dockpki --state STATE context ARGS` with `DOCKER_CONFIG=config`.
fn context(env: &Env, config: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = env.cmd();
    cmd.env("DOCKER_CONFIG", config).arg("context").args(args);
    cmd.output().expect("run dockpki")
}

/// A bootstrapped sandbox; returns (daemon dir, client dir).
/// `dockpki context create NAME --host tcp://127.0.0.1:2376 --client-dir CLIENT` for each name.
fn create_contexts(env: &Env, config: &Path, client: &Path, names: &[&str]) {
    for name in names {
        #[rustfmt::skip]
        assert_success(&context(env, config, &[
            "create", name, "--host", "tcp://127.0.0.1:2376", "--client-dir", s(client),
        ]));
    }
}

fn bootstrapped(env: &Env) -> (PathBuf, PathBuf) {
    let (daemon, client) = (env.path("daemon"), env.path("client"));
    env.bootstrap(&daemon, &client, &[]);
    (daemon, client)
}

/// Every entry under `root` by relative path: directories with their mode, files with mode
/// and contents (no times: the two trees are written at different instants).
fn tree(root: &Path) -> Vec<(PathBuf, u32, Option<Vec<u8>>)> {
    snapshot(root)
        .into_iter()
        .map(|(p, e)| {
            let rel = p.strip_prefix(root).expect("under root").to_path_buf();
            match e {
                Entry::Dir { mode, .. } => (rel, mode, None),
                Entry::File { mode, contents, .. } => (rel, mode, Some(contents)),
                Entry::Link { target, .. } => {
                    panic!("unexpected symlink {} -> {}", p.display(), target.display())
                }
                Entry::Special { kind, .. } => panic!("unexpected {kind} {}", p.display()),
            }
        })
        .collect()
}

/// sha256 hex of a context name, as docker names its directories.
fn id(name: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", "printf %s \"$1\" | sha256sum", "sh", name])
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)[..64].to_string()
}

fn tls_copy(config: &Path, name: &str, file: &str) -> PathBuf {
    config
        .join("contexts/tls")
        .join(id(name))
        .join("docker")
        .join(file)
}

fn meta(config: &Path, name: &str) -> PathBuf {
    config
        .join("contexts/meta")
        .join(id(name))
        .join("meta.json")
}

/// Asserts that the context's three copies hold exactly the client layout's files, mode 0600.
fn assert_copies_equal(config: &Path, name: &str, client: &Path, when: &str) {
    for file in ["ca.pem", "cert.pem", "key.pem"] {
        let copy = tls_copy(config, name, file);
        assert_eq!(
            read(&copy),
            read(&client.join(file)),
            "{when}: the context's {file} is not the client layout's"
        );
        assert_eq!(mode(&copy), 0o600, "{when}: mode of {}", copy.display());
    }
}

#[test]
fn context_files_and_modes_are_exactly_what_docker_context_create_writes() {
    let clis = docker_clis("context_files_and_modes_are_exactly_what_docker_context_create_writes");
    let env = Env::new();
    let (_, client) = bootstrapped(&env);
    let file = |f: &str| s(&client.join(f)).to_string();
    for cli in &clis {
        let tag = cli.display().to_string().replace('/', "_");
        for (name, description) in [("remote-a", Some("prod <eu> & co")), ("plain.b+1", None)] {
            let by_docker = env.path(&format!("by-docker{tag}-{name}"));
            let by_dockpki = env.path(&format!("by-dockpki{tag}-{name}"));
            let endpoint = format!(
                "host=tcp://docker.example.com:2376,ca={},cert={},key={}",
                file("ca.pem"),
                file("cert.pem"),
                file("key.pem")
            );
            let mut args = vec!["context", "create", name, "--docker", &endpoint];
            if let Some(d) = description {
                args.extend(["--description", d]);
            }
            docker(cli, &by_docker, &args);
            let mut args = vec![
                "create",
                name,
                "--host",
                "tcp://docker.example.com:2376",
                "--client-dir",
                s(&client),
            ];
            if let Some(d) = description {
                args.extend(["--description", d]);
            }
            assert_success(&context(&env, &by_dockpki, &args));
            assert_eq!(
                tree(&by_dockpki),
                tree(&by_docker),
                "{} and dockpki wrote different trees for {name:?}",
                cli.display()
            );
        }
    }
}

#[test]
fn docker_lists_inspects_and_uses_a_context_made_by_dockpki() {
    let clis = docker_clis("docker_lists_inspects_and_uses_a_context_made_by_dockpki");
    let env = Env::new();
    let (_, client) = bootstrapped(&env);
    let config = env.path("docker-config");
    #[rustfmt::skip]
    assert_success(&context(&env, &config, &[
        "create", "remote-a", "--host", "tcp://[::1]:2376", "--client-dir", s(&client),
        "--description", "the test daemon",
    ]));
    for cli in &clis {
        let out = docker(
            cli,
            &config,
            &["context", "ls", "--format", "{{.Name}} {{.Description}}"],
        );
        let listed = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            listed
                .lines()
                .any(|l| l.trim() == "remote-a the test daemon"),
            "{} context ls:\n{listed}",
            cli.display()
        );
        let out = docker(cli, &config, &["context", "inspect", "remote-a"]);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("inspect JSON");
        assert_eq!(doc[0]["Endpoints"]["docker"]["Host"], "tcp://[::1]:2376");
        assert_eq!(doc[0]["Endpoints"]["docker"]["SkipTLSVerify"], false);
        assert_eq!(
            doc[0]["TLSMaterial"]["docker"],
            serde_json::json!(["ca.pem", "cert.pem", "key.pem"]),
            "{} sees the TLS files",
            cli.display()
        );
    }
}

#[test]
fn context_create_refuses_a_context_docker_made_and_takes_it_over_with_force() {
    let clis =
        docker_clis("context_create_refuses_a_context_docker_made_and_takes_it_over_with_force");
    let Some(cli) = clis.first() else { return };
    let env = Env::new();
    let (_, client) = bootstrapped(&env);
    let config = env.path("docker-config");
    docker(
        cli,
        &config,
        &[
            "context",
            "create",
            "theirs",
            "--docker",
            "host=tcp://other.example:2376",
        ],
    );
    let mut cmd = env.cmd();
    #[rustfmt::skip]
    cmd.env("DOCKER_CONFIG", &config).args([
        "context", "create", "theirs", "--host", "tcp://docker.example.com:2376",
        "--client-dir", s(&client),
    ]);
    let line = env.assert_refused_cmd(cmd, "was not made by dockpki");
    assert!(line.contains("--force"), "{line}");

    #[rustfmt::skip]
    assert_success(&context(&env, &config, &[
        "create", "theirs", "--host", "tcp://docker.example.com:2376",
        "--client-dir", s(&client), "--force",
    ]));
    assert_copies_equal(&config, "theirs", &client, "after --force");
    let meta_text = fs::read_to_string(meta(&config, "theirs")).expect("meta.json");
    assert!(
        meta_text.contains("tcp://docker.example.com:2376"),
        "{meta_text}"
    );
    let inv = common::inventory(&env);
    assert_eq!(inv["contexts"][0]["name"], "theirs");
    assert_eq!(inv["contexts"][0]["client_dir"], s(&client));

    // Now it is dockpki's: a second create points at `context update` instead.
    let mut cmd = env.cmd();
    #[rustfmt::skip]
    cmd.env("DOCKER_CONFIG", &config).args([
        "context", "create", "theirs", "--host", "tcp://docker.example.com:2376",
        "--client-dir", s(&client),
    ]);
    env.assert_refused_cmd(cmd, &env.hint("context update theirs"));
}

#[test]
fn context_create_refuses_bad_names_hosts_and_client_dirs_writing_nothing() {
    let env = Env::new();
    let (daemon, client) = bootstrapped(&env);
    let config = env.path("docker-config");
    let good_host = "tcp://docker.example.com:2376";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["default", "--host", good_host], "reserved"),
        (
            vec!["_x", "--host", good_host],
            "not a valid docker context name",
        ),
        (
            vec!["a", "--host", good_host],
            "not a valid docker context name",
        ),
        (
            vec!["a/b", "--host", good_host],
            "not a valid docker context name",
        ),
        (
            vec!["ok1", "--host", "ssh://me@docker.example.com"],
            "uses ssh://",
        ),
        (
            vec!["ok1", "--host", "2001:db8::1"],
            "an IPv6 address goes in brackets",
        ),
        (
            vec!["ok1", "--host", "tcp://docker.example.com:0"],
            "no valid port",
        ),
    ];
    for (args, phrase) in cases {
        let mut cmd = env.cmd();
        cmd.env("DOCKER_CONFIG", &config)
            .args(["context", "create"])
            .args(&args)
            .args(["--client-dir", s(&client)]);
        env.assert_refused_cmd(cmd, phrase);
    }
    // A daemon layout is not a client layout: no cert.pem.
    let mut cmd = env.cmd();
    #[rustfmt::skip]
    cmd.env("DOCKER_CONFIG", &config).args([
        "context", "create", "ok1", "--host", good_host, "--client-dir", s(&daemon),
    ]);
    env.assert_refused_cmd(cmd, "cert.pem");
    // A key that is not the certificate's.
    let mixed = env.path("mixed");
    fs::create_dir(&mixed).expect("mkdir");
    fs::copy(client.join("ca.pem"), mixed.join("ca.pem")).expect("copy");
    fs::copy(client.join("cert.pem"), mixed.join("cert.pem")).expect("copy");
    fs::copy(daemon.join("server-key.pem"), mixed.join("key.pem")).expect("copy");
    let mut cmd = env.cmd();
    #[rustfmt::skip]
    cmd.env("DOCKER_CONFIG", &config).args([
        "context", "create", "ok1", "--host", good_host, "--client-dir", s(&mixed),
    ]);
    env.assert_refused_cmd(cmd, "does not belong to the certificate");
    // `update` of a context dockpki never made.
    let mut cmd = env.cmd();
    cmd.env("DOCKER_CONFIG", &config)
        .args(["context", "update", "nosuch"]);
    env.assert_refused_cmd(cmd, &env.hint("context create nosuch"));
}

#[test]
fn renew_every_ca_rotation_phase_and_abort_rewrite_the_context_copies() {
    let env = Env::new();
    let (_, client) = bootstrapped(&env);
    let config = env.path("docker-config");
    #[rustfmt::skip]
    assert_success(&context(&env, &config, &[
        "create", "remote-a", "--host", "tcp://127.0.0.1:2376", "--client-dir", s(&client),
    ]));
    assert_copies_equal(&config, "remote-a", &client, "after create");
    let before = read(&tls_copy(&config, "remote-a", "cert.pem"));

    env.ok(&["renew", "--all"]);
    assert_ne!(
        read(&tls_copy(&config, "remote-a", "cert.pem")),
        before,
        "renew changed the copy"
    );
    assert_copies_equal(&config, "remote-a", &client, "after renew --all");
    assert!(
        !fs::read_dir(
            tls_copy(&config, "remote-a", "ca.pem")
                .parent()
                .expect("dir")
        )
        .expect("read_dir")
        .any(|e| e
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .contains(".bak")),
        "no backups inside docker's context directory"
    );
    for phase in ["begin", "reissue", "finish"] {
        env.ok(&["ca", "rotate", phase]);
        assert_copies_equal(
            &config,
            "remote-a",
            &client,
            &format!("after rotate {phase}"),
        );
    }
    // After finish the context trusts only the new CA, which is now the state's ca.pem.
    assert_eq!(
        read(&tls_copy(&config, "remote-a", "ca.pem")),
        read(&env.state().join("ca.pem"))
    );
    // An aborted rotation takes the context back to the old CA, certificate and all.
    for phase in ["begin", "reissue", "abort"] {
        env.ok(&["ca", "rotate", phase]);
        assert_copies_equal(
            &config,
            "remote-a",
            &client,
            &format!("after rotate {phase}"),
        );
    }
    assert_eq!(
        read(&tls_copy(&config, "remote-a", "ca.pem")),
        read(&env.state().join("ca.pem"))
    );
}

/// Every command that rewrites a client layout says which contexts it updated with it: one
/// line in its text (none for a layout no context copies, whose output is unchanged), and
/// `contexts_fed` in its JSON document.
#[test]
fn renew_issue_and_rotation_name_the_contexts_they_fed_in_text_and_json() {
    let env = Env::new();
    let (_, client) = bootstrapped(&env);
    let config = env.path("docker-config");
    create_contexts(&env, &config, &client, &["remote-a"]);
    let line = format!(
        "updated docker context \"remote-a\" in {} with the new files of {}",
        config.display(),
        client.display()
    );
    let out = stdout(&env.ok(&["renew", "--all"]));
    assert!(out.lines().any(|l| l == line), "{out}");
    let other = stdout(&env.issue_client("bob", &env.path("bob"), &[]));
    assert!(!other.contains("docker context"), "{other}");
    let out = stdout(&env.issue_client("alice", &client, &["--force"]));
    assert!(out.lines().any(|l| l == line), "{out}");
    assert!(stdout(&env.ok(&["-q", "renew", "--all"])).is_empty());

    let fed = serde_json::json!([{
        "name": "remote-a",
        "docker_config": config,
        "client_dir": client,
    }]);
    let doc = json(&env.ok(&["--json", "renew", "--all"]));
    assert_eq!(doc["contexts_fed"], fed, "{doc}");
    let doc = json(&env.ok(&["--json", "ca", "rotate", "begin"]));
    assert_eq!(doc["contexts_fed"], fed, "{doc}");
    let doc = json(&env.ok(&[
        "--json",
        "issue",
        "client",
        "--name",
        "carol",
        "--out",
        s(&env.path("carol")),
    ]));
    assert_eq!(doc["contexts_fed"], serde_json::json!([]), "{doc}");
}

#[test]
fn context_update_copies_the_client_layout_again_and_changes_the_host() {
    let env = Env::new();
    let (_, client) = bootstrapped(&env);
    let config = env.path("docker-config");
    #[rustfmt::skip]
    assert_success(&context(&env, &config, &[
        "create", "remote-a", "--host", "tcp://127.0.0.1:2376", "--client-dir", s(&client),
    ]));
    // Damage the context by hand, as `docker context update --docker host=...` would.
    fs::remove_file(tls_copy(&config, "remote-a", "key.pem")).expect("rm key copy");
    let out = context(
        &env,
        &config,
        &[
            "update",
            "remote-a",
            "--host",
            "tcp://docker2.example.com:2376",
        ],
    );
    assert_success(&out);
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(
        line.starts_with(
            "updated docker context \"remote-a\" for tcp://docker2.example.com:2376 from "
        ) && line.lines().count() == 1,
        "one line saying what was done: {line}"
    );
    assert_copies_equal(&config, "remote-a", &client, "after update");
    let meta_text = fs::read_to_string(meta(&config, "remote-a")).expect("meta.json");
    assert_eq!(
        meta_text,
        r#"{"Name":"remote-a","Metadata":{},"Endpoints":{"docker":{"Host":"tcp://docker2.example.com:2376","SkipTLSVerify":false}}}"#
    );
    assert_eq!(
        common::inventory(&env)["contexts"].as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn a_context_removed_by_docker_is_not_recreated_by_renew() {
    let env = Env::new();
    let (_, client) = bootstrapped(&env);
    let config = env.path("docker-config");
    #[rustfmt::skip]
    assert_success(&context(&env, &config, &[
        "create", "gone", "--host", "tcp://127.0.0.1:2376", "--client-dir", s(&client),
    ]));
    // What `docker context rm gone` does.
    fs::remove_dir_all(config.join("contexts/meta").join(id("gone"))).expect("rm meta");
    fs::remove_dir_all(config.join("contexts/tls").join(id("gone"))).expect("rm tls");
    env.ok(&["renew", "--all"]);
    assert!(!config.join("contexts/tls").join(id("gone")).exists());
    assert!(!config.join("contexts/meta").join(id("gone")).exists());
}

#[test]
fn context_create_json_reports_the_record_and_warns_about_untracked_dirs() {
    let env = Env::new();
    bootstrapped(&env);
    let copy = env.path("copy");
    env.issue_client("bob", &copy, &[]);
    // A hand-made copy of bob's directory: dockpki never installed anything there.
    let handmade = env.path("handmade");
    fs::create_dir(&handmade).expect("mkdir");
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        fs::copy(copy.join(f), handmade.join(f)).expect("copy");
    }
    let config = env.path("docker-config");
    let mut cmd = env.cmd();
    #[rustfmt::skip]
    cmd.env("DOCKER_CONFIG", &config).args([
        "--json", "context", "create", "bob", "--host", "tcp://127.0.0.1:2376",
        "--client-dir", s(&handmade),
    ]);
    let out = cmd.output().expect("run");
    assert_success(&out);
    let doc = json(&out);
    assert_eq!(doc["context"]["name"], "bob");
    assert_eq!(doc["tracked"], false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning:") && stderr.contains("not a client layout dockpki installed"),
        "{stderr}"
    );
}

#[test]
fn renew_aborted_before_every_rename_leaves_the_context_equal_to_the_layout_after_recovery() {
    if !common::fault_injection() {
        return;
    }
    use std::os::unix::process::ExitStatusExt;
    let mut aborted = 0;
    for n in 0.. {
        let env = Env::new();
        let (_, client) = bootstrapped(&env);
        let config = env.path("docker-config");
        #[rustfmt::skip]
        assert_success(&context(&env, &config, &[
            "create", "remote-a", "--host", "tcp://127.0.0.1:2376", "--client-dir", s(&client),
        ]));
        let old = read(&tls_copy(&config, "remote-a", "cert.pem"));
        let out = env
            .cmd()
            .args(["renew", "--all"])
            .env("DOCKPKI_TEST_ABORT_AFTER_MOVES", n.to_string())
            .output()
            .expect("run");
        if out.status.success() {
            break;
        }
        assert_eq!(out.status.signal(), Some(6), "n={n}: {out:?}");
        aborted += 1;
        // Any command completes the journal: the copies and the layout move together.
        env.ok(&["status"]);
        assert_copies_equal(
            &config,
            "remote-a",
            &client,
            &format!("abort before move {n}"),
        );
        assert_ne!(
            read(&tls_copy(&config, "remote-a", "cert.pem")),
            old,
            "n={n}"
        );
        assert!(n < 50, "renew never finished");
    }
    // server cert and key, client cert and key, their two context copies, the inventory.
    assert_eq!(aborted, 7, "every rename was interrupted once");
}

#[test]
fn without_options_the_context_copies_home_docker_into_home_docker_contexts() {
    let env = Env::new();
    // The real-world default: bootstrap's client layout is ~/.docker, and so is DOCKER_CONFIG.
    env.ok(&[
        "bootstrap",
        "--san",
        "localhost",
        "--daemon-dir",
        s(&env.path("daemon")),
    ]);
    let docker_dir = env.home().join(".docker");
    let out = env.ok(&[
        "--json",
        "context",
        "create",
        "remote-a",
        "--host",
        "tcp://localhost:2376",
    ]);
    let doc = json(&out);
    assert_eq!(doc["tracked"], true, "{doc}");
    assert_eq!(doc["context"]["client_dir"], s(&docker_dir));
    assert_eq!(doc["context"]["docker_config"], s(&docker_dir));
    assert!(out.stderr.is_empty(), "no warning for a tracked layout");
    assert_copies_equal(&docker_dir, "remote-a", &docker_dir, "after create");
    env.ok(&["renew", "--all"]);
    assert_copies_equal(&docker_dir, "remote-a", &docker_dir, "after renew");
}

/// `docs/contexts.md` promises that a context removed with `docker context rm` is not
/// recreated: `context update` used to recreate it silently. Now it refuses, says why, writes
/// nothing, and `context create` (as the advice says) makes it again.
#[test]
fn context_update_does_not_recreate_a_context_docker_removed() {
    let clis = docker_clis("context_update_does_not_recreate_a_context_docker_removed");
    let Some(cli) = clis.first() else { return };
    let env = Env::new();
    let (_, client) = bootstrapped(&env);
    let config = env.path("docker-config");
    #[rustfmt::skip]
    assert_success(&context(&env, &config, &[
        "create", "gone", "--host", "tcp://127.0.0.1:2376", "--client-dir", s(&client),
    ]));
    docker(cli, &config, &["context", "rm", "gone"]);
    let before = snapshot(env.root());
    let mut cmd = env.cmd();
    cmd.env("DOCKER_CONFIG", &config)
        .args(["context", "update", "gone"]);
    let line = env.assert_refused_cmd(cmd, "was removed");
    assert!(line.contains("does not recreate it"), "{line}");
    assert!(line.contains(&env.hint("context create gone")), "{line}");
    common::assert_unchanged(
        &before,
        &snapshot(env.root()),
        "update of a removed context",
    );
    let listed = docker(cli, &config, &["context", "ls", "--format", "{{.Name}}"]);
    assert!(
        !String::from_utf8_lossy(&listed.stdout)
            .lines()
            .any(|l| l == "gone"),
        "docker lists it again"
    );
}

/// `context ls` lists what dockpki made and how it stands: present with matching files,
/// present with files that differ (named), removed by docker.
#[test]
fn context_ls_shows_present_removed_and_differing_contexts() {
    let clis = docker_clis("context_ls_shows_present_removed_and_differing_contexts");
    let Some(cli) = clis.first() else { return };
    let env = Env::new();
    let (_, client) = bootstrapped(&env);
    let config = env.path("docker-config");
    create_contexts(&env, &config, &client, &["ok-one", "changed", "gone"]);
    // docker changes one endpoint (keeping its TLS files) and removes another.
    docker(
        cli,
        &config,
        &[
            "context",
            "update",
            "changed",
            "--description",
            "edited by docker",
        ],
    );
    docker(cli, &config, &["context", "rm", "gone"]);

    let out = context(&env, &config, &["ls"]);
    assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{name}  ")))
            .unwrap_or_else(|| panic!("{name} not listed:\n{text}"))
            .to_string()
    };
    assert!(line("ok-one").contains("present, files match"), "{text}");
    assert!(
        line("changed").contains("present, files differ: meta.json"),
        "{text}"
    );
    assert!(line("gone").contains("removed"), "{text}");
    assert_eq!(text.lines().count(), 3, "{text}");

    let v = json(&context(&env, &config, &["ls", "--json"]));
    let by_name = |name: &str| {
        v["contexts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["record"]["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name}: {v}"))
    };
    assert_eq!(by_name("ok-one")["presence"], "present");
    assert_eq!(by_name("ok-one")["files"]["state"], "match");
    assert_eq!(
        by_name("changed")["files"],
        serde_json::json!({"state": "differ", "files": ["meta.json"]})
    );
    assert_eq!(by_name("gone")["presence"], "removed");
    assert!(by_name("gone")["files"].is_null());

    // A client copy replaced behind dockpki's back is named too.
    fs::write(
        tls_copy(&config, "ok-one", "cert.pem"),
        "not the layout's\n",
    )
    .unwrap();
    let text = String::from_utf8_lossy(&context(&env, &config, &["ls"]).stdout).into_owned();
    assert!(
        text.lines()
            .any(|l| l.starts_with("ok-one  ") && l.contains("files differ: cert.pem")),
        "{text}"
    );
}

/// `context rm` removes exactly what `docker context rm` would (docker no longer lists it,
/// nothing of it is left in DOCKER_CONFIG) and the record; renewals then leave it alone.
#[test]
fn context_rm_removes_the_docker_context_and_its_record() {
    let clis = docker_clis("context_rm_removes_the_docker_context_and_its_record");
    let Some(cli) = clis.first() else { return };
    let env = Env::new();
    let (_, client) = bootstrapped(&env);
    let config = env.path("docker-config");
    create_contexts(&env, &config, &client, &["keep", "drop"]);
    let out = context(&env, &config, &["rm", "drop"]);
    assert_success(&out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "removed the docker context \"drop\" from {}\n",
            config.display()
        )
    );
    assert!(!config.join("contexts/meta").join(id("drop")).exists());
    assert!(!config.join("contexts/tls").join(id("drop")).exists());
    assert!(config.join("contexts/meta").join(id("keep")).exists());
    let listed = docker(cli, &config, &["context", "ls", "--format", "{{.Name}}"]);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(!listed.lines().any(|l| l == "drop"), "{listed}");
    assert!(listed.lines().any(|l| l == "keep"), "{listed}");
    let contexts = common::inventory(&env)["contexts"].clone();
    assert_eq!(contexts.as_array().map(Vec::len), Some(1), "{contexts}");
    assert_eq!(contexts[0]["name"], "keep");
    env.ok(&["renew", "--all"]);
    assert!(!config.join("contexts/tls").join(id("drop")).exists());

    // A second rm: nothing of that name any more.
    let mut cmd = env.cmd();
    cmd.env("DOCKER_CONFIG", &config)
        .args(["context", "rm", "drop"]);
    env.assert_refused_cmd(cmd, "there is no docker context \"drop\"");
}

/// A context docker removed is only a record: `rm` forgets it.
#[test]
fn context_rm_forgets_a_context_docker_removed_already() {
    let clis = docker_clis("context_rm_forgets_a_context_docker_removed_already");
    let Some(cli) = clis.first() else { return };
    let env = Env::new();
    let (_, client) = bootstrapped(&env);
    let config = env.path("docker-config");
    #[rustfmt::skip]
    assert_success(&context(&env, &config, &[
        "create", "gone", "--host", "tcp://127.0.0.1:2376", "--client-dir", s(&client),
    ]));
    docker(cli, &config, &["context", "rm", "gone"]);
    let out = context(&env, &config, &["rm", "gone"]);
    assert_success(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("forgot the docker context \"gone\""),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // An inventory without contexts leaves the key out.
    assert_eq!(
        common::inventory(&env)["contexts"]
            .as_array()
            .map_or(0, Vec::len),
        0
    );
}

/// A context docker made is refused without --force (nothing changes), removed with it; the
/// current context is refused even with --force; an unexpected file stops the removal before
/// anything is removed; a link in docker's tree is never followed.
#[test]
fn context_rm_refuses_what_dockpki_did_not_make_the_current_context_and_strange_trees() {
    let clis = docker_clis(
        "context_rm_refuses_what_dockpki_did_not_make_the_current_context_and_strange_trees",
    );
    let Some(cli) = clis.first() else { return };
    let env = Env::new();
    let (_, client) = bootstrapped(&env);
    let config = env.path("docker-config");
    docker(
        cli,
        &config,
        &[
            "context",
            "create",
            "theirs",
            "--docker",
            "host=tcp://other.example:2376",
        ],
    );
    let refuse = |args: &[&str], phrase: &str| {
        let before = snapshot(env.root());
        let mut cmd = env.cmd();
        cmd.env("DOCKER_CONFIG", &config).arg("context").args(args);
        let line = env.assert_refused_cmd(cmd, phrase);
        common::assert_unchanged(&before, &snapshot(env.root()), phrase);
        line
    };
    let line = refuse(&["rm", "theirs"], "was not made by dockpki");
    assert!(line.contains("--force"), "{line}");
    assert!(line.contains("docker context rm theirs"), "{line}");

    docker(cli, &config, &["context", "use", "theirs"]);
    refuse(&["rm", "theirs", "--force"], "docker's current context");
    docker(cli, &config, &["context", "use", "default"]);
    assert_success(&context(&env, &config, &["rm", "theirs", "--force"]));
    let listed = docker(cli, &config, &["context", "ls", "--format", "{{.Name}}"]);
    assert!(
        !String::from_utf8_lossy(&listed.stdout)
            .lines()
            .any(|l| l == "theirs"),
        "still listed"
    );

    #[rustfmt::skip]
    assert_success(&context(&env, &config, &[
        "create", "mine", "--host", "tcp://127.0.0.1:2376", "--client-dir", s(&client),
    ]));
    let stray = tls_copy(&config, "mine", "notes.txt");
    fs::write(&stray, "mine\n").unwrap();
    refuse(&["rm", "mine"], "notes.txt is not a file a docker context");
    fs::remove_file(&stray).unwrap();
    // The TLS directory swapped for a link to a directory of files of the same names.
    let elsewhere = env.path("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        fs::write(elsewhere.join(f), "precious\n").unwrap();
    }
    let docker_dir = tls_copy(&config, "mine", "ca.pem")
        .parent()
        .unwrap()
        .to_path_buf();
    fs::remove_dir_all(&docker_dir).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &docker_dir).unwrap();
    refuse(&["rm", "mine"], "is not a directory (a link or a file)");
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        assert_eq!(fs::read_to_string(elsewhere.join(f)).unwrap(), "precious\n");
    }
}
