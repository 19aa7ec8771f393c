//! The request log and the per-endpoint counters.

use std::collections::{HashMap, VecDeque};
use std::time::SystemTime;

use super::Fault;
use crate::urls::Endpoint;

/// At most this many requests are kept in the log (oldest dropped first).
const MAX_LOG: usize = 10_000;

/// One request the emulator received. Secrets, assertions and tokens are never recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoggedRequest {
    /// When the request arrived.
    pub at: SystemTime,
    /// HTTP method, e.g. `GET`.
    pub method: String,
    /// Request path, e.g. `/{tenant}/discovery/v2.0/keys`.
    pub path: String,
    /// Query string (without `?`), with the values of sensitive parameters replaced by `***`.
    pub query: Option<String>,
    /// Response status; `None` when the connection was dropped by [`Fault::DropConnection`].
    pub status: Option<u16>,
    /// The endpoint kind, `None` for requests to unknown routes.
    pub endpoint: Option<Endpoint>,
    /// The fault that was applied, if any.
    pub fault: Option<Fault>,
    /// For token requests: the client id that asked (from the form, Basic auth or assertion).
    pub client_id: Option<String>,
}

/// The last [`MAX_LOG`] requests, and how many requests each endpoint kind received.
#[derive(Default)]
pub(crate) struct RequestLog {
    pub(crate) entries: VecDeque<LoggedRequest>,
    pub(crate) counts: HashMap<Endpoint, usize>,
}

impl RequestLog {
    /// Count a request as it arrives.
    pub(crate) fn count(&mut self, endpoint: Endpoint) {
        *self.counts.entry(endpoint).or_default() += 1;
    }

    /// Log a request once it is answered.
    pub(crate) fn push(&mut self, entry: LoggedRequest) {
        if self.entries.len() >= MAX_LOG {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    /// Forget every entry and count.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.counts.clear();
    }
}

/// Parameters whose values never reach the log.
const SENSITIVE: [&str; 11] = [
    "client_secret",
    "client_assertion",
    "assertion",
    "password",
    "refresh_token",
    "code",
    "code_verifier",
    // Equal to the verifier when the method is `plain`.
    "code_challenge",
    "device_code",
    "id_token_hint",
    // A user's name or mail.
    "login_hint",
];

/// The query with the values of sensitive parameters masked; the parameter names are
/// form-decoded to compare them, the rest is kept as sent.
pub(crate) fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| {
            let raw_name = pair.split('=').next().unwrap_or_default();
            let sensitive = form_urlencoded::parse(raw_name.as_bytes())
                .next()
                .is_some_and(|(name, _)| SENSITIVE.iter().any(|s| name.eq_ignore_ascii_case(s)));
            if sensitive {
                format!("{raw_name}=***")
            } else {
                pair.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts() {
        assert_eq!(
            super::redact_query("a=1&client_secret=xyz&appid=2"),
            "a=1&client_secret=***&appid=2"
        );
        assert_eq!(
            super::redact_query(
                "code_challenge=c&login_hint=adele&id_token_hint=t&device_code=d&code_verifier=v&state=s"
            ),
            "code_challenge=***&login_hint=***&id_token_hint=***&device_code=***&code_verifier=***&state=s"
        );
        assert_eq!(
            super::redact_query("client%5Fsecret=xyz&Code"),
            "client%5Fsecret=***&Code=***"
        );
    }
}
