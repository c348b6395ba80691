//! A provisioning tool's bootstrap, with the library alone: a CA in `ROOT/state`, the daemon's
//! layout in `ROOT/etc/docker/pki` and a client layout in `ROOT/home/docker/.docker`, written
//! through the same crash-safe, journaled write path as `dockpki bootstrap`, with its modes.
//! Then the layouts are checked offline the way dockerd and the docker CLI will judge them.
//!
//! `cargo run -p dockpki-provision --example embed_bootstrap -- ROOT`
//!
//! Exits 1 when any check fails, so CI runs it as a test.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use dockpki::{ClientRequest, KeyType, OffsetDateTime, SanList, ServerRequest};
use dockpki_provision::fs::{Existing, OwnerPolicy};
use dockpki_provision::layout::check::{check_layouts, CheckOptions, Level, StateCa};
use dockpki_provision::layout::Layout;
use dockpki_provision::ops::{bootstrap, BootstrapRequest};
use dockpki_provision::report::Notice;
use dockpki_provision::store::{Create, Settings, State};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root: PathBuf = std::env::args()
        .nth(1)
        .ok_or("usage: embed_bootstrap ROOT")?
        .into();
    let root = std::path::absolute(root)?;
    let now = OffsetDateTime::now_utc();

    // What only the embedding tool knows goes into Settings: here, notices go to its own log.
    let settings = Settings {
        report: std::sync::Arc::new(|n: &Notice| eprintln!("embed_bootstrap: {n}")),
        ..Settings::default()
    };
    let state = State::open(root.join("state"), Create::IfMissing, settings)?;
    let done = bootstrap(
        &state,
        &BootstrapRequest {
            server: ServerRequest {
                sans: SanList::parse(["localhost", "127.0.0.1"])?,
                common_name: None,
                lifetime: "1y".parse()?,
            },
            client: ClientRequest {
                common_name: "docker".parse()?,
                lifetime: "90d".parse()?,
            },
            key_type: KeyType::EcdsaP256,
            daemon_dir: root.join("etc/docker/pki"),
            client_dir: root.join("home/docker/.docker"),
            port: 2376,
            existing: Existing::Refuse,
        },
        now,
    )?;
    println!(
        "CA {:?}, {} files written",
        done.ca.subject,
        done.written.len()
    );

    // dockpki's modes: keys 0400, certificates 0444.
    let mut failed = 0;
    let daemon = Layout::daemon(root.join("etc/docker/pki"));
    let client = Layout::client(root.join("home/docker/.docker"));
    for layout in [&daemon, &client] {
        for (path, want) in [
            (layout.ca_path(), 0o444),
            (layout.cert_path(), 0o444),
            (layout.key_path(), 0o400),
        ] {
            let mode = std::fs::metadata(&path)?.permissions().mode() & 0o7777;
            if mode != want {
                eprintln!("FAIL {}: mode {mode:04o}, want {want:04o}", path.display());
                failed += 1;
            }
        }
    }

    // Judged the way dockerd and the docker CLI will: chains, usages, SANs, keys, modes, and
    // whether the two layouts accept each other; against the state that issued them.
    let state_ca = StateCa::read(state.dir())?;
    let findings = check_layouts(
        &[daemon, client],
        &CheckOptions {
            hosts: &["localhost".parse()?, "127.0.0.1".parse()?],
            now,
            warn_within: time::Duration::days(30),
            state_ca: state_ca.as_ref(),
            owners: &OwnerPolicy::RunningUser,
        },
    );
    for f in &findings.findings {
        if f.level != Level::Ok {
            eprintln!("{:?} {}: {}", f.level, f.path.display(), f.message);
        }
    }
    failed += findings.failures();
    if failed > 0 {
        eprintln!("embed_bootstrap: {failed} check(s) failed");
        std::process::exit(1);
    }
    println!(
        "ok: {} checks passed; restart dockerd using {}",
        findings.findings.len(),
        done.daemon_to_restart().display()
    );
    Ok(())
}
