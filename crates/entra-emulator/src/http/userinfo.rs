//! Who the signed-in user is, for a Microsoft Graph token: the OpenID Connect userinfo endpoint
//! (`/oidc/userinfo`, and v1's `/{tenant}/openid/userinfo`) and a minimal Microsoft Graph
//! `GET /v1.0/me`, so that a sign-in and on-behalf-of to Graph work end to end offline.

use axum::extract::State as AxState;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use serde_json::{Map, Value, json};

use super::{Shared, bearer, json_response};
use crate::directory::{GRAPH_APP_ID, GRAPH_RESOURCE, User};
use crate::state::{State, read};

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
    get(handle).post(handle)
}

/// `GET /v1.0/me`: the user's Graph profile, for a Graph token with `User.Read` (or
/// `User.ReadBasic.All`).
pub(crate) fn graph_me_route() -> MethodRouter<Shared> {
    get(
        |AxState(state): AxState<Shared>, headers: HeaderMap| async move {
            let (claims, user) = match graph_user(&state, &headers) {
                Ok(found) => found,
                Err(why) => {
                    return graph_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", why);
                }
            };
            let scp = claims
                .get("scp")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let allowed = scp.split(' ').any(|s| {
                s.eq_ignore_ascii_case("User.Read") || s.eq_ignore_ascii_case("User.ReadBasic.All")
            });
            if !allowed {
                return graph_error(
                    StatusCode::FORBIDDEN,
                    "Authorization_RequestDenied",
                    "Insufficient privileges to complete the operation.",
                );
            }
            let body = json!({
                "@odata.context": format!("{GRAPH_RESOURCE}/v1.0/$metadata#users/$entity"),
                "businessPhones": [],
                "displayName": user.display_name,
                "givenName": user.given_name,
                "jobTitle": null,
                "mail": user.mail,
                "mobilePhone": null,
                "officeLocation": null,
                "preferredLanguage": null,
                "surname": user.family_name,
                "userPrincipalName": user.user_principal_name,
                "id": user.object_id,
            });
            json_response(&body, "no-store")
        },
    )
}

/// The claims of a live Graph token the emulator issued, and its user.
fn graph_user(
    state: &State,
    headers: &HeaderMap,
) -> Result<(Map<String, Value>, User), &'static str> {
    let token = bearer::from_headers(headers).ok_or("no bearer token")?;
    let claims = bearer::verify(state, token)?;
    let aud = claims
        .get("aud")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let for_graph = aud
        .trim_end_matches('/')
        .eq_ignore_ascii_case(GRAPH_RESOURCE)
        || aud.eq_ignore_ascii_case(GRAPH_APP_ID);
    if !for_graph {
        return Err("the token is not for Microsoft Graph");
    }
    let tid = claims
        .get("tid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let oid = claims
        .get("oid")
        .and_then(Value::as_str)
        .ok_or("the token has no user")?;
    let user = read(&state.directory)
        .tenant(tid)
        .and_then(|t| t.user(oid))
        .cloned()
        .ok_or("the user no longer exists")?;
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

/// Graph's error body.
fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "error": { "code": code, "message": message } });
    let mut r = json_response(&body, "no-store");
    *r.status_mut() = status;
    r
}
