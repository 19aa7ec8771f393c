//! **Not part of the stable interface.** The validator and the document parsers, public only so
//! that the fuzz targets, the benches and the property tests can call them directly. Anything
//! here may change in any release; applications use [`Authenticator`](crate::Authenticator) and
//! [`EntraAuthLayer`](crate::EntraAuthLayer).
//!
//! ```
//! use entra_auth::internal::key_set::KeySet;
//! assert!(KeySet::parse(br#"{"keys":[]}"#).is_err()); // no usable key: an error
//! ```

/// The validator: a pure function of (token, key, clock reading, policy) to claims or an error.
pub mod validate {
    pub use crate::validate::*;
}

/// Key-set parsing with our own types (Entra's keys carry `issuer`, no `alg`).
pub mod key_set {
    pub use crate::keys::key_set::*;
}

/// OpenID Connect discovery documents and the issuers they declare.
pub mod discovery {
    pub use crate::keys::discovery::*;
}

/// The verified-token cache's hasher (for the map comparison bench).
pub mod verified_cache {
    pub use crate::verified_cache::{TailHash, TailHasher};
}
