//! Arbitrary bytes into every decompressor (small and big destination), plus a round trip.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dpukit_kernels::fuzzing::decompress_target(data);
});
