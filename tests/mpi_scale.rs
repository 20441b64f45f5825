//! A 2-rank MPI run against scale mode for the same cluster: this machine as
//! `dpukit calibrate` measures it (both ranks on its cores and local tier, as
//! `ClusterSpec::this_machine` describes), fan-out write and fan-out read in host mode.
//! Prints both figures and holds them within [`TOLERANCE`] on throughput.
//!
//! Two ranks is as many as a 2-core machine runs without oversubscribing. The
//! calibration comes from the same build as the binary, so debug kernels are compared with
//! debug kernels. Each live figure is the median of a few runs (a shared machine is noisy);
//! a case outside the tolerance is measured again before it fails, as in
//! `host/tests/scale_agreement.rs`.
#![cfg(feature = "mpi")]

use dpukit_host::calibrate::Calibration;
use dpukit_host::result::{Mode, Source};
use dpukit_host::scale::{run_scale, ClusterSpec, ScaleOptions};
use dpukit_host::spec::{ScenarioKind, ScenarioSpec};
use dpukit_sim::profile::Profile;
use serde_json::Value;
use std::process::Command;

/// Largest relative difference between the 2-rank MPI run and scale mode, throughput.
const TOLERANCE: f64 = 0.15;
/// MPI runs per round; the median counts.
const LIVE_TRIES: usize = 3;
/// Extra rounds of live runs for a case outside the tolerance.
const REMEASURE_ROUNDS: usize = 2;
const SIZE: &str = "16m";
const CHUNK: &str = "1m";

fn mpi_throughput(scenario: &str, dir: &std::path::Path) -> f64 {
    let out = Command::new("mpirun")
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .args(["--oversubscribe", "-n", "2", env!("CARGO_BIN_EXE_dpukit")])
        .args([
            "run", scenario, "--mode", "host", "--quiet", "--size", SIZE, "--chunk", CHUNK, "--out", "r.json",
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "mpirun -n 2 {scenario}: {}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("r.json")).unwrap()).unwrap();
    assert_eq!(doc["per_node"]["processes"], 2);
    assert_eq!(doc["throughput"]["source"], "measured");
    doc["throughput"]["value"].as_f64().unwrap()
}

#[test]
fn two_mpi_ranks_agree_with_scale_mode() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cal_path = d.join("cal.json");
    let out = Command::new(env!("CARGO_BIN_EXE_dpukit"))
        .args(["calibrate", "--quiet", "--out"])
        .arg(&cal_path)
        .output()
        .unwrap();
    assert!(out.status.success(), "dpukit calibrate: {}", String::from_utf8_lossy(&out.stderr));
    let cal = Calibration::load(&cal_path).unwrap();
    let opts = ScaleOptions {
        cluster: ClusterSpec::this_machine(&cal),
        calibration: cal,
        calibration_source: "dpukit calibrate, run by this test".into(),
    };
    let profile = Profile::builtin("bluefield-2").unwrap();
    let mut failures = Vec::new();
    for kind in [ScenarioKind::FanOutWrite, ScenarioKind::FanOutRead] {
        let mut spec = ScenarioSpec::defaults(kind);
        spec.nodes = 2;
        spec.object_size_bytes = 16 << 20;
        spec.chunk_size_bytes = 1 << 20;
        let modelled = run_scale(&spec, Mode::Host, &profile, &opts).unwrap();
        assert_eq!(modelled.throughput.source, Source::Modelled);
        let model = modelled.throughput.value;
        let mut runs = Vec::new();
        let mut diff = f64::INFINITY;
        for round in 0..=REMEASURE_ROUNDS {
            runs.extend((0..LIVE_TRIES).map(|_| mpi_throughput(kind.name(), d)));
            runs.sort_by(f64::total_cmp);
            let live = runs[runs.len() / 2];
            diff = (model - live) / live;
            eprintln!(
                "{:<14} 2 ranks host: mpirun {:8.1} MB/s [measured]  scale {:8.1} MB/s [modelled]  ({:+.1} %){}",
                kind.name(),
                live / 1e6,
                model / 1e6,
                diff * 100.0,
                if round > 0 { format!("  [re-measured, {} runs]", runs.len()) } else { String::new() }
            );
            if diff.abs() <= TOLERANCE {
                break;
            }
        }
        if diff.abs() > TOLERANCE {
            failures.push(format!(
                "{}: {:+.1} % (tolerance ±{:.0} %)",
                kind.name(),
                diff * 100.0,
                TOLERANCE * 100.0
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}
