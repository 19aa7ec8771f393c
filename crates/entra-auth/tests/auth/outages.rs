//! Entra outages and faults, over real HTTP with the emulator's fault injection.
//!
//! `tests/keys.rs` already covers: discovery HTTP 500 at start then recovery, nothing listening,
//! last-known-good keys after dropped connections up to 24 h, a failed unknown-kid refresh never
//! replacing good keys, one broken key at start, a slow key endpoint at start, retired keys and
//! cached tokens. This file covers the rest: every fault kind at start on either endpoint (with
//! the exact number of fetches and the `Retry-After` countdown), every fault kind after a good
//! start through the periodic refresh (last-known-good keys up to their maximum age to the
//! second, and never beyond, with and without the verified-token cache), bodies that never end,
//! unusable `jwks_uri`s and redirects, slow refreshes not blocking valid traffic, concurrent
//! first requests during an outage, key rotation under load, a key id reused for new key
//! material (the verified-token cache), and a stress test of the unknown-kid refresh (ignored
//! by default).
//!
//! Time limits are reached with `ManualClock`, never by sleeping; the only real waits are for
//! background fetches to finish (a few hundred milliseconds) and for the load in the rotation
//! test.

use crate::common;

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Api, dev_config, serve};
use entra_auth::{
    Clock, EntraAuthLayer, EntraConfig, KeyRefreshPolicy, ManualClock, TokenCachePolicy,
    TokenVersions,
};
use entra_emulator::{DEV_API_CLIENT_ID, Emulator, Endpoint, Fault};
use serde_json::json;

const TIMEOUT_MS: u64 = 300;

/// Refresh every hour (no jitter), keys usable for 2 h after the last success, 300 ms timeout.
fn policy() -> KeyRefreshPolicy {
    let mut p = KeyRefreshPolicy::default();
    p.refresh_interval = Duration::from_secs(3600);
    p.jitter = Duration::ZERO;
    p.max_stale = Duration::from_secs(2 * 3600);
    p.fetch_timeout = Duration::from_millis(TIMEOUT_MS);
    p
}

async fn api(emu: &Emulator, cache: bool) -> Api {
    let clock = ManualClock::starting_now();
    let mut cfg = dev_config(emu, &clock).key_refresh(policy());
    if !cache {
        cfg = cfg.token_cache(TokenCachePolicy::DISABLED);
    }
    serve(EntraAuthLayer::new(cfg.build().unwrap()), clock).await
}

fn fresh(emu: &Emulator, api: &Api) -> String {
    emu.token().issued_at(api.clock.unix_seconds()).sign()
}

/// (discovery requests, key-set requests) one refresh attempt makes when `endpoint` fails:
/// the v2 and v1 documents are read concurrently, the key set after the v2 document, so a
/// failing discovery endpoint costs both documents and no key set.
fn per_attempt(endpoint: Endpoint) -> (usize, usize) {
    match endpoint {
        Endpoint::Discovery => (2, 0),
        _ => (2, 1),
    }
}

fn counts(emu: &Emulator) -> (usize, usize) {
    (
        emu.request_count(Endpoint::Discovery),
        emu.request_count(Endpoint::Keys),
    )
}

/// Waits until the background refresh attempt that brings the emulator's counters to
/// `expected` has finished (the attempt itself cannot be observed from outside): its requests
/// arrived, the emulator answered them (a delayed answer is cut by the 300 ms fetch timeout),
/// and the client had a moment to record the failure. Bounded by 10 s.
async fn settle(emu: &Emulator, expected: (usize, usize), fault: &Fault) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while counts(emu) != expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    if let Fault::Delay(_) = fault {
        tokio::time::sleep(Duration::from_millis(TIMEOUT_MS + 150)).await;
        return;
    }
    loop {
        let log = emu.request_log();
        let answered = |ep: Endpoint| log.iter().filter(|r| r.endpoint == Some(ep)).count();
        let all =
            answered(Endpoint::Discovery) >= expected.0 && answered(Endpoint::Keys) >= expected.1;
        if all || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Gives a refresh that must *not* happen the time to show up if it did.
async fn quiet() {
    tokio::time::sleep(Duration::from_millis(150)).await;
}

fn faults() -> Vec<(Endpoint, Fault)> {
    let mut all = Vec::new();
    for endpoint in [Endpoint::Discovery, Endpoint::Keys] {
        all.extend([
            (endpoint, Fault::Status(500)),
            (endpoint, Fault::Status(404)),
            (endpoint, Fault::Html),
            (endpoint, Fault::InvalidJson),
            (endpoint, Fault::Oversized(10 * 1024 * 1024)),
            (endpoint, Fault::DropConnection),
            (endpoint, Fault::Delay(Duration::from_secs(2))),
        ]);
    }
    all.push((Endpoint::Keys, Fault::EmptyKeySet));
    all
}

// ---------------------------------------------------------------------------------------------
// Down at start

/// Entra fails from the very first request: valid tokens get 503 with a `Retry-After` that
/// counts down, exactly one fetch attempt per backoff window, cheap rejections stay 401 and cost
/// no fetch, and the first request after Entra recovers (and the backoff passed) succeeds.
async fn down_at_start(endpoint: Endpoint, fault: Fault) {
    let name = format!("{endpoint:?} {fault:?}");
    let emu = Emulator::start().await.unwrap();
    emu.set_fault(endpoint, fault.clone());
    let api = api(&emu, true).await;
    let (d, k) = per_attempt(endpoint);

    // Structure and tenant are checked before keys are needed: 401, no fetch.
    assert_eq!(
        api.get("/me", Some("not.a.token")).await.status,
        401,
        "{name}"
    );
    let stranger = emu
        .token()
        .tenant("12121212-3434-4545-5656-787878787878")
        .sign();
    assert_eq!(api.get("/me", Some(&stranger)).await.status, 401, "{name}");
    assert_eq!(
        counts(&emu),
        (0, 0),
        "{name}: no fetch for cheap rejections"
    );

    let r = api.get("/me", Some(&fresh(&emu, &api))).await;
    assert_eq!(r.status, 503, "{name}: {}", r.body);
    assert_eq!(r.retry_after.as_deref(), Some("10"), "{name}");
    assert_eq!(r.body["error"], "temporarily_unavailable", "{name}");
    assert!(
        r.www_authenticate.is_none(),
        "{name}: 503 carries no challenge"
    );
    assert_eq!(counts(&emu), (d, k), "{name}: one attempt");
    assert!(!api.layer.authenticator().is_ready(), "{name}");

    // Within the backoff: 503 without any new attempt, Retry-After counting down.
    for _ in 0..10 {
        assert_eq!(api.get("/me", Some(&fresh(&emu, &api))).await.status, 503);
    }
    api.clock.advance(Duration::from_secs(4));
    let r = api.get("/me", Some(&fresh(&emu, &api))).await;
    assert_eq!(r.status, 503, "{name}");
    assert_eq!(r.retry_after.as_deref(), Some("6"), "{name}");
    assert_eq!(
        counts(&emu),
        (d, k),
        "{name}: no attempt within the backoff"
    );

    // After the backoff: exactly one new attempt.
    api.clock.advance(Duration::from_secs(6));
    let r = api.get("/me", Some(&fresh(&emu, &api))).await;
    assert_eq!(r.status, 503, "{name}");
    assert_eq!(counts(&emu), (2 * d, 2 * k), "{name}: second attempt");

    // Entra is back: the first request after the backoff loads the keys and passes.
    emu.clear_faults();
    api.clock.advance(Duration::from_secs(10));
    let r = api.get("/me", Some(&fresh(&emu, &api))).await;
    assert_eq!(r.status, 200, "{name}: {}", r.body);
    assert_eq!(
        counts(&emu),
        (2 * d + 2, 2 * k + 1),
        "{name}: one good fetch"
    );
    assert!(api.layer.authenticator().is_ready(), "{name}");
}

#[tokio::test]
async fn every_fault_at_start_gives_503_with_backoff_then_recovers() {
    for (endpoint, fault) in faults() {
        down_at_start(endpoint, fault).await;
    }
}

/// Fifty requests arrive together while Entra hangs: one fetch, which times out, answers them
/// all (503); none waits longer than about the fetch timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_requests_during_an_outage_share_one_attempt() {
    let emu = Emulator::start().await.unwrap();
    emu.set_fault(Endpoint::Keys, Fault::Delay(Duration::from_secs(3)));
    let api = api(&emu, true).await;
    let token = fresh(&emu, &api);
    let started = Instant::now();
    for status in api.concurrent_statuses("/me", &token, 50).await {
        assert_eq!(status, 503);
    }
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "requests waited {:?}, longer than the fetch timeout allows",
        started.elapsed()
    );
    assert_eq!(emu.request_count(Endpoint::Keys), 1);
    assert_eq!(api.key_fetches(), 1);
}

// ---------------------------------------------------------------------------------------------
// Down after a good start

/// Entra fails after keys were loaded at `t0`. The periodic refresh (due at `t0 + 1 h`) fails in
/// the background while requests keep passing with the last-known-good keys, retried once per
/// 10 s backoff; at `t0 + 2 h` (the maximum age) they still pass, one second later they get 503,
/// and when Entra is back the keys reload.
async fn down_after_start(endpoint: Endpoint, fault: Fault, cache: bool) {
    let name = format!("{endpoint:?} {fault:?} cache={cache}");
    let emu = Emulator::start().await.unwrap();
    let api = api(&emu, cache).await;
    let t0 = api.clock.unix_seconds();
    api.layer.prefetch().await.unwrap();
    assert_eq!(counts(&emu), (2, 1));
    // With the cache, one long-lived token is verified once and then served from the cache.
    let cached = emu
        .token()
        .issued_at(t0)
        .lifetime(Duration::from_secs(3 * 3600))
        .sign();
    let token = |api: &Api| {
        if cache {
            cached.clone()
        } else {
            fresh(&emu, api)
        }
    };
    assert_eq!(api.get("/me", Some(&token(&api))).await.status, 200);
    emu.set_fault(endpoint, fault.clone());
    let (d, k) = per_attempt(endpoint);

    // Refresh due: the request passes at once, the background attempt fails.
    api.clock.advance(Duration::from_secs(3600));
    let r = api.get("/me", Some(&token(&api))).await;
    assert_eq!(r.status, 200, "{name}: {}", r.body);
    settle(&emu, (2 + d, 1 + k), &fault).await;
    assert_eq!(
        counts(&emu),
        (2 + d, 1 + k),
        "{name}: one background attempt"
    );

    // Within the 10 s backoff: no new attempt.
    api.clock.advance(Duration::from_secs(5));
    assert_eq!(
        api.get("/me", Some(&token(&api))).await.status,
        200,
        "{name}"
    );
    quiet().await;
    assert_eq!(counts(&emu), (2 + d, 1 + k), "{name}: backoff respected");

    // After it: exactly one more.
    api.clock.advance(Duration::from_secs(5));
    assert_eq!(
        api.get("/me", Some(&token(&api))).await.status,
        200,
        "{name}"
    );
    settle(&emu, (2 + 2 * d, 1 + 2 * k), &fault).await;
    assert_eq!(counts(&emu), (2 + 2 * d, 1 + 2 * k), "{name}: retried");

    // Exactly at the maximum age the keys are still usable ...
    api.clock
        .set(std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(t0 + 2 * 3600).unwrap()));
    let r = api.get("/me", Some(&token(&api))).await;
    assert_eq!(r.status, 200, "{name}: at the limit: {}", r.body);
    settle(&emu, (2 + 3 * d, 1 + 3 * k), &fault).await;
    assert_eq!(counts(&emu), (2 + 3 * d, 1 + 3 * k), "{name}");

    // ... one second later they are not, cache or no cache: 503, never 200.
    api.clock.advance(Duration::from_secs(1));
    let r = api.get("/me", Some(&token(&api))).await;
    assert_eq!(r.status, 503, "{name}: beyond the limit: {}", r.body);
    assert_eq!(r.retry_after.as_deref(), Some("9"), "{name}");
    assert!(!api.layer.authenticator().is_ready(), "{name}");
    assert_eq!(counts(&emu), (2 + 3 * d, 1 + 3 * k), "{name}: backing off");
    // Garbage is still 401.
    assert_eq!(api.get("/me", Some("x.y.z")).await.status, 401, "{name}");

    // The backoff passes, Entra is still down: one attempt, in the request, 503.
    api.clock.advance(Duration::from_secs(9));
    let r = api.get("/me", Some(&token(&api))).await;
    assert_eq!(r.status, 503, "{name}");
    assert_eq!(r.retry_after.as_deref(), Some("10"), "{name}");
    assert_eq!(counts(&emu), (2 + 4 * d, 1 + 4 * k), "{name}");

    // Entra is back.
    emu.clear_faults();
    api.clock.advance(Duration::from_secs(10));
    let r = api.get("/me", Some(&token(&api))).await;
    assert_eq!(r.status, 200, "{name}: {}", r.body);
    assert_eq!(
        counts(&emu),
        (4 + 4 * d, 2 + 4 * k),
        "{name}: reloaded once"
    );
    if cache {
        assert_eq!(api.layer.authenticator().stats().cached_tokens, 1, "{name}");
    }
}

macro_rules! after_start_tests {
    ($($name:ident: $endpoint:expr, $fault:expr;)*) => {$(
        #[tokio::test]
        async fn $name() {
            down_after_start($endpoint, $fault, false).await;
        }
    )*};
}

after_start_tests! {
    after_start_keys_http_500_serves_last_known_good_until_max_age:
        Endpoint::Keys, Fault::Status(500);
    after_start_keys_html_serves_last_known_good_until_max_age:
        Endpoint::Keys, Fault::Html;
    after_start_keys_invalid_json_serves_last_known_good_until_max_age:
        Endpoint::Keys, Fault::InvalidJson;
    after_start_keys_10_mib_body_serves_last_known_good_until_max_age:
        Endpoint::Keys, Fault::Oversized(10 * 1024 * 1024);
    after_start_keys_empty_set_serves_last_known_good_until_max_age:
        Endpoint::Keys, Fault::EmptyKeySet;
    after_start_keys_slower_than_timeout_serves_last_known_good_until_max_age:
        Endpoint::Keys, Fault::Delay(Duration::from_secs(2));
    after_start_discovery_http_503_serves_last_known_good_until_max_age:
        Endpoint::Discovery, Fault::Status(503);
    after_start_discovery_dropped_serves_last_known_good_until_max_age:
        Endpoint::Discovery, Fault::DropConnection;
}

#[tokio::test]
async fn after_start_cached_tokens_also_stop_at_max_age() {
    down_after_start(Endpoint::Keys, Fault::Status(500), true).await;
}

/// While a refresh hangs (up to the fetch timeout), valid tokens are answered without waiting
/// for it: the hot path takes no lock and does no I/O.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_refresh_does_not_block_valid_traffic() {
    let emu = Emulator::start().await.unwrap();
    let clock = ManualClock::starting_now();
    let mut p = policy();
    p.fetch_timeout = Duration::from_secs(3);
    let cfg = dev_config(&emu, &clock)
        .key_refresh(p)
        .token_cache(TokenCachePolicy::DISABLED)
        .build()
        .unwrap();
    let api = serve(EntraAuthLayer::new(cfg), clock).await;
    api.layer.prefetch().await.unwrap();
    emu.set_fault(Endpoint::Keys, Fault::Delay(Duration::from_secs(10)));

    // An unknown kid forces a refresh, which hangs until the 3 s timeout.
    let unknown = emu.token().kid("rotated-in-later").sign();
    let (http, url) = (api.http.clone(), format!("{}/me", api.base));
    let stuck = tokio::spawn(async move {
        http.get(url)
            .bearer_auth(unknown)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    // Wait until the refresh is really under way.
    let deadline = Instant::now() + Duration::from_secs(2);
    while emu.request_count(Endpoint::Keys) < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(emu.request_count(Endpoint::Keys), 2, "the refresh started");
    let started = Instant::now();
    for _ in 0..20 {
        let r = api.get("/me", Some(&fresh(&emu, &api))).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert!(
        !stuck.is_finished(),
        "valid traffic finished before the hung refresh"
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    // The periodic refresh hanging does not block either.
    api.clock.advance(Duration::from_secs(3601));
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(api.get("/me", Some(&fresh(&emu, &api))).await.status, 200);
    }
    assert!(started.elapsed() < Duration::from_secs(2));

    // The unknown kid ends as 401 (not 503: good keys are loaded).
    assert_eq!(stuck.await.unwrap(), 401);
}

/// After a good start, the key set gains broken keys (garbage `n`/`e`, EC, `use: enc`) along
/// with a new signing key: the new key is picked up and the broken ones are skipped.
#[tokio::test]
async fn broken_keys_after_start_do_not_break_rotation() {
    let emu = Emulator::start().await.unwrap();
    let api = api(&emu, false).await;
    assert_eq!(api.get("/me", Some(&fresh(&emu, &api))).await.status, 200);
    let old = emu.active_key();
    emu.set_fault(Endpoint::Keys, Fault::BrokenKey);
    let new = emu.add_key();
    emu.set_active_key(new.kid());
    assert_eq!(api.get("/me", Some(&fresh(&emu, &api))).await.status, 200);
    let loaded = api.layer.authenticator().stats().loaded_key_ids;
    assert!(loaded.iter().any(|k| k == new.kid()), "{loaded:?}");
    assert!(loaded.iter().any(|k| k == old.kid()), "{loaded:?}");
    for broken in ["broken-rsa-key", "ec-p256-key", "encryption-key"] {
        assert!(!loaded.iter().any(|k| k == broken), "{broken} loaded");
    }
    // A token naming a broken key is an unknown key (no refresh within the cooldown).
    let fetches = api.key_fetches();
    let broken = emu.token().kid("broken-rsa-key").sign();
    common::assert_rejected_for(&api, &broken, entra_auth::InvalidToken::UnknownSigningKey).await;
    assert_eq!(api.key_fetches(), fetches);
    // Old-key tokens still pass.
    let old_token = emu
        .token()
        .signed_with(&old)
        .issued_at(api.clock.unix_seconds())
        .sign();
    assert_eq!(api.get("/me", Some(&old_token)).await.status, 200);
}

// ---------------------------------------------------------------------------------------------
// A loopback authority that misbehaves in ways the emulator does not

/// A blocking HTTP/1.1 server on 127.0.0.1 (one thread per connection) serving a v2 discovery
/// document whose `jwks_uri` is chosen by the test, a good key set, a redirect, a chunked body
/// that never ends and a body that trickles. Every loop is bounded in time.
struct RawAuthority {
    base: String,
    tenant: &'static str,
    key_requests: Arc<AtomicUsize>,
    streamed_bytes: Arc<AtomicUsize>,
}

const RAW_TENANT: &str = "5b5b5b5b-6c6c-4d4d-8e8e-9f9f9f9f9f9f";

impl RawAuthority {
    fn start(jwks_path: &str, jwks: serde_json::Value, trap: Option<String>) -> RawAuthority {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let key_requests = Arc::new(AtomicUsize::new(0));
        let streamed_bytes = Arc::new(AtomicUsize::new(0));
        let jwks_uri = if jwks_path.starts_with('/') {
            format!("{base}{jwks_path}")
        } else {
            jwks_path.to_owned()
        };
        let doc = json!({
            "issuer": format!("{base}/{RAW_TENANT}/v2.0"),
            "jwks_uri": jwks_uri,
        })
        .to_string();
        let jwks = jwks.to_string();
        let (kr, sb) = (key_requests.clone(), streamed_bytes.clone());
        std::thread::spawn(move || {
            let stop_at = Instant::now() + Duration::from_secs(60);
            for conn in listener.incoming() {
                if Instant::now() > stop_at {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (doc, jwks, trap, kr, sb) = (
                    doc.clone(),
                    jwks.clone(),
                    trap.clone(),
                    kr.clone(),
                    sb.clone(),
                );
                std::thread::spawn(move || serve_raw(conn, &doc, &jwks, trap.as_deref(), &kr, &sb));
            }
        });
        RawAuthority {
            base,
            tenant: RAW_TENANT,
            key_requests,
            streamed_bytes,
        }
    }

    fn config(&self, clock: &ManualClock, timeout: Duration) -> EntraConfig {
        let mut p = policy();
        p.fetch_timeout = timeout;
        EntraConfig::builder()
            .tenant(self.tenant)
            .client_id(DEV_API_CLIENT_ID)
            .authority(&self.base)
            .versions(TokenVersions::V2_ONLY)
            .key_refresh(p)
            .clock(clock.clone())
            .build()
            .unwrap()
    }
}

fn serve_raw(
    mut conn: std::net::TcpStream,
    doc: &str,
    jwks: &str,
    trap: Option<&str>,
    key_requests: &AtomicUsize,
    streamed: &AtomicUsize,
) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
    let json = |body: &str| {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    if path.contains("/.well-known/openid-configuration") {
        let _ = conn.write_all(json(doc).as_bytes());
        return;
    }
    key_requests.fetch_add(1, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    if path.starts_with("/keys/good") {
        let _ = conn.write_all(json(jwks).as_bytes());
    } else if path.starts_with("/keys/redirect") {
        let location = trap.unwrap_or("http://127.0.0.1:9/");
        let _ = conn.write_all(
            format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
    } else if path.starts_with("/keys/endless") {
        // Chunked, no Content-Length, 64 KiB chunks of a JSON-looking body, until the client
        // hangs up (or 10 s pass).
        let _ = conn.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        let mut first = true;
        while Instant::now() < deadline {
            let mut data = vec![b' '; 64 * 1024];
            if first {
                data[..9].copy_from_slice(b"{\"keys\":[");
                first = false;
            }
            let frame = [
                format!("{:x}\r\n", data.len()).into_bytes(),
                data,
                b"\r\n".to_vec(),
            ]
            .concat();
            if conn.write_all(&frame).is_err() {
                break;
            }
            streamed.fetch_add(64 * 1024, Ordering::SeqCst);
        }
    } else if path.starts_with("/keys/trickle") {
        // Valid headers, then one byte every 50 ms.
        let _ = conn.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
        );
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            if conn.write_all(b" ").is_err() {
                break;
            }
            streamed.fetch_add(1, Ordering::SeqCst);
        }
    } else {
        let _ = conn
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
}

/// A token the raw authority's good key set would accept.
fn raw_token(emu: &Emulator, auth: &RawAuthority, clock: &ManualClock) -> String {
    emu.token()
        .tenant(auth.tenant)
        .roles(["Api.Admin"])
        .claim("iss", json!(format!("{}/{}/v2.0", auth.base, auth.tenant)))
        .issued_at(clock.unix_seconds())
        .sign()
}

fn raw_jwks(emu: &Emulator) -> serde_json::Value {
    json!({ "keys": [emu.active_key().jwk(None)] })
}

#[tokio::test]
async fn raw_authority_control_accepts() {
    let emu = Emulator::start().await.unwrap();
    let auth = RawAuthority::start("/keys/good", raw_jwks(&emu), None);
    let clock = ManualClock::starting_now();
    let api = serve(
        EntraAuthLayer::new(auth.config(&clock, Duration::from_millis(500))),
        clock.clone(),
    )
    .await;
    let r = api.get("/me", Some(&raw_token(&emu, &auth, &clock))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(auth.key_requests.load(Ordering::SeqCst), 1);
}

/// A key set that never ends (chunked, no length) is cut at the 1 MiB cap; one that trickles is
/// cut by the fetch timeout. Either way: 503, quickly, and the stream is abandoned.
#[tokio::test]
async fn endless_and_trickling_key_sets_are_cut_off() {
    let emu = Emulator::start().await.unwrap();
    // The endless body gets a 3 s timeout, so that only the size cap can end it quickly.
    for (path, what, timeout) in [
        ("/keys/endless", "cap", 3000),
        ("/keys/trickle", "timeout", 500),
    ] {
        let auth = RawAuthority::start(path, raw_jwks(&emu), None);
        let clock = ManualClock::starting_now();
        let cfg = auth.config(&clock, Duration::from_millis(timeout));
        let api = serve(EntraAuthLayer::new(cfg), clock.clone()).await;
        let started = Instant::now();
        let r = api.get("/me", Some(&raw_token(&emu, &auth, &clock))).await;
        let took = started.elapsed();
        assert_eq!(r.status, 503, "{path}: {}", r.body);
        assert!(took < Duration::from_secs(2), "{path}: took {took:?}");
        assert_eq!(auth.key_requests.load(Ordering::SeqCst), 1, "{path}");
        // Give the server a moment to notice the hang-up, then check how much it produced.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let streamed = auth.streamed_bytes.load(Ordering::SeqCst);
        eprintln!("{path}: 503 after {took:?}, {streamed} bytes streamed");
        match what {
            // 1 MiB read, plus what socket buffers held: far less than the seconds of streaming
            // loopback could deliver (gigabytes) had the client kept reading to the timeout.
            "cap" => assert!(streamed < 64 * 1024 * 1024, "{path}: {streamed} bytes"),
            // ~10 bytes in 500 ms.
            _ => assert!(streamed < 40, "{path}: {streamed} bytes"),
        }
    }
}

/// A discovery document whose `jwks_uri` is not an acceptable URL (another scheme, credentials)
/// or a key set that redirects elsewhere: 503, and nothing is fetched from the named place.
#[tokio::test]
async fn unusable_jwks_uri_and_redirects_are_never_followed() {
    let emu = Emulator::start().await.unwrap();
    // A trap that counts requests: a redirect target and a URL in the document.
    let trap = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let trap_url = format!("http://{}", trap.local_addr().unwrap());
    trap.set_nonblocking(true).unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    {
        let (hits, stop) = (hits.clone(), stop.clone());
        std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::SeqCst) && Instant::now() < until {
                if trap.accept().is_ok() {
                    hits.fetch_add(1, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
    }
    let trap_port = trap_url.rsplit(':').next().unwrap().to_owned();
    for jwks in [
        "/keys/redirect".to_owned(),
        "file:///etc/passwd".to_owned(),
        format!("ftp://127.0.0.1:{trap_port}/keys"),
        format!("http://user:secret@127.0.0.1:{trap_port}/keys"),
        format!("gopher://127.0.0.1:{trap_port}/keys"),
        "not a url".to_owned(),
    ] {
        let auth = RawAuthority::start(&jwks, raw_jwks(&emu), Some(format!("{trap_url}/keys")));
        let clock = ManualClock::starting_now();
        let api = serve(
            EntraAuthLayer::new(auth.config(&clock, Duration::from_millis(500))),
            clock.clone(),
        )
        .await;
        let r = api.get("/me", Some(&raw_token(&emu, &auth, &clock))).await;
        assert_eq!(r.status, 503, "{jwks}: {}", r.body);
        assert!(!api.layer.authenticator().is_ready(), "{jwks}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::SeqCst);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a redirect or a bad jwks_uri was followed"
    );
}

// ---------------------------------------------------------------------------------------------
// Rotation under load

fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    v["kid"].as_str().unwrap_or_default().to_owned()
}

/// Twenty tasks send freshly minted valid tokens while the emulator rolls its signing key over
/// five times (publish a new key, sign with it, retire the old one; the clock moves past the
/// unknown-kid cooldown between rollovers). Every token signed by a key that was published
/// while it was minted and answered must get 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_under_load_rejects_no_valid_token() {
    let emu = Emulator::start().await.unwrap();
    let api = Arc::new(api(&emu, true).await);
    api.layer.prefetch().await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (emu, api, stop) = (emu.clone(), api.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut wrong, mut excused) = (0usize, Vec::new(), 0usize);
            for _ in 0..5_000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let token = emu.token().issued_at(api.clock.unix_seconds()).sign();
                let kid = kid_of(&token);
                let published_before = emu.published_kids().contains(&kid);
                let r = api.get("/me", Some(&token)).await;
                let published_after = emu.published_kids().contains(&kid);
                if r.status == 200 {
                    ok += 1;
                } else if published_before && published_after {
                    wrong.push(format!("{} {} (kid {kid})", r.status, r.body));
                } else {
                    excused += 1;
                }
            }
            (ok, wrong, excused)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..5 {
        let old = emu.active_key();
        let new = emu.add_key();
        tokio::time::sleep(Duration::from_millis(100)).await;
        emu.set_active_key(new.kid());
        tokio::time::sleep(Duration::from_millis(300)).await;
        emu.retire_key(old.kid());
        tokio::time::sleep(Duration::from_millis(100)).await;
        api.clock.advance(Duration::from_secs(301));
    }
    stop.store(true, Ordering::SeqCst);
    let (mut ok, mut wrong, mut excused) = (0, Vec::new(), 0);
    for t in tasks {
        let (o, w, e) = t.await.unwrap();
        ok += o;
        wrong.extend(w);
        excused += e;
    }
    eprintln!(
        "rotation under load: {ok} accepted, {excused} signed by a retired key, {} wrongly rejected",
        wrong.len()
    );
    assert!(ok > 200, "too little load: {ok} requests");
    assert!(
        wrong.is_empty(),
        "{} valid tokens rejected: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    // One fetch at start plus one unknown-kid refresh per rollover.
    assert_eq!(api.key_fetches(), 6);
}

// ---------------------------------------------------------------------------------------------
// A key id reused for new key material

/// An authority whose key set the test can replace (kids chosen by the test, as a custom or
/// B2C authority may publish them).
async fn switchable_authority(
    jwks: serde_json::Value,
) -> (String, Arc<std::sync::Mutex<serde_json::Value>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let keys = Arc::new(std::sync::Mutex::new(jwks));
    let doc = json!({
        "issuer": format!("{base}/{RAW_TENANT}/v2.0"),
        "jwks_uri": format!("{base}/keys"),
    });
    let served = keys.clone();
    let app = axum::Router::new()
        .route(
            &format!("/{RAW_TENANT}/v2.0/.well-known/openid-configuration"),
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc) }
            }),
        )
        .route(
            "/keys",
            axum::routing::get(move || {
                let jwks = served.lock().unwrap().clone();
                async move { axum::Json(jwks) }
            }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, keys)
}

/// The crate docs promise that a cached token "is dropped when its signing key is no longer in
/// the key set". Entra's key ids are certificate thumbprints, but a custom authority may publish
/// a new key under an old key id (`key1`). After such a replacement, a token signed by the old
/// key must stop working, cached or not.
///
/// Fails today: the cache checks only that the key *id* is still present, so the token signed
/// by the withdrawn key keeps being accepted from the cache until it expires.
#[tokio::test]
async fn cached_token_dies_with_its_key_even_when_the_key_id_is_reused() {
    let emu = Emulator::start().await.unwrap();
    let old_key = emu.active_key();
    let new_key = emu.add_key();
    let jwk_as = |key: &entra_emulator::SigningKey| {
        let mut jwk = key.jwk(None);
        jwk["kid"] = json!("key1");
        jwk["x5t"] = json!("key1");
        json!({ "keys": [jwk] })
    };
    let (base, keys) = switchable_authority(jwk_as(&old_key)).await;
    let clock = ManualClock::starting_now();
    let cfg = EntraConfig::builder()
        .tenant(RAW_TENANT)
        .client_id(DEV_API_CLIENT_ID)
        .authority(&base)
        .versions(TokenVersions::V2_ONLY)
        .clock(clock.clone())
        .build()
        .unwrap();
    let api = serve(EntraAuthLayer::new(cfg), clock.clone()).await;
    let token_by = |key: &entra_emulator::SigningKey| {
        emu.token()
            .tenant(RAW_TENANT)
            .roles(["Api.Admin"])
            .claim("iss", json!(format!("{base}/{RAW_TENANT}/v2.0")))
            .signed_with(key)
            .kid("key1")
            .issued_at(clock.unix_seconds())
            .sign()
    };
    let cached = token_by(&old_key);
    assert_eq!(api.get("/me", Some(&cached)).await.status, 200);
    assert_eq!(api.layer.authenticator().stats().cached_tokens, 1);

    // The authority replaces the key behind `key1`; the API refreshes.
    *keys.lock().unwrap() = jwk_as(&new_key);
    api.layer.prefetch().await.unwrap();
    assert_eq!(api.get("/me", Some(&token_by(&new_key))).await.status, 200);
    // Controls: a token by the old key that was never cached is rejected ...
    let uncached = token_by(&old_key);
    common::assert_invalid(&api.get("/me", Some(&uncached)).await, "signature");
    // ... and so must be the cached one.
    let r = api.get("/me", Some(&cached)).await;
    assert_eq!(
        r.status, 401,
        "a token signed by a withdrawn key is still accepted from the verified-token cache"
    );
}

// ---------------------------------------------------------------------------------------------
// A race in the unknown-kid refresh (stress test, ignored by default)

/// A token signed by a newly published key must not be rejected while the refresh that loads
/// that key completes. Before the fix ("close a race where a token with a just-rotated kid could
/// be rejected..."), `KeyCache::key_for` decided "unknown key" from the snapshot the request had
/// loaded *before* the key lookup and from `in_flight`: a request that loaded the old snapshot
/// just before a concurrent unknown-kid refresh stored the new one, and read `in_flight` just
/// after that refresh cleared it, got a 401 although the key was loaded (likewise between the
/// refresh storing `last_unknown_kid_refresh` and setting `in_flight`).
///
/// The window is a few hundred nanoseconds, so this is a stress test: rollovers (one unknown-kid
/// refresh each) under a burst of validations of the new key's token. Before the fix it failed
/// in 2 of 3 runs (2 wrong rejections in ~320,000 validations, 100 rollovers); with it, 0 in 3
/// runs of 200 rollovers (~420,000 validations each, ~25 s). Run with
/// `cargo test -p entra-auth --test auth outages -- --ignored` (`ROUNDS` sets the rollovers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "stress test (~25 s); run with --ignored"]
async fn stress_unknown_kid_refresh_never_rejects_a_loaded_key() {
    use entra_auth::{AuthError, Authenticator, InvalidToken};
    let emu = Emulator::start().await.unwrap();
    let clock = ManualClock::starting_now();
    let auth = Authenticator::new(
        dev_config(&emu, &clock)
            .token_cache(TokenCachePolicy::DISABLED)
            .build()
            .unwrap(),
    );
    auth.prefetch().await.unwrap();
    let pool = [emu.add_key(), emu.add_key()];
    emu.retire_key(pool[0].kid());
    emu.retire_key(pool[1].kid());
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let (mut wrong, mut total) = (0usize, 0usize);
    for i in 0..rounds {
        // Rollover: publish and sign with a key the API has not loaded; past the cooldown.
        let key = &pool[i % 2];
        let previous = emu.active_key();
        emu.publish_key(key);
        emu.set_active_key(key.kid());
        emu.retire_key(previous.kid());
        clock.advance(Duration::from_secs(301));
        let token: Arc<str> = emu.token().issued_at(clock.unix_seconds()).sign().into();
        let before = auth.stats().key_set_fetches;
        let mut tasks = Vec::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(10) {
            for _ in 0..10 {
                let (auth, token) = (auth.clone(), token.clone());
                tasks.push(tokio::spawn(async move { auth.validate(&token).await }));
            }
            tokio::task::yield_now().await;
        }
        for t in tasks {
            total += 1;
            match t.await.unwrap() {
                Ok(_) => {}
                Err(AuthError::InvalidToken(InvalidToken::UnknownSigningKey)) => wrong += 1,
                Err(e) => panic!("unexpected: {e}"),
            }
        }
        // Exactly one refresh per rollover, which loaded the key.
        assert_eq!(auth.stats().key_set_fetches, before + 1);
        assert!(auth.stats().loaded_key_ids.iter().any(|k| k == key.kid()));
    }
    eprintln!("{wrong} of {total} validations of a loaded key's token rejected as unknown");
    assert_eq!(wrong, 0, "tokens of a loaded key were rejected as unknown");
}

/// The emulator's v2 key set, as JSON.
async fn emulator_key_set(emu: &Emulator) -> serde_json::Value {
    let url = emu.jwks_uri(
        entra_emulator::DEV_TENANT_ID,
        entra_emulator::TokenVersion::V2,
    );
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

fn metadata(issuer_host: &Emulator, jwks_uri: &str) -> common::FakeDocs {
    common::FakeDocs {
        v2: json!({ "issuer": issuer_host.issuer_v2("{tenantid}"), "jwks_uri": jwks_uri }),
        v1: json!({ "issuer": issuer_host.issuer_v1("{tenantid}"), "jwks_uri": jwks_uri }),
        keys: json!({ "keys": [] }),
    }
}

/// A discovery document served over https whose `jwks_uri` is plain http (even on loopback) is
/// refused: no key set is fetched and callers get 503. The same document with an https
/// `jwks_uri` works.
#[tokio::test]
async fn https_metadata_never_leads_to_plain_http_keys() {
    let emu = Emulator::start().await.unwrap();
    let plain = emu.jwks_uri(
        entra_emulator::DEV_TENANT_ID,
        entra_emulator::TokenVersion::V2,
    );
    let fake = common::FakeEntra::start_tls(|_| metadata(&emu, &plain)).await;
    let clock = ManualClock::starting_now();
    let config = dev_config(&emu, &clock)
        .authority(fake.base.clone())
        .http_client(fake.client.clone())
        .build()
        .unwrap();
    let api = common::serve(EntraAuthLayer::new(config), clock).await;
    let r = api.get("/me", Some(&emu.token().sign())).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(
        emu.request_count(Endpoint::Keys),
        0,
        "the http key set was never fetched"
    );

    let keys = emulator_key_set(&emu).await;
    let https_keys = format!("{}/keys", fake.base);
    fake.update(|d| {
        *d = metadata(&emu, &https_keys);
        d.keys = keys;
    });
    api.clock.advance(Duration::from_secs(10));
    let r = api.get("/me", Some(&emu.token().sign())).await;
    assert_eq!(r.status, 200, "control: {}", r.body);
}

/// A user-supplied HTTP client that follows redirects does not make the key source follow them:
/// a redirected key set is refused (503); the same key set without the redirect is accepted.
#[tokio::test]
async fn redirects_are_refused_even_with_a_client_that_follows_them() {
    let emu = Emulator::start().await.unwrap();
    let keys = emulator_key_set(&emu).await;
    let fake = common::FakeEntra::start(|base| {
        let mut docs = metadata(&emu, &format!("{base}/moved"));
        docs.keys = keys;
        docs
    })
    .await;
    let clock = ManualClock::starting_now();
    let config = dev_config(&emu, &clock)
        .authority(fake.base.clone())
        .http_client(reqwest::Client::new())
        .build()
        .unwrap();
    let api = common::serve(EntraAuthLayer::new(config), clock).await;
    let r = api.get("/me", Some(&emu.token().sign())).await;
    assert_eq!(r.status, 503, "{}", r.body);

    let direct = format!("{}/keys", fake.base);
    fake.update(|d| {
        d.v2["jwks_uri"] = json!(direct);
    });
    api.clock.advance(Duration::from_secs(10));
    let r = api.get("/me", Some(&emu.token().sign())).await;
    assert_eq!(r.status, 200, "control: {}", r.body);
}
