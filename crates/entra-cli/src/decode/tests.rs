//! Unit tests of `entra decode`.

use super::*;

fn jwt(header: Value, claims: Value) -> String {
    let enc = |v: &Value| {
        B64URL
            .encode(serde_json::to_vec(v).unwrap())
            .trim_end_matches('=')
            .to_owned()
    };
    format!("{}.{}.c2ln", enc(&header), enc(&claims))
}

#[test]
fn decodes_an_entra_v2_token() {
    let now = 1_000_000;
    let token = jwt(
        json!({"typ": "JWT", "alg": "RS256", "kid": "k1"}),
        json!({
            "aud": "api-id", "iss": "https://login.microsoftonline.com/t/v2.0", "tid": "t",
            "ver": "2.0", "azp": "client", "azpacr": "2", "oid": "sp", "sub": "sp",
            "idtyp": "app", "roles": ["Api.Admin"], "iat": now - 600, "nbf": now - 600,
            "exp": now + 52 * 60,
        }),
    );
    let parsed = parse(&token).unwrap();
    let s = Summary::of(&parsed);
    assert_eq!(s.calling_app().unwrap(), "client (azp, certificate)");
    assert_eq!(s.kind, Some("app-only (client credentials)"));
    assert!(s.notes.is_empty(), "{:?}", s.notes);
    let out = render(&parsed, now);
    assert!(out.starts_with("NOT VERIFIED"), "{out}");
    assert!(out.contains("expires in 52 min"), "{out}");
    assert!(out.contains("\"azp\": \"client\""), "{out}");
    assert!(out.contains("roles        Api.Admin\n"), "{out}");
    let j = s.to_json(now);
    assert_eq!(j["expired"], false);
    assert_eq!(j["expires_in"], 52 * 60);
}

#[test]
fn delegated_v1_and_expired() {
    let now = 1_000_000;
    let token = jwt(
        json!({"alg": "RS256", "nonce": "x"}),
        json!({"ver": "1.0", "tid": "t", "appid": "c", "appidacr": "1", "scp": "User.Read Files.Read",
               "upn": "ada@contoso.com", "name": "Ada", "exp": now - 3 * 3600}),
    );
    let s = Summary::of(&parse(&token).unwrap());
    assert_eq!(s.calling_app().unwrap(), "c (appid, client secret)");
    assert_eq!(s.kind, Some("delegated (on behalf of a user)"));
    assert_eq!(s.scopes, ["User.Read", "Files.Read"]);
    assert_eq!(s.user.as_deref(), Some("ada@contoso.com (Ada)"));
    assert!(s.notes.iter().any(|n| n.contains("Graph")));
    let lines = s.lines(now);
    assert!(
        lines
            .iter()
            .any(|(l, v)| *l == "expires" && v.ends_with("(expired 3 h ago)"))
    );
}

#[test]
fn garbage_is_one_clear_error() {
    for (input, expected) in [
        ("hello", "found no dot"),
        ("a.b", "found 2 parts"),
        ("a.b.c.d.e", "encrypted token"),
        ("!!!.e30.", "header is not base64url"),
        ("e30.bm90IGpzb24.", "payload is not a JSON object"),
        ("WzFd.e30.", "header is not a JSON object"),
        (".e30.", "header is empty"),
    ] {
        let e = parse(input).unwrap_err().to_string();
        assert!(e.contains(expected), "{input}: {e}");
    }
    // An unsigned token decodes, with a warning.
    let s = Summary::of(&parse("eyJhbGciOiJub25lIn0.e30.").unwrap());
    assert!(
        s.notes.iter().any(|n| n.contains("not signed")),
        "{:?}",
        s.notes
    );
}

#[test]
fn claims_cannot_inject_terminal_escapes_into_the_summary() {
    let token = jwt(
        json!({"alg": "RS256"}),
        json!({"tid": "t\u{1b}[2J\nx", "ver": "2.0"}),
    );
    let out = render(&parse(&token).unwrap(), 0);
    assert!(!out.contains('\u{1b}'), "{out:?}");
}
