//! The token endpoint, `POST /{tenant}/oauth2/v2.0/token` and `POST /{tenant}/oauth2/token`,
//! as a pipeline:
//!
//! ```text
//! parse the request -> authenticate the client -> grant -> issue
//! (TokenRequest)       (client_auth)               (Grant)  (signed token, Entra's JSON)
//! ```
//!
//! Grants: client credentials (here) at both endpoints; at the v2 endpoint the user grants,
//! which all end in [`user::issue`]: the password grant ([`password`]), the authorization code
//! ([`code`]), the refresh token ([`refresh`]) and the device code ([`device`]); and
//! on-behalf-of ([`obo`]).
//!
//! Each stage returns the first error Entra would answer with, in Entra's order: the method,
//! the tenant and the grant type before the client, the client before the resource.

mod code;
mod device;
mod obo;
mod password;
mod refresh;
mod scopes;
mod tenant;
mod user;

pub(crate) use scopes::Scopes;

use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any};
use serde_json::json;

use super::client_auth::{self, AuthenticatedClient, ClientCredentials};
use super::errors::correlation_id;
use super::form::Form;
use super::{AadError, Shared, json_response, resolve_tenant};
use crate::directory::{App, Tenant, TenantName, TokenVersion};
use crate::faults::log_client;
use crate::keys::SigningKey;
use crate::mint::{ClaimSet, access_token_header, random_between, sign_jwt};
use crate::state::{State, read};

/// The route of the token endpoint of a version (every method: Entra answers AADSTS900561
/// rather than 405).
pub(crate) fn route(version: TokenVersion) -> MethodRouter<Shared> {
    any(
        move |AxState(state): AxState<Shared>,
              Path(tenant): Path<String>,
              method: Method,
              headers: HeaderMap,
              body: Bytes| async move {
            handle(&state, &tenant, &method, &headers, &body, version)
        },
    )
}

/// The pipeline. The request log names the client the request claims to be until it is
/// authenticated, then the authenticated one.
fn handle(
    state: &State,
    tenant: &str,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
    version: TokenVersion,
) -> Response {
    let request = match TokenRequest::parse(state, tenant, method, headers, body) {
        Ok(Some(request)) => request,
        Ok(None) => return StatusCode::NO_CONTENT.into_response(),
        Err(e) => return reject(&e, headers, None),
    };
    if request.grant != GrantType::ClientCredentials {
        if version == TokenVersion::V1 {
            return reject(
                &AadError::unsupported_grant_type(request.grant.as_str()),
                headers,
                None,
            );
        }
        let (client_id, acr) = match user::authenticate(state, &request) {
            Ok(client) => client,
            Err(e) => return reject(&e, headers, request.credentials.client_id),
        };
        let response = match user_grant(state, &request, headers, &client_id, acr) {
            Ok(grant) => grant.issue(state, headers, version),
            Err(e) => reject(&e, headers, None),
        };
        return log_client(response, Some(client_id));
    }
    let client = match client_auth::authenticate(state, &request.tid, &request.credentials) {
        Ok(client) => client,
        Err(e) => return reject(&e, headers, request.credentials.client_id),
    };
    let response = match Grant::client_credentials(state, &request, &client, version) {
        Ok(grant) => grant.issue(state, headers, version),
        Err(e) => reject(&e, headers, None),
    };
    log_client(response, Some(client.client_id))
}

/// The user grants, after the client is authenticated.
fn user_grant(
    state: &State,
    request: &TokenRequest,
    headers: &HeaderMap,
    client_id: &str,
    acr: &'static str,
) -> Result<Grant, AadError> {
    let client_info = request.form.get("client_info") == Some("1");
    match request.grant {
        GrantType::Password => password::grant(state, request, client_id, acr),
        GrantType::AuthorizationCode => {
            let code = code::redeem(state, request, headers, client_id)?;
            user::issue(state, &code.user_grant(acr, client_info))
        }
        GrantType::RefreshToken => {
            let (grant, scope) = refresh::redeem(state, request, headers, client_id)?;
            user::issue(state, &grant.user_grant(&scope, acr, client_info))
        }
        GrantType::DeviceCode => {
            let approval = device::redeem(state, request, client_id)?;
            user::issue(
                state,
                &user::UserGrant::approved(&approval, acr, client_info),
            )
        }
        GrantType::OnBehalfOf => obo::grant(state, request, client_id, acr),
        GrantType::ClientCredentials => Err(AadError::unsupported_grant_type("client_credentials")),
    }
}

/// The grant types the emulator supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GrantType {
    ClientCredentials,
    Password,
    AuthorizationCode,
    RefreshToken,
    DeviceCode,
    /// `urn:ietf:params:oauth:grant-type:jwt-bearer` with `requested_token_use=on_behalf_of`.
    OnBehalfOf,
}

impl GrantType {
    const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
    const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";

    fn parse(grant_type: &str) -> Option<GrantType> {
        Some(match grant_type {
            "client_credentials" => GrantType::ClientCredentials,
            "password" => GrantType::Password,
            "authorization_code" => GrantType::AuthorizationCode,
            "refresh_token" => GrantType::RefreshToken,
            Self::DEVICE_CODE | "device_code" => GrantType::DeviceCode,
            Self::JWT_BEARER => GrantType::OnBehalfOf,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Password => "password",
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::DeviceCode => Self::DEVICE_CODE,
            GrantType::OnBehalfOf => Self::JWT_BEARER,
        }
    }
}

/// The error response, logged with the client the request named, if any.
fn reject(error: &AadError, headers: &HeaderMap, client_id: Option<String>) -> Response {
    tracing::debug!(
        code = error.code,
        error = error.error,
        "token request rejected"
    );
    log_client(error.to_response(headers), client_id)
}

/// A token request that names a grant the emulator supports, for a specific tenant.
struct TokenRequest {
    /// The tenant id, lower-cased, whichever name the path used.
    tid: String,
    credentials: ClientCredentials,
    grant: GrantType,
    /// The whole form, for the grant's own parameters.
    form: Form,
}

impl TokenRequest {
    /// `None` for a CORS preflight (`OPTIONS`).
    fn parse(
        state: &State,
        tenant: &str,
        method: &Method,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Option<TokenRequest>, AadError> {
        if method == Method::OPTIONS {
            return Ok(None);
        }
        if method != Method::POST {
            return Err(AadError::method_not_allowed(method.as_str()));
        }
        let name = resolve_tenant(state, tenant)?;
        let form = Form::parse(body);
        let grant_type = form
            .get("grant_type")
            .ok_or_else(|| AadError::missing_parameter("grant_type"))?;
        let grant = GrantType::parse(grant_type)
            .ok_or_else(|| AadError::unsupported_grant_type(grant_type))?;
        let tid = match name {
            TenantName::Specific { tid, .. } => tid,
            // At `common` / `organizations` a user grant is for the tenant of what it redeems
            // (a code, a refresh token, a device code, a user, an assertion), as in Entra.
            TenantName::Independent(_) => tenant::of_user_grant(state, grant, &form)?,
        };
        Ok(Some(TokenRequest {
            tid,
            credentials: ClientCredentials::from_request(&form, headers),
            grant,
            form,
        }))
    }
}

/// What the grant decided: the claims of the token, the key to sign it with, and what the
/// response names.
struct Grant {
    claims: ClaimSet,
    key: SigningKey,
    /// The resource as the request named it (the v1 response echoes it).
    resource: String,
    /// Seconds.
    lifetime: i64,
    /// The granted scopes, for delegated grants (the response's `scope`).
    scope: Option<String>,
    /// The ID token, when `openid` was asked.
    id_token: Option<String>,
    /// A refresh token, when `offline_access` was asked in a user grant.
    refresh_token: Option<String>,
    /// `client_info`, when `client_info=1` was asked.
    client_info: Option<String>,
}

impl Grant {
    /// The client credentials grant: an app-only token for the resource of `.default` (v2) or
    /// `resource` (v1), carrying the roles assigned to the client.
    fn client_credentials(
        state: &State,
        request: &TokenRequest,
        client: &AuthenticatedClient,
        endpoint: TokenVersion,
    ) -> Result<Grant, AadError> {
        let resource_name = requested_resource(&request.form, endpoint)?;
        let tid = &request.tid;
        let directory = read(&state.directory);
        let tenant = directory
            .tenant(tid)
            .ok_or_else(|| AadError::tenant_not_found(tid))?;
        let client_app = tenant
            .app(&client.client_id)
            .ok_or_else(|| AadError::application_not_found(&client.client_id, tid))?;
        let resource = tenant
            .resource(&resource_name)
            .ok_or_else(|| AadError::resource_not_found(&resource_name, tid))?;
        let lifetime = random_between(3600, 5400) as i64;
        let claims = ClaimSet::app_only(
            tenant,
            tid,
            client_app,
            client.method.acr(),
            resource,
            state.now(),
            lifetime,
        );
        let key = resource_signing_key(state, tenant, resource);
        Ok(Grant {
            claims,
            key,
            resource: resource_name,
            lifetime,
            scope: None,
            id_token: None,
            refresh_token: None,
            client_info: None,
        })
    }

    /// Sign the token and answer in the endpoint's shape (v1 numbers are strings).
    fn issue(self, state: &State, headers: &HeaderMap, endpoint: TokenVersion) -> Response {
        let Grant {
            claims,
            key,
            resource,
            lifetime,
            scope,
            id_token,
            refresh_token,
            client_info,
        } = self;
        let header = access_token_header(claims.version, key.kid());
        let access_token = sign_jwt(&header, None, &claims.build(&state.urls), &key);
        tracing::info!(
            client_id = %claims.client_id,
            tenant = %claims.tid,
            resource = %claims.aud,
            "issued token"
        );
        let now = claims.iat;
        let mut body = match endpoint {
            TokenVersion::V2 => json!({
                "token_type": "Bearer",
                "expires_in": lifetime,
                "ext_expires_in": lifetime,
                "access_token": access_token,
            }),
            TokenVersion::V1 => json!({
                "token_type": "Bearer",
                "expires_in": lifetime.to_string(),
                "ext_expires_in": lifetime.to_string(),
                "expires_on": (now + lifetime).to_string(),
                "not_before": now.to_string(),
                "resource": resource,
                "access_token": access_token,
            }),
        };
        let extra = [
            ("scope", scope),
            ("refresh_token", refresh_token),
            ("id_token", id_token),
            ("client_info", client_info),
        ];
        if let Some(obj) = body.as_object_mut() {
            for (name, value) in extra {
                if let Some(v) = value {
                    obj.insert(name.to_owned(), json!(v));
                }
            }
        }
        let mut resp = json_response(&body, "no-store, no-cache");
        resp.headers_mut()
            .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Ok(v) = HeaderValue::from_str(&correlation_id(headers)) {
            resp.headers_mut().insert("client-request-id", v);
        }
        resp
    }
}

/// A code or refresh token issued to a single-page app is redeemed cross-origin (with an
/// `Origin` header), and only such a one may be (AADSTS9002327, 9002326).
fn check_origin(spa: bool, headers: &HeaderMap) -> Result<(), AadError> {
    match (spa, headers.contains_key(header::ORIGIN)) {
        (true, false) => Err(AadError::spa_requires_cross_origin()),
        (false, true) => Err(AadError::cross_origin_only_for_spa()),
        _ => Ok(()),
    }
}

/// The key tokens for `resource` are signed with: the newest of its app-specific keys when it
/// has some, else the emulator's active key.
pub(crate) fn resource_signing_key(state: &State, tenant: &Tenant, resource: &App) -> SigningKey {
    tenant
        .app_keys(&resource.client_id)
        .last()
        .cloned()
        .unwrap_or_else(|| state.active_key())
}

/// The resource a client credentials request names: `scope={resource}/.default` (exactly one
/// scope) at the v2 endpoint, `resource=` at the v1 endpoint.
fn requested_resource(form: &Form, endpoint: TokenVersion) -> Result<String, AadError> {
    match endpoint {
        TokenVersion::V2 => {
            let scope = form
                .get("scope")
                .ok_or_else(|| AadError::missing_parameter("scope"))?;
            let scopes: Vec<&str> = scope.split_whitespace().collect();
            match scopes.as_slice() {
                [only] => match only.strip_suffix("/.default") {
                    Some(resource) if !resource.is_empty() => Ok(resource.to_owned()),
                    _ => Err(AadError::invalid_scope(scope)),
                },
                _ => Err(AadError::invalid_scope(scope)),
            }
        }
        TokenVersion::V1 => form
            .get("resource")
            .map(str::to_owned)
            .ok_or_else(|| AadError::missing_parameter("resource")),
    }
}
