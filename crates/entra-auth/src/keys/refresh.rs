//! The shared refresh: at most one in flight, started by a [`Trigger`], run in a task of its own
//! that no caller's cancellation affects, with a guard that keeps the state consistent however
//! the task ends.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use tokio::sync::watch;

use super::fetch::Fetched;
use super::{KeyCache, NEVER, Snapshot, secs};
use crate::config::AllowedTenants;
use crate::error::KeysUnavailableReason;

/// Why a refresh is wanted; decides whether one starts when none is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Trigger {
    /// No usable keys, or an explicit prefetch: start unless a recent failure is backing off.
    Load,
    /// A token names a key id we do not have: start at most once per cooldown.
    UnknownKid,
    /// The periodic refresh is due.
    Periodic,
}

impl KeyCache {
    /// Joins the refresh in flight, or starts one when `trigger` calls for it. Returns what to
    /// wait on, or `None` when no refresh is in flight and none starts.
    pub(super) fn start_or_join(
        self: &Arc<Self>,
        trigger: Trigger,
    ) -> Option<watch::Receiver<bool>> {
        let mut slot = self.flight.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(done) = slot.as_ref() {
            return Some(done.clone());
        }
        let now = self.config.now();
        let start = match trigger {
            Trigger::Load => self.backing_off(now).is_none(),
            Trigger::UnknownKid => {
                let cooldown = secs(self.config.key_refresh().unknown_kid_cooldown);
                let last = self.last_unknown_kid_refresh.load(Ordering::Acquire);
                let cooled = last == NEVER || now.saturating_sub(last) >= cooldown || now < last;
                if cooled {
                    self.last_unknown_kid_refresh.store(now, Ordering::Release);
                    tracing::info!("unknown signing key id: refreshing keys");
                }
                cooled
            }
            Trigger::Periodic => now >= self.next_refresh_at.load(Ordering::Acquire),
        };
        if !start {
            return None;
        }
        // reqwest needs a tokio runtime anyway; without one there is nothing to fetch with.
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (done_tx, done_rx) = watch::channel(false);
        *slot = Some(done_rx.clone());
        self.flying.store(true, Ordering::Release);
        let guard = FlightGuard {
            cache: Arc::clone(self),
            done: Some(done_tx),
            finished: false,
        };
        runtime.spawn(async move {
            let mut guard = guard;
            if trigger == Trigger::Periodic {
                tracing::debug!("periodic key refresh");
            }
            guard.cache.fetch_and_store().await;
            guard.finished = true;
        });
        Some(done_rx)
    }

    /// Fetches metadata and keys and records the outcome. Runs in the refresh task only.
    async fn fetch_and_store(&self) {
        let previous = self.current.load_full();
        let result = self.fetch(previous.as_deref()).await;
        let now = self.config.now();
        match result {
            Ok(fetched) => self.store(fetched, previous.as_deref(), now),
            Err(reason) => self.record_failure(reason, now),
        }
    }

    fn store(&self, fetched: Fetched, previous: Option<&Snapshot>, now: i64) {
        let policy = self.config.key_refresh();
        tracing::info!(
            keys = fetched.keys.len(),
            skipped = fetched.keys.skipped(),
            "signing keys loaded"
        );
        if let Some(reason) = &fetched.v1_unavailable {
            tracing::warn!(error = %reason, "the v1 discovery document could not be loaded; v1 tokens are answered 503 until it loads");
        }
        if self.config.inner.allowed_tenants == AllowedTenants::FromIssuer
            && fetched.issuers.tenant_id.is_none()
        {
            tracing::warn!(
                "the tenant is configured by domain name, but the discovery document's issuer names no tenant id: every token will be rejected"
            );
        }
        let generation = match previous {
            Some(prev) if prev.issuers == fetched.issuers => prev.generation,
            Some(prev) => prev.generation.wrapping_add(1),
            None => 1,
        };
        // A v1 document that failed asks for an early retry; the keys themselves are fine.
        let next = if fetched.v1_unavailable.is_some() || fetched.v1_retry {
            now.saturating_add(secs(policy.retry_after_failure))
        } else {
            let interval = secs(policy.refresh_interval);
            let jitter = secs(policy.jitter).min(interval);
            let jitter = if jitter > 0 {
                fastrand::i64(0..=jitter)
            } else {
                0
            };
            now.saturating_add(interval - jitter)
        };
        self.current.store(Some(Arc::new(Snapshot {
            keys: fetched.keys,
            issuers: fetched.issuers,
            fetched_at: now,
            generation,
            v1_fetched_at: fetched.v1_fetched_at.unwrap_or(now),
            v1_unavailable: fetched.v1_unavailable,
        })));
        self.next_refresh_at.store(next, Ordering::Release);
        self.last_failure_at.store(NEVER, Ordering::Release);
    }

    fn record_failure(&self, reason: KeysUnavailableReason, now: i64) {
        // Once per attempt (a flood of requests during an outage logs per request at debug).
        tracing::warn!(error = %reason, "signing key refresh failed; keeping last-known-good keys");
        *self
            .last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(reason);
        self.last_failure_at.store(now, Ordering::Release);
        let next = now.saturating_add(secs(self.config.key_refresh().retry_after_failure));
        self.next_refresh_at.store(next, Ordering::Release);
    }
}

/// Owned by the refresh task. However the task ends (done, panicked, or dropped with its
/// runtime), this leaves the flight slot, records an unfinished attempt as a failure, and wakes
/// every waiter.
struct FlightGuard {
    cache: Arc<KeyCache>,
    done: Option<watch::Sender<bool>>,
    finished: bool,
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        let cache = &self.cache;
        if !self.finished {
            let reason = KeysUnavailableReason::Fetch("the key refresh ended unfinished".into());
            cache.record_failure(reason, cache.config.now());
        }
        *cache.flight.lock().unwrap_or_else(PoisonError::into_inner) = None;
        cache.flying.store(false, Ordering::Release);
        if let Some(done) = self.done.take() {
            done.send_replace(true);
        }
    }
}

/// Waits for the refresh behind `done` to finish. Dropping this future (a caller that gives up)
/// leaves the refresh running.
pub(super) async fn wait(mut done: watch::Receiver<bool>) {
    // An error means the sender is gone: the refresh has finished either way.
    let _ = done.wait_for(|finished| *finished).await;
}
