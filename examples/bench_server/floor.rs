//! The physical limit of a cold path: the same `/me` answer as `noauth`, after exactly one RS256
//! verification of the bearer token's signature with an aws-lc key parsed at start. No header,
//! no claims, no key lookup: what no validator can do without.

use std::error::Error;
use std::sync::Arc;

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// `/me` behind one signature check with the first key of `key_set`.
pub(crate) fn router(key_set: &Value) -> Result<Router, Box<dyn Error>> {
    let jwk = &key_set["keys"][0];
    let component = |name: &str| -> Result<Vec<u8>, Box<dyn Error>> {
        let text = jwk[name].as_str().ok_or(format!("key without {name}"))?;
        Ok(URL_SAFE_NO_PAD.decode(text)?)
    };
    let (n, e) = (component("n")?, component("e")?);
    let key = RsaPublicKeyComponents { n: &n, e: &e }
        .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
        .map_err(|e| format!("key: {e}"))?;
    Ok(Router::new()
        .route("/me", get(super::me_anonymous))
        .layer(middleware::from_fn_with_state(Arc::new(key), verify)))
}

async fn verify(State(key): State<Arc<ParsedPublicKey>>, request: Request, next: Next) -> Response {
    let verified = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|token| token.rsplit_once('.'))
        .is_some_and(|(message, signature)| {
            let mut raw = [0u8; 1024];
            URL_SAFE_NO_PAD
                .decode_slice(signature, &mut raw)
                .is_ok_and(|len| key.verify_sig(message.as_bytes(), &raw[..len]).is_ok())
        });
    if verified {
        next.run(request).await
    } else {
        StatusCode::UNAUTHORIZED.into_response()
    }
}
