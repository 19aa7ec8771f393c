//! [`Authenticator`]: the validator, the key source and the verified-token cache, together.
//!
//! The layer uses one; use it directly to validate tokens outside a tower stack (a CLI, a
//! WebSocket handshake, a message consumer).

use std::fmt;
use std::sync::Arc;

use crate::claims::Claims;
use crate::config::EntraConfig;
use crate::counters::Counters;
use crate::error::{AuthError, InvalidToken, PreparedRejections};
use crate::keys::key_set::VerificationKey;
use crate::keys::{KeyCache, Snapshot, lookup as keys_lookup};
use crate::validate::{self, ValidationPolicy};
use crate::verified_cache::{Verified, VerifiedCache};

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
    /// Entries in the verified-token cache.
    pub cached_tokens: u64,
    /// Lookups in the verified-token cache that found the token (whether or not it was still
    /// usable), since start.
    pub cache_hits: u64,
    /// Lookups in the verified-token cache that did not find the token, since start.
    pub cache_misses: u64,
    /// Tokens the verified-token cache pushed out to make room for others, since start.
    pub cache_evictions: u64,
    /// Requests served from the verified-token cache, since start (hits that were still in
    /// their lifetime and signed by a current key).
    pub validations_cached: u64,
    /// Full validations that accepted the token, since start.
    pub validations_accepted: u64,
    /// Rejections by reason, since start: every [`InvalidToken::code`] (and `missing_token` for
    /// requests the layer saw without one), zeros included, in a fixed order.
    pub rejections: Vec<(&'static str, u64)>,
    /// Requests answered 503 because no signing keys were usable, since start.
    pub unavailable: u64,
    /// Key refreshes that failed (the last-known-good keys stayed), since start.
    pub key_refresh_failures: u64,
    /// Seconds since the keys in use were fetched; `None` before the first fetch.
    pub key_set_age_secs: Option<u64>,
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
    verified: Option<VerifiedCache>,
    rejections: PreparedRejections,
    counters: Counters,
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
        let verified = c
            .token_cache
            .enabled
            .then(|| VerifiedCache::new(c.token_cache.max_entries));
        Self {
            inner: Arc::new(Inner {
                keys: Arc::new(KeyCache::new(config.clone())),
                config,
                rejections: PreparedRejections::new(policy.realm.clone()),
                counters: Counters::default(),
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

    /// The answer to `error` with this authenticator's realm: the same as
    /// [`AuthError::to_response`], prepared once for a missing or invalid token (a prepared
    /// answer also carries its `content-length`).
    pub(crate) fn reject(&self, error: &AuthError) -> axum::response::Response {
        self.inner.rejections.response(error)
    }

    /// [`reject`](Self::reject) for a request refused before any validation (no token, or not
    /// one credential), counted among the rejections.
    pub(crate) fn refuse(&self, error: AuthError) -> axum::response::Response {
        self.reject(&self.counted(error))
    }

    /// `error`, once counted among the rejections: for a request refused before any
    /// validation (no token, or not one credential).
    pub(crate) fn counted(&self, error: AuthError) -> AuthError {
        self.inner.counters.count_error(&error);
        error
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
        let cache = inner.verified.as_ref();
        let cache_hits = cache.map_or(0, VerifiedCache::hits);
        Stats {
            key_set_fetches: inner.keys.key_set_fetches(),
            metadata_fetches: inner.keys.metadata_fetches(),
            loaded_key_ids,
            cached_tokens: cache.map_or(0, VerifiedCache::len),
            cache_hits,
            cache_misses: cache.map_or(0, VerifiedCache::misses),
            cache_evictions: cache.map_or(0, VerifiedCache::evictions),
            validations_cached: cache_hits.saturating_sub(inner.counters.stale_hits()),
            validations_accepted: inner.counters.accepted(),
            rejections: inner.counters.rejected(),
            unavailable: inner.counters.unavailable(),
            key_refresh_failures: inner.keys.refresh_failures(),
            key_set_age_secs: inner.keys.key_set_age(now),
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
        let span = validation_span();
        let result = self.validate_inner(token).instrument(span.clone()).await;
        record(&span, &result);
        self.inner.counters.count(&result);
        result
    }

    /// Full validation when it needs no I/O (the keys it needs are loaded, or the answer does
    /// not depend on them): `None` when keys must be fetched first (then use
    /// [`validate_uncached`](Self::validate_uncached)). Most rejections are decided here.
    pub(crate) fn validate_now(&self, token: &str) -> Option<Result<Claims, AuthError>> {
        // The span only when a subscriber may want it: creating a disabled span still costs
        // more than rejecting a malformed token.
        let result = if tracing::level_enabled!(tracing::Level::DEBUG) {
            let span = validation_span();
            let _entered = span.enter();
            let Step::Done(result) = self.decide_now(token) else {
                return None;
            };
            record(&span, &result);
            result
        } else {
            let Step::Done(result) = self.decide_now(token) else {
                return None;
            };
            result
        };
        self.inner.counters.count(&result);
        Some(result)
    }

    /// The checks in the order that makes rejections cheap: the header, then the key it names
    /// in the keys loaded now; a token naming a key we do not hold (and may not refresh for)
    /// is rejected without its payload ever being decoded. Only a token signed by a key we hold
    /// has its claims read, the early tenant checks made, then its signature verified.
    fn decide_now<'a>(&self, token: &'a str) -> Step<'a> {
        let inner = &*self.inner;
        let jws = match validate::parse_header(token, &inner.policy) {
            Ok(jws) => jws,
            Err(e) => return Step::Done(Err(e.into())),
        };
        let now = inner.config.now();
        let Some(snap) = inner.keys.fresh_snapshot(now) else {
            // No usable keys: the first load, or an outage (answered in `validate_inner`).
            return Step::NeedsKeys(jws, Wanted::Keys);
        };
        let (snap, key) = match keys_lookup(&snap, jws.key_ref()) {
            Some(key) => (snap, key),
            None if inner.keys.may_refresh_for_unknown_kid(now) => {
                return Step::NeedsKeys(jws, Wanted::UnknownKid);
            }
            // A refresh may have landed since `snap` was loaded (and left the cooldown taken):
            // the key is looked up once more in what is current now.
            None => match inner.keys.lookup_current(jws.key_ref(), now) {
                Some(found) => found,
                None => return Step::Done(Err(InvalidToken::UnknownSigningKey.into())),
            },
        };
        let parsed = match jws.read_claims(&inner.policy) {
            Ok(parsed) => parsed,
            Err(e) => return Step::Done(Err(e.into())),
        };
        if let Err(e) = validate::check_tenant(&parsed, &inner.policy, &snap.issuers) {
            return Step::Done(Err(e.into()));
        }
        // Only a token of an accepted tenant signed by a key we hold may start the periodic
        // refresh: garbage and other tenants' tokens never cause a fetch.
        inner.keys.maybe_refresh_in_background(now);
        Step::Done(self.verify(parsed, &snap, &key, now))
    }

    async fn validate_inner(&self, token: &str) -> Result<Claims, AuthError> {
        let inner = &*self.inner;
        let (jws, wanted) = match self.decide_now(token) {
            Step::Done(result) => return result,
            Step::NeedsKeys(jws, wanted) => (jws, wanted),
        };
        // A token naming a key we do not hold is answered as such whatever its payload holds:
        // its answer must not depend on whether the cooldown lets it reach this point (else a
        // payload error, or a tenant's being allowed, would show through the cooldown's state).
        let hide = |e: AuthError| match (wanted, e) {
            (Wanted::UnknownKid, AuthError::InvalidToken(reason)) => {
                tracing::debug!(reason = reason.code(), "unknown key id: answered as such");
                InvalidToken::UnknownSigningKey.into()
            }
            (_, e) => e,
        };
        // Keys are to be fetched: the claims are read first, so that a token of a tenant we
        // never accept cannot make the key cache refresh.
        let parsed = match jws.read_claims(&inner.policy) {
            Ok(parsed) => parsed,
            // During an outage an allowed tenant's token gets 503: so does this one (without
            // any I/O), or the status would tell which tenants are allowed.
            Err(InvalidToken::TenantNotAllowed) if wanted == Wanted::Keys => {
                return Err(inner
                    .keys
                    .outage()
                    .unwrap_or(InvalidToken::TenantNotAllowed.into()));
            }
            Err(other) => return Err(hide(other.into())),
        };
        // One call resolves the key reference to the key and the issuers that go with it. A
        // tenant configured by domain is known once the discovery document named its id: a
        // token of another tenant must not reach the unknown-kid refresh either.
        let (snap, key) = inner
            .keys
            .resolve(parsed.key_ref(), |issuers| {
                validate::check_tenant(&parsed, &inner.policy, issuers)
            })
            .await
            .map_err(hide)?;
        self.verify(parsed, &snap, &key, inner.config.now())
    }

    /// The signature and the claim checks, then the verified-token cache keeps the result.
    fn verify(
        &self,
        parsed: validate::ParsedToken<'_>,
        snap: &Snapshot,
        key: &Arc<VerificationKey>,
        now: i64,
    ) -> Result<Claims, AuthError> {
        let inner = &*self.inner;
        if let Some(reason) = &snap.v1_unavailable
            && parsed.declares_v1()
        {
            return Err(AuthError::KeysUnavailable {
                reason: reason.clone(),
                retry_after: inner.config.key_refresh().retry_after_failure,
            });
        }
        let claims = validate::verify(parsed, key, now, &inner.policy, &snap.issuers)?;
        if let Some(cache) = &inner.verified
            && let Some(text) = &claims.0.token
        {
            // The cache key shares the token text the claims carry (for `BearerToken`).
            let verified = Verified {
                claims: claims.clone(),
                under: snap.verification(),
            };
            cache.insert(Arc::clone(text), verified);
        }
        crate::metrics::accepted_in_tenant(inner.config.inner.metrics_tenant_label, &claims);
        Ok(claims)
    }

    /// The claims of a token verified earlier, if the verified-token cache has it and it is
    /// still within its lifetime and signed by a current key. No I/O, no lock, no allocation.
    pub(crate) fn cached_claims(&self, token: &str) -> Option<Claims> {
        self.cached_claims_for(token.as_bytes())
    }

    /// [`cached_claims`](Self::cached_claims) for the token's bytes as received.
    pub(crate) fn cached_claims_for(&self, token: &[u8]) -> Option<Claims> {
        let cache = self.inner.verified.as_ref()?;
        let Verified { claims, under } = cache.get(token)?;
        let now = self.inner.config.now();
        let leeway = self.inner.policy.leeway_secs;
        let in_time = now < claims.expires_at().saturating_add(leeway)
            && now.saturating_add(leeway) >= claims.not_before();
        if in_time
            && self
                .inner
                .keys
                .still_current(&claims.0.signing_key, under, now)
        {
            self.inner.keys.maybe_refresh_in_background(now);
            crate::metrics::accepted_in_tenant(
                self.inner.config.inner.metrics_tenant_label,
                &claims,
            );
            Some(claims)
        } else {
            self.inner.counters.count_stale_hit();
            cache.remove(token);
            None
        }
    }
}

/// Where a validation stands after the checks that need no I/O.
enum Step<'a> {
    /// Decided.
    Done(Result<Claims, AuthError>),
    /// The keys must be fetched first.
    NeedsKeys(validate::Jws<'a>, Wanted),
}

/// Why keys must be fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted {
    /// None are usable yet: the first load, or an outage.
    Keys,
    /// The token names a key id we do not hold, and the cooldown allows a refresh (or one is
    /// under way).
    UnknownKid,
}

/// The `entra_auth.validate` span (debug level): the outcome and, on success, `tid`, `oid` and
/// the calling app; never the token.
fn validation_span() -> tracing::Span {
    use tracing::field::Empty;
    tracing::debug_span!(
        "entra_auth.validate",
        outcome = Empty,
        reason = Empty,
        tid = Empty,
        oid = Empty,
        app = Empty
    )
}

fn record(span: &tracing::Span, result: &Result<Claims, AuthError>) {
    if span.is_disabled() {
        return;
    }
    match result {
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
}
