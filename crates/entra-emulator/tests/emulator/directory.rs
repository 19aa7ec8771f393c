//! The directory model: users, groups, scopes, app roles for users, redirect URIs, requested
//! permissions and consent, through the library API and the configuration file.

use entra_emulator::*;

const TENANT: &str = "11111111-1111-1111-1111-111111111111";
const API: &str = "22222222-2222-2222-2222-222222222222";
const SPA: &str = "44444444-4444-4444-4444-444444444444";
const GROUP: &str = "55555555-5555-5555-5555-555555555555";

async fn start(config: EmulatorConfig) -> Result<Emulator, EmulatorError> {
    Emulator::builder()
        .without_dev_tenant()
        .config(config)
        .start()
        .await
}

const CONFIG: &str = r#"
[[tenants]]
id = "11111111-1111-1111-1111-111111111111"
domains = ["contoso.onmicrosoft.com"]

[[tenants.apps]]
client_id = "22222222-2222-2222-2222-222222222222"
app_id_uri = "api://orders"
app_roles = ["Orders.Sync", { value = "Orders.Approver", allowed_member_types = ["User"] }, { value = "Orders.Audit", allowed_member_types = ["User", "Application"] }]
scopes = ["Orders.Read", { value = "Orders.Manage", id = "66666666-6666-4666-8666-666666666666", admin_consent_only = true }]
access_token_version = 2

[[tenants.apps]]
client_id = "44444444-4444-4444-4444-444444444444"
redirect_uris = { web = ["https://app.example/auth"], spa = ["http://localhost:3000/"], public_client = ["http://localhost"] }
requested_permissions = [{ resource = "api://orders", scopes = ["Orders.Read", "Orders.Manage"] }]

[[tenants.groups]]
object_id = "55555555-5555-5555-5555-555555555555"
display_name = "Approvers"

[[tenants.groups]]
display_name = "Everyone"

[[tenants.users]]
object_id = "77777777-7777-4777-8777-777777777777"
user_principal_name = "megan@contoso.onmicrosoft.com"
display_name = "Megan Bowen"
given_name = "Megan"
family_name = "Bowen"
mail = "megan@contoso.example"
password = "megan-dev-password"
groups = ["55555555-5555-5555-5555-555555555555"]
app_roles = [{ resource = "api://orders", role = "Orders.Approver" }]

[[tenants.users]]
user_principal_name = "lee@contoso.onmicrosoft.com"
kind = "federated"

[[tenants.consents]]
client_id = "44444444-4444-4444-4444-444444444444"
resource = "api://orders"
scopes = ["Orders.Manage"]

[[tenants.consents]]
client_id = "44444444-4444-4444-4444-444444444444"
resource = "22222222-2222-2222-2222-222222222222"
scopes = ["Orders.Read"]
user = "MEGAN@contoso.onmicrosoft.com"
"#;

#[tokio::test]
async fn config_file_fills_the_directory() {
    let emu = start(EmulatorConfig::from_toml_str(CONFIG).unwrap())
        .await
        .unwrap();

    let megan = emu
        .user(TENANT, "Megan@Contoso.onmicrosoft.com")
        .expect("by UPN");
    assert_eq!(
        emu.user(TENANT, "77777777-7777-4777-8777-777777777777"),
        Some(megan.clone())
    );
    assert_eq!(megan.display_name, "Megan Bowen");
    assert_eq!(megan.given_name.as_deref(), Some("Megan"));
    assert_eq!(megan.family_name.as_deref(), Some("Bowen"));
    assert_eq!(megan.mail.as_deref(), Some("megan@contoso.example"));
    assert!(
        megan
            .password
            .as_ref()
            .unwrap()
            .matches("megan-dev-password")
    );
    assert!(!format!("{megan:?}").contains("megan-dev-password"));
    assert_eq!(megan.groups, [GROUP]);
    assert_eq!(megan.app_roles[0].resource, API, "App ID URI resolved");
    assert_eq!(megan.app_roles[0].role, "Orders.Approver");
    assert_eq!(megan.kind, UserKind::Member);

    let lee = emu.user(TENANT, "lee@contoso.onmicrosoft.com").unwrap();
    assert_eq!(lee.kind, UserKind::Federated);
    assert!(lee.password.is_none());
    assert_eq!(lee.object_id.len(), 36, "generated object id");
    assert_eq!(emu.users(TENANT).len(), 2);

    let groups = emu.groups(TENANT);
    assert_eq!(groups.len(), 2);
    assert_eq!(emu.group(TENANT, GROUP).unwrap().display_name, "Approvers");

    // Admin consent for Orders.Manage (admin-only), Megan's own for Orders.Read.
    let both = ["Orders.Read", "Orders.Manage"];
    assert!(
        emu.missing_consent(TENANT, "megan@contoso.onmicrosoft.com", SPA, API, &both)
            .is_empty()
    );
    assert_eq!(
        emu.missing_consent(
            TENANT,
            "lee@contoso.onmicrosoft.com",
            SPA,
            "api://orders",
            &both
        ),
        ["Orders.Read"]
    );
    assert!(!emu.auto_consent(TENANT));
}

#[tokio::test]
async fn config_json_gives_the_same_apps() {
    let cfg = EmulatorConfig::from_json_str(
        r#"{"tenants": [{"id": "11111111-1111-1111-1111-111111111111",
            "apps": [{"client_id": "22222222-2222-2222-2222-222222222222",
                      "scopes": ["Orders.Read"],
                      "app_roles": ["Orders.Sync", {"value": "Orders.Approver", "allowed_member_types": ["User"]}]},
                     {"client_id": "44444444-4444-4444-4444-444444444444",
                      "redirect_uris": {"spa": ["http://localhost:3000/"]},
                      "requested_permissions": [{"resource": "22222222-2222-2222-2222-222222222222", "scopes": ["Orders.Read"]}]}],
            "users": [{"user_principal_name": "a@contoso.example"}],
            "auto_consent": true}]}"#,
    )
    .unwrap();
    let emu = start(cfg).await.unwrap();
    assert!(emu.auto_consent(TENANT));
    assert!(
        emu.missing_consent(TENANT, "a@contoso.example", SPA, API, &["Orders.Read"])
            .is_empty()
    );
    assert_eq!(
        emu.missing_consent(TENANT, "a@contoso.example", SPA, API, &["Orders.Write"]),
        ["Orders.Write"],
        "auto consent covers exposed scopes only"
    );
}

#[test]
fn app_model_from_the_builder() {
    let api = App::new(API)
        .app_role("Orders.Sync")
        .app_role_for("Orders.Approver", AllowedMemberTypes::Users)
        .app_role_for("Orders.Audit", AllowedMemberTypes::Both)
        .scope("Orders.Read")
        .scope(
            DelegatedScope::new("Orders.Manage")
                .id("66666666-6666-4666-8666-666666666666")
                .admin_consent_only(),
        );
    let roles: Vec<_> = api.app_roles().iter().map(|r| r.allowed).collect();
    assert_eq!(
        roles,
        [
            AllowedMemberTypes::Applications,
            AllowedMemberTypes::Users,
            AllowedMemberTypes::Both
        ]
    );
    assert!(api.app_roles()[2].allowed.users() && api.app_roles()[2].allowed.applications());
    assert_eq!(
        api.find_scope("orders.manage").unwrap().id,
        "66666666-6666-4666-8666-666666666666"
    );
    assert!(uuid_like(&api.find_scope("Orders.Read").unwrap().id));

    let spa = App::new(SPA)
        .redirect_uri(Platform::Web, "https://app.example/auth")
        .redirect_uri(Platform::Spa, "http://localhost:3000/")
        .redirect_uri(Platform::PublicClient, "http://localhost")
        .requests(API, ["Orders.Read"]);
    assert_eq!(
        spa.redirect_uris(Platform::Web),
        ["https://app.example/auth"]
    );
    assert_eq!(
        spa.redirect_platform("http://localhost"),
        Some(Platform::PublicClient)
    );
    assert_eq!(
        spa.redirect_platform("http://localhost:8400"),
        Some(Platform::PublicClient),
        "a public client's loopback redirect URI takes any port"
    );
    assert_eq!(
        spa.redirect_platform("http://localhost/other"),
        None,
        "the path must match"
    );
    assert_eq!(
        spa.redirect_platform("https://app.example/auth/"),
        None,
        "exact match"
    );
    assert_eq!(spa.requested_permissions()[0].resource, API);
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.bytes().filter(|b| *b == b'-').count() == 4
}

async fn config_error(text: &str) -> String {
    let cfg = match EmulatorConfig::from_toml_str(text) {
        Ok(cfg) => cfg,
        Err(e) => return e.to_string(),
    };
    match start(cfg).await {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn config_errors_are_found_at_load() {
    let head = r#"
[[tenants]]
id = "11111111-1111-1111-1111-111111111111"
[[tenants.apps]]
client_id = "22222222-2222-2222-2222-222222222222"
app_id_uri = "api://orders"
app_roles = ["Orders.Sync", { value = "Orders.Approver", allowed_member_types = ["User"] }]
scopes = ["Orders.Read"]
"#;
    let cases = [
        (
            "[[tenants.users]]\nuser_principal_name = \"a@x.example\"\n[[tenants.users]]\nuser_principal_name = \"A@X.example\"\n",
            "unique",
        ),
        (
            "[[tenants.users]]\nuser_principal_name = \"a@x.example\"\ngroups = [\"55555555-5555-5555-5555-555555555555\"]\n",
            "unknown group",
        ),
        (
            "[[tenants.groups]]\nobject_id = \"55555555-5555-5555-5555-555555555555\"\ndisplay_name = \"a\"\n[[tenants.groups]]\nobject_id = \"55555555-5555-5555-5555-555555555555\"\ndisplay_name = \"b\"\n",
            "exists already",
        ),
        (
            "[[tenants.users]]\nuser_principal_name = \"a@x.example\"\napp_roles = [{ resource = \"api://nope\", role = \"R\" }]\n",
            "unknown app",
        ),
        (
            "[[tenants.users]]\nuser_principal_name = \"a@x.example\"\napp_roles = [{ resource = \"api://orders\", role = \"Orders.Sync\" }]\n",
            "no role 'Orders.Sync' for users",
        ),
        (
            "[[tenants.users]]\nuser_principal_name = \"not-a-upn\"\n",
            "not a user principal name",
        ),
        (
            "[[tenants.users]]\nobject_id = \"x\"\nuser_principal_name = \"a@x.example\"\n",
            "not a GUID",
        ),
        (
            "[[tenants.consents]]\nclient_id = \"22222222-2222-2222-2222-222222222222\"\nresource = \"api://orders\"\nscopes = [\"Orders.Read\"]\nuser = \"ghost@x.example\"\n",
            "unknown user",
        ),
        (
            "[[tenants.consents]]\nclient_id = \"99999999-2222-2222-2222-222222222222\"\nresource = \"api://orders\"\nscopes = [\"Orders.Read\"]\n",
            "unknown client app",
        ),
        (
            "[[tenants.consents]]\nclient_id = \"22222222-2222-2222-2222-222222222222\"\nresource = \"api://nope\"\nscopes = [\"Orders.Read\"]\n",
            "unknown app",
        ),
        (
            "[[tenants.consents]]\nclient_id = \"22222222-2222-2222-2222-222222222222\"\nresource = \"api://orders\"\nscopes = [\"Orders.Write\"]\n",
            "does not expose",
        ),
        (
            "[[tenants.apps]]\nclient_id = \"44444444-4444-4444-4444-444444444444\"\nrequested_permissions = [{ resource = \"api://nope\", scopes = [\"X\"] }]\n",
            "unknown app",
        ),
        (
            "[[tenants.apps]]\nclient_id = \"44444444-4444-4444-4444-444444444444\"\nrequested_permissions = [{ resource = \"api://orders\", scopes = [\"Orders.Write\"] }]\n",
            "does not expose",
        ),
        (
            "[[tenants.apps]]\nclient_id = \"44444444-4444-4444-4444-444444444444\"\napp_roles = [{ value = \"R\", allowed_member_types = [\"Robot\"] }]\n",
            "allowed member type",
        ),
        (
            "[[tenants.apps]]\nclient_id = \"44444444-4444-4444-4444-444444444444\"\nscopes = [\"S\", \"S\"]\n",
            "declared twice",
        ),
        (
            "[[tenants.users]]\nuser_principal_name = \"a@x.example\"\nkind = \"robot\"\n",
            "kind",
        ),
    ];
    for (tail, expected) in cases {
        let err = config_error(&format!("{head}{tail}")).await;
        assert!(err.contains(expected), "{tail}\n=> {err}");
    }
}

#[tokio::test]
async fn users_and_groups_through_the_library() {
    let emu = Emulator::builder()
        .without_dev_tenant()
        .start()
        .await
        .unwrap();
    emu.register_app(
        TENANT,
        App::new(API)
            .app_id_uri("api://orders")
            .app_role_for("Orders.Approver", AllowedMemberTypes::Users)
            .app_role("Orders.Sync"),
    );
    emu.add_group(TENANT, Group::new("Approvers").object_id(GROUP))
        .unwrap();
    let err = emu
        .add_group(TENANT, Group::new("Again").object_id(GROUP))
        .unwrap_err();
    assert!(err.to_string().contains("exists already"), "{err}");

    let megan = User::new("megan@contoso.example")
        .member_of(GROUP)
        .app_role("api://orders", "Orders.Approver");
    let oid = megan.object_id.clone();
    emu.add_user(TENANT, megan).unwrap();
    let stored = emu.user(TENANT, &oid.to_uppercase()).unwrap();
    assert_eq!(stored.app_roles[0].resource, API);

    for (user, why) in [
        (User::new("MEGAN@contoso.example"), "unique"),
        (
            User::new("other@contoso.example").object_id(oid.clone()),
            "unique",
        ),
        (
            User::new("b@contoso.example").member_of("88888888-8888-4888-8888-888888888888"),
            "unknown group",
        ),
        (
            User::new("c@contoso.example").app_role(API, "Orders.Sync"),
            "for users",
        ),
    ] {
        let err = emu.add_user(TENANT, user).unwrap_err();
        assert!(err.to_string().contains(why), "{err}");
    }
    // A role of an app not registered yet is kept, as assign_app_role does.
    emu.add_user(
        TENANT,
        User::new("d@contoso.example").app_role("api://later", "Later.Role"),
    )
    .unwrap();
    assert_eq!(emu.users(TENANT).len(), 2);
    assert!(emu.user(TENANT, "nobody@contoso.example").is_none());
    assert!(
        emu.user(
            "99999999-9999-4999-8999-999999999999",
            "megan@contoso.example"
        )
        .is_none()
    );
}

#[tokio::test]
async fn consent_through_the_library() {
    let emu = Emulator::builder()
        .without_dev_tenant()
        .start()
        .await
        .unwrap();
    emu.register_app(
        TENANT,
        App::new(API)
            .app_id_uri("api://orders")
            .scope("Orders.Read")
            .scope(DelegatedScope::new("Orders.Manage").admin_consent_only()),
    );
    emu.register_app(TENANT, App::new(SPA).requests(API, ["Orders.Read"]));
    emu.add_user(TENANT, User::new("megan@contoso.example"))
        .unwrap();
    emu.add_user(TENANT, User::new("lee@contoso.example"))
        .unwrap();
    let both = ["Orders.Read", "Orders.Manage"];
    let missing = |user: &str| emu.missing_consent(TENANT, user, SPA, API, &both);

    assert_eq!(missing("megan@contoso.example"), both);
    emu.grant_user_consent(TENANT, "megan@contoso.example", SPA, "api://orders", &both)
        .unwrap();
    assert_eq!(
        missing("megan@contoso.example"),
        ["Orders.Manage"],
        "admin-only"
    );
    assert_eq!(missing("lee@contoso.example"), both, "per user");

    emu.grant_admin_consent(TENANT, SPA, "api://orders", &["Orders.Manage"]);
    assert!(missing("megan@contoso.example").is_empty());
    assert_eq!(missing("lee@contoso.example"), ["Orders.Read"]);

    emu.set_auto_consent(TENANT, true);
    assert!(missing("lee@contoso.example").is_empty());
    assert_eq!(missing("ghost@contoso.example"), both, "unknown user");
    assert_eq!(
        emu.missing_consent(TENANT, "lee@contoso.example", SPA, API, &["Orders.Delete"]),
        ["Orders.Delete"]
    );

    let err = emu
        .grant_user_consent(TENANT, "ghost@contoso.example", SPA, API, &both)
        .unwrap_err();
    assert!(err.to_string().contains("unknown user"), "{err}");
}

#[tokio::test]
async fn development_tenant_users_spa_and_consent() {
    let emu = Emulator::start().await.unwrap();
    let adele = emu.user(DEV_TENANT_ID, DEV_USER_UPN).unwrap();
    assert_eq!(adele.object_id, DEV_USER_ID);
    assert_eq!(adele.display_name, "Adele Vance");
    assert!(adele.password.as_ref().unwrap().matches(DEV_USER_PASSWORD));
    let alex = emu.user(DEV_TENANT_ID, DEV_SECOND_USER_ID).unwrap();
    assert_eq!(alex.user_principal_name, DEV_SECOND_USER_UPN);
    assert!(alex.password.is_none());
    for u in [&adele, &alex] {
        assert!(
            u.user_principal_name
                .ends_with(&format!("@{DEV_TENANT_DOMAIN}"))
        );
        assert_eq!(u.kind, UserKind::Member);
    }
    assert_eq!(emu.users(DEV_TENANT_ID).len(), 2);

    assert!(emu.auto_consent(DEV_TENANT_ID));
    let read = ["Files.Read"];
    for user in [DEV_USER_UPN, DEV_SECOND_USER_UPN] {
        assert!(
            emu.missing_consent(
                DEV_TENANT_ID,
                user,
                DEV_SPA_CLIENT_ID,
                DEV_API_CLIENT_ID,
                &read
            )
            .is_empty()
        );
    }
    let api_uri = format!("api://{DEV_API_CLIENT_ID}");
    assert!(
        emu.missing_consent(
            DEV_TENANT_ID,
            DEV_USER_ID,
            DEV_SPA_CLIENT_ID,
            &api_uri,
            &read
        )
        .is_empty()
    );
    emu.set_auto_consent(DEV_TENANT_ID, false);
    assert_eq!(
        emu.missing_consent(
            DEV_TENANT_ID,
            DEV_USER_ID,
            DEV_SPA_CLIENT_ID,
            DEV_API_CLIENT_ID,
            &read
        ),
        read
    );

    // App-only tokens are unchanged: the daemon's roles are still in minted tokens.
    let claims = decode_payload(&emu.token().sign());
    assert_eq!(
        claims["roles"],
        serde_json::json!(["Api.Admin", "Files.Read.All"])
    );
}

#[test]
fn config_debug_redacts_passwords() {
    let cfg = EmulatorConfig::from_toml_str(CONFIG).unwrap();
    let debug = format!("{cfg:?}");
    assert!(!debug.contains("megan-dev-password"), "{debug}");
    assert!(debug.contains("<redacted>"));
}

fn decode_payload(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The users-and-consent example of the crate README loads and starts.
#[tokio::test]
async fn readme_directory_example_loads() {
    let readme = include_str!("../../README.md");
    let block = readme
        .split("```toml")
        .find(|b| b.contains("[[tenants.users]]"))
        .and_then(|b| b.split("```").next())
        .expect("the README has the example");
    let emu = start(EmulatorConfig::from_toml_str(block).unwrap())
        .await
        .unwrap();
    assert!(
        emu.missing_consent(
            TENANT,
            "megan@contoso.onmicrosoft.com",
            SPA,
            API,
            &["Orders.Read", "Orders.Manage"]
        )
        .is_empty()
    );
}
