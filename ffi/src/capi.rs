//! The C API declared at the end of `include/dpu_offload.h`: queue pairs for C callers.
//!
//! Every function checks its pointers and returns a `dpu_status`; none panics across the
//! boundary (a Rust panic here would abort the C caller). Linked from
//! `libdpukit_ffi.a` (see `ffi/README.md`).
#![cfg(not(loom))]

use crate::abi::{RawCpl, RawDesc};
use crate::bindings as b;
use crate::desc::{BufRef, Descriptor};
use crate::qp::{DeviceQueue, HostQueue, QueuePair, QueuePairConfig};
use crate::region::{RegionError, ResolvedBuf};
use crate::shm::{ShmConfig, ShmDevice, ShmError, ShmHost};
use crate::types::Status;

/// The object behind `struct dpu_qp *`: both ends of an in-process queue pair (the
/// device end can be handed to a device with [`take_device_end`]), or the device end of
/// a queue pair in another process's shared memory (`dpu_qp_dev_attach`).
pub struct CQueuePair {
    host: Option<HostQueue>,
    dev: Option<DeviceQueue>,
    shm_dev: Option<ShmDevice>,
    /// The host end of a queue pair in shared memory (`dpu_qp_create_shared`).
    shm_host: Option<ShmHost>,
    /// Why the last call on this queue pair failed (`dpu_qp_last_error`).
    last_error: std::ffi::CString,
}

impl CQueuePair {
    fn new(
        host: Option<HostQueue>,
        dev: Option<DeviceQueue>,
        shm_dev: Option<ShmDevice>,
        shm_host: Option<ShmHost>,
    ) -> Self {
        CQueuePair { host, dev, shm_dev, shm_host, last_error: std::ffi::CString::default() }
    }

    fn fail(&mut self, status: Status, msg: impl std::fmt::Display) -> u16 {
        self.last_error = std::ffi::CString::new(msg.to_string().replace('\0', " ")).unwrap_or_default();
        st(status)
    }

    /// The status a C caller sees for a shared queue pair's error.
    fn shm_fail(&mut self, e: ShmError) -> u16 {
        let status = match e {
            ShmError::DuplicateTag(_) | ShmError::Config(_) => Status::InvalidArgument,
            ShmError::NoSpace { .. } | ShmError::TableFull(_) => Status::NoSpace,
            _ => Status::DeviceUnavailable,
        };
        self.fail(status, e)
    }
}

impl CQueuePair {
    fn dev_fetch(&mut self, out: &mut [RawDesc]) -> Option<usize> {
        if let Some(d) = self.shm_dev.as_mut() {
            return Some(d.fetch(out));
        }
        let d = self.dev.as_mut()?;
        let room = out.len().min(d.cq_free());
        Some(d.fetch(&mut out[..room]))
    }

    fn dev_resolve(&self, buf: BufRef) -> Option<Result<ResolvedBuf, Status>> {
        if let Some(d) = self.shm_dev.as_ref() {
            return Some(d.resolve(buf));
        }
        Some(self.dev.as_ref()?.regions().resolve(buf))
    }

    fn dev_complete(&mut self, cpls: &[RawCpl]) -> Option<usize> {
        if let Some(d) = self.shm_dev.as_mut() {
            return Some(d.complete(cpls));
        }
        Some(self.dev.as_mut()?.complete(cpls))
    }
}

/// Takes the device end out of a queue pair made by `dpu_qp_create` or attached with
/// `dpu_qp_dev_attach`, so a device (the simulator's engine) can serve it; the
/// `dpu_qp_dev_*` functions and the loopback then answer `DPU_STATUS_INVALID_ARGUMENT`
/// for it. An attached queue pair's end knows the regions the host published so far
/// ([`ShmDevice::into_queue`]). `None` if the pointer is null, the device end is already
/// taken, or this is a host end.
///
/// # Safety
/// `qp` is null or a live pointer from `dpu_qp_create` / `dpu_qp_dev_attach`, not used
/// concurrently.
pub unsafe fn take_device_end(qp: *mut b::dpu_qp) -> Option<DeviceQueue> {
    // SAFETY: forwarded contract.
    let qp = unsafe { qp_mut(qp) }?;
    qp.dev.take().or_else(|| qp.shm_dev.take().map(ShmDevice::into_queue))
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
            let qp = Box::into_raw(Box::new(CQueuePair::new(Some(host), Some(dev), None, None)));
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

/// Resolves a buffer reference against the region table of a queue pair's device side
/// (in-process or attached): what `dpu_qp_dev_resolve` does, for a library that executes
/// descriptors on a C device's behalf. `None` if `qp` is null or has no device side here.
///
/// # Safety
/// `qp` is null or a live pointer from `dpu_qp_create` / `dpu_qp_dev_attach`, not used
/// concurrently.
pub unsafe fn device_resolve(qp: *mut b::dpu_qp, buf: BufRef) -> Option<Result<ResolvedBuf, Status>> {
    // SAFETY: forwarded contract.
    unsafe { qp_mut(qp) }?.dev_resolve(buf)
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
    let Some(qp) = (unsafe { qp_mut(qp) }).and_then(|q| q.host.as_mut()) else {
        return st(Status::InvalidArgument);
    };
    if region_id.is_null() {
        return st(Status::InvalidArgument);
    }
    // SAFETY: the registration contract is the caller's (documented in the header).
    match unsafe { qp.register_region(base.cast(), len) } {
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
    // SAFETY: non-null, writable by contract.
    unsafe { *accepted = 0 };
    let k = if let Some(h) = qp.shm_host.as_mut() {
        match h.submit_raw(descs) {
            Ok(k) => k,
            Err(e) => return qp.shm_fail(e),
        }
    } else if let Some(h) = qp.host.as_mut() {
        h.submit_raw(descs)
    } else {
        return qp.fail(Status::InvalidArgument, "dpu_qp_submit: this is a device-side queue pair");
    };
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
    // SAFETY: non-null, writable by contract.
    unsafe { *n = 0 };
    let k = if let Some(h) = qp.shm_host.as_mut() {
        // Every completion is checked against what was submitted before it is handed out.
        let mut got = Vec::with_capacity(out.len().min(256));
        let r = h.poll(out.len(), &mut got);
        for (slot, c) in out.iter_mut().zip(&got) {
            *slot = c.encode();
        }
        // SAFETY: non-null, writable by contract.
        unsafe { *n = got.len() as u32 };
        if let Err(e) = r {
            return qp.shm_fail(e);
        }
        got.len()
    } else if let Some(h) = qp.host.as_mut() {
        h.poll_raw(out)
    } else {
        return qp.fail(Status::InvalidArgument, "dpu_qp_poll: this is a device-side queue pair");
    };
    // SAFETY: non-null, writable by contract.
    unsafe { *n = k as u32 };
    st(Status::Ok)
}

/// # Safety
/// `qp` from `dpu_qp_create`; `done` writable.
#[no_mangle]
pub unsafe extern "C" fn dpu_qp_loopback_process(qp: *mut b::dpu_qp, budget: u32, done: *mut u32) -> u16 {
    // SAFETY: caller contract.
    let Some(dev) = (unsafe { qp_mut(qp) }).and_then(|q| q.dev.as_mut()) else {
        return st(Status::InvalidArgument);
    };
    if done.is_null() {
        return st(Status::InvalidArgument);
    }
    let waiting = dev.pending();
    let k = dev.loopback_process(budget as usize);
    // SAFETY: non-null, writable by contract.
    unsafe { *done = k as u32 };
    if k < waiting.min(budget as usize) && dev.cq_free() == 0 {
        st(Status::QueueFull)
    } else {
        st(Status::Ok)
    }
}

/// # Safety
/// `path` is a NUL-terminated string; `out` is valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn dpu_qp_dev_attach(path: *const core::ffi::c_char, out: *mut *mut b::dpu_qp) -> u16 {
    if path.is_null() || out.is_null() {
        return st(Status::InvalidArgument);
    }
    // SAFETY: non-null and NUL-terminated (contract).
    let path = unsafe { core::ffi::CStr::from_ptr(path) };
    let Ok(path) = path.to_str() else { return st(Status::InvalidArgument) };
    match ShmDevice::attach(std::path::Path::new(path)) {
        Ok(d) => {
            let qp = Box::into_raw(Box::new(CQueuePair::new(None, None, Some(d), None)));
            // SAFETY: non-null, writable (contract).
            unsafe { *out = qp.cast() };
            st(Status::Ok)
        }
        Err(_) => st(Status::DeviceUnavailable),
    }
}

/// # Safety
/// `qp` from `dpu_qp_create` or `dpu_qp_dev_attach`; `out` valid for `max` writes; `n`
/// writable.
#[no_mangle]
pub unsafe extern "C" fn dpu_qp_dev_fetch(
    qp: *mut b::dpu_qp,
    out: *mut b::dpu_desc,
    max: u32,
    n: *mut u32,
) -> u16 {
    // SAFETY: caller contract.
    let Some(qp) = (unsafe { qp_mut(qp) }) else { return st(Status::InvalidArgument) };
    if n.is_null() || (out.is_null() && max > 0) {
        return st(Status::InvalidArgument);
    }
    let out: &mut [RawDesc] = if max == 0 {
        &mut []
    } else {
        // SAFETY: non-null, valid for max writes (contract); RawDesc is repr(transparent)
        // over dpu_desc.
        unsafe { std::slice::from_raw_parts_mut(out.cast::<RawDesc>(), max as usize) }
    };
    let Some(k) = qp.dev_fetch(out) else { return st(Status::InvalidArgument) };
    // SAFETY: non-null, writable by contract.
    unsafe { *n = k as u32 };
    st(Status::Ok)
}

/// # Safety
/// `qp` from `dpu_qp_create` or `dpu_qp_dev_attach`; `buf` readable; `ptr` writable.
#[no_mangle]
pub unsafe extern "C" fn dpu_qp_dev_resolve(
    qp: *mut b::dpu_qp,
    buf: *const b::dpu_buf_ref,
    ptr: *mut *mut core::ffi::c_void,
) -> u16 {
    // SAFETY: caller contract.
    let Some(qp) = (unsafe { qp_mut(qp) }) else { return st(Status::InvalidArgument) };
    if ptr.is_null() {
        return st(Status::InvalidArgument);
    }
    // SAFETY: non-null, writable (contract).
    unsafe { *ptr = std::ptr::null_mut() };
    // SAFETY: caller contract: null or readable.
    let Some(buf) = (unsafe { buf.as_ref() }) else { return st(Status::InvalidArgument) };
    let r = BufRef::new(buf.region, buf.offset, buf.len);
    match qp.dev_resolve(r) {
        None => st(Status::InvalidArgument),
        Some(Err(s)) => st(s),
        Some(Ok(res)) => {
            // SAFETY: non-null, writable (contract).
            unsafe { *ptr = res.as_ptr().cast() };
            st(Status::Ok)
        }
    }
}

/// # Safety
/// `qp` from `dpu_qp_create` or `dpu_qp_dev_attach`; `cpls` valid for `n` reads;
/// `posted` writable.
#[no_mangle]
pub unsafe extern "C" fn dpu_qp_dev_complete(
    qp: *mut b::dpu_qp,
    cpls: *const b::dpu_cpl,
    n: u32,
    posted: *mut u32,
) -> u16 {
    // SAFETY: caller contract.
    let Some(qp) = (unsafe { qp_mut(qp) }) else { return st(Status::InvalidArgument) };
    if posted.is_null() || (cpls.is_null() && n > 0) {
        return st(Status::InvalidArgument);
    }
    let cpls: &[RawCpl] = if n == 0 {
        &[]
    } else {
        // SAFETY: non-null, valid for n reads (contract); RawCpl is repr(transparent).
        unsafe { std::slice::from_raw_parts(cpls.cast::<RawCpl>(), n as usize) }
    };
    let Some(k) = qp.dev_complete(cpls) else { return st(Status::InvalidArgument) };
    // SAFETY: non-null, writable by contract.
    unsafe { *posted = k as u32 };
    if k == 0 && n > 0 {
        st(Status::QueueFull)
    } else {
        st(Status::Ok)
    }
}

/// # Safety
/// `qp` from `dpu_qp_dev_attach`; `closed` writable.
#[no_mangle]
pub unsafe extern "C" fn dpu_qp_dev_host_closed(qp: *mut b::dpu_qp, closed: *mut u32) -> u16 {
    // SAFETY: caller contract.
    let Some(d) = (unsafe { qp_mut(qp) }).and_then(|q| q.shm_dev.as_ref()) else {
        return st(Status::InvalidArgument);
    };
    if closed.is_null() {
        return st(Status::InvalidArgument);
    }
    // SAFETY: non-null, writable by contract.
    unsafe { *closed = d.host_closed() as u32 };
    st(Status::Ok)
}

/// # Safety
/// `desc` is null or readable.
#[no_mangle]
pub unsafe extern "C" fn dpu_qp_dev_check(desc: *const b::dpu_desc) -> u16 {
    // SAFETY: caller contract: null or readable; RawDesc is repr(transparent).
    let Some(d) = (unsafe { desc.cast::<RawDesc>().as_ref() }) else { return st(Status::InvalidArgument) };
    match Descriptor::parse(d) {
        Ok(_) => st(Status::Ok),
        Err(e) => st(e.status),
    }
}

/// # Safety
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn dpu_qp_create_shared(
    sq_entries: u32,
    cq_entries: u32,
    max_regions: u32,
    data_bytes: u64,
    out: *mut *mut b::dpu_qp,
) -> u16 {
    if out.is_null() {
        return st(Status::InvalidArgument);
    }
    match ShmHost::create(ShmConfig { sq_entries, cq_entries, max_regions, data_bytes }) {
        Ok(h) => {
            let qp = Box::into_raw(Box::new(CQueuePair::new(None, None, None, Some(h))));
            // SAFETY: non-null, writable (contract).
            unsafe { *out = qp.cast() };
            st(Status::Ok)
        }
        Err(ShmError::Io(_)) => st(Status::NoSpace),
        Err(_) => st(Status::InvalidArgument),
    }
}

/// # Safety
/// `qp` from `dpu_qp_create_shared`; `region_id` and `base` writable.
#[no_mangle]
pub unsafe extern "C" fn dpu_qp_alloc_region(
    qp: *mut b::dpu_qp,
    len: u64,
    region_id: *mut u32,
    base: *mut *mut core::ffi::c_void,
) -> u16 {
    // SAFETY: caller contract.
    let Some(qp) = (unsafe { qp_mut(qp) }) else { return st(Status::InvalidArgument) };
    if region_id.is_null() || base.is_null() {
        return st(Status::InvalidArgument);
    }
    let Some(h) = qp.shm_host.as_mut() else {
        return qp.fail(
            Status::InvalidArgument,
            "dpu_qp_alloc_region: not a shared queue pair (dpu_qp_create_shared)",
        );
    };
    let r = match h.alloc_region(len) {
        Ok(r) => r,
        Err(e) => return qp.shm_fail(e),
    };
    let Some((p, _)) = h.region_raw(r.id) else {
        return qp.fail(Status::InvalidArgument, "dpu_qp_alloc_region: region vanished");
    };
    // SAFETY: non-null, writable (contract).
    unsafe {
        *region_id = r.id.0;
        *base = p.cast();
    }
    st(Status::Ok)
}

/// # Safety
/// `qp` from `dpu_qp_create_shared`; `program` NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn dpu_qp_spawn_device(qp: *mut b::dpu_qp, program: *const core::ffi::c_char) -> u16 {
    // SAFETY: caller contract.
    let Some(qp) = (unsafe { qp_mut(qp) }) else { return st(Status::InvalidArgument) };
    if program.is_null() {
        return st(Status::InvalidArgument);
    }
    // SAFETY: non-null, NUL-terminated (contract).
    let program = unsafe { core::ffi::CStr::from_ptr(program) };
    let program = std::path::PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(
        program.to_bytes(),
    ));
    let Some(h) = qp.shm_host.as_mut() else {
        return qp.fail(
            Status::InvalidArgument,
            "dpu_qp_spawn_device: not a shared queue pair (dpu_qp_create_shared)",
        );
    };
    match h.spawn_device(std::process::Command::new(&program)) {
        Ok(()) => st(Status::Ok),
        Err(e) => qp.fail(Status::DeviceUnavailable, format!("{}: {e}", program.display())),
    }
}

/// # Safety
/// `qp` is null or a live queue pair.
#[no_mangle]
pub unsafe extern "C" fn dpu_qp_last_error(qp: *mut b::dpu_qp) -> *const core::ffi::c_char {
    // SAFETY: caller contract.
    match unsafe { qp_mut(qp) } {
        Some(q) => q.last_error.as_ptr(),
        None => c"null queue pair".as_ptr(),
    }
}
