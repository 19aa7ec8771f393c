//! The emulator's integration tests, one binary with a module per topic. Every test starts its
//! own emulator and talks to it over HTTP on 127.0.0.1.

mod common;
mod directory;
mod discovery;
mod faults;
mod federation;
mod keys;
mod managed_identity;
mod minting;
mod serving;
mod token;
mod user_flows;
