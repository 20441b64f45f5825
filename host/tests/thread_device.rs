//! The built-in devices on a thread of their own, through whole scenarios: the kernels on a
//! dedicated host thread (`--device thread`, measured) and the simulator held to its
//! modelled times (`--device sim-paced`). Every scenario verifies every byte it read back,
//! and its manifests equal host mode's.

use dpukit_host::device::DeviceChoice;
use dpukit_host::result::Source;
use dpukit_host::run::{compare, RunOptions};
use dpukit_host::spec::{ScenarioKind, ScenarioSpec};
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
fn every_scenario_on_the_thread_device_matches_host_mode_and_is_measured() {
    let profile = Profile::builtin("bluefield-2").unwrap();
    let opts = RunOptions { device: DeviceChoice::Thread, ..RunOptions::default() };
    for kind in ScenarioKind::ALL {
        let c = compare(&small(kind), &profile, &opts).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        let label = kind.name();
        assert!(c.host.verification.ok, "{label}: host verification {:?}", c.host.verification.failures);
        assert!(
            c.offload.verification.ok,
            "{label}: offload verification {:?}",
            c.offload.verification.failures
        );
        assert!(c.equivalent, "{label}: manifests differ from host mode's");
        assert_eq!(
            c.host.extra_figure("manifest_digest"),
            c.offload.extra_figure("manifest_digest"),
            "{label}"
        );
        assert!(c.host.bytes > 0 && c.host.bytes == c.offload.bytes, "{label}: bytes");
        // Every op ran on the thread (it runs every built-in op), and every figure of the
        // run is the host's measurement.
        assert_eq!(c.offload.fallbacks.total(), 0, "{label}: {:?}", c.offload.fallbacks);
        assert_eq!(c.offload.throughput.source, Source::Measured, "{label}");
        let d = c.offload.device.as_ref().expect("offload has a device summary");
        assert!(!d.modelled, "{label}: the thread device is measured");
        assert!(d.name.starts_with("host thread"), "{label}: {}", d.name);
        assert!(d.descriptors > 0, "{label}: descriptors went to the device");
        assert_eq!(d.resources.len(), 1, "{label}: {:?}", d.resources);
        assert_eq!(d.resources[0].name, "host-thread");
        assert!(d.resources[0].busy_ns > 0, "{label}: {:?}", d.resources);
        assert_eq!(d.bottleneck.as_deref(), Some("host-thread"), "{label}");
    }
}

#[test]
fn every_scenario_on_the_paced_simulator_matches_host_mode_and_is_modelled() {
    let profile = Profile::builtin("bluefield-2").unwrap();
    let opts = RunOptions { device: DeviceChoice::SimPaced, ..RunOptions::default() };
    for kind in ScenarioKind::ALL {
        let c = compare(&small(kind), &profile, &opts).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        let label = kind.name();
        assert!(
            c.offload.verification.ok,
            "{label}: offload verification {:?}",
            c.offload.verification.failures
        );
        assert!(c.equivalent, "{label}: manifests differ from host mode's");
        assert_eq!(c.offload.throughput.source, Source::Modelled, "{label}");
        let d = c.offload.device.as_ref().expect("offload has a device summary");
        assert!(d.modelled, "{label}");
        assert!(d.name.contains("paced"), "{label}: {}", d.name);
        assert!(d.descriptors > 0, "{label}");
    }
}
