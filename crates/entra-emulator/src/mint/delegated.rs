//! Delegated (user) tokens: the access token's user claims, the `groups` claim with Entra's
//! overage form, and the v2 ID token.

use serde_json::{Map, Value, json};

use super::{ClaimSet, RandomIds, User, access_token_header, sign_jwt};
use crate::directory::{self, App, TokenVersion, pairwise_sub};
use crate::state::State;

/// Past this many groups a JWT carries no `groups` claim but a pointer to Graph (Entra's limit
/// for JWTs).
pub(crate) const GROUPS_LIMIT: usize = 200;

impl User {
    /// The token's view of a directory user; `groups`: carry the `groups` claim.
    pub(crate) fn from_directory(user: &directory::User, groups: bool) -> User {
        User {
            oid: user.object_id.clone(),
            name: user.display_name.clone(),
            preferred_username: user.user_principal_name.clone(),
            given_name: user.given_name.clone(),
            family_name: user.family_name.clone(),
            groups: groups.then(|| user.groups.clone()),
        }
    }
}

/// The app roles of `resource` assigned to `user`.
pub(crate) fn user_roles(user: &directory::User, resource: &App) -> Vec<String> {
    user.app_roles
        .iter()
        .filter(|a| resource.matches_resource(&a.resource))
        .map(|a| a.role.clone())
        .collect()
}

/// The `groups` claim, or past [`GROUPS_LIMIT`] Entra's overage form: `_claim_names` and
/// `_claim_sources` pointing at the user's `getMemberObjects`.
pub(crate) fn put_groups(m: &mut Map<String, Value>, tid: &str, user: &User) {
    let Some(groups) = &user.groups else { return };
    if groups.len() <= GROUPS_LIMIT {
        m.insert("groups".into(), json!(groups));
        return;
    }
    m.insert("_claim_names".into(), json!({ "groups": "src1" }));
    m.insert(
        "_claim_sources".into(),
        json!({ "src1": { "endpoint": format!(
            "https://graph.windows.net/{tid}/users/{}/getMemberObjects",
            user.oid
        ) } }),
    );
}

/// What a delegated token is for: the client, how it authenticated, the resource and the
/// granted scopes.
pub(crate) struct Delegation<'a> {
    pub(crate) tid: &'a str,
    pub(crate) client_id: &'a str,
    /// `"0"` public client, `"1"` secret, `"2"` certificate.
    pub(crate) client_acr: &'static str,
    pub(crate) resource: &'a App,
    pub(crate) user: &'a directory::User,
    /// Granted scope values.
    pub(crate) scopes: &'a [String],
    /// Carry the `groups` claim.
    pub(crate) groups: bool,
}

impl ClaimSet {
    /// The claims of the delegated access token Entra issues for a delegation, valid from
    /// `now` for `lifetime` seconds.
    pub(crate) fn delegated(d: &Delegation<'_>, now: i64, lifetime: i64) -> ClaimSet {
        let version = d.resource.access_token_version;
        let ids = RandomIds::new();
        ClaimSet {
            version,
            tid: d.tid.to_owned(),
            aud: d.resource.audience(version),
            client_id: d.client_id.to_owned(),
            client_acr: d.client_acr,
            roles: user_roles(d.user, d.resource),
            user: Some(User::from_directory(d.user, d.groups)),
            scp: Some(d.scopes.join(" ")),
            iat: now,
            nbf: now,
            exp: now + lifetime,
            aio: ids.aio,
            uti: ids.uti,
            rh: ids.rh,
            managed_identity: None,
        }
    }
}

/// What an ID token says about the sign-in behind it.
pub(crate) struct IdTokenSession<'a> {
    /// The authorization request's `nonce`.
    pub(crate) nonce: Option<&'a str>,
    /// The sign-in session's id; a fresh one when the grant had no session (password grant).
    pub(crate) sid: Option<&'a str>,
    /// `email` was asked: carry the user's mail.
    pub(crate) email: bool,
}

/// The claims of a v2 ID token for `user` signed in to `client_id`, valid from `now` for
/// `lifetime` seconds.
pub(crate) fn id_token_claims(
    state: &State,
    tid: &str,
    client_id: &str,
    user: &directory::User,
    session: &IdTokenSession<'_>,
    now: i64,
    lifetime: i64,
) -> Map<String, Value> {
    let ids = RandomIds::new();
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    put("aud", json!(client_id));
    put("iss", json!(state.urls.issuer(TokenVersion::V2, tid)));
    put("iat", json!(now));
    put("nbf", json!(now));
    put("exp", json!(now + lifetime));
    if let Some(mail) = user.mail.as_ref().filter(|_| session.email) {
        put("email", json!(mail));
    }
    put("name", json!(user.display_name));
    if let Some(nonce) = session.nonce {
        put("nonce", json!(nonce));
    }
    put("oid", json!(user.object_id));
    put("preferred_username", json!(user.user_principal_name));
    put("rh", json!(ids.rh));
    let sid = session
        .sid
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    put("sid", json!(sid));
    put("sub", json!(pairwise_sub(&user.object_id, client_id)));
    put("tid", json!(tid));
    put("uti", json!(ids.uti));
    put("ver", json!("2.0"));
    m
}

/// Sign ID token claims with the emulator's active key (header `typ`, `alg`, `kid`).
pub(crate) fn sign_id_token(state: &State, claims: &Map<String, Value>) -> String {
    let key = state.active_key();
    let header = access_token_header(TokenVersion::V2, key.kid());
    sign_jwt(&header, None, claims, &key)
}
