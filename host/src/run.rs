//! Entry points: run one scenario in one mode, or compare host and offload on the same
//! seed. The command line and the tests call these; everything else is below them.

#![forbid(unsafe_code)]

use crate::cluster::{Cluster, ClusterError, InProcess};
use crate::offload::OffloadError;
use crate::result::{Comparison, Figure, Mode, RunResult, Source, Unit, RESULT_SCHEMA_VERSION};
use crate::spec::{ScenarioSpec, SpecError};
use crate::tier::TierError;
use dpukit_kernels::KernelError;
use dpukit_sim::profile::Profile;
use std::sync::Arc;

/// Progress of a run, reported a few times a second at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub mode: Mode,
    /// Payload bytes done so far and in total.
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// A progress callback.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// How to run (besides the scenario itself).
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Called with progress; `None` for none.
    pub progress: Option<ProgressFn>,
    /// Faults to inject into every simulated device (overrides the profile's `[faults]`).
    pub faults: Option<dpukit_sim::profile::FaultConfig>,
    /// Fault injection for fan-out read: after the cold pass, flip one byte in this many
    /// chunks of each node's cache on the local tier. The warm pass must detect them,
    /// report them and refetch.
    pub corrupt_cached_chunks: u64,
    /// Fan-out write: called by the blob copier after each finished upload (tests use it
    /// to stop the blob service at a known point of the copy); see [`crate::tier::CopyObserver`].
    pub copy_observer: Option<crate::tier::CopyObserver>,
    /// The local tier's I/O engine (fio's `ioengine`); the result says which one ran.
    pub io_engine: crate::tier::IoEngine,
    /// Latency percentiles to report (fio's `percentile_list`, 0..=100); `None`:
    /// [`crate::result::DEFAULT_PERCENTILES`].
    pub percentiles: Option<Vec<f64>>,
    /// Timeline interval (`--log-interval`) on each node's clock; 0: no timeline.
    pub log_interval_ns: u64,
    /// The device serving each node's queue pair in offload mode (`--device`).
    pub device: crate::device::DeviceChoice,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("progress", &self.progress.is_some())
            .field("faults", &self.faults)
            .field("corrupt_cached_chunks", &self.corrupt_cached_chunks)
            .field("copy_observer", &self.copy_observer.is_some())
            .field("io_engine", &self.io_engine)
            .field("percentiles", &self.percentiles)
            .field("log_interval_ns", &self.log_interval_ns)
            .field("device", &self.device)
            .finish()
    }
}

/// Why a run could not be done (bad input, I/O failure, device setup).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("profile `{profile}`: {reason}")]
    Profile { profile: String, reason: String },
    /// A storage tier (local tier, manifest, blob tier) failed.
    #[error(transparent)]
    Tier(#[from] TierError),
    /// The background copy to the blob tier could not take a chunk or did not finish.
    #[error("{0}")]
    Copy(String),
    /// The objects a read scenario reads were not there to read.
    #[error("{0}")]
    Published(String),
    /// The offload layer or its device failed.
    #[error(transparent)]
    Offload(#[from] OffloadError),
    /// A kernel refused its arguments outside a job (a cache index, a location, publishing).
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// A chunk's jobs did not run as its scenario defines them (a job lost, a stage failed).
    #[error("{0}")]
    Job(String),
    /// A node thread could not start or ended in a panic.
    #[error("{0}")]
    Node(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A file or directory that is there but is not what the run needs.
    #[error("{path}: {reason}")]
    NotUsable { path: String, reason: String },
    #[error("cluster: {0}")]
    Cluster(ClusterError),
    /// The scenario's plugin cannot be loaded or run on the profile.
    #[error(transparent)]
    Plugin(#[from] crate::plugin::PluginError),
    /// The options ask for what the chosen device cannot do (faults of a measured device).
    #[error("{0}")]
    Unsupported(String),
}

/// Refuses, before anything runs, an offload run whose device cannot honour its options.
fn check_device(mode: Mode, profile: &Profile, opts: &RunOptions) -> Result<(), RunError> {
    if mode == Mode::Offload {
        opts.device.check_faults(profile, opts.faults.is_some()).map_err(RunError::Unsupported)?;
    }
    Ok(())
}

/// Runs `spec` in `mode` against `profile` (ignored in host mode except for its name),
/// every node a thread of this process.
pub fn run_scenario(
    spec: &ScenarioSpec,
    mode: Mode,
    profile: &Profile,
    opts: &RunOptions,
) -> Result<RunResult, RunError> {
    run_scenario_on(&InProcess, spec, mode, profile, opts)?
        .ok_or_else(|| RunError::Cluster(ClusterError("a one-process run produced no result".into())))
}

/// Runs `spec` with its nodes spread over `cluster`'s processes (under MPI: one node per
/// rank; every rank calls this). The leader (rank 0) gets the result of all nodes; the
/// others get `None`.
pub fn run_scenario_on(
    cluster: &dyn Cluster,
    spec: &ScenarioSpec,
    mode: Mode,
    profile: &Profile,
    opts: &RunOptions,
) -> Result<Option<RunResult>, RunError> {
    spec.validate()?;
    check_device(mode, profile, opts)?;
    crate::live::run(spec, mode, profile, opts, cluster)
}

/// Runs host mode then offload mode on the same seed and puts them side by side.
pub fn compare(spec: &ScenarioSpec, profile: &Profile, opts: &RunOptions) -> Result<Comparison, RunError> {
    compare_on(&InProcess, spec, profile, opts)?
        .ok_or_else(|| RunError::Cluster(ClusterError("a one-process run produced no result".into())))
}

/// [`compare`] over `cluster`: host mode on every process, a barrier, then offload mode;
/// the leader gets the comparison, the others `None`.
pub fn compare_on(
    cluster: &dyn Cluster,
    spec: &ScenarioSpec,
    profile: &Profile,
    opts: &RunOptions,
) -> Result<Option<Comparison>, RunError> {
    // A plugin the offload run would refuse is refused before the host run.
    spec.validate()?;
    check_device(Mode::Offload, profile, opts)?;
    crate::plugin::prepare(spec, Mode::Offload, profile)?;
    let host = run_scenario_on(cluster, spec, Mode::Host, profile, opts)?;
    cluster.barrier().map_err(RunError::Cluster)?;
    let offload = run_scenario_on(cluster, spec, Mode::Offload, profile, opts)?;
    Ok(host.zip(offload).map(|(h, o)| comparison(h, o)))
}

/// Builds the side-by-side record from two runs of the same scenario and seed.
pub fn comparison(host: RunResult, offload: RunResult) -> Comparison {
    let equivalent = host.extra_figure("manifest_digest").map(|f| f.value)
        == offload.extra_figure("manifest_digest").map(|f| f.value)
        && host.verification.ok
        && offload.verification.ok;
    // Cores freed at the offload run's throughput: (host ns/B - offload ns/B) x B/s / 1e9.
    let freed = (host.host_cpu_ns_per_byte.value - offload.host_cpu_ns_per_byte.value)
        * offload.throughput.value
        / 1e9;
    let speedup =
        if host.throughput.value > 0.0 { offload.throughput.value / host.throughput.value } else { 0.0 };
    let speedup_over_runs = crate::repeat::speedup_over_runs(&host, &offload);
    // A ratio of two measured figures (a device whose times are measured) is measured.
    let source =
        if offload.throughput.source == Source::Measured && host.throughput.source == Source::Measured {
            Source::Measured
        } else {
            Source::Modelled
        };
    Comparison {
        schema_version: RESULT_SCHEMA_VERSION,
        host,
        offload,
        equivalent,
        host_cores_freed: Figure { source, ..Figure::modelled(freed, Unit::Cores) },
        speedup: Figure { source, ..Figure::modelled(speedup, Unit::Ratio) },
        sensitivity: None,
        speedup_over_runs,
    }
}
