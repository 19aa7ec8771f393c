//! Client secrets.

use std::fmt;

use zeroize::Zeroizing;

/// A client secret (the *value* of an app registration's secret, not its id).
///
/// The value is never shown by `Debug` and only leaves this type in the token request body.
/// It is kept in a buffer that is overwritten with zeros when dropped (each clone has its own
/// such buffer). A `String` passed to [`ClientSecret::new`] is moved in, not copied; to keep a
/// secret zeroized from the moment it is read, read it into a [`Zeroizing<String>`] and convert
/// that with `From`.
#[derive(Clone)]
pub struct ClientSecret(Zeroizing<String>);

impl ClientSecret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        ClientSecret(Zeroizing::new(value.into()))
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
        ClientSecret::new(value)
    }
}

impl From<&str> for ClientSecret {
    fn from(value: &str) -> Self {
        ClientSecret::new(value)
    }
}

impl From<Zeroizing<String>> for ClientSecret {
    fn from(value: Zeroizing<String>) -> Self {
        ClientSecret(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::ZeroizeOnDrop;

    /// Compiles only if the value's type is zeroized on drop.
    fn zeroized_on_drop<T: ZeroizeOnDrop>(_: &T) {}

    #[test]
    fn value_is_held_in_a_zeroize_on_drop_buffer() {
        let secret = ClientSecret::new("s3cr3t");
        // The field itself, so that changing it back to a plain `String` fails to compile.
        zeroized_on_drop(&secret.0);
        zeroized_on_drop(&secret.clone().0);
        assert_eq!(secret.secret(), "s3cr3t");
    }

    #[test]
    fn debug_never_shows_the_value() {
        let value = "Zm9v~very.secret_VALUE-123";
        for secret in [
            ClientSecret::new(value),
            ClientSecret::from(value),
            ClientSecret::from(value.to_owned()),
            ClientSecret::from(Zeroizing::new(value.to_owned())),
            ClientSecret::new(value).clone(),
        ] {
            let shown = format!("{secret:?} {secret:#?}");
            assert!(!shown.contains(value), "{shown}");
            assert!(shown.contains("redacted"), "{shown}");
            assert_eq!(secret.secret(), value);
        }
    }
}
