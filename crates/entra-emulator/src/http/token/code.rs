//! The authorization code grant (`grant_type=authorization_code`): the code is single-use,
//! short-lived, and bound to the client, the redirect URI and the PKCE challenge; a spa
//! redirect URI's code must be redeemed cross-origin, and only such a code may be.

use axum::http::HeaderMap;

use super::TokenRequest;
use super::user::UserGrant;
use crate::http::AadError;
use crate::state::{State, lock};
use crate::store::AuthCode;

/// Redeem the request's code for `client_id`: the user grant it stands for.
pub(super) fn redeem(
    state: &State,
    request: &TokenRequest,
    headers: &HeaderMap,
    client_id: &str,
) -> Result<AuthCode, AadError> {
    let form = &request.form;
    let code = form
        .get("code")
        .ok_or_else(|| AadError::missing_parameter("code"))?;
    let redirect_uri = form
        .get("redirect_uri")
        .ok_or_else(|| AadError::missing_parameter("redirect_uri"))?;
    let now = state.now();
    let issued = {
        let mut codes = lock(&state.store.codes);
        let entry = codes
            .get_mut(code, now)
            .ok_or_else(AadError::invalid_grant)?;
        if entry.redeemed {
            return Err(AadError::code_already_redeemed());
        }
        if entry.expires_at <= now {
            return Err(AadError::expired_grant());
        }
        if entry.approval.tid != request.tid
            || !entry.approval.client_id.eq_ignore_ascii_case(client_id)
        {
            return Err(AadError::code_client_mismatch());
        }
        // From here on the code is spent, whatever the rest of the request says (a wrong
        // verifier must not leave the code open to guesses).
        entry.redeemed = true;
        entry.clone()
    };
    if issued.redirect_uri != redirect_uri {
        return Err(AadError::code_redirect_mismatch());
    }
    super::check_origin(issued.spa, headers)?;
    let verifier = form.get("code_verifier");
    match (&issued.pkce, verifier) {
        (Some(pkce), v) if !pkce.verifies(v.unwrap_or_default()) => {
            return Err(AadError::pkce_mismatch());
        }
        // A verifier for a code that had no challenge: a downgrade attempt (RFC 9700 2.1.1).
        (None, Some(_)) => return Err(AadError::pkce_mismatch()),
        _ => {}
    }
    Ok(issued)
}

impl AuthCode {
    /// The tokens the code stands for.
    pub(super) fn user_grant(&self, client_acr: &'static str, client_info: bool) -> UserGrant<'_> {
        UserGrant {
            spa: self.spa,
            ..UserGrant::approved(&self.approval, client_acr, client_info)
        }
    }
}
