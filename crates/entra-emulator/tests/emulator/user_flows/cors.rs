//! CORS on the token endpoint: the origins of spa redirect URIs, and no other.

use super::*;

async fn preflight(emu: &Emulator, origin: &str) -> reqwest::Response {
    browser()
        .request(
            reqwest::Method::OPTIONS,
            emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V2),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,client-request-id",
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_preflight_from_a_spa_redirect_uris_origin_is_allowed() {
    let emu = Emulator::start().await.unwrap();
    let resp = preflight(&emu, SPA_ORIGIN).await;
    assert!(resp.status().is_success(), "{resp:?}");
    let h = resp.headers();
    assert_eq!(h["access-control-allow-origin"], SPA_ORIGIN);
    let methods = h["access-control-allow-methods"].to_str().unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let headers = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(headers.contains("content-type"), "{headers}");
    assert!(headers.contains("client-request-id"), "{headers}");
}

#[tokio::test]
async fn a_preflight_allows_the_headers_msal_js_sends() {
    let emu = Emulator::start().await.unwrap();
    // A silent refresh for a known account carries its routing hint; telemetry and library
    // headers come along.
    let asked = [
        "x-anchormailbox",
        "x-client-current-telemetry",
        "x-client-last-telemetry",
        "x-client-sku",
        "x-client-ver",
        "x-ms-lib-capability",
        "x-app-name",
        "x-app-ver",
    ];
    let resp = browser()
        .request(
            reqwest::Method::OPTIONS,
            emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V2),
        )
        .header("origin", SPA_ORIGIN)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", asked.join(","))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["access-control-allow-origin"], SPA_ORIGIN);
    let allowed: Vec<String> = resp.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    for h in asked {
        assert!(allowed.iter().any(|a| a == h), "{h} not in {allowed:?}");
    }
}

#[tokio::test]
async fn a_preflight_from_any_other_origin_gets_no_allow_origin() {
    let emu = Emulator::start().await.unwrap();
    // The public client redirect URI's origin, another port, another host.
    for origin in [
        "http://localhost",
        "http://localhost:3001",
        "https://localhost:3000",
        "https://evil.example",
    ] {
        let resp = preflight(&emu, origin).await;
        assert!(
            resp.headers().get("access-control-allow-origin").is_none(),
            "{origin}: {:?}",
            resp.headers()
        );
    }
}

#[tokio::test]
async fn a_spa_registered_at_run_time_is_allowed_too() {
    let emu = Emulator::start().await.unwrap();
    let origin = "https://app.contoso.example";
    assert!(
        preflight(&emu, origin)
            .await
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    emu.register_app(
        DEV_TENANT_ID,
        App::new("5a5a5a5a-1111-4222-8333-444455556666")
            .redirect_uri(Platform::Spa, format!("{origin}/auth/callback")),
    );
    let resp = preflight(&emu, origin).await;
    assert_eq!(resp.headers()["access-control-allow-origin"], origin);
}

#[tokio::test]
async fn token_answers_carry_allow_origin_only_for_the_spa_origin() {
    let emu = Emulator::start().await.unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", DEV_SPA_CLIENT_ID),
        ("code", "1.unknown"),
        ("redirect_uri", SPA_REDIRECT),
    ];
    // An error the SPA must be able to read.
    let resp = token_post(&emu, &form, Some(SPA_ORIGIN)).await;
    assert_eq!(resp.headers()["access-control-allow-origin"], SPA_ORIGIN);
    assert_aad_error(resp, 400, "invalid_grant", 70000).await;
    for origin in [Some("https://evil.example"), None] {
        let resp = token_post(&emu, &form, origin).await;
        assert!(
            resp.headers().get("access-control-allow-origin").is_none(),
            "{origin:?}: {:?}",
            resp.headers()
        );
    }
}
