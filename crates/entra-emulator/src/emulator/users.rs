//! The user half of the directory on the [`Emulator`] handle: users, groups and consent.

use super::*;

impl Emulator {
    /// Add a group to a tenant, creating the tenant if needed. Fails if its object id is not a
    /// GUID or is taken.
    pub fn add_group(&self, tenant_id: &str, group: Group) -> Result<(), EmulatorError> {
        write(&self.state().directory).add_group(tenant_id, group)
    }

    /// Add a user to a tenant, creating the tenant if needed.
    ///
    /// Fails if the object id is not a GUID, the UPN is not `name@domain`, the UPN
    /// (case-insensitive) or the object id is taken, a group is unknown (add groups first), or an
    /// app role names a registered app that defines no such role for users. A role of an app not
    /// registered (yet) is kept, like [`Emulator::assign_app_role`] does.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), entra_emulator::EmulatorError> {
    /// use entra_emulator::{Emulator, Group, User, DEV_TENANT_ID};
    ///
    /// let emu = Emulator::start().await?;
    /// let finance = Group::new("Finance");
    /// let gid = finance.object_id.clone();
    /// emu.add_group(DEV_TENANT_ID, finance)?;
    /// emu.add_user(DEV_TENANT_ID, User::new("megan@entraemulator.onmicrosoft.com").member_of(&gid))?;
    /// let megan = emu.user(DEV_TENANT_ID, "MEGAN@entraemulator.onmicrosoft.com").unwrap();
    /// assert_eq!(megan.groups, [gid]);
    /// assert!(emu.add_user(DEV_TENANT_ID, User::new("megan@entraemulator.onmicrosoft.com")).is_err());
    /// # Ok(()) }
    /// ```
    pub fn add_user(&self, tenant_id: &str, user: User) -> Result<(), EmulatorError> {
        write(&self.state().directory).add_user(tenant_id, user, false)
    }

    /// The user with this UPN or object id (case-insensitive) in a tenant.
    pub fn user(&self, tenant_id: &str, upn_or_object_id: &str) -> Option<User> {
        read(&self.state().directory)
            .tenant(tenant_id)
            .and_then(|t| t.user(upn_or_object_id).cloned())
    }

    /// The users of a tenant, in the order they were added.
    pub fn users(&self, tenant_id: &str) -> Vec<User> {
        read(&self.state().directory)
            .tenant(tenant_id)
            .map(|t| t.users().to_vec())
            .unwrap_or_default()
    }

    /// The group with this object id (case-insensitive) in a tenant.
    pub fn group(&self, tenant_id: &str, object_id: &str) -> Option<Group> {
        read(&self.state().directory)
            .tenant(tenant_id)
            .and_then(|t| t.group(object_id).cloned())
    }

    /// The groups of a tenant, in the order they were added.
    pub fn groups(&self, tenant_id: &str) -> Vec<Group> {
        read(&self.state().directory)
            .tenant(tenant_id)
            .map(|t| t.groups().to_vec())
            .unwrap_or_default()
    }

    /// Grant delegated `scopes` of the resource app to the client app for every user of the
    /// tenant (admin consent), creating the tenant if needed. `resource_app_id` may be the
    /// resource's client id or App ID URI. Grants add up.
    pub fn grant_admin_consent(
        &self,
        tenant_id: &str,
        client_app_id: &str,
        resource_app_id: &str,
        scopes: &[&str],
    ) {
        let consent = ConsentRegistration {
            client_id: client_app_id.to_owned(),
            resource: resource_app_id.to_owned(),
            user: None,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        };
        // Without a user and not strict, granting cannot fail.
        let _ = write(&self.state().directory).grant_consent(tenant_id, consent, false);
    }

    /// Record one user's consent (UPN or object id) to delegated `scopes` of the resource app
    /// for the client app. Fails if the user is unknown. A user's consent does not count for
    /// admin-consent-only scopes.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), entra_emulator::EmulatorError> {
    /// use entra_emulator::*;
    ///
    /// let emu = Emulator::start().await?;
    /// emu.set_auto_consent(DEV_TENANT_ID, false);
    /// let ask = ["Files.Read"];
    /// let missing = emu.missing_consent(DEV_TENANT_ID, DEV_USER_UPN, DEV_SPA_CLIENT_ID, DEV_API_CLIENT_ID, &ask);
    /// assert_eq!(missing, ["Files.Read"]);
    /// emu.grant_user_consent(DEV_TENANT_ID, DEV_USER_UPN, DEV_SPA_CLIENT_ID, DEV_API_CLIENT_ID, &ask)?;
    /// assert!(emu.missing_consent(DEV_TENANT_ID, DEV_USER_ID, DEV_SPA_CLIENT_ID, DEV_API_CLIENT_ID, &ask).is_empty());
    /// # Ok(()) }
    /// ```
    pub fn grant_user_consent(
        &self,
        tenant_id: &str,
        user: &str,
        client_app_id: &str,
        resource_app_id: &str,
        scopes: &[&str],
    ) -> Result<(), EmulatorError> {
        let consent = ConsentRegistration {
            client_id: client_app_id.to_owned(),
            resource: resource_app_id.to_owned(),
            user: Some(user.to_owned()),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        };
        write(&self.state().directory).grant_consent(tenant_id, consent, false)
    }

    /// Turn development-mode consent on or off for a tenant (on for the development tenant):
    /// when on, every scope a resource app exposes counts as consented for every client and
    /// user.
    pub fn set_auto_consent(&self, tenant_id: &str, on: bool) {
        write(&self.state().directory).set_auto_consent(tenant_id, on);
    }

    /// Does the tenant consent automatically (development mode)?
    pub fn auto_consent(&self, tenant_id: &str) -> bool {
        read(&self.state().directory)
            .tenant(tenant_id)
            .is_some_and(|t| t.auto_consent())
    }

    /// Which of `scopes` the client app may **not** get on the resource app (client id or App
    /// ID URI) for the user (UPN or object id) of a tenant, in the order asked; empty when all
    /// are consented.
    ///
    /// A scope counts as consented when the resource exposes it and: the tenant consents
    /// automatically, or an admin consented for the client on the resource, or the user did and
    /// the scope is not admin-consent-only. Scopes the resource does not expose, an unknown
    /// resource, tenant or user: every such scope is missing.
    pub fn missing_consent(
        &self,
        tenant_id: &str,
        user: &str,
        client_app_id: &str,
        resource_app_id: &str,
        scopes: &[&str],
    ) -> Vec<String> {
        let dir = read(&self.state().directory);
        let all = || scopes.iter().map(|s| (*s).to_owned()).collect();
        let Some(tenant) = dir.tenant(tenant_id) else {
            return all();
        };
        let Some(user) = tenant.user(user) else {
            return all();
        };
        let oid = user.object_id.to_ascii_lowercase();
        tenant.missing_consent(Some(&oid), client_app_id, resource_app_id, scopes)
    }

    /// A v2 ID token, as the token endpoint issues it, for a user of a tenant (UPN or object id)
    /// signed in to `client_id`: `aud` = the client id, a pairwise `sub`, `email` when the user
    /// has mail, `nonce` when given, a fresh `sid`; valid one hour, signed by the active key.
    /// `None` if the tenant has no such user.
    pub fn id_token(
        &self,
        tenant_id: &str,
        upn_or_object_id: &str,
        client_id: &str,
        nonce: Option<&str>,
    ) -> Option<String> {
        let state = self.state();
        let claims = {
            let directory = read(&state.directory);
            let user = directory.tenant(tenant_id)?.user(upn_or_object_id)?;
            crate::mint::id_token_claims(
                state,
                tenant_id,
                client_id,
                user,
                &crate::mint::IdTokenSession {
                    nonce,
                    sid: None,
                    email: true,
                },
                state.now(),
                3600,
            )
        };
        Some(crate::mint::sign_id_token(state, &claims))
    }

    /// Revoke every refresh token and end every sign-in session of the user (UPN or object id)
    /// in a tenant, as a password reset or "revoke sessions" does in Entra: their next refresh
    /// gets `invalid_grant`, and their browser signs in on the page again.
    pub fn revoke_refresh_tokens(&self, tenant_id: &str, upn_or_object_id: &str) {
        let state = self.state();
        let oid = {
            let directory = read(&state.directory);
            let Some(user) = directory
                .tenant(tenant_id)
                .and_then(|t| t.user(upn_or_object_id))
            else {
                return;
            };
            user.object_id.to_ascii_lowercase()
        };
        let tid = tenant_id.to_ascii_lowercase();
        crate::state::lock(&state.store.refresh).revoke_user(&tid, &oid);
        crate::state::lock(&state.store.sessions).retain(|s| !(s.tid == tid && s.user_oid == oid));
    }
}
