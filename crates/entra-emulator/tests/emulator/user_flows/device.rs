//! The device code flow (RFC 8628): `/devicecode`, the `/devicelogin` page and the sign-in it
//! leads to, and every answer of the polling token grant. Time moves with a `ManualClock`.

use std::time::Duration;

use entra_core::Clock as _;
use entra_emulator::*;
use serde_json::{Value, json};

use super::*;
use crate::common::*;

const ALPHABET: &str = "BCDFGHJKLMNPQRSTVWXZ23456789";

/// The way a person might type a code: lower case, a dash in the middle.
fn as_typed(user_code: &str) -> String {
    let lower = user_code.to_ascii_lowercase();
    format!("{}-{}", &lower[..4], &lower[4..])
}

fn device_code(start: &Value) -> &str {
    start["device_code"].as_str().unwrap()
}

fn user_code(start: &Value) -> &str {
    start["user_code"].as_str().unwrap()
}

fn advance(clock: &ManualClock, secs: u64) {
    clock.advance(Duration::from_secs(secs));
}

#[tokio::test]
async fn device_code_answer_has_entras_fields() {
    let emu = Emulator::start().await.unwrap();
    let scope = format!("{} openid offline_access", files_read());
    let resp = request_device_code(
        &emu,
        DEV_TENANT_ID,
        &[("client_id", DEV_SPA_CLIENT_ID), ("scope", &scope)],
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    assert!(
        resp.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-store")
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        field_set(&body),
        [
            "device_code",
            "expires_in",
            "interval",
            "message",
            "user_code",
            "verification_uri"
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    );
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["interval"], 5);
    let uri = format!("{}/devicelogin", emu.base_url());
    assert_eq!(body["verification_uri"], uri);
    let code = user_code(&body);
    assert_eq!(code.len(), 9, "{code}");
    assert!(code.chars().all(|c| ALPHABET.contains(c)), "{code}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains(&uri) && message.contains(code),
        "{message}"
    );
    assert!(device_code(&body).len() >= 32);

    let other = start_device(&emu, DEV_SPA_CLIENT_ID, &files_read()).await;
    assert_ne!(other["device_code"], body["device_code"]);
    assert_ne!(other["user_code"], body["user_code"]);
    assert_eq!(emu.request_count(Endpoint::DeviceCode), 2);
}

#[tokio::test]
async fn device_code_request_errors_carry_entras_codes() {
    let emu = Emulator::start().await.unwrap();
    let scope = files_read();
    let no_client = request_device_code(&emu, DEV_TENANT_ID, &[("scope", &scope)]).await;
    assert_aad_error(no_client, 400, "invalid_request", 900144).await;
    let no_scope =
        request_device_code(&emu, DEV_TENANT_ID, &[("client_id", DEV_SPA_CLIENT_ID)]).await;
    assert_aad_error(no_scope, 400, "invalid_request", 900144).await;
    let bad_scope = request_device_code(
        &emu,
        DEV_TENANT_ID,
        &[("client_id", DEV_SPA_CLIENT_ID), ("scope", "Files.Read")],
    )
    .await;
    assert_aad_error(bad_scope, 400, "invalid_scope", 70011).await;
    let unknown = request_device_code(
        &emu,
        DEV_TENANT_ID,
        &[
            ("client_id", "00000000-1111-2222-3333-444444444444"),
            ("scope", &scope),
        ],
    )
    .await;
    assert_aad_error(unknown, 400, "unauthorized_client", 700016).await;
    // What the sign-in could never grant is refused now, not declined after the sign-in.
    let nowhere = request_device_code(
        &emu,
        DEV_TENANT_ID,
        &[
            ("client_id", DEV_SPA_CLIENT_ID),
            ("scope", "api://nowhere/Files.Read"),
        ],
    )
    .await;
    assert_aad_error(nowhere, 400, "invalid_resource", 500011).await;
    let unexposed = format!("api://{DEV_API_CLIENT_ID}/Files.Write");
    let resp = request_device_code(
        &emu,
        DEV_TENANT_ID,
        &[("client_id", DEV_SPA_CLIENT_ID), ("scope", &unexposed)],
    )
    .await;
    assert_aad_error(resp, 400, "invalid_scope", 70011).await;
    // `.default` when the client requests nothing on the API.
    let default = format!("api://{DEV_API_CLIENT_ID}/.default");
    let resp = request_device_code(
        &emu,
        DEV_TENANT_ID,
        &[("client_id", DEV_CLIENT_ID), ("scope", &default)],
    )
    .await;
    assert_aad_error(resp, 400, "invalid_scope", 70011).await;
    let ok = request_device_code(
        &emu,
        DEV_TENANT_ID,
        &[("client_id", DEV_SPA_CLIENT_ID), ("scope", &default)],
    )
    .await;
    assert_eq!(ok.status(), 200);
    let get = http()
        .get(v2_url(&emu, DEV_TENANT_ID, "devicecode"))
        .send()
        .await
        .unwrap();
    assert_aad_error(get, 400, "invalid_request", 900561).await;

    // Under the tenant's domain name and under `organizations` the code belongs to the tenant
    // the app is registered in, and is polled there.
    for tenant in [DEV_TENANT_DOMAIN, "organizations"] {
        let resp = request_device_code(
            &emu,
            tenant,
            &[("client_id", DEV_SPA_CLIENT_ID), ("scope", &scope)],
        )
        .await;
        assert_eq!(resp.status(), 200, "{tenant}");
        let body: Value = resp.json().await.unwrap();
        let pending = poll(&emu, device_code(&body)).await;
        assert_aad_error(pending, 400, "authorization_pending", 70016).await;
    }
}

#[tokio::test]
async fn device_flow_signs_in_on_the_pages_and_the_poll_gets_tokens_once() {
    let (emu, clock) = clocked().await;
    let scope = format!("{} openid offline_access", files_read());
    let start = start_device(&emu, DEV_SPA_CLIENT_ID, &scope).await;
    let code = device_code(&start);

    let first = poll(&emu, code).await;
    assert_aad_error(first, 400, "authorization_pending", 70016).await;

    // The code entry page: a labelled field named otc.
    let entry = Page::of(http().get(device_login_url(&emu)).send().await.unwrap()).await;
    assert_eq!(entry.status, 200);
    assert!(entry.html.contains("<label for=\"otc\">"), "{}", entry.html);
    assert!(
        entry.html.contains("id=\"otc\" name=\"otc\""),
        "{}",
        entry.html
    );
    assert!(entry.html.contains("action=\"/devicelogin\""));

    // Typed in lower case with a dash: the sign-in page, for the tenant, with every user and a
    // password field only for Adele.
    let sign_in_page = enter_code(&emu, &as_typed(user_code(&start))).await;
    assert_eq!(sign_in_page.status, 200, "{}", sign_in_page.html);
    let html = &sign_in_page.html;
    assert!(
        html.contains(&format!("action=\"/{DEV_TENANT_ID}/login\"")),
        "{html}"
    );
    assert!(html.contains("Entra Emulator Dev SPA"), "{html}");
    assert!(html.contains(DEV_USER_UPN) && html.contains(DEV_SECOND_USER_UPN));
    assert_eq!(html.matches("type=\"password\"").count(), 1, "{html}");

    // A wrong password: the page again, with an alert; the device still waits.
    let wrong =
        Page::of(submit_sign_in(&emu, html, DEV_USER_UPN, Some("not-the-password")).await).await;
    assert_eq!(wrong.status, 200);
    assert!(wrong.html.contains("role=\"alert\""), "{}", wrong.html);
    assert!(wrong.cookie.is_none());
    advance(&clock, 5);
    let still = poll(&emu, code).await;
    assert_aad_error(still, 400, "authorization_pending", 70016).await;

    let done =
        Page::of(submit_sign_in(&emu, &wrong.html, DEV_USER_UPN, Some(DEV_USER_PASSWORD)).await)
            .await;
    assert_eq!(done.status, 200);
    assert!(done.html.contains("You have signed in"), "{}", done.html);
    assert!(done.cookie.is_some(), "{done:?}");

    advance(&clock, 5);
    let resp = poll(&emu, code).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], format!("{} offline_access", files_read()));
    assert!(body["refresh_token"].is_string(), "{body}");
    let at = payload(body["access_token"].as_str().unwrap());
    assert_eq!(at["aud"], DEV_API_CLIENT_ID);
    assert_eq!(at["oid"], DEV_USER_ID);
    assert_eq!(at["tid"], DEV_TENANT_ID);
    assert_eq!(at["scp"], "Files.Read");
    assert_eq!(at["azp"], DEV_SPA_CLIENT_ID);
    assert_eq!(at["azpacr"], "0");
    assert_eq!(at["preferred_username"], DEV_USER_UPN);
    // Issued on the emulator's clock, not the system's.
    assert_eq!(at["iat"], json!(clock.unix_seconds()));
    let id = payload(body["id_token"].as_str().unwrap());
    assert_eq!(id["aud"], DEV_SPA_CLIENT_ID);
    assert_eq!(id["oid"], DEV_USER_ID);
    assert!(id["sid"].is_string() && id.get("nonce").is_none(), "{id}");

    // The code is gone once redeemed.
    advance(&clock, 5);
    let again = poll(&emu, code).await;
    assert_aad_error(again, 400, "invalid_grant", 70000).await;
}

#[tokio::test]
async fn device_code_tokens_verify_against_the_key_set() {
    let emu = Emulator::start().await.unwrap();
    let start = start_device(&emu, DEV_SPA_CLIENT_ID, &files_read()).await;
    let page = enter_code(&emu, user_code(&start)).await;
    let done = Page::of(submit_sign_in(&emu, &page.html, DEV_SECOND_USER_UPN, None).await).await;
    assert!(done.html.contains("You have signed in"), "{}", done.html);
    let resp = poll(&emu, device_code(&start)).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(body.get("id_token").is_none() && body.get("refresh_token").is_none());
    let keys = dev_jwks(&emu).await;
    let at = body["access_token"].as_str().unwrap();
    let c = verify_with_jwks(at, &keys, DEV_API_CLIENT_ID, &emu.issuer_v2(DEV_TENANT_ID)).unwrap();
    assert_eq!(c["oid"], DEV_SECOND_USER_ID);
    assert_eq!(c["name"], "Alex Wilber");
}

#[tokio::test]
async fn polling_within_the_interval_is_slow_down() {
    let (emu, clock) = clocked().await;
    let start = start_device(&emu, DEV_SPA_CLIENT_ID, &files_read()).await;
    let code = device_code(&start);
    let first = poll(&emu, code).await;
    assert_aad_error(first, 400, "authorization_pending", 70016).await;
    // At once: too fast, and (RFC 8628 3.5) the interval grows by 5 seconds, to 10.
    let at_once = poll(&emu, code).await;
    assert_aad_error(at_once, 400, "slow_down", 70016).await;
    advance(&clock, 9);
    let fast = poll(&emu, code).await;
    assert_aad_error(fast, 400, "slow_down", 70016).await;
    // Now 15; it counts from the last poll, even a refused one.
    advance(&clock, 14);
    let fast = poll(&emu, code).await;
    assert_aad_error(fast, 400, "slow_down", 70016).await;
    advance(&clock, 20);
    let ok = poll(&emu, code).await;
    assert_aad_error(ok, 400, "authorization_pending", 70016).await;
    advance(&clock, 20);
    let ok = poll(&emu, code).await;
    assert_aad_error(ok, 400, "authorization_pending", 70016).await;
    // The interval is per device code: another one polled at once is only pending.
    let other = start_device(&emu, DEV_SPA_CLIENT_ID, &files_read()).await;
    let first = poll(&emu, device_code(&other)).await;
    assert_aad_error(first, 400, "authorization_pending", 70016).await;
}

#[tokio::test]
async fn an_expired_device_code_is_expired_token_then_unknown() {
    let (emu, clock) = clocked().await;
    let start = start_device(&emu, DEV_SPA_CLIENT_ID, &files_read()).await;
    let code = device_code(&start);
    advance(&clock, 899);
    let last = poll(&emu, code).await;
    assert_aad_error(last, 400, "authorization_pending", 70016).await;
    advance(&clock, 1);
    let expired = poll(&emu, code).await;
    assert_aad_error(expired, 400, "expired_token", 70020).await;
    // Polled again later, too fast or not: still expired.
    let again = poll(&emu, code).await;
    assert_aad_error(again, 400, "expired_token", 70020).await;
    // The user is too late as well.
    let page = enter_code(&emu, user_code(&start)).await;
    assert_eq!(page.status, 400);
    assert!(page.html.contains("role=\"alert\""), "{}", page.html);
    assert!(page.html.contains("name=\"otc\""));
    // Long after, the code is forgotten.
    advance(&clock, 3600);
    let forgotten = poll(&emu, code).await;
    assert_aad_error(forgotten, 400, "invalid_grant", 70000).await;
}

#[tokio::test]
async fn a_user_who_cancels_consent_declines_the_device_code() {
    let (emu, clock) = clocked().await;
    emu.set_auto_consent(DEV_TENANT_ID, false);
    let start = start_device(&emu, DEV_SPA_CLIENT_ID, &files_read()).await;
    let code = device_code(&start);
    let page = enter_code(&emu, user_code(&start)).await;
    let consent = Page::of(submit_sign_in(&emu, &page.html, DEV_SECOND_USER_UPN, None).await).await;
    assert_eq!(consent.status, 200);
    assert!(consent.html.contains("Files.Read"), "{}", consent.html);
    assert!(
        consent.html.contains("value=\"cancel\""),
        "{}",
        consent.html
    );
    // Waiting on the consent page: still pending.
    let pending = poll(&emu, code).await;
    assert_aad_error(pending, 400, "authorization_pending", 70016).await;

    let cancelled = Page::of(submit_consent(&emu, &consent.html, "cancel", None).await).await;
    assert_eq!(cancelled.status, 200);
    assert!(cancelled.html.contains("cancelled"), "{}", cancelled.html);
    advance(&clock, 5);
    let declined = poll(&emu, code).await;
    assert_aad_error(declined, 400, "authorization_declined", 70018).await;
    // A final answer: the code is gone, and cannot be entered again.
    advance(&clock, 5);
    let gone = poll(&emu, code).await;
    assert_aad_error(gone, 400, "invalid_grant", 70000).await;
    let entered = enter_code(&emu, user_code(&start)).await;
    assert_eq!(entered.status, 400);
    // Nothing was consented.
    let missing = files_read_consent_missing(&emu, DEV_SECOND_USER_UPN);
    assert_eq!(missing, ["Files.Read"]);
}

#[tokio::test]
async fn a_user_who_accepts_consent_approves_the_device_code() {
    let emu = Emulator::start().await.unwrap();
    emu.set_auto_consent(DEV_TENANT_ID, false);
    let start = start_device(&emu, DEV_SPA_CLIENT_ID, &files_read()).await;
    let page = enter_code(&emu, user_code(&start)).await;
    let consent = Page::of(submit_sign_in(&emu, &page.html, DEV_SECOND_USER_UPN, None).await).await;
    let accepted = Page::of(submit_consent(&emu, &consent.html, "accept", None).await).await;
    assert!(
        accepted.html.contains("You have signed in"),
        "{}",
        accepted.html
    );
    let resp = poll(&emu, device_code(&start)).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        payload(body["access_token"].as_str().unwrap())["oid"],
        DEV_SECOND_USER_ID
    );
    let missing = files_read_consent_missing(&emu, DEV_SECOND_USER_UPN);
    assert!(missing.is_empty(), "{missing:?}");
}

#[tokio::test]
async fn a_code_is_entered_once() {
    let emu = Emulator::start().await.unwrap();
    let start = start_device(&emu, DEV_SPA_CLIENT_ID, &files_read()).await;
    let page = enter_code(&emu, &format!(" {} ", user_code(&start))).await;
    assert_eq!(page.status, 200, "{}", page.html);
    let done = Page::of(submit_sign_in(&emu, &page.html, DEV_SECOND_USER_UPN, None).await).await;
    assert!(done.html.contains("You have signed in"));
    // Approved: entering the code again leads nowhere, before and after the redemption.
    let twice = enter_code(&emu, &as_typed(user_code(&start))).await;
    assert_eq!(twice.status, 400, "{}", twice.html);
    assert!(twice.html.contains("That code didn"), "{}", twice.html);
    assert!(!twice.html.contains("/login"), "{}", twice.html);
    assert_eq!(poll(&emu, device_code(&start)).await.status(), 200);
    let after = enter_code(&emu, user_code(&start)).await;
    assert_eq!(after.status, 400);

    // Codes that were never issued.
    for typed in ["", "---", "BCDFGHJKL", "not a code"] {
        let wrong = enter_code(&emu, typed).await;
        assert_eq!(wrong.status, 400, "{typed:?}");
        assert!(wrong.html.contains("role=\"alert\""), "{typed:?}");
    }
}

#[tokio::test]
async fn only_the_client_the_code_was_issued_to_redeems_it() {
    let emu = Emulator::start().await.unwrap();
    let start = start_device(&emu, DEV_SPA_CLIENT_ID, &files_read()).await;
    let code = device_code(&start);
    let page = enter_code(&emu, user_code(&start)).await;
    Page::of(submit_sign_in(&emu, &page.html, DEV_SECOND_USER_UPN, None).await).await;
    let other = poll_with(
        &emu,
        code,
        DEV_CLIENT_ID,
        &[("client_secret", DEV_CLIENT_SECRET)],
    )
    .await;
    assert_aad_error(other, 400, "invalid_grant", 70000).await;
    let made_up = poll(&emu, "not-a-device-code").await;
    assert_aad_error(made_up, 400, "invalid_grant", 70000).await;
    let missing = http()
        .post(emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V2))
        .form(&[
            ("grant_type", DEVICE_GRANT),
            ("client_id", DEV_SPA_CLIENT_ID),
        ])
        .send()
        .await
        .unwrap();
    assert_aad_error(missing, 400, "invalid_request", 900144).await;
    // The rightful client still gets its tokens.
    assert_eq!(poll(&emu, code).await.status(), 200);
}

#[tokio::test]
async fn a_confidential_client_authenticates_when_it_polls() {
    let emu = Emulator::start().await.unwrap();
    let start = start_device(&emu, DEV_CLIENT_ID, &files_read()).await;
    let code = device_code(&start);
    let page = enter_code(&emu, user_code(&start)).await;
    Page::of(submit_sign_in(&emu, &page.html, DEV_SECOND_USER_UPN, None).await).await;
    let bare = poll_with(&emu, code, DEV_CLIENT_ID, &[]).await;
    assert_aad_error(bare, 401, "invalid_client", 7000218).await;
    let resp = poll_with(
        &emu,
        code,
        DEV_CLIENT_ID,
        &[("client_secret", DEV_CLIENT_SECRET)],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let at = payload(body["access_token"].as_str().unwrap());
    assert_eq!(at["azp"], DEV_CLIENT_ID);
    assert_eq!(at["azpacr"], "1");
    assert_eq!(at["oid"], DEV_SECOND_USER_ID);
}

#[tokio::test]
async fn auto_sign_in_approves_a_device_code_without_the_sign_in_page() {
    let emu = auto_signing_in(DEV_SECOND_USER_UPN).await;
    // Consent the user could give is given without the page.
    emu.set_auto_consent(DEV_TENANT_ID, false);
    let start = start_device(&emu, DEV_SPA_CLIENT_ID, &files_read()).await;
    let done = enter_code(&emu, user_code(&start)).await;
    assert_eq!(done.status, 200);
    assert!(done.html.contains("You have signed in"), "{}", done.html);
    assert!(done.cookie.is_some(), "{done:?}");
    assert_eq!(emu.request_count(Endpoint::SignIn), 0);
    let resp = poll(&emu, device_code(&start)).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let at = payload(body["access_token"].as_str().unwrap());
    assert_eq!(at["oid"], DEV_SECOND_USER_ID);
    assert_eq!(at["scp"], "Files.Read");
    let missing = files_read_consent_missing(&emu, DEV_SECOND_USER_UPN);
    assert!(missing.is_empty(), "{missing:?}");
}

#[tokio::test]
async fn auto_sign_in_as_a_user_the_tenant_lacks_shows_the_page() {
    let emu = auto_signing_in("nobody@elsewhere.example").await;
    let start = start_device(&emu, DEV_SPA_CLIENT_ID, &files_read()).await;
    let page = enter_code(&emu, user_code(&start)).await;
    assert_eq!(page.status, 200);
    assert!(
        page.html
            .contains(&format!("action=\"/{DEV_TENANT_ID}/login\"")),
        "{}",
        page.html
    );
    let pending = poll(&emu, device_code(&start)).await;
    assert_aad_error(pending, 400, "authorization_pending", 70016).await;
}

#[tokio::test]
async fn device_endpoints_are_counted_and_take_faults() {
    let emu = Emulator::start().await.unwrap();
    let start = start_device(&emu, DEV_SPA_CLIENT_ID, &files_read()).await;
    let entry = http().get(device_login_url(&emu)).send().await.unwrap();
    assert_eq!(entry.status(), 200);
    let page = enter_code(&emu, user_code(&start)).await;

    // A failing sign-in endpoint: the request waits, and the same form works once it recovers.
    emu.set_fault(Endpoint::SignIn, Fault::Status(503));
    let failed = Page::of(submit_sign_in(&emu, &page.html, DEV_SECOND_USER_UPN, None).await).await;
    assert_eq!(failed.status, 503);
    assert_aad_error(
        poll(&emu, device_code(&start)).await,
        400,
        "authorization_pending",
        70016,
    )
    .await;
    emu.clear_fault(Endpoint::SignIn);
    let done = Page::of(submit_sign_in(&emu, &page.html, DEV_SECOND_USER_UPN, None).await).await;
    assert!(done.html.contains("You have signed in"), "{}", done.html);
    assert_eq!(poll(&emu, device_code(&start)).await.status(), 200);

    assert_eq!(emu.request_count(Endpoint::DeviceCode), 1);
    assert_eq!(emu.request_count(Endpoint::DeviceLogin), 2);
    assert_eq!(emu.request_count(Endpoint::SignIn), 2);
    assert_eq!(emu.request_count(Endpoint::Token), 2);
    assert_eq!(emu.request_count(Endpoint::Authorize), 0);

    emu.set_fault(Endpoint::DeviceCode, Fault::Status(503));
    let resp = request_device_code(
        &emu,
        DEV_TENANT_ID,
        &[("client_id", DEV_SPA_CLIENT_ID), ("scope", &files_read())],
    )
    .await;
    assert_eq!(resp.status(), 503);
    // The others still answer.
    assert_eq!(
        http()
            .get(device_login_url(&emu))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    emu.set_fault(Endpoint::DeviceLogin, Fault::Html);
    let portal = http().get(device_login_url(&emu)).send().await.unwrap();
    assert_eq!(portal.status(), 200);
    assert!(!portal.text().await.unwrap().contains("otc"));
    emu.set_fault(Endpoint::DeviceLogin, Fault::DropConnection);
    let dropped = enter_code_raw(&emu, "BCDFGHJKL").await;
    assert!(dropped.is_err());
    assert_eq!(emu.request_count(Endpoint::DeviceCode), 2);
    assert_eq!(emu.request_count(Endpoint::DeviceLogin), 5);
    let logged = emu.request_log();
    let last = logged.last().unwrap();
    assert_eq!(last.endpoint, Some(Endpoint::DeviceLogin));
    assert_eq!(last.status, None);
    assert_eq!(last.fault, Some(Fault::DropConnection));
}

async fn enter_code_raw(emu: &Emulator, otc: &str) -> Result<reqwest::Response, reqwest::Error> {
    browser()
        .post(device_login_url(emu))
        .form(&[("otc", otc)])
        .send()
        .await
}

/// A code entered in two tabs is decided by the first sign-in that finishes: the second gets
/// an error page and does not replace the approval.
#[tokio::test]
async fn a_code_entered_in_two_tabs_is_decided_once() {
    let emu = Emulator::start().await.unwrap();
    let start = start_device(&emu, DEV_SPA_CLIENT_ID, &files_read()).await;
    let first_tab = enter_code(&emu, user_code(&start)).await;
    let second_tab = enter_code(&emu, user_code(&start)).await;
    let done =
        Page::of(submit_sign_in(&emu, &first_tab.html, DEV_SECOND_USER_UPN, None).await).await;
    assert!(done.html.contains("You have signed in"), "{}", done.html);
    let late = Page::of(
        submit_sign_in(
            &emu,
            &second_tab.html,
            DEV_USER_UPN,
            Some(DEV_USER_PASSWORD),
        )
        .await,
    )
    .await;
    assert_eq!(late.status, 400, "{}", late.html);
    assert!(late.html.contains("50196"), "{}", late.html);
    let resp = poll(&emu, device_code(&start)).await;
    let body: Value = resp.json().await.unwrap();
    let at = payload(body["access_token"].as_str().unwrap());
    assert_eq!(at["oid"], DEV_SECOND_USER_ID, "the first sign-in decided");
}
