//! The in-memory token cache, with one request in flight per key.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::{AccessToken, Error};

/// A cached token is still handed out after a failed refresh while it has at least this long
/// to live.
const MIN_REMAINING_ON_FAILURE: Duration = Duration::from_secs(10);

/// An in-memory cache of access tokens, keyed by authority, tenant, client id and
/// scope (or v1 resource).
///
/// Every [`crate::ClientCredentials`] has one. Clones share the same entries, so one cache can be
/// given to several credentials with [`crate::ClientCredentialsBuilder::cache`]. A cached token is
/// returned until it is within the refresh margin of its expiry; then exactly one caller per key
/// asks Entra ID for a new one while the others wait for its result. If that refresh fails while
/// the cached token is still valid, the cached token is returned (and the failure logged).
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

#[derive(Default)]
struct Slot {
    entry: Mutex<Option<Entry>>,
    /// Completed refresh attempts (success or failure); lets waiters see that the attempt they
    /// waited for has finished.
    attempts: AtomicU64,
    /// Held while a refresh is in flight. Holds the error of the last attempt, if it failed.
    refresh: tokio::sync::Mutex<Option<Error>>,
}

#[derive(Clone)]
struct Entry {
    token: AccessToken,
    refresh_at: SystemTime,
}

impl Slot {
    fn entry(&self) -> Option<Entry> {
        self.entry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn fresh(&self, now: SystemTime) -> Option<AccessToken> {
        self.entry().filter(|e| now < e.refresh_at).map(|e| e.token)
    }

    fn still_valid(&self, now: SystemTime) -> Option<AccessToken> {
        self.entry()
            .filter(|e| now + MIN_REMAINING_ON_FAILURE < e.token.expires_on())
            .map(|e| e.token)
    }
}

impl TokenCache {
    /// A new, empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets every cached token; the next request for each key goes to Entra ID.
    pub fn clear(&self) {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        for slot in slots.values() {
            *slot.entry.lock().unwrap_or_else(PoisonError::into_inner) = None;
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

    /// The cached token for `key`, or the result of `fetch` (one fetch at a time per key).
    ///
    /// `fetch` returns the token and the time the request was sent, from which the token's
    /// lifetime is measured.
    pub(crate) async fn get_or_fetch<F, Fut>(
        &self,
        key: &CacheKey,
        now: impl Fn() -> SystemTime,
        margin: Duration,
        fetch: F,
    ) -> Result<AccessToken, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(AccessToken, SystemTime), Error>>,
    {
        let slot = self.slot(key);
        if let Some(token) = slot.fresh(now()) {
            return Ok(token);
        }
        let seen = slot.attempts.load(Ordering::Acquire);
        let mut last_error = slot.refresh.lock().await;
        let at = now();
        if let Some(token) = slot.fresh(at) {
            return Ok(token);
        }
        if slot.attempts.load(Ordering::Acquire) != seen
            && let Some(error) = last_error.as_ref()
        {
            // The refresh we waited for failed: share its outcome rather than sending another
            // request right away.
            return slot.still_valid(at).ok_or_else(|| error.clone());
        }
        let result = fetch().await;
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
                *slot.entry.lock().unwrap_or_else(PoisonError::into_inner) = Some(Entry {
                    token: token.clone(),
                    refresh_at,
                });
                *last_error = None;
                Ok(token)
            }
            Err(error) => {
                *last_error = Some(error.clone());
                match slot.still_valid(now()) {
                    Some(token) => {
                        tracing::warn!(
                            error = %error,
                            "token refresh failed; using the cached token until it expires"
                        );
                        Ok(token)
                    }
                    None => Err(error),
                }
            }
        };
        slot.attempts.fetch_add(1, Ordering::Release);
        outcome
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
    use std::sync::atomic::AtomicUsize;

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

    #[tokio::test]
    async fn reuses_until_margin_then_refreshes() {
        let cache = TokenCache::new();
        let now = Arc::new(Mutex::new(t0()));
        let calls = AtomicUsize::new(0);
        let clock = || *now.lock().unwrap();
        let fetch = || async {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            let sent = clock();
            Ok((
                AccessToken::new(format!("tok{n}"), sent + Duration::from_secs(3600)),
                sent,
            ))
        };
        let margin = Duration::from_secs(300);
        let a = cache
            .get_or_fetch(&key("s"), clock, margin, fetch)
            .await
            .unwrap();
        let b = cache
            .get_or_fetch(&key("s"), clock, margin, fetch)
            .await
            .unwrap();
        assert_eq!((a.secret(), b.secret()), ("tok0", "tok0"));
        *now.lock().unwrap() = t0() + Duration::from_secs(3600 - 301);
        let c = cache
            .get_or_fetch(&key("s"), clock, margin, fetch)
            .await
            .unwrap();
        assert_eq!(c.secret(), "tok0");
        *now.lock().unwrap() = t0() + Duration::from_secs(3600 - 300);
        let d = cache
            .get_or_fetch(&key("s"), clock, margin, fetch)
            .await
            .unwrap();
        assert_eq!(d.secret(), "tok1");
        // Another key is independent.
        let e = cache
            .get_or_fetch(&key("other"), clock, margin, fetch)
            .await
            .unwrap();
        assert_eq!(e.secret(), "tok2");
        cache.clear();
        let f = cache
            .get_or_fetch(&key("s"), clock, margin, fetch)
            .await
            .unwrap();
        assert_eq!(f.secret(), "tok3");
    }

    #[tokio::test]
    async fn short_lived_tokens_refresh_at_half_life() {
        let cache = TokenCache::new();
        let now = Mutex::new(t0());
        let clock = || *now.lock().unwrap();
        let calls = AtomicUsize::new(0);
        let fetch = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok((
                AccessToken::new("x", clock() + Duration::from_secs(120)),
                clock(),
            ))
        };
        let margin = Duration::from_secs(300);
        cache
            .get_or_fetch(&key("s"), clock, margin, fetch)
            .await
            .unwrap();
        cache
            .get_or_fetch(&key("s"), clock, margin, fetch)
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        *now.lock().unwrap() += Duration::from_secs(60);
        cache
            .get_or_fetch(&key("s"), clock, margin, fetch)
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn failed_refresh_falls_back_to_valid_token() {
        let cache = TokenCache::new();
        let now = Mutex::new(t0());
        let clock = || *now.lock().unwrap();
        let margin = Duration::from_secs(300);
        let ok = || async {
            Ok((
                AccessToken::new("old", t0() + Duration::from_secs(3600)),
                t0(),
            ))
        };
        let fail = || async {
            Err(Error::UnexpectedStatus {
                status: 503,
                retry_after: None,
            })
        };
        cache
            .get_or_fetch(&key("s"), clock, margin, ok)
            .await
            .unwrap();
        *now.lock().unwrap() = t0() + Duration::from_secs(3500);
        let t = cache
            .get_or_fetch(&key("s"), clock, margin, fail)
            .await
            .unwrap();
        assert_eq!(t.secret(), "old");
        *now.lock().unwrap() = t0() + Duration::from_secs(3595);
        let e = cache
            .get_or_fetch(&key("s"), clock, margin, fail)
            .await
            .unwrap_err();
        assert_eq!(e.status(), Some(503));
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch_and_its_failure() {
        let cache = TokenCache::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let margin = Duration::from_secs(300);
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let cache = cache.clone();
            let calls = calls.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_fetch(&key("s"), t0, margin, || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Err::<(AccessToken, SystemTime), _>(Error::UnexpectedStatus {
                            status: 500,
                            retry_after: None,
                        })
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap_err().status(), Some(500));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
