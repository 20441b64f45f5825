//! libdpukit: the C library of the kit.
//!
//! It exports the offload ABI's C API (`dpu_qp_*`, the host and device sides, from
//! `dpukit-ffi`) and a simulated DPU a C host attaches to a queue pair (`dpu_sim_*`,
//! declared in `include/dpukit.h`). `dpukit-ffi` stays free of the simulator; this crate
//! is where the two meet. Built as `libdpukit.so` and `libdpukit.a`;
//! `scripts/install-lib.sh PREFIX` installs them with the headers and `dpukit.pc`.
//!
//! Every function checks its pointers, returns a `dpu_status`, and never unwinds into C:
//! a panic inside is caught and reported as `DPU_STATUS_KERNEL_ERROR` with a message in
//! `dpukit_last_error()`.

use dpukit_ffi::bindings as b;
use dpukit_ffi::{BufRef, Status};
use dpukit_kernels::cache_index::CacheIndex;
use dpukit_kernels::registry::Registry;
use dpukit_sim::engine::{Engine, EngineConfig};
use dpukit_sim::profile::Profile;
use dpukit_sim::timing::SimTime;
use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

// The C API of the ABI crate is part of this library: linking it here makes its
// `#[no_mangle]` functions part of libdpukit's exported symbols.
pub use dpukit_ffi::capi;

/// Entries of the simulated device's cache index (the cache opcodes' table).
const CACHE_ENTRIES: usize = 1 << 16;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_error(msg: impl Into<String>) {
    let msg = msg.into().replace('\0', " ");
    LAST_ERROR.with(|e| *e.borrow_mut() = CString::new(msg).unwrap_or_default());
}

fn clear_error() {
    set_error("");
}

/// Runs `f`, turning a panic into `DPU_STATUS_KERNEL_ERROR` with a message.
fn guarded(f: impl FnOnce() -> Result<(), (Status, String)>) -> u16 {
    clear_error();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => Status::Ok.raw(),
        Ok(Err((st, msg))) => {
            set_error(msg);
            st.raw()
        }
        Err(_) => {
            set_error("internal error in libdpukit (a panic was caught at the C boundary)");
            Status::KernelError.raw()
        }
    }
}

fn invalid(msg: impl Into<String>) -> (Status, String) {
    (Status::InvalidArgument, msg.into())
}

/// The object behind `struct dpu_sim *`.
pub struct Sim {
    engine: Engine,
}

impl Sim {
    /// A simulated DPU for `profile` (a shipped name or a TOML path).
    pub fn new(profile: &str) -> Result<Sim, String> {
        let is_file = std::path::Path::new(profile).is_file();
        if !is_file && Profile::builtin(profile).is_err() {
            let shipped: Vec<_> = Profile::builtin_names().collect();
            return Err(format!(
                "profile `{profile}` is neither a shipped profile ({}) nor a TOML file",
                shipped.join(", ")
            ));
        }
        let profile = Profile::load(profile).map_err(|e| format!("profile `{profile}`: {e}"))?;
        let cache = CacheIndex::new(CACHE_ENTRIES).map_err(|e| format!("cache index: {e}"))?;
        let engine = Engine::new(&profile, Registry::new(Arc::new(cache)), EngineConfig::default())
            .map_err(|e| format!("profile `{}`: {e}", profile.name))?;
        Ok(Sim { engine })
    }
}

/// # Safety
/// `qp` is a live pointer from `dpu_qp_create` not used concurrently; `profile` is
/// NUL-terminated; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn dpu_sim_attach(
    qp: *mut b::dpu_qp,
    profile: *const c_char,
    out: *mut *mut Sim,
) -> u16 {
    guarded(|| {
        if qp.is_null() || profile.is_null() || out.is_null() {
            return Err(invalid("dpu_sim_attach: null argument"));
        }
        // SAFETY: non-null and NUL-terminated (contract).
        let profile = unsafe { CStr::from_ptr(profile) };
        let profile = profile.to_str().map_err(|_| invalid("dpu_sim_attach: profile is not UTF-8"))?;
        let mut sim = Sim::new(profile).map_err(invalid)?;
        // SAFETY: live queue pair from dpu_qp_create (contract).
        let dev = unsafe { capi::take_device_end(qp) }.ok_or_else(|| {
            invalid("dpu_sim_attach: the queue pair's device side is already served (or this is a host end)")
        })?;
        sim.engine.attach(dev);
        let sim = Box::into_raw(Box::new(sim));
        // SAFETY: non-null, writable (contract).
        unsafe { *out = sim };
        Ok(())
    })
}

/// # Safety
/// `sim` from `dpu_sim_attach`, not used concurrently; `posted` writable; `pending`
/// null or writable.
#[no_mangle]
pub unsafe extern "C" fn dpu_sim_poll(
    sim: *mut Sim,
    now_ns: u64,
    posted: *mut u32,
    pending: *mut u32,
) -> u16 {
    guarded(|| {
        // SAFETY: null or a live pointer from dpu_sim_attach (contract).
        let Some(sim) = (unsafe { sim.as_mut() }) else {
            return Err(invalid("dpu_sim_poll: null simulator"));
        };
        if posted.is_null() {
            return Err(invalid("dpu_sim_poll: null `posted`"));
        }
        let o = sim.engine.poll(SimTime::from_ns(now_ns));
        // SAFETY: non-null, writable (contract).
        unsafe { *posted = o.posted as u32 };
        if !pending.is_null() {
            // SAFETY: non-null, writable (contract).
            unsafe { *pending = o.pending as u32 };
        }
        Ok(())
    })
}

/// # Safety
/// `sim` is null or from `dpu_sim_attach`.
#[no_mangle]
pub unsafe extern "C" fn dpu_sim_makespan_ns(sim: *const Sim) -> u64 {
    // SAFETY: null or a live pointer from dpu_sim_attach (contract).
    unsafe { sim.as_ref() }.map_or(0, |s| s.engine.makespan().as_ns())
}

/// # Safety
/// `sim` is null or from `dpu_sim_attach`, destroyed once.
#[no_mangle]
pub unsafe extern "C" fn dpu_sim_destroy(sim: *mut Sim) {
    if !sim.is_null() {
        // SAFETY: made by Box::into_raw in dpu_sim_attach, destroyed once (contract).
        drop(unsafe { Box::from_raw(sim) });
    }
}

#[no_mangle]
pub extern "C" fn dpukit_last_error() -> *const c_char {
    // The CString lives in the thread-local until this thread's next libdpukit call.
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

#[no_mangle]
pub extern "C" fn dpukit_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The object behind `struct dpu_kernels *`: the kit's kernels for a C device to call.
pub struct Kernels {
    registry: Registry,
    /// The previous descriptor's outcome, for `CRC_SEED_PREV` chains.
    prev: Option<(Status, u64)>,
}

/// # Safety
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn dpu_kernels_create(cache_entries: u32, out: *mut *mut Kernels) -> u16 {
    guarded(|| {
        if out.is_null() {
            return Err(invalid("dpu_kernels_create: null `out`"));
        }
        let cache =
            CacheIndex::new(cache_entries as usize).map_err(|e| invalid(format!("cache index: {e}")))?;
        let k = Box::into_raw(Box::new(Kernels { registry: Registry::new(Arc::new(cache)), prev: None }));
        // SAFETY: non-null, writable (contract).
        unsafe { *out = k };
        Ok(())
    })
}

/// # Safety
/// `k` is null or from `dpu_kernels_create`, destroyed once.
#[no_mangle]
pub unsafe extern "C" fn dpu_kernels_destroy(k: *mut Kernels) {
    if !k.is_null() {
        // SAFETY: made by Box::into_raw in dpu_kernels_create, destroyed once (contract).
        drop(unsafe { Box::from_raw(k) });
    }
}

/// # Safety
/// `k` from `dpu_kernels_create`; `qp` a device-side queue pair (`dpu_qp_create` or
/// `dpu_qp_dev_attach`); `desc` readable; `cpl` writable; none used concurrently.
#[no_mangle]
pub unsafe extern "C" fn dpu_kernels_execute(
    k: *mut Kernels,
    qp: *mut b::dpu_qp,
    desc: *const b::dpu_desc,
    cpl: *mut b::dpu_cpl,
) -> u16 {
    guarded(|| {
        // SAFETY: null or live pointers (contract); RawDesc is repr(transparent).
        let (k, d) = unsafe { (k.as_mut(), desc.cast::<dpukit_ffi::RawDesc>().as_ref()) };
        let (Some(k), Some(d)) = (k, d) else { return Err(invalid("dpu_kernels_execute: null argument")) };
        if qp.is_null() || cpl.is_null() {
            return Err(invalid("dpu_kernels_execute: null argument"));
        }
        let c = execute_one(k, qp, d);
        k.prev = Some((c.status, c.result));
        // SAFETY: non-null, writable (contract).
        unsafe { *cpl = c.encode().0 };
        Ok(())
    })
}

/// Parses, resolves and executes one descriptor as the simulator's engine does.
fn execute_one(k: &Kernels, qp: *mut b::dpu_qp, raw: &dpukit_ffi::RawDesc) -> dpukit_ffi::Completion {
    use dpukit_ffi::{Completion, DescFlags, Descriptor, Op};
    use dpukit_kernels::registry::{Call, UserArgs};
    let d = match Descriptor::parse(raw) {
        Ok(d) => d,
        Err(e) => return Completion::error(e.tag, e.opcode, e.status),
    };
    let opcode = d.op.opcode();
    let fail = |st| Completion::error(d.tag, opcode.raw(), st);
    let chained = if d.flags.contains(DescFlags::CRC_SEED_PREV) {
        match k.prev {
            Some((st, result)) if st.is_ok() => Some(result as u32),
            _ => return fail(Status::ChainAborted),
        }
    } else {
        None
    };
    let resolve = |r: Option<BufRef>| -> Result<Option<dpukit_ffi::ResolvedBuf>, Status> {
        match r {
            None => Ok(None),
            // SAFETY: `qp` is a live device-side queue pair (the caller's contract).
            Some(r) => match unsafe { capi::device_resolve(qp, r) } {
                Some(res) => res.map(Some),
                None => Err(Status::InvalidArgument),
            },
        }
    };
    let (src, dst) = match (resolve(d.op.src()), resolve(d.op.dst())) {
        (Ok(s), Ok(t)) => (s, t),
        (Err(st), _) | (_, Err(st)) => return fail(st),
    };
    if let (Some(s), Some(t)) = (&src, &dst) {
        if s.overlaps(t) {
            return fail(Status::OutOfRange);
        }
    }
    // SAFETY: both buffers were resolved inside registered regions and do not overlap;
    // the registration contract keeps the host off them while the descriptor is in
    // flight, and the device executes one descriptor at a time.
    let (s, t): (&[u8], &mut [u8]) =
        unsafe { (src.map_or(&[][..], |b| b.as_slice()), dst.map_or(&mut [][..], |b| b.as_mut_slice())) };
    let call = match d.op {
        Op::Nop => Call::Nop,
        Op::Crc32c { seed, .. } => Call::Crc32c { src: s, seed: chained.unwrap_or(seed) },
        Op::Copy { .. } => Call::Copy { src: s, dst: t },
        Op::CopyCrc32c { seed, .. } => Call::CopyCrc32c { src: s, dst: t, seed: chained.unwrap_or(seed) },
        Op::Compress { algorithm, level, .. } => Call::Compress { src: s, dst: t, algorithm, level },
        Op::Decompress { algorithm, .. } => Call::Decompress { src: s, dst: t, algorithm },
        Op::CacheLookup { key, .. } => Call::CacheLookup { key, dst: t },
        Op::CacheInsert { key, value } => Call::CacheInsert { key, value },
        Op::CacheDelete { key } => Call::CacheDelete { key },
        Op::User { opcode, arg0, arg1, algo, level, .. } => {
            Call::User { args: UserArgs { opcode, arg0, arg1, algo, level }, src: s, dst: t }
        }
    };
    match k.registry.execute(call) {
        Ok(o) => Completion::ok(d.tag, opcode, o.result, o.bytes_in.min(u32::MAX as u64) as u32),
        Err(st) => fail(st),
    }
}
