//! The `scope` parameter of a user flow: one resource's scopes plus OpenID Connect's.

use super::AadError;
use crate::directory::{App, GRAPH_DEFAULT_SCOPE, GRAPH_RESOURCE};

/// Scopes that are OpenID Connect's, not a resource's.
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// A parsed `scope`: the resource as named and its scope values (`.default` kept as it is, for
/// the grant to expand), and the OpenID Connect scopes asked.
#[derive(Debug, Clone)]
pub(crate) struct Scopes {
    pub(crate) resource: String,
    pub(crate) values: Vec<String>,
    /// `openid`: an ID token.
    pub(crate) openid: bool,
    /// `offline_access`: a refresh token.
    pub(crate) offline_access: bool,
    /// `email`: the ID token's `email`.
    pub(crate) email: bool,
}

impl Scopes {
    /// Parse `scope`. Scopes of two resources are AADSTS70011; only OpenID Connect scopes mean
    /// Microsoft Graph's `User.Read`, as in Entra.
    pub(crate) fn parse(scope: &str) -> Result<Scopes, AadError> {
        let mut resource: Option<&str> = None;
        let mut values = Vec::new();
        let (mut openid, mut offline_access, mut email) = (false, false, false);
        for s in scope.split_whitespace() {
            if OIDC_SCOPES.iter().any(|o| o.eq_ignore_ascii_case(s)) {
                openid |= s.eq_ignore_ascii_case("openid");
                offline_access |= s.eq_ignore_ascii_case("offline_access");
                email |= s.eq_ignore_ascii_case("email");
                continue;
            }
            let Some((r, v)) = s
                .rsplit_once('/')
                .filter(|(r, v)| !r.is_empty() && !v.is_empty())
            else {
                return Err(AadError::invalid_scope(scope));
            };
            match resource {
                Some(prev) if !prev.eq_ignore_ascii_case(r) => {
                    return Err(AadError::invalid_scope(scope));
                }
                _ => resource = Some(r),
            }
            values.push(v.to_owned());
        }
        let resource = match resource {
            Some(r) => r.to_owned(),
            None if openid || offline_access => {
                values.push(GRAPH_DEFAULT_SCOPE.to_owned());
                GRAPH_RESOURCE.to_owned()
            }
            None => return Err(AadError::invalid_scope(scope)),
        };
        Ok(Scopes {
            resource,
            values,
            openid,
            offline_access,
            email,
        })
    }

    /// The scope values to grant `client` on `resource`: as asked, or for
    /// `{resource}/.default` every scope the client requests on the resource.
    pub(crate) fn values_for(&self, client: &App, resource: &App) -> Vec<String> {
        if !self.values.iter().any(|v| v == ".default") {
            return self.values.clone();
        }
        client
            .requested_permissions()
            .iter()
            .filter(|p| resource.matches_resource(&p.resource))
            .flat_map(|p| p.scopes.iter().cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_resource_and_openid_scopes() {
        let s = Scopes::parse("api://x/Files.Read openid offline_access api://x/Other").unwrap();
        assert_eq!(s.resource, "api://x");
        assert_eq!(s.values, ["Files.Read", "Other"]);
        assert!(s.openid && s.offline_access && !s.email);
        let g = Scopes::parse("openid profile").unwrap();
        assert_eq!(
            (g.resource.as_str(), g.values.as_slice()),
            (GRAPH_RESOURCE, &["User.Read".to_owned()][..])
        );
        assert_eq!(
            Scopes::parse("api://x/A api://y/B").unwrap_err().code,
            70011
        );
        assert_eq!(Scopes::parse("Files.Read").unwrap_err().code, 70011);
        assert_eq!(Scopes::parse("").unwrap_err().code, 70011);
    }
}
