//! The proleptic Gregorian calendar in UTC, for the dates ingot writes (an AMI name's
//! `{date}`, FAT timestamps) and reads (`deprecate_at`, an AMI's creation date): Howard
//! Hinnant's "chrono-Compatible Low-Level Date Algorithms" (days_from_civil,
//! civil_from_days), exact for every `i64` day count ingot meets.
//!
//! ```
//! use ingot_types::calendar::{civil_date, days_from_civil};
//! assert_eq!(days_from_civil(2000, 3, 1), 11_017);
//! assert_eq!(civil_date(11_017 * 86_400), (2000, 3, 1));
//! assert_eq!(civil_date(-1), (1969, 12, 31));
//! ```

/// Seconds in a day (UTC has no leap seconds in Unix time).
pub const SECONDS_PER_DAY: i64 = 86_400;

/// The UTC calendar date (year, month 1–12, day 1–31) of a Unix time.
pub fn civil_date(t: i64) -> (i64, u8, u8) {
    let z = t.div_euclid(SECONDS_PER_DAY) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m as u8, d as u8)
}

/// The days since 1970-01-01 of a date (the inverse of [`civil_date`], in days).
pub fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let y = year - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_across_eras_and_leap_days() {
        for days in [-719_468, -1, 0, 59, 11_016, 11_017, 19_782, 49_710, 2_932_896] {
            let (y, m, d) = civil_date(days * SECONDS_PER_DAY + 3600);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_date(951_782_400), (2000, 2, 29));
        assert_eq!(civil_date(4_354_819_198), (2107, 12, 31));
    }
}
