//! The one error type of this crate, and the typed Entra ID error response.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

/// Everything that can go wrong while configuring credentials or acquiring a token.
///
/// Messages never contain client secrets, private keys, assertions or tokens. The error is
/// cheap to clone, so that callers waiting on the same in-flight token request can all receive
/// the same failure.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The credentials are misconfigured (missing credential, bad authority, bad tenant, ...).
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A certificate or private key could not be loaded.
    #[error("invalid certificate: {0}")]
    Certificate(String),

    /// A PKCS#12 (.pfx) file could not be opened: most often a wrong password.
    #[error("cannot open PKCS#12 file: {0}")]
    Pkcs12(String),

    /// The client assertion could not be signed.
    #[error("cannot sign client assertion: {0}")]
    Signing(String),

    /// A [`ClientAssertionSource`](crate::ClientAssertionSource) could not give an assertion:
    /// for workload identity, the federated token file cannot be read or is empty (the message
    /// names the file, never its content).
    #[error("cannot obtain the client assertion: {0}")]
    ClientAssertion(String),

    /// On-behalf-of: the user or an administrator has not consented to the downstream scopes
    /// (AADSTS65001). An API answers its caller 403
    /// ([`Error::challenge_response`]).
    #[error("consent required for {}: {}", .0.scope, .0.entra)]
    ConsentRequired(Box<crate::DownstreamChallenge>),

    /// On-behalf-of: the user must go through an interaction first: a Conditional Access claims
    /// challenge (`interaction_required` with `claims`), multi-factor authentication
    /// (AADSTS50076, 50079), ... An API answers its caller 401 with the claims challenge in
    /// `WWW-Authenticate` ([`Error::challenge_response`]).
    #[error("user interaction required for {}: {}", .0.scope, .0.entra)]
    UiRequired(Box<crate::DownstreamChallenge>),

    /// Entra ID answered with an OAuth2 error response (`invalid_client`, `AADSTS...`).
    #[error(transparent)]
    Entra(Box<EntraError>),

    /// The token endpoint answered with an unexpected HTTP status and no OAuth2 error body.
    #[error("token endpoint returned HTTP {status} without an OAuth2 error response")]
    UnexpectedStatus {
        /// The HTTP status code.
        status: u16,
        /// The `Retry-After` delay the server asked for, if any.
        retry_after: Option<Duration>,
    },

    /// The token endpoint answered with success, but the body is not a usable token response.
    #[error("invalid token response: {0}")]
    InvalidResponse(String),

    /// The request timed out.
    #[error("token request timed out")]
    Timeout(#[source] Arc<reqwest::Error>),

    /// The token endpoint could not be reached (DNS, connection refused, TLS, reset, ...).
    #[error("cannot reach the token endpoint")]
    Transport(#[source] Arc<reqwest::Error>),

    /// A scope or resource argument is unusable (empty, or not valid in a request).
    #[error("invalid scope: {0}")]
    InvalidScope(String),

    /// The shared token request ended without an answer: the task running it panicked, or the
    /// Tokio runtime it ran on shut down. Asking again sends a new request.
    #[error("the token request was interrupted (its task panicked or its runtime shut down)")]
    Interrupted,

    /// A credential cannot be used here: what it needs is not configured (its environment
    /// variables are not set) or not there (no managed identity endpoint answers). A credential
    /// chain moves on to its next credential ([`Error::is_unavailable`]).
    #[error("{credential} is unavailable: {reason}")]
    CredentialUnavailable {
        /// The credential, e.g. `managed identity (IMDS)`.
        credential: String,
        /// Why, in words (never a secret).
        reason: String,
    },

    /// A managed identity endpoint (IMDS, or App Service's) answered with an error status.
    #[error("managed identity endpoint ({endpoint}) returned HTTP {status}: {message}")]
    ManagedIdentity {
        /// Which protocol the endpoint speaks.
        endpoint: crate::ManagedIdentityKind,
        /// The HTTP status code.
        status: u16,
        /// The endpoint's error description (never the token or the identity header).
        message: String,
        /// The `Retry-After` delay the endpoint asked for, if any.
        retry_after: Option<Duration>,
    },

    /// No credential of a chain obtained a token; why, credential by credential.
    #[error(transparent)]
    Chain(Box<crate::ChainError>),

    /// A user must sign in (again): no account is signed in, or its refresh token is missing,
    /// expired or revoked, or Entra asks for an interaction (consent, MFA). Run a sign-in
    /// ([`crate::UserCredential::sign_in_with_device_code`] or
    /// [`crate::UserCredential::sign_in_with_browser`]), or opt in to one with
    /// [`crate::UserCredentialBuilder::interactive`].
    #[error("interaction required: {reason}")]
    InteractionRequired {
        /// Why, in words (never a token).
        reason: String,
        /// Entra's answer, when a refresh was refused.
        entra: Option<Box<EntraError>>,
    },

    /// A user sign-in did not complete: declined, expired, the loopback redirect failed.
    #[error(transparent)]
    SignIn(#[from] crate::SignInError),

    /// The token-cache file cannot be read or written (see [`crate::TokenCacheFile`]).
    #[error("token cache file: {0}")]
    TokenCacheFile(String),
}

impl From<EntraError> for Error {
    fn from(e: EntraError) -> Self {
        Error::Entra(Box::new(e))
    }
}

impl Error {
    /// The `AADSTS` error code, when Entra ID returned one.
    ///
    /// ```
    /// # use entra_client::Error;
    /// fn is_bad_secret(e: &Error) -> bool {
    ///     e.aadsts_code() == Some(7000215)
    /// }
    /// ```
    pub fn aadsts_code(&self) -> Option<u32> {
        self.entra().and_then(EntraError::aadsts_code)
    }

    /// The typed Entra ID error response, if this is one; for [`Error::Chain`], that of the
    /// credential that failed and stopped the chain.
    pub fn entra(&self) -> Option<&EntraError> {
        match self {
            Error::Entra(e) => Some(e),
            Error::InteractionRequired { entra: Some(e), .. } => Some(e),
            Error::ConsentRequired(c) | Error::UiRequired(c) => Some(&c.entra),
            Error::Chain(c) => c.failure().and_then(Error::entra),
            _ => None,
        }
    }

    /// The HTTP status of the token endpoint's answer, if one was received; for
    /// [`Error::Chain`], that of the credential that failed and stopped the chain.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Chain(c) => c.failure().and_then(Error::status),
            Error::Entra(e) => Some(e.status),
            Error::ConsentRequired(c) | Error::UiRequired(c) => Some(c.entra.status),
            Error::UnexpectedStatus { status, .. } | Error::ManagedIdentity { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// Whether trying again later may succeed: server errors (5xx), throttling (429), timeouts,
    /// connection failures and interrupted requests; and from IMDS also 404 (the identity not
    /// yet assigned) and 410 (IMDS being upgraded), as Microsoft documents and as the managed
    /// identity credential retries them. Other client errors (4xx) are not retryable.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Timeout(_) | Error::Transport(_) | Error::Interrupted => true,
            Error::ManagedIdentity {
                endpoint, status, ..
            } => crate::managed_identity::retryable_status(*endpoint, *status),
            Error::Entra(_) | Error::UnexpectedStatus { .. } => self
                .status()
                .is_some_and(|s| s == 429 || (500..600).contains(&s)),
            _ => false,
        }
    }

    /// The delay the server asked for with `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Entra(e) => e.retry_after,
            Error::UnexpectedStatus { retry_after, .. }
            | Error::ManagedIdentity { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the credential cannot be used in this environment
    /// ([`Error::CredentialUnavailable`]): a credential chain tries the next one.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::CredentialUnavailable { .. })
    }

    pub(crate) fn from_reqwest(e: reqwest::Error) -> Self {
        // The URL is the token endpoint: not a secret, but keep messages short.
        let e = e.without_url();
        if e.is_timeout() {
            Error::Timeout(Arc::new(e))
        } else {
            Error::Transport(Arc::new(e))
        }
    }
}

/// An OAuth2 error response from Entra ID's token endpoint.
///
/// Entra answers errors with a JSON body such as
///
/// ```json
/// {"error":"invalid_client",
///  "error_description":"AADSTS7000215: Invalid client secret provided. ...",
///  "error_codes":[7000215], "timestamp":"2024-10-26 10:00:00Z",
///  "trace_id":"...", "correlation_id":"..."}
/// ```
///
/// The `trace_id` and `correlation_id` are what Microsoft support asks for.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EntraError {
    /// The HTTP status code of the response.
    pub status: u16,
    /// The OAuth2 error code: `invalid_client`, `invalid_request`, `unauthorized_client`, ...
    pub error: String,
    /// The human-readable description, usually starting with `AADSTSnnnn:`.
    pub description: String,
    /// The `error_codes` array (AADSTS numbers).
    pub error_codes: Vec<u32>,
    /// Entra's `trace_id` for the failed request.
    pub trace_id: Option<String>,
    /// Entra's `correlation_id` for the failed request.
    pub correlation_id: Option<String>,
    /// Entra's `timestamp` for the failed request.
    pub timestamp: Option<String>,
    /// The `claims` challenge (a JSON object, as text) that Entra sends with
    /// `interaction_required` when Conditional Access asks for more (MFA, a compliant device).
    pub claims: Option<String>,
    /// The `suberror` some answers carry (`basic_action`, `consent_required`, ...).
    pub suberror: Option<String>,
    /// The `Retry-After` delay the server asked for, if any.
    pub retry_after: Option<Duration>,
}

impl EntraError {
    /// The AADSTS error code: `error_codes[0]`, or else the number in a description that starts
    /// with `AADSTSnnnn:`.
    pub fn aadsts_code(&self) -> Option<u32> {
        self.error_codes
            .first()
            .copied()
            .or_else(|| parse_aadsts_prefix(&self.description))
    }

    /// Parses an error body. `None` if the body is not an OAuth2 error response.
    pub(crate) fn parse(status: u16, body: &[u8], retry_after: Option<Duration>) -> Option<Self> {
        #[derive(Deserialize)]
        struct Body {
            error: String,
            #[serde(default)]
            error_description: Option<String>,
            #[serde(default)]
            error_codes: Option<Vec<serde_json::Value>>,
            #[serde(default)]
            timestamp: Option<String>,
            #[serde(default)]
            trace_id: Option<String>,
            #[serde(default)]
            correlation_id: Option<String>,
            #[serde(default)]
            claims: Option<String>,
            #[serde(default)]
            suberror: Option<String>,
        }
        let body: Body = serde_json::from_slice(body).ok()?;
        let error_codes = body
            .error_codes
            .unwrap_or_default()
            .iter()
            .filter_map(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .and_then(|n| u32::try_from(n).ok())
            })
            .collect();
        Some(EntraError {
            status,
            error: body.error,
            description: body.error_description.unwrap_or_default(),
            error_codes,
            trace_id: body.trace_id,
            correlation_id: body.correlation_id,
            timestamp: body.timestamp,
            claims: body.claims.filter(|c| !c.trim().is_empty()),
            suberror: body.suberror,
            retry_after,
        })
    }
}

/// `AADSTS7000215: Invalid client secret ...` -> `Some(7000215)`.
fn parse_aadsts_prefix(description: &str) -> Option<u32> {
    let rest = description.trim_start().strip_prefix("AADSTS")?;
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    if end == 0 || !rest[end..].starts_with(':') {
        return None;
    }
    rest[..end].parse().ok()
}

impl fmt::Display for EntraError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Entra ID returned {} (HTTP {})", self.error, self.status)?;
        if !self.description.is_empty() {
            // Entra descriptions carry their own trace and correlation ids on separate lines;
            // keep the first line, we print the ids ourselves.
            let first_line = self.description.lines().next().unwrap_or_default().trim();
            write!(f, ": {first_line}")?;
        } else if let Some(code) = self.aadsts_code() {
            write!(f, ": AADSTS{code}")?;
        }
        if let Some(t) = &self.trace_id {
            write!(f, " (trace_id {t}")?;
            match &self.correlation_id {
                Some(c) => write!(f, ", correlation_id {c})")?,
                None => write!(f, ")")?,
            }
        } else if let Some(c) = &self.correlation_id {
            write!(f, " (correlation_id {c})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for EntraError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntraError")
            .field("status", &self.status)
            .field("error", &self.error)
            .field("aadsts_code", &self.aadsts_code())
            .field("description", &self.description)
            .field("trace_id", &self.trace_id)
            .field("correlation_id", &self.correlation_id)
            .field("timestamp", &self.timestamp)
            .field("claims", &self.claims)
            .field("suberror", &self.suberror)
            .field("retry_after", &self.retry_after)
            .finish()
    }
}

impl std::error::Error for EntraError {}

#[cfg(test)]
mod tests {
    use super::*;

    const BAD_SECRET: &str = r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: abc\r\nCorrelation ID: def\r\nTimestamp: 2024-10-26 10:00:00Z","error_codes":[7000215],"timestamp":"2024-10-26 10:00:00Z","trace_id":"abc","correlation_id":"def","error_uri":"https://login.microsoftonline.com/error?code=7000215"}"#;

    #[test]
    fn parses_entra_error_body() {
        let e = EntraError::parse(401, BAD_SECRET.as_bytes(), None).unwrap();
        assert_eq!(e.status, 401);
        assert_eq!(e.error, "invalid_client");
        assert_eq!(e.aadsts_code(), Some(7000215));
        assert_eq!(e.trace_id.as_deref(), Some("abc"));
        assert_eq!(e.correlation_id.as_deref(), Some("def"));
        assert_eq!(e.timestamp.as_deref(), Some("2024-10-26 10:00:00Z"));
        let shown = e.to_string();
        assert_eq!(
            shown,
            "Entra ID returned invalid_client (HTTP 401): AADSTS7000215: Invalid client secret \
             provided. (trace_id abc, correlation_id def)"
        );
        let err = Error::from(e);
        assert_eq!(err.aadsts_code(), Some(7000215));
        assert_eq!(err.status(), Some(401));
        assert!(!err.is_retryable());
    }

    #[test]
    fn code_from_description_when_error_codes_missing() {
        let body = br#"{"error":"invalid_request","error_description":"AADSTS900144: The request body must contain the following parameter: 'grant_type'."}"#;
        let e = EntraError::parse(400, body, None).unwrap();
        assert!(e.error_codes.is_empty());
        assert_eq!(e.aadsts_code(), Some(900144));
    }

    #[test]
    fn aadsts_prefix_parsing() {
        assert_eq!(parse_aadsts_prefix("AADSTS70011: bad scope"), Some(70011));
        assert_eq!(parse_aadsts_prefix("  AADSTS90002: tenant"), Some(90002));
        assert_eq!(parse_aadsts_prefix("AADSTS: nothing"), None);
        assert_eq!(parse_aadsts_prefix("AADSTS123 no colon"), None);
        assert_eq!(parse_aadsts_prefix("something else"), None);
        assert_eq!(parse_aadsts_prefix("AADSTS99999999999: overflow"), None);
    }

    #[test]
    fn non_oauth_bodies_are_not_entra_errors() {
        assert!(EntraError::parse(502, b"<html>Bad gateway</html>", None).is_none());
        assert!(EntraError::parse(500, b"{}", None).is_none());
    }

    #[test]
    fn retryable_classification() {
        let e = |status| Error::UnexpectedStatus {
            status,
            retry_after: None,
        };
        assert!(e(500).is_retryable());
        assert!(e(503).is_retryable());
        assert!(e(429).is_retryable());
        assert!(!e(400).is_retryable());
        assert!(!e(401).is_retryable());
        assert!(!e(404).is_retryable());
        assert!(!Error::Config("x".into()).is_retryable());
    }

    /// One rule with the managed identity credential's retries: IMDS's 404 and 410 are
    /// retryable, App Service's are not.
    #[test]
    fn managed_identity_answers_are_retryable_as_they_are_retried() {
        use crate::ManagedIdentityKind::{AppService, Imds};
        let e = |endpoint, status| Error::ManagedIdentity {
            endpoint,
            status,
            message: String::new(),
            retry_after: None,
        };
        for status in [404, 410, 429, 500, 503] {
            assert!(e(Imds, status).is_retryable(), "{status}");
        }
        for status in [400, 401, 403] {
            assert!(!e(Imds, status).is_retryable(), "{status}");
        }
        for status in [404, 410, 400] {
            assert!(!e(AppService, status).is_retryable(), "{status}");
        }
        assert!(e(AppService, 503).is_retryable());
    }

    /// A chain that stopped on an Entra error answers for it; one where every credential was
    /// unavailable has no status.
    #[test]
    fn a_chain_error_delegates_to_the_failing_credential() {
        use crate::chain::{AttemptOutcome, ChainAttempt, ChainError};
        let entra = Error::from(EntraError::parse(401, BAD_SECRET.as_bytes(), None).unwrap());
        let attempt = |outcome| ChainAttempt {
            credential: "c".into(),
            outcome,
        };
        let unavailable = Error::CredentialUnavailable {
            credential: "x".into(),
            reason: "not here".into(),
        };
        let chain = Error::Chain(Box::new(ChainError {
            attempts: vec![
                attempt(AttemptOutcome::Unavailable(unavailable.clone())),
                attempt(AttemptOutcome::Failed(entra)),
                attempt(AttemptOutcome::NotTried),
            ],
        }));
        assert_eq!(chain.aadsts_code(), Some(7000215));
        assert_eq!(chain.status(), Some(401));
        assert_eq!(chain.entra().unwrap().error, "invalid_client");
        let chain = Error::Chain(Box::new(ChainError {
            attempts: vec![attempt(AttemptOutcome::Unavailable(unavailable))],
        }));
        assert_eq!(chain.status(), None);
        assert!(chain.entra().is_none());
    }
}
