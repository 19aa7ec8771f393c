#![no_main]
//! Fuzz target `key_set`: see `common.rs` for what it checks.

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let _ = common::key_set(data);
});
