//! Per-integration-key rate limits on the Events API paths, answered as PagerDuty does: 429 on v2,
//! 403 on v1. Counted in memory, per instance; off unless configured.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

/// One limiter per distinct quota, keyed by integration key.
#[derive(Default)]
pub struct RateLimits {
    limiters: Mutex<HashMap<NonZeroU32, std::sync::Arc<DefaultKeyedRateLimiter<String>>>>,
}

impl RateLimits {
    /// Counts one event for `key` against `per_minute`; `Err(wait)` when over the limit.
    pub fn check(&self, key: &str, per_minute: NonZeroU32) -> Result<(), Duration> {
        let limiter = {
            let mut limiters = self.limiters.lock().expect("the rate limiter lock is never poisoned");
            limiters
                .entry(per_minute)
                .or_insert_with(|| std::sync::Arc::new(RateLimiter::keyed(Quota::per_minute(per_minute))))
                .clone()
        };
        limiter.check_key(&key.to_owned()).map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_has_its_own_budget() {
        let limits = RateLimits::default();
        let two = NonZeroU32::new(2).unwrap();
        assert!(limits.check("a", two).is_ok());
        assert!(limits.check("a", two).is_ok());
        let wait = limits.check("a", two).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(30), "{wait:?}");
        assert!(limits.check("b", two).is_ok(), "another key is not limited");
    }
}
