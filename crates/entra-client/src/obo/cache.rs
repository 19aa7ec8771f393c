//! The on-behalf-of token cache: one entry per (user assertion, downstream scope), keyed by the
//! SHA-256 of the user's token (never the token), bounded in size.
//!
//! Each entry is a [`TokenCache`] of its own, so the renewal logic of app tokens applies
//! unchanged (renewed within the refresh margin of expiry, one request per entry at a time, run
//! in a task no caller can cancel) and no entry can ever answer for another user's key.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use crate::TokenCache;

/// The key of one entry: whose token (its hash) and for which scopes (normalized).
#[derive(Clone, PartialEq, Eq, Hash)]
pub(super) struct UserKey {
    pub(super) assertion_sha256: [u8; 32],
    pub(super) scope: String,
}

/// Shows the first bytes of the hash (the token itself is not in the key).
impl std::fmt::Debug for UserKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserKey")
            .field(
                "assertion_sha256",
                &format_args!("{}..", hex::encode(&self.assertion_sha256[..6])),
            )
            .field("scope", &self.scope)
            .finish()
    }
}

impl UserKey {
    pub(super) fn new(user_assertion: &str, scope: String) -> Self {
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, user_assertion.as_bytes());
        let mut assertion_sha256 = [0u8; 32];
        assertion_sha256.copy_from_slice(digest.as_ref());
        UserKey {
            assertion_sha256,
            scope,
        }
    }
}

struct Entry {
    cache: TokenCache,
    /// Tells this entry from one made later for the same key (after an eviction).
    id: u64,
    /// When its token expires, once it has one.
    expires_on: Option<SystemTime>,
    /// The value of [`Entries::tick`] when it was last used.
    last_used: u64,
}

#[derive(Default)]
struct Entries {
    map: HashMap<UserKey, Entry>,
    tick: u64,
}

/// At most `capacity` entries. A new entry in a full cache first drops every entry whose token
/// has expired, then, if none had, the least recently used one.
pub(super) struct UserTokenCache {
    entries: Mutex<Entries>,
    capacity: usize,
}

impl UserTokenCache {
    pub(super) fn new(capacity: usize) -> Self {
        UserTokenCache {
            entries: Mutex::new(Entries::default()),
            capacity: capacity.max(1),
        }
    }

    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(super) fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub(super) fn clear(&self) {
        self.lock().map.clear();
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // Nothing panics while holding the lock; if it ever did, the map is still whole.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry's token cache and id, made (evicting if full) when there is none.
    pub(super) fn entry(&self, key: &UserKey, now: SystemTime) -> (TokenCache, u64) {
        let mut entries = self.lock();
        entries.tick += 1;
        let tick = entries.tick;
        if let Some(entry) = entries.map.get_mut(key) {
            entry.last_used = tick;
            return (entry.cache.clone(), entry.id);
        }
        if entries.map.len() >= self.capacity {
            entries
                .map
                .retain(|_, e| e.expires_on.is_none_or(|expires| expires > now));
        }
        if entries.map.len() >= self.capacity {
            let oldest = entries
                .map
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                entries.map.remove(&oldest);
            }
        }
        let cache = TokenCache::new();
        entries.map.insert(
            key.clone(),
            Entry {
                cache: cache.clone(),
                id: tick,
                expires_on: None,
                last_used: tick,
            },
        );
        (cache, tick)
    }

    /// Records the outcome of a lookup: the expiry of the entry's token, or, when the request
    /// failed and the entry has no token, drops the entry (it holds nothing worth its place).
    pub(super) fn record(&self, key: &UserKey, id: u64, expires_on: Option<SystemTime>) {
        let mut entries = self.lock();
        let Some(entry) = entries.map.get_mut(key) else {
            return;
        };
        // The entry may have been evicted and made anew meanwhile: only update the same one.
        if entry.id != id {
            return;
        }
        match expires_on {
            Some(expires) => entry.expires_on = Some(expires),
            None if entry.expires_on.is_none() => {
                entries.map.remove(key);
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn key(user: &str, scope: &str) -> UserKey {
        UserKey::new(user, scope.to_owned())
    }

    #[test]
    fn keys_hash_the_token_and_tell_users_and_scopes_apart() {
        let a = key("token-a", "s");
        assert_eq!(a, key("token-a", "s"));
        assert_ne!(a, key("token-b", "s"));
        assert_ne!(a, key("token-a", "t"));
        // SHA-256("token-a"), not the token.
        assert_eq!(
            hex::encode(a.assertion_sha256),
            hex::encode(aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA256,
                b"token-a"
            ))
        );
    }

    #[test]
    fn bounded_expired_first_then_least_recently_used() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let later = now + Duration::from_secs(3600);
        let cache = UserTokenCache::new(3);
        let (a, b, c, d, e) = (
            key("a", "s"),
            key("b", "s"),
            key("c", "s"),
            key("d", "s"),
            key("e", "s"),
        );
        for k in [&a, &b, &c] {
            let (_, id) = cache.entry(k, now);
            cache.record(k, id, Some(later));
        }
        assert_eq!(cache.len(), 3);
        // `a` used again: `b` is now the least recently used.
        let (_, a_id) = cache.entry(&a, now);
        assert_eq!(a_id, cache.entry(&a, now).1);
        let (_, id) = cache.entry(&d, now);
        cache.record(&d, id, Some(now + Duration::from_secs(10)));
        assert_eq!(cache.len(), 3);
        let keys: Vec<_> = cache.lock().map.keys().cloned().collect();
        assert!(keys.contains(&a) && keys.contains(&c) && keys.contains(&d));
        assert!(!keys.contains(&b));
        // Once `d`'s token has expired, it goes first, though `c` was used less recently.
        cache.entry(&e, now + Duration::from_secs(11));
        let keys: Vec<_> = cache.lock().map.keys().cloned().collect();
        assert!(keys.contains(&c) && keys.contains(&e) && !keys.contains(&d));
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn a_failed_first_request_leaves_no_entry() {
        let now = SystemTime::UNIX_EPOCH;
        let cache = UserTokenCache::new(10);
        let k = key("a", "s");
        let (_, id) = cache.entry(&k, now);
        cache.record(&k, id, None);
        assert_eq!(cache.len(), 0);
        // An entry with a token stays after a failed renewal (its token may still serve).
        let (_, id) = cache.entry(&k, now);
        cache.record(&k, id, Some(now + Duration::from_secs(60)));
        cache.record(&k, id, None);
        assert_eq!(cache.len(), 1);
        // A stale id (the entry was replaced) changes nothing.
        cache.clear();
        let (_, fresh) = cache.entry(&k, now);
        cache.record(&k, id, Some(now));
        assert!(cache.lock().map[&k].expires_on.is_none());
        assert_eq!(fresh, cache.entry(&k, now).1);
    }
}
