//! The refresh token grant (`grant_type=refresh_token`): each token is redeemed once and
//! replaced (rotation); a reused token revokes its family; `scope` may narrow the grant or,
//! as Entra's multi-resource refresh tokens do, name another consented resource.

use axum::http::HeaderMap;

use super::TokenRequest;
use crate::http::AadError;
use crate::state::{State, lock};
use crate::store::{Approval, Redeemed, RefreshGrant};

/// Redeem the request's refresh token for `client_id`; returns the grant and the scope to
/// issue for.
pub(super) fn redeem(
    state: &State,
    request: &TokenRequest,
    headers: &HeaderMap,
    client_id: &str,
) -> Result<(RefreshGrant, String), AadError> {
    let form = &request.form;
    let token = form
        .get("refresh_token")
        .ok_or_else(|| AadError::missing_parameter("refresh_token"))?;
    let now = state.now();
    // Bound to the tenant and the client: anyone else gets `invalid_grant` without spending it
    // (and without learning the token's platform from the origin rule).
    let owner = |a: &Approval| a.tid == request.tid && a.client_id.eq_ignore_ascii_case(client_id);
    // A single-page app's refresh token is redeemed cross-origin, and only such a token may
    // be, as its code was; checked before the token is spent.
    let spa = lock(&state.store.refresh)
        .peek(token, now)
        .filter(|g| owner(&g.approval))
        .map(|g| g.spa);
    if let Some(spa) = spa {
        super::check_origin(spa, headers)?;
    }
    let grant = match lock(&state.store.refresh).redeem(token, now, owner) {
        Redeemed::Valid(grant) => grant,
        Redeemed::Reused | Redeemed::Invalid => return Err(AadError::invalid_grant()),
        Redeemed::Expired { spa: true } => return Err(AadError::spa_refresh_token_expired()),
        Redeemed::Expired { spa: false } => return Err(AadError::expired_grant()),
    };
    let a = &grant.approval;
    // Like Entra's, the refresh token is multi-resource: `scope` may narrow the grant or name
    // another resource; consent decides what is issued, when the tokens are made. The grant
    // always rotates (the old token is spent), so `offline_access` is implied.
    let mut scope = form.get("scope").unwrap_or(&a.scope).to_owned();
    if !scope
        .split_whitespace()
        .any(|s| s.eq_ignore_ascii_case("offline_access"))
    {
        scope.push_str(" offline_access");
    }
    Ok((grant, scope))
}
