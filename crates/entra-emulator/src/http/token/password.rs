//! The resource owner password credentials grant (ROPC, `grant_type=password`) at the v2 token
//! endpoint: a delegated access token for a directory user, and an ID token when `openid` was
//! asked. No refresh token (refresh tokens come later, with the refresh grant).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use super::{Grant, TokenRequest};
use crate::directory::UserKind;
use crate::http::AadError;
use crate::http::client_auth::{self, ClientCredentials};
use crate::mint::{ClaimSet, Delegation, id_token_claims, now_unix, random_between, sign_id_token};
use crate::state::{State, read};

/// Scopes that are OpenID Connect's, not a resource's.
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// The client of a password grant: a confidential client authenticates as for client
/// credentials; a public client (no secret, no certificate) sends only its `client_id`.
/// Returns the client id and its `azpacr`/`appidacr`.
pub(super) fn authenticate(
    state: &State,
    tid: &str,
    credentials: &ClientCredentials,
) -> Result<(String, &'static str), AadError> {
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

/// The scopes of a password grant request: the resource as named and its scope values (a
/// `.default` scope is expanded to what the client requests on the resource later), and
/// whether `openid` was asked.
struct Scopes {
    resource: String,
    values: Vec<String>,
    openid: bool,
}

fn parse_scopes(scope: &str) -> Result<Scopes, AadError> {
    let mut resource: Option<&str> = None;
    let mut values = Vec::new();
    let mut openid = false;
    for s in scope.split_whitespace() {
        if OIDC_SCOPES.iter().any(|o| o.eq_ignore_ascii_case(s)) {
            openid |= s.eq_ignore_ascii_case("openid");
            continue;
        }
        let Some((r, v)) = s
            .rsplit_once('/')
            .filter(|(r, v)| !r.is_empty() && !v.is_empty())
        else {
            return Err(AadError::invalid_scope(scope));
        };
        match resource {
            Some(prev) if prev != r => return Err(AadError::invalid_scope(scope)),
            _ => resource = Some(r),
        }
        values.push(v.to_owned());
    }
    let resource = resource.ok_or_else(|| AadError::invalid_scope(scope))?;
    Ok(Scopes {
        resource: resource.to_owned(),
        values,
        openid,
    })
}

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
    let scopes = parse_scopes(scope)?;
    let tid = &request.tid;
    let directory = read(&state.directory);
    let tenant = directory
        .tenant(tid)
        .ok_or_else(|| AadError::tenant_not_found(tid))?;
    let client = tenant
        .app(client_id)
        .ok_or_else(|| AadError::application_not_found(client_id, tid))?;
    let resource = tenant
        .resource(&scopes.resource)
        .ok_or_else(|| AadError::resource_not_found(&scopes.resource, tid))?;
    let user = tenant
        .user(username)
        .ok_or_else(|| AadError::user_not_found(tid))?;
    let password_ok = user
        .password
        .as_ref()
        .zip(password)
        .is_some_and(|(p, given)| p.matches(given));
    if user.kind != UserKind::Member || !password_ok {
        return Err(AadError::invalid_username_or_password());
    }
    let values: Vec<String> = if scopes.values.iter().any(|v| v == ".default") {
        client
            .requested_permissions()
            .iter()
            .filter(|p| resource.matches_resource(&p.resource))
            .flat_map(|p| p.scopes.iter().cloned())
            .collect()
    } else {
        scopes.values.clone()
    };
    let asked: Vec<&str> = values.iter().map(String::as_str).collect();
    let oid = user.object_id.to_ascii_lowercase();
    let missing = tenant.missing_consent(Some(&oid), client_id, &resource.client_id, &asked);
    if !missing.is_empty() || values.is_empty() {
        return Err(AadError::consent_required(client_id, &missing));
    }
    let lifetime = random_between(3600, 5400) as i64;
    let now = now_unix();
    let delegation = Delegation {
        tid,
        client_id,
        client_acr,
        resource,
        user,
        scopes: &values,
        groups: false,
    };
    let claims = ClaimSet::delegated(&delegation, now, lifetime);
    let id_token = scopes.openid.then(|| {
        let c = id_token_claims(state, tid, client_id, user, None, now, lifetime);
        sign_id_token(state, &c)
    });
    let client_info = (form.get("client_info") == Some("1"))
        .then(|| URL_SAFE_NO_PAD.encode(json!({ "uid": user.object_id, "utid": tid }).to_string()));
    let key = tenant
        .app_keys(&resource.client_id)
        .last()
        .cloned()
        .unwrap_or_else(|| state.active_key());
    let granted: Vec<String> = values
        .iter()
        .map(|v| format!("{}/{v}", scopes.resource))
        .collect();
    Ok(Grant {
        claims,
        key,
        resource: scopes.resource,
        lifetime,
        scope: Some(granted.join(" ")),
        id_token,
        client_info,
    })
}
