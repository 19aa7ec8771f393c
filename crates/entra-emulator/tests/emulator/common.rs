//! Helpers shared by the topic modules.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use entra_emulator::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

/// Two client certificates/keys shared by all tests of a binary (RSA generation is slow).
pub(crate) fn client_keys() -> &'static (SigningKey, SigningKey) {
    static KEYS: OnceLock<(SigningKey, SigningKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        (
            SigningKey::generate().expect("key"),
            SigningKey::generate().expect("key"),
        )
    })
}

pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// Decode one base64url JWT segment as JSON.
pub(crate) fn segment(token: &str, i: usize) -> Value {
    let part = token.split('.').nth(i).expect("segment");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("b64")).expect("json")
}

pub(crate) fn header(token: &str) -> Value {
    segment(token, 0)
}

pub(crate) fn payload(token: &str) -> Value {
    segment(token, 1)
}

/// Verify an RS256 token against a served JWKS (by `kid`, else `x5t`), checking aud and iss.
pub(crate) fn verify_with_jwks(
    token: &str,
    jwks: &Value,
    aud: &str,
    iss: &str,
) -> Result<Value, String> {
    let h = header(token);
    let id = h
        .get("kid")
        .or_else(|| h.get("x5t"))
        .and_then(Value::as_str)
        .ok_or("no kid")?;
    let jwk = jwks["keys"]
        .as_array()
        .ok_or("no keys")?
        .iter()
        .find(|k| k["kid"] == id)
        .ok_or("kid not in key set")?;
    let key = DecodingKey::from_rsa_components(
        jwk["n"].as_str().ok_or("n")?,
        jwk["e"].as_str().ok_or("e")?,
    )
    .map_err(|e| e.to_string())?;
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[aud]);
    v.set_issuer(&[iss]);
    v.set_required_spec_claims(&["exp", "nbf", "aud", "iss"]);
    v.validate_nbf = true;
    jsonwebtoken::decode::<Value>(token, &key, &v)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

/// Assert an Entra error body: status, `error`, code, description prefix and trailer.
pub(crate) async fn assert_aad_error(
    resp: reqwest::Response,
    status: u16,
    error: &str,
    code: u64,
) -> Value {
    assert_eq!(resp.status().as_u16(), status, "status");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
    );
    let body: Value = resp.json().await.expect("json error body");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"], serde_json::json!([code]), "{body}");
    let desc = body["error_description"].as_str().expect("description");
    assert!(desc.starts_with(&format!("AADSTS{code}: ")), "{desc}");
    let trailer = format!(
        "\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {}",
        body["trace_id"].as_str().unwrap(),
        body["correlation_id"].as_str().unwrap(),
        body["timestamp"].as_str().unwrap()
    );
    assert!(desc.ends_with(&trailer), "{desc}");
    let ts = body["timestamp"].as_str().unwrap();
    assert_eq!(ts.len(), 20, "{ts}");
    assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b' ', "{ts}");
    assert!(uuid::Uuid::parse_str(body["trace_id"].as_str().unwrap()).is_ok());
    assert_eq!(
        body["error_uri"],
        format!("https://login.microsoftonline.com/error?code={code}")
    );
    body
}

pub(crate) fn field_set(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

/// A real Entra document from `testdata/entra/`.
pub(crate) fn reference(name: &str) -> Value {
    let path = format!("{}/../../testdata/entra/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub(crate) async fn get(url: &str) -> reqwest::Response {
    http().get(url).send().await.unwrap()
}

/// GET a JSON document: 200, `application/json; charset=utf-8`.
pub(crate) async fn get_json(url: &str) -> Value {
    let resp = get(url).await;
    assert_eq!(resp.status(), 200, "{url}");
    assert_eq!(
        resp.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    resp.json().await.unwrap()
}

/// A JWK shaped like Entra's (fields, `kid` = `x5t` = SHA-1 of `x5c`, RSA-2048, `e` = AQAB).
pub(crate) fn check_entra_jwk(k: &Value, issuer: Option<&str>) {
    let mut expected: BTreeSet<String> = ["kty", "use", "kid", "x5t", "n", "e", "x5c"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if issuer.is_some() {
        expected.insert("issuer".into());
    }
    assert_eq!(field_set(k), expected);
    assert_eq!(k["kty"], "RSA");
    assert_eq!(k["use"], "sig");
    assert_eq!(k["e"], "AQAB");
    let der = STANDARD.decode(k["x5c"][0].as_str().unwrap()).unwrap();
    let x5t = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &der));
    assert_eq!(k["kid"], x5t);
    assert_eq!(k["x5t"], x5t);
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(k["n"].as_str().unwrap())
            .unwrap()
            .len(),
        256
    );
    if let Some(i) = issuer {
        assert_eq!(k["issuer"], i);
    }
}
