//! Workload identity federation: [`FederatedTokenFile`] and [`WorkloadIdentityCredential`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::{
    AccessToken, AssertionFuture, AssertionRequest, ClientAssertionSource, ClientCredentials,
    ClientCredentialsBuilder, Clock, Error, TokenCache, TokenCredential, TokenFuture,
};

/// A client assertion read from a file on every token request: the file a platform rotates
/// (AKS's projected service-account token at `AZURE_FEDERATED_TOKEN_FILE`).
///
/// Surrounding whitespace is trimmed. An unreadable, empty or oversized (over 64 KiB) file is
/// [`Error::ClientAssertion`], naming the file, never its content. A file that never answers (a
/// FIFO no one writes to) is given up on after the credential's request timeout.
#[derive(Debug, Clone)]
pub struct FederatedTokenFile {
    path: Arc<Path>,
}

impl FederatedTokenFile {
    /// The file at `path`; it is not read until a token request needs it.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FederatedTokenFile {
            path: Arc::from(path.into()),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the token now.
    pub async fn read(&self) -> Result<Zeroizing<String>, Error> {
        let path = self.path.clone();
        let read = tokio::task::spawn_blocking(move || read_token(&path)).await;
        match read {
            Ok(result) => result,
            Err(_) => Err(Error::ClientAssertion(format!(
                "reading the federated token file {} was interrupted",
                self.path.display()
            ))),
        }
    }
}

/// The largest federated token file read: a projected service-account token is a few KiB.
const MAX_TOKEN_FILE: usize = 64 * 1024;

fn read_token(path: &Path) -> Result<Zeroizing<String>, Error> {
    use std::io::Read;
    // The io error says why (not found, permission denied), never what was read.
    let failed = |e: std::io::Error| {
        Error::ClientAssertion(format!(
            "cannot read the federated token file {}: {e}",
            path.display()
        ))
    };
    let file = std::fs::File::open(path).map_err(failed)?;
    // Sized once (no reallocation leaves a copy of the token behind), zeroized on drop.
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_TOKEN_FILE + 1));
    file.take(MAX_TOKEN_FILE as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(failed)?;
    if bytes.len() > MAX_TOKEN_FILE {
        return Err(Error::ClientAssertion(format!(
            "the federated token file {} is larger than {} KiB",
            path.display(),
            MAX_TOKEN_FILE / 1024
        )));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Error::ClientAssertion(format!(
            "the federated token file {} is not UTF-8",
            path.display()
        ))
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(Error::ClientAssertion(format!(
            "the federated token file {} is empty",
            path.display()
        )));
    }
    Ok(Zeroizing::new(token.to_owned()))
}

impl ClientAssertionSource for FederatedTokenFile {
    fn client_assertion<'a>(&'a self, _request: AssertionRequest<'a>) -> AssertionFuture<'a> {
        Box::pin(self.read())
    }
}

/// An app's identity through workload identity federation: client credentials whose client
/// assertion is the token in a [`FederatedTokenFile`], read afresh for every token request.
/// Tokens are cached like those of [`ClientCredentials`]. Cheap to clone.
///
/// Workload identity federation, the AKS convention (as azure-identity's
/// `WorkloadIdentityCredential`): the platform writes a token of its own (a Kubernetes
/// service-account token) to a file, and the app presents it to Entra as its client assertion.
/// Entra accepts it when the app registration (or user-assigned managed identity) has a
/// federated identity credential for its issuer and subject, with audience
/// `api://AzureADTokenExchange`. No secret is stored anywhere.
///
/// The AKS webhook sets four environment variables, which
/// [`WorkloadIdentityCredential::from_env`] reads:
///
/// | variable | meaning |
/// |---|---|
/// | `AZURE_FEDERATED_TOKEN_FILE` | the token file, read afresh for every token request (the kubelet rotates it) |
/// | `AZURE_CLIENT_ID` | the app's (or managed identity's) client id |
/// | `AZURE_TENANT_ID` | the tenant |
/// | `AZURE_AUTHORITY_HOST` | optional: the authority (default `https://login.microsoftonline.com`) |
///
/// ```no_run
/// use entra_client::WorkloadIdentityCredential;
///
/// # async fn demo() -> Result<(), entra_client::Error> {
/// let credential = WorkloadIdentityCredential::from_env()?;
/// let token = credential.token("https://storage.azure.com/.default").await?;
/// # let _ = token; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct WorkloadIdentityCredential {
    credentials: ClientCredentials,
    token_file: FederatedTokenFile,
}

impl WorkloadIdentityCredential {
    /// The variable naming the token file.
    pub const TOKEN_FILE_ENV: &'static str = "AZURE_FEDERATED_TOKEN_FILE";
    /// The variable holding the client id.
    pub const CLIENT_ID_ENV: &'static str = "AZURE_CLIENT_ID";
    /// The variable holding the tenant.
    pub const TENANT_ID_ENV: &'static str = "AZURE_TENANT_ID";
    /// The optional variable holding the authority.
    pub const AUTHORITY_HOST_ENV: &'static str = "AZURE_AUTHORITY_HOST";

    /// Configures the credential explicitly (no environment variable is read).
    pub fn builder(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        token_file: impl Into<PathBuf>,
    ) -> WorkloadIdentityCredentialBuilder {
        WorkloadIdentityCredentialBuilder {
            builder: ClientCredentials::builder(tenant_id, client_id),
            token_file: FederatedTokenFile::new(token_file),
        }
    }

    /// The credential configured by the process environment (see the table above).
    /// Fails with [`Error::Config`] naming every required variable that is not set.
    pub fn from_env() -> Result<Self, Error> {
        WorkloadIdentityCredentialBuilder::from_env()?.build()
    }

    /// An access token for `scope` (`{resource}/.default`), from the cache while it is fresh.
    pub async fn token(&self, scope: &str) -> Result<AccessToken, Error> {
        self.credentials.token(scope).await
    }

    /// The underlying client credentials (for `token_for_resource`, the endpoints, ...).
    pub fn client_credentials(&self) -> &ClientCredentials {
        &self.credentials
    }

    /// The token file.
    pub fn token_file(&self) -> &Path {
        self.token_file.path()
    }
}

impl TokenCredential for WorkloadIdentityCredential {
    fn token<'a>(&'a self, scopes: &'a [&'a str]) -> TokenFuture<'a> {
        TokenCredential::token(&self.credentials, scopes)
    }
}

/// Configures a [`WorkloadIdentityCredential`]: [`WorkloadIdentityCredential::builder`] with
/// explicit values, or [`from_env`](Self::from_env).
#[must_use]
pub struct WorkloadIdentityCredentialBuilder {
    builder: ClientCredentialsBuilder,
    token_file: FederatedTokenFile,
}

impl WorkloadIdentityCredentialBuilder {
    /// Reads `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_FEDERATED_TOKEN_FILE` and the optional
    /// `AZURE_AUTHORITY_HOST` from the process environment.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The variables [`from_lookup`](Self::from_lookup) needs that `lookup` does not set (or
    /// sets empty), the token file first (what tells workload identity apart); none when
    /// workload identity is configured. `DefaultCredential` reports these too.
    pub(crate) fn missing_variables(lookup: &dyn Fn(&str) -> Option<String>) -> Vec<&'static str> {
        [
            WorkloadIdentityCredential::TOKEN_FILE_ENV,
            WorkloadIdentityCredential::TENANT_ID_ENV,
            WorkloadIdentityCredential::CLIENT_ID_ENV,
        ]
        .into_iter()
        .filter(|name| lookup(name).is_none_or(|v| v.trim().is_empty()))
        .collect()
    }

    /// The same, with `lookup` answering for the environment (for tests, or configuration
    /// from elsewhere). An empty value counts as unset. The error names every missing
    /// variable, never a value.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let (Some(tenant), Some(client), Some(file)) = (
            get(WorkloadIdentityCredential::TENANT_ID_ENV),
            get(WorkloadIdentityCredential::CLIENT_ID_ENV),
            get(WorkloadIdentityCredential::TOKEN_FILE_ENV),
        ) else {
            let missing = Self::missing_variables(&lookup);
            return Err(Error::Config(format!(
                "workload identity is not configured: {} not set",
                match missing.as_slice() {
                    [one] => format!("{one} is"),
                    many => format!("{} are", many.join(", ")),
                }
            )));
        };
        let (tenant, client, file) = (&tenant, &client, &file);
        let mut builder =
            WorkloadIdentityCredential::builder(tenant.trim(), client.trim(), file.trim());
        if let Some(host) = get(WorkloadIdentityCredential::AUTHORITY_HOST_ENV) {
            builder = builder.authority(host.trim());
        }
        Ok(builder)
    }

    /// The authority (default `https://login.microsoftonline.com`), as
    /// [`ClientCredentialsBuilder::authority`].
    pub fn authority(self, authority: impl Into<String>) -> Self {
        self.map(|b| b.authority(authority))
    }

    /// The clock, as [`ClientCredentialsBuilder::clock`].
    pub fn clock(self, clock: impl Clock) -> Self {
        self.map(|b| b.clock(clock))
    }

    /// The refresh margin, as [`ClientCredentialsBuilder::refresh_margin`].
    pub fn refresh_margin(self, margin: Duration) -> Self {
        self.map(|b| b.refresh_margin(margin))
    }

    /// The request timeout, as [`ClientCredentialsBuilder::timeout`].
    pub fn timeout(self, timeout: Duration) -> Self {
        self.map(|b| b.timeout(timeout))
    }

    /// Retries, as [`ClientCredentialsBuilder::max_retries`].
    pub fn max_retries(self, retries: u32) -> Self {
        self.map(|b| b.max_retries(retries))
    }

    /// The first backoff, as [`ClientCredentialsBuilder::retry_base_delay`].
    pub fn retry_base_delay(self, delay: Duration) -> Self {
        self.map(|b| b.retry_base_delay(delay))
    }

    /// The HTTP client, as [`ClientCredentialsBuilder::http_client`].
    pub fn http_client(self, client: reqwest::Client) -> Self {
        self.map(|b| b.http_client(client))
    }

    /// A shared token cache, as [`ClientCredentialsBuilder::cache`].
    pub fn cache(self, cache: TokenCache) -> Self {
        self.map(|b| b.cache(cache))
    }

    /// Any other setting of the underlying [`ClientCredentialsBuilder`] (its credential is
    /// the token file whatever `f` sets).
    pub fn configure(
        self,
        f: impl FnOnce(ClientCredentialsBuilder) -> ClientCredentialsBuilder,
    ) -> Self {
        self.map(f)
    }

    fn map(self, f: impl FnOnce(ClientCredentialsBuilder) -> ClientCredentialsBuilder) -> Self {
        WorkloadIdentityCredentialBuilder {
            builder: f(self.builder),
            token_file: self.token_file,
        }
    }

    /// Checks the configuration (not the file: it is read for each token request) and creates
    /// the credential.
    pub fn build(self) -> Result<WorkloadIdentityCredential, Error> {
        if self.token_file.path().as_os_str().is_empty() {
            return Err(Error::Config(
                "workload identity: the federated token file path is empty".into(),
            ));
        }
        let credentials = self
            .builder
            .client_assertion_source(self.token_file.clone())
            .build()?;
        Ok(WorkloadIdentityCredential {
            credentials,
            token_file: self.token_file,
        })
    }
}

impl fmt::Debug for WorkloadIdentityCredentialBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkloadIdentityCredentialBuilder")
            .field("builder", &self.builder)
            .field("token_file", &self.token_file)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn from_lookup_names_every_missing_variable() {
        let e = WorkloadIdentityCredentialBuilder::from_lookup(lookup(&[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid configuration: workload identity is not configured: \
             AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID, AZURE_CLIENT_ID are not set"
        );
        let e = WorkloadIdentityCredentialBuilder::from_lookup(lookup(&[
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_FEDERATED_TOKEN_FILE", "  "),
        ]))
        .unwrap_err();
        assert!(matches!(e, Error::Config(_)));
        assert!(
            e.to_string()
                .ends_with("AZURE_FEDERATED_TOKEN_FILE is not set"),
            "{e}"
        );
    }

    #[test]
    fn from_lookup_builds_with_the_authority_host() {
        let c = WorkloadIdentityCredentialBuilder::from_lookup(lookup(&[
            ("AZURE_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
            ("AZURE_CLIENT_ID", "11111111-2222-3333-4444-555555555555"),
            (
                "AZURE_FEDERATED_TOKEN_FILE",
                "/var/run/secrets/azure/tokens/azure-identity-token",
            ),
            ("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us/"),
        ]))
        .unwrap()
        .build()
        .unwrap();
        assert_eq!(
            c.client_credentials().token_endpoint(),
            "https://login.microsoftonline.us/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token"
        );
        assert_eq!(
            c.client_credentials().client_id(),
            "11111111-2222-3333-4444-555555555555"
        );
        assert_eq!(
            c.token_file(),
            Path::new("/var/run/secrets/azure/tokens/azure-identity-token")
        );
        // Without AZURE_AUTHORITY_HOST: the public cloud.
        let c = WorkloadIdentityCredentialBuilder::from_lookup(lookup(&[
            ("AZURE_TENANT_ID", "contoso.onmicrosoft.com"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/f"),
        ]))
        .unwrap()
        .build()
        .unwrap();
        assert_eq!(
            c.client_credentials().authority(),
            "https://login.microsoftonline.com"
        );
        // A plain-http authority that is not loopback is refused, as everywhere.
        let e = WorkloadIdentityCredentialBuilder::from_lookup(lookup(&[
            ("AZURE_TENANT_ID", "contoso.onmicrosoft.com"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/f"),
            ("AZURE_AUTHORITY_HOST", "http://login.example.com"),
        ]))
        .unwrap()
        .build()
        .unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e:?}");
    }

    #[tokio::test]
    async fn the_file_is_read_each_time_and_its_errors_name_it_not_its_content() {
        let dir = std::env::temp_dir().join(format!("entra-wi-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        let source = FederatedTokenFile::new(&path);

        let e = source.read().await.unwrap_err();
        assert!(matches!(e, Error::ClientAssertion(_)), "{e:?}");
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");

        std::fs::write(&path, "first.jwt.value\n").unwrap();
        assert_eq!(*source.read().await.unwrap(), "first.jwt.value");
        std::fs::write(&path, "second.jwt.value").unwrap();
        assert_eq!(*source.read().await.unwrap(), "second.jwt.value");

        std::fs::write(&path, " \n").unwrap();
        let e = source.read().await.unwrap_err();
        assert!(e.to_string().contains("is empty"), "{e}");

        std::fs::write(&path, [0xff, 0xfe, b's', b'e', b'c', b'r', b'e', b't']).unwrap();
        let e = source.read().await.unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");

        // Read up to 64 KiB, no further.
        std::fs::write(&path, vec![b'a'; MAX_TOKEN_FILE]).unwrap();
        assert_eq!(source.read().await.unwrap().len(), MAX_TOKEN_FILE);
        std::fs::write(&path, vec![b'a'; 4 * MAX_TOKEN_FILE]).unwrap();
        let e = source.read().await.unwrap_err();
        assert!(e.to_string().contains("larger than 64 KiB"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
