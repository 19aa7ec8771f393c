//! Authorization codes: single use, short-lived, bound to the client, the redirect URI and the
//! PKCE challenge.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::approval::Approval;

/// How long a code may wait to be redeemed (Entra's codes last about ten minutes).
pub(crate) const CODE_LIFETIME_SECS: i64 = 600;

/// An authorization code, until it is redeemed.
#[derive(Clone, Debug)]
pub(crate) struct AuthCode {
    pub(crate) approval: Approval,
    /// The redirect URI the code was sent to: the redemption must name the same.
    pub(crate) redirect_uri: String,
    /// Only a spa redirect URI's code may be redeemed cross-origin (and it must be).
    pub(crate) spa: bool,
    pub(crate) pkce: Option<Pkce>,
    /// When the code expires (Unix seconds); it is remembered longer, to tell "expired" and
    /// "already redeemed" from unknown.
    pub(crate) expires_at: i64,
    /// Redeemed once: a second redemption is refused (AADSTS54005).
    pub(crate) redeemed: bool,
}

/// How long a code is remembered past its expiry.
pub(crate) const CODE_MEMORY_SECS: i64 = 3600;

/// `code_challenge_method`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PkceMethod {
    S256,
    Plain,
}

impl PkceMethod {
    /// `S256` or `plain` (Entra's default when a challenge comes without a method).
    pub(crate) fn parse(method: Option<&str>) -> Option<PkceMethod> {
        match method {
            None | Some("plain") => Some(PkceMethod::Plain),
            Some("S256") => Some(PkceMethod::S256),
            Some(_) => None,
        }
    }
}

/// A PKCE challenge (RFC 7636). `Debug` leaves the challenge out: under `plain` it is the
/// verifier.
#[derive(Clone)]
pub(crate) struct Pkce {
    pub(crate) challenge: String,
    pub(crate) method: PkceMethod,
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce")
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

impl Pkce {
    /// Does `verifier` answer the challenge?
    pub(crate) fn verifies(&self, verifier: &str) -> bool {
        let expected = match self.method {
            PkceMethod::Plain => verifier.to_owned(),
            PkceMethod::S256 => URL_SAFE_NO_PAD.encode(
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref(),
            ),
        };
        aws_lc_rs::constant_time::verify_slices_are_equal(
            expected.as_bytes(),
            self.challenge.as_bytes(),
        )
        .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_and_plain_challenges() {
        // RFC 7636, appendix B.
        let s256 = Pkce {
            challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            method: PkceMethod::S256,
        };
        assert!(s256.verifies("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(!s256.verifies("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj"));
        let plain = Pkce {
            challenge: "abc".into(),
            method: PkceMethod::Plain,
        };
        assert!(plain.verifies("abc") && !plain.verifies("abd"));
        assert_eq!(PkceMethod::parse(Some("S512")), None);
    }
}
