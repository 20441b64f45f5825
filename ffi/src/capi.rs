//! The C API declared at the end of `include/dpu_offload.h`: queue pairs for C callers.
//!
//! Every function checks its pointers and returns a `dpu_status`; none panics across the
//! boundary (a Rust panic here would abort the C caller). Linked from
//! `libdpukit_ffi.a` (see `ffi/README.md`).
#![cfg(not(loom))]

use crate::abi::{RawCpl, RawDesc};
use crate::bindings as b;
use crate::qp::{DeviceQueue, HostQueue, QueuePair, QueuePairConfig};
use crate::region::RegionError;
use crate::types::Status;

/// The object behind `struct dpu_qp *`.
pub struct CQueuePair {
    host: HostQueue,
    dev: DeviceQueue,
}

fn st(s: Status) -> u16 {
    s.raw()
}

/// # Safety
/// `out` must be valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn dpu_qp_create(sq_entries: u32, cq_entries: u32, out: *mut *mut b::dpu_qp) -> u16 {
    if out.is_null() {
        return st(Status::InvalidArgument);
    }
    let cfg = QueuePairConfig { sq_entries, cq_entries, ..QueuePairConfig::default() };
    match QueuePair::create(cfg) {
        Ok((host, dev)) => {
            let qp = Box::into_raw(Box::new(CQueuePair { host, dev }));
            // SAFETY: `out` is non-null and the caller promises it is writable.
            unsafe { *out = qp.cast() };
            st(Status::Ok)
        }
        Err(_) => st(Status::InvalidArgument),
    }
}

/// # Safety
/// `qp` is null or a pointer from `dpu_qp_create` not yet destroyed.
#[no_mangle]
pub unsafe extern "C" fn dpu_qp_destroy(qp: *mut b::dpu_qp) {
    if !qp.is_null() {
        // SAFETY: created by Box::into_raw in dpu_qp_create, destroyed once (contract).
        drop(unsafe { Box::from_raw(qp.cast::<CQueuePair>()) });
    }
}

/// # Safety
/// `qp` from `dpu_qp_create`; `qp` must not be used concurrently from two threads.
unsafe fn qp_mut<'a>(qp: *mut b::dpu_qp) -> Option<&'a mut CQueuePair> {
    // SAFETY: non-null pointers come from dpu_qp_create (caller contract).
    unsafe { qp.cast::<CQueuePair>().as_mut() }
}

/// # Safety
/// `qp` from `dpu_qp_create`; `base..base+len` valid until `qp` is destroyed and not
/// touched while referenced by in-flight descriptors; `region_id` writable.
#[no_mangle]
pub unsafe extern "C" fn dpu_qp_register_region(
    qp: *mut b::dpu_qp,
    base: *mut core::ffi::c_void,
    len: u64,
    region_id: *mut u32,
) -> u16 {
    // SAFETY: caller contract.
    let Some(qp) = (unsafe { qp_mut(qp) }) else { return st(Status::InvalidArgument) };
    if region_id.is_null() {
        return st(Status::InvalidArgument);
    }
    // SAFETY: the registration contract is the caller's (documented in the header).
    match unsafe { qp.host.register_region(base.cast(), len) } {
        Ok(id) => {
            // SAFETY: non-null, writable by contract.
            unsafe { *region_id = id.0 };
            st(Status::Ok)
        }
        Err(RegionError::TableFull(_)) => st(Status::NoSpace),
        Err(_) => st(Status::InvalidArgument),
    }
}

/// # Safety
/// `qp` from `dpu_qp_create`; `descs` valid for `n` reads; `accepted` writable.
#[no_mangle]
pub unsafe extern "C" fn dpu_qp_submit(
    qp: *mut b::dpu_qp,
    descs: *const b::dpu_desc,
    n: u32,
    accepted: *mut u32,
) -> u16 {
    // SAFETY: caller contract.
    let Some(qp) = (unsafe { qp_mut(qp) }) else { return st(Status::InvalidArgument) };
    if accepted.is_null() || (descs.is_null() && n > 0) {
        return st(Status::InvalidArgument);
    }
    let descs: &[RawDesc] = if n == 0 {
        &[]
    } else {
        // SAFETY: non-null, valid for n reads (contract); RawDesc is repr(transparent)
        // over dpu_desc. C's alignment of dpu_desc is 64, as Rust's.
        unsafe { std::slice::from_raw_parts(descs.cast::<RawDesc>(), n as usize) }
    };
    let k = qp.host.submit_raw(descs);
    // SAFETY: non-null, writable by contract.
    unsafe { *accepted = k as u32 };
    if k == 0 && n > 0 {
        st(Status::QueueFull)
    } else {
        st(Status::Ok)
    }
}

/// # Safety
/// `qp` from `dpu_qp_create`; `out` valid for `max` writes; `n` writable.
#[no_mangle]
pub unsafe extern "C" fn dpu_qp_poll(qp: *mut b::dpu_qp, out: *mut b::dpu_cpl, max: u32, n: *mut u32) -> u16 {
    // SAFETY: caller contract.
    let Some(qp) = (unsafe { qp_mut(qp) }) else { return st(Status::InvalidArgument) };
    if n.is_null() || (out.is_null() && max > 0) {
        return st(Status::InvalidArgument);
    }
    let out: &mut [RawCpl] = if max == 0 {
        &mut []
    } else {
        // SAFETY: non-null, valid for max writes (contract); RawCpl is repr(transparent).
        unsafe { std::slice::from_raw_parts_mut(out.cast::<RawCpl>(), max as usize) }
    };
    let k = qp.host.poll_raw(out);
    // SAFETY: non-null, writable by contract.
    unsafe { *n = k as u32 };
    st(Status::Ok)
}

/// # Safety
/// `qp` from `dpu_qp_create`; `done` writable.
#[no_mangle]
pub unsafe extern "C" fn dpu_qp_loopback_process(qp: *mut b::dpu_qp, budget: u32, done: *mut u32) -> u16 {
    // SAFETY: caller contract.
    let Some(qp) = (unsafe { qp_mut(qp) }) else { return st(Status::InvalidArgument) };
    if done.is_null() {
        return st(Status::InvalidArgument);
    }
    let waiting = qp.dev.pending();
    let k = qp.dev.loopback_process(budget as usize);
    // SAFETY: non-null, writable by contract.
    unsafe { *done = k as u32 };
    if k < waiting.min(budget as usize) && qp.dev.cq_free() == 0 {
        st(Status::QueueFull)
    } else {
        st(Status::Ok)
    }
}
