//! Client assertions of workload identity federation: a token of an external issuer (a
//! Kubernetes service account token, or one of the emulator's own workload issuers) presented
//! as an app's `client_assertion`, accepted through one of the app's federated identity
//! credentials.
//!
//! The checks, in order: the app has a credential for the token's issuer (AADSTS700211); the
//! signature verifies with a key of that issuer (AADSTS700027; the emulator verifies tokens of
//! the issuers it serves and does not fetch the keys of external issuers); the token is within
//! its valid time range (AADSTS700024: expired, or `nbf` more than 5 minutes ahead, by the
//! emulator's clock); a credential of that issuer has its subject (AADSTS700213); one of those
//! accepts its audience (AADSTS700212). No `jti` is needed and a token may be presented again
//! while it is valid: workloads reread the same projected token file for every request.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::directory::FederatedCredential;
use crate::http::AadError;
use crate::keys::SigningKey;
use crate::state::{State, read};

/// How far in the future `nbf` may be (clock skew), in seconds.
const NBF_SKEW: i64 = 300;

/// Whether an assertion presented with `client_id` is a federated one: its `iss` is a URL, not
/// the client id (a certificate assertion's `iss` is the client id).
pub(super) fn is_federated(assertion: &str, client_id: &str) -> bool {
    let Some(claims) = assertion.split('.').nth(1).and_then(decode_json) else {
        return false;
    };
    claims
        .get("iss")
        .and_then(Value::as_str)
        .is_some_and(|iss| {
            !iss.eq_ignore_ascii_case(client_id)
                && (iss.starts_with("https://") || iss.starts_with("http://"))
        })
}

/// Check a federated assertion for the app `client_id` of the tenant `tid`.
pub(super) fn verify(
    state: &State,
    tid: &str,
    client_id: &str,
    assertion: &str,
) -> Result<(), AadError> {
    let parts: Vec<&str> = assertion.split('.').collect();
    let [h64, p64, s64] = parts.as_slice() else {
        return Err(AadError::malformed_assertion("not a compact JWS"));
    };
    let header = decode_json(h64).ok_or_else(|| AadError::malformed_assertion("bad header"))?;
    let claims = decode_json(p64).ok_or_else(|| AadError::malformed_assertion("bad payload"))?;
    let str_claim = |name: &str| claims.get(name).and_then(Value::as_str);
    let (Some(iss), Some(sub)) = (str_claim("iss"), str_claim("sub")) else {
        return Err(AadError::malformed_assertion(
            "'iss' and 'sub' are required",
        ));
    };

    let credentials: Vec<FederatedCredential> = {
        let directory = read(&state.directory);
        let tenant = directory
            .tenant(tid)
            .ok_or_else(|| AadError::tenant_not_found(tid))?;
        let app = tenant
            .app(client_id)
            .ok_or_else(|| AadError::application_not_found(client_id, tid))?;
        app.federated
            .iter()
            .filter(|c| c.issuer == iss)
            .cloned()
            .collect()
    };
    if credentials.is_empty() {
        return Err(AadError::federated_issuer_mismatch(iss));
    }

    verify_signature(state, iss, &header, h64, p64, s64)?;

    let now = state.now();
    let exp = claims.get("exp").and_then(Value::as_f64);
    let nbf = claims.get("nbf").and_then(Value::as_f64);
    let live = exp
        .is_some_and(|exp| (now as f64) < exp && nbf.is_none_or(|n| n <= (now + NBF_SKEW) as f64));
    if !live {
        return Err(AadError::assertion_time_range(now, nbf, exp));
    }

    let for_subject: Vec<&FederatedCredential> =
        credentials.iter().filter(|c| c.subject == sub).collect();
    if for_subject.is_empty() {
        return Err(AadError::federated_subject_mismatch(sub));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let accepted = for_subject
        .iter()
        .any(|c| audiences.iter().any(|a| c.accepts_audience(a)));
    if !accepted {
        return Err(AadError::federated_audience_mismatch(&audiences.join(",")));
    }
    Ok(())
}

/// The signature, with a published key of the issuer named by the header's `kid` (RS256, as
/// Kubernetes signs; PS256 accepted too).
fn verify_signature(
    state: &State,
    iss: &str,
    header: &Map<String, Value>,
    h64: &str,
    p64: &str,
    s64: &str,
) -> Result<(), AadError> {
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let keys: Option<Vec<SigningKey>> = state.urls.workload_issuer_name(iss).and_then(|name| {
        read(&state.workload_issuers)
            .get(name)
            .map(|i| i.published.clone())
    });
    let Some(keys) = keys else {
        return Err(AadError::assertion_invalid_signature(
            "The issuer's keys could not be retrieved: the emulator verifies tokens of its own \
             workload issuers only and does not fetch the keys of external issuers",
            kid,
        ));
    };
    let alg = match header.get("alg").and_then(Value::as_str) {
        Some("RS256") => Algorithm::RS256,
        Some("PS256") => Algorithm::PS256,
        _ => {
            return Err(AadError::assertion_invalid_signature(
                "The algorithm is not supported; use RS256 or PS256.",
                kid,
            ));
        }
    };
    let Some(key) = keys.iter().find(|k| k.kid() == kid) else {
        return Err(AadError::assertion_invalid_signature(
            "The key was not found.",
            kid,
        ));
    };
    let message = format!("{h64}.{p64}");
    let ok = jsonwebtoken::crypto::verify(s64, message.as_bytes(), &key.decoding_key(), alg)
        .unwrap_or(false);
    if !ok {
        return Err(AadError::assertion_invalid_signature(
            "The provided signature value did not match the expected signature value.",
            kid,
        ));
    }
    Ok(())
}

fn decode_json(part: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}
