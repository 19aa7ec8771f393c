//! App registrations: client ids, credentials, App ID URIs, app roles, token version.

use std::fmt;

use super::credentials::{ClientCertificate, ClientSecret};
use crate::EmulatorError;

/// Access token version (`ver` claim "1.0" or "2.0").
///
/// On an [`App`] it is the app registration's `accessTokenAcceptedVersion`: the token endpoint
/// issues tokens *for* that resource in this version, whichever endpoint was called (as Entra does).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenVersion {
    /// v1.0 tokens: issuer `https://sts.windows.net/{tid}/`, `appid`, audience = App ID URI.
    /// Entra's default when `accessTokenAcceptedVersion` is `null`.
    V1,
    /// v2.0 tokens: issuer `{authority}/{tid}/v2.0`, `azp`, audience = client id.
    V2,
}

impl TokenVersion {
    /// `"1.0"` or `"2.0"`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenVersion::V1 => "1.0",
            TokenVersion::V2 => "2.0",
        }
    }
}

/// An app registration (and its service principal) in a tenant.
///
/// An app can be a *client* (it has secrets or certificates and asks for tokens) and/or a
/// *resource* (it has an App ID URI and app roles, and tokens are issued for it).
///
/// ```
/// use entra_emulator::{App, ClientSecret, TokenVersion};
/// let api = App::new("11111111-2222-3333-4444-555555555555")
///     .display_name("My API")
///     .app_id_uri("api://my-api")
///     .app_role("Orders.Read")
///     .access_token_version(TokenVersion::V2);
/// let client = App::new("66666666-7777-8888-9999-000000000000")
///     .secret(ClientSecret::new("dev-only-secret"));
/// # let _ = (api, client);
/// ```
#[derive(Clone)]
pub struct App {
    pub(crate) client_id: String,
    pub(crate) display_name: Option<String>,
    pub(crate) secrets: Vec<ClientSecret>,
    pub(crate) certificates: Vec<ClientCertificate>,
    pub(crate) app_id_uri: Option<String>,
    pub(crate) app_roles: Vec<String>,
    pub(crate) access_token_version: TokenVersion,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("client_id", &self.client_id)
            .field("display_name", &self.display_name)
            .field("secrets", &self.secrets)
            .field("certificates", &self.certificates.len())
            .field("app_id_uri", &self.app_id_uri)
            .field("app_roles", &self.app_roles)
            .field("access_token_version", &self.access_token_version)
            .finish()
    }
}

impl App {
    /// A new app registration with this client (application) id.
    ///
    /// Defaults: no credentials, no App ID URI, no app roles, and
    /// `accessTokenAcceptedVersion` = v1 (Entra's default when the manifest says `null`).
    pub fn new(client_id: impl Into<String>) -> App {
        App {
            client_id: client_id.into(),
            display_name: None,
            secrets: Vec::new(),
            certificates: Vec::new(),
            app_id_uri: None,
            app_roles: Vec::new(),
            access_token_version: TokenVersion::V1,
        }
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Set the display name.
    pub fn display_name(mut self, name: impl Into<String>) -> App {
        self.display_name = Some(name.into());
        self
    }

    /// Add a client secret.
    pub fn secret(mut self, secret: ClientSecret) -> App {
        self.secrets.push(secret);
        self
    }

    /// Add a client certificate (DER). Client assertions signed by its key are accepted.
    ///
    /// A certificate that cannot be parsed (or whose key is not RSA) is ignored with a warning;
    /// use [`App::try_certificate_der`] to get the error instead.
    pub fn certificate_der(self, der: impl AsRef<[u8]>) -> App {
        match self.clone().try_certificate_der(der) {
            Ok(app) => app,
            Err(e) => {
                tracing::warn!(client_id = %self.client_id, error = %e, "ignoring certificate");
                self
            }
        }
    }

    /// Add a client certificate (DER), failing if it is not an X.509 certificate with an RSA key.
    pub fn try_certificate_der(mut self, der: impl AsRef<[u8]>) -> Result<App, EmulatorError> {
        self.certificates
            .push(ClientCertificate::from_der(der.as_ref())?);
        Ok(self)
    }

    /// Add every certificate in a PEM text (`-----BEGIN CERTIFICATE-----`).
    ///
    /// Unparsable input is ignored with a warning; see [`App::try_certificate_pem`].
    pub fn certificate_pem(self, pem: &str) -> App {
        match self.clone().try_certificate_pem(pem) {
            Ok(app) => app,
            Err(e) => {
                tracing::warn!(client_id = %self.client_id, error = %e, "ignoring certificate");
                self
            }
        }
    }

    /// Add every certificate in a PEM text, failing if there is none or one is invalid.
    pub fn try_certificate_pem(mut self, pem: &str) -> Result<App, EmulatorError> {
        self.certificates.extend(ClientCertificate::from_pem(pem)?);
        Ok(self)
    }

    /// Set the App ID URI (e.g. `api://{client_id}`): the v1 audience and the v2 scope prefix.
    pub fn app_id_uri(mut self, uri: impl Into<String>) -> App {
        self.app_id_uri = Some(uri.into());
        self
    }

    /// Declare an app role (application permission) that can be assigned to client apps.
    pub fn app_role(mut self, role: impl Into<String>) -> App {
        self.app_roles.push(role.into());
        self
    }

    /// Set `accessTokenAcceptedVersion`: the version of tokens issued *for* this app.
    pub fn access_token_version(mut self, version: TokenVersion) -> App {
        self.access_token_version = version;
        self
    }

    /// The audience tokens for this resource carry in the given version: the client id for v2,
    /// the App ID URI (or the client id when there is none) for v1.
    pub(crate) fn audience(&self, version: TokenVersion) -> String {
        match version {
            TokenVersion::V2 => self.client_id.clone(),
            TokenVersion::V1 => self
                .app_id_uri
                .clone()
                .unwrap_or_else(|| self.client_id.clone()),
        }
    }

    /// Does `resource` (App ID URI or client id, trailing slash tolerated) name this app?
    pub(crate) fn matches_resource(&self, resource: &str) -> bool {
        let r = resource.trim_end_matches('/');
        if r.eq_ignore_ascii_case(&self.client_id) {
            return true;
        }
        self.app_id_uri
            .as_deref()
            .is_some_and(|u| u.trim_end_matches('/') == r)
    }
}
