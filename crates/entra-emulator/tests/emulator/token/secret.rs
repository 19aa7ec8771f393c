//! Client secrets (form and HTTP Basic), the v1 endpoint, domain paths, and the errors of the
//! token endpoint.

use std::time::{Duration, SystemTime};

use entra_emulator::*;
use serde_json::{Value, json};

use super::*;
use crate::common::*;

#[tokio::test]
async fn client_secret_v2_token_verifies_against_served_keys() {
    let emu = emulator().await;
    let resp = post(&emu, DEV_TENANT_ID, TokenVersion::V2, &secret_form()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store, no-cache");
    assert_eq!(resp.headers()["pragma"], "no-cache");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    let expires_in = body["expires_in"].as_i64().unwrap();
    assert!((3600..=5400).contains(&expires_in));
    assert_eq!(body["ext_expires_in"], expires_in);
    let token = body["access_token"].as_str().unwrap();
    let h = header(token);
    assert_eq!(h["typ"], "JWT");
    assert_eq!(h["alg"], "RS256");
    assert_eq!(h["kid"], emu.active_key().kid());
    assert!(h.get("x5t").is_none());

    let claims = verify_with_jwks(
        token,
        &jwks(&emu, TokenVersion::V2).await,
        DEV_API_CLIENT_ID,
        &emu.issuer_v2(DEV_TENANT_ID),
    )
    .unwrap();
    assert_eq!(claims["azp"], DEV_CLIENT_ID);
    assert_eq!(claims["azpacr"], "1");
    assert_eq!(claims["ver"], "2.0");
    assert_eq!(claims["tid"], DEV_TENANT_ID);
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(
        claims["idp"],
        format!("https://sts.windows.net/{DEV_TENANT_ID}/")
    );
    let sp = emu.service_principal_id(DEV_TENANT_ID, DEV_CLIENT_ID);
    assert_eq!(claims["oid"], sp);
    assert_eq!(claims["sub"], sp);
    assert_eq!(claims["roles"], json!(["Api.Admin", "Files.Read.All"]));
    for c in ["aio", "rh", "uti", "iat", "nbf"] {
        assert!(claims.get(c).is_some(), "{c}");
    }
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        expires_in
    );
    assert!(claims.get("appid").is_none());
    assert!(claims.get("scp").is_none());
    let log = emu.request_log();
    let entry = log
        .iter()
        .find(|r| r.endpoint == Some(Endpoint::Token))
        .unwrap();
    assert_eq!(entry.client_id.as_deref(), Some(DEV_CLIENT_ID));
    assert_eq!(entry.status, Some(200));
    assert!(!format!("{log:?}").contains(DEV_CLIENT_SECRET));
}

#[tokio::test]
async fn client_credentials_under_domain_path() {
    let emu = emulator().await;
    let keys = jwks(&emu, TokenVersion::V2).await;
    for (tenant, v) in [
        (DEV_TENANT_DOMAIN, TokenVersion::V2),
        (DEV_TENANT_DOMAIN, TokenVersion::V1),
        ("EntraEmulator.OnMicrosoft.COM", TokenVersion::V2),
    ] {
        let mut form = secret_form();
        if v == TokenVersion::V1 {
            form.retain(|(k, _)| *k != "scope");
            form.push(("resource", DEV_API_CLIENT_ID));
        }
        let resp = post(&emu, tenant, v, &form).await;
        assert_eq!(resp.status(), 200, "{tenant} {v:?}");
        let body: Value = resp.json().await.unwrap();
        // The issuer and tid are the tenant id's, not the domain.
        let claims = verify_with_jwks(
            body["access_token"].as_str().unwrap(),
            &keys,
            DEV_API_CLIENT_ID,
            &emu.issuer_v2(DEV_TENANT_ID),
        )
        .unwrap();
        assert_eq!(claims["tid"], DEV_TENANT_ID);
        assert_eq!(claims["iss"], emu.issuer_v2(DEV_TENANT_ID));
        assert_eq!(
            claims["oid"],
            emu.service_principal_id(DEV_TENANT_ID, DEV_CLIENT_ID)
        );
        assert_eq!(claims["roles"], json!(["Api.Admin", "Files.Read.All"]));
    }
    // A v1 resource: v1 issuer with the tenant id.
    let resp = post(
        &emu,
        DEV_TENANT_DOMAIN,
        TokenVersion::V2,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_CLIENT_ID),
            ("client_secret", DEV_CLIENT_SECRET),
            ("scope", "https://v1api.contoso.example/.default"),
        ],
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    let claims = verify_with_jwks(
        body["access_token"].as_str().unwrap(),
        &jwks(&emu, TokenVersion::V1).await,
        "https://v1api.contoso.example",
        &format!("https://sts.windows.net/{DEV_TENANT_ID}/"),
    )
    .unwrap();
    assert_eq!(claims["tid"], DEV_TENANT_ID);
    // Unknown domain: AADSTS90002.
    let resp = post(
        &emu,
        "nobody.onmicrosoft.com",
        TokenVersion::V2,
        &secret_form(),
    )
    .await;
    assert_aad_error(resp, 400, "invalid_request", 90002).await;
    // A client of another tenant is not found through this tenant's domain.
    let other = "0b0b0b0b-1111-4222-8333-444455556666";
    emu.add_tenant_domain(other, "fabrikam.example").unwrap();
    let resp = post(&emu, "fabrikam.example", TokenVersion::V2, &secret_form()).await;
    assert_aad_error(resp, 400, "unauthorized_client", 700016).await;
}

#[tokio::test]
async fn basic_auth_and_v1_endpoint_and_v1_resource() {
    let emu = emulator().await;
    // HTTP Basic, v2 endpoint, resource that accepts v1 tokens.
    let resp = http()
        .post(emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V2))
        .basic_auth(DEV_CLIENT_ID, Some(DEV_CLIENT_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "https://v1api.contoso.example/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    let h = header(token);
    assert_eq!(h["x5t"], h["kid"]);
    let claims = verify_with_jwks(
        token,
        &jwks(&emu, TokenVersion::V1).await,
        "https://v1api.contoso.example",
        &format!("https://sts.windows.net/{DEV_TENANT_ID}/"),
    )
    .unwrap();
    assert_eq!(claims["ver"], "1.0");
    assert_eq!(claims["appid"], DEV_CLIENT_ID);
    assert_eq!(claims["appidacr"], "1");
    assert_eq!(claims["roles"], json!(["Reader"]));
    assert!(claims.get("azp").is_none());

    // v1 endpoint with resource=: v1 response shape; token version follows the resource (v2).
    let resp = post(
        &emu,
        DEV_TENANT_ID,
        TokenVersion::V1,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_CLIENT_ID),
            ("client_secret", DEV_CLIENT_SECRET),
            ("resource", &format!("api://{DEV_API_CLIENT_ID}")),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(body["expires_in"].is_string());
    assert!(body["expires_on"].is_string());
    assert_eq!(body["resource"], format!("api://{DEV_API_CLIENT_ID}"));
    let claims = payload(body["access_token"].as_str().unwrap());
    assert_eq!(claims["ver"], "2.0");
    assert_eq!(claims["aud"], DEV_API_CLIENT_ID);
}

#[tokio::test]
async fn token_endpoint_errors() {
    let emu = emulator().await;
    let expired_client = "e0000000-0000-4000-8000-000000000001";
    emu.register_app(
        DEV_TENANT_ID,
        App::new(expired_client).secret(
            ClientSecret::new("old-secret").expires_at(SystemTime::now() - Duration::from_secs(60)),
        ),
    );
    let t = DEV_TENANT_ID;
    let v2 = TokenVersion::V2;
    let cc = ("grant_type", "client_credentials");
    let id = ("client_id", DEV_CLIENT_ID);
    let sec = ("client_secret", DEV_CLIENT_SECRET);
    let scope = ("scope", SCOPE);
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str, u64);
    let cases: Vec<Case<'_>> = vec![
        (t, vec![id, sec, scope], 400, "invalid_request", 900144),
        (
            t,
            vec![("grant_type", "implicit"), id, sec, scope],
            400,
            "unsupported_grant_type",
            70003,
        ),
        (
            "00000000-0000-4000-8000-00000000dead",
            vec![cc, id, sec, scope],
            400,
            "invalid_request",
            90002,
        ),
        (
            "common",
            vec![cc, id, sec, scope],
            400,
            "invalid_request",
            50059,
        ),
        (
            "organizations",
            vec![cc, id, sec, scope],
            400,
            "invalid_request",
            50059,
        ),
        (
            t,
            vec![cc, ("client_id", "nope"), sec, scope],
            400,
            "unauthorized_client",
            700016,
        ),
        (
            t,
            vec![cc, id, ("client_secret", "wrong"), scope],
            401,
            "invalid_client",
            7000215,
        ),
        (
            t,
            vec![
                cc,
                ("client_id", expired_client),
                ("client_secret", "old-secret"),
                scope,
            ],
            401,
            "invalid_client",
            7000222,
        ),
        (t, vec![cc, id, scope], 401, "invalid_client", 7000218),
        (t, vec![cc, sec, scope], 400, "invalid_request", 900144),
        (t, vec![cc, id, sec], 400, "invalid_request", 900144),
        (
            t,
            vec![cc, id, sec, ("scope", "api://x/Files.Read")],
            400,
            "invalid_scope",
            70011,
        ),
        (
            t,
            vec![cc, id, sec, ("scope", "openid profile")],
            400,
            "invalid_scope",
            70011,
        ),
        (
            t,
            vec![cc, id, sec, ("scope", "api://unknown/.default")],
            400,
            "invalid_resource",
            500011,
        ),
        (
            t,
            vec![cc, id, ("client_assertion", "a.b.c")],
            400,
            "invalid_request",
            900144,
        ),
        (
            t,
            vec![
                cc,
                id,
                ("client_assertion", "a.b.c"),
                ("client_assertion_type", "urn:other"),
            ],
            400,
            "invalid_request",
            9002313,
        ),
        (
            t,
            vec![
                cc,
                id,
                ("client_assertion", "not-a-jwt"),
                ("client_assertion_type", JWT_BEARER),
            ],
            400,
            "invalid_request",
            50027,
        ),
    ];
    for (tenant, form, status, error, code) in cases {
        let resp = post(&emu, tenant, v2, &form).await;
        assert_aad_error(resp, status, error, code).await;
    }
    // v1 endpoint without resource
    let resp = post(&emu, t, TokenVersion::V1, &[cc, id, sec]).await;
    assert_aad_error(resp, 400, "invalid_request", 900144).await;
    // GET on the token endpoint
    let resp = http().get(emu.token_endpoint(t, v2)).send().await.unwrap();
    assert_aad_error(resp, 400, "invalid_request", 900561).await;
    // client-request-id becomes the correlation id
    let resp = http()
        .post(emu.token_endpoint(t, v2))
        .header("client-request-id", "0f0e0d0c-1111-4222-8333-444455556666")
        .form(&[cc, id, ("client_secret", "wrong"), scope])
        .send()
        .await
        .unwrap();
    let body = assert_aad_error(resp, 401, "invalid_client", 7000215).await;
    assert_eq!(
        body["correlation_id"],
        "0f0e0d0c-1111-4222-8333-444455556666"
    );
    assert!(
        !emu.request_log()
            .iter()
            .any(|r| format!("{r:?}").contains("wrong"))
    );
    assert_eq!(emu.request_count(Endpoint::Token), 20);
}
