//! Every scenario runs in both modes on the same seed, produces identical manifests and
//! verifies every byte it read back.

use dpukit_host::result::{Mode, Source};
use dpukit_host::run::{compare, run_scenario, RunOptions};
use dpukit_host::spec::{CompressionSpec, ScenarioKind, ScenarioSpec};
use dpukit_sim::profile::Profile;

fn small(kind: ScenarioKind) -> ScenarioSpec {
    let mut s = ScenarioSpec::defaults(kind);
    s.nodes = 2;
    s.object_size_bytes = 2 << 20;
    s.chunk_size_bytes = 256 << 10;
    s.queue_depth = 4;
    s.batch = 2;
    s.cache_capacity_chunks = 64;
    s.kv_requests = 12;
    s.kv_shape.layers = 2;
    s
}

#[test]
fn every_scenario_is_equivalent_host_vs_offload() {
    let profile = Profile::builtin("bluefield-2").unwrap();
    for kind in ScenarioKind::ALL {
        for compression in [None, Some(("lz4", 0u8)), Some(("gzip", 1))] {
            let mut spec = small(kind);
            spec.compression = compression.map(|(a, l)| CompressionSpec {
                algorithm: dpukit_ffi::Algorithm::from_name(a).unwrap(),
                level: l,
            });
            let c =
                compare(&spec, &profile, &RunOptions::default()).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            let label = format!("{} {:?}", kind.name(), compression);
            assert!(c.host.verification.ok, "{label}: host verification {:?}", c.host.verification.failures);
            assert!(
                c.offload.verification.ok,
                "{label}: offload verification {:?}",
                c.offload.verification.failures
            );
            assert!(c.equivalent, "{label}: manifests differ");
            assert!(c.host.bytes > 0 && c.host.bytes == c.offload.bytes, "{label}: bytes");
            assert_eq!(c.host.throughput.source, Source::Measured);
            assert_eq!(c.offload.throughput.source, Source::Modelled);
            let d = c.offload.device.as_ref().expect("offload has a device summary");
            assert!(d.descriptors > 0, "{label}: descriptors went to the device");
            assert!(d.bottleneck.is_some(), "{label}: a bottleneck is named");
            assert_eq!(c.offload.fallbacks.total(), 0, "{label}: {:?}", c.offload.fallbacks);
            eprintln!(
                "{label}: host {:.0} MB/s ({:.2} ns/B) vs offload {:.0} MB/s ({:.2} ns/B), bottleneck {:?}",
                c.host.throughput.value / 1e6,
                c.host.host_cpu_ns_per_byte.value,
                c.offload.throughput.value / 1e6,
                c.offload.host_cpu_ns_per_byte.value,
                d.bottleneck
            );
        }
    }
}

#[test]
fn host_only_profile_runs_offload_mode_on_the_cpu_and_says_so() {
    let spec = small(ScenarioKind::FanOutWrite);
    let r =
        run_scenario(&spec, Mode::Offload, &Profile::builtin("host-only").unwrap(), &RunOptions::default())
            .unwrap();
    assert!(r.device.is_none());
    assert!(r.fallbacks.reasons.iter().any(|m| m.contains("no device")), "{:?}", r.fallbacks);
    assert!(r.verification.ok);
}

fn with_faults(faults: dpukit_sim::profile::FaultConfig) -> RunOptions {
    RunOptions { faults: Some(faults), ..RunOptions::default() }
}

#[test]
fn device_errors_fall_back_to_the_cpu_and_results_stay_identical() {
    let profile = Profile::builtin("bluefield-2").unwrap();
    let spec = small(ScenarioKind::FanOutWrite);
    let clean = run_scenario(&spec, Mode::Host, &profile, &RunOptions::default()).unwrap();
    let faults = dpukit_sim::profile::FaultConfig { error_completion_rate: 0.3, ..Default::default() };
    let r = run_scenario(&spec, Mode::Offload, &profile, &with_faults(faults)).unwrap();
    assert!(r.fallbacks.after_device_error > 0, "{:?}", r.fallbacks);
    assert!(r.fallbacks.reasons.iter().any(|m| m.contains("retried on the host")), "{:?}", r.fallbacks);
    assert!(r.verification.ok, "{:?}", r.verification.failures);
    assert_eq!(r.extra_figure("manifest_digest"), clean.extra_figure("manifest_digest"));
}

#[test]
fn a_device_that_stops_answering_is_replaced_by_the_cpu() {
    let profile = Profile::builtin("bluefield-3").unwrap();
    for kind in [ScenarioKind::FanOutWrite, ScenarioKind::FanInRead] {
        let spec = small(kind);
        let clean = run_scenario(&spec, Mode::Host, &profile, &RunOptions::default()).unwrap();
        // Every doorbell is lost: nothing ever completes.
        let faults = dpukit_sim::profile::FaultConfig { doorbell_drop_rate: 1.0, ..Default::default() };
        let r = run_scenario(&spec, Mode::Offload, &profile, &with_faults(faults)).unwrap();
        assert!(r.fallbacks.after_timeout > 0, "{kind:?}: {:?}", r.fallbacks);
        assert!(r.fallbacks.reasons.iter().any(|m| m.contains("stopped answering")), "{:?}", r.fallbacks);
        assert!(r.verification.ok, "{:?}", r.verification.failures);
        assert_eq!(r.extra_figure("manifest_digest"), clean.extra_figure("manifest_digest"), "{kind:?}");
        let d = r.device.as_ref().unwrap();
        assert!(d.doorbells_dropped > 0);
    }
}

#[test]
fn a_stalled_device_times_out_in_modelled_time() {
    let profile = Profile::builtin("bluefield-2").unwrap();
    let spec = small(ScenarioKind::FanInRead);
    // A 5 s stall from t = 0: longer than the 1 s device timeout.
    let faults = dpukit_sim::profile::FaultConfig {
        stalls: vec![dpukit_sim::profile::StallWindow { at_ns: 0, duration_ns: 5_000_000_000 }],
        ..Default::default()
    };
    let r = run_scenario(&spec, Mode::Offload, &profile, &with_faults(faults)).unwrap();
    assert!(r.fallbacks.after_timeout > 0, "{:?}", r.fallbacks);
    assert!(r.fallbacks.reasons.iter().any(|m| m.contains("after the timeout")), "{:?}", r.fallbacks);
    assert!(r.verification.ok);
}

#[test]
fn corrupt_cached_chunks_are_detected_reported_and_refetched() {
    let profile = Profile::builtin("bluefield-2").unwrap();
    let mut spec = small(ScenarioKind::FanOutRead);
    spec.compression = Some(CompressionSpec { algorithm: dpukit_ffi::Algorithm::Zstd, level: 1 });
    let clean = run_scenario(&spec, Mode::Host, &profile, &RunOptions::default()).unwrap();
    for mode in [Mode::Host, Mode::Offload] {
        let opts = RunOptions { corrupt_cached_chunks: 3, ..RunOptions::default() };
        let r = run_scenario(&spec, mode, &profile, &opts).unwrap();
        // 3 chunks on each of 2 nodes, each found by the warm pass (a peer's copy may be
        // damaged too: that is detected as well, and the blob tier's copy is used).
        assert!(r.verification.corrupt_detected >= 6, "{mode:?}: {:?}", r.verification);
        assert_eq!(r.verification.refetched, 6, "{mode:?}");
        assert!(r.verification.ok, "{mode:?}: corrupt data was never returned as valid");
        assert_eq!(r.extra_figure("manifest_digest"), clean.extra_figure("manifest_digest"));
    }
}
