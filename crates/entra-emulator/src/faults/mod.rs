//! Fault injection and the request log, in one place: the faults set by endpoint kind or by
//! path, the middleware every route is registered with (it counts, logs and applies faults),
//! and connection dropping. The [`Emulator`](crate::Emulator) methods `set_fault`,
//! `set_path_fault`, `request_count` and `request_log` are the public face of this module.

mod drop;
mod log;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State as AxState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;

pub(crate) use drop::{ConnKill, KillAcceptor};
pub use log::LoggedRequest;
use log::{RequestLog, redact_query};

use crate::state::{State, lock};
use crate::urls::Endpoint;

/// A failure the emulator injects into every request to one [`Endpoint`]
/// ([`Emulator::set_fault`](crate::Emulator::set_fault)) or to one path
/// ([`Emulator::set_path_fault`](crate::Emulator::set_path_fault)) until cleared.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), entra_emulator::EmulatorError> {
/// use entra_emulator::{Emulator, Endpoint, Fault};
/// let emu = Emulator::start().await?;
/// emu.set_fault(Endpoint::Keys, Fault::Status(503));
/// // ... exercise the code under test: key fetches now fail with 503 ...
/// emu.clear_faults();
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Close the TCP connection without sending any HTTP response.
    DropConnection,
    /// Wait this long, then answer normally (use it to test client timeouts).
    Delay(Duration),
    /// Answer with this HTTP status and a short plain-text body.
    Status(u16),
    /// Answer `200 OK` with an HTML page (like a captive portal or proxy error page).
    Html,
    /// Answer `200 OK`, `application/json`, with a truncated, unparsable JSON body.
    InvalidJson,
    /// Answer `200 OK`, `application/json`, with a body of exactly this many bytes that starts like
    /// valid JSON (to test response size limits).
    Oversized(usize),
    /// Keys endpoint: answer `{"keys":[]}`. Other endpoints answer normally.
    EmptyKeySet,
    /// Keys endpoint: the normal key set plus three unusable keys (an RSA key with garbage `n`/`e`,
    /// a `kty: "EC"` key and a `use: "enc"` key). Other endpoints answer normally.
    BrokenKey,
}

/// The faults in force and the log of what was received.
#[derive(Default)]
pub(crate) struct Faults {
    by_endpoint: Mutex<HashMap<Endpoint, Fault>>,
    /// Faults for one exact request path; they win over `by_endpoint`.
    by_path: Mutex<HashMap<String, Fault>>,
    log: Mutex<RequestLog>,
}

impl Faults {
    pub(crate) fn set(&self, endpoint: Endpoint, fault: Fault) {
        lock(&self.by_endpoint).insert(endpoint, fault);
    }

    pub(crate) fn clear(&self, endpoint: Endpoint) {
        lock(&self.by_endpoint).remove(&endpoint);
    }

    pub(crate) fn set_path(&self, path: String, fault: Fault) {
        lock(&self.by_path).insert(path, fault);
    }

    pub(crate) fn clear_path(&self, path: &str) {
        lock(&self.by_path).remove(path);
    }

    pub(crate) fn clear_all(&self) {
        lock(&self.by_endpoint).clear();
        lock(&self.by_path).clear();
    }

    /// The fault for a request: the one set for its exact path, else the one set for its
    /// endpoint kind.
    fn for_request(&self, path: &str, endpoint: Option<Endpoint>) -> Option<Fault> {
        let by_path = lock(&self.by_path).get(path).cloned();
        by_path.or_else(|| endpoint.and_then(|ep| lock(&self.by_endpoint).get(&ep).cloned()))
    }

    pub(crate) fn request_count(&self, endpoint: Endpoint) -> usize {
        lock(&self.log).counts.get(&endpoint).copied().unwrap_or(0)
    }

    pub(crate) fn request_log(&self) -> Vec<LoggedRequest> {
        lock(&self.log).entries.iter().cloned().collect()
    }

    pub(crate) fn reset_log(&self) {
        lock(&self.log).clear();
    }
}

/// The fault the middleware applies to a request, for handlers that shape their answer by it
/// ([`Fault::EmptyKeySet`], [`Fault::BrokenKey`]).
#[derive(Clone)]
pub(crate) struct AppliedFault(pub(crate) Fault);

/// Put on a response by the token endpoint, so that the log names the calling client.
#[derive(Clone)]
struct LoggedClient(String);

/// Name the calling client of a token request in the request log.
pub(crate) fn log_client(mut response: Response, client_id: Option<String>) -> Response {
    if let Some(c) = client_id {
        response.extensions_mut().insert(LoggedClient(c));
    }
    response
}

/// What the middleware of one route knows: the state and the route's endpoint kind.
#[derive(Clone)]
struct RouteTag {
    state: Arc<State>,
    endpoint: Option<Endpoint>,
}

/// `route` with the fault and log middleware, for a route of this endpoint kind (`None`: the
/// fallback for unknown paths). Every route is registered through this.
pub(crate) fn track<S>(
    state: &Arc<State>,
    endpoint: Option<Endpoint>,
    route: MethodRouter<S>,
) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    let tag = RouteTag {
        state: state.clone(),
        endpoint,
    };
    route.layer(middleware::from_fn_with_state(tag, apply))
}

/// Counts and logs every request, and applies the faults (a path fault wins over an endpoint
/// fault).
async fn apply(AxState(tag): AxState<RouteTag>, mut req: Request, next: Next) -> Response {
    let RouteTag { state, endpoint } = tag;
    let faults = &state.faults;
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(redact_query);
    let at = SystemTime::now();
    if let Some(ep) = endpoint {
        lock(&faults.log).count(ep);
    }
    let fault = faults.for_request(&path, endpoint);
    if let Some(f) = &fault {
        req.extensions_mut().insert(AppliedFault(f.clone()));
    }
    let response = match &fault {
        Some(Fault::DropConnection) => {
            if let Some(k) = req.extensions().get::<ConnKill>() {
                k.kill();
            }
            None
        }
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(*d).await;
            Some(next.run(req).await)
        }
        Some(f) => Some(match canned_response(f) {
            Some(r) => r,
            None => next.run(req).await,
        }),
        None => Some(next.run(req).await),
    };
    let (status, client_id) = match &response {
        Some(r) => (
            Some(r.status().as_u16()),
            r.extensions().get::<LoggedClient>().map(|c| c.0.clone()),
        ),
        None => (None, None),
    };
    lock(&faults.log).push(LoggedRequest {
        at,
        method,
        path,
        query,
        status,
        endpoint,
        fault,
        client_id,
    });
    // A dropped connection never sees this response: the stream fails the write.
    response.unwrap_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The answer of a fault that replaces the endpoint's, `None` for the faults that let the
/// endpoint answer (the key-set faults shape its answer through [`AppliedFault`]).
fn canned_response(fault: &Fault) -> Option<Response> {
    let response = match fault {
        Fault::Status(code) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (
                status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("entra-emulator injected fault: status {code}"),
            )
                .into_response()
        }
        Fault::Html => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!DOCTYPE html><html><head><title>Sign in</title></head>\
             <body><p>Sorry, but we're having trouble signing you in.</p></body></html>",
        )
            .into_response(),
        Fault::InvalidJson => json_bytes(Bytes::from_static(
            b"{\"keys\":[{\"kty\":\"RSA\",\"use\":\"sig\",\"kid\":",
        )),
        Fault::Oversized(n) => json_bytes(oversized_body(*n)),
        Fault::DropConnection | Fault::Delay(_) | Fault::EmptyKeySet | Fault::BrokenKey => {
            return None;
        }
    };
    Some(response)
}

fn json_bytes(body: Bytes) -> Response {
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn oversized_body(n: usize) -> Bytes {
    let prefix = b"{\"keys\":[{\"kty\":\"RSA\",\"use\":\"sig\",\"kid\":\"";
    let mut body = Vec::with_capacity(n);
    body.extend_from_slice(&prefix[..prefix.len().min(n)]);
    body.resize(n, b'A');
    Bytes::from(body)
}
