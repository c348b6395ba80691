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
