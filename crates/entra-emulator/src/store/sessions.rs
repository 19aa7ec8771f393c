//! Sign-in sessions: what the session cookie stands for.

/// A signed-in browser: who signed in to which tenant.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    /// The tenant id.
    pub(crate) tid: String,
    /// The user's object id.
    pub(crate) user_oid: String,
    /// The session id: the ID token's `sid`, the authorize response's `session_state`.
    pub(crate) sid: String,
}
