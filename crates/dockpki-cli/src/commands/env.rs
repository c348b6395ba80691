//! `dockpki env`: the environment that points the docker CLI at a daemon with TLS, printed as
//! commands for the user's shell, like `docker-machine env`.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde_json::{Map, Value};

use super::{parse_host, Context};
use crate::cli::EnvArgs;
use dockpki_provision::layout::Layout;

use crate::error::{with_layout_flags, CliError, CliResult, LayoutFlags, EXIT_OK};
use crate::output::{note, print_document, printable_path, shell_quote};
use crate::paths::absolute;

/// The shell whose syntax to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shell {
    /// POSIX sh, bash, zsh.
    Sh,
    /// fish.
    Fish,
    /// PowerShell (`pwsh`).
    Pwsh,
}

impl FromStr for Shell {
    type Err = CliError;

    fn from_str(s: &str) -> CliResult<Shell> {
        Shell::named(s).ok_or_else(|| {
            CliError::new(format!(
                "unknown shell {s:?}; give sh (for bash, zsh, dash, ksh too), fish or powershell"
            ))
        })
    }
}

/// The shell `env` prints for, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Chosen {
    /// `--shell`, or `$SHELL` naming a shell dockpki knows.
    Known(Shell),
    /// `$SHELL` names a shell whose syntax dockpki does not print (tcsh, nu, ...): POSIX sh
    /// is printed, the most widely understood syntax, with a note on stderr naming the shell
    /// and `--shell`. Refusing instead would break `eval "$(dockpki env ...)"` for everyone
    /// whose login shell differs from the shell they type in.
    Fallback(String),
}

impl Shell {
    /// The shell called `name` (a `--shell` value or the basename of `$SHELL`).
    fn named(name: &str) -> Option<Shell> {
        match name {
            "sh" | "bash" | "zsh" | "dash" | "ksh" => Some(Shell::Sh),
            "fish" => Some(Shell::Fish),
            "powershell" | "pwsh" => Some(Shell::Pwsh),
            _ => None,
        }
    }

    /// The shell to print for: `--shell` when given, else the basename of `$SHELL`
    /// (`login_shell`, which the caller reads), else POSIX sh.
    ///
    /// # Errors
    /// An unknown `--shell`.
    fn choose(flag: Option<&str>, login_shell: Option<&std::ffi::OsStr>) -> CliResult<Chosen> {
        if let Some(name) = flag {
            return Ok(Chosen::Known(name.parse()?));
        }
        let Some(path) = login_shell.filter(|p| !p.is_empty()) else {
            return Ok(Chosen::Known(Shell::Sh));
        };
        let base = Path::new(path)
            .file_name()
            .map(|b| b.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(match Shell::named(&base) {
            Some(shell) => Chosen::Known(shell),
            None => Chosen::Fallback(path.to_string_lossy().into_owned()),
        })
    }
}

/// What `env` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Assignments pointing the docker CLI at a daemon.
    Set,
    /// Removals of the variables `Set` assigns (`--unset`).
    Unset,
}

/// The variables `env` sets, and `env --unset` removes.
const VARIABLES: [&str; 3] = ["DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"];

impl Shell {
    fn name(self) -> &'static str {
        match self {
            Shell::Sh => "sh",
            Shell::Fish => "fish",
            Shell::Pwsh => "powershell",
        }
    }

    /// `value` as one literal word of this shell. The caller has refused control characters
    /// (see [`run`]), so every quoted form below stays on one line.
    fn quote(self, value: &str) -> String {
        match self {
            Shell::Sh => shell_quote(value),
            // In fish single quotes only `\'` and `\\` are special.
            Shell::Fish => format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'")),
            // In PowerShell single quotes `$`, backticks and double quotes are literal, and a
            // quote is written doubled. PowerShell takes the typographic single quotes
            // U+2018..U+201B for `'` too, so they are doubled as well, as its own
            // EscapeSingleQuotedStringContent does; one left single would end the string.
            Shell::Pwsh => {
                let mut out = String::with_capacity(value.len() + 2);
                out.push('\'');
                for c in value.chars() {
                    if PWSH_SINGLE_QUOTES.contains(&c) {
                        out.push(c);
                    }
                    out.push(c);
                }
                out.push('\'');
                out
            }
        }
    }

    /// One assignment of an exported variable.
    fn export(self, name: &str, value: &str) -> String {
        match self {
            Shell::Sh => format!("export {name}={}", self.quote(value)),
            Shell::Fish => format!("set -gx {name} {};", self.quote(value)),
            Shell::Pwsh => format!("$Env:{name} = {}", self.quote(value)),
        }
    }

    /// Removes an exported variable; a variable that is not set is no error in any of them.
    fn unset(self, name: &str) -> String {
        match self {
            Shell::Sh => format!("unset {name}"),
            Shell::Fish => format!("set -e {name};"),
            Shell::Pwsh => format!("Remove-Item Env:{name} -ErrorAction SilentlyContinue"),
        }
    }

    /// How to run `command` so that its output configures this shell.
    fn eval_hint(self, command: &str) -> String {
        match self {
            Shell::Sh => format!("eval \"$({command})\""),
            Shell::Fish => format!("{command} | source"),
            Shell::Pwsh => format!("& {command} | Invoke-Expression"),
        }
    }
}

/// The characters PowerShell accepts as a single quote.
const PWSH_SINGLE_QUOTES: [char; 5] = ['\'', '\u{2018}', '\u{2019}', '\u{201a}', '\u{201b}'];

/// Refuses a client directory that holds the daemon's layout, or lacks the three files the
/// docker CLI reads.
fn check_client_dir(dir: &Path) -> CliResult<()> {
    // First: a daemon layout lacks cert.pem too, and the advice below would be to issue a
    // client certificate into the daemon's directory.
    Layout::client(dir.to_path_buf())
        .refuse_other_kind()
        .map_err(with_layout_flags(LayoutFlags::ClientDir))?;
    for name in ["ca.pem", "cert.pem", "key.pem"] {
        if !dir.join(name).is_file() {
            return Err(CliError::new(format!(
                "{} has no {name}; the docker CLI needs ca.pem, cert.pem and key.pem there (without cert.pem/key.pem it silently sends no certificate and dockerd refuses it): issue one with `",
                dir.display(),
            ))
            .command(format!(
                "issue client --name NAME --out {}",
                crate::output::shell_quote(&dir.display().to_string())
            ))
            .text("` or pass --client-dir"));
        }
    }
    Ok(())
}

/// Prints the environment.
///
/// The text is shell code that users `eval`, so every byte of it is either fixed text or inside
/// one quoted literal of the chosen shell, and values that cannot be quoted on one line (control
/// characters; bidirectional-formatting characters, which would disguise the line) are refused.
pub fn run(ctx: &Context, args: &EnvArgs) -> CliResult<i32> {
    let shell = match Shell::choose(args.shell.as_deref(), std::env::var_os("SHELL").as_deref())? {
        Chosen::Known(shell) => shell,
        Chosen::Fallback(login) => {
            if !ctx.out.json {
                note(format_args!(
                    "SHELL is {login:?}, whose syntax dockpki does not print; printing POSIX sh commands (pass --shell sh, fish or powershell to choose)"
                ));
            }
            Shell::Sh
        }
    };
    let action = if args.unset {
        Action::Unset
    } else {
        Action::Set
    };
    match action {
        Action::Unset => {
            unset(ctx, shell);
            Ok(EXIT_OK)
        }
        Action::Set => set(ctx, shell, args),
    }
}

/// `env --unset`: the removal of every variable `env` sets.
fn unset(ctx: &Context, shell: Shell) {
    if ctx.out.json {
        // One schema whether setting or unsetting: `set` the variables to set, `unset` those to
        // remove.
        print_document("env", serde_json::json!({ "set": {}, "unset": VARIABLES }));
        return;
    }
    for name in VARIABLES {
        println!("{}", shell.unset(name));
    }
    let command = format!("dockpki env --unset --shell {}", shell.name());
    println!("# Run this command to configure your shell:");
    println!("# {}", shell.eval_hint(&command));
}

fn set(ctx: &Context, shell: Shell, args: &EnvArgs) -> CliResult<i32> {
    // clap requires --host unless --unset is given.
    let host = parse_host("--host", args.host.as_deref().unwrap_or_default())?;
    let dir: PathBuf = absolute(&match &args.client_dir {
        Some(d) => d.clone(),
        None => ctx.user.clone().docker_dir()?,
    })?;
    let dir_text = printable_path("the client directory", &dir)?.to_string();
    check_client_dir(&dir)?;
    let vars = [
        (VARIABLES[0], host.to_string()),
        // Any non-empty value means TLS with verification of the daemon; "1" says so plainly.
        (VARIABLES[1], "1".to_string()),
        (VARIABLES[2], dir_text.clone()),
    ];
    if ctx.out.json {
        let map: Map<String, Value> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
            .collect();
        print_document(
            "env",
            serde_json::json!({ "set": Value::Object(map), "unset": [] }),
        );
        return Ok(EXIT_OK);
    }
    for (k, v) in &vars {
        println!("{}", shell.export(k, v));
    }
    println!("# Run this command to configure your shell:");
    println!(
        "# {}",
        shell.eval_hint(&hint_command(shell, &host.to_string(), &dir_text))
    );
    Ok(EXIT_OK)
}

/// The `dockpki env` command that prints this output again, quoted for `shell`. It names the
/// client directory even when it was the default: the default depends on who runs it (sudo, HOME),
/// and the hint must give the same directory wherever it is pasted. No global option changes
/// what `env` prints (`--state`, `--verbose` and `--passphrase-file` are not used by it, and
/// `--json` prints no hint), so none is repeated.
fn hint_command(shell: Shell, host: &str, dir: &str) -> String {
    let mut command = format!(
        "dockpki env --host {} --client-dir {}",
        shell.quote(host),
        shell.quote(dir)
    );
    // Always named: without it the pasted command would follow the $SHELL of wherever it is
    // pasted (a bash started from fish has SHELL=fish), not the syntax of this output.
    command.push_str(&format!(" --shell {}", shell.name()));
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_comes_from_the_flag_else_the_basename_of_shell_else_sh() {
        use std::ffi::OsStr;
        let known = |flag: Option<&str>, login: Option<&str>| {
            Shell::choose(flag, login.map(OsStr::new)).unwrap()
        };
        for (login, shell) in [
            ("/bin/bash", Shell::Sh),
            ("/usr/bin/zsh", Shell::Sh),
            ("/bin/sh", Shell::Sh),
            ("/bin/dash", Shell::Sh),
            ("/bin/ksh", Shell::Sh),
            ("/usr/bin/fish", Shell::Fish),
            ("/usr/local/bin/pwsh", Shell::Pwsh),
            ("powershell", Shell::Pwsh),
        ] {
            assert_eq!(known(None, Some(login)), Chosen::Known(shell), "{login}");
        }
        assert_eq!(known(None, None), Chosen::Known(Shell::Sh));
        assert_eq!(known(None, Some("")), Chosen::Known(Shell::Sh));
        assert_eq!(
            known(None, Some("/bin/tcsh")),
            Chosen::Fallback("/bin/tcsh".into())
        );
        // The flag wins over SHELL, whatever SHELL holds.
        assert_eq!(
            known(Some("fish"), Some("/bin/tcsh")),
            Chosen::Known(Shell::Fish)
        );
        assert_eq!(
            known(Some("sh"), Some("/usr/bin/fish")),
            Chosen::Known(Shell::Sh)
        );
        assert!(Shell::choose(Some("tcsh"), None).is_err());
    }

    #[test]
    fn values_are_quoted_for_each_shell() {
        let v = "/tmp/it's a \\dir";
        assert_eq!(Shell::Sh.export("X", v), r"export X='/tmp/it'\''s a \dir'");
        assert_eq!(
            Shell::Fish.export("X", v),
            r"set -gx X '/tmp/it\'s a \\dir';"
        );
        assert_eq!(Shell::Pwsh.export("X", v), r"$Env:X = '/tmp/it''s a \dir'");
    }

    /// A model of how PowerShell reads a single-quoted string (about_Quoting_Rules): it ends at
    /// the first quote character (`'` or U+2018..U+201B) not followed by another one; a doubled
    /// one stands for itself. Returns the value and what follows the string.
    fn pwsh_unquote(text: &str) -> (String, String) {
        let mut chars = text.chars().peekable();
        assert!(chars
            .next()
            .is_some_and(|c| PWSH_SINGLE_QUOTES.contains(&c)));
        let mut value = String::new();
        while let Some(c) = chars.next() {
            if PWSH_SINGLE_QUOTES.contains(&c) {
                match chars.peek() {
                    Some(n) if PWSH_SINGLE_QUOTES.contains(n) => {
                        value.push(c);
                        chars.next();
                    }
                    _ => return (value, chars.collect()),
                }
            } else {
                value.push(c);
            }
        }
        panic!("unterminated PowerShell string: {text}");
    }

    /// A model of fish's single quotes: `\\` and `\'` are escapes, any other backslash is
    /// literal, the first unescaped `'` ends the string.
    fn fish_unquote(text: &str) -> (String, String) {
        let mut chars = text.chars().peekable();
        assert_eq!(chars.next(), Some('\''));
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' if matches!(chars.peek(), Some('\\' | '\'')) => {
                    value.push(chars.next().unwrap_or_default());
                }
                '\'' => return (value, chars.collect()),
                c => value.push(c),
            }
        }
        panic!("unterminated fish string: {text}");
    }

    const HOSTILE: &[&str] = &[
        "plain",
        "",
        "it's",
        "'; Remove-Item -Recurse ~ ; '",
        "\u{2019}; Invoke-WebRequest evil \u{2018}",
        "\u{201a}\u{201b}''",
        "$(touch x) `whoami` $Env:HOME ${x}",
        "\\'; rm -rf ~; echo \\",
        "a\\",
        "\\",
        "\"double\" & | ; < > * ? [ ] { } # ~",
    ];

    #[test]
    fn powershell_quoting_gives_back_the_exact_value_and_nothing_after_it() {
        for v in HOSTILE {
            let (value, rest) = pwsh_unquote(&Shell::Pwsh.quote(v));
            assert_eq!(&value, v);
            assert_eq!(rest, "", "{v:?} escaped its quotes");
        }
    }

    #[test]
    fn fish_quoting_gives_back_the_exact_value_and_nothing_after_it() {
        for v in HOSTILE {
            let (value, rest) = fish_unquote(&Shell::Fish.quote(v));
            assert_eq!(&value, v);
            assert_eq!(rest, "", "{v:?} escaped its quotes");
        }
    }

    #[test]
    fn the_hint_quotes_for_its_own_shell_and_names_the_client_dir() {
        let dir = "/home/o'brien/.docker";
        assert_eq!(
            hint_command(Shell::Sh, "tcp://h:2376", dir),
            r"dockpki env --host tcp://h:2376 --client-dir '/home/o'\''brien/.docker' --shell sh"
        );
        assert_eq!(
            hint_command(Shell::Fish, "tcp://h:2376", dir),
            r"dockpki env --host 'tcp://h:2376' --client-dir '/home/o\'brien/.docker' --shell fish"
        );
        assert_eq!(
            hint_command(Shell::Pwsh, "tcp://h:2376", dir),
            r"dockpki env --host 'tcp://h:2376' --client-dir '/home/o''brien/.docker' --shell powershell"
        );
    }

    #[test]
    fn hosts_with_control_or_bidi_characters_are_refused_naming_the_flag() {
        for bad in [
            "tcp://a\ntouch x\n:2376",
            "tcp://a:2376\n",
            "tcp://a\r:2376",
            "tcp://a\x1b]0;t\x07:2376",
            "tcp://a\u{202e}:2376",
        ] {
            let e = parse_host("--host", bad).unwrap_err().to_string();
            assert!(
                e.starts_with("--host: ") && e.contains("control or bidirectional"),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn hosts_are_daemon_addresses_over_tcp_in_any_unambiguous_form() {
        for ok in [
            "tcp://h:2376",
            "tcp://192.0.2.1:2376",
            "tcp://[::1]:2376",
            "h:2376",
            "tcp://h",
            "[::1]",
        ] {
            assert!(parse_host("--host", ok).is_ok(), "{ok}");
        }
        for bad in [
            "unix:///var/run/docker.sock",
            "ssh://h:22",
            "tcp://:2376",
            "tcp://h:2376/x",
            "::1",
        ] {
            assert!(parse_host("--host", bad).is_err(), "{bad}");
        }
    }
}
