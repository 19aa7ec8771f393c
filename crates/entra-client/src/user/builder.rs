//! [`UserCredentialBuilder`]: the configuration of [`UserCredential`].

use std::fmt;
use std::future::Future;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::browser::open_in_system_browser;
use super::{
    DeviceCodeInfo, Inner, OpenUrl, PollSleep, Prompt, SignInMethod, State, TokenCacheFile,
    UserCredential,
};
use crate::authority::parse_authority;
use crate::credentials::defaults;
use crate::{AuthorityHost, Clock, Error, SystemClock};

/// How long the browser sign-in waits for the redirect by default.
const SIGN_IN_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Configures a [`UserCredential`]; start with [`UserCredential::builder`].
#[must_use]
pub struct UserCredentialBuilder {
    tenant: String,
    client_id: String,
    authority: String,
    clock: Option<Arc<dyn Clock>>,
    http: Option<reqwest::Client>,
    timeout: Duration,
    refresh_margin: Duration,
    file: Option<TokenCacheFile>,
    username: Option<String>,
    interactive: Option<SignInMethod>,
    device_code_prompt: Option<Prompt>,
    open_url: Option<OpenUrl>,
    poll_sleep: Option<PollSleep>,
    loopback_port: u16,
    sign_in_timeout: Duration,
}

impl UserCredentialBuilder {
    pub(super) fn new(tenant: String, client_id: String) -> Self {
        UserCredentialBuilder {
            tenant,
            client_id,
            authority: AuthorityHost::default().as_str().to_owned(),
            clock: None,
            http: None,
            timeout: defaults::TIMEOUT,
            refresh_margin: defaults::REFRESH_MARGIN,
            file: None,
            username: None,
            interactive: None,
            device_code_prompt: None,
            open_url: None,
            poll_sleep: None,
            loopback_port: 0,
            sign_in_timeout: SIGN_IN_TIMEOUT,
        }
    }

    /// The authority (`https://login.microsoftonline.com` by default); `http://` for loopback
    /// hosts only (an emulator).
    pub fn authority(mut self, authority: impl Into<String>) -> Self {
        self.authority = authority.into();
        self
    }

    /// The authority of a well-known cloud.
    pub fn authority_host(self, host: AuthorityHost) -> Self {
        self.authority(host.as_str())
    }

    /// The clock (default: the system clock), e.g. a [`ManualClock`](crate::ManualClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The HTTP client (default: a new one that follows no redirects).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The time limit of one request to Entra (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Refresh an access token when it has less than this left to live (default 5 minutes).
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// Keep the account in this file between runs (see [`TokenCacheFile`]: it holds refresh
    /// tokens). Without one, the account lives as long as the credential.
    pub fn cache_file(mut self, file: TokenCacheFile) -> Self {
        self.file = Some(file);
        self
    }

    /// The user to use from the cache file when it holds several, and the `login_hint` of the
    /// browser sign-in. Default: the account signed in last.
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Opt in: when no usable refresh token remains, [`UserCredential::token`] runs this sign-in
    /// instead of failing with [`Error::InteractionRequired`]. Off by default (a service or a
    /// script must not wait for a person).
    ///
    /// The sign-in runs in the shared refresh task, not in the caller's future: the prompt and
    /// `open_url` callbacks are called on a Tokio worker thread, concurrent callers wait for the
    /// same sign-in, and a caller that gives up (a timeout, a dropped future) leaves it running
    /// until the user signs in, the device code expires or the
    /// [sign-in timeout](Self::sign_in_timeout) passes.
    pub fn interactive(mut self, method: SignInMethod) -> Self {
        self.interactive = Some(method);
        self
    }

    /// Shows the device code flow's instructions to the user. Default: Entra's `message` on
    /// standard error.
    pub fn device_code_prompt(
        mut self,
        prompt: impl Fn(&DeviceCodeInfo) + Send + Sync + 'static,
    ) -> Self {
        self.device_code_prompt = Some(Arc::new(prompt));
        self
    }

    /// Takes the browser sign-in's authorize URL to the user. Default: print it on standard
    /// error and open it with the system's browser (`$BROWSER`, `xdg-open` when there is a
    /// display, `open` on macOS, the URL handler on Windows). Tests pass a function that drives
    /// a "browser" over HTTP.
    pub fn open_url(mut self, open: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.open_url = Some(Arc::new(open));
        self
    }

    /// How the device code flow waits between polls, and any request waits before trying again
    /// a connection that could not be made. Default: `tokio::time::sleep`, so a paused Tokio
    /// clock (`tokio::time::pause`) drives it. Tests against a server on a manual clock pass a
    /// function that moves that clock instead (and records the intervals).
    pub fn poll_sleep<F, Fut>(mut self, sleep: F) -> Self
    where
        F: Fn(Duration) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.poll_sleep = Some(Arc::new(move |d| Box::pin(sleep(d))));
        self
    }

    /// The loopback port of the browser sign-in (default 0: any free port). Entra accepts any
    /// port for a public client's `http://localhost` redirect URI. The port is taken on
    /// `127.0.0.1` (an error when it is in use) and, when available, on `[::1]`.
    pub fn loopback_port(mut self, port: u16) -> Self {
        self.loopback_port = port;
        self
    }

    /// How long the browser sign-in waits for the redirect (default 5 minutes).
    pub fn sign_in_timeout(mut self, timeout: Duration) -> Self {
        self.sign_in_timeout = timeout;
        self
    }

    /// Checks the configuration and creates the credential. Nothing is read or sent yet.
    pub fn build(self) -> Result<UserCredential, Error> {
        let tenant = self.tenant.trim().to_owned();
        if tenant.is_empty()
            || !tenant
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        {
            return Err(Error::Config(format!(
                "tenant {tenant:?} must be a tenant id, a domain, organizations or common"
            )));
        }
        let client_id = self.client_id.trim().to_owned();
        if client_id.is_empty()
            || client_id
                .chars()
                .any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(Error::Config(
                "the client id is empty or has whitespace".into(),
            ));
        }
        if self.timeout.is_zero() || self.sign_in_timeout.is_zero() {
            return Err(Error::Config("timeouts must not be zero".into()));
        }
        let authority = parse_authority(&self.authority)?;
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| Error::Config(format!("cannot create the HTTP client: {e}")))?,
        };
        let base = format!("{authority}/{tenant}/oauth2/v2.0");
        Ok(UserCredential {
            inner: Arc::new(Inner {
                token_endpoint: format!("{base}/token"),
                devicecode_endpoint: format!("{base}/devicecode"),
                authorize_endpoint: format!("{base}/authorize"),
                authority,
                tenant,
                client_id,
                http,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                timeout: self.timeout,
                refresh_margin: self.refresh_margin,
                file: self.file,
                username: self.username,
                interactive: self.interactive,
                device_code_prompt: self.device_code_prompt.unwrap_or_else(|| {
                    Arc::new(|info: &DeviceCodeInfo| {
                        let _ = writeln!(std::io::stderr(), "{}", info.message);
                    })
                }),
                open_url: self.open_url.unwrap_or_else(|| {
                    Arc::new(|url: &str| {
                        let opened = open_in_system_browser(url);
                        let lead = if opened {
                            "Sign in in the browser window that opened. If none did, open this URL:"
                        } else {
                            "To sign in, open this URL in a browser on this machine:"
                        };
                        let _ = writeln!(std::io::stderr(), "{lead}\n\n  {url}\n");
                    })
                }),
                poll_sleep: self
                    .poll_sleep
                    .unwrap_or_else(|| Arc::new(|d| Box::pin(tokio::time::sleep(d)))),
                loopback_port: self.loopback_port,
                sign_in_timeout: self.sign_in_timeout,
                state: Mutex::new(State::default()),
            }),
        })
    }
}

impl fmt::Debug for UserCredentialBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserCredentialBuilder")
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("authority", &self.authority)
            .field("cache_file", &self.file)
            .field("username", &self.username)
            .field("interactive", &self.interactive)
            .field("loopback_port", &self.loopback_port)
            .finish_non_exhaustive()
    }
}
