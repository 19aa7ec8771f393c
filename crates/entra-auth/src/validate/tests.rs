//! The validator's unit tests: real RS256 tokens signed with the emulator's keys, run through
//! `parse` and `verify` with a fixed clock reading.

use super::*;
use crate::claims::{Claims, TokenKind, TokenVersion};
use crate::config::AllowedTenants;
use crate::error::InvalidToken;
use crate::keys::discovery::IssuerTemplate;
use crate::keys::key_set::KeySet;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entra_emulator::SigningKey;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::LazyLock;

const TID: &str = "aaaaaaaa-1111-2222-3333-444444444444";
const NOW: i64 = 1_750_000_000;

static KEYS: LazyLock<(SigningKey, SigningKey)> = LazyLock::new(|| {
    (
        SigningKey::generate().unwrap(),
        SigningKey::generate().unwrap(),
    )
});

fn policy() -> ValidationPolicy {
    ValidationPolicy {
        max_token_bytes: 16 * 1024,
        leeway_secs: 60,
        audiences: vec!["api-id".into(), "api://api-id".into()],
        allowed_tenants: AllowedTenants::List(HashSet::from([TID.to_owned()])),
        require_scope_or_role: true,
        id_token_audience: None,
        require_tenant_id: true,
        realm: None,
    }
}

fn issuers() -> Issuers {
    Issuers {
        v1: Some(IssuerTemplate::new("https://sts.windows.net/{tenantid}/")),
        v2: Some(IssuerTemplate::new("https://login.example/{tenantid}/v2.0")),
        v2_form: Some(IssuerTemplate::new("https://login.example/{tenantid}/v2.0")),
        custom: None,
        tenant_id: None,
    }
}

fn key_set(issuer: Option<&str>) -> KeySet {
    let jwk = KEYS.0.jwk(issuer);
    KeySet::parse(json!({ "keys": [jwk] }).to_string().as_bytes()).unwrap()
}

fn claims_v2() -> Value {
    json!({
        "aud": "api-id", "iss": format!("https://login.example/{TID}/v2.0"), "iat": NOW - 10,
        "nbf": NOW - 10, "exp": NOW + 3600, "tid": TID, "ver": "2.0", "oid": "o1", "sub": "o1",
        "azp": "client-1", "azpacr": "1", "roles": ["Api.Admin"], "idtyp": "app"
    })
}

fn sign(header: Value, claims: &Value, key: &SigningKey) -> String {
    let mut h: Header = serde_json::from_value(json!({"alg": "RS256"})).unwrap();
    h.typ = Some("JWT".into());
    if let Some(kid) = header.get("kid").and_then(Value::as_str) {
        h.kid = Some(kid.into());
    }
    if let Some(x5t) = header.get("x5t").and_then(Value::as_str) {
        h.x5t = Some(x5t.into());
    }
    let enc: EncodingKey = key.encoding_key();
    jsonwebtoken::encode(&h, claims, &enc).unwrap()
}

fn run(token: &str, set: &KeySet, policy: &ValidationPolicy) -> Result<Claims, InvalidToken> {
    run_with(token, set, policy, &issuers())
}

fn run_with(
    token: &str,
    set: &KeySet,
    policy: &ValidationPolicy,
    issuers: &Issuers,
) -> Result<Claims, InvalidToken> {
    let parsed = parse(token, policy)?;
    let key = match parsed.key_ref() {
        KeyRef::Kid(k) => set.get(k),
        KeyRef::X5t(x) => set.get_by_x5t(x),
    }
    .cloned()
    .ok_or(InvalidToken::UnknownSigningKey)?;
    verify(parsed, &key, NOW, policy, issuers)
}

fn kid_header() -> Value {
    json!({ "kid": KEYS.0.kid() })
}

#[test]
fn accepts_a_valid_v2_token() {
    let set = key_set(Some("https://login.example/{tenantid}/v2.0"));
    let t = sign(kid_header(), &claims_v2(), &KEYS.0);
    let c = run(&t, &set, &policy()).unwrap();
    assert_eq!(c.version(), Some(TokenVersion::V2));
    assert_eq!(c.tenant_id(), Some(TID));
    assert_eq!(c.app_id(), Some("client-1"));
    assert_eq!(c.roles(), ["Api.Admin"]);
    assert!(c.is_app_only());
    assert_eq!(c.get("azpacr"), Some(&json!("1")));
}

#[test]
fn accepts_v1_with_v2_key_issuer_and_x5t_only_header() {
    let set = key_set(Some("https://login.example/{tenantid}/v2.0"));
    let mut c = claims_v2();
    c["ver"] = json!("1.0");
    c["iss"] = json!(format!("https://sts.windows.net/{TID}/"));
    c["aud"] = json!("api://api-id");
    c["appid"] = json!("client-1");
    c.as_object_mut().unwrap().remove("azp");
    let t = sign(json!({ "x5t": KEYS.0.kid() }), &c, &KEYS.0);
    let claims = run(&t, &set, &policy()).unwrap();
    assert_eq!(claims.version(), Some(TokenVersion::V1));
    assert_eq!(claims.app_id(), Some("client-1"));
}

#[test]
fn time_checks_use_leeway() {
    let set = key_set(None);
    let p = policy();
    let mut c = claims_v2();
    c["exp"] = json!(NOW - 59);
    assert!(run(&sign(kid_header(), &c, &KEYS.0), &set, &p).is_ok());
    c["exp"] = json!(NOW - 60);
    assert_eq!(
        run(&sign(kid_header(), &c, &KEYS.0), &set, &p).unwrap_err(),
        InvalidToken::Expired
    );
    let mut c = claims_v2();
    c["nbf"] = json!(NOW + 60);
    assert!(run(&sign(kid_header(), &c, &KEYS.0), &set, &p).is_ok());
    c["nbf"] = json!(NOW + 61);
    assert_eq!(
        run(&sign(kid_header(), &c, &KEYS.0), &set, &p).unwrap_err(),
        InvalidToken::NotYetValid
    );
}

#[test]
fn rejects_claim_problems() {
    let set = key_set(Some("https://login.example/{tenantid}/v2.0"));
    let p = policy();
    let cases: Vec<(&str, Value, InvalidToken)> = vec![
        ("exp", Value::Null, InvalidToken::MissingClaim("exp")),
        (
            "exp",
            json!("1999999999"),
            InvalidToken::InvalidClaim("exp"),
        ),
        ("exp", json!(1.9e9), InvalidToken::InvalidClaim("exp")),
        ("exp", json!(-5), InvalidToken::Expired),
        ("exp", json!(u64::MAX), InvalidToken::InvalidClaim("exp")),
        ("nbf", Value::Null, InvalidToken::MissingClaim("nbf")),
        ("aud", Value::Null, InvalidToken::MissingClaim("aud")),
        ("aud", json!(["api-id"]), InvalidToken::InvalidClaim("aud")),
        ("aud", json!("other"), InvalidToken::AudienceMismatch),
        (
            "iss",
            json!([format!("https://login.example/{TID}/v2.0")]),
            InvalidToken::InvalidClaim("iss"),
        ),
        (
            "iss",
            json!("https://login.example/bbbbbbbb-1111-2222-3333-444444444444/v2.0"),
            InvalidToken::IssuerMismatch,
        ),
        (
            "iss",
            json!("https://evil.example/aaaaaaaa-1111-2222-3333-444444444444/v2.0"),
            InvalidToken::IssuerMismatch,
        ),
        ("tid", Value::Null, InvalidToken::MissingClaim("tid")),
        ("tid", json!(""), InvalidToken::InvalidClaim("tid")),
        (
            "tid",
            json!(TID.to_ascii_uppercase()),
            InvalidToken::InvalidClaim("tid"),
        ),
        (
            "tid",
            json!(format!("{{{TID}}}")),
            InvalidToken::InvalidClaim("tid"),
        ),
        ("tid", json!(7), InvalidToken::InvalidClaim("tid")),
        (
            "tid",
            json!("cccccccc-1111-2222-3333-444444444444"),
            InvalidToken::TenantNotAllowed,
        ),
        ("ver", json!("3.0"), InvalidToken::UnsupportedVersion),
        ("ver", Value::Null, InvalidToken::MissingClaim("ver")),
        (
            "roles",
            json!("Api.Admin"),
            InvalidToken::InvalidClaim("roles"),
        ),
        ("roles", Value::Null, InvalidToken::NoScopeOrRole),
    ];
    for (name, value, expected) in cases {
        let mut c = claims_v2();
        if value.is_null() {
            c.as_object_mut().unwrap().remove(name);
        } else {
            c[name] = value.clone();
        }
        let got = run(&sign(kid_header(), &c, &KEYS.0), &set, &p);
        assert_eq!(got.err(), Some(expected), "{name} = {value}");
    }
}

#[test]
fn key_issuer_must_match() {
    let set = key_set(Some(
        "https://login.example/dddddddd-1111-2222-3333-444444444444/v2.0",
    ));
    let t = sign(kid_header(), &claims_v2(), &KEYS.0);
    assert_eq!(
        run(&t, &set, &policy()).unwrap_err(),
        InvalidToken::KeyIssuerMismatch
    );
}

#[test]
fn rejects_wrong_key_and_tampering() {
    let set = key_set(None);
    let t = sign(kid_header(), &claims_v2(), &KEYS.1);
    assert_eq!(
        run(&t, &set, &policy()).unwrap_err(),
        InvalidToken::BadSignature
    );
    let good = sign(kid_header(), &claims_v2(), &KEYS.0);
    let mut c = claims_v2();
    c["roles"] = json!(["Everything"]);
    let other = sign(kid_header(), &c, &KEYS.0);
    let (msg, _) = other.rsplit_once('.').unwrap();
    let (_, sig) = good.rsplit_once('.').unwrap();
    assert_eq!(
        run(&format!("{msg}.{sig}"), &set, &policy()).unwrap_err(),
        InvalidToken::BadSignature
    );
    assert_eq!(
        run(&good[..good.len() - 4], &set, &policy()).unwrap_err(),
        InvalidToken::BadSignature
    );
}

#[test]
fn header_checks() {
    let p = policy();
    let enc = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let body = enc(&claims_v2());
    let tok = |h: Value| format!("{}.{}.c2ln", enc(&h), body);
    let cases: Vec<(Value, InvalidToken)> = vec![
        (
            json!({"alg":"none","kid":"k"}),
            InvalidToken::UnsupportedAlgorithm,
        ),
        (
            json!({"alg":"HS256","kid":"k"}),
            InvalidToken::UnsupportedAlgorithm,
        ),
        (
            json!({"alg":"rs256","kid":"k"}),
            InvalidToken::UnsupportedAlgorithm,
        ),
        (json!({"kid":"k"}), InvalidToken::UnsupportedAlgorithm),
        (
            json!({"alg":["RS256"],"kid":"k"}),
            InvalidToken::MalformedHeader,
        ),
        (
            json!({"alg":"RS256","kid":"k","crit":["exp"]}),
            InvalidToken::CriticalHeader,
        ),
        (
            json!({"alg":"RS256","kid":"k","nonce":"abc"}),
            InvalidToken::GraphToken,
        ),
        (json!({"alg":"RS256"}), InvalidToken::MissingKeyId),
        (
            json!({"alg":"RS256","kid":""}),
            InvalidToken::UnknownSigningKey,
        ),
        (
            json!({"alg":"RS256","kid":7}),
            InvalidToken::MalformedHeader,
        ),
        (json!("RS256"), InvalidToken::MalformedHeader),
    ];
    for (h, expected) in cases {
        assert_eq!(parse(&tok(h.clone()), &p).err(), Some(expected), "{h}");
    }
    let dup = format!(
        "{}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","alg":"none","kid":"k"}"#),
        body
    );
    assert_eq!(parse(&dup, &p).err(), Some(InvalidToken::MalformedHeader));
    let dup_aud = URL_SAFE_NO_PAD.encode(r#"{"aud":"api-id","aud":"x"}"#);
    let t = format!("{}.{dup_aud}.c2ln", enc(&json!({"alg":"RS256","kid":"k"})));
    assert_eq!(parse(&t, &p).err(), Some(InvalidToken::MalformedClaims));
}

#[test]
fn structure_checks() {
    let p = policy();
    let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"k"}"#);
    let b = URL_SAFE_NO_PAD.encode(claims_v2().to_string());
    for t in [
        String::new(),
        "a.b".into(),
        format!("{h}.{b}"),
        format!("{h}.{b}.sig.x"),
        format!("{h}..sig"),
        format!(".{b}.sig"),
        format!("{h}.{b}."),
        format!("{h}=.{b}.sig"),
        format!("{h}.{b}.si g"),
        format!("{h}.{b}.si+g"),
        format!("{h} .{b}.sig"),
    ] {
        assert_eq!(
            parse(&t, &p).err(),
            Some(InvalidToken::MalformedStructure),
            "{t}"
        );
    }
    let big = "a".repeat(16 * 1024 + 1);
    assert_eq!(parse(&big, &p).err(), Some(InvalidToken::TooLarge));
    for payload in ["[1,2]", "\"text\"", "17", "{\"aud\":", "null"] {
        let t = format!("{h}.{}.sig", URL_SAFE_NO_PAD.encode(payload));
        assert_eq!(
            parse(&t, &p).err(),
            Some(InvalidToken::MalformedClaims),
            "{payload}"
        );
    }
    let array_header = format!("{}.{b}.sig", URL_SAFE_NO_PAD.encode(r#"["RS256","k"]"#));
    assert_eq!(
        parse(&array_header, &p).err(),
        Some(InvalidToken::MalformedHeader)
    );
}

#[test]
fn custom_issuer_mode() {
    let mut p = policy();
    let mut iss = issuers();
    iss.custom = Some(IssuerTemplate::new("https://b2c.example/tfp/v2.0/"));
    p.allowed_tenants = AllowedTenants::Any;
    p.require_tenant_id = false;
    let set = key_set(None);
    let mut c = claims_v2();
    c["iss"] = json!("https://b2c.example/tfp/v2.0/");
    c.as_object_mut().unwrap().remove("tid");
    c.as_object_mut().unwrap().remove("ver");
    assert!(run_with(&sign(kid_header(), &c, &KEYS.0), &set, &p, &iss).is_ok());
    c["iss"] = json!("https://b2c.example/other/v2.0/");
    let err = run_with(&sign(kid_header(), &c, &KEYS.0), &set, &p, &iss).unwrap_err();
    assert_eq!(err, InvalidToken::IssuerMismatch);
}

/// A v2 ID token as Entra issues it to a client signed in as a user: `aud` is the client id
/// (here the API's own, `api-id`), no `scp`, no `azp`, no `appid`.
fn id_token_claims() -> Value {
    json!({
        "aud": "api-id", "iss": format!("https://login.example/{TID}/v2.0"), "iat": NOW - 10,
        "nbf": NOW - 10, "exp": NOW + 3600, "tid": TID, "ver": "2.0", "oid": "user-oid",
        "sub": "pairwise-sub", "name": "Ada Lovelace", "preferred_username": "ada@contoso.example",
        "nonce": "n-0S6_WzA2Mj", "sid": "0f8a1c2e-0000-4000-8000-000000000001", "uti": "uti-1",
        "rh": "0.AAAA"
    })
}

fn id_token_policy() -> ValidationPolicy {
    ValidationPolicy {
        id_token_audience: Some("api-id".into()),
        ..policy()
    }
}

#[test]
fn an_id_token_is_rejected_without_the_opt_in() {
    let set = key_set(Some("https://login.example/{tenantid}/v2.0"));
    let t = sign(kid_header(), &id_token_claims(), &KEYS.0);
    assert_eq!(run(&t, &set, &policy()).unwrap_err(), InvalidToken::IdToken);
    // Not requiring scp or roles does not let ID tokens in.
    let lax = ValidationPolicy {
        require_scope_or_role: false,
        ..policy()
    };
    assert_eq!(run(&t, &set, &lax).unwrap_err(), InvalidToken::IdToken);
    // An ID token listing the user's app roles in the client would pass as an access token
    // with roles if the kind were not checked.
    let mut c = id_token_claims();
    c["roles"] = json!(["Api.Admin"]);
    let t = sign(kid_header(), &c, &KEYS.0);
    assert_eq!(run(&t, &set, &policy()).unwrap_err(), InvalidToken::IdToken);
    // A v1 ID token too.
    let mut c = id_token_claims();
    c["ver"] = json!("1.0");
    c["iss"] = json!(format!("https://sts.windows.net/{TID}/"));
    let t = sign(kid_header(), &c, &KEYS.0);
    assert_eq!(run(&t, &set, &policy()).unwrap_err(), InvalidToken::IdToken);
}

#[test]
fn an_id_token_is_accepted_with_the_opt_in_as_kind_id() {
    let set = key_set(Some("https://login.example/{tenantid}/v2.0"));
    let t = sign(kid_header(), &id_token_claims(), &KEYS.0);
    let c = run(&t, &set, &id_token_policy()).unwrap();
    assert_eq!(c.token_kind(), TokenKind::Id);
    assert_eq!(c.version(), Some(TokenVersion::V2));
    assert_eq!(c.audience(), "api-id");
    assert_eq!(c.object_id(), Some("user-oid"));
    assert_eq!(c.subject(), "pairwise-sub");
    assert_eq!(c.preferred_username(), Some("ada@contoso.example"));
    assert_eq!(c.name(), Some("Ada Lovelace"));
    assert_eq!(c.app_id(), None);
    assert!(c.scopes().is_empty() && c.roles().is_empty());
    assert!(!c.is_app_only());
    assert_eq!(c.get("nonce"), Some(&json!("n-0S6_WzA2Mj")));
    assert!(format!("{c:?}").contains("kind: \"id\""));
}

#[test]
fn an_id_token_grants_no_scope_role_or_calling_app() {
    let set = key_set(Some("https://login.example/{tenantid}/v2.0"));
    let mut claims = id_token_claims();
    claims["roles"] = json!(["Api.Admin"]);
    let t = sign(kid_header(), &claims, &KEYS.0);
    let c = run(&t, &set, &id_token_policy()).unwrap();
    assert_eq!(c.token_kind(), TokenKind::Id);
    assert!(c.roles().is_empty() && !c.has_role("Api.Admin"));
    assert_eq!(c.get("roles"), Some(&json!(["Api.Admin"])));
    for require in [
        crate::Require::any_role(["Api.Admin"]),
        crate::Require::any_scope(["Files.Read"]).or_roles(["Api.Admin"]),
        crate::Require::calling_apps(["api-id"]),
    ] {
        let err = require.check(&c).unwrap_err();
        assert!(
            matches!(err, crate::AuthError::InsufficientScope { .. }),
            "{require:?}: {err:?}"
        );
    }
    assert!(crate::Require::default().check(&c).is_ok());
}

#[test]
fn the_opt_in_takes_only_v2_id_tokens_for_the_client_id() {
    let set = key_set(Some("https://login.example/{tenantid}/v2.0"));
    // Another accepted audience is not the client id: an ID token for it is not for this API.
    let p = ValidationPolicy {
        audiences: vec![
            "api-id".into(),
            "api://api-id".into(),
            "other-client".into(),
        ],
        ..id_token_policy()
    };
    for aud in ["api://api-id", "other-client"] {
        let mut c = id_token_claims();
        c["aud"] = json!(aud);
        let t = sign(kid_header(), &c, &KEYS.0);
        assert_eq!(
            run(&t, &set, &p).unwrap_err(),
            InvalidToken::IdToken,
            "{aud}"
        );
    }
    let mut c = id_token_claims();
    c["aud"] = json!("someone-else");
    let t = sign(kid_header(), &c, &KEYS.0);
    assert_eq!(
        run(&t, &set, &p).unwrap_err(),
        InvalidToken::AudienceMismatch
    );
    let mut c = id_token_claims();
    c["ver"] = json!("1.0");
    c["iss"] = json!(format!("https://sts.windows.net/{TID}/"));
    let t = sign(kid_header(), &c, &KEYS.0);
    assert_eq!(run(&t, &set, &p).unwrap_err(), InvalidToken::IdToken);
    // Every other check still applies.
    let mut c = id_token_claims();
    c["exp"] = json!(NOW - 3600);
    let t = sign(kid_header(), &c, &KEYS.0);
    assert_eq!(run(&t, &set, &p).unwrap_err(), InvalidToken::Expired);
    let t = sign(kid_header(), &id_token_claims(), &KEYS.1);
    assert_eq!(run(&t, &set, &p).unwrap_err(), InvalidToken::BadSignature);
}

#[test]
fn access_tokens_stay_access_tokens_with_the_opt_in() {
    let set = key_set(Some("https://login.example/{tenantid}/v2.0"));
    let p = id_token_policy();
    let c = run(&sign(kid_header(), &claims_v2(), &KEYS.0), &set, &p).unwrap();
    assert_eq!(c.token_kind(), TokenKind::Access);
    assert_eq!(c.roles(), ["Api.Admin"]);
    // A delegated token for the client id: it names its calling app.
    let mut d = id_token_claims();
    d["scp"] = json!("Files.Read");
    d["azp"] = json!("spa-id");
    d["azpacr"] = json!("0");
    let c = run(&sign(kid_header(), &d, &KEYS.0), &set, &p).unwrap();
    assert_eq!(c.token_kind(), TokenKind::Access);
    assert_eq!(c.scopes(), ["Files.Read"]);
    // Any one of the markers makes an access token, which then needs scp or roles as before:
    // an access token without permissions is not turned into an ID token.
    for (marker, value) in [("azp", "spa-id"), ("appid", "spa-id"), ("scp", "")] {
        let mut c = id_token_claims();
        c[marker] = json!(value);
        let t = sign(kid_header(), &c, &KEYS.0);
        assert_eq!(
            run(&t, &set, &p).unwrap_err(),
            InvalidToken::NoScopeOrRole,
            "{marker}"
        );
    }
    // A v1 access token (appid) without scp still reaches the claims as an access token.
    let mut v1 = claims_v2();
    v1["ver"] = json!("1.0");
    v1["iss"] = json!(format!("https://sts.windows.net/{TID}/"));
    v1["appid"] = json!("client-1");
    v1.as_object_mut().unwrap().remove("azp");
    let c = run(&sign(kid_header(), &v1, &KEYS.0), &set, &p).unwrap();
    assert_eq!(c.token_kind(), TokenKind::Access);
}
