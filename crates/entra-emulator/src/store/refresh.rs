//! Refresh tokens: opaque, rotated on each use, in families. A rotated token that comes back
//! revokes its whole family (it may have been stolen): reuse detection as OAuth 2.0 Security
//! BCP (RFC 9700 4.14.2) describes it. This is stricter than Entra, which documents that it
//! does not revoke a refresh token when it is used: an app that passes here also passes there,
//! and one that keeps using spent refresh tokens finds out in development.

use super::approval::Approval;
use super::expiring::Expiring;

/// A refresh token as the emulator keeps it.
#[derive(Clone, Debug)]
pub(crate) struct RefreshGrant {
    pub(crate) approval: Approval,
    /// The tokens that descend from one sign-in share a family.
    pub(crate) family: String,
    /// Issued to a spa redirect URI's code: such tokens last 24 hours (AADSTS700084).
    pub(crate) spa: bool,
    /// When it expires (Unix seconds); it is remembered a day longer, to answer "expired".
    expires_at: i64,
    /// Redeemed once already: a second redemption is a reuse.
    used: bool,
}

/// How long an expired refresh token is still recognised as expired.
const EXPIRED_MEMORY_SECS: i64 = 24 * 3600;

/// What a redemption found.
#[derive(Debug)]
pub(crate) enum Redeemed {
    /// A live token, now marked used.
    Valid(RefreshGrant),
    /// A token already redeemed: its family is now revoked.
    Reused,
    /// Past its lifetime; `spa`: issued to a single-page app (24 hours).
    Expired { spa: bool },
    /// Unknown, revoked, or another client's.
    Invalid,
}

/// Every live refresh token.
pub(crate) struct RefreshTokens {
    tokens: Expiring<RefreshGrant>,
}

impl RefreshTokens {
    pub(crate) fn new(capacity: usize) -> RefreshTokens {
        RefreshTokens {
            tokens: Expiring::new(capacity),
        }
    }

    /// Keep a new token of `family` until `expires_at`. A single-page app's token never
    /// outlives its family's first one: as in Entra, the tokens a SPA's refresh token is
    /// exchanged for carry over its expiry, so a SPA signs in again every 24 hours.
    pub(crate) fn insert(
        &mut self,
        token: String,
        approval: Approval,
        family: String,
        spa: bool,
        expires_at: i64,
        now: i64,
    ) {
        let expires_at = if spa {
            self.tokens
                .find(now, |g| g.family == family)
                .map_or(expires_at, |(_, g)| expires_at.min(g.expires_at))
        } else {
            expires_at
        };
        let grant = RefreshGrant {
            approval,
            family,
            spa,
            expires_at,
            used: false,
        };
        let keep_until = expires_at.saturating_add(EXPIRED_MEMORY_SECS);
        self.tokens.insert(token, grant, keep_until, now);
    }

    /// Redeem `token`: valid once. `owner` says whether the token belongs to the one
    /// presenting it (its tenant and client); a token presented by anyone else is invalid to
    /// them and left as it was, so that another client can neither spend it nor, by spending
    /// it, make its owner's next refresh look like a reuse that revokes the family.
    pub(crate) fn redeem(
        &mut self,
        token: &str,
        now: i64,
        owner: impl FnOnce(&Approval) -> bool,
    ) -> Redeemed {
        let Some(grant) = self.tokens.get_mut(token, now) else {
            return Redeemed::Invalid;
        };
        if !owner(&grant.approval) {
            return Redeemed::Invalid;
        }
        if grant.expires_at <= now {
            return Redeemed::Expired { spa: grant.spa };
        }
        if grant.used {
            let family = grant.family.clone();
            self.tokens.retain(|g| g.family != family);
            return Redeemed::Reused;
        }
        grant.used = true;
        Redeemed::Valid(grant.clone())
    }

    /// The token as kept (live, or expired and still remembered), without redeeming it.
    pub(crate) fn peek(&self, token: &str, now: i64) -> Option<&RefreshGrant> {
        self.tokens.get(token, now)
    }

    /// Revoke every refresh token of a user in a tenant (a password change, a sign-out
    /// everywhere).
    pub(crate) fn revoke_user(&mut self, tid: &str, user_oid: &str) {
        self.tokens
            .retain(|g| !(g.approval.tid == tid && g.approval.user_oid == user_oid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approval() -> Approval {
        Approval {
            tid: "t".into(),
            client_id: "c".into(),
            user_oid: "u".into(),
            scope: "api://x/Read offline_access".into(),
            nonce: None,
            sid: "s".into(),
        }
    }

    #[test]
    fn a_token_is_redeemed_once_and_its_reuse_revokes_the_family() {
        let mut r = RefreshTokens::new(10);
        r.insert("rt1".into(), approval(), "f".into(), false, 1000, 0);
        assert!(matches!(r.redeem("rt1", 1, |_| true), Redeemed::Valid(_)));
        r.insert("rt2".into(), approval(), "f".into(), false, 1000, 1);
        r.insert("other".into(), approval(), "g".into(), false, 1000, 1);
        assert!(matches!(r.redeem("rt1", 2, |_| true), Redeemed::Reused));
        assert!(
            matches!(r.redeem("rt2", 2, |_| true), Redeemed::Invalid),
            "the family is revoked"
        );
        assert!(matches!(r.redeem("other", 2, |_| true), Redeemed::Valid(_)));
        assert!(matches!(r.redeem("nope", 2, |_| true), Redeemed::Invalid));
    }

    #[test]
    fn an_expired_token_says_so_and_whether_it_was_a_spa_s() {
        let mut r = RefreshTokens::new(10);
        r.insert("web".into(), approval(), "f".into(), false, 100, 0);
        r.insert("spa".into(), approval(), "g".into(), true, 100, 0);
        assert!(matches!(
            r.redeem("web", 100, |_| true),
            Redeemed::Expired { spa: false }
        ));
        assert!(matches!(
            r.redeem("spa", 100, |_| true),
            Redeemed::Expired { spa: true }
        ));
    }

    #[test]
    fn a_spa_token_keeps_its_familys_expiry_and_others_get_their_own() {
        let mut r = RefreshTokens::new(10);
        r.insert("spa1".into(), approval(), "s".into(), true, 100, 0);
        assert!(matches!(r.redeem("spa1", 50, |_| true), Redeemed::Valid(_)));
        r.insert("spa2".into(), approval(), "s".into(), true, 150, 50);
        assert!(matches!(
            r.redeem("spa2", 100, |_| true),
            Redeemed::Expired { spa: true }
        ));
        r.insert("web1".into(), approval(), "w".into(), false, 100, 0);
        assert!(matches!(r.redeem("web1", 50, |_| true), Redeemed::Valid(_)));
        r.insert("web2".into(), approval(), "w".into(), false, 150, 50);
        assert!(matches!(
            r.redeem("web2", 100, |_| true),
            Redeemed::Valid(_)
        ));
    }

    #[test]
    fn a_token_presented_by_another_owner_is_invalid_to_them_and_left_unspent() {
        let mut r = RefreshTokens::new(10);
        r.insert("rt".into(), approval(), "f".into(), false, 1000, 0);
        assert!(matches!(
            r.redeem("rt", 1, |a| a.client_id == "other"),
            Redeemed::Invalid
        ));
        assert!(matches!(
            r.redeem("rt", 2, |a| a.client_id == "c"),
            Redeemed::Valid(_)
        ));
    }

    #[test]
    fn revoking_a_user_ends_their_tokens() {
        let mut r = RefreshTokens::new(10);
        r.insert("rt".into(), approval(), "f".into(), false, 1000, 0);
        r.revoke_user("t", "u");
        assert!(matches!(r.redeem("rt", 1, |_| true), Redeemed::Invalid));
    }
}
