//! The password grant (ROPC) and delegated tokens as Entra makes them.

use super::*;

fn files_read() -> String {
    format!("api://{DEV_API_CLIENT_ID}/Files.Read")
}

fn ropc_form<'a>(scope: &'a str, password: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "password"),
        ("client_id", DEV_SPA_CLIENT_ID),
        ("username", DEV_USER_UPN),
        ("password", password),
        ("scope", scope),
    ]
}

async fn ropc(emu: &Emulator, form: &[(&str, &str)]) -> reqwest::Response {
    post(emu, DEV_TENANT_ID, TokenVersion::V2, form).await
}

#[tokio::test]
async fn ropc_issues_a_delegated_access_token_and_an_id_token() {
    let emu = Emulator::start().await.unwrap();
    let scope = format!("{} openid email", files_read());
    let mut form = ropc_form(&scope, DEV_USER_PASSWORD);
    form.push(("client_info", "1"));
    let resp = ropc(&emu, &form).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], files_read());
    assert!(body["expires_in"].as_i64().unwrap() >= 3600);
    assert!(body["ext_expires_in"].is_i64());
    assert!(body.get("refresh_token").is_none(), "{body}");

    let keys = jwks(&emu, TokenVersion::V2).await;
    let at = body["access_token"].as_str().unwrap();
    let c = verify_with_jwks(at, &keys, DEV_API_CLIENT_ID, &emu.issuer_v2(DEV_TENANT_ID)).unwrap();
    assert_eq!(c["scp"], "Files.Read");
    assert_eq!(c["oid"], DEV_USER_ID);
    assert_eq!(c["tid"], DEV_TENANT_ID);
    assert_eq!(c["azp"], DEV_SPA_CLIENT_ID);
    assert_eq!(c["azpacr"], "0");
    assert_eq!(c["name"], "Adele Vance");
    assert_eq!(c["given_name"], "Adele");
    assert_eq!(c["family_name"], "Vance");
    assert_eq!(c["preferred_username"], DEV_USER_UPN);
    assert_eq!(c["amr"], json!(["pwd"]));
    assert_eq!(c["ver"], "2.0");
    assert!(c.get("idtyp").is_none(), "{c}");
    assert!(c.get("roles").is_none(), "{c}");
    assert!(c.get("groups").is_none(), "{c}");
    assert!(c["uti"].is_string() && c["rh"].is_string());
    let sub = c["sub"].as_str().unwrap();
    assert_ne!(sub, DEV_USER_ID);
    // Pairwise: the same for this client through the library, different for another client.
    let same = emu
        .token()
        .user(DEV_USER_UPN)
        .client_app(DEV_SPA_CLIENT_ID)
        .claims();
    assert_eq!(same["sub"], sub);
    let other = emu
        .token()
        .user(DEV_USER_UPN)
        .client_app(DEV_CLIENT_ID)
        .claims();
    assert_ne!(other["sub"], sub);

    let id = body["id_token"].as_str().unwrap();
    let i = verify_with_jwks(id, &keys, DEV_SPA_CLIENT_ID, &emu.issuer_v2(DEV_TENANT_ID)).unwrap();
    assert_eq!(i["aud"], DEV_SPA_CLIENT_ID);
    assert_eq!(i["oid"], DEV_USER_ID);
    assert_eq!(i["sub"], sub);
    assert_eq!(i["email"], DEV_USER_UPN);
    assert_eq!(i["ver"], "2.0");
    assert!(i["sid"].is_string() && i.get("nonce").is_none());

    let info = URL_SAFE_NO_PAD
        .decode(body["client_info"].as_str().unwrap())
        .unwrap();
    let info: Value = serde_json::from_slice(&info).unwrap();
    assert_eq!(info, json!({ "uid": DEV_USER_ID, "utid": DEV_TENANT_ID }));
}

#[tokio::test]
async fn ropc_without_openid_has_no_id_token_and_a_confidential_client_authenticates() {
    let emu = Emulator::start().await.unwrap();
    let scope = files_read();
    let mut form = ropc_form(&scope, DEV_USER_PASSWORD);
    form[1] = ("client_id", DEV_CLIENT_ID);
    form.push(("client_secret", DEV_CLIENT_SECRET));
    let body: Value = ropc(&emu, &form).await.json().await.unwrap();
    assert!(body.get("id_token").is_none(), "{body}");
    let c = payload(body["access_token"].as_str().unwrap());
    assert_eq!(c["azpacr"], "1");
    // A confidential client without its secret.
    form.pop();
    let resp = ropc(&emu, &form).await;
    assert_aad_error(resp, 401, "invalid_client", 7000218).await;
}

#[tokio::test]
async fn ropc_errors_carry_entras_codes() {
    let emu = Emulator::start().await.unwrap();
    let scope = files_read();
    let wrong = ropc(&emu, &ropc_form(&scope, "not-the-password")).await;
    assert_aad_error(wrong, 400, "invalid_grant", 50126).await;

    let mut missing = ropc_form(&scope, "");
    missing.retain(|(k, _)| *k != "password");
    assert_aad_error(ropc(&emu, &missing).await, 400, "invalid_grant", 50126).await;

    // Alex has no password.
    let mut alex = ropc_form(&scope, "anything");
    alex[2] = ("username", DEV_SECOND_USER_UPN);
    assert_aad_error(ropc(&emu, &alex).await, 400, "invalid_grant", 50126).await;

    let upn = "fed@entraemulator.onmicrosoft.com";
    let fed = User::new(upn).password("pw").kind(UserKind::Federated);
    emu.add_user(DEV_TENANT_ID, fed).unwrap();
    let mut form = ropc_form(&scope, "pw");
    form[2] = ("username", upn);
    assert_aad_error(ropc(&emu, &form).await, 400, "invalid_grant", 50126).await;

    let mut nobody = ropc_form(&scope, "pw");
    nobody[2] = ("username", "nobody@entraemulator.onmicrosoft.com");
    assert_aad_error(ropc(&emu, &nobody).await, 400, "invalid_grant", 50034).await;

    let bad_scope = ropc(&emu, &ropc_form("Files.Read openid", DEV_USER_PASSWORD)).await;
    assert_aad_error(bad_scope, 400, "invalid_scope", 70011).await;

    let v1 = post(
        &emu,
        DEV_TENANT_ID,
        TokenVersion::V1,
        &ropc_form(&scope, "x"),
    )
    .await;
    assert_aad_error(v1, 400, "unsupported_grant_type", 70003).await;
}

#[tokio::test]
async fn ropc_without_consent_is_refused_with_65001() {
    let emu = Emulator::start().await.unwrap();
    emu.set_auto_consent(DEV_TENANT_ID, false);
    let scope = files_read();
    let resp = ropc(&emu, &ropc_form(&scope, DEV_USER_PASSWORD)).await;
    assert_aad_error(resp, 400, "invalid_grant", 65001).await;
    // A scope the API does not expose can never be granted: 70011, as at the authorize and
    // device code endpoints.
    emu.set_auto_consent(DEV_TENANT_ID, true);
    let unknown = format!("api://{DEV_API_CLIENT_ID}/Mail.Send");
    let resp = ropc(&emu, &ropc_form(&unknown, DEV_USER_PASSWORD)).await;
    assert_aad_error(resp, 400, "invalid_scope", 70011).await;
}

#[tokio::test]
async fn user_tokens_carry_roles_and_groups_with_overage_past_200() {
    let emu = Emulator::start().await.unwrap();
    let api = App::new("d1d1d1d1-0000-4000-8000-000000000001")
        .app_id_uri("api://v1-files")
        .app_role_for("Files.Admin", AllowedMemberTypes::Users)
        .scope("Files.Read");
    emu.register_app(DEV_TENANT_ID, api);
    let mut user =
        User::new("grace@entraemulator.onmicrosoft.com").app_role("api://v1-files", "Files.Admin");
    let mut ids = Vec::new();
    for i in 0..201 {
        let g = Group::new(format!("g{i}"));
        ids.push(g.object_id.clone());
        emu.add_group(DEV_TENANT_ID, g).unwrap();
    }
    for id in &ids[..200] {
        user = user.member_of(id);
    }
    emu.add_user(DEV_TENANT_ID, user).unwrap();
    let upn = "grace@entraemulator.onmicrosoft.com";
    let c = emu
        .token()
        .version(TokenVersion::V1)
        .audience("api://v1-files")
        .user(upn)
        .groups_claim()
        .claims();
    assert_eq!(c["roles"], json!(["Files.Admin"]));
    assert_eq!(c["upn"], upn);
    assert_eq!(c["unique_name"], upn);
    assert_eq!(c["appidacr"], "0");
    assert_eq!(c["groups"].as_array().unwrap().len(), 200);
    assert!(c.get("_claim_names").is_none());

    let g = Group::new("one more");
    let extra = g.object_id.clone();
    emu.add_group(DEV_TENANT_ID, g).unwrap();
    let upn2 = "hopper@entraemulator.onmicrosoft.com";
    let mut many = User::new(upn2).member_of(&extra);
    for id in &ids[..200] {
        many = many.member_of(id);
    }
    emu.add_user(DEV_TENANT_ID, many).unwrap();
    let c = emu.token().user(upn2).groups_claim().claims();
    assert!(c.get("groups").is_none(), "{c:?}");
    assert_eq!(c["_claim_names"], json!({ "groups": "src1" }));
    let endpoint = c["_claim_sources"]["src1"]["endpoint"].as_str().unwrap();
    assert!(endpoint.contains(DEV_TENANT_ID) && endpoint.ends_with("/getMemberObjects"));
    // Without the option: no groups at all.
    let plain = emu.token().user(upn2).claims();
    assert!(plain.get("groups").is_none() && plain.get("_claim_names").is_none());
}

#[tokio::test]
async fn library_id_tokens_carry_the_nonce() {
    let emu = Emulator::start().await.unwrap();
    let id = emu
        .id_token(
            DEV_TENANT_ID,
            DEV_USER_UPN,
            DEV_SPA_CLIENT_ID,
            Some("n-0S6_WzA2Mj"),
        )
        .unwrap();
    let keys = jwks(&emu, TokenVersion::V2).await;
    let c = verify_with_jwks(&id, &keys, DEV_SPA_CLIENT_ID, &emu.issuer_v2(DEV_TENANT_ID)).unwrap();
    assert_eq!(c["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(c["preferred_username"], DEV_USER_UPN);
    assert!(
        emu.id_token(DEV_TENANT_ID, "nobody@x.example", DEV_SPA_CLIENT_ID, None)
            .is_none()
    );
}
