//! Queue pairs in shared memory, so the device can run in another process, the way a
//! DPU sees host memory across PCIe.
//!
//! One anonymous memory file (`memfd_create`) holds everything both sides share: a
//! header, the region table, the submission ring, the completion ring and the data area
//! from which the host allocates its registered regions. Being anonymous, it has no name
//! that could outlive the processes: the memory goes away when the last process that
//! maps it exits, on every exit path (a crash and `SIGKILL` included). A device process
//! opens it through `/proc/<host pid>/fd/<fd>` ([`ShmHost::device_path`]).
//!
//! Layout (offsets in bytes, all recorded in the header and checked by the device):
//!
//! | offset | what |
//! |---|---|
//! | 0 | header (128 bytes): magic, ABI version, sizes and offsets, region count, host state |
//! | 128 | region table: `max_regions` entries of (offset into the data area, length) |
//! | 64-aligned | submission ring (`struct dpu_ring_ctrl` + descriptors) |
//! | 64-aligned | completion ring (`struct dpu_ring_ctrl` + completions) |
//! | 4096-aligned | data area: the registered regions |
//!
//! The ring protocol is the in-process one (`ring.rs`, checked by its loom model): only
//! where the rings live changes. Neither side trusts the other: the device bounds-checks
//! every region entry against the data area and every buffer against its region; the
//! host checks every completion (a tag it has in flight, a status the ABI defines, the
//! opcode it sent, lengths within the descriptor's buffers) and every ring index, and
//! notices a device process that exits. Each such fault is one [`ShmError`] naming it.

#![cfg(all(not(loom), target_os = "linux"))]

use crate::abi::{RawCpl, RawDesc};
use crate::desc::{BadAnswer, BufRef, Completion, Descriptor, Sent};
use crate::qp::{DeviceQueue, HostQueue};
use crate::region::{RegionId, RegionTable, ResolvedBuf};
use crate::ring::{format_shared, ring_bytes, shared_consumer, shared_producer, RingError};
use crate::types::{DescFlags, Status};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

const MAGIC: u64 = u64::from_le_bytes(*b"DPUKSHM1");
const HEADER_BYTES: usize = 128;
const REGION_ENTRY_BYTES: usize = 16;
const DATA_ALIGN: u64 = 4096;
/// Regions are carved from the data area at this alignment.
const REGION_ALIGN: u64 = 64;

/// Host states in the header's `host_state` word.
const HOST_OPEN: u32 = 1;
const HOST_CLOSED: u32 = 2;

/// The header at offset 0. Written once by the host before anyone else maps the memory,
/// except `nregions` and `host_state`, which are atomics.
#[repr(C, align(64))]
struct Header {
    magic: u64,
    abi_major: u16,
    abi_minor: u16,
    max_regions: u32,
    total_bytes: u64,
    regions_off: u64,
    sq_off: u64,
    sq_bytes: u64,
    cq_off: u64,
    cq_bytes: u64,
    // 64
    data_off: u64,
    data_bytes: u64,
    /// Region entries published so far (release by the host after writing an entry).
    nregions: AtomicU32,
    host_state: AtomicU32,
    _pad: [u8; 40],
}

const _: () = assert!(std::mem::size_of::<Header>() == HEADER_BYTES);

/// Where the region table and the data area are. Each side keeps its own copy, taken
/// when it creates or attaches and checked then: the other process can rewrite the
/// header, but never move what this side's bounds checks are against.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    max_regions: u32,
    regions_off: u64,
    data_off: u64,
    data_bytes: u64,
}

/// Sizes of a shared queue pair; each is a bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShmConfig {
    pub sq_entries: u32,
    pub cq_entries: u32,
    pub max_regions: u32,
    /// Bytes of the data area from which regions are allocated.
    pub data_bytes: u64,
}

impl Default for ShmConfig {
    fn default() -> Self {
        ShmConfig { sq_entries: 256, cq_entries: 256, max_regions: 64, data_bytes: 16 << 20 }
    }
}

/// Everything that can go wrong with a shared queue pair, one line each.
#[derive(Debug, thiserror::Error)]
pub enum ShmError {
    #[error("shared memory: {0}")]
    Io(#[from] std::io::Error),
    #[error("shared queue pair: {0}")]
    Ring(#[from] RingError),
    #[error("shared queue pair: {0}")]
    Config(String),
    #[error("not a dpukit shared queue pair: {0}")]
    Layout(&'static str),
    #[error("shared data area has {free} bytes free; the region asks for {asked}")]
    NoSpace { asked: u64, free: u64 },
    #[error("region table full ({0} regions)")]
    TableFull(u32),
    #[error("descriptor tag {0} is already in flight on this queue pair")]
    DuplicateTag(u64),
    #[error("device answered tag {0}, which is not in flight (unknown, or answered twice)")]
    UnexpectedTag(u64),
    #[error("device answered tag {tag} with status {raw}, which the ABI does not define")]
    BadStatus { tag: u64, raw: u16 },
    #[error("device answered tag {tag} with opcode {got:#04x}; the descriptor's is {sent:#04x}")]
    OpcodeMismatch { tag: u64, sent: u8, got: u8 },
    #[error("device answered tag {tag} with {what} {got}, more than the descriptor's {max}")]
    BadLength { tag: u64, what: &'static str, got: u64, max: u64 },
    #[error("device broke the ring protocol (a ring index no correct device writes); queue pair abandoned")]
    ProtocolViolation,
    #[error("device process exited ({status}) with {inflight} descriptors in flight")]
    DeviceExited { status: String, inflight: usize },
    #[error("device answered nothing for {waited_ms} ms with {inflight} descriptors in flight")]
    Timeout { waited_ms: u128, inflight: usize },
    #[error("queue pair abandoned after an earlier fault: {0}")]
    Abandoned(String),
}

impl From<BadAnswer> for ShmError {
    fn from(e: BadAnswer) -> ShmError {
        match e {
            BadAnswer::OpcodeMismatch { tag, sent, got } => ShmError::OpcodeMismatch { tag, sent, got },
            BadAnswer::BadLength { tag, what, got, max } => ShmError::BadLength { tag, what, got, max },
        }
    }
}

/// The shared mapping; unmapped when the last ring end and side drop it.
struct Mapping {
    base: NonNull<u8>,
    len: usize,
    _fd: OwnedFd,
}

// SAFETY: the mapping is plain shared memory; every access to it goes through atomics,
// the ring protocol or bounds-checked copies.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `base..base+len` is the mapping `map_fd` made; nothing uses it any more
        // (every ring end holds an Arc to this value).
        let _ = unsafe { rustix::mm::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

impl Mapping {
    fn map(fd: OwnedFd, len: usize) -> Result<Mapping, ShmError> {
        use rustix::mm::{MapFlags, ProtFlags};
        // SAFETY: a fresh shared mapping of `len` bytes of `fd`; no Rust object aliases it.
        let p = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &fd,
                0,
            )
        }
        .map_err(std::io::Error::from)?;
        let base = NonNull::new(p.cast::<u8>()).ok_or(ShmError::Layout("mmap returned null"))?;
        Ok(Mapping { base, len, _fd: fd })
    }

    /// The header's shared words (the rest is read once, into [`Geometry`]).
    fn nregions(&self) -> &AtomicU32 {
        // SAFETY: the mapping is page-aligned and at least HEADER_BYTES long (checked at
        // creation and attach); the field is an aligned atomic both sides use as one.
        unsafe { &*std::ptr::addr_of!((*self.base.cast::<Header>().as_ptr()).nregions) }
    }

    fn host_state(&self) -> &AtomicU32 {
        // SAFETY: as `nregions`.
        unsafe { &*std::ptr::addr_of!((*self.base.cast::<Header>().as_ptr()).host_state) }
    }

    /// A copy of the header, read with a volatile load (the other process may write it).
    fn header_copy(&self) -> HeaderCopy {
        // SAFETY: in bounds and aligned (as above); the non-atomic fields are plain
        // integers, so any bytes the other side left there are a valid value.
        unsafe {
            let h = self.base.cast::<Header>().as_ptr();
            HeaderCopy {
                magic: std::ptr::addr_of!((*h).magic).read_volatile(),
                abi_major: std::ptr::addr_of!((*h).abi_major).read_volatile(),
                max_regions: std::ptr::addr_of!((*h).max_regions).read_volatile(),
                total_bytes: std::ptr::addr_of!((*h).total_bytes).read_volatile(),
                regions_off: std::ptr::addr_of!((*h).regions_off).read_volatile(),
                sq_off: std::ptr::addr_of!((*h).sq_off).read_volatile(),
                sq_bytes: std::ptr::addr_of!((*h).sq_bytes).read_volatile(),
                cq_off: std::ptr::addr_of!((*h).cq_off).read_volatile(),
                cq_bytes: std::ptr::addr_of!((*h).cq_bytes).read_volatile(),
                data_off: std::ptr::addr_of!((*h).data_off).read_volatile(),
                data_bytes: std::ptr::addr_of!((*h).data_bytes).read_volatile(),
            }
        }
    }

    /// Pointer `off` bytes into the mapping.
    ///
    /// # Safety
    /// `off <= len`.
    unsafe fn at(&self, off: u64) -> NonNull<u8> {
        // SAFETY: in bounds (caller contract).
        unsafe { self.base.add(off as usize) }
    }
}

/// The header's plain fields, as read once.
struct HeaderCopy {
    magic: u64,
    abi_major: u16,
    max_regions: u32,
    total_bytes: u64,
    regions_off: u64,
    sq_off: u64,
    sq_bytes: u64,
    cq_off: u64,
    cq_bytes: u64,
    data_off: u64,
    data_bytes: u64,
}

fn align_up(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

/// What the host remembers of a descriptor in flight, to check its completion.
#[derive(Debug, Clone, Copy)]
struct Inflight {
    sent: Sent,
    /// The caller asked for a completion on success (the shared queue pair always asks
    /// the device for one, so that a lost descriptor can be noticed).
    wants: bool,
}

/// A region allocated in the shared data area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShmRegion {
    pub id: RegionId,
    pub len: u64,
    /// Offset of the region in the data area.
    offset: u64,
}

/// The host's end of a queue pair in shared memory.
pub struct ShmHost {
    map: Arc<Mapping>,
    geo: Geometry,
    q: HostQueue,
    regions: Vec<ShmRegion>,
    data_used: u64,
    inflight: HashMap<u64, Inflight>,
    device: Option<Child>,
    broken: Option<String>,
    raw_buf: Vec<RawCpl>,
}

impl ShmHost {
    /// Creates the shared memory, formats it and opens the host's end.
    pub fn create(cfg: ShmConfig) -> Result<ShmHost, ShmError> {
        if cfg.max_regions == 0 || cfg.max_regions > 1 << 16 {
            return Err(ShmError::Config(format!("max_regions must be 1..=65536, got {}", cfg.max_regions)));
        }
        if cfg.data_bytes == 0 || cfg.data_bytes > 1 << 40 {
            return Err(ShmError::Config(format!("data_bytes must be 1..=2^40, got {}", cfg.data_bytes)));
        }
        let regions_off = HEADER_BYTES as u64;
        let sq_off = align_up(regions_off + cfg.max_regions as u64 * REGION_ENTRY_BYTES as u64, 64);
        let sq_bytes = ring_bytes::<RawDesc>(cfg.sq_entries) as u64;
        let cq_off = align_up(sq_off + sq_bytes, 64);
        let cq_bytes = ring_bytes::<RawCpl>(cfg.cq_entries) as u64;
        let data_off = align_up(cq_off + cq_bytes, DATA_ALIGN);
        let total = data_off + align_up(cfg.data_bytes, DATA_ALIGN);
        use rustix::fs::{MemfdFlags, SealFlags};
        let fd = rustix::fs::memfd_create("dpukit-qp", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)
            .map_err(std::io::Error::from)?;
        rustix::fs::ftruncate(&fd, total).map_err(std::io::Error::from)?;
        // Fixed size for good: neither side can shrink the file under the other's mapping
        // (a SIGBUS in the other process), and the device checks the seals are there.
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)
            .map_err(std::io::Error::from)?;
        let map = Arc::new(Mapping::map(fd, total as usize)?);
        let header = Header {
            magic: MAGIC,
            abi_major: crate::ABI_VERSION.0,
            abi_minor: crate::ABI_VERSION.1,
            max_regions: cfg.max_regions,
            total_bytes: total,
            regions_off,
            sq_off,
            sq_bytes,
            cq_off,
            cq_bytes,
            data_off,
            data_bytes: cfg.data_bytes,
            nregions: AtomicU32::new(0),
            host_state: AtomicU32::new(HOST_OPEN),
            _pad: [0; 40],
        };
        // SAFETY: the mapping is fresh (zeroed by ftruncate), page-aligned and at least
        // `total` bytes; no other process has it yet. Offsets are inside `total` by
        // construction and 64-byte aligned as the rings require.
        let (sq, cq) = unsafe {
            map.base.cast::<Header>().as_ptr().write(header);
            format_shared::<RawDesc>(map.at(sq_off), cfg.sq_entries)?;
            format_shared::<RawCpl>(map.at(cq_off), cfg.cq_entries)?;
            let keep: Arc<dyn Send + Sync> = map.clone();
            (
                shared_producer::<RawDesc>(map.at(sq_off), sq_bytes as usize, keep.clone())?,
                shared_consumer::<RawCpl>(map.at(cq_off), cq_bytes as usize, keep)?,
            )
        };
        let q = HostQueue::from_parts(sq, cq, Arc::new(RwLock::new(RegionTable::new(0))));
        let geo =
            Geometry { max_regions: cfg.max_regions, regions_off, data_off, data_bytes: cfg.data_bytes };
        Ok(ShmHost {
            map,
            geo,
            q,
            regions: Vec::new(),
            data_used: 0,
            inflight: HashMap::new(),
            device: None,
            broken: None,
            raw_buf: vec![RawCpl::default(); 64],
        })
    }

    /// The path a device process opens to attach ([`ShmDevice::attach`], or
    /// `dpu_qp_dev_attach` in C). Valid while this host end lives.
    pub fn device_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/fd/{}", std::process::id(), self.map._fd.as_raw_fd()))
    }

    /// Starts a device process with the path to attach to in `DPUKIT_QP`. The host then
    /// watches it: a device that exits with descriptors in flight is an error, and one
    /// still running when the host end drops is given a second to notice, then killed.
    pub fn spawn_device(&mut self, cmd: Command) -> Result<(), ShmError> {
        let child = self.start_device(cmd)?;
        self.device = Some(child);
        Ok(())
    }

    /// Starts a device process as [`ShmHost::spawn_device`] does, but hands its [`Child`]
    /// to the caller, who then watches it (exit status, kill and reap) itself. The child
    /// gets `DPUKIT_QP`, and is killed by the kernel if the thread that started it ends
    /// (`PR_SET_PDEATHSIG`), so a host that dies without dropping this end (`SIGKILL`)
    /// leaves no device polling memory nobody will answer.
    pub fn start_device(&self, mut cmd: Command) -> std::io::Result<Child> {
        use std::os::unix::process::CommandExt;
        cmd.env("DPUKIT_QP", self.device_path());
        // SAFETY: the closure runs in the forked child before exec and only makes one
        // async-signal-safe system call (prctl); it touches no lock and allocates nothing.
        unsafe {
            cmd.pre_exec(|| {
                rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
                    .map_err(std::io::Error::from)
            });
        }
        cmd.spawn()
    }

    /// Keeps the shared mapping alive: memory carved from a region (a DMA pool built in
    /// place with [`ShmHost::region_raw`]) holds this so it can never outlive the mapping.
    pub fn keep_alive(&self) -> Arc<dyn Send + Sync> {
        self.map.clone()
    }

    /// A handle that tells whether the device has posted completions the host has not
    /// taken yet, without touching the host end: for a waiter that spins, then sleeps.
    pub fn completion_watch(&self) -> CompletionWatch {
        let ctrl = self.q.raw_rings().1;
        CompletionWatch { ctrl, _map: self.map.clone() }
    }

    /// Allocates a region of `len` bytes in the shared data area and publishes it to the
    /// device. Its bytes start zeroed.
    pub fn alloc_region(&mut self, len: u64) -> Result<ShmRegion, ShmError> {
        let h = self.geo;
        if len == 0 {
            return Err(ShmError::Config("a region needs at least one byte".into()));
        }
        let n = self.regions.len() as u32;
        if n >= h.max_regions {
            return Err(ShmError::TableFull(h.max_regions));
        }
        let offset = align_up(self.data_used, REGION_ALIGN);
        let free = h.data_bytes.saturating_sub(offset);
        if len > free || len > u32::MAX as u64 * 16 {
            return Err(ShmError::NoSpace { asked: len, free });
        }
        let entry_off = h.regions_off + n as u64 * REGION_ENTRY_BYTES as u64;
        // SAFETY: the entry lies inside the region table (n < max_regions), which only
        // the host writes; the device reads entries below `nregions` only, and the
        // release store below orders this write before it.
        unsafe {
            let e = self.map.at(entry_off).cast::<u64>().as_ptr();
            e.write_volatile(offset);
            e.add(1).write_volatile(len);
        }
        self.map.nregions().store(n + 1, Ordering::Release);
        self.data_used = offset + len;
        let r = ShmRegion { id: RegionId(n + 1), len, offset };
        self.regions.push(r);
        Ok(r)
    }

    fn region_ptr(&self, id: RegionId, offset: u64, len: usize) -> Option<*mut u8> {
        let r = self.regions.get((id.0 as usize).checked_sub(1)?)?;
        let end = offset.checked_add(len as u64)?;
        if end > r.len {
            return None;
        }
        let data_off = self.geo.data_off;
        // SAFETY: data_off + r.offset + end <= total bytes (allocation stays inside the
        // data area), so the pointer is inside the mapping.
        Some(unsafe { self.map.at(data_off + r.offset + offset) }.as_ptr())
    }

    /// The region's first byte and length in this process, for a host that builds its
    /// buffers in place (a DMA pool backed by the shared data area) instead of copying
    /// with [`ShmHost::write_region`]. Valid while this host end lives; the registration
    /// contract applies (no access to a range while a descriptor that names it is in
    /// flight, and the device process can write the bytes at any time if it misbehaves).
    pub fn region_raw(&self, id: RegionId) -> Option<(*mut u8, usize)> {
        let r = self.regions.get((id.0 as usize).checked_sub(1)?)?;
        Some((self.region_ptr(id, 0, r.len as usize)?, r.len as usize))
    }

    /// Copies `data` into region `id` at `offset`. The host must not write a range a
    /// descriptor in flight references (the registration contract).
    pub fn write_region(&mut self, id: RegionId, offset: u64, data: &[u8]) -> Result<(), ShmError> {
        let p = self
            .region_ptr(id, offset, data.len())
            .ok_or_else(|| ShmError::Config(format!("write outside region {}", id.0)))?;
        // SAFETY: `p..p+len` lies in the shared data area (checked); bytes are plain data,
        // and `data` is private memory, so the ranges do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) };
        Ok(())
    }

    /// Copies bytes out of region `id` at `offset` into `out`.
    pub fn read_region(&self, id: RegionId, offset: u64, out: &mut [u8]) -> Result<(), ShmError> {
        let p = self
            .region_ptr(id, offset, out.len())
            .ok_or_else(|| ShmError::Config(format!("read outside region {}", id.0)))?;
        // SAFETY: as `write_region`; any byte pattern is a valid u8.
        unsafe { std::ptr::copy_nonoverlapping(p, out.as_mut_ptr(), out.len()) };
        Ok(())
    }

    /// Descriptors submitted and not yet answered.
    pub fn inflight(&self) -> usize {
        self.inflight.len()
    }

    /// Free submission slots.
    pub fn sq_free(&mut self) -> usize {
        self.q.sq_free()
    }

    fn check_usable(&self) -> Result<(), ShmError> {
        match &self.broken {
            Some(e) => Err(ShmError::Abandoned(e.clone())),
            None => Ok(()),
        }
    }

    fn fail(&mut self, e: ShmError) -> ShmError {
        self.broken = Some(e.to_string());
        e
    }

    /// Submits as many descriptors as fit, with one doorbell; returns how many. Every
    /// descriptor asks the device for a completion; successes the caller did not ask
    /// for are dropped by [`ShmHost::poll`].
    pub fn submit(&mut self, descs: &[Descriptor]) -> Result<usize, ShmError> {
        let raw: Vec<RawDesc> = descs.iter().map(Descriptor::encode).collect();
        self.submit_raw(&raw)
    }

    /// As [`ShmHost::submit`], for encoded descriptors.
    pub fn submit_raw(&mut self, descs: &[RawDesc]) -> Result<usize, ShmError> {
        let n = self.push_raw(descs)?;
        self.q.ring_doorbell();
        Ok(n)
    }

    /// As [`ShmHost::submit`] without the doorbell: the device sees these descriptors at
    /// the next [`ShmHost::ring_doorbell`] (batching across calls). Already in flight, so
    /// their tags are taken.
    pub fn push(&mut self, descs: &[Descriptor]) -> Result<usize, ShmError> {
        let raw: Vec<RawDesc> = descs.iter().map(Descriptor::encode).collect();
        self.push_raw(&raw)
    }

    /// Announces every descriptor pushed so far to the device.
    pub fn ring_doorbell(&mut self) {
        if self.broken.is_none() {
            self.q.ring_doorbell();
        }
    }

    fn push_raw(&mut self, descs: &[RawDesc]) -> Result<usize, ShmError> {
        self.check_usable()?;
        // Checked and prepared whole; the ring takes what fits (its free count is fresh).
        let n = descs.len().min(self.q.sq_capacity());
        let mut batch = Vec::with_capacity(n);
        let mut tags = std::collections::HashSet::with_capacity(n);
        for d in &descs[..n] {
            let tag = d.0.tag;
            if self.inflight.contains_key(&tag) || !tags.insert(tag) {
                return Err(ShmError::DuplicateTag(tag));
            }
            let mut d = *d;
            d.0.flags |= DescFlags::COMPLETION.raw();
            batch.push(d);
        }
        let sent = self.q.push_raw(&batch);
        for (orig, d) in descs.iter().zip(&batch[..sent]) {
            self.inflight.insert(
                d.0.tag,
                Inflight { sent: Sent::of(d), wants: orig.0.flags & DescFlags::COMPLETION.raw() != 0 },
            );
        }
        if self.q.peer_fault() {
            return Err(self.fail(ShmError::ProtocolViolation));
        }
        Ok(sent)
    }

    /// Takes up to `budget` completions, checks each against what was submitted and
    /// appends the valid ones to `out`. The first invalid one is an error that abandons
    /// the queue pair; completions checked before it are in `out`, and nothing valid is
    /// dropped. When nothing arrives, a device process that has exited is an error.
    pub fn poll(&mut self, budget: usize, out: &mut Vec<Completion>) -> Result<usize, ShmError> {
        self.check_usable()?;
        let taken = self.poll_once(budget, out)?;
        if taken == 0 && !self.inflight.is_empty() {
            let exited = match self.device.as_mut() {
                Some(child) => child.try_wait()?,
                None => None,
            };
            if let Some(status) = exited {
                // Completions posted just before the exit are still valid: take them.
                let n = self.poll_once(budget, out)?;
                if n == 0 {
                    let e =
                        ShmError::DeviceExited { status: status.to_string(), inflight: self.inflight.len() };
                    return Err(self.fail(e));
                }
                return Ok(n);
            }
        }
        Ok(taken)
    }

    fn poll_once(&mut self, budget: usize, out: &mut Vec<Completion>) -> Result<usize, ShmError> {
        let mut taken = 0;
        while taken < budget {
            let want = (budget - taken).min(self.raw_buf.len());
            let mut buf = std::mem::take(&mut self.raw_buf);
            let n = self.q.poll_raw(&mut buf[..want]);
            let checked = buf[..n].iter().try_for_each(|raw| self.check_completion(raw, out));
            self.raw_buf = buf;
            if let Err(e) = checked {
                return Err(self.fail(e));
            }
            taken += n;
            if n < want {
                break;
            }
        }
        if self.q.peer_fault() {
            return Err(self.fail(ShmError::ProtocolViolation));
        }
        Ok(taken)
    }

    fn check_completion(&mut self, raw: &RawCpl, out: &mut Vec<Completion>) -> Result<(), ShmError> {
        let c = &raw.0;
        let tag = c.tag;
        let Some(sent) = self.inflight.get(&tag).copied() else { return Err(ShmError::UnexpectedTag(tag)) };
        let cpl = Completion::parse(raw).map_err(|_| ShmError::BadStatus { tag, raw: c.status })?;
        sent.sent.check(&cpl)?;
        self.inflight.remove(&tag);
        if sent.wants || !cpl.status.is_ok() {
            out.push(cpl);
        }
        Ok(())
    }

    /// Polls until nothing is in flight, or fails: a device fault as in
    /// [`ShmHost::poll`], or no completion at all for `timeout` (a hung device).
    pub fn wait_all(&mut self, out: &mut Vec<Completion>, timeout: Duration) -> Result<(), ShmError> {
        let mut last = Instant::now();
        let mut spins = 0u32;
        while !self.inflight.is_empty() {
            if self.poll(usize::MAX, out)? > 0 {
                last = Instant::now();
                spins = 0;
                continue;
            }
            if last.elapsed() >= timeout {
                let e = ShmError::Timeout { waited_ms: timeout.as_millis(), inflight: self.inflight.len() };
                return Err(self.fail(e));
            }
            spins += 1;
            if spins < 1000 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        Ok(())
    }
}

impl ShmHost {
    /// Tells the device the host is done and waits up to `timeout` for its process to
    /// exit; a device still running then is killed and the wait is a [`ShmError::Timeout`].
    pub fn close_and_wait(mut self, timeout: Duration) -> Result<std::process::ExitStatus, ShmError> {
        self.map.host_state().store(HOST_CLOSED, Ordering::Release);
        let Some(mut child) = self.device.take() else {
            return Err(ShmError::Config("no device process was started".into()));
        };
        let until = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= until {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ShmError::Timeout {
                    waited_ms: timeout.as_millis(),
                    inflight: self.inflight.len(),
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for ShmHost {
    fn drop(&mut self) {
        self.map.host_state().store(HOST_CLOSED, Ordering::Release);
        if let Some(mut child) = self.device.take() {
            let until = Instant::now() + Duration::from_secs(1);
            while Instant::now() < until {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether a device has posted completions the host end has not taken yet
/// ([`ShmHost::completion_watch`]). Reads two words of the completion ring's control block
/// and nothing else; holds the mapping.
pub struct CompletionWatch {
    ctrl: *mut crate::bindings::dpu_ring_ctrl,
    _map: Arc<Mapping>,
}

// SAFETY: the pointer is into the shared mapping `_map` keeps alive; the watch only loads
// two aligned atomics from it.
unsafe impl Send for CompletionWatch {}

impl CompletionWatch {
    /// The completion doorbell has moved past what the host consumed. A device that
    /// writes nonsense there only makes this true: the host's poll then finds the fault.
    pub fn posted(&self) -> bool {
        // SAFETY: `ctrl` is the completion ring's control block inside the mapping held by
        // `_map`; its `doorbell` and `consumer` lines are aligned u64s that both sides
        // access atomically only.
        unsafe {
            let doorbell =
                &*std::ptr::addr_of!((*self.ctrl).doorbell.value).cast::<std::sync::atomic::AtomicU64>();
            let consumer =
                &*std::ptr::addr_of!((*self.ctrl).consumer.value).cast::<std::sync::atomic::AtomicU64>();
            doorbell.load(Ordering::Acquire) != consumer.load(Ordering::Relaxed)
        }
    }
}

/// Source and destination lengths a completion must stay within.
/// The device's end of a queue pair in shared memory, in the device's process.
pub struct ShmDevice {
    map: Arc<Mapping>,
    geo: Geometry,
    q: DeviceQueue,
    known: u32,
}

impl ShmDevice {
    /// Opens and checks the shared memory at `path` (see [`ShmHost::device_path`]).
    pub fn attach(path: &Path) -> Result<ShmDevice, ShmError> {
        let file = std::fs::OpenOptions::new().read(true).write(true).open(path)?;
        let seals =
            rustix::fs::fcntl_get_seals(&file).map_err(|_| ShmError::Layout("not a sealed memory file"))?;
        if !seals.contains(rustix::fs::SealFlags::SHRINK) {
            return Err(ShmError::Layout("the memory file can shrink under the mapping (no SHRINK seal)"));
        }
        let len = file.metadata()?.len();
        if len < HEADER_BYTES as u64 || len > usize::MAX as u64 {
            return Err(ShmError::Layout("file is smaller than the header"));
        }
        let map = Arc::new(Mapping::map(OwnedFd::from(file), len as usize)?);
        let h = map.header_copy();
        if h.magic != MAGIC {
            return Err(ShmError::Layout("bad magic"));
        }
        if h.abi_major != crate::ABI_VERSION.0 {
            return Err(ShmError::Layout("ABI major version differs"));
        }
        let fits = |o: u64, l: u64| o.checked_add(l).is_some_and(|e| e <= len);
        let table = h.max_regions as u64 * REGION_ENTRY_BYTES as u64;
        if h.total_bytes != len
            || !fits(h.regions_off, table)
            || h.regions_off < HEADER_BYTES as u64
            || !fits(h.sq_off, h.sq_bytes)
            || !fits(h.cq_off, h.cq_bytes)
            || !fits(h.data_off, h.data_bytes)
            || h.regions_off % 8 != 0
        {
            return Err(ShmError::Layout("offsets or sizes run past the shared memory"));
        }
        let (sq_off, sq_bytes, cq_off, cq_bytes) = (h.sq_off, h.sq_bytes, h.cq_off, h.cq_bytes);
        let keep: Arc<dyn Send + Sync> = map.clone();
        // SAFETY: both ranges lie inside the mapping (checked above), which `keep` holds;
        // this process is the single consumer of the submission ring and the single
        // producer of the completion ring (one device per queue pair, the attach contract
        // documented in the header). The ring constructors check alignment and the
        // control blocks.
        let (sq, cq) = unsafe {
            (
                shared_consumer::<RawDesc>(map.at(sq_off), sq_bytes as usize, keep.clone())?,
                shared_producer::<RawCpl>(map.at(cq_off), cq_bytes as usize, keep)?,
            )
        };
        let max = h.max_regions as usize;
        let q = DeviceQueue::from_parts(sq, cq, Arc::new(RwLock::new(RegionTable::new(max))));
        let geo = Geometry {
            max_regions: h.max_regions,
            regions_off: h.regions_off,
            data_off: h.data_off,
            data_bytes: h.data_bytes,
        };
        let mut d = ShmDevice { map, geo, q, known: 0 };
        d.refresh_regions();
        Ok(d)
    }

    /// Registers regions the host published since the last call. An entry that runs
    /// past the data area is not registered: buffers naming it get `UNKNOWN_REGION`.
    pub fn refresh_regions(&mut self) {
        let h = self.geo;
        let n = self.map.nregions().load(Ordering::Acquire).min(h.max_regions);
        let table = self.q.region_table();
        let mut t = table.write().unwrap_or_else(|e| e.into_inner());
        while self.known < n {
            let entry_off = h.regions_off + self.known as u64 * REGION_ENTRY_BYTES as u64;
            // SAFETY: the entry lies inside the region table (checked at attach, and
            // known < max_regions); published by the host before `nregions` (acquire).
            let (offset, len) = unsafe {
                let e = self.map.at(entry_off).cast::<u64>().as_ptr();
                (e.read_volatile(), e.add(1).read_volatile())
            };
            let inside = offset.checked_add(len).is_some_and(|end| end <= h.data_bytes) && len > 0;
            // SAFETY: offset..offset+len lies in the data area of this mapping (checked),
            // which `self.map` keeps mapped as long as the table. The host owns the
            // contents; a racing host can only corrupt bytes, which the kernels treat as
            // plain data. An entry outside the data area keeps its id but never resolves.
            let slot = inside.then(|| unsafe { (self.map.at(h.data_off + offset).as_ptr(), len) });
            // SAFETY: as above.
            if unsafe { t.push_slot(slot) }.is_err() {
                break;
            }
            self.known += 1;
        }
    }

    /// Fetches up to `out.len()` descriptors, never more than the completion ring can
    /// answer, then picks up regions published with them.
    pub fn fetch(&mut self, out: &mut [RawDesc]) -> usize {
        let room = out.len().min(self.q.cq_free());
        let n = self.q.fetch(&mut out[..room]);
        self.refresh_regions();
        n
    }

    /// Resolves a buffer reference against the regions the host registered.
    pub fn resolve(&self, buf: BufRef) -> Result<ResolvedBuf, Status> {
        self.q.regions().resolve(buf)
    }

    /// Posts completions with one doorbell; returns how many fit.
    pub fn complete(&mut self, cpls: &[RawCpl]) -> usize {
        self.q.complete(cpls)
    }

    /// Whether the host end has been dropped: a device can stop once it sees this and
    /// has nothing left to fetch.
    pub fn host_closed(&self) -> bool {
        self.map.host_state().load(Ordering::Acquire) == HOST_CLOSED
    }

    /// The device end as a plain [`DeviceQueue`] (for an engine); call
    /// [`ShmDevice::refresh_regions`] after each fetch.
    pub fn queue(&mut self) -> &mut DeviceQueue {
        &mut self.q
    }

    /// The device end as a plain [`DeviceQueue`] that owns the mapping (its rings hold
    /// it), for a device such as the simulator's engine that takes a `DeviceQueue`. It
    /// knows the regions published so far: a host that allocates its regions before it
    /// starts the device loses nothing; later ones answer `UNKNOWN_REGION`.
    pub fn into_queue(mut self) -> DeviceQueue {
        self.refresh_regions();
        self.q
    }
}

#[cfg(test)]
mod tests;
