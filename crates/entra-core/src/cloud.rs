//! The Microsoft Entra ID clouds, and the one rule every authority URL follows.
//!
//! ```
//! use entra_core::{AZURE_PUBLIC_CLOUD, AuthorityHost, check_authority_url};
//! use url::Url;
//!
//! assert_eq!(AuthorityHost::default().as_str(), AZURE_PUBLIC_CLOUD);
//!
//! // https anywhere; plain http only for a loopback host (a local emulator).
//! check_authority_url(&Url::parse(AuthorityHost::AzureChina.as_str())?)?;
//! check_authority_url(&Url::parse("http://127.0.0.1:8080")?)?;
//! assert_eq!(
//!     check_authority_url(&Url::parse("http://login.example.com")?),
//!     Err("uses plain http, which is accepted only for loopback hosts"),
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::net::IpAddr;

use url::{Host, Url};

/// The authority host of Microsoft Entra ID's global (public) cloud.
pub const AZURE_PUBLIC_CLOUD: &str = "https://login.microsoftonline.com";
/// The authority host of Azure US Government.
pub const AZURE_US_GOVERNMENT: &str = "https://login.microsoftonline.us";
/// The authority host of Microsoft Azure operated by 21Vianet (China).
pub const AZURE_CHINA: &str = "https://login.chinacloudapi.cn";

/// A well-known Entra ID cloud. Any other authority (a local emulator, a proxy) is given as a URL
/// that passes [`check_authority_url`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum AuthorityHost {
    /// The global cloud, `https://login.microsoftonline.com` (the default).
    #[default]
    AzurePublic,
    /// Azure US Government, `https://login.microsoftonline.us`.
    AzureUsGovernment,
    /// Azure China (21Vianet), `https://login.chinacloudapi.cn`.
    AzureChina,
}

impl AuthorityHost {
    /// The authority URL of this cloud, without a trailing slash.
    pub fn as_str(&self) -> &'static str {
        match self {
            AuthorityHost::AzurePublic => AZURE_PUBLIC_CLOUD,
            AuthorityHost::AzureUsGovernment => AZURE_US_GOVERNMENT,
            AuthorityHost::AzureChina => AZURE_CHINA,
        }
    }
}

/// Checks the rule every authority (and every URL derived from one) follows: `https://`
/// anywhere, plain `http://` only for a loopback host (see [`is_loopback`]), a host, and no
/// credentials.
///
/// The error completes a sentence that starts with the URL's name, e.g.
/// `"authority ... must be an https URL"`. It never contains the URL, which may hold credentials.
pub fn check_authority_url(url: &Url) -> Result<(), &'static str> {
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

/// Whether the URL's host is a loopback address: `127.0.0.0/8`, `[::1]` or `localhost`
/// (whatever the case). A domain that merely starts with `127.` or `localhost.` is not.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str) -> Result<(), &'static str> {
        check_authority_url(&Url::parse(url).unwrap())
    }

    #[test]
    fn clouds() {
        assert_eq!(AuthorityHost::default(), AuthorityHost::AzurePublic);
        assert_eq!(AuthorityHost::AzurePublic.as_str(), AZURE_PUBLIC_CLOUD);
        assert_eq!(
            AuthorityHost::AzureUsGovernment.as_str(),
            AZURE_US_GOVERNMENT
        );
        assert_eq!(AuthorityHost::AzureChina.as_str(), AZURE_CHINA);
        for host in [
            AuthorityHost::AzurePublic,
            AuthorityHost::AzureUsGovernment,
            AuthorityHost::AzureChina,
        ] {
            assert!(host.as_str().starts_with("https://"), "{host:?}");
            assert!(!host.as_str().ends_with('/'), "{host:?}");
            assert_eq!(check(host.as_str()), Ok(()), "{host:?}");
        }
    }

    #[test]
    fn accepts_https_anywhere_and_http_on_loopback() {
        for good in [
            "https://login.microsoftonline.com",
            "https://login.microsoftonline.com/tenant/v2.0?x=1",
            "https://10.0.0.1:8443",
            "http://127.0.0.1:8080",
            "http://127.0.0.5:1",
            "http://127.255.255.254",
            "http://[::1]:9/",
            "http://localhost:9",
            "http://LocalHost",
        ] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn refuses_the_rest_with_a_reason() {
        let plain = Err("uses plain http, which is accepted only for loopback hosts");
        for (bad, expected) in [
            ("http://login.microsoftonline.com", plain),
            ("http://10.0.0.1", plain),
            ("http://128.0.0.1", plain),
            ("http://[::2]", plain),
            ("http://127.0.0.1.example.com", plain),
            ("http://localhost.example.com", plain),
            ("ftp://127.0.0.1", Err("must be an https URL")),
            ("file:///etc/passwd", Err("must be an https URL")),
            ("unix:/run/entra.sock", Err("must be an https URL")),
            (
                "https://user:pw@login.microsoftonline.com",
                Err("must not contain credentials"),
            ),
            (
                "https://user@login.microsoftonline.com",
                Err("must not contain credentials"),
            ),
            (
                "https://:pw@login.microsoftonline.com",
                Err("must not contain credentials"),
            ),
            (
                "http://user:pw@127.0.0.1",
                Err("must not contain credentials"),
            ),
        ] {
            assert_eq!(check(bad), expected, "{bad}");
        }
    }

    #[test]
    fn hostless_urls() {
        // `url` refuses http(s) URLs without a host, so "has no host" guards what a future
        // scheme or a hand-built URL could bring; hostless URLs are never loopback.
        assert!(Url::parse("https://").is_err());
        assert!(Url::parse("http://").is_err());
        let data = Url::parse("data:text/plain,x").unwrap();
        assert!(!is_loopback(&data));
        assert_eq!(check_authority_url(&data), Err("must be an https URL"));
    }

    #[test]
    fn loopback_hosts() {
        for (url, expected) in [
            ("http://127.0.0.1", true),
            ("http://127.1.2.3:80", true),
            ("http://[::1]", true),
            ("http://localhost", true),
            ("https://LOCALHOST:8443", true),
            ("http://[::ffff:127.0.0.1]", false),
            ("http://0.0.0.0", false),
            ("http://localhost.", false),
            ("http://example.com", false),
        ] {
            assert_eq!(is_loopback(&Url::parse(url).unwrap()), expected, "{url}");
        }
    }
}
