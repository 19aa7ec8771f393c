//! Declarative configuration: tenants, apps, credentials, role assignments, users, groups,
//! consents (TOML or JSON).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{
    AllowedMemberTypes, App, ClientSecret, DelegatedScope, Group, Platform, RoleAssignment,
    TokenVersion, User, UserKind, normalize_domain,
};
use crate::EmulatorError;

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

/// A consent to register: `user` `None` for admin consent.
pub(crate) struct ConsentRegistration {
    pub(crate) client_id: String,
    pub(crate) resource: String,
    pub(crate) user: Option<String>,
    pub(crate) scopes: Vec<String>,
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

/// What a config turns into, per tenant.
pub(crate) struct TenantRegistration {
    /// Tenant id.
    pub(crate) id: String,
    /// Domain names, lower-cased.
    pub(crate) domains: Vec<String>,
    /// App registrations.
    pub(crate) apps: Vec<App>,
    /// App-role assignments, resources named by client id where the config's apps allow.
    pub(crate) assignments: Vec<RoleAssignment>,
    /// Groups.
    pub(crate) groups: Vec<Group>,
    /// Users.
    pub(crate) users: Vec<User>,
    /// Consents.
    pub(crate) consents: Vec<ConsentRegistration>,
    /// Development-mode consent.
    pub(crate) auto_consent: bool,
}

impl EmulatorConfig {
    /// Read a `.toml` or `.json` file. Relative certificate paths are resolved against the
    /// file's directory.
    pub fn from_file(path: impl AsRef<Path>) -> Result<EmulatorConfig, EmulatorError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| EmulatorError::Config(format!("{}: {e}", path.display())))?;
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut cfg = match ext.as_str() {
            "toml" => EmulatorConfig::from_toml_str(&text)?,
            "json" => EmulatorConfig::from_json_str(&text)?,
            _ => {
                return Err(EmulatorError::Config(format!(
                    "{}: expected a .toml or .json file",
                    path.display()
                )));
            }
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        for t in &mut cfg.tenants {
            for a in &mut t.apps {
                for c in &mut a.certificates {
                    if c.is_relative() {
                        *c = dir.join(&*c);
                    }
                }
            }
        }
        Ok(cfg)
    }

    /// Parse TOML.
    pub fn from_toml_str(text: &str) -> Result<EmulatorConfig, EmulatorError> {
        toml::from_str(text).map_err(|e| EmulatorError::Config(e.to_string()))
    }

    /// Parse JSON.
    pub fn from_json_str(text: &str) -> Result<EmulatorConfig, EmulatorError> {
        serde_json::from_str(text).map_err(|e| EmulatorError::Config(e.to_string()))
    }

    /// Validate and convert into app registrations (reads certificate files).
    pub(crate) fn registrations(&self) -> Result<Vec<TenantRegistration>, EmulatorError> {
        let mut out: Vec<TenantRegistration> = Vec::new();
        for t in &self.tenants {
            if uuid::Uuid::parse_str(&t.id).is_err() {
                return Err(EmulatorError::Config(format!(
                    "tenant id '{}' is not a GUID",
                    t.id
                )));
            }
            let mut domains: Vec<String> = Vec::new();
            for d in &t.domains {
                let domain = normalize_domain(d).map_err(|why| {
                    EmulatorError::Config(format!("tenant {}: domain '{d}': {why}", t.id))
                })?;
                let owner = out
                    .iter()
                    .find(|r| r.domains.contains(&domain))
                    .map(|r| r.id.as_str());
                if let Some(owner) = owner.filter(|o| !o.eq_ignore_ascii_case(&t.id)) {
                    return Err(EmulatorError::Config(format!(
                        "domain '{domain}' is given to tenant {owner} and to tenant {}",
                        t.id
                    )));
                }
                if !domains.contains(&domain) {
                    domains.push(domain);
                }
            }
            let mut apps = Vec::new();
            for a in &t.apps {
                apps.push(app_from_config(a)?);
            }
            let mut assignments = Vec::new();
            for r in &t.role_assignments {
                let resource = apps
                    .iter()
                    .find(|a: &&App| a.matches_resource(&r.resource))
                    .map(|a| a.client_id.clone())
                    .unwrap_or_else(|| r.resource.clone());
                assignments.push(RoleAssignment {
                    client_id: r.client_id.clone(),
                    resource,
                    role: r.role.clone(),
                });
            }
            let groups = t
                .groups
                .iter()
                .map(|g| {
                    let group = Group::new(g.display_name.clone());
                    match &g.object_id {
                        Some(id) => group.object_id(id.clone()),
                        None => group,
                    }
                })
                .collect();
            let users = t
                .users
                .iter()
                .map(user_from_config)
                .collect::<Result<_, _>>()?;
            let consents = t
                .consents
                .iter()
                .map(|c| ConsentRegistration {
                    client_id: c.client_id.clone(),
                    resource: c.resource.clone(),
                    user: c.user.clone(),
                    scopes: c.scopes.clone(),
                })
                .collect();
            out.push(TenantRegistration {
                id: t.id.clone(),
                domains,
                apps,
                assignments,
                groups,
                users,
                consents,
                auto_consent: t.auto_consent,
            });
        }
        Ok(out)
    }
}

fn app_from_config(a: &AppConfig) -> Result<App, EmulatorError> {
    let mut app = App::new(a.client_id.clone());
    if let Some(n) = &a.display_name {
        app = app.display_name(n.clone());
    }
    for s in &a.secrets {
        let mut secret = ClientSecret::new(s.value.clone());
        if let Some(exp) = &s.expires {
            secret = secret.expires_at(parse_rfc3339(exp)?);
        }
        app = app.secret(secret);
    }
    for path in &a.certificates {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| EmulatorError::Config(format!("{}: {e}", path.display())))?;
        app = app
            .try_certificate_pem(&pem)
            .map_err(|e| EmulatorError::Config(format!("{}: {e}", path.display())))?;
    }
    if let Some(uri) = &a.app_id_uri {
        app = app.app_id_uri(uri.clone());
    }
    for r in &a.app_roles {
        app = match r {
            AppRoleConfig::Value(v) => app.app_role(v.clone()),
            AppRoleConfig::Detailed {
                value,
                allowed_member_types,
            } => app.app_role_for(value.clone(), member_types(allowed_member_types, value)?),
        };
    }
    for s in &a.scopes {
        let scope = match s {
            ScopeConfig::Value(v) => DelegatedScope::new(v.clone()),
            ScopeConfig::Detailed {
                value,
                id,
                admin_consent_only,
            } => {
                let mut scope = DelegatedScope::new(value.clone());
                if let Some(id) = id {
                    if uuid::Uuid::parse_str(id).is_err() {
                        return Err(EmulatorError::Config(format!(
                            "app '{}': scope id '{id}' is not a GUID",
                            a.client_id
                        )));
                    }
                    scope = scope.id(id.clone());
                }
                if *admin_consent_only {
                    scope = scope.admin_consent_only();
                }
                scope
            }
        };
        if app.find_scope(&scope.value).is_some() {
            return Err(EmulatorError::Config(format!(
                "app '{}': scope '{}' is declared twice",
                a.client_id, scope.value
            )));
        }
        app = app.scope(scope);
    }
    let uris = &a.redirect_uris;
    for (platform, list) in [
        (Platform::Web, &uris.web),
        (Platform::Spa, &uris.spa),
        (Platform::PublicClient, &uris.public_client),
    ] {
        for uri in list {
            app = app.redirect_uri(platform, uri.clone());
        }
    }
    for p in &a.requested_permissions {
        app = app.requests(p.resource.clone(), p.scopes.iter().cloned());
    }
    app = app.access_token_version(match a.access_token_version {
        None | Some(1) => TokenVersion::V1,
        Some(2) => TokenVersion::V2,
        Some(v) => {
            return Err(EmulatorError::Config(format!(
                "app '{}': access_token_version must be 1 or 2, not {v}",
                a.client_id
            )));
        }
    });
    Ok(app)
}

/// `["User"]`, `["Application"]` or both (case-insensitive).
fn member_types(types: &[String], role: &str) -> Result<AllowedMemberTypes, EmulatorError> {
    let mut users = false;
    let mut apps = false;
    for t in types {
        match t.to_ascii_lowercase().as_str() {
            "user" => users = true,
            "application" => apps = true,
            _ => {
                return Err(EmulatorError::Config(format!(
                    "role '{role}': allowed member type '{t}' is not \"User\" or \"Application\""
                )));
            }
        }
    }
    match (users, apps) {
        (true, true) => Ok(AllowedMemberTypes::Both),
        (true, false) => Ok(AllowedMemberTypes::Users),
        (false, true) => Ok(AllowedMemberTypes::Applications),
        (false, false) => Err(EmulatorError::Config(format!(
            "role '{role}': allowed_member_types is empty"
        ))),
    }
}

fn user_from_config(u: &UserConfig) -> Result<User, EmulatorError> {
    let mut user = User::new(u.user_principal_name.clone());
    if let Some(id) = &u.object_id {
        user = user.object_id(id.clone());
    }
    if let Some(v) = &u.display_name {
        user = user.display_name(v.clone());
    }
    if let Some(v) = &u.given_name {
        user = user.given_name(v.clone());
    }
    if let Some(v) = &u.family_name {
        user = user.family_name(v.clone());
    }
    if let Some(v) = &u.mail {
        user = user.mail(v.clone());
    }
    if let Some(v) = &u.password {
        user = user.password(v.clone());
    }
    for g in &u.groups {
        user = user.member_of(g.clone());
    }
    for r in &u.app_roles {
        user = user.app_role(r.resource.clone(), r.role.clone());
    }
    user = user.kind(
        match u.kind.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("member") => UserKind::Member,
            Some("federated") => UserKind::Federated,
            Some(other) => {
                return Err(EmulatorError::Config(format!(
                    "user '{}': kind '{other}' is not \"member\" or \"federated\"",
                    u.user_principal_name
                )));
            }
        },
    );
    Ok(user)
}

fn parse_rfc3339(s: &str) -> Result<SystemTime, EmulatorError> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| EmulatorError::Config(format!("invalid RFC 3339 time '{s}': {e}")))?;
    let secs = t.unix_timestamp();
    Ok(if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    })
}
