//! [`EntraAuthLayer`]: the tower layer that authenticates every request.
//!
//! The layer reads the bearer token (the `Authorization` header; a query parameter or cookie
//! only when configured), validates it, and puts [`Claims`](crate::Claims) (which also yields
//! the [`BearerToken`](crate::BearerToken)) into the request extensions for handlers. Failures
//! are answered right there (401 / 503) and never reach the inner service. With [`EntraAuthLayer::optional`], requests *without* a token pass through
//! anonymously, while a token that is present but invalid is still rejected.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::BoxError;
use axum::body::{Body, Bytes, HttpBody};
use axum::response::Response;
use http::Request;
use tower::{Layer, Service};

use crate::admission::{Admission, admit, finish};
use crate::authenticator::Authenticator;
use crate::config::EntraConfig;
use crate::error::AuthError;

/// Authenticates requests with Entra access tokens. Cheap to clone.
///
/// ```
/// use axum::{Router, routing::get};
/// use entra_auth::{Claims, EntraAuthLayer, EntraConfig};
///
/// async fn me(claims: Claims) -> String {
///     claims.object_id().unwrap_or_default().to_owned()
/// }
///
/// let config = EntraConfig::builder()
///     .tenant("72f988bf-86f1-41af-91ab-2d7cd011db47")
///     .client_id("6e74172b-be56-4843-9ff4-e66a39bb12e3")
///     .build()
///     .unwrap();
/// let app: Router = Router::new().route("/me", get(me)).layer(EntraAuthLayer::new(config));
/// ```
///
/// Applied with `Router::layer`, as above, it covers the routes added before it and the
/// fallback, and axum wraps each of those routes in a route of its own to do so. Wrapping the
/// whole `Router` instead puts every request behind the layer, health checks included, and saves
/// that per-route wrapping: about 850 instructions per request on a cached token in
/// `bench/compare.sh` (BENCHMARKS.md), close to a third of what the layer adds.
///
/// ```
/// use axum::{Router, ServiceExt, extract::Request, routing::get};
/// use entra_auth::{Claims, EntraAuthLayer, EntraConfig};
/// use tower::Layer;
///
/// async fn me(claims: Claims) -> String {
///     claims.object_id().unwrap_or_default().to_owned()
/// }
///
/// # async fn serve(config: EntraConfig) -> std::io::Result<()> {
/// let app = EntraAuthLayer::new(config).layer(Router::new().route("/me", get(me)));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// axum::serve(listener, ServiceExt::<Request>::into_make_service(app)).await
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct EntraAuthLayer {
    auth: Authenticator,
    optional: bool,
}

impl EntraAuthLayer {
    /// A layer that requires a valid token on every request. No `.await`, no I/O: keys are
    /// fetched on first use (or call [`prefetch`](Self::prefetch)).
    pub fn new(config: EntraConfig) -> Self {
        Self::from_authenticator(Authenticator::new(config))
    }

    /// A layer around an existing [`Authenticator`] (sharing its keys and caches).
    pub fn from_authenticator(auth: Authenticator) -> Self {
        Self {
            auth,
            optional: false,
        }
    }

    /// Lets requests without any token through anonymously (handlers see `Option<Claims>` as
    /// `None`); a token that is present but invalid is still answered with 401.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// The authenticator.
    pub fn authenticator(&self) -> &Authenticator {
        &self.auth
    }

    /// Loads metadata and keys now; see [`Authenticator::prefetch`].
    pub async fn prefetch(&self) -> Result<(), AuthError> {
        self.auth.prefetch().await
    }
}

impl<S> Layer<S> for EntraAuthLayer {
    type Service = EntraAuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        EntraAuthService {
            inner,
            auth: self.auth.clone(),
            optional: self.optional,
        }
    }
}

/// The service produced by [`EntraAuthLayer`].
#[derive(Clone, Debug)]
pub struct EntraAuthService<S> {
    inner: S,
    auth: Authenticator,
    optional: bool,
}

impl<S, B, ResBody> Service<Request<B>> for EntraAuthService<S>
where
    S: Service<Request<B>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        match admit(&self.auth, self.optional, &mut request) {
            // The inner service driven to readiness answers right here: no clone of it.
            Admission::Pass => ResponseFuture::inner(self.inner.call(request)),
            Admission::Answer(response) => ResponseFuture::ready(response),
            Admission::Validate(token) => {
                // Keys must be fetched: the validation goes on in a future that owns the
                // service driven to readiness (a clone is left for the next call).
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let auth = self.auth.clone();
                ResponseFuture::slow(Box::pin(async move {
                    match finish(&auth, &mut request, token).await {
                        Ok(()) => inner.call(request).await.map(|r| r.map(Body::new)),
                        Err(response) => Ok(response),
                    }
                }))
            }
        }
    }
}

type BoxedResponse<E> = Pin<Box<dyn Future<Output = Result<Response, E>> + Send>>;

pin_project_lite::pin_project! {
    /// The response future of [`EntraAuthService`] (and of [`RequireService`](crate::RequireService)):
    /// the inner service's future when the token was verified earlier (no allocation), an
    /// immediate answer, or a full validation.
    pub struct ResponseFuture<F, E> {
        #[pin]
        state: State<F, E>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, E> {
        Inner { #[pin] future: F },
        Ready { response: Option<Response> },
        Slow { future: BoxedResponse<E> },
    }
}

impl<F, E> ResponseFuture<F, E> {
    /// The inner service answers.
    pub(crate) fn inner(future: F) -> Self {
        Self {
            state: State::Inner { future },
        }
    }

    /// This answer, at once.
    pub(crate) fn ready(response: Response) -> Self {
        Self {
            state: State::Ready {
                response: Some(response),
            },
        }
    }

    fn slow(future: BoxedResponse<E>) -> Self {
        Self {
            state: State::Slow { future },
        }
    }
}

impl<F, E, ResBody> Future for ResponseFuture<F, E>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future } => future.poll(cx).map_ok(|r| r.map(Body::new)),
            StateProj::Ready { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                // Polled again after completion: a contract violation; never completes again.
                None => Poll::Pending,
            },
            StateProj::Slow { future } => future.as_mut().poll(cx),
        }
    }
}
