//! The managed identity endpoints of the emulated Azure host, both tagged
//! [`Endpoint::ManagedIdentity`](crate::Endpoint::ManagedIdentity):
//!
//! * App Service / Container Apps / Functions (`IDENTITY_ENDPOINT`, api-version `2019-08-01`):
//!   `GET /msi/token?resource=R&api-version=2019-08-01[&client_id=|&principal_id=|&mi_res_id=]`
//!   (`object_id=` is taken for `principal_id=`, as azure-identity sends it)
//!   with `X-IDENTITY-HEADER: {IDENTITY_HEADER}`. Errors are App Service's JSON:
//!   `{"statusCode": n, "message": "...", "correlationId": "..."}`.
//! * IMDS (api-version `2018-02-01`):
//!   `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=R[&client_id=|&object_id=|&msi_res_id=]`
//!   with `Metadata: true`. Errors are IMDS's JSON: `{"error": "...", "error_description": "..."}`.
//!
//! Both issue the identity's app-only token for the resource, as the client credentials grant
//! would issue it to the identity's service principal (roles from its assignments, the
//! resource's token version and signing key), with `oid` = the identity's object id,
//! `xms_mirid` = its resource id and `appidacr`/`azpacr` `"2"`, valid for 24 hours.

use axum::extract::{RawQuery, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{MethodRouter, get};
use serde_json::{Value, json};

use super::form::Form;
use super::token::resource_signing_key;
use super::{AadError, Shared, json_response};
use crate::directory::IdentitySelector;
use crate::mint::{ClaimSet, access_token_header, sign_jwt};
use crate::state::{State, read};

/// The App Service protocol's only api-version.
pub(crate) const APP_SERVICE_API_VERSION: &str = "2019-08-01";
/// The IMDS api-version the emulator answers.
pub(crate) const IMDS_API_VERSION: &str = "2018-02-01";
/// How long managed identity tokens live (Azure issues them for 24 hours).
const LIFETIME_SECS: i64 = 24 * 3600;

/// `GET /msi/token`.
pub(crate) fn app_service_route() -> MethodRouter<Shared> {
    get(
        |AxState(state): AxState<Shared>, RawQuery(query): RawQuery, headers: HeaderMap| async move {
            match app_service(&state, query.as_deref(), &headers) {
                Ok(body) => ok(&body),
                Err(e) => e.app_service(),
            }
        },
    )
}

/// `GET /metadata/identity/oauth2/token`.
pub(crate) fn imds_route() -> MethodRouter<Shared> {
    get(
        |AxState(state): AxState<Shared>, RawQuery(query): RawQuery, headers: HeaderMap| async move {
            match imds(&state, query.as_deref(), &headers) {
                Ok(body) => ok(&body),
                Err(e) => e.imds(),
            }
        },
    )
}

/// A refused managed identity token request.
struct Refusal {
    status: StatusCode,
    /// IMDS's `error`.
    error: &'static str,
    /// App Service's `message`, IMDS's `error_description`.
    message: String,
}

impl Refusal {
    fn bad_request(message: impl Into<String>) -> Refusal {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            message: message.into(),
        }
    }

    fn app_service(&self) -> Response {
        let body = json!({
            "statusCode": self.status.as_u16(),
            "message": self.message,
            "correlationId": uuid::Uuid::new_v4().to_string(),
        });
        with_status(json_response(&body, "no-store, no-cache"), self.status)
    }

    fn imds(&self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.message });
        with_status(json_response(&body, "no-store, no-cache"), self.status)
    }
}

fn with_status(mut r: Response, status: StatusCode) -> Response {
    *r.status_mut() = status;
    r
}

fn ok(body: &Value) -> Response {
    json_response(body, "no-store, no-cache")
}

/// The App Service protocol: the identity header (401 when missing or wrong), the api-version,
/// `resource`, at most one selector.
fn app_service(state: &State, query: Option<&str>, headers: &HeaderMap) -> Result<Value, Refusal> {
    let presented = headers
        .get("x-identity-header")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let matches = aws_lc_rs::constant_time::verify_slices_are_equal(
        presented,
        state.identity_header.as_bytes(),
    )
    .is_ok();
    if !matches {
        return Err(Refusal {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_request",
            message: if presented.is_empty() {
                "The X-IDENTITY-HEADER header is required (the value of IDENTITY_HEADER)."
            } else {
                "The X-IDENTITY-HEADER header does not match IDENTITY_HEADER."
            }
            .to_owned(),
        });
    }
    let q = Form::parse(query.unwrap_or_default().as_bytes());
    if q.get("api-version") != Some(APP_SERVICE_API_VERSION) {
        return Err(Refusal::bad_request(format!(
            "Invalid or missing api-version: this endpoint answers api-version={APP_SERVICE_API_VERSION}."
        )));
    }
    let resource = q
        .get("resource")
        .ok_or_else(|| Refusal::bad_request("The 'resource' query parameter is required."))?;
    let selector = selector(&q, APP_SERVICE_SELECTORS)?;
    let issued = issue(state, &selector, resource).map_err(|e| match e {
        IssueError::UnknownIdentity => {
            Refusal::bad_request("Unable to load the proper Managed Identity.")
        }
        IssueError::Aad(e) => aad_refusal(&e),
    })?;
    Ok(json!({
        "access_token": issued.access_token,
        "expires_on": issued.exp.to_string(),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": issued.client_id,
    }))
}

/// The IMDS protocol: `Metadata: true` (400 otherwise), the api-version, `resource`, at most
/// one selector.
fn imds(state: &State, query: Option<&str>, headers: &HeaderMap) -> Result<Value, Refusal> {
    let metadata = headers
        .get("metadata")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if !metadata {
        return Err(Refusal::bad_request(
            "Required metadata header not specified",
        ));
    }
    let q = Form::parse(query.unwrap_or_default().as_bytes());
    match q.get("api-version") {
        Some(IMDS_API_VERSION) => {}
        None => {
            return Err(Refusal::bad_request(
                "Required api-version parameter not specified",
            ));
        }
        Some(_) => {
            return Err(Refusal::bad_request(format!(
                "Invalid api-version: this endpoint answers api-version={IMDS_API_VERSION}."
            )));
        }
    }
    let resource = q
        .get("resource")
        .ok_or_else(|| Refusal::bad_request("Required audience parameter not specified"))?;
    let selector = selector(&q, IMDS_SELECTORS)?;
    let issued = issue(state, &selector, resource).map_err(|e| match e {
        IssueError::UnknownIdentity => Refusal::bad_request("Identity not found"),
        IssueError::Aad(e) => aad_refusal(&e),
    })?;
    let now = state.now();
    Ok(json!({
        "access_token": issued.access_token,
        "refresh_token": "",
        "expires_in": (issued.exp - now).to_string(),
        "expires_on": issued.exp.to_string(),
        "not_before": issued.nbf.to_string(),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": issued.client_id,
    }))
}

/// Entra's error passed through, as both hosts do: `AADSTSnnnnnn: message`.
fn aad_refusal(e: &AadError) -> Refusal {
    Refusal {
        status: e.status,
        error: e.error,
        message: format!("AADSTS{}: {}", e.code, e.message),
    }
}

/// The identity a request names with one of `names` (client id, object id, resource id, in
/// this order); none: the system-assigned identity; more than one: 400.
/// The identity a request names: by client id, object id or resource id, each under the names
/// its protocol (or a client of it) uses; none names the system-assigned identity.
fn selector(q: &Form, names: SelectorNames) -> Result<IdentitySelector, Refusal> {
    let kinds: [(&[&str], SelectorOf); 3] = [
        (names.client_id, IdentitySelector::ClientId),
        (names.object_id, IdentitySelector::ObjectId),
        (names.resource_id, IdentitySelector::ResourceId),
    ];
    let mut given = kinds.iter().flat_map(|(list, make)| {
        list.iter()
            .filter_map(move |n| q.get(n).map(|v| make(v.to_owned())))
    });
    match (given.next(), given.next()) {
        (None, _) => Ok(IdentitySelector::System),
        (Some(one), None) => Ok(one),
        _ => {
            let all = [names.client_id, names.object_id, names.resource_id].concat();
            Err(Refusal::bad_request(format!(
                "Only one of {} may be given.",
                all.join(", ")
            )))
        }
    }
}

/// Makes a selector of one kind from a query value.
type SelectorOf = fn(String) -> IdentitySelector;

/// The query parameter names of each identity selector in one protocol.
#[derive(Clone, Copy)]
struct SelectorNames {
    client_id: &'static [&'static str],
    object_id: &'static [&'static str],
    resource_id: &'static [&'static str],
}

/// App Service documents `principal_id`; azure-identity sends `object_id` for the same thing.
const APP_SERVICE_SELECTORS: SelectorNames = SelectorNames {
    client_id: &["client_id"],
    object_id: &["principal_id", "object_id"],
    resource_id: &["mi_res_id"],
};

/// IMDS's names.
const IMDS_SELECTORS: SelectorNames = SelectorNames {
    client_id: &["client_id"],
    object_id: &["object_id"],
    resource_id: &["msi_res_id"],
};

enum IssueError {
    UnknownIdentity,
    Aad(AadError),
}

struct Issued {
    access_token: String,
    client_id: String,
    nbf: i64,
    exp: i64,
}

/// The identity's app-only token for `resource` (App ID URI or client id).
fn issue(state: &State, selector: &IdentitySelector, resource: &str) -> Result<Issued, IssueError> {
    let directory = read(&state.directory);
    let (tid, identity) = directory
        .managed_identity(selector)
        .ok_or(IssueError::UnknownIdentity)?;
    let tenant = directory.tenant(tid).ok_or(IssueError::UnknownIdentity)?;
    let app = tenant
        .app(identity.client_id())
        .ok_or(IssueError::UnknownIdentity)?;
    let resource_app = tenant
        .resource(resource)
        .ok_or_else(|| IssueError::Aad(AadError::resource_not_found(resource, tid)))?;
    let claims = ClaimSet::app_only(
        tenant,
        tid,
        app,
        "2",
        resource_app,
        state.now(),
        LIFETIME_SECS,
    );
    let key = resource_signing_key(state, tenant, resource_app);
    let header = access_token_header(claims.version, key.kid());
    let access_token = sign_jwt(&header, None, &claims.build(&state.urls), &key);
    tracing::info!(
        client_id = %identity.client_id(),
        tenant = %tid,
        resource = %claims.aud,
        "issued managed identity token"
    );
    Ok(Issued {
        access_token,
        client_id: identity.client_id().to_owned(),
        nbf: claims.nbf,
        exp: claims.exp,
    })
}
