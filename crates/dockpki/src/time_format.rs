//! How every dockpki output shows a time. A module of its own, below the error type and the
//! inspection that both use it: errors import types and helpers only, never each other's jobs.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Formats a time as RFC 3339 in UTC to the second, the way every dockpki output shows times.
pub fn format_time(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}
