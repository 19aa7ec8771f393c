//! [`ClientCredentials`]: the client-credentials flow against Entra ID's token endpoint.
//!
//! This module holds the type and what a caller asks of it (a token for a scope or a resource,
//! from the cache while it is fresh); [`builder`] checks and assembles the configuration;
//! [`request`] sends one token request, with retries and backoff, and writes its form body;
//! [`retry`] is the backoff and [`response`] the bounded, zeroized read of an answer that every
//! credential of the crate shares.

mod builder;
pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod retry;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use zeroize::Zeroizing;

use crate::assertion::{self, AssertionOptions};
use crate::cache::{CacheKey, Target};
use crate::{
    AccessToken, ClientAssertionSource, ClientCertificate, ClientSecret, Clock, Error, TokenCache,
};

pub use builder::ClientCredentialsBuilder;
pub(crate) use request::Grant;

/// The defaults of [`ClientCredentialsBuilder`].
pub mod defaults {
    use std::time::Duration;

    /// A cached token is renewed when it has less than this left to live.
    pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
    /// The time limit of one token request.
    pub const TIMEOUT: Duration = Duration::from_secs(30);
    /// Retries after a server error, throttling, timeout or connection failure.
    pub const MAX_RETRIES: u32 = 2;
    /// The first retry waits about this long; each further retry twice as long.
    pub const RETRY_BASE_DELAY: Duration = Duration::from_millis(500);
    /// No retry waits longer than this, whatever `Retry-After` asks for.
    pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);
}

/// The secret, certificate or assertion source the app proves its identity with.
#[derive(Clone)]
enum Credential {
    Secret(ClientSecret),
    Certificate(ClientCertificate),
    /// Asked for a client assertion on every token request ([`crate::ClientAssertionSource`]).
    AssertionSource(Arc<dyn ClientAssertionSource>),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Secret(s) => s.fmt(f),
            Credential::Certificate(c) => c.fmt(f),
            Credential::AssertionSource(s) => s.fmt(f),
        }
    }
}

/// An app's credentials for the OAuth2 client-credentials flow, with a token cache.
///
/// Cheap to clone: clones share the configuration, the HTTP client and the cache. Create one
/// per app (tenant + client id + credential) and keep it for the life of the program.
///
/// ```no_run
/// # async fn demo() -> Result<(), entra_client::Error> {
/// use entra_client::{ClientCredentials, ClientSecret};
///
/// let creds = ClientCredentials::builder("contoso.onmicrosoft.com", "00000000-0000-0000-0000-000000000001")
///     .client_secret(ClientSecret::new(std::env::var("CLIENT_SECRET").unwrap_or_default()))
///     .build()?;
/// let token = creds.token("https://graph.microsoft.com/.default").await?;
/// println!("token expires at {:?}", token.expires_on());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientCredentials {
    inner: Arc<Inner>,
}

struct Inner {
    authority: String,
    tenant: String,
    client_id: String,
    credential: Credential,
    assertion: AssertionOptions,
    clock: Arc<dyn Clock>,
    refresh_margin: Duration,
    timeout: Duration,
    retry: retry::RetryPolicy,
    http: reqwest::Client,
    cache: TokenCache,
    endpoint_v2: String,
    endpoint_v1: String,
}

impl ClientCredentials {
    /// Starts configuring credentials for an app (`client_id`) in a tenant (a tenant id GUID or
    /// a domain such as `contoso.onmicrosoft.com`).
    pub fn builder(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
    ) -> ClientCredentialsBuilder {
        ClientCredentialsBuilder::new(tenant_id.into(), client_id.into())
    }

    /// An access token for `scope` from the v2 endpoint, from the cache while it is fresh.
    ///
    /// The client-credentials flow takes one scope of the form `{resource}/.default`, e.g.
    /// `api://my-api/.default` or `https://graph.microsoft.com/.default`.
    pub async fn token(&self, scope: &str) -> Result<AccessToken, Error> {
        check_target("scope", scope)?;
        self.cached(Target::Scope(scope.to_owned())).await
    }

    /// An access token for `resource` (an App ID URI or client id, without `/.default`) from the
    /// v1 endpoint (`/oauth2/token`), from the cache while it is fresh.
    pub async fn token_for_resource(&self, resource: &str) -> Result<AccessToken, Error> {
        check_target("resource", resource)?;
        self.cached(Target::Resource(resource.to_owned())).await
    }

    /// The `Authorization` header value for a (cached) token for `scope`: `Bearer <token>`,
    /// marked sensitive so that HTTP libraries do not log it.
    pub async fn authorization_header(&self, scope: &str) -> Result<HeaderValue, Error> {
        let token = self.token(scope).await?;
        bearer_header(&token)
    }

    /// A freshly signed client assertion for `audience` (normally the token endpoint, see
    /// [`ClientCredentials::token_endpoint`]), as sent in the token request. Fails unless the
    /// credential is a certificate. Exposed for tests and diagnostics; treat it as a secret (it is
    /// returned in a buffer that is zeroized on drop).
    pub fn client_assertion(&self, audience: &str) -> Result<Zeroizing<String>, Error> {
        match &self.inner.credential {
            Credential::Certificate(cert) => assertion::client_assertion(
                cert,
                &self.inner.client_id,
                audience,
                self.inner.clock.now(),
                &self.inner.assertion,
            ),
            Credential::Secret(_) | Credential::AssertionSource(_) => Err(Error::Config(
                "client assertions are signed only with a certificate credential".into(),
            )),
        }
    }

    /// The v2 token endpoint: `{authority}/{tenant}/oauth2/v2.0/token`.
    pub fn token_endpoint(&self) -> &str {
        &self.inner.endpoint_v2
    }

    /// The v1 token endpoint: `{authority}/{tenant}/oauth2/token`.
    pub fn token_endpoint_v1(&self) -> &str {
        &self.inner.endpoint_v1
    }

    /// The tenant.
    pub fn tenant_id(&self) -> &str {
        &self.inner.tenant
    }

    /// The app's client id.
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// The authority, without a trailing slash.
    pub fn authority(&self) -> &str {
        &self.inner.authority
    }

    /// The token cache.
    pub fn cache(&self) -> &TokenCache {
        &self.inner.cache
    }

    /// The clock tokens are timed with.
    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// How long before expiry cached tokens are renewed.
    pub(crate) fn refresh_margin(&self) -> Duration {
        self.inner.refresh_margin
    }

    async fn cached(&self, target: Target) -> Result<AccessToken, Error> {
        let inner = &self.inner;
        let key = CacheKey {
            authority: inner.authority.clone(),
            tenant: inner.tenant.clone(),
            client_id: inner.client_id.clone(),
            target: target.clone(),
        };
        let clock = inner.clock.clone();
        // The request runs in a task of its own (see `TokenCache::get_or_fetch`): it owns a clone
        // of the credentials, so that no caller's cancellation can abort it.
        let this = self.clone();
        inner
            .cache
            .get_or_fetch(
                &key,
                move || clock.now(),
                inner.refresh_margin,
                move || async move {
                    this.fetch_with_retries(&Grant::ClientCredentials(&target))
                        .await
                },
            )
            .await
    }
}

fn check_target(what: &str, value: &str) -> Result<(), Error> {
    if value.trim().is_empty() {
        return Err(Error::InvalidScope(format!("the {what} is empty")));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::InvalidScope(format!(
            "the {what} contains control characters"
        )));
    }
    Ok(())
}

/// `Bearer <token>` as a sensitive header value.
pub(crate) fn bearer_header(token: &AccessToken) -> Result<HeaderValue, Error> {
    let mut value = HeaderValue::try_from(format!("Bearer {}", token.secret())).map_err(|_| {
        Error::InvalidResponse(
            "the access token contains characters not allowed in a header".into(),
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("ClientCredentials")
            .field("authority", &i.authority)
            .field("tenant", &i.tenant)
            .field("client_id", &i.client_id)
            .field("credential", &i.credential)
            .field("assertion", &i.assertion)
            .field("refresh_margin", &i.refresh_margin)
            .field("timeout", &i.timeout)
            .field("retry", &i.retry)
            .field("cache", &i.cache)
            .finish_non_exhaustive()
    }
}
