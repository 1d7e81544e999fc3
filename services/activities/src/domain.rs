//! Rules of the activities domain that need no storage: reading times, making
//! one-line summaries, what a call's events mean for its entry, and what a call
//! logged by hand may say.

use ringside_identity::{Invalid, required_body};
use ringside_proto::activities::v1 as pb;
use ringside_proto::{millis_from_timestamp, timestamp_from_millis};
use ringside_storage::new_id;

use crate::model::{Detail, Entry, EntryKind, Links};
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

/// How far back a call may be logged, and how long it may have lasted.
const LOG_BACK_MS: i64 = 366 * 24 * 3600 * 1000;
const MAX_CALL_MS: i64 = 24 * 3600 * 1000;

/// The entry of a call `author` logged by hand at `now`, or why it cannot be.
pub fn logged_call(
    author: &str,
    links: Links,
    call: &pb::LogCallRequest,
    now: i64,
) -> Result<Entry, Invalid> {
    let direction = match pb::Direction::try_from(call.direction) {
        Ok(d @ (pb::Direction::Inbound | pb::Direction::Outbound)) => d,
        _ => return Err(Invalid::new("direction", "inbound or outbound")),
    };
    let outcome = match pb::CallOutcome::try_from(call.outcome) {
        Ok(pb::CallOutcome::Unspecified) | Err(_) => {
            return Err(Invalid::new("outcome", "say how the call went"));
        }
        Ok(outcome) => outcome,
    };
    let answered = outcome == pb::CallOutcome::Answered;
    let duration = match answered {
        true => call.duration_ms,
        false => 0,
    };
    if !(0..=MAX_CALL_MS).contains(&duration) {
        return Err(Invalid::new("duration_ms", "from 0 to a day"));
    }
    // No start given: the call has just ended.
    let started = (call.started_at.as_ref()).map_or(now - duration, millis_from_timestamp);
    if started + duration > now + 60_000 || started < now - LOG_BACK_MS {
        return Err(Invalid::new(
            "started_at",
            "the call must have ended by now, and started within a year",
        ));
    }
    let note = match call.note.trim().is_empty() {
        true => String::new(),
        false => required_body("note", &call.note)?,
    };
    let detail = pb::CallDetail {
        direction: direction as i32,
        outcome: outcome as i32,
        rang_at: Some(timestamp_from_millis(started)),
        answered_at: answered.then(|| timestamp_from_millis(started)),
        ended_at: Some(timestamp_from_millis(started + duration)),
        duration_ms: duration,
        agent_id: author.to_owned(),
        ..Default::default()
    };
    Ok(Entry {
        id: new_id(),
        kind: EntryKind::Call,
        occurred_at: started,
        links,
        conversation_id: None,
        summary: summary_line(&note),
        body: note,
        author_id: author.to_owned(),
        detail: Some(Detail::Call(detail)),
        external_key: None,
        created_at: now,
        updated_at: now,
        deleted_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logged(f: impl FnOnce(&mut pb::LogCallRequest)) -> Result<Entry, Invalid> {
        let mut call = pb::LogCallRequest {
            direction: pb::Direction::Outbound as i32,
            outcome: pb::CallOutcome::Answered as i32,
            started_at: Some(timestamp_from_millis(1_000_000_000)),
            duration_ms: 125_000,
            note: "Agreed on Friday\nwith the director".into(),
            ..Default::default()
        };
        f(&mut call);
        let links = Links {
            contact_id: Some("c1".into()),
            ..Default::default()
        };
        logged_call("olga", links, &call, 1_000_600_000)
    }

    #[test]
    fn a_call_logged_by_hand_is_a_finished_call_by_its_author() {
        let entry = logged(|_| {}).expect("a call");
        assert_eq!(entry.kind, EntryKind::Call);
        assert_eq!(
            (entry.author_id.as_str(), entry.occurred_at),
            ("olga", 1_000_000_000)
        );
        assert_eq!(entry.body, "Agreed on Friday\nwith the director");
        let Some(Detail::Call(call)) = entry.detail else {
            panic!("a call's detail");
        };
        assert_eq!(call.duration_ms, 125_000);
        assert_eq!(call.ended_at, Some(timestamp_from_millis(1_000_125_000)));
        let missed = logged(|c| c.outcome = pb::CallOutcome::Missed as i32).expect("missed");
        let Some(Detail::Call(call)) = missed.detail else {
            panic!("a call's detail");
        };
        assert_eq!(call.duration_ms, 0, "a missed call lasted nothing");
    }

    #[test]
    fn a_logged_call_needs_a_direction_an_outcome_and_a_plausible_time() {
        let field = |r: Result<Entry, Invalid>| r.expect_err("refused").field;
        assert_eq!(field(logged(|c| c.direction = 0)), "direction");
        assert_eq!(field(logged(|c| c.direction = 3)), "direction");
        assert_eq!(field(logged(|c| c.outcome = 0)), "outcome");
        let future = Some(timestamp_from_millis(2_000_000_000));
        assert_eq!(field(logged(|c| c.started_at = future)), "started_at");
        let ends_later = Some(timestamp_from_millis(1_000_560_000));
        assert_eq!(
            field(logged(|c| c.started_at = ends_later)),
            "started_at",
            "ends after now"
        );
        let just_ended = logged(|c| c.started_at = None).expect("a call just ended");
        assert_eq!(just_ended.occurred_at, 1_000_600_000 - 125_000);
        assert_eq!(field(logged(|c| c.duration_ms = -1)), "duration_ms");
        assert!(
            logged(|c| c.note = " ".into()).is_ok(),
            "the note is optional"
        );
    }

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
