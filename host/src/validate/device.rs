//! The dedicated-thread device held against its model (`dpukit validate --device thread`):
//! fan-out write and fan-in read in offload mode on this machine, once with the kernels on
//! a dedicated host thread (`--device thread`, measured) and once with the simulator
//! running the `host-cores` profile that models that thread (modelled), side by side.
//!
//! Each round measures the device profile afresh (`dpukit calibrate --device-profile`,
//! unless a profile is given) between two passes of measured runs, and models every case
//! from it, so a machine that drifts moves both sides alike. A case passes when the mean
//! modelled throughput is within [`DEVICE_GOAL`] of the mean measured one. Every case
//! reports the spread of its measured runs (lowest and highest over the mean) and the
//! machine's load during them, so a miss can be told from a busy machine.
//!
//! One node per case: the model gives each node's device thread a core of its own, and on
//! a two-core machine two nodes' host and device threads would share two cores.

#![forbid(unsafe_code)]

use super::load::{LoadSum, Mark};
use super::Load;
use crate::calibrate::{device_profile, DeviceProfileOptions};
use crate::device::DeviceChoice;
use crate::report::fmt_rate;
use crate::result::Mode;
use crate::run::{run_scenario, RunError, RunOptions};
use crate::spec::{ScenarioKind, ScenarioSpec};
use dpukit_sim::profile::{Profile, ProfileKind};
use serde::Serialize;

/// Largest difference of the mean modelled throughput from the mean measured one.
pub const DEVICE_GOAL: f64 = 0.10;
/// The same for a DPDK compressdev device against its `on-cpu-accelerator` profile.
pub const DPDK_GOAL: f64 = 0.15;
/// The scenarios held against the model.
pub const DEVICE_SCENARIOS: [ScenarioKind; 2] = [ScenarioKind::FanOutWrite, ScenarioKind::FanInRead];

/// What to run.
#[derive(Clone)]
pub struct DeviceValidateOptions {
    /// The model's profile; `None` measures one each round.
    pub profile: Option<Profile>,
    pub rounds: usize,
    pub object_size_bytes: u64,
    pub chunk_size_bytes: u32,
    pub scenarios: Vec<ScenarioKind>,
    /// The measured device: `thread`, or (feature `dpdk`) a DPDK compressdev device, whose
    /// model is the `on-cpu-accelerator` profile `calibrate --device-profile --device
    /// dpdk:PMD` measures.
    pub device: DeviceChoice,
    /// The scenarios' compression (`None`: their default, none).
    pub compression: Option<crate::spec::CompressionSpec>,
    pub progress: Option<super::ProgressLine>,
}

impl Default for DeviceValidateOptions {
    fn default() -> Self {
        DeviceValidateOptions {
            profile: None,
            rounds: 3,
            object_size_bytes: 64 << 20,
            chunk_size_bytes: 1 << 20,
            scenarios: DEVICE_SCENARIOS.to_vec(),
            device: DeviceChoice::Thread,
            compression: None,
            progress: None,
        }
    }
}

/// One scenario's figures.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceCase {
    pub scenario: String,
    /// Throughput of each measured run, bytes/s (two per round).
    pub measured: Vec<f64>,
    /// Throughput modelled from each round's profile, bytes/s.
    pub modelled: Vec<f64>,
    pub measured_mean: f64,
    pub modelled_mean: f64,
    /// (modelled - measured) / measured.
    pub difference: f64,
    /// Lowest and highest measured run over their mean, minus one.
    pub spread_low: f64,
    pub spread_high: f64,
    /// The machine's load during the measured runs.
    pub load: Load,
    /// Where a chunk's time went in the measured runs and in the modelled ones.
    pub per_chunk: PerChunk,
    pub passed: bool,
}

/// One side's time per chunk, means over its runs, in ns.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ChunkTimes {
    /// The device's busy time: its own CPU time in polls that found work (measured
    /// device), or its resources' modelled busy time (the model).
    pub device_busy_ns: f64,
    /// A device on a host thread: its time runnable but waiting for a CPU, which the
    /// model (a core of its own) does not have (measured side only).
    pub device_cpu_wait_ns: f64,
    /// CPU time of the node's own thread (measured on both sides; the simulator's CPU
    /// is not in it).
    pub host_cpu_ns: f64,
    /// CPU time of the run's other threads: storage I/O, the blob copy (measured on both
    /// sides).
    pub background_cpu_ns: f64,
    /// Chunk bytes over the run's throughput: measured, or modelled.
    pub time_ns: f64,
}

/// The measured device's figures beside its model's, per chunk, so a miss points at the
/// stage it comes from (a device slower than its profile's rates, or a host side the
/// model does not see).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct PerChunk {
    pub measured: ChunkTimes,
    pub modelled: ChunkTimes,
}

/// Sums of [`ChunkTimes`] over runs, for their mean.
#[derive(Default)]
struct ChunkSum {
    sum: ChunkTimes,
    runs: u32,
}

impl ChunkSum {
    fn add(&mut self, r: &crate::result::RunResult, chunk_bytes: u64) {
        let chunks = r.ops.max(1) as f64;
        let secs = |name: &str| r.extra_figure(name).map_or(0.0, |f| f.value * 1e9);
        let busy: u64 = r.device.as_ref().map_or(0, |d| d.resources.iter().map(|x| x.busy_ns).sum());
        self.sum.device_busy_ns += busy as f64 / chunks;
        self.sum.device_cpu_wait_ns += secs("device_thread_cpu_wait") / chunks;
        self.sum.host_cpu_ns += secs("host_cpu_node_threads") / chunks;
        self.sum.background_cpu_ns += secs("host_cpu_background") / chunks;
        if r.throughput.value > 0.0 {
            self.sum.time_ns += chunk_bytes as f64 / r.throughput.value * 1e9;
        }
        self.runs += 1;
    }

    fn mean(&self) -> ChunkTimes {
        let n = f64::from(self.runs.max(1));
        ChunkTimes {
            device_busy_ns: self.sum.device_busy_ns / n,
            device_cpu_wait_ns: self.sum.device_cpu_wait_ns / n,
            host_cpu_ns: self.sum.host_cpu_ns / n,
            background_cpu_ns: self.sum.background_cpu_ns / n,
            time_ns: self.sum.time_ns / n,
        }
    }
}

/// The whole validation.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceValidation {
    pub device: String,
    /// Where the model's profile came from.
    pub profile_source: String,
    pub goal: f64,
    pub rounds: usize,
    pub cases: Vec<DeviceCase>,
    pub passed: bool,
}

/// Why the validation could not run.
#[derive(Debug, thiserror::Error)]
pub enum DeviceValidateError {
    #[error("profile `{0}` is not a host-cores profile: write one with `dpukit calibrate --device-profile OUT.toml`")]
    NotHostCores(String),
    #[error("rounds must be 1..=20, got {0}")]
    Rounds(usize),
    #[error("{case}: {source}")]
    Run {
        case: String,
        #[source]
        source: Box<RunError>,
    },
    #[error("{0}")]
    Calibration(String),
    #[error("{0}")]
    Spec(String),
}

fn spec_for(kind: ScenarioKind, opts: &DeviceValidateOptions) -> Result<ScenarioSpec, DeviceValidateError> {
    let mut s = ScenarioSpec::defaults(kind);
    s.nodes = 1;
    s.object_size_bytes = opts.object_size_bytes;
    s.chunk_size_bytes = opts.chunk_size_bytes;
    if opts.compression.is_some() {
        s.compression = opts.compression.clone();
    }
    s.validate().map_err(|e| DeviceValidateError::Spec(format!("{}: {e}", kind.name())))?;
    Ok(s)
}

/// The model's profile, measured now for the device under validation.
fn measure_profile(opts: &DeviceValidateOptions, spec: &ScenarioSpec) -> Result<String, DeviceValidateError> {
    let calibration = |e: crate::calibrate::CalibrationError| DeviceValidateError::Calibration(e.to_string());
    match &opts.device {
        #[cfg(feature = "dpdk")]
        DeviceChoice::Dpdk(d) => crate::calibrate::dpdk_device_profile(
            d,
            &crate::calibrate::DpdkProfileOptions {
                compressibility: spec.compressibility,
                chunk_bytes: opts.chunk_size_bytes as usize,
                level: spec.compression.as_ref().map_or(1, |c| c.level),
                ..Default::default()
            },
        )
        .map_err(calibration),
        _ => device_profile(&DeviceProfileOptions {
            compressibility: spec.compressibility,
            chunk_bytes: opts.chunk_size_bytes as usize,
            ..DeviceProfileOptions::default()
        })
        .map_err(calibration),
    }
}

/// Runs the validation.
pub fn validate_device(opts: &DeviceValidateOptions) -> Result<DeviceValidation, DeviceValidateError> {
    if opts.rounds == 0 || opts.rounds > 20 {
        return Err(DeviceValidateError::Rounds(opts.rounds));
    }
    let dpdk = matches!(opts.device, DeviceChoice::Dpdk(_));
    let goal = if dpdk { DPDK_GOAL } else { DEVICE_GOAL };
    if let Some(p) = &opts.profile {
        if !dpdk && p.kind != ProfileKind::HostCores {
            return Err(DeviceValidateError::NotHostCores(p.name.clone()));
        }
    }
    let specs: Vec<ScenarioSpec> =
        opts.scenarios.iter().map(|k| spec_for(*k, opts)).collect::<Result<_, _>>()?;
    let say = |line: &str| {
        if let Some(p) = &opts.progress {
            p(line)
        }
    };
    let thread = RunOptions { device: opts.device.clone(), ..RunOptions::default() };
    let device_flag = format!("--device {}", opts.device.spec());
    let sim = RunOptions { device: DeviceChoice::Simulated, ..RunOptions::default() };
    let mut measured: Vec<Vec<f64>> = vec![Vec::new(); specs.len()];
    let mut modelled: Vec<Vec<f64>> = vec![Vec::new(); specs.len()];
    let mut loads: Vec<LoadSum> = (0..specs.len()).map(|_| LoadSum::default()).collect();
    let mut chunk_meas: Vec<ChunkSum> = (0..specs.len()).map(|_| ChunkSum::default()).collect();
    let mut chunk_model: Vec<ChunkSum> = (0..specs.len()).map(|_| ChunkSum::default()).collect();
    let mut device = String::new();
    let run_err = |case: &str| {
        let case = case.to_string();
        move |source| DeviceValidateError::Run { case, source: Box::new(source) }
    };
    for round in 1..=opts.rounds {
        let measure_pass = |measured: &mut Vec<Vec<f64>>,
                            loads: &mut Vec<LoadSum>,
                            chunks: &mut Vec<ChunkSum>,
                            device: &mut String,
                            profile: &Profile| {
            for (i, spec) in specs.iter().enumerate() {
                let start = Mark::now();
                let r = run_scenario(spec, Mode::Offload, profile, &thread)
                    .map_err(run_err(&format!("{} {device_flag}", spec.kind.name())))?;
                loads[i].add(&start, &Mark::now());
                chunks[i].add(&r, u64::from(spec.chunk_size_bytes));
                if let Some(d) = &r.device {
                    *device = d.name.clone();
                }
                measured[i].push(r.throughput.value);
            }
            Ok::<(), DeviceValidateError>(())
        };
        let routing = match &opts.profile {
            Some(p) => p.clone(),
            None => Profile::builtin(crate::thread_device::THREAD_PROFILE)
                .map_err(|e| DeviceValidateError::Calibration(e.to_string()))?,
        };
        measure_pass(&mut measured, &mut loads, &mut chunk_meas, &mut device, &routing)?;
        let profile = match &opts.profile {
            Some(p) => p.clone(),
            None => {
                let text = measure_profile(opts, &specs[0])?;
                Profile::from_toml_str(&text, "measured device profile")
                    .map_err(|e| DeviceValidateError::Calibration(e.to_string()))?
            }
        };
        // The DPDK device is driven from a poller thread on a core of its own; its model (an
        // on-cpu-accelerator profile, which reserves nothing itself) leaves the host side the
        // same cores. A host-cores profile reserves its own (`crate::live`).
        let poller_core = if dpdk { crate::cores::reserve(1) } else { crate::cores::Reserved::none() };
        for (i, spec) in specs.iter().enumerate() {
            let r = run_scenario(spec, Mode::Offload, &profile, &sim)
                .map_err(run_err(&format!("{} modelled", spec.kind.name())))?;
            modelled[i].push(r.throughput.value);
            chunk_model[i].add(&r, u64::from(spec.chunk_size_bytes));
        }
        drop(poller_core);
        measure_pass(&mut measured, &mut loads, &mut chunk_meas, &mut device, &routing)?;
        for (i, spec) in specs.iter().enumerate() {
            let n = measured[i].len();
            say(&format!(
                "round {round}/{}: {}: measured {} and {} [meas], modelled {} [model]",
                opts.rounds,
                spec.kind.name(),
                fmt_rate(measured[i][n - 2]),
                fmt_rate(measured[i][n - 1]),
                fmt_rate(*modelled[i].last().unwrap_or(&0.0))
            ));
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let cases: Vec<DeviceCase> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let (meas, model) = (mean(&measured[i]), mean(&modelled[i]));
            let difference = if meas > 0.0 { (model - meas) / meas } else { f64::INFINITY };
            let lo = measured[i].iter().copied().fold(f64::INFINITY, f64::min);
            let hi = measured[i].iter().copied().fold(0.0, f64::max);
            DeviceCase {
                scenario: spec.kind.name().to_string(),
                measured: measured[i].clone(),
                modelled: modelled[i].clone(),
                measured_mean: meas,
                modelled_mean: model,
                difference,
                spread_low: if meas > 0.0 { lo / meas - 1.0 } else { 0.0 },
                spread_high: if meas > 0.0 { hi / meas - 1.0 } else { 0.0 },
                load: loads[i].load(),
                per_chunk: PerChunk { measured: chunk_meas[i].mean(), modelled: chunk_model[i].mean() },
                passed: difference.abs() <= goal,
            }
        })
        .collect();
    let passed = cases.iter().all(|c| c.passed);
    Ok(DeviceValidation {
        device,
        profile_source: match &opts.profile {
            Some(p) => format!("profile `{}`", p.name),
            None if dpdk => format!(
                "measured each round by `dpukit calibrate --device-profile --device {}`",
                opts.device.spec()
            ),
            None => "measured each round by the calibration of `dpukit calibrate --device-profile`".into(),
        },
        goal,
        rounds: opts.rounds,
        cases,
        passed,
    })
}

impl DeviceValidation {
    /// Both figures per scenario, their difference against the goal, the measured spread
    /// and the load.
    pub fn render_table(&self) -> String {
        let mut out = format!(
            "device {} [meas] vs its model, the simulator ({}) [model]\n",
            self.device, self.profile_source
        );
        for c in &self.cases {
            out.push_str(&format!(
                "{:<14} measured {} [meas] (runs {:+.1} % .. {:+.1} % of it)  modelled {} [model]  difference {:+.1} % ({} {:.0} %)\n    load during the measured runs: {}\n{}",
                c.scenario,
                fmt_rate(c.measured_mean),
                c.spread_low * 100.0,
                c.spread_high * 100.0,
                fmt_rate(c.modelled_mean),
                c.difference * 100.0,
                if c.passed { "within" } else { "OUTSIDE" },
                self.goal * 100.0,
                c.load.describe(),
                c.per_chunk.describe()
            ));
        }
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        if !self.passed && cpus <= 2 {
            out.push_str(&format!(
                "note: this process may use {cpus} CPUs: the device takes one (in the modelled runs too), and \
                 the run's own threads (node, storage I/O, blob copy) share the other, but not the kernel's \
                 work for them (file-system journal, fsync), which no process can keep off the device's core; \
                 TMPDIR=/dev/shm keeps the runs' tiers in memory, off the disk's journal\n"
            ));
        }
        out
    }
}

impl PerChunk {
    /// Two lines: the measured side's stages per chunk, then the model's.
    fn describe(&self) -> String {
        let us = |ns: f64| format!("{:.0} us", ns / 1e3);
        let (m, d) = (&self.measured, &self.modelled);
        let pct =
            |a: f64, b: f64| if b > 0.0 { format!("{:+.1} %", (a / b - 1.0) * 100.0) } else { "-".into() };
        format!(
            "    per chunk: device busy {} [meas] vs {} [model] (model {}), device waiting for a CPU {} [meas]; \
             node thread CPU {} vs {}; background CPU {} vs {} [meas, measured and modelled runs]; \
             time {} [meas] vs {} [model]\n",
            us(m.device_busy_ns),
            us(d.device_busy_ns),
            pct(d.device_busy_ns, m.device_busy_ns),
            us(m.device_cpu_wait_ns),
            us(m.host_cpu_ns),
            us(d.host_cpu_ns),
            us(m.background_cpu_ns),
            us(d.background_cpu_ns),
            us(m.time_ns),
            us(d.time_ns),
        )
    }
}
