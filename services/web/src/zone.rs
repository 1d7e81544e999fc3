//! The person's time zone as the server reads it: the IANA zone staff keeps for
//! them when this machine's tz database knows it (jiff; the zones offered in
//! settings are bundled into the binary too), else the fixed offset their
//! browser last said. It answers "what is the offset now", "when does this date
//! begin" and "which moment is this local time" — each at that very date's own
//! offset, so summer time and a clock change in between hold.

/// A person's zone: an IANA zone, or a fixed offset.
#[derive(Debug, Clone)]
pub struct Zone {
    tz: Option<jiff::tz::TimeZone>,
    /// The browser's offset, when there is no zone.
    fixed: time::UtcOffset,
}

impl Zone {
    /// The zone named `name` (IANA; empty: none), else `fixed`.
    pub fn of(name: &str, fixed: time::UtcOffset) -> Zone {
        let tz = match name {
            "" => None,
            name => jiff::tz::TimeZone::get(name).ok(),
        };
        Zone { tz, fixed }
    }

    /// A fixed offset and no zone.
    pub fn fixed(offset: time::UtcOffset) -> Zone {
        Zone {
            tz: None,
            fixed: offset,
        }
    }

    /// Whether the person's own zone is known here (the page then shows times in it).
    pub fn is_named(&self) -> bool {
        self.tz.is_some()
    }

    /// The offset from UTC now.
    pub fn now(&self) -> time::UtcOffset {
        let now = time::OffsetDateTime::now_utc();
        self.offset_at(now)
    }

    /// The offset from UTC at the moment `at`.
    pub fn offset_at(&self, at: time::OffsetDateTime) -> time::UtcOffset {
        let offset = (self.tz.as_ref()).and_then(|tz| {
            let ts = jiff::Timestamp::from_second(at.unix_timestamp()).ok()?;
            utc_offset(tz.to_offset(ts))
        });
        offset.unwrap_or(self.fixed)
    }

    /// The moment local time `at` is, here: in a zone, at that date's own offset
    /// (a time a clock change skips is read as the clock shows it after, one it
    /// repeats as the first); else at `given` (the browser's offset that date, as
    /// its page said), else the fixed one.
    pub fn moment(
        &self,
        at: time::PrimitiveDateTime,
        given: Option<time::UtcOffset>,
    ) -> Option<time::OffsetDateTime> {
        let Some(tz) = &self.tz else {
            return Some(at.assume_offset(given.unwrap_or(self.fixed)));
        };
        let civil = jiff::civil::DateTime::new(
            i16::try_from(at.year()).ok()?,
            i8::try_from(u8::from(at.month())).ok()?,
            i8::try_from(at.day()).ok()?,
            i8::try_from(at.hour()).ok()?,
            i8::try_from(at.minute()).ok()?,
            i8::try_from(at.second()).ok()?,
            0,
        )
        .ok()?;
        let zoned = civil.to_zoned_datetime(tz.clone()).ok()?;
        let offset = utc_offset(zoned.offset())?;
        time::OffsetDateTime::from_unix_timestamp(zoned.timestamp().as_second())
            .ok()
            .map(|m| m.to_offset(offset))
    }

    /// The moment date `d` begins, here.
    pub fn midnight(&self, d: time::Date) -> time::OffsetDateTime {
        (self.moment(d.midnight(), None)).unwrap_or_else(|| d.midnight().assume_offset(self.fixed))
    }
}

/// jiff's offset as `time`'s.
fn utc_offset(offset: jiff::tz::Offset) -> Option<time::UtcOffset> {
    time::UtcOffset::from_whole_seconds(offset.seconds()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn berlin_reads_winter_and_summer_at_their_own_offsets() {
        let berlin = Zone::of("Europe/Berlin", time::UtcOffset::UTC);
        assert!(berlin.is_named());
        let winter = berlin
            .moment(datetime!(2027-01-15 10:30), None)
            .expect("a moment");
        assert_eq!(winter, datetime!(2027-01-15 09:30 UTC));
        let summer = berlin
            .moment(datetime!(2027-07-15 10:30), None)
            .expect("a moment");
        assert_eq!(summer, datetime!(2027-07-15 08:30 UTC));
        // 02:30 on the night clocks go forward is skipped: read as 03:30 CEST.
        let gap = berlin
            .moment(datetime!(2027-03-28 02:30), None)
            .expect("a moment");
        assert_eq!(gap, datetime!(2027-03-28 01:30 UTC));
        assert_eq!(
            berlin.midnight(date!(2027 - 07 - 01)),
            datetime!(2027-06-30 22:00 UTC)
        );
        assert_eq!(
            berlin.midnight(date!(2027 - 01 - 01)),
            datetime!(2026-12-31 23:00 UTC)
        );
    }

    #[test]
    fn without_a_zone_the_browsers_offset_is_read() {
        let new_york = time::UtcOffset::from_hms(-5, 0, 0).expect("an offset");
        let summer = time::UtcOffset::from_hms(-4, 0, 0).expect("an offset");
        let unknown = Zone::of("Mars/Olympus", new_york);
        assert!(!unknown.is_named());
        let at = datetime!(2027-07-15 10:30);
        assert_eq!(
            unknown.moment(at, Some(summer)),
            Some(at.assume_offset(summer))
        );
        assert_eq!(unknown.moment(at, None), Some(at.assume_offset(new_york)));
        assert_eq!(Zone::fixed(new_york).now(), new_york);
    }
}
