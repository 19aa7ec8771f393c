//! Unit tests of the credentials: configuration errors, endpoints, redaction, the form body and
//! the backoff.

use std::time::{Duration, SystemTime};

use super::request::form_body;
use super::*;
use crate::{AuthorityHost, ClientCertificate, ClientSecret};

fn secret_creds() -> ClientCredentials {
    ClientCredentials::builder("tenant", "client")
        .client_secret(ClientSecret::new("s3cr3t-value"))
        .build()
        .unwrap()
}

#[test]
fn defaults_and_endpoints() {
    let c = secret_creds();
    assert_eq!(c.authority(), "https://login.microsoftonline.com");
    assert_eq!(
        c.token_endpoint(),
        "https://login.microsoftonline.com/tenant/oauth2/v2.0/token"
    );
    assert_eq!(
        c.token_endpoint_v1(),
        "https://login.microsoftonline.com/tenant/oauth2/token"
    );
    let c = ClientCredentials::builder("tenant", "client")
        .authority_host(AuthorityHost::AzureChina)
        .client_secret(ClientSecret::new("x"))
        .build()
        .unwrap();
    assert_eq!(
        c.token_endpoint(),
        "https://login.chinacloudapi.cn/tenant/oauth2/v2.0/token"
    );
}

#[test]
fn build_errors() {
    let b = || ClientCredentials::builder("tenant", "client");
    let cases = [
        b().build().unwrap_err(),
        b().client_secret(ClientSecret::new(""))
            .build()
            .unwrap_err(),
        b().client_secret(ClientSecret::new("x"))
            .authority("http://login.microsoftonline.com")
            .build()
            .unwrap_err(),
        ClientCredentials::builder("common", "c")
            .client_secret(ClientSecret::new("x"))
            .build()
            .unwrap_err(),
        ClientCredentials::builder("t", "")
            .client_secret(ClientSecret::new("x"))
            .build()
            .unwrap_err(),
        b().client_secret(ClientSecret::new("x"))
            .assertion_lifetime(Duration::from_secs(601))
            .build()
            .unwrap_err(),
        b().client_secret(ClientSecret::new("x"))
            .timeout(Duration::ZERO)
            .build()
            .unwrap_err(),
    ];
    for e in cases {
        assert!(matches!(e, Error::Config(_)), "{e}");
    }
}

#[test]
fn secret_never_in_debug() {
    let b = ClientCredentials::builder("tenant", "client")
        .client_secret(ClientSecret::new("s3cr3t-value"));
    assert!(!format!("{b:?}").contains("s3cr3t-value"));
    let c = b.build().unwrap();
    let shown = format!("{c:?} {c:#?}");
    assert!(!shown.contains("s3cr3t-value"), "{shown}");
    assert!(shown.contains("client"));
}

#[test]
fn certificate_key_never_in_debug() {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["debug.test".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let pkcs1 = {
        use pkcs8::der::Decode as _;
        let info = pkcs8::PrivateKeyInfoRef::from_der(key.serialized_der()).unwrap();
        info.private_key.as_bytes().to_vec()
    };
    let certificate = ClientCertificate::from_pem(key.serialize_pem(), cert.pem()).unwrap();
    let b = ClientCredentials::builder("tenant", "client").certificate(certificate);
    let mut shown = format!("{b:?} {b:#?}");
    let c = b.build().unwrap();
    shown.push_str(&format!("{c:?} {c:#?}"));
    let assertion = c.client_assertion("aud").unwrap();
    shown.push_str(&format!("{assertion:?}"));
    // Renderings of the private half of the key (past the modulus), and of the assertion.
    let window = &pkcs1[pkcs1.len() / 2..pkcs1.len() / 2 + 16];
    let decimal = format!("{window:?}");
    let hex = hex::encode(window);
    let pem_line = key.serialize_pem().lines().nth(10).unwrap().to_owned();
    for needle in [
        decimal.trim_matches(['[', ']']),
        &hex,
        &hex.to_uppercase(),
        &pem_line,
        assertion.split('.').nth(2).unwrap(),
    ] {
        assert!(!shown.contains(needle), "{needle} in {shown}");
    }
    assert!(shown.contains("redacted"), "{shown}");
}

#[test]
fn form_body_is_encoded_like_reqwest_form() {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_secret", "a b&c=d~é/+%"),
    ];
    let body = form_body(&form);
    let bytes = body.as_bytes().unwrap();
    let expected = reqwest::Client::new()
        .post("http://127.0.0.1/")
        .form(&form)
        .build()
        .unwrap();
    assert_eq!(bytes, expected.body().unwrap().as_bytes().unwrap());
}

#[test]
fn assertion_needs_certificate() {
    assert!(matches!(
        secret_creds().client_assertion("aud"),
        Err(Error::Config(_))
    ));
}

#[tokio::test]
async fn empty_scope_is_rejected_without_a_request() {
    let c = secret_creds();
    assert!(matches!(c.token("").await, Err(Error::InvalidScope(_))));
    assert!(matches!(
        c.token_for_resource("a\nb").await,
        Err(Error::InvalidScope(_))
    ));
}

#[test]
fn backoff_grows_and_is_capped() {
    let c = ClientCredentials::builder("tenant", "client")
        .client_secret(ClientSecret::new("x"))
        .retry_base_delay(Duration::from_millis(100))
        .max_retry_delay(Duration::from_secs(1))
        .build()
        .unwrap();
    for _ in 0..20 {
        let d0 = c.retry_delay(0, None);
        assert!(
            d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(100),
            "{d0:?}"
        );
        let d2 = c.retry_delay(2, None);
        assert!(
            d2 >= Duration::from_millis(200) && d2 <= Duration::from_millis(400),
            "{d2:?}"
        );
        let d9 = c.retry_delay(40, None);
        assert!(d9 <= Duration::from_secs(1), "{d9:?}");
    }
    assert_eq!(
        c.retry_delay(0, Some(Duration::from_millis(300))),
        Duration::from_millis(300)
    );
    assert_eq!(
        c.retry_delay(0, Some(Duration::from_secs(120))),
        Duration::from_secs(1)
    );
}

#[test]
fn header_is_sensitive() {
    let t = AccessToken::new("abc.def.ghi", SystemTime::now());
    let h = bearer_header(&t).unwrap();
    assert!(h.is_sensitive());
    assert_eq!(h.to_str().unwrap(), "Bearer abc.def.ghi");
    assert!(!format!("{h:?}").contains("abc.def"));
}

#[test]
fn clock_takes_a_clock_or_an_arc_of_one() {
    let manual = crate::ManualClock::at_unix_seconds(1_700_000_000);
    let shared: Arc<dyn Clock> = Arc::new(manual.clone());
    let b = || ClientCredentials::builder("tenant", "client").client_secret(ClientSecret::new("x"));
    for built in [
        b().clock(manual.clone()).build(),
        b().clock(Arc::new(manual.clone())).build(),
        b().clock(shared.clone()).build(),
        b().clock(crate::SystemClock).build(),
    ] {
        let c = built.unwrap();
        assert!(format!("{c:?}").contains("client"));
    }
}
