//! Raw, byte-exact ABI records: the generated C structs wrapped so they are
//! `bytemuck::Pod`, with const asserts that Rust's layout is the header's.
//!
//! These types carry bytes, not meaning: [`crate::desc`] parses them.

use crate::bindings as b;
use core::mem::{align_of, offset_of, size_of};

/// A submission descriptor exactly as it sits in a ring slot (64 bytes).
#[repr(transparent)]
#[derive(Clone, Copy, Default)]
pub struct RawDesc(pub b::dpu_desc);

/// A completion record exactly as it sits in a ring slot (32 bytes).
#[repr(transparent)]
#[derive(Clone, Copy, Default)]
pub struct RawCpl(pub b::dpu_cpl);

impl PartialEq for RawCpl {
    fn eq(&self, other: &Self) -> bool {
        bytemuck::bytes_of(self) == bytemuck::bytes_of(other)
    }
}
impl Eq for RawCpl {}

// SAFETY: `dpu_desc` is `repr(C)`, 64-byte aligned and 64 bytes long; every field is an
// integer, a byte array or a union of such structs of equal size (32 bytes), so there
// is no padding (checked by the size asserts below) and every bit pattern is valid.
unsafe impl bytemuck::Zeroable for RawDesc {}
// SAFETY: as above; `RawDesc` is `Copy` and `'static`.
unsafe impl bytemuck::Pod for RawDesc {}
// SAFETY: `dpu_cpl` is `repr(C)`: u64, u64, u32, u16, u8, u8, u64 = 32 bytes with no
// padding (asserted below); every bit pattern is valid.
unsafe impl bytemuck::Zeroable for RawCpl {}
// SAFETY: as above.
unsafe impl bytemuck::Pod for RawCpl {}

impl core::fmt::Debug for RawDesc {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "RawDesc({:02x?})", bytemuck::bytes_of(self))
    }
}

impl core::fmt::Debug for RawCpl {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let c = &self.0;
        f.debug_struct("RawCpl")
            .field("tag", &c.tag)
            .field("result", &c.result)
            .field("bytes", &c.bytes)
            .field("status", &c.status)
            .field("opcode", &c.opcode)
            .field("modelled_ns", &c.modelled_ns)
            .finish()
    }
}

impl RawDesc {
    pub fn as_bytes(&self) -> &[u8; 64] {
        bytemuck::cast_ref(self)
    }
    pub fn from_bytes(bytes: [u8; 64]) -> RawDesc {
        bytemuck::cast(bytes)
    }
    // Field accessors without touching the unions: the union arms are plain bytes, so
    // reading them through byte offsets is what a device would do.
    pub(crate) fn u32_at(&self, off: usize) -> u32 {
        u32::from_le_bytes(self.as_bytes()[off..off + 4].try_into().expect("4 bytes"))
    }
    pub(crate) fn u64_at(&self, off: usize) -> u64 {
        u64::from_le_bytes(self.as_bytes()[off..off + 8].try_into().expect("8 bytes"))
    }
    pub(crate) fn bytes_at<const N: usize>(&self, off: usize) -> [u8; N] {
        self.as_bytes()[off..off + N].try_into().expect("N bytes")
    }
    pub(crate) fn set_bytes(&mut self, off: usize, src: &[u8]) {
        let bytes: &mut [u8; 64] = bytemuck::cast_mut(self);
        bytes[off..off + src.len()].copy_from_slice(src);
    }
}

/// Byte offsets of the descriptor's operand blocks (union arms), from the header.
pub mod off {
    pub const OP: usize = 16;
    pub const IO_SRC: usize = OP;
    pub const IO_DST: usize = OP + 16;
    pub const CACHE_KEY: usize = OP;
    pub const CACHE_VALUE: usize = OP + 16;
    pub const CACHE_DST: usize = OP + 16;
    pub const SEED: usize = 48;
    pub const AUX: usize = 56;
    pub const BUF_REGION: usize = 0;
    pub const BUF_LEN: usize = 4;
    pub const BUF_OFFSET: usize = 8;
}

// Layout: Rust (these asserts) and C (the header's static asserts) check the same
// numbers; bindgen's own layout tests in bindings.rs check clang's view of the header.
const _: () = {
    assert!(size_of::<RawDesc>() == b::DPU_DESC_BYTES as usize);
    assert!(align_of::<RawDesc>() == b::DPU_CACHE_LINE_BYTES as usize);
    assert!(size_of::<RawCpl>() == b::DPU_CPL_BYTES as usize);
    assert!(align_of::<RawCpl>() == 32);
    assert!(size_of::<b::dpu_buf_ref>() == 16);
    assert!(offset_of!(b::dpu_buf_ref, region) == off::BUF_REGION);
    assert!(offset_of!(b::dpu_buf_ref, len) == off::BUF_LEN);
    assert!(offset_of!(b::dpu_buf_ref, offset) == off::BUF_OFFSET);
    assert!(size_of::<b::dpu_cache_value>() == b::DPU_CACHE_VALUE_BYTES as usize);
    assert!(offset_of!(b::dpu_desc, opcode) == 0);
    assert!(offset_of!(b::dpu_desc, algo) == 1);
    assert!(offset_of!(b::dpu_desc, level) == 2);
    assert!(offset_of!(b::dpu_desc, reserved0) == 3);
    assert!(offset_of!(b::dpu_desc, flags) == 4);
    assert!(offset_of!(b::dpu_desc, tag) == 8);
    assert!(offset_of!(b::dpu_desc, op) == off::OP);
    assert!(offset_of!(b::dpu_desc, seed) == off::SEED);
    assert!(offset_of!(b::dpu_desc, aux) == off::AUX);
    assert!(offset_of!(b::dpu_desc_io, src) == off::IO_SRC - off::OP);
    assert!(offset_of!(b::dpu_desc_io, dst) == off::IO_DST - off::OP);
    assert!(offset_of!(b::dpu_desc_cache, key) == off::CACHE_KEY - off::OP);
    assert!(offset_of!(b::dpu_desc_cache, u) == off::CACHE_VALUE - off::OP);
    assert!(offset_of!(b::dpu_cpl, tag) == 0);
    assert!(offset_of!(b::dpu_cpl, result) == 8);
    assert!(offset_of!(b::dpu_cpl, bytes) == 16);
    assert!(offset_of!(b::dpu_cpl, status) == 20);
    assert!(offset_of!(b::dpu_cpl, opcode) == 22);
    assert!(offset_of!(b::dpu_cpl, reserved0) == 23);
    assert!(offset_of!(b::dpu_cpl, modelled_ns) == 24);
    assert!(size_of::<b::dpu_ring_ctrl>() == 4 * b::DPU_CACHE_LINE_BYTES as usize);
    assert!(align_of::<b::dpu_ring_ctrl>() == b::DPU_CACHE_LINE_BYTES as usize);
    assert!(offset_of!(b::dpu_ring_ctrl, producer) == 0);
    assert!(offset_of!(b::dpu_ring_ctrl, consumer) == 64);
    assert!(offset_of!(b::dpu_ring_ctrl, doorbell) == 128);
    assert!(offset_of!(b::dpu_ring_ctrl, magic) == 192);
    assert!(offset_of!(b::dpu_ring_ctrl, abi_major) == 196);
    assert!(offset_of!(b::dpu_ring_ctrl, abi_minor) == 198);
    assert!(offset_of!(b::dpu_ring_ctrl, capacity) == 200);
    assert!(offset_of!(b::dpu_ring_ctrl, entry_bytes) == 204);
    assert!(offset_of!(b::dpu_kernel_out, result) == 0);
    assert!(offset_of!(b::dpu_kernel_out, dst_len) == 8);
};

/// The layout facts the C side also reports, in a fixed order: the interop test compares
/// this table against the one a C program prints.
pub fn layout_table() -> Vec<(&'static str, usize)> {
    vec![
        ("sizeof(dpu_buf_ref)", size_of::<b::dpu_buf_ref>()),
        ("sizeof(dpu_cache_value)", size_of::<b::dpu_cache_value>()),
        ("sizeof(dpu_desc)", size_of::<b::dpu_desc>()),
        ("alignof(dpu_desc)", align_of::<b::dpu_desc>()),
        ("offsetof(dpu_desc,opcode)", offset_of!(b::dpu_desc, opcode)),
        ("offsetof(dpu_desc,algo)", offset_of!(b::dpu_desc, algo)),
        ("offsetof(dpu_desc,level)", offset_of!(b::dpu_desc, level)),
        ("offsetof(dpu_desc,flags)", offset_of!(b::dpu_desc, flags)),
        ("offsetof(dpu_desc,tag)", offset_of!(b::dpu_desc, tag)),
        ("offsetof(dpu_desc,op)", offset_of!(b::dpu_desc, op)),
        ("offsetof(dpu_desc,seed)", offset_of!(b::dpu_desc, seed)),
        ("offsetof(dpu_desc,aux)", offset_of!(b::dpu_desc, aux)),
        ("offsetof(dpu_desc_io,dst)", offset_of!(b::dpu_desc_io, dst)),
        ("offsetof(dpu_desc_cache,u)", offset_of!(b::dpu_desc_cache, u)),
        ("sizeof(dpu_cpl)", size_of::<b::dpu_cpl>()),
        ("alignof(dpu_cpl)", align_of::<b::dpu_cpl>()),
        ("offsetof(dpu_cpl,result)", offset_of!(b::dpu_cpl, result)),
        ("offsetof(dpu_cpl,bytes)", offset_of!(b::dpu_cpl, bytes)),
        ("offsetof(dpu_cpl,status)", offset_of!(b::dpu_cpl, status)),
        ("offsetof(dpu_cpl,opcode)", offset_of!(b::dpu_cpl, opcode)),
        ("offsetof(dpu_cpl,modelled_ns)", offset_of!(b::dpu_cpl, modelled_ns)),
        ("sizeof(dpu_ring_ctrl)", size_of::<b::dpu_ring_ctrl>()),
        ("offsetof(dpu_ring_ctrl,consumer)", offset_of!(b::dpu_ring_ctrl, consumer)),
        ("offsetof(dpu_ring_ctrl,doorbell)", offset_of!(b::dpu_ring_ctrl, doorbell)),
        ("offsetof(dpu_ring_ctrl,magic)", offset_of!(b::dpu_ring_ctrl, magic)),
        ("offsetof(dpu_ring_ctrl,capacity)", offset_of!(b::dpu_ring_ctrl, capacity)),
        ("offsetof(dpu_ring_ctrl,entry_bytes)", offset_of!(b::dpu_ring_ctrl, entry_bytes)),
        ("sizeof(dpu_kernel_io)", size_of::<b::dpu_kernel_io>()),
        ("offsetof(dpu_kernel_io,flags)", offset_of!(b::dpu_kernel_io, flags)),
        ("sizeof(dpu_kernel_out)", size_of::<b::dpu_kernel_out>()),
        ("sizeof(dpu_kernel_plugin)", size_of::<b::dpu_kernel_plugin>()),
        ("offsetof(dpu_kernel_plugin,run)", offset_of!(b::dpu_kernel_plugin, run)),
    ]
}
