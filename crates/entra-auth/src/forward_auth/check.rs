//! The check itself: the original request, its rule, the token, the answer.
//!
//! The answers are the layer's: the token is found as the layer finds it, validated by the same
//! [`Authenticator`], a rule's requirement checked with [`Require::check`](crate::Require::check),
//! and every refusal built by [`AuthError::to_response`] with the configured realm.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::config::{ForwardAuthConfig, IdentityHeaders};
use super::original::{self, Dialect, Original};
use crate::authenticator::Authenticator;
use crate::claims::Claims;
use crate::error::AuthError;
use crate::token_source::{Presented, credential_text, extract_token};

/// Where Envoy's `path_prefix` points: the original path follows it.
pub(crate) const ENVOY_PREFIX: &str = "/auth/envoy";

pub(crate) async fn nginx(
    State(config): State<Arc<ForwardAuthConfig>>,
    request: Request,
) -> Response {
    answer(&config, Dialect::Nginx, request).await
}

pub(crate) async fn traefik(
    State(config): State<Arc<ForwardAuthConfig>>,
    request: Request,
) -> Response {
    answer(&config, Dialect::Traefik, request).await
}

pub(crate) async fn envoy(
    State(config): State<Arc<ForwardAuthConfig>>,
    request: Request,
) -> Response {
    let dialect = Dialect::Envoy {
        prefix: ENVOY_PREFIX,
    };
    answer(&config, dialect, request).await
}

async fn answer(config: &ForwardAuthConfig, dialect: Dialect, request: Request) -> Response {
    let (parts, _body) = request.into_parts();
    let original = match original::read(dialect, &parts) {
        Ok(original) => original,
        Err(e) => {
            tracing::debug!(reason = e.code(), "forward-auth: bad original request");
            return e.into_response();
        }
    };
    match decide(config, &original, &parts.headers).await {
        Ok(claims) => {
            tracing::debug!(
                method = %original.method,
                path = %original.path,
                host = original.host.as_deref().unwrap_or(""),
                anonymous = claims.is_none(),
                oid = claims.as_ref().and_then(Claims::object_id).unwrap_or(""),
                app = claims.as_ref().and_then(Claims::app_id).unwrap_or(""),
                "forward-auth: allowed"
            );
            allow(&config.headers, claims.as_ref())
        }
        Err(e) => {
            tracing::debug!(
                method = %original.method,
                path = %original.path,
                host = original.host.as_deref().unwrap_or(""),
                status = e.status().as_u16(),
                error = %e,
                "forward-auth: refused"
            );
            config.auth.reject(&e)
        }
    }
}

/// `Ok(None)`: anonymous (a rule allows it and no token was sent).
async fn decide(
    config: &ForwardAuthConfig,
    original: &Original,
    headers: &HeaderMap,
) -> Result<Option<Claims>, AuthError> {
    let rule = config.rules.find(&original.method, &original.path);
    let sources = &config.auth.config().inner.sources;
    let token = match extract_token(headers, original.query.as_deref(), sources) {
        Ok(Some(token)) => token,
        Ok(None) if rule.is_some_and(|r| r.is_anonymous()) => return Ok(None),
        Ok(None) => return Err(config.auth.counted(AuthError::MissingToken)),
        Err(e) => return Err(config.auth.counted(e.into())),
    };
    let claims = validate(&config.auth, &token).await?;
    if let Some(requirement) = rule.and_then(|r| r.requirement()) {
        requirement.check(&claims)?;
    }
    Ok(Some(claims))
}

/// As the layer validates: a token verified earlier from the cache (by its bytes), else one
/// ASCII credential ([`credential_text`]) fully validated.
async fn validate(auth: &Authenticator, token: &Presented<'_>) -> Result<Claims, AuthError> {
    if let Some(claims) = auth.cached_claims_for(token.as_bytes()) {
        return Ok(claims);
    }
    let text = credential_text(token.as_bytes()).map_err(|e| auth.counted(e.into()))?;
    auth.validate_uncached(text).await
}

/// `200` with the identity headers: all of them, empty when there is no value, so that a proxy
/// copying them overwrites what a client sent under those names. Never the token.
fn allow(names: &IdentityHeaders, claims: Option<&Claims>) -> Response {
    let (oid, tid, app, scopes, roles) = match claims {
        Some(c) => (
            c.object_id().unwrap_or_default().to_owned(),
            c.tenant_id().unwrap_or_default().to_owned(),
            c.app_id().unwrap_or_default().to_owned(),
            c.scopes().join(" "),
            c.roles().join(" "),
        ),
        None => Default::default(),
    };
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    for (name, value) in names
        .names()
        .into_iter()
        .zip([oid, tid, app, scopes, roles])
    {
        // Claims are Entra's, signed; still, a value that cannot be a header is passed empty
        // rather than failing the request.
        let value = HeaderValue::from_str(&value).unwrap_or_else(|_| {
            tracing::debug!(header = %name, "forward-auth: claim not usable as a header value");
            HeaderValue::from_static("")
        });
        headers.insert(name.clone(), value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
