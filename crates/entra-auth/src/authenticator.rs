//! [`Authenticator`]: the validator, the key source and the verified-token cache, together.
//!
//! The layer uses one; use it directly to validate tokens outside a tower stack (a CLI, a
//! WebSocket handshake, a message consumer).

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

use crate::claims::Claims;
use crate::config::EntraConfig;
use crate::error::{AuthError, InvalidToken};
use crate::keys::KeyCache;
use crate::validate::{self, ValidationPolicy};

/// What an [`Authenticator`] has fetched and holds; see [`Authenticator::stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// How many key-set documents have been requested so far.
    pub key_set_fetches: u64,
    /// How many discovery documents have been requested so far.
    pub metadata_fetches: u64,
    /// The ids of the currently loaded (and usable) signing keys, in no particular order.
    pub loaded_key_ids: Vec<String>,
    /// Entries in the verified-token cache (approximate).
    pub cached_tokens: u64,
}

/// Validates Entra access tokens. Cheap to clone; clones share keys and caches.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use entra_auth::{Authenticator, EntraConfig};
/// let auth = Authenticator::new(
///     EntraConfig::builder().tenant("contoso.onmicrosoft.com").client_id("my-api-id").build()?,
/// );
/// auth.prefetch().await?; // load keys before serving (readiness)
/// let claims = auth.validate("eyJ0eXAiOiJKV1Qi...").await?;
/// println!("called by app {:?}", claims.app_id());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

struct Inner {
    config: EntraConfig,
    policy: ValidationPolicy,
    keys: Arc<KeyCache>,
    verified: Option<Cache<Arc<str>, Verified, TailHash>>,
}

/// A verified-token cache entry: the claims, and the generation of the issuers they were
/// checked against (a refresh that changes the issuers ends the entry).
#[derive(Clone)]
struct Verified {
    claims: Claims,
    issuers_generation: u64,
}

/// Hashes only the last bytes of each key: a token's tail is its RSA signature, which is
/// unpredictable and unique per token, so hashing 1-2 KB per lookup buys nothing. Equality is
/// still the full token text. Only verified tokens are ever inserted, so an attacker cannot fill
/// a bucket with colliding keys.
#[derive(Clone, Default)]
struct TailHash(RandomState);

struct TailHasher(std::hash::DefaultHasher);

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

struct UntilExpiry {
    clock: EntraConfig,
}

impl moka::Expiry<Arc<str>, Verified> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &Arc<str>,
        verified: &Verified,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        let claims = &verified.claims;
        let leeway = i64::try_from(self.clock.leeway().as_secs()).unwrap_or(0);
        let left = claims.expires_at().saturating_add(leeway) - self.clock.now();
        Some(Duration::from_secs(
            u64::try_from(left.clamp(0, 24 * 3600)).unwrap_or(0),
        ))
    }
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Creates an authenticator. No I/O happens until the first validation or
    /// [`prefetch`](Self::prefetch).
    pub fn new(config: EntraConfig) -> Self {
        let c = &config.inner;
        let policy = ValidationPolicy {
            max_token_bytes: c.max_token_bytes,
            leeway_secs: i64::try_from(c.leeway.as_secs()).unwrap_or(60),
            audiences: c.audiences.clone(),
            allowed_tenants: c.allowed_tenants.clone(),
            require_scope_or_role: c.require_scope_or_role,
            id_token_audience: c.accept_id_tokens.then(|| c.client_id.clone()),
            require_tenant_id: c.metadata_url.is_none(),
            realm: c.realm.as_deref().map(Arc::from),
        };
        let verified = c.token_cache.enabled.then(|| {
            Cache::builder()
                .max_capacity(c.token_cache.max_entries)
                .expire_after(UntilExpiry {
                    clock: config.clone(),
                })
                .build_with_hasher(TailHash::default())
        });
        Self {
            inner: Arc::new(Inner {
                keys: Arc::new(KeyCache::new(config.clone())),
                config,
                policy,
                verified,
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EntraConfig {
        &self.inner.config
    }

    pub(crate) fn realm(&self) -> Option<Arc<str>> {
        self.inner.policy.realm.clone()
    }

    /// Loads metadata and keys now (for a readiness check at startup). Returns
    /// [`AuthError::KeysUnavailable`] when they cannot be fetched.
    pub async fn prefetch(&self) -> Result<(), AuthError> {
        self.inner.keys.refresh_now().await.map(|_| ())
    }

    /// Whether usable keys are loaded (no I/O): a readiness probe.
    pub fn is_ready(&self) -> bool {
        self.inner
            .keys
            .fresh_snapshot(self.inner.config.now())
            .is_some()
    }

    /// What this authenticator has fetched and holds, for metrics, readiness and tests (no I/O).
    pub fn stats(&self) -> Stats {
        let inner = &*self.inner;
        let now = inner.config.now();
        let loaded_key_ids = match inner.keys.fresh_snapshot(now) {
            Some(s) => s.keys().kids().map(str::to_owned).collect(),
            None => Vec::new(),
        };
        let cached_tokens = match &inner.verified {
            Some(cache) => {
                cache.run_pending_tasks();
                cache.entry_count()
            }
            None => 0,
        };
        Stats {
            key_set_fetches: inner.keys.key_set_fetches(),
            metadata_fetches: inner.keys.metadata_fetches(),
            loaded_key_ids,
            cached_tokens,
        }
    }

    /// Validates a token (without the `Bearer ` prefix) and returns its claims.
    ///
    /// Runs in a `entra_auth.validate` tracing span (debug level) that records the outcome and,
    /// on success, `tid`, `oid` and the calling app; never the token.
    pub async fn validate(&self, token: &str) -> Result<Claims, AuthError> {
        if let Some(claims) = self.cached_claims(token) {
            return Ok(claims);
        }
        self.validate_uncached(token).await
    }

    /// Full validation, without looking in the verified-token cache first (the layer has).
    pub(crate) async fn validate_uncached(&self, token: &str) -> Result<Claims, AuthError> {
        use tracing::Instrument;
        use tracing::field::Empty;
        let span = tracing::debug_span!(
            "entra_auth.validate",
            outcome = Empty,
            reason = Empty,
            tid = Empty,
            oid = Empty,
            app = Empty
        );
        let result = self.validate_inner(token).instrument(span.clone()).await;
        match &result {
            Ok(claims) => {
                span.record("outcome", "accepted");
                span.record("tid", claims.tenant_id().unwrap_or(""));
                span.record("oid", claims.object_id().unwrap_or(""));
                span.record("app", claims.app_id().unwrap_or(""));
            }
            Err(AuthError::InvalidToken(reason)) => {
                span.record("outcome", "rejected");
                span.record("reason", reason.code());
            }
            Err(_) => {
                span.record("outcome", "unavailable");
            }
        }
        result
    }

    async fn validate_inner(&self, token: &str) -> Result<Claims, AuthError> {
        let inner = &*self.inner;
        let parsed = match validate::parse(token, &inner.policy) {
            Ok(parsed) => parsed,
            // During an outage an allowed tenant's token gets 503: so does this one (without
            // any I/O), or the status would tell which tenants are allowed.
            Err(InvalidToken::TenantNotAllowed) => {
                return Err(inner
                    .keys
                    .outage()
                    .unwrap_or(InvalidToken::TenantNotAllowed.into()));
            }
            Err(other) => return Err(other.into()),
        };
        // One call resolves the key reference to the key and the issuers that go with it. A
        // tenant configured by domain is known once the discovery document named its id: a
        // token of another tenant must not reach the unknown-kid refresh either.
        let (snap, key) = inner
            .keys
            .resolve(parsed.key_ref(), |issuers| {
                validate::check_tenant(&parsed, &inner.policy, issuers)
            })
            .await?;
        if let Some(reason) = &snap.v1_unavailable
            && parsed.declares_v1()
        {
            return Err(AuthError::KeysUnavailable {
                reason: reason.clone(),
                retry_after: inner.config.key_refresh().retry_after_failure,
            });
        }
        let now = inner.config.now();
        let claims = validate::verify(parsed, &key, now, &inner.policy, &snap.issuers)?;
        if let Some(cache) = &inner.verified
            && let Some(text) = &claims.0.token
        {
            // The cache key shares the token text the claims carry (for `BearerToken`).
            let verified = Verified {
                claims: claims.clone(),
                issuers_generation: snap.generation,
            };
            cache.insert(Arc::clone(text), verified);
        }
        Ok(claims)
    }

    /// The claims of a token verified earlier, if the verified-token cache has it and it is
    /// still within its lifetime and signed by a current key. No I/O, no lock, no allocation.
    pub(crate) fn cached_claims(&self, token: &str) -> Option<Claims> {
        self.cached(token, self.inner.config.now())
    }

    fn cached(&self, token: &str, now: i64) -> Option<Claims> {
        let cache = self.inner.verified.as_ref()?;
        let Verified {
            claims,
            issuers_generation,
        } = cache.get(token)?;
        let leeway = self.inner.policy.leeway_secs;
        let in_time = now < claims.expires_at().saturating_add(leeway)
            && now.saturating_add(leeway) >= claims.not_before();
        if in_time
            && self
                .inner
                .keys
                .still_current(&claims.0.signing_key, issuers_generation, now)
        {
            self.inner.keys.maybe_refresh_in_background(now);
            Some(claims)
        } else {
            cache.invalidate(token);
            None
        }
    }
}
