//! The on-behalf-of token cache: one entry per (user assertion, downstream scope), keyed by the
//! SHA-256 of the user's token (never the token), bounded in size.
//!
//! Each entry is a [`TokenCache`] of its own, so the renewal logic of app tokens applies
//! unchanged (renewed within the refresh margin of expiry, one request per entry at a time, run
//! in a task no caller can cancel) and no entry can ever answer for another user's key.

use std::collections::{BTreeMap, HashMap};
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
    /// The value of [`Entries::tick`] when it was last used: its place in [`Entries::lru`].
    last_used: u64,
}

/// The entries, and two orders over them so that eviction takes O(log n), not a scan of the
/// map under the lock: by last use, and by expiry (entries with a token).
#[derive(Default)]
struct Entries {
    map: HashMap<UserKey, Entry>,
    /// `last_used` -> key: the first is the least recently used.
    lru: BTreeMap<u64, UserKey>,
    /// (`expires_on`, `id`) -> key: the first expires soonest.
    by_expiry: BTreeMap<(SystemTime, u64), UserKey>,
    tick: u64,
}

impl Entries {
    fn remove(&mut self, key: &UserKey) {
        if let Some(entry) = self.map.remove(key) {
            self.lru.remove(&entry.last_used);
            if let Some(expires) = entry.expires_on {
                self.by_expiry.remove(&(expires, entry.id));
            }
        }
    }
}

/// At most `capacity` entries. A new entry in a full cache first drops the entries whose token
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
        let mut entries = self.lock();
        entries.map.clear();
        entries.lru.clear();
        entries.by_expiry.clear();
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // Nothing panics while holding the lock; if it ever did, the map is still whole.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry's token cache and id, made (evicting if full) when there is none.
    pub(super) fn entry(&self, key: &UserKey, now: SystemTime) -> (TokenCache, u64) {
        let mut guard = self.lock();
        let entries = &mut *guard;
        entries.tick += 1;
        let tick = entries.tick;
        if let Some(entry) = entries.map.get_mut(key) {
            entries.lru.remove(&entry.last_used);
            entries.lru.insert(tick, key.clone());
            entry.last_used = tick;
            return (entry.cache.clone(), entry.id);
        }
        if entries.map.len() >= self.capacity {
            // Every expired entry, soonest first (each removal O(log n), paid for once).
            while let Some(((expires, _), oldest)) = entries.by_expiry.first_key_value()
                && *expires <= now
            {
                let oldest = oldest.clone();
                entries.remove(&oldest);
            }
        }
        if entries.map.len() >= self.capacity
            && let Some((_, oldest)) = entries.lru.first_key_value()
        {
            let oldest = oldest.clone();
            entries.remove(&oldest);
        }
        let cache = TokenCache::new();
        entries.lru.insert(tick, key.clone());
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

    /// Records the outcome of a request (called by the request's own task, so that a caller
    /// that gave up waiting leaves no entry without an expiry): the expiry of the entry's
    /// token, or, when the request failed and the entry has no token, drops the entry (it
    /// holds nothing worth its place).
    pub(super) fn record(&self, key: &UserKey, id: u64, expires_on: Option<SystemTime>) {
        let mut guard = self.lock();
        let entries = &mut *guard;
        let Some(entry) = entries.map.get_mut(key) else {
            return;
        };
        // The entry may have been evicted and made anew meanwhile: only update the same one.
        if entry.id != id {
            return;
        }
        match (expires_on, entry.expires_on) {
            (Some(expires), old) => {
                if let Some(old) = old {
                    entries.by_expiry.remove(&(old, id));
                }
                entry.expires_on = Some(expires);
                entries.by_expiry.insert((expires, id), key.clone());
            }
            (None, None) => entries.remove(key),
            (None, Some(_)) => {}
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

    /// The two orders always name exactly the entries of the map, whatever happened.
    fn assert_consistent(cache: &UserTokenCache) {
        let e = cache.lock();
        assert_eq!(e.lru.len(), e.map.len());
        for (tick, key) in &e.lru {
            assert_eq!(e.map[key].last_used, *tick);
        }
        let with_expiry = e.map.values().filter(|v| v.expires_on.is_some()).count();
        assert_eq!(e.by_expiry.len(), with_expiry);
        for ((expires, id), key) in &e.by_expiry {
            assert_eq!(e.map[key].expires_on, Some(*expires));
            assert_eq!(e.map[key].id, *id);
        }
    }

    /// Many users through a small cache: eviction by the ordered indexes keeps the most
    /// recently used, drops the expired first, and the indexes stay in step with the map.
    #[test]
    fn eviction_follows_the_ordered_indexes() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let cache = UserTokenCache::new(100);
        // The last one (1000) is kept: the cache ends full.
        for i in 0..=1000u64 {
            let k = key(&format!("user-{i}"), "s");
            let (_, id) = cache.entry(&k, now);
            // Every third request fails (no entry kept); the others expire at different times.
            if i % 3 == 0 {
                cache.record(&k, id, None);
            } else {
                cache.record(&k, id, Some(now + Duration::from_secs(1000 + i)));
            }
            assert!(cache.len() <= 100);
        }
        assert_eq!(cache.len(), 100);
        assert_consistent(&cache);
        // The survivors are the most recently used.
        let last = key("user-998", "s");
        assert!(cache.lock().map.contains_key(&last));
        assert!(!cache.lock().map.contains_key(&key("user-1", "s")));
        // Later, every token has expired: one new entry drops all of them at once.
        cache.entry(&key("late", "s"), now + Duration::from_secs(10_000));
        assert_eq!(cache.len(), 1);
        assert_consistent(&cache);
        cache.clear();
        assert_consistent(&cache);
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
        assert_consistent(&cache);
    }
}
