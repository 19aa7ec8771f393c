//! [`EmulatorBuilder`]: the settings of an emulator, and starting it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use entra_core::{Clock, SystemClock};

use crate::directory::{Directory, EmulatorConfig, dev_tenant};
use crate::emulator::{Emulator, Inner};
use crate::keys::{KeyStore, shared_start_keys};
use crate::state::State;
use crate::tls::{self, TlsOptions};
use crate::urls::Urls;
use crate::{EmulatorError, http};

/// The default of [`EmulatorBuilder::max_assertion_lifetime`].
const DEFAULT_MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);

/// The v1 issuer host Entra uses: `https://sts.windows.net/{tid}/`.
const DEFAULT_V1_ISSUER_HOST: &str = "https://sts.windows.net";

/// Configures and starts an [`Emulator`]; from [`Emulator::builder`].
#[derive(Debug)]
pub struct EmulatorBuilder {
    addr: SocketAddr,
    tls: TlsOptions,
    dev_tenant: bool,
    config: Option<EmulatorConfig>,
    v1_issuer_host: String,
    max_assertion_lifetime: Duration,
    clock: Arc<dyn Clock>,
    auto_sign_in: Option<String>,
}

impl EmulatorBuilder {
    /// The defaults: `127.0.0.1:0`, HTTP, the development tenant, Entra's v1 issuer host.
    pub(crate) fn new() -> EmulatorBuilder {
        EmulatorBuilder {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            tls: TlsOptions::default(),
            dev_tenant: true,
            config: None,
            v1_issuer_host: DEFAULT_V1_ISSUER_HOST.to_owned(),
            max_assertion_lifetime: DEFAULT_MAX_ASSERTION_LIFETIME,
            clock: Arc::new(SystemClock),
            auto_sign_in: None,
        }
    }

    /// Listen on this address (default `127.0.0.1:0`: a free port on loopback). The library
    /// accepts any address; the `entra-emulator` binary refuses non-loopback ones by default.
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Serve HTTPS (see [`TlsOptions`]); `true` / `false` also work.
    pub fn tls(mut self, tls: impl Into<TlsOptions>) -> Self {
        self.tls = tls.into();
        self
    }

    /// Do not register the development tenant and apps.
    pub fn without_dev_tenant(mut self) -> Self {
        self.dev_tenant = false;
        self
    }

    /// Register the tenants and apps of this configuration (in addition to the development
    /// tenant unless [`EmulatorBuilder::without_dev_tenant`] is used).
    pub fn config(mut self, config: EmulatorConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// The v1 issuer host (default `https://sts.windows.net`): v1 tokens and the v1 discovery
    /// document use `{host}/{tid}/` as issuer.
    pub fn v1_issuer_host(mut self, host: &str) -> Self {
        self.v1_issuer_host = host.trim_end_matches('/').to_owned();
        self
    }

    /// The longest a client assertion may be valid (default one hour): from its `nbf` (else its
    /// `iat`, else the time it is received) to its `exp`. The token endpoint refuses longer ones
    /// with AADSTS700024. Entra documents no such limit (it recommends assertions that expire
    /// 5 to 10 minutes after `nbf`; MSAL makes them 10 minutes long); the emulator needs one to
    /// bound how long it remembers assertion `jti`s against replay.
    pub fn max_assertion_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_assertion_lifetime = lifetime;
        self
    }

    /// Where the emulator's time comes from (default the system clock): the expiry of
    /// authorization codes, device codes, refresh tokens and sessions, and the timestamps of
    /// what the user flows issue. Tests pass a `ManualClock` and advance it instead of sleeping.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Approve every authorization request and device code as this user (a UPN of the tenant
    /// the request names), without showing the sign-in or consent page: for headless tests of
    /// a front end. Consent the user could give is given; `prompt=none` still needs a session.
    /// A tenant without such a user shows the page as usual.
    pub fn auto_sign_in(mut self, user_principal_name: impl Into<String>) -> Self {
        self.auto_sign_in = Some(user_principal_name.into());
        self
    }

    /// Bind, generate what is needed and start serving in the background.
    pub async fn start(self) -> Result<Emulator, EmulatorError> {
        let directory = self.directory()?;
        let mut auto_consent: Vec<String> = directory
            .tenants()
            .filter(|(_, t)| t.auto_consent())
            .map(|(tid, _)| tid.to_owned())
            .collect();
        auto_consent.sort();
        let listener = std::net::TcpListener::bind(self.addr)?;
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let tls = if self.tls.enabled {
            Some(tls::generate()?)
        } else {
            None
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let host = match local_addr.ip() {
            ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST).to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        let base_url = format!("{scheme}://{host}:{}", local_addr.port());

        let (k1, k2) = shared_start_keys()?;
        let mut state = State::new(
            Urls::new(base_url, self.v1_issuer_host),
            directory,
            KeyStore::new(k1, [k2]),
            self.max_assertion_lifetime,
            self.clock,
        );
        state.auto_sign_in = self.auto_sign_in;
        let state = Arc::new(state);
        let mut ca_path = None;
        if let (Some(t), Some(path)) = (&tls, &self.tls.ca_out) {
            std::fs::write(path, &t.ca_pem)?;
            ca_path = Some(path.clone());
        }
        let handle = axum_server::Handle::new();
        let task = http::serve(listener, tls.as_ref(), state.clone(), handle.clone())?;
        let emu = Emulator {
            inner: Arc::new(Inner {
                state,
                local_addr,
                handle,
                task: Mutex::new(Some(task)),
                ca_pem: tls.map(|t| t.ca_pem),
                ca_path,
            }),
        };
        tracing::info!(base_url = %emu.base_url(), "entra emulator listening");
        for tid in auto_consent {
            tracing::info!(
                tenant = %tid,
                "development mode: consent is given automatically in this tenant"
            );
        }
        Ok(emu)
    }

    /// The development tenant (unless turned off, or when the configuration asks for it), then
    /// the configuration's tenants.
    fn directory(&self) -> Result<Directory, EmulatorError> {
        let registrations = match &self.config {
            Some(c) => c.registrations()?,
            None => Vec::new(),
        };
        let mut directory = Directory::default();
        if self.dev_tenant || self.config.as_ref().is_some_and(|c| c.dev_tenant) {
            directory.register(dev_tenant())?;
        }
        for registration in registrations {
            directory.register(registration)?;
        }
        Ok(directory)
    }
}
