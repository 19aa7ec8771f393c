//! A minimal Microsoft Graph: `GET /v1.0/me` for a Graph token the emulator issued, so that a
//! sign-in and on-behalf-of to Graph work end to end offline; and what the userinfo endpoint
//! shares with it (reading a Graph token and its user). CORS for any origin, as Graph answers.

use axum::extract::State as AxState;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{MethodRouter, get};
use serde_json::{Map, Value, json};

use super::{Shared, bearer, cors, json_response};
use crate::directory::{GRAPH_APP_ID, GRAPH_RESOURCE, User};
use crate::state::{State, read};

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
    cors::any_origin(route, &[Method::GET])
}

/// The claims of the request's bearer token, when it is a live Graph token the emulator issued.
pub(super) fn graph_claims(
    state: &State,
    headers: &HeaderMap,
) -> Result<Map<String, Value>, &'static str> {
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
pub(super) fn token_user(state: &State, claims: &Map<String, Value>) -> Result<User, &'static str> {
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

/// Graph's error body.
fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "error": { "code": code, "message": message } });
    let mut r = json_response(&body, "no-store");
    *r.status_mut() = status;
    r
}
