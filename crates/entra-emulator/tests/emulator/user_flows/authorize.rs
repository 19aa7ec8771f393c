//! The authorize endpoint, the sign-in and consent pages and the session cookie.

use super::*;

#[tokio::test]
async fn an_unknown_client_is_shown_on_a_page_700016() {
    let emu = Emulator::start().await.unwrap();
    let unknown = "0badc0de-0000-4000-8000-000000000000";
    let resp = AuthRequest::spa(&pkce())
        .set("client_id", unknown)
        .send(&emu, None)
        .await;
    let page = assert_error_page(resp, 400, 700016).await;
    assert!(page.contains(unknown), "{page}");
}

#[tokio::test]
async fn a_redirect_uri_that_is_not_registered_exactly_is_shown_on_a_page_50011() {
    let emu = Emulator::start().await.unwrap();
    // Another path, 127.0.0.1 for localhost, another host, https. (`http://localhost:3000`
    // without the slash would be the public client's `http://localhost` on port 3000.)
    for uri in [
        "http://localhost:3000/callback",
        "http://127.0.0.1:3000/",
        "http://evil.example/",
        "https://localhost:3000/",
    ] {
        let resp = AuthRequest::spa(&pkce())
            .set("redirect_uri", uri)
            .send(&emu, None)
            .await;
        let page = assert_error_page(resp, 400, 50011).await;
        assert!(page.contains(uri), "{uri}: {page}");
    }
    // The loopback port is free only for the public client's `http://localhost`.
    let ok = AuthRequest::cli(&pkce()).send(&emu, None).await;
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn spa_and_public_client_redirect_uris_require_pkce_9002325() {
    let emu = Emulator::start().await.unwrap();
    for redirect in [SPA_REDIRECT, CLI_REDIRECT] {
        let resp = AuthRequest::new(DEV_SPA_CLIENT_ID, redirect, &full_scope())
            .set("state", "keep me")
            .send(&emu, None)
            .await;
        assert_redirected_error(&resp, redirect, "invalid_request", 9002325, Some("keep me"));
    }
    // `plain` counts as PKCE.
    let resp = AuthRequest::new(DEV_SPA_CLIENT_ID, SPA_REDIRECT, &full_scope())
        .set(
            "code_challenge",
            "plain-challenge-plain-challenge-plain-challenge-0",
        )
        .set("code_challenge_method", "plain")
        .send(&emu, None)
        .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn the_sign_in_page_lists_every_user_with_a_password_field_only_for_those_with_one() {
    let emu = Emulator::start().await.unwrap();
    let resp = AuthRequest::spa(&pkce()).send(&emu, None).await;
    assert!(set_session_cookie(&resp).is_none());
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let page = html(resp, 200).await;
    assert_eq!(
        input_values(&page, "user"),
        [DEV_USER_UPN, DEV_SECOND_USER_UPN]
    );
    assert_eq!(form_action(&page), format!("/{DEV_TENANT_ID}/login"));
    // One form per user, each carrying the same flow id; one password field (Adele's).
    let flows = input_values(&page, "flow");
    assert_eq!(flows.len(), 2);
    assert_eq!(flows[0], flows[1]);
    assert_eq!(page.matches("type=\"password\"").count(), 1, "{page}");
    assert!(page.contains("Password for Adele Vance"), "{page}");
    assert!(page.contains("Entra Emulator Dev SPA"), "{page}");
}

#[tokio::test]
async fn signing_in_sets_an_http_only_same_site_lax_session_cookie_and_redirects_with_the_code() {
    let emu = Emulator::start().await.unwrap();
    let request = AuthRequest::spa(&pkce()).set("state", "a b&c=d/é");
    let page = html(request.send(&emu, None).await, 200).await;
    let resp = submit_sign_in(&emu, &page, DEV_USER_UPN, Some(DEV_USER_PASSWORD)).await;
    let set_cookie: Vec<&str> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(set_cookie.len(), 1, "{set_cookie:?}");
    let attrs: Vec<&str> = set_cookie[0].split(';').map(str::trim).collect();
    assert!(
        attrs[0].starts_with(&format!("{SESSION_COOKIE}=")),
        "{attrs:?}"
    );
    assert!(attrs.contains(&"HttpOnly"), "{attrs:?}");
    assert!(attrs.contains(&"SameSite=Lax"), "{attrs:?}");
    assert!(attrs.contains(&"Path=/"), "{attrs:?}");
    assert!(!attrs.contains(&"Secure"), "plain HTTP: {attrs:?}");
    let p = redirected_query(&resp, SPA_REDIRECT);
    assert!(p["code"].len() > 20, "{p:?}");
    assert_eq!(p["state"], "a b&c=d/é");
    assert!(uuid::Uuid::parse_str(&p["session_state"]).is_ok(), "{p:?}");
}

#[tokio::test]
async fn the_sign_in_page_works_as_a_post_to_the_authorize_endpoint_too() {
    let emu = Emulator::start().await.unwrap();
    let pkce = pkce();
    let request = AuthRequest::spa(&pkce);
    let url = format!("{}/{DEV_TENANT_ID}/oauth2/v2.0/authorize", emu.base_url());
    let resp = browser()
        .post(url)
        .form(&request.params)
        .send()
        .await
        .unwrap();
    let page = html(resp, 200).await;
    let resp = submit_sign_in(&emu, &page, DEV_SECOND_USER_UPN, None).await;
    let p = redirected_query(&resp, SPA_REDIRECT);
    assert_eq!(p["state"], "st-1");
    assert!(p.contains_key("code"));
}

#[tokio::test]
async fn a_wrong_password_shows_the_page_again_with_an_alert_and_no_code() {
    let emu = Emulator::start().await.unwrap();
    let page = html(AuthRequest::spa(&pkce()).send(&emu, None).await, 200).await;
    assert!(!page.contains("role=\"alert\""), "{page}");
    for wrong in [Some("not-the-password"), None] {
        let page_before = html(AuthRequest::spa(&pkce()).send(&emu, None).await, 200).await;
        let resp = submit_sign_in(&emu, &page_before, DEV_USER_UPN, wrong).await;
        assert!(set_session_cookie(&resp).is_none());
        let again = html(resp, 200).await;
        assert!(again.contains("role=\"alert\""), "{again}");
        assert!(again.contains("password is incorrect"), "{again}");
        assert!(!again.contains("code="), "{again}");
        // The new page signs in with the right password.
        let resp = submit_sign_in(&emu, &again, DEV_USER_UPN, Some(DEV_USER_PASSWORD)).await;
        assert!(set_session_cookie(&resp).is_some());
        assert!(redirected_query(&resp, SPA_REDIRECT).contains_key("code"));
    }
    // A user the tenant does not have: the page again, with an alert.
    let page_before = html(AuthRequest::spa(&pkce()).send(&emu, None).await, 200).await;
    let flow = input_value(&page_before, "flow");
    let resp = browser()
        .post(format!("{}{}", emu.base_url(), form_action(&page_before)))
        .form(&[("flow", flow.as_str()), ("user", "mallory@evil.example")])
        .send()
        .await
        .unwrap();
    assert!(set_session_cookie(&resp).is_none());
    let again = html(resp, 200).await;
    assert!(again.contains("not in the tenant"), "{again}");
    // A page answered once cannot be answered again (the request is forgotten).
    let first = submit_sign_in(&emu, &page, DEV_SECOND_USER_UPN, None).await;
    assert_eq!(first.status(), 302);
    let replay = submit_sign_in(&emu, &page, DEV_SECOND_USER_UPN, None).await;
    assert!(set_session_cookie(&replay).is_none());
    assert_error_page(replay, 400, 50196).await;
}

#[tokio::test]
async fn login_hint_lists_that_user_first() {
    let emu = Emulator::start().await.unwrap();
    let page = html(
        AuthRequest::spa(&pkce())
            .set("login_hint", &DEV_SECOND_USER_UPN.to_uppercase())
            .send(&emu, None)
            .await,
        200,
    )
    .await;
    assert_eq!(
        input_values(&page, "user"),
        [DEV_SECOND_USER_UPN, DEV_USER_UPN]
    );
    // The first user's control has the focus.
    let autofocus = page.find("autofocus").unwrap();
    let adele = page.find(&format!("value=\"{DEV_USER_UPN}\"")).unwrap();
    assert!(autofocus < adele, "{page}");
    // Without a hint, the tenant's order.
    let page = html(AuthRequest::spa(&pkce()).send(&emu, None).await, 200).await;
    assert_eq!(
        input_values(&page, "user"),
        [DEV_USER_UPN, DEV_SECOND_USER_UPN]
    );
}

#[tokio::test]
async fn with_a_session_a_second_request_gets_a_code_without_the_page() {
    let emu = Emulator::start().await.unwrap();
    let signed = sign_in(&emu, &AuthRequest::spa(&pkce()), DEV_SECOND_USER_UPN).await;
    let resp = AuthRequest::spa(&pkce())
        .set("state", "second")
        .send(&emu, Some(&signed.cookie))
        .await;
    assert!(set_session_cookie(&resp).is_none());
    let p = redirected_query(&resp, SPA_REDIRECT);
    assert_eq!(p["state"], "second");
    assert_eq!(p["session_state"], signed.session_state, "same session");
    assert_ne!(p["code"], signed.code);
    // An unknown cookie is no session.
    let resp = AuthRequest::spa(&pkce())
        .send(&emu, Some("not-a-session"))
        .await;
    html(resp, 200).await;
}

#[tokio::test]
async fn prompt_none_without_a_session_is_login_required_50058() {
    let emu = Emulator::start().await.unwrap();
    let resp = AuthRequest::spa(&pkce())
        .set("prompt", "none")
        .send(&emu, None)
        .await;
    assert_redirected_error(&resp, SPA_REDIRECT, "login_required", 50058, Some("st-1"));
    // A session of another tenant does not count.
    let other = "11111111-0000-4000-8000-000000000001";
    emu.add_tenant(other);
    emu.set_auto_consent(other, true);
    emu.add_user(other, User::new("u@other.example").display_name("U"))
        .unwrap();
    emu.register_app(
        other,
        App::new(DEV_SPA_CLIENT_ID)
            .redirect_uri(Platform::Spa, SPA_REDIRECT)
            .requests("https://graph.microsoft.com", ["User.Read"]),
    );
    let other_signed = sign_in(
        &emu,
        &AuthRequest::spa(&pkce())
            .tenant(other)
            .set("scope", "openid profile"),
        "u@other.example",
    )
    .await;
    let resp = AuthRequest::spa(&pkce())
        .set("prompt", "none")
        .send(&emu, Some(&other_signed.cookie))
        .await;
    assert_redirected_error(&resp, SPA_REDIRECT, "login_required", 50058, Some("st-1"));
}

#[tokio::test]
async fn prompt_none_with_a_session_answers_with_a_code() {
    let emu = Emulator::start().await.unwrap();
    let signed = sign_in(&emu, &AuthRequest::spa(&pkce()), DEV_USER_UPN).await;
    let pkce = pkce();
    let resp = AuthRequest::spa(&pkce)
        .set("prompt", "none")
        .send(&emu, Some(&signed.cookie))
        .await;
    let p = redirected_query(&resp, SPA_REDIRECT);
    assert_eq!(p["session_state"], signed.session_state);
    let body = tokens(redeem_spa(&emu, &p["code"], &pkce).await).await;
    assert_eq!(
        payload(body["access_token"].as_str().unwrap())["oid"],
        DEV_USER_ID
    );
}

#[tokio::test]
async fn prompt_none_with_consent_missing_is_consent_required_65001() {
    let emu = Emulator::start().await.unwrap();
    emu.set_auto_consent(DEV_TENANT_ID, false);
    let page = html(AuthRequest::spa(&pkce()).send(&emu, None).await, 200).await;
    let resp = submit_sign_in(&emu, &page, DEV_SECOND_USER_UPN, None).await;
    // Signed in, on the consent page, which the user leaves unanswered.
    let cookie = set_session_cookie(&resp).expect("session");
    html(resp, 200).await;
    let resp = AuthRequest::spa(&pkce())
        .set("prompt", "none")
        .send(&emu, Some(&cookie))
        .await;
    assert_redirected_error(&resp, SPA_REDIRECT, "consent_required", 65001, Some("st-1"));
}

#[tokio::test]
async fn prompt_login_and_select_account_show_the_page_despite_a_session() {
    let emu = Emulator::start().await.unwrap();
    let signed = sign_in(&emu, &AuthRequest::spa(&pkce()), DEV_SECOND_USER_UPN).await;
    for prompt in ["login", "select_account"] {
        let resp = AuthRequest::spa(&pkce())
            .set("prompt", prompt)
            .send(&emu, Some(&signed.cookie))
            .await;
        let page = html(resp, 200).await;
        // The signed-in user comes first.
        assert_eq!(
            input_values(&page, "user"),
            [DEV_SECOND_USER_UPN, DEV_USER_UPN],
            "{prompt}"
        );
        // Signing in as someone else on it starts a new session.
        let resp = submit_sign_in(&emu, &page, DEV_USER_UPN, Some(DEV_USER_PASSWORD)).await;
        let cookie = set_session_cookie(&resp).expect("a new session");
        assert_ne!(cookie, signed.cookie);
        let p = redirected_query(&resp, SPA_REDIRECT);
        assert_ne!(p["session_state"], signed.session_state);
    }
    let resp = AuthRequest::spa(&pkce())
        .set("prompt", "sometimes")
        .send(&emu, Some(&signed.cookie))
        .await;
    assert_redirected_error(&resp, SPA_REDIRECT, "invalid_request", 90023, Some("st-1"));
}

#[tokio::test]
async fn the_consent_page_accepted_records_consent_and_the_next_sign_in_skips_it() {
    let emu = Emulator::start().await.unwrap();
    emu.set_auto_consent(DEV_TENANT_ID, false);
    let ask = ["Files.Read"];
    let missing = |emu: &Emulator| files_read_consent_missing(emu, DEV_USER_UPN);
    assert_eq!(missing(&emu), ask);
    let page = html(AuthRequest::spa(&pkce()).send(&emu, None).await, 200).await;
    let resp = submit_sign_in(&emu, &page, DEV_USER_UPN, Some(DEV_USER_PASSWORD)).await;
    let cookie = set_session_cookie(&resp).expect("session");
    let consent = html(resp, 200).await;
    assert!(consent.contains("Files.Read"), "{consent}");
    assert!(consent.contains("Entra Emulator Dev SPA"), "{consent}");
    assert!(consent.contains("Entra Emulator Dev API"), "{consent}");
    assert_eq!(form_action(&consent), format!("/{DEV_TENANT_ID}/consent"));
    let resp = submit_consent(&emu, &consent, "accept", Some(&cookie)).await;
    let p = redirected_query(&resp, SPA_REDIRECT);
    assert!(p.contains_key("code") && p["state"] == "st-1", "{p:?}");
    assert!(missing(&emu).is_empty());
    // The consent page cannot be answered twice.
    let again = submit_consent(&emu, &consent, "accept", Some(&cookie)).await;
    assert_error_page(again, 400, 50196).await;

    // With the session: straight to the code.
    let resp = AuthRequest::spa(&pkce()).send(&emu, Some(&cookie)).await;
    assert!(redirected_query(&resp, SPA_REDIRECT).contains_key("code"));
    // In a new browser: the sign-in page, then the code, no consent page.
    let signed = sign_in(&emu, &AuthRequest::spa(&pkce()), DEV_USER_UPN).await;
    assert_ne!(signed.cookie, cookie);
    // prompt=consent shows the page again.
    let resp = AuthRequest::spa(&pkce())
        .set("prompt", "consent")
        .send(&emu, Some(&cookie))
        .await;
    let consent = html(resp, 200).await;
    assert!(consent.contains("name=\"decision\""), "{consent}");
    let resp = submit_consent(&emu, &consent, "accept", Some(&cookie)).await;
    assert!(redirected_query(&resp, SPA_REDIRECT).contains_key("code"));
}

#[tokio::test]
async fn the_consent_page_cancelled_is_access_denied_65004() {
    let emu = Emulator::start().await.unwrap();
    emu.set_auto_consent(DEV_TENANT_ID, false);
    let request = AuthRequest::spa(&pkce()).set("state", "cancelled");
    let page = html(request.send(&emu, None).await, 200).await;
    let resp = submit_sign_in(&emu, &page, DEV_SECOND_USER_UPN, None).await;
    let consent = html(resp, 200).await;
    let resp = submit_consent(&emu, &consent, "cancel", None).await;
    assert_redirected_error(
        &resp,
        SPA_REDIRECT,
        "access_denied",
        65004,
        Some("cancelled"),
    );
    let missing = files_read_consent_missing(&emu, DEV_SECOND_USER_UPN);
    assert_eq!(missing, ["Files.Read"]);
}

#[tokio::test]
async fn response_mode_fragment_puts_the_answer_in_the_fragment() {
    let emu = Emulator::start().await.unwrap();
    let pkce = pkce();
    let request = AuthRequest::spa(&pkce).set("response_mode", "fragment");
    let page = html(request.send(&emu, None).await, 200).await;
    let resp = submit_sign_in(&emu, &page, DEV_SECOND_USER_UPN, None).await;
    let p = redirected_fragment(&resp, SPA_REDIRECT);
    assert_eq!(p["state"], "st-1");
    tokens(redeem_spa(&emu, &p["code"], &pkce).await).await;
    // Errors too.
    let resp = request.clone().set("prompt", "none").send(&emu, None).await;
    let p = redirected_fragment(&resp, SPA_REDIRECT);
    assert_eq!(p["error"], "login_required");
}

#[tokio::test]
async fn response_mode_form_post_answers_with_a_form_to_the_redirect_uri() {
    let emu = Emulator::start().await.unwrap();
    let pkce = pkce();
    let request = AuthRequest::spa(&pkce)
        .set("response_mode", "form_post")
        .set("state", "<\"quoted\" & 'odd'>");
    let page = html(request.send(&emu, None).await, 200).await;
    let resp = submit_sign_in(&emu, &page, DEV_SECOND_USER_UPN, None).await;
    assert!(set_session_cookie(&resp).is_some());
    let answer = html(resp, 200).await;
    assert_eq!(form_action(&answer), SPA_REDIRECT);
    assert!(answer.contains("method=\"post\""), "{answer}");
    assert_eq!(input_value(&answer, "state"), "<\"quoted\" & 'odd'>");
    assert!(input_value(&answer, "session_state").len() >= 36);
    let code = input_value(&answer, "code");
    tokens(redeem_spa(&emu, &code, &pkce).await).await;
}

#[tokio::test]
async fn auto_sign_in_redirects_with_a_code_without_any_page() {
    let emu = auto_signing_in(DEV_SECOND_USER_UPN).await;
    emu.set_auto_consent(DEV_TENANT_ID, false);
    let pkce = pkce();
    let resp = AuthRequest::spa(&pkce).send(&emu, None).await;
    let cookie = set_session_cookie(&resp).expect("a session for the auto user");
    let p = redirected_query(&resp, SPA_REDIRECT);
    let body = tokens(redeem_spa(&emu, &p["code"], &pkce).await).await;
    let at = payload(body["access_token"].as_str().unwrap());
    assert_eq!(at["oid"], DEV_SECOND_USER_ID);
    assert_eq!(at["scp"], "Files.Read");
    // prompt=none works with the session it started, and without one (headless silent
    // sign-in), but never for a login_hint naming someone else.
    let resp = AuthRequest::spa(&pkce)
        .set("prompt", "none")
        .send(&emu, Some(&cookie))
        .await;
    assert!(redirected_query(&resp, SPA_REDIRECT).contains_key("code"));
    let resp = AuthRequest::spa(&pkce)
        .set("prompt", "none")
        .send(&emu, None)
        .await;
    assert!(redirected_query(&resp, SPA_REDIRECT).contains_key("code"));
    let resp = AuthRequest::spa(&pkce)
        .set("prompt", "none")
        .set("login_hint", DEV_USER_UPN)
        .send(&emu, None)
        .await;
    assert_redirected_error(&resp, SPA_REDIRECT, "login_required", 50058, Some("st-1"));
    let page = AuthRequest::spa(&pkce)
        .set("login_hint", DEV_USER_UPN)
        .send(&emu, None)
        .await;
    assert_eq!(page.status(), 200, "the page, for the hinted user");
}

#[tokio::test]
async fn other_request_errors_go_back_to_the_redirect_uri() {
    let emu = Emulator::start().await.unwrap();
    let cases = [
        (
            "response_type",
            Some("token"),
            "unsupported_response_type",
            700054,
        ),
        (
            "code_challenge_method",
            Some("S512"),
            "invalid_request",
            50146,
        ),
        (
            "scope",
            Some("api://a/One api://b/Two"),
            "invalid_scope",
            70011,
        ),
        ("scope", None, "invalid_request", 900144),
        ("response_type", None, "invalid_request", 900144),
    ];
    for (name, value, error, code) in cases {
        let request = AuthRequest::spa(&pkce());
        let request = match value {
            Some(v) => request.set(name, v),
            None => request.remove(name),
        };
        let resp = request.send(&emu, None).await;
        assert_redirected_error(&resp, SPA_REDIRECT, error, code, Some("st-1"));
    }
    // Without `client_id` or `redirect_uri` there is nowhere to send it: a page.
    for name in ["client_id", "redirect_uri"] {
        let resp = AuthRequest::spa(&pkce())
            .remove(name)
            .send(&emu, None)
            .await;
        assert_error_page(resp, 400, 900144).await;
    }
}

#[tokio::test]
async fn common_organizations_and_the_domain_name_sign_in_to_the_apps_tenant() {
    let emu = Emulator::start().await.unwrap();
    for tenant in ["common", "organizations", DEV_TENANT_DOMAIN] {
        let pkce = pkce();
        let request = AuthRequest::cli(&pkce).tenant(tenant);
        let page = html(request.send(&emu, None).await, 200).await;
        assert_eq!(form_action(&page), format!("/{DEV_TENANT_ID}/login"));
        let resp = submit_sign_in(&emu, &page, DEV_SECOND_USER_UPN, None).await;
        let code = redirected_query(&resp, CLI_REDIRECT)["code"].clone();
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", DEV_SPA_CLIENT_ID),
            ("code", code.as_str()),
            ("redirect_uri", CLI_REDIRECT),
            ("code_verifier", pkce.verifier.as_str()),
        ];
        let resp = browser()
            .post(emu.token_endpoint(DEV_TENANT_DOMAIN, TokenVersion::V2))
            .form(&form)
            .send()
            .await
            .unwrap();
        let body = tokens(resp).await;
        let at = payload(body["access_token"].as_str().unwrap());
        assert_eq!(at["tid"], DEV_TENANT_ID, "{tenant}");
    }
}

#[tokio::test]
async fn the_printed_sign_in_url_completes_with_its_public_verifier() {
    let emu = Emulator::start().await.unwrap();
    let url = emu.sign_in_url(DEV_TENANT_ID, DEV_SPA_CLIENT_ID, SPA_REDIRECT);
    let page = html(browser().get(url).send().await.unwrap(), 200).await;
    let resp = submit_sign_in(&emu, &page, DEV_USER_UPN, Some(DEV_USER_PASSWORD)).await;
    let p = redirected_query(&resp, SPA_REDIRECT);
    assert_eq!(p["state"], "emulator");
    let body = tokens(
        redeem(
            &emu,
            DEV_SPA_CLIENT_ID,
            &p["code"],
            SPA_REDIRECT,
            Some(Emulator::SIGN_IN_URL_VERIFIER),
            Some(SPA_ORIGIN),
        )
        .await,
    )
    .await;
    assert_eq!(
        payload(body["access_token"].as_str().unwrap())["scp"],
        "Files.Read"
    );
    assert!(body["id_token"].is_string() && body["refresh_token"].is_string());
}

/// A tenant whose API has an admin-consent-only scope the SPA asks for, and `User.Read`
/// consented for everyone.
async fn admin_scope_tenant() -> (Emulator, String) {
    let emu = Emulator::builder()
        .without_dev_tenant()
        .start()
        .await
        .unwrap();
    let tid = "22222222-0000-4000-8000-000000000002";
    emu.add_tenant(tid);
    emu.register_app(
        tid,
        App::new("a0a0a0a0-0000-4000-8000-00000000000a")
            .display_name("Admin API")
            .app_id_uri("api://admin-api")
            .scope(DelegatedScope::new("Everything.ReadWrite").admin_consent_only()),
    );
    emu.register_app(
        tid,
        App::new(DEV_SPA_CLIENT_ID)
            .redirect_uri(Platform::Spa, SPA_REDIRECT)
            .requests("api://admin-api", ["Everything.ReadWrite"]),
    );
    emu.grant_admin_consent(tid, DEV_SPA_CLIENT_ID, GRAPH_RESOURCE, &["User.Read"]);
    emu.add_user(tid, User::new("ann@admin.example").display_name("Ann"))
        .unwrap();
    (emu, tid.to_owned())
}

#[tokio::test]
async fn admin_only_scopes_not_consented_are_shown_on_a_page_90094() {
    let (emu, tid) = admin_scope_tenant().await;
    let request = AuthRequest::spa(&pkce())
        .tenant(&tid)
        .set("scope", "api://admin-api/Everything.ReadWrite openid");
    let page = html(request.send(&emu, None).await, 200).await;
    let resp = submit_sign_in(&emu, &page, "ann@admin.example", None).await;
    assert!(set_session_cookie(&resp).is_some());
    assert_error_page(resp, 400, 90094).await;
    // Once an admin consented, the same request gets a code.
    emu.grant_admin_consent(
        tid.as_str(),
        DEV_SPA_CLIENT_ID,
        "api://admin-api",
        &["Everything.ReadWrite"],
    );
    sign_in(&emu, &request, "ann@admin.example").await;
}

#[tokio::test]
async fn prompt_none_never_shows_a_page_not_even_for_admin_consent() {
    let (emu, tid) = admin_scope_tenant().await;
    let graph = AuthRequest::spa(&pkce())
        .tenant(&tid)
        .set("scope", "openid profile");
    let signed = sign_in(&emu, &graph, "ann@admin.example").await;
    let resp = AuthRequest::spa(&pkce())
        .tenant(&tid)
        .set("scope", "api://admin-api/Everything.ReadWrite openid")
        .set("prompt", "none")
        .send(&emu, Some(&signed.cookie))
        .await;
    assert_redirected_error(&resp, SPA_REDIRECT, "consent_required", 65001, Some("st-1"));
}

#[tokio::test]
async fn a_session_lasts_24_hours() {
    let (emu, clock) = clocked().await;
    let signed = sign_in(&emu, &AuthRequest::spa(&pkce()), DEV_SECOND_USER_UPN).await;
    let silent = AuthRequest::spa(&pkce()).set("prompt", "none");
    clock.advance(std::time::Duration::from_secs(24 * 3600 - 1));
    let resp = silent.send(&emu, Some(&signed.cookie)).await;
    assert!(redirected_query(&resp, SPA_REDIRECT).contains_key("code"));
    clock.advance(std::time::Duration::from_secs(1));
    let resp = silent.send(&emu, Some(&signed.cookie)).await;
    assert_redirected_error(&resp, SPA_REDIRECT, "login_required", 50058, Some("st-1"));
}

#[tokio::test]
async fn a_sign_in_page_answered_after_30_minutes_is_50196() {
    let (emu, clock) = clocked().await;
    let late = html(AuthRequest::spa(&pkce()).send(&emu, None).await, 200).await;
    clock.advance(std::time::Duration::from_secs(1799));
    let in_time = html(AuthRequest::spa(&pkce()).send(&emu, None).await, 200).await;
    clock.advance(std::time::Duration::from_secs(1));
    let resp = submit_sign_in(&emu, &late, DEV_SECOND_USER_UPN, None).await;
    assert!(set_session_cookie(&resp).is_none());
    assert_error_page(resp, 400, 50196).await;
    let resp = submit_sign_in(&emu, &in_time, DEV_SECOND_USER_UPN, None).await;
    assert!(redirected_query(&resp, SPA_REDIRECT).contains_key("code"));
}

#[tokio::test]
async fn a_login_hint_for_someone_else_than_the_signed_in_user_does_not_sign_in_silently() {
    let emu = Emulator::start().await.unwrap();
    let signed = sign_in(&emu, &AuthRequest::spa(&pkce()), DEV_SECOND_USER_UPN).await;
    // The hint names the signed-in user (any case, by UPN or object id): silent.
    for hint in [
        DEV_SECOND_USER_UPN.to_uppercase(),
        DEV_SECOND_USER_ID.to_owned(),
    ] {
        let resp = AuthRequest::spa(&pkce())
            .set("prompt", "none")
            .set("login_hint", &hint)
            .send(&emu, Some(&signed.cookie))
            .await;
        let p = redirected_query(&resp, SPA_REDIRECT);
        assert_eq!(p["session_state"], signed.session_state, "{hint}");
    }
    // Someone else: prompt=none cannot sign them in, and without it the page asks.
    let resp = AuthRequest::spa(&pkce())
        .set("prompt", "none")
        .set("login_hint", DEV_USER_UPN)
        .send(&emu, Some(&signed.cookie))
        .await;
    assert_redirected_error(&resp, SPA_REDIRECT, "login_required", 50058, Some("st-1"));
    let resp = AuthRequest::spa(&pkce())
        .set("login_hint", DEV_USER_UPN)
        .send(&emu, Some(&signed.cookie))
        .await;
    let page = html(resp, 200).await;
    assert_eq!(
        input_values(&page, "user"),
        [DEV_USER_UPN, DEV_SECOND_USER_UPN]
    );
}

#[tokio::test]
async fn over_https_the_session_cookie_is_secure() {
    let emu = Emulator::builder().tls(true).start().await.unwrap();
    assert!(emu.base_url().starts_with("https://"));
    let pem = emu.ca_certificate_pem().unwrap();
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let request = AuthRequest::spa(&pkce());
    let page = html(client.get(request.url(&emu)).send().await.unwrap(), 200).await;
    let flow = input_value(&page, "flow");
    let resp = client
        .post(format!("{}{}", emu.base_url(), form_action(&page)))
        .form(&[("flow", flow.as_str()), ("user", DEV_SECOND_USER_UPN)])
        .send()
        .await
        .unwrap();
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    let attrs: Vec<&str> = cookie.split(';').map(str::trim).collect();
    assert!(attrs.contains(&"Secure"), "{attrs:?}");
    assert!(
        attrs.contains(&"HttpOnly") && attrs.contains(&"SameSite=Lax"),
        "{attrs:?}"
    );
    assert!(redirected_query(&resp, SPA_REDIRECT).contains_key("code"));
}

/// A redirect URI whose authority hides another host behind the loopback name (`userinfo@`)
/// is not the registered loopback URI: the code must never be sent to `evil.example`.
#[tokio::test]
async fn a_loopback_lookalike_redirect_uri_is_refused_on_a_page() {
    let emu = Emulator::start().await.unwrap();
    let pkce = pkce();
    for lookalike in [
        "http://localhost:1@evil.example/",
        "http://localhost:@evil.example",
        "http://localhost.evil.example/",
    ] {
        let resp = AuthRequest::cli(&pkce)
            .set("redirect_uri", lookalike)
            .set("prompt", "none")
            .send(&emu, None)
            .await;
        assert!(resp.headers().get("location").is_none(), "{lookalike}");
        assert_error_page(resp, 400, 50011).await;
    }
}

/// What an authorization request leaves in the emulator stays small: an oversized parameter
/// is refused before anything is kept.
#[tokio::test]
async fn an_oversized_parameter_is_refused_on_a_page() {
    let emu = Emulator::start().await.unwrap();
    let long = "x".repeat(9 * 1024);
    let resp = AuthRequest::spa(&pkce())
        .set("state", &long)
        .send(&emu, None)
        .await;
    assert_error_page(resp, 400, 90015).await;
}

/// RFC 7636: a challenge is 43 to 128 unreserved characters.
#[tokio::test]
async fn a_malformed_code_challenge_is_refused() {
    let emu = Emulator::start().await.unwrap();
    for challenge in ["short", &"a".repeat(129), &format!("{}!", "a".repeat(43))] {
        let resp = AuthRequest::spa(&pkce())
            .set("code_challenge", challenge)
            .send(&emu, None)
            .await;
        assert_redirected_error(&resp, SPA_REDIRECT, "invalid_request", 501491, Some("st-1"));
    }
}

/// A device code whose scopes only an admin may consent to ends declined, so its client stops
/// polling, instead of waiting for 15 minutes.
#[tokio::test]
async fn a_device_sign_in_that_needs_an_admin_declines_the_device_code() {
    let (emu, tid) = admin_scope_tenant().await;
    let start: Value = browser()
        .post(format!("{}/{tid}/oauth2/v2.0/devicecode", emu.base_url()))
        .form(&[
            ("client_id", DEV_SPA_CLIENT_ID),
            ("scope", "api://admin-api/Everything.ReadWrite"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entry = browser()
        .post(format!("{}/devicelogin", emu.base_url()))
        .form(&[("otc", start["user_code"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    let page = html(entry, 200).await;
    let resp = submit_sign_in(&emu, &page, "ann@admin.example", None).await;
    assert_error_page(resp, 400, 90094).await;
    let poll = browser()
        .post(emu.token_endpoint(&tid, TokenVersion::V2))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", DEV_SPA_CLIENT_ID),
            ("device_code", start["device_code"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_aad_error(poll, 400, "authorization_declined", 70018).await;
}

/// The sign-in page's answer counts only at the tenant it was shown for.
#[tokio::test]
async fn a_sign_in_answer_posted_to_another_tenant_is_refused() {
    let emu = Emulator::start().await.unwrap();
    emu.add_tenant("33333333-0000-4000-8000-000000000003");
    let page = html(AuthRequest::spa(&pkce()).send(&emu, None).await, 200).await;
    let flow = input_value(&page, "flow");
    let resp = browser()
        .post(format!(
            "{}/33333333-0000-4000-8000-000000000003/login",
            emu.base_url()
        ))
        .form(&[("flow", flow.as_str()), ("user", DEV_SECOND_USER_UPN)])
        .send()
        .await
        .unwrap();
    assert_error_page(resp, 400, 50196).await;
}

/// Revoking a user's refresh tokens ends their browser sessions too.
#[tokio::test]
async fn revoking_a_user_ends_their_sessions() {
    let emu = Emulator::start().await.unwrap();
    let pkce = pkce();
    let signed = sign_in(&emu, &AuthRequest::spa(&pkce), DEV_USER_UPN).await;
    emu.revoke_refresh_tokens(DEV_TENANT_ID, DEV_USER_UPN);
    let resp = AuthRequest::spa(&pkce)
        .set("prompt", "none")
        .send(&emu, Some(&signed.cookie))
        .await;
    assert_redirected_error(&resp, SPA_REDIRECT, "login_required", 50058, Some("st-1"));
}
