//! Users and groups of a tenant.

use std::fmt;

/// A user's password, for the resource owner password credentials grant (ROPC) only.
/// `Debug` never shows it.
///
/// ```
/// use entra_emulator::Password;
/// let p = Password::new("correct horse");
/// assert!(p.matches("correct horse"));
/// assert!(!format!("{p:?}").contains("horse"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wrap a password.
    pub fn new(value: impl Into<String>) -> Password {
        Password(value.into())
    }

    /// Is `candidate` this password? (Exact comparison, in constant time.)
    pub fn matches(&self, candidate: &str) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(self.0.as_bytes(), candidate.as_bytes())
            .is_ok()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// What kind of account a user is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum UserKind {
    /// A cloud-only member of the tenant: it signs in on the emulator's page, and with a
    /// password (ROPC) when it has one.
    #[default]
    Member,
    /// An account whose credentials another identity provider checks (a federated domain, or a
    /// Microsoft account): it signs in on the page, but the password grant (ROPC) is refused
    /// for it, as Entra refuses it.
    Federated,
}

/// A role of a resource app assigned to a user (see [`User::app_role`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserRoleAssignment {
    /// The resource app: its client id (an App ID URI given when the user is added is resolved
    /// to the client id if the app is registered).
    pub resource: String,
    /// The role value.
    pub role: String,
}

/// A user of a tenant.
///
/// The fields are readable; build one with [`User::new`] and the methods of the same names.
///
/// ```
/// use entra_emulator::{User, UserKind};
/// let user = User::new("megan@contoso.onmicrosoft.com")
///     .display_name("Megan Bowen")
///     .given_name("Megan")
///     .family_name("Bowen")
///     .mail("megan@contoso.example")
///     .password("dev-only-password")
///     .kind(UserKind::Member);
/// assert_eq!(user.user_principal_name, "megan@contoso.onmicrosoft.com");
/// assert_eq!(user.object_id.len(), 36); // a new GUID unless set with `object_id`
/// assert!(user.password.as_ref().is_some_and(|p| p.matches("dev-only-password")));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct User {
    /// The object id (`oid`), a GUID.
    pub object_id: String,
    /// The user principal name (`upn`, `preferred_username`), unique in its tenant
    /// (case-insensitive).
    pub user_principal_name: String,
    /// Display name (`name`); the UPN's local part if not set.
    pub display_name: String,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name (surname).
    pub family_name: Option<String>,
    /// Mail address (`email`).
    pub mail: Option<String>,
    /// Password for ROPC; `None`: ROPC is refused for this user.
    pub password: Option<Password>,
    /// Object ids of the groups the user is a member of.
    pub groups: Vec<String>,
    /// App roles assigned to the user.
    pub app_roles: Vec<UserRoleAssignment>,
    /// Member or federated account.
    pub kind: UserKind,
}

impl User {
    /// A member user with this UPN and a new random object id.
    pub fn new(user_principal_name: impl Into<String>) -> User {
        let upn: String = user_principal_name.into();
        let display_name = upn.split('@').next().unwrap_or_default().to_owned();
        User {
            object_id: uuid::Uuid::new_v4().to_string(),
            user_principal_name: upn,
            display_name,
            given_name: None,
            family_name: None,
            mail: None,
            password: None,
            groups: Vec::new(),
            app_roles: Vec::new(),
            kind: UserKind::Member,
        }
    }

    /// Set the object id (a GUID).
    pub fn object_id(mut self, id: impl Into<String>) -> User {
        self.object_id = id.into();
        self
    }

    /// Set the display name.
    pub fn display_name(mut self, name: impl Into<String>) -> User {
        self.display_name = name.into();
        self
    }

    /// Set the given name.
    pub fn given_name(mut self, name: impl Into<String>) -> User {
        self.given_name = Some(name.into());
        self
    }

    /// Set the family name.
    pub fn family_name(mut self, name: impl Into<String>) -> User {
        self.family_name = Some(name.into());
        self
    }

    /// Set the mail address.
    pub fn mail(mut self, mail: impl Into<String>) -> User {
        self.mail = Some(mail.into());
        self
    }

    /// Set a password (ROPC only).
    pub fn password(mut self, password: impl Into<String>) -> User {
        self.password = Some(Password::new(password));
        self
    }

    /// Set the account kind.
    pub fn kind(mut self, kind: UserKind) -> User {
        self.kind = kind;
        self
    }

    /// Make the user a member of the group with this object id (the group must exist when the
    /// user is added).
    pub fn member_of(mut self, group_id: impl Into<String>) -> User {
        self.groups.push(group_id.into());
        self
    }

    /// Assign a role of a resource app (client id or App ID URI) to the user.
    pub fn app_role(mut self, resource: impl Into<String>, role: impl Into<String>) -> User {
        self.app_roles.push(UserRoleAssignment {
            resource: resource.into(),
            role: role.into(),
        });
        self
    }

    /// Is this the user `name` names: its object id or its UPN (both case-insensitive)?
    /// Does a `login_hint` name this user: the UPN, the object id or the mail address?
    pub(crate) fn answers_hint(&self, hint: &str) -> bool {
        self.is(hint)
            || self
                .mail
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(hint))
    }

    pub(crate) fn is(&self, name: &str) -> bool {
        self.object_id.eq_ignore_ascii_case(name)
            || self.user_principal_name.eq_ignore_ascii_case(name)
    }
}

/// A group of a tenant.
///
/// ```
/// use entra_emulator::Group;
/// let g = Group::new("Finance").object_id("0b6c2a6e-4f0c-4c49-8a0e-3c4d5e6f7a8b");
/// assert_eq!(g.display_name, "Finance");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Group {
    /// The object id, a GUID (what the `groups` claim carries).
    pub object_id: String,
    /// Display name.
    pub display_name: String,
}

impl Group {
    /// A group with this display name and a new random object id.
    pub fn new(display_name: impl Into<String>) -> Group {
        Group {
            object_id: uuid::Uuid::new_v4().to_string(),
            display_name: display_name.into(),
        }
    }

    /// Set the object id (a GUID).
    pub fn object_id(mut self, id: impl Into<String>) -> Group {
        self.object_id = id.into();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_password() {
        let user = User::new("a@b.example").password("hunter2-secret");
        let debug = format!("{user:?}");
        assert!(!debug.contains("hunter2-secret"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }

    #[test]
    fn is_matches_upn_and_object_id_case_insensitively() {
        let user =
            User::new("Adele@Contoso.example").object_id("AAAAAAAA-0000-4000-8000-000000000001");
        assert!(user.is("adele@contoso.EXAMPLE"));
        assert!(user.is("aaaaaaaa-0000-4000-8000-000000000001"));
        assert!(!user.is("alex@contoso.example"));
        assert_eq!(user.display_name, "Adele");
    }
}
