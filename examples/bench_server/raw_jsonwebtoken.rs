//! What a hand-written `jsonwebtoken` middleware does, as most Rust crates for Entra do it: the
//! keys loaded once (no refresh), `decode_header`, a key lookup by `kid`, then `decode` with the
//! audience and issuer set, typed claims in the request extensions, a fixed 401 otherwise. The
//! floor for rejections: nothing Entra-specific (tenants, key issuers, v1/v2, ID tokens).

use std::collections::HashMap;
use std::error::Error;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use entra_emulator::DEV_API_CLIENT_ID;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

/// The claims such a middleware decodes (the handler here only takes them, as the layer's does).
#[allow(dead_code)]
#[derive(Clone, Deserialize)]
struct TokenClaims {
    ver: Option<String>,
    tid: Option<String>,
    oid: Option<String>,
    sub: Option<String>,
    azp: Option<String>,
    scp: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

struct Keys {
    by_kid: HashMap<String, DecodingKey>,
    validation: Validation,
}

/// `/me` behind the middleware, with the keys of `key_set` and the accepted `issuer`.
pub(crate) fn router(key_set: &Value, issuer: &str) -> Result<Router, Box<dyn Error>> {
    let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
        &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
    );
    let mut by_kid = HashMap::new();
    for jwk in key_set["keys"].as_array().ok_or("no keys")? {
        let (Some(kid), Some(n), Some(e)) =
            (jwk["kid"].as_str(), jwk["n"].as_str(), jwk["e"].as_str())
        else {
            continue;
        };
        by_kid.insert(kid.to_owned(), DecodingKey::from_rsa_components(n, e)?);
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[DEV_API_CLIENT_ID]);
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss"]);
    let keys = Arc::new(Keys { by_kid, validation });
    Ok(Router::new()
        .route("/me", get(me))
        .layer(middleware::from_fn_with_state(keys, authenticate)))
}

async fn me(Extension(claims): Extension<TokenClaims>) -> Json<Value> {
    std::hint::black_box(&claims.oid);
    super::me_anonymous().await
}

async fn authenticate(State(keys): State<Arc<Keys>>, mut request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let claims = token.and_then(|token| {
        let kid = jsonwebtoken::decode_header(token).ok()?.kid?;
        let key = keys.by_kid.get(&kid)?;
        jsonwebtoken::decode::<TokenClaims>(token, key, &keys.validation).ok()
    });
    match claims {
        Some(data) => {
            request.extensions_mut().insert(data.claims);
            next.run(request).await
        }
        None => (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            )],
        )
            .into_response(),
    }
}
