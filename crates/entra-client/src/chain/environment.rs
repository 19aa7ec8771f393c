//! [`EnvironmentCredential`]: client credentials (a secret or a certificate) named by
//! azure-identity's environment variables.

use std::fmt;
use std::path::Path;

use zeroize::Zeroizing;

use super::{Misconfigured, Unavailable};
use crate::credential::{TokenCredential, TokenFuture};
use crate::{ClientCertificate, ClientCredentials, ClientCredentialsBuilder, ClientSecret, Error};

const NAME: &str = "EnvironmentCredential";

/// An app's client credentials named by the environment variables azure-identity's
/// `EnvironmentCredential` reads:
///
/// | variable | meaning |
/// |---|---|
/// | `AZURE_TENANT_ID` | the tenant |
/// | `AZURE_CLIENT_ID` | the app's client id |
/// | `AZURE_CLIENT_SECRET` | a client secret, or: |
/// | `AZURE_CLIENT_CERTIFICATE_PATH` | a certificate file: PEM (the private key, PKCS#8 or PKCS#1 and unencrypted, and the certificate, in one file) or PKCS#12 (`.pfx`) |
/// | `AZURE_CLIENT_CERTIFICATE_PASSWORD` | optional: the PKCS#12 file's password |
/// | `AZURE_AUTHORITY_HOST` | optional: the authority (default `https://login.microsoftonline.com`) |
///
/// When both a secret and a certificate are named, the secret is used. When the variables are
/// not all set, every request answers [`Error::CredentialUnavailable`] naming the missing
/// ones; when they are set but unusable (an unreadable certificate, a wrong password, a bad
/// tenant), every request answers that error, which ends a [`ChainedCredential`](crate::ChainedCredential).
pub struct EnvironmentCredential {
    inner: State,
}

enum State {
    Ready(ClientCredentials),
    Unavailable(Unavailable),
    Misconfigured(Misconfigured),
}

impl EnvironmentCredential {
    /// Reads the process environment.
    pub fn from_env() -> Self {
        Self::from_env_vars(|name| std::env::var(name).ok())
    }

    /// Reads the environment through `vars` (tests, or configuration from elsewhere). An empty
    /// value counts as unset.
    pub fn from_env_vars(vars: impl Fn(&str) -> Option<String>) -> Self {
        Self::from_env_vars_with(vars, |b| b)
    }

    /// As [`from_env_vars`](Self::from_env_vars), with further settings of the underlying
    /// [`ClientCredentialsBuilder`] (an HTTP client, a clock, retries, a shared cache).
    pub fn from_env_vars_with(
        vars: impl Fn(&str) -> Option<String>,
        configure: impl FnOnce(ClientCredentialsBuilder) -> ClientCredentialsBuilder,
    ) -> Self {
        let var = |name: &str| vars(name).filter(|v| !v.trim().is_empty());
        let tenant = var("AZURE_TENANT_ID");
        let client = var("AZURE_CLIENT_ID");
        let secret = vars("AZURE_CLIENT_SECRET")
            .filter(|v| !v.is_empty())
            .map(ClientSecret::new);
        let certificate = var("AZURE_CLIENT_CERTIFICATE_PATH");
        // Read once: the secret's only copy is the one `ClientSecret` keeps (zeroized on drop).
        let credential_set = secret.is_some() || certificate.is_some();
        let (Some(tenant), Some(client), Some(credential)) =
            (&tenant, &client, secret.map(Ok).or(certificate.map(Err)))
        else {
            let mut missing = Vec::new();
            if tenant.is_none() {
                missing.push("AZURE_TENANT_ID");
            }
            if client.is_none() {
                missing.push("AZURE_CLIENT_ID");
            }
            if !credential_set {
                missing.push("AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH");
            }
            return EnvironmentCredential {
                inner: State::Unavailable(Unavailable {
                    credential: NAME.to_owned(),
                    reason: format!("environment variables not set: {}", missing.join(", ")),
                }),
            };
        };
        let mut builder = ClientCredentials::builder(tenant.trim(), client.trim());
        if let Some(host) = var("AZURE_AUTHORITY_HOST") {
            builder = builder.authority(host.trim());
        }
        builder = match credential {
            // A secret, when both are named.
            Ok(secret) => builder.client_secret(secret),
            Err(path) => {
                let password =
                    Zeroizing::new(vars("AZURE_CLIENT_CERTIFICATE_PASSWORD").unwrap_or_default());
                match load_certificate(Path::new(path.trim()), &password) {
                    Ok(cert) => builder.certificate(cert),
                    Err(e) => {
                        return EnvironmentCredential {
                            inner: State::Misconfigured(Misconfigured(e)),
                        };
                    }
                }
            }
        };
        let inner = match configure(builder).build() {
            Ok(creds) => State::Ready(creds),
            Err(e) => State::Misconfigured(Misconfigured(e)),
        };
        EnvironmentCredential { inner }
    }

    /// The client credentials, when the environment configures usable ones.
    pub fn client_credentials(&self) -> Option<&ClientCredentials> {
        match &self.inner {
            State::Ready(c) => Some(c),
            _ => None,
        }
    }
}

/// A PEM file (key and certificate in one) or a PKCS#12 file; the error names the variable
/// and the path, never the content or the password.
fn load_certificate(path: &Path, password: &str) -> Result<ClientCertificate, Error> {
    let data = Zeroizing::new(std::fs::read(path).map_err(|e| {
        Error::Config(format!(
            "AZURE_CLIENT_CERTIFICATE_PATH: cannot read {}: {e}",
            path.display()
        ))
    })?);
    let is_pem = data.windows(11).any(|w| w == b"-----BEGIN ");
    let loaded = if is_pem {
        ClientCertificate::from_pem(&*data, &*data)
    } else {
        ClientCertificate::from_pkcs12(&data, password)
    };
    loaded.map_err(|e| {
        Error::Config(format!(
            "AZURE_CLIENT_CERTIFICATE_PATH: cannot load {}: {e}",
            path.display()
        ))
    })
}

impl TokenCredential for EnvironmentCredential {
    fn token<'a>(&'a self, scopes: &'a [&'a str]) -> TokenFuture<'a> {
        match &self.inner {
            State::Ready(creds) => TokenCredential::token(creds, scopes),
            State::Misconfigured(m) => m.token(scopes),
            State::Unavailable(u) => u.token(scopes),
        }
    }
}

impl fmt::Debug for EnvironmentCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            State::Ready(c) => f.debug_tuple(NAME).field(c).finish(),
            State::Unavailable(u) => write!(f, "{NAME}(unavailable: {})", u.reason),
            State::Misconfigured(m) => write!(f, "{NAME}(misconfigured: {})", m.0),
        }
    }
}
