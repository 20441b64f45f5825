//! Dedicated cores for device threads: a device thread on the host (`--device thread`,
//! `sim-paced`) takes a core of its own, the way an SPDK reactor or a DPDK worker lcore
//! owns one, and the process's other threads are kept off it while it runs.
//!
//! Pinning alone is not enough. On a machine with few cores the run's own threads (the
//! nodes, storage I/O, the blob copy) are scheduled onto the device's core too, the
//! device thread waits for a CPU while runnable, and the device runs slower than one
//! with a core of its own, which is what its profile models. So when a device thread
//! takes core C, every other thread of the process is moved to the cores the process may
//! use but C (threads created later inherit that from their creators), and moved back
//! when the last device thread ends. Devices never take every core: the first one the
//! process may use is left to the host, and once each of the others has a device, more
//! devices share them and nothing is moved.
//!
//! Linux only (`/proc/self/task` and `sched_setaffinity`); elsewhere, or where the mask
//! cannot be set, a device thread runs unpinned and says why in its name.

#![forbid(unsafe_code)]

use crate::offload::thread_cpu_wait_ns;
use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::{gettid, Pid};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a device thread reads its CPU wait while it works: a read of a /proc file
/// costs microseconds, too much for every poll.
pub(crate) const CPU_WAIT_EVERY: Duration = Duration::from_millis(10);

/// A device thread's time runnable but waiting for a CPU, from when it started: where the
/// machine's cores are shared by the device thread and other threads, the device loses
/// this time to them, which a model giving it a core of its own does not see. Created and
/// read on the device thread.
pub(crate) struct CpuWait {
    at_start: Option<u64>,
    /// When it was last read (none yet: the first sample reads it).
    last_read: Option<Instant>,
}

impl CpuWait {
    pub(crate) fn start() -> CpuWait {
        CpuWait { at_start: thread_cpu_wait_ns(), last_read: None }
    }

    /// The wait so far, if `every` has passed since the last read (`Duration::ZERO`:
    /// now); `None` when not due or where the kernel keeps no scheduler statistics.
    pub(crate) fn sample_every(&mut self, every: Duration) -> Option<u64> {
        let start = self.at_start?;
        if self.last_read.is_some_and(|t| t.elapsed() < every) {
            return None;
        }
        self.last_read = Some(Instant::now());
        Some(thread_cpu_wait_ns()?.saturating_sub(start))
    }
}

/// Bumped at every change of the host's cores (a device taking or giving back one), so
/// what keeps its own copy of them (an io_uring's workers) can tell it is stale.
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The change count of the host's cores ([`host_cpus`]).
pub(crate) fn generation() -> u64 {
    GENERATION.load(std::sync::atomic::Ordering::Acquire)
}

/// The cores the process's threads other than the devices' are kept to, if devices hold
/// cores of their own now.
pub(crate) fn host_cpus() -> Option<Vec<usize>> {
    host_mask(&TAKEN.lock().unwrap_or_else(|e| e.into_inner())).map(|m| cpus_of(&m))
}

/// The original mask minus the devices' cores, while devices hold cores and at least one
/// is left to the host; `None` otherwise (nothing is kept from the host).
fn host_mask(t: &Taken) -> Option<CpuSet> {
    let mut host = t.original?;
    for &(_, cpu) in &t.devices {
        let _ = host.unset(cpu);
    }
    (!t.devices.is_empty() && !cpus_of(&host).is_empty()).then_some(host)
}

/// The device threads holding cores, and the process's mask before the first took one.
struct Taken {
    /// The CPUs the process could use before any device took one.
    original: Option<CpuSet>,
    /// (thread id, cpu) of each device thread holding a core.
    devices: Vec<(i32, usize)>,
    /// How many cores have been handed out (round robin over the allowed ones).
    handed: usize,
}

static TAKEN: Mutex<Taken> = Mutex::new(Taken { original: None, devices: Vec::new(), handed: 0 });

/// A core the calling thread holds: pinned to it, the process's other threads kept off
/// it (when [`DedicatedCore::isolated`]). Dropped by the same thread when it ends.
pub(crate) struct DedicatedCore {
    cpu: usize,
    tid: i32,
    isolated: bool,
}

impl DedicatedCore {
    pub(crate) fn cpu(&self) -> usize {
        self.cpu
    }

    /// Whether the process's other threads are kept off the core.
    pub(crate) fn isolated(&self) -> bool {
        self.isolated
    }

    /// `on cpu N` (and whether the core is the device's alone), for the device's name.
    pub(crate) fn describe(&self) -> String {
        if self.isolated {
            format!("on cpu {}, the process's other threads kept off it", self.cpu)
        } else {
            format!("on cpu {} (shared: every core but the host's has a device)", self.cpu)
        }
    }
}

fn cpus_of(set: &CpuSet) -> Vec<usize> {
    (0..CpuSet::count()).filter(|&i| set.is_set(i).unwrap_or(false)).collect()
}

/// Pins the calling thread to a core of its own; `Err(why not)`.
pub(crate) fn take_core() -> Result<DedicatedCore, String> {
    let mut t = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
    let original = match t.original {
        Some(set) => set,
        None => sched_getaffinity(Pid::from_raw(0)).map_err(|e| format!("cannot read the CPU mask: {e}"))?,
    };
    let cpus = cpus_of(&original);
    if cpus.len() < 2 {
        return Err(format!(
            "not pinned: the process may use {} CPU, which the host threads need too",
            cpus.len()
        ));
    }
    // The highest cores first; the lowest is the host's.
    let cpu = cpus[cpus.len() - 1 - t.handed % (cpus.len() - 1)];
    let mut one = CpuSet::new();
    one.set(cpu).map_err(|e| format!("not pinned: cpu {cpu}: {e}"))?;
    sched_setaffinity(Pid::from_raw(0), &one).map_err(|e| format!("not pinned: cpu {cpu}: {e}"))?;
    let tid = gettid().as_raw();
    t.original = Some(original);
    t.handed += 1;
    t.devices.push((tid, cpu));
    let isolated = sweep(&t);
    Ok(DedicatedCore { cpu, tid, isolated })
}

impl Drop for DedicatedCore {
    fn drop(&mut self) {
        let mut t = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
        t.devices.retain(|&(tid, _)| tid != self.tid);
        sweep(&t);
        if t.devices.is_empty() {
            *t = Taken { original: None, devices: Vec::new(), handed: 0 };
        }
    }
}

/// Sets every thread of the process but the device threads to the original mask minus
/// the devices' cores (the original mask when no device holds one, or when the devices
/// hold every core but one would be taken from the host). Returns whether cores are kept
/// for the devices. Threads that end meanwhile are skipped.
fn sweep(t: &Taken) -> bool {
    GENERATION.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    let Some(original) = t.original else { return false };
    let host = host_mask(t);
    let isolated = host.is_some();
    let mask = host.unwrap_or(original);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return false };
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        if t.devices.iter().any(|&(d, _)| d == tid) {
            continue;
        }
        let _ = sched_setaffinity(Pid::from_raw(tid), &mask);
    }
    isolated
}

/// Cores held from a run's own threads while it models a device made of this host's
/// cores (a `host-cores` profile on the inline simulator). The device it models, a thread
/// on a core of its own (`--device thread`), takes that core from the host side as it
/// runs; the model must leave the host side as few. Each core is held by a thread that
/// takes it and sleeps until the reservation is dropped.
pub(crate) struct Reserved {
    holders: Vec<(std::thread::JoinHandle<()>, std::sync::mpsc::Sender<()>)>,
    /// The cores kept from the other threads.
    cpus: Vec<usize>,
}

impl Reserved {
    /// Nothing reserved.
    pub(crate) fn none() -> Reserved {
        Reserved { holders: Vec::new(), cpus: Vec::new() }
    }

    /// The cores kept from the run's threads.
    pub(crate) fn cpus(&self) -> &[usize] {
        &self.cpus
    }
}

/// Reserves `n` cores (fewer where the machine keeps one for the host: see [`take_core`]).
pub(crate) fn reserve(n: usize) -> Reserved {
    let mut r = Reserved::none();
    for _ in 0..n {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let spawned = std::thread::Builder::new().name("dpukit-reserved".into()).spawn(move || {
            let core = take_core();
            let _ = ready_tx.send(core.as_ref().ok().filter(|c| c.isolated()).map(|c| c.cpu()));
            // Until the reservation is dropped (its sender with it).
            let _ = stop_rx.recv();
            drop(core);
        });
        let Ok(handle) = spawned else { break };
        if let Ok(Some(cpu)) = ready_rx.recv() {
            r.cpus.push(cpu);
        }
        r.holders.push((handle, stop_tx));
    }
    r
}

impl Drop for Reserved {
    fn drop(&mut self) {
        for (handle, stop) in self.holders.drain(..) {
            drop(stop);
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_core_is_kept_from_the_other_threads_until_it_is_given_back() {
        let Ok(before) = sched_getaffinity(Pid::from_raw(0)) else { return };
        if cpus_of(&before).len() < 2 {
            return;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let device = std::thread::spawn(move || {
            let core = take_core();
            let _ = tx.send(core.as_ref().map(|c| (c.cpu(), c.isolated())).map_err(|e| e.clone()));
            let _ = done_rx.recv();
            drop(core);
        });
        let (cpu, isolated) = rx.recv().unwrap().unwrap();
        let during = sched_getaffinity(Pid::from_raw(0)).unwrap();
        // Other tests may hold cores too; this one's core is off this thread's mask.
        if isolated {
            assert!(!during.is_set(cpu).unwrap(), "cpu {cpu} still in {:?}", cpus_of(&during));
            assert!(!cpus_of(&during).is_empty());
        }
        done_tx.send(()).unwrap();
        device.join().unwrap();
        let taken_now = TAKEN.lock().unwrap().devices.iter().any(|&(_, c)| c == cpu);
        if !taken_now {
            let after = sched_getaffinity(Pid::from_raw(0)).unwrap();
            assert!(after.is_set(cpu).unwrap(), "cpu {cpu} not given back: {:?}", cpus_of(&after));
        }
    }

    #[test]
    fn a_reservation_keeps_its_cores_from_the_threads_until_dropped() {
        let Ok(before) = sched_getaffinity(Pid::from_raw(0)) else { return };
        if cpus_of(&before).len() < 2 {
            return;
        }
        let r = reserve(1);
        for &cpu in r.cpus() {
            let during = sched_getaffinity(Pid::from_raw(0)).unwrap();
            assert!(!during.is_set(cpu).unwrap(), "cpu {cpu} still in {:?}", cpus_of(&during));
        }
        let held = r.cpus().to_vec();
        drop(r);
        for cpu in held {
            let taken_now = TAKEN.lock().unwrap().devices.iter().any(|&(_, c)| c == cpu);
            if !taken_now {
                assert!(sched_getaffinity(Pid::from_raw(0)).unwrap().is_set(cpu).unwrap());
            }
        }
    }
}
