//! On-behalf-of: a middle-tier API trades the user's token it received for a token to a
//! downstream API, or to Microsoft Graph, whose `/v1.0/me` then answers for the same user.

use entra_emulator::*;
use serde_json::{Value, json};

use super::*;
use crate::common::*;

const OBO_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The middle tier: a confidential web API exposing `access_as_user`, calling the downstream
/// API and Graph.
const MIDDLE: &str = "0b0e0000-1111-4222-8333-000000000001";
const MIDDLE_SECRET: &str = "middle-tier-secret";
const MIDDLE_URI: &str = "api://middle-tier";
/// The downstream API (v2 tokens), exposing `Orders.Read`.
const DOWNSTREAM: &str = "0d0e0000-1111-4222-8333-000000000002";
const DOWNSTREAM_URI: &str = "api://downstream";

fn orders_read() -> String {
    format!("{DOWNSTREAM_URI}/Orders.Read")
}

async fn obo_emulator() -> Emulator {
    let emu = Emulator::start().await.unwrap();
    emu.register_app(
        DEV_TENANT_ID,
        App::new(DOWNSTREAM)
            .display_name("Downstream API")
            .app_id_uri(DOWNSTREAM_URI)
            .scope("Orders.Read")
            .access_token_version(TokenVersion::V2),
    );
    emu.register_app(
        DEV_TENANT_ID,
        App::new(MIDDLE)
            .display_name("Middle tier")
            .secret(ClientSecret::new(MIDDLE_SECRET))
            .app_id_uri(MIDDLE_URI)
            .scope("access_as_user")
            .requests(DOWNSTREAM_URI, ["Orders.Read"])
            .requests(GRAPH_RESOURCE, ["User.Read"]),
    );
    emu
}

/// Adele's token for the middle tier, as the SPA gets it (v1: `aud` is the App ID URI).
async fn user_token_for_middle_tier(emu: &Emulator) -> String {
    let scope = format!("{MIDDLE_URI}/access_as_user");
    let body = password_token(emu, DEV_SPA_CLIENT_ID, &scope, &[]).await;
    body["access_token"].as_str().unwrap().to_owned()
}

fn obo_form<'a>(assertion: &'a str, scope: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", OBO_GRANT),
        ("client_id", MIDDLE),
        ("client_secret", MIDDLE_SECRET),
        ("assertion", assertion),
        ("scope", scope),
        ("requested_token_use", "on_behalf_of"),
    ]
}

async fn post_form(emu: &Emulator, form: &[(&str, &str)]) -> reqwest::Response {
    http()
        .post(emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V2))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn obo(emu: &Emulator, assertion: &str, scope: &str) -> reqwest::Response {
    post_form(emu, &obo_form(assertion, scope)).await
}

#[tokio::test]
async fn obo_keeps_the_user_and_takes_scopes_from_consent() {
    let emu = obo_emulator().await;
    let assertion = user_token_for_middle_tier(&emu).await;
    let incoming = payload(&assertion);
    assert_eq!(incoming["aud"], MIDDLE_URI);
    assert_eq!(incoming["scp"], "access_as_user");

    let resp = obo(&emu, &assertion, &orders_read()).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], orders_read());
    assert!(body["expires_in"].as_i64().unwrap() >= 3600);
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(body.get("id_token").is_none(), "{body}");

    let keys = dev_jwks(&emu).await;
    let at = body["access_token"].as_str().unwrap();
    let c = verify_with_jwks(at, &keys, DOWNSTREAM, &emu.issuer_v2(DEV_TENANT_ID)).unwrap();
    assert_eq!(c["ver"], "2.0");
    assert_eq!(c["oid"], DEV_USER_ID);
    assert_eq!(c["tid"], DEV_TENANT_ID);
    assert_eq!(c["name"], "Adele Vance");
    assert_eq!(c["preferred_username"], DEV_USER_UPN);
    assert_eq!(c["scp"], "Orders.Read");
    assert_eq!(c["azp"], MIDDLE);
    assert_eq!(c["azpacr"], "1");
    assert!(c.get("idtyp").is_none() && c.get("roles").is_none(), "{c}");
    // `sub` is pairwise: the middle tier's, not the SPA's.
    assert_ne!(c["sub"], incoming["sub"]);
    let mine = emu
        .token()
        .user(DEV_USER_UPN)
        .client_app(MIDDLE)
        .audience(DOWNSTREAM)
        .claims();
    assert_eq!(c["sub"], mine["sub"]);

    // `.default`: what the middle tier requests on the downstream API; offline_access adds a
    // refresh token.
    let scope = format!("{DOWNSTREAM_URI}/.default offline_access");
    let body: Value = obo(&emu, &assertion, &scope).await.json().await.unwrap();
    assert_eq!(
        payload(body["access_token"].as_str().unwrap())["scp"],
        "Orders.Read"
    );
    assert_eq!(body["scope"], format!("{} offline_access", orders_read()));
    assert!(body["refresh_token"].is_string(), "{body}");
}

#[tokio::test]
async fn obo_accepts_a_v2_assertion_addressed_to_the_client_id() {
    let emu = obo_emulator().await;
    let assertion = emu
        .token()
        .audience(MIDDLE)
        .client_app(DEV_SPA_CLIENT_ID)
        .user(DEV_SECOND_USER_UPN)
        .scopes("access_as_user")
        .sign();
    let resp = obo(&emu, &assertion, &orders_read()).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let c = payload(body["access_token"].as_str().unwrap());
    assert_eq!(c["oid"], DEV_SECOND_USER_ID);
    assert_eq!(c["name"], "Alex Wilber");
}

#[tokio::test]
async fn obo_to_graph_then_me_answers_for_the_user() {
    let emu = obo_emulator().await;
    let assertion = user_token_for_middle_tier(&emu).await;
    let scope = format!("{GRAPH_RESOURCE}/User.Read");
    let resp = obo(&emu, &assertion, &scope).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let graph_token = body["access_token"].as_str().unwrap();
    let keys = dev_jwks(&emu).await;
    let c = verify_with_jwks(
        graph_token,
        &keys,
        GRAPH_RESOURCE,
        &emu.issuer_v1(DEV_TENANT_ID),
    )
    .unwrap();
    assert_eq!(c["ver"], "1.0");
    assert_eq!(c["appid"], MIDDLE);
    assert_eq!(c["scp"], "User.Read");
    assert_eq!(c["oid"], DEV_USER_ID);
    assert_eq!(c["upn"], DEV_USER_UPN);

    let me_url = format!("{}/v1.0/me", emu.base_url());
    let me = get_bearer(&me_url, Some(graph_token)).await;
    assert_eq!(me.status(), 200);
    assert_eq!(
        me.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["id"], DEV_USER_ID);
    assert_eq!(me["userPrincipalName"], DEV_USER_UPN);
    assert_eq!(me["displayName"], "Adele Vance");
    assert_eq!(me["givenName"], "Adele");
    assert_eq!(me["surname"], "Vance");
    assert_eq!(me["mail"], DEV_USER_UPN);
    assert_eq!(
        me["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#users/$entity"
    );

    // The same token at userinfo: the subject of the token.
    let info = get_bearer(
        &format!("{}/oidc/userinfo", emu.base_url()),
        Some(graph_token),
    )
    .await;
    assert_eq!(info.status(), 200);
    let info: Value = info.json().await.unwrap();
    assert_eq!(info["sub"], c["sub"]);
    assert_eq!(info["name"], "Adele Vance");

    // `.default` on Graph: the middle tier's requested User.Read.
    let scope = format!("{GRAPH_RESOURCE}/.default");
    let body: Value = obo(&emu, &assertion, &scope).await.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(payload(token)["scp"], "User.Read");
    assert_eq!(get_bearer(&me_url, Some(token)).await.status(), 200);
}

#[tokio::test]
async fn obo_refuses_assertions_that_are_not_the_users_token_for_the_caller() {
    let emu = obo_emulator().await;
    emu.add_tenant("0e0e0e0e-0000-4000-8000-00000000000e");
    let good = user_token_for_middle_tier(&emu).await;
    let (foreign_key, _) = client_keys();
    let for_middle = || {
        emu.token()
            .audience(MIDDLE_URI)
            .client_app(DEV_SPA_CLIENT_ID)
            .user(DEV_USER_UPN)
            .scopes("access_as_user")
    };
    let mut tampered: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut claims = payload(&good);
    claims["oid"] = json!(DEV_SECOND_USER_ID);
    tampered[1] = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        claims.to_string(),
    );
    let api_token = password_token(&emu, DEV_SPA_CLIENT_ID, &files_read(), &[]).await;
    let cases: Vec<(&str, String)> = vec![
        ("not a JWT", "not-a-jwt".to_owned()),
        ("tampered", tampered.join(".")),
        ("expired", for_middle().expired().sign()),
        (
            "signed by a foreign key",
            for_middle().signed_with(foreign_key).sign(),
        ),
        (
            "for another API",
            api_token["access_token"].as_str().unwrap().to_owned(),
        ),
        (
            "app-only",
            emu.token()
                .audience(MIDDLE_URI)
                .client_app(DEV_SPA_CLIENT_ID)
                .sign(),
        ),
        (
            "another tenant",
            emu.token()
                .tenant("0e0e0e0e-0000-4000-8000-00000000000e")
                .audience(MIDDLE_URI)
                .delegated(DEV_USER_ID, "Adele Vance", DEV_USER_UPN)
                .scopes("access_as_user")
                .sign(),
        ),
        (
            "an ID token",
            emu.id_token(DEV_TENANT_ID, DEV_USER_UPN, MIDDLE, None)
                .unwrap(),
        ),
    ];
    for (what, assertion) in cases {
        let resp = obo(&emu, &assertion, &orders_read()).await;
        let body = assert_aad_error(resp, 400, "invalid_grant", 50013).await;
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("Assertion"),
            "{what}: {body}"
        );
    }
    // The good one still works.
    assert_eq!(obo(&emu, &good, &orders_read()).await.status(), 200);
}

#[tokio::test]
async fn obo_request_errors_carry_entras_codes() {
    let emu = obo_emulator().await;
    let assertion = user_token_for_middle_tier(&emu).await;
    let scope = orders_read();
    for missing in ["assertion", "requested_token_use", "scope"] {
        let mut form = obo_form(&assertion, &scope);
        form.retain(|(k, _)| *k != missing);
        let resp = post_form(&emu, &form).await;
        let body = assert_aad_error(resp, 400, "invalid_request", 900144).await;
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains(&format!("'{missing}'")),
            "{body}"
        );
    }
    // A public client cannot use on-behalf-of.
    let mut public = obo_form(&assertion, &scope);
    public.retain(|(k, _)| *k != "client_secret");
    public[1] = ("client_id", DEV_SPA_CLIENT_ID);
    let resp = post_form(&emu, &public).await;
    assert_aad_error(resp, 401, "invalid_client", 7000218).await;
    // The middle tier without its secret, or with a wrong one.
    let mut bare = obo_form(&assertion, &scope);
    bare.retain(|(k, _)| *k != "client_secret");
    assert_aad_error(post_form(&emu, &bare).await, 401, "invalid_client", 7000218).await;
    let mut wrong = obo_form(&assertion, &scope);
    wrong[2] = ("client_secret", "not-the-secret");
    assert_aad_error(
        post_form(&emu, &wrong).await,
        401,
        "invalid_client",
        7000215,
    )
    .await;
    // Scopes: unknown resource, two resources, a scope the API does not expose.
    let unknown = obo(&emu, &assertion, "api://nowhere/Orders.Read").await;
    assert_aad_error(unknown, 400, "invalid_resource", 500011).await;
    let two = format!("{} {GRAPH_RESOURCE}/User.Read", orders_read());
    assert_aad_error(
        obo(&emu, &assertion, &two).await,
        400,
        "invalid_scope",
        70011,
    )
    .await;
    // A scope the downstream API does not expose can never be granted: 70011.
    let unexposed = format!("{DOWNSTREAM_URI}/Orders.Write");
    let resp = obo(&emu, &assertion, &unexposed).await;
    assert_aad_error(resp, 400, "invalid_scope", 70011).await;
    // On-behalf-of is a v2 grant here.
    let v1 = http()
        .post(emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V1))
        .form(&obo_form(&assertion, &scope))
        .send()
        .await
        .unwrap();
    assert_aad_error(v1, 400, "unsupported_grant_type", 70003).await;
}

#[tokio::test]
async fn obo_without_consent_on_the_downstream_api_is_65001() {
    let emu = obo_emulator().await;
    let assertion = user_token_for_middle_tier(&emu).await;
    emu.set_auto_consent(DEV_TENANT_ID, false);
    let resp = obo(&emu, &assertion, &orders_read()).await;
    let body = assert_aad_error(resp, 400, "invalid_grant", 65001).await;
    let desc = body["error_description"].as_str().unwrap();
    assert!(
        desc.contains(MIDDLE) && desc.contains("Orders.Read"),
        "{desc}"
    );
    // Consent given to another client (the SPA) on the downstream API does not count.
    emu.grant_admin_consent(
        DEV_TENANT_ID,
        DEV_SPA_CLIENT_ID,
        DOWNSTREAM,
        &["Orders.Read"],
    );
    let still = obo(&emu, &assertion, &orders_read()).await;
    assert_aad_error(still, 400, "invalid_grant", 65001).await;
    // Admin consent for the middle tier on the downstream API.
    emu.grant_admin_consent(DEV_TENANT_ID, MIDDLE, DOWNSTREAM_URI, &["Orders.Read"]);
    let resp = obo(&emu, &assertion, &orders_read()).await;
    assert_eq!(resp.status(), 200);
    // User consent counts too.
    let graph = format!("{GRAPH_RESOURCE}/User.Read");
    let resp = obo(&emu, &assertion, &graph).await;
    assert_aad_error(resp, 400, "invalid_grant", 65001).await;
    emu.grant_user_consent(
        DEV_TENANT_ID,
        DEV_USER_UPN,
        MIDDLE,
        GRAPH_APP_ID,
        &["User.Read"],
    )
    .unwrap();
    assert_eq!(obo(&emu, &assertion, &graph).await.status(), 200);
}

#[tokio::test]
async fn an_assertion_expires_by_the_emulators_clock() {
    let (emu, clock) = clocked().await;
    emu.register_app(
        DEV_TENANT_ID,
        App::new(DOWNSTREAM)
            .app_id_uri(DOWNSTREAM_URI)
            .scope("Orders.Read"),
    );
    emu.register_app(
        DEV_TENANT_ID,
        App::new(MIDDLE)
            .secret(ClientSecret::new(MIDDLE_SECRET))
            .app_id_uri(MIDDLE_URI)
            .scope("access_as_user"),
    );
    let assertion = user_token_for_middle_tier(&emu).await;
    let exp = payload(&assertion)["exp"].as_i64().unwrap();
    let to = |unix: i64| std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix as u64);
    clock.set(to(exp - 1));
    let resp = obo(&emu, &assertion, &orders_read()).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    // The new token is the downstream API's v1 token, issued at the emulator's time.
    let c = payload(body["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], DOWNSTREAM_URI);
    assert_eq!(c["appid"], MIDDLE);
    assert_eq!(c["iat"], json!(exp - 1));
    clock.set(to(exp));
    let late = obo(&emu, &assertion, &orders_read()).await;
    assert_aad_error(late, 400, "invalid_grant", 50013).await;
}

#[tokio::test]
async fn obo_accepts_an_assertion_signed_with_the_middle_tiers_own_key() {
    let emu = obo_emulator().await;
    let key = emu.add_app_key(DEV_TENANT_ID, MIDDLE);
    let assertion = user_token_for_middle_tier(&emu).await;
    assert_eq!(header(&assertion)["kid"], key.kid());
    let resp = obo(&emu, &assertion, &orders_read()).await;
    assert_eq!(resp.status(), 200);
    // The downstream token is signed with the published keys, not the middle tier's.
    let body: Value = resp.json().await.unwrap();
    let at = body["access_token"].as_str().unwrap();
    assert_ne!(header(at)["kid"], key.kid());
    assert!(
        emu.published_kids()
            .contains(&header(at)["kid"].as_str().unwrap().to_owned())
    );
}

/// The OBO request of `client_id` authenticated by a client assertion signed with `cert` (named
/// by its `x5t`), for `scope` on behalf of the user of `assertion`.
async fn obo_with_certificate(
    emu: &Emulator,
    cert: &SigningKey,
    client_id: &str,
    assertion: &str,
    scope: &str,
) -> reqwest::Response {
    let mut claims = crate::token::assertion_claims(emu, TokenVersion::V2);
    claims["iss"] = json!(client_id);
    claims["sub"] = json!(client_id);
    let client_assertion = crate::token::assertion(
        cert,
        cert,
        jsonwebtoken::Algorithm::RS256,
        crate::token::Thumb::X5t { padded: false },
        &claims,
    );
    post_form(
        emu,
        &[
            ("grant_type", OBO_GRANT),
            ("client_id", client_id),
            ("client_assertion_type", crate::token::JWT_BEARER),
            ("client_assertion", &client_assertion),
            ("assertion", assertion),
            ("scope", scope),
            ("requested_token_use", "on_behalf_of"),
        ],
    )
    .await
}

#[tokio::test]
async fn obo_by_a_middle_tier_with_a_certificate() {
    let emu = obo_emulator().await;
    let (cert, _) = client_keys();
    let middle_cert = "0b0e0000-1111-4222-8333-000000000003";
    emu.register_app(
        DEV_TENANT_ID,
        App::new(middle_cert)
            .app_id_uri("api://middle-cert")
            .scope("access_as_user")
            .certificate_pem(&cert.certificate_pem()),
    );
    let body = password_token(
        &emu,
        DEV_SPA_CLIENT_ID,
        "api://middle-cert/access_as_user",
        &[],
    )
    .await;
    let assertion = body["access_token"].as_str().unwrap();
    let scope = orders_read();
    let resp = obo_with_certificate(&emu, cert, middle_cert, assertion, &scope).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let c = payload(body["access_token"].as_str().unwrap());
    assert_eq!(c["azp"], middle_cert);
    assert_eq!(c["azpacr"], "2");
    assert_eq!(c["oid"], DEV_USER_ID);
    // The token the SPA got for the other middle tier is not for this one.
    let others = user_token_for_middle_tier(&emu).await;
    let resp = obo_with_certificate(&emu, cert, middle_cert, &others, &scope).await;
    assert_aad_error(resp, 400, "invalid_grant", 50013).await;
}
