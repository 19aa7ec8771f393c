//! The retry rules of managed identity endpoints, as Microsoft documents them for IMDS: retry
//! 404, 429 and 5xx with exponential backoff, 410 (IMDS being upgraded) for 70 seconds from the
//! first request, and honour `Retry-After`. App Service endpoints: 429 and 5xx.

use std::future::Future;
use std::time::Duration;

use tracing::warn;

use super::{ManagedIdentityKind, defaults};
use crate::Error;

/// The shared backoff ([`crate::credentials::retry::RetryPolicy`]) and IMDS's upgrade window.
#[derive(Debug, Clone)]
pub(crate) struct RetryPolicy {
    pub(crate) backoff: crate::credentials::retry::RetryPolicy,
    pub(crate) upgrade_window: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            backoff: crate::credentials::retry::RetryPolicy {
                max_retries: defaults::MAX_RETRIES,
                base_delay: defaults::RETRY_BASE_DELAY,
                max_delay: defaults::MAX_RETRY_DELAY,
            },
            upgrade_window: defaults::IMDS_UPGRADE_WINDOW,
        }
    }
}

/// Whether an endpoint of `kind` answering `status` may answer differently later: the rule
/// [`Error::is_retryable`] applies to [`Error::ManagedIdentity`].
pub(crate) fn retryable_status(kind: ManagedIdentityKind, status: u16) -> bool {
    match kind {
        ManagedIdentityKind::Imds => matches!(status, 404 | 410 | 429 | 500..=599),
        ManagedIdentityKind::AppService => matches!(status, 429 | 500..=599),
    }
}

impl RetryPolicy {
    /// How long to wait before retrying after `error`, `retries` retries and `elapsed` time
    /// since the first request; `None` to give up.
    pub(crate) fn next_delay(
        &self,
        kind: ManagedIdentityKind,
        error: &Error,
        retries: u32,
        elapsed: Duration,
    ) -> Option<Duration> {
        // One rule for what is retryable, [`Error::is_retryable`] (which asks
        // [`retryable_status`] for managed identity answers).
        if !error.is_retryable() || matches!(error, Error::Interrupted) {
            return None;
        }
        let status = error.status();
        // `Retry-After` floored (a 0 must not make the 410 loop spin), or backoff; capped.
        let delay = self.backoff.delay(retries, error.retry_after());
        if kind == ManagedIdentityKind::Imds && status == Some(410) {
            // IMDS is being upgraded: keep asking until the window closes, whatever the count.
            let remaining = self.upgrade_window.checked_sub(elapsed)?;
            return (!remaining.is_zero()).then(|| delay.min(remaining));
        }
        (retries < self.backoff.max_retries).then_some(delay)
    }

    /// Runs `attempt` until it succeeds or [`next_delay`](Self::next_delay) gives up, sleeping
    /// on Tokio's clock in between (paused in tests).
    pub(crate) async fn run<T, F, Fut>(
        &self,
        kind: ManagedIdentityKind,
        mut attempt: F,
    ) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let start = tokio::time::Instant::now();
        let mut retries = 0;
        loop {
            let error = match attempt().await {
                Ok(ok) => return Ok(ok),
                Err(error) => error,
            };
            let Some(delay) = self.next_delay(kind, &error, retries, start.elapsed()) else {
                return Err(error);
            };
            retries += 1;
            warn!(
                endpoint = %kind,
                error = %error,
                retry = retries,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "managed identity token request failed; retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }
}
