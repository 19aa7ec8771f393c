//! The token endpoint: client secrets, client assertions, errors; and the helpers they share.

mod assertion;
mod password;
mod secret;

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use entra_emulator::*;
use jsonwebtoken::{Algorithm, Header};
use serde_json::{Value, json};

use crate::common::*;

pub(crate) const SCOPE: &str = "api://3c9f1a7e-5b2d-4e6f-8a1c-0d7e9b4f2a61/.default";

pub(crate) const CERT_CLIENT: &str = "c0ffee00-1111-4222-8333-444455556666";

pub(crate) const V1_API: &str = "a1a1a1a1-2222-4333-8444-555566667777";

pub(crate) fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// An emulator with the dev tenant plus a certificate client and a v1 API.
pub(crate) async fn emulator() -> Emulator {
    let emu = Emulator::start().await.unwrap();
    let (k1, _) = client_keys();
    emu.register_app(
        DEV_TENANT_ID,
        App::new(CERT_CLIENT)
            .display_name("cert client")
            .certificate_pem(&k1.certificate_pem()),
    );
    emu.register_app(
        DEV_TENANT_ID,
        App::new(V1_API)
            .app_id_uri("https://v1api.contoso.example")
            .app_role("Reader"),
    );
    emu.assign_app_role(DEV_TENANT_ID, CERT_CLIENT, DEV_API_CLIENT_ID, "Api.Admin");
    emu.assign_app_role(DEV_TENANT_ID, DEV_CLIENT_ID, V1_API, "Reader");
    emu
}

pub(crate) async fn post(
    emu: &Emulator,
    tenant: &str,
    v: TokenVersion,
    form: &[(&str, &str)],
) -> reqwest::Response {
    http()
        .post(emu.token_endpoint(tenant, v))
        .form(form)
        .send()
        .await
        .unwrap()
}

pub(crate) async fn jwks(emu: &Emulator, v: TokenVersion) -> Value {
    http()
        .get(emu.jwks_uri(DEV_TENANT_ID, v))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub(crate) fn secret_form<'a>() -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_id", DEV_CLIENT_ID),
        ("client_secret", DEV_CLIENT_SECRET),
        ("scope", SCOPE),
    ]
}

pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub(crate) enum Thumb {
    X5t { padded: bool },
    S256 { padded: bool },
    None,
}

pub(crate) fn thumb(cert_der: &[u8], t: &Thumb) -> (Option<String>, Option<String>) {
    let enc = |d: &[u8], padded: bool| {
        if padded {
            URL_SAFE.encode(d)
        } else {
            URL_SAFE_NO_PAD.encode(d)
        }
    };
    match t {
        Thumb::X5t { padded } => (
            Some(enc(
                digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, cert_der).as_ref(),
                *padded,
            )),
            None,
        ),
        Thumb::S256 { padded } => (
            None,
            Some(enc(
                digest::digest(&digest::SHA256, cert_der).as_ref(),
                *padded,
            )),
        ),
        Thumb::None => (None, None),
    }
}

/// A client assertion built independently of the emulator, with jsonwebtoken.
pub(crate) fn assertion(
    signer: &SigningKey,
    cert_of: &SigningKey,
    alg: Algorithm,
    t: Thumb,
    claims: &Value,
) -> String {
    let mut h = Header::new(alg);
    let (x5t, s256) = thumb(cert_of.certificate_der(), &t);
    h.x5t = x5t;
    h.x5t_s256 = s256;
    jsonwebtoken::encode(&h, claims, &signer.encoding_key()).unwrap()
}

pub(crate) fn assertion_claims(emu: &Emulator, aud_version: TokenVersion) -> Value {
    let now = now();
    json!({
        "aud": emu.token_endpoint(DEV_TENANT_ID, aud_version),
        "iss": CERT_CLIENT,
        "sub": CERT_CLIENT,
        "jti": uuid::Uuid::new_v4().to_string(),
        "iat": now as i64,
        "nbf": now as i64,
        "exp": now as i64 + 600,
    })
}

pub(crate) async fn post_assertion(
    emu: &Emulator,
    a: &str,
    client_id: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", a),
        ("scope", SCOPE),
    ];
    if let Some(c) = client_id {
        form.push(("client_id", c));
    }
    post(emu, DEV_TENANT_ID, TokenVersion::V2, &form).await
}

pub(crate) async fn post_assertion_to(
    emu: &Emulator,
    tenant: &str,
    v: TokenVersion,
    a: &str,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", a),
    ];
    match v {
        TokenVersion::V2 => form.push(("scope", SCOPE)),
        TokenVersion::V1 => form.push(("resource", DEV_API_CLIENT_ID)),
    }
    post(emu, tenant, v, &form).await
}
