//! The server behind `bench/load.sh`: the example API's `/me` endpoint with or without
//! `EntraAuthLayer`, so both can be measured side by side.
//!
//! ```text
//! bench_server auth   <tokens-dir>   # emulator + protected /me; writes token files
//! bench_server noauth                # the same /me handler, no layer
//! ```
//!
//! In `auth` mode it writes into `<tokens-dir>`: `valid.txt` (one token), `distinct.txt`
//! (`DISTINCT` distinct valid tokens, default 20,000), `unknown_kid.txt` (1,000 tokens naming
//! keys that do not exist). `GET /stats` reports key-set fetches, cached tokens and memory.
//! `BIND` sets the address (default 127.0.0.1:0); the chosen URL is printed on stdout.

use std::error::Error;
use std::io::Write;

use axum::routing::get;
use axum::{Json, Router};
use entra_auth::{Claims, EntraAuthLayer, EntraConfig};
use entra_emulator::{DEV_API_CLIENT_ID, DEV_CLIENT_ID, DEV_TENANT_ID, Emulator, Endpoint};
use serde_json::{Value, json};

async fn me(claims: Claims) -> Json<Value> {
    Json(json!({
        "ver": claims.version().map(|v| v.as_str()),
        "tid": claims.tenant_id(),
        "oid": claims.object_id(),
        "sub": claims.subject(),
        "app_id": claims.app_id(),
        "scp": claims.scopes(),
        "roles": claims.roles(),
    }))
}

/// The same answer without authentication (fixed values of the same shape).
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

fn write_lines(path: &std::path::Path, lines: &[String]) -> std::io::Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    for line in lines {
        writeln!(file, "{line}")?;
    }
    file.flush()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:0".to_owned());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    let base = format!("http://{}", listener.local_addr()?);

    let app = match mode.as_str() {
        "noauth" => Router::new().route("/me", get(me_anonymous)).route(
            "/stats",
            get(|| async { Json(json!({ "memory": memory() })) }),
        ),
        "auth" => {
            let dir =
                std::path::PathBuf::from(args.next().ok_or("auth mode needs a tokens directory")?);
            std::fs::create_dir_all(&dir)?;
            let emulator = Emulator::start().await?;
            let config = EntraConfig::builder()
                .tenant(DEV_TENANT_ID)
                .client_id(DEV_API_CLIENT_ID)
                .authority(emulator.base_url())
                .build()?;
            let layer = EntraAuthLayer::new(config);
            layer.prefetch().await?;
            let distinct: usize = std::env::var("DISTINCT")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(20_000);
            write_lines(&dir.join("valid.txt"), &[emulator.token().sign()])?;
            let tokens: Vec<String> = (0..distinct)
                .map(|i| {
                    emulator
                        .token()
                        .claim("uti", json!(format!("bench-{i}")))
                        .sign()
                })
                .collect();
            write_lines(&dir.join("distinct.txt"), &tokens)?;
            let unknown: Vec<String> = (0..1000)
                .map(|i| emulator.token().kid(&format!("no-such-key-{i}")).sign())
                .collect();
            write_lines(&dir.join("unknown_kid.txt"), &unknown)?;
            let auth = layer.authenticator().clone();
            let stats = move || {
                let auth = auth.clone();
                let emulator = emulator.clone();
                async move {
                    Json(json!({
                        "key_set_fetches": auth.stats().key_set_fetches,
                        "emulator_key_requests": emulator.request_count(Endpoint::Keys),
                        "cached_tokens": auth.stats().cached_tokens,
                        "memory": memory(),
                    }))
                }
            };
            Router::new()
                .route("/me", get(me))
                .layer(layer)
                .route("/stats", get(stats))
        }
        _ => return Err("usage: bench_server (auth <tokens-dir> | noauth)".into()),
    };
    println!("listening on {base}");
    axum::serve(listener, app).await?;
    Ok(())
}
