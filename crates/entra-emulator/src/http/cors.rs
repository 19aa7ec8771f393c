//! CORS on the token endpoint, with tower-http's `CorsLayer`: a browser may call it from the
//! origin of a redirect URI registered on the `spa` platform, and from no other origin (as
//! Entra answers a SPA's cross-origin code redemption and refresh).

use axum::http::{HeaderValue, Method, header, request::Parts};
use axum::response::Response;
use axum::routing::MethodRouter;
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::Shared;
use crate::directory::Platform;
use crate::state::read;

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE_SECS: u64 = 86400;

/// `route` with CORS for the origins of spa redirect URIs.
pub(crate) fn token_endpoint(state: &Shared, route: MethodRouter<Shared>) -> MethodRouter<Shared> {
    let state = state.clone();
    let allow = AllowOrigin::predicate(move |origin: &HeaderValue, _: &Parts| {
        origin
            .to_str()
            .is_ok_and(|origin| is_spa_origin(&state, origin))
    });
    let cors = CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::HeaderName::from_static("client-request-id"),
            header::HeaderName::from_static("x-client-sku"),
            header::HeaderName::from_static("x-client-ver"),
            header::HeaderName::from_static("x-client-os"),
            header::HeaderName::from_static("x-client-cpu"),
            header::HeaderName::from_static("x-ms-lib-capability"),
            header::HeaderName::from_static("return-client-request-id"),
            // MSAL.js: the account's routing hint on silent token requests, and server
            // telemetry.
            header::HeaderName::from_static("x-anchormailbox"),
            header::HeaderName::from_static("x-client-current-telemetry"),
            header::HeaderName::from_static("x-client-last-telemetry"),
            header::HeaderName::from_static("x-app-name"),
            header::HeaderName::from_static("x-app-ver"),
        ])
        .expose_headers([header::HeaderName::from_static("client-request-id")])
        .max_age(std::time::Duration::from_secs(PREFLIGHT_MAX_AGE_SECS));
    // The JSON answers carry `Access-Control-Allow-Origin: *` for the metadata endpoints; here
    // the CORS layer alone decides.
    route
        .layer::<_, std::convert::Infallible>(axum::middleware::map_response(strip_allow_origin))
        .layer::<_, std::convert::Infallible>(cors)
}

/// CORS for any origin, as Graph and the userinfo endpoint answer: a single-page app calls them
/// from the browser with its bearer token (no cookies), so the preflight for `Authorization`
/// must pass, and the challenge of a refusal must be readable.
pub(crate) fn any_origin(route: MethodRouter<Shared>, methods: &[Method]) -> MethodRouter<Shared> {
    let cors = CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods(methods.to_vec())
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("client-request-id"),
        ])
        .expose_headers([
            header::WWW_AUTHENTICATE,
            header::HeaderName::from_static("client-request-id"),
            header::HeaderName::from_static("request-id"),
        ])
        .max_age(std::time::Duration::from_secs(PREFLIGHT_MAX_AGE_SECS));
    route
        .layer::<_, std::convert::Infallible>(axum::middleware::map_response(strip_allow_origin))
        .layer::<_, std::convert::Infallible>(cors)
}

/// `json_response` sets `Access-Control-Allow-Origin: *` for the metadata endpoints; where a
/// CORS layer decides, this clears it first.
async fn strip_allow_origin(mut response: Response) -> Response {
    response
        .headers_mut()
        .remove(header::ACCESS_CONTROL_ALLOW_ORIGIN);
    response
}

/// Is `origin` (`scheme://host[:port]`) the origin of a spa redirect URI of any tenant?
fn is_spa_origin(state: &Shared, origin: &str) -> bool {
    let directory = read(&state.directory);
    directory.tenants().any(|(_, tenant)| {
        tenant.apps().any(|app| {
            app.redirect_uris(Platform::Spa)
                .iter()
                .any(|uri| origin_of(uri).is_some_and(|o| o.eq_ignore_ascii_case(origin)))
        })
    })
}

/// The origin of an absolute URI: its scheme and authority.
fn origin_of(uri: &str) -> Option<&str> {
    let scheme_end = uri.find("://")? + 3;
    let end = uri[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(uri.len(), |i| scheme_end + i);
    Some(&uri[..end])
}

#[cfg(test)]
mod tests {
    use super::origin_of;

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("http://localhost:3000/"),
            Some("http://localhost:3000")
        );
        assert_eq!(
            origin_of("https://app.example/cb?x=1"),
            Some("https://app.example")
        );
        assert_eq!(
            origin_of("https://app.example"),
            Some("https://app.example")
        );
        assert_eq!(origin_of("msal1234://auth"), Some("msal1234://auth"));
        assert_eq!(origin_of("not a uri"), None);
    }
}
