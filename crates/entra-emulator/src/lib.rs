//! A local Microsoft Entra ID (Azure AD) emulator for tests and offline development.
//!
//! It serves what an API or a daemon needs from `login.microsoftonline.com`, on `127.0.0.1`:
//!
//! | Path | What |
//! |------|------|
//! | `GET /{tenant}/v2.0/.well-known/openid-configuration` | v2 discovery document |
//! | `GET /{tenant}/.well-known/openid-configuration` | v1 discovery document |
//! | `GET /{tenant}/discovery/v2.0/keys[?appid=]` | v2 key set (keys carry `issuer`) |
//! | `GET /{tenant}/discovery/keys[?appid=]` | v1 key set |
//! | `POST /{tenant}/oauth2/v2.0/token` | client credentials, `scope={resource}/.default` |
//! | `POST /{tenant}/oauth2/token` | v1 client credentials, `resource=` |
//!
//! `{tenant}` is a registered tenant id, one of its domain names (see
//! [`Emulator::add_tenant_domain`]), `common` or `organizations`. Under a domain name the
//! documents' `issuer` and the issued tokens' `iss` and `tid` carry the tenant id, while the
//! endpoint URLs in the documents keep the domain, as in Entra. Documents, keys, tokens and
//! errors have the shape Entra gives them, so code tested against the emulator behaves the same
//! against Entra. On top, tests can mint any token directly ([`Emulator::token`]), rotate keys
//! ([`Emulator::add_key`], [`Emulator::set_active_key`], [`Emulator::retire_key`]), inject
//! faults into an endpoint kind ([`Emulator::set_fault`]) or one path
//! ([`Emulator::set_path_fault`]) and count requests ([`Emulator::request_count`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), entra_emulator::EmulatorError> {
//! use entra_emulator::{Emulator, TokenVersion, DEV_TENANT_ID};
//!
//! let emu = Emulator::start().await?;                 // http://127.0.0.1:{random port}
//! let token = emu.token().sign();                     // app-only v2 token for the dev API
//! println!("authority: {}/{DEV_TENANT_ID}", emu.base_url());
//! println!("issuer:    {}", emu.issuer_v2(DEV_TENANT_ID));
//! println!("token:     {token}");
//! println!("token URL: {}", emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V2));
//! emu.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # The development tenant
//!
//! Unless [`EmulatorBuilder::without_dev_tenant`] is used, the emulator registers tenant
//! [`DEV_TENANT_ID`], with the domain name [`DEV_TENANT_DOMAIN`] and two apps:
//!
//! * the protected API [`DEV_API_CLIENT_ID`]: App ID URI `api://{DEV_API_CLIENT_ID}`, app roles
//!   `Api.Admin` and `Files.Read.All`, `accessTokenAcceptedVersion` 2;
//! * the daemon [`DEV_CLIENT_ID`] with the secret [`DEV_CLIENT_SECRET`], assigned both roles.
//!
//! # Keys
//!
//! At start the emulator publishes two RSA-2048 keys (the first signs tokens), like Entra's
//! multi-key sets. To keep tests fast, these two keys are generated once per process and shared
//! by every emulator started in it; keys from [`Emulator::add_key`] and
//! [`SigningKey::generate`] are always fresh.
//!
//! # Token endpoint errors
//!
//! Errors are Entra's JSON (`error`, `error_description` = `AADSTSnnnnnn: message\r\nTrace ID:
//! ..\r\nCorrelation ID: ..\r\nTimestamp: ..`, `error_codes`, `timestamp`, `trace_id`,
//! `correlation_id`, `error_uri`). The correlation id echoes the `client-request-id` header.
//!
//! | Code | `error` | Status | When |
//! |------|---------|--------|------|
//! | 900144 | `invalid_request` | 400 | a required parameter is missing (`grant_type`, `client_id`, `scope`, `resource`, `client_assertion_type`) |
//! | 900561 | `invalid_request` | 400 | the token endpoint was called with a method other than POST |
//! | 70003 | `unsupported_grant_type` | 400 | `grant_type` is not `client_credentials` |
//! | 90002 | `invalid_request` | 400 | unknown tenant (also on discovery and key endpoints) |
//! | 50059 | `invalid_request` | 400 | client credentials on `common` / `organizations`: no tenant can be determined |
//! | 700016 | `unauthorized_client` | 400 | unknown client id in the tenant |
//! | 7000218 | `invalid_client` | 401 | neither `client_secret` nor `client_assertion` |
//! | 7000215 | `invalid_client` | 401 | wrong client secret |
//! | 7000222 | `invalid_client` | 401 | the secret matches one that has expired |
//! | 50027 | `invalid_request` | 400 | the client assertion is not a parsable JWT, or lacks `iss`, `sub` or a non-empty string `jti` (Entra documents no code for a missing `jti`; 50027 is its code for a JWT without a required claim) |
//! | 9002313 | `invalid_request` | 400 | unsupported `client_assertion_type` |
//! | 700021 | `invalid_client` | 401 | assertion `iss`/`sub` differ from each other or from `client_id` |
//! | 700027 | `invalid_client` | 401 | assertion: unknown certificate thumbprint, unsupported `alg`, or bad signature |
//! | 700023 | `invalid_client` | 401 | assertion `aud` is not this tenant's v2 or v1 token endpoint (by tenant id or domain name) |
//! | 700024 | `invalid_client` | 401 | assertion expired, no `exp`, or `nbf` more than 5 minutes ahead |
//! | 700024 | `invalid_client` | 401 | assertion valid for longer than [`EmulatorBuilder::max_assertion_lifetime`], one hour by default (Entra documents no limit and no code for this; the emulator's choice) |
//! | 7000274 | `invalid_client` | 401 | assertion `jti` already used (Entra documents no code for this; the emulator's choice) |
//! | 70011 | `invalid_scope` | 400 | `scope` is not exactly one `{resource}/.default` |
//! | 500011 | `invalid_resource` | 400 | the resource (App ID URI or client id) is not registered in the tenant |
//!
//! Client assertions (`private_key_jwt`) are accepted signed RS256 with an `x5t` header or PS256
//! with `x5t#S256` (either header works with either algorithm), thumbprints base64url with or
//! without `=` padding, `iat`/`nbf`/`exp` as integers or floats, `aud` = the tenant's v2 or v1
//! token endpoint URL: the one called, e.g. `{base}/contoso.onmicrosoft.com/oauth2/v2.0/token`
//! through a domain name, or the same endpoint named by the tenant id or another of its domain
//! names. A `jti` is required and remembered until the assertion's `exp`: since an assertion
//! is valid for at most [`EmulatorBuilder::max_assertion_lifetime`], the memory this takes is
//! bounded.
//!
//! # Issued tokens
//!
//! The token's version is the *resource* app's `accessTokenAcceptedVersion` (v1 for apps created
//! with [`App::new`] unless changed), whichever endpoint issued it, as in Entra. Claims are those
//! of Entra app-only tokens: `aud` (v2: client id; v1: App ID URI), `iss`, `iat`, `nbf`, `exp`,
//! `aio`, `azp`+`azpacr` (v2) or `appid`+`appidacr` (v1) (`"1"` secret, `"2"` certificate),
//! `idp`, `idtyp: "app"`, `oid` = `sub` (the calling app's service principal, see
//! [`Emulator::service_principal_id`]), `rh`, `roles` (omitted when none), `tid`, `uti`, `ver`.
//! Lifetimes are random between 60 and 90 minutes. When the resource app has app-specific keys
//! ([`Emulator::add_app_key`]) its tokens are signed with the newest of them.

mod aadsts;
mod app;
mod assertion;
pub mod cli;
mod config;
mod der;
mod error;
mod fault;
mod keys;
mod server;
mod state;
mod tls;
mod token;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use app::{App, ClientSecret, TokenVersion};
pub use config::{AppConfig, EmulatorConfig, RoleAssignmentConfig, SecretConfig, TenantConfig};
pub use error::EmulatorError;
pub use fault::{Endpoint, Fault, LoggedRequest};
pub use keys::SigningKey;
pub use tls::TlsOptions;
pub use token::TokenBuilder;

use state::{KeyStore, State, lock, read, write};

/// Tenant id of the built-in development tenant.
pub const DEV_TENANT_ID: &str = "7a1e5c3b-0d4f-4e8a-9b2c-6f1d3e5a7c90";

/// The domain name of the built-in development tenant: every tenant endpoint also answers under
/// `/{DEV_TENANT_DOMAIN}/...` (see [`Emulator::add_tenant_domain`]).
pub const DEV_TENANT_DOMAIN: &str = "entraemulator.onmicrosoft.com";

/// Client id of the built-in protected API app: App ID URI `api://{DEV_API_CLIENT_ID}`, app roles
/// `Api.Admin` and `Files.Read.All`, `accessTokenAcceptedVersion` 2.
pub const DEV_API_CLIENT_ID: &str = "3c9f1a7e-5b2d-4e6f-8a1c-0d7e9b4f2a61";

/// Client id of the built-in daemon app: secret [`DEV_CLIENT_SECRET`], assigned the roles
/// `Api.Admin` and `Files.Read.All` on [`DEV_API_CLIENT_ID`].
pub const DEV_CLIENT_ID: &str = "b5e2c8d4-1f3a-4c7b-9e6d-2a8f0c4b7e13";

/// The client secret of [`DEV_CLIENT_ID`]. **Development only**: it is public, in this source
/// code; it only ever works against the emulator.
pub const DEV_CLIENT_SECRET: &str = "dev-only-secret~emulator~not-for-production";

/// The default of [`EmulatorBuilder::max_assertion_lifetime`].
const DEFAULT_MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);

/// The v1 issuer host Entra uses: `https://sts.windows.net/{tid}/`.
const DEFAULT_V1_ISSUER_HOST: &str = "https://sts.windows.net";

/// A running emulator. Cheap to clone; the server stops when [`Emulator::shutdown`] is called
/// or the last clone is dropped.
#[derive(Clone)]
pub struct Emulator {
    inner: Arc<Inner>,
}

struct Inner {
    state: Arc<State>,
    local_addr: SocketAddr,
    handle: axum_server::Handle<SocketAddr>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    ca_pem: Option<String>,
    ca_path: Option<PathBuf>,
    /// Every key ever added or published, so that a retired key can be made active again.
    known_keys: Mutex<Vec<SigningKey>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("base_url", &self.inner.state.base_url)
            .finish_non_exhaustive()
    }
}

/// Configures and starts an [`Emulator`]; from [`Emulator::builder`].
#[derive(Debug)]
pub struct EmulatorBuilder {
    addr: SocketAddr,
    tls: TlsOptions,
    dev_tenant: bool,
    config: Option<EmulatorConfig>,
    v1_issuer_host: String,
    max_assertion_lifetime: Duration,
}

impl EmulatorBuilder {
    /// Listen on this address (default `127.0.0.1:0`: a free port on loopback). The library
    /// accepts any address; the `entra-emulator` binary refuses non-loopback ones by default.
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Serve HTTPS (see [`TlsOptions`]); `true` / `false` also work.
    pub fn tls(mut self, tls: impl Into<TlsOptions>) -> Self {
        self.tls = tls.into();
        self
    }

    /// Do not register the development tenant and apps.
    pub fn without_dev_tenant(mut self) -> Self {
        self.dev_tenant = false;
        self
    }

    /// Register the tenants and apps of this configuration (in addition to the development
    /// tenant unless [`EmulatorBuilder::without_dev_tenant`] is used).
    pub fn config(mut self, config: EmulatorConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// The v1 issuer host (default `https://sts.windows.net`): v1 tokens and the v1 discovery
    /// document use `{host}/{tid}/` as issuer.
    pub fn v1_issuer_host(mut self, host: &str) -> Self {
        self.v1_issuer_host = host.trim_end_matches('/').to_owned();
        self
    }

    /// The longest a client assertion may be valid (default one hour): from its `nbf` (else its
    /// `iat`, else the time it is received) to its `exp`. The token endpoint refuses longer ones
    /// with AADSTS700024. Entra documents no such limit (it recommends assertions that expire
    /// 5 to 10 minutes after `nbf`; MSAL makes them 10 minutes long); the emulator needs one to
    /// bound how long it remembers assertion `jti`s against replay.
    pub fn max_assertion_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_assertion_lifetime = lifetime;
        self
    }

    /// Bind, generate what is needed and start serving in the background.
    pub async fn start(self) -> Result<Emulator, EmulatorError> {
        let registrations = match &self.config {
            Some(c) => c.registrations()?,
            None => Vec::new(),
        };
        let listener = std::net::TcpListener::bind(self.addr)?;
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let tls = if self.tls.enabled {
            Some(tls::generate()?)
        } else {
            None
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let host = match local_addr.ip() {
            ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST).to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        let base_url = format!("{scheme}://{host}:{}", local_addr.port());

        let (k1, k2) = keys::shared_start_keys()?;
        let store = KeyStore {
            published: vec![k1.clone(), k2.clone()],
            active: k1.clone(),
        };
        let mut state = State::new(base_url, self.v1_issuer_host, store);
        state.max_assertion_lifetime = self.max_assertion_lifetime;
        let state = Arc::new(state);

        let mut ca_path = None;
        if let (Some(t), Some(path)) = (&tls, &self.tls.ca_out) {
            std::fs::write(path, &t.ca_pem)?;
            ca_path = Some(path.clone());
        }
        let handle = axum_server::Handle::new();
        let app = server::router(state.clone()).into_make_service();
        let server = axum_server::from_tcp(listener)?.handle(handle.clone());
        let task = match &tls {
            Some(t) => {
                let config =
                    axum_server::tls_rustls::RustlsConfig::from_config(t.server_config.clone());
                let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(config)
                    .acceptor(server::KillAcceptor);
                let server = server.acceptor(acceptor);
                tokio::spawn(async move {
                    if let Err(e) = server.serve(app).await {
                        tracing::error!(error = %e, "emulator server failed");
                    }
                })
            }
            None => {
                let server = server.acceptor(server::KillAcceptor);
                tokio::spawn(async move {
                    if let Err(e) = server.serve(app).await {
                        tracing::error!(error = %e, "emulator server failed");
                    }
                })
            }
        };
        let emu = Emulator {
            inner: Arc::new(Inner {
                state,
                local_addr,
                handle,
                task: Mutex::new(Some(task)),
                ca_pem: tls.map(|t| t.ca_pem),
                ca_path,
                known_keys: Mutex::new(vec![k1, k2]),
            }),
        };
        if self.dev_tenant || self.config.as_ref().is_some_and(|c| c.dev_tenant) {
            emu.register_dev_tenant()?;
        }
        for r in registrations {
            emu.add_tenant(&r.id);
            for domain in &r.domains {
                emu.add_tenant_domain(&r.id, domain)?;
            }
            for app in r.apps {
                emu.register_app(&r.id, app);
            }
            for (client, resource, role) in r.assignments {
                emu.assign_app_role(&r.id, &client, &resource, &role);
            }
        }
        tracing::info!(base_url = %emu.base_url(), "entra emulator listening");
        Ok(emu)
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
        EmulatorBuilder {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            tls: TlsOptions::default(),
            dev_tenant: true,
            config: None,
            v1_issuer_host: DEFAULT_V1_ISSUER_HOST.to_owned(),
            max_assertion_lifetime: DEFAULT_MAX_ASSERTION_LIFETIME,
        }
    }

    fn register_dev_tenant(&self) -> Result<(), EmulatorError> {
        self.add_tenant(DEV_TENANT_ID);
        self.add_tenant_domain(DEV_TENANT_ID, DEV_TENANT_DOMAIN)?;
        self.register_app(
            DEV_TENANT_ID,
            App::new(DEV_API_CLIENT_ID)
                .display_name("Entra Emulator Dev API")
                .app_id_uri(format!("api://{DEV_API_CLIENT_ID}"))
                .app_role("Api.Admin")
                .app_role("Files.Read.All")
                .access_token_version(TokenVersion::V2),
        );
        self.register_app(
            DEV_TENANT_ID,
            App::new(DEV_CLIENT_ID)
                .display_name("Entra Emulator Dev Client")
                .secret(ClientSecret::new(DEV_CLIENT_SECRET)),
        );
        for role in ["Api.Admin", "Files.Read.All"] {
            self.assign_app_role(DEV_TENANT_ID, DEV_CLIENT_ID, DEV_API_CLIENT_ID, role);
        }
        Ok(())
    }

    fn state(&self) -> &Arc<State> {
        &self.inner.state
    }

    /// The authority host, e.g. `http://127.0.0.1:49152` (`https` with TLS), no trailing slash.
    pub fn base_url(&self) -> String {
        self.state().base_url.clone()
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// The authority of a tenant: `{base_url}/{tenant}`.
    pub fn authority(&self, tenant: &str) -> String {
        format!("{}/{tenant}", self.state().base_url)
    }

    /// The v2 issuer of a tenant: `{base_url}/{tid}/v2.0`.
    pub fn issuer_v2(&self, tenant_id: &str) -> String {
        self.state().issuer_v2(tenant_id)
    }

    /// The v1 issuer of a tenant: `https://sts.windows.net/{tid}/` unless changed with
    /// [`EmulatorBuilder::v1_issuer_host`].
    pub fn issuer_v1(&self, tenant_id: &str) -> String {
        self.state().issuer_v1(tenant_id)
    }

    /// The token endpoint URL: `{base}/{tenant}/oauth2/v2.0/token` or `{base}/{tenant}/oauth2/token`.
    pub fn token_endpoint(&self, tenant: &str, version: TokenVersion) -> String {
        match version {
            TokenVersion::V2 => format!("{}/{tenant}/oauth2/v2.0/token", self.state().base_url),
            TokenVersion::V1 => format!("{}/{tenant}/oauth2/token", self.state().base_url),
        }
    }

    /// The discovery document URL of a tenant (`common` and `organizations` work too).
    pub fn discovery_url(&self, tenant: &str, version: TokenVersion) -> String {
        match version {
            TokenVersion::V2 => format!(
                "{}/{tenant}/v2.0/.well-known/openid-configuration",
                self.state().base_url
            ),
            TokenVersion::V1 => format!(
                "{}/{tenant}/.well-known/openid-configuration",
                self.state().base_url
            ),
        }
    }

    /// The key set URL of a tenant.
    pub fn jwks_uri(&self, tenant: &str, version: TokenVersion) -> String {
        match version {
            TokenVersion::V2 => format!("{}/{tenant}/discovery/v2.0/keys", self.state().base_url),
            TokenVersion::V1 => format!("{}/{tenant}/discovery/keys", self.state().base_url),
        }
    }

    /// The generated CA certificate (PEM) when serving HTTPS.
    pub fn ca_certificate_pem(&self) -> Option<String> {
        self.inner.ca_pem.clone()
    }

    /// Where the CA certificate was written, if [`TlsOptions::ca_out`] was set.
    pub fn ca_certificate_path(&self) -> Option<&Path> {
        self.inner.ca_path.as_deref()
    }

    /// Register a tenant (no-op if it exists). Tenant ids are compared case-insensitively.
    pub fn add_tenant(&self, tenant_id: &str) {
        write(&self.state().tenants)
            .entry(tenant_id.to_ascii_lowercase())
            .or_default();
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
        let domain = state::normalize_domain(domain)
            .map_err(|why| EmulatorError::Config(format!("'{domain}': {why}")))?;
        let tid = tenant_id.to_ascii_lowercase();
        self.add_tenant(&tid);
        let mut domains = write(&self.state().domains);
        match domains.get(&domain) {
            Some(owner) if *owner != tid => Err(EmulatorError::Config(format!(
                "domain '{domain}' already belongs to tenant {owner}"
            ))),
            Some(_) => Ok(()),
            None => {
                domains.insert(domain, tid);
                Ok(())
            }
        }
    }

    /// The domain names of a tenant (lower-cased, sorted); [`DEV_TENANT_DOMAIN`] for the
    /// development tenant.
    pub fn tenant_domains(&self, tenant_id: &str) -> Vec<String> {
        let tid = tenant_id.to_ascii_lowercase();
        let mut out: Vec<String> = read(&self.state().domains)
            .iter()
            .filter(|(_, owner)| **owner == tid)
            .map(|(domain, _)| domain.clone())
            .collect();
        out.sort();
        out
    }

    /// Register (or replace) an app in a tenant, creating the tenant if needed.
    pub fn register_app(&self, tenant_id: &str, app: App) {
        write(&self.state().tenants)
            .entry(tenant_id.to_ascii_lowercase())
            .or_default()
            .apps
            .insert(app.client_id.to_ascii_lowercase(), app);
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
        let mut tenants = write(&self.state().tenants);
        let tenant = tenants.entry(tenant_id.to_ascii_lowercase()).or_default();
        let resource = tenant
            .resource(resource_app_id)
            .map(|a| a.client_id.clone())
            .unwrap_or_else(|| resource_app_id.to_owned())
            .to_ascii_lowercase();
        let entry = (
            client_app_id.to_ascii_lowercase(),
            resource,
            role.to_owned(),
        );
        if !tenant.assignments.contains(&entry) {
            tenant.assignments.push(entry);
        }
    }

    /// The object id of an app's service principal in a tenant (the `oid` and `sub` of its
    /// app-only tokens). Derived from (tenant, client id): stable across restarts.
    pub fn service_principal_id(&self, tenant_id: &str, client_id: &str) -> String {
        state::service_principal_id(tenant_id, client_id)
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
        {
            let mut keys = write(&self.state().keys);
            if !keys.published.iter().any(|k| k == key) {
                keys.published.push(key.clone());
            }
        }
        let mut known = lock(&self.inner.known_keys);
        if !known.iter().any(|k| k == key) {
            known.push(key.clone());
        }
    }

    /// Sign issued and minted tokens with the key that has this kid. The key must have been
    /// added or published before (it need not be published now). Unknown kids are ignored
    /// with a warning.
    pub fn set_active_key(&self, kid: &str) {
        let found = lock(&self.inner.known_keys)
            .iter()
            .find(|k| k.kid() == kid)
            .cloned();
        match found {
            Some(k) => write(&self.state().keys).active = k,
            None => tracing::warn!(kid, "set_active_key: unknown key id ignored"),
        }
    }

    /// Remove a key from the published key set. If it is the active key it keeps signing, so
    /// tokens become unverifiable: call [`Emulator::set_active_key`] first for a clean rollover.
    pub fn retire_key(&self, kid: &str) {
        write(&self.state().keys)
            .published
            .retain(|k| k.kid() != kid);
    }

    /// The key tokens are currently signed with.
    pub fn active_key(&self) -> SigningKey {
        self.state().active_key()
    }

    /// The kids of the published (tenant-independent) key set, in order.
    pub fn published_kids(&self) -> Vec<String> {
        read(&self.state().keys)
            .published
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
        write(&self.state().tenants)
            .entry(tenant_id.to_ascii_lowercase())
            .or_default()
            .app_keys
            .entry(app_client_id.to_ascii_lowercase())
            .or_default()
            .push(key.clone());
        lock(&self.inner.known_keys).push(key.clone());
        key
    }

    /// Inject a fault into every request to this endpoint kind (every tenant, v1 and v2 paths)
    /// until cleared. To fault a single path, see [`Emulator::set_path_fault`].
    pub fn set_fault(&self, endpoint: Endpoint, fault: Fault) {
        lock(&self.state().faults).insert(endpoint, fault);
    }

    /// Remove the fault of one endpoint kind.
    pub fn clear_fault(&self, endpoint: Endpoint) {
        lock(&self.state().faults).remove(&endpoint);
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
        let path = self.request_path(path);
        lock(&self.state().path_faults).insert(path, fault);
    }

    /// Remove the fault of one path (given as to [`Emulator::set_path_fault`]).
    pub fn clear_path_fault(&self, path: &str) {
        let path = self.request_path(path);
        lock(&self.state().path_faults).remove(&path);
    }

    /// Remove all faults: those of endpoint kinds and those of paths.
    pub fn clear_faults(&self) {
        lock(&self.state().faults).clear();
        lock(&self.state().path_faults).clear();
    }

    /// The request path named by `path_or_url`: without this emulator's base URL, query or
    /// fragment.
    fn request_path(&self, path_or_url: &str) -> String {
        let base = &self.state().base_url;
        let path = match path_or_url.get(..base.len()) {
            Some(prefix) if prefix.eq_ignore_ascii_case(base) => &path_or_url[base.len()..],
            _ => path_or_url,
        };
        let end = path.find(['?', '#']).unwrap_or(path.len());
        path[..end].to_owned()
    }

    /// How many requests reached this endpoint kind (any tenant, including faulted and failed
    /// ones) since start or [`Emulator::reset_counters`].
    pub fn request_count(&self, endpoint: Endpoint) -> usize {
        lock(&self.state().log)
            .counts
            .get(&endpoint)
            .copied()
            .unwrap_or(0)
    }

    /// The requests received (oldest first, at most the last 10 000). An entry is added when
    /// the response is ready.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        lock(&self.state().log).entries.iter().cloned().collect()
    }

    /// Clear the request log and counters.
    pub fn reset_counters(&self) {
        let mut log = lock(&self.state().log);
        log.entries.clear();
        log.counts.clear();
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
