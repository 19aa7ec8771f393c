//! Where the token travels: the positive controls, the `Authorization` header itself, and the
//! places the token is not read from by default.

use super::*;

/// Cases: positive controls.
pub(super) fn positive_controls(cx: &Corpus<'_>) -> Vec<Case> {
    use Expect::*;
    let Corpus {
        emu,
        kid,
        claims,
        valid,
        ..
    } = cx;
    let mut cases: Vec<Case> = Vec::new();
    let mut add = |c: Case| cases.push(c);
    // Positive controls: the harness accepts what it must.
    add(Case::bearer(
        "control: valid token",
        valid.clone(),
        Accepted,
    ));
    add(Case::bearer(
        "control: valid token re-signed by the test's own RS256 signer",
        signed(emu, &rs256_header(kid).to_string(), claims),
        Accepted,
    ));
    add(Case::bearer(
        "control: x5t only",
        emu.token().x5t_only().sign(),
        Accepted,
    ));
    add(Case::bearer(
        "control: v1 token",
        emu.token().version(TokenVersion::V1).sign(),
        Accepted,
    ));
    add(Case::bearer("control: admin route", valid.clone(), Accepted).on("/admin"));
    add(Case::raw(
        "control: lower-case bearer scheme",
        vec![format!("bearer {valid}").into_bytes()],
        valid,
        Accepted,
    ));
    add(Case::raw(
        "control: upper-case BEARER scheme",
        vec![format!("BEARER {valid}").into_bytes()],
        valid,
        Accepted,
    ));

    cases
}

/// Cases: the Authorization header itself.
pub(super) fn the_authorization_header_itself(cx: &Corpus<'_>) -> Vec<Case> {
    use Expect::*;
    let Corpus { valid, .. } = cx;
    let mut cases: Vec<Case> = Vec::new();
    let mut add = |c: Case| cases.push(c);
    // --- the Authorization header itself -----------------------------------------------------
    let malformed = Invalid("Authorization header");
    for (name, value) in [
        ("Basic scheme", format!("Basic {valid}")),
        ("no space after Bearer", format!("Bearer{valid}")),
        ("empty token", "Bearer ".to_owned()),
        ("scheme only", "Bearer".to_owned()),
        ("only spaces after Bearer", "Bearer    ".to_owned()),
        ("two tokens", format!("Bearer {valid} {valid}")),
        ("token then junk", format!("Bearer {valid} x")),
        (
            "comma-separated credentials",
            format!("Bearer {valid}, Basic abc"),
        ),
        ("Token scheme", format!("Token {valid}")),
        ("Bearer= scheme", format!("Bearer={valid}")),
        ("tab as separator", format!("Bearer\t{valid}")),
        ("the token alone", valid.clone()),
    ] {
        add(Case::raw(
            format!("Authorization: {name}"),
            vec![value.into_bytes()],
            valid,
            malformed,
        ));
    }
    add(Case::raw(
        "Authorization: non-UTF-8 bytes",
        vec![[b"Bearer ".as_slice(), &[0xff, 0xfe, 0x80]].concat()],
        valid,
        malformed,
    ));
    add(Case::raw(
        "two Authorization headers, same token",
        vec![
            format!("Bearer {valid}").into_bytes(),
            format!("Bearer {valid}").into_bytes(),
        ],
        valid,
        malformed,
    ));
    add(Case::raw(
        "two Authorization headers, junk first",
        vec![
            b"Bearer junk".to_vec(),
            format!("Bearer {valid}").into_bytes(),
        ],
        valid,
        malformed,
    ));

    cases
}

/// Cases: other places the token is not read from by default.
pub(super) fn other_places_the_token_is_not_read_from(cx: &Corpus<'_>) -> Vec<Case> {
    use Expect::*;
    let Corpus { valid, .. } = cx;
    let mut cases: Vec<Case> = Vec::new();
    let mut add = |c: Case| cases.push(c);
    // --- other places the token is not read from by default ----------------------------------
    add(
        Case::raw("token in the query string", vec![], valid, NoToken)
            .query(format!("access_token={valid}")),
    );
    add(Case::raw("token in a cookie", vec![], valid, NoToken)
        .cookie(format!("access_token={valid}")));
    add(Case::raw(
        "token in the query string as `token`",
        vec![],
        valid,
        NoToken,
    )
    .query(format!("token={valid}")));
    cases
}
