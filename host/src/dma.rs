//! A pool of DMA slots: one allocation registered once with a queue pair, split into
//! fixed slots of (input, output) buffers, and a spare one where a job needs a third (a
//! chain of two transforms whose source must survive), with ownership tracked per slot.
//!
//! A slot is either the host's (it may read and write it through [`DmaPool::slot`]) or
//! in flight (the device may touch it, the host may not). Handing a slot to the device
//! ([`DmaPool::mark_in_flight`]) and taking it back ([`DmaPool::mark_done`]) take
//! `&mut self`, so no host slice into the pool can outlive the hand-over: this is what
//! makes the registration contract of `dpukit_ffi::RegionTable` hold.

use std::ptr::NonNull;

/// Byte alignment of every slot buffer (O_DIRECT and cache lines).
pub const SLOT_ALIGN: usize = 4096;

/// The pool.
pub struct DmaPool {
    base: NonNull<u8>,
    layout: std::alloc::Layout,
    slots: usize,
    in_bytes: usize,
    out_bytes: usize,
    spare_bytes: usize,
    stride: usize,
    in_flight: Vec<bool>,
}

// SAFETY: the pool owns its allocation; slices are only handed out through `&mut self`.
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
        let (in_bytes, out_bytes) = (round_up(in_bytes.max(1)), round_up(out_bytes.max(1)));
        let spare_bytes = round_up(spare_bytes);
        let stride = in_bytes + out_bytes + spare_bytes;
        let total = stride
            .checked_mul(slots.max(1))
            .filter(|&t| t <= isize::MAX as usize / 2)
            .ok_or(PoolError::TooLarge { slots, bytes: stride })?;
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
            layout,
            slots: slots.max(1),
            in_bytes,
            out_bytes,
            spare_bytes,
            stride,
            in_flight: vec![false; slots.max(1)],
        })
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
        (self.base.as_ptr(), self.layout.size() as u64)
    }

    /// Offset of a slot's input buffer within the region.
    pub fn in_offset(&self, slot: usize) -> u64 {
        (slot * self.stride) as u64
    }

    /// Offset of a slot's output buffer within the region.
    pub fn out_offset(&self, slot: usize) -> u64 {
        (slot * self.stride + self.in_bytes) as u64
    }

    /// Offset of a slot's spare buffer within the region.
    pub fn spare_offset(&self, slot: usize) -> u64 {
        (slot * self.stride + self.in_bytes + self.out_bytes) as u64
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
                // SAFETY: the slot lies inside the allocation (slot < slots) and its three
                // buffers are disjoint parts of its `stride` bytes; it is not in
                // flight, so the device holds no reference to it, and `&mut self` makes
                // these the only host references until they are dropped.
                unsafe {
                    let p = self.base.as_ptr().add(slot * self.stride);
                    Ok((
                        std::slice::from_raw_parts_mut(p, self.in_bytes),
                        std::slice::from_raw_parts_mut(p.add(self.in_bytes), self.out_bytes),
                        std::slice::from_raw_parts_mut(
                            p.add(self.in_bytes + self.out_bytes),
                            self.spare_bytes,
                        ),
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
        // SAFETY: allocated in `new` with this layout. The owner drops the pool only after
        // the device that could reference it (the queue pair's engine) is gone.
        unsafe { std::alloc::dealloc(self.base.as_ptr(), self.layout) };
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
