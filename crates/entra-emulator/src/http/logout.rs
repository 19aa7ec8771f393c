//! `GET|POST /{tenant}/oauth2/v2.0/logout` (and v1's `/{tenant}/oauth2/logout`): ends the
//! browser's session and returns to `post_logout_redirect_uri` when the tenant's apps
//! registered it, with `state`; otherwise a page says the user signed out.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use axum::routing::{MethodRouter, get};

use super::authorize::{clear_cookie, session_cookie};
use super::form::{Form, encode_query_value};
use super::{Shared, found, pages, resolve_tenant};
use crate::directory::{Platform, TenantName};
use crate::state::{State, lock, read};

/// The end-session route: the parameters in the query (GET), or form-encoded in the body
/// (POST, as OpenID Connect RP-Initiated Logout allows; a POST's query counts when its body
/// has none).
pub(crate) fn route() -> MethodRouter<Shared> {
    let handle = |AxState(state): AxState<Shared>,
                  Path(tenant): Path<String>,
                  method: Method,
                  RawQuery(query): RawQuery,
                  headers: HeaderMap,
                  body: Bytes| async move {
        let query = query.unwrap_or_default();
        let params = if method == Method::POST && !body.is_empty() {
            Form::parse(&body)
        } else {
            Form::parse(query.as_bytes())
        };
        clear_cookie(logout(&state, &tenant, &params, &headers), &state)
    };
    get(handle).post(handle)
}

fn logout(state: &State, tenant: &str, params: &Form, headers: &HeaderMap) -> Response {
    if let Some(id) = session_cookie(headers) {
        let now = state.now();
        lock(&state.store.sessions).take(&id, now);
    }
    let target = params
        .get("post_logout_redirect_uri")
        .filter(|uri| registered(state, tenant, uri));
    let Some(uri) = target else {
        return pages::signed_out();
    };
    let location = match params.get("state") {
        Some(s) => {
            let sep = if uri.contains('?') { '&' } else { '?' };
            format!("{uri}{sep}state={}", encode_query_value(s))
        }
        None => uri.to_owned(),
    };
    found(&location)
}

/// Is `uri` a redirect URI an app of the tenant registered (on any platform)?
fn registered(state: &State, tenant: &str, uri: &str) -> bool {
    let tids: Vec<String> = match resolve_tenant(state, tenant) {
        Ok(TenantName::Specific { tid, .. }) => vec![tid],
        Ok(TenantName::Independent(_)) => read(&state.directory)
            .tenants()
            .map(|(tid, _)| tid.to_owned())
            .collect(),
        Err(_) => return false,
    };
    let directory = read(&state.directory);
    tids.iter()
        .filter_map(|tid| directory.tenant(tid))
        .any(|t| {
            t.apps().any(|app| {
                [Platform::Web, Platform::Spa, Platform::PublicClient]
                    .into_iter()
                    .any(|p| app.redirect_uris(p).contains(&uri))
            })
        })
}
