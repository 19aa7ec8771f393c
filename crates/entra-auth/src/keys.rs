//! The key source: discovery documents and key sets, fetched and cached.
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

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use tokio::sync::watch;
use tokio::time::Instant;
use url::Url;

use crate::config::{EntraConfig, check_linked_url};
use crate::error::{AuthError, InvalidToken, KeysUnavailableReason};
use crate::jwks::{KeySet, VerificationKey};
use crate::metadata::{DiscoveryDocument, IssuerTemplate};
use crate::validate::{Issuers, KeyRef};

/// An immutable view of the keys and issuers from one successful fetch.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) keys: KeySet,
    pub(crate) issuers: Issuers,
    pub(crate) fetched_at: i64,
    /// Changes whenever the issuers change, so that verifications made under other issuers
    /// (held by the verified-token cache) end.
    pub(crate) generation: u64,
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
}

const NEVER: i64 = i64::MIN;

/// Why a refresh is wanted; decides whether one starts when none is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// No usable keys, or an explicit prefetch: start unless a recent failure is backing off.
    Load,
    /// A token names a key id we do not have: start at most once per cooldown.
    UnknownKid,
    /// The periodic refresh is due.
    Periodic,
}

pub(crate) struct KeyCache {
    config: EntraConfig,
    http: reqwest::Client,
    current: ArcSwapOption<Snapshot>,
    /// The refresh in flight, if any: waiters clone the receiver and wait for `true`.
    flight: Mutex<Option<watch::Receiver<bool>>>,
    /// Mirrors `flight.is_some()` for the hot path (a cache hit checks it without the lock).
    flying: AtomicBool,
    last_failure_at: AtomicI64,
    last_failure: Mutex<Option<KeysUnavailableReason>>,
    last_unknown_kid_refresh: AtomicI64,
    next_refresh_at: AtomicI64,
    key_set_fetches: AtomicU64,
    metadata_fetches: AtomicU64,
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
        }
    }

    pub(crate) fn key_set_fetches(&self) -> u64 {
        self.key_set_fetches.load(Ordering::Relaxed)
    }

    pub(crate) fn metadata_fetches(&self) -> u64 {
        self.metadata_fetches.load(Ordering::Relaxed)
    }

    /// The current snapshot if it is within its maximum age (no I/O, no lock).
    pub(crate) fn fresh_snapshot(&self, now: i64) -> Option<Arc<Snapshot>> {
        let snap = self.current.load_full()?;
        self.is_usable(&snap, now).then_some(snap)
    }

    /// Whether the current, usable snapshot still vouches for a verification made with `key`
    /// under issuers of `generation` (for the verified-token cache): the key id still names the
    /// same key with the same `issuer`, and the discovery issuers have not changed since.
    pub(crate) fn still_current(
        &self,
        key: &Arc<VerificationKey>,
        generation: u64,
        now: i64,
    ) -> bool {
        let guard = self.current.load();
        match guard.as_ref() {
            Some(snap) if snap.generation == generation && self.is_usable(snap, now) => snap
                .keys
                .get(key.kid())
                .is_some_and(|current| Arc::ptr_eq(current, key) || current.same_key_as(key)),
            _ => false,
        }
    }

    fn is_usable(&self, snap: &Snapshot, now: i64) -> bool {
        now.saturating_sub(snap.fetched_at) <= secs(self.config.key_refresh().max_stale)
    }

    /// A usable snapshot: the current one, or a freshly fetched one when there is none or it is
    /// too old. Schedules a background refresh when the periodic interval has passed.
    pub(crate) async fn snapshot(self: &Arc<Self>) -> Result<Arc<Snapshot>, AuthError> {
        let now = self.config.clock().now();
        if let Some(snap) = self.fresh_snapshot(now) {
            self.maybe_refresh_in_background(now);
            return Ok(snap);
        }
        self.refresh_now().await
    }

    /// Loads keys now unless a load is already under way (then waits for it) or a recent
    /// failure is backing off (then fails at once, with the time left).
    pub(crate) async fn refresh_now(self: &Arc<Self>) -> Result<Arc<Snapshot>, AuthError> {
        match self.start_or_join(Trigger::Load) {
            Some(done) => wait(done).await,
            None => {
                if let Some(err) = self.backing_off(self.config.clock().now()) {
                    return Err(err);
                }
            }
        }
        let now = self.config.clock().now();
        self.fresh_snapshot(now)
            .ok_or_else(|| self.unavailable(now))
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
    pub(crate) async fn key_for(
        self: &Arc<Self>,
        key_ref: &KeyRef,
        snap: Arc<Snapshot>,
    ) -> Result<(Arc<Snapshot>, Arc<VerificationKey>), AuthError> {
        if let Some(key) = lookup(&snap, key_ref) {
            return Ok((snap, key));
        }
        let now = self.config.clock().now();
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
        wait(done).await;
        let now = self.config.clock().now();
        match self.fresh_snapshot(now) {
            Some(snap) => match lookup(&snap, key_ref) {
                Some(key) => Ok((snap, key)),
                None => Err(InvalidToken::UnknownSigningKey.into()),
            },
            None => Err(self.unavailable(now)),
        }
    }

    fn lookup_current(
        &self,
        key_ref: &KeyRef,
        now: i64,
    ) -> Option<(Arc<Snapshot>, Arc<VerificationKey>)> {
        let snap = self.fresh_snapshot(now)?;
        let key = lookup(&snap, key_ref)?;
        Some((snap, key))
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

    /// Joins the refresh in flight, or starts one when `trigger` calls for it. Returns what to
    /// wait on, or `None` when no refresh is in flight and none starts.
    fn start_or_join(self: &Arc<Self>, trigger: Trigger) -> Option<watch::Receiver<bool>> {
        let mut slot = self.flight.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(done) = slot.as_ref() {
            return Some(done.clone());
        }
        let now = self.config.clock().now();
        let start = match trigger {
            Trigger::Load => self.backing_off(now).is_none(),
            Trigger::UnknownKid => {
                let cooldown = secs(self.config.key_refresh().unknown_kid_cooldown);
                let last = self.last_unknown_kid_refresh.load(Ordering::Acquire);
                let cooled = last == NEVER || now.saturating_sub(last) >= cooldown || now < last;
                if cooled {
                    self.last_unknown_kid_refresh.store(now, Ordering::Release);
                    tracing::info!("unknown signing key id: refreshing keys");
                }
                cooled
            }
            Trigger::Periodic => now >= self.next_refresh_at.load(Ordering::Acquire),
        };
        if !start {
            return None;
        }
        // reqwest needs a tokio runtime anyway; without one there is nothing to fetch with.
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (done_tx, done_rx) = watch::channel(false);
        *slot = Some(done_rx.clone());
        self.flying.store(true, Ordering::Release);
        let guard = FlightGuard {
            cache: Arc::clone(self),
            done: Some(done_tx),
            finished: false,
        };
        runtime.spawn(async move {
            let mut guard = guard;
            if trigger == Trigger::Periodic {
                tracing::debug!("periodic key refresh");
            }
            guard.cache.fetch_and_store().await;
            guard.finished = true;
        });
        Some(done_rx)
    }

    /// Fetches metadata and keys and records the outcome. Runs in the refresh task only.
    async fn fetch_and_store(&self) {
        let previous = self.current.load_full();
        let result = self.fetch(previous.as_deref()).await;
        let now = self.config.clock().now();
        match result {
            Ok(fetched) => self.store(fetched, previous.as_deref(), now),
            Err(reason) => self.record_failure(reason, now),
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
        if self.config.inner.allowed_tenants == crate::config::AllowedTenants::FromIssuer
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
            v1_fetched_at: fetched.v1_fetched_at.unwrap_or(now),
            v1_unavailable: fetched.v1_unavailable,
        })));
        self.next_refresh_at.store(next, Ordering::Release);
        self.last_failure_at.store(NEVER, Ordering::Release);
    }

    fn record_failure(&self, reason: KeysUnavailableReason, now: i64) {
        // Once per attempt (a flood of requests during an outage logs per request at debug).
        tracing::warn!(error = %reason, "signing key refresh failed; keeping last-known-good keys");
        *self
            .last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(reason);
        self.last_failure_at.store(now, Ordering::Release);
        let next = now.saturating_add(secs(self.config.key_refresh().retry_after_failure));
        self.next_refresh_at.store(next, Ordering::Release);
    }

    /// One refresh: the primary discovery document then its key set, and concurrently the v1
    /// document, all within one deadline.
    async fn fetch(&self, previous: Option<&Snapshot>) -> Result<Fetched, KeysUnavailableReason> {
        let timeout = self.config.key_refresh().fetch_timeout;
        let deadline = Instant::now() + timeout;
        let late = || {
            KeysUnavailableReason::Fetch(format!(
                "the refresh did not finish within its {} ms deadline",
                timeout.as_millis()
            ))
        };
        let mut urls = self.config.metadata_urls().into_iter();
        let primary_url = urls
            .next()
            .ok_or_else(|| KeysUnavailableReason::Invalid("no discovery document URL".into()))?;
        let v1_url = urls.next();
        let primary = async {
            let doc = self.document(&primary_url).await?;
            let keys = self.key_set(&doc, &primary_url).await?;
            Ok::<_, KeysUnavailableReason>((doc, keys))
        };
        let v1 = async {
            match &v1_url {
                Some(url) => Some(self.document(url).await),
                None => None,
            }
        };
        let (primary, v1) = tokio::join!(
            tokio::time::timeout_at(deadline, primary),
            tokio::time::timeout_at(deadline, v1)
        );
        let (doc, keys) = primary.map_err(|_| late())??;
        let v1 = match v1 {
            Ok(v1) => v1,
            Err(_) => Some(Err(late())),
        };

        let primary_issuer = IssuerTemplate::new(&doc.issuer);
        let cfg = &self.config.inner;
        let tenant_id = Issuers::tenant_id_of(&primary_issuer);
        if cfg.metadata_url.is_some() {
            return Ok(Fetched {
                keys,
                issuers: Issuers {
                    custom: Some(primary_issuer),
                    tenant_id,
                    ..Issuers::default()
                },
                v1_fetched_at: None,
                v1_unavailable: None,
                v1_retry: false,
            });
        }
        let now = self.config.clock().now();
        let max_stale = secs(cfg.key_refresh.max_stale);
        // A failed v1 document keeps the v1 issuer read earlier while it is within the maximum
        // age; without one, v1 tokens get 503 (and only they).
        let (v1_issuer, v1_fetched_at, v1_unavailable, v1_retry) = match v1 {
            None => (None, None, None, false),
            Some(Ok(doc)) => (Some(IssuerTemplate::new(&doc.issuer)), None, None, false),
            Some(Err(reason)) => match previous {
                Some(prev)
                    if prev.issuers.v1.is_some()
                        && now.saturating_sub(prev.v1_fetched_at) <= max_stale =>
                {
                    tracing::warn!(error = %reason, "the v1 discovery document could not be loaded; keeping the v1 issuer read earlier");
                    (
                        prev.issuers.v1.clone(),
                        Some(prev.v1_fetched_at),
                        None,
                        true,
                    )
                }
                _ => (None, None, Some(reason), true),
            },
        };
        Ok(Fetched {
            keys,
            issuers: Issuers {
                v1: v1_issuer,
                v2: cfg.versions.v2.then(|| primary_issuer.clone()),
                v2_form: Some(primary_issuer),
                custom: None,
                tenant_id,
            },
            v1_fetched_at,
            v1_unavailable,
            v1_retry,
        })
    }

    async fn document(&self, url: &Url) -> Result<DiscoveryDocument, KeysUnavailableReason> {
        self.metadata_fetches.fetch_add(1, Ordering::Relaxed);
        let bytes = self.get(url).await?;
        DiscoveryDocument::parse(&bytes).map_err(KeysUnavailableReason::Invalid)
    }

    async fn key_set(
        &self,
        doc: &DiscoveryDocument,
        document_url: &Url,
    ) -> Result<KeySet, KeysUnavailableReason> {
        let url = Url::parse(&doc.jwks_uri).map_err(|_| {
            KeysUnavailableReason::Invalid("the discovery document's jwks_uri is not a URL".into())
        })?;
        check_linked_url(&url, document_url).map_err(|m| {
            KeysUnavailableReason::Invalid(format!("the discovery document's jwks_uri {m}"))
        })?;
        self.key_set_fetches.fetch_add(1, Ordering::Relaxed);
        let bytes = self.get(&url).await?;
        KeySet::parse(&bytes).map_err(KeysUnavailableReason::Invalid)
    }

    async fn get(&self, url: &Url) -> Result<Vec<u8>, KeysUnavailableReason> {
        let cap = self.config.key_refresh().max_body_bytes;
        let mut response = self
            .http
            .get(url.clone())
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| KeysUnavailableReason::Fetch(describe(&e, url)))?;
        // Our own client follows no redirect; one a user supplies might (even https -> http).
        // Keys and issuers are read only from the URL the configuration or document names.
        if response.url() != url {
            return Err(KeysUnavailableReason::Fetch(format!(
                "GET {url} was redirected; redirects are not followed for metadata and keys"
            )));
        }
        let status = response.status();
        if !status.is_success() {
            return Err(KeysUnavailableReason::Fetch(format!(
                "{url} answered HTTP {}",
                status.as_u16()
            )));
        }
        if response
            .content_length()
            .is_some_and(|len| len > cap as u64)
        {
            return Err(KeysUnavailableReason::Invalid(format!(
                "{url} sent more than {cap} bytes"
            )));
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > cap {
                        return Err(KeysUnavailableReason::Invalid(format!(
                            "{url} sent more than {cap} bytes"
                        )));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(KeysUnavailableReason::Fetch(describe(&e, url))),
            }
        }
        Ok(body)
    }
}

/// What one successful refresh brought.
struct Fetched {
    keys: KeySet,
    issuers: Issuers,
    /// When the v1 issuer was read, if it was carried over from an earlier refresh.
    v1_fetched_at: Option<i64>,
    v1_unavailable: Option<KeysUnavailableReason>,
    /// The v1 document failed (its issuer may be carried over): retry soon.
    v1_retry: bool,
}

/// Owned by the refresh task. However the task ends (done, panicked, or dropped with its
/// runtime), this leaves the flight slot, records an unfinished attempt as a failure, and wakes
/// every waiter.
struct FlightGuard {
    cache: Arc<KeyCache>,
    done: Option<watch::Sender<bool>>,
    finished: bool,
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        let cache = &self.cache;
        if !self.finished {
            let reason = KeysUnavailableReason::Fetch("the key refresh ended unfinished".into());
            cache.record_failure(reason, cache.config.clock().now());
        }
        *cache.flight.lock().unwrap_or_else(PoisonError::into_inner) = None;
        cache.flying.store(false, Ordering::Release);
        if let Some(done) = self.done.take() {
            done.send_replace(true);
        }
    }
}

/// Waits for the refresh behind `done` to finish. Dropping this future (a caller that gives up)
/// leaves the refresh running.
async fn wait(mut done: watch::Receiver<bool>) {
    // An error means the sender is gone: the refresh has finished either way.
    let _ = done.wait_for(|finished| *finished).await;
}

fn lookup(snap: &Snapshot, key_ref: &KeyRef) -> Option<Arc<VerificationKey>> {
    match key_ref {
        KeyRef::Kid(kid) => snap.keys.get(kid),
        KeyRef::X5t(x5t) => snap.keys.get_by_x5t(x5t),
    }
    .cloned()
}

fn describe(e: &reqwest::Error, url: &Url) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "failed while reading the body"
    } else if e.is_redirect() {
        "was redirected"
    } else {
        "failed"
    };
    format!("GET {url} {what}")
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}
