//! Queue pairs: a submission ring, a completion ring and a region table, split into the
//! host's end ([`HostQueue`]) and the device's end ([`DeviceQueue`]).
//!
//! The host submits descriptors in batches (one doorbell per batch) and polls
//! completions with a budget; the device fetches doorbelled descriptors with a budget,
//! resolves their buffers against the region table and posts completions. A full ring on
//! either side is reported as a count smaller than asked (backpressure), never a drop.

use crate::abi::{RawCpl, RawDesc};
use crate::desc::{Completion, Descriptor, Op};
use crate::region::{RegionError, RegionId, RegionTable};
use crate::ring::{ring, Consumer, Producer, RingError};
use crate::types::{AbiError, DescFlags, Status};
use std::sync::{Arc, RwLock, RwLockReadGuard};

/// Sizes of a queue pair; every one is a bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePairConfig {
    pub sq_entries: u32,
    pub cq_entries: u32,
    pub max_regions: usize,
}

impl Default for QueuePairConfig {
    fn default() -> Self {
        QueuePairConfig { sq_entries: 256, cq_entries: 256, max_regions: RegionTable::DEFAULT_MAX_REGIONS }
    }
}

/// Constructor namespace for queue pairs.
pub struct QueuePair;

impl QueuePair {
    /// Creates a queue pair and returns its host and device ends.
    pub fn create(cfg: QueuePairConfig) -> Result<(HostQueue, DeviceQueue), RingError> {
        let (sq_p, sq_c) = ring::<RawDesc>(cfg.sq_entries)?;
        let (cq_p, cq_c) = ring::<RawCpl>(cfg.cq_entries)?;
        let regions = Arc::new(RwLock::new(RegionTable::new(cfg.max_regions)));
        Ok((
            HostQueue { sq: sq_p, cq: cq_c, regions: regions.clone() },
            DeviceQueue { sq: sq_c, cq: cq_p, regions },
        ))
    }
}

/// The host's end: submits descriptors, polls completions, registers memory.
pub struct HostQueue {
    sq: Producer<RawDesc>,
    cq: Consumer<RawCpl>,
    regions: Arc<RwLock<RegionTable>>,
}

impl HostQueue {
    /// A host end over rings and a table made elsewhere (shared memory).
    pub(crate) fn from_parts(
        sq: Producer<RawDesc>,
        cq: Consumer<RawCpl>,
        regions: Arc<RwLock<RegionTable>>,
    ) -> Self {
        HostQueue { sq, cq, regions }
    }

    /// Whether the device broke the ring protocol on either ring (possible only for a
    /// device in another process); such a queue pair carries nothing more.
    pub fn peer_fault(&self) -> bool {
        self.sq.peer_fault() || self.cq.peer_fault()
    }

    /// Registers memory the device may read and write.
    ///
    /// # Safety
    /// As [`RegionTable::register`]: valid until the queue pair is gone, untouched by the
    /// host while a descriptor referencing it is in flight.
    pub unsafe fn register_region(&self, base: *mut u8, len: u64) -> Result<RegionId, RegionError> {
        let mut t = self.regions.write().unwrap_or_else(|e| e.into_inner());
        // SAFETY: forwarded contract.
        unsafe { t.register(base, len) }
    }

    pub fn unregister_region(&self, id: RegionId) -> Result<(), RegionError> {
        self.regions.write().unwrap_or_else(|e| e.into_inner()).unregister(id)
    }

    /// Free submission slots.
    pub fn sq_free(&mut self) -> usize {
        self.sq.free()
    }

    pub fn sq_capacity(&self) -> usize {
        self.sq.capacity()
    }

    /// Submits as many raw descriptors as fit, with one doorbell; returns how many.
    pub fn submit_raw(&mut self, descs: &[RawDesc]) -> usize {
        self.sq.submit(descs)
    }

    /// Encodes and submits descriptors, with one doorbell; returns how many fit.
    pub fn submit(&mut self, descs: &[Descriptor]) -> usize {
        const CHUNK: usize = 32;
        let mut sent = 0;
        let mut buf = [RawDesc::default(); CHUNK];
        for group in descs.chunks(CHUNK) {
            for (slot, d) in buf.iter_mut().zip(group) {
                *slot = d.encode();
            }
            let n = self.sq.push_batch(&buf[..group.len()]);
            sent += n;
            if n < group.len() {
                break;
            }
        }
        self.sq.ring_doorbell();
        sent
    }

    /// Writes entries without ringing the doorbell (for batching across calls).
    pub fn push_raw(&mut self, descs: &[RawDesc]) -> usize {
        self.sq.push_batch(descs)
    }

    pub fn ring_doorbell(&mut self) {
        self.sq.ring_doorbell();
    }

    /// Copies up to `out.len()` raw completions out.
    pub fn poll_raw(&mut self, out: &mut [RawCpl]) -> usize {
        self.cq.pop_batch(out)
    }

    /// Parses up to `budget` completions into `out`; a completion with a status this
    /// build does not know is an error (and is consumed).
    pub fn poll(&mut self, budget: usize, out: &mut Vec<Completion>) -> Result<usize, AbiError> {
        let mut bad = None;
        let n = self.cq.consume(budget, |_, raw| match Completion::parse(&raw) {
            Ok(c) => out.push(c),
            Err(e) => bad = Some(e),
        });
        bad.map_or(Ok(n), Err)
    }

    /// The raw rings, for C peers and tests.
    #[cfg(not(loom))]
    pub fn raw_rings(&self) -> (*mut crate::bindings::dpu_ring_ctrl, *mut crate::bindings::dpu_ring_ctrl) {
        (self.sq.raw_ctrl(), self.cq.raw_ctrl())
    }
}

/// The device's end: fetches descriptors, posts completions, resolves buffers.
pub struct DeviceQueue {
    sq: Consumer<RawDesc>,
    cq: Producer<RawCpl>,
    regions: Arc<RwLock<RegionTable>>,
}

impl DeviceQueue {
    /// A device end over rings and a table made elsewhere (shared memory).
    pub(crate) fn from_parts(
        sq: Consumer<RawDesc>,
        cq: Producer<RawCpl>,
        regions: Arc<RwLock<RegionTable>>,
    ) -> Self {
        DeviceQueue { sq, cq, regions }
    }

    /// Whether the host broke the ring protocol on either ring (possible only for a
    /// host in another process).
    pub fn peer_fault(&self) -> bool {
        self.sq.peer_fault() || self.cq.peer_fault()
    }

    /// Fetches up to `out.len()` doorbelled descriptors.
    pub fn fetch(&mut self, out: &mut [RawDesc]) -> usize {
        self.sq.pop_batch(out)
    }

    /// Descriptors waiting behind the last doorbell.
    pub fn pending(&mut self) -> usize {
        self.sq.available()
    }

    /// The submission ring's doorbell value: changes each time the host rings it.
    pub fn doorbell_index(&self) -> u64 {
        self.sq.doorbell_index()
    }

    /// Free completion slots: a device must not take more work than it can complete.
    pub fn cq_free(&mut self) -> usize {
        self.cq.free()
    }

    /// Posts completions with one doorbell; returns how many fit.
    pub fn complete(&mut self, cpls: &[RawCpl]) -> usize {
        self.cq.submit(cpls)
    }

    /// The shared region table, for a device that resolves while mutating its own state.
    pub fn region_table(&self) -> Arc<RwLock<RegionTable>> {
        self.regions.clone()
    }

    /// A read view of the region table for resolving a batch.
    pub fn regions(&self) -> RwLockReadGuard<'_, RegionTable> {
        self.regions.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs the loopback executor: NOP and COPY are executed, other opcodes are
    /// answered `UnknownOpcode` (the simulator's engine executes those). Takes no more
    /// descriptors than the completion ring can answer. Returns descriptors consumed.
    pub fn loopback_process(&mut self, budget: usize) -> usize {
        let budget = budget.min(self.cq.free()).min(64);
        let mut descs = [RawDesc::default(); 64];
        let n = self.sq.pop_batch(&mut descs[..budget]);
        let mut cpls = [RawCpl::default(); 64];
        let mut m = 0;
        {
            let regions = self.regions();
            for raw in &descs[..n] {
                let (c, always) = match Descriptor::parse(raw) {
                    Err(e) => (Completion::error(e.tag, e.opcode, e.status), true),
                    Ok(d) => {
                        let c = loopback_execute(&regions, &d);
                        let always = !c.status.is_ok() || d.flags.contains(DescFlags::COMPLETION);
                        (c, always)
                    }
                };
                if always {
                    cpls[m] = c.encode();
                    m += 1;
                }
            }
        }
        let posted = self.cq.submit(&cpls[..m]);
        debug_assert_eq!(posted, m, "budget was capped to the completion ring's free slots");
        n
    }
}

fn loopback_execute(regions: &RegionTable, d: &Descriptor) -> Completion {
    let opcode = d.op.opcode();
    match d.op {
        Op::Nop => Completion::ok(d.tag, opcode, 0, 0),
        Op::Copy { src, dst } => {
            let s = match regions.resolve(src) {
                Ok(s) => s,
                Err(st) => return Completion::error(d.tag, opcode.raw(), st),
            };
            let t = match regions.resolve(dst) {
                Ok(t) => t,
                Err(st) => return Completion::error(d.tag, opcode.raw(), st),
            };
            if s.overlaps(&t) {
                return Completion::error(d.tag, opcode.raw(), Status::OutOfRange);
            }
            // SAFETY: both ranges were resolved inside registered regions and do not
            // overlap; the registration contract keeps the host off them in flight.
            unsafe { t.as_mut_slice()[..s.len()].copy_from_slice(s.as_slice()) };
            Completion::ok(d.tag, opcode, s.len() as u64, s.len() as u32)
        }
        _ => Completion::error(d.tag, opcode.raw(), Status::UnknownOpcode),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desc::BufRef;

    #[test]
    fn loopback_copy_and_errors_keep_the_queue_running() {
        let (mut host, mut dev) =
            QueuePair::create(QueuePairConfig { sq_entries: 8, cq_entries: 8, max_regions: 4 }).unwrap();
        let mut mem = vec![0u8; 256];
        mem[..16].copy_from_slice(b"0123456789abcdef");
        // SAFETY: `mem` outlives the queue pair and is only read after completions.
        let r = unsafe { host.register_region(mem.as_mut_ptr(), mem.len() as u64) }.unwrap();
        let descs = [
            Descriptor::new(1, Op::Copy { src: BufRef::new(r.0, 0, 16), dst: BufRef::new(r.0, 100, 16) }),
            Descriptor::new(2, Op::Copy { src: BufRef::new(9, 0, 16), dst: BufRef::new(r.0, 100, 16) }),
            Descriptor::new(3, Op::Copy { src: BufRef::new(r.0, 250, 16), dst: BufRef::new(r.0, 0, 16) }),
            Descriptor::new(4, Op::Crc32c { src: BufRef::new(r.0, 0, 16), seed: 0 }),
            Descriptor::new(5, Op::Nop).with_flags(DescFlags::NONE),
            Descriptor::new(6, Op::Nop),
        ];
        assert_eq!(host.submit(&descs), 6);
        let mut raw_bad = Descriptor::new(7, Op::Nop).encode();
        raw_bad.0.opcode = 0x42;
        assert_eq!(host.submit_raw(&[raw_bad]), 1);
        assert_eq!(dev.loopback_process(100), 7);
        let mut got = Vec::new();
        host.poll(16, &mut got).unwrap();
        let st: Vec<_> = got.iter().map(|c| (c.tag, c.status)).collect();
        assert_eq!(
            st,
            vec![
                (1, Status::Ok),
                (2, Status::UnknownRegion),
                (3, Status::OutOfRange),
                (4, Status::UnknownOpcode),
                (6, Status::Ok),
                (7, Status::UnknownOpcode),
            ]
        );
        assert_eq!(&mem[100..116], b"0123456789abcdef");
    }

    #[test]
    fn device_takes_no_more_than_the_completion_ring_holds() {
        let (mut host, mut dev) =
            QueuePair::create(QueuePairConfig { sq_entries: 16, cq_entries: 4, max_regions: 1 }).unwrap();
        let descs: Vec<_> = (0..10).map(|t| Descriptor::new(t, Op::Nop)).collect();
        assert_eq!(host.submit(&descs), 10);
        assert_eq!(dev.loopback_process(100), 4);
        assert_eq!(dev.loopback_process(100), 0, "completion ring full: backpressure");
        let mut got = Vec::new();
        assert_eq!(host.poll(2, &mut got).unwrap(), 2);
        assert_eq!(dev.loopback_process(100), 2);
        while got.len() < 10 {
            host.poll(16, &mut got).unwrap();
            dev.loopback_process(100);
        }
        assert_eq!(got.iter().map(|c| c.tag).collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
    }
}
