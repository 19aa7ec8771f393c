//! The authorize endpoint and the sign-in it leads to:
//!
//! ```text
//! GET|POST /{tenant}/oauth2/v2.0/authorize ─► request.rs: client, redirect URI, PKCE, prompt
//!   ─► a session (cookie) for this tenant, or --auto-sign-in, or the sign-in page
//!      POST /{tenant}/login: the user's button (and password, when they have one) ─► session
//!   ─► consent: given, or the consent page (POST /{tenant}/consent), or an error
//!   ─► the code to the redirect URI (query, fragment or form_post), or a device code approved
//! ```
//!
//! A request waiting for a page is kept server-side under a random id (the pages carry only
//! that id), so a page cannot change what was asked.

mod consent;
mod request;
mod respond;
mod session;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use axum::routing::{MethodRouter, get, post};

pub(crate) use request::{AuthorizationRequest, Prompt, Target};
pub(crate) use session::{clear_cookie, current_session, session_cookie};

use self::consent::ConsentCheck;
use self::request::Refusal;
use super::form::Form;
use super::pages::{self, UserChoice};
use super::{AadError, Shared};
use crate::mint::random_b64;
use crate::state::{State, lock, read};
use crate::store::{
    Approval, AuthCode, CODE_LIFETIME_SECS, CODE_MEMORY_SECS, DeviceState, Session,
};

/// How long a request may wait on the sign-in and consent pages.
const PENDING_LIFETIME_SECS: i64 = 1800;

/// A request waiting on the sign-in or consent page.
#[derive(Clone, Debug)]
pub(crate) struct PendingAuthorization {
    pub(crate) request: AuthorizationRequest,
    /// Who signed in on the page, once someone did (the consent page comes next).
    pub(crate) signed_in: Option<Session>,
}

/// Take the request a page answers (its `flow` id), when it is still waiting and for the
/// tenant the page's path names.
fn take_pending(state: &State, tenant: &str, flow: &str) -> Option<PendingAuthorization> {
    let tid = match super::resolve_tenant(state, tenant).ok()? {
        crate::directory::TenantName::Specific { tid, .. } => tid,
        crate::directory::TenantName::Independent(_) => return None,
    };
    let now = state.now();
    lock(&state.store.pending)
        .take(flow, now)
        .filter(|p| p.request.tid == tid)
}

/// `GET|POST /{tenant}/oauth2/v2.0/authorize`.
pub(crate) fn route() -> MethodRouter<Shared> {
    let handle = |AxState(state): AxState<Shared>,
                  Path(tenant): Path<String>,
                  method: Method,
                  RawQuery(query): RawQuery,
                  headers: HeaderMap,
                  body: Bytes| async move {
        let params = if method == Method::POST {
            Form::parse(&body)
        } else {
            Form::parse(query.unwrap_or_default().as_bytes())
        };
        authorize(&state, &tenant, &params, &headers)
    };
    get(handle).post(handle)
}

/// `POST /{tenant}/login`: the sign-in page's answer.
pub(crate) fn login_route() -> MethodRouter<Shared> {
    post(
        |AxState(state): AxState<Shared>,
         Path(tenant): Path<String>,
         headers: HeaderMap,
         body: Bytes| async move {
            session::submit_sign_in(&state, &tenant, &headers, &Form::parse(&body))
        },
    )
}

/// `POST /{tenant}/consent`: the consent page's answer.
pub(crate) fn consent_route() -> MethodRouter<Shared> {
    post(
        |AxState(state): AxState<Shared>, Path(tenant): Path<String>, body: Bytes| async move {
            consent::submit(&state, &tenant, &Form::parse(&body))
        },
    )
}

fn authorize(state: &State, tenant: &str, params: &Form, headers: &HeaderMap) -> Response {
    let request = match AuthorizationRequest::parse(state, tenant, params) {
        Ok(r) => r,
        Err(Refusal::Page(e)) => return pages::error(&e),
        Err(Refusal::Redirect(redirect, e)) => return respond::error(&redirect, &e),
    };
    begin(state, request, headers)
}

/// Sign in for a checked request: silently with a session (unless `prompt` asks for a page),
/// as the auto sign-in user, or on the sign-in page.
pub(crate) fn begin(state: &State, request: AuthorizationRequest, headers: &HeaderMap) -> Response {
    // A `login_hint` naming someone else than the signed-in user: that session does not sign
    // in silently (`prompt=none` gets `login_required`, otherwise the page, hint first).
    let session = current_session(state, headers, &request.tid)
        .filter(|s| hint_names_session_user(state, &request, s));
    match (request.prompt, session) {
        (Prompt::None | Prompt::Default | Prompt::Consent, Some(session)) => {
            proceed(state, request, session, false)
        }
        (prompt, session) => {
            let hint = request.login_hint.as_deref();
            if let Some((session, cookie)) = session::auto_sign_in(state, &request.tid, hint) {
                let r = proceed(state, request, session, false);
                return session::with_cookie(r, &cookie, state);
            }
            if prompt == Prompt::None {
                return refuse(state, &request, &AadError::login_required());
            }
            show_sign_in(state, request, session.as_ref(), None)
        }
    }
}

/// Does the request's `login_hint` name the session's user? True without a hint.
fn hint_names_session_user(
    state: &State,
    request: &AuthorizationRequest,
    session: &Session,
) -> bool {
    let Some(hint) = request.login_hint.as_deref() else {
        return true;
    };
    let directory = read(&state.directory);
    directory
        .tenant(&request.tid)
        .and_then(|t| t.user(&session.user_oid))
        .is_some_and(|u| u.answers_hint(hint))
}

/// Keep the request and show the sign-in page for it.
fn show_sign_in(
    state: &State,
    request: AuthorizationRequest,
    session: Option<&Session>,
    error: Option<&str>,
) -> Response {
    let now = state.now();
    let flow = random_b64(24);
    let (app_name, users) = {
        let directory = read(&state.directory);
        let Some(tenant) = directory.tenant(&request.tid) else {
            return pages::error(&AadError::tenant_not_found(&request.tid));
        };
        let app_name = app_name(tenant.app(&request.client_id), &request.client_id);
        let preselected = |u: &crate::directory::User| match request.login_hint.as_deref() {
            Some(hint) => u.answers_hint(hint),
            None => session.is_some_and(|s| s.user_oid.eq_ignore_ascii_case(&u.object_id)),
        };
        let users: Vec<UserChoice> = tenant
            .users()
            .iter()
            .map(|u| UserChoice {
                upn: u.user_principal_name.clone(),
                display_name: u.display_name.clone(),
                has_password: u.password.is_some(),
                preselected: preselected(u),
            })
            .collect();
        (app_name, users)
    };
    let action = format!("/{}/login", request.tid);
    let pending = PendingAuthorization {
        request,
        signed_in: None,
    };
    lock(&state.store.pending).insert(flow.clone(), pending, now + PENDING_LIFETIME_SECS, now);
    pages::sign_in(&action, &flow, &app_name, &users, error)
}

/// The user is known: check consent (showing its page when needed), then finish.
/// `consent_shown`: the user has just answered the consent page.
fn proceed(
    state: &State,
    request: AuthorizationRequest,
    session: Session,
    consent_shown: bool,
) -> Response {
    let check = match ConsentCheck::run(state, &request, &session) {
        Ok(check) => check,
        Err(e) => return refuse(state, &request, &e),
    };
    if !check.admin_only.is_empty() {
        // `prompt=none` never shows a page, this one neither: the error goes back.
        if request.prompt == Prompt::None {
            let e = AadError::consent_required_silent(&request.client_id, &check.admin_only);
            return refuse(state, &request, &e);
        }
        // A device code ends here too, so that its client stops polling.
        if let Target::Device { device_code } = &request.target {
            set_device_state(state, device_code, DeviceState::Declined);
        }
        return pages::error(&AadError::admin_approval_required(
            &request.client_id,
            &check.admin_only,
        ));
    }
    let must_show = request.prompt == Prompt::Consent && !consent_shown;
    if check.missing.is_empty() && !must_show {
        return finish(state, &request, &session);
    }
    if session::is_auto_user(state, &session) {
        check.grant(state, &request, &session);
        return finish(state, &request, &session);
    }
    if request.prompt == Prompt::None {
        let e = AadError::consent_required_silent(&request.client_id, &check.missing);
        return refuse(state, &request, &e);
    }
    let now = state.now();
    let flow = random_b64(24);
    let action = format!("/{}/consent", request.tid);
    let response = pages::consent(
        &action,
        &flow,
        &check.app_name,
        &check.resource_name,
        &check.asked,
    );
    let pending = PendingAuthorization {
        request,
        signed_in: Some(session),
    };
    lock(&state.store.pending).insert(flow, pending, now + PENDING_LIFETIME_SECS, now);
    response
}

/// Signed in and consented: the code to the redirect URI, or the device code approved.
fn finish(state: &State, request: &AuthorizationRequest, session: &Session) -> Response {
    let now = state.now();
    let approval = Approval {
        tid: request.tid.clone(),
        client_id: request.client_id.clone(),
        user_oid: session.user_oid.clone(),
        scope: request.scope.clone(),
        nonce: request.nonce.clone(),
        sid: session.sid.clone(),
    };
    match &request.target {
        Target::Code { redirect, pkce } => {
            let code = format!("1.{}", random_b64(96));
            let entry = AuthCode {
                approval,
                redirect_uri: redirect.uri.clone(),
                spa: redirect.spa,
                pkce: pkce.clone(),
                expires_at: now + CODE_LIFETIME_SECS,
                redeemed: false,
            };
            let keep_until = now + CODE_LIFETIME_SECS + CODE_MEMORY_SECS;
            lock(&state.store.codes).insert(code.clone(), entry, keep_until, now);
            tracing::info!(client_id = %request.client_id, tenant = %request.tid, "issued authorization code");
            respond::code(redirect, &code, &session.sid)
        }
        Target::Device { device_code } => {
            if !set_device_state(state, device_code, DeviceState::Approved(approval)) {
                return pages::error(&AadError::sign_in_expired());
            }
            pages::device_code_done(&client_name(state, request), true)
        }
    }
}

/// An error for the client: to the redirect URI, or for a device code, declined on a page.
fn refuse(state: &State, request: &AuthorizationRequest, e: &AadError) -> Response {
    match &request.target {
        Target::Code { redirect, .. } => respond::error(redirect, e),
        Target::Device { device_code } => {
            if !set_device_state(state, device_code, DeviceState::Declined) {
                return pages::error(&AadError::sign_in_expired());
            }
            pages::device_code_done(&client_name(state, request), false)
        }
    }
}

/// Record the user's answer on a device code that is still waiting for one: a code entered in
/// two tabs is decided by the first sign-in that finishes, never overwritten.
/// Returns whether it was recorded.
fn set_device_state(state: &State, device_code: &str, new: DeviceState) -> bool {
    let now = state.now();
    let mut devices = lock(&state.store.devices);
    match devices.get_mut(device_code, now) {
        Some(d) if matches!(d.state, DeviceState::Pending) && d.expires_at > now => {
            d.state = new;
            true
        }
        _ => false,
    }
}

fn client_name(state: &State, request: &AuthorizationRequest) -> String {
    let directory = read(&state.directory);
    let app = directory
        .tenant(&request.tid)
        .and_then(|t| t.app(&request.client_id));
    app_name(app, &request.client_id)
}

/// An app's display name, else its client id.
fn app_name(app: Option<&crate::directory::App>, client_id: &str) -> String {
    app.and_then(|a| a.display_name.clone())
        .unwrap_or_else(|| client_id.to_owned())
}
