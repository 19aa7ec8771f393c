//! [`TokenCredential`]: the one trait every credential of this crate implements. The token
//! cache, the tower layer, the reqwest extension, the credential chain and the `entra` CLI take
//! any `TokenCredential`, so adding a credential touches none of them.
//!
//! ```no_run
//! use std::sync::Arc;
//! use entra_client::{ClientCredentials, ClientSecret, TokenCredential};
//!
//! # async fn demo() -> Result<(), entra_client::Error> {
//! let creds = ClientCredentials::builder("contoso.onmicrosoft.com", "00000000-0000-0000-0000-000000000001")
//!     .client_secret(ClientSecret::new("..."))
//!     .build()?;
//! let any: Arc<dyn TokenCredential> = Arc::new(creds);
//! let token = any.token(&["api://my-api/.default"]).await?;
//! # let _ = token; Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::HeaderValue;

use crate::{AccessToken, ClientCredentials, Error};

/// The future of [`TokenCredential::token`].
pub type TokenFuture<'a> = Pin<Box<dyn Future<Output = Result<AccessToken, Error>> + Send + 'a>>;

/// Something that obtains Entra access tokens: an app's secret or certificate, a workload
/// identity, a managed identity, a signed-in user, a chain of these.
///
/// Implementations cache their tokens and renew them before they expire; a renewal shared by
/// several callers is not cancelled when one of them gives up.
pub trait TokenCredential: Send + Sync + fmt::Debug {
    /// An access token for `scopes`: for an app's own identity one `{resource}/.default`
    /// scope; for a user, the delegated scopes of one resource.
    fn token<'a>(&'a self, scopes: &'a [&'a str]) -> TokenFuture<'a>;

    /// The `Authorization` header value for a token for `scopes`: `Bearer <token>`, marked
    /// sensitive so that HTTP libraries do not log it.
    fn authorization_header<'a>(
        &'a self,
        scopes: &'a [&'a str],
    ) -> Pin<Box<dyn Future<Output = Result<HeaderValue, Error>> + Send + 'a>> {
        Box::pin(async move {
            let token = self.token(scopes).await?;
            crate::credentials::bearer_header(&token)
        })
    }
}

impl<T: TokenCredential + ?Sized> TokenCredential for Arc<T> {
    fn token<'a>(&'a self, scopes: &'a [&'a str]) -> TokenFuture<'a> {
        (**self).token(scopes)
    }
}

impl<T: TokenCredential + ?Sized> TokenCredential for Box<T> {
    fn token<'a>(&'a self, scopes: &'a [&'a str]) -> TokenFuture<'a> {
        (**self).token(scopes)
    }
}

impl TokenCredential for ClientCredentials {
    /// The client-credentials flow takes exactly one scope, `{resource}/.default`.
    fn token<'a>(&'a self, scopes: &'a [&'a str]) -> TokenFuture<'a> {
        Box::pin(async move {
            match scopes {
                [scope] => ClientCredentials::token(self, scope).await,
                _ => Err(Error::InvalidScope(format!(
                    "the client-credentials flow takes exactly one scope, {{resource}}/.default; got {}",
                    scopes.len()
                ))),
            }
        })
    }
}
