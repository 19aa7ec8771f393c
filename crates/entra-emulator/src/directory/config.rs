//! Declarative configuration: tenants, apps, credentials, role assignments (TOML or JSON).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{App, ClientSecret, RoleAssignment, TokenVersion, normalize_domain};
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
/// app_roles = ["Orders.Read", "Orders.Write"]
/// access_token_version = 2             # 1 (Entra's default) or 2
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
    pub app_roles: Vec<String>,
    /// `accessTokenAcceptedVersion`: 1 (default) or 2.
    #[serde(default)]
    pub access_token_version: Option<u8>,
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
            out.push(TenantRegistration {
                id: t.id.clone(),
                domains,
                apps,
                assignments,
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
        app = app.app_role(r.clone());
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
