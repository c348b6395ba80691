//! `dockpki bootstrap`: the whole job for one daemon and one client in one step.

use dockpki_provision::store::Create;

use dockpki::{ClientRequest, CommonName, SanList, ServerRequest};
use dockpki_provision::ops::{self, BootstrapRequest, Bootstrapped, CaSource};
use serde_json::json;

use super::{now, parse, parse_all, parse_validity, Context};
use crate::cli::BootstrapArgs;
use crate::error::{CliError, CliResult, EXIT_OK};
use crate::invocation::Invocation;
use crate::output::{print_document, printable_path, say, shell_quote};
use crate::paths::absolute;
use dockpki_provision::store::state::State;

/// Creates the CA if there is none, issues a server and a client certificate, installs both
/// layouts and prints what to configure next.
///
/// `--san auto` is expanded here, not in the engine: it guesses the names clients dial from the
/// host dockpki runs on (its hostname, the resolver, its interfaces), which is the command
/// line's knowledge of where it runs; an embedder provisioning a daemon elsewhere must give the
/// names itself.
pub fn run(ctx: &Context, args: &BootstrapArgs) -> CliResult<i32> {
    // Before anything else: root would make files (and a state) a rootless daemon's user does
    // not own.
    if args.rootless {
        crate::paths::refuse_rootless_as_root("bootstrap")?;
    }
    let port = check_port(&args.port)?;
    let now = now();
    let user = ctx.user.clone();
    let request = BootstrapRequest {
        key_type: parse(&args.key_type)?,
        server: ServerRequest {
            sans: SanList::new(parse_all(&crate::host_names::expand_auto(&args.sans)?)?)?,
            common_name: None,
            lifetime: parse_validity("--server-validity", &args.server_validity)?,
        },
        client: ClientRequest {
            common_name: match &args.name {
                Some(cn) => parse::<CommonName>(cn)?,
                None => parse(user.name.as_deref().unwrap_or("docker-client"))?,
            },
            lifetime: parse_validity("--client-validity", &args.client_validity)?,
        },
        daemon_dir: absolute(&match (&args.daemon_dir, args.rootless) {
            (Some(dir), _) => dir.clone(),
            (None, true) => crate::paths::rootless_daemon_dir()?,
            (None, false) => std::path::PathBuf::from(crate::paths::DEFAULT_DAEMON_DIR),
        })?,
        client_dir: absolute(&match &args.client_dir {
            Some(dir) => dir.clone(),
            None => user.docker_dir()?,
        })?,
        port,
        existing: super::existing(args.force),
    };
    // Both directories are printed into shell commands (the dockerd flags, the `export` lines).
    printable_path("the daemon directory", &request.daemon_dir)?;
    printable_path("the client directory", &request.client_dir)?;
    let state_dir = ctx.state_dir()?;
    if !state_dir.exists() {
        // Opening the state creates it; refuse conflicts in the layouts before that happens.
        ops::bootstrap::refuse_existing_layout_files(&request)?;
    }

    let state = ctx.open_state_at(state_dir, Create::IfMissing)?;
    let done = ops::bootstrap(&state, &request, now)?;
    if ctx.out.json {
        print_document(
            "bootstrap",
            json!({
                "state": state.dir(),
                "ca": done.ca,
                "ca_created": done.ca_source == CaSource::Created,
                "daemon": { "dir": done.daemon.dir, "certificate": done.server },
                "client": { "dir": done.client.dir, "certificate": done.client_certificate },
                "daemon_json": daemon_json(&done, args.rootless),
                // An object, as `env --json` prints the same variables under `set`.
                "client_env": done
                    .next
                    .client_env
                    .iter()
                    .map(|(k, v)| (k.to_string(), serde_json::Value::from(v.to_string())))
                    .collect::<serde_json::Map<_, _>>(),
                "written": done.written,
                "contexts_fed": done.contexts_fed,
            }),
        );
    } else if ctx.out.reports() {
        print_summary(&state, &done);
        super::list_written(ctx, &done.written);
        super::list_contexts_fed(ctx, &done.contexts_fed);
        if args.rootless {
            print_rootless_next_steps(&ctx.invocation, &done);
        } else {
            print_next_steps(&ctx.invocation, &done);
        }
    }
    Ok(EXIT_OK)
}

/// Refuses ports the printed configuration must not use: 0 (no port; dockerd would pick a
/// random one) and 2375, which Docker and every guide reserve for the daemon without TLS, so
/// that a TLS daemon there is mistaken for an open one and clients fall back to plain HTTP.
/// `--port`: a TCP port clients can dial with TLS. Parsed here rather than by clap so that a bad
/// value is a one-line error with exit code 1, like every other bad value.
fn check_port(text: &str) -> CliResult<u16> {
    let port: u16 = text.trim().parse().map_err(|_| {
        CliError::new(format!(
            "invalid --port {text:?}: give a TCP port from 1 to 65535, normally 2376"
        ))
    })?;
    match port {
        0 => Err(CliError::new(
            "--port 0 is no port clients can dial; give the port dockerd listens on, normally 2376",
        )),
        2375 => Err(CliError::new(
            "--port 2375 is Docker's port for the daemon without TLS; TLS belongs on 2376: pass --port 2376 or leave --port out",
        )),
        _ => Ok(port),
    }
}

/// One line saying what was done: the CA, then each certificate and where it went.
fn print_summary(state: &State, done: &Bootstrapped) {
    let expires = |c: &dockpki::CertInfo| c.not_after.date();
    // A reused CA's name comes from its certificate, which may say anything: `say` escapes.
    say(format_args!(
        "{} CA {} in {}; issued server certificate (SANs {}; serial {}, expires {}) into {} and client certificate {} (serial {}, expires {}) into {}",
        match done.ca_source {
            CaSource::Created => "created",
            CaSource::Reused => "reused",
        },
        super::quoted_name(&done.ca),
        state.dir().display(),
        done.server.san_strings().join(", "),
        super::short_serial(&done.server.serial),
        expires(&done.server),
        done.daemon.dir.display(),
        super::quoted_name(&done.client_certificate),
        super::short_serial(&done.client_certificate.serial),
        expires(&done.client_certificate),
        done.client.dir.display()
    ));
}

/// The configuration to apply after installing the files: the daemon.json keys (or the same as
/// dockerd flags), then the client's environment.
fn print_next_steps(inv: &Invocation, done: &Bootstrapped) {
    let p = |path: std::path::PathBuf| shell_quote(&path.display().to_string());
    let daemon = &done.daemon;
    let listen = &done.next.listen;
    println!();
    println!("Next, on the daemon host, either put these keys in /etc/docker/daemon.json");
    println!(
        "(`{}` merges them, keeping your other settings):",
        inv.command(&format!(
            "daemon-config --daemon-dir {} --listen {} --keep-unix",
            shell_quote(&done.daemon_to_restart().display().to_string()),
            shell_quote(listen)
        ))
    );
    println!(
        "{}",
        serde_json::to_string_pretty(&done.next.daemon_json).unwrap_or_default()
    );
    println!(
        "  (systemd starts dockerd with -H fd://, which conflicts with \"hosts\" in daemon.json:"
    );
    println!(
        "   `{}` writes a drop-in starting dockerd without -H fd://)",
        inv.command("systemd-dropin")
    );
    println!("or start dockerd with the same settings as flags:");
    println!(
        "  dockerd --tlsverify --tlscacert={} --tlscert={} --tlskey={} -H unix:///var/run/docker.sock -H {listen}",
        p(daemon.ca_path()),
        p(daemon.cert_path()),
        p(daemon.key_path())
    );
    println!("then restart dockerd (it does not reload certificates on SIGHUP).");
    println!();
    println!("On the client:");
    for (k, v) in &done.next.client_env {
        println!("  export {k}={}", shell_quote(v));
    }
    println!("  docker version");
}

/// The daemon.json keys to print: a rootless daemon's local socket is
/// `$XDG_RUNTIME_DIR/docker.sock`, not the system's (left out when that is unknown).
fn daemon_json(done: &Bootstrapped, rootless: bool) -> serde_json::Value {
    let mut keys = done.next.daemon_json.clone();
    if rootless {
        let hosts: Vec<String> = crate::paths::rootless_socket()
            .into_iter()
            .chain([done.next.listen.clone()])
            .collect();
        keys["hosts"] = json!(hosts);
    }
    keys
}

/// The next steps for a rootless daemon: `daemon-config --rootless` (which knows the user's
/// daemon.json and socket), the user's restart, then the client's environment.
fn print_rootless_next_steps(inv: &Invocation, done: &Bootstrapped) {
    println!();
    println!("Next, merge the TLS settings into your rootless dockerd's daemon.json:");
    println!(
        "  {}",
        inv.command(&format!(
            "daemon-config --rootless --daemon-dir {} --listen {}",
            shell_quote(&done.daemon_to_restart().display().to_string()),
            shell_quote(&done.next.listen)
        ))
    );
    println!(
        "then restart it: {} (it does not reload certificates on SIGHUP).",
        dockpki_provision::layout::ROOTLESS_RESTART
    );
    println!("daemon-config says where clients reach it under each rootlesskit network.");
    println!();
    println!("On the client:");
    for (k, v) in &done.next.client_env {
        println!("  export {k}={}", shell_quote(v));
    }
    println!("  docker version");
}
