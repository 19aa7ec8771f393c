//! Tokens for a signed-in user, whichever grant proved who they are (password, authorization
//! code, refresh token, device code, on-behalf-of): the delegated access token, the ID token
//! when `openid` was asked, a refresh token when `offline_access` was asked, `client_info`.
//!
//! Every user grant ends here, so consent, scopes and the response are decided once.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use super::scopes::Scopes;
use super::{Grant, TokenRequest};
use crate::http::AadError;
use crate::http::client_auth;
use crate::mint::{
    ClaimSet, Delegation, IdTokenSession, id_token_claims, random_b64, random_between,
    sign_id_token,
};
use crate::state::{State, lock, read};
use crate::store::{Approval, RefreshGrant};

/// How long a refresh token lasts: 90 days, or 24 hours when issued to a single-page app.
const REFRESH_LIFETIME_SECS: i64 = 90 * 24 * 3600;
const SPA_REFRESH_LIFETIME_SECS: i64 = 24 * 3600;

/// What a user grant established, for [`issue`].
pub(super) struct UserGrant<'a> {
    pub(super) tid: &'a str,
    pub(super) client_id: &'a str,
    /// `"0"` public client, `"1"` secret, `"2"` certificate.
    pub(super) client_acr: &'static str,
    /// The user's object id or UPN.
    pub(super) user: &'a str,
    /// The `scope` to issue for.
    pub(super) scope: &'a str,
    pub(super) nonce: Option<&'a str>,
    /// The sign-in session, when the user signed in interactively.
    pub(super) sid: Option<&'a str>,
    /// `client_info=1` was asked.
    pub(super) client_info: bool,
    /// The refresh token family to continue (a refresh), else a new one.
    pub(super) family: Option<String>,
    /// Issued through a spa redirect URI (shorter refresh tokens).
    pub(super) spa: bool,
}

/// The client of a user grant: a confidential client authenticates as for client
/// credentials; a public client (no secret, no certificate) sends only its `client_id`.
/// Returns the client id and its `azpacr`/`appidacr`.
pub(super) fn authenticate(
    state: &State,
    request: &TokenRequest,
) -> Result<(String, &'static str), AadError> {
    let credentials = &request.credentials;
    let tid = &request.tid;
    if credentials.presents_credential() {
        let client = client_auth::authenticate(state, tid, credentials)?;
        return Ok((client.client_id, client.method.acr()));
    }
    let Some(client_id) = &credentials.client_id else {
        return Err(AadError::missing_parameter("client_id"));
    };
    let directory = read(&state.directory);
    let app = directory
        .tenant(tid)
        .and_then(|t| t.app(client_id))
        .ok_or_else(|| AadError::application_not_found(client_id, tid))?;
    if !app.secrets.is_empty() || !app.certificates.is_empty() {
        return Err(AadError::no_credential());
    }
    Ok((client_id.clone(), "0"))
}

impl<'a> UserGrant<'a> {
    /// The tokens a user's approval (a device code's) stands for.
    pub(super) fn approved(
        a: &'a Approval,
        client_acr: &'static str,
        client_info: bool,
    ) -> UserGrant<'a> {
        UserGrant {
            tid: &a.tid,
            client_id: &a.client_id,
            client_acr,
            user: &a.user_oid,
            scope: &a.scope,
            nonce: a.nonce.as_deref(),
            sid: Some(&a.sid),
            client_info,
            family: None,
            spa: false,
        }
    }
}

impl RefreshGrant {
    /// The tokens a redeemed refresh token stands for, for `scope`; the new refresh token
    /// continues its family.
    pub(super) fn user_grant<'a>(
        &'a self,
        scope: &'a str,
        client_acr: &'static str,
        client_info: bool,
    ) -> UserGrant<'a> {
        UserGrant {
            scope,
            family: Some(self.family.clone()),
            spa: self.spa,
            ..UserGrant::approved(&self.approval, client_acr, client_info)
        }
    }
}

/// Check consent and issue the tokens of a user grant.
pub(super) fn issue(state: &State, g: &UserGrant<'_>) -> Result<Grant, AadError> {
    let scopes = Scopes::parse(g.scope)?;
    let tid = g.tid;
    let now = state.now();
    let directory = read(&state.directory);
    let tenant = directory
        .tenant(tid)
        .ok_or_else(|| AadError::tenant_not_found(tid))?;
    let client = tenant
        .app(g.client_id)
        .ok_or_else(|| AadError::application_not_found(g.client_id, tid))?;
    let resource = tenant
        .resource(&scopes.resource)
        .ok_or_else(|| AadError::resource_not_found(&scopes.resource, tid))?;
    let user = tenant
        .user(g.user)
        .ok_or_else(|| AadError::user_not_found(tid))?;
    let values = scopes.grantable(client, resource, g.scope)?;
    let asked: Vec<&str> = values.iter().map(String::as_str).collect();
    let oid = user.object_id.to_ascii_lowercase();
    let missing = tenant.missing_consent(Some(&oid), g.client_id, &resource.client_id, &asked);
    if !missing.is_empty() {
        return Err(AadError::consent_required(g.client_id, &missing));
    }
    let lifetime = random_between(3600, 5400) as i64;
    let delegation = Delegation {
        tid,
        client_id: g.client_id,
        client_acr: g.client_acr,
        resource,
        user,
        scopes: &values,
        groups: resource.groups_claim,
    };
    let claims = ClaimSet::delegated(&delegation, now, lifetime);
    // A grant without a browser session gets a session id once, kept by its refresh tokens.
    let sid = g
        .sid
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let id_token = scopes.openid.then(|| {
        let session = IdTokenSession {
            nonce: g.nonce,
            sid: Some(&sid),
            email: scopes.email,
        };
        let c = id_token_claims(state, tid, g.client_id, user, &session, now, 3600);
        sign_id_token(state, &c)
    });
    let client_info = g
        .client_info
        .then(|| URL_SAFE_NO_PAD.encode(json!({ "uid": user.object_id, "utid": tid }).to_string()));
    let key = super::resource_signing_key(state, tenant, resource);
    let granted: Vec<String> = values
        .iter()
        .map(|v| format!("{}/{v}", scopes.resource))
        .collect();
    let mut scope = granted.join(" ");
    let refresh_token = scopes.offline_access.then(|| {
        scope.push_str(" offline_access");
        let token = format!("1.{}", random_b64(96));
        let approval = Approval {
            tid: tid.to_owned(),
            client_id: g.client_id.to_ascii_lowercase(),
            user_oid: oid.clone(),
            scope: g.scope.to_owned(),
            nonce: None,
            sid,
        };
        let family = g.family.clone().unwrap_or_else(|| random_b64(16));
        let life = if g.spa {
            SPA_REFRESH_LIFETIME_SECS
        } else {
            REFRESH_LIFETIME_SECS
        };
        lock(&state.store.refresh).insert(token.clone(), approval, family, g.spa, now + life, now);
        token
    });
    Ok(Grant {
        claims,
        key,
        resource: scopes.resource,
        lifetime,
        scope: Some(scope),
        id_token,
        refresh_token,
        client_info,
    })
}
