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
// Token forging helpers

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// RS256-signs arbitrary header and payload bytes with `key`: a genuine signature, so only the
/// property under test can make the token fail.
fn sign_raw(header: &[u8], payload: &[u8], key: &SigningKey) -> String {
    let message = format!("{}.{}", b64(header), b64(payload));
    let sig = jsonwebtoken::crypto::sign(message.as_bytes(), &key.encoding_key(), Algorithm::RS256)
        .expect("RS256 signing");
    format!("{message}.{sig}")
}

fn rs256_header(kid: &str) -> Value {
    json!({"typ": "JWT", "alg": "RS256", "kid": kid})
}

/// A valid claim set from the emulator, as JSON text.
fn claims_text(emu: &Emulator) -> String {
    Value::Object(emu.token().claims()).to_string()
}

fn claims_map(emu: &Emulator) -> Map<String, Value> {
    emu.token().claims()
}

/// A token whose header and payload are `header` / `payload` JSON text, RS256-signed by the
/// emulator's active key.
fn signed(emu: &Emulator, header: &str, payload: &str) -> String {
    sign_raw(header.as_bytes(), payload.as_bytes(), &emu.active_key())
}

/// The valid claims with `"name": value` spliced in as raw JSON text (for values serde_json's
/// `Value` cannot hold, such as integers beyond 64 bits, or for duplicate keys).
fn claims_with_raw(emu: &Emulator, remove: &str, raw_member: &str) -> String {
    let mut c = claims_map(emu);
    c.remove(remove);
    let text = Value::Object(c).to_string();
    format!("{{{raw_member},{}", &text[1..])
}

fn hmac_token(
    alg: &str,
    hmac_alg: hmac::Algorithm,
    kid: &str,
    claims: &str,
    secret: &[u8],
) -> String {
    let header = json!({"typ": "JWT", "alg": alg, "kid": kid}).to_string();
    let message = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let key = hmac::Key::new(hmac_alg, secret);
    let tag = hmac::sign(&key, message.as_bytes());
    let token = format!("{message}.{}", b64(tag.as_ref()));
    // The forgery is a genuine HMAC token under that secret.
    let jwt_alg: Algorithm = alg.parse().unwrap();
    let sig = token.rsplit('.').next().unwrap();
    assert!(
        jsonwebtoken::crypto::verify(
            sig,
            message.as_bytes(),
            &jsonwebtoken::DecodingKey::from_secret(secret),
            jwt_alg
        )
        .unwrap(),
        "the {alg} forgery must be a valid HMAC"
    );
    token
}

fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = body.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend([0x81, n as u8]);
    } else {
        out.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(body);
    out
}

/// SubjectPublicKeyInfo DER of an RSA public key (PKCS#1 `RSAPublicKey` DER).
fn spki(pkcs1: &[u8]) -> Vec<u8> {
    let algorithm = der(
        0x30,
        &[
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
        ],
    );
    let mut bits = vec![0u8];
    bits.extend_from_slice(pkcs1);
    der(0x30, &[algorithm, der(0x03, &bits)].concat())
}

fn pem(label: &str, der: &[u8]) -> String {
    let b = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn es256_token(kid: &str, claims: &str) -> String {
    let rng = SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).unwrap();
    let header = json!({"typ": "JWT", "alg": "ES256", "kid": kid}).to_string();
    let message = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let sig = pair.sign(&rng, message.as_bytes()).unwrap();
    signature::UnparsedPublicKey::new(
        &signature::ECDSA_P256_SHA256_FIXED,
        pair.public_key().as_ref(),
    )
    .verify(message.as_bytes(), sig.as_ref())
    .expect("the ES256 forgery must verify under its own key");
    format!("{message}.{}", b64(sig.as_ref()))
}

fn eddsa_token(kid: &str, claims: &str) -> String {
    let rng = SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let header = json!({"typ": "JWT", "alg": "EdDSA", "kid": kid}).to_string();
    let message = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let sig = pair.sign(message.as_bytes());
    signature::UnparsedPublicKey::new(&signature::ED25519, pair.public_key().as_ref())
        .verify(message.as_bytes(), sig.as_ref())
        .expect("the EdDSA forgery must verify under its own key");
    format!("{message}.{}", b64(sig.as_ref()))
}

/// Splits a compact JWS into its three segments.
fn segments(token: &str) -> (String, String, String) {
    let mut it = token.split('.');
    let h = it.next().unwrap().to_owned();
    let p = it.next().unwrap().to_owned();
    let s = it.next().unwrap().to_owned();
    (h, p, s)
}

/// Flips the lowest bit of the last base64url character: for a 256-byte RSA signature (342
/// characters) those are padding bits, so the bytes are the same but the text is not canonical.
fn non_canonical_tail(segment: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = *segment.as_bytes().last().unwrap();
    let idx = ALPHABET.iter().position(|c| *c == last).unwrap();
    let mut out = segment[..segment.len() - 1].to_owned();
    out.push(ALPHABET[idx ^ 1] as char);
    out
}

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
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

/// All cases for an API configured with the defaults (single tenant, 16 KiB limit, header only).
fn corpus(emu: &Emulator, attacker: &SigningKey, trap_url: &str) -> Vec<Case> {
    use Expect::*;
    let key = emu.active_key();
    let kid = key.kid().to_owned();
    let claims = claims_text(emu);
    let valid = emu.token().sign();
    let (vh, vp, vs) = segments(&valid);
    let other_tenant = "99999999-8888-7777-6666-555555555555";
    let mut cases: Vec<Case> = Vec::new();
    let mut add = |c: Case| cases.push(c);

    // Positive controls: the harness accepts what it must.
    add(Case::bearer(
        "control: valid token",
        valid.clone(),
        Accepted,
    ));
    add(Case::bearer(
        "control: valid token re-signed by the test's own RS256 signer",
        signed(emu, &rs256_header(&kid).to_string(), &claims),
        Accepted,
    ));
    add(Case::bearer(
        "control: x5t only",
        emu.token().x5t_only().sign(),
        Accepted,
    ));
    add(Case::bearer(
        "control: v1 token",
        emu.token().version(TokenVersion::V1).sign(),
        Accepted,
    ));
    add(Case::bearer("control: admin route", valid.clone(), Accepted).on("/admin"));
    add(Case::raw(
        "control: lower-case bearer scheme",
        vec![format!("bearer {valid}").into_bytes()],
        &valid,
        Accepted,
    ));
    add(Case::raw(
        "control: upper-case BEARER scheme",
        vec![format!("BEARER {valid}").into_bytes()],
        &valid,
        Accepted,
    ));

    // --- alg ---------------------------------------------------------------------------------
    for alg in [
        "none",
        "None",
        "NONE",
        "nOnE",
        "",
        "rs256",
        "RS256 ",
        " RS256",
        "RS256\u{0}",
    ] {
        add(Case::bearer(
            format!("alg {alg:?} (RS256 signature kept)"),
            emu.token().header("alg", json!(alg)).sign(),
            Invalid("algorithm"),
        ));
    }
    add(Case::bearer(
        "alg none with an empty signature",
        format!(
            "{}.{}.",
            b64(json!({"alg": "none", "kid": kid}).to_string().as_bytes()),
            vp
        ),
        Invalid("three base64url segments"),
    ));
    add(Case::bearer(
        "alg missing",
        emu.token().remove_header("alg").sign(),
        Invalid("algorithm"),
    ));
    for (name, v) in [
        ("null", json!(null)),
        ("array", json!(["RS256"])),
        ("number", json!(256)),
        ("object", json!({"name": "RS256"})),
    ] {
        add(Case::bearer(
            format!("alg as {name}"),
            emu.token().header("alg", v).sign(),
            Invalid("header is not a valid JSON object"),
        ));
    }
    // HS256 signed with the RSA public key (algorithm confusion), in every encoding a confused
    // verifier might use as the HMAC secret.
    let jwk = key.jwk(None);
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
    let pkcs1 = key.public_key_der().to_vec();
    let spki_der = spki(&pkcs1);
    let spki_pem = pem("PUBLIC KEY", &spki_der);
    jsonwebtoken::DecodingKey::from_rsa_pem(spki_pem.as_bytes()).expect("the SPKI PEM is valid");
    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("modulus n bytes", n.clone()),
        ("n || e bytes", [n.clone(), e.clone()].concat()),
        (
            "n as base64url text",
            jwk["n"].as_str().unwrap().as_bytes().to_vec(),
        ),
        ("PKCS#1 DER", pkcs1.clone()),
        ("PKCS#1 PEM", pem("RSA PUBLIC KEY", &pkcs1).into_bytes()),
        ("SPKI DER", spki_der.clone()),
        ("SPKI PEM", spki_pem.clone().into_bytes()),
        (
            "SPKI PEM without final newline",
            spki_pem.trim_end().as_bytes().to_vec(),
        ),
        ("certificate PEM", key.certificate_pem().into_bytes()),
        ("JWK JSON", jwk.to_string().into_bytes()),
    ];
    for (what, secret) in &secrets {
        add(Case::bearer(
            format!("HS256 keyed with the RSA public key as {what}"),
            hmac_token("HS256", hmac::HMAC_SHA256, &kid, &claims, secret),
            Invalid("algorithm"),
        ));
    }
    add(Case::bearer(
        "HS384 keyed with the SPKI PEM",
        hmac_token(
            "HS384",
            hmac::HMAC_SHA384,
            &kid,
            &claims,
            spki_pem.as_bytes(),
        ),
        Invalid("algorithm"),
    ));
    add(Case::bearer(
        "HS512 keyed with the SPKI PEM",
        hmac_token(
            "HS512",
            hmac::HMAC_SHA512,
            &kid,
            &claims,
            spki_pem.as_bytes(),
        ),
        Invalid("algorithm"),
    ));
    {
        // `alg: RS256` but an HMAC signature: the RSA check must fail.
        let t = hmac_token(
            "HS256",
            hmac::HMAC_SHA256,
            &kid,
            &claims,
            spki_pem.as_bytes(),
        );
        let (_, p, s) = segments(&t);
        let h = b64(rs256_header(&kid).to_string().as_bytes());
        add(Case::bearer(
            "RS256 header over an HMAC-SHA256 signature",
            format!("{h}.{p}.{s}"),
            Invalid("signature is invalid"),
        ));
    }
    // Other RSA algorithms, genuinely signed by the real key: only RS256 is allowed.
    for alg in ["RS384", "RS512", "PS256", "PS384", "PS512"] {
        let t = emu.token().header("alg", json!(alg)).sign();
        let (h, p, s) = segments(&t);
        assert!(
            jsonwebtoken::crypto::verify(
                &s,
                format!("{h}.{p}").as_bytes(),
                &key.decoding_key(),
                alg.parse().unwrap()
            )
            .unwrap(),
            "{alg} test token must be genuinely signed"
        );
        add(Case::bearer(
            format!("{alg}, properly signed"),
            t.clone(),
            Invalid("algorithm"),
        ));
        // The same signature under an RS256 header.
        let rs = b64(rs256_header(&kid).to_string().as_bytes());
        add(Case::bearer(
            format!("RS256 header over a {alg} signature"),
            format!("{rs}.{p}.{s}"),
            Invalid("signature is invalid"),
        ));
    }
    add(Case::bearer(
        "ES256, properly signed with an EC key",
        es256_token(&kid, &claims),
        Invalid("algorithm"),
    ));
    add(Case::bearer(
        "ES256 header only (RS256 signature)",
        emu.token().header("alg", json!("ES256")).sign(),
        Invalid("algorithm"),
    ));
    add(Case::bearer(
        "EdDSA, properly signed with an Ed25519 key",
        eddsa_token(&kid, &claims),
        Invalid("algorithm"),
    ));
    add(Case::bearer(
        "EdDSA header only (RS256 signature)",
        emu.token().header("alg", json!("EdDSA")).sign(),
        Invalid("algorithm"),
    ));

    // --- key id ------------------------------------------------------------------------------
    add(Case::bearer(
        "kid unknown",
        emu.token().kid("no-such-key-id").sign(),
        Invalid("signature is invalid"),
    ));
    add(Case::bearer(
        "kid empty",
        emu.token().kid("").sign(),
        Invalid("signature is invalid"),
    ));
    let huge_kid = "k".repeat(10 * 1024);
    add(Case::bearer(
        "kid of 10 KB",
        emu.token().kid(&huge_kid).sign(),
        Invalid("signature is invalid"),
    ));
    for path in [
        "../../etc/passwd",
        "%2e%2e/%2e%2e/etc/passwd",
        "..\\..\\windows\\win.ini",
        "/dev/zero",
        "file:///etc/passwd",
    ] {
        add(Case::bearer(
            format!("kid with path characters {path:?}"),
            emu.token().kid(path).sign(),
            Invalid("signature is invalid"),
        )
        .never_echo(path));
    }
    add(Case::bearer(
        "kid is the trap URL",
        emu.token().kid(&format!("{trap_url}/keys")).sign(),
        Invalid("signature is invalid"),
    )
    .never_echo(trap_url));
    add(Case::bearer(
        "kid with CR LF header injection",
        emu.token().kid("x\r\nX-Injected: yes").sign(),
        Invalid("signature is invalid"),
    )
    .never_echo("X-Injected"));
    add(Case::bearer(
        "kid with a NUL byte after the real kid",
        emu.token().kid(&format!("{kid}\u{0}")).sign(),
        Invalid("signature is invalid"),
    ));
    add(Case::bearer(
        "kid as a number",
        emu.token().header("kid", json!(7)).sign(),
        Invalid("header is not a valid JSON object"),
    ));
    add(Case::bearer(
        "kid null with a valid x5t",
        emu.token()
            .header("kid", json!(null))
            .header("x5t", json!(kid))
            .sign(),
        Invalid("header is not a valid JSON object"),
    ));
    add(Case::bearer(
        "neither kid nor x5t",
        emu.token().remove_header("kid").sign(),
        Invalid("names no signing key"),
    ));
    add(Case::bearer(
        "only x5t#S256",
        emu.token()
            .remove_header("kid")
            .header("x5t#S256", json!(key.x5t_s256()))
            .sign(),
        Invalid("names no signing key"),
    ));
    add(Case::bearer(
        "kid unknown, x5t of the real key (kid wins)",
        emu.token().kid("nope").header("x5t", json!(kid)).sign(),
        Invalid("signature is invalid"),
    ));
    let kids = emu.published_kids();
    let second = kids
        .iter()
        .find(|k| **k != kid)
        .expect("two published keys");
    add(Case::bearer(
        "kid of the second published key, signed by the first",
        emu.token().kid(second).sign(),
        Invalid("signature is invalid"),
    ));
    add(Case::bearer(
        "signed by an unregistered key under the real kid",
        emu.token().signed_with(attacker).kid(&kid).sign(),
        Invalid("signature is invalid"),
    ));

    // --- key material in the header: ignored, never fetched ---------------------------------
    for (param, value) in [
        ("jku", json!(format!("{trap_url}/jwks.json"))),
        ("x5u", json!(format!("{trap_url}/cert.pem"))),
        ("jwk", attacker.jwk(None)),
        ("x5c", json!([STANDARD.encode(attacker.certificate_der())])),
    ] {
        add(Case::bearer(
            format!("{param} naming the attacker's key, attacker's kid"),
            emu.token()
                .signed_with(attacker)
                .header(param, value.clone())
                .sign(),
            Invalid("signature is invalid"),
        )
        .never_echo(trap_url));
        add(Case::bearer(
            format!("{param} naming the attacker's key, real kid"),
            emu.token()
                .signed_with(attacker)
                .kid(&kid)
                .header(param, value)
                .sign(),
            Invalid("signature is invalid"),
        ));
    }
    add(Case::bearer(
        "x5c and x5t of the attacker's certificate, no kid",
        emu.token()
            .signed_with(attacker)
            .x5t_only()
            .header("x5c", json!([STANDARD.encode(attacker.certificate_der())]))
            .sign(),
        Invalid("signature is invalid"),
    ));

    // --- crit, Graph nonce, JWE --------------------------------------------------------------
    add(Case::bearer(
        "crit [exp]",
        emu.token()
            .header("crit", json!(["exp"]))
            .header("exp", json!(1))
            .sign(),
        Invalid("crit header"),
    ));
    add(Case::bearer(
        "crit []",
        emu.token().header("crit", json!([])).sign(),
        Invalid("crit header"),
    ));
    add(Case::bearer(
        "crit [b64] with an unencoded payload",
        emu.token()
            .header("crit", json!(["b64"]))
            .header("b64", json!(false))
            .sign(),
        Invalid("crit header"),
    ));
    add(Case::bearer(
        "b64:false without crit, payload sent unencoded",
        {
            let h = json!({"alg": "RS256", "kid": kid, "b64": false}).to_string();
            format!("{}.{{\"exp\":4102444800}}.{vs}", b64(h.as_bytes()))
        },
        Invalid("three base64url segments"),
    ));
    add(Case::bearer(
        "Microsoft Graph token (nonce header)",
        emu.token().graph_nonce().sign(),
        Invalid("Microsoft Graph"),
    ));
    add(Case::bearer(
        "nonce header without Graph hashing",
        emu.token().header("nonce", json!("abc")).sign(),
        Invalid("Microsoft Graph"),
    ));

    // --- structure ---------------------------------------------------------------------------
    let structure = Invalid("three base64url segments");
    for (name, t) in [
        ("2 segments", format!("{vh}.{vp}")),
        ("4 segments", format!("{vh}.{vp}.{vs}.{vs}")),
        (
            "5 segments (JWE shape)",
            format!("{vh}.{vp}.{vs}.{vp}.{vs}"),
        ),
        ("trailing dot", format!("{valid}.")),
        ("leading dot", format!(".{valid}")),
        ("empty header segment", format!(".{vp}.{vs}")),
        ("empty payload segment", format!("{vh}..{vs}")),
        ("empty signature segment", format!("{vh}.{vp}.")),
        ("only dots", "..".to_owned()),
        ("a single dot", ".".to_owned()),
        ("no dots", "abcdefghijklmnop".to_owned()),
        ("'+' in the signature", format!("{vh}.{vp}.+{}", &vs[1..])),
        ("'/' in the payload", format!("{vh}./{}.{vs}", &vp[1..])),
        ("'*' in the header", format!("*{}.{vp}.{vs}", &vh[1..])),
        ("'%' in the signature", format!("{vh}.{vp}.%41{}", &vs[3..])),
        ("'=' padding on the header", format!("{vh}=.{vp}.{vs}")),
        ("'=' padding on the signature", format!("{vh}.{vp}.{vs}==")),
        ("'=' padding on the payload", format!("{vh}.{vp}==.{vs}")),
        (
            "standard base64 instead of base64url",
            format!(
                "{}.{}.{}",
                STANDARD.encode(URL_SAFE_NO_PAD.decode(&vh).unwrap()),
                STANDARD.encode(URL_SAFE_NO_PAD.decode(&vp).unwrap()),
                STANDARD.encode(URL_SAFE_NO_PAD.decode(&vs).unwrap())
            ),
        ),
        (
            "signature longer than RSA-8192",
            format!("{vh}.{vp}.{}", "A".repeat(701)),
        ),
    ] {
        add(Case::bearer(name, t, structure));
    }
    add(Case::bearer(
        "non-canonical base64url in the signature's last character",
        format!("{vh}.{vp}.{}", non_canonical_tail(&vs)),
        Invalid("signature is invalid"),
    ));
    add(Case::bearer(
        "non-canonical base64url in the payload's last character",
        format!("{vh}.{}.{vs}", non_canonical_tail(&vp)),
        Invalid(""),
    ));
    add(Case::bearer(
        "non-ASCII character in the signature",
        format!("{vh}.{vp}.é{}", &vs[1..]),
        Invalid("Authorization header"),
    ));
    add(Case::bearer(
        "space inside the token",
        format!("{vh}.{vp} .{vs}"),
        Invalid("Authorization header"),
    ));
    add(Case::bearer(
        "tab inside the token",
        format!("{vh}.{vp}\t.{vs}"),
        Invalid("Authorization header"),
    ));
    add(Case::bearer(
        "comma inside the token",
        format!("{vh},{vp}.{vs}"),
        Invalid("Authorization header"),
    ));
    add(Case::bearer(
        "token of 20 KB (over the 16 KiB limit)",
        emu.token()
            .claim("padding", json!("x".repeat(20 * 1024)))
            .sign(),
        Invalid("larger than"),
    ));
    add(Case::bearer(
        "token of 1 MB",
        format!("{vh}.{}.{vs}", "A".repeat(1024 * 1024)),
        Oversized,
    ));

    // --- header JSON -------------------------------------------------------------------------
    let bad_header = Invalid("header is not a valid JSON object");
    for (name, header) in [
        ("not JSON", "this is not json".to_owned()),
        ("a JSON array", format!(r#"["RS256","{kid}"]"#)),
        ("a JSON string", r#""RS256""#.to_owned()),
        ("a JSON number", "42".to_owned()),
        ("JSON null", "null".to_owned()),
        (
            "truncated JSON",
            format!(r#"{{"alg":"RS256","kid":"{kid}""#),
        ),
        (
            "trailing garbage",
            format!(r#"{{"alg":"RS256","kid":"{kid}"}} x"#),
        ),
        (
            "a UTF-8 byte-order mark",
            format!("\u{feff}{{\"alg\":\"RS256\",\"kid\":\"{kid}\"}}"),
        ),
        (
            "duplicate alg (RS256, then none)",
            format!(r#"{{"alg":"RS256","alg":"none","kid":"{kid}"}}"#),
        ),
        (
            "duplicate alg (none, then RS256)",
            format!(r#"{{"alg":"none","alg":"RS256","kid":"{kid}"}}"#),
        ),
        (
            "duplicate kid",
            format!(r#"{{"alg":"RS256","kid":"{kid}","kid":"other"}}"#),
        ),
        (
            "duplicate alg through an escape",
            format!(r#"{{"alg":"RS256","\u0061lg":"none","kid":"{kid}"}}"#),
        ),
        (
            "alg nested 200 levels",
            format!(r#"{{"alg":{},"kid":"{kid}"}}"#, nested(200)),
        ),
        (
            "kid nested 200 levels",
            format!(r#"{{"alg":"RS256","kid":{}}}"#, nested(200)),
        ),
    ] {
        add(Case::bearer(
            format!("header {name}"),
            signed(emu, &header, &claims),
            bad_header,
        ));
    }
    // Unknown members are skipped without recursion: deep nesting there parses (bounded by the
    // size limit), and the token then fails on its (attacker's) signature.
    add(Case::bearer(
        "header nested 1,000 levels in an unknown member, attacker's signature",
        sign_raw(
            format!(r#"{{"alg":"RS256","kid":"{kid}","x":{}}}"#, nested(1000)).as_bytes(),
            claims.as_bytes(),
            attacker,
        ),
        Invalid("signature is invalid"),
    ));
    add(Case::bearer(
        "header invalid UTF-8",
        sign_raw(
            &[
                br#"{"alg":"RS256","kid":""#.as_slice(),
                &[0xff, 0xfe],
                br#""}"#,
            ]
            .concat(),
            claims.as_bytes(),
            &key,
        ),
        bad_header,
    ));
    add(Case::bearer(
        "header nested 10,000 levels (over the size limit here)",
        signed(
            emu,
            &format!(r#"{{"alg":"RS256","kid":"{kid}","x":{}}}"#, nested(10_000)),
            &claims,
        ),
        Invalid("larger than"),
    ));

    // --- payload JSON ------------------------------------------------------------------------
    let header = rs256_header(&kid).to_string();
    let bad_claims = Invalid("payload is not a valid JSON object");
    let aud = DEV_API_CLIENT_ID;
    for (name, payload) in [
        ("not JSON", "not json at all".to_owned()),
        ("a JSON array", "[1,2,3]".to_owned()),
        ("a JSON string", r#""claims""#.to_owned()),
        ("a JSON number", "17".to_owned()),
        ("JSON null", "null".to_owned()),
        ("truncated", claims[..claims.len() - 1].to_owned()),
        ("trailing garbage", format!("{claims} x")),
        (
            "duplicate aud (ours first)",
            claims_with_raw(emu, "", &format!(r#""aud":"{aud}","aud":"someone-else""#)),
        ),
        (
            "duplicate aud (ours last)",
            claims_with_raw(
                emu,
                "aud",
                &format!(r#""aud":"someone-else","aud":"{aud}""#),
            ),
        ),
        (
            "duplicate aud through an escape",
            claims_with_raw(emu, "aud", &format!(r#""aud":"x","\u0061ud":"{aud}""#)),
        ),
        ("duplicate exp", claims_with_raw(emu, "", r#""exp":1"#)),
        (
            "duplicate tid",
            claims_with_raw(emu, "", &format!(r#""tid":"{other_tenant}""#)),
        ),
    ] {
        add(Case::bearer(
            format!("payload {name}"),
            signed(emu, &header, &payload),
            bad_claims,
        ));
    }
    add(Case::bearer(
        "payload nested 1,000 levels in an unknown member, attacker's signature",
        sign_raw(
            header.as_bytes(),
            claims_with_raw(emu, "", &format!(r#""x":{}"#, nested(1000))).as_bytes(),
            attacker,
        ),
        Invalid("signature is invalid"),
    ));
    add(Case::bearer(
        "aud nested 200 levels",
        signed(
            emu,
            &header,
            &claims_with_raw(emu, "aud", &format!(r#""aud":{}"#, nested(200))),
        ),
        Invalid("aud claim must be a single string"),
    ));
    add(Case::bearer(
        "roles nested 200 levels",
        signed(
            emu,
            &header,
            &claims_with_raw(emu, "roles", &format!(r#""roles":{}"#, nested(200))),
        ),
        Invalid("roles claim must be an array"),
    ));
    add(Case::bearer(
        "payload nested 10,000 levels (over the size limit here)",
        signed(
            emu,
            &header,
            &claims_with_raw(emu, "", &format!(r#""x":{}"#, nested(10_000))),
        ),
        Invalid("larger than"),
    ));

    // --- time claims -------------------------------------------------------------------------
    let exp_type = Invalid("exp claim must be an integer");
    add(Case::bearer(
        "exp missing",
        emu.token().remove_claim("exp").sign(),
        Invalid("no exp claim"),
    ));
    for (name, v) in [
        ("a string", json!("4102444800")),
        ("a float", json!(4_102_444_800.5)),
        ("null", json!(null)),
        ("a bool", json!(true)),
        ("an array", json!([4_102_444_800_i64])),
        ("an object", json!({"$date": 4_102_444_800_i64})),
        ("u64::MAX", json!(u64::MAX)),
        ("i64::MAX + 1", json!(i64::MAX as u64 + 1)),
    ] {
        add(Case::bearer(
            format!("exp {name}"),
            emu.token().claim("exp", v).sign(),
            exp_type,
        ));
    }
    add(Case::bearer(
        "exp far beyond 64 bits (10^30)",
        signed(
            emu,
            &header,
            &claims_with_raw(emu, "exp", r#""exp":1000000000000000000000000000000"#),
        ),
        exp_type,
    ));
    add(Case::bearer(
        "exp in exponent notation",
        signed(emu, &header, &claims_with_raw(emu, "exp", r#""exp":4.1e9"#)),
        exp_type,
    ));
    add(Case::bearer(
        "exp negative",
        emu.token().claim("exp", json!(-1)).sign(),
        Invalid("expired"),
    ));
    add(Case::bearer(
        "exp i64::MIN",
        emu.token().claim("exp", json!(i64::MIN)).sign(),
        Invalid("expired"),
    ));
    add(Case::bearer(
        "exp zero",
        emu.token().claim("exp", json!(0)).sign(),
        Invalid("expired"),
    ));
    add(Case::bearer(
        "expired two hours ago",
        emu.token().expired().sign(),
        Invalid("expired"),
    ));
    add(Case::bearer(
        "nbf in the future",
        emu.token().not_yet_valid().sign(),
        Invalid("not valid yet"),
    ));
    add(Case::bearer(
        "nbf i64::MAX",
        emu.token().claim("nbf", json!(i64::MAX)).sign(),
        Invalid("not valid yet"),
    ));
    add(Case::bearer(
        "nbf missing",
        emu.token().remove_claim("nbf").sign(),
        Invalid("no nbf claim"),
    ));
    add(Case::bearer(
        "nbf a string",
        emu.token().claim("nbf", json!("0")).sign(),
        Invalid("nbf claim must be an integer"),
    ));
    add(Case::bearer(
        "iat a string",
        emu.token().claim("iat", json!("0")).sign(),
        Invalid("iat claim must be an integer"),
    ));

    // --- audience, issuer, tenant, version ---------------------------------------------------
    add(Case::bearer(
        "aud array containing our audience",
        emu.token().claim("aud", json!([aud])).sign(),
        Invalid("aud claim must be a single string"),
    ));
    add(Case::bearer(
        "aud array without our audience",
        emu.token()
            .claim("aud", json!(["api://someone-else"]))
            .sign(),
        Invalid("aud claim must be a single string"),
    ));
    add(Case::bearer(
        "aud missing",
        emu.token().remove_claim("aud").sign(),
        Invalid("no aud claim"),
    ));
    for (name, v) in [
        ("another API", "api://someone-else".to_owned()),
        ("empty", String::new()),
        ("our id in upper case", aud.to_uppercase()),
        (
            "our App ID URI with a trailing slash",
            format!("api://{aud}/"),
        ),
        ("our id with a trailing space", format!("{aud} ")),
        (
            "Microsoft Graph",
            "00000003-0000-0000-c000-000000000000".to_owned(),
        ),
    ] {
        add(Case::bearer(
            format!("aud {name}"),
            emu.token().audience(&v).sign(),
            Invalid("audience is not accepted"),
        ));
    }
    add(Case::bearer(
        "iss as an array",
        emu.token()
            .claim("iss", json!([emu.issuer_v2(DEV_TENANT_ID)]))
            .sign(),
        Invalid("iss claim must be a string"),
    ));
    add(Case::bearer(
        "iss missing",
        emu.token().remove_claim("iss").sign(),
        Invalid("no iss claim"),
    ));
    for (name, iss) in [
        ("of another tenant", emu.issuer_v2(other_tenant)),
        (
            "with a trailing slash",
            format!("{}/", emu.issuer_v2(DEV_TENANT_ID)),
        ),
        ("in upper case", emu.issuer_v2(DEV_TENANT_ID).to_uppercase()),
        ("of the v1 form on a v2 token", emu.issuer_v1(DEV_TENANT_ID)),
        (
            "of Entra's public cloud",
            format!("https://login.microsoftonline.com/{DEV_TENANT_ID}/v2.0"),
        ),
        (
            "with the {tenantid} template unfilled",
            emu.issuer_v2("{tenantid}"),
        ),
    ] {
        add(Case::bearer(
            format!("iss {name}"),
            emu.token().claim("iss", json!(iss)).sign(),
            Invalid("issuer is not accepted"),
        ));
    }
    add(Case::bearer(
        "v2 issuer on a v1 token",
        emu.token()
            .version(TokenVersion::V1)
            .claim("iss", json!(emu.issuer_v2(DEV_TENANT_ID)))
            .sign(),
        Invalid("issuer is not accepted"),
    ));
    add(Case::bearer(
        "token of another tenant (tenant not allowed)",
        emu.token().tenant(other_tenant).sign(),
        Invalid("signature is invalid"),
    ));
    add(Case::bearer(
        "tid of another tenant, our issuer",
        emu.token().claim("tid", json!(other_tenant)).sign(),
        Invalid("signature is invalid"),
    ));
    add(Case::bearer(
        "tid not matching iss (case differs)",
        emu.token()
            .claim("tid", json!(DEV_TENANT_ID.to_uppercase()))
            .sign(),
        Invalid("tid claim must be a tenant id"),
    ));
    add(Case::bearer(
        "tid missing",
        emu.token().remove_claim("tid").sign(),
        Invalid("no tid claim"),
    ));
    add(Case::bearer(
        "tid a number",
        emu.token().claim("tid", json!(7)).sign(),
        Invalid("tid claim must be a tenant id"),
    ));
    add(Case::bearer(
        "ver 3.0",
        emu.token().claim("ver", json!("3.0")).sign(),
        Invalid("version"),
    ));
    add(Case::bearer(
        "ver missing",
        emu.token().remove_claim("ver").sign(),
        Invalid("no ver claim"),
    ));
    add(Case::bearer(
        "ver a number",
        emu.token().claim("ver", json!(2.0)).sign(),
        Invalid("ver claim must be a string"),
    ));
    add(Case::bearer(
        "ver 1.0 on a v2-shaped token",
        emu.token().claim("ver", json!("1.0")).sign(),
        Invalid("issuer is not accepted"),
    ));

    // --- scopes and roles --------------------------------------------------------------------
    add(Case::bearer(
        "neither scp nor roles",
        emu.token().remove_claim("roles").sign(),
        Invalid("neither scp nor roles"),
    ));
    add(Case::bearer(
        "roles empty array",
        emu.token().claim("roles", json!([])).sign(),
        Invalid("neither scp nor roles"),
    ));
    add(Case::bearer(
        "roles a string",
        emu.token().claim("roles", json!("Api.Admin")).sign(),
        Invalid("roles claim must be an array"),
    ));
    add(Case::bearer(
        "roles with a number",
        emu.token().claim("roles", json!(["Api.Admin", 1])).sign(),
        Invalid("roles claim must be an array"),
    ));
    add(Case::bearer(
        "scp empty, no roles",
        emu.token()
            .remove_claim("roles")
            .claim("scp", json!(""))
            .sign(),
        Invalid("neither scp nor roles"),
    ));
    add(Case::bearer(
        "scp an array",
        emu.token().claim("scp", json!(["Files.Read"])).sign(),
        Invalid("scp claim must be a string"),
    ));

    // --- signature moved or damaged ----------------------------------------------------------
    {
        let elevated = emu.token().roles(["Api.Admin", "Everything"]).sign();
        let (eh, ep, _) = segments(&elevated);
        add(Case::bearer(
            "valid signature moved onto another payload",
            format!("{eh}.{ep}.{vs}"),
            Invalid("signature is invalid"),
        ));
        let other = emu.token().x5t_only().sign();
        let (oh, _, _) = segments(&other);
        add(Case::bearer(
            "header of another valid token",
            format!("{oh}.{vp}.{vs}"),
            Invalid("signature is invalid"),
        ));
    }
    add(Case::bearer(
        "signature truncated by 4 characters",
        format!("{vh}.{vp}.{}", &vs[..vs.len() - 4]),
        Invalid("signature is invalid"),
    ));
    add(Case::bearer(
        "signature truncated by 1 character",
        format!("{vh}.{vp}.{}", &vs[..vs.len() - 1]),
        Invalid("signature is invalid"),
    ));
    add(Case::bearer(
        "signature of zero bytes (AAAA...)",
        format!("{vh}.{vp}.{}", "A".repeat(vs.len())),
        Invalid("signature is invalid"),
    ));
    add(Case::bearer(
        "signature with one character changed",
        {
            let mut s = vs.clone().into_bytes();
            s[10] = if s[10] == b'A' { b'B' } else { b'A' };
            format!("{vh}.{vp}.{}", String::from_utf8(s).unwrap())
        },
        Invalid("signature is invalid"),
    ));
    add(Case::bearer(
        "signature doubled",
        format!("{vh}.{vp}.{vs}{vs}"),
        Invalid("signature is invalid"),
    ));

    // --- authorization: 403 ------------------------------------------------------------------
    add(Case::bearer(
        "admin route, other role",
        emu.token().roles(["Files.Read.All"]).sign(),
        Forbidden,
    )
    .on("/admin"));
    add(Case::bearer(
        "admin route, role in lower case",
        emu.token().roles(["api.admin"]).sign(),
        Forbidden,
    )
    .on("/admin"));
    add(Case::bearer(
        "admin route, role with a trailing space",
        emu.token().roles(["Api.Admin "]).sign(),
        Forbidden,
    )
    .on("/admin"));
    add(Case::bearer(
        "admin route, a delegated scope named like the role",
        emu.token()
            .delegated("u-1", "Mallory", "mallory@contoso.example")
            .scopes("Api.Admin")
            .sign(),
        Forbidden,
    )
    .on("/admin"));
    add(Case::bearer(
        "app-restricted route, another calling app",
        emu.token()
            .client_app("33333333-4444-5555-6666-777777777777")
            .roles(["Api.Admin"])
            .sign(),
        Forbidden,
    )
    .on("/only-dev-client"));

    // --- the Authorization header itself -----------------------------------------------------
    let malformed = Invalid("Authorization header");
    for (name, value) in [
        ("Basic scheme", format!("Basic {valid}")),
        ("no space after Bearer", format!("Bearer{valid}")),
        ("empty token", "Bearer ".to_owned()),
        ("scheme only", "Bearer".to_owned()),
        ("only spaces after Bearer", "Bearer    ".to_owned()),
        ("two tokens", format!("Bearer {valid} {valid}")),
        ("token then junk", format!("Bearer {valid} x")),
        (
            "comma-separated credentials",
            format!("Bearer {valid}, Basic abc"),
        ),
        ("Token scheme", format!("Token {valid}")),
        ("Bearer= scheme", format!("Bearer={valid}")),
        ("tab as separator", format!("Bearer\t{valid}")),
        ("the token alone", valid.clone()),
    ] {
        add(Case::raw(
            format!("Authorization: {name}"),
            vec![value.into_bytes()],
            &valid,
            malformed,
        ));
    }
    add(Case::raw(
        "Authorization: non-UTF-8 bytes",
        vec![[b"Bearer ".as_slice(), &[0xff, 0xfe, 0x80]].concat()],
        &valid,
        malformed,
    ));
    add(Case::raw(
        "two Authorization headers, same token",
        vec![
            format!("Bearer {valid}").into_bytes(),
            format!("Bearer {valid}").into_bytes(),
        ],
        &valid,
        malformed,
    ));
    add(Case::raw(
        "two Authorization headers, junk first",
        vec![
            b"Bearer junk".to_vec(),
            format!("Bearer {valid}").into_bytes(),
        ],
        &valid,
        malformed,
    ));

    // --- other places the token is not read from by default ----------------------------------
    add(
        Case::raw("token in the query string", vec![], &valid, NoToken)
            .query(format!("access_token={valid}")),
    );
    add(Case::raw("token in a cookie", vec![], &valid, NoToken)
        .cookie(format!("access_token={valid}")));
    add(Case::raw(
        "token in the query string as `token`",
        vec![],
        &valid,
        NoToken,
    )
    .query(format!("token={valid}")));
    cases
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
