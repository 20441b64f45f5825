//! Staging buffers: where a checkpoint's finished chunk waits, out of its DMA slot, until
//! the local tier has written it and the background copy has uploaded it.
//!
//! A chunk copied into a fresh allocation pays for that allocation's pages on first touch,
//! inside the timed phase: staging eight chunks of 0.53 MB (with their CRC32C) took 2.5 ms
//! into new buffers and 0.65-0.77 ms into resident ones (release, one node, lz4), and on a
//! VM whose idle memory goes back to its host a page touched after that costs more still
//! (see `recycle_pages` in `calibrate`). A data path keeps such buffers, as it keeps its
//! DMA slots: the pool allocates and touches its buffers before the run, hands each out as
//! [`Bytes`] and takes it back when the last clone (the write pipeline's, the copier's) is
//! dropped. With every buffer out, it allocates another, which it keeps too
//! ([`StagingPool::grown`] counts them).

#![forbid(unsafe_code)]

use bytes::Bytes;
use std::sync::{Arc, Mutex, PoisonError};

/// Buffers free to hand out, shared with the owners of the buffers handed out.
type FreeList = Arc<Mutex<Vec<Vec<u8>>>>;

/// A pool of staging buffers of one capacity.
pub struct StagingPool {
    free: FreeList,
    capacity: usize,
    grown: usize,
}

impl StagingPool {
    /// `buffers` buffers of `capacity` bytes, every page written.
    pub fn new(buffers: usize, capacity: usize) -> StagingPool {
        // `vec![0; n]` may map zeroed pages lazily; any other value writes every page.
        let free = (0..buffers).map(|_| vec![0xA5u8; capacity]).collect();
        StagingPool { free: Arc::new(Mutex::new(free)), capacity, grown: 0 }
    }

    /// A copy of `src` in a pooled buffer, back in the pool once the last clone drops.
    /// A chunk larger than the pool's capacity gets a buffer of its own size.
    pub fn copy(&mut self, src: &[u8]) -> Bytes {
        let taken = if src.len() <= self.capacity {
            self.free.lock().unwrap_or_else(PoisonError::into_inner).pop()
        } else {
            None
        };
        let mut buf = taken.unwrap_or_else(|| {
            self.grown += 1;
            Vec::with_capacity(src.len().max(self.capacity))
        });
        buf.clear();
        buf.extend_from_slice(src);
        Bytes::from_owner(Lent { buf, home: Arc::clone(&self.free) })
    }

    /// Buffers allocated after the pool was built, because every one was out.
    pub fn grown(&self) -> usize {
        self.grown
    }

    /// Buffers in the pool now.
    pub fn free(&self) -> usize {
        self.free.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// A buffer handed out; it goes home when dropped.
struct Lent {
    buf: Vec<u8>,
    home: FreeList,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        self.home.lock().unwrap_or_else(PoisonError::into_inner).push(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_comes_back_when_its_last_clone_drops() {
        let mut pool = StagingPool::new(2, 1024);
        let a = pool.copy(b"first chunk");
        let b = pool.copy(&[7u8; 1000]);
        assert_eq!(&a[..], b"first chunk");
        assert_eq!(&b[..], &[7u8; 1000][..]);
        assert_eq!(pool.free(), 0);
        let a2 = a.clone();
        drop(a);
        assert_eq!(pool.free(), 0, "a clone still holds the buffer");
        drop(a2);
        assert_eq!(pool.free(), 1);
        // The buffer is reused, and its old contents do not show through.
        let c = pool.copy(b"short");
        assert_eq!(&c[..], b"short");
        assert_eq!(pool.grown(), 0);
        drop((b, c));
        assert_eq!(pool.free(), 2);
    }

    #[test]
    fn an_empty_pool_grows_and_keeps_what_it_grew() {
        let mut pool = StagingPool::new(1, 64);
        let a = pool.copy(&[1u8; 64]);
        let b = pool.copy(&[2u8; 64]);
        // Larger than the capacity: a buffer of its own size, kept as well.
        let c = pool.copy(&[3u8; 100]);
        assert_eq!((&a[..], &b[..], &c[..]), (&[1u8; 64][..], &[2u8; 64][..], &[3u8; 100][..]));
        assert_eq!(pool.grown(), 2);
        drop((a, b, c));
        assert_eq!(pool.free(), 3);
    }

    #[test]
    fn a_slice_of_a_pooled_chunk_keeps_the_buffer_out() {
        let mut pool = StagingPool::new(1, 16);
        let a = pool.copy(b"0123456789");
        let tail = a.slice(5..);
        drop(a);
        assert_eq!(pool.free(), 0);
        assert_eq!(&tail[..], b"56789");
        drop(tail);
        assert_eq!(pool.free(), 1);
    }
}
