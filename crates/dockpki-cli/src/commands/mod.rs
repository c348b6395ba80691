//! One module per subcommand; each returns the process exit code.

mod bootstrap;
mod ca;
mod contexts;
mod crl;
mod daemon_config;
mod env;
mod inspect;
mod issue;
mod probe;
mod renew;
mod revoke;
mod rotate;
mod sans;
mod status;
mod systemd;
mod verify;

use std::path::PathBuf;
use std::str::FromStr;

use crate::cli::{CaCommand, Cli, Command, ContextCommand, IssueCommand, RotateCommand};
use crate::error::{CliError, CliResult};
use crate::output::Output;
use crate::state::KeyProtection;

/// What every command gets besides its own arguments.
pub struct Context {
    state: Option<PathBuf>,
    /// How to print.
    pub out: Output,
}

impl Context {
    /// Whether the state directory was named (`--state` or `DOCKPKI_STATE`) rather than the
    /// default.
    pub fn state_named(&self) -> bool {
        self.state.is_some()
    }

    /// The state directory, absolute.
    pub fn state_dir(&self) -> CliResult<PathBuf> {
        match &self.state {
            Some(dir) => crate::paths::absolute(dir),
            None => crate::paths::default_state_dir(),
        }
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> CliResult<i32> {
    crate::secrets::configure(crate::secrets::Settings {
        passphrase_file: cli.passphrase_file,
        insecure_perms: if cli.insecure_perms {
            crate::secrets::Perms::WarnOnly
        } else {
            crate::secrets::Perms::Strict
        },
    });
    let ctx = Context {
        state: cli.state,
        out: Output {
            json: cli.json,
            verbose: cli.verbose,
        },
    };
    match cli.command {
        Command::Ca(CaCommand::Init(args)) => ca::init(&ctx, &args),
        Command::Ca(CaCommand::Encrypt) => ca::convert(&ctx, KeyProtection::Encrypted),
        Command::Ca(CaCommand::Decrypt) => ca::convert(&ctx, KeyProtection::Plain),
        Command::Ca(CaCommand::Rotate(RotateCommand::Begin(args))) => rotate::begin(&ctx, &args),
        Command::Ca(CaCommand::Rotate(RotateCommand::Reissue)) => rotate::reissue(&ctx),
        Command::Ca(CaCommand::Rotate(RotateCommand::Finish)) => rotate::finish(&ctx),
        Command::Ca(CaCommand::Rotate(RotateCommand::Status)) => rotate::status(&ctx),
        Command::Issue(IssueCommand::Server(args)) => issue::server(&ctx, &args),
        Command::Issue(IssueCommand::Client(args)) => issue::client(&ctx, &args),
        Command::Bootstrap(args) => bootstrap::run(&ctx, &args),
        Command::Inspect(args) => inspect::run(&ctx, &args),
        Command::Verify(args) => verify::run(&ctx, &args),
        Command::Status(args) => status::run(&ctx, &args),
        Command::Renew(args) => renew::run(&ctx, &args),
        Command::Revoke(args) => revoke::run(&ctx, &args),
        Command::Crl(args) => crl::run(&ctx, &args),
        Command::DaemonConfig(args) => daemon_config::run(&ctx, &args),
        Command::SystemdDropin(args) => systemd::run(&ctx, &args),
        Command::Env(args) => env::run(&ctx, &args),
        Command::Sans => sans::run(&ctx),
        Command::Context(ContextCommand::Create(args)) => contexts::create(&ctx, &args),
        Command::Context(ContextCommand::Update(args)) => contexts::update(&ctx, &args),
        Command::Probe(args) => probe::run(&ctx, &args),
    }
}

/// Parses one value with the library's parser, whose errors say what is wrong and what to give.
pub fn parse<T: FromStr<Err = dockpki::Error>>(s: &str) -> CliResult<T> {
    s.parse().map_err(CliError::from)
}

/// Parses every value.
pub fn parse_all<T: FromStr<Err = dockpki::Error>>(values: &[String]) -> CliResult<Vec<T>> {
    values.iter().map(|v| parse(v)).collect()
}

/// The current time, read once per command so that every check in it agrees.
pub fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}
