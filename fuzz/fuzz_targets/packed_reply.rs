//! `cargo +nightly fuzz run packed_reply`: see `pattern_runtime::fuzz::packed_reply`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pattern_runtime::fuzz::packed_reply(data));
