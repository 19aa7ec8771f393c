//! The HTTP side of one refresh: the primary discovery document then its key set, and
//! concurrently the v1 document, all within one deadline; bodies capped, redirects refused.

use std::sync::atomic::Ordering;

use tokio::time::Instant;
use url::Url;

use super::discovery::{DiscoveryDocument, IssuerTemplate};
use super::key_set::KeySet;
use super::{KeyCache, Snapshot, secs};
use crate::config::check_linked_url;
use crate::error::KeysUnavailableReason;
use crate::validate::Issuers;

impl KeyCache {
    /// One refresh: the primary discovery document then its key set, and concurrently the v1
    /// document, all within one deadline.
    pub(super) async fn fetch(
        &self,
        previous: Option<&Snapshot>,
    ) -> Result<Fetched, KeysUnavailableReason> {
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
        let now = self.config.now();
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
pub(super) struct Fetched {
    pub(super) keys: KeySet,
    pub(super) issuers: Issuers,
    /// When the v1 issuer was read, if it was carried over from an earlier refresh.
    pub(super) v1_fetched_at: Option<i64>,
    pub(super) v1_unavailable: Option<KeysUnavailableReason>,
    /// The v1 document failed (its issuer may be carried over): retry soon.
    pub(super) v1_retry: bool,
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
