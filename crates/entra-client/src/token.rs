//! Access tokens and the token endpoint's success response.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use crate::Error;

/// An access token issued by Entra ID.
///
/// `Debug` never shows the token itself; use [`AccessToken::secret`] to get it.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    secret: String,
    expires_on: SystemTime,
    token_type: String,
    pub(crate) refresh_on: Option<SystemTime>,
}

impl AccessToken {
    /// Creates a bearer token that expires at `expires_on` (useful to fake tokens in tests).
    pub fn new(secret: impl Into<String>, expires_on: SystemTime) -> Self {
        AccessToken {
            secret: secret.into(),
            expires_on,
            token_type: "Bearer".to_owned(),
            refresh_on: None,
        }
    }

    /// The token: the string to send as `Authorization: Bearer <token>`. Never log it.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// When the token expires, as computed from the response's `expires_in` and the clock at
    /// the time the request was sent.
    pub fn expires_on(&self) -> SystemTime {
        self.expires_on
    }

    /// The token type, `Bearer` for Entra ID access tokens.
    pub fn token_type(&self) -> &str {
        &self.token_type
    }

    /// The token's remaining lifetime at `now` (zero once expired).
    pub fn remaining(&self, now: SystemTime) -> Duration {
        self.expires_on.duration_since(now).unwrap_or_default()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_on", &self.expires_on)
            .finish()
    }
}

/// The success body of the token endpoint. v1 sends numbers as strings.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<NumberOrString>,
    #[serde(default)]
    refresh_in: Option<NumberOrString>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Number(u64),
    String(String),
}

impl NumberOrString {
    fn seconds(&self) -> Option<u64> {
        match self {
            NumberOrString::Number(n) => Some(*n),
            NumberOrString::String(s) => s.trim().parse().ok(),
        }
    }
}

/// Parses a success response; `sent_at` is the clock's time when the request was sent.
pub(crate) fn parse_token_response(body: &[u8], sent_at: SystemTime) -> Result<AccessToken, Error> {
    // Never include the body in errors: it may contain a token.
    let r: TokenResponse = serde_json::from_slice(body).map_err(|e| {
        Error::InvalidResponse(format!(
            "not a token response (JSON error at line {} column {})",
            e.line(),
            e.column()
        ))
    })?;
    if r.access_token.is_empty() {
        return Err(Error::InvalidResponse("empty access_token".into()));
    }
    let token_type = r.token_type.unwrap_or_else(|| "Bearer".to_owned());
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(Error::InvalidResponse(format!(
            "unsupported token_type {token_type:?}"
        )));
    }
    let expires_in = r
        .expires_in
        .as_ref()
        .and_then(NumberOrString::seconds)
        .ok_or_else(|| Error::InvalidResponse("missing or invalid expires_in".into()))?;
    // Checked: `SystemTime + Duration` panics past the clock's range (an `expires_in` near
    // `u64::MAX`), and this runs in the refresh task that every waiter shares.
    let expires_on = sent_at
        .checked_add(Duration::from_secs(expires_in))
        .ok_or_else(|| Error::InvalidResponse(format!("expires_in {expires_in} out of range")))?;
    // `refresh_in` < `expires_in`, so this time is in range when `expires_on` is.
    let refresh_on = r
        .refresh_in
        .as_ref()
        .and_then(NumberOrString::seconds)
        .filter(|&s| s > 0 && s < expires_in)
        .and_then(|s| sent_at.checked_add(Duration::from_secs(s)));
    Ok(AccessToken {
        secret: r.access_token,
        expires_on,
        token_type: "Bearer".to_owned(),
        refresh_on,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v2_response() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let t = parse_token_response(
            br#"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ.x.y"}"#,
            now,
        )
        .unwrap();
        assert_eq!(t.secret(), "eyJ.x.y");
        assert_eq!(t.token_type(), "Bearer");
        assert_eq!(t.expires_on(), now + Duration::from_secs(3599));
        assert_eq!(t.refresh_on, None);
        assert_eq!(t.remaining(now), Duration::from_secs(3599));
    }

    #[test]
    fn parses_v1_response_with_string_numbers() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let t = parse_token_response(
            br#"{"token_type":"Bearer","expires_in":"3599","ext_expires_in":"3599","expires_on":"1001599","not_before":"1000000","resource":"api://x","access_token":"abc","refresh_in":"1800"}"#,
            now,
        )
        .unwrap();
        assert_eq!(t.expires_on(), now + Duration::from_secs(3599));
        assert_eq!(t.refresh_on, Some(now + Duration::from_secs(1800)));
    }

    #[test]
    fn invalid_responses_do_not_echo_the_body() {
        let now = SystemTime::now();
        let e = parse_token_response(br#"{"access_token":"SECRET-TOKEN"}"#, now).unwrap_err();
        assert!(!e.to_string().contains("SECRET-TOKEN"));
        let e = parse_token_response(br#"{"access_token":"SECRET-TOKEN","expires_in":"#, now)
            .unwrap_err();
        assert!(!e.to_string().contains("SECRET-TOKEN"));
        let e = parse_token_response(
            br#"{"access_token":"SECRET-TOKEN","expires_in":5,"token_type":"pop"}"#,
            now,
        )
        .unwrap_err();
        assert!(matches!(e, Error::InvalidResponse(_)));
    }

    #[test]
    fn huge_expires_in_is_an_invalid_response_not_a_panic() {
        let now = SystemTime::now();
        for expires_in in [u64::MAX.to_string(), (u64::MAX / 2).to_string()] {
            for body in [
                format!(r#"{{"access_token":"SECRET-TOKEN","expires_in":{expires_in}}}"#),
                format!(r#"{{"access_token":"SECRET-TOKEN","expires_in":"{expires_in}"}}"#),
                format!(
                    r#"{{"access_token":"SECRET-TOKEN","expires_in":{expires_in},"refresh_in":{}}}"#,
                    u64::MAX - 1
                ),
            ] {
                let e = parse_token_response(body.as_bytes(), now).unwrap_err();
                assert!(matches!(e, Error::InvalidResponse(_)), "{body}: {e:?}");
                assert!(e.to_string().contains("expires_in"), "{e}");
                assert!(!e.to_string().contains("SECRET-TOKEN"), "{e}");
            }
        }
        // A long but representable lifetime is still accepted.
        let t = parse_token_response(
            br#"{"access_token":"t","expires_in":3153600000,"refresh_in":1800}"#,
            now,
        )
        .unwrap();
        assert_eq!(t.remaining(now), Duration::from_secs(3_153_600_000));
    }

    #[test]
    fn debug_redacts() {
        let t = AccessToken::new("super-secret-token", SystemTime::UNIX_EPOCH);
        let shown = format!("{t:?}");
        assert!(!shown.contains("super-secret-token"), "{shown}");
        assert!(shown.contains("redacted"));
    }
}
