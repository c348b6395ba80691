//! cargo-fuzz target for `harness::ca_load`.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::ca_load(data));
