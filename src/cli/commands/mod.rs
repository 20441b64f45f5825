//! The commands: each builds its inputs from the arguments, calls the library, writes
//! the result files and prints a table. Inputs are checked (scenario, profile, output
//! path) before any run starts, so a typo fails in milliseconds, not after the run.
//!
//! One file per command family: `run`, `compare` (and its sensitivity), `sweep`, `validate`,
//! and `info` (calibrate, copy, presets, profiles, report); what they share is here.

mod accel;
mod compare;
mod info;
mod run;
mod sweep;
mod validate;

use super::args::{
    Cli, Command, DeviceArgs, IoEngineArg, Knobs, ModeArg, OutputArgs, OutputFormat, RepeatArgs, ScaleArgs,
    SweepTarget,
};
use super::knobs::{base_spec, parse_duration_ms};
use super::progress::Reporter;
use crate::cli::commands::compare::compare_cmd;
use crate::cli::commands::info::{calibrate_cmd, copy_cmd, presets, profiles, report_cmd};
use crate::cli::commands::run::run;
use crate::cli::commands::sweep::sweep;
use crate::cli::commands::validate::validate_cmd;
use anyhow::{anyhow, bail, Context, Result};
use dpukit_host::calibrate::{calibrate, CalibrateOptions, Calibration, CodecPlan};
use dpukit_host::cluster::launched_by_mpi;
use dpukit_host::device::DeviceChoice;
use dpukit_host::provenance::{sha256_hex, sha256_of_file, Provenance};
use dpukit_host::repeat::{combine, parse_repeat};
use dpukit_host::report::{self};
use dpukit_host::result::{parse_percentile_list, Mode, RunResult};
use dpukit_host::run::{run_scenario, RunOptions};
use dpukit_host::scale::{ClusterSpec, ScaleOptions};
use dpukit_host::spec::ScenarioSpec;
use dpukit_host::tier::IoEngine;
use dpukit_sim::profile::Profile;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

const DEFAULT_PROFILE: &str = "bluefield-2";

pub fn dispatch(cli: Cli) -> Result<()> {
    let quiet = cli.quiet;
    if launched_by_mpi()
        && matches!(
            cli.command,
            Command::Sweep(_) | Command::Calibrate(_) | Command::Validate(_) | Command::Accel(_)
        )
    {
        bail!(
            "started by an MPI launcher: only `run` and `compare` run one node per rank; \
             run sweep, accel, calibrate and validate in one process"
        );
    }
    match cli.command {
        Command::Run(a) => run(a, quiet),
        Command::Compare(a) => compare_cmd(a, quiet),
        Command::Sweep(a) => match a.target {
            Some(SweepTarget::Accel(acc)) => accel::accel_sweep_cmd(*acc, quiet),
            None => sweep(a, quiet),
        },
        Command::Accel(a) => accel::accel_cmd(a, quiet),
        Command::Calibrate(a) => calibrate_cmd(a, quiet),
        Command::Validate(a) => validate_cmd(a, quiet),
        Command::Profiles { action } => profiles(action),
        Command::Presets => presets(),
        Command::Report(a) => report_cmd(a),
        Command::Copy(a) => copy_cmd(a, quiet),
    }
}

/// Writes to stdout; a closed pipe comes back as an error the caller treats as success.
fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

fn status(quiet: bool, line: &str) {
    if !quiet {
        eprintln!("dpukit: {line}");
    }
}

/// A shipped profile by name, or a profile file; an unknown name lists the shipped ones.
fn load_profile(name: Option<&str>) -> Result<Profile> {
    let name = name.unwrap_or(DEFAULT_PROFILE);
    let looks_like_path = name.contains('/') || name.ends_with(".toml") || Path::new(name).exists();
    if !looks_like_path && !Profile::builtin_names().any(|n| n == name) {
        let shipped: Vec<&str> = Profile::builtin_names().collect();
        bail!(
            "unknown profile `{name}` (shipped: {}; or give a path to a profile TOML file)",
            shipped.join(", ")
        );
    }
    Profile::load(name).map_err(|e| anyhow!("profile: {e}"))
}

/// SHA-256 of a profile's TOML: the shipped text for a shipped name, else the file's bytes.
fn profile_sha256(name: Option<&str>) -> Option<String> {
    let name = name.unwrap_or(DEFAULT_PROFILE);
    match Profile::builtin_toml(name) {
        Some(text) if !Path::new(name).exists() => Some(sha256_hex(text.as_bytes())),
        _ => sha256_of_file(Path::new(name)),
    }
}

/// What the command line alone knows of a result's provenance: when the command started,
/// how it was invoked, and the hashes of the files it read.
struct Stamp {
    started: SystemTime,
    command_line: Vec<String>,
    calibration_sha256: Option<String>,
}

impl Stamp {
    fn new(calibration: Option<&Path>) -> Stamp {
        Stamp {
            started: SystemTime::now(),
            command_line: std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect(),
            calibration_sha256: calibration.and_then(sha256_of_file),
        }
    }

    /// Completes `result`'s provenance (a modelled run gets one here: it has no local
    /// tier or work dir to record).
    fn apply(&self, result: &mut RunResult, profile: Option<&str>) {
        let p = result.provenance.get_or_insert_with(|| Provenance::collect(self.started, &result.profile));
        p.command_line = self.command_line.clone();
        p.profile_sha256 = profile_sha256(profile);
        p.calibration_sha256 = self.calibration_sha256.clone();
    }
}

/// The repeat count of the flags; more than one is refused in scale mode, whose model
/// gives the same result for the same seed every time.
fn repeats(r: &RepeatArgs, scale: bool) -> Result<u32> {
    let Some(text) = &r.repeat else { return Ok(1) };
    let n = parse_repeat(text).map_err(|e| anyhow!("--repeat {e}"))?;
    if scale && n > 1 {
        bail!("--repeat {n}: scale mode is deterministic, the same seed gives the same result every time; drop --repeat or --scale");
    }
    Ok(n)
}

/// Runs `spec` `n` times and combines the runs (see `repeat::combine`); the progress
/// label says which repetition is running.
fn run_repeated(
    spec: &ScenarioSpec,
    mode: Mode,
    profile: &Profile,
    opts: &RunOptions,
    n: u32,
    reporter: &Reporter,
    label: &str,
) -> Result<RunResult> {
    let mut runs = Vec::new();
    for i in 0..n {
        if n > 1 {
            reporter.set_label(format!("{label}repetition {}/{n}", i + 1));
        }
        let r = run_scenario(spec, mode, profile, opts);
        runs.push(r.map_err(|e| {
            reporter.finish();
            let rep = if n > 1 { format!(" (repetition {}/{n})", i + 1) } else { String::new() };
            let hint = full_disk_hint(&e.to_string(), spec, Some(mode));
            anyhow!("{label}{} run of {} failed{rep}: {e}{hint}", mode.name(), spec.kind.name())
        })?);
    }
    Ok(combine(runs))
}

/// After a run failed for lack of space: what is left in the work dir and how to go on.
/// Empty for any other failure.
/// `mode`: the run that failed (`None`: one of a comparison's two).
fn full_disk_hint(error: &str, spec: &ScenarioSpec, mode: Option<Mode>) -> String {
    if !(error.contains("os error 28") || error.contains("No space left on device")) {
        return String::new();
    }
    match &spec.work_dir {
        Some(d) => {
            let run_dir = match mode {
                Some(m) => d.join(format!("{}-{}", spec.kind.name(), m.name())).display().to_string(),
                None => format!("{0}/{1}-host and {0}/{1}-offload", d.display(), spec.kind.name()),
            };
            let copy = if spec.kind == dpukit_host::spec::ScenarioKind::FanOutWrite {
                format!("; its acknowledged chunks are durable there: `dpukit copy --work-dir {}` uploads those not yet copied", d.display())
            } else {
                String::new()
            };
            format!(
                " (the disk under --work-dir is full; the run's files are in {}{copy}; free space and run again                  (the run starts that directory afresh), or remove it to clean up)",
                run_dir
            )
        }
        None => {
            " (the disk of the temporary work dir is full; it was removed; give --work-dir on a larger disk)"
                .into()
        }
    }
}

/// One run's result on stdout in the asked format.
fn print_run(result: &RunResult, format: OutputFormat) -> Result<()> {
    print(&match format {
        OutputFormat::Table => report::render_run_table(result),
        OutputFormat::Json => json_text(serde_json::to_string_pretty(result))?,
        OutputFormat::Csv => report::render_csv([result]),
    })
}

/// The percentile list of the flags (fio's syntax); refused in scale mode, whose latencies
/// are per node and keep the default list.
fn percentiles(o: &OutputArgs, scale: bool) -> Result<Option<Vec<f64>>> {
    let Some(text) = &o.percentile_list else { return Ok(None) };
    if scale {
        bail!("--percentile-list: scale mode reports its modelled latencies at the default percentiles; drop --percentile-list or --scale");
    }
    parse_percentile_list(text).map(Some).map_err(|e| anyhow!("--percentile-list {text}: {e}"))
}

/// The timeline interval of the flags in ns (0: none), 1 ms..=1 h; refused in scale mode.
fn log_interval_ns(o: &OutputArgs, scale: bool) -> Result<u64> {
    let Some(text) = &o.log_interval else { return Ok(0) };
    if scale {
        bail!("--log-interval: scale mode models the run as events and records no timeline; drop --log-interval or --scale");
    }
    let ms = parse_duration_ms(text).map_err(|e| anyhow!("--log-interval: {e}"))?;
    if !(1..=3_600_000).contains(&ms) {
        bail!("--log-interval {text}: must be 1ms..=1h");
    }
    Ok(ms * 1_000_000)
}

/// Where a run's timeline CSV goes: beside the JSON, `NAME.timeline.csv`.
fn timeline_path(out: &Path) -> PathBuf {
    out.with_extension("timeline.csv")
}

/// The run options the knobs and output flags set, each checked (scale mode refuses those
/// it cannot honour); a command adds its progress callback.
fn run_options(knobs: &Knobs, output: &OutputArgs, scale: bool) -> Result<RunOptions> {
    let device = device_choice(&knobs.device, scale)?;
    // A measured device cannot inject the profile's faults: refused, not ignored. (A
    // profile that does not load fails later with its own message.)
    if let Some(Ok(profile)) = knobs.profile.as_deref().map(|p| load_profile(Some(p))) {
        device.check_faults(&profile, false).map_err(|e| anyhow::Error::new(crate::cli::Usage(e)))?;
    }
    Ok(RunOptions {
        io_engine: io_engine(knobs, scale)?,
        percentiles: percentiles(output, scale)?,
        log_interval_ns: log_interval_ns(output, scale)?,
        device,
        ..RunOptions::default()
    })
}

/// The device of the flags (scenarios and `dpukit accel` alike), its DPDK options carried
/// into a `dpdk:` choice and refused on any other; scale mode models the profile's
/// simulated device only.
pub(super) fn device_choice(k: &DeviceArgs, scale: bool) -> Result<DeviceChoice> {
    let dpdk_flag = [
        (k.dpdk_eal.is_some(), "--dpdk-eal"),
        (k.dpdk_dev_id.is_some(), "--dpdk-dev-id"),
        (k.dpdk_queue_pairs.is_some(), "--dpdk-queue-pairs"),
        (k.dpdk_burst.is_some(), "--dpdk-burst"),
    ]
    .into_iter()
    .find_map(|(given, flag)| given.then_some(flag));
    match (&k.choice, scale) {
        (Some(d), true) if *d != DeviceChoice::Simulated => bail!(
            "--device {}: scale mode models the profile's simulated device; drop --device or --scale",
            d.spec()
        ),
        (Some(DeviceChoice::Dpdk(spec)), _) => {
            let mut spec = spec.clone();
            spec.eal = k.dpdk_eal.clone().or(spec.eal);
            spec.dev_id = k.dpdk_dev_id.or(spec.dev_id);
            spec.queue_pairs = k.dpdk_queue_pairs.unwrap_or(spec.queue_pairs);
            spec.burst = k.dpdk_burst.unwrap_or(spec.burst);
            spec.check().map_err(|e| anyhow!("{e}"))?;
            spec.eal_args().map_err(|e| anyhow!("{e}"))?;
            Ok(DeviceChoice::Dpdk(spec))
        }
        (_, _) if dpdk_flag.is_some() => {
            bail!("{} applies to --device dpdk:PMD only", dpdk_flag.unwrap_or_default())
        }
        (d, _) => Ok(d.clone().unwrap_or_default()),
    }
}

/// The local tier's I/O engine of the flags; refused in scale mode, which runs none.
fn io_engine(k: &Knobs, scale: bool) -> Result<IoEngine> {
    match (k.ioengine, scale) {
        (Some(_), true) => bail!(
            "--ioengine: scale mode models the local tier and runs no I/O engine; drop --ioengine or --scale"
        ),
        (None, _) => Ok(IoEngine::Auto),
        (Some(IoEngineArg::IoUring), false) => Ok(IoEngine::IoUring),
        (Some(IoEngineArg::Psync), false) => Ok(IoEngine::Psync),
    }
}

fn write_file(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))
}

/// Fails before any work when `path` cannot be a file we write: it is a directory, its
/// directory is missing or is a file, or the file cannot be created or opened for writing
/// there (a read-only or virtual file system, a name it cannot hold). An existing file is
/// opened without truncating and a probe file is removed again, so the check changes nothing.
fn check_out_file(path: &Path, flag: &str) -> Result<()> {
    if path.is_dir() {
        bail!("{flag} {}: is a directory", path.display());
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    check_dir_exists(parent, &format!("{flag} {}", path.display()))?;
    if path.exists() {
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| anyhow!("{flag} {}: cannot write the file: {e}", path.display()))?;
    } else {
        std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(|e| {
            anyhow!("{flag} {}: cannot create the file in {}: {e}", path.display(), parent.display())
        })?;
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// `dir` exists and is a directory; else one line naming the first part of the path that
/// is missing or is a file.
fn check_dir_exists(dir: &Path, what: &str) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(a) = file_in_the_way(dir) {
        bail!("{what}: {} is a file, not a directory", a.display());
    }
    bail!("{what}: directory {} does not exist", dir.display())
}

/// The nearest part of `dir`'s path that exists but is not a directory, if any.
fn file_in_the_way(dir: &Path) -> Option<&Path> {
    dir.ancestors().filter(|a| !a.as_os_str().is_empty()).find(|a| a.exists()).filter(|a| !a.is_dir())
}

/// The work dir must be text (the result records it as a string) and writable: it is
/// created if missing and a probe file written, before any run starts.
fn check_work_dir(spec: &ScenarioSpec) -> Result<()> {
    let Some(dir) = &spec.work_dir else { return Ok(()) };
    if dir.to_str().is_none() {
        bail!(
            "--work-dir {}: not valid UTF-8; the result records the path as text, give a UTF-8 path",
            dir.display()
        );
    }
    let what = format!("--work-dir {}", dir.display());
    if let Some(a) = file_in_the_way(dir) {
        bail!("{what}: {} is a file, not a directory", a.display());
    }
    std::fs::create_dir_all(dir).map_err(|e| anyhow!("{what}: cannot create the directory: {e}"))?;
    let probe = dir.join(format!(".dpukit-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| anyhow!("{what}: cannot write there: {e}"))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

fn make_out_dir(dir: &Path) -> Result<()> {
    if let Some(a) = file_in_the_way(dir) {
        bail!("--out-dir {}: {} is a file, not a directory", dir.display(), a.display());
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("--out-dir {}: cannot create directory", dir.display()))?;
    // Probe, so an unwritable directory fails now rather than after the runs.
    let probe = dir.join(".dpukit-write-test");
    std::fs::write(&probe, b"")
        .with_context(|| format!("--out-dir {}: cannot write there", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Pretty JSON with a trailing newline, from `serde_json::to_string_pretty`.
fn json_text(pretty: serde_json::Result<String>) -> Result<String> {
    Ok(pretty.context("cannot serialize the result")? + "\n")
}

fn mode_of(m: ModeArg) -> Mode {
    match m {
        ModeArg::Host => Mode::Host,
        ModeArg::Offload => Mode::Offload,
    }
}

/// The calibration in `path` (named by `flag` in errors), else one measured now with the
/// scenario's own codec point; and where it came from, for the record.
fn calibration_for(
    path: Option<&Path>,
    flag: &str,
    spec: &ScenarioSpec,
    quiet: bool,
) -> Result<(Calibration, String)> {
    Ok(match path {
        Some(path) => {
            (Calibration::load(path).map_err(|e| anyhow!("{flag}: {e}"))?, path.display().to_string())
        }
        None => {
            status(quiet, &format!("no {flag} given: measuring this machine first (see `dpukit calibrate`)"));
            let extra = spec
                .compression
                .as_ref()
                .map(|c| (c.algorithm, c.level))
                .map(|(algorithm, level)| CodecPlan {
                    algorithm,
                    level,
                    compressibility: spec.compressibility,
                    bytes: u64::from(spec.chunk_size_bytes),
                })
                .into_iter()
                .collect();
            let cal = calibrate(&CalibrateOptions { extra, ..CalibrateOptions::default() })
                .map_err(|e| anyhow!("{e}"))?;
            (cal, format!("measured at the start of this run (no {flag} file)"))
        }
    })
}

/// The calibration and cluster of a scale run, from the flags.
fn scale_options(s: &ScaleArgs, spec: &ScenarioSpec, profile: &Profile, quiet: bool) -> Result<ScaleOptions> {
    let (calibration, source) = calibration_for(s.calibration.as_deref(), "--calibration", spec, quiet)?;
    let mut cluster = if s.colocated {
        ClusterSpec::this_machine(&calibration)
    } else {
        ClusterSpec::cluster(&calibration, profile)
    };
    if let Some(g) = s.nic_gbps {
        cluster.nic_bytes_per_s = g * 1e9 / 8.0;
    }
    if let Some(g) = s.blob_gbps {
        cluster.blob_bytes_per_s = g * 1e9;
    }
    if let Some(us) = s.blob_latency_us {
        cluster.blob_latency_ns = us.saturating_mul(1000);
    }
    if let Some(o) = s.oversubscription {
        cluster.oversubscription = o;
    }
    if let Some(c) = s.host_cores {
        cluster.host_cores = c;
    }
    cluster.batch_chunks = s.chunks_per_event;
    Ok(ScaleOptions { cluster, calibration, calibration_source: source })
}

/// The scenario of the flags; a preset's scaling is printed before anything runs.
fn spec_with_note(knobs: &Knobs, scale: bool, quiet: bool) -> Result<ScenarioSpec> {
    let (spec, note) = base_spec(knobs, scale)?;
    if let Some(note) = note {
        status(quiet, &note);
    }
    Ok(spec)
}

/// Refuses `--scale` under MPI; without the `mpi` feature, refuses MPI altogether.
fn check_mpi(scale: bool) -> Result<()> {
    if scale {
        bail!("--scale models the cluster in one process: run it without mpirun/srun or --mpi");
    }
    if !cfg!(feature = "mpi") {
        bail!(
            "MPI requested (--mpi, or started by mpirun/srun) but this dpukit was built without it: \
             build with `cargo build --release --features mpi` (needs OpenMPI: openmpi-bin, libopenmpi-dev)"
        );
    }
    Ok(())
}

/// `run` and `compare` under MPI: every rank is one node of the scenario and the node count
/// is the world size; rank 0 writes the result. A rank that fails prints one line naming
/// itself and the error, and aborts the whole job: no rank writes a partial result.
#[cfg(feature = "mpi")]
mod mpi {
    use super::super::args::{CompareArgs, Knobs, RunArgs};
    use super::super::knobs::validate;
    use super::super::one_line;
    use super::compare::write_comparison;
    use super::{
        check_out_file, json_text, load_profile, make_out_dir, mode_of, print_run, run_options, status,
        timeline_path, write_file, Stamp,
    };
    use anyhow::{anyhow, bail, Result};
    use dpukit_host::cluster::mpi::MpiCluster;
    use dpukit_host::cluster::Cluster;
    use dpukit_host::run::{compare_on, run_scenario_on};
    use dpukit_host::spec::ScenarioSpec;

    /// The scenario with one node per rank; a different explicit `--nodes` is an error.
    fn sized(mut spec: ScenarioSpec, knobs: &Knobs, cluster: &MpiCluster) -> Result<ScenarioSpec> {
        if knobs.nodes.is_some() && spec.nodes != cluster.ranks() {
            bail!(
                "--nodes {}: under MPI each rank is one node, and this job has {} ranks",
                spec.nodes,
                cluster.ranks()
            );
        }
        spec.nodes = cluster.ranks();
        validate(&spec)?;
        Ok(spec)
    }

    /// Runs `body` on this rank; on error, one line and the whole job ends.
    fn on_rank(quiet: bool, body: impl FnOnce(&MpiCluster, bool) -> Result<()>) -> Result<()> {
        let cluster = MpiCluster::init().map_err(|e| anyhow!("MPI: {e}"))?;
        let leader = cluster.is_leader();
        if let Err(e) = body(&cluster, quiet || !leader) {
            eprintln!("dpukit: rank {}: {}", cluster.rank(), one_line(&format!("{e:#}")));
            cluster.abort(1);
        }
        Ok(())
    }

    pub fn run(a: RunArgs, spec: ScenarioSpec, quiet: bool) -> Result<()> {
        let stamp = Stamp::new(None);
        on_rank(quiet, |cluster, quiet| {
            let opts = run_options(&a.knobs, &a.output, false)?;
            let spec = sized(spec, &a.knobs, cluster)?;
            let profile = load_profile(a.knobs.profile.as_deref())?;
            if cluster.is_leader() {
                check_out_file(&a.out, "--out")?;
            }
            let mode = mode_of(a.mode);
            status(
                quiet,
                &format!(
                    "{} MPI ranks, one node each: {} {}",
                    cluster.ranks(),
                    spec.kind.name(),
                    mode.name()
                ),
            );
            let result = run_scenario_on(cluster, &spec, mode, &profile, &opts)
                .map_err(|e| anyhow!("{} run of {} failed: {e}", mode.name(), spec.kind.name()))?;
            if let Some(mut result) = result {
                stamp.apply(&mut result, a.knobs.profile.as_deref());
                write_file(&a.out, &json_text(serde_json::to_string_pretty(&result))?)?;
                if result.timeline.is_some() {
                    let path = timeline_path(&a.out);
                    write_file(&path, &dpukit_host::report::render_timeline_csv(&[&result]))?;
                }
                print_run(&result, a.output.output_format)?;
                status(quiet, &format!("wrote {}", a.out.display()));
            }
            Ok(())
        })
    }

    pub fn compare(a: CompareArgs, spec: ScenarioSpec, quiet: bool) -> Result<()> {
        let stamp = Stamp::new(None);
        on_rank(quiet, |cluster, quiet| {
            let opts = run_options(&a.knobs, &a.output, false)?;
            let spec = sized(spec, &a.knobs, cluster)?;
            let profile = load_profile(a.knobs.profile.as_deref())?;
            if cluster.is_leader() {
                make_out_dir(&a.out_dir)?;
            }
            status(
                quiet,
                &format!(
                    "{} MPI ranks, one node each: {} host, then offload",
                    cluster.ranks(),
                    spec.kind.name()
                ),
            );
            let c = compare_on(cluster, &spec, &profile, &opts)
                .map_err(|e| anyhow!("comparison of {} failed: {e}", spec.kind.name()))?;
            match c {
                Some(mut c) => {
                    stamp.apply(&mut c.host, a.knobs.profile.as_deref());
                    stamp.apply(&mut c.offload, a.knobs.profile.as_deref());
                    write_comparison(&a.out_dir, c, a.output.output_format, quiet)
                }
                None => Ok(()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dpukit_host::spec::ScenarioKind;

    #[test]
    fn a_full_disk_says_where_the_files_are_and_how_to_go_on() {
        let mut spec = ScenarioSpec::defaults(ScenarioKind::FanOutWrite);
        let full = "local tier: write /w/fan-out-write-host/node0000/rank0.shard: No space left on device (os error 28)";
        assert_eq!(full_disk_hint("blob tier: timed out", &spec, Some(Mode::Host)), "");
        assert!(full_disk_hint(full, &spec, Some(Mode::Host)).contains("give --work-dir on a larger disk"));
        spec.work_dir = Some(PathBuf::from("/w"));
        let hint = full_disk_hint(full, &spec, Some(Mode::Host));
        assert!(
            full_disk_hint(full, &spec, None).contains("/w/fan-out-write-host and /w/fan-out-write-offload")
        );
        assert!(
            hint.contains("/w/fan-out-write-host") && hint.contains("dpukit copy --work-dir /w"),
            "{hint}"
        );
        assert!(hint.contains("remove it to clean up"), "{hint}");
        spec.kind = ScenarioKind::KvCache;
        assert!(!full_disk_hint(full, &spec, Some(Mode::Offload)).contains("dpukit copy"));
    }
}
