//! Client assertions signed with a registered certificate: accepted shapes, and every way
//! one is refused.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entra_emulator::*;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use super::*;
use crate::common::*;

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

/// A client assertion the token endpoint must refuse, and how.
struct Refused {
    what: &'static str,
    assertion: String,
    /// The `client_id` form parameter sent with it.
    client_id: Option<&'static str>,
    status: u16,
    error: &'static str,
    code: u64,
}

#[tokio::test]
async fn bad_certificate_assertions_rejected() {
    let emu = emulator().await;
    let (k1, k2) = client_keys();
    let ok = || assertion_claims(&emu, TokenVersion::V2);
    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = ok();
        change(&mut c);
        c
    };
    let x5t = || Thumb::X5t { padded: false };
    let rs256 = |signer, cert_of, claims: &Value| {
        assertion(signer, cert_of, Algorithm::RS256, x5t(), claims)
    };
    let tampered = {
        let a = rs256(k1, k1, &ok());
        let mut parts: Vec<String> = a.split('.').map(str::to_owned).collect();
        let c = with(&|c| c["exp"] = json!(now() as i64 + 100_000));
        parts[1] = URL_SAFE_NO_PAD.encode(c.to_string());
        parts.join(".")
    };
    let unknown_client = "99999999-0000-4000-8000-000000000000";
    let invalid_client = |what, assertion, code| Refused {
        what,
        assertion,
        client_id: None,
        status: 401,
        error: "invalid_client",
        code,
    };
    let cases = [
        invalid_client(
            "tampered payload: the signature no longer matches",
            tampered,
            700027,
        ),
        invalid_client(
            "signed by another key, claiming the registered certificate",
            rs256(k2, k1, &ok()),
            700027,
        ),
        invalid_client(
            "unknown certificate",
            assertion(
                k2,
                k2,
                Algorithm::PS256,
                Thumb::S256 { padded: false },
                &ok(),
            ),
            700027,
        ),
        invalid_client(
            "no thumbprint at all",
            assertion(k1, k1, Algorithm::RS256, Thumb::None, &ok()),
            700027,
        ),
        invalid_client(
            "expired",
            rs256(k1, k1, &with(&|c| c["exp"] = json!(now() - 120.0))),
            700024,
        ),
        invalid_client(
            "not yet valid",
            rs256(
                k1,
                k1,
                &with(&|c| {
                    c["nbf"] = json!(now() + 3600.0);
                    c["exp"] = json!(now() + 7200.0);
                }),
            ),
            700024,
        ),
        invalid_client(
            "wrong audience",
            rs256(
                k1,
                k1,
                &with(&|c| {
                    c["aud"] = json!("https://login.microsoftonline.com/common/oauth2/v2.0/token")
                }),
            ),
            700023,
        ),
        Refused {
            client_id: Some(DEV_CLIENT_ID),
            ..invalid_client(
                "client_id parameter differs from iss/sub",
                rs256(k1, k1, &ok()),
                700021,
            )
        },
        Refused {
            what: "unknown client in iss/sub",
            assertion: rs256(
                k1,
                k1,
                &with(&|c| {
                    c["iss"] = json!(unknown_client);
                    c["sub"] = json!(unknown_client);
                }),
            ),
            client_id: None,
            status: 400,
            error: "unauthorized_client",
            code: 700016,
        },
    ];
    for case in &cases {
        println!("case: {}", case.what);
        let body = assert_aad_error(
            post_assertion(&emu, &case.assertion, case.client_id).await,
            case.status,
            case.error,
            case.code,
        )
        .await;
        if case.code == 700027 {
            assert!(
                body["error_description"]
                    .as_str()
                    .unwrap()
                    .contains("invalid signature"),
                "{}: {body}",
                case.what
            );
        }
    }

    // Replay: first use works, second is rejected.
    let replayed = rs256(k1, k1, &ok());
    assert_eq!(post_assertion(&emu, &replayed, None).await.status(), 200);
    assert_aad_error(
        post_assertion(&emu, &replayed, None).await,
        401,
        "invalid_client",
        7000274,
    )
    .await;

    // The assertions never land in the log.
    let log = format!("{:?}", emu.request_log());
    for a in cases.iter().map(|c| &c.assertion).chain([&replayed]) {
        assert!(!log.contains(a.as_str()));
    }
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
