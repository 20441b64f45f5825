//! Single-producer/single-consumer rings in shared memory: the transport of a queue
//! pair, with the layout `struct dpu_ring_ctrl` + `capacity` entries from the header.
//!
//! Protocol (the header's `dpu_ring_produce` / `dpu_ring_doorbell` / `dpu_ring_consume`
//! implement the same one in C):
//! - indices are free-running `u64`s; `slot = index & (capacity - 1)`; all index
//!   arithmetic wraps, so the ring survives index overflow;
//! - the producer writes entries, then publishes `producer` (release); ringing the
//!   doorbell copies `producer` to `doorbell` (release);
//! - the consumer only takes entries below `doorbell` (acquire), then publishes
//!   `consumer` (release), which frees the slots for the producer (acquire).
//!
//! Each side caches the other's index and re-reads it only when it looks out of room,
//! so the hot path touches the shared lines once per batch. A full ring is reported to
//! the caller (backpressure); nothing blocks and nothing is dropped.
//!
//! Under `--cfg loom` the control block and slots use loom's atomics and cells so the
//! index protocol can be model-checked (`tests` below); the C-compatible layout exists
//! only in normal builds.

use bytemuck::Pod;
use std::marker::PhantomData;
use std::sync::Arc;

#[cfg(loom)]
use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicU64, Ordering};

use crate::bindings as b;

/// Why a ring could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    #[error("ring capacity {0} is not a power of two in [{min}, {max}]", min = b::DPU_RING_MIN_ENTRIES, max = b::DPU_RING_MAX_ENTRIES)]
    BadCapacity(u32),
    #[error("ring entry type is {0} bytes; the ABI allows 32 or 64")]
    BadEntrySize(usize),
    #[error("shared ring control block: {0}")]
    BadControlBlock(&'static str),
}

#[repr(C, align(64))]
struct Line {
    value: AtomicU64,
    #[cfg(not(loom))]
    _pad: [u8; 56],
}

impl Line {
    fn new(v: u64) -> Line {
        Line {
            value: AtomicU64::new(v),
            #[cfg(not(loom))]
            _pad: [0; 56],
        }
    }
}

/// Rust's view of `struct dpu_ring_ctrl`.
#[repr(C, align(64))]
struct Ctrl {
    producer: Line,
    consumer: Line,
    doorbell: Line,
    magic: u32,
    abi_major: u16,
    abi_minor: u16,
    capacity: u32,
    entry_bytes: u32,
    _pad: [u8; 48],
}

#[cfg(not(loom))]
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<AtomicU64>() == 8 && align_of::<AtomicU64>() == 8);
    assert!(size_of::<Ctrl>() == size_of::<b::dpu_ring_ctrl>());
    assert!(align_of::<Ctrl>() == align_of::<b::dpu_ring_ctrl>());
    assert!(offset_of!(Ctrl, producer) == offset_of!(b::dpu_ring_ctrl, producer));
    assert!(offset_of!(Ctrl, consumer) == offset_of!(b::dpu_ring_ctrl, consumer));
    assert!(offset_of!(Ctrl, doorbell) == offset_of!(b::dpu_ring_ctrl, doorbell));
    assert!(offset_of!(Ctrl, magic) == offset_of!(b::dpu_ring_ctrl, magic));
    assert!(offset_of!(Ctrl, abi_major) == offset_of!(b::dpu_ring_ctrl, abi_major));
    assert!(offset_of!(Ctrl, abi_minor) == offset_of!(b::dpu_ring_ctrl, abi_minor));
    assert!(offset_of!(Ctrl, capacity) == offset_of!(b::dpu_ring_ctrl, capacity));
    assert!(offset_of!(Ctrl, entry_bytes) == offset_of!(b::dpu_ring_ctrl, entry_bytes));
};

#[cfg(not(loom))]
mod mem {
    //! The ring's memory: one 64-byte-aligned block, control block then slots. Either a
    //! heap allocation the ring owns, or a range of a shared mapping kept alive by `keep`.
    use super::Ctrl;
    use std::alloc::{alloc_zeroed, dealloc, Layout};
    use std::ptr::NonNull;
    use std::sync::Arc;

    enum Owner {
        Heap(Layout),
        Shared(#[allow(dead_code)] Arc<dyn Send + Sync>),
    }

    pub(super) struct RingMem {
        base: NonNull<u8>,
        owner: Owner,
    }

    impl RingMem {
        pub(super) fn new(ctrl: Ctrl, slots_bytes: usize) -> RingMem {
            let size = std::mem::size_of::<Ctrl>() + slots_bytes;
            let layout = Layout::from_size_align(size, 64).expect("ring size is bounded by MAX_ENTRIES");
            // SAFETY: size > 0 (the control block alone is 256 bytes).
            let raw = unsafe { alloc_zeroed(layout) };
            let Some(base) = NonNull::new(raw) else { std::alloc::handle_alloc_error(layout) };
            // SAFETY: base is valid for `size` bytes and 64-byte aligned, enough for Ctrl.
            unsafe { base.cast::<Ctrl>().as_ptr().write(ctrl) };
            RingMem { base, owner: Owner::Heap(layout) }
        }

        /// A ring over memory someone else owns.
        ///
        /// # Safety
        /// `base` is 64-byte aligned, holds an initialised control block followed by the
        /// ring's slots, and stays mapped while `keep` is alive.
        pub(super) unsafe fn shared(base: NonNull<u8>, keep: Arc<dyn Send + Sync>) -> RingMem {
            RingMem { base, owner: Owner::Shared(keep) }
        }

        pub(super) fn ctrl(&self) -> &Ctrl {
            // SAFETY: initialised in `new` (or before `shared`); only its atomics are
            // mutated after that.
            unsafe { self.base.cast::<Ctrl>().as_ref() }
        }

        pub(super) fn ctrl_ptr(&self) -> *mut u8 {
            self.base.as_ptr()
        }

        /// # Safety
        /// `slot` < capacity and `T` is the ring's entry type.
        pub(super) unsafe fn slot_ptr<T>(&self, slot: usize) -> *mut T {
            // SAFETY: slot < capacity, so the offset stays inside the allocation.
            unsafe { self.base.as_ptr().add(std::mem::size_of::<Ctrl>()).cast::<T>().add(slot) }
        }
    }

    impl Drop for RingMem {
        fn drop(&mut self) {
            if let Owner::Heap(layout) = self.owner {
                // SAFETY: allocated in `new` with this layout; both handles are gone.
                unsafe { dealloc(self.base.as_ptr(), layout) };
            }
        }
    }
}

#[cfg(loom)]
mod mem {
    //! Loom build: the same protocol over loom-tracked cells.
    use super::Ctrl;
    use loom::cell::UnsafeCell;

    pub(super) struct RingMem {
        ctrl: Box<Ctrl>,
        slots: Box<[UnsafeCell<[u8; 64]>]>,
    }

    impl RingMem {
        pub(super) fn new(ctrl: Ctrl, slots_bytes: usize) -> RingMem {
            let n = slots_bytes / ctrl.entry_bytes as usize;
            RingMem { ctrl: Box::new(ctrl), slots: (0..n).map(|_| UnsafeCell::new([0; 64])).collect() }
        }
        pub(super) fn ctrl(&self) -> &Ctrl {
            &self.ctrl
        }
        pub(super) fn ctrl_ptr(&self) -> *mut u8 {
            std::ptr::null_mut()
        }
        pub(super) unsafe fn write<T: bytemuck::Pod>(&self, slot: usize, v: T) {
            self.slots[slot].with_mut(|p| {
                // SAFETY: the index protocol gives the producer exclusive use of this slot
                // (loom checks it); T is at most 64 bytes.
                let bytes = unsafe { &mut *p };
                bytes[..std::mem::size_of::<T>()].copy_from_slice(bytemuck::bytes_of(&v));
            })
        }
        pub(super) unsafe fn read<T: bytemuck::Pod>(&self, slot: usize) -> T {
            self.slots[slot].with(|p| {
                // SAFETY: the index protocol gives the consumer exclusive use of this slot.
                let bytes = unsafe { &*p };
                bytemuck::pod_read_unaligned(&bytes[..std::mem::size_of::<T>()])
            })
        }
    }
}

struct Shared<T> {
    mem: mem::RingMem,
    mask: u64,
    _entries: PhantomData<T>,
}

// SAFETY: the ring hands each slot to exactly one side at a time through the index
// protocol (acquire/release on producer/doorbell/consumer); entries are Pod values.
unsafe impl<T: Pod + Send> Send for Shared<T> {}
// SAFETY: as above; the shared parts are atomics.
unsafe impl<T: Pod + Send> Sync for Shared<T> {}

impl<T: Pod> Shared<T> {
    fn capacity(&self) -> u64 {
        self.mask + 1
    }

    /// # Safety
    /// The caller owns `index`'s slot under the protocol (producer: index in
    /// [consumer, consumer + capacity); consumer: index in [consumer, doorbell)).
    unsafe fn write(&self, index: u64, v: T) {
        let slot = (index & self.mask) as usize;
        #[cfg(not(loom))]
        // SAFETY: slot < capacity; the slot is owned by the producer (caller contract).
        unsafe {
            self.mem.slot_ptr::<T>(slot).write(v)
        };
        #[cfg(loom)]
        // SAFETY: forwarded contract.
        unsafe {
            self.mem.write(slot, v)
        };
    }

    /// # Safety
    /// As `write`, for the consumer.
    unsafe fn read(&self, index: u64) -> T {
        let slot = (index & self.mask) as usize;
        #[cfg(not(loom))]
        // SAFETY: slot < capacity; the slot is owned by the consumer (caller contract).
        return unsafe { self.mem.slot_ptr::<T>(slot).read() };
        #[cfg(loom)]
        // SAFETY: forwarded contract.
        return unsafe { self.mem.read(slot) };
    }
}

fn check_shape<T>(capacity: u32) -> Result<(), RingError> {
    if !capacity.is_power_of_two() || !(b::DPU_RING_MIN_ENTRIES..=b::DPU_RING_MAX_ENTRIES).contains(&capacity)
    {
        return Err(RingError::BadCapacity(capacity));
    }
    let entry_bytes = std::mem::size_of::<T>();
    if entry_bytes != b::DPU_DESC_BYTES as usize && entry_bytes != b::DPU_CPL_BYTES as usize {
        return Err(RingError::BadEntrySize(entry_bytes));
    }
    Ok(())
}

/// Bytes a ring of `capacity` entries of `T` occupies: control block, then the slots.
pub fn ring_bytes<T>(capacity: u32) -> usize {
    std::mem::size_of::<Ctrl>() + capacity as usize * std::mem::size_of::<T>()
}

/// Writes a fresh control block (indices at 0) at `base`, for a ring that lives in
/// memory shared with another process; the ends are opened with [`shared_producer`]
/// and [`shared_consumer`].
///
/// # Safety
/// `base` is 64-byte aligned and valid for writes of [`ring_bytes`]`::<T>(capacity)`
/// bytes, and no ring end uses that memory yet.
#[cfg(not(loom))]
pub unsafe fn format_shared<T: Pod>(base: std::ptr::NonNull<u8>, capacity: u32) -> Result<(), RingError> {
    check_shape::<T>(capacity)?;
    let ctrl = Ctrl {
        producer: Line::new(0),
        consumer: Line::new(0),
        doorbell: Line::new(0),
        magic: b::DPU_RING_MAGIC,
        abi_major: b::DPU_ABI_VERSION_MAJOR as u16,
        abi_minor: b::DPU_ABI_VERSION_MINOR as u16,
        capacity,
        entry_bytes: std::mem::size_of::<T>() as u32,
        _pad: [0; 48],
    };
    // SAFETY: aligned and writable for the control block (caller contract); nobody else
    // uses the memory yet.
    unsafe { base.cast::<Ctrl>().as_ptr().write(ctrl) };
    Ok(())
}

/// Checks a control block another process formatted and wraps it. The read-only fields
/// are read once, here; later changes to them by the peer are ignored.
///
/// # Safety
/// `base` is valid for reads and writes of `len` bytes while `keep` is alive.
#[cfg(not(loom))]
unsafe fn open_shared<T: Pod>(
    base: std::ptr::NonNull<u8>,
    len: usize,
    keep: Arc<dyn Send + Sync>,
) -> Result<Arc<Shared<T>>, RingError> {
    if len < std::mem::size_of::<Ctrl>() {
        return Err(RingError::BadControlBlock("shorter than a control block"));
    }
    if base.as_ptr().align_offset(64) != 0 {
        return Err(RingError::BadControlBlock("not 64-byte aligned"));
    }
    let c = base.cast::<Ctrl>().as_ptr();
    // SAFETY: in bounds and aligned (checked above); plain integer fields, read with
    // volatile loads because another process wrote them.
    let (magic, major, capacity, entry_bytes) = unsafe {
        (
            std::ptr::addr_of!((*c).magic).read_volatile(),
            std::ptr::addr_of!((*c).abi_major).read_volatile(),
            std::ptr::addr_of!((*c).capacity).read_volatile(),
            std::ptr::addr_of!((*c).entry_bytes).read_volatile(),
        )
    };
    if magic != b::DPU_RING_MAGIC {
        return Err(RingError::BadControlBlock("bad magic (not a dpukit ring)"));
    }
    if major != b::DPU_ABI_VERSION_MAJOR as u16 {
        return Err(RingError::BadControlBlock("ABI major version differs"));
    }
    check_shape::<T>(capacity)?;
    if entry_bytes as usize != std::mem::size_of::<T>() {
        return Err(RingError::BadControlBlock("entry size differs from the expected entry type"));
    }
    if ring_bytes::<T>(capacity) > len {
        return Err(RingError::BadControlBlock("capacity runs past the shared memory"));
    }
    Ok(Arc::new(Shared::<T> {
        // SAFETY: aligned, initialised (magic checked) and large enough for `capacity`
        // slots (checked); `keep` holds the mapping (caller contract).
        mem: unsafe { mem::RingMem::shared(base, keep) },
        mask: capacity as u64 - 1,
        _entries: PhantomData,
    }))
}

/// Opens the producing end of a ring in shared memory, continuing from its indices.
///
/// # Safety
/// `base` is valid for reads and writes of `len` bytes while `keep` is alive, and no
/// other producer of this ring exists, in this process or another (the protocol's
/// single-producer rule). A misbehaving consumer in another process can corrupt the
/// entries it owns and its index, which [`Producer::peer_fault`] reports, nothing more.
#[cfg(not(loom))]
pub unsafe fn shared_producer<T: Pod + Send>(
    base: std::ptr::NonNull<u8>,
    len: usize,
    keep: Arc<dyn Send + Sync>,
) -> Result<Producer<T>, RingError> {
    // SAFETY: forwarded contract.
    let shared = unsafe { open_shared::<T>(base, len, keep)? };
    let mut p = Producer { shared, head: 0, cached_consumer: 0, rung: 0, fault: false };
    p.resync();
    if p.head.wrapping_sub(p.cached_consumer) > p.shared.capacity() {
        return Err(RingError::BadControlBlock("producer index is more than a ring ahead of the consumer"));
    }
    Ok(p)
}

/// Opens the consuming end of a ring in shared memory, continuing from its indices.
///
/// # Safety
/// As [`shared_producer`], with no other consumer of this ring.
#[cfg(not(loom))]
pub unsafe fn shared_consumer<T: Pod + Send>(
    base: std::ptr::NonNull<u8>,
    len: usize,
    keep: Arc<dyn Send + Sync>,
) -> Result<Consumer<T>, RingError> {
    // SAFETY: forwarded contract.
    let shared = unsafe { open_shared::<T>(base, len, keep)? };
    let mut c = Consumer { shared, tail: 0, cached_doorbell: 0, fault: false };
    c.resync();
    if c.cached_doorbell.wrapping_sub(c.tail) > c.shared.capacity() {
        return Err(RingError::BadControlBlock("doorbell is more than a ring ahead of the consumer"));
    }
    Ok(c)
}

/// Creates a ring of `capacity` entries of `T` (a power of two in
/// [`DPU_RING_MIN_ENTRIES`, `DPU_RING_MAX_ENTRIES`]) and returns its two ends.
pub fn ring<T: Pod + Send>(capacity: u32) -> Result<(Producer<T>, Consumer<T>), RingError> {
    ring_starting_at(capacity, 0)
}

/// As [`ring`], with both indices starting at `start`: lets tests and long-running
/// deployments exercise index wrap-around without pushing 2^64 entries.
pub fn ring_starting_at<T: Pod + Send>(
    capacity: u32,
    start: u64,
) -> Result<(Producer<T>, Consumer<T>), RingError> {
    check_shape::<T>(capacity)?;
    let entry_bytes = std::mem::size_of::<T>();
    let ctrl = Ctrl {
        producer: Line::new(start),
        consumer: Line::new(start),
        doorbell: Line::new(start),
        magic: b::DPU_RING_MAGIC,
        abi_major: b::DPU_ABI_VERSION_MAJOR as u16,
        abi_minor: b::DPU_ABI_VERSION_MINOR as u16,
        capacity,
        entry_bytes: entry_bytes as u32,
        _pad: [0; 48],
    };
    let shared = Arc::new(Shared::<T> {
        mem: mem::RingMem::new(ctrl, capacity as usize * entry_bytes),
        mask: capacity as u64 - 1,
        _entries: PhantomData,
    });
    let producer =
        Producer { shared: shared.clone(), head: start, cached_consumer: start, rung: start, fault: false };
    let consumer = Consumer { shared, tail: start, cached_doorbell: start, fault: false };
    Ok((producer, consumer))
}

/// The producing end of a ring. Not `Clone`: there is exactly one producer.
pub struct Producer<T: Pod> {
    shared: Arc<Shared<T>>,
    /// Next index to write (the producer's own copy of `ctrl.producer`).
    head: u64,
    cached_consumer: u64,
    /// Last value written to the doorbell.
    rung: u64,
    /// The consumer published an index the protocol cannot produce (only a peer in
    /// another process, outside Rust's control, can): the ring is dead.
    fault: bool,
}

impl<T: Pod> Producer<T> {
    pub fn capacity(&self) -> usize {
        self.shared.capacity() as usize
    }

    /// Free slots, re-reading the consumer's index only when the cached one says full.
    /// A consumer index outside [head - capacity, head] marks the ring faulty: it then
    /// reports no free slot for good (see [`Producer::peer_fault`]).
    pub fn free(&mut self) -> usize {
        let cap = self.shared.capacity();
        if self.fault {
            return 0;
        }
        let mut used = self.head.wrapping_sub(self.cached_consumer);
        if used == cap {
            self.cached_consumer = self.shared.mem.ctrl().consumer.value.load(Ordering::Acquire);
            used = self.head.wrapping_sub(self.cached_consumer);
        }
        if used > cap {
            self.fault = true;
            return 0;
        }
        (cap - used) as usize
    }

    /// Whether the consumer broke the protocol (an index no correct consumer publishes).
    /// In-process rings never fault; a ring shared with another process can.
    pub fn peer_fault(&self) -> bool {
        self.fault
    }

    /// Writes as many of `items` as fit and publishes them; returns how many went in.
    /// Does not ring the doorbell.
    pub fn push_batch(&mut self, items: &[T]) -> usize {
        let mut free = self.free();
        if free < items.len() && !self.fault {
            // Refresh once more: the cached value may be stale even when not "full".
            self.cached_consumer = self.shared.mem.ctrl().consumer.value.load(Ordering::Acquire);
            let used = self.head.wrapping_sub(self.cached_consumer);
            if used > self.shared.capacity() {
                self.fault = true;
                return 0;
            }
            free = (self.shared.capacity() - used) as usize;
        }
        let n = free.min(items.len());
        for (i, item) in items[..n].iter().enumerate() {
            // SAFETY: head + i is in [consumer, consumer + capacity): the slot is free and
            // owned by the producer until `producer` is published below.
            unsafe { self.shared.write(self.head.wrapping_add(i as u64), *item) };
        }
        if n > 0 {
            self.head = self.head.wrapping_add(n as u64);
            self.shared.mem.ctrl().producer.value.store(self.head, Ordering::Release);
        }
        n
    }

    /// Pushes one item; `Err(item)` when the ring is full.
    pub fn push(&mut self, item: T) -> Result<(), T> {
        if self.push_batch(std::slice::from_ref(&item)) == 1 {
            Ok(())
        } else {
            Err(item)
        }
    }

    /// Makes every published entry visible to the consumer.
    pub fn ring_doorbell(&mut self) {
        if self.rung != self.head {
            self.rung = self.head;
            self.shared.mem.ctrl().doorbell.value.store(self.head, Ordering::Release);
        }
    }

    /// Entries published but not yet announced by a doorbell.
    pub fn unrung(&self) -> usize {
        self.head.wrapping_sub(self.rung) as usize
    }

    /// `push_batch` then `ring_doorbell`: one doorbell per batch.
    pub fn submit(&mut self, items: &[T]) -> usize {
        let n = self.push_batch(items);
        self.ring_doorbell();
        n
    }

    /// Pointer to the `struct dpu_ring_ctrl` (entries follow it), for C peers.
    #[cfg(not(loom))]
    pub fn raw_ctrl(&self) -> *mut b::dpu_ring_ctrl {
        self.shared.mem.ctrl_ptr().cast()
    }

    /// Resynchronises the cached index after a C peer produced through `raw_ctrl`.
    pub fn resync(&mut self) {
        let c = self.shared.mem.ctrl();
        self.head = c.producer.value.load(Ordering::Acquire);
        self.rung = c.doorbell.value.load(Ordering::Acquire);
        self.cached_consumer = c.consumer.value.load(Ordering::Acquire);
    }
}

/// The consuming end of a ring. Not `Clone`: there is exactly one consumer.
pub struct Consumer<T: Pod> {
    shared: Arc<Shared<T>>,
    /// Next index to read (the consumer's own copy of `ctrl.consumer`).
    tail: u64,
    cached_doorbell: u64,
    /// The producer published a doorbell the protocol cannot produce: the ring is dead.
    fault: bool,
}

impl<T: Pod> Consumer<T> {
    pub fn capacity(&self) -> usize {
        self.shared.capacity() as usize
    }

    /// Entries announced by the doorbell and not yet consumed.
    /// A doorbell outside [tail, tail + capacity] marks the ring faulty: it then reports
    /// nothing available for good (see [`Consumer::peer_fault`]).
    pub fn available(&mut self) -> usize {
        if self.fault {
            return 0;
        }
        if self.cached_doorbell == self.tail {
            self.cached_doorbell = self.shared.mem.ctrl().doorbell.value.load(Ordering::Acquire);
        }
        let avail = self.cached_doorbell.wrapping_sub(self.tail);
        if avail > self.shared.capacity() {
            self.fault = true;
            return 0;
        }
        avail as usize
    }

    /// Whether the producer broke the protocol (a doorbell no correct producer rings).
    /// In-process rings never fault; a ring shared with another process can.
    pub fn peer_fault(&self) -> bool {
        self.fault
    }

    /// The doorbell's current value (free-running index of the last announced entry + 1).
    pub fn doorbell_index(&self) -> u64 {
        self.shared.mem.ctrl().doorbell.value.load(Ordering::Acquire)
    }

    /// Copies up to `out.len()` entries out and frees their slots; returns the count.
    pub fn pop_batch(&mut self, out: &mut [T]) -> usize {
        self.consume(out.len(), |i, v| out[i] = v)
    }

    /// Calls `f(i, entry)` for up to `budget` entries in order, then frees their slots.
    pub fn consume(&mut self, budget: usize, mut f: impl FnMut(usize, T)) -> usize {
        let mut avail = self.available();
        if avail < budget && !self.fault {
            self.cached_doorbell = self.shared.mem.ctrl().doorbell.value.load(Ordering::Acquire);
            let a = self.cached_doorbell.wrapping_sub(self.tail);
            if a > self.shared.capacity() {
                self.fault = true;
                return 0;
            }
            avail = a as usize;
        }
        let n = avail.min(budget);
        for i in 0..n {
            // SAFETY: tail + i is below the acquired doorbell, so the producer wrote it
            // and will not reuse the slot until `consumer` moves past it below.
            let v = unsafe { self.shared.read(self.tail.wrapping_add(i as u64)) };
            f(i, v);
        }
        if n > 0 {
            self.tail = self.tail.wrapping_add(n as u64);
            self.shared.mem.ctrl().consumer.value.store(self.tail, Ordering::Release);
        }
        n
    }

    pub fn pop(&mut self) -> Option<T> {
        let mut v = None;
        self.consume(1, |_, x| v = Some(x));
        v
    }

    /// Pointer to the `struct dpu_ring_ctrl` (entries follow it), for C peers.
    #[cfg(not(loom))]
    pub fn raw_ctrl(&self) -> *mut b::dpu_ring_ctrl {
        self.shared.mem.ctrl_ptr().cast()
    }

    /// Resynchronises the cached index after a C peer consumed through `raw_ctrl`.
    pub fn resync(&mut self) {
        let c = self.shared.mem.ctrl();
        self.tail = c.consumer.value.load(Ordering::Acquire);
        self.cached_doorbell = c.doorbell.value.load(Ordering::Acquire);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::abi::RawDesc;

    fn d(tag: u64) -> RawDesc {
        let mut r = RawDesc::default();
        r.0.tag = tag;
        r
    }

    #[test]
    fn capacity_and_entry_checks() {
        for bad in [0u32, 1, 3, 6, 100, 1 << 17, u32::MAX] {
            assert_eq!(ring::<RawDesc>(bad).err(), Some(RingError::BadCapacity(bad)));
        }
        assert_eq!(ring::<[u8; 16]>(8).err(), Some(RingError::BadEntrySize(16)));
        assert!(ring::<RawDesc>(2).is_ok());
        assert!(ring::<RawDesc>(65536).is_ok());
    }

    #[test]
    fn empty_full_and_doorbell() {
        let (mut p, mut c) = ring::<RawDesc>(4).unwrap();
        assert_eq!(c.available(), 0);
        assert!(c.pop().is_none());
        assert_eq!(p.free(), 4);
        assert_eq!(p.push_batch(&[d(1), d(2), d(3)]), 3);
        // Published but not rung: the consumer sees nothing yet.
        assert_eq!(p.unrung(), 3);
        assert_eq!(c.available(), 0);
        p.ring_doorbell();
        assert_eq!(c.available(), 3);
        assert_eq!(p.submit(&[d(4), d(5)]), 1, "only one slot left");
        assert_eq!(p.free(), 0);
        assert!(p.push(d(6)).is_err(), "full ring is backpressure");
        let mut out = [RawDesc::default(); 8];
        assert_eq!(c.pop_batch(&mut out), 4);
        assert_eq!(out[..4].iter().map(|x| x.0.tag).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        assert_eq!(p.free(), 4);
        assert_eq!(c.pop_batch(&mut out), 0);
    }

    #[test]
    fn batch_larger_than_free_space_is_partial() {
        let (mut p, mut c) = ring::<RawDesc>(8).unwrap();
        let items: Vec<_> = (0..20).map(d).collect();
        let mut sent = 0;
        let mut got = Vec::new();
        while got.len() < 20 {
            sent += p.submit(&items[sent..]);
            assert!(sent <= got.len() + 8, "never more than capacity in flight");
            c.consume(3, |_, v| got.push(v.0.tag));
        }
        assert_eq!(got, (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn wraps_at_u32_and_u64_index_overflow() {
        for start in [u32::MAX as u64 - 5, u64::MAX - 5] {
            let (mut p, mut c) = ring_starting_at::<RawDesc>(4, start).unwrap();
            let mut next = 0u64;
            let mut expect = 0u64;
            for _ in 0..10 {
                let batch: Vec<_> = (next..next + 3).map(d).collect();
                next += p.submit(&batch) as u64;
                let mut out = [RawDesc::default(); 2];
                let n = c.pop_batch(&mut out);
                for x in &out[..n] {
                    assert_eq!(x.0.tag, expect);
                    expect += 1;
                }
            }
            while let Some(x) = c.pop() {
                assert_eq!(x.0.tag, expect);
                expect += 1;
            }
            assert_eq!(expect, next);
            assert!(next > 6, "crossed the overflow point");
        }
    }

    #[test]
    fn two_thread_stress_every_tag_once_in_order() {
        const N: u64 = 200_000;
        let (mut p, mut c) = ring::<RawDesc>(64).unwrap();
        let t = std::thread::spawn(move || {
            let mut next = 0u64;
            let mut batch = Vec::with_capacity(32);
            while next < N {
                batch.clear();
                let k = 1 + (next % 32);
                batch.extend((next..(next + k).min(N)).map(d));
                let n = p.submit(&batch);
                next += n as u64;
                if n == 0 {
                    std::thread::yield_now();
                }
            }
        });
        let mut expect = 0u64;
        let mut out = vec![RawDesc::default(); 17];
        while expect < N {
            let n = c.pop_batch(&mut out);
            for x in &out[..n] {
                assert_eq!(x.0.tag, expect, "out of order or duplicated");
                expect += 1;
            }
            if n == 0 {
                std::thread::yield_now();
            }
        }
        t.join().unwrap();
        assert!(c.pop().is_none(), "nothing extra arrives");
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! `RUSTFLAGS="--cfg loom" cargo test -p dpukit-ffi --release --lib ring::loom_tests`
    use super::*;
    use crate::abi::RawCpl;

    fn c(tag: u64) -> RawCpl {
        let mut r = RawCpl::default();
        r.0.tag = tag;
        r
    }

    #[test]
    fn index_protocol_delivers_each_entry_once_in_order() {
        loom::model(|| {
            let (mut p, mut cons) = ring::<RawCpl>(2).unwrap();
            let t = loom::thread::spawn(move || {
                let mut next = 0;
                while next < 3 {
                    if p.push(c(next)).is_ok() {
                        p.ring_doorbell();
                        next += 1;
                    } else {
                        loom::thread::yield_now();
                    }
                }
                // A correct consumer never looks like a broken one (the check a ring
                // shared with another process relies on), in any interleaving.
                assert!(!p.peer_fault());
            });
            let mut expect = 0;
            while expect < 3 {
                match cons.pop() {
                    Some(v) => {
                        assert_eq!(v.0.tag, expect);
                        expect += 1;
                    }
                    None => loom::thread::yield_now(),
                }
            }
            t.join().unwrap();
            assert!(cons.pop().is_none());
            assert!(!cons.peer_fault());
        });
    }

    #[test]
    fn batched_submit_and_budgeted_consume() {
        loom::model(|| {
            let (mut p, mut cons) = ring::<RawCpl>(2).unwrap();
            let t = loom::thread::spawn(move || {
                let items = [c(0), c(1), c(2)];
                let mut sent = 0;
                while sent < 3 {
                    let n = p.submit(&items[sent..]);
                    sent += n;
                    if n == 0 {
                        loom::thread::yield_now();
                    }
                }
                assert!(!p.peer_fault());
            });
            let mut got = Vec::new();
            while got.len() < 3 {
                if cons.consume(2, |_, v| got.push(v.0.tag)) == 0 {
                    loom::thread::yield_now();
                }
            }
            t.join().unwrap();
            assert_eq!(got, vec![0, 1, 2]);
            assert!(!cons.peer_fault());
        });
    }
}
