//! [`Emulator`]: the handle of a running emulator. Its methods are thin: the URLs come from
//! `urls`, the directory from `directory`, keys from `keys`, faults and the request log from
//! `faults`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::EmulatorError;
use crate::builder::EmulatorBuilder;
use crate::directory::{
    App, ConsentRegistration, GRAPH_RESOURCE, Group, RoleAssignment, TenantName, TokenVersion,
    User, service_principal_id,
};
use crate::faults::{Fault, LoggedRequest};
use crate::keys::SigningKey;
use crate::mint::TokenBuilder;
use crate::state::{State, lock, read, write};
use crate::urls::Endpoint;

mod users;
mod workload;

pub use workload::ManagedIdentityEndpoints;

/// base64url(SHA-256([`Emulator::SIGN_IN_URL_VERIFIER`])).
const SIGN_IN_URL_CHALLENGE: &str = "nwdPpEZOwXPTZEgVru9Ww_iuTDVD62wM95Trovx1fVA";

/// A running emulator. Cheap to clone; the server stops when [`Emulator::shutdown`] is called
/// or the last clone is dropped.
#[derive(Clone)]
pub struct Emulator {
    pub(crate) inner: Arc<Inner>,
}

/// What the clones of an [`Emulator`] share.
pub(crate) struct Inner {
    pub(crate) state: Arc<State>,
    pub(crate) local_addr: SocketAddr,
    pub(crate) handle: axum_server::Handle<SocketAddr>,
    pub(crate) task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    pub(crate) ca_pem: Option<String>,
    pub(crate) ca_path: Option<PathBuf>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("base_url", &self.state().urls.base())
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Start an emulator with the development tenant and apps, over HTTP on `127.0.0.1` with a
    /// free port.
    pub async fn start() -> Result<Emulator, EmulatorError> {
        Emulator::builder().start().await
    }

    /// A builder for other settings (address, TLS, configuration, no dev tenant).
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::new()
    }

    fn state(&self) -> &Arc<State> {
        &self.inner.state
    }

    /// The authority host, e.g. `http://127.0.0.1:49152` (`https` with TLS), no trailing slash.
    pub fn base_url(&self) -> String {
        self.state().urls.base().to_owned()
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// The authority of a tenant: `{base_url}/{tenant}`.
    pub fn authority(&self, tenant: &str) -> String {
        self.state().urls.authority(tenant)
    }

    /// The v2 issuer of a tenant: `{base_url}/{tid}/v2.0`.
    pub fn issuer_v2(&self, tenant_id: &str) -> String {
        self.state().urls.issuer(TokenVersion::V2, tenant_id)
    }

    /// The v1 issuer of a tenant: `https://sts.windows.net/{tid}/` unless changed with
    /// [`EmulatorBuilder::v1_issuer_host`].
    pub fn issuer_v1(&self, tenant_id: &str) -> String {
        self.state().urls.issuer(TokenVersion::V1, tenant_id)
    }

    /// The token endpoint URL: `{base}/{tenant}/oauth2/v2.0/token` or `{base}/{tenant}/oauth2/token`.
    pub fn token_endpoint(&self, tenant: &str, version: TokenVersion) -> String {
        self.state().urls.token(tenant, version)
    }

    /// A ready sign-in URL: an authorization request for `client_id` to `redirect_uri`, with
    /// `response_type=code`, PKCE S256 (a fixed, public challenge), `state=emulator` and
    /// `scope=openid profile offline_access {resource}/.default` for the first resource the
    /// client requests permissions on (Microsoft Graph's `User.Read` when none). Opening it in a browser
    /// shows the sign-in page; the browser lands on the redirect URI with a code. The PKCE
    /// verifier for it is [`Emulator::SIGN_IN_URL_VERIFIER`].
    pub fn sign_in_url(&self, tenant: &str, client_id: &str, redirect_uri: &str) -> String {
        use crate::http::encode_query_value as enc;
        // The first resource the client requests permissions on, by its App ID URI, with
        // `.default`; Microsoft Graph's User.Read when it requests none.
        let scope = {
            let directory = read(&self.state().directory);
            let tenant = match directory.resolve(tenant) {
                Some(TenantName::Specific { tid, .. }) => directory.tenant(&tid),
                _ => None,
            };
            tenant
                .and_then(|t| {
                    let wanted = t.app(client_id)?.requested_permissions().first()?;
                    let resource = t.resource(&wanted.resource)?;
                    Some(format!(
                        "{}/.default",
                        resource
                            .app_id_uri
                            .as_deref()
                            .unwrap_or(resource.client_id())
                    ))
                })
                .unwrap_or_else(|| format!("{GRAPH_RESOURCE}/User.Read"))
        };
        format!(
            "{}?client_id={}&response_type=code&redirect_uri={}&scope={}&code_challenge={}&code_challenge_method=S256&state=emulator",
            self.state().urls.at(crate::urls::AUTHORIZE_V2, tenant),
            enc(client_id),
            enc(redirect_uri),
            enc(&format!("openid profile offline_access {scope}")),
            SIGN_IN_URL_CHALLENGE,
        )
    }

    /// The PKCE `code_verifier` of the code from a [`Emulator::sign_in_url`].
    pub const SIGN_IN_URL_VERIFIER: &str = "entra-emulator-sign-in-url-verifier-public-not-secret";

    /// The discovery document URL of a tenant (`common` and `organizations` work too).
    pub fn discovery_url(&self, tenant: &str, version: TokenVersion) -> String {
        self.state().urls.discovery(tenant, version)
    }

    /// The key set URL of a tenant.
    pub fn jwks_uri(&self, tenant: &str, version: TokenVersion) -> String {
        self.state().urls.keys(tenant, version)
    }

    /// The generated CA certificate (PEM) when serving HTTPS.
    pub fn ca_certificate_pem(&self) -> Option<String> {
        self.inner.ca_pem.clone()
    }

    /// Where the CA certificate was written, if [`TlsOptions::ca_out`](crate::TlsOptions::ca_out)
    /// was set.
    pub fn ca_certificate_path(&self) -> Option<&Path> {
        self.inner.ca_path.as_deref()
    }

    /// Register a tenant (no-op if it exists). Tenant ids are compared case-insensitively.
    pub fn add_tenant(&self, tenant_id: &str) {
        write(&self.state().directory).add_tenant(tenant_id);
    }

    /// Give a tenant a domain name (like a verified domain, or the initial
    /// `{name}.onmicrosoft.com`), creating the tenant if needed. Every tenant endpoint then also
    /// answers under `/{domain}/...`, as Entra does: the discovery documents' `issuer` and the
    /// issued tokens' `iss` and `tid` carry the tenant id, while the endpoint URLs in the
    /// documents (`token_endpoint`, `jwks_uri`, ...) keep the domain as the caller wrote it.
    /// Domain names are compared case-insensitively; an unknown one is answered like an
    /// unknown tenant (AADSTS90002).
    ///
    /// Adding a domain the tenant already has does nothing.
    ///
    /// # Errors
    ///
    /// [`EmulatorError::Config`] if `domain` is not a domain name (at least two dot-separated
    /// labels of letters, digits and inner hyphens; at most 253 characters), or if it already
    /// belongs to another tenant.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), entra_emulator::EmulatorError> {
    /// use entra_emulator::{Emulator, TokenVersion, DEV_TENANT_ID};
    /// let emu = Emulator::start().await?;
    /// emu.add_tenant_domain(DEV_TENANT_ID, "contoso.example")?;
    /// // e.g. http://127.0.0.1:49152/contoso.example/v2.0/.well-known/openid-configuration
    /// let url = emu.discovery_url("contoso.example", TokenVersion::V2);
    /// assert!(emu.add_tenant_domain(DEV_TENANT_ID, "not a domain").is_err());
    /// # let _ = url;
    /// # Ok(()) }
    /// ```
    pub fn add_tenant_domain(&self, tenant_id: &str, domain: &str) -> Result<(), EmulatorError> {
        write(&self.state().directory).add_domain(tenant_id, domain)
    }

    /// The domain names of a tenant (lower-cased, sorted); [`DEV_TENANT_DOMAIN`] for the
    /// development tenant.
    ///
    /// [`DEV_TENANT_DOMAIN`]: crate::DEV_TENANT_DOMAIN
    pub fn tenant_domains(&self, tenant_id: &str) -> Vec<String> {
        read(&self.state().directory).domains_of(tenant_id)
    }

    /// Register (or replace) an app in a tenant, creating the tenant if needed.
    pub fn register_app(&self, tenant_id: &str, app: App) {
        write(&self.state().directory).register_app(tenant_id, app);
    }

    /// Grant `role` of the resource app to the client app (an app-role assignment to its
    /// service principal). Tokens for that resource then carry it in `roles`.
    /// `resource_app_id` may be the resource's client id or App ID URI.
    pub fn assign_app_role(
        &self,
        tenant_id: &str,
        client_app_id: &str,
        resource_app_id: &str,
        role: &str,
    ) {
        let assignment = RoleAssignment {
            client_id: client_app_id.to_owned(),
            resource: resource_app_id.to_owned(),
            role: role.to_owned(),
        };
        write(&self.state().directory).assign_app_role(tenant_id, assignment);
    }

    /// The object id of an app's service principal in a tenant (the `oid` and `sub` of its
    /// app-only tokens). Derived from (tenant, client id): stable across restarts. For a
    /// managed identity, its object id.
    pub fn service_principal_id(&self, tenant_id: &str, client_id: &str) -> String {
        let directory = read(&self.state().directory);
        let identity = directory
            .tenant(tenant_id)
            .and_then(|t| t.app(client_id))
            .and_then(|a| a.managed_identity.as_ref());
        match identity {
            Some(mi) => mi.principal_id().to_owned(),
            None => service_principal_id(tenant_id, client_id),
        }
    }

    /// Mint a token directly (see [`TokenBuilder`] for the defaults).
    pub fn token(&self) -> TokenBuilder {
        TokenBuilder::new(self.state().clone())
    }

    /// Generate a new key and publish it, without signing with it yet (the first step of a key
    /// rollover). Make it active with [`Emulator::set_active_key`].
    ///
    /// # Panics
    ///
    /// If RSA key generation fails, which does not happen short of a broken crypto library.
    pub fn add_key(&self) -> SigningKey {
        #[allow(clippy::expect_used)]
        let key = SigningKey::generate().expect("RSA key generation failed");
        self.publish_key(&key);
        key
    }

    /// Publish an existing key (for example one from [`SigningKey::generate`]) in the key set.
    pub fn publish_key(&self, key: &SigningKey) {
        write(&self.state().keys).publish(key);
    }

    /// Sign issued and minted tokens with the key that has this kid. The key must have been
    /// added or published before (it need not be published now). Unknown kids are ignored
    /// with a warning.
    pub fn set_active_key(&self, kid: &str) {
        if !write(&self.state().keys).set_active(kid) {
            tracing::warn!(kid, "set_active_key: unknown key id ignored");
        }
    }

    /// Remove a key from the published key set. If it is the active key it keeps signing, so
    /// tokens become unverifiable: call [`Emulator::set_active_key`] first for a clean rollover.
    pub fn retire_key(&self, kid: &str) {
        write(&self.state().keys).retire(kid);
    }

    /// The key tokens are currently signed with.
    pub fn active_key(&self) -> SigningKey {
        self.state().active_key()
    }

    /// The kids of the published (tenant-independent) key set, in order.
    pub fn published_kids(&self) -> Vec<String> {
        read(&self.state().keys)
            .published()
            .iter()
            .map(|k| k.kid().to_owned())
            .collect()
    }

    /// Generate an app-specific signing key (like a custom signing key of an enterprise app):
    /// it is served only by key-set requests with `?appid={app_client_id}` (carrying the
    /// tenant-specific issuer in v2), and tokens the token endpoint issues *for* that app as a
    /// resource are signed with it.
    ///
    /// # Panics
    ///
    /// If RSA key generation fails, which does not happen short of a broken crypto library.
    pub fn add_app_key(&self, tenant_id: &str, app_client_id: &str) -> SigningKey {
        #[allow(clippy::expect_used)]
        let key = SigningKey::generate().expect("RSA key generation failed");
        write(&self.state().directory).add_app_key(tenant_id, app_client_id, key.clone());
        write(&self.state().keys).remember(&key);
        key
    }

    /// Inject a fault into every request to this endpoint kind (every tenant, v1 and v2 paths)
    /// until cleared. To fault a single path, see [`Emulator::set_path_fault`].
    pub fn set_fault(&self, endpoint: Endpoint, fault: Fault) {
        self.state().faults.set(endpoint, fault);
    }

    /// Remove the fault of one endpoint kind.
    pub fn clear_fault(&self, endpoint: Endpoint) {
        self.state().faults.clear(endpoint);
    }

    /// Inject a fault into every request to this one path until cleared, e.g. only the v1
    /// discovery document of one tenant while its v2 document answers normally. It is applied
    /// like the faults of [`Emulator::set_fault`], and wins over the fault of the path's
    /// endpoint kind; the requests are counted and logged as usual (with the fault in
    /// [`LoggedRequest::fault`]). Any path can be faulted, even one the emulator does not serve.
    ///
    /// `path` is compared exactly (case-sensitive, not percent-decoded) with the request path,
    /// as shown in [`LoggedRequest::path`], e.g. `/{tenant}/.well-known/openid-configuration`.
    /// A URL of this emulator works too (from [`Emulator::discovery_url`] for instance): its
    /// scheme, host and port are dropped. A query string is ignored: the fault applies whatever
    /// the query.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use entra_emulator::{Emulator, Fault, TokenVersion, DEV_TENANT_ID};
    ///
    /// let emu = Emulator::start().await?;
    /// let v1 = emu.discovery_url(DEV_TENANT_ID, TokenVersion::V1);
    /// let v2 = emu.discovery_url(DEV_TENANT_ID, TokenVersion::V2);
    /// emu.set_path_fault(&format!("/{DEV_TENANT_ID}/.well-known/openid-configuration"), Fault::Status(503));
    ///
    /// let http = reqwest::Client::builder().no_proxy().build()?;
    /// assert_eq!(http.get(&v1).send().await?.status(), 503);
    /// assert_eq!(http.get(&v2).send().await?.status(), 200);
    ///
    /// emu.clear_path_fault(&v1); // the URL names the same path
    /// assert_eq!(http.get(&v1).send().await?.status(), 200);
    /// # Ok(()) }
    /// ```
    pub fn set_path_fault(&self, path: &str, fault: Fault) {
        let path = self.state().urls.request_path(path);
        self.state().faults.set_path(path, fault);
    }

    /// Remove the fault of one path (given as to [`Emulator::set_path_fault`]).
    pub fn clear_path_fault(&self, path: &str) {
        let path = self.state().urls.request_path(path);
        self.state().faults.clear_path(&path);
    }

    /// Remove all faults: those of endpoint kinds and those of paths.
    pub fn clear_faults(&self) {
        self.state().faults.clear_all();
    }

    /// How many requests reached this endpoint kind (any tenant, including faulted and failed
    /// ones) since start or [`Emulator::reset_counters`].
    pub fn request_count(&self, endpoint: Endpoint) -> usize {
        self.state().faults.request_count(endpoint)
    }

    /// The requests received (oldest first, at most the last 10 000). An entry is added when
    /// the response is ready.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.state().faults.request_log()
    }

    /// Clear the request log and counters.
    pub fn reset_counters(&self) {
        self.state().faults.reset_log();
    }

    /// Stop serving: stop accepting, let in-flight requests finish (up to 2 s), then return.
    /// Other clones of this emulator stop working too.
    pub async fn shutdown(self) {
        self.inner
            .handle
            .graceful_shutdown(Some(Duration::from_secs(2)));
        let task = lock(&self.inner.task).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}
