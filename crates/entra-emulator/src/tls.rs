//! HTTPS for the emulator: a generated local CA and a server certificate for loopback.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::EmulatorError;

/// TLS settings for [`EmulatorBuilder::tls`](crate::EmulatorBuilder::tls).
///
/// With TLS on, the emulator generates a private CA and a server certificate for `localhost`,
/// `127.0.0.1` and `::1` signed by it. Trust the CA
/// ([`Emulator::ca_certificate_pem`](crate::Emulator::ca_certificate_pem), or the file written
/// to [`TlsOptions::ca_out`]) in the client: `curl --cacert`, `REQUESTS_CA_BUNDLE`,
/// `reqwest::Certificate::from_pem`.
///
/// `true` converts to enabled TLS without writing the CA anywhere, `false` to plain HTTP.
///
/// ```
/// use entra_emulator::TlsOptions;
/// let tls = TlsOptions::new().ca_out(std::env::temp_dir().join("entra-emulator-ca.pem"));
/// let plain: TlsOptions = false.into();
/// # let _ = (tls, plain);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsOptions {
    pub(crate) enabled: bool,
    pub(crate) ca_out: Option<PathBuf>,
}

impl TlsOptions {
    /// TLS on, CA not written to disk.
    pub fn new() -> TlsOptions {
        TlsOptions {
            enabled: true,
            ca_out: None,
        }
    }

    /// Also write the CA certificate (PEM) to this path at start.
    pub fn ca_out(mut self, path: impl Into<PathBuf>) -> TlsOptions {
        self.ca_out = Some(path.into());
        self
    }
}

impl From<bool> for TlsOptions {
    fn from(enabled: bool) -> TlsOptions {
        TlsOptions {
            enabled,
            ca_out: None,
        }
    }
}

pub(crate) struct TlsMaterial {
    pub(crate) ca_pem: String,
    pub(crate) server_config: Arc<rustls::ServerConfig>,
}

impl fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsMaterial").finish_non_exhaustive()
    }
}

pub(crate) fn generate() -> Result<TlsMaterial, EmulatorError> {
    let err = |e: rcgen::Error| EmulatorError::Tls(e.to_string());
    let now = time::OffsetDateTime::now_utc();

    let ca_key = rcgen::KeyPair::generate().map_err(err)?;
    let mut ca_params = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(
        rcgen::DnType::CommonName,
        "Entra Emulator Local Development CA",
    );
    ca_params.distinguished_name = dn;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_before = now - time::Duration::days(1);
    ca_params.not_after = now + time::Duration::days(365);
    let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let leaf_key = rcgen::KeyPair::generate().map_err(err)?;
    let mut leaf_params = rcgen::CertificateParams::new(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ])
    .map_err(err)?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "localhost");
    leaf_params.distinguished_name = dn;
    leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.not_before = now - time::Duration::days(1);
    leaf_params.not_after = now + time::Duration::days(365);
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).map_err(err)?;

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| EmulatorError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(
            vec![
                CertificateDer::from(leaf.der().to_vec()),
                CertificateDer::from(ca_cert.der().to_vec()),
            ],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .map_err(|e| EmulatorError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsMaterial {
        ca_pem: ca_cert.pem(),
        server_config: Arc::new(config),
    })
}
