//! cargo-fuzz target for `harness::certificates`.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::certificates(data));
