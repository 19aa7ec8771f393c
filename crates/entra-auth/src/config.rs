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

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::clock::{Clock, SystemClock};
use crate::error::ConfigError;
use crate::validate::{Issuers, is_tenant_id};

/// The global Azure cloud (the default authority host).
pub const AZURE_PUBLIC_CLOUD: &str = "https://login.microsoftonline.com";
/// The Azure US Government cloud.
pub const AZURE_US_GOVERNMENT: &str = "https://login.microsoftonline.us";
/// The Azure China cloud operated by 21Vianet.
pub const AZURE_CHINA: &str = "https://login.chinacloudapi.cn";

/// The largest leeway accepted for `exp` / `nbf`.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// Which tenants' tokens are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tenant {
    /// One tenant, by id (a GUID, kept in lower case) or verified domain name (such as
    /// `contoso.onmicrosoft.com`; its tenant id is taken from the discovery document's issuer).
    Single(String),
    /// Multi-tenant through the `common` endpoint (work/school accounts and personal accounts'
    /// tenants as Entra issues them).
    Common,
    /// Multi-tenant through the `organizations` endpoint (work and school accounts).
    Organizations,
}

impl Tenant {
    /// The path segment used in authority URLs.
    pub fn segment(&self) -> &str {
        match self {
            Tenant::Single(id) => id,
            Tenant::Common => "common",
            Tenant::Organizations => "organizations",
        }
    }

    /// Whether tokens from several tenants may be accepted.
    pub fn is_multi_tenant(&self) -> bool {
        !matches!(self, Tenant::Single(_))
    }

    fn parse(value: &str) -> Result<Tenant, ConfigError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(ConfigError::new("the tenant is empty"));
        }
        match value.to_ascii_lowercase().as_str() {
            "common" => Ok(Tenant::Common),
            "organizations" => Ok(Tenant::Organizations),
            "consumers" => Err(ConfigError::new(
                "the `consumers` tenant issues tokens for personal Microsoft accounts only; use `common` with an allow-list",
            )),
            _ => {
                let ok = value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
                let lower = value.to_ascii_lowercase();
                if is_tenant_id(&lower) {
                    Ok(Tenant::Single(lower))
                } else if ok {
                    Ok(Tenant::Single(value.to_owned()))
                } else {
                    Err(ConfigError::new(format!(
                        "`{value}` is not a tenant id or domain"
                    )))
                }
            }
        }
    }
}

/// The tenants whose tokens are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllowedTenants {
    /// Only these tenant ids (GUIDs, in lower case as Entra writes `tid`).
    List(HashSet<String>),
    /// Any tenant: chosen explicitly with [`EntraConfigBuilder::allow_any_tenant`].
    Any,
    /// The one tenant whose id the discovery document's concrete issuer names: a tenant
    /// configured by domain name, whose tokens carry the tenant's GUID in `tid`.
    FromIssuer,
}

impl AllowedTenants {
    /// Whether tokens of tenant `tid` are accepted; `None` when that depends on the discovery
    /// document and `issuers` is not given.
    pub fn allows(&self, tid: &str, issuers: Option<&Issuers>) -> Option<bool> {
        match self {
            AllowedTenants::Any => Some(true),
            AllowedTenants::List(set) => Some(set.contains(tid)),
            AllowedTenants::FromIssuer => issuers.map(|i| i.tenant_id.as_deref() == Some(tid)),
        }
    }

    /// Whether tokens of tenant `tid` are accepted, given the issuers the discovery documents
    /// declared.
    pub fn allows_with(&self, tid: &str, issuers: &Issuers) -> bool {
        self.allows(tid, Some(issuers)) == Some(true)
    }
}

/// Which Entra access-token versions are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenVersions {
    /// v1.0 tokens (issuer `https://sts.windows.net/{tid}/`).
    pub v1: bool,
    /// v2.0 tokens (issuer `{authority}/{tid}/v2.0`).
    pub v2: bool,
}

impl TokenVersions {
    /// Both versions (the default): which one an API receives depends on its app registration's
    /// `accessTokenAcceptedVersion`, so accepting both is what Microsoft.Identity.Web does.
    pub const BOTH: TokenVersions = TokenVersions { v1: true, v2: true };
    /// Only v2.0 tokens.
    pub const V2_ONLY: TokenVersions = TokenVersions {
        v1: false,
        v2: true,
    };
    /// Only v1.0 tokens.
    pub const V1_ONLY: TokenVersions = TokenVersions {
        v1: true,
        v2: false,
    };
}

impl Default for TokenVersions {
    fn default() -> Self {
        Self::BOTH
    }
}

/// How signing keys and metadata are fetched and kept.
///
/// The defaults follow Microsoft.IdentityModel's `ConfigurationManager`: a periodic refresh
/// every 12 hours (with jitter so a fleet does not refresh in step), a refresh on an unknown
/// `kid` at most once per 5 minutes, and last-known-good keys kept for up to 24 hours when Entra
/// cannot be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyRefreshPolicy {
    /// How often keys are refreshed in the background (stale-while-revalidate).
    pub refresh_interval: Duration,
    /// Random jitter subtracted from each refresh interval (at most the interval itself).
    pub jitter: Duration,
    /// Minimum time between two refreshes triggered by tokens with an unknown key id.
    pub unknown_kid_cooldown: Duration,
    /// How long keys stay usable after the last successful fetch when refreshes fail.
    pub max_stale: Duration,
    /// The deadline of one refresh: the discovery documents (fetched concurrently) and the key
    /// set together. Also the connect and request timeout of the default HTTP client.
    pub fetch_timeout: Duration,
    /// Largest accepted metadata or key-set body.
    pub max_body_bytes: usize,
    /// After a failed fetch, how long before another is attempted (the `Retry-After` of 503s
    /// while no keys are available).
    pub retry_after_failure: Duration,
}

impl Default for KeyRefreshPolicy {
    fn default() -> Self {
        Self {
            refresh_interval: Duration::from_secs(12 * 3600),
            jitter: Duration::from_secs(3600),
            unknown_kid_cooldown: Duration::from_secs(300),
            max_stale: Duration::from_secs(24 * 3600),
            fetch_timeout: Duration::from_secs(10),
            max_body_bytes: 1024 * 1024,
            retry_after_failure: Duration::from_secs(10),
        }
    }
}

/// The verified-token cache: skips signature work for a token already verified.
///
/// The key is the exact token string (no hash collision can map one token onto another's
/// claims); the value is the validated claims. An entry never outlives the token's `exp`, is not
/// used before its `nbf`, and is dropped when its signing key leaves the key set. Capacity is
/// bounded. See the crate docs for the security reasoning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenCachePolicy {
    /// Whether the cache is used (default: yes).
    pub enabled: bool,
    /// Maximum number of cached tokens (default: 10,000).
    pub max_entries: u64,
}

impl Default for TokenCachePolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            max_entries: 10_000,
        }
    }
}

impl TokenCachePolicy {
    /// No cache: every request pays for full validation.
    pub const DISABLED: TokenCachePolicy = TokenCachePolicy {
        enabled: false,
        max_entries: 0,
    };
}

/// Where the bearer token may be read from besides the `Authorization` header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenSources {
    /// A query-string parameter (for example `access_token`); off by default.
    pub query_parameter: Option<String>,
    /// A cookie name; off by default.
    pub cookie: Option<String>,
}

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

    pub(crate) fn clock(&self) -> &dyn Clock {
        &*self.inner.clock
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

/// Builder for [`EntraConfig`]; see [`EntraConfig::builder`].
#[derive(Default)]
#[must_use]
pub struct EntraConfigBuilder {
    tenant: Option<String>,
    allowed_tenants: Option<Vec<String>>,
    any_tenant: bool,
    client_id: Option<String>,
    audiences: Option<Vec<String>>,
    authority: Option<String>,
    metadata_url: Option<String>,
    versions: Option<TokenVersions>,
    leeway: Option<Duration>,
    max_token_bytes: Option<usize>,
    require_scope_or_role: Option<bool>,
    key_refresh: Option<KeyRefreshPolicy>,
    token_cache: Option<TokenCachePolicy>,
    realm: Option<String>,
    sources: TokenSources,
    clock: Option<Arc<dyn Clock>>,
    http: Option<reqwest::Client>,
}

impl fmt::Debug for EntraConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntraConfigBuilder")
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl EntraConfigBuilder {
    /// The tenant: a tenant id (GUID) or domain for a single-tenant API, or `common` /
    /// `organizations` for a multi-tenant one (which then needs
    /// [`allowed_tenants`](Self::allowed_tenants) or [`allow_any_tenant`](Self::allow_any_tenant)).
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Multi-tenant: the tenant ids whose tokens are accepted.
    pub fn allowed_tenants<I, S>(mut self, tenants: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_tenants = Some(tenants.into_iter().map(Into::into).collect());
        self
    }

    /// Multi-tenant: accept tokens from any tenant. Authorization (roles, calling apps) must then
    /// be done by the application.
    pub fn allow_any_tenant(mut self) -> Self {
        self.any_tenant = true;
        self
    }

    /// The API's application (client) id.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Accepted audiences, replacing the default `{client_id}` and `api://{client_id}`.
    pub fn audiences<I, S>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audiences = Some(audiences.into_iter().map(Into::into).collect());
        self
    }

    /// The authority host, e.g. [`AZURE_US_GOVERNMENT`] or a local emulator's
    /// `http://127.0.0.1:PORT`. Plain `http://` is accepted only for loopback hosts.
    pub fn authority(mut self, authority: impl Into<String>) -> Self {
        self.authority = Some(authority.into());
        self
    }

    /// A full discovery-document URL, for Azure AD B2C or Entra External ID authorities
    /// (e.g. `https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_signin/v2.0/.well-known/openid-configuration`).
    /// Tokens must carry exactly the issuer that document declares.
    pub fn metadata_url(mut self, url: impl Into<String>) -> Self {
        self.metadata_url = Some(url.into());
        self
    }

    /// Which token versions are accepted (default: both).
    pub fn versions(mut self, versions: TokenVersions) -> Self {
        self.versions = Some(versions);
        self
    }

    /// Clock-skew leeway for `exp` and `nbf` (default 60 s, at most 5 min).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = Some(leeway);
        self
    }

    /// Largest accepted token in bytes (default 16 KiB).
    pub fn max_token_size(mut self, bytes: usize) -> Self {
        self.max_token_bytes = Some(bytes);
        self
    }

    /// Whether a token must carry `scp` or `roles` (default: yes, as Microsoft.Identity.Web).
    pub fn require_scope_or_role(mut self, required: bool) -> Self {
        self.require_scope_or_role = Some(required);
        self
    }

    /// The key refresh policy.
    pub fn key_refresh(mut self, policy: KeyRefreshPolicy) -> Self {
        self.key_refresh = Some(policy);
        self
    }

    /// The verified-token cache policy (default: on, 10,000 entries).
    pub fn token_cache(mut self, policy: TokenCachePolicy) -> Self {
        self.token_cache = Some(policy);
        self
    }

    /// A realm for `WWW-Authenticate` challenges.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Also read the token from this query parameter (off by default: URLs end up in logs).
    pub fn token_from_query(mut self, parameter: impl Into<String>) -> Self {
        self.sources.query_parameter = Some(parameter.into());
        self
    }

    /// Also read the token from this cookie (off by default).
    pub fn token_from_cookie(mut self, cookie: impl Into<String>) -> Self {
        self.sources.cookie = Some(cookie.into());
        self
    }

    /// The time source (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The HTTP client used to fetch metadata and keys (default: a rustls client with the
    /// policy's timeout and no redirects).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Checks the settings and builds the configuration.
    pub fn build(self) -> Result<EntraConfig, ConfigError> {
        let tenant_raw = self
            .tenant
            .ok_or_else(|| ConfigError::new("a tenant is required"))?;
        let tenant = Tenant::parse(&tenant_raw)?;
        let client_id = self
            .client_id
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ConfigError::new("the API's client id is required"))?;

        let allowed_tenants = match (&tenant, self.any_tenant, self.allowed_tenants) {
            (Tenant::Single(_), true, _) | (Tenant::Single(_), _, Some(_)) => {
                return Err(ConfigError::new(
                    "allowed tenants apply to multi-tenant configurations only (tenant `common` or `organizations`)",
                ));
            }
            (Tenant::Single(id), false, None) if is_tenant_id(id) => {
                AllowedTenants::List(HashSet::from([id.clone()]))
            }
            // A domain name: tokens carry the tenant's GUID, which the discovery document for
            // the domain names in its issuer.
            (Tenant::Single(_), false, None) => AllowedTenants::FromIssuer,
            (_, true, Some(_)) => {
                return Err(ConfigError::new(
                    "choose either an allow-list of tenants or any tenant, not both",
                ));
            }
            (_, true, None) => AllowedTenants::Any,
            (_, false, Some(list)) => {
                let set: HashSet<String> = list
                    .iter()
                    .map(|t| t.trim().to_ascii_lowercase())
                    .filter(|t| !t.is_empty())
                    .collect();
                if let Some(bad) = set.iter().find(|t| !is_tenant_id(t)) {
                    return Err(ConfigError::new(format!(
                        "`{bad}` in the allowed tenants is not a tenant id (a GUID): tokens name their tenant by id, so a domain name would never match"
                    )));
                }
                if set.is_empty() {
                    return Err(ConfigError::new("the allow-list of tenants is empty"));
                }
                AllowedTenants::List(set)
            }
            (_, false, None) => {
                return Err(ConfigError::new(
                    "a multi-tenant configuration needs an allow-list of tenant ids (or allow_any_tenant())",
                ));
            }
        };

        let audiences = match self.audiences {
            Some(list) => {
                let list: Vec<String> = list
                    .into_iter()
                    .map(|a| a.trim().to_owned())
                    .filter(|a| !a.is_empty())
                    .collect();
                if list.is_empty() {
                    return Err(ConfigError::new("the audience list is empty"));
                }
                list
            }
            None => vec![client_id.clone(), format!("api://{client_id}")],
        };

        let authority = parse_endpoint(
            self.authority.as_deref().unwrap_or(AZURE_PUBLIC_CLOUD),
            "authority",
        )?;
        if authority.query().is_some() || authority.fragment().is_some() {
            return Err(ConfigError::new(
                "the authority must not have a query or fragment",
            ));
        }
        let metadata_url = match self.metadata_url {
            Some(raw) => Some(parse_endpoint(&raw, "metadata URL")?),
            None => None,
        };

        let versions = self.versions.unwrap_or_default();
        if !versions.v1 && !versions.v2 {
            return Err(ConfigError::new(
                "at least one token version must be accepted",
            ));
        }

        let leeway = self.leeway.unwrap_or(Duration::from_secs(60));
        if leeway > MAX_LEEWAY {
            return Err(ConfigError::new("the leeway must be at most 5 minutes"));
        }
        let max_token_bytes = self.max_token_bytes.unwrap_or(16 * 1024);
        if !(256..=1024 * 1024).contains(&max_token_bytes) {
            return Err(ConfigError::new(
                "the maximum token size must be between 256 bytes and 1 MiB",
            ));
        }

        let key_refresh = self.key_refresh.unwrap_or_default();
        check_refresh_policy(&key_refresh)?;
        let token_cache = self.token_cache.unwrap_or_default();
        if token_cache.enabled && token_cache.max_entries == 0 {
            return Err(ConfigError::new(
                "an enabled token cache needs a capacity above zero (or use TokenCachePolicy::DISABLED)",
            ));
        }
        for (what, name) in [
            ("query parameter", &self.sources.query_parameter),
            ("cookie", &self.sources.cookie),
        ] {
            if let Some(name) = name
                && (name.is_empty() || !name.chars().all(|c| c.is_ascii_graphic()))
            {
                return Err(ConfigError::new(format!(
                    "the token {what} name is not valid"
                )));
            }
        }

        Ok(EntraConfig {
            inner: Arc::new(ConfigInner {
                tenant,
                allowed_tenants,
                client_id,
                audiences,
                authority,
                metadata_url,
                versions,
                leeway,
                max_token_bytes,
                require_scope_or_role: self.require_scope_or_role.unwrap_or(true),
                key_refresh,
                token_cache,
                realm: self.realm,
                sources: self.sources,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                http: self.http,
            }),
        })
    }
}

fn check_refresh_policy(p: &KeyRefreshPolicy) -> Result<(), ConfigError> {
    if p.refresh_interval < Duration::from_secs(300) {
        return Err(ConfigError::new(
            "the key refresh interval must be at least 5 minutes",
        ));
    }
    if p.unknown_kid_cooldown < Duration::from_secs(1) {
        return Err(ConfigError::new(
            "the unknown-kid refresh cooldown must be at least 1 second",
        ));
    }
    if p.max_stale < p.refresh_interval {
        return Err(ConfigError::new(
            "the last-known-good maximum age must be at least the refresh interval",
        ));
    }
    if p.fetch_timeout.is_zero() || p.fetch_timeout > Duration::from_secs(120) {
        return Err(ConfigError::new(
            "the fetch timeout must be between 0 and 120 seconds",
        ));
    }
    if p.max_body_bytes < 1024 {
        return Err(ConfigError::new(
            "the key-set body cap must be at least 1 KiB",
        ));
    }
    if p.retry_after_failure < Duration::from_secs(1) {
        return Err(ConfigError::new(
            "the retry delay after a failed fetch must be at least 1 second",
        ));
    }
    Ok(())
}

/// Parses an https URL, or an http URL on a loopback host.
pub(crate) fn parse_endpoint(raw: &str, what: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw.trim())
        .map_err(|e| ConfigError::new(format!("the {what} `{raw}` is not a URL: {e}")))?;
    check_scheme(&url).map_err(|m| ConfigError::new(format!("the {what} `{raw}` {m}")))?;
    Ok(url)
}

/// A URL that a fetched document points to (the `jwks_uri`): the same rules as
/// [`check_scheme`], and `https` whenever the document itself came over `https` (plain `http`
/// only behind a loopback `http` authority, the emulator's).
pub(crate) fn check_linked_url(url: &Url, document: &Url) -> Result<(), &'static str> {
    check_scheme(url)?;
    if document.scheme() == "https" && url.scheme() != "https" {
        return Err("uses plain http although the discovery document came over https");
    }
    Ok(())
}

/// `https` anywhere; plain `http` only for loopback hosts (the emulator, tests).
pub(crate) fn check_scheme(url: &Url) -> Result<(), &'static str> {
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(url) => {}
        "http" => return Err("uses plain http, which is accepted only for loopback hosts"),
        _ => return Err("must be an https URL"),
    }
    if url.host().is_none() {
        return Err("has no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials");
    }
    Ok(())
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> EntraConfigBuilder {
        EntraConfig::builder()
            .tenant("11111111-2222-3333-4444-555555555555")
            .client_id("abc")
    }

    #[test]
    fn defaults() {
        let c = base().build().unwrap();
        assert_eq!(c.audiences(), ["abc", "api://abc"]);
        assert_eq!(c.leeway(), Duration::from_secs(60));
        assert_eq!(c.authority().as_str(), "https://login.microsoftonline.com/");
        assert_eq!(c.versions(), TokenVersions::BOTH);
        let urls = c.metadata_urls();
        assert_eq!(
            urls[0].as_str(),
            "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0/.well-known/openid-configuration?appid=abc"
        );
        assert_eq!(
            urls[1].as_str(),
            "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/.well-known/openid-configuration?appid=abc"
        );
    }

    #[test]
    fn rejects_unusable_configs() {
        let err = |b: EntraConfigBuilder| b.build().unwrap_err().message().to_owned();
        assert!(err(EntraConfig::builder().client_id("x")).contains("tenant"));
        assert!(err(EntraConfig::builder().tenant("common")).contains("client id"));
        assert!(err(EntraConfig::builder().tenant("common").client_id("x")).contains("allow-list"));
        assert!(err(base().authority("http://login.example.com")).contains("loopback"));
        assert!(err(base().authority("ftp://127.0.0.1")).contains("https"));
        assert!(err(base().leeway(Duration::from_secs(301))).contains("5 minutes"));
        assert!(err(base().audiences(Vec::<String>::new())).contains("empty"));
        assert!(err(base().allowed_tenants(["a"])).contains("multi-tenant"));
        assert!(
            err(base().versions(TokenVersions {
                v1: false,
                v2: false
            }))
            .contains("version")
        );
        assert!(
            err(EntraConfig::builder().tenant("consumers").client_id("x")).contains("personal")
        );
        assert!(err(EntraConfig::builder().tenant("a/b").client_id("x")).contains("not a tenant"));
    }

    #[test]
    fn linked_urls_keep_https() {
        let https_doc =
            Url::parse("https://login.example/t/v2.0/.well-known/openid-configuration").unwrap();
        let http_doc =
            Url::parse("http://127.0.0.1:9/t/v2.0/.well-known/openid-configuration").unwrap();
        let https_keys = Url::parse("https://login.example/t/discovery/v2.0/keys").unwrap();
        let http_loopback_keys = Url::parse("http://127.0.0.1:9/t/discovery/v2.0/keys").unwrap();
        assert!(check_linked_url(&https_keys, &https_doc).is_ok());
        assert!(check_linked_url(&http_loopback_keys, &https_doc).is_err());
        assert!(check_linked_url(&http_loopback_keys, &http_doc).is_ok());
        assert!(check_linked_url(&https_keys, &http_doc).is_ok());
        let http_remote = Url::parse("http://login.example/keys").unwrap();
        assert!(check_linked_url(&http_remote, &http_doc).is_err());
    }

    #[test]
    fn loopback_http_is_accepted() {
        for a in [
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:9",
        ] {
            base().authority(a).build().unwrap();
        }
    }

    const T1: &str = "aaaaaaaa-0000-4000-8000-000000000001";
    const T2: &str = "bbbbbbbb-0000-4000-8000-000000000002";

    #[test]
    fn multi_tenant() {
        let c = EntraConfig::builder()
            .tenant("organizations")
            .client_id("x")
            .allowed_tenants([T1.to_ascii_uppercase().as_str(), T2])
            .build()
            .unwrap();
        assert!(c.tenant().is_multi_tenant());
        let allowed = &c.inner.allowed_tenants;
        assert_eq!(allowed.allows(T1, None), Some(true));
        assert_eq!(allowed.allows(T2, None), Some(true));
        assert_eq!(
            allowed.allows("cccccccc-0000-4000-8000-000000000003", None),
            Some(false)
        );
        let any = EntraConfig::builder()
            .tenant("common")
            .client_id("x")
            .allow_any_tenant();
        assert_eq!(
            any.build().unwrap().inner.allowed_tenants.allows(T1, None),
            Some(true)
        );
    }

    #[test]
    fn allowed_tenants_must_be_tenant_ids() {
        let err = EntraConfig::builder()
            .tenant("common")
            .client_id("x")
            .allowed_tenants([T1, "contoso.onmicrosoft.com"])
            .build()
            .unwrap_err();
        assert!(err.message().contains("not a tenant id"), "{err}");
    }

    #[test]
    fn tenant_by_id_or_by_domain() {
        let by_id = EntraConfig::builder()
            .tenant(T1.to_ascii_uppercase())
            .client_id("x")
            .build()
            .unwrap();
        assert_eq!(by_id.tenant(), &Tenant::Single(T1.to_owned()));
        assert_eq!(
            by_id.inner.allowed_tenants,
            AllowedTenants::List(HashSet::from([T1.to_owned()]))
        );
        // A domain never matches a `tid`: the tenant id comes from the discovery document.
        let by_domain = EntraConfig::builder()
            .tenant("contoso.onmicrosoft.com")
            .client_id("x")
            .build()
            .unwrap();
        assert_eq!(by_domain.inner.allowed_tenants, AllowedTenants::FromIssuer);
        assert_eq!(by_domain.inner.allowed_tenants.allows(T1, None), None);
        let issuers = Issuers {
            tenant_id: Some(T1.to_owned()),
            ..Issuers::default()
        };
        assert!(by_domain.inner.allowed_tenants.allows_with(T1, &issuers));
        assert!(!by_domain.inner.allowed_tenants.allows_with(T2, &issuers));
        assert!(
            !by_domain
                .inner
                .allowed_tenants
                .allows_with(T1, &Issuers::default())
        );
    }

    #[test]
    fn from_lookup_reads_variables() {
        let vars = [
            ("ENTRA_TENANT_ID", "common"),
            ("ENTRA_CLIENT_ID", "cid"),
            ("ENTRA_AUDIENCE", "a1, a2"),
            ("ENTRA_AUTHORITY", "https://login.microsoftonline.us"),
            (
                "ENTRA_ALLOWED_TENANTS",
                "aaaaaaaa-0000-4000-8000-000000000001, bbbbbbbb-0000-4000-8000-000000000002",
            ),
        ];
        let c = EntraConfig::from_lookup(|n| {
            vars.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap();
        assert_eq!(c.audiences(), ["a1", "a2"]);
        assert_eq!(c.authority().host_str(), Some("login.microsoftonline.us"));
        assert_eq!(c.inner.allowed_tenants.allows(T2, None), Some(true));
        let missing = EntraConfig::from_lookup(|_| None).unwrap_err();
        assert!(missing.message().contains("ENTRA_TENANT_ID"));
    }
}
