//! [`EntraConfig`]: which tenant(s), which audiences, which authority, and the policies.
//!
//! Build one with [`EntraConfig::builder`] or [`EntraConfig::from_env`]. An unusable
//! configuration is an error when it is built, never a surprise on the first request.
//!
//! ```
//! use entra_auth::EntraConfig;
//! let config = EntraConfig::builder()
//!     .tenant("72f988bf-86f1-41af-91ab-2d7cd011db47")
//!     .client_id("6e74172b-be56-4843-9ff4-e66a39bb12e3")
//!     .build()
//!     .expect("valid config");
//! assert_eq!(
//!     config.audiences(),
//!     ["6e74172b-be56-4843-9ff4-e66a39bb12e3", "api://6e74172b-be56-4843-9ff4-e66a39bb12e3"]
//! );
//! ```
//!
//! Rooms: this file holds the validated [`EntraConfig`] and reading it from the environment;
//! `builder` the builder and every rule a configuration must meet; `policy` the policy types
//! (tenants, versions, key refresh, the verified-token cache, token sources); `urls` the URL
//! rules (https, loopback http, links between documents).

mod builder;
mod policy;
mod urls;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::error::ConfigError;
use entra_core::Clock;

pub use builder::EntraConfigBuilder;
pub use policy::{
    AZURE_CHINA, AZURE_PUBLIC_CLOUD, AZURE_US_GOVERNMENT, AllowedTenants, KeyRefreshPolicy,
    MAX_LEEWAY, Tenant, TokenCachePolicy, TokenSources, TokenVersions,
};
pub(crate) use urls::check_linked_url;

pub(crate) struct ConfigInner {
    pub(crate) tenant: Tenant,
    pub(crate) allowed_tenants: AllowedTenants,
    pub(crate) client_id: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) authority: Url,
    pub(crate) metadata_url: Option<Url>,
    pub(crate) versions: TokenVersions,
    pub(crate) leeway: Duration,
    pub(crate) max_token_bytes: usize,
    pub(crate) require_scope_or_role: bool,
    pub(crate) accept_id_tokens: bool,
    pub(crate) metrics_tenant_label: bool,
    pub(crate) key_refresh: KeyRefreshPolicy,
    pub(crate) token_cache: TokenCachePolicy,
    pub(crate) realm: Option<String>,
    pub(crate) sources: TokenSources,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) http: Option<reqwest::Client>,
}

/// The validated configuration. Cheap to clone.
#[derive(Clone)]
pub struct EntraConfig {
    pub(crate) inner: Arc<ConfigInner>,
}

impl fmt::Debug for EntraConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.inner;
        f.debug_struct("EntraConfig")
            .field("tenant", &c.tenant)
            .field("allowed_tenants", &c.allowed_tenants)
            .field("client_id", &c.client_id)
            .field("audiences", &c.audiences)
            .field("authority", &c.authority.as_str())
            .field("metadata_url", &c.metadata_url.as_ref().map(Url::as_str))
            .field("versions", &c.versions)
            .field("leeway", &c.leeway)
            .field("max_token_bytes", &c.max_token_bytes)
            .field("require_scope_or_role", &c.require_scope_or_role)
            .field("accept_id_tokens", &c.accept_id_tokens)
            .field("metrics_tenant_label", &c.metrics_tenant_label)
            .field("key_refresh", &c.key_refresh)
            .field("token_cache", &c.token_cache)
            .field("realm", &c.realm)
            .field("sources", &c.sources)
            .finish_non_exhaustive()
    }
}

impl EntraConfig {
    /// Starts a builder.
    pub fn builder() -> EntraConfigBuilder {
        EntraConfigBuilder::default()
    }

    /// Reads the configuration from the environment:
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `ENTRA_TENANT_ID` | tenant id (GUID) or verified domain, or `common` / `organizations` (required) |
    /// | `ENTRA_CLIENT_ID` | the API's client id (required) |
    /// | `ENTRA_AUDIENCE` | comma-separated audiences replacing `{client_id}`, `api://{client_id}` |
    /// | `ENTRA_AUTHORITY` | authority host, e.g. `https://login.microsoftonline.us` |
    /// | `ENTRA_ALLOWED_TENANTS` | comma-separated tenant ids (GUIDs) for multi-tenant mode, or `*` for any |
    pub fn from_env() -> Result<EntraConfig, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`EntraConfig::from_env`], reading variables through `lookup` (for tests).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<EntraConfig, ConfigError> {
        Self::builder_from_lookup(lookup)?.build()
    }

    /// A builder pre-filled from the environment, to which code can add settings.
    pub fn builder_from_env() -> Result<EntraConfigBuilder, ConfigError> {
        Self::builder_from_lookup(|name| std::env::var(name).ok())
    }

    fn builder_from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<EntraConfigBuilder, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let tenant =
            get("ENTRA_TENANT_ID").ok_or_else(|| ConfigError::new("ENTRA_TENANT_ID is not set"))?;
        let client_id =
            get("ENTRA_CLIENT_ID").ok_or_else(|| ConfigError::new("ENTRA_CLIENT_ID is not set"))?;
        let mut builder = EntraConfig::builder().tenant(tenant).client_id(client_id);
        if let Some(aud) = get("ENTRA_AUDIENCE") {
            builder = builder.audiences(split_list(&aud));
        }
        if let Some(authority) = get("ENTRA_AUTHORITY") {
            builder = builder.authority(authority);
        }
        if let Some(allowed) = get("ENTRA_ALLOWED_TENANTS") {
            if allowed == "*" {
                builder = builder.allow_any_tenant();
            } else {
                builder = builder.allowed_tenants(split_list(&allowed));
            }
        }
        Ok(builder)
    }

    /// The tenant setting.
    pub fn tenant(&self) -> &Tenant {
        &self.inner.tenant
    }

    /// The API's client id.
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// The accepted audiences.
    pub fn audiences(&self) -> &[String] {
        &self.inner.audiences
    }

    /// The authority host, e.g. `https://login.microsoftonline.com`.
    pub fn authority(&self) -> &Url {
        &self.inner.authority
    }

    /// The accepted token versions.
    pub fn versions(&self) -> TokenVersions {
        self.inner.versions
    }

    /// The clock-skew leeway for `exp` and `nbf`.
    pub fn leeway(&self) -> Duration {
        self.inner.leeway
    }

    /// Whether v2 ID tokens for the API's own client id are accepted as bearer tokens (off
    /// unless [`accept_id_tokens`](EntraConfigBuilder::accept_id_tokens) turned it on).
    pub fn accepts_id_tokens(&self) -> bool {
        self.inner.accept_id_tokens
    }

    /// The key refresh policy.
    pub fn key_refresh(&self) -> &KeyRefreshPolicy {
        &self.inner.key_refresh
    }

    /// The verified-token cache policy.
    pub fn token_cache(&self) -> TokenCachePolicy {
        self.inner.token_cache
    }

    /// The realm put in `WWW-Authenticate` challenges, if any.
    pub fn realm(&self) -> Option<&str> {
        self.inner.realm.as_deref()
    }

    /// The discovery document URLs fetched for keys and issuers: v2 first (always fetched: its
    /// key set carries the per-key `issuer`), then v1 when v1 tokens are accepted. With a custom
    /// metadata URL (B2C / External ID), just that one.
    pub fn metadata_urls(&self) -> Vec<Url> {
        let c = &self.inner;
        if let Some(url) = &c.metadata_url {
            return vec![url.clone()];
        }
        let mut urls = Vec::with_capacity(2);
        let base = c.authority.as_str().trim_end_matches('/');
        let tenant = c.tenant.segment();
        let v2 = format!("{base}/{tenant}/v2.0/.well-known/openid-configuration");
        let v1 = format!("{base}/{tenant}/.well-known/openid-configuration");
        for raw in [Some(v2), c.versions.v1.then_some(v1)]
            .into_iter()
            .flatten()
        {
            if let Ok(mut url) = Url::parse(&raw) {
                url.query_pairs_mut().append_pair("appid", &c.client_id);
                urls.push(url);
            }
        }
        urls
    }

    /// The time, in seconds since the Unix epoch, from the configured clock.
    pub(crate) fn now(&self) -> i64 {
        self.inner.clock.unix_seconds()
    }
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}
