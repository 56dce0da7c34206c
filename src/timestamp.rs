//! RFC 3339 UTC timestamps, the form the API docs use, without a date-time crate: the cache
//! stamps entries with one. Times before 1970 (a broken clock) are written as the epoch.

use std::time::{SystemTime, UNIX_EPOCH};

/// `2023-11-14T22:13:20Z`.
pub fn rfc3339(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let (year, month, day) = civil_from_days(secs / 86_400);
    let time = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        time / 3600,
        time % 3600 / 60,
        time % 60
    )
}

/// Howard Hinnant's `civil_from_days` (https://howardhinnant.github.io/date_algorithms.html),
/// restricted to days on or after 1970-01-01 so unsigned arithmetic suffices.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a date on or after it (Hinnant's `days_from_civil`, the inverse of
/// [`civil_from_days`]); `None` before 1970.
pub fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    let y = if month <= 2 {
        year.checked_sub(1)?
    } else {
        year
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

/// A duration as doksi prints it, in the units people write: `30m`, `1m 30s`, `0s`.
pub fn duration(d: std::time::Duration) -> String {
    // Past a second, tenths are all a reader wants (`5s`, not `4s 992ms 330us 311ns`).
    let shown = match d.as_millis() {
        ms @ 1000.. => std::time::Duration::from_millis(((ms + 50) / 100 * 100) as u64),
        ms => std::time::Duration::from_millis(ms as u64),
    };
    humantime::format_duration(shown).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_show_as_people_write_them() {
        use std::time::Duration;
        assert_eq!(duration(Duration::from_micros(4_992_330)), "5s");
        assert_eq!(duration(Duration::from_millis(1500)), "1s 500ms");
        assert_eq!(duration(Duration::from_millis(250)), "250ms");
        assert_eq!(duration(Duration::ZERO), "0s");
        assert_eq!(duration(Duration::from_secs(5400)), "1h 30m");
    }
    use std::time::Duration;

    #[test]
    fn days_from_civil_inverts_civil_from_days() {
        for days in [0, 59, 60, 365, 10_957, 20_557, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), Some(days), "{y}-{m}-{d}");
        }
        assert_eq!(days_from_civil(1969, 12, 31), None);
    }

    #[test]
    fn dates_match_date_u() {
        let at = |secs| rfc3339(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(951_868_800), "2000-03-01T00:00:00Z");
        assert_eq!(at(1_709_164_800), "2024-02-29T00:00:00Z");
        assert_eq!(at(4_102_444_799), "2099-12-31T23:59:59Z");
        assert_eq!(at(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00Z"
        );
    }
}
