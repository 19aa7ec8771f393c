//! Sign-in sessions (the session cookie) and [`Approval`]: what a signed-in user approved for
//! one client, which a code, a device code and a refresh token each carry to the token endpoint.

/// A signed-in browser: who signed in to which tenant, and when.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    /// The tenant id.
    pub(crate) tid: String,
    /// The user's object id.
    pub(crate) user_oid: String,
    /// When the user signed in (Unix seconds): the ID token's `auth_time`.
    pub(crate) auth_time: i64,
    /// The session id: the ID token's `sid`, the authorize response's `session_state`.
    pub(crate) sid: String,
}

/// A user's approval of a client's request: what the token endpoint issues tokens from.
#[derive(Clone, Debug)]
pub(crate) struct Approval {
    pub(crate) tid: String,
    pub(crate) client_id: String,
    pub(crate) user_oid: String,
    /// The `scope` parameter as requested (resource scopes and OpenID Connect scopes).
    pub(crate) scope: String,
    /// The authorization request's `nonce`, for the ID token.
    pub(crate) nonce: Option<String>,
    pub(crate) auth_time: i64,
    pub(crate) sid: String,
}
