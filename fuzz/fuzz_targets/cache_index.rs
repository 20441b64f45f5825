//! Arbitrary operation sequences on the cache index, checked against a HashMap model.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dpukit_kernels::fuzzing::cache_index_target(data);
});
