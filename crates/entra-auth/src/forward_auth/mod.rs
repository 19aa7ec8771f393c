//! A forward-auth service: the endpoint that nginx (`auth_request`), Traefik (`ForwardAuth`) and
//! Envoy (HTTP `ext_authz`) call before they forward a request, so that a service written in any
//! language is protected by Entra at the proxy. `entra forward-auth` serves this router.
//!
//! ```
//! use entra_auth::EntraConfig;
//! use entra_auth::forward_auth::{self, ForwardAuthConfig, RulesFile};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! # let emulator = entra_emulator::Emulator::start().await?;
//! let entra = EntraConfig::builder()
//!     .tenant(entra_emulator::DEV_TENANT_ID)        // your tenant id
//!     .client_id(entra_emulator::DEV_API_CLIENT_ID) // your API's client id
//!     .authority(emulator.base_url())               // omit for the global Azure cloud
//!     .build()?;
//! let rules = RulesFile::from_toml(r#"
//!     [[rule]]
//!     path = "/admin"
//!     roles = ["Api.Admin"]
//! "#)?;
//! let app: axum::Router = forward_auth::router(ForwardAuthConfig::new(entra).with_file(rules));
//!
//! // What Traefik sends for `DELETE /admin/users/7` (nginx and Envoy: see below).
//! # use tower::ServiceExt;
//! # let token = emulator.token().roles(["Api.Admin"]).sign();
//! let check = http::Request::get("/auth/traefik")
//!     .header("x-forwarded-method", "DELETE")
//!     .header("x-forwarded-uri", "/admin/users/7")
//!     .header("authorization", format!("Bearer {token}"))
//!     .body(axum::body::Body::empty())?;
//! let answer = app.oneshot(check).await?;
//! assert_eq!(answer.status(), 200);
//! assert_eq!(answer.headers()["x-entra-app-id"], entra_emulator::DEV_CLIENT_ID);
//! assert_eq!(answer.headers()["x-entra-roles"], "Api.Admin");
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
//! ```
//!
//! # Endpoints
//!
//! | path | for | the original method and path come from |
//! |---|---|---|
//! | `/auth/nginx` | nginx `auth_request` | `X-Original-Method`, `X-Original-URI` (set them: `proxy_set_header X-Original-Method $request_method; proxy_set_header X-Original-URI $request_uri;`) |
//! | `/auth/traefik` | Traefik `ForwardAuth` (`address: http://.../auth/traefik`) | `X-Forwarded-Method`, `X-Forwarded-Uri` (`X-Forwarded-Host` is logged) |
//! | `/auth/envoy/...` | Envoy `ext_authz` `http_service` with `path_prefix: /auth/envoy` | the request's method, and its path after `/auth/envoy` |
//! | `/healthz` | liveness | always `200` |
//! | `/readyz` | readiness | `200` when signing keys are loaded (the probe loads them when none are usable), else `503` |
//!
//! Each endpoint reads its own proxy's headers and no other: Traefik passes a client's
//! `X-Original-URI` on to the auth service and nginx a client's `X-Forwarded-Uri`, so reading
//! "whichever is there" would let a client choose the path the rules see. Bind the service where
//! only the proxy reaches it (`127.0.0.1` or a private network).
//!
//! # Answers
//!
//! | situation | status | headers |
//! |---|---|---|
//! | allowed | 200 | the identity headers (below), `Cache-Control: no-store` |
//! | no token (and no anonymous rule) | 401 | `WWW-Authenticate: Bearer` |
//! | invalid token | 401 | `WWW-Authenticate: Bearer error="invalid_token", error_description="..."` |
//! | the path's rule wants a scope / role / app the token lacks | 403 | `WWW-Authenticate: Bearer error="insufficient_scope", ..., scope="..."` |
//! | signing keys cannot be fetched (and none usable) | 503 | `Retry-After` |
//! | the proxy's original method or path is missing, or the path is ambiguous | 400 | |
//!
//! The refusals are the layer's own ([`AuthError::to_response`](crate::AuthError::to_response)
//! with the configured realm, [`Require::check`](crate::Require::check) for rules), bodies
//! `{"error": ..., "error_description": ...}`. Never a 500, never the token in an answer or a log.
//!
//! The identity headers ([`IdentityHeaders`], names configurable): `X-Entra-Oid` (`oid`),
//! `X-Entra-Tid` (`tid`), `X-Entra-App-Id` (`azp` / `appid`), `X-Entra-Scopes` (`scp`,
//! space-separated), `X-Entra-Roles` (`roles`, space-separated). A `200` always carries all five,
//! empty when there is no value (an app-only token has no scopes; an anonymous request has
//! nothing), so that a proxy copying them replaces whatever a client sent under those names.
//!
//! # Rules
//!
//! Per-path requirements ([`Rules`], from a [`RulesFile`]): the longest matching path prefix
//! (whole segments: `/admin` covers `/admin/x`, not `/administrator`), optionally for some
//! methods only; a rule needs a valid token with any of its scopes or roles, and one of its
//! calling apps if it lists some, or allows anonymous requests. **A path no rule covers needs a
//! valid token, and nothing more.**
//!
//! The original path is compared after normalization: percent-decoded, `//` and `;parameters`
//! dropped, no trailing slash. A path with `.` or `..` segments, an encoded `/` or `\` (`%2F`,
//! `%5C`) or a `\` is refused with `400`: servers disagree on what it names, so no rule can be
//! sure to cover it (clients normalize such paths before sending). Paths are compared
//! case-sensitively; write the rules in the case your service answers to.
//!
//! # tower-http
//!
//! [`router`] comes with `SetSensitiveRequestHeadersLayer` (`Authorization`, `Proxy-Authorization`,
//! `Cookie`: no trace layer prints them), `SetRequestIdLayer` (`X-Request-Id` kept from the proxy,
//! e.g. nginx's `$request_id`, else a UUID), `TraceLayer` (a `forward_auth` span with the request
//! id, method and path, never the query; the response and its status at `INFO`, a `5xx` not again
//! at `ERROR`) and `PropagateRequestIdLayer`.
//!
//! Rooms: `config` ([`ForwardAuthConfig`], [`IdentityHeaders`]), `rules` (matching), `file`
//! (the TOML file), `original` (each proxy's dialect, path normalization), `check` (the handler).

mod check;
mod config;
mod file;
mod original;
mod rules;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{any, get};
use http::{HeaderName, Request, StatusCode, header};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};

pub use config::{ForwardAuthConfig, IdentityHeaders};
pub use file::RulesFile;
pub use rules::{Rule, Rules, RulesError};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The forward-auth service: the endpoints of the [module docs](self), with the tower-http
/// layers. Serve it alone (`axum::serve`) or nest it in a router of yours.
pub fn router(config: ForwardAuthConfig) -> Router {
    let config = Arc::new(config);
    Router::new()
        .route("/auth/nginx", any(check::nginx))
        .route("/auth/traefik", any(check::traefik))
        .route(check::ENVOY_PREFIX, any(check::envoy))
        .route(&format!("{}/", check::ENVOY_PREFIX), any(check::envoy))
        .route(
            &format!("{}/{{*path}}", check::ENVOY_PREFIX),
            any(check::envoy),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(config)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<Body>| {
                    let id = request
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    tracing::info_span!(
                        "forward_auth",
                        request_id = id,
                        method = %request.method(),
                        path = request.uri().path(),
                    )
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
                // A 503 during an Entra outage is an answer, already logged with its status; not
                // one ERROR line per request (the key refresh itself warns once per attempt).
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::PROXY_AUTHORIZATION,
            header::COOKIE,
        ]))
}

/// `200` when usable signing keys are held; otherwise the probe loads them (one shared refresh
/// within the fetch timeout, or at once a `503` while a failure backs off), so that a replica
/// that got no traffic for the keys' maximum age (24 h) and so fetched nothing is not kept out
/// of rotation for good.
async fn ready(State(config): State<Arc<ForwardAuthConfig>>) -> impl IntoResponse {
    if config.auth.is_ready() || config.auth.prefetch().await.is_ok() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "signing keys not loaded")
    }
}
