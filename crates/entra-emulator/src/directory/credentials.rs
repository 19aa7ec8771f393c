//! App credentials: client secrets and client certificates.
//!
//! Certificates are read with `x509-parser` (DER) and `pem`: they may come from configuration
//! files, so every failure is an error, never a panic.

use std::fmt;
use std::time::SystemTime;

use aws_lc_rs::digest;
use x509_parser::prelude::{FromDer as _, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::EmulatorError;

/// A client secret on an app registration. `Debug` never shows the value.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use entra_emulator::ClientSecret;
/// let s = ClientSecret::new("s3cr3t").expires_at(SystemTime::now() + Duration::from_secs(3600));
/// assert!(!format!("{s:?}").contains("s3cr3t"));
/// ```
#[derive(Clone)]
pub struct ClientSecret {
    pub(crate) value: String,
    pub(crate) expires_at: Option<SystemTime>,
}

impl ClientSecret {
    /// A secret with this value that never expires.
    pub fn new(value: impl Into<String>) -> ClientSecret {
        ClientSecret {
            value: value.into(),
            expires_at: None,
        }
    }

    /// Let the secret expire at this instant; after it the token endpoint answers AADSTS7000222.
    pub fn expires_at(mut self, at: SystemTime) -> ClientSecret {
        self.expires_at = Some(at);
        self
    }

    pub(crate) fn is_expired(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSecret")
            .field("value", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A client certificate registered on an app: thumbprints and public key.
#[derive(Clone)]
pub(crate) struct ClientCertificate {
    /// SHA-1 of the certificate DER (what `x5t` names).
    pub(crate) sha1: Vec<u8>,
    /// SHA-256 of the certificate DER (what `x5t#S256` names).
    pub(crate) sha256: Vec<u8>,
    /// The RSA public key, PKCS#1 `RSAPublicKey` DER.
    pub(crate) public_pkcs1: Vec<u8>,
}

impl ClientCertificate {
    /// An X.509 certificate (DER) with an RSA key.
    pub(crate) fn from_der(cert_der: &[u8]) -> Result<ClientCertificate, EmulatorError> {
        let invalid =
            || EmulatorError::InvalidCertificate("not an X.509 certificate with an RSA key".into());
        let (_, cert) = X509Certificate::from_der(cert_der).map_err(|_| invalid())?;
        let spki = cert.public_key();
        let Ok(PublicKey::RSA(_)) = spki.parsed() else {
            return Err(invalid());
        };
        Ok(ClientCertificate {
            sha1: digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, cert_der)
                .as_ref()
                .to_vec(),
            sha256: digest::digest(&digest::SHA256, cert_der).as_ref().to_vec(),
            public_pkcs1: spki.subject_public_key.data.to_vec(),
        })
    }

    /// Every `CERTIFICATE` block of a PEM text; an error if there is none or one is invalid.
    /// Blank lines inside a block are ignored, as most tools do (the `pem` crate would read the
    /// text before one as RFC 1421 headers and refuse the block).
    pub(crate) fn from_pem(text: &str) -> Result<Vec<ClientCertificate>, EmulatorError> {
        let text: String = text
            .lines()
            .filter(|line| !line.trim().is_empty())
            .flat_map(|line| [line, "\n"])
            .collect();
        let blocks = pem::parse_many(text)
            .map_err(|e| EmulatorError::InvalidCertificate(format!("invalid PEM: {e}")))?;
        let certs = blocks
            .iter()
            .filter(|b| b.tag() == "CERTIFICATE")
            .map(|b| ClientCertificate::from_der(b.contents()))
            .collect::<Result<Vec<_>, _>>()?;
        if certs.is_empty() {
            return Err(EmulatorError::InvalidCertificate(
                "no PEM CERTIFICATE block found".into(),
            ));
        }
        Ok(certs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_key_certificates_parse_to_their_key() {
        let (k, _) = crate::keys::shared_start_keys().unwrap();
        let cc = ClientCertificate::from_der(k.certificate_der()).unwrap();
        assert_eq!(cc.public_pkcs1, k.public_key_der());
        let from_pem = ClientCertificate::from_pem(&k.certificate_pem()).unwrap();
        assert_eq!(from_pem.len(), 1);
        assert_eq!(from_pem[0].sha256, cc.sha256);
    }

    #[test]
    fn blank_lines_inside_a_pem_block_are_ignored() {
        let (k, _) = crate::keys::shared_start_keys().unwrap();
        let pem = k.certificate_pem();
        let spaced = pem
            .replacen('\n', "\n\n", 2)
            .replace("\n-----END", "\n\n-----END");
        assert_ne!(spaced, pem);
        let certs = ClientCertificate::from_pem(&spaced).unwrap();
        assert_eq!(certs[0].public_pkcs1, k.public_key_der());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for input in [
            &[][..],
            &[0x30],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x30, 0x82, 0xff, 0xff],
        ] {
            assert!(ClientCertificate::from_der(input).is_err());
        }
        for text in [
            "",
            "-----BEGIN CERTIFICATE-----\n!!!",
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
        ] {
            assert!(ClientCertificate::from_pem(text).is_err(), "{text}");
        }
    }
}
