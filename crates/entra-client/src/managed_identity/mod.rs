//! [`ManagedIdentityCredential`]: tokens for the managed identity of the Azure resource the
//! program runs on, from the endpoint the platform provides, with no secret at all.
//!
//! Two protocols, chosen from the environment as azure-identity does
//! ([`ManagedIdentityCredential::from_env`]):
//!
//! - **App Service** (also Container Apps and Functions), when `IDENTITY_ENDPOINT` and
//!   `IDENTITY_HEADER` are set: `GET {IDENTITY_ENDPOINT}?resource=R&api-version=2019-08-01`
//!   with the header `X-IDENTITY-HEADER: {IDENTITY_HEADER}`;
//! - **IMDS** (VMs, scale sets, AKS nodes) otherwise: `GET
//!   http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=R`
//!   with `Metadata: true` (the host can be moved with `AZURE_POD_IDENTITY_AUTHORITY_HOST`).
//!
//! Other Azure hosts are not supported and are not mistaken for either: Azure Arc
//! (`IDENTITY_ENDPOINT` + `IMDS_ENDPOINT`), Service Fabric (`IDENTITY_SERVER_THUMBPRINT`) and
//! Cloud Shell (`MSI_ENDPOINT`) make `from_env` answer [`Error::CredentialUnavailable`].
//!
//! This module holds the type and the cache lookup; [`builder`] the configuration and the choice
//! of protocol; [`request`] one request, the probe and the response; [`retry`] the retry rules.

mod builder;
mod request;
mod retry;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use url::Url;
use zeroize::Zeroizing;

use crate::cache::{CacheKey, Target};
use crate::credential::{TokenCredential, TokenFuture};
use crate::{AccessToken, Clock, Error, TokenCache};

pub use builder::ManagedIdentityCredentialBuilder;
pub(crate) use builder::source_from_env;
use retry::RetryPolicy;
pub(crate) use retry::retryable_status;

/// The defaults of [`ManagedIdentityCredentialBuilder`].
pub mod defaults {
    use std::time::Duration;

    /// IMDS's address, where every Azure VM answers.
    pub const IMDS_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
    /// The IMDS protocol version sent.
    pub const IMDS_API_VERSION: &str = "2018-02-01";
    /// The App Service protocol version sent.
    pub const APP_SERVICE_API_VERSION: &str = "2019-08-01";
    /// How long the probe of IMDS (the first request) waits for IMDS's answer before the
    /// credential reports itself unavailable (not on Azure), for good.
    pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
    /// The time limit of one request.
    pub const TIMEOUT: Duration = Duration::from_secs(30);
    /// Retries after a retryable answer (IMDS: 404, 429, 5xx; App Service: 429, 5xx), a
    /// timeout or a connection failure. IMDS's 410 is retried for [`IMDS_UPGRADE_WINDOW`]
    /// whatever this says.
    pub const MAX_RETRIES: u32 = 5;
    /// The first retry waits about this long; each further retry twice as long, with jitter.
    pub const RETRY_BASE_DELAY: Duration = Duration::from_secs(1);
    /// No retry waits longer than this, whatever `Retry-After` asks for.
    pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);
    /// IMDS answers 410 while it is being upgraded; Microsoft asks clients to keep retrying
    /// for at least 70 seconds from the first request.
    pub const IMDS_UPGRADE_WINDOW: Duration = Duration::from_secs(70);
    /// A cached token is renewed when it has less than this left to live (and, for tokens that
    /// live 2 hours or more, once half their lifetime has passed, as MSAL does).
    pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
}

/// Which managed identity of the resource: its system-assigned identity, or one of the
/// user-assigned identities attached to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ManagedIdentityId {
    /// The resource's own identity.
    #[default]
    SystemAssigned,
    /// A user-assigned identity by its client (application) id.
    ClientId(String),
    /// A user-assigned identity by the object id of its service principal.
    ObjectId(String),
    /// A user-assigned identity by its Azure resource id
    /// (`/subscriptions/.../providers/Microsoft.ManagedIdentity/userAssignedIdentities/NAME`).
    ResourceId(String),
}

impl ManagedIdentityId {
    /// The query parameter that selects this identity, which each protocol names its own way.
    fn query_param(&self, kind: ManagedIdentityKind) -> Option<(&'static str, &str)> {
        match (self, kind) {
            (ManagedIdentityId::SystemAssigned, _) => None,
            (ManagedIdentityId::ClientId(id), _) => Some(("client_id", id)),
            (ManagedIdentityId::ObjectId(id), ManagedIdentityKind::Imds) => Some(("object_id", id)),
            (ManagedIdentityId::ObjectId(id), ManagedIdentityKind::AppService) => {
                Some(("principal_id", id))
            }
            (ManagedIdentityId::ResourceId(id), ManagedIdentityKind::Imds) => {
                Some(("msi_res_id", id))
            }
            (ManagedIdentityId::ResourceId(id), ManagedIdentityKind::AppService) => {
                Some(("mi_res_id", id))
            }
        }
    }

    /// The cache key's "client id" part: which identity a cached token belongs to.
    fn cache_id(&self) -> String {
        match self {
            ManagedIdentityId::SystemAssigned => "system-assigned".to_owned(),
            ManagedIdentityId::ClientId(id) => format!("client_id={id}"),
            ManagedIdentityId::ObjectId(id) => format!("object_id={id}"),
            ManagedIdentityId::ResourceId(id) => format!("resource_id={id}"),
        }
    }
}

impl fmt::Display for ManagedIdentityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManagedIdentityId::SystemAssigned => f.write_str("system-assigned"),
            ManagedIdentityId::ClientId(id) => write!(f, "user-assigned, client id {id}"),
            ManagedIdentityId::ObjectId(id) => write!(f, "user-assigned, object id {id}"),
            ManagedIdentityId::ResourceId(id) => write!(f, "user-assigned, resource id {id}"),
        }
    }
}

/// The protocol of a managed identity endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ManagedIdentityKind {
    /// The Instance Metadata Service of VMs and scale sets (api-version 2018-02-01).
    Imds,
    /// App Service, Container Apps and Functions (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`,
    /// api-version 2019-08-01).
    AppService,
}

impl fmt::Display for ManagedIdentityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ManagedIdentityKind::Imds => "IMDS",
            ManagedIdentityKind::AppService => "App Service",
        })
    }
}

/// The App Service identity header (`IDENTITY_HEADER`): a secret, zeroized on drop and never
/// shown.
#[derive(Clone)]
pub(crate) struct IdentityHeader(Zeroizing<String>);

impl fmt::Debug for IdentityHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdentityHeader(<redacted>)")
    }
}

/// Where tokens come from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    Imds {
        endpoint: Url,
    },
    AppService {
        endpoint: Url,
        header: IdentityHeader,
    },
}

impl Source {
    fn kind(&self) -> ManagedIdentityKind {
        match self {
            Source::Imds { .. } => ManagedIdentityKind::Imds,
            Source::AppService { .. } => ManagedIdentityKind::AppService,
        }
    }

    fn endpoint(&self) -> &Url {
        match self {
            Source::Imds { endpoint } | Source::AppService { endpoint, .. } => endpoint,
        }
    }
}

/// Tokens for the managed identity of the Azure resource the program runs on (a VM, an App
/// Service or Functions app, a Container App, an AKS node), with no secret in the program.
///
/// System-assigned by default, or a user-assigned identity chosen by client id, object id or
/// resource id ([`ManagedIdentityId`]). Tokens are cached ([`TokenCache`]) and renewed before
/// they expire, one request per resource at a time, in a task no caller can cancel.
///
/// ```no_run
/// use entra_client::{ManagedIdentityCredential, TokenCredential};
///
/// # async fn demo() -> Result<(), entra_client::Error> {
/// // App Service when IDENTITY_ENDPOINT and IDENTITY_HEADER are set, IMDS otherwise.
/// let mi = ManagedIdentityCredential::from_env()?;
/// let token = mi.token("https://storage.azure.com/.default").await?;
///
/// // A user-assigned identity, at an endpoint of your choosing (an emulator):
/// let mi = ManagedIdentityCredential::builder()
///     .client_id("00000000-0000-0000-0000-000000000002")
///     .imds_endpoint("http://127.0.0.1:8080/metadata/identity/oauth2/token")
///     .build()?;
/// # let _ = token; Ok(()) }
/// ```
///
/// # Retries and the probe
///
/// IMDS answers 404, 410, 429 and 5xx are retried with exponential backoff and jitter, as
/// Microsoft documents: 410 (IMDS is being upgraded) for 70 seconds from the first request, the
/// others [`max_retries`](ManagedIdentityCredentialBuilder::max_retries) times; `Retry-After` is
/// honoured. App Service answers 429 and 5xx are retried the same way. Timeouts and connection
/// failures are retried too, once the endpoint is known to be there.
///
/// Until IMDS has answered once, each request starts with a probe: an HTTP GET of the token URL
/// without the `Metadata: true` header, which must get IMDS's own refusal (HTTP 400 with a JSON
/// `error`) within the [`probe timeout`](ManagedIdentityCredentialBuilder::probe_timeout)
/// (1 s). When it does not (off Azure: nothing listens, nothing routes, or another cloud's
/// metadata server answers at 169.254.169.254, as on AWS and GCP), the credential fails at once
/// with [`Error::CredentialUnavailable`] and sends no token request, so that a credential chain
/// moves on without waiting. That verdict is kept for the credential's life (as azure-identity
/// does): later requests fail at once without probing again; create a new credential to probe
/// anew.
///
/// # Errors and secrets
///
/// Error answers become [`Error::ManagedIdentity`], naming the protocol and the status. The
/// token and the App Service identity header are never logged, never in an error and never in
/// `Debug`; the header is sent marked sensitive and kept in a buffer zeroized on drop.
#[derive(Clone)]
pub struct ManagedIdentityCredential {
    inner: Arc<Inner>,
}

struct Inner {
    source: Source,
    id: ManagedIdentityId,
    clock: Arc<dyn Clock>,
    refresh_margin: Duration,
    timeout: Duration,
    probe_timeout: Option<Duration>,
    retry: RetryPolicy,
    http: reqwest::Client,
    cache: TokenCache,
    /// Set once IMDS has answered a request: no more probes.
    answered: AtomicBool,
    /// Set when the probe found no IMDS: why. Kept for the credential's life.
    unavailable: OnceLock<String>,
}

impl ManagedIdentityCredential {
    /// Starts configuring a managed identity credential: system-assigned, IMDS at its usual
    /// address, unless told otherwise.
    pub fn builder() -> ManagedIdentityCredentialBuilder {
        ManagedIdentityCredentialBuilder::new()
    }

    /// The system-assigned identity, at the endpoint the process environment names: App
    /// Service's when `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are set, IMDS otherwise;
    /// [`Error::CredentialUnavailable`] on Azure Arc, Service Fabric and Cloud Shell, which are
    /// not supported. For a
    /// user-assigned identity, use the builder:
    /// `ManagedIdentityCredential::builder().env().client_id(ID).build()`.
    pub fn from_env() -> Result<Self, Error> {
        Self::builder().env().build()
    }

    /// As [`from_env`](Self::from_env), with the environment given as a lookup function (tests).
    pub fn from_env_vars(vars: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        Self::builder().env_vars(vars).build()
    }

    /// An access token for `scope`, which must be `{resource}/.default` (the resource is what
    /// the endpoint is asked for), from the cache while it is fresh.
    pub async fn token(&self, scope: &str) -> Result<AccessToken, Error> {
        let resource = scope_to_resource(scope)?;
        self.token_for_resource(resource).await
    }

    /// An access token for `resource` (an App ID URI such as `https://storage.azure.com`, or a
    /// client id), from the cache while it is fresh.
    pub async fn token_for_resource(&self, resource: &str) -> Result<AccessToken, Error> {
        if resource.trim().is_empty() {
            return Err(Error::InvalidScope("the resource is empty".into()));
        }
        if resource.chars().any(char::is_control) {
            return Err(Error::InvalidScope(
                "the resource contains control characters".into(),
            ));
        }
        let inner = &self.inner;
        let key = CacheKey {
            authority: format!(
                "managed-identity {} {}",
                inner.source.kind(),
                inner.source.endpoint()
            ),
            tenant: String::new(),
            client_id: inner.id.cache_id(),
            target: Target::Resource(resource.to_owned()),
        };
        let clock = inner.clock.clone();
        // The request runs in a task of its own (see `TokenCache::get_or_fetch`), owning a clone.
        let this = self.clone();
        let resource = resource.to_owned();
        inner
            .cache
            .get_or_fetch(
                &key,
                move || clock.now(),
                inner.refresh_margin,
                move || async move { this.fetch_with_retries(&resource).await },
            )
            .await
    }

    /// The protocol of the endpoint.
    pub fn kind(&self) -> ManagedIdentityKind {
        self.inner.source.kind()
    }

    /// The endpoint tokens are asked of (without a query).
    pub fn endpoint(&self) -> &str {
        self.inner.source.endpoint().as_str()
    }

    /// Which identity.
    pub fn identity(&self) -> &ManagedIdentityId {
        &self.inner.id
    }

    /// The token cache.
    pub fn cache(&self) -> &TokenCache {
        &self.inner.cache
    }

    /// The name used in errors and in a chain's report: `managed identity (IMDS)`.
    pub(crate) fn name(&self) -> String {
        format!("managed identity ({})", self.kind())
    }

    fn needs_probe(&self) -> bool {
        self.inner.source.kind() == ManagedIdentityKind::Imds
            && self.inner.probe_timeout.is_some()
            && !self.inner.answered.load(Ordering::Acquire)
    }
}

/// `{resource}/.default` -> `resource`.
pub(crate) fn scope_to_resource(scope: &str) -> Result<&str, Error> {
    match scope.trim().strip_suffix("/.default") {
        Some(resource) if !resource.is_empty() => Ok(resource),
        _ => Err(Error::InvalidScope(
            "a managed identity takes one scope of the form {resource}/.default".into(),
        )),
    }
}

impl TokenCredential for ManagedIdentityCredential {
    /// A managed identity takes exactly one scope, `{resource}/.default`.
    fn token<'a>(&'a self, scopes: &'a [&'a str]) -> TokenFuture<'a> {
        Box::pin(async move {
            match scopes {
                [scope] => ManagedIdentityCredential::token(self, scope).await,
                _ => Err(Error::InvalidScope(format!(
                    "a managed identity takes exactly one scope, {{resource}}/.default; got {}",
                    scopes.len()
                ))),
            }
        })
    }
}

impl fmt::Debug for ManagedIdentityCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("ManagedIdentityCredential")
            .field("kind", &i.source.kind())
            .field("endpoint", &i.source.endpoint().as_str())
            .field("identity", &i.id)
            .field("refresh_margin", &i.refresh_margin)
            .field("timeout", &i.timeout)
            .field("probe_timeout", &i.probe_timeout)
            .field("retry", &i.retry)
            .field("cache", &i.cache)
            .finish_non_exhaustive()
    }
}
