//! Microsoft Entra ID (Azure AD) access tokens for apps: the OAuth2 client-credentials flow with
//! a client secret, a certificate or a client assertion (workload identity federation),
//! on-behalf-of for web APIs calling downstream APIs as their user, managed identity, a
//! credential chain like azure-identity's `DefaultAzureCredential`, and a token cache.
//!
//! ```
//! use entra_client::{ClientCredentials, ClientSecret};
//! use entra_emulator::{DEV_API_CLIENT_ID, DEV_CLIENT_ID, DEV_CLIENT_SECRET, DEV_TENANT_ID, Emulator};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // A local Entra ID; in production leave `authority` out (login.microsoftonline.com).
//!     let emulator = Emulator::start().await?;
//!
//!     let creds = ClientCredentials::builder(DEV_TENANT_ID, DEV_CLIENT_ID)
//!         .authority(emulator.base_url())
//!         .client_secret(ClientSecret::new(DEV_CLIENT_SECRET))
//!         .build()?;
//!
//!     let scope = format!("api://{DEV_API_CLIENT_ID}/.default");
//!     let token = creds.token(&scope).await?; // asks Entra ID
//!     let again = creds.token(&scope).await?; // from the cache
//!     assert_eq!(token.secret(), again.secret());
//!
//!     // Ready to send: `Authorization: Bearer eyJ...` (marked sensitive).
//!     let header = creds.authorization_header(&scope).await?;
//!     assert!(header.to_str()?.starts_with("Bearer "));
//!     Ok(())
//! }
//! ```
//!
//! # Credentials
//!
//! - [`ClientSecret`]: sent in the request body as `client_secret`.
//! - [`ClientCertificate`]: an RSA key and its certificate, from PEM
//!   ([`ClientCertificate::from_pem`], PKCS#8 or PKCS#1 keys) or from a PKCS#12 / `.pfx` file
//!   ([`ClientCertificate::from_pkcs12`], AES or legacy 3DES/RC2 encryption). Each token request
//!   carries a fresh client assertion: a JWT signed RS256 with an `x5t` header (default) or PS256
//!   with `x5t#S256` ([`AssertionAlgorithm`]), `aud` = the token endpoint, `iss` = `sub` = the
//!   client id, a random `jti`, and a lifetime of at most 10 minutes. The `x5c` chain header is
//!   opt-in ([`ClientCredentialsBuilder::send_x5c`]) for subject name + issuer authentication.
//! - A [`ClientAssertionSource`]: anything that yields a client assertion (a closure, with
//!   [`client_assertion_fn`]), asked afresh for every token request
//!   ([`ClientCredentialsBuilder::client_assertion_source`]).
//! - [`WorkloadIdentityCredential`]: workload identity federation as on AKS: the token in the
//!   file named by `AZURE_FEDERATED_TOKEN_FILE` ([`FederatedTokenFile`], read afresh for every
//!   request, as the kubelet rotates it) is the client assertion; `AZURE_CLIENT_ID`,
//!   `AZURE_TENANT_ID` and `AZURE_AUTHORITY_HOST` name the app, the tenant and the authority
//!   ([`WorkloadIdentityCredential::from_env`], or [`WorkloadIdentityCredential::builder`] with
//!   explicit values). No secret anywhere.
//!
//! # On behalf of a user
//!
//! A web API that receives a user's token calls downstream APIs as that user with
//! [`OnBehalfOf`]: Entra's on-behalf-of grant with the API's own credential (any of the above),
//! downstream tokens cached per user token (by its SHA-256, never the token), downstream scopes
//! and client, bounded (10 000 entries by default), renewed before they expire. Entra's consent
//! (AADSTS65001) and interaction (claims challenge, MFA) answers are [`Error::ConsentRequired`]
//! and [`Error::UiRequired`]; [`Error::challenge_response`] turns them into the 403 or 401 (with
//! `WWW-Authenticate: Bearer error="insufficient_claims", claims="..."`) that an axum handler
//! returns to its caller. With `entra-auth`, pass the incoming `BearerToken` as
//! `bearer.as_str()`.
//!
//! # Managed identity
//!
//! [`ManagedIdentityCredential`] gets tokens for the managed identity of the Azure resource the
//! program runs on, with no secret: the App Service protocol (App Service, Container Apps,
//! Functions: `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, api-version 2019-08-01) or IMDS (VMs,
//! scale sets, AKS nodes: `169.254.169.254`, api-version 2018-02-01), chosen from the environment
//! as azure-identity does ([`ManagedIdentityCredential::from_env`]) or set with the builder (an
//! emulator in tests). System-assigned, or user-assigned by client id, object id or resource id
//! ([`ManagedIdentityId`]). IMDS's retry rules (404, 410 for 70 s, 429, 5xx, `Retry-After`) and
//! a 1 s probe that reports the credential unavailable off Azure
//! ([`Error::CredentialUnavailable`]); tokens cached like the others.
//!
//! # Credential chains
//!
//! [`DefaultCredential`] is azure-identity's `DefaultAzureCredential` for services: the
//! environment's secret or certificate ([`EnvironmentCredential`]), then workload identity
//! ([`WorkloadIdentityCredential`]), then managed identity, configured from the environment
//! ([`DefaultCredential::from_env`], or [`DefaultCredential::from_env_vars`] in tests). The first
//! credential that gives a token is kept; unconfigured ones are skipped, a configured one that
//! fails ends the chain, and when nothing works [`Error::Chain`] says for each credential why.
//! [`ChainedCredential`] builds a chain of any [`TokenCredential`]s.
//!
//! ```no_run
//! use entra_client::{DefaultCredential, TokenCredential};
//!
//! # async fn demo() -> Result<(), entra_client::Error> {
//! let credential = DefaultCredential::from_env();
//! let token = credential.token(&["https://storage.azure.com/.default"]).await?;
//! # let _ = token; Ok(()) }
//! ```
//!
//! # User sign-in (CLIs and desktop tools)
//!
//! [`UserCredential`] signs a user in to a public client app and keeps their tokens:
//! [`UserCredential::sign_in_with_device_code`] (RFC 8628: Entra's `message` shown through a
//! callback, stderr by default; polls at once, then every `interval`, 5 s more after each
//! `slow_down`; `authorization_declined` and `expired_token` are [`SignInError::Declined`] and
//! [`SignInError::CodeExpired`]) or [`UserCredential::sign_in_with_browser`] (authorization code
//! with PKCE S256, `state` and `nonce`, redirected to `http://localhost:{port}` on a listener
//! bound to 127.0.0.1 and, where available, `[::1]`; the system browser is opened where there
//! is one, the URL printed otherwise, or handed to an
//! [`open_url`](UserCredentialBuilder::open_url) callback; a redirect with another `state` is
//! refused and ignored). Then [`UserCredential::token`] (also through
//! [`TokenCredential`]) returns the cached access token while fresh and otherwise redeems the
//! refresh token silently, storing the one Entra rotates in; one refresh at a time, in a task
//! no caller can cancel. Without a usable refresh token it fails with
//! [`Error::InteractionRequired`], or runs the sign-in the caller opted in to
//! ([`UserCredentialBuilder::interactive`]).
//!
//! An optional [`TokenCacheFile`] keeps the accounts between runs: documented JSON (its format
//! is on the type), `0600` on Unix, written through a temporary file and a rename under an
//! advisory lock on `{name}.lock`; a corrupted file is an [`Error::TokenCacheFile`] and the next
//! sign-in replaces it. **The file holds refresh tokens: treat it like a password.** The `entra` CLI uses it for `entra login` and
//! `entra token --user`.
//!
//! ```no_run
//! use entra_client::{TokenCacheFile, UserCredential};
//!
//! # async fn demo() -> Result<(), entra_client::Error> {
//! let user = UserCredential::builder("organizations", "11111111-2222-3333-4444-555555555555")
//!     .cache_file(TokenCacheFile::new("tokens.json"))
//!     .build()?;
//! if user.account()?.is_none() {
//!     user.sign_in_with_device_code(&["api://my-api/Files.Read"]).await?;
//! }
//! let token = user.token(&["api://my-api/Files.Read"]).await?; // silent from here on
//! # let _ = token; Ok(()) }
//! ```
//!
//! # Endpoints and clouds
//!
//! [`ClientCredentials::token`] asks the v2 endpoint `{authority}/{tenant}/oauth2/v2.0/token` for a
//! scope `{resource}/.default`; [`ClientCredentials::token_for_resource`] asks the v1 endpoint
//! `{authority}/{tenant}/oauth2/token` with `resource=`. The authority is
//! `https://login.microsoftonline.com` unless set ([`AuthorityHost`] for the sovereign clouds, or
//! any `https://` URL); plain `http://` is refused except for loopback hosts (an emulator).
//!
//! # Cache, retries and errors
//!
//! Tokens are cached in memory per authority, tenant, client id and scope, and renewed once they
//! are within the refresh margin of expiry (5 minutes by default). Concurrent callers for the same
//! key share one request, which runs in a task of its own: a caller that gives up (a timeout, a
//! dropped connection, a `select!`) does not cancel it for the others ([`TokenCache`]). Time
//! comes from a [`Clock`], so tests can move it forward ([`ManualClock`]).
//!
//! Server errors (5xx), throttling (429, honouring `Retry-After`), timeouts and connection
//! failures are retried with exponential backoff and jitter (2 retries by default); other 4xx
//! answers are not. Entra's error responses become [`EntraError`] with the `AADSTS` code, trace id
//! and correlation id ([`Error::aadsts_code`]).
//!
//! # Secrets
//!
//! Client secrets, private keys, assertions, tokens, refresh tokens, authorization and device
//! codes are never logged, never in `Debug` output and never in error messages.
//! [`AccessToken::secret`] is the one way to read a token.
//!
//! Client secrets, the key material of certificates while they are loaded, client assertions
//! and the request body that carries a secret or an assertion are kept in buffers that are
//! overwritten with zeros when dropped ([`Zeroizing`]). What other crates copy (the key inside
//! `jsonwebtoken`'s `EncodingKey`, which it zeroizes itself; the PKCS#12 reader's decrypted
//! copies; the HTTP and TLS layers' buffers) is outside this crate's reach: see
//! [`ClientCertificate`].
//!
//! # Sending tokens
//!
//! [`ClientCredentials::authorization_header`] gives the header value; [`BearerTokenLayer`] adds it
//! to every request through a tower service; [`RequestBuilderExt::with_entra_token`] adds it to a
//! `reqwest` request.

mod assertion;
mod assertion_source;
mod authority;
mod cache;
mod certificate;
mod chain;
mod credential;
mod credentials;
mod error;
mod layer;
mod managed_identity;
mod obo;
mod secret;
mod token;
mod user;
mod workload;

pub use assertion::{AssertionAlgorithm, MAX_ASSERTION_LIFETIME};
pub use assertion_source::{
    AssertionFuture, AssertionRequest, ClientAssertionFn, ClientAssertionSource,
    client_assertion_fn,
};
pub use cache::TokenCache;
pub use certificate::ClientCertificate;
pub use chain::{
    AttemptOutcome, ChainAttempt, ChainError, ChainedCredential, DefaultCredential,
    DefaultCredentialBuilder, EnvironmentCredential,
};
pub use credential::{TokenCredential, TokenFuture};
pub use credentials::{ClientCredentials, ClientCredentialsBuilder, defaults};
/// The clock and the clouds, shared with `entra-auth` (defined in `entra-core`).
pub use entra_core::{
    AZURE_CHINA, AZURE_PUBLIC_CLOUD, AZURE_US_GOVERNMENT, AuthorityHost, Clock, ManualClock,
    SystemClock,
};
pub use error::{EntraError, Error};
pub use layer::{BearerTokenLayer, BearerTokenService, BoxError, RequestBuilderExt};
pub use managed_identity::{
    ManagedIdentityCredential, ManagedIdentityCredentialBuilder, ManagedIdentityId,
    ManagedIdentityKind, defaults as managed_identity_defaults,
};
pub use obo::{DownstreamChallenge, OnBehalfOf, OnBehalfOfCredential};
pub use secret::ClientSecret;
pub use token::AccessToken;
pub use user::{
    Account, DeviceCodeInfo, SignInError, SignInMethod, TokenCacheFile, UserCredential,
    UserCredentialBuilder,
};
pub use workload::{
    FederatedTokenFile, WorkloadIdentityCredential, WorkloadIdentityCredentialBuilder,
};
/// The zeroize-on-drop wrapper of the `zeroize` crate, as returned by
/// [`ClientCredentials::client_assertion`] and accepted by [`ClientSecret`]'s `From`.
pub use zeroize::Zeroizing;
