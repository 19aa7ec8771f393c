//! Dropping connections ([`Fault::DropConnection`](super::Fault::DropConnection)): an
//! axum-server acceptor wraps every TCP stream in a [`KillableStream`] and hands its switch,
//! a [`ConnKill`], to every request on the connection; the fault middleware flips it.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Per-connection switch: once set, the connection's stream fails all I/O so hyper drops it
/// without writing a response.
#[derive(Clone, Default)]
pub(crate) struct ConnKill(Arc<AtomicBool>);

impl ConnKill {
    pub(super) fn kill(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn is_killed(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A TCP stream that can be killed from a request handler.
pub(crate) struct KillableStream {
    inner: TcpStream,
    kill: ConnKill,
}

fn aborted() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection dropped by fault",
    )
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.kill.is_killed() {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.kill.is_killed() {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.kill.is_killed() {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The axum-server acceptor that wraps streams in [`KillableStream`] and hands the switch to
/// every request on the connection.
#[derive(Clone, Copy, Default)]
pub(crate) struct KillAcceptor;

impl<S> axum_server::accept::Accept<TcpStream, S> for KillAcceptor {
    type Stream = KillableStream;
    type Service = KillService<S>;
    type Future = std::future::Ready<io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let _ = stream.set_nodelay(true);
        let kill = ConnKill::default();
        std::future::ready(Ok((
            KillableStream {
                inner: stream,
                kill: kill.clone(),
            },
            KillService {
                inner: service,
                kill,
            },
        )))
    }
}

/// Inserts the connection's [`ConnKill`] into request extensions.
#[derive(Clone)]
pub(crate) struct KillService<S> {
    inner: S,
    kill: ConnKill,
}

impl<S, B> tower::Service<axum::http::Request<B>> for KillService<S>
where
    S: tower::Service<axum::http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: axum::http::Request<B>) -> Self::Future {
        req.extensions_mut().insert(self.kill.clone());
        self.inner.call(req)
    }
}
