use super::*;
use dpukit_ffi::{RawCpl, RawDesc};
use dpukit_kernels::cache_index::CacheIndex;
use std::sync::Arc;

/// A pool of `slots` slots of 4 KiB in and out, no spare buffer, the engine's defaults.
fn config_4k(slots: usize, batch: usize, device_timeout_ns: u64) -> OffloadConfig {
    OffloadConfig {
        slots,
        in_bytes: 4096,
        out_bytes: 4096,
        spare_bytes: 0,
        batch,
        device_timeout_ns,
        engine: EngineConfig::default(),
    }
}

/// The device fetches a batch when its doorbell rings: two batches rung one after
/// the other, before the host asks for any completion, are two doorbells to the
/// device. When it ran only as the host polled, it counted none: it found both
/// batches at the host's first poll, and timed them from there.
#[test]
fn the_device_sees_each_doorbell_when_it_rings() {
    let registry = Registry::new(Arc::new(CacheIndex::new(64).unwrap()));
    let cfg = config_4k(4, 2, 1_000_000_000);
    let mut off = Offload::dpu(registry, &cfg, &Profile::builtin("bluefield-2").unwrap()).unwrap();
    for user in 0..4 {
        let slot = off.take_slot().unwrap();
        off.submit(slot, user, &[SlotOp::Crc32c { buf: Buf::In, len: 4096 }]).unwrap();
    }
    let mut done = 0;
    while let Some(f) = off.next_finished().unwrap() {
        assert_eq!(f.results[0].status, Status::Ok);
        off.release(f.slot);
        done += 1;
    }
    assert_eq!(done, 4);
    assert_eq!(off.device_report().unwrap().doorbells_seen, 2);
}

/// A device that runs on its own and never answers; `gone` makes it say so.
struct Silent {
    _queue: DeviceQueue,
    gone: Option<String>,
    stops: Arc<std::sync::atomic::AtomicUsize>,
}

impl Device for Silent {
    fn name(&self) -> String {
        "silent".into()
    }
    fn clock(&self) -> DeviceClock {
        DeviceClock::Measured
    }
    fn supports(&self, _: Opcode, _: Option<Algorithm>) -> bool {
        true
    }
    fn progress(&mut self, _: u64) {}
    fn pending(&self) -> usize {
        0
    }
    fn report(&self) -> DeviceReport {
        DeviceReport::default()
    }
    fn runs_on_its_own(&self) -> bool {
        true
    }
    fn health(&mut self) -> Result<(), String> {
        self.gone.clone().map_or(Ok(()), Err)
    }
    fn stop(&mut self) {
        self.stops.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Jobs given to a device that runs on its own and never answers (or says it is gone)
/// come back all the same, run by the host CPU, with the device stopped once first.
fn silent_device_fails_over(gone: Option<&str>, reason: &str) {
    let registry = Registry::new(Arc::new(CacheIndex::new(64).unwrap()));
    let cfg = config_4k(4, 1, 20_000_000);
    let stops = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut off = Offload::with_device(registry, &cfg, |queue| {
        Ok(Some(Box::new(Silent { _queue: queue, gone: gone.map(String::from), stops: stops.clone() })
            as Box<dyn Device>))
    })
    .unwrap();
    let data: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 3) as u8).collect();
    for user in 0..3 {
        let slot = off.take_slot().unwrap();
        off.slot(slot).unwrap().0[..4096].copy_from_slice(&data);
        off.submit(slot, user, &[SlotOp::Crc32c { buf: Buf::In, len: 4096 }]).unwrap();
    }
    let mut users = Vec::new();
    while let Some(f) = off.next_finished().unwrap() {
        assert_eq!(f.results[0].status, Status::Ok);
        assert_eq!(f.results[0].ran_on, RanOn::Host);
        assert_eq!(f.results[0].result, dpukit_kernels::crc32c::crc32c(&data) as u64);
        users.push(f.user);
        off.release(f.slot);
    }
    users.sort();
    assert_eq!(users, [0, 1, 2]);
    assert_eq!(stops.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert!(!off.device_alive());
    assert_eq!(off.stats().fallbacks.after_timeout, 3);
    let reasons = &off.stats().fallbacks.reasons;
    assert!(reasons.iter().any(|r| r.contains(reason)), "{reasons:?}");
}

/// What a scripted device posts for the `k`-th descriptor of a fetched batch.
type Answer = Box<dyn FnMut(usize, &RawDesc) -> Vec<RawCpl>>;

/// An inline device whose answers the test writes.
struct Scripted {
    queue: DeviceQueue,
    answer: Answer,
    /// The ops it runs (every other goes to the host CPU at submission).
    runs: fn(Opcode) -> bool,
}

impl Device for Scripted {
    fn name(&self) -> String {
        "scripted".into()
    }
    fn clock(&self) -> DeviceClock {
        DeviceClock::Modelled
    }
    fn supports(&self, opcode: Opcode, _: Option<Algorithm>) -> bool {
        (self.runs)(opcode)
    }
    fn progress(&mut self, _: u64) {
        let mut raw = [RawDesc::default(); 16];
        let n = self.queue.fetch(&mut raw);
        for (k, d) in raw[..n].iter().enumerate() {
            for c in (self.answer)(k, d) {
                self.queue.complete(&[c]);
            }
        }
    }
    fn pending(&self) -> usize {
        0
    }
    fn report(&self) -> DeviceReport {
        DeviceReport::default()
    }
}

fn scripted(cfg: &OffloadConfig, answer: Answer) -> Offload {
    scripted_running(cfg, answer, |_| true)
}

fn scripted_running(cfg: &OffloadConfig, answer: Answer, runs: fn(Opcode) -> bool) -> Offload {
    let registry = Registry::new(Arc::new(CacheIndex::new(64).unwrap()));
    Offload::with_device(registry, cfg, |queue| {
        Ok(Some(Box::new(Scripted { queue, answer, runs }) as Box<dyn Device>))
    })
    .unwrap()
}

/// Puts `input` in the slot's input and `plain`, LZ4-compressed, in its output (what a
/// decompression of the output into the input reads); returns the compressed length.
fn fill_for_decompression(off: &mut Offload, slot: usize, input: &[u8], plain: &[u8]) -> u32 {
    let registry = Registry::new(Arc::new(CacheIndex::new(64).unwrap()));
    let (into, output) = off.slot(slot).unwrap();
    into.copy_from_slice(input);
    registry
        .execute(Call::Compress { src: plain, dst: output, algorithm: Algorithm::Lz4, level: 0 })
        .unwrap()
        .result as u32
}

/// A job the device answered after the timeout is the fail-over's as a whole: here the
/// device answers the CRC of the input late and fails the decompression into that input.
/// Retrying the decompression on the host before the fail-over reran the CRC made the CRC
/// read the decompressed bytes. (Found by the `device` fuzz target.)
#[test]
fn a_job_answered_after_the_timeout_reruns_in_its_order() {
    let cfg = config_4k(1, 1, 1_000_000_000);
    let mut off = scripted(
        &cfg,
        Box::new(|_, d| {
            let c = if d.0.opcode == Opcode::Crc32c.raw() {
                Completion {
                    modelled_ns: 2_000_000_000,
                    ..Completion::ok(d.0.tag, Opcode::Crc32c, 0xbad, 4096)
                }
            } else {
                Completion::error(d.0.tag, d.0.opcode, Status::DeviceUnavailable)
            };
            vec![c.encode()]
        }),
    );
    let submitted: Vec<u8> = (0..4096u32).map(|i| (i * 13 + 5) as u8).collect();
    let plain: Vec<u8> = (0..4096u32).map(|i| (i / 32) as u8).collect();
    let slot = off.take_slot().unwrap();
    let packed_len = fill_for_decompression(&mut off, slot, &submitted, &plain);
    let ops = [
        SlotOp::Crc32c { buf: Buf::In, len: 4096 },
        SlotOp::Decompress { algorithm: Algorithm::Lz4, src: Buf::Out, dst: Buf::In, len: packed_len },
    ];
    off.submit(slot, 1, &ops).unwrap();
    let f = off.next_finished().unwrap().unwrap();
    assert!(!off.device_alive());
    assert_eq!(f.results[0].ran_on, RanOn::Host, "{:?}", f.results);
    assert_eq!(f.results[0].result, dpukit_kernels::crc32c::crc32c(&submitted) as u64, "{:?}", f.results);
    assert_eq!((f.results[1].status, f.results[1].result), (Status::Ok, 4096));
    assert_eq!(off.slot(f.slot).unwrap().0, &plain[..]);
}

/// A fail-over keeps the answers of a job whose retries the host already ran: here job A's
/// decompression into its input failed on the device and was retried on the host, then
/// another job's late answer made the host give the device up. Rerunning A's CRC of that
/// input then would read the decompressed bytes. (Found by the `device` fuzz target.)
#[test]
fn a_fail_over_keeps_what_a_job_already_settled() {
    const T: u64 = 1_000_000_000;
    let cfg = config_4k(2, 2, T);
    // Slot 0 (job C, submitted first): answered just after the timeout. Slot 1 (job A): its
    // CRC answered just before its timeout, its decompression failed.
    let mut off = scripted(
        &cfg,
        Box::new(|_, d| {
            let slot = d.0.tag >> 8;
            let c = if slot == 0 {
                Completion { modelled_ns: T + 1, ..Completion::ok(d.0.tag, Opcode::Crc32c, 0, 16) }
            } else if d.0.opcode == Opcode::Crc32c.raw() {
                Completion { modelled_ns: T - 1, ..Completion::ok(d.0.tag, Opcode::Crc32c, 0xbad, 4096) }
            } else {
                Completion::error(d.0.tag, d.0.opcode, Status::DeviceUnavailable)
            };
            vec![c.encode()]
        }),
    );
    let submitted: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 1) as u8).collect();
    let plain: Vec<u8> = (0..4096u32).map(|i| (i / 8) as u8).collect();
    let c = off.take_slot().unwrap();
    let a = off.take_slot().unwrap();
    assert_eq!((c, a), (0, 1), "slots are taken lowest first");
    off.submit(c, 0, &[SlotOp::Crc32c { buf: Buf::In, len: 16 }]).unwrap();
    // A is submitted a few ns after C, so its answer, just before its own timeout, comes
    // after C's timeout.
    let t0 = off.now_ns();
    while off.now_ns() < t0 + 10 {}
    let packed_len = fill_for_decompression(&mut off, a, &submitted, &plain);
    let ops = [
        SlotOp::Crc32c { buf: Buf::In, len: 4096 },
        SlotOp::Decompress { algorithm: Algorithm::Lz4, src: Buf::Out, dst: Buf::In, len: packed_len },
    ];
    off.submit(a, 1, &ops).unwrap();
    let mut seen = 0;
    while let Some(f) = off.next_finished().unwrap() {
        if f.user == 1 {
            let crc = f.results[0];
            assert!(
                crc.ran_on == RanOn::Device
                    || crc.result == dpukit_kernels::crc32c::crc32c(&submitted) as u64,
                "a CRC of the input rerun after the decompression into it: {:?}",
                f.results
            );
            assert_eq!((f.results[1].status, f.results[1].result), (Status::Ok, 4096));
            assert_eq!(off.slot(f.slot).unwrap().0, &plain[..]);
        }
        seen += 1;
        off.release(f.slot);
    }
    assert_eq!(seen, 2);
    assert!(!off.device_alive(), "job C's late answer gave the device up");
}

/// A job's ops take effect in their order wherever they run. Here the device takes the
/// CRC of the input and fails it (the host CPU retries it), and the decompression into
/// that input, which the device does not run, follows it: the host waits for the
/// device's answer before it decompresses, so the retried CRC reads the input as
/// submitted. (Found by the `device` fuzz target: the host decompressed at submission,
/// and the retry read the decompressed bytes.)
#[test]
fn a_host_op_after_a_device_op_of_its_job_waits_for_it() {
    let cfg = config_4k(1, 1, 1_000_000_000);
    let mut off = scripted_running(
        &cfg,
        Box::new(|_, d| {
            vec![Completion::error(d.0.tag, Opcode::Crc32c.raw(), Status::DeviceUnavailable).encode()]
        }),
        |op| op == Opcode::Crc32c,
    );
    let submitted: Vec<u8> = (0..4096u32).map(|i| (i * 31 + 7) as u8).collect();
    let plain: Vec<u8> = (0..4096u32).map(|i| (i / 16) as u8).collect();
    let slot = off.take_slot().unwrap();
    let packed_len = fill_for_decompression(&mut off, slot, &submitted, &plain);
    // The second CRC, which the device runs, comes after the decompression the host runs:
    // the host runs it too, after the decompression.
    let ops = [
        SlotOp::Crc32c { buf: Buf::In, len: 4096 },
        SlotOp::Decompress { algorithm: Algorithm::Lz4, src: Buf::Out, dst: Buf::In, len: packed_len },
        SlotOp::Crc32c { buf: Buf::In, len: 4096 },
    ];
    off.submit(slot, 7, &ops).unwrap();
    let f = off.next_finished().unwrap().unwrap();
    assert_eq!(f.results[0].ran_on, RanOn::Host, "{:?}", f.results);
    assert_eq!(f.results[0].result, dpukit_kernels::crc32c::crc32c(&submitted) as u64, "{:?}", f.results);
    assert_eq!((f.results[1].status, f.results[1].result), (Status::Ok, 4096));
    assert_eq!(f.results[2].ran_on, RanOn::Host, "{:?}", f.results);
    assert_eq!(f.results[2].result, dpukit_kernels::crc32c::crc32c(&plain) as u64, "{:?}", f.results);
    assert_eq!(off.slot(f.slot).unwrap().0, &plain[..]);
    assert_eq!(off.stats().fallbacks.after_device_error, 1);
    let reasons = &off.stats().fallbacks.reasons;
    assert!(reasons.iter().any(|r| r.contains("a job's ops run in order")), "{reasons:?}");
}

/// A device answering a tag that is not in flight (unknown, or answered twice) is
/// given up with that reason, not an error of the run: what it answered correctly
/// before stands, the rest runs on the CPU.
#[test]
fn a_device_answering_tags_not_in_flight_is_given_up_not_an_error() {
    for twice in [false, true] {
        let cfg = config_4k(4, 4, 1_000_000_000);
        // Every descriptor answered with a wrong CRC under a tag mangled or (`twice`) right
        // but answered two times.
        let mut off = scripted(
            &cfg,
            Box::new(move |_, d| {
                let tag = if twice { d.0.tag } else { d.0.tag ^ (1 << 40) };
                vec![Completion::ok(tag, Opcode::Crc32c, 0xbad, 0).encode(); if twice { 2 } else { 1 }]
            }),
        );
        let data = vec![0x42u8; 4096];
        for user in 0..3 {
            let slot = off.take_slot().unwrap();
            off.slot(slot).unwrap().0.copy_from_slice(&data);
            off.submit(slot, user, &[SlotOp::Crc32c { buf: Buf::In, len: 4096 }]).unwrap();
        }
        let mut results = Vec::new();
        while let Some(f) = off.next_finished().unwrap() {
            results.push((f.results[0].ran_on, f.results[0].result));
            off.release(f.slot);
        }
        assert_eq!(results.len(), 3);
        assert!(!off.device_alive(), "twice={twice}");
        let reasons = &off.stats().fallbacks.reasons;
        assert!(reasons.iter().any(|r| r.contains("which is not in flight")), "{reasons:?}");
        let crc = dpukit_kernels::crc32c::crc32c(&data) as u64;
        if twice {
            // The first answer to the first tag was taken (it is wrong, as a device
            // may be: the scenario's verification is what catches wrong bytes); the
            // second made the device go, and the rest ran on the CPU.
            assert_eq!(results.iter().filter(|r| r.0 == RanOn::Device).count(), 1, "{results:?}");
        }
        assert!(results.iter().filter(|r| r.0 == RanOn::Host).all(|r| r.1 == crc), "{results:?}");
    }
}

/// Whatever an in-process device answers, the lengths the caller gets lie within the
/// slot's buffers: a compressed length past the destination, more source bytes than
/// given, a CRC wider than 32 bits or another op's opcode is a device fault, the device
/// is given up with the reason and the host CPU redoes the job.
#[test]
fn a_device_answering_what_no_descriptor_allows_is_given_up() {
    type Mangle = fn(Completion) -> Completion;
    let cases: [(Mangle, &str); 4] = [
        (|c| Completion { result: 1 << 20, ..c }, "result length 1048576, more than the descriptor's 4096"),
        (|c| Completion { bytes: c.bytes + 1, ..c }, "with bytes 4097, more than the descriptor's 4096"),
        (|c| Completion { opcode: Opcode::Crc32c.raw(), ..c }, "with opcode 0x01"),
        (|c| Completion { result: u64::MAX, ..c }, "more than the descriptor's 4096"),
    ];
    for (mangle, reason) in cases {
        let cfg = config_4k(2, 1, 1_000_000_000);
        // The right tag, with an answer `mangle` makes one no correct device gives.
        let mut off = scripted(
            &cfg,
            Box::new(move |_, d| {
                let len = Descriptor::parse(d).ok().and_then(|d| d.op.src()).map_or(0, |s| s.len);
                vec![mangle(Completion::ok(d.0.tag, Opcode::try_from(d.0.opcode).unwrap(), 0, len)).encode()]
            }),
        );
        let data: Vec<u8> = (0..4096u32).map(|i| (i % 17) as u8).collect();
        let slot = off.take_slot().unwrap();
        off.slot(slot).unwrap().0.copy_from_slice(&data);
        let op = SlotOp::Compress { algorithm: Algorithm::Lz4, level: 0, len: 4096 };
        off.submit(slot, 9, &[op]).unwrap();
        let f = off.next_finished().unwrap().expect("the job comes back");
        assert_eq!((f.user, f.results[0].ran_on, f.results[0].status), (9, RanOn::Host, Status::Ok));
        let n = f.results[0].result as usize;
        assert!(n > 0 && n < 4096, "{n}");
        let mut back = vec![0u8; 4096];
        let out = off.slot(f.slot).unwrap().1[..n].to_vec();
        assert_eq!(dpukit_kernels::compress::decompress(Algorithm::Lz4, &out, &mut back).unwrap(), 4096);
        assert_eq!(back, data);
        off.release(f.slot);
        assert!(off.next_finished().unwrap().is_none());
        assert!(!off.device_alive());
        let reasons = &off.stats().fallbacks.reasons;
        assert!(reasons.iter().any(|r| r.contains(reason)), "{reason}: {reasons:?}");
    }
}

/// A fault found in the same poll as valid completions before it (the queue pair hands
/// those over, then the error) fails over without losing the jobs those completions
/// finished: every job comes back.
#[test]
fn jobs_answered_in_the_poll_that_finds_a_fault_still_come_back() {
    let cfg = OffloadConfig {
        slots: 4,
        in_bytes: 64,
        out_bytes: 64,
        spare_bytes: 0,
        batch: 4,
        device_timeout_ns: 1_000_000_000,
        engine: EngineConfig::default(),
    };
    // Each batch's first descriptor answered correctly, the rest with a status the ABI
    // does not define.
    let mut off = scripted(
        &cfg,
        Box::new(|k, d| {
            let mut c = Completion::ok(d.0.tag, Opcode::Crc32c, 7, 64).encode();
            if k > 0 {
                c.0.status = 999;
            }
            vec![c]
        }),
    );
    for user in 0..4 {
        let slot = off.take_slot().unwrap();
        off.submit(slot, user, &[SlotOp::Crc32c { buf: Buf::In, len: 64 }]).unwrap();
    }
    let mut back = Vec::new();
    while let Some(f) = off.next_finished().unwrap() {
        back.push((f.user, f.results[0].ran_on));
        off.release(f.slot);
    }
    back.sort_by_key(|b| b.0);
    assert_eq!(back.iter().map(|b| b.0).collect::<Vec<_>>(), [0, 1, 2, 3]);
    assert_eq!(back.iter().filter(|b| b.1 == RanOn::Device).count(), 1, "{back:?}");
    assert!(!off.device_alive());
}

#[test]
fn a_device_of_its_own_that_never_answers_is_given_up_after_the_timeout() {
    silent_device_fails_over(None, "stopped answering (timeout)");
}

#[test]
fn a_device_of_its_own_that_is_gone_is_given_up_at_once() {
    silent_device_fails_over(Some("process exited with status 3"), "process exited with status 3");
}

/// One CRC over several buffers of a slot: chained descriptors on the device and
/// seeded calls on the host both give the CRC of the concatenation; copies land at
/// their offsets.
#[test]
fn chained_crc_and_copies_at_offsets() {
    let registry = Registry::new(Arc::new(CacheIndex::new(64).unwrap()));
    let cfg = OffloadConfig {
        slots: 2,
        in_bytes: 4000,
        out_bytes: 4000,
        spare_bytes: 0,
        batch: 1,
        device_timeout_ns: 1_000_000_000,
        engine: EngineConfig::default(),
    };
    let data: Vec<u8> = (0..4000u32).map(|i| (i * 7 + i / 13) as u8).collect();
    let whole = dpukit_kernels::crc32c::crc32c(&data);
    let crc_ops: Vec<SlotOp> =
        (0..4).map(|b| SlotOp::Crc32cAt { offset: b * 1000, len: 1000, chain: b > 0 }).collect();
    let copy_ops: Vec<SlotOp> =
        (0..4).map(|b| SlotOp::CopyCrc32c { offset: b * 1000, len: 1000, chain: b > 0 }).collect();
    for mut off in [
        Offload::host(registry.clone(), &cfg).unwrap(),
        Offload::dpu(registry.clone(), &cfg, &Profile::builtin("bluefield-3").unwrap()).unwrap(),
    ] {
        for ops in [&crc_ops, &copy_ops] {
            let slot = off.take_slot().unwrap();
            off.slot(slot).unwrap().0[..4000].copy_from_slice(&data);
            off.slot(slot).unwrap().1.fill(0);
            off.submit(slot, 0, ops).unwrap();
            let f = off.next_finished().unwrap().unwrap();
            assert!(f.results.iter().all(|r| r.status == Status::Ok));
            assert_eq!(f.results[3].result as u32, whole, "{:?}", f.results[3].ran_on);
            if ops == &copy_ops {
                assert_eq!(&off.slot(f.slot).unwrap().1[..4000], &data[..]);
            }
            off.release(f.slot);
        }
        assert_eq!(off.stats().fallbacks.total(), 0);
    }
}

/// Finished jobs come back earliest first on the host clock, each exactly once, while
/// slots are refilled as they free (so a slot holds several jobs over the run), with the
/// device and with the host backend; `None` once nothing is in flight.
#[test]
fn finished_jobs_come_back_once_each_in_time_order() {
    let registry = Registry::new(Arc::new(CacheIndex::new(64).unwrap()));
    let cfg = OffloadConfig {
        slots: 8,
        in_bytes: 64 << 10,
        out_bytes: 64 << 10,
        spare_bytes: 0,
        batch: 3,
        device_timeout_ns: 10_000_000_000,
        engine: EngineConfig::default(),
    };
    for mut off in [
        Offload::host(registry.clone(), &cfg).unwrap(),
        Offload::dpu(registry.clone(), &cfg, &Profile::builtin("bluefield-3").unwrap()).unwrap(),
    ] {
        let total = 200u64;
        let (mut submitted, mut seen) = (0u64, vec![false; total as usize]);
        let mut last_done = 0u64;
        loop {
            while submitted < total {
                let Some(slot) = off.take_slot() else { break };
                // Sizes that vary, so jobs finish out of submission order on the device.
                let len = [512u32, 64 << 10, 4096, 32 << 10][(submitted % 4) as usize];
                off.submit(slot, submitted, &[SlotOp::Crc32c { buf: Buf::In, len }]).unwrap();
                submitted += 1;
            }
            let Some(f) = off.next_finished().unwrap() else { break };
            assert!(
                f.done_ns >= last_done,
                "job {} done at {} after one done at {last_done}",
                f.user,
                f.done_ns
            );
            last_done = f.done_ns;
            assert!(!seen[f.user as usize], "job {} came back twice", f.user);
            seen[f.user as usize] = true;
            assert_eq!(f.results[0].status, Status::Ok);
            off.release(f.slot);
        }
        assert_eq!(submitted, total);
        assert!(seen.iter().all(|&s| s), "every job came back");
        assert_eq!(off.in_flight(), 0);
        assert!(off.next_finished().unwrap().is_none());
    }
}
