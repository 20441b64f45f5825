//! The scenario files in `examples/`: every one parses and validates, there is one per
//! scenario, and each runs through `dpukit run --scenario-file` at a tiny size.

use dpukit_host::spec::{ScenarioKind, ScenarioSpec};
use std::path::{Path, PathBuf};
use std::process::Command;

fn example_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_parses_and_every_scenario_has_one() {
    let mut kinds = Vec::new();
    for f in example_files() {
        let text = std::fs::read_to_string(&f).unwrap();
        let spec = ScenarioSpec::from_toml_str(&text, &f.display().to_string())
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        kinds.push(spec.kind);
    }
    for k in ScenarioKind::ALL {
        assert!(kinds.contains(&k), "no example for {}", k.name());
    }
}

#[test]
fn every_example_runs_at_a_tiny_size() {
    let dir = tempfile::tempdir().unwrap();
    for f in example_files() {
        let out = Command::new(env!("CARGO_BIN_EXE_dpukit"))
            .args(["run", "--quiet", "--mode", "host", "--scenario-file"])
            .arg(&f)
            // Command-line knobs override the file: shrink everything.
            .args(["--size", "4m", "--chunk", "256k", "--nodes", "2", "--readers", "1"])
            .args(["--kv-requests", "10", "--kv-block-tokens", "1", "--out", "r.json"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}: {}", f.display(), String::from_utf8_lossy(&out.stderr));
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
        assert_eq!(json["scenario"]["nodes"], 2, "{}", f.display());
        assert_eq!(json["verification"]["ok"], true, "{}", f.display());
    }
}
