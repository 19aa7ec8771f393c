//! The built-in development tenant: its ids, its public secret and its registration.

use super::{App, ClientSecret, RoleAssignment, TenantRegistration, TokenVersion};

/// Tenant id of the built-in development tenant.
pub const DEV_TENANT_ID: &str = "7a1e5c3b-0d4f-4e8a-9b2c-6f1d3e5a7c90";

/// The domain name of the built-in development tenant: every tenant endpoint also answers under
/// `/{DEV_TENANT_DOMAIN}/...` (see [`Emulator::add_tenant_domain`](crate::Emulator::add_tenant_domain)).
pub const DEV_TENANT_DOMAIN: &str = "entraemulator.onmicrosoft.com";

/// Client id of the built-in protected API app: App ID URI `api://{DEV_API_CLIENT_ID}`, app roles
/// `Api.Admin` and `Files.Read.All`, `accessTokenAcceptedVersion` 2.
pub const DEV_API_CLIENT_ID: &str = "3c9f1a7e-5b2d-4e6f-8a1c-0d7e9b4f2a61";

/// Client id of the built-in daemon app: secret [`DEV_CLIENT_SECRET`], assigned the roles
/// `Api.Admin` and `Files.Read.All` on [`DEV_API_CLIENT_ID`].
pub const DEV_CLIENT_ID: &str = "b5e2c8d4-1f3a-4c7b-9e6d-2a8f0c4b7e13";

/// The client secret of [`DEV_CLIENT_ID`]. **Development only**: it is public, in this source
/// code; it only ever works against the emulator.
pub const DEV_CLIENT_SECRET: &str = "dev-only-secret~emulator~not-for-production";

/// The development tenant: its domain, the API, the daemon and the daemon's two roles.
pub(crate) fn dev_tenant() -> TenantRegistration {
    let roles = ["Api.Admin", "Files.Read.All"];
    let mut api = App::new(DEV_API_CLIENT_ID)
        .display_name("Entra Emulator Dev API")
        .app_id_uri(format!("api://{DEV_API_CLIENT_ID}"))
        .access_token_version(TokenVersion::V2);
    for role in roles {
        api = api.app_role(role);
    }
    let daemon = App::new(DEV_CLIENT_ID)
        .display_name("Entra Emulator Dev Client")
        .secret(ClientSecret::new(DEV_CLIENT_SECRET));
    TenantRegistration {
        id: DEV_TENANT_ID.to_owned(),
        domains: vec![DEV_TENANT_DOMAIN.to_owned()],
        apps: vec![api, daemon],
        assignments: roles
            .into_iter()
            .map(|role| RoleAssignment {
                client_id: DEV_CLIENT_ID.to_owned(),
                resource: DEV_API_CLIENT_ID.to_owned(),
                role: role.to_owned(),
            })
            .collect(),
    }
}
