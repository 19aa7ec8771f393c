//! entra-auth's integration tests, one binary with a module per topic (one link instead of
//! eight on CI). Everything talks real HTTP to servers on 127.0.0.1: the emulator, the API
//! protected by the layer, and test doubles of Entra's metadata endpoints.
//!
//! `crypto_provider.rs` and `logging.rs` stay binaries of their own: one installs a process-wide
//! crypto provider, the other needs tracing's process-wide callsite interest to itself.

mod common;

mod adversarial;
#[cfg(feature = "forward-auth")]
mod forward_auth;
mod fuzz_smoke;
mod keys;
mod outages;
mod properties;
mod real_documents;
mod replicas;
mod validation;
