//! [`ManagedIdentityCredentialBuilder`]: which identity, which endpoint (from the builder or
//! from the environment), the retry rules, the probe; checked once by `build`.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use url::{Host, Url};
use zeroize::Zeroizing;

use super::retry::RetryPolicy;
use super::{
    IdentityHeader, Inner, ManagedIdentityCredential, ManagedIdentityId, Source, defaults,
};
use crate::{Clock, Error, SystemClock, TokenCache};

/// Where the builder was told tokens come from, before it is checked.
#[derive(Clone)]
pub(crate) enum SourceConfig {
    Imds(String),
    AppService(String, Zeroizing<String>),
    /// The environment names a managed identity host this crate does not speak to (Azure
    /// Arc, Service Fabric, Cloud Shell): why, in words.
    Unsupported(String),
}

impl fmt::Debug for SourceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceConfig::Imds(endpoint) => f.debug_tuple("Imds").field(endpoint).finish(),
            SourceConfig::AppService(endpoint, _) => f
                .debug_tuple("AppService")
                .field(endpoint)
                .field(&"<identity header redacted>")
                .finish(),
            SourceConfig::Unsupported(reason) => {
                f.debug_tuple("Unsupported").field(reason).finish()
            }
        }
    }
}

/// The endpoint the environment names, as azure-identity reads it: Service Fabric when
/// `IDENTITY_ENDPOINT`, `IDENTITY_HEADER` and `IDENTITY_SERVER_THUMBPRINT` are set; App
/// Service's when `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are both set (not empty); Azure Arc
/// when `IDENTITY_ENDPOINT` and `IMDS_ENDPOINT` are; Cloud Shell when `MSI_ENDPOINT` is; else
/// IMDS, on the host `AZURE_POD_IDENTITY_AUTHORITY_HOST` names if set, at 169.254.169.254
/// otherwise. Service Fabric, Azure Arc and Cloud Shell are not supported: rather than ask an
/// IMDS that is not there, the credential says so ([`Error::CredentialUnavailable`]).
pub(crate) fn source_from_env(vars: &dyn Fn(&str) -> Option<String>) -> SourceConfig {
    let var = |name: &str| vars(name).filter(|v| !v.trim().is_empty());
    let unsupported = |host: &str, names: &str| {
        SourceConfig::Unsupported(format!(
            "{host}'s managed identity endpoint ({names} set) is not supported"
        ))
    };
    if let (Some(endpoint), Some(header)) = (var("IDENTITY_ENDPOINT"), var("IDENTITY_HEADER")) {
        if var("IDENTITY_SERVER_THUMBPRINT").is_some() {
            return unsupported(
                "Service Fabric",
                "IDENTITY_ENDPOINT, IDENTITY_HEADER and IDENTITY_SERVER_THUMBPRINT",
            );
        }
        return SourceConfig::AppService(endpoint.trim().to_owned(), Zeroizing::new(header));
    }
    if var("IDENTITY_ENDPOINT").is_some() && var("IMDS_ENDPOINT").is_some() {
        return unsupported("Azure Arc", "IDENTITY_ENDPOINT and IMDS_ENDPOINT");
    }
    if var("MSI_ENDPOINT").is_some() {
        return unsupported("Cloud Shell", "MSI_ENDPOINT");
    }
    match var("AZURE_POD_IDENTITY_AUTHORITY_HOST") {
        Some(host) => SourceConfig::Imds(format!(
            "{}/metadata/identity/oauth2/token",
            host.trim().trim_end_matches('/')
        )),
        None => SourceConfig::Imds(defaults::IMDS_ENDPOINT.to_owned()),
    }
}

/// Configures a [`ManagedIdentityCredential`]; start with [`ManagedIdentityCredential::builder`].
///
/// By default: the system-assigned identity, IMDS at `http://169.254.169.254`, and the
/// [`defaults`](crate::managed_identity_defaults). [`env`](Self::env) reads the endpoint from the
/// process environment instead; [`imds_endpoint`](Self::imds_endpoint) and
/// [`app_service_endpoint`](Self::app_service_endpoint) set it (an emulator in tests).
#[must_use]
#[derive(Debug)]
pub struct ManagedIdentityCredentialBuilder {
    id: ManagedIdentityId,
    source: SourceConfig,
    clock: Option<Arc<dyn Clock>>,
    refresh_margin: Duration,
    timeout: Duration,
    probe_timeout: Option<Duration>,
    retry: RetryPolicy,
    http: Option<reqwest::Client>,
    cache: Option<TokenCache>,
}

impl ManagedIdentityCredentialBuilder {
    pub(super) fn new() -> Self {
        ManagedIdentityCredentialBuilder {
            id: ManagedIdentityId::SystemAssigned,
            source: SourceConfig::Imds(defaults::IMDS_ENDPOINT.to_owned()),
            clock: None,
            refresh_margin: defaults::REFRESH_MARGIN,
            timeout: defaults::TIMEOUT,
            probe_timeout: Some(defaults::PROBE_TIMEOUT),
            retry: RetryPolicy::default(),
            http: None,
            cache: None,
        }
    }

    /// Which identity (system-assigned by default).
    pub fn identity(mut self, id: ManagedIdentityId) -> Self {
        self.id = id;
        self
    }

    /// A user-assigned identity by its client id.
    pub fn client_id(self, client_id: impl Into<String>) -> Self {
        self.identity(ManagedIdentityId::ClientId(client_id.into()))
    }

    /// A user-assigned identity by its object (principal) id.
    pub fn object_id(self, object_id: impl Into<String>) -> Self {
        self.identity(ManagedIdentityId::ObjectId(object_id.into()))
    }

    /// A user-assigned identity by its Azure resource id.
    pub fn resource_id(self, resource_id: impl Into<String>) -> Self {
        self.identity(ManagedIdentityId::ResourceId(resource_id.into()))
    }

    /// The endpoint the process environment names: App Service's when `IDENTITY_ENDPOINT` and
    /// `IDENTITY_HEADER` are set, else IMDS (on `AZURE_POD_IDENTITY_AUTHORITY_HOST` if set).
    /// Azure Arc (`IDENTITY_ENDPOINT` + `IMDS_ENDPOINT`), Service Fabric
    /// (`IDENTITY_SERVER_THUMBPRINT`) and Cloud Shell (`MSI_ENDPOINT`) are not supported:
    /// [`build`](Self::build) then answers [`Error::CredentialUnavailable`].
    pub fn env(self) -> Self {
        self.env_vars(|name| std::env::var(name).ok())
    }

    /// As [`env`](Self::env), with the environment given as a lookup function, read now.
    pub fn env_vars(mut self, vars: impl Fn(&str) -> Option<String>) -> Self {
        self.source = source_from_env(&vars);
        self
    }

    /// Use IMDS at this token URL (default
    /// `http://169.254.169.254/metadata/identity/oauth2/token`).
    pub fn imds_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.source = SourceConfig::Imds(endpoint.into());
        self
    }

    /// Use the App Service protocol at `endpoint` (`IDENTITY_ENDPOINT`) with `identity_header`
    /// (`IDENTITY_HEADER`, a secret sent as `X-IDENTITY-HEADER`).
    pub fn app_service_endpoint(
        mut self,
        endpoint: impl Into<String>,
        identity_header: impl Into<String>,
    ) -> Self {
        self.source =
            SourceConfig::AppService(endpoint.into(), Zeroizing::new(identity_header.into()));
        self
    }

    pub(crate) fn source(mut self, source: SourceConfig) -> Self {
        self.source = source;
        self
    }

    /// The clock token lifetimes are measured with (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Renew cached tokens when they have less than this left to live (default 5 minutes).
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// The time limit of one request (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long the probe of IMDS waits for its answer (default 1 s); `None` sends no probe
    /// (the first request then waits for its full timeout and retries off Azure).
    pub fn probe_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.probe_timeout = timeout;
        self
    }

    /// Retries of retryable answers, timeouts and connection failures (default 5). IMDS's
    /// 410 is retried for the upgrade window whatever this says.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.retry.backoff.max_retries = retries;
        self
    }

    /// The backoff before the first retry, doubled for each further one, with jitter
    /// (default 1 s).
    pub fn retry_base_delay(mut self, delay: Duration) -> Self {
        self.retry.backoff.base_delay = delay;
        self
    }

    /// The longest wait before a retry, also when `Retry-After` asks for more (default 30 s).
    pub fn max_retry_delay(mut self, delay: Duration) -> Self {
        self.retry.backoff.max_delay = delay;
        self
    }

    /// How long IMDS's 410 ("being upgraded") is retried, from the first request
    /// (default 70 s, as Microsoft documents).
    pub fn imds_upgrade_window(mut self, window: Duration) -> Self {
        self.retry.upgrade_window = window;
        self
    }

    /// The HTTP client (default: a client that follows no redirects and uses no proxy, since
    /// the endpoints are local to the machine).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// A token cache to share with other credentials (default: a cache of its own).
    pub fn cache(mut self, cache: TokenCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Checks the configuration and creates the credential.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a bad endpoint, header, id or timeout;
    /// [`Error::CredentialUnavailable`] when the environment names a host that is not supported
    /// (Azure Arc, Service Fabric, Cloud Shell), so that a chain moves on.
    pub fn build(self) -> Result<ManagedIdentityCredential, Error> {
        let source = match self.source {
            SourceConfig::Unsupported(reason) => {
                return Err(Error::CredentialUnavailable {
                    credential: "managed identity".to_owned(),
                    reason,
                });
            }
            SourceConfig::Imds(endpoint) => Source::Imds {
                endpoint: parse_endpoint("the IMDS endpoint", &endpoint)?,
            },
            SourceConfig::AppService(endpoint, header) => {
                if header.chars().any(|c| c.is_control()) {
                    return Err(Error::Config(
                        "the identity header (IDENTITY_HEADER) contains control characters".into(),
                    ));
                }
                Source::AppService {
                    endpoint: parse_endpoint(
                        "the App Service endpoint (IDENTITY_ENDPOINT)",
                        &endpoint,
                    )?,
                    header: IdentityHeader(header),
                }
            }
        };
        match &self.id {
            ManagedIdentityId::SystemAssigned => {}
            ManagedIdentityId::ClientId(id)
            | ManagedIdentityId::ObjectId(id)
            | ManagedIdentityId::ResourceId(id) => {
                if id.trim().is_empty() || id.chars().any(char::is_control) {
                    return Err(Error::Config(
                        "the user-assigned identity's id is empty or contains control characters"
                            .into(),
                    ));
                }
            }
        }
        if self.timeout.is_zero() || self.probe_timeout.is_some_and(|t| t.is_zero()) {
            return Err(Error::Config("the timeouts must not be zero".into()));
        }
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .build()
                .map_err(|e| Error::Config(format!("cannot create the HTTP client: {e}")))?,
        };
        Ok(ManagedIdentityCredential {
            inner: Arc::new(Inner {
                source,
                id: self.id,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                refresh_margin: self.refresh_margin,
                timeout: self.timeout,
                probe_timeout: self.probe_timeout,
                retry: self.retry,
                http,
                cache: self.cache.unwrap_or_default(),
                answered: AtomicBool::new(false),
                unavailable: OnceLock::new(),
            }),
        })
    }
}

/// A managed identity endpoint: `https://`, or plain `http://` on a loopback host (App Service's
/// `localhost` endpoint, an emulator) or a link-local one (IMDS's 169.254.169.254); no
/// credentials, no fragment.
fn parse_endpoint(what: &str, endpoint: &str) -> Result<Url, Error> {
    let url = Url::parse(endpoint.trim())
        .map_err(|e| Error::Config(format!("{what} is not a URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Config(format!(
            "{what} must not contain credentials"
        )));
    }
    if url.fragment().is_some() {
        return Err(Error::Config(format!("{what} must not have a fragment")));
    }
    let local = match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback() || ip.is_link_local(),
        Some(Host::Ipv6(ip)) => {
            IpAddr::V6(ip).is_loopback() || (ip.segments()[0] & 0xffc0) == 0xfe80
        }
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => return Err(Error::Config(format!("{what} {url} has no host"))),
    };
    match url.scheme() {
        "https" => {}
        "http" if local => {}
        "http" => {
            return Err(Error::Config(format!(
                "{what} {url} uses plain http, which is accepted only for loopback and \
                 link-local hosts"
            )));
        }
        _ => {
            return Err(Error::Config(format!(
                "{what} {url} must be an http(s) URL"
            )));
        }
    }
    Ok(url)
}
