//! Client assertions: the JWT a certificate credential signs to prove possession of its key.

use std::time::{Duration, SystemTime};

use jsonwebtoken::{Algorithm, Header};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::{ClientCertificate, Error};

/// The longest client assertion lifetime Entra ID accepts (and the default).
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// How the client assertion is signed and which certificate thumbprint header identifies the
/// certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum AssertionAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, with an `x5t` (SHA-1 thumbprint) header. The default,
    /// accepted everywhere.
    #[default]
    Rs256,
    /// RSASSA-PSS with SHA-256, with an `x5t#S256` (SHA-256 thumbprint) header.
    Ps256,
}

/// Options for building a client assertion.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AssertionOptions {
    pub(crate) algorithm: AssertionAlgorithm,
    pub(crate) send_x5c: bool,
    pub(crate) lifetime: Duration,
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: u64,
    iat: u64,
    exp: u64,
}

/// Makes aws-lc `jsonwebtoken`'s crypto provider for this process, unless one is installed
/// already (then this does nothing). Called before any client assertion can be signed.
///
/// `jsonwebtoken` picks its provider from its crate features. If any other crate in the build
/// also enables its `rust_crypto` feature, it cannot choose and panics at the first signature
/// unless a provider was installed explicitly. This crate signs with aws-lc, which it depends on
/// anyway.
pub(crate) fn install_crypto_provider() {
    let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
        &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
    );
}

/// Builds and signs a client assertion for `client_id`, valid from `now` for the configured
/// lifetime, for the token endpoint `audience`. The assertion is a credential for its lifetime:
/// it is returned in a buffer that is zeroized on drop.
pub(crate) fn client_assertion(
    cert: &ClientCertificate,
    client_id: &str,
    audience: &str,
    now: SystemTime,
    options: &AssertionOptions,
) -> Result<Zeroizing<String>, Error> {
    let mut header = match options.algorithm {
        AssertionAlgorithm::Rs256 => {
            let mut h = Header::new(Algorithm::RS256);
            h.x5t = Some(cert.x5t());
            h
        }
        AssertionAlgorithm::Ps256 => {
            let mut h = Header::new(Algorithm::PS256);
            h.x5t_s256 = Some(cert.x5t_s256());
            h
        }
    };
    if options.send_x5c {
        header.x5c = Some(cert.x5c());
    }
    let iat = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| Error::Signing("the clock is before 1970".into()))?
        .as_secs();
    let claims = Claims {
        aud: audience,
        iss: client_id,
        sub: client_id,
        jti: uuid::Uuid::new_v4().to_string(),
        nbf: iat,
        iat,
        exp: iat + options.lifetime.as_secs(),
    };
    // jsonwebtoken's errors describe the failure kind, never the key.
    jsonwebtoken::encode(&header, &claims, cert.encoding_key())
        .map(Zeroizing::new)
        .map_err(|e| Error::Signing(e.to_string()))
}
