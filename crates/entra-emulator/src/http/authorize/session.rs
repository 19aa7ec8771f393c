//! The sign-in session: the cookie (HttpOnly, SameSite=Lax, Secure over HTTPS), signing in on
//! the page (the user's button, their password when they have one), and `--auto-sign-in`.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use super::{PendingAuthorization, proceed, show_sign_in};
use crate::http::AadError;
use crate::http::form::Form;
use crate::http::pages;
use crate::mint::random_b64;
use crate::state::{State, lock, read};
use crate::store::Session;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "entra_emulator_session";

/// How long a session lasts.
const SESSION_LIFETIME_SECS: i64 = 24 * 3600;

/// The live session of this browser for tenant `tid`, from the session cookie.
pub(crate) fn current_session(state: &State, headers: &HeaderMap, tid: &str) -> Option<Session> {
    let id = session_cookie(headers)?;
    let now = state.now();
    lock(&state.store.sessions)
        .get(&id, now)
        .filter(|s| s.tid == tid)
        .cloned()
}

/// The session cookie's value, if the request has one.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// Start a session for user `oid` of tenant `tid`; returns it and the cookie value.
fn sign_in_user(state: &State, tid: &str, oid: &str) -> (Session, String) {
    let now = state.now();
    let session = Session {
        tid: tid.to_owned(),
        user_oid: oid.to_ascii_lowercase(),
        sid: uuid::Uuid::new_v4().to_string(),
    };
    let cookie = random_b64(32);
    lock(&state.store.sessions).insert(
        cookie.clone(),
        session.clone(),
        now + SESSION_LIFETIME_SECS,
        now,
    );
    (session, cookie)
}

/// The auto sign-in user's session in tenant `tid`, when one is configured and the tenant has
/// that user.
/// `login_hint`, when given, must name that user (a hint for someone else is never answered
/// with the auto user's tokens).
pub(super) fn auto_sign_in(
    state: &State,
    tid: &str,
    login_hint: Option<&str>,
) -> Option<(Session, String)> {
    let upn = state.auto_sign_in.as_deref()?;
    let oid = {
        let directory = read(&state.directory);
        let user = directory.tenant(tid)?.user(upn)?;
        if login_hint.is_some_and(|hint| !user.answers_hint(hint)) {
            return None;
        }
        user.object_id.clone()
    };
    Some(sign_in_user(state, tid, &oid))
}

/// Is this the auto sign-in user (whose consent is given without the page)?
pub(super) fn is_auto_user(state: &State, session: &Session) -> bool {
    let Some(upn) = state.auto_sign_in.as_deref() else {
        return false;
    };
    read(&state.directory)
        .tenant(&session.tid)
        .and_then(|t| t.user(upn))
        .is_some_and(|u| u.object_id.eq_ignore_ascii_case(&session.user_oid))
}

/// Set the session cookie on a response.
pub(crate) fn with_cookie(response: Response, cookie: &str, state: &State) -> Response {
    set_cookie(response, cookie, "", state)
}

/// Clear the session cookie (sign-out).
pub(crate) fn clear_cookie(response: Response, state: &State) -> Response {
    set_cookie(response, "", "; Max-Age=0", state)
}

/// The session cookie's one set of attributes: HttpOnly, SameSite=Lax, Secure over HTTPS.
fn set_cookie(mut response: Response, value: &str, extra: &str, state: &State) -> Response {
    let secure = if state.urls.base().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax{secure}{extra}");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// `POST /{tenant}/login`: `flow`, `user` (UPN), `password` for users that have one.
pub(super) fn submit_sign_in(
    state: &State,
    tenant: &str,
    headers: &HeaderMap,
    form: &Form,
) -> Response {
    let flow = form.get("flow").unwrap_or_default();
    let Some(pending) = super::take_pending(state, tenant, flow) else {
        return pages::error(&AadError::sign_in_expired());
    };
    let PendingAuthorization { request, .. } = pending;
    let chosen = form.get("user").unwrap_or_default();
    let outcome = {
        let directory = read(&state.directory);
        match directory.tenant(&request.tid).and_then(|t| t.user(chosen)) {
            None => Err("This user is not in the tenant."),
            Some(u) => match &u.password {
                Some(p) if !form.get("password").is_some_and(|given| p.matches(given)) => {
                    Err("Your account or password is incorrect.")
                }
                _ => Ok(u.object_id.clone()),
            },
        }
    };
    match outcome {
        Ok(oid) => {
            let (session, cookie) = sign_in_user(state, &request.tid, &oid);
            let response = proceed(state, request, session, false);
            with_cookie(response, &cookie, state)
        }
        Err(why) => {
            let session = super::current_session(state, headers, &request.tid);
            show_sign_in(state, request, session.as_ref(), Some(why))
        }
    }
}
