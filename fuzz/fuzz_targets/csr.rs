//! cargo-fuzz target for `harness::csr`.
#![no_main]

// Each target calls one of the shared harnesses; the others are unused here.
#[allow(dead_code)]
#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::csr(data));
