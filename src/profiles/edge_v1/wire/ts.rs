//! RFC 3339 timestamps in UTC with a `Z` suffix (B-TS-FMT).

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Whether `s` is an RFC 3339 timestamp ending in an upper-case `Z` (any number of fraction
/// digits, or none), e.g. `2020-01-21T21:01:48.123Z`. The date and time are separated by
/// `T` (or `t`, which RFC 3339's grammar allows), never by the space the `time` crate takes.
pub fn is_rfc3339_utc_z(s: &str) -> bool {
    s.ends_with('Z')
        && matches!(s.as_bytes().get(10), Some(b'T' | b't'))
        && OffsetDateTime::parse(s, &Rfc3339).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_z_with_any_fraction() {
        for ok in [
            "2020-01-21T21:01:48Z",
            "2020-01-21T21:01:48.1Z",
            "2020-01-21T21:01:48.123Z",
            "2020-01-21T21:01:48.123456789Z",
            "2020-02-29T00:00:00Z",
        ] {
            assert!(is_rfc3339_utc_z(ok), "{ok}");
        }
    }

    #[test]
    fn rejects_offsets_and_malformed() {
        for bad in [
            "2020-01-21T21:01:48+00:00",
            "2020-01-21T22:01:48+01:00",
            "2020-01-21T21:01:48z",
            "2020-01-21 21:01:48Z",
            "2020-01-21T21:01Z",
            "2020-01-21Z",
            "2020-13-01T00:00:00Z",
            "2021-02-29T00:00:00Z",
            "2020-01-21T21:01:48.Z",
            "1579640508",
            "",
            "Z",
        ] {
            assert!(!is_rfc3339_utc_z(bad), "{bad}");
        }
    }
}
