//! URL rules: https anywhere, plain http only for loopback hosts (the emulator, tests), and a
//! document reached over https never leads to plain http.

use url::Url;

use crate::error::ConfigError;

/// Parses an https URL, or an http URL on a loopback host.
pub(crate) fn parse_endpoint(raw: &str, what: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw.trim())
        .map_err(|e| ConfigError::new(format!("the {what} `{raw}` is not a URL: {e}")))?;
    check_scheme(&url).map_err(|m| ConfigError::new(format!("the {what} `{raw}` {m}")))?;
    Ok(url)
}

/// A URL that a fetched document points to (the `jwks_uri`): the same rules as
/// [`check_scheme`], and `https` whenever the document itself came over `https` (plain `http`
/// only behind a loopback `http` authority, the emulator's).
pub(crate) fn check_linked_url(url: &Url, document: &Url) -> Result<(), &'static str> {
    check_scheme(url)?;
    if document.scheme() == "https" && url.scheme() != "https" {
        return Err("uses plain http although the discovery document came over https");
    }
    Ok(())
}

/// `https` anywhere; plain `http` only for loopback hosts (the emulator, tests): the rule
/// entra-client applies to authorities too.
pub(crate) fn check_scheme(url: &Url) -> Result<(), &'static str> {
    entra_core::check_authority_url(url)
}
