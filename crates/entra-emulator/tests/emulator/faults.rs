//! Faults by endpoint kind and by path, the request counters and the request log.

use std::time::{Duration, Instant};

use entra_emulator::*;
use serde_json::Value;

use crate::common::*;

#[tokio::test]
async fn faults_are_observable_and_counted() {
    let emu = Emulator::start().await.unwrap();
    let keys_url = emu.jwks_uri(DEV_TENANT_ID, TokenVersion::V2);
    let disco_url = emu.discovery_url(DEV_TENANT_ID, TokenVersion::V2);

    emu.set_fault(Endpoint::Keys, Fault::DropConnection);
    let err = http().get(&keys_url).send().await.unwrap_err();
    assert!(!err.is_status(), "{err}");
    // Other endpoints are unaffected.
    assert_eq!(get(&disco_url).await.status(), 200);

    emu.set_fault(Endpoint::Keys, Fault::Delay(Duration::from_millis(300)));
    let start = Instant::now();
    assert_eq!(get(&keys_url).await.status(), 200);
    assert!(start.elapsed() >= Duration::from_millis(300));
    let timeout = http()
        .get(&keys_url)
        .timeout(Duration::from_millis(50))
        .send()
        .await
        .unwrap_err();
    assert!(timeout.is_timeout());

    emu.set_fault(Endpoint::Keys, Fault::Status(503));
    assert_eq!(get(&keys_url).await.status(), 503);

    emu.set_fault(Endpoint::Discovery, Fault::Html);
    let resp = get(&disco_url).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    emu.set_fault(Endpoint::Keys, Fault::InvalidJson);
    let resp = get(&keys_url).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.json::<Value>().await.is_err());

    emu.set_fault(Endpoint::Keys, Fault::Oversized(3_000_000));
    let body = get(&keys_url).await.bytes().await.unwrap();
    assert_eq!(body.len(), 3_000_000);
    assert!(body.starts_with(b"{\"keys\":["));

    emu.set_fault(Endpoint::Keys, Fault::EmptyKeySet);
    assert_eq!(get_json(&keys_url).await["keys"], serde_json::json!([]));

    emu.set_fault(Endpoint::Keys, Fault::BrokenKey);
    let set = get_json(&keys_url).await;
    let keys = set["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 5);
    assert!(keys.iter().any(|k| k["kty"] == "EC"));
    assert!(keys.iter().any(|k| k["use"] == "enc"));
    assert!(keys.iter().any(|k| k["n"] == "!!not*base64url!!"));
    // The good keys still verify tokens.
    let token = emu.token().sign();
    let iss = emu.issuer_v2(DEV_TENANT_ID);
    assert!(verify_with_jwks(&token, &set, DEV_API_CLIENT_ID, &iss).is_ok());

    emu.set_fault(Endpoint::Token, Fault::Status(500));
    let resp = http()
        .post(emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V2))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);

    emu.clear_fault(Endpoint::Keys);
    assert_eq!(
        get_json(&keys_url).await["keys"].as_array().unwrap().len(),
        2
    );
    emu.clear_faults();
    assert_eq!(get(&disco_url).await.status(), 200);

    assert_eq!(emu.request_count(Endpoint::Keys), 9);
    assert_eq!(emu.request_count(Endpoint::Discovery), 3);
    assert_eq!(emu.request_count(Endpoint::Token), 1);
    let log = emu.request_log();
    let first = &log
        .iter()
        .find(|r| r.endpoint == Some(Endpoint::Keys))
        .unwrap();
    assert_eq!(first.fault, Some(Fault::DropConnection));
    assert_eq!(first.status, None);
    assert_eq!(first.method, "GET");
    assert_eq!(first.path, format!("/{DEV_TENANT_ID}/discovery/v2.0/keys"));

    // Secrets in a query string are masked.
    get(&format!("{keys_url}?appid=x&client_secret=hunter2")).await;
    let last = emu.request_log().pop().unwrap();
    assert_eq!(last.query.as_deref(), Some("appid=x&client_secret=***"));

    emu.reset_counters();
    assert_eq!(emu.request_count(Endpoint::Keys), 0);
    assert!(emu.request_log().is_empty());
}

#[tokio::test]
async fn path_faults_hit_one_path_only() {
    let emu = Emulator::start().await.unwrap();
    let t = DEV_TENANT_ID;
    let v1 = emu.discovery_url(t, TokenVersion::V1);
    let v2 = emu.discovery_url(t, TokenVersion::V2);
    let v1_path = format!("/{t}/.well-known/openid-configuration");

    // Only the v1 discovery document of this tenant fails.
    emu.set_path_fault(&v1_path, Fault::Status(503));
    let resp = get(&v1).await;
    assert_eq!(resp.status(), 503);
    assert!(resp.text().await.unwrap().contains("injected fault"));
    assert_eq!(get_json(&v2).await["issuer"], emu.issuer_v2(t));
    assert_eq!(
        get(&emu.discovery_url("common", TokenVersion::V1))
            .await
            .status(),
        200
    );
    assert_eq!(
        get(&emu.discovery_url(DEV_TENANT_DOMAIN, TokenVersion::V1))
            .await
            .status(),
        200
    );
    // Whatever the query string.
    assert_eq!(
        get(&format!("{v1}?appid={DEV_API_CLIENT_ID}"))
            .await
            .status(),
        503
    );
    // The path is compared exactly.
    assert_eq!(get(&v1.replace(t, &t.to_uppercase())).await.status(), 200);

    // Counted and logged like any request, with the fault.
    assert_eq!(emu.request_count(Endpoint::Discovery), 6);
    let log = emu.request_log();
    let faulted: Vec<&LoggedRequest> = log.iter().filter(|r| r.fault.is_some()).collect();
    assert_eq!(faulted.len(), 2);
    for r in &faulted {
        assert_eq!(r.path, v1_path);
        assert_eq!(r.fault, Some(Fault::Status(503)));
        assert_eq!(r.status, Some(503));
        assert_eq!(r.endpoint, Some(Endpoint::Discovery));
    }

    // A path fault wins over the endpoint fault; the other paths get the endpoint fault.
    emu.set_fault(Endpoint::Discovery, Fault::Html);
    assert_eq!(get(&v1).await.status(), 503);
    let resp = get(&v2).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    // Cleared, the path gets the endpoint fault again; a URL names its path.
    emu.clear_path_fault(&v1);
    let resp = get(&v1).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    emu.clear_fault(Endpoint::Discovery);
    assert_eq!(get_json(&v1).await["issuer"], emu.issuer_v1(t));

    // Set by URL (query ignored); the other faults work per path too.
    emu.set_path_fault(&format!("{v1}?x=1"), Fault::DropConnection);
    assert!(http().get(&v1).send().await.is_err());
    assert_eq!(get(&v2).await.status(), 200);
    emu.set_path_fault(&v1, Fault::Delay(Duration::from_millis(300)));
    let start = Instant::now();
    assert_eq!(get(&v1).await.status(), 200);
    assert!(start.elapsed() >= Duration::from_millis(300));
    emu.set_path_fault(&v2, Fault::InvalidJson);
    assert!(get(&v2).await.json::<Value>().await.is_err());

    // Key-set faults apply to the faulted key set only.
    let keys_v1 = emu.jwks_uri(t, TokenVersion::V1);
    let keys_v2 = emu.jwks_uri(t, TokenVersion::V2);
    emu.set_path_fault(&keys_v1, Fault::EmptyKeySet);
    assert_eq!(get_json(&keys_v1).await["keys"], serde_json::json!([]));
    assert_eq!(
        get_json(&keys_v2).await["keys"].as_array().unwrap().len(),
        2
    );
    emu.set_path_fault(&keys_v2, Fault::BrokenKey);
    assert_eq!(
        get_json(&keys_v2).await["keys"].as_array().unwrap().len(),
        5
    );
    assert_eq!(get_json(&keys_v1).await["keys"], serde_json::json!([]));
    // A path fault wins over a key-set endpoint fault too.
    emu.set_fault(Endpoint::Keys, Fault::Status(500));
    assert_eq!(get_json(&keys_v1).await["keys"], serde_json::json!([]));
    assert_eq!(
        get(&emu.jwks_uri("common", TokenVersion::V1))
            .await
            .status(),
        500
    );

    // The token endpoint, and paths the emulator does not serve.
    let token_v1 = emu.token_endpoint(t, TokenVersion::V1);
    emu.set_path_fault(&token_v1, Fault::Status(429));
    let resp = http()
        .post(&token_v1)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    emu.set_path_fault("/not/served", Fault::Status(418));
    assert_eq!(
        get(&format!("{}/not/served", emu.base_url()))
            .await
            .status(),
        418
    );
    let last = emu.request_log().pop().unwrap();
    assert_eq!(
        (last.endpoint, last.fault),
        (None, Some(Fault::Status(418)))
    );

    // clear_faults clears path faults too.
    emu.clear_faults();
    assert_eq!(get(&v1).await.status(), 200);
    assert_eq!(get(&v2).await.status(), 200);
    assert_eq!(
        get_json(&keys_v1).await["keys"].as_array().unwrap().len(),
        2
    );
    assert_eq!(
        get(&format!("{}/not/served", emu.base_url()))
            .await
            .status(),
        404
    );
}
