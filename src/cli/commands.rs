//! The commands: each builds its inputs from the arguments, calls the library, writes
//! the result files and prints a table. Inputs are checked (scenario, profile, output
//! path) before any run starts, so a typo fails in milliseconds, not after the run.

use super::args::{
    BlobArgs, CalibrateArgs, Cli, Command, CompareArgs, CopyArgs, Format, IoEngineArg, Knobs, ModeArg,
    OutputArgs, OutputFormat, ProfilesAction, RepeatArgs, ReportArgs, RunArgs, ScaleArgs, SensitivityArg,
    SensitivityArgs, SweepArgs, SweepMode, ValidateArgs,
};
use super::knobs::{
    apply, apply_blob, base_spec, cross_product, kind_from_name, parse_duration_ms, parse_size, parse_vary,
    validate, validate_scale, MAX_SWEEP_RUNS,
};
use super::progress::Reporter;
use anyhow::{anyhow, bail, Context, Result};
use dpukit_host::calibrate::{calibrate, CalibrateOptions, Calibration, CodecPlan};
use dpukit_host::cluster::launched_by_mpi;
use dpukit_host::copy::{resume_copy, AdjustOptions, ResumeOptions};
use dpukit_host::preset::{LIVE_MAX_BYTES_PER_NODE, LIVE_MAX_NODES, PRESETS};
use dpukit_host::provenance::{sha256_hex, sha256_of_file, Provenance};
use dpukit_host::repeat::{combine, parse_repeat};
use dpukit_host::report::{self, Document, Sweep, SweepPoint, SweepValue};
use dpukit_host::result::Comparison;
use dpukit_host::result::{parse_percentile_list, Mode, RunResult, RESULT_SCHEMA_VERSION};
use dpukit_host::run::{compare, run_scenario, RunOptions};
use dpukit_host::scale::{compare_scale, run_scale, ClusterSpec, ScaleOptions};
use dpukit_host::sensitivity::{
    live_sensitivity, scale_sensitivity, scenario_figures, Level, Sensitivity, DEFAULT_FRACTION,
};
use dpukit_host::spec::ScenarioKind;
use dpukit_host::spec::ScenarioSpec;
use dpukit_host::tier::{BlobOptions, IoEngine};
use dpukit_host::validate::{
    check_options, validate as run_validation, ValidateError, ValidateOptions, MAX_ROUNDS,
    VALIDATED_SCENARIOS,
};
use dpukit_sim::profile::{Profile, ProfileKind};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

const DEFAULT_PROFILE: &str = "bluefield-2";

pub fn dispatch(cli: Cli) -> Result<()> {
    let quiet = cli.quiet;
    if launched_by_mpi()
        && matches!(cli.command, Command::Sweep(_) | Command::Calibrate(_) | Command::Validate(_))
    {
        bail!(
            "started by an MPI launcher: only `run` and `compare` run one node per rank; \
             run sweep, calibrate and validate in one process"
        );
    }
    match cli.command {
        Command::Run(a) => run(a, quiet),
        Command::Compare(a) => compare_cmd(a, quiet),
        Command::Sweep(a) => sweep(a, quiet),
        Command::Calibrate(a) => calibrate_cmd(a, quiet),
        Command::Validate(a) => validate_cmd(a, quiet),
        Command::Profiles { action } => profiles(action),
        Command::Presets => presets(),
        Command::Report(a) => report_cmd(a),
        Command::Copy(a) => copy_cmd(a, quiet),
    }
}

fn copy_cmd(a: CopyArgs, quiet: bool) -> Result<()> {
    // The flags change the options each run recorded; check them once before any run.
    let adjust: Option<AdjustOptions> = if a.blob == BlobArgs::default() {
        None
    } else {
        apply_blob(&mut BlobOptions::default(), &a.blob)?;
        let flags = a.blob.clone();
        Some(Arc::new(move |o: &mut BlobOptions| {
            // Checked above: applying the same flags again cannot fail.
            let _ = apply_blob(o, &flags);
        }))
    };
    if !a.work_dir.is_dir() {
        bail!("--work-dir {}: not a directory", a.work_dir.display());
    }
    let runs = resume_copy(&a.work_dir, &ResumeOptions { blob: a.blob.blob.clone(), adjust })
        .map_err(|e| anyhow!("copy: {e}"))?;
    let mut text = String::new();
    let mut unverifiable = 0;
    for r in &runs {
        text.push_str(&format!(
            "{}: {} acknowledged chunks, {} already copied, {} uploaded now ({} bytes) to {}\n",
            r.dir.display(),
            r.acknowledged_chunks,
            r.already_copied_chunks,
            r.uploaded_chunks,
            r.uploaded_bytes,
            r.location
        ));
        if r.partial_uploads_removed > 0 {
            text.push_str(&format!(
                "  removed {} partial upload(s) a killed run left in {}\n",
                r.partial_uploads_removed, r.location
            ));
        }
        for u in &r.unverifiable {
            text.push_str(&format!("  not copied: {u}\n"));
        }
        unverifiable += r.unverifiable.len();
    }
    print(&text)?;
    status(quiet, &format!("resumed the blob copy of {} run(s) in {}", runs.len(), a.work_dir.display()));
    if unverifiable > 0 {
        bail!("{unverifiable} chunks do not verify on the local tier and were not copied (listed above)");
    }
    Ok(())
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

fn calibrate_cmd(a: CalibrateArgs, quiet: bool) -> Result<()> {
    check_out_file(&a.out, "--out")?;
    status(quiet, "calibrating this machine (a few seconds)");
    let cal = calibrate(&CalibrateOptions { dir: a.dir.clone(), ..CalibrateOptions::default() })
        .map_err(|e| anyhow!("{e}"))?;
    cal.save(&a.out).map_err(|e| anyhow!("{e}"))?;
    print(&format!(
        "{}: {} build, {} ({} logical CPUs, {:.2} effective), measured in {:.1} s\n",
        a.out.display(),
        cal.build,
        cal.machine.cpu_model,
        cal.machine.logical_cpus,
        cal.effective_cores,
        cal.took_s
    ))
}

/// The validation's options from the flags, every value checked before anything runs.
fn validate_options(a: &ValidateArgs, quiet: bool) -> Result<ValidateOptions> {
    let profile = load_profile(a.profile.as_deref())?;
    let mut opts = if a.quick { ValidateOptions::quick(profile) } else { ValidateOptions::full(profile) };
    let count = |flag: &str, text: &str| -> Result<usize> {
        text.trim().parse::<usize>().map_err(|_| anyhow!("{flag}: `{text}` is not a whole number"))
    };
    if let Some(r) = &a.rounds {
        opts.rounds = count("--rounds", r)?;
    }
    if let Some(r) = &a.remeasure {
        opts.remeasure_rounds = count("--remeasure", r)?;
    }
    if let Some(s) = &a.size {
        opts.object_size_bytes = parse_size(s).map_err(|e| anyhow!("--size: {e}"))?;
    }
    if let Some(c) = &a.chunk {
        let bytes = parse_size(c).map_err(|e| anyhow!("--chunk: {e}"))?;
        opts.chunk_size_bytes =
            u32::try_from(bytes).map_err(|_| anyhow!("--chunk {c}: must be at most 64 MiB"))?;
    }
    if !a.scenario.is_empty() {
        let mut kinds = Vec::new();
        for name in &a.scenario {
            let names: Vec<&str> = VALIDATED_SCENARIOS.iter().map(|k| k.name()).collect();
            let kind = match ScenarioKind::from_name(name.trim()) {
                Some(k) if VALIDATED_SCENARIOS.contains(&k) => k,
                Some(_) => bail!("--scenario: {name} has no validation cases (one of {})", names.join(", ")),
                None => bail!("--scenario: unknown scenario `{name}` (one of {})", names.join(", ")),
            };
            kinds.push(kind);
        }
        opts.cases.retain(|c| kinds.contains(&c.kind));
    }
    if !quiet {
        opts.progress = Some(Arc::new(|line: &str| eprintln!("dpukit: {line}")));
    }
    Ok(opts)
}

fn validate_cmd(a: ValidateArgs, quiet: bool) -> Result<()> {
    let opts = validate_options(&a, quiet)?;
    check_out_file(&a.out, "--out")?;
    // Every option is checked (sizes against each case's scenario) before the first run.
    check_options(&opts).map_err(|e| anyhow!("{}", flag_of(e)))?;
    status(
        quiet,
        &format!(
            "validating scale mode against live runs: {} cases, {} round(s) (minutes; keep the machine otherwise idle)",
            opts.cases.len(),
            opts.rounds
        ),
    );
    let v = run_validation(&opts).map_err(|e| anyhow!("validate: {e}"))?;
    write_file(&a.out, &json_text(serde_json::to_string_pretty(&v))?)?;
    print(&v.render_table())?;
    status(quiet, &format!("wrote {}", a.out.display()));
    if !v.passed {
        bail!("validation failed: {}", v.failures.join("; "));
    }
    Ok(())
}

/// A refused option, named by its flag.
fn flag_of(e: ValidateError) -> String {
    match e {
        ValidateError::Rounds(n) => format!("--rounds {n}: must be 1..={MAX_ROUNDS}"),
        ValidateError::RemeasureRounds(n) => format!("--remeasure {n}: must be 0..={MAX_ROUNDS}"),
        ValidateError::Spec { source, .. } if source.knob == "chunk_size_bytes" => {
            format!("--chunk: {}", source.reason)
        }
        ValidateError::Spec { source, .. } if source.knob == "object_size_bytes" => {
            format!("--size: {}", source.reason)
        }
        e => e.to_string(),
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

fn run(a: RunArgs, quiet: bool) -> Result<()> {
    let stamp = Stamp::new(a.scale.calibration.as_deref());
    let spec = spec_with_note(&a.knobs, a.scale.scale, quiet)?;
    let engine = io_engine(&a.knobs, a.scale.scale)?;
    let n = repeats(&a.repeat, a.scale.scale)?;
    if n > 1 && (a.mpi || launched_by_mpi()) {
        bail!("--repeat {n}: not supported under MPI; start the job {n} times");
    }
    let pcts = percentiles(&a.output, a.scale.scale)?;
    let interval_ns = log_interval_ns(&a.output, a.scale.scale)?;
    if a.mpi || launched_by_mpi() {
        check_mpi(a.scale.scale)?;
        #[cfg(feature = "mpi")]
        return mpi::run(a, spec, quiet);
    }
    if a.scale.scale {
        validate_scale(&spec)?;
        let profile = load_profile(a.knobs.profile.as_deref())?;
        check_out_file(&a.out, "--out")?;
        let mode = mode_of(a.mode);
        let opts = scale_options(&a.scale, &spec, &profile, quiet)?;
        let mut result = run_scale(&spec, mode, &profile, &opts)
            .map_err(|e| anyhow!("scale {} run of {} failed: {e}", mode.name(), spec.kind.name()))?;
        stamp.apply(&mut result, a.knobs.profile.as_deref());
        write_file(&a.out, &json_text(serde_json::to_string_pretty(&result))?)?;
        print_run(&result, a.output.output_format)?;
        status(quiet, &format!("wrote {}", a.out.display()));
        return Ok(());
    }
    validate(&spec)?;
    check_work_dir(&spec)?;
    let profile = load_profile(a.knobs.profile.as_deref())?;
    check_out_file(&a.out, "--out")?;
    if interval_ns > 0 {
        check_out_file(&timeline_path(&a.out), "--out (its timeline CSV)")?;
    }
    let mode = mode_of(a.mode);
    let reporter = Reporter::new(quiet);
    let opts = RunOptions {
        progress: reporter.callback(),
        io_engine: engine,
        percentiles: pcts.clone(),
        log_interval_ns: interval_ns,
        ..RunOptions::default()
    };
    let result = run_repeated(&spec, mode, &profile, &opts, n, &reporter, "");
    reporter.finish();
    let mut result = result?;
    stamp.apply(&mut result, a.knobs.profile.as_deref());
    write_file(&a.out, &json_text(serde_json::to_string_pretty(&result))?)?;
    if result.timeline.is_some() {
        let path = timeline_path(&a.out);
        write_file(&path, &report::render_timeline_csv(&[&result]))?;
        status(quiet, &format!("wrote {}", path.display()));
    }
    print_run(&result, a.output.output_format)?;
    status(quiet, &format!("wrote {}", a.out.display()));
    Ok(())
}

/// Sensitivity of a live compare is off unless asked for (or a calibration file is given):
/// its scale-mode proxy needs a calibration of this machine, which takes longer than the
/// default compare itself (measured in docs/SENSITIVITY.md).
const LIVE_SENSITIVITY_DEFAULT: Level = Level::Off;
/// Scale mode is deterministic and re-runs in milliseconds at default knobs.
const SCALE_SENSITIVITY_DEFAULT: Level = Level::Top;

fn level_of(a: SensitivityArg) -> Level {
    match a {
        SensitivityArg::Off => Level::Off,
        SensitivityArg::Top => Level::Top,
        SensitivityArg::All => Level::All,
    }
}

/// The perturbation as a fraction, from `--sensitivity-pct` (0 < PCT < 100).
fn sensitivity_fraction(s: &SensitivityArgs) -> Result<f64> {
    match s.sensitivity_pct {
        None => Ok(DEFAULT_FRACTION),
        Some(p) if p.is_finite() && p > 0.0 && p < 100.0 => Ok(p / 100.0),
        Some(p) => bail!("--sensitivity-pct {p}: must be a percentage above 0 and below 100"),
    }
}

/// Whether this profile has figures a model reads (a host-only profile has none).
fn has_modelled_figures(profile: &Profile, quiet: bool) -> bool {
    let modelled = profile.kind != ProfileKind::HostOnly;
    if !modelled {
        status(
            quiet,
            &format!(
                "sensitivity: profile `{}` has no device, so no modelled figure to perturb",
                profile.name
            ),
        );
    }
    modelled
}

/// A sensitivity that could not be computed costs the comparison nothing: it is written
/// without one, with the reason in the offload run's notes and on stderr.
fn sensitivity_failed(c: &mut Comparison, reason: &str) {
    let line = format!("sensitivity not computed: {}", super::one_line(reason));
    eprintln!("dpukit: warning: {line}");
    c.offload.notes.push(line);
}

/// The status line after a sensitivity: how many figures, in how long (wall, measured).
fn sensitivity_took(s: &Sensitivity, started: Instant) -> String {
    format!(
        "sensitivity: {} figure(s) perturbed both ways in {:.3} s (wall, this machine)",
        s.figures.len(),
        started.elapsed().as_secs_f64()
    )
}

fn compare_cmd(a: CompareArgs, quiet: bool) -> Result<()> {
    let stamp = Stamp::new(a.scale.calibration.as_deref());
    let spec = spec_with_note(&a.knobs, a.scale.scale, quiet)?;
    let fraction = sensitivity_fraction(&a.sensitivity)?;
    let asked = a.sensitivity.sensitivity.map(level_of);
    if a.sensitivity.sensitivity_calibration.is_some() && a.scale.scale {
        bail!("--sensitivity-calibration is for a live compare; with --scale, --calibration is used");
    }
    let engine = io_engine(&a.knobs, a.scale.scale)?;
    let n = repeats(&a.repeat, a.scale.scale)?;
    if n > 1 && (a.mpi || launched_by_mpi()) {
        bail!("--repeat {n}: not supported under MPI; start the job {n} times");
    }
    let pcts = percentiles(&a.output, a.scale.scale)?;
    let interval_ns = log_interval_ns(&a.output, a.scale.scale)?;
    if a.mpi || launched_by_mpi() {
        if asked.is_some_and(|l| l != Level::Off) {
            bail!("--sensitivity: not available under MPI; run the same scenario with --scale for it");
        }
        check_mpi(a.scale.scale)?;
        #[cfg(feature = "mpi")]
        return mpi::compare(a, spec, quiet);
    }
    let mut c = if a.scale.scale {
        validate_scale(&spec)?;
        let profile = load_profile(a.knobs.profile.as_deref())?;
        make_out_dir(&a.out_dir)?;
        let opts = scale_options(&a.scale, &spec, &profile, quiet)?;
        let mut c = compare_scale(&spec, &profile, &opts)
            .map_err(|e| anyhow!("scale comparison of {} failed: {e}", spec.kind.name()))?;
        let level = asked.unwrap_or(SCALE_SENSITIVITY_DEFAULT);
        if level != Level::Off && has_modelled_figures(&profile, quiet) {
            status(
                quiet,
                &format!(
                    "sensitivity: re-running scale mode per profile figure (±{:.0} %)",
                    fraction * 100.0
                ),
            );
            let nic_from_profile = !a.scale.colocated && a.scale.nic_gbps.is_none();
            let started = Instant::now();
            match scale_sensitivity(&spec, &profile, &opts, &c, level, fraction, nic_from_profile) {
                Ok(s) => {
                    status(quiet, &sensitivity_took(&s, started));
                    c.sensitivity = Some(s);
                }
                Err(e) => sensitivity_failed(&mut c, &e.to_string()),
            }
        }
        c
    } else {
        validate(&spec)?;
        check_work_dir(&spec)?;
        let profile = load_profile(a.knobs.profile.as_deref())?;
        // Given a calibration file, the proxy costs little: on unless turned off.
        let level = asked.unwrap_or(if a.sensitivity.sensitivity_calibration.is_some() {
            Level::Top
        } else {
            LIVE_SENSITIVITY_DEFAULT
        });
        // A bad calibration file fails now, not after the runs.
        let calibration_file = match &a.sensitivity.sensitivity_calibration {
            Some(path) if level != Level::Off => Some((
                Calibration::load(path).map_err(|e| anyhow!("--sensitivity-calibration: {e}"))?,
                path.display().to_string(),
            )),
            Some(_) => bail!("--sensitivity-calibration given with --sensitivity off"),
            None => None,
        };
        make_out_dir(&a.out_dir)?;
        let reporter = Reporter::new(quiet);
        let opts = RunOptions {
            progress: reporter.callback(),
            io_engine: engine,
            percentiles: pcts.clone(),
            log_interval_ns: interval_ns,
            ..RunOptions::default()
        };
        let mut c = if n == 1 {
            let c = compare(&spec, &profile, &opts);
            reporter.finish();
            c.map_err(|e| {
                let hint = full_disk_hint(&e.to_string(), &spec, None);
                anyhow!("comparison of {} failed: {e}{hint}", spec.kind.name())
            })?
        } else {
            // Host and offload alternate, so a drift of the machine's speed reaches both.
            let (mut hosts, mut offloads) = (Vec::new(), Vec::new());
            for i in 0..n {
                let label = format!("repetition {}/{n}: ", i + 1);
                hosts.push(run_repeated(&spec, Mode::Host, &profile, &opts, 1, &reporter, &label)?);
                offloads.push(run_repeated(&spec, Mode::Offload, &profile, &opts, 1, &reporter, &label)?);
            }
            reporter.finish();
            dpukit_host::run::comparison(combine(hosts), combine(offloads))
        };
        if level != Level::Off && has_modelled_figures(&profile, quiet) {
            let calibration = match calibration_file {
                Some(x) => Ok(x),
                None => calibration_for(None, "--sensitivity-calibration", &spec, quiet),
            };
            status(
                quiet,
                "sensitivity: modelling each profile figure's effect in scale mode on this machine",
            );
            let started = Instant::now();
            let s = calibration.and_then(|(cal, source)| {
                live_sensitivity(&spec, &profile, &c, cal, source, level, fraction)
                    .map_err(|e| anyhow!("{e}"))
            });
            match s {
                Ok(s) => {
                    status(quiet, &sensitivity_took(&s, started));
                    c.sensitivity = Some(s);
                }
                Err(e) => sensitivity_failed(&mut c, &format!("{e:#}")),
            }
        }
        c
    };
    stamp.apply(&mut c.host, a.knobs.profile.as_deref());
    stamp.apply(&mut c.offload, a.knobs.profile.as_deref());
    write_comparison(&a.out_dir, c, a.output.output_format, quiet)
}

/// comparison.json, comparison.csv and report.html, and the table on stdout.
fn write_comparison(out_dir: &Path, c: Comparison, format: OutputFormat, quiet: bool) -> Result<()> {
    let json = out_dir.join("comparison.json");
    let csv = out_dir.join("comparison.csv");
    let html = out_dir.join("report.html");
    write_file(&json, &json_text(serde_json::to_string_pretty(&c))?)?;
    write_file(&csv, &report::render_csv([&c.host, &c.offload]))?;
    if c.host.timeline.is_some() || c.offload.timeline.is_some() {
        write_file(&out_dir.join("timeline.csv"), &report::render_timeline_csv(&[&c.host, &c.offload]))?;
    }
    let doc = Document::Comparison(Box::new(c));
    write_file(&html, &report::render_html(std::slice::from_ref(&doc)))?;
    print(&match format {
        OutputFormat::Table => report::render_tables(std::slice::from_ref(&doc)),
        OutputFormat::Json => report::render_json(std::slice::from_ref(&doc)),
        OutputFormat::Csv => report::render_docs_csv(std::slice::from_ref(&doc)),
    })?;
    status(quiet, &format!("wrote {}, {} and {}", json.display(), csv.display(), html.display()));
    Ok(())
}

fn sweep(a: SweepArgs, quiet: bool) -> Result<()> {
    let stamp = Stamp::new(a.scale.calibration.as_deref());
    let engine = io_engine(&a.knobs, a.scale.scale)?;
    let pcts = percentiles(&a.output, a.scale.scale)?;
    let interval_ns = log_interval_ns(&a.output, a.scale.scale)?;
    let repeat = repeats(&a.repeat, a.scale.scale)?;
    let varies = a.vary.iter().map(|v| parse_vary(v)).collect::<Result<Vec<_>>>()?;
    for (i, v) in varies.iter().enumerate() {
        if varies[..i].iter().any(|w| w.knob == v.knob && (v.knob.is_some() || w.name == v.name)) {
            bail!("--vary {}: the knob is varied twice", v.name);
        }
    }
    let base = spec_with_note(&a.knobs, a.scale.scale, quiet)?;
    let modes: &[Mode] = match a.mode {
        SweepMode::Host => &[Mode::Host],
        SweepMode::Offload => &[Mode::Offload],
        SweepMode::Both => &[Mode::Host, Mode::Offload],
    };
    let points = cross_product(&varies);
    let total = points.len() * modes.len();
    if total * repeat as usize > MAX_SWEEP_RUNS {
        bail!(
            "--vary: {} runs requested ({total} points x {repeat} repetitions), at most {MAX_SWEEP_RUNS}; vary fewer values",
            total * repeat as usize
        );
    }
    // Build and check every point before running any.
    let mut profiles: HashMap<String, Profile> = HashMap::new();
    let mut planned = Vec::new();
    for values in &points {
        let mut spec = base.clone();
        let mut profile_name = a.knobs.profile.clone().unwrap_or_else(|| DEFAULT_PROFILE.into());
        for (v, value) in varies.iter().zip(values) {
            match v.knob {
                Some(knob) => apply(&mut spec, knob, value).map_err(|e| anyhow!("--vary {}: {e}", v.name))?,
                None => profile_name = value.clone(),
            }
        }
        let label: Vec<String> = varies.iter().zip(values).map(|(v, x)| format!("{}={x}", v.name)).collect();
        if a.scale.scale {
            validate_scale(&spec).with_context(|| format!("sweep point {}", label.join(" ")))?;
        } else {
            validate(&spec).with_context(|| format!("sweep point {}", label.join(" ")))?;
        }
        if !profiles.contains_key(&profile_name) {
            profiles.insert(profile_name.clone(), load_profile(Some(&profile_name))?);
        }
        planned.push((values.clone(), spec, profile_name, label.join(" ")));
    }
    if !a.scale.scale {
        check_work_dir(&base)?;
    }
    make_out_dir(&a.out_dir)?;
    // One calibration for every point, so points differ only by their knobs.
    let scale = match (&planned.first(), a.scale.scale) {
        (Some((_, spec, profile_name, _)), true) => {
            Some(scale_options(&a.scale, spec, &profiles[profile_name], quiet)?)
        }
        _ => None,
    };
    let reporter = Reporter::new(quiet);
    let mut done = Vec::new();
    let mut n = 0;
    // Host mode does not use the profile: points that differ only by it share one host run
    // (keyed by the whole scenario, batch included: fan-out write batches its local writes
    // by it on the host too), so no two host runs of one configuration read as a difference.
    let mut host_runs: HashMap<String, (String, RunResult)> = HashMap::new();
    for (values, spec, profile_name, label) in planned {
        for &mode in modes {
            n += 1;
            reporter.set_label(format!("[{n}/{total}] {label}"));
            let profile = &profiles[&profile_name];
            let key = serde_json::to_string(&spec).context("cannot serialize a sweep point")?;
            if let (Mode::Host, Some((first, shared))) = (mode, host_runs.get(&key)) {
                let mut result = shared.clone();
                result.profile = profile_name.clone();
                result.notes.push(format!(
                    "host run shared with sweep point {first}: host mode does not use the profile, so it ran once"
                ));
                let values = varies
                    .iter()
                    .zip(&values)
                    .map(|(v, x)| SweepValue { knob: v.name.clone(), value: x.clone() })
                    .collect();
                done.push(SweepPoint { values, result });
                continue;
            }
            let mut result = match &scale {
                Some(base) => {
                    let mut opts = base.clone();
                    if !a.scale.colocated && a.scale.nic_gbps.is_none() {
                        // The NIC follows each point's profile.
                        opts.cluster.nic_bytes_per_s =
                            ClusterSpec::cluster(&opts.calibration, profile).nic_bytes_per_s;
                    }
                    run_scale(&spec, mode, profile, &opts).map_err(|e| {
                        reporter.finish();
                        anyhow!("sweep point {label}, scale {} run failed: {e}", mode.name())
                    })?
                }
                None => {
                    let opts = RunOptions {
                        progress: reporter.callback(),
                        io_engine: engine,
                        percentiles: pcts.clone(),
                        log_interval_ns: interval_ns,
                        ..RunOptions::default()
                    };
                    let prefix = format!("[{n}/{total}] {label} ");
                    run_repeated(&spec, mode, profile, &opts, repeat, &reporter, &prefix)
                        .map_err(|e| anyhow!("sweep point {e}"))?
                }
            };
            stamp.apply(&mut result, Some(&profile_name));
            if mode == Mode::Host && scale.is_none() {
                host_runs.insert(key, (label.clone(), result.clone()));
            }
            let values = varies
                .iter()
                .zip(&values)
                .map(|(v, x)| SweepValue { knob: v.name.clone(), value: x.clone() })
                .collect();
            done.push(SweepPoint { values, result });
        }
    }
    reporter.finish();
    let s = Sweep {
        schema_version: RESULT_SCHEMA_VERSION,
        varied: varies.iter().map(|v| v.name.clone()).collect(),
        points: done,
    };
    let files: [(PathBuf, String); 4] = [
        (a.out_dir.join("sweep.json"), json_text(serde_json::to_string_pretty(&s))?),
        (a.out_dir.join("sweep.csv"), report::render_sweep_csv(&s)),
        (a.out_dir.join("sweep.svg"), report::stack_svg(&[report::sweep_svg(&s)])),
        (a.out_dir.join("sweep.html"), report::render_sweep_html(&s)),
    ];
    for (path, text) in &files {
        write_file(path, text)?;
    }
    print(&match a.output.output_format {
        OutputFormat::Table => report::render_sweep_table(&s),
        OutputFormat::Json => files[0].1.clone(),
        OutputFormat::Csv => files[1].1.clone(),
    })?;
    let names: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
    status(quiet, &format!("wrote {}", names.join(", ")));
    Ok(())
}

fn presets() -> Result<()> {
    let rows: Vec<[String; 4]> = PRESETS
        .iter()
        .map(|p| {
            [
                p.name.to_string(),
                p.kind.name().to_string(),
                format!("{} x {}", p.nodes, report::fmt_bytes(p.bytes_per_node)),
                format!("{} ({})", p.summary, p.source),
            ]
        })
        .collect();
    let w: [usize; 3] = [0, 1, 2].map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0));
    let mut out = String::new();
    for [name, kind, size, about] in rows {
        out.push_str(&format!(
            "{name:<w0$}  {kind:<w1$}  {size:>w2$}  {about}\n",
            w0 = w[0],
            w1 = w[1],
            w2 = w[2]
        ));
    }
    out.push_str(&format!(
        "\nFull size with --scale; a live run takes at most {} nodes and {} per node, and says so.\n",
        LIVE_MAX_NODES,
        report::fmt_bytes(LIVE_MAX_BYTES_PER_NODE)
    ));
    print(&out)
}

fn profiles(action: ProfilesAction) -> Result<()> {
    match action {
        ProfilesAction::List => {
            let mut rows = Vec::new();
            for name in Profile::builtin_names() {
                let p = Profile::builtin(name).map_err(|e| anyhow!("{e}"))?;
                rows.push(report::profile_summary(&p));
            }
            let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
            let kw = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
            let mut out = String::new();
            for (name, kind, description) in rows {
                out.push_str(&format!("{name:<w$}  {kind:<kw$}  {description}\n"));
            }
            print(&out)
        }
        ProfilesAction::Show { name, scenario } => {
            // The scenario is checked before the profile is read.
            let spec = scenario.as_deref().map(kind_from_name).transpose()?.map(ScenarioSpec::defaults);
            let p = load_profile(Some(&name))?;
            let mut text = report::render_profile(&p);
            match spec {
                Some(spec) if p.kind == ProfileKind::HostOnly => text.push_str(&format!(
                    "\nNo figure of `{}` matters for {}: without a device every op runs on the host CPU, measured.\n",
                    p.name,
                    spec.kind.name()
                )),
                Some(spec) => {
                    let (used, left) = scenario_figures(&p, &spec, DEFAULT_FRACTION)
                        .map_err(|e| anyhow!("--scenario {}: {e}", spec.kind.name()))?;
                    text.push('\n');
                    text.push_str(&report::render_scenario_figures(&p, &spec, &used, &left, DEFAULT_FRACTION));
                }
                None => {}
            }
            print(&text)
        }
        ProfilesAction::Check { path } => {
            let p = Profile::from_path(&path).map_err(|e| anyhow!("{e}"))?;
            let figures = report::profile_figures(&p);
            let assumed = figures.iter().filter(|f| f.confidence == "assumed").count();
            let (_, kind, _) = report::profile_summary(&p);
            print(&format!(
                "{}: ok: profile `{}` ({kind}), {} figures, {assumed} assumed\n",
                path.display(),
                p.name,
                figures.len()
            ))
        }
    }
}

fn report_cmd(a: ReportArgs) -> Result<()> {
    let mut docs = Vec::new();
    for f in &a.files {
        let file = f.display().to_string();
        let text = std::fs::read_to_string(f).with_context(|| format!("cannot read {file}"))?;
        docs.push(Document::parse(&text, &file)?);
    }
    if let Some(out) = &a.out {
        check_out_file(out, "--out")?;
    }
    let names: Vec<String> = a.files.iter().map(|f| f.display().to_string()).collect();
    let text = match a.format {
        Format::Table => report::render_tables(&docs) + &report::render_provenance(&docs, &names),
        Format::Json => report::render_json(&docs),
        Format::Csv => report::render_docs_csv(&docs),
        Format::Svg => report::render_svg(&docs),
        Format::Html => report::render_html(&docs),
    };
    match &a.out {
        Some(out) => write_file(out, &text),
        None => print(&text),
    }
}

/// `run` and `compare` under MPI: every rank is one node of the scenario and the node count
/// is the world size; rank 0 writes the result. A rank that fails prints one line naming
/// itself and the error, and aborts the whole job: no rank writes a partial result.
#[cfg(feature = "mpi")]
mod mpi {
    use super::super::args::{CompareArgs, Knobs, RunArgs};
    use super::super::knobs::validate;
    use super::super::one_line;
    use super::{
        check_out_file, io_engine, json_text, load_profile, log_interval_ns, make_out_dir, mode_of,
        percentiles, print_run, status, timeline_path, write_comparison, write_file, Stamp,
    };
    use anyhow::{anyhow, bail, Result};
    use dpukit_host::cluster::mpi::MpiCluster;
    use dpukit_host::cluster::Cluster;
    use dpukit_host::run::{compare_on, run_scenario_on, RunOptions};
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
            let opts = RunOptions {
                io_engine: io_engine(&a.knobs, false)?,
                percentiles: percentiles(&a.output, false)?,
                log_interval_ns: log_interval_ns(&a.output, false)?,
                ..RunOptions::default()
            };
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
            let opts = RunOptions {
                io_engine: io_engine(&a.knobs, false)?,
                percentiles: percentiles(&a.output, false)?,
                log_interval_ns: log_interval_ns(&a.output, false)?,
                ..RunOptions::default()
            };
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
