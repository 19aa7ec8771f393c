//! The user flows' requests to Entra: one form POST (zeroized body, bounded answer), and the
//! token response with its refresh token, ID token and `client_info`.
//!
//! Retries: when Entra answered 429 or 5xx (it did not redeem anything), and when the connection
//! could not be made at all (`reqwest::Error::is_connect`: DNS, refused, unreachable, a connect
//! timeout, the TLS handshake), because then the request surely never reached the server. A
//! timeout or a connection lost after the request was sent is not retried: the request may
//! have been redeemed. Entra itself does not revoke a refresh token when it is used again (it
//! stays valid until it expires or is revoked; Microsoft documents that old refresh tokens are
//! not revoked on use), but a code, a device code, and the emulator's refresh tokens are
//! single-use: the emulator, stricter by design (see its README), revokes the whole refresh
//! token family when a spent one comes back, so a blind retry would sign the user out there.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use tracing::debug;
use zeroize::Zeroizing;

use super::Inner;
use super::secret::SecretString;
use crate::credentials::request::form_body;
use crate::credentials::response::read_bounded;
use crate::token::parse_token_response;
use crate::{AccessToken, EntraError, Error};

/// The largest response body read.
const MAX_BODY: usize = 1 << 20;
/// Retries after a 429 or 5xx answer.
const MAX_RETRIES: u32 = 2;
/// Retries after a connection that could not be made (the request was not sent).
const MAX_CONNECT_RETRIES: u32 = 2;
/// The first wait before a connect retry (doubled each time, with +-50% jitter).
const CONNECT_RETRY_BASE: Duration = Duration::from_millis(250);

/// Scopes every user sign-in and refresh asks for besides the caller's: an ID token (who signed
/// in) and a refresh token.
pub(crate) const RESERVED_SCOPES: [&str; 3] = ["offline_access", "openid", "profile"];

/// A successful answer: the access token, the refresh token (rotated), and who signed in.
pub(crate) struct UserTokens {
    pub(crate) access_token: AccessToken,
    pub(crate) refresh_token: Option<SecretString>,
    pub(crate) id_claims: Option<IdClaims>,
    /// `client_info`'s `uid.utid`: the home account id.
    pub(crate) home_account_id: Option<String>,
}

/// The ID token claims the client uses. The ID token comes straight from the token endpoint
/// over TLS, so (as MSAL does) its signature is not checked here; only its `nonce` is.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct IdClaims {
    #[serde(default)]
    pub(crate) oid: Option<String>,
    #[serde(default)]
    pub(crate) tid: Option<String>,
    #[serde(default)]
    pub(crate) preferred_username: Option<String>,
    #[serde(default)]
    pub(crate) nonce: Option<String>,
}

/// The outcome of one POST: the body of a success, or the error.
pub(crate) enum Answer {
    Ok(Zeroizing<Vec<u8>>),
    Err(Error),
}

impl Inner {
    /// POSTs `form` to `endpoint` with retries on 429 and 5xx answers and on connections that
    /// could not be made (see the module documentation). The waits before a connect retry go
    /// through the `poll_sleep` hook.
    pub(crate) async fn post_form(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
    ) -> Result<Answer, Error> {
        let mut retries = 0;
        let mut connect_retries = 0;
        loop {
            let answer = match self.post_once(endpoint, form).await {
                Ok(answer) => answer,
                Err(Failure::NotSent(e)) if connect_retries < MAX_CONNECT_RETRIES => {
                    let delay = jitter(CONNECT_RETRY_BASE * 2u32.pow(connect_retries));
                    connect_retries += 1;
                    debug!(error = %e, retry = connect_retries, "cannot connect to Entra; retrying");
                    (self.poll_sleep)(delay).await;
                    continue;
                }
                Err(Failure::NotSent(e) | Failure::Other(e)) => return Err(e),
            };
            match &answer {
                Answer::Err(e)
                    if retries < MAX_RETRIES
                        && e.status().is_some_and(|s| s == 429 || s >= 500) =>
                {
                    let delay = e
                        .retry_after()
                        .unwrap_or(Duration::from_millis(500) * 2u32.pow(retries))
                        .min(Duration::from_secs(30));
                    retries += 1;
                    debug!(error = %e, retry = retries, "user token request failed; retrying");
                    tokio::time::sleep(delay).await;
                }
                _ => return Ok(answer),
            }
        }
    }

    async fn post_once(&self, endpoint: &str, form: &[(&str, &str)]) -> Result<Answer, Failure> {
        let request_id = uuid::Uuid::new_v4().to_string();
        debug!(endpoint = %endpoint, client_id = %self.client_id, client_request_id = %request_id, "user flow request");
        let response = self
            .http
            .post(endpoint)
            .header(http::header::ACCEPT, "application/json")
            .header("client-request-id", &request_id)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form_body(form))
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    Failure::NotSent(Error::from_reqwest(e))
                } else {
                    Failure::Other(Error::from_reqwest(e))
                }
            })?;
        let answer = read_bounded(response, MAX_BODY)
            .await
            .map_err(Failure::Other)?;
        if (200..300).contains(&answer.status) {
            return Ok(Answer::Ok(answer.body));
        }
        Ok(Answer::Err(
            match EntraError::parse(answer.status, &answer.body, answer.retry_after) {
                Some(e) => Error::from(e),
                None => Error::UnexpectedStatus {
                    status: answer.status,
                    retry_after: answer.retry_after,
                },
            },
        ))
    }
}

/// Why [`Inner::post_once`] has no answer: the connection could not be made (nothing was sent),
/// or anything else.
enum Failure {
    NotSent(Error),
    Other(Error),
}

/// `delay` times a random factor between 0.5 and 1.5.
fn jitter(delay: Duration) -> Duration {
    let mut byte = [0u8; 1];
    let r = aws_lc_rs::rand::fill(&mut byte).map_or(128, |()| u32::from(byte[0]));
    delay / 2 + delay * r / 255
}

/// Parses a successful user token response. The body is never echoed in errors.
pub(crate) fn parse_user_tokens(body: &[u8], sent_at: SystemTime) -> Result<UserTokens, Error> {
    #[derive(Deserialize)]
    struct Extra {
        #[serde(default)]
        refresh_token: Option<SecretString>,
        #[serde(default)]
        id_token: Option<SecretString>,
        #[serde(default)]
        client_info: Option<String>,
    }
    let access_token = parse_token_response(body, sent_at)?;
    let extra: Extra = serde_json::from_slice(body)
        .map_err(|_| Error::InvalidResponse("not a user token response".into()))?;
    let id_claims = match &extra.id_token {
        Some(t) => Some(decode_id_token(t.expose())?),
        None => None,
    };
    let home_account_id = extra.client_info.as_deref().and_then(decode_client_info);
    Ok(UserTokens {
        access_token,
        refresh_token: extra.refresh_token.filter(|t| !t.expose().is_empty()),
        id_claims,
        home_account_id,
    })
}

/// The payload of an ID token (not verified, see [`IdClaims`]).
fn decode_id_token(token: &str) -> Result<IdClaims, Error> {
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| Error::InvalidResponse("the ID token is not a JWT".into()))?;
    let json = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| Error::InvalidResponse("the ID token payload is not base64url".into()))?;
    serde_json::from_slice(&json)
        .map_err(|_| Error::InvalidResponse("the ID token payload is not JSON claims".into()))
}

/// `client_info` = base64url(`{"uid":..,"utid":..}`) -> `uid.utid`.
fn decode_client_info(info: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct ClientInfo {
        uid: String,
        utid: String,
    }
    let json = URL_SAFE_NO_PAD.decode(info.trim_end_matches('=')).ok()?;
    let c: ClientInfo = serde_json::from_slice(&json).ok()?;
    Some(format!("{}.{}", c.uid, c.utid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_refresh_token_id_token_and_client_info() {
        let claims = URL_SAFE_NO_PAD
            .encode(br#"{"oid":"o-1","tid":"t-1","preferred_username":"a@b.c","nonce":"n-1"}"#);
        let info = URL_SAFE_NO_PAD.encode(br#"{"uid":"o-1","utid":"t-1"}"#);
        let body = format!(
            r#"{{"token_type":"Bearer","expires_in":3600,"access_token":"AT-SECRET","refresh_token":"RT-SECRET","id_token":"h.{claims}.s","client_info":"{info}","scope":"api://x/Files.Read openid"}}"#
        );
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let t = parse_user_tokens(body.as_bytes(), now).unwrap();
        assert_eq!(t.access_token.secret(), "AT-SECRET");
        assert_eq!(t.refresh_token.as_ref().unwrap().expose(), "RT-SECRET");
        let id = t.id_claims.unwrap();
        assert_eq!(id.oid.as_deref(), Some("o-1"));
        assert_eq!(id.preferred_username.as_deref(), Some("a@b.c"));
        assert_eq!(id.nonce.as_deref(), Some("n-1"));
        assert_eq!(t.home_account_id.as_deref(), Some("o-1.t-1"));
        assert!(!format!("{:?}", t.refresh_token).contains("RT-SECRET"));
    }

    #[test]
    fn connect_retry_waits_are_jittered() {
        let d = Duration::from_millis(1000);
        for _ in 0..50 {
            let j = jitter(d);
            assert!(j >= d / 2 && j <= d * 3 / 2, "{j:?}");
        }
    }

    #[test]
    fn a_bad_id_token_is_an_error_without_the_body() {
        let body = br#"{"expires_in":3600,"access_token":"AT-SECRET","id_token":"not-a-jwt"}"#;
        let e = parse_user_tokens(body, SystemTime::now())
            .err()
            .expect("an error");
        assert!(matches!(e, Error::InvalidResponse(_)));
        assert!(!e.to_string().contains("SECRET"), "{e}");
    }
}
