//! Client secrets.

use std::fmt;

/// A client secret (the *value* of an app registration's secret, not its id).
///
/// The value is never shown by `Debug` and only leaves this type in the token request body.
#[derive(Clone)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        ClientSecret(value.into())
    }

    /// The secret value. Handle with care: never log it.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

impl From<String> for ClientSecret {
    fn from(value: String) -> Self {
        ClientSecret(value)
    }
}

impl From<&str> for ClientSecret {
    fn from(value: &str) -> Self {
        ClientSecret(value.to_owned())
    }
}
