//! One module per subcommand; each returns the process exit code.

mod audit;
mod bootstrap;
mod ca;
mod completions;
mod contexts;
mod converge;
mod crl;
mod daemon_config;
mod env;
mod export;
mod inspect;
mod install;
mod issue;
mod man;
mod probe;
mod renew;
mod request;
mod revoke;
mod rotate;
mod sans;
mod sign;
mod status;
mod systemd;
mod verify;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use dockpki_provision::docker::endpoint::TcpEndpoint;
use dockpki_provision::fs::Existing;
use dockpki_provision::report::Notice;
use dockpki_provision::store::expiry::RenewalWindow;
use dockpki_provision::store::{Create, KeyPerms, Settings, State};

use crate::cli::{
    CaCommand, Cli, Command, ContextCommand, ExportCommand, IssueCommand, RequestCommand,
    RotateCommand,
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
    // Both are repeated in every command printed for the user to paste ([`Invocation`]): a path
    // that cannot be printed as itself (not UTF-8, or holding a control or bidi character) would
    // be pasted as another path.
    if let Some(state) = &cli.state {
        crate::output::printable_path("the --state directory", state)?;
    }
    if let Some(file) = &cli.passphrase_file {
        crate::output::printable_path("the --passphrase-file", file)?;
    }
    let user = ClientUser::detect();
    let out = Output {
        json: cli.json,
        verbose: cli.verbose,
        quiet: cli.quiet,
        colour: crate::output::colour(cli.color.parse()?, cli.json, terminal()),
    };
    crate::output::set_quiet(out.quiet);
    // Progress is for a person watching stderr: not in a log or a pipe, not under --json or -q.
    let progress = if !out.json && !out.quiet && std::io::stderr().is_terminal() {
        crate::progress::Display::Spinner
    } else {
        crate::progress::Display::Off
    };
    let settings = Settings {
        passphrases: Arc::new(CliPassphrases::new(cli.passphrase_file)),
        key_perms: if cli.insecure_perms {
            KeyPerms::WarnOnly
        } else {
            KeyPerms::Strict
        },
        owners: user.owners.clone(),
        lock_timeout: Some(lock_timeout(
            std::env::var_os("DOCKPKI_LOCK_TIMEOUT").as_deref(),
        )?),
        report: Arc::new(move |n: &Notice| match n {
            Notice::Progress { task, done, total } => {
                if progress == crate::progress::Display::Spinner {
                    crate::progress::show(*task, *done, *total);
                }
            }
            n if out.quiet && !n.is_warning() => {}
            n => crate::output::print_note(&n.to_string()),
        }),
    };
    let ctx = Context {
        state: cli.state,
        out,
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
        Command::Request(RequestCommand::Server(args)) => request::server(&ctx, &args),
        Command::Request(RequestCommand::Client(args)) => request::client(&ctx, &args),
        Command::Sign(args) => sign::run(&ctx, &args),
        Command::Install(args) => install::run(&ctx, &args),
        Command::Bootstrap(args) => bootstrap::run(&ctx, &args),
        Command::Plan(args) => converge::plan(&ctx, &args),
        Command::Apply(args) => converge::apply(&ctx, &args),
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
        Command::Audit(args) => audit::run(&ctx, &args),
        Command::Completions(args) => completions::run(&ctx, &args),
        Command::Man(args) => man::run(&ctx, &args),
    }
}

/// What the environment says about colours: whether stdout is a terminal, `NO_COLOR` (set and
/// not empty, as no-color.org defines it) and `TERM=dumb`.
fn terminal() -> crate::output::Terminal {
    crate::output::Terminal {
        stdout_is_terminal: std::io::stdout().is_terminal(),
        no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        dumb: std::env::var_os("TERM").is_some_and(|v| v == "dumb"),
    }
}

/// The first 8 hex digits of a serial: enough to tell certificates apart in practice, and
/// accepted as a prefix by `--serial`.
pub fn short_serial(serial: &str) -> &str {
    serial.get(..8).unwrap_or(serial)
}

/// A certificate's common name in quotes (its whole subject when it has none), for the line
/// saying what was done.
pub fn quoted_name(info: &dockpki::CertInfo) -> String {
    format!("{:?}", info.common_name.as_deref().unwrap_or(&info.subject))
}

/// With `-v` (never with `-q` or `--json`), one `wrote PATH` line per file written, and the
/// backup kept of the file it replaced.
pub fn list_written(ctx: &Context, written: &[dockpki_provision::fs::Written]) {
    if !ctx.out.verbose || !ctx.out.reports() {
        return;
    }
    for w in written.iter().filter(|w| w.changed) {
        match &w.backup {
            Some(b) => crate::output::say(format_args!(
                "wrote {} (previous file kept as {})",
                w.path.display(),
                b.display()
            )),
            None => crate::output::say(format_args!("wrote {}", w.path.display())),
        }
    }
}

/// One line per docker context whose copies of a client layout were rewritten with it (never
/// with `-q` or `--json`): the copies live outside the layout, so the user learns that the
/// context changed too. Nothing when no context was fed, so the output is otherwise unchanged.
pub fn list_contexts_fed(ctx: &Context, fed: &[dockpki_provision::docker::context::ContextFed]) {
    // The name and the directory come from the inventory: `done` escapes them.
    for c in fed {
        ctx.out.done(format_args!(
            "updated docker context {:?} in {} with the new files of {}",
            c.name,
            c.docker_config.display(),
            c.client_dir.display()
        ));
    }
}

/// Parses one value with the library's parser, whose errors say what is wrong and what to give.
pub fn parse<T: FromStr<Err = dockpki::Error>>(s: &str) -> CliResult<T> {
    s.parse().map_err(CliError::from)
}

/// What a duration flag's value is, for what it accepts of the [duration
/// grammar](dockpki::duration) and for its error message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DurationKind {
    /// How long a certificate is valid (`--validity`): hours up, never zero, at most 100y.
    Validity,
    /// How long before expiry a certificate counts as due (`--within`): hours up, at most 100y;
    /// zero is a window of nothing ahead (only what has already expired).
    Window,
    /// How long to wait for something (`--timeout`, `DOCKPKI_LOCK_TIMEOUT`): seconds up.
    Wait(dockpki::duration::Rule),
}

impl DurationKind {
    fn rule(self) -> dockpki::duration::Rule {
        use dockpki::duration::{Rule, Zero};
        match self {
            DurationKind::Validity => dockpki::VALIDITY_RULE,
            // No certificate outlives the longest validity: a longer window is a typo.
            DurationKind::Window => Rule {
                zero: Zero::Allowed,
                ..dockpki::VALIDITY_RULE
            },
            DurationKind::Wait(rule) => rule,
        }
    }

    /// The word the error message calls the value.
    fn noun(self) -> &'static str {
        match self {
            DurationKind::Validity => "validity",
            DurationKind::Window => "window",
            DurationKind::Wait(_) => "timeout",
        }
    }

    /// What to give instead, with an example.
    fn advice(self) -> String {
        let units = self.rule().smallest.and_larger();
        match self {
            DurationKind::Validity => {
                format!("give a positive number and a unit {units}, e.g. 90d or 1y")
            }
            DurationKind::Window => format!(
                "give a number and a unit {units}, e.g. 30d (0d: only what has already expired)"
            ),
            DurationKind::Wait(_) => {
                format!("give a number and a unit {units}, e.g. 5s or 1m")
            }
        }
    }
}

/// Parses the value of the duration option `flag` (`--within`, `--timeout`, ...) in the one
/// [duration grammar](dockpki::duration), as much of it as `kind` accepts. The error names the
/// value, the flag, the reason and an example: `invalid window "30" for --within: a bare number
/// has no unit; give a number and a unit h, d, w or y, e.g. 30d ...`.
pub fn parse_duration(flag: &str, s: &str, kind: DurationKind) -> CliResult<time::Duration> {
    dockpki::duration::parse(s, kind.rule()).map_err(|e| {
        CliError::new(format!(
            "invalid {} {s:?} for {flag}: {e}; {}",
            kind.noun(),
            kind.advice()
        ))
    })
}

/// Parses the validity option `flag` (`--validity`, `--server-validity`, ...).
pub fn parse_validity(flag: &str, s: &str) -> CliResult<dockpki::Lifetime> {
    parse_duration(flag, s, DurationKind::Validity)?;
    parse(s)
}

/// Parses the window of `flag` (`--within 30d`): how long before expiry a certificate counts as
/// due. Zero (`0d`, `0h`, ...) is a window too, of nothing ahead: only what has already
/// expired.
pub fn parse_window(flag: &str, s: &str) -> CliResult<time::Duration> {
    parse_duration(flag, s, DurationKind::Window)
}

/// Parses the daemon address of `flag` (`--host`) in Docker's `-H` syntax with the engine's
/// parser ([`TcpEndpoint`]), naming the flag in front of its error.
pub fn parse_host(flag: &str, s: &str) -> CliResult<TcpEndpoint> {
    s.parse::<TcpEndpoint>()
        .map_err(|e| CliError::from(e).context(flag))
}

/// The renewal window of `--within` for `status` and `renew`: the default relative rule when not
/// given, else the window given ([`parse_window`]).
pub fn renewal_window(within: Option<&str>) -> CliResult<RenewalWindow> {
    Ok(match within {
        None => RenewalWindow::Relative,
        Some(w) => RenewalWindow::Within(parse_window("--within", w)?),
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

/// What `DOCKPKI_LOCK_TIMEOUT` accepts: any unit from seconds up; zero is a value (do not wait).
const LOCK_TIMEOUT_RULE: dockpki::duration::Rule = dockpki::duration::Rule {
    smallest: dockpki::duration::Unit::Seconds,
    zero: dockpki::duration::Zero::Allowed,
    longest: None,
};

/// The lock timeout from `DOCKPKI_LOCK_TIMEOUT`'s value, in the one duration grammar (`60s`,
/// `5m`, `0s`: do not wait): unset or empty is the default; anything else is refused, since
/// silently waiting 300 s instead of the `1.5` or `-5` someone set hides the mistake until a
/// cron job piles up. A bare number is refused too, as for every duration flag: one grammar.
fn lock_timeout(value: Option<&std::ffi::OsStr>) -> CliResult<Duration> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(Duration::from_secs(
            dockpki_provision::store::state::DEFAULT_LOCK_TIMEOUT_SECS,
        ));
    };
    let text = value.to_string_lossy();
    dockpki::duration::parse(&text, LOCK_TIMEOUT_RULE)
        .map(|d| Duration::from_secs(d.unsigned_abs().as_secs()))
        .map_err(|e| {
            CliError::new(format!(
                "invalid timeout {text:?} for DOCKPKI_LOCK_TIMEOUT: {e}; set it to a number and a unit s, m, h, d, w or y, e.g. DOCKPKI_LOCK_TIMEOUT=60s, or unset it for the default {}s",
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
    use super::{lock_timeout, parse_validity, parse_window};
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
            ("0", "a bare number has no unit"),
            ("30", "a bare number has no unit"),
            ("d", "missing number"),
            ("5m", "m is too small a unit here; the smallest is h"),
            (
                "1mo",
                "there is no month unit (m is minutes; a month is about 30d)",
            ),
            ("1000y", "longer than the maximum of 100y"),
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
    fn a_bad_validity_names_its_flag_and_the_smallest_unit() {
        for (bad, reason) in [
            ("90", "a bare number has no unit"),
            ("1m", "m is too small a unit here; the smallest is h"),
            ("0d", "it must be longer than zero"),
            ("101y", "longer than the maximum of 100y"),
        ] {
            let e = parse_validity("--client-validity", bad)
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!(
                    "invalid validity {bad:?} for --client-validity: {reason}"
                )) && e.contains("e.g. 90d"),
                "{bad}: {e}"
            );
        }
        assert_eq!(
            parse_validity("--validity", "36h").unwrap().to_string(),
            "36h"
        );
    }

    #[test]
    fn the_lock_timeout_takes_the_duration_grammar_or_the_default_and_nothing_else() {
        let default = std::time::Duration::from_secs(
            dockpki_provision::store::state::DEFAULT_LOCK_TIMEOUT_SECS,
        );
        assert_eq!(lock_timeout(None).unwrap(), default);
        assert_eq!(lock_timeout(Some(OsStr::new(""))).unwrap(), default);
        assert_eq!(lock_timeout(Some(OsStr::new("0s"))).unwrap().as_secs(), 0);
        assert_eq!(lock_timeout(Some(OsStr::new("42s"))).unwrap().as_secs(), 42);
        assert_eq!(lock_timeout(Some(OsStr::new("2m"))).unwrap().as_secs(), 120);
        for bad in [
            "abc",
            "-5s",
            "1.5s",
            "+5s",
            "60",
            "0",
            "5ms",
            "99999999999999999999s",
        ] {
            let e = lock_timeout(Some(OsStr::new(bad))).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!(
                    "invalid timeout {bad:?} for DOCKPKI_LOCK_TIMEOUT: "
                )) && e.contains("e.g. DOCKPKI_LOCK_TIMEOUT=60s"),
                "{bad}: {e}"
            );
        }
    }
}
