//! The ring of slot-sized buffers the kernel probes write into and the storage probes'
//! gaps copy through: memory a run's DMA pool would hold, not one buffer still in cache.

#![forbid(unsafe_code)]

use super::format::LARGE_BYTES;

/// Buffers of the ring the per-byte kernels write into: as many as a run's DMA pool has
/// slots at the default queue depth.
const RING_SLOTS: usize = 16;
/// What the ring's buffers start as: not zero, so allocating them writes every page
/// (zeroed memory may be mapped lazily, on first touch).
pub(super) const RING_FILL: u8 = 0xA5;

/// Runs `copies` of the gap before a timed storage op.
pub(super) fn gap(ring: &mut Ring, copies: usize) {
    for _ in 0..copies {
        ring.copy_across(LARGE_BYTES);
    }
}

/// Buffers the per-byte kernels read from and write into in turn, so that, as in a run's
/// slots, an output does not land in memory still in cache from the last call: measured
/// into one reused buffer, a 1 MiB output stays in cache and a copy or a decompression
/// looks several times faster than in the data path (docs/model-validation.md).
pub(super) struct Ring {
    inputs: Vec<Vec<u8>>,
    outputs: Vec<Vec<u8>>,
    next: usize,
}

impl Ring {
    /// [`RING_SLOTS`] inputs of `largest` bytes and as many outputs, sized for a codec's
    /// worst case. A kernel on `n`-byte buffers touches `n` bytes of each, as a run with
    /// `n`-byte chunks touches its slots.
    pub(super) fn new(largest: usize) -> Ring {
        // Every page written now, as a run's DMA pool is when it is made: a buffer zeroed by
        // the allocator is mapped lazily, and the first pass over the ring would time page
        // faults.
        let resident = |n: usize| vec![RING_FILL; n];
        Ring {
            inputs: (0..RING_SLOTS).map(|_| resident(largest)).collect(),
            outputs: (0..RING_SLOTS).map(|_| resident(largest * 2 + 4096)).collect(),
            next: 0,
        }
    }

    fn advance(&mut self) -> usize {
        let i = self.next;
        self.next = (i + 1) % self.outputs.len();
        i
    }

    /// The next output buffer, `n` bytes of it.
    pub(super) fn next_out(&mut self, n: usize) -> &mut [u8] {
        let i = self.advance();
        &mut self.outputs[i][..n]
    }

    /// Puts `data` at the start of every input buffer.
    pub(super) fn fill_from(&mut self, data: &[u8]) {
        for b in &mut self.inputs {
            b[..data.len()].copy_from_slice(data);
        }
    }

    /// Copies `n` bytes of the next input buffer into the next output buffer.
    pub(super) fn copy_across(&mut self, n: usize) {
        let i = self.advance();
        self.outputs[i][..n].copy_from_slice(std::hint::black_box(&self.inputs[i][..n]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_hands_out_every_slot_in_turn() {
        let mut ring = Ring::new(4096);
        let first = ring.next_out(64).as_ptr();
        let mut seen = vec![first];
        for _ in 1..RING_SLOTS {
            let p = ring.next_out(64).as_ptr();
            assert!(!seen.contains(&p));
            seen.push(p);
        }
        assert_eq!(ring.next_out(64).as_ptr(), first);
        // Outputs fit a codec's worst case for the largest input.
        assert!(ring.next_out(4096 * 2 + 4096).len() == 4096 * 3);
        ring.fill_from(&[7u8; 100]);
        ring.copy_across(100);
        assert!(ring.outputs.iter().any(|o| o[..100] == [7u8; 100]));
    }
}
