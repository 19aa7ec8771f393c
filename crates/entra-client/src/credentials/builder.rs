//! [`ClientCredentialsBuilder`]: the configuration of [`ClientCredentials`], checked once by
//! [`build`](ClientCredentialsBuilder::build).

use std::sync::Arc;
use std::time::Duration;

use super::{ClientCredentials, Credential, Inner, defaults};
use crate::assertion::{AssertionOptions, MAX_ASSERTION_LIFETIME};
use crate::authority::{self, EndpointVersion};
use crate::{
    AssertionAlgorithm, AuthorityHost, ClientAssertionSource, ClientCertificate, ClientSecret,
    Clock, Error, SystemClock, TokenCache,
};

/// Configures [`ClientCredentials`]; start with [`ClientCredentials::builder`].
///
/// Exactly one credential is required: [`client_secret`](Self::client_secret),
/// [`certificate`](Self::certificate) or
/// [`client_assertion_source`](Self::client_assertion_source). Everything is checked by [`build`](Self::build).
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
    /// The defaults (see [`defaults`]), no credential yet.
    pub(super) fn new(tenant: String, client_id: String) -> Self {
        ClientCredentialsBuilder {
            tenant,
            client_id,
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

    /// Authenticate with client assertions from a source (a closure made with
    /// [`client_assertion_fn`](crate::client_assertion_fn), a
    /// [`FederatedTokenFile`](crate::FederatedTokenFile), or any [`ClientAssertionSource`]),
    /// asked afresh for every token request: an assertion is never reused for a second request.
    pub fn client_assertion_source(mut self, source: impl ClientAssertionSource + 'static) -> Self {
        self.credential = Some(Credential::AssertionSource(Arc::new(source)));
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

    /// The clock (default: the system clock): any [`Clock`], such as a
    /// [`ManualClock`](crate::ManualClock) in tests, or an `Arc` of one (`Arc<dyn Clock>`
    /// included). Takes the same argument as `entra-auth`'s builder.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
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
            Error::Config(
                "no credential: set a client secret, a certificate or a client assertion source"
                    .into(),
            )
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
                retry: super::retry::RetryPolicy {
                    max_retries: self.max_retries,
                    base_delay: self.retry_base_delay,
                    max_delay: self.max_retry_delay,
                },
                http,
                cache: self.cache.unwrap_or_default(),
                endpoint_v2,
                endpoint_v1,
            }),
        })
    }
}
