//! RSA signing keys shaped like the ones Entra publishes, and the key store of an emulator
//! (published, active, known keys).

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use aws_lc_rs::digest;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, PublicKeyComponents};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::EncodingKey;
use serde_json::{Value, json};

use crate::EmulatorError;

/// An RSA-2048 signing key with a self-signed certificate, like the keys Entra publishes.
///
/// The certificate imitates Entra's: subject and issuer
/// `CN=accounts.accesscontrol.windows.net`, valid for five years. The key id (`kid`) is the
/// certificate's `x5t`: base64url (no padding) of the SHA-1 of the certificate DER, exactly as in
/// Entra's key sets.
///
/// A `SigningKey` is cheap to clone (it is reference counted). Its `Debug` output shows the key id
/// only, never the private key.
///
/// The same type doubles as a *client certificate* for certificate credentials: register
/// [`SigningKey::certificate_der`] on an [`App`](crate::App) and sign client assertions with
/// [`SigningKey::private_key_pem`].
///
/// ```
/// let key = entra_emulator::SigningKey::generate()?;
/// assert_eq!(key.kid().len(), 27); // base64url of a 20-byte SHA-1
/// let jwk = key.jwk(None);
/// assert_eq!(jwk["kty"], "RSA");
/// assert_eq!(jwk["use"], "sig");
/// assert!(jwk.get("alg").is_none());
/// # Ok::<(), entra_emulator::EmulatorError>(())
/// ```
#[derive(Clone)]
pub struct SigningKey {
    inner: Arc<KeyMaterial>,
}

struct KeyMaterial {
    kid: String,
    x5t_s256: String,
    private_key_pem: String,
    cert_der: Vec<u8>,
    cert_pem: String,
    n: String,
    e: String,
    public_pkcs1: Vec<u8>,
    encoding_key: EncodingKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.inner.kid)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

impl PartialEq for SigningKey {
    fn eq(&self, other: &Self) -> bool {
        self.inner.kid == other.inner.kid
    }
}

impl Eq for SigningKey {}

impl SigningKey {
    /// Generate a fresh RSA-2048 key with an Entra-like self-signed certificate.
    ///
    /// The key is not registered anywhere: use it for "signed by the wrong key" tests, as a
    /// client certificate, or publish it with [`Emulator::publish_key`](crate::Emulator::publish_key).
    /// Generation takes roughly 50-200 ms; share keys between tests where you can.
    pub fn generate() -> Result<SigningKey, EmulatorError> {
        let gen_err = |e: rcgen::Error| EmulatorError::KeyGeneration(e.to_string());
        let key =
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                .map_err(gen_err)?;
        let mut params = rcgen::CertificateParams::default();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(
            rcgen::DnType::CommonName,
            "accounts.accesscontrol.windows.net",
        );
        params.distinguished_name = dn;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(5 * 365);
        let mut serial = [0u8; 8];
        aws_lc_rs::rand::fill(&mut serial)
            .map_err(|_| EmulatorError::KeyGeneration("random serial".into()))?;
        serial[0] &= 0x7f;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        let cert = params.self_signed(&key).map_err(gen_err)?;
        Self::from_parts(&key, &cert)
    }

    fn from_parts(
        key: &rcgen::KeyPair,
        cert: &rcgen::Certificate,
    ) -> Result<SigningKey, EmulatorError> {
        let gen_err = |e: String| EmulatorError::KeyGeneration(e);
        let pair =
            RsaKeyPair::from_pkcs8(&key.serialize_der()).map_err(|e| gen_err(e.to_string()))?;
        let public = pair.public_key();
        let components = PublicKeyComponents::<Vec<u8>>::from(public);
        let private_key_pem = key.serialize_pem();
        let encoding_key = EncodingKey::from_rsa_pem(private_key_pem.as_bytes())
            .map_err(|e| gen_err(e.to_string()))?;
        let cert_der = cert.der().to_vec();
        Ok(SigningKey {
            inner: Arc::new(KeyMaterial {
                kid: x5t(&cert_der),
                x5t_s256: x5t_s256(&cert_der),
                private_key_pem,
                cert_pem: cert.pem(),
                cert_der,
                n: URL_SAFE_NO_PAD.encode(&components.n),
                e: URL_SAFE_NO_PAD.encode(&components.e),
                public_pkcs1: public.as_ref().to_vec(),
                encoding_key,
            }),
        })
    }

    /// The key id: equal to the certificate's `x5t` (base64url SHA-1 thumbprint, no padding).
    pub fn kid(&self) -> &str {
        &self.inner.kid
    }

    /// The certificate's SHA-256 thumbprint, base64url without padding (`x5t#S256`).
    pub fn x5t_s256(&self) -> String {
        self.inner.x5t_s256.clone()
    }

    /// The private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn private_key_pem(&self) -> String {
        self.inner.private_key_pem.clone()
    }

    /// The self-signed certificate as PEM.
    pub fn certificate_pem(&self) -> String {
        self.inner.cert_pem.clone()
    }

    /// The self-signed certificate as DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.inner.cert_der
    }

    /// The public key as a JWK shaped like Entra's: `kty`, `use`, `kid`, `x5t`, `n`, `e`,
    /// `x5c` and, when `issuer` is given, `issuer` (Entra puts it on v2 keys only). No `alg`.
    pub fn jwk(&self, issuer: Option<&str>) -> Value {
        let k = &self.inner;
        let mut v = json!({
            "kty": "RSA",
            "use": "sig",
            "kid": k.kid,
            "x5t": k.kid,
            "n": k.n,
            "e": k.e,
            "x5c": [STANDARD.encode(&k.cert_der)],
        });
        if let (Some(issuer), Some(obj)) = (issuer, v.as_object_mut()) {
            obj.insert("issuer".into(), Value::String(issuer.to_owned()));
        }
        v
    }

    /// A `jsonwebtoken` key to sign with (RS256 / PS256 ...).
    pub fn encoding_key(&self) -> EncodingKey {
        self.inner.encoding_key.clone()
    }

    /// The public key as PKCS#1 `RSAPublicKey` DER.
    pub fn public_key_der(&self) -> &[u8] {
        &self.inner.public_pkcs1
    }

    /// A `jsonwebtoken` key to verify signatures made with this key.
    pub fn decoding_key(&self) -> jsonwebtoken::DecodingKey {
        jsonwebtoken::DecodingKey::from_rsa_der(&self.inner.public_pkcs1)
    }
}

/// base64url-no-pad SHA-1 of a certificate (`x5t`).
pub(crate) fn x5t(cert_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, cert_der))
}

/// base64url-no-pad SHA-256 of a certificate (`x5t#S256`).
pub(crate) fn x5t_s256(cert_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, cert_der))
}

/// The keys of one emulator.
pub(crate) struct KeyStore {
    /// The tenant-independent key set, in order.
    published: Vec<SigningKey>,
    /// The key tokens are signed with (unless the resource app has its own).
    active: SigningKey,
    /// Every key ever added, published or made app-specific, so that a retired key can be made
    /// active again.
    known: Vec<SigningKey>,
}

impl KeyStore {
    /// Publish `keys`, the first one active.
    pub(crate) fn new(first: SigningKey, more: impl IntoIterator<Item = SigningKey>) -> KeyStore {
        let mut published = vec![first.clone()];
        published.extend(more);
        KeyStore {
            known: published.clone(),
            published,
            active: first,
        }
    }

    /// The key tokens are signed with.
    pub(crate) fn active(&self) -> &SigningKey {
        &self.active
    }

    /// The published keys, in order.
    pub(crate) fn published(&self) -> &[SigningKey] {
        &self.published
    }

    /// Publish a key (no-op if it is published).
    pub(crate) fn publish(&mut self, key: &SigningKey) {
        if !self.published.contains(key) {
            self.published.push(key.clone());
        }
        self.remember(key);
    }

    /// Remember a key without publishing it (app-specific keys).
    pub(crate) fn remember(&mut self, key: &SigningKey) {
        if !self.known.contains(key) {
            self.known.push(key.clone());
        }
    }

    /// Sign with the known key that has this kid; `false` if there is none.
    pub(crate) fn set_active(&mut self, kid: &str) -> bool {
        match self.known.iter().find(|k| k.kid() == kid) {
            Some(k) => {
                self.active = k.clone();
                true
            }
            None => false,
        }
    }

    /// Remove a key from the published set (it stays known).
    pub(crate) fn retire(&mut self, kid: &str) {
        self.published.retain(|k| k.kid() != kid);
    }
}

/// The two keys every emulator in this process starts with (RSA generation is slow).
pub(crate) fn shared_start_keys() -> Result<(SigningKey, SigningKey), EmulatorError> {
    static KEYS: OnceLock<(SigningKey, SigningKey)> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    if let Some(k) = KEYS.get() {
        return Ok(k.clone());
    }
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(k) = KEYS.get() {
        return Ok(k.clone());
    }
    let pair = (SigningKey::generate()?, SigningKey::generate()?);
    Ok(KEYS.get_or_init(|| pair).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kid_is_sha1_thumbprint_and_debug_redacts() {
        let (k, _) = shared_start_keys().unwrap();
        assert_eq!(k.kid(), x5t(k.certificate_der()));
        assert_eq!(k.x5t_s256().len(), 43);
        let dbg = format!("{k:?}");
        assert!(dbg.contains(k.kid()));
        assert!(!dbg.contains("PRIVATE"));
        assert!(
            k.private_key_pem()
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
    }
}
