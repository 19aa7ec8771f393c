//! The policy types of a configuration: clouds, tenants and which of them are allowed, token
//! versions, the key refresh, the verified-token cache, and where tokens may be read from.

use std::collections::HashSet;
use std::time::Duration;

use crate::error::ConfigError;
use crate::validate::{Issuers, is_tenant_id};

pub use entra_core::{AZURE_CHINA, AZURE_PUBLIC_CLOUD, AZURE_US_GOVERNMENT};

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

    pub(super) fn parse(value: &str) -> Result<Tenant, ConfigError> {
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
    /// Any tenant: chosen explicitly with [`EntraConfigBuilder::allow_any_tenant`](crate::EntraConfigBuilder::allow_any_tenant).
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
            // A short list is compared string by string: cheaper than hashing the id (this runs
            // twice per validation).
            AllowedTenants::List(set) if set.len() <= 8 => Some(set.iter().any(|t| t == tid)),
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
