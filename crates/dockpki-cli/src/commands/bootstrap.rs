//! `dockpki bootstrap`: the whole job for one daemon and one client in one step.

use dockpki_provision::store::Create;
use std::path::Path;

use dockpki::{
    CaOptions, CertificateAuthority, ClientRequest, CommonName, IssuedCert, PrivateKey, SanList,
    ServerRequest, SubjectAltName,
};
use serde_json::{json, Value};

use super::{now, parse, parse_all, Context};
use crate::cli::BootstrapArgs;
use crate::error::{CliError, CliResult, EXIT_OK};
use crate::output::{print_json, printable_path, say, shell_quote};
use crate::paths::absolute;
use dockpki_provision::fs::write::WritePlan;
use dockpki_provision::layout::Layout;
use dockpki_provision::store::inventory::Record;
use dockpki_provision::store::state::{KeyProtection, State};

/// Creates the CA if there is none, issues a server and a client certificate, installs both
/// layouts and prints what to configure next.
pub fn run(ctx: &Context, args: &BootstrapArgs) -> CliResult<i32> {
    check_port(args.port)?;
    let now = now();
    let key_type = parse(&args.key_type)?;
    let sans = SanList::new(parse_all(&super::sans::expand_auto(&args.sans)?)?)?;
    let server_request = ServerRequest {
        sans,
        common_name: None,
        lifetime: parse(&args.server_validity)?,
    };
    let user = ctx.user.clone();
    let client_name: CommonName = match &args.client {
        Some(cn) => parse(cn)?,
        None => parse(user.name.as_deref().unwrap_or("docker-client"))?,
    };
    let client_request = ClientRequest {
        common_name: client_name,
        lifetime: parse(&args.client_validity)?,
    };
    let daemon = Layout::daemon(absolute(&args.daemon_dir)?);
    let client = Layout::client(absolute(&match &args.client_dir {
        Some(dir) => dir.clone(),
        None => user.docker_dir()?,
    })?);
    // Both directories are printed into shell commands (the dockerd flags, the `export` lines).
    printable_path("the daemon directory", &daemon.dir)?;
    printable_path("the client directory", &client.dir)?;
    let state_dir = ctx.state_dir()?;
    if !state_dir.exists() {
        // Opening the state creates it; refuse conflicts in the layouts before that happens.
        refuse_existing(&[&daemon, &client], args.force)?;
    }

    let state = ctx.open_state_at(state_dir, Create::IfMissing)?;
    let existing_ca = if state.has_ca() {
        Some(state.load_ca()?)
    } else {
        None
    };
    let mut inventory = state.load_inventory()?;
    let wanted = if existing_ca.is_some() { 2 } else { 3 };
    let mut keys = PrivateKey::generate_many(&vec![key_type; wanted])?;
    let (ca, ca_created) = match existing_ca {
        Some(ca) => (ca, false),
        None => {
            let mut options = CaOptions::new(now)?;
            options.key_type = key_type;
            let key = keys
                .pop()
                .ok_or_else(|| CliError::new("key generation returned too few keys"))?;
            (
                CertificateAuthority::create_with_key(&options, key, now)?,
                true,
            )
        }
    };
    let client_key = keys
        .pop()
        .ok_or_else(|| CliError::new("key generation returned too few keys"))?;
    let server_key = keys
        .pop()
        .ok_or_else(|| CliError::new("key generation returned too few keys"))?;
    let server = ca.issue_server(&server_request, server_key, now)?;
    let client_cert = ca.issue_client(&client_request, client_key, now)?;

    let mut plan = WritePlan::new(super::existing(args.force));
    if ca_created {
        state.plan_ca(&mut plan, &ca, KeyProtection::Plain)?;
    }
    let bundle = state.trust_bundle_pem(&ca)?;
    daemon.plan(&mut plan, &bundle, &server, None);
    client.plan(
        &mut plan,
        &bundle,
        &client_cert,
        user.owner_for(&client.dir),
    );
    let ca_fp = &ca.info().sha256_fingerprint;
    inventory.add(Record::new(
        &server.info,
        server.usage,
        ca_fp,
        vec![daemon.dir.clone()],
    ));
    inventory.add(Record::new(
        &client_cert.info,
        client_cert.usage,
        ca_fp,
        vec![client.dir.clone()],
    ));
    state.plan_inventory(&mut plan, &inventory)?;
    let written = state.commit(plan)?;

    let next = NextSteps::new(&daemon, &client, &server_request.sans, args.port);
    if ctx.out.json {
        print_json(&json!({
            "state": state.dir(),
            "ca": { "created": ca_created, "certificate": ca.info() },
            "daemon": { "dir": daemon.dir, "certificate": server.info },
            "client": { "dir": client.dir, "certificate": client_cert.info },
            "daemon_json": next.daemon_json,
            "client_env": next.env,
            "written": written,
        }));
    } else {
        print_summary(
            &state,
            &ca,
            ca_created,
            &daemon,
            &server,
            &client,
            &client_cert,
        );
        next.print();
    }
    Ok(EXIT_OK)
}

/// Refuses ports the printed configuration must not use: 0 (no port; dockerd would pick a
/// random one) and 2375, which Docker and every guide reserve for the daemon without TLS, so
/// that a TLS daemon there is mistaken for an open one and clients fall back to plain HTTP.
fn check_port(port: u16) -> CliResult<()> {
    match port {
        0 => Err(CliError::new(
            "--port 0 is no port clients can dial; give the port dockerd listens on, normally 2376",
        )),
        2375 => Err(CliError::new(
            "--port 2375 is Docker's port for the daemon without TLS; TLS belongs on 2376: pass --port 2376 or leave --port out",
        )),
        _ => Ok(()),
    }
}

fn refuse_existing(layouts: &[&Layout], force: bool) -> CliResult<()> {
    if force {
        return Ok(());
    }
    for layout in layouts {
        for path in [layout.cert_path(), layout.key_path(), layout.ca_path()] {
            if path.symlink_metadata().is_ok() {
                return Err(CliError::new(format!(
                    "{} already exists; pass --force to replace it (the old file is kept as a timestamped backup)",
                    path.display()
                )));
            }
        }
    }
    Ok(())
}

fn print_summary(
    state: &State,
    ca: &CertificateAuthority,
    ca_created: bool,
    daemon: &Layout,
    server: &IssuedCert,
    client: &Layout,
    client_cert: &IssuedCert,
) {
    let until = |c: &IssuedCert| dockpki::format_time(c.info.not_after);
    // A reused CA's name comes from its certificate, which may say anything.
    say(format_args!(
        "CA      {:?} {} in {}",
        ca.info().common_name.clone().unwrap_or_default(),
        if ca_created { "created" } else { "reused" },
        state.dir().display()
    ));
    say(format_args!(
        "daemon  {}  (SANs {}; valid until {})",
        daemon.describe(),
        server.info.san_strings().join(", "),
        until(server)
    ));
    say(format_args!(
        "client  {}  (CN {:?}; valid until {})",
        client.describe(),
        client_cert.info.common_name.clone().unwrap_or_default(),
        until(client_cert)
    ));
}

/// The configuration to apply after installing the files.
struct NextSteps {
    daemon_json: Value,
    merge_command: String,
    flags: String,
    env: Vec<(&'static str, String)>,
}

impl NextSteps {
    fn new(daemon: &Layout, client: &Layout, sans: &SanList, port: u16) -> NextSteps {
        let p = |path: &Path| path.display().to_string();
        let daemon_json = json!({
            "tlsverify": true,
            "tlscacert": p(&daemon.ca_path()),
            "tlscert": p(&daemon.cert_path()),
            "tlskey": p(&daemon.key_path()),
            "hosts": ["unix:///var/run/docker.sock", format!("tcp://0.0.0.0:{port}")],
        });
        let flags = format!(
            "dockerd --tlsverify --tlscacert={} --tlscert={} --tlskey={} -H unix:///var/run/docker.sock -H tcp://0.0.0.0:{port}",
            shell_quote(&p(&daemon.ca_path())),
            shell_quote(&p(&daemon.cert_path())),
            shell_quote(&p(&daemon.key_path()))
        );
        let host = match sans.primary() {
            SubjectAltName::Ip(std::net::IpAddr::V6(v6)) => format!("[{v6}]"),
            other => other.to_string(),
        };
        let env = vec![
            ("DOCKER_HOST", format!("tcp://{host}:{port}")),
            ("DOCKER_TLS_VERIFY", "1".to_string()),
            ("DOCKER_CERT_PATH", p(&client.dir)),
        ];
        let merge_command = format!(
            "dockpki daemon-config --daemon-dir {} --listen tcp://0.0.0.0:{port} --keep-unix",
            shell_quote(&p(&daemon.dir))
        );
        NextSteps {
            daemon_json,
            merge_command,
            flags,
            env,
        }
    }

    fn print(&self) {
        println!();
        println!("Next, on the daemon host, either put these keys in /etc/docker/daemon.json");
        println!(
            "(`{}` merges them, keeping your other settings):",
            self.merge_command
        );
        println!(
            "{}",
            serde_json::to_string_pretty(&self.daemon_json).unwrap_or_default()
        );
        println!("  (systemd starts dockerd with -H fd://, which conflicts with \"hosts\" in daemon.json:");
        println!("   `dockpki systemd-dropin` writes a drop-in starting dockerd without -H fd://)");
        println!("or start dockerd with the same settings as flags:");
        println!("  {}", self.flags);
        println!("then restart dockerd (it does not reload certificates on SIGHUP).");
        println!();
        println!("On the client:");
        for (k, v) in &self.env {
            println!("  export {k}={}", shell_quote(v));
        }
        println!("  docker version");
    }
}
