//! The period of a report: whole local days of a branch, and the instants they span.
use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// `from..=to`, local days of the branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("--from {from} is after --to {to}")]
    Reversed { from: NaiveDate, to: NaiveDate },
    #[error("{day} is in the future (today is {today} at the branch)")]
    Future { day: NaiveDate, today: NaiveDate },
    #[error(
        "--from {from} is more than {IIKO_KEEPS_DAYS} days ago: iiko guarantees deliveries only that long, \
         so older orders would be reported missing (the oldest day is {oldest})"
    )]
    TooOld { from: NaiveDate, oldest: NaiveDate },
}

/// How many days back iiko guarantees `deliveries/by_delivery_date_*` answers (REFERENCE 8.2).
pub const IIKO_KEEPS_DAYS: u64 = 7;

impl Period {
    /// What the caller asked, defaulting to yesterday and today; refused when reversed,
    /// reaching past `today`, or older than iiko keeps deliveries (an empty answer for such a
    /// day would be read as every order missing).
    pub fn asked(
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        today: NaiveDate,
    ) -> Result<Period, PeriodError> {
        let to = to.unwrap_or(today);
        let from = from.unwrap_or_else(|| previous(to.min(today)));
        if let Some(day) = [from, to].into_iter().find(|day| *day > today) {
            return Err(PeriodError::Future { day, today });
        }
        if from > to {
            return Err(PeriodError::Reversed { from, to });
        }
        let oldest = today
            .checked_sub_days(Days::new(IIKO_KEEPS_DAYS))
            .unwrap_or(today);
        if from < oldest {
            return Err(PeriodError::TooOld { from, oldest });
        }
        Ok(Period { from, to })
    }

    pub fn day(day: NaiveDate) -> Period {
        Period { from: day, to: day }
    }

    pub fn days(&self) -> Vec<NaiveDate> {
        self.from
            .iter_days()
            .take_while(|d| *d <= self.to)
            .collect()
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        self.from <= day && day <= self.to
    }

    /// The first instant of the period at the branch.
    pub fn start(&self, tz: Tz) -> DateTime<Utc> {
        midnight(self.from, tz)
    }

    /// The first instant after the period at the branch.
    pub fn end(&self, tz: Tz) -> DateTime<Utc> {
        midnight(next(self.to), tz)
    }
}

pub fn next(day: NaiveDate) -> NaiveDate {
    day.checked_add_days(Days::new(1)).unwrap_or(day)
}

pub fn previous(day: NaiveDate) -> NaiveDate {
    day.checked_sub_days(Days::new(1)).unwrap_or(day)
}

/// The branch's local day of an instant.
pub fn local_day(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// Where `day` begins at the branch (a day that begins in a DST gap begins when the gap ends).
pub fn midnight(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let local = day.and_time(NaiveTime::MIN);
    match tz.from_local_datetime(&local).earliest() {
        Some(at) => at.with_timezone(&Utc),
        None => tz
            .from_local_datetime(&(local + chrono::Duration::hours(1)))
            .earliest()
            .map_or_else(|| local.and_utc(), |at| at.with_timezone(&Utc)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn the_default_period_is_yesterday_and_today() {
        let period = Period::asked(None, None, d("2026-12-05")).unwrap();
        assert_eq!(
            period,
            Period {
                from: d("2026-12-04"),
                to: d("2026-12-05")
            }
        );
        assert_eq!(period.days(), [d("2026-12-04"), d("2026-12-05")]);
    }

    #[test]
    fn a_reversed_period_or_a_future_day_is_refused() {
        let today = d("2026-12-05");
        assert_eq!(
            Period::asked(Some(d("2026-12-03")), Some(d("2026-12-02")), today),
            Err(PeriodError::Reversed {
                from: d("2026-12-03"),
                to: d("2026-12-02")
            })
        );
        assert_eq!(
            Period::asked(None, Some(d("2026-12-06")), today),
            Err(PeriodError::Future {
                day: d("2026-12-06"),
                today
            })
        );
        assert_eq!(
            Period::asked(Some(d("2026-12-06")), None, today),
            Err(PeriodError::Future {
                day: d("2026-12-06"),
                today
            })
        );
        assert!(Period::asked(Some(d("2026-12-05")), None, today).is_ok());
    }

    #[test]
    fn a_period_older_than_iiko_keeps_deliveries_is_refused() {
        let today = d("2026-12-05");
        assert!(Period::asked(Some(d("2026-11-28")), None, today).is_ok());
        assert_eq!(
            Period::asked(Some(d("2026-11-27")), None, today),
            Err(PeriodError::TooOld {
                from: d("2026-11-27"),
                oldest: d("2026-11-28")
            })
        );
    }

    #[test]
    fn the_period_spans_local_midnights() {
        let tz: Tz = "Europe/Moscow".parse().unwrap();
        let period = Period::day(d("2026-12-04"));
        assert_eq!(period.start(tz).to_rfc3339(), "2026-12-03T21:00:00+00:00");
        assert_eq!(period.end(tz).to_rfc3339(), "2026-12-04T21:00:00+00:00");
        // 23:50 in Moscow is 20:50 UTC: still that local day.
        let late = "2026-12-04T20:50:00Z".parse().unwrap();
        assert_eq!(local_day(late, tz), d("2026-12-04"));
    }
}
