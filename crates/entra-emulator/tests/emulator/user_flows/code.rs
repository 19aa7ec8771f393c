//! The authorization code grant: tokens as Entra issues them, and every way a redemption is
//! refused.

use super::*;

/// Signs `upn` in with `request` and redeems the code at the dev SPA with `redirect_uri`,
/// `verifier` and `origin`.
async fn sign_in_and_redeem(
    emu: &Emulator,
    request: &AuthRequest,
    upn: &str,
    redirect_uri: &str,
    verifier: Option<&str>,
    origin: Option<&str>,
) -> reqwest::Response {
    let signed = sign_in(emu, request, upn).await;
    redeem(
        emu,
        DEV_SPA_CLIENT_ID,
        &signed.code,
        redirect_uri,
        verifier,
        origin,
    )
    .await
}

#[tokio::test]
async fn a_spa_code_with_pkce_s256_redeemed_cross_origin_gives_verified_tokens() {
    let emu = Emulator::start().await.unwrap();
    let pkce = pkce();
    let request = AuthRequest::spa(&pkce).set("nonce", "n-0S6_WzA2Mj");
    let signed = sign_in(&emu, &request, DEV_USER_UPN).await;
    assert_eq!(signed.state.as_deref(), Some("st-1"));
    let resp = redeem_spa(&emu, &signed.code, &pkce).await;
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        SPA_ORIGIN,
        "the SPA can read the answer"
    );
    let body = tokens(resp).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], format!("{} offline_access", files_read()));
    assert!(body["expires_in"].as_i64().unwrap() >= 3600);
    assert!(body["refresh_token"].is_string(), "{body}");

    let (c, i) = verified_spa_tokens(&emu, &body).await;
    assert_eq!(c["aud"], DEV_API_CLIENT_ID);
    assert_eq!(c["scp"], "Files.Read");
    assert_eq!(c["oid"], DEV_USER_ID);
    assert_eq!(c["azp"], DEV_SPA_CLIENT_ID);
    assert_eq!(c["azpacr"], "0");
    assert_eq!(c["preferred_username"], DEV_USER_UPN);
    assert_eq!(c["tid"], DEV_TENANT_ID);

    assert_eq!(i["aud"], DEV_SPA_CLIENT_ID);
    assert_eq!(i["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(i["sid"], signed.session_state.as_str());
    assert_eq!(i["oid"], DEV_USER_ID);
    assert_eq!(i["sub"], c["sub"], "pairwise per client, the same in both");
    assert_eq!(i["name"], "Adele Vance");
}

#[tokio::test]
async fn a_public_client_code_on_any_loopback_port_gives_tokens_without_an_origin() {
    let emu = Emulator::start().await.unwrap();
    for port_uri in [CLI_REDIRECT, "http://localhost:51234"] {
        let pkce = pkce();
        let request = AuthRequest::new(DEV_SPA_CLIENT_ID, port_uri, &full_scope())
            .pkce(&pkce)
            .set("nonce", port_uri);
        let signed = sign_in(&emu, &request, DEV_SECOND_USER_UPN).await;
        let resp = redeem(
            &emu,
            DEV_SPA_CLIENT_ID,
            &signed.code,
            port_uri,
            Some(&pkce.verifier),
            None,
        )
        .await;
        let body = tokens(resp).await;
        let (c, i) = verified_spa_tokens(&emu, &body).await;
        assert_eq!(c["scp"], "Files.Read");
        assert_eq!(c["oid"], DEV_SECOND_USER_ID);
        assert_eq!(i["nonce"], port_uri);
        assert_eq!(i["sid"], signed.session_state.as_str());
        assert!(body["refresh_token"].is_string());
    }
}

#[tokio::test]
async fn a_plain_pkce_challenge_is_answered_by_the_same_verifier() {
    let emu = Emulator::start().await.unwrap();
    let verifier = "plain-verifier-plain-verifier-plain-verifier-0123";
    let request = AuthRequest::new(DEV_SPA_CLIENT_ID, CLI_REDIRECT, &full_scope())
        .set("code_challenge", verifier)
        .set("code_challenge_method", "plain");
    let ok = sign_in_and_redeem(
        &emu,
        &request,
        DEV_SECOND_USER_UPN,
        CLI_REDIRECT,
        Some(verifier),
        None,
    )
    .await;
    tokens(ok).await;
}

#[tokio::test]
async fn a_code_is_single_use_54005() {
    let emu = Emulator::start().await.unwrap();
    let pkce = pkce();
    let signed = sign_in(&emu, &AuthRequest::cli(&pkce), DEV_USER_UPN).await;
    let redeem_once = || redeem_cli(&emu, &signed.code, &pkce);
    tokens(redeem_once().await).await;
    assert_aad_error(redeem_once().await, 400, "invalid_grant", 54005).await;
    assert_aad_error(redeem_once().await, 400, "invalid_grant", 54005).await;
}

#[tokio::test]
async fn an_unknown_code_is_invalid_grant_70000() {
    let emu = Emulator::start().await.unwrap();
    let resp = redeem(
        &emu,
        DEV_SPA_CLIENT_ID,
        "1.not-a-code",
        CLI_REDIRECT,
        Some("v"),
        None,
    )
    .await;
    assert_aad_error(resp, 400, "invalid_grant", 70000).await;
}

#[tokio::test]
async fn a_wrong_or_missing_pkce_verifier_is_501481_and_spends_the_code() {
    let emu = Emulator::start().await.unwrap();
    for wrong in [
        Some("another-verifier-another-verifier-another-verifier"),
        None,
    ] {
        let pkce = pkce();
        let signed = sign_in(&emu, &AuthRequest::cli(&pkce), DEV_SECOND_USER_UPN).await;
        let resp = redeem(
            &emu,
            DEV_SPA_CLIENT_ID,
            &signed.code,
            CLI_REDIRECT,
            wrong,
            None,
        )
        .await;
        assert_aad_error(resp, 400, "invalid_grant", 501481).await;
        // The code cannot be tried again, not even with the right verifier.
        let resp = redeem_cli(&emu, &signed.code, &pkce).await;
        assert_aad_error(resp, 400, "invalid_grant", 54005).await;
    }
    // The S256 challenge is not answered by the challenge itself.
    let pkce = pkce();
    let resp = sign_in_and_redeem(
        &emu,
        &AuthRequest::cli(&pkce),
        DEV_SECOND_USER_UPN,
        CLI_REDIRECT,
        Some(&pkce.challenge),
        None,
    )
    .await;
    assert_aad_error(resp, 400, "invalid_grant", 501481).await;
}

#[tokio::test]
async fn a_redirect_uri_other_than_the_codes_is_500117() {
    let emu = Emulator::start().await.unwrap();
    let pkce = pkce();
    // Another loopback port is another redirect URI for the code.
    let resp = sign_in_and_redeem(
        &emu,
        &AuthRequest::cli(&pkce),
        DEV_SECOND_USER_UPN,
        "http://localhost:8401",
        Some(&pkce.verifier),
        None,
    )
    .await;
    assert_aad_error(resp, 400, "invalid_grant", 500117).await;
}

#[tokio::test]
async fn a_code_redeemed_by_another_client_is_70000() {
    let emu = Emulator::start().await.unwrap();
    let pkce = pkce();
    let signed = sign_in(&emu, &AuthRequest::cli(&pkce), DEV_USER_UPN).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", DEV_CLIENT_ID),
        ("client_secret", DEV_CLIENT_SECRET),
        ("code", signed.code.as_str()),
        ("redirect_uri", CLI_REDIRECT),
        ("code_verifier", pkce.verifier.as_str()),
    ];
    let resp = token_post(&emu, &form, None).await;
    let body = assert_aad_error(resp, 400, "invalid_grant", 70000).await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("another client"),
        "{body}"
    );
}

#[tokio::test]
async fn a_spa_code_without_an_origin_is_9002327() {
    let emu = Emulator::start().await.unwrap();
    let pkce = pkce();
    let resp = sign_in_and_redeem(
        &emu,
        &AuthRequest::spa(&pkce),
        DEV_USER_UPN,
        SPA_REDIRECT,
        Some(&pkce.verifier),
        None,
    )
    .await;
    assert_aad_error(resp, 400, "invalid_request", 9002327).await;
}

#[tokio::test]
async fn a_public_client_code_with_an_origin_is_9002326() {
    let emu = Emulator::start().await.unwrap();
    let pkce = pkce();
    let resp = sign_in_and_redeem(
        &emu,
        &AuthRequest::cli(&pkce),
        DEV_USER_UPN,
        CLI_REDIRECT,
        Some(&pkce.verifier),
        Some("http://localhost:8400"),
    )
    .await;
    assert_aad_error(resp, 400, "invalid_request", 9002326).await;
}

#[tokio::test]
async fn a_code_expires_after_600_seconds_70008() {
    let (emu, clock) = clocked().await;
    let pkce = pkce();
    let request = AuthRequest::cli(&pkce);
    let signed = sign_in(&emu, &request, DEV_SECOND_USER_UPN).await;
    // Just in time.
    clock.advance(std::time::Duration::from_secs(599));
    let resp = redeem_cli(&emu, &signed.code, &pkce).await;
    tokens(resp).await;
    // Too late (the session lasts longer than the code).
    let code = code_with_session(&emu, &request, &signed.cookie).await;
    clock.advance(std::time::Duration::from_secs(601));
    let resp = redeem_cli(&emu, &code, &pkce).await;
    assert_aad_error(resp, 400, "invalid_grant", 70008).await;
}

#[tokio::test]
async fn a_web_app_redeems_its_code_with_its_secret_and_needs_no_pkce() {
    let emu = Emulator::start().await.unwrap();
    let web = "d0d0d0d0-1111-4222-8333-444455556666";
    let redirect = "https://webapp.contoso.example/signin-oidc";
    emu.register_app(
        DEV_TENANT_ID,
        App::new(web)
            .display_name("Web app")
            .secret(ClientSecret::new("web-secret"))
            .redirect_uri(Platform::Web, redirect)
            .requests(DEV_API_CLIENT_ID, ["Files.Read"]),
    );
    let request = AuthRequest::new(web, redirect, &full_scope());
    let signed = sign_in(&emu, &request, DEV_USER_UPN).await;
    // Without its secret: refused, and the code is not spent by that.
    let resp = redeem(&emu, web, &signed.code, redirect, None, None).await;
    assert_aad_error(resp, 401, "invalid_client", 7000218).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", web),
        ("client_secret", "web-secret"),
        ("code", signed.code.as_str()),
        ("redirect_uri", redirect),
    ];
    let body = tokens(token_post(&emu, &form, None).await).await;
    let at = payload(body["access_token"].as_str().unwrap());
    assert_eq!(at["azp"], web);
    assert_eq!(at["azpacr"], "1");
    assert_eq!(at["scp"], "Files.Read");
    // A web app's code may not be redeemed from a browser.
    let signed = sign_in(&emu, &request, DEV_USER_UPN).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", web),
        ("client_secret", "web-secret"),
        ("code", signed.code.as_str()),
        ("redirect_uri", redirect),
    ];
    let resp = token_post(&emu, &form, Some("https://webapp.contoso.example")).await;
    assert_aad_error(resp, 400, "invalid_request", 9002326).await;
}

#[tokio::test]
async fn client_info_is_answered_when_asked_as_msal_does() {
    let emu = Emulator::start().await.unwrap();
    let pkce = pkce();
    let signed = sign_in(&emu, &AuthRequest::spa(&pkce), DEV_USER_UPN).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", DEV_SPA_CLIENT_ID),
        ("code", signed.code.as_str()),
        ("redirect_uri", SPA_REDIRECT),
        ("code_verifier", pkce.verifier.as_str()),
        ("client_info", "1"),
    ];
    let body = tokens(token_post(&emu, &form, Some(SPA_ORIGIN)).await).await;
    let info: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(body["client_info"].as_str().expect("client_info"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(info["uid"], DEV_USER_ID);
    assert_eq!(info["utid"], DEV_TENANT_ID);
    // Not asked: not sent.
    let pkce2 = super::pkce();
    let code = code_with_session(&emu, &AuthRequest::spa(&pkce2), &signed.cookie).await;
    let body = tokens(
        redeem(
            &emu,
            DEV_SPA_CLIENT_ID,
            &code,
            SPA_REDIRECT,
            Some(&pkce2.verifier),
            Some(SPA_ORIGIN),
        )
        .await,
    )
    .await;
    assert!(body.get("client_info").is_none(), "{body}");
}

/// A verifier for a code that was issued without a challenge is a downgrade attempt (RFC 9700
/// 2.1.1): refused.
#[tokio::test]
async fn a_verifier_for_a_code_without_a_challenge_is_refused() {
    let emu = Emulator::start().await.unwrap();
    let web = "d0d0d0d0-1111-4222-8333-444455556667";
    let redirect = "https://webapp.contoso.example/signin-oidc";
    emu.register_app(
        DEV_TENANT_ID,
        App::new(web)
            .secret(ClientSecret::new("web-secret"))
            .redirect_uri(Platform::Web, redirect)
            .requests(DEV_API_CLIENT_ID, ["Files.Read"]),
    );
    let signed = sign_in(
        &emu,
        &AuthRequest::new(web, redirect, &full_scope()),
        DEV_USER_UPN,
    )
    .await;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", web),
        ("client_secret", "web-secret"),
        ("code", signed.code.as_str()),
        ("redirect_uri", redirect),
        (
            "code_verifier",
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        ),
    ];
    let resp = token_post(&emu, &form, None).await;
    assert_aad_error(resp, 400, "invalid_grant", 501481).await;
}
