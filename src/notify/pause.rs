//! Growing pauses after consecutive failures: a worker whose store cannot record, or an alert
//! Telegram does not take, waits longer each time instead of retrying every tick.
use std::time::Duration;

use chrono::{DateTime, Utc};

const FIRST: Duration = Duration::from_secs(1);
const LONGEST: Duration = Duration::from_secs(60);

/// The pause after the `failures`-th failure in a row: 1 s, 2 s, 4 s ... at most 60 s.
pub fn pause_after(failures: u32) -> Duration {
    crate::backoff::doubling(FIRST, LONGEST, failures)
}

/// Consecutive failures and the time before which nothing is tried again.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    failures: u32,
    until: Option<DateTime<Utc>>,
}

impl Pause {
    /// Whether the pause (if any) is over at `now`.
    pub fn ready(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|until| until <= now)
    }

    /// Counts a failure at `now`; returns the pause that starts.
    pub fn failed(&mut self, now: DateTime<Utc>) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let pause = pause_after(self.failures);
        self.until = Some(now + chrono::Duration::from_std(pause).unwrap_or_default());
        pause
    }

    pub fn succeeded(&mut self) {
        *self = Pause::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_from_one_second_up_to_a_minute() {
        let pauses: Vec<u64> = (1..=8).map(|n| pause_after(n).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(pause_after(u32::MAX), LONGEST);
    }

    #[test]
    fn a_pause_holds_until_it_runs_out_and_a_success_ends_it() {
        let now = Utc::now();
        let mut pause = Pause::default();
        assert!(pause.ready(now));
        pause.failed(now);
        pause.failed(now);
        assert!(!pause.ready(now + chrono::Duration::milliseconds(1999)));
        assert!(pause.ready(now + chrono::Duration::seconds(2)));
        pause.succeeded();
        assert!(pause.ready(now));
    }
}
