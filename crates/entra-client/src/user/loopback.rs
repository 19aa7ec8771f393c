//! The loopback redirect listener of the browser sign-in: 127.0.0.1 on an ephemeral port, and
//! `[::1]` on the same port when it can (the redirect URI says `localhost`, which resolves to
//! `::1` first on many systems), one small HTTP/1.1 exchange per connection (no HTTP library:
//! one `GET` line and its headers, bounded), until the redirect that carries the expected
//! `state` arrives. At most [`MAX_CONNECTIONS`] connections are served at once; more are
//! answered `503` and closed at once.

use std::collections::HashMap;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tracing::debug;

use super::SignInError;
use super::secret::SecretString;

/// The largest request head read from the browser.
const MAX_REQUEST: usize = 16 * 1024;
/// A connection that sends no complete request head within this is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once (a browser opens a few; each holds a task and a 16 KiB buffer).
const MAX_CONNECTIONS: usize = 16;
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n";

const PAGE_OK: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Signed in</title></head><body><h1>Signed in</h1><p>You can close this window and return to the application.</p></body></html>";
const PAGE_FAILED: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in failed</title></head><body><h1>Sign-in failed</h1><p>The application reports the reason. You can close this window.</p></body></html>";
const PAGE_REFUSED: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not accepted</title></head><body><h1>Not accepted</h1><p>This is not the answer to the sign-in this application started.</p></body></html>";

/// What the redirect brought: a code, or Entra's error.
pub(crate) enum Redirect {
    Code(SecretString),
    Error(SignInError),
}

pub(crate) struct Loopback {
    listener: TcpListener,
    /// `[::1]` on the same port; `None` where IPv6 loopback is unavailable (or the port is
    /// taken there): `localhost` then has to resolve to 127.0.0.1, as it does on most systems.
    listener_v6: Option<TcpListener>,
    port: u16,
}

impl Loopback {
    /// Listens on `127.0.0.1:{port}` (0: any free port) and, best effort, on `[::1]` on the
    /// same port.
    pub(crate) async fn bind(port: u16) -> Result<Loopback, SignInError> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| {
            SignInError::Listener(format!("cannot listen on 127.0.0.1:{port}: {e}"))
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| SignInError::Listener(e.to_string()))?
            .port();
        let listener_v6 = match TcpListener::bind(("::1", port)).await {
            Ok(l) => Some(l),
            Err(e) => {
                debug!(error = %e, port, "no IPv6 loopback listener; 127.0.0.1 only");
                None
            }
        };
        Ok(Loopback {
            listener,
            listener_v6,
            port,
        })
    }

    /// The next connection on either listener.
    async fn accept(&self) -> std::io::Result<(TcpStream, std::net::SocketAddr)> {
        match &self.listener_v6 {
            Some(v6) => tokio::select! {
                a = self.listener.accept() => a,
                a = v6.accept() => a,
            },
            None => self.listener.accept().await,
        }
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Waits for the redirect carrying `state`. Connections are served concurrently (a
    /// browser's idle preconnection does not hold up the real one); other requests (a favicon,
    /// a stale tab, a redirect with another `state`) are answered and ignored.
    pub(crate) async fn wait(&self, state: &str) -> Redirect {
        let (found, mut answers) = tokio::sync::mpsc::channel::<Redirect>(1);
        let mut connections = tokio::task::JoinSet::new();
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        loop {
            tokio::select! {
                Some(redirect) = answers.recv() => return redirect,
                accepted = self.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let Ok(slot) = slots.clone().try_acquire_owned() else {
                            debug!(%peer, "loopback listener busy; connection refused");
                            // One non-blocking write fits in the socket buffer; then closed.
                            let _ = stream.try_write(BUSY);
                            continue;
                        };
                        let (found, state) = (found.clone(), state.to_owned());
                        connections.spawn(async move {
                            let _slot = slot;
                            match tokio::time::timeout(READ_TIMEOUT, handle(stream, &state)).await {
                                Ok(Some(redirect)) => {
                                    let _ = found.send(redirect).await;
                                }
                                Ok(None) => {}
                                Err(_) => debug!(%peer, "loopback connection sent no request in time"),
                            }
                        });
                    }
                    // Out of file descriptors and the like: wait a little rather than spin.
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                },
            }
            // Reap finished connections so the set does not grow.
            while connections.try_join_next().is_some() {}
        }
    }
}

/// One connection: the answer to the sign-in, or `None` when it was not it.
async fn handle(mut stream: TcpStream, state: &str) -> Option<Redirect> {
    let target = read_request_target(&mut stream).await?;
    let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    if path != "/" {
        respond(&mut stream, "404 Not Found", PAGE_REFUSED).await;
        return None;
    }
    let params = parse_query(query);
    let state_ok = params.get("state").is_some_and(|got| {
        aws_lc_rs::constant_time::verify_slices_are_equal(got.expose().as_bytes(), state.as_bytes())
            .is_ok()
    });
    if !state_ok {
        debug!("loopback redirect with a missing or wrong state refused");
        respond(&mut stream, "400 Bad Request", PAGE_REFUSED).await;
        return None;
    }
    if let Some(error) = params.get("error") {
        let description = params
            .get("error_description")
            .map(|d| d.expose().to_owned())
            .unwrap_or_default();
        respond(&mut stream, "200 OK", PAGE_FAILED).await;
        let error = error.expose().to_owned();
        return Some(Redirect::Error(if error == "access_denied" {
            SignInError::Declined { description }
        } else {
            SignInError::Authorization { error, description }
        }));
    }
    match params.get("code") {
        Some(code) if !code.expose().is_empty() => {
            respond(&mut stream, "200 OK", PAGE_OK).await;
            Some(Redirect::Code(code.clone()))
        }
        _ => {
            respond(&mut stream, "400 Bad Request", PAGE_REFUSED).await;
            None
        }
    }
}

/// The request target of a `GET`, once the whole head has arrived.
async fn read_request_target(stream: &mut TcpStream) -> Option<zeroize::Zeroizing<String>> {
    let mut buf = zeroize::Zeroizing::new(vec![0u8; MAX_REQUEST]);
    let mut len = 0;
    loop {
        stream.readable().await.ok()?;
        match stream.try_read(&mut buf[len..]) {
            Ok(0) => return None,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return None,
        }
        if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
        if len == buf.len() {
            respond(stream, "431 Request Header Fields Too Large", PAGE_REFUSED).await;
            return None;
        }
    }
    let head = std::str::from_utf8(&buf[..len]).ok()?;
    let line = head.lines().next()?;
    let mut parts = line.split(' ');
    let (method, target) = (parts.next()?, parts.next()?);
    if method != "GET" {
        respond(stream, "405 Method Not Allowed", PAGE_REFUSED).await;
        return None;
    }
    Some(zeroize::Zeroizing::new(target.to_owned()))
}

fn parse_query(query: &str) -> HashMap<String, SecretString> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), SecretString::new(v.into_owned())))
        .collect()
}

async fn respond(stream: &mut TcpStream, status: &str, page: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n{page}",
        page.len()
    );
    let mut rest = response.as_bytes();
    while !rest.is_empty() {
        if stream.writable().await.is_err() {
            return;
        }
        match stream.try_write(rest) {
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}
