//! Integration tests against the local Entra emulator over HTTP on 127.0.0.1.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::common::TestCert;
use crate::common::fake::{FakeServer, Reply};
use entra_client::{
    AssertionAlgorithm, ClientCertificate, ClientCredentials, ClientCredentialsBuilder,
    ClientSecret, Clock, Error, ManualClock,
};
use entra_emulator::{
    App, DEV_API_CLIENT_ID, DEV_CLIENT_ID, DEV_CLIENT_SECRET, DEV_TENANT_ID, Emulator, Endpoint,
    Fault, TokenVersion,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use p12_keystore::{EncryptionAlgorithm, MacAlgorithm};
use serde_json::Value;

fn api_scope() -> String {
    format!("api://{DEV_API_CLIENT_ID}/.default")
}

fn secret_builder(emu: &Emulator) -> ClientCredentialsBuilder {
    ClientCredentials::builder(DEV_TENANT_ID, DEV_CLIENT_ID)
        .authority(emu.base_url().to_string())
        .client_secret(ClientSecret::new(DEV_CLIENT_SECRET))
        .retry_base_delay(Duration::from_millis(5))
}

/// Verifies an access token against the emulator's signing key; returns its claims.
fn verify_token(emu: &Emulator, token: &str) -> Value {
    let jwk = emu.active_key().jwk(None);
    let key = DecodingKey::from_rsa_components(
        jwk["n"].as_str().expect("n"),
        jwk["e"].as_str().expect("e"),
    )
    .unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[
        DEV_API_CLIENT_ID.to_string(),
        format!("api://{DEV_API_CLIENT_ID}"),
    ]);
    let data = jsonwebtoken::decode::<Value>(token, &key, &v).expect("token verifies");
    assert_eq!(data.header.kid.as_deref(), Some(emu.active_key().kid()));
    data.claims
}

fn caller(claims: &Value) -> &str {
    claims["azp"]
        .as_str()
        .or_else(|| claims["appid"].as_str())
        .expect("azp or appid")
}

fn roles(claims: &Value) -> Vec<String> {
    claims["roles"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Registers a client app with this certificate and the Api.Admin role on the dev API.
async fn register_cert_app(emu: &Emulator, cert: &TestCert) -> String {
    let client_id = uuid::Uuid::new_v4().to_string();
    emu.register_app(
        DEV_TENANT_ID,
        App::new(&client_id).certificate_der(cert.cert_der()),
    );
    emu.assign_app_role(DEV_TENANT_ID, &client_id, DEV_API_CLIENT_ID, "Api.Admin");
    client_id
}

fn cert_builder(
    emu: &Emulator,
    client_id: &str,
    cert: ClientCertificate,
) -> ClientCredentialsBuilder {
    ClientCredentials::builder(DEV_TENANT_ID, client_id)
        .authority(emu.base_url().to_string())
        .certificate(cert)
        .retry_base_delay(Duration::from_millis(5))
}

#[tokio::test]
async fn token_with_client_secret() {
    let emu = Emulator::start().await.unwrap();
    let creds = secret_builder(&emu).build().unwrap();
    let token = creds.token(&api_scope()).await.unwrap();
    let claims = verify_token(&emu, token.secret());
    assert_eq!(caller(&claims), DEV_CLIENT_ID);
    let roles = roles(&claims);
    assert!(roles.contains(&"Api.Admin".to_owned()), "{roles:?}");
    assert!(roles.contains(&"Files.Read.All".to_owned()), "{roles:?}");
    assert!(token.expires_on() > SystemTime::now() + Duration::from_secs(600));

    let header = creds.authorization_header(&api_scope()).await.unwrap();
    assert_eq!(
        header.to_str().unwrap(),
        format!("Bearer {}", token.secret())
    );
    assert!(header.is_sensitive());
    assert_eq!(
        emu.request_count(Endpoint::Token),
        1,
        "header came from the cache"
    );
}

#[tokio::test]
async fn token_from_v1_endpoint() {
    let emu = Emulator::start().await.unwrap();
    let creds = secret_builder(&emu).build().unwrap();
    let token = creds
        .token_for_resource(&format!("api://{DEV_API_CLIENT_ID}"))
        .await
        .unwrap();
    let claims = verify_token(&emu, token.secret());
    assert_eq!(caller(&claims), DEV_CLIENT_ID);
}

#[tokio::test]
async fn token_with_pem_certificate_rs256_and_ps256() {
    let emu = Emulator::start().await.unwrap();
    let cert = TestCert::new("pem-client.test");
    let client_id = register_cert_app(&emu, &cert).await;
    for alg in [AssertionAlgorithm::Rs256, AssertionAlgorithm::Ps256] {
        let creds = cert_builder(
            &emu,
            &client_id,
            ClientCertificate::from_pem(cert.key_pem(), cert.cert_pem()).unwrap(),
        )
        .signing(alg)
        .build()
        .unwrap();
        let token = creds
            .token(&api_scope())
            .await
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        let claims = verify_token(&emu, token.secret());
        assert_eq!(caller(&claims), client_id);
        assert_eq!(roles(&claims), vec!["Api.Admin".to_owned()]);
    }
}

#[tokio::test]
async fn token_with_pfx_certificate() {
    let emu = Emulator::start().await.unwrap();
    let cert = TestCert::new("pfx-client.test");
    let client_id = register_cert_app(&emu, &cert).await;
    for (alg, mac) in [
        (
            EncryptionAlgorithm::PbeWithHmacSha256AndAes256,
            MacAlgorithm::HmacSha256,
        ),
        (
            EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc,
            MacAlgorithm::HmacSha1,
        ),
    ] {
        let pfx = cert.pkcs12("pfx-password", alg, mac);
        let creds = cert_builder(
            &emu,
            &client_id,
            ClientCertificate::from_pkcs12(&pfx, "pfx-password").unwrap(),
        )
        .send_x5c(true)
        .build()
        .unwrap();
        let token = creds.token(&api_scope()).await.unwrap();
        let claims = verify_token(&emu, token.secret());
        assert_eq!(caller(&claims), client_id);
    }
}

#[tokio::test]
async fn cache_reuses_and_refreshes_at_the_margin() {
    let emu = Emulator::start().await.unwrap();
    let clock = ManualClock::starting_now();
    let creds = secret_builder(&emu)
        .clock(clock.clone())
        .refresh_margin(Duration::from_secs(300))
        .build()
        .unwrap();
    let first = creds.token(&api_scope()).await.unwrap();
    for _ in 0..10 {
        assert_eq!(
            creds.token(&api_scope()).await.unwrap().secret(),
            first.secret()
        );
    }
    assert_eq!(emu.request_count(Endpoint::Token), 1);

    // Just before the margin: still cached.
    let lifetime = first.expires_on().duration_since(clock.now()).unwrap();
    clock.advance(lifetime - Duration::from_secs(301));
    creds.token(&api_scope()).await.unwrap();
    assert_eq!(emu.request_count(Endpoint::Token), 1);

    // Inside the margin: exactly one refresh.
    clock.advance(Duration::from_secs(2));
    let second = creds.token(&api_scope()).await.unwrap();
    assert_eq!(emu.request_count(Endpoint::Token), 2);
    assert_ne!(second.secret(), first.secret());
    assert!(second.expires_on() > first.expires_on());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_callers_one_refresh() {
    let emu = Emulator::start().await.unwrap();
    let clock = ManualClock::starting_now();
    let creds = secret_builder(&emu).clock(clock.clone()).build().unwrap();
    let first = creds.token(&api_scope()).await.unwrap();
    assert_eq!(emu.request_count(Endpoint::Token), 1);
    clock
        .advance(first.expires_on().duration_since(clock.now()).unwrap() - Duration::from_secs(60));
    // Slow the endpoint down so that all callers pile up behind the one refresh.
    emu.set_fault(Endpoint::Token, Fault::Delay(Duration::from_millis(200)));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let creds = creds.clone();
            tokio::spawn(async move {
                creds
                    .token(&api_scope())
                    .await
                    .map(|t| t.secret().to_owned())
            })
        })
        .collect();
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.unwrap().unwrap());
    }
    assert_eq!(
        emu.request_count(Endpoint::Token),
        2,
        "exactly one extra request"
    );
    assert!(tokens.iter().all(|t| t == &tokens[0]));
    assert_ne!(tokens[0], first.secret());
}

/// The token endpoint answers after this delay in the cancellation tests; every caller there
/// gives up long before.
const SLOW_ANSWER: Duration = Duration::from_millis(800);
const GIVE_UP_AFTER: Duration = Duration::from_millis(50);

/// Asserts that the emulator has received exactly `expected` token requests, allowing a request
/// sent by a refresh task a moment (up to 5 s on a busy machine) to arrive: waits until the count
/// reaches `expected`, then checks it again a little later, so that an extra request would still
/// be caught.
async fn assert_token_requests(emu: &Emulator, expected: usize, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while emu.request_count(Endpoint::Token) < expected && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(emu.request_count(Endpoint::Token), expected, "{what}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        emu.request_count(Endpoint::Token),
        expected,
        "{what} (later)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_caller_does_not_abort_the_refresh() {
    let emu = Emulator::start().await.unwrap();
    emu.set_fault(Endpoint::Token, Fault::Delay(SLOW_ANSWER));
    let creds = secret_builder(&emu).build().unwrap();

    // The caller that starts the request gives up (its own deadline) before the answer.
    let gave_up = tokio::time::timeout(GIVE_UP_AFTER, creds.token(&api_scope())).await;
    assert!(gave_up.is_err(), "the first caller gives up: {gave_up:?}");
    assert_token_requests(&emu, 1, "the request goes on without the caller").await;

    // A caller that comes afterwards gets the token of that same request.
    let token = creds.token(&api_scope()).await.unwrap();
    verify_token(&emu, token.secret());
    assert_eq!(
        emu.request_count(Endpoint::Token),
        1,
        "the second caller waited for the first request instead of sending another"
    );
    let again = creds.token(&api_scope()).await.unwrap();
    assert_eq!(again.secret(), token.secret());
    assert_eq!(emu.request_count(Endpoint::Token), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_that_all_give_up_cause_one_request_and_the_token_is_cached() {
    let emu = Emulator::start().await.unwrap();
    let clock = ManualClock::starting_now();
    let creds = secret_builder(&emu).clock(clock.clone()).build().unwrap();
    let first = creds.token(&api_scope()).await.unwrap();
    // Into the refresh margin, with a slow token endpoint.
    clock
        .advance(first.expires_on().duration_since(clock.now()).unwrap() - Duration::from_secs(60));
    emu.set_fault(Endpoint::Token, Fault::Delay(SLOW_ANSWER));

    // Many callers (tasks of their own, and a `select!` that picks another branch), all of
    // which give up before the slow answer.
    let mut callers: Vec<_> = (0..20)
        .map(|_| {
            let creds = creds.clone();
            tokio::spawn(async move {
                tokio::time::timeout(GIVE_UP_AFTER, creds.token(&api_scope()))
                    .await
                    .is_err()
            })
        })
        .collect();
    callers.push(tokio::spawn({
        let creds = creds.clone();
        async move {
            let scope = api_scope();
            tokio::select! {
                _ = creds.token(&scope) => false,
                () = tokio::time::sleep(GIVE_UP_AFTER) => true,
            }
        }
    }));
    for caller in callers {
        assert!(caller.await.unwrap(), "every caller gives up");
    }
    assert_token_requests(&emu, 2, "one refresh request").await;

    // Later callers get the refreshed token without another request, from that request (if
    // it is still in flight) or from the cache.
    let refreshed = creds.token(&api_scope()).await.unwrap();
    assert_ne!(refreshed.secret(), first.secret());
    verify_token(&emu, refreshed.secret());
    emu.clear_faults();
    for _ in 0..5 {
        assert_eq!(
            creds.token(&api_scope()).await.unwrap().secret(),
            refreshed.secret()
        );
    }
    assert_eq!(
        emu.request_count(Endpoint::Token),
        2,
        "the abandoned refresh was the only one, and its token is cached"
    );
}

#[tokio::test]
async fn retries_on_500_and_not_on_4xx() {
    let emu = Emulator::start().await.unwrap();
    emu.set_fault(Endpoint::Token, Fault::Status(500));
    let creds = secret_builder(&emu).max_retries(2).build().unwrap();
    let e = creds.token(&api_scope()).await.unwrap_err();
    assert_eq!(e.status(), Some(500), "{e:?}");
    assert_eq!(emu.request_count(Endpoint::Token), 3, "1 + max_retries");

    let emu = Emulator::start().await.unwrap();
    let creds = ClientCredentials::builder(DEV_TENANT_ID, DEV_CLIENT_ID)
        .authority(emu.base_url().to_string())
        .client_secret(ClientSecret::new("wrong-secret"))
        .max_retries(3)
        .build()
        .unwrap();
    let e = creds.token(&api_scope()).await.unwrap_err();
    assert_eq!(e.status(), Some(401), "{e:?}");
    assert_eq!(emu.request_count(Endpoint::Token), 1, "no retry on 401");

    let e = secret_builder(&emu)
        .max_retries(3)
        .build()
        .unwrap()
        .token("api://no-such-api/.default")
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(400), "{e:?}");
    assert_eq!(emu.request_count(Endpoint::Token), 2, "no retry on 400");
}

async fn expect_code(result: Result<entra_client::AccessToken, Error>, code: u32) -> Error {
    let e = result.expect_err("an error");
    assert_eq!(e.aadsts_code(), Some(code), "{e:?}");
    let entra = e.entra().expect("typed Entra error");
    assert!(!entra.error.is_empty());
    assert!(entra.trace_id.is_some(), "{entra:?}");
    assert!(entra.correlation_id.is_some(), "{entra:?}");
    assert!(e.to_string().contains(&format!("AADSTS{code}")), "{e}");
    e
}

#[tokio::test]
async fn entra_error_codes_map_to_typed_errors() {
    let emu = Emulator::start().await.unwrap();
    let base = emu.base_url().to_string();
    let scope = api_scope();

    // 700016: unknown client.
    let c = ClientCredentials::builder(DEV_TENANT_ID, uuid::Uuid::new_v4().to_string())
        .authority(&base)
        .client_secret(ClientSecret::new("x"))
        .build()
        .unwrap();
    let e = expect_code(c.token(&scope).await, 700016).await;
    assert_eq!(e.status(), Some(400));

    // 7000215: wrong secret; the secret never shows up in the error.
    let wrong = "Wr0ng~Secret.Value_42";
    let c = ClientCredentials::builder(DEV_TENANT_ID, DEV_CLIENT_ID)
        .authority(&base)
        .client_secret(ClientSecret::new(wrong))
        .build()
        .unwrap();
    let e = expect_code(c.token(&scope).await, 7000215).await;
    assert_eq!(e.status(), Some(401));
    assert!(!format!("{e} {e:?}").contains(wrong));

    // 7000222: expired secret.
    let expired_client = uuid::Uuid::new_v4().to_string();
    emu.register_app(
        DEV_TENANT_ID,
        App::new(&expired_client).secret(
            entra_emulator::ClientSecret::new("expired-secret")
                .expires_at(SystemTime::now() - Duration::from_secs(60)),
        ),
    );
    let c = ClientCredentials::builder(DEV_TENANT_ID, &expired_client)
        .authority(&base)
        .client_secret(ClientSecret::new("expired-secret"))
        .build()
        .unwrap();
    expect_code(c.token(&scope).await, 7000222).await;

    // 700027: assertion signed by a key the app does not have.
    let registered = TestCert::new("registered.test");
    let other = TestCert::new("other.test");
    let client_id = register_cert_app(&emu, &registered).await;
    let c = cert_builder(
        &emu,
        &client_id,
        ClientCertificate::from_pem(other.key_pem(), other.cert_pem()).unwrap(),
    )
    .build()
    .unwrap();
    expect_code(c.token(&scope).await, 700027).await;

    // 700024: assertion outside its time window (clock one hour behind; given as an `Arc`, as
    // the builder took it before it took any `Clock`).
    let late = Arc::new(ManualClock::new(
        SystemTime::now() - Duration::from_secs(3600),
    ));
    let c = cert_builder(
        &emu,
        &client_id,
        ClientCertificate::from_pem(registered.key_pem(), registered.cert_pem()).unwrap(),
    )
    .clock(late)
    .build()
    .unwrap();
    expect_code(c.token(&scope).await, 700024).await;

    // 70011: invalid scope (not `{resource}/.default`); 500011: unknown resource.
    let c = secret_builder(&emu).build().unwrap();
    let e = expect_code(c.token(&format!("api://{DEV_API_CLIENT_ID}")).await, 70011).await;
    assert_eq!(e.entra().unwrap().error, "invalid_scope");
    expect_code(c.token("api://no-such-api/.default").await, 500011).await;

    // 90002: unknown tenant.
    let c = ClientCredentials::builder(uuid::Uuid::new_v4().to_string(), DEV_CLIENT_ID)
        .authority(&base)
        .client_secret(ClientSecret::new(DEV_CLIENT_SECRET))
        .build()
        .unwrap();
    expect_code(c.token(&scope).await, 90002).await;
}

/// Errors a correct client cannot provoke (no credential, wrong grant type, missing parameter):
/// take the emulator's real answer with a raw request and replay it to the client.
#[tokio::test]
async fn replayed_emulator_errors_map_to_typed_errors() {
    let emu = Emulator::start().await.unwrap();
    let endpoint = emu
        .token_endpoint(DEV_TENANT_ID, TokenVersion::V2)
        .to_string();
    let scope = api_scope();
    let http = reqwest::Client::new();
    let cases: [(&[(&str, &str)], u32); 3] = [
        (
            &[
                ("grant_type", "client_credentials"),
                ("client_id", DEV_CLIENT_ID),
                ("scope", &scope),
            ],
            7000218,
        ),
        (
            &[
                // An unsupported grant (the password grant is supported since the emulator
                // signs users in).
                ("grant_type", "implicit"),
                ("client_id", DEV_CLIENT_ID),
                ("client_secret", DEV_CLIENT_SECRET),
                ("scope", &scope),
            ],
            70003,
        ),
        (
            &[
                ("client_id", DEV_CLIENT_ID),
                ("client_secret", DEV_CLIENT_SECRET),
                ("scope", &scope),
            ],
            900144,
        ),
    ];
    for (form, code) in cases {
        let response = http.post(&endpoint).form(form).send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        let server = FakeServer::start(vec![Reply::json(status, body)]).await;
        let c = ClientCredentials::builder(DEV_TENANT_ID, DEV_CLIENT_ID)
            .authority(&server.base_url)
            .client_secret(ClientSecret::new(DEV_CLIENT_SECRET))
            .build()
            .unwrap();
        let e = expect_code(c.token(&scope).await, code).await;
        assert_eq!(e.status(), Some(status));
        assert_eq!(server.requests().len(), 1, "AADSTS{code}: not retried");
    }
}

#[tokio::test]
async fn debug_output_never_contains_secrets_or_tokens() {
    let emu = Emulator::start().await.unwrap();
    let creds = secret_builder(&emu).build().unwrap();
    let token = creds.token(&api_scope()).await.unwrap();
    let shown = format!("{creds:?} {creds:#?} {token:?} {token:#?}");
    assert!(!shown.contains(DEV_CLIENT_SECRET), "{shown}");
    assert!(!shown.contains(token.secret()), "{shown}");
    let header = creds.authorization_header(&api_scope()).await.unwrap();
    assert!(!format!("{header:?}").contains(token.secret()));
}

#[tokio::test]
async fn broken_responses_and_dropped_connections() {
    let emu = Emulator::start().await.unwrap();
    let creds = secret_builder(&emu).max_retries(1).build().unwrap();

    for fault in [Fault::Html, Fault::InvalidJson, Fault::Oversized(2 << 20)] {
        emu.set_fault(Endpoint::Token, fault.clone());
        let e = creds.token(&api_scope()).await.unwrap_err();
        assert!(matches!(e, Error::InvalidResponse(_)), "{fault:?}: {e:?}");
        assert!(!e.is_retryable());
    }
    let before = emu.request_count(Endpoint::Token);
    assert_eq!(before, 3, "invalid success responses are not retried");

    emu.set_fault(Endpoint::Token, Fault::DropConnection);
    let e = creds.token(&api_scope()).await.unwrap_err();
    assert!(matches!(e, Error::Transport(_)), "{e:?}");
    assert_eq!(
        emu.request_count(Endpoint::Token),
        before + 2,
        "1 + max_retries"
    );

    emu.set_fault(Endpoint::Token, Fault::Delay(Duration::from_secs(5)));
    let slow = secret_builder(&emu)
        .timeout(Duration::from_millis(200))
        .max_retries(0)
        .build()
        .unwrap();
    let e = slow.token(&api_scope()).await.unwrap_err();
    assert!(matches!(e, Error::Timeout(_)), "{e:?}");

    emu.clear_faults();
    creds.token(&api_scope()).await.unwrap();
}
