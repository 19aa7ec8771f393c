//! What an [`Authenticator`](crate::Authenticator) counts about its validations: accepted by
//! full validation, rejected by reason, unavailable (no keys). Plain relaxed atomics, written
//! only off the cache-hit path (a hit is counted by the verified-token cache itself), so that
//! counting costs the hot path nothing and a metrics system reads them when it scrapes
//! ([`Stats`](crate::Stats), and with the `metrics` feature
//! `Authenticator::publish_metrics`).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::claims::Claims;
use crate::error::{AuthError, InvalidToken};

/// The slot of requests refused for carrying no token, after every reason's.
const MISSING_TOKEN: usize = InvalidToken::COUNT;

/// The validation counters of one authenticator.
#[derive(Default)]
pub(crate) struct Counters {
    accepted: AtomicU64,
    unavailable: AtomicU64,
    /// Cache hits that were not served (expired, or their key no longer current).
    stale_hits: AtomicU64,
    rejected: [AtomicU64; InvalidToken::COUNT + 1],
}

impl Counters {
    /// Counts the outcome of a full validation.
    pub(crate) fn count(&self, result: &Result<Claims, AuthError>) {
        match result {
            Ok(_) => {
                self.accepted.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => self.count_error(error),
        }
    }

    /// Counts a refusal: of a validation, or of a request refused before one.
    pub(crate) fn count_error(&self, error: &AuthError) {
        let counter = match error {
            AuthError::InvalidToken(reason) => &self.rejected[reason.index()],
            AuthError::MissingToken => &self.rejected[MISSING_TOKEN],
            AuthError::KeysUnavailable { .. } => &self.unavailable,
            // Not an outcome of validation (a requirement of a route, after it).
            AuthError::InsufficientScope { .. } => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_stale_hit(&self) {
        self.stale_hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    pub(crate) fn unavailable(&self) -> u64 {
        self.unavailable.load(Ordering::Relaxed)
    }

    pub(crate) fn stale_hits(&self) -> u64 {
        self.stale_hits.load(Ordering::Relaxed)
    }

    /// Rejections by reason code (every reason, zeros included, in a fixed order).
    pub(crate) fn rejected(&self) -> Vec<(&'static str, u64)> {
        InvalidToken::CODES
            .iter()
            .chain(["missing_token"].iter())
            .zip(&self.rejected)
            .map(|(code, n)| (*code, n.load(Ordering::Relaxed)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_counted_under_its_own_code() {
        // One reason per code: a single claim name.
        let reasons = InvalidToken::every_reason(&["aud"]);
        let counters = Counters::default();
        for (i, reason) in reasons.iter().enumerate() {
            assert_eq!(InvalidToken::CODES[reason.index()], reason.code());
            for _ in 0..=i {
                counters.count(&Err((*reason).into()));
            }
        }
        counters.count(&Err(AuthError::MissingToken));
        let rejected = counters.rejected();
        for (i, reason) in reasons.iter().enumerate() {
            assert_eq!(rejected[reason.index()], (reason.code(), i as u64 + 1));
        }
        assert_eq!(rejected[MISSING_TOKEN], ("missing_token", 1));
        assert_eq!(counters.accepted(), 0);
    }
}
