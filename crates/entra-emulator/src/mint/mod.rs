//! Minting: claim sets and signing. The token endpoint and [`TokenBuilder`] (tokens minted
//! directly by tests) both build a [`ClaimSet`] and sign it here.

mod builder;
mod claims;
mod delegated;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value, json};

pub use builder::TokenBuilder;
pub(crate) use claims::{ClaimSet, RandomIds, User};
pub(crate) use delegated::{Delegation, IdTokenSession, id_token_claims, sign_id_token};

use crate::directory::TokenVersion;
use crate::keys::SigningKey;

/// Seconds since the Unix epoch.
pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `n` random bytes, base64url without padding.
pub(crate) fn random_b64(n: usize) -> String {
    let mut buf = vec![0u8; n];
    // aws-lc's RNG does not fail in practice; fall back to a UUID if it ever does.
    if aws_lc_rs::rand::fill(&mut buf).is_err() {
        return uuid::Uuid::new_v4().simple().to_string();
    }
    URL_SAFE_NO_PAD.encode(buf)
}

/// A random integer in `lo..=hi`.
pub(crate) fn random_between(lo: u64, hi: u64) -> u64 {
    let mut buf = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut buf).is_err() || hi <= lo {
        return lo;
    }
    lo + u64::from_le_bytes(buf) % (hi - lo + 1)
}

/// The header Entra puts on access tokens: v1 tokens also carry `x5t`.
pub(crate) fn access_token_header(version: TokenVersion, kid: &str) -> Map<String, Value> {
    let mut h = Map::new();
    h.insert("typ".into(), json!("JWT"));
    h.insert("alg".into(), json!("RS256"));
    if version == TokenVersion::V1 {
        h.insert("x5t".into(), json!(kid));
    }
    h.insert("kid".into(), json!(kid));
    h
}

/// Sign `claims` under `header` with `key`. The algorithm is taken from the header's `alg` when
/// it is an RSA algorithm (RS256/384/512, PS256/384/512), otherwise RS256 is used (so a token
/// that *claims* `HS256` or `none` still carries an RS256 signature). `signed_header`, when
/// given, is what the signature covers instead of `header` (Graph-style nonce tokens).
pub(crate) fn sign_jwt(
    header: &Map<String, Value>,
    signed_header: Option<&Map<String, Value>>,
    claims: &Map<String, Value>,
    key: &SigningKey,
) -> String {
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(|a| a.parse::<Algorithm>().ok())
        .filter(|a| {
            matches!(
                a,
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            )
        })
        .unwrap_or(Algorithm::RS256);
    let enc =
        |v: &Map<String, Value>| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap_or_default());
    let h = enc(header);
    let c = enc(claims);
    let signed_h = signed_header.map(enc).unwrap_or_else(|| h.clone());
    let message = format!("{signed_h}.{c}");
    let sig = match jsonwebtoken::crypto::sign(message.as_bytes(), &key.encoding_key(), alg) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "signing failed");
            String::new()
        }
    };
    format!("{h}.{c}.{sig}")
}
