//! A local Microsoft Entra ID (Azure AD) emulator for tests and offline development.
//!
//! It serves what an API or a daemon needs from `login.microsoftonline.com`, on `127.0.0.1`:
//!
//! | Path | What |
//! |------|------|
//! | `GET /{tenant}/v2.0/.well-known/openid-configuration` | v2 discovery document |
//! | `GET /{tenant}/.well-known/openid-configuration` | v1 discovery document |
//! | `GET /{tenant}/discovery/v2.0/keys[?appid=]` | v2 key set (keys carry `issuer`) |
//! | `GET /{tenant}/discovery/keys[?appid=]` | v1 key set |
//! | `POST /{tenant}/oauth2/v2.0/token` | client credentials, `scope={resource}/.default`; password (ROPC) |
//! | `POST /{tenant}/oauth2/token` | v1 client credentials, `resource=` |
//! | `GET /msi/token` | managed identity tokens, App Service protocol (api-version 2019-08-01) |
//! | `GET /metadata/identity/oauth2/token` | managed identity tokens, IMDS protocol (api-version 2018-02-01) |
//! | `GET /workload/{name}/.well-known/openid-configuration`, `/workload/{name}/openid/v1/jwks` | a workload identity issuer ([`Emulator::add_workload_issuer`]) |
//!
//! `{tenant}` is a registered tenant id, one of its domain names (see
//! [`Emulator::add_tenant_domain`]), `common` or `organizations`. Under a domain name the
//! documents' `issuer` and the issued tokens' `iss` and `tid` carry the tenant id, while the
//! endpoint URLs in the documents keep the domain, as in Entra. Documents, keys, tokens and
//! errors have the shape Entra gives them, so code tested against the emulator behaves the same
//! against Entra. On top, tests can mint any token directly ([`Emulator::token`]), rotate keys
//! ([`Emulator::add_key`], [`Emulator::set_active_key`], [`Emulator::retire_key`]), inject
//! faults into an endpoint kind ([`Emulator::set_fault`]) or one path
//! ([`Emulator::set_path_fault`]) and count requests ([`Emulator::request_count`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), entra_emulator::EmulatorError> {
//! use entra_emulator::{Emulator, TokenVersion, DEV_TENANT_ID};
//!
//! let emu = Emulator::start().await?;                 // http://127.0.0.1:{random port}
//! let token = emu.token().sign();                     // app-only v2 token for the dev API
//! println!("authority: {}/{DEV_TENANT_ID}", emu.base_url());
//! println!("issuer:    {}", emu.issuer_v2(DEV_TENANT_ID));
//! println!("token:     {token}");
//! println!("token URL: {}", emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V2));
//! emu.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # The development tenant
//!
//! Unless [`EmulatorBuilder::without_dev_tenant`] is used, the emulator registers tenant
//! [`DEV_TENANT_ID`], with the domain name [`DEV_TENANT_DOMAIN`] and two apps:
//!
//! * the protected API [`DEV_API_CLIENT_ID`]: App ID URI `api://{DEV_API_CLIENT_ID}`, app roles
//!   `Api.Admin` and `Files.Read.All`, `accessTokenAcceptedVersion` 2;
//! * the daemon [`DEV_CLIENT_ID`] with the secret [`DEV_CLIENT_SECRET`], assigned both roles;
//! * the single-page / public client app [`DEV_SPA_CLIENT_ID`] (redirect URIs
//!   `http://localhost:3000/` for spa, `http://localhost` for public client), requesting the API's
//!   delegated scope `Files.Read`;
//! * two users: Adele Vance ([`DEV_USER_UPN`], password [`DEV_USER_PASSWORD`]) and Alex Wilber
//!   ([`DEV_SECOND_USER_UPN`], no password);
//! * a user-assigned managed identity [`DEV_MANAGED_IDENTITY_CLIENT_ID`] with the role
//!   `Files.Read.All` on the API.
//!
//! The development tenant consents automatically (development mode): every scope a resource
//! exposes counts as consented for every client and user (see [`Emulator::missing_consent`]).
//!
//! # Users, groups and consent
//!
//! Tenants hold users ([`User`]), groups ([`Group`]) and consent grants, from the library
//! ([`Emulator::add_user`], [`Emulator::add_group`], [`Emulator::grant_admin_consent`],
//! [`Emulator::grant_user_consent`]) or a configuration file ([`EmulatorConfig`]). Apps expose
//! delegated scopes ([`App::scope`]), app roles for users, applications or both
//! ([`App::app_role_for`]), redirect URIs per [`Platform`] and the permissions they request
//! ([`App::requests`]).
//!
//! # Signing users in
//!
//! The v2 user flows are served: `/{tenant}/oauth2/v2.0/authorize` with a server-rendered
//! sign-in page (a button per user, a password field for users that have one), a consent page
//! and a session cookie; at the token endpoint the authorization code (+ PKCE), refresh token
//! (rotated; a reuse revokes the family), device code (`/{tenant}/oauth2/v2.0/devicecode` and the
//! `/devicelogin` page), password (ROPC) and on-behalf-of grants; `/{tenant}/oauth2/v2.0/logout`,
//! `/oidc/userinfo` and Microsoft Graph's `GET /v1.0/me`. Every user grant checks consent
//! ([`Emulator::missing_consent`]) and answers with `token_type`, `scope`, `expires_in`,
//! `ext_expires_in`, `access_token`, `refresh_token` when `offline_access` was asked, `id_token`
//! when `openid` was asked, `client_info` when `client_info=1`. [`Emulator::sign_in_url`] gives a
//! ready authorization URL; [`EmulatorBuilder::auto_sign_in`] approves without pages for headless
//! tests; [`EmulatorBuilder::clock`] makes expiry testable without sleeping. The crate README
//! lists every parameter and error code.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), entra_emulator::EmulatorError> {
//! use entra_emulator::{Emulator, DEV_SPA_CLIENT_ID, DEV_TENANT_ID, DEV_USER_UPN};
//!
//! // Every sign-in is approved as Adele, without the page.
//! let emu = Emulator::builder().auto_sign_in(DEV_USER_UPN).start().await?;
//! let url = emu.sign_in_url(DEV_TENANT_ID, DEV_SPA_CLIENT_ID, "http://localhost:3000/");
//! assert!(url.contains("code_challenge_method=S256"));
//! // A browser (or reqwest) opening `url` is redirected to http://localhost:3000/?code=...;
//! // redeem the code with code_verifier = Emulator::SIGN_IN_URL_VERIFIER.
//! emu.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Managed identities and workload identity
//!
//! A service with no secret gets tokens in two ways, both served:
//!
//! * **Managed identities** ([`ManagedIdentity`], [`Emulator::add_managed_identity`]): service
//!   principals without credentials whose app-only tokens come from
//!   [`Emulator::managed_identity_endpoints`]: the App Service / Container Apps / Functions
//!   protocol at `/msi/token` (api-version `2019-08-01`, header `X-IDENTITY-HEADER` with the
//!   per-emulator [`ManagedIdentityEndpoints::identity_header`]; 401 without it) and IMDS at
//!   `/metadata/identity/oauth2/token` (api-version `2018-02-01`, header `Metadata: true`). With
//!   no `client_id` / `principal_id` (`object_id`) / `mi_res_id` (`msi_res_id`) the
//!   system-assigned identity answers. Tokens carry the identity's roles, `oid` = its object
//!   id and `xms_mirid` = its resource id, and live 24 hours. Both are
//!   [`Endpoint::ManagedIdentity`] for faults and counters.
//! * **Workload identity federation** ([`FederatedCredential`], [`App::federated_credential`]):
//!   the token endpoint accepts a token of a trusted issuer as `client_assertion`. The emulator
//!   serves Kubernetes-like issuers ([`Emulator::add_workload_issuer`],
//!   [`Emulator::workload_token`], [`Emulator::rotate_workload_issuer_key`]); it does not fetch
//!   the keys of external issuers. Refusals: AADSTS700211 (issuer), 700213 (subject), 700212
//!   (audience), 700024 (time range, by the emulator's clock), 700027 (signature).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use entra_emulator::{App, Emulator, FederatedCredential, ManagedIdentity, DEV_API_CLIENT_ID, DEV_TENANT_ID};
//!
//! let emu = Emulator::start().await?;
//! // Managed identity: the system-assigned identity of the emulated host.
//! emu.add_managed_identity(DEV_TENANT_ID, ManagedIdentity::new("0e4b7c2d-9a1f-4d3e-8b5c-6f2a1d9e7c40").system_assigned())?;
//! emu.assign_app_role(DEV_TENANT_ID, "0e4b7c2d-9a1f-4d3e-8b5c-6f2a1d9e7c40", DEV_API_CLIENT_ID, "Files.Read.All");
//! let mi = emu.managed_identity_endpoints();
//! let url = format!("{}?resource=api://{DEV_API_CLIENT_ID}&api-version=2019-08-01", mi.app_service_endpoint);
//! let http = reqwest::Client::builder().no_proxy().build()?;
//! let answer = http.get(&url).header("X-IDENTITY-HEADER", &mi.identity_header).send().await?;
//! assert_eq!(answer.status(), 200);
//!
//! // Workload identity: a Kubernetes-like issuer and an app that trusts one service account.
//! let issuer = emu.add_workload_issuer("aks")?;
//! let sa = "system:serviceaccount:default:my-app";
//! emu.register_app(DEV_TENANT_ID, App::new("5c1d8a4e-7f3b-4e2a-9c6d-1b8e0f4a7d32")
//!     .federated_credential(FederatedCredential::new(&issuer, sa)));
//! let assertion = emu.workload_token(&issuer, sa, "api://AzureADTokenExchange", Duration::from_secs(3600))?;
//! // POST it to the token endpoint as client_assertion, with client_id.
//! # let _ = assertion;
//! # Ok(()) }
//! ```
//!
//! # Keys
//!
//! At start the emulator publishes two RSA-2048 keys (the first signs tokens), like Entra's
//! multi-key sets. To keep tests fast, these two keys are generated once per process and shared
//! by every emulator started in it; keys from [`Emulator::add_key`] and
//! [`SigningKey::generate`] are always fresh.
//!
//! # Token endpoint errors
//!
//! Errors are Entra's JSON (`error`, `error_description` = `AADSTSnnnnnn: message\r\nTrace ID:
//! ..\r\nCorrelation ID: ..\r\nTimestamp: ..`, `error_codes`, `timestamp`, `trace_id`,
//! `correlation_id`, `error_uri`). The correlation id echoes the `client-request-id` header.
//! The codes, and when each is answered, are listed in the crate README.
//!
//! Client assertions (`private_key_jwt`) are accepted signed RS256 with an `x5t` header or PS256
//! with `x5t#S256`, `aud` = the tenant's v2 or v1 token endpoint, with a `jti` that is never
//! reused and a lifetime of at most [`EmulatorBuilder::max_assertion_lifetime`] (the README has
//! the details).
//!
//! # Issued tokens
//!
//! The token's version is the *resource* app's `accessTokenAcceptedVersion` (v1 for apps created
//! with [`App::new`] unless changed), whichever endpoint issued it, as in Entra. Claims are those
//! of Entra app-only tokens: `aud` (v2: client id; v1: App ID URI), `iss`, `iat`, `nbf`, `exp`,
//! `aio`, `azp`+`azpacr` (v2) or `appid`+`appidacr` (v1) (`"1"` secret, `"2"` certificate),
//! `idp`, `idtyp: "app"`, `oid` = `sub` (the calling app's service principal, see
//! [`Emulator::service_principal_id`]), `rh`, `roles` (omitted when none), `tid`, `uti`, `ver`.
//! Lifetimes are random between 60 and 90 minutes. When the resource app has app-specific keys
//! ([`Emulator::add_app_key`]) its tokens are signed with the newest of them.
//!
//! Delegated tokens (the user grants, [`TokenBuilder::user`]) carry the user instead: `name`,
//! `oid`, `sub` pairwise per client app, `preferred_username` (v2) or `upn` + `unique_name` (v1),
//! `given_name`/`family_name` when known, `amr: ["pwd"]`, `scp` (the granted scopes), `roles`
//! assigned to the user on the resource (omitted when none), `azpacr`/`appidacr` `"0"` for a
//! public client, no `idtyp`; `groups` only when asked ([`TokenBuilder::groups_claim`]), and past
//! 200 groups Entra's overage form (`_claim_names: {"groups": "src1"}` and `_claim_sources`).
//! ID tokens ([`Emulator::id_token`], or any user grant with `openid`) are v2: `aud` = the
//! client id, `iss`, `iat`, `nbf`, `exp`, `name`, `oid`, `preferred_username`, `email` when
//! `email` was asked and the user has mail, pairwise `sub`, `tid`, `nonce` when given, `sid` (the
//! sign-in session's), `rh`, `uti`, `ver`.

// The rooms: `directory` (tenants, apps, credentials, configuration), `urls` (every path
// template), `http` (one file per endpoint family), `store` (sessions, codes, refresh tokens,
// device codes), `mint` (claim sets and signing), `faults` (fault injection and the request
// log), `keys` (signing keys), `emulator`/`builder` (the public handle), `state` (what they
// share).
mod builder;
#[cfg(feature = "cli")]
pub mod cli;
mod directory;
mod emulator;
mod error;
mod faults;
mod http;
mod keys;
mod mint;
mod state;
mod store;
mod tls;
mod urls;
mod workload;

pub use builder::EmulatorBuilder;
pub use directory::{
    AZURE_AD_TOKEN_EXCHANGE, AllowedMemberTypes, App, AppConfig, AppRole, AppRoleConfig,
    ClientSecret, ConsentConfig, DEV_API_CLIENT_ID, DEV_CLIENT_ID, DEV_CLIENT_SECRET,
    DEV_MANAGED_IDENTITY_CLIENT_ID, DEV_SECOND_USER_ID, DEV_SECOND_USER_UPN, DEV_SPA_CLIENT_ID,
    DEV_SPA_REDIRECT_URI, DEV_TENANT_DOMAIN, DEV_TENANT_ID, DEV_USER_ID, DEV_USER_PASSWORD,
    DEV_USER_UPN, DelegatedScope, EmulatorConfig, FederatedCredential, FederatedCredentialConfig,
    GRAPH_APP_ID, GRAPH_RESOURCE, Group, GroupConfig, ManagedIdentity, ManagedIdentityConfig,
    Password, Platform, RedirectUrisConfig, RequestedPermissions, RequestedPermissionsConfig,
    RoleAssignmentConfig, ScopeConfig, SecretConfig, TenantConfig, TokenVersion, User, UserConfig,
    UserKind, UserRoleAssignment, UserRoleConfig,
};
pub use emulator::{Emulator, ManagedIdentityEndpoints};
pub use error::EmulatorError;
pub use faults::{Fault, LoggedRequest};
pub use keys::SigningKey;
pub use mint::TokenBuilder;
pub use tls::TlsOptions;
pub use urls::Endpoint;
