//! The HTTP side: the router (every route registered with its [`Endpoint`] kind and the fault
//! and log middleware), serving over HTTP or HTTPS, and what the endpoint families share.
//!
//! One file (or folder) per endpoint family: [`discovery`], [`keys`], [`token`] (with
//! [`client_auth`]), [`authorize`] (sign-in, consent, the session), [`device`], [`logout`],
//! [`userinfo`], [`graph`] (Graph's `/v1.0/me`); [`pages`] renders HTML, [`bearer`] checks tokens the
//! emulator issued, [`errors`] has the `AADSTS` answers.

mod authorize;
mod bearer;
mod client_auth;
mod cors;
mod device;
mod discovery;
mod errors;
mod form;
mod graph;
mod keys;
mod logout;
mod managed_identity;
mod pages;
mod token;
mod userinfo;
mod workload;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any};
use serde_json::Value;

pub(crate) use authorize::PendingAuthorization;
pub(crate) use client_auth::SeenAssertions;
pub(crate) use errors::AadError;
pub(crate) use form::encode_query_value;

use crate::EmulatorError;
use crate::directory::{TenantName, TokenVersion};
use crate::faults::{KillAcceptor, track};
use crate::state::{State, read};
use crate::tls::TlsMaterial;
use crate::urls::{self, Endpoint};

/// The state every handler gets.
pub(crate) type Shared = Arc<State>;

/// Every route, v2 and v1, each tagged with its endpoint kind; unknown paths get a 404 (and
/// are logged and faulted like the others, with no endpoint kind).
pub(crate) fn router(state: Shared) -> Router {
    let tagged =
        |endpoint: Endpoint, route: MethodRouter<Shared>| track(&state, Some(endpoint), route);
    let mut router = Router::new();
    for v in [TokenVersion::V2, TokenVersion::V1] {
        router = router
            .route(
                urls::discovery(v).template(),
                tagged(Endpoint::Discovery, discovery::route(v)),
            )
            .route(
                urls::keys(v).template(),
                tagged(Endpoint::Keys, keys::route(v)),
            )
            .route(
                urls::token(v).template(),
                tagged(
                    Endpoint::Token,
                    cors::token_endpoint(&state, token::route(v)),
                ),
            )
            .route(
                urls::logout(v).template(),
                tagged(Endpoint::Logout, logout::route()),
            );
    }
    router = router
        .route(
            urls::AUTHORIZE_V2.template(),
            tagged(Endpoint::Authorize, authorize::route()),
        )
        .route(
            urls::LOGIN.template(),
            tagged(Endpoint::SignIn, authorize::login_route()),
        )
        .route(
            urls::CONSENT.template(),
            tagged(Endpoint::SignIn, authorize::consent_route()),
        )
        .route(
            urls::DEVICE_CODE_V2.template(),
            tagged(Endpoint::DeviceCode, device::route()),
        )
        .route(
            urls::DEVICE_LOGIN,
            tagged(Endpoint::DeviceLogin, device::login_route()),
        )
        .route(
            urls::USERINFO_V2,
            tagged(Endpoint::UserInfo, userinfo::route()),
        )
        .route(
            urls::USERINFO_V1.template(),
            tagged(Endpoint::UserInfo, userinfo::route()),
        )
        .route(
            urls::GRAPH_ME,
            tagged(Endpoint::Graph, graph::graph_me_route()),
        )
        .route(
            urls::MSI_TOKEN,
            tagged(
                Endpoint::ManagedIdentity,
                managed_identity::app_service_route(),
            ),
        )
        .route(
            urls::IMDS_TOKEN,
            tagged(Endpoint::ManagedIdentity, managed_identity::imds_route()),
        )
        .route(
            urls::WORKLOAD_DISCOVERY,
            tagged(Endpoint::WorkloadIssuer, workload::discovery_route()),
        )
        .route(
            urls::WORKLOAD_JWKS,
            tagged(Endpoint::WorkloadIssuer, workload::keys_route()),
        );
    let not_found: MethodRouter<()> = track(&state, None, any(not_found));
    router.fallback_service(not_found).with_state(state)
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found").into_response()
}

/// Serve `state` on `listener` until `handle` shuts it down, over HTTPS when `tls` is given.
pub(crate) fn serve(
    listener: TcpListener,
    tls: Option<&TlsMaterial>,
    state: Shared,
    handle: axum_server::Handle<SocketAddr>,
) -> Result<tokio::task::JoinHandle<()>, EmulatorError> {
    let app = router(state).into_make_service();
    let server = axum_server::from_tcp(listener)?.handle(handle);
    let task = match tls {
        Some(t) => {
            let config =
                axum_server::tls_rustls::RustlsConfig::from_config(t.server_config.clone());
            let acceptor =
                axum_server::tls_rustls::RustlsAcceptor::new(config).acceptor(KillAcceptor);
            let server = server.acceptor(acceptor);
            tokio::spawn(async move {
                if let Err(e) = server.serve(app).await {
                    tracing::error!(error = %e, "emulator server failed");
                }
            })
        }
        None => {
            let server = server.acceptor(KillAcceptor);
            tokio::spawn(async move {
                if let Err(e) = server.serve(app).await {
                    tracing::error!(error = %e, "emulator server failed");
                }
            })
        }
    };
    Ok(task)
}

/// What a tenant path segment names, or AADSTS90002 for an unknown tenant.
fn resolve_tenant(state: &State, tenant: &str) -> Result<TenantName, AadError> {
    read(&state.directory)
        .resolve(tenant)
        .ok_or_else(|| AadError::tenant_not_found(tenant))
}

/// The tenant a request of `client_id` is for: the one the path names or, at `common` and
/// `organizations`, the first tenant where the app is registered.
fn client_tenant(state: &State, tenant: &str, client_id: &str) -> Result<String, AadError> {
    match resolve_tenant(state, tenant)? {
        TenantName::Specific { tid, .. } => Ok(tid),
        TenantName::Independent(_) => read(&state.directory)
            .tenants()
            .find(|(_, t)| t.app(client_id).is_some())
            .map(|(tid, _)| tid.to_owned())
            .ok_or_else(|| AadError::application_not_found(client_id, tenant)),
    }
}

/// A 302 to `location`. Characters a header cannot carry (non-ASCII in a registered redirect
/// URI, controls) are percent-encoded, so there is always a usable `Location`.
fn found(location: &str) -> Response {
    let encoded =
        percent_encoding::utf8_percent_encode(location, percent_encoding::CONTROLS).to_string();
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&encoded) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A JSON answer with Entra's headers.
fn json_response(body: &Value, cache: &'static str) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    use super::*;
    use crate::directory::Directory;
    use crate::keys::{KeyStore, shared_start_keys};
    use crate::urls::Urls;

    /// Routes carry their endpoint kind: the log and the counters know it without looking at
    /// the path's text.
    #[tokio::test]
    async fn routes_are_tagged_with_their_endpoint() {
        let (k1, k2) = shared_start_keys().unwrap();
        let state = Arc::new(State::new(
            Urls::new(
                "http://127.0.0.1:1".into(),
                "https://sts.windows.net".into(),
            ),
            Directory::default(),
            KeyStore::new(k1, [k2]),
            Duration::from_secs(3600),
            Arc::new(entra_core::SystemClock),
        ));
        let app = router(state.clone());
        for (method, path, endpoint) in [
            ("GET", "/common/discovery/v2.0/keys", Some(Endpoint::Keys)),
            ("GET", "/common/discovery/keys", Some(Endpoint::Keys)),
            (
                "GET",
                "/common/.well-known/openid-configuration",
                Some(Endpoint::Discovery),
            ),
            (
                "POST",
                "/common/v2.0/.well-known/openid-configuration",
                Some(Endpoint::Discovery),
            ),
            ("GET", "/x/oauth2/token", Some(Endpoint::Token)),
            ("POST", "/x/oauth2/v2.0/token", Some(Endpoint::Token)),
            ("GET", "/x/oauth2/v2.0/authorize", Some(Endpoint::Authorize)),
            ("POST", "/x/login", Some(Endpoint::SignIn)),
            ("POST", "/x/consent", Some(Endpoint::SignIn)),
            (
                "POST",
                "/x/oauth2/v2.0/devicecode",
                Some(Endpoint::DeviceCode),
            ),
            ("GET", "/devicelogin", Some(Endpoint::DeviceLogin)),
            ("GET", "/x/oauth2/v2.0/logout", Some(Endpoint::Logout)),
            ("GET", "/x/oauth2/logout", Some(Endpoint::Logout)),
            ("GET", "/oidc/userinfo", Some(Endpoint::UserInfo)),
            ("GET", "/x/openid/userinfo", Some(Endpoint::UserInfo)),
            ("GET", "/v1.0/me", Some(Endpoint::Graph)),
            ("GET", "/msi/token", Some(Endpoint::ManagedIdentity)),
            (
                "GET",
                "/metadata/identity/oauth2/token",
                Some(Endpoint::ManagedIdentity),
            ),
            (
                "GET",
                "/workload/aks/.well-known/openid-configuration",
                Some(Endpoint::WorkloadIssuer),
            ),
            (
                "GET",
                "/workload/aks/openid/v1/jwks",
                Some(Endpoint::WorkloadIssuer),
            ),
            ("GET", "/x/y", None),
            ("GET", "/x/oauth2/v2.0/token/more", None),
        ] {
            let request = Request::builder()
                .method(method)
                .uri(path)
                .body(Body::empty())
                .unwrap();
            app.clone().oneshot(request).await.unwrap();
            let logged = state.faults.request_log().pop().unwrap();
            assert_eq!((logged.path.as_str(), logged.endpoint), (path, endpoint));
        }
        assert_eq!(state.faults.request_count(Endpoint::Keys), 2);
        assert_eq!(state.faults.request_count(Endpoint::Discovery), 2);
        assert_eq!(state.faults.request_count(Endpoint::Token), 2);
    }
}
