//! Quiet hours: from 21:00 to 08:00 in the recipient's time zone, mail
//! that is not urgent waits (held by the broker, never by a worker).

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use std::time::Duration;

const STARTS: u32 = 21;
const ENDS: u32 = 8;

/// Whether `name` is a time zone quiet hours can be kept in.
pub fn valid_time_zone(name: &str) -> bool {
    name.parse::<chrono_tz::Tz>().is_ok()
}

/// `t` as `HH:MM` on the clock of `time_zone` (UTC for an unknown one).
pub fn clock(time_zone: &str, t: DateTime<Utc>) -> String {
    let zone: chrono_tz::Tz = time_zone.parse().unwrap_or(chrono_tz::UTC);
    t.with_timezone(&zone).format("%H:%M").to_string()
}

/// How long mail must still wait at `now` in `time_zone`: `None` outside
/// quiet hours (or for an unknown zone, which ingest never lets through).
pub fn wait(time_zone: &str, now: DateTime<Utc>) -> Option<Duration> {
    let zone: chrono_tz::Tz = time_zone.parse().ok()?;
    let local = now.with_timezone(&zone);
    let time = local.time();
    let quiet = time >= NaiveTime::from_hms_opt(STARTS, 0, 0)?
        || time < NaiveTime::from_hms_opt(ENDS, 0, 0)?;
    if !quiet {
        return None;
    }
    let mut day = local.date_naive();
    if time >= NaiveTime::from_hms_opt(STARTS, 0, 0)? {
        day = day.succ_opt()?;
    }
    let ends = first_existing(&zone, day.and_hms_opt(ENDS, 0, 0)?)?;
    (ends - now).to_std().ok()
}

/// `local` in `zone`, or (when a clock change skips it) the first quarter
/// hour after it that exists. A held mail asks [`wait`] again when it
/// comes back, so a gap never lets it out inside quiet hours.
fn first_existing(zone: &chrono_tz::Tz, local: chrono::NaiveDateTime) -> Option<DateTime<Utc>> {
    // A zone has skipped a whole day (Samoa, 2011): look two days ahead.
    (0..=2 * 24 * 4).find_map(|quarter| {
        let candidate = local + chrono::Duration::minutes(15 * quarter);
        zone.from_local_datetime(&candidate)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("a time")
    }

    #[test]
    fn non_urgent_mail_waits_for_eight_in_the_recipients_zone() {
        // 22:30 in Berlin (winter, UTC+1): 9.5 hours to 08:00.
        assert_eq!(
            wait("Europe/Berlin", at("2026-12-06T21:30:00Z")),
            Some(Duration::from_secs(9 * 3600 + 1800))
        );
        // 06:00 in Berlin: two hours.
        assert_eq!(
            wait("Europe/Berlin", at("2026-12-07T05:00:00Z")),
            Some(Duration::from_secs(2 * 3600))
        );
        // 14:00 in Berlin, 08:00 in New York: no wait.
        assert_eq!(wait("Europe/Berlin", at("2026-12-07T13:00:00Z")), None);
        assert_eq!(wait("America/New_York", at("2026-12-07T13:00:00Z")), None);
        assert!(valid_time_zone("Asia/Tokyo") && !valid_time_zone("Mars/Olympus"));
    }

    #[test]
    fn a_clock_change_that_skips_eight_ends_quiet_hours_after_the_gap_not_before() {
        // Samoa skipped 30 December 2011 (UTC-10 until 23:59 on the 29th,
        // then UTC+14). At 22:00 local on the 29th there is no 08:00 on the
        // 30th: the mail comes back at the first local time after it,
        // 00:00 on the 31st (10:00 UTC), and then waits for 08:00.
        assert_eq!(
            wait("Pacific/Apia", at("2011-12-30T08:00:00Z")),
            Some(Duration::from_secs(2 * 3600))
        );
        assert_eq!(
            wait("Pacific/Apia", at("2011-12-30T10:00:00Z")),
            Some(Duration::from_secs(8 * 3600))
        );
    }
}
