//! Rules of the `tls` group (see [`super::super::rules`]).

use crate::audit::rules::Context;
use crate::audit::Outcome;

/// Runs the rules of this group.
pub fn run(_cx: &Context<'_>) -> Vec<Outcome> {
    Vec::new()
}
