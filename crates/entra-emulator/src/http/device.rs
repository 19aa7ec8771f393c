//! Device authorization (RFC 8628): `POST /{tenant}/oauth2/v2.0/devicecode` gives a client a
//! device code to poll with and a user code; the user enters it on `/devicelogin` and signs in
//! on the usual pages. The token endpoint's device code grant answers the polls.

use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get};
use serde_json::json;

use super::authorize::{AuthorizationRequest, Prompt, Target, begin};
use super::form::Form;
use super::token::Scopes;
use super::{AadError, Shared, client_tenant, json_response, pages};
use crate::mint::random_b64;
use crate::state::{State, lock, read};
use crate::store::{DeviceCode, DeviceState};
use crate::urls::DEVICE_LOGIN;

/// How long a device code lives, and the polling interval (Entra's: 15 minutes, 5 seconds).
const DEVICE_CODE_LIFETIME_SECS: i64 = 900;
const POLL_INTERVAL_SECS: i64 = 5;

/// The letters of a user code: no vowels or look-alikes, so a code is never a word and
/// reads back unambiguously.
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ23456789";

/// `POST /{tenant}/oauth2/v2.0/devicecode`.
pub(crate) fn route() -> MethodRouter<Shared> {
    any(
        |AxState(state): AxState<Shared>,
         Path(tenant): Path<String>,
         method: Method,
         headers: HeaderMap,
         body: Bytes| async move {
            if method == Method::OPTIONS {
                return StatusCode::NO_CONTENT.into_response();
            }
            if method != Method::POST {
                return AadError::method_not_allowed(method.as_str()).to_response(&headers);
            }
            match start(&state, &tenant, &Form::parse(&body)) {
                Ok(r) => r,
                Err(e) => e.to_response(&headers),
            }
        },
    )
}

fn start(state: &State, tenant: &str, form: &Form) -> Result<Response, AadError> {
    let client_id = form
        .get("client_id")
        .ok_or_else(|| AadError::missing_parameter("client_id"))?;
    let scope = form
        .get("scope")
        .ok_or_else(|| AadError::missing_parameter("scope"))?;
    let scopes = Scopes::parse(scope)?;
    // The tenant first: it takes the directory lock itself (never nest two read locks: a
    // waiting writer in between would deadlock).
    let tid = client_tenant(state, tenant, client_id)?;
    {
        let directory = read(&state.directory);
        let tenant = directory
            .tenant(&tid)
            .ok_or_else(|| AadError::tenant_not_found(&tid))?;
        let client = tenant
            .app(client_id)
            .ok_or_else(|| AadError::application_not_found(client_id, &tid))?;
        // What the sign-in could never grant is refused now: otherwise the user would sign in
        // for nothing and the client poll into `authorization_declined`.
        let resource = tenant
            .resource(&scopes.resource)
            .ok_or_else(|| AadError::resource_not_found(&scopes.resource, &tid))?;
        scopes.grantable(client, resource, scope)?;
    }
    let now = state.now();
    let device_code = random_b64(48);
    let user_code = user_code();
    let code = DeviceCode {
        tid,
        client_id: client_id.to_ascii_lowercase(),
        scope: scope.to_owned(),
        user_code: user_code.clone(),
        interval: POLL_INTERVAL_SECS,
        last_poll: None,
        expires_at: now + DEVICE_CODE_LIFETIME_SECS,
        state: DeviceState::Pending,
    };
    lock(&state.store.devices).insert(device_code.clone(), code, now);
    let uri = format!("{}{DEVICE_LOGIN}", state.urls.base());
    let body = json!({
        "user_code": user_code,
        "device_code": device_code,
        "verification_uri": uri,
        "expires_in": DEVICE_CODE_LIFETIME_SECS,
        "interval": POLL_INTERVAL_SECS,
        "message": format!(
            "To sign in, use a web browser to open the page {uri} and enter the code {user_code} \
             to authenticate."
        ),
    });
    Ok(json_response(&body, "no-store, no-cache"))
}

/// Nine characters from [`USER_CODE_ALPHABET`].
fn user_code() -> String {
    let mut bytes = [0u8; 9];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        // Never in practice; a code from a UUID's bytes is still unpredictable enough.
        bytes.copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..9]);
    }
    bytes
        .iter()
        .map(|b| USER_CODE_ALPHABET[usize::from(*b) % USER_CODE_ALPHABET.len()] as char)
        .collect()
}

/// `GET /devicelogin` (the code entry page) and `POST /devicelogin` (`otc` = the user code).
pub(crate) fn login_route() -> MethodRouter<Shared> {
    get(|| async { pages::device_code_entry(DEVICE_LOGIN, None) }).post(
        |AxState(state): AxState<Shared>, headers: HeaderMap, body: Bytes| async move {
            enter_code(&state, &headers, &Form::parse(&body))
        },
    )
}

fn enter_code(state: &State, headers: &HeaderMap, form: &Form) -> Response {
    let now = state.now();
    let typed = form.get("otc").unwrap_or_default();
    let found = lock(&state.store.devices).pending_by_user_code(typed, now);
    let Some((device_code, code)) = found else {
        return pages::device_code_entry(
            DEVICE_LOGIN,
            Some("That code didn't work. Check the code and try again."),
        );
    };
    let request = AuthorizationRequest {
        tid: code.tid,
        client_id: code.client_id,
        scope: code.scope,
        nonce: None,
        login_hint: None,
        prompt: Prompt::SelectAccount,
        target: Target::Device { device_code },
    };
    begin(state, request, headers)
}
