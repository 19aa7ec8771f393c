//! Managed identities: the App Service protocol (`/msi/token`, api-version 2019-08-01,
//! `X-IDENTITY-HEADER`) and IMDS (`/metadata/identity/oauth2/token`, api-version 2018-02-01,
//! `Metadata: true`), every field and every error, the tokens' claims, faults and counters.

use std::time::Duration;

use entra_core::ManualClock;
use entra_emulator::*;
use serde_json::{Value, json};

use crate::common::*;

const SYSTEM: &str = "0e4b7c2d-9a1f-4d3e-8b5c-6f2a1d9e7c40";
const SYSTEM_OID: &str = "7d2c9e4a-1b3f-4a5d-8e6c-2f9b0a1d3c57";
const WORKER: &str = "5c1d8a4e-7f3b-4e2a-9c6d-1b8e0f4a7d32";
const WORKER_OID: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
const WORKER_RES: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/emulator/providers/Microsoft.ManagedIdentity/userAssignedIdentities/orders-worker";
const V1_API: &str = "a1a1a1a1-2222-4333-8444-555566667777";
const V1_API_URI: &str = "https://v1api.contoso.example";
const API_URI: &str = "api://3c9f1a7e-5b2d-4e6f-8a1c-0d7e9b4f2a61";
/// 2030-01-01T00:00:00Z.
const T0: i64 = 1_893_456_000;

/// An emulator on a manual clock with a system-assigned identity (role `Files.Read.All` on
/// the dev API) and a user-assigned one (`Api.Admin` on the dev API, `Reader` on a v1 API).
async fn emulator() -> (Emulator, ManualClock) {
    let clock = ManualClock::at_unix_seconds(T0);
    let emu = Emulator::builder()
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    emu.register_app(
        DEV_TENANT_ID,
        App::new(V1_API).app_id_uri(V1_API_URI).app_role("Reader"),
    );
    emu.add_managed_identity(
        DEV_TENANT_ID,
        ManagedIdentity::new(SYSTEM)
            .object_id(SYSTEM_OID)
            .display_name("orders-site")
            .system_assigned(),
    )
    .unwrap();
    emu.add_managed_identity(
        DEV_TENANT_ID,
        ManagedIdentity::new(WORKER)
            .object_id(WORKER_OID)
            .display_name("orders-worker"),
    )
    .unwrap();
    emu.assign_app_role(DEV_TENANT_ID, SYSTEM, DEV_API_CLIENT_ID, "Files.Read.All");
    emu.assign_app_role(DEV_TENANT_ID, WORKER, DEV_API_CLIENT_ID, "Api.Admin");
    emu.assign_app_role(DEV_TENANT_ID, WORKER, V1_API_URI, "Reader");
    (emu, clock)
}

/// Query parameters.
type Query<'a> = &'a [(&'a str, &'a str)];

/// `url?query`, form-encoded.
fn with_query(url: &str, query: &[(&str, &str)]) -> String {
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    format!("{url}?{q}")
}

async fn app_service(
    emu: &Emulator,
    query: &[(&str, &str)],
    header: Option<&str>,
) -> reqwest::Response {
    let ep = emu.managed_identity_endpoints();
    let mut req = http().get(with_query(&ep.app_service_endpoint, query));
    if let Some(h) = header {
        req = req.header("X-IDENTITY-HEADER", h);
    }
    req.send().await.unwrap()
}

async fn imds(emu: &Emulator, query: &[(&str, &str)], metadata: Option<&str>) -> reqwest::Response {
    let ep = emu.managed_identity_endpoints();
    let mut req = http().get(with_query(&ep.imds_endpoint, query));
    if let Some(m) = metadata {
        req = req.header("Metadata", m);
    }
    req.send().await.unwrap()
}

/// An App Service token request with the right header.
async fn app_service_ok(emu: &Emulator, extra: &[(&str, &str)], resource: &str) -> Value {
    let header = emu.managed_identity_endpoints().identity_header;
    let mut q = vec![("resource", resource), ("api-version", "2019-08-01")];
    q.extend_from_slice(extra);
    let resp = app_service(emu, &q, Some(&header)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    resp.json().await.unwrap()
}

async fn imds_ok(emu: &Emulator, extra: &[(&str, &str)], resource: &str) -> Value {
    let mut q = vec![("api-version", "2018-02-01"), ("resource", resource)];
    q.extend_from_slice(extra);
    let resp = imds(emu, &q, Some("true")).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn dev_jwks(emu: &Emulator, v: TokenVersion) -> Value {
    get_json(&emu.jwks_uri(DEV_TENANT_ID, v)).await
}

/// The claims of a v2 token for the dev API, verified against the served key set.
async fn verify_v2(emu: &Emulator, token: &str) -> Value {
    let keys = dev_jwks(emu, TokenVersion::V2).await;
    verify_at(
        token,
        &keys,
        DEV_API_CLIENT_ID,
        &emu.issuer_v2(DEV_TENANT_ID),
    )
}

/// Verify signature, `aud` and `iss` (times are the manual clock's, far from now).
fn verify_at(token: &str, keys: &Value, aud: &str, iss: &str) -> Value {
    let h = header(token);
    let jwk = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == h["kid"])
        .expect("kid in key set");
    let key = jsonwebtoken::DecodingKey::from_rsa_components(
        jwk["n"].as_str().unwrap(),
        jwk["e"].as_str().unwrap(),
    )
    .unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[aud]);
    v.set_issuer(&[iss]);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.set_required_spec_claims(&["exp", "nbf", "aud", "iss"]);
    jsonwebtoken::decode::<Value>(token, &key, &v)
        .expect("token verifies")
        .claims
}

#[tokio::test]
async fn app_service_answers_the_system_assigned_identity_with_its_roles() {
    let (emu, _clock) = emulator().await;
    let body = app_service_ok(&emu, &[], API_URI).await;
    assert_eq!(
        field_set(&body),
        [
            "access_token",
            "client_id",
            "expires_on",
            "resource",
            "token_type"
        ]
        .map(String::from)
        .into()
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["resource"], API_URI);
    assert_eq!(body["client_id"], SYSTEM);
    assert_eq!(body["expires_on"], json!((T0 + 24 * 3600).to_string()));

    let token = body["access_token"].as_str().unwrap();
    assert_eq!(header(token)["kid"], json!(emu.active_key().kid()));
    let claims = verify_v2(&emu, token).await;
    assert_eq!(claims["ver"], "2.0");
    assert_eq!(claims["azp"], SYSTEM);
    assert_eq!(claims["azpacr"], "2");
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(claims["oid"], SYSTEM_OID);
    assert_eq!(claims["sub"], SYSTEM_OID);
    assert_eq!(claims["tid"], DEV_TENANT_ID);
    assert_eq!(claims["roles"], json!(["Files.Read.All"]));
    assert_eq!(claims["iat"], json!(T0));
    assert_eq!(claims["nbf"], json!(T0));
    assert_eq!(claims["exp"], json!(T0 + 24 * 3600));
    assert_eq!(
        claims["xms_mirid"],
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/emulator/providers/Microsoft.Web/sites/orders-site"
    );
    assert_eq!(emu.service_principal_id(DEV_TENANT_ID, SYSTEM), SYSTEM_OID);
}

#[tokio::test]
async fn app_service_selects_a_user_assigned_identity_three_ways() {
    let (emu, _clock) = emulator().await;
    for (name, value) in [
        ("client_id", WORKER),
        ("client_id", &WORKER.to_uppercase()),
        ("principal_id", WORKER_OID),
        // What azure-identity sends for the object id over the App Service protocol.
        ("object_id", WORKER_OID),
        ("mi_res_id", WORKER_RES),
        ("mi_res_id", &WORKER_RES.to_lowercase()),
    ] {
        let body = app_service_ok(&emu, &[(name, value)], DEV_API_CLIENT_ID).await;
        assert_eq!(body["client_id"], WORKER, "{name}={value}");
        assert_eq!(body["resource"], DEV_API_CLIENT_ID);
        let claims = verify_v2(&emu, body["access_token"].as_str().unwrap()).await;
        assert_eq!(claims["azp"], WORKER);
        assert_eq!(claims["oid"], WORKER_OID);
        assert_eq!(claims["xms_mirid"], WORKER_RES);
        assert_eq!(claims["roles"], json!(["Api.Admin"]));
    }
}

/// The resource's token version decides the token's: a v1 API gets `appid`, `appidacr` and the
/// v1 issuer, with the roles on that API only.
#[tokio::test]
async fn a_v1_resource_gets_a_v1_token() {
    let (emu, _clock) = emulator().await;
    for body in [
        app_service_ok(&emu, &[("client_id", WORKER)], V1_API_URI).await,
        imds_ok(&emu, &[("client_id", WORKER)], V1_API_URI).await,
    ] {
        assert_eq!(body["resource"], V1_API_URI);
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(header(token)["x5t"], header(token)["kid"]);
        let keys = dev_jwks(&emu, TokenVersion::V1).await;
        let claims = verify_at(token, &keys, V1_API_URI, &emu.issuer_v1(DEV_TENANT_ID));
        assert_eq!(claims["ver"], "1.0");
        assert_eq!(claims["appid"], WORKER);
        assert_eq!(claims["appidacr"], "2");
        assert_eq!(claims["oid"], WORKER_OID);
        assert_eq!(claims["xms_mirid"], WORKER_RES);
        assert_eq!(claims["roles"], json!(["Reader"]));
        assert!(claims.get("azp").is_none());
    }
    // No role on a resource: no `roles` claim.
    let body = app_service_ok(&emu, &[], V1_API_URI).await;
    let claims = payload(body["access_token"].as_str().unwrap());
    assert!(claims.get("roles").is_none(), "{claims}");
}

/// A resource with its own signing key gets managed identity tokens signed with it, as from
/// the token endpoint.
#[tokio::test]
async fn tokens_are_signed_like_the_token_endpoints() {
    let (emu, _clock) = emulator().await;
    let key = emu.add_app_key(DEV_TENANT_ID, DEV_API_CLIENT_ID);
    let body = imds_ok(&emu, &[], DEV_API_CLIENT_ID).await;
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(header(token)["kid"], json!(key.kid()));
    let keys = get_json(&format!(
        "{}?appid={DEV_API_CLIENT_ID}",
        emu.jwks_uri(DEV_TENANT_ID, TokenVersion::V2)
    ))
    .await;
    let claims = verify_at(
        token,
        &keys,
        DEV_API_CLIENT_ID,
        &emu.issuer_v2(DEV_TENANT_ID),
    );
    assert_eq!(claims["azp"], SYSTEM);
}

#[tokio::test]
async fn imds_answers_every_field_as_strings() {
    let (emu, clock) = emulator().await;
    clock.advance(Duration::from_secs(100));
    let now = T0 + 100;
    let body = imds_ok(&emu, &[], API_URI).await;
    assert_eq!(
        field_set(&body),
        [
            "access_token",
            "client_id",
            "expires_in",
            "expires_on",
            "not_before",
            "refresh_token",
            "resource",
            "token_type"
        ]
        .map(String::from)
        .into()
    );
    assert_eq!(body["refresh_token"], "");
    assert_eq!(body["expires_in"], json!((24 * 3600).to_string()));
    assert_eq!(body["expires_on"], json!((now + 24 * 3600).to_string()));
    assert_eq!(body["not_before"], json!(now.to_string()));
    assert_eq!(body["resource"], API_URI);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["client_id"], SYSTEM);
    let claims = verify_v2(&emu, body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["oid"], SYSTEM_OID);
    assert_eq!(claims["roles"], json!(["Files.Read.All"]));
    assert_eq!(claims["iat"], json!(now));

    for (name, value) in [
        ("client_id", WORKER),
        ("object_id", WORKER_OID),
        ("msi_res_id", WORKER_RES),
    ] {
        let body = imds_ok(&emu, &[(name, value)], DEV_API_CLIENT_ID).await;
        assert_eq!(body["client_id"], WORKER, "{name}");
        let claims = verify_v2(&emu, body["access_token"].as_str().unwrap()).await;
        assert_eq!(claims["oid"], WORKER_OID);
        assert_eq!(claims["roles"], json!(["Api.Admin"]));
    }
}

/// App Service's error body: `statusCode`, `message`, `correlationId`.
async fn app_service_error(resp: reqwest::Response, status: u16, message: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        field_set(&body),
        ["correlationId", "message", "statusCode"]
            .map(String::from)
            .into()
    );
    assert_eq!(body["statusCode"], json!(status));
    let text = body["message"].as_str().unwrap();
    assert!(text.contains(message), "{text}");
    body
}

#[tokio::test]
async fn app_service_errors() {
    let (emu, _clock) = emulator().await;
    let secret = emu.managed_identity_endpoints().identity_header;
    let ok_query = [("resource", API_URI), ("api-version", "2019-08-01")];

    let resp = app_service(&emu, &ok_query, None).await;
    app_service_error(resp, 401, "X-IDENTITY-HEADER header is required").await;
    let resp = app_service(&emu, &ok_query, Some("not-the-secret")).await;
    app_service_error(resp, 401, "does not match").await;
    let other = Emulator::start().await.unwrap();
    let resp = app_service(
        &emu,
        &ok_query,
        Some(&other.managed_identity_endpoints().identity_header),
    )
    .await;
    app_service_error(resp, 401, "does not match").await;

    let cases: [(Query<'_>, &str); 7] = [
        (&[("resource", API_URI)], "api-version"),
        (
            &[("resource", API_URI), ("api-version", "2017-09-01")],
            "api-version",
        ),
        (
            &[("resource", API_URI), ("api-version", "2018-02-01")],
            "api-version",
        ),
        (&[("api-version", "2019-08-01")], "'resource'"),
        (
            &[
                ("resource", API_URI),
                ("api-version", "2019-08-01"),
                ("client_id", WORKER),
                ("principal_id", WORKER_OID),
            ],
            "Only one of client_id, principal_id, object_id, mi_res_id",
        ),
        (
            &[
                ("resource", API_URI),
                ("api-version", "2019-08-01"),
                ("client_id", "11111111-2222-4333-8444-555555555555"),
            ],
            "Unable to load the proper Managed Identity.",
        ),
        (
            &[
                ("resource", "https://vault.azure.net"),
                ("api-version", "2019-08-01"),
            ],
            "AADSTS500011: The resource principal named https://vault.azure.net was not found",
        ),
    ];
    for (query, message) in cases {
        let resp = app_service(&emu, query, Some(&secret)).await;
        app_service_error(resp, 400, message).await;
    }

    // No selector and no system-assigned identity.
    let bare = Emulator::start().await.unwrap();
    bare.add_managed_identity(DEV_TENANT_ID, ManagedIdentity::new(WORKER))
        .unwrap();
    let secret = bare.managed_identity_endpoints().identity_header;
    let resp = app_service(&bare, &ok_query, Some(&secret)).await;
    app_service_error(resp, 400, "Unable to load the proper Managed Identity.").await;
    // ... while selecting the user-assigned one works.
    let mut q = ok_query.to_vec();
    q.push(("client_id", WORKER));
    assert_eq!(app_service(&bare, &q, Some(&secret)).await.status(), 200);
}

async fn imds_error(resp: reqwest::Response, error: &str, description: &str) -> Value {
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        field_set(&body),
        ["error", "error_description"].map(String::from).into()
    );
    assert_eq!(body["error"], error, "{body}");
    let text = body["error_description"].as_str().unwrap();
    assert!(text.starts_with(description), "{text}");
    body
}

#[tokio::test]
async fn imds_errors() {
    let (emu, _clock) = emulator().await;
    let ok_query = [("api-version", "2018-02-01"), ("resource", API_URI)];
    for metadata in [None, Some("false"), Some("")] {
        let body = imds_error(
            imds(&emu, &ok_query, metadata).await,
            "invalid_request",
            "Required metadata header not specified",
        )
        .await;
        assert_eq!(
            body,
            json!({"error":"invalid_request","error_description":"Required metadata header not specified"})
        );
    }
    let body = imds_error(
        imds(
            &emu,
            &[
                ("api-version", "2018-02-01"),
                ("resource", API_URI),
                ("client_id", "11111111-2222-4333-8444-555555555555"),
            ],
            Some("true"),
        )
        .await,
        "invalid_request",
        "Identity not found",
    )
    .await;
    assert_eq!(
        body,
        json!({"error":"invalid_request","error_description":"Identity not found"})
    );
    let cases: [(Query<'_>, &str, &str); 6] = [
        (
            &[("resource", API_URI)],
            "invalid_request",
            "Required api-version parameter not specified",
        ),
        (
            &[("resource", API_URI), ("api-version", "2019-08-01")],
            "invalid_request",
            "Invalid api-version",
        ),
        (
            &[("api-version", "2018-02-01")],
            "invalid_request",
            "Required audience parameter not specified",
        ),
        (
            &[
                ("api-version", "2018-02-01"),
                ("resource", API_URI),
                ("object_id", WORKER_OID),
                ("msi_res_id", WORKER_RES),
            ],
            "invalid_request",
            "Only one of client_id, object_id, msi_res_id",
        ),
        (
            &[
                ("api-version", "2018-02-01"),
                ("resource", API_URI),
                ("principal_id", "nope"),
                ("client_id", "nope"),
            ],
            "invalid_request",
            "Identity not found",
        ),
        (
            &[
                ("api-version", "2018-02-01"),
                ("resource", "https://vault.azure.net"),
            ],
            "invalid_resource",
            "AADSTS500011: The resource principal named https://vault.azure.net was not found in the tenant named",
        ),
    ];
    for (query, error, description) in cases {
        imds_error(imds(&emu, query, Some("true")).await, error, description).await;
    }
    // IMDS without a system-assigned identity.
    let bare = Emulator::start().await.unwrap();
    imds_error(
        imds(&bare, &ok_query, Some("true")).await,
        "invalid_request",
        "Identity not found",
    )
    .await;
    // GET only.
    let ep = emu.managed_identity_endpoints();
    let resp = http()
        .post(with_query(&ep.imds_endpoint, &ok_query))
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
}

/// `set_fault(Endpoint::ManagedIdentity, ..)` answers both protocols with the fault (what the
/// clients retry: 410, 429, 5xx), `request_count` counts every request, and the log never
/// holds the identity header.
#[tokio::test]
async fn faults_and_counters() {
    let (emu, _clock) = emulator().await;
    emu.reset_counters();
    let secret = emu.managed_identity_endpoints().identity_header;
    let asq = [("resource", API_URI), ("api-version", "2019-08-01")];
    let imq = [("api-version", "2018-02-01"), ("resource", API_URI)];
    for status in [410u16, 429, 500, 503] {
        emu.set_fault(Endpoint::ManagedIdentity, Fault::Status(status));
        assert_eq!(
            app_service(&emu, &asq, Some(&secret)).await.status(),
            status
        );
        assert_eq!(imds(&emu, &imq, Some("true")).await.status(), status);
    }
    emu.clear_fault(Endpoint::ManagedIdentity);
    assert_eq!(app_service(&emu, &asq, Some(&secret)).await.status(), 200);
    assert_eq!(imds(&emu, &imq, Some("true")).await.status(), 200);
    // A path fault on IMDS only.
    emu.set_path_fault(
        &emu.managed_identity_endpoints().imds_endpoint,
        Fault::Status(410),
    );
    assert_eq!(imds(&emu, &imq, Some("true")).await.status(), 410);
    assert_eq!(app_service(&emu, &asq, Some(&secret)).await.status(), 200);
    emu.clear_faults();
    // Errors count too.
    assert_eq!(imds(&emu, &imq, None).await.status(), 400);
    assert_eq!(emu.request_count(Endpoint::ManagedIdentity), 13);
    assert_eq!(emu.request_count(Endpoint::Token), 0);

    let log = emu.request_log();
    assert_eq!(log.len(), 13);
    for entry in &log {
        assert_eq!(entry.endpoint, Some(Endpoint::ManagedIdentity));
        assert!(entry.path == "/msi/token" || entry.path == "/metadata/identity/oauth2/token");
        assert!(!format!("{entry:?}").contains(&secret));
    }
    assert_eq!(log[0].status, Some(410));
    assert_eq!(log[0].fault, Some(Fault::Status(410)));
    assert_eq!(log[12].status, Some(400));
    assert_eq!(
        log[8].query.as_deref(),
        Some("resource=api%3A%2F%2F3c9f1a7e-5b2d-4e6f-8a1c-0d7e9b4f2a61&api-version=2019-08-01")
    );
}

#[tokio::test]
async fn endpoints_and_identity_header() {
    let (emu, _clock) = emulator().await;
    let ep = emu.managed_identity_endpoints();
    assert_eq!(
        ep.app_service_endpoint,
        format!("{}/msi/token", emu.base_url())
    );
    assert_eq!(
        ep.imds_endpoint,
        format!("{}/metadata/identity/oauth2/token", emu.base_url())
    );
    assert!(ep.identity_header.len() >= 32);
    let debug = format!("{ep:?}");
    assert!(!debug.contains(&ep.identity_header), "{debug}");
    assert!(debug.contains("<redacted>"));
    assert_eq!(
        ep.env(),
        [
            ("IDENTITY_ENDPOINT", ep.app_service_endpoint.clone()),
            ("IDENTITY_HEADER", ep.identity_header.clone()),
        ]
    );
    // Stable for one emulator, random per emulator.
    assert_eq!(emu.managed_identity_endpoints(), ep);
    let other = Emulator::start().await.unwrap();
    assert_ne!(
        other.managed_identity_endpoints().identity_header,
        ep.identity_header
    );
}

#[tokio::test]
async fn registration_rules() {
    let (emu, _clock) = emulator().await;
    let err = |r: Result<(), EmulatorError>| r.unwrap_err().to_string();
    let e = err(emu.add_managed_identity(
        "11111111-1111-1111-1111-111111111111",
        ManagedIdentity::new("22222222-2222-4222-8222-222222222222").system_assigned(),
    ));
    assert!(e.contains("system-assigned"), "{e}");
    let e =
        err(emu.add_managed_identity(DEV_TENANT_ID, ManagedIdentity::new(WORKER.to_uppercase())));
    assert!(e.contains("client id"), "{e}");
    let e = err(emu.add_managed_identity(
        DEV_TENANT_ID,
        ManagedIdentity::new("22222222-2222-4222-8222-222222222222").object_id(WORKER_OID),
    ));
    assert!(e.contains("object id"), "{e}");
    let e = err(emu.add_managed_identity(
        DEV_TENANT_ID,
        ManagedIdentity::new("22222222-2222-4222-8222-222222222222").display_name("orders-worker"),
    ));
    assert!(e.contains("resource id"), "{e}");
    let e = err(emu.add_managed_identity(DEV_TENANT_ID, ManagedIdentity::new(DEV_CLIENT_ID)));
    assert!(e.contains("an app with this client id"), "{e}");
    let e = err(emu.add_managed_identity(DEV_TENANT_ID, ManagedIdentity::new("worker")));
    assert!(e.contains("not a GUID"), "{e}");
    let e = err(emu.add_managed_identity(
        DEV_TENANT_ID,
        ManagedIdentity::new("22222222-2222-4222-8222-222222222222").resource_id("worker"),
    ));
    assert!(e.contains("resource id"), "{e}");

    // Defaults: a random object id, a resource id under the emulator resource group.
    let mi = ManagedIdentity::new("33333333-3333-4333-8333-333333333333");
    assert!(uuid::Uuid::parse_str(mi.principal_id()).is_ok());
    assert_eq!(
        mi.azure_resource_id(),
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/emulator/providers/Microsoft.ManagedIdentity/userAssignedIdentities/identity-33333333"
    );
    // A managed identity has no credential for the token endpoint.
    let resp = http()
        .post(emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V2))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", WORKER),
            ("scope", &format!("{API_URI}/.default")),
        ])
        .send()
        .await
        .unwrap();
    assert_aad_error(resp, 401, "invalid_client", 7000218).await;
}

#[tokio::test]
async fn managed_identities_from_a_configuration_file() {
    let cfg = EmulatorConfig::from_toml_str(&format!(
        r#"
        [[tenants]]
        id = "11111111-1111-1111-1111-111111111111"
        [[tenants.apps]]
        client_id = "22222222-2222-2222-2222-222222222222"
        app_id_uri = "api://orders"
        app_roles = ["Orders.Read"]
        access_token_version = 2
        [[tenants.managed_identities]]
        client_id = "{WORKER}"
        object_id = "{WORKER_OID}"
        resource_id = "/subscriptions/x/resourcegroups/y/providers/Microsoft.ManagedIdentity/userAssignedIdentities/z"
        [[tenants.managed_identities]]
        client_id = "{SYSTEM}"
        system_assigned = true
        [[tenants.role_assignments]]
        client_id = "{WORKER}"
        resource = "api://orders"
        role = "Orders.Read"
        "#
    ))
    .unwrap();
    let emu = Emulator::builder()
        .without_dev_tenant()
        .config(cfg)
        .start()
        .await
        .unwrap();
    let body = imds_ok(&emu, &[("client_id", WORKER)], "api://orders").await;
    let claims = payload(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], "22222222-2222-2222-2222-222222222222");
    assert_eq!(claims["tid"], "11111111-1111-1111-1111-111111111111");
    assert_eq!(claims["oid"], WORKER_OID);
    assert_eq!(claims["roles"], json!(["Orders.Read"]));
    assert_eq!(
        claims["xms_mirid"],
        "/subscriptions/x/resourcegroups/y/providers/Microsoft.ManagedIdentity/userAssignedIdentities/z"
    );
    let body = imds_ok(&emu, &[], "api://orders").await;
    assert_eq!(body["client_id"], SYSTEM);

    // Two system-assigned identities: the emulator refuses to start.
    let twice = EmulatorConfig::from_toml_str(&format!(
        r#"
        [[tenants]]
        id = "11111111-1111-1111-1111-111111111111"
        [[tenants.managed_identities]]
        client_id = "{WORKER}"
        system_assigned = true
        [[tenants.managed_identities]]
        client_id = "{SYSTEM}"
        system_assigned = true
        "#
    ))
    .unwrap();
    let e = Emulator::builder().config(twice).start().await.unwrap_err();
    assert!(e.to_string().contains("system-assigned"), "{e}");
}

/// The development tenant's managed identity works out of the box: by client id, with its role
/// on the dev API, over both protocols.
#[tokio::test]
async fn the_dev_tenants_managed_identity_gets_tokens_by_client_id() {
    let (emu, _clock) = emulator().await;
    for body in [
        app_service_ok(
            &emu,
            &[("client_id", DEV_MANAGED_IDENTITY_CLIENT_ID)],
            API_URI,
        )
        .await,
        imds_ok(
            &emu,
            &[("client_id", DEV_MANAGED_IDENTITY_CLIENT_ID)],
            API_URI,
        )
        .await,
    ] {
        assert_eq!(body["client_id"], DEV_MANAGED_IDENTITY_CLIENT_ID);
        let claims = verify_v2(&emu, body["access_token"].as_str().unwrap()).await;
        assert_eq!(claims["azp"], DEV_MANAGED_IDENTITY_CLIENT_ID);
        assert_eq!(claims["roles"], json!(["Files.Read.All"]));
    }
}
