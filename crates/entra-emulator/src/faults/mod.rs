//! Fault injection and the request log.

use std::time::{Duration, SystemTime};

/// The kinds of endpoint the emulator serves, for faults and counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `/{tenant}/v2.0/.well-known/openid-configuration` and `/{tenant}/.well-known/openid-configuration`.
    Discovery,
    /// `/{tenant}/discovery/v2.0/keys` and `/{tenant}/discovery/keys`.
    Keys,
    /// `/{tenant}/oauth2/v2.0/token` and `/{tenant}/oauth2/token`.
    Token,
}

/// A failure the emulator injects into every request to one [`Endpoint`]
/// ([`Emulator::set_fault`](crate::Emulator::set_fault)) or to one path
/// ([`Emulator::set_path_fault`](crate::Emulator::set_path_fault)) until cleared.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), entra_emulator::EmulatorError> {
/// use entra_emulator::{Emulator, Endpoint, Fault};
/// let emu = Emulator::start().await?;
/// emu.set_fault(Endpoint::Keys, Fault::Status(503));
/// // ... exercise the code under test: key fetches now fail with 503 ...
/// emu.clear_faults();
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Close the TCP connection without sending any HTTP response.
    DropConnection,
    /// Wait this long, then answer normally (use it to test client timeouts).
    Delay(Duration),
    /// Answer with this HTTP status and a short plain-text body.
    Status(u16),
    /// Answer `200 OK` with an HTML page (like a captive portal or proxy error page).
    Html,
    /// Answer `200 OK`, `application/json`, with a truncated, unparsable JSON body.
    InvalidJson,
    /// Answer `200 OK`, `application/json`, with a body of exactly this many bytes that starts like
    /// valid JSON (to test response size limits).
    Oversized(usize),
    /// Keys endpoint: answer `{"keys":[]}`. Other endpoints answer normally.
    EmptyKeySet,
    /// Keys endpoint: the normal key set plus three unusable keys (an RSA key with garbage `n`/`e`,
    /// a `kty: "EC"` key and a `use: "enc"` key). Other endpoints answer normally.
    BrokenKey,
}

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

const SENSITIVE: [&str; 6] = [
    "client_secret",
    "client_assertion",
    "assertion",
    "password",
    "refresh_token",
    "code",
];

/// The query with sensitive values masked.
pub(crate) fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            if SENSITIVE.iter().any(|s| name.eq_ignore_ascii_case(s)) {
                format!("{name}=***")
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
    }
}
