//! The adversarial token corpus, table-driven, through the full HTTP stack: real HTTP to an API on
//! 127.0.0.1 protected by `entra-auth` and backed by the emulator.
//!
//! Every case states what must happen: `401 invalid_token` (with the reason it must be rejected
//! for), a bare `401` (no credentials where the API looks), `403 insufficient_scope`, or, for the
//! positive controls that prove the harness can tell, `200`. Whatever the case: never a 5xx,
//! never a 200 for a forged token, never the token (or any long part of it) echoed in a header or
//! the body, and never a request to a URL the token names (`jku`, `x5u`, ...): those point at a
//! trap listener on 127.0.0.1 that serves the attacker's key set and counts its visitors.
//!
//! Forged signatures are checked to be genuine before use (an HS256 token really is the HMAC of
//! the RSA public key, an ES256 token really verifies under its EC key), so each case fails for
//! the reason it names and not because the test built a broken token.
//!
//! Rooms: this file holds the table, the harness, the trap and the main corpus test; the cases
//! come theme by theme from `header`, `structure`, `claims` and `transport`; `forge` builds the
//! tokens; `configurations` runs the corpus under other configurations.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{dev_config, serve};
use entra_auth::{EntraAuthLayer, ManualClock};
use entra_emulator::{
    DEV_API_CLIENT_ID, DEV_TENANT_ID, Emulator, Endpoint, SigningKey, TokenVersion,
};
use http::HeaderValue;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value, json};

mod claims;
mod configurations;
mod forge;
mod header;
mod structure;
mod transport;

use forge::*;

// ---------------------------------------------------------------------------------------------
// The table

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// `401`, `error="invalid_token"`, and an `error_description` containing this text.
    Invalid(&'static str),
    /// `401` with a bare `Bearer` challenge: no credentials where this API looks for them.
    NoToken,
    /// `403 insufficient_scope`.
    Forbidden,
    /// `200`: the positive controls.
    Accepted,
    /// Too large for the HTTP server's header limit (`431`) or for the validator (`401`).
    Oversized,
}

struct Case {
    name: String,
    path: &'static str,
    /// Raw `Authorization` header values, sent as given (several means several headers).
    authorization: Vec<Vec<u8>>,
    query: Option<String>,
    cookie: Option<String>,
    /// Texts that must never appear in the response (the token, injected values).
    never_echo: Vec<String>,
    expect: Expect,
}

impl Case {
    fn bearer(name: impl Into<String>, token: impl Into<String>, expect: Expect) -> Case {
        let token = token.into();
        Case {
            name: name.into(),
            path: "/me",
            authorization: vec![format!("Bearer {token}").into_bytes()],
            query: None,
            cookie: None,
            never_echo: vec![token],
            expect,
        }
    }

    fn raw(name: impl Into<String>, values: Vec<Vec<u8>>, token: &str, expect: Expect) -> Case {
        Case {
            name: name.into(),
            path: "/me",
            authorization: values,
            query: None,
            cookie: None,
            never_echo: vec![token.to_owned()],
            expect,
        }
    }

    fn on(mut self, path: &'static str) -> Case {
        self.path = path;
        self
    }

    fn query(mut self, query: String) -> Case {
        self.query = Some(query);
        self
    }

    fn cookie(mut self, cookie: String) -> Case {
        self.cookie = Some(cookie);
        self
    }

    fn never_echo(mut self, text: &str) -> Case {
        self.never_echo.push(text.to_owned());
        self
    }
}

struct Observed {
    status: u16,
    www_authenticate: Option<String>,
    headers: String,
    body: String,
}

async fn send(http: &reqwest::Client, base: &str, case: &Case) -> Result<Observed, String> {
    let mut url = format!("{base}{}", case.path);
    if let Some(q) = &case.query {
        url.push('?');
        url.push_str(q);
    }
    let mut req = http.get(url);
    for value in &case.authorization {
        let value = HeaderValue::from_bytes(value).map_err(|e| format!("bad test header: {e}"))?;
        req = req.header(http::header::AUTHORIZATION, value);
    }
    if let Some(c) = &case.cookie {
        req = req.header(http::header::COOKIE, c.as_str());
    }
    let res = req
        .send()
        .await
        .map_err(|e| format!("transport error: {e}"))?;
    let status = res.status().as_u16();
    let mut headers = String::new();
    for (name, value) in res.headers() {
        headers.push_str(name.as_str());
        headers.push_str(": ");
        headers.push_str(&String::from_utf8_lossy(value.as_bytes()));
        headers.push('\n');
    }
    let www_authenticate = res
        .headers()
        .get(http::header::WWW_AUTHENTICATE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let body = res.text().await.map_err(|e| format!("body: {e}"))?;
    Ok(Observed {
        status,
        www_authenticate,
        headers,
        body,
    })
}

/// Checks one response against its case; returns what is wrong, if anything.
fn check(case: &Case, r: &Observed) -> Vec<String> {
    let mut wrong = Vec::new();
    if r.status >= 500 {
        wrong.push(format!("server error {}", r.status));
    }
    if r.status == 200 && case.expect != Expect::Accepted {
        wrong.push("accepted a token it must reject".to_owned());
    }
    let challenge = r.www_authenticate.as_deref().unwrap_or("");
    let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    let description = body["error_description"].as_str().unwrap_or("");
    match case.expect {
        Expect::Invalid(reason) => {
            if r.status != 401 {
                wrong.push(format!("status {} instead of 401", r.status));
            }
            if !challenge.starts_with("Bearer ") || !challenge.contains("error=\"invalid_token\"") {
                wrong.push(format!("challenge `{challenge}`"));
            }
            if body["error"] != "invalid_token" {
                wrong.push(format!("body `{}`", r.body));
            }
            if !description.contains(reason) {
                wrong.push(format!("rejected for `{description}`, expected `{reason}`"));
            }
        }
        Expect::NoToken => {
            if r.status != 401 || challenge != "Bearer" || body["error"] != "unauthorized" {
                wrong.push(format!(
                    "expected a bare 401, got {} `{challenge}` {}",
                    r.status, r.body
                ));
            }
        }
        Expect::Forbidden => {
            if r.status != 403 || !challenge.contains("error=\"insufficient_scope\"") {
                wrong.push(format!("expected 403, got {} `{challenge}`", r.status));
            }
        }
        Expect::Accepted => {
            if r.status != 200 {
                wrong.push(format!("expected 200, got {} {}", r.status, r.body));
            }
        }
        Expect::Oversized => {
            let too_large = r.status == 401 && description.contains("larger than");
            if !(too_large || r.status == 431) {
                wrong.push(format!("expected 431 or 401 too large, got {}", r.status));
            }
        }
    }
    let text = format!("{}\n{}", r.headers, r.body);
    for secret in &case.never_echo {
        // The whole text, and every long dot-separated part of it (a header or payload segment,
        // a signature), must not come back.
        let parts = std::iter::once(secret.as_str()).chain(secret.split('.'));
        for part in parts {
            if part.len() >= 12 && text.contains(part) {
                let shown: String = part.chars().take(40).collect();
                wrong.push(format!("the response echoes `{shown}`"));
            }
        }
    }
    wrong
}

async fn run_cases(http: &reqwest::Client, base: &str, cases: &[Case]) {
    let accepted = cases
        .iter()
        .filter(|c| c.expect == Expect::Accepted)
        .count();
    eprintln!(
        "{} cases: {} must be rejected, {accepted} controls",
        cases.len(),
        cases.len() - accepted
    );
    let mut failures = Vec::new();
    for case in cases {
        match send(http, base, case).await {
            Ok(r) => {
                for w in check(case, &r) {
                    failures.push(format!("{}: {w}", case.name));
                }
            }
            Err(e) => failures.push(format!("{}: {e}", case.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The trap: a listener that serves the attacker's key set and counts every request

struct Trap {
    url: String,
    hits: Arc<AtomicUsize>,
    _server: tokio::task::JoinHandle<()>,
}

async fn trap(attacker: &SigningKey) -> Trap {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let jwks = json!({"keys": [attacker.jwk(None)]});
    let counter = hits.clone();
    let app = axum::Router::new().fallback(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        let jwks = jwks.clone();
        async move { axum::Json(jwks) }
    });
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Trap {
        url,
        hits,
        _server: server,
    }
}

// ---------------------------------------------------------------------------------------------
// The corpus

/// What every theme's cases are built from.
pub(super) struct Corpus<'a> {
    emu: &'a Emulator,
    attacker: &'a SigningKey,
    trap_url: &'a str,
    key: SigningKey,
    kid: String,
    claims: String,
    valid: String,
    vh: String,
    vp: String,
    vs: String,
    other_tenant: &'static str,
    /// An RS256 header naming the active key, as JSON text.
    header: String,
    /// This API's audience.
    aud: &'static str,
}

/// All cases for an API configured with the defaults (single tenant, 16 KiB limit, header only),
/// theme by theme.
fn corpus(emu: &Emulator, attacker: &SigningKey, trap_url: &str) -> Vec<Case> {
    let key = emu.active_key();
    let kid = key.kid().to_owned();
    let kid_for_header = kid.clone();
    let valid = emu.token().sign();
    let (vh, vp, vs) = segments(&valid);
    let cx = Corpus {
        emu,
        attacker,
        trap_url,
        key,
        kid,
        claims: claims_text(emu),
        valid,
        vh,
        vp,
        vs,
        other_tenant: "99999999-8888-7777-6666-555555555555",
        header: rs256_header(&kid_for_header).to_string(),
        aud: DEV_API_CLIENT_ID,
    };
    [
        header::alg(&cx),
        header::key_id(&cx),
        header::key_material_in_the_header_ignored_never(&cx),
        header::crit_graph_nonce_jwe(&cx),
        header::header_json(&cx),
        structure::structure(&cx),
        structure::payload_json(&cx),
        structure::signature_moved_or_damaged(&cx),
        claims::time_claims(&cx),
        claims::audience_issuer_tenant_version(&cx),
        claims::scopes_and_roles(&cx),
        claims::authorization_403(&cx),
        transport::positive_controls(&cx),
        transport::the_authorization_header_itself(&cx),
        transport::other_places_the_token_is_not_read_from(&cx),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[tokio::test]
async fn adversarial_corpus_over_http() {
    let emu = Emulator::start().await.unwrap();
    let attacker = SigningKey::generate().unwrap();
    let trap = trap(&attacker).await;
    let clock = ManualClock::starting_now();
    let api = serve(
        EntraAuthLayer::new(dev_config(&emu, &clock).build().unwrap()),
        clock,
    )
    .await;

    let cases = corpus(&emu, &attacker, &trap.url);
    let rejections = cases
        .iter()
        .filter(|c| c.expect != Expect::Accepted)
        .count();
    assert!(
        rejections >= 60,
        "the corpus has only {rejections} rejection cases"
    );
    run_cases(&api.http, &api.base, &cases).await;

    // Nothing the tokens named was ever fetched.
    assert_eq!(
        trap.hits.load(Ordering::SeqCst),
        0,
        "a token made the API fetch a URL it named"
    );
    // The trap does count: one direct request shows up.
    let probe = api
        .http
        .get(format!("{}/probe", trap.url))
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 200);
    assert_eq!(trap.hits.load(Ordering::SeqCst), 1);
    // The whole corpus cost one key fetch at start plus one unknown-kid refresh: no case
    // (10 KB kids, path kids, attacker keys, unknown tenants) caused more.
    assert_eq!(emu.request_count(Endpoint::Keys), 2);
    assert_eq!(api.key_fetches(), 2);
}
