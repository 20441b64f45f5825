//! See `dpukit_fuzz::result`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dpukit_fuzz::result::target(data);
});
