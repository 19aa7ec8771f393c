//! Credential chains: [`ChainedCredential`] tries credentials in order and keeps the first that
//! works; [`DefaultCredential`] is the chain of azure-identity's `DefaultAzureCredential`
//! (environment, workload identity, managed identity) configured from the environment;
//! [`EnvironmentCredential`] is its first link.

mod default;
mod environment;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::{Arc, OnceLock};

use tracing::debug;

use crate::credential::{TokenCredential, TokenFuture};
use crate::{AccessToken, Error};

pub use default::{DefaultCredential, DefaultCredentialBuilder};
pub use environment::EnvironmentCredential;

/// Credentials tried in order until one gives a token; that one is then kept for every later
/// request (as azure-identity's chains do), so the order is decided once.
///
/// A credential that answers [`Error::CredentialUnavailable`] (not configured here, no
/// endpoint) is skipped. A credential that is available but fails (a wrong secret, an endpoint's
/// error) ends the chain, as in azure-identity: falling through to the next one would hide the
/// misconfiguration behind an unrelated credential. Either way, when no credential gives a token
/// the error is [`Error::Chain`], which says for each credential why it did not.
///
/// ```no_run
/// use entra_client::{ChainedCredential, ManagedIdentityCredential, TokenCredential};
///
/// # async fn demo(mine: entra_client::ClientCredentials) -> Result<(), entra_client::Error> {
/// let chain = ChainedCredential::new()
///     .with("managed identity", ManagedIdentityCredential::from_env()?)
///     .with("client secret", mine);
/// let token = chain.token(&["https://graph.microsoft.com/.default"]).await?;
/// # let _ = token; Ok(()) }
/// ```
#[derive(Default)]
pub struct ChainedCredential {
    links: Vec<Link>,
    /// The index of the credential that gave the first token.
    kept: OnceLock<usize>,
}

struct Link {
    name: String,
    credential: Arc<dyn TokenCredential>,
}

impl ChainedCredential {
    /// An empty chain.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a credential, named `name` in errors and logs.
    #[must_use]
    pub fn with(
        mut self,
        name: impl Into<String>,
        credential: impl TokenCredential + 'static,
    ) -> Self {
        self.push(name, Arc::new(credential));
        self
    }

    /// Appends a credential, named `name` in errors and logs.
    pub fn push(&mut self, name: impl Into<String>, credential: Arc<dyn TokenCredential>) {
        self.links.push(Link {
            name: name.into(),
            credential,
        });
    }

    /// The names of the credentials, in the order they are tried.
    pub fn names(&self) -> Vec<&str> {
        self.links.iter().map(|l| l.name.as_str()).collect()
    }

    /// The name of the credential kept after it gave the first token, if any did yet.
    pub fn selected(&self) -> Option<&str> {
        self.kept.get().map(|&i| self.links[i].name.as_str())
    }

    async fn first_token(&self, scopes: &[&str]) -> Result<AccessToken, Error> {
        if let Some(&i) = self.kept.get() {
            return self.links[i].credential.token(scopes).await;
        }
        let mut attempts = Vec::with_capacity(self.links.len());
        for (i, link) in self.links.iter().enumerate() {
            match link.credential.token(scopes).await {
                Ok(token) => {
                    let _ = self.kept.set(i);
                    debug!(credential = %link.name, "credential chain: using this credential from now on");
                    return Ok(token);
                }
                Err(error) if error.is_unavailable() => {
                    debug!(credential = %link.name, error = %error, "credential chain: unavailable, trying the next");
                    attempts.push(ChainAttempt {
                        credential: link.name.clone(),
                        outcome: AttemptOutcome::Unavailable(error),
                    });
                }
                Err(error) => {
                    debug!(credential = %link.name, error = %error, "credential chain: failed, stopping");
                    attempts.push(ChainAttempt {
                        credential: link.name.clone(),
                        outcome: AttemptOutcome::Failed(error),
                    });
                    attempts.extend(self.links[i + 1..].iter().map(|l| ChainAttempt {
                        credential: l.name.clone(),
                        outcome: AttemptOutcome::NotTried,
                    }));
                    break;
                }
            }
        }
        Err(Error::Chain(Box::new(ChainError { attempts })))
    }
}

impl TokenCredential for ChainedCredential {
    fn token<'a>(&'a self, scopes: &'a [&'a str]) -> TokenFuture<'a> {
        Box::pin(self.first_token(scopes))
    }
}

impl fmt::Debug for ChainedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for link in &self.links {
            list.entry(&format_args!("{}: {:?}", link.name, link.credential));
        }
        list.finish()?;
        if let Some(selected) = self.selected() {
            write!(f, " (using {selected})")?;
        }
        Ok(())
    }
}

/// Why no credential of a chain gave a token: each credential, in order, and what happened.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChainError {
    /// One entry per credential of the chain, in the order they are tried.
    pub attempts: Vec<ChainAttempt>,
}

/// One credential of a failed chain.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChainAttempt {
    /// The credential's name in the chain.
    pub credential: String,
    /// What happened.
    pub outcome: AttemptOutcome,
}

/// What one credential of a failed chain did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// Not configured here ([`Error::CredentialUnavailable`]); the chain went on.
    Unavailable(Error),
    /// Configured, but failed; the chain stopped.
    Failed(Error),
    /// Not tried: an earlier credential failed.
    NotTried,
}

impl ChainError {
    /// The error of the credential that failed and stopped the chain, if one did (otherwise
    /// every credential was unavailable).
    pub fn failure(&self) -> Option<&Error> {
        self.attempts.iter().find_map(|a| match &a.outcome {
            AttemptOutcome::Failed(e) => Some(e),
            _ => None,
        })
    }
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.attempts.is_empty() {
            return f.write_str("the credential chain is empty");
        }
        f.write_str("no credential of the chain obtained a token:")?;
        for attempt in &self.attempts {
            write!(f, "\n- {}: ", attempt.credential)?;
            match &attempt.outcome {
                AttemptOutcome::Unavailable(Error::CredentialUnavailable { reason, .. }) => {
                    write!(f, "unavailable: {reason}")?;
                }
                AttemptOutcome::Unavailable(e) => write!(f, "unavailable: {}", with_sources(e))?,
                AttemptOutcome::Failed(e) => write!(f, "failed: {}", with_sources(e))?,
                AttemptOutcome::NotTried => {
                    f.write_str("not tried (an earlier credential failed)")?
                }
            }
        }
        Ok(())
    }
}

impl std::error::Error for ChainError {}

/// An error and its sources, `a: b: c` (a transport error says little without its cause).
fn with_sources(error: &Error) -> String {
    let mut shown = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        let text = s.to_string();
        if !shown.contains(&text) {
            shown.push_str(": ");
            shown.push_str(&text);
        }
        source = s.source();
    }
    shown
}

/// A credential that is never available, with the reason: what a chain holds for a credential
/// the environment does not configure.
#[derive(Debug)]
pub(crate) struct Unavailable {
    pub(crate) credential: String,
    pub(crate) reason: String,
}

impl TokenCredential for Unavailable {
    fn token<'a>(&'a self, _scopes: &'a [&'a str]) -> TokenFuture<'a> {
        Box::pin(async move {
            Err(Error::CredentialUnavailable {
                credential: self.credential.clone(),
                reason: self.reason.clone(),
            })
        })
    }
}

/// A credential whose configuration failed: every request fails with that error (which ends a
/// chain, so that a broken configuration is reported rather than skipped).
#[derive(Debug)]
pub(crate) struct Misconfigured(pub(crate) Error);

impl TokenCredential for Misconfigured {
    fn token<'a>(&'a self, _scopes: &'a [&'a str]) -> TokenFuture<'a> {
        Box::pin(async move { Err(self.0.clone()) })
    }
}
