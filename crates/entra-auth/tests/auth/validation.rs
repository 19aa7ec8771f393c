//! Accept and reject paths of the layer, over real HTTP against the emulator.

use crate::common;

use common::{assert_invalid, dev_config, serve, setup};
use entra_auth::{EntraAuthLayer, InvalidToken, TokenVersions};
use entra_emulator::{
    DEV_API_CLIENT_ID, DEV_CLIENT_ID, DEV_SPA_CLIENT_ID, DEV_TENANT_ID, DEV_USER_ID, DEV_USER_UPN,
    SigningKey, TokenVersion,
};
use serde_json::json;

#[tokio::test]
async fn valid_v2_app_token_reaches_the_handler_with_claims() {
    let (emu, api) = setup().await;
    let token = emu.token().sign();
    let r = api.get("/me", Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["ver"], "2.0");
    assert_eq!(r.body["tid"], DEV_TENANT_ID);
    assert_eq!(r.body["app_id"], DEV_CLIENT_ID);
    let roles = r.body["roles"].as_array().unwrap();
    assert!(roles.contains(&json!("Api.Admin")));
}

#[tokio::test]
async fn valid_v1_token_with_app_id_uri_audience() {
    let (emu, api) = setup().await;
    let token = emu.token().version(TokenVersion::V1).sign();
    let r = api.get("/me", Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["ver"], "1.0");
    assert_eq!(r.body["app_id"], DEV_CLIENT_ID);
}

#[tokio::test]
async fn token_from_the_token_endpoint_is_accepted() {
    let (emu, api) = setup().await;
    let res: serde_json::Value = api
        .http
        .post(emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V2))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_CLIENT_ID),
            ("client_secret", entra_emulator::DEV_CLIENT_SECRET),
            ("scope", &format!("api://{DEV_API_CLIENT_ID}/.default")),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = res["access_token"].as_str().expect("access token");
    let r = api.get("/admin", Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn delegated_token_with_scope() {
    let (emu, api) = setup().await;
    let token = emu
        .token()
        .delegated("user-oid-1", "Ada Lovelace", "ada@contoso.example")
        .scopes("Files.Read User.Read")
        .sign();
    let r = api.get("/files", Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "Ada Lovelace");
    assert_eq!(r.body["scp"], json!(["Files.Read", "User.Read"]));
    let r = api.get("/admin", Some(&token)).await;
    assert_eq!(r.status, 403);
}

/// A user's delegated token, obtained from the emulator's token endpoint with the password
/// grant through the development SPA, passes the layer and `Require::any_scope(["Files.Read"])`.
#[tokio::test]
async fn a_users_token_from_the_password_grant_reaches_files() {
    let (emu, api) = setup().await;
    let form = [
        ("grant_type", "password"),
        ("client_id", entra_emulator::DEV_SPA_CLIENT_ID),
        ("username", entra_emulator::DEV_USER_UPN),
        ("password", entra_emulator::DEV_USER_PASSWORD),
        (
            "scope",
            &format!("api://{DEV_API_CLIENT_ID}/Files.Read openid"),
        ),
    ];
    let url = emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V2);
    let answer: serde_json::Value = reqwest::Client::new()
        .post(url)
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = answer["access_token"].as_str().expect("an access token");
    let r = api.get("/files", Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["scp"], json!(["Files.Read"]));
    assert_eq!(r.body["oid"], entra_emulator::DEV_USER_ID);
    assert_eq!(r.body["app_id"], entra_emulator::DEV_SPA_CLIENT_ID);
    assert_eq!(api.get("/admin", Some(token)).await.status, 403);
}

#[tokio::test]
async fn missing_token_gets_a_bare_challenge() {
    let (_emu, api) = setup().await;
    let r = api.get("/me", None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.www_authenticate.as_deref(), Some("Bearer"));
}

#[tokio::test]
async fn realm_is_included_when_configured() {
    let emu = entra_emulator::Emulator::start().await.unwrap();
    let clock = entra_auth::ManualClock::starting_now();
    let cfg = dev_config(&emu, &clock)
        .realm("contoso-api")
        .build()
        .unwrap();
    let api = serve(EntraAuthLayer::new(cfg), clock).await;
    let r = api.get("/me", None).await;
    assert_eq!(
        r.www_authenticate.as_deref(),
        Some("Bearer realm=\"contoso-api\"")
    );
}

#[tokio::test]
async fn rejects_bad_tokens_with_401_invalid_token() {
    let (emu, api) = setup().await;
    let stranger = SigningKey::generate().unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        ("expired", emu.token().expired().sign(), "expired"),
        (
            "not yet valid",
            emu.token().not_yet_valid().sign(),
            "not valid yet",
        ),
        (
            "wrong key, same kid",
            emu.token()
                .signed_with(&stranger)
                .kid(emu.active_key().kid())
                .sign(),
            "signature",
        ),
        (
            "unregistered key (answered like a bad signature)",
            emu.token().signed_with(&stranger).sign(),
            "signature is invalid",
        ),
        (
            "graph nonce",
            emu.token().graph_nonce().sign(),
            "Microsoft Graph",
        ),
        ("no aud", emu.token().remove_claim("aud").sign(), "no aud"),
        ("no exp", emu.token().remove_claim("exp").sign(), "no exp"),
        ("no nbf", emu.token().remove_claim("nbf").sign(), "no nbf"),
        ("no iss", emu.token().remove_claim("iss").sign(), "no iss"),
        ("no tid", emu.token().remove_claim("tid").sign(), "no tid"),
        (
            "wrong audience",
            emu.token().audience("api://someone-else").sign(),
            "audience",
        ),
        (
            "aud array",
            emu.token().claim("aud", json!([DEV_API_CLIENT_ID])).sign(),
            "aud claim",
        ),
        (
            "other tenant (answered like a bad signature)",
            emu.token()
                .tenant("99999999-8888-7777-6666-555555555555")
                .sign(),
            "signature is invalid",
        ),
        (
            "issuer of another tenant",
            emu.token()
                .claim(
                    "iss",
                    json!(emu.issuer_v2("99999999-8888-7777-6666-555555555555")),
                )
                .sign(),
            "issuer",
        ),
        (
            "v1 issuer on a v2 token",
            emu.token()
                .claim("iss", json!(emu.issuer_v1(DEV_TENANT_ID)))
                .sign(),
            "issuer",
        ),
        (
            "no scp nor roles",
            emu.token().remove_claim("roles").sign(),
            "neither scp nor roles",
        ),
        (
            "alg none",
            emu.token().header("alg", json!("none")).sign(),
            "algorithm",
        ),
    ];
    for (name, token, expect) in cases {
        let r = api.get("/me", Some(&token)).await;
        assert_eq!(r.status, 401, "{name}: {}", r.body);
        assert_invalid(&r, expect);
    }
    let unregistered = emu.token().signed_with(&stranger).sign();
    common::assert_rejected_for(&api, &unregistered, InvalidToken::UnknownSigningKey).await;
}

#[tokio::test]
async fn x5t_only_header_is_accepted() {
    let (emu, api) = setup().await;
    let token = emu.token().x5t_only().sign();
    let r = api.get("/me", Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn multi_tenant_allow_list() {
    let emu = entra_emulator::Emulator::start().await.unwrap();
    let other = "0f0e0d0c-0b0a-4909-8807-060504030201";
    let stranger = "12121212-3434-4545-5656-787878787878";
    emu.add_tenant(other);
    emu.add_tenant(stranger);
    let clock = entra_auth::ManualClock::starting_now();
    let cfg = dev_config(&emu, &clock)
        .tenant("organizations")
        .allowed_tenants([DEV_TENANT_ID, other])
        .build()
        .unwrap();
    let api = serve(EntraAuthLayer::new(cfg), clock).await;
    for tid in [DEV_TENANT_ID, other] {
        let r = api
            .get(
                "/me",
                Some(&emu.token().tenant(tid).roles(["Api.Admin"]).sign()),
            )
            .await;
        assert_eq!(r.status, 200, "{tid}: {}", r.body);
        assert_eq!(r.body["tid"], tid);
    }
    let foreign = emu.token().tenant(stranger).roles(["Api.Admin"]).sign();
    common::assert_rejected_for(&api, &foreign, InvalidToken::TenantNotAllowed).await;
    // A token whose tid disagrees with its issuer.
    let forged = emu
        .token()
        .tenant(other)
        .roles(["Api.Admin"])
        .claim("tid", json!(DEV_TENANT_ID))
        .sign();
    let r = api.get("/me", Some(&forged)).await;
    assert_eq!(r.status, 401, "{}", r.body);
    // v1 tokens too.
    let v1 = emu
        .token()
        .tenant(other)
        .roles(["Api.Admin"])
        .version(TokenVersion::V1)
        .sign();
    assert_eq!(api.get("/me", Some(&v1)).await.status, 200);
}

#[tokio::test]
async fn only_accepted_versions_pass() {
    let emu = entra_emulator::Emulator::start().await.unwrap();
    let clock = entra_auth::ManualClock::starting_now();
    let cfg = dev_config(&emu, &clock)
        .versions(TokenVersions::V2_ONLY)
        .build()
        .unwrap();
    let api = serve(EntraAuthLayer::new(cfg), clock).await;
    assert_eq!(api.get("/me", Some(&emu.token().sign())).await.status, 200);
    let r = api
        .get("/me", Some(&emu.token().version(TokenVersion::V1).sign()))
        .await;
    assert_invalid(&r, "version");
}

#[tokio::test]
async fn optional_auth_lets_anonymous_through_but_not_bad_tokens() {
    let emu = entra_emulator::Emulator::start().await.unwrap();
    let clock = entra_auth::ManualClock::starting_now();
    let cfg = dev_config(&emu, &clock).build().unwrap();
    let api = serve(EntraAuthLayer::new(cfg).optional(), clock).await;
    let r = api.get("/maybe", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["anonymous"], true);
    let r = api.get("/maybe", Some(&emu.token().sign())).await;
    assert_eq!(r.body["anonymous"], false);
    assert_eq!(r.body["app_id"], DEV_CLIENT_ID);
    let r = api.get("/maybe", Some(&emu.token().expired().sign())).await;
    assert_invalid(&r, "expired");
    // Handlers that need claims still answer 401 to anonymous callers.
    assert_eq!(api.get("/me", None).await.status, 401);
}

#[tokio::test]
async fn authorization_guards() {
    let (emu, api) = setup().await;
    let no_roles = emu.token().roles(["Something.Else"]).sign();
    let r = api.get("/admin", Some(&no_roles)).await;
    assert_eq!(r.status, 403);
    let challenge = r.www_authenticate.unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"Api.Admin\""), "{challenge}");
    assert_eq!(r.body["error"], "insufficient_scope");

    let admin = emu.token().roles(["Api.Admin"]).sign();
    assert_eq!(api.get("/admin", Some(&admin)).await.status, 200);
    assert_eq!(api.get("/files", Some(&admin)).await.status, 403);
    let reader = emu.token().roles(["Files.Read.All"]).sign();
    assert_eq!(api.get("/files", Some(&reader)).await.status, 200);

    assert_eq!(api.get("/only-dev-client", Some(&admin)).await.status, 200);
    let other_app = emu
        .token()
        .client_app("33333333-4444-5555-6666-777777777777")
        .roles(["Api.Admin"])
        .sign();
    let r = api.get("/only-dev-client", Some(&other_app)).await;
    assert_eq!(r.status, 403);
    // Without a token the guard never runs: the layer answers 401 first.
    assert_eq!(api.get("/admin", None).await.status, 401);
}

#[tokio::test]
async fn authorization_header_variants() {
    let (emu, api) = setup().await;
    let token = emu.token().sign();
    let url = format!("{}/me", api.base);
    let lower = api
        .send(
            api.http
                .get(&url)
                .header("authorization", format!("bearer {token}")),
        )
        .await;
    assert_eq!(lower.status, 200);
    for bad in [
        format!("Basic {token}"),
        format!("Bearer{token}"),
        "Bearer ".to_owned(),
    ] {
        let r = api
            .send(api.http.get(&url).header("authorization", bad))
            .await;
        assert_invalid(&r, "Authorization header");
    }
    let two = api
        .send(
            api.http
                .get(&url)
                .header("authorization", format!("Bearer {token}"))
                .header("authorization", format!("Bearer {token}")),
        )
        .await;
    assert_eq!(two.status, 401);
    // The query string and cookies are ignored unless configured.
    let r = api
        .send(api.http.get(format!("{url}?access_token={token}")))
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.www_authenticate.as_deref(), Some("Bearer"));
}

#[tokio::test]
async fn handlers_get_the_raw_token_with_a_redacting_debug() {
    let (emu, api) = setup().await;
    let token = emu.token().sign();
    for _ in 0..2 {
        // First validation, then a cache hit: both hand the same token to the handler.
        let r = api.get("/token", Some(&token)).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["token"], token.as_str());
        let debug = r.body["debug"].as_str().unwrap();
        assert!(debug.contains("redacted"), "{debug}");
        assert!(
            !debug.contains(token.rsplit('.').next().unwrap()),
            "{debug}"
        );
    }
}

/// Replaces a token's signature with another of the same length: an unsigned token.
fn unsigned(token: &str) -> String {
    let (message, signature) = token.rsplit_once('.').unwrap();
    format!("{message}.{}", "A".repeat(signature.len()))
}

/// An unsigned token tells nobody whether a tenant is on the allow-list: the early tenant
/// rejection is answered exactly as a signature failure (status, challenge, body), with a known
/// key id or a made-up one.
#[tokio::test]
async fn the_tenant_allow_list_is_no_oracle() {
    let emu = entra_emulator::Emulator::start().await.unwrap();
    let customer = "0f0e0d0c-0b0a-4909-8807-060504030201";
    let stranger = "12121212-3434-4545-5656-787878787878";
    let clock = entra_auth::ManualClock::starting_now();
    let cfg = dev_config(&emu, &clock)
        .tenant("organizations")
        .allowed_tenants([customer])
        .realm("contoso-api")
        .build()
        .unwrap();
    let api = serve(EntraAuthLayer::new(cfg), clock).await;
    for kid in [emu.active_key().kid().to_owned(), "made-up-kid".to_owned()] {
        let answer = |tid: &str| {
            let token = unsigned(&emu.token().tenant(tid).kid(&kid).sign());
            let api = &api;
            async move {
                let r = api.get("/me", Some(&token)).await;
                (r.status, r.www_authenticate, r.body)
            }
        };
        let allowed = answer(customer).await;
        let not_allowed = answer(stranger).await;
        assert_eq!(allowed.0, 401, "{allowed:?}");
        assert_eq!(allowed, not_allowed, "kid {kid}");
    }
}

/// The same during a key outage: an allowed tenant's token gets 503 (no keys to check it
/// with), and so does another tenant's, without any fetch.
#[tokio::test]
async fn the_tenant_allow_list_is_no_oracle_during_an_outage() {
    let emu = entra_emulator::Emulator::start().await.unwrap();
    emu.set_fault(
        entra_emulator::Endpoint::Keys,
        entra_emulator::Fault::Status(500),
    );
    let customer = "0f0e0d0c-0b0a-4909-8807-060504030201";
    let stranger = "12121212-3434-4545-5656-787878787878";
    let clock = entra_auth::ManualClock::starting_now();
    let cfg = dev_config(&emu, &clock)
        .tenant("organizations")
        .allowed_tenants([customer])
        .build()
        .unwrap();
    let api = serve(EntraAuthLayer::new(cfg), clock).await;
    let allowed = unsigned(&emu.token().tenant(customer).sign());
    let r = api.get("/me", Some(&allowed)).await;
    assert_eq!(r.status, 503, "{}", r.body);
    let fetches = emu.request_count(entra_emulator::Endpoint::Keys);
    let not_allowed = unsigned(&emu.token().tenant(stranger).sign());
    let s = api.get("/me", Some(&not_allowed)).await;
    assert_eq!(
        (s.status, s.retry_after, s.www_authenticate, s.body),
        (r.status, r.retry_after, r.www_authenticate, r.body)
    );
    assert_eq!(
        emu.request_count(entra_emulator::Endpoint::Keys),
        fetches,
        "no fetch"
    );
}

/// In multi-tenant mode a token without `tid` is rejected before the key lookup: it cannot make
/// the key cache refresh with a made-up key id.
#[tokio::test]
async fn a_token_without_tid_never_reaches_the_key_refresh() {
    let emu = entra_emulator::Emulator::start().await.unwrap();
    let clock = entra_auth::ManualClock::starting_now();
    let cfg = dev_config(&emu, &clock)
        .tenant("common")
        .allow_any_tenant()
        .build()
        .unwrap();
    let api = serve(EntraAuthLayer::new(cfg), clock).await;
    assert_eq!(api.get("/me", Some(&emu.token().sign())).await.status, 200);
    let fetches = api.key_fetches();
    // Naming a key we do not hold, they are answered as such (whatever their payload, so that
    // the answer does not show whether the unknown-kid cooldown is open), without a refresh.
    let token = emu.token().remove_claim("tid").kid("made-up-kid").sign();
    assert_invalid(&api.get("/me", Some(&token)).await, "signature is invalid");
    let token = emu
        .token()
        .claim("tid", json!(""))
        .kid("made-up-kid")
        .sign();
    assert_invalid(&api.get("/me", Some(&token)).await, "signature is invalid");
    assert_eq!(api.key_fetches(), fetches, "no refresh");
    // Under a key we hold, the reason is given.
    let token = emu.token().remove_claim("tid").sign();
    assert_invalid(&api.get("/me", Some(&token)).await, "no tid claim");
    let token = emu.token().claim("tid", json!("")).sign();
    assert_invalid(
        &api.get("/me", Some(&token)).await,
        "tid claim must be a tenant id",
    );
}

/// Every 401 and 403 carries the configured realm: the layer's, the extractors' and `Require`'s.
#[tokio::test]
async fn every_401_and_403_carries_the_realm() {
    let emu = entra_emulator::Emulator::start().await.unwrap();
    let clock = entra_auth::ManualClock::starting_now();
    let cfg = dev_config(&emu, &clock)
        .realm("contoso-api")
        .build()
        .unwrap();
    let api = serve(EntraAuthLayer::new(cfg).optional(), clock).await;
    let no_admin = emu.token().roles(["Files.Read.All"]).sign();
    let cases = [
        ("/me", None, 401),                       // the Claims extractor, no token
        ("/token", None, 401),                    // the BearerToken extractor, no token
        ("/admin", None, 401),                    // Require, no token
        ("/admin", Some(no_admin.as_str()), 403), // Require, missing role
    ];
    for (path, token, status) in cases {
        let r = api.get(path, token).await;
        assert_eq!(r.status, status, "{path}: {}", r.body);
        let challenge = r.www_authenticate.unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer realm=\"contoso-api\""),
            "{path}: {challenge}"
        );
    }
}

/// A tenant configured by its domain name accepts the tenant's tokens (which carry the GUID in
/// `tid`): the id comes from the discovery document the domain path serves. Tokens of another
/// tenant are still refused, before the key lookup.
#[tokio::test]
async fn a_tenant_configured_by_domain_accepts_its_tokens() {
    let emu = entra_emulator::Emulator::start().await.unwrap();
    let stranger = "12121212-3434-4545-5656-787878787878";
    emu.add_tenant(stranger);
    let clock = entra_auth::ManualClock::starting_now();
    let cfg = dev_config(&emu, &clock)
        .tenant(entra_emulator::DEV_TENANT_DOMAIN)
        .build()
        .unwrap();
    let api = serve(EntraAuthLayer::new(cfg), clock).await;
    let r = api.get("/me", Some(&emu.token().sign())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["tid"], DEV_TENANT_ID);
    let v1 = emu.token().version(TokenVersion::V1).sign();
    assert_eq!(api.get("/me", Some(&v1)).await.status, 200);
    assert!(
        emu.request_log().iter().any(|r| r
            .path
            .starts_with(&format!("/{}/", entra_emulator::DEV_TENANT_DOMAIN))),
        "the discovery document was read under the domain path"
    );
    let foreign = emu.token().tenant(stranger).sign();
    common::assert_rejected_for(&api, &foreign, InvalidToken::TenantNotAllowed).await;
}

/// The same for a B2C / External ID authority given by its metadata URL under a domain path:
/// the tenant id is the one in the document's concrete issuer.
#[tokio::test]
async fn a_custom_authority_under_a_domain_accepts_its_tenants_tokens() {
    let emu = entra_emulator::Emulator::start().await.unwrap();
    let url = emu.jwks_uri(DEV_TENANT_ID, TokenVersion::V2);
    let mut keys: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    // B2C key sets name no per-key issuer.
    for key in keys["keys"].as_array_mut().unwrap() {
        key.as_object_mut().unwrap().remove("issuer");
    }
    let fake = common::FakeEntra::start(|base| common::FakeDocs {
        v2: json!({
            "issuer": format!("{base}/{DEV_TENANT_ID}/v2.0/"),
            "jwks_uri": format!("{base}/keys"),
        }),
        v1: json!({}),
        keys,
    })
    .await;
    let clock = entra_auth::ManualClock::starting_now();
    let cfg = dev_config(&emu, &clock)
        .tenant("contoso.onmicrosoft.com")
        .metadata_url(format!(
            "{}/contoso.onmicrosoft.com/B2C_1_signin/v2.0/.well-known/openid-configuration",
            fake.base
        ))
        .build()
        .unwrap();
    let api = serve(EntraAuthLayer::new(cfg), clock).await;
    let issuer = format!("{}/{DEV_TENANT_ID}/v2.0/", fake.base);
    let token = emu.token().claim("iss", json!(issuer)).sign();
    let r = api.get("/me", Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let foreign = emu
        .token()
        .claim("iss", json!(issuer))
        .claim("tid", json!("12121212-3434-4545-5656-787878787878"))
        .sign();
    common::assert_rejected_for(&api, &foreign, InvalidToken::TenantNotAllowed).await;
}

/// The emulator's v2 ID token of the development user signed in to `client_id`.
fn id_token(emu: &entra_emulator::Emulator, client_id: &str) -> String {
    emu.id_token(DEV_TENANT_ID, DEV_USER_UPN, client_id, Some("nonce-1"))
        .expect("the development user exists")
}

/// An API configured against the emulator with `accept_id_tokens(true)`.
async fn setup_accepting_id_tokens(
    configure: impl FnOnce(entra_auth::EntraConfigBuilder) -> entra_auth::EntraConfigBuilder,
) -> (entra_emulator::Emulator, common::Api) {
    let emu = entra_emulator::Emulator::start().await.unwrap();
    let clock = entra_auth::ManualClock::starting_now();
    let config = configure(dev_config(&emu, &clock).accept_id_tokens(true))
        .build()
        .unwrap();
    let api = serve(EntraAuthLayer::new(config), clock).await;
    (emu, api)
}

/// Without the opt-in (the default), an ID token for the API's own client id is a 401 on every
/// route, with its own reason.
#[tokio::test]
async fn an_id_token_is_refused_without_the_opt_in() {
    let (emu, api) = setup().await;
    let token = id_token(&emu, DEV_API_CLIENT_ID);
    common::assert_rejected_for(&api, &token, InvalidToken::IdToken).await;
    for path in ["/files", "/admin", "/maybe"] {
        assert_invalid(
            &api.get(path, Some(&token)).await,
            InvalidToken::IdToken.public_description(),
        );
    }
}

/// With the opt-in, the same ID token reaches the handler as an ID token of the user, and no
/// route that requires a scope, an app role or a calling app lets it through.
#[tokio::test]
async fn with_the_opt_in_an_id_token_for_the_api_is_accepted_as_kind_id() {
    let (emu, api) = setup_accepting_id_tokens(|b| b).await;
    let token = id_token(&emu, DEV_API_CLIENT_ID);
    let r = api.get("/me", Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["kind"], "id");
    assert_eq!(r.body["ver"], "2.0");
    assert_eq!(r.body["oid"], DEV_USER_ID);
    assert_eq!(r.body["tid"], DEV_TENANT_ID);
    assert_eq!(r.body["app_id"], json!(null));
    assert_eq!(r.body["scp"], json!([]));
    assert_eq!(r.body["roles"], json!([]));
    for path in ["/files", "/admin", "/only-dev-client"] {
        let r = api.get(path, Some(&token)).await;
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert_eq!(r.body["error"], "insufficient_scope", "{path}");
    }
}

/// With the opt-in, an ID token issued to another client is still a 401: by its audience, and
/// by its kind when that client id is an accepted audience of the API.
#[tokio::test]
async fn with_the_opt_in_an_id_token_for_another_client_is_refused() {
    let (emu, api) = setup_accepting_id_tokens(|b| b).await;
    let token = id_token(&emu, DEV_SPA_CLIENT_ID);
    common::assert_rejected_for(&api, &token, InvalidToken::AudienceMismatch).await;

    let (emu, api) = setup_accepting_id_tokens(|b| {
        b.audiences([
            DEV_API_CLIENT_ID.to_owned(),
            format!("api://{DEV_API_CLIENT_ID}"),
            DEV_SPA_CLIENT_ID.to_owned(),
        ])
    })
    .await;
    let token = id_token(&emu, DEV_SPA_CLIENT_ID);
    common::assert_rejected_for(&api, &token, InvalidToken::IdToken).await;
    let own = id_token(&emu, DEV_API_CLIENT_ID);
    assert_eq!(api.get("/me", Some(&own)).await.status, 200);
}

/// With the opt-in, access tokens are judged as before and say so.
#[tokio::test]
async fn with_the_opt_in_access_tokens_still_work_and_say_access() {
    let (emu, api) = setup_accepting_id_tokens(|b| b).await;
    let app = emu.token().sign();
    let r = api.get("/admin", Some(&app)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["kind"], "access");
    assert_eq!(r.body["app_id"], DEV_CLIENT_ID);
    let user = emu
        .token()
        .user(DEV_USER_UPN)
        .client_app(DEV_SPA_CLIENT_ID)
        .scopes("Files.Read")
        .sign();
    let r = api.get("/files", Some(&user)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["kind"], "access");
    assert_eq!(r.body["oid"], DEV_USER_ID);
    assert_eq!(r.body["scp"], json!(["Files.Read"]));
    // An access token without scp or roles is still refused as one, not taken for an ID token.
    let bare = emu.token().remove_claim("roles").sign();
    common::assert_rejected_for(&api, &bare, InvalidToken::NoScopeOrRole).await;
}

/// What `Stats` counts (and `publish_metrics` hands to a recorder): each outcome once per
/// request, rejections under their reason, the age of the keys by the configured clock.
#[tokio::test]
async fn stats_count_every_outcome_once_and_the_key_set_age() {
    let (emu, api) = setup().await;
    let auth = api.layer.authenticator().clone();
    let reason = |stats: &entra_auth::Stats, code: &str| {
        stats
            .rejections
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, n)| *n)
            .unwrap_or_else(|| panic!("no reason {code}"))
    };
    let token = emu.token().sign();
    assert_eq!(api.get("/me", None).await.status, 401);
    assert_eq!(api.get("/me", Some("not.a.token")).await.status, 401);
    assert_eq!(api.get("/me", Some("two tokens")).await.status, 401);
    let unknown = emu.token().kid("no-such-key").sign();
    assert_eq!(api.get("/me", Some(&unknown)).await.status, 401);
    assert_eq!(api.get("/me", Some(&token)).await.status, 200);
    assert_eq!(api.get("/me", Some(&token)).await.status, 200);
    assert_eq!(api.get("/me", Some(&token)).await.status, 200);

    let stats = auth.stats();
    assert_eq!(reason(&stats, "missing_token"), 1);
    assert_eq!(reason(&stats, "malformed_structure"), 1);
    assert_eq!(reason(&stats, "malformed_authorization"), 1);
    assert_eq!(reason(&stats, "unknown_signing_key"), 1);
    let rejected: u64 = stats.rejections.iter().map(|(_, n)| n).sum();
    assert_eq!(rejected, 4, "{:?}", stats.rejections);
    assert_eq!(stats.validations_accepted, 1);
    assert_eq!(stats.validations_cached, 2);
    assert_eq!(stats.unavailable, 0);
    assert_eq!(stats.key_refresh_failures, 0);
    assert_eq!(stats.key_set_age_secs, Some(0));
    api.clock.advance(std::time::Duration::from_secs(90));
    assert_eq!(auth.stats().key_set_age_secs, Some(90));
}

/// The layer's checks as tower-http's `AsyncAuthorizeRequest` policy: the same answers (401
/// with the same challenge, 200 with claims for the handler, cache hits, 503 while keys cannot
/// be fetched).
#[tokio::test]
async fn the_tower_http_policy_answers_as_the_layer_does() {
    use axum::routing::get;
    use entra_auth::{Claims, EntraAuthorize, ManualClock};
    use entra_emulator::{Endpoint, Fault};
    use tower_http::auth::AsyncRequireAuthorizationLayer;

    async fn serve_policy(policy: EntraAuthorize) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route(
                "/me",
                get(|c: Claims| async move { c.app_id().unwrap_or_default().to_owned() }),
            )
            .layer(AsyncRequireAuthorizationLayer::new(policy));
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }
    let (emu, api) = setup().await;
    let clock = ManualClock::starting_now();
    let policy = EntraAuthorize::new(dev_config(&emu, &clock).build().unwrap());
    let auth = policy.authenticator().clone();
    let base = serve_policy(policy).await;
    let http = reqwest::Client::new();
    let get = |token: Option<String>| {
        let mut request = http.get(format!("{base}/me"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap() }
    };
    let challenge =
        |r: &reqwest::Response| r.headers()["www-authenticate"].to_str().unwrap().to_owned();

    let token = emu.token().sign();
    let ok = get(Some(token.clone())).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), DEV_CLIENT_ID);
    assert_eq!(get(Some(token)).await.status(), 200);
    assert_eq!(auth.stats().validations_accepted, 1);
    assert_eq!(auth.stats().validations_cached, 1);

    for (token, layer_token) in [(None, None), (Some("not.a.token"), Some("not.a.token"))] {
        let policy_answer = get(token.map(str::to_owned)).await;
        let layer_answer = api.get("/me", layer_token).await;
        assert_eq!(policy_answer.status(), 401);
        assert_eq!(
            Some(challenge(&policy_answer)),
            layer_answer.www_authenticate,
            "{token:?}"
        );
    }

    // A fresh policy whose keys cannot be fetched: 503 with Retry-After.
    emu.set_fault(Endpoint::Keys, Fault::Status(500));
    let fresh = EntraAuthorize::new(dev_config(&emu, &clock).build().unwrap());
    let base = serve_policy(fresh).await;
    let down = http
        .get(format!("{base}/me"))
        .bearer_auth(emu.token().sign())
        .send()
        .await
        .unwrap();
    assert_eq!(down.status(), 503);
    assert!(down.headers().contains_key("retry-after"));
}
