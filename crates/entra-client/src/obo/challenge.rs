//! Entra's answers that only the user can resolve (consent, a claims challenge, MFA), as typed
//! errors, and the answer an API gives its own caller for them.

use std::fmt;

use base64::Engine;
use http::{HeaderValue, Response, StatusCode};

use crate::{EntraError, Error};

/// AADSTS codes of "the user must do something first" answers: MFA required (50076), MFA
/// registration required (50079), an external security challenge (50158), strong
/// authentication required (50074, 50072 registration).
const INTERACTION_CODES: [u32; 5] = [50072, 50074, 50076, 50079, 50158];

/// Entra's answer to an on-behalf-of request that only the user (or an administrator) can
/// resolve: the content of [`Error::ConsentRequired`] and [`Error::UiRequired`], what
/// Microsoft.Identity.Web surfaces as `MsalUiRequiredException`.
///
/// The API cannot resolve it itself: it tells its caller (the client app that holds the user's
/// session) what to do with [`Error::challenge_response`].
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DownstreamChallenge {
    /// Entra's error response.
    pub entra: EntraError,
    /// The downstream scopes that were asked for (space-separated).
    pub scope: String,
}

impl DownstreamChallenge {
    /// The claims challenge (a JSON object, as text), when Entra sent one.
    pub fn claims(&self) -> Option<&str> {
        self.entra.claims.as_deref()
    }

    /// The answer for the API's caller; see [`Error::challenge_response`].
    fn response(&self, consent: bool) -> Response<String> {
        let (status, mut params, body) = if consent {
            let description = "consent required for the downstream API";
            (
                StatusCode::FORBIDDEN,
                vec![
                    ("error", "insufficient_scope".to_owned()),
                    ("error_description", description.to_owned()),
                    ("scope", self.scope.clone()),
                    ("proposedAction", "consent".to_owned()),
                ],
                serde_json::json!({
                    "error": "consent_required",
                    "error_description": description,
                    "scope": self.scope,
                }),
            )
        } else if let Some(claims) = self.claims() {
            let encoded = base64::engine::general_purpose::STANDARD.encode(claims);
            let description = "the downstream API requires more claims";
            (
                StatusCode::UNAUTHORIZED,
                vec![
                    ("error", "insufficient_claims".to_owned()),
                    ("error_description", description.to_owned()),
                    ("claims", encoded.clone()),
                ],
                serde_json::json!({
                    "error": "insufficient_claims",
                    "error_description": description,
                    "claims": encoded,
                }),
            )
        } else {
            let description = "the user must sign in again interactively";
            (
                StatusCode::UNAUTHORIZED,
                vec![
                    ("error", "interaction_required".to_owned()),
                    ("error_description", description.to_owned()),
                ],
                serde_json::json!({
                    "error": "interaction_required",
                    "error_description": description,
                }),
            )
        };
        let mut header = www_authenticate(&params);
        if header.is_none() {
            // A scope with characters a header cannot carry: leave it out.
            params.retain(|(name, _)| *name != "scope");
            header = www_authenticate(&params);
        }
        let mut response = Response::new(body.to_string());
        *response.status_mut() = status;
        let headers = response.headers_mut();
        if let Some(value) = header {
            headers.insert(http::header::WWW_AUTHENTICATE, value);
        }
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
        response
    }
}

/// `Bearer name="value", ...`, values as quoted strings.
fn www_authenticate(params: &[(&str, String)]) -> Option<HeaderValue> {
    let params: Vec<String> = params
        .iter()
        .map(|(name, value)| {
            let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
            format!("{name}=\"{escaped}\"")
        })
        .collect();
    HeaderValue::try_from(format!("Bearer {}", params.join(", "))).ok()
}

impl fmt::Debug for DownstreamChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DownstreamChallenge")
            .field("entra", &self.entra)
            .field("scope", &self.scope)
            .finish()
    }
}

impl Error {
    /// The consent or interaction challenge of an on-behalf-of request, if this is one.
    pub fn downstream_challenge(&self) -> Option<&DownstreamChallenge> {
        match self {
            Error::ConsentRequired(c) | Error::UiRequired(c) => Some(c),
            _ => None,
        }
    }

    /// For [`Error::ConsentRequired`] and [`Error::UiRequired`], the answer an API gives its
    /// caller; `None` for any other error, which is the API's own failure (typically a 500 or
    /// 502 for its caller).
    ///
    /// - consent required (AADSTS65001): `403 Forbidden` with
    ///   `WWW-Authenticate: Bearer error="insufficient_scope", error_description="consent
    ///   required", scope="<downstream scopes>", proposedAction="consent"`; the client app has the
    ///   user (or an admin) consent, for example by signing in again with `prompt=consent` or
    ///   through the middle tier's `knownClientApplications`;
    /// - a claims challenge: `401 Unauthorized` with `WWW-Authenticate: Bearer
    ///   error="insufficient_claims", claims="<base64 of the claims JSON>"`, the format of
    ///   Microsoft's Conditional Access and CAE challenges, which MSAL clients pass back as
    ///   `claims` in their next interactive request;
    /// - an interaction without claims (MFA): `401 Unauthorized` with `WWW-Authenticate: Bearer
    ///   error="interaction_required"`.
    ///
    /// The body is a small JSON object (`error`, `error_description`, and `claims` or `scope`).
    /// The description is fixed text: Entra's own description (which names apps and
    /// permissions) stays in the server's logs.
    ///
    /// An `http::Response<String>` is an axum response as it is (`IntoResponse`), so a handler
    /// returns it directly:
    ///
    /// ```no_run
    /// use axum::extract::State;
    /// use axum::response::{IntoResponse, Response};
    /// use entra_client::OnBehalfOf;
    ///
    /// // With entra-auth, take its `BearerToken` extractor and pass `token.as_str()`.
    /// async fn profile(State(obo): State<OnBehalfOf>, headers: http::HeaderMap) -> Result<String, Response> {
    ///     let user_token = headers
    ///         .get(http::header::AUTHORIZATION)
    ///         .and_then(|v| v.to_str().ok())
    ///         .and_then(|v| v.strip_prefix("Bearer "))
    ///         .ok_or_else(|| http::StatusCode::UNAUTHORIZED.into_response())?;
    ///     let graph = obo
    ///         .token(user_token, &["https://graph.microsoft.com/User.Read"])
    ///         .await
    ///         .map_err(|e| match e.challenge_response() {
    ///             Some(challenge) => challenge.into_response(), // 401 / 403 for the caller
    ///             None => http::StatusCode::BAD_GATEWAY.into_response(),
    ///         })?;
    ///     // ... call Graph with `graph.secret()`
    ///     # let _ = graph;
    ///     Ok(String::new())
    /// }
    /// # let _app: axum::Router<OnBehalfOf> = axum::Router::new().route("/me", axum::routing::get(profile));
    /// ```
    pub fn challenge_response(&self) -> Option<Response<String>> {
        match self {
            Error::ConsentRequired(c) => Some(c.response(true)),
            Error::UiRequired(c) => Some(c.response(false)),
            _ => None,
        }
    }
}

/// Turns Entra's consent and interaction answers to an on-behalf-of request for `scope` into
/// [`Error::ConsentRequired`] and [`Error::UiRequired`]; other errors pass unchanged.
pub(crate) fn classify(error: Error, scope: &str) -> Error {
    let Error::Entra(entra) = error else {
        return error;
    };
    let code = entra.aadsts_code();
    let has = |c: u32| code == Some(c) || entra.error_codes.contains(&c);
    let consent = entra.error == "consent_required"
        || entra.suberror.as_deref() == Some("consent_required")
        || has(65001);
    let interaction = entra.error == "interaction_required"
        || entra.claims.is_some()
        || INTERACTION_CODES.iter().any(|&c| has(c));
    let challenge = |entra: Box<EntraError>| {
        Box::new(DownstreamChallenge {
            entra: *entra,
            scope: scope.to_owned(),
        })
    };
    if consent {
        Error::ConsentRequired(challenge(entra))
    } else if interaction {
        Error::UiRequired(challenge(entra))
    } else {
        Error::Entra(entra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entra(body: &str) -> Error {
        Error::from(EntraError::parse(400, body.as_bytes(), None).expect("an OAuth2 error"))
    }

    const CLAIMS: &str = r#"{"access_token":{"capolids":{"essential":true,"values":["c1"]}}}"#;

    #[test]
    fn consent_interaction_and_others() {
        let e = classify(
            entra(
                r#"{"error":"invalid_grant","error_description":"AADSTS65001: The user or administrator has not consented","error_codes":[65001],"suberror":"consent_required"}"#,
            ),
            "api://down/Orders.Read",
        );
        assert!(matches!(e, Error::ConsentRequired(_)), "{e:?}");
        assert_eq!(e.aadsts_code(), Some(65001));
        assert_eq!(e.status(), Some(400));
        assert!(!e.is_retryable());

        let body = serde_json::json!({
            "error": "interaction_required",
            "error_description": "AADSTS50076: you must use multi-factor authentication",
            "error_codes": [50076],
            "claims": CLAIMS,
        })
        .to_string();
        let e = classify(entra(&body), "api://down/.default");
        assert!(matches!(e, Error::UiRequired(_)), "{e:?}");
        assert_eq!(e.downstream_challenge().unwrap().claims(), Some(CLAIMS));

        // MFA registration, described only by its code.
        let e = classify(
            entra(r#"{"error":"invalid_grant","error_codes":[50079]}"#),
            "s",
        );
        assert!(matches!(e, Error::UiRequired(_)), "{e:?}");
        assert_eq!(e.downstream_challenge().unwrap().claims(), None);

        // A bad assertion is the API's problem, not the user's.
        let e = classify(
            entra(r#"{"error":"invalid_grant","error_codes":[50013]}"#),
            "s",
        );
        assert!(matches!(e, Error::Entra(_)), "{e:?}");
        assert!(e.challenge_response().is_none());
        let e = classify(Error::Config("x".into()), "s");
        assert!(matches!(e, Error::Config(_)));
    }

    #[test]
    fn responses() {
        let e = classify(
            entra(r#"{"error":"invalid_grant","error_codes":[65001]}"#),
            r#"api://down/Orders.Read "quoted""#,
        );
        let r = e.challenge_response().unwrap();
        assert_eq!(r.status(), 403);
        assert_eq!(
            r.headers()[http::header::WWW_AUTHENTICATE],
            r#"Bearer error="insufficient_scope", error_description="consent required for the downstream API", scope="api://down/Orders.Read \"quoted\"", proposedAction="consent""#
        );
        let body: serde_json::Value = serde_json::from_str(r.body()).unwrap();
        assert_eq!(body["error"], "consent_required");

        let body =
            serde_json::json!({"error": "interaction_required", "claims": CLAIMS}).to_string();
        let r = classify(entra(&body), "s").challenge_response().unwrap();
        assert_eq!(r.status(), 401);
        let value = r.headers()[http::header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap();
        let encoded = base64::engine::general_purpose::STANDARD.encode(CLAIMS);
        assert_eq!(
            value,
            format!(
                r#"Bearer error="insufficient_claims", error_description="the downstream API requires more claims", claims="{encoded}""#
            )
        );

        let r = classify(entra(r#"{"error":"interaction_required"}"#), "s")
            .challenge_response()
            .unwrap();
        assert_eq!(r.status(), 401);
        assert!(
            r.headers()[http::header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with(r#"Bearer error="interaction_required""#)
        );

        // A scope a header cannot carry is left out, the rest stays.
        let e = classify(
            entra(r#"{"error":"invalid_grant","error_codes":[65001]}"#),
            "api://down/\u{7f}",
        );
        let r = e.challenge_response().unwrap();
        let value = r.headers()[http::header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap();
        assert!(!value.contains("scope="), "{value}");
        assert!(value.contains("proposedAction"), "{value}");
    }
}
