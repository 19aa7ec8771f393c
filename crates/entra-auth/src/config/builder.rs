//! [`EntraConfigBuilder`]: the settings, and every rule a configuration must meet before it
//! is built.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use entra_core::{AuthorityHost, Clock, SystemClock};

use super::policy::{
    AZURE_PUBLIC_CLOUD, AllowedTenants, KeyRefreshPolicy, MAX_LEEWAY, Tenant, TokenCachePolicy,
    TokenSources, TokenVersions,
};
use super::urls::parse_endpoint;
use super::{ConfigInner, EntraConfig};
use crate::error::ConfigError;
use crate::validate::is_tenant_id;

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
    accept_id_tokens: bool,
    metrics_tenant_label: bool,
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

    /// The authority host, e.g. [`AZURE_US_GOVERNMENT`](crate::AZURE_US_GOVERNMENT) or a local emulator's
    /// `http://127.0.0.1:PORT`. Plain `http://` is accepted only for loopback hosts.
    pub fn authority(mut self, authority: impl Into<String>) -> Self {
        self.authority = Some(authority.into());
        self
    }

    /// The authority of a well-known cloud (the same [`AuthorityHost`] entra-client takes).
    ///
    /// ```
    /// use entra_auth::{AuthorityHost, EntraConfig};
    /// let config = EntraConfig::builder()
    ///     .tenant("72f988bf-86f1-41af-91ab-2d7cd011db47")
    ///     .client_id("6e74172b-be56-4843-9ff4-e66a39bb12e3")
    ///     .authority_host(AuthorityHost::AzureUsGovernment)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(config.authority().host_str(), Some("login.microsoftonline.us"));
    /// ```
    pub fn authority_host(self, host: AuthorityHost) -> Self {
        self.authority(host.as_str())
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
    /// Turning it off does not make ID tokens acceptable: see
    /// [`accept_id_tokens`](Self::accept_id_tokens).
    pub fn require_scope_or_role(mut self, required: bool) -> Self {
        self.require_scope_or_role = Some(required);
        self
    }

    /// Also accept **ID tokens** as bearer tokens, for the pattern where a single-page app calls
    /// its own backend with the ID token it received at sign-in (the API and the SPA share one
    /// app registration). Off by default; prefer access tokens.
    ///
    /// This is weaker than an access token, and the API takes that on:
    /// * an ID token proves who signed in to the client, not that the user authorized a call to
    ///   the API: it carries no `scp` and no granted `roles`, so
    ///   [`Require::any_scope`](crate::Require::any_scope) and
    ///   [`Require::any_role`](crate::Require::any_role) are never satisfied by one, and
    ///   [`Claims::roles`](crate::Claims::roles) is empty even when the ID token lists the
    ///   user's app roles (they stay readable through [`Claims::get`](crate::Claims::get));
    /// * its audience is the client id, so any app or component sharing that client id (a second
    ///   front end, a test harness, a token copied from a browser's storage) holds tokens this
    ///   API accepts, replayable until they expire; nothing binds the token to this API or to
    ///   the request;
    /// * it names no calling app ([`Claims::app_id`](crate::Claims::app_id) is `None`), so
    ///   [`Require::calling_apps`](crate::Require::calling_apps) is never satisfied either.
    ///
    /// What is accepted: a token without `scp`, `azp` and `appid` (the claims by which every
    /// Entra access token names its calling app or its delegated scopes) counts as an ID token;
    /// with this option it passes every other check as before and must also have `ver` `2.0`
    /// and `aud` exactly the [`client_id`](Self::client_id) (not `api://...`). It is then
    /// [`TokenKind::Id`](crate::TokenKind::Id) on [`Claims::token_kind`](crate::Claims::token_kind).
    /// Without this option every ID token is rejected with
    /// [`InvalidToken::IdToken`](crate::InvalidToken::IdToken), whatever
    /// [`require_scope_or_role`](Self::require_scope_or_role) says.
    ///
    /// ```
    /// use entra_auth::EntraConfig;
    /// let config = EntraConfig::builder()
    ///     .tenant("72f988bf-86f1-41af-91ab-2d7cd011db47")
    ///     .client_id("6e74172b-be56-4843-9ff4-e66a39bb12e3")
    ///     .accept_id_tokens(true)
    ///     .build()
    ///     .unwrap();
    /// assert!(config.accepts_id_tokens());
    /// ```
    pub fn accept_id_tokens(mut self, accept: bool) -> Self {
        self.accept_id_tokens = accept;
        self
    }

    /// Opts in to a `tenant` label on the accepted-request counter that
    /// `Authenticator::publish_metrics` feeds (feature
    /// `metrics`; default: off, and no metric carries a tenant, a user or a token). Only the
    /// verified `tid` of accepted tokens is used, so a caller cannot invent label values; in a
    /// multi-tenant API the number of series is the number of tenants that call it. Costs a
    /// labelled counter update on every accepted request, cache hits included.
    pub fn metrics_tenant_label(mut self, on: bool) -> Self {
        self.metrics_tenant_label = on;
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

        if self.accept_id_tokens {
            if !versions.v2 {
                return Err(ConfigError::new(
                    "accepting ID tokens needs v2 tokens accepted (only v2 ID tokens are accepted)",
                ));
            }
            if !audiences.contains(&client_id) {
                return Err(ConfigError::new(
                    "accepting ID tokens needs the client id among the audiences (an ID token's aud is the client id)",
                ));
            }
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
                accept_id_tokens: self.accept_id_tokens,
                metrics_tenant_label: self.metrics_tenant_label,
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
