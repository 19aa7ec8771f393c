use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use super::builder::{SourceConfig, source_from_env};
use super::request::{error_message, parse_response};
use super::retry::{RetryPolicy, retryable_status};
use super::*;

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

#[test]
fn scopes_map_to_resources() {
    assert_eq!(
        scope_to_resource("https://storage.azure.com/.default").unwrap(),
        "https://storage.azure.com"
    );
    assert_eq!(
        scope_to_resource("api://my-api/.default").unwrap(),
        "api://my-api"
    );
    for bad in [
        "https://graph.microsoft.com/User.Read",
        "/.default",
        "",
        "api://x",
    ] {
        assert!(
            matches!(scope_to_resource(bad), Err(Error::InvalidScope(_))),
            "{bad}"
        );
    }
}

#[test]
fn each_protocol_names_the_identity_its_own_way() {
    use ManagedIdentityKind::{AppService, Imds};
    let id = |s: &str| s.to_owned();
    assert_eq!(ManagedIdentityId::SystemAssigned.query_param(Imds), None);
    assert_eq!(
        ManagedIdentityId::SystemAssigned.query_param(AppService),
        None
    );
    let client = ManagedIdentityId::ClientId(id("c"));
    assert_eq!(client.query_param(Imds), Some(("client_id", "c")));
    assert_eq!(client.query_param(AppService), Some(("client_id", "c")));
    let object = ManagedIdentityId::ObjectId(id("o"));
    assert_eq!(object.query_param(Imds), Some(("object_id", "o")));
    assert_eq!(object.query_param(AppService), Some(("principal_id", "o")));
    let resource = ManagedIdentityId::ResourceId(id("/r"));
    assert_eq!(resource.query_param(Imds), Some(("msi_res_id", "/r")));
    assert_eq!(resource.query_param(AppService), Some(("mi_res_id", "/r")));
}

#[test]
fn the_environment_chooses_the_protocol() {
    let app_service = source_from_env(&vars(&[
        ("IDENTITY_ENDPOINT", "http://localhost:42356/msi/token"),
        ("IDENTITY_HEADER", "header-secret"),
    ]));
    match &app_service {
        SourceConfig::AppService(endpoint, header) => {
            assert_eq!(endpoint, "http://localhost:42356/msi/token");
            assert_eq!(header.as_str(), "header-secret");
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{app_service:?}").contains("header-secret"));

    // One of the two is not enough (Azure Arc sets IDENTITY_ENDPOINT alone), nor empty values.
    for env in [
        vars(&[("IDENTITY_ENDPOINT", "http://localhost:1/msi/token")]),
        vars(&[("IDENTITY_HEADER", "h")]),
        vars(&[
            ("IDENTITY_ENDPOINT", "http://localhost:1/msi/token"),
            ("IDENTITY_HEADER", " "),
        ]),
        vars(&[]),
    ] {
        match source_from_env(&env) {
            SourceConfig::Imds(endpoint) => assert_eq!(endpoint, defaults::IMDS_ENDPOINT),
            other => panic!("{other:?}"),
        }
    }
    match source_from_env(&vars(&[(
        "AZURE_POD_IDENTITY_AUTHORITY_HOST",
        "http://127.0.0.1:9999/",
    )])) {
        SourceConfig::Imds(endpoint) => {
            assert_eq!(
                endpoint,
                "http://127.0.0.1:9999/metadata/identity/oauth2/token"
            );
        }
        other => panic!("{other:?}"),
    }
}

/// Other Azure hosts are not mistaken for IMDS or App Service: they are named unsupported, and
/// the credential is unavailable (a chain moves on).
#[test]
fn other_azure_hosts_are_unsupported_not_imds() {
    for (env, host) in [
        (
            vars(&[
                (
                    "IDENTITY_ENDPOINT",
                    "http://localhost:40342/metadata/identity/oauth2/token",
                ),
                ("IMDS_ENDPOINT", "http://localhost:40342"),
            ]),
            "Azure Arc",
        ),
        (
            vars(&[
                (
                    "IDENTITY_ENDPOINT",
                    "https://10.0.0.4:2377/metadata/identity/oauth2/token",
                ),
                ("IDENTITY_HEADER", "h"),
                ("IDENTITY_SERVER_THUMBPRINT", "ABCDEF"),
            ]),
            "Service Fabric",
        ),
        (
            vars(&[("MSI_ENDPOINT", "http://localhost:50342/oauth2/token")]),
            "Cloud Shell",
        ),
    ] {
        match source_from_env(&env) {
            SourceConfig::Unsupported(reason) => {
                assert!(reason.starts_with(host), "{reason}");
                assert!(reason.ends_with("is not supported"), "{reason}");
            }
            other => panic!("{host}: {other:?}"),
        }
        let e = ManagedIdentityCredential::from_env_vars(&env).unwrap_err();
        assert!(e.is_unavailable(), "{e:?}");
        assert!(e.to_string().contains(host), "{e}");
    }
}

#[test]
fn from_env_vars_builds_either_protocol() {
    let c = ManagedIdentityCredential::from_env_vars(vars(&[
        ("IDENTITY_ENDPOINT", "http://127.0.0.1:41000/msi/token"),
        ("IDENTITY_HEADER", "header-secret"),
    ]))
    .unwrap();
    assert_eq!(c.kind(), ManagedIdentityKind::AppService);
    assert_eq!(c.endpoint(), "http://127.0.0.1:41000/msi/token");
    assert_eq!(c.identity(), &ManagedIdentityId::SystemAssigned);
    let shown = format!("{c:?}");
    assert!(!shown.contains("header-secret"), "{shown}");
    assert!(shown.contains("AppService"), "{shown}");

    let c = ManagedIdentityCredential::from_env_vars(vars(&[])).unwrap();
    assert_eq!(c.kind(), ManagedIdentityKind::Imds);
    assert_eq!(c.endpoint(), defaults::IMDS_ENDPOINT);
}

#[test]
fn endpoints_are_checked() {
    let imds = |e: &str| {
        ManagedIdentityCredential::builder()
            .imds_endpoint(e)
            .build()
    };
    assert!(imds("http://169.254.169.254/metadata/identity/oauth2/token").is_ok());
    assert!(imds("http://127.0.0.1:8080/metadata/identity/oauth2/token").is_ok());
    assert!(imds("http://[::1]:8080/x").is_ok());
    assert!(imds("http://localhost:8080/x").is_ok());
    assert!(imds("https://imds.example.com/x").is_ok());
    for bad in [
        "http://imds.example.com/x",
        "http://10.0.0.1/x",
        "ftp://127.0.0.1/x",
        "not a url",
        "http://user:pw@127.0.0.1/x",
        "http://127.0.0.1/x#f",
    ] {
        let e = imds(bad).unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{bad}: {e:?}");
        assert!(!e.to_string().contains("pw"), "{e}");
    }
    let e = ManagedIdentityCredential::builder()
        .app_service_endpoint("http://app.example.com/msi/token", "header-secret")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("IDENTITY_ENDPOINT"), "{e}");
    assert!(!e.to_string().contains("header-secret"), "{e}");
    let e = ManagedIdentityCredential::builder()
        .app_service_endpoint("http://127.0.0.1:1/msi/token", "bad\nheader")
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e:?}");
    assert!(
        ManagedIdentityCredential::builder()
            .client_id(" ")
            .build()
            .is_err()
    );
    assert!(
        ManagedIdentityCredential::builder()
            .probe_timeout(Some(Duration::ZERO))
            .build()
            .is_err()
    );
}

#[test]
fn parses_imds_answers() {
    let sent = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let t = parse_response(
        br#"{"access_token":"eyJ.imds","client_id":"c","expires_in":"3599","expires_on":"1700003599","ext_expires_in":"3599","not_before":"1700000000","resource":"https://storage.azure.com","token_type":"Bearer"}"#,
        sent,
    )
    .unwrap();
    assert_eq!(t.secret(), "eyJ.imds");
    assert_eq!(t.expires_on(), sent + Duration::from_secs(3599));
    assert_eq!(t.refresh_on, None);
    // expires_in wins over expires_on (measured from our own clock: immune to skew).
    let t = parse_response(
        br#"{"access_token":"a","expires_in":"600","expires_on":"1","token_type":"Bearer"}"#,
        sent,
    )
    .unwrap();
    assert_eq!(t.expires_on(), sent + Duration::from_secs(600));
}

#[test]
fn parses_app_service_answers_and_refreshes_long_tokens_at_half_life() {
    let sent = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let t = parse_response(
        br#"{"access_token":"eyJ.as","expires_on":"1700086400","resource":"https://vault.azure.net","token_type":"Bearer","client_id":"c"}"#,
        sent,
    )
    .unwrap();
    assert_eq!(t.expires_on(), sent + Duration::from_secs(86_400));
    assert_eq!(t.refresh_on, Some(sent + Duration::from_secs(43_200)));
    // A number works too; refresh_in wins when given.
    let t = parse_response(
        br#"{"access_token":"a","expires_on":1700086400,"refresh_in":"3600"}"#,
        sent,
    )
    .unwrap();
    assert_eq!(t.refresh_on, Some(sent + Duration::from_secs(3600)));
}

#[test]
fn unusable_answers_are_refused_without_echoing_the_token() {
    let sent = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for body in [
        &br#"{"access_token":"SECRET-TOKEN"}"#[..],
        br#"{"access_token":"SECRET-TOKEN","expires_on":"yesterday"}"#,
        br#"{"access_token":"SECRET-TOKEN","expires_on":"1600000000"}"#,
        br#"{"access_token":"SECRET-TOKEN","expires_in":"3600","token_type":"pop"}"#,
        br#"{"access_token":"","expires_in":"3600"}"#,
        br#"{"access_token":"SECRET-TOKEN","expires_in":"#,
        br#"{"access_token":"SECRET-TOKEN","expires_in":18446744073709551615}"#,
        b"<html>SECRET-TOKEN</html>",
    ] {
        let reason = parse_response(body, sent).unwrap_err();
        assert!(!reason.contains("SECRET-TOKEN"), "{reason}");
    }
}

#[test]
fn error_descriptions_of_both_protocols() {
    assert_eq!(
        error_message(
            br#"{"error":"invalid_request","error_description":"Identity not found"}"#,
            None
        ),
        "invalid_request: Identity not found"
    );
    assert_eq!(
        error_message(
            br#"{"statusCode":400,"message":"No managed identity with client id x","correlationId":"c"}"#,
            None
        ),
        "No managed identity with client id x"
    );
    assert_eq!(
        error_message(br#"{"error":{"code":"BadRequest","message":"m"}}"#, None),
        "BadRequest: m"
    );
    assert_eq!(
        error_message(b"<html>oops</html>", None),
        "no error description"
    );
    assert_eq!(error_message(b"", None), "no error description");
    // An endpoint that echoes the identity header does not get it into our errors.
    let m = error_message(
        br#"{"message":"bad header header-secret-value\r\nnext"}"#,
        Some("header-secret-value"),
    );
    assert_eq!(m, "bad header <redacted>  next");
    let long = format!(r#"{{"message":"{}"}}"#, "x".repeat(5000));
    assert!(error_message(long.as_bytes(), None).chars().count() <= 301);
}

fn mi_error(kind: ManagedIdentityKind, status: u16, retry_after: Option<u64>) -> Error {
    Error::ManagedIdentity {
        endpoint: kind,
        status,
        message: "m".into(),
        retry_after: retry_after.map(Duration::from_secs),
    }
}

#[test]
fn which_answers_are_retried() {
    use ManagedIdentityKind::{AppService, Imds};
    for s in [404, 410, 429, 500, 503, 599] {
        assert!(retryable_status(Imds, s), "{s}");
    }
    for s in [400, 401, 403, 409, 600] {
        assert!(!retryable_status(Imds, s), "{s}");
    }
    for s in [429, 500, 502] {
        assert!(retryable_status(AppService, s), "{s}");
    }
    for s in [400, 404, 410] {
        assert!(!retryable_status(AppService, s), "{s}");
    }
    let policy = RetryPolicy::default();
    let none = Duration::ZERO;
    assert!(
        policy
            .next_delay(Imds, &mi_error(Imds, 400, None), 0, none)
            .is_none()
    );
    assert!(
        policy
            .next_delay(Imds, &Error::InvalidResponse("x".into()), 0, none)
            .is_none()
    );
    assert!(
        policy
            .next_delay(Imds, &Error::Config("x".into()), 0, none)
            .is_none()
    );
    // Backoff: about base * 2^n (half fixed, half jitter), capped.
    let d = policy
        .next_delay(Imds, &mi_error(Imds, 500, None), 2, none)
        .unwrap();
    assert!(
        d >= Duration::from_secs(2) && d <= Duration::from_secs(4),
        "{d:?}"
    );
    let d = policy.next_delay(Imds, &mi_error(Imds, 500, None), 20, none);
    assert!(d.is_none(), "max_retries reached");
    let d = policy
        .next_delay(Imds, &mi_error(Imds, 500, None), 4, none)
        .unwrap();
    assert!(d <= defaults::MAX_RETRY_DELAY, "{d:?}");
    // Retry-After is honoured exactly, up to the cap.
    let d = policy.next_delay(Imds, &mi_error(Imds, 429, Some(7)), 0, none);
    assert_eq!(d, Some(Duration::from_secs(7)));
    let d = policy.next_delay(Imds, &mi_error(Imds, 429, Some(3600)), 0, none);
    assert_eq!(d, Some(defaults::MAX_RETRY_DELAY));
    // 410: retried past max_retries while the upgrade window is open, never beyond it.
    let gone = mi_error(Imds, 410, None);
    assert!(
        policy
            .next_delay(Imds, &gone, 50, Duration::from_secs(10))
            .is_some()
    );
    let d = policy
        .next_delay(Imds, &gone, 3, Duration::from_secs(69))
        .unwrap();
    assert!(d <= Duration::from_secs(1), "{d:?}");
    assert!(
        policy
            .next_delay(Imds, &gone, 3, Duration::from_secs(70))
            .is_none()
    );
    // ... and App Service's 410 is not IMDS's.
    assert!(
        policy
            .next_delay(AppService, &mi_error(AppService, 410, None), 0, none)
            .is_none()
    );
}

/// On Tokio's paused clock: 410s are retried until the 70 s window closes, then the error is
/// returned; no real time passes.
#[tokio::test(start_paused = true)]
async fn imds_upgrade_is_retried_for_seventy_seconds() {
    let policy = RetryPolicy::default();
    let attempts = AtomicU32::new(0);
    let start = tokio::time::Instant::now();
    let result: Result<(), Error> = policy
        .run(ManagedIdentityKind::Imds, || async {
            attempts.fetch_add(1, Ordering::SeqCst);
            Err(mi_error(ManagedIdentityKind::Imds, 410, None))
        })
        .await;
    let elapsed = start.elapsed();
    assert!(matches!(
        result,
        Err(Error::ManagedIdentity { status: 410, .. })
    ));
    // The last retry lands on the window's end (the timer rounds to the millisecond).
    assert!(elapsed >= defaults::IMDS_UPGRADE_WINDOW, "{elapsed:?}");
    assert!(
        elapsed < defaults::IMDS_UPGRADE_WINDOW + Duration::from_millis(10),
        "{elapsed:?}"
    );
    // More than max_retries: the window decides, not the count.
    let n = attempts.load(Ordering::SeqCst);
    assert!(n > defaults::MAX_RETRIES + 1, "{n} attempts");
}

/// `Retry-After: 0` on IMDS's 410, retried for a time window whatever the count: each retry
/// still waits half the base delay, so the loop does not spin (140 attempts in 70 s, not
/// millions in no time).
#[tokio::test(start_paused = true)]
async fn retry_after_zero_does_not_make_the_upgrade_loop_spin() {
    let policy = RetryPolicy::default();
    let attempts = AtomicU32::new(0);
    let start = tokio::time::Instant::now();
    let result: Result<(), Error> = policy
        .run(ManagedIdentityKind::Imds, || async {
            if attempts.fetch_add(1, Ordering::SeqCst) > 10_000 {
                panic!("the 410 loop spins");
            }
            Err(mi_error(ManagedIdentityKind::Imds, 410, Some(0)))
        })
        .await;
    assert!(matches!(
        result,
        Err(Error::ManagedIdentity { status: 410, .. })
    ));
    assert!(start.elapsed() >= defaults::IMDS_UPGRADE_WINDOW);
    let n = attempts.load(Ordering::SeqCst);
    assert!((100..=150).contains(&n), "{n} attempts");
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_waited_then_success() {
    let policy = RetryPolicy::default();
    let attempts = AtomicU32::new(0);
    let start = tokio::time::Instant::now();
    let result = policy
        .run(ManagedIdentityKind::Imds, || async {
            match attempts.fetch_add(1, Ordering::SeqCst) {
                0 => Err(mi_error(ManagedIdentityKind::Imds, 429, Some(5))),
                1 => Err(mi_error(ManagedIdentityKind::Imds, 503, Some(2))),
                _ => Ok("token"),
            }
        })
        .await;
    assert_eq!(result.unwrap(), "token");
    assert_eq!(start.elapsed(), Duration::from_secs(7));
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn persistent_server_errors_give_up_after_max_retries() {
    let policy = RetryPolicy::default();
    let attempts = AtomicU32::new(0);
    let result: Result<(), Error> = policy
        .run(ManagedIdentityKind::AppService, || async {
            attempts.fetch_add(1, Ordering::SeqCst);
            Err(mi_error(ManagedIdentityKind::AppService, 500, None))
        })
        .await;
    assert!(matches!(
        result,
        Err(Error::ManagedIdentity { status: 500, .. })
    ));
    assert_eq!(attempts.load(Ordering::SeqCst), defaults::MAX_RETRIES + 1);
}

#[tokio::test]
async fn the_probe_fails_fast_on_a_closed_port() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = ManagedIdentityCredential::builder()
        .imds_endpoint(format!(
            "http://127.0.0.1:{port}/metadata/identity/oauth2/token"
        ))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let e = c
        .token("https://storage.azure.com/.default")
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(e.is_unavailable(), "{e:?}");
    assert!(!e.is_retryable());
    let shown = e.to_string();
    assert!(
        shown.starts_with("managed identity (IMDS) is unavailable: "),
        "{shown}"
    );
    assert!(shown.contains(&format!("127.0.0.1:{port}")), "{shown}");
}

#[tokio::test]
async fn more_than_one_scope_is_refused() {
    let c = ManagedIdentityCredential::builder().build().unwrap();
    let e = TokenCredential::token(&c, &["a/.default", "b/.default"])
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidScope(_)), "{e:?}");
    let e = TokenCredential::token(&c, &["https://graph.microsoft.com/User.Read"])
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidScope(_)), "{e:?}");
}
