//! What an [`Authenticator`](crate::Authenticator) counts about its validations: accepted by
//! full validation, rejected by reason, unavailable (no keys). Plain relaxed atomics, written
//! only off the cache-hit path (a hit is counted by the verified-token cache itself), so that
//! counting costs the hot path nothing and a metrics system reads them when it scrapes
//! ([`Stats`](crate::Stats), and with the `metrics` feature
//! [`Authenticator::publish_metrics`](crate::Authenticator::publish_metrics)).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::claims::Claims;
use crate::error::{AuthError, InvalidToken};

/// Every rejection reason's code, in [`reason_index`] order.
pub(crate) const REASONS: [&str; 24] = [
    "malformed_authorization",
    "too_large",
    "malformed_structure",
    "malformed_header",
    "malformed_claims",
    "unsupported_algorithm",
    "critical_header",
    "graph_token",
    "missing_key_id",
    "unknown_signing_key",
    "bad_signature",
    "missing_claim",
    "invalid_claim",
    "expired",
    "not_yet_valid",
    "audience_mismatch",
    "unsupported_version",
    "issuer_mismatch",
    "tenant_mismatch",
    "tenant_not_allowed",
    "key_issuer_mismatch",
    "no_scope_or_role",
    "id_token",
    "missing_token",
];

fn reason_index(reason: &InvalidToken) -> usize {
    match reason {
        InvalidToken::MalformedAuthorization => 0,
        InvalidToken::TooLarge => 1,
        InvalidToken::MalformedStructure => 2,
        InvalidToken::MalformedHeader => 3,
        InvalidToken::MalformedClaims => 4,
        InvalidToken::UnsupportedAlgorithm => 5,
        InvalidToken::CriticalHeader => 6,
        InvalidToken::GraphToken => 7,
        InvalidToken::MissingKeyId => 8,
        InvalidToken::UnknownSigningKey => 9,
        InvalidToken::BadSignature => 10,
        InvalidToken::MissingClaim(_) => 11,
        InvalidToken::InvalidClaim(_) => 12,
        InvalidToken::Expired => 13,
        InvalidToken::NotYetValid => 14,
        InvalidToken::AudienceMismatch => 15,
        InvalidToken::UnsupportedVersion => 16,
        InvalidToken::IssuerMismatch => 17,
        InvalidToken::TenantMismatch => 18,
        InvalidToken::TenantNotAllowed => 19,
        InvalidToken::KeyIssuerMismatch => 20,
        InvalidToken::NoScopeOrRole => 21,
        InvalidToken::IdToken => 22,
    }
}

const MISSING_TOKEN: usize = 23;

/// The validation counters of one authenticator.
#[derive(Default)]
pub(crate) struct Counters {
    accepted: AtomicU64,
    unavailable: AtomicU64,
    /// Cache hits that were not served (expired, or their key no longer current).
    stale_hits: AtomicU64,
    rejected: [AtomicU64; REASONS.len()],
}

impl Counters {
    /// Counts the outcome of a full validation (or of a request the layer answered itself).
    pub(crate) fn count(&self, result: &Result<Claims, AuthError>) {
        let counter = match result {
            Ok(_) => &self.accepted,
            Err(AuthError::InvalidToken(reason)) => &self.rejected[reason_index(reason)],
            Err(AuthError::MissingToken) => &self.rejected[MISSING_TOKEN],
            Err(AuthError::KeysUnavailable { .. }) => &self.unavailable,
            // Not an outcome of validation (a requirement of a route, after it).
            Err(AuthError::InsufficientScope { .. }) => return,
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
        REASONS
            .iter()
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
        let reasons = [
            InvalidToken::MalformedAuthorization,
            InvalidToken::TooLarge,
            InvalidToken::MalformedStructure,
            InvalidToken::MalformedHeader,
            InvalidToken::MalformedClaims,
            InvalidToken::UnsupportedAlgorithm,
            InvalidToken::CriticalHeader,
            InvalidToken::GraphToken,
            InvalidToken::MissingKeyId,
            InvalidToken::UnknownSigningKey,
            InvalidToken::BadSignature,
            InvalidToken::MissingClaim("aud"),
            InvalidToken::InvalidClaim("exp"),
            InvalidToken::Expired,
            InvalidToken::NotYetValid,
            InvalidToken::AudienceMismatch,
            InvalidToken::UnsupportedVersion,
            InvalidToken::IssuerMismatch,
            InvalidToken::TenantMismatch,
            InvalidToken::TenantNotAllowed,
            InvalidToken::KeyIssuerMismatch,
            InvalidToken::NoScopeOrRole,
            InvalidToken::IdToken,
        ];
        let counters = Counters::default();
        for (i, reason) in reasons.iter().enumerate() {
            assert_eq!(REASONS[reason_index(reason)], reason.code());
            for _ in 0..=i {
                counters.count(&Err((*reason).into()));
            }
        }
        counters.count(&Err(AuthError::MissingToken));
        let rejected = counters.rejected();
        for (i, reason) in reasons.iter().enumerate() {
            assert_eq!(
                rejected[reason_index(reason)],
                (reason.code(), i as u64 + 1)
            );
        }
        assert_eq!(rejected[MISSING_TOKEN], ("missing_token", 1));
        assert_eq!(counters.accepted(), 0);
    }
}
