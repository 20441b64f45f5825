//! The C peer of the interop tests (`c/peer.c`, compiled by `build.rs` against the ABI
//! header): a C producer of descriptors, a C consumer of completions and a C dump of
//! the ABI layout. The tests live in `tests/interop.rs`.

use dpukit_ffi::bindings as b;

extern "C" {
    /// Writes up to `max` (name, value) layout rows; returns how many exist.
    pub fn dpu_c_layout(names: *mut *const std::ffi::c_char, values: *mut u64, max: usize) -> usize;
    /// Produces `count` COPY descriptors tagged `tag0..` into `sq`, `batch` per doorbell.
    pub fn dpu_c_produce(sq: *mut b::dpu_ring_ctrl, tag0: u64, count: u64, batch: u32) -> u64;
    /// The compiled-in C kernel plugin (`dpu-sim/tests/c/xor_kernel.c`).
    pub fn dpu_kernel_plugin_v1() -> *const b::dpu_kernel_plugin;
    /// Consumes up to `max` completions from `cq`.
    pub fn dpu_c_consume(cq: *mut b::dpu_ring_ctrl, out: *mut b::dpu_cpl, max: u32) -> u32;
}
