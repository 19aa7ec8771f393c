//! entra-client's integration tests, one binary with a module per topic (one link on a 2-core
//! CI machine instead of one per file):
//!
//! - `assertion`: client assertions, checked by an independent verifier;
//! - `chain`: `DefaultCredential` against the emulator (environment > workload identity >
//!   managed identity, the kept credential, the error that explains every link);
//! - `emulator`: the client against the local Entra emulator over HTTP on 127.0.0.1;
//! - `managed_identity`: the managed identity credential against a scripted IMDS / App Service
//!   endpoint (each protocol's request, retries, malformed answers, the probe);
//! - `managed_identity_emulator`: the same against the emulator's endpoints (both protocols,
//!   every selector, the cache, faults retried or not);
//! - `obo`: on-behalf-of against the emulator (claims, the per-user cache, expiry, consent, an
//!   axum handler) and a scripted server (claims challenges);
//! - `pkcs12`: `.pfx` files written at test time, AES and legacy encryption;
//! - `user`: user sign-in (device code, browser + loopback), silent refresh, the cache file;
//! - `wire`: request format, retries, timeouts and error mapping against a scripted server;
//! - `workload`: workload identity (the token file rotated between requests, its errors, the
//!   environment convention) and client assertion sources, against a scripted server.
//!
//! `tests/crypto_provider.rs` stays a binary of its own: it checks process-wide state (which
//! jsonwebtoken crypto provider is installed) that the tests here would disturb.

#[path = "../common/mod.rs"]
mod common;

mod assertion;
mod chain;
mod emulator;
mod managed_identity;
mod managed_identity_emulator;
mod obo;
mod pkcs12;
mod user;
mod wire;
mod workload;
