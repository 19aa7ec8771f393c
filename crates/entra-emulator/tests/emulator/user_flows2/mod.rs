//! User flows over HTTP, part two: the device code flow ([`device`]), on-behalf-of ([`obo`]),
//! and what a signed-in user does next: logout, userinfo and Graph's `/v1.0/me` ([`session`]).
//! The pages are driven as a browser without JavaScript would: GET the page, POST its form.

mod device;
mod obo;
mod session;

use entra_core::ManualClock;
use entra_emulator::*;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::Value;

use crate::common::*;

pub(crate) const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "entra_emulator_session";

/// `url` with these query parameters, form-encoded.
pub(crate) fn with_query(url: &str, query: &[(&str, &str)]) -> reqwest::Url {
    let mut url = reqwest::Url::parse(url).unwrap();
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    url
}

/// A PKCE `plain` challenge (43 characters), for authorize requests of the public client.
pub(crate) const PLAIN_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

pub(crate) fn files_read() -> String {
    format!("api://{DEV_API_CLIENT_ID}/Files.Read")
}

/// A client that does not follow redirects: their `Location` is what is tested.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
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
    http()
        .post(emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V2))
        .form(&form)
        .send()
        .await
        .unwrap()
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
        let cookie = set_cookie.iter().find_map(|c| {
            let (pair, _) = c.split_once(';').unwrap_or((c, ""));
            pair.strip_prefix(&format!("{SESSION_COOKIE}="))
                .map(str::to_owned)
        });
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

/// The `action` and hidden `flow` of the page's form that contains `marker`.
pub(crate) fn form_with(html: &str, marker: &str) -> (String, String) {
    let form = html
        .split("<form")
        .skip(1)
        .find(|f| f.contains(marker))
        .unwrap_or_else(|| panic!("no form with {marker} in {html}"));
    let attr = |prefix: &str| {
        let start = form.find(prefix).unwrap_or_else(|| panic!("{prefix}")) + prefix.len();
        form[start..].split('"').next().unwrap().to_owned()
    };
    (attr("action=\""), attr("name=\"flow\" value=\""))
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

/// Press the sign-in page's button of `upn` (with the password when given).
pub(crate) async fn sign_in(
    emu: &Emulator,
    sign_in_page: &str,
    upn: &str,
    password: Option<&str>,
) -> Page {
    let (action, flow) = form_with(sign_in_page, &format!("name=\"user\" value=\"{upn}\""));
    let mut form = vec![("flow", flow.as_str()), ("user", upn)];
    if let Some(p) = password {
        form.push(("password", p));
    }
    let resp = browser()
        .post(format!("{}{action}", emu.base_url()))
        .form(&form)
        .send()
        .await
        .unwrap();
    Page::of(resp).await
}

/// Answer the consent page: `accept` or `cancel`.
pub(crate) async fn answer_consent(emu: &Emulator, consent_page: &str, decision: &str) -> Page {
    let (action, flow) = form_with(consent_page, "name=\"decision\"");
    let resp = browser()
        .post(format!("{}{action}", emu.base_url()))
        .form(&[("flow", flow.as_str()), ("decision", decision)])
        .send()
        .await
        .unwrap();
    Page::of(resp).await
}

/// An authorization request of the dev public client (redirect `http://localhost`, PKCE
/// plain), with the session cookie when given.
pub(crate) async fn authorize(
    emu: &Emulator,
    cookie: Option<&str>,
    extra: &[(&str, &str)],
) -> Page {
    let mut query = vec![
        ("client_id", DEV_SPA_CLIENT_ID),
        ("response_type", "code"),
        ("redirect_uri", "http://localhost"),
        ("scope", "openid profile"),
        ("code_challenge", PLAIN_VERIFIER),
        ("code_challenge_method", "plain"),
    ];
    query.extend_from_slice(extra);
    let mut req = browser().get(with_query(&v2_url(emu, DEV_TENANT_ID, "authorize"), &query));
    if let Some(c) = cookie {
        req = req.header(COOKIE, format!("{SESSION_COOKIE}={c}"));
    }
    Page::of(req.send().await.unwrap()).await
}

/// Sign Adele in on the authorize pages; the session cookie.
pub(crate) async fn browser_session(emu: &Emulator) -> String {
    let page = authorize(emu, None, &[]).await;
    assert_eq!(page.status, 200, "{}", page.html);
    let done = sign_in(emu, &page.html, DEV_USER_UPN, Some(DEV_USER_PASSWORD)).await;
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
    let resp = http()
        .post(emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V2))
        .form(&form)
        .send()
        .await
        .unwrap();
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

/// The key set of the dev tenant (v2 path; v1 tokens are signed by the same keys).
pub(crate) async fn dev_jwks(emu: &Emulator) -> Value {
    get_json(&emu.jwks_uri(DEV_TENANT_ID, TokenVersion::V2)).await
}
