//! Output piped into a reader that stops early (`dockpki inspect ... | head -1`) ends dockpki
//! quietly, as other command line tools do, instead of with a panic message.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::{s, Env};

#[test]
fn a_reader_closing_the_pipe_early_ends_dockpki_without_a_panic() {
    let env = Env::new();
    env.bootstrap(&env.path("daemon"), &env.path("client"), &[]);
    let cert = env.path("client").join("cert.pem");
    // Far more output than a pipe buffers, so dockpki is still writing when the reader leaves.
    let files: Vec<&str> = std::iter::repeat_n(s(&cert), 2000).collect();
    let mut child = std::process::Command::new(common::bin())
        .arg("inspect")
        .args(&files)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("cert.pem"), "{first}");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
