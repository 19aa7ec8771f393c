//! What the extractors and [`Require`](crate::Require) reject with: an [`AuthError`] answered
//! with the `realm` of the layer that saw the request, like the layer's own answers.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};

use crate::error::AuthError;

/// What the extractors ([`Claims`](crate::Claims), [`BearerToken`](crate::BearerToken),
/// [`CustomClaims`](crate::CustomClaims)) and [`Require`](crate::Require) reject with: an
/// [`AuthError`] answered with the `realm` of the [`EntraAuthLayer`](crate::EntraAuthLayer)
/// that saw the request, like the layer's own answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct AuthRejection {
    error: AuthError,
    realm: Option<Arc<str>>,
}

impl AuthRejection {
    pub(crate) fn new(error: AuthError, realm: Option<Arc<str>>) -> Self {
        Self { error, realm }
    }

    /// The error.
    pub fn error(&self) -> &AuthError {
        &self.error
    }

    /// The realm the answer carries, if the layer has one.
    pub fn realm(&self) -> Option<&str> {
        self.realm.as_deref()
    }

    /// The error, without the realm.
    pub fn into_error(self) -> AuthError {
        self.error
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        self.error.to_response(self.realm.as_deref())
    }
}

/// Put into the extensions of a request that the layer let through without a token (an optional
/// layer), so that later rejections carry the layer's realm; with a token, [`Claims`] carry it.
///
/// [`Claims`]: crate::Claims
#[derive(Debug, Clone)]
pub(crate) struct Realm(pub(crate) Arc<str>);

/// The realm of the layer that saw this request, if it has one.
pub(crate) fn realm_of(extensions: &http::Extensions) -> Option<Arc<str>> {
    match extensions.get::<crate::Claims>() {
        Some(claims) => claims.0.realm.clone(),
        None => extensions.get::<Realm>().map(|r| Arc::clone(&r.0)),
    }
}
