//! Wire-level behaviour against a scripted local server: request format, retries, timeouts,
//! error mapping, and that secrets never appear in errors.

use std::time::{Duration, Instant};

use crate::common::TestCert;
use crate::common::fake::{FakeServer, Reply};
use entra_client::{
    BearerTokenLayer, ClientCertificate, ClientCredentials, ClientCredentialsBuilder, ClientSecret,
    Error, ManualClock, RequestBuilderExt,
};
use tower::{Layer, ServiceExt};

const TENANT: &str = "contoso.onmicrosoft.com";
const CLIENT: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const SECRET: &str = "Zm9v~very.secret_VALUE-123";
const SCOPE: &str = "api://my-api/.default";

fn builder(server: &FakeServer) -> ClientCredentialsBuilder {
    ClientCredentials::builder(TENANT, CLIENT)
        .authority(&server.base_url)
        .client_secret(ClientSecret::new(SECRET))
        .retry_base_delay(Duration::from_millis(5))
}

fn assert_no_secret(e: &Error) {
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(SECRET), "{shown}");
}

#[tokio::test]
async fn secret_request_format_v2() {
    let server = FakeServer::start(vec![Reply::token("tok-v2", 3599)]).await;
    let c = builder(&server).build().unwrap();
    let t = c.token(SCOPE).await.unwrap();
    assert_eq!(t.secret(), "tok-v2");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert!(r.header("client-request-id").is_some());
    assert_eq!(r.param("grant_type").as_deref(), Some("client_credentials"));
    assert_eq!(r.param("client_id").as_deref(), Some(CLIENT));
    assert_eq!(r.param("client_secret").as_deref(), Some(SECRET));
    assert_eq!(r.param("scope").as_deref(), Some(SCOPE));
    assert_eq!(r.param("resource"), None);
    assert_eq!(r.param("client_assertion"), None);
}

#[tokio::test]
async fn resource_request_format_v1() {
    let server = FakeServer::start(vec![Reply::json(
        200,
        r#"{"token_type":"Bearer","expires_in":"3599","ext_expires_in":"3599","expires_on":"1","not_before":"1","resource":"api://my-api","access_token":"tok-v1"}"#,
    )])
    .await;
    let c = builder(&server).build().unwrap();
    let t = c.token_for_resource("api://my-api").await.unwrap();
    assert_eq!(t.secret(), "tok-v1");
    let r = &server.requests()[0];
    assert_eq!(r.path, format!("/{TENANT}/oauth2/token"));
    assert_eq!(r.param("resource").as_deref(), Some("api://my-api"));
    assert_eq!(r.param("scope"), None);
    // v1 and v2 tokens are cached separately.
    server.push(Reply::token("tok-v2", 3599));
    assert_eq!(
        c.token("api://my-api/.default").await.unwrap().secret(),
        "tok-v2"
    );
    assert_eq!(
        c.token_for_resource("api://my-api").await.unwrap().secret(),
        "tok-v1"
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn certificate_request_format() {
    let cert = TestCert::new("wire.test");
    let server = FakeServer::start(vec![Reply::token("tok-cert", 3599)]).await;
    let c = ClientCredentials::builder(TENANT, CLIENT)
        .authority(&server.base_url)
        .certificate(ClientCertificate::from_pem(cert.key_pem(), cert.cert_pem()).unwrap())
        .build()
        .unwrap();
    c.token(SCOPE).await.unwrap();
    let r = &server.requests()[0];
    assert_eq!(r.param("client_secret"), None);
    assert_eq!(
        r.param("client_assertion_type").as_deref(),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );
    let assertion = r.param("client_assertion").unwrap();
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(cert.public_key_pem().as_bytes()).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[format!("{}/{TENANT}/oauth2/v2.0/token", server.base_url)]);
    jsonwebtoken::decode::<serde_json::Value>(&assertion, &key, &v).expect("aud is the endpoint");
}

#[tokio::test]
async fn retries_server_errors_then_gives_up() {
    let server = FakeServer::start(vec![
        Reply::json(500, "oops"),
        Reply::json(503, "{}"),
        Reply::json(502, "<html>"),
        Reply::token("never", 3599),
    ])
    .await;
    let c = builder(&server).max_retries(2).build().unwrap();
    let e = c.token(SCOPE).await.unwrap_err();
    assert_eq!(server.requests().len(), 3, "1 + max_retries");
    assert!(
        matches!(e, Error::UnexpectedStatus { status: 502, .. }),
        "{e:?}"
    );
    assert!(e.is_retryable());
    assert_no_secret(&e);
}

#[tokio::test]
async fn retry_then_success() {
    let server = FakeServer::start(vec![
        Reply::json(500, r#"{"error":"server_error","error_description":"AADSTS50000: boom","error_codes":[50000]}"#),
        Reply::token("after-retry", 3599),
    ])
    .await;
    let c = builder(&server).build().unwrap();
    assert_eq!(c.token(SCOPE).await.unwrap().secret(), "after-retry");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn no_retry_on_client_errors() {
    for status in [400u16, 401, 403] {
        let server = FakeServer::start(vec![Reply::json(
            status,
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215],"trace_id":"t-1","correlation_id":"c-1"}"#,
        )])
        .await;
        let c = builder(&server).max_retries(3).build().unwrap();
        let e = c.token(SCOPE).await.unwrap_err();
        assert_eq!(server.requests().len(), 1, "HTTP {status}");
        assert_eq!(e.aadsts_code(), Some(7000215));
        assert_eq!(e.status(), Some(status));
        let entra = e.entra().unwrap();
        assert_eq!(entra.error, "invalid_client");
        assert_eq!(entra.trace_id.as_deref(), Some("t-1"));
        assert_eq!(entra.correlation_id.as_deref(), Some("c-1"));
        assert_no_secret(&e);
    }
}

#[tokio::test]
async fn throttling_honours_retry_after_with_a_cap() {
    let server = FakeServer::start(vec![
        Reply::json(
            429,
            r#"{"error":"temporarily_unavailable","error_codes":[50196]}"#,
        )
        .header("Retry-After", "1"),
        Reply::token("after-429", 3599),
    ])
    .await;
    let c = builder(&server).build().unwrap();
    let start = Instant::now();
    assert_eq!(c.token(SCOPE).await.unwrap().secret(), "after-429");
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "{:?}",
        start.elapsed()
    );

    // Retry-After beyond the cap waits only the cap.
    let server = FakeServer::start(vec![
        Reply::json(429, "").header("Retry-After", "120"),
        Reply::token("capped", 3599),
    ])
    .await;
    let c = builder(&server)
        .max_retry_delay(Duration::from_millis(20))
        .build()
        .unwrap();
    let start = Instant::now();
    assert_eq!(c.token(SCOPE).await.unwrap().secret(), "capped");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn timeouts_are_retried_and_reported() {
    let server = FakeServer::start(vec![
        Reply::token("slow", 3599).delay(Duration::from_secs(3)),
        Reply::token("slow", 3599).delay(Duration::from_secs(3)),
    ])
    .await;
    let c = builder(&server)
        .timeout(Duration::from_millis(200))
        .max_retries(1)
        .build()
        .unwrap();
    let e = c.token(SCOPE).await.unwrap_err();
    assert!(matches!(e, Error::Timeout(_)), "{e:?}");
    assert_eq!(server.requests().len(), 2);
    assert_no_secret(&e);
}

#[tokio::test]
async fn connection_refused_is_a_transport_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = ClientCredentials::builder(TENANT, CLIENT)
        .authority(format!("http://127.0.0.1:{port}"))
        .client_secret(ClientSecret::new(SECRET))
        .retry_base_delay(Duration::from_millis(1))
        .build()
        .unwrap();
    let e = c.token(SCOPE).await.unwrap_err();
    assert!(matches!(e, Error::Transport(_)), "{e:?}");
    assert!(e.is_retryable());
    assert_no_secret(&e);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = FakeServer::start(vec![
        Reply::json(302, "").header("Location", "http://127.0.0.1:1/elsewhere"),
    ])
    .await;
    let c = builder(&server).build().unwrap();
    let e = c.token(SCOPE).await.unwrap_err();
    assert!(
        matches!(e, Error::UnexpectedStatus { status: 302, .. }),
        "{e:?}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn malformed_success_does_not_leak_the_body() {
    let server = FakeServer::start(vec![Reply::json(
        200,
        r#"{"access_token":"LEAKED-TOKEN","token_type":"Bearer","expires_in":"soon"}"#,
    )])
    .await;
    let c = builder(&server).build().unwrap();
    let e = c.token(SCOPE).await.unwrap_err();
    assert!(matches!(e, Error::InvalidResponse(_)), "{e:?}");
    assert!(!format!("{e} {e:?}").contains("LEAKED-TOKEN"));
}

#[tokio::test]
async fn cache_reuse_and_refresh_with_fake_clock() {
    let clock = ManualClock::starting_now();
    let server = FakeServer::start(vec![
        Reply::token("first", 3600),
        Reply::token("second", 3600),
    ])
    .await;
    let c = builder(&server)
        .clock(clock.clone())
        .refresh_margin(Duration::from_secs(300))
        .build()
        .unwrap();
    for _ in 0..5 {
        assert_eq!(c.token(SCOPE).await.unwrap().secret(), "first");
    }
    clock.advance(Duration::from_secs(3600 - 301));
    assert_eq!(c.token(SCOPE).await.unwrap().secret(), "first");
    clock.advance(Duration::from_secs(1));
    assert_eq!(c.token(SCOPE).await.unwrap().secret(), "second");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn tower_layer_sets_the_authorization_header() {
    let server = FakeServer::start(vec![Reply::token("layer-token", 3599)]).await;
    let c = builder(&server).build().unwrap();
    let inner = tower::service_fn(|req: http::Request<()>| async move {
        let auth = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|v| (v.to_str().unwrap().to_owned(), v.is_sensitive()));
        Ok::<_, std::convert::Infallible>(http::Response::new(auth))
    });
    let svc = BearerTokenLayer::new(c.clone(), SCOPE).layer(inner);
    for _ in 0..3 {
        let response = svc.clone().oneshot(http::Request::new(())).await.unwrap();
        assert_eq!(
            response.into_body(),
            Some(("Bearer layer-token".to_owned(), true))
        );
    }
    assert_eq!(server.requests().len(), 1, "tokens come from the cache");

    // A token failure fails the call without calling the inner service.
    let failing = FakeServer::start(vec![Reply::json(
        400,
        r#"{"error":"invalid_scope","error_codes":[70011]}"#,
    )])
    .await;
    let inner = tower::service_fn(|_: http::Request<()>| async move {
        panic!("must not be called");
        #[allow(unreachable_code)]
        Ok::<http::Response<()>, std::convert::Infallible>(http::Response::new(()))
    });
    let svc = BearerTokenLayer::new(builder(&failing).build().unwrap(), SCOPE).layer(inner);
    let e = svc.oneshot(http::Request::new(())).await.unwrap_err();
    let e = e.downcast::<Error>().unwrap();
    assert_eq!(e.aadsts_code(), Some(70011));
}

#[tokio::test]
async fn reqwest_extension_sets_the_authorization_header() {
    let server = FakeServer::start(vec![Reply::token("reqwest-token", 3599)]).await;
    let c = builder(&server).build().unwrap();
    let request = reqwest::Client::new()
        .get("http://127.0.0.1:9/api")
        .with_entra_token(&c, SCOPE)
        .await
        .unwrap()
        .build()
        .unwrap();
    let value = request.headers().get(http::header::AUTHORIZATION).unwrap();
    assert_eq!(value.to_str().unwrap(), "Bearer reqwest-token");
    assert!(value.is_sensitive());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_callers_share_one_request() {
    let clock = ManualClock::starting_now();
    let server = FakeServer::start(vec![
        Reply::token("one", 3600),
        Reply::token("two", 3600).delay(Duration::from_millis(100)),
    ])
    .await;
    let c = builder(&server).clock(clock.clone()).build().unwrap();
    assert_eq!(c.token(SCOPE).await.unwrap().secret(), "one");
    clock.advance(Duration::from_secs(3600 - 60));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.token(SCOPE).await.map(|t| t.secret().to_owned()) })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), "two");
    }
    assert_eq!(server.requests().len(), 2, "exactly one refresh");
}

#[tokio::test]
async fn huge_expires_in_is_an_invalid_response_for_every_waiter() {
    let server = FakeServer::start(vec![
        Reply::json(
            200,
            format!(
                r#"{{"access_token":"HUGE-TOKEN","token_type":"Bearer","expires_in":{}}}"#,
                u64::MAX
            ),
        )
        .delay(Duration::from_millis(100)),
        Reply::token("after", 3600),
    ])
    .await;
    let c = builder(&server).build().unwrap();
    // Callers that wait on the same refresh all get the error (not `Interrupted`).
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.token(SCOPE).await })
        })
        .collect();
    for t in tasks {
        let e = t.await.unwrap().unwrap_err();
        assert!(matches!(e, Error::InvalidResponse(_)), "{e:?}");
        assert!(!format!("{e} {e:?}").contains("HUGE-TOKEN"));
    }
    assert_eq!(
        server.requests().len(),
        1,
        "one request for all the waiters"
    );
    // The next call asks again.
    assert_eq!(c.token(SCOPE).await.unwrap().secret(), "after");
    assert_eq!(server.requests().len(), 2);
}
