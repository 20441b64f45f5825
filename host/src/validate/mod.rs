//! Scale mode against live runs on this machine (`dpukit validate`): the same scenario
//! on 1, 2 and 4 nodes, run live ([`run_scenario`]) and modelled ([`run_scale`] with every
//! node on this machine, from a calibration measured between the live runs), in host and
//! offload mode. The goal is that the model's throughput is within [`GOAL`] of the live
//! one on average over the cases, and each case within [`TOLERANCE`].
//!
//! It goes in rounds: a pass of live runs over every case, a fresh calibration and every
//! case modelled from it, a second pass of live runs. The calibration sits between the
//! live runs it is compared with, so a machine that drifts during a round moves both sides
//! alike; each figure is the mean rate over the rounds (bytes over time). A case outside
//! the goal is measured again in extra rounds while a case is outside its tolerance or the
//! mean outside the goal: a busy moment moves one figure now and then, a model error does
//! not go away on a second look. Every round records the machine's load (this process,
//! the rest of the machine, the hypervisor's steal) during its live runs and its
//! calibration, and every case the load during its own live runs, so a report shows which
//! side moved when a case is off. `docs/model-validation.md` records results.

#![forbid(unsafe_code)]

mod device;
mod document;
mod load;

pub use device::{
    validate_device, DeviceCase, DeviceValidateError, DeviceValidateOptions, DeviceValidation, DEVICE_GOAL,
    DEVICE_SCENARIOS,
};
pub use document::{CaseResult, RoundRecord, Validation, VALIDATION_SCHEMA_VERSION};
pub use load::Load;

use crate::calibrate::{calibrate, CalibrateOptions, Calibration, CalibrationError, CodecPlan, OpCost};
use crate::metrics::machine_info;
use crate::report::fmt_rate;
use crate::result::{Figure, Mode, Source, Unit};
use crate::run::{run_scenario, RunError, RunOptions};
use crate::scale::{run_scale, ClusterSpec, ScaleError, ScaleOptions};
use crate::spec::{ScenarioKind, ScenarioSpec, SpecError};
use dpukit_ffi::Algorithm;
use dpukit_sim::profile::Profile;
use load::{LoadSum, Mark};
use std::sync::Arc;
use std::time::Instant;

/// The goal on the mean over the cases of the modelled throughput's difference from the
/// live one (absolute values): one case moves more than this from run to run, the mean
/// over ten does not unless the model is off.
pub const GOAL: f64 = 0.10;
/// Largest difference allowed in any one case: tight enough to catch a case that drifts,
/// loose enough for one case's run-to-run noise on a shared VM.
pub const TOLERANCE: f64 = 0.20;
/// Rounds of the full validation: both sides' noise shrinks with their number.
pub const DEFAULT_ROUNDS: usize = 4;
/// Rounds of `--quick`.
pub const QUICK_ROUNDS: usize = 2;
/// Extra rounds, for the cases outside the goal, while the validation would fail.
pub const DEFAULT_REMEASURE_ROUNDS: usize = 2;
/// Most rounds, and most extra rounds, a validation takes: a round of the full case list
/// takes about a minute in a debug build.
pub const MAX_ROUNDS: usize = 20;
/// Bytes per node (object or shard) of every case, by default.
pub const DEFAULT_OBJECT_BYTES: u64 = 16 << 20;
/// Chunk size of every case, by default.
pub const DEFAULT_CHUNK_BYTES: u32 = 1 << 20;
/// The scenarios that have validation cases. The KV cache has none yet: its model has not
/// been held against live runs.
pub const VALIDATED_SCENARIOS: [ScenarioKind; 3] =
    [ScenarioKind::FanOutRead, ScenarioKind::FanOutWrite, ScenarioKind::FanInRead];

/// One case: a scenario on a number of nodes of this machine, in one mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    pub kind: ScenarioKind,
    pub nodes: u32,
    pub mode: Mode,
}

impl Case {
    const fn new(kind: ScenarioKind, nodes: u32, mode: Mode) -> Case {
        Case { kind, nodes, mode }
    }

    /// `fan-out-read 2 nodes host`.
    pub fn label(&self) -> String {
        case_label(self.kind.name(), self.nodes, self.mode)
    }
}

pub(crate) fn case_label(scenario: &str, nodes: u32, mode: Mode) -> String {
    let s = if nodes == 1 { "" } else { "s" };
    format!("{scenario} {nodes} node{s} {}", mode.name())
}

/// Every case: the three scenarios in both modes on 1, 2 and 4 nodes, where colocated
/// nodes share this machine's cores, local tier and blob client. The same list in every
/// build.
pub const FULL_CASES: [Case; 10] = [
    Case::new(ScenarioKind::FanOutRead, 1, Mode::Host),
    Case::new(ScenarioKind::FanOutRead, 2, Mode::Host),
    Case::new(ScenarioKind::FanOutRead, 4, Mode::Host),
    Case::new(ScenarioKind::FanOutRead, 1, Mode::Offload),
    Case::new(ScenarioKind::FanOutRead, 2, Mode::Offload),
    Case::new(ScenarioKind::FanOutWrite, 1, Mode::Host),
    Case::new(ScenarioKind::FanOutWrite, 2, Mode::Host),
    Case::new(ScenarioKind::FanOutWrite, 1, Mode::Offload),
    Case::new(ScenarioKind::FanInRead, 2, Mode::Host),
    Case::new(ScenarioKind::FanInRead, 2, Mode::Offload),
];

/// `--quick`: one case per scenario, both modes and both node counts among them.
pub const QUICK_CASES: [Case; 4] = [
    Case::new(ScenarioKind::FanOutRead, 2, Mode::Host),
    Case::new(ScenarioKind::FanOutRead, 1, Mode::Offload),
    Case::new(ScenarioKind::FanOutWrite, 1, Mode::Host),
    Case::new(ScenarioKind::FanInRead, 2, Mode::Offload),
];

/// Called with each progress line (a round starting, a calibration's key figures, the
/// load, each case's figures at the end).
pub type ProgressLine = Arc<dyn Fn(&str) + Send + Sync>;

/// What to validate, and how long.
#[derive(Clone)]
pub struct ValidateOptions {
    pub cases: Vec<Case>,
    /// Rounds over every case (each: live runs, a calibration and the models, live runs).
    pub rounds: usize,
    /// Extra rounds, for the cases outside the goal, while the validation would fail.
    pub remeasure_rounds: usize,
    /// Bytes per node of every case (an object read, a shard written).
    pub object_size_bytes: u64,
    pub chunk_size_bytes: u32,
    /// The device the offload cases run against (live) and are modelled with.
    pub profile: Profile,
    pub progress: Option<ProgressLine>,
}

impl ValidateOptions {
    /// Every case, [`DEFAULT_ROUNDS`] rounds, at the default sizes.
    pub fn full(profile: Profile) -> ValidateOptions {
        ValidateOptions {
            cases: FULL_CASES.to_vec(),
            rounds: DEFAULT_ROUNDS,
            remeasure_rounds: DEFAULT_REMEASURE_ROUNDS,
            object_size_bytes: DEFAULT_OBJECT_BYTES,
            chunk_size_bytes: DEFAULT_CHUNK_BYTES,
            profile,
            progress: None,
        }
    }

    /// [`QUICK_CASES`], [`QUICK_ROUNDS`] rounds, one extra round at most.
    pub fn quick(profile: Profile) -> ValidateOptions {
        ValidateOptions {
            cases: QUICK_CASES.to_vec(),
            rounds: QUICK_ROUNDS,
            remeasure_rounds: 1,
            ..Self::full(profile)
        }
    }

    /// The scenario of `case` at these sizes.
    pub fn spec(&self, case: &Case) -> ScenarioSpec {
        let mut s = ScenarioSpec::defaults(case.kind);
        s.nodes = case.nodes;
        s.object_size_bytes = self.object_size_bytes;
        s.chunk_size_bytes = self.chunk_size_bytes;
        s
    }

    fn say(&self, line: &str) {
        if let Some(p) = &self.progress {
            p(line);
        }
    }
}

/// Why a validation could not be done (as opposed to done and failed: see
/// [`Validation::passed`]).
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error("no cases to validate")]
    NoCases,
    #[error("rounds: {0} is outside 1..={MAX_ROUNDS}")]
    Rounds(usize),
    #[error("extra rounds: {0} is outside 0..={MAX_ROUNDS}")]
    RemeasureRounds(usize),
    #[error("{0} has no validation cases")]
    Unvalidated(&'static str),
    #[error("{case}: {source}")]
    Spec { case: String, source: SpecError },
    #[error("live run of {case}: {source}")]
    Live { case: String, source: Box<RunError> },
    #[error(transparent)]
    Calibration(#[from] CalibrationError),
    #[error("scale run of {case}: {source}")]
    Scale { case: String, source: ScaleError },
}

/// One case while it is measured.
struct Row {
    case: Case,
    spec: ScenarioSpec,
    model: Vec<f64>,
    /// Per round, the mean rate of its live runs.
    live: Vec<f64>,
    live_runs: Vec<f64>,
    load: LoadSum,
}

impl Row {
    fn diff(&self) -> f64 {
        let live = mean_rate(&self.live);
        (mean_rate(&self.model) - live) / live
    }

    fn within(&self, bound: f64) -> bool {
        self.diff().abs() <= bound
    }

    /// `fan-out-read 1 node host: live 145 MiB/s [meas] (134-153), modelled ...`, and
    /// modelled/live per round.
    fn describe(&self) -> String {
        const MIB: f64 = 1024.0 * 1024.0;
        let range = |v: &[f64]| {
            let (lo, hi) = v.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &t| (lo.min(t), hi.max(t)));
            format!("{:.1}-{:.1}", lo / MIB, hi / MIB)
        };
        let rounds: Vec<String> = self
            .model
            .iter()
            .zip(&self.live)
            .map(|(m, l)| format!("{:.0}/{:.0} ({:+.0} %)", m / MIB, l / MIB, (m - l) / l * 100.0))
            .collect();
        format!(
            "{}: live {} [meas] ({}), modelled {} [model] ({}), {:+.1} % over {} round(s); \
             modelled/live MiB/s per round: {}",
            self.case.label(),
            fmt_rate(mean_rate(&self.live)),
            range(&self.live_runs),
            fmt_rate(mean_rate(&self.model)),
            range(&self.model),
            self.diff() * 100.0,
            self.live.len(),
            rounds.join(", ")
        )
    }
}

/// Bytes over time across runs that each move the same bytes: what a calibration measures
/// too, a mean cost over a stretch of time. A median would pick one of a VM's speeds.
fn mean_rate(rates: &[f64]) -> f64 {
    rates.len() as f64 / rates.iter().map(|t| 1.0 / t).sum::<f64>()
}

fn mean_abs_diff(rows: &[Row]) -> f64 {
    rows.iter().map(|r| r.diff().abs()).sum::<f64>() / rows.len().max(1) as f64
}

/// Checks the options and each case's scenario, without running anything.
pub fn check_options(opts: &ValidateOptions) -> Result<(), ValidateError> {
    rows(opts).map(|_| ())
}

/// Checks the options and builds each case's scenario.
fn rows(opts: &ValidateOptions) -> Result<Vec<Row>, ValidateError> {
    if opts.cases.is_empty() {
        return Err(ValidateError::NoCases);
    }
    if !(1..=MAX_ROUNDS).contains(&opts.rounds) {
        return Err(ValidateError::Rounds(opts.rounds));
    }
    if opts.remeasure_rounds > MAX_ROUNDS {
        return Err(ValidateError::RemeasureRounds(opts.remeasure_rounds));
    }
    opts.cases
        .iter()
        .map(|&case| {
            if !VALIDATED_SCENARIOS.contains(&case.kind) {
                return Err(ValidateError::Unvalidated(case.kind.name()));
            }
            let spec = opts.spec(&case);
            let invalid = |source| ValidateError::Spec { case: case.label(), source };
            spec.validate().map_err(invalid)?;
            spec.validate_scale().map_err(invalid)?;
            let load = LoadSum::default();
            Ok(Row { case, spec, model: Vec::new(), live: Vec::new(), live_runs: Vec::new(), load })
        })
        .collect()
}

/// Runs the validation: [`ValidateOptions::rounds`] rounds over every case, then up to
/// [`ValidateOptions::remeasure_rounds`] more for the cases outside the goal while it
/// would fail. A case outside its tolerance is a failed validation, not an error.
pub fn validate(opts: &ValidateOptions) -> Result<Validation, ValidateError> {
    let started = Instant::now();
    let mut rows = rows(opts)?;
    let mut records = Vec::new();
    for r in 0..opts.rounds {
        opts.say(&format!("round {} of {}: {} cases", r + 1, opts.rounds, rows.len()));
        records.push(round(&mut rows, opts, false)?);
    }
    for row in &rows {
        opts.say(&row.describe());
    }
    say_mean(opts, &rows);
    for _ in 0..opts.remeasure_rounds {
        if rows.iter().all(|r| r.within(TOLERANCE)) && mean_abs_diff(&rows) <= GOAL {
            break;
        }
        opts.say("measuring the cases outside the goal again");
        let record = round(&mut rows, opts, true)?;
        for row in rows.iter().filter(|r| record.cases.contains(&r.case.label())) {
            opts.say(&format!("{} [re-measured]", row.describe()));
        }
        records.push(record);
        say_mean(opts, &rows);
    }
    Ok(assemble(rows, records, opts, started))
}

fn say_mean(opts: &ValidateOptions, rows: &[Row]) {
    let within = rows.iter().filter(|r| r.within(GOAL)).count();
    opts.say(&format!(
        "mean difference over the {} cases: {:.1} % (goal {:.0} %); {within} of them within {:.0} %",
        rows.len(),
        mean_abs_diff(rows) * 100.0,
        GOAL * 100.0,
        GOAL * 100.0
    ));
}

/// One round: a pass of live runs over the cases (all, or those outside the goal), a
/// fresh calibration and each case modelled from it, a second pass of live runs.
fn round(
    rows: &mut [Row],
    opts: &ValidateOptions,
    off_goal_only: bool,
) -> Result<RoundRecord, ValidateError> {
    let ran: Vec<usize> = (0..rows.len()).filter(|&i| !off_goal_only || !rows[i].within(GOAL)).collect();
    let mut live = vec![Vec::new(); rows.len()];
    let start = Mark::now();
    live_pass(rows, &ran, opts, &mut live)?;
    let before = Mark::now();
    let extra = vec![CodecPlan {
        algorithm: Algorithm::Lz4,
        level: 0,
        compressibility: rows[0].spec.compressibility,
        bytes: u64::from(opts.chunk_size_bytes),
    }];
    let cal = calibrate(&CalibrateOptions { extra, ..CalibrateOptions::default() })?;
    let calibrated = Mark::now();
    let (local_share, get_share) = (shares(&cal.local_write), shares(&cal.blob_get));
    let effective_cores = Figure::measured(cal.effective_cores, Unit::Cores);
    let key_figures = key_figures(&cal, &rows[0].spec);
    opts.say(&format!(
        "calibration: {:.2} effective cores [meas]; serial share of a local write {}, of a blob GET {}",
        cal.effective_cores,
        fmt_shares(local_share),
        fmt_shares(get_share)
    ));
    opts.say(&format!("  {key_figures}"));
    let scale = ScaleOptions {
        cluster: ClusterSpec::this_machine(&cal),
        calibration: cal,
        calibration_source: "measured by dpukit validate between its live runs".into(),
    };
    let mut modelled = Vec::with_capacity(ran.len());
    for &i in &ran {
        let r = run_scale(&rows[i].spec, rows[i].case.mode, &opts.profile, &scale)
            .map_err(|source| ValidateError::Scale { case: rows[i].case.label(), source })?;
        debug_assert_eq!(r.throughput.source, Source::Modelled);
        modelled.push((i, r.throughput.value));
    }
    live_pass(rows, &ran, opts, &mut live)?;
    let end = Mark::now();
    for (i, m) in modelled {
        rows[i].model.push(m);
        rows[i].live.push(mean_rate(&live[i]));
        rows[i].live_runs.extend_from_slice(&live[i]);
    }
    let record = RoundRecord {
        full: !off_goal_only,
        cases: ran.iter().map(|&i| rows[i].case.label()).collect(),
        effective_cores,
        local_write_serial_share: local_share,
        blob_get_serial_share: get_share,
        key_figures,
        load_live_before: LoadSum::between(&start, &before),
        load_calibration: LoadSum::between(&before, &calibrated),
        load_live_after: LoadSum::between(&calibrated, &end),
    };
    opts.say(&format!(
        "  load during the live runs before the calibration: {}; the calibration: {}; the live runs after: {}",
        record.load_live_before.describe(),
        record.load_calibration.describe(),
        record.load_live_after.describe()
    ));
    Ok(record)
}

/// One live run of each case in `ran`, its rate pushed to `live[i]` and its load to the
/// case's sum.
fn live_pass(
    rows: &mut [Row],
    ran: &[usize],
    opts: &ValidateOptions,
    live: &mut [Vec<f64>],
) -> Result<(), ValidateError> {
    for &i in ran {
        let row = &mut rows[i];
        let start = Mark::now();
        let run = run_scenario(&row.spec, row.case.mode, &opts.profile, &RunOptions::default())
            .map_err(|source| ValidateError::Live { case: row.case.label(), source: Box::new(source) })?;
        row.load.add(&start, &Mark::now());
        live[i].push(run.throughput.value);
    }
    Ok(())
}

fn shares(op: &OpCost) -> (Option<f64>, Option<f64>) {
    (op.serial_share_small, op.serial_share)
}

fn fmt_shares((small, large): (Option<f64>, Option<f64>)) -> String {
    format!("{:.2} at 64 KiB, {:.2} at 1 MiB", small.unwrap_or(f64::NAN), large.unwrap_or(f64::NAN))
}

/// The calibration's figures the cases' models move most with, at the cases' chunk: the
/// kernels per byte, one blob GET and a batch of them, one local write.
fn key_figures(cal: &Calibration, spec: &ScenarioSpec) -> String {
    let chunk = u64::from(spec.chunk_size_bytes);
    let (compress, decompress, ratio) = cal
        .codec("lz4", 0)
        .map(|c| cal.codec_at(c, spec.compressibility, chunk))
        .unwrap_or((f64::NAN, f64::NAN, 1.0));
    let stored = (chunk as f64 / ratio).round() as u64;
    let batch = cal
        .blob_get_batch
        .map(|b| format!("{} at once {:.2} ms", b.requests, b.wall_ns(stored) / 1e6))
        .unwrap_or_else(|| "no batch".into());
    format!(
        "per byte at {} KiB: datagen {:.2} ns, lz4 {:.2}/{:.2} ns, crc32c {:.2} ns; GET of {:.2} MB {:.2} ms, {batch}; \
         local write {:.2} ms [meas]",
        chunk >> 10,
        cal.datagen_ns_per_byte(spec.compressibility, chunk),
        compress,
        decompress,
        cal.crc32c_ns_per_byte(chunk),
        stored as f64 / 1e6,
        cal.blob_get.wall_ns(stored) / 1e6,
        cal.local_write.wall_ns(stored) / 1e6,
    )
}

fn assemble(
    rows: Vec<Row>,
    records: Vec<RoundRecord>,
    opts: &ValidateOptions,
    started: Instant,
) -> Validation {
    let mean = mean_abs_diff(&rows);
    let mut failures: Vec<String> = rows
        .iter()
        .filter(|r| !r.within(TOLERANCE))
        .map(|r| {
            format!("{}: {:+.1} % (tolerance ±{:.0} %)", r.case.label(), r.diff() * 100.0, TOLERANCE * 100.0)
        })
        .collect();
    if mean > GOAL {
        failures.push(format!(
            "mean difference over the {} cases {:.1} % (goal {:.0} %)",
            rows.len(),
            mean * 100.0,
            GOAL * 100.0
        ));
    }
    let cases: Vec<CaseResult> = rows
        .iter()
        .map(|r| CaseResult {
            scenario: r.case.kind.name().into(),
            nodes: r.case.nodes,
            mode: r.case.mode,
            live: Figure::measured(mean_rate(&r.live), Unit::BytesPerSecond),
            modelled: Figure::modelled(mean_rate(&r.model), Unit::BytesPerSecond),
            difference: r.diff(),
            within_goal: r.within(GOAL),
            within_tolerance: r.within(TOLERANCE),
            rounds: r.live.len(),
            modelled_per_round: r.model.clone(),
            live_per_round: r.live.clone(),
            live_runs: r.live_runs.clone(),
            load: r.load.load(),
        })
        .collect();
    Validation {
        schema_version: VALIDATION_SCHEMA_VERSION,
        kit_version: env!("CARGO_PKG_VERSION").into(),
        build: if cfg!(debug_assertions) { "debug" } else { "release" }.into(),
        machine: machine_info(),
        profile: opts.profile.name.clone(),
        object_size_bytes: opts.object_size_bytes,
        chunk_size_bytes: opts.chunk_size_bytes,
        rounds: opts.rounds,
        goal: GOAL,
        tolerance: TOLERANCE,
        within_goal: cases.iter().filter(|c| c.within_goal).count(),
        cases,
        round_records: records,
        mean_abs_difference: mean,
        passed: failures.is_empty(),
        failures,
        took_s: started.elapsed().as_secs_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> Profile {
        Profile::builtin("bluefield-2").unwrap()
    }

    #[test]
    fn mean_rate_is_bytes_over_time() {
        // Two runs of the same bytes at 100 and 300 B/s take 1/100 + 1/300 of the time.
        assert!((mean_rate(&[100.0, 300.0]) - 150.0).abs() < 1e-9);
        assert_eq!(mean_rate(&[42.0]), 42.0);
    }

    #[test]
    fn bad_options_are_refused_before_anything_runs() {
        let err = |o: ValidateOptions| check_options(&o).err().map(|e| e.to_string()).unwrap_or_default();
        let o = ValidateOptions { cases: Vec::new(), ..ValidateOptions::quick(profile()) };
        assert_eq!(err(o), "no cases to validate");
        let o = ValidateOptions { rounds: 0, ..ValidateOptions::quick(profile()) };
        assert_eq!(err(o), "rounds: 0 is outside 1..=20");
        let o = ValidateOptions { remeasure_rounds: 99, ..ValidateOptions::quick(profile()) };
        assert_eq!(err(o), "extra rounds: 99 is outside 0..=20");
        let o = ValidateOptions { chunk_size_bytes: 100, ..ValidateOptions::quick(profile()) };
        assert!(err(o).contains("chunk_size_bytes"));
        let o = ValidateOptions {
            cases: vec![Case::new(ScenarioKind::KvCache, 1, Mode::Host)],
            ..ValidateOptions::quick(profile())
        };
        assert_eq!(err(o), "kv-cache has no validation cases");
        assert!(check_options(&ValidateOptions::full(profile())).is_ok());
    }

    #[test]
    fn every_scenario_with_cases_has_a_quick_case_and_both_modes_are_in_both_lists() {
        for kind in VALIDATED_SCENARIOS {
            assert!(QUICK_CASES.iter().any(|c| c.kind == kind), "{}", kind.name());
            assert!(FULL_CASES.iter().any(|c| c.kind == kind), "{}", kind.name());
        }
        for list in [&FULL_CASES[..], &QUICK_CASES[..]] {
            assert!(
                list.iter().any(|c| c.mode == Mode::Host) && list.iter().any(|c| c.mode == Mode::Offload)
            );
        }
        assert!(QUICK_CASES.iter().all(|c| FULL_CASES.contains(c)));
    }

    fn row(model: f64, live: f64) -> Row {
        let case = Case::new(ScenarioKind::FanOutRead, 1, Mode::Host);
        Row {
            case,
            spec: ValidateOptions::quick(profile()).spec(&case),
            model: vec![model],
            live: vec![live],
            live_runs: vec![live, live],
            load: LoadSum::default(),
        }
    }

    #[test]
    fn a_case_off_by_more_than_its_tolerance_or_a_mean_off_the_goal_fails() {
        let record = |rows| assemble(rows, Vec::new(), &ValidateOptions::quick(profile()), Instant::now());
        let ok = record(vec![row(105.0, 100.0), row(92.0, 100.0)]);
        assert!(ok.passed && ok.failures.is_empty(), "{:?}", ok.failures);
        assert!((ok.mean_abs_difference - 0.065).abs() < 1e-9);
        assert_eq!(ok.within_goal, 2);
        assert_eq!(ok.cases[0].live.source, Source::Measured);
        assert_eq!(ok.cases[0].modelled.source, Source::Modelled);
        // One case 25 % fast: outside its tolerance, and the mean (12.5 %) off the goal.
        let bad = record(vec![row(125.0, 100.0), row(100.0, 100.0)]);
        assert!(!bad.passed);
        assert_eq!(bad.failures.len(), 2, "{:?}", bad.failures);
        assert!(bad.failures[0].contains("+25.0 %"));
        // Every case within its tolerance, the mean off the goal.
        let mean = record(vec![row(115.0, 100.0), row(85.0, 100.0)]);
        assert!(!mean.passed && mean.failures.len() == 1 && mean.failures[0].contains("mean difference"));
        // The table tags both figures and says the verdict.
        let t = bad.render_table();
        assert!(t.contains("[meas]") && t.contains("[model]") && t.contains("FAIL"), "{t}");
        assert!(ok.render_table().contains(": pass"));
        // The document reads back as written, each figure with its source.
        let json = serde_json::to_string(&bad).unwrap();
        assert_eq!(serde_json::from_str::<Validation>(&json).unwrap(), bad);
        assert!(json.contains(r#""source":"measured""#) && json.contains(r#""source":"modelled""#), "{json}");
    }
}
