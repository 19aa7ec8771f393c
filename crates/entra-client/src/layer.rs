//! Attaching tokens to outgoing requests: a tower [`Layer`] and a `reqwest` extension.
//!
//! ```no_run
//! use entra_client::{BearerTokenLayer, ClientCredentials, RequestBuilderExt};
//! use tower::{Layer, ServiceExt, service_fn};
//!
//! # async fn demo(creds: ClientCredentials) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! // With tower: every request gets `Authorization: Bearer <token>`.
//! let inner = service_fn(|req: http::Request<String>| async move {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
//! });
//! let service = BearerTokenLayer::new(creds.clone(), "api://my-api/.default").layer(inner);
//! let _response = service.oneshot(http::Request::new(String::new())).await?;
//!
//! // With reqwest:
//! let response = reqwest::Client::new()
//!     .get("https://my-api.example.com/items")
//!     .with_entra_token(&creds, "api://my-api/.default")
//!     .await?
//!     .send()
//!     .await?;
//! # let _ = response; Ok(()) }
//! ```

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower::{Layer, Service};

use crate::{Error, TokenCredential};

/// The error type of [`BearerTokenService`]: a token [`Error`] or the inner service's error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A tower [`Layer`] that sets `Authorization: Bearer <token>` on outgoing [`http::Request`]s,
/// with a (cached) token for one scope from any [`TokenCredential`].
///
/// A request that already has an `Authorization` header is replaced. When no token can be
/// obtained, the request is not sent and the service fails with the token [`Error`] (boxed).
#[derive(Clone)]
pub struct BearerTokenLayer {
    credentials: Arc<dyn TokenCredential>,
    scope: Arc<str>,
}

impl BearerTokenLayer {
    /// A layer adding tokens for `scope` (e.g. `api://my-api/.default`) from `credentials`.
    pub fn new(credentials: impl TokenCredential + 'static, scope: impl Into<String>) -> Self {
        BearerTokenLayer {
            credentials: Arc::new(credentials),
            scope: Arc::from(scope.into()),
        }
    }
}

impl fmt::Debug for BearerTokenLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerTokenLayer")
            .field("credentials", &self.credentials)
            .field("scope", &self.scope)
            .finish()
    }
}

impl<S> Layer<S> for BearerTokenLayer {
    type Service = BearerTokenService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerTokenService {
            inner,
            credentials: self.credentials.clone(),
            scope: self.scope.clone(),
        }
    }
}

/// The service made by [`BearerTokenLayer`].
#[derive(Clone)]
pub struct BearerTokenService<S> {
    inner: S,
    credentials: Arc<dyn TokenCredential>,
    scope: Arc<str>,
}

impl<S: fmt::Debug> fmt::Debug for BearerTokenService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerTokenService")
            .field("inner", &self.inner)
            .field("credentials", &self.credentials)
            .field("scope", &self.scope)
            .finish()
    }
}

impl<S, B> Service<http::Request<B>> for BearerTokenService<S>
where
    S: Service<http::Request<B>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // Take the service that was driven to readiness, leave a clone in its place.
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        let credentials = self.credentials.clone();
        let scope = self.scope.clone();
        Box::pin(async move {
            let value = credentials
                .authorization_header(&[&scope])
                .await
                .map_err(|e: Error| -> BoxError { Box::new(e) })?;
            request
                .headers_mut()
                .insert(http::header::AUTHORIZATION, value);
            ready.call(request).await.map_err(Into::into)
        })
    }
}

/// Adds a (cached) Entra ID token to a [`reqwest::RequestBuilder`].
pub trait RequestBuilderExt: Sized {
    /// Sets `Authorization: Bearer <token>` with a token for `scope` from `credentials`.
    fn with_entra_token<C: TokenCredential + ?Sized>(
        self,
        credentials: &C,
        scope: &str,
    ) -> impl Future<Output = Result<Self, Error>> + Send;
}

impl RequestBuilderExt for reqwest::RequestBuilder {
    async fn with_entra_token<C: TokenCredential + ?Sized>(
        self,
        credentials: &C,
        scope: &str,
    ) -> Result<Self, Error> {
        let value = credentials.authorization_header(&[scope]).await?;
        Ok(self.header(http::header::AUTHORIZATION, value))
    }
}
