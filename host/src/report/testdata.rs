//! Hand-made results for the renderers' unit tests: shaped like real runs, independent of
//! the scenarios.

#![forbid(unsafe_code)]

use super::{Sweep, SweepPoint, SweepValue};
use crate::result::*;
use crate::sensitivity::{FigureEffect, Headline, Level, Perturbed, Sensitivity};
use crate::spec::{ScenarioKind, ScenarioSpec};

pub(crate) fn run(mode: Mode) -> RunResult {
    let spec = ScenarioSpec::defaults(ScenarioKind::FanOutWrite);
    let offload = mode == Mode::Offload;
    let src = if offload { Source::Modelled } else { Source::Measured };
    let tp = if offload { 3.2e9 } else { 1.6e9 };
    let bytes = spec.object_size_bytes * u64::from(spec.nodes);
    let shift = if offload { 0 } else { 20_000 };
    let cdf = (1..=40u64).map(|i| (i * i * 900 + shift, i as f64 / 40.0)).collect();
    RunResult {
        schema_version: RESULT_SCHEMA_VERSION,
        kit_version: "0.1.0".into(),
        seed: spec.seed,
        scenario: spec,
        profile: "bluefield-2".into(),
        mode,
        machine: MachineInfo { cpu_model: "test cpu".into(), logical_cpus: 2, os: "linux".into() },
        bytes,
        ops: 256,
        wall: Figure::measured(bytes as f64 / tp * 1.1, Unit::Seconds),
        throughput: Figure { value: tp, unit: Unit::BytesPerSecond, source: src, emulator: false },
        ops_per_s: Figure { value: tp / 1048576.0, unit: Unit::OpsPerSecond, source: src, emulator: false },
        host_cpu: Figure::measured(0.4, Unit::Seconds),
        host_cpu_ns_per_byte: Figure::measured(if offload { 0.1 } else { 0.7 }, Unit::NanosecondsPerByte),
        host_cores_busy: Figure::measured(if offload { 0.3 } else { 1.1 }, Unit::Cores),
        latency: vec![LatencySummary {
            stage: "end_to_end".into(),
            source: src,
            count: 256,
            p50_ns: 40_000,
            p99_ns: 900_000,
            p999_ns: 1_300_000,
            max_ns: 1_500_000,
            mean_ns: 52_000.0,
            min_ns: 12_000,
            stdev_ns: 80_000.0,
            percentiles: vec![
                crate::result::Percentile { percentile: 50.0, ns: 40_000 },
                crate::result::Percentile { percentile: 99.0, ns: 900_000 },
            ],
            emulator: false,
            cdf,
        }],
        device: offload.then(|| DeviceSummary {
            profile: "bluefield-2".into(),
            name: "bluefield-2 (simulated)".into(),
            modelled: true,
            devices: 4,
            makespan_ns: 80_000_000,
            resources: vec![
                ResourceUse {
                    name: "arm_cores".into(),
                    units: 8,
                    jobs: 512,
                    busy_ns: 9_000_000,
                    utilization: 0.35,
                },
                ResourceUse {
                    name: "pcie_dma_read".into(),
                    units: 1,
                    jobs: 256,
                    busy_ns: 7_000_000,
                    utilization: 0.82,
                },
                ResourceUse { name: "compress".into(), units: 1, jobs: 0, busy_ns: 0, utilization: 0.0 },
            ],
            bottleneck: Some("pcie_dma_read".into()),
            descriptors: 768,
            error_completions: 0,
            injected_errors: 0,
            doorbells_dropped: 0,
            below_min_efficient_size: 0,
            late_completions: 3,
            max_lag_ns: 25_000,
        }),
        fallbacks: Fallbacks {
            unsupported_ops: if offload { 256 } else { 0 },
            reasons: if offload { vec!["lz4 compress: no engine, ran on the host".into()] } else { vec![] },
            ..Fallbacks::default()
        },
        verification: Verification {
            chunks_checked: 256,
            bytes_checked: bytes,
            ok: true,
            ..Default::default()
        },
        extra: vec![("compression_ratio".into(), Figure::measured(1.95, Unit::Ratio))],
        notes: vec!["test data <not a real run>".into()],
        blob_tier: None,
        per_node: None,
        provenance: None,
        repeats: None,
        timeline: None,
    }
}

pub(crate) fn comparison() -> Comparison {
    crate::run::comparison(run(Mode::Host), run(Mode::Offload))
}

pub(crate) fn sweep() -> Sweep {
    let mut points = Vec::new();
    for chunk in ["64k", "1m"] {
        for mode in [Mode::Host, Mode::Offload] {
            let mut result = run(mode);
            if chunk == "64k" {
                result.throughput.value /= 2.0;
            }
            points.push(SweepPoint {
                values: vec![SweepValue { knob: "chunk".into(), value: chunk.into() }],
                result,
            });
        }
    }
    Sweep { schema_version: RESULT_SCHEMA_VERSION, varied: vec!["chunk".into()], points }
}

fn head(speedup: f64) -> Headline {
    Headline { throughput_bytes_per_s: speedup * 1e9, speedup, p99_ns: 1e6 / speedup, host_cores_freed: 0.5 }
}

pub(crate) fn sensitivity(level: Level) -> Sensitivity {
    let effect = |key: &str, confidence: &str, value: f64, lo: f64, hi: f64, e: f64| FigureEffect {
        key: key.into(),
        confidence: confidence.into(),
        value,
        low: Some(Perturbed { figure_value: value * 0.75, headline: head(lo) }),
        high: Some(Perturbed { figure_value: value * 1.25, headline: head(hi) }),
        effect: e,
        note: None,
    };
    Sensitivity {
        level,
        method: "modelled: test".into(),
        fraction: 0.25,
        selection: "test".into(),
        baseline: head(3.98),
        proxy_baseline: None,
        figures: vec![
            effect("cores.compress_bytes_per_s.lz4", "assumed", 0.57e9, 3.1, 4.6, 0.22),
            effect("pcie.doorbell_ns", "assumed", 100.0, 3.9, 4.0, 0.02),
            effect("cores.crc32c_bytes_per_s", "measured", 10.3e9, 3.97, 3.98, 0.003),
            effect("cores.per_op_fixed_ns", "assumed", 200.0, 3.98, 3.98, 0.001),
            effect("memory.size_gib", "vendor", 32.0, 3.98, 3.98, 0.0),
        ],
        not_perturbed: vec![],
    }
}
