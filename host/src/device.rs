//! The device seam: what the offload layer ([`crate::offload`]) needs from whatever serves
//! its queue pair. The offload layer owns the host end of the queue pair and the DMA pool;
//! a device owns the other end and answers descriptors with completions. Scenarios and the
//! command line never name a device type: they get an [`Offload`](crate::offload::Offload)
//! whose device is one of these.
//!
//! A device says how its completion times are known ([`DeviceClock`]): **modelled** (the
//! simulator stamps each completion with the time its profile's timing model gives, and
//! runs inline on the host's thread, its own time kept off the host clock) or **measured**
//! (a device running on its own, whose completions are timed by the host's clock as they
//! arrive). Every figure built on a device's times carries that label.
//!
//! A device also says where it does its work: **inline** (inside [`Device::progress`], on
//! the host's thread, as the simulator does) or **on its own** (its own thread or process,
//! as a real DPU does). The host waits for an inline device by letting it progress; it
//! waits for one that runs on its own in wall time, through [`Device::wait`], up to the
//! offload layer's timeout, and asks it to [`Device::stop`] before it takes back the
//! buffers of the jobs it gave up on.
//!
//! Implementations: [`SimulatedDevice`] (the software DPU of `dpukit_sim`, inline); in
//! [`crate::thread_device`] the kernels on a dedicated host thread (measured) and the
//! simulator paced on a thread of its own (modelled, its lag measured); and
//! [`crate::process::ProcessDevice`] (a program in another process, over shared memory);
//! and, with the `dpdk` feature, `crate::dpdk::DpdkDevice` (a DPDK compressdev queue pair).

#![forbid(unsafe_code)]

use crate::result::ResourceUse;
use dpukit_ffi::{Algorithm, DeviceQueue, Opcode};
use dpukit_sim::engine::{Engine, EngineError};
use dpukit_sim::profile::Profile;
use dpukit_sim::timing::SimTime;

/// How a device's completion times are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceClock {
    /// Stamped by a timing model; the device runs inline on the host's thread, and its own
    /// run time is not the host's.
    Modelled,
    /// Timed by the host's clock as the completions arrive.
    Measured,
}

/// What a device did in a run, for the result document.
#[derive(Debug, Clone, Default)]
pub struct DeviceReport {
    /// Busy time per resource: modelled for a modelled device, measured for a measured one
    /// (a host thread reports its own CPU time); empty where a device has none to report.
    pub resources: Vec<ResourceUse>,
    /// The device's last completion on its own clock, ns.
    pub makespan_ns: u64,
    pub descriptors: u64,
    pub error_completions: u64,
    pub injected_errors: u64,
    pub doorbells_seen: u64,
    pub doorbells_dropped: u64,
    pub below_min_efficient_size: u64,
    pub late_completions: u64,
    pub max_lag_ns: u64,
    /// A device on a host thread: how long that thread was runnable but waiting for a
    /// CPU (measured; `None` for other devices or where the kernel does not say).
    pub cpu_wait_ns: Option<u64>,
}

/// A device behind the offload layer's queue pair.
pub trait Device {
    /// What it is, for reports ("bluefield-2 (simulated)").
    fn name(&self) -> String;
    /// How its completion times are known.
    fn clock(&self) -> DeviceClock;
    /// Whether it runs `opcode` (with `algorithm` for compression). An op it does not run
    /// goes to the host CPU, counted and said so.
    fn supports(&self, opcode: Opcode, algorithm: Option<Algorithm>) -> bool;
    /// The host waits for completions at host time `now_ns` (or has just rung the
    /// doorbell): a device that runs on the host's thread does its work here; one that
    /// runs on its own needs nothing.
    fn progress(&mut self, now_ns: u64);
    /// Descriptors it has fetched and not yet answered: none while jobs are in flight
    /// means it has nothing left to give (the host then fails over after its timeout).
    fn pending(&self) -> usize;
    /// What it did so far.
    fn report(&self) -> DeviceReport;
    /// Whether it works on its own (another thread or process) rather than inside
    /// [`Device::progress`]. The host then waits for it in wall time, up to its timeout,
    /// instead of taking "nothing pending" as "nothing more will come".
    fn runs_on_its_own(&self) -> bool {
        false
    }
    /// Blocks until the device may have posted completions, or `timeout` has passed,
    /// whichever is first (only called for a device that runs on its own). The default
    /// yields the thread once.
    fn wait(&mut self, timeout: std::time::Duration) {
        let _ = timeout;
        std::thread::yield_now();
    }
    /// `Err(why)` once the device can no longer answer (its process exited, its thread
    /// ended): the host takes over at once instead of waiting for the timeout.
    fn health(&mut self) -> Result<(), String> {
        Ok(())
    }
    /// A modelled device: the time, ns, the host takes to run again after it waited
    /// `waited_ns` for a completion (blocked, and woken by the device), which the host
    /// clock then skips too. A measured device's completions are timed as the host sees
    /// them, wake-up included: 0.
    fn host_wake_ns(&self, waited_ns: u64) -> u64 {
        let _ = waited_ns;
        0
    }
    /// The host gives up on the device: after this returns, the device never reads or
    /// writes the host's buffers again (a thread is joined, a process is killed and
    /// reaped). Called once, before the host reruns the unfinished jobs on its CPU.
    fn stop(&mut self) {}
}

/// Which device serves each node's queue pair in offload mode (the command line's
/// `--device`). Scenarios never see this: they get an [`Offload`](crate::offload::Offload).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    /// The profile's simulated DPU, inline, with modelled times.
    #[default]
    Simulated,
    /// The kernels on a dedicated host thread per node (pinned when the machine allows),
    /// with measured times: a real asynchronous device to hold the model against.
    Thread,
    /// The profile's simulated DPU on a thread of its own, each completion held to its
    /// modelled time; modelled times, and the lag behind them measured.
    SimPaced,
    /// A program serving the queue pair from its own process over shared memory, with
    /// measured times (`process:CMD [ARGS]`, see [`crate::process`]).
    Process(crate::process::ProcessSpec),
    /// A DPDK compressdev queue pair per node (`dpdk:PMD`, feature `dpdk`, see
    /// [`crate::dpdk`]), with measured times.
    Dpdk(crate::dpdk::DpdkSpec),
}

impl DeviceChoice {
    /// The form `--device` takes, for reports and error messages.
    pub fn spec(&self) -> String {
        match self {
            DeviceChoice::Simulated => "sim".into(),
            DeviceChoice::Thread => "thread".into(),
            DeviceChoice::SimPaced => "sim-paced".into(),
            DeviceChoice::Process(p) => p.spec(),
            DeviceChoice::Dpdk(d) => d.spec(),
        }
    }
}

impl DeviceChoice {
    /// `Err(one line)` when this device cannot honour injected faults and some are asked
    /// for: `run_faults` (the run's options) or the profile's `[faults]`. Only the
    /// simulator injects faults (inline or paced); a measured device (a host thread, a
    /// device process) runs what it runs, and a run that asked for faults and silently got
    /// none would report a clean device as a faulty one's figures.
    pub fn check_faults(&self, profile: &Profile, run_faults: bool) -> Result<(), String> {
        if matches!(self, DeviceChoice::Simulated | DeviceChoice::SimPaced) {
            return Ok(());
        }
        let asked = if run_faults {
            "the run asks for injected faults".to_string()
        } else if profile.faults.is_some() {
            format!("profile `{}` has a [faults] section", profile.name)
        } else {
            return Ok(());
        };
        Err(format!(
            "--device {} injects no faults, and {asked}: only the simulator injects them \
             (--device sim or sim-paced); drop the faults or the --device",
            self.spec()
        ))
    }
}

impl std::str::FromStr for DeviceChoice {
    type Err = String;

    /// `sim` (the profile's simulated DPU), `thread` (the kernels on a dedicated host
    /// thread, measured), `sim-paced` (the simulator held to its modelled times) or
    /// `process:CMD [ARGS]` (a device process; `CMD` must name an executable file), or
    /// `dpdk:PMD` (a DPDK compressdev device; needs the `dpdk` feature).
    fn from_str(s: &str) -> Result<DeviceChoice, String> {
        if let Some(cmd) = s.trim().strip_prefix("process:") {
            return crate::process::ProcessSpec::parse(cmd).map(DeviceChoice::Process);
        }
        if let Some(pmd) = s.trim().strip_prefix("dpdk:") {
            if !cfg!(feature = "dpdk") {
                return Err(crate::dpdk::NOT_BUILT.into());
            }
            return crate::dpdk::DpdkSpec::parse(pmd).map(DeviceChoice::Dpdk);
        }
        match s.trim() {
            "sim" | "simulated" => Ok(DeviceChoice::Simulated),
            "thread" => Ok(DeviceChoice::Thread),
            "sim-paced" => Ok(DeviceChoice::SimPaced),
            other => Err(format!(
                "unknown device `{}`: expected `sim`, `thread`, `sim-paced`, `process:CMD [ARGS]` or `dpdk:PMD`",
                other.escape_debug()
            )),
        }
    }
}

/// A simulated resource's modelled busy time, as the result document holds it.
pub(crate) fn resource_use(r: &dpukit_sim::timing::ResourceStats) -> ResourceUse {
    ResourceUse {
        name: r.name.clone(),
        units: r.units,
        jobs: r.jobs,
        busy_ns: r.busy_ns,
        utilization: r.utilization,
    }
}

/// The software DPU: `dpukit_sim`'s engine with a profile's timing model, run inline on
/// the host's thread whenever the host rings or waits (as a DPU polling its queues would
/// fetch at the doorbell). Completion times are modelled.
pub struct SimulatedDevice {
    engine: Engine,
    profile: String,
}

impl SimulatedDevice {
    /// The simulator for `profile`, serving `queue`. A profile without a device is
    /// `EngineError::Model(ModelError::NoDevice)`.
    pub fn new(
        profile: &Profile,
        registry: dpukit_kernels::registry::Registry,
        cfg: dpukit_sim::engine::EngineConfig,
        queue: DeviceQueue,
    ) -> Result<SimulatedDevice, EngineError> {
        let mut engine = Engine::new(profile, registry, cfg)?;
        engine.attach(queue);
        Ok(SimulatedDevice { engine, profile: profile.name.clone() })
    }

    /// Runs `kernel` for a user opcode on the device, at the cost of the profile's
    /// `[[user_kernels]]` entry of its name (none, or no cores to run it: an error).
    pub fn bind_user_kernel(
        &mut self,
        opcode: u8,
        kernel: std::sync::Arc<dyn dpukit_kernels::registry::UserKernel>,
    ) -> Result<(), EngineError> {
        self.engine.bind_user_kernel(opcode, kernel)
    }
}

impl Device for SimulatedDevice {
    fn name(&self) -> String {
        format!("{} (simulated)", self.profile)
    }

    fn clock(&self) -> DeviceClock {
        DeviceClock::Modelled
    }

    fn supports(&self, opcode: Opcode, algorithm: Option<Algorithm>) -> bool {
        self.engine.supports(opcode, algorithm)
    }

    fn progress(&mut self, now_ns: u64) {
        self.engine.poll(SimTime::from_ns(now_ns));
    }

    fn host_wake_ns(&self, waited_ns: u64) -> u64 {
        self.engine.host_wake(dpukit_sim::timing::SimDuration::from_ns(waited_ns)).as_ns()
    }

    fn pending(&self) -> usize {
        self.engine.pending()
    }

    fn report(&self) -> DeviceReport {
        let s = self.engine.stats();
        DeviceReport {
            resources: self.engine.resource_stats().iter().map(resource_use).collect(),
            makespan_ns: self.engine.makespan().as_ns(),
            descriptors: s.descriptors,
            error_completions: s.errors(),
            injected_errors: s.injected_errors,
            doorbells_seen: s.doorbells_seen,
            doorbells_dropped: s.doorbells_dropped,
            below_min_efficient_size: s.below_min_efficient_size,
            late_completions: s.late_completions,
            max_lag_ns: s.max_lag_ns,
            cpu_wait_ns: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the simulator injects faults: a measured device given some (from the run or
    /// the profile) is refused, with where they came from; without any it is accepted.
    #[test]
    fn a_measured_device_refuses_faults_the_simulator_takes_them() {
        let clean = Profile::builtin("bluefield-2").unwrap();
        let mut faulty = clean.clone();
        faulty.faults = Some(Default::default());
        let process: DeviceChoice = "process:/bin/true".parse().unwrap();
        for device in [DeviceChoice::Thread, process] {
            let e = device.check_faults(&faulty, false).unwrap_err();
            assert!(e.contains("profile `bluefield-2` has a [faults] section"), "{e}");
            assert!(e.contains(&format!("--device {} injects no faults", device.spec())), "{e}");
            let e = device.check_faults(&clean, true).unwrap_err();
            assert!(e.contains("the run asks for injected faults"), "{e}");
            assert!(device.check_faults(&clean, false).is_ok());
        }
        for device in [DeviceChoice::Simulated, DeviceChoice::SimPaced] {
            assert!(device.check_faults(&faulty, true).is_ok());
        }
    }
}
