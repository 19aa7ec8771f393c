//! App registrations: client ids, credentials, App ID URIs, delegated scopes, app roles, redirect
//! URIs, requested permissions, token version.

use std::fmt;

use super::credentials::{ClientCertificate, ClientSecret};
use super::permissions::{
    AllowedMemberTypes, AppRole, DelegatedScope, Platform, RedirectUri, RequestedPermissions,
};
use super::workload::{FederatedCredential, ManagedIdentity};
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
    pub(crate) app_roles: Vec<AppRole>,
    pub(crate) scopes: Vec<DelegatedScope>,
    pub(crate) redirect_uris: Vec<RedirectUri>,
    pub(crate) requested: Vec<RequestedPermissions>,
    pub(crate) access_token_version: TokenVersion,
    /// `groupMembershipClaims`: tokens for this app carry the user's groups.
    pub(crate) groups_claim: bool,
    /// Federated identity credentials (workload identity federation).
    pub(crate) federated: Vec<FederatedCredential>,
    /// Set when this is the service principal of a managed identity.
    pub(crate) managed_identity: Option<ManagedIdentity>,
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
            .field("scopes", &self.scopes)
            .field("redirect_uris", &self.redirect_uris)
            .field("requested", &self.requested)
            .field("access_token_version", &self.access_token_version)
            .field("groups_claim", &self.groups_claim)
            .field("federated", &self.federated)
            .field("managed_identity", &self.managed_identity)
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
            scopes: Vec::new(),
            redirect_uris: Vec::new(),
            requested: Vec::new(),
            access_token_version: TokenVersion::V1,
            groups_claim: false,
            federated: Vec::new(),
            managed_identity: None,
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

    /// Declare an app role (application permission) that can be assigned to client apps
    /// (allowed member type: applications). See [`App::app_role_for`] for roles of users.
    pub fn app_role(self, role: impl Into<String>) -> App {
        self.app_role_for(role, AllowedMemberTypes::Applications)
    }

    /// Declare an app role with its allowed member types (Entra's `allowedMemberTypes`).
    ///
    /// ```
    /// use entra_emulator::{AllowedMemberTypes, App};
    /// let api = App::new("11111111-2222-3333-4444-555555555555")
    ///     .app_role_for("Orders.Approver", AllowedMemberTypes::Users)
    ///     .app_role("Orders.Sync"); // applications only, as before
    /// assert_eq!(api.app_roles()[0].allowed, AllowedMemberTypes::Users);
    /// assert!(api.app_roles()[1].allowed.applications());
    /// ```
    pub fn app_role_for(mut self, role: impl Into<String>, allowed: AllowedMemberTypes) -> App {
        self.app_roles.push(AppRole {
            value: role.into(),
            allowed,
        });
        self
    }

    /// Expose a delegated permission (`oauth2PermissionScopes`), e.g. `Files.Read`; a plain
    /// string is a scope users may consent to, with a generated id.
    ///
    /// ```
    /// use entra_emulator::{App, DelegatedScope};
    /// let api = App::new("11111111-2222-3333-4444-555555555555")
    ///     .app_id_uri("api://files")
    ///     .scope("Files.Read")
    ///     .scope(DelegatedScope::new("Files.ReadWrite.All").admin_consent_only());
    /// assert!(!api.scopes()[0].admin_consent_only);
    /// assert!(api.scopes()[1].admin_consent_only);
    /// ```
    pub fn scope(mut self, scope: impl Into<DelegatedScope>) -> App {
        self.scopes.push(scope.into());
        self
    }

    /// Register a redirect URI on a platform (`web`, `spa` or `publicClient`, as in Entra's
    /// manifest). URIs are kept as given; the authorize endpoint compares them exactly.
    ///
    /// ```
    /// use entra_emulator::{App, Platform};
    /// let spa = App::new("11111111-2222-3333-4444-555555555555")
    ///     .redirect_uri(Platform::Spa, "http://localhost:3000/")
    ///     .redirect_uri(Platform::PublicClient, "http://localhost");
    /// assert_eq!(spa.redirect_uris(Platform::Spa), ["http://localhost:3000/"]);
    /// ```
    pub fn redirect_uri(mut self, platform: Platform, uri: impl Into<String>) -> App {
        self.redirect_uris.push(RedirectUri {
            platform,
            uri: uri.into(),
        });
        self
    }

    /// Request delegated permissions on a resource app (Entra's `requiredResourceAccess`):
    /// `resource` is its client id or App ID URI, `scopes` the scope values.
    ///
    /// ```
    /// use entra_emulator::App;
    /// let client = App::new("11111111-2222-3333-4444-555555555555")
    ///     .requests("api://files", ["Files.Read"]);
    /// assert_eq!(client.requested_permissions()[0].scopes, ["Files.Read"]);
    /// ```
    pub fn requests<S: Into<String>>(
        mut self,
        resource: impl Into<String>,
        scopes: impl IntoIterator<Item = S>,
    ) -> App {
        self.requested.push(RequestedPermissions {
            resource: resource.into(),
            scopes: scopes.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// The app roles the app defines.
    pub fn app_roles(&self) -> &[AppRole] {
        &self.app_roles
    }

    /// The delegated scopes the app exposes.
    pub fn scopes(&self) -> &[DelegatedScope] {
        &self.scopes
    }

    /// The exposed scope with this value (case-insensitive).
    pub fn find_scope(&self, value: &str) -> Option<&DelegatedScope> {
        self.scopes
            .iter()
            .find(|s| s.value.eq_ignore_ascii_case(value))
    }

    /// The redirect URIs registered on a platform, in registration order.
    pub fn redirect_uris(&self, platform: Platform) -> Vec<&str> {
        self.redirect_uris
            .iter()
            .filter(|r| r.platform == platform)
            .map(|r| r.uri.as_str())
            .collect()
    }

    /// The platform a redirect URI is registered on (exact comparison; for a public client's
    /// `http://localhost` or `http://127.0.0.1` redirect URI, any port), if any.
    pub fn redirect_platform(&self, uri: &str) -> Option<Platform> {
        let exact = self.redirect_uris.iter().find(|r| r.uri == uri);
        // For a public client's loopback redirect URI, Entra ignores the port (RFC 8252 7.3):
        // a CLI listens on whatever port is free.
        let loopback = || {
            let asked = without_loopback_port(uri)?;
            self.redirect_uris
                .iter()
                .filter(|r| r.platform == Platform::PublicClient)
                .find(|r| without_loopback_port(&r.uri).as_deref() == Some(asked.as_str()))
        };
        exact.or_else(loopback).map(|r| r.platform)
    }

    /// The delegated permissions the app requests, per resource.
    pub fn requested_permissions(&self) -> &[RequestedPermissions] {
        &self.requested
    }

    /// Set `accessTokenAcceptedVersion`: the version of tokens issued *for* this app.
    pub fn access_token_version(mut self, version: TokenVersion) -> App {
        self.access_token_version = version;
        self
    }

    /// Add a federated identity credential: a token of its issuer about its subject, for one of
    /// its audiences, is then accepted as this app's `client_assertion` (workload identity
    /// federation; see [`FederatedCredential`] and
    /// [`Emulator::add_workload_issuer`](crate::Emulator::add_workload_issuer)).
    pub fn federated_credential(mut self, credential: FederatedCredential) -> App {
        self.federated.push(credential);
        self
    }

    /// The federated identity credentials, in the order added.
    pub fn federated_credentials(&self) -> &[FederatedCredential] {
        &self.federated
    }

    /// Set `groupMembershipClaims` to security groups: delegated tokens for this app carry the
    /// user's group object ids in `groups` (past 200 groups, Entra's overage form).
    pub fn groups_claim(mut self) -> App {
        self.groups_claim = true;
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

/// `http://localhost[:port]/path` or `http://127.0.0.1[:port]/path` without its port (and with
/// `/` for an empty path); `None` for any other URI. The authority must be exactly a loopback
/// host and an optional numeric port: `http://localhost:1@evil.example/` names `evil.example`
/// to a browser and must not match.
fn without_loopback_port(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("http://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if port.is_some_and(|p| !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u16>().is_err()) {
        return None;
    }
    if host != "localhost" && host != "127.0.0.1" {
        return None;
    }
    let path = if path.is_empty() || path.starts_with(['?', '#']) {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    Some(format!("http://{host}{path}"))
}

#[cfg(test)]
mod loopback_tests {
    use super::without_loopback_port as strip;

    #[test]
    fn only_a_loopback_host_and_a_numeric_port() {
        assert_eq!(
            strip("http://localhost:8400").as_deref(),
            Some("http://localhost/")
        );
        assert_eq!(
            strip("http://127.0.0.1:1/cb").as_deref(),
            Some("http://127.0.0.1/cb")
        );
        assert_eq!(
            strip("http://localhost").as_deref(),
            Some("http://localhost/")
        );
        for bad in [
            "http://localhost:1@evil.example/",
            "http://localhost:1@evil.example",
            "http://localhost:@evil.example/",
            "http://localhost\\@evil.example/",
            "http://localhost:99999/",
            "http://localhost:/",
            "http://localhost.evil.example/",
            "https://localhost:1/",
            "http://evil.example/",
        ] {
            assert_eq!(strip(bad), None, "{bad}");
        }
    }
}
