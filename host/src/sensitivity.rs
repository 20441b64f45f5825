//! How far to trust a modelled result: one-at-a-time sensitivity of the headline figures
//! (offload throughput, speedup, end-to-end p99, host cores freed) to the profile figures
//! the run used.
//!
//! **Method.** Each selected figure is moved down and up by a fraction (±25 % by default;
//! whole-number and listed figures take their neighbouring valid value, see
//! [`dpukit_sim::sensitivity::perturbed_values`]), the profile is re-validated, and the
//! offload leg is modelled again with everything else held: same scenario, seed,
//! calibration and cluster. Figures are ranked by the largest relative change of any
//! headline figure in either direction.
//!
//! - **Scale mode** ([`scale_sensitivity`]) re-runs `run_scale` per perturbed figure: the
//!   same deterministic model that produced the result, so the ranges are exact for it.
//!   The host leg does not read the profile and is reused (unless the cluster's NIC comes
//!   from the profile's network figure, which is then re-run too).
//! - **A live comparison** ([`live_sensitivity`]) cannot be re-run per figure at a cost
//!   anyone would accept. Its device times were modelled inline from the same profile, so
//!   the relative effect of each figure is taken from scale mode modelling the same
//!   scenario colocated on this machine (as the live run was), with this machine's
//!   calibration, and applied to the live run's own figures. The result says so.
//!
//! **Which figures.** Only the figures the run can have used are perturbed ([`select`]):
//! those of the device resources that did work in the run (its device summary: jobs or
//! busy time > 0), narrowed on the DPU cores to the op kinds the scenario submits (its
//! compression algorithm, the cache ops of the reads and the KV cache), plus the network
//! when scale mode takes the NIC from it. Figures the timing model never reads (core
//! clock, memory, an engine's minimum efficient size) are listed as not perturbed, with
//! the reason. `all` perturbs every figure instead, which also checks the selection: a
//! figure outside it must come out at zero effect.

#![forbid(unsafe_code)]

use crate::calibrate::Calibration;
use crate::result::{Comparison, Mode, RunResult};
use crate::scale::{run_scale, ClusterSpec, ScaleError, ScaleOptions};
use crate::scenario::{self, Stage};
use crate::spec::ScenarioSpec;
use dpukit_sim::engine::profile_algorithm;
use dpukit_sim::profile::{Confidence, Profile};
use dpukit_sim::sensitivity::{perturbed_values, FigureInfo};
use dpukit_sim::timing::{OpCost, OpKind, Route, SimTime, TimingModel};
use serde::{Deserialize, Serialize};

/// Default perturbation: ±25 %.
pub const DEFAULT_FRACTION: f64 = 0.25;
/// Lines a table or page shows at `top`.
pub const TOP_LINES: usize = 3;
/// Relative changes below this are rounding noise of the model, reported as zero.
pub const ZERO_EFFECT: f64 = 1e-9;
/// Below this largest effect (1 %), no profile figure matters much to the result.
pub const SMALL_EFFECT: f64 = 0.01;

/// How much sensitivity to compute and show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// None.
    Off,
    /// The figures the run used; tables show the top [`TOP_LINES`], JSON keeps all.
    Top,
    /// Every figure of the profile, used or not; tables show them all.
    All,
}

impl Level {
    pub fn parse(s: &str) -> Result<Level, String> {
        match s {
            "off" => Ok(Level::Off),
            "top" => Ok(Level::Top),
            "all" => Ok(Level::All),
            other => Err(format!("`{other}`: must be off, top or all")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Level::Off => "off",
            Level::Top => "top",
            Level::All => "all",
        }
    }
}

/// The headline figures of a comparison. All modelled in offload mode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Headline {
    pub throughput_bytes_per_s: f64,
    pub speedup: f64,
    pub p99_ns: f64,
    pub host_cores_freed: f64,
}

impl Headline {
    pub fn of(c: &Comparison) -> Headline {
        Headline {
            throughput_bytes_per_s: c.offload.throughput.value,
            speedup: c.speedup.value,
            p99_ns: p99_of(&c.offload),
            host_cores_freed: c.host_cores_freed.value,
        }
    }

    fn values(&self) -> [f64; 4] {
        [self.throughput_bytes_per_s, self.speedup, self.p99_ns, self.host_cores_freed]
    }

    /// `self` scaled metric by metric by `to / from` (the live run's figures moved by the
    /// relative change scale mode gives); a metric whose base is zero stays as it is.
    fn moved(&self, from: &Headline, to: &Headline) -> Headline {
        let f =
            |x: f64, a: f64, b: f64| if a != 0.0 && a.is_finite() && b.is_finite() { x * b / a } else { x };
        Headline {
            throughput_bytes_per_s: f(
                self.throughput_bytes_per_s,
                from.throughput_bytes_per_s,
                to.throughput_bytes_per_s,
            ),
            speedup: f(self.speedup, from.speedup, to.speedup),
            p99_ns: f(self.p99_ns, from.p99_ns, to.p99_ns),
            host_cores_freed: f(self.host_cores_freed, from.host_cores_freed, to.host_cores_freed),
        }
    }

    /// Largest relative change of any metric from `base`.
    fn change_from(&self, base: &Headline) -> f64 {
        self.values()
            .iter()
            .zip(base.values())
            .map(|(&x, b)| if b != 0.0 && b.is_finite() && x.is_finite() { ((x - b) / b).abs() } else { 0.0 })
            .fold(0.0, f64::max)
    }
}

fn p99_of(r: &RunResult) -> f64 {
    r.latency_of("end_to_end").map_or(0.0, |l| l.p99_ns as f64)
}

/// One direction of one figure's perturbation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Perturbed {
    /// The figure's value in this run.
    pub figure_value: f64,
    pub headline: Headline,
}

/// One figure's effect on the headline figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FigureEffect {
    /// The profile key, e.g. `cores.compress_bytes_per_s.lz4`.
    pub key: String,
    /// measured, vendor, derived or assumed.
    pub confidence: String,
    pub value: f64,
    pub low: Option<Perturbed>,
    pub high: Option<Perturbed>,
    /// Largest relative change of any headline figure, either direction (0.1 = 10 %).
    pub effect: f64,
    /// Why a direction is missing (no valid value there), if one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A figure left alone, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotPerturbed {
    pub key: String,
    pub confidence: String,
    pub reason: String,
}

/// The sensitivity of one comparison to its profile's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sensitivity {
    pub level: Level,
    /// How the perturbed results were obtained (scale mode re-run, or the live proxy).
    pub method: String,
    /// The perturbation, as a fraction of each continuous figure (0.25 = ±25 %).
    pub fraction: f64,
    /// How the perturbed figures were chosen.
    pub selection: String,
    /// The headline figures of the result itself.
    pub baseline: Headline,
    /// Live runs: scale mode's own headline figures for the same scenario on this machine,
    /// whose relative changes were applied to the baseline (shows how close the proxy is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_baseline: Option<Headline>,
    /// Every perturbed figure, largest effect first.
    pub figures: Vec<FigureEffect>,
    pub not_perturbed: Vec<NotPerturbed>,
}

impl Sensitivity {
    /// The figure that moves the result most, if any moves it at all.
    pub fn top_driver(&self) -> Option<&FigureEffect> {
        self.figures.first().filter(|f| f.effect > ZERO_EFFECT)
    }

    /// One line when the top driver is `assumed` and moves the result by at least
    /// [`SMALL_EFFECT`]: the measurement that would settle the result first.
    pub fn assumed_top_driver_line(&self) -> Option<String> {
        let top = self.top_driver()?;
        (top.confidence == Confidence::Assumed.name() && top.effect >= SMALL_EFFECT).then(|| {
            format!(
                "top driver `{}` is assumed (no published figure): measuring it on real hardware would settle this result first",
                top.key
            )
        })
    }
}

/// The op kinds a scenario submits to the device: the stages of its definition's jobs
/// (`crate::scenario::jobs`), each kind once, in the order a chunk meets them. A plugin
/// op is not among them: its cost is its own `[[user_kernels]]` entry, and where it ran
/// is said by `crate::plugin::placement_note`.
pub fn op_kinds(spec: &ScenarioSpec) -> Vec<OpKind> {
    let mut ops = Vec::new();
    for job in scenario::jobs(spec) {
        for stage in job.stages {
            let kind = match stage {
                Stage::Crc32c(_) => OpKind::Crc32c,
                Stage::Compress { algorithm, .. } => OpKind::Compress(profile_algorithm(algorithm)),
                Stage::Decompress { algorithm } => OpKind::Decompress(profile_algorithm(algorithm)),
                Stage::Lookup => OpKind::CacheLookup,
                Stage::Insert => OpKind::CacheInsert,
                Stage::Plugin { .. } => continue,
            };
            if !ops.contains(&kind) {
                ops.push(kind);
            }
        }
    }
    ops
}

/// The core rate figure an op kind reads, if it runs on the cores.
fn core_rate_key(kind: &OpKind) -> Option<String> {
    Some(match kind {
        OpKind::Crc32c => "cores.crc32c_bytes_per_s".into(),
        OpKind::Copy => "cores.copy_bytes_per_s".into(),
        OpKind::Compress(a) => format!("cores.compress_bytes_per_s.{}", a.name()),
        OpKind::Decompress(a) => format!("cores.decompress_bytes_per_s.{}", a.name()),
        OpKind::CacheLookup => "cores.cache_lookup_ops_per_s".into(),
        OpKind::CacheInsert => "cores.cache_insert_ops_per_s".into(),
        OpKind::CacheDelete => "cores.cache_delete_ops_per_s".into(),
        OpKind::CopyCrc32c | OpKind::Nop | OpKind::User(_) => return None,
    })
}

/// Whether the figure `key` can matter to a run that used the resources `busy` (names
/// as in the device summary) and submitted `ops`; `Err(reason)` when it cannot.
fn relevance(
    key: &str,
    profile: &Profile,
    busy: &[String],
    ops: &[OpKind],
    network_used: bool,
) -> Result<(), String> {
    let used = |r: &str| busy.iter().any(|b| b == r);
    let need =
        |r: &str| if used(r) { Ok(()) } else { Err(format!("resource `{r}` did no work in this run")) };
    let never = |why: &str| Err(format!("the timing model does not read it ({why})"));
    if let Some(rest) = key.strip_prefix("accelerators[") {
        let (name, field) = rest.split_once("].").unwrap_or((rest, ""));
        if field == "min_efficient_size_bytes" {
            return never("only ops below it are counted");
        }
        return need(&format!("accel:{name}"));
    }
    if key.starts_with("user_kernels[") {
        return need("dpu-cores");
    }
    match key {
        "cores.clock_ghz" => never("per-core rates are given directly"),
        "memory.size_gib" | "memory.bandwidth_bytes_per_s" => never("device memory is not modelled"),
        "network.bandwidth_gbit_per_s" => {
            if network_used {
                Ok(())
            } else {
                Err("only scale mode's cluster NIC reads it (not live or colocated runs, nor with --nic-gbps)".into())
            }
        }
        "cores.count" | "cores.per_op_fixed_ns" => need("dpu-cores"),
        "pcie.doorbell_ns" => need("doorbell"),
        "pcie.max_read_request_bytes"
        | "pcie.dma_read_latency_ns"
        | "pcie.max_dma_read_requests_per_s"
        | "pcie.dma_read_bandwidth_bytes_per_s" => need("pcie-dma-read"),
        "pcie.dma_write_latency_ns"
        | "pcie.max_dma_write_requests_per_s"
        | "pcie.dma_write_bandwidth_bytes_per_s" => need("pcie-dma-write"),
        k if k.starts_with("pcie.") => need("pcie-dma-read").or_else(|_| need("pcie-dma-write")),
        k if k.starts_with("cores.") => {
            need("dpu-cores")?;
            let model = TimingModel::new(profile).map_err(|e| e.to_string())?;
            let on_cores = ops
                .iter()
                .any(|op| core_rate_key(op).as_deref() == Some(k) && model.route(op) == Ok(Route::DpuCores));
            if on_cores {
                Ok(())
            } else {
                Err("no op of this scenario runs it on the DPU cores".into())
            }
        }
        _ => Ok(()),
    }
}

/// Splits the profile's figures into those to perturb and those left alone, for a run
/// whose offload leg is `offload`. At [`Level::All`] every figure is perturbed.
pub fn select(
    profile: &Profile,
    spec: &ScenarioSpec,
    offload: &RunResult,
    level: Level,
    network_used: bool,
) -> (Vec<FigureInfo>, Vec<NotPerturbed>) {
    let busy: Vec<String> = offload
        .device
        .as_ref()
        .map(|d| d.resources.iter().filter(|r| r.jobs > 0 || r.busy_ns > 0).map(|r| r.name.clone()).collect())
        .unwrap_or_default();
    let ops = op_kinds(spec);
    let mut chosen = Vec::new();
    let mut skipped = Vec::new();
    for f in profile.figures() {
        match relevance(&f.key, profile, &busy, &ops, network_used) {
            Err(reason) if level != Level::All => skipped.push(NotPerturbed {
                key: f.key.clone(),
                confidence: f.confidence.name().into(),
                reason,
            }),
            _ => chosen.push(f),
        }
    }
    (chosen, skipped)
}

fn selection_text(level: Level, chosen: usize, total: usize) -> String {
    match level {
        Level::All => format!("all {total} figures of the profile, used or not"),
        _ => format!(
            "{chosen} of {total} figures: those of the device resources that did work in this run \
             (device summary), narrowed on the DPU cores to the op kinds the scenario submits"
        ),
    }
}

/// Perturbs each of `figures` both ways and ranks them; `model` gives the headline for
/// a perturbed profile.
fn rank(
    profile: &Profile,
    figures: Vec<FigureInfo>,
    fraction: f64,
    baseline: Headline,
    mut model: impl FnMut(&Profile, &FigureInfo) -> Result<Headline, ScaleError>,
) -> Result<Vec<FigureEffect>, ScaleError> {
    let mut out = Vec::with_capacity(figures.len());
    for f in figures {
        let mut sides: [Option<Perturbed>; 2] = [None, None];
        let mut notes = Vec::new();
        for (i, v) in perturbed_values(&f, fraction).into_iter().enumerate() {
            let dir = if i == 0 { "down" } else { "up" };
            let Some(v) = v else {
                notes.push(format!("no valid value {dir} from {}", f.display));
                continue;
            };
            match profile.with_figure(&f.key, v) {
                Ok(p) => {
                    let figure_value = p.figure(&f.key).map_or(v, |g| g.value);
                    sides[i] = Some(Perturbed { figure_value, headline: model(&p, &f)? });
                }
                Err(e) => notes.push(format!("{dir}: {e}")),
            }
        }
        let effect = sides.iter().flatten().map(|s| s.headline.change_from(&baseline)).fold(0.0, f64::max);
        let effect = if effect < ZERO_EFFECT { 0.0 } else { effect };
        let [low, high] = sides;
        out.push(FigureEffect {
            key: f.key,
            confidence: f.confidence.name().into(),
            value: f.value,
            low,
            high,
            effect,
            note: (!notes.is_empty()).then(|| notes.join("; ")),
        });
    }
    out.sort_by(|a, b| b.effect.total_cmp(&a.effect).then_with(|| a.key.cmp(&b.key)));
    Ok(out)
}

/// The cluster of a perturbed run: the NIC follows the profile's network figure when the
/// base cluster took it from the profile.
fn opts_for(base: &ScaleOptions, profile: &Profile, nic_from_profile: bool) -> ScaleOptions {
    let mut opts = base.clone();
    if nic_from_profile {
        opts.cluster.nic_bytes_per_s = ClusterSpec::cluster(&opts.calibration, profile).nic_bytes_per_s;
    }
    opts
}

/// Sensitivity of a scale-mode comparison `base` (made by `compare_scale(spec, profile,
/// opts)`): `run_scale` again per perturbed figure. `nic_from_profile`: the cluster's NIC
/// was taken from the profile's network (not colocated, no `--nic-gbps`).
pub fn scale_sensitivity(
    spec: &ScenarioSpec,
    profile: &Profile,
    opts: &ScaleOptions,
    base: &Comparison,
    level: Level,
    fraction: f64,
    nic_from_profile: bool,
) -> Result<Sensitivity, ScaleError> {
    let total = profile.figures().len();
    let (chosen, not_perturbed) = select(profile, spec, &base.offload, level, nic_from_profile);
    let selection = selection_text(level, chosen.len(), total);
    let baseline = Headline::of(base);
    let figures = rank(profile, chosen, fraction, baseline, |p, f| {
        let o = opts_for(opts, p, nic_from_profile);
        let offload = run_scale(spec, Mode::Offload, p, &o)?;
        // The host leg reads the profile only through the NIC.
        let host = if nic_from_profile && f.key.starts_with("network.") {
            run_scale(spec, Mode::Host, p, &o)?
        } else {
            base.host.clone()
        };
        Ok(Headline::of(&crate::run::comparison(host, offload)))
    })?;
    Ok(Sensitivity {
        level,
        method: format!(
            "modelled: scale mode re-run once per figure and direction (±{:.0} %), everything else held",
            fraction * 100.0
        ),
        fraction,
        selection,
        baseline,
        proxy_baseline: None,
        figures,
        not_perturbed,
    })
}

/// Sensitivity of a live comparison `live`: relative effects from scale mode modelling
/// the same scenario colocated on this machine with `calibration`, applied to the live
/// run's own headline figures (see the module docs).
pub fn live_sensitivity(
    spec: &ScenarioSpec,
    profile: &Profile,
    live: &Comparison,
    calibration: Calibration,
    calibration_source: String,
    level: Level,
    fraction: f64,
) -> Result<Sensitivity, ScaleError> {
    let opts =
        ScaleOptions { cluster: ClusterSpec::this_machine(&calibration), calibration, calibration_source };
    let total = profile.figures().len();
    let (chosen, not_perturbed) = select(profile, spec, &live.offload, level, false);
    let selection = selection_text(level, chosen.len(), total);
    let proxy_host = run_scale(spec, Mode::Host, profile, &opts)?;
    let proxy_offload = run_scale(spec, Mode::Offload, profile, &opts)?;
    let proxy = Headline::of(&crate::run::comparison(proxy_host.clone(), proxy_offload));
    let baseline = Headline::of(live);
    let figures = rank(profile, chosen, fraction, baseline, |p, _| {
        let offload = run_scale(spec, Mode::Offload, p, &opts)?;
        let moved = Headline::of(&crate::run::comparison(proxy_host.clone(), offload));
        Ok(baseline.moved(&proxy, &moved))
    })?;
    Ok(Sensitivity {
        level,
        method: format!(
            "modelled, approximate: the relative change scale mode gives for this scenario colocated on \
             this machine (calibration {}) when one figure moves ±{:.0} %, applied to this live run's figures",
            opts.calibration_source,
            fraction * 100.0
        ),
        fraction,
        selection,
        baseline,
        proxy_baseline: Some(proxy),
        figures,
        not_perturbed,
    })
}

/// One figure that matters for a scenario on a profile, without a run.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceEffect {
    pub figure: FigureInfo,
    /// Largest relative change of the modelled device time per chunk, either direction.
    pub effect: f64,
}

/// The ops of one chunk of `spec` with their bytes (compressed size from the spec's
/// target compressibility).
fn chunk_ops(spec: &ScenarioSpec) -> Vec<OpCost> {
    let chunk = u64::from(spec.chunk_size_bytes);
    let stored = if spec.compression.is_some() {
        ((chunk as f64 / spec.compressibility.max(1.0)).ceil() as u64).max(1)
    } else {
        chunk
    };
    op_kinds(spec)
        .into_iter()
        .map(|kind| {
            let (bytes_in, bytes_out) = match kind {
                OpKind::Compress(_) => (chunk, stored),
                OpKind::Decompress(_) => (stored, chunk),
                OpKind::CacheLookup => (0, 16),
                OpKind::CacheInsert | OpKind::CacheDelete | OpKind::Nop => (0, 0),
                _ => (if spec.compression.is_some() { stored } else { chunk }, 0),
            };
            OpCost { kind, bytes_in, bytes_out }
        })
        .collect()
}

/// Modelled device time of one chunk: each op alone on a fresh model (doorbell to
/// completion, no queueing), summed.
fn device_time_per_chunk_ns(profile: &Profile, ops: &[OpCost]) -> Result<f64, String> {
    let mut total = 0.0;
    for op in ops {
        let mut model = TimingModel::new(profile).map_err(|e| e.to_string())?;
        let (batch, timing) = model.submit_single(SimTime::ZERO, op).map_err(|e| e.to_string())?;
        total += timing.completion.saturating_since(batch.doorbell.start).as_ns() as f64;
    }
    Ok(total)
}

/// Which figures of `profile` matter for `spec`, without running it: those of the device
/// resources its op kinds pass through (doorbell, DMA, the cores or the engine each op is
/// routed to), ranked by how far a `fraction` perturbation moves the modelled device time
/// of one chunk. A device-only measure: what it does to end-to-end figures takes a run
/// (`compare --sensitivity`). Errors for a profile without a device.
pub fn scenario_figures(
    profile: &Profile,
    spec: &ScenarioSpec,
    fraction: f64,
) -> Result<(Vec<DeviceEffect>, Vec<NotPerturbed>), String> {
    let ops = chunk_ops(spec);
    let model = TimingModel::new(profile).map_err(|e| e.to_string())?;
    let mut busy: Vec<String> = Vec::new();
    if profile.pcie.is_some() {
        busy.extend(["doorbell", "pcie-dma-read", "pcie-dma-write"].map(String::from));
    }
    for op in &ops {
        match model.route(&op.kind).map_err(|e| e.to_string())? {
            Route::DpuCores => busy.push("dpu-cores".into()),
            Route::Accelerator(i) => busy.push(format!("accel:{}", profile.accelerators[i].name)),
            Route::NoCompute => {}
        }
    }
    let base = device_time_per_chunk_ns(profile, &ops)?;
    let mut used = Vec::new();
    let mut left = Vec::new();
    for f in profile.figures() {
        if let Err(reason) = relevance(&f.key, profile, &busy, &op_kinds(spec), false) {
            let reason = reason.replace("did no work in this run", "is not used by this scenario");
            left.push(NotPerturbed { key: f.key.clone(), confidence: f.confidence.name().into(), reason });
            continue;
        }
        let mut effect: f64 = 0.0;
        for v in perturbed_values(&f, fraction).into_iter().flatten() {
            if let Ok(p) = profile.with_figure(&f.key, v) {
                let t = device_time_per_chunk_ns(&p, &ops)?;
                if base > 0.0 {
                    effect = effect.max(((t - base) / base).abs());
                }
            }
        }
        used.push(DeviceEffect { figure: f, effect: if effect < ZERO_EFFECT { 0.0 } else { effect } });
    }
    used.sort_by(|a, b| b.effect.total_cmp(&a.effect).then_with(|| a.figure.key.cmp(&b.figure.key)));
    Ok((used, left))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ScenarioKind;
    use dpukit_sim::profile::Algorithm;

    #[test]
    fn levels_parse_and_bad_ones_are_named() {
        assert_eq!(Level::parse("off"), Ok(Level::Off));
        assert_eq!(Level::parse("top"), Ok(Level::Top));
        assert_eq!(Level::parse("all"), Ok(Level::All));
        let e = Level::parse("most").unwrap_err();
        assert!(e.contains("`most`") && e.contains("off, top or all"), "{e}");
    }

    #[test]
    fn op_kinds_follow_the_scenario_and_its_codec() {
        let mut w = ScenarioSpec::defaults(ScenarioKind::FanOutWrite);
        assert!(op_kinds(&w).contains(&OpKind::Compress(Algorithm::Lz4)));
        assert!(!op_kinds(&w).contains(&OpKind::CacheLookup));
        w.compression = None;
        assert_eq!(op_kinds(&w), vec![OpKind::Crc32c]);
        let r = ScenarioSpec::defaults(ScenarioKind::FanOutRead);
        let ops = op_kinds(&r);
        assert!(ops.contains(&OpKind::CacheLookup) && ops.contains(&OpKind::Decompress(Algorithm::Lz4)));
        assert!(!ops.contains(&OpKind::Compress(Algorithm::Lz4)));
    }

    #[test]
    fn scenario_figures_rank_the_compress_rate_first_for_a_bf3_checkpoint() {
        let p = Profile::builtin("bluefield-3").unwrap();
        let spec = ScenarioSpec::defaults(ScenarioKind::FanOutWrite);
        let (used, left) = scenario_figures(&p, &spec, DEFAULT_FRACTION).unwrap();
        // BlueField-3 has no compress engine: LZ4 compression runs on the Arm cores.
        assert_eq!(used[0].figure.key, "cores.compress_bytes_per_s.lz4", "{used:#?}");
        assert!(used[0].effect > 0.1);
        let left_keys: Vec<&str> = left.iter().map(|n| n.key.as_str()).collect();
        for k in [
            "accelerators[decompress].bandwidth_bytes_per_s",
            "cores.cache_lookup_ops_per_s",
            "memory.size_gib",
        ] {
            assert!(left_keys.contains(&k), "{k} not left out: {left_keys:?}");
        }
        assert!(left.iter().any(|n| n.reason.contains("not used by this scenario")));
        assert!(scenario_figures(&Profile::builtin("host-only").unwrap(), &spec, 0.25).is_err());
    }

    #[test]
    fn headline_moves_by_the_proxys_ratio() {
        let live =
            Headline { throughput_bytes_per_s: 100.0, speedup: 2.0, p99_ns: 10.0, host_cores_freed: 0.0 };
        let from =
            Headline { throughput_bytes_per_s: 50.0, speedup: 1.0, p99_ns: 20.0, host_cores_freed: 0.0 };
        let to = Headline { throughput_bytes_per_s: 75.0, speedup: 1.5, p99_ns: 10.0, host_cores_freed: 1.0 };
        let m = live.moved(&from, &to);
        assert_eq!(
            (m.throughput_bytes_per_s, m.speedup, m.p99_ns, m.host_cores_freed),
            (150.0, 3.0, 5.0, 0.0)
        );
        assert!((m.change_from(&live) - 0.5).abs() < 1e-12);
    }
}
