//! See `dpukit_fuzz::manifest`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dpukit_fuzz::manifest::target(data);
});
