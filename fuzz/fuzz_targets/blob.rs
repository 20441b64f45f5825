//! See `dpukit_fuzz::blob`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dpukit_fuzz::blob::target(data);
});
