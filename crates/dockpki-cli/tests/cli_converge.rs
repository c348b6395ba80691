//! `dockpki plan` and `dockpki apply` through the binary: the round trips of issue 13 (apply,
//! then a clean plan and an apply that writes nothing; a changed SAN list planned as exactly one
//! re-issue; a removed client revoked; what apply issued seen by `status` and renewed by
//! `renew`), the configuration file's discovery, consent (`--yes`, the terminal question, the
//! refusal without a terminal), malformed files refused with `FILE:LINE:COL` and nothing
//! touched, and apply interrupted before every rename, or killed at random instants, completed
//! by the next apply.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use common::{assert_success, json, read, s, snapshot, stdout, Env};
use serde_json::Value;

/// A sandbox with a configuration file `root/dockpki.toml` naming layouts in the sandbox.
struct Pki {
    env: Env,
}

/// One `[[server]]`.
struct Server<'a> {
    name: &'a str,
    sans: &'a [&'a str],
    /// `daemon_config = { file = root/NAME.json }`.
    daemon_config: bool,
}

/// One `[[client]]`; `context`: a context of that name for tcp://127.0.0.1:2376.
struct Client<'a> {
    name: &'a str,
    context: Option<&'a str>,
}

impl Pki {
    fn new() -> Pki {
        Pki { env: Env::new() }
    }

    fn config(&self) -> PathBuf {
        self.env.path("dockpki.toml")
    }

    /// Where an entry named `name` is installed: `root/NAME`.
    fn install(&self, name: &str) -> PathBuf {
        self.env.path(name)
    }

    /// The text of a file declaring `servers` and `clients` (and `extra` after `[ca]`).
    fn text(&self, extra: &str, servers: &[Server], clients: &[Client]) -> String {
        let mut t = format!("[ca]\n{extra}\n");
        for sv in servers {
            let sans: Vec<String> = sv.sans.iter().map(|x| format!("{x:?}")).collect();
            t.push_str(&format!(
                "[[server]]\nname = {:?}\nsans = [{}]\ninstall = {:?}\n",
                sv.name,
                sans.join(", "),
                s(&self.install(sv.name))
            ));
            if sv.daemon_config {
                t.push_str(&format!(
                    "daemon_config = {{ file = {:?} }}\n",
                    s(&self.env.path(&format!("{}.json", sv.name)))
                ));
            }
            t.push('\n');
        }
        for c in clients {
            t.push_str(&format!(
                "[[client]]\nname = {:?}\ninstall = {:?}\n",
                c.name,
                s(&self.install(c.name))
            ));
            if let Some(ctx) = c.context {
                t.push_str(&format!(
                    "context = {{ name = {ctx:?}, host = \"tcp://127.0.0.1:2376\" }}\n"
                ));
            }
            t.push('\n');
        }
        t
    }

    fn write(&self, text: &str) {
        std::fs::write(self.config(), text).unwrap();
    }

    /// `dockpki --state STATE plan -c CONFIG extra...`.
    fn plan(&self, extra: &[&str]) -> Output {
        let config = self.config();
        let mut args = vec!["plan", "-c", s(&config)];
        args.extend_from_slice(extra);
        self.env.run(&args)
    }

    /// `plan --json`: the exit code and the document.
    fn plan_json(&self) -> (i32, Value) {
        let out = self.env.run(&["--json", "plan", "-c", s(&self.config())]);
        (out.status.code().unwrap_or(-1), json(&out))
    }

    /// `apply -c CONFIG --yes extra...`, which must succeed.
    fn apply(&self, extra: &[&str]) -> Output {
        let config = self.config();
        let mut args = vec!["apply", "-c", s(&config), "--yes"];
        args.extend_from_slice(extra);
        self.env.ok(&args)
    }

    /// `plan` exits 0 and says there is nothing to do.
    fn assert_clean(&self, what: &str) {
        let out = self.plan(&[]);
        assert_eq!(out.status.code(), Some(0), "{what}: {out:?}");
        let text = stdout(&out);
        assert_eq!(text.lines().count(), 1, "{what}: {text}");
        assert!(text.starts_with("nothing to do"), "{what}: {text}");
    }
}

/// The first words of each action line of a text plan (`re-issue server "web"`), the summary
/// and notes left out.
fn action_lines(out: &Output) -> Vec<String> {
    stdout(out)
        .lines()
        .filter(|l| !l.starts_with("note: ") && !l.contains("pending; run `"))
        .map(str::to_string)
        .collect()
}

/// The `kind`s of a JSON plan's actions, with their targets' names.
fn kinds(doc: &Value) -> Vec<(String, String)> {
    doc["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            (
                a["kind"].as_str().unwrap().to_string(),
                a["target"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

const WEB: Server = Server {
    name: "web",
    sans: &["localhost", "127.0.0.1"],
    daemon_config: true,
};
const CI: Client = Client {
    name: "ci",
    context: Some("remote-web"),
};
const BOB: Client = Client {
    name: "bob",
    context: None,
};

#[test]
fn plan_on_a_missing_state_lists_everything_to_create_and_creates_nothing() {
    let pki = Pki::new();
    pki.write(&pki.text("", &[WEB], &[CI]));
    let before = snapshot(pki.env.root());
    let out = pki.plan(&[]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    common::assert_unchanged(&before, &snapshot(pki.env.root()), "plan");
    assert!(!pki.env.state().exists());
    let lines = action_lines(&out);
    assert!(
        lines[0].starts_with("create-ca ca in ") && lines[0].contains(s(&pki.env.state())),
        "the CA is created in the state directory: {lines:?}"
    );
    let text = stdout(&out);
    assert!(text.contains("issue server \"web\""), "{text}");
    assert!(text.contains("issue client \"ci\""), "{text}");
    assert!(text.contains("create-context"), "{text}");
    assert!(text.contains("merge-daemon-config"), "{text}");
    let summary = text.lines().last().unwrap();
    assert!(
        summary.contains("changes pending; run `")
            && summary.contains(&pki.env.hint(&format!("apply -c {}", s(&pki.config())))),
        "the summary names apply with the state and the file: {summary}"
    );
    let (code, doc) = pki.plan_json();
    assert_eq!(code, 3);
    assert_eq!(doc["ok"], false);
    assert_eq!(kinds(&doc)[0].0, "create-ca");
    assert_eq!(doc["actions"][0]["target"]["install"], s(&pki.env.state()));
    common::assert_unchanged(&before, &snapshot(pki.env.root()), "plan --json");
}

#[test]
fn apply_converges_then_plan_is_clean_and_a_second_apply_writes_nothing() {
    let pki = Pki::new();
    pki.write(&pki.text("", &[WEB], &[CI, BOB]));
    let out = pki.apply(&[]);
    let text = stdout(&out);
    assert!(
        text.lines().next().unwrap().starts_with("applied ")
            && text.contains("create-ca 1")
            && text.contains("issue 3"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{}", pki.install("web").display())),
        "names the daemon to restart: {text}"
    );
    for (dir, files) in [
        ("web", ["ca.pem", "server-cert.pem", "server-key.pem"]),
        ("ci", ["ca.pem", "cert.pem", "key.pem"]),
        ("bob", ["ca.pem", "cert.pem", "key.pem"]),
    ] {
        for f in files {
            assert!(pki.install(dir).join(f).is_file(), "{dir}/{f}");
        }
    }
    let key_mode = common::mode(&pki.install("web").join("server-key.pem"));
    assert_eq!(
        key_mode & 0o077,
        0,
        "a private key is readable by its owner only"
    );
    let daemon_json: Value = serde_json::from_slice(&read(&pki.env.path("web.json"))).unwrap();
    assert_eq!(daemon_json["tlsverify"], true, "{daemon_json}");
    let verify = pki.env.run(&[
        "verify",
        "--daemon-dir",
        s(&pki.install("web")),
        "--client-dir",
        s(&pki.install("ci")),
        "--check-name",
        "127.0.0.1",
    ]);
    assert_success(&verify);
    common::assert_openssl_accepts(
        &pki.install("ci").join("ca.pem"),
        &pki.install("web").join("server-cert.pem"),
        "sslserver",
    );

    pki.assert_clean("after apply");
    let before = snapshot(pki.env.root());
    let out = pki.apply(&[]);
    assert_eq!(stdout(&out).lines().count(), 1, "{out:?}");
    assert!(stdout(&out).starts_with("nothing to do"), "{out:?}");
    common::assert_unchanged(&before, &snapshot(pki.env.root()), "the second apply");
    // Without --yes too: an empty plan needs no consent.
    let out = pki.env.ok(&["apply", "-c", s(&pki.config())]);
    assert!(stdout(&out).starts_with("nothing to do"), "{out:?}");
    common::assert_unchanged(&before, &snapshot(pki.env.root()), "apply without --yes");
}

#[test]
fn a_changed_san_list_is_planned_as_exactly_one_reissue_in_text_and_json() {
    let pki = Pki::new();
    pki.write(&pki.text("", &[WEB], &[CI]));
    pki.apply(&[]);
    let old = read(&pki.install("web").join("server-cert.pem"));
    let web2 = Server {
        sans: &["localhost", "127.0.0.1", "127.0.0.2"],
        ..WEB
    };
    pki.write(&pki.text("", &[web2], &[CI]));
    let before = snapshot(pki.env.root());
    let out = pki.plan(&[]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let lines = action_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("re-issue server \"web\"") && lines[0].contains("127.0.0.2"),
        "{lines:?}"
    );
    assert!(stdout(&out).contains("1 change pending"), "{out:?}");
    let (code, doc) = pki.plan_json();
    assert_eq!(code, 3);
    assert_eq!(kinds(&doc), [("re-issue".to_string(), "web".to_string())]);
    assert_eq!(doc["actions"][0]["reason"]["reason"], "changed", "{doc}");
    assert_eq!(doc["actions"][0]["text"], lines[0].as_str());
    common::assert_unchanged(&before, &snapshot(pki.env.root()), "plan");

    let out = pki.apply(&[]);
    assert!(stdout(&out).contains("re-issue 1"), "{out:?}");
    let cert = pki.install("web").join("server-cert.pem");
    assert_ne!(read(&cert), old);
    let sans = common::openssl_x509(&cert, &["-ext", "subjectAltName"]);
    assert!(sans.contains("IP Address:127.0.0.2"), "{sans}");
    pki.assert_clean("after the re-issue");
}

#[test]
fn a_removed_client_is_revoked_with_its_files_left_in_place() {
    let pki = Pki::new();
    pki.write(&pki.text("", &[WEB], &[CI, BOB]));
    pki.apply(&[]);
    pki.write(&pki.text("", &[WEB], &[CI]));
    let out = pki.plan(&[]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let lines = action_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("revoke client \"bob\"") && lines[0].contains("left in place"),
        "{lines:?}"
    );
    pki.apply(&[]);
    let inventory = common::inventory(&pki.env);
    let bob: Vec<&Value> = inventory["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["common_name"] == "bob")
        .collect();
    assert_eq!(bob.len(), 1);
    assert_eq!(bob[0]["status"], "revoked");
    assert!(pki.install("bob").join("cert.pem").is_file(), "files kept");
    pki.assert_clean("after the revoke");
}

#[test]
fn status_shows_what_apply_issued_and_after_a_manual_renew_the_plan_is_clean() {
    let pki = Pki::new();
    pki.write(&pki.text("", &[WEB], &[CI]));
    pki.apply(&[]);
    let status = pki.env.ok(&["--json", "status"]);
    let doc = json(&status);
    let mut names: Vec<&str> = doc["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["common_name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["ci", "web"]);
    pki.env.ok(&["renew", "--all"]);
    pki.assert_clean("after renew --all");

    // Aged past the renewal point: plan renews both, apply does it, plan is clean again.
    // The server (1y) with 25 days left, the client (90d) with 20.
    common::age_certificates(&pki.env, "server", 340);
    common::age_certificates(&pki.env, "client", 70);
    let (code, doc) = pki.plan_json();
    assert_eq!(code, 3, "{doc}");
    assert_eq!(
        kinds(&doc),
        [
            ("renew".to_string(), "web".to_string()),
            ("renew".to_string(), "ci".to_string())
        ]
    );
    pki.apply(&[]);
    pki.assert_clean("after apply renewed");
    pki.env.ok(&["renew"]);
    pki.assert_clean("after renew found nothing due");
}

#[test]
fn without_c_dockpki_toml_in_the_working_directory_then_the_xdg_file_is_read() {
    let pki = Pki::new();
    let text = pki.text("", &[], &[BOB]);
    // ./dockpki.toml: the sandbox root is the working directory.
    pki.write(&text);
    let out = pki.env.run(&["plan"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        stdout(&out).contains(&format!("apply -c {}", s(&pki.config()))),
        "{out:?}"
    );
    // $XDG_CONFIG_HOME/dockpki/config.toml when there is no ./dockpki.toml.
    std::fs::remove_file(pki.config()).unwrap();
    let xdg = pki.env.path("xdg");
    std::fs::create_dir_all(xdg.join("dockpki")).unwrap();
    let user = xdg.join("dockpki/config.toml");
    std::fs::write(&user, &text).unwrap();
    let out = pki
        .env
        .cmd()
        .arg("plan")
        .env("XDG_CONFIG_HOME", &xdg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(stdout(&out).contains(s(&user)), "{out:?}");
    // ~/.config/dockpki/config.toml without XDG_CONFIG_HOME.
    let home_config = pki.env.home().join(".config/dockpki");
    std::fs::create_dir_all(&home_config).unwrap();
    std::fs::rename(&user, home_config.join("config.toml")).unwrap();
    let out = pki.env.run(&["plan"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        stdout(&out).contains(s(&home_config.join("config.toml"))),
        "{out:?}"
    );
}

#[test]
fn no_configuration_file_is_one_error_naming_both_places_and_c() {
    let pki = Pki::new();
    for command in ["plan", "apply"] {
        let line = pki.env.assert_refused(&[command], "no configuration file");
        assert!(
            line.contains(s(&pki.config()))
                && line.contains(s(&pki.env.home().join(".config/dockpki/config.toml")))
                && line.contains("-c FILE"),
            "{line}"
        );
    }
}

#[test]
fn apply_without_a_terminal_and_without_yes_refuses_and_changes_nothing() {
    let pki = Pki::new();
    pki.write(&pki.text("", &[WEB], &[CI]));
    let line = pki
        .env
        .assert_refused(&["apply", "-c", s(&pki.config())], "pass --yes");
    assert!(
        line.contains(
            &pki.env
                .hint(&format!("apply -c {} --yes", s(&pki.config())))
        ),
        "{line}"
    );
    assert!(!pki.env.state().exists());
}

#[test]
fn on_a_terminal_apply_shows_the_plan_and_applies_only_after_yes() {
    let pki = Pki::new();
    pki.write(&pki.text("", &[], &[BOB]));
    let args = format!("apply -c {}", s(&pki.config()));
    let before = snapshot(pki.env.root());
    let Some((ok, shown)) = common::on_terminal(&pki.env, &args, &["n"]) else {
        // Panics under CI=true; elsewhere a loud SKIPPED line.
        common::prerequisite(false, "util-linux `script` for a pseudo-terminal");
        return;
    };
    assert!(!ok, "{shown}");
    assert!(
        shown.contains("issue client \"bob\"") && shown.contains("Apply these 2 changes? [y/N]"),
        "{shown}"
    );
    assert!(shown.contains("not applied"), "{shown}");
    common::assert_unchanged(&before, &snapshot(pki.env.root()), "apply answered n");

    let (ok, shown) = common::on_terminal(&pki.env, &args, &["yes"]).unwrap();
    assert!(ok, "{shown}");
    assert!(shown.contains("applied 2 changes"), "{shown}");
    assert!(pki.install("bob").join("cert.pem").is_file());
    pki.assert_clean("after yes");
}

/// Malformed files through the binary: exit 1, one line naming FILE:LINE:COL, and neither the
/// state nor anything else in the sandbox touched, by plan or apply, on a fresh sandbox and on
/// one apply already converged.
#[test]
fn malformed_configurations_are_one_line_naming_file_line_and_column_and_touch_nothing() {
    let cases: &[(&str, &str, &str)] = &[
        ("[ca]\nvalidty = \"10y\"\n", ":2:1:", "unknown field"),
        (
            "[ca]\n[[server]]\nname = \"a\"\nsans = []\ninstall = \"/srv/a\"\n",
            ":4:8:",
            "",
        ),
        (
            "[ca]\n[[client]]\nname = \"a\"\ninstall = \"relative/dir\"\n",
            ":4:11:",
            "",
        ),
        (
            "[ca]\n[[client]]\nname = \"a\"\ninstall = \"/srv/a\"\nvalidity = \"90\"\n",
            ":5:12:",
            "",
        ),
        ("[ca]\nkey_type = \"dsa\"\n", ":2:12:", ""),
        ("[ca\n", ":1:", ""),
    ];
    for converged in [false, true] {
        let pki = Pki::new();
        if converged {
            pki.write(&pki.text("", &[], &[BOB]));
            pki.apply(&[]);
        }
        for (text, at, phrase) in cases {
            pki.write(text);
            let located = format!("{}{at}", s(&pki.config()));
            for args in [
                vec!["plan", "-c", s(&pki.config())],
                vec!["apply", "-c", s(&pki.config()), "--yes"],
            ] {
                let line = pki.env.assert_refused(&args, &located);
                assert!(line.contains(phrase), "{text:?}: {line}");
            }
        }
    }
}

/// apply aborted before each rename of its journaled update (the fault-injection hook), for
/// every rename: the next command completes the update, and then apply has nothing left to do
/// and plan is clean.
#[test]
fn apply_aborted_before_every_rename_is_completed_by_the_next_command() {
    if !common::fault_injection() {
        return;
    }
    let mut aborted = 0;
    for n in 0.. {
        let pki = Pki::new();
        // A converged state first, then a change that re-issues a server, issues another whose
        // daemon.json is merged, revokes a client and issues one with a docker context.
        pki.write(&pki.text("", &[WEB], &[CI, BOB]));
        pki.apply(&[]);
        let web2 = Server {
            sans: &["localhost", "127.0.0.1", "127.0.0.2"],
            ..WEB
        };
        let dave = Client {
            name: "dave",
            context: Some("remote-dave"),
        };
        let api = Server {
            name: "api",
            sans: &["127.0.0.3"],
            daemon_config: true,
        };
        pki.write(&pki.text("", &[web2, api], &[CI, dave]));
        let out = pki
            .env
            .cmd()
            .args(["apply", "-c", s(&pki.config()), "--yes"])
            .env("DOCKPKI_TEST_ABORT_AFTER_MOVES", n.to_string())
            .output()
            .unwrap();
        if out.status.success() {
            break;
        }
        assert_eq!(out.status.signal(), Some(6), "n={n}: {out:?}");
        assert!(pki.env.state().join("journal.json").exists(), "n={n}");
        aborted += 1;
        // The next apply completes the update (and whatever of the plan was not part of it
        // yet); then plan is clean.
        pki.apply(&[]);
        assert!(!pki.env.state().join("journal.json").exists(), "n={n}");
        pki.assert_clean(&format!("abort before move {n}"));
        let merged: Value = serde_json::from_slice(&read(&pki.env.path("api.json"))).unwrap();
        assert_eq!(merged["tlsverify"], true, "n={n}: {merged}");
        let verify = pki.env.run(&[
            "verify",
            "--daemon-dir",
            s(&pki.install("web")),
            "--client-dir",
            s(&pki.install("ci")),
            "--check-name",
            "127.0.0.2",
        ]);
        assert_success(&verify);
        assert!(n < 100, "apply never finished");
    }
    eprintln!("apply interrupted before each of its {aborted} renames");
    // web's certificate and key, api's and dave's three files each, dave's context (meta.json
    // and three TLS copies), the inventory and declared.json. api's daemon.json is merged after
    // that update, through its own journal next to it (the hook counts the renames of one
    // update, so that one is not interrupted here: the random kills below reach it).
    assert!(aborted >= 14, "only {aborted} renames were interrupted");
}

/// apply killed (SIGKILL) at random instants while it re-issues two servers, merges a
/// daemon.json and issues or revokes a client with a docker context, back and forth between two
/// configurations: the next apply always completes it, then plan is clean and the layouts
/// verify.
#[test]
fn apply_killed_at_random_instants_is_always_completed_by_the_next_apply() {
    const MIN_ITERATIONS: usize = 50;
    const MAX_ITERATIONS: usize = 100;
    const BUDGET: Duration = Duration::from_secs(40);
    let pki = Pki::new();
    let api = Server {
        name: "api",
        sans: &["127.0.0.3"],
        daemon_config: true,
    };
    let (web2, api2) = (
        Server {
            sans: &["localhost", "127.0.0.1", "127.0.0.2"],
            ..WEB
        },
        Server {
            sans: &["127.0.0.3", "127.0.0.4"],
            ..api
        },
    );
    let dave = Client {
        name: "dave",
        context: Some("remote-dave"),
    };
    let configs = [
        pki.text("", &[WEB, api], &[CI]),
        pki.text("", &[web2, api2], &[CI, dave]),
    ];
    let api_json = pki.env.path("api.json");
    let config = pki.config();
    let args = ["apply", "-c", s(&config), "--yes"];
    // One change of configuration: the file, and the daemon.json to merge again.
    let switch = |i: usize| {
        pki.write(&configs[i % 2]);
        let _ = std::fs::remove_file(&api_json);
    };
    let mut runs: Vec<Duration> = (0..4)
        .map(|i| {
            switch(i);
            let started = Instant::now();
            assert!(pki.env.spawn_quiet(&args).wait().unwrap().success());
            started.elapsed()
        })
        .collect();
    runs.sort();
    let max_delay_us = runs[runs.len() / 2].as_micros() as u64;

    let mut rng = common::Rng::seeded();
    let started = Instant::now();
    let mut iterations = 0;
    let mut killed = 0;
    while iterations < MAX_ITERATIONS && started.elapsed() < BUDGET {
        switch(iterations);
        let mut child = pki.env.spawn_quiet(&args);
        std::thread::sleep(Duration::from_micros(rng.below(max_delay_us + 1)));
        let _ = child.kill();
        if !child.wait().unwrap().success() {
            killed += 1;
        }
        let what = format!("iteration {iterations}");
        pki.apply(&[]);
        pki.assert_clean(&what);
        let merged: Value = serde_json::from_slice(&read(&api_json)).unwrap();
        assert_eq!(merged["tlsverify"], true, "{what}: {merged}");
        for (daemon, client) in [("web", "ci"), ("api", "ci")] {
            let verify = pki.env.run(&[
                "verify",
                "--daemon-dir",
                s(&pki.install(daemon)),
                "--client-dir",
                s(&pki.install(client)),
            ]);
            assert_success(&verify);
        }
        iterations += 1;
    }
    eprintln!(
        "random SIGKILL of apply (delay 0..={max_delay_us}µs): {iterations} iterations, {killed} killed, in {:.1?}",
        started.elapsed()
    );
    assert!(
        iterations >= MIN_ITERATIONS,
        "only {iterations} iterations fit in {BUDGET:?}"
    );
}

/// `-c` repeats in every printed hint as the absolute path, whatever was typed.
#[test]
fn a_relative_c_is_repeated_as_an_absolute_path_in_the_hint() {
    let pki = Pki::new();
    pki.write(&pki.text("", &[], &[BOB]));
    let out = pki.env.run(&["plan", "-c", "dockpki.toml"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        stdout(&out).contains(&format!("apply -c {}", s(&pki.config()))),
        "{out:?}"
    );
}

/// A `[ca]` asking for another key type than the state's CA is a note naming `ca rotate begin`
/// with the global options in force, never an action: plan exits 3 (the state differs), and
/// apply leaves the CA as it is.
#[test]
fn a_ca_key_type_change_is_a_note_naming_ca_rotate_begin_and_apply_never_rotates() {
    let pki = Pki::new();
    pki.write(&pki.text("", &[], &[BOB]));
    pki.apply(&[]);
    let ca = read(&pki.env.state().join("ca.pem"));
    pki.write(&pki.text("key_type = \"ecdsa-p384\"", &[], &[BOB]));
    let out = pki.plan(&[]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let text = stdout(&out);
    let notes: Vec<&str> = text.lines().filter(|l| l.starts_with("note: ")).collect();
    assert_eq!(notes.len(), 1, "{text}");
    assert!(
        notes[0].contains("ecdsa-p384")
            && notes[0].ends_with(&format!(
                "`{}`",
                pki.env.hint("ca rotate begin --key-type ecdsa-p384")
            )),
        "{text}"
    );
    assert!(action_lines(&out).len() == 1, "only the summary: {text}");
    let (code, doc) = pki.plan_json();
    assert_eq!((code, doc["ok"].clone()), (3, Value::Bool(false)));
    assert!(doc["actions"].as_array().unwrap().is_empty(), "{doc}");
    assert_eq!(doc["notes"][0]["kind"], "ca-needs-rotation");
    assert_eq!(
        doc["notes"][0]["command"],
        pki.env.hint("ca rotate begin --key-type ecdsa-p384")
    );
    let before = snapshot(pki.env.root());
    // Nothing apply can do, but the PKI is not what the file says: exit 3, as plan, and the
    // note, never a claim of convergence.
    let out = pki.env.run(&["apply", "-c", s(&pki.config()), "--yes"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        stdout(&out).starts_with("nothing apply can do, but the state differs from"),
        "{out:?}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ca rotate begin"),
        "{out:?}"
    );
    let out = pki
        .env
        .run(&["--json", "apply", "-c", s(&pki.config()), "--yes"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(json(&out)["notes"][0]["kind"], "ca-needs-rotation");
    common::assert_unchanged(&before, &snapshot(pki.env.root()), "apply");
    assert_eq!(read(&pki.env.state().join("ca.pem")), ca);
}

/// With `removed = "revoke-and-remove"` the plan says the files go, apply revokes the client
/// and removes its layout files (`-v` lists them, `--json` in `removed`), and plan is clean.
#[test]
fn with_revoke_and_remove_a_removed_client_is_revoked_and_its_files_removed() {
    let pki = Pki::new();
    let policy = "\n[policy]\nremoved = \"revoke-and-remove\"";
    pki.write(&pki.text(policy, &[], &[CI, BOB]));
    pki.apply(&[]);
    pki.write(&pki.text(policy, &[], &[CI]));
    let out = pki.plan(&[]);
    let lines = action_lines(&out);
    assert!(
        lines.len() == 1
            && lines[0].starts_with("revoke client \"bob\"")
            && lines[0].contains("removed"),
        "{lines:?}"
    );
    let out = pki
        .env
        .ok(&["--json", "apply", "-c", s(&pki.config()), "--yes"]);
    let doc = json(&out);
    let removed: Vec<&str> = doc["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        let path = pki.install("bob").join(f);
        assert!(!path.exists(), "{f} removed");
        assert!(removed.contains(&s(&path)), "{f} in {removed:?}");
    }
    assert!(pki.install("ci").join("cert.pem").is_file(), "ci's kept");
    pki.assert_clean("after revoke-and-remove");
}

/// The state is not locked while apply waits for the answer; when it changed in the meantime
/// (here: a key deleted, which makes the plan a repair more), apply refuses after `y` and
/// writes nothing.
#[test]
fn a_state_changed_while_apply_waits_for_the_answer_is_refused_after_yes() {
    use std::io::Write;
    use std::process::Stdio;
    let pki = Pki::new();
    pki.write(&pki.text("", &[], &[CI]));
    pki.apply(&[]);
    pki.write(&pki.text("", &[], &[CI, BOB]));
    let command = format!(
        "{} --state {} apply -c {}",
        s(&common::bin()),
        s(&pki.env.state()),
        s(&pki.config())
    );
    let Ok(mut child) = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("HOME", pki.env.home())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        // Panics under CI=true; elsewhere a loud SKIPPED line.
        common::prerequisite(false, "util-linux `script` for a pseudo-terminal");
        return;
    };
    std::thread::sleep(Duration::from_millis(1500));
    // While the question is asked: the lock is free, and the state changes.
    let key = pki.install("ci").join("key.pem");
    std::fs::remove_file(&key).unwrap();
    let before = snapshot(pki.env.root());
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"y\n").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned();
    assert!(!out.status.success(), "{shown}");
    assert!(
        shown.contains("Apply this change? [y/N]")
            && shown.contains("the state changed since the plan was shown"),
        "{shown}"
    );
    common::assert_unchanged(&before, &snapshot(pki.env.root()), "the refused apply");
    assert!(!key.exists() && !pki.install("bob").exists());
}

/// As root, a client's `owner` owns its layout files and its context's copies (the user looked
/// up in this host's user database by the binary), and a second apply writes nothing.
#[test]
fn as_root_a_clients_owner_owns_its_files_and_its_contexts_copies() {
    if !common::require_root("to hand files to another user") {
        return;
    }
    let pki = Pki::new();
    let nobody = nix_uid("nobody");
    // Files for a user go only into a directory that user owns: a home of theirs.
    let home = pki.env.path("nobody-home");
    std::fs::create_dir(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(nobody), None).unwrap();
    let ci = home.join(".docker");
    pki.write(&format!(
        "[ca]\n[[client]]\nname = \"ci\"\nowner = \"nobody\"\ninstall = {:?}\ncontext = {{ name = \"remote\", host = \"tcp://127.0.0.1:2376\" }}\n",
        s(&ci)
    ));
    pki.apply(&[]);
    use std::os::unix::fs::MetadataExt;
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        let m = std::fs::metadata(ci.join(f)).unwrap();
        assert_eq!(m.uid(), nobody, "{f}");
    }
    let copies = ci.join("contexts/tls");
    let mut seen = 0;
    for entry in walk(&copies) {
        if entry.is_file() {
            assert_eq!(
                std::fs::metadata(&entry).unwrap().uid(),
                nobody,
                "{}",
                entry.display()
            );
            seen += 1;
        }
    }
    assert_eq!(seen, 3, "the context's three TLS copies");
    pki.assert_clean("after apply");
    let before = snapshot(pki.env.root());
    pki.apply(&[]);
    common::assert_unchanged(&before, &snapshot(pki.env.root()), "the second apply");
}

/// The uid of `user` from `id -u`.
fn nix_uid(user: &str) -> u32 {
    let out = std::process::Command::new("id")
        .args(["-u", user])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Every path under `dir`.
fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

#[test]
fn plan_on_a_missing_state_creates_nothing_in_tmpdir_either() {
    let pki = Pki::new();
    pki.write(&pki.text("", &[WEB], &[CI]));
    let tmp = pki.env.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let before = snapshot(pki.env.root());
    let out = pki
        .env
        .cmd()
        .env("TMPDIR", &tmp)
        .args(["plan", "-c", s(&pki.config())])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    common::assert_unchanged(&before, &snapshot(pki.env.root()), "plan");
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    assert!(!pki.env.state().exists());
    // The plan is the one apply then performs.
    let planned = action_lines(&out);
    let applied = pki
        .env
        .ok(&["-v", "apply", "-c", s(&pki.config()), "--yes"]);
    let text = stdout(&applied);
    for line in planned.iter().filter(|l| !l.contains("pending")) {
        assert!(text.contains(line.as_str()), "{line} not in {text}");
    }
}

#[test]
fn apply_refuses_to_replace_files_dockpki_did_not_write_unless_force() {
    let pki = Pki::new();
    let web = Server {
        daemon_config: false,
        ..WEB
    };
    pki.write(&pki.text("", &[web], &[]));
    let dir = pki.install("web");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("server-cert.pem"), "hand-made\n").unwrap();
    std::fs::write(dir.join("server-key.pem"), "hand-made\n").unwrap();
    let out = pki.plan(&[]);
    assert!(
        stdout(&out)
            .contains("replaces server-cert.pem, server-key.pem, which dockpki did not write"),
        "{out:?}"
    );
    let before = snapshot(pki.env.root());
    let out = pki.env.run(&["apply", "-c", s(&pki.config()), "--yes"]);
    let line = common::assert_error_line(&out, "which dockpki did not write");
    assert!(line.contains("--force"), "{line}");
    common::assert_unchanged(&before, &snapshot(pki.env.root()), "refused apply");
    assert!(!pki.env.state().exists());

    pki.apply(&["--force"]);
    assert_ne!(read(&dir.join("server-cert.pem")), b"hand-made\n");
    let backups = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("server-cert.pem.bak")
        })
        .count();
    assert_eq!(backups, 1, "the replaced certificate is kept as a backup");
    pki.assert_clean("after apply --force");
}

#[test]
fn a_configuration_in_a_directory_others_can_write_is_refused_and_nothing_is_touched() {
    let pki = Pki::new();
    let shared = pki.env.path("shared");
    std::fs::create_dir(&shared).unwrap();
    common::chmod(&shared, 0o1777);
    let config = shared.join("dockpki.toml");
    std::fs::write(&config, pki.text("", &[], &[BOB])).unwrap();
    let before = snapshot(pki.env.root());
    for cmd in ["plan", "apply"] {
        let out = pki
            .env
            .run(&[cmd, "-c", s(&config), "--yes"][..if cmd == "plan" { 3 } else { 4 }]);
        let line = common::assert_error_line(&out, "is writable by group or others (mode 1777)");
        assert!(
            line.contains(s(&config)) && line.contains("move the file"),
            "{line}"
        );
    }
    common::assert_unchanged(&before, &snapshot(pki.env.root()), "refused");
    assert!(!pki.env.state().exists());
}

#[test]
fn a_broken_client_layout_is_left_out_with_its_context_warned_exit_1_while_the_server_reissue_lands(
) {
    let pki = Pki::new();
    pki.write(&pki.text("", &[WEB], &[CI]));
    pki.apply(&[]);
    let ci = pki.install("ci");
    std::fs::remove_file(ci.join("key.pem")).unwrap();
    std::os::unix::fs::symlink(pki.env.path("elsewhere"), ci.join("key.pem")).unwrap();
    let old = read(&pki.install("web").join("server-cert.pem"));
    let web2 = Server {
        sans: &["localhost", "127.0.0.1", "127.0.0.2"],
        ..WEB
    };
    pki.write(&pki.text("", &[web2], &[CI]));
    let out = pki.env.run(&["apply", "-c", s(&pki.config()), "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    // One line for the layout and why, then one for each directory of its context, which
    // goes with it (its copies would run ahead of the layout).
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning:")).collect();
    assert_eq!(warnings.len(), 3, "{err}");
    assert!(
        warnings[0].contains(&format!("left {} as it was: ", s(&ci)))
            && warnings[0].contains("symlink"),
        "{err}"
    );
    for w in &warnings[1..] {
        assert!(
            w.contains("/contexts/") && w.contains("which was left out"),
            "{err}"
        );
    }
    assert_ne!(read(&pki.install("web").join("server-cert.pem")), old);
    // The state records the client's old certificate, which the layout and its context hold.
    let held = json(&pki.env.run(&["--json", "inspect", s(&ci.join("cert.pem"))]));
    let status = json(&pki.env.run(&["--json", "status"]));
    let recorded: Vec<&serde_json::Value> = status["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "client")
        .map(|c| &c["serial"])
        .collect();
    assert_eq!(
        recorded,
        [&held["files"][0]["certificates"][0]["serial"]],
        "{status}\n{held}"
    );
    let out = pki
        .env
        .run(&["--json", "apply", "-c", s(&pki.config()), "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let doc = json(&out);
    assert_eq!(doc["skipped"][0]["dir"], s(&ci), "{doc}");
}

#[test]
fn as_root_revoke_and_remove_removes_a_users_layout_and_context_but_never_through_a_swapped_link() {
    if !common::require_root("to hand files to another user") {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let nobody = nix_uid("nobody");
    for swapped in [false, true] {
        let pki = Pki::new();
        let home = pki.env.path("nobody-home");
        std::fs::create_dir(&home).unwrap();
        std::os::unix::fs::chown(&home, Some(nobody), None).unwrap();
        let ci = home.join(".docker");
        let client = format!(
            "[[client]]\nname = \"ci\"\nowner = \"nobody\"\ninstall = {:?}\ncontext = {{ name = \"remote\", host = \"tcp://127.0.0.1:2376\" }}\n",
            s(&ci)
        );
        pki.write(&format!("[ca]\n{client}"));
        pki.apply(&[]);
        // A place of root's holding the same files, which the user points their layout at.
        let victim = pki.env.path("root-only");
        if swapped {
            std::fs::create_dir(&victim).unwrap();
            for f in ["ca.pem", "cert.pem", "key.pem"] {
                std::fs::copy(ci.join(f), victim.join(f)).unwrap();
            }
            std::fs::rename(&ci, home.join("moved")).unwrap();
            std::os::unix::fs::symlink(&victim, &ci).unwrap();
            std::os::unix::fs::lchown(&ci, Some(nobody), None).unwrap();
        }
        pki.write("[policy]\nremoved = \"revoke-and-remove\"\n[ca]\n");
        let out = pki.env.run(&["apply", "-c", s(&pki.config()), "--yes"]);
        if swapped {
            assert_eq!(out.status.code(), Some(1), "{out:?}");
            for f in ["ca.pem", "cert.pem", "key.pem"] {
                assert_eq!(std::fs::metadata(victim.join(f)).unwrap().uid(), 0, "{f}");
            }
        } else {
            assert_success(&out);
            for f in ["ca.pem", "cert.pem", "key.pem"] {
                assert!(!ci.join(f).exists(), "{f}");
            }
            assert!(!ci.join("contexts/meta").read_dir().unwrap().any(|_| true));
            pki.assert_clean("after the removal");
        }
    }
}
