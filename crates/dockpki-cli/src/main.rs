//! `dockpki`: provision and check the mutual-TLS certificates that protect a remote Docker
//! daemon. A thin shell over the `dockpki` and `dockpki-provision` libraries: argument parsing,
//! the terminal, sudo and XDG path discovery, and output.
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod error;
mod host_names;
mod output;
mod paths;
mod secrets;

use clap::Parser;

fn main() {
    exit_quietly_on_closed_stdout();
    let cli = cli::Cli::parse();
    let json = cli.json;
    let code = match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            if json {
                output::print_json(&serde_json::json!({ "error": e.to_string() }));
            }
            // One line whatever the message holds: paths and values in it may come from files
            // and certificates, and must not forge a second line or drive the terminal.
            eprintln!("error: {}", output::escape(&e.to_string()));
            error::EXIT_FAILURE
        }
    };
    std::process::exit(code);
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
