//! A fatfs time provider that always answers one instant, in UTC.

/// Always `time` (clamped to FAT's 1980–2107 range).
#[derive(Debug)]
pub(crate) struct Fixed {
    date: fatfs::Date,
    time: fatfs::Time,
}

impl Fixed {
    pub(crate) fn new(epoch: i64) -> Fixed {
        let min = 315_532_800; // 1980-01-01T00:00:00Z
        let max = 4_354_819_198; // 2107-12-31T23:59:58Z
        let t = epoch.clamp(min, max);
        let days = t.div_euclid(86_400);
        let secs = t.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Fixed {
            date: fatfs::Date { year: year as u16, month: month as u16, day: day as u16 },
            time: fatfs::Time {
                hour: (secs / 3600) as u16,
                min: (secs / 60 % 60) as u16,
                sec: (secs % 60) as u16,
                millis: 0,
            },
        }
    }
}

impl fatfs::TimeProvider for Fixed {
    fn get_current_date(&self) -> fatfs::Date {
        self.date
    }

    fn get_current_date_time(&self) -> fatfs::DateTime {
        fatfs::DateTime { date: self.date, time: self.time }
    }
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_675), (2023, 11, 14));
        let f = Fixed::new(1_700_000_000);
        assert_eq!((f.date.year, f.date.month, f.date.day), (2023, 11, 14));
        assert_eq!((f.time.hour, f.time.min, f.time.sec), (22, 13, 20));
        assert_eq!(Fixed::new(0).date.year, 1980);
    }
}
