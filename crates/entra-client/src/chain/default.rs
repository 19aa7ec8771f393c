//! [`DefaultCredential`]: azure-identity's `DefaultAzureCredential` chain for services:
//! environment, workload identity, managed identity.

use std::fmt;
use std::sync::Arc;

use super::{ChainedCredential, EnvironmentCredential, Misconfigured, Unavailable};
use crate::credential::{TokenCredential, TokenFuture};
use crate::managed_identity::{ManagedIdentityCredentialBuilder, source_from_env};
use crate::{
    ClientCredentialsBuilder, ManagedIdentityCredential, WorkloadIdentityCredentialBuilder,
};

type Vars = Box<dyn Fn(&str) -> Option<String>>;
type ConfigureClient = Arc<dyn Fn(ClientCredentialsBuilder) -> ClientCredentialsBuilder>;
type ConfigureMi =
    Box<dyn FnOnce(ManagedIdentityCredentialBuilder) -> ManagedIdentityCredentialBuilder>;

/// The credential chain of azure-identity's `DefaultAzureCredential`, for services, configured
/// from the environment. In this order:
///
/// 1. **`EnvironmentCredential`**: an app's secret or certificate named by `AZURE_TENANT_ID`,
///    `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET` or `AZURE_CLIENT_CERTIFICATE_PATH`
///    (+ `AZURE_CLIENT_CERTIFICATE_PASSWORD`) ([`EnvironmentCredential`]);
/// 2. **`WorkloadIdentityCredential`**: workload identity federation (AKS), when
///    `AZURE_FEDERATED_TOKEN_FILE`, `AZURE_TENANT_ID` and `AZURE_CLIENT_ID` are set
///    ([`WorkloadIdentityCredential`](crate::WorkloadIdentityCredential));
/// 3. **`ManagedIdentityCredential`**: the resource's managed identity, App Service's endpoint
///    when `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are set, IMDS otherwise; user-assigned by
///    client id when `AZURE_CLIENT_ID` is set, as `DefaultAzureCredential` does
///    ([`ManagedIdentityCredential`]); unavailable on Azure Arc, Service Fabric and Cloud Shell,
///    which are not supported.
///
/// All of them honour `AZURE_AUTHORITY_HOST` (the first two) and
/// `AZURE_POD_IDENTITY_AUTHORITY_HOST` (IMDS's host). The first credential that gives a token is
/// kept for every later request. Unconfigured credentials are skipped; a configured one that
/// fails ends the chain ([`ChainedCredential`]). When nothing works, the error is
/// [`Error::Chain`](crate::Error::Chain), which explains each credential, for example:
///
/// ```text
/// no credential of the chain obtained a token:
/// - EnvironmentCredential: unavailable: environment variables not set: AZURE_TENANT_ID, AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH
/// - WorkloadIdentityCredential: unavailable: environment variables not set: AZURE_FEDERATED_TOKEN_FILE
/// - ManagedIdentityCredential: unavailable: no IMDS endpoint at 169.254.169.254:80 (Connection refused (os error 111))
/// ```
///
/// Off Azure, the managed identity's probe fails within a second, so the chain does not hang.
///
/// ```no_run
/// use entra_client::{DefaultCredential, TokenCredential};
///
/// # async fn demo() -> Result<(), entra_client::Error> {
/// let credential = DefaultCredential::from_env();
/// let token = credential.token(&["https://storage.azure.com/.default"]).await?;
/// # let _ = token; Ok(()) }
/// ```
pub struct DefaultCredential {
    chain: ChainedCredential,
}

impl DefaultCredential {
    /// The chain, configured from the process environment. Never fails: what is missing or
    /// wrong is reported by the chain's error when a token is asked for.
    pub fn from_env() -> Self {
        Self::builder().build()
    }

    /// The chain, configured from the environment as `vars` answers for it (tests).
    pub fn from_env_vars(vars: impl Fn(&str) -> Option<String> + 'static) -> Self {
        Self::builder().env_vars(vars).build()
    }

    /// Starts configuring the chain (the environment, settings of its credentials).
    pub fn builder() -> DefaultCredentialBuilder {
        DefaultCredentialBuilder {
            vars: Box::new(|name| std::env::var(name).ok()),
            client: None,
            managed_identity: None,
        }
    }

    /// The names of the credentials, in the order they are tried.
    pub fn names(&self) -> Vec<&str> {
        self.chain.names()
    }

    /// The credential kept after it gave the first token, if any did yet.
    pub fn selected(&self) -> Option<&str> {
        self.chain.selected()
    }
}

impl TokenCredential for DefaultCredential {
    fn token<'a>(&'a self, scopes: &'a [&'a str]) -> TokenFuture<'a> {
        self.chain.token(scopes)
    }
}

impl fmt::Debug for DefaultCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DefaultCredential")
            .field(&self.chain)
            .finish()
    }
}

/// Configures a [`DefaultCredential`]; start with [`DefaultCredential::builder`].
#[must_use]
pub struct DefaultCredentialBuilder {
    vars: Vars,
    client: Option<ConfigureClient>,
    managed_identity: Option<ConfigureMi>,
}

impl DefaultCredentialBuilder {
    /// The environment, as `vars` answers for it (default: the process environment).
    pub fn env_vars(mut self, vars: impl Fn(&str) -> Option<String> + 'static) -> Self {
        self.vars = Box::new(vars);
        self
    }

    /// Further settings of the client credentials of the environment and workload identity
    /// credentials (an HTTP client, a clock, retries, a shared cache).
    pub fn client_credentials(
        mut self,
        configure: impl Fn(ClientCredentialsBuilder) -> ClientCredentialsBuilder + 'static,
    ) -> Self {
        self.client = Some(Arc::new(configure));
        self
    }

    /// Further settings of the managed identity credential (retries, the probe timeout, a
    /// clock), applied after those the environment gives.
    pub fn managed_identity(
        mut self,
        configure: impl FnOnce(ManagedIdentityCredentialBuilder) -> ManagedIdentityCredentialBuilder
        + 'static,
    ) -> Self {
        self.managed_identity = Some(Box::new(configure));
        self
    }

    /// Reads the environment and creates the chain.
    pub fn build(self) -> DefaultCredential {
        let vars = &*self.vars;
        let var = |name: &str| vars(name).filter(|v| !v.trim().is_empty());
        let client = self.client;
        let configure = |b: ClientCredentialsBuilder| match &client {
            Some(f) => f(b),
            None => b,
        };
        let mut chain = ChainedCredential::new();

        chain.push(
            "EnvironmentCredential",
            Arc::new(EnvironmentCredential::from_env_vars_with(vars, configure)),
        );

        const WORKLOAD: &str = "WorkloadIdentityCredential";
        // The variables are those the workload identity builder reads; it names them.
        let missing = WorkloadIdentityCredentialBuilder::missing_variables(vars);
        let workload: Arc<dyn TokenCredential> = if missing.is_empty() {
            match WorkloadIdentityCredentialBuilder::from_lookup(vars)
                .and_then(|b| b.configure(configure).build())
            {
                Ok(credential) => Arc::new(credential),
                Err(e) => Arc::new(Misconfigured(e)),
            }
        } else {
            Arc::new(Unavailable {
                credential: WORKLOAD.to_owned(),
                reason: format!("environment variables not set: {}", missing.join(", ")),
            })
        };
        chain.push(WORKLOAD, workload);

        let mut mi = ManagedIdentityCredential::builder().source(source_from_env(vars));
        if let Some(client_id) = var("AZURE_CLIENT_ID") {
            mi = mi.client_id(client_id.trim());
        }
        if let Some(configure) = self.managed_identity {
            mi = configure(mi);
        }
        let mi: Arc<dyn TokenCredential> = match mi.build() {
            Ok(credential) => Arc::new(credential),
            Err(e) => Arc::new(Misconfigured(e)),
        };
        chain.push("ManagedIdentityCredential", mi);

        DefaultCredential { chain }
    }
}

impl fmt::Debug for DefaultCredentialBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DefaultCredentialBuilder")
            .finish_non_exhaustive()
    }
}
