//! `cargo +nightly fuzz run call_request`: see `pattern_runtime::fuzz::call_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pattern_runtime::fuzz::call_request(data));
