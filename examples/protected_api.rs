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
//! emulator), `ENTRA_ALLOWED_TENANTS` (comma-separated, multi-tenant), `BIND` (default
//! `127.0.0.1:3000`), `RUST_LOG` (default `info`).
//!
//! Routes: `GET /healthz` (open), `GET /me` (any valid token), `GET /admin` (app role
//! `Api.Admin`), `GET /files` (scope `Files.Read` or app role `Files.Read.All`).

use std::error::Error;
use std::fmt::Write as _;
use std::io::Write as _;

use axum::routing::get;
use axum::{Json, Router};
use entra_auth::{Claims, EntraAuthLayer, EntraConfig, Require};
use entra_emulator::Emulator;
use serde_json::{Value, json};

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

/// The API's routes behind the authentication layer (`/healthz` stays open).
fn router(auth: EntraAuthLayer) -> Router {
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
        .layer(auth);
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
            let redirect = "http://localhost:3000/";
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
        }
    }

    // A closed stdout (e.g. piped into `head`) must not stop the server.
    let _ = std::io::stdout().write_all(out.as_bytes());
    let _ = std::io::stdout().flush();

    axum::serve(listener, router(auth))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
