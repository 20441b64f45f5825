//! See `dpukit_fuzz::profile`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dpukit_fuzz::profile::target(data);
});
