//! What the layer (and the tower-http policy) decide about a request before any I/O: let it
//! through with its claims, answer it now, or validate its token with keys still to fetch.
//!
//! Most requests never reach the third case: a token verified earlier is a cache hit (looked up
//! by its bytes: no scan, no allocation), and a full validation needs no I/O once keys are
//! loaded (rejections included), so neither costs a boxed future nor a clone of the inner
//! service.

use http::Request;

use crate::authenticator::Authenticator;
use crate::claims::{BearerToken, Claims};
use crate::error::AuthError;
use crate::rejection::Realm;
use crate::token_source::{credential_text, extract_token};
use axum::response::Response;

/// The decision about one request. The request itself stays with the caller (it is not moved
/// in and out of the decision: a request is a few hundred bytes to copy).
pub(crate) enum Admission {
    /// Let it through: its claims are in its extensions (or it is anonymous, on an optional
    /// layer).
    Pass,
    /// Answer it with this (401 / 503), without calling the inner service.
    Answer(Response),
    /// Validate this token once keys are fetched ([`finish`]).
    Validate(BearerToken),
}

/// Decides about `request` without I/O (putting its claims in its extensions when it passes).
pub(crate) fn admit<B>(
    auth: &Authenticator,
    optional: bool,
    request: &mut Request<B>,
) -> Admission {
    let sources = &auth.config().inner.sources;
    let token = match extract_token(request.headers(), request.uri().query(), sources) {
        Ok(Some(token)) => token,
        Ok(None) if optional => {
            // Anonymous: later rejections (extractors, `Require`) answer with our realm.
            if let Some(realm) = auth.realm() {
                request.extensions_mut().insert(Realm(realm));
            }
            return Admission::Pass;
        }
        Ok(None) => return Admission::Answer(auth.refuse(AuthError::MissingToken)),
        Err(e) => {
            tracing::debug!(reason = e.code(), "rejected request: malformed credentials");
            return Admission::Answer(auth.refuse(e.into()));
        }
    };
    // Fast path: a token verified earlier.
    if let Some(claims) = auth.cached_claims_for(token.as_bytes()) {
        request.extensions_mut().insert(claims);
        return Admission::Pass;
    }
    // The token must be ASCII text holding one credential (a hit is an exact match with a
    // verified token, so the fast path skipped this).
    let text = match credential_text(token.as_bytes()) {
        Ok(text) => text,
        Err(e) => return Admission::Answer(auth.refuse(e.into())),
    };
    // Decided without I/O: most validations, and nearly every rejection (malformed, wrong
    // algorithm, unknown key in the cooldown, tenant not allowed, bad signature).
    match auth.validate_now(text) {
        Some(result) => match settle(auth, request, result) {
            Ok(()) => Admission::Pass,
            Err(response) => Admission::Answer(response),
        },
        None => Admission::Validate(token.into_token()),
    }
}

/// Validates `token` (fetching keys as needed): `Ok` with the claims put in `request`'s
/// extensions, or the answer to send instead.
// The shape of tower-http's `AsyncAuthorizeRequest`; boxing the answer would cost an allocation
// per refusal.
#[allow(clippy::result_large_err)]
pub(crate) async fn finish<B>(
    auth: &Authenticator,
    request: &mut Request<B>,
    token: BearerToken,
) -> Result<(), Response> {
    let result = auth.validate_uncached(token.as_str()).await;
    settle(auth, request, result)
}

#[allow(clippy::result_large_err)] // as `finish`
fn settle<B>(
    auth: &Authenticator,
    request: &mut Request<B>,
    result: Result<Claims, AuthError>,
) -> Result<(), Response> {
    match result {
        Ok(claims) => {
            tracing::trace!(
                tid = claims.tenant_id().unwrap_or(""),
                oid = claims.object_id().unwrap_or(""),
                app = claims.app_id().unwrap_or(""),
                "token accepted"
            );
            request.extensions_mut().insert(claims);
            Ok(())
        }
        Err(e) => {
            record_failure(&e);
            Err(auth.reject(&e))
        }
    }
}

fn record_failure(e: &AuthError) {
    match e {
        AuthError::InvalidToken(reason) => {
            tracing::debug!(reason = reason.code(), "rejected request: invalid token");
        }
        // Debug, not warn: any well-formed token reaches this during an outage, and the refresh
        // itself warns once per attempt.
        AuthError::KeysUnavailable { reason, .. } => {
            tracing::debug!(error = %reason, "rejected request: signing keys unavailable");
        }
        other => tracing::debug!(error = %other, "rejected request"),
    }
}
