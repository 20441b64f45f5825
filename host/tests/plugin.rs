//! A C plugin as a stage of every scenario: host and offload mode store the same bytes
//! (identical manifests) and every chunk verifies, which takes the plugin's inverse; a
//! plugin that fails or lies about its output length fails the run with its status; a
//! profile that cannot time or run it is refused before any work; scale mode prices its
//! host cost from a measurement.

#[path = "common/fixed_calibration.rs"]
mod fixed_calibration;

use dpukit_ffi::Status;
use dpukit_host::plugin::PluginError;
use dpukit_host::result::Mode;
use dpukit_host::run::{compare, run_scenario, RunError, RunOptions};
use dpukit_host::scale::{compare_scale, ClusterSpec, ScaleOptions};
use dpukit_host::spec::{CompressionSpec, PluginSpec, ScenarioKind, ScenarioSpec};
use dpukit_sim::profile::Profile;
use std::path::{Path, PathBuf};

/// Builds `tests/c/plugins.c` with `define` (if any) into a shared object.
fn build(name: &str, define: Option<&str>) -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("lib{name}.so"));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cc = std::process::Command::new("cc");
    cc.args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-shared", "-fPIC", "-I"])
        .arg(dir.join("../ffi/include"))
        .arg(dir.join("tests/c/plugins.c"))
        .arg("-o")
        .arg(&out);
    if let Some(d) = define {
        cc.arg(format!("-D{d}"));
    }
    assert!(cc.status().expect("`cc` not found: install gcc").success(), "building {name} failed");
    out
}

/// BlueField-2 with a modelled cost for the test plugin.
fn bf2_with_cost() -> Profile {
    let extra = "\n[[user_kernels]]\nname = \"addcipher\"\n\
        fixed_ns = { value = 200.0, source = \"assumed: test plugin\", confidence = \"assumed\" }\n\
        bytes_per_s = { value = 1.5e9, source = \"assumed: test plugin\", confidence = \"assumed\" }\n";
    let base = Profile::builtin_toml("bluefield-2").unwrap();
    Profile::from_toml_str(&format!("{base}{extra}"), "bluefield-2+addcipher.toml").unwrap()
}

fn small(kind: ScenarioKind, compression: Option<(&str, u8)>, plugin: Option<&Path>) -> ScenarioSpec {
    let mut s = ScenarioSpec::defaults(kind);
    s.nodes = 2;
    s.object_size_bytes = 1 << 20;
    s.chunk_size_bytes = 128 << 10;
    s.queue_depth = 4;
    s.batch = 2;
    s.cache_capacity_chunks = 64;
    s.kv_requests = 48;
    s.kv_shape.layers = 2;
    s.compression = compression
        .map(|(a, l)| CompressionSpec { algorithm: dpukit_ffi::Algorithm::from_name(a).unwrap(), level: l });
    s.plugin = plugin.map(|p| PluginSpec { path: p.to_owned(), arg: 0x5a });
    s
}

#[test]
fn every_scenario_stores_the_same_bytes_with_a_plugin_in_both_modes() {
    let so = build("addcipher", None);
    let profile = bf2_with_cost();
    for kind in ScenarioKind::ALL {
        for compression in [None, Some(("lz4", 0u8))] {
            let label = format!("{} {:?}", kind.name(), compression);
            let c = compare(&small(kind, compression, Some(&so)), &profile, &RunOptions::default())
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            assert!(c.host.verification.ok, "{label}: host {:?}", c.host.verification.failures);
            assert!(c.offload.verification.ok, "{label}: offload {:?}", c.offload.verification.failures);
            assert!(c.equivalent, "{label}: manifests differ between modes");
            assert_eq!(c.offload.fallbacks.total(), 0, "{label}: {:?}", c.offload.fallbacks);
            assert!(
                c.offload
                    .notes
                    .iter()
                    .any(|n| n.contains("plugin op `addcipher`") && n.contains("dpu-cores")),
                "{label}: {:?}",
                c.offload.notes
            );
            // The plugin changed what was stored: without it the manifests differ.
            let plain =
                run_scenario(&small(kind, compression, None), Mode::Host, &profile, &RunOptions::default())
                    .unwrap();
            assert_ne!(
                plain.extra_figure("manifest_digest").map(|f| f.value),
                c.host.extra_figure("manifest_digest").map(|f| f.value),
                "{label}: the plugin stage left the stored bytes as they were"
            );
            assert!(plain.verification.chunks_checked > 0, "{label}: something was verified");
            // Every chunk that verified without the plugin verified with it: a cache hit
            // whose inverse went wrong would be refetched as a miss instead.
            for r in [&c.host, &c.offload] {
                assert_eq!(
                    (r.verification.chunks_checked, r.verification.refetched),
                    (plain.verification.chunks_checked, plain.verification.refetched),
                    "{label}: chunks verified, refetched"
                );
                assert_eq!(
                    r.extra_figure("cache_hit_ratio").map(|f| f.value),
                    plain.extra_figure("cache_hit_ratio").map(|f| f.value),
                    "{label}: hit ratio"
                );
            }
            // The device ran the plugin's ops: more descriptors than the same run without.
            let without = run_scenario(
                &small(kind, compression, None),
                Mode::Offload,
                &profile,
                &RunOptions::default(),
            )
            .unwrap();
            let descriptors =
                |r: &dpukit_host::result::RunResult| r.device.as_ref().map_or(0, |d| d.descriptors);
            assert!(descriptors(&c.offload) > descriptors(&without), "{label}: plugin ops on the device");
        }
    }
}

#[test]
fn a_plugin_that_fails_or_lies_about_its_length_fails_the_run_with_its_status() {
    let fails = build("addcipher-fails", Some("PLUGIN_FAILS"));
    let short = build("addcipher-short", Some("PLUGIN_SHORT"));
    let profile = bf2_with_cost();
    for (so, status) in [(&fails, Status::KernelError), (&short, Status::BadLength)] {
        for mode in [Mode::Host, Mode::Offload] {
            let spec = small(ScenarioKind::FanOutWrite, Some(("lz4", 0)), Some(so));
            let e = run_scenario(&spec, mode, &profile, &RunOptions::default()).unwrap_err().to_string();
            assert!(e.contains(&format!("plugin op failed: {status}")), "{mode:?} {status}: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
        // A read scenario publishes through the plugin too, and says so.
        let spec = small(ScenarioKind::FanInRead, None, Some(so));
        let e = run_scenario(&spec, Mode::Host, &profile, &RunOptions::default()).unwrap_err().to_string();
        assert!(e.contains("plugin op `addcipher` failed"), "{e}");
    }
}

#[test]
fn a_plugin_the_profile_cannot_time_or_run_is_refused_before_any_work() {
    let so = build("addcipher-refused", None);
    let spec = small(ScenarioKind::FanOutWrite, None, Some(&so));
    let e = compare(&spec, &Profile::builtin("bluefield-2").unwrap(), &RunOptions::default()).unwrap_err();
    assert!(matches!(e, RunError::Plugin(PluginError::NoCost { .. })), "{e}");
    assert!(e.to_string().contains("[[user_kernels]]") && e.to_string().contains("addcipher"), "{e}");
    let e = compare(&spec, &Profile::builtin("intel-dsa-iaa").unwrap(), &RunOptions::default()).unwrap_err();
    assert!(matches!(e, RunError::Plugin(PluginError::NoCores { .. })), "{e}");
    // Host mode needs no cost; a profile without a device runs the op on the CPU.
    run_scenario(&spec, Mode::Host, &Profile::builtin("bluefield-2").unwrap(), &RunOptions::default())
        .unwrap();
    let r =
        run_scenario(&spec, Mode::Offload, &Profile::builtin("host-only").unwrap(), &RunOptions::default())
            .unwrap();
    assert!(
        r.notes.iter().any(|n| n.contains("ran on the host CPU: host-only has no device")),
        "{:?}",
        r.notes
    );

    let not_plugin = build("not-a-plugin", Some("PLUGIN_NO_ENTRY"));
    let spec = small(ScenarioKind::FanOutWrite, None, Some(&not_plugin));
    let e =
        run_scenario(&spec, Mode::Host, &bf2_with_cost(), &RunOptions::default()).unwrap_err().to_string();
    assert!(e.contains("dpu_kernel_plugin_v1") && e.contains("libnot-a-plugin.so"), "{e}");
    let spec = small(ScenarioKind::FanOutWrite, None, Some(Path::new("/nonexistent/libnope.so")));
    let e =
        run_scenario(&spec, Mode::Host, &bf2_with_cost(), &RunOptions::default()).unwrap_err().to_string();
    assert_eq!(e, "plugin /nonexistent/libnope.so: no such file");
}

#[test]
fn scale_mode_prices_the_plugin_from_a_measurement_and_the_profile() {
    let so = build("addcipher-scale", None);
    let calibration = fixed_calibration::fixed();
    let opts = ScaleOptions {
        cluster: ClusterSpec::this_machine(&calibration),
        calibration,
        calibration_source: "fixed (test)".into(),
    };
    let profile = bf2_with_cost();
    let mut spec = small(ScenarioKind::FanOutWrite, Some(("lz4", 0)), Some(&so));
    spec.nodes = 4;
    let with = compare_scale(&spec, &profile, &opts).unwrap();
    spec.plugin = None;
    let without = compare_scale(&spec, &profile, &opts).unwrap();
    let note = with.host.notes.iter().find(|n| n.contains("measured on this machine at startup"));
    assert!(note.is_some_and(|n| n.contains("addcipher")), "{:?}", with.host.notes);
    assert!(
        with.host.host_cpu_ns_per_byte.value > without.host.host_cpu_ns_per_byte.value,
        "the plugin costs the host CPU in host mode"
    );
    assert!(with.offload.notes.iter().any(|n| n.contains("dpu-cores")), "{:?}", with.offload.notes);
    spec.plugin = Some(PluginSpec { path: so, arg: 1 });
    let e = compare_scale(&spec, &Profile::builtin("bluefield-2").unwrap(), &opts).unwrap_err();
    assert!(e.to_string().contains("[[user_kernels]]"), "{e}");
}

/// The devices on a thread of their own run the plugin's op too: the measured thread (the
/// kernels on a dedicated host thread) and the paced simulator (at the profile's cost). No
/// op falls back to the host CPU, and the bytes stored equal host mode's.
#[test]
fn the_thread_devices_run_the_plugin_op_themselves() {
    let so = build("addcipher", None);
    let profile = bf2_with_cost();
    for device in [dpukit_host::device::DeviceChoice::Thread, dpukit_host::device::DeviceChoice::SimPaced] {
        let opts = RunOptions { device: device.clone(), ..RunOptions::default() };
        for kind in [ScenarioKind::FanOutWrite, ScenarioKind::FanInRead] {
            let label = format!("{} on {}", kind.name(), device.spec());
            let c = compare(&small(kind, Some(("lz4", 0)), Some(&so)), &profile, &opts)
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            assert!(c.offload.verification.ok, "{label}: {:?}", c.offload.verification.failures);
            assert!(c.equivalent, "{label}: manifests differ from host mode's");
            assert_eq!(c.offload.fallbacks.total(), 0, "{label}: {:?}", c.offload.fallbacks);
        }
    }
}
