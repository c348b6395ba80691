//! Helpers shared by the unit tests.

/// Whether the test runs as root; when not, it must stop, and under `CI=true` (where it always
/// runs as root) that is a failure, never a silent pass.
pub fn root_or_skip() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "CI=true but this test needs root"
    );
    false
}

/// The pid of a process that has exited (a stale staged file's owner).
pub fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// Whether something a test needs is here (`found`); when not, the test must stop, and under
/// `CI=true` (where .ci/run installs it) that is a failure, never a silent pass.
pub fn present_or_skip(found: bool, what: &str) -> bool {
    if found {
        return true;
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "CI=true but {what} is missing"
    );
    false
}

/// Runs the unit test `name` (its full path, e.g. `fs::write::tests::x`) of this test binary
/// again, in a child process as uid and gid 65534, with the environment variable `var` set to
/// `dir` (which that user must be able to reach), and says whether it passed. A test uses it
/// for what it must check as a user who is not root: the child sees `var` and does that part.
pub fn passes_as_nobody(name: &str, var: &str, dir: &std::path::Path) -> bool {
    use std::os::unix::process::CommandExt;
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--test-threads=1"])
        .env(var, dir)
        .current_dir(dir)
        .uid(65534)
        .gid(65534)
        .status()
        .unwrap()
        .success()
}

/// Writes `contents` to `path` with exactly `mode`, replacing a file there (whatever its mode:
/// a test swaps a layout's file for another).
pub fn write_file(path: &std::path::Path, contents: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    crate::fs::write::remove_if_present(path).unwrap();
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A 30-day ECDSA certificate for the client `alice` from `ca`, issued at `now`: the client of
/// the layout tests.
pub fn alice(
    ca: &dockpki::CertificateAuthority,
    now: dockpki::OffsetDateTime,
) -> dockpki::IssuedCert {
    ca.issue_client(
        &dockpki::ClientRequest {
            common_name: "alice".parse().unwrap(),
            lifetime: "30d".parse().unwrap(),
        },
        dockpki::PrivateKey::generate(dockpki::KeyType::EcdsaP256).unwrap(),
        now,
    )
    .unwrap()
}

/// Installs `issued` and `ca`'s certificate in the existing directory of `layout`, with
/// dockpki's modes, as `dockpki issue` would.
pub fn install(
    layout: &crate::layout::Layout,
    ca: &dockpki::CertificateAuthority,
    issued: &dockpki::IssuedCert,
) {
    use crate::fs::write::{CERT_MODE, KEY_MODE};
    write_file(&layout.ca_path(), ca.cert_pem(), CERT_MODE);
    write_file(&layout.cert_path(), &issued.cert_pem, CERT_MODE);
    write_file(&layout.key_path(), &issued.key_pem(), KEY_MODE);
}
