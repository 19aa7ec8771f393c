//! A protected API that calls a downstream API on behalf of its caller: `GET /me/profile` takes
//! the caller's delegated token, trades it for a Microsoft Graph token with the on-behalf-of
//! grant (the API's own client secret authenticates it), calls Graph's `/v1.0/me` with it and
//! returns Graph's answer: the profile of the user who called.
//!
//! ```text
//! cargo run --example downstream_api
//! ```
//!
//! With `ENTRA_TENANT_ID`, `ENTRA_CLIENT_ID` and `ENTRA_CLIENT_SECRET` set (the middle-tier API's
//! registration: it exposes the delegated scope `access_as_user` and has the Microsoft Graph
//! permission `User.Read`), it validates real Entra tokens for that API and calls
//! `https://graph.microsoft.com`. Without them it starts the embedded Entra emulator on
//! 127.0.0.1, registers the middle-tier API there (App ID URI, scope `access_as_user`, a secret,
//! Graph `User.Read` requested), calls the emulator's Graph, and prints how to sign a user in with
//! a device code and call the API.
//!
//! Environment: `ENTRA_TENANT_ID`, `ENTRA_CLIENT_ID`, `ENTRA_CLIENT_SECRET`, `ENTRA_AUDIENCE`
//! (comma-separated, replaces the default audiences), `ENTRA_AUTHORITY` (authority host, e.g. a
//! sovereign cloud), `BIND` (default `127.0.0.1:3001`), `RUST_LOG` (default `info`).
//!
//! Routes: `GET /healthz` (open), `GET /me/profile` (a user token with scope `access_as_user`).
//! Answers of `/me/profile`: 200 with Graph's JSON; 401 / 403 from the authentication layer for
//! a missing, invalid or under-scoped token; when Entra needs the user first (consent missing, a
//! claims challenge, MFA), the 403 or 401 challenge of `Error::challenge_response` for the client
//! app to act on; any other failure (Entra or Graph unreachable or refusing) 502 with a short
//! message, the details in the log.
//!
//! The items shared with the end-to-end test (`tests/downstream_api.rs`, which includes this file
//! to run the same registration and router in process) are `pub(crate)`.

use std::error::Error;
use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use entra_auth::{BearerToken, EntraAuthLayer, EntraConfig, Require};
use entra_client::{ClientCredentials, ClientSecret, OnBehalfOf};
use entra_emulator::{App, DEV_SPA_CLIENT_ID, DEV_TENANT_ID, Emulator, TokenVersion};
use serde_json::{Value, json};

/// The middle-tier API's client id in emulator mode.
pub(crate) const EMULATOR_API_CLIENT_ID: &str = "5e8d2c4a-9f1b-4e3d-8a6c-1b7f0d9e3c52";
/// Its client secret in emulator mode: registered in the in-memory emulator only, like the
/// emulator's own development secret.
const EMULATOR_API_SECRET: &str = "downstream-example-secret~emulator~not-for-production";
/// The delegated scope the API exposes and requires.
pub(crate) const API_SCOPE: &str = "access_as_user";
/// What the API asks for on behalf of its caller.
pub(crate) const GRAPH_USER_READ: &str = "https://graph.microsoft.com/User.Read";
/// Microsoft Graph (global Azure).
const GRAPH_BASE: &str = "https://graph.microsoft.com";

/// What the handler needs: the on-behalf-of client (credentials and per-user token cache), where
/// Graph is, and an HTTP client for it.
#[derive(Clone)]
pub(crate) struct Downstream {
    obo: OnBehalfOf,
    graph_base: String,
    http: reqwest::Client,
}

impl Downstream {
    /// On behalf of users with `credentials` (the middle tier's own), calling the Graph at
    /// `graph_base` (`https://graph.microsoft.com`, or the emulator's base URL).
    pub(crate) fn new(
        credentials: ClientCredentials,
        graph_base: impl Into<String>,
    ) -> Result<Self, Box<dyn Error>> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()?;
        Ok(Downstream {
            obo: OnBehalfOf::new(credentials),
            graph_base: graph_base.into().trim_end_matches('/').to_owned(),
            http,
        })
    }
}

/// Emulator mode: registers the middle-tier API in the emulator's development tenant (App ID URI
/// `api://{client id}`, delegated scope `access_as_user`, a client secret, Microsoft Graph
/// `User.Read` requested, v2 tokens) and returns its configuration and its downstream client.
pub(crate) fn emulator_setup(
    emulator: &Emulator,
) -> Result<(EntraConfig, Downstream), Box<dyn Error>> {
    emulator.register_app(
        DEV_TENANT_ID,
        App::new(EMULATOR_API_CLIENT_ID)
            .display_name("Profile API (downstream_api example)")
            .app_id_uri(format!("api://{EMULATOR_API_CLIENT_ID}"))
            .scope(API_SCOPE)
            .secret(entra_emulator::ClientSecret::new(EMULATOR_API_SECRET))
            .requests(GRAPH_BASE, ["User.Read"])
            .access_token_version(TokenVersion::V2),
    );
    let config = EntraConfig::builder()
        .tenant(DEV_TENANT_ID)
        .client_id(EMULATOR_API_CLIENT_ID)
        .authority(emulator.base_url())
        .build()?;
    let credentials = ClientCredentials::builder(DEV_TENANT_ID, EMULATOR_API_CLIENT_ID)
        .authority(emulator.base_url())
        .client_secret(ClientSecret::new(EMULATOR_API_SECRET))
        .build()?;
    Ok((config, Downstream::new(credentials, emulator.base_url())?))
}

/// A real tenant: the API's registration from the environment, its secret from
/// `ENTRA_CLIENT_SECRET`.
fn tenant_setup() -> Result<(EntraConfig, Downstream), Box<dyn Error>> {
    let config = EntraConfig::from_env()?;
    let secret = std::env::var("ENTRA_CLIENT_SECRET")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .ok_or(
            "ENTRA_CLIENT_SECRET is not set: the API needs its own credential for on-behalf-of",
        )?;
    let tenant = std::env::var("ENTRA_TENANT_ID")?;
    let client_id = std::env::var("ENTRA_CLIENT_ID")?;
    let mut credentials = ClientCredentials::builder(tenant.trim(), client_id.trim())
        .client_secret(ClientSecret::new(secret));
    if let Some(authority) = std::env::var("ENTRA_AUTHORITY")
        .ok()
        .filter(|a| !a.trim().is_empty())
    {
        credentials = credentials.authority(authority.trim());
    }
    Ok((config, Downstream::new(credentials.build()?, GRAPH_BASE)?))
}

async fn healthz() -> &'static str {
    "ok"
}

/// 502 with a short message for the caller; the details go to the log.
fn bad_gateway(description: &'static str) -> Response {
    (
        StatusCode::BAD_GATEWAY,
        Json(json!({ "error": "bad_gateway", "error_description": description })),
    )
        .into_response()
}

/// `GET /me/profile`: Graph's `/v1.0/me` for the caller, with a Graph token obtained on their
/// behalf.
async fn profile(State(downstream): State<Downstream>, token: BearerToken) -> Response {
    let graph_token = match downstream
        .obo
        .token(token.as_str(), &[GRAPH_USER_READ])
        .await
    {
        Ok(graph_token) => graph_token,
        Err(e) => {
            if let Some(challenge) = e.challenge_response() {
                // Consent or interaction: only the user (through the client app) can resolve it.
                tracing::info!(error = %e, "on-behalf-of needs the user");
                return challenge.into_response();
            }
            tracing::warn!(error = %e, "on-behalf-of token for Microsoft Graph failed");
            return bad_gateway("could not get a token for Microsoft Graph");
        }
    };
    let answer = downstream
        .http
        .get(format!("{}/v1.0/me", downstream.graph_base))
        .bearer_auth(graph_token.secret())
        .send()
        .await;
    let answer = match answer {
        Ok(answer) if answer.status().is_success() => answer,
        Ok(answer) => {
            tracing::warn!(status = %answer.status(), "Microsoft Graph refused /v1.0/me");
            return bad_gateway("Microsoft Graph refused the request");
        }
        Err(e) => {
            tracing::warn!(error = %e, "Microsoft Graph could not be reached");
            return bad_gateway("Microsoft Graph could not be reached");
        }
    };
    match answer.json::<Value>().await {
        Ok(me) => Json(me).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "Microsoft Graph's answer is not JSON");
            bad_gateway("Microsoft Graph's answer could not be read")
        }
    }
}

/// The API's routes: `/me/profile` behind the authentication layer, requiring the delegated scope
/// `access_as_user`; `/healthz` open.
pub(crate) fn router(auth: EntraAuthLayer, downstream: Downstream) -> Router {
    let protected = Router::new()
        .route(
            "/me/profile",
            get(profile).route_layer(Require::any_scope([API_SCOPE])),
        )
        .layer(auth)
        .with_state(downstream);
    Router::new()
        .route("/healthz", get(healthz))
        .merge(protected)
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
        .init();

    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let configured = set("ENTRA_TENANT_ID") && set("ENTRA_CLIENT_ID");
    let (config, downstream, emulator) = if configured {
        let (config, downstream) = tenant_setup()?;
        (config, downstream, None)
    } else {
        let emulator = Emulator::start().await?;
        let (config, downstream) = emulator_setup(&emulator)?;
        (config, downstream, Some(emulator))
    };

    let auth = EntraAuthLayer::new(config.clone());
    if let Err(e) = auth.prefetch().await {
        // Keep serving: requests get 503 + Retry-After until the keys can be fetched.
        tracing::warn!(error = %e, "could not load Entra signing keys yet");
    }

    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3001".to_owned());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let mut out = String::new();
    let _ = writeln!(out, "downstream API listening on {base}");
    match &emulator {
        Some(emulator) => {
            let authority = emulator.base_url();
            let scope = format!("api://{EMULATOR_API_CLIENT_ID}/{API_SCOPE}");
            let user_args = format!(
                "--authority {authority} --tenant {DEV_TENANT_ID} --client-id {DEV_SPA_CLIENT_ID} --scope {scope}"
            );
            let _ = writeln!(
                out,
                "mode: local Entra emulator at {authority} (set ENTRA_TENANT_ID, ENTRA_CLIENT_ID and ENTRA_CLIENT_SECRET for a real tenant)"
            );
            let _ = writeln!(
                out,
                "registered the middle-tier API {EMULATOR_API_CLIENT_ID} (scope {scope}, a secret, Graph User.Read); \
                 /me/profile calls the emulator's Microsoft Graph {authority}/v1.0/me on behalf of its caller"
            );
            let _ = writeln!(
                out,
                "users: {} (password {}), {} (no password)",
                entra_emulator::DEV_USER_UPN,
                entra_emulator::DEV_USER_PASSWORD,
                entra_emulator::DEV_SECOND_USER_UPN,
            );
            let _ = writeln!(out, "try:");
            let _ = writeln!(
                out,
                "  curl -i {base}/me/profile                # 401 without a token"
            );
            let _ = writeln!(
                out,
                "sign a user in with a device code (open {authority}/devicelogin, enter the code, pick a user):"
            );
            let _ = writeln!(
                out,
                "  cargo run -p entra-cli -- login --device-code {user_args}"
            );
            let _ = writeln!(
                out,
                "call the API with their token (add --username UPN once two users are signed in):"
            );
            let _ = writeln!(
                out,
                "  curl -i -H \"Authorization: Bearer $(cargo run -q -p entra-cli -- token --user {user_args})\" {base}/me/profile"
            );
        }
        None => {
            let _ = writeln!(
                out,
                "mode: Entra tenant {} at {}, audiences {:?}; Microsoft Graph at {GRAPH_BASE}",
                config.tenant().segment(),
                config.authority(),
                config.audiences()
            );
        }
    }

    // A closed stdout (e.g. piped into `head`) must not stop the server.
    let _ = std::io::stdout().write_all(out.as_bytes());
    let _ = std::io::stdout().flush();

    axum::serve(listener, router(auth, downstream))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
