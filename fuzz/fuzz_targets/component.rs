//! `cargo +nightly fuzz run component`: see `pattern_runtime::fuzz::component`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pattern_runtime::fuzz::component(data));
