//! The claims: time, audience, issuer, tenant and version, scopes and roles, and the 403s of
//! `Require`.

use super::*;

/// Cases: time claims.
pub(super) fn time_claims(cx: &Corpus<'_>) -> Vec<Case> {
    use Expect::*;
    let Corpus { emu, header, .. } = cx;
    let mut cases: Vec<Case> = Vec::new();
    let mut add = |c: Case| cases.push(c);
    // --- time claims -------------------------------------------------------------------------
    let exp_type = Invalid("exp claim must be an integer");
    add(Case::bearer(
        "exp missing",
        emu.token().remove_claim("exp").sign(),
        Invalid("no exp claim"),
    ));
    for (name, v) in [
        ("a string", json!("4102444800")),
        ("a float", json!(4_102_444_800.5)),
        ("null", json!(null)),
        ("a bool", json!(true)),
        ("an array", json!([4_102_444_800_i64])),
        ("an object", json!({"$date": 4_102_444_800_i64})),
        ("u64::MAX", json!(u64::MAX)),
        ("i64::MAX + 1", json!(i64::MAX as u64 + 1)),
    ] {
        add(Case::bearer(
            format!("exp {name}"),
            emu.token().claim("exp", v).sign(),
            exp_type,
        ));
    }
    add(Case::bearer(
        "exp far beyond 64 bits (10^30)",
        signed(
            emu,
            header,
            &claims_with_raw(emu, "exp", r#""exp":1000000000000000000000000000000"#),
        ),
        exp_type,
    ));
    add(Case::bearer(
        "exp in exponent notation",
        signed(emu, header, &claims_with_raw(emu, "exp", r#""exp":4.1e9"#)),
        exp_type,
    ));
    add(Case::bearer(
        "exp negative",
        emu.token().claim("exp", json!(-1)).sign(),
        Invalid("expired"),
    ));
    add(Case::bearer(
        "exp i64::MIN",
        emu.token().claim("exp", json!(i64::MIN)).sign(),
        Invalid("expired"),
    ));
    add(Case::bearer(
        "exp zero",
        emu.token().claim("exp", json!(0)).sign(),
        Invalid("expired"),
    ));
    add(Case::bearer(
        "expired two hours ago",
        emu.token().expired().sign(),
        Invalid("expired"),
    ));
    add(Case::bearer(
        "nbf in the future",
        emu.token().not_yet_valid().sign(),
        Invalid("not valid yet"),
    ));
    add(Case::bearer(
        "nbf i64::MAX",
        emu.token().claim("nbf", json!(i64::MAX)).sign(),
        Invalid("not valid yet"),
    ));
    add(Case::bearer(
        "nbf missing",
        emu.token().remove_claim("nbf").sign(),
        Invalid("no nbf claim"),
    ));
    add(Case::bearer(
        "nbf a string",
        emu.token().claim("nbf", json!("0")).sign(),
        Invalid("nbf claim must be an integer"),
    ));
    add(Case::bearer(
        "iat a string",
        emu.token().claim("iat", json!("0")).sign(),
        Invalid("iat claim must be an integer"),
    ));

    cases
}

/// Cases: audience, issuer, tenant, version.
pub(super) fn audience_issuer_tenant_version(cx: &Corpus<'_>) -> Vec<Case> {
    use Expect::*;
    let Corpus {
        emu,
        other_tenant,
        aud,
        ..
    } = cx;
    let mut cases: Vec<Case> = Vec::new();
    let mut add = |c: Case| cases.push(c);
    // --- audience, issuer, tenant, version ---------------------------------------------------
    add(Case::bearer(
        "aud array containing our audience",
        emu.token().claim("aud", json!([aud])).sign(),
        Invalid("aud claim must be a single string"),
    ));
    add(Case::bearer(
        "aud array without our audience",
        emu.token()
            .claim("aud", json!(["api://someone-else"]))
            .sign(),
        Invalid("aud claim must be a single string"),
    ));
    add(Case::bearer(
        "aud missing",
        emu.token().remove_claim("aud").sign(),
        Invalid("no aud claim"),
    ));
    for (name, v) in [
        ("another API", "api://someone-else".to_owned()),
        ("empty", String::new()),
        ("our id in upper case", aud.to_uppercase()),
        (
            "our App ID URI with a trailing slash",
            format!("api://{aud}/"),
        ),
        ("our id with a trailing space", format!("{aud} ")),
        (
            "Microsoft Graph",
            "00000003-0000-0000-c000-000000000000".to_owned(),
        ),
    ] {
        add(Case::bearer(
            format!("aud {name}"),
            emu.token().audience(&v).sign(),
            Invalid("audience is not accepted"),
        ));
    }
    add(Case::bearer(
        "iss as an array",
        emu.token()
            .claim("iss", json!([emu.issuer_v2(DEV_TENANT_ID)]))
            .sign(),
        Invalid("iss claim must be a string"),
    ));
    add(Case::bearer(
        "iss missing",
        emu.token().remove_claim("iss").sign(),
        Invalid("no iss claim"),
    ));
    for (name, iss) in [
        ("of another tenant", emu.issuer_v2(other_tenant)),
        (
            "with a trailing slash",
            format!("{}/", emu.issuer_v2(DEV_TENANT_ID)),
        ),
        ("in upper case", emu.issuer_v2(DEV_TENANT_ID).to_uppercase()),
        ("of the v1 form on a v2 token", emu.issuer_v1(DEV_TENANT_ID)),
        (
            "of Entra's public cloud",
            format!("https://login.microsoftonline.com/{DEV_TENANT_ID}/v2.0"),
        ),
        (
            "with the {tenantid} template unfilled",
            emu.issuer_v2("{tenantid}"),
        ),
    ] {
        add(Case::bearer(
            format!("iss {name}"),
            emu.token().claim("iss", json!(iss)).sign(),
            Invalid("issuer is not accepted"),
        ));
    }
    add(Case::bearer(
        "v2 issuer on a v1 token",
        emu.token()
            .version(TokenVersion::V1)
            .claim("iss", json!(emu.issuer_v2(DEV_TENANT_ID)))
            .sign(),
        Invalid("issuer is not accepted"),
    ));
    add(Case::bearer(
        "token of another tenant (tenant not allowed)",
        emu.token().tenant(other_tenant).sign(),
        Invalid("signature is invalid"),
    ));
    add(Case::bearer(
        "tid of another tenant, our issuer",
        emu.token().claim("tid", json!(other_tenant)).sign(),
        Invalid("signature is invalid"),
    ));
    add(Case::bearer(
        "tid not matching iss (case differs)",
        emu.token()
            .claim("tid", json!(DEV_TENANT_ID.to_uppercase()))
            .sign(),
        Invalid("tid claim must be a tenant id"),
    ));
    add(Case::bearer(
        "tid missing",
        emu.token().remove_claim("tid").sign(),
        Invalid("no tid claim"),
    ));
    add(Case::bearer(
        "tid a number",
        emu.token().claim("tid", json!(7)).sign(),
        Invalid("tid claim must be a tenant id"),
    ));
    add(Case::bearer(
        "ver 3.0",
        emu.token().claim("ver", json!("3.0")).sign(),
        Invalid("version"),
    ));
    add(Case::bearer(
        "ver missing",
        emu.token().remove_claim("ver").sign(),
        Invalid("no ver claim"),
    ));
    add(Case::bearer(
        "ver a number",
        emu.token().claim("ver", json!(2.0)).sign(),
        Invalid("ver claim must be a string"),
    ));
    add(Case::bearer(
        "ver 1.0 on a v2-shaped token",
        emu.token().claim("ver", json!("1.0")).sign(),
        Invalid("issuer is not accepted"),
    ));

    cases
}

/// Cases: scopes and roles.
pub(super) fn scopes_and_roles(cx: &Corpus<'_>) -> Vec<Case> {
    use Expect::*;
    let Corpus { emu, .. } = cx;
    let mut cases: Vec<Case> = Vec::new();
    let mut add = |c: Case| cases.push(c);
    // --- scopes and roles --------------------------------------------------------------------
    add(Case::bearer(
        "neither scp nor roles",
        emu.token().remove_claim("roles").sign(),
        Invalid("neither scp nor roles"),
    ));
    add(Case::bearer(
        "roles empty array",
        emu.token().claim("roles", json!([])).sign(),
        Invalid("neither scp nor roles"),
    ));
    add(Case::bearer(
        "roles a string",
        emu.token().claim("roles", json!("Api.Admin")).sign(),
        Invalid("roles claim must be an array"),
    ));
    add(Case::bearer(
        "roles with a number",
        emu.token().claim("roles", json!(["Api.Admin", 1])).sign(),
        Invalid("roles claim must be an array"),
    ));
    add(Case::bearer(
        "scp empty, no roles",
        emu.token()
            .remove_claim("roles")
            .claim("scp", json!(""))
            .sign(),
        Invalid("neither scp nor roles"),
    ));
    add(Case::bearer(
        "scp an array",
        emu.token().claim("scp", json!(["Files.Read"])).sign(),
        Invalid("scp claim must be a string"),
    ));

    cases
}

/// Cases: authorization: 403.
pub(super) fn authorization_403(cx: &Corpus<'_>) -> Vec<Case> {
    use Expect::*;
    let Corpus { emu, .. } = cx;
    let mut cases: Vec<Case> = Vec::new();
    let mut add = |c: Case| cases.push(c);
    // --- authorization: 403 ------------------------------------------------------------------
    add(Case::bearer(
        "admin route, other role",
        emu.token().roles(["Files.Read.All"]).sign(),
        Forbidden,
    )
    .on("/admin"));
    add(Case::bearer(
        "admin route, role in lower case",
        emu.token().roles(["api.admin"]).sign(),
        Forbidden,
    )
    .on("/admin"));
    add(Case::bearer(
        "admin route, role with a trailing space",
        emu.token().roles(["Api.Admin "]).sign(),
        Forbidden,
    )
    .on("/admin"));
    add(Case::bearer(
        "admin route, a delegated scope named like the role",
        emu.token()
            .delegated("u-1", "Mallory", "mallory@contoso.example")
            .scopes("Api.Admin")
            .sign(),
        Forbidden,
    )
    .on("/admin"));
    add(Case::bearer(
        "app-restricted route, another calling app",
        emu.token()
            .client_app("33333333-4444-5555-6666-777777777777")
            .roles(["Api.Admin"])
            .sign(),
        Forbidden,
    )
    .on("/only-dev-client"));

    cases
}
