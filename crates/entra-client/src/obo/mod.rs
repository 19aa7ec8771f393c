//! On-behalf-of: [`OnBehalfOf`] (the grant, the per-user cache) and its typed challenges
//! ([`challenge`]).

mod cache;
mod challenge;

use std::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::cache::{CacheKey, Target};
use crate::credentials::Grant;
use crate::{AccessToken, ClientCredentials, Error, TokenCredential, TokenFuture};
use cache::{UserKey, UserTokenCache};

pub use challenge::DownstreamChallenge;

/// On-behalf-of: a web API that received a user's access token trades it for a token to a
/// downstream API (Microsoft Graph, its own services) for the same user, authenticating with its
/// own credential (secret, certificate or client assertion source).
///
/// ```no_run
/// use entra_client::{ClientCredentials, ClientSecret, OnBehalfOf};
///
/// # async fn demo(incoming_user_token: &str) -> Result<(), entra_client::Error> {
/// // Once, at start-up: the API's own credentials.
/// let creds = ClientCredentials::builder("contoso.onmicrosoft.com", "00000000-0000-0000-0000-000000000001")
///     .client_secret(ClientSecret::new(std::env::var("CLIENT_SECRET").unwrap_or_default()))
///     .build()?;
/// let obo = OnBehalfOf::new(creds);
///
/// // Per request: the caller's token (with entra-auth: `bearer_token.as_str()`).
/// let graph = obo.token(incoming_user_token, &["https://graph.microsoft.com/User.Read"]).await?;
/// # let _ = graph; Ok(()) }
/// ```
///
/// The request is Entra's: `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`,
/// `requested_token_use=on_behalf_of`, `assertion=<the user's token>`, `scope=<downstream
/// scopes>`, and the app's own client authentication, on the v2 endpoint.
///
/// # Cache
///
/// Downstream tokens are cached per (client, downstream scopes, user token), keyed by the
/// SHA-256 of the user's token: the token itself is never kept once its request is sent, and a
/// token obtained for one user's token is never returned for another. Each entry is renewed like
/// an app token (within the refresh margin of expiry, one request at a time, run in a task no
/// caller can cancel) and counts until its token expires. The cache holds at most
/// [`OnBehalfOf::DEFAULT_CAPACITY`] entries (10 000; [`OnBehalfOf::with_capacity`] to change):
/// a new entry in a full cache first drops the entries whose token has expired, then the least
/// recently used one.
///
/// # When the user must act
///
/// Entra's consent-required answer (AADSTS65001) becomes [`Error::ConsentRequired`]; its
/// `interaction_required` answers (a Conditional Access claims challenge, MFA: AADSTS50076,
/// 50079) become [`Error::UiRequired`]. Neither can be resolved by the API: it answers its
/// caller with [`Error::challenge_response`] (403, or 401 with the claims challenge in
/// `WWW-Authenticate`), and the client app has the user sign in or consent again.
///
/// Cheap to clone: clones share the credentials and the cache. Create one per app at start-up.
#[derive(Clone)]
pub struct OnBehalfOf {
    inner: Arc<Inner>,
}

struct Inner {
    credentials: ClientCredentials,
    cache: UserTokenCache,
}

impl OnBehalfOf {
    /// The default number of cached (user token, scopes) entries.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// On-behalf-of with the app's `credentials` (any of secret, certificate or assertion
    /// source; their authority, tenant, clock, refresh margin, timeout and retries apply) and a
    /// cache of [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) entries.
    pub fn new(credentials: ClientCredentials) -> Self {
        Self::with_capacity(credentials, Self::DEFAULT_CAPACITY)
    }

    /// The same, caching at most `capacity` (user token, scopes) entries (at least 1).
    pub fn with_capacity(credentials: ClientCredentials, capacity: usize) -> Self {
        OnBehalfOf {
            inner: Arc::new(Inner {
                credentials,
                cache: UserTokenCache::new(capacity),
            }),
        }
    }

    /// A token for the downstream `scopes` (of one resource: `api://orders/Orders.Read`, or
    /// `{resource}/.default` for every permission the app was granted there) on behalf of the
    /// user whose access token (for this API) is `user_assertion`; from the cache while fresh.
    ///
    /// The API should have validated `user_assertion` first (entra-auth does): Entra refuses a
    /// token that is not a live user token for this app (AADSTS50013).
    pub async fn token(&self, user_assertion: &str, scopes: &[&str]) -> Result<AccessToken, Error> {
        check_assertion(user_assertion)?;
        let scope = normalize_scopes(scopes)?;
        let creds = &self.inner.credentials;
        let key = UserKey::new(user_assertion, scope.clone());
        let clock = creds.clock().clone();
        let (cache, id) = self.inner.cache.entry(&key, clock.now());
        let cache_key = CacheKey {
            authority: creds.authority().to_owned(),
            tenant: creds.tenant_id().to_owned(),
            client_id: creds.client_id().to_owned(),
            target: Target::Scope(scope.clone()),
        };
        // Moved into the request's task (which no caller can cancel), dropped (zeroized) when
        // the request ends, or at once when the cache answers.
        let assertion = Zeroizing::new(user_assertion.to_owned());
        let this = creds.clone();
        // The request's task records the outcome, even when every caller has stopped waiting.
        let owner = self.clone();
        let recorded_key = key.clone();
        cache
            .get_or_fetch(
                &cache_key,
                move || clock.now(),
                creds.refresh_margin(),
                move || async move {
                    let grant = Grant::OnBehalfOf {
                        assertion: &assertion,
                        scope: &scope,
                    };
                    let result = this
                        .fetch_with_retries(&grant)
                        .await
                        .map_err(|e| challenge::classify(e, &scope));
                    owner.inner.cache.record(
                        &recorded_key,
                        id,
                        result.as_ref().ok().map(|(token, _)| token.expires_on()),
                    );
                    result
                },
            )
            .await
    }

    /// A [`TokenCredential`] for one user's token, for the tower layer, the reqwest extension or
    /// anything else that takes a credential: `token(scopes)` asks on behalf of that user,
    /// through this cache.
    pub fn for_user(&self, user_assertion: impl Into<String>) -> OnBehalfOfCredential {
        OnBehalfOfCredential {
            obo: self.clone(),
            assertion: Arc::new(Zeroizing::new(user_assertion.into())),
        }
    }

    /// The app's credentials.
    pub fn client_credentials(&self) -> &ClientCredentials {
        &self.inner.credentials
    }

    /// The most entries the cache holds.
    pub fn capacity(&self) -> usize {
        self.inner.cache.capacity()
    }

    /// How many (user token, scopes) entries the cache holds now.
    pub fn cached_entries(&self) -> usize {
        self.inner.cache.len()
    }

    /// Forgets every cached downstream token.
    pub fn clear_cache(&self) {
        self.inner.cache.clear();
    }
}

impl fmt::Debug for OnBehalfOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnBehalfOf")
            .field("credentials", &self.inner.credentials)
            .field("capacity", &self.inner.cache.capacity())
            .field("cached_entries", &self.inner.cache.len())
            .finish()
    }
}

/// One user's token with an [`OnBehalfOf`]: a [`TokenCredential`] for downstream tokens on
/// behalf of that user (made by [`OnBehalfOf::for_user`]). The user's token is kept in a buffer
/// zeroized on drop and never shown by `Debug`.
#[derive(Clone)]
pub struct OnBehalfOfCredential {
    obo: OnBehalfOf,
    assertion: Arc<Zeroizing<String>>,
}

impl TokenCredential for OnBehalfOfCredential {
    fn token<'a>(&'a self, scopes: &'a [&'a str]) -> TokenFuture<'a> {
        Box::pin(self.obo.token(&self.assertion, scopes))
    }
}

impl fmt::Debug for OnBehalfOfCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnBehalfOfCredential")
            .field("client_id", &self.obo.inner.credentials.client_id())
            .field("user_assertion", &"<redacted>")
            .finish()
    }
}

/// A user token is one header-safe word; its content is never put in an error.
fn check_assertion(assertion: &str) -> Result<(), Error> {
    if assertion.is_empty() {
        return Err(Error::Config(
            "on-behalf-of: the user's token is empty".into(),
        ));
    }
    if assertion
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::Config(
            "on-behalf-of: the user's token contains whitespace or control characters".into(),
        ));
    }
    Ok(())
}

/// The scopes as Entra takes them: space-separated, here sorted and without duplicates, so that
/// the same set is one cache entry whatever its order.
fn normalize_scopes(scopes: &[&str]) -> Result<String, Error> {
    let mut all: Vec<&str> = scopes.iter().flat_map(|s| s.split_whitespace()).collect();
    if all.is_empty() {
        return Err(Error::InvalidScope("on-behalf-of needs a scope".into()));
    }
    if all.iter().any(|s| s.chars().any(char::is_control)) {
        return Err(Error::InvalidScope(
            "the scope contains control characters".into(),
        ));
    }
    all.sort_unstable();
    all.dedup();
    Ok(all.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_one_sorted_set() {
        assert_eq!(
            normalize_scopes(&["b a", "a", "  c "]).unwrap(),
            "a b c".to_owned()
        );
        assert!(matches!(
            normalize_scopes(&[" ", ""]),
            Err(Error::InvalidScope(_))
        ));
        assert!(normalize_scopes(&[]).is_err());
        assert!(normalize_scopes(&["a\u{0}b"]).is_err());
    }

    #[test]
    fn bad_user_tokens_are_refused_without_being_shown() {
        for bad in ["", "eyJ.secret part", "eyJ.secret\npart", "eyJ\u{0}secret"] {
            let e = check_assertion(bad).unwrap_err();
            assert!(!bad.is_empty() || e.to_string().contains("empty"));
            assert!(!e.to_string().contains("secret"), "{e}");
        }
        assert!(check_assertion("eyJ.a-b_c.d").is_ok());
    }
}
