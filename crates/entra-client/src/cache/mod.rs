//! The in-memory token cache, with one request in flight per key.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::{AccessToken, Error};

/// A cached token is still handed out after a failed refresh while it has at least this long
/// to live.
const MIN_REMAINING_ON_FAILURE: Duration = Duration::from_secs(10);

/// An in-memory cache of access tokens, keyed by authority, tenant, client id and
/// scope (or v1 resource).
///
/// Every [`crate::ClientCredentials`] has one. Clones share the same entries, so one cache can be
/// given to several credentials with [`crate::ClientCredentialsBuilder::cache`]. A cached token is
/// returned until it is within the refresh margin of its expiry; then exactly one request per key
/// asks Entra ID for a new one while all callers wait for its result. If that refresh fails while
/// the cached token is still valid, the cached token is returned (and the failure logged).
///
/// The request runs in a Tokio task of its own, not in the future of the caller that started it:
/// a caller that gives up (a timeout, a dropped client connection, another `select!` branch)
/// does not cancel it, and the other callers, or the next one, get its token. If the task panics
/// or its runtime shuts down, the callers waiting for it get [`Error::Interrupted`] and the next
/// call sends a new request.
#[derive(Clone, Default)]
pub struct TokenCache {
    slots: Arc<Mutex<HashMap<CacheKey, Arc<Slot>>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    pub(crate) authority: String,
    pub(crate) tenant: String,
    pub(crate) client_id: String,
    pub(crate) target: Target,
}

/// What a token is for: a v2 scope or a v1 resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    Scope(String),
    Resource(String),
}

/// The outcome of one refresh, shared by every caller that waited for it.
type Outcome = Result<AccessToken, Error>;

/// One key's state.
#[derive(Default)]
struct Slot {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entry: Option<Entry>,
    /// The refresh in flight, if any: its task sends the outcome on this channel (`None` until
    /// then). Only that task's [`RefreshGuard`] sets it back to `None`.
    refresh: Option<watch::Receiver<Option<Outcome>>>,
}

#[derive(Clone)]
struct Entry {
    token: AccessToken,
    refresh_at: SystemTime,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; if it ever did, the state is still whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn fresh(&self, now: SystemTime) -> Option<AccessToken> {
        self.entry
            .as_ref()
            .filter(|e| now < e.refresh_at)
            .map(|e| e.token.clone())
    }

    fn still_valid(&self, now: SystemTime) -> Option<AccessToken> {
        self.entry
            .as_ref()
            .filter(|e| now + MIN_REMAINING_ON_FAILURE < e.token.expires_on())
            .map(|e| e.token.clone())
    }
}

/// Owned by a refresh task: publishes its outcome and ends the refresh in the slot's state.
///
/// If the task never completes (it panicked, or its future was dropped when its runtime shut
/// down, or `tokio::spawn` itself failed), dropping the guard ends the refresh with
/// [`Error::Interrupted`], so that no caller waits forever and the next call starts anew.
struct RefreshGuard {
    slot: Arc<Slot>,
    /// `None` once the outcome is sent.
    outcome: Option<watch::Sender<Option<Outcome>>>,
}

impl RefreshGuard {
    /// Records the result of the request in the slot and sends the outcome to the waiters.
    fn complete(
        mut self,
        result: Result<(AccessToken, SystemTime), Error>,
        now: SystemTime,
        margin: Duration,
    ) {
        let mut state = self.slot.lock();
        let outcome = match result {
            Ok((token, sent_at)) => {
                let lifetime = token
                    .expires_on()
                    .duration_since(sent_at)
                    .unwrap_or_default();
                let mut refresh_at = token.expires_on() - margin.min(lifetime / 2);
                if let Some(refresh_on) = token.refresh_on {
                    refresh_at = refresh_at.min(refresh_on);
                }
                state.entry = Some(Entry {
                    token: token.clone(),
                    refresh_at,
                });
                Ok(token)
            }
            Err(error) => match state.still_valid(now) {
                Some(token) => {
                    tracing::warn!(
                        error = %error,
                        "token refresh failed; using the cached token until it expires"
                    );
                    Ok(token)
                }
                None => Err(error),
            },
        };
        // Taken last: should anything above panic, the guard still ends the refresh on drop.
        if let Some(sender) = self.outcome.take() {
            finish(&mut state, &sender, outcome);
        }
    }
}

impl Drop for RefreshGuard {
    fn drop(&mut self) {
        if let Some(sender) = self.outcome.take() {
            let mut state = self.slot.lock();
            finish(&mut state, &sender, Err(Error::Interrupted));
        }
    }
}

/// Ends the refresh whose outcome goes to `sender`: no refresh is in flight any more, and every
/// caller that waits for it (or subscribed and has not looked yet) sees `outcome`.
fn finish(state: &mut State, sender: &watch::Sender<Option<Outcome>>, outcome: Outcome) {
    if state
        .refresh
        .as_ref()
        .is_some_and(|r| r.same_channel(&sender.subscribe()))
    {
        state.refresh = None;
    }
    sender.send_replace(Some(outcome));
}

impl TokenCache {
    /// A new, empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets every cached token; the next request for each key goes to Entra ID. A refresh
    /// already in flight still stores its token when it completes.
    pub fn clear(&self) {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        for slot in slots.values() {
            slot.lock().entry = None;
        }
    }

    fn slot(&self, key: &CacheKey) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get(key) {
            return slot.clone();
        }
        let slot = Arc::new(Slot::default());
        slots.insert(key.clone(), slot.clone());
        slot
    }

    /// The cached token for `key`, or the outcome of `fetch` (one fetch at a time per key).
    ///
    /// `fetch` returns the token and the time the request was sent, from which the token's
    /// lifetime is measured. It runs in a task of its own (`tokio::spawn`, so this must be called
    /// within a Tokio runtime), shared by every caller that asks for `key` until it completes:
    /// dropping this future only stops waiting. The task stores the token and computes the
    /// outcome (falling back to a still-valid cached token on failure) once, for all waiters.
    pub(crate) async fn get_or_fetch<N, F, Fut>(
        &self,
        key: &CacheKey,
        now: N,
        margin: Duration,
        fetch: F,
    ) -> Result<AccessToken, Error>
    where
        N: Fn() -> SystemTime + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(AccessToken, SystemTime), Error>> + Send + 'static,
    {
        let slot = self.slot(key);
        let at = now();
        let (mut outcome, start) = {
            let mut state = slot.lock();
            if let Some(token) = state.fresh(at) {
                return Ok(token);
            }
            match &state.refresh {
                Some(refresh) => (refresh.clone(), None),
                None => {
                    let (sender, receiver) = watch::channel(None);
                    state.refresh = Some(receiver.clone());
                    (receiver, Some(sender))
                }
            }
        };
        if let Some(sender) = start {
            // Made before the task, and moved into it: dropped (ending the refresh) even if
            // the task is never polled.
            let guard = RefreshGuard {
                slot: slot.clone(),
                outcome: Some(sender),
            };
            drop(tokio::spawn(async move {
                let result = fetch().await;
                guard.complete(result, now(), margin);
            }));
        }
        let shared = outcome.wait_for(Option::is_some).await;
        match shared.as_deref() {
            Ok(Some(result)) => result.clone(),
            // The guard always sends before the channel closes; be safe all the same.
            Ok(None) | Err(_) => Err(Error::Interrupted),
        }
    }
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("TokenCache").field("keys", &len).finish()
    }
}

#[cfg(test)]
mod tests;
