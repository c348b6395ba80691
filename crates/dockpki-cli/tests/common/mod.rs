//! Shared helpers for the `dockpki` CLI tests.
//!
//! Every command runs with a sanitized environment: HOME and the working directory point into a
//! fresh temporary directory, and the variables that would redirect dockpki elsewhere (sudo's,
//! XDG_DATA_HOME, XDG_CONFIG_HOME, DOCKPKI_STATE, DOCKER_CERT_PATH) are removed, so that no test can touch
//! /etc/docker/pki, the real ~/.docker or ~/.local/share.
#![allow(dead_code)] // each test crate uses a different subset

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::SystemTime;

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

/// The variables removed from every child's environment.
const SCRUBBED: &[&str] = &[
    "SUDO_UID",
    "SUDO_GID",
    "SUDO_USER",
    "SUDO_COMMAND",
    "XDG_DATA_HOME",
    // plan and apply look for $XDG_CONFIG_HOME/dockpki/config.toml, rootless layouts go under
    // it: tests set it when they mean to.
    "XDG_CONFIG_HOME",
    "DOCKPKI_STATE",
    "DOCKER_CERT_PATH",
    "DOCKER_HOST",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CONFIG",
    "DOCKER_CONTEXT",
    "LOGNAME",
    // `env` picks its shell from SHELL when --shell is not given: tests set it when they mean to.
    "SHELL",
    // Colours are decided from NO_COLOR and TERM (and a terminal): tests set them when they mean to.
    "NO_COLOR",
    "TERM",
];

/// The login name every child sees (the default client common name).
pub const USER: &str = "tester";

/// Whether this run is CI (`CI=true`), where a missing prerequisite fails the test.
pub fn running_in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v.eq_ignore_ascii_case("true") || v == "1")
        .unwrap_or(false)
}

/// The one gate for tests that need something this machine may lack (root, a tool, a mount).
/// Returns `true` when `available`. Otherwise the test must stop: under `CI=true` this panics
/// naming what is missing (CI installs everything, so a missing prerequisite is a broken CI,
/// never a pass); elsewhere it writes a loud `SKIPPED` line straight to the terminal (the
/// harness swallows `eprintln!`) and returns `false`.
pub fn prerequisite(available: bool, what: &str) -> bool {
    if available {
        return true;
    }
    if running_in_ci() {
        panic!("CI=true but this test cannot run: it needs {what}");
    }
    use std::io::Write;
    if let Ok(mut tty) = fs::OpenOptions::new().write(true).open("/dev/tty") {
        let _ = writeln!(tty, "\n*** SKIPPED: needs {what} ***");
    }
    eprintln!("\n*** SKIPPED: needs {what} ***");
    false
}

/// Whether the tests run as root (uid 0).
pub fn is_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// [`prerequisite`] for root: `require_root("to chown files")`.
pub fn require_root(why: &str) -> bool {
    prerequisite(is_root(), &format!("root {why}"))
}

/// Whether the binary under test has the crash tests' fault-injection hook
/// (`DOCKPKI_TEST_ABORT_AFTER_MOVES`), which only `--features fault-injection` builds carry:
/// [`prerequisite`] for it.
pub fn fault_injection() -> bool {
    prerequisite(
        cfg!(feature = "fault-injection"),
        "the binary built with `--features fault-injection` (cargo test --workspace --features dockpki-cli/fault-injection)",
    )
}

/// Writes a secret (a passphrase file) readable by its owner only, as an operator would; dockpki
/// warns about one that group or others can read.
pub fn write_secret(path: &Path, contents: impl AsRef<[u8]>) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = fs::remove_file(path);
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(contents.as_ref()))
        .expect("write secret");
}

/// Path of the binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dockpki"))
}

/// A path as `&str` (temporary paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// One test's sandbox: a temporary root with `home/` in it; the state is `root/state`.
pub struct Env {
    dir: TempDir,
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

impl Env {
    /// A new sandbox. The state directory does not exist yet.
    pub fn new() -> Env {
        let dir = tempfile::Builder::new()
            .prefix("dockpki-cli-test-")
            .tempdir()
            .expect("tempdir");
        fs::create_dir(dir.path().join("home")).expect("create home");
        Env { dir }
    }

    /// The sandbox root.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `root/rel`.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    /// The HOME every child sees.
    pub fn home(&self) -> PathBuf {
        self.path("home")
    }

    /// The state directory passed with `--state`.
    pub fn state(&self) -> PathBuf {
        self.path("state")
    }

    /// Starts `dockpki --state STATE args` in the background, its output dropped, for the
    /// tests that kill it at random instants: a std Command (assert_cmd's cannot be spawned
    /// and killed), with nothing of this process' environment but PATH.
    pub fn spawn_quiet<S: AsRef<OsStr>>(&self, args: &[S]) -> std::process::Child {
        std::process::Command::new(bin())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("USER", USER)
            .current_dir(self.root())
            .arg("--state")
            .arg(self.state())
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn dockpki")
    }

    /// The command line `dockpki --state STATE args` as dockpki prints it in a hint for this
    /// sandbox (the state directory needs no quoting).
    pub fn hint(&self, args: &str) -> String {
        format!("dockpki --state {} {args}", self.state().display())
    }

    /// The binary with the sanitized environment and no arguments.
    pub fn bare(&self) -> Command {
        let mut cmd = Command::new(bin());
        self.sanitize(&mut cmd);
        cmd
    }

    fn sanitize(&self, cmd: &mut Command) {
        for var in SCRUBBED {
            cmd.env_remove(var);
        }
        cmd.env("HOME", self.home())
            .env("USER", USER)
            .current_dir(self.root());
    }

    /// The binary with `--state <root/state>`.
    pub fn cmd(&self) -> Command {
        let mut cmd = self.bare();
        cmd.arg("--state").arg(self.state());
        cmd
    }

    /// The binary run by `sh` after `umask <umask>`, with `--state <root/state>`.
    pub fn cmd_with_umask(&self, umask: &str) -> Command {
        let mut cmd = Command::new("sh");
        self.sanitize(&mut cmd);
        cmd.arg("-c")
            .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
            .arg(bin())
            .arg("--state")
            .arg(self.state());
        cmd
    }

    /// Runs `dockpki --state STATE args...`.
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.cmd().args(args).output().expect("run dockpki")
    }

    /// Runs and asserts exit code 0; returns the output.
    pub fn ok<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        let out = self.run(args);
        assert_success(&out);
        out
    }

    /// `ca init` with extra arguments.
    pub fn ca_init(&self, extra: &[&str]) -> Output {
        let mut args = vec!["ca", "init"];
        args.extend_from_slice(extra);
        self.ok(&args)
    }

    /// `bootstrap --san localhost --san 127.0.0.1 --daemon-dir D --client-dir C extra...`.
    pub fn bootstrap(&self, daemon: &Path, client: &Path, extra: &[&str]) -> Output {
        let mut args = vec![
            "bootstrap",
            "--san",
            "localhost",
            "--san",
            "127.0.0.1",
            "--daemon-dir",
            s(daemon),
            "--client-dir",
            s(client),
        ];
        args.extend_from_slice(extra);
        self.ok(&args)
    }

    /// `issue client --name NAME --out OUT extra...`.
    pub fn issue_client(&self, name: &str, out: &Path, extra: &[&str]) -> Output {
        let mut args = vec!["issue", "client", "--name", name, "--out", s(out)];
        args.extend_from_slice(extra);
        self.ok(&args)
    }

    /// `issue server --san ... --out OUT extra...`.
    pub fn issue_server(&self, sans: &[&str], out: &Path, extra: &[&str]) -> Output {
        let mut args = vec!["issue", "server"];
        for san in sans {
            args.push("--san");
            args.push(san);
        }
        args.push("--out");
        args.push(s(out));
        args.extend_from_slice(extra);
        self.ok(&args)
    }

    /// `inspect --json FILE` → the first certificate's description.
    pub fn inspect_cert(&self, file: &Path) -> Value {
        let out = self.ok(&[
            OsStr::new("--json"),
            OsStr::new("inspect"),
            file.as_os_str(),
        ]);
        let doc = json(&out);
        doc["files"][0]["certificates"][0].clone()
    }

    /// Runs `args`, expecting a refusal: exit 1, one `error: ` line on stderr containing
    /// `phrase`, nothing on stdout, and not a single change anywhere in the sandbox.
    pub fn assert_refused<S: AsRef<OsStr>>(&self, args: &[S], phrase: &str) -> String {
        let mut cmd = self.cmd();
        cmd.args(args);
        self.assert_refused_cmd(cmd, phrase)
    }

    /// Like [`Env::assert_refused`] for a prepared command (e.g. from [`Env::bare`] with
    /// another `--state`).
    pub fn assert_refused_cmd(&self, mut cmd: Command, phrase: &str) -> String {
        let before = snapshot(self.root());
        let out = cmd.output().expect("run dockpki");
        let what = format!("{cmd:?}");
        let line = assert_error_line(&out, phrase);
        assert!(
            out.stdout.is_empty(),
            "{line}: stdout should be empty on failure, got {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert_unchanged(&before, &snapshot(self.root()), &format!("{what} ({line})"));
        line
    }
}

/// Asserts exit code 0, showing the output otherwise.
pub fn assert_success(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "expected success\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts exit code 1 and exactly one stderr line `error: ...` containing `phrase`; returns
/// that line.
pub fn assert_error_line(out: &Output, phrase: &str) -> String {
    assert_error_line_with_code(out, phrase, 1)
}

/// Asserts exit code `code` and exactly one stderr line `error: ...` containing `phrase`;
/// returns that line.
pub fn assert_error_line_with_code(out: &Output, phrase: &str, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected exit code {code}\nstdout:\n{}\nstderr:\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected exactly one line on stderr, got:\n{stderr}"
    );
    assert!(
        stderr.ends_with('\n'),
        "stderr line is not terminated: {stderr:?}"
    );
    assert!(
        lines[0].starts_with("error: "),
        "stderr does not start with `error: `: {stderr}"
    );
    assert!(
        lines[0].contains(phrase),
        "stderr does not mention {phrase:?}: {stderr}"
    );
    lines[0].to_string()
}

/// Parses stdout as exactly one JSON document.
/// The SHA-256 fingerprint of the state's (first) CA certificate, as `dockpki inspect` prints
/// it: what `install --ca-fingerprint` takes.
#[allow(dead_code)]
pub fn ca_sha256(env: &Env) -> String {
    let ca = env.state().join("ca.pem");
    let doc = json(&env.ok(&["--json", "inspect", ca.to_str().unwrap()]));
    doc["files"][0]["certificates"][0]["sha256"]
        .as_str()
        .expect("the CA's sha256")
        .to_string()
}

pub fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("UTF-8 stdout")
}

/// Permission bits, without following symlinks.
pub fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .mode()
        & 0o7777
}

/// Sets permission bits.
pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// Reads a file.
pub fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Replaces a (possibly read-only) file's contents, keeping its mode.
pub fn overwrite(path: &Path, contents: &[u8]) {
    let old = mode(path);
    chmod(path, 0o600);
    fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    chmod(path, old);
}

/// The names of the entries of a directory, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    v.sort();
    v
}

/// Entries of `dir` whose names start with `prefix`.
pub fn names_with_prefix(dir: &Path, prefix: &str) -> Vec<String> {
    names(dir)
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// What a file system entry looked like.
#[derive(Debug, PartialEq, Eq)]
pub enum Entry {
    /// A directory and its permission bits.
    Dir { mode: u32, owner: (u32, u32) },
    /// A regular file.
    File {
        mode: u32,
        owner: (u32, u32),
        contents: Vec<u8>,
        mtime: SystemTime,
        /// The inode, so that a file swapped for a copy with the same contents counts as changed.
        ino: u64,
    },
    /// A symlink and its target.
    Link { target: PathBuf, owner: (u32, u32) },
    /// A FIFO, device or socket: never read (a FIFO would block, a device never end).
    Special {
        kind: &'static str,
        mode: u32,
        owner: (u32, u32),
        rdev: u64,
        ino: u64,
    },
}

/// Every entry under `root` (recursively, not following symlinks), keyed by path.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut map = BTreeMap::new();
    walk(root, &mut map);
    map
}

/// The lock file of a layout (`dockpki_provision::fs::lock::LOCK_FILE`).
pub const LAYOUT_LOCK: &str = ".dockpki-lock";

fn walk(path: &Path, map: &mut BTreeMap<PathBuf, Entry>) {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return;
    };
    use std::os::unix::fs::FileTypeExt;
    let mode = meta.mode() & 0o7777;
    let owner = (meta.uid(), meta.gid());
    let t = meta.file_type();
    if t.is_symlink() {
        map.insert(
            path.to_path_buf(),
            Entry::Link {
                target: fs::read_link(path).expect("readlink"),
                owner,
            },
        );
    } else if meta.is_dir() {
        map.insert(path.to_path_buf(), Entry::Dir { mode, owner });
        for e in fs::read_dir(path).expect("read_dir") {
            walk(&e.expect("entry").path(), map);
        }
    } else if meta.is_file() {
        map.insert(
            path.to_path_buf(),
            Entry::File {
                mode,
                owner,
                contents: fs::read(path).expect("read"),
                mtime: meta.modified().expect("mtime"),
                ino: meta.ino(),
            },
        );
    } else {
        let kind = if t.is_fifo() {
            "fifo"
        } else if t.is_char_device() {
            "char device"
        } else if t.is_block_device() {
            "block device"
        } else {
            "socket"
        };
        map.insert(
            path.to_path_buf(),
            Entry::Special {
                kind,
                mode,
                owner,
                rdev: meta.rdev(),
                ino: meta.ino(),
            },
        );
    }
}

/// Asserts that two snapshots are identical, listing the differences.
pub fn assert_unchanged(
    before: &BTreeMap<PathBuf, Entry>,
    after: &BTreeMap<PathBuf, Entry>,
    what: &str,
) {
    let mut diffs = Vec::new();
    for (p, e) in before {
        match after.get(p) {
            None => diffs.push(format!("removed {}", p.display())),
            Some(a) if a != e => diffs.push(format!("changed {}", p.display())),
            _ => {}
        }
    }
    for p in after.keys() {
        if !before.contains_key(p) {
            diffs.push(format!("created {}", p.display()));
        }
    }
    assert!(
        diffs.is_empty(),
        "{what} changed the file system:\n  {}",
        diffs.join("\n  ")
    );
}

/// Runs `openssl verify -CAfile CA -purpose PURPOSE CERT`.
pub fn openssl_verify(ca: &Path, cert: &Path, purpose: &str) -> Output {
    std::process::Command::new("openssl")
        .args(["verify", "-CAfile", s(ca), "-purpose", purpose, s(cert)])
        .output()
        .expect("run openssl")
}

/// Asserts that openssl accepts `cert` for `purpose` under `ca`.
pub fn assert_openssl_accepts(ca: &Path, cert: &Path, purpose: &str) {
    let out = openssl_verify(ca, cert, purpose);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains(": OK"),
        "openssl verify -purpose {purpose} {} failed:\n{}{}",
        cert.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `openssl x509 -noout ARGS -in CERT` and returns stdout.
pub fn openssl_x509(cert: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("openssl")
        .arg("x509")
        .arg("-noout")
        .args(args)
        .args(["-in", s(cert)])
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl x509 failed: {out:?}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// An RFC 3339 timestamp from JSON.
pub fn time_of(v: &Value) -> time::OffsetDateTime {
    let text = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("not RFC 3339: {text}: {e}"))
}

/// The `status` of every inventory record, in order.
pub fn inventory(env: &Env) -> Value {
    serde_json::from_slice(&read(&env.state().join("inventory.json"))).expect("inventory JSON")
}

/// Whether `name` looks like `BASE.bak-YYYYMMDDTHHMMSSZ` (optionally with a `-N` suffix).
pub fn is_timestamped_backup(name: &str, base: &str) -> bool {
    let Some(rest) = name.strip_prefix(&format!("{base}.bak-")) else {
        return false;
    };
    let stamp = rest.split('-').next().unwrap_or("");
    let b = stamp.as_bytes();
    b.len() == 16
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'Z'
}

/// Every command, as its words after `dockpki`, found by walking the `Commands:` sections of
/// the binary's own `--help` (clap's `help` subcommand aside), parents before children.
#[allow(dead_code)]
pub fn every_command(env: &Env) -> Vec<Vec<String>> {
    fn walk(env: &Env, words: Vec<String>, out: &mut Vec<Vec<String>>) {
        let help = env.bare().args(&words).arg("--help").output().unwrap();
        assert_success(&help);
        out.push(words.clone());
        let subs: Vec<String> = stdout(&help)
            .lines()
            .skip_while(|l| *l != "Commands:")
            .skip(1)
            .take_while(|l| !l.is_empty())
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .filter(|n| n != "help")
            .collect();
        for sub in subs {
            let mut w = words.clone();
            w.push(sub);
            walk(env, w, out);
        }
    }
    let mut out = Vec::new();
    walk(env, Vec::new(), &mut out);
    out
}

/// Makes every recorded certificate of `kind` ("client", "server" or "any") `days` older in the
/// inventory (its validity moved back by that much, the same lifetime): what a state looks like
/// `days` later, for the renewal rule, which never calls a certificate in the first third of its
/// lifetime due. The installed files are untouched (status compares them by fingerprint).
pub fn age_certificates(env: &Env, kind: &str, days: i64) {
    age_certificates_in(&env.state(), kind, days);
}

/// [`age_certificates`] for the state directory `state` (one not named by [`Env::state`]).
pub fn age_certificates_in(state: &Path, kind: &str, days: i64) {
    let shift = |v: &mut Value| {
        let t = time::OffsetDateTime::parse(
            v.as_str().expect("a time"),
            &time::format_description::well_known::Rfc3339,
        )
        .expect("RFC 3339");
        let t = t - time::Duration::days(days);
        *v = t
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
            .into();
    };
    let path = state.join("inventory.json");
    let mut inv: Value = serde_json::from_slice(&read(&path)).expect("inventory JSON");
    for c in inv["certificates"].as_array_mut().unwrap() {
        if kind == "any" || c["kind"] == kind {
            shift(&mut c["not_before"]);
            shift(&mut c["not_after"]);
        }
    }
    overwrite(&path, &serde_json::to_vec_pretty(&inv).unwrap());
}

/// Runs `dockpki --state STATE ARGS` on a pseudo-terminal (util-linux `script`), typing each of
/// `lines` after a pause; returns everything the terminal showed, or None without `script`.
pub fn on_terminal(env: &Env, args: &str, lines: &[&str]) -> Option<(bool, String)> {
    use std::io::Write;
    use std::process::Stdio;
    let command = format!("{} --state {} {args}", s(&bin()), s(&env.state()));
    let mut child = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("HOME", env.home())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    for line in lines {
        std::thread::sleep(std::time::Duration::from_millis(400));
        stdin.write_all(format!("{line}\n").as_bytes()).ok()?;
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    drop(stdin);
    let out = child.wait_with_output().ok()?;
    let shown = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned();
    Some((out.status.success(), shown))
}

/// A small xorshift generator for the random-kill crash tests: they need spread, not
/// cryptographic randomness.
pub struct Rng(u64);

impl Rng {
    /// Seeded from the clock.
    pub fn seeded() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Rng(nanos | 1)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}
