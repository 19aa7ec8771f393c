//! Declarative configuration: tenants, apps, credentials, role assignments, users, groups,
//! consents (TOML or JSON).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{
    AllowedMemberTypes, App, ClientSecret, DelegatedScope, FederatedCredential, Group,
    ManagedIdentity, Platform, RoleAssignment, TokenVersion, User, UserKind, normalize_domain,
};
use crate::EmulatorError;

mod registration;

pub(crate) use registration::{ConsentRegistration, TenantRegistration};

/// The emulator's directory contents, usually read from a file with
/// [`EmulatorConfig::from_file`] (`.toml` or `.json`).
///
/// ```toml
/// # Also register the built-in development tenant and apps (default false).
/// dev_tenant = false
///
/// [[tenants]]
/// id = "11111111-1111-1111-1111-111111111111"
/// domains = ["contoso.onmicrosoft.com", "contoso.example"]  # the tenant also answers under these
///
/// [[tenants.apps]]                     # a protected API
/// client_id = "22222222-2222-2222-2222-222222222222"
/// display_name = "Orders API"
/// app_id_uri = "api://orders"
/// # a plain string is a role for applications; a table sets `allowed_member_types`
/// app_roles = ["Orders.Read", { value = "Orders.Approver", allowed_member_types = ["User"] }]
/// scopes = ["Orders.Read", { value = "Orders.Manage", admin_consent_only = true }]
/// access_token_version = 2             # 1 (Entra's default) or 2
///
/// [[tenants.apps]]                     # a single-page app signing users in
/// client_id = "44444444-4444-4444-4444-444444444444"
/// redirect_uris = { spa = ["http://localhost:3000/"], public_client = ["http://localhost"] }
/// requested_permissions = [{ resource = "api://orders", scopes = ["Orders.Read"] }]
///
/// [[tenants.apps]]                     # a daemon calling it
/// client_id = "33333333-3333-3333-3333-333333333333"
/// display_name = "Nightly job"
/// secrets = [{ value = "dev-secret", expires = "2030-01-01T00:00:00Z" }]
/// certificates = ["certs/job.pem"]     # PEM files, relative to the config file
///
/// [[tenants.role_assignments]]
/// client_id = "33333333-3333-3333-3333-333333333333"
/// resource = "api://orders"            # client id or App ID URI of the resource app
/// role = "Orders.Read"
///
/// [[tenants.managed_identities]]       # tokens from the managed identity endpoints
/// client_id = "88888888-8888-4888-8888-888888888888"
/// display_name = "orders-worker"       # object_id, resource_id: generated when omitted
/// system_assigned = false
///
/// [[tenants.groups]]
/// object_id = "55555555-5555-5555-5555-555555555555"   # generated if omitted
/// display_name = "Approvers"
///
/// [[tenants.users]]
/// user_principal_name = "megan@contoso.onmicrosoft.com"
/// display_name = "Megan Bowen"
/// password = "dev-only-password"       # only for the password grant (ROPC)
/// groups = ["55555555-5555-5555-5555-555555555555"]
/// app_roles = [{ resource = "api://orders", role = "Orders.Approver" }]
///
/// [[tenants.consents]]                 # admin consent; add `user = "<UPN or object id>"` for one user
/// client_id = "44444444-4444-4444-4444-444444444444"
/// resource = "api://orders"
/// scopes = ["Orders.Read"]
/// ```
///
/// ```
/// let cfg = entra_emulator::EmulatorConfig::from_toml_str(r#"
///     [[tenants]]
///     id = "11111111-1111-1111-1111-111111111111"
///     [[tenants.apps]]
///     client_id = "22222222-2222-2222-2222-222222222222"
///     secrets = [{ value = "s" }]
/// "#)?;
/// assert_eq!(cfg.tenants.len(), 1);
/// # Ok::<(), entra_emulator::EmulatorError>(())
/// ```
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct EmulatorConfig {
    /// Also register the built-in development tenant and apps.
    #[serde(default)]
    pub dev_tenant: bool,
    /// The tenants.
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
}

/// One tenant in an [`EmulatorConfig`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TenantConfig {
    /// Tenant id (a GUID).
    pub id: String,
    /// Domain names of the tenant, e.g. `contoso.onmicrosoft.com`: every tenant endpoint also
    /// answers under `/{domain}/...` (see [`Emulator::add_tenant_domain`](crate::Emulator::add_tenant_domain)).
    #[serde(default)]
    pub domains: Vec<String>,
    /// App registrations in this tenant.
    #[serde(default)]
    pub apps: Vec<AppConfig>,
    /// App-role assignments (application permissions granted to client apps).
    #[serde(default)]
    pub role_assignments: Vec<RoleAssignmentConfig>,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<GroupConfig>,
    /// Users.
    #[serde(default)]
    pub users: Vec<UserConfig>,
    /// Consent grants, for every user (admin consent) or one user.
    #[serde(default)]
    pub consents: Vec<ConsentConfig>,
    /// Development mode: every scope a resource app exposes counts as consented (default false;
    /// on for the built-in development tenant).
    #[serde(default)]
    pub auto_consent: bool,
    /// Managed identities (service principals whose tokens come from the managed identity
    /// endpoints).
    #[serde(default)]
    pub managed_identities: Vec<ManagedIdentityConfig>,
}

/// A managed identity in a [`TenantConfig`] (see [`ManagedIdentity`](crate::ManagedIdentity)).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ManagedIdentityConfig {
    /// Client id (a GUID).
    pub client_id: String,
    /// Object id (principal id, a GUID); generated if omitted.
    #[serde(default)]
    pub object_id: Option<String>,
    /// Azure resource id; by default one under the `emulator` resource group.
    #[serde(default)]
    pub resource_id: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The system-assigned identity of the emulated host (at most one).
    #[serde(default)]
    pub system_assigned: bool,
}

/// A federated identity credential in an [`AppConfig`] (see
/// [`FederatedCredential`](crate::FederatedCredential)).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FederatedCredentialConfig {
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Issuer, compared exactly with the token's `iss`.
    pub issuer: String,
    /// Subject, compared exactly with the token's `sub`.
    pub subject: String,
    /// Accepted audiences; default `["api://AzureADTokenExchange"]`.
    #[serde(default)]
    pub audiences: Vec<String>,
}

/// One app registration in a [`TenantConfig`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AppConfig {
    /// Client (application) id.
    pub client_id: String,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Client secrets.
    #[serde(default)]
    pub secrets: Vec<SecretConfig>,
    /// Paths of PEM certificate files (relative paths are relative to the config file).
    #[serde(default)]
    pub certificates: Vec<PathBuf>,
    /// App ID URI, e.g. `api://orders`.
    #[serde(default)]
    pub app_id_uri: Option<String>,
    /// App roles the app defines.
    #[serde(default)]
    pub app_roles: Vec<AppRoleConfig>,
    /// Delegated scopes the app exposes (`oauth2PermissionScopes`).
    #[serde(default)]
    pub scopes: Vec<ScopeConfig>,
    /// Redirect URIs per platform.
    #[serde(default)]
    pub redirect_uris: RedirectUrisConfig,
    /// Delegated permissions the app requests on resource apps of the tenant.
    #[serde(default)]
    pub requested_permissions: Vec<RequestedPermissionsConfig>,
    /// `accessTokenAcceptedVersion`: 1 (default) or 2.
    #[serde(default)]
    pub access_token_version: Option<u8>,
    /// Federated identity credentials (workload identity federation).
    #[serde(default)]
    pub federated_credentials: Vec<FederatedCredentialConfig>,
}

/// An app role in an [`AppConfig`]: a plain value (a role for applications, as before) or a
/// table with `allowed_member_types` (`"User"`, `"Application"` or both).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum AppRoleConfig {
    /// A role for applications.
    Value(String),
    /// A role with its allowed member types.
    Detailed {
        /// The role value.
        value: String,
        /// `["User"]`, `["Application"]` or `["User", "Application"]`.
        allowed_member_types: Vec<String>,
    },
}

impl From<&str> for AppRoleConfig {
    fn from(value: &str) -> AppRoleConfig {
        AppRoleConfig::Value(value.to_owned())
    }
}

/// A delegated scope in an [`AppConfig`]: a plain value (users may consent, id generated) or a
/// table.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum ScopeConfig {
    /// A scope users may consent to.
    Value(String),
    /// A scope with its id and consent type.
    Detailed {
        /// The scope value.
        value: String,
        /// Its id (a GUID); generated if omitted.
        #[serde(default)]
        id: Option<String>,
        /// Only an administrator may consent to it.
        #[serde(default)]
        admin_consent_only: bool,
    },
}

/// Redirect URIs of an [`AppConfig`], per platform (as in Entra's manifest).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RedirectUrisConfig {
    /// `web` (confidential clients).
    #[serde(default)]
    pub web: Vec<String>,
    /// `spa` (single-page apps).
    #[serde(default)]
    pub spa: Vec<String>,
    /// `publicClient` (mobile, desktop, CLI).
    #[serde(default)]
    pub public_client: Vec<String>,
}

/// Delegated permissions an [`AppConfig`] requests on one resource app.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RequestedPermissionsConfig {
    /// The resource app: client id or App ID URI.
    pub resource: String,
    /// Scope values it exposes.
    pub scopes: Vec<String>,
}

/// A group in a [`TenantConfig`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GroupConfig {
    /// Object id (a GUID); generated if omitted.
    #[serde(default)]
    pub object_id: Option<String>,
    /// Display name.
    pub display_name: String,
}

/// A user in a [`TenantConfig`]. `Debug` never shows the password.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct UserConfig {
    /// Object id (a GUID); generated if omitted.
    #[serde(default)]
    pub object_id: Option<String>,
    /// User principal name, unique in the tenant (case-insensitive).
    pub user_principal_name: String,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Given name.
    #[serde(default)]
    pub given_name: Option<String>,
    /// Family name.
    #[serde(default)]
    pub family_name: Option<String>,
    /// Mail address.
    #[serde(default)]
    pub mail: Option<String>,
    /// Password, for the password grant (ROPC) only.
    #[serde(default)]
    pub password: Option<String>,
    /// Object ids of groups of this tenant the user is a member of.
    #[serde(default)]
    pub groups: Vec<String>,
    /// App roles assigned to the user (roles the resource allows for users).
    #[serde(default)]
    pub app_roles: Vec<UserRoleConfig>,
    /// `"member"` (default) or `"federated"` (the password grant is refused).
    #[serde(default)]
    pub kind: Option<String>,
}

impl fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserConfig")
            .field("object_id", &self.object_id)
            .field("user_principal_name", &self.user_principal_name)
            .field("display_name", &self.display_name)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("groups", &self.groups)
            .field("app_roles", &self.app_roles)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// An app role assigned to a user in a [`UserConfig`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct UserRoleConfig {
    /// The resource app: client id or App ID URI.
    pub resource: String,
    /// The role value.
    pub role: String,
}

/// A consent grant in a [`TenantConfig`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ConsentConfig {
    /// The client app.
    pub client_id: String,
    /// The resource app: client id or App ID URI.
    pub resource: String,
    /// Scope values the resource exposes.
    pub scopes: Vec<String>,
    /// The user (UPN or object id) for a user's consent; none for admin consent.
    #[serde(default)]
    pub user: Option<String>,
}

/// A client secret in an [`AppConfig`]. `Debug` never shows the value.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SecretConfig {
    /// The secret value.
    pub value: String,
    /// Optional expiry, RFC 3339 (e.g. `2030-01-01T00:00:00Z`).
    #[serde(default)]
    pub expires: Option<String>,
}

impl fmt::Debug for SecretConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretConfig")
            .field("value", &"<redacted>")
            .field("expires", &self.expires)
            .finish()
    }
}

/// An app-role assignment in a [`TenantConfig`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RoleAssignmentConfig {
    /// The client app that gets the role.
    pub client_id: String,
    /// The resource app: its client id or App ID URI.
    pub resource: String,
    /// The role value.
    pub role: String,
}
