//! The main job as a new user runs it: `cargo run --example protected_api` with no Entra tenant
//! configured starts the built-in emulator and prints a token; the API answers 401 without it and
//! 200 with it. Also its tower-http layers (CORS for the emulator's SPA, request ids, traces
//! that never print a token) and its `/metrics`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod example_support;

use example_support::{Running, example_path};

/// What the example printed in emulator mode.
struct Printed {
    base: String,
    token: String,
    sign_in_url: String,
    /// The `CORS: ...` line.
    cors: String,
    /// The `curl` line for `/metrics`.
    metrics_curl: Option<String>,
}

/// Starts the example API in emulator mode; returns its base URL and the printed token.
fn start_example() -> (Running, String, String) {
    let (running, printed) = start_example_printing();
    (running, printed.base, printed.token)
}

/// Starts the example API in emulator mode; returns what it printed.
fn start_example_printing() -> (Running, Printed) {
    let (running, printed, _) = launch(&[], false);
    (running, printed)
}

/// The example's standard error, collected as it writes it.
#[derive(Clone, Default)]
struct Stderr(Arc<Mutex<String>>);

impl Stderr {
    fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }

    /// Waits (at most 20 s) until a line contains all of `parts`; returns that line.
    fn wait_for_line(&self, parts: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(line) = self
                .text()
                .lines()
                .find(|line| parts.iter().all(|part| line.contains(part)))
            {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no line with {parts:?} in the example's stderr:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Starts the example API in emulator mode with `env` (`RUST_LOG` defaults to `warn`); its
/// stderr is collected when `capture_stderr`, else inherited.
fn launch(env: &[(&str, &str)], capture_stderr: bool) -> (Running, Printed, Stderr) {
    let mut command = Command::new(example_path("protected_api"));
    command
        .env("BIND", "127.0.0.1:0")
        .env_remove("ENTRA_TENANT_ID")
        .env_remove("ENTRA_CLIENT_ID")
        .env_remove("ENTRA_AUTHORITY")
        .env_remove("ENTRA_CORS_ORIGINS")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(if capture_stderr {
            Stdio::piped()
        } else {
            Stdio::inherit()
        });
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("start the example");
    let stdout = child.stdout.take().unwrap();
    let stderr = Stderr::default();
    if let Some(pipe) = child.stderr.take() {
        let collected = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut text = collected.0.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
    }
    let running = Running(child);
    let mut base = None;
    let mut token = None;
    let mut sign_in_url = None;
    let mut cors = None;
    let mut metrics_curl = None;
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("protected API listening on ") {
            base = Some(rest.trim().to_owned());
        }
        if let Some(rest) = line.strip_prefix("TOKEN=") {
            token = Some(rest.trim().to_owned());
        }
        if let Some(rest) = line.strip_prefix("SIGN_IN_URL=") {
            sign_in_url = Some(rest.trim().to_owned());
        }
        if line.starts_with("CORS: ") {
            cors = Some(line.clone());
        }
        if line.contains("/metrics") {
            metrics_curl = Some(line.trim().to_owned());
        }
        // The last line the example prints in emulator mode.
        if line.contains("code_verifier=") {
            break;
        }
    }
    // Keep draining the example's output so that it never writes into a closed pipe.
    std::thread::spawn(move || for _ in lines {});
    let printed = Printed {
        base: base.expect("base URL printed"),
        token: token.expect("token printed"),
        sign_in_url: sign_in_url.expect("sign-in URL printed"),
        cors: cors.expect("the CORS origins printed"),
        metrics_curl,
    };
    (running, printed, stderr)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

#[tokio::test]
async fn example_api_in_emulator_mode() {
    let (_running, base, token) = start_example();
    let http = client();

    let r = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let r = http.get(format!("{base}/me")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");

    let r = http
        .get(format!("{base}/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let me: serde_json::Value = r.json().await.unwrap();
    assert_eq!(me["tid"], entra_emulator::DEV_TENANT_ID);
    assert_eq!(me["app_id"], entra_emulator::DEV_CLIENT_ID);
    assert_eq!(me["ver"], "2.0");

    for path in ["/admin", "/files"] {
        let r = http
            .get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }

    let r = http
        .get(format!("{base}/me"))
        .bearer_auth(format!("{token}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains("invalid_token"), "{challenge}");
}

/// The "done when": a user signs in at the printed URL (the sign-in page, as a browser
/// would submit it), the code is redeemed as the SPA redeems it, and the delegated token
/// (scope `Files.Read`) is accepted on `/files` and refused on `/admin`.
#[tokio::test]
async fn a_user_signed_in_at_the_printed_url_reaches_files() {
    use entra_emulator::{
        DEV_SPA_CLIENT_ID, DEV_USER_ID, DEV_USER_PASSWORD, DEV_USER_UPN, Emulator,
    };

    let (_running, printed) = start_example_printing();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let page = http.get(&printed.sign_in_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let flow = html
        .split("name=\"flow\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the sign-in page carries its flow id")
        .to_owned();
    assert!(html.contains(DEV_USER_UPN), "the page lists the users");
    let authorize = url::Url::parse(&printed.sign_in_url).unwrap();
    let emulator = format!("{}://{}", authorize.scheme(), authorize.host_str().unwrap())
        + &format!(":{}", authorize.port().unwrap());
    let tenant = authorize
        .path_segments()
        .unwrap()
        .next()
        .unwrap()
        .to_owned();

    let signed_in = http
        .post(format!("{emulator}/{tenant}/login"))
        .form(&[
            ("flow", flow.as_str()),
            ("user", DEV_USER_UPN),
            ("password", DEV_USER_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 302);
    let location = url::Url::parse(signed_in.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(
        location.origin().ascii_serialization(),
        "http://localhost:3000"
    );
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code");

    let tokens: serde_json::Value = http
        .post(format!("{emulator}/{tenant}/oauth2/v2.0/token"))
        .header("Origin", "http://localhost:3000")
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", DEV_SPA_CLIENT_ID),
            ("redirect_uri", "http://localhost:3000/"),
            ("code_verifier", Emulator::SIGN_IN_URL_VERIFIER),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user_token = tokens["access_token"].as_str().expect("an access token");

    let files = http
        .get(format!("{}/files", printed.base))
        .bearer_auth(user_token)
        .send()
        .await
        .unwrap();
    assert_eq!(files.status(), 200);
    let body: serde_json::Value = files.json().await.unwrap();
    assert_eq!(body["for"], DEV_USER_ID);
    let admin = http
        .get(format!("{}/admin", printed.base))
        .bearer_auth(user_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        admin.status(),
        403,
        "a user with Files.Read only is no admin"
    );
}

/// The origin of the emulator's dev SPA registration (its `spa` redirect URI
/// `http://localhost:3000/`).
const SPA_ORIGIN: &str = "http://localhost:3000";

fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).map(|v| v.to_str().unwrap())
}

/// The comma-separated list header `name`, lowercased.
fn header_list(r: &reqwest::Response, name: &str) -> Vec<String> {
    header(r, name)
        .unwrap_or("")
        .split(',')
        .map(|item| item.trim().to_ascii_lowercase())
        .filter(|item| !item.is_empty())
        .collect()
}

async fn preflight(http: &reqwest::Client, base: &str, origin: &str) -> reqwest::Response {
    http.request(reqwest::Method::OPTIONS, format!("{base}/me"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "authorization")
        .send()
        .await
        .unwrap()
}

/// A browser SPA at the emulator's SPA origin (or one from `ENTRA_CORS_ORIGINS`) may call the
/// API with a token: the preflight is answered by CORS (not 401), other origins get no
/// `access-control-allow-origin`, and the actual request exposes `www-authenticate`.
#[tokio::test]
async fn cors_lets_the_emulator_spa_and_configured_origins_call_the_api() {
    let (_running, printed, _) = launch(
        &[(
            "ENTRA_CORS_ORIGINS",
            " https://app.contoso.com/ ,http://127.0.0.1:5173",
        )],
        false,
    );
    assert_eq!(
        printed.cors,
        "CORS: allowed origins http://localhost:3000, https://app.contoso.com, http://127.0.0.1:5173"
    );
    let (base, token) = (&printed.base, &printed.token);
    let http = client();

    for origin in [
        SPA_ORIGIN,
        "https://app.contoso.com",
        "http://127.0.0.1:5173",
    ] {
        let r = preflight(&http, base, origin).await;
        assert!(
            [200, 204].contains(&r.status().as_u16()),
            "{origin}: {}",
            r.status()
        );
        assert_eq!(header(&r, "access-control-allow-origin"), Some(origin));
        let allowed = header_list(&r, "access-control-allow-headers");
        assert!(allowed.contains(&"authorization".to_owned()), "{allowed:?}");
        assert!(allowed.contains(&"content-type".to_owned()), "{allowed:?}");
        let methods = header_list(&r, "access-control-allow-methods");
        for method in ["get", "post", "options"] {
            assert!(methods.contains(&method.to_owned()), "{methods:?}");
        }
        assert_eq!(header(&r, "access-control-max-age"), Some("600"));
        assert_eq!(header(&r, "access-control-allow-credentials"), None);
        assert!(
            header(&r, "www-authenticate").is_none(),
            "not the auth layer's 401"
        );
    }

    for origin in ["https://evil.example", "http://localhost:3001", "null"] {
        let r = preflight(&http, base, origin).await;
        assert_eq!(header(&r, "access-control-allow-origin"), None, "{origin}");
        assert_ne!(
            r.status(),
            401,
            "{origin}: the preflight never reaches the auth layer"
        );
    }

    let r = http
        .get(format!("{base}/me"))
        .header("Origin", SPA_ORIGIN)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "access-control-allow-origin"), Some(SPA_ORIGIN));
    let exposed = header_list(&r, "access-control-expose-headers");
    assert!(
        exposed.contains(&"www-authenticate".to_owned()),
        "{exposed:?}"
    );
    assert!(exposed.contains(&"x-request-id".to_owned()), "{exposed:?}");

    // The SPA can read why it was refused.
    let r = http
        .get(format!("{base}/me"))
        .header("Origin", SPA_ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(header(&r, "access-control-allow-origin"), Some(SPA_ORIGIN));
    assert_eq!(header(&r, "www-authenticate"), Some("Bearer"));

    let r = http
        .get(format!("{base}/me"))
        .header("Origin", "https://evil.example")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "access-control-allow-origin"), None);
}

/// Every response carries `x-request-id`: a fresh UUID, or the one the client sent.
#[tokio::test]
async fn every_response_carries_a_request_id() {
    let (_running, base, token) = start_example();
    let http = client();
    let mut seen = Vec::new();
    let requests = [
        http.get(format!("{base}/healthz")),
        http.get(format!("{base}/metrics")),
        http.get(format!("{base}/me")),
        http.get(format!("{base}/me")).bearer_auth(&token),
        http.get(format!("{base}/me")).bearer_auth("not-a-token"),
        http.get(format!("{base}/nowhere")),
        http.request(reqwest::Method::OPTIONS, format!("{base}/me"))
            .header("Origin", SPA_ORIGIN)
            .header("Access-Control-Request-Method", "GET"),
    ];
    for request in requests {
        let r = request.send().await.unwrap();
        let id = header(&r, "x-request-id")
            .unwrap_or_else(|| panic!("{} {} has no x-request-id", r.url(), r.status()))
            .to_owned();
        assert_eq!(id.len(), 36, "a UUID: {id}");
        assert_eq!(id.matches('-').count(), 4, "a UUID: {id}");
        assert!(!seen.contains(&id), "ids are unique");
        seen.push(id);
    }

    for request in [
        http.get(format!("{base}/healthz")),
        http.get(format!("{base}/me")),
        http.get(format!("{base}/me")).bearer_auth(&token),
    ] {
        let r = request
            .header("x-request-id", "client-chosen-42")
            .send()
            .await
            .unwrap();
        assert_eq!(header(&r, "x-request-id"), Some("client-chosen-42"));
    }
}

/// With everything at TRACE, a request with a token leaves its trace lines (method, path
/// without the query, request id, status) but never the token: the headers print
/// `"authorization": Sensitive`.
#[tokio::test]
async fn traces_carry_the_request_but_never_the_token() {
    let (_running, printed, stderr) = launch(&[("RUST_LOG", "trace")], true);
    let http = client();
    let r = http
        .get(format!("{}/me?secret-query=1", printed.base))
        .bearer_auth(&printed.token)
        .header("x-request-id", "trace-test-7")
        .header("Cookie", "session=cookie-value-never-logged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let finished = stderr.wait_for_line(&["request_id=\"trace-test-7\"", "status=200"]);
    assert!(finished.contains("method=GET"), "{finished}");
    assert!(finished.contains("path=\"/me\""), "{finished}");
    let headers = stderr.wait_for_line(&["request_id=\"trace-test-7\"", "headers="]);
    assert!(
        headers.contains("\"authorization\": Sensitive"),
        "{headers}"
    );
    assert!(headers.contains("\"cookie\": Sensitive"), "{headers}");

    let text = stderr.text();
    for line in text.lines().filter(|l| l.contains("trace-test-7")) {
        assert!(
            !line.contains("secret-query"),
            "the query is not traced: {line}"
        );
    }
    assert!(!text.contains("cookie-value-never-logged"));
    let token = &printed.token;
    let signature = token.rsplit('.').next().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    for secret in [token.as_str(), signature, payload] {
        assert!(
            !text.contains(secret),
            "the token (or a part of it) is in the example's stderr"
        );
    }
}

/// The value of the sample `name{labels}` (exactly these labels) in a Prometheus text output;
/// 0 when absent.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(text, name)
        .into_iter()
        .filter(|(have, _)| {
            have.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| have.iter().any(|(hk, hv)| hk == k && hv == v))
        })
        .map(|(_, value)| value)
        .sum()
}

/// The samples of `name`: their labels and values.
fn samples(text: &str, name: &str) -> Vec<(Vec<(String, String)>, f64)> {
    let mut found = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (labels, value) = match rest.strip_prefix('{') {
            Some(rest) => {
                let (labels, value) = rest.split_once('}').unwrap();
                let labels = labels
                    .split(',')
                    .filter(|l| !l.is_empty())
                    .map(|l| {
                        let (k, v) = l.split_once('=').unwrap();
                        (k.to_owned(), v.trim_matches('"').to_owned())
                    })
                    .collect();
                (labels, value)
            }
            None if rest.starts_with(' ') => (Vec::new(), rest),
            None => continue,
        };
        found.push((labels, value.trim().parse().unwrap()));
    }
    found
}

async fn scrape(http: &reqwest::Client, base: &str) -> String {
    let r = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "content-type"),
        Some("text/plain; version=0.0.4")
    );
    r.text().await.unwrap()
}

/// `/metrics` (no token needed) shows the validation counters moving, and carries no token and
/// no tenant id.
#[tokio::test]
async fn metrics_show_the_counters_moving() {
    let (_running, printed) = start_example_printing();
    let (base, token) = (printed.base, printed.token);
    assert!(
        printed
            .metrics_curl
            .as_deref()
            .is_some_and(|line| line.starts_with(&format!("curl -s {base}/metrics"))),
        "the /metrics curl line is printed: {:?}",
        printed.metrics_curl
    );
    let http = client();
    let before = scrape(&http, &base).await;

    let r = http.get(format!("{base}/me")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(format!("{base}/me"))
        .bearer_auth(format!("{token}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    for _ in 0..2 {
        let r = http
            .get(format!("{base}/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    let after = scrape(&http, &base).await;
    let requests = "entra_auth_requests_total";
    let moved = |labels: &[(&str, &str)]| {
        sample(&after, requests, labels) - sample(&before, requests, labels)
    };
    assert_eq!(moved(&[("outcome", "accepted")]), 1.0, "{after}");
    assert_eq!(moved(&[("outcome", "cached")]), 1.0, "{after}");
    assert_eq!(
        moved(&[("outcome", "rejected"), ("reason", "missing_token")]),
        1.0,
        "{after}"
    );
    let rejected_for = |text: &str| -> f64 {
        samples(text, requests)
            .into_iter()
            .filter(|(labels, _)| {
                labels
                    .iter()
                    .any(|(k, v)| k == "outcome" && v == "rejected")
                    && !labels
                        .iter()
                        .any(|(k, v)| k == "reason" && v == "missing_token")
            })
            .map(|(_, value)| value)
            .sum()
    };
    assert_eq!(
        rejected_for(&after) - rejected_for(&before),
        1.0,
        "one rejection for the bad token: {after}"
    );
    assert!(
        sample(
            &after,
            "entra_auth_key_fetches_total",
            &[("document", "key_set")]
        ) >= 1.0,
        "{after}"
    );
    assert!(
        after.contains("entra_auth_token_cache_hits_total"),
        "{after}"
    );

    assert!(!after.contains(entra_emulator::DEV_TENANT_ID), "{after}");
    let signature = token.rsplit('.').next().unwrap();
    for line in after.lines() {
        assert!(
            !line.contains(&token) && !line.contains(signature),
            "{line}"
        );
    }
}
