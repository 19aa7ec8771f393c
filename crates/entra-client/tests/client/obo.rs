//! On-behalf-of against the emulator over HTTP on 127.0.0.1 (claims, the per-user cache, expiry,
//! consent), and against a scripted server for the claims challenge the emulator does not send.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use base64::Engine;
use entra_client::{
    AssertionRequest, ClientCertificate, ClientCredentials, ClientSecret, Clock, Error,
    ManualClock, OnBehalfOf, TokenCredential, client_assertion_fn,
};
use entra_emulator::{
    App, DEV_SECOND_USER_ID, DEV_SECOND_USER_UPN, DEV_SPA_CLIENT_ID, DEV_TENANT_ID, DEV_USER_ID,
    DEV_USER_UPN, Emulator, Endpoint, TokenVersion, User,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::common::TestCert;
use crate::common::fake::{FakeServer, Reply};

/// The middle tier: a confidential web API exposing `access_as_user`, calling the downstream API.
const MIDDLE: &str = "0b0e0000-1111-4222-8333-0000000000c1";
const MIDDLE_SECRET: &str = "middle-tier-secret~not-for-production";
const MIDDLE_URI: &str = "api://middle-tier";
/// The downstream API (v2 tokens), exposing `Orders.Read`.
const DOWNSTREAM: &str = "0d0e0000-1111-4222-8333-0000000000c2";
const DOWNSTREAM_URI: &str = "api://downstream";
const ORDERS_READ: &str = "api://downstream/Orders.Read";

async fn obo_emulator(middle: App) -> Emulator {
    let emu = Emulator::start().await.unwrap();
    emu.register_app(
        DEV_TENANT_ID,
        App::new(DOWNSTREAM)
            .app_id_uri(DOWNSTREAM_URI)
            .scope("Orders.Read")
            .access_token_version(TokenVersion::V2),
    );
    emu.register_app(
        DEV_TENANT_ID,
        middle
            .app_id_uri(MIDDLE_URI)
            .scope("access_as_user")
            .requests(DOWNSTREAM_URI, ["Orders.Read"]),
    );
    emu
}

fn middle_app() -> App {
    App::new(MIDDLE).secret(entra_emulator::ClientSecret::new(MIDDLE_SECRET))
}

fn middle_creds(emu: &Emulator) -> entra_client::ClientCredentialsBuilder {
    ClientCredentials::builder(DEV_TENANT_ID, MIDDLE)
        .authority(emu.base_url().to_string())
        .client_secret(ClientSecret::new(MIDDLE_SECRET))
        .retry_base_delay(Duration::from_millis(5))
}

/// The token a SPA got for the middle tier, for `upn`.
fn user_token(emu: &Emulator, upn: &str) -> String {
    emu.token()
        .audience(MIDDLE_URI)
        .client_app(DEV_SPA_CLIENT_ID)
        .user(upn)
        .scopes("access_as_user")
        .sign()
}

/// Verifies a downstream token against the emulator's key; returns its claims.
fn verify_downstream(emu: &Emulator, token: &str) -> Value {
    let jwk = emu.active_key().jwk(None);
    let key =
        DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap())
            .unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[DOWNSTREAM]);
    v.set_issuer(&[emu.issuer_v2(DEV_TENANT_ID)]);
    jsonwebtoken::decode::<Value>(token, &key, &v)
        .expect("the downstream token verifies")
        .claims
}

fn token_requests(emu: &Emulator) -> usize {
    emu.request_count(Endpoint::Token)
}

#[tokio::test]
async fn obo_with_a_secret_keeps_the_user_and_caches_per_user() {
    let emu = obo_emulator(middle_app()).await;
    let obo = OnBehalfOf::new(middle_creds(&emu).build().unwrap());
    let adele = user_token(&emu, DEV_USER_UPN);
    let alex = user_token(&emu, DEV_SECOND_USER_UPN);

    let token = obo.token(&adele, &[ORDERS_READ]).await.unwrap();
    let c = verify_downstream(&emu, token.secret());
    assert_eq!(c["oid"], DEV_USER_ID);
    assert_eq!(c["tid"], DEV_TENANT_ID);
    assert_eq!(c["preferred_username"], DEV_USER_UPN);
    assert_eq!(c["scp"], "Orders.Read");
    assert_eq!(c["azp"], MIDDLE);
    assert_eq!(c["azpacr"], "1", "authenticated with a secret");
    assert_eq!(token_requests(&emu), 1);

    // From the cache: same token, no request; scopes in another form are the same entry.
    let again = obo
        .token(&adele, &[ORDERS_READ, ORDERS_READ])
        .await
        .unwrap();
    assert_eq!(again.secret(), token.secret());
    assert_eq!(token_requests(&emu), 1);

    // Another user never gets Adele's token.
    let theirs = obo.token(&alex, &[ORDERS_READ]).await.unwrap();
    assert_ne!(theirs.secret(), token.secret());
    assert_eq!(
        verify_downstream(&emu, theirs.secret())["oid"],
        DEV_SECOND_USER_ID
    );
    assert_eq!(token_requests(&emu), 2);
    assert_eq!(
        obo.token(&adele, &[ORDERS_READ]).await.unwrap().secret(),
        token.secret()
    );
    assert_eq!(
        obo.token(&alex, &[ORDERS_READ]).await.unwrap().secret(),
        theirs.secret()
    );
    assert_eq!(token_requests(&emu), 2);
    assert_eq!(obo.cached_entries(), 2);

    // `.default` is another entry (another request), for the same user.
    let default = obo
        .token(&adele, &[&format!("{DOWNSTREAM_URI}/.default")])
        .await
        .unwrap();
    assert_eq!(
        verify_downstream(&emu, default.secret())["oid"],
        DEV_USER_ID
    );
    assert_eq!(token_requests(&emu), 3);

    // As a TokenCredential (the tower layer, reqwest): the same cache.
    let credential = obo.for_user(adele.clone());
    let shown = format!("{credential:?} {obo:?}");
    assert!(
        !shown.contains(&adele) && !shown.contains(MIDDLE_SECRET),
        "{shown}"
    );
    let via_trait = TokenCredential::token(&credential, &[ORDERS_READ])
        .await
        .unwrap();
    assert_eq!(via_trait.secret(), token.secret());
    assert_eq!(token_requests(&emu), 3);
}

#[tokio::test]
async fn a_hundred_concurrent_users_each_get_their_own_token() {
    let emu = obo_emulator(middle_app()).await;
    let obo = OnBehalfOf::new(middle_creds(&emu).build().unwrap());
    let mut users = Vec::new();
    for i in 0..100 {
        let upn = format!("user{i}@entraemulator.onmicrosoft.com");
        let oid = format!("00000000-0000-4000-8000-{i:012}");
        emu.add_user(
            DEV_TENANT_ID,
            User::new(&upn)
                .object_id(&oid)
                .display_name(format!("User {i}")),
        )
        .unwrap();
        users.push((oid, user_token(&emu, &upn)));
    }
    let users = Arc::new(users);
    // Every user asks three times at once, all users at once.
    let mut tasks = Vec::new();
    for round in 0..3 {
        for i in 0..users.len() {
            let (obo, users) = (obo.clone(), users.clone());
            tasks.push(tokio::spawn(async move {
                let token = obo.token(&users[i].1, &[ORDERS_READ]).await.unwrap();
                (i, round, token.secret().to_owned())
            }));
        }
    }
    let mut per_user: Vec<Option<String>> = vec![None; users.len()];
    for task in tasks {
        let (i, _, token) = task.await.unwrap();
        match &per_user[i] {
            Some(first) => assert_eq!(first, &token, "one token per user"),
            None => {
                assert_eq!(verify_downstream(&emu, &token)["oid"], users[i].0.as_str());
                per_user[i] = Some(token);
            }
        }
    }
    // One request per user (concurrent callers share it), no token given to two users.
    assert_eq!(token_requests(&emu), 100);
    let mut distinct: Vec<_> = per_user.into_iter().map(Option::unwrap).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 100);
}

#[tokio::test]
async fn the_cache_is_bounded_and_drops_the_least_recently_used() {
    let emu = obo_emulator(middle_app()).await;
    let obo = OnBehalfOf::with_capacity(middle_creds(&emu).build().unwrap(), 1);
    assert_eq!(obo.capacity(), 1);
    let adele = user_token(&emu, DEV_USER_UPN);
    let alex = user_token(&emu, DEV_SECOND_USER_UPN);
    let first = obo.token(&adele, &[ORDERS_READ]).await.unwrap();
    let theirs = obo.token(&alex, &[ORDERS_READ]).await.unwrap();
    assert_eq!(obo.cached_entries(), 1);
    // Adele's entry made way for Alex's: asked again, and still hers.
    let second = obo.token(&adele, &[ORDERS_READ]).await.unwrap();
    assert_eq!(token_requests(&emu), 3);
    assert_eq!(verify_downstream(&emu, second.secret())["oid"], DEV_USER_ID);
    assert_eq!(
        verify_downstream(&emu, theirs.secret())["oid"],
        DEV_SECOND_USER_ID
    );
    assert_eq!(verify_downstream(&emu, first.secret())["oid"], DEV_USER_ID);
}

#[tokio::test]
async fn cached_tokens_expire_with_the_token() {
    let emu = obo_emulator(middle_app()).await;
    let clock = ManualClock::new(SystemTime::now());
    let obo = OnBehalfOf::new(
        middle_creds(&emu)
            .clock(clock.clone())
            .refresh_margin(Duration::from_secs(300))
            .build()
            .unwrap(),
    );
    let adele = user_token(&emu, DEV_USER_UPN);
    let first = obo.token(&adele, &[ORDERS_READ]).await.unwrap();
    let lifetime = first.remaining(clock.now());
    assert!(lifetime > Duration::from_secs(600), "{lifetime:?}");

    // Just before the refresh margin: still cached.
    clock.advance(lifetime - Duration::from_secs(301));
    assert_eq!(
        obo.token(&adele, &[ORDERS_READ]).await.unwrap().secret(),
        first.secret()
    );
    assert_eq!(token_requests(&emu), 1);
    // Within the margin: renewed.
    clock.advance(Duration::from_secs(2));
    let renewed = obo.token(&adele, &[ORDERS_READ]).await.unwrap();
    assert_eq!(token_requests(&emu), 2);
    assert_eq!(
        verify_downstream(&emu, renewed.secret())["oid"],
        DEV_USER_ID
    );
    assert!(renewed.expires_on() > first.expires_on());
    // Long after both expired: a new request again, for the same entry.
    clock.advance(lifetime * 3);
    obo.token(&adele, &[ORDERS_READ]).await.unwrap();
    assert_eq!(token_requests(&emu), 3);
    assert_eq!(obo.cached_entries(), 1);
}

#[tokio::test]
async fn obo_with_a_certificate_and_with_an_assertion_source() {
    let cert = TestCert::new("middle-tier");
    let emu = obo_emulator(App::new(MIDDLE).certificate_der(cert.cert_der())).await;
    let certificate = ClientCertificate::from_pem(cert.key_pem(), cert.cert_pem()).unwrap();
    let with_cert = ClientCredentials::builder(DEV_TENANT_ID, MIDDLE)
        .authority(emu.base_url().to_string())
        .certificate(certificate)
        .build()
        .unwrap();
    let adele = user_token(&emu, DEV_USER_UPN);
    let token = OnBehalfOf::new(with_cert.clone())
        .token(&adele, &[ORDERS_READ])
        .await
        .unwrap();
    let c = verify_downstream(&emu, token.secret());
    assert_eq!(
        (c["oid"].as_str(), c["azpacr"].as_str()),
        (Some(DEV_USER_ID), Some("2"))
    );

    // An assertion source (here: signing with the same certificate), asked once per request.
    let calls = Arc::new(AtomicUsize::new(0));
    let (signer, counted) = (with_cert.clone(), calls.clone());
    let source = client_assertion_fn(move |request: AssertionRequest<'_>| {
        counted.fetch_add(1, Ordering::SeqCst);
        assert_eq!(request.client_id, MIDDLE);
        let assertion = signer.client_assertion(request.token_endpoint);
        async move { assertion }
    });
    let clock = ManualClock::new(SystemTime::now());
    let obo = OnBehalfOf::new(
        ClientCredentials::builder(DEV_TENANT_ID, MIDDLE)
            .authority(emu.base_url().to_string())
            .client_assertion_source(source)
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    let first = obo.token(&adele, &[ORDERS_READ]).await.unwrap();
    assert_eq!(verify_downstream(&emu, first.secret())["oid"], DEV_USER_ID);
    obo.token(&adele, &[ORDERS_READ]).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "cached: no new assertion");
    clock.advance(first.remaining(clock.now()));
    obo.token(&adele, &[ORDERS_READ]).await.unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "a new request, a new assertion"
    );
}

#[tokio::test]
async fn consent_required_is_a_typed_error_and_a_403_for_the_caller() {
    let emu = obo_emulator(middle_app()).await;
    emu.set_auto_consent(DEV_TENANT_ID, false);
    let obo = OnBehalfOf::new(middle_creds(&emu).build().unwrap());
    let adele = user_token(&emu, DEV_USER_UPN);

    let e = obo.token(&adele, &[ORDERS_READ]).await.unwrap_err();
    let Error::ConsentRequired(challenge) = &e else {
        panic!("not ConsentRequired: {e:?}");
    };
    assert_eq!(challenge.scope, ORDERS_READ);
    assert_eq!(e.aadsts_code(), Some(65001));
    assert_eq!(e.status(), Some(400));
    assert!(!e.is_retryable());
    let shown = format!("{e} {e:?}");
    assert!(
        !shown.contains(&adele) && !shown.contains(MIDDLE_SECRET),
        "{shown}"
    );

    let response = e.challenge_response().expect("a challenge");
    assert_eq!(response.status(), 403);
    let www = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        www.starts_with(r#"Bearer error="insufficient_scope""#),
        "{www}"
    );
    assert!(www.contains(&format!(r#"scope="{ORDERS_READ}""#)), "{www}");
    assert!(www.contains(r#"proposedAction="consent""#), "{www}");
    assert!(!response.body().contains(&adele));

    // The failure is not cached: once an admin consents, the next call succeeds.
    emu.grant_admin_consent(DEV_TENANT_ID, MIDDLE, DOWNSTREAM_URI, &["Orders.Read"]);
    let token = obo.token(&adele, &[ORDERS_READ]).await.unwrap();
    assert_eq!(verify_downstream(&emu, token.secret())["oid"], DEV_USER_ID);
    assert_eq!(token_requests(&emu), 2);
}

#[tokio::test]
async fn an_axum_handler_returns_the_challenge_as_it_is() {
    use axum::response::{IntoResponse, Response};
    use tower::ServiceExt;

    let emu = obo_emulator(middle_app()).await;
    emu.set_auto_consent(DEV_TENANT_ID, false);
    let obo = OnBehalfOf::new(middle_creds(&emu).build().unwrap());
    let adele = user_token(&emu, DEV_USER_UPN);

    async fn orders(
        axum::extract::State(obo): axum::extract::State<OnBehalfOf>,
        headers: http::HeaderMap,
    ) -> Result<String, Response> {
        let bearer = headers["authorization"].to_str().unwrap();
        let user_token = bearer.strip_prefix("Bearer ").unwrap();
        obo.token(user_token, &[ORDERS_READ])
            .await
            .map_err(|e| match e.challenge_response() {
                Some(challenge) => challenge.into_response(),
                None => http::StatusCode::BAD_GATEWAY.into_response(),
            })?;
        Ok("orders".into())
    }
    let app = axum::Router::new()
        .route("/orders", axum::routing::get(orders))
        .with_state(obo.clone());
    let request = || {
        http::Request::get("/orders")
            .header("authorization", format!("Bearer {adele}"))
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let response = app.clone().oneshot(request()).await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    assert_eq!(response.headers()["content-type"], "application/json");

    emu.grant_admin_consent(DEV_TENANT_ID, MIDDLE, DOWNSTREAM_URI, &["Orders.Read"]);
    let response = app.oneshot(request()).await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_bad_user_token_is_an_entra_error_not_a_challenge() {
    let emu = obo_emulator(middle_app()).await;
    let obo = OnBehalfOf::new(middle_creds(&emu).build().unwrap());
    // A token for another audience: AADSTS50013.
    let wrong = emu
        .token()
        .audience(DOWNSTREAM)
        .client_app(DEV_SPA_CLIENT_ID)
        .user(DEV_USER_UPN)
        .scopes("Orders.Read")
        .sign();
    let e = obo.token(&wrong, &[ORDERS_READ]).await.unwrap_err();
    assert!(matches!(e, Error::Entra(_)), "{e:?}");
    assert_eq!(e.aadsts_code(), Some(50013));
    assert!(e.challenge_response().is_none());
    assert!(!format!("{e} {e:?}").contains(&wrong));
    assert_eq!(obo.cached_entries(), 0, "a failure leaves no entry");
    // Unusable input never reaches Entra.
    assert!(matches!(
        obo.token("", &[ORDERS_READ]).await,
        Err(Error::Config(_))
    ));
    assert!(matches!(
        obo.token(&wrong, &[" "]).await,
        Err(Error::InvalidScope(_))
    ));
    assert_eq!(token_requests(&emu), 1);
}

const CLAIMS: &str =
    r#"{"access_token":{"capolids":{"essential":true,"values":["9f4c7d1e-ca-policy"]}}}"#;

#[tokio::test]
async fn a_claims_challenge_is_a_typed_error_and_a_401_with_the_claims() {
    let body = serde_json::json!({
        "error": "interaction_required",
        "error_description": "AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access 'downstream'.",
        "error_codes": [50076],
        "suberror": "basic_action",
        "claims": CLAIMS,
        "trace_id": "t-1",
        "correlation_id": "c-1",
    });
    let server = FakeServer::start(vec![
        Reply::json(400, body.to_string()),
        Reply::token("downstream-token-after-mfa", 3600),
    ])
    .await;
    let obo = OnBehalfOf::new(
        ClientCredentials::builder(DEV_TENANT_ID, MIDDLE)
            .authority(server.base_url.clone())
            .client_secret(ClientSecret::new(MIDDLE_SECRET))
            .build()
            .unwrap(),
    );
    let user = "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl";

    let e = obo.token(user, &[ORDERS_READ]).await.unwrap_err();
    let Error::UiRequired(challenge) = &e else {
        panic!("not UiRequired: {e:?}");
    };
    assert_eq!(challenge.claims(), Some(CLAIMS));
    assert_eq!(challenge.entra.suberror.as_deref(), Some("basic_action"));
    assert_eq!(e.aadsts_code(), Some(50076));
    assert_eq!(e.entra().unwrap().trace_id.as_deref(), Some("t-1"));

    let response = e.challenge_response().unwrap();
    assert_eq!(response.status(), 401);
    let www = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        www.starts_with(r#"Bearer error="insufficient_claims""#),
        "{www}"
    );
    let encoded = www
        .split("claims=\"")
        .nth(1)
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("a claims parameter last");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    assert_eq!(String::from_utf8(decoded).unwrap(), CLAIMS);

    // The request was Entra's on-behalf-of request.
    let sent = &server.requests()[0];
    assert_eq!(sent.path, format!("/{DEV_TENANT_ID}/oauth2/v2.0/token"));
    assert_eq!(
        sent.param("grant_type").as_deref(),
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    );
    assert_eq!(
        sent.param("requested_token_use").as_deref(),
        Some("on_behalf_of")
    );
    assert_eq!(sent.param("assertion").as_deref(), Some(user));
    assert_eq!(sent.param("scope").as_deref(), Some(ORDERS_READ));
    assert_eq!(sent.param("client_id").as_deref(), Some(MIDDLE));
    assert_eq!(sent.param("client_secret").as_deref(), Some(MIDDLE_SECRET));

    // Not cached: after the user's MFA (a new call), the next answer is a token.
    let token = obo.token(user, &[ORDERS_READ]).await.unwrap();
    assert_eq!(token.secret(), "downstream-token-after-mfa");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn interaction_required_without_claims_is_a_401_too() {
    let server = FakeServer::start(vec![Reply::json(
        400,
        r#"{"error":"invalid_grant","error_description":"AADSTS50079: Due to a configuration change made by your administrator, you must enroll in multi-factor authentication.","error_codes":[50079]}"#,
    )])
    .await;
    let obo = OnBehalfOf::new(
        ClientCredentials::builder(DEV_TENANT_ID, MIDDLE)
            .authority(server.base_url.clone())
            .client_secret(ClientSecret::new(MIDDLE_SECRET))
            .build()
            .unwrap(),
    );
    let e = obo
        .token("eyJ.user.token", &[ORDERS_READ])
        .await
        .unwrap_err();
    assert!(matches!(e, Error::UiRequired(_)), "{e:?}");
    let response = e.challenge_response().unwrap();
    assert_eq!(response.status(), 401);
    let www = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        www.starts_with(r#"Bearer error="interaction_required""#),
        "{www}"
    );
    assert!(!www.contains("claims="), "{www}");
}

/// A caller that stops waiting (cancelled, timed out) before the answer: the request's own task
/// still records its outcome in the per-user cache. Here Entra refuses, so the entry, which
/// holds no token, is dropped rather than kept forever without an expiry.
#[tokio::test]
async fn the_request_task_records_the_outcome_when_its_caller_gave_up() {
    let body = serde_json::json!({
        "error": "invalid_grant",
        "error_description": "AADSTS50013: Assertion failed signature validation.",
        "error_codes": [50013],
    });
    let server = FakeServer::start(vec![
        Reply::json(400, body.to_string()).delay(Duration::from_millis(200)),
    ])
    .await;
    let obo = OnBehalfOf::new(
        ClientCredentials::builder(DEV_TENANT_ID, MIDDLE)
            .authority(server.base_url.clone())
            .client_secret(ClientSecret::new(MIDDLE_SECRET))
            .max_retries(0)
            .build()
            .unwrap(),
    );
    let user = "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl";
    let gave_up =
        tokio::time::timeout(Duration::from_millis(20), obo.token(user, &[ORDERS_READ])).await;
    assert!(gave_up.is_err(), "the caller should have stopped waiting");
    assert_eq!(obo.cached_entries(), 1);
    // The request goes on without its caller; when Entra's refusal arrives, the entry goes.
    let dropped = tokio::time::timeout(Duration::from_secs(5), async {
        while obo.cached_entries() != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(
        dropped.is_ok(),
        "the entry of the abandoned request was never recorded"
    );
    assert_eq!(server.requests().len(), 1);
}
