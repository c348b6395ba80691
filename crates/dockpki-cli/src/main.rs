//! `dockpki`: provision and check the mutual-TLS certificates that protect a remote Docker
//! daemon. A thin layer over the `dockpki` library: argument parsing, files, and output.
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod error;
mod expiry;
mod fsio;
mod inventory;
mod journal;
mod layout;
mod output;
mod paths;
mod reissue;
mod secrets;
mod state;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    let json = cli.json;
    let code = match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            if json {
                output::print_json(&serde_json::json!({ "error": e.to_string() }));
            }
            eprintln!("error: {e}");
            error::EXIT_FAILURE
        }
    };
    std::process::exit(code);
}
