//! See `dpukit_fuzz::device`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dpukit_fuzz::device::target(data);
});
