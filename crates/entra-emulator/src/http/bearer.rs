//! Tokens the emulator issued coming back to it: the on-behalf-of `assertion`, and the bearer
//! token of `/oidc/userinfo` and Graph's `/v1.0/me`. Checked against the keys the emulator
//! signs with (published, or an app's own) and its clock.

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::keys::SigningKey;
use crate::state::{State, read};

/// The claims of `token` when the emulator signed it (RS256, a key it holds) and it is live;
/// otherwise why not.
pub(crate) fn verify(state: &State, token: &str) -> Result<Map<String, Value>, &'static str> {
    let mut parts = token.split('.');
    let (Some(h64), Some(p64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a JWS compact token");
    };
    let header = decode_json(h64).ok_or("bad header")?;
    let claims = decode_json(p64).ok_or("bad payload")?;
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err("the algorithm must be RS256");
    }
    let kid = header.get("kid").and_then(Value::as_str).ok_or("no kid")?;
    let tid = claims
        .get("tid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let key = signing_key(state, tid, kid).ok_or("unknown signing key")?;
    let message = format!("{h64}.{p64}");
    let signed = jsonwebtoken::crypto::verify(
        s64,
        message.as_bytes(),
        &key.decoding_key(),
        Algorithm::RS256,
    )
    .unwrap_or(false);
    if !signed {
        return Err("the signature does not verify");
    }
    let now = state.now();
    let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
    let nbf = claims.get("nbf").and_then(Value::as_i64).unwrap_or(0);
    if exp <= now || nbf > now + 300 {
        return Err("the token is expired or not yet valid");
    }
    Ok(claims)
}

/// The bearer token of an `Authorization` header.
pub(crate) fn from_headers(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

/// A key the emulator signs tokens of this tenant with: published, or an app's own.
fn signing_key(state: &State, tid: &str, kid: &str) -> Option<SigningKey> {
    if let Some(k) = read(&state.keys)
        .published()
        .iter()
        .find(|k| k.kid() == kid)
    {
        return Some(k.clone());
    }
    let directory = read(&state.directory);
    let tenant = directory.tenant(tid)?;
    tenant
        .app_ids()
        .flat_map(|id| tenant.app_keys(id))
        .find(|k| k.kid() == kid)
        .cloned()
}

fn decode_json(part: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok()
}
