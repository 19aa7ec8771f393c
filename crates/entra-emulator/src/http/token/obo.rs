//! On-behalf-of (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`,
//! `requested_token_use=on_behalf_of`): a middle-tier API trades the user's access token it
//! received (`assertion`, whose `aud` is the middle tier) for a token to a downstream API. The
//! new token keeps the user; its `scp` comes from the middle tier's consent on the downstream
//! API. AADSTS50013 for an assertion that is not a live, emulator-signed user token for the
//! calling app; AADSTS65001 when consent is missing.

use serde_json::Value;

use super::user::{self, UserGrant};
use super::{Grant, TokenRequest};
use crate::http::{AadError, bearer};
use crate::state::{State, read};

/// The on-behalf-of grant for an authenticated confidential client.
pub(super) fn grant(
    state: &State,
    request: &TokenRequest,
    client_id: &str,
    client_acr: &'static str,
) -> Result<Grant, AadError> {
    let form = &request.form;
    if client_acr == "0" {
        return Err(AadError::no_credential());
    }
    if form.get("requested_token_use") != Some("on_behalf_of") {
        return Err(AadError::missing_parameter("requested_token_use"));
    }
    let assertion = form
        .get("assertion")
        .ok_or_else(|| AadError::missing_parameter("assertion"))?;
    let scope = form
        .get("scope")
        .ok_or_else(|| AadError::missing_parameter("scope"))?;
    let user_oid = verify_assertion(state, &request.tid, client_id, assertion)?;
    user::issue(
        state,
        &UserGrant {
            tid: &request.tid,
            client_id,
            client_acr,
            user: &user_oid,
            scope,
            nonce: None,
            sid: None,
            client_info: form.get("client_info") == Some("1"),
            family: None,
            spa: false,
        },
    )
}

/// The user's object id, when `assertion` is an access token this emulator signed, live, for
/// the calling app (`aud` its client id or App ID URI), of this tenant, and delegated (a user
/// token with `scp`).
fn verify_assertion(
    state: &State,
    tid: &str,
    client_id: &str,
    assertion: &str,
) -> Result<String, AadError> {
    let bad = AadError::invalid_obo_assertion;
    let claims = bearer::verify(state, assertion).map_err(bad)?;
    let str_claim = |name: &str| claims.get(name).and_then(Value::as_str);
    if !str_claim("tid").is_some_and(|t| t.eq_ignore_ascii_case(tid)) {
        return Err(bad("the assertion is from another tenant"));
    }
    let aud = str_claim("aud").unwrap_or_default();
    let for_caller = read(&state.directory)
        .tenant(tid)
        .and_then(|t| t.app(client_id))
        .is_some_and(|app| app.matches_resource(aud));
    if !for_caller {
        return Err(bad(
            "the assertion's audience is not the calling application",
        ));
    }
    if str_claim("scp").is_none() {
        return Err(bad("the assertion is not a delegated user token"));
    }
    str_claim("oid")
        .map(str::to_owned)
        .ok_or_else(|| bad("the assertion has no oid"))
}
