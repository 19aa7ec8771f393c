//! The header: `alg` (confusion included), key ids, key material a token brings along (never
//! fetched), `crit`, Graph's `nonce`, JWE, and the header's JSON.

use super::*;

/// Cases: alg.
pub(super) fn alg(cx: &Corpus<'_>) -> Vec<Case> {
    use Expect::*;
    let Corpus {
        emu,
        key,
        kid,
        claims,
        vp,
        ..
    } = cx;
    let mut cases: Vec<Case> = Vec::new();
    let mut add = |c: Case| cases.push(c);
    // --- alg ---------------------------------------------------------------------------------
    for alg in [
        "none",
        "None",
        "NONE",
        "nOnE",
        "",
        "rs256",
        "RS256 ",
        " RS256",
        "RS256\u{0}",
    ] {
        add(Case::bearer(
            format!("alg {alg:?} (RS256 signature kept)"),
            emu.token().header("alg", json!(alg)).sign(),
            Invalid("algorithm"),
        ));
    }
    add(Case::bearer(
        "alg none with an empty signature",
        format!(
            "{}.{}.",
            b64(json!({"alg": "none", "kid": kid}).to_string().as_bytes()),
            vp
        ),
        Invalid("three base64url segments"),
    ));
    add(Case::bearer(
        "alg missing",
        emu.token().remove_header("alg").sign(),
        Invalid("algorithm"),
    ));
    for (name, v) in [
        ("null", json!(null)),
        ("array", json!(["RS256"])),
        ("number", json!(256)),
        ("object", json!({"name": "RS256"})),
    ] {
        add(Case::bearer(
            format!("alg as {name}"),
            emu.token().header("alg", v).sign(),
            Invalid("header is not a valid JSON object"),
        ));
    }
    // HS256 signed with the RSA public key (algorithm confusion), in every encoding a confused
    // verifier might use as the HMAC secret.
    let jwk = key.jwk(None);
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
    let pkcs1 = key.public_key_der().to_vec();
    let spki_der = spki(&n, &e);
    let spki_pem = pem("PUBLIC KEY", &spki_der);
    jsonwebtoken::DecodingKey::from_rsa_pem(spki_pem.as_bytes()).expect("the SPKI PEM is valid");
    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("modulus n bytes", n.clone()),
        ("n || e bytes", [n.clone(), e.clone()].concat()),
        (
            "n as base64url text",
            jwk["n"].as_str().unwrap().as_bytes().to_vec(),
        ),
        ("PKCS#1 DER", pkcs1.clone()),
        ("PKCS#1 PEM", pem("RSA PUBLIC KEY", &pkcs1).into_bytes()),
        ("SPKI DER", spki_der.clone()),
        ("SPKI PEM", spki_pem.clone().into_bytes()),
        (
            "SPKI PEM without final newline",
            spki_pem.trim_end().as_bytes().to_vec(),
        ),
        ("certificate PEM", key.certificate_pem().into_bytes()),
        ("JWK JSON", jwk.to_string().into_bytes()),
    ];
    for (what, secret) in &secrets {
        add(Case::bearer(
            format!("HS256 keyed with the RSA public key as {what}"),
            hmac_token("HS256", hmac::HMAC_SHA256, kid, claims, secret),
            Invalid("algorithm"),
        ));
    }
    add(Case::bearer(
        "HS384 keyed with the SPKI PEM",
        hmac_token("HS384", hmac::HMAC_SHA384, kid, claims, spki_pem.as_bytes()),
        Invalid("algorithm"),
    ));
    add(Case::bearer(
        "HS512 keyed with the SPKI PEM",
        hmac_token("HS512", hmac::HMAC_SHA512, kid, claims, spki_pem.as_bytes()),
        Invalid("algorithm"),
    ));
    {
        // `alg: RS256` but an HMAC signature: the RSA check must fail.
        let t = hmac_token("HS256", hmac::HMAC_SHA256, kid, claims, spki_pem.as_bytes());
        let (_, p, s) = segments(&t);
        let h = b64(rs256_header(kid).to_string().as_bytes());
        add(Case::bearer(
            "RS256 header over an HMAC-SHA256 signature",
            format!("{h}.{p}.{s}"),
            Invalid("signature is invalid"),
        ));
    }
    // Other RSA algorithms, genuinely signed by the real key: only RS256 is allowed.
    for alg in ["RS384", "RS512", "PS256", "PS384", "PS512"] {
        let t = emu.token().header("alg", json!(alg)).sign();
        let (h, p, s) = segments(&t);
        assert!(
            jsonwebtoken::crypto::verify(
                &s,
                format!("{h}.{p}").as_bytes(),
                &key.decoding_key(),
                alg.parse().unwrap()
            )
            .unwrap(),
            "{alg} test token must be genuinely signed"
        );
        add(Case::bearer(
            format!("{alg}, properly signed"),
            t.clone(),
            Invalid("algorithm"),
        ));
        // The same signature under an RS256 header.
        let rs = b64(rs256_header(kid).to_string().as_bytes());
        add(Case::bearer(
            format!("RS256 header over a {alg} signature"),
            format!("{rs}.{p}.{s}"),
            Invalid("signature is invalid"),
        ));
    }
    add(Case::bearer(
        "ES256, properly signed with an EC key",
        es256_token(kid, claims),
        Invalid("algorithm"),
    ));
    add(Case::bearer(
        "ES256 header only (RS256 signature)",
        emu.token().header("alg", json!("ES256")).sign(),
        Invalid("algorithm"),
    ));
    add(Case::bearer(
        "EdDSA, properly signed with an Ed25519 key",
        eddsa_token(kid, claims),
        Invalid("algorithm"),
    ));
    add(Case::bearer(
        "EdDSA header only (RS256 signature)",
        emu.token().header("alg", json!("EdDSA")).sign(),
        Invalid("algorithm"),
    ));

    cases
}

/// Cases: key id.
pub(super) fn key_id(cx: &Corpus<'_>) -> Vec<Case> {
    use Expect::*;
    let Corpus {
        emu,
        attacker,
        trap_url,
        key,
        kid,
        ..
    } = cx;
    let mut cases: Vec<Case> = Vec::new();
    let mut add = |c: Case| cases.push(c);
    // --- key id ------------------------------------------------------------------------------
    add(Case::bearer(
        "kid unknown",
        emu.token().kid("no-such-key-id").sign(),
        Invalid("signature is invalid"),
    ));
    add(Case::bearer(
        "kid empty",
        emu.token().kid("").sign(),
        Invalid("signature is invalid"),
    ));
    let huge_kid = "k".repeat(10 * 1024);
    add(Case::bearer(
        "kid of 10 KB",
        emu.token().kid(&huge_kid).sign(),
        Invalid("signature is invalid"),
    ));
    for path in [
        "../../etc/passwd",
        "%2e%2e/%2e%2e/etc/passwd",
        "..\\..\\windows\\win.ini",
        "/dev/zero",
        "file:///etc/passwd",
    ] {
        add(Case::bearer(
            format!("kid with path characters {path:?}"),
            emu.token().kid(path).sign(),
            Invalid("signature is invalid"),
        )
        .never_echo(path));
    }
    add(Case::bearer(
        "kid is the trap URL",
        emu.token().kid(&format!("{trap_url}/keys")).sign(),
        Invalid("signature is invalid"),
    )
    .never_echo(trap_url));
    add(Case::bearer(
        "kid with CR LF header injection",
        emu.token().kid("x\r\nX-Injected: yes").sign(),
        Invalid("signature is invalid"),
    )
    .never_echo("X-Injected"));
    add(Case::bearer(
        "kid with a NUL byte after the real kid",
        emu.token().kid(&format!("{kid}\u{0}")).sign(),
        Invalid("signature is invalid"),
    ));
    add(Case::bearer(
        "kid as a number",
        emu.token().header("kid", json!(7)).sign(),
        Invalid("header is not a valid JSON object"),
    ));
    add(Case::bearer(
        "kid null with a valid x5t",
        emu.token()
            .header("kid", json!(null))
            .header("x5t", json!(kid))
            .sign(),
        Invalid("header is not a valid JSON object"),
    ));
    add(Case::bearer(
        "neither kid nor x5t",
        emu.token().remove_header("kid").sign(),
        Invalid("names no signing key"),
    ));
    add(Case::bearer(
        "only x5t#S256",
        emu.token()
            .remove_header("kid")
            .header("x5t#S256", json!(key.x5t_s256()))
            .sign(),
        Invalid("names no signing key"),
    ));
    add(Case::bearer(
        "kid unknown, x5t of the real key (kid wins)",
        emu.token().kid("nope").header("x5t", json!(kid)).sign(),
        Invalid("signature is invalid"),
    ));
    let kids = emu.published_kids();
    let second = kids
        .iter()
        .find(|k| **k != *kid)
        .expect("two published keys");
    add(Case::bearer(
        "kid of the second published key, signed by the first",
        emu.token().kid(second).sign(),
        Invalid("signature is invalid"),
    ));
    add(Case::bearer(
        "signed by an unregistered key under the real kid",
        emu.token().signed_with(attacker).kid(kid).sign(),
        Invalid("signature is invalid"),
    ));

    cases
}

/// Cases: key material in the header: ignored, never fetched.
pub(super) fn key_material_in_the_header_ignored_never(cx: &Corpus<'_>) -> Vec<Case> {
    use Expect::*;
    let Corpus {
        emu,
        attacker,
        trap_url,
        kid,
        ..
    } = cx;
    let mut cases: Vec<Case> = Vec::new();
    let mut add = |c: Case| cases.push(c);
    // --- key material in the header: ignored, never fetched ---------------------------------
    for (param, value) in [
        ("jku", json!(format!("{trap_url}/jwks.json"))),
        ("x5u", json!(format!("{trap_url}/cert.pem"))),
        ("jwk", attacker.jwk(None)),
        ("x5c", json!([STANDARD.encode(attacker.certificate_der())])),
    ] {
        add(Case::bearer(
            format!("{param} naming the attacker's key, attacker's kid"),
            emu.token()
                .signed_with(attacker)
                .header(param, value.clone())
                .sign(),
            Invalid("signature is invalid"),
        )
        .never_echo(trap_url));
        add(Case::bearer(
            format!("{param} naming the attacker's key, real kid"),
            emu.token()
                .signed_with(attacker)
                .kid(kid)
                .header(param, value)
                .sign(),
            Invalid("signature is invalid"),
        ));
    }
    add(Case::bearer(
        "x5c and x5t of the attacker's certificate, no kid",
        emu.token()
            .signed_with(attacker)
            .x5t_only()
            .header("x5c", json!([STANDARD.encode(attacker.certificate_der())]))
            .sign(),
        Invalid("signature is invalid"),
    ));

    cases
}

/// Cases: crit, Graph nonce, JWE.
pub(super) fn crit_graph_nonce_jwe(cx: &Corpus<'_>) -> Vec<Case> {
    use Expect::*;
    let Corpus { emu, kid, vs, .. } = cx;
    let mut cases: Vec<Case> = Vec::new();
    let mut add = |c: Case| cases.push(c);
    // --- crit, Graph nonce, JWE --------------------------------------------------------------
    add(Case::bearer(
        "crit [exp]",
        emu.token()
            .header("crit", json!(["exp"]))
            .header("exp", json!(1))
            .sign(),
        Invalid("crit header"),
    ));
    add(Case::bearer(
        "crit []",
        emu.token().header("crit", json!([])).sign(),
        Invalid("crit header"),
    ));
    add(Case::bearer(
        "crit [b64] with an unencoded payload",
        emu.token()
            .header("crit", json!(["b64"]))
            .header("b64", json!(false))
            .sign(),
        Invalid("crit header"),
    ));
    add(Case::bearer(
        "b64:false without crit, payload sent unencoded",
        {
            let h = json!({"alg": "RS256", "kid": kid, "b64": false}).to_string();
            format!("{}.{{\"exp\":4102444800}}.{vs}", b64(h.as_bytes()))
        },
        Invalid("three base64url segments"),
    ));
    add(Case::bearer(
        "Microsoft Graph token (nonce header)",
        emu.token().graph_nonce().sign(),
        Invalid("Microsoft Graph"),
    ));
    add(Case::bearer(
        "nonce header without Graph hashing",
        emu.token().header("nonce", json!("abc")).sign(),
        Invalid("Microsoft Graph"),
    ));

    cases
}

/// Cases: header JSON.
pub(super) fn header_json(cx: &Corpus<'_>) -> Vec<Case> {
    use Expect::*;
    let Corpus {
        emu,
        attacker,
        key,
        kid,
        claims,
        ..
    } = cx;
    let mut cases: Vec<Case> = Vec::new();
    let mut add = |c: Case| cases.push(c);
    // --- header JSON -------------------------------------------------------------------------
    let bad_header = Invalid("header is not a valid JSON object");
    for (name, header) in [
        ("not JSON", "this is not json".to_owned()),
        ("a JSON array", format!(r#"["RS256","{kid}"]"#)),
        ("a JSON string", r#""RS256""#.to_owned()),
        ("a JSON number", "42".to_owned()),
        ("JSON null", "null".to_owned()),
        (
            "truncated JSON",
            format!(r#"{{"alg":"RS256","kid":"{kid}""#),
        ),
        (
            "trailing garbage",
            format!(r#"{{"alg":"RS256","kid":"{kid}"}} x"#),
        ),
        (
            "a UTF-8 byte-order mark",
            format!("\u{feff}{{\"alg\":\"RS256\",\"kid\":\"{kid}\"}}"),
        ),
        (
            "duplicate alg (RS256, then none)",
            format!(r#"{{"alg":"RS256","alg":"none","kid":"{kid}"}}"#),
        ),
        (
            "duplicate alg (none, then RS256)",
            format!(r#"{{"alg":"none","alg":"RS256","kid":"{kid}"}}"#),
        ),
        (
            "duplicate kid",
            format!(r#"{{"alg":"RS256","kid":"{kid}","kid":"other"}}"#),
        ),
        (
            "duplicate alg through an escape",
            format!(r#"{{"alg":"RS256","\u0061lg":"none","kid":"{kid}"}}"#),
        ),
        (
            "alg nested 200 levels",
            format!(r#"{{"alg":{},"kid":"{kid}"}}"#, nested(200)),
        ),
        (
            "kid nested 200 levels",
            format!(r#"{{"alg":"RS256","kid":{}}}"#, nested(200)),
        ),
    ] {
        add(Case::bearer(
            format!("header {name}"),
            signed(emu, &header, claims),
            bad_header,
        ));
    }
    // Unknown members are skipped without recursion: deep nesting there parses (bounded by the
    // size limit), and the token then fails on its (attacker's) signature.
    add(Case::bearer(
        "header nested 1,000 levels in an unknown member, attacker's signature",
        sign_raw(
            format!(r#"{{"alg":"RS256","kid":"{kid}","x":{}}}"#, nested(1000)).as_bytes(),
            claims.as_bytes(),
            attacker,
        ),
        Invalid("signature is invalid"),
    ));
    add(Case::bearer(
        "header invalid UTF-8",
        sign_raw(
            &[
                br#"{"alg":"RS256","kid":""#.as_slice(),
                &[0xff, 0xfe],
                br#""}"#,
            ]
            .concat(),
            claims.as_bytes(),
            key,
        ),
        bad_header,
    ));
    add(Case::bearer(
        "header nested 10,000 levels (over the size limit here)",
        signed(
            emu,
            &format!(r#"{{"alg":"RS256","kid":"{kid}","x":{}}}"#, nested(10_000)),
            claims,
        ),
        Invalid("larger than"),
    ));

    cases
}
