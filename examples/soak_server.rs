//! The server behind `bench/soak.sh`: the example API's `/me` behind `EntraAuthLayer`, on the
//! built-in emulator, with server-side counters per token class and a key rotation on demand.
//!
//! ```text
//! soak_server <tokens-dir>
//! ```
//!
//! At start it writes into `<tokens-dir>` one token per line:
//!
//! * `valid.txt`: `VALID_TOKENS` (default 2,000) distinct valid tokens (app-only v2 and v1,
//!   delegated), signed by the emulator's active key;
//! * `next.txt`: as many valid tokens signed by a key that is published only at the rotation;
//! * `invalid.txt`: 1,000 tokens that must be rejected (expired, not yet valid, wrong audience,
//!   other tenant, `alg: none`, `HS256`, a moved signature, no scope or role, garbage);
//! * `unknown_kid.txt`: 1,000 tokens naming keys that do not exist.
//!
//! Requests say which class their token is in with `X-Token-Class` (`valid`, `next`, `invalid`,
//! `unknown_kid`); a middleware outside the layer counts the answers per class. Routes outside
//! the layer:
//!
//! * `GET /soak/stats`: the counters, key-set fetches, cached tokens, VmRSS;
//! * `POST /soak/rotate`: a key rollover as Entra does it: publish the new key, let the API pick
//!   it up with a refresh (standing in for the periodic refresh, 12 h by default), sign with it,
//!   and from then on mark every response `X-Token-Set: next` (the load generator switches to
//!   `next.txt`); 5 s later, retire the old key and refresh again.
//!
//! `BIND` sets the address (default `127.0.0.1:0`); `listening on <url>` is printed on stdout.

use std::error::Error;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use entra_auth::{Claims, EntraAuthLayer, EntraConfig};
use entra_emulator::{
    DEV_API_CLIENT_ID, DEV_TENANT_ID, Emulator, Endpoint, SigningKey, TokenVersion,
};
use serde_json::{Value, json};

const CLASSES: [&str; 5] = ["valid", "next", "invalid", "unknown_kid", "other"];
const BUCKETS: [&str; 6] = ["200", "401", "403", "503", "5xx", "other"];

/// Answers per token class and status bucket.
struct Counters([[AtomicU64; 6]; 5]);

impl Counters {
    fn record(&self, class: usize, status: u16) {
        let bucket = match status {
            200 => 0,
            401 => 1,
            403 => 2,
            503 => 3,
            500..=599 => 4,
            _ => 5,
        };
        self.0[class][bucket].fetch_add(1, Ordering::Relaxed);
    }

    fn to_json(&self) -> Value {
        let mut out = serde_json::Map::new();
        for (c, name) in CLASSES.iter().enumerate() {
            let mut row = serde_json::Map::new();
            for (b, bucket) in BUCKETS.iter().enumerate() {
                row.insert(
                    (*bucket).to_owned(),
                    json!(self.0[c][b].load(Ordering::Relaxed)),
                );
            }
            out.insert((*name).to_owned(), Value::Object(row));
        }
        Value::Object(out)
    }
}

struct Soak {
    emulator: Emulator,
    layer: EntraAuthLayer,
    next_key: SigningKey,
    rotated: AtomicBool,
    counters: Counters,
}

async fn me(claims: Claims) -> Json<Value> {
    Json(json!({
        "tid": claims.tenant_id(),
        "oid": claims.object_id(),
        "app_id": claims.app_id(),
        "scp": claims.scopes(),
        "roles": claims.roles(),
    }))
}

fn vm_rss_kib() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

async fn count(soak: Arc<Soak>, request: Request, next: Next) -> Response {
    let class = request
        .headers()
        .get("x-token-class")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| CLASSES.iter().position(|c| *c == v))
        .unwrap_or(CLASSES.len() - 1);
    let mut response = next.run(request).await;
    soak.counters.record(class, response.status().as_u16());
    if soak.rotated.load(Ordering::Relaxed) {
        response
            .headers_mut()
            .insert("x-token-set", axum::http::HeaderValue::from_static("next"));
    }
    response
}

async fn stats(soak: Arc<Soak>) -> Json<Value> {
    let auth = soak.layer.authenticator();
    Json(json!({
        "counters": soak.counters.to_json(),
        "key_set_fetches": auth.stats().key_set_fetches,
        "emulator_key_requests": soak.emulator.request_count(Endpoint::Keys),
        "cached_tokens": auth.stats().cached_tokens,
        "loaded_keys": auth.stats().loaded_key_ids.len(),
        "rotated": soak.rotated.load(Ordering::Relaxed),
        "vm_rss_kib": vm_rss_kib(),
    }))
}

async fn rotate(soak: Arc<Soak>) -> Json<Value> {
    if soak.rotated.load(Ordering::Relaxed) {
        return Json(json!({ "rotated": "already" }));
    }
    let old = soak.emulator.active_key();
    // 1. Entra publishes the new key ahead of use; 2. the API picks it up (the periodic refresh).
    soak.emulator.publish_key(&soak.next_key);
    let new_kid = soak.next_key.kid().to_owned();
    let refreshed = refresh_until(&soak.layer, |kids| kids.contains(&new_kid)).await;
    // 3. Entra signs with it; clients get new tokens.
    soak.emulator.set_active_key(soak.next_key.kid());
    soak.rotated.store(true, Ordering::Relaxed);
    // 4. Later, the old key is retired and the API refreshes again.
    let later = soak.clone();
    let old_kid = old.kid().to_owned();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        later.emulator.retire_key(&old_kid);
        let ok = refresh_until(&later.layer, |kids| !kids.contains(&old_kid)).await;
        eprintln!("soak: retired {old_kid}, refreshed: {ok}");
    });
    eprintln!(
        "soak: rotated to {}, refreshed: {refreshed}",
        soak.next_key.kid()
    );
    Json(json!({ "rotated": true, "refreshed": refreshed, "new_kid": soak.next_key.kid() }))
}

/// Refreshes the keys until `done` holds for the loaded key ids (a refresh that was already
/// under way when the key set changed may have read the old set; `prefetch` then shares it).
async fn refresh_until(layer: &EntraAuthLayer, done: impl Fn(&Vec<String>) -> bool) -> bool {
    for _ in 0..50 {
        let _ = layer.prefetch().await;
        if done(&layer.authenticator().stats().loaded_key_ids) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn write_lines(path: &std::path::Path, lines: &[String]) -> std::io::Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    for line in lines {
        writeln!(file, "{line}")?;
    }
    file.flush()
}

/// Valid tokens of several shapes, signed by `key` (or the active key), valid for 4 hours.
fn valid_tokens(emulator: &Emulator, key: Option<&SigningKey>, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let mut b = emulator
                .token()
                .lifetime(Duration::from_secs(4 * 3600))
                .claim("uti", json!(format!("soak-{i}")));
            if let Some(k) = key {
                b = b.signed_with(k);
            }
            match i % 4 {
                0 => b.version(TokenVersion::V1),
                1 => b
                    .delegated(&format!("user-{i}"), "Soak User", "soak@contoso.example")
                    .scopes("Files.Read"),
                _ => b,
            }
            .sign()
        })
        .collect()
}

fn invalid_tokens(emulator: &Emulator, n: usize) -> Vec<String> {
    let other_tenant = "99999999-8888-7777-6666-555555555555";
    (0..n)
        .map(|i| {
            let t = emulator.token().claim("uti", json!(format!("bad-{i}")));
            match i % 10 {
                0 => t.expired().sign(),
                1 => t.not_yet_valid().sign(),
                2 => t.audience("api://someone-else").sign(),
                3 => t.tenant(other_tenant).sign(),
                4 => t.header("alg", json!("none")).sign(),
                5 => t.header("alg", json!("HS256")).sign(),
                6 => t.remove_claim("roles").sign(),
                7 => {
                    // A valid signature moved onto an elevated payload.
                    let good = t.sign();
                    let elevated = emulator.token().roles(["Api.Admin", "Everything"]).sign();
                    let (msg, _) = elevated.rsplit_once('.').unwrap_or_default();
                    let (_, sig) = good.rsplit_once('.').unwrap_or_default();
                    format!("{msg}.{sig}")
                }
                8 => format!("garbage-{i}.not-a.token"),
                _ => {
                    let good = t.sign();
                    good[..good.len() - 3].to_owned()
                }
            }
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: soak_server <tokens-dir>")?,
    );
    std::fs::create_dir_all(&dir)?;
    let n: usize = std::env::var("VALID_TOKENS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);

    let emulator = Emulator::start().await?;
    let config = EntraConfig::builder()
        .tenant(DEV_TENANT_ID)
        .client_id(DEV_API_CLIENT_ID)
        .authority(emulator.base_url())
        .build()?;
    let layer = EntraAuthLayer::new(config);
    layer.prefetch().await?;

    let next_key = SigningKey::generate()?;
    write_lines(&dir.join("valid.txt"), &valid_tokens(&emulator, None, n))?;
    write_lines(
        &dir.join("next.txt"),
        &valid_tokens(&emulator, Some(&next_key), n),
    )?;
    write_lines(&dir.join("invalid.txt"), &invalid_tokens(&emulator, 1000))?;
    let unknown: Vec<String> = (0..1000)
        .map(|i| emulator.token().kid(&format!("no-such-key-{i}")).sign())
        .collect();
    write_lines(&dir.join("unknown_kid.txt"), &unknown)?;

    let soak = Arc::new(Soak {
        emulator,
        layer: layer.clone(),
        next_key,
        rotated: AtomicBool::new(false),
        counters: Counters(Default::default()),
    });
    let (s1, s2, s3) = (soak.clone(), soak.clone(), soak.clone());
    let app = Router::new()
        .route("/me", get(me))
        .layer(layer)
        .route("/soak/stats", get(move || stats(s1.clone())))
        .route("/soak/rotate", post(move || rotate(s2.clone())))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            count(s3.clone(), req, next)
        }));

    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:0".to_owned());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    println!("listening on http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    axum::serve(listener, app).await?;
    Ok(())
}
