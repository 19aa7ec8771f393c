//! Client assertions, checked by an independent verifier: jsonwebtoken's `decode` with the
//! certificate's public key.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::TestCert;
use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use entra_client::{AssertionAlgorithm, ClientCertificate, ClientCredentials, Clock, ManualClock};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

const TENANT: &str = "11111111-2222-3333-4444-555555555555";
const CLIENT: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

#[derive(Debug, Deserialize)]
struct Claims {
    aud: String,
    iss: String,
    sub: String,
    jti: String,
    nbf: u64,
    iat: u64,
    exp: u64,
}

fn creds(cert: &TestCert, alg: AssertionAlgorithm, x5c: bool) -> ClientCredentials {
    ClientCredentials::builder(TENANT, CLIENT)
        .certificate(ClientCertificate::from_pem(cert.key_pem(), cert.cert_pem()).unwrap())
        .signing(alg)
        .send_x5c(x5c)
        .build()
        .unwrap()
}

fn verify(
    assertion: &str,
    cert: &TestCert,
    alg: Algorithm,
    aud: &str,
) -> (jsonwebtoken::Header, Claims) {
    let key = DecodingKey::from_rsa_pem(cert.public_key_pem().as_bytes()).unwrap();
    let mut validation = Validation::new(alg);
    validation.set_audience(&[aud]);
    validation.set_issuer(&[CLIENT]);
    validation.sub = Some(CLIENT.to_owned());
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
    let data =
        jsonwebtoken::decode::<Claims>(assertion, &key, &validation).expect("valid assertion");
    (data.header, data.claims)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn rs256_assertion_has_x5t_and_the_required_claims() {
    let cert = TestCert::new("rs256.test");
    let c = creds(&cert, AssertionAlgorithm::Rs256, false);
    let aud = c.token_endpoint().to_owned();
    assert_eq!(
        aud,
        format!("https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token")
    );
    let before = now_secs();
    let assertion = c.client_assertion(&aud).unwrap();
    let after = now_secs();
    let (header, claims) = verify(&assertion, &cert, Algorithm::RS256, &aud);

    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let sha1 = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, cert.cert_der());
    assert_eq!(
        header.x5t.as_deref(),
        Some(URL_SAFE_NO_PAD.encode(sha1.as_ref()).as_str())
    );
    assert_eq!(header.x5t_s256, None);
    assert_eq!(header.x5c, None, "x5c is opt-in");

    assert_eq!(claims.aud, aud);
    assert_eq!(claims.iss, CLIENT);
    assert_eq!(claims.sub, CLIENT);
    assert!(
        uuid::Uuid::parse_str(&claims.jti).is_ok(),
        "jti is a UUID: {}",
        claims.jti
    );
    assert!(claims.iat >= before && claims.iat <= after);
    assert_eq!(claims.nbf, claims.iat);
    assert_eq!(
        claims.exp - claims.iat,
        600,
        "default lifetime is 10 minutes"
    );
}

#[test]
fn ps256_assertion_has_x5t_s256() {
    let cert = TestCert::new("ps256.test");
    let c = creds(&cert, AssertionAlgorithm::Ps256, false);
    let aud = c.token_endpoint_v1().to_owned();
    let assertion = c.client_assertion(&aud).unwrap();
    let (header, claims) = verify(&assertion, &cert, Algorithm::PS256, &aud);
    assert_eq!(header.alg, Algorithm::PS256);
    let sha256 = digest::digest(&digest::SHA256, cert.cert_der());
    assert_eq!(
        header.x5t_s256.as_deref(),
        Some(URL_SAFE_NO_PAD.encode(sha256.as_ref()).as_str())
    );
    assert_eq!(header.x5t, None);
    assert_eq!(claims.aud, aud);
    assert!(claims.exp - claims.iat <= 600);

    // An RS256 verifier must not accept it.
    let key = DecodingKey::from_rsa_pem(cert.public_key_pem().as_bytes()).unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[&aud]);
    assert!(jsonwebtoken::decode::<Claims>(&assertion, &key, &v).is_err());
}

#[test]
fn x5c_header_when_enabled() {
    let cert = TestCert::new("x5c.test");
    let c = creds(&cert, AssertionAlgorithm::Rs256, true);
    let assertion = c.client_assertion("aud").unwrap();
    let (header, _) = verify(&assertion, &cert, Algorithm::RS256, "aud");
    let x5c = header.x5c.expect("x5c");
    assert_eq!(x5c.len(), 1);
    assert_eq!(STANDARD.decode(&x5c[0]).unwrap(), cert.cert_der());
}

#[test]
fn jti_is_unique_and_lifetime_follows_the_clock() {
    let cert = TestCert::new("jti.test");
    let clock = ManualClock::starting_now();
    let c = ClientCredentials::builder(TENANT, CLIENT)
        .certificate(ClientCertificate::from_pem(cert.key_pem(), cert.cert_pem()).unwrap())
        .clock(clock.clone())
        .assertion_lifetime(Duration::from_secs(120))
        .build()
        .unwrap();
    let key = DecodingKey::from_rsa_pem(cert.public_key_pem().as_bytes()).unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.validate_aud = false;
    v.validate_exp = false;
    let mut jtis = HashSet::new();
    let start = clock_secs(&clock);
    for _ in 0..20 {
        let claims = jsonwebtoken::decode::<Claims>(&c.client_assertion("aud").unwrap(), &key, &v)
            .unwrap()
            .claims;
        assert!(jtis.insert(claims.jti));
        assert_eq!(claims.exp - claims.iat, 120);
    }
    clock.advance(Duration::from_secs(3600));
    let claims = jsonwebtoken::decode::<Claims>(&c.client_assertion("aud").unwrap(), &key, &v)
        .unwrap()
        .claims;
    assert_eq!(
        claims.iat,
        start + 3600,
        "time comes from the injected clock"
    );
}

fn clock_secs(clock: &ManualClock) -> u64 {
    u64::try_from(clock.unix_seconds()).unwrap()
}

#[test]
fn assertion_lifetime_is_capped_at_ten_minutes() {
    let cert = TestCert::new("cap.test");
    let e = ClientCredentials::builder(TENANT, CLIENT)
        .certificate(ClientCertificate::from_pem(cert.key_pem(), cert.cert_pem()).unwrap())
        .assertion_lifetime(Duration::from_secs(11 * 60))
        .build()
        .unwrap_err();
    assert!(matches!(e, entra_client::Error::Config(_)), "{e}");
}

#[test]
fn debug_output_has_no_key_material() {
    let cert = TestCert::new("debug.test");
    let c = creds(&cert, AssertionAlgorithm::Rs256, false);
    let shown = format!("{c:?} {c:#?}");
    let key_b64 = STANDARD.encode(cert.key.serialized_der());
    assert!(!shown.contains(&key_b64[40..80]), "{shown}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
}

/// PEM text with blank lines added inside its blocks: after the BEGIN line, between base64 lines,
/// before the END line, whitespace-only, with `\n` or `\r\n` line ends.
fn with_blank_lines(pem: &str, line_end: &str) -> String {
    let mut out = String::new();
    for (i, line) in pem.lines().enumerate() {
        if line.starts_with("-----END ") {
            out.push_str(line_end);
        }
        out.push_str(line);
        out.push_str(line_end);
        if line.starts_with("-----BEGIN ") {
            out.push_str(line_end);
        } else if !line.starts_with("-----") && i % 3 == 0 {
            out.push_str(line_end);
            out.push_str(" \t");
            out.push_str(line_end);
        }
    }
    out
}

#[test]
fn pem_with_blank_lines_inside_the_blocks_loads_and_signs() {
    let cert = TestCert::new("blank-lines.test");
    for line_end in ["\n", "\r\n"] {
        let combined =
            with_blank_lines(&format!("{}{}", cert.key_pem(), cert.cert_pem()), line_end);
        assert!(combined.contains(&format!("{line_end}{line_end}-----END ")));
        let certificate = ClientCertificate::from_pem(&combined, &combined)
            .unwrap_or_else(|e| panic!("{line_end:?}: {e}"));
        assert_eq!(certificate.certificate_der(), cert.cert_der());
        let c = ClientCredentials::builder(TENANT, CLIENT)
            .certificate(certificate)
            .build()
            .unwrap();
        let assertion = c.client_assertion("aud").unwrap();
        let (header, claims) = verify(&assertion, &cert, Algorithm::RS256, "aud");
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(claims.sub, CLIENT);
    }
}
