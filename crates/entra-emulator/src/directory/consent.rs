//! Consent: delegated permissions granted to a client app on a resource app, for every user of
//! a tenant (admin consent) or for one user, and the development mode that consents by itself.

use super::Tenant;

/// Scopes of a resource app granted to a client app (an `oauth2PermissionGrant`). Ids are
/// lower-cased client ids; the resource is resolved from an App ID URI when registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ConsentGrant {
    /// The client app.
    pub(crate) client_id: String,
    /// The resource app.
    pub(crate) resource: String,
    /// `None`: admin consent for every user; `Some(oid)`: this user's consent (oid lower-cased).
    pub(crate) user: Option<String>,
    /// The scope values.
    pub(crate) scopes: Vec<String>,
}

impl Tenant {
    /// Record a grant, merging with an existing one for the same (client, resource, user).
    pub(crate) fn add_consent(&mut self, grant: ConsentGrant) {
        let existing = self.consents.iter_mut().find(|g| {
            g.client_id == grant.client_id && g.resource == grant.resource && g.user == grant.user
        });
        match existing {
            Some(g) => {
                for s in grant.scopes {
                    if !g.scopes.iter().any(|x| x.eq_ignore_ascii_case(&s)) {
                        g.scopes.push(s);
                    }
                }
            }
            None => self.consents.push(grant),
        }
    }

    /// The scopes of `scopes` for which the user (object id, lower-cased; `None` for an
    /// app-level question) lacks consent for the client on the resource, in the order asked.
    ///
    /// A scope counts as consented when the resource app exposes it and: the tenant consents
    /// automatically (development mode), or an admin consented for the client on the resource,
    /// or the user did and the scope is not admin-consent-only. A scope the resource does not
    /// expose (or an unknown resource) is always missing.
    pub(crate) fn missing_consent(
        &self,
        user: Option<&str>,
        client_id: &str,
        resource: &str,
        scopes: &[&str],
    ) -> Vec<String> {
        let client = client_id.to_ascii_lowercase();
        let Some(app) = self.resource(resource) else {
            return scopes.iter().map(|s| (*s).to_owned()).collect();
        };
        let resource = app.client_id().to_ascii_lowercase();
        let granted = |who: Option<&str>, scope: &str| {
            self.consents.iter().any(|g| {
                g.client_id == client
                    && g.resource == resource
                    && g.user.as_deref() == who
                    && g.scopes.iter().any(|s| s.eq_ignore_ascii_case(scope))
            })
        };
        scopes
            .iter()
            .filter(|scope| {
                let Some(exposed) = app.find_scope(scope) else {
                    return true;
                };
                let ok = self.auto_consent
                    || granted(None, scope)
                    || (!exposed.admin_consent_only
                        && user.is_some_and(|u| granted(Some(u), scope)));
                !ok
            })
            .map(|s| (*s).to_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{App, DelegatedScope};

    const API: &str = "aaaaaaaa-0000-4000-8000-000000000001";
    const CLIENT: &str = "bbbbbbbb-0000-4000-8000-000000000002";
    const USER: &str = "cccccccc-0000-4000-8000-000000000003";

    fn tenant() -> Tenant {
        let mut t = Tenant::default();
        let api = App::new(API)
            .app_id_uri("api://files")
            .scope("Files.Read")
            .scope(DelegatedScope::new("Files.ReadWrite.All").admin_consent_only());
        t.apps.insert(API.to_owned(), api);
        t
    }

    fn grant(user: Option<&str>, scopes: &[&str]) -> ConsentGrant {
        ConsentGrant {
            client_id: CLIENT.to_owned(),
            resource: API.to_owned(),
            user: user.map(str::to_owned),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn nothing_consented_reports_every_scope() {
        let t = tenant();
        let missing = t.missing_consent(
            Some(USER),
            CLIENT,
            API,
            &["Files.Read", "Files.ReadWrite.All"],
        );
        assert_eq!(missing, ["Files.Read", "Files.ReadWrite.All"]);
    }

    #[test]
    fn user_consent_covers_only_that_user_and_not_admin_only_scopes() {
        let mut t = tenant();
        t.add_consent(grant(Some(USER), &["Files.Read", "Files.ReadWrite.All"]));
        let asked = ["files.read", "Files.ReadWrite.All"];
        assert_eq!(
            t.missing_consent(Some(USER), CLIENT, "api://files", &asked),
            ["Files.ReadWrite.All"]
        );
        let other = "dddddddd-0000-4000-8000-000000000004";
        assert_eq!(t.missing_consent(Some(other), CLIENT, API, &asked).len(), 2);
        assert_eq!(t.missing_consent(None, CLIENT, API, &asked).len(), 2);
    }

    #[test]
    fn admin_consent_covers_every_user_and_admin_only_scopes() {
        let mut t = tenant();
        t.add_consent(grant(None, &["Files.ReadWrite.All"]));
        t.add_consent(grant(None, &["Files.Read"]));
        assert_eq!(t.consents.len(), 1, "grants for the same pair are merged");
        let asked = ["Files.Read", "Files.ReadWrite.All"];
        assert!(
            t.missing_consent(Some(USER), CLIENT, API, &asked)
                .is_empty()
        );
        assert!(t.missing_consent(None, CLIENT, API, &asked).is_empty());
        let other_client = "eeeeeeee-0000-4000-8000-000000000005";
        assert_eq!(
            t.missing_consent(Some(USER), other_client, API, &asked)
                .len(),
            2
        );
    }

    #[test]
    fn auto_consent_covers_exposed_scopes_only() {
        let mut t = tenant();
        t.auto_consent = true;
        let asked = ["Files.Read", "Files.ReadWrite.All", "Mail.Send"];
        assert_eq!(
            t.missing_consent(Some(USER), CLIENT, API, &asked),
            ["Mail.Send"]
        );
        assert_eq!(
            t.missing_consent(Some(USER), CLIENT, "api://unknown", &["Files.Read"]),
            ["Files.Read"]
        );
    }
}
