//! `cargo +nightly fuzz run reply_tree`: see `pattern_runtime::fuzz::reply_tree`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pattern_runtime::fuzz::reply_tree(data));
