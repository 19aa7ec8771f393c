//! The OpenID Connect userinfo endpoint (`/oidc/userinfo`, and v1's
//! `/{tenant}/openid/userinfo`): who the signed-in user is, for a Microsoft Graph token. It
//! answers CORS for any origin, as Entra's does for single-page apps.

use axum::extract::State as AxState;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use serde_json::{Map, Value, json};

use super::graph::{graph_claims, token_user};
use super::{Shared, cors, json_response};
use crate::directory::{GRAPH_RESOURCE, User};
use crate::state::State;

/// `GET|POST /oidc/userinfo`.
pub(crate) fn route() -> MethodRouter<Shared> {
    let handle = |AxState(state): AxState<Shared>, headers: HeaderMap| async move {
        match graph_user(&state, &headers) {
            Ok((claims, user)) => {
                let mut body = json!({
                    "sub": claims.get("sub").cloned().unwrap_or(Value::Null),
                    "name": user.display_name,
                    "family_name": user.family_name,
                    "given_name": user.given_name,
                    "picture": format!("{GRAPH_RESOURCE}/v1.0/me/photo/$value"),
                });
                if let (Some(mail), Some(obj)) = (&user.mail, body.as_object_mut()) {
                    obj.insert("email".into(), json!(mail));
                }
                json_response(&body, "no-store")
            }
            Err(why) => challenge(why),
        }
    };
    cors::any_origin(get(handle).post(handle), &[Method::GET, Method::POST])
}

/// The claims of a live Graph token the emulator issued, and its user.
fn graph_user(
    state: &State,
    headers: &HeaderMap,
) -> Result<(Map<String, Value>, User), &'static str> {
    let claims = graph_claims(state, headers)?;
    let user = token_user(state, &claims)?;
    Ok((claims, user))
}

/// 401 with an RFC 6750 challenge, as Entra's userinfo endpoint answers.
fn challenge(why: &str) -> Response {
    tracing::debug!(reason = why, "userinfo refused");
    let mut r = StatusCode::UNAUTHORIZED.into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    r
}
