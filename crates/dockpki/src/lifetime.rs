//! How long a certificate is valid: `12h`, `90d`, `2w`, `1y`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::duration::{Rule, Unit, Zero};
use crate::error::{Error, Result};

/// How far a certificate's notBefore is set in the past, so that a client or daemon whose clock is
/// a little behind does not see a brand-new certificate as "not yet valid".
pub const CLOCK_SKEW_ALLOWANCE: Duration = Duration::minutes(5);

/// The longest lifetime accepted. Longer ones are typos (`1000y`), and X.509 dates end in 9999.
pub const MAX_LIFETIME: Lifetime = Lifetime {
    hours: 100 * 365 * 24,
};

/// What a validity accepts of the [duration grammar](crate::duration): hours and larger units
/// (`12h`, `90d`, `2w`, `1y`), never zero, at most [`MAX_LIFETIME`].
pub const VALIDITY_RULE: Rule = Rule {
    smallest: Unit::Hours,
    zero: Zero::Refused,
    longest: Some((Duration::days(100 * 365), "100y")),
};

/// A positive validity period, parsed from `<number><unit>` where the unit is `h` (hours),
/// `d` (days), `w` (weeks) or `y` (365 days): the [duration grammar](crate::duration) from
/// hours up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Lifetime {
    hours: u32,
}

impl Lifetime {
    /// A lifetime of whole days; `None` for zero or more than [`MAX_LIFETIME`].
    pub fn days(days: u32) -> Option<Lifetime> {
        Self::from_hours(u64::from(days) * 24)
    }

    /// A lifetime of whole hours; `None` for zero or more than [`MAX_LIFETIME`].
    pub fn hours(hours: u32) -> Option<Lifetime> {
        Self::from_hours(u64::from(hours))
    }

    /// The lifetime a certificate valid from `not_before` to `not_after` was issued with:
    /// the span less [`CLOCK_SKEW_ALLOWANCE`], in whole hours.
    pub fn of_validity(not_before: OffsetDateTime, not_after: OffsetDateTime) -> Option<Lifetime> {
        let hours = (not_after - not_before - CLOCK_SKEW_ALLOWANCE).whole_hours();
        Self::from_hours(u64::try_from(hours).ok()?)
    }

    fn from_hours(hours: u64) -> Option<Lifetime> {
        let hours = u32::try_from(hours).ok()?;
        (hours > 0 && hours <= MAX_LIFETIME.hours).then_some(Lifetime { hours })
    }

    /// The period as a `time::Duration`.
    pub fn duration(self) -> Duration {
        Duration::hours(i64::from(self.hours))
    }

    /// The validity window of a certificate issued at `now`: notBefore is backdated by
    /// [`CLOCK_SKEW_ALLOWANCE`], notAfter is `now + self`.
    pub fn window(self, now: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime) {
        (now - CLOCK_SKEW_ALLOWANCE, now + self.duration())
    }
}

impl FromStr for Lifetime {
    type Err = Error;

    /// The [duration grammar](crate::duration) with hours as the smallest unit (a validity in
    /// minutes or seconds is a mistake), zero refused, at most [`MAX_LIFETIME`].
    fn from_str(s: &str) -> Result<Self> {
        let d = crate::duration::parse(s, VALIDITY_RULE).map_err(|e| Error::InvalidLifetime {
            input: s.to_string(),
            reason: e.to_string(),
        })?;
        u64::try_from(d.whole_hours())
            .ok()
            .and_then(Lifetime::from_hours)
            .ok_or_else(|| Error::InvalidLifetime {
                input: s.to_string(),
                reason: "longer than the maximum of 100y".to_string(),
            })
    }
}

impl fmt::Display for Lifetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = self.hours;
        if h.is_multiple_of(365 * 24) {
            write!(f, "{}y", h / (365 * 24))
        } else if h.is_multiple_of(7 * 24) {
            write!(f, "{}w", h / (7 * 24))
        } else if h.is_multiple_of(24) {
            write!(f, "{}d", h / 24)
        } else {
            write!(f, "{h}h")
        }
    }
}

impl TryFrom<String> for Lifetime {
    type Error = Error;

    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Lifetime> for String {
    fn from(l: Lifetime) -> String {
        l.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse_to_hours() {
        assert_eq!(
            "12h".parse::<Lifetime>().unwrap().duration(),
            Duration::hours(12)
        );
        assert_eq!(
            "90d".parse::<Lifetime>().unwrap().duration(),
            Duration::days(90)
        );
        assert_eq!(
            "2w".parse::<Lifetime>().unwrap().duration(),
            Duration::days(14)
        );
        assert_eq!(
            "1y".parse::<Lifetime>().unwrap().duration(),
            Duration::days(365)
        );
        assert_eq!(
            " 10y ".parse::<Lifetime>().unwrap().duration(),
            Duration::days(3650)
        );
    }

    #[test]
    fn zero_negative_huge_and_garbage_are_refused() {
        for bad in [
            "0d",
            "-1d",
            "1000000y",
            "abc",
            "",
            "90",
            "d",
            "1.5d",
            "90 d",
            "5m",
            "1e3d",
            "99999999999999999999999d",
        ] {
            let err = bad.parse::<Lifetime>().expect_err(bad).to_string();
            assert!(err.contains("invalid validity"), "{bad}: {err}");
        }
        assert!("101y".parse::<Lifetime>().is_err());
        assert!("100y".parse::<Lifetime>().is_ok());
    }

    #[test]
    fn display_round_trips() {
        for s in ["12h", "90d", "2w", "1y", "36h", "10y"] {
            let l: Lifetime = s.parse().unwrap();
            assert_eq!(l.to_string().parse::<Lifetime>().unwrap(), l);
        }
        assert_eq!("14d".parse::<Lifetime>().unwrap().to_string(), "2w");
    }

    #[test]
    fn window_is_backdated_for_clock_skew() {
        let now = OffsetDateTime::now_utc();
        let (nb, na) = Lifetime::days(1).unwrap().window(now);
        assert_eq!(now - nb, CLOCK_SKEW_ALLOWANCE);
        assert_eq!(na - now, Duration::days(1));
    }
}
