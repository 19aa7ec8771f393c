//! [`UserCredential`]: a user signed in to a public client (a CLI or desktop tool) with the
//! device code flow or in the browser (authorization code + PKCE, loopback redirect), then
//! tokens renewed silently with the refresh token.
//!
//! This module holds the type, the signed-in account and the silent path (the cached access
//! token, else one shared refresh); [`builder`] the configuration; [`device`] and [`browser`]
//! the two sign-ins ([`loopback`] the redirect listener); [`request`] the HTTP exchange and the
//! token response; [`file`] the optional token-cache file.

mod browser;
mod builder;
mod device;
mod file;
mod loopback;
mod request;
mod secret;
#[cfg(test)]
mod tests;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tracing::{debug, warn};

use self::file::{FileContents, StoredAccessToken, StoredAccount};
use self::request::{Answer, RESERVED_SCOPES, UserTokens, parse_user_tokens};
use crate::{AccessToken, Clock, Error, TokenCredential, TokenFuture};

pub use self::builder::UserCredentialBuilder;
pub use self::device::DeviceCodeInfo;
pub use self::file::TokenCacheFile;

/// A still-valid access token is used after a failed refresh while it has this long to live.
const MIN_REMAINING_ON_FAILURE: Duration = Duration::from_secs(10);

/// How a user signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInMethod {
    /// The device code flow: the user opens a URL on any device and types a code.
    DeviceCode,
    /// The browser on this machine: authorization code + PKCE, redirected to a loopback port.
    Browser,
}

/// Who signed in. No token in here.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Account {
    /// `{object id}.{home tenant id}`: the key of the account in the cache file.
    pub home_account_id: String,
    /// The sign-in name (`preferred_username`), e.g. `adele@contoso.onmicrosoft.com`.
    pub username: Option<String>,
    /// The user's object id (`oid`).
    pub object_id: Option<String>,
    /// The tenant the user signed in to (`tid`).
    pub tenant_id: Option<String>,
    /// The scopes asked for at sign-in (without `openid profile offline_access`): what a tool
    /// can ask for when its user names no scope.
    pub scopes: Vec<String>,
}

/// Why a user sign-in did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignInError {
    /// The user (or an administrator's policy) declined: device code `authorization_declined`,
    /// or `access_denied` on the redirect (consent cancelled).
    #[error("the user declined the sign-in: {description}")]
    Declined {
        /// Entra's description, first line.
        description: String,
    },
    /// The device code expired (`expired_token`) before the user signed in.
    #[error("the device code expired before the user signed in; start again")]
    CodeExpired,
    /// No redirect with the right `state` reached the loopback listener in time.
    #[error("no sign-in answer reached the loopback redirect in time")]
    TimedOut,
    /// Entra sent an error to the redirect URI.
    #[error("the sign-in failed: {error}: {description}")]
    Authorization {
        /// The OAuth2 error code (`invalid_request`, `login_required`, ...).
        error: String,
        /// Entra's description.
        description: String,
    },
    /// The ID token does not carry the `nonce` of this sign-in.
    #[error("the ID token's nonce does not match the sign-in request")]
    NonceMismatch,
    /// The loopback listener could not be started.
    #[error("loopback redirect listener: {0}")]
    Listener(String),
}

/// A signed-in user's tokens for a public client app: CLIs, desktop tools, scripts.
///
/// Sign in once ([`sign_in_with_device_code`](Self::sign_in_with_device_code) or
/// [`sign_in_with_browser`](Self::sign_in_with_browser)); then [`token`](Self::token) returns
/// the cached access token while it is fresh, and otherwise redeems the refresh token, without
/// any prompt, storing the new refresh token Entra rotates in. Only when no usable refresh
/// token remains does it fail with [`Error::InteractionRequired`], or run the sign-in the
/// caller opted in to ([`UserCredentialBuilder::interactive`]).
///
/// One refresh runs at a time, in a task of its own: concurrent callers share it, and a caller
/// that gives up does not cancel it for the others. With a [`TokenCacheFile`], the account
/// survives the process (the file is read and written on Tokio's blocking threads).
///
/// A refresh only ever updates the account it started with: when a new sign-in (or a sign-out)
/// happens while a refresh is on the wire, its answer is handed to the callers that were
/// waiting for it and not stored; callers after the sign-in start a refresh of their own.
///
/// When the opted-in sign-in ([`UserCredentialBuilder::interactive`]) starts because a refresh
/// found no usable refresh token, it runs inside that shared refresh task: the
/// [prompt](UserCredentialBuilder::device_code_prompt) and
/// [`open_url`](UserCredentialBuilder::open_url) callbacks are called on a Tokio worker thread
/// (not the caller's), and a caller that gives up (drops its future, times out) does not stop
/// it: the flow runs on until the user signs in, the device code expires, or the
/// [sign-in timeout](UserCredentialBuilder::sign_in_timeout) passes, and other callers join it
/// meanwhile.
///
/// Cheap to clone; clones share the account and the refresh.
#[derive(Clone)]
pub struct UserCredential {
    inner: Arc<Inner>,
}

type Prompt = Arc<dyn Fn(&DeviceCodeInfo) + Send + Sync>;
type OpenUrl = Arc<dyn Fn(&str) + Send + Sync>;
type PollSleep = Arc<dyn Fn(Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

pub(crate) struct Inner {
    authority: String,
    tenant: String,
    client_id: String,
    token_endpoint: String,
    devicecode_endpoint: String,
    authorize_endpoint: String,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    timeout: Duration,
    refresh_margin: Duration,
    file: Option<TokenCacheFile>,
    username: Option<String>,
    interactive: Option<SignInMethod>,
    device_code_prompt: Prompt,
    open_url: OpenUrl,
    poll_sleep: PollSleep,
    loopback_port: u16,
    sign_in_timeout: Duration,
    state: Mutex<State>,
}

type Outcome = Result<AccessToken, Error>;

#[derive(Default)]
struct State {
    /// The cache file was read (or there is none).
    loaded: bool,
    account: Option<StoredAccount>,
    /// Changes at each sign-in and sign-out: a refresh stores its answer only into the account
    /// (and generation) it started with.
    generation: u64,
    /// The refresh in flight: the scopes it is for, and its outcome once sent.
    refresh: Option<(Vec<String>, watch::Receiver<Option<Outcome>>)>,
}

impl UserCredential {
    /// Starts configuring a public client app (`client_id`) signing users in to `tenant` (an
    /// id, a domain, or `organizations` / `common` for any work account).
    pub fn builder(
        tenant: impl Into<String>,
        client_id: impl Into<String>,
    ) -> UserCredentialBuilder {
        UserCredentialBuilder::new(tenant.into(), client_id.into())
    }

    /// Signs a user in with the device code flow and keeps their tokens: asks Entra for a code,
    /// shows its message through the [prompt](UserCredentialBuilder::device_code_prompt), then
    /// polls the token endpoint (at once, then every `interval` Entra named, 5 s more after
    /// each `slow_down`, never waiting past the code's expiry) until the user has signed in,
    /// declined, or the code expired. A poll that fails on the way (timeout, lost connection,
    /// 429 or 5xx) does not end the sign-in: polling goes on.
    ///
    /// A sign-in replaces the current account; a refresh of the previous account still on the
    /// wire stores nothing.
    pub async fn sign_in_with_device_code(&self, scopes: &[&str]) -> Result<Account, Error> {
        self.sign_in(SignInMethod::DeviceCode, scopes).await
    }

    /// Signs a user in in the browser and keeps their tokens: listens on `127.0.0.1` (an
    /// ephemeral port unless [set](UserCredentialBuilder::loopback_port)) and on `[::1]` on the
    /// same port where IPv6 loopback is available (the redirect URI names `localhost`, the
    /// loopback redirect URI Entra registers for public clients, which a browser may resolve to
    /// either address; without `[::1]`, `localhost` has to resolve to 127.0.0.1), builds the
    /// authorize URL (PKCE S256, `state`, `nonce`, redirect `http://localhost:{port}`), hands it
    /// to the
    /// [`open_url`](UserCredentialBuilder::open_url) callback (default: print it and open the
    /// system browser), accepts the one redirect carrying its `state` (others are refused with
    /// a 400 page and ignored), answers the browser with a small page, and redeems the code.
    pub async fn sign_in_with_browser(&self, scopes: &[&str]) -> Result<Account, Error> {
        self.sign_in(SignInMethod::Browser, scopes).await
    }

    /// Signs a user in with `method` (see the two methods above).
    pub async fn sign_in(&self, method: SignInMethod, scopes: &[&str]) -> Result<Account, Error> {
        let key = normalize_scopes(scopes)?;
        let (account, _) = self.inner.interactive_sign_in(method, &key, true).await?;
        Ok(account)
    }

    /// An access token for the user for `scopes` (delegated scopes of one API, e.g.
    /// `api://my-api/Files.Read`): the cached one while fresh, else from the refresh token.
    pub async fn token(&self, scopes: &[&str]) -> Result<AccessToken, Error> {
        let key = normalize_scopes(scopes)?;
        self.inner.ensure_loaded().await?;
        loop {
            let (receiver, mine) = {
                let mut state = self.inner.lock();
                let now = self.inner.clock.now();
                if let Some(token) = state.account.as_ref().and_then(|a| fresh(a, &key, now)) {
                    return Ok(token);
                }
                match &state.refresh {
                    Some((scopes, receiver)) => (receiver.clone(), *scopes == key),
                    None => {
                        let (sender, receiver) = watch::channel(None);
                        state.refresh = Some((key.clone(), receiver.clone()));
                        let guard = RefreshGuard {
                            inner: self.inner.clone(),
                            sender: Some(sender),
                        };
                        let inner = self.inner.clone();
                        let scopes = key.clone();
                        drop(tokio::spawn(async move {
                            let outcome = inner.refresh(&scopes).await;
                            guard.finish(outcome);
                        }));
                        (receiver, true)
                    }
                }
            };
            let outcome = wait(receiver).await;
            if mine {
                return outcome;
            }
            // Another scope's refresh (which may rotate the refresh token) is done: go again.
        }
    }

    /// The signed-in account, if any (read from the cache file on first use).
    ///
    /// The first call may read the file on the calling thread.
    pub fn account(&self) -> Result<Option<Account>, Error> {
        self.inner.ensure_loaded_blocking()?;
        Ok(self.inner.lock().account.as_ref().map(public_account))
    }

    /// Forgets the signed-in account, here and in the cache file (written on the calling
    /// thread). Entra's session and the refresh token itself stay valid until they expire or
    /// are revoked. A refresh in flight stores nothing.
    pub fn sign_out(&self) -> Result<(), Error> {
        self.inner.ensure_loaded_blocking()?;
        let account = {
            let mut state = self.inner.lock();
            state.generation += 1;
            state.refresh = None;
            state.account.take()
        };
        if let (Some(file), Some(account)) = (&self.inner.file, account) {
            file.update(true, |contents| {
                contents.accounts.retain(|a| !same_account(a, &account));
            })?;
        }
        Ok(())
    }

    /// The token endpoint: `{authority}/{tenant}/oauth2/v2.0/token`.
    pub fn token_endpoint(&self) -> &str {
        &self.inner.token_endpoint
    }

    /// The app's client id.
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// The tenant, as configured.
    pub fn tenant(&self) -> &str {
        &self.inner.tenant
    }

    /// The cache file, if one was configured.
    pub fn cache_file(&self) -> Option<&TokenCacheFile> {
        self.inner.file.as_ref()
    }
}

impl TokenCredential for UserCredential {
    fn token<'a>(&'a self, scopes: &'a [&'a str]) -> TokenFuture<'a> {
        Box::pin(UserCredential::token(self, scopes))
    }
}

impl fmt::Debug for UserCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let account = i.lock().account.as_ref().map(public_account);
        f.debug_struct("UserCredential")
            .field("authority", &i.authority)
            .field("tenant", &i.tenant)
            .field("client_id", &i.client_id)
            .field("account", &account)
            .field("cache_file", &i.file)
            .field("interactive", &i.interactive)
            .finish_non_exhaustive()
    }
}

/// Owned by the refresh task: ends the refresh and wakes the waiters, also when the task
/// panics or its runtime shuts down (then with [`Error::Interrupted`]).
struct RefreshGuard {
    inner: Arc<Inner>,
    sender: Option<watch::Sender<Option<Outcome>>>,
}

impl RefreshGuard {
    fn finish(mut self, outcome: Outcome) {
        if let Some(sender) = self.sender.take() {
            end_refresh(&self.inner, &sender, outcome);
        }
    }
}

impl Drop for RefreshGuard {
    fn drop(&mut self) {
        if let Some(sender) = self.sender.take() {
            end_refresh(&self.inner, &sender, Err(Error::Interrupted));
        }
    }
}

fn end_refresh(inner: &Inner, sender: &watch::Sender<Option<Outcome>>, outcome: Outcome) {
    let mut state = inner.lock();
    if state
        .refresh
        .as_ref()
        .is_some_and(|(_, r)| r.same_channel(&sender.subscribe()))
    {
        state.refresh = None;
    }
    sender.send_replace(Some(outcome));
}

async fn wait(mut receiver: watch::Receiver<Option<Outcome>>) -> Outcome {
    match receiver.wait_for(Option::is_some).await.as_deref() {
        Ok(Some(outcome)) => outcome.clone(),
        Ok(None) | Err(_) => Err(Error::Interrupted),
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the cache file once (on a blocking thread, without the state lock): the most
    /// recent account of this app (or the one named by `username`).
    async fn ensure_loaded(&self) -> Result<(), Error> {
        if self.lock().loaded {
            return Ok(());
        }
        let contents = match &self.file {
            Some(file) => {
                let file = file.clone();
                Some(blocking(move || file.load()).await??)
            }
            None => None,
        };
        self.finish_loading(contents);
        Ok(())
    }

    /// [`ensure_loaded`](Self::ensure_loaded) on the calling thread, for the synchronous
    /// methods.
    fn ensure_loaded_blocking(&self) -> Result<(), Error> {
        if self.lock().loaded {
            return Ok(());
        }
        let contents = match &self.file {
            Some(file) => Some(file.load()?),
            None => None,
        };
        self.finish_loading(contents);
        Ok(())
    }

    /// Takes the account read from the file, unless a sign-in got there first.
    fn finish_loading(&self, contents: Option<FileContents>) {
        let mut state = self.lock();
        if state.loaded {
            return;
        }
        state.account = contents.and_then(|contents| {
            contents
                .accounts
                .into_iter()
                .filter(|a| a.same_app(&self.authority, &self.tenant, &self.client_id))
                .filter(|a| {
                    self.username.as_ref().is_none_or(|u| {
                        a.username
                            .as_ref()
                            .is_some_and(|name| name.eq_ignore_ascii_case(u))
                    })
                })
                .max_by_key(|a| a.signed_in_at)
        });
        state.loaded = true;
    }

    /// The refresh task's work: redeem the refresh token for `scopes`; without a usable one,
    /// the opted-in sign-in or [`Error::InteractionRequired`].
    async fn refresh(&self, scopes: &[String]) -> Outcome {
        if let Some(token) = self.adopt_newer_from_file(scopes).await {
            return Ok(token);
        }
        let (refresh_token, had_account, owner) = {
            let state = self.lock();
            (
                state.account.as_ref().and_then(|a| a.refresh_token.clone()),
                state.account.is_some(),
                Owner::of(&state),
            )
        };
        let Some(refresh_token) = refresh_token else {
            let reason = if had_account {
                "the signed-in account has no refresh token left; sign in again"
            } else {
                "no user is signed in"
            };
            return self.interact_or(scopes, reason, None).await;
        };
        let scope = scope_param(scopes);
        let sent_at = self.clock.now();
        let answer = self
            .post_form(
                &self.token_endpoint,
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", &self.client_id),
                    ("refresh_token", refresh_token.expose()),
                    ("scope", &scope),
                    ("client_info", "1"),
                ],
            )
            .await;
        let failure = match answer {
            Ok(Answer::Ok(body)) => {
                let tokens = parse_user_tokens(&body, sent_at)?;
                debug!("user token refreshed");
                return self.store_refreshed(scopes, tokens, &owner).await;
            }
            Ok(Answer::Err(e)) => e,
            Err(e) => e,
        };
        if let Error::Entra(entra) = &failure
            && matches!(
                entra.error.as_str(),
                "invalid_grant" | "interaction_required"
            )
        {
            // Consent or MFA for these scopes: the refresh token still serves others.
            let token_still_good = matches!(entra.aadsts_code(), Some(65001 | 50076 | 50079));
            if !token_still_good {
                self.drop_refresh_token(&owner).await;
            }
            let reason = format!(
                "Entra refused the refresh token ({}{}); sign in again",
                entra.error,
                entra
                    .aadsts_code()
                    .map(|c| format!(", AADSTS{c}"))
                    .unwrap_or_default()
            );
            return self.interact_or(scopes, &reason, Some(entra.clone())).await;
        }
        // A transient failure: a still-valid token is better than none.
        let now = self.clock.now();
        let cached = {
            let state = self.lock();
            owner.account_in(&state).and_then(|a| {
                find_token(a, scopes)
                    .filter(|t| {
                        unix(now).saturating_add(MIN_REMAINING_ON_FAILURE.as_secs()) < t.expires_on
                    })
                    .and_then(to_access_token)
            })
        };
        match cached {
            Some(token) => {
                warn!(error = %failure, "user token refresh failed; using the cached token until it expires");
                Ok(token)
            }
            None => Err(failure),
        }
    }

    /// Another program using the same cache file (an earlier `entra token --user`) may have
    /// refreshed this account since it was read: its refresh token is then the live one (ours is
    /// spent), and its access token may serve. The file wins when its refresh token differs.
    async fn adopt_newer_from_file(&self, scopes: &[String]) -> Option<AccessToken> {
        let file = self.file.clone()?;
        let contents = blocking(move || file.load()).await.ok()?.ok()?;
        let mut state = self.lock();
        let current = state.account.as_ref()?;
        let on_disk = contents
            .accounts
            .into_iter()
            .find(|a| same_account(a, current))?;
        if on_disk.refresh_token == current.refresh_token {
            return None;
        }
        debug!("the cache file holds newer tokens for this account; using them");
        let token = fresh(&on_disk, scopes, self.clock.now());
        state.account = Some(on_disk);
        token
    }

    async fn interact_or(
        &self,
        scopes: &[String],
        reason: &str,
        entra: Option<Box<crate::EntraError>>,
    ) -> Outcome {
        match self.interactive {
            Some(method) => self
                .interactive_sign_in(method, scopes, false)
                .await
                .map(|(_, token)| token),
            None => Err(Error::InteractionRequired {
                reason: reason.to_owned(),
                entra,
            }),
        }
    }

    /// A sign-in, then the account it made replaces the current one (and is saved). A sign-in
    /// the caller started (`by_caller`, not the refresh task's) also frees the refresh slot:
    /// callers after it do not join a refresh of the previous account.
    async fn interactive_sign_in(
        &self,
        method: SignInMethod,
        scopes: &[String],
        by_caller: bool,
    ) -> Result<(Account, AccessToken), Error> {
        let tokens = match method {
            SignInMethod::DeviceCode => self.device_code_flow(scopes).await?,
            SignInMethod::Browser => self.browser_flow(scopes).await?,
        };
        let now = self.clock.now();
        let claims = tokens.id_claims.clone().unwrap_or_default();
        let home_account_id = match (&tokens.home_account_id, &claims.oid, &claims.tid) {
            (Some(id), _, _) => id.clone(),
            (None, Some(oid), Some(tid)) => format!("{oid}.{tid}"),
            _ => {
                return Err(Error::InvalidResponse(
                    "the sign-in answer names no user (no client_info, no ID token)".into(),
                ));
            }
        };
        let mut account = StoredAccount {
            authority: self.authority.clone(),
            tenant: self.tenant.clone(),
            client_id: self.client_id.clone(),
            home_account_id,
            object_id: claims.oid,
            tenant_id: claims.tid,
            username: claims.preferred_username,
            signed_in_at: unix(now),
            refresh_token: None,
            scopes: scopes.to_vec(),
            access_tokens: Vec::new(),
        };
        let token = tokens.access_token.clone();
        merge(&mut account, scopes, tokens, self.refresh_margin, now);
        let public = public_account(&account);
        {
            let mut state = self.lock();
            state.loaded = true;
            state.account = Some(account.clone());
            state.generation += 1;
            if by_caller {
                state.refresh = None;
            }
        }
        self.save(account, true).await?;
        debug!(username = ?public.username, "user signed in");
        Ok((public, token))
    }

    /// Stores the answer to a refresh: the new refresh token (Entra rotates it) and the access
    /// token, in memory and in the file; only into the account the refresh started with.
    async fn store_refreshed(
        &self,
        scopes: &[String],
        tokens: UserTokens,
        owner: &Owner,
    ) -> Outcome {
        let token = tokens.access_token.clone();
        let now = self.clock.now();
        let stored = {
            let mut state = self.lock();
            match owner.account_in_mut(&mut state) {
                Some(account) => {
                    merge(account, scopes, tokens, self.refresh_margin, now);
                    Ok(account.clone())
                }
                None => Err(tokens),
            }
        };
        let account = match stored {
            Ok(account) => account,
            Err(tokens) => {
                // Signed out, or another account signed in, meanwhile: hand the token over to
                // those who asked before; the current account keeps its own tokens. The rotated
                // refresh token goes to that account's entry in the file, if it is still there
                // (not after a sign-out).
                debug!("the account changed during the refresh; not stored as the current one");
                self.store_in_file_only(owner, scopes, tokens, now).await;
                return Ok(token);
            }
        };
        if let Err(e) = self.save(account, false).await {
            // The refresh token is rotated: the one in the file is spent. Say so; the token
            // itself is good.
            warn!(error = %e, "cannot update the token cache file");
        }
        Ok(token)
    }

    /// A refresh's answer for an account that is no longer the current one: merged into its
    /// entry in the file when the file still has it.
    async fn store_in_file_only(
        &self,
        owner: &Owner,
        scopes: &[String],
        tokens: UserTokens,
        now: SystemTime,
    ) {
        let (Some(file), Some(home_account_id)) =
            (self.file.clone(), owner.home_account_id.clone())
        else {
            return;
        };
        let app = (
            self.authority.clone(),
            self.tenant.clone(),
            self.client_id.clone(),
        );
        let (scopes, margin) = (scopes.to_vec(), self.refresh_margin);
        let saved = blocking(move || {
            file.update(false, |contents| {
                if let Some(account) = contents.accounts.iter_mut().find(|a| {
                    a.same_app(&app.0, &app.1, &app.2) && a.home_account_id == home_account_id
                }) {
                    merge(account, &scopes, tokens, margin, now);
                }
            })
        })
        .await;
        if let Err(e) | Ok(Err(e)) = saved {
            warn!(error = %e, "cannot update the token cache file");
        }
    }

    async fn drop_refresh_token(&self, owner: &Owner) {
        let account = {
            let mut state = self.lock();
            let Some(account) = owner.account_in_mut(&mut state) else {
                return;
            };
            account.refresh_token = None;
            account.access_tokens.clear();
            account.clone()
        };
        if let Err(e) = self.save(account, false).await {
            warn!(error = %e, "cannot update the token cache file");
        }
    }

    /// Writes `account` into the file (replacing the same account of the same app), keeping the
    /// others, under the file's lock, on a blocking thread. A corrupted file is replaced after a
    /// sign-in (`replace_corrupted`), otherwise left alone.
    async fn save(&self, account: StoredAccount, replace_corrupted: bool) -> Result<(), Error> {
        let Some(file) = self.file.clone() else {
            return Ok(());
        };
        blocking(move || save_account(&file, account, replace_corrupted)).await?
    }
}

/// The account a refresh started with: it stores its answer into that account only.
struct Owner {
    generation: u64,
    home_account_id: Option<String>,
}

impl Owner {
    fn of(state: &State) -> Owner {
        Owner {
            generation: state.generation,
            home_account_id: state.account.as_ref().map(|a| a.home_account_id.clone()),
        }
    }

    fn account_in<'a>(&self, state: &'a State) -> Option<&'a StoredAccount> {
        state.account.as_ref().filter(|a| {
            state.generation == self.generation
                && self.home_account_id.as_deref() == Some(a.home_account_id.as_str())
        })
    }

    fn account_in_mut<'a>(&self, state: &'a mut State) -> Option<&'a mut StoredAccount> {
        let generation = state.generation;
        state.account.as_mut().filter(|a| {
            generation == self.generation
                && self.home_account_id.as_deref() == Some(a.home_account_id.as_str())
        })
    }
}

/// Writes `account` into `file` under its lock (the blocking part of [`Inner::save`]).
pub(crate) fn save_account(
    file: &TokenCacheFile,
    account: StoredAccount,
    replace_corrupted: bool,
) -> Result<(), Error> {
    file.update(replace_corrupted, move |contents| {
        contents.accounts.retain(|a| !same_account(a, &account));
        contents.accounts.push(account);
    })
}

/// Runs blocking file I/O off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| Error::Interrupted)
}

/// Puts a token answer into an account: the refresh token when one came (kept otherwise), the
/// access token for `scopes` (replacing the previous one, dropping expired ones).
fn merge(
    account: &mut StoredAccount,
    scopes: &[String],
    tokens: UserTokens,
    margin: Duration,
    now: SystemTime,
) {
    if let Some(refresh_token) = tokens.refresh_token {
        account.refresh_token = Some(refresh_token);
    }
    let at = tokens.access_token;
    let expires_on = unix(at.expires_on());
    let refresh_on = at
        .refresh_on
        .map(unix)
        .unwrap_or(expires_on)
        .min(expires_on.saturating_sub(margin.as_secs()));
    account
        .access_tokens
        .retain(|t| t.scopes != scopes && t.expires_on > unix(now));
    account.access_tokens.push(StoredAccessToken {
        scopes: scopes.to_vec(),
        access_token: secret::SecretString::new(at.secret().to_owned()),
        expires_on,
        refresh_on: Some(refresh_on),
    });
}

fn same_account(a: &StoredAccount, b: &StoredAccount) -> bool {
    a.same_app(&b.authority, &b.tenant, &b.client_id) && a.home_account_id == b.home_account_id
}

fn find_token<'a>(account: &'a StoredAccount, scopes: &[String]) -> Option<&'a StoredAccessToken> {
    account.access_tokens.iter().find(|t| t.scopes == scopes)
}

/// The cached access token for `scopes` while it is before its refresh time.
fn fresh(account: &StoredAccount, scopes: &[String], now: SystemTime) -> Option<AccessToken> {
    let t = find_token(account, scopes)?;
    let refresh_at = t.refresh_on.unwrap_or(t.expires_on).min(t.expires_on);
    if unix(now) < refresh_at {
        to_access_token(t)
    } else {
        None
    }
}

/// The stored token as an [`AccessToken`]; `None` when its expiry is not a representable time
/// (a file that was checked at load never has one).
fn to_access_token(t: &StoredAccessToken) -> Option<AccessToken> {
    let expires_on = UNIX_EPOCH.checked_add(Duration::from_secs(t.expires_on))?;
    Some(AccessToken::new(t.access_token.expose(), expires_on))
}

fn public_account(a: &StoredAccount) -> Account {
    Account {
        home_account_id: a.home_account_id.clone(),
        username: a.username.clone(),
        object_id: a.object_id.clone(),
        tenant_id: a.tenant_id.clone(),
        scopes: a.scopes.clone(),
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The caller's scopes, split on whitespace, without `openid profile offline_access` (always
/// asked for), deduplicated and sorted: the key of an access token.
pub(crate) fn normalize_scopes(scopes: &[&str]) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::new();
    for scope in scopes.iter().flat_map(|s| s.split_whitespace()) {
        if scope.chars().any(char::is_control) {
            return Err(Error::InvalidScope(
                "a scope contains control characters".into(),
            ));
        }
        if RESERVED_SCOPES
            .iter()
            .any(|r| r.eq_ignore_ascii_case(scope))
        {
            continue;
        }
        if !out.iter().any(|s| s == scope) {
            out.push(scope.to_owned());
        }
    }
    if out.is_empty() {
        return Err(Error::InvalidScope(
            "name at least one scope of an API (e.g. api://my-api/Files.Read or User.Read); \
             openid, profile and offline_access are always asked for"
                .into(),
        ));
    }
    out.sort();
    Ok(out)
}

/// The `scope` parameter: the caller's scopes and the reserved ones.
pub(crate) fn scope_param(scopes: &[String]) -> String {
    let mut all: Vec<&str> = scopes.iter().map(String::as_str).collect();
    all.extend(RESERVED_SCOPES);
    all.join(" ")
}
