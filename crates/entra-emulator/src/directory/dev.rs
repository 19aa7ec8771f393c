//! The built-in development tenant: its ids, its public secret, its users and its registration.

use super::{
    App, ClientSecret, ManagedIdentity, Platform, RoleAssignment, TenantRegistration, TokenVersion,
    User,
};

/// Tenant id of the built-in development tenant.
pub const DEV_TENANT_ID: &str = "7a1e5c3b-0d4f-4e8a-9b2c-6f1d3e5a7c90";

/// The domain name of the built-in development tenant: every tenant endpoint also answers under
/// `/{DEV_TENANT_DOMAIN}/...` (see [`Emulator::add_tenant_domain`](crate::Emulator::add_tenant_domain)).
pub const DEV_TENANT_DOMAIN: &str = "entraemulator.onmicrosoft.com";

/// Client id of the built-in protected API app: App ID URI `api://{DEV_API_CLIENT_ID}`, app roles
/// `Api.Admin` and `Files.Read.All` (for applications), the delegated scope `Files.Read` (users
/// may consent), `accessTokenAcceptedVersion` 2.
pub const DEV_API_CLIENT_ID: &str = "3c9f1a7e-5b2d-4e6f-8a1c-0d7e9b4f2a61";

/// Client id of the built-in daemon app: secret [`DEV_CLIENT_SECRET`], assigned the roles
/// `Api.Admin` and `Files.Read.All` on [`DEV_API_CLIENT_ID`].
pub const DEV_CLIENT_ID: &str = "b5e2c8d4-1f3a-4c7b-9e6d-2a8f0c4b7e13";

/// The client secret of [`DEV_CLIENT_ID`]. **Development only**: it is public, in this source
/// code; it only ever works against the emulator.
pub const DEV_CLIENT_SECRET: &str = "dev-only-secret~emulator~not-for-production";

/// Client id of the built-in single-page / public client app: no secret; redirect URIs
/// [`DEV_SPA_REDIRECT_URI`] (spa) and `http://localhost` (public client); it requests the
/// delegated scope `Files.Read` of [`DEV_API_CLIENT_ID`] (consented automatically in the
/// development tenant).
pub const DEV_SPA_CLIENT_ID: &str = "e4a7d1c9-6b3f-4f2e-8d5a-9c1b7e3f5a24";

/// The `spa` redirect URI of [`DEV_SPA_CLIENT_ID`]: its origin, `http://localhost:3000`, is the
/// one a browser app calling an API with the development tenant's tokens runs on.
pub const DEV_SPA_REDIRECT_URI: &str = "http://localhost:3000/";

/// UPN of the first development user, Adele Vance, who has the password [`DEV_USER_PASSWORD`].
pub const DEV_USER_UPN: &str = "adele.vance@entraemulator.onmicrosoft.com";

/// Object id of [`DEV_USER_UPN`].
pub const DEV_USER_ID: &str = "9d3b5f71-2c8e-4a6d-b1f4-7e0c2a9d4b68";

/// The password of [`DEV_USER_UPN`] (for the password grant). **Development only**: it is public.
pub const DEV_USER_PASSWORD: &str = "dev-only-password~emulator";

/// UPN of the second development user, Alex Wilber, who has no password.
pub const DEV_SECOND_USER_UPN: &str = "alex.wilber@entraemulator.onmicrosoft.com";

/// Object id of [`DEV_SECOND_USER_UPN`].
pub const DEV_SECOND_USER_ID: &str = "2f6e8a4c-7d1b-4c3e-9a5f-0b8d6c2e1f47";

/// Client id of the development tenant's user-assigned managed identity, assigned the role
/// `Files.Read.All` on [`DEV_API_CLIENT_ID`]: a service pointed at the emulator's managed
/// identity endpoints gets its tokens with no secret (see
/// [`Emulator::managed_identity_endpoints`](crate::Emulator::managed_identity_endpoints)).
pub const DEV_MANAGED_IDENTITY_CLIENT_ID: &str = "6d2f9b1c-4a7e-4c3d-8b5f-3e1a9c7d2b84";

/// The development tenant: its domain, the API, the daemon and the daemon's two roles, the SPA,
/// two users, a managed identity, and development-mode consent.
pub(crate) fn dev_tenant() -> TenantRegistration {
    let roles = ["Api.Admin", "Files.Read.All"];
    let mut api = App::new(DEV_API_CLIENT_ID)
        .display_name("Entra Emulator Dev API")
        .app_id_uri(format!("api://{DEV_API_CLIENT_ID}"))
        .scope(super::DelegatedScope::new("Files.Read").id("5b1e9c7a-3d2f-4a8e-b6c4-1f0d8e2a7c35"))
        .access_token_version(TokenVersion::V2);
    for role in roles {
        api = api.app_role(role);
    }
    let daemon = App::new(DEV_CLIENT_ID)
        .display_name("Entra Emulator Dev Client")
        .secret(ClientSecret::new(DEV_CLIENT_SECRET));
    let spa = App::new(DEV_SPA_CLIENT_ID)
        .display_name("Entra Emulator Dev SPA")
        .redirect_uri(Platform::Spa, DEV_SPA_REDIRECT_URI)
        .redirect_uri(Platform::PublicClient, "http://localhost")
        .requests(DEV_API_CLIENT_ID, ["Files.Read"]);
    let adele = User::new(DEV_USER_UPN)
        .object_id(DEV_USER_ID)
        .display_name("Adele Vance")
        .given_name("Adele")
        .family_name("Vance")
        .mail(DEV_USER_UPN)
        .password(DEV_USER_PASSWORD);
    let alex = User::new(DEV_SECOND_USER_UPN)
        .object_id(DEV_SECOND_USER_ID)
        .display_name("Alex Wilber")
        .given_name("Alex")
        .family_name("Wilber")
        .mail(DEV_SECOND_USER_UPN);
    TenantRegistration {
        id: DEV_TENANT_ID.to_owned(),
        domains: vec![DEV_TENANT_DOMAIN.to_owned()],
        apps: vec![api, daemon, spa],
        groups: Vec::new(),
        users: vec![adele, alex],
        consents: Vec::new(),
        auto_consent: true,
        managed_identities: vec![
            ManagedIdentity::new(DEV_MANAGED_IDENTITY_CLIENT_ID)
                .object_id("8b4e2a6d-1c9f-4d7b-a3e5-5f0c8d2b6a19")
                .display_name("entra-emulator-dev-identity"),
        ],
        assignments: roles
            .into_iter()
            .map(|role| RoleAssignment {
                client_id: DEV_CLIENT_ID.to_owned(),
                resource: DEV_API_CLIENT_ID.to_owned(),
                role: role.to_owned(),
            })
            .chain([RoleAssignment {
                client_id: DEV_MANAGED_IDENTITY_CLIENT_ID.to_owned(),
                resource: DEV_API_CLIENT_ID.to_owned(),
                role: "Files.Read.All".to_owned(),
            }])
            .collect(),
    }
}
