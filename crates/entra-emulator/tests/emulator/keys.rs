//! Key sets, key rotation and app-specific keys.

use entra_emulator::*;
use serde_json::Value;

use crate::common::*;

#[tokio::test]
async fn key_sets_and_rotation() {
    let emu = Emulator::start().await.unwrap();
    let base = emu.base_url();
    let t = DEV_TENANT_ID;
    let template = format!("{base}/{{tenantid}}/v2.0");

    let resp = get(&emu.jwks_uri(t, TokenVersion::V2)).await;
    assert_eq!(resp.headers()["cache-control"], "max-age=86400, private");
    let v2: Value = resp.json().await.unwrap();
    let keys = v2["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let reference_fields = field_set(&reference("common-v2-keys.json")["keys"][0]);
    for k in keys {
        assert_eq!(field_set(k), reference_fields);
        check_entra_jwk(k, Some(&template));
    }
    let kids: Vec<String> = keys
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kids, emu.published_kids());
    assert_eq!(kids[0], emu.active_key().kid());

    for tenant in [t, "common", "organizations"] {
        let v1 = get_json(&emu.jwks_uri(tenant, TokenVersion::V1)).await;
        for k in v1["keys"].as_array().unwrap() {
            check_entra_jwk(k, None);
        }
    }

    // Rollover: publish, switch, retire.
    let old = emu.active_key();
    let new = emu.add_key();
    assert_eq!(emu.published_kids().len(), 3);
    assert_eq!(emu.active_key(), old);
    emu.set_active_key(new.kid());
    let token = emu.token().sign();
    assert_eq!(header(&token)["kid"], new.kid());
    let set = get_json(&emu.jwks_uri(t, TokenVersion::V2)).await;
    let iss = emu.issuer_v2(t);
    assert!(verify_with_jwks(&token, &set, DEV_API_CLIENT_ID, &iss).is_ok());
    emu.retire_key(new.kid());
    assert!(!emu.published_kids().contains(&new.kid().to_owned()));
    let set = get_json(&emu.jwks_uri(t, TokenVersion::V2)).await;
    assert!(verify_with_jwks(&token, &set, DEV_API_CLIENT_ID, &iss).is_err());
    emu.set_active_key(old.kid());
    let (k1, _) = client_keys();
    emu.publish_key(k1);
    emu.set_active_key(k1.kid());
    assert_eq!(emu.active_key().kid(), k1.kid());
    emu.set_active_key("no-such-kid");
    assert_eq!(emu.active_key().kid(), k1.kid());

    // App-specific key: only with ?appid=, tenant-specific issuer, and used for the app's tokens.
    let app_key = emu.add_app_key(t, DEV_API_CLIENT_ID);
    let plain = get_json(&emu.jwks_uri(t, TokenVersion::V2)).await;
    assert!(
        !plain["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == app_key.kid())
    );
    let with_app = get_json(&format!(
        "{}?appid={DEV_API_CLIENT_ID}",
        emu.jwks_uri(t, TokenVersion::V2)
    ))
    .await;
    let k = with_app["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == app_key.kid())
        .expect("app key served");
    check_entra_jwk(k, Some(&emu.issuer_v2(t)));
    let other = get_json(&format!(
        "{}?appid={DEV_CLIENT_ID}",
        emu.jwks_uri(t, TokenVersion::V2)
    ))
    .await;
    assert!(
        !other["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == app_key.kid())
    );
    let resp = http()
        .post(emu.token_endpoint(t, TokenVersion::V2))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_CLIENT_ID),
            ("client_secret", DEV_CLIENT_SECRET),
            ("scope", &format!("{DEV_API_CLIENT_ID}/.default")),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(header(token)["kid"], app_key.kid());
    assert!(verify_with_jwks(token, &with_app, DEV_API_CLIENT_ID, &iss).is_ok());
}
