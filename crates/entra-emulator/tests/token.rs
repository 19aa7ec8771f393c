//! The token endpoint (secrets, certificates, errors) and directly minted tokens.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use common::*;
use entra_emulator::*;
use jsonwebtoken::{Algorithm, Header};
use serde_json::{Value, json};

const SCOPE: &str = "api://3c9f1a7e-5b2d-4e6f-8a1c-0d7e9b4f2a61/.default";
const CERT_CLIENT: &str = "c0ffee00-1111-4222-8333-444455556666";
const V1_API: &str = "a1a1a1a1-2222-4333-8444-555566667777";

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// An emulator with the dev tenant plus a certificate client and a v1 API.
async fn emulator() -> Emulator {
    let emu = Emulator::start().await.unwrap();
    let (k1, _) = client_keys();
    emu.register_app(
        DEV_TENANT_ID,
        App::new(CERT_CLIENT)
            .display_name("cert client")
            .certificate_pem(&k1.certificate_pem()),
    );
    emu.register_app(
        DEV_TENANT_ID,
        App::new(V1_API)
            .app_id_uri("https://v1api.contoso.example")
            .app_role("Reader"),
    );
    emu.assign_app_role(DEV_TENANT_ID, CERT_CLIENT, DEV_API_CLIENT_ID, "Api.Admin");
    emu.assign_app_role(DEV_TENANT_ID, DEV_CLIENT_ID, V1_API, "Reader");
    emu
}

async fn post(
    emu: &Emulator,
    tenant: &str,
    v: TokenVersion,
    form: &[(&str, &str)],
) -> reqwest::Response {
    http()
        .post(emu.token_endpoint(tenant, v))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn jwks(emu: &Emulator, v: TokenVersion) -> Value {
    http()
        .get(emu.jwks_uri(DEV_TENANT_ID, v))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn secret_form<'a>() -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_id", DEV_CLIENT_ID),
        ("client_secret", DEV_CLIENT_SECRET),
        ("scope", SCOPE),
    ]
}

#[tokio::test]
async fn client_secret_v2_token_verifies_against_served_keys() {
    let emu = emulator().await;
    let resp = post(&emu, DEV_TENANT_ID, TokenVersion::V2, &secret_form()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store, no-cache");
    assert_eq!(resp.headers()["pragma"], "no-cache");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    let expires_in = body["expires_in"].as_i64().unwrap();
    assert!((3600..=5400).contains(&expires_in));
    assert_eq!(body["ext_expires_in"], expires_in);
    let token = body["access_token"].as_str().unwrap();
    let h = header(token);
    assert_eq!(h["typ"], "JWT");
    assert_eq!(h["alg"], "RS256");
    assert_eq!(h["kid"], emu.active_key().kid());
    assert!(h.get("x5t").is_none());

    let claims = verify_with_jwks(
        token,
        &jwks(&emu, TokenVersion::V2).await,
        DEV_API_CLIENT_ID,
        &emu.issuer_v2(DEV_TENANT_ID),
    )
    .unwrap();
    assert_eq!(claims["azp"], DEV_CLIENT_ID);
    assert_eq!(claims["azpacr"], "1");
    assert_eq!(claims["ver"], "2.0");
    assert_eq!(claims["tid"], DEV_TENANT_ID);
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(
        claims["idp"],
        format!("https://sts.windows.net/{DEV_TENANT_ID}/")
    );
    let sp = emu.service_principal_id(DEV_TENANT_ID, DEV_CLIENT_ID);
    assert_eq!(claims["oid"], sp);
    assert_eq!(claims["sub"], sp);
    assert_eq!(claims["roles"], json!(["Api.Admin", "Files.Read.All"]));
    for c in ["aio", "rh", "uti", "iat", "nbf"] {
        assert!(claims.get(c).is_some(), "{c}");
    }
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        expires_in
    );
    assert!(claims.get("appid").is_none());
    assert!(claims.get("scp").is_none());
    let log = emu.request_log();
    let entry = log
        .iter()
        .find(|r| r.endpoint == Some(Endpoint::Token))
        .unwrap();
    assert_eq!(entry.client_id.as_deref(), Some(DEV_CLIENT_ID));
    assert_eq!(entry.status, Some(200));
    assert!(!format!("{log:?}").contains(DEV_CLIENT_SECRET));
}

#[tokio::test]
async fn client_credentials_under_domain_path() {
    let emu = emulator().await;
    let keys = jwks(&emu, TokenVersion::V2).await;
    for (tenant, v) in [
        (DEV_TENANT_DOMAIN, TokenVersion::V2),
        (DEV_TENANT_DOMAIN, TokenVersion::V1),
        ("EntraEmulator.OnMicrosoft.COM", TokenVersion::V2),
    ] {
        let mut form = secret_form();
        if v == TokenVersion::V1 {
            form.retain(|(k, _)| *k != "scope");
            form.push(("resource", DEV_API_CLIENT_ID));
        }
        let resp = post(&emu, tenant, v, &form).await;
        assert_eq!(resp.status(), 200, "{tenant} {v:?}");
        let body: Value = resp.json().await.unwrap();
        // The issuer and tid are the tenant id's, not the domain.
        let claims = verify_with_jwks(
            body["access_token"].as_str().unwrap(),
            &keys,
            DEV_API_CLIENT_ID,
            &emu.issuer_v2(DEV_TENANT_ID),
        )
        .unwrap();
        assert_eq!(claims["tid"], DEV_TENANT_ID);
        assert_eq!(claims["iss"], emu.issuer_v2(DEV_TENANT_ID));
        assert_eq!(
            claims["oid"],
            emu.service_principal_id(DEV_TENANT_ID, DEV_CLIENT_ID)
        );
        assert_eq!(claims["roles"], json!(["Api.Admin", "Files.Read.All"]));
    }
    // A v1 resource: v1 issuer with the tenant id.
    let resp = post(
        &emu,
        DEV_TENANT_DOMAIN,
        TokenVersion::V2,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_CLIENT_ID),
            ("client_secret", DEV_CLIENT_SECRET),
            ("scope", "https://v1api.contoso.example/.default"),
        ],
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    let claims = verify_with_jwks(
        body["access_token"].as_str().unwrap(),
        &jwks(&emu, TokenVersion::V1).await,
        "https://v1api.contoso.example",
        &format!("https://sts.windows.net/{DEV_TENANT_ID}/"),
    )
    .unwrap();
    assert_eq!(claims["tid"], DEV_TENANT_ID);
    // Unknown domain: AADSTS90002.
    let resp = post(
        &emu,
        "nobody.onmicrosoft.com",
        TokenVersion::V2,
        &secret_form(),
    )
    .await;
    assert_aad_error(resp, 400, "invalid_request", 90002).await;
    // A client of another tenant is not found through this tenant's domain.
    let other = "0b0b0b0b-1111-4222-8333-444455556666";
    emu.add_tenant_domain(other, "fabrikam.example").unwrap();
    let resp = post(&emu, "fabrikam.example", TokenVersion::V2, &secret_form()).await;
    assert_aad_error(resp, 400, "unauthorized_client", 700016).await;
}

#[tokio::test]
async fn basic_auth_and_v1_endpoint_and_v1_resource() {
    let emu = emulator().await;
    // HTTP Basic, v2 endpoint, resource that accepts v1 tokens.
    let resp = http()
        .post(emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V2))
        .basic_auth(DEV_CLIENT_ID, Some(DEV_CLIENT_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "https://v1api.contoso.example/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    let h = header(token);
    assert_eq!(h["x5t"], h["kid"]);
    let claims = verify_with_jwks(
        token,
        &jwks(&emu, TokenVersion::V1).await,
        "https://v1api.contoso.example",
        &format!("https://sts.windows.net/{DEV_TENANT_ID}/"),
    )
    .unwrap();
    assert_eq!(claims["ver"], "1.0");
    assert_eq!(claims["appid"], DEV_CLIENT_ID);
    assert_eq!(claims["appidacr"], "1");
    assert_eq!(claims["roles"], json!(["Reader"]));
    assert!(claims.get("azp").is_none());

    // v1 endpoint with resource=: v1 response shape; token version follows the resource (v2).
    let resp = post(
        &emu,
        DEV_TENANT_ID,
        TokenVersion::V1,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_CLIENT_ID),
            ("client_secret", DEV_CLIENT_SECRET),
            ("resource", &format!("api://{DEV_API_CLIENT_ID}")),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(body["expires_in"].is_string());
    assert!(body["expires_on"].is_string());
    assert_eq!(body["resource"], format!("api://{DEV_API_CLIENT_ID}"));
    let claims = payload(body["access_token"].as_str().unwrap());
    assert_eq!(claims["ver"], "2.0");
    assert_eq!(claims["aud"], DEV_API_CLIENT_ID);
}

#[tokio::test]
async fn token_endpoint_errors() {
    let emu = emulator().await;
    let expired_client = "e0000000-0000-4000-8000-000000000001";
    emu.register_app(
        DEV_TENANT_ID,
        App::new(expired_client).secret(
            ClientSecret::new("old-secret").expires_at(SystemTime::now() - Duration::from_secs(60)),
        ),
    );
    let t = DEV_TENANT_ID;
    let v2 = TokenVersion::V2;
    let cc = ("grant_type", "client_credentials");
    let id = ("client_id", DEV_CLIENT_ID);
    let sec = ("client_secret", DEV_CLIENT_SECRET);
    let scope = ("scope", SCOPE);
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str, u64);
    let cases: Vec<Case<'_>> = vec![
        (t, vec![id, sec, scope], 400, "invalid_request", 900144),
        (
            t,
            vec![("grant_type", "password"), id, sec, scope],
            400,
            "unsupported_grant_type",
            70003,
        ),
        (
            "00000000-0000-4000-8000-00000000dead",
            vec![cc, id, sec, scope],
            400,
            "invalid_request",
            90002,
        ),
        (
            "common",
            vec![cc, id, sec, scope],
            400,
            "invalid_request",
            50059,
        ),
        (
            "organizations",
            vec![cc, id, sec, scope],
            400,
            "invalid_request",
            50059,
        ),
        (
            t,
            vec![cc, ("client_id", "nope"), sec, scope],
            400,
            "unauthorized_client",
            700016,
        ),
        (
            t,
            vec![cc, id, ("client_secret", "wrong"), scope],
            401,
            "invalid_client",
            7000215,
        ),
        (
            t,
            vec![
                cc,
                ("client_id", expired_client),
                ("client_secret", "old-secret"),
                scope,
            ],
            401,
            "invalid_client",
            7000222,
        ),
        (t, vec![cc, id, scope], 401, "invalid_client", 7000218),
        (t, vec![cc, sec, scope], 400, "invalid_request", 900144),
        (t, vec![cc, id, sec], 400, "invalid_request", 900144),
        (
            t,
            vec![cc, id, sec, ("scope", "api://x/Files.Read")],
            400,
            "invalid_scope",
            70011,
        ),
        (
            t,
            vec![cc, id, sec, ("scope", "openid profile")],
            400,
            "invalid_scope",
            70011,
        ),
        (
            t,
            vec![cc, id, sec, ("scope", "api://unknown/.default")],
            400,
            "invalid_resource",
            500011,
        ),
        (
            t,
            vec![cc, id, ("client_assertion", "a.b.c")],
            400,
            "invalid_request",
            900144,
        ),
        (
            t,
            vec![
                cc,
                id,
                ("client_assertion", "a.b.c"),
                ("client_assertion_type", "urn:other"),
            ],
            400,
            "invalid_request",
            9002313,
        ),
        (
            t,
            vec![
                cc,
                id,
                ("client_assertion", "not-a-jwt"),
                ("client_assertion_type", JWT_BEARER),
            ],
            400,
            "invalid_request",
            50027,
        ),
    ];
    for (tenant, form, status, error, code) in cases {
        let resp = post(&emu, tenant, v2, &form).await;
        assert_aad_error(resp, status, error, code).await;
    }
    // v1 endpoint without resource
    let resp = post(&emu, t, TokenVersion::V1, &[cc, id, sec]).await;
    assert_aad_error(resp, 400, "invalid_request", 900144).await;
    // GET on the token endpoint
    let resp = http().get(emu.token_endpoint(t, v2)).send().await.unwrap();
    assert_aad_error(resp, 400, "invalid_request", 900561).await;
    // client-request-id becomes the correlation id
    let resp = http()
        .post(emu.token_endpoint(t, v2))
        .header("client-request-id", "0f0e0d0c-1111-4222-8333-444455556666")
        .form(&[cc, id, ("client_secret", "wrong"), scope])
        .send()
        .await
        .unwrap();
    let body = assert_aad_error(resp, 401, "invalid_client", 7000215).await;
    assert_eq!(
        body["correlation_id"],
        "0f0e0d0c-1111-4222-8333-444455556666"
    );
    assert!(
        !emu.request_log()
            .iter()
            .any(|r| format!("{r:?}").contains("wrong"))
    );
    assert_eq!(emu.request_count(Endpoint::Token), 20);
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

enum Thumb {
    X5t { padded: bool },
    S256 { padded: bool },
    None,
}

fn thumb(cert_der: &[u8], t: &Thumb) -> (Option<String>, Option<String>) {
    let enc = |d: &[u8], padded: bool| {
        if padded {
            URL_SAFE.encode(d)
        } else {
            URL_SAFE_NO_PAD.encode(d)
        }
    };
    match t {
        Thumb::X5t { padded } => (
            Some(enc(
                digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, cert_der).as_ref(),
                *padded,
            )),
            None,
        ),
        Thumb::S256 { padded } => (
            None,
            Some(enc(
                digest::digest(&digest::SHA256, cert_der).as_ref(),
                *padded,
            )),
        ),
        Thumb::None => (None, None),
    }
}

/// A client assertion built independently of the emulator, with jsonwebtoken.
fn assertion(
    signer: &SigningKey,
    cert_of: &SigningKey,
    alg: Algorithm,
    t: Thumb,
    claims: &Value,
) -> String {
    let mut h = Header::new(alg);
    let (x5t, s256) = thumb(cert_of.certificate_der(), &t);
    h.x5t = x5t;
    h.x5t_s256 = s256;
    jsonwebtoken::encode(&h, claims, &signer.encoding_key()).unwrap()
}

fn assertion_claims(emu: &Emulator, aud_version: TokenVersion) -> Value {
    let now = now();
    json!({
        "aud": emu.token_endpoint(DEV_TENANT_ID, aud_version),
        "iss": CERT_CLIENT,
        "sub": CERT_CLIENT,
        "jti": uuid::Uuid::new_v4().to_string(),
        "iat": now as i64,
        "nbf": now as i64,
        "exp": now as i64 + 600,
    })
}

async fn post_assertion(emu: &Emulator, a: &str, client_id: Option<&str>) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", a),
        ("scope", SCOPE),
    ];
    if let Some(c) = client_id {
        form.push(("client_id", c));
    }
    post(emu, DEV_TENANT_ID, TokenVersion::V2, &form).await
}

#[tokio::test]
async fn certificate_assertions_accepted() {
    let emu = emulator().await;
    let (k1, _) = client_keys();
    let keys = jwks(&emu, TokenVersion::V2).await;
    let variants = [
        (Algorithm::RS256, Thumb::X5t { padded: false }),
        (Algorithm::RS256, Thumb::X5t { padded: true }),
        (Algorithm::PS256, Thumb::S256 { padded: false }),
        (Algorithm::PS256, Thumb::S256 { padded: true }),
        (Algorithm::RS256, Thumb::S256 { padded: false }),
    ];
    for (i, (alg, t)) in variants.into_iter().enumerate() {
        let mut claims = assertion_claims(&emu, TokenVersion::V2);
        if i == 1 {
            // MSAL-style floats, and the v1 token endpoint as audience.
            let n = now();
            claims["iat"] = json!(n);
            claims["nbf"] = json!(n);
            claims["exp"] = json!(n + 600.25);
            claims["aud"] = json!(emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V1));
        }
        let a = assertion(k1, k1, alg, t, &claims);
        let client_id = (i % 2 == 0).then_some(CERT_CLIENT);
        let resp = post_assertion(&emu, &a, client_id).await;
        assert_eq!(
            resp.status(),
            200,
            "variant {i}: {}",
            resp.text().await.unwrap()
        );
        let body: Value = resp.json().await.unwrap();
        let claims = verify_with_jwks(
            body["access_token"].as_str().unwrap(),
            &keys,
            DEV_API_CLIENT_ID,
            &emu.issuer_v2(DEV_TENANT_ID),
        )
        .unwrap();
        assert_eq!(claims["azp"], CERT_CLIENT);
        assert_eq!(claims["azpacr"], "2");
        assert_eq!(claims["roles"], json!(["Api.Admin"]));
    }
}

#[tokio::test]
async fn bad_certificate_assertions_rejected() {
    let emu = emulator().await;
    let (k1, k2) = client_keys();
    let ok = || assertion_claims(&emu, TokenVersion::V2);
    let x5t = || Thumb::X5t { padded: false };

    // Tampered payload: signature no longer matches.
    let a = assertion(k1, k1, Algorithm::RS256, x5t(), &ok());
    let mut parts: Vec<String> = a.split('.').map(str::to_owned).collect();
    let mut c = ok();
    c["exp"] = json!(now() as i64 + 100_000);
    parts[1] = URL_SAFE_NO_PAD.encode(c.to_string());
    let tampered = parts.join(".");
    let body = assert_aad_error(
        post_assertion(&emu, &tampered, None).await,
        401,
        "invalid_client",
        700027,
    )
    .await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("invalid signature")
    );

    // Signed by another key, claiming the registered certificate.
    let a = assertion(k2, k1, Algorithm::RS256, x5t(), &ok());
    assert_aad_error(
        post_assertion(&emu, &a, None).await,
        401,
        "invalid_client",
        700027,
    )
    .await;
    // Unknown certificate.
    let a = assertion(
        k2,
        k2,
        Algorithm::PS256,
        Thumb::S256 { padded: false },
        &ok(),
    );
    assert_aad_error(
        post_assertion(&emu, &a, None).await,
        401,
        "invalid_client",
        700027,
    )
    .await;
    // No thumbprint at all.
    let a = assertion(k1, k1, Algorithm::RS256, Thumb::None, &ok());
    assert_aad_error(
        post_assertion(&emu, &a, None).await,
        401,
        "invalid_client",
        700027,
    )
    .await;
    // Expired.
    let mut c = ok();
    c["exp"] = json!(now() - 120.0);
    let a = assertion(k1, k1, Algorithm::RS256, x5t(), &c);
    assert_aad_error(
        post_assertion(&emu, &a, None).await,
        401,
        "invalid_client",
        700024,
    )
    .await;
    // Not yet valid.
    let mut c = ok();
    c["nbf"] = json!(now() + 3600.0);
    c["exp"] = json!(now() + 7200.0);
    let a = assertion(k1, k1, Algorithm::RS256, x5t(), &c);
    assert_aad_error(
        post_assertion(&emu, &a, None).await,
        401,
        "invalid_client",
        700024,
    )
    .await;
    // Wrong audience.
    let mut c = ok();
    c["aud"] = json!("https://login.microsoftonline.com/common/oauth2/v2.0/token");
    let a = assertion(k1, k1, Algorithm::RS256, x5t(), &c);
    assert_aad_error(
        post_assertion(&emu, &a, None).await,
        401,
        "invalid_client",
        700023,
    )
    .await;
    // client_id parameter differs from iss/sub.
    let a = assertion(k1, k1, Algorithm::RS256, x5t(), &ok());
    assert_aad_error(
        post_assertion(&emu, &a, Some(DEV_CLIENT_ID)).await,
        401,
        "invalid_client",
        700021,
    )
    .await;
    // Replay: first use works, second is rejected.
    let a = assertion(k1, k1, Algorithm::RS256, x5t(), &ok());
    assert_eq!(post_assertion(&emu, &a, None).await.status(), 200);
    assert_aad_error(
        post_assertion(&emu, &a, None).await,
        401,
        "invalid_client",
        7000274,
    )
    .await;
    // Unknown client in iss/sub.
    let mut c = ok();
    c["iss"] = json!("99999999-0000-4000-8000-000000000000");
    c["sub"] = json!("99999999-0000-4000-8000-000000000000");
    let a = assertion(k1, k1, Algorithm::RS256, x5t(), &c);
    assert_aad_error(
        post_assertion(&emu, &a, None).await,
        400,
        "unauthorized_client",
        700016,
    )
    .await;
    // The assertion never lands in the log.
    assert!(!format!("{:?}", emu.request_log()).contains(&a));
}

async fn post_assertion_to(
    emu: &Emulator,
    tenant: &str,
    v: TokenVersion,
    a: &str,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", a),
    ];
    match v {
        TokenVersion::V2 => form.push(("scope", SCOPE)),
        TokenVersion::V1 => form.push(("resource", DEV_API_CLIENT_ID)),
    }
    post(emu, tenant, v, &form).await
}

#[tokio::test]
async fn assertion_without_jti_rejected() {
    let emu = emulator().await;
    let (k1, _) = client_keys();
    let x5t = || Thumb::X5t { padded: false };
    let mut no_jti = assertion_claims(&emu, TokenVersion::V2);
    no_jti.as_object_mut().unwrap().remove("jti");
    let a = assertion(k1, k1, Algorithm::RS256, x5t(), &no_jti);
    // Without a jti the assertion could be replayed until it expires: every use is refused.
    for _ in 0..2 {
        let body = assert_aad_error(
            post_assertion(&emu, &a, Some(CERT_CLIENT)).await,
            400,
            "invalid_request",
            50027,
        )
        .await;
        let desc = body["error_description"].as_str().unwrap();
        assert!(desc.contains("'jti'"), "{desc}");
    }
    // An empty or non-string jti is no jti.
    for jti in [json!(""), json!(12345), json!(null), json!({"id": "x"})] {
        let mut c = assertion_claims(&emu, TokenVersion::V2);
        c["jti"] = jti.clone();
        let a = assertion(k1, k1, Algorithm::RS256, x5t(), &c);
        assert_aad_error(
            post_assertion(&emu, &a, None).await,
            400,
            "invalid_request",
            50027,
        )
        .await;
    }
    // With one, it works once.
    let a = assertion(
        k1,
        k1,
        Algorithm::RS256,
        x5t(),
        &assertion_claims(&emu, TokenVersion::V2),
    );
    assert_eq!(post_assertion(&emu, &a, None).await.status(), 200);
    assert_aad_error(
        post_assertion(&emu, &a, None).await,
        401,
        "invalid_client",
        7000274,
    )
    .await;
}

#[tokio::test]
async fn assertion_lifetime_bounded() {
    let emu = emulator().await;
    let (k1, _) = client_keys();
    let x5t = || Thumb::X5t { padded: false };
    let n = now() as i64;
    let with_times = |nbf: Option<i64>, iat: Option<i64>, exp: i64| {
        let mut c = assertion_claims(&emu, TokenVersion::V2);
        let o = c.as_object_mut().unwrap();
        o.remove("nbf");
        o.remove("iat");
        if let Some(v) = nbf {
            o.insert("nbf".into(), json!(v));
        }
        if let Some(v) = iat {
            o.insert("iat".into(), json!(v));
        }
        o.insert("exp".into(), json!(exp));
        assertion(k1, k1, Algorithm::RS256, x5t(), &c)
    };
    let too_long = [
        // Valid for two hours from now.
        with_times(Some(n), Some(n), n + 7200),
        // No nbf: from iat.
        with_times(None, Some(n - 60), n + 3600),
        // Neither: from now.
        with_times(None, None, n + 7200),
        // Started long ago, still valid for a minute: a day-long assertion.
        with_times(Some(n - 86_400), Some(n - 86_400), n + 60),
        // iat far in the future cannot make a far exp look short.
        with_times(None, Some(n + 365 * 86_400), n + 365 * 86_400 + 300),
        // A year.
        with_times(Some(n), Some(n), n + 365 * 86_400),
    ];
    for a in &too_long {
        let body = assert_aad_error(
            post_assertion(&emu, a, None).await,
            401,
            "invalid_client",
            700024,
        )
        .await;
        let desc = body["error_description"].as_str().unwrap();
        assert!(desc.contains("3600 seconds"), "{desc}");
    }
    // One hour exactly is accepted, and so are MSAL-like ten minutes (the other tests).
    let a = with_times(Some(n), Some(n), n + 3600);
    assert_eq!(post_assertion(&emu, &a, None).await.status(), 200);

    // The limit is configurable.
    let strict = Emulator::builder()
        .max_assertion_lifetime(Duration::from_secs(600))
        .start()
        .await
        .unwrap();
    strict.register_app(
        DEV_TENANT_ID,
        App::new(CERT_CLIENT).certificate_pem(&k1.certificate_pem()),
    );
    let claims = |lifetime: i64| {
        let mut c = assertion_claims(&strict, TokenVersion::V2);
        c["exp"] = json!(n + lifetime);
        assertion(k1, k1, Algorithm::RS256, x5t(), &c)
    };
    let body = assert_aad_error(
        post_assertion(&strict, &claims(900), None).await,
        401,
        "invalid_client",
        700024,
    )
    .await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("600 seconds")
    );
    assert_eq!(
        post_assertion(&strict, &claims(600), None).await.status(),
        200
    );
}

#[tokio::test]
async fn assertion_audience_is_the_token_endpoint_called() {
    let emu = emulator().await;
    let (k1, _) = client_keys();
    let base = emu.base_url();
    let t = DEV_TENANT_ID;
    let d = DEV_TENANT_DOMAIN;
    let other = "0b0b0b0b-1111-4222-8333-444455556666";
    emu.add_tenant_domain(other, "fabrikam.example").unwrap();
    let with_aud = |aud: &str| {
        let mut c = assertion_claims(&emu, TokenVersion::V2);
        c["aud"] = json!(aud);
        assertion(k1, k1, Algorithm::RS256, Thumb::X5t { padded: false }, &c)
    };

    // The token endpoint called through the domain, as audience: v2 and v1 forms, any case,
    // on either endpoint; also the tenant's other names for its token endpoint.
    let accepted = [
        (d, TokenVersion::V2, emu.token_endpoint(d, TokenVersion::V2)),
        (d, TokenVersion::V1, emu.token_endpoint(d, TokenVersion::V1)),
        (d, TokenVersion::V2, emu.token_endpoint(d, TokenVersion::V1)),
        (
            "EntraEmulator.OnMicrosoft.com",
            TokenVersion::V2,
            format!("{base}/EntraEmulator.OnMicrosoft.com/oauth2/v2.0/token"),
        ),
        (
            d,
            TokenVersion::V2,
            format!("{base}/{d}/oauth2/v2.0/token/"),
        ),
        (d, TokenVersion::V2, emu.token_endpoint(t, TokenVersion::V2)),
        (t, TokenVersion::V2, emu.token_endpoint(d, TokenVersion::V2)),
        (t, TokenVersion::V1, emu.token_endpoint(t, TokenVersion::V1)),
    ];
    for (i, (tenant, v, aud)) in accepted.iter().enumerate() {
        let resp = post_assertion_to(&emu, tenant, *v, &with_aud(aud)).await;
        assert_eq!(
            resp.status(),
            200,
            "case {i}: {aud}: {}",
            resp.text().await.unwrap()
        );
        let body: Value = resp.json().await.unwrap();
        let claims = payload(body["access_token"].as_str().unwrap());
        assert_eq!(claims["tid"], DEV_TENANT_ID);
        assert_eq!(claims["azp"], CERT_CLIENT);
    }

    // Another tenant's token endpoint, by id or domain, and everything that is not this
    // tenant's token endpoint, are still refused, whichever path is called.
    let refused = [
        emu.token_endpoint(other, TokenVersion::V2),
        emu.token_endpoint(other, TokenVersion::V1),
        emu.token_endpoint("fabrikam.example", TokenVersion::V2),
        emu.token_endpoint("nobody.onmicrosoft.com", TokenVersion::V2),
        emu.token_endpoint("common", TokenVersion::V2),
        emu.token_endpoint("organizations", TokenVersion::V1),
        format!("{base}/{d}/oauth2/v2.0/authorize"),
        format!("{base}/{d}/oauth2/v2.0/token/extra"),
        format!("{base}/{d}"),
        format!("{base}0/{d}/oauth2/v2.0/token"),
        format!("{base}/{d}/{d}/oauth2/v2.0/token"),
        format!("https://login.microsoftonline.com/{d}/oauth2/v2.0/token"),
        format!("https://login.microsoftonline.com/{t}/oauth2/v2.0/token"),
        String::new(),
        "é".repeat(40),
    ];
    for aud in &refused {
        for tenant in [t, d] {
            assert_aad_error(
                post_assertion_to(&emu, tenant, TokenVersion::V2, &with_aud(aud)).await,
                401,
                "invalid_client",
                700023,
            )
            .await;
        }
    }
}

#[tokio::test]
async fn minted_tokens() {
    let emu = emulator().await;
    let keys = jwks(&emu, TokenVersion::V2).await;
    let iss = emu.issuer_v2(DEV_TENANT_ID);

    // Default: app-only v2 for the dev API.
    let b = emu.token();
    let expected = b.claims();
    let t = b.sign();
    let claims = verify_with_jwks(&t, &keys, DEV_API_CLIENT_ID, &iss).unwrap();
    assert_eq!(Value::Object(expected), claims);
    assert_eq!(claims["roles"], json!(["Api.Admin", "Files.Read.All"]));
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    let h = header(&t);
    assert_eq!(
        h,
        json!({"typ": "JWT", "alg": "RS256", "kid": emu.active_key().kid()})
    );

    // v1
    let t = emu.token().version(TokenVersion::V1).sign();
    let claims = verify_with_jwks(
        &t,
        &keys,
        &format!("api://{DEV_API_CLIENT_ID}"),
        &emu.issuer_v1(DEV_TENANT_ID),
    )
    .unwrap();
    assert_eq!(claims["appid"], DEV_CLIENT_ID);
    assert_eq!(header(&t)["x5t"], emu.active_key().kid());

    // Delegated with scopes.
    let t = emu
        .token()
        .delegated("u-1", "Ada", "ada@contoso.example")
        .scopes("Files.Read User.Read")
        .sign();
    let claims = verify_with_jwks(&t, &keys, DEV_API_CLIENT_ID, &iss).unwrap();
    assert_eq!(claims["scp"], "Files.Read User.Read");
    assert_eq!(claims["oid"], "u-1");
    assert_eq!(claims["preferred_username"], "ada@contoso.example");
    assert!(claims.get("idtyp").is_none());
    assert!(claims.get("roles").is_none());

    // Times.
    let err = verify_with_jwks(
        &emu.token().expired().sign(),
        &keys,
        DEV_API_CLIENT_ID,
        &iss,
    )
    .unwrap_err();
    assert!(err.contains("Expired"), "{err}");
    let err = verify_with_jwks(
        &emu.token().not_yet_valid().sign(),
        &keys,
        DEV_API_CLIENT_ID,
        &iss,
    )
    .unwrap_err();
    assert!(err.contains("Immature"), "{err}");
    let c = emu
        .token()
        .issued_at(1_000)
        .lifetime(Duration::from_secs(60))
        .claims();
    assert_eq!(
        (c["iat"].clone(), c["nbf"].clone(), c["exp"].clone()),
        (json!(1000), json!(1000), json!(1060))
    );

    // Overrides.
    let b = emu
        .token()
        .tenant("11111111-2222-4333-8444-555555555555")
        .audience("api://other")
        .client_app("client-x")
        .roles(["A", "B"])
        .claim("custom", json!({"x": 1}))
        .remove_claim("aio");
    let c = b.claims();
    assert_eq!(c["aud"], "api://other");
    assert_eq!(c["azp"], "client-x");
    assert_eq!(c["roles"], json!(["A", "B"]));
    assert_eq!(c["custom"], json!({"x": 1}));
    assert!(!c.contains_key("aio"));
    assert_eq!(c["tid"], "11111111-2222-4333-8444-555555555555");

    let t = emu.token().header("alg", json!("HS256")).sign();
    assert_eq!(header(&t)["alg"], "HS256");
    let t = emu.token().remove_header("typ").kid("unknown-kid").sign();
    assert_eq!(header(&t), json!({"alg": "RS256", "kid": "unknown-kid"}));
    assert!(verify_with_jwks(&t, &keys, DEV_API_CLIENT_ID, &iss).is_err());
    let t = emu.token().x5t_only().sign();
    assert_eq!(
        header(&t),
        json!({"typ": "JWT", "alg": "RS256", "x5t": emu.active_key().kid()})
    );
    assert!(verify_with_jwks(&t, &keys, DEV_API_CLIENT_ID, &iss).is_ok());

    // Graph nonce: does not verify, as with real Graph tokens.
    let t = emu.token().graph_nonce().sign();
    assert!(header(&t)["nonce"].is_string());
    let err = verify_with_jwks(&t, &keys, DEV_API_CLIENT_ID, &iss).unwrap_err();
    assert!(err.contains("InvalidSignature"), "{err}");

    // Unregistered key: kid unknown to the key set; verifies with that key's own JWK.
    let (k1, _) = client_keys();
    let t = emu.token().signed_with(k1).sign();
    assert_eq!(header(&t)["kid"], k1.kid());
    assert!(verify_with_jwks(&t, &keys, DEV_API_CLIENT_ID, &iss).is_err());
    let own = json!({"keys": [k1.jwk(None)]});
    assert!(verify_with_jwks(&t, &own, DEV_API_CLIENT_ID, &iss).is_ok());
}
