//! The emulator's error type.

use std::io;

/// Everything that can go wrong while setting up or running the emulator.
///
/// Errors are only returned to the code that *controls* the emulator (start-up, configuration,
/// key generation). Requests from HTTP clients never produce an `EmulatorError`: they get an
/// Entra-shaped JSON error response instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// Binding the listener or another I/O operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// Generating an RSA key or a certificate failed.
    #[error("key or certificate generation failed: {0}")]
    KeyGeneration(String),
    /// A certificate given to the emulator (PEM or DER) could not be parsed.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    /// Setting up TLS failed.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// The configuration file or value is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The listen address is not acceptable (for example not a loopback address).
    #[error("invalid listen address: {0}")]
    Address(String),
}
