//! Token forging helpers: raw signing, header and claims text, HMAC confusion tokens, EC and
//! EdDSA tokens, and the encodings of a public key a confused verifier might use as a secret.

use super::*;

pub(super) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// RS256-signs arbitrary header and payload bytes with `key`: a genuine signature, so only the
/// property under test can make the token fail.
pub(super) fn sign_raw(header: &[u8], payload: &[u8], key: &SigningKey) -> String {
    let message = format!("{}.{}", b64(header), b64(payload));
    let sig = jsonwebtoken::crypto::sign(message.as_bytes(), &key.encoding_key(), Algorithm::RS256)
        .expect("RS256 signing");
    format!("{message}.{sig}")
}

pub(super) fn rs256_header(kid: &str) -> Value {
    json!({"typ": "JWT", "alg": "RS256", "kid": kid})
}

/// A valid claim set from the emulator, as JSON text.
pub(super) fn claims_text(emu: &Emulator) -> String {
    Value::Object(emu.token().claims()).to_string()
}

pub(super) fn claims_map(emu: &Emulator) -> Map<String, Value> {
    emu.token().claims()
}

/// A token whose header and payload are `header` / `payload` JSON text, RS256-signed by the
/// emulator's active key.
pub(super) fn signed(emu: &Emulator, header: &str, payload: &str) -> String {
    sign_raw(header.as_bytes(), payload.as_bytes(), &emu.active_key())
}

/// The valid claims with `"name": value` spliced in as raw JSON text (for values serde_json's
/// `Value` cannot hold, such as integers beyond 64 bits, or for duplicate keys).
pub(super) fn claims_with_raw(emu: &Emulator, remove: &str, raw_member: &str) -> String {
    let mut c = claims_map(emu);
    c.remove(remove);
    let text = Value::Object(c).to_string();
    format!("{{{raw_member},{}", &text[1..])
}

pub(super) fn hmac_token(
    alg: &str,
    hmac_alg: hmac::Algorithm,
    kid: &str,
    claims: &str,
    secret: &[u8],
) -> String {
    let header = json!({"typ": "JWT", "alg": alg, "kid": kid}).to_string();
    let message = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let key = hmac::Key::new(hmac_alg, secret);
    let tag = hmac::sign(&key, message.as_bytes());
    let token = format!("{message}.{}", b64(tag.as_ref()));
    // The forgery is a genuine HMAC token under that secret.
    let jwt_alg: Algorithm = alg.parse().unwrap();
    let sig = token.rsplit('.').next().unwrap();
    assert!(
        jsonwebtoken::crypto::verify(
            sig,
            message.as_bytes(),
            &jsonwebtoken::DecodingKey::from_secret(secret),
            jwt_alg
        )
        .unwrap(),
        "the {alg} forgery must be a valid HMAC"
    );
    token
}

/// SubjectPublicKeyInfo DER of an RSA public key, from its modulus and exponent (aws-lc-rs
/// builds it).
pub(super) fn spki(n: &[u8], e: &[u8]) -> Vec<u8> {
    use aws_lc_rs::encoding::AsDer;
    let key = signature::RsaPublicKeyComponents { n, e }
        .to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256)
        .expect("the emulator's key components");
    key.as_der().expect("SPKI DER").as_ref().to_vec()
}

/// PEM text with LF line endings (as most tools write it), by the `pem` crate.
pub(super) fn pem(label: &str, der: &[u8]) -> String {
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new(label, der.to_vec()), config)
}

pub(super) fn es256_token(kid: &str, claims: &str) -> String {
    let rng = SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).unwrap();
    let header = json!({"typ": "JWT", "alg": "ES256", "kid": kid}).to_string();
    let message = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let sig = pair.sign(&rng, message.as_bytes()).unwrap();
    signature::UnparsedPublicKey::new(
        &signature::ECDSA_P256_SHA256_FIXED,
        pair.public_key().as_ref(),
    )
    .verify(message.as_bytes(), sig.as_ref())
    .expect("the ES256 forgery must verify under its own key");
    format!("{message}.{}", b64(sig.as_ref()))
}

pub(super) fn eddsa_token(kid: &str, claims: &str) -> String {
    let rng = SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let header = json!({"typ": "JWT", "alg": "EdDSA", "kid": kid}).to_string();
    let message = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let sig = pair.sign(message.as_bytes());
    signature::UnparsedPublicKey::new(&signature::ED25519, pair.public_key().as_ref())
        .verify(message.as_bytes(), sig.as_ref())
        .expect("the EdDSA forgery must verify under its own key");
    format!("{message}.{}", b64(sig.as_ref()))
}

/// Splits a compact JWS into its three segments.
pub(super) fn segments(token: &str) -> (String, String, String) {
    let mut it = token.split('.');
    let h = it.next().unwrap().to_owned();
    let p = it.next().unwrap().to_owned();
    let s = it.next().unwrap().to_owned();
    (h, p, s)
}

/// Flips the lowest bit of the last base64url character: for a 256-byte RSA signature (342
/// characters) those are padding bits, so the bytes are the same but the text is not canonical.
pub(super) fn non_canonical_tail(segment: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = *segment.as_bytes().last().unwrap();
    let idx = ALPHABET.iter().position(|c| *c == last).unwrap();
    let mut out = segment[..segment.len() - 1].to_owned();
    out.push(ALPHABET[idx ^ 1] as char);
    out
}

pub(super) fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}
