//! Entra-shaped OAuth error responses (`AADSTSnnnnnn`): every code the emulator answers with
//! is made here, one constructor each.
//!
//! The body is Entra's JSON (`error`, `error_description` = `AADSTSnnnnnn: message\r\nTrace
//! ID: ..\r\nCorrelation ID: ..\r\nTimestamp: ..`, `error_codes`, `timestamp`, `trace_id`,
//! `correlation_id`, `error_uri`); the correlation id echoes the `client-request-id` header.
//! The table of codes, with when each is answered, is in the crate README ("Token endpoint
//! errors"): a code added or changed here goes there too.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

mod user_flows;

/// An error the token or metadata endpoints answer with.
#[derive(Debug, Clone)]
pub(crate) struct AadError {
    pub(crate) status: StatusCode,
    pub(crate) error: &'static str,
    pub(crate) code: u32,
    pub(crate) message: String,
}

impl AadError {
    fn new(status: StatusCode, error: &'static str, code: u32, message: String) -> AadError {
        AadError {
            status,
            error,
            code,
            message,
        }
    }

    fn bad_request(error: &'static str, code: u32, message: String) -> AadError {
        AadError::new(StatusCode::BAD_REQUEST, error, code, message)
    }

    fn invalid_client(code: u32, message: String) -> AadError {
        AadError::new(StatusCode::UNAUTHORIZED, "invalid_client", code, message)
    }

    pub(crate) fn missing_parameter(name: &str) -> AadError {
        AadError::bad_request(
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    }

    pub(crate) fn method_not_allowed(method: &str) -> AadError {
        AadError::bad_request(
            "invalid_request",
            900561,
            format!(
                "The endpoint only accepts POST, OPTIONS requests. Received a {method} request."
            ),
        )
    }

    pub(crate) fn unsupported_grant_type(grant_type: &str) -> AadError {
        AadError::bad_request(
            "unsupported_grant_type",
            70003,
            format!(
                "The app requested an unsupported grant type '{}'.",
                sanitize(grant_type)
            ),
        )
    }

    pub(crate) fn tenant_not_found(tenant: &str) -> AadError {
        AadError::bad_request(
            "invalid_request",
            90002,
            format!(
                "Tenant '{}' not found. Check to make sure you have the correct tenant ID and are \
                 signing into the correct cloud. Check with your subscription administrator, this \
                 may happen if there are no active subscriptions for the tenant.",
                sanitize(tenant)
            ),
        )
    }

    pub(crate) fn no_tenant_information() -> AadError {
        AadError::bad_request(
            "invalid_request",
            50059,
            "No tenant-identifying information found in either the request or implied by any \
             provided credentials."
                .to_owned(),
        )
    }

    pub(crate) fn application_not_found(client_id: &str, tenant: &str) -> AadError {
        AadError::bad_request(
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{}' was not found in the directory '{}'. This can \
                 happen if the application has not been installed by the administrator of the \
                 tenant or consented to by any user in the tenant. You may have sent your \
                 authentication request to the wrong tenant.",
                sanitize(client_id),
                sanitize(tenant)
            ),
        )
    }

    pub(crate) fn invalid_secret(client_id: &str) -> AadError {
        AadError::invalid_client(
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is \
                 the client secret value, not the client secret ID, for a secret added to app \
                 '{}'.",
                sanitize(client_id)
            ),
        )
    }

    pub(crate) fn expired_secret(client_id: &str) -> AadError {
        AadError::invalid_client(
            7000222,
            format!(
                "The provided client secret keys for app '{}' are expired. Visit the Azure portal \
                 to create new keys for your app: https://aka.ms/NewClientSecret, or consider \
                 using certificate credentials for added security: \
                 https://aka.ms/certCreds.",
                sanitize(client_id)
            ),
        )
    }

    pub(crate) fn no_credential() -> AadError {
        AadError::invalid_client(
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or \
             'client_secret'."
                .to_owned(),
        )
    }

    pub(crate) fn malformed_assertion(reason: &str) -> AadError {
        AadError::bad_request(
            "invalid_request",
            50027,
            format!("JWT token is invalid or malformed. [Reason - {reason}]"),
        )
    }

    pub(crate) fn unsupported_assertion_type() -> AadError {
        AadError::bad_request(
            "invalid_request",
            9002313,
            "Invalid request. Request is malformed or invalid. [Reason - unsupported \
             client_assertion_type]"
                .to_owned(),
        )
    }

    pub(crate) fn assertion_invalid_signature(reason: &str, thumbprint: &str) -> AadError {
        AadError::invalid_client(
            700027,
            format!(
                "Client assertion contains an invalid signature. [Reason - {reason}, Thumbprint \
                 of key used by client: '{}']",
                sanitize(thumbprint)
            ),
        )
    }

    pub(crate) fn assertion_time_range(now: i64, nbf: Option<f64>, exp: Option<f64>) -> AadError {
        let fmt = |v: Option<f64>| v.map(|t| format_unix(t as i64)).unwrap_or_default();
        AadError::invalid_client(
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {}, \
                 assertion valid from {}, expiry time of assertion {}. Review the documentation \
                 at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .",
                format_unix(now),
                fmt(nbf),
                fmt(exp)
            ),
        )
    }

    /// Entra documents no limit (nor code) for this: the emulator's choice, see
    /// `EmulatorBuilder::max_assertion_lifetime`.
    pub(crate) fn assertion_lifetime_too_long(start: f64, exp: f64, max_secs: u64) -> AadError {
        AadError::invalid_client(
            700024,
            format!(
                "Client assertion is not within its valid time range: it is valid from {} to \
                 {}, longer than the {max_secs} seconds this emulator accepts. Create \
                 assertions that expire 5 to 10 minutes after 'nbf'. Review the documentation \
                 at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .",
                format_unix(start as i64),
                format_unix(exp as i64),
            ),
        )
    }

    pub(crate) fn assertion_audience() -> AadError {
        AadError::invalid_client(
            700023,
            "Client assertion audience claim does not match Realm issuer. Review the \
             documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials ."
                .to_owned(),
        )
    }

    pub(crate) fn assertion_client_mismatch() -> AadError {
        AadError::invalid_client(
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter. \
             Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials ."
                .to_owned(),
        )
    }

    pub(crate) fn federated_issuer_mismatch(issuer: &str) -> AadError {
        AadError::federated_mismatch(700211, "issuer", issuer)
    }

    pub(crate) fn federated_audience_mismatch(audience: &str) -> AadError {
        AadError::federated_mismatch(700212, "audience", audience)
    }

    pub(crate) fn federated_subject_mismatch(subject: &str) -> AadError {
        AadError::federated_mismatch(700213, "subject", subject)
    }

    fn federated_mismatch(code: u32, what: &str, value: &str) -> AadError {
        AadError::invalid_client(
            code,
            format!(
                "No matching federated identity record found for presented assertion {what} \
                 '{}'. Please check your federated identity credential Subject, Audience and \
                 Issuer against the presented assertion. \
                 https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
                sanitize(value)
            ),
        )
    }

    pub(crate) fn assertion_replayed() -> AadError {
        AadError::invalid_client(
            7000274,
            "Client assertion has already been used: its 'jti' was seen before. Create a new \
             assertion with a unique 'jti' for every request."
                .to_owned(),
        )
    }

    pub(crate) fn invalid_scope(scope: &str) -> AadError {
        AadError::bad_request(
            "invalid_scope",
            70011,
            format!(
                "The provided request must include a 'scope' input parameter. The provided value \
                 for the input parameter 'scope' is not valid. The scope {} is not valid. For \
                 the client credentials flow the scope must be '{{resource}}/.default'; a user \
                 flow names the scopes of one resource that the resource exposes.",
                sanitize(scope)
            ),
        )
    }

    pub(crate) fn resource_not_found(resource: &str, tenant: &str) -> AadError {
        AadError::bad_request(
            "invalid_resource",
            500011,
            format!(
                "The resource principal named {} was not found in the tenant named {}. This can \
                 happen if the application has not been installed by the administrator of the \
                 tenant or consented to by any user in the tenant. You might have sent your \
                 authentication request to the wrong tenant.",
                sanitize(resource),
                sanitize(tenant)
            ),
        )
    }

    pub(crate) fn invalid_username_or_password() -> AadError {
        AadError::bad_request(
            "invalid_grant",
            50126,
            "Error validating credentials due to invalid username or password.".to_owned(),
        )
    }

    pub(crate) fn user_not_found(tenant: &str) -> AadError {
        AadError::bad_request(
            "invalid_grant",
            50034,
            format!(
                "The user account {{EUII Hidden}} does not exist in the {} directory. To sign into \
                 this application, the account must be added to the directory.",
                sanitize(tenant)
            ),
        )
    }

    pub(crate) fn consent_required(client_id: &str, scopes: &[String]) -> AadError {
        AadError::bad_request(
            "invalid_grant",
            65001,
            format!(
                "The user or administrator has not consented to use the application with ID \
                 '{}'. Send an interactive authorization request for this user and resource. \
                 Missing: {}",
                sanitize(client_id),
                sanitize(&scopes.join(" "))
            ),
        )
    }

    /// The JSON response, with trace and correlation ids.
    pub(crate) fn to_response(&self, request_headers: &HeaderMap) -> Response {
        let trace_id = uuid::Uuid::new_v4().to_string();
        let correlation_id = correlation_id(request_headers);
        let timestamp = format_unix(crate::mint::now_unix());
        let description = format!(
            "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
            self.code, self.message
        );
        let body = json!({
            "error": self.error,
            "error_description": description,
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        let mut resp = (self.status, body.to_string()).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store, no-cache"),
        );
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Ok(v) = HeaderValue::from_str(&trace_id) {
            h.insert("x-ms-request-id", v);
        }
        if let Ok(v) = HeaderValue::from_str(&correlation_id) {
            h.insert("client-request-id", v);
        }
        resp
    }
}

/// The `client-request-id` header when it is a sensible value, otherwise a fresh UUID.
pub(crate) fn correlation_id(headers: &HeaderMap) -> String {
    headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// `YYYY-MM-DD HH:MM:SSZ`, Entra's error timestamp format.
pub(crate) fn format_unix(unix: i64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

/// Client-supplied text echoed in a message: printable, bounded.
fn sanitize(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}
