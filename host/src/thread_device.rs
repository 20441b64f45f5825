//! Devices on a dedicated host thread, one per node, behind the same in-process queue pair
//! as the simulator, the way SPDK's software accel module runs its ops on reactor threads.
//!
//! Both run the simulator's [`Engine`] (it parses, bounds-checks and resolves every
//! descriptor against the region table and executes it through the kernel registry the
//! host uses, so results are byte-identical to host mode) on a thread of their own, on a
//! core of its own when the process may use more than one (`crate::cores`: pinned, the
//! process's other threads kept off it):
//!
//! - [`Pacing::Measured`] (`--device thread`): completions are posted as soon as the
//!   kernels are done; the host times them as it sees them, so every figure is
//!   **measured**. The engine's profile only routes ops (a `host-cores` profile routes
//!   every built-in op to the cores); its modelled times are ignored. The report gives the
//!   thread's real busy time (its CPU time in polls that found work) as one resource.
//! - [`Pacing::Paced`] (`--device sim-paced`): the run's simulated DPU, with each
//!   completion held until the wall clock reaches its modelled time, so the host sees the
//!   device's pace as it would play out. Figures are **modelled**; when the kernels on
//!   this machine run slower than the model, completions go out late and the report's
//!   "simulator lag" (late completions, largest lag) says so, measured.
//!
//! The device fetches one descriptor per poll and posts its completion as soon as it has
//! run, as the model times each op: fetching a doorbell's whole batch first would hold
//! every completion of the batch until its last op is done, and the host and the device
//! would take turns instead of working at once.
//!
//! Waiting: the device thread polls for [`IDLE_SPIN`] after work, then parks (woken by the
//! host's [`Device::progress`], which the offload layer calls after each doorbell, or by a
//! short park timeout that covers a doorbell rung without one); the host checks for a
//! completion for as long, then blocks on a condition variable. Neither burns a core while
//! idle, and each sleep costs a wake-up, which the device's profile prices (`wake_ns` after
//! `idle_spin_ns`, see `calibrate --device-profile`). [`ThreadDevice::handoffs`] counts
//! the sleeps and times the wake-ups of a run (logged with `-v` when the device stops).

#![forbid(unsafe_code)]

use crate::cores::{CpuWait, CPU_WAIT_EVERY};
use crate::device::{Device, DeviceClock, DeviceReport};
use crate::offload::thread_cpu_ns;
use crate::result::ResourceUse;
use dpukit_ffi::{Algorithm, DeviceQueue, Opcode};
use dpukit_kernels::registry::{Registry, UserKernel};
use dpukit_sim::engine::{ClockMode, Engine, EngineConfig, EngineError};
use dpukit_sim::profile::{Profile, ProfileKind};
use dpukit_sim::timing::{ResourceStats, SimTime, UserOpCost};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The shipped profile that models the measured device (`dpu-sim/profiles/host-thread.toml`,
/// written by `dpukit calibrate --device-profile`).
pub const THREAD_PROFILE: &str = "host-thread";

/// How long the idle device thread polls before it parks, and the host checks for a
/// completion before it blocks: a doorbell or a completion within it costs no wake-up
/// (tens of microseconds on a VM). The device's profile carries it as `idle_spin_ns`.
pub const IDLE_SPIN: Duration = Duration::from_micros(50);
/// Descriptors the device fetches per poll: one, so that each completion is posted as soon
/// as its op is done (as the model times it), not when the last op of a batch is.
pub const DEVICE_FETCH_BATCH: usize = 1;
/// Longest park of an idle device thread: bounds the delay of a doorbell rung without a
/// call to `progress` (the offload layer makes one after each doorbell it rings).
const DEVICE_PARK: Duration = Duration::from_micros(500);
/// A paced device spins, rather than parks, for a completion due this soon.
const PACED_SPIN_NS: u64 = 20_000;

/// How a thread device times its completions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// Posted when done; timed by the host (measured).
    Measured,
    /// Held to their modelled time (modelled, with the lag measured).
    Paced,
}

/// What the device thread publishes for the host's reports.
#[derive(Debug, Clone, Default)]
struct Snapshot {
    descriptors: u64,
    error_completions: u64,
    injected_errors: u64,
    doorbells_seen: u64,
    doorbells_dropped: u64,
    below_min_efficient_size: u64,
    late_completions: u64,
    max_lag_ns: u64,
    pending: usize,
    /// CPU time of the thread in polls that fetched or posted something.
    busy_cpu_ns: u64,
    /// Wall time (since the thread started) of the first fetch and the last post.
    first_fetch_ns: Option<u64>,
    last_post_ns: u64,
    /// The engine's modelled resources and makespan (paced device only).
    modelled: Vec<ResourceStats>,
    modelled_makespan_ns: u64,
    /// Time the thread was runnable but waiting for a CPU since it started.
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
    /// Why the thread ended, once it has (it ends only when stopped, or when it fails).
    ended: Mutex<Option<String>>,
    ended_flag: AtomicBool,
    snapshot: Mutex<Snapshot>,
    /// The clock of the hand-off counters below (ns since the device was built).
    epoch: Instant,
    /// When the host last asked the device to progress (a doorbell or a wait), epoch ns.
    rung_ns: AtomicU64,
    /// When the device last posted completions, epoch ns.
    posted_ns: AtomicU64,
    /// Hand-offs: how often each side slept and how long the other took to wake it.
    handoffs: Mutex<Handoffs>,
}

/// How often the device thread parked and the host blocked, and how long each took to run
/// again after the other side signalled it (epoch ns of the signal to the thread running).
#[derive(Debug, Clone, Default)]
pub struct Handoffs {
    /// Parks of the idle device thread.
    pub device_parks: u64,
    /// Parks ended by the host's signal (a doorbell or a wait), and their total wake time.
    pub device_woken: u64,
    pub device_wake_ns: u64,
    /// Host waits that blocked on the condition variable, those ended by a completion, and
    /// the total time from the completion's post to the host running.
    pub host_blocks: u64,
    pub host_woken: u64,
    pub host_wake_ns: u64,
    /// Polls that posted completions, and the completions they posted.
    pub posting_polls: u64,
    pub completions: u64,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn wake_host(&self) {
        if self.host_waiting.load(Ordering::SeqCst) {
            let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.cv.notify_all();
        }
    }
}

/// Marks the thread ended (with why) and wakes the host, even when the thread panics.
struct EndGuard {
    shared: Arc<Shared>,
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        {
            let mut why = self.shared.ended.lock().unwrap_or_else(|e| e.into_inner());
            if why.is_none() {
                *why = Some(if std::thread::panicking() {
                    "device thread panicked".to_string()
                } else {
                    "device thread ended".to_string()
                });
            }
        }
        self.shared.ended_flag.store(true, Ordering::SeqCst);
        let _g = self.shared.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.shared.cv.notify_all();
    }
}

/// A failure the tests inject into the device thread.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TestFault {
    /// The thread panics once it has fetched this many descriptors.
    DieAfter(u64),
    /// The thread stops answering (and stays alive) once it has fetched this many.
    HangAfter(u64),
}

/// A device on a dedicated host thread.
pub struct ThreadDevice {
    shared: Arc<Shared>,
    handle: Option<JoinHandle<()>>,
    thread: std::thread::Thread,
    pacing: Pacing,
    name: String,
    /// Ops the engine runs, worked out before the engine moved to its thread.
    supported: Vec<(Opcode, Option<Algorithm>)>,
}

/// A C plugin bound to a user opcode.
type Plugin = (u8, Arc<dyn UserKernel>);

/// The registry's built-in kernels (a registry on the same cache index) and its C plugins,
/// which the engine binds itself, each with a cost.
fn split_plugins(registry: &Registry) -> (Registry, Vec<Plugin>) {
    let plugins = registry.user_kernels().map(|(op, k)| (op, k.clone())).collect();
    (Registry::new(registry.cache().clone()), plugins)
}

impl ThreadDevice {
    /// The measured device: the kernels on a dedicated thread, serving `queue`. `profile`
    /// routes ops if it is a `host-cores` profile; otherwise the shipped `host-thread`
    /// profile does (every built-in op runs on the thread).
    pub fn measured(
        profile: &Profile,
        registry: Registry,
        cfg: EngineConfig,
        queue: DeviceQueue,
    ) -> Result<ThreadDevice, EngineError> {
        let routing = if profile.kind == ProfileKind::HostCores {
            profile.clone()
        } else {
            Profile::builtin(THREAD_PROFILE).map_err(|e| EngineError::Config(e.to_string()))?
        };
        // The model's times are ignored; no faults are injected into a measured device.
        let cfg = EngineConfig {
            clock: ClockMode::Virtual,
            faults: Some(Default::default()),
            fetch_batch: DEVICE_FETCH_BATCH,
            ..cfg
        };
        let (registry, plugins) = split_plugins(&registry);
        let mut engine = Engine::new(&routing, registry, cfg)?;
        for (opcode, kernel) in plugins {
            // Its time is the host's clock; the cost only satisfies the engine's router.
            let cost = UserOpCost { id: opcode as u32, fixed_ns: 0.0, bytes_per_s: 1e12 };
            engine.bind_user_kernel_with_cost(opcode, kernel, cost)?;
        }
        engine.attach(queue);
        ThreadDevice::spawn(engine, Pacing::Measured, "host thread".into(), None)
    }

    /// The paced simulator: `profile`'s simulated DPU on its own thread, each completion
    /// held to its modelled time. A profile without a device is `ModelError::NoDevice`.
    pub fn paced(
        profile: &Profile,
        registry: Registry,
        cfg: EngineConfig,
        queue: DeviceQueue,
    ) -> Result<ThreadDevice, EngineError> {
        let cfg = EngineConfig { clock: ClockMode::Live, ..cfg };
        let (registry, plugins) = split_plugins(&registry);
        let mut engine = Engine::new(profile, registry, cfg)?;
        for (opcode, kernel) in plugins {
            // Held to its modelled time: the profile's `[[user_kernels]]` cost.
            engine.bind_user_kernel(opcode, kernel)?;
        }
        engine.attach(queue);
        ThreadDevice::spawn(engine, Pacing::Paced, format!("{} (simulated, paced)", profile.name), None)
    }

    #[cfg(test)]
    pub(crate) fn measured_with_fault(
        registry: Registry,
        queue: DeviceQueue,
        fault: TestFault,
    ) -> Result<ThreadDevice, EngineError> {
        let routing = Profile::builtin(THREAD_PROFILE).map_err(|e| EngineError::Config(e.to_string()))?;
        let mut engine = Engine::new(&routing, registry, EngineConfig::default())?;
        engine.attach(queue);
        ThreadDevice::spawn(engine, Pacing::Measured, "host thread".into(), Some(fault))
    }

    fn spawn(
        engine: Engine,
        pacing: Pacing,
        what: String,
        #[cfg(test)] fault: Option<TestFault>,
        #[cfg(not(test))] _fault: Option<()>,
    ) -> Result<ThreadDevice, EngineError> {
        let mut supported = Vec::new();
        for op in Opcode::ALL_BUILTIN {
            if matches!(op, Opcode::Compress | Opcode::Decompress) {
                supported.extend(
                    Algorithm::ALL
                        .into_iter()
                        .filter(|a| engine.supports(op, Some(*a)))
                        .map(|a| (op, Some(a))),
                );
            } else if engine.supports(op, None) {
                supported.push((op, None));
            }
        }
        for raw in 0x80..=0xfe_u8 {
            if let Ok(op) = Opcode::user(raw) {
                if engine.supports(op, None) {
                    supported.push((op, None));
                }
            }
        }
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            posted: AtomicU64::new(0),
            host_waiting: AtomicBool::new(false),
            lock: Mutex::new(()),
            cv: Condvar::new(),
            ended: Mutex::new(None),
            ended_flag: AtomicBool::new(false),
            snapshot: Mutex::new(Snapshot::default()),
            epoch: Instant::now(),
            rung_ns: AtomicU64::new(0),
            posted_ns: AtomicU64::new(0),
            handoffs: Mutex::new(Handoffs::default()),
        });
        let (pinned_tx, pinned_rx) = std::sync::mpsc::channel();
        let thread_shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name("dpukit-device".into())
            .spawn(move || {
                let _ended = EndGuard { shared: thread_shared.clone() };
                // Held for the thread's life: the core is given back as it ends.
                let core = crate::cores::take_core();
                let _ = pinned_tx.send(core.as_ref().map(|c| c.describe()).map_err(Clone::clone));
                #[cfg(test)]
                run(engine, pacing, &thread_shared, fault);
                #[cfg(not(test))]
                run(engine, pacing, &thread_shared);
                drop(core);
            })
            .map_err(|e| EngineError::Config(format!("cannot start the device thread: {e}")))?;
        let pinned =
            pinned_rx.recv().unwrap_or_else(|_| Err("not pinned: the device thread ended at start".into()));
        let name = match pinned {
            Ok(core) => format!("{what} {core}"),
            Err(why) => format!("{what} ({why})"),
        };
        let thread = handle.thread().clone();
        Ok(ThreadDevice { shared, handle: Some(handle), thread, pacing, name, supported })
    }

    /// How often the two sides slept and woke so far.
    pub fn handoffs(&self) -> Handoffs {
        self.shared.handoffs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn join(&mut self) {
        if self.handle.is_some() {
            let h = self.handoffs();
            let mean = |ns: u64, n: u64| ns as f64 / n.max(1) as f64 / 1e3;
            tracing::info!(
                target: "dpukit::device",
                "{}: device parked {} times, woken by the host {} times ({:.1} us each); host blocked {} times, woken by a completion {} times ({:.1} us each); {} completions in {} posting polls",
                self.name,
                h.device_parks,
                h.device_woken,
                mean(h.device_wake_ns, h.device_woken),
                h.host_blocks,
                h.host_woken,
                mean(h.host_wake_ns, h.host_woken),
                h.completions,
                h.posting_polls
            );
        }
        self.shared.stop.store(true, Ordering::SeqCst);
        self.thread.unpark();
        if let Some(h) = self.handle.take() {
            // A panic of the device thread is already recorded as why it ended.
            let _ = h.join();
        }
    }
}

impl Drop for ThreadDevice {
    fn drop(&mut self) {
        self.join();
    }
}

fn run(mut engine: Engine, pacing: Pacing, shared: &Shared, #[cfg(test)] fault: Option<TestFault>) {
    let epoch = shared.epoch;
    let mut clock = || SimTime::from_ns(epoch.elapsed().as_nanos() as u64);
    // When the thread last found work (epoch ns); it parks once idle for IDLE_SPIN.
    let mut idle_since = shared.now_ns();
    let mut busy_cpu_ns = 0u64;
    let mut cpu_wait = CpuWait::start();
    let mut first_fetch_ns = None;
    let mut last_post_ns = 0u64;
    while !shared.stop.load(Ordering::Acquire) {
        #[cfg(test)]
        match fault {
            Some(TestFault::DieAfter(n)) if engine.stats().descriptors >= n => {
                panic!("test fault: the device thread dies")
            }
            Some(TestFault::HangAfter(n)) if engine.stats().descriptors >= n => {
                std::thread::park_timeout(DEVICE_PARK);
                continue;
            }
            _ => {}
        }
        let c0 = thread_cpu_ns();
        let out = engine.poll_with(&mut clock);
        if out.fetched > 0 || out.posted > 0 {
            busy_cpu_ns += thread_cpu_ns().saturating_sub(c0);
            let now = epoch.elapsed().as_nanos() as u64;
            if out.fetched > 0 && first_fetch_ns.is_none() {
                first_fetch_ns = Some(now);
            }
            if out.posted > 0 {
                last_post_ns = now;
            }
            publish(&engine, pacing, shared, out.pending, busy_cpu_ns, first_fetch_ns, last_post_ns);
            publish_cpu_wait(shared, cpu_wait.sample_every(CPU_WAIT_EVERY));
            if out.posted > 0 {
                shared.posted_ns.store(shared.now_ns(), Ordering::SeqCst);
                shared.posted.fetch_add(out.posted as u64, Ordering::SeqCst);
                shared.wake_host();
                let mut h = shared.handoffs.lock().unwrap_or_else(|e| e.into_inner());
                h.posting_polls += 1;
                h.completions += out.posted as u64;
            }
            idle_since = shared.now_ns();
            continue;
        }
        let now = shared.now_ns();
        let next_due = out.next_due.map(|t| t.as_ns());
        if next_due.is_some_and(|t| t <= now + PACED_SPIN_NS)
            || now < idle_since + IDLE_SPIN.as_nanos() as u64
        {
            std::hint::spin_loop();
            continue;
        }
        // Idle: park until the host rings (it unparks us) or the next completion is due.
        let park = next_due
            .map_or(DEVICE_PARK, |t| Duration::from_nanos(t - now - PACED_SPIN_NS / 2).min(DEVICE_PARK));
        let parked_at = shared.now_ns();
        std::thread::park_timeout(park);
        let (woke, rung) = (shared.now_ns(), shared.rung_ns.load(Ordering::SeqCst));
        let mut h = shared.handoffs.lock().unwrap_or_else(|e| e.into_inner());
        h.device_parks += 1;
        if rung >= parked_at {
            h.device_woken += 1;
            h.device_wake_ns += woke.saturating_sub(rung);
        }
    }
    publish(&engine, pacing, shared, engine.pending(), busy_cpu_ns, first_fetch_ns, last_post_ns);
    publish_cpu_wait(shared, cpu_wait.sample_every(Duration::ZERO));
}

fn publish_cpu_wait(shared: &Shared, wait: Option<u64>) {
    if wait.is_some() {
        shared.snapshot.lock().unwrap_or_else(|e| e.into_inner()).cpu_wait_ns = wait;
    }
}

fn publish(
    engine: &Engine,
    pacing: Pacing,
    shared: &Shared,
    pending: usize,
    busy_cpu_ns: u64,
    first_fetch_ns: Option<u64>,
    last_post_ns: u64,
) {
    let s = engine.stats();
    let mut snap = shared.snapshot.lock().unwrap_or_else(|e| e.into_inner());
    *snap = Snapshot {
        descriptors: s.descriptors,
        error_completions: s.errors(),
        injected_errors: s.injected_errors,
        doorbells_seen: s.doorbells_seen,
        doorbells_dropped: s.doorbells_dropped,
        below_min_efficient_size: s.below_min_efficient_size,
        late_completions: s.late_completions,
        max_lag_ns: s.max_lag_ns,
        pending,
        busy_cpu_ns,
        first_fetch_ns,
        last_post_ns,
        modelled: if pacing == Pacing::Paced { engine.resource_stats() } else { Vec::new() },
        modelled_makespan_ns: engine.makespan().as_ns(),
        cpu_wait_ns: snap.cpu_wait_ns,
    };
}

impl Device for ThreadDevice {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn clock(&self) -> DeviceClock {
        match self.pacing {
            Pacing::Measured => DeviceClock::Measured,
            Pacing::Paced => DeviceClock::Modelled,
        }
    }

    fn supports(&self, opcode: Opcode, algorithm: Option<Algorithm>) -> bool {
        let algorithm =
            if matches!(opcode, Opcode::Compress | Opcode::Decompress) { algorithm } else { None };
        self.supported.contains(&(opcode, algorithm))
    }

    /// The host has rung the doorbell or is about to wait: wake the thread if it parked
    /// (cheap when it did not: the wake is remembered for its next park).
    fn progress(&mut self, _now_ns: u64) {
        self.shared.rung_ns.store(self.shared.now_ns(), Ordering::SeqCst);
        self.thread.unpark();
    }

    fn pending(&self) -> usize {
        self.shared.snapshot.lock().unwrap_or_else(|e| e.into_inner()).pending
    }

    fn report(&self) -> DeviceReport {
        let s = self.shared.snapshot.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let (resources, makespan_ns) = match self.pacing {
            Pacing::Measured => {
                // One resource, the thread: its CPU time in polls that found work, over
                // its active window (first fetch to last completion), measured.
                let window = s.last_post_ns.saturating_sub(s.first_fetch_ns.unwrap_or(s.last_post_ns));
                let utilization =
                    if window > 0 { (s.busy_cpu_ns as f64 / window as f64).min(1.0) } else { 0.0 };
                let thread = ResourceUse {
                    name: "host-thread".into(),
                    units: 1,
                    jobs: s.descriptors,
                    busy_ns: s.busy_cpu_ns,
                    utilization,
                };
                (vec![thread], window)
            }
            Pacing::Paced => {
                (s.modelled.iter().map(crate::device::resource_use).collect(), s.modelled_makespan_ns)
            }
        };
        DeviceReport {
            resources,
            makespan_ns,
            descriptors: s.descriptors,
            error_completions: s.error_completions,
            injected_errors: s.injected_errors,
            doorbells_seen: s.doorbells_seen,
            doorbells_dropped: s.doorbells_dropped,
            below_min_efficient_size: s.below_min_efficient_size,
            late_completions: s.late_completions,
            max_lag_ns: s.max_lag_ns,
            cpu_wait_ns: s.cpu_wait_ns,
        }
    }

    fn runs_on_its_own(&self) -> bool {
        true
    }

    /// Spins briefly for a new completion, then blocks on the condition variable the
    /// device thread signals after posting (or when it ends), up to `timeout`.
    fn wait(&mut self, timeout: Duration) {
        let seen = self.shared.posted.load(Ordering::SeqCst);
        let spin_until = Instant::now() + IDLE_SPIN;
        while Instant::now() < spin_until {
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
        drop(g);
        let woke = self.shared.now_ns();
        let mut h = self.shared.handoffs.lock().unwrap_or_else(|e| e.into_inner());
        h.host_blocks += 1;
        if self.shared.posted.load(Ordering::SeqCst) != seen {
            h.host_woken += 1;
            h.host_wake_ns += woke.saturating_sub(self.shared.posted_ns.load(Ordering::SeqCst));
        }
    }

    fn health(&mut self) -> Result<(), String> {
        if self.shared.ended_flag.load(Ordering::SeqCst) {
            let why = self.shared.ended.lock().unwrap_or_else(|e| e.into_inner()).clone();
            return Err(why.unwrap_or_else(|| "device thread ended".into()));
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
    use crate::offload::{Buf, Offload, OffloadConfig, RanOn, SlotOp};
    use dpukit_ffi::Status;
    use dpukit_kernels::cache_index::CacheIndex;
    use dpukit_kernels::registry::Registry;

    fn registry() -> Registry {
        Registry::new(Arc::new(CacheIndex::new(64).unwrap()))
    }

    fn config(timeout_ns: u64) -> OffloadConfig {
        OffloadConfig {
            slots: 8,
            in_bytes: 4096,
            out_bytes: 8192,
            spare_bytes: 0,
            batch: 2,
            device_timeout_ns: timeout_ns,
            engine: EngineConfig::default(),
        }
    }

    fn data(user: u64) -> Vec<u8> {
        (0..4096u64).map(|i| (i * 7 + user * 13) as u8).collect()
    }

    /// Submits `jobs` CRC32C jobs and takes every one back, checking each result against
    /// the kernel run here; returns how many ops ran on the device.
    fn run_jobs(off: &mut Offload, jobs: u64) -> usize {
        let mut next = 0;
        let mut done = 0;
        let mut on_device = 0;
        while done < jobs {
            while next < jobs {
                let Some(slot) = off.take_slot() else { break };
                off.slot(slot).unwrap().0.copy_from_slice(&data(next));
                off.submit(slot, next, &[SlotOp::Crc32c { buf: Buf::In, len: 4096 }]).unwrap();
                next += 1;
            }
            let f = off.next_finished().unwrap().expect("jobs in flight");
            assert_eq!(f.results[0].status, Status::Ok);
            assert_eq!(
                f.results[0].result,
                dpukit_kernels::crc32c::crc32c(&data(f.user)) as u64,
                "job {}",
                f.user
            );
            on_device += usize::from(f.results[0].ran_on == RanOn::Device);
            off.release(f.slot);
            done += 1;
        }
        assert!(off.next_finished().unwrap().is_none());
        on_device
    }

    #[test]
    fn the_thread_runs_every_job_and_reports_measured_busy_time() {
        let cfg = config(10_000_000_000);
        let mut off = Offload::with_choice(
            registry(),
            &cfg,
            &Profile::builtin("bluefield-2").unwrap(),
            &crate::device::DeviceChoice::Thread,
        )
        .unwrap();
        assert_eq!(off.device_clock(), Some(DeviceClock::Measured));
        assert!(off.device_name().unwrap().starts_with("host thread"), "{:?}", off.device_name());
        assert_eq!(run_jobs(&mut off, 40), 40);
        let r = off.device_report().unwrap();
        assert_eq!(r.descriptors, 40);
        assert_eq!(r.resources.len(), 1);
        assert_eq!(r.resources[0].name, "host-thread");
        assert!(r.resources[0].busy_ns > 0 && r.resources[0].utilization > 0.0, "{:?}", r.resources);
        // Linux keeps scheduler statistics per thread: the device reports its CPU wait.
        if std::path::Path::new("/proc/thread-self/schedstat").exists() {
            assert!(r.cpu_wait_ns.is_some(), "{r:?}");
        }
        assert_eq!(off.stats().fallbacks.total(), 0);
    }

    /// A device thread that dies or hangs part way: every job comes back, each result
    /// right, the rest run on the host CPU, and the thread is joined.
    fn fails_over(fault: TestFault, timeout_ns: u64, reason: &str) {
        let cfg = config(timeout_ns);
        let mut off = Offload::with_device(registry(), &cfg, |queue| {
            Ok(Some(Box::new(ThreadDevice::measured_with_fault(registry(), queue, fault).unwrap())
                as Box<dyn Device>))
        })
        .unwrap();
        let on_device = run_jobs(&mut off, 30);
        assert!((5..30).contains(&on_device), "{on_device} ops on the device");
        assert!(!off.device_alive());
        assert!(off.stats().fallbacks.after_timeout > 0, "{:?}", off.stats().fallbacks);
        let reasons = &off.stats().fallbacks.reasons;
        assert!(reasons.iter().any(|r| r.contains(reason)), "{reasons:?}");
    }

    #[test]
    fn a_device_thread_that_dies_is_given_up_at_once() {
        // A timeout far longer than the test: only the thread's end can give it up.
        fails_over(TestFault::DieAfter(5), 600_000_000_000, "device thread panicked");
    }

    #[test]
    fn a_device_thread_that_hangs_is_given_up_after_the_timeout() {
        fails_over(TestFault::HangAfter(5), 50_000_000, "stopped answering (timeout)");
    }

    #[test]
    fn the_paced_simulator_holds_completions_to_their_modelled_time() {
        let cfg = config(10_000_000_000);
        let mut off = Offload::with_choice(
            registry(),
            &cfg,
            &Profile::builtin("bluefield-2").unwrap(),
            &crate::device::DeviceChoice::SimPaced,
        )
        .unwrap();
        assert_eq!(off.device_clock(), Some(DeviceClock::Modelled));
        assert_eq!(run_jobs(&mut off, 20), 20);
        let r = off.device_report().unwrap();
        assert_eq!(r.descriptors, 20);
        assert!(r.resources.iter().any(|x| x.name == "dpu-cores" || x.name.starts_with("accel:")));
        assert!(r.makespan_ns > 0);
    }
}
