//! The token's structure: segments and their encoding, the payload's JSON, and signatures moved
//! or damaged.

use super::*;

/// Cases: structure.
pub(super) fn structure(cx: &Corpus<'_>) -> Vec<Case> {
    use Expect::*;
    let Corpus {
        emu,
        valid,
        vh,
        vp,
        vs,
        ..
    } = cx;
    let mut cases: Vec<Case> = Vec::new();
    let mut add = |c: Case| cases.push(c);
    // --- structure ---------------------------------------------------------------------------
    let structure = Invalid("three base64url segments");
    for (name, t) in [
        ("2 segments", format!("{vh}.{vp}")),
        ("4 segments", format!("{vh}.{vp}.{vs}.{vs}")),
        (
            "5 segments (JWE shape)",
            format!("{vh}.{vp}.{vs}.{vp}.{vs}"),
        ),
        ("trailing dot", format!("{valid}.")),
        ("leading dot", format!(".{valid}")),
        ("empty header segment", format!(".{vp}.{vs}")),
        ("empty payload segment", format!("{vh}..{vs}")),
        ("empty signature segment", format!("{vh}.{vp}.")),
        ("only dots", "..".to_owned()),
        ("a single dot", ".".to_owned()),
        ("no dots", "abcdefghijklmnop".to_owned()),
        ("'+' in the signature", format!("{vh}.{vp}.+{}", &vs[1..])),
        ("'/' in the payload", format!("{vh}./{}.{vs}", &vp[1..])),
        ("'*' in the header", format!("*{}.{vp}.{vs}", &vh[1..])),
        ("'%' in the signature", format!("{vh}.{vp}.%41{}", &vs[3..])),
        ("'=' padding on the header", format!("{vh}=.{vp}.{vs}")),
        ("'=' padding on the signature", format!("{vh}.{vp}.{vs}==")),
        ("'=' padding on the payload", format!("{vh}.{vp}==.{vs}")),
        (
            "standard base64 instead of base64url",
            format!(
                "{}.{}.{}",
                STANDARD.encode(URL_SAFE_NO_PAD.decode(vh).unwrap()),
                STANDARD.encode(URL_SAFE_NO_PAD.decode(vp).unwrap()),
                STANDARD.encode(URL_SAFE_NO_PAD.decode(vs).unwrap())
            ),
        ),
        (
            "signature longer than RSA-8192",
            format!("{vh}.{vp}.{}", "A".repeat(701)),
        ),
    ] {
        add(Case::bearer(name, t, structure));
    }
    add(Case::bearer(
        "non-canonical base64url in the signature's last character",
        format!("{vh}.{vp}.{}", non_canonical_tail(vs)),
        Invalid("signature is invalid"),
    ));
    add(Case::bearer(
        "non-canonical base64url in the payload's last character",
        format!("{vh}.{}.{vs}", non_canonical_tail(vp)),
        Invalid(""),
    ));
    add(Case::bearer(
        "non-ASCII character in the signature",
        format!("{vh}.{vp}.é{}", &vs[1..]),
        Invalid("Authorization header"),
    ));
    add(Case::bearer(
        "space inside the token",
        format!("{vh}.{vp} .{vs}"),
        Invalid("Authorization header"),
    ));
    add(Case::bearer(
        "tab inside the token",
        format!("{vh}.{vp}\t.{vs}"),
        Invalid("Authorization header"),
    ));
    add(Case::bearer(
        "comma inside the token",
        format!("{vh},{vp}.{vs}"),
        Invalid("Authorization header"),
    ));
    add(Case::bearer(
        "token of 20 KB (over the 16 KiB limit)",
        emu.token()
            .claim("padding", json!("x".repeat(20 * 1024)))
            .sign(),
        Invalid("larger than"),
    ));
    add(Case::bearer(
        "token of 1 MB",
        format!("{vh}.{}.{vs}", "A".repeat(1024 * 1024)),
        Oversized,
    ));

    cases
}

/// Cases: payload JSON.
pub(super) fn payload_json(cx: &Corpus<'_>) -> Vec<Case> {
    use Expect::*;
    let Corpus {
        emu,
        attacker,
        claims,
        other_tenant,
        header,
        aud,
        ..
    } = cx;
    let mut cases: Vec<Case> = Vec::new();
    let mut add = |c: Case| cases.push(c);
    // --- payload JSON ------------------------------------------------------------------------
    let bad_claims = Invalid("payload is not a valid JSON object");
    for (name, payload) in [
        ("not JSON", "not json at all".to_owned()),
        ("a JSON array", "[1,2,3]".to_owned()),
        ("a JSON string", r#""claims""#.to_owned()),
        ("a JSON number", "17".to_owned()),
        ("JSON null", "null".to_owned()),
        ("truncated", claims[..claims.len() - 1].to_owned()),
        ("trailing garbage", format!("{claims} x")),
        (
            "duplicate aud (ours first)",
            claims_with_raw(emu, "", &format!(r#""aud":"{aud}","aud":"someone-else""#)),
        ),
        (
            "duplicate aud (ours last)",
            claims_with_raw(
                emu,
                "aud",
                &format!(r#""aud":"someone-else","aud":"{aud}""#),
            ),
        ),
        (
            "duplicate aud through an escape",
            claims_with_raw(emu, "aud", &format!(r#""aud":"x","\u0061ud":"{aud}""#)),
        ),
        ("duplicate exp", claims_with_raw(emu, "", r#""exp":1"#)),
        (
            "duplicate tid",
            claims_with_raw(emu, "", &format!(r#""tid":"{other_tenant}""#)),
        ),
    ] {
        add(Case::bearer(
            format!("payload {name}"),
            signed(emu, header, &payload),
            bad_claims,
        ));
    }
    add(Case::bearer(
        "payload nested 1,000 levels in an unknown member, attacker's signature",
        sign_raw(
            header.as_bytes(),
            claims_with_raw(emu, "", &format!(r#""x":{}"#, nested(1000))).as_bytes(),
            attacker,
        ),
        Invalid("signature is invalid"),
    ));
    add(Case::bearer(
        "aud nested 200 levels",
        signed(
            emu,
            header,
            &claims_with_raw(emu, "aud", &format!(r#""aud":{}"#, nested(200))),
        ),
        Invalid("aud claim must be a single string"),
    ));
    add(Case::bearer(
        "roles nested 200 levels",
        signed(
            emu,
            header,
            &claims_with_raw(emu, "roles", &format!(r#""roles":{}"#, nested(200))),
        ),
        Invalid("roles claim must be an array"),
    ));
    add(Case::bearer(
        "payload nested 10,000 levels (over the size limit here)",
        signed(
            emu,
            header,
            &claims_with_raw(emu, "", &format!(r#""x":{}"#, nested(10_000))),
        ),
        Invalid("larger than"),
    ));

    cases
}

/// Cases: signature moved or damaged.
pub(super) fn signature_moved_or_damaged(cx: &Corpus<'_>) -> Vec<Case> {
    use Expect::*;
    let Corpus {
        emu, vh, vp, vs, ..
    } = cx;
    let mut cases: Vec<Case> = Vec::new();
    let mut add = |c: Case| cases.push(c);
    // --- signature moved or damaged ----------------------------------------------------------
    {
        let elevated = emu.token().roles(["Api.Admin", "Everything"]).sign();
        let (eh, ep, _) = segments(&elevated);
        add(Case::bearer(
            "valid signature moved onto another payload",
            format!("{eh}.{ep}.{vs}"),
            Invalid("signature is invalid"),
        ));
        let other = emu.token().x5t_only().sign();
        let (oh, _, _) = segments(&other);
        add(Case::bearer(
            "header of another valid token",
            format!("{oh}.{vp}.{vs}"),
            Invalid("signature is invalid"),
        ));
    }
    add(Case::bearer(
        "signature truncated by 4 characters",
        format!("{vh}.{vp}.{}", &vs[..vs.len() - 4]),
        Invalid("signature is invalid"),
    ));
    add(Case::bearer(
        "signature truncated by 1 character",
        format!("{vh}.{vp}.{}", &vs[..vs.len() - 1]),
        Invalid("signature is invalid"),
    ));
    add(Case::bearer(
        "signature of zero bytes (AAAA...)",
        format!("{vh}.{vp}.{}", "A".repeat(vs.len())),
        Invalid("signature is invalid"),
    ));
    add(Case::bearer(
        "signature with one character changed",
        {
            let mut s = vs.clone().into_bytes();
            s[10] = if s[10] == b'A' { b'B' } else { b'A' };
            format!("{vh}.{vp}.{}", String::from_utf8(s).unwrap())
        },
        Invalid("signature is invalid"),
    ));
    add(Case::bearer(
        "signature doubled",
        format!("{vh}.{vp}.{vs}{vs}"),
        Invalid("signature is invalid"),
    ));

    cases
}
