//! The compressdev [`Device`]: it answers the kit's gzip and zlib compress and decompress
//! descriptors through a DPDK queue pair, from a thread of its own, with measured times.
//!
//! The kit's gzip (RFC 1952) and zlib (RFC 1950) chunks are raw DEFLATE between a header
//! and a trailer; the PMD runs the DEFLATE and computes the trailer's checksum (CRC32 or
//! Adler-32) over the uncompressed bytes, and this module writes and checks the rest. What
//! the PMD answers maps onto the kit's statuses: corrupt input is `CORRUPT_INPUT`, a
//! transform it refuses is `BAD_ALGORITHM` (the host stops offering that op and runs it),
//! an output that did not fit, a failed compression, a stream with more than one member and
//! an op that never came back are `DEVICE_UNAVAILABLE` (the host reruns that op, counted).

#![forbid(unsafe_code)]

use super::compressdev::{Checksum, DeflateJob, Eal, Outcome, Queue};
use super::spec::DpdkSpec;
use crate::device::{Device, DeviceClock, DeviceReport};
use crate::result::ResourceUse;
use dpukit_ffi::{Algorithm, Completion, DeviceQueue, Op, Opcode, RawCpl, RawDesc, ResolvedBuf, Status};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// RTE_COMP_FF_* bits the device needs (rte_comp.h).
const FF_SGL: u64 = super::sys::DK_FF_OOP_SGL_IN_SGL_OUT as u64;
const FF_CRC32: u64 = super::sys::DK_FF_CRC32_CHECKSUM as u64;
const FF_ADLER32: u64 = super::sys::DK_FF_ADLER32_CHECKSUM as u64;
/// The DEFLATE window the kit's streams use (32 KiB).
const WINDOW_LOG: u16 = 15;
/// Buffers up to this size fit one mbuf segment; larger ones need chained (SGL) mbufs.
const ONE_SEGMENT: usize = 32 * 1024;

const GZIP_HEADER: usize = 10;
const GZIP_TRAILER: usize = 8;
const ZLIB_HEADER: usize = 2;
const ZLIB_TRAILER: usize = 4;

/// What the device thread owns: the node's device queue and a compressdev queue pair.
struct Worker {
    queue: DeviceQueue,
    qp: Queue,
    supported: Vec<(Opcode, Option<Algorithm>)>,
    /// Formats whose trailer checksum the PMD does not compute: computed here, on the CPU.
    host_checksums: Vec<Algorithm>,
    timeout: Duration,
    burst: usize,
    raw: Vec<RawDesc>,
    stats: Stats,
}

/// What the device thread has done, published for the host's reports.
#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    descriptors: u64,
    errors: u64,
    /// Wall time inside the PMD's bursts (and the wrapping around them).
    busy_ns: u64,
    /// Since the thread started: the first fetch and the last completion.
    first_ns: Option<u64>,
    last_ns: u64,
    /// Since the thread started: its time runnable but waiting for a CPU.
    cpu_wait_ns: Option<u64>,
}

/// What the host and the device thread share.
struct Shared {
    stop: AtomicBool,
    /// Completions posted so far (the host waits for this to move).
    posted: AtomicU64,
    host_waiting: AtomicBool,
    lock: Mutex<()>,
    cv: Condvar,
    ended: Mutex<Option<String>>,
    ended_flag: AtomicBool,
    stats: Mutex<Stats>,
}

impl Shared {
    fn wake_host(&self) {
        if self.host_waiting.load(Ordering::SeqCst) {
            let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.cv.notify_all();
        }
    }
}

/// Marks the thread ended (with why) and wakes the host, even when the thread panics.
struct EndGuard(Arc<Shared>);

impl Drop for EndGuard {
    fn drop(&mut self) {
        {
            let mut why = self.0.ended.lock().unwrap_or_else(|e| e.into_inner());
            if why.is_none() {
                *why = Some(if std::thread::panicking() {
                    "thread panicked".to_string()
                } else {
                    "thread ended".to_string()
                });
            }
        }
        self.0.ended_flag.store(true, Ordering::SeqCst);
        let _g = self.0.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.0.cv.notify_all();
    }
}

/// Polls without work before the device thread parks.
const SPIN_POLLS: u32 = 200;
/// Longest park of an idle device thread (bounds the delay of a doorbell rung without a
/// call to `progress`, which the offload layer makes after each doorbell).
const PARK: Duration = Duration::from_micros(500);
/// Checks of the completion counter before the host blocks on the condition variable.
const HOST_SPIN: u32 = 100;

/// A compressdev queue pair serving one node's queue pair from a thread of its own, the
/// way a DPDK application polls a compressdev queue pair from a worker lcore: a software
/// PMD compresses on that thread, a hardware one is polled there until it answers.
pub struct DpdkDevice {
    shared: Arc<Shared>,
    handle: Option<JoinHandle<()>>,
    thread: std::thread::Thread,
    name: String,
    supported: Vec<(Opcode, Option<Algorithm>)>,
    note: String,
    resource: String,
}

/// One descriptor of a burst and where its answer stands.
struct Pending {
    tag: u64,
    opcode: Opcode,
    algorithm: Algorithm,
    compress: bool,
    src: ResolvedBuf,
    dst: ResolvedBuf,
    /// Where the DEFLATE data starts and ends in the source, and its room in the destination.
    src_body: std::ops::Range<usize>,
    dst_body: std::ops::Range<usize>,
    level: u8,
    answer: Option<Completion>,
}

impl DpdkDevice {
    /// Starts EAL (once per process) and the device `spec` names, and takes one of its
    /// queue pairs for buffers of up to `max_bytes`; ops it does not answer within
    /// `timeout` are the host's.
    pub fn open(
        spec: &DpdkSpec,
        queue: DeviceQueue,
        max_bytes: usize,
        slots: usize,
        timeout: Duration,
    ) -> Result<DpdkDevice, String> {
        spec.check()?;
        let args = spec.eal_args()?;
        let eal = Eal::start(&args)?;
        let burst = spec.burst.min(slots.clamp(1, u16::MAX as usize) as u16).max(1);
        let qp = Queue::open(&spec.pmd, spec.dev_id, spec.queue_pairs, burst, max_bytes)?;
        let info = &qp.info;
        let mut supported = Vec::new();
        let mut missing = Vec::new();
        let mut host_checksums = Vec::new();
        let window_ok = (info.deflate_windows.0..=info.deflate_windows.1).contains(&WINDOW_LOG);
        if info.deflate_flags.is_none() {
            missing.push("it offers no DEFLATE".to_string());
        } else if !window_ok {
            missing.push(format!(
                "its DEFLATE windows (2^{}..2^{}) exclude the 32 KiB the kit's streams use",
                info.deflate_windows.0, info.deflate_windows.1
            ));
        } else if max_bytes > ONE_SEGMENT && !info.has(FF_SGL) {
            missing.push(format!(
                "buffers of {max_bytes} bytes need chained mbufs, which it does not take (no OOP SGL)"
            ));
        } else {
            for (algorithm, flag, what) in
                [(Algorithm::Gzip, FF_CRC32, "CRC32"), (Algorithm::Zlib, FF_ADLER32, "Adler-32")]
            {
                supported.push((Opcode::Compress, Some(algorithm)));
                supported.push((Opcode::Decompress, Some(algorithm)));
                if !info.has(flag) {
                    host_checksums.push(algorithm);
                    missing.push(format!(
                        "the {what} of {} trailers is computed on the host CPU (the PMD computes none)",
                        algorithm.name()
                    ));
                }
            }
        }
        let runs: Vec<&str> = [Algorithm::Gzip, Algorithm::Zlib]
            .into_iter()
            .filter(|a| supported.contains(&(Opcode::Compress, Some(*a))))
            .map(|a| a.name())
            .collect();
        let mut note = format!(
            "{} runs {} compress and decompress; CRC32C, cache lookups and inserts, lz4 and zstd run on the \
             host CPU (compressdev has no such op)",
            spec.spec(),
            if runs.is_empty() { "no".to_string() } else { runs.join(" and ") }
        );
        if !missing.is_empty() {
            note.push_str(&format!("; {}", missing.join("; ")));
        }
        let kind = if spec.is_software() { "software PMD on this host" } else { "PMD" };
        let name = format!(
            "{} ({kind}; driver {}, device {}, queue pair {} of {}, {}; EAL {})",
            spec.pmd,
            info.driver,
            info.name,
            qp.qp_id,
            qp.queue_pairs,
            info.dpdk_version,
            eal.args_line()
        );
        let worker = Worker {
            queue,
            supported: supported.clone(),
            host_checksums,
            timeout,
            burst: burst as usize,
            raw: vec![RawDesc::default(); burst as usize],
            stats: Stats::default(),
            qp,
        };
        let resource = format!("compressdev:{}", worker.qp.info.driver);
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            posted: AtomicU64::new(0),
            host_waiting: AtomicBool::new(false),
            lock: Mutex::new(()),
            cv: Condvar::new(),
            ended: Mutex::new(None),
            ended_flag: AtomicBool::new(false),
            stats: Mutex::new(Stats::default()),
        });
        let thread_shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name("dpukit-dpdk".into())
            .spawn(move || {
                let _ended = EndGuard(thread_shared.clone());
                // A core of its own while it polls, as a DPDK worker lcore has (where the
                // machine allows; unpinned otherwise).
                let _core = crate::cores::take_core();
                worker.run(&thread_shared);
            })
            .map_err(|e| format!("cannot start the DPDK device thread: {e}"))?;
        let thread = handle.thread().clone();
        Ok(DpdkDevice { shared, handle: Some(handle), thread, name, supported, note, resource })
    }

    fn join(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.thread.unpark();
        if let Some(h) = self.handle.take() {
            // A panic of the thread is already recorded as why it ended.
            let _ = h.join();
        }
    }

    /// What runs on the device and what does not, and why: one line for the result.
    pub fn capability_note(&self) -> &str {
        &self.note
    }
}

impl Drop for DpdkDevice {
    fn drop(&mut self) {
        self.join();
    }
}

impl Worker {
    /// Serves the queue pair until told to stop: spins briefly after work, then parks
    /// until the host rings (it unparks the thread) or a short timeout passes.
    fn run(mut self, shared: &Shared) {
        let epoch = Instant::now();
        let mut idle = 0u32;
        let mut cpu_wait = crate::cores::CpuWait::start();
        while !shared.stop.load(Ordering::Acquire) {
            let posted = self.progress(&epoch);
            if posted > 0 {
                if let Some(w) = cpu_wait.sample_every(crate::cores::CPU_WAIT_EVERY) {
                    self.stats.cpu_wait_ns = Some(w);
                }
                *shared.stats.lock().unwrap_or_else(|e| e.into_inner()) = self.stats;
                shared.posted.fetch_add(posted as u64, Ordering::SeqCst);
                shared.wake_host();
                idle = 0;
                continue;
            }
            idle = idle.saturating_add(1);
            if idle < SPIN_POLLS {
                std::hint::spin_loop();
            } else {
                std::thread::park_timeout(PARK);
            }
        }
        if let Some(w) = cpu_wait.sample_every(std::time::Duration::ZERO) {
            self.stats.cpu_wait_ns = Some(w);
            *shared.stats.lock().unwrap_or_else(|e| e.into_inner()) = self.stats;
        }
    }

    /// Fetches one burst of what the host rang for, runs it through the PMD and posts its
    /// completions; returns how many. One burst per call, so the caller tells the host and
    /// publishes its figures after each, even while the host keeps the queue full. A
    /// fenced descriptor waits for the burst before it.
    fn progress(&mut self, epoch: &Instant) -> usize {
        {
            let budget = self.burst.min(self.queue.cq_free());
            if budget == 0 {
                return 0;
            }
            let mut raw = std::mem::take(&mut self.raw);
            let n = self.queue.fetch(&mut raw[..budget]);
            if n == 0 {
                self.raw = raw;
                return 0;
            }
            let start = epoch.elapsed().as_nanos() as u64;
            self.stats.first_ns.get_or_insert(start);
            let mut burst: Vec<Pending> = Vec::with_capacity(n);
            let mut answers: Vec<Completion> = Vec::with_capacity(n);
            for r in &raw[..n] {
                let fenced = dpukit_ffi::DescFlags::from_raw(r.0.flags).is_ok_and(|f| f.fences());
                if fenced && !burst.is_empty() {
                    self.run_burst(&mut burst);
                    answers.extend(burst.drain(..).filter_map(|p| p.answer));
                }
                match self.prepare(r) {
                    Ok(p) => burst.push(p),
                    Err(c) => answers.push(c),
                }
            }
            self.run_burst(&mut burst);
            answers.extend(burst.drain(..).filter_map(|p| p.answer));
            self.raw = raw;
            self.stats.descriptors += n as u64;
            self.stats.errors += answers.iter().filter(|c| !c.status.is_ok()).count() as u64;
            let cpls: Vec<RawCpl> = answers.iter().map(Completion::encode).collect();
            let posted = self.queue.complete(&cpls);
            debug_assert_eq!(posted, cpls.len(), "fetched no more than the completion ring had room for");
            self.stats.last_ns = epoch.elapsed().as_nanos() as u64;
            posted
        }
    }

    /// Parses and resolves one descriptor into a burst entry, or answers it at once.
    fn prepare(&self, raw: &RawDesc) -> Result<Pending, Completion> {
        let d =
            dpukit_ffi::Descriptor::parse(raw).map_err(|e| Completion::error(e.tag, e.opcode, e.status))?;
        let opcode = d.op.opcode();
        let refuse = |st: Status| Completion::error(d.tag, opcode.raw(), st);
        let (src, dst, algorithm, level, compress) = match d.op {
            Op::Compress { src, dst, algorithm, level } => (src, dst, algorithm, level, true),
            Op::Decompress { src, dst, algorithm } => (src, dst, algorithm, 0, false),
            _ => return Err(refuse(Status::UnknownOpcode)),
        };
        if !self.supported.contains(&(opcode, Some(algorithm))) {
            return Err(refuse(Status::BadAlgorithm));
        }
        let (src, dst) = {
            let regions = self.queue.regions();
            (regions.resolve(src).map_err(refuse)?, regions.resolve(dst).map_err(refuse)?)
        };
        if src.overlaps(&dst) {
            return Err(refuse(Status::OutOfRange));
        }
        let (header, trailer) = match algorithm {
            Algorithm::Gzip => (GZIP_HEADER, GZIP_TRAILER),
            _ => (ZLIB_HEADER, ZLIB_TRAILER),
        };
        // The PMD gets only the room an op can use (each 32 KiB of it is an mbuf segment
        // taken from the pool and chained): DEFLATE's worst case for a compression, the
        // size the gzip trailer records for a decompression.
        let (src_body, dst_body) = if compress {
            if dst.len() < header + trailer {
                return Err(refuse(Status::DstTooSmall));
            }
            let room = (dst.len() - header - trailer).min(deflate_bound(src.len()));
            (0..src.len(), header..header + room)
        } else {
            let bytes = super::compressdev::read(&src);
            let start = match algorithm {
                Algorithm::Gzip => gzip_header_len(bytes),
                _ => zlib_header_ok(bytes).then_some(ZLIB_HEADER),
            };
            let room = match algorithm {
                // ISIZE is the length modulo 2^32: a hint, checked after the PMD ran.
                Algorithm::Gzip if bytes.len() >= GZIP_TRAILER => {
                    let t = &bytes[bytes.len() - 4..];
                    let recorded = u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize;
                    if recorded <= dst.len() {
                        recorded
                    } else {
                        dst.len()
                    }
                }
                _ => dst.len(),
            };
            match start {
                Some(h) if src.len() >= h + trailer => (h..src.len() - trailer, 0..room),
                _ => return Err(refuse(Status::CorruptInput)),
            }
        };
        Ok(Pending {
            tag: d.tag,
            opcode,
            algorithm,
            compress,
            src,
            dst,
            src_body,
            dst_body,
            level,
            answer: None,
        })
    }

    /// Runs one burst through the queue pair and answers each of its descriptors.
    fn run_burst(&mut self, burst: &mut [Pending]) {
        if burst.is_empty() {
            return;
        }
        let t0 = Instant::now();
        let outcomes: Vec<Outcome> = {
            let host_checksums = &self.host_checksums;
            let mut jobs: Vec<DeflateJob<'_>> = burst
                .iter_mut()
                .map(|p| {
                    let (src, dst) = super::compressdev::split(&p.src, &mut p.dst);
                    DeflateJob {
                        src: &src[p.src_body.clone()],
                        dst: &mut dst[p.dst_body.clone()],
                        compress: p.compress,
                        level: p.level,
                        checksum: if host_checksums.contains(&p.algorithm) {
                            Checksum::None
                        } else if p.algorithm == Algorithm::Gzip {
                            Checksum::Crc32
                        } else {
                            Checksum::Adler32
                        },
                        outcome: Outcome::Pending,
                    }
                })
                .collect();
            if self.qp.broken() {
                jobs.iter_mut().for_each(|j| j.outcome = Outcome::Timeout);
            } else {
                self.qp.run(&mut jobs, self.timeout);
            }
            jobs.into_iter().map(|j| j.outcome).collect()
        };
        for (p, outcome) in burst.iter_mut().zip(outcomes) {
            let answer = self.answer(p, outcome);
            p.answer = Some(answer);
        }
        self.stats.busy_ns += t0.elapsed().as_nanos() as u64;
    }

    /// The completion of one descriptor the PMD ran: wraps or checks the DEFLATE data.
    fn answer(&self, p: &mut Pending, outcome: Outcome) -> Completion {
        let fail = |st: Status| Completion::error(p.tag, p.opcode.raw(), st);
        let (consumed, produced, checksum) = match outcome {
            Outcome::Done { consumed, produced, checksum } => {
                (consumed as usize, produced as usize, checksum)
            }
            // A decompression the PMD calls an error is corrupt input; a compression
            // that fails is the device's failure.
            Outcome::Error(_) if !p.compress => return fail(Status::CorruptInput),
            Outcome::InvalidArgs => return fail(Status::BadAlgorithm),
            Outcome::OutOfSpace
            | Outcome::Error(_)
            | Outcome::NoResources
            | Outcome::Timeout
            | Outcome::Pending => return fail(Status::DeviceUnavailable),
        };
        let (src, dst) = super::compressdev::split(&p.src, &mut p.dst);
        let on_host = self.host_checksums.contains(&p.algorithm);
        let host_checksum = |bytes: &[u8]| match p.algorithm {
            Algorithm::Gzip => libdeflater::crc32(bytes),
            _ => libdeflater::adler32(bytes),
        };
        let checksum = match (on_host, p.compress) {
            (false, _) => checksum,
            (true, true) => host_checksum(src),
            (true, false) => host_checksum(&dst[..produced.min(dst.len())]),
        };
        if p.compress {
            let total = p.dst_body.start + produced;
            let input = src.len() as u32;
            match p.algorithm {
                Algorithm::Gzip => {
                    dst[..GZIP_HEADER].copy_from_slice(&gzip_header(p.level));
                    dst[total..total + 4].copy_from_slice(&checksum.to_le_bytes());
                    dst[total + 4..total + 8].copy_from_slice(&input.to_le_bytes());
                    Completion::ok(p.tag, p.opcode, (total + GZIP_TRAILER) as u64, src.len() as u32)
                }
                _ => {
                    dst[..ZLIB_HEADER].copy_from_slice(&zlib_header(p.level));
                    dst[total..total + 4].copy_from_slice(&checksum.to_be_bytes());
                    Completion::ok(p.tag, p.opcode, (total + ZLIB_TRAILER) as u64, src.len() as u32)
                }
            }
        } else {
            // One member, whose trailer ends the source: anything after its DEFLATE data
            // (another member) is the host's to read.
            if consumed != p.src_body.len() {
                return fail(Status::DeviceUnavailable);
            }
            let t = &src[p.src_body.end..];
            let holds = match p.algorithm {
                Algorithm::Gzip => {
                    t[..4] == checksum.to_le_bytes() && t[4..8] == (produced as u32).to_le_bytes()
                }
                _ => t[..4] == checksum.to_be_bytes(),
            };
            if !holds {
                return fail(Status::CorruptInput);
            }
            Completion::ok(p.tag, p.opcode, produced as u64, src.len() as u32)
        }
    }
}

/// The most a DEFLATE stream of `n` bytes takes: stored blocks of at most 64 KiB, five
/// bytes of framing each, and slack for a final block and the encoder's flush.
fn deflate_bound(n: usize) -> usize {
    n + 5 * (n / 65535 + 1) + 1024
}

/// The gzip header of a kit chunk: no name, no time, OS unknown; XFL as RFC 1952 says.
fn gzip_header(level: u8) -> [u8; GZIP_HEADER] {
    let xfl = match level {
        0..=1 => 4,
        8.. => 2,
        _ => 0,
    };
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 0xff]
}

/// The zlib header: 32 KiB window, FLEVEL from the level, FCHECK making it a multiple of 31.
fn zlib_header(level: u8) -> [u8; ZLIB_HEADER] {
    let flevel: u16 = match level {
        0..=1 => 0,
        2..=5 => 1,
        6 => 2,
        _ => 3,
    };
    let cmf: u16 = 0x78;
    let mut flg = flevel << 6;
    flg += 31 - ((cmf << 8) | flg) % 31;
    [cmf as u8, flg as u8]
}

/// The length of a gzip member's header (RFC 1952: optional extra field, name, comment
/// and header CRC), or `None` when it is not one.
fn gzip_header_len(b: &[u8]) -> Option<usize> {
    const FHCRC: u8 = 2;
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    if b.len() < GZIP_HEADER || b[0] != 0x1f || b[1] != 0x8b || b[2] != 8 || b[3] & 0xe0 != 0 {
        return None;
    }
    let flags = b[3];
    let mut at = GZIP_HEADER;
    if flags & FEXTRA != 0 {
        let n = u16::from_le_bytes([*b.get(at)?, *b.get(at + 1)?]) as usize;
        at += 2 + n;
    }
    for f in [FNAME, FCOMMENT] {
        if flags & f != 0 {
            at += b.get(at..)?.iter().position(|&c| c == 0)? + 1;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    (at <= b.len()).then_some(at)
}

/// Whether a zlib header is one the PMD's raw DEFLATE can follow: DEFLATE with a window
/// of at most 32 KiB, no preset dictionary, a valid check.
fn zlib_header_ok(b: &[u8]) -> bool {
    b.len() >= ZLIB_HEADER
        && b[0] & 0x0f == 8
        && b[0] >> 4 <= 7
        && b[1] & 0x20 == 0
        && ((u16::from(b[0]) << 8) | u16::from(b[1])) % 31 == 0
}

impl Device for DpdkDevice {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn clock(&self) -> DeviceClock {
        DeviceClock::Measured
    }

    fn supports(&self, opcode: Opcode, algorithm: Option<Algorithm>) -> bool {
        self.supported.contains(&(opcode, algorithm))
    }

    /// The host has rung the doorbell or is about to wait: wake the thread if it parked.
    fn progress(&mut self, _now_ns: u64) {
        self.thread.unpark();
    }

    fn pending(&self) -> usize {
        // The thread answers every descriptor it fetched before it fetches more.
        0
    }

    fn report(&self) -> DeviceReport {
        let s = *self.shared.stats.lock().unwrap_or_else(|e| e.into_inner());
        let window = s.last_ns.saturating_sub(s.first_ns.unwrap_or(s.last_ns));
        let utilization = if window > 0 { (s.busy_ns as f64 / window as f64).min(1.0) } else { 0.0 };
        DeviceReport {
            resources: vec![ResourceUse {
                name: self.resource.clone(),
                units: 1,
                jobs: s.descriptors,
                busy_ns: s.busy_ns,
                utilization,
            }],
            makespan_ns: window,
            descriptors: s.descriptors,
            error_completions: s.errors,
            cpu_wait_ns: s.cpu_wait_ns,
            ..DeviceReport::default()
        }
    }

    fn runs_on_its_own(&self) -> bool {
        true
    }

    /// Spins briefly for a new completion, then blocks on the condition variable the
    /// thread signals after posting (or when it ends), up to `timeout`.
    fn wait(&mut self, timeout: Duration) {
        let seen = self.shared.posted.load(Ordering::SeqCst);
        for _ in 0..HOST_SPIN {
            if self.shared.posted.load(Ordering::SeqCst) != seen
                || self.shared.ended_flag.load(Ordering::SeqCst)
            {
                return;
            }
            std::hint::spin_loop();
        }
        let deadline = Instant::now() + timeout;
        let mut g = self.shared.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.shared.host_waiting.store(true, Ordering::SeqCst);
        while self.shared.posted.load(Ordering::SeqCst) == seen
            && !self.shared.ended_flag.load(Ordering::SeqCst)
        {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            g = match self.shared.cv.wait_timeout(g, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
        self.shared.host_waiting.store(false, Ordering::SeqCst);
    }

    fn health(&mut self) -> Result<(), String> {
        if self.shared.ended_flag.load(Ordering::SeqCst) {
            let why = self.shared.ended.lock().unwrap_or_else(|e| e.into_inner()).clone();
            return Err(format!("DPDK device {}", why.unwrap_or_else(|| "thread ended".into())));
        }
        Ok(())
    }

    fn stop(&mut self) {
        self.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_valid_for_every_level() {
        for level in 1..=9 {
            assert!(zlib_header_ok(&zlib_header(level)), "level {level}");
            assert_eq!(gzip_header_len(&gzip_header(level)), Some(GZIP_HEADER));
        }
    }

    #[test]
    fn gzip_headers_with_optional_fields_are_measured_and_bad_ones_refused() {
        let mut h = vec![0x1f, 0x8b, 8, 8 | 16, 0, 0, 0, 0, 0, 3];
        h.extend(b"name\0comment\0");
        assert_eq!(gzip_header_len(&h), Some(h.len()));
        assert_eq!(gzip_header_len(&h[..12]), None);
        assert_eq!(gzip_header_len(&[0x1f, 0x8b, 9, 0, 0, 0, 0, 0, 0, 0]), None);
        assert!(!zlib_header_ok(&[0x78, 0x20 | 1]));
    }
}
