//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const AFTER_HELP: &str = "\
Examples:
  # Everything for one daemon, as root on the daemon host:
  sudo dockpki bootstrap --san docker.example.com --san 192.0.2.10

  # A local trial run that touches nothing outside ./demo:
  dockpki --state ./demo/state bootstrap --san localhost --san 127.0.0.1 --daemon-dir ./demo/daemon --client-dir ./demo/client

  # One more client certificate, for the docker CLI of a colleague:
  dockpki issue client --name bob --out ./bob

Durations (--validity, --within, --timeout, DOCKPKI_LOCK_TIMEOUT): a whole number and a unit,
  s seconds, m minutes (never months), h hours, d days, w weeks, y years of 365 days: 90d, 12h, 5s.
  A bare number is refused. Validities and windows start at h; a timeout at s.

Daemon addresses (--host): Docker's -H syntax, tcp://HOST:PORT; HOST:PORT and a bare HOST (port
  2376) are accepted too; an IPv6 address in brackets: tcp://[2001:db8::1]:2376.

Output:
  A command that changes something says what it did in one line on stdout; -v adds the files
  written, -q prints nothing but warnings and errors (and what the command is run for: a table, a
  script, a CRL). Notes, warnings and errors go to stderr. status and verify colour their verdicts
  (--color auto: on a terminal, unless NO_COLOR is set or TERM=dumb). Slow work (RSA keys,
  renew --all) shows a spinner on stderr when it is a terminal, never with --json or -q.

Exit codes (status, verify and probe use all five; audit 0, 1, 2 and 4; plan 0, 1, 2 and 3;
other commands 0, 1 and 2):
  0  success: everything checked is good
  1  error: bad input or value, an I/O failure, something that could not be done or checked
  2  usage error: an unknown command or option, a missing argument
  3  changes pending: a certificate or CA due for renewal, a daemon to restart; for plan,
     anything apply would change
  4  broken now: expired, missing, replaced, not from the state's CA, refused by the daemon;
     for audit, a finding at or above --min-severity";

/// The heading of the options every command takes, so that a command's help lists its own options
/// first and these apart.
pub const GLOBAL_OPTIONS: &str = "Global options";

/// Provision and check the mutual-TLS certificates that protect a remote Docker daemon.
// Values are taken as text and parsed by the commands, so that a bad value is a one-line error
// with exit code 1, like every other bad input; clap's exit code 2 is kept for malformed usage
// (an unknown option, a missing argument).
#[derive(Debug, Parser)]
// No `max_term_width` and no clap `wrap_help`: clap would hard-wrap `after_help` (the examples)
// at the terminal's width, capped at 100 columns even on a wide terminal, and a wrapped example
// is two lines that no longer paste as one command. Help is printed as written, the same bytes on
// every terminal (docs/cli.md is that text); the terminal itself folds a long line for display,
// and copying the folded line copies the one command.
#[command(name = "dockpki", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// Directory holding the CA and the inventory [default: $XDG_DATA_HOME/dockpki or ~/.local/share/dockpki]
    #[arg(long, global = true,
        help_heading = GLOBAL_OPTIONS, env = "DOCKPKI_STATE", value_name = "DIR")]
    pub state: Option<PathBuf>,

    /// Print one JSON document on stdout instead of text
    #[arg(long, global = true, help_heading = GLOBAL_OPTIONS)]
    pub json: bool,

    /// Also list the files written on success
    #[arg(long, short, global = true, help_heading = GLOBAL_OPTIONS)]
    pub verbose: bool,

    /// Print nothing on success but what the command is run for (a table, a script, a CRL):
    /// no line saying what was done, no next steps, no notes; warnings, errors and --json stay
    #[arg(long, short, global = true, help_heading = GLOBAL_OPTIONS, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Colour the status and verify tables: auto (only when stdout is a terminal, NO_COLOR is
    /// unset or empty and TERM is not dumb), always (even with NO_COLOR) or never; --json is
    /// never coloured
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL_OPTIONS,
        value_name = "WHEN",
        default_value = "auto"
    )]
    pub color: String,

    /// Read the CA key's passphrase from FILE (first line) instead of asking on the terminal
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL_OPTIONS,
        env = "DOCKPKI_PASSPHRASE_FILE",
        value_name = "FILE"
    )]
    pub passphrase_file: Option<PathBuf>,

    /// Use a CA key readable by group or others, with a warning, instead of refusing it
    #[arg(long, global = true, help_heading = GLOBAL_OPTIONS)]
    pub insecure_perms: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage the certificate authority
    #[command(
        subcommand,
        after_help = "Examples:\n  dockpki ca init\n  dockpki ca init --name \"ACME docker CA\" --permit-dns example.com"
    )]
    Ca(CaCommand),
    /// Issue a server or client certificate into a directory
    #[command(
        subcommand,
        after_help = "Examples:\n  sudo dockpki issue server --san docker.example.com --san 192.0.2.10 --out /etc/docker/pki\n  dockpki issue client --name alice --out ~/.docker"
    )]
    Issue(IssueCommand),
    /// Make a key and a certificate signing request where the key is used (the key never leaves the host)
    #[command(
        subcommand,
        after_help = "Examples:\n  sudo dockpki request server --san docker.example.com --san 192.0.2.10 --dir /etc/docker/pki\n  dockpki request client --name alice --dir ~/.docker\n\nThen sign the request on the CA's host (dockpki sign) and install what comes back (dockpki install). See docs/fleet.md."
    )]
    Request(RequestCommand),
    /// Sign a certificate signing request made on another host: writes the certificate and ca.pem, never a key
    #[command(after_help = SIGN_HELP)]
    Sign(SignArgs),
    /// Install a certificate signed elsewhere into the layout holding its key, after checking its CA, key, chain and usage
    #[command(after_help = INSTALL_HELP)]
    Install(InstallArgs),
    /// Create the CA if needed, then issue and install the daemon and client layouts
    #[command(after_help = BOOTSTRAP_HELP)]
    Bootstrap(BootstrapArgs),
    /// Show what `apply` would change to make the PKI what a dockpki.toml describes
    #[command(after_help = PLAN_HELP)]
    Plan(PlanArgs),
    /// Make the PKI what a dockpki.toml describes, in one crash-safe update
    #[command(after_help = APPLY_HELP)]
    Apply(ApplyArgs),
    /// Show what certificates say
    #[command(
        after_help = "Examples:\n  dockpki inspect /etc/docker/pki/server-cert.pem\n  dockpki --json inspect ~/.docker/cert.pem ~/.docker/ca.pem\n  dockpki inspect windows-export.cer\n  ssh docker.example.com cat /etc/docker/pki/server-cert.pem | dockpki inspect -"
    )]
    Inspect(InspectArgs),
    /// Check installed layouts offline: chain, key pairing, EKUs, SANs, validity, file modes
    #[command(
        after_help = "Examples:\n  sudo dockpki verify --check-name docker.example.com --check-name 192.0.2.10\n  sudo dockpki verify --host tcp://docker.example.com:2376 --within 60d\n  dockpki verify --client-dir ~/.docker\n\nExits 4 if a check fails (broken now), 3 if something expires within --within and nothing fails, 1 if the layouts could not be checked."
    )]
    Verify(VerifyArgs),
    /// List the CA and every active certificate with its expiry and whether its installed files still match
    #[command(after_help = STATUS_HELP)]
    Status(StatusArgs),
    /// Re-issue certificates that are due (or the selected ones) into every layout they are installed in
    #[command(after_help = RENEW_HELP)]
    Renew(RenewArgs),
    /// Mark a certificate revoked in the inventory, for the CRL (dockerd itself never checks revocation)
    #[command(after_help = REVOKE_HELP)]
    Revoke(RevokeArgs),
    /// Write a CRL signed by the CA listing the revoked certificates
    #[command(
        after_help = "Examples:\n  dockpki crl\n  dockpki crl --out /etc/docker/pki/crl.pem\n\nThe CRL is valid for 30 days; regenerate it before then. dockerd and the docker CLI do not read CRLs."
    )]
    Crl(CrlArgs),
    /// Export a client certificate with its key and CA certificates for other programs
    #[command(
        subcommand,
        after_help = "Examples:\n  dockpki export pkcs12 --name alice --out alice.p12"
    )]
    Export(ExportCommand),
    /// Merge the TLS settings (and, with --harden, safer defaults) into dockerd's daemon.json
    #[command(after_help = DAEMON_CONFIG_HELP)]
    DaemonConfig(DaemonConfigArgs),
    /// Write a systemd drop-in that starts dockerd without -H, so that daemon.json's "hosts" apply
    #[command(after_help = SYSTEMD_DROPIN_HELP)]
    SystemdDropin(SystemdDropinArgs),
    /// Print the shell commands that point the docker CLI at a daemon with TLS
    #[command(after_help = ENV_HELP)]
    Env(EnvArgs),
    /// Suggest SANs for this host: hostname, FQDN and non-loopback addresses
    #[command(
        after_help = "Examples:\n  dockpki sans\n  dockpki --json sans\n  sudo dockpki bootstrap --san auto --san docker.example.com   # the same, plus a name"
    )]
    Sans,
    /// Create, update, list or remove docker contexts whose TLS files dockpki keeps in step with a client layout
    #[command(subcommand, after_help = CONTEXT_HELP)]
    Context(ContextCommand),
    /// Connect to a daemon with mutual TLS, GET /_ping and /version, and report what it serves
    #[command(after_help = PROBE_HELP)]
    Probe(ProbeArgs),
    /// Check this host (or a filesystem tree) against the hardening guide and the CIS Docker Benchmark
    #[command(after_help = AUDIT_HELP)]
    Audit(AuditArgs),
    /// Print the shell completion script of dockpki: bash, zsh, fish or powershell
    #[command(after_help = COMPLETIONS_HELP)]
    Completions(CompletionsArgs),
    /// Print dockpki's man page, or write one page per command into a directory
    #[command(after_help = MAN_HELP)]
    Man(ManArgs),
}

const PLAN_HELP: &str = "\
Reads the configuration (docs/config.md describes it) and lists what `dockpki apply` would do,
in order, one line each with its reason: create the CA, issue, renew (due), re-issue (SANs, key
type or validity changed), install or repair files, create or update docker contexts, merge
daemon.json, revoke what is no longer declared. Notes follow: a [ca] that needs a new CA names
`dockpki ca rotate begin`, which is never done implicitly. Changes nothing; a state directory
that does not exist yet is planned as empty (everything to create).

The configuration: -c FILE, else ./dockpki.toml when it exists, else
$XDG_CONFIG_HOME/dockpki/config.toml (~/.config/dockpki/config.toml).

Examples:
  dockpki plan
  dockpki plan -c /etc/dockpki/dockpki.toml
  dockpki --json plan -c ./dockpki.toml

Exits 0 when nothing is to do, 3 when changes are pending (a CI job can gate on drift), 1 on
error (a configuration error names FILE:LINE:COL).";

const APPLY_HELP: &str = "\
Computes the plan `dockpki plan` shows and performs all of it as one crash-safe, journaled
update, as renew and ca rotate do: interrupted, the next dockpki command completes it. With
nothing to do it writes nothing. Without --yes it shows the plan and asks, on a terminal (stdin
and stderr); without a terminal it refuses and changes nothing. Restart each daemon named in
the output: dockerd reads its certificates only at start.

Issuing into a directory that already holds layout files dockpki did not write (no certificate
it recorded was installed there) is refused, changing nothing, unless --force: the plan names
them, and --force replaces them, keeping each as a .bak backup. Files dockpki wrote (renewals,
re-issues, repairs) need no --force.

The configuration: -c FILE, else ./dockpki.toml when it exists, else
$XDG_CONFIG_HOME/dockpki/config.toml (~/.config/dockpki/config.toml). It is read only when
nobody but root and you could have written it: owned by root or you, not writable by group or
others, in a directory the same holds for (and not a symlink).

Examples:
  sudo dockpki apply
  sudo dockpki apply -c /etc/dockpki/dockpki.toml --yes   # from a script, CI or a timer
  dockpki --state ./demo/state apply -c ./dockpki.toml

Exits 0 when applied (or nothing was to do), 3 when nothing apply can do remains but a note
names a command that resolves a difference (a CA rotation), 1 on error, when the answer was not
yes, or without a terminal and without --yes.";

/// The configuration file of `plan` and `apply`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The configuration file [default: ./dockpki.toml if it exists, else $XDG_CONFIG_HOME/dockpki/config.toml]
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `dockpki plan`
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// `dockpki apply`
#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Apply without showing the plan and asking (needed without a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Replace layout files dockpki did not write (each kept as a .bak backup)
    #[arg(long)]
    pub force: bool,
}

const AUDIT_HELP: &str = "\
Reads how dockerd really runs (the command line of a running dockerd, else the systemd unit with
its drop-ins, merged with daemon.json), the files CIS section 3 names, the Docker socket and the
docker group, and judges each rule: a finding (its id, severity, one line of evidence and the
fix), a pass, or not applicable. docs/audit.md lists every rule. With --socket or --host it also
asks that daemon what it runs (rootless, user namespaces: judged by its answer, which wins over
a configuration not applied yet) and about its running containers (the Docker socket mounted
into one, privileged ones), and audits the dockerd serving that address when several run.
Without either, the container rules are not applicable.

--root audits a filesystem tree (an image, a chroot, a golden configuration) instead of this
machine: every path, owner and mode is read under DIR (links resolved inside it), and no process
or daemon is consulted.

Severities: critical (the daemon is open now), high (root or the daemon's keys for someone who
should not have them, or a dockerd that will not start), medium and low (hardening not done),
info (worth knowing). Every finding is printed; --min-severity only decides the exit code.

Examples:
  sudo dockpki audit
  sudo dockpki audit --socket unix:///var/run/docker.sock
  sudo dockpki audit --host tcp://docker.example.com:2376 --client-dir ~/.docker --min-severity medium
  dockpki audit --root /srv/images/docker-host --daemon-config /etc/docker/daemon.json
  dockpki --json audit --root ./rootfs

Exits 4 when a finding is at or above --min-severity (default high), 0 when none is, 1 when the
audit could not run (a --root that cannot be opened, an unreadable --daemon-config).";

const COMPLETIONS_HELP: &str = "\
Prints the script on stdout; README.md (Install) says where each shell looks for it.

Examples:
  source <(dockpki completions bash)
  dockpki completions bash > /usr/share/bash-completion/completions/dockpki
  dockpki completions zsh > \"${fpath[1]}/_dockpki\"
  dockpki completions fish > ~/.config/fish/completions/dockpki.fish
  dockpki completions powershell | Out-String | Invoke-Expression";

const MAN_HELP: &str = "\
Without --dir, prints the page of dockpki, or of COMMAND, on stdout. With --dir, writes one page
per command into DIR (dockpki.1, dockpki-ca.1, dockpki-ca-init.1, ...; mode 0644). A page dockpki
wrote is replaced when it changed; any other file of that name only with --force, and then kept
as a timestamped backup.

Examples:
  dockpki man | man -l -
  dockpki man issue client | man -l -
  sudo dockpki man --dir /usr/local/share/man/man1 && sudo mandb -q";

/// `dockpki audit`
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Audit the filesystem tree DIR instead of this machine: files under DIR, no processes, no daemon
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// The daemon.json to audit instead of the one dockerd is configured with; with --root, a
    /// path inside the tree (/etc/docker/daemon.json is DIR/etc/docker/daemon.json)
    #[arg(long, value_name = "FILE")]
    pub daemon_config: Option<PathBuf>,
    /// Ask the daemon on this unix socket about its containers: unix:///PATH [default without
    /// --root: unix:///var/run/docker.sock when it is there]
    #[arg(long, value_name = "unix:///PATH")]
    pub socket: Option<String>,
    /// Ask the daemon at this address about its containers, with mutual TLS and --client-dir:
    /// tcp://HOST:PORT
    #[arg(long, value_name = "tcp://HOST:PORT", conflicts_with = "socket")]
    pub host: Option<String>,
    /// The client layout (ca.pem, cert.pem, key.pem) to connect to --host with
    #[arg(long, value_name = "DIR")]
    pub client_dir: Option<PathBuf>,
    /// Exit 4 when a finding is at or above this severity: info, low, medium, high or critical
    #[arg(long, value_name = "SEVERITY", default_value = "high")]
    pub min_severity: String,
}

/// `dockpki completions`
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish or powershell
    #[arg(value_name = "SHELL")]
    pub shell: String,
}

/// `dockpki man`
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The command whose page to print, e.g. `issue client` [default: dockpki itself]
    #[arg(value_name = "COMMAND", conflicts_with = "dir")]
    pub command: Vec<String>,
    /// Write every page into DIR instead of printing one (DIR is created, mode 0755, if missing)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Replace files in DIR that dockpki did not write (kept as timestamped backups)
    #[arg(long, requires = "dir")]
    pub force: bool,
}

const CONTEXT_HELP: &str = "\
`docker context create` copies ca.pem, cert.pem and key.pem into DOCKER_CONFIG/contexts/tls, so
renewing or rotating the originals never reaches the context. A context made here is recorded in
the inventory: renew, issue and every `ca rotate` phase rewrite its copies with the client layout.

Examples:
  dockpki context create remote-a --host tcp://docker.example.com:2376
  dockpki context create ci --host tcp://192.0.2.10:2376 --client-dir ./ci-certs --description CI
  dockpki context update remote-a --host tcp://docker2.example.com:2376
  dockpki context ls
  dockpki context rm remote-a
  docker --context remote-a version";

const PROBE_HELP: &str = "\
Uses the client layout (ca.pem, cert.pem, key.pem) like `docker --tlsverify` would, and reports
the TLS version, cipher suite, the served certificate, the engine version, and whether the served
certificate is the one installed in a daemon layout of the inventory (if not: restart dockerd).
Exits 4 with a diagnosis when the daemon answers wrongly: plain HTTP, unknown CA, a certificate
that does not cover the address or has expired, a client certificate the daemon refuses, an
answer that is not dockerd's (/_ping other than OK, or larger than the probe reads); 3 when the
daemon serves a certificate its layout no longer holds (restart it); 1 when it could not be
checked (connection refused, timeout, no such name).

Examples:
  dockpki probe --host tcp://docker.example.com:2376
  dockpki probe --host tcp://127.0.0.1:2376 --client-dir ./demo/client --timeout 2s
  dockpki --json probe --host '[::1]:2376'";

/// `dockpki context ...`
#[derive(Debug, Subcommand)]
pub enum ContextCommand {
    /// Create a docker context from a client layout, exactly as `docker context create` would
    #[command(
        after_help = "Examples:\n  dockpki context create remote-a --host tcp://docker.example.com:2376\n  DOCKER_CONFIG=/srv/ci/.docker dockpki context create ci --host tcp://192.0.2.10:2376 --client-dir /srv/ci/certs\n  docker --context remote-a version"
    )]
    Create(ContextCreateArgs),
    /// Copy the client layout into a context made by dockpki again (and change its host)
    #[command(
        after_help = "Examples:\n  dockpki context update remote-a\n  dockpki context update remote-a --host tcp://docker2.example.com:2376"
    )]
    Update(ContextUpdateArgs),
    /// List the docker contexts dockpki made: present or removed, and whether their files match
    #[command(
        visible_alias = "list",
        after_help = "A context removed with `docker context rm` is listed as removed: dockpki does not recreate it\n(`dockpki context rm NAME` forgets it). Files that differ name meta.json (changed with\n`docker context update`) or copies whose client layout was replaced outside dockpki\n(`dockpki context update NAME` copies them again).\n\nExamples:\n  dockpki context ls\n  dockpki --json context ls"
    )]
    Ls,
    /// Remove a docker context dockpki made (its meta.json and TLS copies) and forget it
    #[command(
        visible_alias = "remove",
        after_help = "Removes what `docker context rm` removes, then the record in the inventory. A context dockpki did\nnot make is refused unless --force; docker's current context always (switch first).\n\nExamples:\n  dockpki context rm remote-a\n  dockpki context rm old-ci --force"
    )]
    Rm(ContextRmArgs),
}

/// `dockpki context rm`
#[derive(Debug, Args)]
pub struct ContextRmArgs {
    /// Context name
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Also remove a context dockpki did not make
    #[arg(long)]
    pub force: bool,
}

/// `dockpki context create`
#[derive(Debug, Args)]
pub struct ContextCreateArgs {
    /// Context name (letters, digits, _.+-; not "default")
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The daemon's address: tcp://HOST:PORT (also HOST:PORT, or HOST for port 2376)
    #[arg(long, value_name = "tcp://HOST:PORT")]
    pub host: String,
    /// Client layout to copy [default: ~/.docker of the invoking user, also under sudo]
    #[arg(long, value_name = "DIR")]
    pub client_dir: Option<PathBuf>,
    /// Description shown by `docker context ls`
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// Replace an existing context of this name, also one not made by dockpki
    #[arg(long)]
    pub force: bool,
}

/// `dockpki context update`
#[derive(Debug, Args)]
pub struct ContextUpdateArgs {
    /// Name of a context made by `dockpki context create`
    #[arg(value_name = "NAME")]
    pub name: String,
    /// A new daemon address: tcp://HOST:PORT (also HOST:PORT, or HOST for port 2376)
    #[arg(long, value_name = "tcp://HOST:PORT")]
    pub host: Option<String>,
    /// A new description
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
}

/// `dockpki probe`
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The daemon's address: tcp://HOST:PORT (also HOST:PORT, or HOST for port 2376)
    #[arg(
        long,
        value_name = "tcp://HOST:PORT",
        required_unless_present = "address",
        conflicts_with = "address"
    )]
    pub host: Option<String>,
    /// The daemon's address given without --host: the older form, kept for scripts
    #[arg(value_name = "ADDRESS", hide = true)]
    pub address: Option<String>,
    /// Client layout to connect with [default: ~/.docker of the invoking user]
    #[arg(long, value_name = "DIR")]
    pub client_dir: Option<PathBuf>,
    /// Deadline for the whole probe: name resolution, connection, TLS handshake and both
    /// requests (s, m or h, e.g. 5s or 2m; at most 1d)
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub timeout: String,
}

const DAEMON_CONFIG_HELP: &str = "\
Sets tlsverify, tlscacert, tlscert, tlskey (the daemon layout in --daemon-dir) and hosts (the
local unix socket, unless --no-unix, then the --listen addresses) in daemon.json, editing only
those keys: every other key, their order and the file's layout stay. The previous file is kept as
NAME.bak-<timestamp>; a file that already holds the values is not rewritten. Restart dockerd
afterwards; on systemd hosts whose unit passes -H fd:// run `dockpki systemd-dropin` first
(dockerd refuses -H together with \"hosts\").

--harden also sets icc=false, userns-remap=default, no-new-privileges, live-restore and the
local log driver with rotation, keeping (and reporting) any of them you already set. Setting
userns-remap hides the existing images, containers and volumes from dockerd (a warning says so).
Whenever daemon.json sets userns-remap, a note says whether its user (dockremap) and that user's
/etc/subuid and /etc/subgid ranges are in place, will be created by dockerd at its next start, or
are missing, with the commands to run as root first (dockerd would refuse to start).

Examples:
  sudo dockpki daemon-config
  sudo dockpki daemon-config --listen tcp://192.0.2.10:2376 --no-unix
  sudo dockpki daemon-config --listen tcp://192.0.2.10:2376 --harden --dry-run
  dockpki daemon-config --rootless --daemon-dir ~/.config/docker/pki";

const SYSTEMD_DROPIN_HELP: &str = "\
Reads ExecStart of the installed unit (and its drop-ins), removes every -H/--host, and writes a
drop-in that resets ExecStart= and starts dockerd with the rest. Prints the -H options removed
and the commands to apply it. A unit that is not installed is an error: name it, or its unit file
by path.

Environment:
  DOCKPKI_SYSTEMD_UNIT_PATH  colon-separated directories searched for --unit NAME and its drop-ins
                             [default: /etc/systemd/system:/run/systemd/system:/lib/systemd/system:/usr/lib/systemd/system]

Examples:
  sudo dockpki systemd-dropin
  sudo dockpki systemd-dropin --unit /opt/docker/docker.service
  sudo dockpki systemd-dropin --unit docker.service --out /etc/systemd/system/docker.service.d/dockpki.conf";

const ENV_HELP: &str = "\
Examples:
  eval \"$(dockpki env --host tcp://docker.example.com:2376)\"
  dockpki env --host tcp://192.0.2.10:2376 --client-dir ./bob --shell fish | source
  dockpki env --host tcp://docker.example.com:2376 --shell powershell | Invoke-Expression
  eval \"$(dockpki env --unset)\"

Without --shell the syntax follows $SHELL (bash, zsh, sh, dash, ksh: sh; fish; pwsh, powershell),
and is sh when $SHELL is unset; for any other shell it is sh with a note on stderr.";

const STATUS_HELP: &str = "\
Examples:
  dockpki status
  dockpki status --within 60d
  dockpki --json status

A certificate is due when 30 days, or a third of its lifetime if that is less, remain (or within
--within); one in the first third of its lifetime is never due, so a short-lived certificate is
not renewed again on every run.

Exits 3 when a certificate or the CA is due (a renewal is pending) and nothing is
broken; 4 when one has expired, or an installed file is missing, was replaced, or does not hold
the state's CA; 1 when the state cannot be read.";

const RENEW_HELP: &str = "\
Without a selection, renews every active certificate that is due: 30 days, or a third of its
lifetime if that is less, remain (or it expires within --within), and it is past the first third
of its lifetime, so a second run right after a renewal finds nothing due. With --name, --serial or
--all, renews those regardless of expiry. Keys are new unless --reuse-key. Prints
nothing when nothing is due; prints what it renewed and which daemons to restart otherwise.

--validity gives every certificate renewed this run that lifetime (it must end before the CA
does); without it each keeps its own.

Examples:
  dockpki renew                 # from a daily timer
  dockpki renew --name alice
  dockpki renew --all --reuse-key
  dockpki renew --name web1 --validity 30d

dockerd does not reload certificates on SIGHUP: restart it after its certificate is renewed.";

const REVOKE_HELP: &str = "\
dockerd and the docker CLI check neither CRLs nor OCSP: a revoked certificate is still accepted
until it expires. To cut off a leaked key, rotate the CA (dockpki ca rotate begin, reissue,
finish); keep client certificates short-lived.

Reasons: unspecified, keyCompromise, cACompromise, affiliationChanged, superseded,
cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise.

Examples:
  dockpki revoke --name alice --reason keyCompromise
  dockpki revoke --serial 4f1a2b3c";

const BOOTSTRAP_HELP: &str = "\
Writes:
  DAEMON_DIR/ca.pem, server-cert.pem, server-key.pem   (for dockerd --tlsverify)
  CLIENT_DIR/ca.pem, cert.pem, key.pem                 (what the docker CLI reads)
and prints the daemon.json keys and the client environment to use next.

Examples:
  sudo dockpki bootstrap --san docker.example.com --san 192.0.2.10
  dockpki --state ./demo/state bootstrap --san localhost --san 127.0.0.1 --daemon-dir ./demo/daemon --client-dir ./demo/client
  sudo dockpki bootstrap --san docker.example.com --name alice --client-validity 30d
  dockpki bootstrap --rootless --san localhost --san 127.0.0.1   # as the rootless daemon's user";

/// `dockpki ca ...`
#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create the CA in the state directory
    #[command(
        after_help = "Examples:\n  dockpki ca init\n  dockpki ca init --name \"ACME docker CA\" --key-type ecdsa-p384 --permit-dns example.com --permit-ip 10.0.0.0/8"
    )]
    Init(CaInitArgs),
    /// Encrypt the CA key at rest under a passphrase (PKCS#8, PBKDF2-SHA256 + AES-256-CBC)
    #[command(
        after_help = "Examples:\n  dockpki ca encrypt\n  dockpki --passphrase-file /root/ca-pass ca encrypt\n\nEvery command that signs then needs the passphrase. The unencrypted key is kept as a timestamped backup: delete it once the passphrase works."
    )]
    Encrypt,
    /// Store the CA key unencrypted again (mode 0400)
    #[command(after_help = "Examples:\n  dockpki ca decrypt")]
    Decrypt,
    /// Change the encrypted CA key's passphrase in one step, never writing it unencrypted
    #[command(after_help = CA_PASSPHRASE_HELP)]
    Passphrase(CaPassphraseArgs),
    /// Replace the CA without downtime: begin, reissue, finish (see docs/rotation.md)
    #[command(subcommand, after_help = ROTATE_HELP)]
    Rotate(RotateCommand),
}

const CA_PASSPHRASE_HELP: &str = "\
The old passphrase comes from --passphrase-file (or DOCKPKI_PASSPHRASE_FILE), else a prompt;
the new one from --new-passphrase-file, else a prompt asked twice. The key is re-encrypted in
memory and replaced in one journaled update (ca-next-key.pem too during a rotation), with no
backup: a backup would still open with the old passphrase. Backups of the CA key that earlier
commands left are listed: delete them.

Examples:
  dockpki ca passphrase
  dockpki --passphrase-file /root/ca-pass ca passphrase --new-passphrase-file /root/ca-pass.new";

const ROTATE_HELP: &str = "\
Phases (restart each daemon named in the output after every phase; dockerd reads its
certificates only at start):
  dockpki ca rotate begin      new CA; every known layout trusts old+new
  dockpki ca rotate reissue    every certificate from the old CA re-issued from the new one
  dockpki ca rotate finish     every known layout trusts only the new CA; the old one is archived
  dockpki ca rotate status     where the rotation stands and what to run next
  dockpki ca rotate abort      undo it (any phase): the old CA alone again; the new one is archived

Examples:
  sudo dockpki ca rotate begin --validity 10y
  sudo dockpki ca rotate status";

/// `dockpki ca rotate ...`
#[derive(Debug, Subcommand)]
pub enum RotateCommand {
    /// Create the new CA and install old+new CA bundles in every known layout
    #[command(
        after_help = "Examples:\n  sudo dockpki ca rotate begin\n  sudo dockpki ca rotate begin --key-type ecdsa-p384 --validity 5y"
    )]
    Begin(RotateBeginArgs),
    /// Re-issue every active certificate still issued by the old CA from the new one
    #[command(
        after_help = "Examples:\n  sudo dockpki ca rotate reissue\n  sudo dockpki --passphrase-file /root/ca-pass ca rotate reissue\n\nRestart every daemon named in the output, then run dockpki ca rotate finish."
    )]
    Reissue,
    /// Trust only the new CA everywhere and archive the old one
    #[command(
        after_help = "Examples:\n  sudo dockpki ca rotate finish\n  sudo dockpki --state /srv/dockpki ca rotate finish\n\nRestart every daemon named in the output: until then it still trusts the old CA."
    )]
    Finish,
    /// Show the phase, both CAs, what is left and the next command
    #[command(
        after_help = "Examples:\n  dockpki ca rotate status\n  dockpki --json ca rotate status"
    )]
    Status,
    /// Undo a rotation in any phase: every known layout trusts the old CA alone again
    #[command(
        after_help = "Certificates the new CA issued (by reissue, or by issue during the rotation) are re-issued from
the old CA with fresh keys; those it cannot re-issue are listed, to be issued again. The new CA
is moved to STATE/archive/ca-<sha256 prefix>-aborted.pem and -aborted-key.pem; a new rotation may
begin afterwards.

Examples:
  sudo dockpki ca rotate abort
  sudo dockpki --json ca rotate abort

Restart every daemon named in the output: until then it still trusts the new CA."
    )]
    Abort,
}

/// `dockpki ca rotate begin`
#[derive(Debug, Args)]
pub struct RotateBeginArgs {
    /// Key algorithm of the new CA [default: the current CA's]
    #[arg(long, value_name = "T")]
    pub key_type: Option<String>,
    /// How long the new CA is valid (a duration: h, d, w or y, e.g. 10y); at least a day longer than the longest active certificate
    #[arg(
        long,
        value_name = "DURATION",
        allow_hyphen_values = true,
        default_value = "10y"
    )]
    pub validity: String,
}

/// `dockpki ca passphrase`
#[derive(Debug, Args)]
pub struct CaPassphraseArgs {
    /// Read the new passphrase from the first line of FILE instead of prompting twice
    #[arg(long, value_name = "FILE")]
    pub new_passphrase_file: Option<PathBuf>,
}

/// `dockpki ca init`
#[derive(Debug, Args)]
pub struct CaInitArgs {
    /// Subject common name [default: "dockpki CA <date> <random>", unique per CA]
    #[arg(long, value_name = "CN")]
    pub name: Option<String>,
    /// Key algorithm: ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096
    #[arg(long, value_name = "T", default_value = "ecdsa-p256")]
    pub key_type: String,
    /// How long the CA is valid (a duration: h, d, w or y, e.g. 10y)
    #[arg(
        long,
        value_name = "DURATION",
        allow_hyphen_values = true,
        default_value = "10y"
    )]
    pub validity: String,
    /// How many intermediate CAs may follow (0: the CA signs leaves only)
    #[arg(
        long,
        value_name = "N",
        default_value = "0",
        allow_hyphen_values = true
    )]
    pub path_len: String,
    /// Only allow leaves for this DNS name and its subdomains (repeatable)
    #[arg(long, value_name = "SUFFIX")]
    pub permit_dns: Vec<String>,
    /// Only allow leaves for IP addresses in this range (repeatable)
    #[arg(long, value_name = "CIDR")]
    pub permit_ip: Vec<String>,
    /// Store the CA key encrypted under a passphrase (asked twice, or --passphrase-file)
    #[arg(long)]
    pub encrypt: bool,
    /// Replace an existing CA (the old files are kept as backups; certificates it issued stop being trusted where the new ca.pem is installed)
    #[arg(long)]
    pub force: bool,
}

/// `dockpki issue ...`
#[derive(Debug, Subcommand)]
pub enum IssueCommand {
    /// Issue the daemon's certificate: writes DIR/ca.pem, server-cert.pem, server-key.pem
    #[command(
        after_help = "Examples:\n  sudo dockpki issue server --san docker.example.com --san 192.0.2.10 --out /etc/docker/pki"
    )]
    Server(IssueServerArgs),
    /// Issue a client certificate: writes DIR/ca.pem, cert.pem, key.pem
    #[command(
        after_help = "Examples:\n  dockpki issue client --name alice --out ~/.docker\n  dockpki issue client --name ci-runner --validity 7d --out ./ci-certs"
    )]
    Client(IssueClientArgs),
}

const SIGN_HELP: &str = "Examples:
  dockpki sign ./requests/web1/server.csr --kind server --host web1 --out ./signed/web1
  dockpki sign ./alice.csr --validity 30d --host alice-laptop --out ./signed/alice

Only the common name, the SANs (for a server) and the public key are taken from the request:
the kind is yours (client unless --kind server; a request asking for a server certificate
without it is refused), and extended key usage, key usage, basic constraints and validity are
dockpki's (a request asking for CA:TRUE or other usages gets a plain certificate). The request's
signature is checked, SANs are checked like issue's and against the CA's name constraints. The
certificate is recorded in the inventory with its host label and the request, so status lists
it; --out must be the host's own directory, and a label held for another key needs --replace.

Run again with the same request, sign signs nothing new while the host's active certificate is
for this key, common name and SANs, from the CA that signs now (during a rotation the new one,
or the one it retires, until ca rotate reissue re-signs it), not due for renewal, and still in
--out: it only rewrites in --out what differs from that
certificate and the current ca.pem, and says \"already signed\" (--json: changed false). --validity
alone does not make a new certificate; --resign does. Files in the directory recorded as the
host's --out are replaced without --force (backups kept).";

const INSTALL_HELP: &str = "Examples:
  sudo dockpki install --from /root/signed --dir /etc/docker/pki --ca-fingerprint SHA256
  dockpki install --from ./signed --dir ~/.docker

Checks before writing anything: --from is a directory only root and you can change (copy the
delivered files into a root-owned 0700 directory, not a bare /tmp/signed); the ca.pem given
shares a CA with the layout's ca.pem, or, the first time, holds the CA of --ca-fingerprint (as
dockpki sign or status prints it on the CA's host); the certificate is for the key in --dir
(which others may not read), chains to that ca.pem, and has the EKU of the layout (serverAuth
for server-cert.pem, clientAuth for cert.pem). Restart dockerd after installing a daemon's
certificate.

A certificate already in --dir for the same key (a renewal, a CA rotation) and a ca.pem sharing
a CA with the delivered one are replaced without --force (backups kept); identical files are
left alone (--json: changed false). --force is needed only to replace a certificate for another
key, or a file that is not a certificate.";

/// `dockpki request ...`
#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    /// A daemon's key and request: writes DIR/server-key.pem (0400) and DIR/server.csr
    #[command(
        after_help = "Examples:\n  sudo dockpki request server --san docker.example.com --san 192.0.2.10 --dir /etc/docker/pki\n  sudo dockpki request server --san auto --dir /etc/docker/pki\n  sudo dockpki request server --san docker.example.com --new-key --dir /etc/docker/pki\n\nWith a key already in DIR, the request is for that key (renewal without re-keying) unless --new-key. When DIR already holds a request for that key with the same common name and SANs, nothing is written (--json: changed false)."
    )]
    Server(RequestServerArgs),
    /// A client's key and request: writes DIR/key.pem (0400) and DIR/client.csr
    #[command(after_help = "Examples:\n  dockpki request client --name alice --dir ~/.docker")]
    Client(RequestClientArgs),
}

/// Options shared by both request kinds.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// Key algorithm of a new key: ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096
    #[arg(long, value_name = "T", default_value = "ecdsa-p256")]
    pub key_type: String,
    /// The layout directory the certificate will be installed in (the key is made there)
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// Make a new key even if DIR has one (the old one is kept as a timestamped backup)
    #[arg(long)]
    pub new_key: bool,
}

/// `dockpki request server`
#[derive(Debug, Args)]
pub struct RequestServerArgs {
    /// A DNS name or IP address clients dial (repeat for each; all are needed); `auto` adds what `dockpki sans` suggests
    #[arg(long = "san", value_name = "NAME_OR_IP")]
    pub sans: Vec<String>,
    /// Subject common name [default: the first DNS SAN]
    #[arg(long, value_name = "CN")]
    pub name: Option<String>,
    #[command(flatten)]
    pub request: RequestArgs,
}

/// `dockpki request client`
#[derive(Debug, Args)]
pub struct RequestClientArgs {
    /// Who the certificate is for (subject common name)
    #[arg(long, value_name = "CN")]
    pub name: String,
    #[command(flatten)]
    pub request: RequestArgs,
}

/// `dockpki sign`
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The certificate signing request (PEM), e.g. a host's server.csr
    #[arg(value_name = "CSR")]
    pub csr: PathBuf,
    /// Where to write the certificate and ca.pem for delivery to the host
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// How long a new certificate is valid (a duration: h, d, w or y) [default: 1y for a server, 90d for a client]; on its own it signs no new certificate when the host's current one already does (--resign does)
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub validity: Option<String>,
    /// The host label recorded in the inventory [default: the request's common name]
    #[arg(long, value_name = "LABEL")]
    pub host: Option<String>,
    /// The kind of certificate: server or client; a server certificate must be asked for with --kind server [default: client]
    #[arg(long, value_name = "KIND", value_parser = ["server", "client"])]
    pub kind: Option<String>,
    /// Give --host (or the request's common name) to this request's key although an active certificate of the same kind holds that label for another key (it is superseded)
    #[arg(long)]
    pub replace: bool,
    /// Sign a new certificate even when the host's active one is for this key and these names, from the signing CA, and not due
    #[arg(long)]
    pub resign: bool,
    /// Replace existing files in --out that dockpki did not write there for this host (the old ones are kept as timestamped backups)
    #[arg(long)]
    pub force: bool,
}

/// `dockpki install`
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The directory dockpki sign wrote (ca.pem and server-cert.pem or cert.pem)
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// The layout holding the key (where dockpki request ran)
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The SHA-256 fingerprint of the CA to trust, as the CA's host prints it (dockpki sign, dockpki status); required when the layout holds no ca.pem yet
    #[arg(long, value_name = "SHA256", value_parser = parse_fingerprint)]
    pub ca_fingerprint: Option<dockpki::Fingerprint>,
    /// Replace an existing certificate that is not for the layout's key, or not a certificate, or put back an older delivery (a certificate older than the one installed for the layout's key, or a ca.pem adding a CA older than those the layout trusts); the old files are kept as timestamped backups. A newer certificate for the layout's key is installed without it
    #[arg(long)]
    pub force: bool,
}

/// A SHA-256 fingerprint in any spelling [`dockpki::Fingerprint`] accepts.
fn parse_fingerprint(text: &str) -> Result<dockpki::Fingerprint, String> {
    text.parse()
        .map_err(|e| format!("{e}; give the CA's SHA-256 fingerprint as its host prints it"))
}

/// Options shared by both leaf kinds.
#[derive(Debug, Args)]
pub struct LeafArgs {
    /// Key algorithm: ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096
    #[arg(long, value_name = "T", default_value = "ecdsa-p256")]
    pub key_type: String,
    /// Output directory
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace existing files (the old ones are kept as timestamped backups)
    #[arg(long)]
    pub force: bool,
}

/// `dockpki issue server`
#[derive(Debug, Args)]
pub struct IssueServerArgs {
    /// A DNS name or IP address clients dial (repeat for each; all are needed); `auto` adds what `dockpki sans` suggests
    #[arg(long = "san", value_name = "NAME_OR_IP")]
    pub sans: Vec<String>,
    /// Subject common name [default: the first DNS SAN]
    #[arg(long, value_name = "CN")]
    pub name: Option<String>,
    /// How long the certificate is valid (a duration: h, d, w or y, e.g. 90d)
    #[arg(
        long,
        value_name = "DURATION",
        allow_hyphen_values = true,
        default_value = "1y"
    )]
    pub validity: String,
    #[command(flatten)]
    pub leaf: LeafArgs,
}

/// `dockpki issue client`
#[derive(Debug, Args)]
pub struct IssueClientArgs {
    /// Who the certificate is for (subject common name)
    #[arg(long, value_name = "CN")]
    pub name: String,
    /// How long the certificate is valid (a duration: h, d, w or y, e.g. 90d)
    #[arg(
        long,
        value_name = "DURATION",
        allow_hyphen_values = true,
        default_value = "90d"
    )]
    pub validity: String,
    #[command(flatten)]
    pub leaf: LeafArgs,
}

/// `dockpki bootstrap`
#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// A DNS name or IP address clients dial (repeat for each; all are needed); `auto` adds what `dockpki sans` suggests
    #[arg(long = "san", value_name = "NAME_OR_IP")]
    pub sans: Vec<String>,
    /// Client certificate common name [default: the invoking user's name]
    // The client CN is `--name` in every command (`issue client`, `renew`, `revoke`); `--client`
    // was bootstrap's word for it, kept hidden for scripts.
    #[arg(long, alias = "client", value_name = "CN")]
    pub name: Option<String>,
    /// Where the daemon's files go [default: /etc/docker/pki; with --rootless $XDG_CONFIG_HOME/docker/pki]
    #[arg(long, value_name = "DIR")]
    pub daemon_dir: Option<PathBuf>,
    /// Where the client's files go [default: ~/.docker of the invoking user, also under sudo]
    #[arg(long, value_name = "DIR")]
    pub client_dir: Option<PathBuf>,
    /// Key algorithm for the CA (if created) and both leaves
    #[arg(long, value_name = "T", default_value = "ecdsa-p256")]
    pub key_type: String,
    /// Validity of the server certificate (a duration: h, d, w or y)
    #[arg(
        long,
        value_name = "DURATION",
        allow_hyphen_values = true,
        default_value = "1y"
    )]
    pub server_validity: String,
    /// Validity of the client certificate (a duration: h, d, w or y)
    #[arg(
        long,
        value_name = "DURATION",
        allow_hyphen_values = true,
        default_value = "90d"
    )]
    pub client_validity: String,
    /// Port dockerd will listen on, for the printed configuration (not 2375, Docker's port without TLS)
    #[arg(
        long,
        value_name = "PORT",
        default_value = "2376",
        allow_hyphen_values = true
    )]
    pub port: String,
    /// Replace existing files in the layouts (old ones are kept as timestamped backups)
    #[arg(long)]
    pub force: bool,
    /// For a rootless dockerd: run as its user (not root); the daemon's files go next to its daemon.json
    #[arg(long)]
    pub rootless: bool,
}

/// `dockpki inspect`
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Files of certificates, bundles or private keys, in PEM or DER (told apart by content);
    /// `-` reads standard input (once; a file named `-` is `./-`)
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// `dockpki verify`
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Daemon layout to check [default: /etc/docker/pki, if it exists]
    #[arg(long, value_name = "DIR")]
    pub daemon_dir: Option<PathBuf>,
    /// Client layout to check [default: ~/.docker, if it holds cert.pem]
    #[arg(long, value_name = "DIR")]
    pub client_dir: Option<PathBuf>,
    /// A name or IP address clients dial: the server certificate's SANs must cover it (repeatable)
    #[arg(long, value_name = "NAME_OR_IP")]
    pub check_name: Vec<String>,
    /// A daemon address clients dial, as for env and probe: its host part is checked like
    /// --check-name's (repeatable)
    #[arg(long, value_name = "tcp://HOST:PORT")]
    pub host: Vec<String>,
    /// Report certificates that expire within this period (h, d, w or y; 0d: only what has
    /// expired) as due (exit 3)
    // `--warn-within` was its name before every expiry window was called `--within`; kept,
    // hidden, for scripts.
    #[arg(
        long,
        alias = "warn-within",
        value_name = "DURATION",
        allow_hyphen_values = true,
        default_value = "30d"
    )]
    pub within: String,
}

/// `dockpki status`
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Report certificates that expire within this period (h, d, w or y; 0d: only what has
    /// expired) as due (exit 3) [default: 30 days, or a third of a shorter lifetime]
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub within: Option<String>,
}

/// `dockpki renew`
#[derive(Debug, Args)]
pub struct RenewArgs {
    /// Renew certificates that expire within this period (h, d, w or y) [default: 30 days, or a third of a shorter lifetime]
    #[arg(
        long,
        value_name = "DURATION",
        allow_hyphen_values = true,
        conflicts_with_all = ["name", "serial", "all"]
    )]
    pub within: Option<String>,
    /// Renew the active certificates with this common name, due or not
    #[arg(long, value_name = "CN", conflicts_with_all = ["serial", "all"])]
    pub name: Option<String>,
    /// Renew the active certificate with this serial (hex, or a unique prefix), due or not
    #[arg(long, value_name = "S", conflicts_with = "all")]
    pub serial: Option<String>,
    /// Renew every active certificate, due or not
    #[arg(long)]
    pub all: bool,
    /// Keep each certificate's private key instead of generating a new one
    #[arg(long)]
    pub reuse_key: bool,
    /// How long each renewed certificate is valid (h, d, w or y; within the CA's validity) [default: each keeps its own lifetime]
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub validity: Option<String>,
}

/// `dockpki revoke`
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["serial", "name"])))]
pub struct RevokeArgs {
    /// The certificate's serial (hex, or a unique prefix)
    #[arg(long, value_name = "S")]
    pub serial: Option<String>,
    /// Every unrevoked certificate with this common name (active or superseded)
    #[arg(long, value_name = "CN")]
    pub name: Option<String>,
    /// RFC 5280 reason, e.g. keyCompromise, superseded, cessationOfOperation
    #[arg(long, value_name = "R")]
    pub reason: Option<String>,
}

/// `dockpki crl`
#[derive(Debug, Args)]
pub struct CrlArgs {
    /// Write the CRL to FILE (mode 0444, the previous one kept as FILE.bak) [default: stdout]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace a FILE that is not a CRL of this CA (kept as a timestamped backup)
    #[arg(long)]
    pub force: bool,
}

/// `dockpki export ...`
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Write a client certificate, its key and the CA certificates as one PKCS#12 (.p12) file
    #[command(after_help = EXPORT_PKCS12_HELP)]
    Pkcs12(ExportPkcs12Args),
}

const EXPORT_PKCS12_HELP: &str = "\
For browsers, Windows' certificate store and Java, which import PKCS#12 only (the docker CLI
reads the PEM layout itself). The file is encrypted as OpenSSL 3 does by default: PBES2 with
PBKDF2-HMAC-SHA256 and AES-256-CBC for the key and the certificates, and an HMAC-SHA256 MAC;
never the legacy RC2-40 or 3DES (openssl pkcs12 needs no -legacy). The export passphrase comes
from --export-passphrase-file, else a prompt asked twice; there is no default. The file is
written with mode 0600 (it holds the key).

Examples:
  dockpki export pkcs12 --name alice --out alice.p12
  sudo dockpki export pkcs12 --name alice --out /root/alice.p12 --export-passphrase-file /root/p12-pass
  openssl pkcs12 -in alice.p12 -info -noout";

/// `dockpki export pkcs12`
#[derive(Debug, Args)]
pub struct ExportPkcs12Args {
    /// The client certificate's common name (see `dockpki status`)
    #[arg(long, value_name = "CN")]
    pub name: String,
    /// The file to write (mode 0600)
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Read the export passphrase from the first line of FILE instead of prompting twice
    #[arg(long, value_name = "FILE")]
    pub export_passphrase_file: Option<PathBuf>,
    /// Replace an existing FILE (kept as a timestamped backup)
    #[arg(long)]
    pub force: bool,
}

/// `dockpki daemon-config`
#[derive(Debug, Args)]
pub struct DaemonConfigArgs {
    /// The daemon.json to merge into [default: /etc/docker/daemon.json; with --rootless $XDG_CONFIG_HOME/docker/daemon.json]
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The daemon layout (ca.pem, server-cert.pem, server-key.pem) [default: /etc/docker/pki; with --rootless $XDG_CONFIG_HOME/docker/pki]
    #[arg(long, value_name = "DIR")]
    pub daemon_dir: Option<PathBuf>,
    /// An address dockerd listens on: tcp://HOST:PORT, unix://PATH or fd:// (repeatable) [default: tcp://0.0.0.0:2376]
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<String>,
    /// Drop the local unix socket from "hosts" (kept by default: unix:///var/run/docker.sock; with --rootless $XDG_RUNTIME_DIR/docker.sock)
    #[arg(long, conflicts_with = "keep_unix")]
    pub no_unix: bool,
    /// Keep the local unix socket in "hosts" (the default; accepted for older scripts)
    #[arg(long)]
    pub keep_unix: bool,
    /// Also set safer daemon defaults, keeping any value already set
    #[arg(long)]
    pub harden: bool,
    /// Print the changes as a diff and write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Configure a rootless dockerd: the user's daemon.json, user-owned paths
    #[arg(long)]
    pub rootless: bool,
}

/// `dockpki systemd-dropin`
#[derive(Debug, Args)]
pub struct SystemdDropinArgs {
    /// The unit that starts dockerd: an installed unit's name, or a unit file's path (holding a /)
    #[arg(long, value_name = "UNIT|FILE", default_value = "docker.service")]
    pub unit: String,
    /// Where to write the drop-in [default: /etc/systemd/system/UNIT.d/dockpki.conf]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace a FILE that dockpki did not write (kept as a timestamped backup)
    #[arg(long)]
    pub force: bool,
}

/// `dockpki env`
#[derive(Debug, Args)]
pub struct EnvArgs {
    /// The daemon to talk to: tcp://HOST:PORT (also HOST:PORT, or HOST for port 2376)
    #[arg(
        long,
        value_name = "tcp://HOST:PORT",
        required_unless_present = "unset",
        conflicts_with = "unset"
    )]
    pub host: Option<String>,
    /// The client layout (ca.pem, cert.pem, key.pem) [default: ~/.docker]
    #[arg(long, value_name = "DIR", conflicts_with = "unset")]
    pub client_dir: Option<PathBuf>,
    /// Syntax of the printed commands: sh (also bash, zsh, dash, ksh), fish or powershell
    /// (pwsh) [default: the basename of $SHELL; sh when $SHELL is unset or another shell]
    #[arg(long, value_name = "SHELL")]
    pub shell: Option<String>,
    /// Print the commands that unset DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, so
    /// that the docker CLI talks to its default daemon again
    #[arg(long)]
    pub unset: bool,
}

#[cfg(test)]
mod tests {
    use super::{Cli, GLOBAL_OPTIONS};
    use clap::{Command, CommandFactory};

    /// Every command of the tree clap parses with, by its full name (`dockpki ca rotate begin`),
    /// built so that each one's usage names its parents; clap's own `help` subcommands are not
    /// commands of dockpki.
    fn every_command() -> Vec<(String, Command)> {
        fn walk(cmd: &Command, name: String, out: &mut Vec<(String, Command)>) {
            out.push((name.clone(), cmd.clone()));
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                walk(sub, format!("{name} {}", sub.get_name()), out);
            }
        }
        let mut root = Cli::command();
        root.build();
        let mut out = Vec::new();
        walk(&root, "dockpki".to_string(), &mut out);
        out
    }

    /// The example command lines of a help text: the indented lines of the paragraphs after
    /// `Examples:`, without comment lines.
    fn examples(help: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut inside = false;
        for line in help.lines() {
            if line == "Examples:" {
                inside = true;
            } else if !line.is_empty() && !line.starts_with(' ') {
                inside = false;
            } else if inside && !line.trim().is_empty() && !line.trim_start().starts_with('#') {
                out.push(line.trim().to_string());
            }
        }
        out
    }

    /// Whether `example` runs the command `name`: its words follow `dockpki` in order, global
    /// options allowed in between (`dockpki --state D ca rotate finish`).
    fn runs(example: &str, name: &str) -> bool {
        let mut tokens = example
            .split_whitespace()
            .skip_while(|t| !t.ends_with("dockpki"))
            .skip(1);
        name.split(' ')
            .skip(1)
            .all(|word| tokens.any(|t| t == word))
            && example.contains("dockpki")
    }

    #[test]
    fn the_walk_reaches_every_nested_command() {
        let names: Vec<String> = every_command().into_iter().map(|(n, _)| n).collect();
        for nested in [
            "dockpki ca rotate",
            "dockpki ca rotate begin",
            "dockpki ca rotate reissue",
            "dockpki ca rotate finish",
            "dockpki ca rotate status",
            "dockpki ca rotate abort",
            "dockpki context update",
            "dockpki completions",
            "dockpki man",
        ] {
            assert!(names.iter().any(|n| n == nested), "{nested}: {names:?}");
        }
    }

    #[test]
    fn every_command_has_an_example_that_runs_it() {
        for (name, cmd) in every_command() {
            let help = cmd.clone().render_help().to_string();
            let examples = examples(&help);
            assert!(
                examples.iter().any(|e| runs(e, &name)),
                "`{name} --help` has no example running {name}: {examples:?}\n{help}"
            );
        }
    }

    #[test]
    fn no_example_is_wrapped_even_on_a_narrow_terminal() {
        for (name, cmd) in every_command() {
            let after = cmd
                .get_after_help()
                .map(ToString::to_string)
                .unwrap_or_default();
            // 40 columns: what clap's wrap_help would wrap every example at.
            let help = cmd.clone().term_width(40).render_help().to_string();
            let lines: Vec<&str> = help.lines().collect();
            for line in after.lines() {
                assert!(
                    lines.contains(&line),
                    "{name}: {line:?} is not one line of\n{help}"
                );
                // A continuation line is one command in two lines: it pastes into sh, but not
                // into every shell, and it wraps the command by hand.
                assert!(!line.ends_with('\\'), "{name}: {line:?}");
            }
        }
    }

    #[test]
    fn global_options_are_listed_apart_from_a_commands_own() {
        for (name, cmd) in every_command() {
            let help = cmd.clone().render_help().to_string();
            let global = help
                .find(&format!("\n{GLOBAL_OPTIONS}:\n"))
                .unwrap_or_else(|| panic!("{name}: no {GLOBAL_OPTIONS}:\n{help}"));
            let own = help.find("\nOptions:\n").expect("every command has -h");
            assert!(own < global, "{name}");
            for flag in [
                "--state <DIR>",
                "--json",
                "-v, --verbose",
                "--passphrase-file <FILE>",
                "--insecure-perms",
            ] {
                // The option's own line, not a mention of it in another option's help.
                let at = help
                    .find(&format!("  {flag}  "))
                    .unwrap_or_else(|| panic!("{name}: {flag}\n{help}"));
                assert!(
                    at > global,
                    "{name}: {flag} is among the command's own options"
                );
            }
        }
    }
}
