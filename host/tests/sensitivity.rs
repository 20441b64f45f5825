//! One-at-a-time sensitivity on a fixed calibration: a figure the run cannot depend on
//! comes out at zero effect, every figure the selection leaves out really is one of those,
//! the ranking is deterministic, and the live proxy moves a run's own figures by exactly
//! scale mode's relative change.

use dpukit_host::calibrate::{Calibration, CodecCost, CodecPoint, DatagenPoint, OpCost, SizedCost};
use dpukit_host::result::MachineInfo;
use dpukit_host::scale::{compare_scale, ClusterSpec, ScaleOptions};
use dpukit_host::sensitivity::{live_sensitivity, scale_sensitivity, select, Level, DEFAULT_FRACTION};
use dpukit_host::spec::{ScenarioKind, ScenarioSpec};
use dpukit_sim::profile::Profile;

/// A calibration written down, so these tests measure nothing and never vary.
fn fixed() -> Calibration {
    let sized = |ns_per_byte| vec![SizedCost { bytes: 1 << 20, ns_per_byte }];
    let op = |op_ns, ns_per_byte, cpu_share| OpCost { op_ns, ns_per_byte, cpu_share, ..OpCost::default() };
    Calibration {
        version: dpukit_host::calibrate::CALIBRATION_VERSION,
        kit_version: "test".into(),
        build: if cfg!(debug_assertions) { "debug" } else { "release" }.into(),
        machine: MachineInfo { cpu_model: "test".into(), logical_cpus: 8, os: "test".into() },
        measured_in: "nowhere".into(),
        took_s: 0.0,
        crc32c: sized(0.1),
        memcpy: sized(0.05),
        datagen: vec![DatagenPoint { compressibility: 2.0, bytes: 1 << 20, ns_per_byte: 0.5 }],
        codecs: vec![CodecCost {
            algorithm: "lz4".into(),
            level: 0,
            points: vec![CodecPoint {
                compressibility: 2.0,
                bytes: 1 << 20,
                compress_ns_per_byte: 1.0,
                decompress_ns_per_byte: 0.3,
                ratio: 2.0,
            }],
        }],
        local_write: op(50_000.0, 0.2, 0.5),
        local_write_batch: None,
        local_read: op(2_000.0, 0.05, 1.0),
        manifest_append: op(100_000.0, 1_000.0, 0.5),
        blob_get: op(20_000.0, 0.3, 0.9),
        blob_get_batch: None,
        blob_put: op(200_000.0, 0.5, 0.5),
        host_job_ns: 1_000.0,
        host_insert_job_ns: 1_000.0,
        device_job_host_ns: 800.0,
        effective_cores: 8.0,
    }
}

fn cluster_opts(profile: &Profile) -> ScaleOptions {
    let calibration = fixed();
    ScaleOptions {
        cluster: ClusterSpec::cluster(&calibration, profile),
        calibration,
        calibration_source: "fixed (test)".into(),
    }
}

fn spec(kind: ScenarioKind) -> ScenarioSpec {
    let mut s = ScenarioSpec::defaults(kind);
    s.nodes = 4;
    s.object_size_bytes = 4 << 20;
    s.readers = 2;
    s.kv_requests = 50;
    s
}

/// BlueField-2 has no LZ4 engine: an LZ4 checkpoint compresses on the Arm cores, so the
/// deflate engine and the cache rates cannot matter, and the LZ4 core rate must.
#[test]
fn a_figure_the_run_cannot_use_ranks_at_zero_effect() {
    let profile = Profile::builtin("bluefield-2").unwrap();
    let opts = cluster_opts(&profile);
    let s = spec(ScenarioKind::FanOutWrite);
    let base = compare_scale(&s, &profile, &opts).unwrap();
    let all = scale_sensitivity(&s, &profile, &opts, &base, Level::All, DEFAULT_FRACTION, true).unwrap();
    let effect = |k: &str| all.figures.iter().find(|f| f.key == k).unwrap_or_else(|| panic!("{k} missing")).effect;
    for unused in [
        "accelerators[compress].bandwidth_bytes_per_s",
        "cores.cache_lookup_ops_per_s",
        "cores.decompress_bytes_per_s.lz4",
        "cores.clock_ghz",
        "memory.bandwidth_bytes_per_s",
    ] {
        assert_eq!(effect(unused), 0.0, "{unused}");
    }
    assert!(effect("cores.compress_bytes_per_s.lz4") > 0.01, "{all:#?}");
    // Zero-effect figures rank below every figure with an effect.
    let first_zero = all.figures.iter().position(|f| f.effect == 0.0).unwrap();
    assert!(all.figures[first_zero..].iter().all(|f| f.effect == 0.0));
    assert!(all.figures[..first_zero].iter().all(|f| f.effect > 0.0));
    // The headline of each side is that of a real perturbed run, not the baseline.
    let lz4 = all.figures.iter().find(|f| f.key == "cores.compress_bytes_per_s.lz4").unwrap();
    let (low, high) = (lz4.low.as_ref().unwrap(), lz4.high.as_ref().unwrap());
    assert!((low.figure_value / lz4.value - 0.75).abs() < 1e-9);
    assert!(low.headline.throughput_bytes_per_s <= all.baseline.throughput_bytes_per_s);
    assert!(high.headline.throughput_bytes_per_s >= all.baseline.throughput_bytes_per_s);
}

/// `top` leaves figures out; perturbing everything (`all`) shows each of them at zero.
#[test]
fn every_figure_left_out_has_zero_effect() {
    for (profile, kind) in [
        ("bluefield-2", ScenarioKind::FanOutRead),
        ("bluefield-3", ScenarioKind::FanInRead),
        ("fungible-f1", ScenarioKind::KvCache),
    ] {
        let p = Profile::builtin(profile).unwrap();
        let opts = cluster_opts(&p);
        let s = spec(kind);
        let base = compare_scale(&s, &p, &opts).unwrap();
        let (chosen, left_out) = select(&p, &s, &base.offload, Level::Top, true);
        let all = scale_sensitivity(&s, &p, &opts, &base, Level::All, DEFAULT_FRACTION, true).unwrap();
        assert!(all.not_perturbed.is_empty());
        assert_eq!(chosen.len() + left_out.len(), all.figures.len());
        assert!(!left_out.is_empty(), "{profile} {kind:?}: nothing left out");
        for left in &left_out {
            let f = all.figures.iter().find(|f| f.key == left.key).unwrap();
            assert_eq!(f.effect, 0.0, "{profile} {kind:?}: {} left out ({}) but moves the result", left.key, left.reason);
        }
        assert!(all.figures[0].effect > 0.0, "{profile} {kind:?}: no figure moves the result");
    }
}

#[test]
fn the_ranking_is_deterministic() {
    let p = Profile::builtin("bluefield-3").unwrap();
    let opts = cluster_opts(&p);
    let s = spec(ScenarioKind::FanOutRead);
    let base = compare_scale(&s, &p, &opts).unwrap();
    let a = scale_sensitivity(&s, &p, &opts, &base, Level::Top, DEFAULT_FRACTION, true).unwrap();
    let b = scale_sensitivity(&s, &p, &opts, &base, Level::Top, DEFAULT_FRACTION, true).unwrap();
    assert_eq!(a, b);
    assert!(a.figures.windows(2).all(|w| w[0].effect >= w[1].effect));
}

/// With a "live" comparison that is itself the colocated scale run, the proxy's figures
/// are exactly those of scale mode's own sensitivity (ratio times baseline).
#[test]
fn the_live_proxy_applies_scale_modes_relative_change() {
    let p = Profile::builtin("bluefield-3").unwrap();
    let calibration = fixed();
    let opts = ScaleOptions {
        cluster: ClusterSpec::this_machine(&calibration),
        calibration: calibration.clone(),
        calibration_source: "fixed (test)".into(),
    };
    let s = spec(ScenarioKind::FanOutWrite);
    let base = compare_scale(&s, &p, &opts).unwrap();
    let direct = scale_sensitivity(&s, &p, &opts, &base, Level::Top, DEFAULT_FRACTION, false).unwrap();
    let proxy = live_sensitivity(&s, &p, &base, calibration, "fixed (test)".into(), Level::Top, DEFAULT_FRACTION)
        .unwrap();
    assert!(proxy.method.contains("applied to this live run"), "{}", proxy.method);
    assert_eq!(direct.figures.len(), proxy.figures.len());
    for (d, l) in direct.figures.iter().zip(&proxy.figures) {
        assert_eq!(d.key, l.key);
        assert!((d.effect - l.effect).abs() < 1e-9, "{}: {} vs {}", d.key, d.effect, l.effect);
        if let (Some(a), Some(b)) = (&d.high, &l.high) {
            let (x, y) = (a.headline.throughput_bytes_per_s, b.headline.throughput_bytes_per_s);
            assert!((x - y).abs() <= 1e-9 * x, "{}: {x} vs {y}", d.key);
        }
    }
}

