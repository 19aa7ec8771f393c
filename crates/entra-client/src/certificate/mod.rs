//! Certificate credentials: an RSA private key and its X.509 certificate (chain), loaded from
//! PEM, DER or PKCS#12, checked against each other, with the thumbprints Entra ID matches.
//!
//! The formats are read by maintained crates ([`formats`]: `pem`, `pkcs8`, `x509-parser`;
//! PKCS#12 by `p12-keystore`); the RSA key is checked by aws-lc-rs.

mod formats;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::EncodingKey;
use zeroize::Zeroizing;

use self::formats::{CertificateKey, Pkcs8Error, pem_blocks, pkcs1_from_pkcs8};
use crate::Error;

/// A certificate credential: an RSA private key and the certificate registered on the app
/// (optionally followed by its issuing chain, for subject-name/issuer authentication).
///
/// Load it from PEM ([`ClientCertificate::from_pem`]), DER ([`ClientCertificate::from_der`]) or
/// a PKCS#12 / `.pfx` file ([`ClientCertificate::from_pkcs12`]). The private key must be RSA
/// (2048 bits or more), which is what Entra ID accepts.
///
/// `Debug` shows the certificate's SHA-1 thumbprint (as the Azure portal does), never the key.
///
/// # Key material in memory
///
/// Every buffer this crate fills with key material while loading (decoded PEM, the PKCS#1 key
/// taken out of PKCS#8) is zeroized when dropped. The PEM reader (`pem`) makes a copy of a
/// block's base64 text that it drops without zeroizing. The key itself is kept only inside
/// `jsonwebtoken`'s `EncodingKey`, which holds its own copy of the PKCS#1 bytes: this crate cannot
/// zeroize that copy itself. `jsonwebtoken` 11 zeroizes it on drop (a test checks that its type
/// still promises so), but the RSA key that aws-lc parses from it for each signature, and the
/// copies made by the PKCS#12 reader ([`ClientCertificate::from_pkcs12`]), are outside this
/// crate's control.
#[derive(Clone)]
pub struct ClientCertificate {
    inner: Arc<Inner>,
}

struct Inner {
    /// PKCS#1 `RSAPrivateKey`, as `jsonwebtoken` wants it. `EncodingKey` holds its own copy of the
    /// key bytes, which this crate cannot zeroize; `jsonwebtoken` 11 zeroizes it on drop.
    key: EncodingKey,
    /// DER certificates, the one matching the key first.
    chain: Vec<Vec<u8>>,
    sha1: [u8; 20],
    sha256: [u8; 32],
}

impl ClientCertificate {
    /// Loads a PEM private key and PEM certificate(s).
    ///
    /// `key_pem` holds a `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (PKCS#1) block; encrypted
    /// keys are not supported (decrypt them first, or use a `.pfx`). `cert_pem` holds one or
    /// more `CERTIFICATE` blocks: the certificate of the key and, optionally, its chain. Other
    /// blocks are ignored, so the same combined PEM file can be passed as both arguments.
    ///
    /// The decoded key is held in buffers that are zeroized on drop; the PEM reader's copy of the
    /// base64 text is not (see [`ClientCertificate`]). The inputs belong to the caller: pass
    /// references, or [`Zeroizing`] buffers (an owned `String` or `Vec` passed by value is dropped
    /// here without being zeroized).
    pub fn from_pem(key_pem: impl AsRef<[u8]>, cert_pem: impl AsRef<[u8]>) -> Result<Self, Error> {
        let key_blocks = pem_blocks(key_pem.as_ref())?;
        let pkcs1 = key_blocks
            .iter()
            .find_map(|(label, der)| match label.as_str() {
                "PRIVATE KEY" => Some(pkcs8_to_pkcs1(der)),
                "RSA PRIVATE KEY" => Some(Ok(der.clone())),
                "ENCRYPTED PRIVATE KEY" => Some(Err(Error::Certificate(
                    "the private key is encrypted; decrypt it first or use a PKCS#12 file".into(),
                ))),
                "EC PRIVATE KEY" => Some(Err(not_rsa())),
                _ => None,
            })
            .unwrap_or_else(|| {
                Err(Error::Certificate(
                    "no PRIVATE KEY or RSA PRIVATE KEY block in the key PEM".into(),
                ))
            })?;
        let certs: Vec<Vec<u8>> = pem_blocks(cert_pem.as_ref())?
            .into_iter()
            .filter(|(label, _)| label == "CERTIFICATE")
            // A certificate is public: take the bytes out of the zeroizing buffer without a copy.
            .map(|(_, mut der)| std::mem::take(&mut *der))
            .collect();
        if certs.is_empty() {
            return Err(Error::Certificate(
                "no CERTIFICATE block in the certificate PEM".into(),
            ));
        }
        Self::from_parts(pkcs1, certs)
    }

    /// Loads a DER private key (PKCS#8 or PKCS#1) and a DER certificate.
    pub fn from_der(key_der: &[u8], cert_der: &[u8]) -> Result<Self, Error> {
        let pkcs1 = match pkcs1_from_pkcs8(key_der) {
            Ok(pkcs1) => pkcs1,
            Err(Pkcs8Error::NotRsa) => return Err(not_rsa()),
            // Not PKCS#8: try PKCS#1.
            Err(Pkcs8Error::Malformed) => Zeroizing::new(key_der.to_vec()),
        };
        Self::from_parts(pkcs1, vec![cert_der.to_vec()])
    }

    /// Loads a PKCS#12 (`.pfx` / `.p12`) file, such as the one PowerShell's
    /// `New-SelfSignedCertificate` + `Export-PfxCertificate` or `openssl pkcs12 -export` write.
    ///
    /// Both the modern AES-256/PBES2 encryption and the legacy 3DES / RC2 encryption are read.
    /// The file must contain one RSA private key and its certificate; further certificates are
    /// kept as its chain. A wrong password gives an [`Error::Pkcs12`] that says so.
    ///
    /// The PKCS#1 key this crate takes from the file is zeroized on drop; the decrypted copies
    /// that the PKCS#12 reader (`p12-keystore`) makes internally are not, and cannot be reached
    /// from here. The password is only borrowed.
    pub fn from_pkcs12(pfx: &[u8], password: &str) -> Result<Self, Error> {
        use p12_keystore::error::Error as P12;
        let archive = p12_keystore::Pkcs12Archive::from_pkcs12(pfx, password).map_err(|e| {
            Error::Pkcs12(match e {
                P12::MacError(_) | P12::UnpadError => {
                    "wrong password, or the file is corrupt (integrity check failed)".into()
                }
                P12::DerError(_) | P12::InvalidVersion => "not a PKCS#12 file".into(),
                P12::UnsupportedEncryptionScheme | P12::UnsupportedMacAlgorithm => {
                    format!("unsupported encryption: {e}")
                }
                other => other.to_string(),
            })
        })?;
        if archive.keys.is_empty() {
            return Err(Error::Pkcs12("the file contains no private key".into()));
        }
        let certs: Vec<Vec<u8>> = archive
            .certs
            .iter()
            .map(|bag| bag.cert.as_der().to_vec())
            .collect();
        if certs.is_empty() {
            return Err(Error::Pkcs12("the file contains no certificate".into()));
        }
        // Use the first key that has a certificate in the file.
        let mut first_error = None;
        for bag in &archive.keys {
            let attempt = pkcs8_to_pkcs1(bag.key.as_der())
                .and_then(|pkcs1| Self::from_parts(pkcs1, certs.clone()));
            match attempt {
                Ok(cert) => return Ok(cert),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| Error::Pkcs12("no usable private key".into())))
    }

    /// The one constructor every loader ends in: checks the key against the certificates.
    fn from_parts(pkcs1: Zeroizing<Vec<u8>>, certs: Vec<Vec<u8>>) -> Result<Self, Error> {
        // Before any client assertion can be signed with this certificate.
        crate::assertion::install_crypto_provider();
        let key_pair = RsaKeyPair::from_der(&pkcs1).map_err(|e| {
            Error::Certificate(format!(
                "the private key is not a usable RSA key (2048 to 8192 bits): {e}"
            ))
        })?;
        let public = key_pair.public_key().as_ref();
        let mut leaf = None;
        for (i, cert) in certs.iter().enumerate() {
            let key = formats::certificate_key(cert).map_err(|()| {
                Error::Certificate(format!("certificate #{} is not DER X.509", i + 1))
            })?;
            if leaf.is_none() && key == CertificateKey::Rsa(public.to_vec()) {
                leaf = Some(i);
            }
        }
        let leaf = leaf.ok_or_else(|| {
            Error::Certificate("the private key does not match the certificate".into())
        })?;
        let mut chain = certs;
        let leaf_der = chain.remove(leaf);
        chain.insert(0, leaf_der);

        let sha1_digest = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &chain[0]);
        let sha256_digest = digest::digest(&digest::SHA256, &chain[0]);
        let mut sha1 = [0u8; 20];
        sha1.copy_from_slice(sha1_digest.as_ref());
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(sha256_digest.as_ref());
        Ok(ClientCertificate {
            inner: Arc::new(Inner {
                key: EncodingKey::from_rsa_der(&pkcs1),
                chain,
                sha1,
                sha256,
            }),
        })
    }

    /// The SHA-1 thumbprint of the certificate (the value the Azure portal shows, in hex).
    pub fn thumbprint_sha1(&self) -> [u8; 20] {
        self.inner.sha1
    }

    /// The SHA-256 thumbprint of the certificate.
    pub fn thumbprint_sha256(&self) -> [u8; 32] {
        self.inner.sha256
    }

    /// The `x5t` JWT header value: the base64url SHA-1 thumbprint.
    pub fn x5t(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.inner.sha1)
    }

    /// The `x5t#S256` JWT header value: the base64url SHA-256 thumbprint.
    pub fn x5t_s256(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.inner.sha256)
    }

    /// The certificate (DER) matching the private key.
    pub fn certificate_der(&self) -> &[u8] {
        &self.inner.chain[0]
    }

    /// The `x5c` JWT header value: the certificate then the rest of the chain, standard base64.
    pub fn x5c(&self) -> Vec<String> {
        self.inner
            .chain
            .iter()
            .map(|c| STANDARD.encode(c))
            .collect()
    }

    pub(crate) fn encoding_key(&self) -> &EncodingKey {
        &self.inner.key
    }
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let thumbprint = hex::encode_upper(self.inner.sha1);
        f.debug_struct("ClientCertificate")
            .field("thumbprint_sha1", &thumbprint)
            .field("chain_len", &self.inner.chain.len())
            .field("private_key", &"<redacted>")
            .finish()
    }
}

fn not_rsa() -> Error {
    Error::Certificate(
        "the private key is not RSA; Entra ID certificate credentials use RSA".into(),
    )
}

/// The PKCS#1 key of a PKCS#8 key, or why it cannot be used.
fn pkcs8_to_pkcs1(pkcs8: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    pkcs1_from_pkcs8(pkcs8).map_err(|e| match e {
        Pkcs8Error::NotRsa => not_rsa(),
        Pkcs8Error::Malformed => Error::Certificate("the private key is not valid PKCS#8".into()),
    })
}
