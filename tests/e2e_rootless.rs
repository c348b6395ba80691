//! End-to-end: a rootless dockerd protected with mutual TLS, everything done as the ordinary user
//! it runs as. The rootless quick start of docs/daemon.md is run line by line as written (only
//! the port changes): `dockpki` as the throwaway user `dockpki-ci` (never as root on its behalf)
//! creates its state and both layouts in a private home, `dockerd-rootless.sh` serves the merged
//! daemon.json alone, and the real docker CLI connects over mTLS and sees `rootless`. A client of
//! another CA is refused, and `renew --all` plus the user's restart keeps the daemon reachable.
//!
//! Needs root (to become the user), `setpriv`, the account `dockpki-ci` with `/etc/subuid` and
//! `/etc/subgid` entries (`.ci/run` creates it with `useradd`), Debian's `docker.io`
//! (`dockerd-rootless.sh`), `rootlesskit`, `newuidmap`/`newgidmap` (`uidmap`) and the docker CLI.
//! Without them the test prints `SKIPPED: ...` and passes, except under `CI=true`, where it fails.
//!
//! The daemon runs with rootlesskit's host network (`DOCKERD_ROOTLESS_ROOTLESSKIT_NET=host`,
//! port driver `none`): the default slirp4netns network needs `/dev/net/tun`, which is not
//! usable by ordinary users on every machine, and host networking puts the TCP listener on this
//! machine's loopback. `--iptables=false --bridge=none` keep it off the machine's network setup.

mod support;

use std::fs;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{find_program, run, running_in_ci, Run};

/// The throwaway account the test runs dockpki and the daemon as.
const USER: &str = "dockpki-ci";
/// The port the quick start names; the test replaces it by a free one.
const DOC_PORT: &str = "2376";
/// What the docker CLI prints when dockerd refuses the client's certificate (Go 1.19 servers
/// send `bad_certificate`, newer ones TLS 1.3 `certificate_required`).
const CLIENT_CERT_REFUSED: &[&str] = &[
    "remote error: tls: bad certificate",
    "remote error: tls: certificate required",
];
/// How long the rootless daemon may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long it may take to exit after SIGTERM, before its process group gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// A PATH for the user's commands (setpriv's environment is cleared).
const USER_PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";

/// The programs and the account the test needs.
struct Tools {
    launcher: PathBuf,
    docker: PathBuf,
}

/// The tools, or `None` after a loud `SKIPPED:` line; panics under `CI=true` instead.
fn prerequisites(test: &str) -> Option<Tools> {
    let mut missing = Vec::new();
    let root = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false);
    if !root {
        missing.push("root (to run commands as the throwaway user)".to_string());
    }
    let launcher = find_program("dockerd-rootless.sh").or_else(|| {
        let debian = PathBuf::from("/usr/share/docker.io/contrib/dockerd-rootless.sh");
        debian.is_file().then_some(debian)
    });
    if launcher.is_none() {
        missing.push("dockerd-rootless.sh (Debian's docker.io)".to_string());
    }
    for name in [
        "dockerd",
        "rootlesskit",
        "newuidmap",
        "newgidmap",
        "setpriv",
    ] {
        if find_program(name).is_none() {
            missing.push(format!("`{name}`"));
        }
    }
    let docker = find_program("docker");
    if docker.is_none() {
        missing.push("the docker CLI".to_string());
    }
    let has_user = Command::new("id")
        .args(["-u", USER])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_user {
        missing.push(format!("the account {USER} (.ci/run creates it)"));
    }
    for file in ["/etc/subuid", "/etc/subgid"] {
        let listed = fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with(&format!("{USER}:")));
        if !listed {
            missing.push(format!("a {USER} line in {file} (useradd adds it)"));
        }
    }
    if missing.is_empty() {
        return Some(Tools {
            launcher: launcher?,
            docker: docker?,
        });
    }
    let reason = format!("{test} needs {}", missing.join(", "));
    if running_in_ci() {
        panic!("CI=true but the rootless end-to-end test cannot run: {reason}");
    }
    let banner = "#".repeat(72);
    let _ = writeln!(
        std::io::stderr().lock(),
        "\n{banner}\nSKIPPED: {reason}\n{banner}\n"
    );
    None
}

/// The throwaway user's world: a private home and runtime directory, and a copy of the binary
/// it may run (the build directory may not be searchable by other users).
struct UserEnv {
    work: tempfile::TempDir,
    home: PathBuf,
    runtime: PathBuf,
    daemon: PathBuf,
    bin: PathBuf,
}

impl UserEnv {
    fn new() -> UserEnv {
        let work = tempfile::Builder::new()
            .prefix("dpk-rl-")
            .tempdir_in("/tmp")
            .expect("tempdir under /tmp");
        let w = work.path();
        // Searchable (not readable) by the user: the home, runtime and daemon directories below
        // are its own.
        chmod(w, 0o711);
        let bin_dir = w.join("bin");
        fs::create_dir(&bin_dir).unwrap();
        let bin = bin_dir.join("dockpki");
        fs::copy(env!("CARGO_BIN_EXE_dockpki"), &bin).unwrap();
        chmod(&bin, 0o755);
        chmod(&bin_dir, 0o755);
        let mine = |name: &str| {
            let dir = w.join(name);
            fs::create_dir(&dir).unwrap();
            chmod(&dir, 0o700);
            let status = Command::new("chown")
                .arg(format!("{USER}:{USER}"))
                .arg(&dir)
                .status()
                .unwrap();
            assert!(status.success(), "chown {}", dir.display());
            dir
        };
        UserEnv {
            home: mine("home"),
            runtime: mine("run"),
            daemon: mine("daemon"),
            bin,
            work,
        }
    }

    /// `program args...` as the user, with a login-like environment of its own and nothing
    /// else (no DOCKER_*, no DOCKPKI_*, no XDG_CONFIG_HOME: the defaults are under test).
    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid", USER, "--regid", USER, "--init-groups", "--"])
            .arg("env")
            .arg("-i")
            .arg(format!("PATH={USER_PATH}"))
            .arg(format!("HOME={}", self.home.display()))
            .arg(format!("XDG_RUNTIME_DIR={}", self.runtime.display()))
            .arg(format!("USER={USER}"))
            .arg(format!("LOGNAME={USER}"))
            .arg(program)
            .current_dir(&self.home);
        cmd
    }

    /// `dockpki args...` as the user; requires exit 0.
    fn dockpki(&self, args: &[&str]) -> Run {
        let mut cmd = self.command(&self.bin);
        cmd.args(args);
        let out = run(cmd, b"");
        assert!(out.success, "{out}");
        eprintln!("[ok] dockpki {}", args.join(" "));
        out
    }
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A rootless dockerd started by `dockerd-rootless.sh` as the user, in a process group of its
/// own: rootlesskit, dockerd and containerd all stay in it, so stopping signals that group
/// (and nothing else).
struct RootlessDaemon {
    child: Child,
    log: PathBuf,
}

impl RootlessDaemon {
    /// What `systemctl --user restart docker` does for a unit started with host networking:
    /// `dockerd-rootless.sh`, configured by the merged daemon.json alone (plus a private data
    /// root, pidfile and no iptables or bridge). Waits until it listens on `port`.
    fn start(env: &UserEnv, tools: &Tools, port: u16, run_no: u32) -> RootlessDaemon {
        let d = &env.daemon;
        let log = d.join(format!("dockerd-{run_no}.log"));
        let out = fs::File::create(&log).unwrap();
        let mut cmd = env.command(&tools.launcher);
        // `env -i` came before the program: these extra variables go on the same env line.
        let mut args: Vec<std::ffi::OsString> = cmd.get_args().map(|a| a.to_owned()).collect();
        let program = args.pop().expect("the launcher");
        args.extend([
            "DOCKERD_ROOTLESS_ROOTLESSKIT_NET=host".into(),
            "DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER=none".into(),
            program,
        ]);
        cmd = Command::new("setpriv");
        cmd.args(args)
            .arg(format!("--data-root={}", d.join("data").display()))
            .arg(format!("--pidfile={}", d.join("docker.pid").display()))
            .args(["--iptables=false", "--bridge=none"])
            .current_dir(&env.home)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0);
        let child = cmd.spawn().expect("start dockerd-rootless.sh");
        let mut daemon = RootlessDaemon { child, log };
        let listening = format!("API listen on 127.0.0.1:{port}");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if daemon.log_text().contains(&listening) {
                return daemon;
            }
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!(
                    "dockerd-rootless.sh exited ({status}) before listening:\n{}",
                    daemon.log_text()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "the rootless dockerd did not listen on 127.0.0.1:{port} within {START_TIMEOUT:?}:\n{}",
                    daemon.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM to the launcher's process group, then SIGKILL to it if it outlives
    /// [`STOP_TIMEOUT`]. Returns once the launcher has exited and no process of the group is
    /// left.
    fn stop(&mut self) {
        let group = format!("-{}", self.child.id());
        signal_group(&group, "TERM");
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline && group_alive(&group) {
            let _ = self.child.try_wait();
            std::thread::sleep(Duration::from_millis(200));
        }
        if group_alive(&group) {
            signal_group(&group, "KILL");
        }
        let _ = self.child.wait();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline && group_alive(&group) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for RootlessDaemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "=== rootless dockerd log ===\n{}\n=== end ===",
                self.log_text().trim_end()
            );
        }
        self.stop();
    }
}

/// `kill -s SIG -- -PGID` through the shell builtin: exactly the group this test started.
fn signal_group(group: &str, sig: &str) {
    let _ = Command::new("sh")
        .args([
            "-c",
            "kill -s \"$1\" -- \"$2\" 2>/dev/null",
            "sh",
            sig,
            group,
        ])
        .status();
}

/// Whether any process of the group is left (reaped zombies aside).
fn group_alive(group: &str) -> bool {
    Command::new("sh")
        .args(["-c", "kill -0 -- \"$1\" 2>/dev/null", "sh", group])
        .status()
        .is_ok_and(|s| s.success())
}

/// A TCP port free on 127.0.0.1 now.
fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The lines of the fenced block after the `rootless-quick-start` marker in docs/daemon.md,
/// which the README repeats word for word.
fn quick_start() -> Vec<String> {
    let doc = quick_start_of(include_str!("../docs/daemon.md"));
    assert_eq!(
        quick_start_of(include_str!("../README.md")),
        doc,
        "README.md's rootless quick start differs from docs/daemon.md's, which this test runs"
    );
    doc
}

fn quick_start_of(doc: &str) -> Vec<String> {
    let after = doc
        .split_once("<!-- rootless-quick-start")
        .expect("the document has the rootless quick start marker")
        .1;
    let block = after
        .split_once("```sh\n")
        .expect("a ```sh block after the marker")
        .1;
    let block = block.split_once("```").expect("the block ends").0;
    block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn rootless_quick_start_gives_mutual_tls_as_the_user_and_survives_renewal() {
    let Some(tools) = prerequisites("rootless_quick_start_gives_mutual_tls_as_the_user") else {
        return;
    };
    let env = UserEnv::new();
    let port = free_port();
    let docker_host = format!("tcp://127.0.0.1:{port}");
    let steps = quick_start();
    assert!(
        steps
            .iter()
            .any(|s| s.starts_with("dockpki bootstrap --rootless")),
        "{steps:?}"
    );

    // The quick start, as written but for the port. Its words hold no quotes or variables, so
    // splitting on spaces is the shell's reading of them.
    let mut daemon = None;
    let mut saw_rootless = false;
    for step in &steps {
        let line = step.replace(DOC_PORT, &port.to_string());
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["dockpki", args @ ..] => {
                let out = env.dockpki(args);
                if args.first() == Some(&"daemon-config") {
                    // The restart is the user's, and the advice names the host network's
                    // meaning of the address.
                    assert!(
                        out.stdout.contains("systemctl --user restart docker"),
                        "{out}"
                    );
                    assert!(
                        out.stdout.contains("DOCKERD_ROOTLESS_ROOTLESSKIT_NET=host"),
                        "{out}"
                    );
                }
            }
            ["systemctl", "--user", "restart", "docker"] => {
                daemon = Some(RootlessDaemon::start(&env, &tools, port, 1));
            }
            ["docker", args @ ..] => {
                let mut cmd = env.command(&tools.docker);
                cmd.args(args);
                let out = run(cmd, b"");
                assert!(out.success, "{out}");
                saw_rootless = out.stdout.contains("rootless");
                eprintln!("[ok] {line}");
            }
            _ => panic!("the quick start holds a line this test does not know how to run: {step}"),
        }
    }
    assert!(saw_rootless, "`docker info` did not list rootless");
    let mut daemon = daemon.expect("the quick start restarts the daemon");

    // Everything is the user's, with dockpki's modes.
    let config_pki = env.home.join(".config/docker/pki");
    let client = env.home.join(".docker");
    let state = env.home.join(".local/share/dockpki");
    let uid = user_id();
    for (dir, files) in [
        (
            &config_pki,
            &["ca.pem", "server-cert.pem", "server-key.pem"][..],
        ),
        (&client, &["ca.pem", "cert.pem", "key.pem"][..]),
        (&state, &["ca.pem", "ca-key.pem"][..]),
    ] {
        use std::os::unix::fs::MetadataExt;
        let meta = fs::metadata(dir).unwrap();
        assert_eq!(meta.uid(), uid, "{} is not the user's", dir.display());
        assert_eq!(meta.mode() & 0o777, 0o700, "{}", dir.display());
        for name in files {
            let meta = fs::metadata(dir.join(name)).unwrap();
            assert_eq!(
                meta.uid(),
                uid,
                "{}/{name} is not the user's",
                dir.display()
            );
            let mode = meta.mode() & 0o777;
            if name.contains("key") {
                assert_eq!(mode, 0o400, "{}/{name}", dir.display());
            } else {
                assert_eq!(mode & 0o022, 0, "{}/{name}", dir.display());
            }
        }
    }

    // The docker CLI with the user's client layout reports the daemon rootless.
    let info = |label: &str| {
        let mut cmd = env.command(&tools.docker);
        cmd.args([
            "--tlsverify",
            "-H",
            &docker_host,
            "info",
            "--format",
            "{{.SecurityOptions}}",
        ]);
        let out = run(cmd, b"");
        assert!(
            out.success && out.stdout.contains("rootless"),
            "{label}: {out}"
        );
    };
    info("after the quick start");

    // The audit, run as the user and asking the daemon over the user's socket, passes
    // daemon.root from the daemon's own answer (and userns-remap does not apply).
    let socket = format!("unix://{}/docker.sock", env.runtime.display());
    let mut cmd = env.command(&env.bin);
    cmd.args(["--json", "audit", "--socket", &socket]);
    let out = run(cmd, b"");
    let doc: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("audit --json is not one JSON document ({e}): {out}"));
    let outcome = |id: &str| {
        doc["outcomes"]
            .as_array()
            .and_then(|all| all.iter().find(|o| o["id"] == id))
            .cloned()
            .unwrap_or_else(|| panic!("no {id} in {out}"))
    };
    let root = outcome("daemon.root");
    assert_eq!(root["result"], "pass", "{out}");
    assert_eq!(
        root["evidence"],
        format!("the daemon at {socket} reports rootless among its security options"),
        "{out}"
    );
    let userns = outcome("daemon.userns-remap");
    assert_eq!(userns["result"], "not-applicable", "{out}");
    eprintln!("[ok] dockpki audit --socket {socket}: daemon.root passes from the daemon");

    // A client of another CA (made by root, in its own state) is refused.
    let other = env.work.path().join("other");
    let mut cmd = Command::new(&env.bin);
    cmd.env_remove("DOCKPKI_STATE")
        .arg("--state")
        .arg(other.join("state"))
        .args(["bootstrap", "--san", "localhost", "--daemon-dir"])
        .arg(other.join("daemon"))
        .arg("--client-dir")
        .arg(other.join("client"));
    let out = run(cmd, b"");
    assert!(out.success, "{out}");
    let mut cmd = Command::new(&tools.docker);
    for var in [
        "DOCKER_HOST",
        "DOCKER_CONTEXT",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("DOCKER_CONFIG", other.join("docker-config"))
        .arg("--tlsverify")
        .arg(format!("--tlscacert={}", client.join("ca.pem").display()))
        .arg(format!(
            "--tlscert={}",
            other.join("client/cert.pem").display()
        ))
        .arg(format!(
            "--tlskey={}",
            other.join("client/key.pem").display()
        ))
        .args(["-H", &docker_host, "version"]);
    let out = run(cmd, b"");
    assert!(
        !out.success
            && CLIENT_CERT_REFUSED
                .iter()
                .any(|m| out.all_output().contains(m)),
        "a client of another CA was not refused: {out}"
    );

    // renew --all as the user: the restart line names the user's daemon; until the restart the
    // daemon serves the old certificate (probe exits 3), afterwards the new one.
    let out = env.dockpki(&["renew", "--all"]);
    let hint = format!(
        "restart dockerd using {} (it does not reload certificates on SIGHUP): it is a rootless daemon, restart it as its user with `systemctl --user restart docker`",
        config_pki.display()
    );
    assert!(out.stdout.contains(&hint), "{out}");
    let probe = |expect: i32| {
        let mut cmd = env.command(&env.bin);
        cmd.args(["probe", "--host", &docker_host]);
        let out = run(cmd, b"");
        assert_eq!(out.code, Some(expect), "{out}");
    };
    probe(3);
    daemon.stop();
    drop(daemon);
    let _daemon = RootlessDaemon::start(&env, &tools, port, 2);
    probe(0);
    info("after renew --all and the restart");
}

/// The throwaway user's uid.
fn user_id() -> u32 {
    let out = Command::new("id").args(["-u", USER]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}
