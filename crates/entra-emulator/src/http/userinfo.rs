//! Who the signed-in user is, for a Microsoft Graph token: the OpenID Connect userinfo endpoint
//! (`/oidc/userinfo`, and v1's `/{tenant}/openid/userinfo`) and a minimal Microsoft Graph
//! `GET /v1.0/me`, so that a sign-in and on-behalf-of to Graph work end to end offline. Both
//! answer CORS for any origin, as Graph does for single-page apps.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State as AxState;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use serde_json::{Map, Value, json};
use tower_http::cors::{Any, CorsLayer};

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
    cross_origin(get(handle).post(handle), &[Method::GET, Method::POST])
}

/// `GET /v1.0/me`: the user's Graph profile, for a Graph token with `User.Read` (or
/// `User.ReadBasic.All`).
pub(crate) fn graph_me_route() -> MethodRouter<Shared> {
    let route = get(
        |AxState(state): AxState<Shared>, headers: HeaderMap| async move {
            let unauthenticated =
                |why| graph_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", why);
            let claims = match graph_claims(&state, &headers) {
                Ok(claims) => claims,
                Err(why) => return unauthenticated(why),
            };
            // An app-only token (no `scp`) names no user: Graph answers 400, whatever its roles.
            let Some(scp) = claims.get("scp").and_then(Value::as_str) else {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "/me request is only valid with delegated authentication flow.",
                );
            };
            let user = match token_user(&state, &claims) {
                Ok(user) => user,
                Err(why) => return unauthenticated(why),
            };
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
    );
    cross_origin(route, &[Method::GET])
}

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE_SECS: u64 = 86400;

/// CORS for any origin, as Graph answers: a single-page app calls `/v1.0/me` and userinfo
/// from the browser with its bearer token (no cookies), so the preflight for `Authorization`
/// must pass, and the challenge of a refusal must be readable.
fn cross_origin(route: MethodRouter<Shared>, methods: &[Method]) -> MethodRouter<Shared> {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods(methods.to_vec())
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("client-request-id"),
        ])
        .expose_headers([
            header::WWW_AUTHENTICATE,
            HeaderName::from_static("client-request-id"),
            HeaderName::from_static("request-id"),
        ])
        .max_age(Duration::from_secs(PREFLIGHT_MAX_AGE_SECS));
    // `json_response` sets `Access-Control-Allow-Origin` itself; the CORS layer alone decides.
    route
        .layer::<_, Infallible>(middleware::map_response(strip_allow_origin))
        .layer::<_, Infallible>(cors)
}

async fn strip_allow_origin(mut response: Response) -> Response {
    response
        .headers_mut()
        .remove(header::ACCESS_CONTROL_ALLOW_ORIGIN);
    response
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

/// The claims of the request's bearer token, when it is a live Graph token the emulator issued.
fn graph_claims(state: &State, headers: &HeaderMap) -> Result<Map<String, Value>, &'static str> {
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
    Ok(claims)
}

/// The directory user a token names (`tid`, `oid`).
fn token_user(state: &State, claims: &Map<String, Value>) -> Result<User, &'static str> {
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
    Ok(user)
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
