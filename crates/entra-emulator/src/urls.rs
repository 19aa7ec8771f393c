//! Every path the emulator serves or names, once, and the URLs built from them.
//!
//! A [`TenantPath`] is a path template under a tenant, `/{tenant}/...`: the router registers it
//! as it is (`{tenant}` is axum's capture syntax), [`Urls`] fills it into full URLs, and the
//! client-assertion check recognises it in an audience. Routes carry their [`Endpoint`] kind
//! from registration on (see `http::router`); nothing classifies a path by its text.

use crate::directory::TokenVersion;

/// The kinds of endpoint the emulator serves, for faults and counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `/{tenant}/v2.0/.well-known/openid-configuration` and `/{tenant}/.well-known/openid-configuration`.
    Discovery,
    /// `/{tenant}/discovery/v2.0/keys` and `/{tenant}/discovery/keys`.
    Keys,
    /// `/{tenant}/oauth2/v2.0/token` and `/{tenant}/oauth2/token`.
    Token,
    /// `/{tenant}/oauth2/v2.0/authorize`.
    Authorize,
    /// The sign-in and consent pages' answers: `/{tenant}/login`, `/{tenant}/consent`.
    SignIn,
    /// `/{tenant}/oauth2/v2.0/devicecode`.
    DeviceCode,
    /// `/devicelogin`: where a user enters a device code.
    DeviceLogin,
    /// `/{tenant}/oauth2/v2.0/logout` and `/{tenant}/oauth2/logout`.
    Logout,
    /// `/oidc/userinfo` and `/{tenant}/openid/userinfo`.
    UserInfo,
    /// Microsoft Graph's `/v1.0/me`.
    Graph,
    /// The managed identity endpoints: App Service's `/msi/token` and IMDS's
    /// `/metadata/identity/oauth2/token`.
    ManagedIdentity,
    /// The workload identity issuers the emulator serves: `/workload/{name}/.well-known/openid-configuration`
    /// and `/workload/{name}/openid/v1/jwks`.
    WorkloadIssuer,
}

/// What multi-tenant documents put where the tenant id goes: `{base}/{tenantid}/v2.0`.
pub(crate) const TENANT_ID_PLACEHOLDER: &str = "{tenantid}";

/// The capture of a tenant path: a tenant id, one of its domain names, `common` or
/// `organizations`.
const TENANT_CAPTURE: &str = "/{tenant}";

/// A path template under a tenant, starting with `/{tenant}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TenantPath(&'static str);

/// v2 discovery document.
pub(crate) const DISCOVERY_V2: TenantPath =
    TenantPath("/{tenant}/v2.0/.well-known/openid-configuration");
/// v1 discovery document.
pub(crate) const DISCOVERY_V1: TenantPath =
    TenantPath("/{tenant}/.well-known/openid-configuration");
/// v2 key set (keys carry `issuer`).
pub(crate) const KEYS_V2: TenantPath = TenantPath("/{tenant}/discovery/v2.0/keys");
/// v1 key set.
pub(crate) const KEYS_V1: TenantPath = TenantPath("/{tenant}/discovery/keys");
/// v2 token endpoint.
pub(crate) const TOKEN_V2: TenantPath = TenantPath("/{tenant}/oauth2/v2.0/token");
/// v1 token endpoint.
pub(crate) const TOKEN_V1: TenantPath = TenantPath("/{tenant}/oauth2/token");

/// v2 authorization endpoint.
pub(crate) const AUTHORIZE_V2: TenantPath = TenantPath("/{tenant}/oauth2/v2.0/authorize");
/// v2 device authorization endpoint.
pub(crate) const DEVICE_CODE_V2: TenantPath = TenantPath("/{tenant}/oauth2/v2.0/devicecode");
/// v2 end-session endpoint.
pub(crate) const LOGOUT_V2: TenantPath = TenantPath("/{tenant}/oauth2/v2.0/logout");
/// v1 end-session endpoint.
pub(crate) const LOGOUT_V1: TenantPath = TenantPath("/{tenant}/oauth2/logout");
/// v1 userinfo endpoint.
pub(crate) const USERINFO_V1: TenantPath = TenantPath("/{tenant}/openid/userinfo");
/// Where the sign-in page posts.
pub(crate) const LOGIN: TenantPath = TenantPath("/{tenant}/login");
/// Where the consent page posts.
pub(crate) const CONSENT: TenantPath = TenantPath("/{tenant}/consent");
/// The v2 userinfo endpoint, the same for every tenant.
pub(crate) const USERINFO_V2: &str = "/oidc/userinfo";
/// The page where a user enters a device code, the same for every tenant.
pub(crate) const DEVICE_LOGIN: &str = "/devicelogin";
/// Microsoft Graph's `me`, at the emulator's base URL.
pub(crate) const GRAPH_ME: &str = "/v1.0/me";
/// The App Service / Container Apps / Functions managed identity endpoint (`IDENTITY_ENDPOINT`).
pub(crate) const MSI_TOKEN: &str = "/msi/token";
/// The Azure Instance Metadata Service's managed identity token endpoint.
pub(crate) const IMDS_TOKEN: &str = "/metadata/identity/oauth2/token";
/// Where the workload identity issuers live: `{base}/workload/{name}`.
pub(crate) const WORKLOAD_PREFIX: &str = "/workload";
/// A workload issuer's discovery document.
pub(crate) const WORKLOAD_DISCOVERY: &str = "/workload/{name}/.well-known/openid-configuration";
/// A workload issuer's key set (where Kubernetes serves it).
pub(crate) const WORKLOAD_JWKS: &str = "/workload/{name}/openid/v1/jwks";

/// The discovery document of a version.
pub(crate) fn discovery(version: TokenVersion) -> TenantPath {
    match version {
        TokenVersion::V2 => DISCOVERY_V2,
        TokenVersion::V1 => DISCOVERY_V1,
    }
}

/// The key set of a version.
pub(crate) fn keys(version: TokenVersion) -> TenantPath {
    match version {
        TokenVersion::V2 => KEYS_V2,
        TokenVersion::V1 => KEYS_V1,
    }
}

/// The token endpoint of a version.
pub(crate) fn token(version: TokenVersion) -> TenantPath {
    match version {
        TokenVersion::V2 => TOKEN_V2,
        TokenVersion::V1 => TOKEN_V1,
    }
}

/// The end-session endpoint of a version.
pub(crate) fn logout(version: TokenVersion) -> TenantPath {
    match version {
        TokenVersion::V2 => LOGOUT_V2,
        TokenVersion::V1 => LOGOUT_V1,
    }
}

impl TenantPath {
    /// The template, as the router registers it.
    pub(crate) fn template(self) -> &'static str {
        self.0
    }

    /// The path under this tenant name, e.g. `/contoso.example/oauth2/v2.0/token`.
    pub(crate) fn fill(self, tenant: &str) -> String {
        format!("/{tenant}{}", self.suffix())
    }

    /// What follows the tenant, e.g. `/oauth2/v2.0/token`.
    fn suffix(self) -> &'static str {
        self.0.strip_prefix(TENANT_CAPTURE).unwrap_or(self.0)
    }

    /// The tenant segment of `path` when it is this template filled with one segment; what
    /// follows the segment is compared case-insensitively.
    pub(crate) fn tenant_in(self, path: &str) -> Option<&str> {
        let (segment, rest) = path.strip_prefix('/')?.split_once('/')?;
        let suffix = self.suffix().strip_prefix('/')?;
        rest.eq_ignore_ascii_case(suffix).then_some(segment)
    }
}

/// The URLs of one running emulator: its base URL and the v1 issuer host.
#[derive(Clone, Debug)]
pub(crate) struct Urls {
    base: String,
    v1_issuer_host: String,
}

impl Urls {
    /// `base` without a trailing slash, e.g. `http://127.0.0.1:49152`; `v1_issuer_host` likewise.
    pub(crate) fn new(base: String, v1_issuer_host: String) -> Urls {
        Urls {
            base,
            v1_issuer_host,
        }
    }

    /// The base URL (the authority host), no trailing slash.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// `{base}{path under tenant}`.
    pub(crate) fn at(&self, path: TenantPath, tenant: &str) -> String {
        format!("{}{}", self.base, path.fill(tenant))
    }

    /// The authority of a tenant: `{base}/{tenant}`.
    pub(crate) fn authority(&self, tenant: &str) -> String {
        format!("{}/{tenant}", self.base)
    }

    /// The issuer of tokens of a version: `{base}/{tid}/v2.0` or `{v1 host}/{tid}/`.
    pub(crate) fn issuer(&self, version: TokenVersion, tid: &str) -> String {
        match version {
            TokenVersion::V2 => format!("{}/{tid}/v2.0", self.base),
            TokenVersion::V1 => format!("{}/{tid}/", self.v1_issuer_host),
        }
    }

    /// The discovery document URL.
    pub(crate) fn discovery(&self, tenant: &str, version: TokenVersion) -> String {
        self.at(discovery(version), tenant)
    }

    /// The key set URL.
    pub(crate) fn keys(&self, tenant: &str, version: TokenVersion) -> String {
        self.at(keys(version), tenant)
    }

    /// The token endpoint URL.
    pub(crate) fn token(&self, tenant: &str, version: TokenVersion) -> String {
        self.at(token(version), tenant)
    }

    /// `{base}{path}` for a path that is not under a tenant.
    pub(crate) fn absolute(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The issuer URL of the workload issuer `name`: `{base}/workload/{name}`.
    pub(crate) fn workload_issuer(&self, name: &str) -> String {
        format!("{}{WORKLOAD_PREFIX}/{name}", self.base)
    }

    /// The name of the workload issuer an issuer URL of this emulator names, if it does.
    pub(crate) fn workload_issuer_name<'a>(&self, issuer: &'a str) -> Option<&'a str> {
        let rest = issuer
            .get(..self.base.len())
            .filter(|prefix| prefix.eq_ignore_ascii_case(&self.base))
            .and_then(|_| issuer.get(self.base.len()..))?;
        let name = rest.strip_prefix(WORKLOAD_PREFIX)?.strip_prefix('/')?;
        (!name.is_empty() && !name.contains('/')).then_some(name)
    }

    /// The v2 userinfo endpoint URL.
    pub(crate) fn userinfo_v2(&self) -> String {
        format!("{}{USERINFO_V2}", self.base)
    }

    /// The request path named by `path_or_url`: without this emulator's base URL (compared
    /// case-insensitively), query or fragment.
    pub(crate) fn request_path(&self, path_or_url: &str) -> String {
        let base = &self.base;
        let path = match path_or_url.get(..base.len()) {
            Some(prefix) if prefix.eq_ignore_ascii_case(base) => &path_or_url[base.len()..],
            _ => path_or_url,
        };
        let end = path.find(['?', '#']).unwrap_or(path.len());
        path[..end].to_owned()
    }

    /// When `url` is a v2 or v1 token endpoint URL of this emulator (case-insensitive, a
    /// trailing `/` ignored), the tenant segment it names.
    pub(crate) fn token_endpoint_tenant<'a>(&self, url: &'a str) -> Option<&'a str> {
        let url = url.trim_end_matches('/');
        let path = url
            .get(..self.base.len())
            .filter(|prefix| prefix.eq_ignore_ascii_case(&self.base))
            .and_then(|_| url.get(self.base.len()..))?;
        [TOKEN_V2, TOKEN_V1]
            .into_iter()
            .find_map(|t| t.tenant_in(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_and_match() {
        assert_eq!(TOKEN_V2.fill("common"), "/common/oauth2/v2.0/token");
        assert_eq!(TOKEN_V2.tenant_in("/x/OAuth2/v2.0/Token"), Some("x"));
        assert_eq!(TOKEN_V2.tenant_in("/x/y/oauth2/v2.0/token"), None);
        assert_eq!(TOKEN_V1.tenant_in("/x/oauth2/v2.0/token"), None);
        let urls = Urls::new(
            "http://127.0.0.1:1".into(),
            "https://sts.windows.net".into(),
        );
        assert_eq!(
            urls.discovery("t", TokenVersion::V2),
            "http://127.0.0.1:1/t/v2.0/.well-known/openid-configuration"
        );
        assert_eq!(
            urls.token_endpoint_tenant("HTTP://127.0.0.1:1/t/oauth2/token/"),
            Some("t")
        );
        assert_eq!(
            urls.token_endpoint_tenant("http://127.0.0.1:10/t/oauth2/token"),
            None
        );
        assert_eq!(
            urls.issuer(TokenVersion::V1, "t"),
            "https://sts.windows.net/t/"
        );
        assert_eq!(
            urls.request_path("http://127.0.0.1:1/t/discovery/keys?appid=x"),
            "/t/discovery/keys"
        );
    }
}
