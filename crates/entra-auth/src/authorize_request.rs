//! [`EntraAuthorize`]: the layer's checks as a tower-http
//! [`AsyncAuthorizeRequest`] policy (feature
//! `tower-http-auth`), for stacks built from tower-http's
//! [`AsyncRequireAuthorizationLayer`](tower_http::auth::AsyncRequireAuthorizationLayer).
//!
//! ```
//! use axum::{Router, routing::get};
//! use entra_auth::{Claims, EntraAuthorize, EntraConfig};
//! use tower_http::auth::AsyncRequireAuthorizationLayer;
//!
//! let config = EntraConfig::builder()
//!     .tenant("72f988bf-86f1-41af-91ab-2d7cd011db47")
//!     .client_id("6e74172b-be56-4843-9ff4-e66a39bb12e3")
//!     .build()
//!     .unwrap();
//! let app: Router = Router::new()
//!     .route("/me", get(|claims: Claims| async move { claims.subject().to_owned() }))
//!     .layer(AsyncRequireAuthorizationLayer::new(EntraAuthorize::new(config)));
//! ```
//!
//! The answers are the layer's, and so is the policy's own fast path: a cache hit or a decision
//! without I/O is a ready future, boxed only when keys must be fetched. What it cannot avoid is
//! tower-http's: `AsyncRequireAuthorization` clones the inner service on every request (for an
//! axum route, a boxed clone); [`EntraAuthLayer`](crate::EntraAuthLayer) calls the service
//! driven to readiness instead, so prefer it where nothing requires the tower-http form.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use http::Request;
use tower_http::auth::AsyncAuthorizeRequest;

use crate::admission::{Admission, admit, finish};
use crate::authenticator::Authenticator;
use crate::config::EntraConfig;

/// The checks of [`EntraAuthLayer`](crate::EntraAuthLayer), as an `AsyncAuthorizeRequest`
/// policy. Cheap to clone.
#[derive(Clone, Debug)]
pub struct EntraAuthorize {
    auth: Authenticator,
    optional: bool,
}

impl EntraAuthorize {
    /// A policy that requires a valid token on every request.
    pub fn new(config: EntraConfig) -> Self {
        Self::from_authenticator(Authenticator::new(config))
    }

    /// A policy around an existing [`Authenticator`] (sharing its keys and caches).
    pub fn from_authenticator(auth: Authenticator) -> Self {
        Self {
            auth,
            optional: false,
        }
    }

    /// Lets requests without any token through anonymously, as
    /// [`EntraAuthLayer::optional`](crate::EntraAuthLayer::optional) does.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// The authenticator.
    pub fn authenticator(&self) -> &Authenticator {
        &self.auth
    }
}

impl<B: Send + 'static> AsyncAuthorizeRequest<B> for EntraAuthorize {
    type RequestBody = B;
    type ResponseBody = Body;
    type Future = AuthorizeFuture<B>;

    fn authorize(&mut self, mut request: Request<B>) -> Self::Future {
        let decided = match admit(&self.auth, self.optional, &mut request) {
            Admission::Pass => Ok(request),
            Admission::Answer(response) => Err(response),
            Admission::Validate(token) => {
                let auth = self.auth.clone();
                return AuthorizeFuture(Decision::Later(Box::pin(async move {
                    finish(&auth, &mut request, token).await.map(|()| request)
                })));
            }
        };
        AuthorizeFuture(Decision::Now(Some(decided)))
    }
}

type Later<B> = Pin<Box<dyn Future<Output = Result<Request<B>, Response>> + Send>>;

/// The future of [`EntraAuthorize`]: ready at once unless keys must be fetched.
pub struct AuthorizeFuture<B>(Decision<B>);

// `Now` is the common case (a hit, or a decision without I/O): boxing it would add the
// allocation this future exists to avoid.
#[allow(clippy::large_enum_variant)]
enum Decision<B> {
    Now(Option<Result<Request<B>, Response>>),
    Later(Later<B>),
}

// Nothing in it is pinned: the request waits in an `Option`, the deferred work in a `Box`.
impl<B> Unpin for AuthorizeFuture<B> {}

impl<B> Future for AuthorizeFuture<B> {
    type Output = Result<Request<B>, Response>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().0 {
            Decision::Now(decided) => match decided.take() {
                Some(decided) => Poll::Ready(decided),
                // Polled again after completion: a contract violation; never completes again.
                None => Poll::Pending,
            },
            Decision::Later(future) => future.as_mut().poll(cx),
        }
    }
}

impl<B> std::fmt::Debug for AuthorizeFuture<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthorizeFuture")
    }
}
