//! URL rules: https anywhere, plain http only for loopback hosts (the emulator, tests), and a
//! document reached over https never leads to plain http.

use std::net::IpAddr;

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

/// `https` anywhere; plain `http` only for loopback hosts (the emulator, tests).
pub(crate) fn check_scheme(url: &Url) -> Result<(), &'static str> {
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(url) => {}
        "http" => return Err("uses plain http, which is accepted only for loopback hosts"),
        _ => return Err("must be an https URL"),
    }
    if url.host().is_none() {
        return Err("has no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials");
    }
    Ok(())
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}
