//! The key source: discovery documents and key sets, fetched and cached.
//!
//! * Reads take no lock: the current [`Snapshot`] (keys + issuers) is an immutable value behind
//!   an `ArcSwap`, replaced whole after a successful fetch.
//! * One fetch in flight at a time, shared by all waiters (an async mutex that only refreshes
//!   take, and a counter of attempts so that waiters do not fetch again).
//! * An unknown `kid` triggers a refresh at most once per cooldown (5 minutes by default); other
//!   unknown kids in the window are rejected without any I/O.
//! * A periodic refresh (12 h with jitter) runs in the background while the current keys keep
//!   serving (stale-while-revalidate).
//! * A failed fetch never replaces good keys. Keys stay usable up to the maximum age (24 h) after
//!   the last success; with none usable, callers get [`AuthError::KeysUnavailable`] (503).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use url::Url;

use crate::config::{EntraConfig, check_scheme};
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
}

impl Snapshot {
    pub(crate) fn keys(&self) -> &KeySet {
        &self.keys
    }
}

const NEVER: i64 = i64::MIN;

pub(crate) struct KeyCache {
    config: EntraConfig,
    http: reqwest::Client,
    current: ArcSwapOption<Snapshot>,
    refresh_lock: tokio::sync::Mutex<()>,
    attempts: AtomicU64,
    in_flight: AtomicBool,
    background_scheduled: AtomicBool,
    last_failure_at: AtomicI64,
    last_failure: std::sync::Mutex<Option<KeysUnavailableReason>>,
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
            refresh_lock: tokio::sync::Mutex::new(()),
            attempts: AtomicU64::new(0),
            in_flight: AtomicBool::new(false),
            background_scheduled: AtomicBool::new(false),
            last_failure_at: AtomicI64::new(NEVER),
            last_failure: std::sync::Mutex::new(None),
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

    /// Whether the current, usable snapshot still has this key under its id (for the
    /// verified-token cache: a key that left the set, or an id that now names another key,
    /// ends the cached tokens it signed).
    pub(crate) fn current_has(&self, key: &Arc<VerificationKey>, now: i64) -> bool {
        let guard = self.current.load();
        match guard.as_ref() {
            Some(snap) if self.is_usable(snap, now) => snap
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

    /// Loads keys now unless a load is already under way (then waits for it).
    pub(crate) async fn refresh_now(&self) -> Result<Arc<Snapshot>, AuthError> {
        let seen = self.attempts.load(Ordering::Acquire);
        if let Some(err) = self.backing_off() {
            return Err(err);
        }
        let _guard = self.refresh_lock.lock().await;
        let now = self.config.clock().now();
        if self.attempts.load(Ordering::Acquire) != seen {
            // Someone else attempted while we waited: use their outcome.
            return match self.fresh_snapshot(now) {
                Some(snap) => Ok(snap),
                None => Err(self.unavailable(now)),
            };
        }
        match self.fetch_and_store().await {
            Ok(snap) => Ok(snap),
            Err(_) => Err(self.unavailable(self.config.clock().now())),
        }
    }

    fn backing_off(&self) -> Option<AuthError> {
        let now = self.config.clock().now();
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
            .map(|g| g.clone())
            .ok()
            .flatten()
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
        &self,
        key_ref: &KeyRef,
        snap: Arc<Snapshot>,
    ) -> Result<(Arc<Snapshot>, Arc<VerificationKey>), AuthError> {
        if let Some(key) = lookup(&snap, key_ref) {
            return Ok((snap, key));
        }
        // Read the attempt counter before looking at the current snapshot: if a refresh completes
        // after this point, the counter shows it when we get the lock below.
        let seen = self.attempts.load(Ordering::Acquire);
        let now = self.config.clock().now();
        if let Some(found) = self.lookup_current(key_ref, now) {
            return Ok(found);
        }
        let cooldown = secs(self.config.key_refresh().unknown_kid_cooldown);
        let in_flight = self.in_flight.load(Ordering::Acquire);
        let last = self.last_unknown_kid_refresh.load(Ordering::Acquire);
        let cooled = last == NEVER || now.saturating_sub(last) >= cooldown || now < last;
        if !cooled && !in_flight {
            // Within the cooldown and nothing in flight: no I/O. A refresh may have landed in
            // the meantime (key rotation under load), so look once more.
            return self
                .lookup_current(key_ref, now)
                .ok_or_else(|| InvalidToken::UnknownSigningKey.into());
        }
        let _guard = self.refresh_lock.lock().await;
        let now = self.config.clock().now();
        if self.attempts.load(Ordering::Acquire) == seen {
            let last = self.last_unknown_kid_refresh.load(Ordering::Acquire);
            let cooled = last == NEVER || now.saturating_sub(last) >= cooldown || now < last;
            if !cooled {
                return Err(InvalidToken::UnknownSigningKey.into());
            }
            // Mark the refresh in flight before publishing the cooldown, so that a request that
            // sees the new cooldown also sees the refresh and waits for it.
            self.in_flight.store(true, Ordering::Release);
            self.last_unknown_kid_refresh.store(now, Ordering::Release);
            tracing::info!(
                kid = key_ref.id(),
                "unknown signing key id: refreshing keys"
            );
            // A failure keeps the old keys; the token is still unknown.
            let _ = self.fetch_and_store().await;
        }
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

    pub(crate) fn maybe_refresh_in_background(self: &Arc<Self>, now: i64) {
        if now < self.next_refresh_at.load(Ordering::Relaxed) {
            return;
        }
        if self.background_scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            self.background_scheduled.store(false, Ordering::Release);
            return;
        };
        let this = Arc::clone(self);
        handle.spawn(async move {
            {
                let _guard = this.refresh_lock.lock().await;
                let now = this.config.clock().now();
                if now >= this.next_refresh_at.load(Ordering::Acquire) {
                    tracing::debug!("periodic key refresh");
                    let _ = this.fetch_and_store().await;
                }
            }
            this.background_scheduled.store(false, Ordering::Release);
        });
    }

    /// Fetches metadata and keys; stores them on success. Call with the refresh lock held.
    async fn fetch_and_store(&self) -> Result<Arc<Snapshot>, KeysUnavailableReason> {
        self.in_flight.store(true, Ordering::Release);
        let result = self.fetch().await;
        let now = self.config.clock().now();
        let policy = self.config.key_refresh();
        let outcome = match result {
            Ok((keys, issuers)) => {
                tracing::info!(
                    keys = keys.len(),
                    skipped = keys.skipped(),
                    "signing keys loaded"
                );
                let snap = Arc::new(Snapshot {
                    keys,
                    issuers,
                    fetched_at: now,
                });
                self.current.store(Some(snap.clone()));
                let jitter = secs(policy.jitter).min(secs(policy.refresh_interval));
                let jitter = if jitter > 0 {
                    fastrand::i64(0..=jitter)
                } else {
                    0
                };
                let next = now.saturating_add(secs(policy.refresh_interval) - jitter);
                self.next_refresh_at.store(next, Ordering::Release);
                self.last_failure_at.store(NEVER, Ordering::Release);
                Ok(snap)
            }
            Err(reason) => {
                tracing::warn!(error = %reason, "signing key refresh failed; keeping last-known-good keys");
                if let Ok(mut g) = self.last_failure.lock() {
                    *g = Some(reason.clone());
                }
                self.last_failure_at.store(now, Ordering::Release);
                let next = now.saturating_add(secs(policy.retry_after_failure));
                self.next_refresh_at.store(next, Ordering::Release);
                Err(reason)
            }
        };
        self.attempts.fetch_add(1, Ordering::AcqRel);
        self.in_flight.store(false, Ordering::Release);
        outcome
    }

    async fn fetch(&self) -> Result<(KeySet, Issuers), KeysUnavailableReason> {
        let urls = self.config.metadata_urls();
        let mut docs = Vec::with_capacity(urls.len());
        for url in urls {
            self.metadata_fetches.fetch_add(1, Ordering::Relaxed);
            let bytes = self.get(&url).await?;
            let doc = DiscoveryDocument::parse(&bytes).map_err(KeysUnavailableReason::Invalid)?;
            docs.push(doc);
        }
        let cfg = &self.config.inner;
        let issuers = if cfg.metadata_url.is_some() {
            Issuers {
                custom: docs.first().map(|d| IssuerTemplate::new(&d.issuer)),
                ..Issuers::default()
            }
        } else {
            let v2 = docs.first().map(|d| IssuerTemplate::new(&d.issuer));
            Issuers {
                v1: if cfg.versions.v1 {
                    docs.get(1).map(|d| IssuerTemplate::new(&d.issuer))
                } else {
                    None
                },
                v2: if cfg.versions.v2 { v2.clone() } else { None },
                v2_form: v2,
                custom: None,
            }
        };
        // Keys come from the first document's key set (v2, or the custom authority's): Entra's v2
        // key set carries each key's `issuer`, and it also signs v1 tokens. The v1 document is
        // read for its issuer only, as Microsoft.Identity.Web does.
        let doc = docs
            .first()
            .ok_or_else(|| KeysUnavailableReason::Invalid("no discovery document".into()))?;
        let url = Url::parse(&doc.jwks_uri).map_err(|_| {
            KeysUnavailableReason::Invalid("the discovery document's jwks_uri is not a URL".into())
        })?;
        check_scheme(&url).map_err(|m| {
            KeysUnavailableReason::Invalid(format!("the discovery document's jwks_uri {m}"))
        })?;
        self.key_set_fetches.fetch_add(1, Ordering::Relaxed);
        let bytes = self.get(&url).await?;
        let keys = KeySet::parse(&bytes).map_err(KeysUnavailableReason::Invalid)?;
        Ok((keys, issuers))
    }

    async fn get(&self, url: &Url) -> Result<Vec<u8>, KeysUnavailableReason> {
        let policy = self.config.key_refresh();
        let cap = policy.max_body_bytes;
        let mut response = self
            .http
            .get(url.clone())
            .header(http::header::ACCEPT, "application/json")
            .timeout(policy.fetch_timeout)
            .send()
            .await
            .map_err(|e| KeysUnavailableReason::Fetch(describe(&e, url)))?;
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
    } else {
        "failed"
    };
    format!("GET {url} {what}")
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}
