//! `application/x-www-form-urlencoded` bodies and queries (decoded by `form_urlencoded`),
//! HTTP Basic client credentials, and percent-encoding of query values.

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// A decoded form: its name/value pairs in order.
#[derive(Debug, Default)]
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    /// Decode a body or query. Never fails: bad escapes stay as they are, bad UTF-8 becomes
    /// U+FFFD.
    pub(crate) fn parse(input: &[u8]) -> Form {
        Form(
            form_urlencoded::parse(input)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The longest value in the form, in bytes.
    pub(crate) fn longest_value(&self) -> usize {
        self.0.iter().map(|(_, v)| v.len()).max().unwrap_or(0)
    }

    /// The first value of `name`; `None` when it is absent or empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// The value of one query parameter (form-decoded); `None` when absent or empty.
pub(crate) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    Form::parse(query.unwrap_or_default().as_bytes())
        .get(name)
        .map(str::to_owned)
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 2.3.1).
pub(crate) struct BasicCredentials {
    pub(crate) client_id: String,
    pub(crate) secret: String,
}

impl BasicCredentials {
    /// The credentials of the `Authorization` header, if it is Basic and well formed.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Option<BasicCredentials> {
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, rest) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = STANDARD.decode(rest.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (id, secret) = text.split_once(':')?;
        Some(BasicCredentials {
            client_id: form_decode(id),
            secret: form_decode(secret),
        })
    }
}

/// One form-encoded component (`+` is a space). Unlike a whole form, a `=` or `&` in it is
/// data: clients that do not encode their secret send them as they are.
fn form_decode(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// What stays as it is in a query value: RFC 3986's unreserved characters.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encode a query value.
pub(crate) fn encode_query_value(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding_never_panics() {
        assert_eq!(
            Form::parse(b"a=b+c&d=%41%4&e=%&f=%zz&g").0,
            vec![
                ("a".into(), "b c".into()),
                ("d".into(), "A%4".into()),
                ("e".into(), "%".into()),
                ("f".into(), "%zz".into()),
                ("g".into(), String::new()),
            ]
        );
        assert_eq!(form_decode("%e2%82%ac"), "€");
        assert_eq!(form_decode("a=b&c+%2B"), "a=b&c +");
        let form = Form::parse(b"x=&x=1&y=2&y=3");
        assert_eq!((form.get("x"), form.get("y")), (None, Some("2")));
        assert_eq!(encode_query_value("a b/é~-_."), "a%20b%2F%C3%A9~-_.");
    }
}
