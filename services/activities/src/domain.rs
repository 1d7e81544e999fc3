//! Rules of the activities domain that need no storage: reading times, making
//! one-line summaries, and what a call's events mean for its entry.

use ringside_identity::Invalid;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Longest one-line summary, in characters.
pub const SUMMARY_CHARS: usize = 120;

/// Unix milliseconds from an RFC 3339 time (`2026-11-23T10:00:00+03:00`).
pub fn parse_time(field: &str, value: &str) -> Result<i64, Invalid> {
    let value = value.trim();
    let at = OffsetDateTime::parse(value, &Rfc3339).map_err(|_| {
        Invalid::new(
            field,
            "not an RFC 3339 time (e.g. 2026-11-23T10:00:00+03:00)",
        )
    })?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| Invalid::new(field, "out of range"))
}

/// An optional RFC 3339 time: empty is `None`.
pub fn parse_optional_time(field: &str, value: &str) -> Result<Option<i64>, Invalid> {
    match value.trim() {
        "" => Ok(None),
        v => parse_time(field, v).map(Some),
    }
}

/// The first non-empty line of `text`, cut to [`SUMMARY_CHARS`] with an ellipsis.
pub fn summary_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if line.chars().count() <= SUMMARY_CHARS {
        return line.to_owned();
    }
    let mut cut: String = line.chars().take(SUMMARY_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// `2m05s`, `45s`, `1h02m`.
pub fn human_duration(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_with_their_offset() {
        let utc = parse_time("due_at", "2026-11-23T07:00:00Z").unwrap();
        let msk = parse_time("due_at", "2026-11-23T10:00:00+03:00").unwrap();
        assert_eq!(utc, msk);
        assert_eq!(utc, 1_795_417_200_000);
        assert_eq!(parse_optional_time("remind_at", " ").unwrap(), None);
    }

    #[test]
    fn malformed_times_name_their_field() {
        for bad in [
            "tomorrow",
            "2026-11-23",
            "2026-13-01T00:00:00Z",
            "1795417200",
        ] {
            let err = parse_time("due_at", bad).unwrap_err();
            assert_eq!(err.field, "due_at", "{bad}");
        }
    }

    #[test]
    fn summaries_take_the_first_line_and_cut_long_ones() {
        assert_eq!(summary_line("\n  Called back\nsecond"), "Called back");
        let long = "я".repeat(200);
        let cut = summary_line(&long);
        assert_eq!(cut.chars().count(), SUMMARY_CHARS);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn durations_read_like_a_clock() {
        assert_eq!(human_duration(45_000), "45s");
        assert_eq!(human_duration(125_000), "2m05s");
        assert_eq!(human_duration(3_720_000), "1h02m");
    }
}
