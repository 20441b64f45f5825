//! The result of one run: a stable, versioned JSON document (schema in
//! `docs/result-schema.json`, described in `docs/RESULTS.md`).
//!
//! Every number a person reads is a [`Figure`]: a value, its unit and its [`Source`]:
//! `measured` on this machine, or `modelled` by the simulator. Reports render the source
//! next to the number; nothing modelled is ever shown as measured.

#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};

/// Version of the result schema; bump on any incompatible change.
pub const RESULT_SCHEMA_VERSION: u32 = 1;

/// Where a figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Measured on this machine during the run.
    Measured,
    /// Computed by the simulator's timing model from the hardware profile.
    Modelled,
}

impl Source {
    pub fn tag(self) -> &'static str {
        match self {
            Source::Measured => "measured",
            Source::Modelled => "modelled",
        }
    }
}

/// A number with its unit and source.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub value: f64,
    pub unit: Unit,
    pub source: Source,
    /// Measured against an emulator of the blob service (Azurite, an S3 emulator): says
    /// nothing of the real service's speed. Written only when true.
    #[serde(default, skip_serializing_if = "is_false")]
    pub emulator: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Figure {
    pub fn measured(value: f64, unit: Unit) -> Figure {
        Figure { value, unit, source: Source::Measured, emulator: false }
    }
    pub fn modelled(value: f64, unit: Unit) -> Figure {
        Figure { value, unit, source: Source::Modelled, emulator: false }
    }
    /// The same figure, labelled as measured against the emulator when `emulator`.
    pub fn on_emulator(self, emulator: bool) -> Figure {
        Figure { emulator: self.emulator || emulator, ..self }
    }
}

/// Units used in results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Bytes,
    BytesPerSecond,
    OpsPerSecond,
    Nanoseconds,
    Seconds,
    NanosecondsPerByte,
    Ratio,
    Cores,
    Count,
}

/// The run mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The host CPU runs every kernel.
    Host,
    /// Kernels go to the simulated DPU through queue pairs.
    Offload,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Host => "host",
            Mode::Offload => "offload",
        }
    }
}

/// Latency percentiles of one stage (or end to end).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Stage name: `end_to_end`, `checksum`, `compress`, `local_write`, `device`, ...
    pub stage: String,
    pub source: Source,
    pub count: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    pub max_ns: u64,
    pub mean_ns: f64,
    /// Smallest value and standard deviation (written since provenance; 0 in older results).
    #[serde(default)]
    pub min_ns: u64,
    #[serde(default)]
    pub stdev_ns: f64,
    /// The percentiles asked for (fio's `--percentile_list`; [`DEFAULT_PERCENTILES`]
    /// unless given), ascending.
    #[serde(default)]
    pub percentiles: Vec<Percentile>,
    /// Timed against the Azure Storage emulator (see [`Figure::emulator`]).
    #[serde(default, skip_serializing_if = "is_false")]
    pub emulator: bool,
    /// Points of the cumulative distribution, (latency ns, fraction <= it), ascending;
    /// at most a few hundred points, for charts.
    pub cdf: Vec<(u64, f64)>,
}

/// One point of a latency distribution: the value at or below which `percentile` % of
/// the samples lie.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentile {
    pub percentile: f64,
    pub ns: u64,
}

/// fio's default `percentile_list`.
pub const DEFAULT_PERCENTILES: &[f64] =
    &[1.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99];

/// Most entries of a percentile list (fio's limit).
pub const MAX_PERCENTILES: usize = 20;

/// Why a percentile list was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PercentileListError {
    #[error("`{0}` is not a number")]
    NotANumber(String),
    #[error("{0} is outside 0..=100")]
    OutOfRange(f64),
    #[error("{0} entries, at most {MAX_PERCENTILES}")]
    TooMany(usize),
    #[error("the list is empty")]
    Empty,
}

/// Parses fio's `percentile_list` syntax: percentiles separated by `:` (`50:99:99.9`),
/// each in 0..=100; returns them ascending, without duplicates.
pub fn parse_percentile_list(text: &str) -> Result<Vec<f64>, PercentileListError> {
    let mut v = Vec::new();
    for part in text.split(':').map(str::trim).filter(|p| !p.is_empty()) {
        let p: f64 = part.parse().map_err(|_| PercentileListError::NotANumber(part.to_owned()))?;
        if !(0.0..=100.0).contains(&p) {
            return Err(PercentileListError::OutOfRange(p));
        }
        v.push(p);
    }
    if v.is_empty() {
        return Err(PercentileListError::Empty);
    }
    if v.len() > MAX_PERCENTILES {
        return Err(PercentileListError::TooMany(v.len()));
    }
    v.sort_by(f64::total_cmp);
    v.dedup();
    Ok(v)
}

/// One modelled device resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceUse {
    pub name: String,
    pub units: u32,
    pub jobs: u64,
    pub busy_ns: u64,
    /// Busy time over (units x window), 0..=1. Modelled, or measured for a device whose
    /// figures are ([`DeviceSummary::modelled`]): a device on a host thread reports its own
    /// CPU time in polls that found work over its active window.
    pub utilization: f64,
}

/// Results older than [`DeviceSummary::modelled`] came from the simulator.
fn modelled_by_default() -> bool {
    true
}

/// What the devices did (offload mode only). Figures are modelled when `modelled` (the
/// simulator; its lag behind the model is measured) and measured otherwise (a device on a
/// host thread: its busy time, utilization and makespan are its own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceSummary {
    pub profile: String,
    /// The device that served the queue pairs ("bluefield-2 (simulated)"); empty in
    /// results older than this field.
    #[serde(default)]
    pub name: String,
    /// Its figures came from a timing model (else the host measured them).
    #[serde(default = "modelled_by_default")]
    pub modelled: bool,
    pub devices: u32,
    /// Modelled time from the first doorbell to the last completion, slowest device.
    pub makespan_ns: u64,
    /// Per resource, summed over devices (utilization is the mean over devices).
    pub resources: Vec<ResourceUse>,
    /// The resource with the highest utilization.
    pub bottleneck: Option<String>,
    pub descriptors: u64,
    pub error_completions: u64,
    pub injected_errors: u64,
    pub doorbells_dropped: u64,
    /// Ops below their engine's minimum efficient size.
    pub below_min_efficient_size: u64,
    /// Completions posted later than their modelled time (`--device sim-paced`, which holds
    /// each to its modelled time on a thread of its own; 0 for the others).
    pub late_completions: u64,
    pub max_lag_ns: u64,
}

/// Work the data path ran on the CPU instead of the device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fallbacks {
    /// Ops the device cannot run (no engine, no cores for them): run on the host.
    pub unsupported_ops: u64,
    /// Ops retried on the host after an error completion from the device.
    pub after_device_error: u64,
    /// Ops run on the host because the device was given up (it stopped answering within
    /// the timeout, answered what it was not asked, or its process or thread ended): those
    /// in flight then, and every later one.
    pub after_timeout: u64,
    /// Human-readable reasons, deduplicated.
    pub reasons: Vec<String>,
}

impl Fallbacks {
    pub fn total(&self) -> u64 {
        self.unsupported_ops + self.after_device_error + self.after_timeout
    }
}

/// Outcome of reading back and checking what the run produced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub chunks_checked: u64,
    pub bytes_checked: u64,
    pub corrupt_detected: u64,
    pub refetched: u64,
    pub failures: Vec<String>,
    pub ok: bool,
}

/// Facts about the machine the run was measured on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineInfo {
    pub cpu_model: String,
    pub logical_cpus: u32,
    pub os: String,
}

/// One run, host or offload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub schema_version: u32,
    pub kit_version: String,
    pub scenario: crate::spec::ScenarioSpec,
    pub profile: String,
    pub mode: Mode,
    pub seed: u64,
    pub machine: MachineInfo,
    /// Payload bytes the scenario moved (logical, uncompressed).
    pub bytes: u64,
    /// Chunk operations.
    pub ops: u64,
    /// Wall time of the run on this machine (includes simulator overhead in offload mode).
    pub wall: Figure,
    /// End-to-end throughput: measured in host mode; in offload mode modelled from the
    /// measured host-side time and the modelled device time (see docs/RESULTS.md).
    pub throughput: Figure,
    pub ops_per_s: Figure,
    /// Host CPU seconds spent on the data path (user + system, all data-path threads).
    pub host_cpu: Figure,
    pub host_cpu_ns_per_byte: Figure,
    /// Host CPU seconds per wall second: how many cores the data path kept busy.
    pub host_cores_busy: Figure,
    pub latency: Vec<LatencySummary>,
    pub device: Option<DeviceSummary>,
    pub fallbacks: Fallbacks,
    pub verification: Verification,
    /// Scenario-specific figures (hit ratio, compression ratio, egress bytes...).
    pub extra: Vec<(String, Figure)>,
    pub notes: Vec<String>,
    /// Which blob tier the run used (kind, emulator or not, endpoint; no secrets); `None`
    /// when the scenario does not touch one.
    #[serde(default)]
    pub blob_tier: Option<crate::tier::BlobTierInfo>,
    /// Live runs: each node's time and the spread across nodes (absent in scale mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_node: Option<PerNode>,
    /// What produced the result (start time, command line, build, machine, I/O engine,
    /// hashes of the profile and calibration); absent only in results older than it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<crate::provenance::Provenance>,
    /// With `--repeat N`: every repetition's figures and their spread; the rest of this
    /// result is the repetition of median throughput.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeats: Option<Repeats>,
    /// With `--log-interval`: what the run did in each interval, per node and in total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Timeline>,
}

/// A run over time, in fixed intervals of each node's clock from the start of its timed
/// phase: the wall clock in host mode (`measured`), the node's host clock in offload mode
/// (measured host time plus modelled device waits: `modelled`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    pub interval_ns: u64,
    /// Where the clock the intervals follow comes from.
    pub clock: Source,
    /// Intervals summed over nodes; latency percentiles over every chunk of the interval.
    pub total: Vec<Interval>,
    pub nodes: Vec<NodeTimeline>,
}

/// One node's intervals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeTimeline {
    pub node: u32,
    pub intervals: Vec<Interval>,
}

/// What finished in one interval: chunks that completed in it, their bytes and end-to-end
/// latency, and the CPU time the node threads spent up to the completion that closed it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Start of the interval from the start of the timed phase.
    pub start_ns: u64,
    pub bytes: u64,
    pub ops: u64,
    /// 0 when no chunk completed in the interval.
    pub latency_p50_ns: u64,
    pub latency_p99_ns: u64,
    pub host_cpu_ns: u64,
}

/// The same run repeated on the same seed, each time with fresh state (a new run
/// directory and blob tier part, new devices and caches).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repeats {
    pub count: u32,
    /// Which repetition (0-based) the result's own figures are: the one of median throughput.
    pub median_run: u32,
    pub figures: Vec<RepeatedFigure>,
}

/// One figure over every repetition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatedFigure {
    /// `throughput`, `latency_p99`, ... (the field's name).
    pub name: String,
    pub unit: Unit,
    pub source: Source,
    /// Each repetition's value, in run order.
    pub values: Vec<f64>,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// (max - min) / median; 0 when the median is 0.
    pub spread: f64,
}

impl RepeatedFigure {
    /// The figure over `values` (at least one).
    pub fn of(name: &str, unit: Unit, source: Source, values: Vec<f64>) -> RepeatedFigure {
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n == 0 {
            0.0
        } else if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        let min = sorted.first().copied().unwrap_or(0.0);
        let max = sorted.last().copied().unwrap_or(0.0);
        let spread = if median != 0.0 { (max - min) / median } else { 0.0 };
        RepeatedFigure { name: name.to_owned(), unit, source, values, median, min, max, spread }
    }
}

/// How the nodes of a live run compare: each node's bytes and elapsed time (from the
/// barrier that starts the timed phase to its last chunk), the minimum, median and maximum
/// and the stragglers. Throughput is total bytes over the slowest node's time, so the
/// stragglers are the nodes that set it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerNode {
    /// `threads`: every node a thread of one process; `mpi`: one node per MPI rank.
    pub transport: String,
    /// Processes the nodes ran in (MPI ranks; 1 for threads).
    pub processes: u32,
    pub elapsed_min: Figure,
    pub elapsed_median: Figure,
    pub elapsed_max: Figure,
    /// Nodes whose elapsed time exceeds the median by more than [`STRAGGLER_FACTOR`].
    pub stragglers: Vec<u32>,
    pub nodes: Vec<NodeTime>,
}

/// A node slower than the median by more than this factor is a straggler.
pub const STRAGGLER_FACTOR: f64 = 1.10;

/// One node of a live run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeTime {
    /// Node index (the MPI rank under MPI).
    pub node: u32,
    /// Host name of the machine the node ran on.
    pub host: String,
    /// Payload bytes this node moved.
    pub bytes: u64,
    pub elapsed: Figure,
}

impl RunResult {
    /// The latency summary of a stage.
    pub fn latency_of(&self, stage: &str) -> Option<&LatencySummary> {
        self.latency.iter().find(|l| l.stage == stage)
    }

    /// A scenario-specific figure by name.
    pub fn extra_figure(&self, name: &str) -> Option<Figure> {
        self.extra.iter().find(|(n, _)| n == name).map(|(_, f)| *f)
    }
}

/// Host vs offload on the same seed: what `dpukit compare` writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub schema_version: u32,
    pub host: RunResult,
    pub offload: RunResult,
    /// Whether both runs produced identical manifests (chunks, checksums, stored bytes).
    pub equivalent: bool,
    /// Host cores freed by offloading: measured host-mode CPU per byte minus the
    /// offload-mode figure, times the offload throughput. A mix of measured and
    /// modelled inputs, so marked modelled.
    pub host_cores_freed: Figure,
    pub speedup: Figure,
    /// How the headline figures move when one profile figure at a time is perturbed
    /// (`--sensitivity`); absent when not computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitivity: Option<crate::sensitivity::Sensitivity>,
    /// With `--repeat N`: the speedup of each host/offload pair of repetitions and its range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speedup_over_runs: Option<RepeatedFigure>,
}
