//! The shared refresh: at most one in flight, started by a [`Trigger`], run in a task of its own
//! that no caller's cancellation affects, with a guard that keeps the state consistent however
//! the task ends.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use tokio::sync::watch;

use super::fetch::Fetched;
use super::{KeyCache, NEVER, NEXT_SNAPSHOT, Snapshot, secs};
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

/// How a refresh ended, as its waiters see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Still running.
    Pending,
    /// New keys were stored.
    Loaded,
    /// The refresh failed (or ended unfinished); the old keys, if any, are kept.
    Failed,
}

impl KeyCache {
    /// Joins the refresh in flight, or starts one when `trigger` calls for it. Returns what to
    /// wait on, or `None` when no refresh is in flight and none starts.
    pub(super) fn start_or_join(
        self: &Arc<Self>,
        trigger: Trigger,
    ) -> Option<watch::Receiver<Outcome>> {
        // reqwest needs a tokio runtime anyway; without one there is nothing to fetch with.
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (done_tx, done_rx) = {
            let mut slot = self.flight.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(done) = slot.as_ref() {
                return Some(done.clone());
            }
            if !self.should_start(trigger) {
                return None;
            }
            let (done_tx, done_rx) = watch::channel(Outcome::Pending);
            *slot = Some(done_rx.clone());
            self.flying.store(true, Ordering::Release);
            (done_tx, done_rx)
        };
        // Spawned with the lock released: a runtime that is shutting down drops the task at once,
        // and the guard's drop takes the lock again.
        let guard = FlightGuard {
            cache: Arc::clone(self),
            done: Some(done_tx),
            outcome: None,
        };
        runtime.spawn(async move {
            let mut guard = guard;
            if trigger == Trigger::Periodic {
                tracing::debug!("periodic key refresh");
            }
            guard.outcome = Some(guard.cache.fetch_and_store().await);
        });
        Some(done_rx)
    }

    /// Whether `trigger` starts a refresh now (none is in flight). Called with the flight lock
    /// held, so that two callers cannot both take the cooldown.
    fn should_start(&self, trigger: Trigger) -> bool {
        let now = self.config.now();
        match trigger {
            Trigger::Load => self.backing_off(now).is_none(),
            Trigger::UnknownKid => {
                // Nothing is in flight (the caller holds the flight lock and saw none).
                let cooled = self.may_refresh_for_unknown_kid(now);
                if cooled {
                    self.last_unknown_kid_refresh.store(now, Ordering::Release);
                    tracing::info!("unknown signing key id: refreshing keys");
                }
                cooled
            }
            Trigger::Periodic => now >= self.next_refresh_at.load(Ordering::Acquire),
        }
    }

    /// Fetches metadata and keys and records the outcome. Runs in the refresh task only.
    async fn fetch_and_store(&self) -> Outcome {
        let previous = self.current.load_full();
        let started = std::time::Instant::now();
        let result = self.fetch(previous.as_deref()).await;
        crate::metrics::refresh_finished(started.elapsed(), result.is_ok());
        let now = self.config.now();
        match result {
            Ok(fetched) => {
                self.store(fetched, previous.as_deref(), now);
                Outcome::Loaded
            }
            Err(reason) => {
                self.record_failure(reason, now);
                Outcome::Failed
            }
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
            serial: NEXT_SNAPSHOT.fetch_add(1, Ordering::Relaxed),
            v1_fetched_at: fetched.v1_fetched_at.unwrap_or(now),
            v1_unavailable: fetched.v1_unavailable,
        })));
        self.next_refresh_at.store(next, Ordering::Release);
        self.last_failure_at.store(NEVER, Ordering::Release);
    }

    fn record_failure(&self, reason: KeysUnavailableReason, now: i64) {
        // Once per attempt (a flood of requests during an outage logs per request at debug).
        tracing::warn!(error = %reason, "signing key refresh failed; keeping last-known-good keys");
        self.refresh_failures.fetch_add(1, Ordering::Relaxed);
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
    done: Option<watch::Sender<Outcome>>,
    /// Set by the task when the refresh has run (its outcome already recorded); `None` while it
    /// has not, which is what a panic or a runtime shutdown leaves.
    outcome: Option<Outcome>,
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        let cache = &self.cache;
        let outcome = self.outcome.unwrap_or_else(|| {
            let reason = KeysUnavailableReason::Fetch("the key refresh ended unfinished".into());
            cache.record_failure(reason, cache.config.now());
            Outcome::Failed
        });
        {
            let mut slot = cache.flight.lock().unwrap_or_else(PoisonError::into_inner);
            *slot = None;
            cache.flying.store(false, Ordering::Release);
        }
        if let Some(done) = self.done.take() {
            done.send_replace(outcome);
        }
    }
}

/// Waits for the refresh behind `done` to finish, and says how it ended. Dropping this future
/// (a caller that gives up) leaves the refresh running.
pub(super) async fn wait(mut done: watch::Receiver<Outcome>) -> Outcome {
    match done.wait_for(|outcome| *outcome != Outcome::Pending).await {
        Ok(outcome) => *outcome,
        // The sender is gone without a word: the refresh ended unfinished.
        Err(_) => Outcome::Failed,
    }
}
