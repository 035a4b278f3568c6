//! When to try a failed delivery again: exponential backoff with full jitter, honouring `Retry-After`.

use std::time::Duration;

/// The first retry's ceiling.
pub const BASE: Duration = Duration::from_secs(2);
/// No wait is longer than this.
pub const CAP: Duration = Duration::from_secs(15 * 60);

/// The wait before attempt `attempt + 1`, given a `jitter` in `[0, 1)`.
///
/// Full jitter (a uniform draw up to the exponential ceiling) spreads retries of many dispatches
/// that failed together; a receiver's `Retry-After` is a floor, since it knows its own load.
pub fn delay(attempt: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
    let ceiling = BASE.saturating_mul(1u32 << attempt.saturating_sub(1).min(20)).min(CAP);
    let jittered = ceiling.mul_f64(jitter.clamp(0.0, 1.0)).max(Duration::from_millis(250));
    match retry_after {
        Some(after) => jittered.max(after.min(CAP)),
        None => jittered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_up_to_the_cap() {
        assert_eq!(delay(1, None, 0.999_999), Duration::from_secs(2).mul_f64(0.999_999));
        assert_eq!(delay(3, None, 0.5), Duration::from_secs(4));
        assert_eq!(delay(30, None, 0.999_999), CAP.mul_f64(0.999_999));
    }

    #[test]
    fn never_retries_at_once() {
        assert_eq!(delay(1, None, 0.0), Duration::from_millis(250));
    }

    #[test]
    fn retry_after_is_a_floor() {
        assert_eq!(delay(1, Some(Duration::from_secs(30)), 0.5), Duration::from_secs(30));
        assert_eq!(delay(12, Some(Duration::from_secs(1)), 0.5), CAP / 2);
    }
}
