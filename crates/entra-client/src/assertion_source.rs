//! Client assertions from a source: [`ClientAssertionSource`], [`client_assertion_fn`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use zeroize::Zeroizing;

use crate::Error;

/// The future of [`ClientAssertionSource::client_assertion`].
pub type AssertionFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Zeroizing<String>, Error>> + Send + 'a>>;

/// What a token request needs an assertion for: a source that signs its own assertions uses
/// these as `iss`/`sub` and `aud`; a source that passes on a token from elsewhere (workload
/// identity) can ignore them.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct AssertionRequest<'a> {
    /// The app's client id.
    pub client_id: &'a str,
    /// The token endpoint the assertion is sent to (its audience, when the assertion is
    /// signed for Entra itself).
    pub token_endpoint: &'a str,
}

/// Client assertions from a source: something outside this crate (a file the platform rotates,
/// a key vault, a signing service, another identity provider) yields the JWT the app
/// authenticates with, afresh for every token request.
///
/// The source is given the credential's request timeout to answer (30 s by default): one that
/// does not is [`Error::ClientAssertion`](crate::Error::ClientAssertion) ("did not answer
/// within ..."), so that a hung source cannot hold the shared token refresh forever.
///
/// ```no_run
/// use entra_client::{ClientCredentials, Error, Zeroizing, client_assertion_fn};
///
/// # async fn demo() -> Result<(), Error> {
/// let creds = ClientCredentials::builder("contoso.onmicrosoft.com", "00000000-0000-0000-0000-000000000001")
///     .client_assertion_source(client_assertion_fn(|_request| async {
///         // e.g. a token from another identity provider, trusted by a federated credential
///         let jwt = std::fs::read_to_string("/var/run/secrets/token")
///             .map_err(|e| Error::ClientAssertion(format!("cannot read the token: {e}")))?;
///         Ok(Zeroizing::new(jwt))
///     }))
///     .build()?;
/// let token = creds.token("https://graph.microsoft.com/.default").await?;
/// # let _ = token; Ok(()) }
/// ```
///
/// A source of client assertions, asked once for every token request (never cached by this
/// crate beyond that request): set it with
/// [`ClientCredentialsBuilder::client_assertion_source`](crate::ClientCredentialsBuilder::client_assertion_source).
///
/// The assertion is a credential: return it in a [`Zeroizing`] buffer, never log it, and keep it
/// out of error messages. A closure becomes a source with [`client_assertion_fn`].
/// [`FederatedTokenFile`](crate::FederatedTokenFile) is the source of workload identity.
pub trait ClientAssertionSource: Send + Sync + fmt::Debug {
    /// A client assertion (a JWT) for `request`.
    fn client_assertion<'a>(&'a self, request: AssertionRequest<'a>) -> AssertionFuture<'a>;
}

impl<T: ClientAssertionSource + ?Sized> ClientAssertionSource for std::sync::Arc<T> {
    fn client_assertion<'a>(&'a self, request: AssertionRequest<'a>) -> AssertionFuture<'a> {
        (**self).client_assertion(request)
    }
}

/// A closure as a [`ClientAssertionSource`]; made by [`client_assertion_fn`].
#[derive(Clone)]
pub struct ClientAssertionFn<F>(F);

/// Makes a [`ClientAssertionSource`] of an async closure called with the
/// [`AssertionRequest`] on every token request.
pub fn client_assertion_fn<F, Fut>(f: F) -> ClientAssertionFn<F>
where
    F: Fn(AssertionRequest<'_>) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Zeroizing<String>, Error>> + Send + 'static,
{
    ClientAssertionFn(f)
}

impl<F, Fut> ClientAssertionSource for ClientAssertionFn<F>
where
    F: Fn(AssertionRequest<'_>) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Zeroizing<String>, Error>> + Send + 'static,
{
    fn client_assertion<'a>(&'a self, request: AssertionRequest<'a>) -> AssertionFuture<'a> {
        Box::pin((self.0)(request))
    }
}

impl<F> fmt::Debug for ClientAssertionFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientAssertionFn(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_closure_is_called_on_every_request_with_the_request() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let source = client_assertion_fn(move |r: AssertionRequest<'_>| {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            let text = format!("{}|{}|{n}", r.client_id, r.token_endpoint);
            async move { Ok(Zeroizing::new(text)) }
        });
        let request = AssertionRequest {
            client_id: "app",
            token_endpoint: "https://login/t/oauth2/v2.0/token",
        };
        let first = source.client_assertion(request).await.unwrap();
        let second = source.client_assertion(request).await.unwrap();
        assert_eq!(*first, "app|https://login/t/oauth2/v2.0/token|0");
        assert_eq!(*second, "app|https://login/t/oauth2/v2.0/token|1");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(format!("{source:?}"), "ClientAssertionFn(..)");
    }
}
