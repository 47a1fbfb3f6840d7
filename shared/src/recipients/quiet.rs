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
    let ends = zone
        .from_local_datetime(&day.and_hms_opt(ENDS, 0, 0)?)
        .earliest()?
        .with_timezone(&Utc);
    (ends - now).to_std().ok()
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
}
