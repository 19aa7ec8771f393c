//! The device code flow (RFC 8628): ask for a code, show the message, poll the token endpoint.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use tracing::debug;

use super::request::{Answer, UserTokens, parse_user_tokens};
use super::secret::SecretString;
use super::{Inner, SignInError, scope_param};
use crate::Error;

const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// What `slow_down` adds to the polling interval (RFC 8628, 3.5).
const SLOW_DOWN: Duration = Duration::from_secs(5);
/// The interval when Entra does not name one.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// What the user is told to do: open `verification_uri` and enter `user_code`. Given to the
/// callback of [`UserCredentialBuilder::device_code_prompt`](crate::UserCredentialBuilder::device_code_prompt).
#[derive(Clone)]
#[non_exhaustive]
pub struct DeviceCodeInfo {
    /// The code to enter (for example `FJ7K2MQ9P`).
    pub user_code: String,
    /// Where to enter it (`https://microsoft.com/devicelogin`).
    pub verification_uri: String,
    /// Entra's sentence for the user, with the URL and the code.
    pub message: String,
    /// When the code expires (by the credential's clock).
    pub expires_on: SystemTime,
}

impl fmt::Debug for DeviceCodeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCodeInfo")
            .field("user_code", &"<redacted>")
            .field("verification_uri", &self.verification_uri)
            .field("expires_on", &self.expires_on)
            .finish()
    }
}

#[derive(Deserialize)]
struct DeviceCodeResponse {
    device_code: SecretString,
    user_code: String,
    verification_uri: String,
    #[serde(default)]
    message: Option<String>,
    expires_in: u64,
    #[serde(default)]
    interval: Option<u64>,
}

impl Inner {
    /// The whole device code flow for `scopes` (already normalized).
    pub(crate) async fn device_code_flow(&self, scopes: &[String]) -> Result<UserTokens, Error> {
        let scope = scope_param(scopes);
        let body = match self
            .post_form(
                &self.devicecode_endpoint,
                &[("client_id", &self.client_id), ("scope", &scope)],
            )
            .await?
        {
            Answer::Ok(body) => body,
            Answer::Err(e) => return Err(e),
        };
        let start: DeviceCodeResponse = serde_json::from_slice(&body)
            .map_err(|_| Error::InvalidResponse("not a device code response".into()))?;
        let started = self.clock.now();
        let expires_on = started
            .checked_add(Duration::from_secs(start.expires_in.min(24 * 3600)))
            .unwrap_or(started);
        let mut interval = start
            .interval
            .filter(|&s| s > 0)
            .map_or(DEFAULT_INTERVAL, |s| Duration::from_secs(s.min(60)));
        let info = DeviceCodeInfo {
            message: start.message.clone().unwrap_or_else(|| {
                format!(
                    "To sign in, use a web browser to open the page {} and enter the code {} to authenticate.",
                    start.verification_uri, start.user_code
                )
            }),
            user_code: start.user_code,
            verification_uri: start.verification_uri,
            expires_on,
        };
        (self.device_code_prompt)(&info);
        // The first poll goes at once (as MSAL does), then one per interval.
        loop {
            if self.clock.now() >= expires_on {
                return Err(SignInError::CodeExpired.into());
            }
            let sent_at = self.clock.now();
            let answer = self
                .post_form(
                    &self.token_endpoint,
                    &[
                        ("grant_type", DEVICE_CODE_GRANT),
                        ("client_id", &self.client_id),
                        ("device_code", start.device_code.expose()),
                        ("client_info", "1"),
                    ],
                )
                .await;
            // A poll that failed on the way (a timeout, a lost connection, 429 or 5xx after the
            // request's own retries) is as good as `authorization_pending`: the next poll asks
            // again, until the code expires. Sending the device code again is harmless.
            let answer = match answer {
                Err(e) | Ok(Answer::Err(e)) if e.is_retryable() => {
                    debug!(error = %e, "device code: poll failed; polling on");
                    None
                }
                Err(e) => return Err(e),
                Ok(answer) => Some(answer),
            };
            match answer {
                None => {}
                Some(Answer::Ok(body)) => return parse_user_tokens(&body, sent_at),
                Some(Answer::Err(Error::Entra(e))) => match e.error.as_str() {
                    "authorization_pending" => {}
                    "slow_down" => {
                        interval += SLOW_DOWN;
                        debug!(
                            interval_s = interval.as_secs(),
                            "device code: slow_down, polling less often"
                        );
                    }
                    "expired_token" | "code_expired" => {
                        return Err(SignInError::CodeExpired.into());
                    }
                    "authorization_declined" | "access_denied" => {
                        return Err(SignInError::Declined {
                            description: e.description.lines().next().unwrap_or("").to_owned(),
                        }
                        .into());
                    }
                    _ => return Err(Error::Entra(e)),
                },
                Some(Answer::Err(other)) => return Err(other),
            }
            // Never past the code's expiry: the loop then ends with `CodeExpired`.
            let left = expires_on
                .duration_since(self.clock.now())
                .unwrap_or_default();
            if left.is_zero() {
                return Err(SignInError::CodeExpired.into());
            }
            (self.poll_sleep)(interval.min(left)).await;
        }
    }
}
