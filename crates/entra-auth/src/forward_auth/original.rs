//! The original request a proxy asks about: its method and path, read from the headers (or the
//! path) of that proxy's dialect, and the path normalized for the rules.
//!
//! Each endpoint reads one dialect only. Traefik passes a client's `X-Original-URI` through to
//! the auth service and nginx a client's `X-Forwarded-Uri`: reading "whichever is present" would
//! let a client choose the path the rules see.

use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderValue, Method, StatusCode, header};

/// Which proxy is asking, that is, where the original method and path are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// nginx `auth_request`: `X-Original-Method` and `X-Original-URI`, which the documented
    /// configuration sets (`$request_method`, `$request_uri`).
    Nginx,
    /// Traefik `ForwardAuth`: `X-Forwarded-Method` and `X-Forwarded-Uri` (and `X-Forwarded-Host`).
    Traefik,
    /// Envoy's HTTP `ext_authz`: the request's own method, and the original path appended to the
    /// service's `path_prefix` (this prefix is stripped).
    Envoy {
        /// The path prefix the original path follows.
        prefix: &'static str,
    },
}

/// The original request, as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Original {
    pub(crate) method: Method,
    /// Normalized: see [`normalize_path`].
    pub(crate) path: String,
    /// The raw query, if any (for a token in a query parameter, when configured).
    pub(crate) query: Option<String>,
    /// The original host, when the proxy says (Traefik's `X-Forwarded-Host`, Envoy's `Host`);
    /// for the logs only.
    pub(crate) host: Option<String>,
}

/// Why the original request cannot be known: answered with `400 invalid_request`. The
/// descriptions are fixed strings: nothing the caller sent is echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadOriginal {
    /// The proxy did not send this header.
    Missing(&'static str),
    /// The method header is not an HTTP method.
    Method,
    /// The URI is not a path (`/...`), or not UTF-8 once decoded, or has control characters.
    Uri,
    /// An encoded `/` or `\`, a `\`, or a `.` / `..` segment: servers disagree on what such a
    /// path names, so the rules cannot know which resource is asked for.
    Ambiguous,
}

impl BadOriginal {
    pub(crate) fn description(self) -> &'static str {
        match self {
            Self::Missing("X-Original-URI") => {
                "the X-Original-URI header is missing (nginx: proxy_set_header X-Original-URI $request_uri)"
            }
            Self::Missing("X-Original-Method") => {
                "the X-Original-Method header is missing (nginx: proxy_set_header X-Original-Method $request_method)"
            }
            Self::Missing("X-Forwarded-Uri") => "the X-Forwarded-Uri header is missing",
            Self::Missing("X-Forwarded-Method") => "the X-Forwarded-Method header is missing",
            Self::Missing(_) => "a header naming the original request is missing",
            Self::Method => "the original method is not an HTTP method",
            Self::Uri => "the original URI is not a valid path",
            Self::Ambiguous => {
                "the original path is ambiguous (an encoded slash or backslash, a backslash, or a . or .. segment)"
            }
        }
    }

    /// A stable code for the logs.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::Missing(_) => "missing_original",
            Self::Method => "invalid_original_method",
            Self::Uri => "invalid_original_uri",
            Self::Ambiguous => "ambiguous_original_path",
        }
    }
}

impl IntoResponse for BadOriginal {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": "invalid_request",
            "error_description": self.description(),
        });
        let mut response = (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// The original request of a forward-auth call in `dialect`.
pub(crate) fn read(dialect: Dialect, parts: &Parts) -> Result<Original, BadOriginal> {
    let headers = &parts.headers;
    let text = |name: &'static str| -> Result<&str, BadOriginal> {
        let mut values = headers.get_all(name).iter();
        let value = values.next().ok_or(BadOriginal::Missing(name))?;
        if values.next().is_some() {
            // Two values: which one did the proxy set?
            return Err(BadOriginal::Uri);
        }
        value.to_str().map_err(|_| BadOriginal::Uri)
    };
    let (method, uri, host) = match dialect {
        Dialect::Nginx => (
            method(text("X-Original-Method")?)?,
            text("X-Original-URI")?,
            None,
        ),
        Dialect::Traefik => (
            method(text("X-Forwarded-Method")?)?,
            text("X-Forwarded-Uri")?,
            text("X-Forwarded-Host").ok(),
        ),
        Dialect::Envoy { prefix } => {
            let path = parts.uri.path();
            let rest = path.strip_prefix(prefix).ok_or(BadOriginal::Uri)?;
            let rest = if rest.is_empty() { "/" } else { rest };
            if !rest.starts_with('/') {
                return Err(BadOriginal::Uri);
            }
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .or(parts.uri.host());
            let query = parts.uri.query().map(str::to_owned);
            return Ok(Original {
                method: parts.method.clone(),
                path: normalize_path(rest)?,
                query,
                host: host.map(str::to_owned),
            });
        }
    };
    let (path, query) = split_uri(uri);
    Ok(Original {
        method,
        path: normalize_path(path)?,
        query: query.map(str::to_owned),
        host: host.map(str::to_owned),
    })
}

fn method(text: &str) -> Result<Method, BadOriginal> {
    Method::from_bytes(text.trim().as_bytes()).map_err(|_| BadOriginal::Method)
}

/// The path and the query of a request target (a fragment, which no client should send, is
/// dropped).
fn split_uri(uri: &str) -> (&str, Option<&str>) {
    let uri = uri.split('#').next().unwrap_or_default();
    match uri.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (uri, None),
    }
}

/// The path the rules compare: percent-decoded, empty segments dropped (`//a` is `/a`), a
/// segment's `;` parameters dropped (`/admin;x=1` is `/admin`, as Java servers read it), no
/// trailing slash (`/` for the root). Refused ([`BadOriginal::Ambiguous`]): an encoded `/` or
/// `\` (`%2F`, `%5C`), a `\`, and `.` or `..` segments (also encoded): servers disagree on what
/// such a path names, so no rule can be sure to cover it. Not UTF-8 once decoded, control
/// characters, or not starting with `/`: [`BadOriginal::Uri`].
pub(crate) fn normalize_path(raw: &str) -> Result<String, BadOriginal> {
    if !raw.starts_with('/') {
        return Err(BadOriginal::Uri);
    }
    let lower = raw.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") {
        return Err(BadOriginal::Ambiguous);
    }
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| BadOriginal::Uri)?;
    if decoded.chars().any(char::is_control) {
        return Err(BadOriginal::Uri);
    }
    if decoded.contains('\\') {
        return Err(BadOriginal::Ambiguous);
    }
    let mut out = String::with_capacity(decoded.len());
    for segment in decoded.split('/') {
        let segment = segment.split(';').next().unwrap_or_default();
        match segment {
            "" => {}
            "." | ".." => return Err(BadOriginal::Ambiguous),
            _ => {
                out.push('/');
                out.push_str(segment);
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut request = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn paths_are_normalized() {
        for (raw, want) in [
            ("/", "/"),
            ("/admin", "/admin"),
            ("/admin/", "/admin"),
            ("//admin//users/", "/admin/users"),
            ("/%61dmin", "/admin"),
            ("/admin;jsessionid=1/x", "/admin/x"),
            ("/files/a%20b", "/files/a b"),
            ("/caf%C3%A9", "/café"),
            ("/a.b/..c/...", "/a.b/..c/..."),
        ] {
            assert_eq!(normalize_path(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn ambiguous_or_invalid_paths_are_refused() {
        for raw in [
            "/public/../admin",
            "/public/./x",
            "/public/%2e%2e/admin",
            "/public/%2E/admin",
            "/admin%2fx",
            "/admin%2Fx",
            "/admin%5cx",
            "/admin\\x",
            "/..",
            "/x/..;/admin",
        ] {
            assert_eq!(normalize_path(raw), Err(BadOriginal::Ambiguous), "{raw}");
        }
        for raw in [
            "",
            "admin",
            "*",
            "http://example.com/admin",
            "/%ff",
            "/a%0Ab",
            "/a%00",
        ] {
            assert_eq!(normalize_path(raw), Err(BadOriginal::Uri), "{raw}");
        }
    }

    #[test]
    fn nginx_reads_only_the_original_headers() {
        let p = parts(
            "GET",
            "/auth/nginx",
            &[
                ("x-original-method", "DELETE"),
                ("x-original-uri", "/admin/users?id=1"),
                ("x-forwarded-uri", "/public"),
            ],
        );
        let o = read(Dialect::Nginx, &p).unwrap();
        assert_eq!(o.method, Method::DELETE);
        assert_eq!(o.path, "/admin/users");
        assert_eq!(o.query.as_deref(), Some("id=1"));
        let p = parts("GET", "/auth/nginx", &[("x-forwarded-uri", "/public")]);
        assert_eq!(
            read(Dialect::Nginx, &p),
            Err(BadOriginal::Missing("X-Original-Method"))
        );
        let p = parts("GET", "/auth/nginx", &[("x-original-method", "GET")]);
        assert_eq!(
            read(Dialect::Nginx, &p),
            Err(BadOriginal::Missing("X-Original-URI"))
        );
        let p = parts(
            "GET",
            "/auth/nginx",
            &[("x-original-method", "G E T"), ("x-original-uri", "/")],
        );
        assert_eq!(read(Dialect::Nginx, &p), Err(BadOriginal::Method));
    }

    #[test]
    fn traefik_reads_only_the_forwarded_headers() {
        let p = parts(
            "GET",
            "/auth/traefik",
            &[
                ("x-forwarded-method", "POST"),
                ("x-forwarded-uri", "/files/1"),
                ("x-forwarded-host", "api.example.com"),
                ("x-forwarded-proto", "https"),
                ("x-original-uri", "/public"),
            ],
        );
        let o = read(Dialect::Traefik, &p).unwrap();
        assert_eq!(
            (o.method, o.path.as_str(), o.host.as_deref()),
            (Method::POST, "/files/1", Some("api.example.com"))
        );
        let p = parts(
            "GET",
            "/auth/traefik",
            &[("x-original-uri", "/public"), ("x-original-method", "GET")],
        );
        assert_eq!(
            read(Dialect::Traefik, &p),
            Err(BadOriginal::Missing("X-Forwarded-Method"))
        );
        let p = parts(
            "GET",
            "/auth/traefik",
            &[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/a"),
                ("x-forwarded-uri", "/b"),
            ],
        );
        assert_eq!(read(Dialect::Traefik, &p), Err(BadOriginal::Uri));
    }

    #[test]
    fn envoy_reads_the_path_after_the_prefix() {
        let envoy = Dialect::Envoy {
            prefix: "/auth/envoy",
        };
        let p = parts("PUT", "/auth/envoy/orders/7?x=1", &[("host", "shop")]);
        let o = read(envoy, &p).unwrap();
        assert_eq!(
            (
                o.method,
                o.path.as_str(),
                o.query.as_deref(),
                o.host.as_deref()
            ),
            (Method::PUT, "/orders/7", Some("x=1"), Some("shop"))
        );
        assert_eq!(
            read(envoy, &parts("GET", "/auth/envoy", &[])).unwrap().path,
            "/"
        );
        assert_eq!(
            read(envoy, &parts("GET", "/auth/envoy/", &[]))
                .unwrap()
                .path,
            "/"
        );
        assert_eq!(
            read(envoy, &parts("GET", "/auth/envoyx", &[])),
            Err(BadOriginal::Uri)
        );
        assert_eq!(
            read(envoy, &parts("GET", "/auth/envoy/a/%2e%2e/b", &[])),
            Err(BadOriginal::Ambiguous)
        );
    }
}
