//! Key cache behaviour over real HTTP: rotation, unknown-kid floods, concurrency, outages.

use crate::common;

use std::time::Duration;

use common::{assert_invalid, assert_rejected_for, dev_config, serve, setup};
use entra_auth::{
    Clock, EntraAuthLayer, InvalidToken, KeyRefreshPolicy, ManualClock, TokenCachePolicy,
};
use entra_emulator::{Emulator, Endpoint, Fault};

#[tokio::test]
async fn rotated_key_is_accepted_after_exactly_one_refresh() {
    let (emu, api) = setup().await;
    assert_eq!(api.get("/me", Some(&emu.token().sign())).await.status, 200);
    let before = emu.request_count(Endpoint::Keys);
    assert_eq!(api.key_fetches(), 1);

    let new_key = emu.add_key();
    emu.set_active_key(new_key.kid());
    let rotated = emu.token().sign();
    let r = api.get("/me", Some(&rotated)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(emu.request_count(Endpoint::Keys), before + 1);
    // Further requests with the new key need no more fetches.
    for _ in 0..5 {
        assert_eq!(api.get("/me", Some(&emu.token().sign())).await.status, 200);
    }
    assert_eq!(emu.request_count(Endpoint::Keys), before + 1);
}

#[tokio::test]
async fn unknown_kid_flood_fetches_once_per_cooldown() {
    let (emu, api) = setup().await;
    assert_eq!(api.get("/me", Some(&emu.token().sign())).await.status, 200);
    let base = emu.request_count(Endpoint::Keys);
    for i in 0..1000 {
        let token = emu
            .token()
            .kid(&format!("random-kid-{i}-{}", fastrand::u64(..)))
            .sign();
        let r = api.get("/me", Some(&token)).await;
        assert_eq!(r.status, 401, "request {i}");
    }
    assert_eq!(
        emu.request_count(Endpoint::Keys),
        base + 1,
        "one fetch in the first window"
    );
    // After the cooldown one more refresh is allowed, and only one.
    api.clock.advance(Duration::from_secs(301));
    for i in 0..100 {
        let token = emu.token().kid(&format!("again-{i}")).sign();
        assert_eq!(api.get("/me", Some(&token)).await.status, 401);
    }
    assert_eq!(emu.request_count(Endpoint::Keys), base + 2);
    // Valid traffic kept working throughout.
    assert_eq!(api.get("/me", Some(&emu.token().sign())).await.status, 200);
}

#[tokio::test]
async fn hundred_concurrent_first_requests_share_one_fetch() {
    let emu = Emulator::start().await.unwrap();
    emu.set_fault(Endpoint::Keys, Fault::Delay(Duration::from_millis(300)));
    let clock = ManualClock::starting_now();
    let cfg = dev_config(&emu, &clock)
        .token_cache(TokenCachePolicy::DISABLED)
        .build()
        .unwrap();
    let api = serve(EntraAuthLayer::new(cfg), clock).await;
    let token = emu.token().sign();
    for status in api.concurrent_statuses("/me", &token, 100).await {
        assert_eq!(status, 200);
    }
    assert_eq!(emu.request_count(Endpoint::Keys), 1);
    assert_eq!(api.key_fetches(), 1);
}

#[tokio::test]
async fn keys_down_at_start_gives_503_then_recovers() {
    let emu = Emulator::start().await.unwrap();
    emu.set_fault(Endpoint::Discovery, Fault::Status(500));
    let clock = ManualClock::starting_now();
    let cfg = dev_config(&emu, &clock).build().unwrap();
    let api = serve(EntraAuthLayer::new(cfg), clock).await;
    let token = emu.token().sign();
    let r = api.get("/me", Some(&token)).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.retry_after.as_deref(), Some("10"));
    assert_eq!(r.body["error"], "temporarily_unavailable");
    // Within the backoff no new attempt is made.
    let discovery = emu.request_count(Endpoint::Discovery);
    assert_eq!(api.get("/me", Some(&token)).await.status, 503);
    assert_eq!(emu.request_count(Endpoint::Discovery), discovery);
    // Garbage is still 401, not 503: structure is checked before keys are needed.
    assert_eq!(api.get("/me", Some("not-a-token")).await.status, 401);

    emu.clear_faults();
    api.clock.advance(Duration::from_secs(11));
    let r = api.get("/me", Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn nothing_listening_gives_503() {
    let emu = Emulator::start().await.unwrap();
    let token = emu.token().sign();
    // A port with nothing behind it.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let clock = ManualClock::starting_now();
    let cfg = dev_config(&emu, &clock)
        .authority(dead_url)
        .build()
        .unwrap();
    let layer = EntraAuthLayer::new(cfg);
    assert!(layer.prefetch().await.is_err());
    let api = serve(layer, clock).await;
    let r = api.get("/me", Some(&token)).await;
    assert_eq!(r.status, 503);
    assert!(r.retry_after.is_some());
}

#[tokio::test]
async fn last_known_good_keys_serve_until_max_age() {
    let emu = Emulator::start().await.unwrap();
    let clock = ManualClock::starting_now();
    let cfg = dev_config(&emu, &clock)
        .token_cache(TokenCachePolicy::DISABLED)
        .build()
        .unwrap();
    let api = serve(EntraAuthLayer::new(cfg), clock).await;
    api.layer.prefetch().await.unwrap();
    emu.set_fault(Endpoint::Discovery, Fault::DropConnection);
    emu.set_fault(Endpoint::Keys, Fault::DropConnection);
    // 13 hours later: past the periodic refresh, which fails; keys keep working.
    api.clock.advance(Duration::from_secs(13 * 3600));
    let fresh = || emu.token().issued_at(api.clock.unix_seconds()).sign();
    assert_eq!(api.get("/me", Some(&fresh())).await.status, 200);
    tokio::time::sleep(Duration::from_millis(200)).await; // let the background refresh finish
    assert!(api.key_fetches() >= 1);
    assert_eq!(api.get("/me", Some(&fresh())).await.status, 200);
    // Past 24 hours since the last success: no longer usable.
    api.clock.advance(Duration::from_secs(11 * 3600 + 1));
    let r = api.get("/me", Some(&fresh())).await;
    assert_eq!(r.status, 503, "{}", r.body);
    // Entra comes back: keys reload.
    emu.clear_faults();
    api.clock.advance(Duration::from_secs(60));
    assert_eq!(api.get("/me", Some(&fresh())).await.status, 200);
}

#[tokio::test]
async fn failed_refresh_never_replaces_good_keys() {
    for fault in [
        Fault::Status(500),
        Fault::Html,
        Fault::InvalidJson,
        Fault::EmptyKeySet,
        Fault::Oversized(2 * 1024 * 1024),
    ] {
        let emu = Emulator::start().await.unwrap();
        let clock = ManualClock::starting_now();
        let cfg = dev_config(&emu, &clock)
            .token_cache(TokenCachePolicy::DISABLED)
            .build()
            .unwrap();
        let api = serve(EntraAuthLayer::new(cfg), clock).await;
        assert_eq!(api.get("/me", Some(&emu.token().sign())).await.status, 200);
        emu.set_fault(Endpoint::Keys, fault.clone());
        // An unknown kid forces a refresh, which fails.
        let rotated_away = emu.token().kid("rotated-away").sign();
        assert_rejected_for(&api, &rotated_away, InvalidToken::UnknownSigningKey).await;
        assert_eq!(api.key_fetches(), 2, "{fault:?}");
        // The good keys are still there.
        assert_eq!(
            api.get("/me", Some(&emu.token().sign())).await.status,
            200,
            "{fault:?}"
        );
    }
}

#[tokio::test]
async fn one_broken_key_does_not_break_the_set() {
    let emu = Emulator::start().await.unwrap();
    emu.set_fault(Endpoint::Keys, Fault::BrokenKey);
    let clock = ManualClock::starting_now();
    let api = serve(
        EntraAuthLayer::new(dev_config(&emu, &clock).build().unwrap()),
        clock,
    )
    .await;
    assert_eq!(api.get("/me", Some(&emu.token().sign())).await.status, 200);
}

#[tokio::test]
async fn slow_key_endpoint_times_out_into_503() {
    let emu = Emulator::start().await.unwrap();
    emu.set_fault(Endpoint::Keys, Fault::Delay(Duration::from_secs(5)));
    let clock = ManualClock::starting_now();
    let mut policy = KeyRefreshPolicy::default();
    policy.fetch_timeout = Duration::from_millis(300);
    let cfg = dev_config(&emu, &clock)
        .key_refresh(policy)
        .build()
        .unwrap();
    let api = serve(EntraAuthLayer::new(cfg), clock).await;
    let r = api.get("/me", Some(&emu.token().sign())).await;
    assert_eq!(r.status, 503);
}

#[tokio::test]
async fn retired_key_stops_working_even_for_cached_tokens() {
    let (emu, api) = setup().await;
    let old = emu.active_key();
    let token = emu.token().sign();
    assert_eq!(api.get("/me", Some(&token)).await.status, 200);
    assert_eq!(api.layer.authenticator().stats().cached_tokens, 1);
    let new_key = emu.add_key();
    emu.set_active_key(new_key.kid());
    emu.retire_key(old.kid());
    // A token signed with the new key forces a refresh, which drops the old key.
    assert_eq!(api.get("/me", Some(&emu.token().sign())).await.status, 200);
    assert_rejected_for(&api, &token, InvalidToken::UnknownSigningKey).await;
}

/// A refresh replaces the key snapshot: a cached token whose key it keeps stays a cache hit (no
/// second verification), while one whose key it drops is refused (above).
#[tokio::test]
async fn cached_token_stays_a_hit_through_a_refresh_that_keeps_its_key() {
    let (emu, api) = setup().await;
    let token = emu.token().sign();
    assert_eq!(api.get("/me", Some(&token)).await.status, 200);
    assert_eq!(api.get("/me", Some(&token)).await.status, 200);
    let stats = api.layer.authenticator().stats();
    assert_eq!(
        (stats.validations_accepted, stats.validations_cached),
        (1, 1)
    );

    emu.add_key(); // published, not signing: the refresh brings a new snapshot, same old key
    api.layer.prefetch().await.unwrap();
    assert_eq!(api.layer.authenticator().stats().key_set_fetches, 2);
    assert_eq!(api.get("/me", Some(&token)).await.status, 200);
    let stats = api.layer.authenticator().stats();
    assert_eq!(
        (stats.validations_accepted, stats.validations_cached),
        (1, 2)
    );
}

#[tokio::test]
async fn cached_token_still_expires() {
    let (emu, api) = setup().await;
    let token = emu.token().sign();
    assert_eq!(api.get("/me", Some(&token)).await.status, 200);
    assert_eq!(api.get("/me", Some(&token)).await.status, 200);
    api.clock.advance(Duration::from_secs(2 * 3600));
    let r = api.get("/me", Some(&token)).await;
    assert_invalid(&r, "expired");
}

/// Sends a request and gives up on it (dropping the connection) after `patience`.
async fn give_up_after(api: &common::Api, token: &str, patience: Duration) {
    give_up(
        api.http.clone(),
        format!("{}/me", api.base),
        token.to_owned(),
        patience,
    )
    .await;
}

async fn give_up(http: reqwest::Client, url: String, token: String, patience: Duration) {
    let request = http.get(url).bearer_auth(token).send();
    assert!(
        tokio::time::timeout(patience, request).await.is_err(),
        "the request was expected to be still waiting"
    );
}

/// Waits (bounded) until `done` holds; real time passes only for the emulator's delayed answer.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The unknown-kid refresh is shared work: the caller that triggered it disconnecting must not
/// abort it (nor waste the cooldown), so the newly published key loads and its tokens pass.
#[tokio::test]
async fn a_caller_that_disconnects_does_not_cancel_the_key_refresh() {
    let (emu, api) = setup().await;
    assert_eq!(api.get("/me", Some(&emu.token().sign())).await.status, 200);
    let new_key = emu.add_key();
    emu.set_active_key(new_key.kid());
    let rotated = emu.token().sign();
    emu.set_fault(Endpoint::Keys, Fault::Delay(Duration::from_millis(400)));
    give_up_after(&api, &rotated, Duration::from_millis(100)).await;
    emu.clear_faults();
    let auth = api.layer.authenticator().clone();
    eventually("the new key loads", || {
        auth.stats()
            .loaded_key_ids
            .iter()
            .any(|k| k == new_key.kid())
    })
    .await;
    let r = api.get("/me", Some(&rotated)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        emu.request_count(Endpoint::Keys),
        2,
        "one refresh, not restarted"
    );
}

/// At start, clients that give up before a slow key set answers neither multiply the fetches
/// nor keep the keys from loading.
#[tokio::test]
async fn impatient_clients_at_start_share_one_fetch_and_keys_load() {
    let emu = Emulator::start().await.unwrap();
    emu.set_fault(Endpoint::Keys, Fault::Delay(Duration::from_millis(500)));
    let clock = ManualClock::starting_now();
    let api = serve(
        EntraAuthLayer::new(dev_config(&emu, &clock).build().unwrap()),
        clock,
    )
    .await;
    let token = emu.token().sign();
    let mut impatient = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let url = format!("{}/me", api.base);
        let patience = Duration::from_millis(50);
        impatient.spawn(give_up(api.http.clone(), url, token.clone(), patience));
    }
    while let Some(gave_up) = impatient.join_next().await {
        gave_up.unwrap();
    }
    let auth = api.layer.authenticator().clone();
    eventually("the keys load", || auth.is_ready()).await;
    assert_eq!(emu.request_count(Endpoint::Keys), 1);
    assert_eq!(emu.request_count(Endpoint::Discovery), 2);
    emu.clear_faults();
    assert_eq!(api.get("/me", Some(&token)).await.status, 200);
    assert_eq!(
        emu.request_count(Endpoint::Keys),
        1,
        "no fetch after the keys loaded"
    );
}

/// An emulator whose discovery documents and key set answer after the given delays, and an API
/// whose refresh deadline is `deadline_ms`.
async fn delayed_api(discovery_ms: u64, keys_ms: u64, deadline_ms: u64) -> (Emulator, common::Api) {
    let emu = Emulator::start().await.unwrap();
    let delay = |ms| Fault::Delay(Duration::from_millis(ms));
    emu.set_fault(Endpoint::Discovery, delay(discovery_ms));
    emu.set_fault(Endpoint::Keys, delay(keys_ms));
    let clock = ManualClock::starting_now();
    let mut policy = KeyRefreshPolicy::default();
    policy.fetch_timeout = Duration::from_millis(deadline_ms);
    let config = dev_config(&emu, &clock)
        .key_refresh(policy)
        .build()
        .unwrap();
    (emu, serve(EntraAuthLayer::new(config), clock).await)
}

/// One refresh has one deadline for all its requests: three answers of 200 ms each, of which
/// two come one after the other, do not fit in a 300 ms deadline (each request alone would).
#[tokio::test]
async fn a_refresh_has_one_deadline_for_all_its_requests() {
    let (emu, api) = delayed_api(200, 200, 300).await;
    let started = std::time::Instant::now();
    let r = api.get("/me", Some(&emu.token().sign())).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// A verification vouched for by one set of issuers ends when a refresh changes them: the key's
/// own `issuer` (same modulus and exponent) or the discovery document's issuer.
#[tokio::test]
async fn cached_tokens_end_when_a_refresh_changes_the_issuers() {
    let emu = Emulator::start().await.unwrap();
    let key = entra_emulator::SigningKey::generate().unwrap();
    let fake = common::FakeEntra::start(|base| common::FakeDocs {
        v2: serde_json::json!({
            "issuer": format!("{base}/{{tenantid}}/v2.0"), "jwks_uri": format!("{base}/keys")
        }),
        v1: serde_json::json!({
            "issuer": "https://sts.windows.net/{tenantid}/", "jwks_uri": format!("{base}/keys")
        }),
        keys: serde_json::json!({ "keys": [key.jwk(Some(&format!("{base}/{{tenantid}}/v2.0")))] }),
    })
    .await;
    let clock = ManualClock::starting_now();
    let config = dev_config(&emu, &clock)
        .authority(fake.base.clone())
        .build()
        .unwrap();
    let api = serve(EntraAuthLayer::new(config), clock).await;
    let issuer = format!("{}/{}/v2.0", fake.base, entra_emulator::DEV_TENANT_ID);
    let sign = || {
        emu.token()
            .signed_with(&key)
            .claim("iss", serde_json::json!(issuer))
            .sign()
    };

    // The key's own issuer changes.
    let token = sign();
    assert_eq!(api.get("/me", Some(&token)).await.status, 200);
    assert_eq!(api.get("/me", Some(&token)).await.status, 200);
    assert_eq!(api.layer.authenticator().stats().cached_tokens, 1);
    fake.update(|d| {
        d.keys = serde_json::json!({ "keys": [key.jwk(Some("https://elsewhere.example/{tenantid}/v2.0"))] });
    });
    api.layer.prefetch().await.unwrap();
    assert_rejected_for(&api, &token, InvalidToken::KeyIssuerMismatch).await;

    // The discovery document's issuer changes.
    let base = fake.base.clone();
    fake.update(|d| {
        d.keys =
            serde_json::json!({ "keys": [key.jwk(Some(&format!("{base}/{{tenantid}}/v2.0")))] });
    });
    api.layer.prefetch().await.unwrap();
    let token = sign();
    assert_eq!(api.get("/me", Some(&token)).await.status, 200);
    assert_eq!(api.get("/me", Some(&token)).await.status, 200);
    fake.update(|d| {
        d.v2["issuer"] = serde_json::json!(format!("{base}/{{tenantid}}/v2.0/moved"));
    });
    api.layer.prefetch().await.unwrap();
    assert_rejected_for(&api, &token, InvalidToken::IssuerMismatch).await;
}

/// A v1 discovery document that fails affects v1 tokens only: v2 tokens are served, v1 tokens
/// get 503 until the v1 document loads (retried after the backoff); once read, a later v1
/// failure keeps the v1 issuer read earlier.
#[tokio::test]
async fn a_failing_v1_document_affects_only_v1_tokens() {
    let emu = Emulator::start().await.unwrap();
    let v1_document = format!(
        "/{}/.well-known/openid-configuration",
        entra_emulator::DEV_TENANT_ID
    );
    emu.set_path_fault(&v1_document, Fault::Status(500));
    let clock = ManualClock::starting_now();
    let api = serve(
        EntraAuthLayer::new(dev_config(&emu, &clock).build().unwrap()),
        clock,
    )
    .await;
    let v1 = || emu.token().version(entra_emulator::TokenVersion::V1).sign();
    let r = api.get("/me", Some(&emu.token().sign())).await;
    assert_eq!(r.status, 200, "v2 tokens are served: {}", r.body);
    let r = api.get("/me", Some(&v1())).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.retry_after.as_deref(), Some("10"));

    // The v1 document is back; the retry comes with the next request after the backoff.
    emu.clear_faults();
    api.clock.advance(Duration::from_secs(10));
    assert_eq!(api.get("/me", Some(&emu.token().sign())).await.status, 200);
    let fetches = emu.request_count(Endpoint::Keys);
    let auth = api.layer.authenticator().clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let r = auth.validate(&v1()).await;
        if r.is_ok() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "v1 never recovered: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(emu.request_count(Endpoint::Keys) <= fetches + 1);
    assert_eq!(api.get("/me", Some(&v1())).await.status, 200);

    // Failing again later: the v1 issuer read earlier is kept.
    emu.set_path_fault(&v1_document, Fault::Status(500));
    api.layer.prefetch().await.unwrap();
    assert_eq!(api.get("/me", Some(&v1())).await.status, 200);
    assert_eq!(api.get("/me", Some(&emu.token().sign())).await.status, 200);
}

/// The documents are fetched concurrently: the v2 and v1 documents (200 ms each) side by side,
/// then the key set (50 ms), fit in a 300 ms deadline that the same requests one after the
/// other (450 ms) would not.
#[tokio::test]
async fn the_documents_are_fetched_concurrently() {
    let (emu, api) = delayed_api(200, 50, 300).await;
    let r = api.get("/me", Some(&emu.token().sign())).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// `prefetch()` reports a refresh that failed, even while older keys are still usable (a
/// readiness check must see it); valid tokens keep being served with those keys.
#[tokio::test]
async fn prefetch_reports_a_failed_refresh_while_old_keys_still_serve() {
    let (emu, api) = setup().await;
    api.layer.prefetch().await.unwrap();
    emu.set_fault(Endpoint::Keys, Fault::Status(500));
    let err = api.layer.prefetch().await.unwrap_err();
    assert!(
        matches!(err, entra_auth::AuthError::KeysUnavailable { .. }),
        "{err:?}"
    );
    assert_eq!(api.get("/me", Some(&emu.token().sign())).await.status, 200);
    assert!(api.layer.authenticator().is_ready());
}

/// A token whose header names a key we do not hold, inside the unknown-kid cooldown, is
/// rejected by its header alone: its payload (here not even JSON) is never decoded, and nothing
/// is fetched. The same payload under a key we hold is read, and refused for what it is.
#[tokio::test]
async fn an_unknown_kid_in_the_cooldown_is_rejected_before_its_payload_is_read() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let emu = Emulator::start().await.unwrap();
    let clock = ManualClock::starting_now();
    let auth = entra_auth::Authenticator::new(dev_config(&emu, &clock).build().unwrap());
    auth.prefetch().await.unwrap();
    let garbage_payload = URL_SAFE_NO_PAD.encode("this is not JSON");
    let with_header = |kid: &str| {
        let header =
            URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"RS256","typ":"JWT","kid":"{kid}"}}"#));
        let signature = emu.token().sign().rsplit_once('.').unwrap().1.to_owned();
        format!("{header}.{garbage_payload}.{signature}")
    };
    let unknown = InvalidToken::UnknownSigningKey.into();

    // The cooldown is open: the same answer, and no fetch for a payload that cannot be valid.
    // (Answered for its payload here, it would tell whether the cooldown is open, and so
    // whether another caller's token of an allowed tenant just took it: a tenant oracle.)
    let fetches = auth.stats().key_set_fetches;
    let garbage = with_header("no-such-key-0");
    assert_eq!(auth.validate(&garbage).await.unwrap_err(), unknown);
    let other_tenant = emu
        .token()
        .tenant("0b9c4e4d-7a7b-4f6e-9f0e-2d6a3c1b5e88")
        .kid("no-such-key-0")
        .sign();
    assert_eq!(auth.validate(&other_tenant).await.unwrap_err(), unknown);
    assert_eq!(auth.stats().key_set_fetches, fetches);

    // Take the cooldown: one unknown kid of the allowed tenant refreshes once.
    let first = emu.token().kid("no-such-key-1").sign();
    assert_eq!(auth.validate(&first).await.unwrap_err(), unknown);
    let fetches = auth.stats().key_set_fetches;

    // The cooldown is taken: the same answers, by the header alone.
    assert_eq!(auth.validate(&garbage).await.unwrap_err(), unknown);
    assert_eq!(auth.validate(&other_tenant).await.unwrap_err(), unknown);
    assert_eq!(
        auth.validate(&with_header("no-such-key-2"))
            .await
            .unwrap_err(),
        unknown
    );
    // The same payload under a key we hold is read, and refused for what it is.
    let err = auth
        .validate(&with_header(emu.active_key().kid()))
        .await
        .unwrap_err();
    assert_eq!(err, InvalidToken::MalformedClaims.into());
    assert_eq!(
        auth.stats().key_set_fetches,
        fetches,
        "no fetch in the cooldown"
    );
}

/// The periodic refresh is started by tokens we accept (and cache hits), never by garbage or
/// by another tenant's token, even one naming a key we hold.
#[tokio::test]
async fn only_accepted_traffic_starts_the_periodic_refresh() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let emu = Emulator::start().await.unwrap();
    let clock = ManualClock::starting_now();
    let auth = entra_auth::Authenticator::new(dev_config(&emu, &clock).build().unwrap());
    auth.prefetch().await.unwrap();
    let fetches = emu.request_count(Endpoint::Keys);
    clock.advance(Duration::from_secs(13 * 3600));
    let at = || emu.token().issued_at(clock.unix_seconds());
    let kid = emu.active_key().kid().to_owned();
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"RS256","typ":"JWT","kid":"{kid}"}}"#));
    let signature = at().sign().rsplit_once('.').unwrap().1.to_owned();
    let refused = [
        format!(
            "{header}.{}.{signature}",
            URL_SAFE_NO_PAD.encode("not JSON")
        ),
        at().tenant("0b9c4e4d-7a7b-4f6e-9f0e-2d6a3c1b5e88").sign(),
    ];
    for token in &refused {
        assert!(auth.validate(token).await.is_err());
    }
    // A refresh would be under way within moments: give it the time, then see none happened.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        emu.request_count(Endpoint::Keys),
        fetches,
        "refused tokens fetched nothing"
    );
    // An accepted token starts it (in the background: it is answered with the keys held).
    auth.validate(&at().sign()).await.unwrap();
    for _ in 0..100 {
        if emu.request_count(Endpoint::Keys) > fetches {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(emu.request_count(Endpoint::Keys), fetches + 1);
}

/// The verified-token cache keeps the users who come back through a flood of one-off tokens
/// ten times its capacity, stays within its capacity, and counts what it does.
#[tokio::test]
async fn returning_tokens_stay_cached_through_a_flood_of_one_off_tokens() {
    let emu = Emulator::start().await.unwrap();
    let clock = ManualClock::starting_now();
    let mut cache = TokenCachePolicy::default();
    cache.max_entries = 200;
    let config = dev_config(&emu, &clock).token_cache(cache).build().unwrap();
    let auth = entra_auth::Authenticator::new(config);
    auth.prefetch().await.unwrap();
    let hot: Vec<String> = (0..20)
        .map(|i| {
            emu.token()
                .claim("uti", serde_json::json!(format!("hot-{i}")))
                .sign()
        })
        .collect();
    for _ in 0..3 {
        for token in &hot {
            auth.validate(token).await.unwrap();
        }
    }
    let flood: Vec<String> = (0..2_000)
        .map(|i| {
            emu.token()
                .claim("uti", serde_json::json!(format!("flood-{i}")))
                .sign()
        })
        .collect();
    for (i, token) in flood.iter().enumerate() {
        auth.validate(token).await.unwrap();
        // The users of the moment keep coming back during the flood.
        if i % 50 == 0 {
            for token in &hot {
                auth.validate(token).await.unwrap();
            }
        }
    }
    let before = auth.stats();
    assert!(before.cached_tokens <= 200, "{before:?}");
    assert!(before.cache_evictions >= 1_800, "{before:?}");
    for token in &hot {
        auth.validate(token).await.unwrap();
    }
    let after = auth.stats();
    assert_eq!(
        after.cache_hits - before.cache_hits,
        20,
        "every returning token is a hit"
    );
    assert_eq!(after.cache_misses, before.cache_misses);
    // A one-off token from the middle of the flood (the cache was full by then) is long gone:
    // a miss, validated again.
    auth.validate(&flood[1_000]).await.unwrap();
    let last = auth.stats();
    assert_eq!(
        last.cache_misses,
        after.cache_misses + 1,
        "{after:?} {last:?}"
    );
}
