//! Tokens minted directly with `TokenBuilder`.

use std::time::Duration;

use entra_emulator::*;
use serde_json::{Value, json};

use crate::common::*;
use crate::token::{emulator, jwks};

#[tokio::test]
async fn minted_tokens() {
    let emu = emulator().await;
    let keys = jwks(&emu, TokenVersion::V2).await;
    let iss = emu.issuer_v2(DEV_TENANT_ID);

    // Default: app-only v2 for the dev API.
    let b = emu.token();
    let expected = b.claims();
    let t = b.sign();
    let claims = verify_with_jwks(&t, &keys, DEV_API_CLIENT_ID, &iss).unwrap();
    assert_eq!(Value::Object(expected), claims);
    assert_eq!(claims["roles"], json!(["Api.Admin", "Files.Read.All"]));
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    let h = header(&t);
    assert_eq!(
        h,
        json!({"typ": "JWT", "alg": "RS256", "kid": emu.active_key().kid()})
    );

    // v1
    let t = emu.token().version(TokenVersion::V1).sign();
    let claims = verify_with_jwks(
        &t,
        &keys,
        &format!("api://{DEV_API_CLIENT_ID}"),
        &emu.issuer_v1(DEV_TENANT_ID),
    )
    .unwrap();
    assert_eq!(claims["appid"], DEV_CLIENT_ID);
    assert_eq!(header(&t)["x5t"], emu.active_key().kid());

    // Delegated with scopes.
    let t = emu
        .token()
        .delegated("u-1", "Ada", "ada@contoso.example")
        .scopes("Files.Read User.Read")
        .sign();
    let claims = verify_with_jwks(&t, &keys, DEV_API_CLIENT_ID, &iss).unwrap();
    assert_eq!(claims["scp"], "Files.Read User.Read");
    assert_eq!(claims["oid"], "u-1");
    assert_eq!(claims["preferred_username"], "ada@contoso.example");
    assert!(claims.get("idtyp").is_none());
    assert!(claims.get("roles").is_none());

    // Times.
    let err = verify_with_jwks(
        &emu.token().expired().sign(),
        &keys,
        DEV_API_CLIENT_ID,
        &iss,
    )
    .unwrap_err();
    assert!(err.contains("Expired"), "{err}");
    let err = verify_with_jwks(
        &emu.token().not_yet_valid().sign(),
        &keys,
        DEV_API_CLIENT_ID,
        &iss,
    )
    .unwrap_err();
    assert!(err.contains("Immature"), "{err}");
    let c = emu
        .token()
        .issued_at(1_000)
        .lifetime(Duration::from_secs(60))
        .claims();
    assert_eq!(
        (c["iat"].clone(), c["nbf"].clone(), c["exp"].clone()),
        (json!(1000), json!(1000), json!(1060))
    );

    // Overrides.
    let b = emu
        .token()
        .tenant("11111111-2222-4333-8444-555555555555")
        .audience("api://other")
        .client_app("client-x")
        .roles(["A", "B"])
        .claim("custom", json!({"x": 1}))
        .remove_claim("aio");
    let c = b.claims();
    assert_eq!(c["aud"], "api://other");
    assert_eq!(c["azp"], "client-x");
    assert_eq!(c["roles"], json!(["A", "B"]));
    assert_eq!(c["custom"], json!({"x": 1}));
    assert!(!c.contains_key("aio"));
    assert_eq!(c["tid"], "11111111-2222-4333-8444-555555555555");

    let t = emu.token().header("alg", json!("HS256")).sign();
    assert_eq!(header(&t)["alg"], "HS256");
    let t = emu.token().remove_header("typ").kid("unknown-kid").sign();
    assert_eq!(header(&t), json!({"alg": "RS256", "kid": "unknown-kid"}));
    assert!(verify_with_jwks(&t, &keys, DEV_API_CLIENT_ID, &iss).is_err());
    let t = emu.token().x5t_only().sign();
    assert_eq!(
        header(&t),
        json!({"typ": "JWT", "alg": "RS256", "x5t": emu.active_key().kid()})
    );
    assert!(verify_with_jwks(&t, &keys, DEV_API_CLIENT_ID, &iss).is_ok());

    // Graph nonce: does not verify, as with real Graph tokens.
    let t = emu.token().graph_nonce().sign();
    assert!(header(&t)["nonce"].is_string());
    let err = verify_with_jwks(&t, &keys, DEV_API_CLIENT_ID, &iss).unwrap_err();
    assert!(err.contains("InvalidSignature"), "{err}");

    // Unregistered key: kid unknown to the key set; verifies with that key's own JWK.
    let (k1, _) = client_keys();
    let t = emu.token().signed_with(k1).sign();
    assert_eq!(header(&t)["kid"], k1.kid());
    assert!(verify_with_jwks(&t, &keys, DEV_API_CLIENT_ID, &iss).is_err());
    let own = json!({"keys": [k1.jwk(None)]});
    assert!(verify_with_jwks(&t, &own, DEV_API_CLIENT_ID, &iss).is_ok());
}
