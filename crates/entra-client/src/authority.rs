//! Authorities, tenants and token endpoint URLs. The clouds ([`AuthorityHost`](crate::AuthorityHost))
//! and the URL rule ([`check_authority_url`]) come from `entra-core`, shared with `entra-auth`.

use entra_core::check_authority_url;
use url::Url;

use crate::Error;

/// Which token endpoint a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum EndpointVersion {
    /// `/{tenant}/oauth2/v2.0/token` with `scope={resource}/.default`.
    V2,
    /// `/{tenant}/oauth2/token` with `resource={resource}`.
    V1,
}

/// Validates an authority: `https://`, or `http://` for loopback hosts only; no query, fragment
/// or credentials. Returns it without a trailing slash.
pub(crate) fn parse_authority(authority: &str) -> Result<String, Error> {
    let authority = authority.trim();
    let url = Url::parse(authority).map_err(|e| {
        Error::Config(format!(
            "authority {:?} is not a URL: {e}",
            without_credentials(authority)
        ))
    })?;
    if let Err(reason) = check_authority_url(&url) {
        // The authority is named without its credentials, if it has any. A URL that cannot
        // have any (`user:password@host` read as scheme `user`) is redacted as text.
        let mut stripped = url.clone();
        let shown = match (stripped.set_username(""), stripped.set_password(None)) {
            (Ok(()), Ok(())) => stripped.to_string(),
            _ => without_credentials(url.as_str()),
        };
        let hint = if url.scheme() == "http" && !entra_core::is_loopback(&url) {
            " (127.0.0.1, [::1], localhost); use https://"
        } else {
            ""
        };
        return Err(Error::Config(format!("authority {shown:?} {reason}{hint}")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::Config(format!(
            "authority {authority:?} must not have a query or fragment"
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// An authority that did not parse as a URL with credentials, for an error message: everything
/// between `://` (or the start, without one) and the last `@` is replaced with `<redacted>`, so
/// that credentials (`https://user:password@host`) are never shown, even when the password itself
/// holds `@` or `/`.
fn without_credentials(authority: &str) -> String {
    let start = authority.find("://").map_or(0, |i| i + 3);
    match authority[start..].rfind('@') {
        Some(at) => format!(
            "{}<redacted>{}",
            &authority[..start],
            &authority[start + at..]
        ),
        None => authority.to_owned(),
    }
}

/// Validates a tenant: a GUID or a domain name (`contoso.onmicrosoft.com`), not a multi-tenant
/// alias, which the client-credentials flow does not accept.
pub(crate) fn check_tenant(tenant: &str) -> Result<(), Error> {
    if tenant.is_empty() {
        return Err(Error::Config("tenant id is empty".into()));
    }
    if !tenant
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Err(Error::Config(format!(
            "tenant {tenant:?} must be a tenant id (GUID) or a domain name"
        )));
    }
    if ["common", "organizations", "consumers"]
        .iter()
        .any(|alias| tenant.eq_ignore_ascii_case(alias))
    {
        return Err(Error::Config(format!(
            "tenant {tenant:?} is a multi-tenant alias; the client-credentials flow needs a \
             specific tenant id or domain"
        )));
    }
    Ok(())
}

/// The token endpoint URL for an authority (already validated) and tenant.
pub(crate) fn token_endpoint(authority: &str, tenant: &str, version: EndpointVersion) -> String {
    match version {
        EndpointVersion::V2 => format!("{authority}/{tenant}/oauth2/v2.0/token"),
        EndpointVersion::V1 => format!("{authority}/{tenant}/oauth2/token"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AZURE_CHINA, AZURE_PUBLIC_CLOUD, AZURE_US_GOVERNMENT, AuthorityHost};

    #[test]
    fn accepts_https_and_loopback_http() {
        assert_eq!(
            parse_authority("https://login.microsoftonline.com/").unwrap(),
            "https://login.microsoftonline.com"
        );
        assert_eq!(
            parse_authority("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            parse_authority("http://127.0.0.5:1").unwrap(),
            "http://127.0.0.5:1"
        );
        assert_eq!(
            parse_authority("http://[::1]:9/").unwrap(),
            "http://[::1]:9"
        );
        assert_eq!(
            parse_authority("http://localhost:9").unwrap(),
            "http://localhost:9"
        );
        assert_eq!(
            parse_authority("https://example.test/prefix/").unwrap(),
            "https://example.test/prefix"
        );
    }

    #[test]
    fn refuses_plain_http_elsewhere_and_odd_urls() {
        for bad in [
            "http://login.microsoftonline.com",
            "http://10.0.0.1",
            "http://127.0.0.1.example.com",
            "ftp://127.0.0.1",
            "not a url",
            "https://user:pw@login.microsoftonline.com",
            "http://user:pw@login.microsoftonline.com",
            "https://login.microsoftonline.com/?x=1",
            "https://login.microsoftonline.com/#f",
        ] {
            let err = parse_authority(bad).unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{bad}: {err}");
            assert!(!err.to_string().contains("pw@"), "{err}");
        }
    }

    #[test]
    fn refused_authorities_never_show_their_credentials() {
        for bad in [
            "https://u:s3cret@login.microsoftonline.com:99999",
            " https://u:s3cret@login.microsoftonline.com:99999 ",
            "https://u:s3c@ret@login.microsoftonline.com:99999",
            "https://u:s3/cret@login.microsoftonline.com:99999",
            "https://u:s3cret@login micro.com",
            "https://:s3cret@[::1",
            // A URL of scheme `u`, which cannot have credentials.
            "u:s3cret@login.microsoftonline.com",
        ] {
            let err = parse_authority(bad).unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{bad}: {err}");
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("s3"), "{bad}: {shown}");
            assert!(!shown.contains("cret"), "{bad}: {shown}");
        }
        // What is left of the input still says which authority is meant.
        let err = parse_authority("https://u:s3cret@login.microsoftonline.com:99999").unwrap_err();
        assert!(
            err.to_string()
                .contains("https://<redacted>@login.microsoftonline.com:99999"),
            "{err}"
        );
        let err = parse_authority("https://login.microsoftonline.com:99999").unwrap_err();
        assert!(
            err.to_string()
                .contains("\"https://login.microsoftonline.com:99999\""),
            "{err}"
        );
    }

    #[test]
    fn tenants() {
        check_tenant("72f988bf-86f1-41af-91ab-2d7cd011db47").unwrap();
        check_tenant("contoso.onmicrosoft.com").unwrap();
        for bad in [
            "",
            "common",
            "Organizations",
            "consumers",
            "a/b",
            "a b",
            "x?y",
        ] {
            assert!(check_tenant(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            token_endpoint(AZURE_PUBLIC_CLOUD, "t", EndpointVersion::V2),
            "https://login.microsoftonline.com/t/oauth2/v2.0/token"
        );
        assert_eq!(
            token_endpoint(AZURE_CHINA, "t", EndpointVersion::V1),
            "https://login.chinacloudapi.cn/t/oauth2/token"
        );
        assert_eq!(AuthorityHost::default().as_str(), AZURE_PUBLIC_CLOUD);
        assert_eq!(
            AuthorityHost::AzureUsGovernment.as_str(),
            AZURE_US_GOVERNMENT
        );
    }
}
