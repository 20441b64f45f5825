//! The region table: the only way the device reaches host memory.
//!
//! A buffer reference names (region id, offset, length). The table resolves it to a
//! bounds-checked [`ResolvedBuf`] or answers with the status an error completion
//! carries: `UnknownRegion` or `OutOfRange`. The device never sees a raw host pointer
//! that did not come from registration.
//!
//! The contract is the one of DMA memory registration (DOCA mmap, RDMA memory regions):
//! registered memory stays valid until it is unregistered or the table is dropped, and
//! while a descriptor that references a byte range is in flight the host does not touch
//! that range. Registration is therefore `unsafe`; everything after it is checked.

use crate::desc::BufRef;
use crate::types::Status;
use std::ptr::NonNull;

/// Identifier of a registered region; 0 is never valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegionId(pub u32);

#[derive(Debug, Clone, Copy)]
struct Region {
    base: NonNull<u8>,
    len: u64,
}

/// A bounds-checked view of a buffer inside a registered region.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedBuf {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a ResolvedBuf is a (pointer, length) pair into registered memory, which the
// registration contract keeps valid and free of host access while in flight; moving
// the pair to the device thread is what DMA does.
unsafe impl Send for ResolvedBuf {}
// SAFETY: shared references to a ResolvedBuf only expose `len` and raw accessors that
// are themselves `unsafe`.
unsafe impl Sync for ResolvedBuf {}

impl ResolvedBuf {
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// # Safety
    /// The registration contract must hold for this range (valid memory, no concurrent
    /// writer for the lifetime of the returned slice).
    pub unsafe fn as_slice<'a>(&self) -> &'a [u8] {
        // SAFETY: ptr..ptr+len lies in a registered region (checked by `resolve`); the
        // caller guarantees validity and no concurrent writer.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// # Safety
    /// The registration contract must hold for this range, and no other reference to it
    /// may be alive (the range must not overlap another buffer of the same descriptor).
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn as_mut_slice<'a>(&self) -> &'a mut [u8] {
        // SAFETY: as `as_slice`, plus exclusivity guaranteed by the caller.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Whether two resolved buffers share any byte.
    pub fn overlaps(&self, other: &ResolvedBuf) -> bool {
        let (a0, b0) = (self.ptr.as_ptr() as usize, other.ptr.as_ptr() as usize);
        self.len > 0 && other.len > 0 && a0 < b0 + other.len && b0 < a0 + self.len
    }
}

/// A bounded table of registered regions.
#[derive(Debug)]
pub struct RegionTable {
    regions: Vec<Option<Region>>,
    max_regions: usize,
}

// SAFETY: the table only stores pointers handed over under the registration contract,
// which makes them usable from the device thread.
unsafe impl Send for RegionTable {}
// SAFETY: lookups read the table immutably; resolved buffers are checked copies.
unsafe impl Sync for RegionTable {}

/// Registration failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RegionError {
    #[error("region table full ({0} regions)")]
    TableFull(usize),
    #[error("cannot register a null or zero-length region")]
    Empty,
    #[error("region {0} is not registered")]
    Unknown(u32),
}

impl RegionTable {
    /// Default bound on registered regions per queue pair.
    pub const DEFAULT_MAX_REGIONS: usize = 1024;

    pub fn new(max_regions: usize) -> RegionTable {
        RegionTable { regions: Vec::new(), max_regions }
    }

    /// Registers `len` bytes at `base` and returns its id.
    ///
    /// # Safety
    /// `base..base+len` must stay valid for reads and writes until
    /// [`RegionTable::unregister`] or the table is dropped, and the caller must not
    /// access a range while a descriptor that references it is in flight.
    pub unsafe fn register(&mut self, base: *mut u8, len: u64) -> Result<RegionId, RegionError> {
        let base = NonNull::new(base).ok_or(RegionError::Empty)?;
        if len == 0 || len > isize::MAX as u64 {
            return Err(RegionError::Empty);
        }
        let region = Some(Region { base, len });
        if let Some(i) = self.regions.iter().position(|r| r.is_none()) {
            self.regions[i] = region;
            return Ok(RegionId(i as u32 + 1));
        }
        if self.regions.len() >= self.max_regions {
            return Err(RegionError::TableFull(self.max_regions));
        }
        self.regions.push(region);
        Ok(RegionId(self.regions.len() as u32))
    }

    /// Registers a slice the caller keeps alive and untouched while in flight.
    ///
    /// # Safety
    /// As [`RegionTable::register`].
    pub unsafe fn register_slice(&mut self, buf: &mut [u8]) -> Result<RegionId, RegionError> {
        // SAFETY: forwarded contract.
        unsafe { self.register(buf.as_mut_ptr(), buf.len() as u64) }
    }

    /// Appends the next id: a region, or (`None`) an id that never resolves, so that ids
    /// stay in step with a table kept elsewhere (the host's, in shared memory).
    ///
    /// # Safety
    /// As [`RegionTable::register`] for `Some((base, len))`.
    pub(crate) unsafe fn push_slot(
        &mut self,
        region: Option<(*mut u8, u64)>,
    ) -> Result<RegionId, RegionError> {
        if self.regions.len() >= self.max_regions {
            return Err(RegionError::TableFull(self.max_regions));
        }
        let region = region.and_then(|(base, len)| {
            let base = NonNull::new(base)?;
            (len > 0 && len <= isize::MAX as u64).then_some(Region { base, len })
        });
        self.regions.push(region);
        Ok(RegionId(self.regions.len() as u32))
    }

    pub fn unregister(&mut self, id: RegionId) -> Result<(), RegionError> {
        let slot = (id.0 as usize)
            .checked_sub(1)
            .and_then(|i| self.regions.get_mut(i))
            .ok_or(RegionError::Unknown(id.0))?;
        slot.take().map(|_| ()).ok_or(RegionError::Unknown(id.0))
    }

    pub fn len(&self) -> usize {
        self.regions.iter().filter(|r| r.is_some()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves a buffer reference, or says which status its completion must carry.
    pub fn resolve(&self, buf: BufRef) -> Result<ResolvedBuf, Status> {
        let region = (buf.region as usize)
            .checked_sub(1)
            .and_then(|i| self.regions.get(i))
            .and_then(|r| *r)
            .ok_or(Status::UnknownRegion)?;
        let end = buf.offset.checked_add(buf.len as u64).ok_or(Status::OutOfRange)?;
        if end > region.len {
            return Err(Status::OutOfRange);
        }
        // SAFETY: offset <= end <= region.len, and the region is a single allocation of
        // region.len bytes, so the offset pointer stays in bounds (or one past the end).
        let ptr = unsafe { region.base.add(buf.offset as usize) };
        Ok(ResolvedBuf { ptr, len: buf.len as usize })
    }
}

impl Default for RegionTable {
    fn default() -> Self {
        RegionTable::new(Self::DEFAULT_MAX_REGIONS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_checks_region_and_bounds() {
        let mut mem = vec![0u8; 4096];
        let mut t = RegionTable::new(2);
        // SAFETY: `mem` outlives `t` and is not touched while resolved buffers are used.
        let id = unsafe { t.register_slice(&mut mem) }.unwrap();
        assert_eq!(id, RegionId(1));
        assert_eq!(t.resolve(BufRef::new(1, 0, 4096)).unwrap().len(), 4096);
        assert_eq!(t.resolve(BufRef::new(1, 4096, 0)).unwrap().len(), 0);
        assert_eq!(t.resolve(BufRef::new(1, 4095, 2)).unwrap_err(), Status::OutOfRange);
        assert_eq!(t.resolve(BufRef::new(1, u64::MAX, 2)).unwrap_err(), Status::OutOfRange);
        assert_eq!(t.resolve(BufRef::new(1, 1 << 40, 1)).unwrap_err(), Status::OutOfRange);
        assert_eq!(t.resolve(BufRef::new(0, 0, 1)).unwrap_err(), Status::UnknownRegion);
        assert_eq!(t.resolve(BufRef::new(2, 0, 1)).unwrap_err(), Status::UnknownRegion);
        assert_eq!(t.resolve(BufRef::new(u32::MAX, 0, 1)).unwrap_err(), Status::UnknownRegion);
        t.unregister(id).unwrap();
        assert_eq!(t.resolve(BufRef::new(1, 0, 1)).unwrap_err(), Status::UnknownRegion);
        assert_eq!(t.unregister(id), Err(RegionError::Unknown(1)));
    }

    #[test]
    fn table_is_bounded_and_rejects_empty() {
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        let mut c = [0u8; 8];
        let mut t = RegionTable::new(2);
        // SAFETY: the arrays outlive the table and nothing is resolved.
        unsafe {
            t.register_slice(&mut a).unwrap();
            t.register_slice(&mut b).unwrap();
            assert_eq!(t.register_slice(&mut c), Err(RegionError::TableFull(2)));
            assert_eq!(t.register(std::ptr::null_mut(), 8), Err(RegionError::Empty));
            assert_eq!(t.register_slice(&mut c[..0]), Err(RegionError::Empty));
        }
    }
}
