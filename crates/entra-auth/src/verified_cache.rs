//! The verified-token cache: tokens that passed full validation, with their claims, so that the
//! next request with the same token costs a lookup instead of a signature verification.
//!
//! ```
//! use entra_auth::internal::verified_cache::TailHash;
//! use std::hash::BuildHasher;
//! let hash = TailHash::default();
//! let signature = "s".repeat(48);
//! // Only the length and the tail (the signature) are hashed: equal tails, equal hashes.
//! assert_eq!(
//!     hash.hash_one(format!("aaaa.{signature}")),
//!     hash.hash_one(format!("bbbb.{signature}")),
//! );
//! ```
//!
//! What the cache promises (each checked by the [`Authenticator`](crate::Authenticator) on a
//! hit, not by the map): the token text is equal byte for byte, `exp` / `nbf` still hold at the
//! clock's reading, the signing key is still current with the same issuers. The map is
//! `quick_cache`: sharded read locks, no background threads, no clock to calibrate at start, a
//! bounded number of entries and S3-FIFO eviction, which keeps tokens that come back (the
//! users of the moment) and lets a scan of one-off tokens pass through its small probationary
//! queue instead of flushing them out. Expired entries are dropped when they are next read or
//! pushed out by newer ones; the bound holds either way.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::{Lifecycle, UnitWeighter};

use crate::claims::Claims;
use crate::keys::Verification;

/// A verified-token cache entry: the claims, and the key snapshot they were verified under (a
/// refresh that drops their key or changes the issuers ends the entry).
#[derive(Clone)]
pub(crate) struct Verified {
    pub(crate) claims: Claims,
    pub(crate) under: Verification,
}

/// Tokens verified earlier, bounded in number. Counts its hits, misses and evictions.
pub(crate) struct VerifiedCache {
    entries: quick_cache::sync::Cache<TokenKey, Verified, UnitWeighter, TailHash, CountEvictions>,
    evictions: Arc<AtomicU64>,
}

impl VerifiedCache {
    /// A cache of at most `capacity` tokens.
    pub(crate) fn new(capacity: u64) -> Self {
        let evictions = Arc::new(AtomicU64::new(0));
        let items = usize::try_from(capacity).unwrap_or(usize::MAX).max(1);
        let entries = quick_cache::sync::Cache::with(
            items,
            capacity.max(1),
            UnitWeighter,
            TailHash::default(),
            CountEvictions(Arc::clone(&evictions)),
        );
        Self { entries, evictions }
    }

    /// The entry for exactly these token bytes, if there is one (whatever its times). Text too
    /// short to hold an RS256 signature of a 2048-bit key (342 base64url characters) cannot be
    /// a verified token: it is not even looked up (nor counted).
    pub(crate) fn get(&self, token: &[u8]) -> Option<Verified> {
        if token.len() < MIN_VERIFIED_LEN {
            return None;
        }
        self.entries.get(&TokenBytes(token))
    }

    /// Keeps `verified` for `token` (the text the claims carry), replacing an older entry.
    pub(crate) fn insert(&self, token: Arc<str>, verified: Verified) {
        self.entries.insert(TokenKey(token), verified);
    }

    /// Drops the entry for this token (it expired, or its key is no longer current).
    pub(crate) fn remove(&self, token: &[u8]) {
        self.entries.remove(&TokenBytes(token));
    }

    /// Entries held now.
    pub(crate) fn len(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Lookups that found an entry (expired ones included), since start.
    pub(crate) fn hits(&self) -> u64 {
        self.entries.hits()
    }

    /// Lookups that found none, since start.
    pub(crate) fn misses(&self) -> u64 {
        self.entries.misses()
    }

    /// Entries pushed out to make room, since start.
    pub(crate) fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }
}

/// The shortest text a verified token can be: a signature of at least 2048 bits is at least 342
/// base64url characters, after a header, a payload and two dots.
const MIN_VERIFIED_LEN: usize = 342 + 4;

/// A cached token's text. Hashed and compared as bytes, so that a lookup needs no UTF-8 check
/// of the presented token ([`TokenBytes`] hashes the same bytes the same way).
#[derive(Clone, PartialEq, Eq)]
struct TokenKey(Arc<str>);

impl Hash for TokenKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.0.as_bytes());
    }
}

/// A presented token's bytes, looked up without a copy.
struct TokenBytes<'a>(&'a [u8]);

impl Hash for TokenBytes<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.0);
    }
}

impl quick_cache::Equivalent<TokenKey> for TokenBytes<'_> {
    fn equivalent(&self, key: &TokenKey) -> bool {
        self.0 == key.0.as_bytes()
    }
}

/// Counts evictions, and drops what is evicted after the shard's lock is released (as
/// `quick_cache`'s default does).
#[derive(Clone)]
struct CountEvictions(Arc<AtomicU64>);

impl Lifecycle<TokenKey, Verified> for CountEvictions {
    type RequestState = [Option<(TokenKey, Verified)>; 2];

    fn on_evict(&self, state: &mut Self::RequestState, key: TokenKey, val: Verified) {
        self.0.fetch_add(1, Ordering::Relaxed);
        if let Some(slot) = state.iter_mut().find(|slot| slot.is_none()) {
            *slot = Some((key, val));
        }
    }
}

/// Hashes only the last bytes of each key, and its length: a token's tail is its RSA signature,
/// which is unpredictable and unique per token, so hashing 1-2 KB per lookup buys nothing.
/// Equality is still the full token text. Only verified tokens are ever inserted, so an attacker
/// cannot fill a bucket with colliding keys; that is also why a fast hash with a per-process
/// random seed (foldhash) is enough here, rather than SipHash.
#[derive(Clone, Default, Debug)]
pub struct TailHash(foldhash::fast::RandomState);

/// The [`Hasher`] of [`TailHash`].
pub struct TailHasher(foldhash::fast::FoldHasher<'static>);

impl std::fmt::Debug for TailHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TailHasher")
    }
}

const HASHED_TAIL: usize = 48;

impl BuildHasher for TailHash {
    type Hasher = TailHasher;
    fn build_hasher(&self) -> TailHasher {
        TailHasher(self.0.build_hasher())
    }
}

impl Hasher for TailHasher {
    fn finish(&self) -> u64 {
        self.0.finish()
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.write_usize(bytes.len());
        self.0
            .write(&bytes[bytes.len().saturating_sub(HASHED_TAIL)..]);
    }
}
