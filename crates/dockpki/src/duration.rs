//! The one duration grammar of every duration dockpki takes: a whole number and a unit, `30d`,
//! `12h`, `5s`, `1y`.
//!
//! | unit | means |
//! |---|---|
//! | `s` | seconds |
//! | `m` | minutes (never months) |
//! | `h` | hours |
//! | `d` | days |
//! | `w` | weeks (7 days) |
//! | `y` | years of 365 days |
//!
//! A bare number is refused (is `30` seconds, minutes or days?), and so are fractions, signs,
//! spaces between number and unit, and `mo`/`ms`/`min`-style units. What each value may be —
//! zero, how small a unit, how long at most — is the caller's [`Rule`]: a validity in seconds
//! is a mistake, a probe timeout in years too.

use std::fmt;

use time::Duration;

/// A unit of the duration grammar, smallest first (so that `Unit::Hours > Unit::Minutes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Unit {
    /// `s`
    Seconds,
    /// `m`: minutes, never months.
    Minutes,
    /// `h`
    Hours,
    /// `d`
    Days,
    /// `w`: 7 days.
    Weeks,
    /// `y`: 365 days.
    Years,
}

impl Unit {
    /// Every unit, smallest first.
    pub const ALL: [Unit; 6] = [
        Unit::Seconds,
        Unit::Minutes,
        Unit::Hours,
        Unit::Days,
        Unit::Weeks,
        Unit::Years,
    ];

    /// The letter written after the number.
    pub fn letter(self) -> &'static str {
        match self {
            Unit::Seconds => "s",
            Unit::Minutes => "m",
            Unit::Hours => "h",
            Unit::Days => "d",
            Unit::Weeks => "w",
            Unit::Years => "y",
        }
    }

    /// How many seconds one of it lasts.
    pub fn seconds(self) -> u64 {
        match self {
            Unit::Seconds => 1,
            Unit::Minutes => 60,
            Unit::Hours => 3600,
            Unit::Days => 86_400,
            Unit::Weeks => 7 * 86_400,
            Unit::Years => 365 * 86_400,
        }
    }

    fn from_letter(s: &str) -> Option<Unit> {
        Unit::ALL.into_iter().find(|u| u.letter() == s)
    }

    /// The units from `self` up, as written in messages: `h, d, w or y`.
    pub fn and_larger(self) -> String {
        let letters: Vec<&str> = Unit::ALL
            .into_iter()
            .filter(|u| *u >= self)
            .map(Unit::letter)
            .collect();
        match letters.split_last() {
            Some((last, [])) => (*last).to_string(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.letter())
    }
}

/// Whether a value of zero (`0s`, `0d`) means something for a flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Zero {
    /// Zero is a meaningful value (a renewal window of nothing ahead, a lock not waited for).
    Allowed,
    /// Zero is refused (a certificate valid for no time, a probe that cannot start).
    Refused,
}

/// What one flag accepts of the grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The smallest unit that makes sense; smaller ones are refused naming it.
    pub smallest: Unit,
    /// Whether zero is a value.
    pub zero: Zero,
    /// The longest value, and how it is written in messages (`100y`); `None`: no limit beyond
    /// what a `time::Duration` holds.
    pub longest: Option<(Duration, &'static str)>,
}

/// Why a value does not fit the grammar or the [`Rule`]. Its `Display` is the reason alone; the
/// caller names the value and the flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DurationError {
    /// Nothing given.
    Empty,
    /// A number with no unit (`30`).
    MissingUnit,
    /// A unit or a word with no number (`d`, `soon`).
    MissingNumber,
    /// A leading `-`.
    Negative,
    /// `mo`, `month(s)`: there is no month unit, `m` is minutes.
    Months,
    /// A unit outside the grammar (`ms`, `min`, `days`, `1.5d`'s `.5d`).
    UnknownUnit(String),
    /// A unit below the rule's smallest (`--validity 1m`).
    UnitTooSmall {
        /// The unit given.
        given: Unit,
        /// The smallest the flag takes.
        smallest: Unit,
    },
    /// Zero where zero means nothing.
    Zero,
    /// Longer than the rule's longest, or than any duration.
    TooLong(Option<&'static str>),
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationError::Empty => f.write_str("it is empty"),
            DurationError::MissingUnit => f.write_str("a bare number has no unit"),
            DurationError::MissingNumber => f.write_str("missing number"),
            DurationError::Negative => f.write_str("it cannot be negative"),
            DurationError::Months => {
                f.write_str("there is no month unit (m is minutes; a month is about 30d)")
            }
            DurationError::UnknownUnit(u) => write!(f, "unknown unit {u:?}"),
            DurationError::UnitTooSmall { given, smallest } => write!(
                f,
                "{given} is too small a unit here; the smallest is {smallest}"
            ),
            DurationError::Zero => f.write_str("it must be longer than zero"),
            DurationError::TooLong(Some(max)) => write!(f, "longer than the maximum of {max}"),
            DurationError::TooLong(None) => f.write_str("too long"),
        }
    }
}

impl std::error::Error for DurationError {}

/// Splits `s` (trimmed) into its number and [`Unit`], the grammar without any rule.
///
/// # Errors
///
/// A [`DurationError`] naming what is missing or wrong.
pub fn split(s: &str) -> Result<(u64, Unit), DurationError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(DurationError::Empty);
    }
    if t.starts_with('-') {
        return Err(DurationError::Negative);
    }
    let Some(at) = t.find(|c: char| !c.is_ascii_digit()) else {
        return Err(DurationError::MissingUnit);
    };
    let (number, unit) = t.split_at(at);
    if number.is_empty() {
        return Err(DurationError::MissingNumber);
    }
    let unit = match Unit::from_letter(unit) {
        Some(u) => u,
        None if unit.to_ascii_lowercase().starts_with("mo") => return Err(DurationError::Months),
        None => return Err(DurationError::UnknownUnit(unit.to_string())),
    };
    let n: u64 = number.parse().map_err(|_| DurationError::TooLong(None))?;
    Ok((n, unit))
}

/// Parses `s` in the grammar and checks it against `rule`.
///
/// # Errors
///
/// A [`DurationError`]: not the grammar, a unit below `rule.smallest`, zero where refused,
/// longer than `rule.longest`.
pub fn parse(s: &str, rule: Rule) -> Result<Duration, DurationError> {
    let too_long = DurationError::TooLong(rule.longest.map(|(_, text)| text));
    let (n, unit) = split(s).map_err(|e| match e {
        DurationError::TooLong(_) => too_long.clone(),
        e => e,
    })?;
    if unit < rule.smallest {
        return Err(DurationError::UnitTooSmall {
            given: unit,
            smallest: rule.smallest,
        });
    }
    if n == 0 {
        return match rule.zero {
            Zero::Allowed => Ok(Duration::ZERO),
            Zero::Refused => Err(DurationError::Zero),
        };
    }
    let secs = n
        .checked_mul(unit.seconds())
        .and_then(|s| i64::try_from(s).ok())
        .ok_or_else(|| too_long.clone())?;
    let d = Duration::seconds(secs);
    match rule.longest {
        Some((max, _)) if d > max => Err(too_long),
        _ => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANY: Rule = Rule {
        smallest: Unit::Seconds,
        zero: Zero::Allowed,
        longest: None,
    };

    #[test]
    fn every_unit_parses_and_m_is_minutes() {
        assert_eq!(parse("5s", ANY), Ok(Duration::seconds(5)));
        assert_eq!(parse("1m", ANY), Ok(Duration::minutes(1)));
        assert_eq!(parse("12h", ANY), Ok(Duration::hours(12)));
        assert_eq!(parse("30d", ANY), Ok(Duration::days(30)));
        assert_eq!(parse("2w", ANY), Ok(Duration::days(14)));
        assert_eq!(parse(" 1y ", ANY), Ok(Duration::days(365)));
        assert_eq!(parse("0d", ANY), Ok(Duration::ZERO));
    }

    #[test]
    fn bare_numbers_months_fractions_and_signs_are_refused_with_their_reason() {
        for (s, e) in [
            ("30", DurationError::MissingUnit),
            ("", DurationError::Empty),
            ("d", DurationError::MissingNumber),
            ("soon", DurationError::MissingNumber),
            ("-1d", DurationError::Negative),
            ("1mo", DurationError::Months),
            ("3Months", DurationError::Months),
            ("500ms", DurationError::UnknownUnit("ms".into())),
            ("1.5d", DurationError::UnknownUnit(".5d".into())),
            ("90 d", DurationError::UnknownUnit(" d".into())),
            ("99999999999999999999999d", DurationError::TooLong(None)),
        ] {
            assert_eq!(parse(s, ANY), Err(e), "{s}");
        }
    }

    #[test]
    fn a_rule_refuses_small_units_zero_and_the_too_long() {
        let rule = Rule {
            smallest: Unit::Hours,
            zero: Zero::Refused,
            longest: Some((Duration::days(2), "2d")),
        };
        assert_eq!(
            parse("90m", rule),
            Err(DurationError::UnitTooSmall {
                given: Unit::Minutes,
                smallest: Unit::Hours
            })
        );
        assert_eq!(parse("0h", rule), Err(DurationError::Zero));
        assert_eq!(parse("3d", rule), Err(DurationError::TooLong(Some("2d"))));
        assert_eq!(parse("48h", rule), Ok(Duration::days(2)));
        assert_eq!(Unit::Hours.and_larger(), "h, d, w or y");
        assert_eq!(Unit::Years.and_larger(), "y");
    }
}
