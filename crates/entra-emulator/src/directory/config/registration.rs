//! Reading a configuration file, and turning a configuration into checked registrations (apps,
//! assignments, users, groups, consents) per tenant.

use super::*;

/// A consent to register: `user` `None` for admin consent.
pub(crate) struct ConsentRegistration {
    pub(crate) client_id: String,
    pub(crate) resource: String,
    pub(crate) user: Option<String>,
    pub(crate) scopes: Vec<String>,
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
    /// Managed identities.
    pub(crate) managed_identities: Vec<ManagedIdentity>,
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
                managed_identities: t
                    .managed_identities
                    .iter()
                    .map(identity_from_config)
                    .collect(),
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
    for f in &a.federated_credentials {
        let mut credential = FederatedCredential::new(f.issuer.clone(), f.subject.clone());
        if let Some(name) = &f.name {
            credential = credential.name(name.clone());
        }
        if !f.audiences.is_empty() {
            credential.audiences = f.audiences.clone();
        }
        app = app.federated_credential(credential);
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

fn identity_from_config(m: &ManagedIdentityConfig) -> ManagedIdentity {
    let mut identity = ManagedIdentity::new(m.client_id.clone());
    if let Some(id) = &m.object_id {
        identity = identity.object_id(id.clone());
    }
    if let Some(id) = &m.resource_id {
        identity = identity.resource_id(id.clone());
    }
    if let Some(name) = &m.display_name {
        identity = identity.display_name(name.clone());
    }
    if m.system_assigned {
        identity = identity.system_assigned();
    }
    identity
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
