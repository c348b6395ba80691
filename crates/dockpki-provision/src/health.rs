//! How healthy a checked thing is, in the three degrees monitoring tells apart: nothing to do,
//! a change to make before something breaks (a renewal due, a daemon to restart), and something
//! broken now (expired, missing, not what was issued). The checks (`status`, a layout check, a
//! probe) each return one; the CLI maps them to its exit codes.

use serde::Serialize;

/// The health of what a check looked at. Ordered from good to broken, so that the health of
/// several things is their [`Ord::max`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    /// Nothing needs attention.
    Good,
    /// Nothing is broken yet, but a change is due: a certificate or CA inside its renewal
    /// window, a daemon still serving a certificate its layout no longer holds.
    ChangesPending,
    /// Something is broken now: expired, missing, replaced, issued by another CA, refused.
    Broken,
}

impl Health {
    /// The worst of all `healths`; [`Health::Good`] for none.
    pub fn worst(healths: impl IntoIterator<Item = Health>) -> Health {
        healths.into_iter().max().unwrap_or(Health::Good)
    }
}

#[cfg(test)]
mod tests {
    use super::Health;

    #[test]
    fn the_worst_health_wins_and_nothing_checked_is_good() {
        use Health::*;
        assert_eq!(Health::worst([]), Good);
        assert_eq!(Health::worst([Good, ChangesPending, Good]), ChangesPending);
        assert_eq!(Health::worst([Broken, ChangesPending, Good]), Broken);
        assert_eq!(Health::worst([ChangesPending, Broken]), Broken);
    }
}
