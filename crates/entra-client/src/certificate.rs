//! Certificate credentials: an RSA private key and its X.509 certificate (chain).

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::EncodingKey;
use zeroize::Zeroizing;

use crate::Error;
use crate::der;

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
/// taken out of PKCS#8) is zeroized when dropped. The key itself is kept only inside
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
    /// The decoded key is held in buffers that are zeroized on drop. The inputs belong to the
    /// caller: pass references, or [`Zeroizing`] buffers (an owned `String` or `Vec` passed by
    /// value is dropped here without being zeroized).
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
        let pkcs1 = Zeroizing::new(match der::pkcs8_rsa_to_pkcs1(key_der) {
            Ok(pkcs1) => pkcs1.to_vec(),
            Err(der::Pkcs8Error::NotRsa) => return Err(not_rsa()),
            // Not PKCS#8: try PKCS#1.
            Err(der::Pkcs8Error::Malformed) => key_der.to_vec(),
        });
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
            if !der::is_single_sequence(cert) {
                return Err(Error::Certificate(format!(
                    "certificate #{} is not DER X.509",
                    i + 1
                )));
            }
            let (oid, spk) = der::certificate_public_key(cert).map_err(|_| {
                Error::Certificate(format!("certificate #{} is not DER X.509", i + 1))
            })?;
            if leaf.is_none() && oid == der::OID_RSA_ENCRYPTION && spk == public {
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
        let thumbprint: String = self.inner.sha1.iter().map(|b| format!("{b:02X}")).collect();
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

fn pkcs8_to_pkcs1(pkcs8: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    match der::pkcs8_rsa_to_pkcs1(pkcs8) {
        Ok(k) => Ok(Zeroizing::new(k.to_vec())),
        Err(der::Pkcs8Error::NotRsa) => Err(not_rsa()),
        Err(der::Pkcs8Error::Malformed) => Err(Error::Certificate(
            "the private key is not valid PKCS#8".into(),
        )),
    }
}

/// A PEM block: its label and its decoded content (DER), which may be a private key.
type PemBlock = (String, Zeroizing<Vec<u8>>);

/// The blocks of a PEM file: `(label, DER)`. Text outside blocks is ignored.
///
/// A block may be a private key: its base64 text and its DER are assembled in buffers of the
/// final size (no reallocation leaves a copy behind) that are zeroized on drop.
fn pem_blocks(input: &[u8]) -> Result<Vec<PemBlock>, Error> {
    let text = std::str::from_utf8(input)
        .map_err(|_| Error::Certificate("PEM input is not text".into()))?;
    let mut blocks = Vec::new();
    // The label and the base64 lines (borrowed from the input) of the block being read.
    let mut current: Option<(String, Vec<&str>)> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            if current.is_some() {
                return Err(Error::Certificate("PEM block not terminated".into()));
            }
            current = Some((label.to_owned(), Vec::new()));
        } else if let Some(label) = line
            .strip_prefix("-----END ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            let Some((begin, lines)) = current.take() else {
                return Err(Error::Certificate("PEM END without BEGIN".into()));
            };
            if begin != label {
                return Err(Error::Certificate(format!(
                    "PEM block BEGIN {begin} ends with END {label}"
                )));
            }
            let mut body =
                Zeroizing::new(String::with_capacity(lines.iter().map(|l| l.len()).sum()));
            for l in lines {
                body.push_str(l);
            }
            let der = decode_base64(&body).ok_or_else(|| {
                Error::Certificate(format!("PEM block {label} is not valid base64"))
            })?;
            blocks.push((label.to_owned(), der));
        } else if let Some((label, lines)) = current.as_mut() {
            if line.contains(':') {
                // RFC 1421 headers (Proc-Type: 4,ENCRYPTED) mean a legacy encrypted key.
                return Err(Error::Certificate(format!(
                    "PEM block {label} is encrypted; decrypt it first or use a PKCS#12 file"
                )));
            }
            lines.push(line);
        }
    }
    if current.is_some() {
        return Err(Error::Certificate("PEM block not terminated".into()));
    }
    Ok(blocks)
}

/// Standard base64 into a zeroize-on-drop buffer, allocated once (also zeroized when the input
/// turns out to be invalid half-way).
fn decode_base64(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(vec![0u8; base64::decoded_len_estimate(text.len())]);
    let len = STANDARD.decode_slice(text.as_bytes(), &mut out[..]).ok()?;
    out.truncate(len);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_parsing() {
        let pem = "junk\n-----BEGIN A-----\nAAEC\nAw==\n-----END A-----\n\
                   -----BEGIN CERTIFICATE-----\r\nBAU=\r\n-----END CERTIFICATE-----\r\n";
        let blocks: Vec<(String, Vec<u8>)> = pem_blocks(pem.as_bytes())
            .unwrap()
            .into_iter()
            .map(|(label, der)| (label, der.to_vec()))
            .collect();
        assert_eq!(
            blocks,
            vec![
                ("A".to_owned(), vec![0, 1, 2, 3]),
                ("CERTIFICATE".to_owned(), vec![4, 5])
            ]
        );
        assert!(pem_blocks(b"-----BEGIN A-----\nAAEC\n").is_err());
        assert!(pem_blocks(b"-----BEGIN A-----\nAAEC\n-----END B-----\n").is_err());
        assert!(pem_blocks(b"-----BEGIN A-----\n!!!\n-----END A-----\n").is_err());
        let encrypted = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\
                         DEK-Info: AES-128-CBC,00\n\nAAEC\n-----END RSA PRIVATE KEY-----\n";
        let e = pem_blocks(encrypted.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("encrypted"), "{e}");
    }

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
        let pkcs1 = der::pkcs8_rsa_to_pkcs1(key.serialized_der()).unwrap();
        let from_pkcs1 =
            ClientCertificate::from_pem(pem("RSA PRIVATE KEY", pkcs1), cert.pem()).unwrap();
        let from_der = ClientCertificate::from_der(pkcs1, cert.der()).unwrap();
        let from_der8 = ClientCertificate::from_der(key.serialized_der(), cert.der()).unwrap();
        for c in [&from_pkcs8, &from_pkcs1, &from_der, &from_der8] {
            assert_eq!(c.certificate_der(), cert.der().as_ref());
            assert_eq!(c.encoding_key().as_bytes(), pkcs1);
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
        zeroized_on_drop(&decode_base64("AAEC").unwrap());
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
            window.iter().map(|b| format!("{b:02x}")).collect(),
            window.iter().map(|b| format!("{b:02X}")).collect(),
            STANDARD.encode(der)[200..240].to_owned(),
        ]
    }

    #[test]
    fn debug_never_shows_key_material() {
        let (key, cert) = rsa_cert();
        let pkcs1 = der::pkcs8_rsa_to_pkcs1(key.serialized_der()).unwrap();
        let pem = key.serialize_pem();
        let c = ClientCertificate::from_pem(&pem, cert.pem()).unwrap();
        let shown = format!("{c:?} {c:#?}");
        for needle in key_renderings(pkcs1)
            .into_iter()
            .chain(key_renderings(key.serialized_der()))
            .chain(pem.lines().skip(5).take(1).map(str::to_owned))
        {
            assert!(!shown.contains(&needle), "{needle} in {shown}");
        }
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
