//! An authorization request (`/{tenant}/oauth2/v2.0/authorize`), parsed and checked in Entra's
//! order. Errors about the client or its redirect URI are shown on a page (the redirect URI
//! cannot be trusted yet); the others go back to the redirect URI.

use super::super::AadError;
use super::super::form::Form;
use crate::directory::Platform;
use crate::state::{State, read};
use crate::store::{Pkce, PkceMethod};

/// Where and how the answer goes back to the client.
#[derive(Clone, Debug)]
pub(crate) struct Redirect {
    pub(crate) uri: String,
    pub(crate) mode: ResponseMode,
    pub(crate) state: Option<String>,
    /// A spa redirect URI (its code must be redeemed cross-origin).
    pub(crate) spa: bool,
}

/// `response_mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ResponseMode {
    Query,
    Fragment,
    FormPost,
}

/// `prompt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Prompt {
    /// No prompt: a session signs in silently.
    Default,
    /// `login`: always show the sign-in page.
    Login,
    /// `none`: never show a page; `login_required` / `consent_required` instead.
    None,
    /// `consent`: show the consent page even when consent was given.
    Consent,
    /// `select_account`: show the account picker.
    SelectAccount,
}

/// A checked authorization request, or a device code being approved on the `/devicelogin`
/// page: what the sign-in and consent pages work on.
#[derive(Clone, Debug)]
pub(crate) struct AuthorizationRequest {
    pub(crate) tid: String,
    pub(crate) client_id: String,
    pub(crate) scope: String,
    pub(crate) nonce: Option<String>,
    pub(crate) login_hint: Option<String>,
    pub(crate) prompt: Prompt,
    pub(crate) target: Target,
}

/// Where the approval goes.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    /// An authorization code to the redirect URI.
    Code {
        redirect: Redirect,
        pkce: Option<Pkce>,
    },
    /// The device code's poll.
    Device { device_code: String },
}

/// Why a request cannot go on: shown on a page, or sent to the redirect URI.
pub(crate) enum Refusal {
    Page(AadError),
    Redirect(Redirect, AadError),
}

/// The longest parameter value an authorization request may carry.
const MAX_PARAMETER_LEN: usize = 8 * 1024;

impl AuthorizationRequest {
    /// Parse the query (GET) or form (POST) of an authorization request to `tenant`.
    pub(crate) fn parse(state: &State, tenant: &str, params: &Form) -> Result<Self, Refusal> {
        let page = Refusal::Page;
        // What a request leaves in the store (state, nonce, hint, scope) stays small.
        if params.longest_value() > MAX_PARAMETER_LEN {
            return Err(page(AadError::request_too_long()));
        }
        let client_id = params
            .get("client_id")
            .ok_or_else(|| page(AadError::missing_parameter("client_id")))?;
        let tid = super::super::client_tenant(state, tenant, client_id).map_err(page)?;
        let directory = read(&state.directory);
        let app = directory
            .tenant(&tid)
            .and_then(|t| t.app(client_id))
            .ok_or_else(|| page(AadError::application_not_found(client_id, &tid)))?;
        let redirect_uri = params
            .get("redirect_uri")
            .ok_or_else(|| page(AadError::missing_parameter("redirect_uri")))?;
        let platform = app
            .redirect_platform(redirect_uri)
            .ok_or_else(|| page(AadError::redirect_uri_mismatch(redirect_uri, client_id)))?;
        let mode = match params.get("response_mode") {
            None | Some("query") => ResponseMode::Query,
            Some("fragment") => ResponseMode::Fragment,
            Some("form_post") => ResponseMode::FormPost,
            Some(_) => ResponseMode::Query,
        };
        let redirect = Redirect {
            uri: redirect_uri.to_owned(),
            mode,
            state: params.get("state").map(str::to_owned),
            spa: platform == Platform::Spa,
        };
        let refuse = |e: AadError| Refusal::Redirect(redirect.clone(), e);
        let response_type = params
            .get("response_type")
            .ok_or_else(|| refuse(AadError::missing_parameter("response_type")))?;
        if response_type != "code" {
            return Err(refuse(AadError::unsupported_response_type(response_type)));
        }
        let scope = params
            .get("scope")
            .ok_or_else(|| refuse(AadError::missing_parameter("scope")))?;
        super::super::token::Scopes::parse(scope).map_err(refuse)?;
        let prompt = match params.get("prompt") {
            None => Prompt::Default,
            Some("login") => Prompt::Login,
            Some("none") => Prompt::None,
            Some("consent") => Prompt::Consent,
            Some("select_account") => Prompt::SelectAccount,
            Some(other) => return Err(refuse(AadError::invalid_prompt(other))),
        };
        let pkce = match params.get("code_challenge") {
            Some(challenge) => {
                if !is_pkce_value(challenge) {
                    return Err(refuse(AadError::invalid_code_challenge()));
                }
                let method = PkceMethod::parse(params.get("code_challenge_method"))
                    .ok_or_else(|| refuse(AadError::invalid_code_challenge_method()))?;
                Some(Pkce {
                    challenge: challenge.to_owned(),
                    method,
                })
            }
            None => None,
        };
        if pkce.is_none() && matches!(platform, Platform::Spa | Platform::PublicClient) {
            return Err(refuse(AadError::pkce_required()));
        }
        Ok(AuthorizationRequest {
            tid,
            client_id: app.client_id().to_ascii_lowercase(),
            scope: scope.to_owned(),
            nonce: params.get("nonce").map(str::to_owned),
            login_hint: params.get("login_hint").map(str::to_owned),
            prompt,
            target: Target::Code { redirect, pkce },
        })
    }
}

/// RFC 7636 4.1 and 4.2: 43 to 128 characters of `[A-Za-z0-9-._~]`.
fn is_pkce_value(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}
