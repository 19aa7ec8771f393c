//! One tenant: its apps, the roles granted between them, users, groups, consent and
//! app-specific signing keys.

use super::*;

/// An app-role assignment: `role` of the resource app granted to the client app's service
/// principal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RoleAssignment {
    /// The client app that gets the role.
    pub(crate) client_id: String,
    /// The resource app: its client id (in the directory; a configuration may name its App ID
    /// URI, resolved when registered).
    pub(crate) resource: String,
    /// The role value.
    pub(crate) role: String,
}

/// One tenant: its apps, the roles granted between them and app-specific signing keys.
#[derive(Default)]
pub(crate) struct Tenant {
    /// App registrations, by lower-cased client id.
    pub(super) apps: HashMap<String, App>,
    /// Ids lower-cased.
    pub(super) assignments: Vec<RoleAssignment>,
    /// App-specific signing keys, by lower-cased client id, oldest first.
    pub(super) app_keys: HashMap<String, Vec<SigningKey>>,
    /// Users, in the order added.
    pub(super) users: Vec<User>,
    /// Groups, in the order added.
    pub(super) groups: Vec<Group>,
    /// Consent grants (admin and per user).
    pub(super) consents: Vec<ConsentGrant>,
    /// Development mode: every scope a resource exposes counts as consented.
    pub(super) auto_consent: bool,
}

impl Tenant {
    /// The app with this client id (case-insensitive).
    pub(crate) fn app(&self, client_id: &str) -> Option<&App> {
        self.apps.get(&client_id.to_ascii_lowercase())
    }

    /// The app a resource name (client id or App ID URI) names.
    pub(crate) fn resource(&self, resource: &str) -> Option<&App> {
        self.app(resource)
            .or_else(|| self.apps.values().find(|a| a.matches_resource(resource)))
    }

    /// The roles of the resource app assigned to the client app, in assignment order.
    pub(crate) fn roles(&self, client_id: &str, resource_id: &str) -> Vec<String> {
        let c = client_id.to_ascii_lowercase();
        let r = resource_id.to_ascii_lowercase();
        let mut roles: Vec<String> = Vec::new();
        for a in &self.assignments {
            if a.client_id == c && a.resource == r && !roles.contains(&a.role) {
                roles.push(a.role.clone());
            }
        }
        roles
    }

    /// The user with this object id or UPN (case-insensitive).
    pub(crate) fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.is(name))
    }

    /// The users, in the order added.
    pub(crate) fn users(&self) -> &[User] {
        &self.users
    }

    /// The group with this object id (case-insensitive).
    pub(crate) fn group(&self, object_id: &str) -> Option<&Group> {
        self.groups
            .iter()
            .find(|g| g.object_id.eq_ignore_ascii_case(object_id))
    }

    /// The groups, in the order added.
    pub(crate) fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// Does this tenant consent automatically (development mode)?
    pub(crate) fn auto_consent(&self) -> bool {
        self.auto_consent
    }

    /// The app-specific signing keys of an app, oldest first.
    /// Every app registered in the tenant.
    pub(crate) fn apps(&self) -> impl Iterator<Item = &App> {
        self.apps.values()
    }

    /// The client ids of the apps that have keys of their own.
    pub(crate) fn app_ids(&self) -> impl Iterator<Item = &str> {
        self.app_keys.keys().map(String::as_str)
    }

    pub(crate) fn app_keys(&self, client_id: &str) -> &[SigningKey] {
        self.app_keys
            .get(&client_id.to_ascii_lowercase())
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}
