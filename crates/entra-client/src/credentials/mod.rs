//! `ClientCredentials`: the client-credentials flow against Entra ID's token endpoint.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::HeaderValue;
use tracing::{debug, warn};
use zeroize::Zeroizing;

use crate::assertion::{self, AssertionOptions, MAX_ASSERTION_LIFETIME};
use crate::authority::{self, AuthorityHost, EndpointVersion};
use crate::cache::{CacheKey, Target};
use crate::token::parse_token_response;
use crate::{
    AccessToken, AssertionAlgorithm, ClientCertificate, ClientSecret, Clock, EntraError, Error,
    SystemClock, TokenCache,
};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The largest token endpoint response body read.
const MAX_BODY: usize = 1 << 20;

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

/// The secret or certificate the app proves its identity with.
#[derive(Clone)]
enum Credential {
    Secret(ClientSecret),
    Certificate(ClientCertificate),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Secret(s) => s.fmt(f),
            Credential::Certificate(c) => c.fmt(f),
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
    max_retries: u32,
    retry_base_delay: Duration,
    max_retry_delay: Duration,
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
        ClientCredentialsBuilder {
            tenant: tenant_id.into(),
            client_id: client_id.into(),
            authority: AuthorityHost::default().as_str().to_owned(),
            credential: None,
            algorithm: AssertionAlgorithm::default(),
            send_x5c: false,
            assertion_lifetime: MAX_ASSERTION_LIFETIME,
            clock: None,
            refresh_margin: defaults::REFRESH_MARGIN,
            timeout: defaults::TIMEOUT,
            max_retries: defaults::MAX_RETRIES,
            retry_base_delay: defaults::RETRY_BASE_DELAY,
            max_retry_delay: defaults::MAX_RETRY_DELAY,
            http: None,
            cache: None,
        }
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
            Credential::Secret(_) => Err(Error::Config(
                "client assertions need a certificate credential".into(),
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
                move || async move { this.fetch_with_retries(&target).await },
            )
            .await
    }

    async fn fetch_with_retries(
        &self,
        target: &Target,
    ) -> Result<(AccessToken, SystemTime), Error> {
        let mut retries = 0;
        loop {
            match self.fetch_once(target).await {
                Ok(ok) => return Ok(ok),
                Err(e) if e.is_retryable() && retries < self.inner.max_retries => {
                    let delay = self.retry_delay(retries, e.retry_after());
                    retries += 1;
                    warn!(
                        error = %e,
                        retry = retries,
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        "token request failed; retrying"
                    );
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Exponential backoff with jitter (half fixed, half random), or the server's
    /// `Retry-After`; capped at the maximum retry delay.
    fn retry_delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let cap = self.inner.max_retry_delay;
        if let Some(after) = retry_after {
            return after.min(cap);
        }
        let exp = self
            .inner
            .retry_base_delay
            .saturating_mul(1u32.checked_shl(retry).unwrap_or(u32::MAX))
            .min(cap);
        let half = exp / 2;
        let mut random = [0u8; 4];
        // On the (unexpected) failure of the system RNG, fall back to no jitter.
        let _ = aws_lc_rs::rand::fill(&mut random);
        let fraction = f64::from(u32::from_le_bytes(random)) / f64::from(u32::MAX);
        half + half.mul_f64(fraction)
    }

    async fn fetch_once(&self, target: &Target) -> Result<(AccessToken, SystemTime), Error> {
        let inner = &self.inner;
        let (endpoint, target_param) = match target {
            Target::Scope(scope) => (&inner.endpoint_v2, ("scope", scope.as_str())),
            Target::Resource(resource) => (&inner.endpoint_v1, ("resource", resource.as_str())),
        };
        let sent_at = inner.clock.now();
        let assertion;
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "client_credentials"),
            ("client_id", &inner.client_id),
            target_param,
        ];
        match &inner.credential {
            Credential::Secret(secret) => form.push(("client_secret", secret.secret())),
            Credential::Certificate(cert) => {
                assertion = assertion::client_assertion(
                    cert,
                    &inner.client_id,
                    endpoint,
                    sent_at,
                    &inner.assertion,
                )?;
                form.push(("client_assertion_type", JWT_BEARER));
                form.push(("client_assertion", &assertion));
            }
        }
        let body = form_body(&form);
        let request_id = uuid::Uuid::new_v4().to_string();
        debug!(
            endpoint = %endpoint,
            tenant = %inner.tenant,
            client_id = %inner.client_id,
            target = %target_param.1,
            client_request_id = %request_id,
            "requesting token"
        );
        let mut response = inner
            .http
            .post(endpoint.as_str())
            .header(http::header::ACCEPT, "application/json")
            .header("client-request-id", &request_id)
            .header("return-client-request-id", "true")
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .timeout(inner.timeout)
            .send()
            .await
            .map_err(Error::from_reqwest)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(Error::from_reqwest)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(Error::InvalidResponse(format!(
                    "response body larger than {MAX_BODY} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        if status.is_success() {
            let token = parse_token_response(&body, sent_at)?;
            debug!(
                client_request_id = %request_id,
                expires_in_s = token.remaining(sent_at).as_secs(),
                "token acquired"
            );
            return Ok((token, sent_at));
        }
        let error = match EntraError::parse(status.as_u16(), &body, retry_after) {
            Some(e) => Error::from(e),
            None => Error::UnexpectedStatus {
                status: status.as_u16(),
                retry_after,
            },
        };
        debug!(client_request_id = %request_id, error = %error, "token request failed");
        Err(error)
    }
}

/// The `application/x-www-form-urlencoded` request body. It carries the client secret or the
/// client assertion, so it is written into a buffer of its final size (no reallocation leaves a
/// copy behind) that is zeroized when reqwest drops the body. Copies that the HTTP and TLS
/// layers make while sending are outside this crate's control.
fn form_body(form: &[(&str, &str)]) -> reqwest::Body {
    // Percent-encoding turns a byte into at most 3; `&` and `=` add 2 per pair.
    let capacity = form.iter().map(|(k, v)| 3 * (k.len() + v.len()) + 2).sum();
    let mut body = Zeroizing::new(String::with_capacity(capacity));
    url::form_urlencoded::Serializer::new(&mut *body).extend_pairs(form);
    debug_assert!(body.len() <= capacity);
    reqwest::Body::from(bytes::Bytes::from_owner(body))
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
            .field("max_retries", &i.max_retries)
            .field("cache", &i.cache)
            .finish_non_exhaustive()
    }
}

/// Configures [`ClientCredentials`]; start with [`ClientCredentials::builder`].
///
/// Exactly one credential is required: [`client_secret`](Self::client_secret) or
/// [`certificate`](Self::certificate). Everything is checked by [`build`](Self::build).
#[must_use]
#[derive(Debug)]
pub struct ClientCredentialsBuilder {
    tenant: String,
    client_id: String,
    authority: String,
    credential: Option<Credential>,
    algorithm: AssertionAlgorithm,
    send_x5c: bool,
    assertion_lifetime: Duration,
    clock: Option<Arc<dyn Clock>>,
    refresh_margin: Duration,
    timeout: Duration,
    max_retries: u32,
    retry_base_delay: Duration,
    max_retry_delay: Duration,
    http: Option<reqwest::Client>,
    cache: Option<TokenCache>,
}

impl ClientCredentialsBuilder {
    /// The authority (`https://login.microsoftonline.com` by default), e.g. a sovereign cloud,
    /// or a local emulator at `http://127.0.0.1:PORT`. Plain `http://` is accepted for loopback
    /// hosts only. The tenant is appended to it.
    pub fn authority(mut self, authority: impl Into<String>) -> Self {
        self.authority = authority.into();
        self
    }

    /// The authority of a well-known cloud.
    pub fn authority_host(self, host: AuthorityHost) -> Self {
        self.authority(host.as_str())
    }

    /// Authenticate with a client secret (sent in the request body as `client_secret`).
    pub fn client_secret(mut self, secret: ClientSecret) -> Self {
        self.credential = Some(Credential::Secret(secret));
        self
    }

    /// Authenticate with a certificate (a signed client assertion).
    pub fn certificate(mut self, certificate: ClientCertificate) -> Self {
        self.credential = Some(Credential::Certificate(certificate));
        self
    }

    /// How client assertions are signed: RS256 with `x5t` (default) or PS256 with `x5t#S256`.
    pub fn signing(mut self, algorithm: AssertionAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Send the certificate chain in the assertion's `x5c` header, as subject name + issuer
    /// authentication needs. Off by default.
    pub fn send_x5c(mut self, send: bool) -> Self {
        self.send_x5c = send;
        self
    }

    /// The lifetime of client assertions: at most (and by default) 10 minutes.
    pub fn assertion_lifetime(mut self, lifetime: Duration) -> Self {
        self.assertion_lifetime = lifetime;
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Renew cached tokens when they have less than this left to live (default 5 minutes;
    /// for tokens living less than twice the margin, at half their lifetime).
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// The time limit of one token request (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Retries after server errors (5xx), throttling (429), timeouts and connection failures
    /// (default 2). Other client errors (4xx) are never retried.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The backoff before the first retry, doubled for each further retry, with jitter
    /// (default 500 ms).
    pub fn retry_base_delay(mut self, delay: Duration) -> Self {
        self.retry_base_delay = delay;
        self
    }

    /// The longest wait before a retry, also when `Retry-After` asks for more (default 30 s).
    pub fn max_retry_delay(mut self, delay: Duration) -> Self {
        self.max_retry_delay = delay;
        self
    }

    /// The HTTP client to use (default: a new client that follows no redirects).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// A token cache to share with other credentials (default: a cache of its own).
    pub fn cache(mut self, cache: TokenCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Checks the configuration and creates the credentials.
    pub fn build(self) -> Result<ClientCredentials, Error> {
        authority::check_tenant(&self.tenant)?;
        if self.client_id.trim().is_empty() {
            return Err(Error::Config("client id is empty".into()));
        }
        if self
            .client_id
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(Error::Config("client id contains whitespace".into()));
        }
        let authority = authority::parse_authority(&self.authority)?;
        let credential = self.credential.ok_or_else(|| {
            Error::Config("no credential: set a client secret or a certificate".into())
        })?;
        if let Credential::Secret(s) = &credential
            && s.secret().is_empty()
        {
            return Err(Error::Config("the client secret is empty".into()));
        }
        if self.assertion_lifetime.is_zero() || self.assertion_lifetime > MAX_ASSERTION_LIFETIME {
            return Err(Error::Config(
                "the assertion lifetime must be between 1 second and 10 minutes".into(),
            ));
        }
        if self.timeout.is_zero() {
            return Err(Error::Config("the timeout must not be zero".into()));
        }
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| Error::Config(format!("cannot create the HTTP client: {e}")))?,
        };
        let endpoint_v2 = authority::token_endpoint(&authority, &self.tenant, EndpointVersion::V2);
        let endpoint_v1 = authority::token_endpoint(&authority, &self.tenant, EndpointVersion::V1);
        Ok(ClientCredentials {
            inner: Arc::new(Inner {
                authority,
                tenant: self.tenant,
                client_id: self.client_id,
                credential,
                assertion: AssertionOptions {
                    algorithm: self.algorithm,
                    send_x5c: self.send_x5c,
                    lifetime: self.assertion_lifetime,
                },
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                refresh_margin: self.refresh_margin,
                timeout: self.timeout,
                max_retries: self.max_retries,
                retry_base_delay: self.retry_base_delay,
                max_retry_delay: self.max_retry_delay,
                http,
                cache: self.cache.unwrap_or_default(),
                endpoint_v2,
                endpoint_v1,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_creds() -> ClientCredentials {
        ClientCredentials::builder("tenant", "client")
            .client_secret(ClientSecret::new("s3cr3t-value"))
            .build()
            .unwrap()
    }

    #[test]
    fn defaults_and_endpoints() {
        let c = secret_creds();
        assert_eq!(c.authority(), "https://login.microsoftonline.com");
        assert_eq!(
            c.token_endpoint(),
            "https://login.microsoftonline.com/tenant/oauth2/v2.0/token"
        );
        assert_eq!(
            c.token_endpoint_v1(),
            "https://login.microsoftonline.com/tenant/oauth2/token"
        );
        let c = ClientCredentials::builder("tenant", "client")
            .authority_host(AuthorityHost::AzureChina)
            .client_secret(ClientSecret::new("x"))
            .build()
            .unwrap();
        assert_eq!(
            c.token_endpoint(),
            "https://login.chinacloudapi.cn/tenant/oauth2/v2.0/token"
        );
    }

    #[test]
    fn build_errors() {
        let b = || ClientCredentials::builder("tenant", "client");
        let cases = [
            b().build().unwrap_err(),
            b().client_secret(ClientSecret::new(""))
                .build()
                .unwrap_err(),
            b().client_secret(ClientSecret::new("x"))
                .authority("http://login.microsoftonline.com")
                .build()
                .unwrap_err(),
            ClientCredentials::builder("common", "c")
                .client_secret(ClientSecret::new("x"))
                .build()
                .unwrap_err(),
            ClientCredentials::builder("t", "")
                .client_secret(ClientSecret::new("x"))
                .build()
                .unwrap_err(),
            b().client_secret(ClientSecret::new("x"))
                .assertion_lifetime(Duration::from_secs(601))
                .build()
                .unwrap_err(),
            b().client_secret(ClientSecret::new("x"))
                .timeout(Duration::ZERO)
                .build()
                .unwrap_err(),
        ];
        for e in cases {
            assert!(matches!(e, Error::Config(_)), "{e}");
        }
    }

    #[test]
    fn secret_never_in_debug() {
        let b = ClientCredentials::builder("tenant", "client")
            .client_secret(ClientSecret::new("s3cr3t-value"));
        assert!(!format!("{b:?}").contains("s3cr3t-value"));
        let c = b.build().unwrap();
        let shown = format!("{c:?} {c:#?}");
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(shown.contains("client"));
    }

    #[test]
    fn certificate_key_never_in_debug() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["debug.test".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let pkcs1 = crate::der::pkcs8_rsa_to_pkcs1(key.serialized_der()).unwrap();
        let certificate = ClientCertificate::from_pem(key.serialize_pem(), cert.pem()).unwrap();
        let b = ClientCredentials::builder("tenant", "client").certificate(certificate);
        let mut shown = format!("{b:?} {b:#?}");
        let c = b.build().unwrap();
        shown.push_str(&format!("{c:?} {c:#?}"));
        let assertion = c.client_assertion("aud").unwrap();
        shown.push_str(&format!("{assertion:?}"));
        // Renderings of the private half of the key (past the modulus), and of the assertion.
        let window = &pkcs1[pkcs1.len() / 2..pkcs1.len() / 2 + 16];
        let decimal = format!("{window:?}");
        let hex: String = window.iter().map(|b| format!("{b:02x}")).collect();
        let pem_line = key.serialize_pem().lines().nth(10).unwrap().to_owned();
        for needle in [
            decimal.trim_matches(['[', ']']),
            &hex,
            &hex.to_uppercase(),
            &pem_line,
            assertion.split('.').nth(2).unwrap(),
        ] {
            assert!(!shown.contains(needle), "{needle} in {shown}");
        }
        assert!(shown.contains("redacted"), "{shown}");
    }

    #[test]
    fn form_body_is_encoded_like_reqwest_form() {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_secret", "a b&c=d~é/+%"),
        ];
        let body = form_body(&form);
        let bytes = body.as_bytes().unwrap();
        let expected = reqwest::Client::new()
            .post("http://127.0.0.1/")
            .form(&form)
            .build()
            .unwrap();
        assert_eq!(bytes, expected.body().unwrap().as_bytes().unwrap());
    }

    #[test]
    fn assertion_needs_certificate() {
        assert!(matches!(
            secret_creds().client_assertion("aud"),
            Err(Error::Config(_))
        ));
    }

    #[tokio::test]
    async fn empty_scope_is_rejected_without_a_request() {
        let c = secret_creds();
        assert!(matches!(c.token("").await, Err(Error::InvalidScope(_))));
        assert!(matches!(
            c.token_for_resource("a\nb").await,
            Err(Error::InvalidScope(_))
        ));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let c = ClientCredentials::builder("tenant", "client")
            .client_secret(ClientSecret::new("x"))
            .retry_base_delay(Duration::from_millis(100))
            .max_retry_delay(Duration::from_secs(1))
            .build()
            .unwrap();
        for _ in 0..20 {
            let d0 = c.retry_delay(0, None);
            assert!(
                d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(100),
                "{d0:?}"
            );
            let d2 = c.retry_delay(2, None);
            assert!(
                d2 >= Duration::from_millis(200) && d2 <= Duration::from_millis(400),
                "{d2:?}"
            );
            let d9 = c.retry_delay(40, None);
            assert!(d9 <= Duration::from_secs(1), "{d9:?}");
        }
        assert_eq!(
            c.retry_delay(0, Some(Duration::from_millis(300))),
            Duration::from_millis(300)
        );
        assert_eq!(
            c.retry_delay(0, Some(Duration::from_secs(120))),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn header_is_sensitive() {
        let t = AccessToken::new("abc.def.ghi", SystemTime::now());
        let h = bearer_header(&t).unwrap();
        assert!(h.is_sensitive());
        assert_eq!(h.to_str().unwrap(), "Bearer abc.def.ghi");
        assert!(!format!("{h:?}").contains("abc.def"));
    }
}
