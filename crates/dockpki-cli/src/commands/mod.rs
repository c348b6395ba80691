//! One module per subcommand; each returns the process exit code.

mod bootstrap;
mod ca;
mod completions;
mod contexts;
mod crl;
mod daemon_config;
mod env;
mod export;
mod inspect;
mod issue;
mod man;
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
use std::sync::Arc;
use std::time::Duration;

use dockpki_provision::fs::Existing;
use dockpki_provision::report::Notice;
use dockpki_provision::store::{Create, KeyPerms, Settings, State};

use crate::cli::{
    CaCommand, Cli, Command, ContextCommand, ExportCommand, IssueCommand, RotateCommand,
};
use crate::error::{CliError, CliResult};
use crate::invocation::Invocation;
use crate::output::Output;
use crate::paths::ClientUser;
use crate::secrets::CliPassphrases;
use dockpki_provision::store::state::KeyProtection;

/// What every command gets besides its own arguments.
pub struct Context {
    state: Option<PathBuf>,
    /// How to print.
    pub out: Output,
    /// Who the client files are for (sudo's invoking user, else the running user).
    pub user: ClientUser,
    /// What the engine is told about passphrases, key modes, owners, the lock and notices.
    settings: Settings,
    /// `dockpki` with the global options in force, for every command line printed as a hint.
    pub invocation: Invocation,
}

impl Context {
    /// Whether the state directory was named (`--state` or `DOCKPKI_STATE`) rather than the
    /// default.
    pub fn state_named(&self) -> bool {
        self.state.is_some()
    }

    /// The engine's settings for this command line.
    pub fn settings(&self) -> Settings {
        self.settings.clone()
    }

    /// Where the engine's notices go: stderr, escaped.
    pub fn report(&self) -> &dyn dockpki_provision::report::Report {
        self.settings.report.as_ref()
    }

    /// Opens the state directory (`--state`, else the default) for changes.
    pub fn open_state(&self, create: Create) -> CliResult<State> {
        self.open_state_at(self.state_dir()?, create)
    }

    /// Opens the state directory `dir` for changes.
    pub fn open_state_at(&self, dir: PathBuf, create: Create) -> CliResult<State> {
        Ok(State::open(dir, create, self.settings())?)
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
pub fn run(cli: Cli, invocation: Invocation) -> CliResult<i32> {
    let user = ClientUser::detect();
    let settings = Settings {
        passphrases: Arc::new(CliPassphrases::new(cli.passphrase_file)),
        key_perms: if cli.insecure_perms {
            KeyPerms::WarnOnly
        } else {
            KeyPerms::Strict
        },
        owners: user.owners.clone(),
        lock_timeout: Some(Duration::from_secs(lock_timeout(
            std::env::var_os("DOCKPKI_LOCK_TIMEOUT").as_deref(),
        )?)),
        report: Arc::new(|n: &Notice| crate::output::note(n)),
    };
    let ctx = Context {
        state: cli.state,
        out: Output {
            json: cli.json,
            verbose: cli.verbose,
        },
        user,
        settings,
        invocation,
    };
    match cli.command {
        Command::Ca(CaCommand::Init(args)) => ca::init(&ctx, &args),
        Command::Ca(CaCommand::Encrypt) => ca::convert(&ctx, KeyProtection::Encrypted),
        Command::Ca(CaCommand::Decrypt) => ca::convert(&ctx, KeyProtection::Plain),
        Command::Ca(CaCommand::Passphrase(args)) => ca::passphrase(&ctx, &args),
        Command::Ca(CaCommand::Rotate(RotateCommand::Begin(args))) => rotate::begin(&ctx, &args),
        Command::Ca(CaCommand::Rotate(RotateCommand::Reissue)) => rotate::reissue(&ctx),
        Command::Ca(CaCommand::Rotate(RotateCommand::Finish)) => rotate::finish(&ctx),
        Command::Ca(CaCommand::Rotate(RotateCommand::Status)) => rotate::status(&ctx),
        Command::Ca(CaCommand::Rotate(RotateCommand::Abort)) => rotate::abort(&ctx),
        Command::Issue(IssueCommand::Server(args)) => issue::server(&ctx, &args),
        Command::Issue(IssueCommand::Client(args)) => issue::client(&ctx, &args),
        Command::Bootstrap(args) => bootstrap::run(&ctx, &args),
        Command::Inspect(args) => inspect::run(&ctx, &args),
        Command::Verify(args) => verify::run(&ctx, &args),
        Command::Status(args) => status::run(&ctx, &args),
        Command::Renew(args) => renew::run(&ctx, &args),
        Command::Revoke(args) => revoke::run(&ctx, &args),
        Command::Crl(args) => crl::run(&ctx, &args),
        Command::Export(ExportCommand::Pkcs12(args)) => export::pkcs12(&ctx, &args),
        Command::DaemonConfig(args) => daemon_config::run(&ctx, &args),
        Command::SystemdDropin(args) => systemd::run(&ctx, &args),
        Command::Env(args) => env::run(&ctx, &args),
        Command::Sans => sans::run(&ctx),
        Command::Context(ContextCommand::Create(args)) => contexts::create(&ctx, &args),
        Command::Context(ContextCommand::Update(args)) => contexts::update(&ctx, &args),
        Command::Context(ContextCommand::Ls) => contexts::list(&ctx),
        Command::Context(ContextCommand::Rm(args)) => contexts::remove(&ctx, &args),
        Command::Probe(args) => probe::run(&ctx, &args),
        Command::Completions(args) => completions::run(&ctx, &args),
        Command::Man(args) => man::run(&ctx, &args),
    }
}

/// Parses one value with the library's parser, whose errors say what is wrong and what to give.
pub fn parse<T: FromStr<Err = dockpki::Error>>(s: &str) -> CliResult<T> {
    s.parse().map_err(CliError::from)
}

/// Parses the window of `flag` (`--within 30d`): how long before expiry a certificate counts as
/// due. Zero (`0d`, `0h`, ...) is a window too, of nothing ahead: only what has already
/// expired. Any other value is a [`dockpki::Lifetime`]; its errors are reworded, since this is
/// not a validity.
pub fn parse_window(flag: &str, s: &str) -> CliResult<time::Duration> {
    let t = s.trim();
    let zero = t
        .strip_suffix(['h', 'd', 'w', 'y'])
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b == b'0'));
    if zero {
        return Ok(time::Duration::ZERO);
    }
    s.parse::<dockpki::Lifetime>()
        .map(dockpki::Lifetime::duration)
        .map_err(|e| {
            let reason = if t.starts_with('-') {
                "it cannot be negative".to_string()
            } else if let dockpki::Error::InvalidLifetime { reason, .. } = e {
                reason
            } else {
                e.to_string()
            };
            CliError::new(format!(
                "invalid window {s:?} for {flag}: {reason}; give a number and a unit h, d, w or y, e.g. 30d (0d: only what has already expired)"
            ))
        })
}

/// Parses every value.
pub fn parse_all<T: FromStr<Err = dockpki::Error>>(values: &[String]) -> CliResult<Vec<T>> {
    values.iter().map(|v| parse(v)).collect()
}

/// Whether a plan may replace files that need consent: `--force`.
pub fn existing(force: bool) -> Existing {
    if force {
        Existing::ReplaceKeepingBackup
    } else {
        Existing::Refuse
    }
}

/// The lock timeout in seconds from `DOCKPKI_LOCK_TIMEOUT`'s value: unset or empty is the
/// default; anything but whole seconds is refused, since silently waiting 300 s instead of the
/// `1.5` or `-5` someone set hides the mistake until a cron job piles up.
fn lock_timeout(value: Option<&std::ffi::OsStr>) -> CliResult<u64> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(dockpki_provision::store::state::DEFAULT_LOCK_TIMEOUT_SECS);
    };
    value
        .to_str()
        .filter(|v| v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            CliError::new(format!(
                "DOCKPKI_LOCK_TIMEOUT={:?} is not a whole number of seconds; set it to one, e.g. DOCKPKI_LOCK_TIMEOUT=60, or unset it for the default {}",
                value.to_string_lossy(),
                dockpki_provision::store::state::DEFAULT_LOCK_TIMEOUT_SECS
            ))
        })
}

/// The current time, read once per command so that every check in it agrees.
pub fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// Where systemd units are looked for, highest precedence first:
/// `DOCKPKI_SYSTEMD_UNIT_PATH` (colon-separated), so that tests and unusual layouts can point
/// at other unit directories, else systemd's own.
pub fn unit_dirs() -> Vec<PathBuf> {
    match std::env::var_os("DOCKPKI_SYSTEMD_UNIT_PATH").filter(|v| !v.is_empty()) {
        Some(v) => std::env::split_paths(&v).collect(),
        None => dockpki_provision::docker::systemd::default_unit_dirs(),
    }
}

#[cfg(test)]
mod tests {
    use super::{lock_timeout, parse_window};
    use std::ffi::OsStr;
    use time::Duration;

    #[test]
    fn a_zero_window_means_only_what_has_expired_and_other_windows_are_lifetimes() {
        for zero in ["0d", "0h", "00w", " 0y "] {
            assert_eq!(
                parse_window("--within", zero).unwrap(),
                Duration::ZERO,
                "{zero}"
            );
        }
        assert_eq!(parse_window("--within", "30d").unwrap(), Duration::days(30));
        assert_eq!(
            parse_window("--within", "12h").unwrap(),
            Duration::hours(12)
        );
    }

    #[test]
    fn a_bad_window_is_called_a_window_naming_the_flag() {
        for (bad, reason) in [
            ("soon", "missing number"),
            ("-1d", "it cannot be negative"),
            ("0", "missing unit"),
            ("d", "missing number"),
            ("5m", "unknown unit"),
            ("1000y", "longer than the maximum"),
        ] {
            let e = parse_window("--within", bad).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("invalid window {bad:?} for --within: {reason}"))
                    && e.contains("0d: only what has already expired")
                    && !e.contains("validity"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn the_lock_timeout_is_whole_seconds_or_the_default_and_nothing_else() {
        assert_eq!(
            lock_timeout(None).unwrap(),
            dockpki_provision::store::state::DEFAULT_LOCK_TIMEOUT_SECS
        );
        assert_eq!(
            lock_timeout(Some(OsStr::new(""))).unwrap(),
            dockpki_provision::store::state::DEFAULT_LOCK_TIMEOUT_SECS
        );
        assert_eq!(lock_timeout(Some(OsStr::new("0"))).unwrap(), 0);
        assert_eq!(lock_timeout(Some(OsStr::new("42"))).unwrap(), 42);
        assert_eq!(
            lock_timeout(Some(OsStr::new("18446744073709551615"))).unwrap(),
            u64::MAX
        );
        for bad in ["abc", "-5", "1.5", "+5", " 5", "5s", "18446744073709551616"] {
            let e = lock_timeout(Some(OsStr::new(bad))).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!(
                    "DOCKPKI_LOCK_TIMEOUT={bad:?} is not a whole number of seconds"
                )),
                "{bad}: {e}"
            );
        }
    }
}
