//! The refresh token grant: rotation, reuse revoking the family, revocation, lifetimes.

use std::time::Duration;

use super::*;

fn refresh_token(body: &Value) -> String {
    body["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no refresh token: {body}"))
        .to_owned()
}

/// The confidential dev client presenting `refresh_token`, not its own, is refused with
/// `invalid_grant` 70000.
async fn assert_refused_to_another_client(emu: &Emulator, refresh_token: &str) {
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", DEV_CLIENT_ID),
        ("client_secret", DEV_CLIENT_SECRET),
        ("refresh_token", refresh_token),
    ];
    let resp = token_post(emu, &form, None).await;
    assert_aad_error(resp, 400, "invalid_grant", 70000).await;
}

/// Redeem a refresh token for the dev SPA (no `Origin`), asking for `scope`.
async fn refresh_with_scope(emu: &Emulator, refresh_token: &str, scope: &str) -> reqwest::Response {
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", DEV_SPA_CLIENT_ID),
        ("refresh_token", refresh_token),
        ("scope", scope),
    ];
    token_post(emu, &form, None).await
}

const DAY: u64 = 24 * 3600;

#[tokio::test]
async fn refresh_tokens_rotate_and_each_works_once() {
    let emu = Emulator::start().await.unwrap();
    let first = spa_tokens(&emu).await;
    let rt1 = refresh_token(&first);
    let resp = refresh(&emu, &rt1, Some(SPA_ORIGIN)).await;
    assert_eq!(resp.headers()["access-control-allow-origin"], SPA_ORIGIN);
    let second = tokens(resp).await;
    let rt2 = refresh_token(&second);
    assert_ne!(rt1, rt2, "rotated");
    assert_eq!(second["scope"], format!("{} offline_access", files_read()));
    let (c, i) = verified_spa_tokens(&emu, &second).await;
    assert_eq!(c["scp"], "Files.Read");
    assert_eq!(c["oid"], DEV_USER_ID);
    assert_eq!(
        i["sid"],
        payload(first["id_token"].as_str().unwrap())["sid"]
    );
    // The new token works (once), and so on.
    let third = tokens(refresh(&emu, &rt2, Some(SPA_ORIGIN)).await).await;
    assert_ne!(refresh_token(&third), rt2);
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_is_70000_and_revokes_its_family() {
    let emu = Emulator::start().await.unwrap();
    let rt1 = refresh_token(&cli_tokens(&emu, DEV_USER_UPN).await);
    let other_family = refresh_token(&cli_tokens(&emu, DEV_USER_UPN).await);
    let rt2 = refresh_token(&tokens(refresh(&emu, &rt1, None).await).await);
    let rt3 = refresh_token(&tokens(refresh(&emu, &rt2, None).await).await);
    // rt1 comes back (stolen?): refused, and every token of its family with it.
    assert_aad_error(refresh(&emu, &rt1, None).await, 400, "invalid_grant", 70000).await;
    assert_aad_error(refresh(&emu, &rt3, None).await, 400, "invalid_grant", 70000).await;
    assert_aad_error(refresh(&emu, &rt2, None).await, 400, "invalid_grant", 70000).await;
    // Another sign-in's tokens are another family.
    tokens(refresh(&emu, &other_family, None).await).await;
}

#[tokio::test]
async fn an_unknown_refresh_token_or_one_of_another_client_is_70000() {
    let emu = Emulator::start().await.unwrap();
    assert_aad_error(
        refresh(&emu, "1.not-a-refresh-token", None).await,
        400,
        "invalid_grant",
        70000,
    )
    .await;
    let rt = refresh_token(&cli_tokens(&emu, DEV_USER_UPN).await);
    assert_refused_to_another_client(&emu, &rt).await;
}

#[tokio::test]
async fn revoke_refresh_tokens_ends_every_token_of_that_user_only() {
    let emu = Emulator::start().await.unwrap();
    let adele_spa = refresh_token(&spa_tokens(&emu).await);
    let adele_cli = refresh_token(&cli_tokens(&emu, DEV_USER_UPN).await);
    let alex = refresh_token(&cli_tokens(&emu, DEV_SECOND_USER_UPN).await);
    emu.revoke_refresh_tokens(DEV_TENANT_ID, DEV_USER_UPN);
    assert_aad_error(
        refresh(&emu, &adele_spa, Some(SPA_ORIGIN)).await,
        400,
        "invalid_grant",
        70000,
    )
    .await;
    assert_aad_error(
        refresh(&emu, &adele_cli, None).await,
        400,
        "invalid_grant",
        70000,
    )
    .await;
    let body = tokens(refresh(&emu, &alex, None).await).await;
    assert_eq!(
        payload(body["access_token"].as_str().unwrap())["oid"],
        DEV_SECOND_USER_ID
    );
    // By object id too (any case); signing in again gives working tokens.
    emu.revoke_refresh_tokens(
        &DEV_TENANT_ID.to_uppercase(),
        &DEV_SECOND_USER_ID.to_uppercase(),
    );
    let alex2 = refresh_token(&body);
    assert_aad_error(
        refresh(&emu, &alex2, None).await,
        400,
        "invalid_grant",
        70000,
    )
    .await;
    let fresh = refresh_token(&cli_tokens(&emu, DEV_USER_UPN).await);
    tokens(refresh(&emu, &fresh, None).await).await;
}

#[tokio::test]
async fn a_spa_refresh_token_expires_after_24_hours_700084() {
    let (emu, clock) = clocked().await;
    let a = refresh_token(&spa_tokens(&emu).await);
    let b = refresh_token(&spa_tokens(&emu).await);
    clock.advance(Duration::from_secs(DAY - 1));
    tokens(refresh(&emu, &a, Some(SPA_ORIGIN)).await).await;
    clock.advance(Duration::from_secs(2));
    let resp = refresh(&emu, &b, Some(SPA_ORIGIN)).await;
    assert_aad_error(resp, 400, "invalid_grant", 700084).await;
}

#[tokio::test]
async fn refreshing_does_not_extend_a_spa_refresh_tokens_24_hours() {
    let (emu, clock) = clocked().await;
    let rt1 = refresh_token(&spa_tokens(&emu).await);
    clock.advance(Duration::from_secs(23 * 3600));
    let rt2 = refresh_token(&tokens(refresh(&emu, &rt1, Some(SPA_ORIGIN)).await).await);
    clock.advance(Duration::from_secs(3600 + 1));
    // The rotated token carries the first one's expiry (Entra: a new sign-in every 24 hours).
    let resp = refresh(&emu, &rt2, Some(SPA_ORIGIN)).await;
    assert_aad_error(resp, 400, "invalid_grant", 700084).await;
}

#[tokio::test]
async fn a_public_client_refresh_token_lasts_90_days_then_70008() {
    let (emu, clock) = clocked().await;
    let a = refresh_token(&cli_tokens(&emu, DEV_SECOND_USER_UPN).await);
    let b = refresh_token(&cli_tokens(&emu, DEV_SECOND_USER_UPN).await);
    // Past a SPA's 24 hours: still fine, and the new token gets 90 days of its own.
    clock.advance(Duration::from_secs(DAY + 1));
    let a2 = refresh_token(&tokens(refresh(&emu, &a, None).await).await);
    clock.advance(Duration::from_secs(89 * DAY));
    let resp = refresh(&emu, &b, None).await;
    assert_aad_error(resp, 400, "invalid_grant", 70008).await;
    tokens(refresh(&emu, &a2, None).await).await;
}

#[tokio::test]
async fn a_refresh_token_refused_to_another_client_still_works_for_its_own() {
    let emu = Emulator::start().await.unwrap();
    let rt = refresh_token(&cli_tokens(&emu, DEV_USER_UPN).await);
    assert_refused_to_another_client(&emu, &rt).await;
    // Another client cannot spend (and so revoke) the user's refresh token.
    let next = refresh_token(&tokens(refresh(&emu, &rt, None).await).await);
    tokens(refresh(&emu, &next, None).await).await;
}

#[tokio::test]
async fn a_refresh_may_ask_for_another_consented_resource_and_keeps_rotating() {
    let emu = Emulator::start().await.unwrap();
    let rt = refresh_token(&cli_tokens(&emu, DEV_USER_UPN).await);
    let graph = "https://graph.microsoft.com/User.Read offline_access";
    let body = tokens(refresh_with_scope(&emu, &rt, graph).await).await;
    let at = payload(body["access_token"].as_str().unwrap());
    assert_eq!(at["aud"], GRAPH_RESOURCE);
    assert_eq!(at["scp"], "User.Read");
    assert!(body.get("id_token").is_none(), "no openid asked: {body}");
    // The new token continues the family with the narrowed scope.
    let next = refresh_token(&body);
    let body = tokens(refresh(&emu, &next, None).await).await;
    assert_eq!(
        payload(body["access_token"].as_str().unwrap())["aud"],
        GRAPH_RESOURCE
    );
    let last = refresh_token(&body);
    // The first token is spent; its reuse revokes the family.
    assert_aad_error(refresh(&emu, &rt, None).await, 400, "invalid_grant", 70000).await;
    assert_aad_error(
        refresh(&emu, &last, None).await,
        400,
        "invalid_grant",
        70000,
    )
    .await;
}

/// A single-page app's refresh token is redeemed cross-origin, like its code, and refused
/// otherwise without being spent; a public client's token is refused cross-origin.
#[tokio::test]
async fn refresh_tokens_keep_the_cross_origin_rule_of_their_code() {
    let emu = Emulator::start().await.unwrap();
    let spa = refresh_token(&spa_tokens(&emu).await);
    let same_origin = refresh(&emu, &spa, None).await;
    assert_aad_error(same_origin, 400, "invalid_request", 9002327).await;
    tokens(refresh(&emu, &spa, Some(SPA_ORIGIN)).await).await;

    let cli = refresh_token(&cli_tokens(&emu, DEV_USER_UPN).await);
    let cross_origin = refresh(&emu, &cli, Some(SPA_ORIGIN)).await;
    assert_aad_error(cross_origin, 400, "invalid_request", 9002326).await;
    tokens(refresh(&emu, &cli, None).await).await;
}

/// A refresh always rotates: a `scope` without `offline_access` still gets the next refresh
/// token (the one presented is spent).
#[tokio::test]
async fn a_refresh_without_offline_access_in_scope_still_rotates() {
    let emu = Emulator::start().await.unwrap();
    let rt = refresh_token(&cli_tokens(&emu, DEV_USER_UPN).await);
    let next = tokens(refresh_with_scope(&emu, &rt, &files_read()).await).await;
    let rt2 = refresh_token(&next);
    tokens(refresh(&emu, &rt2, None).await).await;
}

/// At `common` and `organizations`, user grants are for the tenant of what they redeem, as
/// Entra accepts them there; client credentials still need a tenant (50059).
#[tokio::test]
async fn user_grants_are_accepted_at_common_and_organizations() {
    let emu = Emulator::start().await.unwrap();
    let post = |tenant: &'static str, form: Vec<(&'static str, String)>| {
        let url = emu.token_endpoint(tenant, TokenVersion::V2);
        async move { browser().post(url).form(&form).send().await.unwrap() }
    };
    let pkce = pkce();
    let signed = sign_in(&emu, &AuthRequest::cli(&pkce), DEV_USER_UPN).await;
    let code = post(
        "common",
        vec![
            ("grant_type", "authorization_code".into()),
            ("client_id", DEV_SPA_CLIENT_ID.into()),
            ("code", signed.code.clone()),
            ("redirect_uri", CLI_REDIRECT.into()),
            ("code_verifier", pkce.verifier.clone()),
        ],
    )
    .await;
    let body = tokens(code).await;
    let at = payload(body["access_token"].as_str().unwrap());
    assert_eq!(at["tid"], DEV_TENANT_ID);
    let refreshed = post(
        "organizations",
        vec![
            ("grant_type", "refresh_token".into()),
            ("client_id", DEV_SPA_CLIENT_ID.into()),
            ("refresh_token", refresh_token(&body)),
        ],
    )
    .await;
    tokens(refreshed).await;
    let password = post(
        "common",
        vec![
            ("grant_type", "password".into()),
            ("client_id", DEV_SPA_CLIENT_ID.into()),
            ("username", DEV_USER_UPN.into()),
            ("password", DEV_USER_PASSWORD.into()),
            ("scope", files_read()),
        ],
    )
    .await;
    tokens(password).await;
    let unknown = post(
        "common",
        vec![
            ("grant_type", "refresh_token".into()),
            ("client_id", DEV_SPA_CLIENT_ID.into()),
            ("refresh_token", "not-a-token".into()),
        ],
    )
    .await;
    assert_aad_error(unknown, 400, "invalid_grant", 70000).await;
    let app_only = post(
        "common",
        vec![
            ("grant_type", "client_credentials".into()),
            ("client_id", DEV_CLIENT_ID.into()),
            ("client_secret", DEV_CLIENT_SECRET.into()),
            ("scope", format!("api://{DEV_API_CLIENT_ID}/.default")),
        ],
    )
    .await;
    assert_aad_error(app_only, 400, "invalid_request", 50059).await;
}

/// Another client presenting a SPA's refresh token learns nothing about it (not even that it
/// is a SPA's): `invalid_grant`, and the token is not spent.
#[tokio::test]
async fn another_clients_attempt_reveals_nothing_and_spends_nothing() {
    let emu = Emulator::start().await.unwrap();
    let rt = refresh_token(&spa_tokens(&emu).await);
    assert_refused_to_another_client(&emu, &rt).await;
    tokens(refresh(&emu, &rt, Some(SPA_ORIGIN)).await).await;
}

/// A password grant's ID tokens keep one `sid` across refreshes.
#[tokio::test]
async fn a_session_less_grant_keeps_its_sid_across_refreshes() {
    let emu = Emulator::start().await.unwrap();
    let scope = format!("{} openid offline_access", files_read());
    let form = [
        ("grant_type", "password"),
        ("client_id", DEV_SPA_CLIENT_ID),
        ("username", DEV_USER_UPN),
        ("password", DEV_USER_PASSWORD),
        ("scope", scope.as_str()),
    ];
    let first = tokens(token_post(&emu, &form, None).await).await;
    let sid = payload(first["id_token"].as_str().unwrap())["sid"].clone();
    assert!(sid.as_str().is_some_and(|s| !s.is_empty()), "{sid}");
    let next = tokens(refresh(&emu, &refresh_token(&first), None).await).await;
    assert_eq!(payload(next["id_token"].as_str().unwrap())["sid"], sid);
}
