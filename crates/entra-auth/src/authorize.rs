//! Per-route authorization: any-of scopes, any-of app roles, allowed calling apps.
//!
//! [`Require`] is a tower layer for `Router::route_layer`. It runs after
//! [`EntraAuthLayer`](crate::EntraAuthLayer) and answers `403 insufficient_scope` (with a
//! `scope=` hint) when the validated token lacks what the route needs.
//!
//! ```
//! use axum::{Router, routing::get};
//! use entra_auth::Require;
//!
//! let app: Router = Router::new()
//!     .route("/admin", get(|| async { "admin" }).route_layer(Require::any_role(["Api.Admin"])))
//!     .route(
//!         "/files",
//!         get(|| async { "files" })
//!             .route_layer(Require::any_scope(["Files.Read"]).or_roles(["Files.Read.All"])),
//!     );
//! ```
//!
//! Delegated tokens carry scopes (`scp`), app-only tokens carry app roles (`roles`): a route that
//! serves both lists both, and a token with any one of them passes. An ID token (accepted only
//! with [`accept_id_tokens`](crate::EntraConfigBuilder::accept_id_tokens)) never passes a
//! requirement of scopes, roles or calling apps: it was not issued for the API.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::BoxError;
use axum::body::{Bytes, HttpBody};
use axum::response::Response;
use http::Request;
use tower::{Layer, Service};

use crate::claims::{Claims, TokenKind};
use crate::error::AuthError;
use crate::layer::ResponseFuture;
use crate::rejection::realm_of;

/// What a route requires of a validated token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct Require {
    scopes: Vec<String>,
    roles: Vec<String>,
    apps: Vec<String>,
}

impl Require {
    /// Any one of these delegated scopes (`scp`).
    pub fn any_scope<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::default().or_scopes(scopes)
    }

    /// Any one of these app roles (`roles`).
    pub fn any_role<I, S>(roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::default().or_roles(roles)
    }

    /// Only these calling applications (`azp` / `appid`).
    pub fn calling_apps<I, S>(apps: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::default().and_calling_apps(apps)
    }

    /// Also accept any of these scopes.
    pub fn or_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Also accept any of these app roles.
    pub fn or_roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles.extend(roles.into_iter().map(Into::into));
        self
    }

    /// Additionally require the calling application to be one of these client ids.
    pub fn and_calling_apps<I, S>(mut self, apps: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.apps.extend(apps.into_iter().map(Into::into));
        self
    }

    /// Checks claims against the requirement.
    pub fn check(&self, claims: &Claims) -> Result<(), AuthError> {
        let needs_grant = !self.scopes.is_empty() || !self.roles.is_empty();
        // An ID token grants nothing (its claims show no scopes or roles either; this does not
        // rely on that).
        let granted = claims.token_kind() == TokenKind::Access
            && (self.scopes.iter().any(|s| claims.has_scope(s))
                || self.roles.iter().any(|r| claims.has_role(r)));
        if needs_grant && !granted {
            let mut wanted: Vec<String> = Vec::new();
            if !self.scopes.is_empty() {
                wanted.push(format!("scope {}", self.scopes.join(" or ")));
            }
            if !self.roles.is_empty() {
                wanted.push(format!("app role {}", self.roles.join(" or ")));
            }
            return Err(AuthError::InsufficientScope {
                description: format!("this resource requires {}", wanted.join(", or ")),
                scope_hint: self
                    .scopes
                    .iter()
                    .chain(&self.roles)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" "),
            });
        }
        if !self.apps.is_empty()
            && !claims
                .app_id()
                .is_some_and(|a| self.apps.iter().any(|x| x == a))
        {
            return Err(AuthError::InsufficientScope {
                description: "the calling application is not allowed to use this resource".into(),
                scope_hint: String::new(),
            });
        }
        Ok(())
    }
}

impl<S> Layer<S> for Require {
    type Service = RequireService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireService {
            inner,
            requirement: Arc::new(self.clone()),
        }
    }
}

/// The service produced by [`Require`].
#[derive(Debug, Clone)]
pub struct RequireService<S> {
    inner: S,
    requirement: Arc<Require>,
}

impl<S, B, ResBody> Service<Request<B>> for RequireService<S>
where
    S: Service<Request<B>, Response = http::Response<ResBody>> + Clone,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    // The layer's response future: the inner service's future, or a ready answer; no boxing.
    type Future = ResponseFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let verdict = match request.extensions().get::<Claims>() {
            Some(claims) => self.requirement.check(claims),
            None => Err(AuthError::MissingToken),
        };
        match verdict {
            Ok(()) => {
                // Take the service that was driven to readiness; leave a clone for the next call.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::inner(inner.call(request))
            }
            Err(e) => {
                tracing::debug!(error = %e, "request not authorized");
                let response = e.to_response(realm_of(request.extensions()).as_deref());
                ResponseFuture::ready(response)
            }
        }
    }
}
