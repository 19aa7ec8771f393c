//! One token request, sent with retries: the form body (which carries the secret or the client
//! assertion, in a buffer zeroized on drop), the POST, reading the bounded answer, and
//! exponential backoff with jitter or the server's `Retry-After` between attempts.

use std::time::{Duration, SystemTime};

use tracing::{debug, warn};
use zeroize::Zeroizing;

use super::{ClientCredentials, Credential};
use crate::assertion;
use crate::cache::Target;
use crate::token::parse_token_response;
use crate::{AccessToken, AssertionRequest, EntraError, Error};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The grant type of on-behalf-of requests.
const OBO_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The largest token endpoint response body read.
const MAX_BODY: usize = 1 << 20;

/// What a token request asks for. No `Debug`: it holds the user's token.
#[derive(Clone, Copy)]
pub(crate) enum Grant<'a> {
    /// The app's own token (client credentials), for a v2 scope or a v1 resource.
    ClientCredentials(&'a Target),
    /// A token for `scope` (v2) on behalf of the user whose access token is `assertion`.
    OnBehalfOf { assertion: &'a str, scope: &'a str },
}

impl ClientCredentials {
    pub(crate) async fn fetch_with_retries(
        &self,
        grant: &Grant<'_>,
    ) -> Result<(AccessToken, SystemTime), Error> {
        let mut retries = 0;
        loop {
            match self.fetch_once(grant).await {
                Ok(ok) => return Ok(ok),
                Err(e) if e.is_retryable() && retries < self.inner.retry.max_retries => {
                    let delay = self.retry_delay(retries, e.retry_after());
                    retries += 1;
                    warn!(
                        error = %e,
                        retry = retries,
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        "token request failed; retrying"
                    );
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The wait before a retry ([`RetryPolicy::delay`](super::retry::RetryPolicy::delay)).
    pub(super) fn retry_delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        self.inner.retry.delay(retry, retry_after)
    }

    async fn fetch_once(&self, grant: &Grant<'_>) -> Result<(AccessToken, SystemTime), Error> {
        let inner = &self.inner;
        let (endpoint, target_param) = match grant {
            Grant::ClientCredentials(Target::Scope(scope)) => {
                (&inner.endpoint_v2, ("scope", scope.as_str()))
            }
            Grant::ClientCredentials(Target::Resource(resource)) => {
                (&inner.endpoint_v1, ("resource", resource.as_str()))
            }
            Grant::OnBehalfOf { scope, .. } => (&inner.endpoint_v2, ("scope", *scope)),
        };
        let sent_at = inner.clock.now();
        let assertion;
        let mut form: Vec<(&str, &str)> = match grant {
            Grant::ClientCredentials(_) => vec![("grant_type", "client_credentials")],
            Grant::OnBehalfOf { assertion, .. } => vec![
                ("grant_type", OBO_GRANT),
                ("requested_token_use", "on_behalf_of"),
                ("assertion", assertion),
            ],
        };
        form.push(("client_id", &inner.client_id));
        form.push(target_param);
        match &inner.credential {
            Credential::Secret(secret) => form.push(("client_secret", secret.secret())),
            Credential::Certificate(cert) => {
                assertion = assertion::client_assertion(
                    cert,
                    &inner.client_id,
                    endpoint,
                    sent_at,
                    &inner.assertion,
                )?;
                form.push(("client_assertion_type", JWT_BEARER));
                form.push(("client_assertion", &assertion));
            }
            // Asked afresh for every request (a rotated file, a short-lived token).
            Credential::AssertionSource(source) => {
                // Within the request timeout: a source that never answers (a FIFO as the token
                // file, a vault call without a timeout) must not hold the shared refresh forever.
                let ask = source.client_assertion(AssertionRequest {
                    client_id: &inner.client_id,
                    token_endpoint: endpoint,
                });
                assertion = tokio::time::timeout(inner.timeout, ask)
                    .await
                    .map_err(|_| {
                        Error::ClientAssertion(format!(
                            "the client assertion source did not answer within {} ms",
                            inner.timeout.as_millis()
                        ))
                    })??;
                if assertion.trim().is_empty() {
                    return Err(Error::ClientAssertion(
                        "the client assertion source returned an empty assertion".into(),
                    ));
                }
                form.push(("client_assertion_type", JWT_BEARER));
                form.push(("client_assertion", &assertion));
            }
        }
        let body = form_body(&form);
        let request_id = uuid::Uuid::new_v4().to_string();
        debug!(
            endpoint = %endpoint,
            tenant = %inner.tenant,
            client_id = %inner.client_id,
            grant = match grant {
                Grant::ClientCredentials(_) => "client_credentials",
                Grant::OnBehalfOf { .. } => "on_behalf_of",
            },
            target = %target_param.1,
            client_request_id = %request_id,
            "requesting token"
        );
        let response = inner
            .http
            .post(endpoint.as_str())
            .header(http::header::ACCEPT, "application/json")
            .header("client-request-id", &request_id)
            .header("return-client-request-id", "true")
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .timeout(inner.timeout)
            .send()
            .await
            .map_err(Error::from_reqwest)?;
        let answer = super::response::read_bounded(response, MAX_BODY).await?;
        let (status, retry_after, body) = (answer.status, answer.retry_after, answer.body);
        if (200..300).contains(&status) {
            let token = parse_token_response(&body, sent_at)?;
            debug!(
                client_request_id = %request_id,
                expires_in_s = token.remaining(sent_at).as_secs(),
                "token acquired"
            );
            return Ok((token, sent_at));
        }
        let error = match EntraError::parse(status, &body, retry_after) {
            Some(e) => Error::from(e),
            None => Error::UnexpectedStatus {
                status,
                retry_after,
            },
        };
        debug!(client_request_id = %request_id, error = %error, "token request failed");
        Err(error)
    }
}

/// The `application/x-www-form-urlencoded` request body. It carries the client secret or the
/// client assertion, so it is written into a buffer of its final size (no reallocation leaves a
/// copy behind) that is zeroized when reqwest drops the body. Copies that the HTTP and TLS
/// layers make while sending are outside this crate's control. `pub(crate)` for every
/// credential that posts a form (the user credential's requests may use it too).
pub(crate) fn form_body(form: &[(&str, &str)]) -> reqwest::Body {
    // Percent-encoding turns a byte into at most 3; `&` and `=` add 2 per pair.
    let capacity = form.iter().map(|(k, v)| 3 * (k.len() + v.len()) + 2).sum();
    let mut body = Zeroizing::new(String::with_capacity(capacity));
    url::form_urlencoded::Serializer::new(&mut *body).extend_pairs(form);
    debug_assert!(body.len() <= capacity);
    reqwest::Body::from(bytes::Bytes::from_owner(body))
}
