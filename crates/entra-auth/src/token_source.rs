//! Finding the bearer token in a request: the `Authorization` header, and only when configured
//! a query parameter or a cookie; exactly one of them.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, header};

use crate::claims::{BearerToken, TokenText};
use crate::config::TokenSources;
use crate::error::InvalidToken;

/// Finds the bearer token: the `Authorization` header (scheme matched case-insensitively),
/// and, only when configured, a query parameter or a cookie. More than one place, more than one
/// header, or a header that is not a single `Bearer <token>` is an error.
pub(crate) fn extract_token<'a>(
    headers: &'a HeaderMap,
    query: Option<&str>,
    sources: &TokenSources,
) -> Result<Option<Presented<'a>>, InvalidToken> {
    let mut found: Option<Presented<'a>> = None;
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    if let Some(value) = values.next() {
        if values.next().is_some() {
            return Err(InvalidToken::MalformedAuthorization);
        }
        let bytes = value.as_bytes();
        let scheme_end = bytes
            .iter()
            .position(|b| *b == b' ')
            .ok_or(InvalidToken::MalformedAuthorization)?;
        if !bytes[..scheme_end].eq_ignore_ascii_case(b"bearer") {
            return Err(InvalidToken::MalformedAuthorization);
        }
        let start = scheme_end
            + bytes[scheme_end..]
                .iter()
                .take_while(|b| **b == b' ')
                .count();
        let end = bytes.len()
            - bytes[start..]
                .iter()
                .rev()
                .take_while(|b| **b == b' ')
                .count();
        // The token's characters are checked later: a verified-token cache hit is an exact
        // match with a token that passed every check, and on a miss the layer requires UTF-8,
        // ASCII, a single credential, then the validator strict base64url segments.
        let token = bytes.get(start..end).unwrap_or_default();
        if token.is_empty() {
            return Err(InvalidToken::MalformedAuthorization);
        }
        found = Some(Presented::Header { value, start, end });
    }
    if let (Some(name), Some(query)) = (&sources.query_parameter, query) {
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if key == name.as_str() {
                if found.is_some() || value.is_empty() {
                    return Err(InvalidToken::MalformedAuthorization);
                }
                found = Some(Presented::Copied(Arc::from(value.as_ref())));
            }
        }
    }
    if let Some(name) = &sources.cookie {
        for value in headers.get_all(header::COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            for pair in text.split(';') {
                if let Some((k, v)) = pair.trim().split_once('=')
                    && k == name
                {
                    if found.is_some() || v.is_empty() {
                        return Err(InvalidToken::MalformedAuthorization);
                    }
                    found = Some(Presented::Copied(Arc::from(v)));
                }
            }
        }
    }
    Ok(found)
}

/// A bearer token found in a request: borrowed from its `Authorization` header (a cache hit never
/// copies it; an accepted token is copied once, into its claims), or copied from a query
/// parameter or cookie.
pub(crate) enum Presented<'a> {
    Header {
        value: &'a HeaderValue,
        start: usize,
        end: usize,
    },
    Copied(Arc<str>),
}

impl Presented<'_> {
    /// The token's bytes, as received (not checked to be UTF-8).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Presented::Header { value, start, end } => {
                value.as_bytes().get(*start..*end).unwrap_or_default()
            }
            Presented::Copied(text) => text.as_bytes(),
        }
    }

    /// The token, for work that outlives the request's headers (a validation waiting for keys).
    /// Shares the header's bytes: no copy.
    pub(crate) fn into_token(self) -> BearerToken {
        BearerToken(match self {
            Presented::Header { value, start, end } => TokenText::Header {
                value: value.clone(),
                start,
                end,
            },
            Presented::Copied(text) => TokenText::Owned(text),
        })
    }
}

/// The presented token as text, if it can be one credential: UTF-8, ASCII, and without a
/// space, a tab or a comma (a header holding more than one credential is reported as such, not
/// as a malformed token). A verified token never has those bytes, so a verified-token cache hit
/// needs no such check; everything else does, before any parsing.
pub(crate) fn credential_text(token: &[u8]) -> Result<&str, InvalidToken> {
    match std::str::from_utf8(token) {
        Ok(text) if is_one_ascii_credential(text.as_bytes()) => Ok(text),
        _ => Err(InvalidToken::MalformedAuthorization),
    }
}

/// This runs on every token that is not a cache hit: a real one (1-2 KB) is scanned with SIMD
/// (`is_ascii` by words, `memchr3`), a short one in one plain pass, which is cheaper than
/// setting those up.
fn is_one_ascii_credential(token: &[u8]) -> bool {
    if token.len() >= 128 {
        return token.is_ascii() && memchr::memchr3(b' ', b'\t', b',', token).is_none();
    }
    !token
        .iter()
        .any(|&b| b >= 0x80 || b == b' ' || b == b'\t' || b == b',')
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(values: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in values {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn text(
        found: Result<Option<Presented<'_>>, InvalidToken>,
    ) -> Result<Option<String>, InvalidToken> {
        found.map(|t| t.map(|t| t.into_token().as_str().to_owned()))
    }

    #[test]
    fn authorization_header_variants() {
        let none = TokenSources::default();
        let get = |h: &[(&str, &str)]| text(extract_token(&headers(h), None, &none));
        assert_eq!(
            get(&[("authorization", "Bearer abc")]).unwrap().as_deref(),
            Some("abc")
        );
        assert_eq!(
            get(&[("authorization", "bearer abc")]).unwrap().as_deref(),
            Some("abc")
        );
        assert_eq!(
            get(&[("authorization", "BEARER  abc")]).unwrap().as_deref(),
            Some("abc")
        );
        assert_eq!(get(&[]).unwrap(), None);
        for bad in ["Basic abc", "Bearerabc", "Bearer", "Bearer ", "Token abc"] {
            assert_eq!(
                get(&[("authorization", bad)]),
                Err(InvalidToken::MalformedAuthorization),
                "{bad}"
            );
        }
        assert_eq!(
            get(&[("authorization", "Bearer a"), ("authorization", "Bearer b")]),
            Err(InvalidToken::MalformedAuthorization)
        );
    }

    #[test]
    fn one_ascii_credential_short_and_long() {
        let long = "a".repeat(300);
        for good in ["abc.def.ghi", long.as_str()] {
            assert_eq!(credential_text(good.as_bytes()), Ok(good));
        }
        for bad in [
            "a b",
            "a,b",
            "a\tb",
            "é",
            &format!("{long} x"),
            &format!("{long},x"),
            &format!("{long}é"),
        ] {
            assert_eq!(
                credential_text(bad.as_bytes()),
                Err(InvalidToken::MalformedAuthorization),
                "{bad}"
            );
        }
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer ab\xffcd").unwrap(),
        );
        let token = extract_token(&h, None, &TokenSources::default())
            .unwrap()
            .unwrap();
        assert_eq!(
            credential_text(token.as_bytes()),
            Err(InvalidToken::MalformedAuthorization)
        );
    }

    #[test]
    fn query_and_cookie_only_when_configured() {
        let none = TokenSources::default();
        let h = headers(&[("cookie", "a=1; tok=xyz")]);
        assert_eq!(
            text(extract_token(&h, Some("access_token=q"), &none)).unwrap(),
            None
        );
        let sources = TokenSources {
            query_parameter: Some("access_token".into()),
            cookie: Some("tok".into()),
        };
        assert_eq!(
            text(extract_token(
                &HeaderMap::new(),
                Some("access_token=q"),
                &sources
            ))
            .unwrap()
            .as_deref(),
            Some("q")
        );
        assert_eq!(
            text(extract_token(&h, None, &sources)).unwrap().as_deref(),
            Some("xyz")
        );
        assert_eq!(
            text(extract_token(&h, Some("access_token=q"), &sources)),
            Err(InvalidToken::MalformedAuthorization)
        );
    }
}
