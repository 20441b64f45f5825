//! A pool of DMA slots: one allocation registered once with a queue pair, split into
//! fixed slots of (input, output) buffers, and a spare one where a job needs a third (a
//! chain of two transforms whose source must survive), with ownership tracked per slot.
//!
//! A slot is either the host's (it may read and write it through [`DmaPool::slot`]) or
//! in flight (the device may touch it, the host may not). Handing a slot to the device
//! ([`DmaPool::mark_in_flight`]) and taking it back ([`DmaPool::mark_done`]) take
//! `&mut self`, so no host slice into the pool can outlive the hand-over: this is what
//! makes the registration contract of `dpukit_ffi::RegionTable` hold.
//!
//! The memory is the pool's own (an in-process device), or a region of memory shared with
//! a device process ([`DmaPool::over_shared`]). A device in another process can write
//! anywhere in the memory it shares, so a shared pool puts a guard page before and after
//! every buffer, filled with [`GUARD_BYTE`]: [`DmaPool::check_guards`] tells whether a
//! device wrote outside the buffers of a slot.

use std::ptr::NonNull;
use std::sync::Arc;

/// Byte alignment of every slot buffer (O_DIRECT and cache lines).
pub const SLOT_ALIGN: usize = 4096;

/// What the guard pages of a shared pool hold; any other byte there was written by the
/// device.
pub const GUARD_BYTE: u8 = 0xd7;

/// Where the pool's memory comes from.
enum Backing {
    /// Allocated by the pool, freed on drop.
    Heap(std::alloc::Layout),
    /// Memory the pool does not own (a shared-memory region), kept mapped by `_keep`.
    External { _keep: Arc<dyn Send + Sync> },
}

/// The pool.
pub struct DmaPool {
    base: NonNull<u8>,
    len: usize,
    backing: Backing,
    slots: usize,
    in_bytes: usize,
    out_bytes: usize,
    spare_bytes: usize,
    /// Bytes of guard before each buffer and after the last (0: no guards).
    guard: usize,
    stride: usize,
    in_flight: Vec<bool>,
}

// SAFETY: the pool owns its allocation (or a keep-alive of the external memory); slices are
// only handed out through `&mut self`.
unsafe impl Send for DmaPool {}

/// A slot's input, output and spare buffers, as the host sees them.
pub type SlotBuffers<'a> = (&'a mut [u8], &'a mut [u8], &'a mut [u8]);

/// Why a pool operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("slot {0} is in flight on the device")]
    InFlight(usize),
    #[error("slot {0} does not exist")]
    NoSuchSlot(usize),
    #[error("pool of {slots} slots x {bytes} bytes is too large")]
    TooLarge { slots: usize, bytes: usize },
    #[error("cannot allocate a pool of {bytes} bytes: not enough memory")]
    NoMemory { bytes: usize },
}

fn round_up(n: usize) -> usize {
    n.div_ceil(SLOT_ALIGN) * SLOT_ALIGN
}

/// Buffer sizes of a pool (each rounded up to [`SLOT_ALIGN`]; no spare buffer: 0).
#[derive(Debug, Clone, Copy)]
struct Geometry {
    in_bytes: usize,
    out_bytes: usize,
    spare_bytes: usize,
    stride: usize,
    total: usize,
}

/// A slot is `guard, input, guard, output` and, with a spare buffer, `guard, spare`; one
/// more guard follows the last slot.
fn geometry(
    slots: usize,
    in_bytes: usize,
    out_bytes: usize,
    spare_bytes: usize,
    guard: usize,
) -> Result<Geometry, PoolError> {
    let (in_bytes, out_bytes) = (round_up(in_bytes.max(1)), round_up(out_bytes.max(1)));
    let spare_bytes = round_up(spare_bytes);
    let spare = if spare_bytes > 0 { guard + spare_bytes } else { 0 };
    let stride = in_bytes + out_bytes + 2 * guard + spare;
    let total = stride
        .checked_mul(slots.max(1))
        .and_then(|t| t.checked_add(guard))
        .filter(|&t| t <= isize::MAX as usize / 2)
        .ok_or(PoolError::TooLarge { slots, bytes: stride })?;
    Ok(Geometry { in_bytes, out_bytes, spare_bytes, stride, total })
}

impl DmaPool {
    /// `slots` slots, each with an input buffer of `in_bytes` and an output buffer of
    /// `out_bytes` (both rounded up to [`SLOT_ALIGN`]).
    pub fn new(slots: usize, in_bytes: usize, out_bytes: usize) -> Result<DmaPool, PoolError> {
        DmaPool::with_spare(slots, in_bytes, out_bytes, 0)
    }

    /// As [`DmaPool::new`], each slot with a spare buffer of `spare_bytes` (0: none).
    pub fn with_spare(
        slots: usize,
        in_bytes: usize,
        out_bytes: usize,
        spare_bytes: usize,
    ) -> Result<DmaPool, PoolError> {
        let g = geometry(slots, in_bytes, out_bytes, spare_bytes, 0)?;
        let (stride, total) = (g.stride, g.total);
        let layout = std::alloc::Layout::from_size_align(total, SLOT_ALIGN)
            .map_err(|_| PoolError::TooLarge { slots, bytes: stride })?;
        // SAFETY: the layout's size is not zero (`total` is at least one slot of two
        // buffers of at least `SLOT_ALIGN` bytes each); a null return is handled below.
        let raw = unsafe { std::alloc::alloc(layout) };
        let Some(base) = NonNull::new(raw) else { return Err(PoolError::NoMemory { bytes: total }) };
        // Zeroed by writing every byte, so every page is resident from here on, as memory
        // registered for DMA is pinned: the data path never takes a first-touch page fault
        // in a slot. Not left to `alloc_zeroed`, which may map zeroed memory lazily.
        // SAFETY: `raw` is a live allocation of `total` bytes, written here before any read.
        unsafe { std::ptr::write_bytes(raw, 0, total) };
        Ok(DmaPool {
            base,
            len: total,
            backing: Backing::Heap(layout),
            slots: slots.max(1),
            in_bytes: g.in_bytes,
            out_bytes: g.out_bytes,
            spare_bytes: g.spare_bytes,
            guard: 0,
            stride,
            in_flight: vec![false; slots.max(1)],
        })
    }

    /// Bytes a shared pool of these slots needs ([`DmaPool::over_shared`]): the buffers
    /// and their guard pages.
    pub fn shared_bytes(
        slots: usize,
        in_bytes: usize,
        out_bytes: usize,
        spare_bytes: usize,
    ) -> Result<usize, PoolError> {
        Ok(geometry(slots, in_bytes, out_bytes, spare_bytes, SLOT_ALIGN)?.total)
    }

    /// A pool laid out in `len` bytes at `base` that it does not own (a region of memory
    /// shared with a device process), with a guard page around every buffer. `keep` keeps
    /// the memory mapped as long as the pool lives.
    ///
    /// # Safety
    /// `base..base + len` is writable memory, aligned to [`SLOT_ALIGN`], that stays mapped
    /// while `keep` lives, and that nothing else in this process reads or writes while the
    /// pool lives (the device process may: that is what the pool is for).
    pub unsafe fn over_shared(
        base: NonNull<u8>,
        len: usize,
        keep: Arc<dyn Send + Sync>,
        slots: usize,
        in_bytes: usize,
        out_bytes: usize,
        spare_bytes: usize,
    ) -> Result<DmaPool, PoolError> {
        let g = geometry(slots, in_bytes, out_bytes, spare_bytes, SLOT_ALIGN)?;
        let (stride, total) = (g.stride, g.total);
        if total > len || !(base.as_ptr() as usize).is_multiple_of(SLOT_ALIGN) {
            return Err(PoolError::TooLarge { slots, bytes: stride });
        }
        // Every byte written once (resident, as in `new`): buffers zeroed, guards filled.
        // SAFETY: `base..base+total` is writable and this pool's alone (caller contract).
        unsafe { std::ptr::write_bytes(base.as_ptr(), 0, total) };
        let pool = DmaPool {
            base,
            len: total,
            backing: Backing::External { _keep: keep },
            slots: slots.max(1),
            in_bytes: g.in_bytes,
            out_bytes: g.out_bytes,
            spare_bytes: g.spare_bytes,
            guard: SLOT_ALIGN,
            stride,
            in_flight: vec![false; slots.max(1)],
        };
        for at in pool.guard_offsets() {
            // SAFETY: each guard lies inside `base..base+total` (geometry).
            unsafe { std::ptr::write_bytes(base.as_ptr().add(at), GUARD_BYTE, pool.guard) };
        }
        Ok(pool)
    }

    /// Offsets of every guard page (none in a pool of its own memory).
    fn guard_offsets(&self) -> Vec<usize> {
        if self.guard == 0 {
            return Vec::new();
        }
        let mut v: Vec<usize> = (0..self.slots)
            .flat_map(|s| {
                let at = s * self.stride;
                let spare =
                    (self.spare_bytes > 0).then_some(at + 2 * self.guard + self.in_bytes + self.out_bytes);
                [Some(at), Some(at + self.guard + self.in_bytes), spare].into_iter().flatten()
            })
            .collect();
        v.push(self.slots * self.stride);
        v
    }

    /// `Err(which)` if a guard page next to one of `slot`'s buffers holds a byte the pool
    /// did not write there: the device wrote outside the buffers it was given.
    pub fn check_guards(&self, slot: usize) -> Result<(), String> {
        if self.guard == 0 || slot >= self.slots {
            return Ok(());
        }
        let at = slot * self.stride;
        let mut guards = vec![
            (at, format!("before slot {slot}'s input")),
            (at + self.guard + self.in_bytes, format!("between slot {slot}'s input and output")),
        ];
        if self.spare_bytes > 0 {
            guards.push((
                at + 2 * self.guard + self.in_bytes + self.out_bytes,
                format!("between slot {slot}'s output and spare buffer"),
            ));
        }
        let last = if self.spare_bytes > 0 { "spare buffer" } else { "output" };
        guards.push((at + self.stride, format!("after slot {slot}'s {last}")));
        let word = u64::from_ne_bytes([GUARD_BYTE; 8]);
        for (off, which) in guards {
            // SAFETY: the guard lies inside the pool's memory (geometry); the device process
            // may be writing it, so it is read with volatile loads of aligned words (any
            // value is a valid u64) and never through a reference.
            let clean = (0..self.guard / 8)
                .all(|i| unsafe { self.base.as_ptr().add(off).cast::<u64>().add(i).read_volatile() == word });
            if !clean {
                return Err(format!("wrote outside its buffers (the guard page {which})"));
            }
        }
        Ok(())
    }

    pub fn slots(&self) -> usize {
        self.slots
    }

    pub fn in_bytes(&self) -> usize {
        self.in_bytes
    }

    pub fn out_bytes(&self) -> usize {
        self.out_bytes
    }

    pub fn spare_bytes(&self) -> usize {
        self.spare_bytes
    }

    /// Base and length, for registering the whole pool as one region.
    pub fn raw_region(&mut self) -> (*mut u8, u64) {
        (self.base.as_ptr(), self.len as u64)
    }

    /// Offset of a slot's input buffer within the region.
    pub fn in_offset(&self, slot: usize) -> u64 {
        (slot * self.stride + self.guard) as u64
    }

    /// Offset of a slot's output buffer within the region.
    pub fn out_offset(&self, slot: usize) -> u64 {
        (slot * self.stride + 2 * self.guard + self.in_bytes) as u64
    }

    /// Offset of a slot's spare buffer within the region.
    pub fn spare_offset(&self, slot: usize) -> u64 {
        (slot * self.stride + 3 * self.guard + self.in_bytes + self.out_bytes) as u64
    }

    pub fn is_in_flight(&self, slot: usize) -> bool {
        self.in_flight.get(slot).copied().unwrap_or(false)
    }

    /// The host's view of a slot: (input, output).
    pub fn slot(&mut self, slot: usize) -> Result<(&mut [u8], &mut [u8]), PoolError> {
        self.slot_with_spare(slot).map(|(i, o, _)| (i, o))
    }

    /// The host's view of a slot with its spare buffer (empty without one).
    pub fn slot_with_spare(&mut self, slot: usize) -> Result<SlotBuffers<'_>, PoolError> {
        match self.in_flight.get(slot) {
            None => Err(PoolError::NoSuchSlot(slot)),
            Some(true) => Err(PoolError::InFlight(slot)),
            Some(false) => {
                let base = self.base.as_ptr();
                let (i, o, s) = (self.in_offset(slot), self.out_offset(slot), self.spare_offset(slot));
                // SAFETY: the slot lies inside the allocation (slot < slots) and its three
                // buffers are disjoint parts of its `stride` bytes (geometry); it is not in
                // flight, so the device holds no reference to it, and `&mut self` makes
                // these the only host references until they are dropped.
                unsafe {
                    Ok((
                        std::slice::from_raw_parts_mut(base.add(i as usize), self.in_bytes),
                        std::slice::from_raw_parts_mut(base.add(o as usize), self.out_bytes),
                        std::slice::from_raw_parts_mut(base.add(s as usize), self.spare_bytes),
                    ))
                }
            }
        }
    }

    /// Hands a slot to the device.
    pub fn mark_in_flight(&mut self, slot: usize) -> Result<(), PoolError> {
        let f = self.in_flight.get_mut(slot).ok_or(PoolError::NoSuchSlot(slot))?;
        if *f {
            return Err(PoolError::InFlight(slot));
        }
        *f = true;
        Ok(())
    }

    /// Takes a slot back from the device (its completions have all arrived, or the
    /// device is stopped for good).
    pub fn mark_done(&mut self, slot: usize) -> Result<(), PoolError> {
        let f = self.in_flight.get_mut(slot).ok_or(PoolError::NoSuchSlot(slot))?;
        *f = false;
        Ok(())
    }
}

impl Drop for DmaPool {
    fn drop(&mut self) {
        if let Backing::Heap(layout) = self.backing {
            // SAFETY: allocated in `new` with this layout. The owner drops the pool only
            // after the device that could reference it (the queue pair's engine) is gone.
            unsafe { std::alloc::dealloc(self.base.as_ptr(), layout) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spare_buffer_follows_the_output_and_is_disjoint() {
        let mut p = DmaPool::with_spare(2, 5000, 100, 10).unwrap();
        assert_eq!((p.in_bytes(), p.out_bytes(), p.spare_bytes()), (8192, 4096, 4096));
        assert_eq!(p.spare_offset(1), p.out_offset(1) + 4096);
        assert_eq!(p.in_offset(1), 8192 + 4096 + 4096);
        let (i, o, s) = p.slot_with_spare(1).unwrap();
        i.fill(1);
        o.fill(2);
        s.fill(3);
        let (i, o) = p.slot(1).unwrap();
        assert!(i.iter().all(|&b| b == 1) && o.iter().all(|&b| b == 2));
        assert_eq!(p.slot_with_spare(0).unwrap().2, &[0u8; 4096][..]);
    }

    #[test]
    fn a_shared_pool_guards_its_spare_buffers_too() {
        let len = DmaPool::shared_bytes(2, 4096, 4096, 4096).unwrap();
        assert_eq!(len, 2 * (3 * 4096 + 3 * SLOT_ALIGN) + SLOT_ALIGN);
        let layout = std::alloc::Layout::from_size_align(len, SLOT_ALIGN).unwrap();
        // SAFETY: non-zero size.
        let base = NonNull::new(unsafe { std::alloc::alloc(layout) }).unwrap();
        let mem = Arc::new(Foreign(base, layout));
        // SAFETY: `len` writable, aligned bytes kept alive by `mem`; nothing else uses them.
        let mut p = unsafe { DmaPool::over_shared(base, len, mem, 2, 4096, 4096, 4096) }.unwrap();
        assert_eq!(p.spare_offset(0), p.out_offset(0) + 4096 + SLOT_ALIGN as u64);
        p.slot_with_spare(0).unwrap().2.fill(0xff);
        assert_eq!(p.check_guards(0), Ok(()));
        // One byte between slot 1's output and its spare buffer.
        // SAFETY: inside the pool's memory; nothing borrows it now.
        unsafe { base.as_ptr().add(p.out_offset(1) as usize + 4096).write(1) };
        assert!(p.check_guards(1).unwrap_err().contains("between slot 1's output and spare buffer"));
        assert_eq!(p.check_guards(0), Ok(()));
        // One byte past slot 0's spare buffer: the guard before slot 1's input.
        // SAFETY: as above.
        unsafe { base.as_ptr().add(p.spare_offset(0) as usize + 4096).write(1) };
        assert!(p.check_guards(0).unwrap_err().contains("after slot 0's spare buffer"));
    }

    #[test]
    fn slots_are_aligned_disjoint_and_guarded() {
        let mut p = DmaPool::new(3, 5000, 100).unwrap();
        assert_eq!((p.in_bytes(), p.out_bytes()), (8192, 4096));
        assert_eq!(p.in_offset(1), 12288);
        assert_eq!(p.out_offset(1), 12288 + 8192);
        {
            let (i, o) = p.slot(2).unwrap();
            i.fill(1);
            o.fill(2);
            assert_eq!(i.as_ptr() as usize % SLOT_ALIGN, 0);
        }
        p.mark_in_flight(2).unwrap();
        assert_eq!(p.slot(2).unwrap_err(), PoolError::InFlight(2));
        assert!(p.slot_with_spare(2).is_err());
        assert_eq!(p.mark_in_flight(2).unwrap_err(), PoolError::InFlight(2));
        p.mark_done(2).unwrap();
        assert!(p.slot(2).unwrap().0.iter().all(|&b| b == 1));
        assert_eq!(p.slot(3).unwrap_err(), PoolError::NoSuchSlot(3));
        assert!(matches!(DmaPool::new(usize::MAX / 2, 1 << 20, 0), Err(PoolError::TooLarge { .. })));
    }

    /// Page-aligned memory that is not the pool's, freed when the last holder drops it.
    struct Foreign(NonNull<u8>, std::alloc::Layout);
    // SAFETY: plain memory, only reached through the pool under test.
    unsafe impl Send for Foreign {}
    // SAFETY: as above.
    unsafe impl Sync for Foreign {}
    impl Drop for Foreign {
        fn drop(&mut self) {
            // SAFETY: allocated below with this layout, freed once.
            unsafe { std::alloc::dealloc(self.0.as_ptr(), self.1) };
        }
    }

    #[test]
    fn a_shared_pool_guards_every_buffer_and_names_the_one_overrun() {
        let len = DmaPool::shared_bytes(2, 5000, 100, 0).unwrap();
        assert_eq!(len, 2 * (8192 + 4096 + 2 * SLOT_ALIGN) + SLOT_ALIGN);
        let layout = std::alloc::Layout::from_size_align(len, SLOT_ALIGN).unwrap();
        // SAFETY: non-zero size.
        let base = NonNull::new(unsafe { std::alloc::alloc(layout) }).unwrap();
        let mem = Arc::new(Foreign(base, layout));
        // SAFETY: `len` writable, aligned bytes kept alive by `mem`; nothing else uses them.
        let mut p = unsafe { DmaPool::over_shared(base, len, mem.clone(), 2, 5000, 100, 0) }.unwrap();
        assert_eq!((p.in_offset(0), p.out_offset(0)), (4096, 4096 + 8192 + 4096));
        assert_eq!(p.in_offset(1) as usize, 8192 + 4096 + 2 * SLOT_ALIGN + SLOT_ALIGN);
        {
            let (i, o) = p.slot(1).unwrap();
            assert!(i.iter().chain(o.iter()).all(|&b| b == 0));
            i.fill(0xff);
            o.fill(0xff);
        }
        assert_eq!(p.check_guards(0), Ok(()));
        assert_eq!(p.check_guards(1), Ok(()), "filling the buffers whole touches no guard");
        // A device writing one byte past slot 0's output (the guard before slot 1's input).
        // SAFETY: inside the pool's memory; nothing borrows it now.
        unsafe { base.as_ptr().add(p.out_offset(0) as usize + 4096).write(1) };
        assert!(p.check_guards(0).unwrap_err().contains("the guard page after slot 0's output"));
        assert!(p.check_guards(1).unwrap_err().contains("the guard page before slot 1's input"));
        drop(p);
        assert_eq!(Arc::strong_count(&mem), 1, "the pool let go of the memory and did not free it");
        assert!(DmaPool::shared_bytes(usize::MAX / 4, 1 << 20, 0, 0).is_err());
    }

    /// Page faults this thread has taken so far.
    fn thread_minor_faults() -> i64 {
        use nix::sys::resource::{getrusage, UsageWho};
        getrusage(UsageWho::RUSAGE_THREAD).expect("getrusage of this thread").minor_page_faults()
    }

    #[test]
    fn a_new_pool_is_resident_and_zeroed() {
        // 16 slots of 1 MiB + 1 MiB, a run's default pool: large enough that an allocator
        // maps it lazily.
        let mut p = DmaPool::new(16, 1 << 20, 1 << 20).unwrap();
        let before = thread_minor_faults();
        for slot in 0..p.slots() {
            let (i, o) = p.slot(slot).unwrap();
            // One write per page (volatile, so it is not dropped as dead): a page not yet
            // resident faults here.
            for page in i.chunks_mut(4096).chain(o.chunks_mut(4096)) {
                // SAFETY: `page` is a live, exclusively borrowed, non-empty slice.
                unsafe { std::ptr::write_volatile(page.as_mut_ptr(), 1) };
            }
        }
        let faults = thread_minor_faults() - before;
        let pages = (16 * 2 * (1 << 20) / 4096) as i64;
        assert!(faults < pages / 100, "{faults} page faults writing a new pool of {pages} pages");
        for slot in 0..p.slots() {
            let (i, o) = p.slot(slot).unwrap();
            for page in i.chunks(4096).chain(o.chunks(4096)) {
                assert!(page[1..].iter().all(|&b| b == 0), "slot {slot} is not zeroed");
            }
        }
    }
}
