//! The one retry policy of the bridge: how long to wait after a failure. Pure, with the
//! randomness passed in, so every wait the workers use is tested here: the dispatcher's
//! read-backs of an unclear order, the fallback deliveries, the site events, the pauses of a
//! worker whose store or Telegram fails, and the supervisor's restarts.
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Waits that double after each failure in a row, from `first` up to `longest`, optionally
/// spread at random around that.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    first: Duration,
    longest: Duration,
    spread: f64,
}

impl Backoff {
    /// `first`, `2 × first`, `4 × first` ... at most `longest`.
    pub const fn doubling(first: Duration, longest: Duration) -> Backoff {
        Backoff {
            first,
            longest,
            spread: 0.0,
        }
    }

    /// Moves each jittered wait by up to `fraction` of it either way, so failures that came
    /// together (a server that is just coming back) are not retried in lockstep.
    pub const fn spread(self, fraction: f64) -> Backoff {
        Backoff {
            spread: fraction,
            ..self
        }
    }

    /// The wait after the `failures`-th failure in a row (1-based; 0 counts as 1).
    pub fn wait(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(16);
        self.first.saturating_mul(1 << doublings).min(self.longest)
    }

    /// [`Backoff::wait`] moved within the spread by `jitter`, a random draw in 0..=1 (0 the
    /// shortest, 1 the longest), never past `longest`.
    pub fn jittered(&self, failures: u32, jitter: f64) -> Duration {
        let factor = 1.0 - self.spread + 2.0 * self.spread * jitter.clamp(0.0, 1.0);
        self.wait(failures).mul_f64(factor).min(self.longest)
    }
}

/// The `failures`-th of the configured `waits` (1-based), then the last one again.
pub fn listed(waits: &[Duration], failures: i64) -> Duration {
    let index = usize::try_from(failures.saturating_sub(1)).unwrap_or(0);
    waits
        .get(index)
        .or(waits.last())
        .copied()
        .unwrap_or_default()
}

/// A worker's pause after consecutive failures of its store, or of an alert Telegram does not
/// take: 1 s, 2 s, 4 s ... at most 60 s, rather than a retry every tick.
pub const PAUSE: Backoff = Backoff::doubling(Duration::from_secs(1), Duration::from_secs(60));

/// Consecutive failures and the time before which nothing is tried again ([`PAUSE`]).
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
        let pause = PAUSE.wait(self.failures);
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

    const SECOND: Duration = Duration::from_secs(1);
    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn waits_double_from_the_first_up_to_the_cap() {
        let backoff = Backoff::doubling(SECOND, MINUTE);
        let waits: Vec<u64> = (0..=8).map(|n| backoff.wait(n).as_secs()).collect();
        assert_eq!(waits, [1, 1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff.wait(u32::MAX), MINUTE);
    }

    #[test]
    fn jitter_moves_a_wait_within_its_spread_and_never_past_the_cap() {
        let backoff =
            Backoff::doubling(Duration::from_secs(5), Duration::from_secs(300)).spread(0.2);
        assert_eq!(backoff.jittered(1, 0.0), Duration::from_secs(4));
        assert_eq!(backoff.jittered(1, 0.5), Duration::from_secs(5));
        assert_eq!(backoff.jittered(1, 1.0), Duration::from_secs(6));
        assert_eq!(backoff.jittered(1, 7.0), Duration::from_secs(6), "clamped");
        assert_eq!(backoff.jittered(20, 1.0), Duration::from_secs(300));
        assert!(backoff.jittered(20, 0.0) < Duration::from_secs(300));
    }

    #[test]
    fn without_a_spread_jitter_changes_nothing() {
        let backoff = Backoff::doubling(SECOND, MINUTE);
        assert_eq!(backoff.jittered(3, 0.0), backoff.wait(3));
        assert_eq!(backoff.jittered(3, 1.0), backoff.wait(3));
    }

    #[test]
    fn listed_waits_are_taken_in_turn_and_the_last_one_repeats() {
        let waits: Vec<Duration> = [5, 30, 120].map(Duration::from_secs).to_vec();
        let taken: Vec<u64> = (1..=5).map(|n| listed(&waits, n).as_secs()).collect();
        assert_eq!(taken, [5, 30, 120, 120, 120]);
        assert_eq!(listed(&waits, 0).as_secs(), 5);
        assert_eq!(listed(&[], 3), Duration::ZERO);
    }

    #[test]
    fn pauses_double_from_one_second_up_to_a_minute() {
        let pauses: Vec<u64> = (1..=8).map(|n| PAUSE.wait(n).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 32, 60, 60]);
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
