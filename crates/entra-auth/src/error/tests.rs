//! Unit tests of the error mapping: statuses, challenges, the uniform signature answer.

use super::*;

#[test]
fn missing_token_is_bare_challenge_with_realm() {
    let r = AuthError::MissingToken.to_response(Some("api"));
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers()[header::WWW_AUTHENTICATE],
        "Bearer realm=\"api\""
    );
    let r = AuthError::MissingToken.to_response(None);
    assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
}

#[test]
fn invalid_token_challenge() {
    let r = AuthError::from(InvalidToken::Expired).to_response(None);
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers()[header::WWW_AUTHENTICATE],
        "Bearer error=\"invalid_token\", error_description=\"the token is expired\""
    );
}

#[test]
fn insufficient_scope_has_scope_hint() {
    let e = AuthError::InsufficientScope {
        description: "requires \"x\"".into(),
        scope_hint: "Files.Read".into(),
    };
    let r = e.to_response(None);
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let h = r.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(h.contains("error=\"insufficient_scope\""), "{h}");
    assert!(h.contains("scope=\"Files.Read\""), "{h}");
    assert!(h.contains("requires \\\"x\\\""), "{h}");
}

#[test]
fn keys_unavailable_is_503_with_retry_after() {
    let e = AuthError::KeysUnavailable {
        reason: KeysUnavailableReason::Stale,
        retry_after: Duration::from_secs(7),
    };
    let r = e.to_response(None);
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()[header::RETRY_AFTER], "7");
    assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none());
}

#[test]
fn tenant_and_key_rejections_look_like_a_bad_signature() {
    let answer = |reason: InvalidToken| {
        let r = AuthError::from(reason).to_response(Some("api"));
        let challenge = r.headers()[header::WWW_AUTHENTICATE].clone();
        (r.status(), challenge, r.headers().len())
    };
    let bad_signature = answer(InvalidToken::BadSignature);
    assert_eq!(answer(InvalidToken::TenantNotAllowed), bad_signature);
    assert_eq!(answer(InvalidToken::UnknownSigningKey), bad_signature);
    assert_ne!(answer(InvalidToken::Expired), bad_signature);
    // The precise reason is kept for the application and the logs.
    assert_ne!(
        InvalidToken::TenantNotAllowed.code(),
        InvalidToken::BadSignature.code()
    );
}

#[test]
fn quote_strips_controls() {
    assert_eq!(quote("a\r\nb\"c\\é"), "ab\\\"c\\\\");
}
