//! A whole CA rotation through the library, on a state the `dockpki` CLI made: begin (a new CA,
//! both CAs trusted everywhere), reissue (every certificate from the new CA), finish (only the
//! new CA trusted, the old one archived). The library and the CLI are one engine over one
//! on-disk format: afterwards `dockpki status` and `dockpki verify` agree.
//!
//! ```sh
//! dockpki --state STATE bootstrap --san localhost --daemon-dir D --client-dir C
//! cargo run -p dockpki-provision --example rotate_ca -- STATE
//! dockpki --state STATE status && dockpki --state STATE verify --daemon-dir D --client-dir C
//! ```
//!
//! Exits 1 when a recorded layout does not trust exactly the new CA afterwards.

use std::path::PathBuf;

use dockpki::OffsetDateTime;
use dockpki_provision::fs::reader::{self, Limit, Links};
use dockpki_provision::layout::Layout;
use dockpki_provision::ops::rotate::{self, BeginRequest, Next, Phase};
use dockpki_provision::store::inventory::Status;
use dockpki_provision::store::{Create, Settings, State};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir: PathBuf = std::env::args()
        .nth(1)
        .ok_or("usage: rotate_ca STATE_DIR")?
        .into();
    let state = State::open(std::path::absolute(dir)?, Create::No, Settings::default())?;

    let begun = rotate::begin(
        &state,
        &BeginRequest {
            key_type: None,
            lifetime: "10y".parse()?,
        },
        OffsetDateTime::now_utc(),
    )?;
    println!(
        "begun: new CA {:?}; restart {:?}",
        begun.new_ca.subject,
        begun.restart_daemons()
    );
    assert_eq!(begun.next, Next::Reissue);
    // Between begin and reissue an operator restarts the daemons: both CAs are trusted.

    let reissued = rotate::reissue(&state, OffsetDateTime::now_utc())?;
    println!("reissued {} certificate(s)", reissued.reissued.len());
    let finished = rotate::finish(&state)?;
    match &finished.archive {
        Some(dir) => println!("finished: old CA archived in {}", dir.display()),
        None => println!("finished: no old CA to archive"),
    }
    assert_eq!(finished.phase, Phase::None);

    // Every recorded layout now trusts exactly the new CA, and its certificate comes from it.
    let new_ca = state.load_ca()?;
    let inventory = state.load_inventory()?;
    let mut failed = 0;
    for record in inventory
        .certificates
        .iter()
        .filter(|r| r.status == Status::Active)
    {
        for dir in &record.installed {
            let layout = Layout::for_usage(record.kind, dir.clone());
            let bundle = reader::read(&layout.ca_path(), Links::Refuse, Limit::Pem)?;
            let bundle = dockpki::certs_from_pem(&bundle)?;
            // Read as the layout's owner (a user's layout, when root runs this).
            let files = layout.read(Links::Refuse, state.settings().owners.owner_for(dir))?;
            let ok = bundle == [new_ca.cert_der().clone()]
                && dockpki::verify_leaf(
                    &files.chain[0],
                    &bundle,
                    layout.usage,
                    None,
                    OffsetDateTime::now_utc(),
                )
                .is_ok();
            if !ok {
                eprintln!("FAIL {}: does not trust exactly the new CA", dir.display());
                failed += 1;
            }
        }
    }
    if failed > 0 {
        std::process::exit(1);
    }
    println!(
        "ok: every recorded layout trusts only {:?}",
        finished.new_ca.subject
    );
    Ok(())
}
