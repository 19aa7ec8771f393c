//! Axum extractors: [`Claims`], `Option<Claims>`, [`BearerToken`] and [`CustomClaims`].
//!
//! They read what [`EntraAuthLayer`](crate::EntraAuthLayer) put into the request extensions.
//! Without the layer (a routing mistake) `Claims` rejects with 401: fail closed.
//!
//! ```
//! use entra_auth::{Claims, CustomClaims};
//!
//! async fn anyone(claims: Option<Claims>) -> String {
//!     match claims {
//!         Some(c) => format!("hello {}", c.subject()),
//!         None => "hello stranger".into(),
//!     }
//! }
//!
//! #[derive(serde::Deserialize)]
//! struct Extra { ctry: Option<String> }
//!
//! async fn country(CustomClaims(extra): CustomClaims<Extra>) -> String {
//!     extra.ctry.unwrap_or_default()
//! }
//! # let _ = axum::Router::<()>::new()
//! #     .route("/a", axum::routing::get(anyone))
//! #     .route("/b", axum::routing::get(country));
//! ```

use std::convert::Infallible;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use serde::de::DeserializeOwned;

use crate::claims::{BearerToken, Claims};
use crate::error::{AuthError, InvalidToken};
use crate::rejection::{AuthRejection, realm_of};

/// A 401 for a request without validated claims, with the realm of the layer (if any).
fn missing_token(parts: &Parts) -> AuthRejection {
    AuthRejection::new(AuthError::MissingToken, realm_of(&parts.extensions))
}

impl<S: Send + Sync> FromRequestParts<S> for Claims {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Claims>()
            .cloned()
            .ok_or_else(|| missing_token(parts))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Claims {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Claims>().cloned())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for BearerToken {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Claims>()
            .and_then(Claims::bearer_token)
            .ok_or_else(|| missing_token(parts))
    }
}

/// Extracts the validated claims into your own type. A token whose claims do not fit `T` is
/// answered with `401 invalid_token`.
#[derive(Debug, Clone)]
pub struct CustomClaims<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for CustomClaims<T> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let claims = parts
            .extensions
            .get::<Claims>()
            .ok_or_else(|| missing_token(parts))?;
        claims.deserialize().map(CustomClaims).map_err(|_| {
            AuthRejection::new(
                AuthError::InvalidToken(InvalidToken::InvalidClaim("custom")),
                claims.0.realm.clone(),
            )
        })
    }
}
