//! Verifying `private_key_jwt` client assertions (certificate credentials).
//!
//! Accepted: RS256 with an `x5t` header or PS256 with `x5t#S256` (either header works with
//! either algorithm), thumbprints base64url or base64 with or without `=` padding,
//! `iat`/`nbf`/`exp` as integers or floats, `aud` = the tenant's v2 or v1 token endpoint URL by
//! its id or one of its domain names, a `jti` never seen before (remembered until `exp`), and a
//! lifetime of at most `max_assertion_lifetime`.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

use crate::http::AadError;
use crate::mint::now_unix;
use crate::state::{State, lock, read};

/// How far in the future `nbf` may be (client clock skew), in seconds.
const NBF_SKEW: f64 = 300.0;

/// Check a client assertion for the tenant `tenant` (its lower-cased id, whichever name the
/// request path used) and return the client id it authenticates.
pub(crate) fn verify(
    state: &State,
    tenant: &str,
    form_client_id: Option<&str>,
    assertion: &str,
) -> Result<String, AadError> {
    let parts: Vec<&str> = assertion.split('.').collect();
    let [h64, p64, s64] = parts.as_slice() else {
        return Err(AadError::malformed_assertion("not a compact JWS"));
    };
    let header = decode_json(h64).ok_or_else(|| AadError::malformed_assertion("bad header"))?;
    let claims = decode_json(p64).ok_or_else(|| AadError::malformed_assertion("bad payload"))?;
    let iss = claims.get("iss").and_then(Value::as_str);
    let sub = claims.get("sub").and_then(Value::as_str);
    let (Some(iss), Some(sub)) = (iss, sub) else {
        return Err(AadError::malformed_assertion(
            "'iss' and 'sub' are required",
        ));
    };
    // Without a `jti` an assertion could be replayed until it expires.
    let Some(jti) = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty())
    else {
        return Err(AadError::malformed_assertion(
            "'jti' is required: a unique identifier for every assertion",
        ));
    };
    if !iss.eq_ignore_ascii_case(sub) {
        return Err(AadError::assertion_client_mismatch());
    }
    if let Some(cid) = form_client_id
        && !cid.eq_ignore_ascii_case(iss)
    {
        return Err(AadError::assertion_client_mismatch());
    }
    let client_id = iss.to_owned();

    // Find the registered certificate by thumbprint.
    let (certs, tenant_known) = {
        let directory = read(&state.directory);
        match directory.tenant(tenant) {
            Some(t) => (t.app(&client_id).map(|a| a.certificates.clone()), true),
            None => (None, false),
        }
    };
    if !tenant_known {
        return Err(AadError::tenant_not_found(tenant));
    }
    let Some(certs) = certs else {
        return Err(AadError::application_not_found(&client_id, tenant));
    };
    let alg = match header.get("alg").and_then(Value::as_str) {
        Some("RS256") => Algorithm::RS256,
        Some("PS256") => Algorithm::PS256,
        _ => {
            return Err(AadError::assertion_invalid_signature(
                "The algorithm is not supported; use RS256 or PS256.",
                "",
            ));
        }
    };
    let s256 = header
        .get("x5t#S256")
        .and_then(Value::as_str)
        .and_then(decode_thumbprint);
    let s1 = header
        .get("x5t")
        .and_then(Value::as_str)
        .and_then(decode_thumbprint);
    let thumb_hex = s256
        .as_deref()
        .or(s1.as_deref())
        .map(hex::encode_upper)
        .unwrap_or_default();
    let cert = certs.iter().find(|c| {
        s256.as_deref().is_some_and(|t| t == c.sha256) || s1.as_deref().is_some_and(|t| t == c.sha1)
    });
    let Some(cert) = cert else {
        return Err(AadError::assertion_invalid_signature(
            "The key was not found.",
            &thumb_hex,
        ));
    };
    let key = DecodingKey::from_rsa_der(&cert.public_pkcs1);
    let message = format!("{h64}.{p64}");
    let ok = jsonwebtoken::crypto::verify(s64, message.as_bytes(), &key, alg).unwrap_or(false);
    if !ok {
        return Err(AadError::assertion_invalid_signature(
            "The provided signature value did not match the expected signature value.",
            &thumb_hex,
        ));
    }

    // Audience: the tenant's v2 or v1 token endpoint, by its id or one of its domain names.
    let aud_ok = |a: &str| names_token_endpoint_of(state, tenant, a);
    let aud_matches = match claims.get("aud") {
        Some(Value::String(a)) => aud_ok(a),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(aud_ok),
        _ => false,
    };
    if !aud_matches {
        return Err(AadError::assertion_audience());
    }

    // Time range.
    let now = now_unix();
    let exp = claims.get("exp").and_then(Value::as_f64);
    let nbf = claims.get("nbf").and_then(Value::as_f64);
    let valid = match exp {
        Some(exp) => (now as f64) < exp && nbf.is_none_or(|n| n <= now as f64 + NBF_SKEW),
        None => false,
    };
    if !valid {
        return Err(AadError::assertion_time_range(now, nbf, exp));
    }

    // Lifetime: from nbf (else iat, else now) to exp. A start after the accepted skew cannot
    // shorten it (an `iat` far ahead), so every remembered jti is forgotten within
    // max_assertion_lifetime + NBF_SKEW.
    let exp = exp.unwrap_or(0.0);
    let max = state.max_assertion_lifetime.as_secs_f64();
    let start = nbf
        .or_else(|| claims.get("iat").and_then(Value::as_f64))
        .unwrap_or(now as f64)
        .min(now as f64 + NBF_SKEW);
    if exp - start > max {
        return Err(AadError::assertion_lifetime_too_long(
            start,
            exp,
            state.max_assertion_lifetime.as_secs(),
        ));
    }

    // Replay.
    if !lock(&state.seen_assertions).insert(&client_id, jti, exp as i64, now) {
        return Err(AadError::assertion_replayed());
    }
    Ok(client_id)
}

/// Whether `aud` is the v2 or v1 token endpoint URL of the tenant `tid` on this emulator, the
/// tenant named by its id or by one of its domain names (case-insensitive; a trailing `/` is
/// ignored).
fn names_token_endpoint_of(state: &State, tid: &str, aud: &str) -> bool {
    let Some(segment) = state.urls.token_endpoint_tenant(aud) else {
        return false;
    };
    segment.eq_ignore_ascii_case(tid)
        || read(&state.directory).tenant_of_domain(segment) == Some(tid)
}

fn decode_json(part: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// A thumbprint as sent by clients: base64url or base64, with or without `=` padding.
fn decode_thumbprint(t: &str) -> Option<Vec<u8>> {
    let t = t.trim_end_matches('=');
    URL_SAFE_NO_PAD
        .decode(t)
        .ok()
        .or_else(|| STANDARD_NO_PAD.decode(t).ok())
}
