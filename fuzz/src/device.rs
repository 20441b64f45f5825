//! The host facing a device it cannot trust (`dpukit_host::offload::Offload` behind the
//! device seam): a device that answers what the input says, with arbitrary results,
//! lengths, statuses, opcodes and modelled times, under wrong or repeated tags, late,
//! or never. Whatever it does, the host never fails and never panics; every job comes
//! back exactly once with one result per op; a result that ran on the host CPU is the
//! kernel's; one the device gave is within what its descriptor allows (a length within
//! the destination, a CRC of 32 bits), since scenarios slice buffers by these figures.
//!
//! Input: byte 0 the batch size and how many jobs, then per job an op count and its
//! ops (kind, lengths, offsets, keys), then what the device does with each descriptor
//! it fetches, in fetch order (see [`Hostile::answer`]).

use std::collections::HashMap;
use std::sync::Arc;

use dpukit_ffi::{Algorithm, DeviceQueue, Opcode, RawCpl, RawDesc, Status};
use dpukit_host::device::{Device, DeviceClock, DeviceReport};
use dpukit_host::offload::{Buf, Offload, OffloadConfig, RanOn, SlotOp};
use dpukit_kernels::cache_index::CacheIndex;
use dpukit_kernels::crc32c::crc32c;
use dpukit_kernels::registry::Registry;
use dpukit_sim::engine::EngineConfig;

use crate::Bytes;

const BUF: usize = 4096;

pub fn target(data: &[u8]) {
    let mut input = Bytes(data);
    let head = input.u8();
    let batch = usize::from(head & 3) + 1;
    let jobs = usize::from(head >> 2) % 24 + 1;
    let mut plan: Vec<Vec<SlotOp>> = Vec::with_capacity(jobs);
    for _ in 0..jobs {
        let n = usize::from(input.u8() % 4) + 1;
        plan.push((0..n).map(|i| op(&mut input, i > 0)).collect());
    }
    let actions = input.rest().to_vec();

    let registry = Registry::new(Arc::new(CacheIndex::new(64).expect("cache")));
    let cfg = OffloadConfig {
        slots: 4,
        in_bytes: BUF,
        out_bytes: BUF,
        spare_bytes: 0,
        batch,
        device_timeout_ns: 1_000_000_000,
        engine: EngineConfig::default(),
    };
    let mut off = Offload::with_device(registry, &cfg, |queue| {
        Ok(Some(Box::new(Hostile { queue, actions, at: 0, held: Vec::new() }) as Box<dyn Device>))
    })
    .expect("offload");

    let mut sent: HashMap<u64, (Vec<SlotOp>, Vec<u8>)> = HashMap::new();
    let mut back = 0usize;
    for (user, ops) in plan.into_iter().enumerate() {
        let user = user as u64;
        let slot = loop {
            if let Some(slot) = off.take_slot() {
                break slot;
            }
            let f = off.next_finished().expect("the host never fails for its device").expect("a job");
            check(&mut off, &mut sent, f);
            back += 1;
        };
        let input: Vec<u8> = (0..BUF).map(|i| (i as u64 * (user + 3) / 7) as u8).collect();
        off.slot(slot).expect("slot").0.copy_from_slice(&input);
        off.submit(slot, user, &ops).expect("valid ops are accepted whatever the device did");
        sent.insert(user, (ops, input));
    }
    while let Some(f) = off.next_finished().expect("the host never fails for its device") {
        check(&mut off, &mut sent, f);
        back += 1;
    }
    assert_eq!(back, jobs, "every job comes back once");
    assert!(sent.is_empty());
}

/// A valid op: lengths within the slot's buffers, distinct source and destination.
fn op(input: &mut Bytes, later: bool) -> SlotOp {
    let len = |input: &mut Bytes| u32::from(input.u16()) % BUF as u32 + 1;
    let algorithm = |input: &mut Bytes| match input.u8() % 4 {
        0 => Algorithm::Lz4,
        1 => Algorithm::Zstd,
        2 => Algorithm::Gzip,
        _ => Algorithm::Zlib,
    };
    match input.u8() % 8 {
        0 => SlotOp::Crc32c { buf: if input.u8() & 1 == 0 { Buf::In } else { Buf::Out }, len: len(input) },
        1 => SlotOp::Compress { algorithm: algorithm(input), level: input.u8() % 4 + 1, len: len(input) },
        2 => SlotOp::Decompress { algorithm: algorithm(input), src: Buf::Out, dst: Buf::In, len: len(input) },
        3 => SlotOp::CacheLookup { key: key(input) },
        4 => SlotOp::CacheInsert { key: key(input), value: key(input) },
        k => {
            let len = len(input);
            let offset = u32::from(input.u16()) % (BUF as u32 - len + 1);
            let chain = later && input.u8() & 1 == 1;
            match k {
                5 => SlotOp::Crc32cAt { offset, len, chain },
                6 => SlotOp::Copy { offset, len },
                _ => SlotOp::CopyCrc32c { offset, len, chain },
            }
        }
    }
}

fn key(input: &mut Bytes) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..4].copy_from_slice(&input.u32().to_le_bytes());
    k[15] = 1;
    k
}

/// One finished job against what was submitted.
fn check(
    off: &mut Offload,
    sent: &mut HashMap<u64, (Vec<SlotOp>, Vec<u8>)>,
    f: dpukit_host::offload::Finished,
) {
    let (ops, input) =
        sent.remove(&f.user).unwrap_or_else(|| panic!("job {} came back twice or unasked", f.user));
    assert_eq!(f.results.len(), ops.len(), "job {}: one result per op", f.user);
    // Until an op of the job writes the input buffer (a decompression into it), the input
    // is what was submitted, and a checksum of it run on the host is known.
    let mut input_written = false;
    for (op, r) in ops.iter().zip(&f.results) {
        let crc_of = |range: std::ops::Range<usize>| u64::from(crc32c(&input[range]));
        let was_written = input_written;
        input_written |= matches!(op, SlotOp::Decompress { dst: Buf::In, .. });
        match (*op, r.ran_on) {
            (SlotOp::Crc32c { .. } | SlotOp::Crc32cAt { .. }, RanOn::Host) if was_written => {}
            (SlotOp::Crc32c { buf: Buf::In, len }, RanOn::Host) => {
                assert_eq!((r.status, r.result), (Status::Ok, crc_of(0..len as usize)), "{op:?}");
            }
            (SlotOp::Crc32cAt { offset, len, chain: false }, RanOn::Host) => {
                let o = offset as usize;
                assert_eq!((r.status, r.result), (Status::Ok, crc_of(o..o + len as usize)), "{op:?}");
            }
            (SlotOp::Copy { len, .. }, RanOn::Host) => {
                assert_eq!(r.status, Status::Ok, "{op:?}");
                assert!(r.result <= u64::from(len), "{op:?}: {r:?}");
            }
            (_, RanOn::Device) if r.status == Status::Ok => match op {
                SlotOp::Crc32c { .. } | SlotOp::Crc32cAt { .. } | SlotOp::CopyCrc32c { .. } => {
                    assert!(r.result <= u64::from(u32::MAX), "{op:?}: {r:?}")
                }
                SlotOp::Compress { .. } | SlotOp::Decompress { .. } => {
                    assert!(r.result <= BUF as u64, "{op:?}: {r:?}")
                }
                SlotOp::Copy { len, .. } => assert!(r.result <= u64::from(*len), "{op:?}: {r:?}"),
                _ => {}
            },
            _ => {}
        }
    }
    off.release(f.slot);
}

/// A device that does with each descriptor what its input says.
struct Hostile {
    queue: DeviceQueue,
    actions: Vec<u8>,
    at: usize,
    /// Fetched and answered at the next progress.
    held: Vec<RawDesc>,
}

impl Hostile {
    fn byte(&mut self) -> u8 {
        let b = self.actions.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// What to do with one descriptor (`late`: it was held before, so it is answered
    /// now, not held again). Past the end of the input every answer is a plain success.
    fn answer(&mut self, d: RawDesc, late: bool) {
        let tag = d.0.tag;
        let opcode = d.0.opcode;
        let modelled_ns = u64::from(self.u16()) * 64;
        let ok = |result: u64, bytes: u32| {
            RawCpl(dpukit_ffi::bindings::dpu_cpl {
                tag,
                result,
                bytes,
                status: Status::Ok.raw(),
                opcode,
                modelled_ns,
                ..Default::default()
            })
        };
        let what = self.byte();
        let cpl = match what % 9 {
            0 => ok(0, 0),
            1 => ok(u64::from(self.u16()), u32::from(self.u16())),
            2 => RawCpl(dpukit_ffi::bindings::dpu_cpl { status: self.u16(), ..ok(0, 0).0 }),
            3 if !late => return self.held.push(d),
            4 => return,
            5 => RawCpl(dpukit_ffi::bindings::dpu_cpl { tag: tag ^ u64::from(self.u16()), ..ok(0, 0).0 }),
            6 => {
                self.queue.complete(&[ok(0, 0)]);
                ok(0, 0)
            }
            7 => RawCpl(dpukit_ffi::bindings::dpu_cpl { opcode: self.byte(), ..ok(0, 0).0 }),
            _ => ok(u64::from(self.u16()) << (self.byte() % 64), 0),
        };
        self.queue.complete(&[cpl]);
    }
}

impl Device for Hostile {
    fn name(&self) -> String {
        "hostile (fuzz)".into()
    }
    fn clock(&self) -> DeviceClock {
        DeviceClock::Modelled
    }
    fn supports(&self, _: Opcode, _: Option<Algorithm>) -> bool {
        true
    }
    fn progress(&mut self, _now_ns: u64) {
        for d in std::mem::take(&mut self.held) {
            self.answer(d, true);
        }
        let mut raw = [RawDesc::default(); 16];
        loop {
            let n = self.queue.fetch(&mut raw);
            for d in &raw[..n] {
                self.answer(*d, false);
            }
            if n < raw.len() {
                break;
            }
        }
    }
    fn pending(&self) -> usize {
        self.held.len()
    }
    fn report(&self) -> DeviceReport {
        DeviceReport::default()
    }
}

/// An input with one job of each op kind, whose descriptors the device answers the
/// `what`-th way of [`Hostile::answer`] (every other one a plain success): the seeds.
pub fn example(what: u8) -> Vec<u8> {
    // Batch 2, eight jobs of one op each.
    let mut data = vec![7 << 2 | 1];
    let ops: [&[u8]; 8] = [
        &[0, 0x00, 0x10],
        &[1, 1, 0x00, 0x10],
        &[2, 0x00, 0x02],
        &[1, 2, 3, 4],
        &[5, 6, 7, 8, 1, 2, 3, 4],
        &[0x00, 0x04, 0x10, 0x00],
        &[0x00, 0x08, 0x00, 0x00],
        &[0x20, 0x00, 0x08, 0x00],
    ];
    for (kind, fields) in ops.iter().enumerate() {
        data.extend([0, kind as u8]);
        data.extend(*fields);
    }
    let extras: &[u8] = match what % 9 {
        1 => &[0x00, 0x20, 0x00, 0x10],
        2 => &[0x0c, 0x00],
        5 => &[0x00, 0x01],
        7 => &[0x41],
        8 => &[0xff, 0xff, 40],
        _ => &[],
    };
    for _ in 0..8 {
        data.extend([0x10, 0x00, what]);
        data.extend(extras);
        data.extend([0x10, 0x00, 0]);
    }
    data
}

#[cfg(test)]
mod tests {
    /// Every answer kind, on jobs of every op kind, through the checks above.
    #[test]
    fn every_answer_kind() {
        for what in 0..9u8 {
            super::target(&super::example(what));
        }
    }
}
