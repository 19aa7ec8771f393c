//! Unit tests of the directory: UPN uniqueness and users' app roles.

use super::*;

const T: &str = "11111111-1111-1111-1111-111111111111";

#[test]
fn upns_are_unique_per_tenant_case_insensitively() {
    let mut d = Directory::default();
    d.add_user(T, User::new("Megan@Contoso.example"), false)
        .unwrap();
    let err = d
        .add_user(T, User::new("megan@contoso.EXAMPLE"), false)
        .unwrap_err();
    assert!(err.to_string().contains("unique"), "{err}");
    // Another tenant may have the same UPN.
    let other = "22222222-2222-2222-2222-222222222222";
    d.add_user(other, User::new("megan@contoso.example"), false)
        .unwrap();
    assert_eq!(d.tenant(T).map(|t| t.users().len()), Some(1));
    assert!(d.tenant(T).unwrap().user("MEGAN@contoso.example").is_some());
}

#[test]
fn strict_user_roles_need_a_registered_app() {
    let mut d = Directory::default();
    let user = User::new("a@contoso.example").app_role("api://later", "R");
    assert!(d.add_user(T, user.clone(), true).is_err());
    d.add_user(T, user, false).unwrap();
}
