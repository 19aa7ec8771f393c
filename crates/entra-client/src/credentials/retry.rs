//! The backoff between retries shared by every credential: exponential with jitter, or the
//! server's `Retry-After`, floored and capped.

use std::time::Duration;

/// How many times to retry, and how long to wait in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Retries after the first attempt.
    pub(crate) max_retries: u32,
    /// The first retry waits about this long; each further retry twice as long.
    pub(crate) base_delay: Duration,
    /// No retry waits longer than this, whatever `Retry-After` asks for.
    pub(crate) max_delay: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `retry + 1`: the server's `Retry-After` when it sent one,
    /// but never less than half the base delay (a `Retry-After: 0` must not make a loop that
    /// retries for a time window spin without pause), else the exponential backoff with
    /// jitter; capped at the maximum delay either way.
    pub(crate) fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(after) => after.max(self.base_delay / 2).min(self.max_delay),
            None => self.backoff(retry),
        }
    }

    /// Exponential backoff with jitter: half of `base * 2^retry` fixed, half random; capped.
    fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32.checked_shl(retry).unwrap_or(u32::MAX))
            .min(self.max_delay);
        let half = exp / 2;
        let mut random = [0u8; 4];
        // On the (unexpected) failure of the system RNG, fall back to no jitter.
        let _ = aws_lc_rs::rand::fill(&mut random);
        let fraction = f64::from(u32::from_le_bytes(random)) / f64::from(u32::MAX);
        half + half.mul_f64(fraction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_floored_at_half_the_base_delay_and_capped() {
        let p = RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(400),
            max_delay: Duration::from_secs(10),
        };
        assert_eq!(p.delay(0, Some(Duration::ZERO)), Duration::from_millis(200));
        assert_eq!(
            p.delay(5, Some(Duration::from_millis(1))),
            Duration::from_millis(200)
        );
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(60))),
            Duration::from_secs(10)
        );
        let d = p.delay(1, None);
        assert!(
            d >= Duration::from_millis(400) && d <= Duration::from_millis(800),
            "{d:?}"
        );
    }
}
