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
    let url = Url::parse(authority.trim())
        .map_err(|e| Error::Config(format!("authority {authority:?} is not a URL: {e}")))?;
    if let Err(reason) = check_authority_url(&url) {
        // The authority is named without its credentials, if it has any.
        let mut shown = url.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        let hint = if url.scheme() == "http" && !entra_core::is_loopback(&url) {
            " (127.0.0.1, [::1], localhost); use https://"
        } else {
            ""
        };
        return Err(Error::Config(format!(
            "authority {:?} {reason}{hint}",
            shown.as_str()
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::Config(format!(
            "authority {authority:?} must not have a query or fragment"
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
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
