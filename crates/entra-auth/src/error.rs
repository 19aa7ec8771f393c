//! The one error type of this crate and its mapping to HTTP responses (RFC 6750).
//!
//! Every way a request can fail authentication or authorization is an [`AuthError`]. The mapping
//! to a status code, a `WWW-Authenticate` challenge and a JSON body lives in
//! [`AuthError::to_response`] and nowhere else. Messages are fixed strings written here: nothing a
//! caller sent (least of all the token) is ever echoed back.

use std::fmt;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

/// Why a request was not authenticated or not authorized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The request carries no bearer token. Answered with `401` and a bare `Bearer` challenge.
    #[error("no bearer token in the request")]
    MissingToken,
    /// The token was presented but is not acceptable. Answered with `401 invalid_token`.
    #[error("invalid token: {0}")]
    InvalidToken(InvalidToken),
    /// The token is valid but lacks a required scope, app role or calling app.
    /// Answered with `403 insufficient_scope`.
    #[error("insufficient scope: {description}")]
    InsufficientScope {
        /// What was required, for humans.
        description: String,
        /// The `scope=` hint of the challenge: the scopes or roles any of which would do.
        scope_hint: String,
    },
    /// No usable signing keys: Entra could not be reached and no last-known-good keys are
    /// available. Answered with `503` and `Retry-After`: the caller did nothing wrong.
    #[error("signing keys are unavailable: {reason}")]
    KeysUnavailable {
        /// Why, for logs (never caller input).
        reason: KeysUnavailableReason,
        /// When a retry makes sense.
        retry_after: Duration,
    },
}

/// Why signing keys could not be obtained.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeysUnavailableReason {
    /// The metadata or key-set request failed (connection, timeout, HTTP status).
    #[error("the metadata or key-set request failed: {0}")]
    Fetch(String),
    /// The metadata or key set was received but unusable (not JSON, too large, no usable keys).
    #[error("the metadata or key set was unusable: {0}")]
    Invalid(String),
    /// Keys were loaded once but are older than the configured maximum age.
    #[error("the last-known-good keys are older than the maximum age")]
    Stale,
    /// A previous attempt failed moments ago; no new attempt is made until the backoff passes.
    #[error("a recent attempt failed; backing off: {0}")]
    BackingOff(String),
}

/// The reason a presented token was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidToken {
    /// The `Authorization` header is present but is not a single well-formed `Bearer` credential,
    /// or the token was presented in more than one place.
    MalformedAuthorization,
    /// Larger than the configured maximum token size.
    TooLarge,
    /// Not three base64url segments.
    MalformedStructure,
    /// The header is not a JSON object of the expected shape.
    MalformedHeader,
    /// The payload is not a JSON object of the expected shape.
    MalformedClaims,
    /// `alg` is missing or not `RS256`.
    UnsupportedAlgorithm,
    /// The header has a `crit` parameter; no critical extension is supported.
    CriticalHeader,
    /// The header has a `nonce`: a Microsoft Graph token, which an API cannot validate.
    GraphToken,
    /// Neither `kid` nor `x5t` in the header.
    MissingKeyId,
    /// No key with that id in the key set (after any refresh allowed by the cooldown).
    UnknownSigningKey,
    /// The signature does not verify.
    BadSignature,
    /// A required claim is missing.
    MissingClaim(&'static str),
    /// A claim has the wrong type or an impossible value.
    InvalidClaim(&'static str),
    /// `exp` is in the past (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `aud` is not one of the configured audiences.
    AudienceMismatch,
    /// `ver` is a token version this API does not accept.
    UnsupportedVersion,
    /// `iss` is not the issuer declared by the discovery document for this version and tenant.
    IssuerMismatch,
    /// `tid` does not agree with `iss`.
    TenantMismatch,
    /// The tenant is not in the allow-list.
    TenantNotAllowed,
    /// The signing key's own `issuer` does not match the token's issuer.
    KeyIssuerMismatch,
    /// Neither `scp` nor `roles` (required by default, as Microsoft.Identity.Web does).
    NoScopeOrRole,
    /// An ID token (no `scp`, no `azp`, no `appid`) where an access token is required: always,
    /// unless the API opted in with
    /// [`accept_id_tokens`](crate::EntraConfigBuilder::accept_id_tokens), and then still for a
    /// v1 ID token or one whose `aud` is not the API's own client id.
    IdToken,
}

impl InvalidToken {
    /// A short, fixed description suitable for `error_description`.
    pub fn description(&self) -> &'static str {
        match self {
            Self::MalformedAuthorization => "the Authorization header is not a single Bearer token",
            Self::TooLarge => "the token is larger than the maximum accepted size",
            Self::MalformedStructure => "the token is not a JWS of three base64url segments",
            Self::MalformedHeader => "the token header is not a valid JSON object",
            Self::MalformedClaims => "the token payload is not a valid JSON object of claims",
            Self::UnsupportedAlgorithm => "the token algorithm is not accepted (only RS256 is)",
            Self::CriticalHeader => "the token has a crit header, which is not supported",
            Self::GraphToken => {
                "the token is a Microsoft Graph token (it has a nonce header), which an API cannot validate; request a token for this API's scope"
            }
            Self::MissingKeyId => "the token header names no signing key (kid or x5t)",
            Self::UnknownSigningKey => "the token was signed with an unknown key",
            Self::BadSignature => "the token signature is invalid",
            Self::MissingClaim(name) => missing_claim_text(name),
            Self::InvalidClaim(name) => invalid_claim_text(name),
            Self::Expired => "the token is expired",
            Self::NotYetValid => "the token is not valid yet",
            Self::AudienceMismatch => "the token audience is not accepted",
            Self::UnsupportedVersion => "the token version is not accepted",
            Self::IssuerMismatch => "the token issuer is not accepted",
            Self::TenantMismatch => "the token tenant does not match its issuer",
            Self::TenantNotAllowed => "the token tenant is not allowed",
            Self::KeyIssuerMismatch => "the signing key's issuer does not match the token issuer",
            Self::NoScopeOrRole => "the token has neither scp nor roles",
            Self::IdToken => {
                "the token is an ID token, not an access token; request an access token for this API's scope"
            }
        }
    }

    /// The `error_description` a caller is answered with. The same as [`description`] except
    /// that an unknown signing key and a tenant that is not allowed are answered exactly like a
    /// bad signature: an unsigned token would otherwise tell anyone whether a tenant is a
    /// customer (the tenant is checked before the signature, to keep those tokens cheap), or
    /// which key ids exist. The precise reason stays in this type and in the logs.
    ///
    /// [`description`]: Self::description
    pub fn public_description(&self) -> &'static str {
        match self {
            Self::UnknownSigningKey | Self::TenantNotAllowed => Self::BadSignature.description(),
            other => other.description(),
        }
    }

    /// How many reasons there are (claim names aside): the length of [`CODES`](Self::CODES).
    pub(crate) const COUNT: usize = 23;

    /// Every reason's [`code`](Self::code), at its [`index`](Self::index).
    pub(crate) const CODES: [&'static str; Self::COUNT] = [
        "malformed_authorization",
        "too_large",
        "malformed_structure",
        "malformed_header",
        "malformed_claims",
        "unsupported_algorithm",
        "critical_header",
        "graph_token",
        "missing_key_id",
        "unknown_signing_key",
        "bad_signature",
        "missing_claim",
        "invalid_claim",
        "expired",
        "not_yet_valid",
        "audience_mismatch",
        "unsupported_version",
        "issuer_mismatch",
        "tenant_mismatch",
        "tenant_not_allowed",
        "key_issuer_mismatch",
        "no_scope_or_role",
        "id_token",
    ];

    /// The reason's position in [`CODES`](Self::CODES) (a claim's name aside), for tables
    /// indexed by reason (counters, prepared answers).
    pub(crate) fn index(&self) -> usize {
        match self {
            Self::MalformedAuthorization => 0,
            Self::TooLarge => 1,
            Self::MalformedStructure => 2,
            Self::MalformedHeader => 3,
            Self::MalformedClaims => 4,
            Self::UnsupportedAlgorithm => 5,
            Self::CriticalHeader => 6,
            Self::GraphToken => 7,
            Self::MissingKeyId => 8,
            Self::UnknownSigningKey => 9,
            Self::BadSignature => 10,
            Self::MissingClaim(_) => 11,
            Self::InvalidClaim(_) => 12,
            Self::Expired => 13,
            Self::NotYetValid => 14,
            Self::AudienceMismatch => 15,
            Self::UnsupportedVersion => 16,
            Self::IssuerMismatch => 17,
            Self::TenantMismatch => 18,
            Self::TenantNotAllowed => 19,
            Self::KeyIssuerMismatch => 20,
            Self::NoScopeOrRole => 21,
            Self::IdToken => 22,
        }
    }

    /// Every reason, with a missing and an invalid claim for each of `claim_names` (for tests
    /// of tables indexed by reason).
    #[cfg(test)]
    pub(crate) fn every_reason(claim_names: &[&'static str]) -> Vec<InvalidToken> {
        let mut all = vec![
            Self::MalformedAuthorization,
            Self::TooLarge,
            Self::MalformedStructure,
            Self::MalformedHeader,
            Self::MalformedClaims,
            Self::UnsupportedAlgorithm,
            Self::CriticalHeader,
            Self::GraphToken,
            Self::MissingKeyId,
            Self::UnknownSigningKey,
            Self::BadSignature,
            Self::Expired,
            Self::NotYetValid,
            Self::AudienceMismatch,
            Self::UnsupportedVersion,
            Self::IssuerMismatch,
            Self::TenantMismatch,
            Self::TenantNotAllowed,
            Self::KeyIssuerMismatch,
            Self::NoScopeOrRole,
            Self::IdToken,
        ];
        for name in claim_names {
            all.push(Self::MissingClaim(name));
            all.push(Self::InvalidClaim(name));
        }
        all
    }

    /// A stable machine-readable code (used in logs and metrics).
    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedAuthorization => "malformed_authorization",
            Self::TooLarge => "too_large",
            Self::MalformedStructure => "malformed_structure",
            Self::MalformedHeader => "malformed_header",
            Self::MalformedClaims => "malformed_claims",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::CriticalHeader => "critical_header",
            Self::GraphToken => "graph_token",
            Self::MissingKeyId => "missing_key_id",
            Self::UnknownSigningKey => "unknown_signing_key",
            Self::BadSignature => "bad_signature",
            Self::MissingClaim(_) => "missing_claim",
            Self::InvalidClaim(_) => "invalid_claim",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::AudienceMismatch => "audience_mismatch",
            Self::UnsupportedVersion => "unsupported_version",
            Self::IssuerMismatch => "issuer_mismatch",
            Self::TenantMismatch => "tenant_mismatch",
            Self::TenantNotAllowed => "tenant_not_allowed",
            Self::KeyIssuerMismatch => "key_issuer_mismatch",
            Self::NoScopeOrRole => "no_scope_or_role",
            Self::IdToken => "id_token",
        }
    }
}

fn missing_claim_text(name: &str) -> &'static str {
    match name {
        "aud" => "the token has no aud claim",
        "iss" => "the token has no iss claim",
        "exp" => "the token has no exp claim",
        "nbf" => "the token has no nbf claim",
        "tid" => "the token has no tid claim",
        "ver" => "the token has no ver claim",
        _ => "the token lacks a required claim",
    }
}

fn invalid_claim_text(name: &str) -> &'static str {
    match name {
        "aud" => "the aud claim must be a single string",
        "iss" => "the iss claim must be a string",
        "exp" => "the exp claim must be an integer number of seconds",
        "nbf" => "the nbf claim must be an integer number of seconds",
        "iat" => "the iat claim must be an integer number of seconds",
        "tid" => "the tid claim must be a tenant id (a GUID in lower case)",
        "ver" => "the ver claim must be a string",
        "scp" => "the scp claim must be a string",
        "roles" => "the roles claim must be an array of strings",
        _ => "a claim has an invalid type",
    }
}

impl fmt::Display for InvalidToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

impl From<InvalidToken> for AuthError {
    fn from(value: InvalidToken) -> Self {
        AuthError::InvalidToken(value)
    }
}

impl AuthError {
    /// The HTTP status this error maps to.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            Self::KeysUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The OAuth error code (`error=`) of the response, if any.
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            Self::MissingToken => None,
            Self::InvalidToken(_) => Some("invalid_token"),
            Self::InsufficientScope { .. } => Some("insufficient_scope"),
            Self::KeysUnavailable { .. } => Some("temporarily_unavailable"),
        }
    }

    fn public_description(&self) -> String {
        match self {
            Self::MissingToken => "a bearer token is required".to_owned(),
            Self::InvalidToken(reason) => reason.public_description().to_owned(),
            Self::InsufficientScope { description, .. } => description.clone(),
            Self::KeysUnavailable { .. } => {
                "the token signing keys are temporarily unavailable; retry later".to_owned()
            }
        }
    }

    /// Builds the RFC 6750 response: status, `WWW-Authenticate` (with `realm` when given),
    /// `Retry-After` for 503, and a short JSON body `{error, error_description}`.
    pub fn to_response(&self, realm: Option<&str>) -> Response {
        let status = self.status();
        let description = self.public_description();
        let mut response = match self.error_code() {
            Some(code) => {
                let body = serde_json::json!({ "error": code, "error_description": description });
                (status, axum::Json(body)).into_response()
            }
            None => {
                let body = serde_json::json!({ "error": "unauthorized", "error_description": description });
                (status, axum::Json(body)).into_response()
            }
        };
        let headers = response.headers_mut();
        if let Some(challenge) = self.challenge(realm, &description) {
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                headers.insert(header::WWW_AUTHENTICATE, value);
            } else {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
        }
        if let Self::KeysUnavailable { retry_after, .. } = self {
            let secs = retry_after.as_secs().max(1);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }

    fn challenge(&self, realm: Option<&str>, description: &str) -> Option<String> {
        let mut params: Vec<String> = Vec::new();
        if let Some(realm) = realm {
            params.push(format!("realm=\"{}\"", quote(realm)));
        }
        match self {
            Self::MissingToken => {}
            Self::InvalidToken(_) => {
                params.push("error=\"invalid_token\"".to_owned());
                params.push(format!("error_description=\"{}\"", quote(description)));
            }
            Self::InsufficientScope { scope_hint, .. } => {
                params.push("error=\"insufficient_scope\"".to_owned());
                params.push(format!("error_description=\"{}\"", quote(description)));
                if !scope_hint.is_empty() {
                    params.push(format!("scope=\"{}\"", quote(scope_hint)));
                }
            }
            Self::KeysUnavailable { .. } => return None,
        }
        if params.is_empty() {
            Some("Bearer".to_owned())
        } else {
            Some(format!("Bearer {}", params.join(", ")))
        }
    }
}

/// Makes a string safe inside an RFC 7230 quoted-string: drops control and non-ASCII
/// characters and escapes `"` and `\`.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => {}
        }
    }
    out
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        self.to_response(None)
    }
}

/// An invalid configuration, reported when the configuration is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Entra configuration: {0}")]
pub struct ConfigError(pub(crate) String);

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    /// The message, without the common prefix.
    pub fn message(&self) -> &str {
        &self.0
    }
}

mod prepared;
#[cfg(test)]
mod tests;

pub(crate) use prepared::PreparedRejections;
