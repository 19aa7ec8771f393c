//! Microsoft Graph as every tenant has it: a first-party resource with delegated scopes, so
//! that a sign-in asking only for `openid profile`, a delegated token for `User.Read` and
//! on-behalf-of to Graph work offline against the emulator's `GET /v1.0/me`.

use super::{App, DelegatedScope, TokenVersion};

/// Microsoft Graph's application id, the same in every tenant.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// Microsoft Graph's App ID URI (its resource name in scopes: `https://graph.microsoft.com/User.Read`).
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";

/// The delegated scope Entra grants when a sign-in asks only for OpenID Connect scopes.
pub(crate) const GRAPH_DEFAULT_SCOPE: &str = "User.Read";

/// Graph's registration: v1 access tokens (aud = its App ID URI), the delegated scopes a sign-in
/// usually asks for (users may consent to them).
pub(crate) fn graph_app() -> App {
    let mut app = App::new(GRAPH_APP_ID)
        .display_name("Microsoft Graph")
        .app_id_uri(GRAPH_RESOURCE)
        .access_token_version(TokenVersion::V1);
    for (value, id) in [
        ("User.Read", "e1fe6dd8-ba31-4d61-89e7-88639da4683d"),
        ("User.ReadBasic.All", "b340eb25-3456-403f-be2f-af7a0d370277"),
        ("openid", "37f7f235-527c-4136-accd-4a02d197296e"),
        ("profile", "14dad69e-099b-42c9-810b-d002981feec1"),
        ("email", "64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0"),
        ("offline_access", "7427e0e9-2fba-42fe-b0c0-848c9e6a8182"),
    ] {
        app = app.scope(DelegatedScope::new(value).id(id));
    }
    app
}
