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
        let secs = t.rem_euclid(ingot_types::calendar::SECONDS_PER_DAY);
        let (year, month, day) = ingot_types::calendar::civil_date(t);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fat_time_of_an_epoch() {
        let f = Fixed::new(1_700_000_000);
        assert_eq!((f.date.year, f.date.month, f.date.day), (2023, 11, 14));
        assert_eq!((f.time.hour, f.time.min, f.time.sec), (22, 13, 20));
        assert_eq!(Fixed::new(0).date.year, 1980);
    }
}
