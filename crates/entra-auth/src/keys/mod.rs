//! The key source: discovery documents and key sets, fetched and cached.
//!
//! ```text
//! request ─► KeyCache::resolve(key ref) ─► current Snapshot (lock-free) ─► key + issuers
//!                      │ unknown kid / no keys / periodic
//!                      ▼
//!              refresh.rs: one shared task ─► fetch.rs: documents + key set ─► new Snapshot
//! ```
//!
//! Rooms: this file holds the cache and its lookups; `refresh` the shared refresh task (its
//! triggers, its guard, how outcomes are recorded); `fetch` the HTTP side of one refresh;
//! `discovery` and `key_set` the two document formats.
//!
//! * Reads take no lock: the current [`Snapshot`] (keys + issuers) is an immutable value behind
//!   an `ArcSwap`, replaced whole after a successful fetch.
//! * A refresh is shared work that no caller can cancel: it runs in a task of its own, at most
//!   one at a time; callers that need its outcome wait for it (and may give up: the refresh goes
//!   on). The task records the outcome (keys, failure, backoff, next refresh) itself, and a drop
//!   guard keeps that state consistent and wakes the waiters whatever happens to the task.
//! * One refresh has one deadline (`fetch_timeout`) for all its requests: the v2 (or custom)
//!   discovery document then its key set, and, concurrently, the v1 discovery document (read
//!   for the v1 issuer only). A v1 document that fails affects v1 tokens only.
//! * An unknown `kid` triggers a refresh at most once per cooldown (5 minutes by default); other
//!   unknown kids in the window are rejected without any I/O.
//! * A periodic refresh (12 h with jitter) runs in the background while the current keys keep
//!   serving (stale-while-revalidate).
//! * A failed fetch never replaces good keys. Keys stay usable up to the maximum age (24 h) after
//!   the last success; with none usable, callers get [`AuthError::KeysUnavailable`] (503).

pub(crate) mod discovery;
mod fetch;
pub(crate) mod key_set;
mod refresh;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use tokio::sync::watch;

use crate::config::EntraConfig;
use crate::error::{AuthError, InvalidToken, KeysUnavailableReason};
use crate::validate::{Issuers, KeyRef};
use key_set::{KeySet, VerificationKey};
use refresh::{Outcome, Trigger, wait};

/// An immutable view of the keys and issuers from one successful fetch.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) keys: KeySet,
    pub(crate) issuers: Issuers,
    pub(crate) fetched_at: i64,
    /// Changes whenever the issuers change, so that verifications made under other issuers
    /// (held by the verified-token cache) end.
    pub(crate) generation: u64,
    /// Names this snapshot (unique in the process): a verification made with one of its keys
    /// needs no key lookup to be vouched for while it is current.
    pub(crate) serial: u64,
    /// When the v1 issuer was last read (it may be carried over from an earlier snapshot).
    v1_fetched_at: i64,
    /// Why v1 tokens cannot be checked now: v1 tokens are accepted, but the v1 discovery
    /// document could not be loaded and no earlier one is usable.
    pub(crate) v1_unavailable: Option<KeysUnavailableReason>,
}

impl Snapshot {
    pub(crate) fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// What a verification made with one of this snapshot's keys is checked against later.
    pub(crate) fn verification(&self) -> Verification {
        Verification {
            snapshot: self.serial,
            issuers_generation: self.generation,
        }
    }
}

/// The snapshot a token was verified under, as the verified-token cache keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verification {
    /// [`Snapshot::serial`].
    pub(crate) snapshot: u64,
    /// [`Snapshot::generation`].
    pub(crate) issuers_generation: u64,
}

/// The next [`Snapshot::serial`].
static NEXT_SNAPSHOT: AtomicU64 = AtomicU64::new(1);

const NEVER: i64 = i64::MIN;

pub(crate) struct KeyCache {
    config: EntraConfig,
    http: reqwest::Client,
    current: ArcSwapOption<Snapshot>,
    /// The refresh in flight, if any: waiters clone the receiver and wait for `true`.
    flight: Mutex<Option<watch::Receiver<Outcome>>>,
    /// Mirrors `flight.is_some()` for the hot path (a cache hit checks it without the lock).
    flying: AtomicBool,
    last_failure_at: AtomicI64,
    last_failure: Mutex<Option<KeysUnavailableReason>>,
    last_unknown_kid_refresh: AtomicI64,
    next_refresh_at: AtomicI64,
    key_set_fetches: AtomicU64,
    metadata_fetches: AtomicU64,
    refresh_failures: AtomicU64,
}

impl KeyCache {
    pub(crate) fn new(config: EntraConfig) -> Self {
        let http = config.inner.http.clone().unwrap_or_else(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(config.key_refresh().fetch_timeout)
                .connect_timeout(config.key_refresh().fetch_timeout)
                .user_agent(concat!("entra-auth/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default()
        });
        Self {
            config,
            http,
            current: ArcSwapOption::empty(),
            flight: Mutex::new(None),
            flying: AtomicBool::new(false),
            last_failure_at: AtomicI64::new(NEVER),
            last_failure: Mutex::new(None),
            last_unknown_kid_refresh: AtomicI64::new(NEVER),
            next_refresh_at: AtomicI64::new(NEVER),
            key_set_fetches: AtomicU64::new(0),
            metadata_fetches: AtomicU64::new(0),
            refresh_failures: AtomicU64::new(0),
        }
    }

    pub(crate) fn key_set_fetches(&self) -> u64 {
        self.key_set_fetches.load(Ordering::Relaxed)
    }

    pub(crate) fn metadata_fetches(&self) -> u64 {
        self.metadata_fetches.load(Ordering::Relaxed)
    }

    pub(crate) fn refresh_failures(&self) -> u64 {
        self.refresh_failures.load(Ordering::Relaxed)
    }

    /// Seconds since the keys held now (usable or not) were fetched; `None` before any fetch.
    pub(crate) fn key_set_age(&self, now: i64) -> Option<u64> {
        let snap = self.current.load();
        let fetched_at = snap.as_ref()?.fetched_at;
        Some(u64::try_from(now.saturating_sub(fetched_at)).unwrap_or(0))
    }

    /// The current snapshot if it is within its maximum age (no I/O, no lock).
    pub(crate) fn fresh_snapshot(&self, now: i64) -> Option<Arc<Snapshot>> {
        let snap = self.current.load_full()?;
        self.is_usable(&snap, now).then_some(snap)
    }

    /// Whether the current, usable snapshot still vouches for a verification made with `key`
    /// (for the verified-token cache): the snapshot the key came from (`serial`) is still
    /// current, or, after a refresh, the key id still names the same key with the same
    /// `issuer` and the discovery issuers (`generation`) have not changed since.
    pub(crate) fn still_current(
        &self,
        key: &Arc<VerificationKey>,
        verified: Verification,
        now: i64,
    ) -> bool {
        let guard = self.current.load();
        match guard.as_ref() {
            Some(snap) if self.is_usable(snap, now) => {
                snap.serial == verified.snapshot
                    || snap.generation == verified.issuers_generation
                        && snap.keys.get(key.kid()).is_some_and(|current| {
                            Arc::ptr_eq(current, key) || current.same_key_as(key)
                        })
            }
            _ => false,
        }
    }

    fn is_usable(&self, snap: &Snapshot, now: i64) -> bool {
        now.saturating_sub(snap.fetched_at) <= secs(self.config.key_refresh().max_stale)
    }

    /// The key `key_ref` names and the snapshot it comes from (with the issuers that go with
    /// it), after `precheck` has seen those issuers: the current snapshot, fetched first when
    /// there is none usable, and refreshed once (behind the cooldown) when the key is unknown.
    pub(crate) async fn resolve(
        self: &Arc<Self>,
        key_ref: &KeyRef,
        precheck: impl FnOnce(&Issuers) -> Result<(), InvalidToken>,
    ) -> Result<(Arc<Snapshot>, Arc<VerificationKey>), AuthError> {
        let snap = self.snapshot().await?;
        precheck(&snap.issuers)?;
        self.key_for(key_ref, snap).await
    }

    /// A usable snapshot: the current one, or a freshly fetched one when there is none or it is
    /// too old. Schedules a background refresh when the periodic interval has passed.
    async fn snapshot(self: &Arc<Self>) -> Result<Arc<Snapshot>, AuthError> {
        let now = self.config.now();
        if let Some(snap) = self.fresh_snapshot(now) {
            self.maybe_refresh_in_background(now);
            return Ok(snap);
        }
        self.refresh_now().await
    }

    /// Loads keys now unless a load is already under way (then waits for it) or a recent
    /// failure is backing off (then fails at once, with the time left). Fails when the refresh
    /// it ran or joined failed, even if older keys are still usable (a readiness check must
    /// see it).
    pub(crate) async fn refresh_now(self: &Arc<Self>) -> Result<Arc<Snapshot>, AuthError> {
        match self.start_or_join(Trigger::Load) {
            Some(done) => {
                if wait(done).await == Outcome::Failed {
                    return Err(AuthError::KeysUnavailable {
                        reason: self.last_failure_reason(),
                        retry_after: self.config.key_refresh().retry_after_failure,
                    });
                }
            }
            None => {
                if let Some(err) = self.backing_off(self.config.now()) {
                    return Err(err);
                }
            }
        }
        let now = self.config.now();
        self.fresh_snapshot(now)
            .ok_or_else(|| self.unavailable(now))
    }

    /// The 503 a request needing keys gets right now without any I/O, if there is one: no
    /// usable keys and a recent failure backing off.
    pub(crate) fn outage(&self) -> Option<AuthError> {
        self.backing_off(self.config.now())
    }

    fn backing_off(&self, now: i64) -> Option<AuthError> {
        let failed_at = self.last_failure_at.load(Ordering::Acquire);
        if failed_at == NEVER || self.fresh_snapshot(now).is_some() {
            return None;
        }
        let wait = secs(self.config.key_refresh().retry_after_failure);
        let elapsed = now.saturating_sub(failed_at);
        if elapsed >= 0 && elapsed < wait {
            let reason = self.last_failure_reason();
            return Some(AuthError::KeysUnavailable {
                reason: KeysUnavailableReason::BackingOff(reason.to_string()),
                retry_after: Duration::from_secs(u64::try_from(wait - elapsed).unwrap_or(1)),
            });
        }
        None
    }

    fn last_failure_reason(&self) -> KeysUnavailableReason {
        self.last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or(KeysUnavailableReason::Stale)
    }

    fn unavailable(&self, now: i64) -> AuthError {
        let reason = match self.current.load().as_ref() {
            Some(snap) if !self.is_usable(snap, now) => KeysUnavailableReason::Stale,
            _ => self.last_failure_reason(),
        };
        AuthError::KeysUnavailable {
            reason,
            retry_after: self.config.key_refresh().retry_after_failure,
        }
    }

    /// Finds the key a token names, refreshing once (behind the cooldown) when it is unknown.
    async fn key_for(
        self: &Arc<Self>,
        key_ref: &KeyRef,
        snap: Arc<Snapshot>,
    ) -> Result<(Arc<Snapshot>, Arc<VerificationKey>), AuthError> {
        if let Some(key) = lookup(&snap, key_ref) {
            return Ok((snap, key));
        }
        let now = self.config.now();
        if let Some(found) = self.lookup_current(key_ref, now) {
            return Ok(found);
        }
        let Some(done) = self.start_or_join(Trigger::UnknownKid) else {
            // Within the cooldown and nothing in flight: no I/O. A refresh may have landed since
            // the lookup above (it stores its keys before it leaves the flight slot), so look
            // once more.
            return self
                .lookup_current(key_ref, now)
                .ok_or_else(|| InvalidToken::UnknownSigningKey.into());
        };
        // Whatever the outcome, the key is looked up in what is current now.
        let _ = wait(done).await;
        let now = self.config.now();
        match self.fresh_snapshot(now) {
            Some(snap) => match lookup(&snap, key_ref) {
                Some(key) => Ok((snap, key)),
                None => Err(InvalidToken::UnknownSigningKey.into()),
            },
            None => Err(self.unavailable(now)),
        }
    }

    /// The key `key_ref` names in the current usable snapshot, with it (no I/O, no lock).
    pub(crate) fn lookup_current(
        &self,
        key_ref: &KeyRef,
        now: i64,
    ) -> Option<(Arc<Snapshot>, Arc<VerificationKey>)> {
        let snap = self.fresh_snapshot(now)?;
        let key = lookup(&snap, key_ref)?;
        Some((snap, key))
    }

    /// Whether a token naming a key id we do not hold may (or must wait to) see a refresh: one
    /// is under way, or the unknown-kid cooldown has passed. Atomic loads only: when this says
    /// no, the token is rejected without any I/O or lock.
    pub(crate) fn may_refresh_for_unknown_kid(&self, now: i64) -> bool {
        if self.flying.load(Ordering::Acquire) {
            return true;
        }
        let cooldown = secs(self.config.key_refresh().unknown_kid_cooldown);
        let last = self.last_unknown_kid_refresh.load(Ordering::Acquire);
        last == NEVER || now.saturating_sub(last) >= cooldown || now < last
    }

    /// Starts the periodic refresh when it is due (without waiting for it). Two atomic loads
    /// when it is not: this runs on every cache hit.
    pub(crate) fn maybe_refresh_in_background(self: &Arc<Self>, now: i64) {
        if now < self.next_refresh_at.load(Ordering::Relaxed) || self.flying.load(Ordering::Relaxed)
        {
            return;
        }
        drop(self.start_or_join(Trigger::Periodic));
    }
}

/// The key `key_ref` names in `snap`.
pub(crate) fn lookup(snap: &Snapshot, key_ref: &KeyRef) -> Option<Arc<VerificationKey>> {
    match key_ref {
        KeyRef::Kid(kid) => snap.keys.get(kid),
        KeyRef::X5t(x5t) => snap.keys.get_by_x5t(x5t),
    }
    .cloned()
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}
