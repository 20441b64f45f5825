//! One-at-a-time sensitivity on a fixed calibration: a figure the run cannot depend on
//! comes out at zero effect, every figure the selection leaves out really is one of those,
//! the ranking is deterministic, and the live proxy moves a run's own figures by exactly
//! scale mode's relative change.

use dpukit_host::scale::{compare_scale, ClusterSpec, ScaleOptions};
use dpukit_host::sensitivity::{live_sensitivity, scale_sensitivity, select, Level, DEFAULT_FRACTION};
use dpukit_host::spec::{ScenarioKind, ScenarioSpec};
use dpukit_sim::profile::Profile;

#[path = "common/fixed_calibration.rs"]
mod fixed_calibration;
use fixed_calibration::fixed;

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
    let effect =
        |k: &str| all.figures.iter().find(|f| f.key == k).unwrap_or_else(|| panic!("{k} missing")).effect;
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
            assert_eq!(
                f.effect, 0.0,
                "{profile} {kind:?}: {} left out ({}) but moves the result",
                left.key, left.reason
            );
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
    let proxy =
        live_sensitivity(&s, &p, &base, calibration, "fixed (test)".into(), Level::Top, DEFAULT_FRACTION)
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
