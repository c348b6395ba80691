//! `dockpki`: provision and check the mutual-TLS certificates that protect a remote Docker
//! daemon. A thin shell over the `dockpki` and `dockpki-provision` libraries: argument parsing,
//! the terminal, sudo and XDG path discovery, and output.
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod error;
mod host_names;
mod invocation;
mod json;
mod output;
mod paths;
mod progress;
mod secrets;

use clap::Parser;

fn main() {
    exit_quietly_on_closed_stdout();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => usage_error(e),
    };
    let json = cli.json;
    let invocation = invocation::Invocation::of(&cli);
    let result = commands::run(cli, invocation.clone());
    // Whatever the engine was doing has ended: no spinner may draw over what follows.
    progress::stop();
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            let message = e.render(&invocation);
            if json {
                output::print_error_json(&message, e.exit_code());
            }
            // One line whatever the message holds: paths and values in it may come from files
            // and certificates, and must not forge a second line or drive the terminal.
            eprintln!("error: {}", output::escape(&message));
            e.exit_code()
        }
    };
    std::process::exit(code);
}

/// A command line clap refused: its message on stderr and exit code 2, and with `--json` the
/// error document on stdout too, so that a script reading stdout learns why. Help and
/// `--version` are printed as clap prints them.
fn usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        e.exit()
    }
    if json_requested(std::env::args_os().skip(1)) {
        // clap's message is several lines (usage, a tip); the first says what is wrong.
        let rendered = e.render().to_string();
        let first = rendered.lines().next().unwrap_or_default();
        let message = first.strip_prefix("error: ").unwrap_or(first);
        output::print_error_json(message, error::EXIT_USAGE);
    }
    let _ = e.print();
    std::process::exit(error::EXIT_USAGE)
}

/// Whether `--json` is among the options of a command line clap could not parse (before any
/// `--`, after which words are values).
fn json_requested(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    args.take_while(|a| a != "--").any(|a| a == "--json")
}

/// `println!` panics when stdout is a pipe whose reader has gone (`dockpki status | head -1`).
/// Like other command line tools, stop quietly then instead of printing a panic: the reader
/// asked for no more output. Any other panic keeps the default report.
fn exit_quietly_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(error::EXIT_OK);
        }
        default(info);
    }));
}
