//! `dockpki sans`: prints the names and addresses clients may dial this host by.

use super::Context;
use crate::error::{CliResult, EXIT_OK};
use crate::host_names::suggest;
use crate::output::print_document;

/// Prints the suggestions.
pub fn run(ctx: &Context) -> CliResult<i32> {
    let sans = suggest()?;
    if ctx.out.json {
        print_document(
            "sans",
            serde_json::json!({ "sans": sans.iter().map(ToString::to_string).collect::<Vec<_>>() }),
        );
    } else {
        for san in &sans {
            println!("{san}");
        }
    }
    Ok(EXIT_OK)
}
