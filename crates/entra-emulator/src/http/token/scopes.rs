//! The `scope` parameter of a user flow: one resource's scopes plus OpenID Connect's.

use super::AadError;
use crate::directory::{App, GRAPH_DEFAULT_SCOPE, GRAPH_RESOURCE};

/// The longest `scope` accepted: what the user flows keep (codes, refresh tokens, device
/// codes) must stay small.
const MAX_SCOPE_LEN: usize = 8 * 1024;

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
        if scope.len() > MAX_SCOPE_LEN {
            return Err(AadError::invalid_scope(scope));
        }
        let mut resource: Option<&str> = None;
        let mut values = Vec::new();
        let (mut oidc, mut openid, mut offline_access, mut email) = (false, false, false, false);
        for s in scope.split_whitespace() {
            if OIDC_SCOPES.iter().any(|o| o.eq_ignore_ascii_case(s)) {
                oidc = true;
                openid |= s.eq_ignore_ascii_case("openid");
                offline_access |= s.eq_ignore_ascii_case("offline_access");
                email |= s.eq_ignore_ascii_case("email");
                continue;
            }
            // A scope without a resource is Microsoft Graph's (`User.Read`), as in Entra.
            let (r, v) = match s.rsplit_once('/') {
                None => (GRAPH_RESOURCE, s),
                Some((r, v)) if !r.is_empty() && !v.is_empty() => (r, v),
                Some(_) => return Err(AadError::invalid_scope(scope)),
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
            None if oidc => {
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

    /// The scope values to grant `client` on `resource`, when each is one the resource exposes
    /// (AADSTS70011 for `scope` otherwise, or when nothing is left to grant).
    pub(crate) fn grantable(
        &self,
        client: &App,
        resource: &App,
        scope: &str,
    ) -> Result<Vec<String>, AadError> {
        let values = self.values_for(client, resource);
        if values.is_empty() || values.iter().any(|v| resource.find_scope(v).is_none()) {
            return Err(AadError::invalid_scope(scope));
        }
        Ok(values)
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
        let bare = Scopes::parse("User.Read openid").unwrap();
        assert_eq!(
            (bare.resource.as_str(), bare.values.as_slice()),
            (GRAPH_RESOURCE, &["User.Read".to_owned()][..])
        );
        assert_eq!(Scopes::parse("profile").unwrap().resource, GRAPH_RESOURCE);
        assert_eq!(
            Scopes::parse("api://x/A User.Read").unwrap_err().code,
            70011
        );
        assert_eq!(Scopes::parse("api://x/").unwrap_err().code, 70011);
        assert_eq!(Scopes::parse("").unwrap_err().code, 70011);
    }
}
