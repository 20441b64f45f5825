//! See `dpukit_fuzz::calibration`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dpukit_fuzz::calibration::target(data);
});
