//! The client side of the main job: get a token with `entra-client` and call the protected API.
//!
//! ```text
//! cargo run --example call_api
//! ```
//!
//! # Self-contained (the default)
//!
//! With no `ENTRA_*` variables and no `API_URL`, everything runs in this process on 127.0.0.1
//! with free ports: the embedded Entra emulator, and a copy of the protected API's `/me` and
//! `/admin` routes (`entra-auth` configured against that emulator; `/admin` needs the app role
//! `Api.Admin`). The example then gets a token over HTTP from the emulator's token endpoint with
//! `entra-client` (the emulator's development client app and its client secret) and calls `/me`
//! without a token (401), `/me` with it (200) and `/admin` (200), printing each status and JSON
//! answer. It exits with status 1 if an answer is not the expected one.
//!
//! # Against a real deployment
//!
//! Set the calling app's credentials and the API's URL:
//!
//! | variable | meaning |
//! |---|---|
//! | `ENTRA_TENANT_ID` | the tenant (id or domain) |
//! | `ENTRA_CLIENT_ID` | the *calling* app's client id (not the API's) |
//! | `ENTRA_SCOPE` | `{API's App ID URI}/.default`, e.g. `api://my-api/.default` |
//! | `ENTRA_CLIENT_SECRET` | the calling app's client secret, or: |
//! | `ENTRA_CERTIFICATE` | a `.pfx` / `.p12` file, or a PEM file with the certificate and its key |
//! | `ENTRA_CERTIFICATE_PASSWORD` | the `.pfx` password, if any |
//! | `ENTRA_AUTHORITY` | optional authority host (sovereign cloud, or an emulator) |
//! | `API_URL` | the protected API, default `http://127.0.0.1:3000` |
//!
//! The example calls `{API_URL}/me` and `{API_URL}/admin` and prints the answers, whatever they
//! are. The token itself is never printed.
//!
//! To call `cargo run --example protected_api` running in its own emulator mode, point the
//! client at *that* emulator (it prints its URL on the `mode:` line): tokens are only valid for
//! the emulator that issued them.
//!
//! ```text
//! ENTRA_AUTHORITY=http://127.0.0.1:PORT \
//! ENTRA_TENANT_ID=7a1e5c3b-0d4f-4e8a-9b2c-6f1d3e5a7c90 \
//! ENTRA_CLIENT_ID=b5e2c8d4-1f3a-4c7b-9e6d-2a8f0c4b7e13 \
//! ENTRA_CLIENT_SECRET='dev-only-secret~emulator~not-for-production' \
//! ENTRA_SCOPE=api://3c9f1a7e-5b2d-4e6f-8a1c-0d7e9b4f2a61/.default \
//! API_URL=http://127.0.0.1:3000 cargo run --example call_api
//! ```

use std::error::Error;
use std::path::Path;
use std::time::SystemTime;

use axum::routing::get;
use axum::{Json, Router};
use entra_auth::{Claims, EntraAuthLayer, EntraConfig, Require};
use entra_client::{AccessToken, ClientCertificate, ClientCredentials, ClientSecret};
use entra_emulator::{
    DEV_API_CLIENT_ID, DEV_CLIENT_ID, DEV_CLIENT_SECRET, DEV_TENANT_ID, Emulator,
};
use serde_json::{Value, json};

type BoxError = Box<dyn Error + Send + Sync>;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match Deployment::from_env() {
        Ok(Some(deployment)) => call_deployment(deployment).await,
        Ok(None) => self_contained().await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------------
// The default: emulator + in-process API + client, all on 127.0.0.1.

/// The protected API's `/me` and `/admin`, as in `examples/protected_api.rs`.
fn api_router(auth: EntraAuthLayer) -> Router {
    async fn me(claims: Claims) -> Json<Value> {
        Json(json!({
            "ver": claims.version().map(|v| v.as_str()),
            "tid": claims.tenant_id(),
            "oid": claims.object_id(),
            "app_id": claims.app_id(),
            "scp": claims.scopes(),
            "roles": claims.roles(),
        }))
    }
    async fn admin(claims: Claims) -> Json<Value> {
        Json(json!({ "admin": true, "app_id": claims.app_id() }))
    }
    Router::new()
        .route("/me", get(me))
        .route(
            "/admin",
            get(admin).route_layer(Require::any_role(["Api.Admin"])),
        )
        .layer(auth)
}

async fn self_contained() -> Result<(), BoxError> {
    let emulator = Emulator::start().await?;

    // The API: entra-auth against the emulator, served on a free port.
    let config = EntraConfig::builder()
        .tenant(DEV_TENANT_ID)
        .client_id(DEV_API_CLIENT_ID)
        .authority(emulator.base_url())
        .build()?;
    let auth = EntraAuthLayer::new(config);
    auth.prefetch().await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, api_router(auth)).await });
    println!(
        "mode: self-contained: Entra emulator at {}, protected API at {api}",
        emulator.base_url()
    );

    // The client: client credentials over HTTP against the emulator's token endpoint.
    let credentials = ClientCredentials::builder(DEV_TENANT_ID, DEV_CLIENT_ID)
        .authority(emulator.base_url())
        .client_secret(ClientSecret::new(DEV_CLIENT_SECRET))
        .build()?;
    let scope = format!("api://{DEV_API_CLIENT_ID}/.default");
    let token = credentials.token(&scope).await?;
    print_token_info(&token, &scope, DEV_CLIENT_ID, "client secret");

    let http = reqwest::Client::new();
    let mut unexpected = Vec::new();
    for (path, with_token, expected) in [
        ("/me", false, 401),
        ("/me", true, 200),
        ("/admin", true, 200),
    ] {
        let status = call(&http, &api, path, with_token.then_some(&token)).await?;
        if status != expected {
            unexpected.push(format!("{path}: {status} instead of {expected}"));
        }
    }
    server.abort();
    emulator.shutdown().await;
    if unexpected.is_empty() {
        println!("all answers as expected");
        Ok(())
    } else {
        Err(format!("unexpected answers: {}", unexpected.join("; ")).into())
    }
}

// ---------------------------------------------------------------------------------------------
// A real deployment, configured from the environment.

/// The calling app and the API, from `ENTRA_*` and `API_URL`.
struct Deployment {
    tenant: String,
    client_id: String,
    scope: String,
    credential: Credential,
    authority: Option<String>,
    api_url: String,
}

enum Credential {
    Secret(String),
    Certificate {
        path: String,
        password: Option<String>,
    },
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Deployment {
    /// `None` when nothing is configured (the self-contained mode); an error naming what is
    /// missing when the configuration is partial.
    fn from_env() -> Result<Option<Deployment>, BoxError> {
        let names = [
            "ENTRA_TENANT_ID",
            "ENTRA_CLIENT_ID",
            "ENTRA_SCOPE",
            "ENTRA_CLIENT_SECRET",
            "ENTRA_CERTIFICATE",
            "API_URL",
        ];
        if names.iter().all(|n| env(n).is_none()) {
            return Ok(None);
        }
        let mut missing: Vec<&str> = ["ENTRA_TENANT_ID", "ENTRA_CLIENT_ID", "ENTRA_SCOPE"]
            .into_iter()
            .filter(|n| env(n).is_none())
            .collect();
        let credential = match (env("ENTRA_CLIENT_SECRET"), env("ENTRA_CERTIFICATE")) {
            (Some(_), Some(_)) => {
                return Err("set ENTRA_CLIENT_SECRET or ENTRA_CERTIFICATE, not both".into());
            }
            (Some(secret), None) => Some(Credential::Secret(secret)),
            (None, Some(path)) => Some(Credential::Certificate {
                path,
                password: std::env::var("ENTRA_CERTIFICATE_PASSWORD").ok(),
            }),
            (None, None) => {
                missing.push("ENTRA_CLIENT_SECRET or ENTRA_CERTIFICATE");
                None
            }
        };
        match credential {
            Some(credential) if missing.is_empty() => Ok(Some(Deployment {
                tenant: env("ENTRA_TENANT_ID").unwrap_or_default(),
                client_id: env("ENTRA_CLIENT_ID").unwrap_or_default(),
                scope: env("ENTRA_SCOPE").unwrap_or_default(),
                credential,
                authority: env("ENTRA_AUTHORITY"),
                api_url: env("API_URL").unwrap_or_else(|| "http://127.0.0.1:3000".to_owned()),
            })),
            _ => Err(format!(
                "to call a deployed API, also set {} (see the top of examples/call_api.rs); \
                 unset ENTRA_* and API_URL for the self-contained mode",
                missing.join(", ")
            )
            .into()),
        }
    }
}

async fn call_deployment(d: Deployment) -> Result<(), BoxError> {
    let mut builder = ClientCredentials::builder(&d.tenant, &d.client_id);
    if let Some(authority) = &d.authority {
        builder = builder.authority(authority);
    }
    let method = match &d.credential {
        Credential::Secret(secret) => {
            builder = builder.client_secret(ClientSecret::new(secret));
            "client secret"
        }
        Credential::Certificate { path, password } => {
            builder = builder.certificate(load_certificate(Path::new(path), password.as_deref())?);
            "certificate"
        }
    };
    let credentials = builder.build()?;
    println!(
        "mode: deployment: authority {}, tenant {}, API at {}",
        credentials.authority(),
        d.tenant,
        d.api_url
    );
    let token = credentials.token(&d.scope).await?;
    print_token_info(&token, &d.scope, &d.client_id, method);
    let http = reqwest::Client::new();
    let api = d.api_url.trim_end_matches('/');
    for path in ["/me", "/admin"] {
        call(&http, api, path, Some(&token)).await?;
    }
    Ok(())
}

/// A `.pfx` / `.p12` (by extension or DER content), else PEM with the certificate and its key.
fn load_certificate(path: &Path, password: Option<&str>) -> Result<ClientCertificate, BoxError> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read ENTRA_CERTIFICATE {}: {e}", path.display()))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let pkcs12 = matches!(ext.as_deref(), Some("pfx" | "p12"))
        || (bytes.first() == Some(&0x30) && !bytes.windows(10).any(|w| w == b"-----BEGIN"));
    let certificate = if pkcs12 {
        ClientCertificate::from_pkcs12(&bytes, password.unwrap_or(""))?
    } else {
        ClientCertificate::from_pem(&bytes, &bytes)?
    };
    Ok(certificate)
}

// ---------------------------------------------------------------------------------------------
// Shared by both modes.

fn print_token_info(token: &AccessToken, scope: &str, client_id: &str, method: &str) {
    let minutes = token.remaining(SystemTime::now()).as_secs() / 60;
    println!("token: for {scope}, as app {client_id} ({method}), expires in {minutes} min");
}

/// `GET {base}{path}`, with the token when given; prints the status and the answer.
async fn call(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    token: Option<&AccessToken>,
) -> Result<u16, BoxError> {
    let url = format!("{base}{path}");
    let mut request = http.get(&url);
    if let Some(token) = token {
        request = request.bearer_auth(token.secret());
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("cannot call {url}: {e}"))?;
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.text().await.unwrap_or_default();
    let label = if token.is_some() { "" } else { " (no token)" };
    println!("\nGET {url}{label} -> {status}");
    if let Some(challenge) = challenge {
        println!("WWW-Authenticate: {challenge}");
    }
    match serde_json::from_str::<Value>(&body) {
        Ok(json) => println!("{}", serde_json::to_string_pretty(&json).unwrap_or(body)),
        Err(_) if body.is_empty() => {}
        Err(_) => println!("{}", body.chars().take(2000).collect::<String>()),
    }
    Ok(status.as_u16())
}
