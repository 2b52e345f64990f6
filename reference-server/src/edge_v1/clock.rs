//! Message timestamps (B-TS-FMT): RFC 3339 in UTC with a `Z` suffix and milliseconds.

use time::macros::format_description;
use time::OffsetDateTime;

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_millis() -> i64 {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

/// Formats `millis` since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(crate) fn format_millis(millis: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    // Formatting a valid date with a fixed description cannot fail; keep a safe fallback anyway.
    at.format(&format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_utc_with_millis() {
        assert_eq!(format_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_millis(1_579_640_508_123), "2020-01-21T21:01:48.123Z");
    }

    #[test]
    fn now_is_after_2020() {
        assert!(now_millis() > 1_579_640_508_123);
    }
}
