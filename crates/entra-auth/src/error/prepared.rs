//! The layer's 401s, built once: the challenge and the body of each answer are fixed strings for
//! a given realm, so a rejection costs a clone of shared bytes, not a JSON document and a
//! formatted header per request (rejections are the path an attacker drives).

use std::sync::OnceLock;

use axum::body::{Body, Bytes};
use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::{AuthError, InvalidToken};

/// One prepared answer: what [`AuthError::to_response`] builds, kept as shared bytes (a clone
/// of the header map is cheaper than inserting its three headers one by one), with its
/// `content-length`: a clone has no spare room, and a server adding the length to it would
/// reallocate the map on every answer.
struct Prepared {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Prepared {
    fn of(error: &AuthError, realm: Option<&str>) -> Self {
        let (parts, body) = error.to_response(realm).into_parts();
        // The body is a small JSON document already in memory: this never waits.
        let body = collect_ready(body);
        let mut headers = parts.headers;
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        Self {
            status: parts.status,
            headers,
            body,
        }
    }

    fn response(&self) -> Response {
        let mut response = Response::new(Body::from(self.body.clone()));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers.clone();
        response
    }
}

/// The bytes of a body that is complete in memory (a `Full` body answers on its first poll).
fn collect_ready(body: Body) -> Bytes {
    use axum::body::HttpBody as _;
    let mut body = std::pin::pin!(body);
    let waker = std::task::Waker::noop();
    let mut context = std::task::Context::from_waker(waker);
    let mut bytes = Vec::new();
    while let std::task::Poll::Ready(Some(Ok(frame))) = body.as_mut().poll_frame(&mut context) {
        if let Ok(data) = frame.into_data() {
            bytes.extend_from_slice(&data);
        }
    }
    Bytes::from(bytes)
}

/// The prepared answers of one realm: the missing-token challenge, and each distinct answer an
/// [`InvalidToken`] can have, prepared on first use.
pub(crate) struct PreparedRejections {
    realm: Option<std::sync::Arc<str>>,
    missing_token: Prepared,
    invalid_token: [OnceLock<Prepared>; ANSWERS],
}

impl PreparedRejections {
    pub(crate) fn new(realm: Option<std::sync::Arc<str>>) -> Self {
        Self {
            missing_token: Prepared::of(&AuthError::MissingToken, realm.as_deref()),
            realm,
            invalid_token: [const { OnceLock::new() }; ANSWERS],
        }
    }

    /// The answer to `error`: prepared for a missing or invalid token, built for the others
    /// (their answers carry a time or a requirement).
    pub(crate) fn response(&self, error: &AuthError) -> Response {
        match error {
            AuthError::MissingToken => self.missing_token.response(),
            AuthError::InvalidToken(reason) => self.invalid_token[answer_index(reason)]
                .get_or_init(|| Prepared::of(error, self.realm.as_deref()))
                .response(),
            other => other.to_response(self.realm.as_deref()),
        }
    }
}

/// The claim names whose missing / invalid answers are prepared each on their own; any other
/// name shares one answer (its text does not name the claim).
const CLAIMS: [&str; 10] = [
    "aud", "iss", "exp", "nbf", "iat", "tid", "ver", "scp", "roles", "sub",
];
const ANSWERS: usize = InvalidToken::COUNT + 2 * (CLAIMS.len() + 1);

/// Which prepared answer `reason` gets: equal indexes, equal public descriptions. A missing or
/// invalid claim's answer names the claim: one slot per name after the reasons'.
fn answer_index(reason: &InvalidToken) -> usize {
    let claim = |name: &str| {
        CLAIMS
            .iter()
            .position(|c| *c == name)
            .unwrap_or(CLAIMS.len())
    };
    match reason {
        InvalidToken::MissingClaim(name) => InvalidToken::COUNT + claim(name),
        InvalidToken::InvalidClaim(name) => InvalidToken::COUNT + CLAIMS.len() + 1 + claim(name),
        other => other.index(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_reason() -> Vec<InvalidToken> {
        let names: Vec<&'static str> = CLAIMS
            .iter()
            .copied()
            .chain(["oid", "azp", "other"])
            .collect();
        InvalidToken::every_reason(&names)
    }

    #[test]
    fn equal_indexes_have_equal_answers_and_every_index_fits() {
        let mut seen: Vec<Option<&str>> = vec![None; ANSWERS];
        for reason in every_reason() {
            let index = answer_index(&reason);
            assert!(index < ANSWERS, "{reason:?}");
            let text = reason.public_description();
            match seen[index] {
                Some(earlier) => assert_eq!(earlier, text, "{reason:?}"),
                None => seen[index] = Some(text),
            }
        }
    }

    #[test]
    fn prepared_answers_equal_built_ones() {
        for realm in [None, Some("contoso-api")] {
            let prepared = PreparedRejections::new(realm.map(Into::into));
            let mut errors: Vec<AuthError> = every_reason().into_iter().map(Into::into).collect();
            errors.push(AuthError::MissingToken);
            for error in errors {
                // Twice: the first answer prepares, the second reuses.
                for _ in 0..2 {
                    let mut got = prepared.response(&error);
                    let want = error.to_response(realm);
                    assert_eq!(got.status(), want.status(), "{error:?}");
                    let length = got.headers_mut().remove(header::CONTENT_LENGTH);
                    assert_eq!(got.headers(), want.headers(), "{error:?}");
                    let body = collect_ready(got.into_body());
                    assert_eq!(body, collect_ready(want.into_body()), "{error:?}");
                    assert_eq!(length, Some(HeaderValue::from(body.len())), "{error:?}");
                }
            }
        }
    }
}
