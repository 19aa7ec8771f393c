//! The OpenID Connect discovery documents, v2 (`/{tenant}/v2.0/.well-known/openid-configuration`)
//! and v1 (`/{tenant}/.well-known/openid-configuration`), with the fields of Entra's.
//!
//! Every endpoint a document names is served: the v1 document has no authorization endpoint
//! (the emulator's user flows are v2), no Kerberos endpoint and no session-check iframe.
//!
//! Under a domain name the `issuer` carries the tenant id while the endpoint URLs keep the
//! domain as the caller wrote it; under `common` and `organizations` the issuer is the
//! `{tenantid}` template and `tenant_region_scope` is `null`, as in Entra.

use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::HeaderMap;
use axum::routing::{MethodRouter, get};
use serde_json::{Value, json};

use super::form::{encode_query_value, query_param};
use super::{Shared, json_response, resolve_tenant};
use crate::directory::{TenantName, TokenVersion};
use crate::state::State;
use crate::urls::{self, TENANT_ID_PLACEHOLDER};

/// The route of the discovery document of a version.
pub(crate) fn route(version: TokenVersion) -> MethodRouter<Shared> {
    get(
        move |AxState(state): AxState<Shared>,
              Path(tenant): Path<String>,
              RawQuery(query): RawQuery,
              headers: HeaderMap| async move {
            match document(&state, &tenant, query.as_deref(), version) {
                Ok(doc) => json_response(&doc, "max-age=86400, private"),
                Err(e) => e.to_response(&headers),
            }
        },
    )
}

/// The discovery document of a version for the tenant named `tenant`. An `appid` query
/// parameter is passed on to `jwks_uri`.
fn document(
    state: &State,
    tenant: &str,
    query: Option<&str>,
    version: TokenVersion,
) -> Result<Value, super::AadError> {
    let (segment, tid, region) = match resolve_tenant(state, tenant)? {
        TenantName::Specific { tid, segment } => (segment, tid, json!("NA")),
        TenantName::Independent(name) => (name, TENANT_ID_PLACEHOLDER.to_owned(), Value::Null),
    };
    let u = &state.urls;
    let at = |path: urls::TenantPath| u.at(path, &segment);
    let appid = query_param(query, "appid")
        .map(|a| format!("?appid={}", encode_query_value(&a)))
        .unwrap_or_default();
    let mut doc = json!({
        "token_endpoint": at(urls::token(version)),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{}{appid}", at(urls::keys(version))),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "issuer": u.issuer(version, &tid),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": at(urls::logout(version)),
        "tenant_region_scope": region,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    });
    let specific = match version {
        TokenVersion::V2 => json!({
            "response_types_supported": ["code"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "request_uri_parameter_supported": false,
            "userinfo_endpoint": u.userinfo_v2(),
            "authorization_endpoint": at(urls::AUTHORIZE_V2),
            "device_authorization_endpoint": at(urls::DEVICE_CODE_V2),
            "claims_supported": [
                "sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
                "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr",
                "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"
            ],
        }),
        TokenVersion::V1 => json!({
            "response_types_supported": ["code"],
            "scopes_supported": ["openid"],
            "microsoft_multi_refresh_token": true,
            "userinfo_endpoint": at(urls::USERINFO_V1),
            "claims_supported": [
                "sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
                "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr",
                "amr", "nonce", "email", "given_name", "family_name", "nickname"
            ],
        }),
    };
    if let (Some(doc), Value::Object(specific)) = (doc.as_object_mut(), specific) {
        doc.extend(specific);
    }
    Ok(doc)
}
