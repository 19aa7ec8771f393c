//! Validate Microsoft Entra ID (Azure AD) access tokens in Axum and tower services.
//!
//! Add [`EntraAuthLayer`] to a router; handlers receive typed [`Claims`]. Per-route
//! requirements ([`Require`]) answer `403 insufficient_scope`. A service in another language,
//! behind nginx, Traefik or Envoy, is protected by the forward-auth service of [`forward_auth`]
//! (feature `forward-auth`, on by default; `entra forward-auth` serves it).
//!
//! Features: `forward-auth` (default) above; `tower-http-auth` (default): the same checks as a
//! tower-http `AsyncAuthorizeRequest` policy, `EntraAuthorize`; `metrics` (off by default):
//! `Authenticator::publish_metrics` through the `metrics` facade (names in [`metrics`]).
//! Without any of them, [`Stats`] still counts every outcome.
//!
//! ```
//! use axum::{Router, routing::get};
//! use entra_auth::{Claims, EntraAuthLayer, EntraConfig, Require};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! # let emulator = entra_emulator::Emulator::start().await?;
//! # let authority = emulator.base_url();
//! let config = EntraConfig::builder()
//!     .tenant(entra_emulator::DEV_TENANT_ID)        // your tenant id
//!     .client_id(entra_emulator::DEV_API_CLIENT_ID) // your API's client id
//!     .authority(authority)                         // omit for the global Azure cloud
//!     .build()?;
//! let auth = EntraAuthLayer::new(config);
//! auth.prefetch().await?; // optional: load keys before serving
//!
//! let app: Router = Router::new()
//!     .route("/me", get(|c: Claims| async move { c.app_id().unwrap_or_default().to_owned() }))
//!     .route("/admin", get(|| async { "hi admin" }).route_layer(Require::any_role(["Api.Admin"])))
//!     .layer(auth);
//!
//! # use tower::ServiceExt;
//! # let token = emulator.token().sign();
//! # let request = http::Request::get("/me")
//! #     .header("authorization", format!("Bearer {token}"))
//! #     .body(axum::body::Body::empty())?;
//! # let response = app.oneshot(request).await?;
//! # assert_eq!(response.status(), 200);
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
//! ```
//!
//! # What is checked, in order
//!
//! Cheap checks come before any cryptography: size, three base64url segments,
//! header (`alg` exactly `RS256`, no `crit`, no Graph `nonce`, a `kid` or `x5t`), claims parsed,
//! `tid` a lower-case GUID and the tenant allowed (a tenant configured by domain name as soon as
//! the discovery document names its id); then the key lookup (an unknown `kid` refreshes the key set at most
//! once per cooldown), the RS256 signature, `exp`/`nbf` with leeway, `aud`, `ver`, `iss` (the
//! issuer the discovery document declares, `{tenantid}` filled from `tid`), `tid` consistent with
//! `iss`, the tenant allow-list, the signing key's own `issuer`, the kind of token (an ID token
//! is refused unless opted in, see below), and `scp` or `roles`.
//!
//! # ID tokens (opt-in, off by default)
//!
//! An API accepts access tokens issued for it. Some single-page apps call their own backend
//! with the ID token they received at sign-in instead, the API and the SPA sharing one app
//! registration; [`EntraConfigBuilder::accept_id_tokens`] allows that, and it is weaker: an ID
//! token proves who signed in to the client, not that the user authorized a call to the API; it
//! has no `scp` and no granted `roles`; its audience is the client id, so any app sharing that
//! client id holds tokens the API accepts. A token with none of `scp`, `azp` and `appid` is an
//! ID token (every Entra access token names its calling app in `azp` or `appid`). Without the
//! opt-in it is refused ([`InvalidToken::IdToken`], `401`); with it, a v2 ID token whose `aud`
//! is exactly the API's client id passes the same checks as an access token and reaches
//! handlers with [`Claims::token_kind`] [`TokenKind::Id`], no scopes, no roles and no calling
//! app, so [`Require`] on scopes, roles or calling apps answers `403` to it.
//!
//! # Responses (RFC 6750)
//!
//! | situation | status | `WWW-Authenticate` |
//! |---|---|---|
//! | no token | 401 | `Bearer` (with `realm` if configured) |
//! | invalid token | 401 | `Bearer error="invalid_token", error_description="..."` |
//! | missing scope / role / calling app | 403 | `Bearer error="insufficient_scope", ..., scope="..."` |
//! | keys cannot be fetched (and none usable) | 503 + `Retry-After` | none |
//!
//! Bodies are `{"error": ..., "error_description": ...}`. Never a 500 for anything a caller
//! sends; never the token in a body or a log. A tenant that is not allowed and an unknown key are
//! answered exactly like a bad signature, so that rejections tell nobody which tenants are
//! customers ([`InvalidToken::public_description`]); the precise reason stays in
//! [`InvalidToken`] and the logs. Every 401 and 403, including those of the extractors and of
//! [`Require`], carries the configured `realm`.
//!
//! # The verified-token cache
//!
//! A client reuses its token for its whole lifetime (about an hour), so the layer remembers
//! tokens it has fully verified ([`TokenCachePolicy`], on by default). The cache key is the
//! exact token text, compared in full: no hash collision can map one token onto another's
//! claims, and a token that differs in a single byte is validated from scratch. An entry is only
//! used while `now` is within the token's `nbf`..`exp` (with leeway), is dropped when it is
//! read after `exp`, and is dropped when its signing key is no longer in the key set (or names
//! another key or `issuer`) and when a refresh changes the discovery issuers, so a key Entra
//! retires stops working for cached tokens too. Capacity is bounded (S3-FIFO eviction, by
//! `quick_cache`: tokens that come back stay, one-off tokens pass through), so a flood of
//! distinct tokens cannot grow memory nor push out the users of the moment. What the cache cannot do: revoke a token before its `exp` (nor can
//! any JWT validator without calling Entra), or notice a configuration change (a new
//! [`Authenticator`] starts empty). Disable it with [`TokenCachePolicy::DISABLED`].

mod admission;
mod authenticator;
mod authorize;
#[cfg(feature = "tower-http-auth")]
mod authorize_request;
mod claims;
pub mod config;
mod counters;
mod error;
mod extract;
#[cfg(feature = "forward-auth")]
pub mod forward_auth;
#[doc(hidden)]
pub mod internal;
mod keys;
mod layer;
pub mod metrics;
mod rejection;
mod token_source;
mod validate;
mod verified_cache;

pub use authenticator::{Authenticator, Stats};
pub use authorize::{Require, RequireService};
#[cfg(feature = "tower-http-auth")]
pub use authorize_request::{AuthorizeFuture, EntraAuthorize};
pub use claims::{BearerToken, Claims, TokenKind, TokenVersion};
pub use config::{
    AZURE_CHINA, AZURE_PUBLIC_CLOUD, AZURE_US_GOVERNMENT, AllowedTenants, EntraConfig,
    EntraConfigBuilder, KeyRefreshPolicy, Tenant, TokenCachePolicy, TokenSources, TokenVersions,
};
pub use entra_core::{AuthorityHost, Clock, ManualClock, SystemClock};
pub use error::{AuthError, ConfigError, InvalidToken, KeysUnavailableReason};
pub use extract::CustomClaims;
pub use layer::{EntraAuthLayer, EntraAuthService, ResponseFuture};
pub use rejection::AuthRejection;
