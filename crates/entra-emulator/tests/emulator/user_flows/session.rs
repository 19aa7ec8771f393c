//! After the sign-in: logout (the session ends, a registered `post_logout_redirect_uri` is
//! honoured), the userinfo endpoint and Graph's `/v1.0/me`, with their errors, counters and
//! faults.

use std::time::Duration;

use entra_emulator::*;
use reqwest::header::WWW_AUTHENTICATE;
use serde_json::Value;

use super::*;
use crate::common::*;

fn logout_url(emu: &Emulator, tenant: &str) -> String {
    v2_url(emu, tenant, "logout")
}

async fn logout(url: &str, cookie: Option<&str>, query: &[(&str, &str)]) -> Page {
    let req = with_cookie(browser().get(with_query(url, query)), cookie);
    Page::of(req.send().await.unwrap()).await
}

/// The session cookie cleared: empty value, `Max-Age=0`, the same path.
fn assert_cookie_cleared(page: &Page) {
    assert_eq!(page.cookie.as_deref(), Some(""), "{:?}", page.set_cookie);
    let set = page
        .set_cookie
        .iter()
        .find(|c| c.starts_with(SESSION_COOKIE))
        .unwrap();
    assert!(set.contains("Max-Age=0") && set.contains("Path=/"), "{set}");
}

fn userinfo_url(emu: &Emulator) -> String {
    format!("{}/oidc/userinfo", emu.base_url())
}

fn me_url(emu: &Emulator) -> String {
    format!("{}/v1.0/me", emu.base_url())
}

/// Adele's Graph token (`User.Read`) and ID token, from the password grant with `openid
/// profile email`.
async fn graph_and_id_token(emu: &Emulator) -> (String, String) {
    let body = password_token(emu, DEV_SPA_CLIENT_ID, "openid profile email", &[]).await;
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["id_token"].as_str().unwrap().to_owned(),
    )
}

/// A Graph token minted by the library for Adele with these scopes.
fn minted_graph_token(emu: &Emulator, scp: &str) -> String {
    emu.token()
        .version(TokenVersion::V1)
        .audience(GRAPH_RESOURCE)
        .client_app(DEV_SPA_CLIENT_ID)
        .user(DEV_USER_UPN)
        .scopes(scp)
        .sign()
}

#[tokio::test]
async fn logout_ends_the_session_and_returns_to_a_registered_uri() {
    let emu = Emulator::start().await.unwrap();
    let cookie = browser_session(&emu).await;
    // With the session, prompt=none signs in silently.
    let silent = authorize_public_client(&emu, Some(&cookie), &[("prompt", "none")]).await;
    assert_eq!(silent.status, 302, "{}", silent.html);
    assert!(silent.redirect_param("code").is_some(), "{silent:?}");

    let state = "s t&a=te/ü";
    let out = logout(
        &logout_url(&emu, DEV_TENANT_ID),
        Some(&cookie),
        &[
            ("post_logout_redirect_uri", "http://localhost:3000/"),
            ("state", state),
        ],
    )
    .await;
    assert_eq!(out.status, 302, "{}", out.html);
    let location = out.location.as_deref().unwrap();
    assert!(
        location.starts_with("http://localhost:3000/?"),
        "{location}"
    );
    assert_eq!(
        out.redirect_params(),
        [("state".to_owned(), state.to_owned())]
    );
    assert_cookie_cleared(&out);

    // The session is over on the server too: the old cookie no longer signs in silently.
    let after = authorize_public_client(
        &emu,
        Some(&cookie),
        &[("prompt", "none"), ("state", "after-logout")],
    )
    .await;
    assert_eq!(after.status, 302, "{}", after.html);
    assert_eq!(
        after.redirect_param("error").as_deref(),
        Some("login_required")
    );
    assert_eq!(
        after.redirect_param("state").as_deref(),
        Some("after-logout")
    );
    assert!(after.redirect_param("code").is_none());
    // Nor without prompt: the sign-in page again.
    let page = authorize_public_client(&emu, Some(&cookie), &[]).await;
    assert_eq!(page.status, 200);
    assert!(page.html.contains("/login\""), "{}", page.html);
}

#[tokio::test]
async fn logout_without_a_registered_uri_shows_a_page() {
    let emu = Emulator::start().await.unwrap();
    let cookie = browser_session(&emu).await;
    for query in [
        vec![],
        vec![("post_logout_redirect_uri", "https://evil.example/")],
        // Registered for sign-in on another port, not this one.
        vec![("post_logout_redirect_uri", "http://localhost:3001/")],
        vec![("state", "only-state")],
    ] {
        let out = logout(&logout_url(&emu, DEV_TENANT_ID), None, &query).await;
        assert_eq!(out.status, 200, "{query:?}");
        assert!(out.location.is_none(), "{query:?}");
        assert!(out.html.contains("signed out"), "{}", out.html);
        assert!(!out.html.contains("evil.example"));
        assert_cookie_cleared(&out);
    }
    // Those logouts carried no cookie: the session lives on.
    let silent = authorize_public_client(&emu, Some(&cookie), &[("prompt", "none")]).await;
    assert!(silent.redirect_param("code").is_some(), "{silent:?}");
    // A page, and the session still ends, when the cookie comes along.
    let out = logout(
        &logout_url(&emu, DEV_TENANT_ID),
        Some(&cookie),
        &[("post_logout_redirect_uri", "https://evil.example/")],
    )
    .await;
    assert_eq!(out.status, 200);
    let after = authorize_public_client(&emu, Some(&cookie), &[("prompt", "none")]).await;
    assert_eq!(
        after.redirect_param("error").as_deref(),
        Some("login_required")
    );
}

#[tokio::test]
async fn logout_answers_at_v1_and_under_other_tenant_names() {
    let emu = Emulator::start().await.unwrap();
    let v1 = format!("{}/{DEV_TENANT_ID}/oauth2/logout", emu.base_url());
    for url in [
        v1,
        logout_url(&emu, DEV_TENANT_DOMAIN),
        logout_url(&emu, "common"),
    ] {
        let cookie = browser_session(&emu).await;
        let out = logout(
            &url,
            Some(&cookie),
            &[("post_logout_redirect_uri", "http://localhost")],
        )
        .await;
        assert_eq!(out.status, 302, "{url}: {}", out.html);
        assert_eq!(out.location.as_deref(), Some("http://localhost"), "{url}");
        assert_cookie_cleared(&out);
        let after = authorize_public_client(&emu, Some(&cookie), &[("prompt", "none")]).await;
        assert_eq!(
            after.redirect_param("error").as_deref(),
            Some("login_required"),
            "{url}"
        );
    }
    // A URI registered only in another tenant is not honoured.
    let other = "0f0f0f0f-0000-4000-8000-00000000000f";
    emu.register_app(
        other,
        App::new("0f0f0f0f-1111-4000-8000-00000000000f")
            .redirect_uri(Platform::Web, "https://other.example/signed-out"),
    );
    let query = [(
        "post_logout_redirect_uri",
        "https://other.example/signed-out",
    )];
    let here = logout(&logout_url(&emu, DEV_TENANT_ID), None, &query).await;
    assert_eq!(here.status, 200);
    let there = logout(&logout_url(&emu, other), None, &query).await;
    assert_eq!(there.status, 302);
}

#[tokio::test]
async fn userinfo_answers_for_a_graph_token() {
    let emu = Emulator::start().await.unwrap();
    let (graph, id) = graph_and_id_token(&emu).await;
    assert_eq!(payload(&graph)["aud"], GRAPH_RESOURCE);
    let resp = get_bearer(&userinfo_url(&emu), Some(&graph)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let info: Value = resp.json().await.unwrap();
    // OpenID Connect: the same `sub` as the ID token.
    assert_eq!(info["sub"], payload(&id)["sub"]);
    assert_eq!(info["name"], "Adele Vance");
    assert_eq!(info["given_name"], "Adele");
    assert_eq!(info["family_name"], "Vance");
    assert_eq!(info["email"], DEV_USER_UPN);

    // POST, and v1's path.
    let post = http()
        .post(userinfo_url(&emu))
        .bearer_auth(&graph)
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 200);
    assert_eq!(post.json::<Value>().await.unwrap(), info);
    let v1 = format!("{}/{DEV_TENANT_ID}/openid/userinfo", emu.base_url());
    let v1 = get_bearer(&v1, Some(&graph)).await;
    assert_eq!(v1.status(), 200);
    assert_eq!(v1.json::<Value>().await.unwrap()["sub"], info["sub"]);

    // A user without mail has no email.
    let upn = "nomail@entraemulator.onmicrosoft.com";
    emu.add_user(DEV_TENANT_ID, User::new(upn).display_name("No Mail"))
        .unwrap();
    let token = emu
        .token()
        .version(TokenVersion::V1)
        .audience(GRAPH_RESOURCE)
        .user(upn)
        .scopes("User.Read")
        .sign();
    let info: Value = get_bearer(&userinfo_url(&emu), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["name"], "No Mail");
    assert!(info.get("email").is_none(), "{info}");
}

#[tokio::test]
async fn userinfo_refuses_anything_but_a_live_graph_token_with_a_challenge() {
    let emu = Emulator::start().await.unwrap();
    let api = password_token(&emu, DEV_SPA_CLIENT_ID, &files_read(), &[]).await;
    let (foreign_key, _) = client_keys();
    let graph = || {
        emu.token()
            .version(TokenVersion::V1)
            .audience(GRAPH_RESOURCE)
            .user(DEV_USER_UPN)
            .scopes("User.Read")
    };
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("not a JWT", Some("abc".to_owned())),
        (
            "for another API",
            Some(api["access_token"].as_str().unwrap().to_owned()),
        ),
        ("expired", Some(graph().expired().sign())),
        ("foreign key", Some(graph().signed_with(foreign_key).sign())),
        (
            "an ID token",
            emu.id_token(DEV_TENANT_ID, DEV_USER_UPN, DEV_SPA_CLIENT_ID, None),
        ),
    ];
    for (what, token) in cases {
        let resp = get_bearer(&userinfo_url(&emu), token.as_deref()).await;
        assert_eq!(resp.status(), 401, "{what}");
        let challenge = resp.headers()[WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.starts_with("Bearer"), "{what}: {challenge}");
    }
    // Another scheme.
    let basic = http()
        .get(userinfo_url(&emu))
        .header("authorization", format!("Basic {}", graph().sign()))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    // A good one passes.
    assert_eq!(
        get_bearer(&userinfo_url(&emu), Some(&graph().sign()))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn graph_me_needs_a_graph_token_with_user_read() {
    let emu = Emulator::start().await.unwrap();
    let (graph, _) = graph_and_id_token(&emu).await;
    let me = get_bearer(&me_url(&emu), Some(&graph)).await;
    assert_eq!(me.status(), 200);
    assert_eq!(me.json::<Value>().await.unwrap()["id"], DEV_USER_ID);

    let api = password_token(&emu, DEV_SPA_CLIENT_ID, &files_read(), &[]).await;
    let unauthenticated: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("garbage", Some("x.y.z".to_owned())),
        (
            "for another API",
            Some(api["access_token"].as_str().unwrap().to_owned()),
        ),
        (
            "expired",
            Some(
                emu.token()
                    .version(TokenVersion::V1)
                    .audience(GRAPH_RESOURCE)
                    .user(DEV_USER_UPN)
                    .scopes("User.Read")
                    .expired()
                    .sign(),
            ),
        ),
    ];
    for (what, token) in unauthenticated {
        let resp = get_bearer(&me_url(&emu), token.as_deref()).await;
        assert_eq!(resp.status(), 401, "{what}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            body["error"]["code"], "InvalidAuthenticationToken",
            "{what}"
        );
        assert!(body["error"]["message"].is_string());
    }
    let no_user_read = minted_graph_token(&emu, "Mail.Read");
    let resp = get_bearer(&me_url(&emu), Some(&no_user_read)).await;
    assert_eq!(resp.status(), 403);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "Authorization_RequestDenied");
    // User.ReadBasic.All is enough, and Graph's App ID as the audience too.
    let basic = minted_graph_token(&emu, "User.ReadBasic.All");
    assert_eq!(get_bearer(&me_url(&emu), Some(&basic)).await.status(), 200);
    let by_id = emu
        .token()
        .version(TokenVersion::V1)
        .audience(GRAPH_APP_ID)
        .user(DEV_SECOND_USER_UPN)
        .scopes("User.Read")
        .sign();
    let me = get_bearer(&me_url(&emu), Some(&by_id)).await;
    assert_eq!(me.status(), 200);
    assert_eq!(me.json::<Value>().await.unwrap()["id"], DEV_SECOND_USER_ID);
}

#[tokio::test]
async fn session_endpoints_are_counted_and_take_faults() {
    let emu = Emulator::start().await.unwrap();
    let cookie = browser_session(&emu).await;
    let (graph, _) = graph_and_id_token(&emu).await;
    assert_eq!(emu.request_count(Endpoint::Authorize), 1);
    assert_eq!(emu.request_count(Endpoint::SignIn), 1);

    // A failing logout endpoint ends nothing.
    emu.set_fault(Endpoint::Logout, Fault::Status(503));
    let out = logout(&logout_url(&emu, DEV_TENANT_ID), Some(&cookie), &[]).await;
    assert_eq!(out.status, 503);
    assert!(out.set_cookie.is_empty(), "{:?}", out.set_cookie);
    let silent = authorize_public_client(&emu, Some(&cookie), &[("prompt", "none")]).await;
    assert!(silent.redirect_param("code").is_some(), "{silent:?}");

    emu.set_fault(Endpoint::Authorize, Fault::Status(503));
    let down = authorize_public_client(&emu, Some(&cookie), &[("prompt", "none")]).await;
    assert_eq!(down.status, 503);
    assert!(down.location.is_none());

    emu.set_fault(Endpoint::UserInfo, Fault::Delay(Duration::from_millis(200)));
    let slow = http()
        .get(userinfo_url(&emu))
        .bearer_auth(&graph)
        .timeout(Duration::from_millis(50))
        .send()
        .await
        .unwrap_err();
    assert!(slow.is_timeout());
    emu.set_fault(Endpoint::Graph, Fault::InvalidJson);
    let broken = get_bearer(&me_url(&emu), Some(&graph)).await;
    assert_eq!(broken.status(), 200);
    assert!(broken.json::<Value>().await.is_err());

    emu.clear_faults();
    assert_eq!(
        get_bearer(&userinfo_url(&emu), Some(&graph)).await.status(),
        200
    );
    let v1 = format!("{}/{DEV_TENANT_ID}/openid/userinfo", emu.base_url());
    assert_eq!(get_bearer(&v1, Some(&graph)).await.status(), 200);
    assert_eq!(get_bearer(&me_url(&emu), Some(&graph)).await.status(), 200);
    let out = logout(&logout_url(&emu, DEV_TENANT_ID), Some(&cookie), &[]).await;
    assert_eq!(out.status, 200);

    assert_eq!(emu.request_count(Endpoint::Logout), 2);
    assert_eq!(emu.request_count(Endpoint::Authorize), 3);
    assert_eq!(emu.request_count(Endpoint::UserInfo), 3);
    assert_eq!(emu.request_count(Endpoint::Graph), 2);
    assert_eq!(emu.request_count(Endpoint::SignIn), 1);
    assert_eq!(emu.request_count(Endpoint::DeviceCode), 0);
}

#[tokio::test]
async fn discovery_advertises_the_user_flow_endpoints_it_serves() {
    let emu = Emulator::start().await.unwrap();
    let doc = get_json(&emu.discovery_url(DEV_TENANT_ID, TokenVersion::V2)).await;
    let device = doc["device_authorization_endpoint"].as_str().unwrap();
    let resp = http()
        .post(device)
        .form(&[("client_id", DEV_SPA_CLIENT_ID), ("scope", &files_read())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let logout = doc["end_session_endpoint"].as_str().unwrap();
    assert_eq!(get(logout).await.status(), 200);
    let (graph, _) = graph_and_id_token(&emu).await;
    let userinfo = doc["userinfo_endpoint"].as_str().unwrap();
    assert_eq!(get_bearer(userinfo, Some(&graph)).await.status(), 200);
    assert_eq!(emu.request_count(Endpoint::DeviceCode), 1);
    assert_eq!(emu.request_count(Endpoint::Logout), 1);
    assert_eq!(emu.request_count(Endpoint::UserInfo), 1);
}

#[tokio::test]
async fn bearer_tokens_live_by_the_emulators_clock() {
    let (emu, clock) = clocked().await;
    let (graph, _) = graph_and_id_token(&emu).await;
    let claims = payload(&graph);
    let (nbf, exp) = (
        claims["nbf"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    let at = |unix: i64| {
        clock.set(std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).unwrap()));
    };
    // Valid until `exp`, and from five minutes before `nbf` (clock skew).
    for (when, status) in [
        (exp - 1, 200),
        (exp, 401),
        (nbf - 300, 200),
        (nbf - 301, 401),
    ] {
        at(when);
        let info = get_bearer(&userinfo_url(&emu), Some(&graph)).await;
        assert_eq!(info.status(), status, "userinfo at {}", when - nbf);
        let me = get_bearer(&me_url(&emu), Some(&graph)).await;
        assert_eq!(me.status(), status, "me at {}", when - nbf);
    }
}

#[tokio::test]
async fn graph_me_refuses_an_app_only_token_as_graph_does() {
    let emu = Emulator::start().await.unwrap();
    let resp = http()
        .post(emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V2))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_CLIENT_ID),
            ("client_secret", DEV_CLIENT_SECRET),
            ("scope", &format!("{GRAPH_RESOURCE}/.default")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let app_only = body["access_token"].as_str().unwrap();
    assert_eq!(payload(app_only)["aud"], GRAPH_RESOURCE);
    let me = get_bearer(&me_url(&emu), Some(app_only)).await;
    assert_eq!(me.status(), 400);
    let body: Value = me.json().await.unwrap();
    assert_eq!(body["error"]["code"], "BadRequest");
    assert_eq!(
        body["error"]["message"],
        "/me request is only valid with delegated authentication flow."
    );
    // userinfo has no user to describe either.
    let info = get_bearer(&userinfo_url(&emu), Some(app_only)).await;
    assert_eq!(info.status(), 401);
}

#[tokio::test]
async fn a_device_sign_in_for_openid_profile_reaches_graph() {
    let emu = Emulator::start().await.unwrap();
    let start = start_device(&emu, DEV_SPA_CLIENT_ID, "openid profile").await;
    let page = enter_code(&emu, start["user_code"].as_str().unwrap()).await;
    let done = Page::of(submit_sign_in(&emu, &page.html, DEV_SECOND_USER_UPN, None).await).await;
    assert!(done.html.contains("You have signed in"), "{}", done.html);
    let resp = poll(&emu, start["device_code"].as_str().unwrap()).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["scope"], format!("{GRAPH_RESOURCE}/User.Read"));
    let graph = body["access_token"].as_str().unwrap();
    let me: Value = get_bearer(&me_url(&emu), Some(graph))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["userPrincipalName"], DEV_SECOND_USER_UPN);
    let info: Value = get_bearer(&userinfo_url(&emu), Some(graph))
        .await
        .json()
        .await
        .unwrap();
    let id = payload(body["id_token"].as_str().unwrap());
    assert_eq!(info["sub"], id["sub"]);
    assert_eq!(info["name"], "Alex Wilber");
}

#[tokio::test]
async fn logout_by_post_reads_the_form() {
    let emu = Emulator::start().await.unwrap();
    let cookie = browser_session(&emu).await;
    let resp = with_cookie(
        browser().post(logout_url(&emu, DEV_TENANT_ID)),
        Some(&cookie),
    )
    .form(&[
        ("post_logout_redirect_uri", "http://localhost:3000/"),
        ("state", "posted"),
    ])
    .send()
    .await
    .unwrap();
    let out = Page::of(resp).await;
    assert_eq!(out.status, 302, "{}", out.html);
    assert_eq!(
        out.location.as_deref(),
        Some("http://localhost:3000/?state=posted")
    );
    assert_cookie_cleared(&out);
    let after = authorize_public_client(&emu, Some(&cookie), &[("prompt", "none")]).await;
    assert_eq!(
        after.redirect_param("error").as_deref(),
        Some("login_required")
    );
}

#[tokio::test]
async fn a_browser_app_may_call_me_and_userinfo_cross_origin() {
    let emu = Emulator::start().await.unwrap();
    let (graph, _) = graph_and_id_token(&emu).await;
    let origin = "http://localhost:3000";
    for (url, method) in [(me_url(&emu), "GET"), (userinfo_url(&emu), "GET")] {
        let preflight = http()
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "authorization")
            .send()
            .await
            .unwrap();
        assert!(
            preflight.status().is_success(),
            "{url}: {}",
            preflight.status()
        );
        let h = preflight.headers();
        assert_eq!(h["access-control-allow-origin"], "*", "{url}");
        let allowed = h["access-control-allow-headers"].to_str().unwrap();
        assert!(
            allowed.to_ascii_lowercase().contains("authorization"),
            "{url}: {allowed}"
        );
        let methods = h["access-control-allow-methods"].to_str().unwrap();
        assert!(methods.contains(method), "{url}: {methods}");

        let resp = http()
            .get(&url)
            .header("origin", origin)
            .bearer_auth(&graph)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{url}");
        let allow: Vec<_> = resp
            .headers()
            .get_all("access-control-allow-origin")
            .iter()
            .collect();
        assert_eq!(allow, ["*"], "{url}");
        // A refusal is readable by the page too.
        let refused = http()
            .get(&url)
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401, "{url}");
        assert_eq!(
            refused.headers()["access-control-allow-origin"],
            "*",
            "{url}"
        );
        let exposed = refused.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        assert!(exposed.contains("www-authenticate"), "{url}: {exposed}");
    }
}

#[tokio::test]
async fn a_graph_token_signed_by_a_retired_key_is_refused() {
    let emu = Emulator::start().await.unwrap();
    let (graph, _) = graph_and_id_token(&emu).await;
    let old = header(&graph)["kid"].as_str().unwrap().to_owned();
    assert_eq!(get_bearer(&me_url(&emu), Some(&graph)).await.status(), 200);
    let new = emu.add_key();
    emu.set_active_key(new.kid());
    // Rolled over but still published: still good.
    assert_eq!(get_bearer(&me_url(&emu), Some(&graph)).await.status(), 200);
    emu.retire_key(&old);
    assert_eq!(get_bearer(&me_url(&emu), Some(&graph)).await.status(), 401);
    assert_eq!(
        get_bearer(&userinfo_url(&emu), Some(&graph)).await.status(),
        401
    );
    // A fresh token, by the new key.
    let (fresh, _) = graph_and_id_token(&emu).await;
    assert_eq!(header(&fresh)["kid"], new.kid());
    assert_eq!(get_bearer(&me_url(&emu), Some(&fresh)).await.status(), 200);
}
