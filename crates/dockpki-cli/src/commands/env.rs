//! `dockpki env`: the environment that points the docker CLI at a daemon with TLS, printed as
//! commands for the user's shell, like `docker-machine env`.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde_json::{Map, Value};

use super::Context;
use crate::cli::EnvArgs;
use crate::error::{CliError, CliResult, EXIT_OK};
use crate::output::{print_json, shell_quote};
use crate::paths::{absolute, ClientUser};

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

    /// One assignment of an exported variable.
    fn export(self, name: &str, value: &str) -> String {
        match self {
            Shell::Sh => format!("export {name}={}", shell_quote(value)),
            // In fish single quotes only `\'` and `\\` are special.
            Shell::Fish => format!(
                "set -gx {name} '{}';",
                value.replace('\\', "\\\\").replace('\'', "\\'")
            ),
            // In Pwsh single-quoted strings only `'` is special, doubled.
            Shell::Pwsh => format!("$Env:{name} = '{}'", value.replace('\'', "''")),
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

/// Checks `tcp://HOST:PORT` and returns it unchanged.
fn check_host(host: &str) -> CliResult<&str> {
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

/// Refuses a client directory without the three files the docker CLI reads.
fn check_client_dir(dir: &Path) -> CliResult<()> {
    for name in ["ca.pem", "cert.pem", "key.pem"] {
        if !dir.join(name).is_file() {
            return Err(CliError::new(format!(
                "{} has no {name}; the docker CLI needs ca.pem, cert.pem and key.pem there (without cert.pem/key.pem it silently sends no certificate and dockerd refuses it): issue one with `dockpki issue client --name NAME --out {}` or pass --client-dir",
                dir.display(),
                dir.display()
            )));
        }
    }
    Ok(())
}

/// Prints the environment.
pub fn run(ctx: &Context, args: &EnvArgs) -> CliResult<i32> {
    let shell: Shell = args.shell.parse()?;
    let host = check_host(&args.host)?;
    let dir: PathBuf = absolute(&match &args.client_dir {
        Some(d) => d.clone(),
        None => ClientUser::detect().docker_dir()?,
    })?;
    check_client_dir(&dir)?;
    let vars = [
        ("DOCKER_HOST", host.to_string()),
        // Any non-empty value means TLS with verification of the daemon; "1" says so plainly.
        ("DOCKER_TLS_VERIFY", "1".to_string()),
        ("DOCKER_CERT_PATH", dir.display().to_string()),
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
    let mut command = format!("dockpki env --host {}", shell_quote(host));
    if args.client_dir.is_some() {
        command.push_str(&format!(
            " --client-dir {}",
            shell_quote(&dir.display().to_string())
        ));
    }
    if shell != Shell::Sh {
        command.push_str(&format!(" --shell {}", shell.name()));
    }
    println!("# Run this command to configure your shell:");
    println!("# {}", shell.eval_hint(&command));
    Ok(EXIT_OK)
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
