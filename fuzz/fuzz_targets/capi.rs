//! See `dpukit_fuzz::capi`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dpukit_fuzz::capi::target(data);
});
