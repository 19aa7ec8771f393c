//! Unit tests of certificate credentials.

use super::*;

#[test]
fn missing_blocks_are_reported() {
    let e = ClientCertificate::from_pem("", "").unwrap_err();
    assert!(e.to_string().contains("no PRIVATE KEY"), "{e}");
    let e = ClientCertificate::from_pem(
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAEC\n-----END ENCRYPTED PRIVATE KEY-----\n",
        "",
    )
    .unwrap_err();
    assert!(e.to_string().contains("encrypted"), "{e}");
}

#[test]
fn pkcs12_garbage() {
    let e = ClientCertificate::from_pkcs12(b"not a pfx", "pw").unwrap_err();
    assert!(matches!(e, Error::Pkcs12(_)), "{e}");
}
fn rsa_cert() -> (rcgen::KeyPair, rcgen::Certificate) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["unit.test".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (key, cert)
}

/// The PKCS#1 key inside a PKCS#8 key, read with `pkcs8` directly rather than through the code
/// under test.
fn pkcs1_of(pkcs8_der: &[u8]) -> Vec<u8> {
    use pkcs8::der::Decode as _;
    let info = pkcs8::PrivateKeyInfoRef::from_der(pkcs8_der).unwrap();
    info.private_key.as_bytes().to_vec()
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

#[test]
fn pkcs8_and_pkcs1_keys_give_the_same_credential() {
    let (key, cert) = rsa_cert();
    let from_pkcs8 = ClientCertificate::from_pem(key.serialize_pem(), cert.pem()).unwrap();
    let pkcs1 = pkcs1_of(key.serialized_der());
    let from_pkcs1 =
        ClientCertificate::from_pem(pem("RSA PRIVATE KEY", &pkcs1), cert.pem()).unwrap();
    let from_der = ClientCertificate::from_der(&pkcs1, cert.der()).unwrap();
    let from_der8 = ClientCertificate::from_der(key.serialized_der(), cert.der()).unwrap();
    for c in [&from_pkcs8, &from_pkcs1, &from_der, &from_der8] {
        assert_eq!(c.certificate_der(), cert.der().as_ref());
        assert_eq!(c.encoding_key().as_bytes(), pkcs1.as_slice());
    }
    let sha1 = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, cert.der());
    assert_eq!(from_pkcs8.thumbprint_sha1(), sha1.as_ref());
    assert_eq!(from_pkcs8.x5t(), URL_SAFE_NO_PAD.encode(sha1.as_ref()));
    assert_eq!(from_pkcs8.x5c(), vec![STANDARD.encode(cert.der())]);
    let shown = format!("{from_pkcs8:?}");
    let hex: String = sha1.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    assert!(shown.contains(&hex), "{shown}");
}

#[test]
fn combined_pem_and_chain_order() {
    let (key, cert) = rsa_cert();
    let (_, other) = rsa_cert();
    // Chain listed before the leaf: the leaf (matching the key) still comes first.
    let combined = format!("{}{}{}", other.pem(), key.serialize_pem(), cert.pem());
    let c = ClientCertificate::from_pem(&combined, &combined).unwrap();
    assert_eq!(c.certificate_der(), cert.der().as_ref());
    assert_eq!(
        c.x5c(),
        vec![STANDARD.encode(cert.der()), STANDARD.encode(other.der())]
    );
}

#[test]
fn mismatched_key_and_non_rsa_keys_are_refused() {
    let (key, _) = rsa_cert();
    let (_, other_cert) = rsa_cert();
    let e = ClientCertificate::from_pem(key.serialize_pem(), other_cert.pem()).unwrap_err();
    assert!(e.to_string().contains("does not match"), "{e}");

    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let ec_cert = rcgen::CertificateParams::new(vec!["ec.test".to_owned()])
        .unwrap()
        .self_signed(&ec)
        .unwrap();
    let e = ClientCertificate::from_pem(ec.serialize_pem(), ec_cert.pem()).unwrap_err();
    assert!(e.to_string().contains("not RSA"), "{e}");

    let e = ClientCertificate::from_pem(key.serialize_pem(), pem("CERTIFICATE", b"\x30\x00"))
        .unwrap_err();
    assert!(e.to_string().contains("not DER X.509"), "{e}");
}

/// Compiles only if the value's type is zeroized on drop.
fn zeroized_on_drop<T: zeroize::ZeroizeOnDrop>(_: &T) {}

#[test]
fn key_buffers_are_zeroized_on_drop() {
    let (key, cert) = rsa_cert();
    // The buffers the loaders fill, checked through the values they return, so that a
    // return type changed back to a plain `Vec` fails to compile.
    let blocks = pem_blocks(key.serialize_pem().as_bytes()).unwrap();
    zeroized_on_drop(&blocks[0].1);
    let pkcs1 = pkcs8_to_pkcs1(key.serialized_der()).unwrap();
    zeroized_on_drop(&pkcs1);
    // The base64 decoding is `pem`'s now: its output moves into the block checked above.
    // jsonwebtoken's copy of the key: this crate cannot zeroize it, jsonwebtoken 11 does.
    let c = ClientCertificate::from_pem(key.serialize_pem(), cert.pem()).unwrap();
    zeroized_on_drop(&c.inner.key);
    zeroized_on_drop(c.encoding_key());
}

/// Renderings of private key bytes a careless `Debug` or error message would show.
fn key_renderings(der: &[u8]) -> Vec<String> {
    // A window from the middle of the key: the private exponent and primes, not the
    // (public) modulus at the start.
    let window = &der[der.len() / 2..der.len() / 2 + 16];
    let decimal = format!("{window:?}");
    vec![
        decimal.trim_matches(['[', ']']).to_owned(),
        hex::encode(window),
        hex::encode_upper(window),
        STANDARD.encode(der)[200..240].to_owned(),
    ]
}

#[test]
fn debug_never_shows_key_material() {
    let (key, cert) = rsa_cert();
    let pkcs1 = pkcs1_of(key.serialized_der());
    let pem = key.serialize_pem();
    let c = ClientCertificate::from_pem(&pem, cert.pem()).unwrap();
    let shown = format!("{c:?} {c:#?}");
    for needle in key_renderings(&pkcs1)
        .into_iter()
        .chain(key_renderings(key.serialized_der()))
        .chain(pem.lines().skip(5).take(1).map(str::to_owned))
    {
        assert!(!shown.contains(&needle), "{needle} in {shown}");
    }
    assert!(shown.contains("<redacted>"), "{shown}");
}
