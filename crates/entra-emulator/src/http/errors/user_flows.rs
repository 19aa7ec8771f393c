//! The `AADSTS` answers of the user flows: the authorize endpoint and sign-in pages, the
//! authorization code, refresh token and device code grants, and on-behalf-of.

use super::{AadError, sanitize};

impl AadError {
    /// The authorize request names a redirect URI the app has not registered (shown on a page).
    pub(crate) fn redirect_uri_mismatch(redirect_uri: &str, client_id: &str) -> AadError {
        AadError::bad_request(
            "invalid_request",
            50011,
            format!(
                "The redirect URI '{}' specified in the request does not match the redirect URIs \
                 configured for the application '{}'. Make sure the redirect URI sent in the \
                 request matches one added to your application in the Azure portal.",
                sanitize(redirect_uri),
                sanitize(client_id)
            ),
        )
    }

    /// `response_type` other than `code` (the emulator does not issue tokens from the
    /// authorize endpoint).
    pub(crate) fn unsupported_response_type(response_type: &str) -> AadError {
        AadError::bad_request(
            "unsupported_response_type",
            700054,
            format!(
                "response_type '{}' is not enabled for the application.",
                sanitize(response_type)
            ),
        )
    }

    /// A spa or public client redirect URI without a PKCE challenge.
    pub(crate) fn pkce_required() -> AadError {
        AadError::bad_request(
            "invalid_request",
            9002325,
            "Proof Key for Code Exchange is required for cross-origin authorization code \
             redemption."
                .to_owned(),
        )
    }

    /// `code_challenge_method` other than `S256` or `plain`.
    pub(crate) fn invalid_code_challenge_method() -> AadError {
        AadError::bad_request(
            "invalid_request",
            50146,
            "The code_challenge_method is not valid; it must be 'S256' or 'plain'.".to_owned(),
        )
    }

    /// `prompt` with a value Entra does not know.
    pub(crate) fn invalid_prompt(prompt: &str) -> AadError {
        AadError::bad_request(
            "invalid_request",
            90023,
            format!("Invalid 'prompt' parameter value '{}'.", sanitize(prompt)),
        )
    }

    /// `prompt=none` without a session.
    pub(crate) fn login_required() -> AadError {
        AadError::bad_request(
            "login_required",
            50058,
            "A silent sign-in request was sent but no user is signed in.".to_owned(),
        )
    }

    /// `prompt=none` when the signed-in user must still consent: Entra's `consent_required`.
    pub(crate) fn consent_required_silent(client_id: &str, scopes: &[String]) -> AadError {
        AadError::bad_request(
            "consent_required",
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

    /// The user pressed Cancel on the consent page.
    pub(crate) fn consent_declined() -> AadError {
        AadError::bad_request(
            "access_denied",
            65004,
            "User declined to consent to access the app.".to_owned(),
        )
    }

    /// Scopes only an administrator may consent to, not yet consented (shown on a page).
    pub(crate) fn admin_approval_required(client_id: &str, scopes: &[String]) -> AadError {
        AadError::bad_request(
            "access_denied",
            90094,
            format!(
                "The app '{}' needs permission to access resources in your organization that \
                 only an admin can grant. Please ask an admin to grant permission to this app \
                 before you can use it. Missing: {}",
                sanitize(client_id),
                sanitize(&scopes.join(" "))
            ),
        )
    }

    /// A code, refresh token or device code the emulator does not know (or revoked).
    pub(crate) fn invalid_grant() -> AadError {
        AadError::bad_request(
            "invalid_grant",
            70000,
            "Provided grant is invalid or malformed.".to_owned(),
        )
    }

    /// A code or refresh token past its lifetime.
    pub(crate) fn expired_grant() -> AadError {
        AadError::bad_request(
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. \
             Send a new interactive authorization request for this user and resource."
                .to_owned(),
        )
    }

    /// A refresh token issued to a single-page app, past its 24 hours.
    pub(crate) fn spa_refresh_token_expired() -> AadError {
        AadError::bad_request(
            "invalid_grant",
            700084,
            "The refresh token was issued to a single page app (SPA), and therefore has a fixed, \
             limited lifetime of 1.00:00:00, which cannot be extended. It is now expired and a \
             new sign in request must be sent by the SPA to the sign in page."
                .to_owned(),
        )
    }

    /// A code redeemed a second time.
    pub(crate) fn code_already_redeemed() -> AadError {
        AadError::bad_request(
            "invalid_grant",
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code \
             or use an existing refresh token."
                .to_owned(),
        )
    }

    /// The redemption's `redirect_uri` is not the one the code was sent to.
    pub(crate) fn code_redirect_mismatch() -> AadError {
        AadError::bad_request(
            "invalid_grant",
            500117,
            "The reply uri specified in the request isn't expected.".to_owned(),
        )
    }

    /// The code was issued to another client.
    pub(crate) fn code_client_mismatch() -> AadError {
        AadError::bad_request(
            "invalid_grant",
            70000,
            "Provided grant is invalid or malformed: the code was issued to another client."
                .to_owned(),
        )
    }

    /// `code_verifier` does not answer the code's challenge (or is missing).
    pub(crate) fn pkce_mismatch() -> AadError {
        AadError::bad_request(
            "invalid_grant",
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization \
             request."
                .to_owned(),
        )
    }

    /// A spa redirect URI's code redeemed without an `Origin` header.
    pub(crate) fn spa_requires_cross_origin() -> AadError {
        AadError::bad_request(
            "invalid_request",
            9002327,
            "Tokens issued for the 'Single-Page Application' client-type may only be redeemed \
             via cross-origin requests."
                .to_owned(),
        )
    }

    /// A code of another platform redeemed cross-origin (with an `Origin` header).
    pub(crate) fn cross_origin_only_for_spa() -> AadError {
        AadError::bad_request(
            "invalid_request",
            9002326,
            "Cross-origin token redemption is permitted only for the 'Single-Page Application' \
             client-type."
                .to_owned(),
        )
    }

    /// The device code is still waiting for the user.
    pub(crate) fn authorization_pending() -> AadError {
        AadError::bad_request(
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.".to_owned(),
        )
    }

    /// Polled faster than the interval allows.
    pub(crate) fn slow_down() -> AadError {
        AadError::bad_request(
            "slow_down",
            70016,
            "OAuth 2.0 device flow error. Polling too fast: wait the interval between polls."
                .to_owned(),
        )
    }

    /// The device code expired before the user finished.
    pub(crate) fn device_code_expired() -> AadError {
        AadError::bad_request(
            "expired_token",
            70020,
            "The provided value for the input parameter 'device_code' is not valid. This \
             device code has expired."
                .to_owned(),
        )
    }

    /// The user declined the device code sign-in.
    pub(crate) fn authorization_declined() -> AadError {
        AadError::bad_request(
            "authorization_declined",
            70018,
            "The user declined the authorization request.".to_owned(),
        )
    }

    /// An on-behalf-of `assertion` that is not a valid token for the calling app.
    pub(crate) fn invalid_obo_assertion(reason: &str) -> AadError {
        AadError::bad_request(
            "invalid_grant",
            50013,
            format!(
                "Assertion failed signature validation or is invalid: {}",
                sanitize(reason)
            ),
        )
    }

    /// A sign-in or consent page answered after its request was forgotten (expired, or
    /// already answered).
    pub(crate) fn sign_in_expired() -> AadError {
        AadError::bad_request(
            "invalid_request",
            50196,
            "This sign-in request has expired or was already completed. Start the sign-in again \
             from the application."
                .to_owned(),
        )
    }

    /// An authorization request with a parameter longer than the emulator keeps.
    pub(crate) fn request_too_long() -> AadError {
        AadError::bad_request(
            "invalid_request",
            90015,
            "Requested query string is too long.".to_owned(),
        )
    }

    /// A `code_challenge` that is not 43 to 128 characters of the unreserved set.
    pub(crate) fn invalid_code_challenge() -> AadError {
        AadError::bad_request(
            "invalid_request",
            501491,
            "Invalid size of Code_Challenge parameter.".to_owned(),
        )
    }
}
