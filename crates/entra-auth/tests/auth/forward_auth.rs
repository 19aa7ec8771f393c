//! The forward-auth service (`entra_auth::forward_auth::router`) over real HTTP on 127.0.0.1,
//! against the emulator: each proxy's dialect (nginx, Traefik, Envoy), the identity headers,
//! the refusals (compared with the layer's own answers), per-path rules, the authority down, bad
//! original requests, request ids and health endpoints.

use crate::common;

use std::time::Duration;

use common::{dev_config, serve};
use entra_auth::forward_auth::{self, ForwardAuthConfig, RulesFile};
use entra_auth::{Clock, EntraAuthLayer, KeyRefreshPolicy, ManualClock};
use entra_emulator::{DEV_CLIENT_ID, DEV_TENANT_ID, Emulator, Endpoint, Fault};
use http::HeaderMap;
use serde_json::Value;

const RULES: &str = r#"
[[rule]]
path = "/admin"
roles = ["Api.Admin"]

[[rule]]
path = "/admin/reports"
methods = ["GET", "HEAD"]
roles = ["Reports.Read"]

[[rule]]
path = "/files"
scopes = ["Files.Read"]
roles = ["Files.Read.All"]

[[rule]]
path = "/partners"
apps = ["00000000-0000-0000-0000-00000000beef"]

[[rule]]
path = "/public"
anonymous = true
"#;

const IDENTITY: [&str; 5] = [
    "x-entra-oid",
    "x-entra-tid",
    "x-entra-app-id",
    "x-entra-scopes",
    "x-entra-roles",
];

#[derive(Clone, Copy, Debug)]
enum Proxy {
    Nginx,
    Traefik,
    Envoy,
}

const PROXIES: [Proxy; 3] = [Proxy::Nginx, Proxy::Traefik, Proxy::Envoy];

struct Service {
    base: String,
    auth: entra_auth::Authenticator,
    clock: ManualClock,
    http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn identity(&self) -> [&str; 5] {
        IDENTITY.map(|name| {
            self.header(name)
                .unwrap_or_else(|| panic!("no {name} header: {self:?}"))
        })
    }
}

/// What each proxy sends for `method uri` (the original request) with `token`.
fn request(
    service: &Service,
    proxy: Proxy,
    method: &str,
    uri: &str,
    token: Option<&str>,
) -> reqwest::RequestBuilder {
    let http = &service.http;
    let base = &service.base;
    let mut req = match proxy {
        // auth_request sends a GET subrequest with the original headers, plus the two the
        // documented configuration sets.
        Proxy::Nginx => http
            .get(format!("{base}/auth/nginx"))
            .header("x-original-method", method)
            .header("x-original-uri", uri),
        Proxy::Traefik => http
            .get(format!("{base}/auth/traefik"))
            .header("x-forwarded-method", method)
            .header("x-forwarded-uri", uri)
            .header("x-forwarded-host", "api.example.test")
            .header("x-forwarded-proto", "https"),
        Proxy::Envoy => http.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{base}/auth/envoy{uri}"),
        ),
    };
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    req
}

async fn send(req: reqwest::RequestBuilder) -> Reply {
    let res = req
        .send()
        .await
        .expect("request to the forward-auth service");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        headers,
        body,
    }
}

impl Service {
    async fn check(&self, proxy: Proxy, method: &str, uri: &str, token: Option<&str>) -> Reply {
        send(request(self, proxy, method, uri, token)).await
    }
}

async fn start(emu: &Emulator, rules: &str, policy: Option<KeyRefreshPolicy>) -> Service {
    let clock = ManualClock::starting_now();
    let mut builder = dev_config(emu, &clock).realm("orders");
    if let Some(policy) = policy {
        builder = builder.key_refresh(policy);
    }
    let file = RulesFile::from_toml(rules).unwrap();
    let config = ForwardAuthConfig::new(builder.build().unwrap()).with_file(file);
    let auth = config.authenticator().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = forward_auth::router(config);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    Service {
        base,
        auth,
        clock,
        http,
        server,
    }
}

fn challenge(reply: &Reply) -> &str {
    reply.header("www-authenticate").unwrap_or("")
}

#[tokio::test]
async fn each_proxy_gets_the_callers_identity_headers() {
    let emu = Emulator::start().await.unwrap();
    let fa = start(&emu, RULES, None).await;
    let app = emu.token().roles(["Api.Admin", "Orders.Read"]);
    let app_claims = app.claims();
    let app_token = app.sign();
    let user_oid = "5b0c9a1e-7f3d-4e2a-8c6b-1d9e0f2a3b4c";
    let user = emu
        .token()
        .delegated(user_oid, "Ada Lovelace", "ada@example.test")
        .scopes("Files.Read User.Read");
    let user_token = user.sign();
    for proxy in PROXIES {
        let reply = fa
            .check(proxy, "DELETE", "/admin/users/7?x=1", Some(&app_token))
            .await;
        assert_eq!(reply.status, 200, "{proxy:?}: {reply:?}");
        assert_eq!(
            reply.identity(),
            [
                app_claims["oid"].as_str().unwrap(),
                DEV_TENANT_ID,
                DEV_CLIENT_ID,
                "",
                "Api.Admin Orders.Read",
            ],
            "{proxy:?}"
        );
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        let signature = app_token.rsplit('.').next().unwrap();
        for (name, value) in &reply.headers {
            let text = String::from_utf8_lossy(value.as_bytes());
            assert!(!text.contains(signature), "{name} carries the token");
        }

        let reply = fa
            .check(proxy, "GET", "/files/report.pdf", Some(&user_token))
            .await;
        assert_eq!(reply.status, 200, "{proxy:?}: {reply:?}");
        assert_eq!(
            reply.identity(),
            [
                user_oid,
                DEV_TENANT_ID,
                DEV_CLIENT_ID,
                "Files.Read User.Read",
                ""
            ],
            "{proxy:?}"
        );
    }
}

#[tokio::test]
async fn refusals_are_the_layers_own() {
    let emu = Emulator::start().await.unwrap();
    let fa = start(&emu, RULES, None).await;
    let clock = ManualClock::starting_now();
    let layer = EntraAuthLayer::new(dev_config(&emu, &clock).realm("orders").build().unwrap());
    let api = serve(layer, clock).await;
    let no_role = emu.token().roles(["Orders.Read"]).sign();
    let cases: [(&str, Option<String>); 6] = [
        ("no token", None),
        ("garbage", Some("not-a-token".to_owned())),
        ("expired", Some(emu.token().expired().sign())),
        (
            "wrong audience",
            Some(emu.token().audience("api://other").sign()),
        ),
        ("unknown key", Some(emu.token().kid("nope").sign())),
        ("role missing", Some(no_role)),
    ];
    for (what, token) in &cases {
        // The layer's API has the same requirement on /admin.
        let layer_reply = api.get("/admin", token.as_deref()).await;
        for proxy in PROXIES {
            let reply = fa.check(proxy, "GET", "/admin", token.as_deref()).await;
            assert_eq!(reply.status, layer_reply.status, "{what} {proxy:?}");
            assert_eq!(
                reply.header("www-authenticate"),
                layer_reply.www_authenticate.as_deref(),
                "{what} {proxy:?}"
            );
            assert_eq!(reply.body, layer_reply.body, "{what} {proxy:?}");
            assert!(reply.headers.get("x-entra-oid").is_none(), "{what}");
        }
    }
    let reply = fa.check(Proxy::Nginx, "GET", "/admin", None).await;
    assert_eq!(
        (reply.status, challenge(&reply)),
        (401, "Bearer realm=\"orders\"")
    );
    let reply = fa
        .check(
            Proxy::Nginx,
            "GET",
            "/admin",
            Some(&cases[5].1.clone().unwrap()),
        )
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        challenge(&reply),
        "Bearer realm=\"orders\", error=\"insufficient_scope\", error_description=\"this resource requires app role Api.Admin\", scope=\"Api.Admin\""
    );
}

#[tokio::test]
async fn malformed_credentials_are_401_never_500() {
    let emu = Emulator::start().await.unwrap();
    let fa = start(&emu, RULES, None).await;
    let token = emu.token().sign();
    for value in [
        format!("Bearer {token} extra"),
        format!("Bearer {token},{token}"),
        format!("Basic {token}"),
        "Bearer".to_owned(),
    ] {
        let reply = send(
            request(&fa, Proxy::Traefik, "GET", "/orders", None).header("authorization", value),
        )
        .await;
        assert_eq!(reply.status, 401, "{reply:?}");
        assert_eq!(reply.body["error"], "invalid_token");
        assert!(
            reply.body["error_description"]
                .as_str()
                .unwrap()
                .contains("not a single Bearer token")
        );
    }
    // Two Authorization headers, and bytes that are not UTF-8.
    let reply = send(
        request(&fa, Proxy::Nginx, "GET", "/orders", Some(&token))
            .header("authorization", format!("Bearer {token}")),
    )
    .await;
    assert_eq!(reply.status, 401);
    let reply = send(request(&fa, Proxy::Nginx, "GET", "/orders", None).header(
        "authorization",
        http::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
    ))
    .await;
    assert_eq!(reply.status, 401);
    // Each refusal is counted once, under its reason, as the layer counts its own.
    let reply = fa.check(Proxy::Nginx, "GET", "/orders", None).await;
    assert_eq!(reply.status, 401);
    let stats = fa.auth.stats();
    let count = |code: &str| stats.rejections.iter().find(|(c, _)| *c == code).unwrap().1;
    assert_eq!(
        count("malformed_authorization"),
        6,
        "{:?}",
        stats.rejections
    );
    assert_eq!(count("missing_token"), 1);
}

#[tokio::test]
async fn rules_apply_by_longest_prefix_and_method() {
    let emu = Emulator::start().await.unwrap();
    let fa = start(&emu, RULES, None).await;
    let admin = emu.token().roles(["Api.Admin"]).sign();
    let reader = emu.token().roles(["Reports.Read"]).sign();
    let files = emu.token().roles(["Files.Read.All"]).sign();
    let user_files = emu
        .token()
        .delegated(
            "5b0c9a1e-7f3d-4e2a-8c6b-1d9e0f2a3b4c",
            "Ada",
            "ada@example.test",
        )
        .scopes("Files.Read")
        .sign();
    let nothing = emu.token().roles(["Orders.Read"]).sign();
    let cases = [
        // No rule: any valid token.
        ("GET", "/orders/1", &nothing, 200),
        ("GET", "/", &nothing, 200),
        // /admin and everything under it, but not /administrator.
        ("GET", "/admin", &admin, 200),
        ("POST", "/admin/users", &admin, 200),
        ("GET", "/admin/users", &reader, 403),
        ("GET", "/administrator", &nothing, 200),
        // The longer prefix, for its methods only.
        ("GET", "/admin/reports/2024", &reader, 200),
        ("HEAD", "/admin/reports", &reader, 200),
        ("GET", "/admin/reports/2024", &admin, 403),
        ("DELETE", "/admin/reports/2024", &admin, 200),
        ("DELETE", "/admin/reports/2024", &reader, 403),
        // Any of the scopes or the roles.
        ("GET", "/files/a", &files, 200),
        ("GET", "/files/a", &user_files, 200),
        ("GET", "/files/a", &nothing, 403),
        // Calling apps.
        ("GET", "/partners/x", &admin, 403),
        // Normalized before matching: percent-decoding, empty segments, ;parameters.
        ("GET", "/%61dmin/users", &reader, 403),
        ("GET", "//admin//users", &reader, 403),
        ("GET", "/admin;jsessionid=1/users", &reader, 403),
        ("GET", "/public;x/../admin", &reader, 400),
    ];
    for proxy in PROXIES {
        for (method, path, token, status) in &cases {
            if matches!(proxy, Proxy::Envoy) && path.contains("..") {
                continue; // the test's client resolves `..` in its own URL before sending
            }
            let reply = fa.check(proxy, method, path, Some(token)).await;
            assert_eq!(
                reply.status, *status,
                "{proxy:?} {method} {path}: {reply:?}"
            );
        }
    }
    let reply = fa
        .check(Proxy::Traefik, "GET", "/partners", Some(&admin))
        .await;
    assert_eq!(
        reply.body["error_description"],
        "the calling application is not allowed to use this resource"
    );
    let reply = fa
        .check(Proxy::Traefik, "GET", "/files", Some(&nothing))
        .await;
    assert!(
        challenge(&reply).ends_with("scope=\"Files.Read Files.Read.All\""),
        "{}",
        challenge(&reply)
    );
}

#[tokio::test]
async fn an_anonymous_rule_needs_no_token_but_checks_one_sent() {
    let emu = Emulator::start().await.unwrap();
    let fa = start(&emu, RULES, None).await;
    for proxy in PROXIES {
        let reply = fa.check(proxy, "GET", "/public/index.html", None).await;
        assert_eq!(reply.status, 200, "{proxy:?}");
        // Every identity header, empty: a proxy copying them overwrites a client's.
        assert_eq!(reply.identity(), ["", "", "", "", ""], "{proxy:?}");
        let reply = fa.check(proxy, "GET", "/public", Some("garbage")).await;
        assert_eq!(reply.status, 401, "{proxy:?}");
        let reply = fa
            .check(proxy, "GET", "/public", Some(&emu.token().expired().sign()))
            .await;
        assert_eq!(reply.status, 401, "{proxy:?}");
        let reply = fa
            .check(proxy, "GET", "/public", Some(&emu.token().sign()))
            .await;
        assert_eq!(reply.status, 200, "{proxy:?}");
        assert_eq!(reply.identity()[2], DEV_CLIENT_ID);
        // Not a prefix of another segment.
        let reply = fa.check(proxy, "GET", "/publications", None).await;
        assert_eq!(reply.status, 401, "{proxy:?}");
    }
}

#[tokio::test]
async fn each_endpoint_reads_only_its_own_proxys_headers() {
    let emu = Emulator::start().await.unwrap();
    let fa = start(&emu, RULES, None).await;
    // Through Traefik a client can send X-Original-URI; through nginx, X-Forwarded-Uri. Neither
    // may choose the path the rules see.
    let reply = send(
        request(&fa, Proxy::Traefik, "GET", "/admin", None)
            .header("x-original-uri", "/public")
            .header("x-original-method", "GET"),
    )
    .await;
    assert_eq!(reply.status, 401);
    let reply = send(
        request(&fa, Proxy::Nginx, "GET", "/admin", None)
            .header("x-forwarded-uri", "/public")
            .header("x-forwarded-method", "GET"),
    )
    .await;
    assert_eq!(reply.status, 401);
    let reply = send(
        request(&fa, Proxy::Envoy, "GET", "/admin", None)
            .header("x-original-uri", "/public")
            .header("x-forwarded-uri", "/public"),
    )
    .await;
    assert_eq!(reply.status, 401);
}

#[tokio::test]
async fn bad_original_requests_are_400_never_500() {
    let emu = Emulator::start().await.unwrap();
    let fa = start(&emu, RULES, None).await;
    let token = emu.token().roles(["Api.Admin"]).sign();
    let cases = [
        (
            "nginx without the original headers",
            fa.http.get(format!("{}/auth/nginx", fa.base)),
        ),
        (
            "nginx without X-Original-Method",
            fa.http
                .get(format!("{}/auth/nginx", fa.base))
                .header("x-original-uri", "/admin"),
        ),
        (
            "traefik without X-Forwarded-Uri",
            fa.http
                .get(format!("{}/auth/traefik", fa.base))
                .header("x-forwarded-method", "GET"),
        ),
        (
            "a method that is not one",
            request(&fa, Proxy::Traefik, "GET", "/admin", None)
                .header("x-forwarded-method", "G(E)T"),
        ),
        (
            "a URI that is not a path",
            request(&fa, Proxy::Nginx, "GET", "admin", None),
        ),
        (
            "not UTF-8",
            fa.http
                .get(format!("{}/auth/nginx", fa.base))
                .header("x-original-method", "GET")
                .header(
                    "x-original-uri",
                    http::HeaderValue::from_bytes(b"/caf\xe9").unwrap(),
                ),
        ),
        (
            "dot segments",
            request(&fa, Proxy::Nginx, "GET", "/public/../admin", None),
        ),
        (
            "encoded dots",
            request(&fa, Proxy::Traefik, "GET", "/public/%2e%2e/admin", None),
        ),
        (
            "encoded slash",
            request(&fa, Proxy::Traefik, "GET", "/public%2f..%2fadmin", None),
        ),
        (
            "backslash",
            request(&fa, Proxy::Nginx, "GET", "/public\\..\\admin", None),
        ),
        (
            "encoded NUL",
            request(&fa, Proxy::Envoy, "GET", "/admin%00", None),
        ),
    ];
    for (what, req) in cases {
        let reply = send(req.header("authorization", format!("Bearer {token}"))).await;
        assert_eq!(reply.status, 400, "{what}: {reply:?}");
        assert_eq!(reply.body["error"], "invalid_request", "{what}");
        assert!(reply.headers.get("x-entra-oid").is_none(), "{what}");
    }
}

#[tokio::test]
async fn authority_down_is_503_with_retry_after_then_recovers() {
    let emu = Emulator::start().await.unwrap();
    emu.set_fault(Endpoint::Discovery, Fault::Status(503));
    emu.set_fault(Endpoint::Keys, Fault::DropConnection);
    let mut policy = KeyRefreshPolicy::default();
    policy.fetch_timeout = Duration::from_millis(500);
    let retry_after = policy.retry_after_failure;
    let fa = start(&emu, RULES, Some(policy)).await;
    let token = emu
        .token()
        .roles(["Api.Admin"])
        .issued_at(fa.clock.unix_seconds())
        .sign();
    let ready = send(fa.http.get(format!("{}/readyz", fa.base))).await;
    assert_eq!(ready.status, 503);
    for proxy in PROXIES {
        let reply = fa.check(proxy, "GET", "/admin", Some(&token)).await;
        assert_eq!(reply.status, 503, "{proxy:?}: {reply:?}");
        let secs: u64 = reply.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=retry_after.as_secs()).contains(&secs), "{secs}");
        assert_eq!(reply.body["error"], "temporarily_unavailable");
        assert!(reply.headers.get("www-authenticate").is_none());
        assert!(reply.headers.get("x-entra-oid").is_none());
    }
    // A request without a token is still a plain 401 (nothing to validate).
    let reply = fa.check(Proxy::Nginx, "GET", "/admin", None).await;
    assert_eq!(reply.status, 401);

    // Entra is back; once the backoff has passed (by the clock, not by sleeping), keys load.
    emu.clear_faults();
    fa.clock.advance(retry_after + Duration::from_secs(1));
    let reply = fa.check(Proxy::Nginx, "GET", "/admin", Some(&token)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let ready = send(fa.http.get(format!("{}/readyz", fa.base))).await;
    assert_eq!(ready.status, 200);
}

#[tokio::test]
async fn identity_header_names_come_from_the_file() {
    let emu = Emulator::start().await.unwrap();
    let rules = "[headers]\noid = \"X-User-Id\"\nroles = \"X-User-Roles\"\n";
    let fa = start(&emu, rules, None).await;
    let reply = fa
        .check(
            Proxy::Envoy,
            "GET",
            "/x",
            Some(&emu.token().roles(["Api.Admin"]).sign()),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(reply.header("x-user-id").is_some_and(|v| !v.is_empty()));
    assert_eq!(reply.header("x-user-roles"), Some("Api.Admin"));
    assert_eq!(reply.header("x-entra-tid"), Some(DEV_TENANT_ID));
    assert!(reply.headers.get("x-entra-oid").is_none());
    assert!(reply.headers.get("x-entra-roles").is_none());
}

#[tokio::test]
async fn request_ids_health_and_readiness() {
    let emu = Emulator::start().await.unwrap();
    let fa = start(&emu, "", None).await;
    // Nothing loaded yet: the probe itself loads the keys.
    let reply = send(fa.http.get(format!("{}/readyz", fa.base))).await;
    assert_eq!((reply.status, &reply.body), (200, &Value::from("ready")));
    assert_eq!(emu.request_count(Endpoint::Keys), 1);
    // A day without traffic: the keys are past their maximum age; the probe refreshes them
    // instead of keeping the replica out of rotation for good.
    fa.clock.advance(Duration::from_secs(24 * 3600 + 1));
    let reply = send(fa.http.get(format!("{}/readyz", fa.base))).await;
    assert_eq!((reply.status, &reply.body), (200, &Value::from("ready")));
    assert_eq!(emu.request_count(Endpoint::Keys), 2);
    let token = emu.token().issued_at(fa.clock.unix_seconds()).sign();
    let reply = fa.check(Proxy::Traefik, "GET", "/x", Some(&token)).await;
    assert_eq!(reply.status, 200);
    let made = reply.header("x-request-id").unwrap();
    assert_eq!(made.len(), 36, "a UUID: {made}");
    let reply = send(
        request(&fa, Proxy::Nginx, "GET", "/x", Some(&token)).header("x-request-id", "nginx-42"),
    )
    .await;
    assert_eq!(reply.header("x-request-id"), Some("nginx-42"));
    for path in ["/healthz", "/readyz"] {
        let reply = send(fa.http.get(format!("{}{path}", fa.base))).await;
        assert_eq!(reply.status, 200, "{path}");
    }
    let reply = send(fa.http.get(format!("{}/elsewhere", fa.base))).await;
    assert_eq!(reply.status, 404);
}
