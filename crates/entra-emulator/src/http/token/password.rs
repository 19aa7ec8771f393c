//! The resource owner password credentials grant (ROPC, `grant_type=password`) at the v2 token
//! endpoint: the user's password is checked, then the tokens are those of any user grant
//! (a refresh token when `offline_access` is asked, an ID token when `openid` is).

use super::user::{self, UserGrant};
use super::{Grant, TokenRequest};
use crate::directory::UserKind;
use crate::http::AadError;
use crate::state::{State, read};

/// The password grant for an authenticated (or public) client.
pub(super) fn grant(
    state: &State,
    request: &TokenRequest,
    client_id: &str,
    client_acr: &'static str,
) -> Result<Grant, AadError> {
    let form = &request.form;
    let username = form
        .get("username")
        .ok_or_else(|| AadError::missing_parameter("username"))?;
    let password = form.get("password");
    let scope = form
        .get("scope")
        .ok_or_else(|| AadError::missing_parameter("scope"))?;
    let oid = {
        let tid = &request.tid;
        let directory = read(&state.directory);
        let tenant = directory
            .tenant(tid)
            .ok_or_else(|| AadError::tenant_not_found(tid))?;
        let user = tenant
            .user(username)
            .ok_or_else(|| AadError::user_not_found(tid))?;
        let password_ok = user
            .password
            .as_ref()
            .zip(password)
            .is_some_and(|(p, given)| p.matches(given));
        // Entra refuses ROPC for federated and personal (MSA-like) accounts outright.
        if user.kind != UserKind::Member || !password_ok {
            return Err(AadError::invalid_username_or_password());
        }
        user.object_id.clone()
    };
    user::issue(
        state,
        &UserGrant {
            tid: &request.tid,
            client_id,
            client_acr,
            user: &oid,
            scope,
            nonce: None,
            sid: None,
            client_info: form.get("client_info") == Some("1"),
            family: None,
            spa: false,
        },
    )
}
