//! Answers to the redirect URI, in the request's `response_mode`: `query` (a 302 with the
//! parameters in the query), `fragment` (in the fragment) or `form_post` (a self-submitting
//! form).

use axum::response::Response;

use super::request::{Redirect, ResponseMode};
use crate::http::form::encode_query_value;
use crate::http::{AadError, pages};

/// The code, with `state` and `session_state`.
pub(super) fn code(redirect: &Redirect, code: &str, sid: &str) -> Response {
    let mut params = vec![("code", code.to_owned())];
    if let Some(s) = &redirect.state {
        params.push(("state", s.clone()));
    }
    params.push(("session_state", sid.to_owned()));
    send(redirect, &params)
}

/// An error: `error`, `error_description` (with the AADSTS code), `error_codes` is not sent
/// on redirects by Entra; `state` echoed.
pub(super) fn error(redirect: &Redirect, e: &AadError) -> Response {
    tracing::debug!(
        code = e.code,
        error = e.error,
        "authorization request refused"
    );
    let mut params = vec![
        ("error", e.error.to_owned()),
        (
            "error_description",
            format!("AADSTS{}: {}", e.code, e.message),
        ),
    ];
    if let Some(s) = &redirect.state {
        params.push(("state", s.clone()));
    }
    send(redirect, &params)
}

fn send(redirect: &Redirect, params: &[(&str, String)]) -> Response {
    let encoded: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode_query_value(v)))
        .collect();
    let encoded = encoded.join("&");
    let location = match redirect.mode {
        ResponseMode::FormPost => return pages::form_post(&redirect.uri, params),
        ResponseMode::Query => {
            let sep = if redirect.uri.contains('?') { '&' } else { '?' };
            format!("{}{sep}{encoded}", redirect.uri)
        }
        ResponseMode::Fragment => format!("{}#{encoded}", redirect.uri),
    };
    crate::http::found(&location)
}
