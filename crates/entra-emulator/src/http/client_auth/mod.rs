//! Client authentication at the token endpoint: a client secret (form or HTTP Basic), a
//! certificate-signed client assertion (`private_key_jwt`), or a federated one (workload
//! identity federation: a token of an external issuer, see [`federated`]).

mod assertion;
mod federated;
mod replay;

use std::time::SystemTime;

use axum::http::HeaderMap;

pub(crate) use replay::SeenAssertions;

use super::AadError;
use super::form::{BasicCredentials, Form};
use crate::state::{State, read};

/// The only client assertion type Entra accepts.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What a token request presents to authenticate its client.
pub(crate) struct ClientCredentials {
    /// `client_id` from the form, else the Basic user name: who the client says it is.
    pub(crate) client_id: Option<String>,
    /// `client_secret` from the form, else the Basic password.
    secret: Option<String>,
    /// `client_assertion`.
    assertion: Option<String>,
    /// `client_assertion_type`.
    assertion_type: Option<String>,
}

impl ClientCredentials {
    /// The credentials of a token request: form parameters first, then HTTP Basic.
    pub(crate) fn from_request(form: &Form, headers: &HeaderMap) -> ClientCredentials {
        let basic = BasicCredentials::from_headers(headers);
        let (basic_id, basic_secret) = match basic {
            Some(b) => (Some(b.client_id), Some(b.secret)),
            None => (None, None),
        };
        let get = |name: &str| form.get(name).map(str::to_owned);
        ClientCredentials {
            client_id: get("client_id").or(basic_id),
            secret: get("client_secret").or(basic_secret),
            assertion: get("client_assertion"),
            assertion_type: get("client_assertion_type"),
        }
    }
}

impl ClientCredentials {
    /// Does the request carry a client secret or a client assertion?
    pub(crate) fn presents_credential(&self) -> bool {
        self.secret.is_some() || self.assertion.is_some()
    }
}

/// How a client proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClientAuthMethod {
    /// A client secret.
    Secret,
    /// A client assertion signed with a registered certificate's key.
    Certificate,
    /// A token of an external issuer accepted through a federated identity credential.
    Federated,
}

impl ClientAuthMethod {
    /// The `azpacr` / `appidacr` claim: `"1"` secret, `"2"` certificate.
    pub(crate) fn acr(self) -> &'static str {
        match self {
            ClientAuthMethod::Secret => "1",
            ClientAuthMethod::Certificate | ClientAuthMethod::Federated => "2",
        }
    }
}

/// A client whose credential was accepted.
pub(crate) struct AuthenticatedClient {
    /// The client id as the request named it (any case).
    pub(crate) client_id: String,
    pub(crate) method: ClientAuthMethod,
}

/// Authenticate the client of a token request to the tenant `tid` (lower-cased): with its
/// assertion when it sent one (federated when it comes with a `client_id` and its `iss` is an
/// issuer URL, not the client id), else with its secret.
pub(crate) fn authenticate(
    state: &State,
    tid: &str,
    credentials: &ClientCredentials,
) -> Result<AuthenticatedClient, AadError> {
    if let Some(assertion) = &credentials.assertion {
        match credentials.assertion_type.as_deref() {
            None => return Err(AadError::missing_parameter("client_assertion_type")),
            Some(JWT_BEARER) => {}
            Some(_) => return Err(AadError::unsupported_assertion_type()),
        }
        if let Some(client_id) = credentials.client_id.as_deref()
            && federated::is_federated(assertion, client_id)
        {
            federated::verify(state, tid, client_id, assertion)?;
            return Ok(AuthenticatedClient {
                client_id: client_id.to_owned(),
                method: ClientAuthMethod::Federated,
            });
        }
        let client_id = assertion::verify(state, tid, credentials.client_id.as_deref(), assertion)?;
        return Ok(AuthenticatedClient {
            client_id,
            method: ClientAuthMethod::Certificate,
        });
    }
    let Some(client_id) = &credentials.client_id else {
        return Err(AadError::missing_parameter("client_id"));
    };
    verify_secret(state, tid, client_id, credentials.secret.as_deref())?;
    Ok(AuthenticatedClient {
        client_id: client_id.clone(),
        method: ClientAuthMethod::Secret,
    })
}

/// The app must exist, and `secret` must equal one of its secrets (in constant time) that has
/// not expired.
fn verify_secret(
    state: &State,
    tid: &str,
    client_id: &str,
    secret: Option<&str>,
) -> Result<(), AadError> {
    let directory = read(&state.directory);
    let app = directory
        .tenant(tid)
        .and_then(|t| t.app(client_id))
        .ok_or_else(|| AadError::application_not_found(client_id, tid))?;
    let Some(secret) = secret else {
        return Err(AadError::no_credential());
    };
    let now = SystemTime::now();
    let mut matched_expired = false;
    let mut matched = false;
    for s in &app.secrets {
        let eq = aws_lc_rs::constant_time::verify_slices_are_equal(
            s.value.as_bytes(),
            secret.as_bytes(),
        )
        .is_ok();
        if eq && s.is_expired(now) {
            matched_expired = true;
        } else if eq {
            matched = true;
        }
    }
    match (matched, matched_expired) {
        (true, _) => Ok(()),
        (false, true) => Err(AadError::expired_secret(client_id)),
        (false, false) => Err(AadError::invalid_secret(client_id)),
    }
}
