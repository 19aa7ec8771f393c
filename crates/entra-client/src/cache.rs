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
mod tests {
    use super::*;
    use crate::{Clock, ManualClock};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn key(scope: &str) -> CacheKey {
        CacheKey {
            authority: "https://a".into(),
            tenant: "t".into(),
            client_id: "c".into(),
            target: Target::Scope(scope.into()),
        }
    }

    fn t0() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    /// A clock the test moves by hand, standing at `t0()`.
    fn test_clock() -> ManualClock {
        ManualClock::new(t0())
    }

    /// The cache's source of time: `clock`'s time.
    fn source(clock: &ManualClock) -> impl Fn() -> SystemTime + Send + 'static {
        let clock = clock.clone();
        move || clock.now()
    }

    type FetchResult = Result<(AccessToken, SystemTime), Error>;

    /// A fetch that counts its calls and answers `tok{n}`, living `lifetime` from the clock's now.
    fn counting_fetch(
        calls: &Arc<AtomicUsize>,
        clock: &ManualClock,
        lifetime: Duration,
    ) -> impl FnOnce() -> std::future::Ready<FetchResult> + Send + 'static {
        let calls = calls.clone();
        let clock = clock.clone();
        move || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            let sent = clock.now();
            std::future::ready(Ok((
                AccessToken::new(format!("tok{n}"), sent + lifetime),
                sent,
            )))
        }
    }

    fn failing_fetch(status: u16) -> impl FnOnce() -> std::future::Ready<FetchResult> + Send {
        move || {
            std::future::ready(Err(Error::UnexpectedStatus {
                status,
                retry_after: None,
            }))
        }
    }

    #[tokio::test]
    async fn reuses_until_margin_then_refreshes() {
        let cache = TokenCache::new();
        let clock = test_clock();
        let calls = Arc::new(AtomicUsize::new(0));
        let hour = Duration::from_secs(3600);
        let margin = Duration::from_secs(300);
        let get = async |scope: &str| {
            cache
                .get_or_fetch(
                    &key(scope),
                    source(&clock),
                    margin,
                    counting_fetch(&calls, &clock, hour),
                )
                .await
        };
        let a = get("s").await.unwrap();
        let b = get("s").await.unwrap();
        assert_eq!((a.secret(), b.secret()), ("tok0", "tok0"));
        clock.set(t0() + Duration::from_secs(3600 - 301));
        assert_eq!(get("s").await.unwrap().secret(), "tok0");
        clock.set(t0() + Duration::from_secs(3600 - 300));
        assert_eq!(get("s").await.unwrap().secret(), "tok1");
        // Another key is independent.
        assert_eq!(get("other").await.unwrap().secret(), "tok2");
        cache.clear();
        assert_eq!(get("s").await.unwrap().secret(), "tok3");
    }

    #[tokio::test]
    async fn short_lived_tokens_refresh_at_half_life() {
        let cache = TokenCache::new();
        let clock = test_clock();
        let calls = Arc::new(AtomicUsize::new(0));
        let margin = Duration::from_secs(300);
        let get = async || {
            cache
                .get_or_fetch(
                    &key("s"),
                    source(&clock),
                    margin,
                    counting_fetch(&calls, &clock, Duration::from_secs(120)),
                )
                .await
        };
        get().await.unwrap();
        get().await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        clock.advance(Duration::from_secs(60));
        get().await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn failed_refresh_falls_back_to_valid_token() {
        let cache = TokenCache::new();
        let clock = test_clock();
        let calls = Arc::new(AtomicUsize::new(0));
        let margin = Duration::from_secs(300);
        cache
            .get_or_fetch(
                &key("s"),
                source(&clock),
                margin,
                counting_fetch(&calls, &clock, Duration::from_secs(3600)),
            )
            .await
            .unwrap();
        clock.set(t0() + Duration::from_secs(3500));
        let t = cache
            .get_or_fetch(&key("s"), source(&clock), margin, failing_fetch(503))
            .await
            .unwrap();
        assert_eq!(t.secret(), "tok0");
        clock.set(t0() + Duration::from_secs(3595));
        let e = cache
            .get_or_fetch(&key("s"), source(&clock), margin, failing_fetch(503))
            .await
            .unwrap_err();
        assert_eq!(e.status(), Some(503));
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch_and_its_failure() {
        let cache = TokenCache::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let margin = Duration::from_secs(300);
        // The fetch waits for this, so that every caller is waiting before it answers.
        let (release, released) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let cache = cache.clone();
            let calls = calls.clone();
            let mut released = released.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_fetch(&key("s"), t0, margin, move || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        let _ = released.wait_for(|r| *r).await;
                        Err::<(AccessToken, SystemTime), _>(Error::UnexpectedStatus {
                            status: 500,
                            retry_after: None,
                        })
                    })
                    .await
            }));
        }
        // Let every caller reach the cache before the fetch answers.
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        release.send_replace(true);
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap_err().status(), Some(500));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    /// A caller dropped mid-refresh (here: after its first poll) does not cancel the request;
    /// the next caller gets the token of that same request.
    #[tokio::test]
    async fn dropped_caller_does_not_cancel_the_fetch() {
        let cache = TokenCache::new();
        let clock = test_clock();
        let calls = Arc::new(AtomicUsize::new(0));
        let (release, released) = tokio::sync::watch::channel(false);
        let margin = Duration::from_secs(300);
        let slow_fetch = {
            let calls = calls.clone();
            let clock = clock.clone();
            let mut released = released.clone();
            move || async move {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                let _ = released.wait_for(|r| *r).await;
                let sent = clock.now();
                Ok((
                    AccessToken::new(format!("tok{n}"), sent + Duration::from_secs(3600)),
                    sent,
                ))
            }
        };
        let k = key("s");
        let first = cache.get_or_fetch(&k, source(&clock), margin, slow_fetch);
        // Poll the caller once (it starts the refresh and waits), then drop it.
        tokio::select! {
            biased;
            _ = first => panic!("the fetch cannot have answered yet"),
            () = std::future::ready(()) => {}
        }
        release.send_replace(true);
        let token = cache
            .get_or_fetch(
                &key("s"),
                source(&clock),
                margin,
                counting_fetch(&calls, &clock, Duration::from_secs(3600)),
            )
            .await
            .unwrap();
        assert_eq!(token.secret(), "tok0");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    /// A fetch that panics: the waiters get `Interrupted` instead of hanging, and the next call
    /// starts a new fetch.
    #[tokio::test]
    async fn panicking_fetch_interrupts_waiters_and_leaves_the_slot_usable() {
        let cache = TokenCache::new();
        let clock = test_clock();
        let calls = Arc::new(AtomicUsize::new(0));
        let margin = Duration::from_secs(300);
        let (release, released) = tokio::sync::watch::channel(false);
        let panicking = {
            let mut released = released.clone();
            move || async move {
                let _ = released.wait_for(|r| *r).await;
                panic!("fetch panicked (expected by the test)");
            }
        };
        let first = {
            let cache = cache.clone();
            let clock = source(&clock);
            tokio::spawn(async move {
                cache
                    .get_or_fetch(&key("s"), clock, margin, panicking)
                    .await
            })
        };
        let waiter = {
            let cache = cache.clone();
            let fetch = counting_fetch(&calls, &clock, Duration::from_secs(3600));
            let clock = source(&clock);
            tokio::spawn(async move { cache.get_or_fetch(&key("s"), clock, margin, fetch).await })
        };
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        release.send_replace(true);
        for caller in [first, waiter] {
            let e = tokio::time::timeout(Duration::from_secs(10), caller)
                .await
                .expect("the waiter is told, not left hanging")
                .unwrap()
                .unwrap_err();
            assert!(matches!(e, Error::Interrupted), "{e:?}");
            assert!(e.is_retryable());
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "the waiter joined the panicking fetch"
        );
        let token = cache
            .get_or_fetch(
                &key("s"),
                source(&clock),
                margin,
                counting_fetch(&calls, &clock, Duration::from_secs(3600)),
            )
            .await
            .unwrap();
        assert_eq!(token.secret(), "tok0");
    }

    /// The runtime running the refresh shuts down: a caller waiting on another runtime gets
    /// `Interrupted` (instead of hanging), and the next call starts a new fetch.
    #[test]
    fn runtime_shutdown_interrupts_waiters_and_leaves_the_slot_usable() {
        let cache = TokenCache::new();
        let clock = test_clock();
        let calls = Arc::new(AtomicUsize::new(0));
        let margin = Duration::from_secs(300);
        let doomed = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let other = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let k = key("s");
        doomed.block_on(async {
            let first = cache.get_or_fetch(&k, source(&clock), margin, || {
                std::future::pending::<FetchResult>()
            });
            // Start the refresh on this runtime, then stop waiting for it.
            tokio::select! {
                biased;
                _ = first => unreachable!(),
                () = std::future::ready(()) => {}
            }
        });
        // A caller on the other runtime joins that refresh (polled once: it is waiting).
        let mut waiter = Box::pin(cache.get_or_fetch(
            &k,
            source(&clock),
            margin,
            counting_fetch(&calls, &clock, Duration::from_secs(3600)),
        ));
        let first_poll = other.block_on(std::future::poll_fn(|cx| {
            std::task::Poll::Ready(waiter.as_mut().poll(cx).is_pending())
        }));
        assert!(first_poll, "the refresh is still in flight");
        drop(doomed);
        let e = other
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), waiter).await })
            .expect("the waiter is told, not left hanging")
            .unwrap_err();
        assert!(matches!(e, Error::Interrupted), "{e:?}");
        let token = other
            .block_on(cache.get_or_fetch(
                &key("s"),
                source(&clock),
                margin,
                counting_fetch(&calls, &clock, Duration::from_secs(3600)),
            ))
            .unwrap();
        assert_eq!(token.secret(), "tok0");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
