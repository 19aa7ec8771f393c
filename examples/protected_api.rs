//! The protected example API: the project's main job.
//!
//! ```text
//! cargo run --example protected_api
//! ```
//!
//! With `ENTRA_TENANT_ID` and `ENTRA_CLIENT_ID` set, it validates real Entra tokens for that
//! tenant and API. Without them it starts the embedded Entra emulator on 127.0.0.1, configures
//! itself against it, and prints a ready `curl` command with a freshly minted token.
//!
//! Environment: `ENTRA_TENANT_ID`, `ENTRA_CLIENT_ID`, `ENTRA_AUDIENCE` (comma-separated, replaces
//! the default audiences), `ENTRA_AUTHORITY` (authority host, e.g. a sovereign cloud or a local
//! emulator), `ENTRA_ALLOWED_TENANTS` (comma-separated, multi-tenant), `ENTRA_CORS_ORIGINS`
//! (comma-separated browser origins such as `https://app.contoso.com` allowed to call the API;
//! in emulator mode the origin of the emulator's SPA registration, `http://localhost:3000`, is
//! always allowed), `BIND` (default `127.0.0.1:3000`), `RUST_LOG` (default `info`).
//!
//! Routes: `GET /healthz` (open), `GET /metrics` (open, Prometheus text format: the
//! [`entra_auth::metrics`] counters), `GET /me` (any valid token), `GET /admin` (app role
//! `Api.Admin`), `GET /files` (scope `Files.Read` or app role `Files.Read.All`).
//!
//! The tower-http layers, outermost first:
//! * `SetSensitiveRequestHeaders` marks `Authorization`, `Proxy-Authorization` and `Cookie`
//!   sensitive: whatever logs the headers prints `Sensitive`, never a token;
//! * `SetRequestId` gives each request an `x-request-id` (a UUID), keeping one the client sent;
//! * `Trace`: a span with the method, the path (not the query) and the request id; one INFO
//!   line per response, the request headers (redacted) at TRACE;
//! * `PropagateRequestId` copies `x-request-id` onto every response;
//! * `Cors`: only the allowed origins; `GET`, `POST`, `OPTIONS`; request headers
//!   `authorization` and `content-type`; exposes `www-authenticate` and `x-request-id`; preflights
//!   cached 600 s; no credentials (a bearer token needs none). It sits outside the Entra
//!   layer, so a preflight is answered by CORS, not refused with 401.

use std::error::Error;
use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, Method, Request, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use entra_auth::{Claims, EntraAuthLayer, EntraConfig, Require};
use entra_emulator::Emulator;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::{Value, json};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Span;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

async fn healthz() -> &'static str {
    "ok"
}

async fn me(claims: Claims) -> Json<Value> {
    Json(json!({
        "ver": claims.version().map(|v| v.as_str()),
        "tid": claims.tenant_id(),
        "oid": claims.object_id(),
        "sub": claims.subject(),
        "app_id": claims.app_id(),
        "scp": claims.scopes(),
        "roles": claims.roles(),
        "name": claims.name(),
        "preferred_username": claims.preferred_username(),
    }))
}

async fn admin(claims: Claims) -> Json<Value> {
    Json(json!({ "admin": true, "app_id": claims.app_id() }))
}

async fn files(claims: Claims) -> Json<Value> {
    Json(json!({ "files": ["report.pdf", "budget.xlsx"], "for": claims.object_id() }))
}

/// What `/metrics` needs: the authenticator whose counters it publishes, and the recorder.
#[derive(Clone)]
struct MetricsState {
    auth: EntraAuthLayer,
    prometheus: PrometheusHandle,
}

/// `GET /metrics`: the authenticator's counters, in the Prometheus text format.
async fn metrics(State(state): State<MetricsState>) -> impl IntoResponse {
    state.auth.authenticator().publish_metrics();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.prometheus.render(),
    )
}

/// The API's routes behind the authentication layer (`/healthz` and `/metrics` stay open),
/// wrapped in the tower-http layers of the module docs.
fn router(auth: EntraAuthLayer, prometheus: PrometheusHandle, cors: CorsLayer) -> Router {
    let protected = Router::new()
        .route("/me", get(me))
        .route(
            "/admin",
            get(admin).route_layer(Require::any_role(["Api.Admin"])),
        )
        .route(
            "/files",
            get(files).route_layer(Require::any_scope(["Files.Read"]).or_roles(["Files.Read.All"])),
        )
        .layer(auth.clone());
    let open = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(MetricsState { auth, prometheus });
    // The last `.layer` is the outermost.
    open.merge(protected)
        .layer(cors)
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
                        "request",
                        method = %request.method(),
                        path = request.uri().path(),
                        request_id = id,
                    )
                })
                // The headers are marked sensitive by then: `Authorization: Sensitive`.
                .on_request(|request: &Request<Body>, _: &Span| {
                    tracing::trace!(headers = ?request.headers(), "request");
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
                // A 503 during an Entra outage is an answer, logged with its status already.
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::PROXY_AUTHORIZATION,
            header::COOKIE,
        ]))
}

/// `scheme://host[:port]` of an absolute http(s) URL, lowercased; `None` for anything else.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    Some(format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// The allowed CORS origins: in emulator mode the dev SPA's, then `ENTRA_CORS_ORIGINS`
/// (comma-separated origins; a trailing `/` is dropped; `*`, paths and non-http(s) origins are
/// refused).
fn cors_origins(emulator_mode: bool, variable: Option<&str>) -> Result<Vec<String>, String> {
    let mut origins = Vec::new();
    if emulator_mode {
        origins.extend(origin_of(entra_emulator::DEV_SPA_REDIRECT_URI));
    }
    for entry in variable.unwrap_or("").split(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let origin = origin_of(entry)
            .filter(|origin| origin.len() >= entry.trim_end_matches('/').len())
            .ok_or_else(|| {
                format!(
                    "ENTRA_CORS_ORIGINS: {entry:?} is not an origin (scheme://host[:port], no path, \
                     no wildcard)"
                )
            })?;
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    Ok(origins)
}

/// The CORS layer for `origins` (exact matches only; no credentials).
fn cors_layer(origins: &[String]) -> Result<CorsLayer, Box<dyn Error>> {
    let origins = origins
        .iter()
        .map(|origin| HeaderValue::from_str(origin))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::WWW_AUTHENTICATE, REQUEST_ID])
        .max_age(Duration::from_secs(600)))
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    // Before anything records a metric.
    let prometheus = PrometheusBuilder::new().install_recorder()?;

    let configured = std::env::var("ENTRA_TENANT_ID").is_ok_and(|v| !v.trim().is_empty())
        && std::env::var("ENTRA_CLIENT_ID").is_ok_and(|v| !v.trim().is_empty());
    let (config, emulator) = if configured {
        (EntraConfig::from_env()?, None)
    } else {
        let emulator = Emulator::start().await?;
        let config = EntraConfig::builder()
            .tenant(entra_emulator::DEV_TENANT_ID)
            .client_id(entra_emulator::DEV_API_CLIENT_ID)
            .authority(emulator.base_url())
            .build()?;
        (config, Some(emulator))
    };

    let origins = cors_origins(
        emulator.is_some(),
        std::env::var("ENTRA_CORS_ORIGINS").ok().as_deref(),
    )?;
    let cors = cors_layer(&origins)?;

    let auth = EntraAuthLayer::new(config.clone());
    if let Err(e) = auth.prefetch().await {
        // Keep serving: requests get 503 + Retry-After until the keys can be fetched.
        tracing::warn!(error = %e, "could not load Entra signing keys yet");
    }

    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let mut out = String::new();
    let _ = writeln!(out, "protected API listening on {base}");
    if origins.is_empty() {
        let _ = writeln!(
            out,
            "CORS: no browser origin allowed (set ENTRA_CORS_ORIGINS, comma-separated)"
        );
    } else {
        let _ = writeln!(out, "CORS: allowed origins {}", origins.join(", "));
    }
    match &emulator {
        Some(emulator) => {
            let token = emulator.token().sign();
            let _ = writeln!(
                out,
                "mode: local Entra emulator at {} (set ENTRA_TENANT_ID and ENTRA_CLIENT_ID for a real tenant)",
                emulator.base_url()
            );
            let _ = writeln!(
                out,
                "tenant {}, API client id {}",
                entra_emulator::DEV_TENANT_ID,
                entra_emulator::DEV_API_CLIENT_ID
            );
            let _ = writeln!(
                out,
                "a token for the dev client app (roles Api.Admin, Files.Read.All), valid for an hour:"
            );
            let _ = writeln!(out, "TOKEN={token}");
            let _ = writeln!(out, "try:");
            let _ = writeln!(
                out,
                "  curl -i {base}/me                                    # 401"
            );
            let _ = writeln!(
                out,
                "  curl -i -H \"Authorization: Bearer $TOKEN\" {base}/me   # 200"
            );
            let _ = writeln!(
                out,
                "  curl -s {base}/metrics                               # the entra_auth_* counters (Prometheus)"
            );
            let _ = writeln!(out, "get another token from the emulator's token endpoint:");
            let _ = writeln!(
                out,
                "  curl -s -X POST {} -d grant_type=client_credentials -d client_id={} -d client_secret={} -d scope=api://{}/.default",
                emulator.token_endpoint(
                    entra_emulator::DEV_TENANT_ID,
                    entra_emulator::TokenVersion::V2
                ),
                entra_emulator::DEV_CLIENT_ID,
                entra_emulator::DEV_CLIENT_SECRET,
                entra_emulator::DEV_API_CLIENT_ID,
            );
            let redirect = entra_emulator::DEV_SPA_REDIRECT_URI;
            let _ = writeln!(
                out,
                "a user's token (scope Files.Read, for /files): open this URL in a browser, pick a user, \
                 and copy the code from the address bar it lands on ({redirect}?code=...):"
            );
            let _ = writeln!(
                out,
                "SIGN_IN_URL={}",
                emulator.sign_in_url(
                    entra_emulator::DEV_TENANT_ID,
                    entra_emulator::DEV_SPA_CLIENT_ID,
                    redirect
                )
            );
            let _ = writeln!(
                out,
                "  curl -s -X POST {} -H 'Origin: http://localhost:3000' -d grant_type=authorization_code -d client_id={} -d redirect_uri={redirect} -d code_verifier={} --data-urlencode code=THE_CODE",
                emulator.token_endpoint(
                    entra_emulator::DEV_TENANT_ID,
                    entra_emulator::TokenVersion::V2
                ),
                entra_emulator::DEV_SPA_CLIENT_ID,
                Emulator::SIGN_IN_URL_VERIFIER,
            );
        }
        None => {
            let _ = writeln!(
                out,
                "mode: Entra tenant {} at {}, audiences {:?}",
                config.tenant().segment(),
                config.authority(),
                config.audiences()
            );
            let _ = writeln!(out, "metrics (Prometheus): curl -s {base}/metrics");
        }
    }

    // A closed stdout (e.g. piped into `head`) must not stop the server.
    let _ = std::io::stdout().write_all(out.as_bytes());
    let _ = std::io::stdout().flush();

    axum::serve(listener, router(auth, prometheus, cors))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
