//! The directory: tenants with their domain names, app registrations and their credentials,
//! app-role assignments, service principals, users, groups and consent; and the configuration
//! that fills it.
//!
//! Nothing here knows HTTP: the endpoints in `http` read the directory, the [`Emulator`]
//! handle and the builder write it.
//!
//! [`Emulator`]: crate::Emulator

mod app;
mod config;
mod consent;
mod credentials;
mod dev;
mod graph;
mod ids;
mod permissions;
mod tenant;
mod user;
mod workload;

use std::collections::HashMap;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub use app::{App, TokenVersion};
pub use config::{
    AppConfig, AppRoleConfig, ConsentConfig, EmulatorConfig, FederatedCredentialConfig,
    GroupConfig, ManagedIdentityConfig, RedirectUrisConfig, RequestedPermissionsConfig,
    RoleAssignmentConfig, ScopeConfig, SecretConfig, TenantConfig, UserConfig, UserRoleConfig,
};
pub(crate) use config::{ConsentRegistration, TenantRegistration};
pub(crate) use consent::ConsentGrant;
pub use credentials::ClientSecret;
pub(crate) use dev::dev_tenant;
pub use dev::{
    DEV_API_CLIENT_ID, DEV_CLIENT_ID, DEV_CLIENT_SECRET, DEV_MANAGED_IDENTITY_CLIENT_ID,
    DEV_SECOND_USER_ID, DEV_SECOND_USER_UPN, DEV_SPA_CLIENT_ID, DEV_SPA_REDIRECT_URI,
    DEV_TENANT_DOMAIN, DEV_TENANT_ID, DEV_USER_ID, DEV_USER_PASSWORD, DEV_USER_UPN,
};
pub use graph::{GRAPH_APP_ID, GRAPH_RESOURCE};
pub(crate) use graph::{GRAPH_DEFAULT_SCOPE, graph_app};
pub use permissions::{
    AllowedMemberTypes, AppRole, DelegatedScope, Platform, RequestedPermissions,
};
pub use user::{Group, Password, User, UserKind, UserRoleAssignment};
pub(crate) use workload::IdentitySelector;
pub use workload::{AZURE_AD_TOKEN_EXCHANGE, FederatedCredential, ManagedIdentity};

use ids::check_guid;
pub(crate) use ids::{normalize_domain, pairwise_sub, service_principal_id};
pub(crate) use tenant::{RoleAssignment, Tenant};

use crate::EmulatorError;
use crate::keys::SigningKey;

/// How a request path names a tenant.
pub(crate) enum TenantName {
    /// A registered tenant, named by its id or one of its domain names.
    Specific {
        /// The tenant id, lower-cased.
        tid: String,
        /// How endpoint URLs name the tenant: the domain name as the caller wrote it in the
        /// path, or the lower-cased tenant id.
        segment: String,
    },
    /// `common` or `organizations` (lower-cased).
    Independent(String),
}

/// Every tenant and every domain name.
#[derive(Default)]
pub(crate) struct Directory {
    /// By lower-cased tenant id.
    tenants: HashMap<String, Tenant>,
    /// Domain names (lower-cased) and the lower-cased id of the tenant each belongs to.
    domains: HashMap<String, String>,
}

impl Directory {
    /// A tenant by id (case-insensitive).
    pub(crate) fn tenant(&self, tid: &str) -> Option<&Tenant> {
        self.tenants.get(&tid.to_ascii_lowercase())
    }

    /// Every tenant, by lower-cased id.
    pub(crate) fn tenants(&self) -> impl Iterator<Item = (&str, &Tenant)> {
        self.tenants.iter().map(|(tid, t)| (tid.as_str(), t))
    }

    /// The tenant with this id, created if needed.
    /// A tenant, created when new (with Microsoft Graph, which every tenant has).
    fn tenant_mut(&mut self, tid: &str) -> &mut Tenant {
        self.tenants
            .entry(tid.to_ascii_lowercase())
            .or_insert_with(|| {
                let mut tenant = Tenant::default();
                let graph = graph_app();
                tenant.apps.insert(graph.client_id().to_owned(), graph);
                tenant
            })
    }

    /// What a path segment names: a tenant by id or domain name, `common`/`organizations`, or
    /// nothing known (`None`).
    pub(crate) fn resolve(&self, name: &str) -> Option<TenantName> {
        let lower = name.to_ascii_lowercase();
        if lower == "common" || lower == "organizations" {
            return Some(TenantName::Independent(lower));
        }
        if self.tenants.contains_key(&lower) {
            return Some(TenantName::Specific {
                tid: lower.clone(),
                segment: lower,
            });
        }
        self.tenant_of_domain(&lower)
            .map(|tid| TenantName::Specific {
                tid: tid.to_owned(),
                segment: name.to_owned(),
            })
    }

    /// The lower-cased id of the tenant that has this domain name, if any.
    pub(crate) fn tenant_of_domain(&self, domain: &str) -> Option<&str> {
        self.domains
            .get(&domain.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// Register a tenant (no-op if it exists).
    pub(crate) fn add_tenant(&mut self, tid: &str) {
        self.tenant_mut(tid);
    }

    /// Give a tenant a domain name, creating the tenant if needed; see
    /// [`Emulator::add_tenant_domain`](crate::Emulator::add_tenant_domain).
    pub(crate) fn add_domain(&mut self, tid: &str, domain: &str) -> Result<(), EmulatorError> {
        let name = normalize_domain(domain)
            .map_err(|why| EmulatorError::Config(format!("'{domain}': {why}")))?;
        let tid = tid.to_ascii_lowercase();
        self.add_tenant(&tid);
        match self.domains.get(&name) {
            Some(owner) if *owner != tid => Err(EmulatorError::Config(format!(
                "domain '{name}' already belongs to tenant {owner}"
            ))),
            Some(_) => Ok(()),
            None => {
                self.domains.insert(name, tid);
                Ok(())
            }
        }
    }

    /// The domain names of a tenant, lower-cased and sorted.
    pub(crate) fn domains_of(&self, tid: &str) -> Vec<String> {
        let tid = tid.to_ascii_lowercase();
        let mut out: Vec<String> = self
            .domains
            .iter()
            .filter(|(_, owner)| **owner == tid)
            .map(|(domain, _)| domain.clone())
            .collect();
        out.sort();
        out
    }

    /// Register (or replace) an app, creating the tenant if needed.
    pub(crate) fn register_app(&mut self, tid: &str, app: App) {
        self.tenant_mut(tid)
            .apps
            .insert(app.client_id().to_ascii_lowercase(), app);
    }

    /// Assign an app role; the resource may be named by client id or App ID URI.
    pub(crate) fn assign_app_role(&mut self, tid: &str, assignment: RoleAssignment) {
        let tenant = self.tenant_mut(tid);
        let resource = tenant
            .resource(&assignment.resource)
            .map(|a| a.client_id().to_owned())
            .unwrap_or(assignment.resource)
            .to_ascii_lowercase();
        let entry = RoleAssignment {
            client_id: assignment.client_id.to_ascii_lowercase(),
            resource,
            role: assignment.role,
        };
        if !tenant.assignments.contains(&entry) {
            tenant.assignments.push(entry);
        }
    }

    /// Add an app-specific signing key (the newest signs the app's tokens).
    pub(crate) fn add_app_key(&mut self, tid: &str, client_id: &str, key: SigningKey) {
        self.tenant_mut(tid)
            .app_keys
            .entry(client_id.to_ascii_lowercase())
            .or_default()
            .push(key);
    }

    /// Add a group; see [`Emulator::add_group`](crate::Emulator::add_group).
    pub(crate) fn add_group(&mut self, tid: &str, group: Group) -> Result<(), EmulatorError> {
        check_guid("group object id", &group.object_id)?;
        let tenant = self.tenant_mut(tid);
        if tenant.group(&group.object_id).is_some() {
            return Err(EmulatorError::Config(format!(
                "tenant {tid}: group {} exists already",
                group.object_id
            )));
        }
        tenant.groups.push(group);
        Ok(())
    }

    /// Add a user; see [`Emulator::add_user`](crate::Emulator::add_user). With `strict`, a
    /// role assignment must name a registered app (as a configuration must).
    pub(crate) fn add_user(
        &mut self,
        tid: &str,
        mut user: User,
        strict: bool,
    ) -> Result<(), EmulatorError> {
        let err = |why: String| EmulatorError::Config(format!("tenant {tid}: {why}"));
        check_guid("user object id", &user.object_id)?;
        let upn = &user.user_principal_name;
        let at = upn.find('@').unwrap_or(0);
        if at == 0 || at + 1 == upn.len() {
            return Err(err(format!(
                "'{upn}' is not a user principal name (name@domain)"
            )));
        }
        let tenant = self.tenant_mut(tid);
        if let Some(other) = tenant.users.iter().find(|u| {
            u.user_principal_name.eq_ignore_ascii_case(upn)
                || u.object_id.eq_ignore_ascii_case(&user.object_id)
        }) {
            return Err(err(format!(
                "user '{upn}' ({}) clashes with user '{}' ({}): UPNs and object ids are unique",
                user.object_id, other.user_principal_name, other.object_id
            )));
        }
        for g in &user.groups {
            if tenant.group(g).is_none() {
                return Err(err(format!(
                    "user '{upn}' is a member of unknown group {g}"
                )));
            }
        }
        for a in &mut user.app_roles {
            match tenant.resource(&a.resource) {
                Some(app) => {
                    let defined = app
                        .app_roles()
                        .iter()
                        .any(|r| r.value == a.role && r.allowed.users());
                    if !defined {
                        return Err(err(format!(
                            "user '{upn}': app {} defines no role '{}' for users",
                            app.client_id(),
                            a.role
                        )));
                    }
                    a.resource = app.client_id().to_ascii_lowercase();
                }
                None if strict => {
                    return Err(err(format!(
                        "user '{upn}': role '{}' of unknown app '{}'",
                        a.role, a.resource
                    )));
                }
                None => a.resource = a.resource.to_ascii_lowercase(),
            }
        }
        tenant.users.push(user);
        Ok(())
    }

    /// Grant consent; see [`Emulator::grant_admin_consent`](crate::Emulator::grant_admin_consent)
    /// and [`Emulator::grant_user_consent`](crate::Emulator::grant_user_consent). With `strict`,
    /// the client and resource must be registered and the resource must expose the scopes.
    pub(crate) fn grant_consent(
        &mut self,
        tid: &str,
        consent: ConsentRegistration,
        strict: bool,
    ) -> Result<(), EmulatorError> {
        let err = |why: String| EmulatorError::Config(format!("tenant {tid}: {why}"));
        let tenant = self.tenant_mut(tid);
        let user = match &consent.user {
            None => None,
            Some(name) => match tenant.user(name) {
                Some(u) => Some(u.object_id.to_ascii_lowercase()),
                None => return Err(err(format!("consent for unknown user '{name}'"))),
            },
        };
        let resource = match tenant.resource(&consent.resource) {
            Some(app) => {
                let unexposed = consent.scopes.iter().find(|s| app.find_scope(s).is_none());
                if let Some(s) = unexposed.filter(|_| strict) {
                    return Err(err(format!(
                        "consent to scope '{s}' that app '{}' does not expose",
                        consent.resource
                    )));
                }
                app.client_id().to_ascii_lowercase()
            }
            None if strict => {
                return Err(err(format!(
                    "consent on unknown app '{}'",
                    consent.resource
                )));
            }
            None => consent.resource.to_ascii_lowercase(),
        };
        if strict && tenant.app(&consent.client_id).is_none() {
            return Err(err(format!(
                "consent for unknown client app '{}'",
                consent.client_id
            )));
        }
        tenant.add_consent(ConsentGrant {
            client_id: consent.client_id.to_ascii_lowercase(),
            resource,
            user,
            scopes: consent.scopes,
        });
        Ok(())
    }

    /// Turn development-mode consent on or off for a tenant.
    pub(crate) fn set_auto_consent(&mut self, tid: &str, on: bool) {
        self.tenant_mut(tid).auto_consent = on;
    }

    /// Register a tenant with its domains, apps, role assignments, groups, users and consents;
    /// references (groups of users, apps of role assignments and consents, requested scopes)
    /// must resolve.
    pub(crate) fn register(
        &mut self,
        registration: TenantRegistration,
    ) -> Result<(), EmulatorError> {
        let TenantRegistration {
            id,
            domains,
            apps,
            assignments,
            groups,
            users,
            consents,
            auto_consent,
            managed_identities,
        } = registration;
        self.add_tenant(&id);
        for domain in &domains {
            self.add_domain(&id, domain)?;
        }
        for app in apps {
            self.register_app(&id, app);
        }
        for identity in managed_identities {
            self.add_managed_identity(&id, identity)?;
        }
        for assignment in assignments {
            self.assign_app_role(&id, assignment);
        }
        self.check_requested_permissions(&id)?;
        for group in groups {
            self.add_group(&id, group)?;
        }
        for user in users {
            self.add_user(&id, user, true)?;
        }
        for consent in consents {
            self.grant_consent(&id, consent, true)?;
        }
        if auto_consent {
            self.set_auto_consent(&id, true);
        }
        Ok(())
    }

    /// Every permission an app of the tenant requests names a registered app and scopes it
    /// exposes.
    fn check_requested_permissions(&self, tid: &str) -> Result<(), EmulatorError> {
        let Some(tenant) = self.tenant(tid) else {
            return Ok(());
        };
        for app in tenant.apps.values() {
            for p in app.requested_permissions() {
                let Some(resource) = tenant.resource(&p.resource) else {
                    return Err(EmulatorError::Config(format!(
                        "tenant {tid}: app {} requests permissions on unknown app '{}'",
                        app.client_id(),
                        p.resource
                    )));
                };
                if let Some(s) = p.scopes.iter().find(|s| resource.find_scope(s).is_none()) {
                    return Err(EmulatorError::Config(format!(
                        "tenant {tid}: app {} requests scope '{s}' that '{}' does not expose",
                        app.client_id(),
                        p.resource
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
