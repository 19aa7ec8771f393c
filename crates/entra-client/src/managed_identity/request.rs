//! One managed identity token request: the probe of IMDS (an HTTP GET without the Metadata
//! header, whose "unavailable" verdict is kept), the GET with each protocol's query
//! and header, reading the bounded answer, parsing the token or the error.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use tracing::debug;

use super::{ManagedIdentityCredential, ManagedIdentityKind, Source, defaults};
use crate::{AccessToken, Error};

/// The largest answer read.
const MAX_BODY: usize = 1 << 20;
/// The most of the probe's answer read (IMDS's refusal is a hundred bytes).
const MAX_PROBE_BODY: usize = 4096;
/// The longest error description kept from an answer.
const MAX_MESSAGE: usize = 300;
/// Tokens that live at least this long are renewed at half their lifetime (as MSAL does for
/// managed identities), not just before they expire.
const PROACTIVE_REFRESH_MIN_LIFETIME: Duration = Duration::from_secs(2 * 60 * 60);

impl ManagedIdentityCredential {
    /// Probe (IMDS, until it has answered once), then request with retries.
    pub(super) async fn fetch_with_retries(
        &self,
        resource: &str,
    ) -> Result<(AccessToken, SystemTime), Error> {
        if self.needs_probe() {
            self.probe(resource).await?;
        }
        let kind = self.kind();
        self.inner
            .retry
            .run(kind, || self.fetch_once(resource))
            .await
    }

    /// A GET of the token URL *without* `Metadata: true`, within the probe timeout: IMDS
    /// refuses it with its own answer (HTTP 400, or any error status, with a JSON `error`),
    /// which shows it is there.
    /// Anything else is [`Error::CredentialUnavailable`]: nothing listens (refused), nothing
    /// routes (no answer), or another cloud's metadata server answers at 169.254.169.254 (AWS,
    /// GCP: another status or body). The verdict "unavailable" is kept for the credential's
    /// life, as azure-identity does: later requests fail at once, sending nothing.
    async fn probe(&self, resource: &str) -> Result<(), Error> {
        let unavailable = |reason: String| Error::CredentialUnavailable {
            credential: self.name(),
            reason,
        };
        if let Some(reason) = self.inner.unavailable.get() {
            return Err(unavailable(reason.clone()));
        }
        let endpoint = self.inner.source.endpoint();
        let timeout = self.inner.probe_timeout.unwrap_or(defaults::PROBE_TIMEOUT);
        let port = endpoint.port_or_known_default().unwrap_or(80);
        let shown = format!("{}:{port}", endpoint.host_str().unwrap_or_default());
        let mut url = endpoint.clone();
        url.query_pairs_mut()
            .append_pair("api-version", defaults::IMDS_API_VERSION)
            .append_pair("resource", resource);
        let ask = async {
            let mut response = self
                .inner
                .http
                .get(url)
                .header(http::header::ACCEPT, "application/json")
                .send()
                .await?;
            let status = response.status().as_u16();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_PROBE_BODY {
                    break;
                }
            }
            Ok::<_, reqwest::Error>((status, body))
        };
        let reason = match tokio::time::timeout(timeout, ask).await {
            // 400 without the header; an IMDS being upgraded or busy may say 410, 429 or 5xx,
            // in the same JSON.
            Ok(Ok((status, body))) if status >= 400 && is_imds_refusal(&body) => {
                self.inner.answered.store(true, Ordering::Release);
                return Ok(());
            }
            Ok(Ok((status, _))) => format!(
                "the endpoint at {shown} is not IMDS (asked without the Metadata header, it \
                 answered HTTP {status} without IMDS's JSON error; another cloud's metadata \
                 server?)"
            ),
            Ok(Err(e)) => {
                // The innermost cause (connection refused, ...), never a URL with a query.
                let mut root: &dyn std::error::Error = &e;
                while let Some(source) = root.source() {
                    root = source;
                }
                format!("no IMDS endpoint at {shown} ({root})")
            }
            Err(_) => format!(
                "no answer from the IMDS endpoint at {shown} within {} ms (not on Azure?)",
                timeout.as_millis()
            ),
        };
        debug!(reason = %reason, "managed identity probe failed; not probing again");
        let reason = self.inner.unavailable.get_or_init(|| reason).clone();
        Err(unavailable(reason))
    }

    async fn fetch_once(&self, resource: &str) -> Result<(AccessToken, SystemTime), Error> {
        let inner = &self.inner;
        let kind = inner.source.kind();
        let mut url = inner.source.endpoint().clone();
        {
            let mut query = url.query_pairs_mut();
            match kind {
                ManagedIdentityKind::Imds => {
                    query.append_pair("api-version", defaults::IMDS_API_VERSION);
                    query.append_pair("resource", resource);
                }
                ManagedIdentityKind::AppService => {
                    query.append_pair("resource", resource);
                    query.append_pair("api-version", defaults::APP_SERVICE_API_VERSION);
                }
            }
            if let Some((name, value)) = inner.id.query_param(kind) {
                query.append_pair(name, value);
            }
        }
        let mut request = inner
            .http
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .timeout(inner.timeout);
        let header = match &inner.source {
            Source::Imds { .. } => {
                request = request.header("Metadata", "true");
                None
            }
            Source::AppService { header, .. } => {
                let mut value = http::HeaderValue::from_str(&header.0).map_err(|_| {
                    Error::Config("the identity header is not a valid header value".into())
                })?;
                value.set_sensitive(true);
                request = request.header("X-IDENTITY-HEADER", value);
                Some(header.0.as_str())
            }
        };
        let sent_at = inner.clock.now();
        debug!(endpoint = %kind, resource = %resource, identity = %inner.id, "requesting managed identity token");
        let response = request.send().await.map_err(Error::from_reqwest)?;
        if kind == ManagedIdentityKind::Imds {
            inner.answered.store(true, Ordering::Release);
        }
        let answer = crate::credentials::response::read_bounded(response, MAX_BODY)
            .await
            .map_err(|e| match e {
                Error::InvalidResponse(reason) => {
                    Error::InvalidResponse(format!("managed identity endpoint ({kind}): {reason}"))
                }
                other => other,
            })?;
        let (status, retry_after, body) = (answer.status, answer.retry_after, answer.body);
        if (200..300).contains(&status) {
            let token = parse_response(&body, sent_at).map_err(|reason| {
                Error::InvalidResponse(format!("managed identity endpoint ({kind}): {reason}"))
            })?;
            debug!(endpoint = %kind, expires_in_s = token.remaining(sent_at).as_secs(), "managed identity token acquired");
            return Ok((token, sent_at));
        }
        let error = Error::ManagedIdentity {
            endpoint: kind,
            status,
            message: error_message(&body, header),
            retry_after,
        };
        debug!(error = %error, "managed identity token request failed");
        Err(error)
    }
}

/// IMDS's refusal of a request without `Metadata: true`: a JSON object with a string `error`
/// (`{"error":"invalid_request","error_description":"Required metadata header not specified"}`).
fn is_imds_refusal(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .is_ok_and(|json| json.get("error").is_some_and(serde_json::Value::is_string))
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

/// Both protocols' success answers: IMDS sends `expires_in`, `expires_on`, `not_before` as
/// strings; App Service sends `expires_on` (Unix seconds, as a string) and no `expires_in`.
#[derive(Deserialize)]
struct Response {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<NumberOrString>,
    #[serde(default)]
    expires_on: Option<NumberOrString>,
    #[serde(default)]
    refresh_in: Option<NumberOrString>,
}

/// The token of a success answer, its expiry from `expires_in` (measured from `sent_at`, immune
/// to clock skew) or else `expires_on`. The reason of a failure never quotes the body.
pub(super) fn parse_response(body: &[u8], sent_at: SystemTime) -> Result<AccessToken, String> {
    let r: Response = serde_json::from_slice(body).map_err(|e| {
        format!(
            "not a token response (JSON error at line {} column {})",
            e.line(),
            e.column()
        )
    })?;
    if r.access_token.is_empty() {
        return Err("empty access_token".into());
    }
    if let Some(t) = &r.token_type
        && !t.eq_ignore_ascii_case("bearer")
    {
        return Err(format!("unsupported token_type {t:?}"));
    }
    let expires_on = match (
        r.expires_in.as_ref().and_then(NumberOrString::seconds),
        r.expires_on.as_ref().and_then(NumberOrString::seconds),
    ) {
        (Some(expires_in), _) => sent_at.checked_add(Duration::from_secs(expires_in)),
        (None, Some(expires_on)) => {
            SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(expires_on))
        }
        (None, None) => return Err("missing or invalid expires_in and expires_on".into()),
    }
    .ok_or("the expiry is out of range")?;
    let lifetime = expires_on
        .duration_since(sent_at)
        .map_err(|_| "the token has already expired (expires_on is in the past)")?;
    if lifetime.is_zero() {
        return Err("the token has already expired".into());
    }
    let refresh_on = match r.refresh_in.as_ref().and_then(NumberOrString::seconds) {
        Some(s) if s > 0 && Duration::from_secs(s) < lifetime => {
            sent_at.checked_add(Duration::from_secs(s))
        }
        _ if lifetime >= PROACTIVE_REFRESH_MIN_LIFETIME => sent_at.checked_add(lifetime / 2),
        _ => None,
    };
    let mut token = AccessToken::new(r.access_token, expires_on);
    token.refresh_on = refresh_on;
    Ok(token)
}

/// The description in an error answer: IMDS's `{"error", "error_description"}`, App Service's
/// `{"message"}` or `{"error": {"code", "message"}}`; control characters removed, shortened,
/// and the identity header blanked out should an endpoint ever echo it.
pub(super) fn error_message(body: &[u8], identity_header: Option<&str>) -> String {
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(json) => {
            let s = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_owned);
            let error = s(json.get("error"));
            let description = s(json.get("error_description"));
            let message = s(json.get("message")).or_else(|| s(json.get("Message")));
            let nested = json.get("error").and_then(|e| {
                let code = s(e.get("code"));
                let message = s(e.get("message"));
                match (code, message) {
                    (Some(c), Some(m)) => Some(format!("{c}: {m}")),
                    (c, m) => c.or(m),
                }
            });
            match (error, description, message, nested) {
                (Some(e), Some(d), _, _) => format!("{e}: {d}"),
                (Some(e), None, _, _) => e,
                (None, Some(d), _, _) => d,
                (None, None, Some(m), _) => m,
                (None, None, None, Some(n)) => n,
                _ => String::new(),
            }
        }
        Err(_) => String::new(),
    };
    let mut text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if let Some(header) = identity_header.filter(|h| !h.is_empty()) {
        text = text.replace(header, "<redacted>");
    }
    if text.trim().is_empty() {
        return "no error description".into();
    }
    if let Some((cut, _)) = text.char_indices().nth(MAX_MESSAGE) {
        text.truncate(cut);
        text.push('…');
    }
    text.trim().to_owned()
}
