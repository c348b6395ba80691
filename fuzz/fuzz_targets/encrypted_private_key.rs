//! cargo-fuzz target for `harness::encrypted_private_key`.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::encrypted_private_key(data));
