//! The profile of the dedicated-thread device (`--device thread`), measured on this
//! machine: `dpukit calibrate --device-profile OUT.toml`.
//!
//! The device runs the kernels through the same registry as the host, on one thread, and
//! answers each descriptor through the simulator's engine. So its profile is a
//! `host-cores` profile with one core whose rates are the kernels' on this machine, at the
//! scenarios' data (the compressibility and chunk size asked for), measured through the
//! device itself as a run drives it ([`ThroughDevice`]: fresh chunks written by the host
//! just before, the device thread's own CPU per op), and whose fixed cost per
//! op is what the engine takes to fetch, parse, resolve and answer a descriptor (timed on
//! NOP descriptors through a real queue pair). Its `wake_ns` is a sleeping thread's
//! wake-up through the device's own park/unpark and condition variable (a ping-pong, see
//! [`handoff_ns`]); its `idle_spin_ns` is the device's [`IDLE_SPIN`], a setting, not a
//! measurement. Every other figure is `measured`, its source naming this calibration run.
//! Each rate is the median of several rounds, so a busy moment on a shared machine moves
//! one round, not the figure.

#![forbid(unsafe_code)]

use super::format::{build_name, err, CalibrationError};
use super::kernels::datagen_for;
use crate::device::DeviceChoice;
use crate::metrics::machine_info;
use crate::offload::{Buf, Offload, OffloadConfig, SlotOp};
use crate::thread_device::{DEVICE_FETCH_BATCH, IDLE_SPIN};
use dpukit_ffi::{Algorithm, Descriptor, Op, QueuePair, QueuePairConfig};
use dpukit_kernels::cache_index::CacheIndex;
use dpukit_kernels::registry::{Call, Registry};
use dpukit_sim::engine::{Engine, EngineConfig};
use dpukit_sim::profile::Profile;
use dpukit_sim::timing::SimTime;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the device profile is measured at.
#[derive(Debug, Clone)]
pub struct DeviceProfileOptions {
    /// The profile's name.
    pub name: String,
    /// Compressibility of the data the codecs are measured on (the scenarios' default: 2).
    pub compressibility: f64,
    /// Bytes per kernel call (the scenarios' default chunk: 1 MiB).
    pub chunk_bytes: usize,
    /// Rounds per figure; the median is kept.
    pub rounds: usize,
    /// Wall time of one round of one figure.
    pub round: Duration,
}

impl Default for DeviceProfileOptions {
    fn default() -> Self {
        DeviceProfileOptions {
            name: crate::thread_device::THREAD_PROFILE.into(),
            compressibility: 2.0,
            chunk_bytes: 1 << 20,
            rounds: 7,
            round: Duration::from_millis(20),
        }
    }
}

/// Codec levels the profile's per-algorithm rates are measured at: the scenarios' LZ4
/// (level 0), zstd's default level 3, and deflate through zlib at level 6.
pub const DEVICE_PROFILE_CODECS: [(Algorithm, u8, &str); 3] =
    [(Algorithm::Lz4, 0, "lz4"), (Algorithm::Zstd, 3, "zstd"), (Algorithm::Zlib, 6, "deflate")];

/// Median wall ns of one call of `f`, over `rounds` rounds of about `round` each.
fn median_ns(
    rounds: usize,
    round: Duration,
    mut f: impl FnMut() -> Result<(), CalibrationError>,
) -> Result<f64, CalibrationError> {
    f()?;
    let t = Instant::now();
    f()?;
    let one = t.elapsed().as_nanos().max(1) as f64;
    let iters = ((round.as_nanos() as f64 / one) as usize).clamp(1, 1_000_000);
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds.max(1) {
        let t = Instant::now();
        for _ in 0..iters {
            f()?;
        }
        samples.push(t.elapsed().as_nanos() as f64 / iters as f64);
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples[samples.len() / 2])
}

/// Slots the measured kernel calls rotate through: the scenarios' default queue depth.
pub const STREAM_SLOTS: usize = 16;

/// The device itself, measuring what its kernels cost it: a `--device thread` queue pair
/// with [`STREAM_SLOTS`] jobs of one op in flight. The host (the calling thread) writes
/// each slot's input just before it submits the job, and reads each output as it comes
/// back, as a data path stages or verifies it; so the device thread meets its buffers as
/// it does in a run (fresh bytes from another core), not resident in its cache. An op's
/// cost is the device thread's own busy CPU time per op (its report), less the engine's
/// fixed cost per descriptor, which the profile prices apart.
struct ThroughDevice {
    off: Offload,
    fixed_ns: f64,
    /// Jobs submitted so far: the chunk index of the next input.
    next: u64,
}

impl ThroughDevice {
    fn open(
        registry: &Registry,
        routing: &Profile,
        n: usize,
        fixed_ns: f64,
    ) -> Result<Self, CalibrationError> {
        let cfg = OffloadConfig {
            slots: STREAM_SLOTS,
            in_bytes: n * 2 + 4096,
            out_bytes: n * 2 + 4096,
            spare_bytes: 0,
            batch: 1,
            device_timeout_ns: 60_000_000_000,
            engine: EngineConfig::default(),
        };
        let off = Offload::with_choice(registry.clone(), &cfg, routing, &DeviceChoice::Thread)
            .map_err(|e| err(format!("--device thread: {e}")))?;
        Ok(ThroughDevice { off, fixed_ns, next: 0 })
    }

    fn busy_ns(&self) -> u64 {
        self.off.device_report().map_or(0, |r| r.resources.iter().map(|x| x.busy_ns).sum())
    }

    /// Median over `rounds` rounds (each at least `round` of wall time and 3 ops) of the
    /// device's CPU per op; `prepare(input, k)` writes the input of the `k`-th job and
    /// returns its op.
    fn median_ns(
        &mut self,
        rounds: usize,
        round: Duration,
        mut prepare: impl FnMut(&mut [u8], u64) -> SlotOp,
    ) -> Result<f64, CalibrationError> {
        let mut samples = Vec::with_capacity(rounds);
        // The first round warms up (the device thread starting, the caches) and is not kept.
        for r in 0..=rounds.max(1) {
            let (busy0, start) = (self.busy_ns(), Instant::now());
            let mut done = 0u64;
            while done < 3 || start.elapsed() < round {
                while let Some(slot) = self.off.take_slot() {
                    let input = self.off.slot(slot).map_err(err)?.0;
                    let op = prepare(input, self.next);
                    self.off.submit(slot, self.next, &[op]).map_err(err)?;
                    self.next += 1;
                }
                let f = self.off.next_finished().map_err(err)?.ok_or_else(|| err("the device lost a job"))?;
                let r0 = f.results.first().copied().ok_or_else(|| err("a job came back without its op"))?;
                if r0.status != dpukit_ffi::Status::Ok {
                    return Err(err(format!("the device failed an op: {}", r0.status)));
                }
                // Read the output as the data path would (a line at a time is enough to
                // take it into this core's cache).
                let out = self.off.slot(f.slot).map_err(err)?.1;
                let len = (r0.result as usize).min(out.len());
                std::hint::black_box(out[..len].iter().step_by(64).fold(0u8, |a, &b| a ^ b));
                self.off.release(f.slot);
                done += 1;
            }
            // Jobs still in flight are counted in the next round: their busy time too.
            let busy = self.busy_ns().saturating_sub(busy0) as f64;
            if r > 0 {
                samples.push((busy / done as f64 - self.fixed_ns).max(1.0));
            }
        }
        samples.sort_by(f64::total_cmp);
        Ok(samples[samples.len() / 2])
    }
}

/// The fixed cost of one descriptor in the engine: fetch, parse, answer, for NOPs rung in
/// batches of `batch`, timed inside the engine's polls only.
fn engine_ns_per_descriptor(
    profile: &Profile,
    registry: Registry,
    opts: &DeviceProfileOptions,
) -> Result<f64, CalibrationError> {
    let batch = 32usize;
    let (mut host, dev) =
        QueuePair::create(QueuePairConfig { sq_entries: 64, cq_entries: 64, max_regions: 1 })
            .map_err(|e| err(format!("queue pair: {e}")))?;
    // Fetched as the device fetches them: one descriptor per poll.
    let cfg = EngineConfig { fetch_batch: DEVICE_FETCH_BATCH, ..EngineConfig::default() };
    let mut engine = Engine::new(profile, registry, cfg).map_err(err)?;
    engine.attach(dev);
    let descs: Vec<Descriptor> = (0..batch as u64).map(|t| Descriptor::new(t, Op::Nop)).collect();
    let mut cpls = Vec::with_capacity(batch);
    let epoch = Instant::now();
    let mut one_batch = || -> Result<u64, CalibrationError> {
        if host.submit(&descs) != batch {
            return Err(err("submission ring full"));
        }
        host.ring_doorbell();
        let mut ns = 0u64;
        let mut got = 0;
        while got < batch {
            let t = Instant::now();
            engine.poll(SimTime::from_ns(epoch.elapsed().as_nanos() as u64));
            ns += t.elapsed().as_nanos() as u64;
            cpls.clear();
            got += host.poll(batch, &mut cpls).map_err(err)?;
        }
        Ok(ns)
    };
    one_batch()?;
    let mut samples = Vec::new();
    for _ in 0..opts.rounds.max(1) {
        let (mut ns, mut n) = (0u64, 0u64);
        let start = Instant::now();
        while start.elapsed() < opts.round {
            ns += one_batch()?;
            n += batch as u64;
        }
        samples.push(ns as f64 / n.max(1) as f64);
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples[samples.len() / 2])
}

/// Rounds of the hand-off ping-pong.
const HANDOFF_ROUNDS: usize = 200;

/// A thread's wake-up after the other side signals it, through the device's own
/// mechanisms: the device thread parked (`park_timeout`) and unparked by a doorbell, the
/// host blocked on a condition variable and notified by a posted completion. A ping-pong
/// between a thread pinned as the device's is and the calling thread: each round the host
/// rings after a pause (the device has parked), the device wakes, works long enough for
/// the host to block, posts and wakes it. Returns the median wake of each direction, ns
/// (device, host).
fn handoff_ns(rounds: usize) -> Result<(f64, f64), CalibrationError> {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Condvar, Mutex};
    struct Pong {
        epoch: Instant,
        ping: AtomicU64,
        ping_ns: AtomicU64,
        posted: AtomicU64,
        posted_ns: AtomicU64,
        host_waiting: AtomicBool,
        stop: AtomicBool,
        lock: Mutex<()>,
        cv: Condvar,
    }
    let now = |p: &Pong| p.epoch.elapsed().as_nanos() as u64;
    // Long enough that the other side is asleep, not spinning, when it is signalled.
    let pause = Duration::from_micros(100) + IDLE_SPIN;
    let spin = |d: Duration| {
        let until = Instant::now() + d;
        while Instant::now() < until {
            std::hint::spin_loop();
        }
    };
    let pong = Arc::new(Pong {
        epoch: Instant::now(),
        ping: AtomicU64::new(0),
        ping_ns: AtomicU64::new(0),
        posted: AtomicU64::new(0),
        posted_ns: AtomicU64::new(0),
        host_waiting: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        lock: Mutex::new(()),
        cv: Condvar::new(),
    });
    let dev = pong.clone();
    let device = std::thread::Builder::new()
        .name("dpukit-handoff".into())
        .spawn(move || {
            // On a core of its own, as the device thread is (where the machine allows).
            let _core = crate::cores::take_core();
            let mut wakes = Vec::with_capacity(rounds);
            let mut seen = 0;
            while !dev.stop.load(Ordering::SeqCst) {
                std::thread::park_timeout(Duration::from_millis(50));
                let ping = dev.ping.load(Ordering::SeqCst);
                if ping == seen {
                    continue;
                }
                seen = ping;
                wakes.push(now(&dev).saturating_sub(dev.ping_ns.load(Ordering::SeqCst)));
                spin(pause);
                dev.posted_ns.store(now(&dev), Ordering::SeqCst);
                dev.posted.fetch_add(1, Ordering::SeqCst);
                if dev.host_waiting.load(Ordering::SeqCst) {
                    let _g = dev.lock.lock().unwrap_or_else(|e| e.into_inner());
                    dev.cv.notify_all();
                }
            }
            wakes
        })
        .map_err(|e| err(format!("cannot start the hand-off thread: {e}")))?;
    let mut host_wakes = Vec::with_capacity(rounds);
    for round in 1..=rounds as u64 {
        spin(pause);
        let seen = pong.posted.load(Ordering::SeqCst);
        pong.ping_ns.store(now(&pong), Ordering::SeqCst);
        pong.ping.store(round, Ordering::SeqCst);
        device.thread().unpark();
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut g = pong.lock.lock().unwrap_or_else(|e| e.into_inner());
        pong.host_waiting.store(true, Ordering::SeqCst);
        while pong.posted.load(Ordering::SeqCst) == seen && Instant::now() < deadline {
            g = match pong.cv.wait_timeout(g, Duration::from_millis(10)) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
        pong.host_waiting.store(false, Ordering::SeqCst);
        drop(g);
        if pong.posted.load(Ordering::SeqCst) == seen {
            pong.stop.store(true, Ordering::SeqCst);
            return Err(err("hand-off: the other thread did not answer within 1 s"));
        }
        host_wakes.push(now(&pong).saturating_sub(pong.posted_ns.load(Ordering::SeqCst)));
    }
    pong.stop.store(true, Ordering::SeqCst);
    device.thread().unpark();
    let mut device_wakes = device.join().map_err(|_| err("the hand-off thread panicked"))?;
    let median = |v: &mut Vec<u64>| {
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0) as f64
    };
    Ok((median(&mut device_wakes), median(&mut host_wakes)))
}

/// Measures this machine's kernels as the dedicated-thread device runs them and returns
/// the `host-cores` profile that models that device (TOML text, validated).
pub fn device_profile(opts: &DeviceProfileOptions) -> Result<String, CalibrationError> {
    if !(opts.compressibility.is_finite() && (1.0..=8.0).contains(&opts.compressibility)) {
        return Err(err(format!("compressibility must be 1.0..=8.0, got {}", opts.compressibility)));
    }
    if !(512..=(64 << 20)).contains(&opts.chunk_bytes) {
        return Err(err(format!("chunk size must be 512 B..=64 MiB, got {}", opts.chunk_bytes)));
    }
    let started = Instant::now();
    let registry = Registry::new(Arc::new(CacheIndex::new(1 << 16).map_err(err)?));
    let n = opts.chunk_bytes;
    let (rounds, round) = (opts.rounds, opts.round);
    let gen = datagen_for(opts.compressibility);
    let rate = |ns: f64, bytes: usize| bytes as f64 / ns * 1e9;
    // The engine's fixed cost per descriptor, priced apart from the kernels' rates (on
    // NOPs). The engine and the device need a profile to route ops: the shipped one of
    // this device (a `host-cores` profile routes every op to the cores; its figures are
    // not used).
    let routing = Profile::builtin(crate::thread_device::THREAD_PROFILE).map_err(err)?;
    let per_op = engine_ns_per_descriptor(&routing, registry.clone(), opts)?;
    let mut dev = ThroughDevice::open(&registry, &routing, n, per_op)?;
    let fresh = |input: &mut [u8], k: u64| gen.fill(7, k * n as u64, &mut input[..n]);
    let crc_ns = dev.median_ns(rounds, round, |input, k| {
        fresh(input, k);
        SlotOp::Crc32c { buf: Buf::In, len: n as u32 }
    })?;
    let copy_ns = dev.median_ns(rounds, round, |input, k| {
        fresh(input, k);
        SlotOp::Copy { offset: 0, len: n as u32 }
    })?;
    let mut codecs = Vec::new();
    for (algorithm, level, key) in DEVICE_PROFILE_CODECS {
        let c_ns = dev.median_ns(rounds, round, |input, k| {
            fresh(input, k);
            SlotOp::Compress { algorithm, level, len: n as u32 }
        })?;
        // Decompress reads chunks as stored, each copied into its slot as a read from the
        // local tier lands there: STREAM_SLOTS of them, compressed once, here.
        let mut plain = vec![0u8; n];
        let mut c = vec![0u8; n * 2 + 4096];
        let mut packed: Vec<Vec<u8>> = Vec::with_capacity(STREAM_SLOTS);
        for k in 0..STREAM_SLOTS as u64 {
            fresh(&mut plain, k);
            let len = registry
                .execute(Call::Compress { src: &plain, dst: &mut c, algorithm, level })
                .map_err(err)?
                .result as usize;
            packed.push(c[..len].to_vec());
        }
        let d_ns = dev.median_ns(rounds, round, |input, k| {
            let p = &packed[(k % STREAM_SLOTS as u64) as usize];
            input[..p.len()].copy_from_slice(p);
            SlotOp::Decompress { algorithm, src: Buf::In, dst: Buf::Out, len: p.len() as u32 }
        })?;
        let stored: usize = packed.iter().map(Vec::len).sum();
        let ratio = (n * STREAM_SLOTS) as f64 / stored.max(1) as f64;
        codecs.push((key, algorithm, level, rate(c_ns, n), rate(d_ns, n), ratio));
    }
    drop(dev);
    let (device_wake_ns, host_wake_ns) = handoff_ns(HANDOFF_ROUNDS)?;
    let mut next_key = 1u64;
    let value = [0u8; 16];
    let insert_ns = median_ns(rounds, round, || {
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&(next_key % 50_000 + 1).to_le_bytes());
        next_key += 1;
        registry.execute(Call::CacheInsert { key, value }).map_err(err)?;
        Ok(())
    })?;
    let mut probe = 1u64;
    let mut out = [0u8; 16];
    let lookup_ns = median_ns(rounds, round, || {
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&(probe % 50_000 + 1).to_le_bytes());
        probe += 1;
        // A miss is an answer too: both cost a probe.
        let _ = registry.execute(Call::CacheLookup { key, dst: &mut out });
        Ok(())
    })?;
    let mut gone = 1u64;
    let delete_ns = median_ns(rounds, round, || {
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&(gone % 50_000 + 1).to_le_bytes());
        gone += 1;
        let _ = registry.execute(Call::CacheDelete { key });
        Ok(())
    })?;

    let machine = machine_info();
    let clock_ghz = cpu_mhz().map(|m| m / 1000.0);
    let stamp =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let run = format!(
        "dpukit {} calibrate --device-profile ({} build, {}, unix time {stamp})",
        env!("CARGO_PKG_VERSION"),
        build_name(),
        machine.cpu_model
    );
    let data = format!(
        "{} B ops through the device thread on data of compressibility {}, {STREAM_SLOTS} in flight, \
         each on a fresh chunk, its CPU per op less the fixed cost per descriptor",
        n, opts.compressibility
    );
    let med = format!("median of {rounds} rounds");
    let fig = |value: String, what: &str| {
        format!("{{ value = {value}, source = \"measured: {run}: {what}\", confidence = \"measured\" }}")
    };
    let sci = |v: f64| format!("{v:.4e}");

    let mut toml = String::new();
    let _ = writeln!(
        toml,
        "# The dedicated-thread device (`dpukit run --device thread`) on this machine: one host\n\
         # thread running the kernels behind the queue pair. Written by `dpukit calibrate\n\
         # --device-profile`; every figure measured by that run ({data}, {med}), but\n\
         # idle_spin_ns, the device's own setting. Regenerate it on the machine you compare\n\
         # against: its rates and wake-up are this machine's.\n\
         schema_version = 1\n\
         name = \"{}\"\n\
         kind = \"host-cores\"\n\
         description = \"one dedicated host thread running the kit's kernels behind the queue pair (measured on {})\"\n\n\
         [host]\n\
         cpu = \"{}\"\n",
        opts.name.escape_debug(),
        machine.cpu_model.escape_debug(),
        machine.cpu_model.escape_debug()
    );
    let cores = |per_op: f64| {
        let mut t = String::new();
        let _ = writeln!(t, "[cores]");
        let _ = writeln!(t, "model = \"{}\"", machine.cpu_model.escape_debug());
        let _ = writeln!(t, "count = {}", fig("1".into(), "one device thread per node"));
        let _ = writeln!(
            t,
            "clock_ghz = {}",
            match clock_ghz {
                Some(g) => fig(format!("{g:.3}"), "/proc/cpuinfo cpu MHz"),
                None => "{ value = 1.0, source = \"assumed: /proc/cpuinfo gives no cpu MHz; unused by the model\", confidence = \"assumed\" }".into(),
            }
        );
        let _ = writeln!(
            t,
            "per_op_fixed_ns = {}",
            fig(
                format!("{per_op:.1}"),
                &format!("engine time per NOP descriptor (fetch, parse, answer), rung in batches of 32 and fetched one per poll as the device does, {med}")
            )
        );
        let _ = writeln!(
            t,
            "crc32c_bytes_per_s = {}",
            fig(sci(rate(crc_ns, n)), &format!("CRC32C, {data}, {med}"))
        );
        let _ =
            writeln!(t, "copy_bytes_per_s = {}", fig(sci(rate(copy_ns, n)), &format!("copy, {data}, {med}")));
        let _ = writeln!(t, "\n[cores.compress_bytes_per_s]");
        for (key, algorithm, level, c, _, ratio) in &codecs {
            let what =
                format!("{} level {level} compress (ratio {ratio:.2}), {data}, {med}", algorithm.name());
            let _ = writeln!(t, "{key} = {}", fig(sci(*c), &what));
        }
        let _ = writeln!(t, "\n[cores.decompress_bytes_per_s]");
        for (key, algorithm, level, _, d, _) in &codecs {
            let what =
                format!("{} level {level} decompress, per output byte, {data}, {med}", algorithm.name());
            let _ = writeln!(t, "{key} = {}", fig(sci(*d), &what));
        }
        t
    };
    let cache = format!(
        "cache_lookup_ops_per_s = {}\ncache_insert_ops_per_s = {}\ncache_delete_ops_per_s = {}\n",
        fig(sci(1e9 / lookup_ns), &format!("cache lookups over 50 000 keys, {med}")),
        fig(sci(1e9 / insert_ns), &format!("cache inserts over 50 000 keys, {med}")),
        fig(sci(1e9 / delete_ns), &format!("cache deletes over 50 000 keys, {med}"))
    );
    // One figure for both directions: the model charges it to a doorbell that finds the
    // device parked and to a host wait that blocks.
    let wake = format!(
        "wake_ns = {}\nidle_spin_ns = {{ value = {:.1}, source = \"the device's design: the idle device thread polls this long before it parks, and the host checks for a completion this long before it blocks (thread_device::IDLE_SPIN)\", confidence = \"vendor\" }}\n",
        fig(
            format!("{:.1}", (device_wake_ns + host_wake_ns) / 2.0),
            &format!(
                "a sleeping thread's wake-up, signal to running, mean of the device's (parked, unparked by a doorbell: median {:.1} us) and the host's (blocked on a condition variable, notified by a completion: median {:.1} us), {HANDOFF_ROUNDS} rounds of a ping-pong",
                device_wake_ns / 1e3,
                host_wake_ns / 1e3
            )
        ),
        IDLE_SPIN.as_nanos() as f64
    );
    let cache = format!("{cache}{wake}");
    let assemble = |per_op: f64| -> String {
        // TOML: plain keys of [cores] must come before its sub-tables.
        let body = cores(per_op);
        let (head, tables) = body.split_once("\n[cores.compress_bytes_per_s]").unwrap_or((&body, ""));
        format!("{toml}{head}{cache}\n[cores.compress_bytes_per_s]{tables}")
    };
    let text = assemble(per_op);
    Profile::from_toml_str(&text, "device profile").map_err(err)?;
    tracing::debug!(took_s = started.elapsed().as_secs_f64(), "device profile measured");
    Ok(text)
}

/// The first `cpu MHz` of /proc/cpuinfo.
fn cpu_mhz() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find(|l| l.starts_with("cpu MHz"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dpukit_sim::profile::{Confidence, ProfileKind};

    /// The profile loads as a host-cores profile whose every rate was measured by this run.
    #[test]
    fn the_device_profile_is_a_measured_host_cores_profile() {
        let opts = DeviceProfileOptions {
            name: "t".into(),
            chunk_bytes: 64 << 10,
            rounds: 1,
            round: Duration::from_millis(1),
            ..DeviceProfileOptions::default()
        };
        let text = device_profile(&opts).unwrap();
        let p = Profile::from_toml_str(&text, "t.toml").unwrap();
        assert_eq!(p.kind, ProfileKind::HostCores);
        let c = p.cores.as_ref().unwrap();
        assert_eq!(c.count.value, 1);
        let rates = [
            &c.per_op_fixed_ns,
            &c.crc32c_bytes_per_s,
            &c.copy_bytes_per_s,
            &c.cache_lookup_ops_per_s,
            &c.cache_insert_ops_per_s,
            &c.cache_delete_ops_per_s,
        ];
        let codecs = dpukit_sim::profile::Algorithm::ALL
            .iter()
            .flat_map(|a| [c.compress_bytes_per_s.get(*a), c.decompress_bytes_per_s.get(*a)]);
        for f in rates.into_iter().chain(codecs) {
            assert_eq!(f.confidence, Confidence::Measured, "{}", f.source);
            assert!(f.source.contains("calibrate --device-profile"), "{}", f.source);
        }
        assert!(c.per_op_fixed_ns.value > 0.0 && c.crc32c_bytes_per_s.value > 0.0);
        // The hand-off: measured by the ping-pong; the spin before sleeping is the device's.
        let wake = c.wake_ns.as_ref().expect("wake_ns written");
        assert_eq!(wake.confidence, Confidence::Measured, "{}", wake.source);
        assert!(wake.value > 0.0 && wake.source.contains("ping-pong"), "{:?}", wake);
        let spin = c.idle_spin_ns.as_ref().expect("idle_spin_ns written");
        assert_eq!(spin.value, IDLE_SPIN.as_nanos() as f64);
    }

    #[test]
    fn a_chunk_size_out_of_range_is_refused() {
        let opts = DeviceProfileOptions { chunk_bytes: 100, ..DeviceProfileOptions::default() };
        let e = device_profile(&opts).unwrap_err().to_string();
        assert!(e.contains("chunk size must be 512 B..=64 MiB, got 100"), "{e}");
    }
}
