//! User sign-in over real HTTP: the authorize endpoint, the sign-in and consent pages and the
//! session cookie ([`authorize`]), the authorization code grant ([`code`]), refresh tokens
//! ([`refresh`]), CORS on the token endpoint ([`cors`]), the device code flow ([`device`]),
//! on-behalf-of ([`obo`]), and what a signed-in user does next: logout, userinfo and Graph's
//! `/v1.0/me` ([`session`]); and the helpers they share, which play the browser (no redirects
//! followed, no JavaScript: GET the page, POST its form, the session cookie carried by hand)
//! and the client.

mod authorize;
mod code;
mod cors;
mod device;
mod obo;
mod refresh;
mod session;

use std::collections::HashMap;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entra_core::ManualClock;
use entra_emulator::*;
use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::Value;

use crate::common::*;

/// The dev SPA's spa redirect URI, and its origin.
pub(crate) const SPA_REDIRECT: &str = "http://localhost:3000/";
pub(crate) const SPA_ORIGIN: &str = "http://localhost:3000";

/// The dev SPA's public client redirect URI `http://localhost`, on a port of the CLI's choosing.
pub(crate) const CLI_REDIRECT: &str = "http://localhost:8400";

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "entra_emulator_session";

pub(crate) fn files_read() -> String {
    format!("api://{DEV_API_CLIENT_ID}/Files.Read")
}

/// The scope a SPA asks: the API's `Files.Read`, an ID token and a refresh token.
pub(crate) fn full_scope() -> String {
    format!("{} openid profile offline_access", files_read())
}

/// What `Files.Read` on the dev API `upn` has not consented to for the dev SPA (dev tenant).
pub(crate) fn files_read_consent_missing(emu: &Emulator, upn: &str) -> Vec<String> {
    emu.missing_consent(
        DEV_TENANT_ID,
        upn,
        DEV_SPA_CLIENT_ID,
        DEV_API_CLIENT_ID,
        &["Files.Read"],
    )
}

/// A PKCE verifier and its S256 challenge, computed here (RFC 7636, 4.2).
pub(crate) struct Pkce {
    pub(crate) verifier: String,
    pub(crate) challenge: String,
}

pub(crate) fn pkce() -> Pkce {
    let verifier = format!("{}-{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let challenge =
        URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()).as_ref());
    Pkce {
        verifier,
        challenge,
    }
}

/// A browser: no redirects followed (each hop is looked at), no cookie jar (the session
/// cookie is sent by hand).
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The parameters of an authorization request, to add to or override.
#[derive(Clone)]
pub(crate) struct AuthRequest {
    pub(crate) tenant: String,
    pub(crate) params: Vec<(String, String)>,
}

impl AuthRequest {
    /// The dev SPA on its spa redirect URI: code, PKCE S256, `Files.Read` + OpenID + refresh.
    pub(crate) fn spa(pkce: &Pkce) -> AuthRequest {
        AuthRequest::new(DEV_SPA_CLIENT_ID, SPA_REDIRECT, &full_scope()).pkce(pkce)
    }

    /// The dev SPA as a public client (a CLI) on a loopback redirect URI with a port.
    pub(crate) fn cli(pkce: &Pkce) -> AuthRequest {
        AuthRequest::new(DEV_SPA_CLIENT_ID, CLI_REDIRECT, &full_scope()).pkce(pkce)
    }

    /// A request to the dev tenant without PKCE.
    pub(crate) fn new(client_id: &str, redirect_uri: &str, scope: &str) -> AuthRequest {
        AuthRequest {
            tenant: DEV_TENANT_ID.to_owned(),
            params: vec![
                ("client_id".into(), client_id.into()),
                ("response_type".into(), "code".into()),
                ("redirect_uri".into(), redirect_uri.into()),
                ("scope".into(), scope.into()),
                ("state".into(), "st-1".into()),
            ],
        }
    }

    pub(crate) fn tenant(mut self, tenant: &str) -> AuthRequest {
        self.tenant = tenant.to_owned();
        self
    }

    pub(crate) fn pkce(self, pkce: &Pkce) -> AuthRequest {
        self.set("code_challenge", &pkce.challenge)
            .set("code_challenge_method", "S256")
    }

    /// Set (or replace) a parameter.
    pub(crate) fn set(mut self, name: &str, value: &str) -> AuthRequest {
        self.params.retain(|(k, _)| k != name);
        self.params.push((name.to_owned(), value.to_owned()));
        self
    }

    pub(crate) fn remove(mut self, name: &str) -> AuthRequest {
        self.params.retain(|(k, _)| k != name);
        self
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn url(&self, emu: &Emulator) -> String {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.params)
            .finish();
        format!("{}?{query}", v2_url(emu, &self.tenant, "authorize"))
    }

    /// `GET` the authorize endpoint, with the session cookie when given.
    pub(crate) async fn send(&self, emu: &Emulator, cookie: Option<&str>) -> reqwest::Response {
        with_cookie(browser().get(self.url(emu)), cookie)
            .send()
            .await
            .unwrap()
    }
}

/// The session cookie on a request, when given.
fn with_cookie(req: reqwest::RequestBuilder, cookie: Option<&str>) -> reqwest::RequestBuilder {
    match cookie {
        Some(c) => req.header("cookie", format!("{SESSION_COOKIE}={c}")),
        None => req,
    }
}

/// The session cookie a response sets (its value), if any.
pub(crate) fn set_session_cookie(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let first = v.split(';').next()?;
            let (name, value) = first.split_once('=')?;
            (name.trim() == SESSION_COOKIE).then(|| value.to_owned())
        })
}

/// An HTML page: 200-ish, `text/html`; its body.
pub(crate) async fn html(resp: reqwest::Response, status: u16) -> String {
    assert_eq!(resp.status().as_u16(), status, "page status");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{:?}",
        resp.headers()
    );
    assert!(resp.headers().get("location").is_none());
    resp.text().await.unwrap()
}

/// Undo the pages' HTML escaping of attribute values.
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Every `name="{name}" value="..."` of a page, in document order.
pub(crate) fn input_values(page: &str, name: &str) -> Vec<String> {
    let needle = format!("name=\"{name}\" value=\"");
    page.match_indices(&needle)
        .map(|(i, _)| {
            let rest = &page[i + needle.len()..];
            unescape(&rest[..rest.find('"').expect("closing quote")])
        })
        .collect()
}

/// The first input named `name`.
pub(crate) fn input_value(page: &str, name: &str) -> String {
    input_values(page, name)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no input {name} in {page}"))
}

/// The `action` of the page's first form.
pub(crate) fn form_action(page: &str) -> String {
    let needle = "action=\"";
    let i = page.find(needle).expect("a form") + needle.len();
    unescape(&page[i..i + page[i..].find('"').unwrap()])
}

/// Answer the sign-in page as `upn` (with a password when given).
pub(crate) async fn submit_sign_in(
    emu: &Emulator,
    page: &str,
    upn: &str,
    password: Option<&str>,
) -> reqwest::Response {
    assert!(
        input_values(page, "user").iter().any(|u| u == upn),
        "{upn} is not on the page: {page}"
    );
    let flow = input_value(page, "flow");
    let mut form = vec![("flow", flow.as_str()), ("user", upn)];
    if let Some(p) = password {
        form.push(("password", p));
    }
    browser()
        .post(format!("{}{}", emu.base_url(), form_action(page)))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Answer the consent page: `accept` or `cancel`.
pub(crate) async fn submit_consent(
    emu: &Emulator,
    page: &str,
    decision: &str,
    cookie: Option<&str>,
) -> reqwest::Response {
    let flow = input_value(page, "flow");
    let action = form_action(page);
    assert!(action.ends_with("/consent"), "{action}");
    with_cookie(
        browser().post(format!("{}{action}", emu.base_url())),
        cookie,
    )
    .form(&[("flow", flow.as_str()), ("decision", decision)])
    .send()
    .await
    .unwrap()
}

/// A 302 to `redirect_uri` with the answer in the query: the answer's parameters.
pub(crate) fn redirected_query(
    resp: &reqwest::Response,
    redirect_uri: &str,
) -> HashMap<String, String> {
    assert_eq!(resp.status().as_u16(), 302, "{resp:?}");
    let location = resp.headers()["location"].to_str().unwrap();
    let (base, query) = location.split_once('?').expect("a query");
    assert_eq!(base, redirect_uri, "{location}");
    assert!(!location.contains('#'), "{location}");
    parse_pairs(query)
}

/// A 302 to `redirect_uri` with the answer in the fragment.
pub(crate) fn redirected_fragment(
    resp: &reqwest::Response,
    redirect_uri: &str,
) -> HashMap<String, String> {
    assert_eq!(resp.status().as_u16(), 302, "{resp:?}");
    let location = resp.headers()["location"].to_str().unwrap();
    let (base, fragment) = location.split_once('#').expect("a fragment");
    assert_eq!(base, redirect_uri, "{location}");
    parse_pairs(fragment)
}

fn parse_pairs(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in form_urlencoded::parse(s.as_bytes()) {
        assert!(
            out.insert(k.to_string(), v.to_string()).is_none(),
            "{k} twice"
        );
    }
    out
}

/// An error sent to the redirect URI (query mode): `error`, `error_description` starting
/// with the AADSTS code, `state` echoed.
pub(crate) fn assert_redirected_error(
    resp: &reqwest::Response,
    redirect_uri: &str,
    error: &str,
    code: u64,
    state: Option<&str>,
) {
    let p = redirected_query(resp, redirect_uri);
    assert_eq!(p.get("error").map(String::as_str), Some(error), "{p:?}");
    let desc = &p["error_description"];
    assert!(desc.starts_with(&format!("AADSTS{code}: ")), "{desc}");
    assert_eq!(p.get("state").map(String::as_str), state, "{p:?}");
    assert!(!p.contains_key("code"), "{p:?}");
}

/// An error shown on a page (not sent to the redirect URI).
pub(crate) async fn assert_error_page(resp: reqwest::Response, status: u16, code: u64) -> String {
    let page = html(resp, status).await;
    assert!(page.contains(&format!("AADSTS{code}")), "{page}");
    assert!(page.contains("role=\"alert\""), "{page}");
    page
}

/// What the browser holds after a successful sign-in.
pub(crate) struct SignedIn {
    pub(crate) code: String,
    pub(crate) state: Option<String>,
    pub(crate) session_state: String,
    /// The session cookie.
    pub(crate) cookie: String,
}

/// Send the request, sign in on the page as `upn` (with the password when they have one) and
/// return the code from the redirect (query mode). The tenant must consent without a page.
pub(crate) async fn sign_in(emu: &Emulator, request: &AuthRequest, upn: &str) -> SignedIn {
    let page = html(request.send(emu, None).await, 200).await;
    let password = (upn.eq_ignore_ascii_case(DEV_USER_UPN)).then_some(DEV_USER_PASSWORD);
    let resp = submit_sign_in(emu, &page, upn, password).await;
    let cookie = set_session_cookie(&resp).expect("a session cookie");
    let redirect = request.get("redirect_uri").unwrap();
    let p = redirected_query(&resp, redirect);
    SignedIn {
        code: p.get("code").cloned().unwrap_or_else(|| panic!("{p:?}")),
        state: p.get("state").cloned(),
        session_state: p["session_state"].clone(),
        cookie,
    }
}

/// With a session, the code comes straight back (no page).
pub(crate) async fn code_with_session(
    emu: &Emulator,
    request: &AuthRequest,
    cookie: &str,
) -> String {
    let resp = request.send(emu, Some(cookie)).await;
    let p = redirected_query(&resp, request.get("redirect_uri").unwrap());
    p.get("code").cloned().unwrap_or_else(|| panic!("{p:?}"))
}

/// Redeem a code at the dev tenant's v2 token endpoint, with an `Origin` header when given.
pub(crate) async fn redeem(
    emu: &Emulator,
    client_id: &str,
    code: &str,
    redirect_uri: &str,
    verifier: Option<&str>,
    origin: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("client_id", client_id),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    token_post(emu, &form, origin).await
}

/// Redeem a code of the dev SPA on its spa redirect URI, cross-origin from the SPA, with the
/// PKCE verifier.
pub(crate) async fn redeem_spa(emu: &Emulator, code: &str, pkce: &Pkce) -> reqwest::Response {
    redeem(
        emu,
        DEV_SPA_CLIENT_ID,
        code,
        SPA_REDIRECT,
        Some(&pkce.verifier),
        Some(SPA_ORIGIN),
    )
    .await
}

/// Redeem a code of the dev SPA as a public client on [`CLI_REDIRECT`] (no `Origin`), with the
/// PKCE verifier.
pub(crate) async fn redeem_cli(emu: &Emulator, code: &str, pkce: &Pkce) -> reqwest::Response {
    redeem(
        emu,
        DEV_SPA_CLIENT_ID,
        code,
        CLI_REDIRECT,
        Some(&pkce.verifier),
        None,
    )
    .await
}

/// Redeem a refresh token for the dev SPA.
pub(crate) async fn refresh(
    emu: &Emulator,
    refresh_token: &str,
    origin: Option<&str>,
) -> reqwest::Response {
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", DEV_SPA_CLIENT_ID),
        ("refresh_token", refresh_token),
    ];
    token_post(emu, &form, origin).await
}

pub(crate) async fn token_post(
    emu: &Emulator,
    form: &[(&str, &str)],
    origin: Option<&str>,
) -> reqwest::Response {
    let mut req = browser()
        .post(emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V2))
        .form(form);
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    req.send().await.unwrap()
}

/// A successful token response's JSON.
pub(crate) async fn tokens(resp: reqwest::Response) -> Value {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// The whole way for the dev SPA on its spa redirect URI: sign in as Adele, redeem the code
/// cross-origin; the token response.
pub(crate) async fn spa_tokens(emu: &Emulator) -> Value {
    let pkce = pkce();
    let signed = sign_in(emu, &AuthRequest::spa(&pkce), DEV_USER_UPN).await;
    let resp = redeem_spa(emu, &signed.code, &pkce).await;
    tokens(resp).await
}

/// The same for the public client redirect URI (no `Origin`), as `upn`.
pub(crate) async fn cli_tokens(emu: &Emulator, upn: &str) -> Value {
    let pkce = pkce();
    let signed = sign_in(emu, &AuthRequest::cli(&pkce), upn).await;
    let resp = redeem_cli(emu, &signed.code, &pkce).await;
    tokens(resp).await
}

/// A token response of the dev SPA, verified against the dev tenant's v2 key set: the claims of
/// its access token (for the dev API) and of its ID token (for the SPA).
pub(crate) async fn verified_spa_tokens(emu: &Emulator, body: &Value) -> (Value, Value) {
    let keys = dev_jwks(emu).await;
    let issuer = emu.issuer_v2(DEV_TENANT_ID);
    let at = body["access_token"].as_str().unwrap();
    let access = verify_with_jwks(at, &keys, DEV_API_CLIENT_ID, &issuer).unwrap();
    let id = body["id_token"].as_str().unwrap();
    let id = verify_with_jwks(id, &keys, DEV_SPA_CLIENT_ID, &issuer).unwrap();
    (access, id)
}

/// The v2 key set of the dev tenant.
pub(crate) async fn dev_jwks(emu: &Emulator) -> Value {
    get_json(&emu.jwks_uri(DEV_TENANT_ID, TokenVersion::V2)).await
}

pub(crate) const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A PKCE `plain` challenge (43 characters), for authorize requests of the public client.
pub(crate) const PLAIN_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// `url` with these query parameters, form-encoded.
pub(crate) fn with_query(url: &str, query: &[(&str, &str)]) -> reqwest::Url {
    let mut url = reqwest::Url::parse(url).unwrap();
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    url
}

/// An emulator whose clock stands still at the current time until the test moves it.
pub(crate) async fn clocked() -> (Emulator, ManualClock) {
    let clock = ManualClock::starting_now();
    let emu = Emulator::builder()
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    (emu, clock)
}

/// An emulator that signs `upn` in without showing the sign-in page.
pub(crate) async fn auto_signing_in(upn: &str) -> Emulator {
    Emulator::builder().auto_sign_in(upn).start().await.unwrap()
}

/// `{base}/{tenant}/oauth2/v2.0/{rest}`.
pub(crate) fn v2_url(emu: &Emulator, tenant: &str, rest: &str) -> String {
    format!("{}/{tenant}/oauth2/v2.0/{rest}", emu.base_url())
}

pub(crate) fn device_login_url(emu: &Emulator) -> String {
    format!("{}/devicelogin", emu.base_url())
}

pub(crate) async fn request_device_code(
    emu: &Emulator,
    tenant: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    browser()
        .post(v2_url(emu, tenant, "devicecode"))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// A device code for `client_id` and `scope` in the dev tenant: the JSON answer.
pub(crate) async fn start_device(emu: &Emulator, client_id: &str, scope: &str) -> Value {
    let resp = request_device_code(
        emu,
        DEV_TENANT_ID,
        &[("client_id", client_id), ("scope", scope)],
    )
    .await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// One poll of the device code grant by `client_id` (extra form fields after).
pub(crate) async fn poll_with(
    emu: &Emulator,
    device_code: &str,
    client_id: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", DEVICE_GRANT),
        ("client_id", client_id),
        ("device_code", device_code),
    ];
    form.extend_from_slice(extra);
    token_post(emu, &form, None).await
}

/// One poll by the dev SPA (a public client).
pub(crate) async fn poll(emu: &Emulator, device_code: &str) -> reqwest::Response {
    poll_with(emu, device_code, DEV_SPA_CLIENT_ID, &[]).await
}

/// What a browser sees of a response: status, `Location`, the session cookie set (`Some("")`
/// when cleared) and the body.
#[derive(Debug)]
pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) location: Option<String>,
    pub(crate) cookie: Option<String>,
    pub(crate) set_cookie: Vec<String>,
    pub(crate) html: String,
}

impl Page {
    pub(crate) async fn of(resp: reqwest::Response) -> Page {
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let set_cookie: Vec<String> = resp
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let cookie = set_session_cookie(&resp);
        Page {
            status,
            location,
            cookie,
            set_cookie,
            html: resp.text().await.unwrap(),
        }
    }

    /// The query parameters of the redirect's `Location`.
    pub(crate) fn redirect_params(&self) -> Vec<(String, String)> {
        let location = self.location.as_deref().expect("a redirect");
        reqwest::Url::parse(location)
            .unwrap()
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    pub(crate) fn redirect_param(&self, name: &str) -> Option<String> {
        self.redirect_params()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// POST `/devicelogin` with the code as typed.
pub(crate) async fn enter_code(emu: &Emulator, otc: &str) -> Page {
    let resp = browser()
        .post(device_login_url(emu))
        .form(&[("otc", otc)])
        .send()
        .await
        .unwrap();
    Page::of(resp).await
}

/// An authorization request of the dev public client (redirect `http://localhost`, scope
/// `openid profile`, PKCE plain, no `state` unless in `extra`), with the session cookie when
/// given.
pub(crate) async fn authorize_public_client(
    emu: &Emulator,
    cookie: Option<&str>,
    extra: &[(&str, &str)],
) -> Page {
    let request = AuthRequest::new(DEV_SPA_CLIENT_ID, "http://localhost", "openid profile")
        .remove("state")
        .set("code_challenge", PLAIN_VERIFIER)
        .set("code_challenge_method", "plain");
    let request = extra
        .iter()
        .fold(request, |request, (name, value)| request.set(name, value));
    Page::of(request.send(emu, cookie).await).await
}

/// Sign Adele in on the authorize pages; the session cookie.
pub(crate) async fn browser_session(emu: &Emulator) -> String {
    let page = authorize_public_client(emu, None, &[]).await;
    assert_eq!(page.status, 200, "{}", page.html);
    let done =
        Page::of(submit_sign_in(emu, &page.html, DEV_USER_UPN, Some(DEV_USER_PASSWORD)).await)
            .await;
    assert_eq!(done.status, 302, "{}", done.html);
    assert!(done.redirect_param("code").is_some(), "{done:?}");
    done.cookie.expect("a session cookie")
}

/// A delegated token for `scope` from the password grant (Adele, through `client_id`, with
/// `extra` such as a client secret).
pub(crate) async fn password_token(
    emu: &Emulator,
    client_id: &str,
    scope: &str,
    extra: &[(&str, &str)],
) -> Value {
    let mut form = vec![
        ("grant_type", "password"),
        ("client_id", client_id),
        ("username", DEV_USER_UPN),
        ("password", DEV_USER_PASSWORD),
        ("scope", scope),
    ];
    form.extend_from_slice(extra);
    let resp = token_post(emu, &form, None).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// GET with a bearer token (none when `None`).
pub(crate) async fn get_bearer(url: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = http().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}
