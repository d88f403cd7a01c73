//! `cargo +nightly fuzz run resp_reply`: see `pattern_runtime::fuzz::resp_reply`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pattern_runtime::fuzz::resp_reply(data));
