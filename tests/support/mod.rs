//! Harness for the end-to-end tests: a private `dockerd` per test, the real docker CLI and
//! `openssl s_client`, all on loopback only.
//!
//! Each [`Dockerd`] lives in its own temporary directory under `/tmp` (short enough for the unix
//! socket's 108-byte `sun_path`), with its own data root, exec root, pidfile, config file and TCP
//! port, so tests can run in parallel; [`Dockerd::start`] still waits for a slot so that at most
//! [`max_daemons`] run at once. Dropping a [`Dockerd`] sends SIGTERM to the pid in its pidfile
//! only, waits (bounded) and falls back to SIGKILL of that pid; it prints the daemon's log when
//! the test is panicking.
#![allow(dead_code)] // not every test file uses every helper

use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a daemon may take to answer on its unix socket after being spawned.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a daemon may take to exit after SIGTERM before it gets SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one docker CLI or openssl invocation may take before it is killed.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Environment variables that would make the docker CLI talk to something else than what a test
/// names explicitly.
const DOCKER_ENV: &[&str] = &[
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
    "DOCKER_TLS",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
    "DOCKER_CONFIG",
    "DOCKER_API_VERSION",
];

/// The external programs the end-to-end tests drive.
#[derive(Clone, Debug)]
pub struct Tools {
    /// `dockerd`.
    pub dockerd: PathBuf,
    /// The docker CLI.
    pub docker: PathBuf,
    /// `openssl`.
    pub openssl: PathBuf,
}

/// Whether this run is CI, where a missing prerequisite is a failure rather than a skip.
pub fn running_in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v.eq_ignore_ascii_case("true") || v == "1")
        .unwrap_or(false)
}

/// Returns the tools if this machine can run the end-to-end tests. Otherwise prints a loud
/// `SKIPPED:` line to stderr and returns `None`, or panics when `CI=true`: a CI run without
/// dockerd must fail, not pass silently.
pub fn prerequisites(test: &str) -> Option<Tools> {
    let mut missing = Vec::new();
    match effective_uid() {
        Some(0) => {}
        Some(uid) => missing.push(format!("root (running as uid {uid})")),
        None => missing.push("root (could not read the effective uid)".to_string()),
    }
    let dockerd = program("DOCKPKI_E2E_DOCKERD", "dockerd");
    let docker = program("DOCKPKI_E2E_DOCKER", "docker");
    let openssl = program("DOCKPKI_E2E_OPENSSL", "openssl");
    for (name, found) in [
        ("dockerd", &dockerd),
        ("docker", &docker),
        ("openssl", &openssl),
    ] {
        if found.is_none() {
            missing.push(format!(
                "`{name}` on PATH or in /usr/sbin, /usr/local/sbin, /sbin"
            ));
        }
    }
    if missing.is_empty() {
        eprintln!(
            "{test}: using {}, {}, {}",
            dockerd.as_deref()?.display(),
            docker.as_deref()?.display(),
            openssl.as_deref()?.display()
        );
        return Some(Tools {
            dockerd: dockerd?,
            docker: docker?,
            openssl: openssl?,
        });
    }
    let reason = format!("{test} needs {}", missing.join(", "));
    if running_in_ci() {
        panic!("CI=true but the dockerd end-to-end test cannot run: {reason}");
    }
    // Straight to fd 2: `eprintln!` would be captured by the test harness and never shown for a
    // test that passes.
    let banner = "#".repeat(72);
    let _ = writeln!(
        std::io::stderr().lock(),
        "\n{banner}\nSKIPPED: {reason}\n{banner}\n"
    );
    None
}

fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    // Uid: real effective saved filesystem
    line.split_whitespace().nth(2)?.parse().ok()
}

/// The program named by environment variable `var` if set, else `name` found by
/// [`find_program`].
fn program(var: &str, name: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(path) => Some(PathBuf::from(path)).filter(|p| is_executable(p)),
        None => find_program(name),
    }
}

/// Finds an executable on PATH, then in the sbin directories that a non-login PATH may lack.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Whether `::1` can be bound here (the kernel may have IPv6 disabled, e.g. in some containers).
pub fn ipv6_loopback_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok())
}

/// At most this many daemons run at once (`DOCKPKI_E2E_MAX_DAEMONS`, default 2).
pub fn max_daemons() -> usize {
    std::env::var("DOCKPKI_E2E_MAX_DAEMONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(2)
}

/// A counting semaphore over running daemons.
struct Slots {
    in_use: Mutex<usize>,
    freed: Condvar,
}

static SLOTS: Slots = Slots {
    in_use: Mutex::new(0),
    freed: Condvar::new(),
};

/// Held by a running [`Dockerd`]; frees its slot when dropped.
struct SlotGuard;

impl SlotGuard {
    fn acquire() -> SlotGuard {
        let max = max_daemons();
        let mut in_use = SLOTS.in_use.lock().unwrap_or_else(|e| e.into_inner());
        while *in_use >= max {
            in_use = SLOTS.freed.wait(in_use).unwrap_or_else(|e| e.into_inner());
        }
        *in_use += 1;
        SlotGuard
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut in_use = SLOTS.in_use.lock().unwrap_or_else(|e| e.into_inner());
        *in_use -= 1;
        SLOTS.freed.notify_one();
    }
}

/// The TLS files a daemon is started with.
#[derive(Clone, Debug)]
pub struct DaemonTls {
    /// `--tlscacert`: the CA(s) whose clients are accepted.
    pub ca: PathBuf,
    /// `--tlscert`.
    pub cert: PathBuf,
    /// `--tlskey`.
    pub key: PathBuf,
}

impl DaemonTls {
    /// The files `dockpki` writes into a daemon directory: `ca.pem`, `server-cert.pem`,
    /// `server-key.pem`.
    pub fn from_dir(dir: &Path) -> DaemonTls {
        DaemonTls {
            ca: dir.join("ca.pem"),
            cert: dir.join("server-cert.pem"),
            key: dir.join("server-key.pem"),
        }
    }
}

/// The outcome of one external command, printable for assertion messages.
#[derive(Debug)]
pub struct Run {
    /// The command line, for messages.
    pub command: String,
    /// Whether it exited 0.
    pub success: bool,
    /// Exit code, or `None` when killed by a signal (e.g. on timeout).
    pub code: Option<i32>,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl Run {
    /// stdout and stderr together, for substring checks that should not care which stream.
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}", self.command)?;
        writeln!(f, "exit: {:?}", self.code)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout.trim_end())?;
        write!(f, "--- stderr ---\n{}", self.stderr.trim_end())
    }
}

/// Runs `cmd` with `input` on stdin (then EOF) and kills it after [`COMMAND_TIMEOUT`].
pub fn run(cmd: Command, input: &[u8]) -> Run {
    let command = describe(&cmd);
    let output = assert_cmd::Command::from_std(cmd)
        .timeout(COMMAND_TIMEOUT)
        .write_stdin(input.to_vec())
        .output()
        .unwrap_or_else(|e| panic!("could not run `{command}`: {e}"));
    Run {
        command,
        success: output.status.success(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn describe(cmd: &Command) -> String {
    let envs: Vec<String> = cmd
        .get_envs()
        .filter_map(|(k, v)| Some(format!("{}={}", k.to_string_lossy(), v?.to_string_lossy())))
        .filter(|kv| !kv.starts_with("PATH="))
        .collect();
    let args: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    format!(
        "{}{}{}",
        envs.join(" "),
        if envs.is_empty() { "" } else { " " },
        args.join(" ")
    )
}

/// A private dockerd listening with mutual TLS on `127.0.0.1:PORT` (and `[::1]:PORT` when IPv6
/// loopback works), plus a plain unix socket in its directory for readiness checks.
pub struct Dockerd {
    tools: Tools,
    child: Child,
    /// The pid read from dockerd's pidfile: the only process signalled on drop.
    pid: u32,
    port: u16,
    ipv6: bool,
    dir: tempfile::TempDir,
    /// Dropped last: the slot frees only once the daemon is gone.
    slot: Option<SlotGuard>,
}

impl Dockerd {
    /// Starts dockerd with `tls` and waits until it answers. Panics (printing its log) if it
    /// does not come up within [`START_TIMEOUT`]. Retries with a new port if the chosen one was
    /// taken in the meantime.
    pub fn start(tools: &Tools, tls: &DaemonTls) -> Dockerd {
        let mut slot = SlotGuard::acquire();
        let ipv6 = ipv6_loopback_available();
        let mut attempt = 1;
        loop {
            match Dockerd::try_start(tools, tls, ipv6, None, slot) {
                Ok(daemon) => return daemon,
                Err((log, returned)) if attempt < 3 && log.contains("address already in use") => {
                    eprintln!("dockerd could not bind its port (attempt {attempt}); retrying");
                    slot = returned;
                    attempt += 1;
                }
                Err((log, _)) => panic!("dockerd did not start:\n{log}"),
            }
        }
    }

    /// Starts dockerd like [`Dockerd::start`] on `port`, for a restart that clients keep
    /// reaching at the same address (a docker context records it). Panics if the port is taken.
    pub fn start_on_port(tools: &Tools, tls: &DaemonTls, port: u16) -> Dockerd {
        let slot = SlotGuard::acquire();
        match Dockerd::try_start(tools, tls, ipv6_loopback_available(), Some(port), slot) {
            Ok(daemon) => daemon,
            Err((log, _)) => panic!("dockerd did not start on port {port}:\n{log}"),
        }
    }

    fn try_start(
        tools: &Tools,
        tls: &DaemonTls,
        ipv6: bool,
        port: Option<u16>,
        slot: SlotGuard,
    ) -> Result<Dockerd, (String, SlotGuard)> {
        let dir = tempfile::Builder::new()
            .prefix("dpk-e2e-")
            .tempdir_in("/tmp")
            .expect("tempdir under /tmp");
        let port = port.unwrap_or_else(|| free_port(ipv6));
        let root = dir.path();
        fs::write(root.join("daemon.json"), "{}\n").expect("write daemon.json");
        fs::create_dir(root.join("docker-config")).expect("mkdir docker-config");

        let mut cmd = Command::new(&tools.dockerd);
        // An empty config file of its own, so that /etc/docker/daemon.json (which may set
        // `hosts` or `tls*`) can neither conflict with the flags nor change the test.
        cmd.arg("--config-file").arg(root.join("daemon.json"));
        cmd.arg("--tlsverify");
        cmd.arg("--tlscacert").arg(&tls.ca);
        cmd.arg("--tlscert").arg(&tls.cert);
        cmd.arg("--tlskey").arg(&tls.key);
        cmd.arg("-H").arg(format!("tcp://127.0.0.1:{port}"));
        if ipv6 {
            cmd.arg("-H").arg(format!("tcp://[::1]:{port}"));
        }
        cmd.arg("-H")
            .arg(format!("unix://{}", root.join("docker.sock").display()));
        cmd.arg("--data-root").arg(root.join("data"));
        cmd.arg("--exec-root").arg(root.join("exec"));
        cmd.arg("--pidfile").arg(root.join("docker.pid"));
        // No images or containers are used: vfs works everywhere, overlay2 not in every nest.
        cmd.args([
            "--storage-driver",
            "vfs",
            "--iptables=false",
            "--bridge=none",
        ]);
        Dockerd::spawn(tools, cmd, dir, port, ipv6, slot)
    }

    /// Spawns `cmd` (dockerd with its arguments) logging to `dir/dockerd.log`, and waits until
    /// it answers on `dir/docker.sock` and `127.0.0.1:port` (and `[::1]:port` with `ipv6`).
    fn spawn(
        tools: &Tools,
        mut cmd: Command,
        dir: tempfile::TempDir,
        port: u16,
        ipv6: bool,
        slot: SlotGuard,
    ) -> Result<Dockerd, (String, SlotGuard)> {
        let log = fs::File::create(dir.path().join("dockerd.log")).expect("create dockerd.log");
        let log2 = log.try_clone().expect("dup log");
        for var in DOCKER_ENV {
            cmd.env_remove(var);
        }
        // dockerd looks up containerd and runc on PATH.
        let mut path = std::env::var("PATH").unwrap_or_default();
        for dir in [
            "/usr/local/sbin",
            "/usr/local/bin",
            "/usr/sbin",
            "/usr/bin",
            "/sbin",
            "/bin",
        ] {
            if !std::env::split_paths(&path).any(|p| p == Path::new(dir)) {
                path = format!("{path}:{dir}");
            }
        }
        cmd.env("PATH", path);
        cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", tools.dockerd.display()));
        let pid = child.id();
        let mut daemon = Dockerd {
            tools: tools.clone(),
            child,
            pid,
            port,
            ipv6,
            dir,
            slot: Some(slot),
        };
        match daemon.wait_ready() {
            Ok(()) => Ok(daemon),
            Err(why) => {
                let log = format!("{why}\n--- dockerd log ---\n{}", daemon.log());
                daemon.stop();
                // Keep the slot for a retry; dropping the rest of `daemon` stops nothing twice
                // since `stop` already reaped the child.
                let slot = daemon
                    .slot
                    .take()
                    .expect("a starting daemon holds its slot");
                Err((log, slot))
            }
        }
    }

    /// Starts dockerd with `--config-file` and nothing else, so that everything, `hosts` and
    /// TLS included, comes from the file (flags would conflict with its keys). `write_config`
    /// gets the daemon's private directory and a free port and returns the file it wrote; the
    /// file must set `hosts` to `unix://DIR/docker.sock` and `tcp://127.0.0.1:PORT` and the
    /// private paths of [`private_settings`]. Returns the daemon, or dockerd's log when it did
    /// not come up (for tests that expect a refusal).
    pub fn start_from_config(
        tools: &Tools,
        write_config: impl FnOnce(&Path, u16) -> PathBuf,
    ) -> Result<Dockerd, String> {
        Dockerd::start_from_config_on(tools, None, write_config)
    }

    /// [`Dockerd::start_from_config`] on `port` when given (a restart that clients keep
    /// reaching at the same address, a port a docker context records), else on a free one.
    pub fn start_from_config_on(
        tools: &Tools,
        port: Option<u16>,
        write_config: impl FnOnce(&Path, u16) -> PathBuf,
    ) -> Result<Dockerd, String> {
        let slot = SlotGuard::acquire();
        let dir = tempfile::Builder::new()
            .prefix("dpk-e2e-")
            .tempdir_in("/tmp")
            .expect("tempdir under /tmp");
        fs::create_dir(dir.path().join("docker-config")).expect("mkdir docker-config");
        let port = port.unwrap_or_else(|| free_port(false));
        let config = write_config(dir.path(), port);
        let mut cmd = Command::new(&tools.dockerd);
        cmd.arg("--config-file").arg(config);
        Dockerd::spawn(tools, cmd, dir, port, false, slot).map_err(|(log, _)| log)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let started = Instant::now();
        let pidfile = self.dir.path().join("docker.pid");
        loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!("dockerd exited during startup with {status}"));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(format!("dockerd did not answer within {START_TIMEOUT:?}"));
            }
            let ping = self.unix_get("/_ping").ok();
            let tcp4 = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok();
            let tcp6 = !self.ipv6 || TcpStream::connect((Ipv6Addr::LOCALHOST, self.port)).is_ok();
            if ping.as_deref() == Some("OK") && tcp4 && tcp6 {
                let recorded: u32 = fs::read_to_string(&pidfile)
                    .map_err(|e| format!("read {}: {e}", pidfile.display()))?
                    .trim()
                    .parse()
                    .map_err(|e| format!("pidfile: {e}"))?;
                if recorded != self.child.id() {
                    return Err(format!(
                        "pidfile says {recorded} but the dockerd we spawned is {}",
                        self.child.id()
                    ));
                }
                self.pid = recorded;
                eprintln!(
                    "dockerd pid {} ready in {:.1?} on 127.0.0.1:{}{} ({})",
                    self.pid,
                    started.elapsed(),
                    self.port,
                    if self.ipv6 { " and [::1]" } else { "" },
                    self.dir.path().display()
                );
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `GET path` over the daemon's plain unix socket; returns the body on status 200.
    pub fn unix_get(&self, path: &str) -> Result<String, String> {
        let mut s =
            UnixStream::connect(self.dir.path().join("docker.sock")).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n").map_err(|e| e.to_string())?;
        let mut response = String::new();
        s.read_to_string(&mut response).map_err(|e| e.to_string())?;
        let (head, body) = response
            .split_once("\r\n\r\n")
            .ok_or("no HTTP header end")?;
        if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
            return Err(format!("unexpected response: {head}"));
        }
        Ok(body.to_string())
    }

    /// The engine version the daemon reports over its unix socket, e.g. `20.10.24+dfsg1`.
    pub fn server_version(&self) -> String {
        let body = self
            .unix_get("/version")
            .unwrap_or_else(|e| panic!("GET /version over the unix socket: {e}"));
        let json: serde_json::Value = serde_json::from_str(&body).expect("/version is JSON");
        json["Version"]
            .as_str()
            .unwrap_or_else(|| panic!("no Version in {body}"))
            .to_string()
    }

    /// The TLS port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the daemon also listens on `[::1]:PORT`.
    pub fn ipv6(&self) -> bool {
        self.ipv6
    }

    /// `tcp://127.0.0.1:PORT`.
    pub fn tcp_v4(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// `tcp://[::1]:PORT` (only meaningful when [`Dockerd::ipv6`]).
    pub fn tcp_v6(&self) -> String {
        format!("tcp://[::1]:{}", self.port)
    }

    /// `tcp://localhost:PORT`.
    pub fn tcp_localhost(&self) -> String {
        format!("tcp://localhost:{}", self.port)
    }

    /// A docker CLI command with a clean environment: an empty `DOCKER_CONFIG` of the daemon's
    /// own (no contexts, no `~/.docker`), no inherited `DOCKER_*` variables, and
    /// `DOCKER_CERT_PATH=cert_path` when given.
    pub fn docker_command(&self, cert_path: Option<&Path>, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.tools.docker);
        for var in DOCKER_ENV {
            cmd.env_remove(var);
        }
        cmd.env("DOCKER_CONFIG", self.dir.path().join("docker-config"));
        if let Some(p) = cert_path {
            cmd.env("DOCKER_CERT_PATH", p);
        }
        cmd.args(args);
        cmd
    }

    /// Runs the docker CLI (see [`Dockerd::docker_command`]).
    pub fn docker(&self, cert_path: Option<&Path>, args: &[&str]) -> Run {
        run(self.docker_command(cert_path, args), b"")
    }

    /// `openssl s_client` to `host:PORT` with `args` added, sending one HTTP/1.0 request for
    /// `/_ping` once the handshake is done, so that a client certificate the daemon rejects
    /// after a TLS 1.3 handshake (the server checks it after the client finished) still shows
    /// as a failure.
    pub fn openssl_ping(&self, host: &str, args: &[&str]) -> Run {
        let mut cmd = Command::new(&self.tools.openssl);
        cmd.arg("s_client");
        cmd.arg("-connect").arg(format!("{host}:{}", self.port));
        cmd.args(["-ign_eof", "-verify_return_error"]);
        cmd.args(args);
        run(cmd, b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("dockerd.log"))
            .unwrap_or_else(|e| format!("(no log: {e})"))
    }

    /// The daemon's directory (data root, exec root, socket, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Ends the daemon and undoes what it left mounted in its directory.
    fn stop(&mut self) {
        self.end_process();
        self.unmount_leftovers();
    }

    /// SIGTERM to the recorded pid only, a bounded wait, then SIGKILL of that pid only.
    fn end_process(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let started = Instant::now();
        signal(self.pid, "TERM");
        while started.elapsed() < STOP_TIMEOUT {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                eprintln!(
                    "dockerd pid {} stopped in {:.1?}",
                    self.pid,
                    started.elapsed()
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!(
            "dockerd pid {} ignored SIGTERM for {STOP_TIMEOUT:?}; sending SIGKILL",
            self.pid
        );
        // `Child::kill` is SIGKILL to exactly the child we spawned (== the pidfile's pid).
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Its containerd was not told to stop: end it too, by the pid in its pidfile, after
        // checking that this pid really is the containerd of this daemon's exec root.
        let exec_root = self.dir.path().join("exec");
        let pidfile = exec_root.join("containerd").join("containerd.pid");
        if let Some(pid) = fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
        {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            if cmdline.contains("containerd") && cmdline.contains(&*exec_root.to_string_lossy()) {
                signal(pid, "KILL");
            }
        }
    }
}

impl Dockerd {
    /// dockerd bind-mounts its data root onto itself and undoes that on a clean shutdown only;
    /// after a failed start or a SIGKILL the mount stays and the directory cannot be removed.
    /// Unmounts whatever is still mounted inside this daemon's own directory, deepest first.
    fn unmount_leftovers(&self) {
        let prefix = format!("{}/", self.dir.path().display());
        let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let mut ours: Vec<&str> = mounts
            .lines()
            .filter_map(|line| line.split_whitespace().nth(1))
            .filter(|point| point.starts_with(&prefix))
            .collect();
        ours.sort_by_key(|point| std::cmp::Reverse(point.len()));
        for point in ours {
            eprintln!("unmounting leftover {point}");
            let _ = Command::new("umount").arg(point).status();
        }
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "==================== dockerd log ({}) ====================",
                self.dir.path().display()
            );
            eprintln!("{}", self.log().trim_end());
            eprintln!("==================== end of dockerd log ====================");
        }
        self.stop();
    }
}

/// The daemon.json keys that keep a daemon started by [`Dockerd::start_from_config`] in its
/// own directory `dir` (the same choices as the flags of [`Dockerd::start`]).
pub fn private_settings(dir: &Path) -> serde_json::Value {
    let p = |name: &str| dir.join(name).display().to_string();
    serde_json::json!({
        "data-root": p("data"),
        "exec-root": p("exec"),
        "pidfile": p("docker.pid"),
        "storage-driver": "vfs",
        "iptables": false,
        "bridge": "none",
    })
}

/// Sends `SIGsig` to exactly `pid`, through the shell's `kill` builtin (no libc dependency).
fn signal(pid: u32, sig: &str) {
    let _ = Command::new("sh")
        .args([
            "-c",
            "kill -s \"$1\" \"$2\" 2>/dev/null",
            "sh",
            sig,
            &pid.to_string(),
        ])
        .status();
}

/// A TCP port free on 127.0.0.1 (and on ::1 as well when `ipv6`).
pub fn free_port(ipv6: bool) -> u16 {
    for _ in 0..100 {
        let v4 = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let port = v4.local_addr().expect("local_addr").port();
        if !ipv6 || TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port))).is_ok() {
            return port;
        }
    }
    panic!("no TCP port free on both 127.0.0.1 and ::1 after 100 tries");
}
