//! The corpus under other configurations: a 1 MiB token limit, multi-tenant issuers and key
//! issuers, configured query and cookie sources, and the optional layer.

use super::*;

/// With the largest token limit (1 MiB), oversized nesting reaches the JSON parser, which must
/// refuse it without exhausting the stack.
#[tokio::test]
async fn deep_nesting_and_huge_tokens_with_a_1_mib_limit() {
    use Expect::*;
    let emu = Emulator::start().await.unwrap();
    let clock = ManualClock::starting_now();
    let cfg = dev_config(&emu, &clock)
        .max_token_size(1024 * 1024)
        .build()
        .unwrap();
    let api = serve(EntraAuthLayer::new(cfg), clock).await;
    let attacker = SigningKey::generate().unwrap();
    let kid = emu.active_key().kid().to_owned();
    let claims = claims_text(&emu);
    let header = rs256_header(&kid).to_string();
    let valid = emu.token().sign();
    let (vh, _, vs) = segments(&valid);
    let cases = vec![
        Case::bearer("control: valid token", valid.clone(), Accepted),
        Case::bearer(
            "control: a 100 KB claim is still a valid token here",
            emu.token()
                .claim("padding", json!("x".repeat(100 * 1024)))
                .sign(),
            Accepted,
        ),
        Case::bearer(
            "header: alg nested 10,000 levels",
            signed(
                &emu,
                &format!(r#"{{"alg":{},"kid":"{kid}"}}"#, nested(10_000)),
                &claims,
            ),
            Invalid("header is not a valid JSON object"),
        ),
        Case::bearer(
            "header: kid nested 10,000 objects",
            signed(
                &emu,
                &format!(
                    r#"{{"alg":"RS256","kid":{}1{}}}"#,
                    r#"{"a":"#.repeat(10_000),
                    "}".repeat(10_000)
                ),
                &claims,
            ),
            Invalid("header is not a valid JSON object"),
        ),
        Case::bearer(
            "header: unknown member nested 10,000 levels, attacker's signature",
            sign_raw(
                format!(r#"{{"alg":"RS256","kid":"{kid}","x":{}}}"#, nested(10_000)).as_bytes(),
                claims.as_bytes(),
                &attacker,
            ),
            Invalid("signature is invalid"),
        ),
        Case::bearer(
            "payload: unknown member nested 10,000 levels, attacker's signature",
            sign_raw(
                header.as_bytes(),
                claims_with_raw(&emu, "", &format!(r#""x":{}"#, nested(10_000))).as_bytes(),
                &attacker,
            ),
            Invalid("signature is invalid"),
        ),
        Case::bearer(
            "control: unknown member nested 10,000 levels, genuinely signed (skipped, valid)",
            signed(
                &emu,
                &header,
                &claims_with_raw(&emu, "", &format!(r#""x":{}"#, nested(10_000))),
            ),
            Accepted,
        ),
        Case::bearer(
            "payload: roles nested 10,000 levels",
            signed(
                &emu,
                &header,
                &claims_with_raw(&emu, "roles", &format!(r#""roles":{}"#, nested(10_000))),
            ),
            Invalid("roles claim must be an array"),
        ),
        Case::bearer(
            "payload: exp nested 10,000 objects",
            signed(
                &emu,
                &header,
                &claims_with_raw(
                    &emu,
                    "exp",
                    &format!(
                        r#""exp":{}1{}"#,
                        r#"{"a":"#.repeat(10_000),
                        "}".repeat(10_000)
                    ),
                ),
            ),
            Invalid("exp claim must be an integer"),
        ),
        Case::bearer(
            "payload with 5,000 members",
            signed(
                &emu,
                &header,
                &claims_with_raw(
                    &emu,
                    "",
                    &(0..5_000)
                        .map(|i| format!(r#""c{i}":0"#))
                        .collect::<Vec<_>>()
                        .join(","),
                ),
            ),
            Accepted,
        ),
        Case::bearer(
            "token of 1 MB",
            format!("{vh}.{}.{vs}", "A".repeat(1024 * 1024)),
            Oversized,
        ),
        Case::bearer(
            "token of 300 KB, garbage payload",
            format!("{vh}.{}.{vs}", "A".repeat(300 * 1024)),
            Invalid("payload is not a valid JSON object"),
        ),
    ];
    run_cases(&api.http, &api.base, &cases).await;
}

/// Tenant checks in multi-tenant mode, and the signing key's own issuer: a key that Entra
/// publishes for one tenant only (an app-specific key) must not sign another tenant's tokens.
#[tokio::test]
async fn multi_tenant_issuer_tenant_and_key_issuer() {
    use Expect::*;
    let emu = Emulator::start().await.unwrap();
    let other = "0f0e0d0c-0b0a-4909-8807-060504030201";
    let stranger = "12121212-3434-4545-5656-787878787878";
    emu.add_tenant(other);
    emu.add_tenant(stranger);
    let app_key = emu.add_app_key(DEV_TENANT_ID, DEV_API_CLIENT_ID);
    let clock = ManualClock::starting_now();
    let cfg = dev_config(&emu, &clock)
        .tenant("organizations")
        .allowed_tenants([DEV_TENANT_ID, other])
        .build()
        .unwrap();
    let api = serve(EntraAuthLayer::new(cfg), clock).await;
    let admin = ["Api.Admin"];
    let cases = vec![
        Case::bearer("control: home tenant", emu.token().sign(), Accepted),
        Case::bearer(
            "control: other allowed tenant",
            emu.token().tenant(other).roles(admin).sign(),
            Accepted,
        ),
        Case::bearer(
            "control: app-specific key, its own tenant",
            emu.token().signed_with(&app_key).sign(),
            Accepted,
        ),
        Case::bearer(
            "app-specific key of the home tenant signing another tenant's token",
            emu.token()
                .tenant(other)
                .roles(admin)
                .signed_with(&app_key)
                .sign(),
            Invalid("signing key's issuer"),
        ),
        Case::bearer(
            "app-specific key of the home tenant signing another tenant's v1 token",
            emu.token()
                .tenant(other)
                .version(TokenVersion::V1)
                .roles(admin)
                .signed_with(&app_key)
                .sign(),
            Invalid("signing key's issuer"),
        ),
        Case::bearer(
            "tenant not allowed",
            emu.token().tenant(stranger).roles(admin).sign(),
            Invalid("signature is invalid"),
        ),
        Case::bearer(
            "tid of an allowed tenant, issuer of a stranger",
            emu.token()
                .tenant(stranger)
                .roles(admin)
                .claim("tid", json!(DEV_TENANT_ID))
                .sign(),
            Invalid("issuer is not accepted"),
        ),
        Case::bearer(
            "tid of one allowed tenant, issuer of the other",
            emu.token()
                .tenant(other)
                .roles(admin)
                .claim("tid", json!(DEV_TENANT_ID))
                .sign(),
            Invalid("issuer is not accepted"),
        ),
        Case::bearer(
            "issuer with the {tenantid} template itself",
            emu.token()
                .claim("iss", json!(emu.issuer_v2("{tenantid}")))
                .claim("tid", json!("{tenantid}"))
                .sign(),
            Invalid("tid claim must be a tenant id"),
        ),
        Case::bearer(
            "tid empty",
            emu.token().claim("tid", json!("")).sign(),
            Invalid("tid claim must be a tenant id"),
        ),
        Case::bearer(
            "tid in upper case, issuer in lower case",
            emu.token()
                .claim("tid", json!(DEV_TENANT_ID.to_uppercase()))
                .sign(),
            Invalid("tid claim must be a tenant id"),
        ),
    ];
    run_cases(&api.http, &api.base, &cases).await;

    // Tokens of tenants that are never accepted cost no key fetch, whatever kid they name.
    let before = emu.request_count(Endpoint::Keys);
    for i in 0..50 {
        let t = emu
            .token()
            .tenant(stranger)
            .roles(admin)
            .kid(&format!("stranger-kid-{i}"))
            .sign();
        let r = send(
            &api.http,
            &api.base,
            &Case::bearer("stranger", t, Invalid("not allowed")),
        )
        .await;
        assert_eq!(r.unwrap().status, 401);
    }
    assert_eq!(emu.request_count(Endpoint::Keys), before);
}

/// A query parameter or a cookie is read only when configured; then the same rules apply.
#[tokio::test]
async fn configured_query_and_cookie_sources() {
    use Expect::*;
    let emu = Emulator::start().await.unwrap();
    let clock = ManualClock::starting_now();
    let cfg = dev_config(&emu, &clock)
        .token_from_query("access_token")
        .token_from_cookie("entra_token")
        .build()
        .unwrap();
    let api = serve(EntraAuthLayer::new(cfg), clock).await;
    let valid = emu.token().sign();
    let expired = emu.token().expired().sign();
    let cases = vec![
        Case::raw("query, valid", vec![], &valid, Accepted).query(format!("access_token={valid}")),
        Case::raw("cookie, valid", vec![], &valid, Accepted)
            .cookie(format!("theme=dark; entra_token={valid}")),
        Case::bearer("header still works", valid.clone(), Accepted),
        Case::raw("query, expired", vec![], &expired, Invalid("expired"))
            .query(format!("access_token={expired}")),
        Case::raw("cookie, expired", vec![], &expired, Invalid("expired"))
            .cookie(format!("entra_token={expired}")),
        Case::raw(
            "query, empty",
            vec![],
            &valid,
            Invalid("Authorization header"),
        )
        .query("access_token=".to_owned()),
        Case::raw(
            "cookie, empty",
            vec![],
            &valid,
            Invalid("Authorization header"),
        )
        .cookie("entra_token=".to_owned()),
        Case::raw(
            "query, twice",
            vec![],
            &valid,
            Invalid("Authorization header"),
        )
        .query(format!("access_token={valid}&access_token={valid}")),
        Case::raw(
            "cookie, twice",
            vec![],
            &valid,
            Invalid("Authorization header"),
        )
        .cookie(format!("entra_token={valid}; entra_token={valid}")),
        Case::bearer(
            "header and query",
            valid.clone(),
            Invalid("Authorization header"),
        )
        .query(format!("access_token={valid}")),
        Case::bearer(
            "header and cookie",
            valid.clone(),
            Invalid("Authorization header"),
        )
        .cookie(format!("entra_token={valid}")),
        Case::raw(
            "query and cookie",
            vec![],
            &valid,
            Invalid("Authorization header"),
        )
        .query(format!("access_token={valid}"))
        .cookie(format!("entra_token={valid}")),
        Case::raw("query, other parameter name", vec![], &valid, NoToken)
            .query(format!("token={valid}")),
        Case::raw("cookie, other cookie name", vec![], &valid, NoToken)
            .cookie(format!("access_token={valid}")),
        Case::raw(
            "query, forged alg none",
            vec![],
            &valid,
            Invalid("algorithm"),
        )
        .query(format!(
            "access_token={}",
            emu.token().header("alg", json!("none")).sign()
        )),
    ];
    run_cases(&api.http, &api.base, &cases).await;
}

/// With the optional layer, a request without a token passes anonymously, but a token that is
/// present and bad (or a malformed `Authorization` header) is still a 401: never anonymous.
#[tokio::test]
async fn optional_layer_never_turns_a_bad_token_into_anonymous() {
    use Expect::*;
    let emu = Emulator::start().await.unwrap();
    let clock = ManualClock::starting_now();
    let cfg = dev_config(&emu, &clock).build().unwrap();
    let api = serve(EntraAuthLayer::new(cfg).optional(), clock).await;
    let valid = emu.token().sign();
    let cases = vec![
        Case::raw("control: anonymous", vec![], &valid, Accepted).on("/maybe"),
        Case::bearer("control: valid", valid.clone(), Accepted).on("/maybe"),
        Case::bearer("expired", emu.token().expired().sign(), Invalid("expired")).on("/maybe"),
        Case::bearer(
            "alg none",
            emu.token().header("alg", json!("none")).sign(),
            Invalid("algorithm"),
        )
        .on("/maybe"),
        Case::raw(
            "Basic scheme",
            vec![format!("Basic {valid}").into_bytes()],
            &valid,
            Invalid("Authorization header"),
        )
        .on("/maybe"),
        Case::raw(
            "empty bearer",
            vec![b"Bearer ".to_vec()],
            &valid,
            Invalid("Authorization header"),
        )
        .on("/maybe"),
        Case::raw(
            "two headers",
            vec![format!("Bearer {valid}").into_bytes(), b"Bearer x".to_vec()],
            &valid,
            Invalid("Authorization header"),
        )
        .on("/maybe"),
        // A route that needs claims still answers 401 to an anonymous caller.
        Case::raw(
            "anonymous on a route that needs claims",
            vec![],
            &valid,
            NoToken,
        ),
        Case::raw("anonymous on a guarded route", vec![], &valid, NoToken).on("/admin"),
    ];
    run_cases(&api.http, &api.base, &cases).await;
    // The anonymous control really was anonymous.
    let r = api.get("/maybe", None).await;
    assert_eq!(r.body["anonymous"], true);
}
