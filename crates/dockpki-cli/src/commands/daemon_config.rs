//! `dockpki daemon-config`: merges the TLS settings into dockerd's daemon.json
//! ([`dockpki_provision::docker::daemon_json`] does the merge and the journaled write).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::Context;
use crate::cli::DaemonConfigArgs;
use crate::error::{CliError, CliResult, EXIT_OK};
use crate::output::{note, print_document, say};
use crate::paths::{absolute, config_home, rootless_daemon_dir, DEFAULT_DAEMON_DIR};
use dockpki_provision::docker::daemon_json::{
    self, Action, Conflict, Daemon, Hardening, Listen, Mode, Request,
};
use dockpki_provision::docker::systemd;
use dockpki_provision::docker::userns::{self, Readiness};
use dockpki_provision::layout::{Layout, ROOTLESS_RESTART};

/// The socket of a rootless daemon, required: it is kept in "hosts" unless `--no-unix`.
fn rootless_socket() -> CliResult<String> {
    crate::paths::rootless_socket().ok_or_else(|| {
        CliError::new("XDG_RUNTIME_DIR is unset, so the rootless socket (kept in \"hosts\" by default) is unknown; log in with a systemd user session, pass --listen unix://PATH, or pass --no-unix")
    })
}

/// Merges and writes daemon.json.
pub fn run(ctx: &Context, args: &DaemonConfigArgs) -> CliResult<i32> {
    let file = absolute(&match (&args.file, args.rootless) {
        (Some(f), _) => f.clone(),
        (None, true) => config_home()?.join("docker/daemon.json"),
        (None, false) => PathBuf::from(daemon_json::SYSTEM_FILE),
    })?;
    let daemon_dir = absolute(&match (&args.daemon_dir, args.rootless) {
        (Some(d), _) => d.clone(),
        (None, true) => rootless_daemon_dir()?,
        (None, false) => PathBuf::from(DEFAULT_DAEMON_DIR),
    })?;
    let mut hosts = Vec::new();
    // Local tools (and docker without DOCKER_HOST) use the socket: dropping it is opt-in.
    // `--keep-unix` is the default, still accepted.
    if !args.no_unix {
        let socket = if args.rootless {
            rootless_socket()?
        } else {
            daemon_json::SYSTEM_SOCKET.to_string()
        };
        hosts.push(Listen::Unix(socket));
    }
    let listen: Vec<String> = if args.listen.is_empty() {
        vec![daemon_json::DEFAULT_LISTEN.to_string()]
    } else {
        args.listen.clone()
    };
    for l in &listen {
        let l = Listen::parse(l)?;
        if !hosts.contains(&l) {
            hosts.push(l);
        }
    }
    let daemon = if args.rootless {
        Daemon::Rootless
    } else {
        Daemon::System
    };
    // A rootless daemon's unit is the user's; the system unit says nothing about it.
    let command_line = match daemon {
        Daemon::System => {
            systemd::installed_exec_start(systemd::DOCKER_UNIT, &super::unit_dirs(), None)
                .and_then(|exec| exec.command)
        }
        Daemon::Rootless => None,
    };
    let request = Request {
        file,
        tls: Layout::daemon(daemon_dir),
        hosts,
        hardening: if args.harden {
            Hardening::On
        } else {
            Hardening::Off
        },
        daemon,
        command_line,
    };
    let mode = if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Write
    };
    let prepared = daemon_json::prepare(&request, mode, ctx.report())?;
    let file = &prepared.file;
    let changes = &prepared.merge.changes;

    // The old values and sockets come from the existing daemon.json: notes escape them.
    for c in changes.iter().filter(|c| c.action == Action::Kept) {
        note(format_args!(
            "kept {} = {} in {} (--harden would set {}; remove it and rerun to take the hardened value)",
            c.key,
            c.old.as_ref().map(Value::to_string).unwrap_or_default(),
            file.display(),
            c.new
        ));
    }
    for c in changes.iter().filter(|c| c.action == Action::Skipped) {
        note(format_args!(
            "did not set {} = {} in {}: \"iptables\" is false there, and dockerd refuses to start with icc=false without iptables",
            c.key,
            c.new,
            file.display()
        ));
    }
    for conflict in &prepared.merge.conflicts {
        match conflict {
            // Local tools (and docker without DOCKER_HOST) use it: losing it is rarely intended.
            Conflict::DroppedSocket(socket) => note(format_args!(
                "note: {socket} was in \"hosts\" and is no longer; pass --listen {socket} to keep serving it"
            )),
            // `command` is the unit's ExecStart, text from a file.
            Conflict::CommandLine {
                command,
                option: "host",
                ..
            } => note(format_args!(
                "warning: {} starts `{command}`; dockerd refuses to start with -H on its command line and \"hosts\" in daemon.json: run `{}` first",
                systemd::DOCKER_UNIT,
                ctx.invocation.command("systemd-dropin")
            )),
            Conflict::CommandLine {
                command,
                option,
                key,
            } => note(format_args!(
                "warning: {} starts `{command}`; dockerd refuses to start with --{option} on its command line and \"{key}\" in daemon.json: remove --{option} from its ExecStart (in a drop-in that resets ExecStart=)",
                systemd::DOCKER_UNIT
            )),
        }
    }

    // userns-remap moves dockerd to a remapped storage root: whatever it ran before is still on
    // disk but no longer seen, which looks like data loss to whoever restarts it unwarned.
    if changes
        .iter()
        .any(|c| c.key == "userns-remap" && c.action == Action::Added)
    {
        note(format_args!(
            "warning: userns-remap makes dockerd keep its data under a remapped root (e.g. /var/lib/docker/<uid>.<gid>): after the restart, existing images, containers and volumes are invisible to it (not deleted; removing userns-remap from {} brings them back)",
            file.display()
        ));
    }
    // What the next start of a root dockerd makes of userns-remap on this machine: the
    // remap user and its subordinate id ranges are there, dockerd creates them, or it will
    // refuse to start until root adds them (a rootless daemon refuses userns-remap anyway).
    let userns_remap = match daemon {
        Daemon::System => userns::check(&prepared.merge.config(), Path::new("/"))?,
        Daemon::Rootless => None,
    };
    if let Some(u) = &userns_remap {
        match u.readiness {
            Readiness::Missing => note(format_args!("warning: {}", u.summary)),
            Readiness::Ready | Readiness::CreatedByDockerd => {
                note(format_args!("note: {}", u.summary))
            }
        }
    }
    let unchanged = !prepared.changed();
    let written = prepared.write(ctx.report())?;
    let backup = written.iter().find_map(|w| w.backup.clone());

    if ctx.out.json {
        print_document(
            "daemon-config",
            json!({
                "file": file,
                "dry_run": args.dry_run,
                "changed": !unchanged,
                "changes": changes,
                "backup": backup,
                "diff": if args.dry_run { Some(prepared.diff()) } else { None },
                "config": prepared.merge.config(),
                "userns_remap": userns_remap,
            }),
        );
    } else if args.dry_run {
        // The diff shows lines of the existing file, which may hold anything JSON strings can
        // (bidirectional-formatting characters) and stray carriage returns: escaped line by line.
        // (split on '\n' only, so that a carriage return is shown, not taken for a line end)
        let diff = prepared.diff();
        for line in diff.strip_suffix('\n').unwrap_or(&diff).split('\n') {
            say(line);
        }
    } else {
        if ctx.out.verbose && ctx.out.reports() {
            for c in changes {
                let verb = match c.action {
                    Action::Added => "added",
                    Action::Replaced => "replaced",
                    // Already reported on stderr.
                    Action::Kept | Action::Skipped => continue,
                };
                say(format_args!("{verb} {} = {}", c.key, c.new));
            }
        }
        // One line of what was done, then always the restart: dockerd reads daemon.json and its
        // certificates only at start, and forgetting it is the usual "it did not work".
        if unchanged {
            ctx.out.done(format_args!(
                "{} already holds these settings; nothing written",
                file.display()
            ));
        } else if let Some(b) = &backup {
            ctx.out.done(format_args!(
                "wrote {} (previous file kept as {})",
                file.display(),
                b.display()
            ));
        } else {
            ctx.out.done(format_args!("wrote {}", file.display()));
        }
        match daemon {
            Daemon::System => ctx.out.done(
                "restart dockerd to apply (it reads daemon.json and its certificates only at start)",
            ),
            Daemon::Rootless => {
                ctx.out.done(format_args!(
                    "restart your rootless dockerd to apply: {ROOTLESS_RESTART} (it reads daemon.json and its certificates only at start)"
                ));
                // The first TCP address: where clients dial depends on rootlesskit's network,
                // which daemon.json does not say (docs/daemon.md, "Rootless dockerd").
                if let Some(Listen::Tcp(addr)) =
                    request.hosts.iter().find(|h| matches!(h, Listen::Tcp(_)))
                {
                    for line in rootless_network_advice(addr) {
                        ctx.out.done(line);
                    }
                }
            }
        }
    }
    Ok(EXIT_OK)
}

/// What a rootless daemon's TCP address `addr` (`tcp://HOST:PORT`) means under each rootlesskit
/// network, as dockerd-rootless.sh starts it: it passes `hosts` to dockerd untouched, inside
/// the namespaces rootlesskit made. With `DOCKERD_ROOTLESS_ROOTLESSKIT_NET=host` there is no
/// network namespace, so the address is the host's (and rootlesskit then refuses any port
/// driver but `none`). With the default slirp4netns network the address is inside a namespace
/// of its own, reachable from the host only through a port rootlesskit publishes (`-p` in
/// `DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS`; the `none` driver cannot publish). The slirp4netns
/// port driver forwards to the namespace's interface address, not its loopback, so only
/// `0.0.0.0` works with both drivers.
fn rootless_network_advice(addr: &str) -> [String; 2] {
    let port = addr.rsplit_once(':').map_or("2376", |(_, p)| p);
    [
        format!(
            "rootless networking: with DOCKERD_ROOTLESS_ROOTLESSKIT_NET=host and DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER=none, dockerd listens on {addr} of this host and clients dial it there"
        ),
        format!(
            "with the default slirp4netns network, {addr} is inside rootlesskit's network namespace and unreachable until published: listen on tcp://0.0.0.0:{port} and set DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS=\"-p HOST_IP:{port}:{port}/tcp\" (port driver builtin or slirp4netns; see docs/daemon.md)"
        ),
    ]
}
