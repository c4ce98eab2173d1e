//! The one shape of every growing wait in the bridge: the first wait, doubled after each
//! further failure, up to a cap. Pure, so each user adds its own jitter or floor on top.
use std::time::Duration;

/// The wait after the `failures`-th failure in a row (1-based): `first`, `2 × first`,
/// `4 × first` ... at most `longest`.
pub fn doubling(first: Duration, longest: Duration, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    first.saturating_mul(1 << doublings).min(longest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_from_the_first_up_to_the_cap() {
        let second = Duration::from_secs(1);
        let minute = Duration::from_secs(60);
        let waits: Vec<u64> = (0..=8)
            .map(|n| doubling(second, minute, n).as_secs())
            .collect();
        assert_eq!(waits, [1, 1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(doubling(second, minute, u32::MAX), minute);
    }
}
