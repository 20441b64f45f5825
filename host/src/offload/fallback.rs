//! The host CPU standing in for the device: an op the device does not run, failed or
//! gave up on runs here, with the same kernels and the same results.

use super::*;

impl Offload {
    /// Runs `op` of the job on `slot` on the host CPU, as the device would have.
    pub(super) fn run_on_host(&mut self, slot: usize, op: &SlotOp) -> Result<OpResult, OffloadError> {
        let t0 = Instant::now();
        let registry = self.registry.clone();
        // A chained op's seed is the CRC of the op before it in its job (ops of one job
        // have distinct buffers, so the op names its place); a failed one aborts the chain.
        let mut seed = 0u32;
        if op.chained() {
            let job = self.jobs[slot].as_ref();
            let prev = job
                .and_then(|j| j.ops.iter().position(|o| o == op).and_then(|i| i.checked_sub(1)))
                .and_then(|i| job.and_then(|j| j.results[i]));
            match prev {
                Some(r) if r.status == Status::Ok => seed = r.result as u32,
                _ => {
                    self.stats.ops_on_host += 1;
                    return Ok(OpResult {
                        status: Status::ChainAborted,
                        result: 0,
                        ran_on: RanOn::Host,
                        latency_ns: 0,
                    });
                }
            }
        }
        let seg = |offset: u32, len: u32| offset as usize..offset as usize + len as usize;
        let (input, output, spare) = self.pool.slot_with_spare(slot)?;
        // `submit` refused an op whose source and destination are the same buffer.
        let (src, dst): (&[u8], &mut [u8]) = match op.buffers() {
            (Some(Buf::In), Some(Buf::Out)) => (input, output),
            (Some(Buf::In), Some(Buf::Spare)) => (input, spare),
            (Some(Buf::Out), Some(Buf::In)) => (output, input),
            (Some(Buf::Out), Some(Buf::Spare)) => (output, spare),
            (Some(Buf::Spare), Some(Buf::In)) => (spare, input),
            (Some(Buf::Spare), Some(Buf::Out)) => (spare, output),
            (Some(Buf::In), _) => (input, &mut []),
            (Some(Buf::Out), _) => (output, &mut []),
            (Some(Buf::Spare), _) => (spare, &mut []),
            (None, _) => (&[], output),
        };
        let call = match *op {
            SlotOp::Crc32c { len, .. } => Call::Crc32c { src: &src[..len as usize], seed: 0 },
            SlotOp::Compress { algorithm, level, len } => {
                Call::Compress { src: &src[..len as usize], dst, algorithm, level }
            }
            SlotOp::Decompress { algorithm, len, .. } => {
                Call::Decompress { src: &src[..len as usize], dst, algorithm }
            }
            SlotOp::CacheLookup { key } => Call::CacheLookup { key, dst },
            SlotOp::CacheInsert { key, value } => Call::CacheInsert { key, value },
            SlotOp::User { opcode, arg0, arg1, len, .. } => Call::User {
                args: UserArgs { opcode, arg0, arg1, algo: 0, level: 0 },
                src: &src[..len as usize],
                dst: &mut dst[..len as usize],
            },
            SlotOp::Crc32cAt { offset, len, .. } => Call::Crc32c { src: &src[seg(offset, len)], seed },
            SlotOp::Copy { offset, len } => {
                Call::Copy { src: &src[seg(offset, len)], dst: &mut dst[seg(offset, len)] }
            }
            SlotOp::CopyCrc32c { offset, len, .. } => {
                Call::CopyCrc32c { src: &src[seg(offset, len)], dst: &mut dst[seg(offset, len)], seed }
            }
        };
        let (status, result) = match registry.execute(call) {
            Ok(o) => (Status::Ok, o.result),
            Err(st) => (st, 0),
        };
        self.stats.ops_on_host += 1;
        Ok(OpResult { status, result, ran_on: RanOn::Host, latency_ns: t0.elapsed().as_nanos() as u64 })
    }

    /// Declares the device dead at host time `at_ns` and reruns every unfinished op on
    /// the CPU.
    pub(super) fn fail_over(&mut self, at_ns: u64, why: &str) -> Result<(), OffloadError> {
        if let Some(dev) = self.device.as_mut() {
            if !dev.dead {
                dev.device.stop();
            }
            dev.dead = true;
        }
        push_reason(&mut self.stats.fallbacks, format!("device {why}: the host CPU took over"));
        self.advance_to(at_ns);
        for slot in 0..self.jobs.len() {
            // From the job's first op the host must (re)run on, every op to its end, in order:
            // one unanswered, answered after `at_ns`, or answered with an error the host
            // retries. Later ops may read what it writes, or overwrite what it reads, so none
            // of them keeps an answer given before it. A job whose retries already ran keeps
            // what it has (a later op may have overwritten what an earlier one read).
            let pending: JobVec<(usize, SlotOp)> = match &self.jobs[slot] {
                Some(job) => {
                    let redo = |r: Option<OpResult>| match r {
                        None => true,
                        Some(r) => {
                            !job.settled
                                && r.ran_on == RanOn::Device
                                && (job.ready_ns > at_ns
                                    || r.status == Status::DeviceUnavailable
                                    || refuses(r.status))
                        }
                    };
                    match (0..job.ops.len()).find(|&i| redo(job.results[i])) {
                        Some(first) => (first..job.ops.len())
                            .filter(|&i| !job.settled || job.results[i].is_none())
                            .map(|i| (i, job.ops[i]))
                            .collect(),
                        None => continue,
                    }
                }
                None => continue,
            };
            if pending.is_empty() {
                continue;
            }
            // The device will never run again: the slot is the host's.
            self.pool.mark_done(slot)?;
            for (i, op) in pending {
                let r = self.run_on_host(slot, &op)?;
                self.stats.fallbacks.after_timeout += 1;
                let job = self.jobs[slot].as_mut().expect("job");
                job.results[i] = Some(r);
            }
            let now = self.now_ns();
            let job = self.jobs[slot].as_mut().expect("job");
            job.ready_ns = now;
            job.settled = true;
            self.completed(slot, now);
        }
        Ok(())
    }
}
