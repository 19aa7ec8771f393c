//! [`Approval`]: what a signed-in user approved for one client, which a code, a device code
//! and a refresh token each carry to the token endpoint.

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
    /// The session id (the ID token's `sid`): the browser session's, or for grants without
    /// one (password, on-behalf-of) one made when their first tokens were issued, kept by the
    /// refresh tokens that follow.
    pub(crate) sid: String,
}
