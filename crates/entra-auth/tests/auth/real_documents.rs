//! A loopback authority serving Entra's real discovery documents and key sets: the expected
//! issuer comes from the document (Entra's `https://login.microsoftonline.com/{tenantid}/v2.0`),
//! not from the authority's host.

use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use entra_auth::{EntraAuthLayer, EntraConfig, ManualClock, TokenVersions};
use entra_emulator::{Emulator, TokenVersion};
use serde_json::{Value, json};

use crate::common;

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../testdata/entra/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

const ENTRA_TEMPLATE: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";

/// Serves `/{common|organizations}/v2.0/.well-known/openid-configuration` (Entra's document with
/// only `jwks_uri` pointed here) and the key set (Entra's keys plus `extra`).
async fn authority(segment: &'static str, extra: Value) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut doc = fixture(&format!("{segment}-v2-openid-configuration.json"));
    doc["jwks_uri"] = json!(format!("{base}/{segment}/discovery/v2.0/keys"));
    let mut keys = fixture(&format!("{segment}-v2-keys.json"));
    keys["keys"].as_array_mut().unwrap().push(extra);
    let app = Router::new()
        .route(
            &format!("/{segment}/v2.0/.well-known/openid-configuration"),
            get(move || {
                let doc = doc.clone();
                async move { Json(doc) }
            }),
        )
        .route(
            &format!("/{segment}/discovery/v2.0/keys"),
            get(move || {
                let keys = keys.clone();
                async move { Json(keys) }
            }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

#[tokio::test]
async fn entra_documents_on_loopback_validate_entra_shaped_tokens() {
    let emu = Emulator::start().await.unwrap();
    let key = emu.active_key();
    for segment in ["common", "organizations"] {
        let base = authority(segment, key.jwk(Some(ENTRA_TEMPLATE))).await;
        let tid = entra_emulator::DEV_TENANT_ID;
        let clock = ManualClock::starting_now();
        let cfg = EntraConfig::builder()
            .tenant(segment)
            .allowed_tenants([tid])
            .client_id(entra_emulator::DEV_API_CLIENT_ID)
            .authority(&base)
            .versions(TokenVersions::V2_ONLY)
            .clock(clock.clone())
            .build()
            .unwrap();
        let layer = EntraAuthLayer::new(cfg);
        layer.prefetch().await.unwrap();
        let loaded = layer.authenticator().stats().loaded_key_ids;
        assert!(
            loaded.iter().any(|k| k == "Mc7l3Iz93g7uwgNeEmmw_WYGPko"),
            "{loaded:?}"
        );
        let entra_keys = fixture(&format!("{segment}-v2-keys.json"))["keys"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(loaded.len(), entra_keys + 1, "Entra's keys plus ours");
        let api = common::serve(layer, clock).await;

        let entra_issuer = format!("https://login.microsoftonline.com/{tid}/v2.0");
        let token = emu
            .token()
            .version(TokenVersion::V2)
            .claim("iss", json!(entra_issuer))
            .sign();
        let r = api.get("/me", Some(&token)).await;
        assert_eq!(r.status, 200, "{segment}: {}", r.body);

        // An issuer glued onto the authority host is not what the document declares.
        let glued = emu
            .token()
            .claim("iss", json!(format!("{base}/{tid}/v2.0")))
            .sign();
        common::assert_invalid(&api.get("/me", Some(&glued)).await, "issuer");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
