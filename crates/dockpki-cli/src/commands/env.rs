//! `dockpki env`: the environment that points the docker CLI at a daemon with TLS, printed as
//! commands for the user's shell, like `docker-machine env`.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde_json::{Map, Value};

use super::Context;
use crate::cli::EnvArgs;
use dockpki_provision::layout::Layout;

use crate::error::{with_layout_flags, CliError, CliResult, LayoutFlags, EXIT_OK};
use crate::output::{print_json, printable_path, refuse_unprintable, shell_quote};
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
        match s {
            "sh" | "bash" | "zsh" => Ok(Shell::Sh),
            "fish" => Ok(Shell::Fish),
            "powershell" | "pwsh" => Ok(Shell::Pwsh),
            _ => Err(CliError::new(format!(
                "unknown shell {s:?}; give sh, fish or powershell"
            ))),
        }
    }
}

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

/// Checks `tcp://HOST:PORT` and returns it unchanged.
fn check_host(host: &str) -> CliResult<&str> {
    // First, so that the message is about the character and not some consequence of it.
    refuse_unprintable("--host", host)?;
    let Some(rest) = host.strip_prefix("tcp://") else {
        return Err(CliError::new(format!(
            "--host {host:?} must be tcp://HOST:PORT (TLS is only used over TCP), e.g. tcp://docker.example.com:2376"
        )));
    };
    let port_ok = rest
        .rsplit_once(':')
        .filter(|(h, _)| !h.is_empty() && !h.ends_with(':'))
        .and_then(|(_, p)| p.parse::<u16>().ok())
        .is_some_and(|p| p != 0);
    if !port_ok || rest.contains('/') {
        return Err(CliError::new(format!(
            "--host {host:?} needs a port, e.g. tcp://docker.example.com:2376 (IPv6: tcp://[2001:db8::1]:2376)"
        )));
    }
    Ok(host)
}

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
                "{} has no {name}; the docker CLI needs ca.pem, cert.pem and key.pem there (without cert.pem/key.pem it silently sends no certificate and dockerd refuses it): issue one with `dockpki issue client --name NAME --out {}` or pass --client-dir",
                dir.display(),
                crate::output::shell_quote(&dir.display().to_string())
            )));
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
    let shell: Shell = args.shell.parse()?;
    let host = check_host(&args.host)?;
    let dir: PathBuf = absolute(&match &args.client_dir {
        Some(d) => d.clone(),
        None => ctx.user.clone().docker_dir()?,
    })?;
    let dir_text = printable_path("the client directory", &dir)?.to_string();
    check_client_dir(&dir)?;
    let vars = [
        ("DOCKER_HOST", host.to_string()),
        // Any non-empty value means TLS with verification of the daemon; "1" says so plainly.
        ("DOCKER_TLS_VERIFY", "1".to_string()),
        ("DOCKER_CERT_PATH", dir_text.clone()),
    ];
    if ctx.out.json {
        let map: Map<String, Value> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
            .collect();
        print_json(&Value::Object(map));
        return Ok(EXIT_OK);
    }
    for (k, v) in &vars {
        println!("{}", shell.export(k, v));
    }
    println!("# Run this command to configure your shell:");
    println!(
        "# {}",
        shell.eval_hint(&hint_command(shell, host, &dir_text))
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
    if shell != Shell::Sh {
        command.push_str(&format!(" --shell {}", shell.name()));
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

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
            r"dockpki env --host tcp://h:2376 --client-dir '/home/o'\''brien/.docker'"
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
    fn hosts_with_control_or_bidi_characters_are_refused() {
        for bad in [
            "tcp://a\ntouch x\n:2376",
            "tcp://a:2376\n",
            "tcp://a\r:2376",
            "tcp://a\x1b]0;t\x07:2376",
            "tcp://a\u{202e}:2376",
        ] {
            let e = check_host(bad).unwrap_err().to_string();
            assert!(e.contains("control or bidirectional"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn hosts_need_tcp_and_a_port() {
        for ok in ["tcp://h:2376", "tcp://192.0.2.1:2376", "tcp://[::1]:2376"] {
            assert!(check_host(ok).is_ok(), "{ok}");
        }
        for bad in [
            "h:2376",
            "tcp://h",
            "tcp://[::1]",
            "unix:///var/run/docker.sock",
            "ssh://h:22",
            "tcp://:2376",
            "tcp://h:2376/x",
        ] {
            assert!(check_host(bad).is_err(), "{bad}");
        }
    }
}
