//! The servers behind `bench/compare.sh`: the example API's `/me` endpoint behind each way of
//! checking a token, so all of them can be measured side by side on the same requests.
//!
//! ```text
//! bench_server emulator      <dir>   # the emulator; writes <dir>/authority.txt and token files
//! bench_server noauth        <dir>   # the same /me answer, no authentication at all
//! bench_server auth          <dir>   # EntraAuthLayer (verified-token cache on, the default)
//! bench_server auth-outer    <dir>   # the same layer around the whole Router, not per route
//! bench_server auth-nocache  <dir>   # EntraAuthLayer with the verified-token cache off
//! bench_server jsonwebtoken  <dir>   # a raw jsonwebtoken middleware: the floor for rejections
//! bench_server floor         <dir>   # no checks but one RS256 verify with a pre-parsed key
//! ```
//!
//! Every server reads the emulator's URL from `<dir>/authority.txt` and fetches its keys once at
//! start. `floor` is the physical limit of a cold path: the HTTP stack plus the one signature
//! verification no validator can skip. `auth` applies the layer as the README does
//! (`Router::layer`, which wraps each route in a route of its own); `auth-outer` wraps the whole
//! `Router` in it instead, which saves that per-route wrapping (and has no `/stats`: everything
//! behind it needs a token). Token files (one token per line) are in `tokens.rs`.
//! `GET /stats` reports what the server holds (key-set fetches, cached tokens, cache hits and
//! misses, memory). `WORKERS` sets the Tokio worker threads (default 1: one core, saturated),
//! `BIND` the address (default `127.0.0.1:0`); the chosen URL is printed on stdout.

mod floor;
mod raw_jsonwebtoken;
mod tokens;

use std::error::Error;
use std::path::{Path, PathBuf};

use axum::routing::get;
use axum::{Json, Router, ServiceExt};
use entra_auth::{Claims, EntraAuthLayer, EntraConfig, TokenCachePolicy};
use entra_emulator::{DEV_API_CLIENT_ID, DEV_CLIENT_ID, DEV_TENANT_ID};
use serde_json::{Value, json};
use tower::Layer as _;

/// The answer behind the layer: the claims are taken (as a handler does) and the answer is the
/// same as every other server's, so that only the authentication differs.
async fn me(claims: Claims) -> Json<Value> {
    std::hint::black_box(claims.object_id());
    me_anonymous().await
}

/// The answer of every server (fixed values of the shape a `/me` endpoint gives).
async fn me_anonymous() -> Json<Value> {
    Json(json!({
        "ver": "2.0",
        "tid": DEV_TENANT_ID,
        "oid": "5f1a8e42-7c1e-4b9a-9d35-2f0c6b7e8a91",
        "sub": "5f1a8e42-7c1e-4b9a-9d35-2f0c6b7e8a91",
        "app_id": DEV_CLIENT_ID,
        "scp": [],
        "roles": ["Api.Admin", "Files.Read.All"],
    }))
}

/// VmRSS and its peak, from `/proc/self/status`.
fn memory() -> Value {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    json!({ "rss_kib": field("VmRSS:"), "peak_rss_kib": field("VmHWM:") })
}

fn authority(dir: &Path) -> Result<String, Box<dyn Error>> {
    let text = std::fs::read_to_string(dir.join("authority.txt")).map_err(|e| {
        format!(
            "{}: {e} (start `bench_server emulator` first)",
            dir.display()
        )
    })?;
    Ok(text.trim().to_owned())
}

/// The emulator's v2 key set for the dev tenant, as JSON.
async fn key_set(authority: &str) -> Result<Value, Box<dyn Error>> {
    let url = format!("{authority}/{DEV_TENANT_ID}/discovery/v2.0/keys");
    Ok(reqwest::get(url).await?.error_for_status()?.json().await?)
}

async fn prefetched_layer(
    dir: &Path,
    cache: TokenCachePolicy,
) -> Result<EntraAuthLayer, Box<dyn Error>> {
    let config = EntraConfig::builder()
        .tenant(DEV_TENANT_ID)
        .client_id(DEV_API_CLIENT_ID)
        .authority(authority(dir)?)
        .token_cache(cache)
        .build()?;
    let layer = EntraAuthLayer::new(config);
    layer.prefetch().await?;
    Ok(layer)
}

async fn layered(dir: &Path, cache: TokenCachePolicy) -> Result<Router, Box<dyn Error>> {
    let layer = prefetched_layer(dir, cache).await?;
    let auth = layer.authenticator().clone();
    let stats = move || {
        let stats = auth.stats();
        async move {
            Json(json!({
                "key_set_fetches": stats.key_set_fetches,
                "cached_tokens": stats.cached_tokens,
                "cache_hits": stats.cache_hits,
                "cache_misses": stats.cache_misses,
                "cache_evictions": stats.cache_evictions,
                "memory": memory(),
            }))
        }
    };
    Ok(Router::new()
        .route("/me", get(me))
        .layer(layer)
        .route("/stats", get(stats)))
}

fn with_memory_stats(router: Router) -> Router {
    router.route(
        "/stats",
        get(|| async { Json(json!({ "memory": memory() })) }),
    )
}

async fn serve(mode: &str, dir: PathBuf) -> Result<(), Box<dyn Error>> {
    if mode == "emulator" {
        return tokens::serve(&dir).await;
    }
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:0".to_owned());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    let base = format!("http://{}", listener.local_addr()?);
    if mode == "auth-outer" {
        let layer = prefetched_layer(&dir, TokenCachePolicy::default()).await?;
        let app = layer.layer(Router::new().route("/me", get(me)));
        println!("listening on {base}");
        axum::serve(
            listener,
            ServiceExt::<axum::extract::Request>::into_make_service(app),
        )
        .await?;
        return Ok(());
    }
    let app = match mode {
        "noauth" => with_memory_stats(Router::new().route("/me", get(me_anonymous))),
        "auth" => layered(&dir, TokenCachePolicy::default()).await?,
        "auth-nocache" => layered(&dir, TokenCachePolicy::DISABLED).await?,
        "jsonwebtoken" => {
            let keys = key_set(&authority(&dir)?).await?;
            let issuer = format!("{}/{DEV_TENANT_ID}/v2.0", authority(&dir)?);
            with_memory_stats(raw_jsonwebtoken::router(&keys, &issuer)?)
        }
        "floor" => {
            let keys = key_set(&authority(&dir)?).await?;
            with_memory_stats(floor::router(&keys)?)
        }
        other => return Err(format!("unknown mode {other:?}").into()),
    };
    println!("listening on {base}");
    axum::serve(listener, app).await?;
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bench_server (emulator|noauth|auth|auth-outer|auth-nocache|jsonwebtoken|floor) <dir>";
    let mode = args.next().ok_or(usage)?;
    let dir = PathBuf::from(args.next().ok_or(usage)?);
    let workers = std::env::var("WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?
        .block_on(serve(&mode, dir))
}
