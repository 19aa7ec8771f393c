//! The managed identity credential against a scripted server on 127.0.0.1 (a stand-in for IMDS
//! and App Service's endpoint): the request of each protocol, retries, malformed answers, the
//! probe, and that the token and the identity header stay out of errors.

use std::time::{Duration, Instant};

use crate::common::fake::{FakeServer, Recorded, Reply};
use entra_client::{
    Clock, Error, ManagedIdentityCredential, ManagedIdentityCredentialBuilder, ManagedIdentityKind,
    ManualClock, TokenCredential,
};

const SCOPE: &str = "https://storage.azure.com/.default";
const RESOURCE: &str = "https://storage.azure.com";
const HEADER: &str = "identity-header-SECRET-1234";
const IMDS_PATH: &str = "/metadata/identity/oauth2/token";

/// IMDS at the scripted server, without the probe (whose request would take a scripted reply).
fn imds(server: &FakeServer) -> ManagedIdentityCredentialBuilder {
    ManagedIdentityCredential::builder()
        .imds_endpoint(format!("{}{IMDS_PATH}", server.base_url))
        .probe_timeout(None)
        .retry_base_delay(Duration::from_millis(1))
}

/// IMDS's refusal of a request without `Metadata: true`: the probe's answer on Azure.
fn imds_probe_answer() -> Reply {
    Reply::json(
        400,
        r#"{"error":"invalid_request","error_description":"Required metadata header not specified"}"#,
    )
}

fn app_service(server: &FakeServer) -> ManagedIdentityCredentialBuilder {
    ManagedIdentityCredential::builder()
        .app_service_endpoint(format!("{}/msi/token", server.base_url), HEADER)
        .retry_base_delay(Duration::from_millis(1))
}

fn imds_token(token: &str) -> Reply {
    Reply::json(
        200,
        format!(
            r#"{{"access_token":"{token}","client_id":"c","expires_in":"86399","expires_on":"4102444800","ext_expires_in":"86399","not_before":"1700000000","resource":"{RESOURCE}","token_type":"Bearer"}}"#
        ),
    )
}

fn app_service_token(token: &str, expires_on: u64) -> Reply {
    Reply::json(
        200,
        format!(
            r#"{{"access_token":"{token}","expires_on":"{expires_on}","resource":"{RESOURCE}","token_type":"Bearer","client_id":"c"}}"#
        ),
    )
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn query(r: &Recorded) -> Vec<(String, String)> {
    let q = r.path.split_once('?').map(|(_, q)| q).unwrap_or_default();
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

fn path(r: &Recorded) -> &str {
    r.path.split('?').next().unwrap_or_default()
}

fn assert_clean(e: &Error, token: &str) {
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(token), "{shown}");
    assert!(!shown.contains(HEADER), "{shown}");
}

#[tokio::test]
async fn imds_request_for_each_identity() {
    let server = FakeServer::start(vec![]).await;
    let cases = [
        (imds(&server), None),
        (imds(&server).client_id("cid"), Some(("client_id", "cid"))),
        (imds(&server).object_id("oid"), Some(("object_id", "oid"))),
        (
            imds(&server).resource_id("/subs/x/id"),
            Some(("msi_res_id", "/subs/x/id")),
        ),
    ];
    for (i, (builder, selector)) in cases.into_iter().enumerate() {
        server.push(imds_token("tok-imds"));
        let c = builder.build().unwrap();
        assert_eq!(c.kind(), ManagedIdentityKind::Imds);
        let t = c.token(SCOPE).await.unwrap();
        assert_eq!(t.secret(), "tok-imds");
        let remaining = t.remaining(std::time::SystemTime::now());
        assert!(remaining > Duration::from_secs(86_000), "{remaining:?}");
        let r = &server.requests()[i];
        assert_eq!(r.method, "GET");
        assert_eq!(path(r), IMDS_PATH);
        assert_eq!(r.header("metadata"), Some("true"));
        assert_eq!(r.header("x-identity-header"), None);
        let mut expected = vec![
            ("api-version".to_owned(), "2018-02-01".to_owned()),
            ("resource".to_owned(), RESOURCE.to_owned()),
        ];
        if let Some((k, v)) = selector {
            expected.push((k.to_owned(), v.to_owned()));
        }
        assert_eq!(query(r), expected);
    }
}

#[tokio::test]
async fn app_service_request_for_each_identity() {
    let server = FakeServer::start(vec![]).await;
    let cases = [
        (app_service(&server), None),
        (
            app_service(&server).client_id("cid"),
            Some(("client_id", "cid")),
        ),
        (
            app_service(&server).object_id("oid"),
            Some(("principal_id", "oid")),
        ),
        (
            app_service(&server).resource_id("/subs/x/id"),
            Some(("mi_res_id", "/subs/x/id")),
        ),
    ];
    let expires_on = unix_now() + 86_400;
    for (i, (builder, selector)) in cases.into_iter().enumerate() {
        server.push(app_service_token("tok-as", expires_on));
        let c = builder.build().unwrap();
        assert_eq!(c.kind(), ManagedIdentityKind::AppService);
        // Through the trait, as a chain or the tower layer would ask.
        let t = TokenCredential::token(&c, &[SCOPE]).await.unwrap();
        assert_eq!(t.secret(), "tok-as");
        assert_eq!(
            t.expires_on(),
            std::time::UNIX_EPOCH + Duration::from_secs(expires_on)
        );
        let r = &server.requests()[i];
        assert_eq!(path(r), "/msi/token");
        assert_eq!(r.header("x-identity-header"), Some(HEADER));
        assert_eq!(r.header("metadata"), None);
        let mut expected = vec![
            ("resource".to_owned(), RESOURCE.to_owned()),
            ("api-version".to_owned(), "2019-08-01".to_owned()),
        ];
        if let Some((k, v)) = selector {
            expected.push((k.to_owned(), v.to_owned()));
        }
        assert_eq!(query(r), expected);
    }
}

#[tokio::test]
async fn tokens_are_cached_per_resource() {
    let server = FakeServer::start(vec![imds_token("tok-1"), imds_token("tok-2")]).await;
    let c = imds(&server).build().unwrap();
    assert_eq!(c.token(SCOPE).await.unwrap().secret(), "tok-1");
    assert_eq!(c.token(SCOPE).await.unwrap().secret(), "tok-1");
    assert_eq!(
        c.token_for_resource(RESOURCE).await.unwrap().secret(),
        "tok-1"
    );
    assert_eq!(server.requests().len(), 1);
    assert_eq!(
        c.token("https://vault.azure.net/.default")
            .await
            .unwrap()
            .secret(),
        "tok-2"
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn imds_retries_410_404_429_and_5xx_then_succeeds() {
    let server = FakeServer::start(vec![
        Reply::json(410, "{}"),
        Reply::json(404, r#"{"error":"not_found"}"#),
        Reply::json(429, "{}").header("Retry-After", "0"),
        Reply::json(500, "{}"),
        Reply::json(503, "<html>busy</html>"),
        imds_token("tok-after-retries"),
    ])
    .await;
    let c = imds(&server).build().unwrap();
    let t = c.token(SCOPE).await.unwrap();
    assert_eq!(t.secret(), "tok-after-retries");
    assert_eq!(server.requests().len(), 6);
}

#[tokio::test]
async fn imds_gives_up_after_max_retries() {
    let server = FakeServer::start(vec![Reply::json(500, "{}"); 10]).await;
    let c = imds(&server).max_retries(2).build().unwrap();
    let e = c.token(SCOPE).await.unwrap_err();
    assert_eq!(server.requests().len(), 3);
    assert!(
        matches!(
            e,
            Error::ManagedIdentity {
                endpoint: ManagedIdentityKind::Imds,
                status: 500,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.is_retryable());
}

#[tokio::test]
async fn imds_410_is_retried_past_max_retries_within_the_upgrade_window() {
    let mut replies = vec![Reply::json(410, "{}"); 6];
    replies.push(imds_token("upgraded"));
    let server = FakeServer::start(replies).await;
    let c = imds(&server)
        .max_retries(1)
        .imds_upgrade_window(Duration::from_secs(60))
        .build()
        .unwrap();
    assert_eq!(c.token(SCOPE).await.unwrap().secret(), "upgraded");
    assert_eq!(server.requests().len(), 7);

    // A closed window: the 410 comes back.
    let server = FakeServer::start(vec![Reply::json(410, "{}"); 10]).await;
    let c = imds(&server)
        .retry_base_delay(Duration::from_millis(20))
        .imds_upgrade_window(Duration::from_millis(50))
        .build()
        .unwrap();
    let e = c.token(SCOPE).await.unwrap_err();
    assert_eq!(e.status(), Some(410));
    let n = server.requests().len();
    assert!((2..10).contains(&n), "{n} requests");
}

#[tokio::test]
async fn client_errors_are_not_retried_and_name_the_endpoint() {
    let server = FakeServer::start(vec![Reply::json(
        400,
        r#"{"error":"invalid_request","error_description":"Identity not found"}"#,
    )])
    .await;
    let c = imds(&server).client_id("nobody").build().unwrap();
    let e = c.token(SCOPE).await.unwrap_err();
    assert_eq!(server.requests().len(), 1);
    assert!(!e.is_retryable());
    assert_eq!(
        e.to_string(),
        "managed identity endpoint (IMDS) returned HTTP 400: invalid_request: Identity not found"
    );

    // App Service: 404 is not one of its transient answers; an echoed header is blanked out.
    let server = FakeServer::start(vec![
        Reply::json(404, "{}"),
        Reply::json(
            401,
            format!(r#"{{"statusCode":401,"message":"header {HEADER} is wrong"}}"#),
        ),
    ])
    .await;
    let c = app_service(&server).build().unwrap();
    let e = c.token(SCOPE).await.unwrap_err();
    assert_eq!(e.status(), Some(404));
    assert_eq!(server.requests().len(), 1);
    let e = c.token(SCOPE).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "managed identity endpoint (App Service) returned HTTP 401: header <redacted> is wrong"
    );
    assert_clean(&e, "no-token");
}

#[tokio::test]
async fn malformed_answers_are_invalid_responses_not_retried() {
    let server = FakeServer::start(vec![
        Reply::json(200, "<html>captive portal</html>"),
        Reply::json(
            200,
            r#"{"access_token":"TOKEN-SECRET","expires_on":"soon"}"#,
        ),
        Reply::json(
            200,
            r#"{"access_token":"TOKEN-SECRET","expires_in":"3600","token_type":"pop"}"#,
        ),
        Reply::json(200, format!(r#"{{"x":"{}"}}"#, "a".repeat(2 << 20))),
    ])
    .await;
    let c = imds(&server).build().unwrap();
    for (i, expect) in [
        "not a token response",
        "expires_in and expires_on",
        "token_type",
        "larger than",
    ]
    .into_iter()
    .enumerate()
    {
        let e = c.token(SCOPE).await.unwrap_err();
        assert!(matches!(e, Error::InvalidResponse(_)), "{e:?}");
        let shown = e.to_string();
        assert!(
            shown.contains("managed identity endpoint (IMDS)"),
            "{shown}"
        );
        assert!(shown.contains(expect), "{shown}");
        assert_clean(&e, "TOKEN-SECRET");
        assert_eq!(server.requests().len(), i + 1);
    }
}

#[tokio::test]
async fn the_token_and_the_header_never_show_in_debug() {
    let server =
        FakeServer::start(vec![app_service_token("TOKEN-SECRET", unix_now() + 3600)]).await;
    let c = app_service(&server).build().unwrap();
    let t = c.token(SCOPE).await.unwrap();
    for shown in [
        format!("{c:?}"),
        format!("{t:?}"),
        format!("{:?}", c.cache()),
    ] {
        assert!(!shown.contains("TOKEN-SECRET"), "{shown}");
        assert!(!shown.contains(HEADER), "{shown}");
    }
    let header = TokenCredential::authorization_header(&c, &[SCOPE])
        .await
        .unwrap();
    assert!(header.is_sensitive());
}

#[tokio::test]
async fn the_probe_fails_fast_when_nothing_listens_and_sends_nothing() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = ManagedIdentityCredential::builder()
        .imds_endpoint(format!("http://127.0.0.1:{port}{IMDS_PATH}"))
        .build()
        .unwrap();
    let started = Instant::now();
    let e = c.token(SCOPE).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert!(e.is_unavailable(), "{e:?}");
}

/// A listener whose accept queue is full: the kernel drops further SYNs, so a connection
/// neither succeeds nor is refused (as 169.254.169.254 off Azure). The probe gives up after its
/// timeout.
#[tokio::test]
async fn the_probe_times_out_when_the_endpoint_does_not_answer() {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    // Fill the accept queue (never accepted).
    let mut fillers = Vec::new();
    for _ in 0..8 {
        match tokio::time::timeout(
            Duration::from_millis(100),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(s)) => fillers.push(s),
            _ => break,
        }
    }
    let c = ManagedIdentityCredential::builder()
        .imds_endpoint(format!("http://{addr}{IMDS_PATH}"))
        .probe_timeout(Some(Duration::from_millis(300)))
        .build()
        .unwrap();
    let started = Instant::now();
    let e = c.token(SCOPE).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(e.is_unavailable(), "{e:?}");
    assert!(e.to_string().contains("within 300 ms"), "{e}");
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
    drop(fillers);
}

/// The probe is a GET without `Metadata: true`; IMDS's 400 JSON refusal means IMDS is there,
/// and the token request follows (with the header). No second probe after that.
#[tokio::test]
async fn the_probe_is_a_get_without_the_metadata_header_that_imds_refuses() {
    let server = FakeServer::start(vec![
        imds_probe_answer(),
        imds_token("tok-1"),
        imds_token("tok-2"),
    ])
    .await;
    let c = ManagedIdentityCredential::builder()
        .imds_endpoint(format!("{}{IMDS_PATH}", server.base_url))
        .build()
        .unwrap();
    assert_eq!(c.token(SCOPE).await.unwrap().secret(), "tok-1");
    assert_eq!(
        c.token("https://vault.azure.net/.default")
            .await
            .unwrap()
            .secret(),
        "tok-2"
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(path(&requests[0]), IMDS_PATH);
    assert_eq!(requests[0].header("Metadata"), None);
    assert_eq!(requests[1].header("Metadata"), Some("true"));
    assert_eq!(requests[2].header("Metadata"), Some("true"));
}

/// Another cloud's metadata server at the IMDS address (AWS, GCP): it answers, but not as IMDS
/// does (a 404 page, a 200 of its own). The credential is unavailable, not failed, and stays so
/// without probing again.
#[tokio::test]
async fn a_metadata_server_that_is_not_imds_is_unavailable_and_remembered() {
    for answer in [
        Reply::json(404, "<html>404 - Not Found</html>"),
        Reply::json(200, r#"{"Code":"Success"}"#),
        Reply::json(400, "bad request"),
    ] {
        let server = FakeServer::start(vec![answer, imds_token("never")]).await;
        let c = ManagedIdentityCredential::builder()
            .imds_endpoint(format!("{}{IMDS_PATH}", server.base_url))
            .build()
            .unwrap();
        let e = c.token(SCOPE).await.unwrap_err();
        assert!(e.is_unavailable(), "{e:?}");
        assert!(e.to_string().contains("is not IMDS"), "{e}");
        assert_eq!(server.requests().len(), 1);
        // Remembered: no second probe, no token request.
        let again = c.token(SCOPE).await.unwrap_err();
        assert!(again.is_unavailable(), "{again:?}");
        assert_eq!(again.to_string(), e.to_string());
        assert_eq!(server.requests().len(), 1);
    }
}

/// Off Azure, a probe that found nothing is not sent again: the second request fails at once.
#[tokio::test]
async fn a_failed_probe_is_remembered() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let c = ManagedIdentityCredential::builder()
        .imds_endpoint(format!("http://127.0.0.1:{port}{IMDS_PATH}"))
        .build()
        .unwrap();
    let e = c.token(SCOPE).await.unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    // Something listens there now: still unavailable, and it is not asked.
    let server_listener = std::net::TcpListener::bind(("127.0.0.1", port));
    let again = c.token(SCOPE).await.unwrap_err();
    assert!(again.is_unavailable(), "{again:?}");
    assert_eq!(again.to_string(), e.to_string());
    drop(server_listener);
}

#[tokio::test]
async fn once_imds_answered_connection_failures_are_retried_not_unavailable() {
    let server = FakeServer::start(vec![imds_probe_answer(), imds_token("tok-1")]).await;
    let endpoint = format!("{}{IMDS_PATH}", server.base_url);
    let c = ManagedIdentityCredential::builder()
        .imds_endpoint(&endpoint)
        .retry_base_delay(Duration::from_millis(1))
        .max_retries(1)
        .build()
        .unwrap();
    c.token(SCOPE).await.unwrap();
    drop(server);
    // The server is gone; a new resource needs a request: no probe any more, a transport
    // error after one retry.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let e = c
        .token("https://vault.azure.net/.default")
        .await
        .unwrap_err();
    assert!(!e.is_unavailable(), "{e:?}");
    assert!(matches!(e, Error::Transport(_)), "{e:?}");
}

#[tokio::test]
async fn tokens_are_renewed_before_they_expire() {
    let clock = ManualClock::starting_now();
    // A one-hour IMDS token: renewed 5 minutes before it expires.
    let server = FakeServer::start(vec![
        imds_token_for("tok-1", 3600),
        imds_token_for("tok-2", 3600),
    ])
    .await;
    let c = imds(&server).clock(clock.clone()).build().unwrap();
    assert_eq!(c.token(SCOPE).await.unwrap().secret(), "tok-1");
    clock.advance(Duration::from_secs(3600 - 301));
    assert_eq!(c.token(SCOPE).await.unwrap().secret(), "tok-1");
    clock.advance(Duration::from_secs(2));
    assert_eq!(c.token(SCOPE).await.unwrap().secret(), "tok-2");
    assert_eq!(server.requests().len(), 2);

    // A 24-hour App Service token (absolute expires_on): renewed at half its life.
    let now = clock.unix_seconds() as u64;
    let server = FakeServer::start(vec![
        app_service_token("day-1", now + 86_400),
        app_service_token("day-2", now + 43_201 + 86_400),
    ])
    .await;
    let c = app_service(&server).clock(clock.clone()).build().unwrap();
    assert_eq!(c.token(SCOPE).await.unwrap().secret(), "day-1");
    clock.advance(Duration::from_secs(43_199));
    assert_eq!(c.token(SCOPE).await.unwrap().secret(), "day-1");
    clock.advance(Duration::from_secs(2));
    assert_eq!(c.token(SCOPE).await.unwrap().secret(), "day-2");
    assert_eq!(server.requests().len(), 2);
}

fn imds_token_for(token: &str, expires_in: u64) -> Reply {
    Reply::json(
        200,
        format!(
            r#"{{"access_token":"{token}","expires_in":"{expires_in}","expires_on":"0","resource":"{RESOURCE}","token_type":"Bearer"}}"#
        ),
    )
}
