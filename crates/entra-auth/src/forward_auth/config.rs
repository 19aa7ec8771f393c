//! [`ForwardAuthConfig`]: the authenticator, the rules and the names of the identity headers.

use http::HeaderName;

use super::file::RulesFile;
use super::rules::{Rules, RulesError};
use crate::authenticator::Authenticator;
use crate::config::EntraConfig;

/// The names of the response headers that carry the caller's identity to the proxy (which
/// passes them upstream). Every `200` carries all five, empty when the token has no such claim
/// or the request is anonymous, so that a proxy that copies them replaces whatever a client
/// sent under those names.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdentityHeaders {
    /// The object id (`oid`) of the user or of the calling app's service principal. Default
    /// `X-Entra-Oid`.
    pub oid: HeaderName,
    /// The tenant id (`tid`). Default `X-Entra-Tid`.
    pub tid: HeaderName,
    /// The calling application's client id (`azp` or `appid`). Default `X-Entra-App-Id`.
    pub app_id: HeaderName,
    /// The delegated scopes (`scp`), separated by single spaces. Default `X-Entra-Scopes`.
    pub scopes: HeaderName,
    /// The app roles (`roles`), separated by single spaces, like scopes (Entra's role values
    /// cannot contain spaces). Default `X-Entra-Roles`.
    pub roles: HeaderName,
}

impl Default for IdentityHeaders {
    fn default() -> Self {
        Self {
            oid: HeaderName::from_static("x-entra-oid"),
            tid: HeaderName::from_static("x-entra-tid"),
            app_id: HeaderName::from_static("x-entra-app-id"),
            scopes: HeaderName::from_static("x-entra-scopes"),
            roles: HeaderName::from_static("x-entra-roles"),
        }
    }
}

/// Headers an identity header must not be named after: the proxy protocol's own, or ones a
/// proxy treats specially.
const RESERVED: [&str; 14] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "host",
    "connection",
    "content-length",
    "content-type",
    "transfer-encoding",
    "www-authenticate",
    "retry-after",
    "cache-control",
    "location",
    "x-request-id",
];

impl IdentityHeaders {
    /// The five names, in the order oid, tid, app id, scopes, roles.
    pub fn names(&self) -> [&HeaderName; 5] {
        [
            &self.oid,
            &self.tid,
            &self.app_id,
            &self.scopes,
            &self.roles,
        ]
    }

    /// Checks that the five names differ and none is a reserved header (`Authorization`,
    /// `Host`, `Content-Length`, `WWW-Authenticate`, ...).
    pub fn check(&self) -> Result<(), RulesError> {
        let names = self.names();
        for (i, name) in names.iter().enumerate() {
            if RESERVED.contains(&name.as_str()) {
                return Err(RulesError::InvalidHeader {
                    name: name.to_string(),
                    reason: "a reserved header name",
                });
            }
            if names[..i].contains(name) {
                return Err(RulesError::InvalidHeader {
                    name: name.to_string(),
                    reason: "used for two identity headers",
                });
            }
        }
        Ok(())
    }
}

/// What a forward-auth service needs: an [`Authenticator`] (the same configuration as an API
/// protected by the layer), per-path [`Rules`] and the [`IdentityHeaders`] names.
///
/// ```
/// use entra_auth::forward_auth::{ForwardAuthConfig, RulesFile};
/// use entra_auth::EntraConfig;
///
/// let entra = EntraConfig::builder()
///     .tenant("72f988bf-86f1-41af-91ab-2d7cd011db47")
///     .client_id("6e74172b-be56-4843-9ff4-e66a39bb12e3")
///     .build()?;
/// let file = RulesFile::from_toml(r#"
///     [headers]
///     oid = "X-User-Id"
///
///     [[rule]]
///     path = "/admin"
///     roles = ["Api.Admin"]
/// "#)?;
/// let config = ForwardAuthConfig::new(entra).with_file(file);
/// assert_eq!(config.identity_headers().oid, "x-user-id");
/// assert_eq!(config.rules().len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ForwardAuthConfig {
    pub(crate) auth: Authenticator,
    pub(crate) rules: Rules,
    pub(crate) headers: IdentityHeaders,
}

impl ForwardAuthConfig {
    /// No rules (every path needs a valid token) and the default header names.
    pub fn new(config: EntraConfig) -> Self {
        Self::from_authenticator(Authenticator::new(config))
    }

    /// Around an existing [`Authenticator`], sharing its keys and caches (with a layer in the
    /// same process, for instance).
    pub fn from_authenticator(auth: Authenticator) -> Self {
        Self {
            auth,
            rules: Rules::new(),
            headers: IdentityHeaders::default(),
        }
    }

    /// These rules instead of the current ones.
    pub fn with_rules(mut self, rules: Rules) -> Self {
        self.rules = rules;
        self
    }

    /// These header names instead of the current ones.
    pub fn with_identity_headers(mut self, headers: IdentityHeaders) -> Self {
        self.headers = headers;
        self
    }

    /// The rules and the header names of a rules file.
    pub fn with_file(self, file: RulesFile) -> Self {
        self.with_rules(file.rules)
            .with_identity_headers(file.headers)
    }

    /// The authenticator (for [`prefetch`](Authenticator::prefetch) and readiness).
    pub fn authenticator(&self) -> &Authenticator {
        &self.auth
    }

    /// The rules.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The identity header names.
    pub fn identity_headers(&self) -> &IdentityHeaders {
        &self.headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_header_names_must_differ_and_not_be_reserved() {
        assert_eq!(IdentityHeaders::default().check(), Ok(()));
        let mut h = IdentityHeaders::default();
        h.roles = h.scopes.clone();
        assert!(matches!(
            h.check(),
            Err(RulesError::InvalidHeader { reason, .. }) if reason.contains("two")
        ));
        let h = IdentityHeaders {
            oid: http::header::AUTHORIZATION,
            ..IdentityHeaders::default()
        };
        assert!(matches!(
            h.check(),
            Err(RulesError::InvalidHeader { reason, .. }) if reason.contains("reserved")
        ));
    }
}
